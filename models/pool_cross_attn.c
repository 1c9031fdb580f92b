/* cross_attn (attentional pooler): S learned queries, LayerNorm on queries
 * and on the frames, multi-head cross-attention over the valid frames, mean
 * over the queries, optional residual MLP head (mlp_layers = 1).
 * Params: pooler.queries [S, W], pooler.ln_q, pooler.ln_kv, pooler.q_proj,
 * pooler.kv_proj [2W, W], pooler.out_proj, [pooler.in_proj, pooler.final_proj
 * when W != D], [pooler.head.ln, pooler.head.fc1, pooler.head.fc2]. */
#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) {
    const vc_pooler_cfg *c = &m->cfg;
    int64_t W = c->width;
    vc_status s = VC_OK;
    if (W != c->dim) {
        if ((s = vc_pp_linear(m, r, "in_proj", W, c->dim)) || (s = vc_pp_linear(m, r, "final_proj", c->dim, W)))
            return s;
    }
    if (!vc_pp_normal(m, r, 0.02, false, VC_DIMS(c->tokens, W), "queries")) return vc_last_status();
    if ((s = vc_pp_layernorm(m, "ln_q", W)) || (s = vc_pp_layernorm(m, "ln_kv", W)) ||
        (s = vc_pp_linear(m, r, "q_proj", W, W)) || (s = vc_pp_linear(m, r, "kv_proj", 2 * W, W)) ||
        (s = vc_pp_linear(m, r, "out_proj", W, W)))
        return s;
    if (c->mlp_layers == 1) {
        if ((s = vc_pp_layernorm(m, "head.ln", W)) || (s = vc_pp_linear(m, r, "head.fc1", c->mlp_ratio * W, W)) ||
            (s = vc_pp_linear(m, r, "head.fc2", W, c->mlp_ratio * W)))
            return s;
    }
    return VC_OK;
}

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    const vc_pooler_cfg *c = &m->cfg;
    int64_t W = c->width, S = c->tokens;
    vc_var *ctxin = W != c->dim ? vc_pp_apply_linear(t, m, "in_proj", x) : x;
    vc_var *kv = vc_pp_apply_linear(t, m, "kv_proj", vc_pp_apply_layernorm(t, m, "ln_kv", ctxin)); /* [B,T,2W] */
    vc_var *q = vc_pp_apply_linear(t, m, "q_proj", vc_pp_apply_layernorm(t, m, "ln_q", vc_pp(m, "queries")));
    q = vc_reshape(t, q, VC_DIMS(1, S, W)); /* shared by every video */
    vc_var *o = vc_attention(t, q, 0, kv, 0, kv, W, c->heads, W / c->heads, len, false);
    o = vc_dropout(t, vc_pp_apply_linear(t, m, "out_proj", o), c->dropout);
    vc_var *y = vc_mean(t, o, 1); /* [B, W] */
    if (c->mlp_layers == 1) {
        vc_var *f = vc_pp_act(t, m, vc_pp_apply_linear(t, m, "head.fc1", vc_pp_apply_layernorm(t, m, "head.ln", y)));
        y = vc_add(t, y, vc_pp_apply_linear(t, m, "head.fc2", f));
    }
    return W != c->dim ? vc_pp_apply_linear(t, m, "final_proj", y) : y;
}

const vc_pool_impl vc_pool_cross_attn_impl = {init, forward};
