/* tensor.h: the tensor struct, its storage, and views.
 * A tensor is a typed, strided window on memory it may or may not own:
 *   - vc_tensor_alloc: heap storage, 64-byte aligned, zeroed; owner frees it
 *     with vc_tensor_release;
 *   - vc_tensor_arena: storage from an arena (freed by the arena's reset);
 *   - vc_tensor_wrap: caller's memory.
 * Views (reshape, permute, transpose, slice) copy the struct and borrow the
 * memory: the base must outlive them. Strides are in elements. The device tag
 * lets a CUDA backend serve the same struct; CPU functions refuse other
 * devices with VC_ERR_DEVICE. Shapes are written [d0,d1,...] in messages. */
#ifndef VC_TENSOR_H
#define VC_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "dtype.h"
#include "real.h"
#include "status.h"

#define VC_MAX_DIMS 5

typedef struct vc_tensor {
    vc_dtype dtype;
    vc_device device;
    int ndim;
    int64_t ne[VC_MAX_DIMS];  /* sizes; unused dims are 1 */
    int64_t st[VC_MAX_DIMS];  /* strides in elements; unused dims are 0 */
    void *data;               /* first element */
    void *owned;              /* allocation to free, NULL for views/arena/wrapped */
} vc_tensor;

/* `VC_DIMS(2, 3)` expands to the (ndim, shape) argument pair `2, (int64_t[]){2, 3}`. */
#define VC_DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

vc_status vc_tensor_alloc(vc_tensor *t, vc_dtype dtype, int ndim, const int64_t *shape);
vc_status vc_tensor_arena(vc_tensor *t, vc_arena *a, vc_dtype dtype, int ndim, const int64_t *shape);
vc_status vc_tensor_wrap(vc_tensor *t, void *data, vc_dtype dtype, int ndim, const int64_t *shape);
void vc_tensor_release(vc_tensor *t);

int64_t vc_numel(const vc_tensor *t);
size_t vc_nbytes(const vc_tensor *t);
bool vc_is_contiguous(const vc_tensor *t);
bool vc_same_shape(const vc_tensor *a, const vc_tensor *b);
/* "[2,3,4]" into buf (returns buf), for messages. */
const char *vc_shape_str(const vc_tensor *t, char *buf, int len);
/* Element i of a contiguous F32 tensor, or of any tensor by index vector. */
static inline vc_real *vc_f32(const vc_tensor *t) { return (vc_real *)t->data; }

/* Views. dst may alias src. A negative axis counts from the end. */
vc_status vc_view_reshape(vc_tensor *dst, const vc_tensor *src, int ndim, const int64_t *shape);
vc_status vc_view_permute(vc_tensor *dst, const vc_tensor *src, const int *perm);
vc_status vc_view_transpose(vc_tensor *dst, const vc_tensor *src, int a, int b);
vc_status vc_view_slice(vc_tensor *dst, const vc_tensor *src, int axis, int64_t start, int64_t len);

/* Element-wise copy between tensors of the same shape (any strides; F32<->F16
 * and F32<->BF16 convert). */
vc_status vc_tensor_copy(vc_tensor *dst, const vc_tensor *src);
/* A contiguous F32 tensor with src's values: src itself if already contiguous,
 * else a copy in the arena. */
vc_status vc_tensor_contiguous(vc_tensor *dst, const vc_tensor *src, vc_arena *a);
void vc_tensor_fill(vc_tensor *t, vc_real v);  /* contiguous F32 only */

/* Element i of a contiguous integer (I32 or I64) tensor. */
static inline int64_t vc_int_at(const vc_tensor *t, int64_t i) {
    return t->dtype == VC_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

/* Checks shared by the ops: F32 dtype on the CPU. `op` names the caller. */
vc_status vc_check_f32_cpu(const char *op, const char *arg, const vc_tensor *t);
/* Normalises a possibly negative axis; fails naming op if out of range. */
vc_status vc_axis(const char *op, int axis, int ndim, int *out);

#endif
