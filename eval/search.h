/* search.h: text-to-video search over a vclip embeddings file: scoring and the top K.
 * Owns: the top-K list (best first; an equal score never displaces or passes an earlier
 * candidate, so ties keep file order), and cosine scores of a query embedding against
 * every video of a file, in three ways:
 *  - vc_search_frames: each video as the mean of its L2-normalised frames, normalised; or
 *    each frame on its own (moments), both in CLIP's own space;
 *  - vc_search_pooled: each video pooled by a trained pooler, against the query mapped by
 *    the pooler's text head (when it has one) and normalised.
 * Videos with 0 frames are never ranked. Memory: one video's frames at a time (or a chunk
 * of pooled embeddings) plus the K hits.
 * Not here: encoding the query text (models/text_embed.h), loading a checkpoint (train/),
 * printing the hits (tools/cmd_search.c). */
#ifndef VC_SEARCH_H
#define VC_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "data/h5_reader.h"
#include "eval/evaluate.h"
#include "models/pooler.h"
#include "tensor/status.h"

typedef struct {
    double score;
    int64_t video, frame; /* frame -1: the whole video */
} vc_hit;

typedef struct {
    vc_hit *h; /* [k], the first n filled, best first */
    int64_t n, k;
} vc_topk;

vc_status vc_topk_init(vc_topk *t, int64_t k);  /* k >= 1 */
void vc_topk_free(vc_topk *t);
/* Offers one candidate: it enters when fewer than k are held or it scores strictly above the
 * last one held; it goes after every held hit that scores at least as much. A NaN score is
 * kept only while there is room and never ranks above another. */
void vc_topk_add(vc_topk *t, double score, int64_t video, int64_t frame);

/* query [D]: a raw CLIP text embedding (D = the file's width; normalised here). Scores every
 * video (moments false: frame -1 in the hits) or every frame (moments true). */
vc_status vc_search_frames(vc_h5 *h, const float *query, bool moments, vc_topk *t);

/* query [D] raw: mapped by m's text head and normalised, then scored against m's pooled,
 * normalised embedding of every video with frames (eo: batch, frames, sampling, memory). */
vc_status vc_search_pooled(vc_h5 *h, const vc_pooler *m, const vc_eval_opts *eo, const float *query, vc_topk *t);

#endif
