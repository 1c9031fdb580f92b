/* k_attention.h: multi-head scaled dot-product attention, forward and
 * backward, reading heads straight out of packed projections.
 *
 * Q, K, V are row-major [B, Tq, ldq], [B, Tk, ldk], [B, Tk, ldv] buffers
 * (ld = row length); head h of Q occupies columns qoff + h*dh .. +dh (same for
 * K, V), so a packed qkv [B, T, 3D] is used without split copies. Output O is
 * [B, Tq, H*dh] with heads side by side. P [B, H, Tq, Tk] holds the attention
 * probabilities (saved for the backward). Key j of batch b is masked when
 * j >= klen[b] (klen may be NULL); `causal` also masks j > i. A query whose
 * keys are all masked gets P = 0 and O = 0. Every (b, h) pair is independent:
 * parallel over them, deterministic for any thread count. */
#ifndef VC_K_ATTENTION_H
#define VC_K_ATTENTION_H

#include "backend.h"  /* vc_attn_dims */

void vc_attention_fwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, vc_real *P,
                      vc_real *O);
/* dQ, dK, dV (any may be NULL) have the layouts of Q, K, V; each head
 * region is written once per batch entry with beta bq/bk/bv (0 overwrite,
 * 1 accumulate; a broadcast operand needs 1 and a zeroed buffer, as do
 * columns outside the head regions). scratch holds
 * vc_attention_bwd_scratch(d) bytes (one Tq x Tk buffer per thread). */
void vc_attention_bwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V, const vc_real *P,
                      const vc_real *dO, vc_real *dQ, vc_real bq, vc_real *dK, vc_real bk, vc_real *dV, vc_real bv,
                      void *scratch);
size_t vc_attention_bwd_scratch(const vc_attn_dims *d);

#endif
