/* npy_import.h: imports a directory of per-video .npy files (the "files"
 * mode of clip-video-encode, its FileWriter): KEY.npy holds the frames
 * (n, D) of one video, an optional KEY.txt beside it its caption and an
 * optional KEY.json its metadata. It owns listing the directory; what counts
 * as a good sample is data/import_sink.h.
 *
 * KEY is the file name without its final ".npy" / ".txt" / ".json" (so
 * "a.b.npy" pairs with "a.b.txt"; unlike WebDataset keys, dots inside are
 * kept). Videos are written in sorted key order (byte order), so the output
 * does not depend on the directory's listing order. The directory is not
 * searched recursively; other files are counted as ignored, and a KEY.txt or
 * KEY.json without its KEY.npy is reported and counted as "no npy". */
#ifndef VC_NPY_IMPORT_H
#define VC_NPY_IMPORT_H

#include "data/import_sink.h"

vc_status vc_npy_dir_import(const char *out_path, const char *dir, const vc_import_opts *opts, vc_import_stats *stats);

#endif
