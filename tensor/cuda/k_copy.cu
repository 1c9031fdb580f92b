/* k_copy.cu: the CUDA twin of tensor/k_copy.c: strided and slab copies, row
 * gathers and dropout, each forward beside its backward (copy, or accumulate
 * with beta 1, as backend.h says).
 * - Copies: one thread per element.
 * - gather_bwd: rows of the gradient table are owned, no atomics: a block
 *   takes row n of g and owns table row idx[n] when no earlier n' has the
 *   same index; the owner sums every g row with that index in order of n,
 *   the CPU kernel's order (so the sums are the CPU's, bit for bit).
 * - Dropout: the counter-based hash of tensor/rng.c (vc_hash_uniform), the
 *   same bits for (seed, stream, index), so masks are the CPU's exactly.
 * Owns: vc_cu_strided_copy, vc_cu_slab_copy, vc_cu_gather_fwd/_bwd,
 * vc_cu_dropout_fwd/_bwd (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */

/* ---- strided copy ---- */

struct Strided {
    int nd;
    int64_t ne[VC_MAX_DIMS], dst[VC_MAX_DIMS], src[VC_MAX_DIMS];
    int64_t n;
};

__global__ void k_strided_copy(vc_real *__restrict__ dst, const vc_real *__restrict__ src, Strided s, bool acc) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < s.n; i += step) {
        int64_t rem = i, od = 0, os = 0;
        for (int d = s.nd - 1; d >= 0; d--) {
            int64_t k = rem % s.ne[d];
            rem /= s.ne[d];
            od += k * s.dst[d];
            os += k * s.src[d];
        }
        dst[od] = acc ? dst[od] + src[os] : src[os];
    }
}

/* ---- slab copy ---- */

__global__ void k_slab_copy(vc_real *__restrict__ dst, int64_t dT, int64_t dstart, const vc_real *__restrict__ src,
                            int64_t sT, int64_t sstart, int64_t len, int64_t P, int64_t R, bool acc) {
    int64_t slab = len * R, n = P * slab, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        int64_t p = i / slab, k = i % slab;
        int64_t od = (p * dT + dstart) * R + k, os = (p * sT + sstart) * R + k;
        dst[od] = acc ? dst[od] + src[os] : src[os];
    }
}

/* ---- gather ---- */

__global__ void k_gather_fwd(const vc_real *__restrict__ table, int64_t ld, const int64_t *__restrict__ idx,
                             vc_real *__restrict__ out, int64_t N, int64_t D) {
    int64_t n_all = N * D, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_all; i += step) {
        int64_t n = i / D, d = i % D;
        out[i] = table[idx[n] * ld + d];
    }
}

constexpr int kGather = 128; /* threads of a gather_bwd block */

/* gt [V, D] was zeroed (beta 0) or holds the sum so far (beta 1). */
__global__ void k_gather_bwd(const vc_real *__restrict__ g, const int64_t *__restrict__ idx, vc_real *__restrict__ gt,
                             int64_t N, int64_t D) {
    VC_SHARED(unsigned char, hit, [kGather]);
    const int t = (int)threadIdx.x;
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const int64_t v = idx[n];
        /* does an earlier row have this index? (then it owns the table row) */
        int earlier = 0;
        for (int64_t c = 0; c < n && !earlier; c += kGather) {
            int64_t m = c + t;
            earlier = __syncthreads_or(m < n && idx[m] == v);
        }
        if (earlier) continue; /* uniform across the block */
        vc_real *row = gt + v * D;
        for (int64_t d0 = 0; d0 < D; d0 += kGather) {
            int64_t d = d0 + t;
            vc_real acc = d < D ? row[d] : (vc_real)0;
            /* rows n.. of g with this index, kGather at a time, in order */
            for (int64_t c = n; c < N; c += kGather) {
                int64_t m = c + t;
                hit[t] = m < N && idx[m] == v;
                __syncthreads();
                int64_t cnt = N - c < kGather ? N - c : kGather;
                if (d < D)
                    for (int k = 0; k < cnt; k++)
                        if (hit[k]) acc += g[(c + k) * D + d];
                __syncthreads();
            }
            if (d < D) row[d] = acc;
        }
    }
}

/* ---- dropout ---- */

/* tensor/rng.c's vc_hash_uniform: splitmix64 of the counter, 24 bits. */
__device__ __forceinline__ float hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t z = (seed ^ (stream * 0xd1b54a32d192ed03ull) ^ (index * 0x9e3779b97f4a7c15ull)) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)(z >> 40) * 0x1.0p-24f;
}

/* y = mask(x) / (1 - p); the backward passes g for x (accumulating into y
 * when acc). */
__global__ void k_dropout(const vc_real *__restrict__ x, vc_real *__restrict__ y, int64_t n, vc_real p, vc_real k,
                          uint64_t seed, uint64_t stream, bool acc) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        vc_real v = hash_uniform(seed, stream, (uint64_t)i) < p ? (vc_real)0 : x[i] * k;
        y[i] = acc ? y[i] + v : v;
    }
}

}  // namespace

extern "C" void vc_cu_strided_copy(vc_real *dst, const int64_t *dst_st, const vc_real *src, const int64_t *src_st,
                                   int nd, const int64_t *ne, vc_real beta) {
    Strided s = {};
    s.nd = nd;
    s.n = 1;
    for (int d = 0; d < nd; d++) {
        s.ne[d] = ne[d];
        s.dst[d] = dst_st[d];
        s.src[d] = src_st[d];
        s.n *= ne[d];
    }
    if (s.n <= 0) return;
    VC_LAUNCH(k_strided_copy, blocks_for(s.n, kPerBlock), kThreads, 0, vc_cu_stream(), dst, src, s, beta != 0);
    vc_cu_launched("strided_copy", "k_strided_copy");
}

extern "C" void vc_cu_slab_copy(vc_real *dst, int64_t dT, int64_t dstart, const vc_real *src, int64_t sT,
                                int64_t sstart, int64_t len, int64_t P, int64_t R, vc_real beta) {
    int64_t n = P * len * R;
    if (n <= 0) return;
    VC_LAUNCH(k_slab_copy, blocks_for(n, kPerBlock), kThreads, 0, vc_cu_stream(), dst, dT, dstart, src, sT, sstart,
              len, P, R, beta != 0);
    vc_cu_launched("slab_copy", "k_slab_copy");
}

extern "C" void vc_cu_gather_fwd(const vc_real *table, int64_t ld, const int64_t *idx, vc_real *out, int64_t N,
                                 int64_t D) {
    if (N * D <= 0) return;
    VC_LAUNCH(k_gather_fwd, blocks_for(N * D, kPerBlock), kThreads, 0, vc_cu_stream(), table, ld, idx, out, N, D);
    vc_cu_launched("gather_fwd", "k_gather_fwd");
}

extern "C" void vc_cu_gather_bwd(const vc_real *g, const int64_t *idx, vc_real *gtable, vc_real beta, int64_t N,
                                 int64_t V, int64_t D) {
    if (beta == 0 && V * D > 0 &&
        !vc_cu_check(cudaMemsetAsync(gtable, 0, (size_t)(V * D) * sizeof(vc_real), vc_cu_stream()), "gather_bwd",
                     "cudaMemsetAsync"))
        return;
    if (N <= 0 || D <= 0) return;
    unsigned blocks = (unsigned)(N < 4 * kMaxBlocks ? N : 4 * kMaxBlocks);
    VC_LAUNCH(k_gather_bwd, blocks, kGather, 0, vc_cu_stream(), g, idx, gtable, N, D);
    vc_cu_launched("gather_bwd", "k_gather_bwd");
}

extern "C" void vc_cu_dropout_fwd(const vc_real *x, vc_real *y, int64_t n, vc_real p, uint64_t seed,
                                  uint64_t stream) {
    if (n <= 0) return;
    vc_real k = 1 / (1 - p);
    VC_LAUNCH(k_dropout, blocks_for(n, kPerBlock), kThreads, 0, vc_cu_stream(), x, y, n, p, k, seed, stream, false);
    vc_cu_launched("dropout_fwd", "k_dropout");
}

extern "C" void vc_cu_dropout_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t n, vc_real p, uint64_t seed,
                                  uint64_t stream) {
    if (n <= 0) return;
    vc_real k = 1 / (1 - p);
    VC_LAUNCH(k_dropout, blocks_for(n, kPerBlock), kThreads, 0, vc_cu_stream(), g, gx, n, p, k, seed, stream,
              beta != 0);
    vc_cu_launched("dropout_bwd", "k_dropout");
}
