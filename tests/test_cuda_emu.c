/* The CUDA layer under the CPU emulator (tensor/cuda/, emulated build) and,
 * built against the real toolkit, on a GPU: test kernels (tests/cuda/
 * emu_kernels.cu) against plain C and CBLAS, graph capture and replay, the
 * cuBLAS products against a double-precision reference, the runtime's error
 * paths; and that the planted bugs are caught: an out-of-bounds write (ASan,
 * or the allocation canaries), divergent barriers and warp calls (the
 * emulator's checks), and under ThreadSanitizer (make test-cuda-tsan) a
 * missing __syncthreads or __syncwarp and a race between blocks. Bugs run in a child
 * process (this program with --child NAME), whose report is asserted. */
#include <check.h>
#include <cblas.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tensor/cuda/cuda_host.h"
#include "tensor/dtype.h"
#include "tests/cuda/emu_kernels.h"

#ifdef VC_CUDA_EMU
#define EMU 1
static const char *detail(void) { return vc_emu_last_detail(); }
#else
#define EMU 0
static const char *detail(void) { return ""; }
#endif

#define CU(call)                                                                                            \
    do {                                                                                                    \
        cudaError_t e_ = (call);                                                                            \
        ck_assert_msg(e_ == cudaSuccess, "%s: %s [%s]", #call, cudaGetErrorName(e_), detail());               \
    } while (0)
#define CB(call)                                                                                            \
    do {                                                                                                    \
        cublasStatus_t s_ = (call);                                                                         \
        ck_assert_msg(s_ == CUBLAS_STATUS_SUCCESS, "%s: %s", #call, cublasGetStatusName(s_));                 \
    } while (0)

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((g_rng >> 40) * (2.0 / 16777216.0) - 1.0);
}
static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = frand();
}

static void *dalloc(size_t bytes) {
    void *p = NULL;
    CU(cudaMalloc(&p, bytes));
    return p;
}
static void *dup_to_device(const void *h, size_t bytes) {
    void *d = dalloc(bytes);
    CU(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
    return d;
}
static void to_host(void *h, const void *d, size_t bytes) { CU(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost)); }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- kernels against plain C ---- */

START_TEST(test_block_sum_matches_a_double_sum_for_odd_sizes) {
    const int cases[][3] = {{1, 1, 32}, {1000, 3, 96}, {4097, 7, 256}, {50000, 5, 1024}, {333, 4, 33}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c][0], blocks = cases[c][1], threads = cases[c][2];
        float *h = malloc(sizeof(float) * n);
        fill(h, n);
        double ref = 0;
        for (int i = 0; i < n; i++) ref += h[i];
        float *x = dup_to_device(h, sizeof(float) * n), *partial = dalloc(sizeof(float) * blocks), *out = dalloc(4);
        CU(tk_block_sum(x, partial, out, n, blocks, threads, 0));
        float got;
        to_host(&got, out, 4);
        ck_assert_msg(fabs(got - ref) <= 1e-5 * (fabs(ref) + n * 1e-2), "n=%d blocks=%d threads=%d: %g vs %g", n,
                      blocks, threads, got, ref);
        CU(cudaFree(x));
        CU(cudaFree(partial));
        CU(cudaFree(out));
        free(h);
    }
}
END_TEST

START_TEST(test_warp_shuffle_sum_handles_partial_warps) {
    const int rows = 5, len = 300, threads[] = {32, 80, 20, 256, 1};
    float h[5 * 300], got[5];
    fill(h, rows * len);
    float *x = dup_to_device(h, sizeof h), *out = dalloc(sizeof got);
    for (size_t c = 0; c < sizeof threads / sizeof threads[0]; c++) {
        CU(cudaMemset(out, 0, sizeof got));
        CU(tk_warp_sum(x, out, rows, len, threads[c], 0));
        to_host(got, out, sizeof got);
        for (int r = 0; r < rows; r++) {
            double ref = 0;
            for (int i = 0; i < len; i++) ref += h[r * len + i];
            ck_assert_msg(fabs(got[r] - ref) < 1e-4, "threads=%d row %d: %g vs %g", threads[c], r, got[r], ref);
        }
    }
    CU(cudaFree(x));
    CU(cudaFree(out));
}
END_TEST

START_TEST(test_atomics_count_sum_and_take_the_maximum) {
    enum { N = 1000, BINS = 7 };
    int hv[N], hist_ref[BINS] = {0}, max_ref = 0;
    float hx[N], fmax_ref = -INFINITY;
    double sum_ref = 0;
    for (int i = 0; i < N; i++) {
        hv[i] = (int)((frand() + 1) * 5000);
        hx[i] = frand();
        hist_ref[hv[i] % BINS]++;
        max_ref = hv[i] > max_ref ? hv[i] : max_ref;
        fmax_ref = hx[i] > fmax_ref ? hx[i] : fmax_ref;
        sum_ref += hx[i];
    }
    int *v = dup_to_device(hv, sizeof hv), *hist = dalloc(sizeof hist_ref), *maxv = dalloc(4);
    float *x = dup_to_device(hx, sizeof hx), *sum = dalloc(4), *fmax = dalloc(4);
    float minus_inf = -INFINITY;
    CU(cudaMemset(hist, 0, sizeof hist_ref));
    CU(cudaMemset(maxv, 0, 4));
    CU(cudaMemset(sum, 0, 4));
    CU(cudaMemcpy(fmax, &minus_inf, 4, cudaMemcpyHostToDevice));
    CU(tk_atomics(v, x, N, hist, BINS, sum, maxv, fmax, 0));
    int hist_got[BINS], max_got;
    float sum_got, fmax_got;
    to_host(hist_got, hist, sizeof hist_got);
    to_host(&max_got, maxv, 4);
    to_host(&sum_got, sum, 4);
    to_host(&fmax_got, fmax, 4);
    for (int b = 0; b < BINS; b++) ck_assert_int_eq(hist_got[b], hist_ref[b]);
    ck_assert_int_eq(max_got, max_ref);
    ck_assert(fmax_got == fmax_ref);
    ck_assert_msg(fabs(sum_got - sum_ref) < 1e-3, "%g vs %g", sum_got, sum_ref);
    void *all[] = {v, hist, maxv, x, sum, fmax};
    for (int i = 0; i < 6; i++) CU(cudaFree(all[i]));
}
END_TEST

START_TEST(test_tiled_matmul_matches_cblas) {
    const int shapes[][3] = {{37, 29, 41}, {16, 16, 16}, {1, 50, 3}, {33, 1, 17}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int M = shapes[c][0], N = shapes[c][1], K = shapes[c][2];
        float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
        float *ref = malloc(sizeof(float) * M * N), *got = malloc(sizeof(float) * M * N);
        fill(a, (size_t)M * K);
        fill(b, (size_t)K * N);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, ref, N);
        float *A = dup_to_device(a, sizeof(float) * M * K), *B = dup_to_device(b, sizeof(float) * K * N);
        float *C = dalloc(sizeof(float) * M * N);
        CU(tk_tiled_matmul(A, B, C, M, N, K, 0));
        to_host(got, C, sizeof(float) * M * N);
        for (int i = 0; i < M * N; i++)
            ck_assert_msg(fabsf(got[i] - ref[i]) < 1e-4f, "%dx%dx%d [%d]: %g vs %g", M, N, K, i, got[i], ref[i]);
        CU(cudaFree(A));
        CU(cudaFree(B));
        CU(cudaFree(C));
        free(a), free(b), free(ref), free(got);
    }
}
END_TEST

START_TEST(test_odd_grid_shapes_run_every_thread_once_with_its_indices) {
    const unsigned shapes[][6] = {{3, 2, 2, 5, 3, 2}, {1, 1, 1, 1, 1, 1}, {7, 1, 1, 33, 1, 1}, {2, 3, 1, 1, 1, 64}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        const unsigned *s = shapes[c];
        size_t total = (size_t)s[0] * s[1] * s[2] * s[3] * s[4] * s[5];
        int *counts = dalloc(sizeof(int) * total), *where = dalloc(sizeof(int) * 6 * total);
        CU(cudaMemset(counts, 0, sizeof(int) * total));
        CU(tk_record_ids(counts, where, s[0], s[1], s[2], s[3], s[4], s[5], 0));
        int *hc = malloc(sizeof(int) * total), *hw = malloc(sizeof(int) * 6 * total);
        to_host(hc, counts, sizeof(int) * total);
        to_host(hw, where, sizeof(int) * 6 * total);
        size_t per_block = (size_t)s[3] * s[4] * s[5];
        for (size_t g = 0; g < total; g++) {
            ck_assert_msg(hc[g] == 1, "shape %zu: thread %zu ran %d times", c, g, hc[g]);
            size_t blk = g / per_block, t = g % per_block;
            const int *w = hw + 6 * g;
            ck_assert_int_eq(w[0], (int)(t % s[3]));
            ck_assert_int_eq(w[1], (int)(t / s[3] % s[4]));
            ck_assert_int_eq(w[2], (int)(t / (s[3] * s[4])));
            ck_assert_int_eq(w[3], (int)(blk % s[0]));
            ck_assert_int_eq(w[4], (int)(blk / s[0] % s[1]));
            ck_assert_int_eq(w[5], (int)(blk / (s[0] * s[1])));
        }
        CU(cudaFree(counts));
        CU(cudaFree(where));
        free(hc), free(hw);
    }
}
END_TEST

START_TEST(test_launch_configuration_errors_reach_cudaGetLastError) {
    int *counts = dalloc(4096), *where = dalloc(6 * 4096);
    ck_assert_int_eq(tk_record_ids(counts, where, 1, 1, 1, 1025, 1, 1, 0), cudaErrorInvalidConfiguration);
    ck_assert_int_eq(cudaGetLastError(), cudaSuccess); /* reading it cleared it */
    ck_assert_int_eq(tk_record_ids(counts, where, 1, 1, 1, 1, 1, 65, 0), cudaErrorInvalidConfiguration);
    ck_assert_int_eq(tk_record_ids(counts, where, 0, 1, 1, 32, 1, 1, 0), cudaErrorInvalidConfiguration);
    ck_assert_int_eq(tk_record_ids(counts, where, 1, 65536, 1, 1, 1, 1, 0), cudaErrorInvalidConfiguration);
    float *x = dalloc(4096), *y = dalloc(4096);
    ck_assert_int_eq(tk_dyn_reverse(x, y, 256, 256, 64 * 1024, 0), cudaErrorInvalidValue);
    CU(tk_dyn_reverse_allow(100 * 1024));
    CU(tk_dyn_reverse(x, y, 256, 256, 100 * 1024, 0));
    void *all[] = {counts, where, x, y};
    for (int i = 0; i < 4; i++) CU(cudaFree(all[i]));
}
END_TEST

START_TEST(test_dynamic_shared_memory_reverses_each_block) {
    enum { N = 300, T = 128 };
    float h[N], got[N];
    fill(h, N);
    float *x = dup_to_device(h, sizeof h), *y = dalloc(sizeof h);
    CU(tk_dyn_reverse(x, y, N, T, T * sizeof(float), 0));
    to_host(got, y, sizeof got);
    for (int i = 0; i < N; i++) {
        int base = i / T * T, len = N - base < T ? N - base : T;
        ck_assert(got[i] == h[base + len - 1 - (i - base)]);
    }
    CU(cudaFree(x));
    CU(cudaFree(y));
}
END_TEST

START_TEST(test_warp_swap_through_shared_memory_after_syncwarp) {
    enum { T = 96 };
    float hx[T], got[T];
    fill(hx, T);
    float *x = dup_to_device(hx, sizeof hx), *y = dalloc(sizeof got);
    CU(tk_warp_swap(x, y, T, 1, 0));
    to_host(got, y, sizeof got);
    for (int i = 0; i < T; i++) ck_assert(got[i] == hx[i ^ 1]);
    CU(cudaFree(x));
    CU(cudaFree(y));
}
END_TEST

START_TEST(test_votes_and_syncthreads_count) {
    enum { T = 70 };
    int hv[T], count = 0;
    for (int i = 0; i < T; i++) count += (hv[i] = frand() > 0 ? 1 : -1) > 0;
    hv[64] = 1, hv[65] = 1, hv[66] = 1, hv[67] = 1, hv[68] = 1, hv[69] = 1; /* the last warp: all true */
    count = 0;
    for (int i = 0; i < T; i++) count += hv[i] > 0;
    int *v = dup_to_device(hv, sizeof hv);
    unsigned *out = dalloc(sizeof(unsigned) * 4 * T), got[4 * T];
    CU(tk_votes(v, out, T, 0));
    to_host(got, out, sizeof got);
    for (int t = 0; t < T; t++) {
        int w = t / 32, lanes = T - 32 * w < 32 ? T - 32 * w : 32;
        unsigned ballot = 0;
        for (int l = 0; l < lanes; l++) ballot |= (unsigned)(hv[32 * w + l] > 0) << l;
        unsigned mask = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
        ck_assert_uint_eq(got[4 * t], ballot);
        ck_assert_uint_eq(got[4 * t + 1], ballot != 0);
        ck_assert_uint_eq(got[4 * t + 2], ballot == mask);
        ck_assert_uint_eq(got[4 * t + 3], (unsigned)count);
    }
    CU(cudaFree(v));
    CU(cudaFree(out));
}
END_TEST

START_TEST(test_segmented_shuffles_warp_reductions_and_barrier_votes) {
    enum { T = 64 };
    int hv[T], got[8 * T];
    for (int i = 0; i < T; i++) hv[i] = (int)(frand() * 50);
    int *v = dup_to_device(hv, sizeof hv), *out = dalloc(sizeof got);
    CU(tk_warp_misc(v, out, T, 0));
    to_host(got, out, sizeof got);
    for (int t = 0; t < T; t++) {
        const int *o = got + 8 * t, *warp = hv + t / 32 * 32;
        int scan = 0, sum = 0, mn = 1 << 30;
        unsigned umax = 0;
        for (int i = t / 8 * 8; i <= t; i++) scan += hv[i];
        for (int l = 0; l < 32; l++) {
            sum += warp[l];
            mn = warp[l] < mn ? warp[l] : mn;
            umax = (unsigned)warp[l] > umax ? (unsigned)warp[l] : umax;
        }
        ck_assert_int_eq(o[0], scan);
        ck_assert_int_eq(o[1], hv[t / 16 * 16 + 5]);
        ck_assert_int_eq(o[2], hv[t ^ 3]);
        ck_assert_int_eq(o[3], sum);
        ck_assert_int_eq(o[4], mn);
        ck_assert_int_eq(o[5], (int)umax);
        ck_assert_int_eq(o[6], 1);
        ck_assert_int_eq(o[7], 0);
    }
    CU(cudaFree(v));
    CU(cudaFree(out));
}
END_TEST

START_TEST(test_bf16_and_half_conversions_agree_with_tensor_dtype) {
    enum { N = 4096 };
    float h[N];
    const float special[] = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 1e10f, 0x1p-24f, 0x1p-25f,
                             0x1.8p-25f, 0x1p-14f, 0x1.ff8p-15f, 3.140625f, 1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f,
                             INFINITY, -INFINITY, 1.0f + 0x1p-8f, 1.0f + 0x1.8p-8f, 3.4e38f, 1e-40f};
    size_t ns = sizeof special / sizeof special[0];
    memcpy(h, special, sizeof special);
    for (size_t i = ns; i < N; i++) h[i] = frand() * powf(2.0f, (float)((int)(i % 60) - 30));
    float *x = dup_to_device(h, sizeof h), *back = dalloc(2 * sizeof h);
    unsigned short *bf = dalloc(2 * N), *hf = dalloc(2 * N);
    CU(tk_convert(x, bf, hf, back, N, 0));
    unsigned short gbf[N], ghf[N];
    float gback[2 * N];
    to_host(gbf, bf, sizeof gbf);
    to_host(ghf, hf, sizeof ghf);
    to_host(gback, back, sizeof gback);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(gbf[i] == vc_f32_to_bf16(h[i]), "bf16(%a): 0x%04x vs 0x%04x", h[i], gbf[i], vc_f32_to_bf16(h[i]));
        ck_assert_msg(ghf[i] == vc_f32_to_f16(h[i]), "half(%a): 0x%04x vs 0x%04x", h[i], ghf[i], vc_f32_to_f16(h[i]));
        ck_assert(gback[i] == vc_bf16_to_f32(gbf[i]));
        ck_assert(gback[N + i] == vc_f16_to_f32(ghf[i]));
    }
    CU(cudaFree(x));
    CU(cudaFree(back));
    CU(cudaFree(bf));
    CU(cudaFree(hf));
}
END_TEST

/* ---- streams, events, graphs ---- */

static int g_host_calls;
static void count_host_call(void *p) { *(int *)p += 1; }

START_TEST(test_graph_capture_records_without_running_then_replays_with_fresh_host_input) {
    enum { N = 200 };
    float hx[N], hy0[N], hy[N], y_now[N];
    fill(hx, N);
    fill(hy0, N);
    cudaStream_t s;
    CU(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    float *x = dalloc(sizeof hx), *y = dup_to_device(hy0, sizeof hy0);
    g_host_calls = 0;
    CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    enum cudaStreamCaptureStatus st;
    CU(cudaStreamIsCapturing(s, &st));
    ck_assert_int_eq(st, cudaStreamCaptureStatusActive);
    CU(cudaMemcpyAsync(x, hx, sizeof hx, cudaMemcpyHostToDevice, s));
    CU(tk_axpy(x, y, 2.0f, N, s));
    CU(tk_axpy(x, y, 1.0f, N, s));
    CU(cudaLaunchHostFunc(s, count_host_call, &g_host_calls));
    CU(cudaMemcpyAsync(hy, y, sizeof hy, cudaMemcpyDeviceToHost, s));
    cudaGraph_t graph;
    CU(cudaStreamEndCapture(s, &graph));
    size_t nodes = 0;
    CU(cudaGraphGetNodes(graph, NULL, &nodes));
    ck_assert_uint_eq(nodes, 5);
    ck_assert_int_eq(g_host_calls, 0);
    to_host(y_now, y, sizeof y_now);
    ck_assert_msg(memcmp(y_now, hy0, sizeof hy0) == 0, "capturing ran the kernels");
    cudaGraphExec_t exec;
    CU(cudaGraphInstantiate(&exec, graph, 0));
    CU(cudaGraphDestroy(graph)); /* the executable graph keeps its own copy */
#ifdef VC_CUDA_EMU
    struct vc_emu_counters before, after;
    vc_emu_get_counters(&before);
#endif
    for (int rep = 1; rep <= 2; rep++) {
        CU(cudaGraphLaunch(exec, s));
        CU(cudaStreamSynchronize(s));
        for (int i = 0; i < N; i++)
            ck_assert_msg(fabsf(hy[i] - (hy0[i] + 3.0f * rep * hx[i])) < 1e-5f, "replay %d [%d]", rep, i);
    }
    ck_assert_int_eq(g_host_calls, 2);
#ifdef VC_CUDA_EMU
    vc_emu_get_counters(&after);
    ck_assert_int_eq(after.kernels - before.kernels, 4);
    ck_assert_int_eq(after.graph_launches - before.graph_launches, 2);
    ck_assert_int_eq(after.mallocs, before.mallocs); /* a replay allocates nothing */
#endif
    /* the copy node reads the host buffer at replay time */
    float hx2[N], hy2[N];
    to_host(hy2, y, sizeof hy2);
    for (int i = 0; i < N; i++) hx[i] = hx2[i] = (float)i;
    CU(cudaGraphLaunch(exec, s));
    CU(cudaStreamSynchronize(s));
    for (int i = 0; i < N; i++) ck_assert(fabsf(hy[i] - (hy2[i] + 3.0f * hx2[i])) < 1e-4f);
    CU(cudaGraphExecDestroy(exec));
    CU(cudaFree(x));
    CU(cudaFree(y));
    CU(cudaStreamDestroy(s));
}
END_TEST

START_TEST(test_capture_refuses_allocation_and_synchronisation) {
    cudaStream_t s;
    CU(cudaStreamCreate(&s));
    float *y = dalloc(64 * sizeof(float)), *x = dalloc(64 * sizeof(float));
    void *p = NULL;
    cudaGraph_t g = (cudaGraph_t)1;
    /* cudaMalloc invalidates a global-mode capture */
    CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    ck_assert_int_eq(cudaMalloc(&p, 16), cudaErrorStreamCaptureUnsupported);
    ck_assert_int_eq(tk_axpy(x, y, 1.0f, 64, s), cudaErrorStreamCaptureInvalidated);
    ck_assert_int_eq(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    ck_assert_ptr_null(g);
    /* so does synchronising the capturing stream */
    CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    ck_assert_int_eq(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
    ck_assert_int_eq(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    /* and work on the legacy stream, which would wait for the capturing one */
    CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    ck_assert_int_eq(tk_axpy(x, y, 1.0f, 64, 0), cudaErrorStreamCaptureImplicit);
    ck_assert_int_eq(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
    /* relaxed mode allows allocation */
    CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    CU(cudaMalloc(&p, 16));
    CU(cudaStreamEndCapture(s, &g));
    CU(cudaGraphDestroy(g));
    CU(cudaFree(p));
    ck_assert_int_eq(cudaStreamEndCapture(s, &g), cudaErrorIllegalState);
    ck_assert_int_eq(cudaStreamBeginCapture(0, cudaStreamCaptureModeGlobal), cudaErrorStreamCaptureUnsupported);
    (void)cudaGetLastError();
    CU(cudaFree(x));
    CU(cudaFree(y));
    CU(cudaStreamDestroy(s));
}
END_TEST

START_TEST(test_capture_follows_a_forked_stream_and_requires_the_join) {
    enum { N = 64 };
    float hx[N], hy[N], got[N];
    fill(hx, N);
    memset(hy, 0, sizeof hy);
    cudaStream_t s1, s2;
    cudaEvent_t fork, join;
    CU(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
    CU(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
    CU(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
    CU(cudaEventCreateWithFlags(&join, cudaEventDisableTiming));
    float *x = dup_to_device(hx, sizeof hx), *y = dup_to_device(hy, sizeof hy), *z = dup_to_device(hy, sizeof hy);
    cudaGraph_t g;
    CU(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
    CU(tk_axpy(x, y, 1.0f, N, s1));
    CU(cudaEventRecord(fork, s1));
    CU(cudaStreamWaitEvent(s2, fork, 0));
    CU(tk_axpy(x, z, 2.0f, N, s2)); /* recorded into s1's capture */
    CU(cudaEventRecord(join, s2));
    CU(cudaStreamWaitEvent(s1, join, 0));
    CU(cudaStreamEndCapture(s1, &g));
    size_t nodes;
    CU(cudaGraphGetNodes(g, NULL, &nodes));
    ck_assert_uint_eq(nodes, 2);
    to_host(got, z, sizeof got);
    ck_assert(got[0] == 0.0f);
    cudaGraphExec_t exec;
    CU(cudaGraphInstantiate(&exec, g, 0));
    CU(cudaGraphLaunch(exec, s1));
    CU(cudaStreamSynchronize(s1));
    to_host(got, z, sizeof got);
    for (int i = 0; i < N; i++) ck_assert(got[i] == 2.0f * hx[i]);
    CU(cudaGraphExecDestroy(exec));
    CU(cudaGraphDestroy(g));
    /* a forked stream whose last work the origin never waited for */
    CU(cudaStreamBeginCapture(s1, cudaStreamCaptureModeGlobal));
    CU(cudaEventRecord(fork, s1));
    CU(cudaStreamWaitEvent(s2, fork, 0));
    CU(tk_axpy(x, z, 2.0f, N, s2));
    ck_assert_int_eq(cudaStreamEndCapture(s1, &g), cudaErrorStreamCaptureUnjoined);
    (void)cudaGetLastError();
    /* s2 left the capture with it: its work runs now */
    CU(tk_axpy(x, z, 1.0f, N, s2));
    CU(cudaStreamSynchronize(s2));
    to_host(got, z, sizeof got);
    ck_assert(fabsf(got[0] - 3.0f * hx[0]) < 1e-6f);
    CU(cudaFree(x));
    CU(cudaFree(y));
    CU(cudaFree(z));
    CU(cudaEventDestroy(fork));
    CU(cudaEventDestroy(join));
    CU(cudaStreamDestroy(s1));
    CU(cudaStreamDestroy(s2));
}
END_TEST

START_TEST(test_events_time_work_and_host_functions_run_in_order) {
    cudaStream_t s;
    cudaEvent_t a, b;
    CU(cudaStreamCreate(&s));
    CU(cudaEventCreate(&a));
    CU(cudaEventCreate(&b));
    enum { N = 1 << 14 };
    float *x = dalloc(N * sizeof(float)), *y = dalloc(N * sizeof(float));
    CU(cudaMemsetAsync(x, 0, N * sizeof(float), s));
    CU(cudaMemsetAsync(y, 0, N * sizeof(float), s));
    int calls = 0;
    CU(cudaEventRecord(a, s));
    CU(tk_axpy(x, y, 1.0f, N, s));
    CU(cudaLaunchHostFunc(s, count_host_call, &calls));
    CU(cudaEventRecord(b, s));
    CU(cudaEventSynchronize(b));
    ck_assert_int_eq(calls, 1);
    float ms = -1;
    CU(cudaEventElapsedTime(&ms, a, b));
    ck_assert(ms >= 0.0f);
    cudaEvent_t nt;
    CU(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming));
    CU(cudaEventRecord(nt, s));
    ck_assert_int_eq(cudaEventElapsedTime(&ms, a, nt), cudaErrorInvalidResourceHandle);
    (void)cudaGetLastError();
    CU(cudaEventDestroy(nt));
    CU(cudaEventDestroy(a));
    CU(cudaEventDestroy(b));
    CU(cudaFree(x));
    CU(cudaFree(y));
    CU(cudaStreamDestroy(s));
}
END_TEST

/* ---- cuBLAS ---- */

/* C[M,N] = A[M,K] op B, row-major, in double; B is [K,N], or [N,K] when bt. */
static void ref_matmul(const float *A, const float *B, double *C, int M, int N, int K, int bt) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) acc += (double)A[i * K + k] * (bt ? B[j * K + k] : B[k * N + j]);
            C[i * N + j] = acc;
        }
}

START_TEST(test_cublas_sgemm_gives_row_major_products_through_the_transposition_identity) {
    enum { M = 23, N = 17, K = 31 };
    float a[M * K], b[K * N], got[M * N], init[M * N];
    double ref[M * N];
    fill(a, M * K);
    fill(b, K * N);
    fill(init, M * N);
    cublasHandle_t h;
    CB(cublasCreate(&h));
    float *A = dup_to_device(a, sizeof a), *B = dup_to_device(b, sizeof b), *C = dalloc(sizeof got);
    const float one = 1.0f, zero = 0.0f;
    /* row-major C = A B is column-major C^T = B^T A^T: swap the operands */
    CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, N, A, K, &zero, C, N));
    to_host(got, C, sizeof got);
    ref_matmul(a, b, ref, M, N, K, 0);
    for (int i = 0; i < M * N; i++) ck_assert_msg(fabs(got[i] - ref[i]) < 1e-5, "[%d] %g vs %g", i, got[i], ref[i]);
    /* C = A B^T with B stored [N,K] (a linear layer), accumulating onto C */
    float bt[N * K];
    fill(bt, N * K);
    float *Bt = dup_to_device(bt, sizeof bt);
    CU(cudaMemcpy(C, init, sizeof init, cudaMemcpyHostToDevice));
    CB(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, Bt, K, A, K, &one, C, N));
    to_host(got, C, sizeof got);
    ref_matmul(a, bt, ref, M, N, K, 1);
    for (int i = 0; i < M * N; i++) ck_assert(fabs(got[i] - (ref[i] + init[i])) < 1e-5);
    /* beta = 0 never reads C: NaN there does not spread */
    float nan = NAN;
    for (int i = 0; i < M * N; i++) CU(cudaMemcpy(C + i, &nan, 4, cudaMemcpyHostToDevice));
    CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, N, A, K, &zero, C, N));
    to_host(got, C, sizeof got);
    for (int i = 0; i < M * N; i++) ck_assert(isfinite(got[i]));
    CU(cudaFree(A));
    CU(cudaFree(B));
    CU(cudaFree(Bt));
    CU(cudaFree(C));
    CB(cublasDestroy(h));
}
END_TEST

START_TEST(test_cublas_strided_batched_attention_scores) {
    enum { NB = 3, T = 7, D = 5 };
    float q[NB * T * D], k[NB * T * D], got[NB * T * T];
    double ref[T * T];
    fill(q, NB * T * D);
    fill(k, NB * T * D);
    cublasHandle_t h;
    CB(cublasCreate(&h));
    float *Q = dup_to_device(q, sizeof q), *Kd = dup_to_device(k, sizeof k), *S = dalloc(sizeof got);
    const float scale = 0.5f, zero = 0.0f;
    /* S[b] = scale Q[b] K[b]^T, row-major [T,T] per batch entry */
    CB(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, T, T, D, &scale, Kd, D, T * D, Q, D, T * D, &zero, S, T,
                                 T * T, NB));
    to_host(got, S, sizeof got);
    for (int b = 0; b < NB; b++) {
        ref_matmul(q + b * T * D, k + b * T * D, ref, T, T, D, 1);
        for (int i = 0; i < T * T; i++) ck_assert(fabs(got[b * T * T + i] - 0.5 * ref[i]) < 1e-5);
    }
    CU(cudaFree(Q));
    CU(cudaFree(Kd));
    CU(cudaFree(S));
    CB(cublasDestroy(h));
}
END_TEST

START_TEST(test_cublas_gemmex_with_bf16_inputs_matches_the_rounded_reference) {
    enum { M = 9, N = 13, K = 40 };
    float a[M * K], b[K * N], ar[M * K], br[K * N], got[M * N];
    uint16_t a16[M * K], b16[K * N], c16[M * N];
    double ref[M * N];
    fill(a, M * K);
    fill(b, K * N);
    for (int i = 0; i < M * K; i++) ar[i] = vc_bf16_to_f32(a16[i] = vc_f32_to_bf16(a[i]));
    for (int i = 0; i < K * N; i++) br[i] = vc_bf16_to_f32(b16[i] = vc_f32_to_bf16(b[i]));
    ref_matmul(ar, br, ref, M, N, K, 0);
    cublasHandle_t h;
    CB(cublasCreate(&h));
    void *A = dup_to_device(a16, sizeof a16), *B = dup_to_device(b16, sizeof b16);
    float *C = dalloc(sizeof got);
    uint16_t *C16 = dalloc(sizeof c16);
    const float one = 1.0f, zero = 0.0f;
    CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, CUDA_R_16BF, N, A, CUDA_R_16BF, K, &zero, C,
                    CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    to_host(got, C, sizeof got);
    for (int i = 0; i < M * N; i++) ck_assert_msg(fabs(got[i] - ref[i]) < 1e-5, "[%d] %g vs %g", i, got[i], ref[i]);
    CB(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, CUDA_R_16BF, N, A, CUDA_R_16BF, K, &zero, C16,
                    CUDA_R_16BF, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    to_host(c16, C16, sizeof c16);
    for (int i = 0; i < M * N; i++)
        ck_assert(fabs(vc_bf16_to_f32(c16[i]) - ref[i]) <= fabs(ref[i]) * 0x1p-8 + 1e-6);
    /* strided batched Ex with two batch entries of the same product */
    float *C2 = dalloc(2 * sizeof got);
    CB(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, CUDA_R_16BF, N, 0, A, CUDA_R_16BF, K,
                                  0, &zero, C2, CUDA_R_32F, N, M * N, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    float got2[2 * M * N];
    to_host(got2, C2, sizeof got2);
    ck_assert(memcmp(got2, got, sizeof got) == 0 && memcmp(got2 + M * N, got, sizeof got) == 0);
    CU(cudaFree(A));
    CU(cudaFree(B));
    CU(cudaFree(C));
    CU(cudaFree(C16));
    CU(cudaFree(C2));
    CB(cublasDestroy(h));
}
END_TEST

/* cuBLASLt's matmul with a bias epilogue, as the CUDA backend's linear layers
 * call it (row-major through the transposition identity): D = B^T A^T + C +
 * bias, out of place and then in place; a size that is not the attribute's
 * is refused. Against the real library in test_cuda_real. */
START_TEST(test_cublaslt_matmul_adds_c_and_a_bias_per_row_of_d) {
    enum { M = 7, N = 11, K = 36 };
    float a[M * K], b[K * N], ar[M * K], br[K * N], c0[M * N], bias[N], got[M * N];
    uint16_t a16[M * K], b16[K * N];
    double ref[M * N];
    fill(a, M * K);
    fill(b, K * N);
    fill(c0, M * N);
    fill(bias, N);
    for (int i = 0; i < M * K; i++) ar[i] = vc_bf16_to_f32(a16[i] = vc_f32_to_bf16(a[i]));
    for (int i = 0; i < K * N; i++) br[i] = vc_bf16_to_f32(b16[i] = vc_f32_to_bf16(b[i]));
    ref_matmul(ar, br, ref, M, N, K, 0);
    cublasLtHandle_t h;
    CB(cublasLtCreate(&h));
    void *A = dup_to_device(a16, sizeof a16), *B = dup_to_device(b16, sizeof b16);
    float *C = dup_to_device(c0, sizeof c0), *D = dalloc(sizeof got), *bv = dup_to_device(bias, sizeof bias);
    cublasLtMatmulDesc_t d;
    CB(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    int32_t op = CUBLAS_OP_N;
    uint32_t epi = CUBLASLT_EPILOGUE_BIAS;
    ck_assert_int_eq(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &op, 2), CUBLAS_STATUS_INVALID_VALUE);
    CB(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &op, sizeof op));
    CB(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &op, sizeof op));
    CB(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    CB(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bv, sizeof bv));
    cublasLtMatrixLayout_t la, lb, lc;
    CB(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, N, K, N)); /* B row-major K x N: N x K column-major */
    CB(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, K, M, K)); /* A row-major M x K: K x M column-major */
    CB(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, N, M, N));
    void *ws = dalloc(1 << 20);
    const float one = 1.0f;
    CB(cublasLtMatmul(h, d, &one, B, la, A, lb, &one, C, lc, D, lc, NULL, ws, 1 << 20, 0));
    to_host(got, D, sizeof got);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double want = ref[i * N + j] + c0[i * N + j] + bias[j];
            ck_assert_msg(fabs(got[i * N + j] - want) < 1e-5, "[%d, %d] %g vs %g", i, j, got[i * N + j], want);
        }
    float c_after[M * N];
    to_host(c_after, C, sizeof c_after);
    ck_assert(memcmp(c_after, c0, sizeof c0) == 0); /* C is only read */
    /* in place, without the epilogue: C += B^T A^T */
    epi = CUBLASLT_EPILOGUE_DEFAULT;
    CB(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    CB(cublasLtMatmul(h, d, &one, B, la, A, lb, &one, C, lc, C, lc, NULL, ws, 1 << 20, 0));
    to_host(got, C, sizeof got);
    for (int i = 0; i < M * N; i++)
        ck_assert_msg(fabs(got[i] - (ref[i] + c0[i])) < 1e-5, "[%d] %g vs %g", i, got[i], ref[i] + c0[i]);
    CB(cublasLtMatrixLayoutDestroy(la));
    CB(cublasLtMatrixLayoutDestroy(lb));
    CB(cublasLtMatrixLayoutDestroy(lc));
    CB(cublasLtMatmulDescDestroy(d));
    CB(cublasLtDestroy(h));
    CU(cudaFree(A));
    CU(cudaFree(B));
    CU(cudaFree(C));
    CU(cudaFree(D));
    CU(cudaFree(bv));
    CU(cudaFree(ws));
}
END_TEST

START_TEST(test_cublas_tf32_mode_loses_precision_within_its_bound) {
    enum { M = 16, N = 16, K = 64 };
    float a[M * K], b[K * N], fp32[M * N], tf32[M * N];
    double ref[M * N];
    fill(a, M * K);
    fill(b, K * N);
    ref_matmul(a, b, ref, M, N, K, 0);
    cublasHandle_t h;
    CB(cublasCreate(&h));
    float *A = dup_to_device(a, sizeof a), *B = dup_to_device(b, sizeof b), *C = dalloc(sizeof fp32);
    const float one = 1.0f, zero = 0.0f;
    CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, N, A, K, &zero, C, N));
    to_host(fp32, C, sizeof fp32);
    CB(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
    cublasMath_t mode;
    CB(cublasGetMathMode(h, &mode));
    ck_assert_int_eq(mode, CUBLAS_TF32_TENSOR_OP_MATH);
    CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &one, B, N, A, K, &zero, C, N));
    to_host(tf32, C, sizeof tf32);
    double worst32 = 0, worst_tf = 0, bound = 0;
    for (int i = 0; i < M * N; i++) {
        worst32 = fmax(worst32, fabs(fp32[i] - ref[i]));
        worst_tf = fmax(worst_tf, fabs(tf32[i] - ref[i]));
    }
    for (int k = 0; k < K; k++) bound += 2 * 0x1p-10; /* |a|,|b| < 1: two inputs, 2^-10 each */
    ck_assert_msg(worst_tf <= bound, "tf32 error %g above %g", worst_tf, bound);
    if (EMU) ck_assert_msg(worst_tf > 10 * worst32, "tf32 %g vs fp32 %g: inputs were not rounded", worst_tf, worst32);
    CU(cudaFree(A));
    CU(cudaFree(B));
    CU(cudaFree(C));
    CB(cublasDestroy(h));
}
END_TEST

START_TEST(test_cublas_checks_arguments_and_names_its_statuses) {
    cublasHandle_t h;
    CB(cublasCreate(&h));
    float *A = dalloc(64 * 4), *C = dalloc(64 * 4);
    const float one = 1.0f;
    ck_assert_int_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, A, 4, A, 8, &one, C, 8),
                     CUBLAS_STATUS_INVALID_VALUE);
    ck_assert_int_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 8, 8, &one, A, 8, A, 8, &one, C, 8),
                     CUBLAS_STATUS_INVALID_VALUE);
    ck_assert_int_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, A, 8, A, 8, &one, C, 4),
                     CUBLAS_STATUS_INVALID_VALUE);
    ck_assert_int_eq(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 8, 8, &one, A, CUDA_R_32F, 8, A, CUDA_R_16BF, 8,
                                  &one, C, CUDA_R_32F, 8, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                     CUBLAS_STATUS_NOT_SUPPORTED);
    CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 0, 8, 8, &one, A, 8, A, 8, &one, C, 8)); /* empty: nothing to do */
    ck_assert_str_eq(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE), "CUBLAS_STATUS_INVALID_VALUE");
    ck_assert(strlen(cublasGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED)) > 5);
    CU(cudaFree(A));
    CU(cudaFree(C));
    CB(cublasDestroy(h));
}
END_TEST

START_TEST(test_cublas_calls_on_a_capturing_stream_are_replayed_by_the_graph) {
    enum { M = 8, N = 8, K = 8 };
    float a[M * K], b[K * N], got[M * N];
    double ref[M * N];
    fill(a, M * K);
    fill(b, K * N);
    ref_matmul(a, b, ref, M, N, K, 0);
    cudaStream_t s;
    CU(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cublasHandle_t h;
    CB(cublasCreate(&h));
    CB(cublasSetStream(h, s));
    float *A = dup_to_device(a, sizeof a), *B = dup_to_device(b, sizeof b), *C = dalloc(sizeof got);
    CU(cudaMemset(C, 0, sizeof got));
    float alpha = 1.0f, beta = 0.0f;
    cudaGraph_t g;
    CU(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, B, N, A, K, &beta, C, N));
    alpha = 100.0f; /* host-mode scalars are read when the call is made */
    CU(cudaStreamEndCapture(s, &g));
    to_host(got, C, sizeof got);
    ck_assert(got[0] == 0.0f);
    cudaGraphExec_t exec;
    CU(cudaGraphInstantiate(&exec, g, 0));
    CU(cudaGraphLaunch(exec, s));
    CU(cudaStreamSynchronize(s));
    to_host(got, C, sizeof got);
    for (int i = 0; i < M * N; i++) ck_assert(fabs(got[i] - ref[i]) < 1e-5);
    CU(cudaGraphExecDestroy(exec));
    CU(cudaGraphDestroy(g));
    CU(cudaFree(A));
    CU(cudaFree(B));
    CU(cudaFree(C));
    CB(cublasDestroy(h));
    CU(cudaStreamDestroy(s));
}
END_TEST

/* ---- the runtime's memory rules and error paths ---- */

START_TEST(test_copies_and_frees_are_checked) {
    float *d = dalloc(100 * sizeof(float)), host[200];
    memset(host, 0, sizeof host);
    ck_assert_int_eq(cudaFree(host), cudaErrorInvalidValue);
    ck_assert_str_eq(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument");
    ck_assert_str_eq(cudaGetErrorName(cudaErrorNoDevice), "cudaErrorNoDevice");
    if (EMU) { /* a GPU would fault later instead; the emulator says which call */
        ck_assert_int_eq(cudaMemcpy(host, host + 100, 400, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
        ck_assert_int_eq(cudaMemcpy(host, d, 800, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
        ck_assert_msg(strstr(detail(), "not inside one device allocation"), "%s", detail());
        ck_assert_int_eq(cudaMemcpy(d, host, 400, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
        ck_assert_int_eq(cudaMemset(d + 50, 0, 400), cudaErrorInvalidValue);
    }
    CU(cudaMemcpy(d, host, 400, cudaMemcpyHostToDevice));
    CU(cudaMemcpy(d + 50, d, 200, cudaMemcpyDeviceToDevice));
    CU(cudaFree(d));
    ck_assert_int_eq(cudaFree(d), cudaErrorInvalidValue); /* twice */
    ck_assert_int_eq(cudaGetLastError(), cudaErrorInvalidValue);
    ck_assert_int_eq(cudaGetLastError(), cudaSuccess);
    void *pinned;
    CU(cudaMallocHost(&pinned, 1000));
    CU(cudaFreeHost(pinned));
    size_t free_b, total_b;
    CU(cudaMemGetInfo(&free_b, &total_b));
    ck_assert(free_b <= total_b && total_b > 0);
    struct cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0));
    ck_assert_int_eq(prop.warpSize, 32);
    ck_assert(prop.major >= 7);
}
END_TEST

#ifdef VC_CUDA_EMU
START_TEST(test_emulated_memory_starts_as_nan_and_counts_allocations) {
    struct vc_emu_counters a, b;
    vc_emu_get_counters(&a);
    float *d = dalloc(64 * sizeof(float)), h[64];
    to_host(h, d, sizeof h);
    for (int i = 0; i < 64; i++) ck_assert(isnan(h[i]));
    vc_emu_get_counters(&b);
    ck_assert_int_eq(b.mallocs - a.mallocs, 1);
    ck_assert_uint_eq(b.live_bytes - a.live_bytes, sizeof h);
    CU(cudaFree(d));
    float *out = dalloc(128 * sizeof(float)), got[128];
    CU(tk_read_unwritten_shared(out, 128, 0));
    to_host(got, out, sizeof got);
    for (int i = 0; i < 128; i++) ck_assert(isnan(got[i])); /* shared memory nobody wrote */
    CU(cudaFree(out));
}
END_TEST

START_TEST(test_no_device_is_reported_by_every_entry_point) {
    setenv("VC_CUDA_EMU_DEVICES", "0", 1);
    int n = 5;
    void *p = NULL;
    cublasHandle_t h;
    cudaError_t count_err = cudaGetDeviceCount(&n);
    cudaError_t malloc_err = cudaMalloc(&p, 16);
    cudaError_t set_err = cudaSetDevice(0);
    cublasStatus_t blas = cublasCreate(&h);
    unsetenv("VC_CUDA_EMU_DEVICES");
    ck_assert_int_eq(count_err, cudaErrorNoDevice);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(malloc_err, cudaErrorNoDevice);
    ck_assert_int_eq(set_err, cudaErrorNoDevice);
    ck_assert_int_eq(blas, CUBLAS_STATUS_NOT_INITIALIZED);
    CU(cudaGetDeviceCount(&n));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(cudaSetDevice(1), cudaErrorInvalidDevice);
    (void)cudaGetLastError();
}
END_TEST

START_TEST(test_missing_syncthreads_reads_unwritten_shared_memory_in_fibers) {
    enum { T = 64 };
    float hx[T], got[T];
    for (int i = 0; i < T; i++) hx[i] = (float)i;
    float *x = dup_to_device(hx, sizeof hx), *y = dalloc(sizeof got);
    CU(tk_shift_good(x, y, T, 0));
    to_host(got, y, sizeof got);
    for (int i = 0; i < T; i++) ck_assert(got[i] == hx[(i + 1) % T]);
    CU(tk_shift_missing_sync(x, y, T, 0));
    to_host(got, y, sizeof got);
    int nans = 0;
    for (int i = 0; i < T; i++) nans += isnan(got[i]);
    /* fibers run each thread to its end: every thread but the last reads a
     * neighbour that has not written yet */
    ck_assert_int_eq(nans, T - 1);
    CU(tk_warp_swap(x, y, T, 0, 0)); /* the same without __syncwarp: even lanes read too early */
    to_host(got, y, sizeof got);
    nans = 0;
    for (int i = 0; i < T; i++) nans += isnan(got[i]);
    ck_assert_int_eq(nans, T / 2);
    CU(cudaFree(x));
    CU(cudaFree(y));
}
END_TEST

/* Emulated reduction against the same sum as a plain C loop (printed, not
 * asserted: the machine is shared). */
START_TEST(test_emulation_overhead_is_measured) {
    enum { N = 1 << 20, BLOCKS = 64, THREADS = 256 };
    float *h = malloc(sizeof(float) * N);
    fill(h, N);
    float *x = dup_to_device(h, sizeof(float) * N), *partial = dalloc(sizeof(float) * BLOCKS), *out = dalloc(4);
    CU(tk_block_sum(x, partial, out, N, BLOCKS, THREADS, 0)); /* warm: stacks */
    double t0 = now_s();
    CU(tk_block_sum(x, partial, out, N, BLOCKS, THREADS, 0));
    double t_emu = now_s() - t0;
    volatile float sink = 0;
    t0 = now_s();
    for (int rep = 0; rep < 10; rep++) {
        float acc = 0;
        for (int i = 0; i < N; i++) acc += h[i];
        sink += acc;
    }
    double t_c = (now_s() - t0) / 10;
    printf("emulation overhead: block-sum of %d floats (%d blocks x %d threads, %d barriers each) %.2f ms emulated, "
           "%.3f ms as a plain C loop: %.0fx\n",
           N, BLOCKS, THREADS, 9, t_emu * 1e3, t_c * 1e3, t_emu / t_c);
    /* the fixed cost of a launch: a one-block kernel of 64 threads */
    t0 = now_s();
    for (int rep = 0; rep < 1000; rep++) CU(tk_axpy(x, x, 0.5f, 64, 0));
    printf("emulation overhead: a launch of one 64-thread block costs %.1f us\n", (now_s() - t0) * 1e3);
    struct vc_emu_counters c;
    vc_emu_get_counters(&c);
    ck_assert(c.kernels > 1000);
    CU(cudaFree(x));
    CU(cudaFree(partial));
    CU(cudaFree(out));
    free(h);
}
END_TEST
#endif

/* ---- planted bugs, in a child process ---- */

/* Runs this program with --child name (and env "K=V" if given); returns its
 * wait status and fills out with what it printed. */
static int run_child(const char *name, const char *env, char *out, size_t cap) {
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        if (env) putenv((char *)env);
        execl("/proc/self/exe", "test_cuda_emu", "--child", name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fds[0], out + len, cap - 1 - len)) > 0) len += (size_t)r;
    out[len] = 0;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static int child_main(const char *name) {
    float *x = NULL;
    int *ix = NULL;
    if (cudaMalloc((void **)&x, 100 * sizeof(float)) != cudaSuccess) return 3;
    if (cudaMalloc((void **)&ix, 100 * sizeof(int)) != cudaSuccess) return 3;
    cudaMemset(x, 0, 100 * sizeof(float));
    float hx[64];
    for (int i = 0; i < 64; i++) hx[i] = (float)i;
    cudaError_t e = cudaSuccess;
    if (!strcmp(name, "oob"))
        e = tk_bug_oob_write(x, 100, 0);
    else if (!strcmp(name, "divergent"))
        e = tk_bug_divergent_barrier(x, 0);
    else if (!strcmp(name, "early_return"))
        e = tk_bug_return_before_barrier(x, 0);
    else if (!strcmp(name, "shfl_return"))
        e = tk_bug_shfl_after_return(x, 0);
    else if (!strcmp(name, "shared_oob"))
        e = tk_bug_shared_oob(x, 0);
    else if (!strcmp(name, "race_missing_sync") || !strcmp(name, "race_good")) {
        cudaMemcpy(x, hx, sizeof hx, cudaMemcpyHostToDevice);
        e = name[5] == 'g' ? tk_shift_good(x, x + 64, 32, 0) : tk_shift_missing_sync(x, x + 64, 32, 0);
    } else if (!strcmp(name, "race_missing_syncwarp")) {
        cudaMemcpy(x, hx, sizeof hx, cudaMemcpyHostToDevice);
        e = tk_warp_swap(x, x + 64, 32, 0, 0);
    } else if (!strcmp(name, "race_blocks"))
        e = tk_bug_blocks_race(ix, 4, 0);
    else
        return 4;
    cudaDeviceSynchronize();
    cudaFree(x);
    cudaFree(ix);
    printf("child %s finished: %s\n", name, cudaGetErrorName(e));
    return 0;
}

#ifdef VC_CUDA_EMU
/* Runs the child, asserts it was stopped and printed every needle; returns
 * what it printed (free it). */
static char *expect_caught(const char *child, const char *const *needles) {
    size_t cap = 1 << 16;
    char *out = malloc(cap);
    int st = run_child(child, NULL, out, cap);
    ck_assert_msg(!(WIFEXITED(st) && WEXITSTATUS(st) == 0), "child %s was not stopped:\n%s", child, out);
    for (; *needles; needles++) ck_assert_msg(strstr(out, *needles), "child %s: no '%s' in:\n%s", child, *needles, out);
    return out;
}

START_TEST(test_an_out_of_bounds_kernel_write_is_caught) {
#if defined(__SANITIZE_ADDRESS__)
    const char *n[] = {"AddressSanitizer: heap-buffer-overflow", "WRITE of size 4", "k_bug_oob_write", NULL};
#elif defined(__SANITIZE_THREAD__)
    const char *n[] = {"k_bug_oob_write wrote outside the 400-byte device allocation", NULL};
#else
    const char *n[] = {"vc-cuda-emu: kernel k_bug_oob_write wrote outside the 400-byte device allocation",
                       "byte 400", NULL};
#endif
    free(expect_caught("oob", n));
}
END_TEST

START_TEST(test_a_shared_memory_overflow_is_caught) {
#if defined(__SANITIZE_ADDRESS__)
    /* UBSan's bounds check sees the array type first; ASan's redzone next */
    const char *n[] = {"emu_kernels.cu:", NULL};
    char *out = expect_caught("shared_oob", n);
    ck_assert_msg(strstr(out, "index 64 out of bounds for type 'float [64]'") ||
                      (strstr(out, "AddressSanitizer: heap-buffer-overflow") && strstr(out, "k_bug_shared_oob")),
                  "%s", out);
    free(out);
#else
    const char *n[] = {"kernel k_bug_shared_oob block (0,0,0) wrote outside shared 'buf' (256 bytes", NULL};
    free(expect_caught("shared_oob", n));
#endif
}
END_TEST

START_TEST(test_divergent_barriers_abort_naming_the_kernel_and_both_sites) {
    const char *n[] = {"vc-cuda-emu: kernel k_bug_divergent_barrier block (0,0,0): divergent barriers",
                       " of 64 threads at the first)", NULL}; /* 16 or 48: who arrives first */
    char *out = expect_caught("divergent", n);
    /* both __syncthreads, by line */
    const char *a = strstr(out, "emu_kernels.cu:"), *b = a ? strstr(a + 1, "emu_kernels.cu:") : NULL;
    ck_assert_msg(a && b && atoi(a + 15) > 0 && atoi(b + 15) > 0 && atoi(a + 15) != atoi(b + 15), "%s", out);
    free(out);
}
END_TEST

START_TEST(test_returning_before_a_barrier_aborts) {
    const char *n[] = {"kernel k_bug_return_before_barrier block (0,0,0): thread 5 (5,0,0) returned while 63 "
                       "thread(s) wait at __syncthreads",
                       NULL};
    free(expect_caught("early_return", n));
}
END_TEST

START_TEST(test_a_shuffle_naming_a_returned_lane_aborts) {
    const char *n[] = {"kernel k_bug_shfl_after_return", "thread 3 (3,0,0) returned while",
                       "__shfl_down_sync", "mask 0xffffffff", NULL};
    free(expect_caught("shfl_return", n));
}
END_TEST
#endif

#if defined(__SANITIZE_THREAD__)
static void expect_race(const char *child, const char *kernel, int want) {
    char out[65536];
    int st = run_child(child, "TSAN_OPTIONS=halt_on_error=1:exitcode=66", out, sizeof out);
    int raced = WIFEXITED(st) && WEXITSTATUS(st) == 66 && strstr(out, "ThreadSanitizer: data race");
    if (want) {
        ck_assert_msg(raced, "child %s: TSan found no race:\n%s", child, out);
        ck_assert_msg(strstr(out, kernel), "child %s: the report does not name %s:\n%s", child, kernel, out);
    } else {
        ck_assert_msg(!raced && WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %s:\n%s", child, out);
    }
}

START_TEST(test_tsan_reports_a_missing_syncthreads) { expect_race("race_missing_sync", "k_shift_missing_sync", 1); }
END_TEST

START_TEST(test_tsan_is_quiet_on_the_same_kernel_with_its_barrier) { expect_race("race_good", "k_shift_good", 0); }
END_TEST

START_TEST(test_tsan_reports_a_missing_syncwarp) { expect_race("race_missing_syncwarp", "k_warp_swap", 1); }
END_TEST

START_TEST(test_tsan_reports_blocks_writing_one_location) { expect_race("race_blocks", "k_bug_blocks_race", 1); }
END_TEST
#endif

static Suite *cuda_emu_suite(void) {
    Suite *s = suite_create("cuda_emu");
    TCase *k = tcase_create("kernels");
    tcase_set_timeout(k, 300);
    tcase_add_test(k, test_block_sum_matches_a_double_sum_for_odd_sizes);
    tcase_add_test(k, test_warp_shuffle_sum_handles_partial_warps);
    tcase_add_test(k, test_atomics_count_sum_and_take_the_maximum);
    tcase_add_test(k, test_tiled_matmul_matches_cblas);
    tcase_add_test(k, test_odd_grid_shapes_run_every_thread_once_with_its_indices);
    tcase_add_test(k, test_launch_configuration_errors_reach_cudaGetLastError);
    tcase_add_test(k, test_dynamic_shared_memory_reverses_each_block);
    tcase_add_test(k, test_warp_swap_through_shared_memory_after_syncwarp);
    tcase_add_test(k, test_votes_and_syncthreads_count);
    tcase_add_test(k, test_segmented_shuffles_warp_reductions_and_barrier_votes);
    tcase_add_test(k, test_bf16_and_half_conversions_agree_with_tensor_dtype);
    suite_add_tcase(s, k);
    TCase *g = tcase_create("streams");
    tcase_set_timeout(g, 300);
    tcase_add_test(g, test_graph_capture_records_without_running_then_replays_with_fresh_host_input);
    tcase_add_test(g, test_capture_refuses_allocation_and_synchronisation);
    tcase_add_test(g, test_capture_follows_a_forked_stream_and_requires_the_join);
    tcase_add_test(g, test_events_time_work_and_host_functions_run_in_order);
    tcase_add_test(g, test_copies_and_frees_are_checked);
    suite_add_tcase(s, g);
    TCase *b = tcase_create("cublas");
    tcase_set_timeout(b, 300);
    tcase_add_test(b, test_cublas_sgemm_gives_row_major_products_through_the_transposition_identity);
    tcase_add_test(b, test_cublas_strided_batched_attention_scores);
    tcase_add_test(b, test_cublas_gemmex_with_bf16_inputs_matches_the_rounded_reference);
    tcase_add_test(b, test_cublaslt_matmul_adds_c_and_a_bias_per_row_of_d);
    tcase_add_test(b, test_cublas_tf32_mode_loses_precision_within_its_bound);
    tcase_add_test(b, test_cublas_checks_arguments_and_names_its_statuses);
    tcase_add_test(b, test_cublas_calls_on_a_capturing_stream_are_replayed_by_the_graph);
    suite_add_tcase(s, b);
#ifdef VC_CUDA_EMU
    TCase *e = tcase_create("emulator");
    tcase_set_timeout(e, 300);
    tcase_add_test(e, test_emulated_memory_starts_as_nan_and_counts_allocations);
    tcase_add_test(e, test_no_device_is_reported_by_every_entry_point);
    if (!vc_emu_thread_mode()) {
        tcase_add_test(e, test_missing_syncthreads_reads_unwritten_shared_memory_in_fibers);
        tcase_add_test(e, test_emulation_overhead_is_measured);
    }
    tcase_add_test(e, test_an_out_of_bounds_kernel_write_is_caught);
    tcase_add_test(e, test_a_shared_memory_overflow_is_caught);
    tcase_add_test(e, test_divergent_barriers_abort_naming_the_kernel_and_both_sites);
    tcase_add_test(e, test_returning_before_a_barrier_aborts);
    tcase_add_test(e, test_a_shuffle_naming_a_returned_lane_aborts);
#if defined(__SANITIZE_THREAD__)
    tcase_add_test(e, test_tsan_reports_a_missing_syncthreads);
    tcase_add_test(e, test_tsan_is_quiet_on_the_same_kernel_with_its_barrier);
    tcase_add_test(e, test_tsan_reports_a_missing_syncwarp);
    tcase_add_test(e, test_tsan_reports_blocks_writing_one_location);
#endif
    suite_add_tcase(s, e);
#endif
    return s;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--child")) return child_main(argv[2]);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        printf("SKIP: no CUDA device (%s: %s): the CUDA layer's tests did not run\n", cudaGetErrorName(e),
               cudaGetErrorString(e));
        return 0;
    }
#if defined(VC_CUDA_EMU) && !defined(__SANITIZE_THREAD__)
    printf("note: the ThreadSanitizer checks of the emulated kernels run under make test-cuda-tsan\n");
#endif
    SRunner *sr = srunner_create(cuda_emu_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
