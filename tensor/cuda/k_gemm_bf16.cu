/* k_gemm_bf16.cu: the CUDA backend's 16-bit products and casts
 * (tensor/k_gemm_bf16.c's counterpart): C (float32) = alpha op(A) op(B) +
 * beta C with bf16 or IEEE half inputs and float32 accumulation, through
 * cublasGemmEx / cublasGemmStridedBatchedEx (compute type
 * CUBLAS_COMPUTE_32F: tensor cores, float32 sums), and the element casts
 * float32 <-> bf16 / half on the device.
 * Owns: those launchers. An operand given in float32 (flags without
 * VC_GEMM_A_BF16 / VC_GEMM_B_BF16) is first rounded to the 16-bit type
 * (nearest even) into a scratch buffer of the backend (vc_cu_scratch), with
 * its layout (leading dimension, batch stride) kept, since cuBLAS wants both
 * inputs of one type. Row-major over column-major as in k_gemm.cu
 * (C^T = op(B)^T op(A)^T). A batch that writes one shared C (sc = 0) runs
 * entry after entry, each adding to the last, so its sums keep a fixed order.
 * gemm_bias_bf16 adds a linear layer's bias and residual inside the product:
 * the residual as cuBLASLt's C (beta 1), the bias in its epilogue; where
 * cuBLASLt is missing or has no kernel for the case, bias_fwd writes both
 * into C first and gemm_bf16 accumulates onto it.
 * Not here: the handles, the stream and the scratch buffers (backend_cuda.c). */
#include <cstdio>

#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

__global__ void k_f32_to_bf16(const float *x, unsigned short *y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __bfloat16_as_ushort(__float2bfloat16(x[i]));
}

__global__ void k_f32_to_f16(const float *x, unsigned short *y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __half_as_ushort(__float2half(x[i]));
}

__global__ void k_bf16_to_f32(const unsigned short *x, float *y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __bfloat162float(__ushort_as_bfloat16(x[i]));
}

__global__ void k_f16_to_f32(const unsigned short *x, float *y, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        y[i] = __half2float(__ushort_as_half(x[i]));
}

bool cast_down(const char *op, bool half, const float *x, uint16_t *y, int64_t n) {
    if (n <= 0) return true;
    if (half) {
        VC_LAUNCH(k_f32_to_f16, vc_grid::blocks_for(n), vc_grid::kThreads, 0, vc_cu_stream(), x, y, (long long)n);
        return vc_cu_launched(op, "k_f32_to_f16");
    }
    VC_LAUNCH(k_f32_to_bf16, vc_grid::blocks_for(n), vc_grid::kThreads, 0, vc_cu_stream(), x, y, (long long)n);
    return vc_cu_launched(op, "k_f32_to_bf16");
}

bool fits_int(long long v) { return v >= 0 && v <= 2147483647LL; }

/* Elements from an operand's first to its last, over every batch entry:
 * rows x cols row-major with row stride ld, entries stride apart. */
int64_t span(int64_t batch, int64_t rows, int64_t cols, int64_t ld, int64_t stride) {
    return (batch - 1) * stride + (rows - 1) * ld + cols;
}

/* The operand as the 16-bit type: itself when the flag says it already is,
 * else its float32 span rounded into scratch slot `slot` (same layout). */
const void *as_16(const char *op, bool half, bool is16, const void *X, int64_t n, int slot) {
    if (is16) return X;
    uint16_t *d = (uint16_t *)vc_cu_scratch(slot, (size_t)n * sizeof(uint16_t), op);
    if (!d || !cast_down(op, half, (const float *)X, d, n)) return NULL;
    return d;
}

void gemm16(const char *op, bool half, unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N,
            int64_t K, float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb,
            float beta, float *C, int64_t ldc, int64_t sc) {
    if (batch <= 0 || M == 0 || N == 0) return;
    if (K == 0) { /* C = beta C: the float32 path does it without reading A or B */
        vc_cu_gemm_rm(op, batch, ta, tb, M, N, K, alpha, (const float *)A, lda, sa, (const float *)B, ldb, sb, beta,
                      C, ldc, sc);
        return;
    }
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc) ||
        !fits_int(batch)) {
        char why[160];
        snprintf(why, sizeof why, "M=%lld N=%lld K=%lld lda=%lld ldb=%lld ldc=%lld exceed cuBLAS's int range",
                 (long long)M, (long long)N, (long long)K, (long long)lda, (long long)ldb, (long long)ldc);
        vc_cu_blas_check(CUBLAS_STATUS_INVALID_VALUE, op, why);
        return;
    }
    cublasHandle_t h = vc_cu_blas();
    if (!h) return;
    int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    const void *a = as_16(op, half, flags & VC_GEMM_A_BF16, A, span(batch, ra, ca, lda, sa), 0);
    const void *b = as_16(op, half, flags & VC_GEMM_B_BF16, B, span(batch, rb, cb, ldb, sb), 1);
    if (!a || !b) return;
    cudaDataType t16 = half ? CUDA_R_16F : CUDA_R_16BF;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    const uint16_t *a16 = (const uint16_t *)a, *b16 = (const uint16_t *)b;
    if (batch == 1 || sc == 0) { /* one product, or entries in order into one C */
        for (int64_t i = 0; i < batch; i++) {
            if (!vc_cu_blas_check(vc_cu_gemm_ex(h, ob, oa, (int)N, (int)M, (int)K, &alpha, b16 + i * sb, t16, (int)ldb,
                                                a16 + i * sa, t16, (int)lda, &beta, C, CUDA_R_32F, (int)ldc,
                                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                                  op, "cublasGemmEx"))
                return;
            beta = 1;
        }
        return;
    }
    vc_cu_blas_check(vc_cu_gemm_strided_ex(h, ob, oa, (int)N, (int)M, (int)K, &alpha, b16, t16, (int)ldb,
                                           (long long)sb, a16, t16, (int)lda, (long long)sa, &beta, C, CUDA_R_32F,
                                           (int)ldc, (long long)sc, (int)batch, CUBLAS_COMPUTE_32F,
                                           CUBLAS_GEMM_DEFAULT),
                     op, "cublasGemmStridedBatchedEx");
}

/* C = op(A) op(B) + bias + res (k_gemm_bf16.h), row-major over cuBLASLt's
 * column-major: C^T = op(B)^T op(A)^T + res^T + bias, the bias one value
 * per row of C^T. False (nothing queued) where cuBLASLt cannot do it. */
bool gemm_bias_lt(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                  const void *B, int64_t ldb, const float *bias, const float *res, float *C, int64_t ldc) {
    const char *op = "gemm_bias_bf16";
    if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(lda) || !fits_int(ldb) || !fits_int(ldc) || K == 0)
        return false;
    int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    const void *a = as_16(op, false, flags & VC_GEMM_A_BF16, A, span(1, ra, ca, lda, 0), 0);
    const void *b = as_16(op, false, flags & VC_GEMM_B_BF16, B, span(1, rb, cb, ldb, 0), 1);
    if (!a || !b) return true; /* recorded */
    cublasStatus_t st = vc_cu_lt_matmul(tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                                        (int)K, b, (int)ldb, a, (int)lda, CUDA_R_16BF, res ? 1.0f : 0.0f, res, C,
                                        (int)ldc, bias);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) return false;
    vc_cu_blas_check(st, op, "cublasLtMatmul");
    return true;
}

} // namespace

/* C [M, N] = op(A) op(B) + bias + res: cuBLASLt's bias epilogue, else the
 * terms written first and the product accumulated onto them */
extern "C" void vc_cu_gemm_bias_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A,
                                     int64_t lda, const void *B, int64_t ldb, const float *bias, const float *res,
                                     float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (gemm_bias_lt(flags, ta, tb, M, N, K, A, lda, B, ldb, bias, res, C, ldc)) return;
    bool terms = bias || res;
    if (terms) vc_cu_bias_fwd_ld(C, bias, res, M, N, ldc);
    gemm16("gemm_bias_bf16", false, flags, 1, ta, tb, M, N, K, 1.0f, A, lda, 0, B, ldb, 0, terms ? 1.0f : 0.0f, C, ldc,
           0);
}

/* C [M, N] (float32) = alpha op(A) op(B) + beta C, A and B bf16 or float32 */
extern "C" void vc_cu_gemm_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                                const void *A, int64_t lda, const void *B, int64_t ldb, float beta, float *C,
                                int64_t ldc) {
    gemm16("gemm_bf16", false, flags, 1, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

/* C_i [M, N] = alpha op(A_i) op(B_i) + beta C_i, i < batch */
extern "C" void vc_cu_gemm_batched_bf16(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N,
                                        int64_t K, float alpha, const void *A, int64_t lda, int64_t sa, const void *B,
                                        int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc, int64_t sc) {
    gemm16("gemm_batched_bf16", false, flags, batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
           sc);
}

/* The same with IEEE half inputs */
extern "C" void vc_cu_gemm_f16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                               const void *A, int64_t lda, const void *B, int64_t ldb, float beta, float *C,
                               int64_t ldc) {
    gemm16("gemm_f16", true, flags, 1, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

extern "C" void vc_cu_gemm_batched_f16(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N,
                                       int64_t K, float alpha, const void *A, int64_t lda, int64_t sa, const void *B,
                                       int64_t ldb, int64_t sb, float beta, float *C, int64_t ldc, int64_t sc) {
    gemm16("gemm_batched_f16", true, flags, batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc);
}

/* y [n] = x rounded to bf16 / half (nearest even) */
extern "C" void vc_cu_round_bf16(const float *x, uint16_t *y, int64_t n) { cast_down("round_bf16", false, x, y, n); }
extern "C" void vc_cu_round_f16(const float *x, uint16_t *y, int64_t n) { cast_down("round_f16", true, x, y, n); }

/* y [n] = x widened to float32 (exact) */
extern "C" void vc_cu_widen_bf16(const uint16_t *x, float *y, int64_t n) {
    if (n <= 0) return;
    VC_LAUNCH(k_bf16_to_f32, vc_grid::blocks_for(n), vc_grid::kThreads, 0, vc_cu_stream(), x, y, (long long)n);
    vc_cu_launched("widen_bf16", "k_bf16_to_f32");
}
extern "C" void vc_cu_widen_f16(const uint16_t *x, float *y, int64_t n) {
    if (n <= 0) return;
    VC_LAUNCH(k_f16_to_f32, vc_grid::blocks_for(n), vc_grid::kThreads, 0, vc_cu_stream(), x, y, (long long)n);
    vc_cu_launched("widen_f16", "k_f16_to_f32");
}
