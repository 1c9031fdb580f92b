/* The backend registry, op names, and the broadcast planner every backend's
 * binary kernels share (see backend.h). */
#include "backend.h"

#include <stddef.h>
#include <string.h>

#ifdef VC_HAVE_CUDA
extern const vc_backend vc_backend_cuda;
#endif

static const vc_backend *const backends[] = {
    &vc_backend_cpu,
#ifdef VC_HAVE_CUDA
    &vc_backend_cuda,
#endif
};

int vc_backend_count(void) { return (int)(sizeof backends / sizeof backends[0]); }

const vc_backend *vc_backend_at(int i) { return i >= 0 && i < vc_backend_count() ? backends[i] : NULL; }

const vc_backend *vc_backend_for(vc_device d) {
    for (int i = 0; i < vc_backend_count(); i++)
        if (backends[i]->device == d) return backends[i];
    return NULL;
}

vc_status vc_backend_get(vc_device d, const vc_backend **out) {
    *out = vc_backend_for(d);
    if (!*out)
        return vc_fail(VC_ERR_DEVICE, "backend: device %s is not served by this build (built with: cpu%s)",
                       vc_device_name(d), vc_backend_count() > 1 ? ", cuda" : "");
    return VC_OK;
}

static const struct {
    const char *name, *group;
} kops[VC_K_COUNT] = {
    [VC_K_GEMM] = {"gemm", "gemm"},
    [VC_K_GEMM_BATCHED] = {"gemm_batched", "gemm"},
    [VC_K_GEMM_BF16] = {"gemm_bf16", "gemm"},
    [VC_K_GEMM_BATCHED_BF16] = {"gemm_batched_bf16", "gemm"},
    [VC_K_GEMM_BIAS_BF16] = {"gemm_bias_bf16", "gemm"},
    [VC_K_ROUND_BF16] = {"round_bf16", "gemm"},
    [VC_K_GEMM_F16] = {"gemm_f16", "gemm"},
    [VC_K_GEMM_BATCHED_F16] = {"gemm_batched_f16", "gemm"},
    [VC_K_ROUND_F16] = {"round_f16", "gemm"},
    [VC_K_LAYERNORM_FWD] = {"layernorm_fwd", "norm"},
    [VC_K_LAYERNORM_FWD_BF16] = {"layernorm_fwd_bf16", "norm"},
    [VC_K_LAYERNORM_BWD] = {"layernorm_bwd", "norm"},
    [VC_K_L2NORM_FWD] = {"l2norm_fwd", "norm"},
    [VC_K_L2NORM_BWD] = {"l2norm_bwd", "norm"},
    [VC_K_SOFTMAX_FWD] = {"softmax_fwd", "softmax"},
    [VC_K_SOFTMAX_BWD] = {"softmax_bwd", "softmax"},
    [VC_K_XENT_FWD] = {"xent_fwd", "softmax"},
    [VC_K_XENT_BWD] = {"xent_bwd", "softmax"},
    [VC_K_ATTENTION_FWD] = {"attention_fwd", "attention"},
    [VC_K_ATTENTION_BWD] = {"attention_bwd", "attention"},
    [VC_K_LSTM_FWD] = {"lstm_fwd", "lstm"},
    [VC_K_LSTM_BWD] = {"lstm_bwd", "lstm"},
    [VC_K_UNARY_FWD] = {"unary_fwd", "unary"},
    [VC_K_UNARY_FWD_BF16] = {"unary_fwd_bf16", "unary"},
    [VC_K_UNARY_FWD_BWD_BF16] = {"unary_fwd_bwd_bf16", "unary"},
    [VC_K_UNARY_BWD] = {"unary_bwd", "unary"},
    [VC_K_UNARY_BWD_INPLACE] = {"unary_bwd_inplace", "unary"},
    [VC_K_SCALE] = {"scale", "unary"},
    [VC_K_AXPBY] = {"axpby", "unary"},
    [VC_K_BINARY_FWD] = {"binary_fwd", "binary"},
    [VC_K_BINARY_BWD] = {"binary_bwd", "binary"},
    [VC_K_SUM_FWD] = {"sum_fwd", "reduce"},
    [VC_K_SUM_BWD] = {"sum_bwd", "reduce"},
    [VC_K_WSUM_FWD] = {"wsum_fwd", "reduce"},
    [VC_K_WSUM_BWD] = {"wsum_bwd", "reduce"},
    [VC_K_BIAS_FWD] = {"bias_fwd", "bias"},
    [VC_K_BIAS_BWD] = {"bias_bwd", "bias"},
    [VC_K_BIAS_BWD_ROUND_BF16] = {"bias_bwd_round_bf16", "bias"},
    [VC_K_STRIDED_COPY] = {"strided_copy", "copy"},
    [VC_K_SLAB_COPY] = {"slab_copy", "copy"},
    [VC_K_GATHER_FWD] = {"gather_fwd", "copy"},
    [VC_K_GATHER_BWD] = {"gather_bwd", "copy"},
    [VC_K_DROPOUT_FWD] = {"dropout_fwd", "copy"},
    [VC_K_DROPOUT_BWD] = {"dropout_bwd", "copy"},
    [VC_K_ADAMW] = {"adamw", "optim"},
    [VC_K_GLOBAL_NORM] = {"global_norm", "optim"},
    [VC_K_CLIP_SCALE] = {"clip_scale", "optim"},
    [VC_K_PATCHIFY] = {"patchify", "patch"},
    [VC_K_EMBED_PATCHES] = {"embed_patches", "patch"},
    [VC_K_EMBED_TOKENS] = {"embed_tokens", "patch"},
    [VC_K_RANK_TRUE] = {"rank_true", "score"},
    [VC_K_RANK_OWNED] = {"rank_owned", "score"},
};

const char *vc_kop_name(vc_kop op) { return (unsigned)op < VC_K_COUNT ? kops[op].name : "?"; }
const char *vc_kop_group(vc_kop op) { return (unsigned)op < VC_K_COUNT ? kops[op].group : "?"; }

vc_status vc_bcast_plan(vc_bcast *p, const char *op, const vc_tensor *a, const vc_tensor *b) {
    memset(p, 0, sizeof *p);
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    p->nd = nd;
    int64_t sa = 1, sb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t na = da >= 0 ? a->ne[da] : 1, nb = db >= 0 ? b->ne[db] : 1;
        if (na != nb && na != 1 && nb != 1) {
            char b1[96], b2[96];
            return vc_fail(VC_ERR_SHAPE, "op %s: shapes %s and %s do not broadcast", op,
                           vc_shape_str(a, b1, sizeof b1), vc_shape_str(b, b2, sizeof b2));
        }
        p->ne[d] = na > nb ? na : nb;
        p->sa[d] = na == 1 ? 0 : sa;
        p->sb[d] = nb == 1 ? 0 : sb;
        sa *= na;
        sb *= nb;
    }
    p->n = 1;
    for (int d = 0; d < nd; d++) p->n *= p->ne[d];
    return VC_OK;
}

/* Where each op's entry sits in the table. */
static const size_t entry_of[VC_K_COUNT] = {
    [VC_K_GEMM] = offsetof(vc_backend, gemm),
    [VC_K_GEMM_BATCHED] = offsetof(vc_backend, gemm_batched),
    [VC_K_GEMM_BF16] = offsetof(vc_backend, gemm_bf16),
    [VC_K_GEMM_BATCHED_BF16] = offsetof(vc_backend, gemm_batched_bf16),
    [VC_K_GEMM_BIAS_BF16] = offsetof(vc_backend, gemm_bias_bf16),
    [VC_K_ROUND_BF16] = offsetof(vc_backend, round_bf16),
    [VC_K_GEMM_F16] = offsetof(vc_backend, gemm_f16),
    [VC_K_GEMM_BATCHED_F16] = offsetof(vc_backend, gemm_batched_f16),
    [VC_K_ROUND_F16] = offsetof(vc_backend, round_f16),
    [VC_K_LAYERNORM_FWD] = offsetof(vc_backend, layernorm_fwd),
    [VC_K_LAYERNORM_FWD_BF16] = offsetof(vc_backend, layernorm_fwd_bf16),
    [VC_K_LAYERNORM_BWD] = offsetof(vc_backend, layernorm_bwd),
    [VC_K_L2NORM_FWD] = offsetof(vc_backend, l2norm_fwd),
    [VC_K_L2NORM_BWD] = offsetof(vc_backend, l2norm_bwd),
    [VC_K_SOFTMAX_FWD] = offsetof(vc_backend, softmax_fwd),
    [VC_K_SOFTMAX_BWD] = offsetof(vc_backend, softmax_bwd),
    [VC_K_XENT_FWD] = offsetof(vc_backend, xent_fwd),
    [VC_K_XENT_BWD] = offsetof(vc_backend, xent_bwd),
    [VC_K_ATTENTION_FWD] = offsetof(vc_backend, attention_fwd),
    [VC_K_ATTENTION_BWD] = offsetof(vc_backend, attention_bwd),
    [VC_K_LSTM_FWD] = offsetof(vc_backend, lstm_fwd),
    [VC_K_LSTM_BWD] = offsetof(vc_backend, lstm_bwd),
    [VC_K_UNARY_FWD] = offsetof(vc_backend, unary_fwd),
    [VC_K_UNARY_FWD_BF16] = offsetof(vc_backend, unary_fwd_bf16),
    [VC_K_UNARY_FWD_BWD_BF16] = offsetof(vc_backend, unary_fwd_bwd_bf16),
    [VC_K_UNARY_BWD] = offsetof(vc_backend, unary_bwd),
    [VC_K_UNARY_BWD_INPLACE] = offsetof(vc_backend, unary_bwd_inplace),
    [VC_K_SCALE] = offsetof(vc_backend, scale),
    [VC_K_AXPBY] = offsetof(vc_backend, axpby),
    [VC_K_BINARY_FWD] = offsetof(vc_backend, binary_fwd),
    [VC_K_BINARY_BWD] = offsetof(vc_backend, binary_bwd),
    [VC_K_SUM_FWD] = offsetof(vc_backend, sum_fwd),
    [VC_K_SUM_BWD] = offsetof(vc_backend, sum_bwd),
    [VC_K_WSUM_FWD] = offsetof(vc_backend, wsum_fwd),
    [VC_K_WSUM_BWD] = offsetof(vc_backend, wsum_bwd),
    [VC_K_BIAS_FWD] = offsetof(vc_backend, bias_fwd),
    [VC_K_BIAS_BWD] = offsetof(vc_backend, bias_bwd),
    [VC_K_BIAS_BWD_ROUND_BF16] = offsetof(vc_backend, bias_bwd_round_bf16),
    [VC_K_STRIDED_COPY] = offsetof(vc_backend, strided_copy),
    [VC_K_SLAB_COPY] = offsetof(vc_backend, slab_copy),
    [VC_K_GATHER_FWD] = offsetof(vc_backend, gather_fwd),
    [VC_K_GATHER_BWD] = offsetof(vc_backend, gather_bwd),
    [VC_K_DROPOUT_FWD] = offsetof(vc_backend, dropout_fwd),
    [VC_K_DROPOUT_BWD] = offsetof(vc_backend, dropout_bwd),
    [VC_K_ADAMW] = offsetof(vc_backend, adamw),
    [VC_K_GLOBAL_NORM] = offsetof(vc_backend, global_norm),
    [VC_K_CLIP_SCALE] = offsetof(vc_backend, clip_scale),
    [VC_K_PATCHIFY] = offsetof(vc_backend, patchify),
    [VC_K_EMBED_PATCHES] = offsetof(vc_backend, embed_patches),
    [VC_K_EMBED_TOKENS] = offsetof(vc_backend, embed_tokens),
    [VC_K_RANK_TRUE] = offsetof(vc_backend, rank_true),
    [VC_K_RANK_OWNED] = offsetof(vc_backend, rank_owned),
};

bool vc_backend_fills(const vc_backend *be, vc_kop op) {
    if ((unsigned)op >= VC_K_COUNT || entry_of[op] == 0) return false;
    void (*fn)(void);
    memcpy(&fn, (const char *)be + entry_of[op], sizeof fn);
    return fn != NULL;
}
