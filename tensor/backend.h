/* backend.h: a compute backend is one table of function pointers: memory
 * (allocate, free, set, fill, copy between host and device, synchronise) and
 * every kernel the ops, the optimiser, the CLIP towers and the metrics run.
 * Code above tensor/ computes only through this table, on the backend of its
 * tensors' device (vc_backend_for), and never includes a CPU kernel header
 * (tensor/k_*.h): those are the CPU backend's implementation, filled into its
 * table by backend_cpu.c. A CUDA backend fills a second table with the same
 * signatures (tensor/cuda/k_*.cu beside tensor/k_*.c, name for name).
 *
 * Owns: the table, the argument structs the kernels share across backends
 * (the "dims" structs and op enums below), the list of compiled backends.
 * Not here: the kernels themselves (k_*.c), tensors and views (tensor.h).
 *
 * Conventions of every kernel entry:
 * - Data pointers (including those inside dims structs: key lengths, indices,
 *   targets) are in the backend's memory; shape arrays (ne, strides, mst) and
 *   dims structs themselves are read on the host.
 * - Backward kernels take a beta per output gradient: 0 overwrites (the
 *   buffer may hold garbage, even NaN), 1 accumulates.
 * - Matrices are row-major; ld arguments are row strides in elements.
 * - Reductions sum in a fixed order: results do not depend on thread counts.
 * - A kernel that needs scratch memory says how much through scratch_bytes;
 *   the caller allocates it (from its arena) and passes it in. */
#ifndef VC_BACKEND_H
#define VC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus /* the CUDA backend's .cu files include this as C++ */
extern "C" {
#endif

/* ---- argument structs shared by every backend ---- */

typedef enum { VC_UN_GELU, VC_UN_QUICKGELU, VC_UN_SIGMOID, VC_UN_TANH, VC_UN_RELU, VC_UN_EXP } vc_unop;
typedef enum { VC_BIN_ADD, VC_BIN_SUB, VC_BIN_MUL } vc_binop;

/* A broadcast a op b: the output shape and, per output dim, the element
 * stride of each operand (0 where that operand is broadcast). */
typedef struct {
    int nd;
    int64_t ne[VC_MAX_DIMS];
    int64_t sa[VC_MAX_DIMS], sb[VC_MAX_DIMS];
    int64_t n;                 /* output elements */
} vc_bcast;

/* Plans a op b for contiguous a and b; fails naming op and both shapes. */
vc_status vc_bcast_plan(vc_bcast *p, const char *op, const vc_tensor *a, const vc_tensor *b);

/* Multi-head attention over packed projections (see k_attention.h). Q, K, V
 * are row-major [B, Tq, ldq], [B, Tk, ldk], [B, Tk, ldv]; head h of Q is
 * columns qoff + h*dh .. +dh (likewise K, V). Key j of batch b is masked when
 * j >= klen[b] (klen may be NULL), and when j > i if causal. */
typedef struct {
    int64_t B, H, Tq, Tk, dh;
    int64_t ldq, ldk, ldv;     /* row lengths of the Q, K, V buffers */
    int64_t qoff, koff, voff;  /* first column of head 0 */
    int64_t qbs, kbs, vbs;     /* batch strides in elements (0 broadcasts) */
    const int64_t *klen;       /* [B] valid keys, or NULL */
    bool causal;
    vc_real scale;             /* usually 1/sqrt(dh) */
} vc_attn_dims;

/* One-layer LSTM over a padded batch: x [B, T, D], hidden size H; row b
 * stops at len[b] (len may be NULL: all T steps). */
typedef struct {
    int64_t B, T, D, H;
    const int64_t *len;        /* [B], or NULL */
} vc_lstm_dims;

/* Images [N, C, S, S] cut into a G x G grid of P x P patches (S = G * P). */
typedef struct {
    int64_t N, C, S, P, G;
} vc_patch_dims;

/* One AdamW update of n elements (train/optim.h has the formula). */
typedef struct {
    vc_real b1, b2;            /* moment decay rates */
    vc_real step;              /* lr / (1 - b1^t) */
    vc_real rbc2;              /* 1 / sqrt(1 - b2^t) */
    vc_real eps;
    vc_real keep;              /* 1 - lr * weight_decay, or 1 without decay */
} vc_adamw_args;

/* Operand types of gemm_bf16: A / B already bf16 (uint16_t storage); the
 * default is float32, rounded to bf16 by the kernel. gemm_f16 reads the same
 * flags as "already IEEE half". */
enum { VC_GEMM_A_BF16 = 1, VC_GEMM_B_BF16 = 2 };

/* Every kernel entry of the table, for supports_op, scratch_bytes and the
 * op filter of tests/test_backend_ops.c. */
typedef enum {
    VC_K_GEMM, VC_K_GEMM_BATCHED, VC_K_GEMM_BF16, VC_K_GEMM_BATCHED_BF16, VC_K_GEMM_BIAS_BF16, VC_K_ROUND_BF16,
    VC_K_GEMM_F16, VC_K_GEMM_BATCHED_F16, VC_K_ROUND_F16,
    VC_K_LAYERNORM_FWD, VC_K_LAYERNORM_FWD_BF16, VC_K_LAYERNORM_BWD, VC_K_L2NORM_FWD, VC_K_L2NORM_BWD,
    VC_K_SOFTMAX_FWD, VC_K_SOFTMAX_BWD, VC_K_XENT_FWD, VC_K_XENT_BWD,
    VC_K_ATTENTION_FWD, VC_K_ATTENTION_BWD,
    VC_K_LSTM_FWD, VC_K_LSTM_BWD,
    VC_K_UNARY_FWD, VC_K_UNARY_FWD_BF16, VC_K_UNARY_FWD_BWD_BF16, VC_K_UNARY_BWD, VC_K_UNARY_BWD_INPLACE, VC_K_SCALE, VC_K_AXPBY,
    VC_K_BINARY_FWD, VC_K_BINARY_BWD,
    VC_K_SUM_FWD, VC_K_SUM_BWD, VC_K_WSUM_FWD, VC_K_WSUM_BWD,
    VC_K_BIAS_FWD, VC_K_BIAS_BWD, VC_K_BIAS_BWD_ROUND_BF16,
    VC_K_STRIDED_COPY, VC_K_SLAB_COPY, VC_K_GATHER_FWD, VC_K_GATHER_BWD, VC_K_DROPOUT_FWD, VC_K_DROPOUT_BWD,
    VC_K_ADAMW, VC_K_GLOBAL_NORM, VC_K_CLIP_SCALE,
    VC_K_PATCHIFY, VC_K_EMBED_PATCHES, VC_K_EMBED_TOKENS,
    VC_K_RANK_TRUE, VC_K_RANK_OWNED,
    VC_K_COUNT
} vc_kop;

/* "layernorm_fwd", and the kernel file it belongs to ("norm"). */
const char *vc_kop_name(vc_kop op);
const char *vc_kop_group(vc_kop op);

struct vc_backend;
/* Whether be's table entry for op is filled (not NULL): what a backend's
 * supports_op answers when every entry it fills works. */
bool vc_backend_fills(const struct vc_backend *be, vc_kop op);

typedef struct vc_backend {
    const char *name;          /* "cpu", "cuda" */
    vc_device device;

    /* ---- memory ---- */
    /* 64-byte aligned, uninitialised; NULL on failure (no message set). */
    void *(*mem_alloc)(size_t nbytes);
    void (*mem_free)(void *p);  /* NULL is a no-op */
    void (*mem_set)(void *p, int byte, size_t nbytes);
    void (*fill)(vc_real *p, vc_real v, int64_t n);
    void (*copy_h2d)(void *dst, const void *src, size_t nbytes);
    void (*copy_d2h)(void *dst, const void *src, size_t nbytes);
    void (*copy_d2d)(void *dst, const void *src, size_t nbytes); /* no overlap */
    void (*sync)(void);        /* waits for every kernel queued so far */

    /* True when this backend implements op (a partial backend leaves the
     * others NULL; callers and tests check before calling). */
    bool (*supports_op)(vc_kop op);
    /* Scratch bytes op needs for these dims (the op's dims struct:
     * vc_attn_dims for ATTENTION_BWD, vc_lstm_dims for LSTM_BWD, an int64_t
     * element count for GLOBAL_NORM); 0 for ops without scratch. */
    size_t (*scratch_bytes)(vc_kop op, const void *dims);

    /* ---- gemm (k_gemm.h) ----
     * C[M,N] = alpha op(A) op(B) + beta C; batched: entry i uses A + i*sa,
     * B + i*sb, C + i*sc (sb = 0 shares B). */
    void (*gemm)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda,
                 const vc_real *B, int64_t ldb, vc_real beta, vc_real *C, int64_t ldc);
    void (*gemm_batched)(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha,
                         const vc_real *A, int64_t lda, int64_t sa, const vc_real *B, int64_t ldb, int64_t sb,
                         vc_real beta, vc_real *C, int64_t ldc, int64_t sc);
    /* The same products with bf16 inputs, float32 accumulation and output
     * (k_gemm_bf16.h): A and B are float32 unless flags has VC_GEMM_A_BF16 /
     * VC_GEMM_B_BF16; strides count elements of each operand's own type.
     * supports_op(VC_K_GEMM_BF16) is false where the device has no fast bf16
     * products (callers then use gemm); the double-precision build leaves
     * these three entries out. */
    void (*gemm_bf16)(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                      int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc);
    void (*gemm_batched_bf16)(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                              float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb,
                              int64_t sb, float beta, float *C, int64_t ldc, int64_t sc);
    /* How a bf16 weight gradient dW = G^T u (G [R, OUT], u [R, IN]) runs
     * fastest here. false: as written (cuBLAS reads a transposed operand at
     * full speed). true: as dW^T = u^T G, with u written transposed by the
     * kernel that makes it (layernorm_fwd_bf16's yt) and dW^T transposed
     * into dW (strided_copy): oneDNN's matmul copies a transposed first
     * operand before it multiplies (at the training step's shapes, 350-390
     * GFLOP/s as written against 395-420 as dW^T on this project's CPUs). */
    bool wgrad_transposed;
    /* gemm_bf16 with alpha 1 and the terms of a linear layer added inside
     * the product: C = op(A) op(B) + bias + res, bias [N] to every row, res
     * laid out as C (NULL: C is not read; C itself: accumulate; or another
     * matrix: a residual stream), either NULL-able (k_gemm_bf16.h): no
     * separate pass writing them into C first. The entry is NULL-able:
     * callers then write them with bias_fwd and accumulate with gemm_bf16. */
    void (*gemm_bias_bf16)(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A,
                           int64_t lda, const void *B, int64_t ldb, const float *bias, const float *res, float *C,
                           int64_t ldc);
    /* y[i] = x[i] rounded to bf16 (nearest even; NaN stays NaN), n values:
     * the bf16 copies of weights a product reuses. */
    void (*round_bf16)(const float *x, uint16_t *y, int64_t n);
    /* The same three with IEEE half (fp16: 10 mantissa bits, range +-65504)
     * in place of bf16, float32 accumulation and output: inference only (the
     * CLIP towers; training keeps bf16's range). The CPU backend has no fp16
     * products (gemm_f16 entries NULL) but rounds (round_f16). */
    void (*gemm_f16)(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                     int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc);
    void (*gemm_batched_f16)(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                             float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb,
                             int64_t sb, float beta, float *C, int64_t ldc, int64_t sc);
    void (*round_f16)(const float *x, uint16_t *y, int64_t n);

    /* ---- norm (k_norm.h): rows x [N, D] ---- */
    void (*layernorm_fwd)(const vc_real *x, const vc_real *gamma, const vc_real *bta, vc_real *y, vc_real *mean,
                          vc_real *rstd, int64_t N, int64_t D, vc_real eps);
    /* The forward with y in bf16, exactly layernorm_fwd's output rounded
     * (for a bf16 product that reads it); NULL where a backend lacks it:
     * callers then run layernorm_fwd and let the product round. Left out,
     * like the bf16 products, of the double-precision build. yt: y stored
     * transposed, [D, N] (for a weight gradient's first operand). */
    void (*layernorm_fwd_bf16)(const float *x, const float *gamma, const float *bta, uint16_t *y, float *mean,
                               float *rstd, int64_t N, int64_t D, float eps, bool yt);
    void (*layernorm_bwd)(const vc_real *x, const vc_real *gamma, const vc_real *mean, const vc_real *rstd,
                          const vc_real *g, vc_real *gx, vc_real bgx, vc_real *ggamma, vc_real bgg, vc_real *gbeta,
                          vc_real bgb, int64_t N, int64_t D);
    void (*l2norm_fwd)(const vc_real *x, vc_real *y, vc_real *norm, int64_t N, int64_t D, vc_real eps);
    void (*l2norm_bwd)(const vc_real *y, const vc_real *norm, const vc_real *g, vc_real *gx, vc_real beta, int64_t N,
                       int64_t D, vc_real eps);

    /* ---- softmax (k_softmax.h) ---- */
    void (*softmax_fwd)(const vc_real *x, vc_real *y, int nd, const int64_t *ne, int axis, const vc_real *mask,
                        const int64_t *mst, bool take_log);
    void (*softmax_bwd)(const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta, int nd, const int64_t *ne,
                        int axis, bool take_log);
    void (*xent_fwd)(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                     vc_real *lse, vc_real *loss);
    void (*xent_bwd)(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                     const vc_real *lse, const vc_real *gloss, vc_real *gl, vc_real beta);

    /* ---- attention (k_attention.h) ---- */
    void (*attention_fwd)(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, vc_real *P,
                          vc_real *O);
    void (*attention_bwd)(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V,
                          const vc_real *P, const vc_real *dO, vc_real *dQ, vc_real bq, vc_real *dK, vc_real bk,
                          vc_real *dV, vc_real bv, void *scratch);

    /* ---- lstm (k_lstm.h) ---- */
    void (*lstm_fwd)(const vc_lstm_dims *d, const vc_real *x, const vc_real *w_ih, const vc_real *w_hh,
                     const vc_real *bias, vc_real *gates, vc_real *c, vc_real *h);
    void (*lstm_bwd)(const vc_lstm_dims *d, const vc_real *gates, const vc_real *c, const vc_real *h,
                     const vc_real *w_hh, const vc_real *dh, vc_real *dA, vc_real *hprev, void *scratch);

    /* ---- unary (k_unary.h) ---- */
    void (*unary_fwd)(vc_unop op, const vc_real *x, vc_real *y, int64_t n);
    /* unary_fwd with y in bf16, exactly its output rounded; NULL-able and
     * float32-build only like layernorm_fwd_bf16. */
    void (*unary_fwd_bf16)(vc_unop op, const float *x, uint16_t *y, int64_t n);
    /* unary_fwd_bf16 and unary_bwd_inplace in one pass over x [rows, cols]
     * (the backward of a bf16 product fed by f(x)), with the scaled gx
     * rounded to g16 and its column sums added to sums where those are not
     * NULL (k_unary.h: the CPU adds the rows in order across calls, CUDA
     * adds each call's sums as its bias_bwd would with beta 1); NULL-able
     * like unary_fwd_bf16: the caller then makes the separate calls. */
    void (*unary_fwd_bwd_bf16)(vc_unop op, const float *x, uint16_t *y, float *gx, uint16_t *g16, float *sums,
                               int64_t rows, int64_t cols);
    void (*unary_bwd)(vc_unop op, const vc_real *x, const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta,
                      int64_t n);
    void (*unary_bwd_inplace)(vc_unop op, const vc_real *x, vc_real *gx, int64_t n);
    void (*scale)(const vc_real *x, vc_real s, vc_real *y, int64_t n);
    void (*axpby)(const vc_real *g, vc_real s, vc_real *gx, vc_real beta, int64_t n);

    /* ---- binary (k_binary.h) ---- */
    void (*binary_fwd)(vc_binop op, const vc_bcast *p, const vc_real *a, const vc_real *b, vc_real *out);
    void (*binary_bwd)(vc_binop op, int which, const vc_bcast *p, const vc_real *g, const vc_real *a,
                       const vc_real *b, vc_real *gx, vc_real beta);

    /* ---- reduce (k_reduce.h): x viewed as [P, T, R] ---- */
    void (*sum_fwd)(const vc_real *x, vc_real *out, int64_t P, int64_t T, int64_t R, vc_real scale);
    void (*sum_bwd)(const vc_real *g, vc_real *gx, vc_real beta, int64_t P, int64_t T, int64_t R, vc_real scale);
    void (*wsum_fwd)(const vc_real *x, const vc_real *w, const vc_real *div, vc_real *out, int64_t P, int64_t T,
                     int64_t R);
    void (*wsum_bwd)(const vc_real *g, const vc_real *w, const vc_real *div, vc_real *gx, vc_real beta, int64_t P,
                     int64_t T, int64_t R);

    /* ---- bias (k_bias.h): rows [R, N] ---- */
    void (*bias_fwd)(vc_real *y, const vc_real *b, const vc_real *res, int64_t R, int64_t N);
    void (*bias_bwd)(const vc_real *g, vc_real *gb, vc_real beta, int64_t R, int64_t N);
    /* bias_bwd that also rounds g [R, N] to bf16 into g16, in the same pass
     * (k_bias.h); NULL-able like layernorm_fwd_bf16: callers then round and
     * sum separately. */
    void (*bias_bwd_round_bf16)(const float *g, uint16_t *g16, float *gb, float beta, int64_t R, int64_t N);

    /* ---- copy (k_copy.h) ---- */
    void (*strided_copy)(vc_real *dst, const int64_t *dst_st, const vc_real *src, const int64_t *src_st, int nd,
                         const int64_t *ne, vc_real beta);
    void (*slab_copy)(vc_real *dst, int64_t dT, int64_t dstart, const vc_real *src, int64_t sT, int64_t sstart,
                      int64_t len, int64_t P, int64_t R, vc_real beta);
    void (*gather_fwd)(const vc_real *table, int64_t ld, const int64_t *idx, vc_real *out, int64_t N, int64_t D);
    void (*gather_bwd)(const vc_real *g, const int64_t *idx, vc_real *gtable, vc_real beta, int64_t N, int64_t V,
                       int64_t D);
    void (*dropout_fwd)(const vc_real *x, vc_real *y, int64_t n, vc_real p, uint64_t seed, uint64_t stream);
    void (*dropout_bwd)(const vc_real *g, vc_real *gx, vc_real beta, int64_t n, vc_real p, uint64_t seed,
                        uint64_t stream);

    /* ---- optim (k_optim.h) ---- */
    void (*adamw)(const vc_adamw_args *a, vc_real *w, const vc_real *g, vc_real *m, vc_real *v, int64_t n);
    void (*global_norm)(const vc_real *x, int64_t n, double *norm, void *scratch);
    void (*clip_scale)(vc_real *g, int64_t n, double max_norm, const double *norm);

    /* ---- patch (k_patch.h): the CLIP towers' input embeddings ---- */
    void (*patchify)(const vc_patch_dims *d, const vc_real *images, vc_real *patches);
    void (*embed_patches)(const vc_real *emb, const vc_real *cls, const vc_real *pos, vc_real *x, int64_t N,
                          int64_t T, int64_t W);
    void (*embed_tokens)(const vc_real *tok, const int64_t *ids, const vc_real *pos, vc_real *x, int64_t R,
                         int64_t T, int64_t W);

    /* ---- score (k_score.h): ranks from a block of similarity scores ---- */
    void (*rank_true)(const vc_real *S, int64_t m, int64_t n, const int64_t *truth, int64_t *rank, int64_t *nans);
    void (*rank_owned)(const vc_real *S, int64_t m, int64_t n, const int64_t *owner, int64_t q0, int64_t *rank,
                       int64_t *nans);
} vc_backend;

/* The backend serving device d: the CPU one always; NULL for a device this
 * build has no backend for (vc_backend_get says so in a message). */
const vc_backend *vc_backend_for(vc_device d);
vc_status vc_backend_get(vc_device d, const vc_backend **out);
/* Every backend compiled in, the CPU one first. */
int vc_backend_count(void);
const vc_backend *vc_backend_at(int i);

/* The CPU backend's table (backend_cpu.c). */
extern const vc_backend vc_backend_cpu;

#ifdef __cplusplus
}
#endif

#endif
