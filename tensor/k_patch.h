/* k_patch.h: the input embeddings of the CLIP towers (models/clip.c):
 * images cut into patches (so the patch convolution is one GEMM), the class
 * token and position embeddings added to the patch embeddings, and token
 * plus position embeddings for the text tower. Forward only: the towers are
 * frozen. */
#ifndef VC_K_PATCH_H
#define VC_K_PATCH_H

#include <stdint.h>

#include "backend.h"  /* vc_patch_dims */

/* images [N, C, S, S] -> patches [N*G*G, C*P*P]: patch (n, gy, gx) is row
 * n*G*G + gy*G + gx with columns (channel, y, x), the layout of a conv
 * weight [W, C, P, P] flattened. */
void vc_patchify(const vc_patch_dims *d, const vc_real *images, vc_real *patches);

/* x [N, T, W] with x[n, 0] = cls + pos[0] and x[n, i] = emb[n*(T-1) + i-1] +
 * pos[i] for i >= 1: emb [N*(T-1), W], cls [W], pos [T, W]. */
void vc_embed_patches(const vc_real *emb, const vc_real *cls, const vc_real *pos, vc_real *x, int64_t N, int64_t T,
                      int64_t W);

/* x[r] = tok[ids[r]] + pos[r % T] for r < R (rows of [R/T, T] sequences):
 * tok [V, W], ids [R] (already checked to lie in [0, V)), pos [>= T, W]. */
void vc_embed_tokens(const vc_real *tok, const int64_t *ids, const vc_real *pos, vc_real *x, int64_t R, int64_t T,
                     int64_t W);

#endif
