#include "tensor.h"

#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vc_status set_shape(vc_tensor *t, vc_dtype dtype, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > VC_MAX_DIMS)
        return vc_fail(VC_ERR_ARG, "tensor: %d dimensions (at most %d)", ndim, VC_MAX_DIMS);
    if ((unsigned)dtype >= VC_NDTYPES) return vc_fail(VC_ERR_DTYPE, "tensor: invalid dtype %d", (int)dtype);
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->device = VC_CPU;
    t->ndim = ndim;
    for (int i = 0; i < VC_MAX_DIMS; i++) t->ne[i] = 1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return vc_fail(VC_ERR_SHAPE, "tensor: negative size %lld in dimension %d", (long long)shape[i], i);
        if (shape[i] > 0 && n > INT64_MAX / 16 / shape[i])
            return vc_fail(VC_ERR_SHAPE, "tensor: shape too large");
        t->ne[i] = shape[i];
        n *= shape[i];
    }
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->st[i] = s;
        s *= t->ne[i];
    }
    return VC_OK;
}

vc_status vc_tensor_wrap(vc_tensor *t, void *data, vc_dtype dtype, int ndim, const int64_t *shape) {
    vc_status s = set_shape(t, dtype, ndim, shape);
    if (s) return s;
    t->data = data;
    return VC_OK;
}

vc_status vc_tensor_alloc(vc_tensor *t, vc_dtype dtype, int ndim, const int64_t *shape) {
    vc_status s = set_shape(t, dtype, ndim, shape);
    if (s) return s;
    const vc_backend *be;
    if ((s = vc_backend_get(t->device, &be))) return s;
    size_t nb = vc_nbytes(t);
    t->owned = be->mem_alloc(nb);
    if (!t->owned) return vc_fail(VC_ERR_OOM, "tensor: cannot allocate %zu bytes on %s", nb, be->name);
    be->mem_set(t->owned, 0, nb);
    t->data = t->owned;
    return VC_OK;
}

vc_status vc_tensor_arena(vc_tensor *t, vc_arena *a, vc_dtype dtype, int ndim, const int64_t *shape) {
    vc_status s = set_shape(t, dtype, ndim, shape);
    if (s) return s;
    t->device = a->device;
    t->data = vc_arena_alloc(a, vc_nbytes(t));
    if (t->data) return VC_OK;
    char b[96];
    return vc_fail(VC_ERR_OOM, "tensor: cannot take %s %s (%zu bytes) from an arena", vc_dtype_name(dtype),
                   vc_shape_str(t, b, sizeof b), vc_nbytes(t));
}

void vc_tensor_release(vc_tensor *t) {
    const vc_backend *be = t->owned ? vc_backend_for(t->device) : NULL;
    if (be) be->mem_free(t->owned);
    t->owned = NULL;
    t->data = NULL;
}

int64_t vc_numel(const vc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->ne[i];
    return n;
}

size_t vc_nbytes(const vc_tensor *t) { return (size_t)vc_numel(t) * vc_dtype_size(t->dtype); }

bool vc_is_contiguous(const vc_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->ne[i] != 1 && t->st[i] != s) return false;
        s *= t->ne[i];
    }
    return true;
}

bool vc_same_shape(const vc_tensor *a, const vc_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

const char *vc_shape_str(const vc_tensor *t, char *buf, int len) {
    int o = snprintf(buf, (size_t)len, "[");
    for (int i = 0; i < t->ndim && o < len; i++)
        o += snprintf(buf + o, (size_t)(len - o), i ? ",%lld" : "%lld", (long long)t->ne[i]);
    if (o < len) snprintf(buf + o, (size_t)(len - o), "]");
    return buf;
}

vc_status vc_axis(const char *op, int axis, int ndim, int *out) {
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) return vc_fail(VC_ERR_ARG, "op %s: axis %d out of range for %d dimensions", op, axis, ndim);
    *out = a;
    return VC_OK;
}

vc_status vc_check_f32_cpu(const char *op, const char *arg, const vc_tensor *t) {
    if (!t || !t->data) return vc_fail(VC_ERR_ARG, "op %s: %s is missing", op, arg);
    if (t->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "op %s: %s is on %s; this build has only the CPU backend", op, arg,
                       vc_device_name(t->device));
    if (t->dtype != VC_F32)
        return vc_fail(VC_ERR_DTYPE, "op %s: %s is %s, expected float32", op, arg, vc_dtype_name(t->dtype));
    return VC_OK;
}

vc_status vc_view_reshape(vc_tensor *dst, const vc_tensor *src, int ndim, const int64_t *shape) {
    char b1[96];
    if (!vc_is_contiguous(src))
        return vc_fail(VC_ERR_SHAPE, "reshape: source %s is not contiguous (make it contiguous first)",
                       vc_shape_str(src, b1, sizeof b1));
    vc_tensor t;
    vc_status s = set_shape(&t, src->dtype, ndim, shape);
    if (s) return s;
    if (vc_numel(&t) != vc_numel(src)) {
        char b2[96];
        return vc_fail(VC_ERR_SHAPE, "reshape: %s has %lld elements, target %s has %lld",
                       vc_shape_str(src, b1, sizeof b1), (long long)vc_numel(src),
                       vc_shape_str(&t, b2, sizeof b2), (long long)vc_numel(&t));
    }
    t.device = src->device;
    t.data = src->data;
    *dst = t;
    return VC_OK;
}

vc_status vc_view_permute(vc_tensor *dst, const vc_tensor *src, const int *perm) {
    int seen[VC_MAX_DIMS] = {0};
    vc_tensor t = *src;
    t.owned = NULL;
    for (int i = 0; i < src->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= src->ndim || seen[p]++)
            return vc_fail(VC_ERR_ARG, "permute: invalid permutation of %d dimensions", src->ndim);
        t.ne[i] = src->ne[p];
        t.st[i] = src->st[p];
    }
    *dst = t;
    return VC_OK;
}

vc_status vc_view_transpose(vc_tensor *dst, const vc_tensor *src, int a, int b) {
    int aa = 0, bb = 0;
    vc_status s;
    if ((s = vc_axis("transpose", a, src->ndim, &aa)) || (s = vc_axis("transpose", b, src->ndim, &bb))) return s;
    int perm[VC_MAX_DIMS];
    for (int i = 0; i < VC_MAX_DIMS; i++) perm[i] = i;
    perm[aa] = bb;
    perm[bb] = aa;
    return vc_view_permute(dst, src, perm);
}

vc_status vc_view_slice(vc_tensor *dst, const vc_tensor *src, int axis, int64_t start, int64_t len) {
    int ax = 0;
    vc_status s = vc_axis("slice", axis, src->ndim, &ax);
    if (s) return s;
    if (start < 0 || len < 0 || start + len > src->ne[ax])
        return vc_fail(VC_ERR_ARG, "slice: [%lld, %lld) out of range for axis %d of size %lld", (long long)start,
                       (long long)(start + len), axis, (long long)src->ne[ax]);
    vc_tensor t = *src;
    t.owned = NULL;
    t.ne[ax] = len;
    t.data = (char *)src->data + (size_t)(start * src->st[ax]) * vc_dtype_size(src->dtype);
    *dst = t;
    return VC_OK;
}

/* Reads element at flat offset `o` of any float-like dtype as double. */
static double load_as(const vc_tensor *t, int64_t o) {
    switch (t->dtype) {
    case VC_F32: return ((const vc_real *)t->data)[o];
    case VC_F16: return vc_f16_to_f32(((const uint16_t *)t->data)[o]);
    case VC_BF16: return vc_bf16_to_f32(((const uint16_t *)t->data)[o]);
    case VC_I32: return ((const int32_t *)t->data)[o];
    case VC_I64: return (double)((const int64_t *)t->data)[o];
    case VC_U8: return ((const uint8_t *)t->data)[o];
    default: return 0;
    }
}

static void store_as(const vc_tensor *t, int64_t o, double v) {
    switch (t->dtype) {
    case VC_F32: ((vc_real *)t->data)[o] = (vc_real)v; break;
    case VC_F16: ((uint16_t *)t->data)[o] = vc_f32_to_f16((float)v); break;
    case VC_BF16: ((uint16_t *)t->data)[o] = vc_f32_to_bf16((float)v); break;
    case VC_I32: ((int32_t *)t->data)[o] = (int32_t)v; break;
    case VC_I64: ((int64_t *)t->data)[o] = (int64_t)v; break;
    case VC_U8: ((uint8_t *)t->data)[o] = (uint8_t)v; break;
    default: break;
    }
}

vc_status vc_tensor_copy(vc_tensor *dst, const vc_tensor *src) {
    char b1[96], b2[96];
    if (vc_numel(dst) != vc_numel(src) || dst->ndim != src->ndim || !vc_same_shape(dst, src))
        return vc_fail(VC_ERR_SHAPE, "copy: destination %s, source %s", vc_shape_str(dst, b1, sizeof b1),
                       vc_shape_str(src, b2, sizeof b2));
    if (dst->device != VC_CPU || src->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "copy: only CPU tensors in this build");
    int64_t n = vc_numel(src);
    if (n == 0) return VC_OK;
    if (dst->dtype == src->dtype && vc_is_contiguous(dst) && vc_is_contiguous(src)) {
        memmove(dst->data, src->data, vc_nbytes(src));
        return VC_OK;
    }
    int64_t idx[VC_MAX_DIMS] = {0};
    int nd = src->ndim;
    for (int64_t i = 0; i < n; i++) {
        int64_t os = 0, od = 0;
        for (int d = 0; d < nd; d++) {
            os += idx[d] * src->st[d];
            od += idx[d] * dst->st[d];
        }
        if (dst->dtype == src->dtype && dst->dtype == VC_F32)
            ((vc_real *)dst->data)[od] = ((const vc_real *)src->data)[os];
        else
            store_as(dst, od, load_as(src, os));
        for (int d = nd - 1; d >= 0; d--) {
            if (++idx[d] < src->ne[d]) break;
            idx[d] = 0;
        }
    }
    return VC_OK;
}

vc_status vc_tensor_contiguous(vc_tensor *dst, const vc_tensor *src, vc_arena *a) {
    if (src->dtype == VC_F32 && vc_is_contiguous(src)) {
        *dst = *src;
        dst->owned = NULL;
        return VC_OK;
    }
    vc_tensor t;
    vc_status s = vc_tensor_arena(&t, a, VC_F32, src->ndim, src->ne);
    if (s) return s;
    if ((s = vc_tensor_copy(&t, src))) return s;
    *dst = t;
    return VC_OK;
}

void vc_tensor_fill(vc_tensor *t, vc_real v) {
    const vc_backend *be = vc_backend_for(t->device);
    if (be) be->fill(t->data, v, vc_numel(t));
}
