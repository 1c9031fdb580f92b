#include "k_score.h"

#include <math.h>
#include <stdbool.h>

void vc_score_rank_true(const vc_real *S, int64_t m, int64_t n, const int64_t *truth, int64_t *rank, int64_t *nans) {
    int64_t nn = 0;
#pragma omp parallel for schedule(static) reduction(+ : nn)
    for (int64_t i = 0; i < m; i++) {
        const vc_real *s = S + i * n;
        vc_real t = s[truth[i]];
        int64_t c = 0, z = 0;
        for (int64_t j = 0; j < n; j++) {
            c += !(s[j] < t);
            z += isnan(s[j]) != 0;
        }
        rank[i] = c;
        nn += z;
    }
    *nans = nn;
}

void vc_score_rank_owned(const vc_real *S, int64_t m, int64_t n, const int64_t *owner, int64_t q0, int64_t *rank,
                         int64_t *nans) {
    int64_t nn = 0;
#pragma omp parallel for schedule(static) reduction(+ : nn)
    for (int64_t i = 0; i < m; i++) {
        const vc_real *s = S + i * n;
        int64_t q = q0 + i;
        /* the best own score, skipping NaNs (NaN when all are) */
        vc_real best = (vc_real)NAN;
        bool owns = false;
        for (int64_t j = 0; j < n; j++)
            if (owner[j] == q) {
                owns = true;
                if (!isnan(s[j]) && (isnan(best) || s[j] > best)) best = s[j];
            }
        if (!owns) {
            rank[i] = 0;
            continue;
        }
        int64_t c = 1, z = 0;
        for (int64_t j = 0; j < n; j++) {
            c += owner[j] != q && !(s[j] < best);
            z += isnan(s[j]) != 0;
        }
        rank[i] = c;
        nn += z;
    }
    *nans = nn;
}
