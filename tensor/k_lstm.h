/* k_lstm.h: a one-layer LSTM over a padded batch, PyTorch gate order
 * (i, f, g, o), zero initial state. The input projection of all steps is one
 * GEMM; each step adds h_{t-1} W_hh^T and applies the gates in place.
 * Row b stops at d->len[b]: later outputs are 0 and pass no gradient.
 *   x [B, T, D], w_ih [4H, D], w_hh [4H, H], bias [4H] (b_ih + b_hh)
 *   gates [B, T, 4H] (saved activated gates), c [B, T, H], h [B, T, H] */
#ifndef VC_K_LSTM_H
#define VC_K_LSTM_H

#include <stdint.h>

#include "backend.h"  /* vc_lstm_dims */

void vc_lstm_fwd(const vc_lstm_dims *d, const vc_real *x, const vc_real *w_ih, const vc_real *w_hh,
                 const vc_real *bias, vc_real *gates, vc_real *c, vc_real *h);
/* dh [B, T, H] is the gradient of h. Writes dA [B, T, 4H] (gradient of the
 * gate pre-activations) and, when hprev is not NULL, hprev [B, T, H]: h
 * shifted one step later (zeros at t = 0), the right operand of the w_hh
 * gradient. The weight and input gradients then follow from three GEMMs done
 * by the caller with its betas (see op_lstm.c). scratch holds
 * vc_lstm_bwd_scratch(d) bytes (dh and dc carried between steps). */
void vc_lstm_bwd(const vc_lstm_dims *d, const vc_real *gates, const vc_real *c, const vc_real *h,
                 const vc_real *w_hh, const vc_real *dh, vc_real *dA, vc_real *hprev, void *scratch);
size_t vc_lstm_bwd_scratch(const vc_lstm_dims *d);

#endif
