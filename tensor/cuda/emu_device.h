/* emu_device.h: the device side of CUDA for kernels compiled as C++ on the
 * CPU (g++ -x c++ -DVC_CUDA_EMU). Kernels include cu_compat.h, which
 * includes this file in an emulated build and the real headers under nvcc.
 * Owns: dim3/uint3 and the vector types, threadIdx/blockIdx/blockDim/
 * gridDim, the qualifiers, __syncthreads and its count/and/or forms,
 * __syncwarp, the warp shuffles, votes and reductions, atomics, fences, the
 * float intrinsics, __nv_bfloat16/__half conversions, block shared memory
 * and the launch template behind VC_LAUNCH.
 * How it runs (emu_sched.cc): blocks one after another; the threads of a
 * block as fibers switched round-robin at every barrier and warp operation,
 * or, in a VC_CUDA_EMU_THREADS build for ThreadSanitizer, as OS threads.
 * Every barrier checks that all live threads of the block reach the same
 * __syncthreads and that none has returned; a warp operation checks its mask.
 * A broken rule aborts with one line naming the kernel, block and sites.
 * Not here: the host API (emu_runtime.h, emu_cublas.h). */
#ifndef VC_CUDA_EMU_DEVICE_H
#define VC_CUDA_EMU_DEVICE_H

#ifndef __cplusplus
#error "emu_device.h is C++: compile .cu files with g++ -x c++ -DVC_CUDA_EMU"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <math.h>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tensor/cuda/emu_runtime.h"

/* ---- types ---- */
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned int x, y;
};
struct alignas(16) uint4 {
    unsigned int x, y, z, w;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

constexpr int warpSize = 32;

/* ---- qualifiers ---- */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
/* Block shared memory must be declared with VC_SHARED / VC_SHARED_DYN
 * (cu_compat.h): a plain __shared__ would be one variable for all blocks. */
#define __shared__ _Pragma("GCC error \"emulated CUDA: declare shared memory with VC_SHARED(T, name, [N]) or VC_SHARED_DYN(T, name)\"")

/* ---- the running thread ---- */
namespace vc_emu {
struct ThreadCtx {
    uint3 thread_idx;
    uint3 block_idx;
    dim3 block_dim;
    dim3 grid_dim;
};
/* Set by the scheduler before a CUDA thread runs; null outside kernels. */
extern __thread ThreadCtx *tls_ctx;
[[noreturn]] void not_in_kernel(const char *what);
inline const ThreadCtx &ctx(const char *what) {
    ThreadCtx *c = tls_ctx;
    if (__builtin_expect(c == nullptr, 0)) not_in_kernel(what);
    return *c;
}

/* Scheduling points (emu_sched.cc). kind: 0 plain, 1 count, 2 and, 3 or. */
int block_barrier(int kind, int pred, const char *file, int line);
enum WarpOp {
    WARP_SYNC,
    WARP_SHFL_IDX,
    WARP_SHFL_UP,
    WARP_SHFL_DOWN,
    WARP_SHFL_XOR,
    WARP_BALLOT,
    WARP_ANY,
    WARP_ALL,
    WARP_REDUCE_ADD,
    WARP_REDUCE_MIN_U,
    WARP_REDUCE_MAX_U,
    WARP_REDUCE_MIN_S,
    WARP_REDUCE_MAX_S
};
uint64_t warp_op(int op, unsigned mask, uint64_t value, int param, int width, const char *file, int line);
/* Block-local storage for the declaration identified by key (one per
 * VC_SHARED site): the first thread of a block to reach it allocates it
 * (filled with 0xFF bytes, as uninitialised), the others get the same. */
void *shared_alloc(const void *key, size_t bytes, size_t align, const char *name, const char *file, int line);
/* The block's dynamic shared memory (the launch's shmem bytes). */
void *dyn_shared();

template <typename T>
inline T warp_value(int op, unsigned mask, T v, int param, int width, const char *file, int line) {
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "warp operations take values of at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    bits = warp_op(op, mask, bits, param, width, file, line);
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

/* Atomic read-modify-write through a compare-exchange loop (relaxed, as
 * CUDA's atomics are). */
template <typename T, typename F>
inline T atomic_update(T *p, F f) {
    T old;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    T next;
    do {
        next = f(old);
    } while (!__atomic_compare_exchange(p, &old, &next, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return old;
}

/* ---- launches ---- */
using KernelFn = std::function<void()>;
/* Checks the configuration (errors go to cudaGetLastError, as a launch's
 * do), then runs the kernel or records it when the stream captures. */
void enqueue_kernel(const char *name, const void *fn, dim3 grid, dim3 block, size_t shmem, cudaStream_t stream,
                    KernelFn body);
/* Converts the arguments to the kernel's parameter types at launch, as
 * CUDA does, and keeps them by value for every thread and every replay. */
template <typename... P, typename... A>
inline void launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, size_t shmem,
                   cudaStream_t stream, A &&...args) {
    static_assert(sizeof...(P) == sizeof...(A), "VC_LAUNCH: the argument count differs from the kernel's");
    std::tuple<typename std::decay<P>::type...> values{std::forward<A>(args)...};
    enqueue_kernel(name, reinterpret_cast<const void *>(kernel), grid, block, shmem, stream,
                   [kernel, values]() { std::apply(kernel, values); });
}
}  // namespace vc_emu

#define threadIdx (::vc_emu::ctx("threadIdx").thread_idx)
#define blockIdx (::vc_emu::ctx("blockIdx").block_idx)
#define blockDim (::vc_emu::ctx("blockDim").block_dim)
#define gridDim (::vc_emu::ctx("gridDim").grid_dim)

#define VC_LAUNCH(kernel, grid, block, shmem, stream, ...) \
    ::vc_emu::launch(#kernel, kernel, grid, block, shmem, stream, ##__VA_ARGS__)

/* A name for the static tag of one VC_SHARED site. */
#define VC_EMU_SHARED(T, name, dims)                                                                         \
    typedef T vc_shared_type_##name dims;                                                                    \
    static char vc_shared_key_##name;                                                                        \
    vc_shared_type_##name &name = *static_cast<vc_shared_type_##name *>(::vc_emu::shared_alloc(               \
        &vc_shared_key_##name, sizeof(vc_shared_type_##name), alignof(vc_shared_type_##name), #name, __FILE__, \
        __LINE__))
#define VC_EMU_SHARED_DYN(T, name) T *name = static_cast<T *>(::vc_emu::dyn_shared())

/* C++ overload of the C entry point, as the real runtime has. */
template <typename F>
inline cudaError_t cudaFuncSetAttribute(F *func, enum cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void *>(func), attr, value);
}

/* ---- barriers and warp operations ---- */
inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    ::vc_emu::block_barrier(0, 0, file, line);
}
inline int __syncthreads_count(int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return ::vc_emu::block_barrier(1, pred, file, line);
}
inline int __syncthreads_and(int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return ::vc_emu::block_barrier(2, pred, file, line);
}
inline int __syncthreads_or(int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return ::vc_emu::block_barrier(3, pred, file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    ::vc_emu::warp_op(::vc_emu::WARP_SYNC, mask, 0, 0, 32, file, line);
}
template <typename T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, const char *file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
    return ::vc_emu::warp_value(::vc_emu::WARP_SHFL_IDX, mask, var, src_lane, width, file, line);
}
template <typename T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, const char *file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
    return ::vc_emu::warp_value(::vc_emu::WARP_SHFL_UP, mask, var, (int)delta, width, file, line);
}
template <typename T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, const char *file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
    return ::vc_emu::warp_value(::vc_emu::WARP_SHFL_DOWN, mask, var, (int)delta, width, file, line);
}
template <typename T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, const char *file = __builtin_FILE(),
                         int line = __builtin_LINE()) {
    return ::vc_emu::warp_value(::vc_emu::WARP_SHFL_XOR, mask, var, lane_mask, width, file, line);
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (unsigned)::vc_emu::warp_op(::vc_emu::WARP_BALLOT, mask, pred != 0, 0, 32, file, line);
}
inline int __any_sync(unsigned mask, int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)::vc_emu::warp_op(::vc_emu::WARP_ANY, mask, pred != 0, 0, 32, file, line);
}
inline int __all_sync(unsigned mask, int pred, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)::vc_emu::warp_op(::vc_emu::WARP_ALL, mask, pred != 0, 0, 32, file, line);
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, const char *file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
    return (unsigned)::vc_emu::warp_op(::vc_emu::WARP_REDUCE_ADD, mask, v, 0, 32, file, line);
}
inline int __reduce_add_sync(unsigned mask, int v, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)(unsigned)::vc_emu::warp_op(::vc_emu::WARP_REDUCE_ADD, mask, (unsigned)v, 0, 32, file, line);
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v, const char *file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
    return (unsigned)::vc_emu::warp_op(::vc_emu::WARP_REDUCE_MIN_U, mask, v, 0, 32, file, line);
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v, const char *file = __builtin_FILE(),
                                  int line = __builtin_LINE()) {
    return (unsigned)::vc_emu::warp_op(::vc_emu::WARP_REDUCE_MAX_U, mask, v, 0, 32, file, line);
}
inline int __reduce_min_sync(unsigned mask, int v, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)(unsigned)::vc_emu::warp_op(::vc_emu::WARP_REDUCE_MIN_S, mask, (unsigned)v, 0, 32, file, line);
}
inline int __reduce_max_sync(unsigned mask, int v, const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
    return (int)(unsigned)::vc_emu::warp_op(::vc_emu::WARP_REDUCE_MAX_S, mask, (unsigned)v, 0, 32, file, line);
}

/* ---- fences and atomics ---- */
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#define VC_EMU_ATOMIC_INT_OPS(T)                                                                            \
    inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_RELAXED); }                        \
    inline T atomicXor(T *p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_RELAXED); }                      \
    inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }                    \
    inline T atomicMax(T *p, T v) {                                                                          \
        return ::vc_emu::atomic_update(p, [v](T old) { return old > v ? old : v; });                           \
    }                                                                                                        \
    inline T atomicMin(T *p, T v) {                                                                          \
        return ::vc_emu::atomic_update(p, [v](T old) { return old < v ? old : v; });                           \
    }                                                                                                        \
    inline T atomicCAS(T *p, T compare, T v) {                                                               \
        __atomic_compare_exchange_n(p, &compare, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);              \
        return compare;                                                                                      \
    }
VC_EMU_ATOMIC_INT_OPS(int)
VC_EMU_ATOMIC_INT_OPS(unsigned int)
VC_EMU_ATOMIC_INT_OPS(unsigned long long int)
VC_EMU_ATOMIC_INT_OPS(long long int)
#undef VC_EMU_ATOMIC_INT_OPS
inline float atomicAdd(float *p, float v) {
    return ::vc_emu::atomic_update(p, [v](float old) { return old + v; });
}
inline double atomicAdd(double *p, double v) {
    return ::vc_emu::atomic_update(p, [v](double old) { return old + v; });
}
inline float atomicExch(float *p, float v) {
    float old;
    __atomic_exchange(p, &v, &old, __ATOMIC_RELAXED);
    return old;
}
inline unsigned int atomicInc(unsigned int *p, unsigned int limit) {
    return ::vc_emu::atomic_update(p, [limit](unsigned old) { return old >= limit ? 0u : old + 1; });
}
inline unsigned int atomicDec(unsigned int *p, unsigned int limit) {
    return ::vc_emu::atomic_update(p, [limit](unsigned old) { return (old == 0 || old > limit) ? limit : old - 1; });
}

/* ---- integer and float intrinsics ---- */
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline unsigned int min(int a, unsigned int b) { return min((unsigned int)a, b); }
inline unsigned int max(int a, unsigned int b) { return max((unsigned int)a, b); }
inline unsigned int min(unsigned int a, int b) { return min(a, (unsigned int)b); }
inline unsigned int max(unsigned int a, int b) { return max(a, (unsigned int)b); }
inline long long int min(long long int a, long long int b) { return a < b ? a : b; }
inline long long int max(long long int a, long long int b) { return a > b ? a : b; }
inline unsigned long long int min(unsigned long long int a, unsigned long long int b) { return a < b ? a : b; }
inline unsigned long long int max(unsigned long long int a, unsigned long long int b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
/* The fast intrinsics compute the accurate function here: tests compare
 * with tolerances that cover the GPU's approximations. */
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __float2int_ru(float x) { return (int)ceilf(x); }
inline float __int2float_rn(int x) { return (float)x; }
inline int __float_as_int(float x) {
    int i;
    std::memcpy(&i, &x, 4);
    return i;
}
inline unsigned int __float_as_uint(float x) {
    unsigned int i;
    std::memcpy(&i, &x, 4);
    return i;
}
inline float __int_as_float(int i) {
    float x;
    std::memcpy(&x, &i, 4);
    return x;
}
inline float __uint_as_float(unsigned int i) {
    float x;
    std::memcpy(&x, &i, 4);
    return x;
}
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long int x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long int x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long int x) { return __builtin_ffsll(x); }
template <typename T>
inline T __ldg(const T *p) { return *p; }
template <typename T>
inline T __ldcs(const T *p) { return *p; }
template <typename T>
inline void __stcs(T *p, T v) { *p = v; }

/* ---- bfloat16 and half ---- */
struct __nv_bfloat16 {
    unsigned short __x;
};
struct __half {
    unsigned short __x;
};
typedef __nv_bfloat16 nv_bfloat16;
typedef __half half;

/* Round to nearest even; NaN stays a quiet NaN. */
inline __nv_bfloat16 __float2bfloat16(float f) {
    uint32_t u = __float_as_uint(f);
    __nv_bfloat16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u)
        h.__x = (unsigned short)((u >> 16) | 0x40u);
    else
        h.__x = (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return h;
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float((uint32_t)h.__x << 16); }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short x) { return __nv_bfloat16{x}; }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short x) { return __half{x}; }

/* IEEE binary16, round to nearest even, with subnormals, overflow to Inf. */
inline __half __float2half(float f) {
    uint32_t u = __float_as_uint(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    __half h;
    if (a > 0x7f800000u) {
        h.__x = (unsigned short)(sign | 0x7e00u);
    } else if (a >= 0x477ff000u) { /* rounds to >= 65520: Inf */
        h.__x = (unsigned short)(sign | 0x7c00u);
    } else if (a < 0x38800000u) { /* below 2^-14: subnormal or zero */
        float mag = __uint_as_float(a);
        /* scaled by 2^24 the subnormal's integer mantissa; nearbyint rounds to even */
        h.__x = (unsigned short)(sign | (uint32_t)nearbyintf(mag * 16777216.0f));
    } else {
        uint32_t r = a + 0xfffu + ((a >> 13) & 1u); /* round the 13 dropped bits to even */
        h.__x = (unsigned short)(sign | (((r >> 13) - (112u << 10)) & 0xffffu));
    }
    return h;
}
inline __half __float2half_rn(float f) { return __float2half(f); }
inline float __half2float(__half h) {
    uint32_t sign = (uint32_t)(h.__x & 0x8000u) << 16;
    uint32_t e = (h.__x >> 10) & 0x1fu, m = h.__x & 0x3ffu;
    if (e == 0) return sign ? -(float)m * 5.9604644775390625e-8f : (float)m * 5.9604644775390625e-8f;
    if (e == 31) return __uint_as_float(sign | 0x7f800000u | (m << 13));
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

#endif
