/* backend_cuda.h: what code above the backend table may ask of the CUDA
 * backend beyond the table itself: pick the GPU, choose TF32 for the matrix
 * products, read back a failure of a queued kernel or copy.
 * Owns: those controls. Not here: the table (vc_backend_for(VC_CUDA)), the
 * kernels (tensor/cuda/k_*.cu). In a build without CUDA every function
 * exists and says so (VC_ERR_UNSUPPORTED, or false). */
#ifndef VC_BACKEND_CUDA_H
#define VC_BACKEND_CUDA_H

#include <stdbool.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether this build has the CUDA backend (emulated or real). */
bool vc_cuda_built(void);
/* Selects GPU `device` for this process and creates the backend's stream
 * and cuBLAS handle; fails with one line when there is no such GPU (or no
 * GPU at all, or no CUDA in this build). Without a call the first use picks
 * device 0. */
vc_status vc_cuda_select(int device);
/* TF32 tensor-core products in cuBLAS (on: 10-bit mantissa inputs, fp32
 * accumulation) or exact fp32 (off, the default). */
vc_status vc_cuda_set_tf32(bool on);
bool vc_cuda_tf32(void);
/* Products that add a bias (gemm_bias_bf16) add it in cuBLASLt's epilogue
 * (on, the default, where cuBLASLt loads and has a kernel for the case) or in
 * a pass of their own before the product (off: what happens without
 * cuBLASLt; the tests compare both). */
vc_status vc_cuda_set_lt(bool on);
/* The first failure recorded since the last call (a kernel launch, a cuBLAS
 * call, a copy), with its message stored as vc_last_error(); VC_OK if none.
 * Table entries return nothing, so a step checks this once at its end. */
vc_status vc_cuda_take_error(void);
/* The backend's stream (a cudaStream_t), for code that orders CUDA work of
 * its own with the backend's kernels (the NCCL comm); NULL, the legacy
 * stream, in a build without CUDA. */
void *vc_cuda_stream(void);

#ifdef __cplusplus
}
#endif

#endif
