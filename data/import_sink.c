#include "import_sink.h"
#include "tensor/utf8.h"
#include "data/splits.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5_writer.h"
#include "data/json_text.h"
#include "data/npy.h"
#include "tensor/buf.h"
#include "tensor/rng.h"
#include "tensor/strmap.h"

/* ---- the sink ----------------------------------------------------------- */

/* A sample of the current source not complete yet: members seen before its
 * .npy (or, with labels_from_text, a .npy held until its .txt names the
 * class), or a sample already skipped whose remaining members must go with
 * it (dead). */
typedef struct {
    char *key;     /* NULL: slot free */
    char *where;   /* first member, for reports */
    char *text;    /* validated caption or NULL */
    char *meta;    /* compacted JSON or NULL */
    float *frames; /* labels_from_text: the held frames [rows, D] */
    int64_t rows;
    bool has_text, has_meta, has_npy, dead;
} pending;

struct vc_import_sink {
    char *path;
    vc_import_opts opts;
    vc_import_stats *stats;
    vc_h5w *w;
    int64_t dim;

    vc_strmap videos;     /* key -> video index, all sources */
    int32_t *vid_source;  /* per video */
    int8_t *vid_split;
    uint8_t *vid_ncap;
    uint8_t *vid_meta;    /* 1 when the video has metadata */
    int32_t *vid_class;   /* labels_from_text: its class index (first-seen order) */
    size_t vid_cap;

    vc_strmap classes;    /* class name -> class index (first-seen order) */
    vc_bytebuf class_text;  /* the class names, each NUL-terminated, in index order */
    size_t *class_off;    /* [n_classes] where each name starts in class_text */
    size_t class_cap;
    int64_t n_classes;

    int source, source_split;
    bool in_source;
    vc_strmap pend_map;   /* key -> index in pend */
    pending *pend;
    size_t n_pend, cap_pend, oldest, live_pend;
    size_t pend_bytes;

    float *frames;
    size_t frames_cap;
};

static const char *reason_names[VC_SKIP_NREASONS] = {
    "bad npy", "wrong dim", "non-finite", "out of range", "no npy",
    "bad caption", "duplicate", "truncated", "bad name", "bad json", "no label",
};

const char *vc_skip_reason_name(vc_skip_reason r) {
    return (unsigned)r < VC_SKIP_NREASONS ? reason_names[r] : "?";
}

int64_t vc_import_stats_skipped(const vc_import_stats *s) {
    int64_t n = 0;
    for (int r = 0; r < VC_SKIP_NREASONS; r++) n += s->skipped[r];
    return n;
}

int vc_split_from_name(const char *name) {
    if (!name) return -1;
    if (strcmp(name, "train") == 0) return VC_SPLIT_TRAIN;
    if (strcmp(name, "val") == 0) return VC_SPLIT_VAL;
    if (strcmp(name, "test") == 0) return VC_SPLIT_TEST;
    return -1;
}

static void report(vc_import_sink *s, const char *line) {
    if (s->opts.report) s->opts.report(s->opts.report_ctx, line);
}

/* Counts a skip of reason r and reports line; strict turns it into the error. */
static vc_status skip_line(vc_import_sink *s, vc_skip_reason r, const char *line) {
    s->stats->skipped[r]++;
    if (s->opts.strict) return vc_fail(VC_ERR_FORMAT, "%s (%s; --strict)", line, reason_names[r]);
    report(s, line);
    return VC_OK;
}

static vc_status skipf(vc_import_sink *s, vc_skip_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vc_status skipf(vc_import_sink *s, vc_skip_reason r, const char *fmt, ...) {
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return skip_line(s, r, line);
}

static void free_pending(pending *p) {
    free(p->key);
    free(p->where);
    free(p->text);
    free(p->meta);
    free(p->frames);
    memset(p, 0, sizeof *p);
}

static bool has_sep(const vc_import_sink *s) { return s->opts.caption_sep && s->opts.caption_sep[0]; }

vc_status vc_import_sink_new(vc_import_sink **out, const char *path, const vc_import_opts *opts, vc_import_stats *stats) {
    *out = NULL;
    if (!path || !opts || !stats) return vc_fail(VC_ERR_ARG, "import: NULL argument");
    if (opts->dtype != VC_F16 && opts->dtype != VC_F32)
        return vc_fail(VC_ERR_ARG, "import: output dtype must be float16 or float32, not %s", vc_dtype_name(opts->dtype));
    if (opts->dim < 0) return vc_fail(VC_ERR_ARG, "import: negative dim %lld", (long long)opts->dim);
    if (opts->labels_from_text && opts->caption_sep && opts->caption_sep[0])
        return vc_fail(VC_ERR_ARG, "import: labels from text and a caption separator do not go together (a class is one name)");
    if (opts->split_by_ratio) {
        double sum = 0;
        for (int i = 0; i < VC_NSPLITS; i++) {
            if (!(opts->split_ratio[i] >= 0)) return vc_fail(VC_ERR_ARG, "import: split ratios must be >= 0");
            sum += opts->split_ratio[i];
        }
        if (fabs(sum - 1) > 1e-6) return vc_fail(VC_ERR_ARG, "import: split ratios add up to %g, not 1", sum);
    }
    vc_import_sink *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return vc_fail(VC_ERR_OOM, "import: out of memory for the import state of %s (%zu bytes)", path,
                       sizeof *s + strlen(path) + 1);
    }
    s->opts = *opts;
    s->stats = stats;
    memset(stats, 0, sizeof *stats);
    vc_strmap_init(&s->videos, "import: video keys");
    vc_strmap_init(&s->classes, "import: class names");
    vc_strmap_init(&s->pend_map, "import: pending samples");
    s->source = -1;
    s->source_split = -1;
    *out = s;
    return VC_OK;
}

static void free_sink(vc_import_sink *s) {
    for (size_t i = 0; i < s->n_pend; i++) free_pending(&s->pend[i]);
    free(s->pend);
    vc_strmap_free(&s->pend_map);
    vc_strmap_free(&s->videos);
    vc_strmap_free(&s->classes);
    free(s->class_text.v);
    free(s->class_off);
    free(s->vid_source);
    free(s->vid_split);
    free(s->vid_ncap);
    free(s->vid_meta);
    free(s->vid_class);
    free(s->frames);
    free(s->path);
    free(s);
}

void vc_import_sink_abort(vc_import_sink *s) {
    if (!s) return;
    if (s->w) vc_h5w_abort(s->w);
    free_sink(s);
}

void vc_import_sink_begin_source(vc_import_sink *s, int source, int split) {
    s->source = source;
    s->source_split = split;
    s->in_source = true;
}

void vc_import_sink_progress(vc_import_sink *s, int64_t bytes_done, int64_t bytes_total) {
    if (!s->opts.progress) return;
    vc_import_progress p = {bytes_done, bytes_total, s->stats->videos, s->stats->frames};
    s->opts.progress(s->opts.progress_ctx, &p);
}

/* ---- pending samples of the current source ---------------------------- */

/* Bytes a pending sample holds, for the bound on pending memory. */
static size_t pend_size(const vc_import_sink *s, const pending *p) {
    size_t n = strlen(p->key) + strlen(p->where) + 2;
    if (p->text) n += strlen(p->text) + 1;
    if (p->meta) n += strlen(p->meta) + 1;
    if (p->frames) n += (size_t)p->rows * (size_t)s->dim * sizeof(float);
    return n;
}

static pending *pend_get(vc_import_sink *s, const char *key) {
    int64_t i;
    return vc_strmap_get(&s->pend_map, key, strlen(key), &i) ? &s->pend[i] : NULL;
}

/* The index of the video imported under key, or -1. */
static int64_t video_of(const vc_import_sink *s, const char *key) {
    int64_t v;
    return vc_strmap_get(&s->videos, key, strlen(key), &v) ? v : -1;
}

static void pend_drop(vc_import_sink *s, pending *p) {
    vc_strmap_del(&s->pend_map, p->key, strlen(p->key));
    s->pend_bytes -= pend_size(s, p);
    free_pending(p);
    s->live_pend--;
}

/* Reports a pending sample that never got its .npy (or, held for its class
 * name, its .txt). */
static vc_status pend_give_up(vc_import_sink *s, pending *p, const char *why) {
    vc_status st = VC_OK;
    if (p->dead) {
    } else if (p->has_npy) {
        st = skipf(s, VC_SKIP_NO_LABEL, "%s: sample '%s' has no .txt to take its class name from (--labels-from-text)%s",
                   p->where, p->key, why);
    } else {
        st = skipf(s, VC_SKIP_NO_NPY, "%s: sample '%s' has %s%s but no .npy%s", p->where, p->key,
                   p->has_text ? ".txt" : "", p->has_meta ? (p->has_text ? " and .json" : ".json") : "", why);
    }
    pend_drop(s, p);
    return st;
}

/* Drops freed slots at the front and compacts when mostly holes, so the
 * array stays proportional to the live pending samples. */
static vc_status pend_compact(vc_import_sink *s) {
    if (s->n_pend < 1024 || s->live_pend * 4 > s->n_pend) return VC_OK;
    size_t j = 0;
    vc_strmap_clear(&s->pend_map);
    for (size_t i = 0; i < s->n_pend; i++) {
        if (!s->pend[i].key) continue;
        s->pend[j] = s->pend[i];
        if (i != j) memset(&s->pend[i], 0, sizeof s->pend[i]);
        vc_status st = vc_strmap_put(&s->pend_map, s->pend[j].key, strlen(s->pend[j].key), (int64_t)j, NULL, NULL);
        if (st) return st;
        j++;
    }
    s->n_pend = j;
    s->oldest = 0;
    return VC_OK;
}

static vc_status pend_new(vc_import_sink *s, const char *key, const char *where, pending **out) {
    vc_status st;
    /* bounded: give up the oldest waiting samples first */
    size_t limit = s->opts.max_pending_bytes ? s->opts.max_pending_bytes : VC_IMPORT_MAX_PENDING_BYTES;
    while (s->live_pend && s->pend_bytes > limit) {
        while (!s->pend[s->oldest].key) s->oldest++;
        if ((st = pend_give_up(s, &s->pend[s->oldest], " (gave up waiting: too many samples pending in this shard)"))) return st;
    }
    if ((st = pend_compact(s))) return st;
    if (!vc_grow((void **)&s->pend, &s->cap_pend, s->n_pend + 1, sizeof *s->pend))
        return vc_fail(VC_ERR_OOM, "import: out of memory for %zu pending samples (%zu bytes each)", s->n_pend + 1,
                       sizeof *s->pend);
    pending *p = &s->pend[s->n_pend];
    memset(p, 0, sizeof *p);
    p->key = strdup(key);
    p->where = strdup(where);
    if (!p->key || !p->where) {
        free_pending(p);
        return vc_fail(VC_ERR_OOM, "import: out of memory for the key and name of pending sample '%s' (%zu bytes)", key,
                       strlen(key) + strlen(where) + 2);
    }
    if ((st = vc_strmap_put(&s->pend_map, p->key, strlen(p->key), (int64_t)s->n_pend, NULL, NULL))) {
        free_pending(p);
        return st;
    }
    s->n_pend++;
    s->live_pend++;
    s->pend_bytes += pend_size(s, p);
    *out = p;
    return VC_OK;
}

/* The pending sample of key, made when there is none. */
static vc_status pend_get_or_new(vc_import_sink *s, const char *key, const char *where, pending **out) {
    *out = pend_get(s, key);
    return *out ? VC_OK : pend_new(s, key, where, out);
}

static vc_status mark_dead(vc_import_sink *s, const char *key, const char *where);

/* The sample's .npy was bad: it is skipped, and a later .npy of it is a
 * duplicate. */
static vc_status kill_npy(vc_import_sink *s, const char *key, const char *where) {
    vc_status st = mark_dead(s, key, where);
    pending *p = st ? NULL : pend_get(s, key);
    if (p) p->has_npy = true;
    return st;
}

/* Marks the sample skipped so its other members follow it silently. */
static vc_status mark_dead(vc_import_sink *s, const char *key, const char *where) {
    pending *p;
    vc_status st = pend_get_or_new(s, key, where, &p);
    if (st) return st;
    s->pend_bytes -= pend_size(s, p);
    free(p->text);
    free(p->meta);
    free(p->frames);
    p->text = p->meta = NULL;
    p->frames = NULL;
    p->rows = 0;
    p->dead = true;
    s->pend_bytes += pend_size(s, p);
    return VC_OK;
}

vc_status vc_import_sink_end_source(vc_import_sink *s) {
    vc_status st = VC_OK;
    for (size_t i = 0; i < s->n_pend; i++)
        if (s->pend[i].key) {
            vc_status st2 = pend_give_up(s, &s->pend[i], "");
            if (!st) st = st2;
        }
    s->n_pend = s->oldest = s->live_pend = 0;
    s->pend_bytes = 0;
    vc_strmap_clear(&s->pend_map);
    s->in_source = false;
    return st;
}

/* ---- videos, captions, metadata, classes -------------------------------- */

static vc_status check_key(vc_import_sink *s, const char *key, const char *where, bool *ok) {
    *ok = true;
    if (!key[0]) {
        *ok = false;
        return skipf(s, VC_SKIP_BAD_NAME, "%s: empty sample key", where);
    }
    if (!vc_utf8_valid((const unsigned char *)key, strlen(key))) {
        *ok = false;
        return skipf(s, VC_SKIP_BAD_NAME, "%s: sample key is not valid UTF-8", where);
    }
    return VC_OK;
}

static vc_status grow_video_arrays(vc_import_sink *s, int64_t need) {
    if ((size_t)need <= s->vid_cap) return VC_OK;
    /* the five arrays share one capacity: each grows to the same size, and the
     * capacity moves only when all have */
    size_t cap = s->vid_cap, c1 = cap, c2 = cap, c3 = cap, c4 = cap;
    if (!vc_grow((void **)&s->vid_source, &cap, (size_t)need, sizeof *s->vid_source) ||
        !vc_grow((void **)&s->vid_split, &c1, cap, sizeof *s->vid_split) ||
        !vc_grow((void **)&s->vid_ncap, &c2, cap, sizeof *s->vid_ncap) ||
        !vc_grow((void **)&s->vid_meta, &c3, cap, sizeof *s->vid_meta) ||
        !vc_grow((void **)&s->vid_class, &c4, cap, sizeof *s->vid_class))
        return vc_fail(VC_ERR_OOM, "import: out of memory for the records of %lld videos", (long long)need);
    s->vid_cap = cap;
    return VC_OK;
}

static vc_status open_writer(vc_import_sink *s, int64_t dim) {
    vc_h5w_opts wo = {.dim = dim, .dtype = s->opts.dtype, .gzip_level = s->opts.gzip_level,
                      .clip_model = s->opts.clip_model, .fps = s->opts.fps};
    vc_status st = vc_h5w_open(&s->w, s->path, &wo);
    if (st) {
        s->w = NULL;
        return st;
    }
    s->dim = dim;
    s->stats->dim = dim;
    return VC_OK;
}

static bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* The next caption of text from *pos on: the whole text, or with
 * caption_sep the next piece between separators, trimmed, empty pieces
 * skipped. Returns false when there is none left (*pos = strlen + 1). */
static bool next_piece(const vc_import_sink *s, const char *text, size_t *pos, const char **start, size_t *len) {
    size_t n = strlen(text), seplen = has_sep(s) ? strlen(s->opts.caption_sep) : 0;
    while (*pos <= n) {
        const char *b = text + *pos;
        const char *e = seplen ? strstr(b, s->opts.caption_sep) : NULL;
        *pos = e ? (size_t)(e - text) + seplen : n + 1;
        if (!e) e = text + n;
        while (b < e && is_space((unsigned char)*b)) b++;
        while (e > b && is_space((unsigned char)e[-1])) e--;
        if (e > b) {
            *start = b;
            *len = (size_t)(e - b);
            return true;
        }
    }
    return false;
}

/* Adds the captions of text (one, or its pieces with caption_sep) to video v. */
static vc_status add_captions_to(vc_import_sink *s, int64_t v, const char *text) {
    size_t pos = 0, len;
    const char *b;
    vc_bytebuf piece = {0};
    vc_status st = VC_OK;
    while (!st && next_piece(s, text, &pos, &b, &len)) {
        piece.n = 0;
        vc_bytebuf_append(&piece, b, len);
        if (piece.oom) {
            st = vc_fail(VC_ERR_OOM, "import: out of memory for a caption of video %lld (%zu bytes)", (long long)v, len + 1);
            break;
        }
        if ((st = vc_h5w_add_caption(s->w, v, (const char *)piece.v, NULL))) break;
        if (s->vid_ncap[v] == 0) s->stats->uncaptioned--;
        if (s->vid_ncap[v] < 255) s->vid_ncap[v]++;
        s->stats->captions++;
    }
    free(piece.v);
    return st;
}

static vc_status class_of(vc_import_sink *s, const char *name, int32_t *out) {
    size_t len = strlen(name);
    int64_t k;
    if (vc_strmap_get(&s->classes, name, len, &k)) {
        *out = (int32_t)k;
        return VC_OK;
    }
    if (s->n_classes >= INT32_MAX) return vc_fail(VC_ERR_FORMAT, "import: more than %d classes", INT32_MAX);
    if (!vc_grow((void **)&s->class_off, &s->class_cap, (size_t)s->n_classes + 1, sizeof *s->class_off))
        return vc_fail(VC_ERR_OOM, "import: out of memory for the offsets of %lld class names",
                       (long long)s->n_classes + 1);
    size_t at = s->class_text.n;
    vc_bytebuf_append(&s->class_text, name, len + 1);  /* with its NUL: names are read in place */
    if (s->class_text.oom)
        return vc_fail(VC_ERR_OOM, "import: out of memory for the class names (%zu bytes)", at + len + 1);
    vc_status st = vc_strmap_put(&s->classes, name, len, s->n_classes, NULL, NULL);
    if (st) return st;
    s->class_off[s->n_classes] = at;
    *out = (int32_t)s->n_classes++;
    return VC_OK;
}

/* Writes a complete video: its frames, then its metadata, its captions and
 * (labels_from_text) its class. */
static vc_status write_video(vc_import_sink *s, const char *key, const float *frames, int64_t rows, const char *text,
                             const char *meta) {
    vc_status st;
    int64_t v;
    if ((st = grow_video_arrays(s, vc_h5w_n_videos(s->w) + 1))) return st;
    int32_t cls = -1;
    if (s->opts.labels_from_text && (st = class_of(s, text, &cls))) return st;
    if ((st = vc_h5w_add_video(s->w, key, frames, rows, &v))) return st;
    if ((st = vc_strmap_put(&s->videos, key, strlen(key), v, NULL, NULL))) return st;
    s->vid_source[v] = s->source;
    s->vid_split[v] = (int8_t)s->source_split;
    s->vid_ncap[v] = 0;
    s->vid_meta[v] = meta != NULL;
    s->vid_class[v] = cls;
    s->stats->videos++;
    s->stats->uncaptioned++;
    s->stats->frames += rows;
    if (rows == 0) s->stats->empty_videos++;
    if (meta) {
        if ((st = vc_h5w_set_meta(s->w, v, meta))) return st;
        s->stats->with_meta++;
    }
    return text ? add_captions_to(s, v, text) : VC_OK;
}

vc_status vc_import_sink_npy(vc_import_sink *s, const char *key, const void *npy, size_t len, const char *where) {
    vc_status st;
    bool ok;
    if ((st = check_key(s, key, where, &ok)) || !ok) return st;
    pending *p = pend_get(s, key);
    if (p && p->dead && !p->has_npy) {
        /* skipped for another member (a bad class name): counted already */
        p->has_npy = true;
        return VC_OK;
    }
    if (p && p->dead) return skipf(s, VC_SKIP_DUPLICATE, "%s: another .npy of the skipped sample '%s'", where, key);
    if (p && p->has_npy) return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second .npy", where, key);
    int64_t seen = video_of(s, key);
    if (seen >= 0) {
        int32_t src = s->vid_source[seen];
        if ((st = kill_npy(s, key, where))) return st;
        if (src == s->source) return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second .npy", where, key);
        return skipf(s, VC_SKIP_DUPLICATE, "%s: key '%s' was already imported from an earlier shard (video %lld)", where, key,
                     (long long)seen);
    }

    vc_npy_info info;
    if (vc_npy_parse(npy, len, where, &info)) {
        char line[1100];
        snprintf(line, sizeof line, "%s", vc_last_error());
        if ((st = kill_npy(s, key, where))) return st;
        return skip_line(s, VC_SKIP_BAD_NPY, line);
    }
    int64_t dim = s->w ? s->dim : (s->opts.dim ? s->opts.dim : info.cols);
    if (info.cols != dim) {
        if ((st = kill_npy(s, key, where))) return st;
        return skipf(s, VC_SKIP_WRONG_DIM, "%s: width D = %lld but the dataset's D is %lld%s", where, (long long)info.cols,
                     (long long)dim, s->opts.dim ? " (as requested)" : " (set by the first good .npy)");
    }
    size_t n = (size_t)info.rows * (size_t)info.cols;
    if (n > s->frames_cap) {
        float *f = malloc(n * sizeof *f);
        if (!f)
            return vc_fail(VC_ERR_OOM, "%s: out of memory for the frames [%lld, %lld] as float32 (%zu bytes)", where,
                           (long long)info.rows, (long long)info.cols, n * sizeof *f);
        free(s->frames);
        s->frames = f;
        s->frames_cap = n;
    }
    bool f16 = s->opts.dtype == VC_F16;
    int64_t over = n ? vc_npy_to_f32(&info, npy, s->frames, f16) : -1;
    for (size_t i = 0; i < n; i++) {
        float x = s->frames[i];
        bool beyond = (int64_t)i == over || (f16 && isfinite(x) && fabsf(x) >= 65520.0f);
        if (!beyond && isfinite(x)) continue;
        if ((st = kill_npy(s, key, where))) return st;
        long long r = (long long)(i / (size_t)info.cols), c = (long long)(i % (size_t)info.cols);
        if (!beyond)
            return skipf(s, VC_SKIP_NONFINITE, "%s: %s at frame %lld, column %lld", where, isnan(x) ? "NaN" : "Inf", r, c);
        return skipf(s, VC_SKIP_RANGE, "%s: value %g (%s) at frame %lld, column %lld does not fit %s%s", where,
                     vc_npy_value(&info, npy, (int64_t)i), info.descr, r, c, f16 ? "float16" : "float32",
                     f16 ? " (store as float32: --dtype f32)" : "");
    }

    if (!s->w && (st = open_writer(s, dim))) return st;
    if (s->opts.labels_from_text && !(p && p->text)) {
        /* the class comes with the .txt, which clip-video-encode's
         * shards put after the .npy: hold the frames until then */
        if ((st = pend_get_or_new(s, key, where, &p))) return st;
        size_t bytes = (n ? n : 1) * sizeof(float);
        float *copy = malloc(bytes);
        if (!copy)
            return vc_fail(VC_ERR_OOM, "%s: out of memory holding the frames [%lld, %lld] until their class (%zu bytes)",
                           where, (long long)info.rows, (long long)info.cols, bytes);
        if (n) memcpy(copy, s->frames, n * sizeof(float));
        s->pend_bytes -= pend_size(s, p);
        p->frames = copy;
        p->rows = info.rows;
        p->has_npy = true;
        s->pend_bytes += pend_size(s, p);
        return VC_OK;
    }
    if ((st = write_video(s, key, s->frames, info.rows, p ? p->text : NULL, p ? p->meta : NULL))) return st;
    if (p) pend_drop(s, p);
    return VC_OK;
}

/* Trims ASCII whitespace and a UTF-8 byte order mark; *ok = false with a
 * report when the caption cannot be stored. */
static vc_status clean_caption(vc_import_sink *s, const char *text, size_t len, const char *where, const char **t0,
                               size_t *n, bool *ok) {
    *ok = false;
    const unsigned char *p = (const unsigned char *)text;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3, len -= 3;
    while (len && is_space(*p)) p++, len--;
    while (len && is_space(p[len - 1])) len--;
    if (len > VC_IMPORT_MAX_CAPTION_BYTES)
        return skipf(s, VC_SKIP_BAD_CAPTION, "%s: caption of %zu bytes is too long", where, len);
    if (!len) return skipf(s, VC_SKIP_BAD_CAPTION, "%s: caption is empty", where);
    if (memchr(p, 0, len)) return skipf(s, VC_SKIP_BAD_CAPTION, "%s: caption contains a NUL byte", where);
    if (!vc_utf8_valid(p, len)) return skipf(s, VC_SKIP_BAD_CAPTION, "%s: caption is not valid UTF-8", where);
    *t0 = (const char *)p;
    *n = len;
    *ok = true;
    return VC_OK;
}

vc_status vc_import_sink_caption(vc_import_sink *s, const char *key, const char *text, size_t len, const char *where) {
    vc_status st;
    bool ok;
    if ((st = check_key(s, key, where, &ok)) || !ok) return st;
    pending *p = pend_get(s, key);
    if (p && p->dead) return VC_OK;  /* the sample was skipped and counted already */
    if (p && p->has_text) return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second caption", where, key);
    int64_t seen = p ? -1 : video_of(s, key);
    if (seen >= 0 && s->vid_source[seen] == s->source && s->vid_ncap[seen])
        return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second caption", where, key);

    const char *t;
    size_t n;
    if ((st = clean_caption(s, text, len, where, &t, &n, &ok))) return st;
    char *copy = NULL;
    if (ok) {
        if (!(copy = malloc(n + 1)))
            return vc_fail(VC_ERR_OOM, "%s: out of memory for the caption of '%s' (%zu bytes)", where, key, n + 1);
        memcpy(copy, t, n);
        copy[n] = '\0';
        size_t pos = 0, plen;
        const char *pb;
        if (!next_piece(s, copy, &pos, &pb, &plen)) {
            free(copy);
            copy = NULL;
            if ((st = skipf(s, VC_SKIP_BAD_CAPTION, "%s: caption has nothing between its '%s' separators", where,
                            s->opts.caption_sep)))
                return st;
        }
    }
    if (!copy && s->opts.labels_from_text) {
        /* no class name: the sample goes (counted once, as bad caption) */
        if (seen >= 0 && s->vid_source[seen] == s->source) return VC_OK;
        return mark_dead(s, key, where);
    }
    if (seen >= 0 && s->vid_source[seen] == s->source) {
        /* a caption arriving after its video (members not adjacent) */
        st = copy ? add_captions_to(s, seen, copy) : VC_OK;
        free(copy);
        return st;
    }
    if (p && p->has_npy && copy) {
        /* labels_from_text: the held frames get their class */
        st = write_video(s, key, p->frames, p->rows, copy, p->meta);
        free(copy);
        if (!st) pend_drop(s, p);
        return st;
    }
    if (!p && (st = pend_new(s, key, where, &p))) {
        free(copy);
        return st;
    }
    s->pend_bytes -= pend_size(s, p);
    p->has_text = true;  /* a bad caption still marks the sample as seen */
    p->text = copy;
    s->pend_bytes += pend_size(s, p);
    return VC_OK;
}

vc_status vc_import_sink_meta(vc_import_sink *s, const char *key, const char *text, size_t len, const char *where) {
    vc_status st;
    bool ok;
    if ((st = check_key(s, key, where, &ok)) || !ok) return st;
    pending *p = pend_get(s, key);
    if (p && p->dead) return VC_OK;
    int64_t seen = p ? -1 : video_of(s, key);
    bool written = seen >= 0 && s->vid_source[seen] == s->source;
    if ((p && p->has_meta) || (written && s->vid_meta[seen]))
        return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second .json", where, key);
    char *compact = malloc(len + 1), why[200];
    if (!compact) return vc_fail(VC_ERR_OOM, "%s: out of memory for the metadata of '%s' (%zu bytes)", where, key, len + 1);
    if (!vc_json_compact(text, len, compact, NULL, why, sizeof why)) {
        free(compact);
        compact = NULL;
        if ((st = skipf(s, VC_SKIP_BAD_META, "%s: not JSON (%s); the video is kept without metadata", where, why)))
            return st;
    }
    if (written) {
        /* metadata arriving after its video */
        if (compact) {
            st = vc_h5w_set_meta(s->w, seen, compact);
            if (!st) {
                s->vid_meta[seen] = 1;
                s->stats->with_meta++;
            }
        }
        free(compact);
        return st;
    }
    if (!p && (st = pend_new(s, key, where, &p))) {
        free(compact);
        return st;
    }
    s->pend_bytes -= pend_size(s, p);
    p->has_meta = true;
    p->meta = compact;
    s->pend_bytes += pend_size(s, p);
    return VC_OK;
}

vc_status vc_import_sink_skip(vc_import_sink *s, vc_skip_reason r, const char *key, const char *line) {
    vc_status st = skip_line(s, r, line);
    if (st || !key || !key[0]) return st;
    /* a sample already written keeps its video; otherwise the rest of it follows */
    int64_t seen = video_of(s, key);
    if (seen >= 0 && s->vid_source[seen] == s->source) return VC_OK;
    return mark_dead(s, key, line);
}

vc_status vc_import_sink_bad_source(vc_import_sink *s, const char *line) {
    s->stats->bad_sources++;
    if (s->opts.strict) return vc_fail(VC_ERR_FORMAT, "%s (--strict)", line);
    report(s, line);
    return VC_OK;
}

void vc_import_sink_ignored(vc_import_sink *s) { s->stats->ignored++; }

/* ---- splits, classes and the end ---------------------------------------- */

static vc_status write_splits(vc_import_sink *s) {
    int64_t V = s->stats->videos;
    bool any = s->opts.split_by_ratio;
    for (int64_t v = 0; v < V && !any; v++) any = s->vid_split[v] >= 0;
    if (!any) return VC_OK;
    vc_status st = s->opts.split_by_ratio ? vc_split_by_ratio(V, s->opts.split_ratio, s->opts.seed, s->vid_split) : VC_OK;
    for (int64_t v = 0; v < V; v++) s->stats->no_split += s->vid_split[v] < 0;
    return st ? st : vc_split_write(s->w, s->vid_split, V, s->stats->split_size);
}

static int cmp_class(const void *a, const void *b, void *names) {
    const char *const *nm = names;
    return strcmp(nm[*(const int32_t *)a], nm[*(const int32_t *)b]);
}

/* /class/names sorted by their bytes (strcmp: UTF-8 code point order), and
 * each video's label as an index into them. */
static vc_status write_classes(vc_import_sink *s) {
    if (!s->opts.labels_from_text) return VC_OK;
    int64_t K = s->n_classes, V = s->stats->videos;
    int32_t *order = malloc((size_t)K * sizeof *order), *rank = malloc((size_t)K * sizeof *rank);
    const char **by_id = malloc((size_t)K * sizeof *by_id), **names = malloc((size_t)K * sizeof *names);
    int64_t *labels = malloc((size_t)(V ? V : 1) * sizeof *labels);
    vc_status st = order && rank && by_id && names && labels
                       ? VC_OK
                       : vc_fail(VC_ERR_OOM, "import: out of memory sorting %lld class names and labelling %lld videos",
                                 (long long)K, (long long)V);
    if (!st) {
        for (int64_t k = 0; k < K; k++) {
            order[k] = (int32_t)k;
            by_id[k] = (const char *)s->class_text.v + s->class_off[k];
        }
        /* names are distinct, so the order is total */
        qsort_r(order, (size_t)K, sizeof *order, cmp_class, (void *)by_id);
        for (int64_t k = 0; k < K; k++) {
            rank[order[k]] = (int32_t)k;
            names[k] = by_id[order[k]];
        }
        for (int64_t v = 0; v < V; v++) labels[v] = rank[s->vid_class[v]];
        st = vc_h5w_set_classes(s->w, names, K, NULL);
        if (!st) st = vc_h5w_set_labels(s->w, labels, V);
        if (!st) s->stats->classes = K;
    }
    free(order);
    free(rank);
    free(by_id);
    free(names);
    free(labels);
    return st;
}

vc_status vc_import_sink_finish(vc_import_sink *s) {
    vc_status st = VC_OK;
    if (s->in_source) st = vc_import_sink_end_source(s);
    if (!st && s->stats->videos == 0) {
        int64_t k = vc_import_stats_skipped(s->stats);
        st = vc_fail(VC_ERR_FORMAT, "no videos imported (%lld problem%s found%s); %s not written", (long long)k,
                     k == 1 ? "" : "s", s->stats->bad_sources ? ", unreadable shards" : "", s->path);
    }
    if (!st) st = write_splits(s);
    if (!st) st = write_classes(s);
    if (st) {
        vc_import_sink_abort(s);
        return st;
    }
    st = vc_h5w_close(s->w);
    s->w = NULL;
    free_sink(s);
    return st;
}
