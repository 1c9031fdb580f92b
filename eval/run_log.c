#include "run_log.h"

#include <cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

typedef struct {
    vc_run_point *p;
    int64_t n, cap;
} series;

static vc_status series_add(series *s, int64_t step, double v, const char *path) {
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 256;
        vc_run_point *np = realloc(s->p, (size_t)cap * sizeof *np);
        if (!np) return vc_fail(VC_ERR_OOM, "%s: out of memory for %lld points", path, (long long)cap);
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n++] = (vc_run_point){step, v};
    return VC_OK;
}

/* The resume rule: drop the points after step. */
static void series_cut(series *s, int64_t step) {
    int64_t k = 0;
    for (int64_t i = 0; i < s->n; i++)
        if (s->p[i].step <= step) s->p[k++] = s->p[i];
    s->n = k;
}

static const cJSON *field(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

/* Parses one line into the series; VC_ERR_FORMAT for a line that breaks the format. */
static vc_status take_line(const char *path, int64_t line, const char *text, series *loss, series *val,
                           vc_run_log *r) {
    cJSON *o = cJSON_Parse(text);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return vc_fail(VC_ERR_FORMAT, "%s:%lld: not a JSON object", path, (long long)line);
    }
    vc_status s = VC_OK;
    const cJSON *ev = field(o, "event"), *step = field(o, "step");
    const char *need = NULL;
    if (!cJSON_IsString(ev)) need = "\"event\" (a string)";
    else if (!cJSON_IsNumber(step)) need = "\"step\" (a number)";
    if (need) {
        s = vc_fail(VC_ERR_FORMAT, "%s:%lld: no %s", path, (long long)line, need);
    } else if (strcmp(ev->valuestring, "start") == 0) {
        loss->n = val->n = 0;
        r->launches++;
    } else if (strcmp(ev->valuestring, "resume") == 0) {
        series_cut(loss, (int64_t)step->valuedouble);
        series_cut(val, (int64_t)step->valuedouble);
        r->launches++;
    } else if (strcmp(ev->valuestring, "step") == 0) {
        const cJSON *l = field(o, "loss");
        if (!cJSON_IsNumber(l)) s = vc_fail(VC_ERR_FORMAT, "%s:%lld: a step record without a number \"loss\"", path,
                                            (long long)line);
        else s = series_add(loss, (int64_t)step->valuedouble, l->valuedouble, path);
    } else if (strcmp(ev->valuestring, "eval") == 0) {
        const cJSON *sc = field(o, "score"), *sp = field(o, "split");
        if (!cJSON_IsNumber(sc)) {
            s = vc_fail(VC_ERR_FORMAT, "%s:%lld: an eval record without a number \"score\"", path, (long long)line);
        } else {
            if (cJSON_IsString(sp)) snprintf(r->val_split, sizeof r->val_split, "%s", sp->valuestring);
            s = series_add(val, (int64_t)step->valuedouble, sc->valuedouble, path);
        }
    }
    cJSON_Delete(o);
    return s;
}

vc_status vc_run_log_read(const char *dir, vc_run_log *r) {
    memset(r, 0, sizeof *r);
    struct stat st;
    if (stat(dir, &st) != 0) return vc_fail(VC_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return vc_fail(VC_ERR_ARG, "%s: not a directory (a run directory is needed)", dir);
    if (snprintf(r->dir, sizeof r->dir, "%s", dir) >= (int)sizeof r->dir)
        return vc_fail(VC_ERR_ARG, "%s: path too long", dir);
    /* the base name, trailing slashes aside */
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t n = strlen(tmp);
    while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
    const char *base = strrchr(tmp, '/');
    snprintf(r->name, sizeof r->name, "%s", base && base[1] ? base + 1 : tmp);

    char path[1100];
    snprintf(path, sizeof path, "%s/log.jsonl", tmp);
    FILE *f = fopen(path, "r");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s (not a vclip run directory?)", path, strerror(errno));
    series loss = {0}, val = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t no = 0;
    vc_status s = VC_OK;
    while (!s && (len = getline(&line, &cap, f)) > 0) {
        no++;
        bool complete = line[len - 1] == '\n';
        if (complete) line[--len] = '\0';
        if (len == 0 && complete) continue;
        s = take_line(path, no, line, &loss, &val, r);
        /* a run being written, or killed mid-line: its last line may be cut short */
        if (s == VC_ERR_FORMAT && !complete) {
            s = VC_OK;
            r->torn_lines++;
        }
    }
    if (!s && ferror(f)) s = vc_fail(VC_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (!s && loss.n == 0 && val.n == 0)
        s = vc_fail(VC_ERR_FORMAT, "%s: no step or evaluation record (%lld lines)", path, (long long)no);
    if (s) {
        free(loss.p);
        free(val.p);
        memset(r, 0, sizeof *r);
        return s;
    }
    r->loss = loss.p;
    r->n_loss = loss.n;
    r->val = val.p;
    r->n_val = val.n;
    return VC_OK;
}

void vc_run_log_free(vc_run_log *r) {
    free(r->loss);
    free(r->val);
    memset(r, 0, sizeof *r);
}

/* The "step" of a log line, when it is a JSON object with a number there. */
static bool line_step(const char *text, int64_t *step) {
    cJSON *o = cJSON_Parse(text);
    const cJSON *st = cJSON_IsObject(o) ? field(o, "step") : NULL;
    bool ok = cJSON_IsNumber(st);
    if (ok) *step = (int64_t)st->valuedouble;
    cJSON_Delete(o);
    return ok;
}

vc_status vc_run_log_cut(const char *path, int64_t step, vc_run_log_cut_info *info) {
    vc_run_log_cut_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? VC_OK : vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        fclose(f);
        return vc_fail(VC_ERR_ARG, "%s: path too long", path);
    }
    FILE *out = fopen(tmp, "w");
    if (!out) {
        int err = errno;
        fclose(f);
        return vc_fail(VC_ERR_IO, "%s: cannot write: %s", tmp, strerror(err));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool write_failed = false;
    while ((len = getline(&line, &cap, f)) > 0) {
        int64_t at;
        if (line[len - 1] != '\n') {
            info->torn = true;
            info->dropped++;
            continue;
        }
        line[len - 1] = '\0';
        bool later = line_step(line, &at) && at > step;
        line[len - 1] = '\n';
        if (later) {
            info->dropped++;
            continue;
        }
        info->kept++;
        if (fwrite(line, 1, (size_t)len, out) != (size_t)len) write_failed = true;
    }
    bool read_failed = ferror(f);
    int read_errno = errno;
    free(line);
    fclose(f);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0) write_failed = true;
    int write_errno = errno;
    if (fclose(out) != 0) write_failed = true;
    vc_status s = VC_OK;
    if (read_failed)
        s = vc_fail(VC_ERR_IO, "%s: read failed: %s", path, strerror(read_errno));
    else if (write_failed)
        s = vc_fail(VC_ERR_IO, "%s: cannot write: %s", tmp, strerror(write_errno));
    else if (info->dropped && rename(tmp, path) != 0)
        s = vc_fail(VC_ERR_IO, "%s: cannot replace it with the cut log: %s", path, strerror(errno));
    if (s || !info->dropped) unlink(tmp);
    return s;
}
