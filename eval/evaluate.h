/* evaluate.h: runs a pooler over a split of a vclip HDF5 file and scores it:
 * retrieval both ways (eval/metrics.h) and, when the file has labels and
 * class embeddings, zero-shot classification. Also gives the pooled video
 * embeddings alone (for `vclip embed`). Inference runs in no_grad mode on a
 * tape of its own. It does not print. */
#ifndef VC_EVALUATE_H
#define VC_EVALUATE_H

#include "data/h5_reader.h"
#include "data/loader.h"
#include "metrics.h"
#include "models/pooler.h"
#include "tensor/comm.h"

typedef struct {
    int64_t batch;           /* videos per forward pass */
    int64_t frames;          /* T */
    vc_frame_mode sampling;
    int64_t mem_budget;      /* bytes (see data/loader.h) */
    int prefetch;
    bool zero_shot;          /* score classification when the file allows */
    vc_progress_hook progress; /* "videos pooled", then metrics.h's "t2v/v2t queries ranked" (fn NULL: none) */
} vc_eval_opts;

/* path is a dataset spec: one vclip HDF5 file or several (data/dataset.h);
 * split indices are the dataset's.
 *
 * Pooled, normalised embeddings of the split's videos (skipping videos with
 * no frames): *emb F32 [n, D] and *videos [n] file indices, both allocated
 * (vc_tensor_release / free). split NULL means every video. */
vc_status vc_embed_split(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                         const vc_eval_opts *o, vc_tensor *emb, int64_t **videos, int64_t *n);

/* Scores the model on the split. Counts of skipped videos land in res. */
vc_status vc_evaluate(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                      const vc_eval_opts *o, vc_eval_result *res);

/* vc_evaluate over the ranks of a comm (every rank calls it with the same
 * arguments; comm NULL or of size 1 is vc_evaluate): each rank pools its
 * contiguous part of the split (data/loader.h, "Shards"), the pooled rows
 * are gathered, rank 0 computes the metrics once and every rank receives
 * them in *res. A failure on any rank fails every rank (tensor/comm.h,
 * vc_comm_agree). Only rank 0 should pass a progress hook. */
vc_status vc_evaluate_sharded(const vc_pooler *m, const char *path, const int64_t *split, int64_t n_split,
                              const vc_eval_opts *o, vc_comm *comm, vc_eval_result *res);

/* The indices of a named split of an open file: "train", "val", "test"
 * (error if the file lacks it) or "all" (*idx NULL: every video). */
vc_status vc_split_by_name(vc_h5 *h, const char *name, const int64_t **idx, int64_t *n);

#endif
