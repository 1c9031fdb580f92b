/* import_sink.h: what every importer does once it holds the bytes of a
 * sample: validate the .npy frames, the caption and the JSON metadata, skip
 * bad samples with a counted reason and a one-line report, join a sample's
 * members even when they arrive apart, split captions (caption_sep), turn
 * captions into class labels (labels_from_text), assign splits, and stream
 * the result to the HDF5 writer (data/h5_writer.h). It owns the import
 * statistics and options; it does not own reading tars or directories
 * (data/wds_import.h, data/npy_import.h).
 *
 * Memory: the frames of one sample at a time, plus per video its key, its
 * source, its split and its label (a few dozen bytes), plus the members still
 * waiting for the rest of their sample within the current source (bounded,
 * see VC_IMPORT_MAX_PENDING_BYTES). It never holds a dataset's embeddings.
 *
 * Conversion: .npy frames of any dtype data/npy.h reads (float16, float32,
 * float64, either byte order, C or Fortran order) become the file's dtype.
 * float64 is rounded once to the stored type, exactly as numpy's astype
 * would; a value beyond the stored type's range (float16: |x| >= 65520;
 * float32: beyond FLT_MAX) skips the sample as "out of range", NaN or Inf
 * as "non-finite".
 *
 * Counting, per sample (KEY): a sample whose .npy is bad is skipped whole
 * (its caption goes with it, counted once); a sample whose caption is bad
 * keeps its video and loses the caption (counted as bad caption); a sample
 * whose .json is not JSON keeps its video and loses the metadata (counted as
 * bad json). With labels_from_text a video needs its class name: a sample
 * whose .txt is missing is skipped as "no label", one whose .txt is bad as
 * "bad caption". */
#ifndef VC_IMPORT_SINK_H
#define VC_IMPORT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/h5_reader.h"
#include "tensor/dtype.h"
#include "tensor/status.h"

typedef enum {
    VC_SKIP_BAD_NPY = 0, /* .npy corrupt, truncated, or of an unsupported dtype/order/rank */
    VC_SKIP_WRONG_DIM,   /* width differs from the dataset's D */
    VC_SKIP_NONFINITE,   /* NaN or Inf among the frames */
    VC_SKIP_RANGE,       /* a value beyond the stored dtype's range (float16, or float64 input beyond float32) */
    VC_SKIP_NO_NPY,      /* a sample with .txt or .json but no .npy */
    VC_SKIP_BAD_CAPTION, /* caption not UTF-8, holds NUL, empty or too long (video kept) */
    VC_SKIP_DUPLICATE,   /* a key already imported, or a member seen twice */
    VC_SKIP_TRUNCATED,   /* the member was cut off by a truncated or corrupt shard */
    VC_SKIP_BAD_NAME,    /* member name is not valid UTF-8 */
    VC_SKIP_BAD_META,    /* .json not valid JSON or too long (video kept, without metadata) */
    VC_SKIP_NO_LABEL,    /* labels_from_text: a sample without a .txt to take its class from */
    VC_SKIP_NREASONS
} vc_skip_reason;

/* Short name used in summaries: "bad npy", "wrong dim", ... */
const char *vc_skip_reason_name(vc_skip_reason r);

typedef struct {
    int64_t dim;                   /* D of the written file (0 until known) */
    int64_t videos, frames, captions;
    int64_t uncaptioned;           /* videos written without a caption */
    int64_t with_meta;             /* videos written with JSON metadata */
    int64_t classes;               /* K, with labels_from_text (after finish) */
    int64_t empty_videos;          /* videos with 0 frames (legal; training skips them) */
    int64_t ignored;               /* members that are not .npy / .txt / .json */
    int64_t bad_sources;           /* shards that could not be read to their end */
    int64_t skipped[VC_SKIP_NREASONS];
    int64_t split_size[VC_NSPLITS];
    int64_t no_split;              /* videos in no split while others have one */
} vc_import_stats;

int64_t vc_import_stats_skipped(const vc_import_stats *s);  /* sum over reasons */

/* Receives one line per problem ("shard-0.tar: 00012.npy: dtype '<f8' not
 * supported ..."); the tools layer prints them. */
typedef void (*vc_import_report_fn)(void *ctx, const char *line);

/* How far an import is: bytes of input read (for a compressed shard, bytes
 * of the compressed file) out of the total size of the inputs. */
typedef struct {
    int64_t bytes_done, bytes_total;
    int64_t videos, frames;
} vc_import_progress;
typedef void (*vc_import_progress_fn)(void *ctx, const vc_import_progress *p);

typedef struct {
    vc_dtype dtype;              /* storage type of the file: VC_F16 or VC_F32 */
    int64_t dim;                 /* expected D; 0 = the first good .npy decides */
    int gzip_level;              /* 0..9, passed to the writer */
    const char *clip_model;      /* optional file attribute */
    double fps;                  /* optional file attribute, <= 0 to omit */
    bool strict;                 /* any skip or unreadable shard fails the import */
    bool split_by_ratio;         /* seeded random split by split_ratio */
    double split_ratio[VC_NSPLITS];
    uint64_t seed;
    size_t max_pending_bytes;    /* 0 = VC_IMPORT_MAX_PENDING_BYTES */
    const char *caption_sep;     /* NULL or "": one caption per .txt; else the
                                    .txt holds several, split at each sep, each
                                    piece trimmed, empty pieces dropped */
    bool labels_from_text;       /* the .txt is the video's class name: write
                                    /class/names (sorted by bytes) and
                                    /video/label; the text stays the caption */
    vc_import_report_fn report;  /* may be NULL */
    void *report_ctx;
    vc_import_progress_fn progress; /* may be NULL; called often (rate-limit it) */
    void *progress_ctx;
} vc_import_opts;

/* Captions waiting for their .npy in one source beyond this many bytes are
 * given up (reported as "no npy"), so a pathological shard cannot exhaust
 * memory. */
#define VC_IMPORT_MAX_PENDING_BYTES ((size_t)64 << 20)
/* Largest .npy member / file, .txt caption and .json metadata read. */
#define VC_IMPORT_MAX_NPY_BYTES ((size_t)1 << 31)
#define VC_IMPORT_MAX_CAPTION_BYTES ((size_t)1 << 20)
#define VC_IMPORT_MAX_META_BYTES ((size_t)1 << 20)

typedef struct vc_import_sink vc_import_sink;

/* Starts an import into path (the writer opens once D is known). stats is
 * zeroed and filled as the import goes. */
vc_status vc_import_sink_new(vc_import_sink **out, const char *path, const vc_import_opts *opts, vc_import_stats *stats);

/* Sources (shards) are numbered by the caller; keys are joined only within a
 * source. split is the source's split or -1. */
void vc_import_sink_begin_source(vc_import_sink *s, int source, int split);
/* The .npy of sample key: npy[0, len) is the whole .npy. where names it in
 * reports ("shard-0.tar: 00012.npy"). A bad sample is counted and reported,
 * and VC_OK returned; an error is returned only for what ends the import
 * (writer failure, out of memory, or any skip when strict). */
vc_status vc_import_sink_npy(vc_import_sink *s, const char *key, const void *npy, size_t len, const char *where);
/* The caption of sample key (text[0, len), not NUL-terminated). */
vc_status vc_import_sink_caption(vc_import_sink *s, const char *key, const char *text, size_t len, const char *where);
/* The JSON metadata of sample key (text[0, len)): checked and stored
 * compacted (data/json_text.h) in /video/meta. */
vc_status vc_import_sink_meta(vc_import_sink *s, const char *key, const char *text, size_t len, const char *where);
/* Counts a skip that the reader found (truncated member, unreadable name,
 * oversized member). If key is not NULL the rest of that sample is dropped
 * with it. line is the report. */
vc_status vc_import_sink_skip(vc_import_sink *s, vc_skip_reason r, const char *key, const char *line);
/* A source that could not be read to its end (reported with line). */
vc_status vc_import_sink_bad_source(vc_import_sink *s, const char *line);
void vc_import_sink_ignored(vc_import_sink *s);
/* Reports progress to opts->progress (videos and frames filled in here). */
void vc_import_sink_progress(vc_import_sink *s, int64_t bytes_done, int64_t bytes_total);
/* Ends the current source: its samples still without .npy are counted. */
vc_status vc_import_sink_end_source(vc_import_sink *s);

/* Writes splits, validates and renames the file into place. Fails (and
 * leaves no file) when no video was imported. Frees s either way. */
vc_status vc_import_sink_finish(vc_import_sink *s);
/* Removes the temporary file and frees s (NULL is fine). */
void vc_import_sink_abort(vc_import_sink *s);

/* "train" / "val" / "test" -> 0 / 1 / 2; -1 for anything else. */
int vc_split_from_name(const char *name);

#endif
