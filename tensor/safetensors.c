#include "safetensors.h"
#include "buf.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads and writes little-endian data in place: big-endian hosts are not supported"
#endif

/* The Python package refuses headers above 100 MB; so do we, which also keeps
 * a corrupt length from asking for a huge allocation. */
#define ST_HEADER_MAX 100000000ull
/* JSON numbers arrive as doubles: integers above 2^53 are not exact. */
#define ST_INT_MAX 9007199254740992.0

/* ---- dtypes ---- */

static const struct {
    const char *name;
    size_t size;
} st_dtypes[VC_ST_NDTYPES] = {
    [VC_ST_BOOL] = {"BOOL", 1},       [VC_ST_U8] = {"U8", 1},     [VC_ST_I8] = {"I8", 1},
    [VC_ST_F8_E4M3] = {"F8_E4M3", 1}, [VC_ST_F8_E5M2] = {"F8_E5M2", 1},
    [VC_ST_U16] = {"U16", 2},         [VC_ST_I16] = {"I16", 2},   [VC_ST_F16] = {"F16", 2},
    [VC_ST_BF16] = {"BF16", 2},       [VC_ST_U32] = {"U32", 4},   [VC_ST_I32] = {"I32", 4},
    [VC_ST_F32] = {"F32", 4},         [VC_ST_U64] = {"U64", 8},   [VC_ST_I64] = {"I64", 8},
    [VC_ST_F64] = {"F64", 8},
};

const char *vc_st_dtype_name(vc_st_dtype t) { return (unsigned)t < VC_ST_NDTYPES ? st_dtypes[t].name : "invalid"; }

size_t vc_st_dtype_size(vc_st_dtype t) { return (unsigned)t < VC_ST_NDTYPES ? st_dtypes[t].size : 0; }

static bool st_dtype_parse(const char *s, vc_st_dtype *out) {
    for (int i = 0; i < VC_ST_NDTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *out = (vc_st_dtype)i;
            return true;
        }
    return false;
}

/* The dtypes both formats have, with the same bytes. */
static const struct {
    vc_dtype vc;
    vc_st_dtype st;
} dtype_pairs[] = {{VC_F32, VC_ST_F32}, {VC_F16, VC_ST_F16}, {VC_BF16, VC_ST_BF16},
                   {VC_I32, VC_ST_I32}, {VC_I64, VC_ST_I64}, {VC_U8, VC_ST_U8}};

/* The pair of t (from_st) or of d; false when there is none or when the
 * sizes differ (the double-precision test build widens VC_F32). */
static bool dtype_pair(bool from_st, vc_st_dtype t, vc_dtype d, vc_st_dtype *st, vc_dtype *vc) {
    for (size_t i = 0; i < sizeof dtype_pairs / sizeof dtype_pairs[0]; i++)
        if (from_st ? dtype_pairs[i].st == t : dtype_pairs[i].vc == d) {
            if (vc_dtype_size(dtype_pairs[i].vc) != st_dtypes[dtype_pairs[i].st].size) return false;
            *st = dtype_pairs[i].st;
            *vc = dtype_pairs[i].vc;
            return true;
        }
    return false;
}

bool vc_st_to_vc_dtype(vc_st_dtype t, vc_dtype *out) {
    vc_st_dtype st;
    return dtype_pair(true, t, VC_F32, &st, out);
}

static bool vc_to_st_dtype(vc_dtype d, vc_st_dtype *out) {
    vc_dtype vc;
    return dtype_pair(false, VC_ST_F32, d, out, &vc);
}

/* ---- small helpers ---- */

static bool utf8_valid(const char *s) {
    size_t n = strlen(s);
    return vc_utf8_invalid_at((const unsigned char *)s, n) == n;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Header text goes into a vc_bytebuf (tensor/buf.h): a failed allocation sets its oom. */
static void sb_str(vc_bytebuf *b, const char *s) { vc_bytebuf_append(b, s, strlen(s)); }

static void sb_printf(vc_bytebuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(vc_bytebuf *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) vc_bytebuf_append(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* s as a JSON string literal (s is valid UTF-8, passed through). */
static void sb_json_string(vc_bytebuf *b, const char *s) {
    vc_bytebuf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': vc_bytebuf_append(b, "\\\"", 2); break;
        case '\\': vc_bytebuf_append(b, "\\\\", 2); break;
        case '\n': vc_bytebuf_append(b, "\\n", 2); break;
        case '\r': vc_bytebuf_append(b, "\\r", 2); break;
        case '\t': vc_bytebuf_append(b, "\\t", 2); break;
        default:
            if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
            else vc_bytebuf_append(b, (const char *)p, 1);
        }
    }
    vc_bytebuf_append(b, "\"", 1);
}

/* ---- writer ---- */

typedef struct {
    char *name;
    vc_st_dtype dtype;
    int ndim;
    int64_t shape[VC_MAX_DIMS];
    size_t nbytes;
    const void *data;
    void *copy; /* owned copy of the data (add_copy), else NULL */
} st_wentry;

struct vc_st_writer {
    st_wentry *e;
    int n, cap;
    char **mkey, **mval;
    int nm, mcap;
};

vc_status vc_st_writer_new(vc_st_writer **out) {
    if (!out) return vc_fail(VC_ERR_ARG, "safetensors writer: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? VC_OK : vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for the writer (%zu bytes)", sizeof **out);
}

void vc_st_writer_free(vc_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->e[i].name);
        free(w->e[i].copy);
    }
    for (int i = 0; i < w->nm; i++) {
        free(w->mkey[i]);
        free(w->mval[i]);
    }
    free(w->e);
    free(w->mkey);
    free(w->mval);
    free(w);
}

static vc_status writer_add(vc_st_writer *w, const char *name, const vc_tensor *t, bool copy) {
    if (!w || !name || !t) return vc_fail(VC_ERR_ARG, "safetensors writer: NULL argument");
    if (!*name) return vc_fail(VC_ERR_ARG, "safetensors writer: empty tensor name");
    if (!utf8_valid(name)) return vc_fail(VC_ERR_ARG, "safetensors writer: tensor name is not valid UTF-8");
    if (strcmp(name, "__metadata__") == 0)
        return vc_fail(VC_ERR_ARG, "safetensors writer: '__metadata__' is reserved and cannot name a tensor");
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return vc_fail(VC_ERR_ARG, "safetensors writer: tensor '%s' added twice", name);
    vc_st_dtype dt;
    if (!vc_to_st_dtype(t->dtype, &dt))
        return vc_fail(VC_ERR_DTYPE, "safetensors writer: tensor '%s' has dtype %s, which has no safetensors form here", name,
                       vc_dtype_name(t->dtype));
    if (t->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "safetensors writer: tensor '%s' is on %s; copy it to the CPU first", name,
                       vc_device_name(t->device));
    if (t->ndim < 0 || t->ndim > VC_MAX_DIMS)
        return vc_fail(VC_ERR_SHAPE, "safetensors writer: tensor '%s' has %d dimensions", name, t->ndim);
    if (!vc_is_contiguous(t))
        return vc_fail(VC_ERR_SHAPE, "safetensors writer: tensor '%s' is not contiguous; make it contiguous first", name);
    size_t nbytes = vc_nbytes(t);
    if (nbytes && !t->data) return vc_fail(VC_ERR_ARG, "safetensors writer: tensor '%s' has no data", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        st_wentry *e = realloc(w->e, (size_t)cap * sizeof *e);
        if (!e) return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for a table of %d tensors", cap);
        w->e = e;
        w->cap = cap;
    }
    st_wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for the name of tensor '%s'", name);
    if (copy && nbytes) {
        e->copy = malloc(nbytes);
        if (!e->copy) {
            free(e->name);
            return vc_fail(VC_ERR_OOM, "safetensors writer: cannot copy the %zu bytes of tensor '%s'", nbytes, name);
        }
        memcpy(e->copy, t->data, nbytes);
    }
    e->dtype = dt;
    e->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) e->shape[i] = t->ne[i];
    e->nbytes = nbytes;
    e->data = e->copy ? e->copy : t->data;
    w->n++;
    return VC_OK;
}

vc_status vc_st_writer_add(vc_st_writer *w, const char *name, const vc_tensor *t) { return writer_add(w, name, t, false); }

vc_status vc_st_writer_add_copy(vc_st_writer *w, const char *name, const vc_tensor *t) { return writer_add(w, name, t, true); }

vc_status vc_st_writer_meta(vc_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return vc_fail(VC_ERR_ARG, "safetensors writer: NULL argument");
    if (!utf8_valid(key) || !utf8_valid(value))
        return vc_fail(VC_ERR_ARG, "safetensors writer: metadata '%s' is not valid UTF-8", key);
    for (int i = 0; i < w->nm; i++)
        if (strcmp(w->mkey[i], key) == 0) return vc_fail(VC_ERR_ARG, "safetensors writer: metadata key '%s' set twice", key);
    if (w->nm == w->mcap) {
        int cap = w->mcap ? 2 * w->mcap : 8;
        char **k = realloc(w->mkey, (size_t)cap * sizeof *k);
        if (!k) return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for %d metadata keys", cap);
        w->mkey = k;
        char **v = realloc(w->mval, (size_t)cap * sizeof *v);
        if (!v) return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for %d metadata values", cap);
        w->mval = v;
        w->mcap = cap;
    }
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for metadata '%s' (%zu bytes)", key,
                       strlen(key) + strlen(value) + 2);
    }
    w->mkey[w->nm] = k;
    w->mval[w->nm] = v;
    w->nm++;
    return VC_OK;
}

static vc_status write_all(int fd, const void *p, size_t n, const char *path) {
    const char *c = p;
    while (n) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = write(fd, c, chunk);
        if (k < 0) {
            if (errno == EINTR) continue;
            return vc_fail(VC_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        if (k == 0) return vc_fail(VC_ERR_IO, "%s: write wrote nothing (disk full?)", path);
        c += k;
        n -= (size_t)k;
    }
    return VC_OK;
}

/* The data layout: indices sorted by element size, largest first, stable. */
static void data_order(const vc_st_writer *w, int *order) {
    int k = 0;
    for (size_t size = 8; size >= 1; size /= 2)
        for (int i = 0; i < w->n; i++)
            if (st_dtypes[w->e[i].dtype].size == size) order[k++] = i;
}

static vc_status build_header(const vc_st_writer *w, const int *order, vc_bytebuf *h) {
    uint64_t *off = malloc(((size_t)w->n + 1) * sizeof *off);
    if (!off) return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory for the offsets of %d tensors", w->n);
    uint64_t pos = 0;
    for (int k = 0; k < w->n; k++) {
        off[order[k]] = pos;
        pos += w->e[order[k]].nbytes;
    }
    sb_str(h, "{");
    bool first = true;
    if (w->nm) {
        sb_str(h, "\"__metadata__\":{");
        for (int i = 0; i < w->nm; i++) {
            if (i) sb_str(h, ",");
            sb_json_string(h, w->mkey[i]);
            sb_str(h, ":");
            sb_json_string(h, w->mval[i]);
        }
        sb_str(h, "}");
        first = false;
    }
    for (int i = 0; i < w->n; i++) {
        const st_wentry *e = &w->e[i];
        if (!first) sb_str(h, ",");
        first = false;
        sb_json_string(h, e->name);
        sb_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtypes[e->dtype].name);
        for (int d = 0; d < e->ndim; d++) sb_printf(h, d ? ",%lld" : "%lld", (long long)e->shape[d]);
        sb_printf(h, "],\"data_offsets\":[%llu,", (unsigned long long)off[i]);
        sb_printf(h, "%llu]}", (unsigned long long)(off[i] + e->nbytes));
    }
    sb_str(h, "}");
    free(off);
    /* Spaces up to a multiple of 8 so that the data section starts 8-aligned. */
    while (!h->oom && h->n % 8) sb_str(h, " ");
    if (h->oom) return vc_fail(VC_ERR_OOM, "safetensors writer: out of memory building the header");
    if (h->n > ST_HEADER_MAX)
        return vc_fail(VC_ERR_ARG, "safetensors writer: header of %zu bytes exceeds the %llu-byte limit", h->n,
                       (unsigned long long)ST_HEADER_MAX);
    return VC_OK;
}

/* Durability of the rename itself; the file is already in place, so a
 * failure here is not reported. */
static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

vc_status vc_st_writer_write(const vc_st_writer *w, const char *path) {
    if (!w || !path || !*path) return vc_fail(VC_ERR_ARG, "safetensors writer: no path");
    int *order = malloc(((size_t)w->n + 1) * sizeof *order);
    if (!order) return vc_fail(VC_ERR_OOM, "%s: out of memory for the order of %d tensors", path, w->n);
    data_order(w, order);
    vc_bytebuf h = {0};
    vc_status s = build_header(w, order, &h);
    if (s) {
        free(order);
        free(h.v);
        return s;
    }

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) {
        free(order);
        free(h.v);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the temporary file's name", path);
    }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    /* O_EXCL never follows a planted link; a stale file of a dead process
     * that had our pid is ours to replace. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        s = vc_fail(VC_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        free(order);
        free(h.v);
        return s;
    }
    unsigned char len8[8];
    uint64_t hn = h.n;
    memcpy(len8, &hn, 8);
    s = write_all(fd, len8, 8, tmp);
    if (!s) s = write_all(fd, h.v, h.n, tmp);
    for (int k = 0; k < w->n && !s; k++)
        if (w->e[order[k]].nbytes) s = write_all(fd, w->e[order[k]].data, w->e[order[k]].nbytes, tmp);
    if (!s && fsync(fd) != 0) s = vc_fail(VC_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !s) s = vc_fail(VC_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (!s && rename(tmp, path) != 0) s = vc_fail(VC_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (s) unlink(tmp);
    else fsync_parent_dir(path);
    free(tmp);
    free(order);
    free(h.v);
    return s;
}

/* ---- reader ---- */

typedef struct {
    char *key, *value;
} st_meta;

struct vc_st_file {
    char *path;
    unsigned char *base; /* the whole file */
    size_t size;
    bool mapped;
    const unsigned char *data; /* the data section */
    size_t data_len;
    vc_st_tensor *t; /* header order */
    int n;
    const vc_st_tensor **by_name;
    st_meta *meta; /* header order */
    int nm;
    const st_meta **meta_by_key;
};

void vc_st_close(vc_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free((char *)f->t[i].name);
        free((int64_t *)f->t[i].shape);
    }
    for (int i = 0; i < f->nm; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f->meta_by_key);
    if (f->base) {
        if (f->mapped) munmap(f->base, f->size);
        else free(f->base);
    }
    free(f->path);
    free(f);
}

const char *vc_st_path(const vc_st_file *f) { return f->path; }
int vc_st_count(const vc_st_file *f) { return f->n; }
const vc_st_tensor *vc_st_at(const vc_st_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }
int vc_st_meta_count(const vc_st_file *f) { return f->nm; }

void vc_st_meta_at(const vc_st_file *f, int i, const char **key, const char **value) {
    bool ok = i >= 0 && i < f->nm;
    if (key) *key = ok ? f->meta[i].key : NULL;
    if (value) *value = ok ? f->meta[i].value : NULL;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const vc_st_tensor *const *)a)->name, (*(const vc_st_tensor *const *)b)->name);
}

static int cmp_meta_key(const void *a, const void *b) {
    return strcmp((*(const st_meta *const *)a)->key, (*(const st_meta *const *)b)->key);
}

const vc_st_tensor *vc_st_find(const vc_st_file *f, const char *name) {
    if (!f || !name || !f->n) return NULL;
    vc_st_tensor key = {.name = name};
    const vc_st_tensor *kp = &key;
    const vc_st_tensor **hit = bsearch(&kp, f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_tensor_name);
    return hit ? *hit : NULL;
}

vc_status vc_st_get(const vc_st_file *f, const char *name, const vc_st_tensor **out) {
    if (!f || !name || !out) return vc_fail(VC_ERR_ARG, "safetensors: NULL argument");
    *out = vc_st_find(f, name);
    return *out ? VC_OK : vc_fail(VC_ERR_FORMAT, "%s: no tensor '%s'", f->path, name);
}

const char *vc_st_meta(const vc_st_file *f, const char *key) {
    if (!f || !key || !f->nm) return NULL;
    st_meta m = {.key = (char *)key};
    const st_meta *mp = &m;
    const st_meta **hit = bsearch(&mp, f->meta_by_key, (size_t)f->nm, sizeof *f->meta_by_key, cmp_meta_key);
    return hit ? (*hit)->value : NULL;
}

/* The only child of obj called key (NULL when absent); *twice is set when it
 * occurs more than once, which cJSON would otherwise hide. */
static const cJSON *unique_field(const cJSON *obj, const char *key, bool *twice) {
    const cJSON *hit = NULL;
    *twice = false;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && strcmp(c->string, key) == 0) {
            if (hit) *twice = true;
            hit = c;
        }
    return hit;
}

/* A JSON number that is an exact non-negative integer. */
static bool json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > ST_INT_MAX || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

/* Parses and checks one tensor entry into t (name already set). */
static vc_status parse_entry(vc_st_file *f, const cJSON *e, vc_st_tensor *t) {
    const char *p = f->path, *nm = t->name;
    if (!cJSON_IsObject(e)) return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' is not a JSON object", p, nm);
    bool twice;
    const cJSON *fields[3];
    static const char *field_names[3] = {"dtype", "shape", "data_offsets"};
    for (int i = 0; i < 3; i++) {
        fields[i] = unique_field(e, field_names[i], &twice);
        if (!fields[i]) return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' has no \"%s\"", p, nm, field_names[i]);
        if (twice) return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' has \"%s\" twice", p, nm, field_names[i]);
    }
    const cJSON *dt = fields[0], *sh = fields[1], *off = fields[2];

    if (!cJSON_IsString(dt)) return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' dtype is not a string", p, nm);
    if (!st_dtype_parse(dt->valuestring, &t->dtype))
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' has unknown dtype '%s'", p, nm, dt->valuestring);

    if (!cJSON_IsArray(sh)) return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' shape is not an array", p, nm);
    int nd = 0;
    for (const cJSON *c = sh->child; c; c = c->next)
        if (++nd > 64) return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' has more than 64 dimensions", p, nm);
    int64_t *shape = NULL;
    if (nd) {
        shape = malloc((size_t)nd * sizeof *shape);
        if (!shape) return vc_fail(VC_ERR_OOM, "%s: out of memory for the %d-dimensional shape of tensor '%s'", p, nd, nm);
    }
    t->shape = shape;
    t->ndim = nd;
    int64_t numel = 1;
    int d = 0;
    bool huge = false;
    for (const cJSON *c = sh->child; c; c = c->next, d++) {
        uint64_t v;
        if (!json_uint(c, &v))
            return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' shape entry %d is not a non-negative integer", p, nm, d);
        shape[d] = (int64_t)v;
        if (v && numel > INT64_MAX / (int64_t)v) huge = true;
        else numel *= (int64_t)v;
    }
    /* A zero dimension makes the tensor empty however large the others are. */
    for (d = 0; d < nd; d++)
        if (shape[d] == 0) numel = 0, huge = false;
    char sbuf_[160];
    shape_str(nd, shape, sbuf_, sizeof sbuf_);
    size_t esize = st_dtypes[t->dtype].size;
    if (huge || (uint64_t)numel > UINT64_MAX / esize)
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' shape %s is too large", p, nm, sbuf_);
    t->numel = numel;
    uint64_t need = (uint64_t)numel * esize;

    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &b) || !json_uint(off->child->next, &en))
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' data_offsets is not a pair of non-negative integers", p, nm);
    if (b > en)
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' data_offsets [%llu, %llu] end before they begin", p, nm,
                       (unsigned long long)b, (unsigned long long)en);
    if (en > f->data_len)
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' data_offsets [%llu, %llu] exceed the %zu-byte data section", p, nm,
                       (unsigned long long)b, (unsigned long long)en, f->data_len);
    if (en - b != need)
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' data_offsets [%llu, %llu] hold %llu bytes but %s %s needs %llu", p, nm,
                       (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b), st_dtypes[t->dtype].name,
                       sbuf_, (unsigned long long)need);
    t->nbytes = (size_t)need;
    t->data = f->data + b;
    return VC_OK;
}

static vc_status parse_metadata(vc_st_file *f, const cJSON *m) {
    if (!cJSON_IsObject(m)) return vc_fail(VC_ERR_FORMAT, "%s: __metadata__ is not a JSON object", f->path);
    int n = 0;
    for (const cJSON *c = m->child; c; c = c->next) {
        if (n == INT_MAX) return vc_fail(VC_ERR_FORMAT, "%s: __metadata__ has too many entries", f->path);
        n++;
    }
    f->meta = calloc((size_t)n + 1, sizeof *f->meta);
    f->meta_by_key = calloc((size_t)n + 1, sizeof *f->meta_by_key);
    if (!f->meta || !f->meta_by_key)
        return vc_fail(VC_ERR_OOM, "%s: out of memory for %d metadata entries", f->path, n);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return vc_fail(VC_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", f->path, c->string);
        st_meta *e = &f->meta[f->nm];
        e->key = strdup(c->string);
        e->value = strdup(c->valuestring);
        f->nm++;
        if (!e->key || !e->value) return vc_fail(VC_ERR_OOM, "%s: out of memory for metadata '%s'", f->path, c->string);
        f->meta_by_key[f->nm - 1] = e;
    }
    qsort(f->meta_by_key, (size_t)f->nm, sizeof *f->meta_by_key, cmp_meta_key);
    for (int i = 1; i < f->nm; i++)
        if (strcmp(f->meta_by_key[i - 1]->key, f->meta_by_key[i]->key) == 0)
            return vc_fail(VC_ERR_FORMAT, "%s: __metadata__ key '%s' appears twice", f->path, f->meta_by_key[i]->key);
    return VC_OK;
}

static int cmp_tensor_begin(const void *a, const void *b) {
    const vc_st_tensor *x = *(const vc_st_tensor *const *)a, *y = *(const vc_st_tensor *const *)b;
    const unsigned char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py ? 1 : 0;
}

static vc_status parse_header(vc_st_file *f, const cJSON *root) {
    if (!cJSON_IsObject(root)) return vc_fail(VC_ERR_FORMAT, "%s: header is not a JSON object", f->path);
    int n = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (meta) return vc_fail(VC_ERR_FORMAT, "%s: __metadata__ appears twice", f->path);
            meta = c;
        } else {
            if (n == INT_MAX) return vc_fail(VC_ERR_FORMAT, "%s: too many tensors", f->path);
            n++;
        }
    }
    vc_status s = meta ? parse_metadata(f, meta) : VC_OK;
    if (s) return s;
    f->t = calloc((size_t)n + 1, sizeof *f->t);
    f->by_name = calloc((size_t)n + 1, sizeof *f->by_name);
    if (!f->t || !f->by_name) return vc_fail(VC_ERR_OOM, "%s: out of memory for a table of %d tensors", f->path, n);
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        vc_st_tensor *t = &f->t[f->n];
        t->name = strdup(c->string);
        f->n++;
        if (!t->name) return vc_fail(VC_ERR_OOM, "%s: out of memory for the name of tensor '%s'", f->path, c->string);
        s = parse_entry(f, c, t);
        if (s) return s;
        f->by_name[f->n - 1] = t;
    }
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' appears twice", f->path, f->by_name[i]->name);

    /* Overlap: sort the non-empty tensors by start; each must start at or after
     * the furthest end so far. Empty tensors own no bytes. */
    const vc_st_tensor **spans = malloc(((size_t)f->n + 1) * sizeof *spans);
    if (!spans) return vc_fail(VC_ERR_OOM, "%s: out of memory for the byte ranges of %d tensors", f->path, f->n);
    int k = 0;
    for (int i = 0; i < f->n; i++)
        if (f->t[i].nbytes) spans[k++] = &f->t[i];
    qsort(spans, (size_t)k, sizeof *spans, cmp_tensor_begin);
    const vc_st_tensor *far = NULL;
    for (int i = 0; i < k && !s; i++) {
        const vc_st_tensor *t = spans[i];
        const unsigned char *b = t->data;
        if (far && b < (const unsigned char *)far->data + far->nbytes) {
            size_t fb = (size_t)((const unsigned char *)far->data - f->data), tb = (size_t)(b - f->data);
            s = vc_fail(VC_ERR_FORMAT, "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", f->path, far->name, fb,
                        fb + far->nbytes, t->name, tb, tb + t->nbytes);
        }
        if (!far || b + t->nbytes > (const unsigned char *)far->data + far->nbytes) far = t;
    }
    free(spans);
    return s;
}

static vc_status read_fully(int fd, unsigned char *p, size_t n, const char *path) {
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got < ((size_t)1 << 30) ? n - got : ((size_t)1 << 30);
        ssize_t k = read(fd, p + got, chunk);
        if (k < 0) {
            if (errno == EINTR) continue;
            return vc_fail(VC_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        }
        if (k == 0) return vc_fail(VC_ERR_IO, "%s: file shrank while being read (%zu of %zu bytes)", path, got, n);
        got += (size_t)k;
    }
    return VC_OK;
}

static vc_status load_bytes(vc_st_file *f, vc_st_mode mode) {
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    vc_status s = VC_OK;
    if (fstat(fd, &sb) != 0) s = vc_fail(VC_ERR_IO, "%s: cannot stat: %s", f->path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) s = vc_fail(VC_ERR_IO, "%s: not a regular file", f->path);
    else if (sb.st_size < 8)
        s = vc_fail(VC_ERR_FORMAT, "%s: %lld bytes, too short for the 8-byte header length (truncated file?)", f->path,
                    (long long)sb.st_size);
    else if ((uint64_t)sb.st_size > SIZE_MAX) s = vc_fail(VC_ERR_IO, "%s: too large to address", f->path);
    if (!s) {
        f->size = (size_t)sb.st_size;
        if (mode == VC_ST_MMAP) {
            void *p = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) s = vc_fail(VC_ERR_IO, "%s: cannot map: %s", f->path, strerror(errno));
            else f->base = p, f->mapped = true;
        } else {
            /* Aligned like a mapping so a tensor's alignment does not depend on the mode. */
            void *p = NULL;
            if (posix_memalign(&p, 64, f->size) != 0)
                s = vc_fail(VC_ERR_OOM, "%s: cannot allocate %zu bytes", f->path, f->size);
            else {
                f->base = p;
                s = read_fully(fd, f->base, f->size, f->path);
            }
        }
    }
    close(fd);
    return s;
}

vc_status vc_st_open(vc_st_file **out, const char *path, vc_st_mode mode) {
    if (!out || !path) return vc_fail(VC_ERR_ARG, "safetensors: NULL argument");
    *out = NULL;
    if (mode != VC_ST_MMAP && mode != VC_ST_READ) return vc_fail(VC_ERR_ARG, "%s: unknown open mode %d", path, (int)mode);
    vc_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the file handle", path);
    }
    vc_status s = load_bytes(f, mode);
    if (s) {
        vc_st_close(f);
        return s;
    }
    uint64_t hn;
    memcpy(&hn, f->base, 8);
    if (hn > f->size - 8)
        s = vc_fail(VC_ERR_FORMAT, "%s: header length %llu exceeds the %zu bytes after it (truncated file?)", path,
                    (unsigned long long)hn, f->size - 8);
    else if (hn > ST_HEADER_MAX)
        s = vc_fail(VC_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit", path, (unsigned long long)hn,
                    (unsigned long long)ST_HEADER_MAX);
    else if (hn < 2)
        s = vc_fail(VC_ERR_FORMAT, "%s: header length %llu cannot hold a JSON object", path, (unsigned long long)hn);
    if (s) {
        vc_st_close(f);
        return s;
    }
    size_t n = (size_t)hn;
    f->data = f->base + 8 + n;
    f->data_len = f->size - 8 - n;

    /* Raw control characters are never valid JSON (not even inside strings),
     * and a NUL would cut a C string short. */
    const unsigned char *h = f->base + 8;
    for (size_t i = 0; i < n && !s; i++)
        if (h[i] < 0x20 && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r')
            s = vc_fail(VC_ERR_FORMAT, "%s: header has control byte 0x%02x at offset %zu", path, h[i], i);
    size_t bad = s ? n : vc_utf8_invalid_at(h, n);
    if (!s && bad < n) s = vc_fail(VC_ERR_FORMAT, "%s: header is not valid UTF-8 at byte %zu", path, bad);
    char *text = s ? NULL : malloc(n + 1);
    if (!s && !text) s = vc_fail(VC_ERR_OOM, "%s: out of memory for the %zu-byte header", path, n + 1);
    cJSON *root = NULL;
    if (!s) {
        memcpy(text, h, n);
        text[n] = '\0';
        const char *end = NULL;
        root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
        size_t at = end ? (size_t)(end - text) : 0;
        if (!root) s = vc_fail(VC_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu of %zu)", path, at, n);
        else {
            /* Padding after the object is whitespace; anything else is damage. */
            for (size_t i = at; i < n && !s; i++)
                if (!strchr(" \t\r\n", text[i]))
                    s = vc_fail(VC_ERR_FORMAT, "%s: header has data after its JSON object (byte %zu of %zu)", path, i, n);
        }
    }
    if (!s) s = parse_header(f, root);
    cJSON_Delete(root);
    free(text);
    if (s) {
        vc_st_close(f);
        return s;
    }
    *out = f;
    return VC_OK;
}

/* ---- loading ---- */

static vc_status check_dst(const vc_st_file *f, const vc_st_tensor *t, const vc_tensor *dst, vc_dtype want) {
    if (!dst) return vc_fail(VC_ERR_ARG, "%s: tensor '%s': no destination", f->path, t->name);
    if (dst->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "%s: tensor '%s': destination is on %s", f->path, t->name, vc_device_name(dst->device));
    if (dst->dtype != want)
        return vc_fail(VC_ERR_DTYPE, "%s: tensor '%s' is %s but the destination is %s", f->path, t->name,
                       st_dtypes[t->dtype].name, vc_dtype_name(dst->dtype));
    bool same = dst->ndim == t->ndim;
    for (int i = 0; same && i < t->ndim; i++) same = dst->ne[i] == t->shape[i];
    if (!same) {
        char a[160], b[160];
        shape_str(t->ndim, t->shape, a, sizeof a);
        shape_str(dst->ndim, dst->ne, b, sizeof b);
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' has shape %s but %s is expected", f->path, t->name, a, b);
    }
    if (!vc_is_contiguous(dst))
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s': destination is not contiguous", f->path, t->name);
    if (t->nbytes && !dst->data) return vc_fail(VC_ERR_ARG, "%s: tensor '%s': destination has no data", f->path, t->name);
    return VC_OK;
}

/* n 16-bit values at src (any alignment) to float, through an aligned bounce
 * buffer when src is not 2-aligned. */
static void half_to_f32(float *dst, const unsigned char *src, size_t n, bool bf16) {
    void (*conv)(float *, const uint16_t *, size_t) = bf16 ? vc_bf16_to_f32_n : vc_f16_to_f32_n;
    if ((uintptr_t)src % 2 == 0) {
        conv(dst, (const uint16_t *)(const void *)src, n);
        return;
    }
    uint16_t tmp[1024];
    for (size_t i = 0; i < n; i += 1024) {
        size_t k = n - i < 1024 ? n - i : 1024;
        memcpy(tmp, src + 2 * i, 2 * k);
        conv(dst + i, tmp, k);
    }
}

/* After a tensor is copied out of a mapped file, its source pages are asked
 * back (a hint; errors ignored): otherwise every page read stays resident
 * until the file is closed, and loading a whole checkpoint peaks at twice
 * its size (the mapping plus the copies). MADV_PAGEOUT rather than
 * MADV_DONTNEED because this is a private writable mapping: a page a
 * vc_st_view caller wrote to is swapped or kept, never thrown away. Only
 * whole pages inside the tensor's bytes, so neighbours are untouched. */
static void release_source(const vc_st_file *f, const vc_st_tensor *t) {
#ifdef MADV_PAGEOUT
    if (!f->mapped) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)t->data, b = a + t->nbytes;
    a = (a + page - 1) / page * page;
    b = b / page * page;
    if (b > a) (void)madvise((void *)a, b - a, MADV_PAGEOUT);
#else
    (void)f;
    (void)t;
#endif
}

vc_status vc_st_load_f32(const vc_st_file *f, const char *name, vc_tensor *dst) {
    const vc_st_tensor *t;
    vc_status s = vc_st_get(f, name, &t);
    if (s) return s;
    if (vc_dtype_size(VC_F32) != 4)
        return vc_fail(VC_ERR_UNSUPPORTED, "%s: tensor '%s': float32 loads need the single-precision build", f->path, name);
    s = check_dst(f, t, dst, VC_F32);
    if (s) return s;
    float *out = dst->data;
    const unsigned char *src = t->data;
    size_t n = (size_t)t->numel;
    if (!t->nbytes) return VC_OK;
    switch (t->dtype) {
    case VC_ST_F32: memcpy(out, src, t->nbytes); break;
    case VC_ST_F16: half_to_f32(out, src, n, false); break;
    case VC_ST_BF16: half_to_f32(out, src, n, true); break;
    case VC_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            out[i] = (float)v;
        }
        break;
    default:
        return vc_fail(VC_ERR_DTYPE, "%s: tensor '%s' is %s; only F32, F16, BF16 and F64 load as float32", f->path, name,
                       st_dtypes[t->dtype].name);
    }
    release_source(f, t);
    return VC_OK;
}

static vc_status alloc_like(const vc_st_file *f, const vc_st_tensor *t, vc_dtype dtype, vc_tensor *out) {
    if (t->ndim > VC_MAX_DIMS)
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' has %d dimensions; vclip tensors have at most %d", f->path, t->name,
                       t->ndim, VC_MAX_DIMS);
    return vc_tensor_alloc(out, dtype, t->ndim, t->shape);
}

vc_status vc_st_load_f32_new(const vc_st_file *f, const char *name, vc_tensor *out) {
    const vc_st_tensor *t;
    vc_status s = vc_st_get(f, name, &t);
    if (!s && !out) s = vc_fail(VC_ERR_ARG, "%s: tensor '%s': out is NULL", f->path, name);
    if (!s) s = alloc_like(f, t, VC_F32, out);
    if (s) return s;
    s = vc_st_load_f32(f, name, out);
    if (s) vc_tensor_release(out);
    return s;
}

vc_status vc_st_check_finite(const char *path, const char *name, const float *x, size_t n) {
    int64_t i = vc_first_nonfinite(x, n);
    if (i < 0) return VC_OK;
    return vc_fail(VC_ERR_NUMERIC, "%s: tensor '%s' holds %s at element %lld: the checkpoint is damaged", path, name,
                   isnan(x[i]) ? "NaN" : "an infinite value", (long long)i);
}

/* The entry for name and the vclip dtype of its data (an error when vclip
 * has no tensor type for it). */
static vc_status get_native(const vc_st_file *f, const char *name, const vc_st_tensor **t, vc_dtype *d) {
    vc_status s = vc_st_get(f, name, t);
    if (s) return s;
    if (!vc_st_to_vc_dtype((*t)->dtype, d))
        return vc_fail(VC_ERR_DTYPE, "%s: tensor '%s' is %s, which vclip has no tensor type for", f->path, name,
                       st_dtypes[(*t)->dtype].name);
    return VC_OK;
}

vc_status vc_st_load(const vc_st_file *f, const char *name, vc_tensor *dst) {
    const vc_st_tensor *t;
    vc_dtype d = VC_F32;
    vc_status s = get_native(f, name, &t, &d);
    if (s) return s;
    s = check_dst(f, t, dst, d);
    if (s) return s;
    if (t->nbytes) memcpy(dst->data, t->data, t->nbytes);
    return VC_OK;
}

vc_status vc_st_load_new(const vc_st_file *f, const char *name, vc_tensor *out) {
    const vc_st_tensor *t;
    vc_dtype d = VC_F32;
    vc_status s = get_native(f, name, &t, &d);
    if (s) return s;
    if (!out) return vc_fail(VC_ERR_ARG, "%s: tensor '%s': out is NULL", f->path, name);
    s = alloc_like(f, t, d, out);
    if (s) return s;
    s = vc_st_load(f, name, out);
    if (s) vc_tensor_release(out);
    return s;
}

vc_status vc_st_view(const vc_st_file *f, const char *name, vc_tensor *out) {
    const vc_st_tensor *t;
    vc_dtype d = VC_F32;
    vc_status s = get_native(f, name, &t, &d);
    if (s) return s;
    if (!out) return vc_fail(VC_ERR_ARG, "%s: tensor '%s': out is NULL", f->path, name);
    if (t->ndim > VC_MAX_DIMS)
        return vc_fail(VC_ERR_SHAPE, "%s: tensor '%s' has %d dimensions; vclip tensors have at most %d", f->path, name,
                       t->ndim, VC_MAX_DIMS);
    if ((uintptr_t)t->data % st_dtypes[t->dtype].size)
        return vc_fail(VC_ERR_FORMAT, "%s: tensor '%s' data is not %zu-byte aligned in the file; load a copy instead", f->path,
                       name, st_dtypes[t->dtype].size);
    return vc_tensor_wrap(out, (void *)t->data, d, t->ndim, t->shape);
}
