#include "step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grad_sync.h"
#include "loss.h"
#include "tensor/backend_cuda.h"
#include "tensor/device.h"
#include "tensor/rng.h"

vc_var *vc_logit_scale_init(vc_params *ps) {
    vc_var *s = vc_params_add(ps, "logit_scale", VC_DIMS(1), false);
    if (s) vc_f32(&s->val)[0] = (vc_real)log(1 / 0.07);
    return s;
}

/* The replayable part of a device step (forward, backward, the gradient's
 * completion and its norm) as one CUDA graph, captured once shapes are
 * fixed and replayed while the batch has the captured shapes and lengths
 * (the masks and weights made from the lengths were copied to the device
 * when it was captured). A step with dropout draws new masks each step and
 * is never replayed. */
struct vc_step_graph {
    vc_graph *g;
    int64_t B, T, D, Dt;
    int64_t *len;              /* [B] lengths the graph was captured with */
    vc_real *frames, *text;    /* the graph's inputs: fixed device buffers */
    size_t frames_cap, text_cap;
    const vc_real *loss;       /* where the graph leaves the loss */
    bool unusable;             /* dropout, a failed capture, or batches that never repeat a graph */
    bool staged;               /* the inputs of this step are in place (captured just now) */
    int eager;                 /* eager steps so far */
    int wasted;                /* graphs dropped before their first replay */
    long long replays, since_capture;
};

static void drop_graph(vc_step_graph *sg) {
    if (sg->g && sg->since_capture == 0 && ++sg->wasted >= 2) sg->unusable = true; /* lengths change every batch */
    vc_graph_free(sg->g);
    sg->g = NULL;
}

void vc_step_ctx_free(vc_step_ctx *c) {
    vc_step_graph *sg = c->graph_state;
    if (!sg) return;
    drop_graph(sg);
    const vc_backend *be = vc_backend_for(c->ps->device);
    if (be) {
        be->mem_free(sg->frames);
        be->mem_free(sg->text);
    }
    free(sg->len);
    free(sg);
    c->graph_state = NULL;
}

long long vc_step_graph_replays(const vc_step_ctx *c) { return c->graph_state ? c->graph_state->replays : 0; }

/* Forward, backward, complete gradient and its norm (into ps->norm) on the
 * tape; *loss_dev is where the loss lands. frames and text are tensors the
 * tape takes as constants (host, or already on the device).
 * Data-parallel (dist: c->comm's float collectives on the device's memory):
 * the loss gathers every rank's embeddings, and the gradient buffer and the
 * loss are summed over ranks on the device before the norm, so *loss_dev is
 * the global batch's loss (in ps->aux[8]) and the norm the global one. */
static vc_status fwd_bwd(vc_step_ctx *c, const vc_tensor *frames, const vc_tensor *lengths, const vc_tensor *text,
                         bool dist, const vc_real **loss_dev) {
    vc_tape *t = c->tape;
    vc_tape_reset(t);
    t->step = c->step;
    vc_tape_grad(t, true);
    t->training = true;
    vc_params_zero_grad(c->ps);
    vc_var *v = vc_pooler_forward(t, c->model, vc_const(t, frames), lengths);
    vc_var *x = vc_pooler_text(t, c->model, vc_const(t, text));
    vc_var *loss = dist ? vc_infonce_sharded(t, v, x, c->logit_scale, c->comm)
                        : vc_infonce(t, v, x, c->logit_scale, NULL);
    if (!loss) return vc_tape_status(t);
    vc_grad_sync *gs = NULL; /* buckets all-reduced on the comm's stream while the backward runs */
    vc_status s = VC_OK;
    if (dist && c->grad_bucket_mb > 0 && (s = vc_grad_sync_begin(&gs, t, c->ps, c->comm, c->grad_bucket_mb))) return s;
    if ((s = vc_backward_hooked(t, loss, gs ? vc_grad_sync_hooks(gs) : NULL))) return s;
    vc_params_finish_grad(c->ps);
    const vc_backend *be = vc_backend_for(c->ps->device);
    *loss_dev = vc_f32(&loss->val);
    if (dist) {
        vc_real *gl = c->ps->aux + 8; /* aux[0..2] is the logit clamp's */
        be->copy_d2d(gl, *loss_dev, sizeof *gl);
        if ((s = gs ? vc_grad_sync_finish(gs) : vc_comm_allreduce_sum(c->comm, c->ps->grad, (int64_t)c->ps->n)) ||
            (s = vc_comm_allreduce_sum(c->comm, gl, 1)))
            return s;
        *loss_dev = gl;
    }
    be->global_norm(c->ps->grad, (int64_t)c->ps->n, c->ps->norm, c->ps->norm_scratch);
    return VC_OK;
}

static bool same_batch(const vc_step_graph *sg, const vc_tensor *f, const vc_tensor *l, const vc_tensor *x) {
    if (f->ne[0] != sg->B || f->ne[1] != sg->T || f->ne[2] != sg->D || x->ne[1] != sg->Dt || x->ne[0] != sg->B)
        return false;
    for (int64_t b = 0; b < sg->B; b++)
        if (vc_int_at(l, b) != sg->len[b]) return false;
    return true;
}

/* The batch's frames and text in the graph's fixed device buffers. */
static vc_status stage_inputs(vc_step_graph *sg, const vc_backend *be, const vc_tensor *f, const vc_tensor *x,
                              vc_tensor *fd, vc_tensor *xd) {
    size_t fb = vc_nbytes(f), xb = vc_nbytes(x);
    if (f->dtype != VC_F32 || x->dtype != VC_F32 || !vc_is_contiguous(f) || !vc_is_contiguous(x) ||
        (f->device != VC_CPU && f->device != be->device) || (x->device != VC_CPU && x->device != be->device))
        return vc_fail(VC_ERR_UNSUPPORTED, "step graph: inputs must be contiguous float32 tensors");
    if (fb > sg->frames_cap) {
        be->mem_free(sg->frames);
        if (!(sg->frames = be->mem_alloc(fb))) return vc_fail(VC_ERR_OOM, "step graph: %zu bytes for the frames", fb);
        sg->frames_cap = fb;
    }
    if (xb > sg->text_cap) {
        be->mem_free(sg->text);
        if (!(sg->text = be->mem_alloc(xb))) return vc_fail(VC_ERR_OOM, "step graph: %zu bytes for the text", xb);
        sg->text_cap = xb;
    }
    if (f->device == VC_CPU) be->copy_h2d(sg->frames, f->data, fb);
    else be->copy_d2d(sg->frames, f->data, fb);
    if (x->device == VC_CPU) be->copy_h2d(sg->text, x->data, xb);
    else be->copy_d2d(sg->text, x->data, xb);
    *fd = *f;
    fd->data = sg->frames;
    fd->device = be->device;
    fd->owned = NULL;
    *xd = *x;
    xd->data = sg->text;
    xd->device = be->device;
    xd->owned = NULL;
    return VC_OK;
}

/* Captures this batch's fwd_bwd into sg->g (it has not run yet then). */
static vc_status capture(vc_step_ctx *c, vc_step_graph *sg, const vc_tensor *f, const vc_tensor *l,
                         const vc_tensor *x) {
    const vc_backend *be = vc_backend_for(c->ps->device);
    vc_tensor fd, xd;
    vc_status s = stage_inputs(sg, be, f, x, &fd, &xd);
    if (s) return s;
    int64_t *len = realloc(sg->len, (size_t)(f->ne[0] ? f->ne[0] : 1) * sizeof(int64_t));
    if (!len) return vc_fail(VC_ERR_OOM, "step graph: out of memory");
    sg->len = len;
    if ((s = vc_graph_begin(c->ps->device))) return s;
    c->tape->capturing = true;
    s = fwd_bwd(c, &fd, l, &xd, false, &sg->loss);
    c->tape->capturing = false;
    vc_graph *g = NULL;
    vc_status se = vc_graph_end(c->ps->device, &g);
    if (s || se || c->tape->n_random_calls > 0) {
        vc_graph_free(g);
        sg->unusable = true; /* the step runs eagerly from now on */
        return s ? s : VC_OK;
    }
    sg->g = g;
    sg->staged = true;
    sg->since_capture = 0;
    sg->B = f->ne[0];
    sg->T = f->ne[1];
    sg->D = f->ne[2];
    sg->Dt = x->ne[1];
    for (int64_t b = 0; b < sg->B; b++) sg->len[b] = vc_int_at(l, b);
    return VC_OK;
}

/* logit_scale = clamp(logit_scale, 0, cap) on the device from table
 * kernels: x + relu(-x) - relu(x - cap), exact inside the range. */
static void clamp_on_device(const vc_backend *be, vc_real *x, vc_real *aux, vc_real cap) {
    vc_real *a = aux, *b = aux + 1, *k = aux + 2;
    be->fill(k, cap, 1);
    be->copy_d2d(a, x, sizeof *a);
    be->axpby(k, -1, a, 1, 1); /* a = x - cap */
    be->unary_fwd(VC_UN_RELU, a, a, 1);
    be->scale(x, -1, b, 1);
    be->unary_fwd(VC_UN_RELU, b, b, 1);
    be->axpby(b, 1, x, 1, 1);
    be->axpby(a, -1, x, 1, 1);
}

/* dist: a data-parallel step over c->comm (every rank runs it eagerly: a
 * collective is not put into a graph). */
static vc_status device_step(vc_step_ctx *c, const vc_tensor *frames, const vc_tensor *lengths, const vc_tensor *text,
                             bool dist, double lr, vc_step_out *out) {
    vc_params *ps = c->ps;
    const vc_backend *be = vc_backend_for(ps->device);
    vc_step_graph *sg = c->graph_state;
    if (c->use_graph && !sg && !(sg = c->graph_state = calloc(1, sizeof *sg)))
        return vc_fail(VC_ERR_OOM, "step: out of memory for the graph state");
    const vc_real *loss_dev = NULL;
    vc_status s = VC_OK;
    bool replay = sg && sg->g && same_batch(sg, frames, lengths, text);
    if (!replay && sg && sg->g) drop_graph(sg); /* an eager step reuses the arena the graph relies on */
    if (!replay && c->use_graph && !dist && !sg->unusable && sg->eager >= 2) {
        if ((s = capture(c, sg, frames, lengths, text))) return s;
        replay = sg->g != NULL;
    }
    if (replay) {
        vc_tensor fd, xd;
        if (!sg->staged) s = stage_inputs(sg, be, frames, text, &fd, &xd);
        if (!s) s = vc_graph_launch(sg->g);
        if (s) return s;
        if (!sg->staged) sg->since_capture++, sg->replays++; /* a replay (not the captured step's own run) */
        sg->staged = false;
        loss_dev = sg->loss;
    } else {
        if ((s = fwd_bwd(c, frames, lengths, text, dist, &loss_dev))) return s;
        if (sg) sg->eager++;
    }
    if (c->queued) c->queued(c->queued_ud);
    /* one wait: the loss and the norm come back together */
    vc_real lv;
    double norm;
    be->copy_d2h(&lv, loss_dev, sizeof lv);
    be->copy_d2h(&norm, ps->norm, sizeof norm);
    if (ps->device == VC_CUDA && (s = vc_cuda_take_error())) return s;
    double l = lv;
    /* data-parallel, the loss and the norm are the global ones, the same on
     * every rank: a stop here happens on all ranks together */
    if (dist && (!isfinite(l) || !isfinite(norm))) c->comm->failed_together = true;
    if (!isfinite(l)) return vc_fail(VC_ERR_NUMERIC, "loss is %g", l);
    if (!isfinite(norm)) return vc_fail(VC_ERR_NUMERIC, "gradient norm is %g (loss %g)", norm, l);
    if (c->grad_clip > 0) be->clip_scale(ps->grad, (int64_t)ps->n, c->grad_clip, ps->norm);
    vc_adamw_step(c->opt, ps, lr);
    const vc_real cap = (vc_real)log(100.0);
    vc_real *dls = vc_f32(&c->logit_scale->val), ls;
    clamp_on_device(be, dls, ps->aux, cap);
    be->copy_d2h(&ls, dls, sizeof ls);
    if (ps->device == VC_CUDA && (s = vc_cuda_take_error())) return s;
    if (out) *out = (vc_step_out){l, norm, ls};
    return VC_OK;
}

vc_status vc_train_step(vc_step_ctx *c, const vc_tensor *frames, const vc_tensor *lengths, const vc_tensor *text,
                        double lr, vc_step_out *out) {
    bool dist = c->comm && c->comm->size > 1;
    if (c->ps->device != VC_CPU && c->ps->norm) {
        /* a device comm (NCCL, host-staged) runs the data-parallel step even
         * for one rank: the path a multi-GPU job takes, on one GPU */
        bool ddist = c->comm && (dist || c->comm->ops->device != VC_CPU);
        if (ddist && c->comm->ops->device != c->ps->device)
            return vc_fail(VC_ERR_ARG, "step: the %s comm's collectives work on %s memory, the parameters are on %s",
                           c->comm->ops->name, vc_device_name(c->comm->ops->device), vc_device_name(c->ps->device));
        return device_step(c, frames, lengths, text, ddist, lr, out);
    }
    if (dist && c->comm->ops->device != VC_CPU)
        return vc_fail(VC_ERR_ARG, "step: the %s comm's collectives work on %s memory, the parameters are on the cpu",
                       c->comm->ops->name, vc_device_name(c->comm->ops->device));
    vc_tape *t = c->tape;
    vc_tape_reset(t);
    t->step = c->step;
    vc_tape_grad(t, true);
    t->training = true;
    vc_params_zero_grad(c->ps);
    vc_var *v = vc_pooler_forward(t, c->model, vc_const(t, frames), lengths);
    vc_var *x = vc_pooler_text(t, c->model, vc_const(t, text));
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
    vc_grad_sync *gs = NULL; /* buckets all-reduced while the backward runs */
    if (dist && c->grad_bucket_mb > 0 && (s = vc_grad_sync_begin(&gs, t, c->ps, c->comm, c->grad_bucket_mb))) return s;
    if ((s = vc_backward_hooked(t, loss, gs ? vc_grad_sync_hooks(gs) : NULL))) return s;
    vc_params_finish_grad(c->ps);
    if (gs) s = vc_grad_sync_finish(gs);
    else if (dist) s = vc_comm_allreduce_sum(c->comm, c->ps->grad, (int64_t)c->ps->n);
    if (s) return s;
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

vc_status vc_step_random_batch(int64_t B, int64_t T, int64_t D, uint64_t seed, vc_tensor *frames, vc_tensor *lengths,
                               vc_tensor *text) {
    *frames = *lengths = *text = (vc_tensor){0};
    vc_status s;
    if ((s = vc_tensor_alloc(frames, VC_F32, VC_DIMS(B, T, D))) || (s = vc_tensor_alloc(text, VC_F32, VC_DIMS(B, D))) ||
        (s = vc_tensor_alloc(lengths, VC_I64, VC_DIMS(B)))) {
        vc_tensor_release(frames);
        vc_tensor_release(text);
        vc_tensor_release(lengths);
        return s;
    }
    vc_rng r;
    vc_rng_seed(&r, seed);
    for (int64_t i = 0; i < B * T * D; i++) vc_f32(frames)[i] = (float)vc_rng_normal(&r);
    for (int64_t i = 0; i < B * D; i++) vc_f32(text)[i] = (float)vc_rng_normal(&r);
    for (int64_t i = 0; i < B; i++) ((int64_t *)lengths->data)[i] = T;
    return VC_OK;
}
