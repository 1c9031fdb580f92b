/* tokenlearner (TokenLearner v1.1 over time): LayerNorm -> MLP (D -> hidden
 * -> S, act) gives S scores per frame; a softmax over the valid frames per
 * token turns them into weights; the S tokens are those weighted averages of
 * the frames; a small transformer (layers blocks of width D, a learned
 * position per token) runs over the tokens; then the mean over tokens.
 * Params: pooler.ln, pooler.score.fc1 [hidden, D], pooler.score.fc2 [S,
 * hidden], pooler.tok_pos [S, D], pooler.blocks.L.* */
#include <stdio.h>

#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) {
    const vc_pooler_cfg *c = &m->cfg;
    vc_status s;
    if ((s = vc_pp_layernorm(m, "ln", c->dim)) || (s = vc_pp_linear(m, r, "score.fc1", c->hidden, c->dim)) ||
        (s = vc_pp_linear(m, r, "score.fc2", c->tokens, c->hidden)))
        return s;
    if (!vc_pp_normal(m, r, 0.02, false, VC_DIMS(c->tokens, c->dim), "tok_pos")) return vc_last_status();
    char p[32];
    for (int l = 0; l < c->layers; l++) {
        snprintf(p, sizeof p, "blocks.%d", l);
        if ((s = vc_pp_block(m, r, p, c->dim, c->mlp_ratio))) return s;
    }
    return VC_OK;
}

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    const vc_pooler_cfg *c = &m->cfg;
    int64_t B = x->val.ne[0], T = x->val.ne[1];
    /* additive mask [B, T, 1]: padded frames get no weight in any token */
    vc_tensor mask;
    if (vc_pp_length_mask(t, len, B, T, &mask) || vc_view_reshape(&mask, &mask, VC_DIMS(B, T, 1)))
        return vc_tape_fail(t, vc_last_status()); /* the callee said what failed */
    vc_var *s = vc_pp_apply_linear(t, m, "score.fc1", vc_pp_apply_layernorm(t, m, "ln", x));
    s = vc_pp_apply_linear(t, m, "score.fc2", vc_pp_act(t, m, s)); /* [B, T, S] */
    vc_var *a = vc_softmax(t, s, 1, &mask);                         /* over time */
    vc_var *tok = vc_matmul(t, a, x, true, false);                  /* [B, S, D] */
    tok = vc_add(t, tok, vc_pp(m, "tok_pos"));
    /* tokenlearner's blocks run at width dim with no padding */
    vc_pooler inner = *m;
    inner.cfg.width = c->dim;
    char p[32];
    for (int l = 0; l < c->layers; l++) {
        snprintf(p, sizeof p, "blocks.%d", l);
        tok = vc_pp_apply_block(t, &inner, p, tok, NULL);
    }
    return vc_mean(t, tok, 1);
}

const vc_pool_impl vc_pool_tokenlearner_impl = {init, forward};
