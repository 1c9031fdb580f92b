/* vclip encode-video / encode-text: real videos and captions into the vclip
 * embeddings file (data/FORMAT.md) with the frozen CLIP towers, no Python.
 *
 * encode-video --clip CLIP.safetensors --out DATA.h5 [--fps F] [--act A]
 *   [--batch B] [--dtype f16|f32] [--ids stem|path] [--clip-model NAME]
 *   [--captions CSV] [--vocab FILE] (VIDEO... | --list FILE)
 * Decoder threads (data/encode.h) decode the videos in input order at F
 * samples per second and preprocesses each sample for the image tower into a
 * bounded queue; this thread takes frames from it across video boundaries,
 * B at a time, through the image tower, and writes each video as soon as
 * its last frame is encoded. Held at once: the CLIP weights, the queue (32
 * frames), one batch, and the embeddings of the videos still in flight (at
 * most B + 1 videos; the writer takes a video's frames in one call), so the
 * memory does not grow with the number of videos, only with the length of
 * the longest one (D floats per sampled frame: 2 KB per frame for B/32).
 *
 * Video ids: the file name without directory and extension (--ids stem, the
 * default: "clips/v12.mp4" -> "v12", the WebDataset-key convention), or the
 * path exactly as given (--ids path). Ids must be unique.
 *
 * Damage: a file that cannot be opened (not a video, no video stream, an
 * unknown codec) or whose decoding stops early (truncated, corrupt packets)
 * gets one line on stderr and is counted; its decodable frames are kept,
 * and a video without any is recorded with 0 frames, never dropped.
 *
 * Captions: a CSV (data/encode.h: RFC 4180 quoting) with two fields per
 * record, the video (its id, or its path as given, or a path whose stem is
 * the id) and the caption. A first record whose video field is
 * "video", "video_id", "id", "key", "path", "file" or "name" and matches no
 * video is a header and skipped. The CSV is checked before any video is
 * decoded (an unknown video is an error naming the line) and read again at
 * the end, B captions at a time through the text tower, in CSV order.
 *
 * encode-text --clip CLIP.safetensors --data DATA.h5 [--vocab FILE] [--act A]
 *   [--batch B] [--templates FILE]
 * Fills /text/embeddings from /text/captions, and /class/embeddings from
 * /class/names by CLIP's zero-shot recipe: each name in every prompt
 * template, each prompt's embedding L2-normalised, averaged over the
 * templates and normalised again (so class embeddings are unit length,
 * unlike caption embeddings, which stay raw; models/zeroshot.h). Default templates: "a video of {}.", "a video of a person {}.", "a video of a person
 * doing {}.", "a photo of {}.", "an example of {}."; a templates file holds
 * one per line with "{}" where the name goes (blank lines and lines starting
 * with '#' are skipped). Everything else in the file (videos, frames, ids,
 * metadata, splits, labels, attributes) is copied through the reader and the writer
 * into a new file next to it, which replaces the original only when complete:
 * any failure leaves the original as it was. Embeddings keep the file's
 * frame dtype; compression is not copied.
 *
 * --act: quickgelu for OpenAI's weights (the default), gelu for most
 * LAION/open_clip ones (the file does not say which).
 * --precision fp32|bf16|fp16: the towers' products (models/clip.h
 * vc_clip_set_precision; default vc_cmd_clip_precision_default; fp16 only
 * where the device has fp16 products: CUDA).
 * --device cpu|cuda|cuda:N: where the towers run (a missing GPU is one
 * error line). encode-video on a GPU: --decode-threads videos are decoded
 * at once, one thread each (default: the CPUs, at most 8; on the CPU 1,
 * which leaves the cores to the tower), each batch of frames is
 * gathered in pinned host memory (two buffers, alternating) and copied on a
 * copy stream (tensor/device.h vc_uploader) while the tower still runs the
 * previous batch, whose embeddings are read back only when the next batch is
 * full; so decoding, the copy and the tower overlap. At the end one line
 * on stderr: videos/s, frames/s, the seconds spent waiting for decoded
 * frames and for the tower, and which of the two was the bottleneck. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
#include "data/encode.h"
#include "data/h5_copy.h"
#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "models/clip.h"
#include "models/text_embed.h"
#include "models/tokenizer.h"
#include "models/zeroshot.h"
#include "data/splits.h"
#include "tensor/backend_cuda.h"
#include "tensor/device.h"
#include "tensor/strmap.h"

#define DEFAULT_VOCAB "build/vocab/bpe_simple_vocab_16e6.txt.gz"

/* ---- shared pieces ---------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool parse_pos_int(const char *v, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < 1) return false;
    *out = x;
    return true;
}

/* Index of string k in m (ids, paths), or -1. */
static int64_t map_get(const vc_strmap *m, const char *k) {
    int64_t v;
    return vc_strmap_get(m, k, strlen(k), &v) ? v : -1;
}

static vc_status load_clip(vc_clip *m, const char *path, const char *act, int towers, vc_precision prec,
                           vc_device dev) {
    vc_clip_opts o = {.towers = towers, .precision = prec, .device = dev};
    if (act) {
        vc_status s = vc_clip_act_parse(act, &o.act);
        if (s) return s;
    }
    vc_status s = vc_clip_load(m, path, &o);
    if (!s) vc_cmd_precision_note_on(dev, prec, m->precision);
    return s;
}

/* ---- encode-video ------------------------------------------------------------- */

/* The embeddings of one video as its frames come out of the image tower. */
typedef struct {
    int64_t video;
    float *emb;
    int64_t n, cap;     /* rows encoded, rows allocated */
    int64_t queued;     /* frames taken from the queue */
    bool ended;         /* its END item was seen */
    int64_t frames;     /* from END */
} pending;

typedef struct {
    /* inputs */
    char **paths;       /* [V] as given */
    char **ids;         /* [V] */
    int64_t V;
    const char *out, *captions, *vocab, *clip_path, *act, *clip_model;
    double fps;
    int64_t B;
    vc_dtype dtype;
    vc_precision precision;
    vc_device device;
    const char *device_arg;
    int decode_threads;
    bool ids_path;
    bool split_by_ratio;
    double split_ratio[VC_NSPLITS];
    uint64_t seed;
    /* state */
    vc_strmap by_id, by_path;
    vc_clip clip;
    bool clip_loaded;
    vc_tokenizer *tk;
    vc_tape tape;
    vc_h5w *w;
    vc_frame_reader *r;
    float *batch;       /* [B, 3, S, S]: pin[cur] on a GPU */
    pending **owner;    /* [B] video of each batch row */
    int64_t nb;
    /* on a GPU: two pinned batches alternating, the copy stream, and the
     * batch whose tower runs while the next one fills */
    float *pin[2];
    int cur;
    vc_uploader *up;
    pending **fly_owner; /* [B] */
    int64_t fly_n;
    vc_var *fly;
    double wait_decode, wait_tower; /* seconds blocked on each side */
    pending **fifo;     /* videos not yet written, in order */
    int64_t nfifo, capfifo;
    /* counts */
    int64_t written, frames, failed, damaged, empty, n_captions;
    vc_progress_line prog;
    double t0;
} vcx;

static void progress(vcx *c) {
    double dt = now_s() - c->t0 > 1e-9 ? now_s() - c->t0 : 1e-9;
    char extra[96];
    snprintf(extra, sizeof extra, "%lld frames, %.1f frames/s", (long long)c->frames, (double)c->frames / dt);
    vc_progress_update(&c->prog, "videos encoded", c->written, c->V, extra);
}

/* One line: "vclip encode-video: PATH: WHAT; OUTCOME" (PATH once, also when
 * the decoder's message already starts with it). */
static void report(vcx *c, const char *path, const char *what, const char *outcome, long long n) {
    vc_progress_clear(&c->prog);
    size_t pl = strlen(path);
    if (strncmp(what, path, pl) == 0 && what[pl] == ':') what += pl + (what[pl + 1] == ' ' ? 2 : 1);
    fprintf(stderr, "vclip encode-video: %s: %s; ", path, what);
    fprintf(stderr, outcome, n);
    fputc('\n', stderr);
}

/* Writes the videos at the head of the FIFO whose frames are all encoded. */
static vc_status write_ready(vcx *c) {
    int64_t k = 0;
    vc_status s = VC_OK;
    while (k < c->nfifo && !s) {
        pending *p = c->fifo[k];
        if (!p->ended || p->n < p->queued) break;
        if (p->n != p->frames)
            return vc_fail(VC_ERR_ARG, "%s: %lld frames were encoded but the decoder reported %lld", c->paths[p->video],
                           (long long)p->n, (long long)p->frames);
        s = vc_h5w_add_video(c->w, c->ids[p->video], p->emb, p->n, NULL);
        if (!s) {
            c->written++;
            c->frames += p->n;
            c->empty += p->n == 0;
            free(p->emb);
            free(p);
            k++;
        }
    }
    if (k) {
        memmove(c->fifo, c->fifo + k, (size_t)(c->nfifo - k) * sizeof *c->fifo);
        c->nfifo -= k;
    }
    return s;
}

/* The FIFO entry of video v (the tail, or a new one). */
static pending *pending_for(vcx *c, int64_t v) {
    if (c->nfifo && c->fifo[c->nfifo - 1]->video == v) return c->fifo[c->nfifo - 1];
    if (c->nfifo == c->capfifo) {
        int64_t nc = c->capfifo ? 2 * c->capfifo : 16;
        pending **nf = realloc(c->fifo, (size_t)nc * sizeof *nf);
        if (!nf) return NULL;
        c->fifo = nf;
        c->capfifo = nc;
    }
    pending *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->video = v;
    c->fifo[c->nfifo++] = p;
    return p;
}

/* Appends embedding rows y [n, E] (host) to the videos of owner[0..n). */
static vc_status take_rows(vcx *c, pending **owner, const float *y, int64_t n) {
    int64_t E = c->clip.cfg.embed;
    for (int64_t i = 0; i < n; i++) {
        pending *p = owner[i];
        if (p->n == p->cap) {
            int64_t nc = p->cap ? 2 * p->cap : 16;
            float *ne = realloc(p->emb, (size_t)(nc * E) * sizeof *ne);
            if (!ne) return vc_fail(VC_ERR_OOM, "%s: out of memory for %lld frame embeddings", c->paths[p->video],
                                    (long long)nc);
            p->emb = ne;
            p->cap = nc;
        }
        memcpy(p->emb + p->n * E, y + i * E, (size_t)E * sizeof *y);
        p->n++;
    }
    return VC_OK;
}

/* The batch in flight on the GPU: waits for its embeddings (the time is the
 * tower's), hands them to their videos. */
static vc_status collect(vcx *c) {
    if (!c->fly) return VC_OK;
    int64_t E = c->clip.cfg.embed, n = c->fly_n;
    float *y = malloc((size_t)(n * E) * sizeof *y);
    if (!y) return vc_fail(VC_ERR_OOM, "encode-video: out of memory for %lld embeddings", (long long)n);
    double t = now_s();
    vc_backend_for(c->device)->copy_d2h(y, c->fly->val.data, (size_t)(n * E) * sizeof *y);
    vc_status s = vc_cuda_take_error();
    c->wait_tower += now_s() - t;
    c->fly = NULL;
    if (!s) s = take_rows(c, c->fly_owner, y, n);
    free(y);
    return s ? s : write_ready(c);
}

/* The full batch into the tower: on the CPU at once; on a GPU queued behind
 * its copy, after collecting the previous batch, while the next one fills. */
static vc_status flush_batch(vcx *c) {
    if (c->nb == 0) return c->device == VC_CPU ? write_ready(c) : collect(c);
    int64_t S = c->clip.cfg.image_size;
    vc_tensor x;
    vc_status s;
    if (c->device == VC_CPU) {
        if ((s = vc_tensor_wrap(&x, c->batch, VC_F32, VC_DIMS(c->nb, 3, S, S)))) return s;
        vc_tape_reset(&c->tape);
        double t = now_s();
        vc_var *e = vc_clip_encode_image(&c->tape, &c->clip, &x);
        c->wait_tower += now_s() - t;
        if (!e) return vc_tape_status(&c->tape);
        if ((s = take_rows(c, c->owner, e->val.data, c->nb))) return s;
        c->nb = 0;
        return write_ready(c);
    }
    if ((s = collect(c))) return s;
    const void *src = c->batch;
    size_t bytes = (size_t)(c->nb * 3 * S * S) * sizeof(float);
    void *dev = NULL;
    double t = now_s(); /* queueing the copy and the tower's kernels counts as the tower's */
    if ((s = vc_uploader_start(c->up, 1, &src, &bytes)) || (s = vc_uploader_take(c->up, &dev))) return s;
    if ((s = vc_tensor_wrap(&x, dev, VC_F32, VC_DIMS(c->nb, 3, S, S)))) return s;
    x.device = c->device;
    vc_tape_reset(&c->tape);
    c->fly = vc_clip_encode_image(&c->tape, &c->clip, &x);
    c->wait_tower += now_s() - t;
    if (!c->fly) return vc_tape_status(&c->tape);
    c->fly_n = c->nb;
    pending **o = c->fly_owner;
    c->fly_owner = c->owner;
    c->owner = o;
    c->cur ^= 1;
    c->batch = c->pin[c->cur];
    c->nb = 0;
    return VC_OK;
}

static void note_end(vcx *c, const vc_enc_item *it) {
    const char *path = c->paths[it->video];
    if (it->failed) {
        c->failed++;
        report(c, path, it->message, "recorded with 0 frames", 0);
    } else if (it->truncated || it->errors) {
        c->damaged++;
        report(c, path, it->message[0] ? it->message : "decoder errors", "damaged, kept the %lld frames decoded before it",
               (long long)it->frames);
    } else if (it->frames == 0) {
        c->damaged++;
        report(c, path, "no decodable frame", "recorded with 0 frames", 0);
    }
}

static vc_status encode_frames(vcx *c) {
    int64_t S = c->clip.cfg.image_size, per = 3 * S * S;
    size_t batch_bytes = (size_t)(c->B * per) * sizeof(float);
    bool gpu = c->device != VC_CPU;
    c->owner = malloc((size_t)c->B * sizeof *c->owner);
    c->fly_owner = malloc((size_t)c->B * sizeof *c->fly_owner);
    if (gpu) {
        c->pin[0] = vc_device_host_alloc(c->device, batch_bytes);
        c->pin[1] = vc_device_host_alloc(c->device, batch_bytes);
        c->batch = c->pin[0];
        if (!c->pin[0] || !c->pin[1])
            return vc_fail(VC_ERR_OOM, "encode-video: cannot allocate two pinned batches of %lld frames (%zu bytes "
                                       "each)", (long long)c->B, batch_bytes);
        vc_status s = vc_uploader_open(&c->up, c->device);
        if (s) return s;
    } else {
        c->batch = malloc(batch_bytes);
    }
    if (!c->batch || !c->owner || !c->fly_owner)
        return vc_fail(VC_ERR_OOM, "encode-video: out of memory for a batch of %lld frames", (long long)c->B);
    vc_frame_reader_opts ro = {.fps = c->fps, .size = (int)S, .capacity = gpu ? (int)(2 * c->B) : 32,
                               .threads = 1, .workers = c->decode_threads};
    vc_status s = vc_frame_reader_start(&c->r, (const char *const *)c->paths, c->V, &ro);
    c->t0 = now_s();
    vc_progress_update(&c->prog, "videos encoded", 0, c->V, NULL);
    for (;;) {
        vc_enc_item it;
        int got = 0;
        double t = now_s();
        if (!s) s = vc_frame_reader_next(c->r, &it, &got);
        c->wait_decode += now_s() - t;
        if (s || !got) break;
        pending *p = pending_for(c, it.video);
        if (!p) {
            s = vc_fail(VC_ERR_OOM, "%s: out of memory for its entry in the write queue", c->paths[it.video]);
            break;
        }
        if (it.kind == VC_ENC_FRAME) {
            memcpy(c->batch + c->nb * per, it.pixels, (size_t)per * sizeof(float));
            c->owner[c->nb++] = p;
            p->queued++;
            if (c->nb == c->B) s = flush_batch(c);
        } else {
            p->ended = true;
            p->frames = it.frames;
            note_end(c, &it);
            s = write_ready(c);
        }
        progress(c);
    }
    if (!s) s = flush_batch(c);
    if (!s) s = collect(c);
    if (!s && c->nfifo) s = vc_fail(VC_ERR_ARG, "encode-video: %lld videos were not completed", (long long)c->nfifo);
    if (!s) progress(c);
    vc_progress_done(&c->prog);
    return s;
}

static bool is_header_name(const char *s) {
    static const char *const names[] = {"video", "video_id", "videoid", "id", "key", "path", "file", "filename", "name"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i]) == 0) return true;
    return false;
}

/* Video index of a caption's video field, or -1. */
static int64_t caption_video(vcx *c, const char *key) {
    int64_t v = map_get(&c->by_id, key);
    if (v < 0) v = map_get(&c->by_path, key);
    if (v < 0 && !c->ids_path) {
        char stem[4096];
        if (vc_video_stem(key, stem, sizeof stem) < sizeof stem) v = map_get(&c->by_id, stem);
    }
    return v;
}

/* One pass over the captions CSV. With w NULL it only checks and counts;
 * otherwise it encodes and writes, B captions at a time. */
static vc_status caption_pass(vcx *c, bool write) {
    vc_csv *csv;
    vc_status s = vc_csv_open(&csv, c->captions);
    if (s) return s;
    int64_t B = c->B, E = write ? c->clip.cfg.embed : 0, L = write ? c->clip.cfg.context : 0, nb = 0;
    char **text = calloc((size_t)B, sizeof *text);
    int64_t *vid = malloc((size_t)B * sizeof *vid);
    int32_t *ids = write ? malloc((size_t)(B * L) * sizeof *ids) : NULL;
    float *emb = write ? malloc((size_t)(B * E) * sizeof *emb) : NULL;
    if (!text || !vid || (write && (!ids || !emb)))
        s = vc_fail(VC_ERR_OOM, "%s: out of memory for a batch of %lld captions", c->captions, (long long)B);
    bool first = true;
    int64_t count = 0;
    if (write) vc_progress_update(&c->prog, "captions encoded", 0, c->n_captions, NULL);
    while (!s) {
        char **f;
        int n, got;
        int64_t line;
        if ((s = vc_csv_next(csv, &f, &n, &line, &got)) || !got) break;
        int64_t v = n >= 1 ? caption_video(c, f[0]) : -1;
        bool header = first && v < 0 && is_header_name(f[0]);
        first = false;
        if (header) continue;
        if (n != 2) {
            s = vc_fail(VC_ERR_FORMAT, "%s: line %lld has %d fields, not 2 (video, caption); quote a caption that "
                                       "holds commas", c->captions, (long long)line, n);
            break;
        }
        if (v < 0) {
            s = vc_fail(VC_ERR_FORMAT, "%s: line %lld: no input video '%.200s' (give its id, as --ids makes it, or its "
                                       "path)", c->captions, (long long)line, f[0]);
            break;
        }
        count++;
        if (!write) continue;
        if (!(text[nb] = strdup(f[1]))) {
            s = vc_fail(VC_ERR_OOM, "%s: line %lld: out of memory for its caption (%zu bytes)", c->captions,
                        (long long)line, strlen(f[1]) + 1);
            break;
        }
        vid[nb++] = v;
        if (nb == B) {
            s = vc_clip_embed_texts(&c->tape, &c->clip, c->tk, (const char *const *)text, nb, ids, emb);
            for (int64_t i = 0; i < nb && !s; i++) s = vc_h5w_add_caption(c->w, vid[i], text[i], emb + i * E);
            for (int64_t i = 0; i < nb; i++) {
                free(text[i]);
                text[i] = NULL;
            }
            nb = 0;
            vc_progress_update(&c->prog, "captions encoded", count, c->n_captions, NULL);
        }
    }
    if (!s && nb) {
        s = vc_clip_embed_texts(&c->tape, &c->clip, c->tk, (const char *const *)text, nb, ids, emb);
        for (int64_t i = 0; i < nb && !s; i++) s = vc_h5w_add_caption(c->w, vid[i], text[i], emb + i * E);
    }
    for (int64_t i = 0; text && i < B; i++) free(text[i]);
    free(text);
    free(vid);
    free(ids);
    free(emb);
    vc_csv_close(csv);
    if (!s) c->n_captions = count;
    return s;
}

/* Reads a list file: one path per line; blank lines and '#' comments skipped. */
static vc_status read_list(const char *path, char ***paths, int64_t *n, int64_t *cap) {
    FILE *f = fopen(path, "r");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open the video list", path);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    vc_status s = VC_OK;
    while (!s && (len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        if (*n == *cap) {
            int64_t nc = *cap ? 2 * *cap : 64;
            char **np = realloc(*paths, (size_t)nc * sizeof *np);
            if (!np) {
                s = vc_fail(VC_ERR_OOM, "%s: out of memory for a list of %lld paths", path, (long long)nc);
                break;
            }
            *paths = np;
            *cap = nc;
        }
        if (!((*paths)[*n] = strdup(line)))
            s = vc_fail(VC_ERR_OOM, "%s: out of memory for a %zd-byte path", path, len + 1);
        else (*n)++;
    }
    free(line);
    fclose(f);
    return s;
}

static vc_status make_ids(vcx *c) {
    c->ids = calloc((size_t)(c->V ? c->V : 1), sizeof *c->ids);
    if (!c->ids) return vc_fail(VC_ERR_OOM, "encode-video: out of memory for %lld video ids", (long long)c->V);
    vc_status s = vc_strmap_reserve(&c->by_id, (size_t)c->V);
    if (s || (s = vc_strmap_reserve(&c->by_path, (size_t)c->V))) return s;
    for (int64_t v = 0; v < c->V; v++) {
        const char *p = c->paths[v];
        if (c->ids_path) c->ids[v] = strdup(p);
        else {
            size_t len = vc_video_stem(p, NULL, 0);
            if ((c->ids[v] = malloc(len + 1))) vc_video_stem(p, c->ids[v], len + 1);
        }
        if (!c->ids[v]) return vc_fail(VC_ERR_OOM, "%s: out of memory for its video id", p);
        if (!c->ids[v][0]) return vc_fail(VC_ERR_ARG, "%s: gives an empty video id", p);
        bool added;
        int64_t prev;
        if ((s = vc_strmap_put(&c->by_id, c->ids[v], strlen(c->ids[v]), v, &added, &prev))) return s;
        if (!added)
            return vc_fail(VC_ERR_ARG, "%s and %s have the same video id '%s'%s", c->paths[prev], p, c->ids[v],
                           c->ids_path ? "" : " (use --ids path, or rename one)");
        if ((s = vc_strmap_put(&c->by_path, p, strlen(p), v, NULL, NULL))) return s;
    }
    return VC_OK;
}

static vc_status encode_video(vcx *c) {
    vc_status s = make_ids(c);
    if (s) return s;
    if (c->captions) {
        if ((s = vc_tokenizer_load(&c->tk, c->vocab))) return s;
        if ((s = caption_pass(c, false))) return s;
    }
    if ((s = load_clip(&c->clip, c->clip_path, c->act, VC_CLIP_VISION | (c->captions ? VC_CLIP_TEXT : 0),
                        c->precision, c->device))) return s;
    c->clip_loaded = true;
    char model[256];
    if (!c->clip_model) {
        vc_video_stem(c->clip_path, model, sizeof model);
        c->clip_model = model;
    }
    vc_h5w_opts wo = {.dim = c->clip.cfg.embed, .dtype = c->dtype, .clip_model = c->clip_model, .fps = c->fps};
    if ((s = vc_h5w_open(&c->w, c->out, &wo))) return s;
    if ((s = encode_frames(c))) return s;
    double dt = now_s() - c->t0;
    vc_progress_clear(&c->prog);
    fprintf(stderr, "vclip encode-video: %s %s: %.2f videos/s, %.1f frames/s; waited %.2f s for decoded frames, "
                    "%.2f s for the image tower: the bottleneck was %s\n",
            c->device_arg,
            vc_precision_name(c->clip.precision), (double)c->written / (dt > 1e-9 ? dt : 1e-9),
            (double)c->frames / (dt > 1e-9 ? dt : 1e-9), c->wait_decode, c->wait_tower,
            c->wait_decode > c->wait_tower ? "decoding" : "the tower");
    if (c->captions && (s = caption_pass(c, true))) return s;
    vc_progress_done(&c->prog);
    if (c->split_by_ratio) {
        int8_t *sp = malloc((size_t)(c->V ? c->V : 1));
        if (!sp) return vc_fail(VC_ERR_OOM, "encode-video: out of memory for the split of %lld videos", (long long)c->V);
        s = vc_split_by_ratio(c->V, c->split_ratio, c->seed, sp);
        if (!s) s = vc_split_write(c->w, sp, c->V, NULL);
        free(sp);
        if (s) return s;
    }
    s = vc_h5w_close(c->w);
    c->w = NULL;
    return s;
}

int vc_cmd_encode_video(int argc, char **argv) {
    const char *cmd = "encode-video";
    vcx c = {.fps = 1.0, .B = 32, .dtype = VC_F16, .vocab = DEFAULT_VOCAB, .device_arg = "cpu"};
    vc_precision_parse(vc_cmd_clip_precision_default, &c.precision);
    vc_strmap_init(&c.by_id, "encode-video: video ids");
    vc_strmap_init(&c.by_path, "encode-video: video paths");
    int64_t cap = 0;
    int rc = 0;
    vc_status s = VC_OK;
    for (int i = 1; i < argc && !rc && !s; i++) {
        const char *a = argv[i];
        static const char *const valued[] = {"--clip", "--out", "--fps", "--act", "--batch", "--dtype", "--ids",
                                             "--clip-model", "--captions", "--vocab", "--list", "--split-ratio",
                                             "--seed", "--precision", "--device", "--decode-threads"};
        bool val = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) val |= strcmp(a, valued[k]) == 0;
        if (val && i + 1 >= argc) {
            rc = vc_cmd_error(cmd, "%s needs a value", a);
            break;
        }
        const char *v = val ? argv[++i] : NULL;
        if (strcmp(a, "--clip") == 0) c.clip_path = v;
        else if (strcmp(a, "--out") == 0) c.out = v;
        else if (strcmp(a, "--act") == 0) c.act = v;
        else if (strcmp(a, "--precision") == 0) rc = vc_cmd_precision(cmd, v, &c.precision);
        else if (strcmp(a, "--device") == 0) c.device_arg = v;
        else if (strcmp(a, "--decode-threads") == 0) {
            int64_t n;
            if (!parse_pos_int(v, &n) || n > 64)
                rc = vc_cmd_error(cmd, "--decode-threads must be an integer from 1 to 64, not '%s'", v);
            else c.decode_threads = (int)n;
        } else if (strcmp(a, "--clip-model") == 0) c.clip_model = v;
        else if (strcmp(a, "--captions") == 0) c.captions = v;
        else if (strcmp(a, "--vocab") == 0) c.vocab = v;
        else if (strcmp(a, "--list") == 0) s = read_list(v, &c.paths, &c.V, &cap);
        else if (strcmp(a, "--split-ratio") == 0) {
            c.split_by_ratio = vc_split_ratio_parse(v, c.split_ratio);
            if (!c.split_by_ratio)
                rc = vc_cmd_error(cmd, "--split-ratio needs three fractions train,val,test adding up to 1 "
                                       "(e.g. 0.8,0.1,0.1), not '%s'", v);
        } else if (strcmp(a, "--seed") == 0) {
            int64_t sd;
            if (!parse_pos_int(v, &sd) && strcmp(v, "0") != 0)
                rc = vc_cmd_error(cmd, "--seed must be a non-negative integer, not '%s'", v);
            else c.seed = strcmp(v, "0") == 0 ? 0 : (uint64_t)sd;
        } else if (strcmp(a, "--fps") == 0) {
            char *end;
            c.fps = strtod(v, &end);
            if (end == v || *end || !(c.fps > 0) || !isfinite(c.fps))
                rc = vc_cmd_error(cmd, "--fps must be a positive number, not '%s'", v);
        } else if (strcmp(a, "--batch") == 0) {
            if (!parse_pos_int(v, &c.B)) rc = vc_cmd_error(cmd, "--batch must be a positive integer, not '%s'", v);
        } else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(v, "f16") == 0) c.dtype = VC_F16;
            else if (strcmp(v, "f32") == 0) c.dtype = VC_F32;
            else rc = vc_cmd_error(cmd, "--dtype must be f16 or f32, not '%s'", v);
        } else if (strcmp(a, "--ids") == 0) {
            if (strcmp(v, "stem") == 0) c.ids_path = false;
            else if (strcmp(v, "path") == 0) c.ids_path = true;
            else rc = vc_cmd_error(cmd, "--ids must be stem or path, not '%s'", v);
        } else if (a[0] == '-' && a[1] && strcmp(a, "--") != 0) rc = vc_cmd_error(cmd, "unknown option %s (%s)", a, vc_cmd_usage("encode-video"));
        else {
            if (c.V == cap) {
                int64_t nc = cap ? 2 * cap : 64;
                char **np = realloc(c.paths, (size_t)nc * sizeof *np);
                if (!np) {
                    s = vc_fail(VC_ERR_OOM, "encode-video: out of memory for a list of %lld paths", (long long)nc);
                    break;
                }
                c.paths = np;
                cap = nc;
            }
            if (!(c.paths[c.V] = strdup(a))) s = vc_fail(VC_ERR_OOM, "encode-video: out of memory for the path %s", a);
            else c.V++;
        }
    }
    if (!rc && !s && (!c.clip_path || !c.out)) rc = vc_cmd_error(cmd, "%s", vc_cmd_usage("encode-video"));
    if (!rc && !s && c.V == 0) rc = vc_cmd_error(cmd, "no videos given (%s)", vc_cmd_usage("encode-video"));
    if (!rc && !s) rc = vc_cmd_clip_device(cmd, c.device_arg, &c.device);
    if (!rc && !s && c.decode_threads == 0) { /* the GPU side is fast: give decoding the CPUs */
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c.decode_threads = c.device == VC_CPU ? 1 : n < 1 ? 1 : n > 8 ? 8 : (int)n;
    }
    if (!rc && !s) {
        vc_progress_init(&c.prog, cmd);
        vc_tape_init_on(&c.tape, c.device, 0);
        vc_tape_grad(&c.tape, false);
        c.tape.training = false;
        s = encode_video(&c);
        vc_frame_reader_stop(c.r);
        if (c.w) vc_h5w_abort(c.w);
        vc_tape_free(&c.tape);
    }
    for (int64_t i = 0; i < c.nfifo; i++) {
        free(c.fifo[i]->emb);
        free(c.fifo[i]);
    }
    free(c.fifo);
    if (c.device == VC_CPU) free(c.batch);
    vc_uploader_close(c.up);
    vc_device_host_free(c.device, c.pin[0]);
    vc_device_host_free(c.device, c.pin[1]);
    free(c.owner);
    free(c.fly_owner);
    vc_strmap_free(&c.by_id);
    vc_strmap_free(&c.by_path);
    for (int64_t v = 0; v < c.V; v++) {
        free(c.paths[v]);
        if (c.ids) free(c.ids[v]);
    }
    free(c.paths);
    free(c.ids);
    if (c.tk) vc_tokenizer_free(c.tk);
    if (c.clip_loaded) vc_clip_free(&c.clip);
    if (rc) return rc;
    if (s) return vc_cmd_error(cmd, "%s", vc_last_error());
    printf("encoded %lld videos (%lld frames at %g fps; %lld could not be opened, %lld damaged, %lld with 0 frames)"
           " and %lld captions into %s\n",
           (long long)c.written, (long long)c.frames, c.fps, (long long)c.failed, (long long)c.damaged,
           (long long)c.empty, (long long)c.n_captions, c.out);
    return 0;
}

/* ---- encode-text -------------------------------------------------------------- */

typedef struct {
    const char *data, *vocab, *clip_path, *act, *templates_path;
    int64_t B;
    vc_precision precision;
    vc_device device;
    char **templates;
    int64_t n_templates;
    vc_h5 *h;
    const vc_h5_info *in;
    vc_h5w *w;
    vc_clip clip;
    bool clip_loaded;
    vc_tokenizer *tk;
    vc_tape tape;
    int64_t captions, classes;
    vc_progress_line prog;
    vc_progress_hook hook; /* into prog */
} etx;

/* vc_text_map for captions: their raw CLIP text embeddings, batch by batch. */
static vc_status encode_captions(void *ctx, char *const *texts, float *emb, int64_t n, bool *has_emb) {
    etx *c = ctx;
    if (!texts) return VC_OK; /* nothing to encode: the file's embeddings are copied */
    int64_t L = c->clip.cfg.context, E = c->clip.cfg.embed;
    int32_t *ids = malloc((size_t)(c->B * L) * sizeof *ids);
    if (!ids) return vc_fail(VC_ERR_OOM, "encode-text: out of memory for %lld rows of %lld ids", (long long)c->B, (long long)L);
    vc_status s = VC_OK;
    for (int64_t a = 0; a < n && !s; a += c->B) {
        int64_t k = n - a < c->B ? n - a : c->B;
        s = vc_clip_embed_texts(&c->tape, &c->clip, c->tk, (const char *const *)texts + a, k, ids, emb + a * E);
    }
    free(ids);
    *has_emb = !s;
    return s;
}

/* vc_text_map for class names: CLIP's zero-shot recipe over the templates. */
static vc_status encode_classes(void *ctx, char *const *names, float *emb, int64_t K, bool *has_emb) {
    etx *c = ctx;
    vc_status s = vc_zeroshot_classes(&c->tape, &c->clip, c->tk, (const char *const *)names, K,
                                      (const char *const *)c->templates, c->n_templates, emb, &c->hook);
    *has_emb = !s;
    return s;
}

static vc_status encode_text(etx *c) {
    vc_status s = vc_h5_open(&c->h, c->data);
    if (s) return s;
    c->in = vc_h5_get_info(c->h);
    if (!c->in->has_captions_text && !c->in->has_class_names)
        return vc_fail(VC_ERR_FORMAT, "%s: nothing to encode: no /text/captions and no /class/names", c->data);
    if ((s = vc_zeroshot_templates_read(c->templates_path, &c->templates, &c->n_templates))) return s;
    if ((s = vc_tokenizer_load(&c->tk, c->vocab))) return s;
    if ((s = load_clip(&c->clip, c->clip_path, c->act, VC_CLIP_TEXT, c->precision, c->device))) return s;
    c->clip_loaded = true;
    if (c->clip.cfg.embed != c->in->dim)
        return vc_fail(VC_ERR_SHAPE, "%s: embeddings are %lld wide but %s makes %lld-wide text embeddings", c->data,
                       (long long)c->in->dim, c->clip_path, (long long)c->clip.cfg.embed);
    vc_h5w_opts wo = {.dim = c->in->dim, .dtype = c->in->frame_dtype, .clip_model = c->in->clip_model,
                      .fps = c->in->fps};
    /* the writer builds DATA.h5.tmp.<pid> and renames it over the original
     * at close; the reader keeps the original open until then */
    if ((s = vc_h5w_open(&c->w, c->data, &wo))) return s;
    c->hook = vc_progress_hook_for(&c->prog);
    vc_h5_copy_opts co = {.block = c->B, .map = encode_captions, .ctx = c, .map_from_text = true,
                          .progress = c->hook, .phase = "captions encoded"};
    if ((s = vc_h5_copy_videos(c->h, c->w, &c->hook))) return s;
    if ((s = vc_h5_copy_captions(c->h, c->w, &co, &c->captions))) return s;
    if ((s = vc_h5_copy_splits(c->h, c->w, &co))) return s;
    if (c->in->n_classes > 0) {
        if (!c->in->has_class_names)
            return vc_fail(VC_ERR_FORMAT, "%s: has class embeddings but no /class/names, which the output needs",
                           c->data);
        co.map = encode_classes;
        if ((s = vc_h5_copy_classes(c->h, c->w, &co, &c->classes))) return s;
    }
    s = vc_h5w_close(c->w);
    c->w = NULL;
    return s;
}

int vc_cmd_encode_text(int argc, char **argv) {
    const char *cmd = "encode-text";
    etx c = {.vocab = DEFAULT_VOCAB, .B = 256};
    const char *device = "cpu";
    vc_precision_parse(vc_cmd_clip_precision_default, &c.precision);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = strcmp(a, "--clip") == 0 || strcmp(a, "--data") == 0 || strcmp(a, "--vocab") == 0 ||
                   strcmp(a, "--act") == 0 || strcmp(a, "--batch") == 0 || strcmp(a, "--templates") == 0 ||
                   strcmp(a, "--precision") == 0 || strcmp(a, "--device") == 0;
        if (!val) return vc_cmd_error(cmd, "unexpected argument '%s' (%s)", a, vc_cmd_usage("encode-text"));
        if (i + 1 >= argc) return vc_cmd_error(cmd, "%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--clip") == 0) c.clip_path = v;
        else if (strcmp(a, "--data") == 0) c.data = v;
        else if (strcmp(a, "--vocab") == 0) c.vocab = v;
        else if (strcmp(a, "--act") == 0) c.act = v;
        else if (strcmp(a, "--templates") == 0) c.templates_path = v;
        else if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--precision") == 0) {
            if (vc_cmd_precision(cmd, v, &c.precision)) return 1;
        } else if (!parse_pos_int(v, &c.B)) return vc_cmd_error(cmd, "--batch must be a positive integer, not '%s'", v);
    }
    if (!c.clip_path || !c.data) return vc_cmd_error(cmd, "%s", vc_cmd_usage("encode-text"));
    if (vc_cmd_clip_device(cmd, device, &c.device)) return 1;
    if (vc_cmd_h5_prepare(cmd, c.data, "the file was not changed")) return 1;
    vc_tape_init_on(&c.tape, c.device, 0);
    vc_tape_grad(&c.tape, false);
    c.tape.training = false;
    vc_progress_init(&c.prog, cmd);
    vc_status s = encode_text(&c);
    vc_progress_done(&c.prog);
    if (c.w) vc_h5w_abort(c.w);
    vc_h5_close(c.h);
    vc_tape_free(&c.tape);
    if (c.tk) vc_tokenizer_free(c.tk);
    if (c.clip_loaded) vc_clip_free(&c.clip);
    vc_zeroshot_templates_free(c.templates, c.n_templates);
    if (s) return vc_cmd_error(cmd, "%s", vc_last_error());
    printf("encoded %lld captions and %lld class names (%lld templates each) into %s\n", (long long)c.captions,
           (long long)c.classes, (long long)c.n_templates, c.data);
    return 0;
}
