/* metrics.h: retrieval and zero-shot classification metrics from embeddings.
 * It owns ranking (scores by blocked GEMM, ties and NaN policy; the loops run
 * as the CPU backend's gemm, rank_true and rank_owned kernels) and the
 * numbers derived from ranks (R@K, median and mean rank, top-k accuracy). It
 * does not own where the embeddings come from (a model, a file) nor how the
 * numbers are shown (eval/report.h). Pure functions: nothing is printed.
 *
 * Scores are plain dot products; callers pass L2-normalised rows so that they
 * are cosine similarities, but nothing here depends on it.
 *
 * Rank rule (ties with wrong candidates count against the model): with one
 * true candidate (text->video, zero-shot), its rank is the number of
 * candidates, itself included, whose score is >= its score, so a 2-way tie at
 * the top is rank 2, never 1. With several true candidates (video->text: a
 * video's own captions), the rank is 1 + the number of WRONG candidates (other
 * videos' captions) whose score is >= the best own score. Own captions never
 * count against each other: two own captions tied at the top give rank 1,
 * while a wrong caption tied with the best own one gives rank 2.
 *
 * NaN rule: a NaN never helps the model. A wrong candidate counts against
 * unless its score is strictly below the true (best own) score, so a NaN wrong
 * candidate counts against. A NaN true score gives the worst rank: the number
 * of candidates with one true candidate; 1 + the number of wrong candidates
 * when every own score is NaN (a NaN own score is otherwise ignored). The
 * number of NaN scores met is reported so that callers can warn; the metrics
 * are still defined.
 *
 * Memory: scores are computed for `block` query rows at a time ([block, Ncand]
 * floats), never the whole Nq x Ncand matrix unless it is small. block <= 0
 * picks min(4096, 2^24 / Ncand) rows (64 MiB of scores at most, at least one
 * row). */
#ifndef VC_EVAL_METRICS_H
#define VC_EVAL_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/progress.h"
#include "tensor/status.h"

/* Metrics of one direction. Recalls in percent. mdr is the median rank; for
 * an even number of queries it is the mean of the two middle ranks (as
 * numpy.median), so it can end in .5. */
typedef struct {
    double r1, r5, r10;
    double mdr, mnr;
    int64_t queries;
} vc_recall;

typedef struct {
    vc_recall t2v;           /* every caption is a query over all videos */
    vc_recall v2t;           /* every video with >= 1 caption over all captions */
    int64_t videos;          /* Nv */
    int64_t captions;        /* Nc */
    int64_t v2t_excluded;    /* videos without any caption: not v2t queries */
    int64_t nan_scores;      /* NaN similarity scores met (t2v and v2t passes) */
    bool has_cls;            /* zero-shot classification was evaluated */
    double top1, top5;       /* percent */
    int64_t cls_videos;      /* classification queries */
    int64_t cls_classes;     /* Nk */
    int64_t cls_nan_scores;
} vc_eval_result;

/* The default rows per block for ncand candidates (see above). */
int64_t vc_metrics_block_rows(int64_t ncand);

/* One true candidate per query: Q [Nq, D] queries, X [Nx, D] candidates,
 * truth[Nq] in [0, Nx). rank[Nq] (1-based) gets each query's rank of its true
 * candidate. *nan_count (may be NULL) gets the number of NaN scores met.
 * Text->video is Q = captions, X = videos, truth = cap_video; zero-shot
 * classification is Q = videos, X = classes, truth = labels. */
vc_status vc_rank_true(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *truth,
                       int64_t block, int64_t *rank, int64_t *nan_count);

/* Several true candidates per query: candidate j belongs to query owner[j]
 * (in [0, Nq)). A query's rank is 1 + the number of candidates it does not
 * own whose score is not strictly below its best non-NaN own score (all of
 * them if every own score is NaN); see the rank rule above. rank[Nq] gets 0
 * for a query that owns no candidate. Video->text is Q = videos,
 * X = captions, owner = cap_video. */
vc_status vc_rank_owned(const float *Q, int64_t Nq, const float *X, int64_t Nx, int64_t D, const int64_t *owner,
                        int64_t block, int64_t *rank, int64_t *nan_count);

/* R@1/5/10, MdR, MnR over the ranks > 0 of rank[n] (0 marks "not a query").
 * Fails if no rank is > 0. */
vc_status vc_recall_from_ranks(const int64_t *rank, int64_t n, vc_recall *out);

/* Both retrieval directions. V [Nv, D] videos, C [Nc, D] captions,
 * cap_video[Nc] in [0, Nv). Fills everything except the classification
 * fields, which it clears. */
vc_status vc_eval_retrieval(const float *V, int64_t Nv, const float *C, int64_t Nc, int64_t D,
                            const int64_t *cap_video, int64_t block, vc_eval_result *res);

/* vc_eval_retrieval telling h (may be NULL) how many queries are ranked,
 * block by block: phases "t2v queries ranked" of Nc, then "v2t queries
 * ranked" of Nv. */
vc_status vc_eval_retrieval_progress(const float *V, int64_t Nv, const float *C, int64_t Nc, int64_t D,
                                     const int64_t *cap_video, int64_t block, const vc_progress_hook *h,
                                     vc_eval_result *res);

/* Zero-shot classification. V [Nv, D] videos, K [Nk, D] class embeddings,
 * labels[Nv] in [0, Nk). A video is top-k correct iff its rank <= k, i.e.
 * fewer than k other classes score >= its true class. Sets has_cls, top1,
 * top5, cls_videos, cls_classes, cls_nan_scores; leaves the rest alone. */
vc_status vc_eval_zeroshot(const float *V, int64_t Nv, const float *K, int64_t Nk, int64_t D, const int64_t *labels,
                           int64_t block, vc_eval_result *res);

#endif
