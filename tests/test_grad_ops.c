/* Every op's backward against central finite differences, in double
 * precision: this file is built against the -DVC_DOUBLE library, so the same
 * kernels run in double and the check resolves errors down to ~1e-8.
 *
 * For an op y = f(x1..xk) the scalar loss is L = sum(y * R) with a fixed
 * random R, so every output element carries a different weight. The analytic
 * gradient from vc_backward is compared with (L(x+h) - L(x-h)) / 2h for every
 * element of every differentiable input. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/ops.h"
#include "harness.h"

#ifndef VC_DOUBLE
#error "test_grad_* files must be built with -DVC_DOUBLE (see the Makefile)"
#endif

#define MAX_IN 8

typedef struct case_s case_s;
typedef vc_var *(*build_fn)(vc_tape *t, vc_var **x, const case_s *c);

struct case_s {
    const char *name;
    int n;                        /* inputs */
    int nd[MAX_IN];
    int64_t shape[MAX_IN][VC_MAX_DIMS];
    bool no_grad[MAX_IN];         /* inputs not differentiated (still random) */
    double lo, hi;                /* input range */
    build_fn f;
    /* op arguments used by build functions */
    int axis, axis2;
    bool ta, tb;
    const vc_tensor *aux;         /* mask / lengths / targets / indices */
    vc_real p;
};

static vc_tensor inputs[MAX_IN];
static vc_tensor weights;  /* R */

static double loss_of(vc_tape *t, const case_s *c, bool grad, vc_var **vars) {
    vc_tape_reset(t);
    t->step = 7;  /* same dropout masks for every evaluation */
    vc_tape_grad(t, grad);
    for (int i = 0; i < c->n; i++) {
        vars[i] = vc_const(t, &inputs[i]);
        ck_assert_ptr_nonnull(vars[i]);
        vars[i]->requires_grad = grad && !c->no_grad[i];
    }
    vc_var *y = c->f(t, vars, c);
    ck_assert_msg(y != NULL, "%s: forward failed: %s", c->name, vc_last_error());
    if (!weights.data) {
        ck_assert_int_eq(vc_tensor_alloc(&weights, VC_F32, y->val.ndim, y->val.ne), VC_OK);
        vc_rng r;
        vc_rng_seed(&r, 99);
        vc_test_fill_uniform(vc_f32(&weights), vc_numel(&weights), &r, -1, 1);
    }
    vc_var *w = vc_const(t, &weights);
    vc_var *l = vc_sum_all(t, vc_mul(t, y, w));
    ck_assert_msg(l != NULL, "%s: loss failed: %s", c->name, vc_last_error());
    if (grad) ck_assert_msg(vc_backward(t, l) == VC_OK, "%s: backward failed: %s", c->name, vc_last_error());
    return vc_f32(&l->val)[0];
}

static void gradcheck(const case_s *c) {
    vc_rng r;
    vc_rng_seed(&r, 1234);
    for (int i = 0; i < c->n; i++) {
        ck_assert_int_eq(vc_tensor_alloc(&inputs[i], VC_F32, c->nd[i], c->shape[i]), VC_OK);
        vc_test_fill_uniform(vc_f32(&inputs[i]), vc_numel(&inputs[i]), &r, c->lo, c->hi);
    }
    weights.data = NULL;
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_var *vars[MAX_IN];
    loss_of(&t, c, true, vars);
    /* copy analytic gradients out before the tape is reused */
    vc_tensor ga[MAX_IN];
    for (int i = 0; i < c->n; i++) {
        if (c->no_grad[i]) continue;
        ck_assert_msg(vars[i]->grad_written, "%s: input %d got no gradient", c->name, i);
        ck_assert_int_eq(vc_tensor_alloc(&ga[i], VC_F32, c->nd[i], c->shape[i]), VC_OK);
        memcpy(ga[i].data, vars[i]->grad.data, vc_nbytes(&ga[i]));
    }
    const double h = 1e-6, rtol = 1e-6, atol = 1e-8;
    double worst = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->no_grad[i]) continue;
        vc_real *x = vc_f32(&inputs[i]);
        for (int64_t k = 0; k < vc_numel(&inputs[i]); k++) {
            vc_real x0 = x[k];
            x[k] = x0 + h;
            double lp = loss_of(&t, c, false, vars);
            x[k] = x0 - h;
            double lm = loss_of(&t, c, false, vars);
            x[k] = x0;
            double fd = (lp - lm) / (2 * h), an = vc_f32(&ga[i])[k];
            double err = fabs(fd - an);
            if (err / (atol + rtol * fabs(fd)) > worst) worst = err / (atol + rtol * fabs(fd));
            ck_assert_msg(err <= atol + rtol * fabs(fd), "%s: d/d input%d[%lld]: analytic %.10g, finite difference %.10g",
                          c->name, i, (long long)k, an, fd);
        }
        vc_tensor_release(&ga[i]);
    }
    for (int i = 0; i < c->n; i++) vc_tensor_release(&inputs[i]);
    vc_tensor_release(&weights);
    vc_tape_free(&t);
}

#define SHAPE(...) {__VA_ARGS__}

/* ---- build functions ---- */
static vc_var *b_matmul(vc_tape *t, vc_var **x, const case_s *c) { return vc_matmul(t, x[0], x[1], c->ta, c->tb); }
static vc_var *b_linear(vc_tape *t, vc_var **x, const case_s *c) { return vc_linear(t, x[0], x[1], c->n > 2 ? x[2] : NULL); }
static vc_var *b_add(vc_tape *t, vc_var **x, const case_s *c) { return vc_add(t, x[0], x[1]); }
static vc_var *b_sub(vc_tape *t, vc_var **x, const case_s *c) { return vc_sub(t, x[0], x[1]); }
static vc_var *b_mul(vc_tape *t, vc_var **x, const case_s *c) { return vc_mul(t, x[0], x[1]); }
static vc_var *b_scale(vc_tape *t, vc_var **x, const case_s *c) { return vc_scale(t, x[0], -2.5); }
static vc_var *b_gelu(vc_tape *t, vc_var **x, const case_s *c) { return vc_gelu(t, x[0]); }
static vc_var *b_quickgelu(vc_tape *t, vc_var **x, const case_s *c) { return vc_quickgelu(t, x[0]); }
static vc_var *b_sigmoid(vc_tape *t, vc_var **x, const case_s *c) { return vc_sigmoid(t, x[0]); }
static vc_var *b_tanh(vc_tape *t, vc_var **x, const case_s *c) { return vc_tanh(t, x[0]); }
static vc_var *b_relu(vc_tape *t, vc_var **x, const case_s *c) { return vc_relu(t, x[0]); }
static vc_var *b_exp(vc_tape *t, vc_var **x, const case_s *c) { return vc_exp(t, x[0]); }
static vc_var *b_sum(vc_tape *t, vc_var **x, const case_s *c) { return vc_sum(t, x[0], c->axis); }
static vc_var *b_mean(vc_tape *t, vc_var **x, const case_s *c) { return vc_mean(t, x[0], c->axis); }
static vc_var *b_sum_all(vc_tape *t, vc_var **x, const case_s *c) { return vc_sum_all(t, x[0]); }
static vc_var *b_msum(vc_tape *t, vc_var **x, const case_s *c) { return vc_masked_sum(t, x[0], c->axis, c->aux); }
static vc_var *b_mmean(vc_tape *t, vc_var **x, const case_s *c) { return vc_masked_mean(t, x[0], c->axis, c->aux); }
static vc_var *b_layernorm(vc_tape *t, vc_var **x, const case_s *c) {
    return vc_layernorm(t, x[0], c->n > 1 ? x[1] : NULL, c->n > 2 ? x[2] : NULL, 1e-5);
}
static vc_var *b_l2norm(vc_tape *t, vc_var **x, const case_s *c) { return vc_l2norm(t, x[0], 1e-12); }
static vc_var *b_softmax(vc_tape *t, vc_var **x, const case_s *c) { return vc_softmax(t, x[0], c->axis, c->aux); }
static vc_var *b_logsoftmax(vc_tape *t, vc_var **x, const case_s *c) { return vc_log_softmax(t, x[0], c->axis, c->aux); }
static vc_var *b_xent(vc_tape *t, vc_var **x, const case_s *c) { return vc_cross_entropy(t, x[0], c->aux, c->axis); }
static vc_var *b_reshape(vc_tape *t, vc_var **x, const case_s *c) {
    return vc_reshape(t, x[0], VC_DIMS(vc_numel(&x[0]->val) / 4, 4));
}
static vc_var *b_permute(vc_tape *t, vc_var **x, const case_s *c) {
    static const int p3[] = {2, 0, 1}, p4[] = {0, 2, 1, 3};
    return vc_permute(t, x[0], x[0]->val.ndim == 3 ? p3 : p4);
}
static vc_var *b_transpose(vc_tape *t, vc_var **x, const case_s *c) { return vc_transpose(t, x[0], c->axis, c->axis2); }
static vc_var *b_slice(vc_tape *t, vc_var **x, const case_s *c) { return vc_slice(t, x[0], c->axis, 1, 2); }
static vc_var *b_concat(vc_tape *t, vc_var **x, const case_s *c) { return vc_concat(t, c->n, x, c->axis); }
static vc_var *b_split(vc_tape *t, vc_var **x, const case_s *c) {
    vc_var *parts[3];
    int64_t sizes[3] = {1, 3, 2};
    if (vc_split_sizes(t, x[0], c->axis, 3, sizes, parts)) return NULL;
    /* weight the parts differently so a mixed-up part shows */
    vc_var *sw[3] = {parts[2], vc_scale(t, parts[0], 3), vc_scale(t, parts[1], -1)};
    return vc_concat(t, 3, sw, c->axis);
}
static vc_var *b_gather(vc_tape *t, vc_var **x, const case_s *c) { return vc_gather_rows(t, x[0], c->aux); }
static vc_var *b_dropout(vc_tape *t, vc_var **x, const case_s *c) { return vc_dropout(t, x[0], c->p); }
/* self-attention from one packed qkv [B, T, 3*H*dh] (H = axis, dh = axis2) */
static vc_var *b_attn_packed(vc_tape *t, vc_var **x, const case_s *c) {
    int64_t D = (int64_t)c->axis * c->axis2;
    return vc_attention(t, x[0], 0, x[0], D, x[0], 2 * D, c->axis, c->axis2, c->aux, c->ta);
}
/* learned queries [1, S, D] over a packed kv [B, T, 2D] */
static vc_var *b_attn_cross(vc_tape *t, vc_var **x, const case_s *c) {
    int64_t D = (int64_t)c->axis * c->axis2;
    return vc_attention(t, x[0], 0, x[1], 0, x[1], D, c->axis, c->axis2, c->aux, false);
}
/* separate q, k, v with extra columns around the heads */
static vc_var *b_attn_separate(vc_tape *t, vc_var **x, const case_s *c) {
    return vc_attention(t, x[0], 1, x[1], 0, x[2], 2, c->axis, c->axis2, c->aux, c->ta);
}
/* linear_fused: pre = axis; inputs x, w, b, [gamma, beta], [residual] as flagged by ta (residual), tb (x is residual) */
static vc_var *b_fused(vc_tape *t, vc_var **x, const case_s *c) {
    vc_pre pre = (vc_pre)c->axis;
    bool ln = pre == VC_PRE_LAYERNORM;
    vc_var *res = c->tb ? x[0] : c->ta ? x[ln ? 5 : 3] : NULL;
    return vc_linear_fused(t, x[0], pre, ln ? x[3] : NULL, ln ? x[4] : NULL, x[1], x[2], res);
}
static vc_var *b_lstm(vc_tape *t, vc_var **x, const case_s *c) {
    return vc_lstm(t, x[0], x[1], x[2], x[3], x[4], c->aux);
}
/* x feeds three ops: gradients must accumulate, not overwrite */
static vc_var *b_reuse(vc_tape *t, vc_var **x, const case_s *c) {
    vc_var *a = vc_mul(t, x[0], x[0]);
    return vc_add(t, vc_add(t, a, vc_tanh(t, x[0])), vc_mul(t, x[0], x[1]));
}

/* ---- cases ---- */
#define RUN(...) do { case_s c_ = {__VA_ARGS__}; gradcheck(&c_); } while (0)

START_TEST(test_matmul_backward_matches_finite_differences_all_transposes) {
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t M = 3, K = 4, N = 5;
            RUN(.name = "matmul 2-D", .n = 2, .nd = {2, 2},
                .shape = {{ta ? K : M, ta ? M : K}, {tb ? N : K, tb ? K : N}}, .lo = -1, .hi = 1, .f = b_matmul,
                .ta = ta, .tb = tb);
            RUN(.name = "matmul batched 4-D", .n = 2, .nd = {4, 4},
                .shape = {{2, 2, ta ? K : M, ta ? M : K}, {2, 2, tb ? N : K, tb ? K : N}}, .lo = -1, .hi = 1,
                .f = b_matmul, .ta = ta, .tb = tb);
            RUN(.name = "matmul batched a, shared 2-D b", .n = 2, .nd = {3, 2},
                .shape = {{3, ta ? K : M, ta ? M : K}, {tb ? N : K, tb ? K : N}}, .lo = -1, .hi = 1, .f = b_matmul,
                .ta = ta, .tb = tb);
        }
}
END_TEST

START_TEST(test_linear_backward_matches_finite_differences) {
    RUN(.name = "linear with bias 3-D", .n = 3, .nd = {3, 2, 1}, .shape = {{2, 3, 4}, {5, 4}, {5}}, .lo = -1, .hi = 1,
        .f = b_linear);
    RUN(.name = "linear without bias", .n = 2, .nd = {2, 2}, .shape = {{6, 3}, {2, 3}}, .lo = -1, .hi = 1, .f = b_linear);
}
END_TEST

START_TEST(test_binary_backward_matches_finite_differences_with_broadcasting) {
    build_fn fs[3] = {b_add, b_sub, b_mul};
    for (int i = 0; i < 3; i++) {
        RUN(.name = "binary same shape", .n = 2, .nd = {3, 3}, .shape = {{2, 3, 4}, {2, 3, 4}}, .lo = -1, .hi = 1, .f = fs[i]);
        RUN(.name = "binary bias [D] over [N,D]", .n = 2, .nd = {2, 1}, .shape = {{5, 4}, {4}}, .lo = -1, .hi = 1, .f = fs[i]);
        RUN(.name = "binary [D] first", .n = 2, .nd = {1, 3}, .shape = {{4}, {2, 3, 4}}, .lo = -1, .hi = 1, .f = fs[i]);
        RUN(.name = "binary trailing broadcast [B,T,1]", .n = 2, .nd = {3, 3}, .shape = {{2, 3, 4}, {2, 3, 1}}, .lo = -1,
            .hi = 1, .f = fs[i]);
        RUN(.name = "binary both broadcast", .n = 2, .nd = {3, 3}, .shape = {{2, 1, 4}, {1, 3, 1}}, .lo = -1, .hi = 1,
            .f = fs[i]);
        RUN(.name = "binary scalar [1]", .n = 2, .nd = {2, 1}, .shape = {{3, 4}, {1}}, .lo = -1, .hi = 1, .f = fs[i]);
    }
    RUN(.name = "scale", .n = 1, .nd = {2}, .shape = {{3, 5}}, .lo = -1, .hi = 1, .f = b_scale);
}
END_TEST

START_TEST(test_activation_backward_matches_finite_differences) {
    build_fn fs[] = {b_gelu, b_quickgelu, b_sigmoid, b_tanh, b_relu, b_exp};
    const char *names[] = {"gelu", "quickgelu", "sigmoid", "tanh", "relu", "exp"};
    for (int i = 0; i < 6; i++) {
        RUN(.name = names[i], .n = 1, .nd = {2}, .shape = {{4, 7}}, .lo = -4, .hi = 4, .f = fs[i]);
        RUN(.name = names[i], .n = 1, .nd = {3}, .shape = {{2, 2, 3}}, .lo = -0.5, .hi = 0.5, .f = fs[i]);
    }
}
END_TEST

START_TEST(test_reduction_backward_matches_finite_differences) {
    for (int axis = -1; axis < 3; axis++) {
        RUN(.name = "sum", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -1, .hi = 1, .f = b_sum, .axis = axis);
        RUN(.name = "mean", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -1, .hi = 1, .f = b_mean, .axis = axis);
    }
    RUN(.name = "sum_all", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -1, .hi = 1, .f = b_sum_all);
}
END_TEST

START_TEST(test_masked_reduction_backward_matches_finite_differences) {
    int64_t len64[3] = {2, 5, 0};
    int32_t len32[3] = {1, 5, 3};
    vc_tensor l64, l32, m;
    vc_tensor_wrap(&l64, len64, VC_I64, VC_DIMS(3));
    vc_tensor_wrap(&l32, len32, VC_I32, VC_DIMS(3));
    vc_real mask[15] = {1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0.5, 0, 2, 0, 0};
    vc_tensor_wrap(&m, mask, VC_F32, VC_DIMS(3, 5));
    const vc_tensor *ms[3] = {&l64, &l32, &m};
    for (int i = 0; i < 3; i++) {
        RUN(.name = "masked_mean over time", .n = 1, .nd = {3}, .shape = {{3, 5, 4}}, .lo = -1, .hi = 1, .f = b_mmean,
            .axis = 1, .aux = ms[i]);
        RUN(.name = "masked_sum over time", .n = 1, .nd = {3}, .shape = {{3, 5, 4}}, .lo = -1, .hi = 1, .f = b_msum,
            .axis = 1, .aux = ms[i]);
        RUN(.name = "masked_mean last axis", .n = 1, .nd = {2}, .shape = {{3, 5}}, .lo = -1, .hi = 1, .f = b_mmean,
            .axis = 1, .aux = ms[i]);
    }
}
END_TEST

START_TEST(test_norm_backward_matches_finite_differences) {
    RUN(.name = "layernorm gamma beta", .n = 3, .nd = {3, 1, 1}, .shape = {{2, 3, 6}, {6}, {6}}, .lo = -2, .hi = 2,
        .f = b_layernorm);
    RUN(.name = "layernorm no affine", .n = 1, .nd = {2}, .shape = {{4, 5}}, .lo = -2, .hi = 2, .f = b_layernorm);
    RUN(.name = "l2norm", .n = 1, .nd = {3}, .shape = {{2, 3, 5}}, .lo = -1, .hi = 1, .f = b_l2norm);
}
END_TEST

START_TEST(test_softmax_backward_matches_finite_differences_with_masks) {
    for (int axis = -1; axis < 3; axis++) {
        RUN(.name = "softmax", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -2, .hi = 2, .f = b_softmax, .axis = axis);
        RUN(.name = "log_softmax", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -2, .hi = 2, .f = b_logsoftmax,
            .axis = axis);
    }
    /* key-padding mask [B,1,1,T] over scores [B,H,T,T]; batch 1 fully masked */
    vc_real km[2 * 4] = {0, 0, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    vc_tensor kmask;
    vc_tensor_wrap(&kmask, km, VC_F32, VC_DIMS(2, 1, 1, 4));
    RUN(.name = "softmax key-padding mask", .n = 1, .nd = {4}, .shape = {{2, 2, 3, 4}}, .lo = -2, .hi = 2,
        .f = b_softmax, .axis = -1, .aux = &kmask);
    /* (log_softmax of a masked entry is -inf, which no finite loss can weigh:
     * its zero gradient is checked in test_tensor.c) */
    /* finite additive bias along a non-last axis */
    vc_real bias[3] = {0.5, -1, 2};
    vc_tensor bm;
    vc_tensor_wrap(&bm, bias, VC_F32, VC_DIMS(3, 1));
    RUN(.name = "softmax bias axis 1", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -2, .hi = 2, .f = b_softmax,
        .axis = 1, .aux = &bm);
    RUN(.name = "log_softmax bias axis 1", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -2, .hi = 2,
        .f = b_logsoftmax, .axis = 1, .aux = &bm);
}
END_TEST

START_TEST(test_cross_entropy_backward_matches_finite_differences) {
    int64_t tg[4] = {2, 0, 4, 1};
    vc_tensor tt;
    vc_tensor_wrap(&tt, tg, VC_I64, VC_DIMS(4));
    RUN(.name = "cross_entropy rows", .n = 1, .nd = {2}, .shape = {{4, 5}}, .lo = -3, .hi = 3, .f = b_xent, .axis = 1,
        .aux = &tt);
    int64_t tg2[5] = {0, 3, 3, 1, 2};
    vc_tensor t2;
    vc_tensor_wrap(&t2, tg2, VC_I64, VC_DIMS(5));
    RUN(.name = "cross_entropy columns", .n = 1, .nd = {2}, .shape = {{4, 5}}, .lo = -3, .hi = 3, .f = b_xent, .axis = 0,
        .aux = &t2);
}
END_TEST

START_TEST(test_shape_ops_backward_matches_finite_differences) {
    RUN(.name = "reshape", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -1, .hi = 1, .f = b_reshape);
    RUN(.name = "permute 3-D", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -1, .hi = 1, .f = b_permute);
    RUN(.name = "permute 4-D", .n = 1, .nd = {4}, .shape = {{2, 3, 2, 3}}, .lo = -1, .hi = 1, .f = b_permute);
    RUN(.name = "transpose", .n = 1, .nd = {3}, .shape = {{2, 3, 4}}, .lo = -1, .hi = 1, .f = b_transpose, .axis = 0,
        .axis2 = 2);
    for (int axis = 0; axis < 3; axis++)
        RUN(.name = "slice", .n = 1, .nd = {3}, .shape = {{3, 4, 5}}, .lo = -1, .hi = 1, .f = b_slice, .axis = axis);
    RUN(.name = "concat 3 inputs", .n = 3, .nd = {3, 3, 3}, .shape = {{2, 1, 3}, {2, 4, 3}, {2, 2, 3}}, .lo = -1,
        .hi = 1, .f = b_concat, .axis = 1);
    RUN(.name = "concat 6 inputs", .n = 6, .nd = {2, 2, 2, 2, 2, 2},
        .shape = {{1, 3}, {2, 3}, {1, 3}, {1, 3}, {3, 3}, {1, 3}}, .lo = -1, .hi = 1, .f = b_concat, .axis = 0);
    RUN(.name = "split", .n = 1, .nd = {3}, .shape = {{2, 3, 6}}, .lo = -1, .hi = 1, .f = b_split, .axis = 2);
    int64_t idx[6] = {3, 0, 3, 1, 3, 4};
    vc_tensor it;
    vc_tensor_wrap(&it, idx, VC_I64, VC_DIMS(2, 3));
    RUN(.name = "gather_rows repeated", .n = 1, .nd = {2}, .shape = {{5, 4}}, .lo = -1, .hi = 1, .f = b_gather,
        .aux = &it);
}
END_TEST

START_TEST(test_attention_backward_matches_finite_differences) {
    int64_t len[3] = {4, 2, 1};
    vc_tensor lt;
    vc_tensor_wrap(&lt, len, VC_I64, VC_DIMS(3));
    for (int causal = 0; causal < 2; causal++) {
        RUN(.name = "attention packed qkv, key lengths", .n = 1, .nd = {3}, .shape = {{3, 4, 3 * 2 * 3}}, .lo = -1,
            .hi = 1, .f = b_attn_packed, .axis = 2, .axis2 = 3, .aux = &lt, .ta = causal);
        RUN(.name = "attention packed qkv, no mask", .n = 1, .nd = {3}, .shape = {{2, 3, 3 * 2 * 2}}, .lo = -1,
            .hi = 1, .f = b_attn_packed, .axis = 2, .axis2 = 2, .ta = causal);
        RUN(.name = "attention separate q,k,v", .n = 3, .nd = {3, 3, 3},
            .shape = {{3, 2, 2 * 3 + 2}, {3, 4, 2 * 3}, {3, 4, 2 * 3 + 3}}, .lo = -1, .hi = 1, .f = b_attn_separate,
            .axis = 2, .axis2 = 3, .aux = &lt, .ta = causal);
    }
    RUN(.name = "attention shared queries", .n = 2, .nd = {3, 3}, .shape = {{1, 2, 2 * 3}, {3, 4, 2 * 2 * 3}},
        .lo = -1, .hi = 1, .f = b_attn_cross, .axis = 2, .axis2 = 3, .aux = &lt);
}
END_TEST

START_TEST(test_lstm_backward_matches_finite_differences) {
    int64_t len[3] = {4, 2, 0};
    vc_tensor lt;
    vc_tensor_wrap(&lt, len, VC_I64, VC_DIMS(3));
    RUN(.name = "lstm full length", .n = 5, .nd = {3, 2, 2, 1, 1}, .shape = {{2, 4, 3}, {8, 3}, {8, 2}, {8}, {8}},
        .lo = -1, .hi = 1, .f = b_lstm);
    RUN(.name = "lstm with lengths", .n = 5, .nd = {3, 2, 2, 1, 1}, .shape = {{3, 4, 3}, {12, 3}, {12, 3}, {12}, {12}},
        .lo = -1, .hi = 1, .f = b_lstm, .aux = &lt);
}
END_TEST

START_TEST(test_linear_fused_backward_matches_finite_differences) {
    for (int pre = 0; pre < 4; pre++) {
        bool ln = pre == VC_PRE_LAYERNORM;
        RUN(.name = "linear_fused", .n = ln ? 5 : 3, .nd = {3, 2, 1, 1, 1}, .shape = {{2, 3, 4}, {5, 4}, {5}, {4}, {4}},
            .lo = -1.5, .hi = 1.5, .f = b_fused, .axis = pre);
        if (ln)
            RUN(.name = "linear_fused layernorm + residual", .n = 6, .nd = {2, 2, 1, 1, 1, 2},
                .shape = {{3, 4}, {5, 4}, {5}, {4}, {4}, {3, 5}}, .lo = -1.5, .hi = 1.5, .f = b_fused, .axis = pre,
                .ta = true);
        else
            RUN(.name = "linear_fused + residual", .n = 4, .nd = {2, 2, 1, 2}, .shape = {{3, 4}, {5, 4}, {5}, {3, 5}},
                .lo = -1.5, .hi = 1.5, .f = b_fused, .axis = pre, .ta = true);
        if (!ln) { /* x is also the residual (square w) */
            RUN(.name = "linear_fused, x as residual", .n = 3, .nd = {2, 2, 1}, .shape = {{3, 4}, {4, 4}, {4}},
                .lo = -1.5, .hi = 1.5, .f = b_fused, .axis = pre, .tb = true);
        }
    }
    RUN(.name = "linear_fused layernorm, x as residual", .n = 5, .nd = {2, 2, 1, 1, 1},
        .shape = {{3, 4}, {4, 4}, {4}, {4}, {4}}, .lo = -1.5, .hi = 1.5, .f = b_fused, .axis = VC_PRE_LAYERNORM,
        .tb = true);
}
END_TEST

START_TEST(test_dropout_backward_matches_finite_differences) {
    RUN(.name = "dropout", .n = 1, .nd = {2}, .shape = {{8, 16}}, .lo = -1, .hi = 1, .f = b_dropout, .p = 0.3);
}
END_TEST

START_TEST(test_gradients_accumulate_when_a_var_feeds_several_ops) {
    RUN(.name = "reuse", .n = 2, .nd = {2, 2}, .shape = {{3, 4}, {3, 4}}, .lo = -1, .hi = 1, .f = b_reuse);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("grad_ops (double precision finite differences)");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_matmul_backward_matches_finite_differences_all_transposes);
    tcase_add_test(tc, test_linear_backward_matches_finite_differences);
    tcase_add_test(tc, test_binary_backward_matches_finite_differences_with_broadcasting);
    tcase_add_test(tc, test_activation_backward_matches_finite_differences);
    tcase_add_test(tc, test_reduction_backward_matches_finite_differences);
    tcase_add_test(tc, test_masked_reduction_backward_matches_finite_differences);
    tcase_add_test(tc, test_norm_backward_matches_finite_differences);
    tcase_add_test(tc, test_softmax_backward_matches_finite_differences_with_masks);
    tcase_add_test(tc, test_cross_entropy_backward_matches_finite_differences);
    tcase_add_test(tc, test_shape_ops_backward_matches_finite_differences);
    tcase_add_test(tc, test_attention_backward_matches_finite_differences);
    tcase_add_test(tc, test_lstm_backward_matches_finite_differences);
    tcase_add_test(tc, test_linear_fused_backward_matches_finite_differences);
    tcase_add_test(tc, test_dropout_backward_matches_finite_differences);
    tcase_add_test(tc, test_gradients_accumulate_when_a_var_feeds_several_ops);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
