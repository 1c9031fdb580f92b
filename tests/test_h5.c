/* test_h5.c: the HDF5 embedding store (data/FORMAT.md): writer -> reader
 * round trips, files written by h5py, every malformed case, writer abort,
 * and `vclip info` through the built binary. */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/h5_guard.h"
#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "harness.h"
#include "tensor/rng.h"

/* ---- helpers ---- */


static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Number of entries in the temp dir whose name starts with prefix. */
static int count_prefix(const char *prefix) {
    DIR *d = opendir(vc_test_tmpdir());
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

static void copy_file(const char *src, const char *dst, long max_bytes) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    char buf[4096];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (max_bytes >= 0 && total + (long)n > max_bytes) n = (size_t)(max_bytes - total);
        fwrite(buf, 1, n, b);
        total += (long)n;
        if (max_bytes >= 0 && total >= max_bytes) break;
    }
    fclose(a);
    fclose(b);
}

static long file_size(const char *p) {
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    return (long)sb.st_size;
}

static char *slurp(const char *p, long *len) {
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_int_eq((long)fread(b, 1, (size_t)n, f), n);
    b[n] = '\0';
    fclose(f);
    if (len) *len = n;
    return b;
}

/* Runs a shell command; returns its exit status (-1 if it did not exit). */
static int run(const char *cmd) {
    int r = system(cmd);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static bool h5py_available(void) {
    static int cached = -1;
    if (cached < 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import h5py, numpy' >/dev/null 2>&1", vc_test_python());
        cached = run(cmd) == 0;
    }
    return cached;
}

/* ---- the "sample" file: irregular lengths, captions, splits, classes ---- */

enum { SV = 1500, SD = 16, SK = 3 };

static int64_t sample_len(int64_t v) { return v == 1 ? 0 : (v * 7) % 5; }
/* Caption c belongs to video cap_video(c): videos with v % 4 == 3 have none,
 * videos with v % 6 == 0 have two. */
static int64_t sample_captions(int64_t *vid) {
    int64_t c = 0;
    for (int64_t v = 0; v < SV; v++) {
        if (v % 4 == 3) continue;
        if (vid) vid[c] = v;
        c++;
        if (v % 6 == 0) {
            if (vid) vid[c] = v;
            c++;
        }
    }
    return c;
}

typedef struct {
    float *frames, *text, *cls;   /* as given to the writer (float32) */
    int64_t F, C, *cap_video, *labels;
} sample;

static void free_sample(sample *s) {
    free(s->frames);
    free(s->text);
    free(s->cls);
    free(s->cap_video);
    free(s->labels);
}

/* Writes the sample; values are random so float16 rounding is exercised. */
static void write_sample(const char *path, vc_dtype dt, int gzip, sample *s) {
    vc_rng r;
    vc_rng_seed(&r, 42);
    memset(s, 0, sizeof *s);
    for (int64_t v = 0; v < SV; v++) s->F += sample_len(v);
    s->C = sample_captions(NULL);
    s->frames = malloc((size_t)s->F * SD * sizeof(float));
    s->text = malloc((size_t)s->C * SD * sizeof(float));
    s->cls = malloc(SK * SD * sizeof(float));
    s->cap_video = malloc((size_t)s->C * sizeof(int64_t));
    s->labels = malloc(SV * sizeof(int64_t));
    sample_captions(s->cap_video);
    for (int64_t i = 0; i < s->F * SD; i++) s->frames[i] = (float)(vc_rng_normal(&r) * 3.0);
    for (int64_t i = 0; i < s->C * SD; i++) s->text[i] = (float)(vc_rng_normal(&r) * 2.0);
    for (int64_t i = 0; i < SK * SD; i++) s->cls[i] = (float)vc_rng_uniform(&r);
    for (int64_t v = 0; v < SV; v++) s->labels[v] = v % SK;

    vc_h5w *w;
    vc_h5w_opts o = {.dim = SD, .dtype = dt, .gzip_level = gzip, .clip_model = "ViT-B/32", .fps = 2};
    ck_assert_msg(vc_h5w_open(&w, path, &o) == VC_OK, "%s", vc_last_error());
    int64_t row = 0, c = 0;
    for (int64_t v = 0; v < SV; v++) {
        char id[32];
        snprintf(id, sizeof id, "vid-%lld-\xc3\xa9", (long long)v);
        int64_t idx = -1;
        ck_assert_msg(vc_h5w_add_video(w, id, s->frames + row * SD, sample_len(v), &idx) == VC_OK, "%s",
                      vc_last_error());
        ck_assert_int_eq(idx, v);
        row += sample_len(v);
        for (; c < s->C && s->cap_video[c] == v; c++) {
            char text[64];
            snprintf(text, sizeof text, "caption %lld", (long long)c);
            ck_assert_msg(vc_h5w_add_caption(w, v, text, s->text + c * SD) == VC_OK, "%s", vc_last_error());
        }
    }
    ck_assert_int_eq(vc_h5w_n_videos(w), SV);
    int64_t *sp[3], n[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) sp[k] = malloc(SV * sizeof(int64_t));
    for (int64_t v = SV - 1; v >= 0; v--) {  /* any order is legal */
        int k = v % 10 < 8 ? 0 : v % 10 == 8 ? 1 : 2;
        sp[k][n[k]++] = v;
    }
    const char *names[3] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        ck_assert(vc_h5w_set_split(w, names[k], sp[k], n[k]) == VC_OK);
        free(sp[k]);
    }
    ck_assert(vc_h5w_set_labels(w, s->labels, SV) == VC_OK);
    const char *cn[SK] = {"cat", "dog", "b\xc3\xbc" "cher"};
    ck_assert(vc_h5w_set_classes(w, cn, SK, s->cls) == VC_OK);
    ck_assert_msg(vc_h5w_close(w) == VC_OK, "%s", vc_last_error());
}

/* What a value becomes after storage as dt. */
static float stored(float x, vc_dtype dt) { return dt == VC_F16 ? vc_f16_to_f32(vc_f32_to_f16(x)) : x; }

static void check_rows_exact(const float *got, const float *given, int64_t n, vc_dtype dt, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        float want = stored(given[i], dt);
        ck_assert_msg(memcmp(&got[i], &want, sizeof want) == 0, "%s element %lld: got %.9g want %.9g", what,
                      (long long)i, (double)got[i], (double)want);
    }
}

static void check_sample(const char *path, vc_dtype dt, const sample *s) {
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, path) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->version, 1);
    ck_assert_int_eq(in->dim, SD);
    ck_assert_int_eq(in->n_videos, SV);
    ck_assert_int_eq(in->n_frames, s->F);
    ck_assert_int_eq(in->n_captions, s->C);
    ck_assert_int_eq(in->n_classes, SK);
    ck_assert_int_eq(in->frame_dtype, dt);
    ck_assert_int_eq(in->text_dtype, dt);
    ck_assert_int_eq(in->class_dtype, dt);
    ck_assert(in->has_text_embeddings && in->has_captions_text && in->has_labels);
    ck_assert(in->has_class_names && in->has_class_embeddings);
    ck_assert_str_eq(in->clip_model, "ViT-B/32");
    ck_assert(in->fps == 2.0);
    int64_t empty = 0, uncap = 0;
    for (int64_t v = 0; v < SV; v++) {
        empty += sample_len(v) == 0;
        uncap += v % 4 == 3;
    }
    ck_assert_int_eq(in->n_empty_videos, empty);
    ck_assert_int_eq(in->n_uncaptioned, uncap);

    const int64_t *off = vc_h5_offsets(h);
    ck_assert_int_eq(off[0], 0);
    for (int64_t v = 0; v < SV; v++) ck_assert_int_eq(off[v + 1] - off[v], sample_len(v));
    const int64_t *cv = vc_h5_caption_video(h), *co = vc_h5_caption_offsets(h), *ci = vc_h5_caption_index(h);
    for (int64_t c = 0; c < s->C; c++) ck_assert_int_eq(cv[c], s->cap_video[c]);
    for (int64_t v = 0; v < SV; v++) {
        int64_t want = v % 4 == 3 ? 0 : v % 6 == 0 ? 2 : 1;
        ck_assert_int_eq(co[v + 1] - co[v], want);
        for (int64_t k = co[v]; k < co[v + 1]; k++) ck_assert_int_eq(cv[ci[k]], v);
    }

    /* Frames: whole, then in odd blocks across chunk boundaries. */
    float *buf = malloc((size_t)s->F * SD * sizeof(float));
    ck_assert_msg(vc_h5_read_frames(h, 0, s->F, buf) == VC_OK, "%s", vc_last_error());
    check_rows_exact(buf, s->frames, s->F * SD, dt, "frames");
    memset(buf, 0, (size_t)s->F * SD * sizeof(float));
    for (int64_t r = 0; r < s->F; r += 333) {
        int64_t n = s->F - r < 333 ? s->F - r : 333;
        ck_assert(vc_h5_read_frames(h, r, n, buf + r * SD) == VC_OK);
    }
    check_rows_exact(buf, s->frames, s->F * SD, dt, "frames in blocks");
    ck_assert(vc_h5_read_frames(h, s->F, 0, buf) == VC_OK);
    ck_assert(vc_h5_read_frames(h, s->F - 1, 2, buf) == VC_ERR_ARG);
    ck_assert(vc_h5_read_frames(h, -1, 1, buf) == VC_ERR_ARG);
    ck_assert_msg(vc_h5_read_text(h, 0, s->C, buf) == VC_OK, "%s", vc_last_error());
    check_rows_exact(buf, s->text, s->C * SD, dt, "text");
    ck_assert(vc_h5_read_classes(h, buf) == VC_OK);
    check_rows_exact(buf, s->cls, SK * SD, dt, "classes");
    free(buf);

    char *str;
    ck_assert(vc_h5_video_id(h, 1234, &str) == VC_OK);
    ck_assert_str_eq(str, "vid-1234-\xc3\xa9");
    free(str);
    ck_assert(vc_h5_caption(h, s->C - 1, &str) == VC_OK);
    char want[64];
    snprintf(want, sizeof want, "caption %lld", (long long)(s->C - 1));
    ck_assert_str_eq(str, want);
    free(str);
    ck_assert(vc_h5_class_name(h, 2, &str) == VC_OK);
    ck_assert_str_eq(str, "b\xc3\xbc" "cher");
    free(str);
    ck_assert(vc_h5_video_id(h, SV, &str) == VC_ERR_ARG);
    char *many[SV];
    ck_assert(vc_h5_read_strings(h, VC_H5_IDS, 0, SV, many) == VC_OK);
    for (int64_t v = 0; v < SV; v++) {
        char id[32];
        snprintf(id, sizeof id, "vid-%lld-\xc3\xa9", (long long)v);
        ck_assert_str_eq(many[v], id);
        free(many[v]);
    }

    const int64_t *idx;
    int64_t n;
    int64_t total = 0;
    for (int k = 0; k < VC_NSPLITS; k++) {
        ck_assert(in->has_split[k]);
        ck_assert(vc_h5_split(h, (vc_split)k, &idx, &n) == VC_OK);
        ck_assert_int_eq(n, in->split_size[k]);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = idx[i];
            ck_assert_int_eq(v % 10 < 8 ? 0 : v % 10 == 8 ? 1 : 2, k);
        }
        total += n;
    }
    ck_assert_int_eq(total, SV);
    ck_assert_int_eq(idx[0], SV - 1);  /* order kept as written */
    ck_assert(vc_h5_all_videos(h, &idx, &n) == VC_OK);
    ck_assert_int_eq(n, SV);
    ck_assert_int_eq(idx[SV - 1], SV - 1);
    const int64_t *lab = vc_h5_labels(h);
    ck_assert_ptr_nonnull(lab);
    for (int64_t v = 0; v < SV; v++) ck_assert_int_eq(lab[v], v % SK);
    vc_h5_close(h);
}

START_TEST(test_round_trip_float16_is_bit_exact) {
    sample s;
    const char *p = vc_test_path("rt16.h5");
    write_sample(p, VC_F16, 0, &s);
    check_sample(p, VC_F16, &s);
    free_sample(&s);
}
END_TEST

START_TEST(test_round_trip_float32_is_bit_exact) {
    sample s;
    const char *p = vc_test_path("rt32.h5");
    write_sample(p, VC_F32, 0, &s);
    check_sample(p, VC_F32, &s);
    free_sample(&s);
}
END_TEST

START_TEST(test_round_trip_gzip) {
    sample s;
    const char *p = vc_test_path("rtgz.h5");
    write_sample(p, VC_F16, 6, &s);
    check_sample(p, VC_F16, &s);
    free_sample(&s);
}
END_TEST

START_TEST(test_writer_output_is_deterministic) {
    sample s1, s2;
    const char *a = vc_test_path("det_a.h5"), *b = vc_test_path("det_b.h5");
    write_sample(a, VC_F16, 0, &s1);
    sleep(1);  /* a timestamp would now differ */
    write_sample(b, VC_F16, 0, &s2);
    long la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    ck_assert_int_eq(la, lb);
    ck_assert(memcmp(x, y, (size_t)la) == 0);
    free(x);
    free(y);
    free_sample(&s1);
    free_sample(&s2);
}
END_TEST

START_TEST(test_file_without_captions_or_optional_parts) {
    const char *p = vc_test_path("bare.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 4, .dtype = VC_F32};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert(vc_h5w_add_video(w, "a", f, 2, NULL) == VC_OK);
    ck_assert(vc_h5w_close(w) == VC_OK);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->n_videos, 1);
    ck_assert_int_eq(in->n_captions, 0);
    ck_assert_int_eq(in->n_uncaptioned, 1);
    ck_assert(in->has_text_embeddings && !in->has_captions_text && !in->has_labels && in->n_classes == 0);
    ck_assert(!in->has_split[0] && !in->has_split[1] && !in->has_split[2]);
    ck_assert_ptr_null(in->clip_model);
    ck_assert(in->fps == 0);
    const int64_t *idx;
    int64_t n;
    ck_assert(vc_h5_split(h, VC_SPLIT_TRAIN, &idx, &n) == VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "no /split/train"));
    ck_assert(vc_h5_caption(h, 0, &(char *){NULL}) != VC_OK);
    ck_assert_ptr_null(vc_h5_labels(h));
    float out[8];
    ck_assert(vc_h5_read_frames(h, 0, 2, out) == VC_OK);
    ck_assert(memcmp(out, f, sizeof f) == 0);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_captions_awaiting_encoding) {
    const char *p = vc_test_path("noemb.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 4, .dtype = VC_F16};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[4] = {1, 2, 3, 4};
    ck_assert(vc_h5w_add_video(w, "a", f, 1, NULL) == VC_OK);
    ck_assert(vc_h5w_add_caption(w, 0, "a cat", NULL) == VC_OK);
    /* every caption of a file must agree on having an embedding */
    ck_assert(vc_h5w_add_caption(w, 0, "a dog", f) == VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "has an embedding but earlier captions have none"));
    ck_assert(vc_h5w_add_caption(w, 1, "x", NULL) == VC_ERR_ARG);  /* no video 1 yet */
    ck_assert(vc_h5w_close(w) == VC_OK);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert(!in->has_text_embeddings && in->has_captions_text);
    ck_assert_int_eq(in->n_captions, 1);
    float out[4];
    ck_assert(vc_h5_read_text(h, 0, 1, out) == VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "has no /text/embeddings"));
    vc_h5_close(h);
}
END_TEST

START_TEST(test_writer_abort_leaves_no_file) {
    const char *p = vc_test_path("aborted.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 4, .dtype = VC_F16};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[4] = {1, 2, 3, 4};
    ck_assert(vc_h5w_add_video(w, "a", f, 1, NULL) == VC_OK);
    ck_assert_int_eq(count_prefix("aborted.h5"), 1);  /* the temporary file */
    vc_h5w_abort(w);
    ck_assert(!file_exists(p));
    ck_assert_int_eq(count_prefix("aborted.h5"), 0);
}
END_TEST

START_TEST(test_writer_failed_close_leaves_no_file) {
    const char *p = vc_test_path("badclose.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 4, .dtype = VC_F16};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[4] = {1, 2, 3, 4};
    ck_assert(vc_h5w_add_video(w, "a", f, 1, NULL) == VC_OK);
    int64_t bad[1] = {1};
    ck_assert(vc_h5w_set_split(w, "val", bad, 1) == VC_OK);  /* checked at close */
    ck_assert(vc_h5w_close(w) == VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "split val entry 0 is video 1"));
    ck_assert_int_eq(count_prefix("badclose.h5"), 0);
}
END_TEST

START_TEST(test_writer_rejects_bad_values_and_stays_usable) {
    const char *p = vc_test_path("wvals.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 3, .dtype = VC_F16};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[6] = {1, 2, 3, 4, NAN, 6};
    ck_assert(vc_h5w_add_video(w, "nan-video", f, 2, NULL) == VC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "video 0 ('nan-video') has NaN at row 1, column 1"));
    f[4] = 1e5f;  /* finite but overflows float16 */
    ck_assert(vc_h5w_add_video(w, "big", f, 2, NULL) == VC_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "float16 range"));
    f[4] = 5;
    int64_t idx;
    ck_assert(vc_h5w_add_video(w, "good", f, 2, &idx) == VC_OK);
    ck_assert_int_eq(idx, 0);
    float e[3] = {INFINITY, 0, 0};
    ck_assert(vc_h5w_add_caption(w, 0, "x", e) == VC_ERR_NUMERIC);
    ck_assert(vc_h5w_set_labels(w, (int64_t[]){0, 0}, 2) == VC_ERR_ARG);
    ck_assert(vc_h5w_set_split(w, "dev", (int64_t[]){0}, 1) == VC_ERR_ARG);
    ck_assert(vc_h5w_close(w) == VC_OK);
    vc_h5 *h;
    ck_assert(vc_h5_open(&h, p) == VC_OK);
    ck_assert_int_eq(vc_h5_get_info(h)->n_videos, 1);
    ck_assert_int_eq(vc_h5_get_info(h)->n_frames, 2);
    vc_h5_close(h);
    vc_h5w_opts bad = {.dim = 0, .dtype = VC_F16};
    ck_assert(vc_h5w_open(&w, vc_test_path("never.h5"), &bad) == VC_ERR_ARG);
    bad = (vc_h5w_opts){.dim = 4, .dtype = VC_I32};
    ck_assert(vc_h5w_open(&w, vc_test_path("never.h5"), &bad) == VC_ERR_ARG);
    ck_assert(!file_exists(vc_test_path("never.h5")));
}
END_TEST

/* ---- malformed files: a good file, changed with the raw HDF5 API ---- */

/* The base file: 5 videos of lengths 3,0,1,4,2 (offsets 0,3,3,4,8,10), D = 8,
 * 4 captions, splits, labels and 2 classes. */
static void write_base(const char *path, vc_dtype dt) {
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 8, .dtype = dt};
    ck_assert(vc_h5w_open(&w, path, &o) == VC_OK);
    float f[4 * 8];
    for (int i = 0; i < 32; i++) f[i] = (float)i / 8;
    const int64_t len[5] = {3, 0, 1, 4, 2};
    for (int v = 0; v < 5; v++) {
        char id[16];
        snprintf(id, sizeof id, "v%d", v);
        ck_assert(vc_h5w_add_video(w, id, f, len[v], NULL) == VC_OK);
    }
    const int64_t cv[4] = {0, 0, 2, 4};
    for (int c = 0; c < 4; c++) ck_assert(vc_h5w_add_caption(w, cv[c], "text", f + c * 8) == VC_OK);
    ck_assert(vc_h5w_set_split(w, "train", (int64_t[]){0, 1, 2}, 3) == VC_OK);
    ck_assert(vc_h5w_set_split(w, "test", (int64_t[]){3, 4}, 2) == VC_OK);
    ck_assert(vc_h5w_set_labels(w, (int64_t[]){0, 1, 0, 1, 0}, 5) == VC_OK);
    ck_assert(vc_h5w_set_classes(w, (const char *[]){"a", "b"}, 2, f) == VC_OK);
    ck_assert(vc_h5w_close(w) == VC_OK);
}

static hid_t open_rw(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(f >= 0);
    return f;
}

static void put_i64(const char *path, const char *dset, int64_t index, int64_t value) {
    hid_t f = open_rw(path), d = H5Dopen2(f, dset, H5P_DEFAULT);
    ck_assert(d >= 0);
    hid_t fs = H5Dget_space(d);
    hsize_t at[1] = {(hsize_t)index};
    H5Sselect_elements(fs, H5S_SELECT_SET, 1, at);
    hsize_t one[1] = {1};
    hid_t ms = H5Screate_simple(1, one, NULL);
    ck_assert(H5Dwrite(d, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f);
}

static void put_float(const char *path, const char *dset, int64_t row, int64_t col, float value) {
    hid_t f = open_rw(path), d = H5Dopen2(f, dset, H5P_DEFAULT);
    ck_assert(d >= 0);
    hid_t fs = H5Dget_space(d);
    hsize_t at[2] = {(hsize_t)row, (hsize_t)col};
    H5Sselect_elements(fs, H5S_SELECT_SET, 1, at);
    hsize_t one[1] = {1};
    hid_t ms = H5Screate_simple(1, one, NULL);
    ck_assert(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f);
}

/* Replaces dataset dset by one of the given type and shape, filled with 0. */
static void replace(const char *path, const char *dset, hid_t type, int rank, const hsize_t *dims) {
    hid_t f = open_rw(path);
    ck_assert(H5Ldelete(f, dset, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, dset, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(d >= 0);
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    void *zero = calloc(n ? n : 1, 8);
    H5T_class_t cls = H5Tget_class(type);
    if (n && cls != H5T_STRING)
        ck_assert(H5Dwrite(d, cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                           zero) >= 0);
    free(zero);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

static void unlink_obj(const char *path, const char *name) {
    hid_t f = open_rw(path);
    ck_assert(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    H5Fclose(f);
}

static void del_attr(const char *path, const char *name) {
    hid_t f = open_rw(path), g = H5Gopen2(f, "/", H5P_DEFAULT);
    ck_assert(H5Adelete(g, name) >= 0);
    H5Gclose(g);
    H5Fclose(f);
}

static void set_attr_i64(const char *path, const char *name, int64_t v) {
    hid_t f = open_rw(path), g = H5Gopen2(f, "/", H5P_DEFAULT), a = H5Aopen(g, name, H5P_DEFAULT);
    ck_assert(a >= 0);
    ck_assert(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
}

/* Opening path must fail with code and a message naming the file and containing want. */
static void expect_open_error(const char *path, vc_status code, const char *want) {
    vc_h5 *h = (vc_h5 *)1;
    vc_status st = vc_h5_open(&h, path);
    ck_assert_msg(st == code, "%s: got status %s (%s), want %s", path, vc_status_name(st), vc_last_error(),
                  vc_status_name(code));
    ck_assert_ptr_null(h);
    ck_assert_msg(strstr(vc_last_error(), path) != NULL, "message does not name the file: %s", vc_last_error());
    ck_assert_msg(strstr(vc_last_error(), want) != NULL, "message '%s' lacks '%s'", vc_last_error(), want);
    ck_assert_ptr_null(strchr(vc_last_error(), '\n'));
}

static const char *fresh(const char *name) {
    const char *p = vc_test_path(name);
    write_base(p, VC_F16);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    vc_h5_close(h);
    return p;
}


/* Writes /video/meta as a variable-length UTF-8 string dataset of n entries. */
static void put_meta(const char *path, const char *const *entries, hsize_t n) {
    hid_t f = open_rw(path);
    if (H5Lexists(f, "/video/meta", H5P_DEFAULT) > 0) ck_assert(H5Ldelete(f, "/video/meta", H5P_DEFAULT) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "/video/meta", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(d >= 0);
    ck_assert(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, entries) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
}

START_TEST(test_video_meta_streams_pads_and_rewrites_earlier_videos) {
    const char *p = vc_test_path("meta.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 2, .dtype = VC_F16};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[2] = {1, 2};
    enum { V = 3000 };
    for (int v = 0; v < V; v++) {
        char id[16];
        snprintf(id, sizeof id, "v%d", v);
        ck_assert(vc_h5w_add_video(w, id, f, 1, NULL) == VC_OK);
        if (v == 5) {
            ck_assert(vc_h5w_set_meta(w, 5, "{\"first\":1}") == VC_OK);  /* 0..4 padded with "" */
            ck_assert(vc_h5w_set_meta(w, 5, "{\"five\":5}") == VC_OK);   /* replaced while staged */
        }
        if (v == 2500) ck_assert(vc_h5w_set_meta(w, 2500, "[2500]") == VC_OK);  /* flushes rows before it */
    }
    ck_assert(vc_h5w_set_meta(w, 10, "\"ten\"") == VC_OK);    /* already in the file: rewritten */
    ck_assert(vc_h5w_set_meta(w, 2600, "{}") == VC_OK);       /* after the last one: in order */
    ck_assert(vc_h5w_set_meta(w, 2599, "null") == VC_OK);     /* staged, replaced */
    ck_assert(vc_h5w_set_meta(w, V, "{}") == VC_ERR_ARG);
    ck_assert(vc_h5w_set_meta(w, -1, "{}") == VC_ERR_ARG);
    ck_assert(vc_h5w_set_meta(w, 0, NULL) == VC_ERR_ARG);
    ck_assert(vc_h5w_close(w) == VC_OK);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    ck_assert(vc_h5_get_info(h)->has_meta);
    char **m = calloc(V, sizeof *m);
    ck_assert_msg(vc_h5_read_strings(h, VC_H5_META, 0, V, m) == VC_OK, "%s", vc_last_error());
    for (int v = 0; v < V; v++) {
        const char *want = v == 5 ? "{\"five\":5}" : v == 10 ? "\"ten\"" : v == 2500 ? "[2500]" : v == 2599 ? "null"
                           : v == 2600 ? "{}" : "";
        ck_assert_msg(strcmp(m[v], want) == 0, "video %d: '%s', expected '%s'", v, m[v], want);
        free(m[v]);
    }
    free(m);
    vc_h5_close(h);

    /* no call: no /video/meta, and reading it is an error naming it */
    p = vc_test_path("nometa.h5");
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    ck_assert(vc_h5w_add_video(w, "a", f, 1, NULL) == VC_OK);
    ck_assert(vc_h5w_close(w) == VC_OK);
    ck_assert(vc_h5_open(&h, p) == VC_OK);
    ck_assert(!vc_h5_get_info(h)->has_meta);
    char *one;
    ck_assert_int_eq(vc_h5_video_meta(h, 0, &one), VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "/video/meta"), "%s", vc_last_error());
    vc_h5_close(h);
}
END_TEST

START_TEST(test_malformed_video_meta) {
    /* wrong length, wrong type: at open */
    const char *p = fresh("m_meta1.h5");
    put_meta(p, (const char *[]){"{}", "{}", "{}", "{}"}, 4);
    expect_open_error(p, VC_ERR_FORMAT, "/video/meta has 4 entries; expected 5 (one per video)");
    p = fresh("m_meta2.h5");
    hid_t f = open_rw(p);
    hsize_t five = 5;
    hid_t sp = H5Screate_simple(1, &five, NULL);
    hid_t d = H5Dcreate2(f, "/video/meta", H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert(d >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    expect_open_error(p, VC_ERR_FORMAT, "/video/meta is not a string dataset");
    /* an entry that is not JSON: when read */
    p = fresh("m_meta3.h5");
    put_meta(p, (const char *[]){"", "{\"a\": [1, 2]}", "{bad", "", "NaN"}, 5);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    char *m[5];
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_META, 0, 2, m), VC_OK);
    ck_assert_str_eq(m[1], "{\"a\": [1, 2]}");  /* any valid JSON, not only the compacted form */
    free(m[0]);
    free(m[1]);
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_META, 0, 5, m), VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "/video/meta[2] is not JSON") && strstr(vc_last_error(), p), "%s",
                  vc_last_error());
    for (int i = 0; i < 5; i++) ck_assert_ptr_null(m[i]);
    vc_h5_close(h);
    /* vclip info reads every entry, so it finds it */
    if (!vc_test_vclip_bin()) return;
    char cmd[2048];
    const char *out = vc_test_path("m_meta.out");
    snprintf(cmd, sizeof cmd, "'%s' info '%s' > '%s' 2>&1", vc_test_vclip_bin(), p, out);
    ck_assert_int_ne(run(cmd), 0);
    char *o = slurp(out, NULL);
    ck_assert_msg(strstr(o, "/video/meta[2] is not JSON"), "%s", o);
    free(o);
}
END_TEST

START_TEST(test_malformed_wrong_rank) {
    const char *p = fresh("m_rank.h5");
    replace(p, "/video/offsets", H5T_STD_I64LE, 2, (hsize_t[]){6, 1});
    expect_open_error(p, VC_ERR_FORMAT, "/video/offsets has rank 2; expected 1");
    p = fresh("m_rank2.h5");
    replace(p, "/video/embeddings", H5T_IEEE_F32LE, 1, (hsize_t[]){80});
    expect_open_error(p, VC_ERR_FORMAT, "/video/embeddings has rank 1; expected 2");
}
END_TEST

START_TEST(test_malformed_dim_mismatch) {
    const char *p = fresh("m_dim.h5");
    set_attr_i64(p, "dim", 9);
    expect_open_error(p, VC_ERR_FORMAT, "/video/embeddings has width 8 but the file's dim attribute is 9");
    p = fresh("m_dim2.h5");
    replace(p, "/text/embeddings", H5T_IEEE_F32LE, 2, (hsize_t[]){4, 7});
    expect_open_error(p, VC_ERR_FORMAT, "/text/embeddings has width 7");
    p = fresh("m_dim3.h5");
    replace(p, "/class/embeddings", H5T_IEEE_F32LE, 2, (hsize_t[]){2, 5});
    expect_open_error(p, VC_ERR_FORMAT, "/class/embeddings has width 5");
    p = fresh("m_rows.h5");
    replace(p, "/text/embeddings", H5T_IEEE_F32LE, 2, (hsize_t[]){3, 8});
    expect_open_error(p, VC_ERR_FORMAT, "/text/embeddings has 3 rows but /text/video has 4");
}
END_TEST

START_TEST(test_malformed_offsets) {
    const char *p = fresh("m_dec.h5");
    put_i64(p, "/video/offsets", 3, 2);  /* 0,3,3,2,8,10 */
    expect_open_error(p, VC_ERR_FORMAT, "/video/offsets decreases at index 3 (2 after 3)");
    p = fresh("m_past.h5");
    put_i64(p, "/video/offsets", 4, 11);
    expect_open_error(p, VC_ERR_FORMAT, "/video/offsets[4] = 11 runs past the 10 rows of /video/embeddings");
    p = fresh("m_short.h5");
    put_i64(p, "/video/offsets", 5, 9);
    expect_open_error(p, VC_ERR_FORMAT, "/video/offsets ends at 9 but /video/embeddings has 10 rows");
    p = fresh("m_first.h5");
    put_i64(p, "/video/offsets", 0, 1);
    expect_open_error(p, VC_ERR_FORMAT, "/video/offsets[0] is 1; must be 0");
    p = fresh("m_ids.h5");
    replace(p, "/video/offsets", H5T_STD_I64LE, 1, (hsize_t[]){5});
    expect_open_error(p, VC_ERR_FORMAT, "/video/offsets ends at 0");
}
END_TEST

START_TEST(test_malformed_indices_out_of_range) {
    const char *p = fresh("m_cap.h5");
    put_i64(p, "/text/video", 2, 5);
    expect_open_error(p, VC_ERR_FORMAT, "/text/video[2] = 5 is out of range");
    p = fresh("m_capneg.h5");
    put_i64(p, "/text/video", 0, -1);
    expect_open_error(p, VC_ERR_FORMAT, "/text/video[0] = -1 is out of range");
    p = fresh("m_split.h5");
    put_i64(p, "/split/test", 1, 7);
    expect_open_error(p, VC_ERR_FORMAT, "/split/test[1] = 7 is out of range");
    p = fresh("m_split2.h5");
    put_i64(p, "/split/train", 2, 0);
    expect_open_error(p, VC_ERR_FORMAT, "/split/train lists video 0 twice");
    p = fresh("m_label.h5");
    put_i64(p, "/video/label", 3, 2);
    expect_open_error(p, VC_ERR_FORMAT, "/video/label[3] = 2 is out of range: the file has 2 classes");
    p = fresh("m_label2.h5");
    unlink_obj(p, "/class");
    expect_open_error(p, VC_ERR_FORMAT, "/video/label needs the classes");
}
END_TEST

START_TEST(test_malformed_missing_parts) {
    const char *p = fresh("m_noids.h5");
    unlink_obj(p, "/video/ids");
    expect_open_error(p, VC_ERR_FORMAT, "missing dataset /video/ids");
    p = fresh("m_notv.h5");
    unlink_obj(p, "/text");
    expect_open_error(p, VC_ERR_FORMAT, "missing dataset /text/video");
    p = fresh("m_nofr.h5");
    unlink_obj(p, "/video/embeddings");
    expect_open_error(p, VC_ERR_FORMAT, "missing dataset /video/embeddings");
    p = fresh("m_notemb.h5");  /* no captions text either: embeddings are required */
    unlink_obj(p, "/text/embeddings");
    unlink_obj(p, "/text/captions");
    expect_open_error(p, VC_ERR_FORMAT, "missing dataset /text/embeddings");
    p = fresh("m_nofmt.h5");
    del_attr(p, "vclip_format");
    expect_open_error(p, VC_ERR_FORMAT, "missing root attribute 'vclip_format'");
    p = fresh("m_nodim.h5");
    del_attr(p, "dim");
    expect_open_error(p, VC_ERR_FORMAT, "missing root attribute 'dim'");
    p = fresh("m_nover.h5");
    del_attr(p, "vclip_version");
    expect_open_error(p, VC_ERR_FORMAT, "missing root attribute 'vclip_version'");
    p = fresh("m_ver.h5");
    set_attr_i64(p, "vclip_version", 2);
    expect_open_error(p, VC_ERR_FORMAT, "vclip_version is 2; this build reads version 1");
    p = fresh("m_type.h5");
    replace(p, "/video/embeddings", H5T_STD_I32LE, 2, (hsize_t[]){10, 8});
    expect_open_error(p, VC_ERR_FORMAT, "expected float16 or float32");
    p = fresh("m_f64.h5");
    replace(p, "/class/embeddings", H5T_IEEE_F64LE, 2, (hsize_t[]){2, 8});
    expect_open_error(p, VC_ERR_FORMAT, "/class/embeddings has elements of float 8 bytes");
    p = fresh("m_strtype.h5");
    replace(p, "/video/ids", H5T_STD_I64LE, 1, (hsize_t[]){5});
    expect_open_error(p, VC_ERR_FORMAT, "/video/ids is not a string dataset");
    p = fresh("m_idslen.h5");
    replace(p, "/video/ids", H5T_C_S1, 1, (hsize_t[]){4});
    expect_open_error(p, VC_ERR_FORMAT, "/video/ids has 4 entries; expected 5");
}
END_TEST

static void check_nonfinite(vc_dtype dt, float bad, const char *word) {
    const char *p = vc_test_path(dt == VC_F16 ? "m_nan16.h5" : "m_nan32.h5");
    write_base(p, dt);
    put_float(p, "/video/embeddings", 6, 3, bad);   /* row 6 belongs to video 3 */
    put_float(p, "/text/embeddings", 2, 5, bad);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    float buf[10 * 8];
    ck_assert(vc_h5_read_frames(h, 0, 6, buf) == VC_OK);  /* rows before are fine */
    ck_assert(vc_h5_read_frames(h, 7, 3, buf) == VC_OK);
    ck_assert(vc_h5_read_frames(h, 0, 10, buf) == VC_ERR_NUMERIC);
    char want[160];
    snprintf(want, sizeof want, "%s: /video/embeddings row 6 (video 3) has %s at column 3", p, word);
    ck_assert_msg(strstr(vc_last_error(), want) != NULL, "'%s' lacks '%s'", vc_last_error(), want);
    ck_assert(vc_h5_read_frames(h, 5, 2, buf) == VC_ERR_NUMERIC);
    ck_assert(vc_h5_read_text(h, 0, 4, buf) == VC_ERR_NUMERIC);
    snprintf(want, sizeof want, "%s: /text/embeddings row 2 has %s at column 5", p, word);
    ck_assert_msg(strstr(vc_last_error(), want) != NULL, "'%s' lacks '%s'", vc_last_error(), want);
    vc_h5_close(h);
}

START_TEST(test_nan_and_inf_report_first_bad_row) {
    check_nonfinite(VC_F16, NAN, "NaN");
    check_nonfinite(VC_F32, NAN, "NaN");
    check_nonfinite(VC_F16, -INFINITY, "Inf");
    check_nonfinite(VC_F32, INFINITY, "Inf");
}
END_TEST

START_TEST(test_truncated_and_non_hdf5_files) {
    const char *good = fresh("m_trunc_src.h5");
    long n = file_size(good);
    const long cuts[4] = {n / 2, n - 100, 700, 40};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "m_trunc%d.h5", i);
        const char *p = vc_test_path(name);
        copy_file(good, p, cuts[i]);
        vc_h5 *h = (vc_h5 *)1;
        vc_status st = vc_h5_open(&h, p);
        ck_assert_msg(st == VC_ERR_FORMAT, "cut at %ld: %s", cuts[i], vc_last_error());
        ck_assert_ptr_null(h);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), p));
        ck_assert_msg(strstr(vc_last_error(), "truncated") || strstr(vc_last_error(), "not an HDF5 file"), "%s",
                      vc_last_error());
    }
    const char *txt = vc_test_path("m_text.h5");
    FILE *f = fopen(txt, "w");
    fputs("this is not an HDF5 file, just some text that is long enough\n", f);
    fclose(f);
    expect_open_error(txt, VC_ERR_FORMAT, "not an HDF5 file");
    const char *empty = vc_test_path("m_empty.h5");
    fclose(fopen(empty, "w"));
    expect_open_error(empty, VC_ERR_FORMAT, "not an HDF5 file (it is empty)");
    expect_open_error(vc_test_path("m_missing.h5"), VC_ERR_IO, "No such file");
    expect_open_error(vc_test_tmpdir(), VC_ERR_IO, "not a regular file");
    /* An HDF5 file that is not a vclip file. */
    const char *other = vc_test_path("m_other.h5");
    hid_t h5 = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h5);
    expect_open_error(other, VC_ERR_FORMAT, "missing root attribute 'vclip_format' (not a vclip embeddings file?)");
}
END_TEST

/* ---- h5py and h5dump ---- */

enum { IV = 50, ID = 12, IK = 4 };  /* keep in step with tests/ref_h5_interop.py */

static int64_t i_len(int64_t v) { return (v * 5) % 4; }
static float i_frame(int64_t r, int64_t j) { return (float)((r * 7 + j * 3) % 23 - 11) / 8.0f; }
static float i_text(int64_t c, int64_t j) { return (float)((c * 5 + j) % 17 - 8) / 4.0f; }
static float i_class(int64_t k, int64_t j) { return (float)((k + j) % 5 - 2); }

static void ref_script(char *buf, size_t n, const char *args) {
    snprintf(buf, n, "%s tests/ref_h5_interop.py %s", vc_test_python(), args);
}

static void check_interop_file(const char *path, vc_dtype frame_dt, vc_dtype text_dt) {
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, path) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->n_videos, IV);
    ck_assert_int_eq(in->dim, ID);
    ck_assert_int_eq(in->frame_dtype, frame_dt);
    ck_assert_int_eq(in->text_dtype, text_dt);
    ck_assert_str_eq(in->clip_model, "ViT-B/32");
    ck_assert(in->fps == 2.5);
    const int64_t *off = vc_h5_offsets(h);
    for (int64_t v = 0; v < IV; v++) ck_assert_int_eq(off[v + 1] - off[v], i_len(v));
    float *buf = malloc((size_t)(in->n_frames + in->n_captions + IK) * ID * sizeof(float));
    /* odd block sizes against the (7, 5) chunks */
    for (int64_t r = 0; r < in->n_frames; r += 5) {
        int64_t n = in->n_frames - r < 5 ? in->n_frames - r : 5;
        ck_assert_msg(vc_h5_read_frames(h, r, n, buf + r * ID) == VC_OK, "%s", vc_last_error());
    }
    for (int64_t r = 0; r < in->n_frames; r++)
        for (int64_t j = 0; j < ID; j++) ck_assert(buf[r * ID + j] == i_frame(r, j));
    ck_assert(vc_h5_read_text(h, 0, in->n_captions, buf) == VC_OK);
    for (int64_t c = 0; c < in->n_captions; c++)
        for (int64_t j = 0; j < ID; j++) ck_assert(buf[c * ID + j] == i_text(c, j));
    ck_assert_int_eq(in->n_classes, IK);
    ck_assert(vc_h5_read_classes(h, buf) == VC_OK);
    for (int64_t k = 0; k < IK; k++)
        for (int64_t j = 0; j < ID; j++) ck_assert(buf[k * ID + j] == i_class(k, j));
    free(buf);
    char *s;
    ck_assert(vc_h5_video_id(h, 37, &s) == VC_OK);
    ck_assert_str_eq(s, "vid-37");
    free(s);
    const int64_t *cv = vc_h5_caption_video(h);
    ck_assert(vc_h5_caption(h, 5, &s) == VC_OK);
    char want[64];
    snprintf(want, sizeof want, "caption 5 of vid-%lld \xc3\xa9", (long long)cv[5]);
    ck_assert_str_eq(s, want);
    free(s);
    const int64_t *idx;
    int64_t n;
    ck_assert(vc_h5_split(h, VC_SPLIT_VAL, &idx, &n) == VC_OK);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(idx[2], 28);
    ck_assert_int_eq(vc_h5_labels(h)[7], 7 % IK);
    vc_h5_close(h);
}

START_TEST(test_reads_files_written_by_h5py) {
    const char *variants[3] = {"f16_gzip", "f16_fixedstr", "f32_contig"};
    for (int i = 0; i < 3; i++) {
        char name[64], cmd[1024], args[600];
        snprintf(name, sizeof name, "py_%s.h5", variants[i]);
        const char *p = vc_test_path(name);
        snprintf(args, sizeof args, "write '%s' %s", p, variants[i]);
        ref_script(cmd, sizeof cmd, args);
        ck_assert_msg(run(cmd) == 0, "%s failed", cmd);
        check_interop_file(p, i == 2 ? VC_F32 : VC_F16, i == 2 ? VC_F16 : VC_F32);
    }
}
END_TEST

/* Writes the interop contents with vclip's writer. */
static void write_interop(const char *path) {
    vc_h5w *w;
    vc_h5w_opts o = {.dim = ID, .dtype = VC_F16, .gzip_level = 1, .clip_model = "ViT-B/32", .fps = 2.5};
    ck_assert(vc_h5w_open(&w, path, &o) == VC_OK);
    int64_t row = 0, c = 0;
    float f[4 * ID];
    for (int64_t v = 0; v < IV; v++) {
        for (int64_t t = 0; t < i_len(v); t++)
            for (int64_t j = 0; j < ID; j++) f[t * ID + j] = i_frame(row + t, j);
        char id[32];
        snprintf(id, sizeof id, "vid-%lld", (long long)v);
        ck_assert(vc_h5w_add_video(w, id, f, i_len(v), NULL) == VC_OK);
        row += i_len(v);
        for (int k = 0; k < (v % 3 != 0) + (v % 5 == 0); k++, c++) {
            char text[64];
            snprintf(text, sizeof text, "caption %lld of vid-%lld \xc3\xa9", (long long)c, (long long)v);
            for (int64_t j = 0; j < ID; j++) f[j] = i_text(c, j);
            ck_assert(vc_h5w_add_caption(w, v, text, f) == VC_OK);
        }
    }
    int64_t sp[3][IV], n[3] = {0, 0, 0}, lab[IV];
    for (int64_t v = 0; v < IV; v++) {
        int k = v % 10 < 8 ? 0 : v % 10 == 8 ? 1 : 2;
        sp[k][n[k]++] = v;
        lab[v] = v % IK;
    }
    ck_assert(vc_h5w_set_split(w, "train", sp[0], n[0]) == VC_OK);
    ck_assert(vc_h5w_set_split(w, "val", sp[1], n[1]) == VC_OK);
    ck_assert(vc_h5w_set_split(w, "test", sp[2], n[2]) == VC_OK);
    ck_assert(vc_h5w_set_labels(w, lab, IV) == VC_OK);
    float ce[IK * ID];
    for (int64_t k = 0; k < IK; k++)
        for (int64_t j = 0; j < ID; j++) ce[k * ID + j] = i_class(k, j);
    ck_assert(vc_h5w_set_classes(w, (const char *[]){"class 0", "class 1", "class 2", "class 3"}, IK, ce) == VC_OK);
    ck_assert(vc_h5w_close(w) == VC_OK);
}

START_TEST(test_h5py_reads_files_vclip_writes) {
    const char *p = vc_test_path("vc_interop.h5");
    write_interop(p);
    check_interop_file(p, VC_F16, VC_F16);
    char cmd[1024], args[600];
    snprintf(args, sizeof args, "check '%s'", p);
    ref_script(cmd, sizeof cmd, args);
    ck_assert_msg(run(cmd) == 0, "h5py check of %s failed", p);
}
END_TEST

START_TEST(test_h5dump_reads_files_vclip_writes) {
    const char *p = vc_test_path("vc_dump.h5");
    write_interop(p);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "h5dump '%s' > '%s.txt' 2>&1", p, p);
    ck_assert_int_eq(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.txt", p);
    char *out = slurp(cmd, NULL);
    ck_assert_ptr_nonnull(strstr(out, "\"vclip-embeddings\""));
    ck_assert_ptr_nonnull(strstr(out, "DATASET \"offsets\""));
    ck_assert_ptr_nonnull(strstr(out, "\"vid-49\""));
    ck_assert_ptr_nonnull(strstr(out, "16-bit little-endian floating-point"));
    free(out);
}
END_TEST

/* ---- vclip info ---- */


START_TEST(test_cli_info_prints_counts) {
    const char *p = vc_test_path("cli_info.h5");
    write_interop(p);
    char cmd[2048];
    const char *out = vc_test_path("cli_info.out"), *err = vc_test_path("cli_info.err");
    snprintf(cmd, sizeof cmd, "'%s' info '%s' > '%s' 2> '%s'", vc_test_vclip_bin(), p, out, err);
    ck_assert_int_eq(run(cmd), 0);
    char *o = slurp(out, NULL);
    ck_assert_msg(strstr(o, "videos:      50 (13 with 0 frames, 13 without captions)") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "frames:      73 (per video min 0, median 1, max 3)") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "captions:    43") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "splits:      train 40 val 5 test 5") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "dim:         12") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "dtype:       frames float16") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "clip_model:  ViT-B/32") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "classes:     4") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "metadata:    none (no /video/meta)") != NULL, "%s", o);
    free(o);
}
END_TEST

START_TEST(test_cli_info_fails_on_bad_files) {
    /* A NaN that only a full scan finds: the structure is fine. */
    const char *p = vc_test_path("cli_nan.h5");
    write_interop(p);
    put_float(p, "/video/embeddings", 70, 11, NAN);
    const char *err = vc_test_path("cli_nan.err");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' info '%s' > /dev/null 2> '%s'", vc_test_vclip_bin(), p, err);
    ck_assert_int_ne(run(cmd), 0);
    long n;
    char *e = slurp(err, &n);
    ck_assert_msg(strstr(e, "/video/embeddings row 70 (video 47) has NaN at column 11") != NULL, "%s", e);
    ck_assert_msg(strncmp(e, "vclip info: ", 12) == 0, "%s", e);
    ck_assert_msg(strchr(e, '\n') == e + n - 1, "not one line: %s", e);
    free(e);
    const char *txt = vc_test_path("cli_text.h5");
    FILE *f = fopen(txt, "w");
    fputs("hello\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' info '%s' > /dev/null 2> '%s'", vc_test_vclip_bin(), txt, err);
    ck_assert_int_ne(run(cmd), 0);
    e = slurp(err, NULL);
    ck_assert_msg(strstr(e, "not an HDF5 file") != NULL, "%s", e);
    free(e);
    snprintf(cmd, sizeof cmd, "'%s' info > /dev/null 2> '%s'", vc_test_vclip_bin(), err);
    ck_assert_int_ne(run(cmd), 0);
}
END_TEST

/* Seeded byte damage anywhere in a valid file: vclip info must answer with an
 * exit status every time (a clean error or a pass), never die by a signal,
 * even where libhdf5 itself crashes on the damaged metadata. */
START_TEST(test_cli_info_never_dies_on_damaged_files) {
    const char *p = vc_test_path("fuzz_base.h5"), *q = vc_test_path("fuzz.h5");
    write_interop(p);
    long n;
    char *base = slurp(p, &n);
    vc_rng r;
    vc_rng_seed(&r, 5);
    char cmd[2048];
    /* a damaged size can make libhdf5 fill gigabytes before it fails: the
     * stall limit (what a user would set on a busy machine) keeps each
     * trial short, so 60 trials fit the test's time even under load */
    snprintf(cmd, sizeof cmd, "VCLIP_INFO_STALL_SECONDS=5 '%s' info '%s' > /dev/null 2>&1", vc_test_vclip_bin(), q);
    int errors = 0;
    for (int trial = 0; trial < 60; trial++) {
        FILE *f = fopen(q, "wb");
        ck_assert_ptr_nonnull(f);
        char *b = malloc((size_t)n);
        memcpy(b, base, (size_t)n);
        for (int k = 0; k < 8; k++) b[vc_rng_below(&r, (uint64_t)n)] = (char)vc_rng_below(&r, 256);
        ck_assert_int_eq(fwrite(b, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        free(b);
        int rc = system(cmd);
        ck_assert_msg(WIFEXITED(rc), "trial %d: vclip info was killed (status %d)", trial, rc);
        ck_assert_msg(WEXITSTATUS(rc) <= 1, "trial %d: exit status %d", trial, WEXITSTATUS(rc));
        errors += WEXITSTATUS(rc) != 0;
    }
    ck_assert_msg(errors > 0, "no damaged file was reported: the damage missed everything");
    free(base);
}
END_TEST

/* A file found by fuzzing (one byte of a `vclip synth` file changed) on which
 * libhdf5 1.10 reads past a buffer and then loops forever in H5Fclose (in the
 * ASan build the same damage ends in a segfault or a bad free instead): info
 * must still answer, within the stall limit, with one clean error. */
START_TEST(test_cli_info_reports_a_file_that_hangs_libhdf5) {
    const char *p = vc_test_path("hang.h5"), *err = vc_test_path("hang.err");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --videos 300 --dim 64 --seed 1 > /dev/null", vc_test_vclip_bin(), p);
    ck_assert_int_eq(run(cmd), 0);
    FILE *f = fopen(p, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 19721, SEEK_SET), 0);
    ck_assert_int_eq(fputc(51, f), 51);
    fclose(f);
    snprintf(cmd, sizeof cmd, "VCLIP_INFO_STALL_SECONDS=2 timeout -s KILL 40 '%s' info '%s' > /dev/null 2> '%s'",
             vc_test_vclip_bin(), p, err);
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "vclip info exit status %d (137: killed, it hung)",
                  WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    long n;
    char *e = slurp(err, &n);
    /* stopped responding while closing it (the release build), or crashed
     * while reading / failed while closing (the ASan build's heap layout) */
    ck_assert_msg(strstr(e, "hang.h5: corrupt HDF5 file: the HDF5 library ") != NULL, "%s", e);
    ck_assert_msg(strchr(e, '\n') == e + n - 1, "not one line: %s", e);
    free(e);
}
END_TEST

/* ---- the length a string's entry states (VC_H5_STRING_MAX) ---- */

/* On disk each entry of a variable-length string dataset is the length of
 * its string (4 bytes), the address of a global heap collection (8) and an
 * index in it (4); the heap object holds the bytes, after an 8-byte size.
 * Returns the file offset of the entry stating len: the one place where the
 * 4 bytes of len are followed by an address whose low 4 bytes are not zero
 * (the heap object's size field has zeros there). The captions written here
 * have lengths that no other number in the file has. */
static long entry_stating(const unsigned char *b, long n, uint32_t len) {
    long at = -1;
    int found = 0;
    for (long i = 0; i + 16 <= n; i++) {
        uint32_t v = (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 | (uint32_t)b[i + 3] << 24;
        if (v == len && (b[i + 4] | b[i + 5] | b[i + 6] | b[i + 7])) {
            at = i;
            found++;
        }
    }
    ck_assert_msg(found == 1, "length %u: %d candidate entries", len, found);
    return at;
}

static void state_length(unsigned char *b, long at, uint32_t len) {
    for (int k = 0; k < 4; k++) b[at + k] = (unsigned char)(len >> (8 * k));
}

static char *repeat(char c, size_t n) {
    char *t = malloc(n + 1);
    ck_assert_ptr_nonnull(t);
    memset(t, c, n);
    t[n] = '\0';
    return t;
}

/* Captions 0..n-1 of lengths base + i (video 0), then writes b, *n_bytes. */
static unsigned char *caption_file(const char *path, int n, size_t base, long *n_bytes) {
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 4, .dtype = VC_F32};
    ck_assert(vc_h5w_open(&w, path, &o) == VC_OK);
    float f[4] = {1, 2, 3, 4};
    ck_assert(vc_h5w_add_video(w, "v", f, 1, NULL) == VC_OK);
    for (int i = 0; i < n; i++) {
        char *t = repeat((char)('a' + i % 26), base + (size_t)i);
        ck_assert(vc_h5w_add_caption(w, 0, t, f) == VC_OK);
        free(t);
    }
    ck_assert(vc_h5w_close(w) == VC_OK);
    return (unsigned char *)slurp(path, n_bytes);
}

static void write_bytes(const char *path, const unsigned char *b, long n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq((long)fwrite(b, 1, (size_t)n, f), n);
    fclose(f);
}

START_TEST(test_writer_refuses_a_string_longer_than_the_reader_takes) {
    const char *p = vc_test_path("longstr.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 4, .dtype = VC_F32};
    ck_assert(vc_h5w_open(&w, p, &o) == VC_OK);
    float f[4] = {1, 2, 3, 4};
    char *max = repeat('m', VC_H5_STRING_MAX), *over = repeat('o', VC_H5_STRING_MAX + 1);
    ck_assert(vc_h5w_add_video(w, over, f, 1, NULL) == VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "the id of video 0 is 1048577 bytes long, more than the 1048576 bytes a "
                                          "string may have"), "%s", vc_last_error());
    ck_assert(vc_h5w_add_video(w, "v", f, 1, NULL) == VC_OK);
    ck_assert(vc_h5w_add_caption(w, 0, over, f) == VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "caption 0 is 1048577 bytes long"));
    ck_assert(vc_h5w_add_caption(w, 0, max, f) == VC_OK); /* the limit itself is a string */
    ck_assert(vc_h5w_set_meta(w, 0, over) == VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "the metadata of video 0 is 1048577 bytes long"));
    ck_assert(vc_h5w_set_classes(w, (const char *[]){"ok", over}, 2, NULL) == VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "the name of class 1 is 1048577 bytes long"));
    ck_assert(vc_h5w_close(w) == VC_OK); /* refusals left the writer usable */
    vc_h5 *h;
    ck_assert(vc_h5_open(&h, p) == VC_OK);
    ck_assert_int_eq(vc_h5_get_info(h)->n_videos, 1);
    ck_assert_int_eq(vc_h5_get_info(h)->n_captions, 1);
    char *got = NULL;
    ck_assert(vc_h5_caption(h, 0, &got) == VC_OK);
    ck_assert_uint_eq(strlen(got), VC_H5_STRING_MAX);
    ck_assert(strcmp(got, max) == 0);
    free(got);
    vc_h5_close(h);
    free(max);
    free(over);
}
END_TEST

/* A damaged entry stating 2 MB for a 70001-byte string: the read fails
 * naming the claim (before anything is allocated for it), the entries
 * around it still read. Then 70 entries each stating 1 MB (within a
 * string's limit) for strings of about 5000 bytes: more than a read of 70
 * strings may take in all. The check's child refuses such a file as the
 * file's fault (lib_fault). */
START_TEST(test_reader_refuses_lengths_a_damaged_file_states) {
    const char *p = vc_test_path("claims.h5");
    long n;
    unsigned char *b = caption_file(p, 3, 70000, &n); /* lengths 70000, 70001, 70002 */
    state_length(b, entry_stating(b, n, 70001), 2u << 20);
    write_bytes(p, b, n);
    free(b);
    vc_h5 *h;
    ck_assert(vc_h5_open(&h, p) == VC_OK);
    char *s[3] = {NULL, NULL, NULL};
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_CAPTIONS, 0, 3, s), VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "claims.h5: /text/captions: a string among entries [0, 3) states a length "
                                          "of 2097152 bytes, more than the 1048576 a string of a vclip file may have: "
                                          "a damaged length, or a file not made for vclip"),
                  "%s", vc_last_error());
    ck_assert(s[0] == NULL && s[1] == NULL && s[2] == NULL);
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_CAPTIONS, 0, 1, s), VC_OK);
    ck_assert_uint_eq(strlen(s[0]), 70000);
    free(s[0]);
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_CAPTIONS, 2, 1, s), VC_OK);
    ck_assert_uint_eq(strlen(s[0]), 70002);
    free(s[0]);
    ck_assert_int_eq(vc_h5_caption(h, 1, s), VC_ERR_FORMAT);
    ck_assert_int_eq(vc_h5_scan(h, false, NULL, NULL, NULL), VC_ERR_FORMAT);
    vc_h5_close(h);
    /* the check's child refuses it too, as the file's fault: libhdf5 had
     * already sized (and zeroed) a buffer by the stated length */
    vc_h5_check_opts o = {.stall_s = 60, .quiet_child = true};
    bool fault = false;
    ck_assert_int_eq(vc_h5_check(p, &o, &fault), VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "states a length of 2097152 bytes") && fault, "fault %d: %s", fault,
                  vc_last_error());

    const char *q = vc_test_path("budget.h5");
    b = caption_file(q, 70, 5000, &n);
    for (uint32_t i = 0; i < 70; i++) state_length(b, entry_stating(b, n, 5000 + i), 1u << 20);
    write_bytes(q, b, n);
    free(b);
    ck_assert(vc_h5_open(&h, q) == VC_OK);
    char *all[70];
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_CAPTIONS, 0, 70, all), VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "budget.h5: /text/captions: entries [0, 70) state more than 67395584 bytes "
                                          "of text in all: damaged lengths"), "%s", vc_last_error());
    /* one at a time each is within the limits: the 1 MB a string states,
     * the heap's 5000 bytes and zeros after them */
    ck_assert_int_eq(vc_h5_read_strings(h, VC_H5_CAPTIONS, 7, 1, all), VC_OK);
    ck_assert_uint_eq(strlen(all[0]), 5007);
    free(all[0]);
    vc_h5_close(h);
}
END_TEST

/* An entry stating 4 GB: libhdf5 zeroes a conversion buffer of that size
 * before any allocator of vclip's is asked (the file a fuzzer found took 8 GB
 * in `vclip info`). The check's child, capped at 1 GB more than it
 * inherited, fails cleanly without that memory; so does `vclip info`. */
START_TEST(test_check_of_a_file_stating_gigabytes_stays_within_its_cap) {
    const char *p = vc_test_path("gigaclaim.h5");
    long n;
    unsigned char *b = caption_file(p, 2, 70000, &n);
    state_length(b, entry_stating(b, n, 70001), 0xFF000000u);
    write_bytes(p, b, n);
    free(b);
    vc_h5_check_opts o = {.stall_s = 60, .quiet_child = true};
    bool fault = false;
    ck_assert_int_ne(vc_h5_check(p, &o, &fault), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "gigaclaim.h5: cannot read entries [0, 2) of /text/captions (memory "
                                          "allocation failed") && strstr(vc_last_error(), "a size the file states may "
                                          "be damaged"), "%s", vc_last_error());
    ck_assert_msg(fault, "an allocation past the cap counts as libhdf5's fault (the file is unsafe to read unguarded)");
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    printf("check of a file stating a 4 GB string: %s; peak RSS of the child %ld MB\n", vc_last_error(),
           ru.ru_maxrss >> 10);
    ck_assert_msg(ru.ru_maxrss < (1536L << 10), "the check's child peaked at %ld MB", ru.ru_maxrss >> 10);
    /* an index array whose extent says 2^30 entries (8 GB as int64; no
     * chunk stored, so the file stays small): the reader's own allocation
     * fails under the cap, and is reported as the file's fault too */
    const char *q = vc_test_path("gigaextent.h5");
    write_base(q, VC_F32);
    hid_t f = open_rw(q);
    ck_assert(H5Ldelete(f, "/video/offsets", H5P_DEFAULT) >= 0);
    hsize_t dims[1] = {(hsize_t)1 << 30}, chunk[1] = {(hsize_t)1 << 16};
    hid_t sp = H5Screate_simple(1, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    ck_assert(H5Pset_chunk(dcpl, 1, chunk) >= 0);
    hid_t d = H5Dcreate2(f, "/video/offsets", H5T_STD_I64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    ck_assert_int_lt(file_size(q), 1 << 20);
    fault = false;
    ck_assert_int_eq(vc_h5_check(q, &o, &fault), VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "gigaextent.h5: out of memory for /video/offsets (1073741824 entries) (more "
                                          "than checking it may take, 1 GB plus the file's size"), "%s", vc_last_error());
    ck_assert(fault);
    ck_assert_int_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    printf("check of a file whose /video/offsets states 2^30 entries: %s; peak RSS of the children %ld MB\n",
           vc_last_error(), ru.ru_maxrss >> 10);
    ck_assert_msg(ru.ru_maxrss < (1536L << 10), "the check's child peaked at %ld MB", ru.ru_maxrss >> 10);
    if (vc_test_vclip_bin()) {
        char cmd[2048];
        const char *err = vc_test_path("gigaclaim.err");
        snprintf(cmd, sizeof cmd, "'%s' info '%s' > /dev/null 2> '%s'", vc_test_vclip_bin(), p, err);
        ck_assert_int_eq(run(cmd), 1);
        char *e = slurp(err, &n);
        ck_assert_msg(strncmp(e, "vclip info: ", 12) == 0 && strstr(e, "gigaclaim.h5") && strchr(e, '\n') == e + n - 1,
                      "%s", e);
        free(e);
        ck_assert_int_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
        ck_assert_msg(ru.ru_maxrss < (1536L << 10), "vclip info peaked at %ld MB", ru.ru_maxrss >> 10);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("h5");
    TCase *t = tcase_create("round_trip");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_round_trip_float16_is_bit_exact);
    tcase_add_test(t, test_round_trip_float32_is_bit_exact);
    tcase_add_test(t, test_round_trip_gzip);
    tcase_add_test(t, test_writer_output_is_deterministic);
    tcase_add_test(t, test_file_without_captions_or_optional_parts);
    tcase_add_test(t, test_captions_awaiting_encoding);
    suite_add_tcase(s, t);

    t = tcase_create("writer");
    tcase_add_test(t, test_writer_abort_leaves_no_file);
    tcase_add_test(t, test_writer_failed_close_leaves_no_file);
    tcase_add_test(t, test_writer_rejects_bad_values_and_stays_usable);
    tcase_add_test(t, test_video_meta_streams_pads_and_rewrites_earlier_videos);
    tcase_add_test(t, test_writer_refuses_a_string_longer_than_the_reader_takes);
    suite_add_tcase(s, t);

    t = tcase_create("malformed");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_malformed_wrong_rank);
    tcase_add_test(t, test_malformed_dim_mismatch);
    tcase_add_test(t, test_malformed_offsets);
    tcase_add_test(t, test_malformed_indices_out_of_range);
    tcase_add_test(t, test_malformed_missing_parts);
    tcase_add_test(t, test_malformed_video_meta);
    tcase_add_test(t, test_nan_and_inf_report_first_bad_row);
    tcase_add_test(t, test_truncated_and_non_hdf5_files);
    tcase_add_test(t, test_reader_refuses_lengths_a_damaged_file_states);
    tcase_add_test(t, test_check_of_a_file_stating_gigabytes_stays_within_its_cap);
    suite_add_tcase(s, t);

    t = tcase_create("interop");
    tcase_set_timeout(t, 120);
    if (h5py_available()) {
        tcase_add_test(t, test_reads_files_written_by_h5py);
        tcase_add_test(t, test_h5py_reads_files_vclip_writes);
    } else {
        printf("SKIP: h5py interop tests (%s cannot import h5py)\n", vc_test_python());
    }
    if (run("command -v h5dump >/dev/null 2>&1") == 0) tcase_add_test(t, test_h5dump_reads_files_vclip_writes);
    else printf("SKIP: h5dump test (h5dump not installed: Debian hdf5-tools)\n");
    suite_add_tcase(s, t);

    t = tcase_create("cli");
    tcase_set_timeout(t, 60);
    if (vc_test_vclip_bin()) {
        tcase_add_test(t, test_cli_info_prints_counts);
        tcase_add_test(t, test_cli_info_fails_on_bad_files);
        tcase_add_test(t, test_cli_info_reports_a_file_that_hangs_libhdf5);
        suite_add_tcase(s, t);
        t = tcase_create("cli_damage"); /* 60 runs of vclip info: its own time limit */
        tcase_set_timeout(t, 300);
        tcase_add_test(t, test_cli_info_never_dies_on_damaged_files);
    } else {
        printf("SKIP: vclip info tests (VCLIP_BIN is not set; run them with make test)\n");
    }
    suite_add_tcase(s, t);
    return s;
}

VC_TEST_MAIN(make_suite)
