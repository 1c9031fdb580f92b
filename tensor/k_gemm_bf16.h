/* k_gemm_bf16.h: row-major matrix products with bfloat16 inputs and float32
 * accumulation and output, through oneDNN's matmul primitive (which uses the
 * CPU's AVX512_BF16 instructions where it has them).
 *   C[M,N] (float32) = alpha * op(A) op(B) + beta * C,  op = transpose if ta/tb.
 * A and B are float32 (rounded to bf16, nearest even, on the way in) unless
 * flags has VC_GEMM_A_BF16 / VC_GEMM_B_BF16: then they are bf16 already
 * (uint16_t storage, the top half of a float32). lda/ldb/ldc are row strides
 * in elements, as stored.
 * Owns: the oneDNN engine and stream, a per-thread cache of matmul primitives
 * keyed by shape, strides, transposes, input types, alpha and beta (a training
 * step or a tower calls the same few shapes over and over), per-thread bf16
 * conversion buffers, and the once-per-process check of the CPU's ISA.
 * Not here: deciding whether to use bf16 (callers ask vc_gemm_bf16_fast). */
#ifndef VC_K_GEMM_BF16_H
#define VC_K_GEMM_BF16_H

#include <stdbool.h>
#include <stdint.h>

/* True when the CPU runs bf16 products natively (oneDNN's effective ISA
 * includes AVX512_BF16, or AMX) and VCLIP_BF16 is not "off" in the
 * environment (which forces the float32 fallback, for testing it). Checked
 * once per process. */
bool vc_gemm_bf16_fast(void);
/* "avx512_core_bf16", "avx512_core_amx", ... : oneDNN's effective CPU ISA. */
const char *vc_gemm_bf16_isa(void);
/* oneDNN primitives made so far (each thread caches the ones it ran, keyed
 * by shape, strides, alpha, beta and transposes): a repeated product must
 * not make a new one (tests watch this). */
long vc_gemm_bf16_primitives(void);

void vc_gemm_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                  int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* C = op(A) op(B) + bias + res inside the product (oneDNN's bias argument
 * and a post-op: no separate pass writing bias or res into C first). bias
 * [N] is added to every row; res [M, N], laid out as C (row stride ldc), is
 * NULL (nothing added; C is not read), C itself (accumulate), or another
 * matrix, such as the residual stream of a block. Either may be NULL. */
void vc_gemm_bias_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                       const void *B, int64_t ldb, const float *bias, const float *res, float *C, int64_t ldc);

/* `batch` independent products; entry i uses A + i*sa, B + i*sb, C + i*sc
 * (elements of each operand's own type; sb = 0 shares B; sc = 0 adds every
 * entry into one C, in order). */
void vc_gemm_batched_bf16(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                          float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb,
                          float beta, float *C, int64_t ldc, int64_t sc);

/* Round n float32 values to bf16 (nearest even; NaN stays NaN). */
void vc_f32_to_bf16_n(uint16_t *dst, const float *src, int64_t n);

#endif
