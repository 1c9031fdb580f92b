#include "run_log.h"

#include <cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

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
