/* encode.c: the decoder thread with its bounded queue of preprocessed frames,
 * video ids from paths, and the CSV reader (encode.h). */
#include "encode.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"
#include "tensor/buf.h"
#include "video.h"

/* ---- the frame reader ---------------------------------------------------- */

/* Worker w decodes videos w, w + W, w + 2W, ... in order into its own ring
 * of `cap` items, each with its pixel slot; the consumer reads video v from
 * ring v % W, so items come out in input order whatever the number of
 * workers. A worker fills slot (head + count) % cap outside the lock (the
 * consumer never reads past count), then publishes it; the consumer holds
 * the head item of the current ring until its next call. One mutex guards
 * every ring; each ring has its own "room to put" condition, the consumer
 * one "something to get" condition. */
typedef struct {
    struct vc_frame_reader *r;
    int w;
    float *pix;
    vc_enc_item *items;
    int head, count;
    bool done;
    pthread_cond_t can_put;
    pthread_t th;
    bool started;
} ring;

struct vc_frame_reader {
    const char *const *paths;
    int64_t n;
    double fps;
    int S, cap, threads, workers;
    size_t slot; /* floats per slot: 3*S*S */
    ring *rings;
    int64_t cur;  /* the video the consumer reads */
    bool held, cancel;
    vc_status err;
    char errmsg[512];
    pthread_mutex_t mu;
    pthread_cond_t can_get;
};

/* The free slot of q to fill, or -1 when cancelled. */
static int wait_slot(ring *q) {
    vc_frame_reader *r = q->r;
    pthread_mutex_lock(&r->mu);
    while (q->count == r->cap && !r->cancel) pthread_cond_wait(&q->can_put, &r->mu);
    int k = r->cancel ? -1 : (q->head + q->count) % r->cap;
    pthread_mutex_unlock(&r->mu);
    return k;
}

static void publish(ring *q) {
    vc_frame_reader *r = q->r;
    pthread_mutex_lock(&r->mu);
    q->count++;
    pthread_cond_broadcast(&r->can_get);
    pthread_mutex_unlock(&r->mu);
}

static void finish(ring *q, vc_status err) {
    vc_frame_reader *r = q->r;
    pthread_mutex_lock(&r->mu);
    if (err && !r->err) {
        r->err = err;
        snprintf(r->errmsg, sizeof r->errmsg, "%s", vc_last_error());
    }
    q->done = true;
    pthread_cond_broadcast(&r->can_get);
    pthread_mutex_unlock(&r->mu);
}

/* Decodes video i into ring q, then its END item. Returns 1 when
 * cancelled, 0 when done, or a failure status (resource errors only). */
static int decode_one(ring *q, int64_t i, vc_status *fatal) {
    vc_frame_reader *r = q->r;
    const char *path = r->paths[i];
    vc_video_opts vo = {r->fps, r->threads};
    vc_video *v = NULL;
    vc_enc_item end = {.kind = VC_ENC_END, .video = i};
    vc_status s = vc_video_open(path, &vo, &v);
    if (s) {
        end.failed = 1;
        snprintf(end.message, sizeof end.message, "%s", vc_last_error());
    } else {
        vc_clip_prep prep;
        memset(&prep, 0, sizeof prep);
        int pw = 0, ph = 0;
        for (;;) {
            vc_video_frame f;
            int got = 0;
            if ((s = vc_video_next(v, &f, &got)) || !got) break;
            if (f.width != pw || f.height != ph) {
                if (pw) vc_clip_prep_free(&prep);
                pw = ph = 0;
                if ((s = vc_clip_prep_init(&prep, f.width, f.height, r->S))) break;
                pw = f.width;
                ph = f.height;
            }
            int k = wait_slot(q);
            if (k < 0) {
                if (pw) vc_clip_prep_free(&prep);
                vc_video_close(v);
                return 1;
            }
            float *dst = q->pix + (size_t)k * r->slot;
            vc_clip_prep_run(&prep, f.rgb, f.stride, dst);
            q->items[k] = (vc_enc_item){.kind = VC_ENC_FRAME, .video = i, .index = f.index, .time = f.time,
                                        .pixels = dst};
            publish(q);
        }
        if (pw) vc_clip_prep_free(&prep);
        vc_video_info info;
        vc_video_info_get(v, &info);
        vc_video_close(v);
        if (s) {
            *fatal = s;
            return -1;
        }
        end.frames = info.samples;
        end.truncated = info.truncated;
        end.errors = info.errors;
        snprintf(end.message, sizeof end.message, "%s", info.message);
    }
    int k = wait_slot(q);
    if (k < 0) return 1;
    q->items[k] = end;
    publish(q);
    return 0;
}

static void *decoder_main(void *arg) {
    ring *q = arg;
    vc_status fatal = VC_OK;
    for (int64_t i = q->w; i < q->r->n; i += q->r->workers)
        if (decode_one(q, i, &fatal) != 0) break;
    finish(q, fatal);
    return NULL;
}

vc_status vc_frame_reader_start(vc_frame_reader **out, const char *const *paths, int64_t n,
                                const vc_frame_reader_opts *opts) {
    *out = NULL;
    vc_frame_reader_opts o = opts ? *opts : (vc_frame_reader_opts){0};
    if (n < 0) return vc_fail(VC_ERR_ARG, "frame reader: %lld videos", (long long)n);
    vc_frame_reader *r = calloc(1, sizeof *r);
    if (!r) return vc_fail(VC_ERR_OOM, "frame reader: out of memory for the reader (%zu bytes)", sizeof *r);
    r->paths = paths;
    r->n = n;
    r->fps = o.fps > 0 ? o.fps : 1.0;
    r->S = o.size > 0 ? o.size : VC_CLIP_SIZE;
    r->threads = o.threads > 0 ? o.threads : 1;
    r->workers = o.workers > 0 ? o.workers : 1;
    if (n > 0 && r->workers > n) r->workers = (int)n;
    int cap = o.capacity > 0 ? o.capacity : 32;
    r->cap = cap / r->workers > 2 ? cap / r->workers : 2; /* per ring */
    r->slot = (size_t)3 * (size_t)r->S * (size_t)r->S;
    r->rings = calloc((size_t)r->workers, sizeof *r->rings);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->can_get, NULL);
    bool ok = r->rings != NULL;
    for (int w = 0; ok && w < r->workers; w++) {
        ring *q = &r->rings[w];
        q->r = r;
        q->w = w;
        pthread_cond_init(&q->can_put, NULL);
        q->pix = malloc((size_t)r->cap * r->slot * sizeof(float));
        q->items = calloc((size_t)r->cap, sizeof *q->items);
        ok = q->pix && q->items;
    }
    if (!ok) {
        int S = r->S, k = r->cap * r->workers;
        vc_frame_reader_stop(r);
        return vc_fail(VC_ERR_OOM, "frame reader: out of memory for %d frames of %dx%d", k, S, S);
    }
    for (int w = 0; w < r->workers; w++) {
        ring *q = &r->rings[w];
        if (pthread_create(&q->th, NULL, decoder_main, q) != 0) {
            vc_frame_reader_stop(r);
            return vc_fail(VC_ERR_OOM, "frame reader: cannot start decoder thread %d of %d", w + 1, r->workers);
        }
        q->started = true;
    }
    *out = r;
    return VC_OK;
}

vc_status vc_frame_reader_next(vc_frame_reader *r, vc_enc_item *item, int *got) {
    *got = 0;
    pthread_mutex_lock(&r->mu);
    if (r->held) { /* give the held item's slot back; past an END, the next video */
        ring *q = &r->rings[r->cur % r->workers];
        bool end = q->items[q->head].kind == VC_ENC_END;
        q->head = (q->head + 1) % r->cap;
        q->count--;
        r->held = false;
        pthread_cond_signal(&q->can_put);
        if (end) r->cur++;
    }
    vc_status s = VC_OK;
    if (r->cur < r->n) {
        ring *q = &r->rings[r->cur % r->workers];
        while (q->count == 0 && !q->done && !r->err) pthread_cond_wait(&r->can_get, &r->mu);
        if (r->err) s = r->err;
        else if (q->count > 0) {
            *item = q->items[q->head];
            r->held = true;
            *got = 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (s) return vc_fail(s, "%s", r->errmsg);
    return VC_OK;
}

void vc_frame_reader_stop(vc_frame_reader *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->cancel = true;
    for (int w = 0; r->rings && w < r->workers; w++) pthread_cond_broadcast(&r->rings[w].can_put);
    pthread_mutex_unlock(&r->mu);
    for (int w = 0; r->rings && w < r->workers; w++) {
        ring *q = &r->rings[w];
        if (q->started) pthread_join(q->th, NULL);
        if (q->r) pthread_cond_destroy(&q->can_put);
        free(q->pix);
        free(q->items);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->can_get);
    free(r->rings);
    free(r);
}

/* ---- ids ------------------------------------------------------------------ */

size_t vc_video_stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t len = dot && dot > b ? (size_t)(dot - b) : strlen(b);
    if (n > 0) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(out, b, k);
        out[k] = 0;
    }
    return len;
}

/* ---- CSV ------------------------------------------------------------------ */

struct vc_csv {
    FILE *f;
    char *path;
    int64_t line;      /* line of the next character */
    vc_bytebuf rec;    /* the record's fields, each NUL-terminated */
    size_t *offs;      /* [nf] where each field starts in rec */
    char **fields;
    size_t nf, fcap;
};

vc_status vc_csv_open(vc_csv **out, const char *path) {
    *out = NULL;
    vc_csv *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the CSV reader", path);
    }
    if (!(c->f = fopen(path, "rb"))) {
        vc_csv_close(c);
        return vc_fail(VC_ERR_IO, "%s: cannot open", path);
    }
    unsigned char bom[3];
    size_t k = fread(bom, 1, 3, c->f);
    if (!(k == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF)) rewind(c->f);
    c->line = 1;
    *out = c;
    return VC_OK;
}

void vc_csv_close(vc_csv *c) {
    if (!c) return;
    if (c->f) fclose(c->f);
    free(c->path);
    free(c->rec.v);
    free(c->offs);
    free(c->fields);
    free(c);
}

static bool put(vc_csv *c, char ch) {
    vc_bytebuf_push(&c->rec, (uint8_t)ch);
    return !c->rec.oom;
}

static bool new_field(vc_csv *c) {
    if (c->nf == c->fcap) {
        size_t oc = c->fcap;
        if (!vc_grow((void **)&c->offs, &oc, c->nf + 1, sizeof *c->offs)) return false;
        if (!vc_grow((void **)&c->fields, &c->fcap, c->nf + 1, sizeof *c->fields)) return false;
    }
    c->offs[c->nf++] = c->rec.n;
    return true;
}

static vc_status record_oom(const vc_csv *c, int64_t line) {
    return vc_fail(VC_ERR_OOM, "%s: line %lld: out of memory for a record of %zu bytes", c->path, (long long)line,
                   c->rec.n + 1);
}

/* A line end at ch (\n, or \r followed by \n): consumes it and returns true. */
static bool line_end(vc_csv *c, int ch) {
    if (ch == '\n') return true;
    if (ch == '\r') {
        int d = getc(c->f);
        if (d == '\n') return true;
        if (d != EOF) ungetc(d, c->f);
    }
    return false;
}

vc_status vc_csv_next(vc_csv *c, char ***fields, int *n, int64_t *line, int *got) {
    *got = 0;
    for (;;) {
        int ch = getc(c->f);
        if (ch == EOF) {
            if (ferror(c->f)) return vc_fail(VC_ERR_IO, "%s: read error at line %lld", c->path, (long long)c->line);
            return VC_OK;
        }
        int64_t start = c->line;
        c->rec.n = 0;
        c->nf = 0;
        for (;;) { /* one field per pass; ch is its first character */
            if (!new_field(c))
                return vc_fail(VC_ERR_OOM, "%s: line %lld: out of memory for %zu fields", c->path, (long long)start,
                               c->nf + 1);
            if (ch == '"') {
                int64_t qline = c->line;
                for (;;) {
                    ch = getc(c->f);
                    if (ch == EOF)
                        return vc_fail(VC_ERR_FORMAT, "%s: line %lld: the file ends inside a quoted field", c->path,
                                       (long long)qline);
                    if (ch == '"') {
                        ch = getc(c->f);
                        if (ch != '"') break;
                    } else if (ch == '\n')
                        c->line++;
                    if (!put(c, (char)ch)) return record_oom(c, start);
                }
                if (ch != ',' && ch != EOF && ch != '\n' && !(ch == '\r' && line_end(c, ch)))
                    return vc_fail(VC_ERR_FORMAT, "%s: line %lld: text after a closing quote (write \"\" for a quote "
                                                  "inside a quoted field)", c->path, (long long)c->line);
                if (ch == '\r') ch = '\n';
            } else {
                while (ch != ',' && ch != EOF && ch != '\n') {
                    if (ch == '\r' && line_end(c, ch)) {
                        ch = '\n';
                        break;
                    }
                    if (!put(c, (char)ch)) return record_oom(c, start);
                    ch = getc(c->f);
                }
            }
            if (!put(c, 0)) return record_oom(c, start);
            if (ch != ',') break;
            ch = getc(c->f); /* a trailing comma makes one more, empty field */
        }
        if (ch == '\n') c->line++;
        if (c->nf == 1 && c->rec.v[0] == 0 && c->rec.n == 1) continue; /* an empty line */
        for (size_t i = 0; i < c->nf; i++) c->fields[i] = (char *)c->rec.v + c->offs[i];
        *fields = c->fields;
        *n = (int)c->nf;
        *line = start;
        *got = 1;
        return VC_OK;
    }
}
