/* optim.h: AdamW with decoupled weight decay on the parameters marked for
 * decay (weight matrices), global-norm gradient clipping, and the learning
 * rate schedule (linear warmup, then cosine to 0, or constant). All work on
 * the flat buffers of a vc_params; the moments use the same layout, so a
 * checkpoint stores them as two more flat arrays. The loops run as kernels of
 * the parameters' backend (adamw, global_norm, clip_scale); this file picks
 * their arguments. */
#ifndef VC_OPTIM_H
#define VC_OPTIM_H

#include "autograd/params.h"

typedef struct {
    double beta1, beta2, eps, weight_decay;
} vc_adamw_cfg;

typedef struct {
    vc_adamw_cfg cfg;
    vc_device device; /* the parameters' device, where the moments live too */
    vc_real *m, *v;   /* first and second moments, p->n each */
    size_t n;
    int64_t step;     /* updates done (bias correction uses step + 1) */
    bool borrowed;    /* m and v live in the parameters' block (vc_params_place) */
} vc_adamw;

vc_status vc_adamw_init(vc_adamw *o, const vc_params *p, const vc_adamw_cfg *cfg);
void vc_adamw_free(vc_adamw *o);
/* One update with learning rate lr from p->grad (complete: see
 * vc_params_finish_grad). PyTorch's AdamW order: p *= 1 - lr*wd (decay
 * parameters only), then the Adam step. */
void vc_adamw_step(vc_adamw *o, vc_params *p, double lr);

/* sqrt(sum of squared gradients), summed in a fixed order (deterministic). */
double vc_grad_norm(const vc_params *p);
/* Scales the gradients by max_norm / (norm + 1e-6) when that is below 1
 * (PyTorch's clip_grad_norm_); returns the factor used. */
double vc_grad_clip(vc_params *p, double max_norm, double norm);

typedef enum { VC_SCHED_COSINE, VC_SCHED_CONSTANT, VC_SCHED_LINEAR } vc_sched_kind;
typedef struct {
    vc_sched_kind kind;
    double lr;            /* peak */
    int64_t warmup;       /* steps of linear warmup */
    int64_t total;        /* steps in the run */
} vc_sched;
/* Learning rate for 0-based step s: lr*(s+1)/warmup during warmup; then
 * cosine (or linear) decay to 0 at `total`, or constant. */
double vc_sched_lr(const vc_sched *s, int64_t step);

#endif
