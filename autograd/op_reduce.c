/* Reductions: sum / mean over an axis, sum of all elements, masked sum / mean. */
#include <string.h>

#include "ops.h"

/* x viewed as [P, T, R] around axis a. */
static void prt(const vc_tensor *x, int a, int64_t *P, int64_t *T, int64_t *R) {
    *P = *R = 1;
    for (int d = 0; d < a; d++) *P *= x->ne[d];
    for (int d = a + 1; d < x->ndim; d++) *R *= x->ne[d];
    *T = x->ne[a];
}

/* Output shape: x's shape without axis a. */
static int drop_axis(const vc_tensor *x, int a, int64_t *shape) {
    int k = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != a) shape[k++] = x->ne[d];
    return k;
}

typedef struct {
    int64_t P, T, R;
    vc_real scale;
} sum_ctx;

static vc_status sum_backward(vc_tape *t, const vc_node *n) {
    const sum_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx) vc_var_backend(n->out)->sum_bwd(vc_f32(&n->out->grad), gx, beta, c->P, c->T, c->R, c->scale);
    return t->status;
}

static vc_var *sum_impl(vc_tape *t, const char *name, vc_var *x, int axis, bool all, bool mean) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    int a = 0;
    int64_t P = 1, T = vc_numel(&x->val), R = 1, shape[VC_MAX_DIMS] = {1};
    int nd = 1;
    if (!all) {
        vc_status s = vc_axis(name, axis, x->val.ndim, &a);
        if (s) return vc_tape_fail(t, s);
        prt(&x->val, a, &P, &T, &R);
        nd = drop_axis(&x->val, a, shape);
    }
    vc_var *out = vc_op_out(t, nd, shape, 1, &x);
    if (!out) return NULL;
    vc_real scale = mean ? (T ? (vc_real)1 / (vc_real)T : 0) : 1;
    vc_var_backend(x)->sum_fwd(vc_f32(&x->val), vc_f32(&out->val), P, T, R, scale);
    sum_ctx *c;
    if (vc_record(t, name, sum_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    *c = (sum_ctx){P, T, R, scale};
    return out;
}

vc_var *vc_sum(vc_tape *t, vc_var *x, int axis) { return sum_impl(t, "sum", x, axis, false, false); }
vc_var *vc_mean(vc_tape *t, vc_var *x, int axis) { return sum_impl(t, "mean", x, axis, false, true); }
vc_var *vc_sum_all(vc_tape *t, vc_var *x) { return sum_impl(t, "sum_all", x, 0, true, false); }

typedef struct {
    int64_t P, T, R;
    vc_real *w, *div;   /* [P, T] weights, [P] divisors, in the arena */
} masked_ctx;

static vc_status masked_backward(vc_tape *t, const vc_node *n) {
    const masked_ctx *c = n->ctx;
    vc_real beta;
    vc_real *gx = vc_grad_for(t, n->in[0], &beta);
    if (gx) vc_var_backend(n->out)->wsum_bwd(vc_f32(&n->out->grad), c->w, c->div, gx, beta, c->P, c->T, c->R);
    return t->status;
}

/* Turns a 0/1 (or weight) mask [P..., T] or integer lengths [P...] into
 * weights w [P, T] and divisors (the weight sums for a mean, 1 for a sum). */
static vc_status mask_weights(const char *op, const vc_tensor *x, int a, const vc_tensor *m, bool mean,
                              vc_real *w, vc_real *div) {
    int64_t P, T, R;
    prt(x, a, &P, &T, &R);
    char s1[96], s2[96];
    bool lengths = m->dtype == VC_I32 || m->dtype == VC_I64;
    int want = lengths ? a : a + 1;
    bool ok = m->device == VC_CPU && vc_is_contiguous(m) && m->ndim == want &&
              (lengths || m->dtype == VC_F32);
    for (int d = 0; ok && d < want; d++) ok = m->ne[d] == x->ne[d];
    if (!ok)
        return vc_fail(VC_ERR_SHAPE,
                       "op %s: x is %s reduced over axis %d; mask is %s %s (need float [dims up to the axis] or "
                       "integer lengths [dims before it])",
                       op, vc_shape_str(x, s1, sizeof s1), a, vc_dtype_name(m->dtype), vc_shape_str(m, s2, sizeof s2));
    for (int64_t p = 0; p < P; p++) {
        vc_real sum = 0;
        if (lengths) {
            int64_t len = vc_int_at(m, p);
            if (len < 0 || len > T)
                return vc_fail(VC_ERR_ARG, "op %s: length %lld at row %lld is outside [0, %lld]", op, (long long)len,
                               (long long)p, (long long)T);
            for (int64_t j = 0; j < T; j++) w[p * T + j] = j < len ? 1 : 0;
            sum = (vc_real)len;
        } else {
            const vc_real *mr = (const vc_real *)m->data + p * T;
            for (int64_t j = 0; j < T; j++) {
                if (!(mr[j] >= 0) || mr[j] != mr[j])
                    return vc_fail(VC_ERR_ARG, "op %s: mask value %g at row %lld, position %lld is not a weight >= 0",
                                   op, (double)mr[j], (long long)p, (long long)j);
                w[p * T + j] = mr[j];
                sum += mr[j];
            }
        }
        div[p] = mean ? sum : (sum > 0 ? 1 : 0);
    }
    return VC_OK;
}

static vc_var *masked_impl(vc_tape *t, const char *name, vc_var *x, int axis, const vc_tensor *mask, bool mean) {
    if (vc_tape_bad(t, 1, &x)) return NULL;
    if (!mask || !mask->data) {
        vc_fail(VC_ERR_ARG, "op %s: mask is missing", name);
        return vc_tape_fail(t, VC_ERR_ARG);
    }
    int a;
    vc_status s = vc_axis(name, axis, x->val.ndim, &a);
    if (s) return vc_tape_fail(t, s);
    int64_t P, T, R, shape[VC_MAX_DIMS];
    prt(&x->val, a, &P, &T, &R);
    int nd = drop_axis(&x->val, a, shape);
    /* weights are made on the host and copied to the device in one go */
    size_t wb = (size_t)(P * T + 1) * sizeof(vc_real), db = (size_t)(P + 1) * sizeof(vc_real);
    vc_real *hw = vc_tape_host(t, wb + db);
    if (!hw) return NULL;
    if ((s = mask_weights(name, &x->val, a, mask, mean, hw, hw + P * T + 1))) return vc_tape_fail(t, s);
    vc_real *w = vc_tape_upload(t, hw, wb + db);
    if (!w) return NULL;
    vc_real *div = w + P * T + 1;
    vc_var *out = vc_op_out(t, nd, shape, 1, &x);
    if (!out) return NULL;
    vc_var_backend(x)->wsum_fwd(vc_f32(&x->val), w, div, vc_f32(&out->val), P, T, R);
    masked_ctx *c;
    if (vc_record(t, name, masked_backward, out, 1, &x, sizeof *c, (void **)&c)) return NULL;
    *c = (masked_ctx){P, T, R, w, div};
    return out;
}

vc_var *vc_masked_sum(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask) {
    return masked_impl(t, "masked_sum", x, axis, mask, false);
}

vc_var *vc_masked_mean(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask) {
    return masked_impl(t, "masked_mean", x, axis, mask, true);
}
