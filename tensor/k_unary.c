#include "k_unary.h"

#include "k_math.h"

/* One loop per activation, with restrict pointers, so each vectorises (a
 * shared switch with possibly aliasing pointers kept GCC from vectorising the
 * math-heavy ones). beta is 0 (overwrite: gx may hold garbage, even NaN) or 1
 * (accumulate). */
#define PAR _Pragma("omp parallel for simd schedule(static) if (n > 32768)")
#define ACC(dst, v) ((dst) = beta == 0 ? (v) : (dst) + (v))
#define R restrict

static void gelu_f(const vc_real *R x, vc_real *R y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] * vc_fphi(x[i]);
}
static void quickgelu_f(const vc_real *R x, vc_real *R y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] * vc_fsigmoid((vc_real)1.702 * x[i]);
}
static void sigmoid_f(const vc_real *R x, vc_real *R y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = vc_fsigmoid(x[i]);
}
static void tanh_f(const vc_real *R x, vc_real *R y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = vc_ftanh(x[i]);
}
static void relu_f(const vc_real *R x, vc_real *R y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}
static void exp_f(const vc_real *R x, vc_real *R y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = vc_fexp(x[i]);
}

#ifndef VC_DOUBLE
/* The activations again with a bf16 output: the float32 value rounded. Each
 * thread computes a block in float32 on its stack, then rounds it: one loop
 * mixing the float32 math with 16-bit stores vectorises worse (GELU on
 * 4096 x 2048: 11.5 against 8.9 ms of one core). */
#define BLK 256
#define BLOCKED_F16(expr)                                                                                              \
    _Pragma("omp parallel for schedule(static) if (n > 32768)") for (int64_t i0 = 0; i0 < n; i0 += BLK) {              \
        int64_t m = n - i0 < BLK ? n - i0 : BLK;                                                                       \
        const float *xb = x + i0;                                                                                      \
        float t[BLK];                                                                                                  \
        for (int64_t i = 0; i < m; i++) t[i] = (expr);                                                                 \
        for (int64_t i = 0; i < m; i++) y[i0 + i] = vc_round_bf16(t[i]);                                               \
    }
static void gelu_f16(const float *R x, uint16_t *R y, int64_t n) { BLOCKED_F16(xb[i] * vc_fphi(xb[i])) }
static void quickgelu_f16(const float *R x, uint16_t *R y, int64_t n) {
    BLOCKED_F16(xb[i] * vc_fsigmoid(1.702f * xb[i]))
}

void vc_unary_fwd_bf16(vc_unop op, const float *x, uint16_t *y, int64_t n) {
    if (op == VC_UN_GELU) {
        gelu_f16(x, y, n);
        return;
    }
    if (op == VC_UN_QUICKGELU) {
        quickgelu_f16(x, y, n);
        return;
    }
    /* the others (no product reads them yet): float32 in blocks, then rounded */
    float tmp[1024];
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        int64_t m = n - i0 < 1024 ? n - i0 : 1024;
        vc_unary_fwd(op, x + i0, tmp, m);
        for (int64_t i = 0; i < m; i++) y[i0 + i] = vc_round_bf16(tmp[i]);
    }
}

/* The forward and the in-place backward of GELU / QuickGELU in one pass,
 * in blocks as BLOCKED_F16: the shared part S of element v (Phi(v), the
 * sigmoid) is computed once, as s, for the forward value F and the factor D
 * of the derivative; x is read once. */
#define BLOCKED_FB(S, F, D)                                                                                            \
    _Pragma("omp parallel for schedule(static) if (n > 32768)") for (int64_t i0 = 0; i0 < n; i0 += BLK) {              \
        int64_t m = n - i0 < BLK ? n - i0 : BLK;                                                                       \
        float t[BLK];                                                                                                  \
        for (int64_t i = 0; i < m; i++) {                                                                              \
            float v = x[i0 + i], s = (S);                                                                              \
            t[i] = (F);                                                                                                \
            gx[i0 + i] *= (D);                                                                                         \
        }                                                                                                              \
        for (int64_t i = 0; i < m; i++) y[i0 + i] = vc_round_bf16(t[i]);                                               \
    }
static void gelu_fb(const float *R x, uint16_t *R y, float *R gx, int64_t n) {
    BLOCKED_FB(vc_fphi(v), v * s, s + v * 0.39894228040143268f * vc_fexp(-0.5f * v * v))
}
static void quickgelu_fb(const float *R x, uint16_t *R y, float *R gx, int64_t n) {
    BLOCKED_FB(vc_fsigmoid(1.702f * v), v * s, s + 1.702f * v * s * (1 - s))
}

void vc_unary_fwd_bwd_bf16(vc_unop op, const float *x, uint16_t *y, float *gx, int64_t n) {
    if (op == VC_UN_GELU) gelu_fb(x, y, gx, n);
    else if (op == VC_UN_QUICKGELU) quickgelu_fb(x, y, gx, n);
    else {
        vc_unary_fwd_bf16(op, x, y, n);
        vc_unary_bwd_inplace(op, x, gx, n);
    }
}
#endif

void vc_unary_fwd(vc_unop op, const vc_real *x, vc_real *y, int64_t n) {
    switch (op) {
    case VC_UN_GELU: gelu_f(x, y, n); break;
    case VC_UN_QUICKGELU: quickgelu_f(x, y, n); break;
    case VC_UN_SIGMOID: sigmoid_f(x, y, n); break;
    case VC_UN_TANH: tanh_f(x, y, n); break;
    case VC_UN_RELU: relu_f(x, y, n); break;
    case VC_UN_EXP: exp_f(x, y, n); break;
    }
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x), phi the standard normal density. */
static inline vc_real gelu_grad(vc_real x) {
    return vc_fphi(x) + x * (vc_real)0.39894228040143268 * vc_fexp((vc_real)-0.5 * x * x);
}

static void gelu_b(const vc_real *R x, const vc_real *R g, vc_real *R gx, vc_real beta, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * gelu_grad(x[i]));
}
static void quickgelu_b(const vc_real *R x, const vc_real *R g, vc_real *R gx, vc_real beta, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) {
        vc_real s = vc_fsigmoid((vc_real)1.702 * x[i]);
        ACC(gx[i], g[i] * (s + (vc_real)1.702 * x[i] * s * (1 - s)));
    }
}
static void sigmoid_b(const vc_real *R y, const vc_real *R g, vc_real *R gx, vc_real beta, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * y[i] * (1 - y[i]));
}
static void tanh_b(const vc_real *R y, const vc_real *R g, vc_real *R gx, vc_real beta, int64_t n) {
    /* (1 - y)(1 + y), not 1 - y*y: near |y| = 1 the rounding of y*y would be
     * most of the difference (without a fused multiply-add) */
    PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * ((1 - y[i]) * (1 + y[i])));
}
static void relu_b(const vc_real *R x, const vc_real *R g, vc_real *R gx, vc_real beta, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], (x[i] > 0 ? g[i] : 0));
}
static void exp_b(const vc_real *R y, const vc_real *R g, vc_real *R gx, vc_real beta, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * y[i]);
}

void vc_unary_bwd(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta,
                  int64_t n) {
    switch (op) {
    case VC_UN_GELU: gelu_b(x, g, gx, beta, n); break;
    case VC_UN_QUICKGELU: quickgelu_b(x, g, gx, beta, n); break;
    case VC_UN_SIGMOID: sigmoid_b(y, g, gx, beta, n); break;
    case VC_UN_TANH: tanh_b(y, g, gx, beta, n); break;
    case VC_UN_RELU: relu_b(x, g, gx, beta, n); break;
    case VC_UN_EXP: exp_b(y, g, gx, beta, n); break;
    }
}

static void gelu_bi(const vc_real *R x, vc_real *R gx, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) gx[i] *= gelu_grad(x[i]);
}
static void quickgelu_bi(const vc_real *R x, vc_real *R gx, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) {
        vc_real s = vc_fsigmoid((vc_real)1.702 * x[i]);
        gx[i] *= s + (vc_real)1.702 * x[i] * s * (1 - s);
    }
}

void vc_unary_bwd_inplace(vc_unop op, const vc_real *x, vc_real *gx, int64_t n) {
    if (op == VC_UN_GELU) gelu_bi(x, gx, n);
    else if (op == VC_UN_QUICKGELU) quickgelu_bi(x, gx, n);
}

void vc_scale_fwd(const vc_real *x, vc_real s, vc_real *y, int64_t n) {
    PAR for (int64_t i = 0; i < n; i++) y[i] = s * x[i];
}

void vc_axpby(const vc_real *g, vc_real s, vc_real *gx, vc_real beta, int64_t n) {
    if (beta == 0) {
        PAR for (int64_t i = 0; i < n; i++) gx[i] = s * g[i];
    } else {
        PAR for (int64_t i = 0; i < n; i++) gx[i] += s * g[i];
    }
}
