/* k_softmax.cu: softmax / log-softmax along any axis with an optional
 * broadcast additive mask, and mean cross-entropy over logits [rows, cols]
 * with classes along `axis`, forward and backward (tensor/k_softmax.c's
 * counterpart, same arguments and formulas).
 * Owns: the [Out, Len, In] view around the axis: with In = 1 (the last
 * axis) one block per slice, reductions in a fixed order
 * (block_reduce.cuh); otherwise one thread per slice walking Len in order
 * (neighbouring threads read neighbouring elements). Cross-entropy: one
 * block per sample for its log-sum-exp, then one block sums the loss in
 * double in a fixed order. No atomics: the same bits every run.
 * Not here: the table (backend_cuda.c). */
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace {

/* Shape around the axis, and the mask's strides (read on the host, passed
 * by value). */
struct Geom {
    int nd, axis;
    long long ne[VC_MAX_DIMS], mst[VC_MAX_DIMS];
    long long Out, Len, In;
};

Geom make_geom(int nd, const int64_t *ne, int axis, const int64_t *mst) {
    Geom g{};
    g.nd = nd;
    g.axis = axis;
    g.Out = 1;
    g.In = 1;
    for (int d = 0; d < nd; d++) {
        g.ne[d] = ne[d];
        g.mst[d] = mst ? mst[d] : 0;
        if (d < axis) g.Out *= ne[d];
        if (d > axis) g.In *= ne[d];
    }
    g.Len = ne[axis];
    return g;
}

/* Mask offset of element (o, 0, i) of the [Out, Len, In] view. */
__device__ long long mask_base(const Geom &g, long long o, long long i) {
    long long off = 0;
    for (int d = g.nd - 1; d > g.axis; d--) {
        off += (i % g.ne[d]) * g.mst[d];
        i /= g.ne[d];
    }
    for (int d = g.axis - 1; d >= 0; d--) {
        off += (o % g.ne[d]) * g.mst[d];
        o /= g.ne[d];
    }
    return off;
}

/* In == 1: block o owns slice o (contiguous). */
__global__ void k_softmax_fwd_rows(const float *x, float *y, Geom g, const float *mask, bool take_log) {
    VC_SHARED(float, sh, [32]);
    long long o = blockIdx.x, L = g.Len;
    const float *xr = x + o * L;
    float *yr = y + o * L;
    const float *mr = mask ? mask + mask_base(g, o, 0) : nullptr;
    long long ms = mask ? g.mst[g.axis] : 0;
    float mx = -INFINITY;
    for (long long j = threadIdx.x; j < L; j += blockDim.x) {
        float v = xr[j] + (mr ? mr[j * ms] : 0.0f);
        yr[j] = v;
        mx = fmaxf(mx, v);
    }
    mx = vc_block_max(mx, sh);
    if (mx == -INFINITY) { /* every entry masked */
        for (long long j = threadIdx.x; j < L; j += blockDim.x) yr[j] = take_log ? -INFINITY : 0.0f;
    } else {
        float s = 0.0f;
        for (long long j = threadIdx.x; j < L; j += blockDim.x) s += expf(yr[j] - mx);
        s = vc_block_sum(s, sh);
        if (take_log) {
            float lse = mx + logf(s);
            for (long long j = threadIdx.x; j < L; j += blockDim.x) yr[j] -= lse;
        } else {
            float inv = 1.0f / s;
            for (long long j = threadIdx.x; j < L; j += blockDim.x) yr[j] = expf(yr[j] - mx) * inv;
        }
    }
}

/* In > 1: thread r owns slice (r / In, r % In), stride In. */
__global__ void k_softmax_fwd_cols(const float *x, float *y, Geom g, const float *mask, bool take_log) {
    long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x, In = g.In, L = g.Len;
    if (r >= g.Out * In) return;
    long long o = r / In, i = r % In;
    const float *xr = x + o * L * In + i;
    float *yr = y + o * L * In + i;
    const float *mr = mask ? mask + mask_base(g, o, i) : nullptr;
    long long ms = mask ? g.mst[g.axis] : 0;
    float mx = -INFINITY;
    for (long long j = 0; j < L; j++) {
        float v = xr[j * In] + (mr ? mr[j * ms] : 0.0f);
        yr[j * In] = v;
        mx = fmaxf(mx, v);
    }
    if (mx == -INFINITY) {
        for (long long j = 0; j < L; j++) yr[j * In] = take_log ? -INFINITY : 0.0f;
        return;
    }
    float s = 0.0f;
    for (long long j = 0; j < L; j++) s += expf(yr[j * In] - mx);
    if (take_log) {
        float lse = mx + logf(s);
        for (long long j = 0; j < L; j++) yr[j * In] -= lse;
    } else {
        float inv = 1.0f / s;
        for (long long j = 0; j < L; j++) yr[j * In] = expf(yr[j * In] - mx) * inv;
    }
}

/* softmax: gx = y (g - sum g y); log-softmax: gx = g - e^y sum g (a masked,
 * -inf, entry passes nothing) */
__device__ __forceinline__ float sm_term(float y, float g, bool take_log) {
    return take_log ? (y == -INFINITY ? 0.0f : g) : g * y;
}
__device__ __forceinline__ float sm_grad(float y, float g, float s, bool take_log) {
    return take_log ? (y == -INFINITY ? 0.0f : g - expf(y) * s) : y * (g - s);
}

__global__ void k_softmax_bwd_rows(const float *y, const float *g, float *gx, float beta, long long L, bool take_log) {
    VC_SHARED(float, sh, [32]);
    long long off = (long long)blockIdx.x * L;
    const float *yr = y + off, *gr = g + off;
    float *xr = gx + off;
    float s = 0.0f;
    for (long long j = threadIdx.x; j < L; j += blockDim.x) s += sm_term(yr[j], gr[j], take_log);
    s = vc_block_sum(s, sh);
    for (long long j = threadIdx.x; j < L; j += blockDim.x) {
        float d = sm_grad(yr[j], gr[j], s, take_log);
        xr[j] = beta == 0.0f ? d : xr[j] + d;
    }
}

__global__ void k_softmax_bwd_cols(const float *y, const float *g, float *gx, float beta, long long Out, long long L,
                                   long long In, bool take_log) {
    long long r = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= Out * In) return;
    long long off = (r / In) * L * In + r % In;
    const float *yr = y + off, *gr = g + off;
    float *xr = gx + off;
    float s = 0.0f;
    for (long long j = 0; j < L; j++) s += sm_term(yr[j * In], gr[j * In], take_log);
    for (long long j = 0; j < L; j++) {
        float d = sm_grad(yr[j * In], gr[j * In], s, take_log);
        xr[j * In] = beta == 0.0f ? d : xr[j * In] + d;
    }
}

/* sample s, class c at logits[s*ss + c*cs]: block s writes lse[s] */
__global__ void k_xent_lse(const float *logits, long long C, long long ss, long long cs, float *lse) {
    VC_SHARED(float, sh, [32]);
    const float *l = logits + (long long)blockIdx.x * ss;
    float mx = -INFINITY;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) mx = fmaxf(mx, l[c * cs]);
    mx = vc_block_max(mx, sh);
    float s = 0.0f;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) s += expf(l[c * cs] - mx);
    s = vc_block_sum(s, sh);
    if (threadIdx.x == 0) lse[blockIdx.x] = mx + logf(s);
}

/* loss = mean_s (lse[s] - logit of the target), summed in double */
__global__ void k_xent_loss(const float *logits, long long S, long long ss, long long cs, const int64_t *target,
                            const float *lse, float *loss) {
    VC_SHARED(double, sh, [32]);
    double t = 0.0;
    for (long long s = threadIdx.x; s < S; s += blockDim.x)
        t += (double)lse[s] - (double)logits[s * ss + (long long)target[s] * cs];
    t = vc_block_sum(t, sh);
    if (threadIdx.x == 0) loss[0] = (float)(t / (double)S);
}

__global__ void k_xent_bwd(const float *logits, long long rows, long long cols, int axis, const int64_t *target,
                           const float *lse, const float *gloss, float *gl, float beta) {
    long long n = rows * cols;
    long long S = axis == 1 ? rows : cols;
    float k = gloss[0] / (float)S;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
        long long s = axis == 1 ? e / cols : e % cols, c = axis == 1 ? e % cols : e / cols;
        float d = k * (expf(logits[e] - lse[s]) - (c == (long long)target[s] ? 1.0f : 0.0f));
        gl[e] = beta == 0.0f ? d : gl[e] + d;
    }
}

unsigned grid_for(long long n, unsigned threads) {
    long long b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

} // namespace

/* x, y [ne...] contiguous; mask broadcast through strides mst (or NULL) */
extern "C" void vc_cu_softmax_fwd(const vc_real *x, vc_real *y, int nd, const int64_t *ne, int axis,
                                  const vc_real *mask, const int64_t *mst, bool take_log) {
    Geom g = make_geom(nd, ne, axis, mask ? mst : nullptr);
    if (g.Out * g.Len * g.In == 0) return;
    if (g.In == 1) {
        VC_LAUNCH(k_softmax_fwd_rows, (unsigned)g.Out, vc_cu_row_threads(g.Len), 0, vc_cu_stream(), x, y, g, mask,
                  take_log);
        vc_cu_launched("softmax_fwd", "k_softmax_fwd_rows");
    } else {
        long long n = g.Out * g.In;
        VC_LAUNCH(k_softmax_fwd_cols, (unsigned)((n + 127) / 128), 128, 0, vc_cu_stream(), x, y, g, mask, take_log);
        vc_cu_launched("softmax_fwd", "k_softmax_fwd_cols");
    }
}

/* y, g, gx [ne...] contiguous */
extern "C" void vc_cu_softmax_bwd(const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta, int nd,
                                  const int64_t *ne, int axis, bool take_log) {
    Geom m = make_geom(nd, ne, axis, nullptr);
    if (m.Out * m.Len * m.In == 0) return;
    if (m.In == 1) {
        VC_LAUNCH(k_softmax_bwd_rows, (unsigned)m.Out, vc_cu_row_threads(m.Len), 0, vc_cu_stream(), y, g, gx, beta,
                  m.Len, take_log);
        vc_cu_launched("softmax_bwd", "k_softmax_bwd_rows");
    } else {
        long long n = m.Out * m.In;
        VC_LAUNCH(k_softmax_bwd_cols, (unsigned)((n + 127) / 128), 128, 0, vc_cu_stream(), y, g, gx, beta, m.Out,
                  m.Len, m.In, take_log);
        vc_cu_launched("softmax_bwd", "k_softmax_bwd_cols");
    }
}

/* logits [rows, cols], classes along axis; target, lse [samples]; loss [1] */
extern "C" void vc_cu_xent_fwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                               vc_real *lse, vc_real *loss) {
    long long S = axis == 1 ? rows : cols, C = axis == 1 ? cols : rows;
    long long ss = axis == 1 ? cols : 1, cs = axis == 1 ? 1 : cols;
    if (S <= 0) return;
    VC_LAUNCH(k_xent_lse, (unsigned)S, vc_cu_row_threads(C), 0, vc_cu_stream(), logits, C, ss, cs, lse);
    if (!vc_cu_launched("xent_fwd", "k_xent_lse")) return;
    VC_LAUNCH(k_xent_loss, 1, 256, 0, vc_cu_stream(), logits, S, ss, cs, target, lse, loss);
    vc_cu_launched("xent_fwd", "k_xent_loss");
}

/* gl [rows, cols] += or = gloss[0] / S (softmax - onehot(target)) */
extern "C" void vc_cu_xent_bwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                               const vc_real *lse, const vc_real *gloss, vc_real *gl, vc_real beta) {
    long long n = (long long)rows * cols;
    if (n <= 0) return;
    VC_LAUNCH(k_xent_bwd, grid_for(n, 256), 256, 0, vc_cu_stream(), logits, (long long)rows, (long long)cols, axis,
              target, lse, gloss, gl, beta);
    vc_cu_launched("xent_bwd", "k_xent_bwd");
}
