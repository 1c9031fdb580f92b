/* npy.h: a small validated reader for NumPy .npy arrays of frame embeddings.
 * It owns the .npy header (magic, versions 1.0 / 2.0 / 3.0, the Python dict
 * with 'descr', 'fortran_order', 'shape') and the exact data length check; it
 * does not own where the bytes come from (a file, a tar member) nor what the
 * frames mean (data/import_sink.h).
 *
 * Accepted: float16, float32 or float64 ('<f2', '<f4', '<f8'), in either
 * byte order ('>f2', '>f4', '>f8' are swapped on reading), in C or Fortran
 * order (fortran_order True: column-major data, transposed on reading),
 * shape (n, D) with D >= 1 and n >= 0. float64 is numpy's default dtype
 * (clip-video-encode's live encoder writes it); big-endian files come from
 * big-endian machines or from arrays made with dtype '>f4'. A 1-D array (D,)
 * is taken as ONE frame (n = 1): some tools save a single pooled or
 * single-frame embedding that way, and its width is still checked against
 * the dataset's D by the importer. Everything else (other dtypes: integers,
 * complex, long double, structured, '|f2'/'=f4' spellings numpy never
 * writes; 0-D or 3-D shapes; a header length that runs past the file; data
 * shorter or longer than the shape says) is an error naming the input. */
#ifndef VC_NPY_H
#define VC_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"
#include "tensor/status.h"

typedef struct {
    int elem_bytes;      /* 2 (float16), 4 (float32) or 8 (float64) */
    bool big_endian;     /* descr '>f?': bytes are swapped on reading */
    bool fortran_order;  /* column-major data (matters only for 2-D) */
    char descr[8];       /* as written, e.g. "<f8", for messages */
    int version;         /* major format version: 1, 2 or 3 */
    int ndim;            /* as stored: 1 or 2 */
    int64_t rows;        /* frames n (1 for a 1-D array) */
    int64_t cols;        /* width D */
    size_t data_offset;  /* bytes before the array data (magic + header) */
    size_t data_bytes;   /* rows * cols * elem_bytes */
} vc_npy_info;

/* Parses and validates the .npy held in buf[0, len) and checks that exactly
 * data_bytes follow the header. name names the input in messages
 * ("shard-0.tar: 00012.npy"). Fails with VC_ERR_FORMAT (malformed or
 * truncated) or VC_ERR_UNSUPPORTED (valid .npy of a dtype / order / rank we
 * do not take). */
vc_status vc_npy_parse(const void *buf, size_t len, const char *name, vc_npy_info *info);

/* Converts the rows*cols values of a parsed buffer to float32 in out,
 * row-major (n, D) whatever the byte order and array order. float16 and
 * float32 convert exactly. float64 rounds to nearest even; with for_f16 it
 * rounds to odd instead, so that the later float32 -> float16 rounding (to
 * nearest even) gives exactly numpy's astype(float16) of the float64 value
 * (rounding twice to nearest can differ from rounding once; round-to-odd
 * with 13 spare bits cannot). NaN and Inf pass through. Returns the index
 * (row * D + column) of the first finite float64 value too large for
 * float32 (it is stored as +-Inf in out), or -1. */
int64_t vc_npy_to_f32(const vc_npy_info *info, const void *buf, float *out, bool for_f16);
/* Element i (row * D + column, row-major) of a parsed buffer, as a double:
 * the value as stored, for messages. */
double vc_npy_value(const vc_npy_info *info, const void *buf, int64_t i);

/* A growable byte buffer reused across reads so importing many files does
 * not allocate per file. Zero-initialise; free with vc_npy_buf_free. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} vc_npy_buf;

/* Makes room for n bytes (contents not kept). */
vc_status vc_npy_buf_reserve(vc_npy_buf *b, size_t n);
void vc_npy_buf_free(vc_npy_buf *b);

/* Reads the whole regular file at path into b (b->len = its size; b holds
 * one spare byte after it). *size gets the file's size; a file over max_bytes
 * is not read (b->len = 0) and is not an error here: the caller compares
 * *size with max_bytes and says what the limit is for. */
vc_status vc_npy_buf_read_file(vc_npy_buf *b, const char *path, size_t max_bytes, int64_t *size);

/* Reads the whole file at path into b and parses it (b->data holds the file,
 * info locates the array in it). Files over max_bytes are refused. */
vc_status vc_npy_read_file(const char *path, size_t max_bytes, vc_npy_buf *b, vc_npy_info *info);

#endif
