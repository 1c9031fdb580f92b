#include "wds_import.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/npy.h"
#include "tensor/buf.h"

#define KEY_CAP 4096

bool vc_wds_member_key(const char *path, char *key, size_t key_cap, const char **ext) {
    while (path[0] == '.' && path[1] == '/') path += 2;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base) return false;
    size_t n = (size_t)(dot - path);
    if (n + 1 > key_cap) return false;
    memcpy(key, path, n);
    key[n] = '\0';
    *ext = dot + 1;
    return true;
}

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* ---- the --splits CSV --------------------------------------------------- */

const char *vc_shard_stem(const char *path, char *buf, size_t cap) {
    static const char *const ext[] = {".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst", ".tar.lz4", ".tgz"};
    const char *b = base_name(path);
    size_t n = strlen(b), cut = n;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcasecmp(b + n - e, ext[i]) == 0 && n - e < cut) cut = n - e;
    }
    if (cut + 1 > cap) cut = cap - 1;
    memcpy(buf, b, cut);
    buf[cut] = '\0';
    return buf;
}

void vc_shard_splits_free(vc_shard_splits *s) {
    for (int i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    free(s->splits);
    free(s->lines);
    memset(s, 0, sizeof *s);
}

int vc_shard_splits_row(const vc_shard_splits *s, const char *shard_path) {
    char stem[1024];
    vc_shard_stem(shard_path, stem, sizeof stem);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], stem) == 0) return i;
    return -1;
}

int vc_shard_splits_find(const vc_shard_splits *s, const char *shard_path) {
    int row = vc_shard_splits_row(s, shard_path);
    return row < 0 ? -1 : s->splits[row];
}

static char *trim(char *p) {
    while (isspace((unsigned char)*p)) p++;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1])) p[--n] = '\0';
    /* a field csv.writer quoted */
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p[n - 1] = '\0';
        p++;
    }
    return p;
}

/* *cap is the capacity of the three row arrays, which grow together. */
static vc_status add_row(vc_shard_splits *out, size_t *cap, const char *stem, int split, int line, const char *path) {
    size_t need = (size_t)out->n + 1, c1 = *cap, c2 = *cap, nc = *cap;
    if (!vc_grow((void **)&out->names, &nc, need, sizeof *out->names) ||
        !vc_grow((void **)&out->splits, &c1, nc, sizeof *out->splits) ||
        !vc_grow((void **)&out->lines, &c2, nc, sizeof *out->lines))
        return vc_fail(VC_ERR_OOM, "%s:%d: out of memory for the list of %zu shards", path, line, need);
    *cap = nc;
    if (!(out->names[out->n] = strdup(stem)))
        return vc_fail(VC_ERR_OOM, "%s:%d: out of memory for the shard name '%s' (%zu bytes)", path, line, stem,
                       strlen(stem) + 1);
    out->splits[out->n] = split;
    out->lines[out->n++] = line;
    return VC_OK;
}

vc_status vc_shard_splits_read(const char *path, vc_shard_splits *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL, stem[1024];
    size_t cap = 0;
    int lineno = 0;
    size_t cap_n = 0;
    vc_status st = VC_OK;
    while (!st && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *t = trim(line);
        if (lineno == 1 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB && (unsigned char)t[2] == 0xBF)
            t = trim(t + 3);
        if (!*t || *t == '#') continue;
        char *comma = strrchr(t, ',');
        if (!comma) {
            st = vc_fail(VC_ERR_FORMAT, "%s:%d: expected 'shard name,split'", path, lineno);
            break;
        }
        *comma = '\0';
        char *name = trim(t), *split = trim(comma + 1);
        for (char *c = split; *c; c++) *c = (char)tolower((unsigned char)*c);
        /* the header (tar_file,split); create_shards.py appends one per run */
        if (strcmp(split, "split") == 0) continue;
        int sp = vc_split_from_name(split);
        if (sp < 0) {
            st = vc_fail(VC_ERR_FORMAT, "%s:%d: split '%s' is not train, val or test", path, lineno, split);
            break;
        }
        if (strchr(name, '{') || strchr(name, '}')) {
            st = vc_fail(VC_ERR_FORMAT,
                         "%s:%d: shard name '%s' is a Python format string that was never filled in (clip-video-encode "
                         "1.3.0's create_shards.py writes its rows so); put the shard names (e.g. ds_000000) in the CSV",
                         path, lineno, name);
            break;
        }
        vc_shard_stem(name, stem, sizeof stem);
        if (!*stem) {
            st = vc_fail(VC_ERR_FORMAT, "%s:%d: empty shard name", path, lineno);
            break;
        }
        int prev = -1;
        for (int i = 0; i < out->n && prev < 0; i++)
            if (strcmp(out->names[i], stem) == 0) prev = i;
        if (prev >= 0 && out->splits[prev] != sp) {
            st = vc_fail(VC_ERR_FORMAT, "%s:%d: shard '%s' is listed twice with different splits (%s on line %d, %s here)",
                         path, lineno, stem, vc_split_name((vc_split)out->splits[prev]), out->lines[prev], split);
            break;
        }
        if (prev < 0) st = add_row(out, &cap_n, stem, sp, lineno, path);
    }
    if (!st && ferror(f)) st = vc_fail(VC_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    if (!st && out->n == 0) st = vc_fail(VC_ERR_FORMAT, "%s: lists no shards", path);
    if (st) vc_shard_splits_free(out);
    return st;
}

/* ---- shards ------------------------------------------------------------- */

typedef enum { MEMBER_OK, MEMBER_DAMAGED } member_result;

/* Reads the current member's data into b (at most cap bytes; the caller has
 * checked the declared size). On damage, *err holds libarchive's reason. */
static member_result read_member(struct archive *a, struct archive_entry *e, size_t cap, vc_npy_buf *b, char *err,
                                 size_t err_cap, vc_status *fatal) {
    *fatal = VC_OK;
    size_t want = archive_entry_size_is_set(e) ? (size_t)archive_entry_size(e) : 65536;
    if ((*fatal = vc_npy_buf_reserve(b, want + 1))) return MEMBER_DAMAGED;
    size_t got = 0;
    for (;;) {
        if (got == b->cap) {
            if (got >= cap + 1) {
                snprintf(err, err_cap, "member grew past %zu bytes", cap);
                return MEMBER_DAMAGED;
            }
            /* unknown size: grow, keeping what was read */
            if (!vc_grow((void **)&b->data, &b->cap, got + 1, 1)) {
                const char *name = archive_entry_pathname(e);
                *fatal = vc_fail(VC_ERR_OOM, "%s: out of memory growing its buffer past %zu bytes", name ? name : "tar member",
                                 got);
                return MEMBER_DAMAGED;
            }
        }
        la_ssize_t r = archive_read_data(a, b->data + got, b->cap - got);
        if (r < 0) {
            const char *es = archive_error_string(a);
            snprintf(err, err_cap, "%s", es ? es : "read error");
            return MEMBER_DAMAGED;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (archive_entry_size_is_set(e) && got != (size_t)archive_entry_size(e)) {
        snprintf(err, err_cap, "member ends after %zu of %lld bytes", got, (long long)archive_entry_size(e));
        return MEMBER_DAMAGED;
    }
    b->len = got;
    return MEMBER_OK;
}

static bool ext_is(const char *ext, const char *want) { return strcasecmp(ext, want) == 0; }

/* bytes_before: the size of the shards before this one, for progress. */
static vc_status import_shard(vc_import_sink *s, const char *path, int index, int split, vc_npy_buf *buf,
                              vc_import_stats *stats, int64_t bytes_before, int64_t bytes_total) {
    /* a shard that cannot even be opened is a mistake on the command line */
    FILE *probe = fopen(path, "rb");
    if (!probe) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    fclose(probe);

    struct archive *a = archive_read_new();
    if (!a) return vc_fail(VC_ERR_OOM, "%s: out of memory for a libarchive reader", path);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    vc_status st = VC_OK;
    char err[512], where[KEY_CAP + 600], line[sizeof where + sizeof err + 200], key[KEY_CAP];
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        const char *es = archive_error_string(a);
        snprintf(line, sizeof line, "%s: not a readable tar shard (%s); skipped", path, es ? es : "unknown error");
        archive_read_free(a);
        return vc_import_sink_bad_source(s, line);
    }
    vc_import_sink_begin_source(s, index, split);
    int64_t videos0 = stats->videos, members = 0;
    bool damaged = false;
    while (!st) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            const char *es = archive_error_string(a);
            snprintf(err, sizeof err, "%s", es ? es : "unknown error");
            damaged = true;
            break;
        }
        members++;
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFDIR) continue;
        const char *name = archive_entry_pathname_utf8(e);
        if (!name) name = archive_entry_pathname(e);
        if (type != AE_IFREG) {
            vc_import_sink_ignored(s);
            continue;
        }
        if (!name) {
            snprintf(line, sizeof line, "%s: member %lld: its name cannot be decoded", path, (long long)members);
            st = vc_import_sink_skip(s, VC_SKIP_BAD_NAME, NULL, line);
            continue;
        }
        const char *ext;
        if (!vc_wds_member_key(name, key, sizeof key, &ext)) {
            vc_import_sink_ignored(s);
            continue;
        }
        snprintf(where, sizeof where, "%s: %s", path, name);
        bool is_npy = ext_is(ext, "npy"), is_txt = ext_is(ext, "txt"), is_json = ext_is(ext, "json");
        if (!is_npy && !is_txt && !is_json) {
            vc_import_sink_ignored(s);
            continue;
        }
        size_t cap = is_npy ? VC_IMPORT_MAX_NPY_BYTES : is_txt ? VC_IMPORT_MAX_CAPTION_BYTES : VC_IMPORT_MAX_META_BYTES;
        vc_skip_reason too_big = is_npy ? VC_SKIP_BAD_NPY : is_txt ? VC_SKIP_BAD_CAPTION : VC_SKIP_BAD_META;
        if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > cap) {
            snprintf(line, sizeof line, "%s: %lld bytes is over the %zu-byte limit for a .%s member", where,
                     (long long)archive_entry_size(e), cap, ext);
            st = vc_import_sink_skip(s, too_big, is_npy ? key : NULL, line);
            continue;
        }
        vc_status fatal;
        if (read_member(a, e, cap, buf, err, sizeof err, &fatal) != MEMBER_OK) {
            if (fatal) {
                st = fatal;
                break;
            }
            snprintf(line, sizeof line, "%s: cut off (%s)", where, err);
            if (!(st = vc_import_sink_skip(s, VC_SKIP_TRUNCATED, key, line))) damaged = true;
            break;
        }
        if (is_npy) st = vc_import_sink_npy(s, key, buf->data, buf->len, where);
        else if (is_txt) st = vc_import_sink_caption(s, key, (const char *)buf->data, buf->len, where);
        else st = vc_import_sink_meta(s, key, (const char *)buf->data, buf->len, where);
        if (!st) vc_import_sink_progress(s, bytes_before + archive_filter_bytes(a, -1), bytes_total);
    }
    if (!st && damaged) {
        int64_t kept = stats->videos - videos0;
        snprintf(line, sizeof line, "%s: truncated or damaged after %lld members (%s); kept the %lld video%s read before it",
                 path, (long long)members, err, (long long)kept, kept == 1 ? "" : "s");
        st = vc_import_sink_bad_source(s, line);
    }
    if (!st) st = vc_import_sink_end_source(s);
    archive_read_free(a);
    return st;
}

vc_status vc_wds_import(const char *out_path, const char *const *shards, int n_shards, const int *shard_split,
                        const vc_import_opts *opts, vc_import_stats *stats) {
    if (n_shards < 1) return vc_fail(VC_ERR_ARG, "import-wds: no shards given");
    vc_import_sink *s;
    vc_status st = vc_import_sink_new(&s, out_path, opts, stats);
    if (st) return st;
    vc_npy_buf buf = {0};
    int64_t *size = calloc((size_t)n_shards, sizeof *size), total = 0, done = 0;
    if (!size) st = vc_fail(VC_ERR_OOM, "import-wds: out of memory for the sizes of %d shards", n_shards);
    for (int i = 0; i < n_shards && !st; i++) {
        struct stat sb;
        if (stat(shards[i], &sb) == 0) size[i] = (int64_t)sb.st_size;
        total += size[i];
    }
    for (int i = 0; i < n_shards && !st; i++) {
        st = import_shard(s, shards[i], i, shard_split ? shard_split[i] : -1, &buf, stats, done, total);
        done += size[i];
        if (!st) vc_import_sink_progress(s, done, total);
    }
    free(size);
    vc_npy_buf_free(&buf);
    if (st) {
        vc_import_sink_abort(s);
        return st;
    }
    return vc_import_sink_finish(s);
}
