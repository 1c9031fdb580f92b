#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/safetensors.h"

/* Parameters and moments on a device are copied to one host buffer first
 * (3 n floats), so a checkpoint is the same file whatever the device. */
static vc_status host_copy(const vc_params *ps, const vc_adamw *opt, vc_real **buf, const vc_real **pd,
                           const vc_real **md, const vc_real **vd) {
    *buf = NULL;
    *pd = ps->data;
    *md = opt ? opt->m : NULL;
    *vd = opt ? opt->v : NULL;
    if (ps->device == VC_CPU) return VC_OK;
    size_t n = ps->n ? ps->n : 1;
    vc_real *h = malloc(3 * n * sizeof(vc_real));
    if (!h) return vc_fail(VC_ERR_OOM, "checkpoint: cannot allocate %zu bytes to copy the model to the host", 3 * n * 4);
    const vc_backend *be = vc_backend_for(ps->device);
    be->copy_d2h(h, ps->data, ps->n * sizeof(vc_real));
    if (opt) {
        be->copy_d2h(h + n, opt->m, ps->n * sizeof(vc_real));
        be->copy_d2h(h + 2 * n, opt->v, ps->n * sizeof(vc_real));
    }
    *buf = h;
    *pd = h;
    *md = h + n;
    *vd = h + 2 * n;
    return VC_OK;
}

vc_status vc_ckpt_save(const char *path, const vc_params *ps, const vc_adamw *opt, const vc_ckpt_state *st,
                       const char *config_text, int64_t dim) {
    vc_real *hbuf;
    const vc_real *pd, *md, *vd;
    vc_status s = host_copy(ps, opt, &hbuf, &pd, &md, &vd);
    if (s) return s;
    vc_st_writer *w;
    if ((s = vc_st_writer_new(&w))) {
        free(hbuf);
        return s;
    }
    for (int i = 0; i < ps->count && !s; i++) {
        vc_tensor pt = ps->vars[i]->val; /* the value's shape over the host copy */
        pt.device = VC_CPU;
        pt.owned = NULL;
        pt.data = (void *)(pd + ps->info[i].offset);
        s = vc_st_writer_add(w, ps->info[i].name, &pt);
    }
    vc_tensor m, v, state, loader;
    int64_t sv[3] = {st->step, opt ? opt->step : 0, st->best_step};
    uint64_t lw[VC_LOADER_STATE_WORDS];
    vc_loader_state_pack(&st->loader, lw);
    if (!s && opt) {
        vc_tensor_wrap(&m, (void *)md, VC_F32, VC_DIMS((int64_t)ps->n));
        vc_tensor_wrap(&v, (void *)vd, VC_F32, VC_DIMS((int64_t)ps->n));
        s = vc_st_writer_add(w, "optim.m", &m);
        if (!s) s = vc_st_writer_add(w, "optim.v", &v);
    }
    vc_tensor_wrap(&state, sv, VC_I64, VC_DIMS(3));
    vc_tensor_wrap(&loader, lw, VC_I64, VC_DIMS(VC_LOADER_STATE_WORDS));
    if (!s) s = vc_st_writer_add_copy(w, "train.state", &state);
    if (!s) s = vc_st_writer_add_copy(w, "train.loader", &loader);
    char num[64];
    if (!s) s = vc_st_writer_meta(w, "format", "vclip-checkpoint");
    if (!s) s = vc_st_writer_meta(w, "version", "1");
    if (!s) s = vc_st_writer_meta(w, "config", config_text ? config_text : "");
    snprintf(num, sizeof num, "%.17g", st->best_score);
    if (!s) s = vc_st_writer_meta(w, "best_score", num);
    snprintf(num, sizeof num, "%lld", (long long)dim);
    if (!s) s = vc_st_writer_meta(w, "dim", num);
    if (!s) s = vc_st_writer_write(w, path);
    vc_st_writer_free(w);
    free(hbuf);
    return s;
}

static vc_status check_format(const vc_st_file *f, const char *path) {
    const char *fmt = vc_st_meta(f, "format");
    if (!fmt || strcmp(fmt, "vclip-checkpoint") != 0)
        return vc_fail(VC_ERR_FORMAT, "%s: not a vclip checkpoint (metadata format is %s)", path,
                       fmt ? fmt : "missing");
    const char *ver = vc_st_meta(f, "version");
    if (!ver || strcmp(ver, "1") != 0)
        return vc_fail(VC_ERR_FORMAT, "%s: checkpoint version %s is not supported (1)", path, ver ? ver : "missing");
    return VC_OK;
}

/* An I64 tensor of exactly n values. */
static vc_status load_i64(const vc_st_file *f, const char *path, const char *name, int64_t *dst, int64_t n) {
    const vc_st_tensor *t;
    vc_status s = vc_st_get(f, name, &t);
    if (s) return s;
    if (t->dtype != VC_ST_I64 || t->numel != n)
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' must be I64 with %lld values", path, name, (long long)n);
    memcpy(dst, t->data, (size_t)n * sizeof(int64_t));
    return VC_OK;
}

vc_status vc_ckpt_load(const char *path, vc_params *ps, vc_adamw *opt, vc_ckpt_state *st) {
    /* on a device, everything is read and checked into a host copy first and
     * goes to the device only when the whole file was good */
    bool dev = ps->device != VC_CPU;
    size_t hn = ps->n ? ps->n : 1;
    vc_real *hbuf = dev ? calloc(3 * hn, sizeof(vc_real)) : NULL;
    if (dev && !hbuf) return vc_fail(VC_ERR_OOM, "%s: cannot allocate %zu bytes to load the model", path, 3 * hn * 4);
    vc_st_file *f;
    vc_status s = vc_st_open(&f, path, VC_ST_READ);
    if (s) {
        free(hbuf);
        return s;
    }
    if ((s = check_format(f, path))) goto done;
    for (int i = 0; i < ps->count && !s; i++) {
        const vc_st_tensor *t;
        if ((s = vc_st_get(f, ps->info[i].name, &t))) break;
        const vc_tensor *want = &ps->vars[i]->val;
        bool ok = t->dtype == VC_ST_F32 && t->ndim == want->ndim;
        for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want->ne[d];
        if (!ok) {
            char b[96];
            s = vc_fail(VC_ERR_FORMAT, "%s: parameter '%s' is stored as %s with %d dims, the model has %s F32", path,
                        ps->info[i].name, vc_st_dtype_name(t->dtype), t->ndim, vc_shape_str(want, b, sizeof b));
            break;
        }
        vc_real *dst = dev ? hbuf + ps->info[i].offset : want->data;
        memcpy(dst, t->data, t->nbytes);
        /* training never saves a NaN (it stops first): one means damage */
        s = vc_st_check_finite(path, ps->info[i].name, dst, (size_t)t->numel);
    }
    if (!s && opt) {
        const char *names[2] = {"optim.m", "optim.v"};
        vc_real *dst[2] = {dev ? hbuf + hn : opt->m, dev ? hbuf + 2 * hn : opt->v};
        for (int k = 0; k < 2 && !s; k++) {
            const vc_st_tensor *t;
            if ((s = vc_st_get(f, names[k], &t))) break;
            if (t->dtype != VC_ST_F32 || t->numel != (int64_t)ps->n)
                s = vc_fail(VC_ERR_FORMAT, "%s: '%s' has %lld values, the model's layout has %zu", path, names[k],
                            (long long)t->numel, ps->n);
            else memcpy(dst[k], t->data, t->nbytes);
            if (!s) s = vc_st_check_finite(path, names[k], dst[k], (size_t)t->numel);
        }
    }
    if (!s && st) {
        int64_t sv[3];
        uint64_t lw[VC_LOADER_STATE_WORDS];
        s = load_i64(f, path, "train.state", sv, 3);
        if (!s) s = load_i64(f, path, "train.loader", (int64_t *)lw, VC_LOADER_STATE_WORDS);
        if (!s) {
            st->step = sv[0];
            if (opt) opt->step = sv[1];
            st->best_step = sv[2];
            const char *bs = vc_st_meta(f, "best_score");
            st->best_score = bs ? strtod(bs, NULL) : -1;
            vc_loader_state_unpack(&st->loader, lw);
        }
    }
    if (!s && dev) {
        const vc_backend *be = vc_backend_for(ps->device);
        be->copy_h2d(ps->data, hbuf, ps->n * sizeof(vc_real));
        if (opt) {
            be->copy_h2d(opt->m, hbuf + hn, ps->n * sizeof(vc_real));
            be->copy_h2d(opt->v, hbuf + 2 * hn, ps->n * sizeof(vc_real));
        }
    }
done:
    vc_st_close(f);
    free(hbuf);
    return s;
}

vc_status vc_ckpt_read_config(const char *path, char **config_text, int64_t *dim) {
    *config_text = NULL;
    vc_st_file *f;
    vc_status s = vc_st_open(&f, path, VC_ST_MMAP);
    if (s) return s;
    if (!(s = check_format(f, path))) {
        const char *c = vc_st_meta(f, "config"), *d = vc_st_meta(f, "dim");
        char *end = NULL;
        long long dv = d ? strtoll(d, &end, 10) : 0;
        if (!c || !d || !end || *end || dv <= 0)
            s = vc_fail(VC_ERR_FORMAT, "%s: checkpoint metadata lacks its config or dim", path);
        else if (!(*config_text = strdup(c)))
            s = vc_fail(VC_ERR_OOM, "%s: out of memory for the config text (%zu bytes)", path, strlen(c) + 1);
        else
            *dim = dv;
    }
    vc_st_close(f);
    return s;
}
