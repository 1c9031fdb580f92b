#include "k_copy.h"

#include <string.h>

#include "rng.h"

/* Two dims with a strided inner one on either side (a transpose): tiles of
 * T x T through a buffer in L1, read in the order that is contiguous in src
 * and written in the order that is contiguous in dst, so neither side
 * touches a cache line per element (a [512, 2048] transpose, the weight
 * gradient of op_linear_fused.c's dW^T: 2.9 ms of one core row by row,
 * 0.48 ms in tiles). */
#define T 32
static void copy_2d_tiled(vc_real *dst, const int64_t *dst_st, const vc_real *src, const int64_t *src_st,
                          const int64_t *ne, vc_real beta) {
    int64_t rows = ne[0], cols = ne[1], nbr = (rows + T - 1) / T;
    int64_t dr = dst_st[0], dc = dst_st[1], sr = src_st[0], sc = src_st[1];
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
    for (int64_t b = 0; b < nbr; b++) {
        int64_t r0 = b * T, nr = rows - r0 < T ? rows - r0 : T;
        vc_real t[T][T]; /* t[c][r] */
        for (int64_t c0 = 0; c0 < cols; c0 += T) {
            int64_t nc = cols - c0 < T ? cols - c0 : T;
            const vc_real *s = src + r0 * sr + c0 * sc;
            vc_real *d = dst + r0 * dr + c0 * dc;
            if (sc == 1)
                for (int64_t r = 0; r < nr; r++)
                    for (int64_t c = 0; c < nc; c++) t[c][r] = s[r * sr + c];
            else
                for (int64_t c = 0; c < nc; c++)
                    for (int64_t r = 0; r < nr; r++) t[c][r] = s[r * sr + c * sc];
            if (dr == 1 && beta == 0)
                for (int64_t c = 0; c < nc; c++) memcpy(d + c * dc, t[c], (size_t)nr * sizeof(vc_real));
            else if (dr == 1)
                for (int64_t c = 0; c < nc; c++)
                    for (int64_t r = 0; r < nr; r++) d[c * dc + r] += t[c][r];
            else
                for (int64_t r = 0; r < nr; r++)
                    for (int64_t c = 0; c < nc; c++)
                        d[r * dr + c * dc] = beta == 0 ? t[c][r] : d[r * dr + c * dc] + t[c][r];
        }
    }
}
#undef T

void vc_strided_copy(vc_real *dst, const int64_t *dst_st, const vc_real *src, const int64_t *src_st, int nd,
                     const int64_t *ne, vc_real beta) {
    if (nd == 0) {
        dst[0] = beta == 0 ? src[0] : dst[0] + src[0];
        return;
    }
    if (nd == 2 && (dst_st[1] != 1 || src_st[1] != 1) && ne[0] > 1 && ne[1] > 1) {
        copy_2d_tiled(dst, dst_st, src, src_st, ne, beta);
        return;
    }
    int64_t inner = ne[nd - 1], rows = 1;
    for (int d = 0; d < nd - 1; d++) rows *= ne[d];
    int64_t di = dst_st[nd - 1], si = src_st[nd - 1];
#pragma omp parallel for schedule(static) if (rows * inner > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t od = 0, os = 0, rem = r;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = rem % ne[d];
            rem /= ne[d];
            od += i * dst_st[d];
            os += i * src_st[d];
        }
        vc_real *dr = dst + od;
        const vc_real *sr = src + os;
        if (beta == 0)
            for (int64_t j = 0; j < inner; j++) dr[j * di] = sr[j * si];
        else
            for (int64_t j = 0; j < inner; j++) dr[j * di] += sr[j * si];
    }
}

void vc_slab_copy(vc_real *dst, int64_t dT, int64_t dstart, const vc_real *src, int64_t sT, int64_t sstart,
                  int64_t len, int64_t P, int64_t R, vc_real beta) {
    int64_t n = len * R;
#pragma omp parallel for schedule(static) if (P * n > 32768)
    for (int64_t p = 0; p < P; p++) {
        vc_real *d = dst + (p * dT + dstart) * R;
        const vc_real *s = src + (p * sT + sstart) * R;
        if (beta == 0)
            memcpy(d, s, (size_t)n * sizeof(vc_real));
        else
            for (int64_t i = 0; i < n; i++) d[i] += s[i];
    }
}

void vc_gather_rows_fwd(const vc_real *table, int64_t ld, const int64_t *idx, vc_real *out, int64_t N, int64_t D) {
#pragma omp parallel for schedule(static) if (N * D > 32768)
    for (int64_t n = 0; n < N; n++) memcpy(out + n * D, table + idx[n] * ld, (size_t)D * sizeof(vc_real));
}

void vc_gather_rows_bwd(const vc_real *g, const int64_t *idx, vc_real *gtable, vc_real beta, int64_t N, int64_t V,
                        int64_t D) {
    if (beta == 0) memset(gtable, 0, (size_t)(V * D) * sizeof(vc_real));
    for (int64_t n = 0; n < N; n++) {
        vc_real *t = gtable + idx[n] * D;
        const vc_real *gr = g + n * D;
        for (int64_t d = 0; d < D; d++) t[d] += gr[d];
    }
}

void vc_dropout_fwd(const vc_real *x, vc_real *y, int64_t n, vc_real p, uint64_t seed, uint64_t stream) {
    vc_real k = 1 / (1 - p);
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) y[i] = vc_hash_uniform(seed, stream, (uint64_t)i) < p ? 0 : x[i] * k;
}

void vc_dropout_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t n, vc_real p, uint64_t seed,
                    uint64_t stream) {
    vc_real k = 1 / (1 - p);
#pragma omp parallel for schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) {
        vc_real d = vc_hash_uniform(seed, stream, (uint64_t)i) < p ? 0 : g[i] * k;
        gx[i] = beta == 0 ? d : gx[i] + d;
    }
}
