/* k_softmax.h: softmax and log-softmax along any axis with an additive mask,
 * and cross-entropy over logits [N, C]. Backward kernels follow the beta
 * convention of k_unary.h. x/y are contiguous with ndim dims ne[]; the mask
 * (or NULL) is addressed through strides mst[] aligned to x's dims (0 where it
 * is broadcast). A slice that is entirely -inf gives 0 (softmax) or -inf
 * (log-softmax) and passes no gradient. */
#ifndef VC_K_SOFTMAX_H
#define VC_K_SOFTMAX_H

#include <stdbool.h>
#include <stdint.h>

#include "real.h"

void vc_softmax_fwd(const vc_real *x, vc_real *y, int nd, const int64_t *ne, int axis, const vc_real *mask,
                    const int64_t *mst, bool take_log);
/* y is the forward output. */
void vc_softmax_bwd(const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta, int nd, const int64_t *ne,
                    int axis, bool take_log);

/* Mean over samples of -log softmax(logits)[target]. axis 1: row i is sample
 * i with C = cols classes; axis 0: column j is sample j (CE of the transpose).
 * lse[samples] is saved for the backward; the loss goes to loss[0]. */
void vc_xent_fwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target, vc_real *lse,
                 vc_real *loss);
/* gl (+)= gloss[0] * (softmax - onehot) / samples (gloss: the loss's gradient) */
void vc_xent_bwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                 const vc_real *lse, const vc_real *gloss, vc_real *gl, vc_real beta);

#endif
