/* k_bias.h: a bias row broadcast over the rows of a matrix, forward and
 * backward side by side. Rows are [R, N], the bias [N]. A linear layer writes
 * y = bias (+ residual) here and then accumulates its matrix product onto y,
 * so the bias costs no extra pass over the output. */
#ifndef VC_K_BIAS_H
#define VC_K_BIAS_H

#include <stdint.h>

#include "real.h"

/* y[r, j] = b[j] + res[r, j]; b or res may be NULL (a missing term is 0).
 * res may be y itself (a residual stream updated in place). */
void vc_bias_fwd(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N);
/* gb[j] (+)= sum_r g[r, j], rows summed in order (beta 0 overwrites, 1 adds). */
void vc_bias_bwd(const vc_real *g, vc_real *gb, vc_real beta, int64_t R, int64_t N);
#ifndef VC_DOUBLE
/* vc_bias_bwd and g rounded to bf16 into g16 [R, N] (nearest even, NaN stays
 * NaN), in one pass over g: the output gradient of a bf16 linear layer feeds
 * its two products in bf16 and its bias gradient in float32. gb gets exactly
 * vc_bias_bwd's sums (same order). The float32 build only. */
void vc_bias_bwd_round_bf16(const float *g, uint16_t *g16, float *gb, float beta, int64_t R, int64_t N);
#endif

#endif
