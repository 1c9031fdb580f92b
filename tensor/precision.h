/* precision.h: the compute precision of matrix products, and whether a
 * backend can give it.
 *   fp32: every product in float32.
 *   bf16: the products' inputs rounded to bfloat16, float32 accumulation and
 *         output (backend entries gemm_bf16 / gemm_batched_bf16); everything
 *         else (LayerNorm, softmax, the loss, the optimiser) stays float32.
 *   fp16: the same with IEEE half inputs (gemm_f16 / gemm_batched_f16):
 *         inference only (the CLIP towers), where a backend has them (CUDA).
 * Owns: the enum, its names, and the fallback rule: bf16 asked of a backend
 * that has no fast bf16 products (supports_op false) computes in float32.
 * Not here: where the precision is used (models/clip.c, autograd/op_*.c),
 * telling the user about a fallback (tools/ does, once). */
#ifndef VC_PRECISION_H
#define VC_PRECISION_H

#include <stdbool.h>

#include "backend.h"
#include "status.h"

typedef enum { VC_PREC_FP32 = 0, VC_PREC_BF16, VC_PREC_FP16 } vc_precision;

/* "fp32" / "bf16" / "fp16"; anything else fails naming the value and the
 * choices. */
vc_status vc_precision_parse(const char *s, vc_precision *out);
const char *vc_precision_name(vc_precision p);

/* The precision be computes p in: p itself, or fp32 where be has no bf16
 * (fp16) products. */
vc_precision vc_precision_on(const vc_backend *be, vc_precision p);

/* One line on why bf16 or fp16 falls back on be ("this CPU has no AVX512_BF16 ..."),
 * for the caller to print; "" when it does not. */
const char *vc_precision_fallback_reason(const vc_backend *be, vc_precision p);

#endif
