/* test_backend_ops: every kernel of the backend table (tensor/backend.h),
 * forward and backward, on odd shapes, masks (key padding, causal, lengths,
 * zero weights) and both accumulate flags, on every compiled backend.
 *
 * The CPU backend is compared with naive double-precision loops written here
 * (so the suite means something with only the CPU compiled in); every other
 * backend is compared with the CPU backend's output. The measure is ggml's
 * normalised mean squared error, NMSE = sum (got - want)^2 / sum want^2
 * (equal infinities count as equal); integer outputs must match exactly.
 * Outputs a kernel overwrites start as NaN, so a kernel that reads what it
 * should overwrite fails; accumulating outputs start from random values.
 *
 *   VC_OPS=attention,layernorm_fwd   only these groups or ops (vc_kop_group /
 *                                    vc_kop_name names; the rest print SKIP)
 *   VC_OPS_TIME=1                    also print microseconds per call of every
 *                                    case on every backend
 * The worst NMSE of every op is printed at the end of its group. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"
#include "tensor/backend_cuda.h"
#include "tensor/rng.h"

/* ---- options ---- */

static bool timing;

static bool want(vc_kop op) {
    const char *f = getenv("VC_OPS");
    if (!f || !*f) return true;
    const char *name = vc_kop_name(op), *group = vc_kop_group(op);
    for (const char *p = f; *p;) {
        size_t n = strcspn(p, ",");
        if ((strlen(name) == n && strncmp(p, name, n) == 0) || (strlen(group) == n && strncmp(p, group, n) == 0))
            return true;
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

/* ---- memory of one case (freed by case_end) ---- */

typedef struct {
    const vc_backend *be; /* NULL: host memory from malloc */
    void *p;
} live_buf;

static live_buf live[256];
static int nlive;

static void *track(const vc_backend *be, void *p) {
    ck_assert_msg(p, "test_backend_ops: out of memory");
    ck_assert_msg(nlive < (int)(sizeof live / sizeof live[0]), "test_backend_ops: too many buffers in one case");
    live[nlive++] = (live_buf){be, p};
    return p;
}

static void case_end(void) {
    while (nlive > 0) {
        live_buf *b = &live[--nlive];
        if (b->be) b->be->mem_free(b->p);
        else free(b->p);
    }
}

static vc_rng rng;

static vc_real *hreal(int64_t n, double lo, double hi) {
    vc_real *p = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    vc_test_fill_uniform(p, n, &rng, lo, hi);
    return p;
}

static double *hdbl(int64_t n) { return track(NULL, calloc((size_t)(n ? n : 1), sizeof(double))); }
static int64_t *hint(int64_t n) { return track(NULL, calloc((size_t)(n ? n : 1), sizeof(int64_t))); }

/* vc_real copies of a double array (inputs made from a reference's outputs). */
static vc_real *hround(const double *x, int64_t n) {
    vc_real *p = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    for (int64_t i = 0; i < n; i++) p[i] = (vc_real)x[i];
    return p;
}

static void *dalloc(const vc_backend *be, size_t nbytes) { return track(be, be->mem_alloc(nbytes ? nbytes : 8)); }

/* Device copy of host values (NULL stays NULL). */
static vc_real *up(const vc_backend *be, const vc_real *h, int64_t n) {
    if (!h) return NULL;
    vc_real *d = dalloc(be, (size_t)n * sizeof(vc_real));
    be->copy_h2d(d, h, (size_t)n * sizeof(vc_real));
    return d;
}

static int64_t *upi(const vc_backend *be, const int64_t *h, int64_t n) {
    if (!h) return NULL;
    int64_t *d = dalloc(be, (size_t)n * sizeof(int64_t));
    be->copy_h2d(d, h, (size_t)n * sizeof(int64_t));
    return d;
}

/* A device output the kernel must overwrite: NaN everywhere. */
static vc_real *dnan(const vc_backend *be, int64_t n) {
    vc_real *d = dalloc(be, (size_t)n * sizeof(vc_real));
    be->fill(d, (vc_real)NAN, n);
    return d;
}

/* An output of a backward kernel with accumulate flag beta: NaN (beta 0) or
 * the values of init (beta 1). */
static vc_real *dgrad(const vc_backend *be, const vc_real *init, int64_t n, vc_real beta) {
    return beta == 0 ? dnan(be, n) : up(be, init, n);
}

/* ---- comparisons ---- */

/* Worst NMSE per op, printed at the end of each group. */
static double worst[VC_K_COUNT];
static int ncases[VC_K_COUNT];

static double nmse(const vc_real *got, const double *want_v, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = (double)got[i], b = want_v[i];
        if (a == b) { /* equal values, infinities included */
            if (isfinite(b)) den += b * b;
            continue;
        }
        if (!isfinite(a) || !isfinite(b)) return INFINITY;
        num += (a - b) * (a - b);
        den += b * b;
    }
    return num / (den > 0 ? den : 1);
}

/* The CPU backend's outputs of the current case, by slot: what the other
 * backends are compared with. */
static double *cpu_out[8];
static int64_t cpu_n[8];

static bool is_cpu(const vc_backend *be) { return be->device == VC_CPU; }

/* Downloads n values from device pointer d and compares them with the naive
 * reference (CPU, or an op the CPU backend does not have: fp16 products) or
 * the CPU backend's output (any other backend). */
static void expect(const vc_backend *be, int slot, vc_kop op, const char *desc, const vc_real *d, const double *ref,
                   int64_t n, double tol) {
    vc_real *got = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    be->copy_d2h(got, d, (size_t)n * sizeof(vc_real));
    const double *w = ref;
    bool vs_cpu = !is_cpu(be) && vc_backend_for(VC_CPU)->supports_op(op);
    if (vs_cpu) {
        ck_assert_msg(cpu_out[slot] && cpu_n[slot] == n, "%s %s: no CPU output to compare %s with",
                      vc_kop_name(op), desc, be->name);
        w = cpu_out[slot];
    }
    double e = nmse(got, w, n);
    ck_assert_msg(e <= tol, "%s %s on %s: NMSE %.3g against %s exceeds %.1g", vc_kop_name(op), desc, be->name, e,
                  vs_cpu ? "the CPU backend" : "the double-precision reference", tol);
    if (e > worst[op]) worst[op] = e;
    ncases[op]++;
    if (is_cpu(be)) {
        double *c = hdbl(n);
        for (int64_t i = 0; i < n; i++) c[i] = (double)got[i];
        cpu_out[slot] = c;
        cpu_n[slot] = n;
    }
}

static void expect_ints(const vc_backend *be, vc_kop op, const char *desc, const int64_t *d, const int64_t *ref,
                        int64_t n) {
    int64_t *got = hint(n);
    be->copy_d2h(got, d, (size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == ref[i], "%s %s on %s: element %lld is %lld, want %lld", vc_kop_name(op), desc,
                      be->name, (long long)i, (long long)got[i], (long long)ref[i]);
    ncases[op]++;
}

static void reset_cpu_out(void) { memset(cpu_out, 0, sizeof cpu_out); }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs `call` (a kernel launch on be) again and again for about 20 ms and
 * prints the time per call, when VC_OPS_TIME is set. */
#define TIME(be, op, desc, call)                                                                             \
    do {                                                                                                     \
        if (timing) {                                                                                        \
            (be)->sync();                                                                                    \
            double t0_ = now();                                                                              \
            int k_ = 0;                                                                                      \
            do {                                                                                             \
                call;                                                                                        \
                k_++;                                                                                        \
            } while (now() - t0_ < 0.02 || k_ < 3);                                                          \
            (be)->sync();                                                                                    \
            printf("time %-18s %-44s %-5s %10.2f us/op\n", vc_kop_name(op), desc, (be)->name,                \
                   (now() - t0_) / k_ * 1e6);                                                                \
        }                                                                                                    \
    } while (0)

/* Whether be's device is present (a CUDA build on a machine without a GPU
 * compiles the backend in but cannot run it): asked once per backend. */
static bool present(const vc_backend *be) {
    static int state[8]; /* 0 not asked, 1 present, 2 absent */
    int i = 0;
    while (i < vc_backend_count() && vc_backend_at(i) != be) i++;
    if (is_cpu(be) || i >= 8) return true;
    if (!state[i]) {
        state[i] = vc_cuda_select(0) == VC_OK ? 1 : 2;
        if (state[i] == 2) printf("SKIP: every op on the %s backend: %s\n", be->name, vc_last_error());
    }
    return state[i] == 1;
}

static bool supported(const vc_backend *be, vc_kop op) {
    if (!present(be)) return false;
    if (be->supports_op(op)) return true;
    /* an entry a backend leaves out on purpose (the CPU's fp16 products,
     * its bf16 ones without AVX512_BF16): said once, not a skipped reference; that the
     * CPU backend fills every entry is its own test */
    static bool said[8][VC_K_COUNT];
    int i = 0;
    while (i < vc_backend_count() && vc_backend_at(i) != be) i++;
    if (i < 8 && !said[i][op]) {
        said[i][op] = true;
        printf("not in the %s backend's table: %s (supports_op false; not compared)\n", be->name, vc_kop_name(op));
    }
    return false;
}

/* The body runs once per compiled backend that supports op, CPU first. */
#define FOR_BACKENDS(be, op)                                                                                 \
    for (int bi_ = (reset_cpu_out(), 0); bi_ < vc_backend_count(); bi_++)                                   \
        for (const vc_backend *be = vc_backend_at(bi_); be && supported(be, op); be = NULL)

static void report(vc_kop first, vc_kop last) {
    for (int op = first; op <= (int)last; op++)
        if (want((vc_kop)op))
            printf("%-18s %3d checks, worst NMSE %.2g\n", vc_kop_name((vc_kop)op), ncases[op], worst[op]);
        else
            printf("SKIP: %s (not in VC_OPS)\n", vc_kop_name((vc_kop)op));
}

/* Default tolerance: float kernels against double loops. An indexing or
 * formula error gives NMSE near 1; rounding gives 1e-14 .. 1e-11. */
#define TOL 1e-9

/* ---- the table itself ---- */


START_TEST(test_every_backend_fills_the_entries_it_supports_and_the_cpu_supports_all) {
    ck_assert_int_ge(vc_backend_count(), 1);
    ck_assert_ptr_eq(vc_backend_at(0), vc_backend_for(VC_CPU));
    for (int i = 0; i < vc_backend_count(); i++) {
        const vc_backend *be = vc_backend_at(i);
        ck_assert_ptr_eq(vc_backend_for(be->device), be);
        ck_assert_msg(be->mem_alloc && be->mem_free && be->mem_set && be->fill && be->copy_h2d && be->copy_d2h &&
                          be->copy_d2d && be->sync && be->supports_op && be->scratch_bytes,
                      "backend %s lacks a memory entry", be->name);
        for (int op = 0; op < VC_K_COUNT; op++) {
            ck_assert_msg(strcmp(vc_kop_name((vc_kop)op), "?") != 0, "op %d has no name", op);
            if (be->supports_op((vc_kop)op))
                ck_assert_msg(vc_backend_fills(be, (vc_kop)op), "backend %s supports %s but its entry is NULL", be->name,
                              vc_kop_name((vc_kop)op));
            else
                ck_assert_msg(!is_cpu(be) || op == VC_K_GEMM_BF16 || op == VC_K_GEMM_BATCHED_BF16 || op == VC_K_GEMM_BIAS_BF16 ||
                                  op == VC_K_ROUND_BF16 ||
                                  op == VC_K_LAYERNORM_FWD_BF16 || op == VC_K_UNARY_FWD_BF16 || op == VC_K_UNARY_FWD_BWD_BF16 ||
                                  op == VC_K_BIAS_BWD_ROUND_BF16 ||
                                  op == VC_K_GEMM_F16 || op == VC_K_GEMM_BATCHED_F16 || op == VC_K_ROUND_F16,
                              "the CPU backend must support %s", vc_kop_name((vc_kop)op));
        }
    }
    /* a device without a backend in this build is an error naming it */
    if (!vc_backend_for(VC_CUDA)) {
        const vc_backend *be;
        ck_assert_int_eq(vc_backend_get(VC_CUDA, &be), VC_ERR_DEVICE);
        ck_assert_msg(strstr(vc_last_error(), "cuda"), "message: %s", vc_last_error());
    }
}
END_TEST

/* The CUDA backend's own controls: failures inside an entry (which returns
 * nothing) come back through vc_cuda_take_error as one line naming the op
 * and the call; a GPU that does not exist is refused; TF32 reaches cuBLAS. */
START_TEST(test_cuda_failures_name_the_op_and_the_call_and_tf32_reaches_cublas) {
    const vc_backend *be = vc_backend_for(VC_CUDA);
    if (!be) {
        ck_assert(!vc_cuda_built());
        ck_assert_int_eq(vc_cuda_set_tf32(true), VC_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(vc_last_error(), "without CUDA"), "message: %s", vc_last_error());
        printf("SKIP: the CUDA backend's failure reports (no CUDA backend in this build)\n");
        return;
    }
    ck_assert(vc_cuda_built());
    if (!present(be)) return;
    ck_assert_int_eq(vc_cuda_take_error(), VC_OK);
    ck_assert_int_eq(vc_cuda_select(99), VC_ERR_DEVICE);
    ck_assert_msg(strstr(vc_last_error(), "cuda:99"), "message: %s", vc_last_error());
    ck_assert_int_eq(vc_cuda_select(0), VC_OK);
    /* more memory than the device has: NULL, nothing recorded */
    ck_assert_ptr_null(be->mem_alloc((size_t)1 << 50));
    ck_assert_int_eq(vc_cuda_take_error(), VC_OK);
    /* a leading dimension shorter than a row: cuBLAS refuses the product */
    vc_real a[4] = {1 + 1.0f / (1 << 20), 0, 0, 0}, b[4] = {1, 0, 0, 0}, c[4];
    vc_real *dA = up(be, a, 4), *dB = up(be, b, 4), *dC = dnan(be, 4);
    be->gemm(false, false, 2, 2, 2, 1, dA, 1, dB, 2, 0, dC, 2);
    ck_assert_int_eq(vc_cuda_take_error(), VC_ERR_DEVICE);
    ck_assert_msg(strstr(vc_last_error(), "cuda gemm") && strstr(vc_last_error(), "cublasSgemm"), "message: %s",
                  vc_last_error());
    ck_assert_int_eq(vc_cuda_take_error(), VC_OK); /* taken: cleared */
    /* TF32 keeps 10 mantissa bits of each input: 1 + 2^-20 becomes 1 */
    ck_assert(!vc_cuda_tf32());
    ck_assert_int_eq(vc_cuda_set_tf32(true), VC_OK);
    ck_assert(vc_cuda_tf32());
    be->gemm(false, false, 1, 1, 1, 1, dA, 1, dB, 1, 0, dC, 1);
    be->copy_d2h(c, dC, sizeof(vc_real));
    ck_assert_msg(c[0] == 1, "TF32 product %.9g, want 1", (double)c[0]);
    ck_assert_int_eq(vc_cuda_set_tf32(false), VC_OK);
    be->gemm(false, false, 1, 1, 1, 1, dA, 1, dB, 1, 0, dC, 1);
    be->copy_d2h(c, dC, sizeof(vc_real));
    ck_assert_msg(c[0] == a[0], "fp32 product %.9g, want %.9g", (double)c[0], (double)a[0]);
    ck_assert_int_eq(vc_cuda_take_error(), VC_OK);
    case_end();
}
END_TEST

/* ---- gemm ---- */

/* C = alpha op(A) op(B) + beta C over row-major buffers with row strides. */
static void ref_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const vc_real *A, int64_t lda,
                     const vc_real *B, int64_t ldb, double beta, const vc_real *C0, double *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= N) { /* padding columns stay as they were */
                C[i * ldc + j] = C0[i * ldc + j];
                continue;
            }
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (double)(tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * (double)C0[i * ldc + j]);
        }
}

static void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, vc_real beta) {
    if (!want(VC_K_GEMM)) return;
    char desc[160];
    snprintf(desc, sizeof desc, "%s%s M=%lld N=%lld K=%lld alpha=%g beta=%g", ta ? "T" : "N", tb ? "T" : "N",
             (long long)M, (long long)N, (long long)K, (double)alpha, (double)beta);
    /* row strides 2 longer than the rows: the kernels must honour them */
    int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    int64_t lda = ca + 2, ldb = cb + 2, ldc = N + 2;
    vc_real *A = hreal(ra * lda, -1, 1), *B = hreal(rb * ldb, -1, 1), *C0 = hreal(M * ldc, -1, 1);
    double *want_c = hdbl(M * ldc);
    ref_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, want_c, ldc);
    FOR_BACKENDS(be, VC_K_GEMM) {
        vc_real *dA = up(be, A, ra * lda), *dB = up(be, B, rb * ldb), *dC = up(be, C0, M * ldc);
        if (beta == 0) { /* C is not read: NaN in its used columns must not leak */
            vc_real *nanC = hreal(M * ldc, 0, 1);
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < ldc; j++) nanC[i * ldc + j] = j < N ? (vc_real)NAN : C0[i * ldc + j];
            be->copy_h2d(dC, nanC, (size_t)(M * ldc) * sizeof(vc_real));
        }
#define K_ be->gemm(ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc)
        K_;
        expect(be, 0, VC_K_GEMM, desc, dC, want_c, M * ldc, TOL);
        TIME(be, VC_K_GEMM, desc, K_);
#undef K_
    }
    case_end();
}

static void check_gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, bool shared_b,
                               vc_real beta) {
    if (!want(VC_K_GEMM_BATCHED)) return;
    char desc[160];
    snprintf(desc, sizeof desc, "%lldx %s%s M=%lld N=%lld K=%lld%s beta=%g", (long long)batch, ta ? "T" : "N",
             tb ? "T" : "N", (long long)M, (long long)N, (long long)K, shared_b ? " shared B" : "", (double)beta);
    int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    int64_t sa = ra * ca + 3, sb = shared_b ? 0 : rb * cb + 5, sc = M * N + 1;
    int64_t na = batch * sa, nb = shared_b ? rb * cb : batch * sb, nc = batch * sc;
    vc_real *A = hreal(na, -1, 1), *B = hreal(nb, -1, 1), *C0 = hreal(nc, -1, 1);
    double *want_c = hdbl(nc);
    for (int64_t i = 0; i < nc; i++) want_c[i] = C0[i]; /* the gaps between entries stay */
    for (int64_t i = 0; i < batch; i++)
        ref_gemm(ta, tb, M, N, K, 1, A + i * sa, ca, B + i * sb, cb, beta, C0 + i * sc, want_c + i * sc, N);
    FOR_BACKENDS(be, VC_K_GEMM_BATCHED) {
        vc_real *dA = up(be, A, na), *dB = up(be, B, nb), *dC = up(be, C0, nc);
#define K_ be->gemm_batched(batch, ta, tb, M, N, K, 1, dA, ca, sa, dB, cb, sb, beta, dC, N, sc)
        K_;
        expect(be, 0, VC_K_GEMM_BATCHED, desc, dC, want_c, nc, TOL);
        TIME(be, VC_K_GEMM_BATCHED, desc, K_);
#undef K_
    }
    case_end();
}

START_TEST(test_gemm_matches_naive_products_for_every_transpose_stride_and_beta) {
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 17, 33}, {17, 3, 129}, {33, 1, 3}, {5, 7, 0}};
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++) {
            check_gemm(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0);
            check_gemm(t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], (vc_real)0.5, 1);
        }
    for (int t = 0; t < 4; t++) {
        check_gemm_batched(3, t & 1, t & 2, 5, 17, 3, false, 0);
        check_gemm_batched(3, t & 1, t & 2, 5, 17, 3, true, 1);
        check_gemm_batched(1, t & 1, t & 2, 33, 3, 17, false, 1);
    }
    report(VC_K_GEMM, VC_K_GEMM_BATCHED);
}
END_TEST

/* ---- bf16 / fp16 gemm: against the same loops on rounded inputs ---- */

/* x rounded to bf16 (or IEEE half) in place (as float32), and its bits. */
static uint16_t *round_16(vc_real *x, int64_t n, bool half) {
    uint16_t *h = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(uint16_t)));
    for (int64_t i = 0; i < n; i++) {
        h[i] = half ? vc_f32_to_f16((float)x[i]) : vc_f32_to_bf16((float)x[i]);
        x[i] = (vc_real)(half ? vc_f16_to_f32(h[i]) : vc_bf16_to_f32(h[i]));
    }
    return h;
}

static void *up_bytes(const vc_backend *be, const void *h, size_t nbytes) {
    void *d = dalloc(be, nbytes);
    be->copy_h2d(d, h, nbytes);
    return d;
}

/* flags picks which operands go in as 16-bit bits (the rest as float32 the
 * kernel rounds); batch 0 calls gemm_bf16 (gemm_f16 when half), otherwise
 * the batched entry with gaps between the entries (shared B when shared_b).
 * The reference is the double-precision product of the rounded inputs; for
 * the larger cases the NMSE against the unrounded product must be far above
 * it, showing the inputs really were rounded (a float32 product would pass
 * the first check but not this one). */
static void check_gemm_16(bool half, unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                          bool shared_b, vc_real alpha, vc_real beta) {
    vc_kop op = half ? (batch ? VC_K_GEMM_BATCHED_F16 : VC_K_GEMM_F16)
                     : (batch ? VC_K_GEMM_BATCHED_BF16 : VC_K_GEMM_BF16);
    if (!want(op)) return;
    const char *ty = half ? "f16" : "bf16";
    char desc[192];
    snprintf(desc, sizeof desc, "%lldx %s%s M=%lld N=%lld K=%lld%s alpha=%g beta=%g, A %s, B %s", (long long)batch,
             ta ? "T" : "N", tb ? "T" : "N", (long long)M, (long long)N, (long long)K, shared_b ? " shared B" : "",
             (double)alpha, (double)beta, flags & VC_GEMM_A_BF16 ? ty : "f32", flags & VC_GEMM_B_BF16 ? ty : "f32");
    int64_t nbt = batch ? batch : 1;
    int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    int64_t lda = ca + 1, ldb = cb + 3, ldc = N + 2;
    int64_t sa = ra * lda + 3, sb = shared_b ? 0 : rb * ldb + 5, sc = M * ldc + 1;
    int64_t na = nbt * sa, nb = shared_b ? rb * ldb : nbt * sb, nc = nbt * sc;
    vc_real *A = hreal(na, -1, 1), *B = hreal(nb, -1, 1), *C0 = hreal(nc, -1, 1);
    vc_real *A0 = track(NULL, malloc((size_t)na * sizeof(vc_real)));
    vc_real *B0 = track(NULL, malloc((size_t)nb * sizeof(vc_real)));
    memcpy(A0, A, (size_t)na * sizeof(vc_real));
    memcpy(B0, B, (size_t)nb * sizeof(vc_real));
    uint16_t *Ah = round_16(A, na, half), *Bh = round_16(B, nb, half);
    double *want_c = hdbl(nc), *exact = hdbl(nc);
    for (int64_t i = 0; i < nc; i++) want_c[i] = exact[i] = C0[i];
    for (int64_t i = 0; i < nbt; i++) {
        ref_gemm(ta, tb, M, N, K, alpha, A + i * sa, lda, B + i * sb, ldb, beta, C0 + i * sc, want_c + i * sc, ldc);
        ref_gemm(ta, tb, M, N, K, alpha, A0 + i * sa, lda, B0 + i * sb, ldb, beta, C0 + i * sc, exact + i * sc, ldc);
    }
    FOR_BACKENDS(be, op) {
        const void *dA = flags & VC_GEMM_A_BF16 ? up_bytes(be, Ah, (size_t)na * 2) : (void *)up(be, A0, na);
        const void *dB = flags & VC_GEMM_B_BF16 ? up_bytes(be, Bh, (size_t)nb * 2) : (void *)up(be, B0, nb);
        vc_real *dC = up(be, C0, nc);
        if (beta == 0) { /* C is not read: NaN in it must not leak */
            vc_real *nanC = hreal(nc, 0, 1);
            memcpy(nanC, C0, (size_t)nc * sizeof(vc_real));
            for (int64_t b = 0; b < nbt; b++)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) nanC[b * sc + i * ldc + j] = (vc_real)NAN;
            be->copy_h2d(dC, nanC, (size_t)nc * sizeof(vc_real));
        }
        if (batch && half)
            be->gemm_batched_f16(flags, batch, ta, tb, M, N, K, alpha, dA, lda, sa, dB, ldb, sb, beta, dC, ldc, sc);
        else if (batch)
            be->gemm_batched_bf16(flags, batch, ta, tb, M, N, K, alpha, dA, lda, sa, dB, ldb, sb, beta, dC, ldc, sc);
        else if (half)
            be->gemm_f16(flags, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
        else
            be->gemm_bf16(flags, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
        /* float32 accumulation of K 16-bit products: rounding 1e-14 .. 1e-12 */
        expect(be, 0, op, desc, dC, want_c, nc, 1e-10);
        if (K >= 64) {
            vc_real *got = track(NULL, malloc((size_t)nc * sizeof(vc_real)));
            be->copy_d2h(got, dC, (size_t)nc * sizeof(vc_real));
            double e = nmse(got, exact, nc);
            ck_assert_msg(e > 1e-9, "%s on %s, %s: NMSE %.3g against the unrounded product: the inputs were not "
                                    "rounded to %s", vc_kop_name(op), be->name, desc, e, ty);
        }
    }
    case_end();
}

/* gemm_bias_bf16: C = op(A) op(B) + bias + res against the double loop on
 * the rounded inputs, res (mode) none (C starts as NaN: not read), C itself,
 * or another matrix laid out as C; with and without the bias. */
static void check_gemm_bias_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, int mode,
                                 bool with_bias) {
    if (!want(VC_K_GEMM_BIAS_BF16)) return;
    char desc[160];
    const char *mname[] = {"no res", "res = C", "res another matrix"};
    snprintf(desc, sizeof desc, "%s%s M=%lld N=%lld K=%lld %s%s, A %s, B %s", ta ? "T" : "N", tb ? "T" : "N",
             (long long)M, (long long)N, (long long)K, mname[mode], with_bias ? " + bias" : "",
             flags & VC_GEMM_A_BF16 ? "bf16" : "f32", flags & VC_GEMM_B_BF16 ? "bf16" : "f32");
    vc_real beta = mode ? 1 : 0;
    int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 3, ldc = N + 2;
    int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
    vc_real *A = hreal(na, -1, 1), *B = hreal(nb, -1, 1), *C0 = hreal(nc, -1, 1), *bias = hreal(N, -2, 2);
    vc_real *Rs = hreal(nc, -1, 1); /* mode 2: the matrix added; C0 then is garbage, not read */
    vc_real *A0 = track(NULL, malloc((size_t)(na ? na : 1) * sizeof(vc_real)));
    vc_real *B0 = track(NULL, malloc((size_t)(nb ? nb : 1) * sizeof(vc_real)));
    memcpy(A0, A, (size_t)na * sizeof(vc_real));
    memcpy(B0, B, (size_t)nb * sizeof(vc_real));
    uint16_t *Ah = round_16(A, na, false), *Bh = round_16(B, nb, false);
    double *want_c = hdbl(nc);
    ref_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, beta, mode == 2 ? Rs : C0, want_c, ldc);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) want_c[i * ldc + j] += with_bias ? (double)bias[j] : 0;
    if (mode == 2) /* outside the matrix (padding columns) C keeps its own values */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = N; j < ldc; j++) want_c[i * ldc + j] = C0[i * ldc + j];
    FOR_BACKENDS(be, VC_K_GEMM_BIAS_BF16) {
        const void *dA = flags & VC_GEMM_A_BF16 ? up_bytes(be, Ah, (size_t)na * 2) : (void *)up(be, A0, na);
        const void *dB = flags & VC_GEMM_B_BF16 ? up_bytes(be, Bh, (size_t)nb * 2) : (void *)up(be, B0, nb);
        vc_real *dC = up(be, C0, nc), *db = up(be, bias, N), *dR = up(be, Rs, nc);
        if (mode != 1) { /* C is not read: NaN in it must not leak */
            vc_real *nanC = hreal(nc, 0, 1);
            memcpy(nanC, C0, (size_t)nc * sizeof(vc_real));
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) nanC[i * ldc + j] = (vc_real)NAN;
            be->copy_h2d(dC, nanC, (size_t)nc * sizeof(vc_real));
        }
        be->gemm_bias_bf16(flags, ta, tb, M, N, K, dA, lda, dB, ldb, with_bias ? db : NULL,
                           mode == 0 ? NULL : mode == 1 ? dC : dR, dC, ldc);
        expect(be, 0, VC_K_GEMM_BIAS_BF16, desc, dC, want_c, nc, 1e-10);
    }
    case_end();
}

static void check_round_16(bool half) {
    vc_kop op = half ? VC_K_ROUND_F16 : VC_K_ROUND_BF16;
    if (!want(op)) return;
    int64_t n = 70001; /* past the kernel's threading threshold, odd */
    vc_real *x = hreal(n, -3, 3);
    x[0] = (vc_real)NAN;
    x[1] = (vc_real)INFINITY;
    /* ties that round to even, and a value that overflows to infinity */
    x[2] = half ? 1.00048828125f : 1.00390625f;   /* 1 + half an ulp: rounds to 1 */
    x[3] = half ? 1.00146484375f : 1.01171875f;   /* 1 + 3 half ulps: rounds up to 1 + 2 ulps */
    x[4] = half ? 65520.0f : 3.4028235e38f;
    x[5] = half ? 3e-6f : 1e-40f;                 /* subnormal in the 16-bit type (half) / in float */
    uint16_t *want_h = track(NULL, malloc((size_t)n * 2)), *got = track(NULL, malloc((size_t)n * 2));
    for (int64_t i = 0; i < n; i++) want_h[i] = half ? vc_f32_to_f16((float)x[i]) : vc_f32_to_bf16((float)x[i]);
    ck_assert_uint_eq(want_h[2], half ? 0x3c00 : 0x3f80);
    ck_assert_uint_eq(want_h[3], half ? 0x3c02 : 0x3f82);
    ck_assert_uint_eq(want_h[4], half ? 0x7c00 : 0x7f80);
    FOR_BACKENDS(be, op) {
        vc_real *dx = up(be, x, n);
        uint16_t *dy = dalloc(be, (size_t)n * 2);
        (half ? be->round_f16 : be->round_bf16)(dx, dy, n);
        be->copy_d2h(got, dy, (size_t)n * 2);
        ck_assert_msg(half ? (got[0] & 0x7fff) > 0x7c00 : (got[0] & 0x7fff) > 0x7f80, "%s on %s: NaN became %#x",
                      vc_kop_name(op), be->name, got[0]);
        for (int64_t i = 1; i < n; i++)
            ck_assert_msg(got[i] == want_h[i], "%s on %s: element %lld (%.9g) is %#x, want %#x", vc_kop_name(op),
                          be->name, (long long)i, (double)x[i], got[i], want_h[i]);
        ncases[op]++;
    }
    case_end();
}

static void check_all_gemm_16(bool half) {
    check_round_16(half);
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 17, 33}, {17, 3, 129}, {33, 1, 3}, {5, 7, 0}, {64, 96, 80}};
    for (int s = 0; s < 6; s++)
        for (int t = 0; t < 4; t++) {
            check_gemm_16(half, 0, 0, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], false, 1, 0);
            check_gemm_16(half, VC_GEMM_B_BF16, 0, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], false,
                          (vc_real)0.5, 1);
            check_gemm_16(half, VC_GEMM_A_BF16 | VC_GEMM_B_BF16, 0, t & 1, t & 2, shapes[s][0], shapes[s][1],
                          shapes[s][2], false, 1, (vc_real)0.25);
        }
    for (int t = 0; t < 4; t++) {
        check_gemm_16(half, 0, 3, t & 1, t & 2, 5, 17, 70, false, 1, 0);
        check_gemm_16(half, VC_GEMM_A_BF16, 3, t & 1, t & 2, 5, 17, 70, true, 1, 1);
        check_gemm_16(half, 0, 1, t & 1, t & 2, 33, 3, 17, false, 1, 1);
        check_gemm_16(half, VC_GEMM_B_BF16, 3, t & 1, t & 2, 4, 6, 65, false, 1, 0); /* strided batched */
    }
}

START_TEST(test_bf16_gemm_matches_products_of_rounded_inputs) {
    check_all_gemm_16(false);
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 17, 33}, {17, 3, 129}, {64, 96, 80}, {5, 7, 0}};
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 4; t++) {
            for (int mode = 0; mode < 3; mode++) {
                check_gemm_bias_bf16(VC_GEMM_A_BF16 | VC_GEMM_B_BF16, t & 1, t & 2, shapes[s][0], shapes[s][1],
                                     shapes[s][2], mode, true);
                check_gemm_bias_bf16(VC_GEMM_B_BF16, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], mode,
                                     mode != 1);
            }
        }
    /* the CUDA entry without cuBLASLt: the terms written first, then the
     * product accumulated onto them (what runs where cuBLASLt is missing) */
    if (vc_cuda_built() && vc_cuda_set_lt(false) == VC_OK) {
        for (int s = 1; s < 4; s++)
            for (int t = 0; t < 4; t++)
                for (int mode = 0; mode < 3; mode++)
                    check_gemm_bias_bf16(VC_GEMM_B_BF16, t & 1, t & 2, shapes[s][0], shapes[s][1], shapes[s][2], mode,
                                         true);
        ck_assert_int_eq(vc_cuda_set_lt(true), VC_OK);
    }
    report(VC_K_GEMM_BF16, VC_K_ROUND_BF16);
}
END_TEST

/* fp16 (inference): no CPU products, so the CUDA backend's against the
 * double loops alone; rounding against the CPU's vc_f32_to_f16. */
START_TEST(test_f16_gemm_matches_products_of_rounded_inputs) {
    check_all_gemm_16(true);
    report(VC_K_GEMM_F16, VC_K_ROUND_F16);
}
END_TEST

#ifndef VC_DOUBLE
/* A kernel with a bf16 output against its float32 twin on the same backend:
 * h [n] (device) must be exactly y [n] (device) rounded to bf16 (a NaN any
 * NaN: a GPU's conversion gives the canonical one). */
static void check_bf16_of(const vc_backend *be, vc_kop op, const char *desc, const vc_real *y, const uint16_t *h,
                          int64_t n) {
    vc_real *yh = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    uint16_t *hh = track(NULL, malloc((size_t)(n ? n : 1) * 2));
    be->copy_d2h(yh, y, (size_t)n * sizeof(vc_real));
    be->copy_d2h(hh, h, (size_t)n * 2);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(isnan(yh[i]) ? isnan(vc_bf16_to_f32(hh[i])) : hh[i] == vc_f32_to_bf16(yh[i]),
                      "%s on %s, %s: element %lld is %#x, the float32 kernel's %.9g "
                      "rounds to %#x", vc_kop_name(op), be->name, desc, (long long)i, hh[i], (double)yh[i],
                      vc_f32_to_bf16(yh[i]));
    ncases[op]++;
}

/* Two float32 outputs of n values (device) that must be identical. */
static void check_same(const vc_backend *be, vc_kop op, const char *desc, const vc_real *a, const vc_real *b,
                       int64_t n) {
    vc_real *ah = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    vc_real *bh = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    be->copy_d2h(ah, a, (size_t)n * sizeof(vc_real));
    be->copy_d2h(bh, b, (size_t)n * sizeof(vc_real));
    ck_assert_msg(memcmp(ah, bh, (size_t)n * sizeof(vc_real)) == 0, "%s on %s, %s: statistics differ from the float32 "
                  "kernel's", vc_kop_name(op), be->name, desc);
}

/* t [cols, rows] holds h [rows, cols] transposed, bit for bit. */
static void check_transposed16(const vc_backend *be, vc_kop op, const char *desc, const uint16_t *h,
                               const uint16_t *t, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    uint16_t *hh = track(NULL, malloc((size_t)(n ? n : 1) * 2)), *th = track(NULL, malloc((size_t)(n ? n : 1) * 2));
    be->copy_d2h(hh, h, (size_t)n * 2);
    be->copy_d2h(th, t, (size_t)n * 2);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            ck_assert_msg(th[j * rows + i] == hh[i * cols + j],
                          "%s on %s, %s (transposed output): element (%lld, %lld) is %#x at [%lld, %lld], "
                          "%#x in the row-major output",
                          vc_kop_name(op), be->name, desc, (long long)i, (long long)j, th[j * rows + i], (long long)j,
                          (long long)i, hh[i * cols + j]);
    ncases[op]++;
}

/* bf16 outputs across backends. Each backend's bf16 output is its own
 * float32 output rounded (check_bf16_of), so two backends' bf16 values can
 * differ only where their float32 values differ (different math: CUDA's
 * erfcf / expf against k_math.h's polynomials, a block reduction's order
 * against a sequential sum), and then only when those few float32 ulps
 * straddle a bf16 rounding boundary: at most one bf16 ulp, on about
 * (float32 ulps apart) / 2^16 of the elements. Near zero a float32
 * difference of abs_tol may cross the sign (LayerNorm's gamma h + beta):
 * allowed too. NaN must stay NaN (its bits may differ: a GPU's canonical
 * NaN). The CPU backend's output of the case is kept and every other
 * backend's compared with it, counting the elements that differ. */
static uint16_t *cpu_h16;
static float *cpu_f32, *cpu_stats[2];
static int64_t cpu_h16_n;
static int64_t x16_n[VC_K_COUNT], x16_f32diff[VC_K_COUNT], x16_diff[VC_K_COUNT];

/* bf16 bits as a position on the number line (+0 and -0 both 0), so that
 * neighbouring values are 1 apart. */
static int64_t bf16_pos(uint16_t h) { return h & 0x8000 ? -(int64_t)(h & 0x7fff) : (int64_t)(h & 0x7fff); }

/* h [n] bf16 and y [n] float32 (device) of be; stats[2] [ns] (device, or
 * NULL): LayerNorm's mean and rstd, within 1e-6 (relative above 1) of the
 * CPU's: float32 sums in another order. */
static void check_bf16_across(const vc_backend *be, vc_kop op, const char *desc, const uint16_t *h, const vc_real *y,
                              int64_t n, const vc_real *const *stats, int64_t ns, double abs_tol) {
    uint16_t *hh = track(NULL, malloc((size_t)(n ? n : 1) * 2));
    float *yh = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(float)));
    float *sh[2] = {track(NULL, malloc((size_t)(ns ? ns : 1) * sizeof(float))),
                    track(NULL, malloc((size_t)(ns ? ns : 1) * sizeof(float)))};
    be->copy_d2h(hh, h, (size_t)n * 2);
    be->copy_d2h(yh, y, (size_t)n * sizeof(float));
    for (int k = 0; stats && k < 2; k++) be->copy_d2h(sh[k], stats[k], (size_t)ns * sizeof(float));
    if (is_cpu(be)) {
        cpu_h16 = hh, cpu_f32 = yh, cpu_stats[0] = sh[0], cpu_stats[1] = sh[1], cpu_h16_n = n;
        return;
    }
    ck_assert_msg(cpu_h16 && cpu_h16_n == n, "%s %s: no CPU bf16 output to compare %s with", vc_kop_name(op), desc,
                  be->name);
    for (int k = 0; stats && k < 2; k++)
        for (int64_t i = 0; i < ns; i++)
            ck_assert_msg(fabs((double)sh[k][i] - cpu_stats[k][i]) <= 1e-6 * fmax(1, fabs((double)cpu_stats[k][i])),
                          "%s %s on %s: %s %lld is %.9g, the CPU's %.9g", vc_kop_name(op), desc, be->name,
                          k ? "rstd" : "mean", (long long)i, (double)sh[k][i], (double)cpu_stats[k][i]);
    for (int64_t i = 0; i < n; i++) {
        uint16_t a = hh[i], b = cpu_h16[i];
        float fa = vc_bf16_to_f32(a), fb = vc_bf16_to_f32(b);
        x16_n[op]++;
        if (memcmp(&yh[i], &cpu_f32[i], sizeof(float)) != 0) x16_f32diff[op]++;
        if (isnan(fb) || isnan(fa)) {
            ck_assert_msg(isnan(fa) && isnan(fb), "%s %s on %s: element %lld is %#x, the CPU's %#x", vc_kop_name(op),
                          desc, be->name, (long long)i, a, b);
            continue;
        }
        if (a == b) continue;
        x16_diff[op]++;
        int64_t ulps = llabs(bf16_pos(a) - bf16_pos(b));
        ck_assert_msg(ulps <= 1 || fabs((double)fa - fb) <= abs_tol,
                      "%s %s on %s: element %lld is %#x (%.6g), the CPU's %#x (%.6g): %lld bf16 ulps apart "
                      "(float32 %.9g against %.9g)", vc_kop_name(op), desc, be->name, (long long)i, a, (double)fa,
                      b, (double)fb, (long long)ulps, (double)yh[i], (double)cpu_f32[i]);
    }
}

/* The totals of check_bf16_across for op: printed, and the share of bf16
 * values that differ from the CPU's at most max_share (a backend whose
 * rounding or formula were off would differ in most). */
static void report_bf16_across(vc_kop op, double max_share) {
    if (!x16_n[op]) return;
    double share = (double)x16_diff[op] / (double)x16_n[op];
    printf("%-18s against the cpu: %lld values, float32 differs in %lld, bf16 in %lld (%.2g%%, each 1 ulp or "
           "near 0)\n", vc_kop_name(op), (long long)x16_n[op], (long long)x16_f32diff[op], (long long)x16_diff[op],
           100 * share);
    ck_assert_msg(share <= max_share, "%s: %lld of %lld bf16 values differ from the CPU's (%.3g%%, at most %.3g%% "
                  "allowed)", vc_kop_name(op), (long long)x16_diff[op], (long long)x16_n[op], 100 * share,
                  100 * max_share);
}
#endif

/* ---- norm ---- */

#define LN_EPS 1e-5

static void ref_layernorm(const vc_real *x, const vc_real *g, const vc_real *b, int64_t N, int64_t D, double *y,
                          double *mean, double *rstd) {
    for (int64_t i = 0; i < N; i++) {
        const vc_real *xr = x + i * D;
        double m = 0, v = 0;
        for (int64_t j = 0; j < D; j++) m += xr[j];
        m /= (double)D;
        for (int64_t j = 0; j < D; j++) v += (xr[j] - m) * (xr[j] - m);
        v /= (double)D;
        double rs = 1 / sqrt(v + LN_EPS);
        mean[i] = m;
        rstd[i] = rs;
        for (int64_t j = 0; j < D; j++) y[i * D + j] = (xr[j] - m) * rs * (g ? g[j] : 1) + (b ? b[j] : 0);
    }
}

static void check_layernorm(int64_t N, int64_t D, bool affine, vc_real bx, vc_real bg, vc_real bb) {
    char desc[160];
    snprintf(desc, sizeof desc, "[%lld,%lld]%s", (long long)N, (long long)D, affine ? " gamma,beta" : "");
    vc_real *x = hreal(N * D, -2, 2), *g = affine ? hreal(D, 0.5, 1.5) : NULL, *b = affine ? hreal(D, -1, 1) : NULL;
    double *y = hdbl(N * D), *mean = hdbl(N), *rstd = hdbl(N);
    ref_layernorm(x, g, b, N, D, y, mean, rstd);
    if (want(VC_K_LAYERNORM_FWD) && bx == 0) /* once per shape and parameter choice */
        FOR_BACKENDS(be, VC_K_LAYERNORM_FWD) {
            vc_real *dx = up(be, x, N * D), *dg = up(be, g, D), *db = up(be, b, D);
            vc_real *dy = dnan(be, N * D), *dm = dnan(be, N), *dr = dnan(be, N);
#define K_ be->layernorm_fwd(dx, dg, db, dy, dm, dr, N, D, (vc_real)LN_EPS)
            K_;
            expect(be, 0, VC_K_LAYERNORM_FWD, desc, dy, y, N * D, TOL);
            expect(be, 1, VC_K_LAYERNORM_FWD, desc, dm, mean, N, TOL);
            expect(be, 2, VC_K_LAYERNORM_FWD, desc, dr, rstd, N, TOL);
            TIME(be, VC_K_LAYERNORM_FWD, desc, K_);
#undef K_
        }
#ifndef VC_DOUBLE
    /* the bf16 output is the float32 one rounded, bit for bit, with the same statistics */
    if (want(VC_K_LAYERNORM_FWD_BF16) && bx == 0)
        FOR_BACKENDS(be, VC_K_LAYERNORM_FWD_BF16) {
            vc_real *dx = up(be, x, N * D), *dg = up(be, g, D), *db = up(be, b, D);
            vc_real *dy = dnan(be, N * D), *dm = dnan(be, N), *dr = dnan(be, N), *dm2 = dnan(be, N), *dr2 = dnan(be, N);
            uint16_t *dh = dalloc(be, (size_t)(N * D) * 2);
            be->layernorm_fwd(dx, dg, db, dy, dm, dr, N, D, (vc_real)LN_EPS);
#define K_ be->layernorm_fwd_bf16(dx, dg, db, dh, dm2, dr2, N, D, (float)LN_EPS, false)
            K_;
            check_bf16_of(be, VC_K_LAYERNORM_FWD_BF16, desc, dy, dh, N * D);
            check_same(be, VC_K_LAYERNORM_FWD_BF16, desc, dm, dm2, N);
            check_same(be, VC_K_LAYERNORM_FWD_BF16, desc, dr, dr2, N);
            /* outputs are O(1): a float32 error of 1e-6 near 0 may flip the sign */
            const vc_real *st[2] = {dm2, dr2};
            check_bf16_across(be, VC_K_LAYERNORM_FWD_BF16, desc, dh, dy, N * D, st, N, 1e-6);
            TIME(be, VC_K_LAYERNORM_FWD_BF16, desc, K_);
#undef K_
            /* stored transposed: the same bits at [j, i], the same statistics */
            uint16_t *dht = dalloc(be, (size_t)(N * D) * 2);
            vc_real *dm3 = dnan(be, N), *dr3 = dnan(be, N);
            be->layernorm_fwd_bf16(dx, dg, db, dht, dm3, dr3, N, D, (float)LN_EPS, true);
            check_transposed16(be, VC_K_LAYERNORM_FWD_BF16, desc, dh, dht, N, D);
            check_same(be, VC_K_LAYERNORM_FWD_BF16, desc, dm2, dm3, N);
            check_same(be, VC_K_LAYERNORM_FWD_BF16, desc, dr2, dr3, N);
        }
#endif
    if (want(VC_K_LAYERNORM_BWD)) {
        /* gx = rs (gh - mean(gh) - h mean(gh h)), gh = gamma g; dgamma = sum g h; dbeta = sum g */
        vc_real *gy = hreal(N * D, -1, 1), *m = hround(mean, N), *r = hround(rstd, N);
        vc_real *gx0 = hreal(N * D, -1, 1), *gg0 = hreal(D, -1, 1), *gb0 = hreal(D, -1, 1);
        double *gx = hdbl(N * D), *gg = hdbl(D), *gb = hdbl(D);
        for (int64_t j = 0; j < D; j++) {
            gg[j] = bg * gg0[j];
            gb[j] = bb * gb0[j];
        }
        for (int64_t i = 0; i < N; i++) {
            double s1 = 0, s2 = 0;
            for (int64_t j = 0; j < D; j++) {
                double h = (x[i * D + j] - (double)m[i]) * r[i], gh = gy[i * D + j] * (g ? (double)g[j] : 1);
                s1 += gh;
                s2 += gh * h;
                gg[j] += gy[i * D + j] * h;
                gb[j] += gy[i * D + j];
            }
            for (int64_t j = 0; j < D; j++) {
                double h = (x[i * D + j] - (double)m[i]) * r[i], gh = gy[i * D + j] * (g ? (double)g[j] : 1);
                gx[i * D + j] = bx * gx0[i * D + j] + r[i] * (gh - s1 / (double)D - h * s2 / (double)D);
            }
        }
        char d2[256];
        snprintf(d2, sizeof d2, "%s beta x/gamma/beta %g/%g/%g", desc, (double)bx, (double)bg, (double)bb);
        FOR_BACKENDS(be, VC_K_LAYERNORM_BWD) {
            vc_real *dx = up(be, x, N * D), *dg = up(be, g, D), *dm = up(be, m, N), *dr = up(be, r, N);
            vc_real *dgy = up(be, gy, N * D), *dgx = dgrad(be, gx0, N * D, bx);
            vc_real *dgg = affine ? dgrad(be, gg0, D, bg) : NULL, *dgb = affine ? dgrad(be, gb0, D, bb) : NULL;
#define K_ be->layernorm_bwd(dx, dg, dm, dr, dgy, dgx, bx, dgg, bg, dgb, bb, N, D)
            K_;
            expect(be, 0, VC_K_LAYERNORM_BWD, d2, dgx, gx, N * D, TOL);
            if (affine) {
                expect(be, 1, VC_K_LAYERNORM_BWD, d2, dgg, gg, D, TOL);
                expect(be, 2, VC_K_LAYERNORM_BWD, d2, dgb, gb, D, TOL);
            }
            TIME(be, VC_K_LAYERNORM_BWD, d2, K_);
#undef K_
        }
        /* only the parameter gradients (the input needs none) */
        if (affine)
            FOR_BACKENDS(be, VC_K_LAYERNORM_BWD) {
                vc_real *dx = up(be, x, N * D), *dg = up(be, g, D), *dm = up(be, m, N), *dr = up(be, r, N);
                vc_real *dgy = up(be, gy, N * D), *dgg = dgrad(be, gg0, D, bg), *dgb = dgrad(be, gb0, D, bb);
                be->layernorm_bwd(dx, dg, dm, dr, dgy, NULL, 0, dgg, bg, dgb, bb, N, D);
                expect(be, 1, VC_K_LAYERNORM_BWD, d2, dgg, gg, D, TOL);
                expect(be, 2, VC_K_LAYERNORM_BWD, d2, dgb, gb, D, TOL);
            }
    }
    case_end();
}

static void check_l2norm(int64_t N, int64_t D, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "[%lld,%lld] beta=%g", (long long)N, (long long)D, (double)beta);
    const double eps = 1e-6;
    vc_real *x = hreal(N * D, -1, 1);
    /* row 0 all zero and row 1 tiny: both below eps, divided by eps */
    for (int64_t j = 0; j < D; j++) x[j] = 0;
    if (N > 1)
        for (int64_t j = 0; j < D; j++) x[D + j] = (vc_real)1e-9;
    double *y = hdbl(N * D), *nrm = hdbl(N);
    for (int64_t i = 0; i < N; i++) {
        double s = 0;
        for (int64_t j = 0; j < D; j++) s += (double)x[i * D + j] * x[i * D + j];
        nrm[i] = sqrt(s);
        for (int64_t j = 0; j < D; j++) y[i * D + j] = x[i * D + j] / (nrm[i] > eps ? nrm[i] : eps);
    }
    if (want(VC_K_L2NORM_FWD))
        FOR_BACKENDS(be, VC_K_L2NORM_FWD) {
            vc_real *dx = up(be, x, N * D), *dy = dnan(be, N * D), *dn = dnan(be, N);
#define K_ be->l2norm_fwd(dx, dy, dn, N, D, (vc_real)eps)
            K_;
            expect(be, 0, VC_K_L2NORM_FWD, desc, dy, y, N * D, TOL);
            expect(be, 1, VC_K_L2NORM_FWD, desc, dn, nrm, N, TOL);
            TIME(be, VC_K_L2NORM_FWD, desc, K_);
#undef K_
        }
    if (want(VC_K_L2NORM_BWD)) {
        vc_real *yr = hround(y, N * D), *nr = hround(nrm, N), *g = hreal(N * D, -1, 1), *gx0 = hreal(N * D, -1, 1);
        double *gx = hdbl(N * D);
        for (int64_t i = 0; i < N; i++) {
            double n = nr[i], dot = 0;
            if (n > eps)
                for (int64_t j = 0; j < D; j++) dot += (double)g[i * D + j] * yr[i * D + j];
            for (int64_t j = 0; j < D; j++)
                gx[i * D + j] = beta * gx0[i * D + j] + (g[i * D + j] - yr[i * D + j] * dot) / (n > eps ? n : eps);
        }
        FOR_BACKENDS(be, VC_K_L2NORM_BWD) {
            vc_real *dy = up(be, yr, N * D), *dn = up(be, nr, N), *dg = up(be, g, N * D);
            vc_real *dgx = dgrad(be, gx0, N * D, beta);
#define K_ be->l2norm_bwd(dy, dn, dg, dgx, beta, N, D, (vc_real)eps)
            K_;
            expect(be, 0, VC_K_L2NORM_BWD, desc, dgx, gx, N * D, TOL);
            TIME(be, VC_K_L2NORM_BWD, desc, K_);
#undef K_
        }
    }
    case_end();
}

START_TEST(test_norm_kernels_match_naive_loops_with_and_without_parameters) {
    const int64_t shapes[][2] = {{1, 1}, {3, 17}, {17, 129}, {5, 3}, {300, 129}};
    for (int s = 0; s < 5; s++) {
        int64_t N = shapes[s][0], D = shapes[s][1];
        check_layernorm(N, D, true, 0, 0, 0);
        check_layernorm(N, D, true, 1, 1, 1);
        check_layernorm(N, D, true, 1, 0, 1);
        check_layernorm(N, D, false, 0, 0, 0);
        check_layernorm(N, D, false, 1, 0, 0);
        check_l2norm(N, D, 0);
        check_l2norm(N, D, 1);
    }
    report(VC_K_LAYERNORM_FWD, VC_K_L2NORM_BWD);
#ifndef VC_DOUBLE
    report_bf16_across(VC_K_LAYERNORM_FWD_BF16, 1e-3);
#endif
}
END_TEST

/* ---- softmax ---- */

/* Index helpers over a contiguous shape. */
static int64_t numel_of(int nd, const int64_t *ne) {
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= ne[d];
    return n;
}

/* Offset of multi-index idx under strides st. */
static int64_t offset_of(int nd, const int64_t *idx, const int64_t *st) {
    int64_t o = 0;
    for (int d = 0; d < nd; d++) o += idx[d] * st[d];
    return o;
}

static void unflatten(int nd, const int64_t *ne, int64_t i, int64_t *idx) {
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = i % ne[d];
        i /= ne[d];
    }
}

static void contiguous_strides(int nd, const int64_t *ne, int64_t *st) {
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        st[d] = s;
        s *= ne[d];
    }
}

/* mask kinds: 0 none; 1 key padding (a [ne0, 1, ne2] mask of 0 / -inf,
 * sample 1 fully masked); 2 causal (a [ne1, ne2] mask, -inf above the
 * diagonal); 3 a finite additive bias broadcast over dim 0. */
static void check_softmax(int nd, const int64_t *ne, int axis, int mask_kind, bool take_log, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "[%lld,%lld,%lld] axis %d mask %s%s beta=%g", (long long)ne[0], (long long)ne[1],
             (long long)ne[2], axis, (const char *[]){"none", "key padding", "causal", "bias"}[mask_kind],
             take_log ? " log" : "", (double)beta);
    int64_t n = numel_of(nd, ne), st[VC_MAX_DIMS], mst[VC_MAX_DIMS] = {0};
    contiguous_strides(nd, ne, st);
    vc_real *x = hreal(n, -3, 3), *mask = NULL;
    int64_t nm = 0;
    if (mask_kind == 1) {
        nm = ne[0] * ne[2];
        mask = hreal(nm, 0, 1);
        for (int64_t b = 0; b < ne[0]; b++)
            for (int64_t j = 0; j < ne[2]; j++)
                mask[b * ne[2] + j] = (b == 1 || j >= ne[2] - 1 - b) ? -INFINITY : 0;
        mst[0] = ne[2], mst[1] = 0, mst[2] = 1;
    } else if (mask_kind == 2) {
        nm = ne[1] * ne[2];
        mask = hreal(nm, 0, 1);
        for (int64_t i = 0; i < ne[1]; i++)
            for (int64_t j = 0; j < ne[2]; j++) mask[i * ne[2] + j] = j > i ? -INFINITY : 0;
        mst[0] = 0, mst[1] = ne[2], mst[2] = 1;
    } else if (mask_kind == 3) {
        nm = ne[1] * ne[2];
        mask = hreal(nm, -2, 2);
        mst[0] = 0, mst[1] = ne[2], mst[2] = 1;
    }
    /* reference: every slice along axis */
    double *y = hdbl(n);
    int64_t idx[VC_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unflatten(nd, ne, i, idx);
        if (idx[axis] != 0) continue;
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < ne[axis]; j++) {
            idx[axis] = j;
            double v = x[offset_of(nd, idx, st)] + (mask ? mask[offset_of(nd, idx, mst)] : 0);
            y[offset_of(nd, idx, st)] = v;
            if (v > mx) mx = v;
        }
        for (int64_t j = 0; j < ne[axis]; j++) {
            idx[axis] = j;
            if (mx > -INFINITY) s += exp(y[offset_of(nd, idx, st)] - mx);
        }
        for (int64_t j = 0; j < ne[axis]; j++) {
            idx[axis] = j;
            double *o = &y[offset_of(nd, idx, st)];
            if (mx == -INFINITY) *o = take_log ? -INFINITY : 0;
            else *o = take_log ? *o - mx - log(s) : exp(*o - mx) / s;
        }
    }
    if (want(VC_K_SOFTMAX_FWD))
        FOR_BACKENDS(be, VC_K_SOFTMAX_FWD) {
            vc_real *dx = up(be, x, n), *dm = up(be, mask, nm), *dy = dnan(be, n);
#define K_ be->softmax_fwd(dx, dy, nd, ne, axis, dm, mst, take_log)
            K_;
            expect(be, 0, VC_K_SOFTMAX_FWD, desc, dy, y, n, TOL);
            TIME(be, VC_K_SOFTMAX_FWD, desc, K_);
#undef K_
        }
    if (want(VC_K_SOFTMAX_BWD)) {
        /* softmax: gx = y (g - sum g y); log-softmax: gx = g - e^y sum g; a
         * masked (-inf) entry passes nothing */
        vc_real *yr = hround(y, n), *g = hreal(n, -1, 1), *gx0 = hreal(n, -1, 1);
        double *gx = hdbl(n);
        for (int64_t i = 0; i < n; i++) {
            unflatten(nd, ne, i, idx);
            if (idx[axis] != 0) continue;
            double s = 0;
            for (int64_t j = 0; j < ne[axis]; j++) {
                idx[axis] = j;
                int64_t o = offset_of(nd, idx, st);
                s += take_log ? (yr[o] == -INFINITY ? 0 : g[o]) : (double)g[o] * yr[o];
            }
            for (int64_t j = 0; j < ne[axis]; j++) {
                idx[axis] = j;
                int64_t o = offset_of(nd, idx, st);
                double d = take_log ? (yr[o] == -INFINITY ? 0 : g[o] - exp((double)yr[o]) * s)
                                    : yr[o] * (g[o] - s);
                gx[o] = beta * gx0[o] + d;
            }
        }
        FOR_BACKENDS(be, VC_K_SOFTMAX_BWD) {
            vc_real *dy = up(be, yr, n), *dg = up(be, g, n), *dgx = dgrad(be, gx0, n, beta);
#define K_ be->softmax_bwd(dy, dg, dgx, beta, nd, ne, axis, take_log)
            K_;
            expect(be, 0, VC_K_SOFTMAX_BWD, desc, dgx, gx, n, TOL);
            TIME(be, VC_K_SOFTMAX_BWD, desc, K_);
#undef K_
        }
    }
    case_end();
}

static void check_xent(int64_t rows, int64_t cols, int axis, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "[%lld,%lld] axis %d beta=%g", (long long)rows, (long long)cols, axis, (double)beta);
    int64_t S = axis == 1 ? rows : cols, C = axis == 1 ? cols : rows;
    int64_t ss = axis == 1 ? cols : 1, cs = axis == 1 ? 1 : cols;
    vc_real *l = hreal(rows * cols, -4, 4);
    int64_t *tg = hint(S);
    for (int64_t s = 0; s < S; s++) tg[s] = (s * 7 + 3) % C;
    double *lse = hdbl(S), loss = 0;
    for (int64_t s = 0; s < S; s++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t c = 0; c < C; c++) mx = fmax(mx, l[s * ss + c * cs]);
        for (int64_t c = 0; c < C; c++) sum += exp(l[s * ss + c * cs] - mx);
        lse[s] = mx + log(sum);
        loss += lse[s] - l[s * ss + tg[s] * cs];
    }
    loss /= (double)S;
    if (want(VC_K_XENT_FWD))
        FOR_BACKENDS(be, VC_K_XENT_FWD) {
            vc_real *dl = up(be, l, rows * cols), *dlse = dnan(be, S), *dloss = dnan(be, 1);
            int64_t *dt = upi(be, tg, S);
#define K_ be->xent_fwd(dl, rows, cols, axis, dt, dlse, dloss)
            K_;
            expect(be, 0, VC_K_XENT_FWD, desc, dlse, lse, S, TOL);
            expect(be, 1, VC_K_XENT_FWD, desc, dloss, &loss, 1, TOL);
            TIME(be, VC_K_XENT_FWD, desc, K_);
#undef K_
        }
    if (want(VC_K_XENT_BWD)) {
        vc_real *lr = hround(lse, S), gloss = (vc_real)0.7, *gl0 = hreal(rows * cols, -1, 1);
        double *gl = hdbl(rows * cols);
        for (int64_t s = 0; s < S; s++)
            for (int64_t c = 0; c < C; c++) {
                int64_t o = s * ss + c * cs;
                gl[o] = beta * gl0[o] + gloss / (double)S * (exp(l[o] - (double)lr[s]) - (c == tg[s]));
            }
        FOR_BACKENDS(be, VC_K_XENT_BWD) {
            vc_real *dl = up(be, l, rows * cols), *dlse = up(be, lr, S), *dgloss = up(be, &gloss, 1);
            vc_real *dgl = dgrad(be, gl0, rows * cols, beta);
            int64_t *dt = upi(be, tg, S);
#define K_ be->xent_bwd(dl, rows, cols, axis, dt, dlse, dgloss, dgl, beta)
            K_;
            expect(be, 0, VC_K_XENT_BWD, desc, dgl, gl, rows * cols, TOL);
            TIME(be, VC_K_XENT_BWD, desc, K_);
#undef K_
        }
    }
    case_end();
}

START_TEST(test_softmax_and_cross_entropy_match_naive_loops_with_masks) {
    const int64_t a[3] = {2, 3, 17}, kp[3] = {3, 5, 17}, causal[3] = {2, 17, 17}, big[3] = {4, 33, 129};
    for (int lg = 0; lg < 2; lg++)
        for (int b = 0; b < 2; b++) {
            for (int axis = 0; axis < 3; axis++) check_softmax(3, a, axis, 0, lg, b);
            check_softmax(3, kp, 2, 1, lg, b);
            check_softmax(3, causal, 2, 2, lg, b);
            check_softmax(3, a, 2, 3, lg, b);
            check_softmax(3, a, 1, 3, lg, b);
            check_softmax(3, big, 2, 2, lg, b);
        }
    const int64_t xs[][2] = {{1, 1}, {3, 17}, {17, 3}, {33, 33}};
    for (int s = 0; s < 4; s++)
        for (int axis = 0; axis < 2; axis++) {
            check_xent(xs[s][0], xs[s][1], axis, 0);
            check_xent(xs[s][0], xs[s][1], axis, 1);
        }
    report(VC_K_SOFTMAX_FWD, VC_K_XENT_BWD);
}
END_TEST

/* ---- attention ---- */

/* Layout of one attention case: Q, K, V buffers (possibly one packed buffer)
 * and where each head region sits. */
typedef struct {
    vc_attn_dims d;
    int64_t nq, nk, nv;   /* buffer sizes in elements */
    bool packed;          /* Q, K and V are one buffer (self-attention) */
} attn_case;

static bool ref_masked(const vc_attn_dims *d, int64_t b, int64_t i, int64_t j) {
    return (d->klen && j >= d->klen[b]) || (d->causal && j > i);
}

static void ref_attention_fwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, double *P,
                              double *O) {
    int64_t H = d->H, Tq = d->Tq, Tk = d->Tk, dh = d->dh;
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                double *p = P + ((b * H + h) * Tq + i) * Tk, mx = -INFINITY, s = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    double dot = 0;
                    for (int64_t c = 0; c < dh; c++)
                        dot += (double)Q[b * d->qbs + i * d->ldq + d->qoff + h * dh + c] *
                               K[b * d->kbs + j * d->ldk + d->koff + h * dh + c];
                    p[j] = ref_masked(d, b, i, j) ? -INFINITY : dot * d->scale;
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j < Tk; j++) s += mx == -INFINITY ? 0 : exp(p[j] - mx);
                for (int64_t j = 0; j < Tk; j++) p[j] = mx == -INFINITY ? 0 : exp(p[j] - mx) / s;
                for (int64_t c = 0; c < dh; c++) {
                    double o = 0;
                    for (int64_t j = 0; j < Tk; j++) o += p[j] * V[b * d->vbs + j * d->ldv + d->voff + h * dh + c];
                    O[(b * Tq + i) * H * dh + h * dh + c] = o;
                }
            }
}

/* Adds the gradients of Q, K, V (through P) into gq, gk, gv. */
static void ref_attention_bwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V,
                              const vc_real *P, const vc_real *dO, double *gq, double *gk, double *gv) {
    int64_t H = d->H, Tq = d->Tq, Tk = d->Tk, dh = d->dh;
    double *dp = hdbl(Tk);
    for (int64_t b = 0; b < d->B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const vc_real *p = P + ((b * H + h) * Tq + i) * Tk, *go = dO + (b * Tq + i) * H * dh + h * dh;
                double dot = 0;
                for (int64_t j = 0; j < Tk; j++) {
                    dp[j] = 0;
                    for (int64_t c = 0; c < dh; c++)
                        dp[j] += (double)go[c] * V[b * d->vbs + j * d->ldv + d->voff + h * dh + c];
                    dot += dp[j] * p[j];
                }
                for (int64_t j = 0; j < Tk; j++) {
                    double ds = p[j] * (dp[j] - dot) * d->scale;
                    for (int64_t c = 0; c < dh; c++) {
                        int64_t qo = b * d->qbs + i * d->ldq + d->qoff + h * dh + c;
                        int64_t ko = b * d->kbs + j * d->ldk + d->koff + h * dh + c;
                        int64_t vo = b * d->vbs + j * d->ldv + d->voff + h * dh + c;
                        gq[qo] += ds * K[ko];
                        gk[ko] += ds * Q[qo];
                        gv[vo] += (double)p[j] * go[c];
                    }
                }
            }
}

/* Initial gradient buffer of n elements for accumulate flag beta: outside the
 * head regions (marked in region[]) a kernel never writes; inside, beta 0
 * means garbage (NaN). want gets the part the kernel must keep. */
static vc_real *grad_init(int64_t n, const bool *region, vc_real beta, double *want_v) {
    vc_real *g = hreal(n, -1, 1);
    for (int64_t i = 0; i < n; i++) {
        if (region[i] && beta == 0) g[i] = (vc_real)NAN;
        want_v[i] = region[i] && beta == 0 ? 0 : g[i];
    }
    return g;
}

static void mark_regions(const vc_attn_dims *d, int64_t rows_per_batch, int64_t B, int64_t bs, int64_t ld,
                         int64_t off, bool *region) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < rows_per_batch; i++)
            for (int64_t c = 0; c < d->H * d->dh; c++) region[b * bs + i * ld + off + c] = true;
}

/* shared_q: learned queries [1, Tq, ldq] broadcast over the batch. */
static void check_attention(int64_t B, int64_t H, int64_t dh, int64_t Tq, int64_t Tk, bool packed, bool shared_q,
                            const int64_t *klen, bool causal, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "B%lld H%lld dh%lld Tq%lld Tk%lld%s%s%s%s beta=%g", (long long)B, (long long)H,
             (long long)dh, (long long)Tq, (long long)Tk, packed ? " packed" : "", shared_q ? " shared q" : "",
             klen ? " key lengths" : "", causal ? " causal" : "", (double)beta);
    int64_t D = H * dh;
    vc_attn_dims d = {.B = B, .H = H, .Tq = Tq, .Tk = Tk, .dh = dh, .causal = causal,
                      .scale = (vc_real)(1 / sqrt((double)dh))};
    int64_t nq, nk, nv;
    if (packed) { /* one [B, T, 3D] buffer, regions tiling it */
        d.ldq = d.ldk = d.ldv = 3 * D;
        d.qoff = 0, d.koff = D, d.voff = 2 * D;
        d.qbs = d.kbs = d.vbs = Tk * 3 * D;
        nq = nk = nv = B * Tk * 3 * D;
    } else { /* separate buffers with 1..3 unused columns around the heads */
        d.ldq = D + 3, d.ldk = D + 1, d.ldv = D + 2;
        d.qoff = 2, d.koff = 1, d.voff = 0;
        d.qbs = shared_q ? 0 : Tq * d.ldq, d.kbs = Tk * d.ldk, d.vbs = Tk * d.ldv;
        nq = (shared_q ? 1 : B) * Tq * d.ldq, nk = B * Tk * d.ldk, nv = B * Tk * d.ldv;
    }
    vc_real *Q = hreal(nq, -1, 1), *K = packed ? Q : hreal(nk, -1, 1), *V = packed ? Q : hreal(nv, -1, 1);
    int64_t np = B * H * Tq * Tk, no = B * Tq * D;
    double *P = hdbl(np), *O = hdbl(no);
    vc_attn_dims dref = d;
    dref.klen = klen;
    ref_attention_fwd(&dref, Q, K, V, P, O);
    if (want(VC_K_ATTENTION_FWD))
        FOR_BACKENDS(be, VC_K_ATTENTION_FWD) {
            vc_real *dQ = up(be, Q, nq), *dK = packed ? dQ : up(be, K, nk), *dV = packed ? dQ : up(be, V, nv);
            vc_real *dP = dnan(be, np), *dO = dnan(be, no);
            vc_attn_dims dd = d;
            dd.klen = upi(be, klen, B);
#define K_ be->attention_fwd(&dd, dQ, dK, dV, dP, dO)
            K_;
            expect(be, 0, VC_K_ATTENTION_FWD, desc, dP, P, np, TOL);
            expect(be, 1, VC_K_ATTENTION_FWD, desc, dO, O, no, TOL);
            TIME(be, VC_K_ATTENTION_FWD, desc, K_);
#undef K_
        }
    if (want(VC_K_ATTENTION_BWD)) {
        /* a broadcast (shared) operand's gradient sums over the batch: it is
         * always accumulated (beta 1) */
        vc_real bq = shared_q ? 1 : beta, bk = beta, bv = beta;
        vc_real *Pr = hround(P, np), *go = hreal(no, -1, 1);
        bool *rq = track(NULL, calloc((size_t)nq, 1)), *rk = track(NULL, calloc((size_t)nk, 1)),
             *rv = track(NULL, calloc((size_t)nv, 1));
        mark_regions(&d, Tq, shared_q ? 1 : B, d.qbs, d.ldq, d.qoff, rq);
        mark_regions(&d, Tk, B, d.kbs, d.ldk, d.koff, packed ? rq : rk);
        mark_regions(&d, Tk, B, d.vbs, d.ldv, d.voff, packed ? rq : rv);
        double *wq = hdbl(nq), *wk = packed ? wq : hdbl(nk), *wv = packed ? wq : hdbl(nv);
        vc_real *gq0 = grad_init(nq, rq, bq, wq);
        vc_real *gk0 = packed ? gq0 : grad_init(nk, rk, bk, wk), *gv0 = packed ? gq0 : grad_init(nv, rv, bv, wv);
        ref_attention_bwd(&dref, Q, K, V, Pr, go, wq, wk, wv);
        FOR_BACKENDS(be, VC_K_ATTENTION_BWD) {
            vc_real *dQ = up(be, Q, nq), *dK = packed ? dQ : up(be, K, nk), *dV = packed ? dQ : up(be, V, nv);
            vc_real *dP = up(be, Pr, np), *dgo = up(be, go, no);
            vc_real *gq = up(be, gq0, nq), *gk = packed ? gq : up(be, gk0, nk), *gv = packed ? gq : up(be, gv0, nv);
            vc_attn_dims dd = d;
            dd.klen = upi(be, klen, B);
            void *scratch = dalloc(be, be->scratch_bytes(VC_K_ATTENTION_BWD, &dd));
#define K_ be->attention_bwd(&dd, dQ, dK, dV, dP, dgo, gq, bq, gk, bk, gv, bv, scratch)
            K_;
            expect(be, 0, VC_K_ATTENTION_BWD, desc, gq, wq, nq, TOL);
            if (!packed) {
                expect(be, 1, VC_K_ATTENTION_BWD, desc, gk, wk, nk, TOL);
                expect(be, 2, VC_K_ATTENTION_BWD, desc, gv, wv, nv, TOL);
            }
            TIME(be, VC_K_ATTENTION_BWD, desc, K_);
#undef K_
        }
    }
    case_end();
}

START_TEST(test_attention_matches_naive_loops_with_padding_and_causal_masks) {
    const int64_t len2[2] = {3, 0}, len3[3] = {17, 1, 9};
    for (int b = 0; b < 2; b++) {
        check_attention(2, 3, 4, 5, 5, true, false, NULL, false, b);
        check_attention(2, 3, 4, 5, 5, true, false, len2, false, b);
        check_attention(2, 3, 4, 5, 5, true, false, NULL, true, b);
        check_attention(3, 2, 5, 17, 17, true, false, len3, true, b);
        check_attention(2, 1, 3, 3, 7, false, false, len2, false, b);
        check_attention(3, 2, 5, 1, 17, false, false, len3, false, b);
        check_attention(2, 3, 4, 3, 7, false, true, len2, false, b);
        check_attention(3, 2, 5, 1, 17, false, true, len3, false, b); /* shared q, more batch entries than heads */
        check_attention(1, 1, 1, 1, 1, false, false, NULL, false, b);
        check_attention(3, 4, 8, 33, 33, true, false, len3, true, b);
    }
    report(VC_K_ATTENTION_FWD, VC_K_ATTENTION_BWD);
}
END_TEST

/* ---- lstm ---- */

static double sigm(double x) { return 1 / (1 + exp(-x)); }

static void ref_lstm_fwd(const vc_lstm_dims *d, const vc_real *x, const vc_real *wih, const vc_real *whh,
                         const vc_real *bias, double *gates, double *c, double *h) {
    int64_t B = d->B, T = d->T, D = d->D, H = d->H, G = 4 * H;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            double *a = gates + (b * T + t) * G, *ct = c + (b * T + t) * H, *ht = h + (b * T + t) * H;
            if (d->len && t >= d->len[b]) { /* frozen state, zero output and gates */
                for (int64_t k = 0; k < G; k++) a[k] = 0;
                for (int64_t j = 0; j < H; j++) {
                    ct[j] = t > 0 ? ct[j - H] : 0;
                    ht[j] = 0;
                }
                continue;
            }
            for (int64_t k = 0; k < G; k++) {
                double s = bias[k];
                for (int64_t i = 0; i < D; i++) s += (double)x[(b * T + t) * D + i] * wih[k * D + i];
                if (t > 0)
                    for (int64_t i = 0; i < H; i++) s += ht[i - H] * whh[k * H + i];
                a[k] = s;
            }
            for (int64_t j = 0; j < H; j++) {
                double ig = sigm(a[j]), fg = sigm(a[H + j]), gg = tanh(a[2 * H + j]), og = sigm(a[3 * H + j]);
                a[j] = ig, a[H + j] = fg, a[2 * H + j] = gg, a[3 * H + j] = og;
                ct[j] = ig * gg + (t > 0 ? fg * ct[j - H] : 0);
                ht[j] = og * tanh(ct[j]);
            }
        }
}

/* Backpropagation through time from the saved gates and states. */
static void ref_lstm_bwd(const vc_lstm_dims *d, const vc_real *gates, const vc_real *c, const vc_real *whh,
                         const vc_real *dh, double *dA) {
    int64_t B = d->B, T = d->T, H = d->H, G = 4 * H;
    double *dhn = hdbl(B * H), *dcn = hdbl(B * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = 0; b < B; b++) {
            double *da = dA + (b * T + t) * G;
            if (d->len && t >= d->len[b]) {
                for (int64_t k = 0; k < G; k++) da[k] = 0;
                continue;
            }
            const vc_real *a = gates + (b * T + t) * G, *ct = c + (b * T + t) * H;
            for (int64_t j = 0; j < H; j++) {
                double ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j], tc = tanh((double)ct[j]);
                double dhv = dh[(b * T + t) * H + j] + dhn[b * H + j];
                double dc = dhv * og * (1 - tc * tc) + dcn[b * H + j];
                da[j] = dc * gg * ig * (1 - ig);
                da[H + j] = (t > 0 ? dc * ct[j - H] : 0) * fg * (1 - fg);
                da[2 * H + j] = dc * ig * (1 - gg * gg);
                da[3 * H + j] = dhv * tc * og * (1 - og);
                dcn[b * H + j] = dc * fg;
            }
        }
        /* dh carried to step t-1: dA_t w_hh */
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                double s = 0;
                for (int64_t k = 0; k < G; k++) s += dA[(b * T + t) * G + k] * whh[k * H + j];
                dhn[b * H + j] = s;
            }
    }
}

static void check_lstm(int64_t B, int64_t T, int64_t D, int64_t H, const int64_t *len) {
    char desc[160];
    snprintf(desc, sizeof desc, "B%lld T%lld D%lld H%lld%s", (long long)B, (long long)T, (long long)D, (long long)H,
             len ? " lengths" : "");
    int64_t G = 4 * H, R = B * T;
    vc_lstm_dims d = {.B = B, .T = T, .D = D, .H = H, .len = len};
    vc_real *x = hreal(R * D, -1, 1), *wih = hreal(G * D, -0.5, 0.5), *whh = hreal(G * H, -0.5, 0.5),
            *bias = hreal(G, -0.5, 0.5);
    double *gates = hdbl(R * G), *c = hdbl(R * H), *h = hdbl(R * H);
    ref_lstm_fwd(&d, x, wih, whh, bias, gates, c, h);
    if (want(VC_K_LSTM_FWD))
        FOR_BACKENDS(be, VC_K_LSTM_FWD) {
            vc_real *dx = up(be, x, R * D), *dwih = up(be, wih, G * D), *dwhh = up(be, whh, G * H);
            vc_real *db = up(be, bias, G), *dg = dnan(be, R * G), *dc = dnan(be, R * H), *dh = dnan(be, R * H);
            vc_lstm_dims dd = d;
            dd.len = upi(be, len, B);
#define K_ be->lstm_fwd(&dd, dx, dwih, dwhh, db, dg, dc, dh)
            K_;
            expect(be, 0, VC_K_LSTM_FWD, desc, dg, gates, R * G, TOL);
            expect(be, 1, VC_K_LSTM_FWD, desc, dc, c, R * H, TOL);
            expect(be, 2, VC_K_LSTM_FWD, desc, dh, h, R * H, TOL);
            TIME(be, VC_K_LSTM_FWD, desc, K_);
#undef K_
        }
    if (want(VC_K_LSTM_BWD)) {
        vc_real *gr = hround(gates, R * G), *cr = hround(c, R * H), *hr = hround(h, R * H), *gh = hreal(R * H, -1, 1);
        double *dA = hdbl(R * G), *hp = hdbl(R * H);
        ref_lstm_bwd(&d, gr, cr, whh, gh, dA);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 1; t < T; t++)
                for (int64_t j = 0; j < H; j++) hp[(b * T + t) * H + j] = hr[(b * T + t - 1) * H + j];
        for (int with_hp = 0; with_hp < 2; with_hp++)
            FOR_BACKENDS(be, VC_K_LSTM_BWD) {
                vc_real *dg = up(be, gr, R * G), *dc = up(be, cr, R * H), *dh = up(be, hr, R * H);
                vc_real *dwhh = up(be, whh, G * H), *dgh = up(be, gh, R * H);
                vc_real *ddA = dnan(be, R * G), *dhp = with_hp ? dnan(be, R * H) : NULL;
                vc_lstm_dims dd = d;
                dd.len = upi(be, len, B);
                void *scratch = dalloc(be, be->scratch_bytes(VC_K_LSTM_BWD, &dd));
#define K_ be->lstm_bwd(&dd, dg, dc, dh, dwhh, dgh, ddA, dhp, scratch)
                K_;
                expect(be, 0, VC_K_LSTM_BWD, desc, ddA, dA, R * G, TOL);
                if (with_hp) expect(be, 1, VC_K_LSTM_BWD, desc, dhp, hp, R * H, TOL);
                if (with_hp) TIME(be, VC_K_LSTM_BWD, desc, K_);
#undef K_
            }
    }
    case_end();
}

START_TEST(test_lstm_matches_naive_recurrence_with_lengths) {
    const int64_t len3[3] = {5, 2, 0}, len4[4] = {17, 1, 9, 16};
    check_lstm(1, 1, 1, 1, NULL);
    check_lstm(3, 5, 4, 3, NULL);
    check_lstm(3, 5, 4, 3, len3);
    check_lstm(4, 17, 33, 17, len4);
    check_lstm(2, 3, 129, 65, NULL);
    report(VC_K_LSTM_FWD, VC_K_LSTM_BWD);
}
END_TEST

/* ---- unary ---- */

static const char *unop_name(vc_unop op) {
    return (const char *[]){"gelu", "quickgelu", "sigmoid", "tanh", "relu", "exp"}[op];
}

static double ref_unary(vc_unop op, double x) {
    switch (op) {
    case VC_UN_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case VC_UN_QUICKGELU: return x * sigm(1.702 * x);
    case VC_UN_SIGMOID: return sigm(x);
    case VC_UN_TANH: return tanh(x);
    case VC_UN_RELU: return x > 0 ? x : 0;
    case VC_UN_EXP: return exp(x);
    }
    return NAN;
}

static double ref_unary_grad(vc_unop op, double x) {
    switch (op) {
    case VC_UN_GELU: return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    case VC_UN_QUICKGELU: {
        double s = sigm(1.702 * x);
        return s + 1.702 * x * s * (1 - s);
    }
    case VC_UN_SIGMOID: return sigm(x) * (1 - sigm(x));
    case VC_UN_TANH: return 1 - tanh(x) * tanh(x);
    case VC_UN_RELU: return x > 0 ? 1 : 0;
    case VC_UN_EXP: return exp(x);
    }
    return NAN;
}

static void check_unary(vc_unop op, int64_t n) {
    char desc[160];
    snprintf(desc, sizeof desc, "%s n=%lld", unop_name(op), (long long)n);
    vc_real *x = hreal(n, -5, 5), *g = hreal(n, -1, 1), *gx0 = hreal(n, -1, 1);
    double *y = hdbl(n);
    for (int64_t i = 0; i < n; i++) y[i] = ref_unary(op, x[i]);
    vc_real *yr = hround(y, n);
    if (want(VC_K_UNARY_FWD))
        FOR_BACKENDS(be, VC_K_UNARY_FWD) {
            vc_real *dx = up(be, x, n), *dy = dnan(be, n);
#define K_ be->unary_fwd(op, dx, dy, n)
            K_;
            expect(be, 0, VC_K_UNARY_FWD, desc, dy, y, n, TOL);
            TIME(be, VC_K_UNARY_FWD, desc, K_);
#undef K_
        }
#ifndef VC_DOUBLE
    /* the same inputs and, where there is room, NaN, infinities, zeros,
     * huge, tiny and rounding-tie values among them */
    vc_real *x16 = track(NULL, malloc((size_t)n * sizeof(vc_real)));
    memcpy(x16, x, (size_t)n * sizeof(vc_real));
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e30f, 1e-40f, -3e-39f, 1.00390625f,
                             -1.01171875f, 80.0f, -80.0f, 20.0f, -20.0f, 0.5f};
    for (int64_t i = 0; n >= 100 && i < (int64_t)(sizeof special / sizeof special[0]); i++) x16[i * 7] = special[i];
    if (want(VC_K_UNARY_FWD_BF16))
        FOR_BACKENDS(be, VC_K_UNARY_FWD_BF16) {
            vc_real *dx = up(be, x16, n), *dy = dnan(be, n);
            uint16_t *dh = dalloc(be, (size_t)n * 2);
            be->unary_fwd(op, dx, dy, n);
#define K_ be->unary_fwd_bf16(op, dx, dh, n)
            K_;
            check_bf16_of(be, VC_K_UNARY_FWD_BF16, desc, dy, dh, n);
            check_bf16_across(be, VC_K_UNARY_FWD_BF16, desc, dh, dy, n, NULL, 0, 0);
            TIME(be, VC_K_UNARY_FWD_BF16, desc, K_);
#undef K_
        }
#endif
    for (int b = 0; b < 2 && want(VC_K_UNARY_BWD); b++) {
        vc_real beta = (vc_real)b;
        double *gx = hdbl(n);
        /* sigmoid, tanh and exp take f' from the saved output, which the
         * kernels get rounded to float (yr): so does the reference (near
         * saturation 1 - tanh^2 would differ from 1 - yr^2 by the rounding) */
        for (int64_t i = 0; i < n; i++) {
            double yv = yr[i];
            double d = op == VC_UN_SIGMOID ? yv * (1 - yv)
                       : op == VC_UN_TANH  ? 1 - yv * yv
                       : op == VC_UN_EXP   ? yv
                                           : ref_unary_grad(op, x[i]);
            gx[i] = beta * gx0[i] + g[i] * d;
        }
        char d2[256];
        snprintf(d2, sizeof d2, "%s beta=%d", desc, b);
        FOR_BACKENDS(be, VC_K_UNARY_BWD) {
            vc_real *dx = up(be, x, n), *dy = up(be, yr, n), *dg = up(be, g, n), *dgx = dgrad(be, gx0, n, beta);
#define K_ be->unary_bwd(op, dx, dy, dg, dgx, beta, n)
            K_;
            expect(be, 0, VC_K_UNARY_BWD, d2, dgx, gx, n, TOL);
            TIME(be, VC_K_UNARY_BWD, d2, K_);
#undef K_
        }
    }
    if ((op == VC_UN_GELU || op == VC_UN_QUICKGELU) && want(VC_K_UNARY_BWD_INPLACE)) {
        double *gx = hdbl(n);
        for (int64_t i = 0; i < n; i++) gx[i] = g[i] * ref_unary_grad(op, x[i]);
        FOR_BACKENDS(be, VC_K_UNARY_BWD_INPLACE) {
            vc_real *dx = up(be, x, n), *dgx = up(be, g, n);
            be->unary_bwd_inplace(op, dx, dgx, n);
            expect(be, 0, VC_K_UNARY_BWD_INPLACE, desc, dgx, gx, n, TOL);
            TIME(be, VC_K_UNARY_BWD_INPLACE, desc, be->unary_bwd_inplace(op, dx, dgx, n));
        }
    }
#ifndef VC_DOUBLE
    /* the one-pass forward + in-place backward: the same bits as the two
     * kernels it replaces, on the same backend */
    if ((op == VC_UN_GELU || op == VC_UN_QUICKGELU) && want(VC_K_UNARY_FWD_BWD_BF16))
        FOR_BACKENDS(be, VC_K_UNARY_FWD_BWD_BF16) {
            vc_real *dx = up(be, x, n), *dy = dnan(be, n), *dgx = up(be, g, n), *dgx2 = up(be, g, n);
            uint16_t *dh = dalloc(be, (size_t)n * 2);
            be->unary_fwd(op, dx, dy, n);
            be->unary_bwd_inplace(op, dx, dgx2, n);
            be->unary_fwd_bwd_bf16(op, dx, dh, dgx, NULL, NULL, 1, n);
            check_bf16_of(be, VC_K_UNARY_FWD_BWD_BF16, desc, dy, dh, n);
            check_same(be, VC_K_UNARY_FWD_BWD_BF16, desc, dgx, dgx2, n);
            TIME(be, VC_K_UNARY_FWD_BWD_BF16, desc, be->unary_fwd_bwd_bf16(op, dx, dh, dgx, NULL, NULL, 1, n));
            /* as [rows, cols] with the scaled gradient rounded and its column
             * sums added, in two calls of row blocks (as the fused linear's
             * backward makes them): the same bits again, the sums bias_bwd's
             * (columns wider than a CPU thread's block of 1024 with 2500) */
            const int64_t widths[2] = {n < 64 ? n : 64, 2500};
            for (int k = 0; k < 2 && widths[k] <= n; k++) {
                int64_t cols = widths[k], rows = n / cols, top = rows / 3;
                char d2[200];
                snprintf(d2, sizeof d2, "%s as [%lld, %lld] with g16 and sums", desc, (long long)rows,
                         (long long)cols);
                vc_real *dgx3 = up(be, g, n), *sums = dalloc(be, (size_t)cols * sizeof(vc_real));
                vc_real *want = dalloc(be, (size_t)cols * sizeof(vc_real));
                uint16_t *dh2 = dalloc(be, (size_t)n * 2), *g16 = dalloc(be, (size_t)n * 2);
                be->mem_set(sums, 0, (size_t)cols * sizeof(vc_real));
                be->unary_fwd_bwd_bf16(op, dx, dh2, dgx3, g16, sums, top, cols);
                be->unary_fwd_bwd_bf16(op, dx + top * cols, dh2 + top * cols, dgx3 + top * cols, g16 + top * cols,
                                       sums, rows - top, cols);
                if (is_cpu(be)) { /* rows added in order across calls: bias_bwd over them all */
                    be->bias_bwd(dgx2, want, 0, rows, cols);
                } else { /* per call, as the backend's bias_bwd with beta 1 */
                    be->mem_set(want, 0, (size_t)cols * sizeof(vc_real));
                    be->bias_bwd(dgx2, want, 1, top, cols);
                    be->bias_bwd(dgx2 + top * cols, want, 1, rows - top, cols);
                }
                check_bf16_of(be, VC_K_UNARY_FWD_BWD_BF16, d2, dy, dh2, rows * cols);
                check_same(be, VC_K_UNARY_FWD_BWD_BF16, d2, dgx3, dgx2, rows * cols);
                check_bf16_of(be, VC_K_UNARY_FWD_BWD_BF16, d2, dgx2, g16, rows * cols);
                check_same(be, VC_K_UNARY_FWD_BWD_BF16, d2, sums, want, cols);
            }
        }
#endif
    case_end();
}

static void check_scale_axpby(int64_t n) {
    char desc[160];
    vc_real s = (vc_real)-0.625;
    vc_real *x = hreal(n, -1, 1), *y0 = hreal(n, -1, 1);
    double *y = hdbl(n);
    for (int64_t i = 0; i < n; i++) y[i] = s * (double)x[i];
    if (want(VC_K_SCALE))
        for (int inplace = 0; inplace < 2; inplace++) {
            snprintf(desc, sizeof desc, "n=%lld%s", (long long)n, inplace ? " in place" : "");
            FOR_BACKENDS(be, VC_K_SCALE) {
                vc_real *dx = up(be, x, n), *dy = inplace ? dx : dnan(be, n);
                be->scale(dx, s, dy, n);
                expect(be, 0, VC_K_SCALE, desc, dy, y, n, TOL);
                TIME(be, VC_K_SCALE, desc, be->scale(dx, 1, dy, n));
            }
        }
    for (int b = 0; b < 2 && want(VC_K_AXPBY); b++) {
        for (int64_t i = 0; i < n; i++) y[i] = b * (double)y0[i] + s * (double)x[i];
        snprintf(desc, sizeof desc, "n=%lld beta=%d", (long long)n, b);
        FOR_BACKENDS(be, VC_K_AXPBY) {
            vc_real *dx = up(be, x, n), *dy = dgrad(be, y0, n, (vc_real)b);
#define K_ be->axpby(dx, s, dy, (vc_real)b, n)
            K_;
            expect(be, 0, VC_K_AXPBY, desc, dy, y, n, TOL);
            TIME(be, VC_K_AXPBY, desc, K_);
#undef K_
        }
    }
    case_end();
}

START_TEST(test_unary_kernels_match_libm_in_double) {
    const int64_t ns[] = {1, 17, 4261, 40000};
    for (int op = VC_UN_GELU; op <= VC_UN_EXP; op++)
        for (int i = 0; i < 4; i++) check_unary((vc_unop)op, ns[i]);
    for (int i = 0; i < 4; i++) check_scale_axpby(ns[i]);
    report(VC_K_UNARY_FWD, VC_K_AXPBY);
#ifndef VC_DOUBLE
    report_bf16_across(VC_K_UNARY_FWD_BF16, 1e-3);
#endif
}
END_TEST

/* ---- binary ---- */

static void check_binary(vc_binop op, int na, const int64_t *sa, int nb, const int64_t *sb, vc_real beta) {
    char desc[128], s1[64], s2[64];
    vc_tensor ta, tb;
    ck_assert_int_eq(vc_tensor_wrap(&ta, NULL, VC_F32, na, sa), VC_OK);
    ck_assert_int_eq(vc_tensor_wrap(&tb, NULL, VC_F32, nb, sb), VC_OK);
    snprintf(desc, sizeof desc, "%s %s %s beta=%g", vc_shape_str(&ta, s1, sizeof s1),
             (const char *[]){"+", "-", "*"}[op], vc_shape_str(&tb, s2, sizeof s2), (double)beta);
    vc_bcast p;
    ck_assert_int_eq(vc_bcast_plan(&p, "test", &ta, &tb), VC_OK);
    int64_t nA = vc_numel(&ta), nB = vc_numel(&tb), n = p.n;
    vc_real *a = hreal(nA, -2, 2), *b = hreal(nB, -2, 2);
    /* output index -> operand offsets through the plan's strides */
    int64_t *oa = hint(n), *ob = hint(n), idx[VC_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unflatten(p.nd, p.ne, i, idx);
        oa[i] = offset_of(p.nd, idx, p.sa);
        ob[i] = offset_of(p.nd, idx, p.sb);
    }
    double *y = hdbl(n);
    for (int64_t i = 0; i < n; i++) {
        double u = a[oa[i]], v = b[ob[i]];
        y[i] = op == VC_BIN_ADD ? u + v : op == VC_BIN_SUB ? u - v : u * v;
    }
    if (want(VC_K_BINARY_FWD))
        FOR_BACKENDS(be, VC_K_BINARY_FWD) {
            vc_real *da = up(be, a, nA), *db = up(be, b, nB), *dy = dnan(be, n);
#define K_ be->binary_fwd(op, &p, da, db, dy)
            K_;
            expect(be, 0, VC_K_BINARY_FWD, desc, dy, y, n, TOL);
            TIME(be, VC_K_BINARY_FWD, desc, K_);
#undef K_
        }
    if (want(VC_K_BINARY_BWD)) {
        vc_real *g = hreal(n, -1, 1);
        for (int which = 0; which < 2; which++) {
            int64_t nx = which ? nB : nA;
            vc_real *gx0 = hreal(nx, -1, 1);
            double *gx = hdbl(nx);
            for (int64_t i = 0; i < nx; i++) gx[i] = beta * gx0[i];
            for (int64_t i = 0; i < n; i++) {
                double f = op == VC_BIN_MUL ? (which ? a[oa[i]] : b[ob[i]]) : (op == VC_BIN_SUB && which ? -1 : 1);
                gx[which ? ob[i] : oa[i]] += g[i] * f;
            }
            char d2[256];
            snprintf(d2, sizeof d2, "%s grad %s", desc, which ? "b" : "a");
            FOR_BACKENDS(be, VC_K_BINARY_BWD) {
                vc_real *da = up(be, a, nA), *db = up(be, b, nB), *dg = up(be, g, n), *dgx = dgrad(be, gx0, nx, beta);
#define K_ be->binary_bwd(op, which, &p, dg, da, db, dgx, beta)
                K_;
                expect(be, 0, VC_K_BINARY_BWD, d2, dgx, gx, nx, TOL);
                TIME(be, VC_K_BINARY_BWD, d2, K_);
#undef K_
            }
        }
    }
    case_end();
}

START_TEST(test_binary_kernels_broadcast_like_numpy_both_ways) {
    static const struct {
        int na;
        int64_t a[3];
        int nb;
        int64_t b[3];
    } cases[] = {
        {2, {3, 17}, 2, {3, 17}}, {2, {3, 17}, 1, {17}}, {1, {17}, 2, {3, 17}}, {3, {2, 3, 5}, 2, {3, 1}},
        {3, {2, 1, 5}, 3, {1, 3, 1}}, {2, {4, 1}, 2, {1, 5}}, {1, {1}, 1, {33}}, {2, {300, 129}, 1, {129}},
        {1, {129}, 2, {300, 129}}, {2, {300, 129}, 2, {300, 129}}, {2, {300, 1}, 2, {300, 129}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int op = VC_BIN_ADD; op <= VC_BIN_MUL; op++)
            for (int b = 0; b < 2; b++)
                check_binary((vc_binop)op, cases[c].na, cases[c].a, cases[c].nb, cases[c].b, (vc_real)b);
    report(VC_K_BINARY_FWD, VC_K_BINARY_BWD);
}
END_TEST

/* ---- reduce ---- */

static void check_reduce(int64_t P, int64_t T, int64_t R, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "P%lld T%lld R%lld beta=%g", (long long)P, (long long)T, (long long)R, (double)beta);
    int64_t n = P * T * R;
    vc_real scale = (vc_real)(1.0 / (double)T);
    vc_real *x = hreal(n, -1, 1), *g = hreal(P * R, -1, 1), *gx0 = hreal(n, -1, 1);
    /* weights with zeros (padding, whose x is NaN and must not leak) and a
     * row whose divisor is 0 */
    vc_real *w = hreal(P * T, 0, 1), *div = hreal(P, 0.5, 2);
    for (int64_t p = 0; p < P; p++)
        for (int64_t t = 0; t < T; t++)
            if ((p + t) % 3 == 2) {
                w[p * T + t] = 0;
                for (int64_t r = 0; r < R; r++) x[(p * T + t) * R + r] = (vc_real)NAN;
            }
    if (P > 1) div[1] = 0;
    vc_real *xs = hreal(n, -1, 1); /* NaN-free input for the plain sum */
    double *s = hdbl(P * R), *ws = hdbl(P * R), *gs = hdbl(n), *gw = hdbl(n);
    for (int64_t p = 0; p < P; p++)
        for (int64_t r = 0; r < R; r++) {
            double a = 0, b = 0;
            for (int64_t t = 0; t < T; t++) {
                a += xs[(p * T + t) * R + r];
                if (w[p * T + t] != 0) b += (double)w[p * T + t] * x[(p * T + t) * R + r];
            }
            s[p * R + r] = a * scale;
            ws[p * R + r] = div[p] == 0 ? 0 : b / div[p];
            for (int64_t t = 0; t < T; t++) {
                int64_t o = (p * T + t) * R + r;
                gs[o] = beta * gx0[o] + scale * (double)g[p * R + r];
                gw[o] = beta * gx0[o] + (div[p] == 0 ? 0 : (double)w[p * T + t] / div[p]) * g[p * R + r];
            }
        }
    if (want(VC_K_SUM_FWD))
        FOR_BACKENDS(be, VC_K_SUM_FWD) {
            vc_real *dx = up(be, xs, n), *dy = dnan(be, P * R);
            be->sum_fwd(dx, dy, P, T, R, scale);
            expect(be, 0, VC_K_SUM_FWD, desc, dy, s, P * R, TOL);
            TIME(be, VC_K_SUM_FWD, desc, be->sum_fwd(dx, dy, P, T, R, scale));
        }
    if (want(VC_K_SUM_BWD))
        FOR_BACKENDS(be, VC_K_SUM_BWD) {
            vc_real *dg = up(be, g, P * R), *dgx = dgrad(be, gx0, n, beta);
            be->sum_bwd(dg, dgx, beta, P, T, R, scale);
            expect(be, 0, VC_K_SUM_BWD, desc, dgx, gs, n, TOL);
            TIME(be, VC_K_SUM_BWD, desc, be->sum_bwd(dg, dgx, beta, P, T, R, scale));
        }
    if (want(VC_K_WSUM_FWD))
        FOR_BACKENDS(be, VC_K_WSUM_FWD) {
            vc_real *dx = up(be, x, n), *dw = up(be, w, P * T), *dd = up(be, div, P), *dy = dnan(be, P * R);
            be->wsum_fwd(dx, dw, dd, dy, P, T, R);
            expect(be, 0, VC_K_WSUM_FWD, desc, dy, ws, P * R, TOL);
            TIME(be, VC_K_WSUM_FWD, desc, be->wsum_fwd(dx, dw, dd, dy, P, T, R));
        }
    if (want(VC_K_WSUM_BWD))
        FOR_BACKENDS(be, VC_K_WSUM_BWD) {
            vc_real *dg = up(be, g, P * R), *dw = up(be, w, P * T), *dd = up(be, div, P);
            vc_real *dgx = dgrad(be, gx0, n, beta);
            be->wsum_bwd(dg, dw, dd, dgx, beta, P, T, R);
            expect(be, 0, VC_K_WSUM_BWD, desc, dgx, gw, n, TOL);
            TIME(be, VC_K_WSUM_BWD, desc, be->wsum_bwd(dg, dw, dd, dgx, beta, P, T, R));
        }
    case_end();
}

START_TEST(test_sums_and_masked_sums_match_naive_loops) {
    /* {2, 1031, 3}: few outputs over a long axis (a block per output on cuda) */
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 17, 1}, {2, 5, 33}, {1, 129, 3}, {5, 33, 257}, {2, 1031, 3}};
    for (int s = 0; s < 6; s++)
        for (int b = 0; b < 2; b++) check_reduce(shapes[s][0], shapes[s][1], shapes[s][2], (vc_real)b);
    report(VC_K_SUM_FWD, VC_K_WSUM_BWD);
}
END_TEST

/* ---- bias ---- */

/* terms: 1 bias only, 2 residual only, 3 both, 4 both with the residual in
 * place (res == y), 0 neither. */
static void check_bias(int64_t R, int64_t N, int terms, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "[%lld,%lld] %s", (long long)R, (long long)N,
             (const char *[]){"zero", "bias", "residual", "bias+residual", "bias in place"}[terms]);
    vc_real *b = hreal(N, -1, 1), *res = hreal(R * N, -1, 1);
    bool hb = terms == 1 || terms >= 3, hr = terms >= 2;
    double *y = hdbl(R * N);
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < N; j++) y[r * N + j] = (hb ? b[j] : 0) + (hr ? (double)res[r * N + j] : 0);
    if (want(VC_K_BIAS_FWD) && beta == 0)
        FOR_BACKENDS(be, VC_K_BIAS_FWD) {
            vc_real *db = hb ? up(be, b, N) : NULL, *dres = hr ? up(be, res, R * N) : NULL;
            vc_real *dy = terms == 4 ? dres : dnan(be, R * N);
            be->bias_fwd(dy, db, dres, R, N);
            expect(be, 0, VC_K_BIAS_FWD, desc, dy, y, R * N, TOL);
            if (terms != 4) TIME(be, VC_K_BIAS_FWD, desc, be->bias_fwd(dy, db, dres, R, N));
        }
    if (want(VC_K_BIAS_BWD) && terms == 1) {
        char d2[256];
        snprintf(d2, sizeof d2, "[%lld,%lld] beta=%g", (long long)R, (long long)N, (double)beta);
        vc_real *g = hreal(R * N, -1, 1), *gb0 = hreal(N, -1, 1);
        double *gb = hdbl(N);
        for (int64_t j = 0; j < N; j++) {
            gb[j] = beta * gb0[j];
            for (int64_t r = 0; r < R; r++) gb[j] += g[r * N + j];
        }
        FOR_BACKENDS(be, VC_K_BIAS_BWD) {
            vc_real *dg = up(be, g, R * N), *dgb = dgrad(be, gb0, N, beta);
            be->bias_bwd(dg, dgb, beta, R, N);
            expect(be, 0, VC_K_BIAS_BWD, d2, dgb, gb, N, TOL);
            TIME(be, VC_K_BIAS_BWD, d2, be->bias_bwd(dg, dgb, beta, R, N));
        }
#ifndef VC_DOUBLE
        /* with the rounding in the same pass: bias_bwd's bits, and g's bf16 */
        FOR_BACKENDS(be, VC_K_BIAS_BWD_ROUND_BF16) {
            vc_real *dg = up(be, g, R * N), *dgb = dgrad(be, gb0, N, beta), *dgb2 = dgrad(be, gb0, N, beta);
            uint16_t *dh = dalloc(be, (size_t)(R * N) * 2);
            be->bias_bwd(dg, dgb2, beta, R, N);
            be->bias_bwd_round_bf16(dg, dh, dgb, beta, R, N);
            check_same(be, VC_K_BIAS_BWD_ROUND_BF16, d2, dgb, dgb2, N);
            check_bf16_of(be, VC_K_BIAS_BWD_ROUND_BF16, d2, dg, dh, R * N);
            TIME(be, VC_K_BIAS_BWD_ROUND_BF16, d2, be->bias_bwd_round_bf16(dg, dh, dgb, beta, R, N));
        }
#endif
    }
    case_end();
}

START_TEST(test_bias_rows_and_their_gradient_match_naive_loops) {
    const int64_t shapes[][2] = {{1, 1}, {3, 17}, {129, 65}, {300, 129}};
    for (int s = 0; s < 4; s++)
        for (int terms = 0; terms < 5; terms++)
            for (int b = 0; b < 2; b++) check_bias(shapes[s][0], shapes[s][1], terms, (vc_real)b);
    report(VC_K_BIAS_FWD, VC_K_BIAS_BWD_ROUND_BF16);
}
END_TEST

/* ---- copy ---- */

static void check_strided_copy(int nd, const int64_t *shape, const int *perm, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "%dd perm %d%d%d beta=%g", nd, perm[0], nd > 1 ? perm[1] : 0, nd > 2 ? perm[2] : 0,
             (double)beta);
    /* dst is the contiguous permuted copy of src (shape), as vc_permute does */
    int64_t n = numel_of(nd, shape), sst[VC_MAX_DIMS], ne[VC_MAX_DIMS], vst[VC_MAX_DIMS], dst_st[VC_MAX_DIMS];
    contiguous_strides(nd, shape, sst);
    for (int d = 0; d < nd; d++) {
        ne[d] = shape[perm[d]];
        vst[d] = sst[perm[d]];
    }
    contiguous_strides(nd, ne, dst_st);
    vc_real *x = hreal(n, -1, 1), *y0 = hreal(n, -1, 1);
    double *y = hdbl(n);
    int64_t idx[VC_MAX_DIMS] = {0};
    for (int64_t i = 0; i < n; i++) {
        unflatten(nd, ne, i, idx);
        y[i] = beta * y0[i] + x[offset_of(nd, idx, vst)];
    }
    FOR_BACKENDS(be, VC_K_STRIDED_COPY) {
        vc_real *dx = up(be, x, n), *dy = dgrad(be, y0, n, beta);
        be->strided_copy(dy, dst_st, dx, vst, nd, ne, beta);
        expect(be, 0, VC_K_STRIDED_COPY, desc, dy, y, n, TOL);
        TIME(be, VC_K_STRIDED_COPY, desc, be->strided_copy(dy, dst_st, dx, vst, nd, ne, beta));
    }
    case_end();
}

static void check_slab_copy(int64_t P, int64_t dT, int64_t dstart, int64_t sT, int64_t sstart, int64_t len, int64_t R,
                            vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "P%lld R%lld [%lld..+%lld] of %lld -> at %lld of %lld beta=%g", (long long)P,
             (long long)R, (long long)sstart, (long long)len, (long long)sT, (long long)dstart, (long long)dT,
             (double)beta);
    int64_t nd = P * dT * R, ns = P * sT * R;
    vc_real *src = hreal(ns, -1, 1), *dst0 = hreal(nd, -1, 1);
    double *want_d = hdbl(nd);
    for (int64_t i = 0; i < nd; i++) want_d[i] = dst0[i];
    for (int64_t p = 0; p < P; p++)
        for (int64_t j = 0; j < len; j++)
            for (int64_t r = 0; r < R; r++) {
                int64_t o = (p * dT + dstart + j) * R + r;
                want_d[o] = beta * dst0[o] + src[(p * sT + sstart + j) * R + r];
            }
    FOR_BACKENDS(be, VC_K_SLAB_COPY) {
        vc_real *ds = up(be, src, ns), *dd = up(be, dst0, nd);
        be->slab_copy(dd, dT, dstart, ds, sT, sstart, len, P, R, beta);
        expect(be, 0, VC_K_SLAB_COPY, desc, dd, want_d, nd, TOL);
        TIME(be, VC_K_SLAB_COPY, desc, be->slab_copy(dd, dT, dstart, ds, sT, sstart, len, P, R, beta));
    }
    case_end();
}

static void check_gather(int64_t V, int64_t D, int64_t ld, int64_t N, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "V%lld D%lld ld%lld N%lld beta=%g", (long long)V, (long long)D, (long long)ld,
             (long long)N, (double)beta);
    vc_real *table = hreal(V * ld, -1, 1);
    int64_t *idx = hint(N);
    for (int64_t n = 0; n < N; n++) idx[n] = (n * 5 + 2) % V; /* repeats once N > V */
    if (want(VC_K_GATHER_FWD) && beta == 0) {
        double *out = hdbl(N * D);
        for (int64_t n = 0; n < N; n++)
            for (int64_t d = 0; d < D; d++) out[n * D + d] = table[idx[n] * ld + d];
        FOR_BACKENDS(be, VC_K_GATHER_FWD) {
            vc_real *dt = up(be, table, V * ld), *dout = dnan(be, N * D);
            int64_t *di = upi(be, idx, N);
            be->gather_fwd(dt, ld, di, dout, N, D);
            expect(be, 0, VC_K_GATHER_FWD, desc, dout, out, N * D, TOL);
            TIME(be, VC_K_GATHER_FWD, desc, be->gather_fwd(dt, ld, di, dout, N, D));
        }
    }
    if (want(VC_K_GATHER_BWD)) {
        vc_real *g = hreal(N * D, -1, 1), *gt0 = hreal(V * D, -1, 1);
        double *gt = hdbl(V * D);
        for (int64_t i = 0; i < V * D; i++) gt[i] = beta * gt0[i];
        for (int64_t n = 0; n < N; n++)
            for (int64_t d = 0; d < D; d++) gt[idx[n] * D + d] += g[n * D + d];
        FOR_BACKENDS(be, VC_K_GATHER_BWD) {
            vc_real *dg = up(be, g, N * D), *dgt = dgrad(be, gt0, V * D, beta);
            int64_t *di = upi(be, idx, N);
            be->gather_bwd(dg, di, dgt, beta, N, V, D);
            expect(be, 0, VC_K_GATHER_BWD, desc, dgt, gt, V * D, TOL);
            TIME(be, VC_K_GATHER_BWD, desc, be->gather_bwd(dg, di, dgt, beta, N, V, D));
        }
    }
    case_end();
}

static void check_dropout(int64_t n, vc_real p, vc_real beta) {
    char desc[160];
    snprintf(desc, sizeof desc, "n=%lld p=%g beta=%g", (long long)n, (double)p, (double)beta);
    const uint64_t seed = 1234, stream = 99;
    vc_real *x = hreal(n, -1, 1), *g = hreal(n, -1, 1), *gx0 = hreal(n, -1, 1);
    double *y = hdbl(n), *gx = hdbl(n);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        bool keep = !(vc_hash_uniform(seed, stream, (uint64_t)i) < p);
        kept += keep;
        y[i] = keep ? x[i] / (1 - (double)p) : 0;
        gx[i] = beta * gx0[i] + (keep ? g[i] / (1 - (double)p) : 0);
    }
    if (n >= 1000) /* the mask is random, not all or nothing */
        ck_assert_msg(fabs((double)kept / (double)n - (1 - p)) < 0.05, "dropout kept %lld of %lld", (long long)kept,
                      (long long)n);
    if (want(VC_K_DROPOUT_FWD) && beta == 0)
        FOR_BACKENDS(be, VC_K_DROPOUT_FWD) {
            vc_real *dx = up(be, x, n), *dy = dnan(be, n);
            be->dropout_fwd(dx, dy, n, p, seed, stream);
            expect(be, 0, VC_K_DROPOUT_FWD, desc, dy, y, n, TOL);
            TIME(be, VC_K_DROPOUT_FWD, desc, be->dropout_fwd(dx, dy, n, p, seed, stream));
        }
    if (want(VC_K_DROPOUT_BWD))
        FOR_BACKENDS(be, VC_K_DROPOUT_BWD) {
            vc_real *dg = up(be, g, n), *dgx = dgrad(be, gx0, n, beta);
            be->dropout_bwd(dg, dgx, beta, n, p, seed, stream);
            expect(be, 0, VC_K_DROPOUT_BWD, desc, dgx, gx, n, TOL);
            TIME(be, VC_K_DROPOUT_BWD, desc, be->dropout_bwd(dg, dgx, beta, n, p, seed, stream));
        }
    case_end();
}

START_TEST(test_copy_kernels_move_the_right_elements) {
    for (int b = 0; b < 2; b++) {
        vc_real beta = (vc_real)b;
        if (want(VC_K_STRIDED_COPY)) {
            check_strided_copy(3, (int64_t[]){2, 3, 5}, (int[]){2, 0, 1}, beta);
            check_strided_copy(3, (int64_t[]){2, 3, 5}, (int[]){0, 2, 1}, beta);
            check_strided_copy(2, (int64_t[]){17, 33}, (int[]){1, 0}, beta);
            check_strided_copy(2, (int64_t[]){257, 129}, (int[]){1, 0}, beta);
            check_strided_copy(1, (int64_t[]){17}, (int[]){0}, beta);
            check_strided_copy(0, (int64_t[]){1}, (int[]){0}, beta);
        }
        if (want(VC_K_SLAB_COPY)) {
            check_slab_copy(3, 4, 1, 7, 2, 3, 5, beta);
            check_slab_copy(1, 1, 0, 1, 0, 1, 1, beta);
            check_slab_copy(2, 17, 0, 17, 0, 17, 1, beta);
            check_slab_copy(5, 9, 4, 33, 20, 5, 129, beta);
        }
        check_gather(11, 5, 5, 17, beta);
        check_gather(7, 3, 9, 4, beta);
        check_gather(100, 129, 387, 300, beta);
        check_dropout(17, (vc_real)0.5, beta);
        check_dropout(40000, (vc_real)0.1, beta);
    }
    report(VC_K_STRIDED_COPY, VC_K_DROPOUT_BWD);
}
END_TEST

/* ---- optim ---- */

static void check_adamw(int64_t n, bool decay) {
    char desc[160];
    snprintf(desc, sizeof desc, "n=%lld%s", (long long)n, decay ? " decay" : "");
    double lr = 3e-3, b1 = 0.9, b2 = 0.98, eps = 1e-6, t = 3;
    vc_adamw_args a = {.b1 = (vc_real)b1, .b2 = (vc_real)b2, .step = (vc_real)(lr / (1 - pow(b1, t))),
                       .rbc2 = (vc_real)(1 / sqrt(1 - pow(b2, t))), .eps = (vc_real)eps,
                       .keep = decay ? (vc_real)(1 - lr * 0.1) : 1};
    vc_real *w = hreal(n, -1, 1), *g = hreal(n, -1, 1), *m = hreal(n, -0.1, 0.1), *v = hreal(n, 0, 0.01);
    double *ww = hdbl(n), *wm = hdbl(n), *wv = hdbl(n);
    for (int64_t k = 0; k < n; k++) {
        wm[k] = (double)a.b1 * m[k] + (1 - (double)a.b1) * g[k];
        wv[k] = (double)a.b2 * v[k] + (1 - (double)a.b2) * g[k] * g[k];
        ww[k] = w[k] * (double)a.keep - (double)a.step * wm[k] / (sqrt(wv[k]) * (double)a.rbc2 + (double)a.eps);
    }
    FOR_BACKENDS(be, VC_K_ADAMW) {
        vc_real *dw = up(be, w, n), *dg = up(be, g, n), *dm = up(be, m, n), *dv = up(be, v, n);
        be->adamw(&a, dw, dg, dm, dv, n);
        expect(be, 0, VC_K_ADAMW, desc, dw, ww, n, TOL);
        expect(be, 1, VC_K_ADAMW, desc, dm, wm, n, TOL);
        expect(be, 2, VC_K_ADAMW, desc, dv, wv, n, TOL);
        TIME(be, VC_K_ADAMW, desc, be->adamw(&a, dw, dg, dm, dv, n));
    }
    case_end();
}

static void check_global_norm_and_clip(int64_t n) {
    char desc[160];
    snprintf(desc, sizeof desc, "n=%lld", (long long)n);
    vc_real *x = hreal(n, -1, 1);
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += (double)x[k] * x[k];
    double norm = sqrt(s);
    if (want(VC_K_GLOBAL_NORM))
        FOR_BACKENDS(be, VC_K_GLOBAL_NORM) {
            vc_real *dx = up(be, x, n);
            double *dn = dalloc(be, sizeof(double)), got = NAN;
            void *scratch = dalloc(be, be->scratch_bytes(VC_K_GLOBAL_NORM, &n));
            be->global_norm(dx, n, dn, scratch);
            be->copy_d2h(&got, dn, sizeof got);
            ck_assert_msg(fabs(got - norm) <= 1e-12 * (norm > 1 ? norm : 1), "global_norm %s on %s: %.17g, want %.17g",
                          desc, be->name, got, norm);
            ncases[VC_K_GLOBAL_NORM]++;
            TIME(be, VC_K_GLOBAL_NORM, desc, be->global_norm(dx, n, dn, scratch));
        }
    if (want(VC_K_CLIP_SCALE)) {
        /* over the limit: scaled by max/(norm + 1e-6); under it or NaN: untouched */
        const double limits[3] = {norm / 3, norm * 2, 1};
        const double norms[3] = {norm, norm, NAN};
        for (int c = 0; c < 3; c++) {
            double f = limits[c] / (norms[c] + 1e-6), *want_g = hdbl(n);
            for (int64_t k = 0; k < n; k++) want_g[k] = f < 1 ? x[k] * (double)(vc_real)f : x[k];
            char d2[256];
            snprintf(d2, sizeof d2, "%s max %.3g norm %.3g", desc, limits[c], norms[c]);
            FOR_BACKENDS(be, VC_K_CLIP_SCALE) {
                vc_real *dx = up(be, x, n);
                double *dn = dalloc(be, sizeof(double));
                be->copy_h2d(dn, &norms[c], sizeof(double));
                be->clip_scale(dx, n, limits[c], dn);
                expect(be, 0, VC_K_CLIP_SCALE, d2, dx, want_g, n, TOL);
                TIME(be, VC_K_CLIP_SCALE, d2, be->clip_scale(dx, n, limits[c], dn));
            }
        }
    }
    case_end();
}

START_TEST(test_optimizer_kernels_match_the_adamw_formula_and_the_norm) {
    if (want(VC_K_ADAMW)) {
        const int64_t ns[] = {1, 17, 70001};
        for (int i = 0; i < 3; i++) {
            check_adamw(ns[i], false);
            check_adamw(ns[i], true);
        }
    }
    const int64_t ns[] = {0, 1, 17, 3 * 65536 + 5, 257 * 65536 + 3};
    for (int i = 0; i < 5; i++) check_global_norm_and_clip(ns[i]);
    report(VC_K_ADAMW, VC_K_CLIP_SCALE);
}
END_TEST

/* ---- patch ---- */

START_TEST(test_patch_and_position_embeddings_match_naive_loops) {
    if (want(VC_K_PATCHIFY)) {
        vc_patch_dims d = {.N = 2, .C = 3, .S = 12, .P = 4, .G = 3};
        int64_t ni = d.N * d.C * d.S * d.S, K = d.C * d.P * d.P, np = d.N * d.G * d.G * K;
        vc_real *im = hreal(ni, -1, 1);
        double *want_p = hdbl(np);
        for (int64_t n = 0; n < d.N; n++)
            for (int64_t gy = 0; gy < d.G; gy++)
                for (int64_t gx = 0; gx < d.G; gx++)
                    for (int64_t c = 0; c < d.C; c++)
                        for (int64_t y = 0; y < d.P; y++)
                            for (int64_t x = 0; x < d.P; x++)
                                want_p[((n * d.G + gy) * d.G + gx) * K + (c * d.P + y) * d.P + x] =
                                    im[((n * d.C + c) * d.S + gy * d.P + y) * d.S + gx * d.P + x];
        FOR_BACKENDS(be, VC_K_PATCHIFY) {
            vc_real *dim = up(be, im, ni), *dp = dnan(be, np);
            be->patchify(&d, dim, dp);
            expect(be, 0, VC_K_PATCHIFY, "N2 C3 S12 P4", dp, want_p, np, 0);
            TIME(be, VC_K_PATCHIFY, "N2 C3 S12 P4", be->patchify(&d, dim, dp));
        }
        case_end();
    }
    if (want(VC_K_EMBED_PATCHES)) {
        int64_t N = 3, T = 10, W = 5;
        vc_real *emb = hreal(N * (T - 1) * W, -1, 1), *cls = hreal(W, -1, 1), *pos = hreal(T * W, -1, 1);
        double *x = hdbl(N * T * W);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < T; i++)
                for (int64_t j = 0; j < W; j++)
                    x[(n * T + i) * W + j] = (double)(i ? emb[(n * (T - 1) + i - 1) * W + j] : cls[j]) + pos[i * W + j];
        FOR_BACKENDS(be, VC_K_EMBED_PATCHES) {
            vc_real *de = up(be, emb, N * (T - 1) * W), *dc = up(be, cls, W), *dp = up(be, pos, T * W);
            vc_real *dx = dnan(be, N * T * W);
            be->embed_patches(de, dc, dp, dx, N, T, W);
            expect(be, 0, VC_K_EMBED_PATCHES, "N3 T10 W5", dx, x, N * T * W, TOL);
            TIME(be, VC_K_EMBED_PATCHES, "N3 T10 W5", be->embed_patches(de, dc, dp, dx, N, T, W));
        }
        case_end();
    }
    if (want(VC_K_EMBED_TOKENS)) {
        int64_t V = 11, R = 14, T = 7, W = 5;
        vc_real *tok = hreal(V * W, -1, 1), *pos = hreal(9 * W, -1, 1);
        int64_t *ids = hint(R);
        for (int64_t r = 0; r < R; r++) ids[r] = (r * 3 + 1) % V;
        double *x = hdbl(R * W);
        for (int64_t r = 0; r < R; r++)
            for (int64_t k = 0; k < W; k++) x[r * W + k] = (double)tok[ids[r] * W + k] + pos[(r % T) * W + k];
        FOR_BACKENDS(be, VC_K_EMBED_TOKENS) {
            vc_real *dt = up(be, tok, V * W), *dp = up(be, pos, 9 * W), *dx = dnan(be, R * W);
            int64_t *di = upi(be, ids, R);
            be->embed_tokens(dt, di, dp, dx, R, T, W);
            expect(be, 0, VC_K_EMBED_TOKENS, "R14 T7 W5", dx, x, R * W, TOL);
            TIME(be, VC_K_EMBED_TOKENS, "R14 T7 W5", be->embed_tokens(dt, di, dp, dx, R, T, W));
        }
        case_end();
    }
    report(VC_K_PATCHIFY, VC_K_EMBED_TOKENS);
}
END_TEST

/* ---- score ---- */

START_TEST(test_rank_kernels_count_ties_and_nans_against_the_model) {
    /* scores of 6 queries (rows q0 = 2 .. 7 of a larger set) over 9
     * candidates, with ties and NaNs */
    enum { M = 6, N = 9 };
    const int64_t q0 = 2;
    vc_real S[M * N];
    vc_test_fill_uniform(S, M * N, &rng, -1, 1);
    S[0 * N + 3] = S[0 * N + 5];        /* a tie with a true score */
    S[1 * N + 4] = (vc_real)NAN;        /* a NaN true score */
    S[2 * N + 0] = (vc_real)NAN;        /* a NaN wrong score */
    for (int j = 0; j < N; j++) S[4 * N + j] = (vc_real)0.25; /* all tied */
    const int64_t truth[M] = {5, 4, 1, 8, 0, 6};
    /* candidate j belongs to query owner[j]: queries 3 and 6 own none; the
     * only own score of query 4 is NaN */
    const int64_t owner[N] = {2, 2, 4, 5, 5, 7, 0, 9, 7};
    S[(4 - q0) * N + 2] = (vc_real)NAN;
    int64_t rt[M], nt = 0, ro[M], no = 0;
    for (int i = 0; i < M; i++) {
        const vc_real *s = S + i * N;
        rt[i] = 0;
        for (int j = 0; j < N; j++) {
            rt[i] += !(s[j] < s[truth[i]]);
            nt += isnan(s[j]) != 0;
        }
        int64_t q = q0 + i;
        double best = NAN;
        bool owns = false;
        for (int j = 0; j < N; j++)
            if (owner[j] == q) {
                owns = true;
                if (!isnan(s[j]) && (isnan(best) || s[j] > best)) best = s[j];
            }
        ro[i] = 0;
        if (!owns) continue;
        ro[i] = 1;
        for (int j = 0; j < N; j++) {
            ro[i] += owner[j] != q && !(s[j] < best);
            no += isnan(s[j]) != 0;
        }
    }
    ck_assert_int_eq(rt[4], N);     /* all tied: the worst rank */
    ck_assert_int_eq(rt[1], N);     /* NaN true score: the worst rank */
    ck_assert_int_eq(ro[1], 0);     /* query 3 owns nothing */
    if (want(VC_K_RANK_TRUE))
        FOR_BACKENDS(be, VC_K_RANK_TRUE) {
            vc_real *dS = up(be, S, M * N);
            int64_t *dt = upi(be, truth, M), *dr = dalloc(be, M * sizeof(int64_t)), *dn = dalloc(be, sizeof(int64_t));
            be->rank_true(dS, M, N, dt, dr, dn);
            expect_ints(be, VC_K_RANK_TRUE, "ranks", dr, rt, M);
            expect_ints(be, VC_K_RANK_TRUE, "NaN count", dn, &nt, 1);
            TIME(be, VC_K_RANK_TRUE, "6 x 9", be->rank_true(dS, M, N, dt, dr, dn));
        }
    if (want(VC_K_RANK_OWNED))
        FOR_BACKENDS(be, VC_K_RANK_OWNED) {
            vc_real *dS = up(be, S, M * N);
            int64_t *dow = upi(be, owner, N), *dr = dalloc(be, M * sizeof(int64_t)), *dn = dalloc(be, sizeof(int64_t));
            be->rank_owned(dS, M, N, dow, q0, dr, dn);
            expect_ints(be, VC_K_RANK_OWNED, "ranks", dr, ro, M);
            expect_ints(be, VC_K_RANK_OWNED, "NaN count", dn, &no, 1);
            TIME(be, VC_K_RANK_OWNED, "6 x 9", be->rank_owned(dS, M, N, dow, q0, dr, dn));
        }
    case_end();
    report(VC_K_RANK_TRUE, VC_K_RANK_OWNED);
}
END_TEST

/* ---- run to run ---- */

/* Downloads n floats of d into a new host buffer. */
static vc_real *down(const vc_backend *be, const vc_real *d, int64_t n) {
    vc_real *h = track(NULL, malloc((size_t)(n ? n : 1) * sizeof(vc_real)));
    be->copy_d2h(h, d, (size_t)n * sizeof(vc_real));
    return h;
}

static void same_bits(const vc_backend *be, const char *what, const vc_real *a, const vc_real *b, int64_t n) {
    ck_assert_msg(memcmp(a, b, (size_t)n * sizeof(vc_real)) == 0, "%s on %s: a second run gave other bits", what,
                  be->name);
}

/* The kernels that reduce (rows, columns, the batch of a broadcast
 * operand, the loss) give the same bits when run again on the same input:
 * no float atomics, no order that depends on scheduling. (On the emulator
 * this holds by construction; the real-GPU build of this suite checks it
 * where it matters.) */
START_TEST(test_reducing_kernels_give_the_same_bits_run_to_run) {
    if (vc_backend_count() == 1) printf("SKIP: run-to-run bits (only the CPU backend in this build)\n");
    for (int bi = 1; bi < vc_backend_count(); bi++) {
        const vc_backend *be = vc_backend_at(bi);
        if (!present(be)) continue;
        int64_t N = 300, D = 129;
        if (want(VC_K_LAYERNORM_BWD) && be->supports_op(VC_K_LAYERNORM_BWD)) {
            vc_real *x = up(be, hreal(N * D, -2, 2), N * D), *g = up(be, hreal(D, 0.5, 1.5), D);
            vc_real *m = up(be, hreal(N, -0.1, 0.1), N), *r = up(be, hreal(N, 0.5, 2), N);
            vc_real *gy = up(be, hreal(N * D, -1, 1), N * D);
            vc_real *gx = dnan(be, N * D), *gg = dnan(be, D), *gb = dnan(be, D), *o[2][3];
            for (int k = 0; k < 2; k++) {
                be->layernorm_bwd(x, g, m, r, gy, gx, 0, gg, 0, gb, 0, N, D);
                o[k][0] = down(be, gx, N * D), o[k][1] = down(be, gg, D), o[k][2] = down(be, gb, D);
            }
            same_bits(be, "layernorm_bwd dx", o[0][0], o[1][0], N * D);
            same_bits(be, "layernorm_bwd dgamma", o[0][1], o[1][1], D);
            same_bits(be, "layernorm_bwd dbeta", o[0][2], o[1][2], D);
        }
        if (want(VC_K_SOFTMAX_FWD) && want(VC_K_XENT_FWD) && be->supports_op(VC_K_SOFTMAX_FWD) &&
            be->supports_op(VC_K_XENT_FWD)) {
            const int64_t ne[3] = {4, 33, 129};
            int64_t n = 4 * 33 * 129;
            vc_real *x = up(be, hreal(n, -3, 3), n), *y = dnan(be, n), *lse = dnan(be, 129), *loss = dnan(be, 1);
            int64_t tg[129];
            for (int i = 0; i < 129; i++) tg[i] = (i * 7) % 33;
            int64_t *dt = upi(be, tg, 129);
            for (int axis = 1; axis < 3; axis++) {
                vc_real *o[2];
                for (int k = 0; k < 2; k++) {
                    be->softmax_fwd(x, y, 3, ne, axis, NULL, NULL, false);
                    o[k] = down(be, y, n);
                }
                same_bits(be, axis == 2 ? "softmax_fwd (last axis)" : "softmax_fwd (middle axis)", o[0], o[1], n);
            }
            vc_real *o[2][2];
            for (int k = 0; k < 2; k++) { /* classes down the columns of a [33, 129] block */
                be->xent_fwd(x, 33, 129, 0, dt, lse, loss);
                o[k][0] = down(be, lse, 129), o[k][1] = down(be, loss, 1);
            }
            same_bits(be, "xent_fwd lse", o[0][0], o[1][0], 129);
            same_bits(be, "xent_fwd loss", o[0][1], o[1][1], 1);
        }
        if (want(VC_K_ATTENTION_BWD) && be->supports_op(VC_K_ATTENTION_BWD)) { /* shared queries: batch entries add into one gradient */
            int64_t B = 3, H = 2, dh = 5, Tq = 3, Tk = 17, ld = H * dh, klen[3] = {17, 1, 9};
            vc_attn_dims d = {.B = B, .H = H, .Tq = Tq, .Tk = Tk, .dh = dh, .ldq = ld, .ldk = ld, .ldv = ld,
                              .qbs = 0, .kbs = Tk * ld, .vbs = Tk * ld, .scale = (vc_real)0.4};
            d.klen = upi(be, klen, B);
            int64_t nq = Tq * ld, nk = B * Tk * ld, np = B * H * Tq * Tk, no = B * Tq * ld;
            vc_real *q = up(be, hreal(nq, -1, 1), nq), *k = up(be, hreal(nk, -1, 1), nk), *v = up(be, hreal(nk, -1, 1), nk);
            vc_real *P = dnan(be, np), *O = dnan(be, no), *dO = up(be, hreal(no, -1, 1), no);
            vc_real *gq = dnan(be, nq), *gk = dnan(be, nk), *gv = dnan(be, nk), *o[2][3];
            void *scratch = dalloc(be, be->scratch_bytes(VC_K_ATTENTION_BWD, &d));
            be->attention_fwd(&d, q, k, v, P, O);
            for (int r = 0; r < 2; r++) {
                be->fill(gq, 0, nq);
                be->attention_bwd(&d, q, k, v, P, dO, gq, 1, gk, 0, gv, 0, scratch);
                o[r][0] = down(be, gq, nq), o[r][1] = down(be, gk, nk), o[r][2] = down(be, gv, nk);
            }
            same_bits(be, "attention_bwd dQ (shared)", o[0][0], o[1][0], nq);
            same_bits(be, "attention_bwd dK", o[0][1], o[1][1], nk);
            same_bits(be, "attention_bwd dV", o[0][2], o[1][2], nk);
        }
        if (want(VC_K_LSTM_BWD) && be->supports_op(VC_K_LSTM_FWD) && be->supports_op(VC_K_LSTM_BWD)) {
            int64_t B = 4, T = 17, Dx = 33, H = 17, G = 4 * H, len[4] = {17, 1, 9, 16};
            vc_lstm_dims d = {.B = B, .T = T, .D = Dx, .H = H};
            d.len = upi(be, len, B);
            vc_real *x = up(be, hreal(B * T * Dx, -1, 1), B * T * Dx), *wih = up(be, hreal(G * Dx, -0.5, 0.5), G * Dx);
            vc_real *whh = up(be, hreal(G * H, -0.5, 0.5), G * H), *bias = up(be, hreal(G, -0.5, 0.5), G);
            vc_real *gates = dnan(be, B * T * G), *c = dnan(be, B * T * H), *h = dnan(be, B * T * H);
            vc_real *dh = up(be, hreal(B * T * H, -1, 1), B * T * H), *dA = dnan(be, B * T * G), *o[2];
            void *scratch = dalloc(be, be->scratch_bytes(VC_K_LSTM_BWD, &d));
            be->lstm_fwd(&d, x, wih, whh, bias, gates, c, h);
            for (int r = 0; r < 2; r++) {
                be->lstm_bwd(&d, gates, c, h, whh, dh, dA, NULL, scratch);
                o[r] = down(be, dA, B * T * G);
            }
            same_bits(be, "lstm_bwd dA", o[0], o[1], B * T * G);
        }
        case_end();
    }
}
END_TEST

/* The same for the element-wise families' reductions: a broadcast
 * operand's gradient, sums over an axis (both of the cuda backend's
 * layouts), a bias gradient, a gather's gradient with repeated rows and the
 * global norm. */
START_TEST(test_sums_gathers_and_the_norm_give_the_same_bits_run_to_run) {
    if (vc_backend_count() == 1) printf("SKIP: run-to-run bits (only the CPU backend in this build)\n");
    for (int bi = 1; bi < vc_backend_count(); bi++) {
        const vc_backend *be = vc_backend_at(bi);
        if (!present(be)) continue;
        int64_t N = 300, D = 129;
        vc_real *g = up(be, hreal(N * D, -1, 1), N * D), *o[2];
        if (want(VC_K_BINARY_BWD) && be->supports_op(VC_K_BINARY_BWD)) {
            vc_tensor ta, tb;
            vc_bcast p;
            ck_assert_int_eq(vc_tensor_wrap(&ta, NULL, VC_F32, 2, (int64_t[]){N, D}), VC_OK);
            ck_assert_int_eq(vc_tensor_wrap(&tb, NULL, VC_F32, 1, (int64_t[]){D}), VC_OK);
            ck_assert_int_eq(vc_bcast_plan(&p, "test", &ta, &tb), VC_OK);
            vc_real *a = up(be, hreal(N * D, -1, 1), N * D), *b = up(be, hreal(D, -1, 1), D), *gb = dnan(be, D);
            for (int k = 0; k < 2; k++) {
                be->binary_bwd(VC_BIN_MUL, 1, &p, g, a, b, gb, 0);
                o[k] = down(be, gb, D);
            }
            same_bits(be, "binary_bwd (broadcast operand)", o[0], o[1], D);
        }
        if (want(VC_K_SUM_FWD) && be->supports_op(VC_K_SUM_FWD)) {
            const int64_t sh[2][3] = {{3, 100, 129}, {1, N * D, 1}}; /* many outputs; one output, long axis */
            vc_real *out = dnan(be, 3 * D);
            for (int c = 0; c < 2; c++) {
                for (int k = 0; k < 2; k++) {
                    be->sum_fwd(g, out, sh[c][0], sh[c][1], sh[c][2], (vc_real)0.5);
                    o[k] = down(be, out, sh[c][0] * sh[c][2]);
                }
                same_bits(be, c ? "sum_fwd (one output)" : "sum_fwd", o[0], o[1], sh[c][0] * sh[c][2]);
            }
        }
        if (want(VC_K_BIAS_BWD) && be->supports_op(VC_K_BIAS_BWD)) {
            vc_real *gb = dnan(be, D);
            for (int k = 0; k < 2; k++) {
                be->bias_bwd(g, gb, 0, N, D);
                o[k] = down(be, gb, D);
            }
            same_bits(be, "bias_bwd", o[0], o[1], D);
        }
        if (want(VC_K_GATHER_BWD) && be->supports_op(VC_K_GATHER_BWD)) {
            int64_t V = 7, ix[300];
            for (int64_t n = 0; n < N; n++) ix[n] = (n * 5 + 2) % V;
            int64_t *di = upi(be, ix, N);
            vc_real *gt = dnan(be, V * D);
            for (int k = 0; k < 2; k++) {
                be->gather_bwd(g, di, gt, 0, N, V, D);
                o[k] = down(be, gt, V * D);
            }
            same_bits(be, "gather_bwd (repeated rows)", o[0], o[1], V * D);
        }
        if (want(VC_K_GLOBAL_NORM) && be->supports_op(VC_K_GLOBAL_NORM)) {
            int64_t n = N * D;
            double *dn = dalloc(be, sizeof(double)), got[2];
            void *scratch = dalloc(be, be->scratch_bytes(VC_K_GLOBAL_NORM, &n));
            for (int k = 0; k < 2; k++) {
                be->global_norm(g, n, dn, scratch);
                be->copy_d2h(&got[k], dn, sizeof got[k]);
            }
            ck_assert_msg(memcmp(&got[0], &got[1], sizeof got[0]) == 0, "global_norm on %s: %.17g then %.17g",
                          be->name, got[0], got[1]);
        }
        case_end();
    }
}
END_TEST

/* Every test starts from the same random stream, whether Check forks it
 * (make test) or runs the tests one after another in one process
 * (CK_FORK=no, make test-asan): a test's inputs do not depend on which
 * tests ran before it. */
static void reseed(void) { vc_rng_seed(&rng, 11); }

static Suite *backend_ops_suite(void) {
    const char *t = getenv("VC_OPS_TIME");
    timing = t && *t && strcmp(t, "0") != 0;
    vc_rng_seed(&rng, 11);
    const char *f = getenv("VC_OPS");
    if (f && *f) printf("VC_OPS=%s: only these groups and ops run\n", f);
    printf("backends:");
    for (int i = 0; i < vc_backend_count(); i++) printf(" %s", vc_backend_at(i)->name);
    printf(" (the CPU one against double-precision loops, the others against the CPU one)\n");
    Suite *s = suite_create("backend_ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, reseed, NULL);
    tcase_add_test(tc, test_every_backend_fills_the_entries_it_supports_and_the_cpu_supports_all);
    tcase_add_test(tc, test_cuda_failures_name_the_op_and_the_call_and_tf32_reaches_cublas);
    tcase_add_test(tc, test_gemm_matches_naive_products_for_every_transpose_stride_and_beta);
    tcase_add_test(tc, test_bf16_gemm_matches_products_of_rounded_inputs);
    tcase_add_test(tc, test_f16_gemm_matches_products_of_rounded_inputs);
    tcase_add_test(tc, test_norm_kernels_match_naive_loops_with_and_without_parameters);
    tcase_add_test(tc, test_softmax_and_cross_entropy_match_naive_loops_with_masks);
    tcase_add_test(tc, test_attention_matches_naive_loops_with_padding_and_causal_masks);
    tcase_add_test(tc, test_lstm_matches_naive_recurrence_with_lengths);
    tcase_add_test(tc, test_unary_kernels_match_libm_in_double);
    tcase_add_test(tc, test_binary_kernels_broadcast_like_numpy_both_ways);
    tcase_add_test(tc, test_sums_and_masked_sums_match_naive_loops);
    tcase_add_test(tc, test_bias_rows_and_their_gradient_match_naive_loops);
    tcase_add_test(tc, test_copy_kernels_move_the_right_elements);
    tcase_add_test(tc, test_optimizer_kernels_match_the_adamw_formula_and_the_norm);
    tcase_add_test(tc, test_patch_and_position_embeddings_match_naive_loops);
    tcase_add_test(tc, test_rank_kernels_count_ties_and_nans_against_the_model);
    tcase_add_test(tc, test_reducing_kernels_give_the_same_bits_run_to_run);
    tcase_add_test(tc, test_sums_gathers_and_the_norm_give_the_same_bits_run_to_run);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(backend_ops_suite)
