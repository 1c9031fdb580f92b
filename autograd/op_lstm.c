/* Fused one-layer LSTM over a padded batch (the backend's lstm kernels). */
#include "op_gemm.h"
#include "ops.h"

typedef struct {
    vc_lstm_dims d;
    vc_real *gates, *c;
} lstm_ctx;

static vc_status lstm_backward(vc_tape *t, const vc_node *n) {
    const lstm_ctx *c = n->ctx;
    vc_var *x = n->in[0], *w_ih = n->in[1], *w_hh = n->in[2], *b_ih = n->in[3];
    vc_var *b_hh = n->n_in > 4 ? n->in_many[4] : NULL;
    const vc_lstm_dims *d = &c->d;
    int64_t B = d->B, T = d->T, D = d->D, H = d->H, G = 4 * H, R = B * T;
    const vc_backend *be = vc_var_backend(x);
    /* dW_hh = sum_t dA_t^T h_{t-1}: the kernel writes h shifted by one step
     * (hp) when that gradient is wanted */
    bool want_hh = w_hh->requires_grad;
    vc_real *dA = vc_arena_alloc(&t->arena, (size_t)(R * G) * sizeof(vc_real));
    vc_real *hp = want_hh ? vc_arena_alloc(&t->arena, (size_t)(R * H) * sizeof(vc_real)) : NULL;
    size_t scratch_bytes = be->scratch_bytes(VC_K_LSTM_BWD, d);
    void *scratch = vc_arena_alloc(&t->arena, scratch_bytes);
    if (!dA || (want_hh && !hp) || !scratch)
        return t->status = vc_fail(VC_ERR_OOM, "op lstm backward: cannot allocate its work space (%zu bytes) for B=%lld T=%lld H=%lld",
                                   (size_t)(R * G + (want_hh ? R * H : 0)) * sizeof(vc_real) + scratch_bytes,
                                   (long long)B, (long long)T, (long long)H);
    be->lstm_bwd(d, c->gates, c->c, vc_f32(&n->out->val), vc_f32(&w_hh->val), vc_f32(&n->out->grad), dA, hp, scratch);
    vc_real beta;
    vc_real *g;
    if ((g = vc_grad_for(t, x, &beta))) vc_op_gemm(t, be, w_ih, w_hh, false, false, R, D, G, 1, dA, G, vc_f32(&w_ih->val), D, beta, g, D);
    if ((g = vc_grad_for(t, w_ih, &beta))) vc_op_gemm(t, be, w_ih, w_hh, true, false, G, D, R, 1, dA, G, vc_f32(&x->val), D, beta, g, D);
    if ((g = vc_grad_for(t, w_hh, &beta))) vc_op_gemm(t, be, w_ih, w_hh, true, false, G, H, R, 1, dA, G, hp, H, beta, g, H);
    /* both biases get the same gradient: sum dA once */
    vc_real *gi = vc_grad_for(t, b_ih, &beta), bh;
    vc_real *gh = b_hh ? vc_grad_for(t, b_hh, &bh) : NULL;
    if (gi) be->bias_bwd(dA, gi, beta, R, G);
    if (gh && gi && beta == 0) be->axpby(gi, 1, gh, bh, G); /* gi is exactly that sum */
    else if (gh) be->bias_bwd(dA, gh, bh, R, G);
    return t->status;
}

vc_var *vc_lstm(vc_tape *t, vc_var *x, vc_var *w_ih, vc_var *w_hh, vc_var *b_ih, vc_var *b_hh,
                const vc_tensor *lengths) {
    vc_var *in[5] = {x, w_ih, w_hh, b_ih, b_hh};
    if (vc_tape_bad(t, 5, in)) return NULL;
    const vc_tensor *X = &x->val;
    char s1[96], s2[96], s3[96];
    int64_t H = w_hh->val.ndim == 2 ? w_hh->val.ne[1] : -1, G = 4 * H;
    bool ok = X->ndim == 3 && H > 0 && w_hh->val.ne[0] == G && w_ih->val.ndim == 2 && w_ih->val.ne[0] == G &&
              w_ih->val.ne[1] == X->ne[2] && b_ih->val.ndim == 1 && b_ih->val.ne[0] == G && b_hh->val.ndim == 1 &&
              b_hh->val.ne[0] == G;
    if (!ok) {
        vc_fail(VC_ERR_SHAPE, "op lstm: x %s, w_ih %s, w_hh %s (need x [B,T,D], w_ih [4H,D], w_hh [4H,H], biases [4H])",
                vc_shape_str(X, s1, sizeof s1), vc_shape_str(&w_ih->val, s2, sizeof s2),
                vc_shape_str(&w_hh->val, s3, sizeof s3));
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int64_t B = X->ne[0], T = X->ne[1], D = X->ne[2];
    int64_t *len = lengths ? vc_lengths_arg(t, "lstm", lengths, B, T) : NULL;
    if (lengths && !len) return NULL;
    vc_var *out = vc_op_out(t, VC_DIMS(B, T, H), 5, in);
    if (!out) return NULL;
    vc_real *gates = vc_arena_alloc(&t->arena, (size_t)(B * T * G) * sizeof(vc_real));
    vc_real *cst = vc_arena_alloc(&t->arena, (size_t)(B * T * H) * sizeof(vc_real));
    vc_real *bias = vc_arena_alloc(&t->arena, (size_t)G * sizeof(vc_real));
    if (!gates || !cst || !bias) return vc_tape_fail(t, VC_ERR_OOM);
    const vc_backend *be = vc_var_backend(x);
    be->copy_d2d(bias, vc_f32(&b_ih->val), (size_t)G * sizeof(vc_real));
    be->axpby(vc_f32(&b_hh->val), 1, bias, 1, G); /* bias = b_ih + b_hh */
    vc_lstm_dims d = {.B = B, .T = T, .D = D, .H = H, .len = len};
    be->lstm_fwd(&d, vc_f32(X), vc_f32(&w_ih->val), vc_f32(&w_hh->val), bias, gates, cst, vc_f32(&out->val));
    lstm_ctx *c;
    if (vc_record(t, "lstm", lstm_backward, out, 5, in, sizeof *c, (void **)&c)) return NULL;
    *c = (lstm_ctx){d, gates, cst};
    return out;
}
