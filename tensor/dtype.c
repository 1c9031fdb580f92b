#include "dtype.h"

#include <stdbool.h>
#include <string.h>

#include "real.h"

size_t vc_dtype_size(vc_dtype t) {
    switch (t) {
    case VC_F32: return sizeof(vc_real); /* 8 in the double-precision test build */
    case VC_F16: case VC_BF16: return 2;
    case VC_I32: return 4;
    case VC_I64: return 8;
    case VC_U8: return 1;
    default: return 0;
    }
}

const char *vc_dtype_name(vc_dtype t) {
    static const char *names[] = {"float32", "float16", "bfloat16", "int32", "int64", "uint8"};
    return (unsigned)t < VC_NDTYPES ? names[t] : "invalid";
}

const char *vc_device_name(vc_device d) { return d == VC_CPU ? "cpu" : d == VC_CUDA ? "cuda" : "invalid"; }

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t vc_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xffu) /* Inf or NaN; keep NaN quiet and non-zero */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);        /* overflow -> Inf */
    if (e <= 0) {                                          /* subnormal or zero */
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;                                   /* implicit bit */
        int shift = 14 - e;                                 /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* may carry into exp: correct */
    return (uint16_t)(sign | half);
}

float vc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1fu) return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: value = man * 2^-24 exactly */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t vc_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float vc_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

void vc_f16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vc_f16_to_f32(src[i]);
}

void vc_f32_to_f16_n(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vc_f32_to_f16(src[i]);
}

void vc_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = vc_bf16_to_f32(src[i]);
}

static inline bool nonfinite_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x7f800000u) == 0x7f800000u; /* exponent all ones: Inf or NaN */
}

int64_t vc_first_nonfinite(const float *x, size_t n) {
    bool bad = false;
    for (size_t i = 0; i < n; i++) bad |= nonfinite_bits(x[i]);
    if (bad)
        for (size_t i = 0; i < n; i++)
            if (nonfinite_bits(x[i])) return (int64_t)i;
    return -1;
}
