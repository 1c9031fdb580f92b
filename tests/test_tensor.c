/* Tensor core and autograd mechanics in the float build: dtype conversions,
 * views, arena and tape memory reuse, error reporting, no_grad, kernel
 * accuracy of the vectorised math, determinism and masking guarantees. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/params.h"
#include "harness.h"
#include "tensor/hostmem.h"
#include "tensor/k_math.h"
#include "tensor/k_unary.h"

START_TEST(test_f16_round_trip_is_exact_for_every_half_value) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vc_f16_to_f32((uint16_t)h);
        uint16_t back = vc_f32_to_f16(f);
        if (isnan(f))
            ck_assert_msg((back & 0x7c00) == 0x7c00 && (back & 0x3ff), "NaN 0x%04x came back as 0x%04x", h, back);
        else
            ck_assert_msg(back == h, "half 0x%04x -> %g -> 0x%04x", h, f, back);
    }
}
END_TEST

START_TEST(test_f16_conversion_rounds_to_nearest_even_and_saturates) {
    ck_assert_uint_eq(vc_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(vc_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(vc_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(vc_f32_to_f16(65520.0f), 0x7c00);         /* rounds up to Inf */
    ck_assert_uint_eq(vc_f32_to_f16(1e10f), 0x7c00);
    ck_assert_uint_eq(vc_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);   /* tie -> even (down) */
    ck_assert_uint_eq(vc_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02); /* tie -> even (up) */
    ck_assert_uint_eq(vc_f32_to_f16(0x1p-24f), 0x0001);          /* smallest subnormal */
    ck_assert_uint_eq(vc_f32_to_f16(0x1p-26f), 0x0000);          /* below half of it */
    ck_assert(vc_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(isinf(vc_f16_to_f32(0xfc00)) && vc_f16_to_f32(0xfc00) < 0);
    ck_assert_uint_eq(vc_f32_to_bf16(1.0f), 0x3f80);
    ck_assert(vc_bf16_to_f32(vc_f32_to_bf16(3.140625f)) == 3.140625f);
}
END_TEST

START_TEST(test_views_share_memory_and_track_strides) {
    vc_tensor t, v, s, p;
    ck_assert_int_eq(vc_tensor_alloc(&t, VC_F32, VC_DIMS(2, 3, 4)), VC_OK);
    for (int i = 0; i < 24; i++) vc_f32(&t)[i] = (float)i;
    ck_assert_int_eq(((uintptr_t)t.data) % 64, 0);
    ck_assert_int_eq(vc_view_reshape(&v, &t, VC_DIMS(6, 4)), VC_OK);
    ck_assert_ptr_eq(v.data, t.data);
    ck_assert_int_eq(vc_view_slice(&s, &t, 1, 1, 2), VC_OK); /* [2,2,4] starting at element 4 */
    ck_assert(((float *)s.data)[0] == 4.0f);
    ck_assert(!vc_is_contiguous(&s));
    ck_assert_int_eq(vc_view_permute(&p, &t, (int[]){2, 0, 1}), VC_OK); /* [4,2,3] */
    ck_assert_int_eq(p.ne[0], 4);
    ck_assert_int_eq(p.st[0], 1);
    vc_arena a;
    vc_arena_init(&a, 0);
    vc_tensor c;
    ck_assert_int_eq(vc_tensor_contiguous(&c, &p, &a), VC_OK);
    /* c[i][j][k] = t[j][k][i] */
    ck_assert(vc_f32(&c)[1 * 6 + 1 * 3 + 2] == vc_f32(&t)[1 * 12 + 2 * 4 + 1]);
    ck_assert_int_eq(vc_view_reshape(&v, &s, VC_DIMS(16)), VC_ERR_SHAPE);
    ck_assert_msg(strstr(vc_last_error(), "not contiguous"), "%s", vc_last_error());
    ck_assert_int_eq(vc_view_slice(&s, &t, 2, 3, 2), VC_ERR_ARG);
    ck_assert_int_eq(vc_view_reshape(&v, &t, VC_DIMS(5, 5)), VC_ERR_SHAPE);
    ck_assert_msg(strstr(vc_last_error(), "[2,3,4]") && strstr(vc_last_error(), "[5,5]"), "%s", vc_last_error());
    /* f16 storage converts on copy */
    vc_tensor h;
    ck_assert_int_eq(vc_tensor_alloc(&h, VC_F16, VC_DIMS(2, 3, 4)), VC_OK);
    ck_assert_int_eq(vc_tensor_copy(&h, &t), VC_OK);
    ck_assert_uint_eq(((uint16_t *)h.data)[23], vc_f32_to_f16(23.0f));
    vc_arena_free(&a);
    vc_tensor_release(&h);
    vc_tensor_release(&t);
}
END_TEST

/* One "training step" of a small MLP; returns the loss. */
static float mlp_step(vc_tape *t, vc_params *ps, const vc_tensor *x) {
    vc_tape_reset(t);
    vc_params_zero_grad(ps);
    vc_var *in = vc_const(t, x);
    vc_var *h = vc_gelu(t, vc_linear(t, in, ps->vars[0], ps->vars[1]));
    vc_var *y = vc_layernorm(t, vc_linear(t, h, ps->vars[2], NULL), NULL, NULL, 1e-5f);
    vc_var *l = vc_sum_all(t, vc_mul(t, y, y));
    ck_assert_msg(l && vc_backward(t, l) == VC_OK, "%s", vc_last_error());
    vc_params_finish_grad(ps);
    return vc_f32(&l->val)[0];
}

static void mlp_init(vc_params *ps, vc_tensor *x) {
    vc_params_init(ps);
    vc_rng r;
    vc_rng_seed(&r, 5);
    vc_var *w1 = vc_params_add(ps, "w1", VC_DIMS(64, 32), true);
    ck_assert_ptr_nonnull(vc_params_add(ps, "b1", VC_DIMS(64), false));
    vc_var *w2 = vc_params_add(ps, "w2", VC_DIMS(16, 64), true);
    ck_assert_ptr_nonnull(w2);
    vc_test_fill_uniform(vc_f32(&w1->val), 64 * 32, &r, -0.2, 0.2);
    vc_test_fill_uniform(vc_f32(&w2->val), 16 * 64, &r, -0.2, 0.2);
    ck_assert_int_eq(vc_tensor_alloc(x, VC_F32, VC_DIMS(128, 32)), VC_OK);
    vc_test_fill_uniform(vc_f32(x), 128 * 32, &r, -1, 1);
}

START_TEST(test_steady_state_step_does_not_allocate) {
    vc_params ps;
    vc_tensor x;
    mlp_init(&ps, &x);
    vc_tape t;
    vc_tape_init(&t, 0);
    mlp_step(&t, &ps, &x);
    mlp_step(&t, &ps, &x); /* the reset after step 1 consolidates the arena */
    size_t mallocs = t.arena.n_mallocs;
    int cap = t.cap_nodes;
    for (int i = 0; i < 5; i++) mlp_step(&t, &ps, &x);
    ck_assert_uint_eq(t.arena.n_mallocs, mallocs);
    ck_assert_int_eq(t.cap_nodes, cap);
    vc_tape_free(&t);
    vc_tensor_release(&x);
    vc_params_free(&ps);
}
END_TEST

START_TEST(test_step_is_bit_identical_run_to_run) {
    vc_params ps;
    vc_tensor x;
    mlp_init(&ps, &x);
    vc_tape t;
    vc_tape_init(&t, 0);
    float l1 = mlp_step(&t, &ps, &x);
    size_t n = ps.n;
    vc_real *g1 = malloc(n * sizeof(vc_real));
    memcpy(g1, ps.grad, n * sizeof(vc_real));
    float l2 = mlp_step(&t, &ps, &x);
    ck_assert(memcmp(&l1, &l2, sizeof l1) == 0);
    ck_assert(memcmp(g1, ps.grad, n * sizeof(vc_real)) == 0);
    free(g1);
    vc_tape_free(&t);
    vc_tensor_release(&x);
    vc_params_free(&ps);
}
END_TEST

START_TEST(test_params_live_in_one_flat_buffer) {
    vc_params ps;
    vc_tensor x;
    mlp_init(&ps, &x);
    ck_assert_int_eq(ps.count, 3);
    for (int i = 0; i < ps.count; i++) {
        ck_assert_ptr_eq(ps.vars[i]->val.data, ps.data + ps.info[i].offset);
        ck_assert_ptr_eq(ps.vars[i]->grad.data, ps.grad + ps.info[i].offset);
        ck_assert_int_eq(((uintptr_t)ps.vars[i]->val.data) % 64, 0);
    }
    ck_assert(ps.info[0].decay && !ps.info[1].decay);
    ck_assert_ptr_null(vc_params_add(&ps, "w1", VC_DIMS(3), true));
    ck_assert_msg(strstr(vc_last_error(), "duplicate"), "%s", vc_last_error());
    ck_assert_int_eq(vc_params_find(&ps, "w2"), 2);
    /* a parameter no op used gets an exact zero gradient from finish_grad */
    vc_var *unused = vc_params_add(&ps, "unused", VC_DIMS(10), false);
    vc_tape t;
    vc_tape_init(&t, 0);
    for (size_t i = 0; i < ps.n; i++) ps.grad[i] = NAN;
    mlp_step(&t, &ps, &x);
    for (int i = 0; i < 10; i++) ck_assert(vc_f32(&unused->grad)[i] == 0);
    for (size_t i = 0; i < ps.info[0].numel; i++) ck_assert(!isnan(ps.grad[i]));
    vc_tape_free(&t);
    vc_tensor_release(&x);
    vc_params_free(&ps);
}
END_TEST

START_TEST(test_shape_errors_name_the_op_and_both_shapes_and_stick) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tensor a, b;
    vc_tensor_alloc(&a, VC_F32, VC_DIMS(4, 3));
    vc_tensor_alloc(&b, VC_F32, VC_DIMS(5, 2));
    vc_var *x = vc_const(&t, &a), *w = vc_const(&t, &b);
    ck_assert_ptr_null(vc_linear(&t, x, w, NULL));
    ck_assert_msg(strstr(vc_last_error(), "linear") && strstr(vc_last_error(), "[4,3]") &&
                      strstr(vc_last_error(), "[5,2]"),
                  "%s", vc_last_error());
    ck_assert_int_eq(vc_tape_status(&t), VC_ERR_SHAPE);
    /* later ops return NULL without replacing the first message */
    char first[256];
    snprintf(first, sizeof first, "%s", vc_last_error());
    ck_assert_ptr_null(vc_gelu(&t, x));
    ck_assert_ptr_null(vc_add(&t, NULL, x));
    ck_assert_str_eq(vc_last_error(), first);
    vc_tape_reset(&t);
    ck_assert_int_eq(vc_tape_status(&t), VC_OK);
    x = vc_const(&t, &a);
    ck_assert_ptr_null(vc_add(&t, x, vc_const(&t, &b)));
    ck_assert_msg(strstr(vc_last_error(), "add") && strstr(vc_last_error(), "broadcast"), "%s", vc_last_error());
    vc_tape_reset(&t);
    x = vc_const(&t, &a);
    ck_assert_ptr_null(vc_softmax(&t, x, 2, NULL));
    ck_assert_msg(strstr(vc_last_error(), "axis 2"), "%s", vc_last_error());
    vc_tape_reset(&t);
    int64_t bad[4] = {0, 1, 9, 2};
    vc_tensor idx;
    vc_tensor_wrap(&idx, bad, VC_I64, VC_DIMS(4));
    ck_assert_ptr_null(vc_gather_rows(&t, vc_const(&t, &a), &idx));
    ck_assert_msg(strstr(vc_last_error(), "index 9"), "%s", vc_last_error());
    vc_tape_reset(&t);
    vc_tensor h;
    vc_tensor_alloc(&h, VC_F32, VC_DIMS(2));
    h.device = VC_CUDA;
    ck_assert_ptr_null(vc_const(&t, &h));
    ck_assert_int_eq(vc_tape_status(&t), VC_ERR_DEVICE);
    h.device = VC_CPU;
    vc_tensor_release(&h);
    vc_tensor_release(&a);
    vc_tensor_release(&b);
    vc_tape_free(&t);
}
END_TEST

START_TEST(test_no_grad_records_nothing) {
    vc_params ps;
    vc_tensor x;
    mlp_init(&ps, &x);
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    vc_var *in = vc_const(&t, &x);
    vc_var *y = vc_linear(&t, in, ps.vars[0], ps.vars[1]);
    ck_assert_ptr_nonnull(y);
    ck_assert(!y->requires_grad);
    ck_assert_int_eq(t.n_nodes, 0);
    ck_assert_int_ne(vc_backward(&t, vc_sum_all(&t, y)), VC_OK);
    vc_tape_free(&t);
    vc_tensor_release(&x);
    vc_params_free(&ps);
}
END_TEST

START_TEST(test_vectorised_math_matches_libm) {
    double worst_exp = 0, worst_gelu = 0, worst_gelu_tail = 0, worst_tanh = 0;
    for (double v = -80; v <= 80; v += 0.00731) {
        float x = (float)v;
        double e = exp((double)x);
        worst_exp = fmax(worst_exp, fabs(vc_fexp(x) - e) / e);
        double t = tanh((double)x);
        worst_tanh = fmax(worst_tanh, fabs(vc_ftanh(x) - t) / fmax(fabs(t), 1e-30));
    }
    for (double v = -9; v <= 9; v += 0.001) {
        float x = (float)v, y;
        vc_unary_fwd(VC_UN_GELU, &x, &y, 1);
        double ref = 0.5 * x * erfc(-x / sqrt(2.0));
        double e = fabs(y - ref) / fabs(ref);
        if (fabs(x) < 4)
            worst_gelu = fmax(worst_gelu, e);
        else if (fabs(ref) > 1e-30)
            worst_gelu_tail = fmax(worst_gelu_tail, e); /* float rounding of z^2 in exp(-z^2) dominates */
    }
    /* GELU's derivative Phi(x) + x phi(x), its density from the same exp as
     * Phi (vc_fphi_pdf): absolute error (it crosses 0 near x = -0.75) */
    double worst_dgelu = 0;
    for (double v = -12; v <= 12; v += 0.001) {
        float x = (float)v, g = 1;
        vc_unary_bwd_inplace(VC_UN_GELU, &x, &g, 1);
        double ref = 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * (double)x * x) / sqrt(2 * M_PI);
        worst_dgelu = fmax(worst_dgelu, fabs(g - ref));
    }
    printf("vectorised math against libm: exp %.2g, tanh %.2g, gelu %.2g (|x| < 4) %.2g (tails), gelu' %.2g (absolute)\n",
           worst_exp, worst_tanh, worst_gelu, worst_gelu_tail, worst_dgelu);
    ck_assert_msg(worst_dgelu < 5e-7, "gelu derivative absolute error %g", worst_dgelu);
    ck_assert_msg(worst_exp < 4e-7, "exp relative error %g", worst_exp);
    ck_assert_msg(worst_tanh < 1e-6, "tanh relative error %g", worst_tanh); /* ~8 ulp */
    ck_assert_msg(worst_gelu < 1e-6, "gelu relative error %g for |x| < 4", worst_gelu);
    ck_assert_msg(worst_gelu_tail < 5e-6, "gelu relative error %g for |x| >= 4", worst_gelu_tail);
    ck_assert(vc_fexp(-INFINITY) == 0 && vc_fexp(-100) == 0 && isinf(vc_fexp(100)));
    ck_assert(isnan(vc_fexp(NAN)) && isnan(vc_ftanh(NAN)));
}
END_TEST

START_TEST(test_masked_mean_ignores_padding_even_nan) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tensor x;
    vc_tensor_alloc(&x, VC_F32, VC_DIMS(2, 4, 3));
    for (int i = 0; i < 24; i++) vc_f32(&x)[i] = (float)i;
    int64_t len[2] = {2, 4};
    vc_tensor lt;
    vc_tensor_wrap(&lt, len, VC_I64, VC_DIMS(2));
    for (int i = 6; i < 12; i++) vc_f32(&x)[i] = NAN; /* padded frames of video 0 */
    vc_var *xv = vc_const(&t, &x);
    xv->requires_grad = true;
    vc_var *m = vc_masked_mean(&t, xv, 1, &lt);
    ck_assert_ptr_nonnull(m);
    ck_assert(vc_f32(&m->val)[0] == 1.5f && vc_f32(&m->val)[2] == 3.5f);
    ck_assert(vc_f32(&m->val)[3] == 16.5f);
    ck_assert_int_eq(vc_backward(&t, vc_sum_all(&t, m)), VC_OK);
    for (int i = 6; i < 12; i++) ck_assert(vc_f32(&xv->grad)[i] == 0);
    ck_assert(vc_f32(&xv->grad)[0] == 0.5f);
    /* a length past T is an error, not a silent clamp */
    len[0] = 5;
    vc_tape_reset(&t);
    ck_assert_ptr_null(vc_masked_mean(&t, vc_const(&t, &x), 1, &lt));
    ck_assert_msg(strstr(vc_last_error(), "length 5"), "%s", vc_last_error());
    vc_tensor_release(&x);
    vc_tape_free(&t);
}
END_TEST

START_TEST(test_log_softmax_masked_entries_get_no_gradient) {
    vc_tape t;
    vc_tape_init(&t, 0);
    float xs[6] = {1, 2, 3, 4, 5, 6}, ms[3] = {0, -INFINITY, 0};
    vc_tensor x, m;
    vc_tensor_wrap(&x, xs, VC_F32, VC_DIMS(2, 3));
    vc_tensor_wrap(&m, ms, VC_F32, VC_DIMS(3));
    vc_var *xv = vc_const(&t, &x);
    xv->requires_grad = true;
    vc_var *y = vc_log_softmax(&t, xv, 1, &m);
    ck_assert(isinf(vc_f32(&y->val)[1]));
    vc_var *s = vc_softmax(&t, xv, 1, &m);
    ck_assert(vc_f32(&s->val)[1] == 0 && fabsf(vc_f32(&s->val)[0] + vc_f32(&s->val)[2] - 1) < 1e-6f);
    /* weigh only finite outputs */
    float ws[6] = {1, 0, 2, -1, 0, 3};
    vc_tensor w;
    vc_tensor_wrap(&w, ws, VC_F32, VC_DIMS(2, 3));
    vc_var *sel = vc_slice(&t, y, 1, 0, 1);
    vc_var *l = vc_add(&t, vc_sum_all(&t, vc_mul(&t, s, vc_const(&t, &w))), vc_sum_all(&t, sel));
    ck_assert_int_eq(vc_backward(&t, l), VC_OK);
    ck_assert(vc_f32(&xv->grad)[1] == 0 && vc_f32(&xv->grad)[4] == 0);
    ck_assert(vc_f32(&xv->grad)[0] != 0);
    vc_tape_free(&t);
}
END_TEST

START_TEST(test_dropout_is_identity_in_eval_and_keeps_expected_fraction) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tensor x;
    vc_tensor_alloc(&x, VC_F32, VC_DIMS(100, 100));
    vc_tensor_fill(&x, 1);
    t.seed = 42;
    vc_var *xv = vc_const(&t, &x);
    vc_var *y = vc_dropout(&t, xv, 0.25f);
    int zeros = 0;
    for (int i = 0; i < 10000; i++) {
        float v = vc_f32(&y->val)[i];
        ck_assert(v == 0 || fabsf(v - 1 / 0.75f) < 1e-6f);
        zeros += v == 0;
    }
    ck_assert_msg(zeros > 2300 && zeros < 2700, "%d of 10000 dropped at p=0.25", zeros);
    /* same mask for any thread count */
    omp_set_num_threads(1);
    vc_tape_reset(&t);
    t.step = 0;
    vc_var *y1 = vc_dropout(&t, vc_const(&t, &x), 0.25f);
    omp_set_num_threads(2);
    vc_tape_reset(&t);
    t.step = 0;
    vc_var *y2 = vc_dropout(&t, vc_const(&t, &x), 0.25f);
    ck_assert(memcmp(y1->val.data, y2->val.data, 10000 * sizeof(float)) == 0 || y1->val.data == y2->val.data);
    t.training = false;
    ck_assert_ptr_eq(vc_dropout(&t, xv, 0.5f), xv);
    vc_tensor_release(&x);
    vc_tape_free(&t);
}
END_TEST

/* The VmFlags line of the mapping that holds p in /proc/self/smaps, or ""
 * when not found. */
static void vm_flags_of(const void *p, char *out, size_t cap) {
    out[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

START_TEST(test_host_blocks_of_4mb_and_more_are_huge_page_aligned_and_advised) {
    void *small = vc_host_alloc(100), *edge = vc_host_alloc(VC_HOSTMEM_HUGE - 64);
    void *big = vc_host_alloc(VC_HOSTMEM_HUGE + 1000);
    ck_assert(small && edge && big);
    ck_assert_uint_eq((uintptr_t)small % 64, 0);
    ck_assert_uint_eq((uintptr_t)edge % 64, 0);
    ck_assert_uint_eq((uintptr_t)big % ((uintptr_t)2 << 20), 0);
    memset(big, 1, VC_HOSTMEM_HUGE + 1000); /* the whole block is usable, rounded up or not */
    ck_assert_ptr_null(vc_host_alloc(SIZE_MAX - 10)); /* no wrap-around to a small block */
    FILE *thp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (thp) {
        if (!fgets(mode, sizeof mode, thp)) mode[0] = 0;
        fclose(thp);
    }
    if (!strstr(mode, "[madvise]") && !strstr(mode, "[always]")) {
        printf("SKIP: huge-page advice (this kernel's THP mode is '%s')\n", mode[0] ? mode : "absent");
    } else {
        char flags[512];
        vm_flags_of(big, flags, sizeof flags);
        ck_assert_msg(strstr(flags, " hg"), "the 4 MB block's mapping is not advised as huge pages: VmFlags:%s",
                      flags);
    }
    vc_host_free(small);
    vc_host_free(edge);
    vc_host_free(big);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_f16_round_trip_is_exact_for_every_half_value);
    tcase_add_test(tc, test_f16_conversion_rounds_to_nearest_even_and_saturates);
    tcase_add_test(tc, test_views_share_memory_and_track_strides);
    tcase_add_test(tc, test_host_blocks_of_4mb_and_more_are_huge_page_aligned_and_advised);
    tcase_add_test(tc, test_steady_state_step_does_not_allocate);
    tcase_add_test(tc, test_step_is_bit_identical_run_to_run);
    tcase_add_test(tc, test_params_live_in_one_flat_buffer);
    tcase_add_test(tc, test_shape_errors_name_the_op_and_both_shapes_and_stick);
    tcase_add_test(tc, test_no_grad_records_nothing);
    tcase_add_test(tc, test_vectorised_math_matches_libm);
    tcase_add_test(tc, test_masked_mean_ignores_padding_even_nan);
    tcase_add_test(tc, test_log_softmax_masked_entries_get_no_gradient);
    tcase_add_test(tc, test_dropout_is_identity_in_eval_and_keeps_expected_fraction);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
