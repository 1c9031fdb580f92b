#include "evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "data/source_h5.h"

vc_status vc_split_by_name(vc_h5 *h, const char *name, const int64_t **idx, int64_t *n) {
    *idx = NULL;
    *n = 0;
    if (strcmp(name, "all") == 0) return VC_OK;
    for (int s = 0; s < VC_NSPLITS; s++)
        if (strcmp(name, vc_split_name((vc_split)s)) == 0) return vc_h5_split(h, (vc_split)s, idx, n);
    return vc_fail(VC_ERR_ARG, "unknown split '%s' (train, val, test or all)", name);
}

/* Pools every video of an evaluation loader into V [N, D] (row i = the
 * loader's video i), reporting "videos pooled" of N to h. */
static vc_status pool_all(const vc_pooler *m, vc_loader *ld, int64_t N, vc_real *V, const vc_progress_hook *h) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    t.training = false;
    int64_t D = m->cfg.dim, row = 0;
    vc_status s = VC_OK;
    vc_progress_report(h, "videos pooled", 0, N);
    for (;;) {
        const vc_batch *b;
        if ((s = vc_loader_next(ld, &b)) || !b) break;
        vc_tape_reset(&t);
        vc_var *y = vc_pooler_forward(&t, m, vc_const(&t, &b->frames), &b->lengths);
        if (!y) {
            s = vc_tape_status(&t);
            break;
        }
        memcpy(V + row * D, y->val.data, (size_t)(b->n * D) * sizeof(vc_real));
        row += b->n;
        vc_progress_report(h, "videos pooled", row, N);
    }
    vc_tape_free(&t);
    return s;
}

/* Text head + normalisation of n rows in place, in chunks. */
static vc_status map_text(const vc_pooler *m, vc_real *X, int64_t n) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    int64_t D = m->cfg.dim;
    vc_status s = VC_OK;
    for (int64_t i = 0; i < n && !s; i += 4096) {
        int64_t k = n - i < 4096 ? n - i : 4096;
        vc_tensor x;
        vc_tensor_wrap(&x, X + i * D, VC_F32, VC_DIMS(k, D));
        vc_tape_reset(&t);
        vc_var *y = vc_pooler_text(&t, m, vc_const(&t, &x));
        if (!y) s = vc_tape_status(&t);
        else memcpy(X + i * D, y->val.data, (size_t)(k * D) * sizeof(vc_real));
    }
    vc_tape_free(&t);
    return s;
}

static vc_loader_opts loader_opts(const vc_eval_opts *o, const int64_t *split, int64_t n_split) {
    vc_loader_opts lo = vc_loader_defaults();
    lo.batch = o->batch;
    lo.max_frames = o->frames;
    lo.frames = o->sampling;
    lo.train = false;
    lo.split = split;
    lo.n_split = n_split;
    lo.mem_budget = o->mem_budget;
    lo.prefetch = o->prefetch;
    return lo;
}

vc_status vc_embed_split(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                         const vc_eval_opts *o, vc_tensor *emb, int64_t **videos, int64_t *n) {
    memset(emb, 0, sizeof *emb);
    *videos = NULL;
    *n = 0;
    vc_source src;
    vc_status s = vc_source_open_h5(&src, path, NULL);
    if (s) return s;
    if (src.dim != m->cfg.dim) {
        vc_source_close(&src);
        return vc_fail(VC_ERR_SHAPE, "%s: embeddings are %lld wide but the model expects %lld", path,
                       (long long)src.dim, (long long)m->cfg.dim);
    }
    vc_loader_opts lo = loader_opts(o, split, n_split);
    vc_loader *ld = NULL;
    if (!(s = vc_loader_open(&ld, &src, &lo))) {
        int64_t N = vc_loader_n_videos(ld);
        *videos = malloc((size_t)(N ? N : 1) * sizeof(int64_t));
        if (!*videos) s = vc_fail(VC_ERR_OOM, "embed: out of memory for %lld video indices", (long long)N);
        if (!s) s = vc_tensor_alloc(emb, VC_F32, VC_DIMS(N, m->cfg.dim));
        if (!s) s = pool_all(m, ld, N, vc_f32(emb), &o->progress);
        if (!s) {
            memcpy(*videos, vc_loader_videos(ld), (size_t)N * sizeof(int64_t));
            *n = N;
        }
    }
    vc_loader_close(ld);
    vc_source_close(&src);
    if (s) {
        vc_tensor_release(emb);
        free(*videos);
        *videos = NULL;
    }
    return s;
}

vc_status vc_evaluate(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                      const vc_eval_opts *o, vc_eval_result *res) {
    memset(res, 0, sizeof *res);
    vc_h5 *h = NULL;
    vc_source src;
    vc_status s = vc_source_open_h5(&src, path, &h);
    if (s) return s;
    int64_t D = m->cfg.dim;
    if (src.dim != D) {
        vc_source_close(&src);
        return vc_fail(VC_ERR_SHAPE, "%s: embeddings are %lld wide but the model expects %lld", path,
                       (long long)src.dim, (long long)D);
    }
    vc_loader_opts lo = loader_opts(o, split, n_split);
    vc_loader *ld = NULL;
    vc_tensor V = {0}, K = {0};
    vc_captions caps = {0};
    int64_t *labels = NULL;
    if ((s = vc_loader_open(&ld, &src, &lo))) goto done;
    int64_t N = vc_loader_n_videos(ld);
    if (N == 0) {
        s = vc_fail(VC_ERR_ARG, "%s: the split has no video with frames to evaluate", path);
        goto done;
    }
    if ((s = vc_tensor_alloc(&V, VC_F32, VC_DIMS(N, D))) || (s = pool_all(m, ld, N, vc_f32(&V), &o->progress)))
        goto done;
    if ((s = vc_loader_captions(ld, &caps))) goto done;
    if (caps.n == 0) {
        s = vc_fail(VC_ERR_ARG, "%s: the split's videos have no captions to retrieve", path);
        goto done;
    }
    if ((s = map_text(m, vc_f32(&caps.emb), caps.n))) goto done;
    if ((s = vc_eval_retrieval_progress(vc_f32(&V), N, vc_f32(&caps.emb), caps.n, D, (const int64_t *)caps.row.data, 0,
                                        &o->progress, res)))
        goto done;
    /* the loader's thread is done with the handle once it is closed */
    const int64_t *order = vc_loader_videos(ld);
    int64_t *vids = malloc((size_t)N * sizeof(int64_t));
    if (!vids) {
        s = vc_fail(VC_ERR_OOM, "evaluate: out of memory for %lld video indices", (long long)N);
        goto done;
    }
    memcpy(vids, order, (size_t)N * sizeof(int64_t));
    vc_loader_close(ld);
    ld = NULL;
    const vc_h5_info *info = vc_h5_get_info(h);
    if (o->zero_shot && info->has_labels && info->has_class_embeddings) {
        int64_t Kn = info->n_classes;
        labels = malloc((size_t)N * sizeof(int64_t));
        if (!labels) s = vc_fail(VC_ERR_OOM, "evaluate: out of memory for %lld labels", (long long)N);
        if (!s) s = vc_tensor_alloc(&K, VC_F32, VC_DIMS(Kn, D));
        if (!s) s = vc_h5_read_classes(h, vc_f32(&K));
        if (!s) s = map_text(m, vc_f32(&K), Kn);
        if (!s) {
            const int64_t *lab = vc_h5_labels(h);
            for (int64_t i = 0; i < N; i++) labels[i] = lab[vids[i]];
            s = vc_eval_zeroshot(vc_f32(&V), N, vc_f32(&K), Kn, D, labels, 0, res);
        }
    }
    free(vids);
done:
    vc_loader_close(ld);
    vc_captions_release(&caps);
    vc_tensor_release(&V);
    vc_tensor_release(&K);
    free(labels);
    vc_source_close(&src);
    return s;
}
