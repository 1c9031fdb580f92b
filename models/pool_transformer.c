/* transformer (seqTransf): learned position embedding added to the frames,
 * pre-LN blocks with padded frames masked as keys, the input frames added
 * back (residual), masked mean. With width != dim the frames are projected
 * in and out. Params: pooler.pos_emb [max_frames, W], pooler.blocks.L.*,
 * [pooler.in_proj, pooler.out_proj]. */
#include <stdio.h>

#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) {
    const vc_pooler_cfg *c = &m->cfg;
    vc_status s = VC_OK;
    if (c->width != c->dim) {
        if ((s = vc_pp_linear(m, r, "in_proj", c->width, c->dim))) return s;
        if ((s = vc_pp_linear(m, r, "out_proj", c->dim, c->width))) return s;
    }
    if (!vc_pp_normal(m, r, 0.02, false, VC_DIMS(c->max_frames, c->width), "pos_emb")) return vc_last_status();
    char p[32];
    for (int l = 0; l < c->layers && !s; l++) {
        snprintf(p, sizeof p, "blocks.%d", l);
        s = vc_pp_block(m, r, p, c->width, c->mlp_ratio);
    }
    return s;
}

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    const vc_pooler_cfg *c = &m->cfg;
    int64_t T = x->val.ne[1];
    if (T > c->max_frames) {
        vc_fail(VC_ERR_SHAPE, "model transformer: %lld frames exceed max_frames %lld", (long long)T,
                (long long)c->max_frames);
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    vc_var *h = c->width != c->dim ? vc_pp_apply_linear(t, m, "in_proj", x) : x;
    h = vc_add(t, h, vc_slice(t, vc_pp(m, "pos_emb"), 0, 0, T));
    char p[32];
    for (int l = 0; l < c->layers; l++) {
        snprintf(p, sizeof p, "blocks.%d", l);
        h = vc_pp_apply_block(t, m, p, h, len);
    }
    if (c->width != c->dim) h = vc_pp_apply_linear(t, m, "out_proj", h);
    if (c->residual) h = vc_add(t, h, x);
    return vc_masked_mean(t, h, 1, len);
}

const vc_pool_impl vc_pool_transformer_impl = {init, forward};
