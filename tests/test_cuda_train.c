/* Training on the cuda backend (the CPU emulator, tensor/cuda/README.md)
 * against the cpu backend: every pooler trains 20 steps on each with the same
 * data and seed and the losses agree within LOSS_TOL; a checkpoint written
 * at step 10 on one device loads on the other and continues with the losses
 * of the run that wrote it; a steady-state step makes no cudaMalloc; asking
 * for a GPU where none is present is one error naming it.
 * Linked against the emulated CUDA library (Makefile CUDA_EMU_TESTS). Run
 * with VC_CUDA_EMU_PROTECT=1 (make test does), host code touching device
 * memory crashes here instead of passing silently. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tensor/backend.h"
#include "models/pooler.h"
#include "tensor/backend_cuda.h"
#include "tensor/cuda/emu_runtime.h"
#include "tensor/device.h"
#include "tensor/precision.h"
#include "autograd/op_gemm.h"
#include "train/checkpoint.h"
#include "train/step.h"
#include "train/trainer.h"

enum { B = 4, T = 5, D = 8, STEPS = 20, HALF = 10, DMAX = 64 };

/* The feature width of the runs made next (D; the bf16 test's wider). */
static int64_t dim = D;

/* Losses of the two devices may differ by the kernels' summation orders
 * (float32 roundings, ~1e-7 relative per op) carried through 20 AdamW
 * steps; a wrong kernel or a stale buffer moves them by far more. */
#define LOSS_TOL 1e-4

typedef struct {
    vc_params ps;
    vc_pooler m;
    vc_var *scale;
    vc_adamw opt;
    vc_tape tape;
    vc_step_ctx sc;
} run;

static void small_cfg(vc_pooler_cfg *c, vc_pool_type type) {
    vc_pooler_cfg_default(c, type, dim);
    c->width = type == VC_POOL_CROSS_ATTN ? 12 : dim;
    c->heads = 2;
    c->layers = 1;
    c->tokens = 2;
    c->hidden = 6;
    c->max_frames = T;
    c->mlp_ratio = 2;
    c->mlp_layers = type == VC_POOL_MLP_MEAN ? 2 : type == VC_POOL_CROSS_ATTN ? 1 : c->mlp_layers;
    c->text_head = type == VC_POOL_TRANSFORMER || type == VC_POOL_MEAN;
    /* the transformer with dropout: both backends draw the same masks */
    c->dropout = type == VC_POOL_TRANSFORMER ? 0.1f : 0;
}

/* Loop index VC_POOL_NTYPES: the transformer without dropout (its fused
 * blocks, and a step that replays as a graph). */
static void run_init_prec(run *r, int variant, vc_device dev, bool graph, vc_precision prec) {
    memset(r, 0, sizeof *r);
    vc_pooler_cfg c;
    small_cfg(&c, variant == VC_POOL_NTYPES ? VC_POOL_TRANSFORMER : (vc_pool_type)variant);
    if (variant == VC_POOL_NTYPES) c.dropout = 0;
    vc_params_init(&r->ps);
    ck_assert_msg(vc_pooler_init(&r->m, &c, &r->ps, 7) == VC_OK, "%s", vc_last_error());
    ck_assert_ptr_nonnull(r->scale = vc_logit_scale_init(&r->ps));
    vc_device_spec ds = {dev, 0};
    ck_assert_msg(vc_device_open(&ds, false) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_params_place(&r->ps, dev) == VC_OK, "%s", vc_last_error());
    vc_adamw_cfg oc = {0.9, 0.98, 1e-6, 0.2};
    ck_assert_msg(vc_adamw_init(&r->opt, &r->ps, &oc) == VC_OK, "%s", vc_last_error());
    vc_tape_init_on(&r->tape, dev, 0);
    ck_assert_int_eq(vc_tape_precision(&r->tape, prec), prec);
    r->tape.seed = 99;
    r->sc = (vc_step_ctx){&r->m, &r->ps, r->scale, &r->opt, &r->tape, 0.5, 0, NULL, graph, NULL, NULL, NULL, 0};
}

static void run_init(run *r, int variant, vc_device dev, bool graph) { run_init_prec(r, variant, dev, graph, VC_PREC_FP32); }

static void run_free(run *r) {
    vc_step_ctx_free(&r->sc);
    vc_tape_free(&r->tape);
    vc_adamw_free(&r->opt);
    vc_params_free(&r->ps);
}

/* The batch of step s: the same on every device. */
static double run_step(run *r, int s) {
    float frames[B * T * DMAX], text[B * DMAX];
    int64_t D = r->m.cfg.dim;
    ck_assert(D <= DMAX);
    int64_t len[B] = {T, 3, 1, 4};
    vc_rng g;
    vc_rng_seed(&g, 1000 + (uint64_t)s);
    vc_test_fill_uniform(frames, B * T * D, &g, -1, 1);
    vc_test_fill_uniform(text, B * D, &g, -1, 1);
    if (s < 3 || s >= 14) len[1] = 1 + s % T; /* steps 3..13 repeat step 2's lengths: a graph replays them */
    vc_tensor f, l, x;
    vc_tensor_wrap(&f, frames, VC_F32, VC_DIMS(B, T, D));
    vc_tensor_wrap(&l, len, VC_I64, VC_DIMS(B));
    vc_tensor_wrap(&x, text, VC_F32, VC_DIMS(B, D));
    r->sc.step = (uint64_t)s;
    vc_step_out so;
    vc_status st = vc_train_step(&r->sc, &f, &l, &x, 3e-3, &so);
    ck_assert_msg(st == VC_OK, "%s on %s, step %d: %s", vc_pool_type_name(r->m.cfg.type),
                  vc_device_name(r->ps.device), s, vc_last_error());
    if (r->ps.device == VC_CUDA)
        ck_assert_msg(vc_cuda_take_error() == VC_OK, "step %d: %s", s, vc_last_error());
    ck_assert(isfinite(so.loss));
    return so.loss;
}

static void save(run *r, const char *path, int step) {
    vc_ckpt_state st = {step, -1, -1, {0}};
    ck_assert_msg(vc_ckpt_save(path, &r->ps, &r->opt, &st, "", D) == VC_OK, "%s", vc_last_error());
}

static void load(run *r, const char *path, int step) {
    vc_ckpt_state st;
    ck_assert_msg(vc_ckpt_load(path, &r->ps, &r->opt, &st) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(st.step, step);
}

static bool cuda_ready(void) {
    if (vc_device_require(VC_CUDA, vc_train_kernels, vc_train_kernels_n, "training") == VC_OK) return true;
    printf("SKIP: cuda training: %s\n", vc_last_error());
    return false;
}

static void check_close(const char *what, const char *name, int s, double a, double b) {
    ck_assert_msg(fabs(a - b) <= LOSS_TOL * (1 + fabs(b)), "%s %s step %d: loss %.9g against %.9g (tolerance %g)",
                  name, what, s, a, b, LOSS_TOL);
}

START_TEST(test_pooler_trains_alike_on_cuda_and_cpu) {
    if (!cuda_ready()) return;
    int type = _i;
    const char *name = type == VC_POOL_NTYPES ? "transformer (no dropout)" : vc_pool_type_name((vc_pool_type)type);
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/cuda_%d.safetensors", vc_test_tmpdir(), _i);
    snprintf(pb, sizeof pb, "%s/cpu_%d.safetensors", vc_test_tmpdir(), _i);
    double lc[STEPS], lg[STEPS], le[STEPS], worst = 0;
    run a, b, e;
    run_init(&a, type, VC_CUDA, true);   /* replays a captured graph where it can */
    run_init(&e, type, VC_CUDA, false);  /* every step eagerly */
    run_init(&b, type, VC_CPU, false);
    struct vc_emu_counters c0, c1;
    for (int s = 0; s < STEPS; s++) {
        if (s == 4) vc_emu_get_counters(&c0);
        lg[s] = run_step(&a, s);
        le[s] = run_step(&e, s);
        lc[s] = run_step(&b, s);
        if (s == HALF - 1) {
            save(&a, pa, HALF);
            save(&b, pb, HALF);
        }
        check_close("cuda vs cpu", name, s, lg[s], lc[s]);
        /* a replayed step computes what the eager one does, bit for bit */
        ck_assert_msg(lg[s] == le[s], "%s step %d: graph loss %.9g, eager %.9g", name, s, lg[s],
                      le[s]);
        double d = fabs(lg[s] - lc[s]);
        if (d > worst) worst = d;
        if (s == 3) vc_emu_get_counters(&c1), c0 = c1; /* (counted from step 4 on) */
    }
    vc_emu_get_counters(&c1);
    /* from step 4 on nothing is allocated on the device */
    ck_assert_msg(c1.mallocs == c0.mallocs, "%s: %lld cudaMalloc calls in steps 5..%d", name,
                  c1.mallocs - c0.mallocs, STEPS);
    ck_assert_msg(c1.kernels > c0.kernels, "no kernels ran on the emulated GPU");
    long long replays = vc_step_graph_replays(&a.sc);
    if (type == VC_POOL_TRANSFORMER) /* dropout: new masks every step, never replayed */
        ck_assert_int_eq(replays, 0);
    else
        ck_assert_msg(replays >= 8, "%s: %lld graph replays", name, replays);
    ck_assert(c1.graph_launches >= c0.graph_launches);
    run_free(&a);
    run_free(&e);
    run_free(&b);
    /* cuda's checkpoint continues on the cpu, cpu's on cuda */
    run_init(&a, type, VC_CPU, false);
    load(&a, pa, HALF);
    run_init(&b, type, VC_CUDA, true);
    load(&b, pb, HALF);
    for (int s = HALF; s < STEPS; s++) {
        check_close("cuda checkpoint resumed on cpu", name, s, run_step(&a, s), lg[s]);
        check_close("cpu checkpoint resumed on cuda", name, s, run_step(&b, s), lc[s]);
    }
    run_free(&a);
    run_free(&b);
    printf("%s: %d steps on cuda (emulated; %lld as graph replays) and cpu, largest loss difference %.3g; "
           "checkpoints resumed across\n",
           name, STEPS, replays, worst);
}
END_TEST

/* ---- bf16: [train] precision = bf16 on cuda against the same on the cpu ----
 * The products of both run on bf16 inputs with float32 sums (cuBLAS
 * GemmEx on cuda, oneDNN on the cpu): the same rounded inputs, sums in
 * another order. A float32 difference of an ulp before a rounding to bf16
 * (the next product's input) becomes a bf16 ulp (2^-8 relative) after it,
 * so bf16 runs on two devices drift apart faster than float32 runs do
 * (measured at width 64 over 10 steps, relative: transformer loss 1.1e-4 ..
 * 1.4e-4, weights 4.3e-5; mlp_mean and lstm loss 1.3e-7, weights 2.3e-8 and
 * 5.9e-6; float32 on cuda against the cpu: loss <= 7.5e-7, weights <= 3e-6), but
 * far less than bf16 differs from float32 (loss 1.8e-4 .. 2.2e-3, weights
 * 2.0e-3 .. 2.2e-3). The tolerances sit 3.5x and 4.5x above the worst measured
 * gap; and for each pooler the cuda-vs-cpu bf16 gap must stay under a fifth
 * of its bf16-vs-fp32 gap, so a cuda run that fell back to float32 (or a
 * bf16 kernel that rounded differently) fails. */
enum { BF16_STEPS = 10 };
#define BF16_LOSS_TOL 5e-4 /* relative loss difference per step, cuda bf16 vs cpu bf16 */
#define BF16_W_TOL 2e-4    /* largest weight difference over the largest weight */

static double rel_gap(double a, double b) { return fabs(a - b) / (1 + fabs(b)); }

/* The run's parameters (all of them, in one buffer) on the host. */
static float *host_weights(const run *r) {
    float *w = malloc(r->ps.n * sizeof(float));
    ck_assert_ptr_nonnull(w);
    vc_backend_for(r->ps.device)->copy_d2h(w, r->ps.data, r->ps.n * sizeof(float));
    return w;
}

/* max |a - b| / max |b| over n values */
static double weight_gap(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / (m > 0 ? m : 1);
}

START_TEST(test_pooler_trains_alike_in_bf16_on_cuda_and_cpu) {
    if (!cuda_ready()) return;
    static const int variants[] = {VC_POOL_NTYPES, VC_POOL_MLP_MEAN, VC_POOL_LSTM};
    int type = variants[_i];
    const char *name = type == VC_POOL_NTYPES ? "transformer (no dropout)" : vc_pool_type_name((vc_pool_type)type);
    /* what the fused linear's bf16 path asks of the backend (op_linear_fused.c):
     * LayerNorm and GELU written straight to bf16 on cuda too */
    const vc_backend *cu = vc_backend_for(VC_CUDA);
    ck_assert(cu->supports_op(VC_K_LAYERNORM_FWD_BF16) && cu->supports_op(VC_K_UNARY_FWD_BF16));
    ck_assert(cu->supports_op(VC_K_GEMM_BF16) && cu->supports_op(VC_K_GEMM_BATCHED_BF16));
    bool cpu16 = vc_precision_on(vc_backend_for(VC_CPU), VC_PREC_BF16) == VC_PREC_BF16;
    dim = 64; /* products over 64 and 128 terms: more float32 sums to differ before a rounding */
    if (!cpu16)
        printf("SKIP: %s: bf16 on cuda against bf16 on the cpu (%s); cuda bf16 checked against cuda fp32 only\n", name,
               vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
    run g, e, c, f, h; /* cuda bf16 graph / eager, cpu bf16, cuda fp32, cpu fp32 */
    run_init_prec(&g, type, VC_CUDA, true, VC_PREC_BF16);
    run_init_prec(&e, type, VC_CUDA, false, VC_PREC_BF16);
    if (cpu16) run_init_prec(&c, type, VC_CPU, false, VC_PREC_BF16);
    run_init_prec(&f, type, VC_CUDA, false, VC_PREC_FP32);
    run_init_prec(&h, type, VC_CPU, false, VC_PREC_FP32);
    double dev16 = 0, dev32 = 0, prec = 0;
    for (int s = 0; s < BF16_STEPS; s++) {
        double lg = run_step(&g, s), le = run_step(&e, s), lf = run_step(&f, s), lh = run_step(&h, s);
        ck_assert_msg(lg == le, "%s bf16 step %d: graph loss %.9g, eager %.9g", name, s, lg, le);
        if (cpu16) {
            double lc = run_step(&c, s);
            ck_assert_msg(rel_gap(lg, lc) <= BF16_LOSS_TOL, "%s bf16 step %d: loss %.9g on cuda, %.9g on cpu "
                          "(tolerance %g)", name, s, lg, lc, BF16_LOSS_TOL);
            dev16 = fmax(dev16, rel_gap(lg, lc));
        }
        dev32 = fmax(dev32, rel_gap(lf, lh));
        prec = fmax(prec, rel_gap(lg, lf));
    }
    float *wg = host_weights(&g), *wf = host_weights(&f), *wh = host_weights(&h), *wc = cpu16 ? host_weights(&c) : NULL;
    double wdev16 = cpu16 ? weight_gap(wg, wc, g.ps.n) : 0, wdev32 = weight_gap(wf, wh, f.ps.n),
           wprec = weight_gap(wg, wf, g.ps.n);
    long long replays = vc_step_graph_replays(&g.sc);
    printf("%s bf16, %d steps (%lld graph replays): cuda vs cpu loss %.2g, weights %.2g; cuda fp32 vs cpu fp32 loss "
           "%.2g, weights %.2g; cuda bf16 vs cuda fp32 loss %.2g, weights %.2g\n",
           name, BF16_STEPS, replays, dev16, wdev16, dev32, wdev32, prec, wprec);
    fflush(stdout);
    /* the bf16 step (its weight copies rounded inside the step) replays as a graph */
    ck_assert_msg(replays >= 5, "%s bf16: %lld graph replays in %d steps", name, replays, BF16_STEPS);
    if (cpu16) {
        ck_assert_msg(wdev16 <= BF16_W_TOL, "%s bf16: weights after %d steps differ by %.3g of the largest between "
                      "cuda and cpu (tolerance %g)", name, BF16_STEPS, wdev16, BF16_W_TOL);
        ck_assert_msg(dev16 <= prec / 5 && wdev16 <= wprec / 5, "%s: bf16 cuda vs cpu (loss %.3g, weights %.3g) is not "
                      "well inside bf16 vs fp32 on cuda (loss %.3g, weights %.3g)", name, dev16, wdev16, prec, wprec);
    }
    /* bf16 ran on cuda: its weights differ from float32's by more than the
     * tolerance, which could thus tell a cuda run that fell back to float32 */
    ck_assert_msg(wprec > BF16_W_TOL, "%s: cuda bf16 weights within %.3g of cuda fp32's: bf16 did not run (the "
                  "cuda-vs-cpu tolerance is %g)", name, wprec, BF16_W_TOL);
    free(wg), free(wf), free(wh), free(wc);
    run_free(&g), run_free(&e), run_free(&f), run_free(&h);
    if (cpu16) run_free(&c);
    dim = D;
}
END_TEST

START_TEST(test_missing_gpu_is_one_error) {
    setenv("VC_CUDA_EMU_DEVICES", "0", 1);
    vc_device_spec d;
    ck_assert(vc_device_parse("cuda", &d) == VC_OK);
    ck_assert(vc_device_open(&d, false) != VC_OK);
    const char *m = vc_last_error();
    ck_assert_msg(strstr(m, "cuda") && strstr(m, "no CUDA GPU") && !strchr(m, '\n'), "%s", m);
    setenv("VC_CUDA_EMU_DEVICES", "1", 1);
    ck_assert(vc_device_parse("cuda:3", &d) == VC_OK && d.index == 3);
    ck_assert(vc_device_open(&d, false) != VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "cuda:3"), "%s", vc_last_error());
    ck_assert(vc_device_parse("gpu", &d) != VC_OK);
    ck_assert(vc_device_parse("cuda:x", &d) != VC_OK);
    ck_assert(vc_device_parse("cuda:", &d) != VC_OK);
}
END_TEST

/* vclip itself (whatever its build: CPU only, or CUDA without or with a
 * GPU) refuses a GPU it does not have with one line naming it and a
 * non-zero exit. */
static int run_cli(const char *args, char *out, size_t n) {
    const char *bin = getenv("VCLIP_BIN");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t k = fread(out, 1, n - 1, f);
    out[k] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_cli_refuses_a_missing_gpu) {
    if (!getenv("VCLIP_BIN")) {
        printf("SKIP: VCLIP_BIN is not set\n");
        return;
    }
    char out[4096];
    int rc = run_cli("bench train --device cuda:999 --batch 2 --frames 2 --dim 4 --layers 1 --heads 1 --seconds 0.01",
                     out, sizeof out);
    ck_assert_msg(rc != 0, "exit %d: %.300s", rc, out);
    ck_assert_msg(strstr(out, "cuda") && strchr(out, '\n') == out + strlen(out) - 1, "not one line naming cuda: %.300s", out);
    rc = run_cli("bench train --device tpu --batch 2 --frames 2 --dim 4 --layers 1 --heads 1 --seconds 0.01", out,
                 sizeof out);
    ck_assert_msg(rc != 0 && strstr(out, "tpu"), "exit %d: %.300s", rc, out);
    rc = run_cli("version", out, sizeof out);
    ck_assert_msg(rc == 0 && strstr(out, "CUDA: "), "%.300s", out);
}
END_TEST

/* The last "loss" of DIR/log.jsonl. */
static double last_loss(const char *dir) {
    char p[600];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char line[2048];
    double l = NAN;
    while (fgets(line, sizeof line, f)) {
        const char *k = strstr(line, "\"loss\": ");
        if (k) l = strtod(k + 8, NULL);
    }
    fclose(f);
    return l;
}

/* prec: "fp32", "bf16", or NULL (the config's) */
static vc_status train_prec(const char *ini, const char *dir, const char *device, const char *prec, int64_t stop_at,
                            bool resume) {
    const char *steps = "12";
    char o1[700], o2[64], o3[64], o4[64];
    snprintf(o1, sizeof o1, "train.out_dir=%s", dir);
    snprintf(o2, sizeof o2, "train.device=%s", device);
    snprintf(o3, sizeof o3, "train.steps=%s", steps);
    snprintf(o4, sizeof o4, "train.precision=%s", prec ? prec : "fp32");
    const char *ov[4] = {o1, o2, o3, o4};
    vc_config *cfg;
    vc_run_cfg rc;
    vc_status s = vc_run_config_load(ini, ov, prec ? 4 : 3, &cfg, &rc);
    vc_train_hooks h = {0};
    h.stop_at = stop_at;
    if (!s) s = vc_train_run(cfg, &rc, resume, &h);
    vc_config_free(cfg);
    return s;
}

static vc_status train(const char *ini, const char *dir, const char *device, int64_t stop_at, bool resume) {
    return train_prec(ini, dir, device, NULL, stop_at, resume);
}

/* `vclip train` end to end with [train] device = cuda (validation on the
 * device too), resumed on the cpu: the same losses as a run on the cpu. */
/* Synthetic data of width dim (vclip synth) and a transformer run's config
 * in tmp, written to ini [600]. */
static void make_run(const char *tmp, int dim_, char *ini) {
    char data[600], out[4096], cmd[1400];
    snprintf(data, sizeof data, "%s/synth%d.h5", tmp, dim_);
    snprintf(cmd, sizeof cmd, "synth --out %s --videos 80 --dim %d --max-frames 6 --min-frames 2 --seed 3", data, dim_);
    ck_assert_msg(run_cli(cmd, out, sizeof out) == 0, "%.300s", out);
    snprintf(ini, 600, "%s/run%d.ini", tmp, dim_);
    FILE *f = fopen(ini, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[data]\nfile = %s\nframes = 6\nprefetch = 1\n[model]\ntype = transformer\nlayers = 1\nheads = 2\n"
               "[train]\nbatch = 8\nlr = 2e-3\nwarmup = 2\nseed = 1\neval_every = 3\ncheckpoint_every = 3\n"
               "log_every = 1\n[eval]\nbatch = 16\n",
            data);
    fclose(f);
}

START_TEST(test_trainer_runs_on_cuda_and_resumes_on_cpu) {
    if (!cuda_ready()) return;
    if (!getenv("VCLIP_BIN")) {
        printf("SKIP: VCLIP_BIN is not set (vclip synth makes the data)\n");
        return;
    }
    const char *tmp = vc_test_tmpdir();
    char ini[600], da[600], db[600];
    make_run(tmp, 8, ini);
    char dc[600];
    snprintf(da, sizeof da, "%s/run_cuda_cpu", tmp);
    snprintf(db, sizeof db, "%s/run_cpu_cuda", tmp);
    snprintf(dc, sizeof dc, "%s/run_cpu", tmp);
    /* 6 steps on one device, stopped with its checkpoint, 6 more on the other */
    ck_assert_msg(train(ini, da, "cuda", 6, false) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(train(ini, da, "cpu", 0, true) == VC_OK, "resume on cpu: %s", vc_last_error());
    ck_assert_msg(train(ini, db, "cpu", 6, false) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(train(ini, db, "cuda", 0, true) == VC_OK, "resume on cuda: %s", vc_last_error());
    ck_assert_msg(train(ini, dc, "cpu", 0, false) == VC_OK, "%s", vc_last_error());
    double la = last_loss(da), lb = last_loss(db), lc = last_loss(dc);
    ck_assert_msg(isfinite(la) && fabs(la - lc) <= LOSS_TOL * (1 + fabs(lc)),
                  "6 steps on cuda + 6 on cpu: loss %.9g; 12 on cpu: %.9g", la, lc);
    ck_assert_msg(isfinite(lb) && fabs(lb - lc) <= LOSS_TOL * (1 + fabs(lc)),
                  "6 steps on cpu + 6 on cuda: loss %.9g; 12 on cpu: %.9g", lb, lc);
    printf("trainer: step 12 loss %.9g (cuda then cpu), %.9g (cpu then cuda), %.9g (cpu)\n", la, lb, lc);
    /* a device that is not there: refused before anything is written */
    snprintf(dc, sizeof dc, "%s/run_missing", tmp);
    setenv("VC_CUDA_EMU_DEVICES", "0", 1);
    vc_status s = train(ini, dc, "cuda", 0, false);
    setenv("VC_CUDA_EMU_DEVICES", "1", 1);
    ck_assert(s != VC_OK && strstr(vc_last_error(), "no CUDA GPU"));
    ck_assert_msg(access(dc, F_OK) != 0, "%s was made by a run that could not start", dc);
}
END_TEST

/* `vclip train` with [train] precision = bf16 and device = cuda trains in
 * bf16 on the device (the tape made there keeps the precision; it once
 * went back to fp32 there, giving fp32's loss bit for bit): its last loss
 * is not cuda fp32's, and is the cpu bf16 run's within BF16_LOSS_TOL. */
START_TEST(test_trainer_trains_in_bf16_on_cuda) {
    if (!cuda_ready()) return;
    if (!getenv("VCLIP_BIN")) {
        printf("SKIP: VCLIP_BIN is not set (vclip synth makes the data)\n");
        return;
    }
    const char *tmp = vc_test_tmpdir();
    char ini[600], d16[600], c16[600], d32[600];
    make_run(tmp, 64, ini);
    snprintf(d16, sizeof d16, "%s/run_cuda_bf16", tmp);
    snprintf(c16, sizeof c16, "%s/run_cpu_bf16", tmp);
    snprintf(d32, sizeof d32, "%s/run_cuda_fp32", tmp);
    ck_assert_msg(train_prec(ini, d16, "cuda", "bf16", 0, false) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(train_prec(ini, d32, "cuda", "fp32", 0, false) == VC_OK, "%s", vc_last_error());
    double l16 = last_loss(d16), l32 = last_loss(d32);
    ck_assert(isfinite(l16) && isfinite(l32));
    ck_assert_msg(l16 != l32, "cuda bf16 loss %.9g is cuda fp32's: bf16 did not run on cuda", l16);
    if (vc_precision_on(vc_backend_for(VC_CPU), VC_PREC_BF16) != VC_PREC_BF16) {
        printf("SKIP: trainer bf16 cuda vs cpu (%s)\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_BF16));
        return;
    }
    ck_assert_msg(train_prec(ini, c16, "cpu", "bf16", 0, false) == VC_OK, "%s", vc_last_error());
    double c = last_loss(c16);
    printf("trainer bf16: step 12 loss %.9g on cuda, %.9g on cpu (gap %.2g); cuda fp32 %.9g (gap %.2g)\n", l16, c,
           rel_gap(l16, c), l32, rel_gap(l16, l32));
    /* (here, a dropout transformer at lr 2e-3 for 12 steps, bf16 moves the
     * loss only ~1e-4 from fp32's, about as far as the two bf16 runs are
     * apart: test_pooler_trains_alike_in_bf16_on_cuda_and_cpu tells them
     * apart; this is the trainer's plumbing) */
    ck_assert_msg(rel_gap(l16, c) <= BF16_LOSS_TOL, "step 12 bf16 loss %.9g on cuda, %.9g on cpu (tolerance %g)", l16,
                  c, BF16_LOSS_TOL);
}
END_TEST

/* The protection the suite runs under works: a host write into device
 * memory kills the process, a device copy does not. */
START_TEST(test_protect_catches_host_writes) {
    const vc_backend *be = vc_backend_for(VC_CUDA);
    ck_assert_ptr_nonnull(be);
    float *d = be->mem_alloc(64 * sizeof(float)), h[64], back[64];
    ck_assert_ptr_nonnull(d);
    for (int i = 0; i < 64; i++) h[i] = (float)i;
    be->copy_h2d(d, h, sizeof h);
    be->copy_d2h(back, d, sizeof back);
    ck_assert(memcmp(h, back, sizeof h) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        d[3] = 1; /* host code writing device memory */
        _exit(0);
    }
    int st = 0;
    ck_assert(pid > 0 && waitpid(pid, &st, 0) == pid);
    ck_assert_msg(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "a host write into device memory went unnoticed");
    be->mem_free(d);
}
END_TEST

static Suite *suite(void) {
    /* device memory faults when host code touches it (unless asked not to) */
    setenv("VC_CUDA_EMU_PROTECT", "1", 0);
    Suite *s = suite_create("cuda_train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_pooler_trains_alike_on_cuda_and_cpu, 0, VC_POOL_NTYPES + 1);
    tcase_add_test(tc, test_missing_gpu_is_one_error);
    tcase_add_test(tc, test_cli_refuses_a_missing_gpu);
    tcase_add_test(tc, test_trainer_runs_on_cuda_and_resumes_on_cpu);
    if (strcmp(getenv("VC_CUDA_EMU_PROTECT"), "0") != 0) tcase_add_test(tc, test_protect_catches_host_writes);
    suite_add_tcase(s, tc);
    TCase *t16 = tcase_create("bf16"); /* CK_RUN_CASE=bf16 runs these alone */
    tcase_set_timeout(t16, 600);
    tcase_add_loop_test(t16, test_pooler_trains_alike_in_bf16_on_cuda_and_cpu, 0, 3);
    tcase_add_test(t16, test_trainer_trains_in_bf16_on_cuda);
    suite_add_tcase(s, t16);
    return s;
}

VC_TEST_MAIN(suite)
