/* h5_writer.h: writes a vclip embeddings file (data/FORMAT.md, version 1)
 * incrementally, so importers and encoders never hold a dataset in memory.
 *
 *   vc_h5w *w;
 *   vc_h5w_open(&w, "out.h5", &opts);          // writes to "out.h5.tmp.<pid>"
 *   vc_h5w_add_video(w, "vid0", frames, n, D); // frames: n*D floats, raw CLIP
 *   vc_h5w_add_caption(w, video_index, "a dog", emb_or_NULL);
 *   ...
 *   vc_h5w_set_split(w, "train", idx, n);      // optional
 *   vc_h5w_close(w);                           // validates, flushes, renames into place
 *   vc_h5w_abort(w);                           // on any error: removes the temp file
 *
 * Nothing appears at the final path unless vc_h5w_close succeeds. All
 * functions return VC_OK or an error with the message naming the file. */
#ifndef VC_H5_WRITER_H
#define VC_H5_WRITER_H

#include <stdint.h>

#include "tensor/tensor.h"

typedef struct vc_h5w vc_h5w;

typedef struct {
    int64_t dim;                 /* embedding width D (required) */
    vc_dtype dtype;              /* VC_F16 or VC_F32 (storage type of both embedding sets) */
    int gzip_level;              /* 0 = no compression */
    const char *clip_model;      /* optional attribute, NULL to omit */
    double fps;                  /* optional attribute, <= 0 to omit */
} vc_h5w_opts;

vc_status vc_h5w_open(vc_h5w **out, const char *path, const vc_h5w_opts *opts);
/* Appends a video with n frames (n may be 0). Returns its index via *index
 * (may be NULL). frames are n*dim float32, converted to the file dtype; a
 * non-finite value is an error naming the video. */
vc_status vc_h5w_add_video(vc_h5w *w, const char *id, const float *frames, int64_t n, int64_t *index);
/* Appends a caption of an already added video. text may be NULL only if no
 * caption so far had text; emb is dim floats or NULL (then /text/embeddings is
 * filled later by encode-text: all captions of a file must agree). */
vc_status vc_h5w_add_caption(vc_h5w *w, int64_t video, const char *text, const float *emb);
/* Optional metadata of an added video (/video/meta in data/FORMAT.md): a
 * string, normally compacted JSON (data/json_text.h; the writer does not
 * check it). Videos never given one store "", as do all videos added before
 * the first call; without any call the file has no /video/meta. Calls in
 * video order stream; an earlier video may still be set (rewritten in place,
 * slower), and setting a video twice keeps the last text. */
vc_status vc_h5w_set_meta(vc_h5w *w, int64_t video, const char *text);
/* Optional split (name "train", "val" or "test"): video indices. */
vc_status vc_h5w_set_split(vc_h5w *w, const char *name, const int64_t *videos, int64_t n);
/* Optional classification data: a label per video (call after all videos),
 * class names and optional class embeddings (k*dim floats or NULL). */
vc_status vc_h5w_set_labels(vc_h5w *w, const int64_t *labels, int64_t n_videos);
vc_status vc_h5w_set_classes(vc_h5w *w, const char *const *names, int64_t k, const float *emb);
vc_status vc_h5w_close(vc_h5w *w);
void vc_h5w_abort(vc_h5w *w);
int64_t vc_h5w_n_videos(const vc_h5w *w);

#endif
