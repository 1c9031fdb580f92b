#include "step.h"

#include <math.h>

#include "loss.h"

vc_var *vc_logit_scale_init(vc_params *ps) {
    vc_var *s = vc_params_add(ps, "logit_scale", VC_DIMS(1), false);
    if (s) vc_f32(&s->val)[0] = (vc_real)log(1 / 0.07);
    return s;
}

vc_status vc_train_step(vc_step_ctx *c, const vc_tensor *frames, const vc_tensor *lengths, const vc_tensor *text,
                        double lr, vc_step_out *out) {
    vc_tape *t = c->tape;
    vc_tape_reset(t);
    t->step = c->step;
    vc_tape_grad(t, true);
    t->training = true;
    vc_params_zero_grad(c->ps);
    vc_var *v = vc_pooler_forward(t, c->model, vc_const(t, frames), lengths);
    vc_var *x = vc_pooler_text(t, c->model, vc_const(t, text));
    bool dist = c->comm && c->comm->size > 1;
    vc_var *loss = dist ? vc_infonce_sharded(t, v, x, c->logit_scale, c->comm)
                        : vc_infonce(t, v, x, c->logit_scale, NULL);
    if (!loss) return vc_tape_status(t);
    vc_status s;
    double l = vc_f32(&loss->val)[0];
    if (dist) { /* every rank sees the global loss, so all stop on a non-finite one */
        vc_real g = (vc_real)l;
        if ((s = vc_comm_allreduce_sum(c->comm, &g, 1))) return s;
        l = g;
    }
    /* the global loss and the summed gradients are the same on every rank:
     * a stop here happens on all ranks together */
    if (!isfinite(l)) {
        if (dist) c->comm->failed_together = true;
        return vc_fail(VC_ERR_NUMERIC, "loss is %g", l);
    }
    if ((s = vc_backward(t, loss))) return s;
    vc_params_finish_grad(c->ps);
    if (dist && (s = vc_comm_allreduce_sum(c->comm, c->ps->grad, (int64_t)c->ps->n))) return s;
    double norm = vc_grad_norm(c->ps);
    if (!isfinite(norm)) {
        if (dist) c->comm->failed_together = true;
        return vc_fail(VC_ERR_NUMERIC, "gradient norm is %g (loss %g)", norm, l);
    }
    if (c->grad_clip > 0) vc_grad_clip(c->ps, c->grad_clip, norm);
    vc_adamw_step(c->opt, c->ps, lr);
    vc_real *ls = vc_f32(&c->logit_scale->val);
    const vc_real cap = (vc_real)log(100.0);
    if (ls[0] > cap) ls[0] = cap;
    if (ls[0] < 0) ls[0] = 0;
    if (out) *out = (vc_step_out){l, norm, ls[0]};
    return VC_OK;
}
