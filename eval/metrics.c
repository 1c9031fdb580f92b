#include "metrics.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/sort.h"

#define VC_METRICS_MAX_ROWS 4096
#define VC_METRICS_MAX_SCORES ((int64_t)1 << 24)

int64_t vc_metrics_block_rows(int64_t ncand) {
    if (ncand < 1) ncand = 1;
    int64_t rows = VC_METRICS_MAX_SCORES / ncand;
    if (rows > VC_METRICS_MAX_ROWS) rows = VC_METRICS_MAX_ROWS;
    return rows < 1 ? 1 : rows;
}

/* Shared argument checks of the two ranking functions; map/what name the
 * index array in messages ("truth", "owner"). */
static vc_status check_args(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *map,
                            int64_t nmap, int64_t bound, const char *what, const void *out) {
    if (Nq < 0 || Nx < 1 || D < 1)
        return vc_fail(VC_ERR_ARG, "metrics: need Nq >= 0, Nx >= 1, D >= 1 (got Nq=%lld, Nx=%lld, D=%lld)",
                       (long long)Nq, (long long)Nx, (long long)D);
    /* cblas_sgemm takes int sizes and leading dimensions. */
    if (Nx > INT_MAX || D > INT_MAX || Nq > INT_MAX)
        return vc_fail(VC_ERR_ARG, "metrics: sizes Nq=%lld, Nx=%lld, D=%lld exceed the BLAS int range", (long long)Nq,
                       (long long)Nx, (long long)D);
    if ((Nq > 0 && (!Q || !out)) || !X || (nmap > 0 && !map))
        return vc_fail(VC_ERR_ARG, "metrics: NULL embeddings, %s or output array", what);
    for (int64_t i = 0; i < nmap; i++)
        if (map[i] < 0 || map[i] >= bound)
            return vc_fail(VC_ERR_ARG, "metrics: %s[%lld] = %lld is outside [0, %lld)", what, (long long)i,
                           (long long)map[i], (long long)bound);
    return VC_OK;
}

/* The arrays here are host float memory: scores and ranks run as kernels of
 * the CPU backend, whose element type is float outside the gradient-check
 * build (which does not build eval/). */
_Static_assert(sizeof(vc_real) == sizeof(float), "metrics: the kernels' element type must be float");
static const vc_backend *host_backend(void) { return vc_backend_for(VC_CPU); }

/* S[m, Nx] = Q[q0 : q0+m] X^T, row-major. */
static void scores_block(const float *Q, int64_t q0, int64_t m, const float *X, int64_t Nx, int64_t D, float *S) {
    host_backend()->gemm(false, true, m, Nx, D, 1, Q + q0 * D, D, X, D, 0, S, Nx);
}

static float *alloc_scores(int64_t Nq, int64_t Nx, int64_t block, int64_t *rows) {
    int64_t b = block > 0 ? block : vc_metrics_block_rows(Nx);
    if (b > Nq) b = Nq;
    if (b < 1) b = 1;
    *rows = b;
    if ((uint64_t)b > SIZE_MAX / sizeof(float) / (uint64_t)Nx) return NULL;
    return malloc((size_t)b * (size_t)Nx * sizeof(float));
}

/* The rank of every query, one score block of queries at a time, reporting
 * queries ranked to h under phase after each block. owned = false: map is
 * truth[Nq] (vc_rank_true); owned = true: map is owner[Nx] (vc_rank_owned). */
static vc_status rank_blocks(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *map,
                             bool owned, int64_t block, int64_t *rank, int64_t *nan_count, const vc_progress_hook *h,
                             const char *phase) {
    vc_status st = owned ? check_args(Q, Nq, X, Nx, D, map, Nx, Nq, "owner", rank)
                         : check_args(Q, Nq, X, Nx, D, map, Nq, Nx, "truth", rank);
    if (st != VC_OK) return st;
    if (nan_count) *nan_count = 0;
    if (Nq == 0) return VC_OK;
    int64_t b;
    float *S = alloc_scores(Nq, Nx, block, &b);
    if (!S)
        return vc_fail(VC_ERR_OOM, "metrics: cannot allocate a [%lld, %lld] score block (%lld bytes)", (long long)b,
                       (long long)Nx, (long long)b * (long long)Nx * (long long)sizeof(float));
    /* rank_true: a true candidate's rank counts every candidate not strictly
     * below its score, so ties and NaNs count, and a NaN true score counts all.
     * rank_owned: the video is judged by its best own caption (rank rule in
     * metrics.h): a NaN own score is skipped; if all are NaN the rank is the
     * worst. Own candidates never count against each other. */
    int64_t nans = 0;
    vc_progress_report(h, phase, 0, Nq);
    for (int64_t q0 = 0; q0 < Nq; q0 += b) {
        int64_t m = Nq - q0 < b ? Nq - q0 : b, nb;
        scores_block(Q, q0, m, X, Nx, D, S);
        if (owned)
            host_backend()->rank_owned(S, m, Nx, map, q0, rank + q0, &nb);
        else
            host_backend()->rank_true(S, m, Nx, map + q0, rank + q0, &nb);
        nans += nb;
        vc_progress_report(h, phase, q0 + m, Nq);
    }
    free(S);
    if (nan_count) *nan_count = nans;
    return VC_OK;
}

vc_status vc_rank_true(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *truth,
                       int64_t block, int64_t *rank, int64_t *nan_count) {
    return rank_blocks(Q, Nq, X, Nx, D, truth, false, block, rank, nan_count, NULL, NULL);
}

vc_status vc_rank_owned(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *owner,
                        int64_t block, int64_t *rank, int64_t *nan_count) {
    return rank_blocks(Q, Nq, X, Nx, D, owner, true, block, rank, nan_count, NULL, NULL);
}

vc_status vc_recall_from_ranks(const int64_t *rank, int64_t n, vc_recall *out) {
    if (n < 0 || (n > 0 && !rank) || !out) return vc_fail(VC_ERR_ARG, "metrics: bad rank array");
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (rank[i] < 0)
            return vc_fail(VC_ERR_ARG, "metrics: rank[%lld] = %lld is negative", (long long)i, (long long)rank[i]);
        k += rank[i] > 0;
    }
    if (k == 0) return vc_fail(VC_ERR_ARG, "metrics: no queries (all %lld ranks are 0)", (long long)n);
    int64_t *r = malloc((size_t)k * sizeof *r);
    if (!r) return vc_fail(VC_ERR_OOM, "metrics: cannot allocate %lld ranks", (long long)k);
    int64_t h1 = 0, h5 = 0, h10 = 0;
    double sum = 0;
    k = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = rank[i];
        if (v <= 0) continue;
        r[k++] = v;
        h1 += v <= 1;
        h5 += v <= 5;
        h10 += v <= 10;
        sum += (double)v;
    }
    qsort(r, (size_t)k, sizeof *r, vc_cmp_i64);
    out->queries = k;
    out->r1 = 100.0 * (double)h1 / (double)k;
    out->r5 = 100.0 * (double)h5 / (double)k;
    out->r10 = 100.0 * (double)h10 / (double)k;
    out->mnr = sum / (double)k;
    out->mdr = k % 2 ? (double)r[k / 2] : 0.5 * ((double)r[k / 2 - 1] + (double)r[k / 2]);
    free(r);
    return VC_OK;
}

vc_status vc_eval_retrieval(const float *V, int64_t Nv, const float *C, int64_t Nc, int64_t D,
                            const int64_t *cap_video, int64_t block, vc_eval_result *res) {
    return vc_eval_retrieval_progress(V, Nv, C, Nc, D, cap_video, block, NULL, res);
}

vc_status vc_eval_retrieval_progress(const float *V, int64_t Nv, const float *C, int64_t Nc, int64_t D,
                                     const int64_t *cap_video, int64_t block, const vc_progress_hook *h,
                                     vc_eval_result *res) {
    if (!res) return vc_fail(VC_ERR_ARG, "metrics: NULL result");
    if (Nv < 1 || Nc < 1)
        return vc_fail(VC_ERR_ARG, "metrics: retrieval needs at least one video and one caption (got %lld videos, "
                       "%lld captions)", (long long)Nv, (long long)Nc);
    if (!cap_video) return vc_fail(VC_ERR_ARG, "metrics: NULL caption->video map");
    for (int64_t i = 0; i < Nc; i++)
        if (cap_video[i] < 0 || cap_video[i] >= Nv)
            return vc_fail(VC_ERR_ARG, "metrics: caption %lld maps to video %lld but there are %lld videos",
                           (long long)i, (long long)cap_video[i], (long long)Nv);
    int64_t *rt = malloc((size_t)Nc * sizeof *rt), *rv = malloc((size_t)Nv * sizeof *rv);
    if (!rt || !rv) {
        free(rt);
        free(rv);
        return vc_fail(VC_ERR_OOM, "metrics: cannot allocate ranks for %lld captions", (long long)Nc);
    }
    vc_eval_result r;
    memset(&r, 0, sizeof r);
    int64_t nan_t = 0, nan_v = 0;
    vc_status st = rank_blocks(C, Nc, V, Nv, D, cap_video, false, block, rt, &nan_t, h, "t2v queries ranked");
    if (st == VC_OK) st = rank_blocks(V, Nv, C, Nc, D, cap_video, true, block, rv, &nan_v, h, "v2t queries ranked");
    if (st == VC_OK) st = vc_recall_from_ranks(rt, Nc, &r.t2v);
    if (st == VC_OK) st = vc_recall_from_ranks(rv, Nv, &r.v2t);
    free(rt);
    free(rv);
    if (st != VC_OK) return st;
    r.videos = Nv;
    r.captions = Nc;
    r.v2t_excluded = Nv - r.v2t.queries;
    r.nan_scores = nan_t + nan_v;
    *res = r;
    return VC_OK;
}

vc_status vc_eval_zeroshot(const float *V, int64_t Nv, const float *K, int64_t Nk, int64_t D, const int64_t *labels,
                           int64_t block, vc_eval_result *res) {
    if (!res) return vc_fail(VC_ERR_ARG, "metrics: NULL result");
    if (Nv < 1 || Nk < 1)
        return vc_fail(VC_ERR_ARG, "metrics: classification needs at least one video and one class (got %lld "
                       "videos, %lld classes)", (long long)Nv, (long long)Nk);
    if (!labels) return vc_fail(VC_ERR_ARG, "metrics: NULL labels");
    for (int64_t i = 0; i < Nv; i++)
        if (labels[i] < 0 || labels[i] >= Nk)
            return vc_fail(VC_ERR_ARG, "metrics: video %lld has label %lld but there are %lld classes", (long long)i,
                           (long long)labels[i], (long long)Nk);
    int64_t *rk = malloc((size_t)Nv * sizeof *rk);
    if (!rk) return vc_fail(VC_ERR_OOM, "metrics: cannot allocate ranks for %lld videos", (long long)Nv);
    int64_t nans = 0;
    vc_status st = vc_rank_true(V, Nv, K, Nk, D, labels, block, rk, &nans);
    if (st != VC_OK) {
        free(rk);
        return st;
    }
    int64_t h1 = 0, h5 = 0;
    for (int64_t i = 0; i < Nv; i++) {
        h1 += rk[i] <= 1;
        h5 += rk[i] <= 5;
    }
    free(rk);
    res->has_cls = true;
    res->top1 = 100.0 * (double)h1 / (double)Nv;
    res->top5 = 100.0 * (double)h5 / (double)Nv;
    res->cls_videos = Nv;
    res->cls_classes = Nk;
    res->cls_nan_scores = nans;
    return VC_OK;
}
