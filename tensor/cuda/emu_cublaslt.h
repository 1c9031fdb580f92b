/* emu_cublaslt.h: the subset of cuBLASLt (cublasLt.h) that vclip uses,
 * emulated over the emulated cuBLAS (emu_cublas.h) in an emulated build
 * (-DVC_CUDA_EMU): one matmul, D = alpha op(A) op(B) + beta C, with the
 * default epilogue or a bias vector added to every column of D
 * (CUBLASLT_EPILOGUE_BIAS), as vclip's linear layers use it.
 * Owns: declarations with the real names, argument lists and enum values
 * (checked by abi_check.cu), usable from C and C++. Descriptors hold what
 * was set; cublasLtMatmul checks its arguments as cuBLASLt does
 * (CUBLAS_STATUS_INVALID_VALUE, CUBLAS_STATUS_NOT_SUPPORTED for what is not
 * emulated), then queues the product on the stream (recorded when the
 * stream captures): the values the call had are copied, so descriptors may
 * be destroyed at once. Types: A and B both CUDA_R_16BF, CUDA_R_16F or
 * CUDA_R_32F, C and D CUDA_R_32F, compute CUBLAS_COMPUTE_32F (rounding as
 * cublasGemmEx's), scale CUDA_R_32F with host scalars; the bias is float, of
 * D's row count, in device memory.
 * Not here: heuristics and algorithms (the algo argument may be NULL, as
 * cuBLASLt allows), batched layouts, other epilogues and attributes. */
#ifndef VC_CUDA_EMU_CUBLASLT_H
#define VC_CUDA_EMU_CUBLASLT_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/cuda/emu_cublas.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { VC_EMU_CUBLASLT_DESC_ATTRS(VC_EMU_ENUM2) } cublasLtMatmulDescAttributes_t;
typedef enum { VC_EMU_CUBLASLT_EPILOGUES(VC_EMU_ENUM2) } cublasLtEpilogue_t;

typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct vc_emu_lt_desc *cublasLtMatmulDesc_t;
typedef struct vc_emu_lt_layout *cublasLtMatrixLayout_t;
typedef struct {
    uint64_t data[8];
} cublasLtMatmulAlgo_t;

cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle);
cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle);
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc, cublasComputeType_t computeType,
                                        cudaDataType_t scaleType);
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc);
/* sizeInBytes must be the attribute's own size (4, or 8 for the bias pointer). */
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t sizeInBytes);
/* rows x cols, column-major, leading dimension ld >= rows. */
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld);
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout);
cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void *alpha,
                              const void *A, cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
                              const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace,
                              size_t workspaceSizeInBytes, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
