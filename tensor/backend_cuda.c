/* The CUDA backend: device memory through the CUDA runtime, one vclip stream
 * that every kernel, copy and cuBLAS call is queued on, the cuBLAS handle
 * (TF32 switch), and the "cuda" vc_backend table whose kernel entries are
 * the launchers of tensor/cuda/k_*.cu (tensor/cuda/kernels.h). A failure
 * inside an entry (which returns nothing) is kept as the first failure, one
 * line naming the op and the call, for vc_cuda_take_error.
 * Built with -DVC_HAVE_CUDA (real toolkit) or -DVC_HAVE_CUDA -DVC_CUDA_EMU (the CPU
 * emulator, tensor/cuda/README.md); without VC_HAVE_CUDA only the controls of
 * backend_cuda.h exist, and say that this build has no CUDA. */
#include "backend_cuda.h"

#include <stdio.h>
#include <string.h>

#include "backend.h"

#ifndef VC_HAVE_CUDA

bool vc_cuda_built(void) { return false; }
static vc_status no_cuda(const char *what) {
    return vc_fail(VC_ERR_UNSUPPORTED, "%s: this vclip was built without CUDA (no nvcc found, or make CUDA=0)", what);
}
vc_status vc_cuda_select(int device) {
    (void)device;
    return no_cuda("cuda device");
}
vc_status vc_cuda_set_tf32(bool on) {
    (void)on;
    return no_cuda("cuda tf32");
}
vc_status vc_cuda_set_lt(bool on) {
    (void)on;
    return no_cuda("cuda cuBLASLt");
}
bool vc_cuda_tf32(void) { return false; }
vc_status vc_cuda_take_error(void) { return VC_OK; }
void *vc_cuda_stream(void) { return NULL; }

#else /* VC_HAVE_CUDA */

#ifdef VC_DOUBLE
#error "the CUDA backend computes in float: build it without VC_DOUBLE"
#endif

#include "cuda/kernels.h"

#include "dl.h"

#define VC_STR_(x) #x
#define VC_STR(x) VC_STR_(x)

/* cuBLAS, loaded at the first product (dlopen), so that a vclip with CUDA
 * built in starts without mapping cuBLAS's hundreds of megabytes on a
 * machine that never uses the GPU (cudart is linked statically and loads
 * the driver itself on first use). The emulator's functions are linked. */
static struct {
    bool tried, ok;
    char why[200];
    __typeof__(&cublasCreate) create;
    __typeof__(&cublasDestroy) destroy;
    __typeof__(&cublasSetStream) set_stream;
    __typeof__(&cublasSetMathMode) set_math;
    __typeof__(&cublasSetWorkspace) set_workspace;
    __typeof__(&cublasGetStatusString) status_string;
    __typeof__(&cublasSgemm) sgemm;
    __typeof__(&cublasSgemmStridedBatched) sgemm_strided;
    __typeof__(&cublasGemmEx) gemm_ex;
    __typeof__(&cublasGemmStridedBatchedEx) gemm_strided_ex;
} bl;

static bool load_blas(void) {
    if (bl.tried) return bl.ok;
    bl.tried = true;
#ifdef VC_CUDA_EMU
    bl.create = cublasCreate;
    bl.destroy = cublasDestroy;
    bl.set_stream = cublasSetStream;
    bl.set_math = cublasSetMathMode;
    bl.set_workspace = cublasSetWorkspace;
    bl.status_string = cublasGetStatusString;
    bl.sgemm = cublasSgemm;
    bl.sgemm_strided = cublasSgemmStridedBatched;
    bl.gemm_ex = cublasGemmEx;
    bl.gemm_strided_ex = cublasGemmStridedBatchedEx;
#else
    static const char *const names[2] = {"libcublas.so." VC_STR(CUBLAS_VER_MAJOR), "libcublas.so"};
    static const vc_dl_sym syms[] = {
        {"cublasCreate_v2", &bl.create},
        {"cublasDestroy_v2", &bl.destroy},
        {"cublasSetStream_v2", &bl.set_stream},
        {"cublasSetMathMode", &bl.set_math},
        {"cublasSetWorkspace_v2", &bl.set_workspace},
        {"cublasGetStatusString", &bl.status_string},
        {"cublasSgemm_v2", &bl.sgemm},
        {"cublasSgemmStridedBatched", &bl.sgemm_strided},
        {"cublasGemmEx", &bl.gemm_ex},
        {"cublasGemmStridedBatchedEx", &bl.gemm_strided_ex},
    };
    if (vc_dl_load("cuBLAS", names, 2, "", syms, (int)(sizeof syms / sizeof *syms))) {
        snprintf(bl.why, sizeof bl.why, "%s", vc_last_error());
        return false;
    }
#endif
    bl.ok = true;
    return true;
}

cublasStatus_t vc_cu_sgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    return bl.sgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

cublasStatus_t vc_cu_sgemm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const float *alpha, const float *A, int lda, long long sa, const float *B, int ldb,
                                   long long sb, const float *beta, float *C, int ldc, long long sc, int batch) {
    return bl.sgemm_strided(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

cublasStatus_t vc_cu_gemm_ex(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                             const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                             int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t compute,
                             cublasGemmAlgo_t algo) {
    return bl.gemm_ex(h, ta, tb, m, n, k, alpha, A, at, lda, B, bt, ldb, beta, C, ct, ldc, compute, algo);
}

cublasStatus_t vc_cu_gemm_strided_ex(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                     int k, const void *alpha, const void *A, cudaDataType at, int lda, long long sa,
                                     const void *B, cudaDataType bt, int ldb, long long sb, const void *beta, void *C,
                                     cudaDataType ct, int ldc, long long sc, int batch, cublasComputeType_t compute,
                                     cublasGemmAlgo_t algo) {
    return bl.gemm_strided_ex(h, ta, tb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb, beta, C, ct, ldc, sc, batch,
                              compute, algo);
}

/* cuBLASLt, for products with their bias added in the epilogue
 * (vc_cu_lt_matmul): loaded on first use like cuBLAS, and optional: without
 * it (or when it has no kernel for a case) those products add the bias in a
 * pass of their own. The handle belongs to the device it was made on. */
static struct {
    bool tried, ok, off;
    cublasLtHandle_t h;
    __typeof__(&cublasLtCreate) create;
    __typeof__(&cublasLtDestroy) destroy;
    __typeof__(&cublasLtMatmulDescCreate) desc_create;
    __typeof__(&cublasLtMatmulDescDestroy) desc_destroy;
    __typeof__(&cublasLtMatmulDescSetAttribute) desc_set;
    __typeof__(&cublasLtMatrixLayoutCreate) layout_create;
    __typeof__(&cublasLtMatrixLayoutDestroy) layout_destroy;
    __typeof__(&cublasLtMatmul) matmul;
} lt;

static bool load_lt(void) {
    if (lt.tried) return lt.ok;
    lt.tried = true;
#ifdef VC_CUDA_EMU
    lt.create = cublasLtCreate;
    lt.destroy = cublasLtDestroy;
    lt.desc_create = cublasLtMatmulDescCreate;
    lt.desc_destroy = cublasLtMatmulDescDestroy;
    lt.desc_set = cublasLtMatmulDescSetAttribute;
    lt.layout_create = cublasLtMatrixLayoutCreate;
    lt.layout_destroy = cublasLtMatrixLayoutDestroy;
    lt.matmul = cublasLtMatmul;
#else
    static const char *const names[2] = {"libcublasLt.so." VC_STR(CUBLAS_VER_MAJOR), "libcublasLt.so"};
    static const vc_dl_sym syms[] = {
        {"cublasLtCreate", &lt.create},
        {"cublasLtDestroy", &lt.destroy},
        {"cublasLtMatmulDescCreate", &lt.desc_create},
        {"cublasLtMatmulDescDestroy", &lt.desc_destroy},
        {"cublasLtMatmulDescSetAttribute", &lt.desc_set},
        {"cublasLtMatrixLayoutCreate", &lt.layout_create},
        {"cublasLtMatrixLayoutDestroy", &lt.layout_destroy},
        {"cublasLtMatmul", &lt.matmul},
    };
    if (vc_dl_load("cuBLASLt", names, 2, "", syms, (int)(sizeof syms / sizeof *syms))) return false;
#endif
    lt.ok = true;
    return true;
}

#define SCRATCH_SLOTS 2
#define SCRATCH_RETIRED 64
/* The cuBLAS handle's workspace, shared by cuBLASLt's products (same stream). */
#define BLAS_WS_BYTES ((size_t)32 << 20)

static struct {
    bool ready;            /* stream and device chosen */
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;         /* the handle's workspace (so that capturing a graph allocates nothing) */
    bool blas_failed;      /* creating the handle failed once: do not retry per call */
    bool tf32;
    void *scratch[SCRATCH_SLOTS];  /* vc_cu_scratch's buffers */
    size_t scratch_cap[SCRATCH_SLOTS];
    void *retired[SCRATCH_RETIRED]; /* replaced ones, freed with the device */
    int nretired;
    vc_status err;         /* first failure since vc_cuda_take_error */
    char msg[320];
} cu;

bool vc_cuda_built(void) { return true; }

static void record(const char *fmt, const char *op, const char *call, const char *why) {
    if (cu.err != VC_OK) return; /* keep the first: later ones usually follow from it */
    cu.err = VC_ERR_DEVICE;
    snprintf(cu.msg, sizeof cu.msg, fmt, op, call, why);
}

bool vc_cu_check(cudaError_t err, const char *op, const char *call) {
    if (err == cudaSuccess) return true;
    record("cuda %s: %s failed: %s", op, call, cudaGetErrorString(err));
    return false;
}

bool vc_cu_blas_check(cublasStatus_t st, const char *op, const char *call) {
    if (st == CUBLAS_STATUS_SUCCESS) return true;
    char code[32];
    snprintf(code, sizeof code, "cuBLAS status %d", (int)st);
    record("cuda %s: %s failed: %s", op, call, bl.status_string ? bl.status_string(st) : code);
    return false;
}

bool vc_cu_launched(const char *op, const char *kernel) { return vc_cu_check(cudaGetLastError(), op, kernel); }

static vc_status init(int device) {
    if (cu.ready && cu.device == device) return VC_OK;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return vc_fail(VC_ERR_DEVICE, "cuda: no CUDA GPU is present (cudaGetDeviceCount: %s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    if (device < 0 || device >= n)
        return vc_fail(VC_ERR_DEVICE, "cuda: device cuda:%d does not exist (this machine has %d GPU%s: cuda:0..%d)",
                       device, n, n == 1 ? "" : "s", n - 1);
    if (cu.ready) { /* switching devices: the old stream and handle belong to the old one */
        if (cu.blas) bl.destroy(cu.blas);
        if (lt.h) lt.destroy(lt.h);
        lt.h = NULL;
        if (cu.blas_ws) cudaFree(cu.blas_ws);
        if (cu.stream) cudaStreamDestroy(cu.stream);
        for (int i = 0; i < SCRATCH_SLOTS; i++) {
            if (cu.scratch[i]) cudaFree(cu.scratch[i]);
            cu.scratch[i] = NULL;
            cu.scratch_cap[i] = 0;
        }
        for (int i = 0; i < cu.nretired; i++) cudaFree(cu.retired[i]);
        cu.nretired = 0;
        cu.blas = NULL;
        cu.blas_ws = NULL;
        cu.stream = 0;
        cu.blas_failed = false;
    }
    if ((e = cudaSetDevice(device)) != cudaSuccess || (e = cudaStreamCreateWithFlags(&cu.stream, cudaStreamNonBlocking)) != cudaSuccess) {
        cudaGetLastError();
        cu.stream = 0;
        return vc_fail(VC_ERR_DEVICE, "cuda: cannot use device cuda:%d: %s", device, cudaGetErrorString(e));
    }
    cu.device = device;
    cu.ready = true;
    return VC_OK;
}

/* The entries run without a status: a failure to start is recorded. */
static bool ensure(const char *op) {
    if (cu.ready) return true;
    vc_status st = init(0);
    if (st != VC_OK && cu.err == VC_OK) {
        cu.err = st;
        snprintf(cu.msg, sizeof cu.msg, "cuda %s: %s", op, vc_last_error());
    }
    return st == VC_OK;
}

cudaStream_t vc_cu_stream(void) {
    ensure("stream");
    return cu.stream;
}

void *vc_cuda_stream(void) { return (void *)vc_cu_stream(); }

static cublasMath_t math_mode(void) { return cu.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH; }

cublasHandle_t vc_cu_blas(void) {
    if (cu.blas || cu.blas_failed) return cu.blas;
    if (!ensure("cublas")) return NULL;
    if (!load_blas()) {
        record("cuda %s: %s: %s", "gemm", "loading cuBLAS", bl.why);
        cu.blas_failed = true;
        return NULL;
    }
    cublasHandle_t h = NULL;
    /* 32 MiB, what cuBLAS asks for on Hopper; set before the handle's first
     * product so that a captured graph never allocates one */
    const size_t ws = BLAS_WS_BYTES;
    if (!vc_cu_blas_check(bl.create(&h), "gemm", "cublasCreate") ||
        !vc_cu_blas_check(bl.set_stream(h, cu.stream), "gemm", "cublasSetStream") ||
        !vc_cu_blas_check(bl.set_math(h, math_mode()), "gemm", "cublasSetMathMode") ||
        !vc_cu_check(cudaMalloc(&cu.blas_ws, ws), "gemm", "cudaMalloc (cuBLAS workspace)") ||
        !vc_cu_blas_check(bl.set_workspace(h, cu.blas_ws, ws), "gemm", "cublasSetWorkspace")) {
        if (h) bl.destroy(h);
        if (cu.blas_ws) cudaFree(cu.blas_ws);
        cu.blas_ws = NULL;
        cu.blas_failed = true;
        return NULL;
    }
    cu.blas = h;
    return h;
}

cublasStatus_t vc_cu_lt_matmul(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *A, int lda,
                               const void *B, int ldb, cudaDataType t, float beta, const float *C, float *D, int ldd,
                               const float *bias) {
    if (lt.off) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (!vc_cu_blas()) return CUBLAS_STATUS_NOT_INITIALIZED; /* the stream and the workspace */
    if (!load_lt() || (!lt.h && lt.create(&lt.h) != CUBLAS_STATUS_SUCCESS)) {
        lt.h = NULL;
        return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    cublasLtMatmulDesc_t d = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    int32_t opa = ta, opb = tb;
    uint32_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    const float alpha = 1;
    cublasStatus_t st = lt.desc_create(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (st == CUBLAS_STATUS_SUCCESS) st = lt.desc_set(d, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa);
    if (st == CUBLAS_STATUS_SUCCESS) st = lt.desc_set(d, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb);
    if (st == CUBLAS_STATUS_SUCCESS) st = lt.desc_set(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
    if (st == CUBLAS_STATUS_SUCCESS && bias) st = lt.desc_set(d, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = lt.layout_create(&la, t, (uint64_t)(ta == CUBLAS_OP_N ? m : k), (uint64_t)(ta == CUBLAS_OP_N ? k : m), lda);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = lt.layout_create(&lb, t, (uint64_t)(tb == CUBLAS_OP_N ? k : n), (uint64_t)(tb == CUBLAS_OP_N ? n : k), ldb);
    if (st == CUBLAS_STATUS_SUCCESS) st = lt.layout_create(&lc, CUDA_R_32F, (uint64_t)m, (uint64_t)n, ldd);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = lt.matmul(lt.h, d, &alpha, A, la, B, lb, &beta, C ? (const void *)C : (const void *)D, lc, D, lc, NULL,
                       cu.blas_ws, BLAS_WS_BYTES, cu.stream);
    if (lc) lt.layout_destroy(lc);
    if (lb) lt.layout_destroy(lb);
    if (la) lt.layout_destroy(la);
    if (d) lt.desc_destroy(d);
    return st;
}

vc_status vc_cuda_set_lt(bool on) {
    lt.off = !on;
    return VC_OK;
}

vc_status vc_cuda_select(int device) {
    vc_status st = init(device);
    if (st != VC_OK) return st;
    if (!vc_cu_blas()) return vc_cuda_take_error();
    return VC_OK;
}

vc_status vc_cuda_set_tf32(bool on) {
    cu.tf32 = on;
    if (cu.blas && !vc_cu_blas_check(bl.set_math(cu.blas, math_mode()), "tf32", "cublasSetMathMode"))
        return vc_cuda_take_error();
    return VC_OK;
}

bool vc_cuda_tf32(void) { return cu.tf32; }

vc_status vc_cuda_take_error(void) {
    vc_status st = cu.err;
    if (st == VC_OK) return VC_OK;
    cu.err = VC_OK;
    return vc_fail(st, "%s", cu.msg);
}

void *vc_cu_scratch(int slot, size_t bytes, const char *op) {
    if (slot < 0 || slot >= SCRATCH_SLOTS || !ensure(op)) return NULL;
    if (cu.scratch_cap[slot] >= bytes) return cu.scratch[slot];
    if (cu.scratch[slot] && cu.nretired == SCRATCH_RETIRED) {
        record("cuda %s: %s: %s", op, "scratch", "more than 64 scratch buffers replaced");
        return NULL;
    }
    size_t cap = cu.scratch_cap[slot] * 2 > bytes ? cu.scratch_cap[slot] * 2 : bytes;
    cap = (cap + 255) / 256 * 256;
    void *p = NULL;
    if (!vc_cu_check(cudaMalloc(&p, cap), op, "cudaMalloc (scratch)")) return NULL;
    if (cu.scratch[slot]) cu.retired[cu.nretired++] = cu.scratch[slot];
    cu.scratch[slot] = p;
    cu.scratch_cap[slot] = cap;
    return p;
}

/* ---- memory ---- */

static void *cuda_alloc(size_t nbytes) {
    if (!ensure("mem_alloc")) return NULL;
    void *p = NULL;
    size_t cap = (nbytes + 63) / 64 * 64; /* cudaMalloc aligns to 256 bytes */
    if (cudaMalloc(&p, cap ? cap : 64) != cudaSuccess) {
        cudaGetLastError(); /* not sticky: NULL says it (backend.h) */
        return NULL;
    }
    return p;
}

static void cuda_free(void *p) {
    if (p) vc_cu_check(cudaFree(p), "mem_free", "cudaFree");
}

static void cuda_set(void *p, int byte, size_t nbytes) {
    if (nbytes && ensure("mem_set"))
        vc_cu_check(cudaMemsetAsync(p, byte, nbytes, cu.stream), "mem_set", "cudaMemsetAsync");
}

/* Waits for the stream unless it is being captured into a graph (where a
 * wait would end the capture; the copy's order in the stream is enough). */
static void wait_stream(const char *op) {
    enum cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (!vc_cu_check(cudaStreamIsCapturing(cu.stream, &cs), op, "cudaStreamIsCapturing")) return;
    if (cs == cudaStreamCaptureStatusNone) vc_cu_check(cudaStreamSynchronize(cu.stream), op, "cudaStreamSynchronize");
}

/* Host to device: the host buffer may be reused as soon as this returns. */
static void cuda_h2d(void *dst, const void *src, size_t nbytes) {
    if (!nbytes || !ensure("copy_h2d")) return;
    if (vc_cu_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, cu.stream), "copy_h2d",
                    "cudaMemcpyAsync"))
        wait_stream("copy_h2d");
}

/* Device to host: the data is there when this returns. */
static void cuda_d2h(void *dst, const void *src, size_t nbytes) {
    if (!nbytes || !ensure("copy_d2h")) return;
    if (vc_cu_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, cu.stream), "copy_d2h",
                    "cudaMemcpyAsync"))
        wait_stream("copy_d2h");
}

static void cuda_d2d(void *dst, const void *src, size_t nbytes) {
    if (nbytes && ensure("copy_d2d"))
        vc_cu_check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, cu.stream), "copy_d2d",
                    "cudaMemcpyAsync");
}

static void cuda_sync(void) {
    if (ensure("sync")) vc_cu_check(cudaStreamSynchronize(cu.stream), "sync", "cudaStreamSynchronize");
}

/* ---- ops ---- */

static bool cuda_supports(vc_kop op);

static size_t cuda_scratch(vc_kop op, const void *dims) {
    switch (op) {
    case VC_K_ATTENTION_BWD: return vc_cu_attention_bwd_scratch(dims);
    case VC_K_LSTM_BWD: return vc_cu_lstm_bwd_scratch(dims);
    case VC_K_GLOBAL_NORM: return vc_cu_global_norm_scratch(*(const int64_t *)dims);
    default: return 0;
    }
}

const vc_backend vc_backend_cuda = {
    .name = "cuda",
    .device = VC_CUDA,
    .mem_alloc = cuda_alloc,
    .mem_free = cuda_free,
    .mem_set = cuda_set,
    .fill = vc_cu_fill,
    .copy_h2d = cuda_h2d,
    .copy_d2h = cuda_d2h,
    .copy_d2d = cuda_d2d,
    .sync = cuda_sync,
    .supports_op = cuda_supports,
    .scratch_bytes = cuda_scratch,
    /* gemm (k_gemm.cu) */
    .gemm = vc_cu_gemm,
    .gemm_batched = vc_cu_gemm_batched,
    /* 16-bit products and casts (k_gemm_bf16.cu) */
    .gemm_bf16 = vc_cu_gemm_bf16,
    .gemm_batched_bf16 = vc_cu_gemm_batched_bf16,
    .gemm_bias_bf16 = vc_cu_gemm_bias_bf16,
    .round_bf16 = vc_cu_round_bf16,
    .gemm_f16 = vc_cu_gemm_f16,
    .gemm_batched_f16 = vc_cu_gemm_batched_f16,
    .round_f16 = vc_cu_round_f16,
    /* norm (k_norm.cu) */
    .layernorm_fwd = vc_cu_layernorm_fwd,
    .layernorm_fwd_bf16 = vc_cu_layernorm_fwd_bf16,
    .layernorm_bwd = vc_cu_layernorm_bwd,
    .l2norm_fwd = vc_cu_l2norm_fwd,
    .l2norm_bwd = vc_cu_l2norm_bwd,
    /* softmax (k_softmax.cu) */
    .softmax_fwd = vc_cu_softmax_fwd,
    .softmax_bwd = vc_cu_softmax_bwd,
    .xent_fwd = vc_cu_xent_fwd,
    .xent_bwd = vc_cu_xent_bwd,
    /* attention (k_attention.cu) */
    .attention_fwd = vc_cu_attention_fwd,
    .attention_bwd = vc_cu_attention_bwd,
    /* lstm (k_lstm.cu) */
    .lstm_fwd = vc_cu_lstm_fwd,
    .lstm_bwd = vc_cu_lstm_bwd,
    /* unary, binary, reduce, bias, copy, optim, patch, score (k_*.cu) */
    .unary_fwd = vc_cu_unary_fwd,
    .unary_fwd_bf16 = vc_cu_unary_fwd_bf16,
    .unary_fwd_bwd_bf16 = vc_cu_unary_fwd_bwd_bf16,
    .unary_bwd = vc_cu_unary_bwd,
    .unary_bwd_inplace = vc_cu_unary_bwd_inplace,
    .scale = vc_cu_scale,
    .axpby = vc_cu_axpby,
    .binary_fwd = vc_cu_binary_fwd,
    .binary_bwd = vc_cu_binary_bwd,
    .sum_fwd = vc_cu_sum_fwd,
    .sum_bwd = vc_cu_sum_bwd,
    .wsum_fwd = vc_cu_wsum_fwd,
    .wsum_bwd = vc_cu_wsum_bwd,
    .bias_fwd = vc_cu_bias_fwd,
    .bias_bwd = vc_cu_bias_bwd,
    .bias_bwd_round_bf16 = vc_cu_bias_bwd_round_bf16,
    .strided_copy = vc_cu_strided_copy,
    .slab_copy = vc_cu_slab_copy,
    .gather_fwd = vc_cu_gather_fwd,
    .gather_bwd = vc_cu_gather_bwd,
    .dropout_fwd = vc_cu_dropout_fwd,
    .dropout_bwd = vc_cu_dropout_bwd,
    .adamw = vc_cu_adamw,
    .global_norm = vc_cu_global_norm,
    .clip_scale = vc_cu_clip_scale,
    .patchify = vc_cu_patchify,
    .embed_patches = vc_cu_embed_patches,
    .embed_tokens = vc_cu_embed_tokens,
    .rank_true = vc_cu_rank_true,
    .rank_owned = vc_cu_rank_owned,
};

/* Supported = entry filled. */
static bool cuda_supports(vc_kop op) { return vc_backend_fills(&vc_backend_cuda, op); }

#endif /* VC_HAVE_CUDA */
