/* npy.h: a small validated reader for NumPy .npy arrays of frame embeddings.
 * It owns the .npy header (magic, versions 1.0 / 2.0 / 3.0, the Python dict
 * with 'descr', 'fortran_order', 'shape') and the exact data length check; it
 * does not own where the bytes come from (a file, a tar member) nor what the
 * frames mean (data/import_sink.h).
 *
 * Accepted: little-endian float16 ('<f2') or float32 ('<f4'), C order, shape
 * (n, D) with D >= 1 and n >= 0. A 1-D array (D,) is taken as ONE frame
 * (n = 1): some tools save a single pooled or single-frame embedding that way,
 * and its width is still checked against the dataset's D by the importer.
 * Everything else (other dtypes, Fortran order, 0-D or 3-D shapes, a header
 * length that runs past the file, data shorter or longer than the shape says)
 * is an error naming the input. */
#ifndef VC_NPY_H
#define VC_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/status.h"

typedef struct {
    vc_dtype dtype;      /* VC_F16 or VC_F32 */
    int version;         /* major format version: 1, 2 or 3 */
    int ndim;            /* as stored: 1 or 2 */
    int64_t rows;        /* frames n (1 for a 1-D array) */
    int64_t cols;        /* width D */
    size_t data_offset;  /* bytes before the array data (magic + header) */
    size_t data_bytes;   /* rows * cols * element size */
} vc_npy_info;

/* Parses and validates the .npy held in buf[0, len) and checks that exactly
 * data_bytes follow the header. name names the input in messages
 * ("shard-0.tar: 00012.npy"). Fails with VC_ERR_FORMAT (malformed or
 * truncated) or VC_ERR_UNSUPPORTED (valid .npy of a dtype / order / rank we
 * do not take). */
vc_status vc_npy_parse(const void *buf, size_t len, const char *name, vc_npy_info *info);

/* Converts the rows*cols values of a parsed buffer to float32 in out. */
void vc_npy_to_f32(const vc_npy_info *info, const void *buf, float *out);

/* A growable byte buffer reused across reads so importing many files does
 * not allocate per file. Zero-initialise; free with vc_npy_buf_free. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} vc_npy_buf;

/* Makes room for n bytes (contents not kept). */
vc_status vc_npy_buf_reserve(vc_npy_buf *b, size_t n);
void vc_npy_buf_free(vc_npy_buf *b);

/* Reads the whole file at path into b and parses it (b->data holds the file,
 * info locates the array in it). Files over max_bytes are refused. */
vc_status vc_npy_read_file(const char *path, size_t max_bytes, vc_npy_buf *b, vc_npy_info *info);

#endif
