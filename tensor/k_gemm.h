/* k_gemm.h: row-major matrix products through CBLAS (OpenBLAS).
 * C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose if ta/tb.
 * lda/ldb/ldc are the row strides of A, B, C as stored. */
#ifndef VC_K_GEMM_H
#define VC_K_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "real.h"

void vc_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda,
             const vc_real *B, int64_t ldb, vc_real beta, vc_real *C, int64_t ldc);

/* `batch` independent products; entry i uses A + i*sa, B + i*sb, C + i*sc
 * (sb = 0 shares B). Small products run in parallel across the batch. */
void vc_gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha,
                     const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb, int64_t sb,
                     vc_real beta, vc_real *C, int64_t ldc, int64_t sc);

#endif
