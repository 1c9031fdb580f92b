/* k_optim.cu: the CUDA twin of tensor/k_optim.c: the AdamW update, the
 * global gradient norm and the clipping scale that reads it, over flat
 * parameter buffers.
 * - adamw: one thread per element, in the CPU kernel's precisions (the
 *   moments in float, the denominator sqrt(v) rbc2 + eps and the update in
 *   double, as C's sqrt promotes it).
 * - global_norm: two passes in a fixed order: pass 1 runs a number of blocks
 *   fixed by n alone (vc_cu_global_norm_blocks), each summing its
 *   grid-stride slice of x^2 in double and then its 256 threads' sums as a
 *   tree, into scratch[b]; pass 2, one block, sums the partials the same way
 *   and writes sqrt into norm[0] on the device. No atomics: the same bits
 *   every run on a given GPU (and in the emulator).
 * - clip_scale: reads norm[0] on the device (no host round trip) and scales
 *   g by max_norm / (norm + 1e-6) when that is below 1.
 * Owns: vc_cu_adamw, vc_cu_global_norm, vc_cu_global_norm_scratch,
 * vc_cu_clip_scale (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */
constexpr int64_t kNormPerBlock = 32 * kThreads; /* fewest elements a norm block sums */

/* Pass-1 blocks of global_norm: a function of n only. */
int64_t norm_blocks(int64_t n) {
    if (n <= 0) return 0;
    int64_t b = (n + kNormPerBlock - 1) / kNormPerBlock;
    return b < kMaxBlocks ? b : kMaxBlocks;
}

__global__ void k_adamw(vc_adamw_args a, vc_real *__restrict__ w, const vc_real *__restrict__ g,
                        vc_real *__restrict__ m, vc_real *__restrict__ v, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += step) {
        vc_real gk = g[k];
        vc_real mk = a.b1 * m[k] + (1 - a.b1) * gk;
        vc_real vk = a.b2 * v[k] + (1 - a.b2) * gk * gk;
        m[k] = mk;
        v[k] = vk;
        vc_real wk = w[k] * a.keep, sm = a.step * mk;
        w[k] = (vc_real)((double)wk - (double)sm / (sqrt((double)vk) * (double)a.rbc2 + (double)a.eps));
    }
}

/* Tree sum of one value per thread of a kThreads block, in a fixed order;
 * the total is returned to thread 0. Every thread must call it. */
__device__ double block_sum(double v) {
    VC_SHARED(double, buf, [kThreads]);
    const int t = (int)threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (t < s) buf[t] += buf[t + s];
        __syncthreads();
    }
    double total = buf[0];
    __syncthreads(); /* buf may be reused by a later call */
    return total;
}

__global__ void k_norm_partial(const vc_real *__restrict__ x, int64_t n, double *__restrict__ part) {
    int64_t step = (int64_t)gridDim.x * kThreads;
    double s = 0;
    for (int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x; i < n; i += step) {
        double xi = (double)x[i];
        s += xi * xi;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_norm_final(const double *__restrict__ part, int64_t nb, double *__restrict__ norm) {
    double s = 0;
    for (int64_t b = threadIdx.x; b < nb; b += kThreads) s += part[b];
    s = block_sum(s);
    if (threadIdx.x == 0) norm[0] = sqrt(s);
}

__global__ void k_clip_scale(vc_real *__restrict__ g, int64_t n, double max_norm, const double *__restrict__ norm) {
    double f = max_norm / (norm[0] + 1e-6);
    if (!(f < 1)) return; /* under the limit, or a NaN norm: untouched */
    vc_real fr = (vc_real)f;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += step) g[k] *= fr;
}

}  // namespace

extern "C" size_t vc_cu_global_norm_scratch(int64_t n) { return (size_t)norm_blocks(n) * sizeof(double); }

extern "C" void vc_cu_adamw(const vc_adamw_args *a, vc_real *w, const vc_real *g, vc_real *m, vc_real *v, int64_t n) {
    if (n <= 0) return;
    VC_LAUNCH(k_adamw, blocks_for(n), kThreads, 0, vc_cu_stream(), *a, w, g, m, v, n);
    vc_cu_launched("adamw", "k_adamw");
}

extern "C" void vc_cu_global_norm(const vc_real *x, int64_t n, double *norm, void *scratch) {
    int64_t nb = norm_blocks(n);
    double *part = static_cast<double *>(scratch);
    if (nb > 0) {
        VC_LAUNCH(k_norm_partial, (unsigned)nb, kThreads, 0, vc_cu_stream(), x, n, part);
        if (!vc_cu_launched("global_norm", "k_norm_partial")) return;
    }
    VC_LAUNCH(k_norm_final, 1, kThreads, 0, vc_cu_stream(), (const double *)part, nb, norm);
    vc_cu_launched("global_norm", "k_norm_final");
}

extern "C" void vc_cu_clip_scale(vc_real *g, int64_t n, double max_norm, const double *norm) {
    if (n <= 0) return;
    VC_LAUNCH(k_clip_scale, blocks_for(n), kThreads, 0, vc_cu_stream(), g, n, max_norm, norm);
    vc_cu_launched("clip_scale", "k_clip_scale");
}
