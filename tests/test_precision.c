/* test_precision.c: the bf16 compute mode (tensor/precision.h) against
 * float32, end to end.
 * - CLIP towers (models/clip.h vc_clip_set_precision): on random CLIPs of
 *   the test size and of a medium size (width 256, 4 blocks), every image and
 *   text embedding in bf16 has cosine >= 0.999 with its float32 twin, the
 *   zero-shot argmax (each test image against each prompt) is unchanged, the
 *   matrices really are held in bf16 (half the bytes) and the embeddings
 *   really differ from float32 (so a silent float32 path fails); loading with
 *   opts.precision gives the same model as converting after the load; a bf16
 *   model refuses to be saved.
 * - Training ([train] precision = bf16, autograd/op_gemm.h): a short run of
 *   every pooler on a synthetic file reaches mean R@1 (t2v, v2t) within 1
 *   point of the float32 run, evaluated on all 600 videos; with bf16 the
 *   losses differ from float32's (the products did change), except for the
 *   pooler without matrix products (mean): the loss, with its similarity
 *   products, stays float32, so its losses are identical.
 * - The fused linear (LayerNorm / GELU written in bf16 for its product)
 *   against the separate ops in bf16, output and gradients.
 * Without native bf16 products (VCLIP_BF16=off, or a CPU without
 * AVX512_BF16) these print SKIP and check only the fallback: bf16 asked,
 * float32 given, and a reason line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip_fixtures.h"
#include "harness.h"
#include "autograd/op_gemm.h"
#include "autograd/ops.h"
#include "autograd/params.h"
#include "data/synth.h"
#include "models/clip.h"
#include "tensor/k_gemm_bf16.h"
#include "tensor/precision.h"
#include "tensor/rng.h"
#include "train/run_config.h"
#include "train/step.h"
#include "train/trainer.h"

static bool have_bf16(void) { return vc_precision_on(vc_backend_for(VC_CPU), VC_PREC_BF16) == VC_PREC_BF16; }

/* ---- CLIP ------------------------------------------------------------------ */

/* Embeddings of both towers, L2-normalised rows, into img [Ni, E] and txt [Nt, E]. */
static void embed(const vc_clip *m, const vc_tensor *images, const vc_tensor *ids, float *img, float *txt) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    vc_var *a = vc_clip_encode_image(&t, m, images);
    ck_assert_msg(a, "%s", vc_last_error());
    int64_t E = m->cfg.embed, Ni = images->ne[0], Nt = ids->ne[0];
    memcpy(img, vc_f32(&a->val), (size_t)(Ni * E) * sizeof(float));
    vc_var *b = vc_clip_encode_text(&t, m, ids);
    ck_assert_msg(b, "%s", vc_last_error());
    memcpy(txt, vc_f32(&b->val), (size_t)(Nt * E) * sizeof(float));
    vc_tape_free(&t);
    for (int64_t i = 0; i < Ni + Nt; i++) {
        float *row = i < Ni ? img + i * E : txt + (i - Ni) * E;
        double s = 0;
        for (int64_t j = 0; j < E; j++) s += (double)row[j] * row[j];
        for (int64_t j = 0; j < E; j++) row[j] = (float)(row[j] / sqrt(s));
    }
}

static void check_clip(int64_t width, int64_t layers, int64_t image, int64_t patch) {
    vc_clip_cfg cfg;
    vc_fx_clip_cfg(&cfg, width, layers, image, patch);
    vc_clip m;
    ck_assert_int_eq(vc_clip_init_random(&m, &cfg, 5), VC_OK);
    enum { NI = 12, NT = 10 };
    vc_tensor images, ids;
    vc_fx_images(&images, NI, image);
    vc_fx_prompts(&ids, NT, cfg.context, cfg.vocab);
    int64_t E = cfg.embed;
    float *i32 = malloc(sizeof(float) * NI * E), *t32 = malloc(sizeof(float) * NT * E);
    float *i16 = malloc(sizeof(float) * NI * E), *t16 = malloc(sizeof(float) * NT * E);
    ck_assert(i32 && t32 && i16 && t16);
    embed(&m, &images, &ids, i32, t32);
    size_t bytes32 = vc_fx_weight_bytes(&m);
    ck_assert_int_eq(vc_clip_set_precision(&m, VC_PREC_BF16), VC_OK);
    ck_assert_int_eq(m.precision, VC_PREC_BF16);
    ck_assert_int_eq(m.vblocks[0].fc1_w.dtype, VC_BF16);
    ck_assert_int_eq(m.tblocks[0].qkv_w.dtype, VC_BF16);
    ck_assert_int_eq(m.patch_w.dtype, VC_BF16);
    ck_assert_int_eq(m.ln_post_g.dtype, VC_F32); /* LayerNorm stays float32 */
    ck_assert_uint_eq(vc_fx_weight_bytes(&m) * 2, bytes32);
    embed(&m, &images, &ids, i16, t16);
    double worst = 1, diff = 0;
    for (int64_t r = 0; r < NI + NT; r++) {
        const float *a = r < NI ? i32 + r * E : t32 + (r - NI) * E, *b = r < NI ? i16 + r * E : t16 + (r - NI) * E;
        double ab = 0;
        for (int64_t j = 0; j < E; j++) {
            ab += (double)a[j] * b[j];
            diff = fmax(diff, fabs((double)a[j] - b[j]));
        }
        ck_assert_msg(ab >= 0.999, "width %lld: %s embedding %lld: cosine bf16 vs fp32 %.6f < 0.999",
                      (long long)width, r < NI ? "image" : "text", (long long)(r < NI ? r : r - NI), ab);
        worst = fmin(worst, ab);
    }
    ck_assert_msg(diff > 1e-5, "width %lld: bf16 embeddings equal float32's (max diff %g): bf16 did not run",
                  (long long)width, diff);
    char what[64];
    snprintf(what, sizeof what, "width %lld: bf16", (long long)width);
    double min_margin = vc_fx_same_zero_shot(what, i32, t32, i16, t16, NI, NT, E);
    printf("clip width %lld x%lld: worst cosine bf16 vs fp32 %.6f over %d embeddings, max |diff| %.3g, zero-shot "
           "argmax unchanged for %d images x %d prompts (smallest fp32 margin %.3g)\n",
           (long long)width, (long long)layers, worst, NI + NT, diff, NI, NT, min_margin);

    /* loading with opts.precision = converting after the load */
    char path[512];
    snprintf(path, sizeof path, "%s/prec_%lld.safetensors", vc_test_tmpdir(), (long long)width);
    ck_assert_int_eq(vc_clip_save(&m, path, VC_CLIP_NAMES_OPENAI), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "bf16"), "message: %s", vc_last_error());
    vc_clip f;
    ck_assert_int_eq(vc_clip_init_random(&f, &cfg, 5), VC_OK);
    ck_assert_int_eq(vc_clip_save(&f, path, VC_CLIP_NAMES_OPENAI), VC_OK);
    vc_clip_free(&f);
    vc_clip_opts o = {.precision = VC_PREC_BF16};
    ck_assert_int_eq(vc_clip_load(&f, path, &o), VC_OK);
    ck_assert_int_eq(f.precision, VC_PREC_BF16);
    ck_assert(memcmp(f.vblocks[layers - 1].fc2_w.data, m.vblocks[layers - 1].fc2_w.data,
                     (size_t)vc_numel(&m.vblocks[layers - 1].fc2_w) * 2) == 0);
    float *i2 = malloc(sizeof(float) * NI * E), *t2 = malloc(sizeof(float) * NT * E);
    embed(&f, &images, &ids, i2, t2);
    ck_assert(memcmp(i2, i16, sizeof(float) * NI * E) == 0 && memcmp(t2, t16, sizeof(float) * NT * E) == 0);
    /* and back to float32 */
    ck_assert_int_eq(vc_clip_set_precision(&f, VC_PREC_FP32), VC_OK);
    ck_assert_int_eq(f.vblocks[0].fc1_w.dtype, VC_F32);
    free(i2);
    free(t2);
    vc_clip_free(&f);
    free(i32);
    free(t32);
    free(i16);
    free(t16);
    vc_tensor_release(&images);
    vc_tensor_release(&ids);
    vc_clip_free(&m);
}

START_TEST(test_clip_towers_in_bf16_match_float32) {
    if (!have_bf16()) {
        printf("SKIP: CLIP bf16 vs fp32 (%s)\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
        return;
    }
    check_clip(64, 2, 32, 8);
    check_clip(256, 4, 64, 8);
}
END_TEST

START_TEST(test_bf16_falls_back_to_float32_with_a_reason) {
    const vc_backend *be = vc_backend_for(VC_CPU);
    vc_precision p;
    ck_assert_int_eq(vc_precision_parse("bf16", &p), VC_OK);
    ck_assert_int_eq(p, VC_PREC_BF16);
    ck_assert_int_eq(vc_precision_parse("fp16", &p), VC_OK); /* CUDA's inference mode (test_clip_cuda) */
    ck_assert_int_eq(p, VC_PREC_FP16);
    ck_assert_int_eq(vc_precision_parse("fp8", &p), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "fp8") && strstr(vc_last_error(), "bf16"), "%s", vc_last_error());
    ck_assert_str_eq(vc_precision_fallback_reason(be, VC_PREC_FP32), "");
    if (have_bf16()) {
        ck_assert_str_eq(vc_precision_fallback_reason(be, VC_PREC_BF16), "");
    } else {
        ck_assert_int_eq(vc_precision_on(be, VC_PREC_BF16), VC_PREC_FP32);
        ck_assert_msg(strstr(vc_precision_fallback_reason(be, VC_PREC_BF16), "float32"), "reason: %s",
                      vc_precision_fallback_reason(be, VC_PREC_BF16));
        vc_clip_cfg cfg;
        vc_fx_clip_cfg(&cfg, 64, 1, 16, 8);
        vc_clip m;
        ck_assert_int_eq(vc_clip_init_random(&m, &cfg, 1), VC_OK);
        ck_assert_int_eq(vc_clip_set_precision(&m, VC_PREC_BF16), VC_OK);
        ck_assert_int_eq(m.precision, VC_PREC_FP32);
        ck_assert_int_eq(m.vblocks[0].fc1_w.dtype, VC_F32);
        vc_clip_free(&m);
        vc_tape t;
        vc_tape_init(&t, 0);
        ck_assert_int_eq(vc_tape_precision(&t, VC_PREC_BF16), VC_PREC_FP32);
        vc_tape_free(&t);
    }
}
END_TEST

/* The binary with VCLIP_BF16=off: bf16 asked, float32 computed, one line
 * saying so (once, though the bench asks twice: tape and roof). */
START_TEST(test_binary_reports_the_fallback_once) {
    const char *bin = getenv("VCLIP_BIN");
    if (!bin || !*bin) {
        printf("SKIP: the fallback line of the binary (VCLIP_BIN is not set)\n");
        return;
    }
    char cmd[1024], out[700];
    snprintf(out, sizeof out, "%s/fallback.txt", vc_test_tmpdir());
    snprintf(cmd, sizeof cmd, "VCLIP_BF16=off '%s' bench train --model transformer --batch 4 --frames 2 --dim 16 "
                              "--layers 1 --heads 2 --seconds 0.01 --precision bf16 > '%s' 2>&1", bin, out);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int said = 0, fp32 = 0;
    while (fgets(line, sizeof line, f)) {
        said += strstr(line, "VCLIP_BF16=off is set; computing in float32") != NULL;
        fp32 += strstr(line, " fp32: ") != NULL && strstr(line, "ms/step") != NULL;
    }
    fclose(f);
    ck_assert_msg(said == 1, "the fallback line appeared %d times", said);
    ck_assert_msg(fp32 == 1, "the step line does not say fp32");
    snprintf(cmd, sizeof cmd, "'%s' bench train --precision fp16 > '%s' 2>&1", bin, out);
    ck_assert_int_ne(system(cmd), 0);
}
END_TEST

/* ---- training ---------------------------------------------------------------- */

static char data_path[512];

static void make_data(void) {
    snprintf(data_path, sizeof data_path, "%s/prec_synth.h5", vc_test_tmpdir());
    vc_synth_opts o;
    vc_synth_defaults(&o);
    o.n_videos = 600;
    o.dim = 64;
    o.max_frames = 12;
    o.min_frames = 4;
    o.seed = 3;
    if (vc_synth_write(data_path, &o, NULL)) data_path[0] = 0;
}

typedef struct {
    double r1, loss;
    int evals;
} run_out;

static void on_eval(void *ud, int64_t step, const vc_eval_result *r, bool best) {
    (void)step;
    (void)best;
    run_out *o = ud;
    o->r1 = (r->t2v.r1 + r->v2t.r1) / 2;
    o->evals++;
}

static void on_step(void *ud, const vc_train_progress *p) { ((run_out *)ud)->loss = p->loss; }

static run_out train_once(const char *type, const char *prec) {
    char dir[600], text[4096];
    snprintf(dir, sizeof dir, "%s/prec_%s_%s", vc_test_tmpdir(), type, prec);
    snprintf(text, sizeof text,
             "[data]\nfile = %s\nframes = 12\ntrain_sampling = uniform\neval_sampling = uniform\nprefetch = 0\n"
             "val_split = all\n"
             "[model]\ntype = %s\nlayers = 1\nheads = 4\n"
             "[train]\nbatch = 32\nsteps = 60\nlr = 2e-3\nwarmup = 5\nseed = 1\neval_every = 60\n"
             "checkpoint_every = 60\nlog_every = 10\nout_dir = %s\nprecision = %s\n"
             "[eval]\nsplit = all\nbatch = 200\nzero_shot = false\n",
             data_path, type, dir, prec);
    vc_config *cfg;
    vc_run_cfg rc;
    ck_assert_msg(vc_run_config_parse(text, "prec.ini", NULL, 0, &cfg, &rc) == VC_OK, "%s", vc_last_error());
    run_out o = {0};
    vc_train_hooks h = {.on_step = on_step, .on_eval = on_eval, .ud = &o};
    ck_assert_msg(vc_train_run(cfg, &rc, false, &h) == VC_OK, "%s %s: %s", type, prec, vc_last_error());
    vc_config_free(cfg);
    ck_assert_int_ge(o.evals, 1);
    return o;
}

START_TEST(test_every_pooler_trains_in_bf16_to_float32_recall) {
    if (!have_bf16()) {
        printf("SKIP: bf16 training (%s)\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
        return;
    }
    ck_assert_msg(data_path[0], "the synthetic data could not be written");
    const char *types[] = {"mean", "wavg", "mlp_mean", "transformer", "cross_attn", "lstm", "tokenlearner"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        run_out a = train_once(types[i], "fp32"), b = train_once(types[i], "bf16");
        printf("%-12s mean R@1 on 600 videos: fp32 %.2f, bf16 %.2f (diff %+.2f); last logged loss fp32 %.5f, bf16 "
               "%.5f\n", types[i], a.r1, b.r1, b.r1 - a.r1, a.loss, b.loss);
        ck_assert_msg(fabs(a.r1 - b.r1) <= 1.0, "%s: mean R@1 fp32 %.2f vs bf16 %.2f differ by more than 1 point",
                      types[i], a.r1, b.r1);
        /* mean has no matrix products, and the loss's own products stay float32 */
        if (strcmp(types[i], "mean") == 0)
            ck_assert_msg(a.loss == b.loss, "%s: bf16 loss %.6f differs from fp32's %.6f: something besides the "
                          "poolers' products ran in bf16", types[i], b.loss, a.loss);
        else
            ck_assert_msg(a.loss != b.loss, "%s: bf16 and fp32 losses are identical (%.6f): bf16 did not run",
                          types[i], a.loss);
    }
}
END_TEST

/* Four steps of a transformer pooler with the tape's step number left
 * alone (as `vclip bench train` does): the bf16 copies of the weights must
 * follow the optimiser's updates, so the losses track float32's step by
 * step (a stale copy leaves the bf16 loss near its first value). */
START_TEST(test_bf16_weight_copies_follow_the_optimiser_and_primitives_are_reused) {
    if (!have_bf16()) {
        printf("SKIP: bf16 weight copies (%s)\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
        return;
    }
    enum { B = 16, T = 8, D = 128, STEPS = 4 };
    double loss[2][STEPS];
    for (int p = 0; p < 2; p++) {
        vc_pooler_cfg cfg;
        vc_pooler_cfg_default(&cfg, VC_POOL_TRANSFORMER, D);
        cfg.layers = 1;
        cfg.heads = 4;
        cfg.max_frames = T;
        vc_params ps;
        vc_params_init(&ps);
        vc_pooler m;
        vc_var *scale;
        vc_adamw opt = {0};
        vc_adamw_cfg oc = {0.9, 0.98, 1e-6, 0.2};
        ck_assert_int_eq(vc_pooler_init(&m, &cfg, &ps, 0), VC_OK);
        ck_assert_ptr_nonnull(scale = vc_logit_scale_init(&ps));
        ck_assert_int_eq(vc_adamw_init(&opt, &ps, &oc), VC_OK);
        vc_tensor frames, text, len;
        ck_assert_int_eq(vc_step_random_batch(B, T, D, 0, &frames, &len, &text), VC_OK);
        vc_tape tape;
        vc_tape_init(&tape, 0);
        ck_assert_int_eq(vc_tape_precision(&tape, p ? VC_PREC_BF16 : VC_PREC_FP32), p ? VC_PREC_BF16 : VC_PREC_FP32);
        vc_step_ctx ctx = {&m, &ps, scale, &opt, &tape, 1.0, 0, NULL, false, NULL, NULL, NULL, 0};
        vc_step_out so;
        long made = 0;
        for (int s = 0; s < STEPS; s++) {
            ck_assert_msg(vc_train_step(&ctx, &frames, &len, &text, 1e-3, &so) == VC_OK, "%s", vc_last_error());
            loss[p][s] = so.loss;
            if (s == 1) made = vc_gemm_bf16_primitives();
        }
        /* every later step repeats the products of the first: no new oneDNN
         * primitive (the cache key once held stack bytes in its padding, and
         * each miss compiled another, with its own scratchpad) */
        if (p) ck_assert_int_eq(vc_gemm_bf16_primitives(), made);
        vc_tape_free(&tape);
        vc_adamw_free(&opt);
        vc_params_free(&ps);
        vc_tensor_release(&frames);
        vc_tensor_release(&text);
        vc_tensor_release(&len);
    }
    for (int s = 0; s < STEPS; s++)
        ck_assert_msg(fabs(loss[1][s] - loss[0][s]) <= 2e-3 * fabs(loss[0][s]),
                      "step %d: bf16 loss %.6f, fp32 %.6f (fp32 went from %.6f to %.6f)", s, loss[1][s], loss[0][s],
                      loss[0][0], loss[0][STEPS - 1]);
    ck_assert_msg(fabs(loss[0][STEPS - 1] - loss[0][0]) > 0.05, "the fp32 loss did not move: %.6f -> %.6f", loss[0][0],
                  loss[0][STEPS - 1]);
}
END_TEST

/* ---- the fused linear in bf16 against the unfused ops ---------------------- */

/* One run of y = T(x) w^T + bias (+ x as residual when IN == OUT), loss =
 * sum(y * c), on a tape of precision prec, fused (vc_linear_fused) or as
 * the separate ops (layernorm / gelu / quickgelu, linear, add). Returns the
 * loss; y and the gradients of x, w, bias, gamma, beta go to out (n each:
 * R*OUT, R*IN, OUT*IN, OUT, IN, IN, in that order). */
static double fused_run(vc_pre pre, bool res, bool fused, vc_precision prec, int64_t R, int64_t IN, int64_t OUT,
                        double *out) {
    vc_params ps;
    vc_params_init(&ps);
    vc_var *w = vc_params_add(&ps, "w", VC_DIMS(OUT, IN), true), *b = vc_params_add(&ps, "b", VC_DIMS(OUT), false);
    vc_var *g = vc_params_add(&ps, "g", VC_DIMS(IN), false), *be = vc_params_add(&ps, "be", VC_DIMS(IN), false);
    ck_assert(w && b && g && be);
    vc_rng r;
    vc_rng_seed(&r, 5);
    for (int64_t i = 0; i < OUT * IN; i++) vc_f32(&w->val)[i] = (float)(vc_rng_normal(&r) / sqrt((double)IN));
    for (int64_t i = 0; i < OUT; i++) vc_f32(&b->val)[i] = (float)vc_rng_normal(&r) * 0.1f;
    for (int64_t i = 0; i < IN; i++) vc_f32(&g->val)[i] = 1 + (float)vc_rng_normal(&r) * 0.1f;
    for (int64_t i = 0; i < IN; i++) vc_f32(&be->val)[i] = (float)vc_rng_normal(&r) * 0.1f;
    vc_tensor xt, ct;
    ck_assert_int_eq(vc_tensor_alloc(&xt, VC_F32, VC_DIMS(R, IN)), VC_OK);
    ck_assert_int_eq(vc_tensor_alloc(&ct, VC_F32, VC_DIMS(R, OUT)), VC_OK);
    for (int64_t i = 0; i < R * IN; i++) vc_f32(&xt)[i] = (float)vc_rng_normal(&r) + 0.3f;
    for (int64_t i = 0; i < R * OUT; i++) vc_f32(&ct)[i] = (float)vc_rng_normal(&r);
    vc_tape t;
    vc_tape_init(&t, 0);
    ck_assert_int_eq(vc_tape_precision(&t, prec), prec);
    vc_var *x = vc_const(&t, &xt), *c = vc_const(&t, &ct);
    ck_assert(x && c);
    x->requires_grad = true;
    bool ln = pre == VC_PRE_LAYERNORM;
    vc_var *y;
    if (fused) {
        y = vc_linear_fused(&t, x, pre, ln ? g : NULL, ln ? be : NULL, w, b, res ? x : NULL);
    } else {
        vc_var *u = ln ? vc_layernorm(&t, x, g, be, (vc_real)1e-5) : pre == VC_PRE_GELU ? vc_gelu(&t, x) : vc_quickgelu(&t, x);
        y = vc_linear(&t, u, w, b);
        if (res) y = vc_add(&t, y, x);
    }
    vc_var *loss = vc_sum_all(&t, vc_mul(&t, y, c));
    ck_assert_msg(loss && vc_tape_status(&t) == VC_OK, "%s", vc_last_error());
    vc_params_zero_grad(&ps);
    ck_assert_msg(vc_backward(&t, loss) == VC_OK, "%s", vc_last_error());
    vc_params_finish_grad(&ps);
    const vc_var *src[6] = {y, x, w, b, g, be};
    int64_t n[6] = {R * OUT, R * IN, OUT * IN, OUT, IN, IN};
    for (int k = 0; k < 6; k++) {
        const float *v = k == 0 ? vc_f32(&src[k]->val) : vc_f32(&src[k]->grad);
        bool none = k > 0 && (!src[k]->grad.data || (k >= 4 && !ln));
        for (int64_t i = 0; i < n[k]; i++) *out++ = none ? 0 : v[i];
    }
    double l = vc_f32(&loss->val)[0];
    vc_tape_free(&t);
    vc_params_free(&ps);
    vc_tensor_release(&xt);
    vc_tensor_release(&ct);
    return l;
}

/* Largest |a - b| over n, relative to the largest |b|. */
static double rel_diff(const double *a, const double *b, int64_t n) {
    double d = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return m > 0 ? d / m : d;
}

/* vc_linear_fused in bf16 writes its LayerNorm / GELU output straight to
 * bf16 for the product (layernorm_fwd_bf16, unary_fwd_bf16) and recomputes
 * it so in the backward: the output and every gradient must match the
 * separate ops in bf16 (whose products round the same float32 values to the
 * same bf16) to float32 summation order (1e-5 of the largest value), and
 * must differ from float32 by more than that (the products really were
 * bf16). 2100 x 512 rows make the backward's recomputation run in two
 * blocks. With LayerNorm, the fused weight gradient is computed both ways
 * (dW^T = u^T G with u recomputed transposed, where the backend asks for
 * it, and dW = G^T u): each within the same bound. The finite-difference
 * check of the op's gradients is test_grad_ops.c's (double precision,
 * where bf16 does not exist). */
START_TEST(test_fused_linear_in_bf16_matches_the_separate_ops) {
    if (!have_bf16()) {
        printf("SKIP: fused linear in bf16 (%s)\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
        return;
    }
    const vc_pre pres[3] = {VC_PRE_LAYERNORM, VC_PRE_GELU, VC_PRE_QUICKGELU};
    const char *names[6] = {"y", "dx", "dw", "dbias", "dgamma", "dbeta"};
    for (int p = 0; p < 3; p++)
        for (int res = 0; res < 2; res++) {
            int64_t R = res ? 70 : 2100, IN = res ? 48 : 512, OUT = res ? 48 : 40;
            int64_t n[6] = {R * OUT, R * IN, OUT * IN, OUT, IN, IN}, tot = 0;
            for (int k = 0; k < 6; k++) tot += n[k];
            double *f = malloc((size_t)tot * sizeof(double)), *u = malloc((size_t)tot * sizeof(double));
            double *f32 = malloc((size_t)tot * sizeof(double));
            ck_assert(f && u && f32);
            long runs = vc_op_wgrad_transposed_runs();
            double lf = fused_run(pres[p], res, true, VC_PREC_BF16, R, IN, OUT, f);
            bool tw = pres[p] == VC_PRE_LAYERNORM && vc_backend_for(VC_CPU)->wgrad_transposed;
            ck_assert_int_eq(vc_op_wgrad_transposed_runs() - runs, tw ? 1 : 0);
            double lu = fused_run(pres[p], res, false, VC_PREC_BF16, R, IN, OUT, u);
            fused_run(pres[p], res, true, VC_PREC_FP32, R, IN, OUT, f32);
            double worst = 0, off = 0;
            for (int way = 0; way < (tw ? 2 : 1); way++) {
                if (way == 1) { /* the weight gradient as dW = G^T u */
                    vc_op_set_wgrad_transposed(false);
                    runs = vc_op_wgrad_transposed_runs();
                    lf = fused_run(pres[p], res, true, VC_PREC_BF16, R, IN, OUT, f);
                    vc_op_set_wgrad_transposed(true);
                    ck_assert_int_eq(vc_op_wgrad_transposed_runs(), runs);
                }
                int64_t o = 0;
                for (int k = 0; k < 6; k++, o += n[k - 1]) {
                    if (k >= 4 && pres[p] != VC_PRE_LAYERNORM) continue;
                    double e = rel_diff(f + o, u + o, n[k]);
                    ck_assert_msg(e <= 1e-5, "pre %d residual %d%s: fused bf16 %s differs from the separate ops by "
                                  "%.3g of its largest value", (int)pres[p], res, way ? " (dW = G^T u)" : "",
                                  names[k], e);
                    worst = fmax(worst, e);
                    if (k <= 2) off = fmax(off, rel_diff(f + o, f32 + o, n[k]));
                }
            }
            ck_assert_msg(fabs(lf - lu) <= 1e-5 * fmax(1, fabs(lu)), "losses %.9g and %.9g", lf, lu);
            ck_assert_msg(off > 1e-4, "pre %d residual %d: bf16 is within %.3g of float32: not bf16 products",
                          (int)pres[p], res, off);
            printf("linear_fused pre %d residual %d [%lld x %lld -> %lld] bf16: fused vs separate ops %.2g, vs "
                   "float32 %.2g\n", (int)pres[p], res, (long long)R, (long long)IN, (long long)OUT, worst, off);
            free(f);
            free(u);
            free(f32);
        }
}
END_TEST

/* ---- an MLP block: the GELU layer hands its input gradient, rounded and
 * summed, to the layer before (vc_op_round_carry) ---------------------------- */

enum { MLP_R = 4500, MLP_D = 32, MLP_H = 256 };

/* y = fc2(GELU(fc1(LN(x)))) + x, loss = sum(y * c) (+ sum(f * c2), f =
 * fc1's output, as a second reader of f recorded before fc2 when reader2),
 * bf16, fused (vc_linear_fused) or the separate ops. y and the gradients of
 * x, w1, b1, gamma, beta, w2, b2 go to out in that order; *carried gets the
 * tape's vc_op_round_carried. 4500 rows make the GELU layer's backward run
 * in two blocks of rows. */
static void mlp_run(bool fused, bool reader2, double *out, long *carried) {
    vc_params ps;
    vc_params_init(&ps);
    vc_var *w1 = vc_params_add(&ps, "w1", VC_DIMS(MLP_H, MLP_D), true), *b1 = vc_params_add(&ps, "b1", VC_DIMS(MLP_H), false);
    vc_var *w2 = vc_params_add(&ps, "w2", VC_DIMS(MLP_D, MLP_H), true), *b2 = vc_params_add(&ps, "b2", VC_DIMS(MLP_D), false);
    vc_var *g = vc_params_add(&ps, "g", VC_DIMS(MLP_D), false), *be = vc_params_add(&ps, "be", VC_DIMS(MLP_D), false);
    ck_assert(w1 && b1 && w2 && b2 && g && be);
    vc_rng r;
    vc_rng_seed(&r, 9);
    vc_var *all[6] = {w1, b1, w2, b2, g, be};
    for (int k = 0; k < 6; k++) {
        int64_t n = vc_numel(&all[k]->val);
        double sd = k == 0 ? 1 / sqrt((double)MLP_D) : k == 2 ? 1 / sqrt((double)MLP_H) : 0.1;
        for (int64_t i = 0; i < n; i++) vc_f32(&all[k]->val)[i] = (k == 4 ? 1.0f : 0.0f) + (float)(vc_rng_normal(&r) * sd);
    }
    vc_tensor xt, ct, c2t;
    ck_assert_int_eq(vc_tensor_alloc(&xt, VC_F32, VC_DIMS(MLP_R, MLP_D)), VC_OK);
    ck_assert_int_eq(vc_tensor_alloc(&ct, VC_F32, VC_DIMS(MLP_R, MLP_D)), VC_OK);
    ck_assert_int_eq(vc_tensor_alloc(&c2t, VC_F32, VC_DIMS(MLP_R, MLP_H)), VC_OK);
    for (int64_t i = 0; i < MLP_R * MLP_D; i++) vc_f32(&xt)[i] = (float)vc_rng_normal(&r);
    for (int64_t i = 0; i < MLP_R * MLP_D; i++) vc_f32(&ct)[i] = (float)vc_rng_normal(&r);
    for (int64_t i = 0; i < MLP_R * MLP_H; i++) vc_f32(&c2t)[i] = (float)vc_rng_normal(&r) * 0.5f;
    vc_tape t;
    vc_tape_init(&t, 0);
    ck_assert_int_eq(vc_tape_precision(&t, VC_PREC_BF16), VC_PREC_BF16);
    vc_var *x = vc_const(&t, &xt), *c = vc_const(&t, &ct), *c2 = vc_const(&t, &c2t);
    ck_assert(x && c && c2);
    x->requires_grad = true;
    vc_var *f = fused ? vc_linear_fused(&t, x, VC_PRE_LAYERNORM, g, be, w1, b1, NULL)
                      : vc_linear(&t, vc_layernorm(&t, x, g, be, (vc_real)1e-5), w1, b1);
    vc_var *side = reader2 ? vc_sum_all(&t, vc_mul(&t, f, c2)) : NULL;
    vc_var *y = fused ? vc_linear_fused(&t, f, VC_PRE_GELU, NULL, NULL, w2, b2, x)
                      : vc_add(&t, vc_linear(&t, vc_gelu(&t, f), w2, b2), x);
    vc_var *loss = vc_sum_all(&t, vc_mul(&t, y, c));
    if (side) loss = vc_add(&t, loss, side);
    ck_assert_msg(loss && vc_tape_status(&t) == VC_OK, "%s", vc_last_error());
    vc_params_zero_grad(&ps);
    ck_assert_msg(vc_backward(&t, loss) == VC_OK, "%s", vc_last_error());
    vc_params_finish_grad(&ps);
    *carried = vc_op_round_carried(&t);
    const vc_var *src[8] = {y, x, w1, b1, g, be, w2, b2};
    for (int k = 0; k < 8; k++) {
        const float *v = k == 0 ? vc_f32(&src[k]->val) : vc_f32(&src[k]->grad);
        for (int64_t i = 0; i < vc_numel(&src[k]->val); i++) *out++ = v[i];
    }
    vc_tape_free(&t);
    vc_params_free(&ps);
    vc_tensor_release(&xt);
    vc_tensor_release(&ct);
    vc_tensor_release(&c2t);
}

/* The fused MLP in bf16 against the separate ops: within float32 summation
 * order (1e-5 of the largest value) for the output and every gradient. The
 * GELU layer must have handed its rounded, summed input gradient to fc1 (one
 * carry) when fc2 is f's only reader, and must not when another op also
 * reads f (its gradient then still grows after fc2's backward: a carry would
 * miss that part, far beyond 1e-5). */
START_TEST(test_mlp_in_bf16_hands_the_rounded_gradient_to_the_layer_before) {
    if (!have_bf16()) {
        printf("SKIP: MLP in bf16 (%s)\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
        return;
    }
    const char *names[8] = {"y", "dx", "dw1", "db1", "dgamma", "dbeta", "dw2", "db2"};
    const int64_t n[8] = {MLP_R * MLP_D, MLP_R * MLP_D, MLP_H * MLP_D, MLP_H, MLP_D, MLP_D, MLP_D * MLP_H, MLP_D};
    int64_t tot = 0;
    for (int k = 0; k < 8; k++) tot += n[k];
    double *f = malloc((size_t)tot * sizeof(double)), *u = malloc((size_t)tot * sizeof(double));
    ck_assert(f && u);
    for (int reader2 = 0; reader2 < 2; reader2++) {
        long cf = -1, cu = -1;
        mlp_run(true, reader2, f, &cf);
        mlp_run(false, reader2, u, &cu);
        ck_assert_msg(cf == (reader2 ? 0 : 1), "second reader %d: %ld carries", reader2, cf);
        ck_assert_int_eq(cu, 0);
        double worst = 0;
        int64_t o = 0;
        for (int k = 0; k < 8; o += n[k], k++) {
            double e = rel_diff(f + o, u + o, n[k]);
            ck_assert_msg(e <= 1e-5, "second reader %d: fused bf16 %s differs from the separate ops by %.3g of its "
                          "largest value", reader2, names[k], e);
            worst = fmax(worst, e);
        }
        printf("MLP [%d x %d -> %d] bf16, second reader %d: %ld carries, fused vs separate ops %.2g\n", MLP_R, MLP_D,
               MLP_H, reader2, cf, worst);
    }
    free(f);
    free(u);
}
END_TEST

static Suite *precision_suite(void) {
    make_data();
    Suite *s = suite_create("precision");
    TCase *tc = tcase_create("bf16");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_bf16_falls_back_to_float32_with_a_reason);
    tcase_add_test(tc, test_binary_reports_the_fallback_once);
    tcase_add_test(tc, test_clip_towers_in_bf16_match_float32);
    tcase_add_test(tc, test_bf16_weight_copies_follow_the_optimiser_and_primitives_are_reused);
    tcase_add_test(tc, test_fused_linear_in_bf16_matches_the_separate_ops);
    tcase_add_test(tc, test_mlp_in_bf16_hands_the_rounded_gradient_to_the_layer_before);
    tcase_add_test(tc, test_every_pooler_trains_in_bf16_to_float32_recall);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(precision_suite)
