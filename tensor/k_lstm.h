/* k_lstm.h: a one-layer LSTM over a padded batch, PyTorch gate order
 * (i, f, g, o), zero initial state. The input projection of all steps is one
 * GEMM; each step adds h_{t-1} W_hh^T and applies the gates in place.
 * Row b stops at len[b]: later outputs are 0 and pass no gradient.
 *   x [B, T, D], w_ih [4H, D], w_hh [4H, H], bias [4H] (b_ih + b_hh)
 *   gates [B, T, 4H] (saved activated gates), c [B, T, H], h [B, T, H] */
#ifndef VC_K_LSTM_H
#define VC_K_LSTM_H

#include <stdint.h>

#include "real.h"

void vc_lstm_fwd(const vc_real *x, const vc_real *w_ih, const vc_real *w_hh, const vc_real *bias, const int64_t *len,
                 int64_t B, int64_t T, int64_t D, int64_t H, vc_real *gates, vc_real *c, vc_real *h);
/* dh [B, T, H] is the gradient of h. Writes dA [B, T, 4H] (gradient of the
 * gate pre-activations) and dh_prev scratch [B, T, H] (h shifted one step);
 * then the weight and input gradients follow from three GEMMs done by the
 * caller with its betas (see op_lstm.c). */
void vc_lstm_bwd_gates(const vc_real *gates, const vc_real *c, const vc_real *w_hh, const vc_real *dh,
                       const int64_t *len, int64_t B, int64_t T, int64_t H, vc_real *dA, vc_real *scratch);

#endif
