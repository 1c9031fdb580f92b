/* f16_fast.h: float16 -> float32 conversion for the data path.
 * Frame embeddings are stored as float16 and every batch converts them, so this
 * runs at memory speed: it uses the CPU's conversion instructions (AVX-512F
 * vcvtph2ps, else F16C) when the running CPU has them, chosen once at run time,
 * so it works in builds without -march=native too; otherwise it falls back to
 * the exact scalar routine of tensor/dtype.c.
 * Every non-NaN input gives the same float as vc_f16_to_f32 (the conversion is
 * exact, subnormals included); a NaN stays a NaN (the hardware sets its quiet bit). */
#ifndef VC_F16_FAST_H
#define VC_F16_FAST_H

#include <stddef.h>
#include <stdint.h>

void vc_f16_to_f32_fast(float *dst, const uint16_t *src, size_t n);

/* Which path vc_f16_to_f32_fast takes on this CPU: "avx512f", "f16c" or "scalar". */
const char *vc_f16_fast_path(void);

#endif
