/* k_gemm.cu: the CUDA backend's matrix products (tensor/k_gemm.c's
 * counterpart) through cuBLAS.
 * Owns: row-major products over cuBLAS's column-major ones. A row-major
 * [M, N] matrix with row stride ldc is the column-major [N, M] matrix with
 * leading dimension ldc, so C = op(A) op(B) is computed as
 * C^T = op(B)^T op(A)^T: cuBLAS gets B first, A second, and M, N swapped;
 * the transpose flags carry over unchanged. Strided batches go to
 * cublasSgemmStridedBatched (a stride of 0 broadcasts A or B); a batch that
 * writes one shared C (sc = 0) runs entry after entry, so its sums keep a
 * fixed order. TF32 is the handle's math mode (vc_cuda_set_tf32).
 * Not here: the handle and stream (backend_cuda.c). */
#include <cstdio>

#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/kernels.h"

namespace {

/* C[M, N] = beta C (beta 0: zeros, C not read): a product with K = 0. */
__global__ void k_scale_rows(float *C, long long ldc, long long M, long long N, float beta) {
    long long n = M * N;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float *c = C + (i / N) * ldc + i % N;
        *c = beta == 0.0f ? 0.0f : beta * *c;
    }
}

bool fits_int(long long v) { return v >= 0 && v <= 2147483647LL; }

} // namespace

extern "C" bool vc_cu_gemm_rm(const char *op, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                              vc_real alpha, const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb,
                              int64_t sb, vc_real beta, vc_real *C, int64_t ldc, int64_t sc) {
    if (batch <= 0 || M == 0 || N == 0) return true;
    if (K == 0) { /* cuBLAS would scale C too, but its beta = 0 contract does not promise zeros */
        if (beta == 1.0f) return true;
        for (int64_t i = 0; i < batch; i++) {
            long long blocks = (M * N + 255) / 256;
            VC_LAUNCH(k_scale_rows, (unsigned)(blocks > 4096 ? 4096 : blocks), 256, 0, vc_cu_stream(), C + i * sc,
                      (long long)ldc, (long long)M, (long long)N, beta);
            if (!vc_cu_launched(op, "k_scale_rows")) return false;
            if (sc == 0) beta = 1; /* later entries add into the same C */
        }
        return true;
    }
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc) ||
        !fits_int(batch)) {
        char why[160];
        snprintf(why, sizeof why, "M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld exceed cuBLAS's int range",
                 (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb, (long long)ldc);
        return vc_cu_blas_check(CUBLAS_STATUS_INVALID_VALUE, op, why);
    }
    cublasHandle_t h = vc_cu_blas();
    if (!h) return false;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (batch == 1)
        return vc_cu_blas_check(vc_cu_sgemm(h, ob, oa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta,
                                            C, (int)ldc),
                                op, "cublasSgemm");
    if (sc == 0) { /* one C for every entry: in order, each adding to the last */
        for (int64_t i = 0; i < batch; i++) {
            if (!vc_cu_blas_check(vc_cu_sgemm(h, ob, oa, (int)N, (int)M, (int)K, &alpha, B + i * sb, (int)ldb,
                                              A + i * sa, (int)lda, &beta, C, (int)ldc),
                                  op, "cublasSgemm"))
                return false;
            beta = 1;
        }
        return true;
    }
    return vc_cu_blas_check(vc_cu_sgemm_strided(h, ob, oa, (int)N, (int)M, (int)K, &alpha, B, (int)ldb,
                                                      (long long)sb, A, (int)lda, (long long)sa, &beta, C, (int)ldc,
                                                      (long long)sc, (int)batch),
                            op, "cublasSgemmStridedBatched");
}

/* C [M, N] (row stride ldc) = alpha op(A) op(B) + beta C */
extern "C" void vc_cu_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A,
                           int64_t lda, const vc_real *B, int64_t ldb, vc_real beta, vc_real *C, int64_t ldc) {
    vc_cu_gemm_rm("gemm", 1, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

/* C_i [M, N] = alpha op(A_i) op(B_i) + beta C_i, i < batch */
extern "C" void vc_cu_gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha,
                                   const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb,
                                   int64_t sb, vc_real beta, vc_real *C, int64_t ldc, int64_t sc) {
    vc_cu_gemm_rm("gemm_batched", batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc);
}
