#include "k_patch.h"

#include <string.h>

void vc_patchify(const vc_patch_dims *d, const vc_real *images, vc_real *patches) {
    int64_t C = d->C, S = d->S, P = d->P, G = d->G, NP = d->N * G * G, K = C * P * P;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < NP; r++) {
        int64_t n = r / (G * G), gy = r / G % G, gx = r % G;
        vc_real *row = patches + r * K;
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t ky = 0; ky < P; ky++)
                memcpy(row + (ch * P + ky) * P, images + ((n * C + ch) * S + gy * P + ky) * S + gx * P,
                       (size_t)P * sizeof *row);
    }
}

void vc_embed_patches(const vc_real *emb, const vc_real *cls, const vc_real *pos, vc_real *x, int64_t N, int64_t T,
                      int64_t W) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < N * T; r++) {
        int64_t n = r / T, i = r % T;
        const vc_real *src = i ? emb + (n * (T - 1) + i - 1) * W : cls;
        for (int64_t j = 0; j < W; j++) x[r * W + j] = src[j] + pos[i * W + j];
    }
}

void vc_embed_tokens(const vc_real *tok, const int64_t *ids, const vc_real *pos, vc_real *x, int64_t R, int64_t T,
                     int64_t W) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const vc_real *t = tok + ids[r] * W, *p = pos + (r % T) * W;
        for (int64_t k = 0; k < W; k++) x[r * W + k] = t[k] + p[k];
    }
}
