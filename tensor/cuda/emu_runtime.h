/* emu_runtime.h: the subset of the CUDA runtime API that vclip uses, emulated
 * on the CPU (built with -DVC_CUDA_EMU; see tensor/cuda/README.md).
 * Owns: declarations with the real names, argument lists and enum values
 * (checked against the toolkit by abi_check.cu), usable from C and C++, plus
 * a few vc_emu_* extras for tests (counters, the detail of the last failure).
 * Device memory is host memory: a kernel, a memcpy or a cuBLAS call runs to
 * completion when it is issued, in issue order, so every stream and event
 * ordering holds trivially. Stream capture records instead of running, and a
 * graph launch replays the record.
 * Not here: kernels and the device-side API (cu_compat.h, emu_device.h),
 * cuBLAS (emu_cublas.h). Host code includes cuda_host.h, not this file. */
#ifndef VC_CUDA_EMU_RUNTIME_H
#define VC_CUDA_EMU_RUNTIME_H

#include <stddef.h>

#include "tensor/cuda/emu_codes.h"

#ifdef __cplusplus
extern "C" {
#define VC_EMU_DV(v) = v
#else
#define VC_EMU_DV(v)
#endif

#define VC_EMU_ENUM3(name, value, text) name = value,
#define VC_EMU_ENUM2(name, value) name = value,
typedef enum cudaError { VC_EMU_CUDA_ERRORS(VC_EMU_ENUM3) } cudaError_t;
enum cudaMemcpyKind { VC_EMU_CUDA_MEMCPY_KINDS(VC_EMU_ENUM2) };
enum cudaStreamCaptureMode { VC_EMU_CUDA_CAPTURE_MODES(VC_EMU_ENUM2) };
enum cudaStreamCaptureStatus { VC_EMU_CUDA_CAPTURE_STATUSES(VC_EMU_ENUM2) };
enum cudaFuncAttribute { VC_EMU_CUDA_FUNC_ATTRS(VC_EMU_ENUM2) };
enum cudaDeviceAttr { VC_EMU_CUDA_DEVICE_ATTRS(VC_EMU_ENUM2) };
enum { VC_EMU_CUDA_FLAGS(VC_EMU_ENUM2) };

typedef struct vc_emu_stream *cudaStream_t;
typedef struct vc_emu_event *cudaEvent_t;
typedef struct vc_emu_graph *cudaGraph_t;
typedef struct vc_emu_graph_exec *cudaGraphExec_t;
typedef struct vc_emu_graph_node *cudaGraphNode_t;
typedef void (*cudaHostFn_t)(void *user_data);

/* The legacy default stream is 0 (also spelt cudaStreamLegacy); the
 * per-thread default stream behaves like any stream. */
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)

/* The fields of cudaDeviceProp the emulator fills (a subset; abi_check.cu
 * checks each exists in the real struct). */
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    size_t totalConstMem;
    int major;
    int minor;
    int multiProcessorCount;
    int l2CacheSize;
    int maxThreadsPerMultiProcessor;
    size_t sharedMemPerMultiprocessor;
    size_t sharedMemPerBlockOptin;
};

/* Devices. VC_CUDA_EMU_DEVICES=N pretends N devices (default 1; 0 tests the
 * "no GPU" path: every call below then fails with cudaErrorNoDevice). */
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaRuntimeGetVersion(int *version);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

/* Errors: the last error of this host thread, as in CUDA. */
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);

/* Memory. Device allocations are 256-byte aligned host memory, filled with
 * 0xFF bytes (float NaN) unless VC_CUDA_EMU_POISON=0, guarded by canaries
 * checked after every kernel and at free (or by ASan's redzones in an ASan
 * build). Copies check that the device side lies inside one device
 * allocation and the host side in none. */
cudaError_t cudaMalloc(void **ptr, size_t bytes);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocHost(void **ptr, size_t bytes);
cudaError_t cudaHostAlloc(void **ptr, size_t bytes, unsigned int flags);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t stream VC_EMU_DV(0));
cudaError_t cudaMemset(void *dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream VC_EMU_DV(0));

/* Streams and events. */
cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags VC_EMU_DV(0));
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream VC_EMU_DV(0));
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *user_data);

/* Graphs. While a stream captures, kernels, copies, memsets, host functions
 * and cuBLAS calls issued on it (or on a stream that joined it through an
 * event) are recorded, not run; a graph launch replays them in order with
 * the arguments they were issued with. As in CUDA, a capture in Global mode
 * turns cudaMalloc, cudaFree, synchronous copies and device synchronisation
 * on any thread into cudaErrorStreamCaptureUnsupported and invalidates it. */
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status);
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags VC_EMU_DV(0));
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

/* Kernel attributes: only the dynamic shared memory limit is honoured. */
cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value);

/* ---- emulator extras (no CUDA counterpart) ---- */

/* What the emulator counted since the process started. */
struct vc_emu_counters {
    long long kernels;        /* kernels run (graph replays included) */
    long long blocks;         /* blocks run */
    long long mallocs, frees; /* cudaMalloc / cudaFree calls that succeeded */
    long long copies;         /* memcpy and memset operations run */
    long long graph_launches; /* cudaGraphLaunch calls that succeeded */
    long long gemms;          /* cuBLAS matrix products run (each batch entry counts) */
    size_t live_bytes;        /* device bytes allocated now */
    size_t peak_bytes;        /* the most device bytes allocated at once */
};
void vc_emu_get_counters(struct vc_emu_counters *out);
/* One line saying which call failed last on this thread and why ("" if none
 * failed); cudaGetErrorString only has CUDA's generic text. */
const char *vc_emu_last_detail(void);
/* Whether this build runs CUDA threads as OS threads (VC_CUDA_EMU_THREADS,
 * for ThreadSanitizer) rather than fibers. */
int vc_emu_thread_mode(void);

#ifdef __cplusplus
}
#endif

#endif
