/* k_norm.h: LayerNorm and row-wise L2 normalisation over the last axis.
 * x is [N, D] (rows). Backward kernels follow the beta convention of
 * k_unary.h; parameter gradients are summed over rows in a fixed order. */
#ifndef VC_K_NORM_H
#define VC_K_NORM_H

#include <stdbool.h>
#include <stdint.h>

#include "real.h"

/* y = (x - mean) * rstd * gamma + beta; gamma/beta may be NULL (1 and 0).
 * mean, rstd [N] are saved for the backward. */
void vc_layernorm_fwd(const vc_real *x, const vc_real *gamma, const vc_real *bta, vc_real *y, vc_real *mean,
                      vc_real *rstd, int64_t N, int64_t D, vc_real eps);
#ifndef VC_DOUBLE
/* The same with y [N, D] in bf16: exactly vc_layernorm_fwd's float32 output
 * rounded to bf16 (nearest even), in one pass, for a product that reads it
 * as its bf16 input (the float32 build only). With yt, y is stored
 * transposed, [D, N] (element (i, j) at y[j * N + i]): the layout in which a
 * weight gradient reads it as its first operand (op_linear_fused.c). */
void vc_layernorm_fwd_bf16(const float *x, const float *gamma, const float *bta, uint16_t *y, float *mean,
                           float *rstd, int64_t N, int64_t D, float eps, bool yt);
#endif
/* gx (+)= ...; ggamma/gbeta (+)= ... (each may be NULL when not needed;
 * bgx/bgg/bgb are their betas). */
void vc_layernorm_bwd(const vc_real *x, const vc_real *gamma, const vc_real *mean, const vc_real *rstd,
                      const vc_real *g, vc_real *gx, vc_real bgx, vc_real *ggamma, vc_real bgg, vc_real *gbeta,
                      vc_real bgb, int64_t N, int64_t D);

/* y = x / max(||x||, eps) per row; norm [N] saved (the unclamped norm). */
void vc_l2norm_fwd(const vc_real *x, vc_real *y, vc_real *norm, int64_t N, int64_t D, vc_real eps);
void vc_l2norm_bwd(const vc_real *y, const vc_real *norm, const vc_real *g, vc_real *gx, vc_real beta, int64_t N,
                   int64_t D, vc_real eps);

#endif
