/* The CPU backend: host memory and the k_*.c kernels (OpenBLAS + OpenMP;
 * oneDNN for the bf16 products).
 * The only file above the kernels that includes their headers. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "hostmem.h"
#include "k_attention.h"
#include "k_bias.h"
#include "k_binary.h"
#include "k_copy.h"
#include "k_gemm.h"
#include "k_gemm_bf16.h"
#include "k_lstm.h"
#include "k_norm.h"
#include "k_optim.h"
#include "k_patch.h"
#include "k_reduce.h"
#include "k_score.h"
#include "k_softmax.h"
#include "k_unary.h"

static void *cpu_alloc(size_t nbytes) { return vc_host_alloc(nbytes); }

static void cpu_free(void *p) { vc_host_free(p); }
static void cpu_set(void *p, int byte, size_t nbytes) { memset(p, byte, nbytes); }
static void cpu_copy(void *dst, const void *src, size_t nbytes) {
    if (nbytes) memcpy(dst, src, nbytes);
}
static void cpu_sync(void) {}

static void cpu_fill(vc_real *p, vc_real v, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
    for (int64_t i = 0; i < n; i++) p[i] = v;
}

#ifndef VC_DOUBLE
static void cpu_round_bf16(const float *x, uint16_t *y, int64_t n) { vc_f32_to_bf16_n(y, x, n); }
static void cpu_round_f16(const float *x, uint16_t *y, int64_t n) { vc_f32_to_f16_n(y, x, (size_t)n); }
#endif

/* bf16 products: only where the CPU has them natively (k_gemm_bf16.h), and
 * not in the double-precision build, whose vc_real is not float; the kernels
 * that emit bf16 for them likewise not there. No fp16 products (an inference
 * mode of the CUDA backend); rounding to fp16 yes. */
static bool cpu_supports(vc_kop op) {
    if (op == VC_K_LAYERNORM_FWD_BF16 || op == VC_K_UNARY_FWD_BF16 ||
        op == VC_K_UNARY_FWD_BWD_BF16 || op == VC_K_BIAS_BWD_ROUND_BF16) { /* plain loops: wherever vc_real is float */
#ifdef VC_DOUBLE
        return false;
#else
        return true;
#endif
    }
    if (op == VC_K_GEMM_F16 || op == VC_K_GEMM_BATCHED_F16) return false;
#ifdef VC_DOUBLE
    if (op == VC_K_ROUND_F16) return false;
#endif
    if (op == VC_K_GEMM_BF16 || op == VC_K_GEMM_BATCHED_BF16 || op == VC_K_GEMM_BIAS_BF16 || op == VC_K_ROUND_BF16) {
#ifdef VC_DOUBLE
        return false;
#else
        return vc_gemm_bf16_fast();
#endif
    }
    return (unsigned)op < VC_K_COUNT;
}

static size_t cpu_scratch(vc_kop op, const void *dims) {
    switch (op) {
    case VC_K_ATTENTION_BWD: return vc_attention_bwd_scratch(dims);
    case VC_K_LSTM_BWD: return vc_lstm_bwd_scratch(dims);
    default: return 0;
    }
}

const vc_backend vc_backend_cpu = {
    .name = "cpu",
    .device = VC_CPU,
    .mem_alloc = cpu_alloc,
    .mem_free = cpu_free,
    .mem_set = cpu_set,
    .fill = cpu_fill,
    .copy_h2d = cpu_copy,
    .copy_d2h = cpu_copy,
    .copy_d2d = cpu_copy,
    .sync = cpu_sync,
    .supports_op = cpu_supports,
    .scratch_bytes = cpu_scratch,
    .gemm = vc_gemm,
    .gemm_batched = vc_gemm_batched,
#ifndef VC_DOUBLE
    .gemm_bf16 = vc_gemm_bf16,
    .gemm_batched_bf16 = vc_gemm_batched_bf16,
    .gemm_bias_bf16 = vc_gemm_bias_bf16,
    .wgrad_transposed = true,
    .round_bf16 = cpu_round_bf16,
    .round_f16 = cpu_round_f16,
#endif
    .layernorm_fwd = vc_layernorm_fwd,
#ifndef VC_DOUBLE
    .layernorm_fwd_bf16 = vc_layernorm_fwd_bf16,
#endif
    .layernorm_bwd = vc_layernorm_bwd,
    .l2norm_fwd = vc_l2norm_fwd,
    .l2norm_bwd = vc_l2norm_bwd,
    .softmax_fwd = vc_softmax_fwd,
    .softmax_bwd = vc_softmax_bwd,
    .xent_fwd = vc_xent_fwd,
    .xent_bwd = vc_xent_bwd,
    .attention_fwd = vc_attention_fwd,
    .attention_bwd = vc_attention_bwd,
    .lstm_fwd = vc_lstm_fwd,
    .lstm_bwd = vc_lstm_bwd,
    .unary_fwd = vc_unary_fwd,
#ifndef VC_DOUBLE
    .unary_fwd_bf16 = vc_unary_fwd_bf16,
    .unary_fwd_bwd_bf16 = vc_unary_fwd_bwd_bf16,
#endif
    .unary_bwd = vc_unary_bwd,
    .unary_bwd_inplace = vc_unary_bwd_inplace,
    .scale = vc_scale_fwd,
    .axpby = vc_axpby,
    .binary_fwd = vc_binary_fwd,
    .binary_bwd = vc_binary_bwd,
    .sum_fwd = vc_sum_axis_fwd,
    .sum_bwd = vc_sum_axis_bwd,
    .wsum_fwd = vc_wsum_axis_fwd,
    .wsum_bwd = vc_wsum_axis_bwd,
    .bias_fwd = vc_bias_fwd,
    .bias_bwd = vc_bias_bwd,
#ifndef VC_DOUBLE
    .bias_bwd_round_bf16 = vc_bias_bwd_round_bf16,
#endif
    .strided_copy = vc_strided_copy,
    .slab_copy = vc_slab_copy,
    .gather_fwd = vc_gather_rows_fwd,
    .gather_bwd = vc_gather_rows_bwd,
    .dropout_fwd = vc_dropout_fwd,
    .dropout_bwd = vc_dropout_bwd,
    .adamw = vc_adamw_update,
    .global_norm = vc_global_norm,
    .clip_scale = vc_clip_scale,
    .patchify = vc_patchify,
    .embed_patches = vc_embed_patches,
    .embed_tokens = vc_embed_tokens,
    .rank_true = vc_score_rank_true,
    .rank_owned = vc_score_rank_owned,
};
