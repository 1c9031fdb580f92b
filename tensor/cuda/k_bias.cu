/* k_bias.cu: the CUDA twin of tensor/k_bias.c: a bias row [N] broadcast
 * over the rows of [R, N], forward and backward side by side.
 * Forward: one thread per element, y = b + res (either may be missing; res
 * may be y itself). Backward: column j of the bias belongs to one column of
 * a 32 x 8 thread block; its 8 threads each sum one contiguous eighth of the
 * rows in order and the 8 partial sums are added in order, so the order of
 * additions depends on R alone (no atomics; bit-identical run to run). With
 * g16 (bias_bwd_round_bf16), g is also rounded to bf16 on the way.
 * Owns: vc_cu_bias_fwd (and _ld, rows of y a stride apart), vc_cu_bias_bwd,
 * vc_cu_bias_bwd_round_bf16 (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */

/* Rows of y and res ld elements apart (ld >= N); res may equal y (no
 * __restrict__ on either). */
__global__ void k_bias_fwd(vc_real *y, const vc_real *__restrict__ b, const vc_real *res, int64_t R, int64_t N,
                           int64_t ld) {
    int64_t n = R * N, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += step) {
        int64_t j = e % N, i = ld == N ? e : e / N * ld + j;
        vc_real v = b ? b[j] : (vc_real)0;
        if (res) v = b ? v + res[i] : res[i];
        y[i] = v;
    }
}

__global__ void k_bias_bwd(const vc_real *__restrict__ g, unsigned short *__restrict__ g16, vc_real *__restrict__ gb,
                           bool acc, int64_t R, int64_t N) {
    VC_SHARED(vc_real, part, [kRows][kCols + 1]);
    column_reduce(
        part, N, R,
        [&](int64_t j, int64_t r0, int64_t r1) {
            vc_real sum = 0;
            for (int64_t r = r0; r < r1; r++) {
                vc_real v = g[r * N + j];
                sum += v;
#ifndef VC_DOUBLE
                if (g16) g16[r * N + j] = __bfloat16_as_ushort(__float2bfloat16(v));
#endif
            }
            return sum;
        },
        [&](int64_t j, vc_real s) { gb[j] = acc ? gb[j] + s : s; });
}

}  // namespace

extern "C" void vc_cu_bias_fwd_ld(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N, int64_t ld) {
    if (R * N <= 0) return;
    if (!b && res == y) return; /* y = y */
    VC_LAUNCH(k_bias_fwd, blocks_for(R * N, kPerBlock), kThreads, 0, vc_cu_stream(), y, b, res, R, N, ld);
    vc_cu_launched("bias_fwd", "k_bias_fwd");
}

extern "C" void vc_cu_bias_fwd(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N) {
    vc_cu_bias_fwd_ld(y, b, res, R, N, N);
}

extern "C" void vc_cu_bias_bwd(const vc_real *g, vc_real *gb, vc_real beta, int64_t R, int64_t N) {
    if (N <= 0) return;
    VC_LAUNCH(k_bias_bwd, blocks_for(N, kCols), dim3(kCols, kRows), 0, vc_cu_stream(), g, (unsigned short *)NULL, gb,
              beta != 0, R, N);
    vc_cu_launched("bias_bwd", "k_bias_bwd");
}

#ifndef VC_DOUBLE
/* bias_bwd's sums (the same bits) and g rounded to bf16 into g16 [R, N]. */
extern "C" void vc_cu_bias_bwd_round_bf16(const float *g, uint16_t *g16, float *gb, float beta, int64_t R, int64_t N) {
    if (N <= 0) return;
    VC_LAUNCH(k_bias_bwd, blocks_for(N, kCols), dim3(kCols, kRows), 0, vc_cu_stream(), g, (unsigned short *)g16, gb,
              beta != 0, R, N);
    vc_cu_launched("bias_bwd_round_bf16", "k_bias_bwd");
}
#endif
