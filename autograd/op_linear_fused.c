/* Linear with a recomputed input transform and an optional residual:
 *   y = T(x) W^T + b + r,  T = identity, LayerNorm or GELU/QuickGELU.
 * T(x) lives only in scratch memory during the forward and is recomputed in
 * the backward, and the residual add writes straight into y, so a pre-LN
 * transformer block saves its residual stream, qkv, the attention
 * probabilities and the MLP pre-activation, nothing else. */
#include <string.h>

#include "op_gemm.h"
#include "ops.h"

enum { IN_X, IN_W, IN_B, IN_GAMMA, IN_BETA, IN_RES, N_IN };

typedef struct {
    vc_pre pre;
    vc_real eps;
    int64_t R, IN, OUT;
    vc_real *mean, *rstd; /* LayerNorm statistics [R] */
} fused_ctx;

static vc_unop pre_unop(vc_pre p) { return p == VC_PRE_GELU ? VC_UN_GELU : VC_UN_QUICKGELU; }

/* u = T(x) for rows r0 .. r0+nr of x [R, IN] (LayerNorm statistics into c). */
static void transform(const vc_backend *be, const fused_ctx *c, vc_var *const *in, int64_t r0, int64_t nr,
                      vc_real *u) {
    const vc_real *x = vc_f32(&in[IN_X]->val) + r0 * c->IN;
    if (c->pre == VC_PRE_LAYERNORM)
        be->layernorm_fwd(x, in[IN_GAMMA] ? vc_f32(&in[IN_GAMMA]->val) : NULL,
                          in[IN_BETA] ? vc_f32(&in[IN_BETA]->val) : NULL, u, c->mean + r0, c->rstd + r0, nr, c->IN,
                          c->eps);
    else
        be->unary_fwd(pre_unop(c->pre), x, u, nr * c->IN);
}

/* In bf16 the product reads T(x) rounded to bf16: where the backend has
 * the kernels that write it so (layernorm_fwd_bf16, unary_fwd_bf16), T(x)
 * goes straight to bf16, half the scratch and no separate rounding pass;
 * elsewhere (a backend with NULL entries) T(x) is float32 and the
 * product rounds it. Either way the product sees the same bf16 values. */
static bool bf16_transform(const vc_tape *t, const vc_backend *be, vc_pre pre) {
#ifndef VC_DOUBLE
    if (t->precision != VC_PREC_BF16 || pre == VC_PRE_NONE) return false;
    return pre == VC_PRE_LAYERNORM ? be->layernorm_fwd_bf16 != NULL : be->unary_fwd_bf16 != NULL;
#else
    (void)t, (void)be, (void)pre;
    return false;
#endif
}

/* u = T(x) in bf16 for rows r0 .. r0+nr (only where bf16_transform); ut:
 * u stored transposed, [IN, nr] (LayerNorm only). */
static void transform16(const vc_backend *be, const fused_ctx *c, vc_var *const *in, int64_t r0, int64_t nr,
                        uint16_t *u, bool ut) {
#ifndef VC_DOUBLE
    const float *x = vc_f32(&in[IN_X]->val) + r0 * c->IN;
    if (c->pre == VC_PRE_LAYERNORM)
        be->layernorm_fwd_bf16(x, in[IN_GAMMA] ? vc_f32(&in[IN_GAMMA]->val) : NULL,
                               in[IN_BETA] ? vc_f32(&in[IN_BETA]->val) : NULL, u, c->mean + r0, c->rstd + r0, nr,
                               c->IN, c->eps, ut);
    else
        be->unary_fwd_bf16(pre_unop(c->pre), x, u, nr * c->IN);
#else
    (void)be, (void)c, (void)in, (void)r0, (void)nr, (void)u, (void)ut;
#endif
}

static bool wgrad_transposed_on = true;
static long wgrad_transposed_runs;
void vc_op_set_wgrad_transposed(bool on) { wgrad_transposed_on = on; }
long vc_op_wgrad_transposed_runs(void) { return __atomic_load_n(&wgrad_transposed_runs, __ATOMIC_RELAXED); }

/* The backward recomputes T(x) this many floats at a time for the weight
 * gradient (accumulated block by block), so the recomputation needs a small
 * buffer instead of one as large as x: x is the MLP's 4x-wide hidden layer. */
#ifndef VC_RECOMPUTE_FLOATS /* the double-precision test build sets a tiny one */
#define VC_RECOMPUTE_FLOATS ((int64_t)1 << 20)
#endif

static vc_status donate_grad(vc_tape *t, const vc_node *n, bool donate) {
    if (!donate || t->status) return t->status;
    vc_var *res = n->in_many[IN_RES], *out = n->out;
    res->grad = out->grad;
    res->grad_written = true;
    out->grad.data = NULL; /* now the residual's: the tape must not recycle it */
    out->grad_written = false;
    return VC_OK;
}

/* Whether the backward of a product fed by T(x) can take the one-pass path
 * below: bf16 with the activation kernels, GELU or QuickGELU. */
static bool activation_fusable(const vc_tape *t, const vc_backend *be, vc_pre pre) {
    return (pre == VC_PRE_GELU || pre == VC_PRE_QUICKGELU) && bf16_transform(t, be, pre) && be->unary_fwd_bwd_bf16;
}

#ifndef VC_DOUBLE
static vc_status fused_backward(vc_tape *t, const vc_node *n);

/* Whether n can hand the gradient of its input x, rounded to bf16 and with
 * its column sums, to the node that made x: that node is a linear_fused with
 * a bias (its backward rounds its output gradient for its two products and
 * sums it for the bias: the pass this saves), and n is x's only reader, so
 * nothing adds into x's gradient between the two nodes. */
static bool carry_to_producer(const vc_tape *t, const vc_node *n) {
    const vc_var *x = n->in_many[IN_X];
    const vc_node *p = NULL, *end = t->nodes + t->n_nodes;
    for (const vc_node *q = n - 1; q >= t->nodes && !p; q--)
        if (q->out == x) p = q;
    if (!p || p->backward != fused_backward || !p->in_many[IN_B]) return false;
    for (const vc_node *q = p + 1; q < end; q++) {
        vc_var *const *in = vc_node_inputs(q);
        for (int i = 0; i < q->n_in && q != n; i++)
            if (in[i] == x) return false;
    }
    return true;
}
#endif

/* The bf16 backward of an activation-fed product, block by block of rows:
 * du = G W into the fresh input gradient gx, then one pass (the backend's
 * unary_fwd_bwd_bf16) recomputes u = T(x) in bf16 for the weight gradient
 * and scales du by T'(x) in place, while the block is in cache; then
 * dW += G^T u. The separate path reads x twice and evaluates T twice. Where
 * carry_to_producer, the same pass also rounds the scaled gradient to bf16
 * and sums its columns for the node before (vc_op_round_carry). False
 * (nothing done) where it does not apply. */
static bool fused_activation_backward(vc_tape *t, const vc_node *n, const vc_backend *be, const vc_real *G,
                                      vc_real *gw, vc_real beta, vc_real *gx) {
#ifndef VC_DOUBLE
    const fused_ctx *c = n->ctx;
    vc_var *const *in = n->in_many;
    int64_t R = c->R, IN = c->IN, OUT = c->OUT;
    int64_t rows = VC_RECOMPUTE_FLOATS / (IN ? IN : 1);
    rows = rows < 1 ? 1 : rows > R ? R : rows;
    size_t ubytes = (size_t)(rows * IN) * sizeof(uint16_t);
    vc_status keep = t->status;
    uint16_t *u = vc_tape_take(t, ubytes);
    if (!u) {
        t->status = keep; /* the separate path needs less */
        return false;
    }
    size_t gbytes = (size_t)(R * IN) * sizeof(uint16_t), sbytes = (size_t)IN * sizeof(vc_real);
    uint16_t *g16 = NULL;
    vc_real *sums = NULL;
    if (carry_to_producer(t, n)) {
        g16 = vc_tape_take(t, gbytes);
        sums = g16 ? vc_tape_take(t, sbytes) : NULL;
        if (!sums) { /* not an error: the node before rounds and sums on its own */
            vc_tape_give(t, g16, gbytes);
            g16 = NULL;
            t->status = keep;
        } else {
            be->mem_set(sums, 0, sbytes);
        }
    }
    const float *X = vc_f32(&in[IN_X]->val), *W = vc_f32(&in[IN_W]->val);
    for (int64_t r0 = 0; r0 < R; r0 += rows) {
        int64_t nr = R - r0 < rows ? R - r0 : rows;
        vc_op_gemm(t, be, in[IN_W], NULL, false, false, nr, IN, OUT, 1, G + r0 * OUT, OUT, W, IN, 0, gx + r0 * IN, IN);
        be->unary_fwd_bwd_bf16(pre_unop(c->pre), X + r0 * IN, u, gx + r0 * IN, g16 ? g16 + r0 * IN : NULL, sums, nr,
                               IN);
        vc_op_gemm16(t, be, in[IN_W], NULL, VC_GEMM_B_BF16, true, false, OUT, IN, nr, 1, G + r0 * OUT, OUT, u, IN,
                     r0 ? 1 : beta, gw, IN);
    }
    vc_tape_give(t, u, ubytes);
    if (sums && !vc_op_round_carry(t, gx, R, IN, g16, sums)) {
        vc_tape_give(t, g16, gbytes);
        vc_tape_give(t, sums, sbytes);
    }
    return true;
#else
    (void)t, (void)n, (void)be, (void)G, (void)gw, (void)beta, (void)gx;
    return false;
#endif
}

/* The bias gradient: asked for already (vc_grad_for marks it written) by
 * fused_backward, and maybe summed already in its rounding pass. */
typedef struct {
    bool asked, done;
    vc_real *g, beta;
} bias_grad;

static vc_status fused_backward_products(vc_tape *t, const vc_node *n, bias_grad bgr) {
    const fused_ctx *c = n->ctx;
    vc_var *const *in = n->in_many;
    int64_t R = c->R, IN = c->IN, OUT = c->OUT;
    const vc_real *G = vc_f32(&n->out->grad), *W = vc_f32(&in[IN_W]->val), *X = vc_f32(&in[IN_X]->val);
    const vc_backend *be = vc_var_backend(in[IN_X]);
    vc_real beta, *g;
    vc_var *res = in[IN_RES];
    /* The residual's gradient is the output's gradient. When the residual has
     * none yet, the output's buffer (dead after this node) is handed over
     * instead of copied, once everything else here has read it. */
    bool donate = res && res->requires_grad && !res->grad.data && !res->is_param && res != in[IN_X] &&
                  !n->out->grad_borrowed && !t->keep_grads;
    if (res && !donate && (g = vc_grad_for(t, res, &beta))) be->axpby(G, 1, g, beta, R * OUT);
    if (in[IN_B] && !bgr.asked) bgr.g = vc_grad_for(t, in[IN_B], &bgr.beta);
    if (bgr.g && !bgr.done) be->bias_bwd(G, bgr.g, bgr.beta, R, OUT);
    vc_real bx = 0, *gx = NULL;
    bool have_gx = false; /* asked for already (vc_grad_for marks it written) */
    g = vc_grad_for(t, in[IN_W], &beta);
    if (g && activation_fusable(t, be, c->pre) && in[IN_X]->requires_grad && !in[IN_X]->grad.data) {
        gx = vc_grad_for(t, in[IN_X], &bx); /* fresh: bx is 0 */
        have_gx = true;
        if (gx && fused_activation_backward(t, n, be, G, g, beta, gx)) return donate_grad(t, n, donate);
    }
    if (g) {
        if (c->pre == VC_PRE_NONE) {
            vc_op_gemm(t, be, in[IN_W], NULL, true, false, OUT, IN, R, 1, G, OUT, X, IN, beta, g, IN);
        } else {
            /* the same rows per block in bf16 (half the bytes): more rows
             * would make the product's own copies of its operands (oneDNN
             * packs the transposed G and u) grow with them */
            bool b16 = bf16_transform(t, be, c->pre);
            size_t esz = b16 ? sizeof(uint16_t) : sizeof(vc_real);
            int64_t rows = VC_RECOMPUTE_FLOATS / (IN ? IN : 1);
            rows = rows < 1 ? 1 : rows > R ? R : rows;
            size_t ubytes = (size_t)(rows * IN) * esz;
            void *u = vc_tape_take(t, ubytes);
            if (!u) return t->status;
            /* where the backend asks for it (wgrad_transposed): dW^T = u^T G
             * into wt [IN, OUT], u recomputed transposed, then wt
             * transposed into g */
            size_t wbytes = (size_t)(IN * OUT) * sizeof(vc_real);
            vc_real *wt = NULL;
            if (b16 && c->pre == VC_PRE_LAYERNORM && be->wgrad_transposed && wgrad_transposed_on) {
                vc_status keep = t->status;
                if (!(wt = vc_tape_take(t, wbytes))) t->status = keep; /* not an error: g is written as dW */
            }
            for (int64_t r0 = 0; r0 < R; r0 += rows) {
                int64_t nr = R - r0 < rows ? R - r0 : rows;
                if (wt) {
                    transform16(be, c, in, r0, nr, u, true);
                    vc_op_gemm16(t, be, in[IN_W], NULL, VC_GEMM_A_BF16, false, false, IN, OUT, nr, 1, u, nr,
                                 G + r0 * OUT, OUT, r0 ? 1 : 0, wt, OUT);
                } else if (b16) {
                    transform16(be, c, in, r0, nr, u, false);
                    vc_op_gemm16(t, be, in[IN_W], NULL, VC_GEMM_B_BF16, true, false, OUT, IN, nr, 1, G + r0 * OUT,
                                 OUT, u, IN, r0 ? 1 : beta, g, IN);
                } else {
                    transform(be, c, in, r0, nr, u);
                    vc_op_gemm(t, be, in[IN_W], NULL, true, false, OUT, IN, nr, 1, G + r0 * OUT, OUT, u, IN,
                               r0 ? 1 : beta, g, IN);
                }
            }
            vc_tape_give(t, u, ubytes);
            if (wt) {
                __atomic_add_fetch(&wgrad_transposed_runs, 1, __ATOMIC_RELAXED);
                /* g[o][i] (beta)+= wt[i][o] */
                be->strided_copy(g, (const int64_t[]){1, IN}, wt, (const int64_t[]){OUT, 1}, 2,
                                 (const int64_t[]){IN, OUT}, beta);
                vc_tape_give(t, wt, wbytes);
            }
        }
    }
    if (!have_gx) gx = vc_grad_for(t, in[IN_X], &bx);
    if (c->pre == VC_PRE_NONE) {
        if (gx) vc_op_gemm(t, be, in[IN_W], NULL, false, false, R, IN, OUT, 1, G, OUT, W, IN, bx, gx, IN);
        return donate_grad(t, n, donate);
    }
    size_t ubytes = (size_t)(R * IN) * sizeof(vc_real);
    if (c->pre != VC_PRE_LAYERNORM && gx && bx == 0) {
        /* fresh input gradient: write d/dT(x) straight into it and scale in
         * place, saving an [R, IN] scratch buffer */
        vc_op_gemm(t, be, in[IN_W], NULL, false, false, R, IN, OUT, 1, G, OUT, W, IN, 0, gx, IN);
        be->unary_bwd_inplace(pre_unop(c->pre), X, gx, R * IN);
        return donate_grad(t, n, donate);
    }
    vc_real bg = 0, bb = 0;
    vc_real *gg = in[IN_GAMMA] ? vc_grad_for(t, in[IN_GAMMA], &bg) : NULL;
    vc_real *gb = in[IN_BETA] ? vc_grad_for(t, in[IN_BETA], &bb) : NULL;
    if (gx || gg || gb) {
        vc_real *du = vc_tape_take(t, ubytes); /* d loss / d T(x) */
        if (!du) return t->status;
        vc_op_gemm(t, be, in[IN_W], NULL, false, false, R, IN, OUT, 1, G, OUT, W, IN, 0, du, IN);
        if (c->pre == VC_PRE_LAYERNORM)
            be->layernorm_bwd(X, in[IN_GAMMA] ? vc_f32(&in[IN_GAMMA]->val) : NULL, c->mean, c->rstd, du, gx, bx, gg,
                              bg, gb, bb, R, IN);
        else if (gx)
            be->unary_bwd(pre_unop(c->pre), X, NULL, du, gx, bx, R * IN); /* GELU needs x only */
        vc_tape_give(t, du, ubytes);
    }
    return donate_grad(t, n, donate);
}

/* The output gradient feeds both products (weight and input gradients): in
 * bf16 it is rounded once for both. */
static vc_status fused_backward(vc_tape *t, const vc_node *n) {
    const fused_ctx *c = n->ctx;
    vc_var *bias = n->in_many[IN_B];
    const vc_real *G = vc_f32(&n->out->grad);
    const vc_backend *be = vc_var_backend(n->in_many[IN_X]);
    /* in bf16 the bias gradient is summed in the pass that rounds G, where
     * the backend has that kernel */
    bias_grad bg = {false, false, NULL, 0};
    bool r = false;
    if (bias && t->precision == VC_PREC_BF16 && be->bias_bwd_round_bf16) {
        bg.asked = true;
        bg.g = vc_grad_for(t, bias, &bg.beta);
        r = bg.done = vc_op_round_bias(t, be, G, c->R, c->OUT, bg.g, bg.beta);
    }
    if (!r) r = vc_op_round(t, be, G, c->R * c->OUT);
    vc_status s = fused_backward_products(t, n, bg);
    if (r) vc_op_unround(t, G);
    return s;
}

vc_var *vc_linear_fused(vc_tape *t, vc_var *x, vc_pre pre, vc_var *gamma, vc_var *beta, vc_var *w, vc_var *bias,
                        vc_var *residual) {
    vc_var *in[N_IN] = {x, w, bias, gamma, beta, residual};
    vc_var *present[N_IN];
    int np = 0;
    for (int i = 0; i < N_IN; i++)
        if (in[i]) present[np++] = in[i];
    if (vc_tape_bad(t, 2, in) || vc_tape_bad(t, np, present)) return NULL;
    const vc_tensor *X = &x->val, *Wt = &w->val;
    char s1[96], s2[96];
    int64_t IN = Wt->ndim == 2 ? Wt->ne[1] : -1, OUT = Wt->ndim == 2 ? Wt->ne[0] : -1;
    bool ok = X->ndim >= 1 && X->ne[X->ndim - 1] == IN && (!bias || (bias->val.ndim == 1 && bias->val.ne[0] == OUT));
    for (int i = IN_GAMMA; ok && i <= IN_BETA; i++)
        ok = !in[i] || (pre == VC_PRE_LAYERNORM && in[i]->val.ndim == 1 && in[i]->val.ne[0] == IN);
    if (!ok) {
        vc_fail(VC_ERR_SHAPE, "op linear_fused: x is %s, w is %s (need x [...,IN], w [OUT,IN], bias [OUT], LayerNorm "
                              "parameters [IN] only with the LayerNorm transform)",
                vc_shape_str(X, s1, sizeof s1), vc_shape_str(Wt, s2, sizeof s2));
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int64_t R = vc_numel(X) / (IN ? IN : 1);
    int64_t shape[VC_MAX_DIMS];
    memcpy(shape, X->ne, sizeof shape);
    shape[X->ndim - 1] = OUT;
    if (residual) {
        vc_tensor want;
        vc_tensor_wrap(&want, NULL, VC_F32, X->ndim, shape);
        if (!vc_same_shape(&residual->val, &want)) {
            vc_fail(VC_ERR_SHAPE, "op linear_fused: residual is %s but the output is %s",
                    vc_shape_str(&residual->val, s1, sizeof s1), vc_shape_str(&want, s2, sizeof s2));
            return vc_tape_fail(t, VC_ERR_SHAPE);
        }
    }
    vc_var *out = vc_op_out(t, X->ndim, shape, np, present);
    if (!out) return NULL;
    fused_ctx c = {pre, (vc_real)1e-5, R, IN, OUT, NULL, NULL};
    if (pre == VC_PRE_LAYERNORM) {
        c.mean = vc_arena_alloc(&t->arena, (size_t)(R + 1) * sizeof(vc_real));
        c.rstd = vc_arena_alloc(&t->arena, (size_t)(R + 1) * sizeof(vc_real));
        if (!c.mean || !c.rstd) return vc_tape_fail(t, VC_ERR_OOM);
    }
    vc_real *Y = vc_f32(&out->val);
    const vc_real *B = bias ? vc_f32(&bias->val) : NULL, *Rs = residual ? vc_f32(&residual->val) : NULL;
    const vc_backend *be = vc_var_backend(x);
    bool b16 = bf16_transform(t, be, pre);
    /* y = bias + residual, then the product accumulates onto it; in bf16
     * the product adds them itself (where the backend can: no pass writing y
     * first, and no read of y) */
    bool bias_inside = b16 && (B || Rs) && be->gemm_bias_bf16;
    if ((B || Rs) && !bias_inside) be->bias_fwd(Y, B, Rs, R, OUT);
    size_t ubytes = (size_t)(R * IN) * (b16 ? sizeof(uint16_t) : sizeof(vc_real));
    void *u = vc_f32(X);
    if (pre != VC_PRE_NONE && !(u = vc_tape_take(t, ubytes))) return vc_tape_fail(t, VC_ERR_OOM);
    if (bias_inside) {
        transform16(be, &c, in, 0, R, u, false);
        vc_op_gemm16_bias(t, be, in[IN_W], NULL, VC_GEMM_A_BF16, false, true, R, OUT, IN, u, IN, vc_f32(Wt), IN, B, Rs,
                          Y, OUT);
    } else if (b16) {
        transform16(be, &c, in, 0, R, u, false);
        vc_op_gemm16(t, be, in[IN_W], NULL, VC_GEMM_A_BF16, false, true, R, OUT, IN, 1, u, IN, vc_f32(Wt), IN,
                     (B || Rs) ? 1 : 0, Y, OUT);
    } else {
        if (pre != VC_PRE_NONE) transform(be, &c, in, 0, R, u);
        vc_op_gemm(t, be, in[IN_W], NULL, false, true, R, OUT, IN, 1, u, IN, vc_f32(Wt), IN, (B || Rs) ? 1 : 0, Y, OUT);
    }
    if (pre != VC_PRE_NONE) vc_tape_give(t, u, ubytes);
    fused_ctx *cp;
    /* all six slots are recorded (absent ones NULL) so the backward can tell them apart */
    if (vc_record(t, "linear_fused", fused_backward, out, N_IN, in, sizeof *cp, (void **)&cp)) return NULL;
    *cp = c;
    return out;
}
