/* loss.h: the symmetric InfoNCE loss of CLIP-style training.
 *   logits = exp(logit_scale) * V T^T   (V, T: [B, D], rows L2-normalised)
 *   loss   = (CE(logits, diag) + CE(logits^T, diag)) / 2
 * logit_scale is a [1] parameter; clamping it to ln(100) is the optimiser
 * step's job (train/optim.h), as in the reference systems. */
#ifndef VC_LOSS_H
#define VC_LOSS_H

#include "autograd/ops.h"

/* Returns the [1] loss; *logits_out (may be NULL) receives the [B, B] logits. */
vc_var *vc_infonce(vc_tape *t, vc_var *video, vc_var *text, vc_var *logit_scale, vc_var **logits_out);

#endif
