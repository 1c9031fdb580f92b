#include "f16_fast.h"

#include <stdatomic.h>

#include "tensor/dtype.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define VC_HAVE_X86 1

/* F16C from CPUID leaf 1 (clang 14's __builtin_cpu_supports has no "f16c"). */
static int cpu_has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

__attribute__((target("avx,f16c"))) static void cvt_f16c(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    if (i < n) vc_f16_to_f32_n(dst + i, src + i, n - i);
}

__attribute__((target("avx512f"))) static void cvt_avx512(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 16));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(a));
        _mm512_storeu_ps(dst + i + 16, _mm512_cvtph_ps(b));
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    if (i < n) vc_f16_to_f32_n(dst + i, src + i, n - i);
}
#endif

enum { PATH_UNKNOWN = 0, PATH_SCALAR, PATH_F16C, PATH_AVX512 };

/* Relaxed atomics: every thread computes the same answer, so a race to store it is harmless. */
static _Atomic int path_cache = PATH_UNKNOWN;

static int path(void) {
    int p = atomic_load_explicit(&path_cache, memory_order_relaxed);
    if (p != PATH_UNKNOWN) return p;
    p = PATH_SCALAR;
#ifdef VC_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        p = PATH_AVX512;
    else if (__builtin_cpu_supports("avx") && cpu_has_f16c())
        p = PATH_F16C;
#endif
    atomic_store_explicit(&path_cache, p, memory_order_relaxed);
    return p;
}

void vc_f16_to_f32_fast(float *dst, const uint16_t *src, size_t n) {
    switch (path()) {
#ifdef VC_HAVE_X86
    case PATH_AVX512: cvt_avx512(dst, src, n); return;
    case PATH_F16C: cvt_f16c(dst, src, n); return;
#endif
    default: vc_f16_to_f32_n(dst, src, n); return;
    }
}

const char *vc_f16_fast_path(void) {
    switch (path()) {
    case PATH_AVX512: return "avx512f";
    case PATH_F16C: return "f16c";
    default: return "scalar";
    }
}
