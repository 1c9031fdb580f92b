/* cu_compat.h: what a vclip .cu file includes, so that one source compiles
 * with nvcc for the GPU and with g++ as C++ for the CPU emulator.
 * Owns: the portability layer for kernels:
 *   VC_LAUNCH(kernel, grid, block, shmem, stream, args...)
 *       kernel<<<grid, block, shmem, stream>>>(args...) under nvcc; the
 *       emulator's scheduler otherwise. A template kernel with several
 *       template arguments goes through a function pointer variable (the
 *       commas would split the macro's arguments).
 *   VC_SHARED(T, name, dims)   `VC_SHARED(float, buf, [256]);` is
 *       `__shared__ float buf[256];` (dims may be [16][17], or empty for a
 *       scalar); in the emulator a reference to block-local storage with the
 *       same type, so sizeof and indexing are the same.
 *   VC_SHARED_DYN(T, name)     `T *name` on the launch's dynamic shared memory.
 * Everything else is CUDA as written for nvcc: threadIdx, __syncthreads,
 * __shfl_*_sync, atomics, __expf, __nv_bfloat16 conversions... (the
 * emulated set is listed in emu_device.h and tensor/cuda/README.md). A
 * kernel must not use a plain __shared__ declaration (a compile error in
 * the emulator) nor return before a __syncthreads that other threads of its
 * block reach (an abort in the emulator, undefined on a GPU).
 * Not here: kernels (k_*.cu), the host API alone (cuda_host.h). */
#ifndef VC_CU_COMPAT_H
#define VC_CU_COMPAT_H

#if defined(__CUDACC__)

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define VC_LAUNCH(kernel, grid, block, shmem, stream, ...) kernel<<<(grid), (block), (shmem), (stream)>>>(__VA_ARGS__)
#define VC_SHARED(T, name, dims) __shared__ T name dims
#define VC_SHARED_DYN(T, name)                                     \
    extern __shared__ __align__(16) unsigned char vc_dyn_shared_##name[]; \
    T *name = reinterpret_cast<T *>(vc_dyn_shared_##name)

#elif defined(VC_CUDA_EMU)

#include "tensor/cuda/emu_cublas.h"
#include "tensor/cuda/emu_cublaslt.h"
#include "tensor/cuda/emu_device.h"
#include "tensor/cuda/emu_runtime.h"

#define VC_SHARED(T, name, dims) VC_EMU_SHARED(T, name, dims)
#define VC_SHARED_DYN(T, name) VC_EMU_SHARED_DYN(T, name)

#else
#error "a .cu file is compiled by nvcc, or as C++ with -DVC_CUDA_EMU for the CPU emulator"
#endif

#endif
