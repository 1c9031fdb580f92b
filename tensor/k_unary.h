/* k_unary.h: element-wise activations, forward and backward side by side.
 * Forward: y[i] = f(x[i]) over n elements. Backward: gx = g * f'(.) when
 * beta is 0 (gx may hold garbage), gx += g * f'(.) when beta is 1 (the
 * convention of every backward kernel),
 * where f' is evaluated from the saved input x or output y (whichever the
 * derivative needs, as named). */
#ifndef VC_K_UNARY_H
#define VC_K_UNARY_H

#include <stdint.h>

#include "backend.h"  /* vc_unop */

void vc_unary_fwd(vc_unop op, const vc_real *x, vc_real *y, int64_t n);
#ifndef VC_DOUBLE
/* y[i] = f(x[i]) rounded to bf16 (nearest even): exactly vc_unary_fwd's
 * float32 output rounded, in one pass, for a product that reads it as its
 * bf16 input (the float32 build only). */
void vc_unary_fwd_bf16(vc_unop op, const float *x, uint16_t *y, int64_t n);
/* Both at once, for the backward of a bf16 product fed by f(x), over
 * [rows, cols]: y = f(x) rounded to bf16 as vc_unary_fwd_bf16 (recomputed
 * for the weight gradient) and gx[i] *= f'(x[i]) as vc_unary_bwd_inplace,
 * in one pass over x. In the same pass, where not NULL: g16 = the scaled gx
 * rounded to bf16, and sums[c] += gx[r, c] for the rows in order (the same
 * bits as bias_bwd's column sums when sums starts at 0, for rows given in
 * one call or several): the next layer back's input to its products and its
 * bias gradient. (The CUDA twin adds each call's sums in its bias_bwd's
 * order: bias_bwd(gx, sums, 1, rows, cols)'s bits per call.) GELU and
 * QuickGELU only, the activations with an in-place backward; any other op
 * leaves every buffer as it was (callers check: autograd/op_linear_fused.c). */
void vc_unary_fwd_bwd_bf16(vc_unop op, const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums,
                           int64_t rows, int64_t cols);
#endif
/* x and y are the forward's input and output (both always available). */
void vc_unary_bwd(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta,
                  int64_t n);

/* In place: gx[i] *= f'(x[i]) for GELU / QuickGELU (the backward of an
 * activation whose output gradient was written straight into gx). */
void vc_unary_bwd_inplace(vc_unop op, const vc_real *x, vc_real *gx, int64_t n);

/* y = s * x (y may alias x); gx = beta*gx + s*g. */
void vc_scale_fwd(const vc_real *x, vc_real s, vc_real *y, int64_t n);
/* gx = beta*gx + s*g: the backward of scaling, reshapes and identity ops. */
void vc_axpby(const vc_real *g, vc_real s, vc_real *gx, vc_real beta, int64_t n);

#endif
