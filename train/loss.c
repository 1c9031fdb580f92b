#include "loss.h"

#include "autograd/op_gemm.h"

/* The similarity products belong to the loss, which stays float32 whatever
 * the tape's precision (autograd/op_gemm.h): they run with the tape set to
 * fp32 (matmul nodes keep the precision they were made with). */
static vc_var *sim(vc_tape *t, vc_var *a, vc_var *b) {
    int keep = t->precision;
    t->precision = VC_PREC_FP32;
    vc_var *s = vc_matmul(t, a, b, false, true);
    t->precision = keep;
    return s;
}

vc_var *vc_infonce(vc_tape *t, vc_var *video, vc_var *text, vc_var *logit_scale, vc_var **logits_out) {
    vc_var *in[3] = {video, text, logit_scale};
    if (vc_tape_bad(t, 3, in)) return NULL;
    int64_t B = video->val.ne[0];
    vc_tensor diag;
    /* targets are host tensors (cross_entropy checks and uploads them) */
    if (vc_tensor_arena(&diag, &t->host, VC_I64, VC_DIMS(B))) return vc_tape_fail(t, VC_ERR_OOM);
    for (int64_t i = 0; i < B; i++) ((int64_t *)diag.data)[i] = i;
    vc_var *logits = vc_mul(t, sim(t, video, text), vc_exp(t, logit_scale));
    if (logits_out) *logits_out = logits;
    vc_var *l = vc_add(t, vc_cross_entropy(t, logits, &diag, 1), vc_cross_entropy(t, logits, &diag, 0));
    return vc_scale(t, l, 0.5f);
}

vc_var *vc_infonce_sharded(vc_tape *t, vc_var *video, vc_var *text, vc_var *logit_scale, vc_comm *comm) {
    vc_var *in[3] = {video, text, logit_scale};
    if (vc_tape_bad(t, 3, in)) return NULL;
    int64_t b = video->val.ne[0];
    vc_tensor lab;
    if (vc_tensor_arena(&lab, &t->host, VC_I64, VC_DIMS(b))) return vc_tape_fail(t, VC_ERR_OOM);
    for (int64_t i = 0; i < b; i++) ((int64_t *)lab.data)[i] = (int64_t)comm->rank * b + i;
    vc_var *v_all = vc_all_gather(t, video, comm), *t_all = vc_all_gather(t, text, comm);
    vc_var *s = vc_exp(t, logit_scale);
    vc_var *lv = vc_mul(t, sim(t, video, t_all), s);
    vc_var *lt = vc_mul(t, sim(t, text, v_all), s);
    vc_var *l = vc_add(t, vc_cross_entropy(t, lv, &lab, 1), vc_cross_entropy(t, lt, &lab, 1));
    return vc_scale(t, l, (vc_real)(0.5 / comm->size));
}
