#include "evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
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
    vc_tape t; /* on the model's device; the pooled rows come back to the host */
    vc_tape_init_on(&t, m->ps->device, 0);
    vc_tape_grad(&t, false);
    t.training = false;
    const vc_backend *be = vc_backend_for(m->ps->device);
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
        be->copy_d2h(V + row * D, y->val.data, (size_t)(b->n * D) * sizeof(vc_real));
        row += b->n;
        vc_progress_report(h, "videos pooled", row, N);
    }
    vc_tape_free(&t);
    return s;
}

/* Text head + normalisation of n rows in place, in chunks. */
static vc_status map_text(const vc_pooler *m, vc_real *X, int64_t n) {
    vc_tape t;
    vc_tape_init_on(&t, m->ps->device, 0);
    vc_tape_grad(&t, false);
    const vc_backend *be = vc_backend_for(m->ps->device);
    int64_t D = m->cfg.dim;
    vc_status s = VC_OK;
    for (int64_t i = 0; i < n && !s; i += 4096) {
        int64_t k = n - i < 4096 ? n - i : 4096;
        vc_tensor x;
        vc_tensor_wrap(&x, X + i * D, VC_F32, VC_DIMS(k, D));
        vc_tape_reset(&t);
        vc_var *y = vc_pooler_text(&t, m, vc_const(&t, &x));
        if (!y) s = vc_tape_status(&t);
        else be->copy_d2h(X + i * D, y->val.data, (size_t)(k * D) * sizeof(vc_real));
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
    vc_dataset *ds;
    vc_status s = vc_dataset_open(&ds, path);
    if (s) return s;
    if ((s = vc_dataset_source(ds, &src))) {
        vc_dataset_close(ds);
        return s;
    }
    if (src.dim != m->cfg.dim) {
        vc_source_close(&src);
        vc_dataset_close(ds);
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
    vc_dataset_close(ds);
    if (s) {
        vc_tensor_release(emb);
        free(*videos);
        *videos = NULL;
    }
    return s;
}

/* Rank 0's part after pooling: captions, text head, retrieval and zero-shot
 * classification over V [N, D] (row i = the loader's video i). */
static vc_status score(const vc_pooler *m, vc_dataset *ds, vc_loader **ldp, const vc_tensor *V, int64_t N,
                       const vc_eval_opts *o, vc_eval_result *res) {
    int64_t D = m->cfg.dim;
    vc_loader *ld = *ldp;
    const char *path = vc_dataset_name(ds);
    vc_captions caps = {0};
    vc_tensor K = {0};
    int64_t *labels = NULL, *vids = NULL;
    vc_status s;
    if ((s = vc_loader_captions(ld, &caps))) goto done;
    if (caps.n == 0) {
        s = vc_fail(VC_ERR_ARG, "%s: the split's videos have no captions to retrieve", path);
        goto done;
    }
    if ((s = map_text(m, vc_f32(&caps.emb), caps.n))) goto done;
    if ((s = vc_eval_retrieval_progress(vc_f32(V), N, vc_f32(&caps.emb), caps.n, D, (const int64_t *)caps.row.data, 0,
                                        &o->progress, res)))
        goto done;
    /* the loader's thread is done with the handle once it is closed */
    vids = malloc((size_t)N * sizeof(int64_t));
    if (!vids) {
        s = vc_fail(VC_ERR_OOM, "evaluate: out of memory for %lld video indices", (long long)N);
        goto done;
    }
    memcpy(vids, vc_loader_videos(ld), (size_t)N * sizeof(int64_t));
    vc_loader_close(ld);
    *ldp = NULL;
    const vc_h5_info *info = vc_dataset_info(ds);
    if (o->zero_shot && info->has_labels && info->has_class_embeddings) {
        int64_t Kn = info->n_classes;
        labels = malloc((size_t)N * sizeof(int64_t));
        if (!labels) s = vc_fail(VC_ERR_OOM, "evaluate: out of memory for %lld labels", (long long)N);
        if (!s) s = vc_tensor_alloc(&K, VC_F32, VC_DIMS(Kn, D));
        if (!s) s = vc_dataset_read_classes(ds, vc_f32(&K));
        if (!s) s = map_text(m, vc_f32(&K), Kn);
        if (!s) {
            const int64_t *lab = vc_dataset_labels(ds);
            for (int64_t i = 0; i < N; i++) labels[i] = lab[vids[i]];
            s = vc_eval_zeroshot(vc_f32(V), N, vc_f32(&K), Kn, D, labels, 0, res);
        }
    }
done:
    vc_captions_release(&caps);
    vc_tensor_release(&K);
    free(labels);
    free(vids);
    return s;
}

/* V [N, D] := the rows every rank pooled: rank r's [lo_r, hi_r) (the
 * loader's split of a pass) sits in rows lo_r.. of its own V. Gathered in
 * equal blocks of ceil(N/R) rows. */
static vc_status gather_rows(vc_comm *c, vc_real *V, int64_t N, int64_t D) {
    int R = c->size;
    int64_t blk = (N + R - 1) / R, lo = (int64_t)c->rank * N / R, hi = (int64_t)(c->rank + 1) * N / R;
    vc_real *all = malloc((size_t)(R * blk * D + D) * sizeof(vc_real)), *mine = malloc((size_t)(blk * D + D) * sizeof(vc_real));
    if (!all || !mine) {
        free(all);
        free(mine);
        return vc_fail(VC_ERR_OOM, "evaluate: out of memory gathering %lld pooled videos", (long long)N);
    }
    memset(mine, 0, (size_t)(blk * D) * sizeof(vc_real));
    memcpy(mine, V + lo * D, (size_t)((hi - lo) * D) * sizeof(vc_real));
    /* host rows: a comm whose float collectives take device memory (NCCL)
     * gathers them as bytes through its host side */
    vc_status s = c->ops->device == VC_CPU ? vc_comm_allgather(c, mine, blk * D, all)
                                           : vc_comm_allgather_bytes(c, mine, (size_t)(blk * D) * sizeof(vc_real), all);
    if (!s)
        for (int r = 0; r < R; r++) {
            int64_t a = (int64_t)r * N / R, b = (int64_t)(r + 1) * N / R;
            memcpy(V + a * D, all + r * blk * D, (size_t)((b - a) * D) * sizeof(vc_real));
        }
    free(all);
    free(mine);
    return s;
}

vc_status vc_evaluate_sharded(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                              const vc_eval_opts *o, vc_comm *comm, vc_eval_result *res) {
    memset(res, 0, sizeof *res);
    bool dist = comm && comm->size > 1;
    vc_dataset *ds = NULL;
    vc_source src = {0};
    vc_loader *ld = NULL;
    vc_tensor V = {0};
    int64_t D = m->cfg.dim, N = 0;
    vc_status s = vc_dataset_open(&ds, path);
    if (!s) s = vc_dataset_source(ds, &src);
    if (!s && src.dim != D)
        s = vc_fail(VC_ERR_SHAPE, "%s: embeddings are %lld wide but the model expects %lld", path, (long long)src.dim,
                    (long long)D);
    vc_loader_opts lo = loader_opts(o, split, n_split);
    if (dist) {
        lo.shard_rank = comm->rank;
        lo.shard_count = comm->size;
    }
    if (!s) s = vc_loader_open(&ld, &src, &lo);
    if (!s && (N = vc_loader_n_videos(ld)) == 0)
        s = vc_fail(VC_ERR_ARG, "%s: the split has no video with frames to evaluate", path);
    if (!s) s = vc_tensor_alloc(&V, VC_F32, VC_DIMS(N, D));
    if (!s) {
        int64_t a, b;
        vc_loader_shard_range(ld, &a, &b);
        s = pool_all(m, ld, b - a, vc_f32(&V) + a * D, &o->progress);
    }
    if (dist && !(s = vc_comm_agree(comm, s))) s = gather_rows(comm, vc_f32(&V), N, D);
    if (!s && (!dist || comm->rank == 0)) s = score(m, ds, &ld, &V, N, o, res);
    if (dist && !comm->failed_together) {
        /* rank 0's verdict and numbers reach every rank; the others wait as long as it computes */
        vc_comm_patient_begin(comm);
        s = vc_comm_agree(comm, s);
        vc_comm_patient_end(comm);
        if (!s) s = vc_comm_broadcast(comm, res, sizeof *res, 0);
    }
    vc_loader_close(ld);
    vc_tensor_release(&V);
    vc_source_close(&src);
    vc_dataset_close(ds);
    return s;
}

vc_status vc_evaluate(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                      const vc_eval_opts *o, vc_eval_result *res) {
    return vc_evaluate_sharded(m, path, split, n_split, o, NULL, res);
}
