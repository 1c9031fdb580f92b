/* k_reduce.h: sums over one axis, plain or masked, forward and backward.
 * x is viewed as [P, T, R]: P = product of dims before the axis, T the
 * axis, R the product of dims after it; the output is [P, R]. Every output
 * element is summed in a fixed order by one thread: results do not depend on
 * the thread count. Backward kernels follow the beta convention of k_unary.h
 * (0 overwrite, 1 accumulate). */
#ifndef VC_K_REDUCE_H
#define VC_K_REDUCE_H

#include <stdint.h>

#include "real.h"

/* out[p, r] = scale * sum_t x[p, t, r] */
void vc_sum_axis_fwd(const vc_real *x, vc_real *out, int64_t P, int64_t T, int64_t R, vc_real scale);
/* gx[p, t, r] (+)= scale * g[p, r] */
void vc_sum_axis_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t P, int64_t T, int64_t R, vc_real scale);

/* Weighted sum with per-(p,t) weights w [P, T] and per-p divisor:
 * out[p, r] = sum_t w[p,t] x[p,t,r] / div[p]   (div[p] == 0 gives 0). */
void vc_wsum_axis_fwd(const vc_real *x, const vc_real *w, const vc_real *div, vc_real *out, int64_t P, int64_t T,
                      int64_t R);
/* gx[p, t, r] (+)= w[p,t] g[p,r] / div[p] */
void vc_wsum_axis_bwd(const vc_real *g, const vc_real *w, const vc_real *div, vc_real *gx, vc_real beta, int64_t P,
                      int64_t T, int64_t R);

#endif
