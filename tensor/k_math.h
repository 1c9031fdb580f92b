/* k_math.h: scalar math that GCC can vectorise inside kernel loops.
 * libm's expf/erff/tanhf are not vectorised without -ffast-math (which would
 * also break NaN checks), and GELU on a 4096x2048 activation would spend more
 * time in erff than in the matmuls around it. These stay within 2 ulp of expf
 * and ~1.4e-7 relative of erfc. Their polynomials are written with fmaf:
 * under -std=c11 GCC contracts nothing (-ffp-contract=off), and a separate
 * multiply and add per Horner step made GELU twice the work. fmaf gives the
 * same bits on every machine with or without an FMA unit. The double build
 * uses libm. */
#ifndef VC_K_MATH_H
#define VC_K_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "real.h"

#ifdef VC_DOUBLE
static inline double vc_fexp(double x) { return exp(x); }
static inline double vc_ftanh(double x) { return tanh(x); }
static inline double vc_fphi_pdf(double x, double *pdf) {
    *pdf = 0.39894228040143268 * exp(-0.5 * x * x);
    return x < 0 ? 0.5 * erfc(-x * 0.70710678118654752) : 1 - 0.5 * erfc(x * 0.70710678118654752);
}
static inline double vc_sqrt(double x) { return sqrt(x); }
#else
/* sqrt in the element type: sqrt() on a float promotes the rest of the
 * expression to double (AdamW ran compute-bound at half its memory speed) */
static inline float vc_sqrt(float x) { return sqrtf(x); }

/* exp(x): range reduction x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial,
 * scale by 2^n through the exponent bits. Returns 0 below -87.3 (so -inf
 * masks give exactly 0) and +inf above 88.7. */
static inline float vc_fexp(float x) {
    /* written so that NaN clamps to -87.3 (no NaN reaches the integer
     * conversion below, which would be undefined) and is returned as NaN */
    float xc = x >= -87.3f ? (x > 88.7f ? 88.7f : x) : -87.3f;
    /* round to nearest by adding and removing 1.5 * 2^23 (no libm call, so
     * the loop vectorises) */
    float n = fmaf(xc, 1.44269504088896341f, 12582912.0f) - 12582912.0f;
    float r = fmaf(-n, 0.693145751953125f, xc);
    r = fmaf(-n, 1.428606765330187e-06f, r);
    float p = 1.0f / 720;
    p = fmaf(p, r, 1.0f / 120);
    p = fmaf(p, r, 1.0f / 24);
    p = fmaf(p, r, 1.0f / 6);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    float v = p * scale;
    v = x < -87.3f ? 0.0f : v;
    v = x > 88.7f ? INFINITY : v;
    return x == x ? v : x;
}

/* Phi(x), the standard normal CDF, accurate in relative terms on both
 * tails, and the density phi(x) = exp(-x^2/2) / sqrt(2 pi) into *pdf, from
 * one exp: with z = |x| / sqrt(2) and t = 1 / (1 + z/2),
 * erfc(z) = t Q(t) exp(-z^2), Q a degree-10 fit of erfc(z) exp(z^2) / t on
 * t in (0, 1] (1.1e-8 relative; 1.4e-7 evaluated in float32), and exp(-z^2)
 * = exp(-x^2/2) is the density's too. Against mpmath: 4.6e-7 relative at
 * most on [-4, 4] (the former fit of log(erfc(z) exp(z^2) / t), which needed
 * a second exp for the density, 1.3e-6). GELU's backward evaluates both. */
static inline float vc_fphi_pdf(float x, float *pdf) {
    float z = (x < 0 ? -x : x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float q = 4.235397279e-02f;
    q = fmaf(q, t, -2.308639437e-01f);
    q = fmaf(q, t, 4.861910045e-01f);
    q = fmaf(q, t, -4.469902515e-01f);
    q = fmaf(q, t, 1.270975173e-01f);
    q = fmaf(q, t, -5.723556876e-02f);
    q = fmaf(q, t, 9.300129116e-02f);
    q = fmaf(q, t, 1.753767431e-01f);
    q = fmaf(q, t, 2.468805909e-01f);
    q = fmaf(q, t, 2.820938528e-01f);
    q = fmaf(q, t, 2.820948064e-01f);
    float e = vc_fexp(-0.5f * x * x);
    *pdf = 0.39894228040143268f * e;
    float c = t * q * e; /* erfc(z) */
    return x < 0 ? 0.5f * c : 1.0f - 0.5f * c;
}

/* tanh(x) = sign(x) (1 - e) / (1 + e) with e = exp(-2|x|); below |x| < 0.004
 * the odd Taylor series avoids the cancellation. */
static inline float vc_ftanh(float x) {
    float a = fabsf(x);
    float e = vc_fexp(-2.0f * a);
    float t = (1.0f - e) / (1.0f + e);
    float small = a * (1.0f - a * a * (1.0f / 3));
    t = a < 0.004f ? small : t;
    return x < 0 ? -t : t;
}
#endif

static inline vc_real vc_fsigmoid(vc_real x) { return (vc_real)1 / ((vc_real)1 + vc_fexp(-x)); }

/* Standard normal CDF Phi(x), accurate in relative terms on both tails
 * (vc_fphi_pdf without the density: the same bits). */
static inline vc_real vc_fphi(vc_real x) {
    vc_real pdf;
    return vc_fphi_pdf(x, &pdf);
}

/* Row reductions that vectorise: a float sum in source order is a chain of
 * dependent adds (GCC keeps the order without -ffast-math, one add per 4
 * cycles), so these keep VC_LANES partial sums, element j in lane j % 16,
 * and add the lanes pairwise at the end. The order is fixed (the result does
 * not depend on threads or the machine) and the error bound is lower than
 * the sequential sum's. */
#define VC_LANES 16
static inline vc_real vc_lanes_total(vc_real *a) {
    for (int w = VC_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++) a[k] += a[k + w];
    return a[0];
}
/* sum_j x[j] */
static inline vc_real vc_row_sum(const vc_real *x, int64_t n) {
    vc_real a[VC_LANES] = {0};
    int64_t j = 0;
    for (; j + VC_LANES <= n; j += VC_LANES)
        for (int k = 0; k < VC_LANES; k++) a[k] += x[j + k];
    for (; j < n; j++) a[j % VC_LANES] += x[j];
    return vc_lanes_total(a);
}
/* sum_j (x[j] - c)^2 */
static inline vc_real vc_row_sumsq_dev(const vc_real *x, vc_real c, int64_t n) {
    vc_real a[VC_LANES] = {0};
    int64_t j = 0;
    for (; j + VC_LANES <= n; j += VC_LANES)
        for (int k = 0; k < VC_LANES; k++) a[k] += (x[j + k] - c) * (x[j + k] - c);
    for (; j < n; j++) a[j % VC_LANES] += (x[j] - c) * (x[j] - c);
    return vc_lanes_total(a);
}

/* x rounded to bf16 (nearest even; NaN stays a quiet NaN): the same bits as
 * vc_f32_to_bf16 (dtype.h), inline so the loops that emit bf16 vectorise. */
static inline uint16_t vc_round_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
}

#endif
