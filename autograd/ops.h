/* ops.h: the differentiable ops. Each takes the tape and input vars and
 * returns the output var (NULL on failure, see tape.h). Shapes use B batch,
 * T time, D width, H heads, N rows, C classes/columns. Tensors given as
 * `const vc_tensor *` (masks, targets, lengths) are data, not differentiated.
 * Ops compute only through the kernels of their tensors' backend
 * (tensor/backend.h); none includes a CPU kernel header. */
#ifndef VC_OPS_H
#define VC_OPS_H

#include "tape.h"

/* ---- matrix products (op_matmul.c) ---- */
/* a [..., M, K] (or [..., K, M] if ta), b [..., K, N] (or [..., N, K] if tb)
 * -> [..., M, N]. Leading dims of a and b are equal (batched: attention heads),
 * or b is 2-D and shared by every batch entry of a. */
vc_var *vc_matmul(vc_tape *t, vc_var *a, vc_var *b, bool ta, bool tb);
/* x [..., IN], w [OUT, IN] (PyTorch layout), bias [OUT] or NULL -> [..., OUT] */
vc_var *vc_linear(vc_tape *t, vc_var *x, vc_var *w, vc_var *bias);

/* Linear with a recomputed input transform and an optional residual
 * (op_linear_fused.c):  y = T(x) w^T + bias + residual, where T is the
 * identity, LayerNorm over the last axis (gamma, beta [IN] or NULL, eps 1e-5)
 * or GELU / QuickGELU. T(x) is not kept: the backward recomputes it, so this
 * saves one activation (and the add) per use. bias and residual may be NULL. */
typedef enum { VC_PRE_NONE, VC_PRE_LAYERNORM, VC_PRE_GELU, VC_PRE_QUICKGELU } vc_pre;
vc_var *vc_linear_fused(vc_tape *t, vc_var *x, vc_pre pre, vc_var *gamma, vc_var *beta, vc_var *w, vc_var *bias,
                        vc_var *residual);
/* Whether linear_fused's bf16 backward computes a LayerNorm-fed weight
 * gradient as dW^T = u^T G where the backend asks for that
 * (wgrad_transposed; on, the default) or always as dW = G^T u (off: for
 * the tests, which compare the two, and for timing them). Process-wide. */
void vc_op_set_wgrad_transposed(bool on);
/* Weight gradients computed so, so far (tests watch it). */
long vc_op_wgrad_transposed_runs(void);

/* ---- element-wise with broadcasting (op_binary.c) ----
 * Shapes broadcast NumPy-style (trailing dims aligned, size-1 dims stretch). */
vc_var *vc_add(vc_tape *t, vc_var *a, vc_var *b);
vc_var *vc_sub(vc_tape *t, vc_var *a, vc_var *b);
vc_var *vc_mul(vc_tape *t, vc_var *a, vc_var *b);
/* x * s for a constant s */
vc_var *vc_scale(vc_tape *t, vc_var *x, vc_real s);

/* ---- element-wise unary (op_unary.c) ---- */
vc_var *vc_gelu(vc_tape *t, vc_var *x);       /* x * Phi(x), erf form */
vc_var *vc_quickgelu(vc_tape *t, vc_var *x);  /* x * sigmoid(1.702 x) */
vc_var *vc_sigmoid(vc_tape *t, vc_var *x);
vc_var *vc_tanh(vc_tape *t, vc_var *x);
vc_var *vc_relu(vc_tape *t, vc_var *x);
vc_var *vc_exp(vc_tape *t, vc_var *x);

/* ---- reductions (op_reduce.c) ---- */
/* Sum / mean over one axis; the axis is removed from the shape. */
vc_var *vc_sum(vc_tape *t, vc_var *x, int axis);
vc_var *vc_mean(vc_tape *t, vc_var *x, int axis);
/* Sum of all elements -> [1]. */
vc_var *vc_sum_all(vc_tape *t, vc_var *x);
/* Masked sum / mean over `axis` of x [P..., T, R...] (P = dims before axis).
 * mask is either a float 0/1 (or weight) tensor [P..., T] or an integer
 * (I32/I64) lengths tensor [P...] meaning positions < length are valid.
 * The mean divides by the mask sum (the valid count); a row whose mask sums
 * to 0 gives 0 and passes no gradient. Output [P..., R...]. */
vc_var *vc_masked_sum(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask);
vc_var *vc_masked_mean(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask);

/* ---- normalisation (op_norm.c) ---- */
/* LayerNorm over the last axis: x [..., D], gamma [D], beta [D] (either may be NULL). */
vc_var *vc_layernorm(vc_tape *t, vc_var *x, vc_var *gamma, vc_var *beta, vc_real eps);
/* Row-wise L2 normalisation over the last axis: x / max(||x||, eps). */
vc_var *vc_l2norm(vc_tape *t, vc_var *x, vc_real eps);

/* ---- softmax and losses (op_softmax.c) ---- */
/* Softmax / log-softmax along `axis`. mask (or NULL) is additive (0 or -inf,
 * or any finite bias), broadcastable to x, and not differentiated. A slice
 * whose entries are all -inf gives 0 (softmax) and no gradient. */
vc_var *vc_softmax(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask);
vc_var *vc_log_softmax(vc_tape *t, vc_var *x, int axis, const vc_tensor *mask);
/* Mean cross-entropy of logits [N, C] against integer targets [N] (I32/I64)
 * along the class axis `axis` (1: rows are samples; 0: columns are samples,
 * i.e. CE of the transpose without copying) -> [1]. */
vc_var *vc_cross_entropy(vc_tape *t, vc_var *logits, const vc_tensor *targets, int axis);

/* ---- shape (op_shape.c) ---- */
vc_var *vc_reshape(vc_tape *t, vc_var *x, int ndim, const int64_t *shape);
/* A contiguous permuted copy (so downstream kernels see packed rows). */
vc_var *vc_permute(vc_tape *t, vc_var *x, const int *perm);
vc_var *vc_transpose(vc_tape *t, vc_var *x, int a, int b);
/* x[..., start:start+len, ...] along axis, as a contiguous copy. */
vc_var *vc_slice(vc_tape *t, vc_var *x, int axis, int64_t start, int64_t len);
vc_var *vc_concat(vc_tape *t, int n, vc_var *const *xs, int axis);
/* Splits x along axis into n parts of the given sizes; writes outs[n]. Returns
 * VC_OK or the tape's error. */
vc_status vc_split_sizes(vc_tape *t, vc_var *x, int axis, int n, const int64_t *sizes, vc_var **outs);
/* Rows of table [V, D] picked by integer idx [N...] -> [N..., D]
 * (embedding lookup); repeated indices accumulate gradient. */
vc_var *vc_gather_rows(vc_tape *t, vc_var *table, const vc_tensor *idx);

/* ---- attention (op_attention.c) ---- */
/* Multi-head scaled dot-product attention reading heads from packed
 * projections: head h of q is columns qoff + h*dh .. + dh of q [Bq, Tq, Cq]
 * (likewise k [B, Tk, Ck], v [B, Tk, Cv]); Bq is B, or 1 to share the
 * queries across the batch (learned queries). Self-attention passes one
 * packed qkv [B, T, 3D] three times with offsets 0, D, 2D. Keys at positions
 * >= key_len[b] (integer [B], or NULL) are masked, as are later keys when
 * causal. Output [B, Tq, heads*dh], heads side by side. A query with no
 * valid key outputs 0. */
vc_var *vc_attention(vc_tape *t, vc_var *q, int64_t qoff, vc_var *k, int64_t koff, vc_var *v, int64_t voff,
                     int heads, int64_t dh, const vc_tensor *key_len, bool causal);

/* ---- recurrence (op_lstm.c) ---- */
/* One-layer LSTM from zero state, PyTorch layout and gate order (i, f, g, o):
 * x [B, T, D], w_ih [4H, D], w_hh [4H, H], b_ih, b_hh [4H] -> h [B, T, H].
 * With lengths (integer [B], or NULL) row b stops at lengths[b]: later
 * outputs are 0 and padded frames influence nothing. */
vc_var *vc_lstm(vc_tape *t, vc_var *x, vc_var *w_ih, vc_var *w_hh, vc_var *b_ih, vc_var *b_hh,
                const vc_tensor *lengths);

/* ---- regularisation (op_dropout.c) ---- */
/* Inverted dropout with probability p when t->training; identity otherwise.
 * The mask comes from (t->seed, t->step, call number), so it is the same for
 * any thread count and is recomputed, not stored, for the backward pass. */
vc_var *vc_dropout(vc_tape *t, vc_var *x, vc_real p);

#endif
