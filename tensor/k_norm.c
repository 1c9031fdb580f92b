#include "k_norm.h"

#include <math.h>
#include <string.h>

#include "k_math.h"

/* The statistics of row xr [D]: its mean and 1/sqrt(var + eps). */
static inline void ln_stats(const vc_real *xr, int64_t D, vc_real eps, vc_real *mean, vc_real *rstd) {
    vc_real m = vc_row_sum(xr, D) / (vc_real)D;
    vc_real v = vc_row_sumsq_dev(xr, m, D) / (vc_real)D;
    *mean = m;
    *rstd = 1 / sqrt(v + eps);
}

/* s1 = mean_j gh[j], s2 = mean_j gh[j] h[j] of row xr (gh = g gamma, h the
 * normalised x), in lanes as vc_row_sum (k_math.h). */
static inline void ln_bwd_sums(const vc_real *xr, const vc_real *gr, const vc_real *gamma, vc_real m, vc_real rs,
                               int64_t D, vc_real *s1, vc_real *s2) {
    vc_real a1[VC_LANES] = {0}, a2[VC_LANES] = {0};
    int64_t j = 0;
#define LN_TERMS(i, k)                                                                                                 \
    do {                                                                                                               \
        vc_real gh = gr[i] * (gamma ? gamma[i] : 1);                                                                   \
        a1[k] += gh;                                                                                                   \
        a2[k] += gh * (xr[i] - m) * rs;                                                                                \
    } while (0)
    for (; j + VC_LANES <= D; j += VC_LANES)
        for (int k = 0; k < VC_LANES; k++) LN_TERMS(j + k, k);
    for (; j < D; j++) LN_TERMS(j, j % VC_LANES);
#undef LN_TERMS
    *s1 = vc_lanes_total(a1) / (vc_real)D;
    *s2 = vc_lanes_total(a2) / (vc_real)D;
}

/* One output value: the same expression for the float32 and bf16 outputs, so
 * the bf16 one is exactly the float32 one rounded. */
#define LN_OUT(j) ((xr[j] - m) * rs * (gamma ? gamma[j] : 1) + (bta ? bta[j] : 0))

void vc_layernorm_fwd(const vc_real *x, const vc_real *gamma, const vc_real *bta, vc_real *y, vc_real *mean,
                      vc_real *rstd, int64_t N, int64_t D, vc_real eps) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
    for (int64_t i = 0; i < N; i++) {
        const vc_real *xr = x + i * D;
        vc_real *yr = y + i * D, m, rs;
        ln_stats(xr, D, eps, &m, &rs);
        mean[i] = m;
        rstd[i] = rs;
        for (int64_t j = 0; j < D; j++) yr[j] = LN_OUT(j);
    }
}

#ifndef VC_DOUBLE
/* Transposed output: tiles of TR rows by TC columns, each rounded row by
 * row (the loop vectorises), transposed in L1 and stored as TC runs of TR
 * consecutive values (a 64-byte line each), not as N * D scattered 2-byte
 * stores (the row-major kernel's time x 2.2 on [2048, 512]; the scattered
 * stores took x 2.6). */
#define TR 32
#define TC 64
static void layernorm_fwd_bf16_t(const float *x, const float *gamma, const float *bta, uint16_t *y, float *mean,
                                 float *rstd, int64_t N, int64_t D, float eps) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
    for (int64_t i0 = 0; i0 < N; i0 += TR) {
        int64_t nr = N - i0 < TR ? N - i0 : TR;
        float ms[TR], rss[TR];
        for (int64_t r = 0; r < nr; r++) {
            ln_stats(x + (i0 + r) * D, D, eps, &ms[r], &rss[r]);
            mean[i0 + r] = ms[r];
            rstd[i0 + r] = rss[r];
        }
        for (int64_t j0 = 0; j0 < D; j0 += TC) {
            int64_t nc = D - j0 < TC ? D - j0 : TC;
            uint16_t rt[TR][TC], tile[TC][TR];
            for (int64_t r = 0; r < nr; r++) {
                const float *xr = x + (i0 + r) * D;
                float m = ms[r], rs = rss[r];
                for (int64_t j = j0; j < j0 + nc; j++) rt[r][j - j0] = vc_round_bf16(LN_OUT(j));
            }
            for (int64_t c = 0; c < nc; c++)
                for (int64_t r = 0; r < nr; r++) tile[c][r] = rt[r][c];
            for (int64_t c = 0; c < nc; c++) memcpy(y + (j0 + c) * N + i0, tile[c], (size_t)nr * sizeof(uint16_t));
        }
    }
}
#undef TR
#undef TC

void vc_layernorm_fwd_bf16(const float *x, const float *gamma, const float *bta, uint16_t *y, float *mean,
                           float *rstd, int64_t N, int64_t D, float eps, bool yt) {
    if (yt) {
        layernorm_fwd_bf16_t(x, gamma, bta, y, mean, rstd, N, D, eps);
        return;
    }
#pragma omp parallel for schedule(static) if (N * D > 32768)
    for (int64_t i = 0; i < N; i++) {
        const float *xr = x + i * D;
        uint16_t *yr = y + i * D;
        float m, rs;
        ln_stats(xr, D, eps, &m, &rs);
        mean[i] = m;
        rstd[i] = rs;
        for (int64_t j = 0; j < D; j++) yr[j] = vc_round_bf16(LN_OUT(j));
    }
}
#endif

void vc_layernorm_bwd(const vc_real *x, const vc_real *gamma, const vc_real *mean, const vc_real *rstd,
                      const vc_real *g, vc_real *gx, vc_real bgx, vc_real *ggamma, vc_real bgg, vc_real *gbeta,
                      vc_real bgb, int64_t N, int64_t D) {
    if (gx) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
        for (int64_t i = 0; i < N; i++) {
            const vc_real *xr = x + i * D, *gr = g + i * D;
            vc_real *dx = gx + i * D;
            vc_real m = mean[i], rs = rstd[i];
            /* dx = rs * (gh - mean(gh) - h * mean(gh * h)), gh = g * gamma */
            vc_real s1, s2;
            ln_bwd_sums(xr, gr, gamma, m, rs, D, &s1, &s2);
            for (int64_t j = 0; j < D; j++) {
                vc_real h = (xr[j] - m) * rs;
                vc_real d = rs * (gr[j] * (gamma ? gamma[j] : 1) - s1 - h * s2);
                dx[j] = bgx == 0 ? d : dx[j] + d;
            }
        }
    }
    if (ggamma || gbeta) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
        for (int64_t c0 = 0; c0 < D; c0 += 64) {
            int64_t c1 = c0 + 64 < D ? c0 + 64 : D;
            vc_real ag[64] = {0}, ab[64] = {0};
            for (int64_t i = 0; i < N; i++) {
                const vc_real *xr = x + i * D, *gr = g + i * D;
                vc_real m = mean[i], rs = rstd[i];
                for (int64_t j = c0; j < c1; j++) {
                    ag[j - c0] += gr[j] * (xr[j] - m) * rs;
                    ab[j - c0] += gr[j];
                }
            }
            for (int64_t j = c0; j < c1; j++) {
                if (ggamma) ggamma[j] = bgg == 0 ? ag[j - c0] : ggamma[j] + ag[j - c0];
                if (gbeta) gbeta[j] = bgb == 0 ? ab[j - c0] : gbeta[j] + ab[j - c0];
            }
        }
    }
}

void vc_l2norm_fwd(const vc_real *x, vc_real *y, vc_real *norm, int64_t N, int64_t D, vc_real eps) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
    for (int64_t i = 0; i < N; i++) {
        const vc_real *xr = x + i * D;
        vc_real s = 0;
        for (int64_t j = 0; j < D; j++) s += xr[j] * xr[j];
        vc_real n = sqrt(s);
        norm[i] = n;
        vc_real inv = 1 / (n > eps ? n : eps);
        for (int64_t j = 0; j < D; j++) y[i * D + j] = xr[j] * inv;
    }
}

void vc_l2norm_bwd(const vc_real *y, const vc_real *norm, const vc_real *g, vc_real *gx, vc_real beta, int64_t N,
                   int64_t D, vc_real eps) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
    for (int64_t i = 0; i < N; i++) {
        const vc_real *yr = y + i * D, *gr = g + i * D;
        vc_real *dx = gx + i * D;
        vc_real n = norm[i];
        /* Above eps y = x/|x|: dx = (g - y (g.y)) / |x|. At or below eps the
         * divisor is the constant eps: dx = g / eps. */
        vc_real dot = 0;
        if (n > eps)
            for (int64_t j = 0; j < D; j++) dot += gr[j] * yr[j];
        vc_real inv = 1 / (n > eps ? n : eps);
        for (int64_t j = 0; j < D; j++) {
            vc_real d = (gr[j] - yr[j] * dot) * inv;
            dx[j] = beta == 0 ? d : dx[j] + d;
        }
    }
}
