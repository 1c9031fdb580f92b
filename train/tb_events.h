/* tb_events.h: TensorBoard event files of scalars, written beside a run's
 * log.jsonl so that `tensorboard --logdir runs` shows the run.
 *
 * Owns: the file's name (events.out.tfevents.TIME.HOST.vclip, the pattern
 * TensorBoard looks for), the record framing (TFRecord: uint64 length, its
 * masked CRC32C, the data, the data's masked CRC32C, all little-endian; the
 * CRC32C and TensorFlow's masking are written here), the encoding of scalars
 * as Event/Summary messages (train/tb_event.proto, generated C from
 * protobuf-c, private to tb_events.c), reading such files back, and cutting a
 * file back to the steps a resumed run keeps.
 * Not here: which scalars a run logs and their names (train/trainer.c), the
 * log.jsonl format, drawing (eval/plot.h).
 *
 * It lives in train/ because the trainer owns run directories and is its only
 * writer; it uses nothing of train/ (only tensor/status.h and protobuf-c), so
 * it can move down to data/ if eval/ ever writes events.
 *
 * Resume: a run killed after its last checkpoint at step S has logged steps
 * past S; the resumed run logs them again. vc_tb_open(dir, S) therefore cuts
 * the run's event file back to its records with step <= S (and drops a
 * record cut short by the kill) before appending, so every (tag, step) is in
 * the file once. The cut is one truncate(2) of the file: a kill during it
 * leaves the file either as it was or cut, and either resumes correctly. A
 * run directory holds at most one vclip event file: a fresh run removes the
 * earlier ones (as it rewrites log.jsonl). */
#ifndef VC_TB_EVENTS_H
#define VC_TB_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"

typedef struct vc_tb_writer vc_tb_writer;

typedef struct {
    const char *tag;
    double value; /* stored as float32, TensorBoard's simple_value */
} vc_tb_scalar;

/* What opening for a resume found in the existing file. */
typedef struct {
    bool created;          /* no vclip event file was there: a new one was begun */
    int64_t kept;          /* records kept (the file_version record included) */
    int64_t dropped;       /* well-formed records with step > keep_step, removed */
    int64_t damaged_bytes; /* bytes after the last well-formed record, removed */
} vc_tb_resume;

/* Opens the event file of run directory dir (which must exist).
 * keep_step < 0: a fresh run: dir's vclip event files are removed and a new
 * one begins with the file_version record.
 * keep_step >= 0: a resumed run: dir's vclip event file is cut back to its
 * records with step <= keep_step, and writing continues after them; without
 * one a new file is begun. *info (may be NULL) says what was cut.
 * Two or more vclip event files in dir is an error naming them. */
vc_status vc_tb_open(vc_tb_writer **w, const char *dir, int64_t keep_step, vc_tb_resume *info);

#define VC_TB_MAX_SCALARS 64

/* Appends one event at `step` holding the n scalars (1 <= n <=
 * VC_TB_MAX_SCALARS; tags are copied into the record) and flushes it to the
 * file. */
vc_status vc_tb_write(vc_tb_writer *w, int64_t step, const vc_tb_scalar *v, int n);

/* The file's path. */
const char *vc_tb_path(const vc_tb_writer *w);

/* Closes the file (w may be NULL); reports a failed final write. */
vc_status vc_tb_close(vc_tb_writer *w);

/* ---- reading (the resume cut, tests, tools) ---- */

typedef struct {
    int64_t records;    /* well-formed records */
    int64_t values;     /* scalar values in them */
    int64_t good_bytes; /* where the well-formed records end (the file size unless the rest is damaged) */
    int64_t file_size;
    bool has_version;   /* the first record is the file_version record */
} vc_tb_read_info;

/* Called for every scalar value, in file order. A non-zero return stops the
 * read and is returned by vc_tb_read. */
typedef vc_status (*vc_tb_value_fn)(void *ud, int64_t step, double wall_time, const char *tag, float value);

/* Reads path's records up to the first damaged one (a short or oversized
 * record, a CRC mismatch, a message that does not decode): info->good_bytes
 * < info->file_size then. Fails only when the file cannot be read or fn
 * fails. fn may be NULL. */
vc_status vc_tb_read(const char *path, vc_tb_value_fn fn, void *ud, vc_tb_read_info *info);

/* The vclip event file in dir: *found and its path, or *found false when
 * there is none; several of them is an error naming two. */
vc_status vc_tb_find(const char *dir, char *path, size_t n, bool *found);

/* CRC-32C (Castagnoli, reflected 0x82F63B78) continuing from crc (0 to
 * start); crc32c("123456789") is 0xE3069283. */
uint32_t vc_crc32c(uint32_t crc, const void *p, size_t n);

/* TensorFlow's masked CRC of a record part: rotate crc32c right by 15 bits,
 * add 0xa282ead8 (so that a CRC of data holding CRCs does not vanish). */
uint32_t vc_tb_masked_crc(const void *p, size_t n);

#endif
