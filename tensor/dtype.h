/* dtype.h: element types and devices a tensor can carry, and the float16 /
 * bfloat16 <-> float32 conversions (embeddings are stored as float16).
 * Compute kernels run on VC_F32 (see real.h); the other types are storage. */
#ifndef VC_DTYPE_H
#define VC_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { VC_F32 = 0, VC_F16, VC_BF16, VC_I32, VC_I64, VC_U8, VC_NDTYPES } vc_dtype;
typedef enum { VC_CPU = 0, VC_CUDA } vc_device;

size_t vc_dtype_size(vc_dtype t);
const char *vc_dtype_name(vc_dtype t);
const char *vc_device_name(vc_device d);

/* IEEE binary16: round to nearest even, overflow to Inf, NaN kept NaN,
 * subnormals exact in both directions. */
uint16_t vc_f32_to_f16(float f);
float vc_f16_to_f32(uint16_t h);
/* bfloat16: the top half of a float32, rounded to nearest even. */
uint16_t vc_f32_to_bf16(float f);
float vc_bf16_to_f32(uint16_t h);

/* Bulk conversions for n elements. */
void vc_f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void vc_f32_to_f16_n(uint16_t *dst, const float *src, size_t n);
void vc_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n);

/* Index of the first NaN or Inf among x[0..n), -1 when all are finite (a
 * branch-free scan of the exponent bits, then a search only on failure). */
int64_t vc_first_nonfinite(const float *x, size_t n);

#endif
