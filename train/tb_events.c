#include "tb_events.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "train/tb_event.pb-c.h" /* generated from train/tb_event.proto into the build directory */

#define TB_PREFIX "events.out.tfevents."
#define TB_SUFFIX ".vclip"
#define TB_VERSION "brain.Event:2"
/* a record longer than this is taken for damage (ours are a few hundred bytes) */
#define TB_MAX_RECORD (64u << 20)

/* ---- CRC-32C and the record framing ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t vc_crc32c(uint32_t crc, const void *p, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t vc_tb_masked_crc(const void *p, size_t n) {
    uint32_t c = vc_crc32c(0, p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_u32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get_u64(const unsigned char *b) { return (uint64_t)get_u32(b) | (uint64_t)get_u32(b + 4) << 32; }

/* ---- writing ---- */

struct vc_tb_writer {
    FILE *f;
    char path[4096];
    unsigned char *buf; /* packed message */
    size_t cap;
};

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Frames and writes one packed Event. */
static vc_status write_event(vc_tb_writer *w, const Tensorboard__Event *ev) {
    size_t n = tensorboard__event__get_packed_size(ev);
    if (n > w->cap) {
        unsigned char *nb = realloc(w->buf, n);
        if (!nb) return vc_fail(VC_ERR_OOM, "%s: out of memory for a %zu-byte event", w->path, n);
        w->buf = nb;
        w->cap = n;
    }
    tensorboard__event__pack(ev, w->buf);
    unsigned char head[12], tail[4];
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)n >> (8 * i));
    put_u32(head + 8, vc_tb_masked_crc(head, 8));
    put_u32(tail, vc_tb_masked_crc(w->buf, n));
    if (fwrite(head, 1, 12, w->f) != 12 || fwrite(w->buf, 1, n, w->f) != n || fwrite(tail, 1, 4, w->f) != 4 ||
        fflush(w->f) != 0)
        return vc_fail(VC_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    return VC_OK;
}

static vc_status write_version(vc_tb_writer *w) {
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.what_case = TENSORBOARD__EVENT__WHAT_FILE_VERSION;
    ev.file_version = (char *)TB_VERSION;
    return write_event(w, &ev);
}

vc_status vc_tb_write(vc_tb_writer *w, int64_t step, const vc_tb_scalar *v, int n) {
    if (n < 1 || n > VC_TB_MAX_SCALARS)
        return vc_fail(VC_ERR_ARG, "%s: an event holds 1 to %d scalars, not %d", w->path, VC_TB_MAX_SCALARS, n);
    Tensorboard__Summary__Value vals[VC_TB_MAX_SCALARS], *ptrs[VC_TB_MAX_SCALARS];
    for (int i = 0; i < n; i++) {
        Tensorboard__Summary__Value x = TENSORBOARD__SUMMARY__VALUE__INIT;
        x.tag = (char *)v[i].tag;
        x.value_case = TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
        x.simple_value = (float)v[i].value;
        vals[i] = x;
        ptrs[i] = &vals[i];
    }
    Tensorboard__Summary sum = TENSORBOARD__SUMMARY__INIT;
    sum.n_value = (size_t)n;
    sum.value = ptrs;
    Tensorboard__Event ev = TENSORBOARD__EVENT__INIT;
    ev.wall_time = wall_now();
    ev.step = step;
    ev.what_case = TENSORBOARD__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

const char *vc_tb_path(const vc_tb_writer *w) { return w->path; }

vc_status vc_tb_close(vc_tb_writer *w) {
    if (!w) return VC_OK;
    vc_status s = VC_OK;
    if (w->f && fclose(w->f) != 0) s = vc_fail(VC_ERR_IO, "%s: write failed at close: %s", w->path, strerror(errno));
    free(w->buf);
    free(w);
    return s;
}

/* ---- reading ---- */

static bool is_ours(const char *name) {
    size_t n = strlen(name), p = strlen(TB_PREFIX), s = strlen(TB_SUFFIX);
    return n > p + s && strncmp(name, TB_PREFIX, p) == 0 && strcmp(name + n - s, TB_SUFFIX) == 0;
}

/* Reads records from f (at offset 0). For every well-formed record, calls fn
 * for its values and, when cut is not NULL, sets *cut to the end of the last
 * record before the first one with step > keep_step (counted in *after). */
static vc_status scan(FILE *f, const char *path, vc_tb_value_fn fn, void *ud, vc_tb_read_info *info,
                      int64_t keep_step, int64_t *cut, int64_t *after) {
    memset(info, 0, sizeof *info);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) return vc_fail(VC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    info->file_size = (int64_t)st.st_size;
    if (cut) *cut = 0, *after = 0;
    bool past_keep = false;
    unsigned char *buf = NULL;
    size_t cap = 0;
    vc_status s = VC_OK;
    int64_t pos = 0;
    for (;;) {
        unsigned char head[12], tail[4];
        if (info->file_size - pos < 16 || fread(head, 1, 12, f) != 12) break;
        if (get_u32(head + 8) != vc_tb_masked_crc(head, 8)) break;
        uint64_t n = get_u64(head);
        if (n > TB_MAX_RECORD || (int64_t)n > info->file_size - pos - 16) break;
        if (n > cap) {
            unsigned char *nb = realloc(buf, n ? n : 1);
            if (!nb) {
                s = vc_fail(VC_ERR_OOM, "%s: out of memory for a %llu-byte record", path, (unsigned long long)n);
                break;
            }
            buf = nb;
            cap = n;
        }
        if (fread(buf, 1, n, f) != n || fread(tail, 1, 4, f) != 4) break;
        if (get_u32(tail) != vc_tb_masked_crc(buf, n)) break;
        Tensorboard__Event *ev = tensorboard__event__unpack(NULL, n, buf);
        if (!ev) break;
        if (info->records == 0) info->has_version = ev->what_case == TENSORBOARD__EVENT__WHAT_FILE_VERSION;
        info->records++;
        pos += 16 + (int64_t)n;
        info->good_bytes = pos;
        if (cut) {
            past_keep = past_keep || ev->step > keep_step;
            if (past_keep) ++*after;
            else *cut = pos;
        }
        if (ev->what_case == TENSORBOARD__EVENT__WHAT_SUMMARY && ev->summary) {
            for (size_t i = 0; i < ev->summary->n_value && !s; i++) {
                const Tensorboard__Summary__Value *v = ev->summary->value[i];
                if (v->value_case != TENSORBOARD__SUMMARY__VALUE__VALUE_SIMPLE_VALUE) continue;
                info->values++;
                if (fn) s = fn(ud, ev->step, ev->wall_time, v->tag ? v->tag : "", v->simple_value);
            }
        }
        tensorboard__event__free_unpacked(ev, NULL);
        if (s) break;
    }
    if (!s && ferror(f)) s = vc_fail(VC_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    free(buf);
    return s;
}

vc_status vc_tb_read(const char *path, vc_tb_value_fn fn, void *ud, vc_tb_read_info *info) {
    vc_tb_read_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "rb");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vc_status s = scan(f, path, fn, ud, info, 0, NULL, NULL);
    fclose(f);
    return s;
}

vc_status vc_tb_find(const char *dir, char *path, size_t n, bool *found) {
    *found = false;
    DIR *d = opendir(dir);
    if (!d) return vc_fail(VC_ERR_IO, "%s: cannot list the directory: %s", dir, strerror(errno));
    char first[1024] = "";
    vc_status s = VC_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (!is_ours(e->d_name)) continue;
        if (*found) {
            s = vc_fail(VC_ERR_ARG, "%s holds several vclip event files (%s, %s, ...); keep the one of this run", dir,
                        first, e->d_name);
            break;
        }
        *found = true;
        snprintf(first, sizeof first, "%s", e->d_name);
        if (snprintf(path, n, "%s/%s", dir, e->d_name) >= (int)n) {
            s = vc_fail(VC_ERR_ARG, "%s/%s: path too long", dir, e->d_name);
            break;
        }
    }
    closedir(d);
    if (s) *found = false;
    return s;
}

/* ---- opening ---- */

/* Removes dir's vclip event files (a fresh run replaces its predecessor's). */
static vc_status remove_ours(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return vc_fail(VC_ERR_IO, "%s: cannot list the directory: %s", dir, strerror(errno));
    vc_status s = VC_OK;
    for (struct dirent *e; (e = readdir(d)) && !s;) {
        if (!is_ours(e->d_name)) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0 && errno != ENOENT)
            s = vc_fail(VC_ERR_IO, "%s: cannot remove the previous run's event file: %s", p, strerror(errno));
    }
    closedir(d);
    return s;
}

/* Cuts path back to the records with step <= keep_step; fills info. */
static vc_status cut_back(const char *path, int64_t keep_step, vc_tb_resume *info) {
    FILE *f = fopen(path, "rb");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    vc_tb_read_info ri;
    int64_t cut, after;
    vc_status s = scan(f, path, NULL, NULL, &ri, keep_step, &cut, &after);
    fclose(f);
    if (s) return s;
    info->kept = ri.records - after;
    info->dropped = after;
    info->damaged_bytes = ri.file_size - ri.good_bytes;
    if (cut < ri.file_size && truncate(path, (off_t)cut) != 0)
        return vc_fail(VC_ERR_IO, "%s: cannot cut back to step %lld: %s", path, (long long)keep_step,
                       strerror(errno));
    return VC_OK;
}

vc_status vc_tb_open(vc_tb_writer **out, const char *dir, int64_t keep_step, vc_tb_resume *info) {
    *out = NULL;
    vc_tb_resume local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    vc_tb_writer *w = calloc(1, sizeof *w);
    if (!w) return vc_fail(VC_ERR_OOM, "%s: out of memory for the event writer", dir);
    bool found = false;
    vc_status s = VC_OK;
    if (keep_step >= 0) {
        if (!(s = vc_tb_find(dir, w->path, sizeof w->path, &found)) && found) s = cut_back(w->path, keep_step, info);
    } else {
        s = remove_ours(dir);
    }
    if (!s && !found) {
        char host[256] = "localhost";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        for (char *c = host; *c; c++)
            if (*c == '/') *c = '_';
        if (snprintf(w->path, sizeof w->path, "%s/" TB_PREFIX "%010lld.%s" TB_SUFFIX, dir, (long long)time(NULL),
                     host) >= (int)sizeof w->path)
            s = vc_fail(VC_ERR_ARG, "%s: directory path too long for an event file", dir);
        info->created = true;
    }
    if (!s) {
        w->f = fopen(w->path, found ? "ab" : "wb");
        if (!w->f) s = vc_fail(VC_ERR_IO, "%s: cannot open for writing: %s", w->path, strerror(errno));
    }
    /* a new file, or one cut back to nothing, starts with the version record */
    struct stat st;
    if (!s && fstat(fileno(w->f), &st) == 0 && st.st_size == 0) s = write_version(w);
    if (s) {
        vc_tb_close(w);
        return s;
    }
    *out = w;
    return VC_OK;
}
