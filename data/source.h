/* source.h: where the batch loader gets its rows from.
 * A vc_source is a small table of what a dataset holds (counts, the frame
 * offsets [V+1], the video of each caption [C]) and functions that read
 * frame or text rows as float32. Two kinds exist: an in-memory source over
 * caller arrays (tests, synthetic data) and a vclip HDF5 file
 * (data/source_h5.h). This module owns that interface and the in-memory
 * kind; it does not own batching (data/loader.h) or file parsing.
 *
 * The index arrays stay in memory (a few int64 per video and caption); the
 * embeddings stay where they are and are read in row ranges on demand.
 * Readers are called from the loader's background thread, one call at a time
 * per source: a source need not be thread-safe, but it must not be used from
 * another thread while a loader over it is open. */
#ifndef VC_SOURCE_H
#define VC_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/status.h"

typedef struct vc_source {
    const char *name;          /* for messages: the file path, or "memory" */
    int64_t dim;               /* D */
    int64_t n_videos;          /* V */
    int64_t n_frames;          /* F = offsets[V] */
    int64_t n_captions;        /* C (0 when the dataset has no captions) */
    vc_dtype frame_dtype;      /* storage type of the frames: VC_F16 or VC_F32 */
    bool has_text;             /* text embeddings can be read (C > 0 and encoded) */
    const int64_t *offsets;    /* [V+1]: video v owns rows offsets[v] .. offsets[v+1]-1 */
    const int64_t *text_video; /* [C]: the video of each caption; NULL when C = 0 */
    void *ctx;
    /* Rows [r0, r0+n) of the frame / text embeddings into dst (n*D floats). */
    vc_status (*read_frames)(void *ctx, int64_t r0, int64_t n, float *dst);
    vc_status (*read_text)(void *ctx, int64_t c0, int64_t n, float *dst);
    void (*close)(void *ctx);  /* may be NULL */
} vc_source;

/* An in-memory dataset. The arrays are borrowed: they must outlive the source. */
typedef struct {
    int64_t dim, n_videos, n_captions;
    const int64_t *offsets;    /* [V+1] */
    const void *frames;        /* [offsets[V], D] of frame_dtype */
    vc_dtype frame_dtype;      /* VC_F32 or VC_F16 (raw IEEE half bits) */
    const int64_t *text_video; /* [C], may be NULL when C = 0 */
    const float *text;         /* [C, D] float32, may be NULL (then has_text is false) */
} vc_source_mem_desc;

/* Validates the description (offsets start at 0 and never decrease, caption
 * videos in range) and fills *src. Release with vc_source_close. */
vc_status vc_source_memory(vc_source *src, const vc_source_mem_desc *d);
void vc_source_close(vc_source *src);  /* NULL or an already closed source is fine */

#endif
