/* block_reduce.cuh: fixed-order sums and maxima over a warp or a block, for
 * the row kernels of k_norm.cu, k_softmax.cu, k_attention.cu.
 * Owns: vc_warp_sum/max (xor butterfly: every lane ends with the same
 * value, and the order of the additions depends only on the lane numbers,
 * so a result is the same run after run) and vc_block_sum/max (warps, then
 * the warp totals in warp order; every thread gets the total), plus the
 * host rule for a row kernel's block size. A block's size must be a
 * multiple of 32 (at most 1024) and every thread must make the call.
 * Not here: cross-block reductions (each kernel does its own, in order). */
#ifndef VC_CUDA_BLOCK_REDUCE_CUH
#define VC_CUDA_BLOCK_REDUCE_CUH

#include "tensor/cuda/cu_compat.h"

/* Threads for a block that owns one row of n elements: a multiple of 32,
 * 32 .. 256. */
static inline unsigned vc_cu_row_threads(long long n) {
    long long t = (n + 31) / 32 * 32;
    return (unsigned)(t < 32 ? 32 : t > 256 ? 256 : t);
}

template <typename T> __device__ __forceinline__ T vc_warp_sum(T v) {
    for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__device__ __forceinline__ float vc_warp_max(float v) {
    for (int off = 16; off > 0; off /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

/* sh: 32 elements of shared memory the caller owns for this call. */
template <typename T> __device__ __forceinline__ T vc_block_sum(T v, T *sh) {
    unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = vc_warp_sum(v);
    __syncthreads(); /* an earlier call's readers are done with sh */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return vc_warp_sum(lane < nw ? sh[lane] : (T)0);
}

__device__ __forceinline__ float vc_block_max(float v, float *sh) {
    unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = vc_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    return vc_warp_max(lane < nw ? sh[lane] : -INFINITY);
}

#endif
