/* Shape ops: reshape (a view), permute/transpose, slice, concat, split and
 * row gather (embedding lookup). All but reshape produce contiguous copies. */
#include <string.h>

#include "ops.h"

/* The backward of every op whose output is a re-labelled copy of its input. */
static vc_status reshape_backward(vc_tape *t, const vc_node *n) {
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx) vc_var_backend(n->out)->axpby(vc_f32(&n->out->grad), 1, gx, beta, vc_numel(&n->out->val));
    return t->status;
}

vc_var *vc_reshape(vc_tape *t, vc_var *x, int ndim, const int64_t *shape) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    vc_tensor view;
    vc_status s = vc_view_reshape(&view, &x->val, ndim, shape);
    if (s) return vc_tape_fail(t, s);
    vc_var *out = vc_op_view(t, &view, 1, &x);
    if (!out || vc_record(t, "reshape", reshape_backward, out, 1, &x, 0, NULL)) return NULL;
    return out;
}

typedef struct {
    int perm[VC_MAX_DIMS];
} permute_ctx;

/* Strides, in x's contiguous layout, of each output dim. */
static void permuted_strides(const vc_tensor *x, const int *perm, int64_t *st) {
    for (int d = 0; d < x->ndim; d++) st[d] = x->st[perm[d]];
}

static vc_status permute_backward(vc_tape *t, const vc_node *n) {
    const permute_ctx *c = n->ctx;
    vc_var *x = n->in[0];
    vc_real beta;
    vc_real *gx = vc_grad_for(t, x, &beta);
    if (gx) {
        int64_t st[VC_MAX_DIMS];
        permuted_strides(&x->val, c->perm, st);
        const vc_tensor *y = &n->out->val;
        vc_var_backend(x)->strided_copy(gx, st, vc_f32(&n->out->grad), y->st, y->ndim, y->ne, beta);
    }
    return t->status;
}

vc_var *vc_permute(vc_tape *t, vc_var *x, const int *perm) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    vc_tensor view;
    vc_status s = vc_view_permute(&view, &x->val, perm);
    if (s) return vc_tape_fail(t, s);
    vc_var *out = vc_op_out(t, view.ndim, view.ne, 1, &x);
    if (!out) return NULL;
    vc_var_backend(x)->strided_copy(vc_f32(&out->val), out->val.st, vc_f32(&x->val), view.st, view.ndim, view.ne, 0);
    permute_ctx *c;
    if (vc_record(t, "permute", permute_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    memcpy(c->perm, perm, (size_t)x->val.ndim * sizeof(int));
    return out;
}

vc_var *vc_transpose(vc_tape *t, vc_var *x, int a, int b) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    int aa, bb, perm[VC_MAX_DIMS];
    vc_status s = vc_axis("transpose", a, x->val.ndim, &aa);
    if (!s) s = vc_axis("transpose", b, x->val.ndim, &bb);
    if (s) return vc_tape_fail(t, s);
    for (int d = 0; d < VC_MAX_DIMS; d++) perm[d] = d;
    perm[aa] = bb;
    perm[bb] = aa;
    return vc_permute(t, x, perm);
}

/* x viewed as [P, T, R] around axis a. */
static void prt(const vc_tensor *x, int a, int64_t *P, int64_t *T, int64_t *R) {
    *P = *R = 1;
    for (int d = 0; d < a; d++) *P *= x->ne[d];
    for (int d = a + 1; d < x->ndim; d++) *R *= x->ne[d];
    *T = x->ne[a];
}

typedef struct {
    int axis;
    int64_t start;   /* where the output's rows sit along the axis of the input */
} slab_ctx;

/* Shared by slice and concat: input i occupies [start_i, start_i + len_i) of
 * the wider tensor along the axis. `wide_is_out` says which side is wider. */
static void slab_grad(vc_tape *t, vc_var *narrow, const vc_tensor *wide, const vc_real *gwide, int axis,
                      int64_t start) {
    vc_real beta;
    vc_real *gn = vc_grad_for(t, narrow, &beta);
    if (!gn) return;
    int64_t P, T, R, Pn, Tn, Rn;
    prt(wide, axis, &P, &T, &R);
    prt(&narrow->val, axis, &Pn, &Tn, &Rn);
    vc_var_backend(narrow)->slab_copy(gn, Tn, 0, gwide, T, start, Tn, P, R, beta);
}

static vc_status slice_backward(vc_tape *t, const vc_node *n) {
    const slab_ctx *c = n->ctx;
    vc_var *x = n->in[0];
    vc_real beta;
    vc_real *gx = vc_grad_for(t, x, &beta);
    if (!gx) return t->status;
    int64_t P, T, R;
    prt(&x->val, c->axis, &P, &T, &R);
    int64_t len = n->out->val.ne[c->axis];
    const vc_backend *be = vc_var_backend(x);
    if (beta == 0) be->mem_set(gx, 0, vc_nbytes(&x->val)); /* rows outside the slice get 0 */
    be->slab_copy(gx, T, c->start, vc_f32(&n->out->grad), len, 0, len, P, R, 1);
    return t->status;
}

vc_var *vc_slice(vc_tape *t, vc_var *x, int axis, int64_t start, int64_t len) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    vc_tensor view;
    int a;
    vc_status s = vc_axis("slice", axis, x->val.ndim, &a);
    if (!s) s = vc_view_slice(&view, &x->val, a, start, len);
    if (s) return vc_tape_fail(t, s);
    vc_var *out = vc_op_out(t, view.ndim, view.ne, 1, &x);
    if (!out) return NULL;
    int64_t P, T, R;
    prt(&x->val, a, &P, &T, &R);
    vc_var_backend(x)->slab_copy(vc_f32(&out->val), len, 0, vc_f32(&x->val), T, start, len, P, R, 0);
    slab_ctx *c;
    if (vc_record(t, "slice", slice_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    *c = (slab_ctx){a, start};
    return out;
}

static vc_status concat_backward(vc_tape *t, const vc_node *n) {
    const slab_ctx *c = n->ctx;
    vc_var *const *in = n->n_in <= 4 ? n->in : n->in_many;
    int64_t start = 0;
    for (int i = 0; i < n->n_in; i++) {
        slab_grad(t, in[i], &n->out->val, vc_f32(&n->out->grad), c->axis, start);
        start += in[i]->val.ne[c->axis];
    }
    return t->status;
}

vc_var *vc_concat(vc_tape *t, int n, vc_var *const *xs, int axis) {
    if (n < 1) {
        vc_fail(VC_ERR_ARG, "op concat: no inputs");
        return vc_tape_fail(t, VC_ERR_ARG);
    }
    if (vc_tape_bad(t, n, xs)) return NULL;
    const vc_tensor *x0 = &xs[0]->val;
    int a;
    vc_status s = vc_axis("concat", axis, x0->ndim, &a);
    if (s) return vc_tape_fail(t, s);
    int64_t shape[VC_MAX_DIMS];
    memcpy(shape, x0->ne, sizeof shape);
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        const vc_tensor *xi = &xs[i]->val;
        bool ok = xi->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++) ok = d == a || xi->ne[d] == x0->ne[d];
        if (!ok) {
            char s1[96], s2[96];
            vc_fail(VC_ERR_SHAPE, "op concat: input 0 is %s but input %d is %s (axis %d)",
                    vc_shape_str(x0, s1, sizeof s1), i, vc_shape_str(xi, s2, sizeof s2), axis);
            return vc_tape_fail(t, VC_ERR_SHAPE);
        }
        shape[a] += xi->ne[a];
    }
    vc_var *out = vc_op_out(t, x0->ndim, shape, n, xs);
    if (!out) return NULL;
    int64_t P, T, R, start = 0;
    prt(&out->val, a, &P, &T, &R);
    for (int i = 0; i < n; i++) {
        int64_t len = xs[i]->val.ne[a];
        vc_var_backend(xs[i])->slab_copy(vc_f32(&out->val), T, start, vc_f32(&xs[i]->val), len, 0, len, P, R, 0);
        start += len;
    }
    slab_ctx *c;
    if (vc_record(t, "concat", concat_backward, out, n, xs, sizeof *c, (void **)&c)) return NULL;
    *c = (slab_ctx){a, 0};
    return out;
}

vc_status vc_split_sizes(vc_tape *t, vc_var *x, int axis, int n, const int64_t *sizes, vc_var **outs) {
    for (int i = 0; i < n; i++) outs[i] = NULL;
    if (vc_tape_bad(t, 1, &x)) return t->status;
    int a;
    vc_status s = vc_axis("split_sizes", axis, x->val.ndim, &a);
    if (s) return (vc_tape_fail(t, s), s);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0) {
            vc_fail(VC_ERR_ARG, "op split_sizes: part %d has negative size %lld", i, (long long)sizes[i]);
            return (vc_tape_fail(t, VC_ERR_ARG), VC_ERR_ARG);
        }
        total += sizes[i];
    }
    if (total != x->val.ne[a]) {
        vc_fail(VC_ERR_SHAPE, "op split_sizes: sizes add up to %lld but axis %d has %lld", (long long)total, axis,
                (long long)x->val.ne[a]);
        return (vc_tape_fail(t, VC_ERR_SHAPE), VC_ERR_SHAPE);
    }
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        outs[i] = vc_slice(t, x, a, start, sizes[i]);
        start += sizes[i];
    }
    return t->status;
}

typedef struct {
    int64_t *idx, N;
} gather_ctx;

static vc_status gather_backward(vc_tape *t, const vc_node *n) {
    const gather_ctx *c = n->ctx;
    vc_var *tab = n->in[0];
    vc_real beta;
    vc_real *gt = vc_grad_for(t, tab, &beta);
    if (gt)
        vc_var_backend(tab)->gather_bwd(vc_f32(&n->out->grad), c->idx, gt, beta, c->N, tab->val.ne[0], tab->val.ne[1]);
    return t->status;
}

vc_var *vc_gather_rows(vc_tape *t, vc_var *table, const vc_tensor *idx) {
    if (vc_tape_bad(t, 1, &table)) return NULL;
    const vc_tensor *T = &table->val;
    char s1[96], s2[96];
    if (T->ndim != 2 || !idx || !idx->data || (idx->dtype != VC_I64 && idx->dtype != VC_I32) ||
        !vc_is_contiguous(idx) || idx->ndim < 1 || idx->ndim >= VC_MAX_DIMS) {
        vc_fail(VC_ERR_SHAPE, "op gather_rows: table %s must be [V, D] and idx an integer tensor, got %s",
                vc_shape_str(T, s1, sizeof s1), idx ? vc_shape_str(idx, s2, sizeof s2) : "none");
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int64_t N = vc_numel(idx), V = T->ne[0], D = T->ne[1];
    if (idx->device != VC_CPU) {
        vc_fail(VC_ERR_DEVICE, "op gather_rows: indices must be a host tensor, got one on %s",
                vc_device_name(idx->device));
        return vc_tape_fail(t, VC_ERR_DEVICE);
    }
    size_t nb = (size_t)(N + 1) * sizeof(int64_t);
    int64_t *hx = vc_tape_host(t, nb);
    if (!hx) return NULL;
    for (int64_t i = 0; i < N; i++) {
        hx[i] = vc_int_at(idx, i);
        if (hx[i] < 0 || hx[i] >= V) {
            vc_fail(VC_ERR_ARG, "op gather_rows: index %lld at position %lld is outside [0, %lld)", (long long)hx[i],
                    (long long)i, (long long)V);
            return vc_tape_fail(t, VC_ERR_ARG);
        }
    }
    hx[N] = 0;
    int64_t *ix = vc_tape_upload(t, hx, nb); /* checked on the host, read on the device */
    if (!ix) return NULL;
    int64_t shape[VC_MAX_DIMS];
    memcpy(shape, idx->ne, (size_t)idx->ndim * sizeof(int64_t));
    shape[idx->ndim] = D;
    vc_var *out = vc_op_out(t, idx->ndim + 1, shape, 1, &table);
    if (!out) return NULL;
    vc_var_backend(table)->gather_fwd(vc_f32(T), D, ix, vc_f32(&out->val), N, D);
    gather_ctx *c;
    if (vc_record(t, "gather_rows", gather_backward, out, 1, &table, sizeof *c, (void **)&c)) return NULL;
    *c = (gather_ctx){ix, N};
    return out;
}
