/* k_binary.h: element-wise add / sub / mul with NumPy broadcasting, and the
 * reduction that carries a broadcast output's gradient back to an operand.
 * A vc_bcast describes the output shape and, per output dim, the element
 * stride of each operand (0 where that operand is broadcast). */
#ifndef VC_K_BINARY_H
#define VC_K_BINARY_H

#include "tensor.h"

typedef enum { VC_BIN_ADD, VC_BIN_SUB, VC_BIN_MUL } vc_binop;

typedef struct {
    int nd;
    int64_t ne[VC_MAX_DIMS];
    int64_t sa[VC_MAX_DIMS], sb[VC_MAX_DIMS];
    int64_t n;                 /* output elements */
} vc_bcast;

/* Plans a op b for contiguous a and b; fails naming op and both shapes. */
vc_status vc_bcast_plan(vc_bcast *p, const char *op, const vc_tensor *a, const vc_tensor *b);

/* out[i] = a[i] op b[i] over the planned shape; out is contiguous. */
void vc_binary_fwd(vc_binop op, const vc_bcast *p, const vc_real *a, const vc_real *b, vc_real *out);

/* Gradient of operand `which` (0 = a, 1 = b):
 *   gx = beta * gx + reduce_to_operand_shape(g * factor)
 * where factor is 1 (add; a of sub), -1 (b of sub), the other operand (mul). */
void vc_binary_bwd(vc_binop op, int which, const vc_bcast *p, const vc_real *g, const vc_real *a,
                   const vc_real *b, vc_real *gx, vc_real beta);

#endif
