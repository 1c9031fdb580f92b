/* Retrieval and zero-shot metrics (eval/metrics.h) and their JSON / table
 * output (eval/report.h): hand-built cases with known ranks (ties counted
 * against the model, several captions per video, videos without captions,
 * perfect and reversed retrieval, NaN scores), block boundaries against a
 * naive double-loop ranking, and random cases against an independent NumPy
 * implementation (tests/ref_metrics.py). Random data are multiples of 1/q
 * (q a power of two) so every dot product is exact in float32 and float64
 * and ranks must agree exactly, ties included. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/metrics.h"
#include "eval/report.h"
#include "harness.h"
#include "tensor/rng.h"

#define EPS 1e-9

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Rank by the definition, in double, one score at a time: count candidates
 * not strictly below the true score. */
static void naive_rank_true(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *truth,
                            int64_t *rank) {
    for (int64_t q = 0; q < Nq; q++) {
        double t = 0;
        for (int64_t d = 0; d < D; d++) t += (double)Q[q * D + d] * X[truth[q] * D + d];
        int64_t c = 0;
        for (int64_t x = 0; x < Nx; x++) {
            double s = 0;
            for (int64_t d = 0; d < D; d++) s += (double)Q[q * D + d] * X[x * D + d];
            c += !(s < t);
        }
        rank[q] = c;
    }
}

/* Min over own candidates of 1 + the candidates of OTHER queries not strictly
 * below it. Own candidates never count; a NaN own score gets 1 + all others,
 * so it wins the min only when every own score is NaN. */
static void naive_rank_owned(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *owner,
                             int64_t *rank) {
    double *s = malloc((size_t)Nx * sizeof *s);
    for (int64_t q = 0; q < Nq; q++) {
        for (int64_t x = 0; x < Nx; x++) {
            s[x] = 0;
            for (int64_t d = 0; d < D; d++) s[x] += (double)Q[q * D + d] * X[x * D + d];
        }
        rank[q] = 0;
        for (int64_t own = 0; own < Nx; own++) {
            if (owner[own] != q) continue;
            int64_t c = 1;
            for (int64_t x = 0; x < Nx; x++) c += owner[x] != q && !(s[x] < s[own]);
            if (rank[q] == 0 || c < rank[q]) rank[q] = c;
        }
    }
    free(s);
}

/* n values k/q with k uniform in [-q, q]. */
static void fill_grid(float *x, int64_t n, vc_rng *r, int q) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)((int64_t)vc_rng_below(r, (uint64_t)(2 * q + 1)) - q) / (float)q;
}

/* Captions map to `used` distinct videos chosen at random out of Nv; the
 * others have none. */
static void fill_cap_video(int64_t *cap, int64_t Nc, int64_t Nv, int64_t used, vc_rng *r) {
    int64_t *perm = malloc((size_t)Nv * sizeof *perm);
    for (int64_t i = 0; i < Nv; i++) perm[i] = i;
    for (int64_t i = Nv - 1; i > 0; i--) {
        int64_t j = (int64_t)vc_rng_below(r, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < Nc; i++) cap[i] = perm[i < used ? i : (int64_t)vc_rng_below(r, (uint64_t)used)];
    free(perm);
}

static void assert_recall(const vc_recall *got, double r1, double r5, double r10, double mdr, double mnr,
                          int64_t queries, const char *what) {
    ck_assert_msg(fabs(got->r1 - r1) < EPS, "%s R@1 %.12g, want %.12g", what, got->r1, r1);
    ck_assert_msg(fabs(got->r5 - r5) < EPS, "%s R@5 %.12g, want %.12g", what, got->r5, r5);
    ck_assert_msg(fabs(got->r10 - r10) < EPS, "%s R@10 %.12g, want %.12g", what, got->r10, r10);
    ck_assert_msg(fabs(got->mdr - mdr) < EPS, "%s MdR %.12g, want %.12g", what, got->mdr, mdr);
    ck_assert_msg(fabs(got->mnr - mnr) < EPS, "%s MnR %.12g, want %.12g", what, got->mnr, mnr);
    ck_assert_msg(got->queries == queries, "%s queries %lld, want %lld", what, (long long)got->queries,
                  (long long)queries);
}

static void assert_ranks(const int64_t *got, const int64_t *want, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: rank[%lld] = %lld, want %lld", what, (long long)i, (long long)got[i],
                      (long long)want[i]);
}

/* ------------------------------------------------------------------------ */
/* Hand-built cases                                                          */

START_TEST(test_two_way_tie_at_top_is_rank_two_and_captionless_video_is_excluded) {
    /* videos: v0 = v1 = e0 (identical), v2 = e1. captions: c0 = e0 -> v0, c1 = e1 -> v2.
     * c0 scores (1, 1, 0): tied with v1 at the top -> rank 2, not 1. v1 has no caption. */
    const float V[] = {1, 0, 1, 0, 0, 1};
    const float C[] = {1, 0, 0, 1};
    const int64_t cap[] = {0, 2};
    int64_t rt[2], rv[3], nans = -1;
    ck_assert_int_eq(vc_rank_true(C, 2, V, 3, 2, cap, 0, rt, &nans), VC_OK);
    assert_ranks(rt, (int64_t[]){2, 1}, 2, "t2v");
    ck_assert_int_eq(nans, 0);
    ck_assert_int_eq(vc_rank_owned(V, 3, C, 2, 2, cap, 0, rv, NULL), VC_OK);
    assert_ranks(rv, (int64_t[]){1, 0, 1}, 3, "v2t");

    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, 3, C, 2, 2, cap, 0, &r), VC_OK);
    assert_recall(&r.t2v, 50, 100, 100, 1.5, 1.5, 2, "t2v");
    assert_recall(&r.v2t, 100, 100, 100, 1, 1, 2, "v2t");
    ck_assert_int_eq(r.videos, 3);
    ck_assert_int_eq(r.captions, 2);
    ck_assert_int_eq(r.v2t_excluded, 1);
    ck_assert(!r.has_cls);
}
END_TEST

START_TEST(test_video_to_text_takes_the_best_rank_among_own_captions) {
    /* Videos are unit vectors, so video v's score for a caption is its
     * component v. All values are dyadic, so scores are exact. */
    const float V[] = {1, 0, 0, /* v0 */ 0, 1, 0, /* v1 */ 0, 0, 1, /* v2 */ 1, 0, 0 /* v3: no caption */};
    const float C[] = {
        0.5f,    0.25f,  0,     /* c0 -> v0 */
        0.75f,   0,      0.5f,  /* c1 -> v0 */
        0.875f,  0.5f,   0.5f,  /* c2 -> v1 */
        0.125f,  0.5f,   0.25f, /* c3 -> v2 */
        0.8125f, 0.125f, 0.5f,  /* c4 -> v1 */
    };
    const int64_t cap[] = {0, 0, 1, 2, 1};
    /* Rank = 1 + other videos' captions >= the best own score.
     * v0 row .5 .75 .875 .125 .8125: best own c1 .75, beaten by c2, c4 -> 3.
     * v1 row .25 0 .5 .5 .125: best own c2 .5, tied by c3 (of v2) -> 2.
     * v2 row 0 .5 .5 .25 .5: own c3 .25, beaten by c1, c2, c4 -> 4. */
    int64_t rv[4];
    for (int64_t block = 0; block <= 5; block++) {
        ck_assert_int_eq(vc_rank_owned(V, 4, C, 5, 3, cap, block, rv, NULL), VC_OK);
        assert_ranks(rv, (int64_t[]){3, 2, 4, 0}, 4, "v2t");
    }
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, 4, C, 5, 3, cap, 0, &r), VC_OK);
    assert_recall(&r.v2t, 0, 100, 100, 3, 3, 3, "v2t");
    ck_assert_int_eq(r.v2t_excluded, 1);
    /* t2v, by hand: c0 (.5 .25 0 .5) true v0 -> 2 (tie with v3); c1 (.75 0 .5 .75) -> 2;
     * c2 (.875 .5 .5 .875) true v1 .5 -> 4; c3 (.125 .5 .25 .125) true v2 .25 -> 2;
     * c4 (.8125 .125 .5 .8125) true v1 .125 -> 4. */
    int64_t rt[5];
    ck_assert_int_eq(vc_rank_true(C, 5, V, 4, 3, cap, 2, rt, NULL), VC_OK);
    assert_ranks(rt, (int64_t[]){2, 2, 4, 2, 4}, 5, "t2v");
    assert_recall(&r.t2v, 0, 100, 100, 2, 2.8, 5, "t2v");
}
END_TEST

START_TEST(test_own_captions_tied_at_the_top_are_rank_1_but_a_tie_with_a_wrong_caption_is_not) {
    /* Two correct answers tied at the top are not held against the model:
     * v0 owns c0 = c1 = e0 (both score 1, nothing else does) -> rank 1.
     * A wrong caption tied with the best own one is: v1 = e1 owns c2 = e1
     * (score 1) and c3 = 0.5 e1, and c4 = e1 belongs to v2 -> rank 2.
     * v2 owns c4 alone, tied with c2 (of v1) -> rank 2. */
    const float V[] = {1, 0, 0, 1, 0, 1};
    const float C[] = {1, 0, 1, 0, 0, 1, 0, 0.5f, 0, 1};
    const int64_t cap[] = {0, 0, 1, 1, 2};
    int64_t rv[3];
    for (int64_t block = 0; block <= 3; block++) {
        ck_assert_int_eq(vc_rank_owned(V, 3, C, 5, 2, cap, block, rv, NULL), VC_OK);
        assert_ranks(rv, (int64_t[]){1, 2, 2}, 3, "v2t");
    }
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, 3, C, 5, 2, cap, 0, &r), VC_OK);
    assert_recall(&r.v2t, 100.0 / 3, 100, 100, 2, 5.0 / 3, 3, "v2t");
}
END_TEST

START_TEST(test_perfect_retrieval_gives_recall_100_and_rank_1) {
    enum { N = 20 };
    float V[N * N], C[N * N];
    int64_t cap[N];
    memset(V, 0, sizeof V);
    memset(C, 0, sizeof C);
    for (int i = 0; i < N; i++) {
        V[i * N + i] = 1;
        C[i * N + i] = 1;
        cap[i] = i;
    }
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, N, C, N, N, cap, 3, &r), VC_OK);
    assert_recall(&r.t2v, 100, 100, 100, 1, 1, N, "t2v");
    assert_recall(&r.v2t, 100, 100, 100, 1, 1, N, "v2t");
    ck_assert_int_eq(r.v2t_excluded, 0);
    ck_assert_int_eq(r.nan_scores, 0);
}
END_TEST

START_TEST(test_reversed_retrieval_ranks_every_true_item_last) {
    /* caption i = all ones but 0 at i (normalised): its true video e_i scores
     * 0, every other video 1/sqrt(N-1). */
    enum { N = 12 };
    float V[N * N], C[N * N];
    int64_t cap[N];
    float w = 1.0f / sqrtf((float)(N - 1));
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < N; d++) {
            V[i * N + d] = d == i ? 1.0f : 0.0f;
            C[i * N + d] = d == i ? 0.0f : w;
        }
        cap[i] = i;
    }
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, N, C, N, N, cap, 5, &r), VC_OK);
    assert_recall(&r.t2v, 0, 0, 0, N, N, N, "t2v");
    assert_recall(&r.v2t, 0, 0, 0, N, N, N, "v2t");
}
END_TEST

START_TEST(test_identical_embeddings_give_the_worst_ranks) {
    /* A collapsed model (every embedding the same) must not score R@1 = 100.
     * v2t: every other video's caption ties the best own one: videos 0-2 own
     * 2 of the 9 captions -> rank 1 + 7 = 8; videos 3-5 own 1 -> 1 + 8 = 9. */
    enum { NV = 6, NC = 9, D = 4 };
    float V[NV * D], C[NC * D];
    int64_t cap[NC];
    for (int i = 0; i < NV * D; i++) V[i] = 0.5f;
    for (int i = 0; i < NC * D; i++) C[i] = 0.5f;
    for (int i = 0; i < NC; i++) cap[i] = i % NV;
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, NV, C, NC, D, cap, 0, &r), VC_OK);
    assert_recall(&r.t2v, 0, 0, 100, NV, NV, NC, "t2v");
    assert_recall(&r.v2t, 0, 0, 100, 8.5, 8.5, NV, "v2t");
    int64_t rv[NV];
    ck_assert_int_eq(vc_rank_owned(V, NV, C, NC, D, cap, 0, rv, NULL), VC_OK);
    assert_ranks(rv, (int64_t[]){8, 8, 8, 9, 9, 9}, NV, "v2t");
}
END_TEST

START_TEST(test_median_of_an_even_count_is_the_mean_of_the_middle_two) {
    vc_recall rc;
    /* zeros are "not a query" and are skipped */
    ck_assert_int_eq(vc_recall_from_ranks((int64_t[]){10, 0, 1, 3, 2, 0}, 6, &rc), VC_OK);
    assert_recall(&rc, 25, 75, 100, 2.5, 4, 4, "even");
    ck_assert_int_eq(vc_recall_from_ranks((int64_t[]){7, 11, 1}, 3, &rc), VC_OK);
    assert_recall(&rc, 100.0 / 3, 100.0 / 3, 200.0 / 3, 7, 19.0 / 3, 3, "odd");
    ck_assert_int_eq(vc_recall_from_ranks((int64_t[]){0, 0}, 2, &rc), VC_ERR_ARG);
    ck_assert_int_eq(vc_recall_from_ranks((int64_t[]){1, -1}, 2, &rc), VC_ERR_ARG);
}
END_TEST

START_TEST(test_nan_scores_count_against_the_model) {
    /* v2 = (NaN, 0): every score against it is NaN. c0 -> v0 scores (1, 0, NaN):
     * the NaN candidate counts against it -> rank 2. c2 -> v2 has a NaN true
     * score -> worst rank 3, never 1. */
    const float V[] = {1, 0, 0, 1, NAN, 0};
    const float C[] = {1, 0, 0, 1, 1, 0};
    const int64_t cap[] = {0, 1, 2};
    int64_t rt[3], rv[3], nans = 0;
    ck_assert_int_eq(vc_rank_true(C, 3, V, 3, 2, cap, 2, rt, &nans), VC_OK);
    assert_ranks(rt, (int64_t[]){2, 2, 3}, 3, "t2v");
    ck_assert_int_eq(nans, 3);
    /* v2t: v2's row is all NaN -> worst rank 1 + 2 other captions = 3;
     * v0 row (1, 0, 1): c2 (of v2) ties c0 -> 2 */
    ck_assert_int_eq(vc_rank_owned(V, 3, C, 3, 2, cap, 1, rv, &nans), VC_OK);
    assert_ranks(rv, (int64_t[]){2, 1, 3}, 3, "v2t");
    ck_assert_int_eq(nans, 3);
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, 3, C, 3, 2, cap, 0, &r), VC_OK);
    ck_assert_int_eq(r.nan_scores, 6);
    ck_assert(r.t2v.r1 == 0);

    /* Several captions per video. u0 = e0 owns c0 (NaN) and c1 (score 1):
     * its own NaN is ignored, c2 (.5) is below, c3 (NaN, of u1) counts
     * against -> 2. u1 = (NaN, 1) scores NaN everywhere: it owns c2 and c3,
     * so its worst rank is 1 + its 2 wrong captions = 3, not 4. */
    const float U[] = {1, 0, NAN, 1};
    const float E[] = {NAN, 0, 1, 0, 0.5f, 0, NAN, 0};
    const int64_t own[] = {0, 0, 1, 1};
    int64_t ru[2];
    ck_assert_int_eq(vc_rank_owned(U, 2, E, 4, 2, own, 0, ru, &nans), VC_OK);
    assert_ranks(ru, (int64_t[]){2, 3}, 2, "v2t several");
    ck_assert_int_eq(nans, 6);
}
END_TEST

START_TEST(test_zero_shot_top1_top5_count_ties_against_the_model) {
    /* classes k0 = k1 = e0, k2..k6 = e1, k7 = e2 */
    const float K[] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1};
    const float V[] = {
        1, 0, 0, /* label 0: tied with k1 -> rank 2: top-5 only */
        0, 1, 0, /* label 2: tied with k3..k6 (4 others) -> rank 5: top-5 only */
        0, 1, 0, /* label 7: scores 0, all 8 classes >= it -> rank 8 */
        0, 0, 1, /* label 7: alone at the top -> rank 1 */
        1, 1, 0, /* label 0: tied with k1..k6 (6 others) -> rank 7 */
    };
    const int64_t labels[] = {0, 2, 7, 7, 0};
    int64_t rk[5];
    ck_assert_int_eq(vc_rank_true(V, 5, K, 8, 3, labels, 2, rk, NULL), VC_OK);
    assert_ranks(rk, (int64_t[]){2, 5, 8, 1, 7}, 5, "classes");
    vc_eval_result r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(vc_eval_zeroshot(V, 5, K, 8, 3, labels, 0, &r), VC_OK);
    ck_assert(r.has_cls);
    ck_assert_msg(fabs(r.top1 - 20) < EPS, "top1 %g", r.top1);
    ck_assert_msg(fabs(r.top5 - 60) < EPS, "top5 %g", r.top5);
    ck_assert_int_eq(r.cls_videos, 5);
    ck_assert_int_eq(r.cls_classes, 8);
}
END_TEST

START_TEST(test_bad_arguments_are_errors_naming_the_problem) {
    const float V[] = {1, 0, 0, 1};
    const float C[] = {1, 0, 0, 1};
    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, 2, C, 2, 2, (int64_t[]){0, 5}, 0, &r), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "caption 1 maps to video 5"), "message: %s", vc_last_error());
    ck_assert_int_eq(vc_eval_retrieval(V, 2, C, 2, 2, (int64_t[]){-1, 0}, 0, &r), VC_ERR_ARG);
    ck_assert_int_eq(vc_eval_retrieval(V, 2, C, 0, 2, (int64_t[]){0}, 0, &r), VC_ERR_ARG);
    ck_assert_int_eq(vc_eval_retrieval(V, 2, C, 2, 0, (int64_t[]){0, 1}, 0, &r), VC_ERR_ARG);
    ck_assert_int_eq(vc_eval_zeroshot(V, 2, C, 2, 2, (int64_t[]){0, 2}, 0, &r), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "video 1 has label 2"), "message: %s", vc_last_error());
    int64_t rank[2];
    ck_assert_int_eq(vc_rank_owned(V, 2, C, 2, 2, (int64_t[]){0, 9}, 0, rank, NULL), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "owner[1] = 9"), "message: %s", vc_last_error());
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Blocks                                                                    */

START_TEST(test_default_block_rows_bound_the_score_memory) {
    ck_assert_int_eq(vc_metrics_block_rows(1000), 4096);
    ck_assert_int_eq(vc_metrics_block_rows(100000), (1 << 24) / 100000);
    ck_assert_int_eq(vc_metrics_block_rows((int64_t)1 << 30), 1);
    ck_assert_int_eq(vc_metrics_block_rows(0), 4096);
}
END_TEST

START_TEST(test_every_block_size_gives_the_naive_ranks) {
    enum { NV = 11, NC = 37, D = 6 };
    vc_rng rng;
    vc_rng_seed(&rng, 7);
    float V[NV * D], C[NC * D];
    int64_t cap[NC], want_t[NC], want_v[NV], rt[NC], rv[NV];
    fill_grid(V, NV * D, &rng, 2); /* coarse grid: many exact ties */
    fill_grid(C, NC * D, &rng, 2);
    fill_cap_video(cap, NC, NV, 9, &rng);
    naive_rank_true(C, NC, V, NV, D, cap, want_t);
    naive_rank_owned(V, NV, C, NC, D, cap, want_v);
    int64_t ties = 0;
    for (int i = 0; i < NC; i++) ties += want_t[i] > 1;
    ck_assert_msg(ties > 0, "the data should hold ties");
    const int64_t blocks[] = {0, 1, 2, 4, 5, 10, 11, 12, 36, 37, 38, 1000};
    for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
        char what[64];
        snprintf(what, sizeof what, "t2v block %lld", (long long)blocks[b]);
        ck_assert_int_eq(vc_rank_true(C, NC, V, NV, D, cap, blocks[b], rt, NULL), VC_OK);
        assert_ranks(rt, want_t, NC, what);
        snprintf(what, sizeof what, "v2t block %lld", (long long)blocks[b]);
        ck_assert_int_eq(vc_rank_owned(V, NV, C, NC, D, cap, blocks[b], rv, NULL), VC_OK);
        assert_ranks(rv, want_v, NV, what);
    }
}
END_TEST

START_TEST(test_default_blocks_split_more_captions_than_one_block_holds) {
    /* 5000 captions: the default 4096-row block plus a partial one. */
    enum { NV = 3, NC = 5000, D = 4 };
    vc_rng rng;
    vc_rng_seed(&rng, 11);
    float *C = malloc(sizeof(float) * NC * D), V[NV * D];
    int64_t *cap = malloc(sizeof(int64_t) * NC), *want = malloc(sizeof(int64_t) * NC),
            *got = malloc(sizeof(int64_t) * NC);
    fill_grid(V, NV * D, &rng, 4);
    fill_grid(C, NC * D, &rng, 4);
    fill_cap_video(cap, NC, NV, NV, &rng);
    naive_rank_true(C, NC, V, NV, D, cap, want);
    ck_assert_int_eq(vc_rank_true(C, NC, V, NV, D, cap, 0, got, NULL), VC_OK);
    assert_ranks(got, want, NC, "t2v");
    int64_t wv[NV], gv[NV];
    naive_rank_owned(V, NV, C, NC, D, cap, wv);
    ck_assert_int_eq(vc_rank_owned(V, NV, C, NC, D, cap, 0, gv, NULL), VC_OK);
    assert_ranks(gv, wv, NV, "v2t");
    free(C);
    free(cap);
    free(want);
    free(got);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Report                                                                    */

static vc_eval_result sample_result(bool cls) {
    vc_eval_result r;
    memset(&r, 0, sizeof r);
    r.t2v = (vc_recall){.r1 = 31.25, .r5 = 60.5, .r10 = 70, .mdr = 3.5, .mnr = 20.125, .queries = 40};
    r.v2t = (vc_recall){.r1 = 30, .r5 = 55, .r10 = 65.5, .mdr = 4, .mnr = 18.75, .queries = 10};
    r.videos = 11;
    r.captions = 40;
    r.v2t_excluded = 1;
    if (cls) {
        r.has_cls = true;
        r.top1 = 12.5;
        r.top5 = 40.25;
        r.cls_videos = 11;
        r.cls_classes = 7;
    }
    return r;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    ck_assert_msg(cJSON_IsNumber(v), "key %s missing or not a number", k);
    return v->valuedouble;
}

/* The object's keys, in order, must be exactly names[0..n). */
static void assert_keys(const cJSON *o, const char *const *names, int n, const char *what) {
    ck_assert_msg(cJSON_IsObject(o), "%s is not an object", what);
    int i = 0;
    for (const cJSON *c = o->child; c; c = c->next, i++) {
        ck_assert_msg(i < n, "%s: unexpected key %s", what, c->string);
        ck_assert_msg(strcmp(c->string, names[i]) == 0, "%s: key %d is %s, want %s", what, i, c->string, names[i]);
    }
    ck_assert_msg(i == n, "%s: %d keys, want %d", what, i, n);
}

static void check_json_text(const char *text, const vc_eval_result *r, bool pretty) {
    cJSON *o = cJSON_Parse(text);
    ck_assert_msg(o, "not JSON: %s", text);
    const char *top[] = {"t2v", "v2t", "videos", "captions", "top1", "top5"};
    const char *dir[] = {"R@1", "R@5", "R@10", "MdR", "MnR"};
    assert_keys(o, top, r->has_cls ? 6 : 4, "top level");
    const vc_recall *rc[2] = {&r->t2v, &r->v2t};
    for (int k = 0; k < 2; k++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, top[k]);
        assert_keys(d, dir, 5, top[k]);
        ck_assert(num(d, "R@1") == rc[k]->r1 && num(d, "R@5") == rc[k]->r5 && num(d, "R@10") == rc[k]->r10);
        ck_assert(num(d, "MdR") == rc[k]->mdr && num(d, "MnR") == rc[k]->mnr);
    }
    ck_assert(num(o, "videos") == 11 && num(o, "captions") == 40);
    if (!pretty) ck_assert_msg(strstr(text, "\"videos\":11,\"captions\":40"), "counts not integers: %s", text);
    if (r->has_cls) ck_assert(num(o, "top1") == 12.5 && num(o, "top5") == 40.25);
    cJSON_Delete(o);
}

START_TEST(test_json_has_exactly_the_documented_shape) {
    char buf[1024];
    for (int cls = 0; cls < 2; cls++) {
        vc_eval_result r = sample_result(cls);
        ck_assert_int_eq(vc_eval_json_format(&r, false, buf, sizeof buf), VC_OK);
        check_json_text(buf, &r, false);
        /* the FILE* variant writes the same text */
        char *mem = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&mem, &len);
        ck_assert_int_eq(vc_eval_json_write(&r, false, f), VC_OK);
        fclose(f);
        ck_assert_msg(len == strlen(buf) + 1 && strncmp(mem, buf, strlen(buf)) == 0 && mem[len - 1] == '\n',
                      "file text %s differs from buffer text %s", mem, buf);
        free(mem);
        ck_assert_int_eq(vc_eval_json_format(&r, true, buf, sizeof buf), VC_OK);
        check_json_text(buf, &r, true);
    }
    vc_eval_result r = sample_result(false);
    ck_assert_int_eq(vc_eval_json_format(&r, false, buf, 20), VC_ERR_ARG);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_table_shows_both_directions_and_the_notes) {
    vc_eval_result r = sample_result(true);
    r.nan_scores = 3;
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    ck_assert_int_eq(vc_eval_table_write(&r, "test split", f), VC_OK);
    fclose(f);
    const char *want[] = {"test split\n", "text->video", "video->text", "R@1", "31.25", "30.00", "R@10",
                          "70.00",        "65.50",       "MdR",         "3.5", "4.0",   "20.12", "18.75",
                          "11 videos, 40 captions", "1 video without captions is not", "3 NaN",
                          "top-1 12.50", "top-5 40.25"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(strstr(mem, want[i]), "table lacks \"%s\":\n%s", want[i], mem);
    free(mem);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Against NumPy                                                             */

static const char *ref_script(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s", __FILE__); /* "tests/test_metrics.c" from the repo root */
    char *slash = strrchr(path, '/');
    if (slash)
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "ref_metrics.py");
    else
        snprintf(path, sizeof path, "ref_metrics.py");
    return path;
}

static bool numpy_available(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", vc_test_python());
    return system(cmd) == 0;
}

typedef struct {
    int64_t nv, nc, nk, d, used, block;
    int q;
} random_case;

static const random_case cases[] = {
    {50, 130, 20, 16, 40, 7, 2},     /* coarse grid: many ties */
    {200, 513, 40, 16, 190, 64, 64}, /* fine grid: few ties */
    {30, 30, 10, 8, 30, 4, 1},       /* values -1, 0, 1: ties everywhere */
    {301, 1000, 100, 32, 280, 0, 16},
};

static void write_all(FILE *f, const void *p, size_t n) { ck_assert(fwrite(p, 1, n, f) == n); }

static int64_t *json_ranks(const cJSON *o, const char *key, int64_t n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsArray(a) && cJSON_GetArraySize(a) == n, "reference %s missing or wrong length", key);
    int64_t *r = malloc((size_t)n * sizeof *r);
    int64_t i = 0;
    for (const cJSON *c = a->child; c; c = c->next) r[i++] = (int64_t)c->valuedouble;
    return r;
}

static void assert_recall_json(const vc_recall *got, const cJSON *o, const char *key) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_recall(got, num(d, "R@1"), num(d, "R@5"), num(d, "R@10"), num(d, "MdR"), num(d, "MnR"),
                  (int64_t)num(d, "queries"), key);
}

START_TEST(test_random_cases_match_the_numpy_reference) {
    const random_case *k = &cases[_i];
    vc_rng rng;
    vc_rng_seed(&rng, 1000 + (uint64_t)_i);
    float *V = malloc(sizeof(float) * (size_t)(k->nv * k->d)), *C = malloc(sizeof(float) * (size_t)(k->nc * k->d)),
          *K = malloc(sizeof(float) * (size_t)(k->nk * k->d));
    int64_t *cap = malloc(sizeof(int64_t) * (size_t)k->nc), *labels = malloc(sizeof(int64_t) * (size_t)k->nv);
    fill_grid(V, k->nv * k->d, &rng, k->q);
    fill_grid(C, k->nc * k->d, &rng, k->q);
    fill_grid(K, k->nk * k->d, &rng, k->q);
    fill_cap_video(cap, k->nc, k->nv, k->used, &rng);
    for (int64_t i = 0; i < k->nv; i++) labels[i] = (int64_t)vc_rng_below(&rng, (uint64_t)k->nk);

    char in[512], out[560], cmd[2400];
    snprintf(in, sizeof in, "%s/metrics-%d-%d.bin", vc_test_tmpdir(), (int)getpid(), _i);
    snprintf(out, sizeof out, "%s.json", in);
    FILE *f = fopen(in, "wb");
    ck_assert_msg(f, "cannot write %s", in);
    int32_t version = 1;
    int64_t hdr[4] = {k->nv, k->nc, k->nk, k->d};
    write_all(f, "VCMT", 4);
    write_all(f, &version, 4);
    write_all(f, hdr, sizeof hdr);
    write_all(f, V, sizeof(float) * (size_t)(k->nv * k->d));
    write_all(f, C, sizeof(float) * (size_t)(k->nc * k->d));
    write_all(f, cap, sizeof(int64_t) * (size_t)k->nc);
    write_all(f, K, sizeof(float) * (size_t)(k->nk * k->d));
    write_all(f, labels, sizeof(int64_t) * (size_t)k->nv);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s' 2>&1", vc_test_python(), ref_script(), in, out);
    ck_assert_msg(system(cmd) == 0, "reference failed: %s", cmd);

    f = fopen(out, "rb");
    ck_assert_msg(f, "no reference output %s", out);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)sz + 1);
    ck_assert(fread(text, 1, (size_t)sz, f) == (size_t)sz);
    text[sz] = 0;
    fclose(f);
    cJSON *ref = cJSON_Parse(text);
    free(text);
    ck_assert_msg(ref, "reference output is not JSON");

    int64_t *want_t = json_ranks(ref, "t2v_ranks", k->nc), *want_v = json_ranks(ref, "v2t_ranks", k->nv),
            *want_k = json_ranks(ref, "cls_ranks", k->nv);
    int64_t *got_t = malloc(sizeof(int64_t) * (size_t)k->nc), *got_v = malloc(sizeof(int64_t) * (size_t)k->nv),
            *got_k = malloc(sizeof(int64_t) * (size_t)k->nv);
    ck_assert_int_eq(vc_rank_true(C, k->nc, V, k->nv, k->d, cap, k->block, got_t, NULL), VC_OK);
    assert_ranks(got_t, want_t, k->nc, "t2v");
    ck_assert_int_eq(vc_rank_owned(V, k->nv, C, k->nc, k->d, cap, k->block, got_v, NULL), VC_OK);
    assert_ranks(got_v, want_v, k->nv, "v2t");
    ck_assert_int_eq(vc_rank_true(V, k->nv, K, k->nk, k->d, labels, k->block, got_k, NULL), VC_OK);
    assert_ranks(got_k, want_k, k->nv, "classes");

    vc_eval_result r;
    ck_assert_int_eq(vc_eval_retrieval(V, k->nv, C, k->nc, k->d, cap, k->block, &r), VC_OK);
    ck_assert_int_eq(vc_eval_zeroshot(V, k->nv, K, k->nk, k->d, labels, k->block, &r), VC_OK);
    assert_recall_json(&r.t2v, ref, "t2v");
    assert_recall_json(&r.v2t, ref, "v2t");
    ck_assert_int_eq(r.v2t_excluded, (int64_t)num(ref, "v2t_excluded"));
    ck_assert_int_eq(r.v2t_excluded, k->nv - k->used);
    ck_assert_msg(fabs(r.top1 - num(ref, "top1")) < EPS, "top1 %g vs %g", r.top1, num(ref, "top1"));
    ck_assert_msg(fabs(r.top5 - num(ref, "top5")) < EPS, "top5 %g vs %g", r.top5, num(ref, "top5"));

    cJSON_Delete(ref);
    free(want_t), free(want_v), free(want_k), free(got_t), free(got_v), free(got_k);
    free(V), free(C), free(K), free(cap), free(labels);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("metrics");
    (void)vc_test_tmpdir(); /* created once, in the parent, before Check forks */

    TCase *tc = tcase_create("ranks");
    tcase_add_test(tc, test_two_way_tie_at_top_is_rank_two_and_captionless_video_is_excluded);
    tcase_add_test(tc, test_video_to_text_takes_the_best_rank_among_own_captions);
    tcase_add_test(tc, test_own_captions_tied_at_the_top_are_rank_1_but_a_tie_with_a_wrong_caption_is_not);
    tcase_add_test(tc, test_perfect_retrieval_gives_recall_100_and_rank_1);
    tcase_add_test(tc, test_reversed_retrieval_ranks_every_true_item_last);
    tcase_add_test(tc, test_identical_embeddings_give_the_worst_ranks);
    tcase_add_test(tc, test_median_of_an_even_count_is_the_mean_of_the_middle_two);
    tcase_add_test(tc, test_nan_scores_count_against_the_model);
    tcase_add_test(tc, test_zero_shot_top1_top5_count_ties_against_the_model);
    tcase_add_test(tc, test_bad_arguments_are_errors_naming_the_problem);
    suite_add_tcase(s, tc);

    tc = tcase_create("blocks");
    tcase_add_test(tc, test_default_block_rows_bound_the_score_memory);
    tcase_add_test(tc, test_every_block_size_gives_the_naive_ranks);
    tcase_add_test(tc, test_default_blocks_split_more_captions_than_one_block_holds);
    suite_add_tcase(s, tc);

    tc = tcase_create("report");
    tcase_add_test(tc, test_json_has_exactly_the_documented_shape);
    tcase_add_test(tc, test_table_shows_both_directions_and_the_notes);
    suite_add_tcase(s, tc);

    if (!numpy_available()) {
        printf("SKIP: NumPy reference for the metrics (numpy not importable from %s)\n", vc_test_python());
        fflush(stdout);
        return s;
    }
    tc = tcase_create("numpy_reference");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_random_cases_match_the_numpy_reference, 0,
                        (int)(sizeof cases / sizeof *cases));
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
