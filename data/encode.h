/* encode.h: the data side of `vclip encode-video`: a background reader that
 * decodes a list of videos in order and hands out CLIP-preprocessed frames
 * through a bounded queue, and the caption CSV reader.
 * Owns: the decoder threads, their queues and the memory bound, the per-video
 * end record (frames, damage), CSV parsing. Not here: the model (the caller
 * batches the frames into the image tower), the output file.
 *
 *   vc_frame_reader *r;
 *   vc_frame_reader_start(&r, paths, n, &opts);
 *   vc_enc_item it; int got;
 *   while (!(s = vc_frame_reader_next(r, &it, &got)) && got)
 *       if (it.kind == VC_ENC_FRAME) copy it.pixels ...   // valid until the next call
 *       else  video it.video is complete: it.frames, it.failed, it.truncated
 *   vc_frame_reader_stop(r);
 *
 * Order: items come in input order; the frames of video i (sample order)
 * are followed by exactly one END item for i, also when it could not be
 * opened (failed, 0 frames), so no video is ever dropped.
 * Workers: `workers` threads decode different videos at once (worker w
 * takes videos w, w + W, ...; the order above holds), each with `threads`
 * FFmpeg threads of its own.
 * Memory: `capacity` slots of [3, S, S] floats (split between the workers,
 * at least 2 each) plus each decoder's own (data/video.h: a few frames),
 * whatever the number or length of the videos. */
#ifndef VC_DATA_ENCODE_H
#define VC_DATA_ENCODE_H

#include <stdint.h>
#include <stdio.h>

#include "tensor/status.h"

typedef enum { VC_ENC_FRAME = 1, VC_ENC_END = 2 } vc_enc_kind;

typedef struct {
    vc_enc_kind kind;
    int64_t video;        /* index into the path list */
    /* FRAME */
    int64_t index;        /* sample index k within the video */
    double time;          /* k / fps, seconds */
    const float *pixels;  /* [3, S, S] CLIP-normalised; valid until the next vc_frame_reader_next */
    /* END */
    int64_t frames;       /* samples delivered for this video */
    int failed;           /* could not be opened or has no decodable video stream */
    int truncated;        /* decoding stopped at damage (frames before it were delivered) */
    int64_t errors;       /* packets or frames the decoder rejected */
    char message[384];    /* what went wrong, "" when nothing did */
} vc_enc_item;

typedef struct {
    double fps;           /* samples per second; <= 0 means 1 */
    int size;             /* S of the image tower; <= 0 means 224 */
    int capacity;         /* queue slots; <= 0 means 32 */
    int threads;          /* decoder threads per video; <= 0 means 1 */
    int workers;          /* videos decoded at once; <= 0 means 1 */
} vc_frame_reader_opts;

typedef struct vc_frame_reader vc_frame_reader;

/* Starts the decoder threads over paths[0..n) (borrowed: they must stay
 * valid until vc_frame_reader_stop). */
vc_status vc_frame_reader_start(vc_frame_reader **out, const char *const *paths, int64_t n,
                                const vc_frame_reader_opts *opts);
/* Blocks for the next item; *got = 0 after the last one. Fails only when a
 * decoder thread hit a resource error (memory), with its message. */
vc_status vc_frame_reader_next(vc_frame_reader *r, vc_enc_item *item, int *got);
/* Cancels the decoding if it is still running, joins the threads, frees. */
void vc_frame_reader_stop(vc_frame_reader *r);

/* Video id of a path: its file name without directory and without the last
 * extension ("data/clips/v12.mp4" -> "v12"; "x/.hidden" -> ".hidden").
 * Writes at most n bytes including the NUL; returns the full length. */
size_t vc_video_stem(const char *path, char *out, size_t n);

/* ---- CSV (RFC 4180) ----
 * Fields separated by commas; a field in double quotes may hold commas,
 * newlines and "" for a quote. Lines end in \n or \r\n; a UTF-8 byte order
 * mark at the start is skipped; empty lines are skipped. A quote inside an
 * unquoted field is kept as a character; text after a closing quote other
 * than a comma or the line end, or a file ending inside quotes, is an error
 * naming the file and line. */
typedef struct vc_csv vc_csv;

vc_status vc_csv_open(vc_csv **out, const char *path);
/* The next record: *fields[0..*n) NUL-terminated, valid until the next
 * call; *line is the line it starts on (1-based). *got = 0 at the end. */
vc_status vc_csv_next(vc_csv *c, char ***fields, int *n, int64_t *line, int *got);
void vc_csv_close(vc_csv *c);

#endif
