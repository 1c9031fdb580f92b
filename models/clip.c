/* The CLIP towers' forward passes (inference only; see clip.h).
 * A block runs as raw kernels of the backend (tensor/backend.h) over one
 * workspace taken from the tape's arena per call: the residual stream x is
 * updated in place (bias first, then the projection accumulated onto it, as
 * vc_linear_fused does), so the memory is one block's activations for the
 * batch whatever the depth. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "clip.h"

#define LN_EPS ((vc_real)1e-5)
/* Attention probabilities are produced for at most this many floats at a
 * time (the batch runs in chunks of samples), so long sequences (L/14: 257
 * tokens, 16 heads) do not need B*H*T*T floats at once. */
#define ATTN_CHUNK_FLOATS ((int64_t)1 << 20)

typedef struct {
    const vc_backend *be;
    int64_t B, T, W, H, M, chunk;
    vc_real *u;          /* [R, W]: LayerNorm output, then the attention output */
    vc_real *qkv;        /* [R, 3W] */
    vc_real *hid, *act;  /* [R, M]: MLP pre- and post-activation (act: float32 towers) */
    uint16_t *h16;       /* [R, M]: bf16 towers: the LayerNorm or activation output, the next product's input */
    vc_real *P;          /* [chunk, H, T, T] */
    vc_real *mean, *rstd; /* [R] */
} workspace;

static vc_var *fail(vc_tape *t, vc_status s) { return vc_tape_fail(t, s); }

static vc_real *take(vc_tape *t, int64_t n) { return vc_arena_alloc(&t->arena, (size_t)n * sizeof(vc_real)); }

/* y [R, OUT] = x [R, IN] w^T + beta y, w [OUT, IN]: in float32, or with bf16
 * (fp16) inputs and float32 accumulation when w is held in bf16 (fp16)
 * (vc_clip_set_precision). */
static void product(const vc_backend *be, const vc_real *x, const vc_tensor *w, vc_real beta, vc_real *y, int64_t R) {
    int64_t OUT = w->ne[0], IN = w->ne[1];
    if (w->dtype == VC_BF16)
        be->gemm_bf16(VC_GEMM_B_BF16, false, true, R, OUT, IN, 1, x, IN, w->data, IN, beta, y, OUT);
    else if (w->dtype == VC_F16)
        be->gemm_f16(VC_GEMM_B_BF16, false, true, R, OUT, IN, 1, x, IN, w->data, IN, beta, y, OUT);
    else
        be->gemm(false, true, R, OUT, IN, 1, x, IN, vc_f32(w), IN, beta, y, OUT);
}

/* y [R, OUT] (+)= x16 [R, IN] w^T + b with x16 in bf16 and w held in bf16
 * (a bf16 tower; see linear below). */
static void linear16(const workspace *ws, const uint16_t *x, const vc_tensor *w, const vc_tensor *b, vc_real *y,
                     int64_t R, bool add) {
    int64_t OUT = w->ne[0], IN = w->ne[1];
    if (ws->be->gemm_bias_bf16) { /* the bias (and the stream it adds to) inside the product */
        ws->be->gemm_bias_bf16(VC_GEMM_A_BF16 | VC_GEMM_B_BF16, false, true, R, OUT, IN, x, IN, w->data, IN,
                               vc_f32(b), add ? y : NULL, y, OUT);
        return;
    }
    ws->be->bias_fwd(y, vc_f32(b), add ? y : NULL, R, OUT);
    ws->be->gemm_bf16(VC_GEMM_A_BF16 | VC_GEMM_B_BF16, false, true, R, OUT, IN, 1, x, IN, w->data, IN, 1, y, OUT);
}

/* y [R, OUT] (+)= x [R, IN] w^T + b, w [OUT, IN] (accumulates when add:
 * the residual stream): y = b (+ y), then the product accumulates onto it. */
static void linear(const workspace *ws, const vc_real *x, const vc_tensor *w, const vc_tensor *b, vc_real *y,
                   int64_t R, bool add) {
    int64_t OUT = w->ne[0];
    ws->be->bias_fwd(y, vc_f32(b), add ? y : NULL, R, OUT);
    product(ws->be, x, w, 1, y, R);
}

/* b16: the tower's matrices are in bf16 and the backend writes LayerNorm and
 * activation outputs in bf16 (layernorm_fwd_bf16, unary_fwd_bf16): those go
 * straight to the products in bf16 (h16), with no float32 copy to round. */
static vc_status workspace_init(vc_tape *t, const vc_clip_tower *d, int64_t B, int64_t T, bool b16, workspace *w) {
    int64_t R = B * T, W = d->width, H = d->heads;
    int64_t per = H * T * T;
    int64_t chunk = ATTN_CHUNK_FLOATS / (per ? per : 1);
    if (chunk < 1) chunk = 1;
    if (chunk > B) chunk = B;
    *w = (workspace){.be = vc_backend_for(t->arena.device), .B = B, .T = T, .W = W, .H = H, .M = d->mlp,
                     .chunk = chunk};
    w->u = take(t, R * W);
    w->qkv = take(t, R * 3 * W);
    w->hid = take(t, R * d->mlp);
    if (b16) w->h16 = vc_arena_alloc(&t->arena, (size_t)(R * d->mlp) * sizeof(uint16_t));
    else w->act = take(t, R * d->mlp);
    w->P = take(t, chunk * per);
    w->mean = take(t, R);
    w->rstd = take(t, R);
    if (!w->u || !w->qkv || !w->hid || !(w->act || w->h16) || !w->P || !w->mean || !w->rstd)
        return vc_fail(VC_ERR_OOM, "clip: cannot allocate the work space of a tower over [%lld, %lld, %lld] (%lld bytes)",
                       (long long)B, (long long)T, (long long)W,
                       (long long)((R * (4 * W + 2 * d->mlp + 2) + chunk * per) * (int64_t)sizeof(vc_real)));
    return VC_OK;
}

/* One attention pass over the batch in chunks of samples (P holds one chunk).
 * Queries come from Q (row length ldq, batch stride qbs; head columns from 0),
 * keys and values from the packed qkv [B, T, 3W]; the output goes to O
 * [B, Tq, W]. */
static void attend(const workspace *w, const vc_real *Q, int64_t ldq, int64_t qbs, int64_t Tq, const int64_t *klen,
                   bool causal, vc_real *O) {
    int64_t T = w->T, W = w->W, dh = W / w->H;
    for (int64_t b0 = 0; b0 < w->B; b0 += w->chunk) {
        int64_t nb = w->B - b0 < w->chunk ? w->B - b0 : w->chunk;
        vc_attn_dims d = {.B = nb, .H = w->H, .Tq = Tq, .Tk = T, .dh = dh,
                          .ldq = ldq, .ldk = 3 * W, .ldv = 3 * W, .qoff = 0, .koff = W, .voff = 2 * W,
                          .qbs = qbs, .kbs = T * 3 * W, .vbs = T * 3 * W,
                          .klen = klen ? klen + b0 : NULL, .causal = causal,
                          .scale = (vc_real)(1.0 / sqrt((double)dh))};
        const vc_real *kv = w->qkv + b0 * T * 3 * W;
        w->be->attention_fwd(&d, Q + b0 * qbs, kv, kv, w->P, O + b0 * Tq * W);
    }
}

/* qkv [R, 3W] = LN1(x) [R, W] w_qkv^T + b_qkv. */
static void qkv_fwd(const workspace *w, const vc_clip_block *b, const vc_real *x, int64_t R) {
    if (w->h16) {
        w->be->layernorm_fwd_bf16(x, vc_f32(&b->ln1_g), vc_f32(&b->ln1_b), w->h16, w->mean, w->rstd, R, w->W, LN_EPS, false);
        linear16(w, w->h16, &b->qkv_w, &b->qkv_b, w->qkv, R, false);
        return;
    }
    w->be->layernorm_fwd(x, vc_f32(&b->ln1_g), vc_f32(&b->ln1_b), w->u, w->mean, w->rstd, R, w->W, LN_EPS);
    linear(w, w->u, &b->qkv_w, &b->qkv_b, w->qkv, R, false);
}

/* x [R, W] += MLP(LN2(x)) over R rows. */
static void mlp_fwd(const workspace *w, const vc_clip_block *b, vc_clip_act act, vc_real *x, int64_t R) {
    vc_unop op = act == VC_CLIP_GELU ? VC_UN_GELU : VC_UN_QUICKGELU;
    if (w->h16) {
        w->be->layernorm_fwd_bf16(x, vc_f32(&b->ln2_g), vc_f32(&b->ln2_b), w->h16, w->mean, w->rstd, R, w->W, LN_EPS, false);
        linear16(w, w->h16, &b->fc1_w, &b->fc1_b, w->hid, R, false);
        w->be->unary_fwd_bf16(op, w->hid, w->h16, R * w->M);
        linear16(w, w->h16, &b->fc2_w, &b->fc2_b, x, R, true);
        return;
    }
    w->be->layernorm_fwd(x, vc_f32(&b->ln2_g), vc_f32(&b->ln2_b), w->u, w->mean, w->rstd, R, w->W, LN_EPS);
    linear(w, w->u, &b->fc1_w, &b->fc1_b, w->hid, R, false);
    w->be->unary_fwd(op, w->hid, w->act, R * w->M);
    linear(w, w->act, &b->fc2_w, &b->fc2_b, x, R, true);
}

/* x [B, T, W] <- block(x): x += Attn(LN1(x)); x += MLP(LN2(x)). */
static void block_fwd(const workspace *w, const vc_clip_block *b, vc_clip_act act, bool causal, vc_real *x) {
    int64_t R = w->B * w->T, W = w->W;
    qkv_fwd(w, b, x, R);
    attend(w, w->qkv, 3 * W, w->T * 3 * W, w->T, NULL, causal, w->u);
    linear(w, w->u, &b->out_w, &b->out_b, x, R, true);
    mlp_fwd(w, b, act, x, R);
}

/* The last block, computed only where the tower reads its output: row pick[n]
 * of each sample (the class token, or the end token), written to out [B, W].
 * Keys and values still come from every row; in a causal tower the query at
 * position i sees keys 0..i, i.e. i + 1 valid keys. The other rows' attention
 * output and MLP (3/4 of the block's work) would only be thrown away. */
static void block_last(const workspace *w, const vc_clip_block *b, vc_clip_act act, bool causal, const vc_real *x,
                       const int64_t *rows, const int64_t *klen, vc_real *q, vc_real *out) {
    int64_t B = w->B, T = w->T, R = B * T, W = w->W;
    qkv_fwd(w, b, x, R);
    /* the picked rows' queries and residual stream */
    w->be->gather_fwd(w->qkv, 3 * W, rows, q, B, W);
    w->be->gather_fwd(x, W, rows, out, B, W);
    attend(w, q, W, W, 1, klen, false, w->u);
    linear(w, w->u, &b->out_w, &b->out_b, out, B, true);
    mlp_fwd(w, b, act, out, B);
}

/* n int64 host values copied to the arena (the backend's memory), or NULL. */
static int64_t *ints_to_arena(vc_tape *t, const int64_t *host, int64_t n) {
    int64_t *d = vc_arena_alloc(&t->arena, (size_t)(n ? n : 1) * sizeof(int64_t));
    if (d) vc_backend_for(t->arena.device)->copy_h2d(d, host, (size_t)n * sizeof(int64_t));
    return d;
}

/* On the CPU the batch is cut into one part of samples per thread, each run
 * start to end by its thread alone (the kernels and oneDNN inside run
 * serially within the parallel region): no barrier between the thousands of
 * small steps of a tower, so a thread the scheduler takes away (a shared
 * machine) delays only its own part, and one thread's products are as fast
 * as the library's at these shapes. Never more parts than this. */
#define MAX_PARTS 64

/* Runs the tower over x [B, T, W] (overwritten) and writes the final hidden
 * state of row pick[n] (host memory) of each sample to out [B, W]. */
static vc_status run_tower(vc_tape *t, const vc_clip_block *blocks, const vc_clip_tower *d, vc_clip_act act,
                           int64_t B, int64_t T, bool causal, const int64_t *pick, vc_real *x, vc_real *out) {
    const vc_backend *be = vc_backend_for(t->arena.device);
    int parts = be->device == VC_CPU && !omp_in_parallel() ? omp_get_max_threads() : 1;
    bool b16 = blocks[0].qkv_w.dtype == VC_BF16 && be->layernorm_fwd_bf16 && be->unary_fwd_bf16;
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    if (parts > B) parts = (int)B;
    if (parts < 1) parts = 1;
    workspace w[MAX_PARTS];
    int64_t *rows[MAX_PARTS], *klen[MAX_PARTS], b0[MAX_PARTS + 1];
    vc_real *q[MAX_PARTS];
    /* Index arguments of the last block, made on the host: row n*T + pick[n]
     * of each sample (counted from its part's first), whose query sees
     * pick[n] + 1 keys when causal. */
    int64_t *h = malloc((size_t)(2 * B + 1) * sizeof(int64_t));
    if (!h) return vc_fail(VC_ERR_OOM, "clip: cannot allocate %lld row indices", (long long)B);
    vc_status s = VC_OK;
    for (int p = 0; p <= parts; p++) b0[p] = B * p / parts;
    for (int p = 0; p < parts && !s; p++) {
        int64_t nb = b0[p + 1] - b0[p];
        if ((s = workspace_init(t, d, nb, T, b16, &w[p]))) break;
        for (int64_t n = 0; n < nb; n++) {
            h[n] = n * T + pick[b0[p] + n];
            h[B + n] = causal ? pick[b0[p] + n] + 1 : T;
        }
        rows[p] = ints_to_arena(t, h, nb);
        klen[p] = ints_to_arena(t, h + B, nb);
        q[p] = take(t, nb * d->width);
        if (!klen[p] || !rows[p] || !q[p])
            s = vc_fail(VC_ERR_OOM, "clip: cannot allocate the picked rows and outputs of %lld samples (%lld bytes)",
                        (long long)nb, (long long)(2 * nb * (int64_t)sizeof(int64_t) + nb * d->width * (int64_t)sizeof(vc_real)));
    }
    free(h);
    if (s) return s;
    int64_t W = d->width;
    /* layers >= 1: a config without blocks never loads (clip_load.c, check_cfg) */
#pragma omp parallel for schedule(static, 1) num_threads(parts) if (parts > 1)
    for (int p = 0; p < parts; p++) {
        vc_real *xp = x + b0[p] * T * W;
        for (int64_t l = 0; l + 1 < d->layers; l++) block_fwd(&w[p], &blocks[l], act, causal, xp);
        block_last(&w[p], &blocks[d->layers - 1], act, causal, xp, rows[p], klen[p], q[p], out + b0[p] * W);
    }
    return VC_OK;
}

/* out [N, E] = LN(rows [N, W]) proj^T (proj [E, W]). */
static vc_var *head(vc_tape *t, const vc_real *rows, int64_t N, const vc_tensor *g, const vc_tensor *b,
                    const vc_tensor *proj) {
    int64_t W = proj->ne[1], E = proj->ne[0];
    vc_real *u = take(t, N * W), *mean = take(t, N), *rstd = take(t, N);
    vc_var *out = vc_var_new(t, VC_DIMS(N, E));
    if (!u || !mean || !rstd || !out)
        return fail(t, vc_fail(VC_ERR_OOM, "clip: cannot allocate the projection head over [%lld, %lld] -> [%lld, %lld]",
                               (long long)N, (long long)W, (long long)N, (long long)E));
    const vc_backend *be = vc_var_backend(out);
    be->layernorm_fwd(rows, vc_f32(g), vc_f32(b), u, mean, rstd, N, W, LN_EPS);
    product(be, u, proj, 0, vc_f32(&out->val), N);
    return out;
}

vc_var *vc_clip_encode_image(vc_tape *t, const vc_clip *m, const vc_tensor *images) {
    if (vc_tape_bad(t, 0, NULL)) return NULL;
    const vc_clip_cfg *c = &m->cfg;
    char sb[96];
    if (!(c->towers & VC_CLIP_VISION))
        return fail(t, vc_fail(VC_ERR_ARG, "clip: the image tower was not loaded"));
    int64_t S = c->image_size, p = c->patch, G = c->grid, W = c->vision.width, K = 3 * p * p, T = 1 + G * G;
    const vc_tensor *im = images;
    if (m->device != t->arena.device)
        return fail(t, vc_fail(VC_ERR_DEVICE, "clip: the model is on %s but the tape computes on %s",
                               vc_device_name(m->device), vc_device_name(t->arena.device)));
    if (im->dtype != VC_F32 || (im->device != VC_CPU && im->device != m->device) || im->ndim != 4 || im->ne[0] < 1 ||
        im->ne[1] != 3 || im->ne[2] != S || im->ne[3] != S || (im->device != VC_CPU && !vc_is_contiguous(im)))
        return fail(t, vc_fail(VC_ERR_SHAPE, "clip: images are %s %s on %s; the image tower takes float32 [N, 3, %lld, "
                                             "%lld] with N >= 1 (on the cpu, or contiguous on %s)",
                               vc_dtype_name(im->dtype), vc_shape_str(im, sb, sizeof sb), vc_device_name(im->device),
                               (long long)S, (long long)S, vc_device_name(m->device)));
    vc_tensor cont;
    vc_status s = vc_tensor_contiguous(&cont, im, im->device == t->arena.device ? &t->arena : &t->host);
    if (s) return fail(t, s);
    const vc_backend *be = vc_backend_for(t->arena.device);
    int64_t N = im->ne[0], NP = N * G * G;
    if (cont.device != t->arena.device) { /* CPU pixels for a device tower: one copy */
        vc_real *d = take(t, vc_numel(&cont));
        if (!d) return fail(t, vc_fail(VC_ERR_OOM, "clip: cannot allocate %lld images on %s", (long long)N,
                                       vc_device_name(t->arena.device)));
        be->copy_h2d(d, cont.data, vc_nbytes(&cont));
        cont.data = d;
        cont.device = t->arena.device;
    }
    vc_real *patches = take(t, NP * K), *emb = take(t, NP * W), *x = take(t, N * T * W), *cls = take(t, N * W);
    if (!patches || !emb || !x || !cls)
        return fail(t, vc_fail(VC_ERR_OOM, "clip: cannot allocate the patch embeddings of %lld images (%lld bytes)", (long long)N,
                               (long long)((NP * (K + W) + N * (T + 1) * W) * (int64_t)sizeof(vc_real))));
    /* the patch convolution as one GEMM over patch rows (conv weight
     * [W, 3, p, p] flattened) */
    be->patchify(&(vc_patch_dims){.N = N, .C = 3, .S = S, .P = p, .G = G}, vc_f32(&cont), patches);
    product(be, patches, &m->patch_w, 0, emb, NP);
    /* [class; patches] + position embedding, then ln_pre (in place: the
     * kernel reads each row fully before writing it). */
    be->embed_patches(emb, vc_f32(&m->class_emb), vc_f32(&m->vpos), x, N, T, W);
    vc_real *mean = take(t, N * T), *rstd = take(t, N * T);
    if (!mean || !rstd)
        return fail(t, vc_fail(VC_ERR_OOM, "clip: cannot allocate the ln_pre statistics of %lld rows", (long long)(N * T)));
    int64_t *first = calloc((size_t)N, sizeof *first); /* the class token of each sample */
    if (!first) return fail(t, vc_fail(VC_ERR_OOM, "clip: cannot allocate %lld row indices", (long long)N));
    be->layernorm_fwd(x, vc_f32(&m->ln_pre_g), vc_f32(&m->ln_pre_b), x, mean, rstd, N * T, W, LN_EPS);
    s = run_tower(t, m->vblocks, &c->vision, c->act, N, T, false, first, x, cls);
    free(first);
    if (s) return fail(t, s);
    return head(t, cls, N, &m->ln_post_g, &m->ln_post_b, &m->vproj);
}

vc_var *vc_clip_encode_text(vc_tape *t, const vc_clip *m, const vc_tensor *ids) {
    if (vc_tape_bad(t, 0, NULL)) return NULL;
    const vc_clip_cfg *c = &m->cfg;
    char sb[96];
    if (!(c->towers & VC_CLIP_TEXT)) return fail(t, vc_fail(VC_ERR_ARG, "clip: the text tower was not loaded"));
    if (m->device != t->arena.device)
        return fail(t, vc_fail(VC_ERR_DEVICE, "clip: the model is on %s but the tape computes on %s",
                               vc_device_name(m->device), vc_device_name(t->arena.device)));
    if ((ids->dtype != VC_I32 && ids->dtype != VC_I64) || ids->device != VC_CPU || ids->ndim != 2 || ids->ne[0] < 1 ||
        ids->ne[1] < 1 || ids->ne[1] > c->context || !vc_is_contiguous(ids))
        return fail(t, vc_fail(VC_ERR_SHAPE, "clip: token ids are %s %s; the text tower takes contiguous int32 or "
                                             "int64 [N, L] with N >= 1 and 1 <= L <= %lld",
                               vc_dtype_name(ids->dtype), vc_shape_str(ids, sb, sizeof sb), (long long)c->context));
    int64_t N = ids->ne[0], L = ids->ne[1], W = c->text.width;
    /* host copies: the end token of each row, then the ids the tower reads */
    int64_t *eot = malloc((size_t)N * sizeof *eot), *hid = malloc((size_t)(N * L) * sizeof *hid);
    vc_status s = eot && hid ? VC_OK : vc_fail(VC_ERR_OOM, "clip: cannot allocate %lld token ids", (long long)(N * L));
    int64_t Tn = 0;
    for (int64_t n = 0; n < N && !s; n++) {
        int64_t best = 0;
        for (int64_t j = 0; j < L && !s; j++) {
            int64_t id = vc_int_at(ids, n * L + j);
            if (id < 0 || id >= c->vocab)
                s = vc_fail(VC_ERR_ARG, "clip: token id %lld (row %lld, position %lld) is outside the vocabulary of "
                                        "%lld", (long long)id, (long long)n, (long long)j, (long long)c->vocab);
            if (id > vc_int_at(ids, n * L + best)) best = j;
        }
        eot[n] = best;
        if (best + 1 > Tn) Tn = best + 1;
    }
    /* Causal attention: rows after the last end token of the batch cannot
     * change any end token's output, so they are dropped. */
    for (int64_t n = 0; n < N && !s; n++)
        for (int64_t j = 0; j < Tn; j++) hid[n * Tn + j] = vc_int_at(ids, n * L + j);
    int64_t *did = s ? NULL : ints_to_arena(t, hid, N * Tn);
    vc_real *x = s ? NULL : take(t, N * Tn * W), *rows = s ? NULL : take(t, N * W);
    if (!s && (!did || !x || !rows))
        s = vc_fail(VC_ERR_OOM, "clip: cannot allocate the text tower's input [%lld, %lld, %lld] (%lld bytes)", (long long)N,
                    (long long)Tn, (long long)W,
                    (long long)(N * Tn * ((int64_t)sizeof(int64_t) + W * (int64_t)sizeof(vc_real)) + N * W * (int64_t)sizeof(vc_real)));
    if (!s) {
        vc_backend_for(t->arena.device)->embed_tokens(vc_f32(&m->tok_emb), did, vc_f32(&m->tpos), x, N * Tn, Tn, W);
        s = run_tower(t, m->tblocks, &c->text, c->act, N, Tn, true, eot, x, rows);
    }
    free(eot);
    free(hid);
    if (s) return fail(t, s);
    return head(t, rows, N, &m->ln_final_g, &m->ln_final_b, &m->tproj);
}
