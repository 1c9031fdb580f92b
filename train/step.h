/* step.h: one contrastive training step, shared by `vclip train` and
 * `vclip bench train`: pooler forward on the frames, text head on the
 * captions, symmetric InfoNCE, backward, gradient clipping, AdamW, and the
 * logit_scale clamp to [0, ln 100]. A non-finite loss or gradient norm stops
 * the step before any parameter changes (VC_ERR_NUMERIC).
 *
 * Data-parallel (comm with size R > 1): the batch given is this rank's slice
 * of the global batch; the loss uses the whole global batch as negatives
 * (train/loss.h, vc_infonce_sharded), the gradients are summed over ranks in
 * one all-reduce of the flat gradient buffer (logit_scale included; or in
 * buckets overlapping the backward, grad_bucket_mb), and the loss reported
 * is the global batch's. Every rank then takes the same
 * optimiser step on the same numbers, so the replicas stay identical, and
 * the step fails (or not) on every rank alike. On a device the comm must
 * be one whose float collectives take that device's memory (NCCL, or the
 * host-staged comm); such a comm runs this data-parallel step even with one
 * rank, and never as a captured graph. */
#ifndef VC_STEP_H
#define VC_STEP_H

#include "models/pooler.h"
#include "optim.h"
#include "tensor/comm.h"

typedef struct vc_step_graph vc_step_graph;

typedef struct {
    vc_pooler *model;
    vc_params *ps;           /* holds the pooler's parameters and logit_scale */
    vc_var *logit_scale;     /* [1] */
    vc_adamw *opt;
    vc_tape *tape;
    double grad_clip;        /* <= 0: no clipping */
    uint64_t step;           /* global step: selects the dropout masks */
    vc_comm *comm;           /* NULL or size 1: one process */
    /* On a device (the parameters placed there, vc_params_place): the
     * forward, backward and gradient norm are captured as one CUDA graph
     * after two eager steps and replayed while the batch keeps the captured
     * shapes and lengths (a step with dropout is never replayed). Free
     * with vc_step_ctx_free. */
    bool use_graph;
    vc_step_graph *graph_state;
    /* On a device: called once the step's work is queued, before the host
     * waits for its results (the trainer starts the next batch's copy). */
    void (*queued)(void *ud);
    void *queued_ud;
    /* Data-parallel on the CPU: the gradient all-reduce in buckets of about
     * this many MB started during the backward (train/grad_sync.h); 0: one
     * all-reduce of the whole buffer after the backward. */
    double grad_bucket_mb;
} vc_step_ctx;

typedef struct {
    double loss, grad_norm, logit_scale;
} vc_step_out;

/* frames [B, T, D] (float32), lengths int64 [B], text [B, D] raw caption
 * embeddings: row i of text belongs to video i (B: this rank's rows).
 * lengths is a host tensor; frames and text may be host tensors or already
 * on the parameters' device. */
/* A random batch of B rows, for timings and tests: frames [B, T, D] and
 * text [B, D] standard normal from seed (frames drawn first), every length
 * T. On failure nothing is left allocated. */
vc_status vc_step_random_batch(int64_t B, int64_t T, int64_t D, uint64_t seed, vc_tensor *frames, vc_tensor *lengths,
                               vc_tensor *text);

vc_status vc_train_step(vc_step_ctx *c, const vc_tensor *frames, const vc_tensor *lengths, const vc_tensor *text,
                        double lr, vc_step_out *out);

/* Frees the graph state of a device step (nothing else of c). */
void vc_step_ctx_free(vc_step_ctx *c);
/* Steps that ran as a graph replay so far. */
long long vc_step_graph_replays(const vc_step_ctx *c);

/* Adds "logit_scale" = ln(1/0.07) (no decay) to ps. */
vc_var *vc_logit_scale_init(vc_params *ps);

#endif
