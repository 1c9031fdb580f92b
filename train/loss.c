#include "loss.h"

vc_var *vc_infonce(vc_tape *t, vc_var *video, vc_var *text, vc_var *logit_scale, vc_var **logits_out) {
    vc_var *in[3] = {video, text, logit_scale};
    if (vc_tape_bad(t, 3, in)) return NULL;
    int64_t B = video->val.ne[0];
    vc_tensor diag;
    if (vc_tensor_arena(&diag, &t->arena, VC_I64, VC_DIMS(B))) return vc_tape_fail(t, VC_ERR_OOM);
    for (int64_t i = 0; i < B; i++) ((int64_t *)diag.data)[i] = i;
    vc_var *logits = vc_mul(t, vc_matmul(t, video, text, false, true), vc_exp(t, logit_scale));
    if (logits_out) *logits_out = logits;
    vc_var *l = vc_add(t, vc_cross_entropy(t, logits, &diag, 1), vc_cross_entropy(t, logits, &diag, 0));
    return vc_scale(t, l, 0.5f);
}
