/* Softmax and log-softmax along an axis with an additive mask; cross-entropy. */
#include <string.h>

#include "ops.h"

typedef struct {
    int axis;
    bool take_log;
} softmax_ctx;

static vc_status softmax_backward(vc_tape *t, const vc_node *n) {
    const softmax_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    const vc_tensor *y = &n->out->val;
    if (gx)
        vc_var_backend(n->out)->softmax_bwd(vc_f32(y), vc_f32(&n->out->grad), gx, beta, y->ndim, y->ne, c->axis,
                                            c->take_log);
    return t->status;
}

/* Strides of mask m aligned to x's dims, 0 where m broadcasts. */
static vc_status mask_strides(const char *op, const vc_tensor *x, const vc_tensor *m, int64_t *mst) {
    char s1[96], s2[96];
    if (!m->data) return vc_fail(VC_ERR_ARG, "op %s: mask is missing", op);
    if (m->dtype != VC_F32)
        return vc_fail(VC_ERR_DTYPE, "op %s: mask is %s, expected float32", op, vc_dtype_name(m->dtype));
    if (m->ndim > x->ndim) goto bad;
    for (int d = 0; d < x->ndim; d++) {
        int dm = d - (x->ndim - m->ndim);
        if (dm < 0 || m->ne[dm] == 1)
            mst[d] = 0;
        else if (m->ne[dm] == x->ne[d])
            mst[d] = m->st[dm];
        else
            goto bad;
    }
    return VC_OK;
bad:
    return vc_fail(VC_ERR_SHAPE, "op %s: mask %s does not broadcast to x %s", op, vc_shape_str(m, s1, sizeof s1),
                   vc_shape_str(x, s2, sizeof s2));
}

static vc_var *softmax_impl(vc_tape *t, const char *name, vc_var *x, int axis, const vc_tensor *mask, bool lg) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    int a;
    int64_t mst[VC_MAX_DIMS] = {0};
    vc_status s = vc_axis(name, axis, x->val.ndim, &a);
    vc_tensor md; /* the mask on x's device (copied there from the host if need be) */
    if (!s && mask && mask->data && mask->device != x->val.device) {
        if (mask->device != VC_CPU || x->val.device != vc_tape_device(t))
            s = vc_fail(VC_ERR_DEVICE, "op %s: mask on %s, x on %s", name, vc_device_name(mask->device),
                        vc_device_name(x->val.device));
        else if (!(s = vc_tape_on_device(t, mask, &md)))
            mask = &md;
    }
    if (!s && mask) s = mask_strides(name, &x->val, mask, mst);
    if (s) return vc_tape_fail(t, s);
    vc_var *out = vc_op_out(t, x->val.ndim, x->val.ne, 1, &x);
    if (!out) return NULL;
    vc_var_backend(x)->softmax_fwd(vc_f32(&x->val), vc_f32(&out->val), x->val.ndim, x->val.ne, a,
                                   mask ? vc_f32(mask) : NULL, mst, lg);
    softmax_ctx *c;
    if (vc_record(t, name, softmax_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    *c = (softmax_ctx){a, lg};
    return out;
}

vc_var *vc_softmax(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask) {
    return softmax_impl(t, "softmax", x, axis, mask, false);
}

vc_var *vc_log_softmax(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask) {
    return softmax_impl(t, "log_softmax", x, axis, mask, true);
}

typedef struct {
    int axis;
    int64_t *target;
    vc_real *lse;
} xent_ctx;

static vc_status xent_backward(vc_tape *t, const vc_node *n) {
    const xent_ctx *c = n->ctx;
    vc_var *l = n->in[0];
    vc_real beta;
    vc_real *gl = vc_grad_for(t, l, &beta);
    if (gl)
        vc_var_backend(l)->xent_bwd(vc_f32(&l->val), l->val.ne[0], l->val.ne[1], c->axis, c->target, c->lse,
                                    vc_f32(&n->out->grad), gl, beta);
    return t->status;
}

vc_var *vc_cross_entropy(vc_tape *t, vc_var *logits, const vc_tensor *targets, int axis) {
    if (vc_tape_bad(t, 1, &logits)) return NULL;
    const vc_tensor *L = &logits->val;
    char s1[96], s2[96];
    if (axis != 0 && axis != 1) {
        vc_fail(VC_ERR_ARG, "op cross_entropy: class axis must be 0 or 1, got %d", axis);
        return vc_tape_fail(t, VC_ERR_ARG);
    }
    int64_t S = L->ndim == 2 ? L->ne[axis == 1 ? 0 : 1] : -1, C = L->ndim == 2 ? L->ne[axis] : 0;
    if (!targets || !targets->data || (targets->dtype != VC_I64 && targets->dtype != VC_I32) || targets->ndim != 1 ||
        targets->ne[0] != S || !vc_is_contiguous(targets) || S <= 0 || C <= 0) {
        vc_fail(VC_ERR_SHAPE, "op cross_entropy: logits %s need 2 dims and targets int [%lld], got %s",
                vc_shape_str(L, s1, sizeof s1), (long long)S,
                targets ? vc_shape_str(targets, s2, sizeof s2) : "none");
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    if (targets->device != VC_CPU) {
        vc_fail(VC_ERR_DEVICE, "op cross_entropy: targets must be a host tensor, got one on %s",
                vc_device_name(targets->device));
        return vc_tape_fail(t, VC_ERR_DEVICE);
    }
    int64_t *ht = vc_tape_host(t, (size_t)S * sizeof(int64_t));
    if (!ht) return NULL;
    for (int64_t i = 0; i < S; i++) {
        ht[i] = vc_int_at(targets, i);
        if (ht[i] < 0 || ht[i] >= C) {
            vc_fail(VC_ERR_ARG, "op cross_entropy: target %lld of sample %lld is outside [0, %lld)", (long long)ht[i],
                    (long long)i, (long long)C);
            return vc_tape_fail(t, VC_ERR_ARG);
        }
    }
    /* checked on the host, read on the device */
    int64_t *tg = vc_tape_upload(t, ht, (size_t)S * sizeof(int64_t));
    vc_real *lse = vc_arena_alloc(&t->arena, (size_t)S * sizeof(vc_real));
    if (!tg || !lse) return vc_tape_fail(t, VC_ERR_OOM);
    vc_var *out = vc_op_out(t, VC_DIMS(1), 1, &logits);
    if (!out) return NULL;
    vc_var_backend(logits)->xent_fwd(vc_f32(L), L->ne[0], L->ne[1], axis, tg, lse, vc_f32(&out->val));
    xent_ctx *c;
    if (vc_record(t, "cross_entropy", xent_backward, out, 1, &logits, sizeof *c, (void **)&c)) return NULL;
    *c = (xent_ctx){axis, tg, lse};
    return out;
}
