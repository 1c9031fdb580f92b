/* k_score.cu: the CUDA twin of tensor/k_score.c: retrieval ranks from a block
 * of similarity scores S [m, n] (eval/metrics.h owns the rank rule: ties and
 * NaNs count against the model). One thread block per row; its threads count
 * over the candidates and add their counts as a tree. Integer counts are
 * exact in any order; *nans is zeroed and then added to with integer
 * atomics, one per row (exact, so the result is the same every run).
 * Owns: vc_cu_rank_true, vc_cu_rank_owned (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/kernels.h"

namespace {

constexpr int kThreads = 128;
constexpr int64_t kMaxBlocks = 1024;

__device__ __forceinline__ bool is_nan(vc_real v) { return v != v; }

/* Sums c and z over the block; every thread gets the totals. */
__device__ void block_sum2(long long *c, long long *z) {
    VC_SHARED(long long, bc, [kThreads]);
    VC_SHARED(long long, bz, [kThreads]);
    const int t = (int)threadIdx.x;
    bc[t] = *c;
    bz[t] = *z;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if (t < s) {
            bc[t] += bc[t + s];
            bz[t] += bz[t + s];
        }
        __syncthreads();
    }
    *c = bc[0];
    *z = bz[0];
    __syncthreads();
}

__global__ void k_rank_true(const vc_real *__restrict__ S, int64_t m, int64_t n, const int64_t *__restrict__ truth,
                            int64_t *__restrict__ rank, unsigned long long *__restrict__ nans) {
    for (int64_t i = blockIdx.x; i < m; i += gridDim.x) {
        const vc_real *s = S + i * n;
        const vc_real tv = s[truth[i]];
        long long c = 0, z = 0;
        for (int64_t j = threadIdx.x; j < n; j += kThreads) {
            c += !(s[j] < tv);
            z += is_nan(s[j]);
        }
        block_sum2(&c, &z);
        if (threadIdx.x == 0) {
            rank[i] = c;
            if (z) atomicAdd(nans, (unsigned long long)z);
        }
    }
}

/* The larger of two scores, NaN only when both are (the best non-NaN own
 * score). */
__device__ __forceinline__ vc_real best_of(vc_real a, vc_real b) {
    if (is_nan(a)) return b;
    if (is_nan(b)) return a;
    return b > a ? b : a;
}

__global__ void k_rank_owned(const vc_real *__restrict__ S, int64_t m, int64_t n, const int64_t *__restrict__ owner,
                             int64_t q0, int64_t *__restrict__ rank, unsigned long long *__restrict__ nans) {
    VC_SHARED(vc_real, bb, [kThreads]);
    const int t = (int)threadIdx.x;
    for (int64_t i = blockIdx.x; i < m; i += gridDim.x) {
        const vc_real *s = S + i * n;
        const int64_t q = q0 + i;
        vc_real best = (vc_real)NAN;
        int own = 0;
        for (int64_t j = t; j < n; j += kThreads)
            if (owner[j] == q) {
                own = 1;
                best = best_of(best, s[j]);
            }
        bb[t] = best;
        int owns = __syncthreads_or(own);
        for (int h = kThreads / 2; h > 0; h /= 2) {
            if (t < h) bb[t] = best_of(bb[t], bb[t + h]);
            __syncthreads();
        }
        best = bb[0];
        __syncthreads();
        if (!owns) { /* uniform across the block */
            if (t == 0) rank[i] = 0;
            continue;
        }
        long long c = 0, z = 0;
        for (int64_t j = t; j < n; j += kThreads) {
            c += owner[j] != q && !(s[j] < best);
            z += is_nan(s[j]);
        }
        block_sum2(&c, &z);
        if (t == 0) {
            rank[i] = 1 + c;
            if (z) atomicAdd(nans, (unsigned long long)z);
        }
    }
}

bool zero_nans(const char *op, int64_t *nans) {
    return vc_cu_check(cudaMemsetAsync(nans, 0, sizeof *nans, vc_cu_stream()), op, "cudaMemsetAsync");
}

unsigned blocks_for(int64_t m) { return (unsigned)(m < kMaxBlocks ? m : kMaxBlocks); }

}  // namespace

extern "C" void vc_cu_rank_true(const vc_real *S, int64_t m, int64_t n, const int64_t *truth, int64_t *rank,
                                int64_t *nans) {
    if (!zero_nans("rank_true", nans) || m <= 0) return;
    VC_LAUNCH(k_rank_true, blocks_for(m), kThreads, 0, vc_cu_stream(), S, m, n, truth, rank,
              reinterpret_cast<unsigned long long *>(nans));
    vc_cu_launched("rank_true", "k_rank_true");
}

extern "C" void vc_cu_rank_owned(const vc_real *S, int64_t m, int64_t n, const int64_t *owner, int64_t q0,
                                 int64_t *rank, int64_t *nans) {
    if (!zero_nans("rank_owned", nans) || m <= 0) return;
    VC_LAUNCH(k_rank_owned, blocks_for(m), kThreads, 0, vc_cu_stream(), S, m, n, owner, q0, rank,
              reinterpret_cast<unsigned long long *>(nans));
    vc_cu_launched("rank_owned", "k_rank_owned");
}
