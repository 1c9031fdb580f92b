/* Inverted dropout with a counter-based mask (recomputed in the backward). */
#include "ops.h"

typedef struct {
    vc_real p;
    uint64_t stream;
} dropout_ctx;

static vc_status dropout_backward(vc_tape *t, const vc_node *n) {
    const dropout_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx)
        vc_var_backend(n->out)->dropout_bwd(vc_f32(&n->out->grad), gx, beta, vc_numel(&n->out->val), c->p, t->seed,
                                            c->stream);
    return t->status;
}

vc_var *vc_dropout(vc_tape *t, vc_var *x, vc_real p) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    if (!(p >= 0 && p < 1)) {
        vc_fail(VC_ERR_ARG, "op dropout: probability %g is outside [0, 1)", (double)p);
        return vc_tape_fail(t, VC_ERR_ARG);
    }
    if (!t->training || p == 0) return x;
    vc_var *out = vc_op_out(t, x->val.ndim, x->val.ne, 1, &x);
    if (!out) return NULL;
    /* One stream per (step, call): masks differ across steps and calls. */
    uint64_t stream = t->step * 0x100000001b3ull + t->n_random_calls++;
    vc_var_backend(x)->dropout_fwd(vc_f32(&x->val), vc_f32(&out->val), vc_numel(&x->val), p, t->seed, stream);
    dropout_ctx *c;
    if (vc_record(t, "dropout", dropout_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    *c = (dropout_ctx){p, stream};
    return out;
}
