/* test_synth.c: the synthetic dataset (data/synth.h): a valid file, the same
 * bytes for the same seed, the order property (reorderings of the same events
 * have alike frame means but different captions), and `vclip synth`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "data/h5_reader.h"
#include "data/synth.h"
#include "harness.h"


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
    *len = n;
    return b;
}

static int run(const char *cmd) {
    int r = system(cmd);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void small_opts(vc_synth_opts *o) {
    vc_synth_defaults(o);
    o->n_videos = 600;
    o->dim = 64;
    o->n_events = 6;
    o->min_frames = 6;
    o->max_frames = 16;
    o->seed = 5;
}

START_TEST(test_synth_writes_a_valid_file) {
    vc_synth_opts o;
    small_opts(&o);
    const char *p = vc_test_path("synth_valid.h5");
    vc_synth_stats s;
    ck_assert_msg(vc_synth_write(p, &o, &s) == VC_OK, "%s", vc_last_error());
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, p) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->n_videos, 600);
    ck_assert_int_eq(in->dim, 64);
    ck_assert_int_eq(in->frame_dtype, VC_F16);
    ck_assert_int_eq(in->n_frames, s.frames);
    ck_assert_int_eq(in->n_captions, s.captions);
    ck_assert_int_eq(in->n_empty_videos, s.empty_videos);
    ck_assert_int_eq(in->n_uncaptioned, s.uncaptioned);
    ck_assert_int_eq(in->n_classes, 6 * 5);
    ck_assert(in->has_labels && in->has_class_names && in->has_class_embeddings && in->has_captions_text);
    /* Some of every special case the loader must handle. */
    ck_assert_int_gt(in->n_empty_videos, 0);
    ck_assert_int_gt(in->n_uncaptioned, 0);
    ck_assert_int_gt(in->n_captions, in->n_videos);  /* some videos have two */
    int64_t total = 0;
    for (int k = 0; k < VC_NSPLITS; k++) {
        ck_assert(in->has_split[k]);
        ck_assert_int_eq(in->split_size[k], s.split_size[k]);
        total += in->split_size[k];
    }
    ck_assert_int_eq(total, 600);
    ck_assert_int_gt(in->split_size[0], 360);  /* about 80% */
    ck_assert_int_gt(in->split_size[2], 20);
    const int64_t *off = vc_h5_offsets(h);
    int64_t short_videos = 0;
    for (int64_t v = 0; v < 600; v++) {
        int64_t n = off[v + 1] - off[v];
        ck_assert(n == 0 || (n >= 2 && n <= 16));
        short_videos += n == 2 || n == 3;
    }
    ck_assert_int_gt(short_videos, 0);
    /* Every value is finite and of CLIP-like size. */
    float *f = malloc((size_t)in->n_frames * 64 * sizeof(float));
    ck_assert_msg(vc_h5_read_frames(h, 0, in->n_frames, f) == VC_OK, "%s", vc_last_error());
    double norm = 0;
    for (int64_t j = 0; j < 64; j++) norm += (double)f[j] * f[j];
    ck_assert(sqrt(norm) > 6 && sqrt(norm) < 20);
    free(f);
    char *id;
    ck_assert(vc_h5_video_id(h, 7, &id) == VC_OK);
    ck_assert_str_eq(id, "synth-000007");
    free(id);
    ck_assert(vc_h5_class_name(h, 0, &id) == VC_OK);
    ck_assert_str_eq(id, "starts with wave and ends with jump");
    free(id);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_synth_is_deterministic_per_seed) {
    vc_synth_opts o;
    small_opts(&o);
    o.n_videos = 200;
    const char *a = vc_test_path("synth_a.h5"), *b = vc_test_path("synth_b.h5"), *c = vc_test_path("synth_c.h5");
    ck_assert(vc_synth_write(a, &o, NULL) == VC_OK);
    ck_assert(vc_synth_write(b, &o, NULL) == VC_OK);
    o.seed = 6;
    ck_assert(vc_synth_write(c, &o, NULL) == VC_OK);
    long la, lb, lc;
    char *x = slurp(a, &la), *y = slurp(b, &lb), *z = slurp(c, &lc);
    ck_assert_int_eq(la, lb);
    ck_assert(memcmp(x, y, (size_t)la) == 0);
    ck_assert(la != lc || memcmp(x, z, (size_t)la) != 0);
    free(x);
    free(y);
    free(z);
}
END_TEST

/* Events named in a first caption "first A, then B[, finally C]"; returns L or 0. */
static int parse_events(const char *text, char ev[3][32]) {
    if (strncmp(text, "first ", 6) != 0) return 0;
    const char *p = text + 6, *t = strstr(p, ", then ");
    if (!t) return 0;
    snprintf(ev[0], 32, "%.*s", (int)(t - p), p);
    p = t + 7;
    const char *f = strstr(p, ", finally ");
    if (!f) {
        snprintf(ev[1], 32, "%s", p);
        return 2;
    }
    snprintf(ev[1], 32, "%.*s", (int)(f - p), p);
    snprintf(ev[2], 32, "%s", f + 10);
    return 3;
}

static bool same_set(char a[3][32], char b[3][32], int L) {
    for (int i = 0; i < L; i++) {
        bool found = false;
        for (int j = 0; j < L; j++) found |= strcmp(a[i], b[j]) == 0;
        if (!found) return false;
    }
    return true;
}

static bool same_order(char a[3][32], char b[3][32], int L) {
    for (int i = 0; i < L; i++)
        if (strcmp(a[i], b[i]) != 0) return false;
    return true;
}

static double cosine(const float *a, const float *b, int64_t D) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t j = 0; j < D; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return ab / sqrt(aa * bb);
}

START_TEST(test_synth_captions_depend_on_event_order) {
    vc_synth_opts o;
    small_opts(&o);
    const char *p = vc_test_path("synth_order.h5");
    ck_assert(vc_synth_write(p, &o, NULL) == VC_OK);
    vc_h5 *h;
    ck_assert(vc_h5_open(&h, p) == VC_OK);
    const vc_h5_info *in = vc_h5_get_info(h);
    const int64_t V = in->n_videos, D = in->dim;
    const int64_t *off = vc_h5_offsets(h), *co = vc_h5_caption_offsets(h), *ci = vc_h5_caption_index(h);
    float *mean = calloc((size_t)V * D, sizeof(float)), *cap = malloc((size_t)V * D * sizeof(float));
    float *rows = malloc(16 * (size_t)D * sizeof(float));
    char(*ev)[3][32] = calloc((size_t)V, sizeof *ev);
    int *L = calloc((size_t)V, sizeof *L);
    for (int64_t v = 0; v < V; v++) {
        int64_t n = off[v + 1] - off[v];
        if (n == 0 || co[v + 1] == co[v]) continue;
        ck_assert(vc_h5_read_frames(h, off[v], n, rows) == VC_OK);
        for (int64_t t = 0; t < n; t++)
            for (int64_t j = 0; j < D; j++) mean[v * D + j] += rows[t * D + j] / (float)n;
        int64_t c = ci[co[v]];
        ck_assert(vc_h5_read_text(h, c, 1, cap + v * D) == VC_OK);
        char *text;
        ck_assert(vc_h5_caption(h, c, &text) == VC_OK);
        L[v] = parse_events(text, ev[v]);
        ck_assert_msg(L[v] > 0, "caption '%s' does not parse", text);
        free(text);
    }
    /* Pairs of videos with the same events: reordered, or in the same order. */
    int64_t n_reord = 0, n_same = 0, n_witness = 0, n_other = 0;
    double sum_mean_reord = 0, sum_cap_reord = 0, sum_cap_same = 0, sum_mean_same = 0, sum_mean_other = 0;
    for (int64_t a = 0; a < V; a++) {
        if (!L[a]) continue;
        for (int64_t b = a + 1; b < V; b++) {
            if (!L[b]) continue;
            double cm = cosine(mean + a * D, mean + b * D, D), cc = cosine(cap + a * D, cap + b * D, D);
            if (L[a] != L[b] || !same_set(ev[a], ev[b], L[a])) {
                n_other++;
                sum_mean_other += cm;
            } else if (same_order(ev[a], ev[b], L[a])) {
                n_same++;
                sum_cap_same += cc;
                sum_mean_same += cm;
            } else {
                n_reord++;
                sum_mean_reord += cm;
                sum_cap_reord += cc;
                n_witness += cm > 0.95 && cc < 0.5;
            }
        }
    }
    ck_assert_int_gt(n_reord, 100);
    ck_assert_int_gt(n_same, 10);
    /* Reorderings: frame means alike, captions far apart. */
    ck_assert_int_gt(n_witness, 0);
    ck_assert_msg(sum_mean_reord / n_reord > 0.85, "mean cos of reorderings %g", sum_mean_reord / n_reord);
    /* The frame mean cannot tell a reordering from the same order: the two
     * kinds of pairs are on average equally close. */
    ck_assert_msg(fabs(sum_mean_reord / n_reord - sum_mean_same / n_same) < 0.02, "mean cos: reordered %g, same order %g",
                  sum_mean_reord / n_reord, sum_mean_same / n_same);
    ck_assert_msg(sum_cap_reord / n_reord < 0.6, "caption cos of reorderings %g", sum_cap_reord / n_reord);
    /* The same order gives the same caption meaning... */
    ck_assert_msg(sum_cap_same / n_same > 0.9, "caption cos of same order %g", sum_cap_same / n_same);
    /* ...and different events give clearly different frame means. */
    ck_assert_msg(sum_mean_other / n_other < sum_mean_reord / n_reord - 0.05, "mean cos of other sets %g",
                  sum_mean_other / n_other);
    free(mean);
    free(cap);
    free(rows);
    free(ev);
    free(L);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_synth_class_embeddings_match_captions) {
    vc_synth_opts o;
    small_opts(&o);
    const char *p = vc_test_path("synth_cls.h5");
    ck_assert(vc_synth_write(p, &o, NULL) == VC_OK);
    vc_h5 *h;
    ck_assert(vc_h5_open(&h, p) == VC_OK);
    const vc_h5_info *in = vc_h5_get_info(h);
    const int64_t D = in->dim, K = in->n_classes;
    float *cls = malloc((size_t)K * D * sizeof(float)), *cap = malloc((size_t)D * sizeof(float));
    ck_assert(vc_h5_read_classes(h, cls) == VC_OK);
    const int64_t *co = vc_h5_caption_offsets(h), *ci = vc_h5_caption_index(h), *lab = vc_h5_labels(h);
    int64_t n_pairs = 0, n_right = 0;
    for (int64_t v = 0; v < in->n_videos; v++) {
        if (co[v + 1] == co[v]) continue;
        char *text, ev[3][32];
        ck_assert(vc_h5_caption(h, ci[co[v]], &text) == VC_OK);
        int L = parse_events(text, ev);
        free(text);
        if (L != 2) continue;  /* a two-event caption is exactly its class's prompt, plus noise */
        ck_assert(vc_h5_read_text(h, ci[co[v]], 1, cap) == VC_OK);
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (cosine(cap, cls + k * D, D) > cosine(cap, cls + best * D, D)) best = k;
        n_pairs++;
        n_right += best == lab[v];
        char *name;
        ck_assert(vc_h5_class_name(h, lab[v], &name) == VC_OK);
        char want[96];
        snprintf(want, sizeof want, "starts with %s and ends with %s", ev[0], ev[1]);
        ck_assert_str_eq(name, want);
        free(name);
    }
    ck_assert_int_gt(n_pairs, 20);
    ck_assert_int_eq(n_right, n_pairs);
    free(cls);
    free(cap);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_synth_rejects_bad_options) {
    vc_synth_opts o;
    small_opts(&o);
    o.min_frames = 10;
    o.max_frames = 5;
    ck_assert(vc_synth_write(vc_test_path("bad.h5"), &o, NULL) == VC_ERR_ARG);
    small_opts(&o);
    o.n_events = 2;
    ck_assert(vc_synth_write(vc_test_path("bad.h5"), &o, NULL) == VC_ERR_ARG);
    small_opts(&o);
    o.dim = 0;
    ck_assert(vc_synth_write(vc_test_path("bad.h5"), &o, NULL) == VC_ERR_ARG);
    struct stat sb;
    ck_assert(stat(vc_test_path("bad.h5"), &sb) != 0);
}
END_TEST

START_TEST(test_cli_synth_then_info) {
    const char *bin = getenv("VCLIP_BIN");
    const char *p = vc_test_path("cli_synth.h5"), *out = vc_test_path("cli_synth.out"), *err = vc_test_path("cli_synth.err");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --videos 120 --dim 32 --min-frames 4 --max-frames 9 --seed 3 > '%s'",
             bin, p, out);
    ck_assert_int_eq(run(cmd), 0);
    long n;
    char *o = slurp(out, &n);
    ck_assert_msg(strstr(o, "120 videos") != NULL, "%s", o);
    free(o);
    snprintf(cmd, sizeof cmd, "'%s' info '%s' > '%s'", bin, p, out);
    ck_assert_int_eq(run(cmd), 0);
    o = slurp(out, &n);
    ck_assert_msg(strstr(o, "videos:      120") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "dim:         32") != NULL, "%s", o);
    ck_assert_msg(strstr(o, "clip_model:  vclip-synth") != NULL, "%s", o);
    free(o);
    /* Bad input: non-zero exit, one line on stderr, no file. */
    const char *q = vc_test_path("cli_bad.h5");
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --dim -3 > /dev/null 2> '%s'", bin, q, err);
    ck_assert_int_ne(run(cmd), 0);
    char *e = slurp(err, &n);
    ck_assert_msg(strncmp(e, "vclip synth: ", 13) == 0 && strchr(e, '\n') == e + n - 1, "%s", e);
    ck_assert_msg(strstr(e, "--dim -3") != NULL, "%s", e);
    free(e);
    struct stat sb;
    ck_assert(stat(q, &sb) != 0);
    snprintf(cmd, sizeof cmd, "'%s' synth --videos 10 > /dev/null 2> '%s'", bin, err);
    ck_assert_int_ne(run(cmd), 0);
    e = slurp(err, &n);
    ck_assert_msg(strstr(e, "--out") != NULL, "%s", e);
    free(e);
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --videos ten > /dev/null 2> /dev/null", bin, q);
    ck_assert_int_ne(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --bogus 1 > /dev/null 2> /dev/null", bin, q);
    ck_assert_int_ne(run(cmd), 0);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("synth");
    TCase *t = tcase_create("synth");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_synth_writes_a_valid_file);
    tcase_add_test(t, test_synth_is_deterministic_per_seed);
    tcase_add_test(t, test_synth_captions_depend_on_event_order);
    tcase_add_test(t, test_synth_class_embeddings_match_captions);
    tcase_add_test(t, test_synth_rejects_bad_options);
    if (getenv("VCLIP_BIN") && *getenv("VCLIP_BIN")) tcase_add_test(t, test_cli_synth_then_info);
    else printf("SKIP: vclip synth command test (VCLIP_BIN is not set; run it with make test)\n");
    suite_add_tcase(s, t);
    return s;
}

VC_TEST_MAIN(make_suite)
