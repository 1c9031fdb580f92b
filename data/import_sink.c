#include "import_sink.h"
#include "tensor/utf8.h"
#include "data/splits.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5_writer.h"
#include "data/npy.h"
#include "tensor/rng.h"

/* ---- a string -> int64 hash map (open addressing, tombstones) ---------- */

typedef struct {
    const char *key;  /* NULL = empty slot; TOMB = deleted */
    uint64_t hash;
    int64_t val;
} map_slot;

typedef struct {
    map_slot *slots;
    size_t cap, used, live;  /* used counts live + tombstones */
} strmap;

static const char tomb_key[1];
#define TOMB tomb_key

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static map_slot *map_find(const strmap *m, const char *key, uint64_t h) {
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        map_slot *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != TOMB && s->hash == h && strcmp(s->key, key) == 0) return s;
    }
}

static vc_status map_grow(strmap *m) {
    size_t cap = m->cap ? m->cap : 64;
    while (m->live * 2 + 2 > cap) cap *= 2;  /* rehash also drops tombstones */
    map_slot *ns = calloc(cap, sizeof *ns);
    if (!ns) return vc_fail(VC_ERR_OOM, "import: out of memory for the key table (%zu slots)", cap);
    for (size_t i = 0; i < m->cap; i++) {
        map_slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB) continue;
        size_t j = s->hash & (cap - 1);
        while (ns[j].key) j = (j + 1) & (cap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
    m->used = m->live;
    return VC_OK;
}

/* key must stay valid while in the map (the map does not copy it). */
static vc_status map_put(strmap *m, const char *key, uint64_t h, int64_t val) {
    if ((m->used + 1) * 4 > m->cap * 3) {
        vc_status st = map_grow(m);
        if (st) return st;
    }
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMB) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key) m->used++;
    m->slots[i] = (map_slot){key, h, val};
    m->live++;
    return VC_OK;
}

static void map_del(strmap *m, map_slot *s) {
    s->key = TOMB;
    m->live--;
}

static void map_clear(strmap *m) {
    if (m->cap) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->used = m->live = 0;
}

/* ---- a string pool with stable addresses for the video keys ------------ */

typedef struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
} pool_block;

static const char *pool_strdup(pool_block **head, const char *s) {
    size_t n = strlen(s) + 1;
    pool_block *b = *head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        pool_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        *head = nb;
        b = nb;
    }
    char *dst = b->data + b->used;
    memcpy(dst, s, n);
    b->used += n;
    return dst;
}

static void pool_free(pool_block *b) {
    while (b) {
        pool_block *n = b->next;
        free(b);
        b = n;
    }
}

/* ---- the sink ----------------------------------------------------------- */

/* A sample of the current source seen without its .npy yet, or one already
 * skipped whose remaining members must go with it (dead). */
typedef struct {
    char *key;    /* NULL: slot free */
    char *where;  /* first member, for the "no npy" report */
    char *text;   /* validated caption or NULL */
    bool has_text, has_other, dead;
} pending;

struct vc_import_sink {
    char *path;
    vc_import_opts opts;
    vc_import_stats *stats;
    vc_h5w *w;
    int64_t dim;

    strmap videos;        /* key -> video index, all sources */
    pool_block *keys;
    int32_t *vid_source;  /* per video */
    int8_t *vid_split;
    uint8_t *vid_ncap;
    size_t vid_cap;

    int source, source_split;
    bool in_source;
    strmap pend_map;      /* key -> index in pend */
    pending *pend;
    size_t n_pend, cap_pend, oldest, live_pend;
    size_t pend_bytes;

    float *frames;
    size_t frames_cap;
};

static const char *reason_names[VC_SKIP_NREASONS] = {
    "bad npy", "wrong dim", "non-finite", "f16 overflow", "no npy",
    "bad caption", "duplicate", "truncated", "bad name",
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
    memset(p, 0, sizeof *p);
}

vc_status vc_import_sink_new(vc_import_sink **out, const char *path, const vc_import_opts *opts, vc_import_stats *stats) {
    *out = NULL;
    if (!path || !opts || !stats) return vc_fail(VC_ERR_ARG, "import: NULL argument");
    if (opts->dtype != VC_F16 && opts->dtype != VC_F32)
        return vc_fail(VC_ERR_ARG, "import: output dtype must be float16 or float32, not %s", vc_dtype_name(opts->dtype));
    if (opts->dim < 0) return vc_fail(VC_ERR_ARG, "import: negative dim %lld", (long long)opts->dim);
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
        return vc_fail(VC_ERR_OOM, "import: out of memory");
    }
    s->opts = *opts;
    s->stats = stats;
    memset(stats, 0, sizeof *stats);
    s->source = -1;
    s->source_split = -1;
    *out = s;
    return VC_OK;
}

static void free_sink(vc_import_sink *s) {
    for (size_t i = 0; i < s->n_pend; i++) free_pending(&s->pend[i]);
    free(s->pend);
    free(s->pend_map.slots);
    free(s->videos.slots);
    pool_free(s->keys);
    free(s->vid_source);
    free(s->vid_split);
    free(s->vid_ncap);
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

/* ---- pending samples of the current source ---------------------------- */

static pending *pend_get(vc_import_sink *s, const char *key) {
    map_slot *m = map_find(&s->pend_map, key, hash_str(key));
    return m ? &s->pend[m->val] : NULL;
}

static void pend_drop(vc_import_sink *s, pending *p) {
    map_slot *m = map_find(&s->pend_map, p->key, hash_str(p->key));
    if (m) map_del(&s->pend_map, m);
    if (p->text) s->pend_bytes -= strlen(p->text) + 1;
    s->pend_bytes -= strlen(p->key) + strlen(p->where) + 2;
    free_pending(p);
    s->live_pend--;
}

/* Reports a pending sample that never got its .npy. */
static vc_status pend_give_up(vc_import_sink *s, pending *p, const char *why) {
    vc_status st = VC_OK;
    if (!p->dead)
        st = skipf(s, VC_SKIP_NO_NPY, "%s: sample '%s' has %s%s but no .npy%s", p->where, p->key,
                   p->has_text ? ".txt" : "", p->has_other ? (p->has_text ? " and .json" : ".json") : "", why);
    pend_drop(s, p);
    return st;
}

/* Drops freed slots at the front and compacts when mostly holes, so the
 * array stays proportional to the live pending samples. */
static vc_status pend_compact(vc_import_sink *s) {
    if (s->n_pend < 1024 || s->live_pend * 4 > s->n_pend) return VC_OK;
    size_t j = 0;
    map_clear(&s->pend_map);
    for (size_t i = 0; i < s->n_pend; i++) {
        if (!s->pend[i].key) continue;
        s->pend[j] = s->pend[i];
        if (i != j) memset(&s->pend[i], 0, sizeof s->pend[i]);
        vc_status st = map_put(&s->pend_map, s->pend[j].key, hash_str(s->pend[j].key), (int64_t)j);
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
    if (s->n_pend == s->cap_pend) {
        size_t cap = s->cap_pend ? s->cap_pend * 2 : 64;
        pending *np = realloc(s->pend, cap * sizeof *np);
        if (!np) return vc_fail(VC_ERR_OOM, "import: out of memory for pending samples");
        s->pend = np;
        s->cap_pend = cap;
    }
    pending *p = &s->pend[s->n_pend];
    memset(p, 0, sizeof *p);
    p->key = strdup(key);
    p->where = strdup(where);
    if (!p->key || !p->where) {
        free_pending(p);
        return vc_fail(VC_ERR_OOM, "import: out of memory");
    }
    if ((st = map_put(&s->pend_map, p->key, hash_str(p->key), (int64_t)s->n_pend))) {
        free_pending(p);
        return st;
    }
    s->n_pend++;
    s->live_pend++;
    s->pend_bytes += strlen(key) + strlen(where) + 2;
    *out = p;
    return VC_OK;
}

/* Marks the sample skipped so its other members follow it silently. */
static vc_status mark_dead(vc_import_sink *s, const char *key, const char *where) {
    pending *p = pend_get(s, key);
    if (!p) {
        vc_status st = pend_new(s, key, where, &p);
        if (st) return st;
    }
    if (p->text) {
        s->pend_bytes -= strlen(p->text) + 1;
        free(p->text);
        p->text = NULL;
    }
    p->dead = true;
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
    map_clear(&s->pend_map);
    s->in_source = false;
    return st;
}

/* ---- videos and captions ------------------------------------------------ */

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
    size_t cap = s->vid_cap ? s->vid_cap * 2 : 1024;
    int32_t *a = realloc(s->vid_source, cap * sizeof *a);
    if (a) s->vid_source = a;
    int8_t *b = realloc(s->vid_split, cap * sizeof *b);
    if (b) s->vid_split = b;
    uint8_t *c = realloc(s->vid_ncap, cap * sizeof *c);
    if (c) s->vid_ncap = c;
    if (!a || !b || !c) return vc_fail(VC_ERR_OOM, "import: out of memory for %zu videos", cap);
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

static vc_status add_caption_to(vc_import_sink *s, int64_t v, const char *text) {
    vc_status st = vc_h5w_add_caption(s->w, v, text, NULL);
    if (st) return st;
    if (s->vid_ncap[v] == 0) s->stats->uncaptioned--;
    if (s->vid_ncap[v] < 255) s->vid_ncap[v]++;
    s->stats->captions++;
    return VC_OK;
}

vc_status vc_import_sink_npy(vc_import_sink *s, const char *key, const void *npy, size_t len, const char *where) {
    vc_status st;
    bool ok;
    if ((st = check_key(s, key, where, &ok)) || !ok) return st;
    pending *p = pend_get(s, key);
    if (p && p->dead) return skipf(s, VC_SKIP_DUPLICATE, "%s: another .npy of the skipped sample '%s'", where, key);
    map_slot *seen = map_find(&s->videos, key, hash_str(key));
    if (seen) {
        int32_t src = s->vid_source[seen->val];
        if ((st = mark_dead(s, key, where))) return st;
        if (src == s->source) return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second .npy", where, key);
        return skipf(s, VC_SKIP_DUPLICATE, "%s: key '%s' was already imported from an earlier shard (video %lld)", where, key,
                     (long long)seen->val);
    }

    vc_npy_info info;
    if (vc_npy_parse(npy, len, where, &info)) {
        char line[1100];
        snprintf(line, sizeof line, "%s", vc_last_error());
        if ((st = mark_dead(s, key, where))) return st;
        return skip_line(s, VC_SKIP_BAD_NPY, line);
    }
    int64_t dim = s->w ? s->dim : (s->opts.dim ? s->opts.dim : info.cols);
    if (info.cols != dim) {
        if ((st = mark_dead(s, key, where))) return st;
        return skipf(s, VC_SKIP_WRONG_DIM, "%s: width D = %lld but the dataset's D is %lld%s", where, (long long)info.cols,
                     (long long)dim, s->opts.dim ? " (as requested)" : " (set by the first good .npy)");
    }
    size_t n = (size_t)info.rows * (size_t)info.cols;
    if (n > s->frames_cap) {
        float *f = malloc(n * sizeof *f);
        if (!f) return vc_fail(VC_ERR_OOM, "%s: out of memory for %zu values", where, n);
        free(s->frames);
        s->frames = f;
        s->frames_cap = n;
    }
    if (n) vc_npy_to_f32(&info, npy, s->frames);
    for (size_t i = 0; i < n; i++) {
        float x = s->frames[i];
        if (!isfinite(x) || (s->opts.dtype == VC_F16 && fabsf(x) >= 65520.0f)) {
            if ((st = mark_dead(s, key, where))) return st;
            long long r = (long long)(i / (size_t)info.cols), c = (long long)(i % (size_t)info.cols);
            if (!isfinite(x))
                return skipf(s, VC_SKIP_NONFINITE, "%s: %s at frame %lld, column %lld", where, isnan(x) ? "NaN" : "Inf", r, c);
            return skipf(s, VC_SKIP_F16_RANGE, "%s: value %g at frame %lld, column %lld does not fit float16 (store as float32)",
                         where, (double)x, r, c);
        }
    }

    if (!s->w && (st = open_writer(s, dim))) return st;
    int64_t v;
    if ((st = grow_video_arrays(s, vc_h5w_n_videos(s->w) + 1))) return st;
    if ((st = vc_h5w_add_video(s->w, key, s->frames, info.rows, &v))) return st;
    const char *pk = pool_strdup(&s->keys, key);
    if (!pk) return vc_fail(VC_ERR_OOM, "import: out of memory for video keys");
    if ((st = map_put(&s->videos, pk, hash_str(pk), v))) return st;
    s->vid_source[v] = s->source;
    s->vid_split[v] = (int8_t)s->source_split;
    s->vid_ncap[v] = 0;
    s->stats->videos++;
    s->stats->uncaptioned++;
    s->stats->frames += info.rows;
    if (info.rows == 0) s->stats->empty_videos++;
    if (p) {
        if (p->text && (st = add_caption_to(s, v, p->text))) return st;
        pend_drop(s, p);
    }
    return VC_OK;
}

/* Trims ASCII whitespace and a UTF-8 byte order mark; *ok = false with a
 * report when the caption cannot be stored. */
static vc_status clean_caption(vc_import_sink *s, const char *text, size_t len, const char *where, const char **t0,
                               size_t *n, bool *ok) {
    *ok = false;
    const unsigned char *p = (const unsigned char *)text;
    if (len >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) p += 3, len -= 3;
    while (len && (*p == ' ' || (*p >= '\t' && *p <= '\r'))) p++, len--;
    while (len && (p[len - 1] == ' ' || (p[len - 1] >= '\t' && p[len - 1] <= '\r'))) len--;
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
    map_slot *seen = p ? NULL : map_find(&s->videos, key, hash_str(key));
    if (seen && s->vid_source[seen->val] == s->source && s->vid_ncap[seen->val])
        return skipf(s, VC_SKIP_DUPLICATE, "%s: sample '%s' has a second caption", where, key);

    const char *t;
    size_t n;
    if ((st = clean_caption(s, text, len, where, &t, &n, &ok))) return st;
    char *copy = NULL;
    if (ok) {
        if (!(copy = malloc(n + 1))) return vc_fail(VC_ERR_OOM, "%s: out of memory", where);
        memcpy(copy, t, n);
        copy[n] = '\0';
    }
    if (seen && s->vid_source[seen->val] == s->source) {
        /* a caption arriving after its video (members not adjacent) */
        st = copy ? add_caption_to(s, seen->val, copy) : VC_OK;
        free(copy);
        return st;
    }
    if (!p && (st = pend_new(s, key, where, &p))) {
        free(copy);
        return st;
    }
    p->has_text = true;  /* a bad caption still marks the sample as seen */
    if (copy) {
        p->text = copy;
        s->pend_bytes += n + 1;
    }
    return VC_OK;
}

vc_status vc_import_sink_other(vc_import_sink *s, const char *key, const char *where) {
    vc_status st;
    bool ok;
    if ((st = check_key(s, key, where, &ok)) || !ok) return st;
    pending *p = pend_get(s, key);
    if (!p) {
        map_slot *seen = map_find(&s->videos, key, hash_str(key));
        if (seen && s->vid_source[seen->val] == s->source) return VC_OK;
        if ((st = pend_new(s, key, where, &p))) return st;
    }
    p->has_other = true;
    return VC_OK;
}

vc_status vc_import_sink_skip(vc_import_sink *s, vc_skip_reason r, const char *key, const char *line) {
    vc_status st = skip_line(s, r, line);
    if (st || !key || !key[0]) return st;
    /* a sample already written keeps its video; otherwise the rest of it follows */
    map_slot *seen = map_find(&s->videos, key, hash_str(key));
    if (seen && s->vid_source[seen->val] == s->source) return VC_OK;
    return mark_dead(s, key, line);
}

vc_status vc_import_sink_bad_source(vc_import_sink *s, const char *line) {
    s->stats->bad_sources++;
    if (s->opts.strict) return vc_fail(VC_ERR_FORMAT, "%s (--strict)", line);
    report(s, line);
    return VC_OK;
}

void vc_import_sink_ignored(vc_import_sink *s) { s->stats->ignored++; }

/* ---- splits and the end ------------------------------------------------- */

static vc_status write_splits(vc_import_sink *s) {
    int64_t V = s->stats->videos;
    bool any = s->opts.split_by_ratio;
    for (int64_t v = 0; v < V && !any; v++) any = s->vid_split[v] >= 0;
    if (!any) return VC_OK;
    vc_status st = s->opts.split_by_ratio ? vc_split_by_ratio(V, s->opts.split_ratio, s->opts.seed, s->vid_split) : VC_OK;
    return st ? st : vc_split_write(s->w, s->vid_split, V, s->stats->split_size);
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
    if (st) {
        vc_import_sink_abort(s);
        return st;
    }
    st = vc_h5w_close(s->w);
    s->w = NULL;
    free_sink(s);
    return st;
}
