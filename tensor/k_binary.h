/* k_binary.h: element-wise add / sub / mul with NumPy broadcasting, and the
 * reduction that carries a broadcast output's gradient back to an operand.
 * A vc_bcast (backend.h, planned by vc_bcast_plan) describes the output shape
 * and, per output dim, the element stride of each operand (0 where that
 * operand is broadcast). */
#ifndef VC_K_BINARY_H
#define VC_K_BINARY_H

#include "backend.h"  /* vc_binop, vc_bcast */

/* out[i] = a[i] op b[i] over the planned shape; out is contiguous. */
void vc_binary_fwd(vc_binop op, const vc_bcast *p, const vc_real *a, const vc_real *b, vc_real *out);

/* Gradient of operand `which` (0 = a, 1 = b):
 *   gx = beta * gx + reduce_to_operand_shape(g * factor)
 * where factor is 1 (add; a of sub), -1 (b of sub), the other operand (mul). */
void vc_binary_bwd(vc_binop op, int which, const vc_bcast *p, const vc_real *g, const vc_real *a,
                   const vc_real *b, vc_real *gx, vc_real beta);

#endif
