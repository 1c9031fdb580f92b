/* CLIP weights: the two naming schemes, the architecture read from shapes,
 * loading (with q/k/v packing and projection transposes), random
 * initialisation and saving. The forward passes are in clip.c. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "tensor/device.h"
#include "tensor/rng.h"
#include "tensor/safetensors.h"

/* ------------------------------------------------------------------------ */
/* Names                                                                      */

typedef struct {
    const char *scheme; /* for messages */
    /* image tower */
    const char *patch, *cls, *vpos, *ln_pre, *vblocks, *ln_post, *vproj;
    /* text tower */
    const char *tok, *tpos, *tblocks, *ln_final, *tproj;
    /* block fields, after "<blocks>N." */
    const char *ln1, *ln2, *out, *fc1, *fc2;
    const char *in_w, *in_b; /* OpenAI: packed in_proj */
    const char *q, *k, *v;   /* Hugging Face: separate Linears */
    bool proj_right;         /* projections stored [W, E] (multiplied on the right) */
} clip_names;

static const clip_names NAMES[2] = {
    [VC_CLIP_NAMES_OPENAI] = {
        .scheme = "OpenAI/open_clip",
        .patch = "visual.conv1.weight", .cls = "visual.class_embedding", .vpos = "visual.positional_embedding",
        .ln_pre = "visual.ln_pre", .vblocks = "visual.transformer.resblocks.", .ln_post = "visual.ln_post",
        .vproj = "visual.proj",
        .tok = "token_embedding.weight", .tpos = "positional_embedding", .tblocks = "transformer.resblocks.",
        .ln_final = "ln_final", .tproj = "text_projection",
        .ln1 = "ln_1", .ln2 = "ln_2", .out = "attn.out_proj", .fc1 = "mlp.c_fc", .fc2 = "mlp.c_proj",
        .in_w = "attn.in_proj_weight", .in_b = "attn.in_proj_bias",
        .proj_right = true,
    },
    [VC_CLIP_NAMES_HF] = {
        .scheme = "Hugging Face",
        .patch = "vision_model.embeddings.patch_embedding.weight",
        .cls = "vision_model.embeddings.class_embedding",
        .vpos = "vision_model.embeddings.position_embedding.weight",
        .ln_pre = "vision_model.pre_layrnorm", /* sic: Hugging Face's spelling */
        .vblocks = "vision_model.encoder.layers.", .ln_post = "vision_model.post_layernorm",
        .vproj = "visual_projection.weight",
        .tok = "text_model.embeddings.token_embedding.weight",
        .tpos = "text_model.embeddings.position_embedding.weight", .tblocks = "text_model.encoder.layers.",
        .ln_final = "text_model.final_layer_norm", .tproj = "text_projection.weight",
        .ln1 = "layer_norm1", .ln2 = "layer_norm2", .out = "self_attn.out_proj", .fc1 = "mlp.fc1", .fc2 = "mlp.fc2",
        .q = "self_attn.q_proj", .k = "self_attn.k_proj", .v = "self_attn.v_proj",
        .proj_right = false,
    },
};

vc_status vc_clip_act_parse(const char *s, vc_clip_act *out) {
    if (s && strcmp(s, "quickgelu") == 0) *out = VC_CLIP_QUICKGELU;
    else if (s && strcmp(s, "gelu") == 0) *out = VC_CLIP_GELU;
    else return vc_fail(VC_ERR_ARG, "clip: activation '%s' is not 'quickgelu' (OpenAI weights) or 'gelu' (most LAION "
                                    "weights)", s ? s : "(null)");
    return VC_OK;
}

const char *vc_clip_act_name(vc_clip_act a) { return a == VC_CLIP_GELU ? "gelu" : "quickgelu"; }

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                   */

static void block_free(vc_clip_block *b) {
    vc_tensor *ts[] = {&b->ln1_g, &b->ln1_b, &b->qkv_w, &b->qkv_b, &b->out_w, &b->out_b,
                       &b->ln2_g, &b->ln2_b, &b->fc1_w, &b->fc1_b, &b->fc2_w, &b->fc2_b};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) vc_tensor_release(ts[i]);
}

void vc_clip_free(vc_clip *m) {
    if (!m) return;
    vc_tensor *ts[] = {&m->patch_w, &m->class_emb, &m->vpos,       &m->ln_pre_g,   &m->ln_pre_b,
                       &m->ln_post_g, &m->ln_post_b, &m->vproj,    &m->tok_emb,    &m->tpos,
                       &m->ln_final_g, &m->ln_final_b, &m->tproj};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) vc_tensor_release(ts[i]);
    if (m->vblocks)
        for (int64_t i = 0; i < m->cfg.vision.layers; i++) block_free(&m->vblocks[i]);
    if (m->tblocks)
        for (int64_t i = 0; i < m->cfg.text.layers; i++) block_free(&m->tblocks[i]);
    free(m->vblocks);
    free(m->tblocks);
    memset(m, 0, sizeof *m);
}

/* Calls fn on every tensor of the model with its role, in a fixed order:
 * the one walk behind allocation, random init, counting and saving. */
typedef enum { R_WEIGHT, R_BIAS, R_GAIN, R_EMBED } role;
typedef vc_status (*visit_fn)(void *ctx, vc_tensor *t, role r, int ndim, const int64_t *shape);

static vc_status visit_block(vc_clip_block *b, const vc_clip_tower *d, visit_fn fn, void *ctx) {
    int64_t W = d->width, M = d->mlp;
    vc_status s;
    if ((s = fn(ctx, &b->ln1_g, R_GAIN, VC_DIMS(W))) || (s = fn(ctx, &b->ln1_b, R_BIAS, VC_DIMS(W))) ||
        (s = fn(ctx, &b->qkv_w, R_WEIGHT, VC_DIMS(3 * W, W))) || (s = fn(ctx, &b->qkv_b, R_BIAS, VC_DIMS(3 * W))) ||
        (s = fn(ctx, &b->out_w, R_WEIGHT, VC_DIMS(W, W))) || (s = fn(ctx, &b->out_b, R_BIAS, VC_DIMS(W))) ||
        (s = fn(ctx, &b->ln2_g, R_GAIN, VC_DIMS(W))) || (s = fn(ctx, &b->ln2_b, R_BIAS, VC_DIMS(W))) ||
        (s = fn(ctx, &b->fc1_w, R_WEIGHT, VC_DIMS(M, W))) || (s = fn(ctx, &b->fc1_b, R_BIAS, VC_DIMS(M))) ||
        (s = fn(ctx, &b->fc2_w, R_WEIGHT, VC_DIMS(W, M))) || (s = fn(ctx, &b->fc2_b, R_BIAS, VC_DIMS(W))))
        return s;
    return VC_OK;
}

static vc_status visit_all(vc_clip *m, visit_fn fn, void *ctx) {
    const vc_clip_cfg *c = &m->cfg;
    vc_status s;
    if (c->towers & VC_CLIP_VISION) {
        int64_t W = c->vision.width, p = c->patch;
        if ((s = fn(ctx, &m->patch_w, R_WEIGHT, VC_DIMS(W, 3 * p * p))) ||
            (s = fn(ctx, &m->class_emb, R_EMBED, VC_DIMS(W))) ||
            (s = fn(ctx, &m->vpos, R_EMBED, VC_DIMS(1 + c->grid * c->grid, W))) ||
            (s = fn(ctx, &m->ln_pre_g, R_GAIN, VC_DIMS(W))) || (s = fn(ctx, &m->ln_pre_b, R_BIAS, VC_DIMS(W))))
            return s;
        for (int64_t i = 0; i < c->vision.layers; i++)
            if ((s = visit_block(&m->vblocks[i], &c->vision, fn, ctx))) return s;
        if ((s = fn(ctx, &m->ln_post_g, R_GAIN, VC_DIMS(W))) || (s = fn(ctx, &m->ln_post_b, R_BIAS, VC_DIMS(W))) ||
            (s = fn(ctx, &m->vproj, R_WEIGHT, VC_DIMS(c->embed, W))))
            return s;
    }
    if (c->towers & VC_CLIP_TEXT) {
        int64_t W = c->text.width;
        if ((s = fn(ctx, &m->tok_emb, R_EMBED, VC_DIMS(c->vocab, W))) ||
            (s = fn(ctx, &m->tpos, R_EMBED, VC_DIMS(c->context, W))))
            return s;
        for (int64_t i = 0; i < c->text.layers; i++)
            if ((s = visit_block(&m->tblocks[i], &c->text, fn, ctx))) return s;
        if ((s = fn(ctx, &m->ln_final_g, R_GAIN, VC_DIMS(W))) || (s = fn(ctx, &m->ln_final_b, R_BIAS, VC_DIMS(W))) ||
            (s = fn(ctx, &m->tproj, R_WEIGHT, VC_DIMS(c->embed, W))))
            return s;
    }
    return VC_OK;
}

static vc_status alloc_one(void *ctx, vc_tensor *t, role r, int ndim, const int64_t *shape) {
    (void)ctx;
    (void)r;
    return vc_tensor_alloc(t, VC_F32, ndim, shape);
}

static vc_status count_one(void *ctx, vc_tensor *t, role r, int ndim, const int64_t *shape) {
    (void)r;
    (void)ndim;
    (void)shape;
    *(int64_t *)ctx += vc_numel(t);
    return VC_OK;
}

/* Block arrays and every tensor of cfg's shape, zeroed. */
static vc_status alloc_model(vc_clip *m, const vc_clip_cfg *cfg) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    if (cfg->towers & VC_CLIP_VISION) m->vblocks = calloc((size_t)cfg->vision.layers + 1, sizeof *m->vblocks);
    if (cfg->towers & VC_CLIP_TEXT) m->tblocks = calloc((size_t)cfg->text.layers + 1, sizeof *m->tblocks);
    if (((cfg->towers & VC_CLIP_VISION) && !m->vblocks) || ((cfg->towers & VC_CLIP_TEXT) && !m->tblocks)) {
        vc_clip_free(m);
        return vc_fail(VC_ERR_OOM, "clip: out of memory for the block list");
    }
    vc_status s = visit_all(m, alloc_one, NULL);
    if (s) vc_clip_free(m);
    return s;
}

static vc_dtype storage_of(vc_precision p) {
    return p == VC_PREC_BF16 ? VC_BF16 : p == VC_PREC_FP16 ? VC_F16 : VC_F32;
}

/* n values of type `from` (F32, BF16, F16) as type `to` into dst (host). */
static void convert_host(void *dst, vc_dtype to, const void *src, vc_dtype from, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = from == VC_F32 ? ((const float *)src)[i]
                  : from == VC_BF16 ? vc_bf16_to_f32(((const uint16_t *)src)[i])
                                    : vc_f16_to_f32(((const uint16_t *)src)[i]);
        if (to == VC_F32) ((float *)dst)[i] = v;
        else ((uint16_t *)dst)[i] = to == VC_BF16 ? vc_f32_to_bf16(v) : vc_f32_to_f16(v);
    }
}

/* A weight matrix converted to the storage type of ctx's precision, where
 * it lies (a device copy goes through the host). */
static vc_status convert_one(void *ctx, vc_tensor *t, role r, int ndim, const int64_t *shape) {
    (void)ndim;
    (void)shape;
    vc_dtype want = storage_of(*(const vc_precision *)ctx);
    if (r != R_WEIGHT || t->dtype == want) return VC_OK;
    const vc_backend *be = vc_backend_for(t->device);
    int64_t k = vc_numel(t);
    size_t in_bytes = (size_t)k * vc_dtype_size(t->dtype), out_bytes = (size_t)k * vc_dtype_size(want);
    void *host_in = t->device == VC_CPU ? t->data : malloc(in_bytes ? in_bytes : 1);
    void *host_out = malloc(out_bytes ? out_bytes : 1);
    void *dev = be ? be->mem_alloc(out_bytes) : NULL;
    if (!host_in || !host_out || !dev) {
        if (host_in != t->data) free(host_in);
        free(host_out);
        if (be) be->mem_free(dev);
        return vc_fail(VC_ERR_OOM, "clip: out of memory converting a [%lld, %lld] matrix to %s on %s",
                       (long long)t->ne[0], (long long)t->ne[1], vc_dtype_name(want), vc_device_name(t->device));
    }
    if (host_in != t->data) be->copy_d2h(host_in, t->data, in_bytes);
    convert_host(host_out, want, host_in, t->dtype, k);
    be->copy_h2d(dev, host_out, out_bytes);
    if (host_in != t->data) free(host_in);
    free(host_out);
    vc_tensor n = *t;
    n.dtype = want;
    n.data = n.owned = dev; /* same shape and element strides */
    vc_tensor_release(t);
    *t = n;
    return VC_OK;
}

vc_status vc_clip_set_precision(vc_clip *m, vc_precision p) {
    if (!m) return vc_fail(VC_ERR_ARG, "clip: NULL model");
    if (p != VC_PREC_FP32 && p != VC_PREC_BF16 && p != VC_PREC_FP16)
        return vc_fail(VC_ERR_ARG, "clip: bad precision %d", (int)p);
    vc_precision on = vc_precision_on(vc_backend_for(m->device), p);
    m->asked = p;
    vc_status s = visit_all(m, convert_one, &on);
    if (s) { /* a half-converted model still computes: each product reads its own matrix's type */
        vc_precision back = m->precision;
        visit_all(m, convert_one, &back);
        return s;
    }
    m->precision = on;
    return VC_OK;
}

/* Every kernel the towers' forwards run (clip.c; the products in bf16 or
 * fp16 fall back to gemm where a backend lacks them). */
static const int clip_kernels[] = {VC_K_PATCHIFY,      VC_K_EMBED_PATCHES, VC_K_EMBED_TOKENS, VC_K_LAYERNORM_FWD,
                                   VC_K_BIAS_FWD,      VC_K_GEMM,          VC_K_ATTENTION_FWD, VC_K_UNARY_FWD,
                                   VC_K_GATHER_FWD};

/* One tensor into device memory of the backend ctx (host memory freed). */
static vc_status move_one(void *ctx, vc_tensor *t, role r, int ndim, const int64_t *shape) {
    (void)r;
    (void)ndim;
    (void)shape;
    const vc_backend *be = ctx;
    if (t->device == be->device) return VC_OK;
    size_t bytes = vc_nbytes(t);
    void *d = be->mem_alloc(bytes);
    if (!d)
        return vc_fail(VC_ERR_OOM, "clip: out of %s memory for a %s tensor of %zu bytes", be->name,
                       vc_dtype_name(t->dtype), bytes);
    be->copy_h2d(d, t->data, bytes);
    vc_tensor n = *t;
    n.device = be->device;
    n.data = n.owned = d;
    vc_tensor_release(t);
    *t = n;
    return VC_OK;
}

vc_status vc_clip_to_device(vc_clip *m, vc_device d) {
    if (!m) return vc_fail(VC_ERR_ARG, "clip: NULL model");
    if (m->device == d) return VC_OK;
    if (m->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "clip: the model is on %s already; it moves only from the cpu",
                       vc_device_name(m->device));
    const vc_backend *be;
    vc_status s = vc_backend_get(d, &be);
    if (!s) s = vc_device_require(d, clip_kernels, (int)(sizeof clip_kernels / sizeof clip_kernels[0]),
                                  "the CLIP towers");
    if (s) return s;
    /* the storage precision is the device's: bf16/fp16 asked of a CPU that
     * fell back to fp32 are asked again here */
    vc_precision asked = m->asked;
    vc_precision on = vc_precision_on(be, asked);
    if (on != m->precision && (s = visit_all(m, convert_one, &on))) return s;
    m->precision = on;
    if ((s = visit_all(m, move_one, (void *)be))) return s; /* vc_clip_free frees both kinds */
    m->device = d;
    if (be->device != VC_CPU) be->sync();
    return VC_OK;
}

int64_t vc_clip_numel(const vc_clip *m) {
    int64_t n = 0;
    visit_all((vc_clip *)m, count_one, &n);
    return n;
}

static vc_status check_tower(const char *what, const vc_clip_tower *d) {
    if (d->width < 1 || d->layers < 1 || d->heads < 1 || d->mlp < 1 || d->width % d->heads)
        return vc_fail(VC_ERR_ARG, "clip: the %s tower needs positive width, layers, heads and MLP width with heads "
                                   "dividing the width (got width %lld, layers %lld, heads %lld, mlp %lld)",
                       what, (long long)d->width, (long long)d->layers, (long long)d->heads, (long long)d->mlp);
    return VC_OK;
}

static vc_status check_cfg(const vc_clip_cfg *c) {
    vc_status s;
    if (!(c->towers & VC_CLIP_BOTH) || c->towers & ~VC_CLIP_BOTH)
        return vc_fail(VC_ERR_ARG, "clip: towers must be VC_CLIP_VISION, VC_CLIP_TEXT or both (got %d)", c->towers);
    if (c->embed < 1) return vc_fail(VC_ERR_ARG, "clip: embedding width %lld must be positive", (long long)c->embed);
    if (c->towers & VC_CLIP_VISION) {
        if (c->patch < 1 || c->image_size < c->patch || c->image_size % c->patch)
            return vc_fail(VC_ERR_ARG, "clip: image size %lld is not a positive multiple of the patch size %lld",
                           (long long)c->image_size, (long long)c->patch);
        if ((s = check_tower("image", &c->vision))) return s;
    }
    if (c->towers & VC_CLIP_TEXT) {
        if (c->context < 1 || c->vocab < 1)
            return vc_fail(VC_ERR_ARG, "clip: context %lld and vocabulary %lld must be positive",
                           (long long)c->context, (long long)c->vocab);
        if ((s = check_tower("text", &c->text))) return s;
    }
    return VC_OK;
}

/* ------------------------------------------------------------------------ */
/* Random weights                                                             */

typedef struct {
    vc_rng rng;
} rand_ctx;

static vc_status rand_one(void *ctx, vc_tensor *t, role r, int ndim, const int64_t *shape) {
    vc_rng *g = &((rand_ctx *)ctx)->rng;
    int64_t n = vc_numel(t);
    /* Linear weights scaled by 1/sqrt(fan_in) keep activations O(1) at any width. */
    double std = r == R_WEIGHT ? 1.0 / sqrt((double)shape[ndim - 1]) : r == R_EMBED ? 0.5 : 0.05;
    double mean = r == R_GAIN ? 1.0 : 0.0;
    if (r == R_GAIN) std = 0.1;
    for (int64_t i = 0; i < n; i++) vc_f32(t)[i] = (vc_real)(mean + std * vc_rng_normal(g));
    return VC_OK;
}

vc_status vc_clip_init_random(vc_clip *m, const vc_clip_cfg *cfg, uint64_t seed) {
    vc_clip_cfg c = *cfg;
    if (c.patch > 0) c.grid = c.image_size / c.patch;
    vc_status s = check_cfg(&c);
    if (s) return s;
    if ((s = alloc_model(m, &c))) return s;
    rand_ctx rc;
    vc_rng_seed(&rc.rng, seed);
    return visit_all(m, rand_one, &rc);
}

void vc_clip_cfg_vit_b32(vc_clip_cfg *cfg, vc_clip_act act) {
    memset(cfg, 0, sizeof *cfg);
    cfg->towers = VC_CLIP_BOTH;
    cfg->act = act;
    cfg->embed = 512;
    cfg->image_size = 224;
    cfg->patch = 32;
    cfg->grid = 7;
    cfg->vision = (vc_clip_tower){768, 12, 12, 3072};
    cfg->context = 77;
    cfg->vocab = 49408;
    cfg->text = (vc_clip_tower){512, 12, 8, 2048};
}

const char *vc_clip_describe(const vc_clip_cfg *c, char *buf, int len) {
    int o = 0;
    buf[0] = 0;
    if (c->towers & VC_CLIP_VISION)
        o += snprintf(buf + o, (size_t)(len - o), "vision %lld/%lld w%lld x%lld h%lld mlp%lld; ",
                      (long long)c->image_size, (long long)c->patch, (long long)c->vision.width,
                      (long long)c->vision.layers, (long long)c->vision.heads, (long long)c->vision.mlp);
    if (o < len && c->towers & VC_CLIP_TEXT)
        o += snprintf(buf + o, (size_t)(len - o), "text %lldx%lld w%lld x%lld h%lld mlp%lld; ",
                      (long long)c->context, (long long)c->vocab, (long long)c->text.width,
                      (long long)c->text.layers, (long long)c->text.heads, (long long)c->text.mlp);
    if (o < len) snprintf(buf + o, (size_t)(len - o), "embed %lld %s", (long long)c->embed, vc_clip_act_name(c->act));
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                    */

typedef struct {
    const vc_st_file *f;
    const char *path;
    const clip_names *nm;
} loader;

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

static const vc_st_tensor *need(const loader *L, const char *name) {
    const vc_st_tensor *t = vc_st_find(L->f, name);
    if (!t)
        vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' is missing (the %s-named CLIP checkpoint needs it)", L->path, name,
                L->nm->scheme);
    return t;
}

/* The stored tensor `name` with ndim dims (for reading sizes off it). */
static const vc_st_tensor *need_ndim(const loader *L, const char *name, int ndim) {
    const vc_st_tensor *t = need(L, name);
    char b[96];
    if (t && t->ndim != ndim) {
        vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' is %s; a CLIP checkpoint has %d dimensions there", L->path, name,
                shape_str(t->ndim, t->shape, b, sizeof b), ndim);
        return NULL;
    }
    return t;
}

/* Loads `name` into dst (float32, allocated), requiring the shape dst has. */
static vc_status load_into(const loader *L, const char *name, vc_tensor *dst, const char *why) {
    const vc_st_tensor *t = need(L, name);
    if (!t) return vc_last_status(); /* need() stored the message */
    bool same = t->ndim == dst->ndim;
    for (int i = 0; same && i < dst->ndim; i++) same = t->shape[i] == dst->ne[i];
    if (!same) {
        char b1[96], b2[96];
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' is %s but %s needs %s", L->path, name,
                       shape_str(t->ndim, t->shape, b1, sizeof b1), why, vc_shape_str(dst, b2, sizeof b2));
    }
    vc_status s = vc_st_load_f32(L->f, name, dst);
    /* a damaged checkpoint shows here, not as NaN embeddings much later */
    return s ? s : vc_st_check_finite(L->path, name, vc_f32(dst), (size_t)vc_numel(dst));
}

/* Loads a tensor stored with another (same-size) shape: a 4-D conv weight
 * into a 2-D matrix, an [W, E] projection transposed into [E, W]. */
static vc_status load_as(const loader *L, const char *name, vc_tensor *dst, int ndim, const int64_t *shape,
                         bool transpose, const char *why) {
    vc_tensor tmp;
    vc_status s = vc_tensor_alloc(&tmp, VC_F32, ndim, shape);
    if (s) return s;
    if (!(s = load_into(L, name, &tmp, why))) {
        if (transpose) {
            int64_t R = tmp.ne[0], C = tmp.ne[1];
            for (int64_t i = 0; i < R; i++)
                for (int64_t j = 0; j < C; j++) vc_f32(dst)[j * R + i] = vc_f32(&tmp)[i * C + j];
        } else {
            memcpy(dst->data, tmp.data, vc_nbytes(dst));
        }
    }
    vc_tensor_release(&tmp);
    return s;
}

/* Loads rows [r0, r0 + n) of dst (2-D or 1-D) from tensor `name`. */
static vc_status load_rows(const loader *L, const char *name, vc_tensor *dst, int64_t r0, int64_t n, const char *why) {
    vc_tensor view;
    int64_t row = dst->ndim == 2 ? dst->ne[1] : 1;
    vc_status s = dst->ndim == 2 ? vc_tensor_wrap(&view, vc_f32(dst) + r0 * row, VC_F32, VC_DIMS(n, row))
                                 : vc_tensor_wrap(&view, vc_f32(dst) + r0, VC_F32, VC_DIMS(n));
    return s ? s : load_into(L, name, &view, why);
}

static vc_status load_ln(const loader *L, const char *prefix, vc_tensor *g, vc_tensor *b, const char *why) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", prefix);
    vc_status s = load_into(L, n, g, why);
    if (s) return s;
    snprintf(n, sizeof n, "%s.bias", prefix);
    return load_into(L, n, b, why);
}

static vc_status load_linear(const loader *L, const char *prefix, vc_tensor *w, vc_tensor *b, const char *why) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", prefix);
    vc_status s = load_into(L, n, w, why);
    if (s) return s;
    snprintf(n, sizeof n, "%s.bias", prefix);
    return load_into(L, n, b, why);
}

static vc_status load_block(const loader *L, const char *blocks, int64_t i, vc_clip_block *b, int64_t W,
                            const char *why) {
    const clip_names *nm = L->nm;
    char p[96], n[128];
    vc_status s;
    snprintf(p, sizeof p, "%s%lld.", blocks, (long long)i);
#define NAME(field) (snprintf(n, sizeof n, "%s%s", p, field), n)
    if ((s = load_ln(L, NAME(nm->ln1), &b->ln1_g, &b->ln1_b, why))) return s;
    if (nm->in_w) {
        if ((s = load_into(L, NAME(nm->in_w), &b->qkv_w, why)) || (s = load_into(L, NAME(nm->in_b), &b->qkv_b, why)))
            return s;
    } else {
        const char *parts[3] = {nm->q, nm->k, nm->v};
        for (int j = 0; j < 3; j++) {
            char w[160];
            snprintf(w, sizeof w, "%s%s.weight", p, parts[j]);
            if ((s = load_rows(L, w, &b->qkv_w, j * W, W, why))) return s;
            snprintf(w, sizeof w, "%s%s.bias", p, parts[j]);
            if ((s = load_rows(L, w, &b->qkv_b, j * W, W, why))) return s;
        }
    }
    if ((s = load_linear(L, NAME(nm->out), &b->out_w, &b->out_b, why)) ||
        (s = load_ln(L, NAME(nm->ln2), &b->ln2_g, &b->ln2_b, why)) ||
        (s = load_linear(L, NAME(nm->fc1), &b->fc1_w, &b->fc1_b, why)) ||
        (s = load_linear(L, NAME(nm->fc2), &b->fc2_w, &b->fc2_b, why)))
        return s;
#undef NAME
    return VC_OK;
}

/* Blocks are counted by the largest index N of any "<prefix>N." name, so a
 * gap (a missing block) becomes a missing-tensor error, not a shorter model. */
static int64_t count_blocks(const vc_st_file *f, const char *prefix) {
    size_t pl = strlen(prefix);
    int64_t n = 0;
    for (int i = 0; i < vc_st_count(f); i++) {
        const char *name = vc_st_at(f, i)->name;
        if (strncmp(name, prefix, pl) != 0 || !isdigit((unsigned char)name[pl])) continue;
        char *end;
        long long k = strtoll(name + pl, &end, 10);
        if (*end == '.' && k >= 0 && k < 100000 && k + 1 > n) n = k + 1;
    }
    return n;
}

static vc_status heads_for(const char *path, const char *what, int64_t width, int override, int64_t *heads) {
    if (override < 0) return vc_fail(VC_ERR_ARG, "clip: %s heads %d must be positive", what, override);
    if (override) {
        if (width % override)
            return vc_fail(VC_ERR_ARG, "%s: the %s tower is %lld wide, which %d heads do not divide", path, what,
                           (long long)width, override);
        *heads = override;
        return VC_OK;
    }
    /* open_clip's ViT-H/14, ViT-g/14 and ViT-bigG/14 image towers use 16 wider
     * heads (80, 88 and 104 wide); their text towers keep 64-wide heads. */
    if (strcmp(what, "image") == 0 && (width == 1280 || width == 1408 || width == 1664)) {
        *heads = 16;
        return VC_OK;
    }
    if (width % VC_CLIP_HEAD_WIDTH)
        return vc_fail(VC_ERR_ARG, "%s: the %s tower is %lld wide, not a multiple of the %d-wide heads released CLIPs "
                                   "use; give its head count explicitly", path, what, (long long)width,
                       VC_CLIP_HEAD_WIDTH);
    *heads = width / VC_CLIP_HEAD_WIDTH;
    return VC_OK;
}

/* Reads the vision architecture off the tensor shapes into c. */
static vc_status read_vision_cfg(const loader *L, const vc_clip_opts *o, vc_clip_cfg *c) {
    const clip_names *nm = L->nm;
    char b[96], n[320];
    const vc_st_tensor *conv = need_ndim(L, nm->patch, 4);
    if (!conv) return vc_last_status();
    int64_t W = conv->shape[0], p = conv->shape[2];
    if (conv->shape[1] != 3 || conv->shape[3] != p || W < 1 || p < 1)
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' is %s; the patch embedding is [width, 3, patch, patch]", L->path,
                       nm->patch, shape_str(4, conv->shape, b, sizeof b));
    const vc_st_tensor *pos = need_ndim(L, nm->vpos, 2);
    if (!pos) return vc_last_status();
    int64_t T = pos->shape[0], G = (int64_t)llround(sqrt((double)(T > 1 ? T - 1 : 0)));
    if (T < 2 || G * G != T - 1 || pos->shape[1] != W)
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' is %s; the image tower needs [1 + grid*grid, %lld]", L->path,
                       nm->vpos, shape_str(2, pos->shape, b, sizeof b), (long long)W);
    int64_t layers = count_blocks(L->f, nm->vblocks);
    if (!layers)
        return vc_fail(VC_ERR_FORMAT, "%s: no image tower blocks ('%sN.*' tensors) in this %s-named checkpoint",
                       L->path, nm->vblocks, nm->scheme);
    snprintf(n, sizeof n, "%s0.%s.weight", nm->vblocks, nm->fc1);
    const vc_st_tensor *fc1 = need_ndim(L, n, 2);
    if (!fc1) return vc_last_status();
    const vc_st_tensor *proj = need_ndim(L, nm->vproj, 2);
    if (!proj) return vc_last_status();
    c->image_size = G * p;
    c->patch = p;
    c->grid = G;
    c->vision.width = W;
    c->vision.layers = layers;
    c->vision.mlp = fc1->shape[0];
    c->embed = proj->shape[nm->proj_right ? 1 : 0];
    return heads_for(L->path, "image", W, o->vision_heads, &c->vision.heads);
}

static vc_status read_text_cfg(const loader *L, const vc_clip_opts *o, vc_clip_cfg *c) {
    const clip_names *nm = L->nm;
    char n[320];
    const vc_st_tensor *tok = need_ndim(L, nm->tok, 2), *pos = tok ? need_ndim(L, nm->tpos, 2) : NULL;
    if (!tok || !pos) return vc_last_status();
    int64_t layers = count_blocks(L->f, nm->tblocks);
    if (!layers)
        return vc_fail(VC_ERR_FORMAT, "%s: no text tower blocks ('%sN.*' tensors) in this %s-named checkpoint",
                       L->path, nm->tblocks, nm->scheme);
    snprintf(n, sizeof n, "%s0.%s.weight", nm->tblocks, nm->fc1);
    const vc_st_tensor *fc1 = need_ndim(L, n, 2), *proj = fc1 ? need_ndim(L, nm->tproj, 2) : NULL;
    if (!fc1 || !proj) return vc_last_status();
    int64_t E = proj->shape[nm->proj_right ? 1 : 0];
    if ((c->towers & VC_CLIP_VISION) && E != c->embed) {
        char b[96];
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' is %s: its embedding width %lld differs from the image "
                                     "tower's %lld", L->path, nm->tproj, shape_str(2, proj->shape, b, sizeof b),
                       (long long)E, (long long)c->embed);
    }
    c->vocab = tok->shape[0];
    c->context = pos->shape[0];
    c->text.width = tok->shape[1];
    c->text.layers = layers;
    c->text.mlp = fc1->shape[0];
    c->embed = E;
    return heads_for(L->path, "text", c->text.width, o->text_heads, &c->text.heads);
}

static vc_status load_weights(const loader *L, vc_clip *m) {
    const clip_names *nm = L->nm;
    const vc_clip_cfg *c = &m->cfg;
    char why[160];
    vc_status s;
    if (c->towers & VC_CLIP_VISION) {
        int64_t W = c->vision.width, p = c->patch;
        snprintf(why, sizeof why, "the image tower (width %lld, patch %lld, grid %lld, MLP %lld, embed %lld)",
                 (long long)W, (long long)p, (long long)c->grid, (long long)c->vision.mlp, (long long)c->embed);
        if ((s = load_as(L, nm->patch, &m->patch_w, VC_DIMS(W, 3, p, p), false, why)) ||
            (s = load_into(L, nm->cls, &m->class_emb, why)) || (s = load_into(L, nm->vpos, &m->vpos, why)) ||
            (s = load_ln(L, nm->ln_pre, &m->ln_pre_g, &m->ln_pre_b, why)))
            return s;
        for (int64_t i = 0; i < c->vision.layers; i++)
            if ((s = load_block(L, nm->vblocks, i, &m->vblocks[i], W, why))) return s;
        if ((s = load_ln(L, nm->ln_post, &m->ln_post_g, &m->ln_post_b, why))) return s;
        s = nm->proj_right ? load_as(L, nm->vproj, &m->vproj, VC_DIMS(W, c->embed), true, why)
                           : load_into(L, nm->vproj, &m->vproj, why);
        if (s) return s;
    }
    if (c->towers & VC_CLIP_TEXT) {
        int64_t W = c->text.width;
        snprintf(why, sizeof why, "the text tower (width %lld, context %lld, vocabulary %lld, MLP %lld, embed %lld)",
                 (long long)W, (long long)c->context, (long long)c->vocab, (long long)c->text.mlp,
                 (long long)c->embed);
        if ((s = load_into(L, nm->tok, &m->tok_emb, why)) || (s = load_into(L, nm->tpos, &m->tpos, why)))
            return s;
        for (int64_t i = 0; i < c->text.layers; i++)
            if ((s = load_block(L, nm->tblocks, i, &m->tblocks[i], W, why))) return s;
        if ((s = load_ln(L, nm->ln_final, &m->ln_final_g, &m->ln_final_b, why))) return s;
        s = nm->proj_right ? load_as(L, nm->tproj, &m->tproj, VC_DIMS(W, c->embed), true, why)
                           : load_into(L, nm->tproj, &m->tproj, why);
        if (s) return s;
    }
    return VC_OK;
}

vc_status vc_clip_load(vc_clip *m, const char *path, const vc_clip_opts *opts) {
    vc_clip_opts o = opts ? *opts : (vc_clip_opts){0};
    if (!m || !path) return vc_fail(VC_ERR_ARG, "clip: NULL argument");
    memset(m, 0, sizeof *m);
    if (!o.towers) o.towers = VC_CLIP_BOTH;
    if (o.towers & ~VC_CLIP_BOTH) return vc_fail(VC_ERR_ARG, "clip: bad towers mask %d", o.towers);
    if (o.act != VC_CLIP_QUICKGELU && o.act != VC_CLIP_GELU)
        return vc_fail(VC_ERR_ARG, "clip: bad activation %d", (int)o.act);
    vc_st_file *f;
    vc_status s = vc_st_open(&f, path, VC_ST_MMAP);
    if (s) return s;
    loader L = {f, path, NULL};
    if (vc_st_find(f, NAMES[VC_CLIP_NAMES_OPENAI].patch) || vc_st_find(f, NAMES[VC_CLIP_NAMES_OPENAI].tok))
        L.nm = &NAMES[VC_CLIP_NAMES_OPENAI];
    else if (vc_st_find(f, NAMES[VC_CLIP_NAMES_HF].patch) || vc_st_find(f, NAMES[VC_CLIP_NAMES_HF].tok))
        L.nm = &NAMES[VC_CLIP_NAMES_HF];
    if (!L.nm) {
        vc_st_close(f);
        return vc_fail(VC_ERR_FORMAT, "%s: not a CLIP checkpoint: it has none of '%s', '%s' (OpenAI/open_clip names) "
                                      "or '%s', '%s' (Hugging Face names)", path,
                       NAMES[0].patch, NAMES[0].tok, NAMES[1].patch, NAMES[1].tok);
    }
    vc_clip_cfg c = {.towers = o.towers, .act = o.act};
    if (((o.towers & VC_CLIP_VISION) && (s = read_vision_cfg(&L, &o, &c))) ||
        ((o.towers & VC_CLIP_TEXT) && (s = read_text_cfg(&L, &o, &c))) || (s = check_cfg(&c)) ||
        (s = alloc_model(m, &c))) {
        vc_st_close(f);
        return s;
    }
    s = load_weights(&L, m);
    vc_st_close(f);
    if (!s && o.precision != VC_PREC_FP32 && o.device == VC_CPU) s = vc_clip_set_precision(m, o.precision);
    if (!s && o.device != VC_CPU) {
        m->asked = o.precision;
        s = vc_clip_to_device(m, o.device);
    }
    if (s) vc_clip_free(m);
    return s;
}

/* ------------------------------------------------------------------------ */
/* Saving                                                                     */

typedef struct {
    vc_st_writer *w;
    vc_tensor tmp[2]; /* transposed projections, alive until the write */
    int ntmp;
} saver;

static vc_status add_as(vc_st_writer *w, const char *name, const vc_tensor *t, int ndim, const int64_t *shape) {
    vc_tensor v;
    vc_status s = vc_tensor_wrap(&v, t->data, VC_F32, ndim, shape);
    return s ? s : vc_st_writer_add(w, name, &v);
}

static vc_status add_ln(vc_st_writer *w, const char *prefix, const vc_tensor *g, const vc_tensor *b) {
    char n[160];
    snprintf(n, sizeof n, "%s.weight", prefix);
    vc_status s = vc_st_writer_add(w, n, g);
    if (s) return s;
    snprintf(n, sizeof n, "%s.bias", prefix);
    return vc_st_writer_add(w, n, b);
}

static vc_status add_block(vc_st_writer *w, const clip_names *nm, const char *blocks, int64_t i,
                           const vc_clip_block *b, int64_t W) {
    char p[96], n[128];
    vc_status s;
    snprintf(p, sizeof p, "%s%lld.", blocks, (long long)i);
#define NAME(field) (snprintf(n, sizeof n, "%s%s", p, field), n)
    if ((s = add_ln(w, NAME(nm->ln1), &b->ln1_g, &b->ln1_b))) return s;
    if (nm->in_w) {
        if ((s = vc_st_writer_add(w, NAME(nm->in_w), &b->qkv_w)) || (s = vc_st_writer_add(w, NAME(nm->in_b), &b->qkv_b)))
            return s;
    } else {
        const char *parts[3] = {nm->q, nm->k, nm->v};
        for (int j = 0; j < 3; j++) {
            vc_tensor wv, bv;
            vc_tensor_wrap(&wv, vc_f32(&b->qkv_w) + j * W * W, VC_F32, VC_DIMS(W, W));
            vc_tensor_wrap(&bv, vc_f32(&b->qkv_b) + j * W, VC_F32, VC_DIMS(W));
            char q[128];
            snprintf(q, sizeof q, "%s%s", p, parts[j]);
            if ((s = add_ln(w, q, &wv, &bv))) return s; /* same .weight/.bias naming as a LayerNorm */
        }
    }
    if ((s = add_ln(w, NAME(nm->out), &b->out_w, &b->out_b)) || (s = add_ln(w, NAME(nm->ln2), &b->ln2_g, &b->ln2_b)) ||
        (s = add_ln(w, NAME(nm->fc1), &b->fc1_w, &b->fc1_b)) || (s = add_ln(w, NAME(nm->fc2), &b->fc2_w, &b->fc2_b)))
        return s;
#undef NAME
    return VC_OK;
}

static vc_status add_proj(saver *sv, const clip_names *nm, const char *name, const vc_tensor *p) {
    if (!nm->proj_right) return vc_st_writer_add(sv->w, name, p);
    int64_t E = p->ne[0], W = p->ne[1];
    vc_tensor *t = &sv->tmp[sv->ntmp];
    vc_status s = vc_tensor_alloc(t, VC_F32, VC_DIMS(W, E));
    if (s) return s;
    sv->ntmp++;
    for (int64_t i = 0; i < E; i++)
        for (int64_t j = 0; j < W; j++) vc_f32(t)[j * E + i] = vc_f32(p)[i * W + j];
    return vc_st_writer_add(sv->w, name, t);
}

static vc_status save_all(saver *sv, const vc_clip *m, const clip_names *nm) {
    const vc_clip_cfg *c = &m->cfg;
    vc_st_writer *w = sv->w;
    vc_status s;
    if (c->towers & VC_CLIP_VISION) {
        int64_t W = c->vision.width, p = c->patch;
        if ((s = add_as(w, nm->patch, &m->patch_w, VC_DIMS(W, 3, p, p))) ||
            (s = vc_st_writer_add(w, nm->cls, &m->class_emb)) || (s = vc_st_writer_add(w, nm->vpos, &m->vpos)) ||
            (s = add_ln(w, nm->ln_pre, &m->ln_pre_g, &m->ln_pre_b)))
            return s;
        for (int64_t i = 0; i < c->vision.layers; i++)
            if ((s = add_block(w, nm, nm->vblocks, i, &m->vblocks[i], W))) return s;
        if ((s = add_ln(w, nm->ln_post, &m->ln_post_g, &m->ln_post_b)) || (s = add_proj(sv, nm, nm->vproj, &m->vproj)))
            return s;
    }
    if (c->towers & VC_CLIP_TEXT) {
        if ((s = vc_st_writer_add(w, nm->tok, &m->tok_emb)) || (s = vc_st_writer_add(w, nm->tpos, &m->tpos)))
            return s;
        for (int64_t i = 0; i < c->text.layers; i++)
            if ((s = add_block(w, nm, nm->tblocks, i, &m->tblocks[i], c->text.width))) return s;
        if ((s = add_ln(w, nm->ln_final, &m->ln_final_g, &m->ln_final_b)) ||
            (s = add_proj(sv, nm, nm->tproj, &m->tproj)))
            return s;
    }
    return VC_OK;
}

vc_status vc_clip_save(const vc_clip *m, const char *path, vc_clip_names names) {
    if (!m || !path || (names != VC_CLIP_NAMES_OPENAI && names != VC_CLIP_NAMES_HF))
        return vc_fail(VC_ERR_ARG, "clip save: bad argument");
    if (m->precision != VC_PREC_FP32)
        return vc_fail(VC_ERR_ARG, "clip save %s: the model holds %s matrices; set it back to fp32 first", path,
                       vc_precision_name(m->precision));
    if (m->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "clip save %s: the model is on %s; save it before moving it", path,
                       vc_device_name(m->device));
    saver sv = {0};
    vc_status s = vc_st_writer_new(&sv.w);
    if (s) return s;
    s = save_all(&sv, m, &NAMES[names]);
    if (!s) s = vc_st_writer_write(sv.w, path);
    vc_st_writer_free(sv.w);
    for (int i = 0; i < sv.ntmp; i++) vc_tensor_release(&sv.tmp[i]);
    return s;
}
