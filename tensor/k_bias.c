#include "k_bias.h"

#include <string.h>

#include "k_math.h"

void vc_bias_fwd(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N) {
    size_t row = (size_t)N * sizeof(vc_real);
#pragma omp parallel for schedule(static) if (R * N > 32768)
    for (int64_t r = 0; r < R; r++) {
        vc_real *yr = y + r * N;
        const vc_real *rr = res ? res + r * N : NULL;
        if (b && rr == yr)
            for (int64_t j = 0; j < N; j++) yr[j] += b[j];
        else if (b && rr)
            for (int64_t j = 0; j < N; j++) yr[j] = b[j] + rr[j];
        else if (b)
            memcpy(yr, b, row);
        else if (rr && rr != yr)
            memcpy(yr, rr, row);
        else if (!rr)
            memset(yr, 0, row);
    }
}

/* gb[j] (+)= sum_r g[r, j]: each thread owns a block of 64 columns and sums
 * its rows in order; with g16 (float32 build), g is also rounded to bf16
 * into it on the way. */
static void column_sums(const vc_real *g, uint16_t *g16, vc_real *gb, vc_real beta, int64_t R, int64_t N) {
#pragma omp parallel for schedule(static) if (R * N > 32768)
    for (int64_t c0 = 0; c0 < N; c0 += 64) {
        int64_t c1 = c0 + 64 < N ? c0 + 64 : N;
        vc_real acc[64] = {0};
        for (int64_t r = 0; r < R; r++) {
            const vc_real *gr = g + r * N;
            for (int64_t c = c0; c < c1; c++) acc[c - c0] += gr[c];
#ifndef VC_DOUBLE
            if (g16)
                for (int64_t c = c0; c < c1; c++) g16[r * N + c] = vc_round_bf16(gr[c]);
#endif
        }
        for (int64_t c = c0; c < c1; c++) gb[c] = beta == 0 ? acc[c - c0] : gb[c] + acc[c - c0];
    }
}

void vc_bias_bwd(const vc_real *g, vc_real *gb, vc_real beta, int64_t R, int64_t N) {
    column_sums(g, NULL, gb, beta, R, N);
}

#ifndef VC_DOUBLE
void vc_bias_bwd_round_bf16(const float *g, uint16_t *g16, float *gb, float beta, int64_t R, int64_t N) {
    column_sums(g, g16, gb, beta, R, N);
}
#endif
