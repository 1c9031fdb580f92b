#include "k_attention.h"

#include <math.h>
#include <omp.h>

#include "k_gemm.h"
#include "k_math.h"

size_t vc_attention_bwd_scratch(const vc_attn_dims *d) {
    return (size_t)omp_get_max_threads() * (size_t)(d->Tq * d->Tk) * sizeof(vc_real);
}

static bool masked(const vc_attn_dims *d, int64_t b, int64_t i, int64_t j) {
    return (d->klen && j >= d->klen[b]) || (d->causal && j > i);
}

void vc_attention_fwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, vc_real *P,
                      vc_real *O) {
    int64_t B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk, dh = d->dh, ldo = H * dh;
#pragma omp parallel for schedule(static)
    for (int64_t bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H;
        const vc_real *q = Q + b * d->qbs + d->qoff + h * dh;
        const vc_real *k = K + b * d->kbs + d->koff + h * dh;
        const vc_real *v = V + b * d->vbs + d->voff + h * dh;
        vc_real *p = P + bh * Tq * Tk;
        /* S = scale * q k^T  [Tq, Tk] */
        vc_gemm(false, true, Tq, Tk, dh, d->scale, q, d->ldq, k, d->ldk, 0, p, Tk);
        for (int64_t i = 0; i < Tq; i++) {
            vc_real *row = p + i * Tk, mx = -INFINITY;
            for (int64_t j = 0; j < Tk; j++) {
                if (masked(d, b, i, j)) row[j] = -INFINITY;
                if (row[j] > mx) mx = row[j];
            }
            if (mx == -INFINITY) {
                for (int64_t j = 0; j < Tk; j++) row[j] = 0;
                continue;
            }
            vc_real s = 0;
            for (int64_t j = 0; j < Tk; j++) {
                row[j] = vc_fexp(row[j] - mx);
                s += row[j];
            }
            vc_real inv = 1 / s;
            for (int64_t j = 0; j < Tk; j++) row[j] *= inv;
        }
        /* O_h = P v  [Tq, dh] into columns h*dh of O */
        vc_gemm(false, false, Tq, dh, Tk, 1, p, Tk, v, d->ldv, 0, O + b * Tq * ldo + h * dh, ldo);
    }
}

void vc_attention_bwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, const vc_real *P,
                      const vc_real *dO, vc_real *dQ, vc_real bq, vc_real *dK, vc_real bk, vc_real *dV, vc_real bv,
                      void *scratch) {
    int64_t B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk, dh = d->dh, ldo = H * dh;
    /* With a broadcast (batch stride 0) operand, several batches add into the
     * same gradient rows: run those serially to keep the sums race-free. */
    bool shared = (dQ && d->qbs == 0) || (dK && d->kbs == 0) || (dV && d->vbs == 0);
#pragma omp parallel for schedule(static) if (!shared)
    for (int64_t bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H;
        vc_real *ds = (vc_real *)scratch + (int64_t)omp_get_thread_num() * Tq * Tk;
        const vc_real *q = Q + b * d->qbs + d->qoff + h * dh;
        const vc_real *k = K + b * d->kbs + d->koff + h * dh;
        const vc_real *v = V + b * d->vbs + d->voff + h * dh;
        const vc_real *p = P + bh * Tq * Tk;
        const vc_real *go = dO + b * Tq * ldo + h * dh;
        /* dV += P^T dO */
        if (dV) vc_gemm(true, false, Tk, dh, Tq, 1, p, Tk, go, ldo, bv, dV + b * d->vbs + d->voff + h * dh, d->ldv);
        /* dP = dO v^T; dS = P (dP - rowsum(dP P)) * scale */
        vc_gemm(false, true, Tq, Tk, dh, 1, go, ldo, v, d->ldv, 0, ds, Tk);
        for (int64_t i = 0; i < Tq; i++) {
            const vc_real *pr = p + i * Tk;
            vc_real *r = ds + i * Tk, dot = 0;
            for (int64_t j = 0; j < Tk; j++) dot += r[j] * pr[j];
            for (int64_t j = 0; j < Tk; j++) r[j] = pr[j] * (r[j] - dot) * d->scale;
        }
        /* dQ += dS k; dK += dS^T q */
        if (dQ) vc_gemm(false, false, Tq, dh, Tk, 1, ds, Tk, k, d->ldk, bq, dQ + b * d->qbs + d->qoff + h * dh, d->ldq);
        if (dK) vc_gemm(true, false, Tk, dh, Tq, 1, ds, Tk, q, d->ldq, bk, dK + b * d->kbs + d->koff + h * dh, d->ldk);
    }
}
