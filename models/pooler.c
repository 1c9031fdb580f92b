/* Pooler dispatch: type names, defaults, size checks, the shared input and
 * output normalisation and the text head. */
#include <string.h>

#include "pooler_impl.h"

static const char *names[VC_POOL_NTYPES] = {"mean", "wavg", "mlp_mean", "transformer", "cross_attn", "lstm",
                                            "tokenlearner"};
static const vc_pool_impl *impls[VC_POOL_NTYPES] = {&vc_pool_mean_impl,        &vc_pool_wavg_impl,
                                                     &vc_pool_mlp_mean_impl,    &vc_pool_transformer_impl,
                                                     &vc_pool_cross_attn_impl,  &vc_pool_lstm_impl,
                                                     &vc_pool_tokenlearner_impl};

const char *vc_pool_type_name(vc_pool_type t) { return (unsigned)t < VC_POOL_NTYPES ? names[t] : "invalid"; }

vc_status vc_pool_type_parse(const char *s, vc_pool_type *out) {
    for (int i = 0; i < VC_POOL_NTYPES; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (vc_pool_type)i;
            return VC_OK;
        }
    return vc_fail(VC_ERR_ARG,
                   "unknown model type '%s' (one of mean, wavg, mlp_mean, transformer, cross_attn, lstm, tokenlearner)",
                   s);
}

void vc_pooler_cfg_default(vc_pooler_cfg *c, vc_pool_type type, int64_t dim) {
    memset(c, 0, sizeof *c);
    c->type = type;
    c->dim = dim;
    c->width = dim;
    c->layers = type == VC_POOL_TOKENLEARNER ? 1 : 2; /* the training sweep's choice, configs/README.md */
    c->heads = 8;
    c->mlp_ratio = 4;
    c->act = VC_ACT_GELU;
    c->tokens = 8;
    c->max_frames = 256;
    c->residual = true;
    c->mlp_layers = type == VC_POOL_CROSS_ATTN ? 0 : 1;
    c->hidden = 64;
    c->dropout = 0;
    c->text_head = false;
}

static vc_status check_cfg(const vc_pooler_cfg *c) {
    if ((unsigned)c->type >= VC_POOL_NTYPES) return vc_fail(VC_ERR_ARG, "model: invalid type %d", (int)c->type);
    const char *n = names[c->type];
    if (c->dim <= 0) return vc_fail(VC_ERR_ARG, "model %s: dim must be positive, got %lld", n, (long long)c->dim);
    bool attn = c->type == VC_POOL_TRANSFORMER || c->type == VC_POOL_CROSS_ATTN || c->type == VC_POOL_TOKENLEARNER;
    if (attn) {
        int64_t w = c->type == VC_POOL_TOKENLEARNER ? c->dim : c->width;
        if (w <= 0 || c->heads <= 0 || w % c->heads)
            return vc_fail(VC_ERR_ARG, "model %s: width %lld must be a positive multiple of heads %d", n,
                           (long long)w, c->heads);
        if (c->mlp_ratio <= 0) return vc_fail(VC_ERR_ARG, "model %s: mlp_ratio must be positive", n);
        if (c->layers < (c->type == VC_POOL_CROSS_ATTN ? 0 : 1) || c->layers > 64)
            return vc_fail(VC_ERR_ARG, "model %s: layers %d out of range", n, c->layers);
    }
    if ((c->type == VC_POOL_CROSS_ATTN || c->type == VC_POOL_TOKENLEARNER) && (c->tokens < 1 || c->tokens > 1024))
        return vc_fail(VC_ERR_ARG, "model %s: tokens %d out of range [1, 1024]", n, c->tokens);
    if ((c->type == VC_POOL_WAVG || c->type == VC_POOL_TRANSFORMER) && c->max_frames < 1)
        return vc_fail(VC_ERR_ARG, "model %s: max_frames must be positive", n);
    if (c->type == VC_POOL_MLP_MEAN && (c->mlp_layers < 1 || c->mlp_layers > 2))
        return vc_fail(VC_ERR_ARG, "model mlp_mean: mlp_layers must be 1 or 2, got %d", c->mlp_layers);
    if (c->type == VC_POOL_CROSS_ATTN && (c->mlp_layers < 0 || c->mlp_layers > 1))
        return vc_fail(VC_ERR_ARG, "model cross_attn: mlp_layers (the MLP head) must be 0 or 1, got %d",
                       c->mlp_layers);
    if (c->type == VC_POOL_TOKENLEARNER && c->hidden < 1)
        return vc_fail(VC_ERR_ARG, "model tokenlearner: hidden must be positive");
    if (!(c->dropout >= 0 && c->dropout < 1)) return vc_fail(VC_ERR_ARG, "model %s: dropout must be in [0, 1)", n);
    return VC_OK;
}

vc_status vc_pooler_init(vc_pooler *m, const vc_pooler_cfg *cfg, vc_params *ps, uint64_t seed) {
    vc_status s = check_cfg(cfg);
    if (s) return s;
    m->cfg = *cfg;
    if (cfg->type == VC_POOL_TOKENLEARNER) m->cfg.width = cfg->dim; /* its token blocks run at D */
    m->ps = ps;
    vc_rng r;
    vc_rng_seed(&r, seed);
    if ((s = impls[cfg->type]->init(m, &r))) return s;
    if (cfg->text_head) {
        /* identity, so training starts from CLIP's own text-video alignment */
        vc_var *w = vc_pp_const(m, 0, VC_DIMS(cfg->dim, cfg->dim), "text_head.weight");
        vc_var *b = vc_pp_const(m, 0, VC_DIMS(cfg->dim), "text_head.bias");
        if (!w || !b) return vc_last_status();
        for (int64_t i = 0; i < cfg->dim; i++) vc_f32(&w->val)[i * cfg->dim + i] = 1;
    }
    return VC_OK;
}

vc_var *vc_pooler_forward(vc_tape *t, const vc_pooler *m, vc_var *frames, const vc_tensor *lengths) {
    if (vc_tape_bad(t, 1, &frames)) return NULL;
    const vc_tensor *f = &frames->val;
    char s1[96];
    if (f->ndim != 3 || f->ne[2] != m->cfg.dim) {
        vc_fail(VC_ERR_SHAPE, "model %s: frames are %s, expected [B, T, %lld]", names[m->cfg.type],
                vc_shape_str(f, s1, sizeof s1), (long long)m->cfg.dim);
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    if (!lengths || (lengths->dtype != VC_I64 && lengths->dtype != VC_I32) || lengths->ndim != 1 ||
        lengths->ne[0] != f->ne[0]) {
        vc_fail(VC_ERR_SHAPE, "model %s: lengths must be an integer tensor [%lld]", names[m->cfg.type],
                (long long)f->ne[0]);
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    vc_var *x = vc_l2norm(t, frames, 1e-12f);
    vc_var *y = impls[m->cfg.type]->forward(t, m, x, lengths);
    return vc_l2norm(t, y, 1e-12f);
}

vc_var *vc_pooler_text(vc_tape *t, const vc_pooler *m, vc_var *text) {
    if (m->cfg.text_head) text = vc_pp_apply_linear(t, m, "text_head", text);
    return vc_l2norm(t, text, 1e-12f);
}
