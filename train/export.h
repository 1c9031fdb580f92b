/* export.h: a trained pooler as a stand-alone safetensors file for
 * inference outside vclip (tools/vclip_torch.py loads it in PyTorch).
 * It owns the export format, documented in models/README.md:
 *   tensors:  every "pooler.*" parameter and "logit_scale" (F32, the names
 *             and shapes of the checkpoint); no optimiser or run state.
 *   metadata: "format" = "vclip-pooler", "version" = "1", "model" = a JSON
 *             object with the full pooler config (vc_export_model_json).
 * What the tensors mean belongs to models/ (one pool_*.c per type). */
#ifndef VC_EXPORT_H
#define VC_EXPORT_H

#include "models/pooler.h"

#define VC_EXPORT_FORMAT "vclip-pooler"
#define VC_EXPORT_VERSION "1"

/* The model description stored under "model": {"type", "dim", "width",
 * "layers", "heads", "mlp_ratio", "act", "tokens", "residual", "max_frames",
 * "mlp_layers", "hidden", "text_head", "dropout"}. Returns a malloc'd string
 * (free it), or NULL with the message set. */
char *vc_export_model_json(const vc_pooler_cfg *c);

/* Reads checkpoint ckpt (its stored config builds the model), writes the
 * export to out through a temporary file and a rename, so a failure leaves
 * no file (and an existing out untouched). Refuses out == ckpt. */
vc_status vc_export_pooler(const char *ckpt, const char *out);

#endif
