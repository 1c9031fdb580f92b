#include "npy_import.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/npy.h"

typedef struct {
    char *name, *key;
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

static vc_status list_add(entry_list *l, const char *name, size_t key_len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        entry *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return vc_fail(VC_ERR_OOM, "import-npy: out of memory listing the directory");
        l->v = nv;
        l->cap = cap;
    }
    entry *e = &l->v[l->n];
    e->name = strdup(name);
    e->key = strndup(name, key_len);
    e->used = false;
    if (!e->name || !e->key) {
        free(e->name);
        free(e->key);
        return vc_fail(VC_ERR_OOM, "import-npy: out of memory listing the directory");
    }
    l->n++;
    return VC_OK;
}

static bool has_suffix(const char *name, size_t len, const char *suf) {
    return len >= 4 && strcasecmp(name + len - 4, suf) == 0;
}

/* Reads a whole file; *too_big is set (and nothing read) past cap bytes. */
static vc_status read_whole(const char *path, size_t cap, vc_npy_buf *b, bool *too_big, long long *size_out) {
    *too_big = false;
    FILE *f = fopen(path, "rb");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return vc_fail(VC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    *size_out = (long long)sb.st_size;
    if ((uint64_t)sb.st_size > cap) {
        fclose(f);
        *too_big = true;
        return VC_OK;
    }
    size_t size = (size_t)sb.st_size;
    vc_status st = vc_npy_buf_reserve(b, size + 1);
    if (st) {
        fclose(f);
        return st;
    }
    size_t got = fread(b->data, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != size) return vc_fail(VC_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, size);
    b->len = size;
    return VC_OK;
}

/* "" when dir already ends in '/', so paths in messages read "d/x.npy", not "d//x.npy" */
static const char *dir_sep(const char *dir) {
    size_t n = strlen(dir);
    return n && dir[n - 1] == '/' ? "" : "/";
}

static vc_status import_all(vc_import_sink *s, const char *dir, entry_list *npys, entry_list *txts) {
    vc_npy_buf buf = {0};
    vc_status st = VC_OK;
    size_t plen = strlen(dir) + 2;
    char *path = NULL, *line = NULL;
    size_t path_cap = 0;
    vc_import_sink_begin_source(s, 0, -1);
    for (size_t i = 0; i < npys->n + txts->n && !st; i++) {
        /* every .npy in key order, then the captions nobody claimed */
        bool is_npy = i < npys->n;
        entry *e = is_npy ? &npys->v[i] : &txts->v[i - npys->n];
        if (!is_npy && e->used) continue;
        size_t need = plen + strlen(e->name) + 8;
        if (need > path_cap) {
            free(path);
            free(line);
            path_cap = need * 2;
            path = malloc(path_cap);
            line = malloc(path_cap + 200);
            if (!path || !line) {
                st = vc_fail(VC_ERR_OOM, "import-npy: out of memory");
                break;
            }
        }
        snprintf(path, path_cap, "%s%s%s", dir, dir_sep(dir), e->name);
        bool too_big;
        long long size;
        size_t cap = is_npy ? VC_IMPORT_MAX_NPY_BYTES : VC_IMPORT_MAX_CAPTION_BYTES;
        if ((st = read_whole(path, cap, &buf, &too_big, &size))) break;
        if (too_big) {
            snprintf(line, path_cap + 200, "%s: %lld bytes is over the %zu-byte limit", path, size, cap);
            st = vc_import_sink_skip(s, is_npy ? VC_SKIP_BAD_NPY : VC_SKIP_BAD_CAPTION, is_npy ? e->key : NULL, line);
            continue;
        }
        if (!is_npy) {
            st = vc_import_sink_caption(s, e->key, (const char *)buf.data, buf.len, path);
            continue;
        }
        if ((st = vc_import_sink_npy(s, e->key, buf.data, buf.len, path))) break;
        entry probe = {.key = e->key};
        entry *t = txts->n ? bsearch(&probe, txts->v, txts->n, sizeof *txts->v, cmp_key) : NULL;
        if (!t) continue;
        t->used = true;
        snprintf(path, path_cap, "%s%s%s", dir, dir_sep(dir), t->name);
        if ((st = read_whole(path, VC_IMPORT_MAX_CAPTION_BYTES, &buf, &too_big, &size))) break;
        if (too_big) {
            snprintf(line, path_cap + 200, "%s: %lld bytes is over the %zu-byte limit for a caption", path, size,
                     VC_IMPORT_MAX_CAPTION_BYTES);
            st = vc_import_sink_skip(s, VC_SKIP_BAD_CAPTION, NULL, line);
            continue;
        }
        st = vc_import_sink_caption(s, e->key, (const char *)buf.data, buf.len, path);
    }
    if (!st) st = vc_import_sink_end_source(s);
    free(path);
    free(line);
    vc_npy_buf_free(&buf);
    return st;
}

vc_status vc_npy_dir_import(const char *out_path, const char *dir, const vc_import_opts *opts, vc_import_stats *stats) {
    memset(stats, 0, sizeof *stats);
    DIR *d = opendir(dir);
    if (!d) return vc_fail(VC_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    entry_list npys = {0}, txts = {0};
    int64_t ignored = 0;
    vc_status st = VC_OK;
    size_t plen = strlen(dir);
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        size_t len = strlen(name);
        char *p = malloc(plen + len + 2);
        if (!p) {
            st = vc_fail(VC_ERR_OOM, "import-npy: out of memory");
            break;
        }
        sprintf(p, "%s%s%s", dir, dir_sep(dir), name);
        struct stat sb;
        bool regular = stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
        free(p);
        if (regular && has_suffix(name, len, ".npy")) st = list_add(&npys, name, len - 4);
        else if (regular && has_suffix(name, len, ".txt")) st = list_add(&txts, name, len - 4);
        else ignored++;
    }
    closedir(d);
    if (!st && npys.n == 0) st = vc_fail(VC_ERR_FORMAT, "%s: no .npy files in the directory", dir);
    vc_import_sink *s = NULL;
    if (!st) {
        qsort(npys.v, npys.n, sizeof *npys.v, cmp_key);
        if (txts.n) qsort(txts.v, txts.n, sizeof *txts.v, cmp_key);
        st = vc_import_sink_new(&s, out_path, opts, stats);
    }
    if (!st) {
        for (int64_t i = 0; i < ignored; i++) vc_import_sink_ignored(s);
        st = import_all(s, dir, &npys, &txts);
        if (st) vc_import_sink_abort(s);
        else st = vc_import_sink_finish(s);
    }
    list_free(&npys);
    list_free(&txts);
    return st;
}
