#include "k_unary.h"

#include <omp.h>
#include <stdbool.h>

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
 * of the derivative; x is read once. With g16, the scaled gx is rounded to
 * it in the same block. */
#define BLOCKED_FB(S, F, D)                                                                                            \
    _Pragma("omp parallel for schedule(static) if (n > 32768)") for (int64_t i0 = 0; i0 < n; i0 += BLK) {              \
        int64_t m = n - i0 < BLK ? n - i0 : BLK;                                                                       \
        float t[BLK];                                                                                                  \
        for (int64_t i = 0; i < m; i++) {                                                                              \
            float pdf, v = x[i0 + i], s = (S);                                                                         \
            (void)pdf;                                                                                                 \
            t[i] = (F);                                                                                                \
            gx[i0 + i] *= (D);                                                                                         \
        }                                                                                                              \
        for (int64_t i = 0; i < m; i++) y[i0 + i] = vc_round_bf16(t[i]);                                               \
        if (g16)                                                                                                       \
            for (int64_t i = 0; i < m; i++) g16[i0 + i] = vc_round_bf16(gx[i0 + i]);                                   \
    }
/* The same with the column sums of the scaled gx [rows, cols] added to sums:
 * the columns are cut into blocks of at most COLS, each thread takes whole
 * blocks and goes down their rows in order, so sums[c] gets the rows one by
 * one in order (bias_bwd's sums, for any thread count, also when a caller
 * adds block after block of rows). Narrow blocks keep one row's pieces of x,
 * gx, y, g16 and the sums in L1 next to the next row's, which is prefetched
 * (the hardware prefetchers stop at each 4 KB page): 2048 columns on one
 * core took 23 ms in blocks of 1024, 17 in blocks of 128, and 20 for the
 * flat pass plus bias_bwd_round_bf16. */
#define COLS 128
#define COLUMNS_FB(SEG)                                                                                                \
    int par = rows * cols > 32768;                                                                                     \
    int64_t nb = par ? omp_get_max_threads() : 1;                                                                      \
    if (nb < (cols + COLS - 1) / COLS) nb = (cols + COLS - 1) / COLS;                                                  \
    int64_t w = ((cols + nb - 1) / nb + 15) / 16 * 16;                                                                 \
    _Pragma("omp parallel for schedule(static) if (par)") for (int64_t c0 = 0; c0 < cols; c0 += w) {                   \
        int64_t m = cols - c0 < w ? cols - c0 : w;                                                                     \
        for (int64_t r = 0; r < rows; r++) {                                                                           \
            int64_t o = r * cols + c0;                                                                                 \
            if (r + 1 < rows)                                                                                          \
                for (int64_t i = 0; i < m; i += 16) {                                                                  \
                    __builtin_prefetch(x + o + cols + i);                                                              \
                    __builtin_prefetch(gx + o + cols + i, 1);                                                          \
                }                                                                                                      \
            SEG(x + o, y + o, gx + o, g16 ? g16 + o : NULL, sums + c0, m);                                             \
        }                                                                                                              \
    }
/* One row's piece of m <= COLS columns (its own function: with the row
 * offsets computed in the loop, GCC could not prove the pointers apart and
 * vectorised a third of it) */
#define SEGMENT_FB(S, F, D)                                                                                            \
    float t[COLS];                                                                                                     \
    for (int64_t i = 0; i < m; i++) {                                                                                  \
        float pdf, v = x[i], s = (S);                                                                                  \
        (void)pdf;                                                                                                     \
        t[i] = (F);                                                                                                    \
        gx[i] *= (D);                                                                                                  \
    }                                                                                                                  \
    for (int64_t i = 0; i < m; i++) y[i] = vc_round_bf16(t[i]);                                                        \
    if (g16)                                                                                                           \
        for (int64_t i = 0; i < m; i++) g16[i] = vc_round_bf16(gx[i]);                                                 \
    for (int64_t i = 0; i < m; i++) sums[i] += gx[i];
/* S, F, D of each activation (GELU's S also sets pdf, the density, which
 * its D uses: one exp for both) */
#define GELU_S vc_fphi_pdf(v, &pdf)
#define GELU_F v * s
#define GELU_D s + v * pdf
#define QUICKGELU_S vc_fsigmoid(1.702f * v)
#define QUICKGELU_F v * s
#define QUICKGELU_D s + 1.702f * v * s * (1 - s)
static void gelu_fb(const float *R x, uint16_t *R y, float *R gx, uint16_t *R g16, int64_t n) {
    BLOCKED_FB(GELU_S, GELU_F, GELU_D)
}
static void quickgelu_fb(const float *R x, uint16_t *R y, float *R gx, uint16_t *R g16, int64_t n) {
    BLOCKED_FB(QUICKGELU_S, QUICKGELU_F, QUICKGELU_D)
}
static void gelu_seg(const float *R x, uint16_t *R y, float *R gx, uint16_t *R g16, float *R sums, int64_t m) {
    SEGMENT_FB(GELU_S, GELU_F, GELU_D)
}
static void quickgelu_seg(const float *R x, uint16_t *R y, float *R gx, uint16_t *R g16, float *R sums, int64_t m) {
    SEGMENT_FB(QUICKGELU_S, QUICKGELU_F, QUICKGELU_D)
}
static void gelu_fb_sums(const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums, int64_t rows,
                         int64_t cols) {
    COLUMNS_FB(gelu_seg)
}
static void quickgelu_fb_sums(const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums, int64_t rows,
                              int64_t cols) {
    COLUMNS_FB(quickgelu_seg)
}

void vc_unary_fwd_bwd_bf16(vc_unop op, const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums, int64_t rows,
                           int64_t cols) {
    int64_t n = rows * cols;
    if (op == VC_UN_GELU && sums) gelu_fb_sums(x, y, gx, g16, sums, rows, cols);
    else if (op == VC_UN_QUICKGELU && sums) quickgelu_fb_sums(x, y, gx, g16, sums, rows, cols);
    else if (op == VC_UN_GELU) gelu_fb(x, y, gx, g16, n);
    else if (op == VC_UN_QUICKGELU) quickgelu_fb(x, y, gx, g16, n);
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
    vc_real pdf, cdf = vc_fphi_pdf(x, &pdf);
    return cdf + x * pdf;
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
