/* abi_check.cu: compile-time proof that the emulator declares the CUDA and
 * cuBLAS API the way the toolkit does. Compiled by nvcc (make cuda-check) it
 * checks every enum value of emu_codes.h and every emulated cudaDeviceProp
 * field against the real headers (CUDA runtime, cuBLAS, cuBLASLt); compiled for the emulator it checks the
 * emulator's declarations. In both, every emulated function must have the
 * signature listed below, so code that compiles against one compiles
 * against the other (only the C++ overloads beyond these may differ). No code is generated. */
#include <type_traits>

#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/emu_codes.h"

namespace vc_abi_check {

/* static_cast to the pointer type picks the overload with exactly that
 * signature (the C++ headers overload some), or fails to compile. */
#define VC_ABI_SIG(fn, sig) (void)static_cast<std::add_pointer<sig>::type>(&fn);
#define VC_ABI_SIGNATURES(X)                                                                                       \
    X(cudaGetDeviceCount, cudaError_t(int *))                                                                      \
    X(cudaSetDevice, cudaError_t(int))                                                                             \
    X(cudaGetDevice, cudaError_t(int *))                                                                           \
    X(cudaDeviceGetAttribute, cudaError_t(int *, enum cudaDeviceAttr, int))                                        \
    X(cudaDeviceSynchronize, cudaError_t(void))                                                                    \
    X(cudaRuntimeGetVersion, cudaError_t(int *))                                                                   \
    X(cudaDriverGetVersion, cudaError_t(int *))                                                                    \
    X(cudaMemGetInfo, cudaError_t(size_t *, size_t *))                                                             \
    X(cudaGetLastError, cudaError_t(void))                                                                         \
    X(cudaPeekAtLastError, cudaError_t(void))                                                                      \
    X(cudaGetErrorString, const char *(cudaError_t))                                                               \
    X(cudaGetErrorName, const char *(cudaError_t))                                                                 \
    X(cudaFree, cudaError_t(void *))                                                                               \
    X(cudaHostAlloc, cudaError_t(void **, size_t, unsigned int))                                                   \
    X(cudaFreeHost, cudaError_t(void *))                                                                           \
    X(cudaMemcpy, cudaError_t(void *, const void *, size_t, enum cudaMemcpyKind))                                  \
    X(cudaMemcpyAsync, cudaError_t(void *, const void *, size_t, enum cudaMemcpyKind, cudaStream_t))               \
    X(cudaMemset, cudaError_t(void *, int, size_t))                                                                \
    X(cudaMemsetAsync, cudaError_t(void *, int, size_t, cudaStream_t))                                             \
    X(cudaStreamCreate, cudaError_t(cudaStream_t *))                                                               \
    X(cudaStreamCreateWithFlags, cudaError_t(cudaStream_t *, unsigned int))                                        \
    X(cudaStreamDestroy, cudaError_t(cudaStream_t))                                                                \
    X(cudaStreamSynchronize, cudaError_t(cudaStream_t))                                                            \
    X(cudaStreamQuery, cudaError_t(cudaStream_t))                                                                  \
    X(cudaStreamWaitEvent, cudaError_t(cudaStream_t, cudaEvent_t, unsigned int))                                   \
    X(cudaEventCreate, cudaError_t(cudaEvent_t *))                                                                 \
    X(cudaEventCreateWithFlags, cudaError_t(cudaEvent_t *, unsigned int))                                          \
    X(cudaEventDestroy, cudaError_t(cudaEvent_t))                                                                  \
    X(cudaEventRecord, cudaError_t(cudaEvent_t, cudaStream_t))                                                     \
    X(cudaEventSynchronize, cudaError_t(cudaEvent_t))                                                              \
    X(cudaEventQuery, cudaError_t(cudaEvent_t))                                                                    \
    X(cudaEventElapsedTime, cudaError_t(float *, cudaEvent_t, cudaEvent_t))                                        \
    X(cudaLaunchHostFunc, cudaError_t(cudaStream_t, cudaHostFn_t, void *))                                         \
    X(cudaStreamBeginCapture, cudaError_t(cudaStream_t, enum cudaStreamCaptureMode))                               \
    X(cudaStreamEndCapture, cudaError_t(cudaStream_t, cudaGraph_t *))                                              \
    X(cudaStreamIsCapturing, cudaError_t(cudaStream_t, enum cudaStreamCaptureStatus *))                            \
    X(cudaGraphGetNodes, cudaError_t(cudaGraph_t, cudaGraphNode_t *, size_t *))                                    \
    X(cudaGraphInstantiate, cudaError_t(cudaGraphExec_t *, cudaGraph_t, unsigned long long))                       \
    X(cudaGraphLaunch, cudaError_t(cudaGraphExec_t, cudaStream_t))                                                 \
    X(cudaGraphExecDestroy, cudaError_t(cudaGraphExec_t))                                                          \
    X(cudaGraphDestroy, cudaError_t(cudaGraph_t))                                                                  \
    X(cublasCreate, cublasStatus_t(cublasHandle_t *))                                                              \
    X(cublasDestroy, cublasStatus_t(cublasHandle_t))                                                               \
    X(cublasSetStream, cublasStatus_t(cublasHandle_t, cudaStream_t))                                               \
    X(cublasGetStream, cublasStatus_t(cublasHandle_t, cudaStream_t *))                                             \
    X(cublasSetMathMode, cublasStatus_t(cublasHandle_t, cublasMath_t))                                             \
    X(cublasGetMathMode, cublasStatus_t(cublasHandle_t, cublasMath_t *))                                           \
    X(cublasSetPointerMode, cublasStatus_t(cublasHandle_t, cublasPointerMode_t))                                   \
    X(cublasGetPointerMode, cublasStatus_t(cublasHandle_t, cublasPointerMode_t *))                                 \
    X(cublasSetWorkspace, cublasStatus_t(cublasHandle_t, void *, size_t))                                          \
    X(cublasGetStatusName, const char *(cublasStatus_t))                                                           \
    X(cublasGetStatusString, const char *(cublasStatus_t))                                                         \
    X(cublasSgemm, cublasStatus_t(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,             \
                                  const float *, const float *, int, const float *, int, const float *, float *,   \
                                  int))                                                                            \
    X(cublasSgemmStridedBatched,                                                                                   \
      cublasStatus_t(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,           \
                     const float *, int, long long int, const float *, int, long long int, const float *, float *, \
                     int, long long int, int))                                                                     \
    X(cublasGemmEx, cublasStatus_t(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,            \
                                   const void *, const void *, cudaDataType, int, const void *, cudaDataType, int, \
                                   const void *, void *, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t))  \
    X(cublasGemmStridedBatchedEx,                                                                                  \
      cublasStatus_t(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,            \
                     const void *, cudaDataType, int, long long int, const void *, cudaDataType, int,              \
                     long long int, const void *, void *, cudaDataType, int, long long int, int,                   \
                     cublasComputeType_t, cublasGemmAlgo_t))                                                     \
    X(cublasLtCreate, cublasStatus_t(cublasLtHandle_t *))                                                          \
    X(cublasLtDestroy, cublasStatus_t(cublasLtHandle_t))                                                           \
    X(cublasLtMatmulDescCreate, cublasStatus_t(cublasLtMatmulDesc_t *, cublasComputeType_t, cudaDataType_t))       \
    X(cublasLtMatmulDescDestroy, cublasStatus_t(cublasLtMatmulDesc_t))                                             \
    X(cublasLtMatmulDescSetAttribute,                                                                              \
      cublasStatus_t(cublasLtMatmulDesc_t, cublasLtMatmulDescAttributes_t, const void *, size_t))                  \
    X(cublasLtMatrixLayoutCreate, cublasStatus_t(cublasLtMatrixLayout_t *, cudaDataType, uint64_t, uint64_t, int64_t)) \
    X(cublasLtMatrixLayoutDestroy, cublasStatus_t(cublasLtMatrixLayout_t))                                         \
    X(cublasLtMatmul, cublasStatus_t(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,           \
                                     cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *,   \
                                     const void *, cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,         \
                                     const cublasLtMatmulAlgo_t *, void *, size_t, cudaStream_t))
inline void signatures() { VC_ABI_SIGNATURES(VC_ABI_SIG) }

/* cudaMalloc, cudaMallocHost and cudaGetDeviceProperties are overloaded or
 * versioned in the C++ headers: check the call forms instead. */
inline void call_forms(void **p, cudaDeviceProp *prop) {
    (void)sizeof(cudaMalloc(p, 1));
    (void)sizeof(cudaMallocHost(p, 1));
    (void)sizeof(cudaGetDeviceProperties(prop, 0));
    (void)sizeof(cudaFuncSetAttribute((const void *)nullptr, cudaFuncAttributeMaxDynamicSharedMemorySize, 0));
}

#if defined(__CUDACC__)
#define VC_ABI_VALUE3(name, value, text) static_assert((long long)(name) == (value), #name " differs from the emulator's value");
#define VC_ABI_VALUE2(name, value) static_assert((long long)(name) == (value), #name " differs from the emulator's value");
VC_EMU_CUDA_ERRORS(VC_ABI_VALUE3)
VC_EMU_CUDA_MEMCPY_KINDS(VC_ABI_VALUE2)
VC_EMU_CUDA_CAPTURE_MODES(VC_ABI_VALUE2)
VC_EMU_CUDA_CAPTURE_STATUSES(VC_ABI_VALUE2)
VC_EMU_CUDA_FUNC_ATTRS(VC_ABI_VALUE2)
VC_EMU_CUDA_DEVICE_ATTRS(VC_ABI_VALUE2)
VC_EMU_CUDA_FLAGS(VC_ABI_VALUE2)
VC_EMU_CUDA_DATA_TYPES(VC_ABI_VALUE2)
VC_EMU_CUBLAS_STATUSES(VC_ABI_VALUE3)
VC_EMU_CUBLAS_OPS(VC_ABI_VALUE2)
VC_EMU_CUBLAS_POINTER_MODES(VC_ABI_VALUE2)
VC_EMU_CUBLAS_MATH_MODES(VC_ABI_VALUE2)
VC_EMU_CUBLAS_COMPUTE_TYPES(VC_ABI_VALUE2)
VC_EMU_CUBLAS_GEMM_ALGOS(VC_ABI_VALUE2)
VC_EMU_CUBLASLT_DESC_ATTRS(VC_ABI_VALUE2)
VC_EMU_CUBLASLT_EPILOGUES(VC_ABI_VALUE2)
#endif

/* Every field the emulator fills exists, with the same type, in the real
 * struct. */
#define VC_ABI_FIELDS(X)                                                                                    \
    X(name, char[256])                                                                                      \
    X(totalGlobalMem, size_t) X(sharedMemPerBlock, size_t) X(regsPerBlock, int) X(warpSize, int)            \
    X(maxThreadsPerBlock, int) X(maxThreadsDim, int[3]) X(maxGridSize, int[3]) X(totalConstMem, size_t)     \
    X(major, int) X(minor, int) X(multiProcessorCount, int) X(l2CacheSize, int)                             \
    X(maxThreadsPerMultiProcessor, int) X(sharedMemPerMultiprocessor, size_t) X(sharedMemPerBlockOptin, size_t)
#define VC_ABI_FIELD(f, type) \
    static_assert(std::is_same<decltype(cudaDeviceProp::f), type>::value, "cudaDeviceProp::" #f);
VC_ABI_FIELDS(VC_ABI_FIELD)

}  // namespace vc_abi_check
