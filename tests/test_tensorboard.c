/* test_tensorboard.c: the TensorBoard event files of runs (train/tb_events.h).
 * - CRC-32C and TensorFlow's masking against known values (RFC 3720's
 *   vectors; masked values computed by TensorBoard's own crc32c).
 * - The writer's records read back by vclip's reader: every value (0.0
 *   included, which a proto3 field outside a oneof would drop), the version
 *   record first, a damaged record stopping the reader, the resume cut.
 * - Through the built binary ($VCLIP_BIN; SKIP without it): a training run's
 *   event file holds exactly the scalars of its log.jsonl, each (tag, step)
 *   once; a run stopped with SIGKILL after steps past its checkpoint, its
 *   event file's tail damaged on top, and resumed, still does.
 * - The same two runs read by TensorBoard itself (its event file loader, which
 *   checks both CRCs of every record, and its EventAccumulator), through
 *   tests/ref_tensorboard.py in build/venv-tb (`make tensorboard-ref`, or
 *   $VC_TB_PYTHON); SKIP without it. */
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
#include "tensor/safetensors.h"
#include "train/tb_events.h"

/* ---- files ---- */

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "cannot read %s", path);
    ck_assert(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    ck_assert(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    char *buf = malloc((size_t)n + 1);
    ck_assert(buf);
    ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void fresh_dir(char *dir, size_t n, const char *name) {
    tmp_path(dir, n, name);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    ck_assert(system(cmd) == 0);
}

/* Event files (any tfevents name) in dir; the first one's path in path. */
static int count_event_files(const char *dir, char *path, size_t n) {
    char pattern[700];
    snprintf(pattern, sizeof pattern, "%s/*tfevents*", dir);
    glob_t g;
    int k = glob(pattern, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    if (k && path) snprintf(path, n, "%s", g.gl_pathv[0]);
    if (k) globfree(&g);
    return k;
}

/* ---- what a reader saw ---- */

typedef struct {
    char tag[64];
    int64_t step;
    float value;
} tb_val;

typedef struct {
    tb_val v[8192];
    int n;
} tb_vals;

static vc_status collect(void *ud, int64_t step, double wall, const char *tag, float value) {
    tb_vals *t = ud;
    ck_assert_msg(t->n < 8192, "too many values");
    ck_assert_msg(wall > 1e9, "wall time %.3f is not seconds since the epoch", wall);
    snprintf(t->v[t->n].tag, sizeof t->v[t->n].tag, "%s", tag);
    t->v[t->n].step = step;
    t->v[t->n].value = value;
    t->n++;
    return VC_OK;
}

/* ---- 1. CRC-32C ---- */

START_TEST(test_crc32c_matches_known_vectors) {
    ck_assert_uint_eq(vc_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(vc_crc32c(0, "", 0), 0);
    unsigned char b[32];
    memset(b, 0, 32); /* RFC 3720 B.4 */
    ck_assert_uint_eq(vc_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, 32);
    ck_assert_uint_eq(vc_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)i;
    ck_assert_uint_eq(vc_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) b[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(vc_crc32c(0, b, 32), 0x113FDB5Cu);
    /* continuing a CRC over a split buffer gives the whole buffer's */
    ck_assert_uint_eq(vc_crc32c(vc_crc32c(0, b, 13), b + 13, 19), 0x113FDB5Cu);
}
END_TEST

START_TEST(test_masked_crc_matches_tensorboards) {
    /* values from tensorboard.compat.tensorflow_stub.pywrap_tensorflow.masked_crc32c */
    ck_assert_uint_eq(vc_tb_masked_crc("123456789", 9), 0xC78AB0E5u);
    unsigned char zero[8] = {0};
    ck_assert_uint_eq(vc_tb_masked_crc(zero, 8), 0x07980329u);
    ck_assert_uint_eq(vc_tb_masked_crc("", 0), 0xA282EAD8u);
}
END_TEST

/* ---- 2. writer and reader ---- */

static const float some_values[] = {0.0f, -0.0f, 1.0f, -2.5f, 3.25e-7f, 6.02e23f, 100.0f};
#define N_SOME ((int)(sizeof some_values / sizeof some_values[0]))

/* The i-th value written at step s. */
static float value_at(int i, int64_t s) { return (float)((double)some_values[i] * (double)(s + 1)); }

/* Writes steps first..last, each with N_SOME values. */
static void write_steps(vc_tb_writer *w, int64_t first, int64_t last) {
    char tags[N_SOME][32];
    vc_tb_scalar v[N_SOME];
    for (int64_t s = first; s <= last; s++) {
        for (int i = 0; i < N_SOME; i++) {
            snprintf(tags[i], sizeof tags[i], "group%d/value_%d", i % 2, i);
            v[i] = (vc_tb_scalar){tags[i], (double)value_at(i, s)};
        }
        ck_assert_msg(vc_tb_write(w, s, v, N_SOME) == VC_OK, "%s", vc_last_error());
    }
}

static void assert_steps(const tb_vals *t, int64_t first, int64_t last) {
    ck_assert_int_eq(t->n, (int)(last - first + 1) * N_SOME);
    for (int k = 0; k < t->n; k++) {
        int64_t want_step = first + k / N_SOME;
        int i = k % N_SOME;
        char tag[32];
        snprintf(tag, sizeof tag, "group%d/value_%d", i % 2, i);
        ck_assert_int_eq(t->v[k].step, want_step);
        ck_assert_str_eq(t->v[k].tag, tag);
        float want = value_at(i, want_step);
        ck_assert_msg(memcmp(&t->v[k].value, &want, 4) == 0, "step %lld %s: read %g, wrote %g", (long long)want_step,
                      tag, t->v[k].value, want);
    }
}

START_TEST(test_every_value_reads_back_exactly_zero_included) {
    char dir[600];
    fresh_dir(dir, sizeof dir, "rw");
    vc_tb_writer *w;
    ck_assert_msg(vc_tb_open(&w, dir, -1, NULL) == VC_OK, "%s", vc_last_error());
    char path[700];
    snprintf(path, sizeof path, "%s", vc_tb_path(w));
    const char *base = strrchr(path, '/') + 1;
    ck_assert_msg(strncmp(base, "events.out.tfevents.", 20) == 0 && strlen(base) > 31 &&
                      strcmp(base + strlen(base) - 6, ".vclip") == 0,
                  "file name %s is not events.out.tfevents.TIME.HOST.vclip", base);
    write_steps(w, 1, 5);
    ck_assert(vc_tb_close(w) == VC_OK);
    tb_vals *t = calloc(1, sizeof *t);
    vc_tb_read_info ri;
    ck_assert_msg(vc_tb_read(path, collect, t, &ri) == VC_OK, "%s", vc_last_error());
    ck_assert(ri.has_version);
    ck_assert_int_eq(ri.records, 6);
    ck_assert_int_eq(ri.values, 5 * N_SOME);
    ck_assert_int_eq(ri.good_bytes, ri.file_size);
    ck_assert_int_eq(ri.file_size, file_size(path));
    assert_steps(t, 1, 5);
    free(t);
}
END_TEST

START_TEST(test_a_damaged_record_stops_the_reader_there) {
    char dir[600], path[700];
    fresh_dir(dir, sizeof dir, "damaged");
    vc_tb_writer *w;
    ck_assert(vc_tb_open(&w, dir, -1, NULL) == VC_OK);
    write_steps(w, 1, 2);
    long two = file_size(vc_tb_path(w));
    write_steps(w, 3, 4);
    snprintf(path, sizeof path, "%s", vc_tb_path(w));
    ck_assert(vc_tb_close(w) == VC_OK);
    long size = file_size(path);
    /* one bit of step 3's data flipped: the data CRC fails, steps 1-2 remain */
    char *bytes = slurp(path);
    bytes[two + 12 + 5] ^= 0x10;
    FILE *f = fopen(path, "wb");
    ck_assert(f && fwrite(bytes, 1, (size_t)size, f) == (size_t)size && fclose(f) == 0);
    tb_vals *t = calloc(1, sizeof *t);
    vc_tb_read_info ri;
    ck_assert(vc_tb_read(path, collect, t, &ri) == VC_OK);
    ck_assert_int_eq(ri.good_bytes, two);
    ck_assert_int_eq(ri.file_size, size);
    assert_steps(t, 1, 2);
    /* a length whose own CRC fails stops it too */
    bytes[two + 12 + 5] ^= 0x10;
    bytes[two + 1] ^= 0x01;
    f = fopen(path, "wb");
    ck_assert(f && fwrite(bytes, 1, (size_t)size, f) == (size_t)size && fclose(f) == 0);
    t->n = 0;
    ck_assert(vc_tb_read(path, collect, t, &ri) == VC_OK);
    ck_assert_int_eq(ri.good_bytes, two);
    free(bytes);
    free(t);
    ck_assert(vc_tb_read("/nonexistent/events", NULL, NULL, &ri) == VC_ERR_IO);
    ck_assert_msg(strstr(vc_last_error(), "/nonexistent/events"), "%s", vc_last_error());
}
END_TEST

START_TEST(test_resume_cuts_back_to_the_checkpoint_step_and_drops_a_damaged_tail) {
    char dir[600], path[700];
    fresh_dir(dir, sizeof dir, "resume");
    vc_tb_writer *w;
    ck_assert(vc_tb_open(&w, dir, -1, NULL) == VC_OK);
    write_steps(w, 1, 9);
    snprintf(path, sizeof path, "%s", vc_tb_path(w));
    long nine = file_size(path);
    write_steps(w, 10, 10);
    ck_assert(vc_tb_close(w) == VC_OK);
    /* a kill in the middle of a record: the first 20 bytes of step 10's again */
    char *bytes = slurp(path);
    FILE *f = fopen(path, "ab");
    ck_assert(f && fwrite(bytes + nine, 1, 20, f) == 20 && fclose(f) == 0);
    free(bytes);
    vc_tb_resume info;
    ck_assert_msg(vc_tb_open(&w, dir, 6, &info) == VC_OK, "%s", vc_last_error());
    ck_assert_str_eq(vc_tb_path(w), path);
    ck_assert(!info.created);
    ck_assert_int_eq(info.kept, 7); /* the version record and steps 1-6 */
    ck_assert_int_eq(info.dropped, 4);
    ck_assert_int_eq(info.damaged_bytes, 20);
    write_steps(w, 7, 12);
    ck_assert(vc_tb_close(w) == VC_OK);
    tb_vals *t = calloc(1, sizeof *t);
    vc_tb_read_info ri;
    ck_assert(vc_tb_read(path, collect, t, &ri) == VC_OK);
    ck_assert_int_eq(ri.good_bytes, ri.file_size);
    ck_assert(ri.has_version);
    assert_steps(t, 1, 12);
    /* resuming at step 0 keeps only the version record */
    ck_assert(vc_tb_open(&w, dir, 0, &info) == VC_OK);
    ck_assert_int_eq(info.kept, 1);
    ck_assert_int_eq(info.dropped, 12);
    ck_assert(vc_tb_close(w) == VC_OK);
    t->n = 0;
    ck_assert(vc_tb_read(path, collect, t, &ri) == VC_OK);
    ck_assert_int_eq(ri.records, 1);
    ck_assert(ri.has_version);
    free(t);
}
END_TEST

START_TEST(test_fresh_run_replaces_earlier_files_and_several_are_an_error) {
    char dir[600], path[700], other[800];
    fresh_dir(dir, sizeof dir, "fresh");
    /* a resume without a file begins one */
    vc_tb_writer *w;
    vc_tb_resume info;
    ck_assert(vc_tb_open(&w, dir, 5, &info) == VC_OK);
    ck_assert(info.created);
    write_steps(w, 6, 7);
    snprintf(path, sizeof path, "%s", vc_tb_path(w));
    ck_assert(vc_tb_close(w) == VC_OK);
    /* a second vclip file beside it: a resume cannot tell which is the run's */
    snprintf(other, sizeof other, "%s/events.out.tfevents.0000000001.elsewhere.vclip", dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, other);
    ck_assert(system(cmd) == 0);
    /* another program's event file is left alone */
    snprintf(cmd, sizeof cmd, "touch '%s/events.out.tfevents.5.host.other'", dir);
    ck_assert(system(cmd) == 0);
    ck_assert(vc_tb_open(&w, dir, 7, NULL) == VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "several") && strstr(vc_last_error(), dir), "%s", vc_last_error());
    /* a fresh run removes both and begins one file */
    ck_assert(vc_tb_open(&w, dir, -1, NULL) == VC_OK);
    write_steps(w, 1, 1);
    ck_assert(vc_tb_close(w) == VC_OK);
    ck_assert_int_eq(count_event_files(dir, NULL, 0), 2);
    ck_assert(file_size(other) < 0);
    bool found;
    ck_assert(vc_tb_find(dir, path, sizeof path, &found) == VC_OK && found);
    tb_vals *t = calloc(1, sizeof *t);
    ck_assert(vc_tb_read(path, collect, t, NULL) == VC_OK);
    assert_steps(t, 1, 1);
    free(t);
    /* a directory that is not there */
    ck_assert(vc_tb_open(&w, "/nonexistent/run", -1, NULL) == VC_ERR_IO);
    ck_assert_msg(strstr(vc_last_error(), "/nonexistent/run"), "%s", vc_last_error());
}
END_TEST

/* ---- 3. the scalars of log.jsonl ---- */

/* One scalar a run's log.jsonl promises, with the precision it is printed
 * with there (the event file holds the float32 of the unrounded number). */
typedef struct {
    char tag[64];
    int64_t step;
    double value, abs_tol, rel_tol;
    int seen;
} expect;

typedef struct {
    expect e[8192];
    int n;
} expect_set;

static void expect_add(expect_set *x, const char *tag, int64_t step, double value, double abs_tol, double rel_tol) {
    ck_assert(x->n < 8192);
    expect *e = &x->e[x->n++];
    snprintf(e->tag, sizeof e->tag, "%s", tag);
    e->step = step;
    e->value = value;
    e->abs_tol = abs_tol;
    e->rel_tol = rel_tol + 1.2e-7; /* float32 rounding */
    e->seen = 0;
}

static double jnum(const cJSON *o, const char *key, const char *line) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "log line without number \"%s\": %s", key, line);
    return v->valuedouble;
}

/* Every scalar of dir's log.jsonl as the run finally stands: a "resume" at
 * step S takes back what the killed launch logged after S (the resumed one
 * logs it again); a "start" begins the run. */
static void expect_from_log(const char *dir, expect_set *x) {
    char path[700];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    char *text = slurp(path);
    x->n = 0;
    static const struct {
        const char *key, *tag;
        double abs_tol, rel_tol;
    } step_keys[] = {{"loss", "train/loss", 5e-7, 0},          {"lr", "train/lr", 0, 5e-6},
                     {"grad_norm", "train/grad_norm", 0, 5e-6}, {"logit_scale", "train/logit_scale", 5e-7, 0},
                     {"samples_per_s", "train/samples_per_s", 0.05, 0}, {"epoch", "train/epoch", 0, 0}};
    static const char *const recall_keys[] = {"R@1", "R@5", "R@10", "MdR", "MnR"};
    for (char *p = text, *nl; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        ck_assert_msg(nl, "%s: last line without newline", path);
        *nl = '\0';
        cJSON *o = cJSON_Parse(p);
        ck_assert_msg(o, "%s: not JSON: %s", path, p);
        const char *ev = cJSON_GetObjectItemCaseSensitive(o, "event")->valuestring;
        int64_t step = (int64_t)jnum(o, "step", p);
        if (strcmp(ev, "start") == 0) {
            x->n = 0;
        } else if (strcmp(ev, "resume") == 0) {
            int k = 0;
            for (int i = 0; i < x->n; i++)
                if (x->e[i].step <= step) x->e[k++] = x->e[i];
            x->n = k;
        } else if (strcmp(ev, "step") == 0) {
            for (size_t i = 0; i < sizeof step_keys / sizeof step_keys[0]; i++)
                expect_add(x, step_keys[i].tag, step, jnum(o, step_keys[i].key, p), step_keys[i].abs_tol,
                           step_keys[i].rel_tol);
        } else if (strcmp(ev, "eval") == 0) {
            const char *split = cJSON_GetObjectItemCaseSensitive(o, "split")->valuestring;
            char tag[64];
            for (int d = 0; d < 2; d++) {
                const char *dn = d ? "v2t" : "t2v";
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, dn);
                for (int k = 0; k < 5; k++) {
                    snprintf(tag, sizeof tag, "%s/%s_%s", split, dn, recall_keys[k]);
                    expect_add(x, tag, step, jnum(r, recall_keys[k], p), k == 3 ? 0.05 : 5e-5, 0);
                }
            }
            snprintf(tag, sizeof tag, "%s/mean_R@1", split);
            expect_add(x, tag, step, jnum(o, "score", p), 5e-5, 0);
            if (cJSON_GetObjectItemCaseSensitive(o, "top1")) {
                snprintf(tag, sizeof tag, "%s/zero_shot_top1", split);
                expect_add(x, tag, step, jnum(o, "top1", p), 5e-5, 0);
                snprintf(tag, sizeof tag, "%s/zero_shot_top5", split);
                expect_add(x, tag, step, jnum(o, "top5", p), 5e-5, 0);
            }
        }
        cJSON_Delete(o);
    }
    free(text);
    ck_assert_msg(x->n > 0, "%s holds no scalar", path);
}

/* got holds each expected (tag, step) exactly once, with its value, and
 * nothing else. who names the reader in messages. */
static void assert_matches_log(expect_set *x, const tb_vals *got, const char *who) {
    for (int i = 0; i < x->n; i++) x->e[i].seen = 0;
    for (int k = 0; k < got->n; k++) {
        const tb_val *g = &got->v[k];
        expect *e = NULL;
        for (int i = 0; i < x->n && !e; i++)
            if (x->e[i].step == g->step && strcmp(x->e[i].tag, g->tag) == 0) e = &x->e[i];
        ck_assert_msg(e, "%s: %s at step %lld is not in log.jsonl", who, g->tag, (long long)g->step);
        ck_assert_msg(!e->seen, "%s: %s at step %lld is there twice", who, g->tag, (long long)g->step);
        e->seen = 1;
        double d = fabs((double)g->value - e->value);
        ck_assert_msg(d <= e->abs_tol + e->rel_tol * fabs(e->value), "%s: %s at step %lld is %.9g, log.jsonl says %.9g",
                      who, g->tag, (long long)g->step, (double)g->value, e->value);
    }
    for (int i = 0; i < x->n; i++)
        ck_assert_msg(x->e[i].seen, "%s: %s at step %lld of log.jsonl is missing", who, x->e[i].tag,
                      (long long)x->e[i].step);
}

/* dir's single event file, read by vclip's reader, against log.jsonl. */
static void assert_event_file_matches_log(const char *dir, expect_set *x) {
    char path[700];
    ck_assert_msg(count_event_files(dir, path, sizeof path) == 1, "%s holds %d event files, not 1", dir,
                  count_event_files(dir, NULL, 0));
    tb_vals *t = calloc(1, sizeof *t);
    vc_tb_read_info ri;
    ck_assert_msg(vc_tb_read(path, collect, t, &ri) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(ri.good_bytes == ri.file_size, "%s: damaged after byte %lld of %lld", path, (long long)ri.good_bytes,
                  (long long)ri.file_size);
    ck_assert(ri.has_version);
    expect_from_log(dir, x);
    assert_matches_log(x, t, "vclip's reader");
    free(t);
}

/* ---- TensorBoard itself ---- */

static const char *tb_python(void) {
    const char *p = getenv("VC_TB_PYTHON");
    return p && *p ? p : "build/venv-tb/bin/python";
}

static bool tb_available(void) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "'%s' tests/ref_tensorboard.py --check >/dev/null 2>&1", tb_python());
    return system(cmd) == 0;
}

/* tests/ref_tensorboard.py over dir: its "raw" and "acc" lines. */
static void tb_read_with_tensorboard(const char *dir, tb_vals *raw, tb_vals *acc) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "'%s' tests/ref_tensorboard.py '%s' 2>&1", tb_python(), dir);
    FILE *p = popen(cmd, "r");
    ck_assert(p);
    raw->n = acc->n = 0;
    char line[512], err[2048] = "";
    while (fgets(line, sizeof line, p)) {
        char file[300], tag[64];
        long long step;
        double v;
        if (sscanf(line, "raw\t%299s\t%63s\t%lld\t%lf", file, tag, &step, &v) == 4) {
            ck_assert(raw->n < 8192);
            tb_val *t = &raw->v[raw->n++];
            snprintf(t->tag, sizeof t->tag, "%s", tag);
            t->step = step;
            t->value = (float)v;
        } else if (sscanf(line, "acc\t%63s\t%lld\t%lf", tag, &step, &v) == 3) {
            ck_assert(acc->n < 8192);
            tb_val *t = &acc->v[acc->n++];
            snprintf(t->tag, sizeof t->tag, "%s", tag);
            t->step = step;
            t->value = (float)v;
        } else if (strlen(err) + strlen(line) < sizeof err - 1) {
            strcat(err, line);
        }
    }
    int rc = pclose(p);
    ck_assert_msg(rc == 0, "tests/ref_tensorboard.py %s failed (%d):\n%s", dir, rc, err);
    ck_assert_msg(raw->n > 0, "TensorBoard read no scalar from %s:\n%s", dir, err);
}

static void assert_tensorboard_matches_log(const char *dir, expect_set *x) {
    tb_vals *raw = calloc(1, sizeof *raw), *acc = calloc(1, sizeof *acc);
    tb_read_with_tensorboard(dir, raw, acc);
    expect_from_log(dir, x);
    assert_matches_log(x, raw, "TensorBoard's event file loader");
    assert_matches_log(x, acc, "TensorBoard's EventAccumulator");
    free(raw);
    free(acc);
}

/* ---- running vclip ---- */


/* Starts `vclip ARGS...` (NULL-terminated) with its output in out_path. */
static pid_t spawn(const char *out_path, const char *const *args) {
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        const char *argv[32] = {vc_test_vclip_bin()};
        for (int i = 0; args[i] && i < 30; i++) argv[i + 1] = args[i];
        execv(vc_test_vclip_bin(), (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static char data_path[600], run_cfg[700], run_dir[600], kill_dir[600], kill_cfg[700], fixture_error[4096];

static void write_config(const char *cfg, const char *dir) {
    FILE *f = fopen(cfg, "w");
    ck_assert(f);
    fprintf(f,
            "[data]\nfile = %s\nframes = 12\ntrain_sampling = uniform\neval_sampling = uniform\nprefetch = 2\n"
            "[model]\ntype = transformer\nlayers = 1\nheads = 4\n"
            "[train]\nbatch = 16\nsteps = 30\nlr = 2e-3\nwarmup = 5\nseed = 1\neval_every = 3\n"
            "checkpoint_every = 5\nlog_every = 1\nout_dir = %s\n"
            "[eval]\nsplit = test\nbatch = 64\n",
            data_path, dir);
    ck_assert(fclose(f) == 0);
}

/* The data and one uninterrupted run, made once in the parent process. */
static void make_run(void) {
    tmp_path(data_path, sizeof data_path, "synth.h5");
    tmp_path(run_dir, sizeof run_dir, "run");
    snprintf(run_cfg, sizeof run_cfg, "%s.ini", run_dir);
    char out[700];
    tmp_path(out, sizeof out, "fixture.out");
    const char *synth[] = {"synth", "--out", data_path, "--videos", "300", "--dim", "32", "--max-frames", "12",
                           "--min-frames", "4", "--seed", "3", NULL};
    pid_t pid = spawn(out, synth);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        snprintf(fixture_error, sizeof fixture_error, "vclip synth failed");
        return;
    }
    write_config(run_cfg, run_dir);
    const char *train[] = {"train", run_cfg, NULL};
    pid = spawn(out, train);
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) snprintf(fixture_error, sizeof fixture_error, "vclip train failed");
}

/* Largest step a log line of kind "step" names (-1 without one). */
static int64_t last_logged_step(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int64_t step = -1;
    char line[4096];
    long long v;
    while (fgets(line, sizeof line, f)) {
        const char *s = strstr(line, "\"event\": \"step\", \"step\": ");
        if (s && strchr(line, '\n') && sscanf(s + 25, "%lld", &v) == 1) step = v;
    }
    fclose(f);
    return step;
}

static int64_t ckpt_step(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/last.safetensors", dir);
    if (file_size(path) < 0) return -1;
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, path, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    const vc_st_tensor *t;
    ck_assert_msg(vc_st_get(f, "train.state", &t) == VC_OK, "%s", vc_last_error());
    int64_t s;
    memcpy(&s, t->data, 8);
    vc_st_close(f);
    return s;
}

static int64_t max_event_step(const char *dir) {
    char path[700];
    if (count_event_files(dir, path, sizeof path) != 1) return -1;
    tb_vals *t = calloc(1, sizeof *t);
    ck_assert(vc_tb_read(path, collect, t, NULL) == VC_OK);
    int64_t m = -1;
    for (int i = 0; i < t->n; i++) m = t->v[i].step > m ? t->v[i].step : m;
    free(t);
    return m;
}

static int64_t killed_at_ckpt = -1, killed_max_step = -1;

/* The same run as make_run's, stopped (SIGSTOP) as soon as its event file
 * holds steps past its last checkpoint, then killed with SIGKILL; the event
 * file then gets the first 30 bytes of a record appended, as a kill inside a
 * write leaves; then `--resume` runs it to the end. */
static void make_killed_run(void) {
    if (fixture_error[0]) return;
    tmp_path(kill_dir, sizeof kill_dir, "killed");
    snprintf(kill_cfg, sizeof kill_cfg, "%s.ini", kill_dir);
    write_config(kill_cfg, kill_dir);
    char out[700];
    tmp_path(out, sizeof out, "killed.out");
    const char *train[] = {"train", kill_cfg, NULL, NULL};
    pid_t pid = spawn(out, train);
    struct timespec pause = {0, 200000};
    for (int64_t seen = 6;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            snprintf(fixture_error, sizeof fixture_error, "the run to be killed ended before it could be");
            return;
        }
        if (last_logged_step(kill_dir) < seen) {
            nanosleep(&pause, NULL);
            continue;
        }
        kill(pid, SIGSTOP);
        waitpid(pid, &st, WUNTRACED);
        int64_t c = ckpt_step(kill_dir), m = max_event_step(kill_dir);
        if (c > 0 && m > c) {
            killed_at_ckpt = c;
            killed_max_step = m;
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        seen = m + 1;
        kill(pid, SIGCONT);
    }
    char path[700];
    if (count_event_files(kill_dir, path, sizeof path) != 1) {
        snprintf(fixture_error, sizeof fixture_error, "the killed run left no single event file");
        return;
    }
    /* the first 30 bytes of the record after the version record: a valid
     * header whose record is cut short */
    char *bytes = slurp(path);
    unsigned char *b = (unsigned char *)bytes;
    long second = 16 + (long)(b[0] | b[1] << 8);
    FILE *f = fopen(path, "ab");
    bool ok = f && fwrite(bytes + second, 1, 30, f) == 30;
    if (f && fclose(f) != 0) ok = false;
    free(bytes);
    if (!ok) {
        snprintf(fixture_error, sizeof fixture_error, "cannot append to %s", path);
        return;
    }
    train[2] = "--resume";
    pid = spawn(out, train);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) snprintf(fixture_error, sizeof fixture_error, "the resumed run failed");
}

static void need_runs(void) { ck_assert_msg(!fixture_error[0], "%s", fixture_error); }

START_TEST(test_run_event_file_holds_exactly_the_scalars_of_log_jsonl) {
    need_runs();
    expect_set *x = calloc(1, sizeof *x);
    assert_event_file_matches_log(run_dir, x);
    /* 30 steps x 6 scalars and 10 evaluations x 13 (the synth file has classes) */
    ck_assert_int_eq(x->n, 30 * 6 + 10 * 13);
    free(x);
}
END_TEST

START_TEST(test_killed_and_resumed_run_has_each_step_once_as_log_jsonl_says) {
    need_runs();
    /* the kill came after steps past the checkpoint, which the resume redid */
    ck_assert_msg(killed_max_step > killed_at_ckpt && killed_at_ckpt > 0, "killed at step %lld after checkpoint %lld",
                  (long long)killed_max_step, (long long)killed_at_ckpt);
    char log[700];
    snprintf(log, sizeof log, "%s/log.jsonl", kill_dir);
    char *text = slurp(log), want[64];
    snprintf(want, sizeof want, "\"event\": \"resume\", \"step\": %lld,", (long long)killed_at_ckpt);
    ck_assert_msg(strstr(text, want), "log.jsonl has no resume at step %lld", (long long)killed_at_ckpt);
    /* the resume cut log.jsonl back to the checkpoint as it cut the event
     * file: the redone steps are in each once */
    snprintf(want, sizeof want, "\"event\": \"step\", \"step\": %lld,", (long long)killed_max_step);
    const char *first = strstr(text, want);
    ck_assert_msg(first && !strstr(first + 1, want), "log.jsonl logs step %lld %s", (long long)killed_max_step,
                  first ? "twice" : "not at all");
    free(text);
    expect_set *x = calloc(1, sizeof *x);
    assert_event_file_matches_log(kill_dir, x);
    ck_assert_int_eq(x->n, 30 * 6 + 10 * 13);
    free(x);
    printf("tensorboard resume: killed at step %lld after the checkpoint at %lld; each step once after --resume\n",
           (long long)killed_max_step, (long long)killed_at_ckpt);
}
END_TEST

START_TEST(test_tensorboard_reads_the_run_as_log_jsonl_says) {
    need_runs();
    expect_set *x = calloc(1, sizeof *x);
    assert_tensorboard_matches_log(run_dir, x);
    free(x);
}
END_TEST

START_TEST(test_tensorboard_reads_the_resumed_run_once_per_step) {
    need_runs();
    expect_set *x = calloc(1, sizeof *x);
    assert_tensorboard_matches_log(kill_dir, x);
    free(x);
}
END_TEST

START_TEST(test_resume_refuses_two_event_files_and_leaves_the_log_alone) {
    need_runs();
    char dir[600], cfg[700], out[700], log[700], other[800];
    tmp_path(dir, sizeof dir, "two_files");
    snprintf(cfg, sizeof cfg, "%s.ini", dir);
    write_config(cfg, dir);
    tmp_path(out, sizeof out, "two_files.out");
    const char *train[] = {"train", cfg, "--set", "train.steps=5", NULL, NULL};
    int st;
    pid_t pid = spawn(out, train);
    ck_assert(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char path[700];
    ck_assert_int_eq(count_event_files(dir, path, sizeof path), 1);
    snprintf(other, sizeof other, "%s/events.out.tfevents.0000000001.elsewhere.vclip", dir);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, other);
    ck_assert(system(cmd) == 0);
    snprintf(log, sizeof log, "%s/log.jsonl", dir);
    char *before = slurp(log);
    train[4] = "--resume";
    pid = spawn(out, train);
    ck_assert(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    char *text = slurp(out), *after = slurp(log);
    ck_assert_msg(WEXITSTATUS(st) == 1, "exit %d: %s", WEXITSTATUS(st), text);
    ck_assert_msg(strstr(text, "vclip train: ") && strstr(text, "several vclip event files") && strstr(text, dir),
                  "no one-line error naming the directory: %s", text);
    ck_assert_msg(strcmp(before, after) == 0, "log.jsonl changed by the refused resume");
    free(text);
    free(before);
    free(after);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("tensorboard");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, test_crc32c_matches_known_vectors);
    tcase_add_test(tc, test_masked_crc_matches_tensorboards);
    tcase_add_test(tc, test_every_value_reads_back_exactly_zero_included);
    tcase_add_test(tc, test_a_damaged_record_stops_the_reader_there);
    tcase_add_test(tc, test_resume_cuts_back_to_the_checkpoint_step_and_drops_a_damaged_tail);
    tcase_add_test(tc, test_fresh_run_replaces_earlier_files_and_several_are_an_error);
    suite_add_tcase(s, tc);
    if (!vc_test_vclip_bin()) {
        printf("SKIP: event files of vclip train runs (VCLIP_BIN is not set; run them with make test)\n");
        return s;
    }
    TCase *runs = tcase_create("runs");
    tcase_set_timeout(runs, 120);
    tcase_add_unchecked_fixture(runs, make_run, NULL);
    tcase_add_unchecked_fixture(runs, make_killed_run, NULL);
    tcase_add_test(runs, test_run_event_file_holds_exactly_the_scalars_of_log_jsonl);
    tcase_add_test(runs, test_killed_and_resumed_run_has_each_step_once_as_log_jsonl_says);
    tcase_add_test(runs, test_resume_refuses_two_event_files_and_leaves_the_log_alone);
    if (tb_available()) {
        tcase_add_test(runs, test_tensorboard_reads_the_run_as_log_jsonl_says);
        tcase_add_test(runs, test_tensorboard_reads_the_resumed_run_once_per_step);
    } else {
        printf("SKIP: reading event files with TensorBoard itself: no %s with PyPI tensorboard "
               "(run `make tensorboard-ref`, or set VC_TB_PYTHON)\n",
               tb_python());
    }
    suite_add_tcase(s, runs);
    return s;
}

VC_TEST_MAIN(make_suite)
