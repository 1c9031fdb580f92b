/* k_patch.cu: the CUDA twin of tensor/k_patch.c: the CLIP towers' input
 * embeddings (images cut into patches for the patch GEMM, class token and
 * position embeddings, token plus position embeddings). Forward only (the
 * towers are frozen). One thread per output element, writes coalesced.
 * Owns: vc_cu_patchify, vc_cu_embed_patches, vc_cu_embed_tokens
 * (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */

/* patches [N*G*G, C*P*P] from images [N, C, S, S]: row (n, gy, gx),
 * column (ch, ky, kx). */
__global__ void k_patchify(vc_patch_dims d, const vc_real *__restrict__ images, vc_real *__restrict__ patches) {
    const int64_t K = d.C * d.P * d.P, GG = d.G * d.G, n_all = d.N * GG * K;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_all; i += step) {
        int64_t r = i / K, col = i % K;
        int64_t n = r / GG, gy = r / d.G % d.G, gx = r % d.G;
        int64_t ch = col / (d.P * d.P), ky = col / d.P % d.P, kx = col % d.P;
        patches[i] = images[((n * d.C + ch) * d.S + gy * d.P + ky) * d.S + gx * d.P + kx];
    }
}

/* x [N, T, W]: row (n, 0) = cls + pos[0], row (n, i) = emb[n*(T-1) + i-1] +
 * pos[i]. */
__global__ void k_embed_patches(const vc_real *__restrict__ emb, const vc_real *__restrict__ cls,
                                const vc_real *__restrict__ pos, vc_real *__restrict__ x, int64_t N, int64_t T,
                                int64_t W) {
    int64_t n_all = N * T * W, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += step) {
        int64_t r = k / W, j = k % W, n = r / T, i = r % T;
        vc_real s = i ? emb[(n * (T - 1) + i - 1) * W + j] : cls[j];
        x[k] = s + pos[i * W + j];
    }
}

/* x[r] = tok[ids[r]] + pos[r % T]. */
__global__ void k_embed_tokens(const vc_real *__restrict__ tok, const int64_t *__restrict__ ids,
                               const vc_real *__restrict__ pos, vc_real *__restrict__ x, int64_t R, int64_t T,
                               int64_t W) {
    int64_t n_all = R * W, step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n_all; k += step) {
        int64_t r = k / W, j = k % W;
        x[k] = tok[ids[r] * W + j] + pos[(r % T) * W + j];
    }
}

}  // namespace

extern "C" void vc_cu_patchify(const vc_patch_dims *d, const vc_real *images, vc_real *patches) {
    int64_t n = d->N * d->G * d->G * d->C * d->P * d->P;
    if (n <= 0) return;
    VC_LAUNCH(k_patchify, blocks_for(n), kThreads, 0, vc_cu_stream(), *d, images, patches);
    vc_cu_launched("patchify", "k_patchify");
}

extern "C" void vc_cu_embed_patches(const vc_real *emb, const vc_real *cls, const vc_real *pos, vc_real *x, int64_t N,
                                    int64_t T, int64_t W) {
    if (N * T * W <= 0) return;
    VC_LAUNCH(k_embed_patches, blocks_for(N * T * W), kThreads, 0, vc_cu_stream(), emb, cls, pos, x, N, T, W);
    vc_cu_launched("embed_patches", "k_embed_patches");
}

extern "C" void vc_cu_embed_tokens(const vc_real *tok, const int64_t *ids, const vc_real *pos, vc_real *x, int64_t R,
                                   int64_t T, int64_t W) {
    if (R * W <= 0 || T <= 0) return;
    VC_LAUNCH(k_embed_tokens, blocks_for(R * W), kThreads, 0, vc_cu_stream(), tok, ids, pos, x, R, T, W);
    vc_cu_launched("embed_tokens", "k_embed_tokens");
}
