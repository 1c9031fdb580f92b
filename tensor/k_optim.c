#include "k_optim.h"

#include <math.h>

#include "k_math.h"

void vc_adamw_update(const vc_adamw_args *a, vc_real *w, const vc_real *g, vc_real *m, vc_real *v, int64_t n) {
    vc_real b1 = a->b1, b2 = a->b2, step = a->step, rbc2 = a->rbc2, eps = a->eps, keep = a->keep;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; k++) {
        m[k] = b1 * m[k] + (1 - b1) * g[k];
        v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k];
        w[k] = w[k] * keep - step * m[k] / (vc_sqrt(v[k]) * rbc2 + eps);
    }
}

void vc_global_norm(const vc_real *x, int64_t n, double *norm, void *scratch) {
    (void)scratch;
    /* Blocks are summed in parallel 256 at a time, then added to the total
     * in block order: the order of additions is fixed by n alone. */
    enum { BLOCK = 1 << 16, GROUP = 256 };
    int64_t nb = (n + BLOCK - 1) / BLOCK;
    double s = 0;
    for (int64_t b0 = 0; b0 < nb; b0 += GROUP) {
        int64_t b1 = b0 + GROUP < nb ? b0 + GROUP : nb;
        double part[GROUP];
#pragma omp parallel for schedule(static) if (b1 - b0 > 1)
        for (int64_t b = b0; b < b1; b++) {
            const vc_real *xb = x + b * BLOCK;
            int64_t m = n - b * BLOCK < BLOCK ? n - b * BLOCK : BLOCK;
            /* in 16 double lanes (element k in lane k % 16), added pairwise:
             * vectorises, and the order is still fixed by n alone */
            double p[16] = {0};
            int64_t k = 0;
            for (; k + 16 <= m; k += 16)
                for (int l = 0; l < 16; l++) p[l] += (double)xb[k + l] * (double)xb[k + l];
            for (; k < m; k++) p[k % 16] += (double)xb[k] * (double)xb[k];
            for (int w = 8; w > 0; w /= 2)
                for (int l = 0; l < w; l++) p[l] += p[l + w];
            part[b - b0] = p[0];
        }
        for (int64_t b = b0; b < b1; b++) s += part[b - b0];
    }
    norm[0] = sqrt(s);
}

void vc_clip_scale(vc_real *g, int64_t n, double max_norm, const double *norm) {
    double f = max_norm / (norm[0] + 1e-6);
    if (!(f < 1)) return;
    vc_real fr = (vc_real)f;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; k++) g[k] *= fr;
}
