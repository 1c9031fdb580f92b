#include "k_reduce.h"

#include <string.h>

void vc_sum_axis_fwd(const vc_real *x, vc_real *out, int64_t P, int64_t T, int64_t R, vc_real scale) {
#pragma omp parallel for schedule(static) if (P * T * R > 32768)
    for (int64_t p = 0; p < P; p++) {
        vc_real *o = out + p * R;
        for (int64_t r = 0; r < R; r++) o[r] = 0;
        for (int64_t t = 0; t < T; t++) {
            const vc_real *xr = x + (p * T + t) * R;
            for (int64_t r = 0; r < R; r++) o[r] += xr[r];
        }
        for (int64_t r = 0; r < R; r++) o[r] *= scale;
    }
}

void vc_sum_axis_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t P, int64_t T, int64_t R, vc_real scale) {
#pragma omp parallel for schedule(static) if (P * T * R > 32768)
    for (int64_t p = 0; p < P; p++)
        for (int64_t t = 0; t < T; t++) {
            const vc_real *gr = g + p * R;
            vc_real *xr = gx + (p * T + t) * R;
            if (beta == 0)
                for (int64_t r = 0; r < R; r++) xr[r] = scale * gr[r];
            else
                for (int64_t r = 0; r < R; r++) xr[r] += scale * gr[r];
        }
}

void vc_wsum_axis_fwd(const vc_real *x, const vc_real *w, const vc_real *div, vc_real *out, int64_t P, int64_t T,
                      int64_t R) {
#pragma omp parallel for schedule(static) if (P * T * R > 32768)
    for (int64_t p = 0; p < P; p++) {
        vc_real *o = out + p * R;
        for (int64_t r = 0; r < R; r++) o[r] = 0;
        if (div[p] == 0) continue;
        for (int64_t t = 0; t < T; t++) {
            vc_real wt = w[p * T + t];
            if (wt == 0) continue; /* padding never touches the sum, even if it holds NaN */
            const vc_real *xr = x + (p * T + t) * R;
            for (int64_t r = 0; r < R; r++) o[r] += wt * xr[r];
        }
        vc_real inv = 1 / div[p];
        for (int64_t r = 0; r < R; r++) o[r] *= inv;
    }
}

void vc_wsum_axis_bwd(const vc_real *g, const vc_real *w, const vc_real *div, vc_real *gx, vc_real beta, int64_t P,
                      int64_t T, int64_t R) {
#pragma omp parallel for schedule(static) if (P * T * R > 32768)
    for (int64_t p = 0; p < P; p++)
        for (int64_t t = 0; t < T; t++) {
            vc_real s = div[p] == 0 ? 0 : w[p * T + t] / div[p];
            const vc_real *gr = g + p * R;
            vc_real *xr = gx + (p * T + t) * R;
            if (beta == 0)
                for (int64_t r = 0; r < R; r++) xr[r] = s * gr[r];
            else
                for (int64_t r = 0; r < R; r++) xr[r] += s * gr[r];
        }
}
