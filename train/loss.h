/* loss.h: the symmetric InfoNCE loss of CLIP-style training.
 *   logits = exp(logit_scale) * V T^T   (V, T: [B, D], rows L2-normalised)
 *   loss   = (CE(logits, diag) + CE(logits^T, diag)) / 2
 * logit_scale is a [1] parameter; clamping it to ln(100) is the optimiser
 * step's job (train/optim.h), as in the reference systems. */
#ifndef VC_LOSS_H
#define VC_LOSS_H

#include "autograd/op_comm.h"
#include "autograd/ops.h"

/* Returns the [1] loss; *logits_out (may be NULL) receives the [B, B] logits. */
vc_var *vc_infonce(vc_tape *t, vc_var *video, vc_var *text, vc_var *logit_scale, vc_var **logits_out);

/* The same loss over a global batch split across the ranks of a comm
 * (open_clip's "local loss" with gather-with-grad): video, text [b, D] are
 * this rank's rows of the global batch of B = size * b; both are
 * all-gathered with gradient (autograd/op_comm.h) into [B, D], and
 *   logits_v = s V_r T_all^T,  logits_t = s T_r V_all^T   ([b, B])
 *   loss_r   = (CE(logits_v, rank*b + i) + CE(logits_t, rank*b + i)) / 2
 * Returns loss_r / size: the sum of the returned values over ranks is the
 * loss of the global batch, and the sum over ranks of each rank's parameter
 * gradients (an all-reduce) is that loss's gradient. */
vc_var *vc_infonce_sharded(vc_tape *t, vc_var *video, vc_var *text, vc_var *logit_scale, vc_comm *comm);

#endif
