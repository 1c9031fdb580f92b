/* pooler.h: the video poolers. A pooler turns a padded batch of raw CLIP
 * frame embeddings [B, T, D] with per-video lengths into one L2-normalised
 * video embedding [B, D]. Every pooler L2-normalises the frames first and
 * its output last, and padded frames (positions >= length) never influence
 * any output. Types (models/README.md says exactly what each computes and
 * the names and shapes of its tensors):
 *   mean, wavg, mlp_mean, transformer, cross_attn, lstm, tokenlearner.
 * Parameters are added to a caller's vc_params under the prefix "pooler.";
 * the optional text head ("pooler.text_head.*") maps text embeddings. */
#ifndef VC_POOLER_H
#define VC_POOLER_H

#include "autograd/ops.h"
#include "autograd/params.h"

typedef enum {
    VC_POOL_MEAN,
    VC_POOL_WAVG,
    VC_POOL_MLP_MEAN,
    VC_POOL_TRANSFORMER,
    VC_POOL_CROSS_ATTN,
    VC_POOL_LSTM,
    VC_POOL_TOKENLEARNER,
    VC_POOL_NTYPES
} vc_pool_type;

typedef enum { VC_ACT_GELU, VC_ACT_QUICKGELU } vc_act;

typedef struct {
    vc_pool_type type;
    int64_t dim;         /* D: frame and text embedding width */
    int64_t width;       /* inner width W of attention models (projected from/to D when different) */
    int layers;          /* transformer blocks (transformer; tokenlearner's token transformer) */
    int heads;
    int mlp_ratio;       /* MLP hidden width = mlp_ratio * W */
    vc_act act;
    int tokens;          /* S: cross_attn queries, tokenlearner tokens */
    int64_t max_frames;  /* positions of wavg / transformer (T must not exceed it) */
    bool residual;       /* add the input frames back (transformer, lstm, mlp_mean) */
    int mlp_layers;      /* mlp_mean: 1 = Linear, 2 = Linear-act-Linear; cross_attn: 0/1 MLP head */
    int64_t hidden;      /* tokenlearner score MLP hidden width */
    float dropout;       /* on attention and MLP outputs while training */
    bool text_head;      /* trainable Linear(D, D) on the text side */
} vc_pooler_cfg;

typedef struct {
    vc_pooler_cfg cfg;
    vc_params *ps;
} vc_pooler;

const char *vc_pool_type_name(vc_pool_type t);
/* VC_ERR_ARG naming the accepted types when s is unknown. */
vc_status vc_pool_type_parse(const char *s, vc_pool_type *out);
/* Defaults of the reference systems for a type and width. */
void vc_pooler_cfg_default(vc_pooler_cfg *c, vc_pool_type type, int64_t dim);
/* Checks the sizes and adds the parameters, initialised from seed (normal
 * 0.02 for new linear and embedding weights, zero biases, unit LayerNorm,
 * PyTorch's uniform(+-1/sqrt(H)) for the LSTM, identity for the text head). */
vc_status vc_pooler_init(vc_pooler *m, const vc_pooler_cfg *cfg, vc_params *ps, uint64_t seed);
/* frames [B, T, D], lengths integer [B] -> [B, D] */
vc_var *vc_pooler_forward(vc_tape *t, const vc_pooler *m, vc_var *frames, const vc_tensor *lengths);
/* text [B, D] -> [B, D]: the text head if configured, then L2 normalisation. */
vc_var *vc_pooler_text(vc_tape *t, const vc_pooler *m, vc_var *text);

#endif
