/* test_search.c: eval/search.h, the scoring and top K behind `vclip search`, against
 * brute-force references computed here in double precision. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "eval/search.h"
#include "harness.h"

typedef struct {
    double score;
    int64_t order; /* position in which it was offered */
} cand;

/* Best first; equal scores in the order they were offered. */
static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

START_TEST(test_top_k_with_many_ties_matches_a_stable_sort) {
    vc_rng r;
    vc_rng_seed(&r, 11);
    static const double levels[5] = {-1.0, 0.0, 0.25, 0.5, 1.0};
    for (int trial = 0; trial < 400; trial++) {
        int64_t k = 1 + (int64_t)vc_rng_below(&r, 20), n = (int64_t)vc_rng_below(&r, 120);
        cand *c = malloc((size_t)(n ? n : 1) * sizeof *c);
        vc_topk t;
        ck_assert_int_eq(vc_topk_init(&t, k), VC_OK);
        for (int64_t i = 0; i < n; i++) {
            c[i] = (cand){levels[vc_rng_below(&r, 5)], i};
            vc_topk_add(&t, c[i].score, i, trial % 2 ? i % 7 : -1);
        }
        qsort(c, (size_t)n, sizeof *c, cmp_cand);
        int64_t want = n < k ? n : k;
        ck_assert_int_eq(t.n, want);
        for (int64_t i = 0; i < want; i++) {
            ck_assert_msg(t.h[i].video == c[i].order && t.h[i].score == c[i].score,
                          "trial %d, rank %lld: video %lld (%g), want %lld (%g)", trial, (long long)i,
                          (long long)t.h[i].video, t.h[i].score, (long long)c[i].order, c[i].score);
            ck_assert_int_eq(t.h[i].frame, trial % 2 ? c[i].order % 7 : -1);
        }
        vc_topk_free(&t);
        free(c);
    }
    vc_topk t;
    ck_assert_int_eq(vc_topk_init(&t, 0), VC_ERR_ARG);
}
END_TEST

enum { D = 4 };
/* 4 videos: 2 frames, none, 3 frames (one of them all zero), 1 frame */
static const int64_t k_nf[4] = {2, 0, 3, 1};
static const float k_frames[6][D] = {
    {1, 0, 0, 0}, {0, 2, 0, 0},                /* video 0 */
    {0, 0, 3, 0}, {0, 0, 0, 0}, {1, 1, 1, 1},  /* video 2 */
    {-1, 0.5f, 0, 2},                          /* video 3 */
};

static const char *write_file(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/search.h5", vc_test_tmpdir());
    vc_h5w *w;
    vc_h5w_opts o = {.dim = D, .dtype = VC_F32};
    ck_assert_int_eq(vc_h5w_open(&w, path, &o), VC_OK);
    const float *f = &k_frames[0][0];
    for (int v = 0; v < 4; v++) {
        char id[8];
        snprintf(id, sizeof id, "v%d", v);
        ck_assert_int_eq(vc_h5w_add_video(w, id, f, k_nf[v], NULL), VC_OK);
        f += k_nf[v] * D;
        float cap[D] = {1, 0, 0, (float)v};
        ck_assert_int_eq(vc_h5w_add_caption(w, v, "a caption", cap), VC_OK);
    }
    ck_assert_int_eq(vc_h5w_close(w), VC_OK);
    return path;
}

static double dnorm(const double *x) {
    double s = 0;
    for (int j = 0; j < D; j++) s += x[j] * x[j];
    return sqrt(s);
}

START_TEST(test_frames_score_the_mean_of_normalised_frames_and_each_moment) {
    const char *path = write_file();
    vc_h5 *h;
    ck_assert_int_eq(vc_h5_open(&h, path), VC_OK);
    const float query[D] = {0.5f, 2, 1, -0.25f}; /* raw: not unit length */
    double q[D], ql;
    for (int j = 0; j < D; j++) q[j] = query[j];
    ql = dnorm(q);
    /* references */
    double video_score[4], frame_score[6];
    int row = 0;
    for (int v = 0; v < 4; v++) {
        double mean[D] = {0};
        for (int f = 0; f < k_nf[v]; f++, row++) {
            double x[D];
            for (int j = 0; j < D; j++) x[j] = k_frames[row][j];
            double l = dnorm(x), d = 0;
            for (int j = 0; j < D; j++) {
                if (l > 0) mean[j] += x[j] / l;
                d += q[j] * x[j];
            }
            frame_score[row] = l > 0 ? d / (l * ql) : 0.0;
        }
        double l = dnorm(mean), d = 0;
        for (int j = 0; j < D; j++) d += q[j] * mean[j];
        video_score[v] = l > 0 ? d / (l * ql) : 0.0;
    }
    vc_topk t;
    ck_assert_int_eq(vc_topk_init(&t, 10), VC_OK);
    ck_assert_int_eq(vc_search_frames(h, query, false, &t), VC_OK);
    ck_assert_int_eq(t.n, 3); /* the video without frames is never ranked */
    for (int64_t i = 0; i < t.n; i++) {
        int64_t v = t.h[i].video;
        ck_assert(v != 1 && t.h[i].frame == -1);
        ck_assert_double_eq_tol(t.h[i].score, video_score[v], 1e-6);
        if (i) ck_assert(t.h[i - 1].score >= t.h[i].score);
    }
    vc_topk_free(&t);
    ck_assert_int_eq(vc_topk_init(&t, 4), VC_OK);
    ck_assert_int_eq(vc_search_frames(h, query, true, &t), VC_OK);
    ck_assert_int_eq(t.n, 4);
    static const int first_row[4] = {0, 2, 2, 5};
    double kth = INFINITY;
    for (int64_t i = 0; i < t.n; i++) {
        int64_t v = t.h[i].video, f = t.h[i].frame;
        ck_assert(f >= 0 && f < k_nf[v]);
        double want = frame_score[first_row[v] + f];
        ck_assert_double_eq_tol(t.h[i].score, want, 1e-6);
        kth = want;
    }
    int above = 0; /* exactly the 4 best frames: none left out scores more than the 4th */
    for (int i = 0; i < 6; i++) above += frame_score[i] > kth + 1e-9;
    ck_assert_int_le(above, 3);
    vc_topk_free(&t);
    vc_h5_close(h);
}
END_TEST

static Suite *search_suite(void) {
    Suite *s = suite_create("search");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_top_k_with_many_ties_matches_a_stable_sort);
    tcase_add_test(tc, test_frames_score_the_mean_of_normalised_frames_and_each_moment);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(search_suite)
