/* k_score.h: retrieval ranks from a block of similarity scores S [m, n]
 * (row i: one query's scores over n candidates; the scores themselves are a
 * GEMM, Q X^T). eval/metrics.h owns the rank rule these implement: ties and
 * NaNs count against the model. Each row is independent (one thread, or one
 * GPU block, per row) and *nans is written, not added to. */
#ifndef VC_K_SCORE_H
#define VC_K_SCORE_H

#include <stdint.h>

#include "real.h"

/* One true candidate per query: rank[i] = the number of candidates j whose
 * score is not strictly below S[i, truth[i]] (itself included).
 * *nans = the NaN scores in the block. */
void vc_score_rank_true(const vc_real *S, int64_t m, int64_t n, const int64_t *truth, int64_t *rank, int64_t *nans);

/* Several true candidates: candidate j belongs to query owner[j]; row i is
 * query q0 + i. rank[i] = 1 + the candidates of other queries not strictly
 * below the best non-NaN own score (all of them when every own score is NaN),
 * or 0 when the query owns no candidate. *nans = the NaN scores in the rows
 * of queries that own a candidate. */
void vc_score_rank_owned(const vc_real *S, int64_t m, int64_t n, const int64_t *owner, int64_t q0, int64_t *rank,
                         int64_t *nans);

#endif
