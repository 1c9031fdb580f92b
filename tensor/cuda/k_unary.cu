/* k_unary.cu: the CUDA twin of tensor/k_unary.c: element-wise activations,
 * forward and backward side by side, plus scale and axpby. One thread per
 * element over a grid-stride loop; nothing is summed, so results do not
 * depend on the launch shape. Backward kernels follow backend.h: beta 0
 * overwrites gx (never read: it may hold NaN), 1 accumulates.
 * The math is CUDA's accurate expf/erfcf/tanhf (the CPU kernels use their own
 * polynomials, k_math.h; both are within a few ulp of the true functions).
 * unary_fwd_bf16 is the forward with its output rounded to bf16 as stored;
 * unary_fwd_bwd_bf16 that and the in-place backward in one pass, with the
 * scaled gradient's column sums laid out as k_bias.cu's (same bits).
 * Owns: the launchers vc_cu_unary_fwd/_fwd_bf16/_fwd_bwd_bf16/_bwd/
 * _bwd_inplace, vc_cu_scale, vc_cu_axpby (tensor/cuda/kernels.h). */
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

#ifndef VC_DOUBLE
/* Element i of unary_fwd_bwd_bf16: y = f(x) in bf16, gx *= f'(x) (the
 * product __fmul_rn, never contracted: the value k_unary_bwd_inplace
 * stores), g16 = gx rounded where g16 is not NULL; returns the scaled gx. */
template <int OP>
__device__ __forceinline__ float fwd_bwd_one(const float *__restrict__ x, unsigned short *__restrict__ y,
                                             float *__restrict__ gx, unsigned short *__restrict__ g16, int64_t i) {
    float xi = x[i], v = __fmul_rn(gx[i], act_grad<OP>(xi, 0));
    y[i] = __bfloat16_as_ushort(__float2bfloat16(act<OP>(xi)));
    gx[i] = v;
    if (g16) g16[i] = __bfloat16_as_ushort(__float2bfloat16(v));
    return v;
}

/* k_unary_fwd_bf16 and k_unary_bwd_inplace in one pass over n elements, the
 * scaled gradient also rounded into g16 where that is not NULL. */
template <int OP>
__global__ void k_unary_fwd_bwd_bf16(const float *__restrict__ x, unsigned short *__restrict__ y,
                                     float *__restrict__ gx, unsigned short *__restrict__ g16, int64_t n) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        fwd_bwd_one<OP>(x, y, gx, g16, i);
}

/* The same over [rows, cols], with sums[j] += the column sums of the scaled
 * gradient, in k_bias_bwd's layout (k_bias.cu): column j belongs to one
 * column of a kCols x kRows block, whose kRows threads each take one
 * contiguous chunk of the rows in order; the partials are added in order and
 * then to sums[j]. So sums gets exactly bias_bwd(gx, sums, 1, rows, cols)'s
 * bits for the rows of this call; rows in several calls add per call. */
template <int OP>
__global__ void k_unary_fwd_bwd_bf16_sums(const float *__restrict__ x, unsigned short *__restrict__ y,
                                          float *__restrict__ gx, unsigned short *__restrict__ g16,
                                          float *__restrict__ sums, int64_t rows, int64_t cols) {
    VC_SHARED(float, part, [kRows][kCols + 1]);
    column_reduce(
        part, cols, rows,
        [&](int64_t j, int64_t r0, int64_t r1) {
            float sum = 0;
            for (int64_t r = r0; r < r1; r++) sum += fwd_bwd_one<OP>(x, y, gx, g16, r * cols + j);
            return sum;
        },
        [&](int64_t j, float s) { sums[j] = sums[j] + s; });
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

template <int OP>
void launch_fwd_bwd_bf16(const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums, int64_t rows,
                         int64_t cols) {
    if (sums) {
        VC_LAUNCH(k_unary_fwd_bwd_bf16_sums<OP>, blocks_for(cols, kCols), dim3(kCols, kRows), 0, vc_cu_stream(), x,
                  (unsigned short *)y, gx, (unsigned short *)g16, sums, rows, cols);
        vc_cu_launched("unary_fwd_bwd_bf16", "k_unary_fwd_bwd_bf16_sums");
    } else {
        VC_LAUNCH(k_unary_fwd_bwd_bf16<OP>, blocks_for(rows * cols), kThreads, 0, vc_cu_stream(), x,
                  (unsigned short *)y, gx, (unsigned short *)g16, rows * cols);
        vc_cu_launched("unary_fwd_bwd_bf16", "k_unary_fwd_bwd_bf16");
    }
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

/* LAUNCH<OP>(args...) for the op's compile-time instance: every entry point's
 * switch over the six activations. */
#define VC_UNARY_DISPATCH(op, LAUNCH, ...)                                                                           \
    switch (op) {                                                                                                    \
    case VC_UN_GELU: LAUNCH<VC_UN_GELU>(__VA_ARGS__); break;                                                       \
    case VC_UN_QUICKGELU: LAUNCH<VC_UN_QUICKGELU>(__VA_ARGS__); break;                                             \
    case VC_UN_SIGMOID: LAUNCH<VC_UN_SIGMOID>(__VA_ARGS__); break;                                                 \
    case VC_UN_TANH: LAUNCH<VC_UN_TANH>(__VA_ARGS__); break;                                                       \
    case VC_UN_RELU: LAUNCH<VC_UN_RELU>(__VA_ARGS__); break;                                                       \
    case VC_UN_EXP: LAUNCH<VC_UN_EXP>(__VA_ARGS__); break;                                                         \
    }

extern "C" void vc_cu_unary_fwd(vc_unop op, const vc_real *x, vc_real *y, int64_t n) {
    if (n <= 0) return;
    VC_UNARY_DISPATCH(op, launch_fwd, x, y, n)
}

#ifndef VC_DOUBLE
/* y [n] in bf16 = unary_fwd's output rounded (every op; GELU and QuickGELU
 * feed the bf16 products of the MLPs) */
extern "C" void vc_cu_unary_fwd_bf16(vc_unop op, const float *x, uint16_t *y, int64_t n) {
    if (n <= 0) return;
    VC_UNARY_DISPATCH(op, launch_fwd_bf16, x, y, n)
}
#endif

extern "C" void vc_cu_unary_bwd(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx,
                                vc_real beta, int64_t n) {
    if (n <= 0) return;
    bool acc = beta != 0;
    VC_UNARY_DISPATCH(op, launch_bwd, x, y, g, gx, acc, n)
}

#ifndef VC_DOUBLE
/* [rows, cols]: y = f(x) in bf16, gx *= f'(x), g16 = gx rounded and
 * sums += gx's column sums where those are not NULL (k_unary.h; the sums as
 * bias_bwd's with beta 1, per call). GELU and QuickGELU, the activations
 * with an in-place backward. */
extern "C" void vc_cu_unary_fwd_bwd_bf16(vc_unop op, const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums,
                                         int64_t rows, int64_t cols) {
    if (rows <= 0 || cols <= 0) return;
    if (op == VC_UN_GELU) launch_fwd_bwd_bf16<VC_UN_GELU>(x, y, gx, g16, sums, rows, cols);
    else if (op == VC_UN_QUICKGELU) launch_fwd_bwd_bf16<VC_UN_QUICKGELU>(x, y, gx, g16, sums, rows, cols);
}
#endif

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
