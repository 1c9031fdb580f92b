#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

vc_status vc_adamw_init(vc_adamw *o, const vc_params *p, const vc_adamw_cfg *cfg) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->n = p->n;
    o->m = calloc(p->n ? p->n : 1, sizeof(vc_real));
    o->v = calloc(p->n ? p->n : 1, sizeof(vc_real));
    if (!o->m || !o->v) {
        vc_adamw_free(o);
        return vc_fail(VC_ERR_OOM, "optimizer: cannot allocate moments for %zu parameters", p->n);
    }
    return VC_OK;
}

void vc_adamw_free(vc_adamw *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void vc_adamw_step(vc_adamw *o, vc_params *p, double lr) {
    const vc_adamw_cfg *c = &o->cfg;
    o->step++;
    double bc1 = 1 - pow(c->beta1, (double)o->step), bc2 = 1 - pow(c->beta2, (double)o->step);
    vc_real b1 = (vc_real)c->beta1, b2 = (vc_real)c->beta2;
    vc_real step = (vc_real)(lr / bc1), rbc2 = (vc_real)(1 / sqrt(bc2)), eps = (vc_real)c->eps;
    for (int i = 0; i < p->count; i++) {
        const vc_param_info *in = &p->info[i];
        vc_real keep = in->decay ? (vc_real)(1 - lr * c->weight_decay) : 1;
        vc_real *w = p->data + in->offset, *g = p->grad + in->offset, *m = o->m + in->offset, *v = o->v + in->offset;
        int64_t n = (int64_t)in->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t k = 0; k < n; k++) {
            m[k] = b1 * m[k] + (1 - b1) * g[k];
            v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k];
            w[k] = w[k] * keep - step * m[k] / (sqrt(v[k]) * rbc2 + eps);
        }
    }
}

double vc_grad_norm(const vc_params *p) {
    /* Sum of squares over the whole flat buffer (the padding between
     * parameters is never written and stays 0), in fixed blocks summed in
     * parallel and then added in block order: the same result for any
     * thread count. */
    enum { BLOCK = 1 << 16 };
    int64_t n = (int64_t)p->n, nb = (n + BLOCK - 1) / BLOCK;
    double part[256], *parts = nb <= 256 ? part : malloc((size_t)nb * sizeof(double));
    if (!parts) { /* fall back to one sequential pass */
        double s = 0;
        for (int64_t k = 0; k < n; k++) s += (double)p->grad[k] * (double)p->grad[k];
        return sqrt(s);
    }
#pragma omp parallel for schedule(static) if (nb > 1)
    for (int64_t b = 0; b < nb; b++) {
        const vc_real *g = p->grad + b * BLOCK;
        int64_t m = n - b * BLOCK < BLOCK ? n - b * BLOCK : BLOCK;
        double s = 0;
        for (int64_t k = 0; k < m; k++) s += (double)g[k] * (double)g[k];
        parts[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += parts[b];
    if (parts != part) free(parts);
    return sqrt(s);
}

double vc_grad_clip(vc_params *p, double max_norm, double norm) {
    double f = max_norm / (norm + 1e-6);
    if (!(f < 1)) return 1;
    for (size_t k = 0; k < p->n; k++) p->grad[k] *= (vc_real)f;
    return f;
}

double vc_sched_lr(const vc_sched *s, int64_t step) {
    if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    if (s->kind == VC_SCHED_CONSTANT) return s->lr;
    int64_t span = s->total - s->warmup;
    if (span <= 0) return s->lr;
    double e = (double)(step - s->warmup) / (double)span;
    if (e > 1) e = 1;
    return s->kind == VC_SCHED_LINEAR ? s->lr * (1 - e) : 0.5 * s->lr * (1 + cos(3.14159265358979323846 * e));
}
