/* pooler_impl.h: what the pooler files share (not a public header):
 * parameter creation and lookup by name, the activation switch, the
 * pre-LN transformer block and key-padding masks. */
#ifndef VC_POOLER_IMPL_H
#define VC_POOLER_IMPL_H

#include "pooler.h"
#include "tensor/rng.h"

/* "pooler." + printf-formatted rest; NULL (message set) if absent. */
vc_var *vc_pp(const vc_pooler *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parameter creation under "pooler." (the name is printf-formatted); NULL on failure, with
 * the message stored (vc_last_status() gives its code). */
vc_var *vc_pp_normal(vc_pooler *m, vc_rng *r, double std, bool decay, int ndim, const int64_t *shape,
                     const char *fmt, ...) __attribute__((format(printf, 7, 8)));
vc_var *vc_pp_const(vc_pooler *m, double value, int ndim, const int64_t *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* prefix.weight [out, in] ~ N(0, 0.02), prefix.bias [out] = 0 */
vc_status vc_pp_linear(vc_pooler *m, vc_rng *r, const char *prefix, int64_t out, int64_t in);
/* prefix.weight = 1, prefix.bias = 0 */
vc_status vc_pp_layernorm(vc_pooler *m, const char *prefix, int64_t dim);
/* pre-LN block (prefix.ln1, .attn.in_proj_weight/_bias, .attn.out_proj, .ln2, .mlp.fc1, .mlp.fc2) */
vc_status vc_pp_block(vc_pooler *m, vc_rng *r, const char *prefix, int64_t width, int mlp_ratio);

vc_var *vc_pp_apply_linear(vc_tape *t, const vc_pooler *m, const char *prefix, vc_var *x);
vc_var *vc_pp_apply_layernorm(vc_tape *t, const vc_pooler *m, const char *prefix, vc_var *x);
vc_var *vc_pp_act(vc_tape *t, const vc_pooler *m, vc_var *x);
/* h [B, T, W] -> h + Attn(LN1(h)); h + MLP(LN2(h)). key_len masks keys (NULL: none). */
vc_var *vc_pp_apply_block(vc_tape *t, const vc_pooler *m, const char *prefix, vc_var *h, const vc_tensor *key_len);

/* Additive mask [B, T] from lengths: 0 at valid positions, -inf after. */
vc_status vc_pp_length_mask(vc_tape *t, const vc_tensor *len, int64_t B, int64_t T, vc_tensor *mask);

/* Per-type hooks, one file each (pool_*.c). */
typedef struct {
    vc_status (*init)(vc_pooler *m, vc_rng *r);
    /* x: L2-normalised frames [B, T, D]; returns the pooled [B, D] before the
     * final normalisation. */
    vc_var *(*forward)(vc_tape *t, const vc_pooler *m, vc_var *x, const vc_tensor *lengths);
} vc_pool_impl;

extern const vc_pool_impl vc_pool_mean_impl, vc_pool_wavg_impl, vc_pool_mlp_mean_impl, vc_pool_transformer_impl,
    vc_pool_cross_attn_impl, vc_pool_lstm_impl, vc_pool_tokenlearner_impl;

#endif
