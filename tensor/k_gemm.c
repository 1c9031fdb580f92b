#include "k_gemm.h"

#include <cblas.h>

#ifdef VC_DOUBLE
#define vc_cblas_gemm cblas_dgemm
#else
#define vc_cblas_gemm cblas_sgemm
#endif

void vc_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda,
             const vc_real *B, int64_t ldb, vc_real beta, vc_real *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) { /* C = beta * C; BLAS would do this too but some builds reject K=0 */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
        return;
    }
    vc_cblas_gemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                  (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void vc_gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha,
                     const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb, int64_t sb,
                     vc_real beta, vc_real *C, int64_t ldc, int64_t sc) {
    /* OpenBLAS runs products this small (M*N*K <= 2^18) on the calling thread, so spreading
     * the batch over OpenMP threads is safe and uses every core. A shared B
     * with a shared C (sc == 0) would race, so that case stays serial. */
    int small = M * N * K <= 64 * 64 * 64 && sc != 0;
#pragma omp parallel for schedule(static) if (small && batch > 1)
    for (int64_t i = 0; i < batch; i++)
        vc_gemm(ta, tb, M, N, K, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C + i * sc, ldc);
}
