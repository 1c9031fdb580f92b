/* source_h5.h: a vclip HDF5 file (data/h5_reader.h) as a loader source
 * (data/source.h). Owns only the adaptation; validation, float16 conversion
 * and the NaN/Inf check are the reader's.
 *
 * The loader reads from its background thread, and a vc_h5 handle must be
 * used by one thread at a time: while a loader runs over a borrowed handle,
 * use that handle nowhere else (open a second handle for video ids, captions
 * or other splits, or use vc_source_open_h5, which opens its own). */
#ifndef VC_SOURCE_H5_H
#define VC_SOURCE_H5_H

#include "data/h5_reader.h"
#include "data/source.h"

/* Sets src's name, sizes, frame dtype, offsets and caption owners from the
 * info of a file (or of files read as one), clearing the rest: the caller
 * sets ctx and the readers. text_video is used only when there are captions. */
void vc_source_set_h5_info(vc_source *src, const char *name, const vc_h5_info *in, const int64_t *offsets,
                           const int64_t *text_video);

/* Borrows h: it must outlive the source; vc_source_close leaves it open. */
vc_status vc_source_h5(vc_source *src, vc_h5 *h);
/* Opens path with its own handle, closed by vc_source_close. *h_out (may be
 * NULL) receives that handle, e.g. for vc_h5_split before any loader starts. */
vc_status vc_source_open_h5(vc_source *src, const char *path, vc_h5 **h_out);

#endif
