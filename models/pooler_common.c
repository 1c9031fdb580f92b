/* Helpers shared by the poolers: named parameters, linear / LayerNorm /
 * activation application and the pre-LN transformer block. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pooler_impl.h"

static void pname(char *buf, size_t n, const char *fmt, va_list ap) {
    int o = snprintf(buf, n, "pooler.");
    vsnprintf(buf + o, n - (size_t)o, fmt, ap);
}

vc_var *vc_pp(const vc_pooler *m, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    pname(name, sizeof name, fmt, ap);
    va_end(ap);
    int i = vc_params_find(m->ps, name);
    if (i < 0) {
        vc_fail(VC_ERR_ARG, "model: parameter '%s' is missing", name);
        return NULL;
    }
    return m->ps->vars[i];
}

static vc_var *add(vc_pooler *m, bool decay, int ndim, const int64_t *shape, const char *fmt, va_list ap) {
    char name[128];
    pname(name, sizeof name, fmt, ap);
    return vc_params_add(m->ps, name, ndim, shape, decay);
}

vc_var *vc_pp_normal(vc_pooler *m, vc_rng *r, double std, bool decay, int ndim, const int64_t *shape,
                     const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vc_var *v = add(m, decay, ndim, shape, fmt, ap);
    va_end(ap);
    if (v)
        for (int64_t i = 0; i < vc_numel(&v->val); i++) vc_f32(&v->val)[i] = (vc_real)(std * vc_rng_normal(r));
    return v;
}

vc_var *vc_pp_const(vc_pooler *m, double value, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vc_var *v = add(m, ndim >= 2, ndim, shape, fmt, ap);
    va_end(ap);
    if (v) vc_tensor_fill(&v->val, (vc_real)value);
    return v;
}

vc_status vc_pp_linear(vc_pooler *m, vc_rng *r, const char *prefix, int64_t out, int64_t in) {
    if (!vc_pp_normal(m, r, 0.02, true, VC_DIMS(out, in), "%s.weight", prefix) ||
        !vc_pp_const(m, 0, VC_DIMS(out), "%s.bias", prefix))
        return vc_last_status();
    return VC_OK;
}

vc_status vc_pp_layernorm(vc_pooler *m, const char *prefix, int64_t dim) {
    if (!vc_pp_const(m, 1, VC_DIMS(dim), "%s.weight", prefix) || !vc_pp_const(m, 0, VC_DIMS(dim), "%s.bias", prefix))
        return vc_last_status();
    return VC_OK;
}

vc_status vc_pp_block(vc_pooler *m, vc_rng *r, const char *p, int64_t w, int mlp_ratio) {
    char b[96];
    vc_status s;
    snprintf(b, sizeof b, "%s.ln1", p);
    if ((s = vc_pp_layernorm(m, b, w))) return s;
    if (!vc_pp_normal(m, r, 0.02, true, VC_DIMS(3 * w, w), "%s.attn.in_proj_weight", p) ||
        !vc_pp_const(m, 0, VC_DIMS(3 * w), "%s.attn.in_proj_bias", p))
        return vc_last_status();
    snprintf(b, sizeof b, "%s.attn.out_proj", p);
    if ((s = vc_pp_linear(m, r, b, w, w))) return s;
    snprintf(b, sizeof b, "%s.ln2", p);
    if ((s = vc_pp_layernorm(m, b, w))) return s;
    snprintf(b, sizeof b, "%s.mlp.fc1", p);
    if ((s = vc_pp_linear(m, r, b, (int64_t)mlp_ratio * w, w))) return s;
    snprintf(b, sizeof b, "%s.mlp.fc2", p);
    return vc_pp_linear(m, r, b, w, (int64_t)mlp_ratio * w);
}

vc_status vc_pp_length_mask(vc_tape *t, const vc_tensor *len, int64_t B, int64_t T, vc_tensor *mask) {
    if (len->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "model: frame lengths must be a host tensor, got one on %s",
                       vc_device_name(len->device));
    /* made on the host, then one copy to the tape's device */
    vc_tensor h;
    vc_status s = vc_tensor_arena(&h, &t->host, VC_F32, VC_DIMS(B, T));
    if (s) return s;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = vc_int_at(len, b);
        for (int64_t j = 0; j < T; j++) vc_f32(&h)[b * T + j] = j < n ? 0 : -INFINITY;
    }
    return vc_tape_on_device(t, &h, mask);
}

/* A missing parameter is a programming error in a pooler; it still fails
 * the tape cleanly instead of crashing. */
static vc_var *need(vc_tape *t, vc_var *v) { return v ? v : vc_tape_fail(t, VC_ERR_ARG); }

vc_var *vc_pp_apply_linear(vc_tape *t, const vc_pooler *m, const char *prefix, vc_var *x) {
    vc_var *w = need(t, vc_pp(m, "%s.weight", prefix)), *b = need(t, vc_pp(m, "%s.bias", prefix));
    if (!w || !b) return NULL;
    return vc_linear(t, x, w, b);
}

vc_var *vc_pp_apply_layernorm(vc_tape *t, const vc_pooler *m, const char *prefix, vc_var *x) {
    vc_var *g = need(t, vc_pp(m, "%s.weight", prefix)), *b = need(t, vc_pp(m, "%s.bias", prefix));
    if (!g || !b) return NULL;
    return vc_layernorm(t, x, g, b, 1e-5f);
}

vc_var *vc_pp_act(vc_tape *t, const vc_pooler *m, vc_var *x) {
    return m->cfg.act == VC_ACT_QUICKGELU ? vc_quickgelu(t, x) : vc_gelu(t, x);
}

/* The block through vc_linear_fused: LayerNorm outputs and the MLP
 * activation are recomputed in the backward instead of stored, and the
 * residual adds happen inside the projections. Used when there is no
 * dropout to apply between a projection and its residual. */
static vc_var *block_fused(vc_tape *t, const vc_pooler *m, const char *p, vc_var *h, const vc_tensor *key_len) {
    int64_t w = m->cfg.width;
    vc_var *g1 = need(t, vc_pp(m, "%s.ln1.weight", p)), *b1 = need(t, vc_pp(m, "%s.ln1.bias", p));
    vc_var *wq = need(t, vc_pp(m, "%s.attn.in_proj_weight", p)), *bq = need(t, vc_pp(m, "%s.attn.in_proj_bias", p));
    vc_var *wo = need(t, vc_pp(m, "%s.attn.out_proj.weight", p)), *bo = need(t, vc_pp(m, "%s.attn.out_proj.bias", p));
    vc_var *g2 = need(t, vc_pp(m, "%s.ln2.weight", p)), *b2 = need(t, vc_pp(m, "%s.ln2.bias", p));
    vc_var *w1 = need(t, vc_pp(m, "%s.mlp.fc1.weight", p)), *c1 = need(t, vc_pp(m, "%s.mlp.fc1.bias", p));
    vc_var *w2 = need(t, vc_pp(m, "%s.mlp.fc2.weight", p)), *c2 = need(t, vc_pp(m, "%s.mlp.fc2.bias", p));
    if (!g1 || !b1 || !wq || !bq || !wo || !bo || !g2 || !b2 || !w1 || !c1 || !w2 || !c2) return NULL;
    vc_var *qkv = vc_linear_fused(t, h, VC_PRE_LAYERNORM, g1, b1, wq, bq, NULL);
    vc_var *ctx = vc_attention(t, qkv, 0, qkv, w, qkv, 2 * w, m->cfg.heads, w / m->cfg.heads, key_len, false);
    h = vc_linear_fused(t, ctx, VC_PRE_NONE, NULL, NULL, wo, bo, h);
    vc_var *f = vc_linear_fused(t, h, VC_PRE_LAYERNORM, g2, b2, w1, c1, NULL);
    vc_pre act = m->cfg.act == VC_ACT_QUICKGELU ? VC_PRE_QUICKGELU : VC_PRE_GELU;
    return vc_linear_fused(t, f, act, NULL, NULL, w2, c2, h);
}

vc_var *vc_pp_apply_block(vc_tape *t, const vc_pooler *m, const char *p, vc_var *h, const vc_tensor *key_len) {
    char b[96];
    int64_t w = m->cfg.width;
    float drop = m->cfg.dropout;
    if (drop == 0 || !t->training) return block_fused(t, m, p, h, key_len);
    snprintf(b, sizeof b, "%s.ln1", p);
    vc_var *a = vc_pp_apply_layernorm(t, m, b, h);
    vc_var *wq = need(t, vc_pp(m, "%s.attn.in_proj_weight", p)), *bq = need(t, vc_pp(m, "%s.attn.in_proj_bias", p));
    if (!wq || !bq) return NULL;
    vc_var *qkv = vc_linear(t, a, wq, bq);
    vc_var *ctx = vc_attention(t, qkv, 0, qkv, w, qkv, 2 * w, m->cfg.heads, w / m->cfg.heads, key_len, false);
    snprintf(b, sizeof b, "%s.attn.out_proj", p);
    h = vc_add(t, h, vc_dropout(t, vc_pp_apply_linear(t, m, b, ctx), drop));
    snprintf(b, sizeof b, "%s.ln2", p);
    vc_var *f = vc_pp_apply_layernorm(t, m, b, h);
    snprintf(b, sizeof b, "%s.mlp.fc1", p);
    f = vc_pp_act(t, m, vc_pp_apply_linear(t, m, b, f));
    snprintf(b, sizeof b, "%s.mlp.fc2", p);
    return vc_add(t, h, vc_dropout(t, vc_pp_apply_linear(t, m, b, f), drop));
}
