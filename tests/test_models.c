/* Poolers: shapes, unit-norm outputs, padding never influencing outputs or
 * gradients, every parameter receiving a gradient, seeded init, config errors. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "models/pooler.h"

enum { B = 3, T = 6, D = 16 };
static const int64_t lens[B] = {6, 3, 1};

static void small_cfg(vc_pooler_cfg *c, vc_pool_type type) {
    vc_pooler_cfg_default(c, type, D);
    c->width = type == VC_POOL_CROSS_ATTN ? 24 : D; /* exercise the projections once */
    c->heads = 4;
    c->layers = 2;
    c->tokens = 3;
    c->hidden = 8;
    c->max_frames = 8;
    c->mlp_layers = type == VC_POOL_MLP_MEAN ? 2 : type == VC_POOL_CROSS_ATTN ? 1 : c->mlp_layers;
    c->text_head = type == VC_POOL_TRANSFORMER;
}

/* Runs forward (+ backward of sum(y * w)); returns y in out[B*D]. */
static void run(const vc_pooler *m, const vc_tensor *frames, float *out, bool backward) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tensor lt;
    vc_tensor_wrap(&lt, (void *)lens, VC_I64, VC_DIMS(B));
    vc_params_zero_grad(m->ps);
    vc_var *x = vc_const(&t, frames);
    x->requires_grad = true;
    vc_var *y = vc_pooler_forward(&t, m, x, &lt);
    ck_assert_msg(y != NULL, "%s: %s", vc_pool_type_name(m->cfg.type), vc_last_error());
    ck_assert_int_eq(y->val.ndim, 2);
    ck_assert_int_eq(y->val.ne[0], B);
    ck_assert_int_eq(y->val.ne[1], D);
    memcpy(out, y->val.data, B * D * sizeof(float));
    if (backward) {
        float wv[B * D];
        for (int i = 0; i < B * D; i++) wv[i] = (float)sin(i * 0.7);
        vc_tensor w;
        vc_tensor_wrap(&w, wv, VC_F32, VC_DIMS(B, D));
        vc_var *txt = vc_pooler_text(&t, m, vc_const(&t, &w));
        vc_var *l = vc_sum_all(&t, vc_mul(&t, y, txt));
        ck_assert_msg(l && vc_backward(&t, l) == VC_OK, "%s backward: %s", vc_pool_type_name(m->cfg.type),
                      vc_last_error());
        /* gradients at padded frames are exactly zero */
        for (int b = 0; b < B; b++)
            for (int j = (int)lens[b]; j < T; j++)
                for (int d = 0; d < D; d++) ck_assert(vc_f32(&x->grad)[(b * T + j) * D + d] == 0);
    }
    vc_tape_free(&t);
}

START_TEST(test_every_pooler_is_normalised_and_blind_to_padding) {
    for (int type = 0; type < VC_POOL_NTYPES; type++) {
        vc_pooler_cfg c;
        small_cfg(&c, (vc_pool_type)type);
        vc_params ps;
        vc_params_init(&ps);
        vc_pooler m;
        ck_assert_msg(vc_pooler_init(&m, &c, &ps, 11) == VC_OK, "%s", vc_last_error());
        vc_tensor f;
        vc_tensor_alloc(&f, VC_F32, VC_DIMS(B, T, D));
        vc_rng r;
        vc_rng_seed(&r, 3);
        vc_test_fill_uniform(vc_f32(&f), B * T * D, &r, -1, 1);
        float y1[B * D], y2[B * D];
        run(&m, &f, y1, true);
        for (int b = 0; b < B; b++) {
            double n = 0;
            for (int d = 0; d < D; d++) n += y1[b * D + d] * y1[b * D + d];
            ck_assert_msg(fabs(n - 1) < 1e-5, "%s: |y| = %g", vc_pool_type_name(c.type), sqrt(n));
        }
        /* every parameter got a (finite) gradient from that backward */
        for (int i = 0; i < ps.count; i++) {
            ck_assert_msg(ps.vars[i]->grad_written, "%s: %s got no gradient", vc_pool_type_name(c.type),
                          ps.info[i].name);
            for (size_t k = 0; k < ps.info[i].numel; k++) ck_assert(isfinite(ps.grad[ps.info[i].offset + k]));
        }
        /* change every padded frame: the outputs must not move at all */
        for (int b = 0; b < B; b++)
            for (int j = (int)lens[b]; j < T; j++)
                for (int d = 0; d < D; d++) vc_f32(&f)[(b * T + j) * D + d] = 50.0f * (float)((d * 7 + j) % 5) - 90;
        run(&m, &f, y2, false);
        for (int i = 0; i < B * D; i++)
            ck_assert_msg(y1[i] == y2[i], "%s: output %d moved from %g to %g when padding changed",
                          vc_pool_type_name(c.type), i, y1[i], y2[i]);
        vc_tensor_release(&f);
        vc_params_free(&ps);
    }
}
END_TEST

START_TEST(test_init_is_seeded_and_follows_the_reference_scheme) {
    vc_pooler_cfg c;
    small_cfg(&c, VC_POOL_TRANSFORMER);
    vc_params p1, p2, p3;
    vc_params_init(&p1);
    vc_params_init(&p2);
    vc_params_init(&p3);
    vc_pooler m1, m2, m3;
    ck_assert_int_eq(vc_pooler_init(&m1, &c, &p1, 7), VC_OK);
    ck_assert_int_eq(vc_pooler_init(&m2, &c, &p2, 7), VC_OK);
    ck_assert_int_eq(vc_pooler_init(&m3, &c, &p3, 8), VC_OK);
    ck_assert(memcmp(p1.data, p2.data, p1.n * sizeof(float)) == 0);
    ck_assert(memcmp(p1.data, p3.data, p1.n * sizeof(float)) != 0);
    int i = vc_params_find(&p1, "pooler.blocks.0.mlp.fc1.weight");
    ck_assert_int_ge(i, 0);
    double s = 0, s2 = 0;
    size_t n = p1.info[i].numel;
    for (size_t k = 0; k < n; k++) {
        double v = p1.data[p1.info[i].offset + k];
        s += v;
        s2 += v * v;
    }
    double sd = sqrt(s2 / n - (s / n) * (s / n));
    ck_assert_msg(sd > 0.017 && sd < 0.023, "fc1 weight std %g, expected 0.02", sd);
    ck_assert(p1.info[i].decay);
    int j = vc_params_find(&p1, "pooler.blocks.0.ln1.weight");
    ck_assert(p1.data[p1.info[j].offset] == 1 && !p1.info[j].decay);
    ck_assert(!p1.info[vc_params_find(&p1, "pooler.pos_emb")].decay);
    int th = vc_params_find(&p1, "pooler.text_head.weight");
    ck_assert(p1.data[p1.info[th].offset] == 1 && p1.data[p1.info[th].offset + 1] == 0);
    vc_params_free(&p1);
    vc_params_free(&p2);
    vc_params_free(&p3);
    /* LSTM: uniform in +-1/sqrt(D) */
    small_cfg(&c, VC_POOL_LSTM);
    vc_params_init(&p1);
    ck_assert_int_eq(vc_pooler_init(&m1, &c, &p1, 7), VC_OK);
    double mx = 0;
    for (size_t k = 0; k < p1.n; k++) mx = fmax(mx, fabs(p1.data[k]));
    ck_assert(mx <= 1 / sqrt((double)D) && mx > 0.9 / sqrt((double)D));
    vc_params_free(&p1);
}
END_TEST

START_TEST(test_bad_sizes_are_clear_errors) {
    vc_pooler_cfg c;
    small_cfg(&c, VC_POOL_TRANSFORMER);
    c.heads = 5;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    ck_assert_int_eq(vc_pooler_init(&m, &c, &ps, 1), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "heads 5"), "%s", vc_last_error());
    vc_pool_type ty;
    ck_assert_int_eq(vc_pool_type_parse("transfomer", &ty), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "transfomer") && strstr(vc_last_error(), "tokenlearner"), "%s",
                  vc_last_error());
    small_cfg(&c, VC_POOL_TRANSFORMER);
    c.max_frames = 4; /* T = 6 is too long */
    ck_assert_int_eq(vc_pooler_init(&m, &c, &ps, 1), VC_OK);
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tensor f, lt;
    vc_tensor_alloc(&f, VC_F32, VC_DIMS(B, T, D));
    vc_tensor_wrap(&lt, (void *)lens, VC_I64, VC_DIMS(B));
    ck_assert_ptr_null(vc_pooler_forward(&t, &m, vc_const(&t, &f), &lt));
    ck_assert_msg(strstr(vc_last_error(), "max_frames 4"), "%s", vc_last_error());
    vc_tape_reset(&t);
    vc_tensor g;
    vc_tensor_alloc(&g, VC_F32, VC_DIMS(B, T, D + 1));
    ck_assert_ptr_null(vc_pooler_forward(&t, &m, vc_const(&t, &g), &lt));
    ck_assert_msg(strstr(vc_last_error(), "[3,6,17]"), "%s", vc_last_error());
    vc_tensor_release(&f);
    vc_tensor_release(&g);
    vc_tape_free(&t);
    vc_params_free(&ps);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("poolers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_pooler_is_normalised_and_blind_to_padding);
    tcase_add_test(tc, test_init_is_seeded_and_follows_the_reference_scheme);
    tcase_add_test(tc, test_bad_sizes_are_clear_errors);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
