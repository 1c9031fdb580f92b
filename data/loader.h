/* loader.h: batches of videos for training and evaluation.
 * Owns which videos go into which batch (seeded, resumable shuffles), how a
 * video's frames are cut to T, padding, the caption drawn for each video,
 * prefetching in a background thread, and the memory bound of streaming. It
 * reads rows through a vc_source (data/source.h); it does not parse files.
 *
 *   vc_loader_opts o = vc_loader_defaults();       // then set batch, T, split...
 *   vc_loader *ld;
 *   vc_loader_open(&ld, &src, &o);
 *   const vc_batch *b;
 *   vc_loader_next(ld, &b);     // frames [n,T,D], lengths [n], text [n,D]
 *   vc_loader_close(ld);        // before vc_source_close(&src)
 *
 * Which videos. The split (default: every video) minus videos with 0 frames,
 * and in training minus videos with no caption; both counts are reported.
 * A split that names a video twice or outside the file is an error.
 *
 * Epochs. An epoch is an ordering of those N videos: every video exactly
 * once. Evaluation keeps the split's order and ends each pass with a partial
 * batch if N is not a multiple of B. Training shuffles every epoch from
 * (seed, epoch) and has two ways to end an epoch:
 *   VC_TAIL_CARRY (default): all batches hold exactly B videos. The epochs
 *     form one stream; the batch that crosses an epoch boundary takes the
 *     last videos of epoch e and the first of epoch e+1. Every run of N
 *     consecutive stream positions starting at e*N is still one whole epoch,
 *     and no batch holds a video twice: the new epoch's first batch-share is
 *     kept free of the old epoch's last videos by swapping them with videos
 *     later in the same batch-sized window. Needs N >= 2B-1 unless B divides N.
 *   VC_TAIL_PARTIAL: each epoch ends with its own partial batch.
 *
 * Frames. Each video is cut to at most T frames (length = min(n, T)):
 *   FIRST:   frames 0 .. T-1;
 *   UNIFORM: T frames evenly spaced over the whole video: frame
 *            floor((2k+1) n / 2T) for k = 0..T-1, the centre of each of T
 *            equal segments (all frames when n <= T);
 *   RANDOM:  a contiguous window of T frames starting uniformly in
 *            [0, n-T], drawn per (seed, epoch, video) when training; the
 *            centred window in evaluation.
 * Rows past a video's length are zero.
 *
 * Captions. Training draws one of a video's captions per (seed, epoch, video);
 * evaluation batches carry the video's first caption (or zeros and caption -1
 * when it has none), and vc_loader_captions gives every caption at once.
 *
 * Shards (data-parallel training, evaluation split over ranks). With
 * shard_count R > 1 the loader serves rank shard_rank's part:
 *   training: every global batch of B rows (B divisible by R; CARRY tail
 *     only) is cut into R slices of B/R consecutive rows, and this loader's
 *     batches hold slice shard_rank: rows shard_rank*B/R .. +B/R of the batch
 *     a single loader would produce. The order, the samples and the state
 *     (vc_loader_state: the global batch's position) are those of the single
 *     loader and the same on every rank, so an epoch covers every video once
 *     across ranks, and a state saved by any rank resumes every rank.
 *   evaluation: a pass covers the contiguous positions [lo, hi) =
 *     [rank*N/R, (rank+1)*N/R) of the split's order (vc_loader_shard_range),
 *     in batches of up to B; vc_loader_n_videos, vc_loader_videos and
 *     vc_loader_captions still describe all N videos.
 * Only this rank's rows are read: streaming reads its videos of each window,
 * RAM mode in evaluation holds only [lo, hi) (training holds every video,
 * since each epoch deals them out anew).
 *
 * Determinism. Every random choice is a function of (seed, epoch, video) or
 * (seed, epoch), never of a sequential generator shared with other code or of
 * thread timing: the batches are identical run to run, with or without the
 * background thread, and a saved position (vc_loader_state) resumes exactly.
 *
 * Memory. If the selected videos' frames and captions fit in mem_budget bytes
 * (as float32), they are read once into RAM and each epoch is a full shuffle.
 * Otherwise the loader streams: the epoch order is a shuffle of blocks of
 * block_videos consecutive videos (in file order), cut into windows of G
 * videos (G >= B, from mem_budget) that are each shuffled whole. A window's
 * videos are read sorted by file position in large contiguous reads and only
 * their selected frames are kept; at most two windows are held. So frame
 * memory is bounded by about mem_budget (at least 4 B T D floats) plus the
 * prefetch queue ((prefetch + 1) batches), independent of dataset size; index
 * memory is a few int64 per video and caption. */
#ifndef VC_LOADER_H
#define VC_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "data/source.h"
#include "tensor/tensor.h"

typedef enum { VC_FRAMES_FIRST = 0, VC_FRAMES_UNIFORM, VC_FRAMES_RANDOM } vc_frame_mode;
typedef enum { VC_TAIL_CARRY = 0, VC_TAIL_PARTIAL } vc_epoch_tail;

typedef struct {
    int64_t batch;          /* B >= 1 */
    int64_t max_frames;     /* T >= 1 */
    vc_frame_mode frames;
    bool train;             /* shuffle, draw captions and windows, skip caption-less videos */
    vc_epoch_tail tail;     /* training only; evaluation always ends a pass with a partial batch */
    uint64_t seed;
    const int64_t *split;   /* video indices (copied at open); NULL = every video in file order */
    int64_t n_split;
    int64_t mem_budget;     /* bytes; see "Memory" above */
    int64_t block_videos;   /* streaming: consecutive videos read and shuffled as one block */
    int prefetch;           /* batches prepared ahead by a background thread; 0 = no thread */
    int shard_rank;         /* this rank's part (see "Shards"); 0 */
    int shard_count;        /* R ranks sharing the batches; 0 or 1: no sharding */
    vc_device pinned_for;   /* not the CPU: frames and text in host memory that device copies from
                               asynchronously (pinned; tensor/device.h); VC_CPU: plain memory */
} vc_loader_opts;

/* B 64, T 32, UNIFORM, training, CARRY, seed 0, all videos, 1 GiB, blocks of
 * 256 videos, prefetch 4, no sharding. */
vc_loader_opts vc_loader_defaults(void);

/* A batch is owned by the loader and valid until the next vc_loader_next,
 * vc_loader_set_state or vc_loader_close. */
typedef struct {
    int64_t n;              /* videos in this batch: B (B/R in a training shard), or fewer at the end of a pass */
    vc_tensor frames;       /* F32 [n, T, D], zero past each row's length */
    vc_tensor lengths;      /* I64 [n], each in 1..T */
    vc_tensor text;         /* F32 [n, D] caption embedding (zeros when caption is -1) */
    const int64_t *video;   /* [n] video index in the file */
    const int64_t *caption; /* [n] caption index in the file, -1 if the video has none */
    int64_t epoch;          /* epoch of the first row (of the global batch in a training shard) */
    int64_t pos;            /* position of that row within that epoch */
    bool epoch_end;         /* holds (the global batch holds) the last video of an epoch; in an
                               evaluation shard: the last video of the shard's range */
} vc_batch;

typedef struct vc_loader vc_loader;

/* Validates the options and the split, builds the caption index, and in RAM
 * mode reads every selected frame (so read errors surface here). The source
 * is borrowed and must outlive the loader. */
vc_status vc_loader_open(vc_loader **out, vc_source *src, const vc_loader_opts *opts);
void vc_loader_close(vc_loader *ld);  /* NULL is fine */

/* The next batch. Training never runs out: epochs follow one another.
 * Evaluation sets *out = NULL after the last batch of a pass; the call after
 * that starts the next pass (prefetching stops at the end of a pass until
 * then, so an idle evaluation loader reads nothing). A read error (e.g. a
 * NaN row in the file) is returned once the batches before it have been
 * delivered, and again on every later call until vc_loader_set_state. */
vc_status vc_loader_next(vc_loader *ld, const vc_batch **out);

/* The position of the next batch vc_loader_next will return, as four words
 * for a checkpoint. fingerprint hashes everything that decides the batches'
 * contents (the selected videos, B, T, frame mode, training, tail, and the
 * streaming layout) so a state cannot be restored into a different setup. */
typedef struct {
    uint64_t seed;
    int64_t epoch;
    int64_t pos;            /* stream position within the epoch of the next batch's first row */
    uint64_t fingerprint;
} vc_loader_state;
#define VC_LOADER_STATE_WORDS 4
void vc_loader_get_state(const vc_loader *ld, vc_loader_state *st);
/* Repositions so that the next batch is the one an uninterrupted run would
 * have produced after st was saved. Fails (VC_ERR_ARG) on a state saved with a
 * different seed, dataset or setup, or a position this setup never produces. */
vc_status vc_loader_set_state(vc_loader *ld, const vc_loader_state *st);
void vc_loader_state_pack(const vc_loader_state *st, uint64_t w[VC_LOADER_STATE_WORDS]);
void vc_loader_state_unpack(vc_loader_state *st, const uint64_t w[VC_LOADER_STATE_WORDS]);

int64_t vc_loader_n_videos(const vc_loader *ld);             /* N, the videos of an epoch */
int64_t vc_loader_n_skipped_empty(const vc_loader *ld);      /* split videos with 0 frames */
int64_t vc_loader_n_skipped_uncaptioned(const vc_loader *ld); /* training: split videos with frames but no caption */
/* The N videos: in evaluation the order of every pass (batch row i of a pass
 * is entry pos + i), in training ascending file order. */
const int64_t *vc_loader_videos(const vc_loader *ld);
bool vc_loader_streaming(const vc_loader *ld);               /* false: everything is in RAM */
/* Evaluation: the positions [*lo, *hi) of vc_loader_videos this shard's
 * passes cover ([0, N) without sharding). Training: [0, N). */
void vc_loader_shard_range(const vc_loader *ld, int64_t *lo, int64_t *hi);
int64_t vc_loader_window(const vc_loader *ld);               /* streaming window G (N in RAM mode) */

/* Every caption of the N videos, in caption-index order, for evaluation. */
typedef struct {
    int64_t n;
    vc_tensor emb;          /* F32 [n, D] */
    vc_tensor caption;      /* I64 [n] caption index in the file */
    vc_tensor video;        /* I64 [n] its video's index in the file */
    vc_tensor row;          /* I64 [n] its video's position in vc_loader_videos() */
} vc_captions;
/* Fills *out (tensors the caller releases with vc_captions_release). Fails if
 * the source has no text embeddings. Safe while batches are being prefetched. */
vc_status vc_loader_captions(vc_loader *ld, vc_captions *out);
void vc_captions_release(vc_captions *c);

#endif
