/* h5_copy.h: copying what goes with the videos of a vclip embeddings file (captions,
 * splits, class names, class embeddings, labels; and the videos themselves, unchanged) from
 * an open file into a writer, for the commands that rewrite a file: encode-text (same
 * videos, text embeddings made from the strings) and embed (some of the videos, pooled; text
 * embeddings mapped by a text head).
 * Owns: reading captions in blocks (strings and embeddings together), restricting captions,
 * splits and labels to a selection of videos and renumbering them, and calling a map over
 * each block of text or class embeddings.
 * Not here: what a map computes (the CLIP text tower, a pooler's text head: models/), the
 * pooled videos (eval/evaluate.h), opening and closing the files (h5_reader.h, h5_writer.h). */
#ifndef VC_H5_COPY_H
#define VC_H5_COPY_H

#include <stdbool.h>
#include <stdint.h>

#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "tensor/progress.h"

/* What a map does to n texts (captions or class names): texts[n] are the strings (NULL when
 * the file has none); emb [n, D] holds the file's embeddings when *has_emb is true on entry.
 * It leaves in emb the embeddings to write and sets *has_emb to whether there are any. */
typedef vc_status (*vc_text_map)(void *ctx, char *const *texts, float *emb, int64_t n, bool *has_emb);

typedef struct {
    /* The selection: newidx [V] gives each file video's output index, -1 to drop it, and
     * sel [n_sel] each output video's file index (its inverse, increasing). Both NULL: every
     * video, same index. */
    const int64_t *newidx;
    const int64_t *sel;
    int64_t n_sel;
    int64_t block;       /* captions read (and mapped) at once; 0: 4096 */
    vc_text_map map;     /* NULL: embeddings are copied as they are */
    void *ctx;
    bool map_from_text;  /* the map makes the embeddings from the strings: where the file has
                            strings, its embeddings are not read */
    vc_progress_hook progress; /* captions done of C after each block (fn NULL: none), */
    const char *phase;         /* under this name (NULL: "captions copied") */
} vc_h5_copy_opts;

/* Every video with its id, frames and metadata (/video/meta), as they are (same indices;
 * needs no selection). progress (may be NULL) hears "videos copied", done of V. */
vc_status vc_h5_copy_videos(vc_h5 *h, vc_h5w *w, const vc_progress_hook *progress);

/* The captions of the selected videos in file order, their video renumbered; *n_copied (may
 * be NULL) gets how many. */
vc_status vc_h5_copy_captions(vc_h5 *h, vc_h5w *w, const vc_h5_copy_opts *o, int64_t *n_copied);

/* Each split restricted to the selected videos and renumbered. With a selection, a split it
 * leaves empty is dropped; without one every split is copied as it is. */
vc_status vc_h5_copy_splits(vc_h5 *h, vc_h5w *w, const vc_h5_copy_opts *o);

/* Class names with their embeddings (through the map, which gets the names as texts, all K
 * at once) and the labels of the selected videos. The file format carries labels and class
 * embeddings only with class names: without /class/names nothing is copied. *n_classes (may
 * be NULL) gets K, or 0 when nothing was copied. */
vc_status vc_h5_copy_classes(vc_h5 *h, vc_h5w *w, const vc_h5_copy_opts *o, int64_t *n_classes);

#endif
