/* video.h: decoding a video (or a still image) with FFmpeg into RGB24 frames
 * sampled at a fixed rate by presentation time.
 *
 * Sampling: sample k targets the time t_k = k / fps after the video stream's
 * start time (its first timestamp when the container gives none). The frame
 * delivered for t_k is the last decoded frame whose presentation time is
 * <= t_k; when no frame is that early (a stream whose first frame comes after
 * its start time) it is the first frame. Timestamps are compared exactly, in
 * the stream's time base. Samples continue while t_k is before the end of
 * the last frame (its timestamp plus its duration), so a 5.0 s video at 1 fps
 * gives samples at 0, 1, 2, 3, 4, and a still image gives one. Frame rate may
 * vary: a frame shown for 3 s covers every target in those 3 s and may be
 * delivered several times. A timestamp jump of more than an hour is treated
 * as a discontinuity: the targets inside it are skipped rather than filled.
 *
 * Frames are converted at their native size to packed RGB24 (R, G, B byte
 * order) with swscale, using the stream's YUV matrix and range when it
 * declares them (BT.601 otherwise). Sample aspect ratio and rotation
 * metadata are not applied (frames come as coded, like OpenCV's reader).
 *
 * Memory stays bounded whatever the length: at most two decoded frames, the
 * decoder's own references and one RGB buffer are held.
 *
 * Errors: a file that cannot be opened, has no video stream or no decoder
 * fails at open with a message naming the file. Damage found while decoding
 * (a read error, a truncated file, packets the decoder rejects) is not a
 * failure: the frames decoded before it are delivered and the info reports
 * `truncated` / `errors` so the caller can count the file as damaged. A file
 * with no decodable frame delivers zero samples (and is flagged). Some
 * demuxers (Matroska/WebM) stop silently at cut-off data, so a stream that
 * ends more than max(1 s, 3 frames) before the length its container declares
 * is flagged too; a container that declares none (MPEG-TS, whose length is a
 * bitrate guess) cannot be checked that way. The other way round, sampling
 * stops (flagged) at 1.5x the declared length plus 2 s: timestamps that run
 * far past it (a damaged time scale) would otherwise repeat frames for
 * minutes. An MP4 cut before its index
 * (moov at the end, the default without +faststart) cannot be opened at all.
 *
 * Logging: FFmpeg's log output is routed (process-wide, installed once) to a
 * handler that never prints; it keeps the last error line per thread for the
 * messages here.
 *
 * Threads: a vc_video is used by one thread at a time; different vc_video
 * objects may be used from different threads at once.
 * Owns: demuxing, decoding, sampling, RGB conversion. Not: resizing or
 * normalisation (preprocess.h), the model, the output file. */
#ifndef VC_DATA_VIDEO_H
#define VC_DATA_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"

typedef struct vc_video vc_video;

typedef struct {
    double fps;       /* samples per second; <= 0 means 1 */
    int threads;      /* decoder threads; <= 0 means 1 (decoding usually runs beside the encoder) */
} vc_video_opts;

/* One sample. rgb stays valid until the next vc_video_next or close. */
typedef struct {
    int64_t index;        /* k */
    double time;          /* k / fps, seconds after the stream start */
    double pts;           /* presentation time of the frame delivered, seconds after the stream start */
    int width, height;
    ptrdiff_t stride;     /* bytes between rows */
    const uint8_t *rgb;   /* height rows of width * 3 bytes */
} vc_video_frame;

typedef struct {
    const char *format;   /* demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
    const char *codec;    /* decoder name, e.g. "h264" */
    int width, height;    /* from the stream header (frames may differ) */
    double duration;      /* container duration in seconds, < 0 when unknown */
    int64_t decoded;      /* frames decoded so far */
    int64_t samples;      /* samples delivered so far */
    int64_t errors;       /* packets or frames the decoder rejected or flagged corrupt */
    int truncated;        /* input ended in damage (read error, cut-off data, decode errors) */
    char message[256];    /* the first damage seen, "" when none */
} vc_video_info;

/* Opens path and its best video stream. opts may be NULL (1 fps). */
vc_status vc_video_open(const char *path, const vc_video_opts *opts, vc_video **out);

/* Next sample into *f; *got = 0 at the end (then f is untouched). Fails only
 * on resource errors (memory, conversion setup); damage ends the stream with
 * info.truncated set. */
vc_status vc_video_next(vc_video *v, vc_video_frame *f, int *got);

void vc_video_info_get(const vc_video *v, vc_video_info *info);
void vc_video_close(vc_video *v);

/* Open, deliver every sample to fn, close. A non-OK status from fn stops the
 * decoding and is returned. info (may be NULL) is filled also on failure
 * after open. */
typedef vc_status (*vc_video_frame_fn)(void *ctx, const vc_video_frame *f);
vc_status vc_video_decode(const char *path, const vc_video_opts *opts, vc_video_frame_fn fn, void *ctx,
                          vc_video_info *info);

#endif
