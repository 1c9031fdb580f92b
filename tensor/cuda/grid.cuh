/* grid.cuh: the launch shape the element-wise kernels share (k_unary,
 * k_binary, k_reduce, k_bias, k_copy, k_optim, k_patch): blocks of 256
 * threads, each thread at least 4 elements, at most 1024 blocks (the
 * kernels stride over the grid beyond that), and the 32 x 8 block of the
 * fixed-order column reductions (32 outputs x 8 chunks of terms). */
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

} // namespace vc_grid

#endif
