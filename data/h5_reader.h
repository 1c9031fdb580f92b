/* h5_reader.h: opens and validates a vclip embeddings file (data/FORMAT.md,
 * version 1) and reads it in row blocks. It owns the structural validation and
 * the float16/float32 -> float32 conversion with the NaN/Inf check; it does
 * not own batching, shuffling or prefetching (the loader builds on this).
 *
 *   vc_h5 *h;
 *   vc_h5_open(&h, "data.h5");                    // validates the structure
 *   const vc_h5_info *in = vc_h5_get_info(h);
 *   const int64_t *off = vc_h5_offsets(h);        // [V+1], in memory
 *   vc_h5_read_frames(h, off[v], off[v+1] - off[v], dst);  // dst: n*D floats
 *   vc_h5_close(h);
 *
 * vc_h5_open checks everything that is small enough to hold in memory: root
 * attributes, every dataset's rank, type and length, D agreement, offsets
 * (offsets[0] = 0, non-decreasing, offsets[V] = F), caption -> video indices,
 * split indices and labels in range. Embedding values are checked as they are
 * read: a NaN or Inf fails the read naming the file, the dataset and the first
 * bad row. (`vclip info` reads every row, so it validates the values too.)
 * Errors never print; the message names the file and the dataset, e.g.
 * "data.h5: /video/offsets decreases at index 7 (12 after 15)".
 *
 * Memory held per open file: offsets [V+1], caption -> video [C], the
 * per-video caption lists [V+1 + C], labels [V] and the split index arrays:
 * a few int64 per video and caption, never embeddings.
 *
 * Threads: one vc_h5 handle must be used by one thread at a time (the handle
 * keeps open HDF5 objects and scratch buffers). Different handles may be used
 * from different threads: every vc_h5_* and vc_h5w_* call holds a process-wide
 * lock while it is inside HDF5, because a serial HDF5 build has global state
 * that is not thread-safe (Debian's build also has its own global lock). So a
 * loader thread reading while other threads do not touch HDF5 runs at full
 * speed, and concurrent callers are serialised, never corrupted. */
#ifndef VC_H5_READER_H
#define VC_H5_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/status.h"

typedef struct vc_h5 vc_h5;

typedef enum { VC_SPLIT_TRAIN = 0, VC_SPLIT_VAL, VC_SPLIT_TEST, VC_NSPLITS } vc_split;

typedef struct {
    int version;                /* vclip_version attribute (1) */
    int64_t dim;                /* D */
    int64_t n_videos;           /* V */
    int64_t n_frames;           /* F = offsets[V] */
    int64_t n_captions;         /* C (rows of /text/video; may be 0) */
    int64_t n_classes;          /* K; 0 without classification data */
    int64_t n_empty_videos;     /* videos with 0 frames */
    int64_t n_uncaptioned;      /* videos with no caption */
    vc_dtype frame_dtype;       /* VC_F16 or VC_F32 */
    vc_dtype text_dtype;        /* valid when has_text_embeddings */
    vc_dtype class_dtype;       /* valid when has_class_embeddings */
    bool has_text_embeddings;   /* false only in a file whose captions still await encoding */
    bool has_captions_text;     /* /text/captions present */
    bool has_labels;            /* /video/label present (then n_classes > 0) */
    bool has_class_names;       /* /class/names present */
    bool has_class_embeddings;  /* /class/embeddings present */
    bool has_meta;              /* /video/meta present (per-video JSON metadata) */
    bool has_split[VC_NSPLITS]; /* /split/train, /split/val, /split/test present */
    int64_t split_size[VC_NSPLITS]; /* number of videos, 0 when absent */
    const char *clip_model;     /* optional attribute, NULL when absent */
    double fps;                 /* optional attribute, 0 when absent */
} vc_h5_info;

/* Opens and validates path. On failure *out is NULL and nothing is leaked. */
vc_status vc_h5_open(vc_h5 **out, const char *path);
void vc_h5_close(vc_h5 *h);  /* NULL is fine */

const vc_h5_info *vc_h5_get_info(const vc_h5 *h);
const char *vc_h5_path(const vc_h5 *h);
const char *vc_split_name(vc_split s);  /* "train", "val", "test" */

/* In-memory index arrays, valid until vc_h5_close. */
const int64_t *vc_h5_offsets(const vc_h5 *h);        /* [V+1] frame row ranges */
const int64_t *vc_h5_caption_video(const vc_h5 *h);  /* [C] video of each caption */
/* Captions of video v are caption_index[caption_offsets[v] .. caption_offsets[v+1]),
 * in increasing caption order. */
const int64_t *vc_h5_caption_offsets(const vc_h5 *h); /* [V+1] */
const int64_t *vc_h5_caption_index(const vc_h5 *h);   /* [C] */
const int64_t *vc_h5_labels(const vc_h5 *h);          /* [V], NULL without labels */

/* The video indices of split s: *idx points into the handle, *n its length.
 * Fails (VC_ERR_FORMAT, naming the file) when the file has no such split.
 * Without any /split group the caller treats the whole file as one split:
 * use vc_h5_all_videos. */
vc_status vc_h5_split(const vc_h5 *h, vc_split s, const int64_t **idx, int64_t *n);
/* 0 .. V-1 (allocated on first use, held by the handle). */
vc_status vc_h5_all_videos(vc_h5 *h, const int64_t **idx, int64_t *n);

/* Reads rows [r0, r0+n) as float32 into dst (n*D floats, row-major),
 * converting float16. A NaN or Inf fails with VC_ERR_NUMERIC naming the file,
 * the dataset and the first bad row; a range outside the dataset is VC_ERR_ARG.
 * n = 0 is a no-op. */
vc_status vc_h5_read_frames(vc_h5 *h, int64_t r0, int64_t n, float *dst); /* /video/embeddings */
vc_status vc_h5_read_text(vc_h5 *h, int64_t r0, int64_t n, float *dst);   /* /text/embeddings */
vc_status vc_h5_read_classes(vc_h5 *h, float *dst);                        /* /class/embeddings, K*D */

/* Strings, returned as a malloc'd NUL-terminated UTF-8 copy the caller frees
 * with free(). A missing optional dataset is VC_ERR_FORMAT. A string
 * longer than VC_H5_STRING_MAX bytes is VC_ERR_FORMAT (a damaged length:
 * the reader refuses it before allocating it; the writer, data/h5_writer.h,
 * refuses to write one). */
#define VC_H5_STRING_MAX (1 << 20)
vc_status vc_h5_video_id(vc_h5 *h, int64_t v, char **out);
vc_status vc_h5_caption(vc_h5 *h, int64_t c, char **out);   /* needs has_captions_text */
vc_status vc_h5_class_name(vc_h5 *h, int64_t k, char **out); /* needs has_class_names */
vc_status vc_h5_video_meta(vc_h5 *h, int64_t v, char **out); /* needs has_meta; "" = none */

/* n strings [i0, i0+n) of one set in one read (much faster than n single
 * reads); out[0..n) receive malloc'd copies. On failure every out[i] is NULL.
 * Metadata entries are checked as they are read: each is "" or one JSON
 * value, else VC_ERR_FORMAT naming the entry. */
typedef enum { VC_H5_IDS = 0, VC_H5_CAPTIONS, VC_H5_CLASS_NAMES, VC_H5_META } vc_h5_strings;
vc_status vc_h5_read_strings(vc_h5 *h, vc_h5_strings which, int64_t i0, int64_t n, char **out);

/* Reads everything of the file that vc_h5_open does not hold in memory:
 * the index entry of every chunk of every embedding and string dataset
 * (each must lie inside the file), every string of every string set
 * (metadata checked as JSON) and, with values, every embedding row (the
 * NaN/Inf check). Memory stays bounded: blocks of at most 8 MB of rows,
 * 4096 strings or 1024 chunk entries; progress (may be NULL) is called
 * at the start of each phase ("frame rows checked", "ids checked", ...:
 * done 0) and after each block, with the phase's done and total. *meta_nonempty (may be NULL) gets the number of videos with
 * metadata. `vclip info` runs this with values; data/h5_guard.h's check
 * runs it in a child process. */
typedef void (*vc_h5_scan_progress)(void *ctx, const char *phase, int64_t done, int64_t total);
vc_status vc_h5_scan(vc_h5 *h, bool values, int64_t *meta_nonempty, vc_h5_scan_progress progress, void *ctx);

#endif
