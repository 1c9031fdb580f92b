#include "optim.h"

#include <math.h>
#include <string.h>

vc_status vc_adamw_init(vc_adamw *o, const vc_params *p, const vc_adamw_cfg *cfg) {
    memset(o, 0, sizeof *o);
    o->cfg = *cfg;
    o->device = p->device;
    o->n = p->n;
    const vc_backend *be;
    vc_status s = vc_backend_get(o->device, &be);
    if (s) return s;
    size_t nbytes = (p->n ? p->n : 1) * sizeof(vc_real);
    if (p->moments) { /* in the parameters' one buffer */
        o->m = p->moments;
        o->v = p->moments + p->cap;
        o->borrowed = true;
        be->mem_set(o->m, 0, 2 * p->cap * sizeof(vc_real));
        return VC_OK;
    }
    o->m = be->mem_alloc(nbytes);
    o->v = be->mem_alloc(nbytes);
    if (!o->m || !o->v) {
        vc_adamw_free(o);
        return vc_fail(VC_ERR_OOM, "optimizer: cannot allocate moments for %zu parameters", p->n);
    }
    be->mem_set(o->m, 0, nbytes);
    be->mem_set(o->v, 0, nbytes);
    return VC_OK;
}

void vc_adamw_free(vc_adamw *o) {
    const vc_backend *be = vc_backend_for(o->device);
    if (be && !o->borrowed) {
        be->mem_free(o->m);
        be->mem_free(o->v);
    }
    o->m = o->v = NULL;
}

void vc_adamw_step(vc_adamw *o, vc_params *p, double lr) {
    const vc_adamw_cfg *c = &o->cfg;
    const vc_backend *be = vc_backend_for(p->device);
    o->step++;
    double bc1 = 1 - pow(c->beta1, (double)o->step), bc2 = 1 - pow(c->beta2, (double)o->step);
    vc_adamw_args a = {.b1 = (vc_real)c->beta1, .b2 = (vc_real)c->beta2, .step = (vc_real)(lr / bc1),
                       .rbc2 = (vc_real)(1 / sqrt(bc2)), .eps = (vc_real)c->eps};
    for (int i = 0; i < p->count; i++) {
        const vc_param_info *in = &p->info[i];
        a.keep = in->decay ? (vc_real)(1 - lr * c->weight_decay) : 1;
        size_t o0 = in->offset;
        be->adamw(&a, p->data + o0, p->grad + o0, o->m + o0, o->v + o0, (int64_t)in->numel);
    }
}

/* The norm is computed into backend memory (with the scratch the kernel asks
 * for) and copied back; the padding between parameters is never written and
 * stays 0, so the whole flat buffer is summed. */
double vc_grad_norm(const vc_params *p) {
    const vc_backend *be = vc_backend_for(p->device);
    int64_t n = (int64_t)p->n;
    size_t sb = be->scratch_bytes(VC_K_GLOBAL_NORM, &n);
    double norm = NAN;
    if (p->norm) { /* placed parameters: result and scratch in their block */
        be->global_norm(p->grad, n, p->norm, sb ? p->norm_scratch : NULL);
        be->copy_d2h(&norm, p->norm, sizeof norm);
        return norm;
    }
    if (be->device == VC_CPU && sb == 0) { /* host memory: no buffer needed */
        be->global_norm(p->grad, n, &norm, NULL);
        return norm;
    }
    unsigned char *buf = be->mem_alloc(sizeof(double) + sb);
    if (!buf) return NAN; /* reported by the caller's finiteness check */
    be->global_norm(p->grad, n, (double *)buf, sb ? buf + sizeof(double) : NULL);
    be->copy_d2h(&norm, buf, sizeof norm);
    be->mem_free(buf);
    return norm;
}

double vc_grad_clip(vc_params *p, double max_norm, double norm) {
    double f = max_norm / (norm + 1e-6);
    if (!(f < 1)) return 1;
    const vc_backend *be = vc_backend_for(p->device);
    if (p->norm) { /* the norm vc_grad_norm left on the device */
        be->clip_scale(p->grad, (int64_t)p->n, max_norm, p->norm);
    } else if (be->device == VC_CPU) {
        be->clip_scale(p->grad, (int64_t)p->n, max_norm, &norm);
    } else {
        double *dn = be->mem_alloc(sizeof norm);
        if (!dn) return 1;
        be->copy_h2d(dn, &norm, sizeof norm);
        be->clip_scale(p->grad, (int64_t)p->n, max_norm, dn);
        be->mem_free(dn);
    }
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
