/* emu_cublaslt.cc: the emulated cuBLASLt matmul (declared in emu_cublaslt.h).
 * Owns: the handle, the matmul and matrix-layout descriptors, the argument
 * checks cuBLASLt makes, and the queued work: C copied to D when they
 * differ, the product through the emulated cuBLAS's arithmetic
 * (vc_emu::gemm_now: bf16 and half operands to float, CBLAS in float), then
 * the bias added to every column (the epilogue, after alpha and beta as on
 * the GPU). Every operand must lie inside one device allocation, else the
 * emulator aborts naming the call (on a GPU: an illegal address).
 * Not here: the stream queue and capture (emu_runtime.cc). */
#include <cstring>

#include "tensor/cuda/emu_cublaslt.h"
#include "tensor/cuda/emu_internal.h"

struct cublasLtContext {
    int unused;
};

struct vc_emu_lt_desc {
    cublasComputeType_t compute;
    cudaDataType scale;
    int32_t pointer_mode = 0;
    int32_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
    uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    const void *bias = nullptr;
    int32_t bias_type = -1;
};

struct vc_emu_lt_layout {
    cudaDataType type;
    uint64_t rows, cols;
    int64_t ld;
};

namespace {

using vc_emu::die;

/* A layout's bytes lie inside one device allocation. */
void check_inside(const char *name, const void *p, const vc_emu_lt_layout *l) {
    if (l->rows == 0 || l->cols == 0) return;
    size_t bytes = ((size_t)(l->cols - 1) * (size_t)l->ld + (size_t)l->rows) * vc_emu::blas_elem_size(l->type);
    if (!p || !vc_emu::in_device_allocation(p, bytes))
        die("cublasLtMatmul: %s (%llu x %llu, ld %lld) spans [%p, +%zu bytes), which is not inside one device "
            "allocation",
            name, (unsigned long long)l->rows, (unsigned long long)l->cols, (long long)l->ld, p, bytes);
}

/* Everything the queued work needs, by value. */
struct Matmul {
    cublasOperation_t ta, tb;
    int m, n, k;
    float alpha, beta;
    const void *A, *B;
    int lda, ldb;
    cudaDataType t;
    const float *C;
    int ldc;
    float *D;
    int ldd;
    const float *bias;
};

void run(const Matmul &g) {
    if (g.beta != 0.0f && g.C != g.D)
        for (int j = 0; j < g.n; j++)
            std::memmove(g.D + (size_t)j * g.ldd, g.C + (size_t)j * g.ldc, (size_t)g.m * sizeof(float));
    vc_emu::gemm_now(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.A, g.lda, g.B, g.ldb, g.t, g.beta, g.D, g.ldd);
    if (g.bias)
        for (int j = 0; j < g.n; j++)
            for (int i = 0; i < g.m; i++) g.D[(size_t)j * g.ldd + i] += g.bias[i];
}

bool is_op(int32_t t) { return t == CUBLAS_OP_N || t == CUBLAS_OP_T; }

}  // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t *lightHandle) {
    if (!lightHandle) return CUBLAS_STATUS_INVALID_VALUE;
    if (vc_emu::device_count() == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
    *lightHandle = new cublasLtContext{0};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle) {
    if (!lightHandle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete lightHandle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc, cublasComputeType_t computeType,
                                        cudaDataType_t scaleType) {
    if (!matmulDesc) return CUBLAS_STATUS_INVALID_VALUE;
    vc_emu_lt_desc *d = new vc_emu_lt_desc;
    d->compute = computeType;
    d->scale = scaleType;
    *matmulDesc = d;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc) {
    delete matmulDesc;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc, cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t sizeInBytes) {
    if (!matmulDesc || !buf) return CUBLAS_STATUS_INVALID_VALUE;
    size_t want = attr == CUBLASLT_MATMUL_DESC_BIAS_POINTER ? sizeof(void *) : 4;
    if (sizeInBytes != want) return CUBLAS_STATUS_INVALID_VALUE;
    int32_t v;
    std::memcpy(&v, buf, 4);
    switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: matmulDesc->compute = (cublasComputeType_t)v; break;
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE: matmulDesc->scale = (cudaDataType)v; break;
    case CUBLASLT_MATMUL_DESC_POINTER_MODE: matmulDesc->pointer_mode = v; break;
    case CUBLASLT_MATMUL_DESC_TRANSA: matmulDesc->ta = v; break;
    case CUBLASLT_MATMUL_DESC_TRANSB: matmulDesc->tb = v; break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE: matmulDesc->epilogue = (uint32_t)v; break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: std::memcpy(&matmulDesc->bias, buf, sizeof(void *)); break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: matmulDesc->bias_type = v; break;
    default: return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
    if (!matLayout) return CUBLAS_STATUS_INVALID_VALUE;
    if (ld < (int64_t)(rows ? rows : 1) || rows > 2147483647u || cols > 2147483647u || ld > 2147483647)
        return CUBLAS_STATUS_INVALID_VALUE;
    *matLayout = new vc_emu_lt_layout{type, rows, cols, ld};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout) {
    delete matLayout;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc, const void *alpha,
                              const void *A, cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
                              const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo, void *workspace,
                              size_t workspaceSizeInBytes, cudaStream_t stream) {
    (void)algo;
    if (!lightHandle) return CUBLAS_STATUS_NOT_INITIALIZED;
    const vc_emu_lt_desc *d = computeDesc;
    if (!d || !Adesc || !Bdesc || !Cdesc || !Ddesc || !alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    if (!is_op(d->ta) || !is_op(d->tb)) return CUBLAS_STATUS_INVALID_VALUE;
    /* what is emulated: 16-bit or float inputs, float32 output, scales and sums */
    cudaDataType t = Adesc->type;
    if (d->compute != CUBLAS_COMPUTE_32F || d->scale != CUDA_R_32F || d->pointer_mode != 0 ||
        Bdesc->type != t || (t != CUDA_R_16BF && t != CUDA_R_16F && t != CUDA_R_32F) || Cdesc->type != CUDA_R_32F ||
        Ddesc->type != CUDA_R_32F || (d->bias_type != -1 && d->bias_type != CUDA_R_32F) ||
        (d->epilogue != CUBLASLT_EPILOGUE_DEFAULT && d->epilogue != CUBLASLT_EPILOGUE_BIAS))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    /* shapes: op(A) m x k, op(B) k x n, C and D m x n */
    uint64_t m = Ddesc->rows, n = Ddesc->cols;
    uint64_t am = d->ta == CUBLAS_OP_N ? Adesc->rows : Adesc->cols, ak = d->ta == CUBLAS_OP_N ? Adesc->cols : Adesc->rows;
    uint64_t bk = d->tb == CUBLAS_OP_N ? Bdesc->rows : Bdesc->cols, bn = d->tb == CUBLAS_OP_N ? Bdesc->cols : Bdesc->rows;
    if (am != m || bn != n || ak != bk || Cdesc->rows != m || Cdesc->cols != n) return CUBLAS_STATUS_INVALID_VALUE;
    if (C == D && Cdesc->ld != Ddesc->ld) return CUBLAS_STATUS_INVALID_VALUE; /* in place needs one layout */
    bool with_bias = d->epilogue == CUBLASLT_EPILOGUE_BIAS;
    if (with_bias && !d->bias) return CUBLAS_STATUS_INVALID_VALUE;
    if (workspaceSizeInBytes && !vc_emu::in_device_allocation(workspace, workspaceSizeInBytes))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    Matmul g{(cublasOperation_t)d->ta, (cublasOperation_t)d->tb, (int)m, (int)n, (int)ak, *(const float *)alpha,
             *(const float *)beta, A, B, (int)Adesc->ld, (int)Bdesc->ld, t, (const float *)C, (int)Cdesc->ld,
             (float *)D, (int)Ddesc->ld, with_bias ? (const float *)d->bias : nullptr};
    if (ak > 0) {
        check_inside("A", A, Adesc);
        check_inside("B", B, Bdesc);
    }
    if (g.beta != 0.0f) check_inside("C", C, Cdesc);
    check_inside("D", D, Ddesc);
    if (with_bias && !vc_emu::in_device_allocation(d->bias, (size_t)m * sizeof(float)))
        die("cublasLtMatmul: the bias (%llu floats at %p) is not inside one device allocation", (unsigned long long)m,
            d->bias);
    cudaError_t e = vc_emu::enqueue(stream, vc_emu::WORK_BLAS, "cublasLtMatmul", [g]() { run(g); });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // extern "C"
