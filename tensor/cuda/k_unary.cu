/* k_unary.cu: the CUDA twin of tensor/k_unary.c: element-wise activations,
 * forward and backward side by side, plus scale and axpby. One thread per
 * element over a grid-stride loop; nothing is summed, so results do not
 * depend on the launch shape. Backward kernels follow backend.h: beta 0
 * overwrites gx (never read: it may hold NaN), 1 accumulates.
 * The math is CUDA's accurate expf/erfcf/tanhf (the CPU kernels use their own
 * polynomials, k_math.h; both are within a few ulp of the true functions).
 * unary_fwd_bf16 is the forward with its output rounded to bf16 as stored.
 * Owns: the launchers vc_cu_unary_fwd/_fwd_bf16/_bwd/_bwd_inplace, vc_cu_scale,
 * vc_cu_axpby (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */

#ifdef VC_DOUBLE
__device__ __forceinline__ double dexp(double x) { return exp(x); }
__device__ __forceinline__ double derfc(double x) { return erfc(x); }
__device__ __forceinline__ double dtanh(double x) { return tanh(x); }
#else
__device__ __forceinline__ float dexp(float x) { return expf(x); }
__device__ __forceinline__ float derfc(float x) { return erfcf(x); }
__device__ __forceinline__ float dtanh(float x) { return tanhf(x); }
#endif

__device__ __forceinline__ vc_real sigmoid(vc_real x) { return (vc_real)1 / ((vc_real)1 + dexp(-x)); }
/* Standard normal CDF. */
__device__ __forceinline__ vc_real phi_cdf(vc_real x) { return (vc_real)0.5 * derfc(-x * (vc_real)0.70710678118654752); }

template <int OP>
__device__ __forceinline__ vc_real act(vc_real x) {
    if (OP == VC_UN_GELU) return x * phi_cdf(x);
    if (OP == VC_UN_QUICKGELU) return x * sigmoid((vc_real)1.702 * x);
    if (OP == VC_UN_SIGMOID) return sigmoid(x);
    if (OP == VC_UN_TANH) return dtanh(x);
    if (OP == VC_UN_RELU) return x > 0 ? x : (vc_real)0;
    return dexp(x); /* VC_UN_EXP */
}

/* f'(.) from the saved input x or output y, whichever the op needs. */
template <int OP>
__device__ __forceinline__ vc_real act_grad(vc_real x, vc_real y) {
    if (OP == VC_UN_GELU) /* Phi(x) + x phi(x) */
        return phi_cdf(x) + x * (vc_real)0.39894228040143268 * dexp((vc_real)-0.5 * x * x);
    if (OP == VC_UN_QUICKGELU) {
        vc_real s = sigmoid((vc_real)1.702 * x);
        return s + (vc_real)1.702 * x * s * (1 - s);
    }
    if (OP == VC_UN_SIGMOID) return y * (1 - y);
    if (OP == VC_UN_TANH) return (1 - y) * (1 + y); /* no cancellation near |y| = 1 */
    if (OP == VC_UN_RELU) return x > 0 ? (vc_real)1 : (vc_real)0;
    return y; /* VC_UN_EXP */
}

template <int OP>
__global__ void k_unary_fwd(const vc_real *__restrict__ x, vc_real *__restrict__ y, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) y[i] = act<OP>(x[i]);
}

#ifndef VC_DOUBLE
/* The forward with y in bf16 bits: act<OP> as above, rounded to nearest even
 * (NaN stays NaN) as it is stored, so it is exactly k_unary_fwd's output
 * rounded. */
template <int OP>
__global__ void k_unary_fwd_bf16(const float *__restrict__ x, unsigned short *__restrict__ y, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        y[i] = __bfloat16_as_ushort(__float2bfloat16(act<OP>(x[i])));
}
#endif

/* x or y may be unused (and then may be any pointer) depending on OP. */
template <int OP>
__global__ void k_unary_bwd(const vc_real *__restrict__ x, const vc_real *__restrict__ y,
                            const vc_real *__restrict__ g, vc_real *__restrict__ gx, bool acc, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        bool from_y = OP == VC_UN_SIGMOID || OP == VC_UN_TANH || OP == VC_UN_EXP;
        vc_real d = from_y ? act_grad<OP>(0, y[i]) : act_grad<OP>(x[i], 0);
        vc_real v = OP == VC_UN_RELU ? (x[i] > 0 ? g[i] : (vc_real)0) : g[i] * d;
        gx[i] = acc ? gx[i] + v : v;
    }
}

template <int OP>
__global__ void k_unary_bwd_inplace(const vc_real *__restrict__ x, vc_real *__restrict__ gx, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        gx[i] *= act_grad<OP>(x[i], 0);
}

/* y may alias x. */
__global__ void k_scale(const vc_real *x, vc_real s, vc_real *y, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) y[i] = s * x[i];
}

__global__ void k_axpby(const vc_real *__restrict__ g, vc_real s, vc_real *__restrict__ gx, bool acc, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        gx[i] = acc ? gx[i] + s * g[i] : s * g[i];
}

template <int OP>
void launch_fwd(const vc_real *x, vc_real *y, int64_t n) {
    VC_LAUNCH(k_unary_fwd<OP>, blocks_for(n), kThreads, 0, vc_cu_stream(), x, y, n);
    vc_cu_launched("unary_fwd", "k_unary_fwd");
}

#ifndef VC_DOUBLE
template <int OP>
void launch_fwd_bf16(const float *x, uint16_t *y, int64_t n) {
    VC_LAUNCH(k_unary_fwd_bf16<OP>, blocks_for(n), kThreads, 0, vc_cu_stream(), x, (unsigned short *)y, n);
    vc_cu_launched("unary_fwd_bf16", "k_unary_fwd_bf16");
}
#endif

template <int OP>
void launch_bwd(const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx, bool acc, int64_t n) {
    VC_LAUNCH(k_unary_bwd<OP>, blocks_for(n), kThreads, 0, vc_cu_stream(), x, y, g, gx, acc, n);
    vc_cu_launched("unary_bwd", "k_unary_bwd");
}

template <int OP>
void launch_bwd_inplace(const vc_real *x, vc_real *gx, int64_t n) {
    VC_LAUNCH(k_unary_bwd_inplace<OP>, blocks_for(n), kThreads, 0, vc_cu_stream(), x, gx, n);
    vc_cu_launched("unary_bwd_inplace", "k_unary_bwd_inplace");
}

}  // namespace

extern "C" void vc_cu_unary_fwd(vc_unop op, const vc_real *x, vc_real *y, int64_t n) {
    if (n <= 0) return;
    switch (op) {
    case VC_UN_GELU: launch_fwd<VC_UN_GELU>(x, y, n); break;
    case VC_UN_QUICKGELU: launch_fwd<VC_UN_QUICKGELU>(x, y, n); break;
    case VC_UN_SIGMOID: launch_fwd<VC_UN_SIGMOID>(x, y, n); break;
    case VC_UN_TANH: launch_fwd<VC_UN_TANH>(x, y, n); break;
    case VC_UN_RELU: launch_fwd<VC_UN_RELU>(x, y, n); break;
    case VC_UN_EXP: launch_fwd<VC_UN_EXP>(x, y, n); break;
    }
}

#ifndef VC_DOUBLE
/* y [n] in bf16 = unary_fwd's output rounded (every op; GELU and QuickGELU
 * feed the bf16 products of the MLPs) */
extern "C" void vc_cu_unary_fwd_bf16(vc_unop op, const float *x, uint16_t *y, int64_t n) {
    if (n <= 0) return;
    switch (op) {
    case VC_UN_GELU: launch_fwd_bf16<VC_UN_GELU>(x, y, n); break;
    case VC_UN_QUICKGELU: launch_fwd_bf16<VC_UN_QUICKGELU>(x, y, n); break;
    case VC_UN_SIGMOID: launch_fwd_bf16<VC_UN_SIGMOID>(x, y, n); break;
    case VC_UN_TANH: launch_fwd_bf16<VC_UN_TANH>(x, y, n); break;
    case VC_UN_RELU: launch_fwd_bf16<VC_UN_RELU>(x, y, n); break;
    case VC_UN_EXP: launch_fwd_bf16<VC_UN_EXP>(x, y, n); break;
    }
}
#endif

extern "C" void vc_cu_unary_bwd(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx,
                                vc_real beta, int64_t n) {
    if (n <= 0) return;
    bool acc = beta != 0;
    switch (op) {
    case VC_UN_GELU: launch_bwd<VC_UN_GELU>(x, y, g, gx, acc, n); break;
    case VC_UN_QUICKGELU: launch_bwd<VC_UN_QUICKGELU>(x, y, g, gx, acc, n); break;
    case VC_UN_SIGMOID: launch_bwd<VC_UN_SIGMOID>(x, y, g, gx, acc, n); break;
    case VC_UN_TANH: launch_bwd<VC_UN_TANH>(x, y, g, gx, acc, n); break;
    case VC_UN_RELU: launch_bwd<VC_UN_RELU>(x, y, g, gx, acc, n); break;
    case VC_UN_EXP: launch_bwd<VC_UN_EXP>(x, y, g, gx, acc, n); break;
    }
}

/* Only GELU and QuickGELU have an in-place backward (as on the CPU). */
extern "C" void vc_cu_unary_bwd_inplace(vc_unop op, const vc_real *x, vc_real *gx, int64_t n) {
    if (n <= 0) return;
    if (op == VC_UN_GELU) launch_bwd_inplace<VC_UN_GELU>(x, gx, n);
    else if (op == VC_UN_QUICKGELU) launch_bwd_inplace<VC_UN_QUICKGELU>(x, gx, n);
}

extern "C" void vc_cu_scale(const vc_real *x, vc_real s, vc_real *y, int64_t n) {
    if (n <= 0) return;
    VC_LAUNCH(k_scale, blocks_for(n), kThreads, 0, vc_cu_stream(), x, s, y, n);
    vc_cu_launched("scale", "k_scale");
}

extern "C" void vc_cu_axpby(const vc_real *g, vc_real s, vc_real *gx, vc_real beta, int64_t n) {
    if (n <= 0) return;
    VC_LAUNCH(k_axpby, blocks_for(n), kThreads, 0, vc_cu_stream(), g, s, gx, beta != 0, n);
    vc_cu_launched("axpby", "k_axpby");
}
