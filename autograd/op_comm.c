/* all-gather with gradient (op_comm.h): forward allgather, backward
 * reduce-scatter of the output gradient. */
#include "op_comm.h"

#include <string.h>

typedef struct {
    vc_comm *comm;
} gather_ctx;

/* gx [n, ...] (+)= sum over ranks of their gout rows [rank*n, rank*n + n) */
static vc_status all_gather_backward(vc_tape *t, const vc_node *nd) {
    const gather_ctx *c = nd->ctx;
    vc_var *x = nd->in[0];
    vc_real beta;
    vc_real *gx = vc_grad_for(t, x, &beta);
    if (!gx) return t->status;
    int64_t n = vc_numel(&x->val);
    const vc_real *g = vc_f32(&nd->out->grad);
    vc_status s;
    if (beta == 0) {
        s = vc_comm_reduce_scatter_sum(c->comm, g, n, gx);
    } else { /* accumulate: reduce into scratch, then add */
        vc_real *tmp = vc_tape_take(t, (size_t)n * sizeof(vc_real));
        if (!tmp) return t->status;
        s = vc_comm_reduce_scatter_sum(c->comm, g, n, tmp);
        if (!s) vc_var_backend(x)->axpby(tmp, 1, gx, 1, n);
        vc_tape_give(t, tmp, (size_t)n * sizeof(vc_real));
    }
    if (s) t->status = s;
    return s;
}

vc_var *vc_all_gather(vc_tape *t, vc_var *x, vc_comm *c) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    if (!c) return vc_tape_fail(t, vc_fail(VC_ERR_ARG, "op all_gather: no comm"));
    if (!vc_is_contiguous(&x->val) || x->val.ndim < 1) {
        char sh[64];
        return vc_tape_fail(t, vc_fail(VC_ERR_SHAPE, "op all_gather: x is %s (need a contiguous [n, ...])",
                                       vc_shape_str(&x->val, sh, sizeof sh)));
    }
    int64_t shape[VC_MAX_DIMS];
    memcpy(shape, x->val.ne, sizeof shape);
    shape[0] *= c->size;
    vc_var *out = vc_op_out(t, x->val.ndim, shape, 1, &x);
    if (!out) return NULL;
    vc_status s = vc_comm_allgather(c, vc_f32(&x->val), vc_numel(&x->val), vc_f32(&out->val));
    if (s) return vc_tape_fail(t, s);
    gather_ctx *ctx;
    if (vc_record(t, "all_gather", all_gather_backward, out, 1, &x, sizeof *ctx, (void **)&ctx)) return NULL;
    ctx->comm = c;
    return out;
}
