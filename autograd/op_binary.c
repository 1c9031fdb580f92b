/* Element-wise add / sub / mul with broadcasting, and scaling by a constant. */
#include "ops.h"

typedef struct {
    vc_binop op;
    vc_bcast plan;
} binary_ctx;

static vc_status binary_backward(vc_tape *t, const vc_node *n) {
    const binary_ctx *c = n->ctx;
    const vc_real *A = vc_f32(&n->in[0]->val), *B = vc_f32(&n->in[1]->val), *G = vc_f32(&n->out->grad);
    const vc_backend *be = vc_var_backend(n->out);
    for (int which = 0; which < 2; which++) {
        vc_real beta;
        vc_real *gx = vc_grad_for(t, n->in[which], &beta);
        if (gx) be->binary_bwd(c->op, which, &c->plan, G, A, B, gx, beta);
    }
    return t->status;
}

static vc_var *binary(vc_tape *t, const char *name, vc_binop op, vc_var *a, vc_var *b) {
    vc_var *in[2] = {a, b};
    if (vc_tape_bad(t, 2, in)) return NULL;
    vc_bcast plan;
    vc_status s = vc_bcast_plan(&plan, name, &a->val, &b->val);
    if (s) return vc_tape_fail(t, s);
    vc_var *out = vc_op_out(t, plan.nd, plan.ne, 2, in);
    if (!out) return NULL;
    vc_var_backend(a)->binary_fwd(op, &plan, vc_f32(&a->val), vc_f32(&b->val), vc_f32(&out->val));
    binary_ctx *c;
    if (vc_record(t, name, binary_backward, out, 2, in, sizeof *c, (void **)&c)) return NULL;
    c->op = op;
    c->plan = plan;
    return out;
}

vc_var *vc_add(vc_tape *t, vc_var *a, vc_var *b) { return binary(t, "add", VC_BIN_ADD, a, b); }
vc_var *vc_sub(vc_tape *t, vc_var *a, vc_var *b) { return binary(t, "sub", VC_BIN_SUB, a, b); }
vc_var *vc_mul(vc_tape *t, vc_var *a, vc_var *b) { return binary(t, "mul", VC_BIN_MUL, a, b); }

typedef struct {
    vc_real s;
} scale_ctx;

static vc_status scale_backward(vc_tape *t, const vc_node *n) {
    const scale_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx) vc_var_backend(n->out)->axpby(vc_f32(&n->out->grad), c->s, gx, beta, vc_numel(&n->out->val));
    return t->status;
}

vc_var *vc_scale(vc_tape *t, vc_var *x, vc_real s) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    vc_var *out = vc_op_out(t, x->val.ndim, x->val.ne, 1, &x);
    if (!out) return NULL;
    vc_var_backend(x)->scale(vc_f32(&x->val), s, vc_f32(&out->val), vc_numel(&x->val));
    scale_ctx *c;
    if (vc_record(t, "scale", scale_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    c->s = s;
    return out;
}
