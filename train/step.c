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
    const vc_backend *be = vc_backend_for(c->ps->device);
    vc_real lv;
    be->copy_d2h(&lv, vc_f32(&loss->val), sizeof lv); /* the one read of the forward's result */
    double l = lv;
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
    /* the clamp reads the scale back and writes it only when it moved out
     * of [0, ln 100] (rare), so host code never touches device memory */
    vc_real *dls = vc_f32(&c->logit_scale->val), ls;
    be->copy_d2h(&ls, dls, sizeof ls);
    const vc_real cap = (vc_real)log(100.0);
    vc_real cl = ls > cap ? cap : ls < 0 ? 0 : ls;
    if (cl != ls) be->copy_h2d(dls, &cl, sizeof cl);
    if (out) *out = (vc_step_out){l, norm, cl};
    return VC_OK;
}
