/* checkpoint.h: training checkpoints as safetensors files.
 * Tensors: every parameter under its own name ("pooler.*", "logit_scale";
 * F32), the AdamW moments "optim.m" / "optim.v" (F32, the flat parameter
 * layout), "train.state" (I64: step, optimiser step, best step) and
 * "train.loader" (the loader position, I64 bit patterns of
 * vc_loader_state). Metadata: format "vclip-checkpoint", version "1", the
 * effective run config ("config", INI text), "best_score" (%.17g), "dim".
 * Files are written to a temporary name and renamed (never half-written). */
#ifndef VC_CHECKPOINT_H
#define VC_CHECKPOINT_H

#include "data/loader.h"
#include "optim.h"

typedef struct {
    int64_t step;          /* optimiser steps done */
    int64_t best_step;     /* step of the best validation score (-1: none) */
    double best_score;     /* mean of both R@1 on val (-1: none) */
    vc_loader_state loader;
} vc_ckpt_state;

vc_status vc_ckpt_save(const char *path, const vc_params *ps, const vc_adamw *opt, const vc_ckpt_state *st,
                       const char *config_text, int64_t dim);
/* Loads a checkpoint into parameters already created with the same names
 * and shapes (and moments when opt is not NULL). Every mismatch is an error
 * naming the file and the tensor. */
vc_status vc_ckpt_load(const char *path, vc_params *ps, vc_adamw *opt, vc_ckpt_state *st);
/* The config text stored in a checkpoint (malloc'd) and its width. */
vc_status vc_ckpt_read_config(const char *path, char **config_text, int64_t *dim);

#endif
