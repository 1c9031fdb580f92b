/* wavg: a learned weight per position; the weighted sum over the valid
 * frames divided by the sum of their weights. Weights are exp(logit), i.e. a
 * softmax over the valid positions, so they stay positive; logits start at 0
 * (plain mean). Param: pooler.logits [max_frames]. */
#include "pooler_impl.h"

static vc_status init(vc_pooler *m, vc_rng *r) {
    return vc_pp_const(m, 0, VC_DIMS(m->cfg.max_frames), "logits") ? VC_OK : vc_last_status();
}

static vc_var *forward(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *len) {
    int64_t B = x->val.ne[0], T = x->val.ne[1], D = x->val.ne[2];
    if (T > m->cfg.max_frames) {
        vc_fail(VC_ERR_SHAPE, "model wavg: %lld frames exceed max_frames %lld", (long long)T,
                (long long)m->cfg.max_frames);
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    vc_tensor mask, zeros;
    if (vc_pp_length_mask(t, len, B, T, &mask) || vc_tensor_arena(&zeros, &t->arena, VC_F32, VC_DIMS(B, T)))
        return vc_tape_fail(t, vc_last_status()); /* the callee said what failed */
    vc_tensor_fill(&zeros, 0);
    vc_var *lg = vc_slice(t, vc_pp(m, "logits"), 0, 0, T);              /* [T] */
    vc_var *w = vc_softmax(t, vc_add(t, vc_const(t, &zeros), lg), 1, &mask); /* [B, T] */
    vc_var *y = vc_matmul(t, vc_reshape(t, w, VC_DIMS(B, 1, T)), x, false, false); /* [B, 1, D] */
    return vc_reshape(t, y, VC_DIMS(B, D));
}

const vc_pool_impl vc_pool_wavg_impl = {init, forward};
