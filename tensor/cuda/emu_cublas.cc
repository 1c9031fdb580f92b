/* emu_cublas.cc: the emulated cuBLAS (declared in emu_cublas.h) over CBLAS.
 * Owns: handles (stream, math mode, pointer mode), argument checks with
 * cuBLAS's status codes, and the products: every batch entry is one
 * cblas_sgemm in CblasColMajor, after converting bf16/half operands to
 * float and rounding float operands the way the requested precision would
 * (TF32 keeps 10 mantissa bits; truncated here, the larger of the errors a
 * tensor core may make). With beta == 0, C is not read (a NaN there does
 * not spread), as in cuBLAS.
 * Not here: the stream queue and capture (emu_runtime.cc). */
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "tensor/cuda/emu_cublas.h"
#include "tensor/cuda/emu_internal.h"

struct vc_emu_cublas {
    cudaStream_t stream = nullptr;
    cublasMath_t math = CUBLAS_DEFAULT_MATH;
    cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace {

using vc_emu::die;

enum Rounding { ROUND_NONE, ROUND_TF32, ROUND_BF16, ROUND_F16 };

float load(const void *p, cudaDataType t, size_t i) {
    if (t == CUDA_R_32F) return ((const float *)p)[i];
    if (t == CUDA_R_16BF) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return __half2float(((const __half *)p)[i]);
}

void store(void *p, cudaDataType t, size_t i, float v) {
    if (t == CUDA_R_32F)
        ((float *)p)[i] = v;
    else if (t == CUDA_R_16BF)
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16(v);
    else
        ((__half *)p)[i] = __float2half(v);
}

float round_to(float x, Rounding r) {
    switch (r) {
    case ROUND_TF32:
        if (!std::isfinite(x)) return x;
        return __uint_as_float(__float_as_uint(x) & 0xffffe000u);
    case ROUND_BF16: return __bfloat162float(__float2bfloat16(x));
    case ROUND_F16: return __half2float(__float2half(x));
    default: return x;
    }
}

/* One operand as stored: rows x cols, column-major with leading dimension
 * ld, batch entries stride elements apart. */
struct Operand {
    const void *p;
    cudaDataType type;
    int rows, cols, ld;
    long long stride;
};

/* The bytes [lo, hi) every batch entry of x touches, relative to x.p. */
void extent(const Operand &x, int batch, long long *lo, long long *hi) {
    long long last = (long long)(x.cols - 1) * x.ld + x.rows;
    long long span = (long long)(batch - 1) * x.stride;
    *lo = std::min(0LL, span) * (long long)vc_emu::blas_elem_size(x.type);
    *hi = (std::max(0LL, span) + last) * (long long)vc_emu::blas_elem_size(x.type);
}

void check_inside(const char *call, const char *name, const Operand &x, int batch) {
    if (x.rows == 0 || x.cols == 0) return;
    long long lo, hi;
    extent(x, batch, &lo, &hi);
    const char *start = (const char *)x.p + lo;
    if (!x.p || !vc_emu::in_device_allocation(start, (size_t)(hi - lo)))
        die("%s: %s (%d x %d, ld %d, %d batch entries %lld apart) spans [%p, +%lld bytes), which is not inside one "
            "device allocation",
            call, name, x.rows, x.cols, x.ld, batch, x.stride, (const void *)start, hi - lo);
}

/* op's operand as packed floats (ld = rows), rounded. */
void to_float(const Operand &x, long long b, Rounding r, std::vector<float> &out) {
    out.resize((size_t)x.rows * x.cols);
    const char *base = (const char *)x.p + b * x.stride * (long long)vc_emu::blas_elem_size(x.type);
    for (int c = 0; c < x.cols; c++)
        for (int i = 0; i < x.rows; i++)
            out[(size_t)c * x.rows + i] = round_to(load(base, x.type, (size_t)c * x.ld + i), r);
}

struct Gemm {
    const char *call;
    cublasOperation_t ta, tb;
    int m, n, k, batch;
    Operand A, B, C;
    Rounding rounding;
    bool device_scalars;
    float alpha, beta;
    const float *alpha_p, *beta_p;
};

void run_gemm(const Gemm &g) {
    float alpha = g.device_scalars ? *g.alpha_p : g.alpha;
    float beta = g.device_scalars ? *g.beta_p : g.beta;
    CBLAS_TRANSPOSE ta = g.ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    CBLAS_TRANSPOSE tb = g.tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
    std::vector<float> a, b, c;
    size_t ces = vc_emu::blas_elem_size(g.C.type);
    for (long long e = 0; e < g.batch; e++) {
        char *cp = (char *)g.C.p + e * g.C.stride * (long long)ces;
        /* C in float: in place when it is float, else a packed copy */
        float *cf;
        int ldc;
        if (g.C.type == CUDA_R_32F) {
            cf = (float *)cp;
            ldc = g.C.ld;
        } else {
            c.assign((size_t)g.m * g.n, 0.0f);
            if (beta != 0.0f)
                for (int j = 0; j < g.n; j++)
                    for (int i = 0; i < g.m; i++) c[(size_t)j * g.m + i] = load(cp, g.C.type, (size_t)j * g.C.ld + i);
            cf = c.data();
            ldc = g.m;
        }
        if (beta == 0.0f)
            for (int j = 0; j < g.n; j++) std::fill(cf + (size_t)j * ldc, cf + (size_t)j * ldc + g.m, 0.0f);
        if (g.k > 0) {
            const float *ap, *bp;
            int lda, ldb;
            if (g.A.type == CUDA_R_32F && g.rounding == ROUND_NONE) {
                ap = (const float *)g.A.p + e * g.A.stride;
                lda = g.A.ld;
            } else {
                to_float(g.A, e, g.rounding, a);
                ap = a.data();
                lda = g.A.rows;
            }
            if (g.B.type == CUDA_R_32F && g.rounding == ROUND_NONE) {
                bp = (const float *)g.B.p + e * g.B.stride;
                ldb = g.B.ld;
            } else {
                to_float(g.B, e, g.rounding, b);
                bp = b.data();
                ldb = g.B.rows;
            }
            cblas_sgemm(CblasColMajor, ta, tb, g.m, g.n, g.k, alpha, ap, std::max(1, lda), bp, std::max(1, ldb),
                        beta == 0.0f ? 0.0f : beta, cf, ldc);
        } else if (beta != 0.0f && beta != 1.0f) {
            for (int j = 0; j < g.n; j++)
                for (int i = 0; i < g.m; i++) cf[(size_t)j * ldc + i] *= beta;
        }
        if (g.C.type != CUDA_R_32F)
            for (int j = 0; j < g.n; j++)
                for (int i = 0; i < g.m; i++) store(cp, g.C.type, (size_t)j * g.C.ld + i, c[(size_t)j * g.m + i]);
    }
    vc_emu::count_gemms(g.batch);
}

bool is_op(cublasOperation_t t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T || t == CUBLAS_OP_C; }

cublasStatus_t gemm(const char *call, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const void *alpha, const void *A, cudaDataType at, int lda, long long sa, const void *B,
                    cudaDataType bt, int ldb, long long sb, const void *beta, void *C, cudaDataType ct, int ldc,
                    long long sc, int batch, Rounding rounding) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!is_op(ta) || !is_op(tb) || m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    Operand oa{A, at, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda, sa};
    Operand ob{B, bt, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb, sb};
    Operand oc{C, ct, m, n, ldc, sc};
    if (lda < std::max(1, oa.rows) || ldb < std::max(1, ob.rows) || ldc < std::max(1, m))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    Gemm g{call, ta, tb, m, n, k, batch, oa, ob, oc, rounding, h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE, 0, 0,
           (const float *)alpha, (const float *)beta};
    if (g.device_scalars) {
        if (!vc_emu::in_device_allocation(alpha, 4) || !vc_emu::in_device_allocation(beta, 4))
            die("%s: device pointer mode, but alpha %p or beta %p is not device memory", call, alpha, beta);
    } else {
        g.alpha = *(const float *)alpha;
        g.beta = *(const float *)beta;
    }
    if (k > 0) {
        check_inside(call, "A", oa, batch);
        check_inside(call, "B", ob, batch);
    }
    check_inside(call, "C", oc, batch);
    cudaError_t e = vc_emu::enqueue(h->stream, vc_emu::WORK_BLAS, call, [g]() { run_gemm(g); });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

Rounding float_rounding(cublasHandle_t h) {
    return h && h->math == CUBLAS_TF32_TENSOR_OP_MATH ? ROUND_TF32 : ROUND_NONE;
}

/* The rounding a compute type asks for, or -1 when it is not emulated. */
int ex_rounding(cublasHandle_t h, cublasComputeType_t ct) {
    switch (ct) {
    case CUBLAS_COMPUTE_32F: return float_rounding(h);
    case CUBLAS_COMPUTE_32F_PEDANTIC: return ROUND_NONE;
    case CUBLAS_COMPUTE_32F_FAST_TF32: return ROUND_TF32;
    case CUBLAS_COMPUTE_32F_FAST_16BF: return ROUND_BF16;
    case CUBLAS_COMPUTE_32F_FAST_16F: return ROUND_F16;
    default: return -1;
    }
}

bool types_supported(cudaDataType a, cudaDataType b, cudaDataType c) {
    if (a != b) return false;
    if (a == CUDA_R_32F) return c == CUDA_R_32F;
    if (a == CUDA_R_16BF || a == CUDA_R_16F) return c == a || c == CUDA_R_32F;
    return false;
}

}  // namespace

void vc_emu::gemm_now(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const void *A,
                      int lda, const void *B, int ldb, cudaDataType t, float beta, float *C, int ldc) {
    Operand oa{A, t, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda, 0};
    Operand ob{B, t, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb, 0};
    Operand oc{C, CUDA_R_32F, m, n, ldc, 0};
    run_gemm(Gemm{"cublasLtMatmul", ta, tb, m, n, k, 1, oa, ob, oc, ROUND_NONE, false, alpha, beta, nullptr, nullptr});
}

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    if (vc_emu::device_count() == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
    *handle = new vc_emu_cublas;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t *stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!stream) return CUBLAS_STATUS_INVALID_VALUE;
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_PEDANTIC_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t *mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetPointerMode(cublasHandle_t handle, cublasPointerMode_t *mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->pointer_mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && !vc_emu::in_device_allocation(workspace, bytes)) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusName(cublasStatus_t status) {
#define VC_EMU_NAME(name, value, text) \
    case name: return #name;
    switch (status) { VC_EMU_CUBLAS_STATUSES(VC_EMU_NAME) }
#undef VC_EMU_NAME
    return "CUBLAS_STATUS_UNKNOWN";
}

const char *cublasGetStatusString(cublasStatus_t status) {
#define VC_EMU_STR(name, value, text) \
    case name: return text;
    switch (status) { VC_EMU_CUBLAS_STATUSES(VC_EMU_STR) }
#undef VC_EMU_STR
    return "unknown status";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                           const float *beta, float *C, int ldc) {
    return gemm("cublasSgemm", handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B, CUDA_R_32F, ldb, 0,
                beta, C, CUDA_R_32F, ldc, 0, 1, float_rounding(handle));
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float *alpha, const float *A, int lda,
                                         long long int strideA, const float *B, int ldb, long long int strideB,
                                         const float *beta, float *C, int ldc, long long int strideC,
                                         int batchCount) {
    return gemm("cublasSgemmStridedBatched", handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, strideA, B,
                CUDA_R_32F, ldb, strideB, beta, C, CUDA_R_32F, ldc, strideC, batchCount, float_rounding(handle));
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B,
                            cudaDataType Btype, int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta,
                                      C, Ctype, ldc, 0, 1, computeType, algo);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void *alpha, const void *A, cudaDataType Atype,
                                          int lda, long long int strideA, const void *B, cudaDataType Btype, int ldb,
                                          long long int strideB, const void *beta, void *C, cudaDataType Ctype,
                                          int ldc, long long int strideC, int batchCount,
                                          cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    (void)algo;
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    int r = ex_rounding(handle, computeType);
    if (r < 0 || !types_supported(Atype, Btype, Ctype)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (Atype != CUDA_R_32F && r == ROUND_TF32) r = ROUND_NONE; /* half inputs are already narrower */
    return gemm(batchCount == 1 && !strideA && !strideB && !strideC ? "cublasGemmEx" : "cublasGemmStridedBatchedEx",
                handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C, Ctype,
                ldc, strideC, batchCount, (Rounding)r);
}

}  // extern "C"
