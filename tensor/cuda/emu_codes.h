/* emu_codes.h: the numbers of the CUDA runtime and cuBLAS enums that the
 * emulator declares, as X-macro lists (name, value, description).
 * Owns: only these lists. emu_runtime.h, emu_cublas.h and emu_cublaslt.h build their enums
 * and error strings from them; abi_check.cu compiles them with nvcc against
 * the real headers and static_asserts every value, so a code an emulated run
 * reports is the code the real toolkit would report.
 * Not here: any declaration (see emu_runtime.h, emu_cublas.h, emu_cublaslt.h). */
#ifndef VC_CUDA_EMU_CODES_H
#define VC_CUDA_EMU_CODES_H

/* cudaError_t: X(name, value, description) */
#define VC_EMU_CUDA_ERRORS(X)                                                                          \
    X(cudaSuccess, 0, "no error")                                                                      \
    X(cudaErrorInvalidValue, 1, "invalid argument")                                                    \
    X(cudaErrorMemoryAllocation, 2, "out of memory")                                                   \
    X(cudaErrorInitializationError, 3, "initialization error")                                         \
    X(cudaErrorInvalidConfiguration, 9, "invalid configuration argument")                              \
    X(cudaErrorInvalidSymbol, 13, "invalid device symbol")                                             \
    X(cudaErrorInvalidDevicePointer, 17, "invalid device pointer")                                     \
    X(cudaErrorInvalidMemcpyDirection, 21, "invalid copy direction for memcpy")                        \
    X(cudaErrorInsufficientDriver, 35, "CUDA driver version is insufficient for CUDA runtime version") \
    X(cudaErrorInvalidDeviceFunction, 98, "invalid device function")                                   \
    X(cudaErrorNoDevice, 100, "no CUDA-capable device is detected")                                    \
    X(cudaErrorInvalidDevice, 101, "invalid device ordinal")                                           \
    X(cudaErrorInvalidResourceHandle, 400, "invalid resource handle")                                  \
    X(cudaErrorIllegalState, 401, "the operation cannot be performed in the present state")            \
    X(cudaErrorNotReady, 600, "device not ready")                                                      \
    X(cudaErrorIllegalAddress, 700, "an illegal memory access was encountered")                        \
    X(cudaErrorLaunchOutOfResources, 701, "too many resources requested for launch")                   \
    X(cudaErrorLaunchFailure, 719, "unspecified launch failure")                                       \
    X(cudaErrorNotPermitted, 800, "operation not permitted")                                           \
    X(cudaErrorNotSupported, 801, "operation not supported")                                           \
    X(cudaErrorStreamCaptureUnsupported, 900, "operation not permitted when stream is capturing")      \
    X(cudaErrorStreamCaptureInvalidated, 901, "operation failed due to a previous error during capture") \
    X(cudaErrorStreamCaptureMerge, 902, "operation would result in a merge of separate capture sequences") \
    X(cudaErrorStreamCaptureUnmatched, 903, "capture was not ended in the same stream as it began")    \
    X(cudaErrorStreamCaptureUnjoined, 904, "capturing stream has unjoined work")                       \
    X(cudaErrorStreamCaptureIsolation, 905, "dependency created on uncaptured work in another stream") \
    X(cudaErrorStreamCaptureImplicit, 906, "operation would make the legacy stream depend on a capturing blocking stream") \
    X(cudaErrorCapturedEvent, 907, "operation not permitted on an event last recorded in a capturing stream") \
    X(cudaErrorStreamCaptureWrongThread, 908, "attempt to terminate a thread-local capture sequence from another thread") \
    X(cudaErrorUnknown, 999, "unknown error")

/* cudaMemcpyKind */
#define VC_EMU_CUDA_MEMCPY_KINDS(X) \
    X(cudaMemcpyHostToHost, 0)      \
    X(cudaMemcpyHostToDevice, 1)    \
    X(cudaMemcpyDeviceToHost, 2)    \
    X(cudaMemcpyDeviceToDevice, 3)  \
    X(cudaMemcpyDefault, 4)

/* cudaStreamCaptureMode and cudaStreamCaptureStatus */
#define VC_EMU_CUDA_CAPTURE_MODES(X)       \
    X(cudaStreamCaptureModeGlobal, 0)      \
    X(cudaStreamCaptureModeThreadLocal, 1) \
    X(cudaStreamCaptureModeRelaxed, 2)
#define VC_EMU_CUDA_CAPTURE_STATUSES(X)      \
    X(cudaStreamCaptureStatusNone, 0)        \
    X(cudaStreamCaptureStatusActive, 1)      \
    X(cudaStreamCaptureStatusInvalidated, 2)

/* cudaFuncAttribute (the one the emulator honours) */
#define VC_EMU_CUDA_FUNC_ATTRS(X) X(cudaFuncAttributeMaxDynamicSharedMemorySize, 8)

/* cudaDeviceAttr */
#define VC_EMU_CUDA_DEVICE_ATTRS(X)                   \
    X(cudaDevAttrMaxThreadsPerBlock, 1)               \
    X(cudaDevAttrMaxBlockDimX, 2)                     \
    X(cudaDevAttrMaxGridDimX, 5)                      \
    X(cudaDevAttrMaxSharedMemoryPerBlock, 8)          \
    X(cudaDevAttrWarpSize, 10)                        \
    X(cudaDevAttrMultiProcessorCount, 16)             \
    X(cudaDevAttrL2CacheSize, 38)                     \
    X(cudaDevAttrComputeCapabilityMajor, 75)          \
    X(cudaDevAttrComputeCapabilityMinor, 76)          \
    X(cudaDevAttrMaxSharedMemoryPerMultiprocessor, 81) \
    X(cudaDevAttrMaxSharedMemoryPerBlockOptin, 97)

/* Flags (#defines in the real headers) */
#define VC_EMU_CUDA_FLAGS(X)        \
    X(cudaStreamDefault, 0x00)      \
    X(cudaStreamNonBlocking, 0x01)  \
    X(cudaEventDefault, 0x00)       \
    X(cudaEventDisableTiming, 0x02) \
    X(cudaHostAllocDefault, 0x00)

/* cudaDataType (library_types.h) */
#define VC_EMU_CUDA_DATA_TYPES(X) \
    X(CUDA_R_32F, 0)              \
    X(CUDA_R_16F, 2)              \
    X(CUDA_R_16BF, 14)

/* cublasStatus_t: X(name, value, description) */
#define VC_EMU_CUBLAS_STATUSES(X)                                                     \
    X(CUBLAS_STATUS_SUCCESS, 0, "success")                                            \
    X(CUBLAS_STATUS_NOT_INITIALIZED, 1, "the library was not initialized")            \
    X(CUBLAS_STATUS_ALLOC_FAILED, 3, "the resource allocation failed")                \
    X(CUBLAS_STATUS_INVALID_VALUE, 7, "an invalid numeric value was used as an argument") \
    X(CUBLAS_STATUS_ARCH_MISMATCH, 8, "an absent device architectural feature is required") \
    X(CUBLAS_STATUS_MAPPING_ERROR, 11, "an access to GPU memory space failed")        \
    X(CUBLAS_STATUS_EXECUTION_FAILED, 13, "the GPU program failed to execute")        \
    X(CUBLAS_STATUS_INTERNAL_ERROR, 14, "an internal operation failed")               \
    X(CUBLAS_STATUS_NOT_SUPPORTED, 15, "the functionality requested is not supported") \
    X(CUBLAS_STATUS_LICENSE_ERROR, 16, "licensing error")

/* cuBLAS enums: operation, pointer mode, math mode, compute type, algorithm */
#define VC_EMU_CUBLAS_OPS(X) \
    X(CUBLAS_OP_N, 0)        \
    X(CUBLAS_OP_T, 1)        \
    X(CUBLAS_OP_C, 2)
#define VC_EMU_CUBLAS_POINTER_MODES(X) \
    X(CUBLAS_POINTER_MODE_HOST, 0)     \
    X(CUBLAS_POINTER_MODE_DEVICE, 1)
#define VC_EMU_CUBLAS_MATH_MODES(X)   \
    X(CUBLAS_DEFAULT_MATH, 0)         \
    X(CUBLAS_PEDANTIC_MATH, 2)        \
    X(CUBLAS_TF32_TENSOR_OP_MATH, 3)
#define VC_EMU_CUBLAS_COMPUTE_TYPES(X)     \
    X(CUBLAS_COMPUTE_32F, 68)              \
    X(CUBLAS_COMPUTE_32F_PEDANTIC, 69)     \
    X(CUBLAS_COMPUTE_32F_FAST_16F, 74)     \
    X(CUBLAS_COMPUTE_32F_FAST_16BF, 75)    \
    X(CUBLAS_COMPUTE_32F_FAST_TF32, 77)
#define VC_EMU_CUBLAS_GEMM_ALGOS(X) \
    X(CUBLAS_GEMM_DEFAULT, -1)      \
    X(CUBLAS_GEMM_DEFAULT_TENSOR_OP, 99)

/* cuBLASLt: the matmul descriptor's attributes and the epilogues emulated */
#define VC_EMU_CUBLASLT_DESC_ATTRS(X)            \
    X(CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, 0)      \
    X(CUBLASLT_MATMUL_DESC_SCALE_TYPE, 1)        \
    X(CUBLASLT_MATMUL_DESC_POINTER_MODE, 2)      \
    X(CUBLASLT_MATMUL_DESC_TRANSA, 3)            \
    X(CUBLASLT_MATMUL_DESC_TRANSB, 4)            \
    X(CUBLASLT_MATMUL_DESC_EPILOGUE, 7)          \
    X(CUBLASLT_MATMUL_DESC_BIAS_POINTER, 8)      \
    X(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, 26)
#define VC_EMU_CUBLASLT_EPILOGUES(X) \
    X(CUBLASLT_EPILOGUE_DEFAULT, 1)  \
    X(CUBLASLT_EPILOGUE_BIAS, 4)

#endif
