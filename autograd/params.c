#include "params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vc_params_init(vc_params *p) { memset(p, 0, sizeof *p); }

void vc_params_free(vc_params *p) {
    for (int i = 0; i < p->count; i++) free(p->vars[i]);
    free(p->vars);
    free(p->info);
    const vc_backend *be = vc_backend_for(p->device);
    if (be && p->block) {
        be->mem_free(p->block);
    } else if (be) {
        be->mem_free(p->data);
        be->mem_free(p->grad);
    }
    memset(p, 0, sizeof *p);
}

static void repoint(vc_params *p) {
    for (int i = 0; i < p->count; i++) {
        p->vars[i]->val.data = p->data + p->info[i].offset;
        p->vars[i]->grad.data = p->grad + p->info[i].offset;
        p->vars[i]->val.device = p->vars[i]->grad.device = p->device;
    }
}

vc_status vc_params_place(vc_params *p, vc_device d) {
    if (p->block) return vc_fail(VC_ERR_ARG, "params: already placed on %s", vc_device_name(p->device));
    const vc_backend *be, *from;
    vc_status s;
    if ((s = vc_backend_get(d, &be)) || (s = vc_backend_get(p->device, &from))) return s;
    size_t n = p->n ? p->n : 16; /* a multiple of 16 floats: every part stays 64-byte aligned */
    int64_t nn = (int64_t)n;
    size_t sb = be->scratch_bytes ? be->scratch_bytes(VC_K_GLOBAL_NORM, &nn) : 0;
    size_t fl = 4 * n * sizeof(vc_real), total = fl + 256 + (sb + 255) / 256 * 256;
    unsigned char *blk = be->mem_alloc(total);
    if (!blk) return vc_fail(VC_ERR_OOM, "params: cannot allocate %zu bytes on %s", total, be->name);
    be->mem_set(blk, 0, total);
    /* values to their new place through the host (device to device is one
     * backend; between backends the host is the way) */
    if (p->n) {
        size_t nb = p->n * sizeof(vc_real);
        if (from == be) {
            be->copy_d2d(blk, p->data, nb);
        } else {
            vc_real *h = malloc(nb);
            if (!h) {
                be->mem_free(blk);
                return vc_fail(VC_ERR_OOM, "params: cannot stage %zu bytes on the host", nb);
            }
            from->copy_d2h(h, p->data, nb);
            be->copy_h2d(blk, h, nb);
            free(h);
        }
    }
    from->mem_free(p->data);
    from->mem_free(p->grad);
    p->block = blk;
    p->device = d;
    p->data = (vc_real *)blk;
    p->grad = p->data + n;
    p->moments = p->data + 2 * n;
    p->norm = (double *)(blk + fl);
    p->aux = (vc_real *)(blk + fl + 64);
    p->norm_scratch = sb ? blk + fl + 256 : NULL;
    p->cap = n;
    repoint(p);
    return VC_OK;
}

int vc_params_find(const vc_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->info[i].name, name) == 0) return i;
    return -1;
}

/* Offsets are rounded to 16 floats so every parameter starts 64-byte aligned. */
static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

static vc_status grow(vc_params *p, size_t need) {
    if (need <= p->cap) return VC_OK;
    if (p->block) return vc_fail(VC_ERR_ARG, "params: cannot add parameters after they were placed on a device");
    size_t cap = p->cap ? p->cap : 4096;
    while (cap < need) cap *= 2;
    const vc_backend *be;
    vc_status s = vc_backend_get(p->device, &be);
    if (s) return s;
    vc_real *d = be->mem_alloc(cap * sizeof(vc_real));
    vc_real *g = be->mem_alloc(cap * sizeof(vc_real));
    if (!d || !g) {
        be->mem_free(d);
        be->mem_free(g);
        return vc_fail(VC_ERR_OOM, "params: cannot allocate %zu floats", cap);
    }
    be->mem_set(d, 0, cap * sizeof(vc_real));
    be->mem_set(g, 0, cap * sizeof(vc_real));
    if (p->n) {
        be->copy_d2d(d, p->data, p->n * sizeof(vc_real));
        be->copy_d2d(g, p->grad, p->n * sizeof(vc_real));
    }
    be->mem_free(p->data);
    be->mem_free(p->grad);
    p->data = d;
    p->grad = g;
    p->cap = cap;
    repoint(p);
    return VC_OK;
}

vc_var *vc_params_add(vc_params *p, const char *name, int ndim, const int64_t *shape, bool decay) {
    if (!name || !*name || strlen(name) >= sizeof p->info[0].name) {
        vc_fail(VC_ERR_ARG, "params: invalid parameter name");
        return NULL;
    }
    if (vc_params_find(p, name) >= 0) {
        vc_fail(VC_ERR_ARG, "params: duplicate parameter name '%s'", name);
        return NULL;
    }
    vc_tensor shape_only;
    if (vc_tensor_wrap(&shape_only, NULL, VC_F32, ndim, shape)) return NULL;
    size_t numel = (size_t)vc_numel(&shape_only);
    if (p->count == p->cap_count) {
        int cap = p->cap_count ? 2 * p->cap_count : 16;
        vc_var **vv = realloc(p->vars, (size_t)cap * sizeof *vv);
        if (vv) p->vars = vv;
        vc_param_info *ii = realloc(p->info, (size_t)cap * sizeof *ii);
        if (ii) p->info = ii;
        if (!vv || !ii) {
            vc_fail(VC_ERR_OOM, "params: cannot grow the parameter table");
            return NULL;
        }
        p->cap_count = cap;
    }
    size_t offset = round16(p->n);
    if (grow(p, offset + round16(numel))) return NULL;
    vc_var *v = calloc(1, sizeof *v);
    if (!v) {
        vc_fail(VC_ERR_OOM, "params: out of memory for the variable of '%s'", name);
        return NULL;
    }
    shape_only.device = p->device;
    v->val = shape_only;
    v->val.data = p->data + offset;
    v->grad = shape_only;
    v->grad.data = p->grad + offset;
    v->requires_grad = true;
    v->is_param = true;
    vc_param_info *in = &p->info[p->count];
    snprintf(in->name, sizeof in->name, "%s", name);
    in->offset = offset;
    in->numel = numel;
    in->decay = decay;
    p->vars[p->count++] = v;
    p->n = offset + round16(numel);
    return v;
}

void vc_params_zero_grad(vc_params *p) {
    for (int i = 0; i < p->count; i++) p->vars[i]->grad_written = false;
}

void vc_params_finish_grad(vc_params *p) {
    for (int i = 0; i < p->count; i++)
        if (!p->vars[i]->grad_written) {
            vc_backend_for(p->device)->mem_set(p->grad + p->info[i].offset, 0, p->info[i].numel * sizeof(vc_real));
            p->vars[i]->grad_written = true;
        }
}
