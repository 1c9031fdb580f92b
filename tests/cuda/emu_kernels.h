/* emu_kernels.h: C launchers of the test kernels in emu_kernels.cu, for
 * tests/test_cuda_emu.c. Each launches one kernel (or two) on the stream and
 * returns cudaGetLastError() (a launch's own error), as vclip's CUDA
 * launchers will. Pointers are device memory. Shapes are in each comment. */
#ifndef VC_TEST_EMU_KERNELS_H
#define VC_TEST_EMU_KERNELS_H

#include "tensor/cuda/cuda_host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[0] = sum of x[n]: blocks x threads partial sums in shared memory
 * (partial has `blocks` floats), then one block sums the partials. */
cudaError_t tk_block_sum(const float *x, float *partial, float *out, int n, int blocks, int threads, cudaStream_t s);
/* out[b] = sum of x[b*len .. b*len+len) with warp shuffles (down, then xor
 * across the warps' sums), one block of `threads` per row b < rows. */
cudaError_t tk_warp_sum(const float *x, float *out, int rows, int len, int threads, cudaStream_t s);
/* hist[bins] += counts of v[n] % bins; *sum += x[n]; *maxv = max v[n];
 * *fmax = max x[n] through atomicCAS. */
cudaError_t tk_atomics(const int *v, const float *x, int n, int *hist, int bins, float *sum, int *maxv, float *fmax,
                       cudaStream_t s);
/* C[M,N] = A[M,K] B[K,N], row-major, 16x16 tiles in shared memory. */
cudaError_t tk_tiled_matmul(const float *A, const float *B, float *C, int M, int N, int K, cudaStream_t s);
/* y[n] = a * x[n] + y[n] */
cudaError_t tk_axpy(const float *x, float *y, float a, int n, cudaStream_t s);
/* For grid g and block b (3-D): counts[gid] += 1 and where[gid] = the
 * thread's (tx,ty,tz,bx,by,bz) packed 6 ints, gid the linear global id. */
cudaError_t tk_record_ids(int *counts, int *where, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                          unsigned bz, cudaStream_t s);
/* y[n] = x reversed within each block of `threads`, through `shmem` bytes of
 * dynamic shared memory (at least threads floats). */
cudaError_t tk_dyn_reverse(const float *x, float *y, int n, int threads, size_t shmem, cudaStream_t s);
/* Raises k_dyn_reverse's dynamic shared memory limit. */
cudaError_t tk_dyn_reverse_allow(int bytes);
/* One block of `threads`: per thread t, out[4t..4t+3] = ballot of (v[t] > 0)
 * over its warp, any, all, and __syncthreads_count of (v[t] > 0). */
cudaError_t tk_votes(const int *v, unsigned *out, int threads, cudaStream_t s);
/* One block of `threads` (a multiple of 32); per thread t, out[8t..8t+7]:
 * inclusive scan of v over its 8-lane segment (__shfl_up_sync, width 8),
 * v of lane 5 of its 16-lane segment, v of lane t^3 (xor, width 8), the
 * warp's __reduce_add (unsigned), __reduce_min (int), __reduce_max
 * (unsigned) of v, __syncthreads_and(v > -100), __syncthreads_or(v > 1000). */
cudaError_t tk_warp_misc(const int *v, int *out, int threads, cudaStream_t s);
/* bf[n] = bf16 bits of x, hf[n] = half bits of x, back[2n] = both back to float. */
cudaError_t tk_convert(const float *x, unsigned short *bf, unsigned short *hf, float *back, int n, cudaStream_t s);
/* out[threads] = what each thread reads from shared memory nobody wrote. */
cudaError_t tk_read_unwritten_shared(float *out, int threads, cudaStream_t s);
/* y[n] = x[(t+1) % threads] within one block, through shared memory, with
 * (good) or without (bad) the __syncthreads between writing and reading. */
cudaError_t tk_shift_good(const float *x, float *y, int threads, cudaStream_t s);
cudaError_t tk_shift_missing_sync(const float *x, float *y, int threads, cudaStream_t s);
/* y[t] = x[t ^ 1] within each warp of one block of `threads` (even),
 * through shared memory, with (sync != 0) or without __syncwarp between. */
cudaError_t tk_warp_swap(const float *x, float *y, int threads, int sync, cudaStream_t s);

/* Planted bugs, each run in a child process by the tests. */
cudaError_t tk_bug_oob_write(float *x, int n, cudaStream_t s);         /* writes x[n] */
cudaError_t tk_bug_divergent_barrier(float *x, cudaStream_t s);        /* two __syncthreads sites */
cudaError_t tk_bug_return_before_barrier(float *x, cudaStream_t s);    /* thread 5 returns first */
cudaError_t tk_bug_shfl_after_return(float *x, cudaStream_t s);        /* lane 3 returns, others shuffle */
cudaError_t tk_bug_shared_oob(float *x, cudaStream_t s);               /* 65 threads into a [64] array */
cudaError_t tk_bug_blocks_race(int *out, int blocks, cudaStream_t s);  /* every block writes out[0] */

#ifdef __cplusplus
}
#endif

#endif
