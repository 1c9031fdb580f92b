/* safetensors.h: reading and writing safetensors files (checkpoints, exported
 * poolers, CLIP weights). It owns the byte format and its validation; what the
 * tensors mean (names, shapes an architecture expects) belongs to the callers.
 *
 * Format: u64 little-endian header length N, N bytes of UTF-8 JSON mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
 * offsets into the data section that follows the header) plus an optional
 * "__metadata__" object of string values; data little-endian, row-major.
 *
 *   vc_st_writer *w;
 *   vc_st_writer_new(&w);
 *   vc_st_writer_add(w, "pooler.w", &W);          // borrows W's data
 *   vc_st_writer_add_copy(w, "step", &step_t);    // copies (stack scalars)
 *   vc_st_writer_meta(w, "config", ini_text);
 *   vc_st_writer_write(w, "run/ckpt.safetensors"); // tmp file, fsync, rename
 *   vc_st_writer_free(w);
 *
 *   vc_st_file *f;
 *   vc_st_open(&f, "ckpt.safetensors", VC_ST_MMAP);  // validates everything
 *   vc_st_load_f32(f, "pooler.w", &W);               // F32/F16/BF16/F64 -> F32
 *   const char *cfg = vc_st_meta(f, "config");
 *   vc_st_close(f);
 *
 * The writer keeps the header in insertion order and lays the data out by
 * element size (8-byte types first, then 4, 2, 1; insertion order within a
 * size), so with the header padded to a multiple of 8 every tensor is aligned
 * to its element size and the data section has no holes (which the Python
 * `safetensors` package requires).
 *
 * The reader accepts every dtype of the format (below) but converts only the
 * float types; a tensor of a dtype vclip has (vc_dtype) also loads raw. Every
 * error names the file and, where there is one, the tensor. This code assumes
 * a little-endian host. */
#ifndef VC_SAFETENSORS_H
#define VC_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"
#include "tensor/tensor.h"

/* The dtypes of the safetensors format. */
typedef enum {
    VC_ST_BOOL = 0,
    VC_ST_U8,
    VC_ST_I8,
    VC_ST_F8_E4M3,
    VC_ST_F8_E5M2,
    VC_ST_U16,
    VC_ST_I16,
    VC_ST_F16,
    VC_ST_BF16,
    VC_ST_U32,
    VC_ST_I32,
    VC_ST_F32,
    VC_ST_U64,
    VC_ST_I64,
    VC_ST_F64,
    VC_ST_NDTYPES
} vc_st_dtype;

/* "F32", "BF16", ... as written in the header. */
const char *vc_st_dtype_name(vc_st_dtype t);
size_t vc_st_dtype_size(vc_st_dtype t);
/* The vc_dtype with the same bytes, or false when vclip has none (U16, F64, ...). */
bool vc_st_to_vc_dtype(vc_st_dtype t, vc_dtype *out);

/* ---- writer ---- */

typedef struct vc_st_writer vc_st_writer;

vc_status vc_st_writer_new(vc_st_writer **out);
void vc_st_writer_free(vc_st_writer *w);
/* Adds tensor t (any vc_dtype, contiguous, on the CPU; any ndim including 0
 * and zero-size shapes) under name. The writer borrows t->data: it must stay
 * valid until vc_st_writer_write returns. Names must be non-empty, valid
 * UTF-8, unique, and not "__metadata__". */
vc_status vc_st_writer_add(vc_st_writer *w, const char *name, const vc_tensor *t);
/* The same, copying the data now (small tensors built on the stack). */
vc_status vc_st_writer_add_copy(vc_st_writer *w, const char *name, const vc_tensor *t);
/* A metadata entry; key and value are copied, valid UTF-8, keys unique. */
vc_status vc_st_writer_meta(vc_st_writer *w, const char *key, const char *value);
/* Writes everything to `path.tmp.<pid>`, fsyncs it, renames it onto path
 * and fsyncs the directory. On failure the temporary file is removed and an
 * existing file at path is left as it was. The writer can be written again. */
vc_status vc_st_writer_write(const vc_st_writer *w, const char *path);

/* ---- reader ---- */

typedef enum {
    VC_ST_MMAP = 0, /* map the file (private, copy-on-write): pages load on use */
    VC_ST_READ      /* read the whole file into memory now */
} vc_st_mode;

/* One tensor of an open file. data points into the file's bytes (mapped or
 * read): raw little-endian values, aligned only as the file's layout makes
 * them (the loaders below handle any alignment). */
typedef struct {
    const char *name;
    vc_st_dtype dtype;
    int ndim;
    const int64_t *shape; /* ndim sizes (NULL when ndim is 0) */
    int64_t numel;        /* 1 for a 0-d tensor */
    size_t nbytes;
    const void *data;
} vc_st_tensor;

typedef struct vc_st_file vc_st_file;

/* Opens and validates the whole header: its length within the file, JSON
 * syntax and UTF-8, one object per tensor with a known dtype, a shape of
 * non-negative integers, data_offsets inside the data section whose length
 * matches the shape, no two tensors sharing bytes, no duplicate names or
 * fields, metadata values all strings. Nothing is usable before that passes. */
vc_status vc_st_open(vc_st_file **out, const char *path, vc_st_mode mode);
void vc_st_close(vc_st_file *f);
const char *vc_st_path(const vc_st_file *f);

/* Tensors in header order: for (int i = 0; i < vc_st_count(f); i++) vc_st_at(f, i)->name ... */
int vc_st_count(const vc_st_file *f);
const vc_st_tensor *vc_st_at(const vc_st_file *f, int i);
/* The tensor called name, or NULL (no error is recorded). */
const vc_st_tensor *vc_st_find(const vc_st_file *f, const char *name);
/* The same, failing with "FILE: no tensor 'NAME'" when it is missing. */
vc_status vc_st_get(const vc_st_file *f, const char *name, const vc_st_tensor **out);

/* Float32 values of a F32, F16, BF16 or F64 tensor. dst must be a contiguous
 * F32 CPU tensor of exactly the stored shape; a different shape fails naming
 * the tensor and both shapes. */
vc_status vc_st_load_f32(const vc_st_file *f, const char *name, vc_tensor *dst);
/* The same into a newly allocated tensor (release it with vc_tensor_release). */
vc_status vc_st_load_f32_new(const vc_st_file *f, const char *name, vc_tensor *out);
/* VC_OK when x[0..n) (tensor `name` read from `path`) is all finite; else a
 * VC_ERR_NUMERIC error naming the file, the tensor and the first bad element
 * ("...: the checkpoint is damaged"): what the checkpoint loaders report. */
vc_status vc_st_check_finite(const char *path, const char *name, const float *x, size_t n);
/* The raw values of a tensor whose dtype vclip has (vc_st_to_vc_dtype), into
 * dst of that dtype and shape (contiguous, CPU); no conversion. */
vc_status vc_st_load(const vc_st_file *f, const char *name, vc_tensor *dst);
vc_status vc_st_load_new(const vc_st_file *f, const char *name, vc_tensor *out);
/* A tensor viewing the file's bytes without copying (dtype as stored). Fails
 * when the data is not aligned to its element size. Valid until vc_st_close;
 * writes to it change the private mapping or buffer, never the file. */
vc_status vc_st_view(const vc_st_file *f, const char *name, vc_tensor *out);

/* Metadata: the value of key or NULL; and all pairs in header order. */
const char *vc_st_meta(const vc_st_file *f, const char *key);
int vc_st_meta_count(const vc_st_file *f);
void vc_st_meta_at(const vc_st_file *f, int i, const char **key, const char **value);

#endif
