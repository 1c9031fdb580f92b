/* grid.cuh: the launch shape the element-wise kernels share (k_unary,
 * k_binary, k_reduce, k_bias, k_copy, k_optim, k_patch): blocks of 256
 * threads, each thread at least 4 elements, at most 1024 blocks (the
 * kernels stride over the grid beyond that), and the 32 x 8 block of the
 * fixed-order column reductions (32 outputs x 8 chunks of terms) with the
 * device loop they share (column_reduce). */
#ifndef VC_CUDA_GRID_CUH
#define VC_CUDA_GRID_CUH

#include <stdint.h>

namespace vc_grid {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1024;
constexpr int64_t kPerBlock = 4 * kThreads; /* element-wise: at least 4 elements a thread */
constexpr int kCols = 32, kRows = 8;

/* Blocks for n elements at per_block each, at most kMaxBlocks. */
inline unsigned blocks_for(int64_t n, int64_t per_block = kPerBlock) {
    int64_t b = (n + per_block - 1) / per_block;
    return (unsigned)(b < kMaxBlocks ? b : kMaxBlocks);
}

#if defined(__CUDACC__) || defined(VC_CUDA_EMU)
/* The fixed-order column reduction of the kCols x kRows block, device side
 * (a kernel launched with dim3(kCols, kRows) and blocks_for(n_out, kCols)):
 * outputs e in [0, n_out), kCols at a time, one per column of threads; the
 * nt terms of each output split into kRows contiguous chunks, thread row ty
 * summing chunk ty in order (chunk_sum(e, t0, t1), called for e < n_out
 * only, also when the chunk is empty), and the kRows partials then added in
 * chunk order: store(e, s). part is the kernel's VC_SHARED [kRows][kCols + 1]
 * array. The order of the additions depends on nt alone, so kernels built on
 * this give the same bits for the same terms (bias_bwd and the column sums
 * of unary_fwd_bwd_bf16 do), on any grid. */
template <typename T, typename ChunkSum, typename Store>
__device__ __forceinline__ void column_reduce(T (&part)[kRows][kCols + 1], int64_t n_out, int64_t nt,
                                              ChunkSum chunk_sum, Store store) {
    const int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
    const int64_t chunk = (nt + kRows - 1) / kRows;
    const int64_t t0 = ty * chunk, t1 = t0 + chunk < nt ? t0 + chunk : nt;
    for (int64_t e0 = (int64_t)blockIdx.x * kCols; e0 < n_out; e0 += (int64_t)gridDim.x * kCols) {
        int64_t e = e0 + tx;
        part[ty][tx] = e < n_out ? chunk_sum(e, t0, t1) : (T)0;
        __syncthreads();
        if (ty == 0 && e < n_out) {
            T s = part[0][tx];
            for (int k = 1; k < kRows; k++) s += part[k][tx];
            store(e, s);
        }
        __syncthreads();
    }
}
#endif

} // namespace vc_grid

#endif
