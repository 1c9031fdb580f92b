/* Element-wise activations: GELU, QuickGELU, sigmoid, tanh, ReLU, exp. */
#include "ops.h"

typedef struct {
    vc_unop op;
} unary_ctx;

static vc_status unary_backward(vc_tape *t, const vc_node *n) {
    const unary_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx)
        vc_var_backend(n->out)->unary_bwd(c->op, vc_f32(&n->in[0]->val), vc_f32(&n->out->val), vc_f32(&n->out->grad),
                                          gx, beta, vc_numel(&n->out->val));
    return t->status;
}

static vc_var *unary(vc_tape *t, const char *name, vc_unop op, vc_var *x) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    vc_var *out = vc_op_out(t, x->val.ndim, x->val.ne, 1, &x);
    if (!out) return NULL;
    vc_var_backend(x)->unary_fwd(op, vc_f32(&x->val), vc_f32(&out->val), vc_numel(&x->val));
    unary_ctx *c;
    if (vc_record(t, name, unary_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    c->op = op;
    return out;
}

vc_var *vc_gelu(vc_tape *t, vc_var *x) { return unary(t, "gelu", VC_UN_GELU, x); }
vc_var *vc_quickgelu(vc_tape *t, vc_var *x) { return unary(t, "quickgelu", VC_UN_QUICKGELU, x); }
vc_var *vc_sigmoid(vc_tape *t, vc_var *x) { return unary(t, "sigmoid", VC_UN_SIGMOID, x); }
vc_var *vc_tanh(vc_tape *t, vc_var *x) { return unary(t, "tanh", VC_UN_TANH, x); }
vc_var *vc_relu(vc_tape *t, vc_var *x) { return unary(t, "relu", VC_UN_RELU, x); }
vc_var *vc_exp(vc_tape *t, vc_var *x) { return unary(t, "exp", VC_UN_EXP, x); }
