/* params.h: the trainable parameters of a model, in one flat buffer.
 * Values and gradients of all parameters sit side by side in two contiguous
 * float arrays (kann-style), so the optimiser, gradient clipping, checkpoints
 * and a future all-reduce are each one loop over one array. Each parameter is
 * a vc_var whose val/grad tensors view into those arrays; the vars are heap
 * objects with stable addresses, re-pointed if the buffer grows. */
#ifndef VC_PARAMS_H
#define VC_PARAMS_H

#include "tape.h"

typedef struct vc_param_info {
    char name[96];
    size_t offset;        /* in elements into data/grad */
    size_t numel;
    bool decay;           /* weight decay applies (weight matrices only) */
} vc_param_info;

typedef struct vc_params {
    vc_device device;      /* where data and grad live (the CPU after init) */
    vc_real *data, *grad;  /* n elements each, 64-byte aligned */
    size_t n, cap;
    /* After vc_params_place: one allocation holding data, grad, the
     * optimiser's two moments (2n floats at moments) and the gradient norm's
     * result and scratch (norm, norm_scratch); NULL before. */
    void *block;
    vc_real *moments;
    double *norm;
    void *norm_scratch;
    vc_real *aux;          /* 16 floats of scratch for one-element updates (the logit clamp) */
    vc_var **vars;
    vc_param_info *info;
    int count, cap_count;
} vc_params;

void vc_params_init(vc_params *p);
void vc_params_free(vc_params *p);
/* Adds a zero-initialised parameter. Returns NULL (message set) on failure or
 * a duplicate name. */
vc_var *vc_params_add(vc_params *p, const char *name, int ndim, const int64_t *shape, bool decay);
/* Moves the parameters (values and gradients) to device d, or re-lays them
 * out on the CPU, in one allocation that also holds the AdamW moments and
 * the gradient norm's scratch: nothing in a training step allocates. The
 * vars are re-pointed. Call once, after every parameter was added and
 * initialised; adding parameters afterwards fails. */
vc_status vc_params_place(vc_params *p, vc_device d);
/* Index of a parameter by name, -1 if absent. */
int vc_params_find(const vc_params *p, const char *name);
/* Starts a new backward: the next gradient written to each parameter
 * overwrites instead of accumulating. */
void vc_params_zero_grad(vc_params *p);
/* Zero-fills the gradient of every parameter no backward wrote, so p->grad is
 * a complete gradient vector. Call after vc_backward. */
void vc_params_finish_grad(vc_params *p);

#endif
