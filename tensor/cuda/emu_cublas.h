/* emu_cublas.h: the subset of cuBLAS (cublas_v2.h) that vclip uses, emulated
 * over CBLAS (OpenBLAS) in an emulated build (-DVC_CUDA_EMU).
 * Owns: declarations with the real names, argument lists and enum values
 * (checked by abi_check.cu), usable from C and C++. cuBLAS is column-major
 * like CblasColMajor, so each product is one cblas_sgemm per batch entry.
 * Arguments are checked as cuBLAS does (CUBLAS_STATUS_INVALID_VALUE); every
 * matrix must lie inside one device allocation (else the emulator aborts
 * naming the call: on a GPU it would be an illegal address). TF32 and the
 * reduced-precision compute types round the inputs as the tensor cores do,
 * so tolerances seen here are those a GPU gives. A call issued on a
 * capturing stream is recorded like a kernel.
 * Not here: cuBLASLt, level 1/2 BLAS, complex and double types. */
#ifndef VC_CUDA_EMU_CUBLAS_H
#define VC_CUDA_EMU_CUBLAS_H

#include "tensor/cuda/emu_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { VC_EMU_CUBLAS_STATUSES(VC_EMU_ENUM3) } cublasStatus_t;
typedef enum { VC_EMU_CUBLAS_OPS(VC_EMU_ENUM2) } cublasOperation_t;
typedef enum { VC_EMU_CUBLAS_POINTER_MODES(VC_EMU_ENUM2) } cublasPointerMode_t;
typedef enum { VC_EMU_CUBLAS_MATH_MODES(VC_EMU_ENUM2) } cublasMath_t;
typedef enum { VC_EMU_CUBLAS_COMPUTE_TYPES(VC_EMU_ENUM2) } cublasComputeType_t;
typedef enum { VC_EMU_CUBLAS_GEMM_ALGOS(VC_EMU_ENUM2) } cublasGemmAlgo_t;
typedef enum cudaDataType_t { VC_EMU_CUDA_DATA_TYPES(VC_EMU_ENUM2) } cudaDataType;
typedef enum cudaDataType_t cudaDataType_t;

typedef struct vc_emu_cublas *cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t *stream);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t *mode);
cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode);
cublasStatus_t cublasGetPointerMode(cublasHandle_t handle, cublasPointerMode_t *mode);
/* Accepted and ignored (emulated products need no workspace). */
cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes);
const char *cublasGetStatusName(cublasStatus_t status);
const char *cublasGetStatusString(cublasStatus_t status);

/* C = alpha op(A) op(B) + beta C, column-major; C is m x n, op(A) m x k. */
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                           const float *beta, float *C, int ldc);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float *alpha, const float *A, int lda,
                                         long long int strideA, const float *B, int ldb, long long int strideB,
                                         const float *beta, float *C, int ldc, long long int strideC,
                                         int batchCount);
/* Types: A and B both CUDA_R_32F, CUDA_R_16BF or CUDA_R_16F; C that type or
 * CUDA_R_32F; computeType one of the CUBLAS_COMPUTE_32F* (alpha and beta are
 * floats). Other combinations give CUBLAS_STATUS_NOT_SUPPORTED. */
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo);
cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb,
                                          long long int strideB, const void *beta, void *C, cudaDataType Ctype,
                                          int ldc, long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo);

#ifdef __cplusplus
}
#endif

#endif
