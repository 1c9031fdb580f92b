/* nccl_host.h: the NCCL API for host code: the toolkit's <nccl.h>, or in an
 * emulated build (-DVC_CUDA_EMU, no GPU) the emulator's declarations of the
 * same names (emu_nccl.h: NCCL's collectives done by MPI on the emulator's
 * device memory, which is host memory).
 * Owns: only that choice (as cuda_host.h does for the runtime). */
#ifndef VC_NCCL_HOST_H
#define VC_NCCL_HOST_H

#if defined(VC_CUDA_EMU) && !defined(__CUDACC__)
#include "tensor/cuda/emu_nccl.h"
#else
#include <nccl.h>
#endif

#endif
