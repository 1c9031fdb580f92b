#include "data/video.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/* A decoder that keeps rejecting input is not going to recover. */
#define MAX_CONSECUTIVE_ERRORS 1000
/* Longer gaps between timestamps are discontinuities, not held frames. */
#define MAX_HOLD_SECONDS 3600

struct vc_video {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    AVPacket *pkt;
    int stream;
    AVRational tb;           /* the stream's time base */
    AVRational step;         /* 1 / fps as a rational, seconds */
    int64_t start;           /* stream start, in tb; AV_NOPTS_VALUE until known */
    int64_t default_dur;     /* frame duration guess from the frame rate, in tb */

    AVFrame *cand, *next;    /* the frame the current target would get, and one lookahead */
    int have_cand, have_next;
    int64_t cand_pts, next_pts, cand_dur, next_dur;
    int64_t last_pts, last_gap;  /* for frames without timestamps or durations */
    int64_t max_end;         /* latest pts + duration decoded, in tb */
    int cand_emitted;        /* cand already delivered at least once */
    int rgb_is_cand;         /* rgb holds cand converted */

    int64_t k;               /* next sample index */
    int64_t limit;           /* targets later than start + limit (in tb) are damaged timestamps;
                                -1 when the container declares no length */
    int input_done;          /* demuxer finished, flush packet sent */
    int dec_done;            /* decoder drained */
    int consecutive_errors;

    struct SwsContext *sws;
    int sws_w, sws_h, sws_fmt, sws_cs, sws_full;
    uint8_t *rgb;
    size_t rgb_cap;
    ptrdiff_t rgb_stride;
    int rgb_w, rgb_h;

    vc_video_info info;
};

/* ---- FFmpeg logging: never printed, last error kept per thread ---------- */

/* snprintf that may cut long FFmpeg messages short, on purpose. */
static void fmt_msg(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_msg(char *dst, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static _Thread_local char av_last_msg[256];
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void quiet_log(void *avcl, int level, const char *fmt, va_list vl) {
    if (level > AV_LOG_ERROR) return;
    char line[sizeof av_last_msg];
    va_list ap;
    va_copy(ap, vl);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (!n) return;
    const AVClass *cls = avcl ? *(const AVClass **)avcl : NULL;
    const char *who = cls && cls->item_name ? cls->item_name(avcl) : NULL;
    if (who && *who && strcmp(who, "NULL") != 0)
        fmt_msg(av_last_msg, sizeof av_last_msg, "%s: %s", who, line);
    else
        snprintf(av_last_msg, sizeof av_last_msg, "%s", line);
}

static void install_log(void) { av_log_set_callback(quiet_log); }

static const char *av_err(int err, char *buf, size_t n) {
    if (av_strerror(err, buf, n) < 0) snprintf(buf, n, "FFmpeg error %d", err);
    return buf;
}

/* Records the first damage; later ones only count. */
static void note_damage(vc_video *v, const char *what, int err) {
    v->info.truncated = 1;
    if (v->info.message[0]) return;
    char e[128];
    if (av_last_msg[0])
        fmt_msg(v->info.message, sizeof v->info.message, "%s (%s)", what, av_last_msg);
    else if (err)
        snprintf(v->info.message, sizeof v->info.message, "%s (%s)", what, av_err(err, e, sizeof e));
    else
        snprintf(v->info.message, sizeof v->info.message, "%s", what);
}

/* ---- open / close ------------------------------------------------------- */

void vc_video_close(vc_video *v) {
    if (!v) return;
    av_frame_free(&v->cand);
    av_frame_free(&v->next);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    avformat_close_input(&v->fmt);
    sws_freeContext(v->sws);
    free(v->rgb);
    free(v->path);
    free(v);
}

static vc_status open_fail(vc_video *v, vc_status code, const char *what, int err) {
    char e[128];
    char msg[512];
    if (err && av_last_msg[0])
        fmt_msg(msg, sizeof msg, "%s (%s; %s)", what, av_err(err, e, sizeof e), av_last_msg);
    else if (err)
        snprintf(msg, sizeof msg, "%s (%s)", what, av_err(err, e, sizeof e));
    else
        snprintf(msg, sizeof msg, "%s", what);
    vc_status st = vc_fail(code, "%s: %s", v->path, msg);
    vc_video_close(v);
    return st;
}

static int64_t sampling_limit(const vc_video *v);

vc_status vc_video_open(const char *path, const vc_video_opts *opts, vc_video **out) {
    *out = NULL;
    if (!path) return vc_fail(VC_ERR_ARG, "video: path is NULL");
    pthread_once(&log_once, install_log);
    av_last_msg[0] = 0;

    double fps = opts && opts->fps > 0 ? opts->fps : 1.0;
    int threads = opts && opts->threads > 0 ? opts->threads : 1;
    vc_video *v = calloc(1, sizeof *v);
    if (!v) return vc_fail(VC_ERR_OOM, "%s: cannot allocate the decoder state", path);
    v->path = strdup(path);
    v->pkt = av_packet_alloc();
    v->cand = av_frame_alloc();
    v->next = av_frame_alloc();
    if (!v->path || !v->pkt || !v->cand || !v->next) {
        free(v->path);
        v->path = NULL;
        vc_video_close(v);
        return vc_fail(VC_ERR_OOM, "%s: cannot allocate the decoder state", path);
    }
    v->info.duration = -1;
    v->sws_fmt = -1;

    int ret = avformat_open_input(&v->fmt, path, NULL, NULL);
    if (ret < 0) {
        if (ret == AVERROR(ENOENT) || ret == AVERROR(EACCES) || ret == AVERROR(EISDIR) || ret == AVERROR(EIO))
            return open_fail(v, VC_ERR_IO, "cannot open", ret);
        return open_fail(v, VC_ERR_FORMAT, "not a video or image FFmpeg can read", ret);
    }
    ret = avformat_find_stream_info(v->fmt, NULL);
    if (ret < 0) return open_fail(v, VC_ERR_FORMAT, "cannot read stream information", ret);

    const AVCodec *codec = NULL;
    ret = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (ret == AVERROR_STREAM_NOT_FOUND) return open_fail(v, VC_ERR_FORMAT, "no video stream", 0);
    if (ret == AVERROR_DECODER_NOT_FOUND || (ret >= 0 && !codec)) {
        char msg[160];
        int idx = ret >= 0 ? ret : av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        const char *name = idx >= 0 ? avcodec_get_name(v->fmt->streams[idx]->codecpar->codec_id) : "?";
        snprintf(msg, sizeof msg, "no decoder for video codec %s in this FFmpeg", name);
        return open_fail(v, VC_ERR_UNSUPPORTED, msg, 0);
    }
    if (ret < 0) return open_fail(v, VC_ERR_FORMAT, "cannot select a video stream", ret);
    v->stream = ret;
    AVStream *st = v->fmt->streams[ret];
    if (st->disposition & AV_DISPOSITION_ATTACHED_PIC)
        return open_fail(v, VC_ERR_FORMAT, "no video stream (only attached cover art)", 0);
    for (unsigned i = 0; i < v->fmt->nb_streams; i++)
        if ((int)i != v->stream) v->fmt->streams[i]->discard = AVDISCARD_ALL;

    v->dec = avcodec_alloc_context3(codec);
    if (!v->dec) return open_fail(v, VC_ERR_OOM, "cannot allocate the decoder", 0);
    ret = avcodec_parameters_to_context(v->dec, st->codecpar);
    if (ret < 0) return open_fail(v, VC_ERR_FORMAT, "bad codec parameters", ret);
    v->dec->pkt_timebase = st->time_base;
    v->dec->thread_count = threads;
    ret = avcodec_open2(v->dec, codec, NULL);
    if (ret < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot open the %s decoder", codec->name);
        return open_fail(v, VC_ERR_UNSUPPORTED, msg, ret);
    }

    v->tb = st->time_base;
    if (v->tb.num <= 0 || v->tb.den <= 0) v->tb = (AVRational){1, AV_TIME_BASE};
    v->step = av_inv_q(av_d2q(fps, 1 << 20));
    if (v->step.num <= 0 || v->step.den <= 0) return open_fail(v, VC_ERR_ARG, "sampling rate out of range", 0);
    v->start = st->start_time;
    AVRational rate = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
    v->default_dur = rate.num > 0 && rate.den > 0 ? av_rescale_q(1, av_inv_q(rate), v->tb) : 0;
    v->last_pts = AV_NOPTS_VALUE;
    v->limit = sampling_limit(v);

    v->info.format = v->fmt->iformat->name;
    v->info.codec = codec->name;
    v->info.width = st->codecpar->width;
    v->info.height = st->codecpar->height;
    if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0)
        v->info.duration = (double)v->fmt->duration / AV_TIME_BASE;
    *out = v;
    return VC_OK;
}

void vc_video_info_get(const vc_video *v, vc_video_info *info) { *info = v->info; }

/* ---- decoding ----------------------------------------------------------- */

static int64_t frame_duration(const AVFrame *f) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    return f->duration;
#else
    return f->pkt_duration;
#endif
}

/* "HH:MM:SS.fraction", as Matroska muxers store a track's duration. */
static double parse_hms(const char *s) {
    int h, m;
    double sec;
    if (!s || sscanf(s, "%d:%d:%lf", &h, &m, &sec) != 3 || h < 0 || m < 0 || sec < 0) return -1;
    return h * 3600.0 + m * 60.0 + sec;
}

/* The end of the video stream its container declares, in tb from the
 * stream start; -1 when unknown or only guessed from the bitrate. */
static int64_t declared_length(const vc_video *v) {
    const AVStream *st = v->fmt->streams[v->stream];
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0) return st->duration;
    const AVDictionaryEntry *e = av_dict_get(st->metadata, "DURATION", NULL, 0);
    double secs = e ? parse_hms(e->value) : -1;
    if (secs > 0) return av_rescale_q((int64_t)(secs * 1e6), AV_TIME_BASE_Q, v->tb);
    if (v->fmt->duration != AV_NOPTS_VALUE && v->fmt->duration > 0 &&
        v->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE)
        return av_rescale_q(v->fmt->duration, AV_TIME_BASE_Q, v->tb);
    return -1;
}

/* Called once the decoder is drained. Some demuxers (Matroska) stop quietly
 * at a cut-off cluster, so a stream ending well before the length its
 * container declares counts as truncated. The margin (a second, or three
 * frames) leaves room for audio running past the video and rounded headers. */
static void check_complete(vc_video *v) {
    if (v->info.decoded == 0) {
        note_damage(v, "no decodable frame", 0);
        return;
    }
    int64_t len = declared_length(v);
    if (len <= 0 || v->start == AV_NOPTS_VALUE) return;
    int64_t margin = av_rescale_q(1, (AVRational){1, 1}, v->tb);
    if (3 * v->default_dur > margin) margin = 3 * v->default_dur;
    int64_t got = v->max_end - v->start;
    if (got < len - margin) {
        char what[160];
        snprintf(what, sizeof what, "frames end at %.2f s of the %.2f s the container declares",
                 (double)got * av_q2d(v->tb), (double)len * av_q2d(v->tb));
        av_last_msg[0] = 0;
        note_damage(v, what, 0);
    }
}

/* Counts and notes a decoding error; true when there have been too many in a
 * row, and decoding has stopped (the video is as complete as it gets). */
static bool decode_error(vc_video *v, int ret) {
    v->info.errors++;
    note_damage(v, "decoding error", ret);
    if (++v->consecutive_errors <= MAX_CONSECUTIVE_ERRORS) return false;
    v->dec_done = 1;
    check_complete(v);
    return true;
}

/* Decodes the next frame into dst with its timestamp and duration (in tb).
 * *got = 0 when the stream is exhausted (or given up as damaged). */
static vc_status decode_frame(vc_video *v, AVFrame *dst, int64_t *pts, int64_t *dur, int *got) {
    *got = 0;
    if (v->dec_done) return VC_OK;
    for (;;) {
        int ret = avcodec_receive_frame(v->dec, dst);
        if (ret >= 0) {
            v->consecutive_errors = 0;
            v->info.decoded++;
            if ((dst->flags & AV_FRAME_FLAG_CORRUPT) || dst->decode_error_flags) {
                v->info.errors++;
                note_damage(v, "corrupt frame", 0);
            }
            int64_t p = dst->best_effort_timestamp;
            if (p == AV_NOPTS_VALUE) p = dst->pts;
            if (p == AV_NOPTS_VALUE)
                p = v->last_pts == AV_NOPTS_VALUE ? 0 : v->last_pts + (v->last_gap > 0 ? v->last_gap : 1);
            int64_t d = frame_duration(dst);
            if (v->last_pts != AV_NOPTS_VALUE && p > v->last_pts) v->last_gap = p - v->last_pts;
            if (d <= 0) d = v->default_dur > 0 ? v->default_dur : v->last_gap;
            v->last_pts = p;
            if (v->start == AV_NOPTS_VALUE) v->start = p;
            if (v->info.decoded == 1 || p + d > v->max_end) v->max_end = p + d;
            *pts = p;
            *dur = d;
            *got = 1;
            return VC_OK;
        }
        if (ret == AVERROR_EOF) {
            v->dec_done = 1;
            check_complete(v);
            return VC_OK;
        }
        /* ENOMEM included: a damaged size field asks FFmpeg for an
         * impossible allocation; that is damage to report, not a reason to
         * stop the whole run */
        if (ret != AVERROR(EAGAIN)) {
            if (decode_error(v, ret)) return VC_OK;
            continue;
        }
        if (v->input_done) {  /* drained decoder still asks for input: give up */
            v->dec_done = 1;
            check_complete(v);
            return VC_OK;
        }
        av_last_msg[0] = 0;
        ret = av_read_frame(v->fmt, v->pkt);
        if (ret < 0) { /* ENOMEM included, as above */
            if (ret != AVERROR_EOF) note_damage(v, "read error", ret);
            else if (v->fmt->pb && v->fmt->pb->error && v->fmt->pb->error != AVERROR_EOF)
                note_damage(v, "read error", v->fmt->pb->error);
            v->input_done = 1;
            avcodec_send_packet(v->dec, NULL);
            continue;
        }
        if (v->pkt->stream_index != v->stream) {
            av_packet_unref(v->pkt);
            continue;
        }
        if (v->pkt->flags & AV_PKT_FLAG_CORRUPT) {
            v->info.errors++;
            note_damage(v, "corrupt or cut-off packet", 0);
        }
        av_last_msg[0] = 0;
        ret = avcodec_send_packet(v->dec, v->pkt);
        av_packet_unref(v->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN) && decode_error(v, ret)) /* ENOMEM included, as above */
            return VC_OK;
    }
}

/* Converts cand to packed RGB24 at its own size. */
static vc_status to_rgb(vc_video *v, const AVFrame *f) {
    int w = f->width, h = f->height;
    if (w <= 0 || h <= 0 || f->format < 0)
        return vc_fail(VC_ERR_FORMAT, "%s: decoded frame has no size or pixel format", v->path);
    int full = f->color_range == AVCOL_RANGE_JPEG;
    if (f->format == AV_PIX_FMT_YUVJ420P || f->format == AV_PIX_FMT_YUVJ422P || f->format == AV_PIX_FMT_YUVJ444P ||
        f->format == AV_PIX_FMT_YUVJ440P || f->format == AV_PIX_FMT_YUVJ411P)
        full = 1;
    int cs = f->colorspace;
    if (!v->sws || w != v->sws_w || h != v->sws_h || f->format != v->sws_fmt || cs != v->sws_cs || full != v->sws_full) {
        /* Same size in and out: only the pixel format changes. Full chroma
         * interpolation and accurate rounding keep edges and flat colours exact. */
        struct SwsContext *s = sws_getCachedContext(v->sws, w, h, f->format, w, h, AV_PIX_FMT_RGB24,
                                                    SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
        if (!s) {
            const char *name = av_get_pix_fmt_name(f->format);
            return vc_fail(VC_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB", v->path, name ? name : "?");
        }
        v->sws = s;
        const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
        if (desc && !(desc->flags & AV_PIX_FMT_FLAG_RGB) && desc->nb_components >= 3) {
            int *inv, *tab, src_range, dst_range, bri, con, sat;
            if (sws_getColorspaceDetails(s, &inv, &src_range, &tab, &dst_range, &bri, &con, &sat) >= 0)
                sws_setColorspaceDetails(s, sws_getCoefficients(cs), full, tab, 1, bri, con, sat);
        }
        v->sws_w = w;
        v->sws_h = h;
        v->sws_fmt = f->format;
        v->sws_cs = cs;
        v->sws_full = full;
    }
    ptrdiff_t stride = ((ptrdiff_t)w * 3 + 63) & ~(ptrdiff_t)63;
    size_t need = (size_t)stride * (size_t)h;
    if (need > v->rgb_cap) {
        free(v->rgb);
        v->rgb = malloc(need);
        v->rgb_cap = v->rgb ? need : 0;
        if (!v->rgb) return vc_fail(VC_ERR_OOM, "%s: cannot allocate a %dx%d RGB frame", v->path, w, h);
    }
    uint8_t *dst[4] = {v->rgb, NULL, NULL, NULL};
    int dst_stride[4] = {(int)stride, 0, 0, 0};
    int rows = sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dst_stride);
    if (rows != h) return vc_fail(VC_ERR_FORMAT, "%s: RGB conversion of a %dx%d frame failed", v->path, w, h);
    v->rgb_stride = stride;
    v->rgb_w = w;
    v->rgb_h = h;
    return VC_OK;
}

/* How far past the stream start sampling may go: the declared length with a
 * wide margin (half of it plus two seconds), so only timestamps that are
 * plainly damaged (a 6 s file whose frames claim an hour) stop it; -1 when
 * the container declares no length. Without this, one damaged time scale
 * turns each frame into minutes of repeated samples. */
static int64_t sampling_limit(const vc_video *v) {
    int64_t len = declared_length(v);
    if (len <= 0) return -1;
    return len + len / 2 + av_rescale_q(2, (AVRational){1, 1}, v->tb);
}

static int64_t target_ticks(const vc_video *v, int64_t k) {
    /* start + floor(k * step / tb): a frame at pts p qualifies iff p <= this. */
    return v->start + av_rescale_q_rnd(k, v->step, v->tb, AV_ROUND_DOWN);
}

static vc_status emit(vc_video *v, vc_video_frame *f) {
    if (!v->rgb_is_cand) {
        vc_status st = to_rgb(v, v->cand);
        if (st != VC_OK) return st;
        v->rgb_is_cand = 1;
    }
    f->index = v->k;
    f->time = (double)v->k * av_q2d(v->step);
    f->pts = (double)(v->cand_pts - v->start) * av_q2d(v->tb);
    f->width = v->rgb_w;
    f->height = v->rgb_h;
    f->stride = v->rgb_stride;
    f->rgb = v->rgb;
    v->k++;
    v->cand_emitted = 1;
    v->info.samples++;
    return VC_OK;
}

vc_status vc_video_next(vc_video *v, vc_video_frame *f, int *got) {
    *got = 0;
    vc_status st;
    int ok;
    for (;;) {
        if (!v->have_cand) {
            st = decode_frame(v, v->cand, &v->cand_pts, &v->cand_dur, &ok);
            if (st != VC_OK) return st;
            if (!ok) return VC_OK;  /* no decodable frame at all */
            v->have_cand = 1;
            v->cand_emitted = 0;
            v->rgb_is_cand = 0;
        }
        int64_t tk = target_ticks(v, v->k);
        if (v->limit > 0 && tk - v->start > v->limit) {
            note_damage(v, "timestamps run far past the length the container declares", 0);
            return VC_OK; /* the frames sampled so far are kept */
        }
        if (v->cand_pts > tk) break;  /* no frame this early: the first one stands in */
        if (!v->have_next) {
            av_frame_unref(v->next);
            st = decode_frame(v, v->next, &v->next_pts, &v->next_dur, &ok);
            if (st != VC_OK) return st;
            v->have_next = ok;
        }
        if (v->have_next) {
            if (v->next_pts <= tk) {  /* a later frame still qualifies: it replaces cand */
                AVFrame *t = v->cand;
                v->cand = v->next;
                v->next = t;
                av_frame_unref(v->next);
                v->cand_pts = v->next_pts;
                v->cand_dur = v->next_dur;
                v->have_next = 0;
                v->cand_emitted = 0;
                v->rgb_is_cand = 0;
                continue;
            }
            int64_t hold = av_rescale_q(MAX_HOLD_SECONDS, (AVRational){1, 1}, v->tb);
            if (v->cand_emitted && v->next_pts - tk > hold) {
                /* Discontinuity: jump to the first target at or after next. */
                v->k = av_rescale_q_rnd(v->next_pts - v->start, v->tb, v->step, AV_ROUND_UP);
                continue;
            }
            break;  /* cand is the last frame at or before tk */
        }
        /* Decoder drained: cand is the last frame; it covers targets before its end. */
        int64_t d = v->cand_dur > 0 ? v->cand_dur : 1;
        int64_t hold = av_rescale_q(MAX_HOLD_SECONDS, (AVRational){1, 1}, v->tb);
        if (d > hold) d = hold;
        if (tk < v->cand_pts + d) break;
        return VC_OK;
    }
    st = emit(v, f);
    if (st != VC_OK) return st;
    *got = 1;
    return VC_OK;
}

vc_status vc_video_decode(const char *path, const vc_video_opts *opts, vc_video_frame_fn fn, void *ctx,
                          vc_video_info *info) {
    if (info) memset(info, 0, sizeof *info);
    vc_video *v;
    vc_status st = vc_video_open(path, opts, &v);
    if (st != VC_OK) return st;
    for (;;) {
        vc_video_frame f;
        int got;
        st = vc_video_next(v, &f, &got);
        if (st != VC_OK || !got) break;
        st = fn(ctx, &f);
        if (st != VC_OK) break;
    }
    if (info) vc_video_info_get(v, info);
    vc_video_close(v);
    return st;
}
