/* k_copy.h: data movement kernels behind the shape ops, each usable for the
 * forward (copy) and the backward (copy or accumulate: beta 0 or 1, as in
 * k_unary.h), plus dropout, which is a masked copy.
 * Slabs: a tensor viewed as [P, T, R] around one axis; the kernels move the
 * sub-range [start, start+len) of T between two such views. */
#ifndef VC_K_COPY_H
#define VC_K_COPY_H

#include <stdint.h>

#include "real.h"

/* dst[idx] (+)= src[idx] for every index of shape ne[nd], each side addressed
 * by its own element strides. */
void vc_strided_copy(vc_real *dst, const int64_t *dst_st, const vc_real *src, const int64_t *src_st, int nd,
                     const int64_t *ne, vc_real beta);

/* dst[p, dstart+j, r] (+)= src[p, sstart+j, r] for j < len, p < P, r < R. */
void vc_slab_copy(vc_real *dst, int64_t dT, int64_t dstart, const vc_real *src, int64_t sT, int64_t sstart,
                  int64_t len, int64_t P, int64_t R, vc_real beta);

/* out[n, :] = table[idx[n], 0:D] for n < N, out [N, D], table rows ld
 * elements apart (ld >= D; indices already validated). */
void vc_gather_rows_fwd(const vc_real *table, int64_t ld, const int64_t *idx, vc_real *out, int64_t N, int64_t D);
/* gtable[idx[n], :] += g[n, :] in order of n (gtable zeroed first if beta 0,
 * V rows). Repeated indices accumulate deterministically. */
void vc_gather_rows_bwd(const vc_real *g, const int64_t *idx, vc_real *gtable, vc_real beta, int64_t N, int64_t V,
                        int64_t D);

/* Inverted dropout: element i is kept when hash(seed, stream, i) >= p and
 * scaled by 1/(1-p). The backward recomputes the same mask. */
void vc_dropout_fwd(const vc_real *x, vc_real *y, int64_t n, vc_real p, uint64_t seed, uint64_t stream);
void vc_dropout_bwd(const vc_real *g, vc_real *gx, vc_real beta, int64_t n, vc_real p, uint64_t seed,
                    uint64_t stream);

#endif
