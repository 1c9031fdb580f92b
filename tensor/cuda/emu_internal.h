/* emu_internal.h: what the emulator's own files (emu_sched.cc,
 * emu_runtime.cc, emu_cublas.cc, emu_cublaslt.cc) share. Not for kernels or
 * host code.
 * Owns: the fatal-report function, guarded allocations (canaries or ASan
 * redzones), the kernel-run record handed to the scheduler, and the stream
 * queue through which kernels, copies and cuBLAS calls run or are captured. */
#ifndef VC_CUDA_EMU_INTERNAL_H
#define VC_CUDA_EMU_INTERNAL_H

#include <cstddef>
#include <functional>

#include "tensor/cuda/emu_cublas.h"
#include "tensor/cuda/emu_device.h"

#if defined(__SANITIZE_ADDRESS__)
#define VC_EMU_ASAN 1
#else
#define VC_EMU_ASAN 0
#endif

namespace vc_emu {

/* Prints "vc-cuda-emu: <message>" on stderr and aborts: a kernel broke a rule
 * (a GPU would hang, fault or compute garbage there). */
[[noreturn]] void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation of bytes (aligned to align <= 256) with canary bytes on both
 * sides, or exact for ASan's redzones in an ASan build; poison fills it with
 * 0xFF bytes (a float NaN) as memory nobody wrote. */
void *guarded_alloc(size_t bytes, size_t align, bool poison);
/* False when a canary of the allocation changed; *offset is the first
 * changed byte's offset from the start of the allocation (negative before). */
bool guarded_intact(const void *p, size_t bytes, long long *offset);
void guarded_free(void *p);

/* One kernel to run now (the configuration is already checked). */
struct KernelRun {
    const char *name;
    dim3 grid, block;
    size_t shmem;           /* dynamic shared bytes */
    size_t shared_limit;    /* static + dynamic bytes a block may use */
    const KernelFn *body;
};
/* Runs every block of the kernel to completion (emu_sched.cc). */
void run_kernel(const KernelRun &k);

/* Runs work on the stream now, or appends it to the stream's capture.
 * what names it in messages ("kernel k_sum", "cublasSgemm"). Returns the
 * error a real runtime would give for issuing it there. */
enum WorkKind { WORK_KERNEL, WORK_COPY, WORK_HOST, WORK_BLAS };
cudaError_t enqueue(cudaStream_t stream, WorkKind kind, const char *what, std::function<void()> work);

/* True when [p, p + bytes) lies inside one live device allocation. */
bool in_device_allocation(const void *p, size_t bytes);
/* Whether devices exist (VC_CUDA_EMU_DEVICES). */
int device_count();
/* Bytes of one element of a cuBLAS data type the emulator takes (float32,
 * or a 16-bit type). */
inline size_t blas_elem_size(cudaDataType t) { return t == CUDA_R_32F ? 4 : 2; }
/* Adds to the cuBLAS product counter. */
void count_gemms(long long n);
/* C = alpha op(A) op(B) + beta C, column-major, computed now (inside queued
 * work: cuBLASLt's matmul), as cublasGemmEx with CUBLAS_COMPUTE_32F in the
 * default math mode computes it (emu_cublas.cc); C is float, A and B both
 * of type t. With beta 0, C is not read. */
void gemm_now(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const void *A, int lda,
              const void *B, int ldb, cudaDataType t, float beta, float *C, int ldc);

}  // namespace vc_emu

#endif
