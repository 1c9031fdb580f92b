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
#include "train/checkpoint.h"
#include "train/step.h"
#include "train/trainer.h"

enum { B = 4, T = 5, D = 8, STEPS = 20, HALF = 10 };

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
    vc_pooler_cfg_default(c, type, D);
    c->width = type == VC_POOL_CROSS_ATTN ? 12 : D;
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
static void run_init(run *r, int variant, vc_device dev, bool graph) {
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
    r->tape.seed = 99;
    r->sc = (vc_step_ctx){&r->m, &r->ps, r->scale, &r->opt, &r->tape, 0.5, 0, NULL, graph, NULL, NULL, NULL, 0};
}

static void run_free(run *r) {
    vc_step_ctx_free(&r->sc);
    vc_tape_free(&r->tape);
    vc_adamw_free(&r->opt);
    vc_params_free(&r->ps);
}

/* The batch of step s: the same on every device. */
static double run_step(run *r, int s) {
    float frames[B * T * D], text[B * D];
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

static vc_status train(const char *ini, const char *dir, const char *device, int64_t stop_at, bool resume) {
    const char *steps = "12";
    char o1[700], o2[64], o3[64];
    snprintf(o1, sizeof o1, "train.out_dir=%s", dir);
    snprintf(o2, sizeof o2, "train.device=%s", device);
    snprintf(o3, sizeof o3, "train.steps=%s", steps);
    const char *ov[3] = {o1, o2, o3};
    vc_config *cfg;
    vc_run_cfg rc;
    vc_status s = vc_run_config_load(ini, ov, 3, &cfg, &rc);
    vc_train_hooks h = {0};
    h.stop_at = stop_at;
    if (!s) s = vc_train_run(cfg, &rc, resume, &h);
    vc_config_free(cfg);
    return s;
}

/* `vclip train` end to end with [train] device = cuda (validation on the
 * device too), resumed on the cpu: the same losses as a run on the cpu. */
START_TEST(test_trainer_runs_on_cuda_and_resumes_on_cpu) {
    if (!cuda_ready()) return;
    if (!getenv("VCLIP_BIN")) {
        printf("SKIP: VCLIP_BIN is not set (vclip synth makes the data)\n");
        return;
    }
    const char *tmp = vc_test_tmpdir();
    char data[600], ini[600], out[4096], cmd[1400], da[600], db[600];
    snprintf(data, sizeof data, "%s/synth.h5", tmp);
    snprintf(cmd, sizeof cmd, "synth --out %s --videos 80 --dim 8 --max-frames 6 --min-frames 2 --seed 3", data);
    ck_assert_msg(run_cli(cmd, out, sizeof out) == 0, "%.300s", out);
    snprintf(ini, sizeof ini, "%s/run.ini", tmp);
    FILE *f = fopen(ini, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "[data]\nfile = %s\nframes = 6\nprefetch = 1\n[model]\ntype = transformer\nlayers = 1\nheads = 2\n"
               "[train]\nbatch = 8\nlr = 2e-3\nwarmup = 2\nseed = 1\neval_every = 3\ncheckpoint_every = 3\n"
               "log_every = 1\n[eval]\nbatch = 16\n",
            data);
    fclose(f);
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
    return s;
}

VC_TEST_MAIN(suite)
