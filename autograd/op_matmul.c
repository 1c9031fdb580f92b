/* Matrix products: vc_matmul (batched, all transpose cases) and vc_linear. */
#include <string.h>

#include "op_gemm.h"
#include "ops.h"

typedef struct {
    bool ta, tb;
    int64_t batch, M, N, K;
    bool shared_b;   /* b is 2-D and used by every batch entry */
    int precision;   /* the tape's precision at the forward: the backward's too */
} matmul_ctx;

/* Gradients of C = op(A) op(B) (C is M x N, op(A) M x K, op(B) K x N):
 *   dA = dC op(B)^T        (ta: dA = op(B) dC^T)
 *   dB = op(A)^T dC        (tb: dB = dC^T op(A)) */
static vc_status matmul_backward(vc_tape *t, const vc_node *n) {
    const matmul_ctx *c = n->ctx;
    vc_var *a = n->in[0], *b = n->in[1];
    const vc_real *A = vc_f32(&a->val), *B = vc_f32(&b->val), *G = vc_f32(&n->out->grad);
    int64_t M = c->M, N = c->N, K = c->K;
    int64_t lda = c->ta ? M : K, ldb = c->tb ? K : N;
    int64_t sa = M * K, sb = c->shared_b ? 0 : K * N, sg = M * N;
    const vc_backend *be = vc_var_backend(a);
    int keep = t->precision;
    t->precision = c->precision;
    vc_real beta;
    bool r = vc_op_round(t, be, G, c->batch * M * N); /* G feeds both gradients */
    vc_real *gA = vc_grad_for(t, a, &beta);
    if (gA) {
        if (!c->ta)
            vc_op_gemm_batched(t, be, a, b, c->batch, false, !c->tb, M, K, N, 1, G, N, sg, B, ldb, sb, beta, gA, K, sa);
        else
            vc_op_gemm_batched(t, be, a, b, c->batch, c->tb, true, K, M, N, 1, B, ldb, sb, G, N, sg, beta, gA, M, sa);
    }
    vc_real *gB = vc_grad_for(t, b, &beta);
    if (gB) {
        if (c->shared_b && !c->ta && !c->tb) {
            /* one product over all batch rows: dB = A_flat^T dC_flat */
            vc_op_gemm(t, be, a, b, true, false, K, N, M * c->batch, 1, A, K, G, N, beta, gB, N);
        } else if (c->shared_b && !c->ta && c->tb) {
            vc_op_gemm(t, be, a, b, true, false, N, K, M * c->batch, 1, G, N, A, K, beta, gB, K);
        } else if (!c->shared_b) {
            /* one product per batch entry, each into its own dB_i */
            if (!c->tb)
                vc_op_gemm_batched(t, be, a, b, c->batch, !c->ta, false, K, N, M, 1, A, lda, sa, G, N, sg, beta, gB, N, sb);
            else
                vc_op_gemm_batched(t, be, a, b, c->batch, true, c->ta, N, K, M, 1, G, N, sg, A, lda, sa, beta, gB, K, sb);
        } else {
            /* shared B with transposed A: the batch entries add into one dB, in order */
            for (int64_t i = 0; i < c->batch; i++) {
                vc_real bt = i == 0 ? beta : 1;
                if (!c->tb)
                    vc_op_gemm(t, be, a, b, !c->ta, false, K, N, M, 1, A + i * sa, lda, G + i * sg, N, bt, gB, N);
                else
                    vc_op_gemm(t, be, a, b, true, c->ta, N, K, M, 1, G + i * sg, N, A + i * sa, lda, bt, gB, K);
            }
        }
    }
    if (r) vc_op_unround(t, G);
    t->precision = keep;
    return t->status;
}

vc_var *vc_matmul(vc_tape *t, vc_var *a, vc_var *b, bool ta, bool tb) {
    vc_var *in[2] = {a, b};
    if (vc_tape_bad(t, 2, in)) return NULL;
    const vc_tensor *A = &a->val, *B = &b->val;
    char s1[96], s2[96];
    if (A->ndim < 2 || B->ndim < 2 || (B->ndim != 2 && B->ndim != A->ndim)) {
        vc_fail(VC_ERR_SHAPE, "op matmul: a is %s, b is %s (need a [...,M,K] and b [K,N] or [...,K,N])",
                vc_shape_str(A, s1, sizeof s1), vc_shape_str(B, s2, sizeof s2));
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int na = A->ndim, nb = B->ndim;
    int64_t M = ta ? A->ne[na - 1] : A->ne[na - 2], K = ta ? A->ne[na - 2] : A->ne[na - 1];
    int64_t Kb = tb ? B->ne[nb - 1] : B->ne[nb - 2], N = tb ? B->ne[nb - 2] : B->ne[nb - 1];
    bool shared = nb == 2 && na > 2;
    int64_t batch = 1;
    for (int d = 0; d < na - 2; d++) {
        if (!shared && A->ne[d] != B->ne[d]) Kb = -1;
        batch *= A->ne[d];
    }
    if (K != Kb) {
        vc_fail(VC_ERR_SHAPE, "op matmul%s%s: a is %s, b is %s: inner or batch dimensions differ", ta ? " (a^T)" : "",
                tb ? " (b^T)" : "", vc_shape_str(A, s1, sizeof s1), vc_shape_str(B, s2, sizeof s2));
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int64_t shape[VC_MAX_DIMS];
    memcpy(shape, A->ne, sizeof shape);
    shape[na - 2] = M;
    shape[na - 1] = N;
    vc_var *out = vc_op_out(t, na, shape, 2, in);
    if (!out) return NULL;
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    const vc_backend *be = vc_var_backend(a);
    if (shared && !ta)
        vc_op_gemm(t, be, a, b, false, tb, batch * M, N, K, 1, vc_f32(A), lda, vc_f32(B), ldb, 0, vc_f32(&out->val), N);
    else
        vc_op_gemm_batched(t, be, a, b, batch, ta, tb, M, N, K, 1, vc_f32(A), lda, M * K, vc_f32(B), ldb, shared ? 0 : K * N, 0,
                         vc_f32(&out->val), N, M * N);
    matmul_ctx *c;
    if (vc_record(t, "matmul", matmul_backward, out, 2, in, sizeof *c, (void **)&c)) return NULL;
    if (c) *c = (matmul_ctx){ta, tb, batch, M, N, K, shared, t->precision};
    return out;
}

/* y [R, OUT] = x [R, IN] w^T + bias */
static vc_status linear_backward(vc_tape *t, const vc_node *n) {
    vc_var *x = n->in[0], *w = n->in[1], *bias = n->n_in > 2 ? n->in[2] : NULL;
    int64_t IN = w->val.ne[1], OUT = w->val.ne[0], R = vc_numel(&x->val) / (IN ? IN : 1);
    const vc_real *G = vc_f32(&n->out->grad);
    const vc_backend *be = vc_var_backend(x);
    /* G feeds both gradients; in bf16 the bias gradient is summed in the
     * pass that rounds it, where the backend can */
    vc_real beta, bb = 0, *gb = bias ? vc_grad_for(t, bias, &bb) : NULL;
    bool bias_done = vc_op_round_bias(t, be, G, R, OUT, gb, bb);
    bool r = bias_done || vc_op_round(t, be, G, R * OUT);
    vc_real *gx = vc_grad_for(t, x, &beta);
    if (gx) vc_op_gemm(t, be, x, w, false, false, R, IN, OUT, 1, G, OUT, vc_f32(&w->val), IN, beta, gx, IN);     /* dx = dy w */
    vc_real *gw = vc_grad_for(t, w, &beta);
    if (gw) vc_op_gemm(t, be, x, w, true, false, OUT, IN, R, 1, G, OUT, vc_f32(&x->val), IN, beta, gw, IN);      /* dw = dy^T x */
    if (gb && !bias_done) be->bias_bwd(G, gb, bb, R, OUT); /* db = sum dy */
    if (r) vc_op_unround(t, G);
    return t->status;
}

vc_var *vc_linear(vc_tape *t, vc_var *x, vc_var *w, vc_var *bias) {
    vc_var *in[3] = {x, w, bias};
    int n_in = bias ? 3 : 2;
    if (vc_tape_bad(t, n_in, in)) return NULL;
    const vc_tensor *X = &x->val, *W = &w->val;
    char s1[96], s2[96], s3[96];
    if (X->ndim < 1 || W->ndim != 2 || X->ne[X->ndim - 1] != W->ne[1] ||
        (bias && (bias->val.ndim != 1 || bias->val.ne[0] != W->ne[0]))) {
        vc_fail(VC_ERR_SHAPE, "op linear: x is %s, w is %s, bias is %s (need x [...,IN], w [OUT,IN], bias [OUT])",
                vc_shape_str(X, s1, sizeof s1), vc_shape_str(W, s2, sizeof s2),
                bias ? vc_shape_str(&bias->val, s3, sizeof s3) : "none");
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int64_t IN = W->ne[1], OUT = W->ne[0], R = vc_numel(X) / (IN ? IN : 1);
    int64_t shape[VC_MAX_DIMS];
    memcpy(shape, X->ne, sizeof shape);
    shape[X->ndim - 1] = OUT;
    vc_var *out = vc_op_out(t, X->ndim, shape, n_in, in);
    if (!out) return NULL;
    vc_real *Y = vc_f32(&out->val);
    const vc_backend *be = vc_var_backend(x);
    /* y = bias, then the product accumulates onto it */
    if (bias) be->bias_fwd(Y, vc_f32(&bias->val), NULL, R, OUT);
    vc_op_gemm(t, be, x, w, false, true, R, OUT, IN, 1, vc_f32(X), IN, vc_f32(W), IN, bias ? 1 : 0, Y, OUT);
    if (vc_record(t, "linear", linear_backward, out, n_in, in, 0, NULL)) return NULL;
    return out;
}
