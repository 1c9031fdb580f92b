#include "npy_import.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/npy.h"
#include "tensor/buf.h"

typedef struct {
    char *name, *key;
    int64_t size;
    bool used;
} entry;

typedef struct {
    entry *v;
    size_t n, cap;
} entry_list;

static int cmp_key(const void *a, const void *b) { return strcmp(((const entry *)a)->key, ((const entry *)b)->key); }

static void list_free(entry_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].key);
    }
    free(l->v);
}

static vc_status list_add(entry_list *l, const char *name, size_t key_len, int64_t size) {
    if (!vc_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return vc_fail(VC_ERR_OOM, "import-npy: out of memory listing the directory (%zu entries)", l->n + 1);
    entry *e = &l->v[l->n];
    e->name = strdup(name);
    e->key = strndup(name, key_len);
    e->used = false;
    e->size = size;
    if (!e->name || !e->key) {
        free(e->name);
        free(e->key);
        return vc_fail(VC_ERR_OOM, "import-npy: out of memory for the name '%s' (%zu bytes)", name, 2 * strlen(name) + 2);
    }
    l->n++;
    return VC_OK;
}

static bool has_suffix(const char *name, size_t len, const char *suf) {
    size_t n = strlen(suf);
    return len > n && strcasecmp(name + len - n, suf) == 0;
}

/* "" when dir already ends in '/', so paths in messages read "d/x.npy", not "d//x.npy" */
static const char *dir_sep(const char *dir) {
    size_t n = strlen(dir);
    return n && dir[n - 1] == '/' ? "" : "/";
}

typedef struct {
    const char *dir;
    entry_list npys, txts, jsons;
    vc_npy_buf buf;
    char *path, *line;
    size_t path_cap;
    int64_t done, total;
} dir_import;

/* Reads dir/name into d->buf; *skipped when over cap (reported and counted
 * as r; with key the sample goes too). */
static vc_status read_member(vc_import_sink *s, dir_import *d, const entry *e, size_t cap, vc_skip_reason r,
                             const char *key, bool *skipped) {
    *skipped = false;
    size_t need = strlen(d->dir) + strlen(e->name) + 8;
    if (need > d->path_cap) {
        free(d->path);
        free(d->line);
        d->path_cap = need * 2;
        d->path = malloc(d->path_cap);
        d->line = malloc(d->path_cap + 200);
        if (!d->path || !d->line)
            return vc_fail(VC_ERR_OOM, "import-npy: out of memory for the path of %s (%zu bytes)", e->name, 2 * d->path_cap + 200);
    }
    snprintf(d->path, d->path_cap, "%s%s%s", d->dir, dir_sep(d->dir), e->name);
    int64_t size;
    vc_status st = vc_npy_buf_read_file(&d->buf, d->path, cap, &size);
    if (st) return st;
    d->done += e->size;
    if ((uint64_t)size > cap) {
        *skipped = true;
        snprintf(d->line, d->path_cap + 200, "%s: %lld bytes is over the %zu-byte limit", d->path, (long long)size, cap);
        return vc_import_sink_skip(s, r, key, d->line);
    }
    return VC_OK;
}

static entry *find_key(entry_list *l, const char *key) {
    entry probe = {.key = (char *)key};
    return l->n ? bsearch(&probe, l->v, l->n, sizeof *l->v, cmp_key) : NULL;
}

static vc_status take_caption(vc_import_sink *s, dir_import *d, entry *t) {
    bool skipped;
    t->used = true;
    vc_status st = read_member(s, d, t, VC_IMPORT_MAX_CAPTION_BYTES, VC_SKIP_BAD_CAPTION, NULL, &skipped);
    if (st || skipped) return st;
    return vc_import_sink_caption(s, t->key, (const char *)d->buf.data, d->buf.len, d->path);
}

static vc_status take_meta(vc_import_sink *s, dir_import *d, entry *j) {
    bool skipped;
    j->used = true;
    vc_status st = read_member(s, d, j, VC_IMPORT_MAX_META_BYTES, VC_SKIP_BAD_META, NULL, &skipped);
    if (st || skipped) return st;
    return vc_import_sink_meta(s, j->key, (const char *)d->buf.data, d->buf.len, d->path);
}

/* Every .npy in key order, each followed by its .json and .txt (the order
 * clip-video-encode's tar shards have), then the members nobody claimed. */
static vc_status import_all(vc_import_sink *s, dir_import *d) {
    vc_status st = VC_OK;
    vc_import_sink_begin_source(s, 0, -1);
    for (size_t i = 0; i < d->npys.n && !st; i++) {
        entry *e = &d->npys.v[i], *j = find_key(&d->jsons, e->key), *t = find_key(&d->txts, e->key);
        if (j && (st = take_meta(s, d, j))) break;
        bool skipped;
        if ((st = read_member(s, d, e, VC_IMPORT_MAX_NPY_BYTES, VC_SKIP_BAD_NPY, e->key, &skipped))) break;
        if (!skipped && (st = vc_import_sink_npy(s, e->key, d->buf.data, d->buf.len, d->path))) break;
        if (t) st = take_caption(s, d, t);
        if (!st) vc_import_sink_progress(s, d->done, d->total);
    }
    for (size_t i = 0; i < d->jsons.n && !st; i++)
        if (!d->jsons.v[i].used) st = take_meta(s, d, &d->jsons.v[i]);
    for (size_t i = 0; i < d->txts.n && !st; i++)
        if (!d->txts.v[i].used) st = take_caption(s, d, &d->txts.v[i]);
    if (!st) st = vc_import_sink_end_source(s);
    if (!st) vc_import_sink_progress(s, d->done, d->total);
    return st;
}

vc_status vc_npy_dir_import(const char *out_path, const char *dir, const vc_import_opts *opts, vc_import_stats *stats) {
    memset(stats, 0, sizeof *stats);
    DIR *dh = opendir(dir);
    if (!dh) return vc_fail(VC_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    dir_import d = {.dir = dir};
    int64_t ignored = 0;
    vc_status st = VC_OK;
    size_t plen = strlen(dir);
    struct dirent *de;
    while (!st && (de = readdir(dh))) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        size_t len = strlen(name);
        char *p = malloc(plen + len + 2);
        if (!p) {
            st = vc_fail(VC_ERR_OOM, "import-npy: out of memory for the path of %s (%zu bytes)", name, plen + len + 2);
            break;
        }
        sprintf(p, "%s%s%s", dir, dir_sep(dir), name);
        struct stat sb;
        bool regular = stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
        free(p);
        int64_t size = regular ? (int64_t)sb.st_size : 0;
        if (regular && has_suffix(name, len, ".npy")) st = list_add(&d.npys, name, len - 4, size);
        else if (regular && has_suffix(name, len, ".txt")) st = list_add(&d.txts, name, len - 4, size);
        else if (regular && has_suffix(name, len, ".json")) st = list_add(&d.jsons, name, len - 5, size);
        else {
            ignored++;
            continue;
        }
        d.total += size;
    }
    closedir(dh);
    if (!st && d.npys.n == 0) st = vc_fail(VC_ERR_FORMAT, "%s: no .npy files in the directory", dir);
    vc_import_sink *s = NULL;
    if (!st) {
        entry_list *ls[3] = {&d.npys, &d.txts, &d.jsons};
        for (int k = 0; k < 3; k++)
            if (ls[k]->n) qsort(ls[k]->v, ls[k]->n, sizeof *ls[k]->v, cmp_key);
        st = vc_import_sink_new(&s, out_path, opts, stats);
    }
    if (!st) {
        for (int64_t i = 0; i < ignored; i++) vc_import_sink_ignored(s);
        st = import_all(s, &d);
        if (st) vc_import_sink_abort(s);
        else st = vc_import_sink_finish(s);
    }
    list_free(&d.npys);
    list_free(&d.txts);
    list_free(&d.jsons);
    vc_npy_buf_free(&d.buf);
    free(d.path);
    free(d.line);
    return st;
}
