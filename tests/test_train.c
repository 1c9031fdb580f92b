/* test_train.c: `vclip train` and `vclip eval` as users run them.
 * The shipped configs validate through the library; everything else goes
 * through the built binary ($VCLIP_BIN, as `make test` sets it; without it
 * those tests print SKIP and are not registered): config errors in one line,
 * an end-to-end run and its run directory, best-checkpoint selection on the
 * val split, a run killed with SIGKILL at many moments and resumed ending
 * bit-identical to an uninterrupted one, and the stop on a non-finite loss.
 * The data is a tiny `vclip synth` file (300 videos, D 32) made once. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "models/pooler.h"
#include "train/run_config.h"
#include "tensor/safetensors.h"
#include "train/trainer.h"
#include "train/optim.h"
#include <omp.h>

/* ---- paths and files ------------------------------------------------------- */


static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* The whole file as a string ("" when it cannot be read); free() it. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (f) {
        for (;;) {
            if (n + 4097 > cap) {
                cap = 2 * cap + 8192;
                char *nb = realloc(buf, cap);
                ck_assert(nb);
                buf = nb;
            }
            size_t got = fread(buf + n, 1, 4096, f);
            n += got;
            if (got == 0) break;
        }
        fclose(f);
    }
    if (!buf) buf = malloc(1);
    ck_assert(buf);
    buf[n] = '\0';
    return buf;
}


/* The repository's configs/ directory: relative to __FILE__ ("tests/test_train.c"
 * compiled from the repository root) when the working directory is the root,
 * else found from the binary (REPO/BUILD/tests/test_train). */
static void configs_dir(char *path, size_t n) {
    snprintf(path, n, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, n - (size_t)(slash ? slash + 1 - path : 0), "../configs");
    if (access(path, R_OK) == 0) return;
    char exe[512];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = '\0';
    for (int up = 0; up < 3; up++)
        if ((slash = strrchr(exe, '/'))) *slash = '\0';
    snprintf(path, n, "%s/configs", exe);
}

/* ---- running the binary -------------------------------------------------- */

#define MAX_ARGS 64

/* Starts `vclip ARGV...` with stdout and stderr going to out_path. */
static pid_t spawn(const char *const *argv, const char *out_path) {
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        const char *args[MAX_ARGS + 2];
        int n = 0;
        args[n++] = vc_test_vclip_bin();
        for (int i = 0; argv[i] && n < MAX_ARGS + 1; i++) args[n++] = argv[i];
        args[n] = NULL;
        execv(vc_test_vclip_bin(), (char *const *)args);
        _exit(127);
    }
    return pid;
}

/* Exit status of a finished child: the code, or 128 + signal. */
static int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

/* Runs `vclip ARGV...` to the end; returns the exit code and the output
 * (stdout + stderr) in a malloc'd *text. */
static int run_argv(const char *const *argv, char **text) {
    char out[600];
    tmp_path(out, sizeof out, "vclip.out");
    pid_t pid = spawn(argv, out);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    *text = slurp(out);
    unlink(out);
    return exit_code(status);
}

/* run_argv with the arguments inline, NULL-terminated. */
static int run(char **text, ...) {
    const char *argv[MAX_ARGS + 1];
    int n = 0;
    va_list ap;
    va_start(ap, text);
    for (const char *a; (a = va_arg(ap, const char *)) && n < MAX_ARGS;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_argv(argv, text);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void sleep_s(double s) {
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the data and the configs ------------------------------------------------ */

/* Made once by an unchecked fixture (in the parent process, so every forked
 * test sees it); a failure is kept here and reported by each test. */
static char data_path[512], data_error[4096];

static void make_data(void) {
    tmp_path(data_path, sizeof data_path, "synth.h5");
    char *text;
    int rc = run(&text, "synth", "--out", data_path, "--videos", "300", "--dim", "32", "--max-frames", "12",
                 "--min-frames", "4", "--seed", "3", NULL);
    if (rc != 0) snprintf(data_error, sizeof data_error, "vclip synth failed (%d): %s", rc, text);
    free(text);
}

static void need_data(void) { ck_assert_msg(!data_error[0], "%s", data_error); }

/* Writes TMP/NAME.ini: a tiny transformer run on the synth file with
 * out_dir TMP/NAME, plus model_extra and train_extra lines (or NULL)
 * appended to [model] and [train]. Returns the
 * config path in cfg and the run directory in dir. */
static void make_config(const char *name, const char *model_extra, const char *train_extra, char *cfg, size_t ncfg,
                        char *dir, size_t ndir) {
    tmp_path(dir, ndir, name);
    snprintf(cfg, ncfg, "%s.ini", dir);
    char text[4096];
    snprintf(text, sizeof text,
             "; written by tests/test_train.c\n"
             "[data]\nfile = %s\nframes = 12\ntrain_sampling = uniform\neval_sampling = uniform\nprefetch = 2\n"
             "[model]\ntype = transformer\nlayers = 1\nheads = 4\n%s"
             "[train]\nbatch = 16\nsteps = 60\nlr = 2e-3\nwarmup = 5\nseed = 1\neval_every = 10\n"
             "checkpoint_every = 10\nlog_every = 1\nout_dir = %s\n%s"
             "[eval]\nsplit = test\nbatch = 64\n",
             data_path, model_extra ? model_extra : "", dir, train_extra ? train_extra : "");
    vc_test_write_text(cfg, text);
}

/* ---- log.jsonl ------------------------------------------------------------------ */

typedef struct {
    cJSON *ev[4096];
    int n;
} run_log;

/* Parses every line of DIR/log.jsonl; each must be a JSON object with a
 * string "event". */
static void log_load(const char *dir, run_log *lg) {
    char path[700];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    char *text = slurp(path);
    lg->n = 0;
    int line = 0;
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        ck_assert_msg(nl, "%s: the last line has no newline", path);
        *nl = '\0';
        line++;
        cJSON *o = cJSON_Parse(p);
        ck_assert_msg(o && cJSON_IsObject(o), "%s:%d: not a JSON object: %s", path, line, p);
        ck_assert_msg(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "event")), "%s:%d: no \"event\": %s", path,
                      line, p);
        ck_assert_msg(lg->n < (int)(sizeof lg->ev / sizeof lg->ev[0]), "%s: too many lines", path);
        lg->ev[lg->n++] = o;
    }
    free(text);
}

static void log_free(run_log *lg) {
    for (int i = 0; i < lg->n; i++) cJSON_Delete(lg->ev[i]);
    lg->n = 0;
}

static const char *ev_name(const cJSON *o) { return cJSON_GetObjectItemCaseSensitive(o, "event")->valuestring; }

static bool is_event(const cJSON *o, const char *name) { return strcmp(ev_name(o), name) == 0; }

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "log event '%s': \"%s\" is missing or not a number", ev_name(o), key);
    return v->valuedouble;
}

static double sub_num(const cJSON *o, const char *obj, const char *key) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, obj);
    ck_assert_msg(cJSON_IsObject(s), "\"%s\" is missing or not an object", obj);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, key);
    ck_assert_msg(cJSON_IsNumber(v), "\"%s\".\"%s\" is missing or not a number", obj, key);
    return v->valuedouble;
}

/* ---- checkpoints ----------------------------------------------------------------- */

/* train.state of a checkpoint: step, optimiser step, best step. */
static void ckpt_state(const char *path, int64_t state[3]) {
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, path, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    const vc_st_tensor *t;
    ck_assert_msg(vc_st_get(f, "train.state", &t) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(t->dtype == VC_ST_I64 && t->numel == 3, "%s: train.state is not I64[3]", path);
    memcpy(state, t->data, 3 * sizeof(int64_t));
    vc_st_close(f);
}

/* Every tensor of a and b has the same name, dtype, shape and bytes, and the
 * metadata agrees except the config text (whose out_dir differs). */
static void assert_same_tensors(const char *a, const char *b) {
    vc_st_file *fa, *fb;
    ck_assert_msg(vc_st_open(&fa, a, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_st_open(&fb, b, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_st_count(fa) == vc_st_count(fb), "%s has %d tensors, %s has %d", a, vc_st_count(fa), b,
                  vc_st_count(fb));
    for (int i = 0; i < vc_st_count(fa); i++) {
        const vc_st_tensor *ta = vc_st_at(fa, i), *tb = vc_st_find(fb, ta->name);
        ck_assert_msg(tb, "%s lacks tensor '%s'", b, ta->name);
        ck_assert_msg(ta->dtype == tb->dtype && ta->ndim == tb->ndim && ta->nbytes == tb->nbytes,
                      "tensor '%s' differs in dtype or shape", ta->name);
        for (int d = 0; d < ta->ndim; d++) ck_assert(ta->shape[d] == tb->shape[d]);
        if (memcmp(ta->data, tb->data, ta->nbytes) != 0) {
            size_t es = vc_st_dtype_size(ta->dtype), k = 0;
            while (k < ta->nbytes && memcmp((const char *)ta->data + k, (const char *)tb->data + k, es) == 0) k += es;
            double va = 0, vb = 0;
            if (ta->dtype == VC_ST_F32) {
                float x, y;
                memcpy(&x, (const char *)ta->data + k, 4);
                memcpy(&y, (const char *)tb->data + k, 4);
                va = x, vb = y;
            } else if (ta->dtype == VC_ST_I64) {
                int64_t x, y;
                memcpy(&x, (const char *)ta->data + k, 8);
                memcpy(&y, (const char *)tb->data + k, 8);
                va = (double)x, vb = (double)y;
            }
            ck_abort_msg("tensor '%s' differs first at element %zu: %.9g (uninterrupted) vs %.9g (resumed)", ta->name,
                         k / es, va, vb);
        }
    }
    ck_assert_int_eq(vc_st_meta_count(fa), vc_st_meta_count(fb));
    for (int i = 0; i < vc_st_meta_count(fa); i++) {
        const char *k, *va;
        vc_st_meta_at(fa, i, &k, &va);
        if (strcmp(k, "config") == 0) continue;
        const char *vb = vc_st_meta(fb, k);
        ck_assert_msg(vb && strcmp(va, vb) == 0, "metadata '%s': %s vs %s", k, va, vb ? vb : "(missing)");
    }
    vc_st_close(fa);
    vc_st_close(fb);
}

/* ---- 1. shipped configs -------------------------------------------------------------- */

START_TEST(test_grad_norm_is_exact_and_the_same_for_any_thread_count) {
    vc_params ps;
    vc_params_init(&ps);
    ck_assert_ptr_nonnull(vc_params_add(&ps, "a", VC_DIMS(300, 701), true)); /* blocks of 65536 cut through it */
    ck_assert_ptr_nonnull(vc_params_add(&ps, "b", VC_DIMS(3), false));
    vc_rng r;
    vc_rng_seed(&r, 4);
    double direct = 0;
    for (int i = 0; i < ps.count; i++)
        for (size_t k = 0; k < ps.info[i].numel; k++) {
            vc_real g = (vc_real)(vc_rng_uniform(&r) * 2 - 1);
            ps.grad[ps.info[i].offset + k] = g;
            direct += (double)g * (double)g;
        }
    omp_set_num_threads(1);
    double n1 = vc_grad_norm(&ps);
    omp_set_num_threads(2);
    double n2 = vc_grad_norm(&ps);
    ck_assert(memcmp(&n1, &n2, sizeof n1) == 0);
    ck_assert_msg(fabs(n1 - sqrt(direct)) <= 1e-12 * sqrt(direct), "norm %.17g, direct %.17g", n1, sqrt(direct));
    /* clipping scales to the limit */
    double f = vc_grad_clip(&ps, 1.0, n1);
    ck_assert(f < 1);
    ck_assert_msg(fabs(vc_grad_norm(&ps) - 1.0) < 1e-5, "clipped norm %g", vc_grad_norm(&ps));
    vc_params_free(&ps);
}
END_TEST

START_TEST(test_every_shipped_config_validates) {
    char dir[600], pattern[700];
    configs_dir(dir, sizeof dir);
    snprintf(pattern, sizeof pattern, "%s/*.ini", dir);
    glob_t g;
    ck_assert_msg(glob(pattern, 0, NULL, &g) == 0, "no configs found as %s", pattern);
    bool type_seen[VC_POOL_NTYPES] = {0};
    for (size_t i = 0; i < g.gl_pathc; i++) {
        vc_config *cfg;
        vc_run_cfg rc;
        ck_assert_msg(vc_run_config_load(g.gl_pathv[i], NULL, 0, &cfg, &rc) == VC_OK, "%s", vc_last_error());
        type_seen[rc.model.type] = true;
        /* the unread-key check: every key a shipped config sets means something */
        char *unused = NULL;
        ck_assert(vc_config_unused(cfg, &unused) == VC_OK);
        ck_assert_msg(!unused, "%s: %s", g.gl_pathv[i], unused ? unused : "");
        vc_config_free(cfg);
    }
    ck_assert_msg(g.gl_pathc >= VC_POOL_NTYPES, "only %zu configs in %s", g.gl_pathc, dir);
    for (int t = 0; t < VC_POOL_NTYPES; t++)
        ck_assert_msg(type_seen[t], "no config in %s uses model type %s", dir, vc_pool_type_name((vc_pool_type)t));
    globfree(&g);
}
END_TEST

/* Parses a run config from text plus overrides; the caller frees *cfg. */
static void parse_run(const char *text, const char *const *ov, int n, vc_config **cfg, vc_run_cfg *rc) {
    ck_assert_msg(vc_run_config_parse(text, "schedule.ini", ov, n, cfg, rc) == VC_OK, "%s", vc_last_error());
}

static void schedule_of(const char *const *ov, int n, int64_t n_train, int64_t *total, int64_t *warmup) {
    vc_config *cfg;
    vc_run_cfg rc;
    parse_run("[data]\nfile = x.h5\n[train]\nbatch = 128\nepochs = 10\nmin_steps = 1000\nwarmup = -1\n"
              "warmup_frac = 0.1\n",
              ov, n, &cfg, &rc);
    vc_run_schedule(&rc, n_train, total, warmup);
    vc_config_free(cfg);
}

START_TEST(test_schedule_is_epochs_with_a_step_floor_and_warmup_a_fraction_of_it) {
    int64_t total, warmup;
    /* MSR-VTT size: 10 epochs of 6,000 videos are 469 steps, below the floor */
    schedule_of(NULL, 0, 6000, &total, &warmup);
    ck_assert_int_eq(total, 1000);
    ck_assert_int_eq(warmup, 100);
    /* above the floor, epochs decide: ceil(10 * 20000 / 128) = 1563, warmup round(156.3) */
    schedule_of(NULL, 0, 20000, &total, &warmup);
    ck_assert_int_eq(total, 1563);
    ck_assert_int_eq(warmup, 156);
    /* WebVid size: 10M videos, 78,125 steps an epoch */
    schedule_of(NULL, 0, 10000000, &total, &warmup);
    ck_assert_int_eq(total, 781250);
    ck_assert_int_eq(warmup, 78125);
    /* no floor: plain epochs */
    const char *no_floor[] = {"train.min_steps=0"};
    schedule_of(no_floor, 1, 6000, &total, &warmup);
    ck_assert_int_eq(total, 469);
    ck_assert_int_eq(warmup, 47);
    /* steps wins over epochs and the floor; the fraction applies to it */
    const char *fixed[] = {"train.steps=300"};
    schedule_of(fixed, 1, 10000000, &total, &warmup);
    ck_assert_int_eq(total, 300);
    ck_assert_int_eq(warmup, 30);
    /* warmup in steps wins over the fraction; 0 means none */
    const char *steps_warmup[] = {"train.warmup=250", "train.warmup_frac=0.5"};
    schedule_of(steps_warmup, 2, 6000, &total, &warmup);
    ck_assert_int_eq(total, 1000);
    ck_assert_int_eq(warmup, 250);
    const char *no_warmup[] = {"train.warmup=0"};
    schedule_of(no_warmup, 1, 6000, &total, &warmup);
    ck_assert_int_eq(warmup, 0);
    const char *frac0[] = {"train.warmup_frac=0"};
    schedule_of(frac0, 1, 6000, &total, &warmup);
    ck_assert_int_eq(warmup, 0);
}
END_TEST

START_TEST(test_schedule_keys_out_of_range_are_errors_naming_the_key) {
    const char *bad[][2] = {{"train.warmup=-2", "warmup"},
                            {"train.warmup_frac=0.6", "warmup_frac"},
                            {"train.warmup_frac=-0.1", "warmup_frac"},
                            {"train.min_steps=-1", "min_steps"},
                            {"train.lr=-0.5", "lr"},
                            {"model.layers=-2", "layers"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vc_config *cfg;
        vc_run_cfg rc;
        vc_status st = vc_run_config_parse("[data]\nfile = x.h5\n", "schedule.ini", &bad[i][0], 1, &cfg, &rc);
        ck_assert_msg(st != VC_OK, "%s was accepted", bad[i][0]);
        ck_assert_msg(strstr(vc_last_error(), bad[i][1]), "'%s': the message does not name %s: %s", bad[i][0],
                      bad[i][1], vc_last_error());
    }
}
END_TEST

/* The shipped pooler configs: an MSR-VTT-size set (6,000 training videos)
 * gets at least 1,000 steps with a warmup inside the run, and a WebVid-size
 * one (10M) is scaled by epochs, not held at a step count. */
START_TEST(test_shipped_configs_train_small_sets_long_enough_and_scale_with_epochs) {
    char dir[600], pattern[700];
    configs_dir(dir, sizeof dir);
    snprintf(pattern, sizeof pattern, "%s/*.ini", dir);
    glob_t g;
    ck_assert_msg(glob(pattern, 0, NULL, &g) == 0, "no configs found as %s", pattern);
    int checked = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        if (strstr(g.gl_pathv[i], "/demo")) continue; /* the demo's own short schedule */
        vc_config *cfg;
        vc_run_cfg rc;
        ck_assert_msg(vc_run_config_load(g.gl_pathv[i], NULL, 0, &cfg, &rc) == VC_OK, "%s", vc_last_error());
        int64_t total, warmup;
        vc_run_schedule(&rc, 6000, &total, &warmup);
        ck_assert_msg(total >= 1000, "%s: %lld steps for 6,000 videos", g.gl_pathv[i], (long long)total);
        ck_assert_msg(warmup > 0 && warmup <= total / 4, "%s: warmup %lld of %lld steps", g.gl_pathv[i],
                      (long long)warmup, (long long)total);
        int64_t per_epoch = 10000000 / rc.batch;
        vc_run_schedule(&rc, 10000000, &total, &warmup);
        ck_assert_msg(rc.steps == 0 && total >= per_epoch && total <= 10 * per_epoch + 1,
                      "%s: %lld steps for 10M videos (%lld an epoch)", g.gl_pathv[i], (long long)total,
                      (long long)per_epoch);
        ck_assert_msg(warmup > 0 && warmup <= total / 4, "%s: warmup %lld of %lld steps at 10M videos",
                      g.gl_pathv[i], (long long)warmup, (long long)total);
        vc_config_free(cfg);
        checked++;
    }
    ck_assert_msg(checked >= VC_POOL_NTYPES, "only %d pooler configs in %s", checked, dir);
    globfree(&g);
}
END_TEST

/* The shipped pooler configs state the built-in defaults: with the swept
 * keys (lr, layers, warmup, warmup_frac, min_steps, epochs, steps) taken out,
 * each config trains with the same numbers, so a config written from
 * scratch gets what the sweep chose for its pooler type (configs/README.md). */
START_TEST(test_shipped_configs_agree_with_the_built_in_defaults) {
    static const char *const swept[] = {"lr", "layers", "warmup", "warmup_frac", "min_steps", "epochs", "steps"};
    char dir[600], pattern[700];
    configs_dir(dir, sizeof dir);
    snprintf(pattern, sizeof pattern, "%s/*.ini", dir);
    glob_t g;
    ck_assert_msg(glob(pattern, 0, NULL, &g) == 0, "no configs found as %s", pattern);
    int checked = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        if (strstr(g.gl_pathv[i], "/demo")) continue;
        FILE *f = fopen(g.gl_pathv[i], "r");
        ck_assert_msg(f, "cannot read %s", g.gl_pathv[i]);
        char text[8192] = "", line[512];
        int dropped = 0;
        while (fgets(line, sizeof line, f)) {
            bool keep = true;
            for (size_t k = 0; k < sizeof swept / sizeof swept[0]; k++) {
                size_t n = strlen(swept[k]);
                if (!strncmp(line, swept[k], n) && (line[n] == ' ' || line[n] == '=')) keep = false;
            }
            if (keep) {
                ck_assert(strlen(text) + strlen(line) < sizeof text);
                strcat(text, line);
            } else
                dropped++;
        }
        fclose(f);
        ck_assert_msg(dropped >= 5, "%s states only %d of the swept keys", g.gl_pathv[i], dropped);
        vc_config *cfg, *bare;
        vc_run_cfg rc, rb;
        ck_assert_msg(vc_run_config_load(g.gl_pathv[i], NULL, 0, &cfg, &rc) == VC_OK, "%s", vc_last_error());
        ck_assert_msg(vc_run_config_parse(text, g.gl_pathv[i], NULL, 0, &bare, &rb) == VC_OK, "%s", vc_last_error());
        const char *name = vc_pool_type_name(rc.model.type);
        ck_assert_msg(rc.lr == rb.lr, "%s: lr %g, built-in for %s %g", g.gl_pathv[i], rc.lr, name, rb.lr);
        ck_assert_msg(rc.lr == vc_run_default_lr(rc.model.type), "%s: lr %g", g.gl_pathv[i], rc.lr);
        ck_assert_msg(rc.model.layers == rb.model.layers, "%s: layers %d, built-in for %s %d", g.gl_pathv[i],
                      rc.model.layers, name, rb.model.layers);
        ck_assert_msg(rc.warmup == rb.warmup && rc.warmup_frac == rb.warmup_frac, "%s: warmup %lld/%g, built-in %lld/%g",
                      g.gl_pathv[i], (long long)rc.warmup, rc.warmup_frac, (long long)rb.warmup, rb.warmup_frac);
        ck_assert_msg(rc.min_steps == rb.min_steps && rc.epochs == rb.epochs && rc.steps == rb.steps,
                      "%s: steps %lld, epochs %lld, min_steps %lld; built-in %lld, %lld, %lld", g.gl_pathv[i],
                      (long long)rc.steps, (long long)rc.epochs, (long long)rc.min_steps, (long long)rb.steps,
                      (long long)rb.epochs, (long long)rb.min_steps);
        vc_config_free(cfg);
        vc_config_free(bare);
        checked++;
    }
    ck_assert_msg(checked >= VC_POOL_NTYPES, "only %d pooler configs in %s", checked, dir);
    globfree(&g);
}
END_TEST

/* lr = -1 and layers = -1 (the built-in defaults) become the type's numbers,
 * and the effective config holds those numbers, not -1; a value the config
 * gives is kept as written. */
START_TEST(test_type_defaults_are_resolved_into_the_effective_config) {
    vc_config *cfg;
    vc_run_cfg rc;
    double d;
    int64_t i;
    parse_run("[data]\nfile = x.h5\n[model]\ntype = wavg\n", NULL, 0, &cfg, &rc);
    ck_assert(rc.lr == 1e-3);
    ck_assert_int_eq(vc_config_double(cfg, "train", "lr", &d), VC_OK);
    ck_assert(d == 1e-3);
    char *text = NULL;
    ck_assert_int_eq(vc_config_text(cfg, &text), VC_OK);
    ck_assert_msg(strstr(text, "(default for the type)\nlr = 0.001\n"), "%s", text);
    char *unused = NULL;
    ck_assert(vc_config_unused(cfg, &unused) == VC_OK);
    ck_assert_msg(!unused, "%s", unused ? unused : "");
    free(text);
    vc_config_free(cfg);
    parse_run("[data]\nfile = x.h5\n[model]\ntype = transformer\n", NULL, 0, &cfg, &rc);
    ck_assert(rc.lr == 3e-4);
    ck_assert_int_eq(rc.model.layers, 2);
    ck_assert_int_eq(vc_config_int(cfg, "model", "layers", &i), VC_OK);
    ck_assert_int_eq(i, 2);
    vc_config_free(cfg);
    parse_run("[data]\nfile = x.h5\n[model]\ntype = tokenlearner\n", NULL, 0, &cfg, &rc);
    ck_assert_int_eq(rc.model.layers, 1);
    ck_assert(rc.lr == 3e-4);
    vc_config_free(cfg);
    parse_run("[data]\nfile = x.h5\n[model]\ntype = lstm\n", NULL, 0, &cfg, &rc);
    ck_assert(rc.lr == 1e-3);
    vc_config_free(cfg);
    const char *given[] = {"train.lr=1.234567891e-4", "model.layers=3"};
    parse_run("[data]\nfile = x.h5\n", given, 2, &cfg, &rc);
    ck_assert(rc.lr == 1.234567891e-4);
    ck_assert_int_eq(rc.model.layers, 3);
    ck_assert_int_eq(vc_config_double(cfg, "train", "lr", &d), VC_OK);
    ck_assert(d == 1.234567891e-4);
    vc_config_free(cfg);
}
END_TEST

/* ---- 2. config errors through the command line ------------------------------------ */

/* The command fails with exactly one line of output holding every one of
 * the NULL-terminated `needles`. */
static void assert_one_line_error(int rc, const char *text, ...) {
    ck_assert_msg(rc != 0 && rc < 128, "exit %d (expected a clean non-zero exit): %s", rc, text);
    ck_assert_msg(count_lines(text) == 1, "expected one line, got: %s", text);
    va_list ap;
    va_start(ap, text);
    for (const char *n; (n = va_arg(ap, const char *));)
        ck_assert_msg(strstr(text, n), "the message does not name '%s': %s", n, text);
    va_end(ap);
}

START_TEST(test_config_errors_are_one_line_naming_file_line_and_key) {
    need_data();
    char cfg[700], dir[600], bad[700], *text;
    int rc;
    make_config("errors", NULL, NULL, cfg, sizeof cfg, dir, sizeof dir);

    /* an unknown key in the file: file, line and key, for train and eval */
    snprintf(bad, sizeof bad, "%s/unknown_key.ini", vc_test_tmpdir());
    char ini[1024];
    snprintf(ini, sizeof ini, "[data]\nfile = %s\n\n[train]\nbatch = 16\nlrr = 1e-3\n", data_path);
    vc_test_write_text(bad, ini);
    rc = run(&text, "train", bad, NULL);
    assert_one_line_error(rc, text, "unknown_key.ini:6", "lrr", NULL);
    free(text);
    rc = run(&text, "eval", bad, NULL);
    assert_one_line_error(rc, text, "unknown_key.ini:6", "lrr", NULL);
    free(text);

    /* a bad value in the file */
    snprintf(ini, sizeof ini, "[data]\nfile = %s\n[train]\nbatch = sixteen\n", data_path);
    vc_test_write_text(bad, ini);
    rc = run(&text, "train", bad, NULL);
    assert_one_line_error(rc, text, "unknown_key.ini:4", "batch", "sixteen", NULL);
    free(text);

    /* a bad --set value, and an unknown --set key */
    rc = run(&text, "train", cfg, "--set", "train.batch=abc", NULL);
    assert_one_line_error(rc, text, "--set", "batch", "abc",
                          NULL);
    free(text);
    rc = run(&text, "train", cfg, "--set", "train.lr=fast", NULL);
    assert_one_line_error(rc, text, "--set", "lr", "fast", NULL);
    free(text);
    rc = run(&text, "train", cfg, "--set", "model.nope=1", NULL);
    assert_one_line_error(rc, text, "--set", "nope", NULL);
    free(text);
    rc = run(&text, "eval", cfg, "--set", "eval.batch=-3", NULL);
    assert_one_line_error(rc, text, "--set", "batch", NULL);
    free(text);

    /* a missing data file is named */
    char missing[700], set[800];
    snprintf(missing, sizeof missing, "%s/no_such_data.h5", vc_test_tmpdir());
    snprintf(set, sizeof set, "data.file=%s", missing);
    rc = run(&text, "train", cfg, "--set", set, NULL);
    assert_one_line_error(rc, text, "no_such_data.h5", NULL);
    free(text);
    rc = run(&text, "eval", cfg, "--set", set, NULL);
    assert_one_line_error(rc, text, "no_such_data.h5", NULL);
    free(text);
    /* a missing config file is named */
    snprintf(missing, sizeof missing, "%s/no_such_config.ini", vc_test_tmpdir());
    rc = run(&text, "train", missing, NULL);
    assert_one_line_error(rc, text, "no_such_config.ini", NULL);
    free(text);
}
END_TEST

/* ---- 3 and 4. an end-to-end run ------------------------------------------------------ */

/* One run shared by the end-to-end tests, made by the fixture. */
static char e2e_cfg[700], e2e_dir[600], e2e_error[8192];

static void make_e2e_run(void) {
    if (data_error[0]) return;
    make_config("e2e", NULL, NULL, e2e_cfg, sizeof e2e_cfg, e2e_dir, sizeof e2e_dir);
    char *text;
    int rc = run(&text, "train", e2e_cfg, NULL);
    if (rc != 0) snprintf(e2e_error, sizeof e2e_error, "vclip train %s failed (%d): %s", e2e_cfg, rc, text);
    free(text);
}

static void need_e2e(void) {
    need_data();
    ck_assert_msg(!e2e_error[0], "%s", e2e_error);
}

START_TEST(test_run_directory_holds_config_log_and_checkpoints) {
    need_e2e();
    char p[800];
    const char *files[] = {"config.ini", "log.jsonl", "last.safetensors", "best.safetensors"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", e2e_dir, files[i]);
        ck_assert_msg(exists(p), "%s was not written", p);
    }
    /* the effective config loads again and holds the run's settings */
    snprintf(p, sizeof p, "%s/config.ini", e2e_dir);
    vc_config *cfg;
    vc_run_cfg rc;
    ck_assert_msg(vc_run_config_load(p, NULL, 0, &cfg, &rc) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(rc.steps, 60);
    ck_assert_int_eq(rc.batch, 16);
    ck_assert_int_eq(rc.model.type, VC_POOL_TRANSFORMER);
    ck_assert_int_eq(rc.model.layers, 1);
    ck_assert_str_eq(rc.out_dir, e2e_dir);
    ck_assert_str_eq(rc.file, data_path);
    vc_config_free(cfg);

    /* both checkpoints load into the model their config describes */
    const char *ck[] = {"last.safetensors", "best.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", e2e_dir, ck[i]);
        vc_params ps;
        vc_params_init(&ps);
        vc_pooler m;
        ck_assert_msg(vc_model_from_checkpoint(p, NULL, 0, &cfg, &rc, &ps, &m) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(m.cfg.dim, 32);
        vc_params_free(&ps);
        vc_config_free(cfg);
    }
    int64_t st[3];
    snprintf(p, sizeof p, "%s/last.safetensors", e2e_dir);
    ckpt_state(p, st);
    ck_assert_int_eq(st[0], 60);
    ck_assert_int_eq(st[1], 60);
}
END_TEST

START_TEST(test_log_has_start_steps_evals_end_and_the_loss_falls) {
    need_e2e();
    run_log lg;
    log_load(e2e_dir, &lg);
    ck_assert_msg(lg.n > 2 && is_event(lg.ev[0], "start"), "the log does not begin with a start event");
    ck_assert_msg(is_event(lg.ev[lg.n - 1], "end"), "the log does not end with an end event");
    ck_assert_int_eq((int64_t)num(lg.ev[0], "total_steps"), 60);
    ck_assert_int_eq((int64_t)num(lg.ev[0], "warmup_steps"), 5);
    ck_assert_int_eq((int64_t)num(lg.ev[lg.n - 1], "step"), 60);
    double loss[64];
    int n_step = 0, n_eval = 0;
    for (int i = 1; i < lg.n - 1; i++) {
        const cJSON *o = lg.ev[i];
        if (is_event(o, "step")) {
            ck_assert_msg(n_step < 64, "more step events than steps");
            ck_assert_int_eq((int64_t)num(o, "step"), n_step + 1); /* log_every 1 */
            loss[n_step++] = num(o, "loss");
            ck_assert(isfinite(loss[n_step - 1]) && loss[n_step - 1] > 0);
            ck_assert(num(o, "lr") > 0 && num(o, "grad_norm") >= 0);
        } else if (is_event(o, "eval")) {
            n_eval++;
            ck_assert_int_eq((int64_t)num(o, "step"), 10 * n_eval);
        } else {
            ck_abort_msg("unexpected event '%s' in the middle of the log", ev_name(o));
        }
    }
    ck_assert_int_eq(n_step, 60);
    ck_assert_int_eq(n_eval, 6);
    /* single batches are noisy: compare the means of the first and last 8 */
    double first = 0, last = 0;
    for (int i = 0; i < 8; i++) first += loss[i] / 8, last += loss[n_step - 8 + i] / 8;
    ck_assert_msg(last < first - 0.1, "the training loss did not fall: %.4f at the start, %.4f at the end", first,
                  last);
    log_free(&lg);
}
END_TEST

/* The trainer runs the schedule vc_run_schedule gives: without train.steps
 * one epoch of the ~230 training videos is 15 steps at batch 16, below the
 * floor of 30, and warmup -1 makes the warmup 20% of 30 = 6 steps. */
START_TEST(test_a_run_without_steps_lasts_the_step_floor_with_a_fractional_warmup) {
    need_data();
    char cfg[700], dir[600], *text;
    make_config("floor", NULL, NULL, cfg, sizeof cfg, dir, sizeof dir);
    int rc = run(&text, "train", cfg, "--set", "train.steps=0", "--set", "train.epochs=1", "--set",
                 "train.min_steps=30", "--set", "train.warmup=-1", "--set", "train.warmup_frac=0.2", "--set",
                 "data.val_split=none", NULL);
    ck_assert_msg(rc == 0, "vclip train failed (%d): %s", rc, text);
    free(text);
    run_log lg;
    log_load(dir, &lg);
    int64_t videos = (int64_t)num(lg.ev[0], "videos");
    ck_assert_msg(videos > 16 && (videos + 15) / 16 < 30, "%lld training videos", (long long)videos);
    ck_assert_int_eq((int64_t)num(lg.ev[0], "total_steps"), 30);
    ck_assert_int_eq((int64_t)num(lg.ev[0], "warmup_steps"), 6);
    int n_step = 0;
    for (int i = 1; i < lg.n; i++) {
        if (!is_event(lg.ev[i], "step")) continue;
        int64_t k = (int64_t)num(lg.ev[i], "step"); /* 1-based: the lr of 0-based step k - 1 */
        double lr = num(lg.ev[i], "lr"), want = k <= 6 ? 2e-3 * (double)k / 6 : 2e-3;
        /* the log prints 6 significant digits */
        if (k <= 7) ck_assert_msg(fabs(lr - want) <= 1e-5 * want, "step %lld: lr %.9g, want %.9g", (long long)k, lr,
                                  want);
        else ck_assert_msg(lr < 2e-3, "step %lld: lr %.9g after the warmup is not decaying", (long long)k, lr);
        n_step++;
    }
    ck_assert_int_eq(n_step, 30);
    ck_assert(is_event(lg.ev[lg.n - 1], "end") && (int64_t)num(lg.ev[lg.n - 1], "step") == 30);
    log_free(&lg);
}
END_TEST

/* `vclip eval --json` of a checkpoint: exactly the documented keys. */
static cJSON *eval_json(const char *ckpt, const char *split, const char *name) {
    char out[700], *text;
    tmp_path(out, sizeof out, name);
    int rc = run(&text, "eval", e2e_cfg, "--checkpoint", ckpt, "--split", split, "--json", out, NULL);
    ck_assert_msg(rc == 0, "vclip eval failed (%d): %s", rc, text);
    ck_assert_msg(strstr(text, "R@1"), "no table on stdout: %s", text);
    free(text);
    char *js = slurp(out);
    cJSON *o = cJSON_Parse(js);
    ck_assert_msg(o && cJSON_IsObject(o), "%s is not a JSON object: %s", out, js);
    free(js);
    unlink(out);
    return o;
}

START_TEST(test_eval_json_has_exactly_the_documented_keys) {
    need_e2e();
    char ckpt[800];
    snprintf(ckpt, sizeof ckpt, "%s/best.safetensors", e2e_dir);
    cJSON *o = eval_json(ckpt, "test", "eval_test.json");
    const char *want[] = {"t2v", "v2t", "videos", "captions", "top1", "top5"};
    int n = 0;
    for (const cJSON *c = o->child; c; c = c->next) {
        bool known = false;
        for (int i = 0; i < 6; i++) known |= strcmp(c->string, want[i]) == 0;
        ck_assert_msg(known, "unexpected key '%s' in the eval JSON", c->string);
        n++;
    }
    ck_assert_int_eq(n, 6);
    const char *dirs[] = {"t2v", "v2t"}, *recalls[] = {"R@1", "R@5", "R@10"};
    for (int d = 0; d < 2; d++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, dirs[d]);
        int k = 0;
        for (const cJSON *c = s ? s->child : NULL; c; c = c->next) k++;
        ck_assert_msg(k == 5, "\"%s\" has %d keys, not R@1 R@5 R@10 MdR MnR", dirs[d], k);
        double prev = 0;
        for (int r = 0; r < 3; r++) {
            double v = sub_num(o, dirs[d], recalls[r]);
            ck_assert_msg(v >= 0 && v <= 100, "%s %s = %g is not a percentage", dirs[d], recalls[r], v);
            ck_assert_msg(v >= prev, "%s %s = %g is below a smaller k's recall", dirs[d], recalls[r], v);
            prev = v;
        }
        ck_assert(sub_num(o, dirs[d], "MdR") >= 1 && sub_num(o, dirs[d], "MnR") >= 1);
    }
    ck_assert(num(o, "videos") > 0 && num(o, "captions") >= num(o, "videos") * 0.5);
    for (int i = 4; i < 6; i++) {
        double v = num(o, want[i]);
        ck_assert_msg(v >= 0 && v <= 100, "%s = %g is not a percentage", want[i], v);
    }
    ck_assert(num(o, "top5") >= num(o, "top1"));
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_best_checkpoint_is_selected_on_val) {
    need_e2e();
    run_log lg;
    log_load(e2e_dir, &lg);
    double best_score = -1;
    int64_t best_step = -1;
    const cJSON *best_ev = NULL;
    for (int i = 0; i < lg.n; i++) {
        const cJSON *o = lg.ev[i];
        if (!is_event(o, "eval")) continue;
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(o, "split");
        ck_assert_msg(cJSON_IsString(split) && strcmp(split->valuestring, "val") == 0,
                      "an evaluation during training used split %s", cJSON_IsString(split) ? split->valuestring : "?");
        double score = num(o, "score");
        ck_assert(fabs(score - (sub_num(o, "t2v", "R@1") + sub_num(o, "v2t", "R@1")) / 2) < 1e-3);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "best");
        ck_assert(cJSON_IsBool(b));
        ck_assert_msg(cJSON_IsTrue(b) == (score > best_score), "step %g: best is %s with score %g after best %g",
                      num(o, "step"), cJSON_IsTrue(b) ? "true" : "false", score, best_score);
        if (cJSON_IsTrue(b)) best_score = score, best_step = (int64_t)num(o, "step"), best_ev = o;
    }
    ck_assert_msg(best_ev, "no evaluation was marked best");
    ck_assert_int_eq((int64_t)num(lg.ev[lg.n - 1], "best_step"), best_step);

    /* best.safetensors is the model of that step */
    char ckpt[800];
    snprintf(ckpt, sizeof ckpt, "%s/best.safetensors", e2e_dir);
    int64_t st[3];
    ckpt_state(ckpt, st);
    ck_assert_int_eq(st[0], best_step);
    ck_assert_int_eq(st[2], best_step);
    /* and evaluating it on val again gives the logged numbers */
    cJSON *o = eval_json(ckpt, "val", "eval_val.json");
    ck_assert_int_eq((int64_t)num(o, "videos"), (int64_t)num(best_ev, "videos"));
    ck_assert_int_eq((int64_t)num(o, "captions"), (int64_t)num(best_ev, "captions"));
    ck_assert(fabs(sub_num(o, "t2v", "R@1") - sub_num(best_ev, "t2v", "R@1")) < 1e-3);
    ck_assert(fabs(sub_num(o, "v2t", "R@1") - sub_num(best_ev, "v2t", "R@1")) < 1e-3);
    ck_assert(fabs(sub_num(o, "t2v", "MnR") - sub_num(best_ev, "t2v", "MnR")) < 1e-3);
    cJSON_Delete(o);
    /* the test split is a different set of videos from the one selection saw */
    o = eval_json(ckpt, "test", "eval_test2.json");
    ck_assert_int_ne((int64_t)num(o, "videos"), (int64_t)num(best_ev, "videos"));
    cJSON_Delete(o);
    log_free(&lg);
}
END_TEST

START_TEST(test_without_val_split_no_best_checkpoint) {
    need_data();
    char cfg[700], dir[600], *text;
    make_config("noval", NULL, NULL, cfg, sizeof cfg, dir, sizeof dir);
    int rc = run(&text, "train", cfg, "--set", "data.val_split=none", "--set", "train.steps=12", NULL);
    ck_assert_msg(rc == 0, "vclip train failed (%d): %s", rc, text);
    free(text);
    char p[800];
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    ck_assert(exists(p));
    snprintf(p, sizeof p, "%s/best.safetensors", dir);
    ck_assert_msg(!exists(p), "best.safetensors was written without a validation split");
    run_log lg;
    log_load(dir, &lg);
    for (int i = 0; i < lg.n; i++) ck_assert_msg(!is_event(lg.ev[i], "eval"), "an evaluation ran without val split");
    ck_assert(is_event(lg.ev[lg.n - 1], "end"));
    log_free(&lg);
}
END_TEST

/* ---- 5. kill -9 at any moment, resume, same bits ---------------------------------------- */

/* How one launch of run B ends: killed `delay_s` after starting, or
 * `delay_s` after the launch has logged step `at_step` (0: by time only),
 * or never (the last launch). */
typedef struct {
    int at_step;
    double delay_s;
} kill_plan;

static int64_t last_logged_step(const char *log_path, long from) {
    FILE *f = fopen(log_path, "r");
    if (!f) return -1;
    int64_t step = -1;
    if (fseek(f, from, SEEK_SET) == 0) {
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            if (!strchr(line, '\n')) break; /* a line still being written */
            const char *s = strstr(line, "\"event\": \"step\"");
            long long v;
            if (s && (s = strstr(line, "\"step\": ")) && sscanf(s + 8, "%lld", &v) == 1) step = v;
        }
    }
    fclose(f);
    return step;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Kills the launch per plan; returns its exit code (128 + 9 when killed). */
static int launch(const char *const *argv, const char *dir, const kill_plan *kp, const char *out, pid_t *pid_out) {
    char log_path[800];
    snprintf(log_path, sizeof log_path, "%s/log.jsonl", dir);
    long from = file_size(log_path);
    pid_t pid = spawn(argv, out);
    if (pid_out) *pid_out = pid;
    double t0 = now_s(), trigger = kp ? (kp->at_step ? -1 : t0) : -1;
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        ck_assert(w >= 0);
        if (w == pid) return exit_code(status);
        if (kp && trigger < 0 && last_logged_step(log_path, from) >= kp->at_step) trigger = now_s();
        if (kp && trigger >= 0 && now_s() - trigger >= kp->delay_s) break;
        ck_assert_msg(now_s() - t0 < 100, "vclip train did not finish in 100 s");
        sleep_s(kp && trigger < 0 ? 2e-4 : kp ? fmin(2e-4, kp->delay_s / 4) : 2e-3);
    }
    kill(pid, SIGKILL);
    ck_assert(waitpid(pid, &status, 0) == pid);
    return exit_code(status);
}

/* Temporary checkpoint files in dir: all of them (pid 0) or pid's. */
static int count_tmp_files(const char *dir, pid_t pid) {
    char pattern[800];
    if (pid) snprintf(pattern, sizeof pattern, "%s/*.tmp.%d", dir, (int)pid);
    else snprintf(pattern, sizeof pattern, "%s/*.tmp.*", dir);
    glob_t g;
    int n = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (n) globfree(&g);
    return n;
}

/* 0: deterministic paths only; 1: dropout, random frame windows, a text head. */
static const char *resume_model[2] = {"", "dropout = 0.1\ntext_head = linear\n"};
static const char *resume_data[2] = {"data.train_sampling=uniform", "data.train_sampling=random"};

/* The temporaries a killed run leaves (a checkpoint write, a resume's cut
 * of the log) are removed by the next run in that directory when their
 * writer is gone, and kept while it lives. */
START_TEST(test_a_run_removes_the_temporaries_of_killed_runs) {
    need_data();
    char cfg[700], dir[600], p[800];
    make_config("stale", NULL, NULL, cfg, sizeof cfg, dir, sizeof dir);
    ck_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
    pid_t dead = fork();
    ck_assert(dead >= 0);
    if (dead == 0) _exit(0);
    int status;
    ck_assert(waitpid(dead, &status, 0) == dead);
    const char *names[3] = {"last.safetensors", "best.safetensors", "log.jsonl"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s.tmp.%d", dir, names[i], (int)dead);
        vc_test_write_text(p, "partial");
    }
    snprintf(p, sizeof p, "%s/log.jsonl.tmp.%d", dir, (int)getpid()); /* a live writer's */
    vc_test_write_text(p, "partial");
    char *text;
    int rc = run(&text, "train", cfg, "--set", "train.steps=2", NULL);
    ck_assert_msg(rc == 0, "%s", text);
    ck_assert_msg(strstr(text, "removed 3 partial files of an interrupted run (checkpoint or log)"), "%s", text);
    free(text);
    ck_assert_int_eq(count_tmp_files(dir, dead), 0);
    ck_assert_int_eq(count_tmp_files(dir, getpid()), 1);
    unlink(p);
}
END_TEST

START_TEST(test_killed_and_resumed_run_is_bit_identical) {
    need_data();
    char cfg_a[700], dir_a[600], cfg_b[700], dir_b[600], name[64], out[700], *text;
    snprintf(name, sizeof name, "resume%d_a", _i);
    make_config(name, resume_model[_i], NULL, cfg_a, sizeof cfg_a, dir_a, sizeof dir_a);
    snprintf(name, sizeof name, "resume%d_b", _i);
    make_config(name, resume_model[_i], NULL, cfg_b, sizeof cfg_b, dir_b, sizeof dir_b);
    /* checkpoints every 3 steps, evaluations every 5 (so some are redone
     * after a resume from the checkpoint before them) */
    const char *common[] = {"--set", "train.steps=30", "--set", "train.checkpoint_every=3", "--set",
                            "train.eval_every=5", "--set", resume_data[_i]};
    const char *argv_a[16] = {"train", cfg_a}, *argv_b[16] = {"train", cfg_b};
    for (int i = 0; i < 8; i++) argv_a[2 + i] = argv_b[2 + i] = common[i];
    tmp_path(out, sizeof out, "train_a.out");

    double t0 = now_s();
    int rc = launch(argv_a, dir_a, NULL, out, NULL);
    double wall = now_s() - t0;
    text = slurp(out);
    ck_assert_msg(rc == 0, "uninterrupted run failed (%d): %s", rc, text);
    free(text);

    /* Run B: the first launch fresh, every later one with --resume. Kills
     * land during start-up, before the first checkpoint, right after a step
     * that writes a checkpoint (often inside the write), and between. */
    const kill_plan plan[] = {
        {0, 0.001}, {2, 0},  {3, 0},      {6, 0.0002}, {0, 0.05 * wall}, {11, 0},
        {15, 1e-4}, {18, 0}, {22, 0.0005}, {0, 0.4 * wall}, {27, 0},     {30, 0},
    };
    int n_plan = (int)(sizeof plan / sizeof plan[0]), kills = 0, in_write = 0, before_first = 0, mid = 0;
    tmp_path(out, sizeof out, "train_b.out");
    argv_b[11] = NULL;
    for (int k = 0;; k++) {
        argv_b[10] = k ? "--resume" : NULL;
        pid_t pid;
        rc = launch(argv_b, dir_b, k < n_plan ? &plan[k] : NULL, out, &pid);
        if (rc == 0) break;
        text = slurp(out);
        ck_assert_msg(rc == 128 + SIGKILL, "launch %d of the interrupted run failed (%d): %s", k, rc, text);
        free(text);
        kills++;
        char last[800];
        snprintf(last, sizeof last, "%s/last.safetensors", dir_b);
        if (!exists(last)) {
            before_first++;
        } else {
            int64_t st[3];
            ckpt_state(last, st); /* a kill never leaves a broken checkpoint */
            mid += st[0] > 0 && st[0] < 30;
        }
        /* a temporary file of this launch: the kill landed inside a checkpoint write */
        in_write += count_tmp_files(dir_b, pid) > 0;
        ck_assert_msg(k < n_plan + 2, "the interrupted run never finished");
    }
    /* the partial writes of killed launches were cleaned up by the next one */
    ck_assert_msg(count_tmp_files(dir_b, 0) == 0, "%d partial files left in %s", count_tmp_files(dir_b, 0),
                  dir_b);
    ck_assert_msg(kills >= 6 && mid >= 3, "only %d kills, %d with a checkpoint mid-run (the run took %.3f s)", kills,
                  mid, wall);

    /* B resumed from checkpoints in the middle of the run */
    run_log lg;
    log_load(dir_b, &lg);
    int resumes = 0;
    for (int i = 0; i < lg.n; i++) resumes += is_event(lg.ev[i], "resume") && num(lg.ev[i], "step") > 0;
    ck_assert_msg(resumes >= 2, "only %d resumes from a checkpoint", resumes);
    ck_assert(is_event(lg.ev[lg.n - 1], "end"));
    /* each resume cut the log back to its checkpoint: every step is logged once, in order */
    int64_t prev = 0, steps = 0;
    for (int i = 0; i < lg.n; i++) {
        if (!is_event(lg.ev[i], "step")) continue;
        int64_t at = (int64_t)num(lg.ev[i], "step");
        ck_assert_msg(at > prev, "log.jsonl of the resumed run: step %lld after step %lld", (long long)at, (long long)prev);
        prev = at;
        steps++;
    }
    run_log la;
    log_load(dir_a, &la);
    int64_t steps_a = 0;
    for (int i = 0; i < la.n; i++) steps_a += is_event(la.ev[i], "step");
    log_free(&la);
    ck_assert_msg(steps == steps_a, "the resumed run logs %lld steps, the uninterrupted one %lld", (long long)steps,
                  (long long)steps_a);
    log_free(&lg);

    char a[800], b[800];
    snprintf(a, sizeof a, "%s/last.safetensors", dir_a);
    snprintf(b, sizeof b, "%s/last.safetensors", dir_b);
    assert_same_tensors(a, b);
    snprintf(a, sizeof a, "%s/best.safetensors", dir_a);
    snprintf(b, sizeof b, "%s/best.safetensors", dir_b);
    assert_same_tensors(a, b);
    printf("resume test %d: %d kills (%d before the first checkpoint, %d with one mid-run, %d left a partial "
           "checkpoint write), %d resumes; bit-identical\n",
           _i, kills, before_first, mid, in_write, resumes);
}
END_TEST

/* ---- 6. a non-finite loss stops the run ----------------------------------------------- */

START_TEST(test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint) {
    need_data();
    char cfg[700], dir[600], *text;
    /* lr 10 with decoupled weight decay 10 multiplies the weight matrices
     * by -99 every step after the warmup: the loss overflows within a few
     * steps, while the warmup lets the first steps succeed */
    make_config("blowup", NULL, NULL, cfg, sizeof cfg, dir, sizeof dir);
    int rc = run(&text, "train", cfg, "--set", "train.lr=10", "--set", "train.weight_decay=10", "--set",
                 "train.warmup=3", "--set", "train.checkpoint_every=1", "--set", "train.steps=200", "--set",
                 "train.eval_every=1000", "--set", "train.grad_clip=0", NULL);
    ck_assert_msg(rc != 0 && rc < 128, "exit %d: %s", rc, text);
    ck_assert_msg(count_lines(text) >= 1, "no message");
    const char *msg = strstr(text, "vclip train: ");
    ck_assert_msg(msg, "no error line: %s", text);
    long long step = -1;
    const char *s = strstr(msg, "step ");
    ck_assert_msg(s && sscanf(s + 5, "%lld", &step) == 1, "the message names no step: %s", msg);
    ck_assert_msg(step >= 1 && step < 200, "step %lld: %s", step, msg);
    ck_assert_msg(strstr(msg, "nan") || strstr(msg, "inf") || strstr(msg, "NaN") || strstr(msg, "Inf"),
                  "the message does not say what was not finite: %s", msg);
    ck_assert_msg(strstr(msg, "last.safetensors"), "the message does not name the checkpoint: %s", msg);
    free(text);

    /* the last checkpoint is the state before the failed step: loadable, finite */
    char p[800];
    snprintf(p, sizeof p, "%s/last.safetensors", dir);
    int64_t st[3];
    ckpt_state(p, st);
    ck_assert_int_eq(st[0], step);
    vc_config *c;
    vc_run_cfg rc2;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    ck_assert_msg(vc_model_from_checkpoint(p, NULL, 0, &c, &rc2, &ps, &m) == VC_OK, "%s", vc_last_error());
    vc_params_free(&ps);
    vc_config_free(c);
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, p, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    for (int i = 0; i < vc_st_count(f); i++) {
        const vc_st_tensor *t = vc_st_at(f, i);
        if (t->dtype != VC_ST_F32) continue;
        for (int64_t k = 0; k < t->numel; k++) {
            float x;
            memcpy(&x, (const char *)t->data + 4 * k, 4);
            ck_assert_msg(isfinite(x), "'%s'[%lld] = %g in the last good checkpoint", t->name, (long long)k, x);
        }
    }
    vc_st_close(f);
    /* the log stops without an end event */
    run_log lg;
    log_load(dir, &lg);
    ck_assert(lg.n > 1 && !is_event(lg.ev[lg.n - 1], "end"));
    log_free(&lg);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("configs");
    tcase_add_test(tc, test_every_shipped_config_validates);
    tcase_add_test(tc, test_grad_norm_is_exact_and_the_same_for_any_thread_count);
    tcase_add_test(tc, test_schedule_is_epochs_with_a_step_floor_and_warmup_a_fraction_of_it);
    tcase_add_test(tc, test_schedule_keys_out_of_range_are_errors_naming_the_key);
    tcase_add_test(tc, test_shipped_configs_train_small_sets_long_enough_and_scale_with_epochs);
    tcase_add_test(tc, test_shipped_configs_agree_with_the_built_in_defaults);
    tcase_add_test(tc, test_type_defaults_are_resolved_into_the_effective_config);
    suite_add_tcase(s, tc);
    if (!vc_test_vclip_bin()) {
        printf("SKIP: vclip train/eval command tests (VCLIP_BIN is not set; run them with make test)\n");
        return s;
    }
    TCase *cli = tcase_create("command");
    tcase_set_timeout(cli, 120);
    tcase_add_unchecked_fixture(cli, make_data, NULL);
    tcase_add_unchecked_fixture(cli, make_e2e_run, NULL);
    tcase_add_test(cli, test_config_errors_are_one_line_naming_file_line_and_key);
    tcase_add_test(cli, test_run_directory_holds_config_log_and_checkpoints);
    tcase_add_test(cli, test_log_has_start_steps_evals_end_and_the_loss_falls);
    tcase_add_test(cli, test_eval_json_has_exactly_the_documented_keys);
    tcase_add_test(cli, test_best_checkpoint_is_selected_on_val);
    tcase_add_test(cli, test_without_val_split_no_best_checkpoint);
    tcase_add_test(cli, test_a_run_without_steps_lasts_the_step_floor_with_a_fractional_warmup);
    tcase_add_loop_test(cli, test_killed_and_resumed_run_is_bit_identical, 0, 2);
    tcase_add_test(cli, test_a_run_removes_the_temporaries_of_killed_runs);
    tcase_add_test(cli, test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint);
    suite_add_tcase(s, cli);
    return s;
}

VC_TEST_MAIN(make_suite)
