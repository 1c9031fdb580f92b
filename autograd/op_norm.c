/* LayerNorm and row-wise L2 normalisation over the last axis. */
#include "ops.h"

typedef struct {
    int64_t N, D;
    vc_real *mean, *rstd;   /* [N], saved by the forward */
    vc_real eps;
} norm_ctx;

static vc_status layernorm_backward(vc_tape *t, const vc_node *n) {
    const norm_ctx *c = n->ctx;
    vc_var *x = n->in[0], *g = n->in[1], *b = n->in[2];
    vc_real bx = 0, bg = 0, bb = 0;
    vc_real *gx = vc_grad_for(t, x, &bx);
    vc_real *gg = g ? vc_grad_for(t, g, &bg) : NULL;
    vc_real *gb = b ? vc_grad_for(t, b, &bb) : NULL;
    vc_var_backend(x)->layernorm_bwd(vc_f32(&x->val), g ? vc_f32(&g->val) : NULL, c->mean, c->rstd,
                                     vc_f32(&n->out->grad), gx, bx, gg, bg, gb, bb, c->N, c->D);
    return t->status;
}

vc_var *vc_layernorm(vc_tape *t, vc_var *x, vc_var *gamma, vc_var *beta, vc_real eps) {
    if (vc_tape_bad(t, 1, &x) || (gamma && vc_tape_bad(t, 1, &gamma)) || (beta && vc_tape_bad(t, 1, &beta)))
        return NULL;
    int64_t D = x->val.ndim ? x->val.ne[x->val.ndim - 1] : 0, N = D ? vc_numel(&x->val) / D : 0;
    char s1[96], s2[96];
    vc_var *pv[2] = {gamma, beta};
    for (int i = 0; i < 2; i++)
        if (pv[i] && (pv[i]->val.ndim != 1 || pv[i]->val.ne[0] != D)) {
            vc_fail(VC_ERR_SHAPE, "op layernorm: x is %s but %s is %s", vc_shape_str(&x->val, s1, sizeof s1),
                    i ? "beta" : "gamma", vc_shape_str(&pv[i]->val, s2, sizeof s2));
            return vc_tape_fail(t, VC_ERR_SHAPE);
        }
    /* Inputs are stored in fixed slots (x, gamma, beta) so the backward
     * knows which is which; absent ones are NULL and count as inputs. */
    vc_var *in[3] = {x, gamma, beta};
    vc_var *present[3];
    int np = 0;
    for (int i = 0; i < 3; i++)
        if (in[i]) present[np++] = in[i];
    vc_var *out = vc_op_out(t, x->val.ndim, x->val.ne, np, present);
    if (!out) return NULL;
    vc_real *mean = vc_arena_alloc(&t->arena, (size_t)(N + 1) * sizeof(vc_real));
    vc_real *rstd = vc_arena_alloc(&t->arena, (size_t)(N + 1) * sizeof(vc_real));
    if (!mean || !rstd) return vc_tape_fail(t, VC_ERR_OOM);
    vc_var_backend(x)->layernorm_fwd(vc_f32(&x->val), gamma ? vc_f32(&gamma->val) : NULL,
                                     beta ? vc_f32(&beta->val) : NULL, vc_f32(&out->val), mean, rstd, N, D, eps);
    norm_ctx *c;
    if (vc_record(t, "layernorm", layernorm_backward, out, 3, in, sizeof *c, (void **)&c)) return NULL;
    *c = (norm_ctx){N, D, mean, rstd, eps};
    return out;
}

static vc_status l2norm_backward(vc_tape *t, const vc_node *n) {
    const norm_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx)
        vc_var_backend(n->out)->l2norm_bwd(vc_f32(&n->out->val), c->mean, vc_f32(&n->out->grad), gx, beta, c->N, c->D,
                                           c->eps);
    return t->status;
}

vc_var *vc_l2norm(vc_tape *t, vc_var *x, vc_real eps) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    int64_t D = x->val.ndim ? x->val.ne[x->val.ndim - 1] : 0, N = D ? vc_numel(&x->val) / D : 0;
    vc_var *out = vc_op_out(t, x->val.ndim, x->val.ne, 1, &x);
    if (!out) return NULL;
    vc_real *norm = vc_arena_alloc(&t->arena, (size_t)(N + 1) * sizeof(vc_real));
    if (!norm) return vc_tape_fail(t, VC_ERR_OOM);
    vc_var_backend(x)->l2norm_fwd(vc_f32(&x->val), vc_f32(&out->val), norm, N, D, eps);
    norm_ctx *c;
    if (vc_record(t, "l2norm", l2norm_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    *c = (norm_ctx){N, D, norm, NULL, eps};
    return out;
}
