/* k_optim.h: the optimiser's kernels over flat parameter buffers: the AdamW
 * update, the global gradient norm and the clipping scale that uses it.
 * train/optim.c decides what to call with which numbers (schedule, bias
 * correction, which parameters decay); these only run the loops. */
#ifndef VC_K_OPTIM_H
#define VC_K_OPTIM_H

#include <stdint.h>

#include "backend.h"  /* vc_adamw_args */

/* For each of n elements, PyTorch's AdamW order:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   w = w keep - step m / (sqrt(v) rbc2 + eps). */
void vc_adamw_update(const vc_adamw_args *a, vc_real *w, const vc_real *g, vc_real *m, vc_real *v, int64_t n);

/* norm[0] = sqrt(sum of x[k]^2) in double, summed in blocks of 2^16
 * elements whose partial sums are added in block order: the same result for
 * any thread count. Needs no scratch on the CPU (scratch may be NULL). */
void vc_global_norm(const vc_real *x, int64_t n, double *norm, void *scratch);

/* Scales g by f = max_norm / (norm[0] + 1e-6) when f < 1 (PyTorch's
 * clip_grad_norm_); leaves it alone otherwise (and for a NaN norm). */
void vc_clip_scale(vc_real *g, int64_t n, double max_norm, const double *norm);

#endif
