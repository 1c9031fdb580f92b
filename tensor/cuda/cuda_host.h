/* cuda_host.h: the CUDA runtime, cuBLAS and cuBLASLt host API for host code
 * (C or C++): the real toolkit headers, or in an emulated build
 * (-DVC_CUDA_EMU, no nvcc) the emulator's declarations of the same names
 * (emu_runtime.h, emu_cublas.h, emu_cublaslt.h).
 * Owns: only that choice. Kernels include cu_compat.h instead. */
#ifndef VC_CUDA_HOST_H
#define VC_CUDA_HOST_H

#if defined(VC_CUDA_EMU) && !defined(__CUDACC__)
#include "tensor/cuda/emu_runtime.h"
#include "tensor/cuda/emu_cublas.h"
#include "tensor/cuda/emu_cublaslt.h"
#else
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#endif

#endif
