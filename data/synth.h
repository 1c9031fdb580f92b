/* synth.h: the built-in synthetic dataset (`vclip synth`, the default data of
 * `make demo`). It owns the generator below and writes through h5_writer; it
 * does not train or evaluate anything.
 *
 * The task: a caption says in which ORDER events happen, so a pooler that
 * sees only the mean of the frames cannot tell a video from its reorderings,
 * while a temporal pooler (transformer, LSTM) can.
 *
 * Generator (all draws from one vc_rng seeded with `seed`, in a fixed order,
 * so a seed gives the same file bytes every run):
 *   - Fixed random unit vectors in R^D: K event directions e_k; a common
 *     image direction m_img and text direction m_txt (CLIP embeddings share a
 *     large common component); and caption "slot" vectors F_k, M_k, L_k (the
 *     meaning of event k happening first, in the middle, last).
 *   - Videos come in families. A family draws L distinct events (L = 3 with
 *     probability 0.6, else 2), a set not used by an earlier family while
 *     unused sets remain, and gets one video for EVERY ordering of the set
 *     (2 or 6 videos, in a random order). All videos of a family land in the
 *     same split (train 80% / val 10% / test 10% of families), so the test
 *     split holds videos whose frame means are alike but whose captions differ.
 *   - A video with events (a, b[, c]) has n frames, n uniform in
 *     [max(min_frames, L), max_frames] (1 video in 30 has n = L, one frame
 *     per event; 1 in 100 has 0 frames, legal on disk and skipped by
 *     training). The frames are cut into L segments, in event order, of
 *     lengths >= 1 proportional to random weights in [1, 2) (so lengths vary,
 *     yet reorderings of the same events have near-identical frame means); a frame of event k is s * (0.5 m_img + e_k + noise)
 *     with noise ~ N(0, 0.6^2 / D) per coordinate (norm about 0.6) and s, the
 *     video's scale, uniform in [8, 12]: raw, not normalised, like CLIP.
 *   - The caption's meaning is u = unit(F_a + L_last + M_b if L = 3): the
 *     first, middle and last event in their roles. A video has 1 caption,
 *     2 captions (probability 0.2) or none (probability 0.04); each caption
 *     embedding is t * (0.5 m_txt + u + noise), noise norm about 0.25,
 *     t uniform in [7, 9], with text such as "first wave, then jump, finally
 *     clap". Reordering the events changes u almost completely (the slot
 *     vectors are independent), while the frame mean only changes through
 *     the segment lengths.
 *   - Classification: label = the ordered pair (first event, last event),
 *     K (K-1) classes named "starts with wave and ends with clap"; a class
 *     embedding is 8 * (0.5 m_txt + unit(F_first + L_last)), the noise-free
 *     caption of that class, for zero-shot evaluation.
 *
 * Why K = 8 by default: with few events the same set recurs in many families
 * (28 pairs and 56 triples for ~900 families), so a random training batch of
 * 128 usually holds reorderings of some video's events, and the contrastive
 * loss itself rewards seeing order. With K = 16 most sets are unique, batches
 * rarely hold a reordering, and a pooler learns order far more slowly.
 * tests/ref_h5_synth_learn.py checks this with PyTorch (mean pool + linear vs
 * a 2-layer transformer, d = 64, batch 128, 400 AdamW steps, about a minute
 * on 2 cores, default options): test video->text R@1 about 0.15 vs 0.6,
 * zero-shot accuracy about 0.2 vs 0.75 (at K = 16: 0.19 vs 0.23). Identical
 * clean captions (same ordered events) recur too, about 10 videos per ordered
 * tuple, so retrieval R@1 cannot reach 1 even for a perfect model; zero-shot
 * accuracy over the K (K-1) classes has no such ceiling.
 *
 * Keep max_frames <= the pooler's T (default 32) so cropping to T frames never
 * drops an event the caption mentions. */
#ifndef VC_SYNTH_H
#define VC_SYNTH_H

#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/progress.h"
#include "tensor/status.h"

typedef struct {
    int64_t n_videos;     /* V, default 4000 */
    int64_t dim;          /* D, default 512 */
    int64_t min_frames;   /* default 6 */
    int64_t max_frames;   /* default 32 */
    int n_events;         /* K in [3, 64], default 8 (see below) */
    uint64_t seed;        /* default 1 */
    vc_dtype dtype;       /* storage: VC_F16 (default) or VC_F32 */
    int gzip_level;       /* 0 (default) .. 9 */
    vc_progress_hook progress; /* "videos written" of V (default none) */
} vc_synth_opts;

typedef struct {
    int64_t videos, frames, captions, empty_videos, uncaptioned, families, classes;
    int64_t split_size[3];  /* train, val, test */
} vc_synth_stats;

void vc_synth_defaults(vc_synth_opts *o);
/* Writes the dataset to path (through a temporary file); stats may be NULL. */
vc_status vc_synth_write(const char *path, const vc_synth_opts *o, vc_synth_stats *stats);

#endif
