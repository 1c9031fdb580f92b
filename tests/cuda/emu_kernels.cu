/* emu_kernels.cu: test kernels for the CUDA emulator (tests/test_cuda_emu.c)
 * and for nvcc (make cuda-check compiles this file too). Each is a small
 * instance of a pattern vclip's kernels use: shared-memory and warp
 * reductions, atomics, a tiled product, dynamic shared memory, votes, odd
 * grid shapes; and the planted bugs the emulator must catch. The launchers
 * have C linkage, as vclip's will. */
#include "tests/cuda/emu_kernels.h"

#include "tensor/cuda/cu_compat.h"

namespace {

constexpr int kTile = 16;

/* partial[blockIdx.x] = sum over a grid-stride slice of x; any block size. */
__global__ void k_partial_sum(const float *x, float *partial, int n) {
    VC_SHARED(float, buf, [1024]);
    unsigned t = threadIdx.x;
    float acc = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + t; i < n; i += (long long)gridDim.x * blockDim.x)
        acc += x[i];
    buf[t] = acc;
    __syncthreads();
    for (unsigned s = 1; s < blockDim.x; s *= 2) {
        if (t % (2 * s) == 0 && t + s < blockDim.x) buf[t] += buf[t + s];
        __syncthreads();
    }
    if (t == 0) partial[blockIdx.x] = buf[0];
}

/* Sum over the `lanes` live lanes of this warp, into lane 0. */
__device__ float warp_sum_down(float v, unsigned mask, unsigned lanes) {
    unsigned lane = threadIdx.x % 32;
    for (unsigned off = 16; off > 0; off /= 2) {
        float other = __shfl_down_sync(mask, v, off);
        if (lane + off < lanes) v += other;
    }
    return v;
}

__global__ void k_warp_sum(const float *x, float *out, int len) {
    VC_SHARED(float, warp_sums, [32]);
    unsigned t = threadIdx.x, lane = t % 32, warp = t / 32, nwarps = (blockDim.x + 31) / 32;
    unsigned lanes = min(32u, blockDim.x - warp * 32);
    unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    const float *row = x + (size_t)blockIdx.x * len;
    float v = 0.0f;
    for (int i = (int)t; i < len; i += (int)blockDim.x) v += row[i];
    v = warp_sum_down(v, mask, lanes);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float w = lane < nwarps ? warp_sums[lane] : 0.0f;
        if (lanes == 32) { /* butterfly: every lane ends with the total */
            for (int off = 16; off > 0; off /= 2) w += __shfl_xor_sync(mask, w, off);
        } else {
            w = __shfl_sync(mask, warp_sum_down(w, mask, lanes), 0);
        }
        if (lane == lanes - 1) out[blockIdx.x] = w;
    }
}

__global__ void k_atomics(const int *v, const float *x, int n, int *hist, int bins, float *sum, int *maxv,
                          unsigned *fmax_bits) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n) return;
    atomicAdd(&hist[v[i] % bins], 1);
    atomicAdd(sum, x[i]);
    atomicMax(maxv, v[i]);
    unsigned old = atomicOr(fmax_bits, 0u);
    while (__uint_as_float(old) < x[i]) {
        unsigned assumed = old;
        old = atomicCAS(fmax_bits, assumed, __float_as_uint(x[i]));
        if (old == assumed) break;
    }
}

__global__ void k_tiled_matmul(const float *A, const float *B, float *C, int M, int N, int K) {
    VC_SHARED(float, As, [kTile][kTile + 1]);
    VC_SHARED(float, Bs, [kTile][kTile + 1]);
    int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
    int row = (int)blockIdx.y * kTile + ty, col = (int)blockIdx.x * kTile + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += kTile) {
        As[ty][tx] = (row < M && k0 + tx < K) ? A[(size_t)row * K + k0 + tx] : 0.0f;
        Bs[ty][tx] = (k0 + ty < K && col < N) ? B[(size_t)(k0 + ty) * N + col] : 0.0f;
        __syncthreads();
        for (int k = 0; k < kTile; k++) acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N) C[(size_t)row * N + col] = acc;
}

__global__ void k_axpy(const float *x, float *y, float a, int n) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) y[i] = a * x[i] + y[i];
}

__global__ void k_record_ids(int *counts, int *where) {
    unsigned bid = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    size_t gid = (size_t)bid * (blockDim.x * blockDim.y * blockDim.z) + tid;
    atomicAdd(&counts[gid], 1);
    int *w = where + 6 * gid;
    w[0] = (int)threadIdx.x, w[1] = (int)threadIdx.y, w[2] = (int)threadIdx.z;
    w[3] = (int)blockIdx.x, w[4] = (int)blockIdx.y, w[5] = (int)blockIdx.z;
}

__global__ void k_dyn_reverse(const float *x, float *y, int n) {
    VC_SHARED_DYN(float, buf);
    int t = (int)threadIdx.x, base = (int)(blockIdx.x * blockDim.x), i = base + t;
    buf[t] = i < n ? x[i] : 0.0f;
    __syncthreads();
    int len = min(n - base, (int)blockDim.x);
    if (t < len) y[base + t] = buf[len - 1 - t];
}

__global__ void k_votes(const int *v, unsigned *out) {
    unsigned t = threadIdx.x, warp = t / 32;
    unsigned lanes = min(32u, blockDim.x - warp * 32);
    unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    int p = v[t] > 0;
    unsigned ballot = __ballot_sync(mask, p);
    int any = __any_sync(mask, p), all = __all_sync(mask, p);
    int count = __syncthreads_count(p);
    out[4 * t] = ballot;
    out[4 * t + 1] = (unsigned)any;
    out[4 * t + 2] = (unsigned)all;
    out[4 * t + 3] = (unsigned)count;
}

/* Segmented scans and lookups (width < 32), warp reductions, and the
 * and/or forms of __syncthreads; whole warps only. */
__global__ void k_warp_misc(const int *v, int *out) {
    unsigned t = threadIdx.x, rel8 = t % 8;
    const unsigned all = 0xffffffffu;
    int x = v[t], scan = x;
    for (unsigned d = 1; d < 8; d *= 2) {
        int y = __shfl_up_sync(all, scan, d, 8);
        if (rel8 >= d) scan += y;
    }
    int *o = out + 8 * t;
    o[0] = scan;
    o[1] = __shfl_sync(all, x, 5, 16);
    o[2] = __shfl_xor_sync(all, x, 3, 8);
    o[3] = (int)__reduce_add_sync(all, (unsigned)x);
    o[4] = __reduce_min_sync(all, x);
    o[5] = (int)__reduce_max_sync(all, (unsigned)x);
    o[6] = __syncthreads_and(x > -100);
    o[7] = __syncthreads_or(x > 1000);
}

__global__ void k_convert(const float *x, unsigned short *bf, unsigned short *hf, float *back, int n) {
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n) return;
    __nv_bfloat16 b = __float2bfloat16(x[i]);
    __half h = __float2half(x[i]);
    bf[i] = __bfloat16_as_ushort(b);
    hf[i] = __half_as_ushort(h);
    back[i] = __bfloat162float(b);
    back[n + i] = __half2float(h);
}

__global__ void k_read_unwritten_shared(float *out) {
    VC_SHARED(float, buf, [1024]);
    out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void k_shift_good(const float *x, float *y) {
    VC_SHARED(float, buf, [1024]);
    unsigned t = threadIdx.x;
    buf[t] = x[t];
    __syncthreads();
    y[t] = buf[(t + 1) % blockDim.x];
}

__global__ void k_shift_missing_sync(const float *x, float *y) {
    VC_SHARED(float, buf, [1024]);
    unsigned t = threadIdx.x;
    buf[t] = x[t];
    y[t] = buf[(t + 1) % blockDim.x]; /* BUG: another thread may not have written it yet */
}

/* y[t] = x[t ^ 1]: neighbours in a warp swap through shared memory. */
__global__ void k_warp_swap(const float *x, float *y, int sync) {
    VC_SHARED(float, buf, [1024]);
    unsigned t = threadIdx.x;
    buf[t] = x[t];
    if (sync) __syncwarp();
    y[t] = buf[t ^ 1]; /* without the __syncwarp: a race between the two lanes */
}

__global__ void k_bug_oob_write(float *x, int n) {
    if (threadIdx.x == 0) x[n] = 1.0f; /* BUG: one past the end */
}

__global__ void k_bug_divergent_barrier(float *x) {
    if (threadIdx.x < 16) {
        x[threadIdx.x] = 1.0f;
        __syncthreads(); /* BUG: the other threads wait at another barrier */
    } else {
        x[threadIdx.x] = 2.0f;
        __syncthreads();
    }
}

__global__ void k_bug_return_before_barrier(float *x) {
    if (threadIdx.x == 5) return; /* BUG: the others wait for it below */
    x[threadIdx.x] = 1.0f;
    __syncthreads();
}

__global__ void k_bug_shfl_after_return(float *x) {
    if (threadIdx.x == 3) return; /* BUG: lane 3 is in the mask below */
    x[threadIdx.x] = __shfl_down_sync(0xffffffffu, x[threadIdx.x], 1);
}

__global__ void k_bug_shared_oob(float *x) {
    VC_SHARED(float, buf, [64]);
    buf[threadIdx.x] = x[threadIdx.x]; /* BUG: launched with 65 threads */
    __syncthreads();
    x[threadIdx.x] = buf[63 - threadIdx.x % 64];
}

__global__ void k_bug_blocks_race(int *out) {
    if (threadIdx.x == 0) out[0] = (int)blockIdx.x; /* BUG: every block writes it */
}

}  // namespace

extern "C" {

cudaError_t tk_block_sum(const float *x, float *partial, float *out, int n, int blocks, int threads, cudaStream_t s) {
    VC_LAUNCH(k_partial_sum, blocks, threads, 0, s, x, partial, n);
    VC_LAUNCH(k_partial_sum, 1, threads, 0, s, partial, out, blocks);
    return cudaGetLastError();
}

cudaError_t tk_warp_sum(const float *x, float *out, int rows, int len, int threads, cudaStream_t s) {
    VC_LAUNCH(k_warp_sum, rows, threads, 0, s, x, out, len);
    return cudaGetLastError();
}

cudaError_t tk_atomics(const int *v, const float *x, int n, int *hist, int bins, float *sum, int *maxv, float *fmax,
                       cudaStream_t s) {
    VC_LAUNCH(k_atomics, (n + 127) / 128, 128, 0, s, v, x, n, hist, bins, sum, maxv, (unsigned *)fmax);
    return cudaGetLastError();
}

cudaError_t tk_tiled_matmul(const float *A, const float *B, float *C, int M, int N, int K, cudaStream_t s) {
    dim3 grid((unsigned)(N + kTile - 1) / kTile, (unsigned)(M + kTile - 1) / kTile);
    VC_LAUNCH(k_tiled_matmul, grid, dim3(kTile, kTile), 0, s, A, B, C, M, N, K);
    return cudaGetLastError();
}

cudaError_t tk_axpy(const float *x, float *y, float a, int n, cudaStream_t s) {
    VC_LAUNCH(k_axpy, (n + 63) / 64, 64, 0, s, x, y, a, n);
    return cudaGetLastError();
}

cudaError_t tk_record_ids(int *counts, int *where, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz, cudaStream_t s) {
    VC_LAUNCH(k_record_ids, dim3(gx, gy, gz), dim3(bx, by, bz), 0, s, counts, where);
    return cudaGetLastError();
}

cudaError_t tk_dyn_reverse(const float *x, float *y, int n, int threads, size_t shmem, cudaStream_t s) {
    VC_LAUNCH(k_dyn_reverse, (n + threads - 1) / threads, threads, shmem, s, x, y, n);
    return cudaGetLastError();
}

cudaError_t tk_dyn_reverse_allow(int bytes) {
    return cudaFuncSetAttribute(k_dyn_reverse, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

cudaError_t tk_votes(const int *v, unsigned *out, int threads, cudaStream_t s) {
    VC_LAUNCH(k_votes, 1, threads, 0, s, v, out);
    return cudaGetLastError();
}

cudaError_t tk_warp_misc(const int *v, int *out, int threads, cudaStream_t s) {
    VC_LAUNCH(k_warp_misc, 1, threads, 0, s, v, out);
    return cudaGetLastError();
}

cudaError_t tk_convert(const float *x, unsigned short *bf, unsigned short *hf, float *back, int n, cudaStream_t s) {
    VC_LAUNCH(k_convert, (n + 255) / 256, 256, 0, s, x, bf, hf, back, n);
    return cudaGetLastError();
}

cudaError_t tk_read_unwritten_shared(float *out, int threads, cudaStream_t s) {
    VC_LAUNCH(k_read_unwritten_shared, 1, threads, 0, s, out);
    return cudaGetLastError();
}

cudaError_t tk_shift_good(const float *x, float *y, int threads, cudaStream_t s) {
    VC_LAUNCH(k_shift_good, 1, threads, 0, s, x, y);
    return cudaGetLastError();
}

cudaError_t tk_shift_missing_sync(const float *x, float *y, int threads, cudaStream_t s) {
    VC_LAUNCH(k_shift_missing_sync, 1, threads, 0, s, x, y);
    return cudaGetLastError();
}

cudaError_t tk_warp_swap(const float *x, float *y, int threads, int sync, cudaStream_t s) {
    VC_LAUNCH(k_warp_swap, 1, threads, 0, s, x, y, sync);
    return cudaGetLastError();
}

cudaError_t tk_bug_oob_write(float *x, int n, cudaStream_t s) {
    VC_LAUNCH(k_bug_oob_write, 1, 32, 0, s, x, n);
    return cudaGetLastError();
}

cudaError_t tk_bug_divergent_barrier(float *x, cudaStream_t s) {
    VC_LAUNCH(k_bug_divergent_barrier, 1, 64, 0, s, x);
    return cudaGetLastError();
}

cudaError_t tk_bug_return_before_barrier(float *x, cudaStream_t s) {
    VC_LAUNCH(k_bug_return_before_barrier, 1, 64, 0, s, x);
    return cudaGetLastError();
}

cudaError_t tk_bug_shfl_after_return(float *x, cudaStream_t s) {
    VC_LAUNCH(k_bug_shfl_after_return, 1, 32, 0, s, x);
    return cudaGetLastError();
}

cudaError_t tk_bug_shared_oob(float *x, cudaStream_t s) {
    VC_LAUNCH(k_bug_shared_oob, 1, 65, 0, s, x);
    return cudaGetLastError();
}

cudaError_t tk_bug_blocks_race(int *out, int blocks, cudaStream_t s) {
    VC_LAUNCH(k_bug_blocks_race, blocks, 32, 0, s, out);
    return cudaGetLastError();
}

}  // extern "C"
