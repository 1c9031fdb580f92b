#include "k_unary.h"

#include "k_math.h"

#define PAR _Pragma("omp parallel for schedule(static) if (n > 32768)")
/* beta is 0 (overwrite: gx may hold garbage, even NaN) or 1 (accumulate). */
#define ACC(dst, v) ((dst) = beta == 0 ? (v) : (dst) + (v))

void vc_unary_fwd(vc_unop op, const vc_real *x, vc_real *y, int64_t n) {
    switch (op) {
    case VC_UN_GELU:
        PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] * vc_fphi(x[i]);
        break;
    case VC_UN_QUICKGELU:
        PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] * vc_fsigmoid((vc_real)1.702 * x[i]);
        break;
    case VC_UN_SIGMOID:
        PAR for (int64_t i = 0; i < n; i++) y[i] = vc_fsigmoid(x[i]);
        break;
    case VC_UN_TANH:
        PAR for (int64_t i = 0; i < n; i++) y[i] = vc_ftanh(x[i]);
        break;
    case VC_UN_RELU:
        PAR for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
        break;
    case VC_UN_EXP:
        PAR for (int64_t i = 0; i < n; i++) y[i] = vc_fexp(x[i]);
        break;
    }
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x), phi the standard normal density. */
static inline vc_real gelu_grad(vc_real x) {
    return vc_fphi(x) + x * (vc_real)0.39894228040143268 * vc_fexp((vc_real)-0.5 * x * x);
}

void vc_unary_bwd(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta,
                  int64_t n) {
    switch (op) {
    case VC_UN_GELU:
        PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * gelu_grad(x[i]));
        break;
    case VC_UN_QUICKGELU:
        PAR for (int64_t i = 0; i < n; i++) {
            vc_real s = vc_fsigmoid((vc_real)1.702 * x[i]);
            ACC(gx[i], g[i] * (s + (vc_real)1.702 * x[i] * s * (1 - s)));
        }
        break;
    case VC_UN_SIGMOID:
        PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * y[i] * (1 - y[i]));
        break;
    case VC_UN_TANH:
        PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * (1 - y[i] * y[i]));
        break;
    case VC_UN_RELU:
        PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], (x[i] > 0 ? g[i] : 0));
        break;
    case VC_UN_EXP:
        PAR for (int64_t i = 0; i < n; i++) ACC(gx[i], g[i] * y[i]);
        break;
    }
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
