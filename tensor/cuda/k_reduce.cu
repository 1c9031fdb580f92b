/* k_reduce.cu: the CUDA twin of tensor/k_reduce.c: sums over one axis, plain
 * or weighted, forward and backward side by side. x is viewed as [P, T, R]
 * and the output is [P, R].
 * Forward: output element (p, r) belongs to one column of a 32 x 8 thread
 * block; its 8 threads each sum one contiguous eighth of t in order and the
 * 8 partial sums are added in order, so the order of additions depends on
 * the shape alone (no atomics; bit-identical run to run). Adjacent threads
 * read adjacent r (coalesced when R >= 32). Fewer than 64 outputs over a
 * long axis (a whole-tensor sum) take one 256-thread block each instead,
 * summed as a fixed tree. Backward: one thread per element of gx (a
 * broadcast, nothing summed), beta 0 overwrites / 1 accumulates.
 * Owns: vc_cu_sum_fwd/_bwd, vc_cu_wsum_fwd/_bwd (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */

/* out[p, r] = scale * sum_t x[p, t, r] (w == NULL), or
 * sum over t with w[p, t] != 0 of w[p, t] x[p, t, r], times 1 / div[p]
 * (0 where div[p] == 0; a zero weight never lets its x in, even NaN). */
__global__ void k_sum_fwd(const vc_real *__restrict__ x, const vc_real *__restrict__ w,
                          const vc_real *__restrict__ div, vc_real *__restrict__ out, int64_t P, int64_t T, int64_t R,
                          vc_real scale) {
    VC_SHARED(vc_real, part, [kRows][kCols + 1]);
    column_reduce(
        part, P * R, T,
        [&](int64_t e, int64_t t0, int64_t t1) {
            int64_t p = e / R, r = e % R;
            vc_real sum = 0;
            if (!w || div[p] != 0) {
                const vc_real *xp = x + p * T * R + r;
                if (w) {
                    for (int64_t t = t0; t < t1; t++) {
                        vc_real wt = w[p * T + t];
                        if (wt != 0) sum += wt * xp[t * R];
                    }
                } else {
                    for (int64_t t = t0; t < t1; t++) sum += xp[t * R];
                }
            }
            return sum;
        },
        [&](int64_t e, vc_real s) {
            int64_t p = e / R;
            if (w) s = div[p] == 0 ? (vc_real)0 : s * (1 / div[p]);
            else s *= scale;
            out[e] = s;
        });
}

/* The same sums for few outputs over a long axis: one block of kThreads per
 * output element; thread k sums t = k, k + kThreads, ... in order (adjacent
 * threads read adjacent t, coalesced when R is 1), then the block adds its
 * threads' sums as a fixed tree. */
__global__ void k_sum_long_fwd(const vc_real *__restrict__ x, const vc_real *__restrict__ w,
                               const vc_real *__restrict__ div, vc_real *__restrict__ out, int64_t P, int64_t T,
                               int64_t R, vc_real scale) {
    VC_SHARED(vc_real, buf, [kThreads]);
    const int k = (int)threadIdx.x;
    for (int64_t e = blockIdx.x; e < P * R; e += gridDim.x) {
        int64_t p = e / R, r = e % R;
        vc_real sum = 0;
        if (!w || div[p] != 0) {
            const vc_real *xp = x + p * T * R + r;
            for (int64_t t = k; t < T; t += kThreads) {
                vc_real wt = w ? w[p * T + t] : (vc_real)1;
                if (!w) sum += xp[t * R];
                else if (wt != 0) sum += wt * xp[t * R];
            }
        }
        buf[k] = sum;
        __syncthreads();
        for (int h = kThreads / 2; h > 0; h /= 2) {
            if (k < h) buf[k] += buf[k + h];
            __syncthreads();
        }
        if (k == 0) {
            vc_real s = buf[0];
            if (w) s = div[p] == 0 ? (vc_real)0 : s * (1 / div[p]);
            else s *= scale;
            out[e] = s;
        }
        __syncthreads();
    }
}

/* gx[p, t, r] (+)= s g[p, r] with s = scale (w == NULL) or w[p, t] / div[p]
 * (0 where div[p] == 0). */
__global__ void k_sum_bwd(const vc_real *__restrict__ g, const vc_real *__restrict__ w,
                          const vc_real *__restrict__ div, vc_real *__restrict__ gx, bool acc, int64_t P, int64_t T,
                          int64_t R, vc_real scale) {
    int64_t n = P * T * R, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        int64_t r = i % R, pt = i / R, p = pt / T;
        vc_real s = scale;
        if (w) s = div[p] == 0 ? (vc_real)0 : w[pt] / div[p];
        vc_real v = s * g[p * R + r];
        gx[i] = acc ? gx[i] + v : v;
    }
}

void launch_fwd(const char *op, const vc_real *x, const vc_real *w, const vc_real *div, vc_real *out, int64_t P,
                int64_t T, int64_t R, vc_real scale) {
    if (P * R <= 0) return;
    if (P * R < 2 * kCols && T >= 4 * kThreads) { /* the 32 x 8 layout would leave most threads idle */
        VC_LAUNCH(k_sum_long_fwd, (unsigned)(P * R), kThreads, 0, vc_cu_stream(), x, w, div, out, P, T, R, scale);
        vc_cu_launched(op, "k_sum_long_fwd");
        return;
    }
    VC_LAUNCH(k_sum_fwd, blocks_for(P * R, kCols), dim3(kCols, kRows), 0, vc_cu_stream(), x, w, div, out, P, T, R,
              scale);
    vc_cu_launched(op, "k_sum_fwd");
}

void launch_bwd(const char *op, const vc_real *g, const vc_real *w, const vc_real *div, vc_real *gx, vc_real beta,
                int64_t P, int64_t T, int64_t R, vc_real scale) {
    if (P * T * R <= 0) return;
    VC_LAUNCH(k_sum_bwd, blocks_for(P * T * R, kPerBlock), kThreads, 0, vc_cu_stream(), g, w, div, gx, beta != 0, P,
              T, R, scale);
    vc_cu_launched(op, "k_sum_bwd");
}

}  // namespace

extern "C" void vc_cu_sum_fwd(const vc_real *x, vc_real *out, int64_t P, int64_t T, int64_t R, vc_real scale) {
    launch_fwd("sum_fwd", x, nullptr, nullptr, out, P, T, R, scale);
}

extern "C" void vc_cu_sum_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t P, int64_t T, int64_t R,
                              vc_real scale) {
    launch_bwd("sum_bwd", g, nullptr, nullptr, gx, beta, P, T, R, scale);
}

extern "C" void vc_cu_wsum_fwd(const vc_real *x, const vc_real *w, const vc_real *div, vc_real *out, int64_t P,
                               int64_t T, int64_t R) {
    launch_fwd("wsum_fwd", x, w, div, out, P, T, R, 1);
}

extern "C" void vc_cu_wsum_bwd(const vc_real *g, const vc_real *w, const vc_real *div, vc_real *gx, vc_real beta,
                               int64_t P, int64_t T, int64_t R) {
    launch_bwd("wsum_bwd", g, w, div, gx, beta, P, T, R, 1);
}
