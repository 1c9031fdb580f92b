/* k_norm.cu: layer norm and L2 norm over rows x [N, D], forward and
 * backward (tensor/k_norm.c's counterpart, same formulas and arguments).
 * The forward also writes its output in bf16 (layernorm_fwd_bf16: the same
 * kernel, each value rounded to nearest even as it is stored).
 * Owns: one block per row for everything that reduces along a row (sums in
 * a fixed order, block_reduce.cuh); the parameter gradients of layer norm
 * (sums down the columns) as one kernel whose blocks own 32 columns and
 * whose 16 thread rows each sum every 16th row, then add the 16 partial
 * sums in order: no atomics, the same bits every run.
 * Not here: the table entry points' registration (backend_cuda.c). */
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace {

constexpr int kColTile = 32, kColRows = 16;

/* One output value as the float32 kernel stores it, or rounded to bf16
 * (nearest even, NaN stays NaN) for a bf16 product that reads it. */
__device__ __forceinline__ void ln_store(float *y, long long j, float v) { y[j] = v; }
__device__ __forceinline__ void ln_store(unsigned short *y, long long j, float v) {
    y[j] = __bfloat16_as_ushort(__float2bfloat16(v));
}

/* Out float (layernorm_fwd) or unsigned short (bf16 bits: layernorm_fwd_bf16):
 * one body, so the bf16 output is exactly the float32 one rounded. Element
 * (i, j) of y is at y[i * ysr + j * ysc]: row-major (D, 1) or transposed
 * (1, N). */
template <typename Out>
__global__ void k_layernorm_fwd(const float *x, const float *gamma, const float *bta, Out *y, float *mean,
                                float *rstd, long long D, float eps, long long ysr, long long ysc) {
    VC_SHARED(float, sh, [32]);
    const float *xr = x + (long long)blockIdx.x * D;
    Out *yr = y + (long long)blockIdx.x * ysr;
    float s = 0.0f;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) s += xr[j];
    float m = vc_block_sum(s, sh) / (float)D;
    float v = 0.0f;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) v += (xr[j] - m) * (xr[j] - m);
    v = vc_block_sum(v, sh) / (float)D;
    float rs = 1.0f / sqrtf(v + eps);
    if (threadIdx.x == 0) {
        mean[blockIdx.x] = m;
        rstd[blockIdx.x] = rs;
    }
    for (long long j = threadIdx.x; j < D; j += blockDim.x)
        ln_store(yr, j * ysc, (xr[j] - m) * rs * (gamma ? gamma[j] : 1.0f) + (bta ? bta[j] : 0.0f));
}

/* dx = rs (gh - mean(gh) - h mean(gh h)), gh = g gamma, h = (x - m) rs */
__global__ void k_layernorm_bwd_x(const float *x, const float *gamma, const float *mean, const float *rstd,
                                  const float *g, float *gx, float bgx, long long D) {
    VC_SHARED(float, sh, [32]);
    long long off = (long long)blockIdx.x * D;
    const float *xr = x + off, *gr = g + off;
    float *dx = gx + off;
    float m = mean[blockIdx.x], rs = rstd[blockIdx.x];
    float s1 = 0.0f, s2 = 0.0f;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        float gh = __fmul_rn(gr[j], gamma ? gamma[j] : 1.0f); /* rounded as below: no fused product */
        s1 += gh;
        s2 += gh * (xr[j] - m) * rs;
    }
    s1 = vc_block_sum(s1, sh) / (float)D;
    s2 = vc_block_sum(s2, sh) / (float)D;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        float h = (xr[j] - m) * rs;
        float d = rs * (__fmul_rn(gr[j], gamma ? gamma[j] : 1.0f) - s1 - h * s2);
        dx[j] = bgx == 0.0f ? d : dx[j] + d;
    }
}

/* dgamma[j] = sum_i g h, dbeta[j] = sum_i g; block (32, 16) per 32 columns */
__global__ void k_layernorm_bwd_params(const float *x, const float *mean, const float *rstd, const float *g,
                                       float *ggamma, float bgg, float *gbeta, float bgb, long long N, long long D) {
    VC_SHARED(float, pg, [kColRows][kColTile + 1]);
    VC_SHARED(float, pb, [kColRows][kColTile + 1]);
    long long j = (long long)blockIdx.x * kColTile + threadIdx.x;
    float ag = 0.0f, ab = 0.0f;
    if (j < D)
        for (long long i = threadIdx.y; i < N; i += kColRows) {
            float gv = g[i * D + j];
            ag += gv * (x[i * D + j] - mean[i]) * rstd[i];
            ab += gv;
        }
    pg[threadIdx.y][threadIdx.x] = ag;
    pb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && j < D) {
        float sg = 0.0f, sb = 0.0f;
        for (int r = 0; r < kColRows; r++) {
            sg += pg[r][threadIdx.x];
            sb += pb[r][threadIdx.x];
        }
        if (ggamma) ggamma[j] = bgg == 0.0f ? sg : ggamma[j] + sg;
        if (gbeta) gbeta[j] = bgb == 0.0f ? sb : gbeta[j] + sb;
    }
}

__global__ void k_l2norm_fwd(const float *x, float *y, float *norm, long long D, float eps) {
    VC_SHARED(float, sh, [32]);
    const float *xr = x + (long long)blockIdx.x * D;
    float *yr = y + (long long)blockIdx.x * D;
    float s = 0.0f;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) s += xr[j] * xr[j];
    float n = sqrtf(vc_block_sum(s, sh));
    if (threadIdx.x == 0) norm[blockIdx.x] = n;
    float inv = 1.0f / (n > eps ? n : eps);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) yr[j] = xr[j] * inv;
}

/* above eps: dx = (g - y (g.y)) / |x|; at or below: dx = g / eps */
__global__ void k_l2norm_bwd(const float *y, const float *norm, const float *g, float *gx, float beta, long long D,
                             float eps) {
    VC_SHARED(float, sh, [32]);
    long long off = (long long)blockIdx.x * D;
    const float *yr = y + off, *gr = g + off;
    float *dx = gx + off;
    float n = norm[blockIdx.x];
    float dot = 0.0f;
    for (long long j = threadIdx.x; j < D; j += blockDim.x) dot += gr[j] * yr[j];
    dot = vc_block_sum(dot, sh);
    if (!(n > eps)) dot = 0.0f;
    float inv = 1.0f / (n > eps ? n : eps);
    for (long long j = threadIdx.x; j < D; j += blockDim.x) {
        float d = (gr[j] - yr[j] * dot) * inv;
        dx[j] = beta == 0.0f ? d : dx[j] + d;
    }
}

} // namespace

/* x, y [N, D]; mean, rstd [N]; gamma, bta [D] or NULL */
extern "C" void vc_cu_layernorm_fwd(const vc_real *x, const vc_real *gamma, const vc_real *bta, vc_real *y,
                                    vc_real *mean, vc_real *rstd, int64_t N, int64_t D, vc_real eps) {
    if (N <= 0 || D <= 0) return;
    VC_LAUNCH(k_layernorm_fwd<float>, (unsigned)N, vc_cu_row_threads(D), 0, vc_cu_stream(), x, gamma, bta, y, mean,
              rstd, (long long)D, eps, (long long)D, 1LL);
    vc_cu_launched("layernorm_fwd", "k_layernorm_fwd");
}

/* The same with y [N, D] in bf16 (uint16_t bits): layernorm_fwd's output
 * rounded; with yt, y is stored transposed, [D, N] */
extern "C" void vc_cu_layernorm_fwd_bf16(const float *x, const float *gamma, const float *bta, uint16_t *y,
                                         float *mean, float *rstd, int64_t N, int64_t D, float eps, bool yt) {
    if (N <= 0 || D <= 0) return;
    VC_LAUNCH(k_layernorm_fwd<unsigned short>, (unsigned)N, vc_cu_row_threads(D), 0, vc_cu_stream(), x, gamma, bta,
              (unsigned short *)y, mean, rstd, (long long)D, eps, yt ? 1LL : (long long)D, yt ? (long long)N : 1LL);
    vc_cu_launched("layernorm_fwd_bf16", "k_layernorm_fwd");
}

/* gx [N, D] (may be NULL), ggamma, gbeta [D] (may be NULL) */
extern "C" void vc_cu_layernorm_bwd(const vc_real *x, const vc_real *gamma, const vc_real *mean, const vc_real *rstd,
                                    const vc_real *g, vc_real *gx, vc_real bgx, vc_real *ggamma, vc_real bgg,
                                    vc_real *gbeta, vc_real bgb, int64_t N, int64_t D) {
    if (D <= 0) return;
    if (gx && N > 0) {
        VC_LAUNCH(k_layernorm_bwd_x, (unsigned)N, vc_cu_row_threads(D), 0, vc_cu_stream(), x, gamma, mean, rstd, g,
                  gx, bgx, (long long)D);
        if (!vc_cu_launched("layernorm_bwd", "k_layernorm_bwd_x")) return;
    }
    if (ggamma || gbeta) {
        dim3 block(kColTile, kColRows);
        VC_LAUNCH(k_layernorm_bwd_params, (unsigned)((D + kColTile - 1) / kColTile), block, 0, vc_cu_stream(), x,
                  mean, rstd, g, ggamma, bgg, gbeta, bgb, (long long)N, (long long)D);
        vc_cu_launched("layernorm_bwd", "k_layernorm_bwd_params");
    }
}

/* x, y [N, D]; norm [N] */
extern "C" void vc_cu_l2norm_fwd(const vc_real *x, vc_real *y, vc_real *norm, int64_t N, int64_t D, vc_real eps) {
    if (N <= 0) return;
    VC_LAUNCH(k_l2norm_fwd, (unsigned)N, vc_cu_row_threads(D), 0, vc_cu_stream(), x, y, norm, (long long)D, eps);
    vc_cu_launched("l2norm_fwd", "k_l2norm_fwd");
}

/* y, g, gx [N, D]; norm [N] */
extern "C" void vc_cu_l2norm_bwd(const vc_real *y, const vc_real *norm, const vc_real *g, vc_real *gx, vc_real beta,
                                 int64_t N, int64_t D, vc_real eps) {
    if (N <= 0 || D <= 0) return;
    VC_LAUNCH(k_l2norm_bwd, (unsigned)N, vc_cu_row_threads(D), 0, vc_cu_stream(), y, norm, g, gx, beta, (long long)D,
              eps);
    vc_cu_launched("l2norm_bwd", "k_l2norm_bwd");
}
