/* real.h: the compute element type of the CPU kernels.
 * vc_real is float in every normal build. The gradient-check build compiles
 * tensor/ and autograd/ with -DVC_DOUBLE so that the same kernels run in
 * double precision and finite differences resolve errors down to ~1e-8;
 * the dtype tag stays VC_F32 there ("the compute type"). */
#ifndef VC_REAL_H
#define VC_REAL_H

#ifdef VC_DOUBLE
typedef double vc_real;
#define VC_REAL_EPS 2.220446049250313e-16
#else
typedef float vc_real;
#define VC_REAL_EPS 1.1920929e-07f
#endif

#endif
