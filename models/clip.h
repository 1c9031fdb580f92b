/* clip.h: the frozen CLIP image and text towers (ViT image encoder, causal
 * text transformer) for inference, and their weights.
 * Owns: reading a CLIP safetensors checkpoint in either naming scheme found
 * in the wild (Hugging Face `vision_model.* / text_model.*`, OpenAI and
 * open_clip `visual.* / transformer.*`), deriving the architecture from the
 * tensors' shapes, and the two forward passes.
 * Not here: decoding and preprocessing images (the towers take normalised
 * float pixels), the tokenizer (models/tokenizer.h makes the ids), batching
 * over a data set, normalising the embeddings (callers L2-normalise).
 *
 *   vc_clip m;
 *   vc_clip_opts o = {.act = VC_CLIP_QUICKGELU};          // OpenAI weights
 *   vc_clip_load(&m, "ViT-B-32.safetensors", &o);
 *   vc_tape t; vc_tape_init(&t, 0); vc_tape_grad(&t, false);
 *   for each batch:
 *       vc_tape_reset(&t);
 *       vc_var *e = vc_clip_encode_image(&t, &m, &pixels);  // [N, E], raw
 *       ... use e->val before the next reset ...
 *   vc_tape_free(&t); vc_clip_free(&m);
 *
 * Architecture from shapes: vision width W and patch size p from the patch
 * conv weight [W, 3, p, p]; the grid G and image size S = G*p from the
 * position embedding [1 + G*G, W]; layers by counting block indices; MLP
 * width from the first fc weight; embedding width E from the projection.
 * Text: vocab V and width from the token embedding [V, Wt], context length
 * from the position embedding [ctx, Wt]. Heads cannot be read from shapes:
 * the released CLIPs (OpenAI, open_clip, Hugging Face ports) use 64-wide
 * heads, so heads = width / 64, except open_clip's large image towers, which
 * have 16 heads: ViT-H/14 (width 1280, 80-wide heads), ViT-g/14 (1408) and
 * ViT-bigG/14 (1664); their text towers are 64-wide again (bigG's text tower
 * is 1280 wide with 20 heads). vc_clip_opts overrides either count. Nor can the
 * activation: OpenAI's weights use QuickGELU, most LAION/open_clip weights
 * GELU, and nothing in the file says which, so the caller chooses (the zero
 * value of vc_clip_opts picks QuickGELU). LayerNorm eps is 1e-5 (both schemes).
 *
 * Weights of any float dtype (F32, F16, BF16, F64) are converted to float32
 * on load (then to bf16 or fp16 when opts->precision asks for it and the
 * device computes in it, and moved to opts->device); the file is closed afterwards. Hugging Face's separate q/k/v
 * projections are packed into one [3W, W] in_proj at load, and OpenAI's
 * right-multiplied projections ([W, E]) are stored transposed, so both
 * schemes run the same forward.
 *
 * The forwards are inference only: they use the raw kernels with a
 * workspace from the tape's arena and record nothing, so no gradient flows
 * (the towers are frozen) and the tape's grad mode does not matter. The
 * workspace holds one block's activations for the batch, not one per layer,
 * so memory grows with the batch size and not with the depth. */
#ifndef VC_CLIP_H
#define VC_CLIP_H

#include <stdbool.h>
#include <stdint.h>

#include "autograd/tape.h"
#include "tensor/precision.h"

typedef enum { VC_CLIP_QUICKGELU = 0, VC_CLIP_GELU } vc_clip_act;
typedef enum { VC_CLIP_NAMES_OPENAI = 0, VC_CLIP_NAMES_HF } vc_clip_names;

/* Which towers to load or build. */
enum { VC_CLIP_VISION = 1, VC_CLIP_TEXT = 2, VC_CLIP_BOTH = 3 };

#define VC_CLIP_HEAD_WIDTH 64 /* the head width of almost every released CLIP tower */

typedef struct {
    int64_t width, layers, heads, mlp; /* residual width, blocks, heads, MLP hidden width */
} vc_clip_tower;

typedef struct {
    int towers;           /* VC_CLIP_VISION | VC_CLIP_TEXT present in the model */
    vc_clip_act act;
    int64_t embed;        /* E: output width of both projections */
    /* image tower */
    int64_t image_size;   /* S: input images are [N, 3, S, S] */
    int64_t patch;        /* p */
    int64_t grid;         /* G = S / p: G*G patch tokens plus the class token */
    vc_clip_tower vision;
    /* text tower */
    int64_t context;      /* the longest id row the position embedding covers */
    int64_t vocab;
    vc_clip_tower text;
} vc_clip_cfg;

typedef struct {
    int towers;           /* what to load; 0 means both */
    vc_clip_act act;      /* the caller's choice; 0 = QuickGELU (OpenAI weights) */
    int vision_heads;     /* 0: vision width / 64 (16 for widths 1280, 1408, 1664) */
    int text_heads;       /* 0: text width / 64 */
    vc_precision precision; /* see vc_clip_set_precision; 0 = fp32 */
    vc_device device;     /* where the weights go (vc_clip_to_device); 0 = cpu */
} vc_clip_opts;

/* One pre-LN residual block (weights in PyTorch Linear layout [out, in]). */
typedef struct {
    vc_tensor ln1_g, ln1_b;   /* [W] */
    vc_tensor qkv_w, qkv_b;   /* [3W, W], [3W]: rows q, then k, then v */
    vc_tensor out_w, out_b;   /* [W, W], [W] */
    vc_tensor ln2_g, ln2_b;   /* [W] */
    vc_tensor fc1_w, fc1_b;   /* [M, W], [M] */
    vc_tensor fc2_w, fc2_b;   /* [W, M], [W] */
} vc_clip_block;

typedef struct {
    vc_clip_cfg cfg;
    /* image tower */
    vc_tensor patch_w;              /* [W, 3*p*p]: the conv weight, rows (channel, y, x) */
    vc_tensor class_emb;            /* [W] */
    vc_tensor vpos;                 /* [1 + G*G, W] */
    vc_tensor ln_pre_g, ln_pre_b;   /* [W] */
    vc_clip_block *vblocks;         /* [vision.layers] */
    vc_tensor ln_post_g, ln_post_b; /* [W] */
    vc_tensor vproj;                /* [E, W] (transposed from OpenAI's [W, E]) */
    /* text tower */
    vc_tensor tok_emb;              /* [V, Wt] */
    vc_tensor tpos;                 /* [context, Wt] */
    vc_clip_block *tblocks;         /* [text.layers] */
    vc_tensor ln_final_g, ln_final_b;
    vc_tensor tproj;                /* [E, Wt] */
    /* The precision the products run in (vc_clip_set_precision): with bf16
     * (fp16) the matrices above (patch_w, the blocks' *_w, vproj, tproj) are
     * held as VC_BF16 (VC_F16), everything else stays float32. */
    vc_precision precision;
    vc_precision asked;   /* what was asked (precision may have fallen back) */
    vc_device device;     /* where every tensor above lives (vc_clip_to_device) */
} vc_clip;

/* "quickgelu" or "gelu". */
vc_status vc_clip_act_parse(const char *s, vc_clip_act *out);
const char *vc_clip_act_name(vc_clip_act a);

/* Loads the towers opts->towers asks for from a safetensors checkpoint.
 * A missing tensor, or one whose shape disagrees with the architecture read
 * from the others, fails naming the tensor and the file. Extra tensors
 * (logit_scale, position_ids, the tower not asked for) are ignored. */
vc_status vc_clip_load(vc_clip *m, const char *path, const vc_clip_opts *opts);
/* A model of cfg's shape with random weights (benchmarks, tests). Sizes
 * not used by the towers cfg->towers names are ignored; grid is derived. */
vc_status vc_clip_init_random(vc_clip *m, const vc_clip_cfg *cfg, uint64_t seed);
/* ViT-B/32's shape (image 224, patch 32, width 768, 12 layers; text 77 x
 * 49408, width 512, 12 layers; embed 512) with the given activation. */
void vc_clip_cfg_vit_b32(vc_clip_cfg *cfg, vc_clip_act act);
/* Writes the model's towers under the given naming scheme (float32), so a
 * load gives back the same model. A model held in bf16 is refused (set it
 * back to fp32 first). */
vc_status vc_clip_save(const vc_clip *m, const char *path, vc_clip_names names);
void vc_clip_free(vc_clip *m);
/* Converts the towers' matrices to the storage precision p computes in on
 * the model's backend (vc_precision_on: bf16 falls back to fp32 where there
 * are no bf16 products) and sets m->precision to it. bf16 halves their memory
 * and runs every product with bf16 inputs and float32 accumulation;
 * LayerNorm, attention softmax and the activations stay float32. Going back
 * to fp32 widens the rounded values. */
vc_status vc_clip_set_precision(vc_clip *m, vc_precision p);
/* Moves every tensor of a CPU model to device d (the towers then run there,
 * on a tape whose arena is on d), converting the matrices first to the
 * storage precision d computes the asked precision in (bf16 or fp16 on
 * CUDA even where this CPU fell back to fp32). Fails naming the device when
 * this build has no backend for it or its memory runs out (the model is
 * then partly moved: free it). A moved model can be converted
 * (vc_clip_set_precision) but not saved. */
vc_status vc_clip_to_device(vc_clip *m, vc_device d);
/* "vision 224/32 w768 x12 h12 mlp3072; text 77x49408 w512 x12 h8 mlp2048; embed 512 quickgelu" */
const char *vc_clip_describe(const vc_clip_cfg *cfg, char *buf, int len);
/* Float32 parameter count of the towers present. */
int64_t vc_clip_numel(const vc_clip *m);

/* images [N, 3, S, S] float32 (preprocessed: RGB, CLIP-normalised; on the
 * CPU, or contiguous on the tape's device) -> [N, E] raw image embeddings
 * (not normalised), in the tape's arena (on the tape's device, which must
 * be the model's). */
vc_var *vc_clip_encode_image(vc_tape *t, const vc_clip *m, const vc_tensor *images);
/* ids [N, L] int32 or int64 on the CPU, L <= context, each row as the tokenizer makes
 * it (start, text, end, zero padding) -> [N, E] raw text embeddings, read
 * at the end-of-text token, i.e. the position of each row's highest id (the
 * first one on ties), as CLIP does. The causal mask makes positions after
 * the last end token irrelevant, so they are not computed. */
vc_var *vc_clip_encode_text(vc_tape *t, const vc_clip *m, const vc_tensor *ids);

#endif
