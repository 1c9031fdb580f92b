/* mlp_mean: per-frame LayerNorm -> Linear (-> act -> Linear when
 * mlp_layers = 2), masked mean over time, averaged with the plain masked
 * mean when residual. Params: pooler.ln, pooler.fc1 [, pooler.fc2]. */
#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) {
    int64_t D = m->cfg.dim;
    vc_status s = vc_pp_layernorm(m, "ln", D);
    if (!s) s = vc_pp_linear(m, r, "fc1", D, D);
    if (!s && m->cfg.mlp_layers == 2) s = vc_pp_linear(m, r, "fc2", D, D);
    return s;
}

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    vc_var *h = vc_pp_apply_linear(t, m, "fc1", vc_pp_apply_layernorm(t, m, "ln", x));
    if (m->cfg.mlp_layers == 2) h = vc_pp_apply_linear(t, m, "fc2", vc_pp_act(t, m, h));
    vc_var *y = vc_masked_mean(t, h, 1, len);
    if (!m->cfg.residual) return y;
    return vc_scale(t, vc_add(t, y, vc_masked_mean(t, x, 1, len)), 0.5f);
}

const vc_pool_impl vc_pool_mlp_mean_impl = {init, forward};
