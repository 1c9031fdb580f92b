/* wds_import.h: imports WebDataset tar shards as clip-video-encode writes
 * them (KEY.npy frame embeddings + optional KEY.txt caption + optional
 * KEY.json metadata) into a vclip embeddings file. It owns reading the tars
 * (libarchive: plain tar, .tar.gz and the other compressions libarchive
 * knows), grouping members into samples and the shard -> split CSV; what
 * counts as a good sample is data/import_sink.h.
 *
 * Samples: a member's KEY is its path up to the first dot of its basename,
 * as WebDataset groups them ("clips/v1.seg.npy" -> key "clips/v1",
 * extension "seg.npy"; a leading "./" is dropped). Extensions are compared
 * case-insensitively; npy, txt and json are used, every other member is
 * counted as ignored. The video id is the KEY, not the .json's videoID
 * (which need not be unique across clips of one video; the key is); the
 * .json is kept as the video's metadata (data/import_sink.h).
 * Members of a sample are normally adjacent; a caption that comes before or
 * after its .npy anywhere in the same shard is still joined to it. Samples
 * are written in shard order, then tar order (with labels_from_text a
 * video is written when its .txt has come, since it carries the class).
 *
 * A shard that is truncated or corrupt part-way is reported with its name:
 * the samples read before the damage are kept, the member being read is
 * counted as truncated, and the import goes on with the next shard (with
 * opts->strict it fails instead). A shard that cannot be opened at all is an
 * error for the whole import. */
#ifndef VC_WDS_IMPORT_H
#define VC_WDS_IMPORT_H

#include <stddef.h>

#include "data/import_sink.h"

/* Splits a member path into its WebDataset key and extension (the text after
 * the first dot of the basename). Returns false when the member has no key
 * (no dot in the basename, or nothing before it). */
bool vc_wds_member_key(const char *path, char *key, size_t key_cap, const char **ext);

/* A shard's name for matching: its basename without ".tar", ".tar.gz",
 * ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz4" or ".tgz" (any case):
 * "/d/ds_000003.tar.gz" -> "ds_000003". Returns buf. */
const char *vc_shard_stem(const char *path, char *buf, size_t cap);

/* The CSV given to --splits, as clip-video-encode's create_shards.py writes
 * it: a header "tar_file,split", then one "shard,split" per shard, the shard
 * named without ".tar" (ds_000000). A shard is matched by its stem, so the
 * CSV may name it with or without the extension and with or without a
 * directory. split is train, val or test (any case). Skipped: blank lines,
 * lines starting with '#', a UTF-8 byte order mark, and every header line
 * (its split field is "split"; create_shards.py appends one per run). A
 * shard listed twice with the same split is taken once; with different
 * splits it is an error naming both lines, as is a name that is an unfilled
 * Python format string ("ds_{tar_count+i:06}": create_shards.py 1.3.0 forgot
 * the f of its f-string, so every row it writes reads so). */
typedef struct {
    int n;
    char **names;  /* stems */
    int *splits;
    int *lines;    /* line number of each row in the CSV */
} vc_shard_splits;

vc_status vc_shard_splits_read(const char *path, vc_shard_splits *out);
void vc_shard_splits_free(vc_shard_splits *s);
/* The row matching the shard at shard_path (by stem), or -1. */
int vc_shard_splits_row(const vc_shard_splits *s, const char *shard_path);
/* The split of the shard at shard_path, or -1 when no row matches. */
int vc_shard_splits_find(const vc_shard_splits *s, const char *shard_path);

/* Imports the shards into out_path. shard_split is NULL or gives each
 * shard's split (-1 for none). stats is filled even when the import fails,
 * and nothing is left at out_path on failure. */
vc_status vc_wds_import(const char *out_path, const char *const *shards, int n_shards, const int *shard_split,
                        const vc_import_opts *opts, vc_import_stats *stats);

#endif
