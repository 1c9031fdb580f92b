/* kernels.h: the CUDA backend's launchers, one prototype per table entry,
 * grouped by kernel file (tensor/cuda/k_*.cu beside tensor/k_*.c), plus the
 * little context every launcher shares with tensor/backend_cuda.c: the one
 * vclip stream, the cuBLAS handle and how a failure is recorded.
 * Owns: those declarations. Each launcher has exactly the signature of its
 * vc_backend entry (tensor/backend.h: pointers in device memory, shapes and
 * dims structs on the host, beta 0 overwrites / 1 accumulates), queues its
 * work on vc_cu_stream() and returns without waiting. A launch or cuBLAS
 * failure is recorded through vc_cu_check / vc_cu_blas_check (one line
 * naming the op and the call; vc_cuda_take_error in tensor/backend_cuda.h
 * reads it back), as the table's entries return nothing.
 * Not here: the table (backend_cuda.c), device helpers (block_reduce.cuh).
 * Included from C (backend_cuda.c) and from the .cu files (C++). */
#ifndef VC_CUDA_KERNELS_H
#define VC_CUDA_KERNELS_H

#include "tensor/backend.h"
#include "tensor/cuda/cuda_host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- shared context (backend_cuda.c) ---- */

/* The stream every vclip kernel, copy and cuBLAS call goes to (created on
 * first use; 0, the legacy stream, if creating it failed). */
cudaStream_t vc_cu_stream(void);
/* The cuBLAS handle bound to that stream, created on first use with the
 * math mode vc_cuda_set_tf32 chose; NULL after recording why it failed. */
cublasHandle_t vc_cu_blas(void);
/* cuBLAS's products, through the library backend_cuda.c loaded when it made
 * the handle (call them only with a handle from vc_cu_blas). */
cublasStatus_t vc_cu_sgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc);
cublasStatus_t vc_cu_sgemm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const float *alpha, const float *A, int lda, long long sa, const float *B, int ldb,
                                   long long sb, const float *beta, float *C, int ldc, long long sc, int batch);
/* cublasGemmEx / cublasGemmStridedBatchedEx through the same library. */
cublasStatus_t vc_cu_gemm_ex(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                             const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                             int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t compute,
                             cublasGemmAlgo_t algo);
cublasStatus_t vc_cu_gemm_strided_ex(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                     int k, const void *alpha, const void *A, cudaDataType at, int lda, long long sa,
                                     const void *B, cudaDataType bt, int ldb, long long sb, const void *beta, void *C,
                                     cudaDataType ct, int ldc, long long sc, int batch, cublasComputeType_t compute,
                                     cublasGemmAlgo_t algo);
/* D = op(A) op(B) + beta C + bias, column-major m x n (leading dimension
 * ldd for C and D; C NULL: D, read only when beta is not 0), A and B of type
 * t with float32 sums, bias (m floats, may be NULL) added to every column in
 * cuBLASLt's epilogue, on vc_cu_stream(). CUBLAS_STATUS_NOT_SUPPORTED
 * (nothing queued) where cuBLASLt cannot be loaded or has no kernel for the
 * case: the caller then adds the bias itself. */
cublasStatus_t vc_cu_lt_matmul(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *A, int lda,
                               const void *B, int ldb, cudaDataType t, float beta, const float *C, float *D, int ldd,
                               const float *bias);
/* Device scratch buffer `slot` (0 or 1) of at least bytes, kept by the
 * backend between calls and grown as needed (a replaced buffer is kept
 * alive until the device changes, so work queued or captured earlier still
 * reads valid memory); NULL after recording the failure under op. Work that
 * uses a slot must be queued on vc_cu_stream() before the slot is asked for
 * again. */
void *vc_cu_scratch(int slot, size_t bytes, const char *op);
/* Records err (when not cudaSuccess) as "cuda <op>: <call>: <error>";
 * returns whether it was a success. */
bool vc_cu_check(cudaError_t err, const char *op, const char *call);
/* The same for a cuBLAS status. */
bool vc_cu_blas_check(cublasStatus_t st, const char *op, const char *call);
/* After a kernel launch: reads cudaGetLastError into vc_cu_check. */
bool vc_cu_launched(const char *op, const char *kernel);

/* ---- memory (k_mem.cu): the fill entry ---- */
void vc_cu_fill(vc_real *p, vc_real v, int64_t n);

/* ---- gemm (k_gemm.cu) ---- */
void vc_cu_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda,
                const vc_real *B, int64_t ldb, vc_real beta, vc_real *C, int64_t ldc);
void vc_cu_gemm_batched(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha,
                        const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb, int64_t sb,
                        vc_real beta, vc_real *C, int64_t ldc, int64_t sc);
/* The row-major strided batched product the other launchers use:
 * C_i[M,N] = alpha op(A_i) op(B_i) + beta C_i for i < batch (sc may be 0:
 * then the entries run one after another into the same C). Records a
 * failure under op's name; returns whether it was queued. */
bool vc_cu_gemm_rm(const char *op, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha,
                   const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb, int64_t sb, vc_real beta,
                   vc_real *C, int64_t ldc, int64_t sc);

/* ---- 16-bit products and casts (k_gemm_bf16.cu) ---- */
void vc_cu_gemm_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                     int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc);
void vc_cu_gemm_batched_bf16(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                             float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb,
                             int64_t sb, float beta, float *C, int64_t ldc, int64_t sc);
/* C = op(A) op(B) + bias + res (cuBLASLt's bias epilogue where it can) */
void vc_cu_gemm_bias_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A,
                          int64_t lda, const void *B, int64_t ldb, const float *bias, const float *res, float *C,
                          int64_t ldc);
void vc_cu_gemm_f16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                    int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc);
void vc_cu_gemm_batched_f16(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                            float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb,
                            int64_t sb, float beta, float *C, int64_t ldc, int64_t sc);
void vc_cu_round_bf16(const float *x, uint16_t *y, int64_t n);
void vc_cu_round_f16(const float *x, uint16_t *y, int64_t n);
/* The casts back: y [n] = x as float32 (exact). Not table entries: what
 * brings a 16-bit tensor back to float32 on the device. */
void vc_cu_widen_bf16(const uint16_t *x, float *y, int64_t n);
void vc_cu_widen_f16(const uint16_t *x, float *y, int64_t n);

/* ---- norm (k_norm.cu) ---- */
void vc_cu_layernorm_fwd(const vc_real *x, const vc_real *gamma, const vc_real *bta, vc_real *y, vc_real *mean,
                         vc_real *rstd, int64_t N, int64_t D, vc_real eps);
/* layernorm_fwd with y in bf16 (its output rounded; float32 build only) */
void vc_cu_layernorm_fwd_bf16(const float *x, const float *gamma, const float *bta, uint16_t *y, float *mean,
                              float *rstd, int64_t N, int64_t D, float eps, bool yt);
void vc_cu_layernorm_bwd(const vc_real *x, const vc_real *gamma, const vc_real *mean, const vc_real *rstd,
                         const vc_real *g, vc_real *gx, vc_real bgx, vc_real *ggamma, vc_real bgg, vc_real *gbeta,
                         vc_real bgb, int64_t N, int64_t D);
void vc_cu_l2norm_fwd(const vc_real *x, vc_real *y, vc_real *norm, int64_t N, int64_t D, vc_real eps);
void vc_cu_l2norm_bwd(const vc_real *y, const vc_real *norm, const vc_real *g, vc_real *gx, vc_real beta, int64_t N,
                      int64_t D, vc_real eps);

/* ---- softmax (k_softmax.cu) ---- */
void vc_cu_softmax_fwd(const vc_real *x, vc_real *y, int nd, const int64_t *ne, int axis, const vc_real *mask,
                       const int64_t *mst, bool take_log);
void vc_cu_softmax_bwd(const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta, int nd, const int64_t *ne,
                       int axis, bool take_log);
void vc_cu_xent_fwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target, vc_real *lse,
                    vc_real *loss);
void vc_cu_xent_bwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                    const vc_real *lse, const vc_real *gloss, vc_real *gl, vc_real beta);

/* ---- attention (k_attention.cu) ---- */
void vc_cu_attention_fwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, vc_real *P,
                         vc_real *O);
void vc_cu_attention_bwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, const vc_real *P,
                         const vc_real *dO, vc_real *dQ, vc_real bq, vc_real *dK, vc_real bk, vc_real *dV, vc_real bv,
                         void *scratch);
size_t vc_cu_attention_bwd_scratch(const vc_attn_dims *d);

/* ---- lstm (k_lstm.cu) ---- */
void vc_cu_lstm_fwd(const vc_lstm_dims *d, const vc_real *x, const vc_real *w_ih, const vc_real *w_hh,
                    const vc_real *bias, vc_real *gates, vc_real *c, vc_real *h);
void vc_cu_lstm_bwd(const vc_lstm_dims *d, const vc_real *gates, const vc_real *c, const vc_real *h,
                    const vc_real *w_hh, const vc_real *dh, vc_real *dA, vc_real *hprev, void *scratch);
size_t vc_cu_lstm_bwd_scratch(const vc_lstm_dims *d);

/* ---- unary (k_unary.cu) ---- */
void vc_cu_unary_fwd(vc_unop op, const vc_real *x, vc_real *y, int64_t n);
/* unary_fwd with y in bf16 (its output rounded; float32 build only) */
void vc_cu_unary_fwd_bf16(vc_unop op, const float *x, uint16_t *y, int64_t n);
/* unary_fwd_bf16 and unary_bwd_inplace in one pass over [rows, cols] (GELU,
 * QuickGELU), g16 and sums (+= bias_bwd's column sums of this call's rows)
 * where not NULL; float32 build only */
void vc_cu_unary_fwd_bwd_bf16(vc_unop op, const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums,
                              int64_t rows, int64_t cols);
void vc_cu_unary_bwd(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta,
                     int64_t n);
void vc_cu_unary_bwd_inplace(vc_unop op, const vc_real *x, vc_real *gx, int64_t n);
void vc_cu_scale(const vc_real *x, vc_real s, vc_real *y, int64_t n);
void vc_cu_axpby(const vc_real *g, vc_real s, vc_real *gx, vc_real beta, int64_t n);

/* ---- binary (k_binary.cu) ---- */
void vc_cu_binary_fwd(vc_binop op, const vc_bcast *p, const vc_real *a, const vc_real *b, vc_real *out);
void vc_cu_binary_bwd(vc_binop op, int which, const vc_bcast *p, const vc_real *g, const vc_real *a, const vc_real *b,
                      vc_real *gx, vc_real beta);

/* ---- reduce (k_reduce.cu) ---- */
void vc_cu_sum_fwd(const vc_real *x, vc_real *out, int64_t P, int64_t T, int64_t R, vc_real scale);
void vc_cu_sum_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t P, int64_t T, int64_t R, vc_real scale);
void vc_cu_wsum_fwd(const vc_real *x, const vc_real *w, const vc_real *div, vc_real *out, int64_t P, int64_t T,
                    int64_t R);
void vc_cu_wsum_bwd(const vc_real *g, const vc_real *w, const vc_real *div, vc_real *gx, vc_real beta, int64_t P,
                    int64_t T, int64_t R);

/* ---- bias (k_bias.cu) ---- */
void vc_cu_bias_fwd(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N);
/* bias_fwd with the rows of y and res ld elements apart (ld >= N): the terms
 * gemm_bias_bf16 writes into C when it cannot add them in cuBLASLt */
void vc_cu_bias_fwd_ld(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N, int64_t ld);
void vc_cu_bias_bwd(const vc_real *g, vc_real *gb, vc_real beta, int64_t R, int64_t N);
/* bias_bwd (same bits) and g rounded to bf16 into g16 (float32 build only) */
void vc_cu_bias_bwd_round_bf16(const float *g, uint16_t *g16, float *gb, float beta, int64_t R, int64_t N);

/* ---- copy (k_copy.cu) ---- */
void vc_cu_strided_copy(vc_real *dst, const int64_t *dst_st, const vc_real *src, const int64_t *src_st, int nd,
                        const int64_t *ne, vc_real beta);
void vc_cu_slab_copy(vc_real *dst, int64_t dT, int64_t dstart, const vc_real *src, int64_t sT, int64_t sstart,
                     int64_t len, int64_t P, int64_t R, vc_real beta);
void vc_cu_gather_fwd(const vc_real *table, int64_t ld, const int64_t *idx, vc_real *out, int64_t N, int64_t D);
void vc_cu_gather_bwd(const vc_real *g, const int64_t *idx, vc_real *gtable, vc_real beta, int64_t N, int64_t V,
                      int64_t D);
void vc_cu_dropout_fwd(const vc_real *x, vc_real *y, int64_t n, vc_real p, uint64_t seed, uint64_t stream);
void vc_cu_dropout_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t n, vc_real p, uint64_t seed,
                       uint64_t stream);

/* ---- optim (k_optim.cu) ---- */
void vc_cu_adamw(const vc_adamw_args *a, vc_real *w, const vc_real *g, vc_real *m, vc_real *v, int64_t n);
/* Scratch bytes of vc_cu_global_norm over n elements (its partial sums). */
size_t vc_cu_global_norm_scratch(int64_t n);
void vc_cu_global_norm(const vc_real *x, int64_t n, double *norm, void *scratch);
void vc_cu_clip_scale(vc_real *g, int64_t n, double max_norm, const double *norm);

/* ---- patch (k_patch.cu) ---- */
void vc_cu_patchify(const vc_patch_dims *d, const vc_real *images, vc_real *patches);
void vc_cu_embed_patches(const vc_real *emb, const vc_real *cls, const vc_real *pos, vc_real *x, int64_t N, int64_t T,
                         int64_t W);
void vc_cu_embed_tokens(const vc_real *tok, const int64_t *ids, const vc_real *pos, vc_real *x, int64_t R, int64_t T,
                        int64_t W);

/* ---- score (k_score.cu) ---- */
void vc_cu_rank_true(const vc_real *S, int64_t m, int64_t n, const int64_t *truth, int64_t *rank, int64_t *nans);
void vc_cu_rank_owned(const vc_real *S, int64_t m, int64_t n, const int64_t *owner, int64_t q0, int64_t *rank,
                      int64_t *nans);

#ifdef __cplusplus
}
#endif

#endif
