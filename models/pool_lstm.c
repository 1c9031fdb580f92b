/* lstm (seqLSTM): a one-layer LSTM D -> D over the valid frames, its output
 * added to the input frames (residual), masked mean. PyTorch's LSTM init:
 * every weight and bias uniform in +-1/sqrt(D). Params: pooler.lstm.weight_ih
 * [4D, D], .weight_hh [4D, D], .bias_ih [4D], .bias_hh [4D] (nn.LSTM names
 * without the _l0 suffix). */
#include <math.h>

#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) {
    int64_t D = m->cfg.dim;
    double k = 1.0 / sqrt((double)D);
    vc_var *v[4] = {vc_pp_const(m, 0, VC_DIMS(4 * D, D), "lstm.weight_ih"),
                    vc_pp_const(m, 0, VC_DIMS(4 * D, D), "lstm.weight_hh"),
                    vc_pp_const(m, 0, VC_DIMS(4 * D), "lstm.bias_ih"), vc_pp_const(m, 0, VC_DIMS(4 * D), "lstm.bias_hh")};
    for (int i = 0; i < 4; i++) {
        if (!v[i]) return vc_last_status();
        for (int64_t j = 0; j < vc_numel(&v[i]->val); j++)
            vc_f32(&v[i]->val)[j] = (vc_real)(k * (2 * vc_rng_uniform(r) - 1));
    }
    return VC_OK;
}

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    vc_var *h = vc_lstm(t, x, vc_pp(m, "lstm.weight_ih"), vc_pp(m, "lstm.weight_hh"), vc_pp(m, "lstm.bias_ih"),
                        vc_pp(m, "lstm.bias_hh"), len);
    if (m->cfg.residual) h = vc_add(t, h, x);
    return vc_masked_mean(t, h, 1, len);
}

const vc_pool_impl vc_pool_lstm_impl = {init, forward};
