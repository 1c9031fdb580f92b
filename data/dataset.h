/* dataset.h: one or several vclip HDF5 files (data/FORMAT.md) seen as one
 * dataset, the way `[data] file` names them:
 *   "data.h5"                      one file
 *   "webvid/part-*.h5"             every file a glob(3) pattern matches, sorted
 *   "a.h5, b.h5, more/part-*.h5"   a comma-separated list of paths and patterns
 * (a path with a comma in its name cannot be listed). The files must agree
 * on the embedding width and the CLIP model attribute; frames may be float16
 * in one and float32 in another.
 *
 * Indices span all files in list order: file k's video v is video
 * vbase[k] + v of the dataset, and likewise its frame rows and captions.
 * Splits are per file: the dataset's "train" is the union of every file's
 * /split/train (each as its importer made it, from a CSV or by ratio), and a
 * file without the split is an error naming it. Labels and zero-shot
 * classes are the dataset's when every file has labels and the same class
 * table (names and embeddings); otherwise the dataset has none.
 *
 * The loader reads through vc_dataset_source, which sends each row range to
 * the file(s) holding it, so streaming reads each rank's videos from
 * whichever file holds them with the loader's memory bound unchanged. Memory
 * held: each file's index arrays (h5_reader.h) plus the dataset's
 * concatenated offsets [V+1] and caption videos [C] (for a single file, none:
 * its arrays are used as they are).
 *
 * Owns: the file list, the global index arithmetic, splits as unions,
 * the multi-file source. Not here: validating one file (h5_reader.h),
 * batching (loader.h). Threads: as a vc_h5 handle: one thread at a time. */
#ifndef VC_DATASET_H
#define VC_DATASET_H

#include "data/h5_reader.h"
#include "data/source.h"

typedef struct vc_dataset vc_dataset;

/* Opens and validates every file of spec. On failure *out is NULL and the
 * message names the file or the pattern. */
vc_status vc_dataset_open(vc_dataset **out, const char *spec);
/* The same from a list of n paths (no patterns, commas allowed). */
vc_status vc_dataset_open_files(vc_dataset **out, const char *const *paths, int n);
void vc_dataset_close(vc_dataset *ds); /* NULL is fine */

/* The paths spec names, expanded as vc_dataset_open expands it, without
 * opening them (what a caller checks first: data/h5_guard.h). *paths is a
 * malloc'd array of *n malloc'd strings; free it with vc_dataset_list_free. */
vc_status vc_dataset_list(const char *spec, char ***paths, int *n);
void vc_dataset_list_free(char **paths, int n);

/* Totals over the files: counts add up; has_* flags hold when every file has
 * the item; split_size is the size of the union; frame_dtype is the files'
 * common one (VC_F32 when they mix); clip_model and fps are the first file's.
 * n_classes, has_labels and has_class_* describe the shared class table. */
const vc_h5_info *vc_dataset_info(const vc_dataset *ds);
int vc_dataset_n_files(const vc_dataset *ds);
const char *vc_dataset_path(const vc_dataset *ds, int k);  /* file k's path */
vc_h5 *vc_dataset_h5(vc_dataset *ds, int k);               /* file k's handle */
/* The spec as given: the name of the whole dataset in messages. */
const char *vc_dataset_name(const vc_dataset *ds);
/* The file holding global video v, and v's index in it. */
int vc_dataset_file_of(const vc_dataset *ds, int64_t v, int64_t *local);

/* The indices of a named split: "train", "val", "test" (the union over the
 * files, held by the dataset) or "all" (*idx NULL: every video). */
vc_status vc_dataset_split(vc_dataset *ds, const char *name, const int64_t **idx, int64_t *n);
/* [V] labels (NULL without a shared class table). */
const int64_t *vc_dataset_labels(const vc_dataset *ds);
/* The shared class embeddings [K, D] as float32. */
vc_status vc_dataset_read_classes(vc_dataset *ds, float *dst);

/* A loader source over every file (borrowing the dataset, which must
 * outlive it). */
vc_status vc_dataset_source(vc_dataset *ds, vc_source *src);

#endif
