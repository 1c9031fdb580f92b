#include "k_lstm.h"

#include <string.h>

#include "k_gemm.h"
#include "k_math.h"

/* One row of gates a [4H] (pre-activations in, activations out), with the
 * previous cell state cp (NULL at t = 0). Separate restrict-qualified loops
 * so that they vectorise. */
static void cell_fwd(vc_real *restrict a, const vc_real *restrict bias, const vc_real *restrict cp,
                     vc_real *restrict ct, vc_real *restrict ht, int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        vc_real i = vc_fsigmoid(a[j] + bias[j]), f = vc_fsigmoid(a[H + j] + bias[H + j]);
        vc_real g = vc_ftanh(a[2 * H + j] + bias[2 * H + j]), o = vc_fsigmoid(a[3 * H + j] + bias[3 * H + j]);
        a[j] = i;
        a[H + j] = f;
        a[2 * H + j] = g;
        a[3 * H + j] = o;
        vc_real cv = i * g + (cp ? f * cp[j] : 0);
        ct[j] = cv;
        ht[j] = o * vc_ftanh(cv);
    }
}

/* Backward of one row: gate gradients da [4H]; hn, cn carry d h and d c
 * from step t+1 in and to step t-1 out (cn only; hn is recomputed by the
 * caller's GEMM). */
static void cell_bwd(const vc_real *restrict a, const vc_real *restrict ct, const vc_real *restrict cp,
                     const vc_real *restrict g_h, const vc_real *restrict hn, vc_real *restrict cn,
                     vc_real *restrict da, int64_t H) {
#pragma omp simd
    for (int64_t j = 0; j < H; j++) {
        vc_real i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
        vc_real tc = vc_ftanh(ct[j]);
        vc_real dhv = g_h[j] + hn[j];
        vc_real dc = dhv * o * (1 - tc * tc) + cn[j];
        da[j] = dc * g * i * (1 - i);
        da[H + j] = (cp ? dc * cp[j] : 0) * f * (1 - f);
        da[2 * H + j] = dc * i * (1 - g * g);
        da[3 * H + j] = dhv * tc * o * (1 - o);
        cn[j] = dc * f;
    }
}

void vc_lstm_fwd(const vc_lstm_dims *d, const vc_real *x, const vc_real *w_ih, const vc_real *w_hh,
                 const vc_real *bias, vc_real *gates, vc_real *c, vc_real *h) {
    int64_t B = d->B, T = d->T, D = d->D, H = d->H, G = 4 * H;
    const int64_t *len = d->len;
    /* all steps' input projections: gates = x w_ih^T (the bias is added in
     * the gate pass, saving a pass over gates) */
    vc_gemm(false, true, B * T, G, D, 1, x, D, w_ih, D, 0, gates, G);
    for (int64_t t = 0; t < T; t++) {
        /* gates_t += h_{t-1} w_hh^T  (rows b*T + t, stride T*G) */
        if (t > 0) vc_gemm(false, true, B, G, H, 1, h + (t - 1) * H, T * H, w_hh, H, 1, gates + t * G, T * G);
#pragma omp parallel for schedule(static) if (B * G > 16384)
        for (int64_t b = 0; b < B; b++) {
            vc_real *a = gates + (b * T + t) * G, *ct = c + (b * T + t) * H, *ht = h + (b * T + t) * H;
            if (len && t >= len[b]) { /* past the end: frozen state, zero output */
                memset(a, 0, (size_t)G * sizeof(vc_real));
                if (t > 0) memcpy(ct, ct - H, (size_t)H * sizeof(vc_real));
                else memset(ct, 0, (size_t)H * sizeof(vc_real));
                memset(ht, 0, (size_t)H * sizeof(vc_real));
                continue;
            }
            cell_fwd(a, bias, t > 0 ? ct - H : NULL, ct, ht, H);
        }
    }
}

size_t vc_lstm_bwd_scratch(const vc_lstm_dims *d) { return (size_t)(2 * d->B * d->H) * sizeof(vc_real); }

void vc_lstm_bwd(const vc_lstm_dims *d, const vc_real *gates, const vc_real *c, const vc_real *h,
                 const vc_real *w_hh, const vc_real *dh, vc_real *dA, vc_real *hprev, void *scratch) {
    int64_t B = d->B, T = d->T, H = d->H, G = 4 * H;
    const int64_t *len = d->len;
    if (hprev && T > 0) {
#pragma omp parallel for schedule(static) if (B * T * H > 32768)
        for (int64_t b = 0; b < B; b++) {
            memset(hprev + b * T * H, 0, (size_t)H * sizeof(vc_real));
            memcpy(hprev + (b * T + 1) * H, h + b * T * H, (size_t)((T - 1) * H) * sizeof(vc_real));
        }
    }
    /* scratch: dh_next [B, H] and dc_next [B, H] carried backwards */
    vc_real *dhn = scratch, *dcn = dhn + B * H;
    memset(scratch, 0, (size_t)(2 * B * H) * sizeof(vc_real));
    for (int64_t t = T - 1; t >= 0; t--) {
#pragma omp parallel for schedule(static) if (B * G > 16384)
        for (int64_t b = 0; b < B; b++) {
            vc_real *da = dA + (b * T + t) * G;
            if (len && t >= len[b]) {
                memset(da, 0, (size_t)G * sizeof(vc_real));
                continue;
            }
            const vc_real *a = gates + (b * T + t) * G, *ct = c + (b * T + t) * H, *g_h = dh + (b * T + t) * H;
            cell_bwd(a, ct, t > 0 ? ct - H : NULL, g_h, dhn + b * H, dcn + b * H, da, H);
        }
        /* dh_next = dA_t w_hh  [B, H] */
        if (t > 0) vc_gemm(false, false, B, H, G, 1, dA + t * G, T * G, w_hh, H, 0, dhn, H);
    }
}
