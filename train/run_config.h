/* run_config.h: what a vclip run INI file holds ([data], [model], [train],
 * [eval]), its schema with defaults and docs, and the typed struct the
 * trainer and evaluator read. Loading applies --set overrides and rejects
 * unknown sections, keys and bad values with file and line (train/config.h). */
#ifndef VC_RUN_CONFIG_H
#define VC_RUN_CONFIG_H

#include "config.h"
#include "data/loader.h"
#include "models/pooler.h"
#include "optim.h"
#include "tensor/precision.h"
#include "tensor/device.h"

typedef struct {
    /* [data] */
    const char *file;
    const char *train_split, *val_split, *test_split; /* train|val|test|all|none */
    int64_t frames;                 /* T */
    vc_frame_mode train_sampling, eval_sampling;
    int64_t mem_budget_mb;
    int prefetch;
    /* [model] (dim comes from the data file) */
    vc_pooler_cfg model;            /* dim filled in by vc_run_config_model() */
    int mlp_layers_cfg;             /* -1: the type's default */
    int64_t width_cfg, max_frames_cfg; /* 0: dim / data.frames */
    /* [train] */
    int64_t batch, steps, epochs, min_steps, eval_every, checkpoint_every, log_every;
    int64_t warmup;                 /* -1: warmup_frac of the run */
    double lr, grad_clip, warmup_frac;
    double grad_bucket_mb;          /* 0: one gradient all-reduce after the backward */
    vc_sched_kind schedule;
    vc_adamw_cfg adamw;
    uint64_t seed;
    vc_precision precision;         /* of the training step's products (autograd/op_gemm.h) */
    const char *out_dir;
    vc_device_spec device;          /* [train] device */
    bool tf32, cuda_graph;
    /* [eval] */
    const char *eval_split;
    int64_t eval_batch;
    bool zero_shot;
} vc_run_cfg;

extern const vc_config_key vc_run_schema[];
extern const size_t vc_run_schema_len;

/* Loads path, applies the n overrides ("section.key=value"), validates,
 * and fills *rc (strings point into *cfg, which the caller frees). */
vc_status vc_run_config_load(const char *path, const char *const *overrides, int n, vc_config **cfg,
                             vc_run_cfg *rc);
/* The same from INI text (a checkpoint's stored config). */
vc_status vc_run_config_parse(const char *text, const char *name, const char *const *overrides, int n,
                              vc_config **cfg, vc_run_cfg *rc);
/* The run's length and warmup in optimiser steps for n_train training
 * videos: train.steps when set, else max(ceil(epochs * n_train / batch),
 * min_steps), so epochs scale a large dataset's run while min_steps keeps a
 * small one from stopping after a few hundred updates; warmup is
 * train.warmup, or round(warmup_frac * total) when that is -1. */
void vc_run_schedule(const vc_run_cfg *rc, int64_t n_train, int64_t *total, int64_t *warmup);
/* The peak learning rate a pooler type trains with when [train] lr is -1
 * (the built-in default): the sweep's choice, configs/README.md. */
double vc_run_default_lr(vc_pool_type type);
/* Whether two config texts describe the same run apart from where and how
 * it computes ([train] device, tf32, cuda_graph, grad_bucket_mb): a run may
 * resume on another device. */
vc_status vc_run_config_same_run(const char *a, const char *b, bool *same);
/* Completes rc->model for embedding width dim (width, max_frames, mlp_layers defaults). */
void vc_run_config_model(vc_run_cfg *rc, int64_t dim);

#endif
