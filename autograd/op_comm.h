/* op_comm.h: differentiable collectives for data-parallel training.
 * The one op is all-gather with gradient (open_clip's gather_with_grad):
 * every rank contributes its rows and receives every rank's, and in the
 * backward pass the gradient of the gathered rows is summed over ranks and
 * each rank keeps the slice of its own rows (a reduce-scatter), so the
 * gradient reaching a rank's rows counts their use by every rank's loss.
 * A plain gather without this backward would keep only the local use and
 * lose the other ranks' terms.
 *
 * The backward calls the comm: every rank must run the same graph so the
 * collectives line up (tensor/comm.h). Owns only the op; the comm table is
 * tensor/comm.h, the losses that use it train/loss.h. */
#ifndef VC_OP_COMM_H
#define VC_OP_COMM_H

#include "tensor/comm.h"
#include "ops.h"

/* x [n, ...] on every rank (the same shape everywhere) -> [size * n, ...],
 * rows r*n .. r*n + n-1 from rank r. With a single-rank comm the output is
 * a copy of x. */
vc_var *vc_all_gather(vc_tape *t, vc_var *x, vc_comm *c);

#endif
