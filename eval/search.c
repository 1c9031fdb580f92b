#include "eval/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { CHUNK = 32768 }; /* videos pooled per vc_embed_split call */

vc_status vc_topk_init(vc_topk *t, int64_t k) {
    t->n = t->k = 0;
    if (k < 1) return vc_fail(VC_ERR_ARG, "search: top K must be at least 1, not %lld", (long long)k);
    if (!(t->h = malloc((size_t)k * sizeof *t->h)))
        return vc_fail(VC_ERR_OOM, "search: out of memory for the top %lld hits (%zu bytes)", (long long)k,
                       (size_t)k * sizeof *t->h);
    t->k = k;
    return VC_OK;
}

void vc_topk_free(vc_topk *t) {
    free(t->h);
    t->h = NULL;
    t->n = t->k = 0;
}

void vc_topk_add(vc_topk *t, double score, int64_t video, int64_t frame) {
    if (t->n == t->k && !(score > t->h[t->n - 1].score)) return;
    int64_t i = t->n < t->k ? t->n++ : t->n - 1;
    while (i > 0 && score > t->h[i - 1].score) {
        t->h[i] = t->h[i - 1];
        i--;
    }
    t->h[i] = (vc_hit){score, video, frame};
}

static double norm(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

static double dot(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

vc_status vc_search_frames(vc_h5 *h, const float *query, bool moments, vc_topk *t) {
    const vc_h5_info *in = vc_h5_get_info(h);
    int64_t D = in->dim;
    const int64_t *off = vc_h5_offsets(h);
    float *buf = NULL, *mean = malloc((size_t)D * sizeof *mean), *q = malloc((size_t)D * sizeof *q);
    int64_t cap = 0;
    vc_status s = VC_OK;
    if (!mean || !q) s = vc_fail(VC_ERR_OOM, "search: out of memory for two %lld-wide vectors", (long long)D);
    if (!s) {
        double l = norm(query, D);
        for (int64_t j = 0; j < D; j++) q[j] = l > 0 ? (float)(query[j] / l) : 0.0f;
    }
    for (int64_t v = 0; v < in->n_videos && !s; v++) {
        int64_t n = off[v + 1] - off[v];
        if (n == 0) continue;
        if (n > cap) {
            float *nb = realloc(buf, (size_t)(n * D) * sizeof *nb);
            if (!nb) {
                s = vc_fail(VC_ERR_OOM, "search: out of memory for video %lld's %lld frames (%lld bytes)",
                            (long long)v, (long long)n, (long long)(n * D * (int64_t)sizeof *nb));
                break;
            }
            buf = nb;
            cap = n;
        }
        if ((s = vc_h5_read_frames(h, off[v], n, buf))) break;
        if (moments) {
            for (int64_t f = 0; f < n; f++) {
                double l = norm(buf + f * D, D);
                vc_topk_add(t, l > 0 ? dot(q, buf + f * D, D) / l : 0.0, v, f);
            }
            continue;
        }
        for (int64_t j = 0; j < D; j++) mean[j] = 0;
        for (int64_t f = 0; f < n; f++) {
            double l = norm(buf + f * D, D);
            float inv = l > 0 ? (float)(1.0 / l) : 0.0f;
            for (int64_t j = 0; j < D; j++) mean[j] += buf[f * D + j] * inv;
        }
        double l = norm(mean, D);
        vc_topk_add(t, l > 0 ? dot(q, mean, D) / l : 0.0, v, -1);
    }
    free(buf);
    free(mean);
    free(q);
    return s;
}

vc_status vc_search_pooled(vc_h5 *h, const vc_pooler *m, const vc_eval_opts *eo, const float *query, vc_topk *t) {
    const vc_h5_info *in = vc_h5_get_info(h);
    int64_t D = in->dim;
    if (m->cfg.dim != D)
        return vc_fail(VC_ERR_SHAPE, "search: the pooler takes %lld-wide embeddings but %s holds %lld-wide ones",
                       (long long)m->cfg.dim, vc_h5_path(h), (long long)D);
    vc_tape tape;
    vc_tape_init(&tape, 0);
    vc_tape_grad(&tape, false);
    tape.training = false;
    const int64_t *off = vc_h5_offsets(h);
    int64_t *sel = NULL, *vids = NULL;
    vc_tensor emb = {0};
    float *q = NULL;
    vc_tensor x;
    vc_status s = vc_tensor_wrap(&x, (void *)query, VC_F32, VC_DIMS(1, D));
    vc_var *y = s ? NULL : vc_pooler_text(&tape, m, vc_const(&tape, &x));
    if (!s && !y) s = vc_tape_status(&tape);
    if (!s && !(q = malloc((size_t)D * sizeof *q)))
        s = vc_fail(VC_ERR_OOM, "search: out of memory for a %lld-wide query", (long long)D);
    if (!s) memcpy(q, y->val.data, (size_t)D * sizeof *q);
    if (!s && !(sel = malloc((size_t)CHUNK * sizeof *sel)))
        s = vc_fail(VC_ERR_OOM, "search: out of memory for a chunk of %d video indices", CHUNK);
    for (int64_t a = 0; a < in->n_videos && !s; a += CHUNK) {
        int64_t b = in->n_videos - a < CHUNK ? in->n_videos : a + CHUNK, ns = 0;
        for (int64_t v = a; v < b; v++)
            if (off[v + 1] > off[v]) sel[ns++] = v;
        if (ns == 0) continue; /* the loader refuses a set with no frames */
        int64_t n = 0;
        if ((s = vc_embed_split(m, vc_h5_path(h), sel, ns, eo, &emb, &vids, &n))) break;
        for (int64_t i = 0; i < n; i++) vc_topk_add(t, dot(q, vc_f32(&emb) + i * D, D), vids[i], -1);
        vc_tensor_release(&emb);
        free(vids);
        vids = NULL;
    }
    free(sel);
    free(q);
    vc_tape_free(&tape);
    return s;
}
