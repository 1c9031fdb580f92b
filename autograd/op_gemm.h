/* op_gemm.h: the matrix products of the ops (linear, linear_fused, matmul),
 * in the tape's precision.
 *   fp32 (default): the backend's gemm / gemm_batched.
 *   bf16 (vc_tape_precision): gemm_bf16 / gemm_batched_bf16, inputs rounded
 *   to bf16, float32 accumulation and output. An operand that lies inside the
 *   value of parameter p0 or p1 (either may be NULL or not a parameter: the
 *   op passes its inputs) is rounded once per tape reset,
 *   i.e. once per training step, into a bf16 copy the tape keeps and reuses
 *   for every product of the step (forward and backward); activations and
 *   gradients are rounded by the backend as they go in.
 * Owns: the per-tape cache of those copies (allocated on first use, kept
 * across resets, freed by vc_tape_free).
 * Not here: LayerNorm, softmax, the loss and the optimiser: they stay float32. */
#ifndef VC_OP_GEMM_H
#define VC_OP_GEMM_H

#include "tape.h"
#include "tensor/precision.h"

/* Sets the precision of t's products, after vc_precision_on for the CPU
 * backend (bf16 falls back to fp32 where there are no bf16 products); returns
 * the precision in force. */
vc_precision vc_tape_precision(vc_tape *t, vc_precision p);

/* C[M,N] = alpha op(A) op(B) + beta C on be (see backend.h gemm). */
void vc_op_gemm(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, bool ta, bool tb, int64_t M,
                int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda, const vc_real *B, int64_t ldb,
                vc_real beta, vc_real *C, int64_t ldc);
/* The bf16 product with operands already in bf16 where flags says so
 * (VC_GEMM_A_BF16 / VC_GEMM_B_BF16: uint16_t, e.g. a LayerNorm or GELU
 * output written in bf16 by layernorm_fwd_bf16 / unary_fwd_bf16); a float32
 * operand is resolved as in vc_op_gemm (a parameter's copy, a rounded
 * alias, or rounded by the backend). Tape precision bf16 only (the
 * double-precision build has no bf16 and does nothing here). */
void vc_op_gemm16(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, unsigned flags, bool ta,
                  bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A, int64_t lda, const void *B,
                  int64_t ldb, float beta, vc_real *C, int64_t ldc);
/* vc_op_gemm16 with alpha 1 and a linear layer's terms added inside the
 * product (the backend's gemm_bias_bf16): C = op(A) op(B) + bias + res,
 * bias [N] or NULL, res laid out as C, NULL, C itself or another matrix.
 * False, with nothing done, where the backend has no such entry (the caller
 * then writes the terms itself and accumulates). */
bool vc_op_gemm16_bias(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, unsigned flags, bool ta,
                       bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda, const void *B,
                       int64_t ldb, const vc_real *bias, const vc_real *res, vc_real *C, int64_t ldc);
void vc_op_gemm_batched(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, int64_t batch, bool ta,
                        bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda,
                        int64_t sa, const vc_real *B, int64_t ldb, int64_t sb, vc_real beta, vc_real *C, int64_t ldc,
                        int64_t sc);

/* For an op whose several products read the same activation or gradient
 * x [n]: rounds it to bf16 once, into tape scratch, and makes the products
 * above use that copy for any operand inside x, until vc_op_unround(t, x)
 * gives the scratch back. False (nothing to undo) when the tape is fp32 or
 * the scratch cannot be had (the products then round as they go). */
bool vc_op_round(vc_tape *t, const vc_backend *be, const vc_real *x, int64_t n);
void vc_op_unround(vc_tape *t, const vc_real *x);
/* vc_op_round for the output gradient x [R, N] of a layer with a bias, with
 * the bias gradient gb (+)= the column sums of x (beta 0 / 1, as bias_bwd)
 * taken in the same pass (the backend's bias_bwd_round_bf16). False with
 * nothing done (neither the copy nor the sums) where that cannot be had:
 * the caller then rounds and sums on its own. */
bool vc_op_round_bias(vc_tape *t, const vc_backend *be, const vc_real *x, int64_t R, int64_t N, vc_real *gb,
                      vc_real beta);
/* For a node that writes gradient x [R, N] and can round it on the way: its
 * bf16 copy (copy [R*N], from vc_tape_take) and column sums (sums [N], from
 * 0, in row order), handed over, with their scratch, to the next
 * vc_op_round or vc_op_round_bias: that call of the same x uses them (the
 * bias gradient gets gb (+)= sums, bias_bwd's bits) instead of a pass over
 * x. The caller vouches that nothing writes x in between (the node that
 * made x is the next to read it). Any other such call, another carry, or
 * the tape's reset drops it. False (nothing taken) when there is no cache. */
bool vc_op_round_carry(vc_tape *t, const vc_real *x, int64_t R, int64_t N, uint16_t *copy, vc_real *sums);
/* How many carries the tape used (tests). */
long vc_op_round_carried(const vc_tape *t);

/* Frees t's bf16 copies (vc_tape_free calls it). */
void vc_op_gemm_free(vc_tape *t);
/* Marks every copy stale: the next product rounds it again from the
 * parameter's current value (vc_tape_reset calls it; the optimiser updates
 * parameters between resets). */
void vc_op_gemm_reset(vc_tape *t);

#endif
