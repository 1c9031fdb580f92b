/* Fused multi-head attention over packed projections (the backend's
 * attention kernels): no split/permute copies, and only the probabilities
 * are saved. */
#include <math.h>

#include "ops.h"

typedef struct {
    vc_attn_dims d;
    vc_real *P;
    int64_t *klen;
} attn_ctx;

/* The gradient buffer of v and the beta to use for its head regions. */
static vc_real *region_grad(vc_tape *t, vc_var *v, bool tiles, vc_real *beta) {
    vc_real b;
    vc_real *g = vc_grad_for(t, v, &b);
    if (g && b == 0 && !tiles) { /* untouched columns or shared rows: start from 0 */
        vc_var_backend(v)->mem_set(g, 0, vc_nbytes(&v->grad));
        b = 1;
    }
    *beta = b;
    return g;
}

static vc_status attention_backward(vc_tape *t, const vc_node *n) {
    const attn_ctx *c = n->ctx;
    vc_attn_dims d = c->d;
    d.klen = c->klen;
    vc_var *q = n->in[0], *k = n->in[1], *v = n->in[2];
    int64_t D = d.H * d.dh;
    /* q, k and v may be one packed var: then its three regions tile it. */
    bool packed = q == k && k == v && d.ldq == 3 * D && d.qoff == 0 && d.koff == D && d.voff == 2 * D &&
                  d.qbs != 0;
    vc_real bq = 1, bk = 1, bv = 1, *gq = NULL, *gk = NULL, *gv = NULL;
    if (packed) {
        gq = gk = gv = region_grad(t, q, true, &bq);
        bk = bv = bq;
    } else {
        gq = region_grad(t, q, d.ldq == D && d.qbs != 0, &bq);
        gk = k == q ? gq : region_grad(t, k, d.ldk == D, &bk);
        gv = v == q ? gq : v == k ? gk : region_grad(t, v, d.ldv == D, &bv);
        if (k == q) bk = 1;
        if (v == q || v == k) bv = 1;
    }
    if (t->status) return t->status;
    const vc_backend *be = vc_var_backend(q);
    size_t scratch_bytes = be->scratch_bytes(VC_K_ATTENTION_BWD, &d);
    void *scratch = vc_arena_alloc(&t->arena, scratch_bytes);
    if (!scratch)
        return t->status = vc_fail(VC_ERR_OOM, "op attention backward: cannot allocate %zu bytes of scratch for B=%lld H=%lld Tq=%lld Tk=%lld",
                                   scratch_bytes, (long long)d.B, (long long)d.H, (long long)d.Tq, (long long)d.Tk);
    be->attention_bwd(&d, vc_f32(&q->val), vc_f32(&k->val), vc_f32(&v->val), c->P, vc_f32(&n->out->grad), gq, bq, gk,
                      bk, gv, bv, scratch);
    return t->status;
}

vc_var *vc_attention(vc_tape *t, vc_var *q, int64_t qoff, vc_var *k, int64_t koff, vc_var *v, int64_t voff,
                     int heads, int64_t dh, const vc_tensor *key_len, bool causal) {
    vc_var *in[3] = {q, k, v};
    if (vc_tape_bad(t, 3, in)) return NULL;
    const vc_tensor *Q = &q->val, *K = &k->val, *V = &v->val;
    int64_t D = (int64_t)heads * dh;
    char s1[96], s2[96], s3[96];
    bool ok = heads > 0 && dh > 0 && Q->ndim == 3 && K->ndim == 3 && V->ndim == 3 && K->ne[0] == V->ne[0] &&
              K->ne[1] == V->ne[1] && (Q->ne[0] == K->ne[0] || Q->ne[0] == 1) && qoff >= 0 && koff >= 0 &&
              voff >= 0 && qoff + D <= Q->ne[2] && koff + D <= K->ne[2] && voff + D <= V->ne[2];
    if (!ok) {
        vc_fail(VC_ERR_SHAPE,
                "op attention: q %s (from column %lld), k %s (from %lld), v %s (from %lld) cannot hold %d heads of %lld",
                vc_shape_str(Q, s1, sizeof s1), (long long)qoff, vc_shape_str(K, s2, sizeof s2), (long long)koff,
                vc_shape_str(V, s3, sizeof s3), (long long)voff, heads, (long long)dh);
        return vc_tape_fail(t, VC_ERR_SHAPE);
    }
    int64_t B = K->ne[0], Tq = Q->ne[1], Tk = K->ne[1];
    int64_t *klen = key_len ? vc_lengths_arg(t, "attention", key_len, B, Tk) : NULL;
    if (key_len && !klen) return NULL;
    vc_var *out = vc_op_out(t, VC_DIMS(B, Tq, D), 3, in);
    if (!out) return NULL;
    vc_real *P = vc_arena_alloc(&t->arena, (size_t)(B * heads * Tq * Tk) * sizeof(vc_real));
    if (!P) return vc_tape_fail(t, VC_ERR_OOM);
    vc_attn_dims d = {.B = B, .H = heads, .Tq = Tq, .Tk = Tk, .dh = dh,
                      .ldq = Q->ne[2], .ldk = K->ne[2], .ldv = V->ne[2],
                      .qoff = qoff, .koff = koff, .voff = voff,
                      .qbs = Q->ne[0] == 1 && B > 1 ? 0 : Tq * Q->ne[2], .kbs = Tk * K->ne[2], .vbs = Tk * V->ne[2],
                      .klen = klen, .causal = causal, .scale = (vc_real)(1.0 / sqrt((double)dh))};
    vc_var_backend(q)->attention_fwd(&d, vc_f32(Q), vc_f32(K), vc_f32(V), P, vc_f32(&out->val));
    attn_ctx *c;
    if (vc_record(t, "attention", attention_backward, out, 3, in, sizeof *c, (void **)&c)) return NULL;
    c->d = d;
    c->P = P;
    c->klen = klen;
    return out;
}
