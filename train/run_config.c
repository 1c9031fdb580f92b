#include "run_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K VC_CFG_KEY
#define E VC_CFG_ENUM_KEY

const vc_config_key vc_run_schema[] = {
    K("data", "file", VC_CFG_STRING, NULL, "vclip HDF5 embeddings file (data/FORMAT.md), relative to the working directory"),
    E("data", "train_split", "train", "train|val|test|all", "videos to train on"),
    E("data", "val_split", "val", "train|val|test|all|none", "videos for periodic evaluation and best-checkpoint selection"),
    E("data", "test_split", "test", "train|val|test|all|none", "videos for the final evaluation (never used for selection)"),
    K("data", "frames", VC_CFG_INT, "32", "T: frames per video after sampling"),
    E("data", "train_sampling", "random", "first|uniform|random", "how a longer video is cut to T frames in training"),
    E("data", "eval_sampling", "uniform", "first|uniform|random", "the same in evaluation (random = centred window)"),
    K("data", "mem_budget_mb", VC_CFG_INT, "1024", "frames kept in RAM; larger datasets stream from disk"),
    K("data", "prefetch", VC_CFG_INT, "4", "batches prepared ahead by the loader thread (0: none)"),
    E("model", "type", "transformer", "mean|wavg|mlp_mean|transformer|cross_attn|lstm|tokenlearner", "pooler"),
    K("model", "width", VC_CFG_INT, "0", "inner width of attention poolers (0: the embedding width)"),
    K("model", "layers", VC_CFG_INT, "-1",
      "transformer blocks (tokenlearner: blocks over the tokens; -1: the type's default, transformer 2, tokenlearner 1)"),
    K("model", "heads", VC_CFG_INT, "8", "attention heads"),
    K("model", "mlp_ratio", VC_CFG_INT, "4", "MLP hidden width / width"),
    E("model", "act", "gelu", "gelu|quickgelu", "MLP activation"),
    K("model", "tokens", VC_CFG_INT, "8", "learned queries (cross_attn) or tokens (tokenlearner)"),
    K("model", "residual", VC_CFG_BOOL, "true", "add the input frames back (transformer, lstm, mlp_mean)"),
    K("model", "max_frames", VC_CFG_INT, "0", "position embeddings (0: data.frames)"),
    K("model", "mlp_layers", VC_CFG_INT, "-1", "mlp_mean: 1 or 2 Linear layers; cross_attn: 0 or 1 MLP head (-1: default)"),
    K("model", "hidden", VC_CFG_INT, "64", "tokenlearner score MLP width"),
    K("model", "dropout", VC_CFG_DOUBLE, "0", "dropout on attention and MLP outputs"),
    E("model", "text_head", "none", "none|linear", "trainable linear map on the text side (starts as identity)"),
    K("train", "batch", VC_CFG_INT, "128", "videos per step (more = more negatives)"),
    K("train", "steps", VC_CFG_INT, "0", "optimiser steps (0: from epochs and min_steps)"),
    K("train", "epochs", VC_CFG_INT, "10", "passes over the training videos when steps is 0"),
    K("train", "min_steps", VC_CFG_INT, "1000",
      "when steps is 0, the run is max(epochs over the training videos, min_steps) steps: a floor for small datasets"),
    K("train", "lr", VC_CFG_DOUBLE, "-1",
      "peak learning rate (-1: the pooler type's default from the sweep in configs/README.md)"),
    K("train", "warmup", VC_CFG_INT, "-1", "linear warmup steps (-1: warmup_frac of the run's steps)"),
    K("train", "warmup_frac", VC_CFG_DOUBLE, "0.1", "warmup as a fraction of the run's steps, when warmup is -1"),
    E("train", "schedule", "cosine", "cosine|constant|linear", "learning rate after warmup"),
    K("train", "weight_decay", VC_CFG_DOUBLE, "0.2", "AdamW decoupled decay on weight matrices only"),
    K("train", "beta1", VC_CFG_DOUBLE, "0.9", "AdamW beta1"),
    K("train", "beta2", VC_CFG_DOUBLE, "0.98", "AdamW beta2"),
    K("train", "eps", VC_CFG_DOUBLE, "1e-6", "AdamW epsilon"),
    K("train", "grad_clip", VC_CFG_DOUBLE, "1.0", "global gradient norm limit (0: off)"),
    K("train", "grad_bucket_mb", VC_CFG_DOUBLE, "0",
      "data-parallel on the CPU: all-reduce the gradients in buckets of about this many MB, each started during "
      "the backward once its gradients are final (0: one all-reduce of the whole buffer after the backward)"),
    E("train", "precision", "fp32", "fp32|bf16|fp16",
      "matrix products: bf16 = bf16 inputs (float32 master weights, bf16 copies per step), float32 accumulation; "
      "fp16 is for inference only and refused"),
    K("train", "seed", VC_CFG_INT, "0", "seed of initialisation, shuffling, sampling and dropout"),
    K("train", "eval_every", VC_CFG_INT, "0", "evaluate on val_split every N steps (0: every epoch)"),
    K("train", "checkpoint_every", VC_CFG_INT, "0", "write last.safetensors every N steps (0: at every evaluation)"),
    K("train", "log_every", VC_CFG_INT, "10", "log.jsonl line every N steps"),
    K("train", "out_dir", VC_CFG_STRING, "runs/default", "run directory (config.ini, log.jsonl, checkpoints)"),
    K("train", "device", VC_CFG_STRING, "cpu", "where the step runs: cpu, cuda or cuda:N (checkpoints load on any)"),
    K("train", "tf32", VC_CFG_BOOL, "false", "CUDA: matrix products on TF32 tensor cores (10-bit mantissa inputs)"),
    K("train", "cuda_graph", VC_CFG_BOOL, "true", "CUDA: replay the step as one captured graph once shapes are fixed"),
    E("eval", "split", "test", "train|val|test|all", "split `vclip eval` reports"),
    K("eval", "batch", VC_CFG_INT, "256", "videos per forward pass in evaluation"),
    K("eval", "zero_shot", VC_CFG_BOOL, "true", "also report zero-shot classification when the file has labels"),
};
const size_t vc_run_schema_len = sizeof vc_run_schema / sizeof vc_run_schema[0];

#define TRY(x)                  \
    do {                        \
        vc_status s_ = (x);     \
        if (s_) return s_;      \
    } while (0)

double vc_run_default_lr(vc_pool_type type) {
    /* from the sweep in configs/README.md (vclip synth, 6,000 training
     * videos, 1,000 steps, 10% warmup) */
    switch (type) {
    case VC_POOL_WAVG:
    case VC_POOL_LSTM: return 1e-3;
    default: return 3e-4;
    }
}

static vc_status fill(vc_config *c, vc_run_cfg *rc) {
    memset(rc, 0, sizeof *rc);
    int e;
    int64_t i;
    double d;
    TRY(vc_config_string(c, "data", "file", &rc->file));
    TRY(vc_config_string(c, "data", "train_split", &rc->train_split));
    TRY(vc_config_string(c, "data", "val_split", &rc->val_split));
    TRY(vc_config_string(c, "data", "test_split", &rc->test_split));
    TRY(vc_config_int_range(c, "data", "frames", 1, 100000, &rc->frames));
    TRY(vc_config_enum(c, "data", "train_sampling", &e));
    rc->train_sampling = (vc_frame_mode)e;
    TRY(vc_config_enum(c, "data", "eval_sampling", &e));
    rc->eval_sampling = (vc_frame_mode)e;
    TRY(vc_config_int_range(c, "data", "mem_budget_mb", 1, (int64_t)1 << 30, &rc->mem_budget_mb));
    TRY(vc_config_int_range(c, "data", "prefetch", 0, 64, &i));
    rc->prefetch = (int)i;

    vc_pooler_cfg *m = &rc->model;
    TRY(vc_config_enum(c, "model", "type", &e));
    vc_pooler_cfg_default(m, (vc_pool_type)e, 1);
    TRY(vc_config_int_range(c, "model", "width", 0, 1 << 20, &rc->width_cfg));
    TRY(vc_config_int_range(c, "model", "layers", -1, 64, &i));
    bool layers_default = i < 0; /* the type's default, written back below */
    if (!layers_default) m->layers = (int)i;
    TRY(vc_config_int_range(c, "model", "heads", 1, 1024, &i));
    m->heads = (int)i;
    TRY(vc_config_int_range(c, "model", "mlp_ratio", 1, 64, &i));
    m->mlp_ratio = (int)i;
    TRY(vc_config_enum(c, "model", "act", &e));
    m->act = (vc_act)e;
    TRY(vc_config_int_range(c, "model", "tokens", 1, 1024, &i));
    m->tokens = (int)i;
    TRY(vc_config_bool(c, "model", "residual", &m->residual));
    TRY(vc_config_int_range(c, "model", "max_frames", 0, 100000, &rc->max_frames_cfg));
    TRY(vc_config_int_range(c, "model", "mlp_layers", -1, 2, &i));
    rc->mlp_layers_cfg = (int)i;
    TRY(vc_config_int_range(c, "model", "hidden", 1, 1 << 20, &m->hidden));
    TRY(vc_config_double_range(c, "model", "dropout", 0, 0.99, &d));
    m->dropout = (float)d;
    TRY(vc_config_enum(c, "model", "text_head", &e));
    m->text_head = e == 1;

    TRY(vc_config_int_range(c, "train", "batch", 2, 1 << 20, &rc->batch));
    TRY(vc_config_int_range(c, "train", "steps", 0, (int64_t)1 << 40, &rc->steps));
    TRY(vc_config_int_range(c, "train", "epochs", 1, 1 << 20, &rc->epochs));
    TRY(vc_config_int_range(c, "train", "min_steps", 0, (int64_t)1 << 40, &rc->min_steps));
    TRY(vc_config_double_range(c, "train", "lr", -1, 10, &rc->lr));
    if (rc->lr < 0 && rc->lr != -1) return vc_fail(VC_ERR_ARG, "config: [train] lr is %g: a rate >= 0, or -1 for the "
                                                               "pooler type's default", rc->lr);
    /* the effective config (the run's config.ini, the checkpoint's) holds
     * the numbers the run used, not -1 */
    char v[64];
    if (layers_default) {
        snprintf(v, sizeof v, "%d", m->layers);
        TRY(vc_config_resolve(c, "model", "layers", v));
    }
    if (rc->lr == -1) {
        rc->lr = vc_run_default_lr(m->type);
        snprintf(v, sizeof v, "%g", rc->lr);
        TRY(vc_config_resolve(c, "train", "lr", v));
    }
    TRY(vc_config_int_range(c, "train", "warmup", -1, (int64_t)1 << 40, &rc->warmup));
    TRY(vc_config_double_range(c, "train", "warmup_frac", 0, 0.5, &rc->warmup_frac));
    TRY(vc_config_enum(c, "train", "schedule", &e));
    rc->schedule = (vc_sched_kind)e;
    TRY(vc_config_double_range(c, "train", "weight_decay", 0, 10, &rc->adamw.weight_decay));
    TRY(vc_config_double_range(c, "train", "beta1", 0, 0.999999, &rc->adamw.beta1));
    TRY(vc_config_double_range(c, "train", "beta2", 0, 0.999999999, &rc->adamw.beta2));
    TRY(vc_config_double_range(c, "train", "eps", 1e-30, 1, &rc->adamw.eps));
    TRY(vc_config_double_range(c, "train", "grad_clip", 0, 1e30, &rc->grad_clip));
    TRY(vc_config_double_range(c, "train", "grad_bucket_mb", 0, 1e9, &rc->grad_bucket_mb));
    TRY(vc_config_enum(c, "train", "precision", &e));
    if (e == 2)
        return vc_fail(VC_ERR_ARG, "[train] precision = fp16: fp16 is an inference mode (the CLIP towers); train in "
                                   "bf16 or fp32");
    rc->precision = e == 1 ? VC_PREC_BF16 : VC_PREC_FP32;
    TRY(vc_config_int_range(c, "train", "seed", 0, INT64_MAX, &i));
    rc->seed = (uint64_t)i;
    TRY(vc_config_int_range(c, "train", "eval_every", 0, (int64_t)1 << 40, &rc->eval_every));
    TRY(vc_config_int_range(c, "train", "checkpoint_every", 0, (int64_t)1 << 40, &rc->checkpoint_every));
    TRY(vc_config_int_range(c, "train", "log_every", 1, (int64_t)1 << 40, &rc->log_every));
    TRY(vc_config_string(c, "train", "out_dir", &rc->out_dir));
    const char *dev;
    TRY(vc_config_string(c, "train", "device", &dev));
    if (vc_device_parse(dev, &rc->device))
        return vc_fail(VC_ERR_ARG, "config: [train] device = %s: expected cpu, cuda or cuda:N", dev);
    TRY(vc_config_bool(c, "train", "tf32", &rc->tf32));
    TRY(vc_config_bool(c, "train", "cuda_graph", &rc->cuda_graph));
    TRY(vc_config_string(c, "eval", "split", &rc->eval_split));
    TRY(vc_config_int_range(c, "eval", "batch", 1, 1 << 20, &rc->eval_batch));
    TRY(vc_config_bool(c, "eval", "zero_shot", &rc->zero_shot));
    if (!*rc->file) return vc_fail(VC_ERR_ARG, "config: [data] file is empty");
    if (!*rc->out_dir) return vc_fail(VC_ERR_ARG, "config: [train] out_dir is empty");
    return VC_OK;
}

static vc_status finish(vc_config *c, const char *const *ov, int n, vc_run_cfg *rc) {
    for (int i = 0; i < n; i++) TRY(vc_config_set(c, ov[i]));
    TRY(vc_config_validate(c, vc_run_schema, vc_run_schema_len));
    return fill(c, rc);
}

vc_status vc_run_config_load(const char *path, const char *const *ov, int n, vc_config **cfg, vc_run_cfg *rc) {
    *cfg = NULL;
    TRY(vc_config_load(cfg, path));
    vc_status s = finish(*cfg, ov, n, rc);
    if (s) {
        vc_config_free(*cfg);
        *cfg = NULL;
    }
    return s;
}

vc_status vc_run_config_parse(const char *text, const char *name, const char *const *ov, int n, vc_config **cfg,
                              vc_run_cfg *rc) {
    *cfg = NULL;
    TRY(vc_config_parse(cfg, text, name));
    vc_status s = finish(*cfg, ov, n, rc);
    if (s) {
        vc_config_free(*cfg);
        *cfg = NULL;
    }
    return s;
}

vc_status vc_run_config_same_run(const char *a, const char *b, bool *same) {
    /* where and how a run computes is not part of what it computes: the keys below
     * may differ between a checkpoint's run and its resumption */
    static const char *const free_keys[] = {"train.device=cpu", "train.tf32=false", "train.cuda_graph=true",
                                            "train.grad_bucket_mb=0"};
    char *t[2] = {NULL, NULL};
    const char *in[2] = {a, b};
    vc_status s = VC_OK;
    for (int i = 0; i < 2 && !s; i++) {
        vc_config *c;
        if ((s = vc_config_parse(&c, in[i], "config"))) break;
        for (size_t k = 0; k < sizeof free_keys / sizeof free_keys[0] && !s; k++) s = vc_config_set(c, free_keys[k]);
        if (!s) s = vc_config_validate(c, vc_run_schema, vc_run_schema_len);
        if (!s) s = vc_config_text(c, &t[i]);
        vc_config_free(c);
    }
    if (!s) *same = strcmp(t[0], t[1]) == 0;
    free(t[0]);
    free(t[1]);
    return s;
}

void vc_run_config_model(vc_run_cfg *rc, int64_t dim) {
    vc_pooler_cfg *m = &rc->model;
    vc_pooler_cfg def;
    vc_pooler_cfg_default(&def, m->type, dim);
    m->dim = dim;
    m->width = rc->width_cfg ? rc->width_cfg : dim;
    m->max_frames = rc->max_frames_cfg ? rc->max_frames_cfg : rc->frames;
    m->mlp_layers = rc->mlp_layers_cfg >= 0 ? rc->mlp_layers_cfg : def.mlp_layers;
}

void vc_run_schedule(const vc_run_cfg *rc, int64_t n_train, int64_t *total, int64_t *warmup) {
    /* epochs * n_train stays far below 2^63: epochs <= 2^20, and a dataset
     * of 2^43 videos does not fit an HDF5 file this loader reads */
    int64_t t = rc->steps;
    if (!t) {
        t = (rc->epochs * n_train + rc->batch - 1) / rc->batch;
        if (t < rc->min_steps) t = rc->min_steps;
    }
    *total = t;
    *warmup = rc->warmup >= 0 ? rc->warmup : (int64_t)llround(rc->warmup_frac * (double)t);
}
