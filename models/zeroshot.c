#include "models/zeroshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/text_embed.h"

const char *const vc_zeroshot_default_templates[] = {"a video of {}.", "a video of a person {}.",
                                                     "a video of a person doing {}.", "a photo of {}.",
                                                     "an example of {}."};
const int64_t vc_zeroshot_n_default_templates =
    sizeof vc_zeroshot_default_templates / sizeof vc_zeroshot_default_templates[0];

void vc_zeroshot_templates_free(char **templates, int64_t n) {
    for (int64_t i = 0; templates && i < n; i++) free(templates[i]);
    free(templates);
}

static vc_status add_template(char ***t, int64_t *n, int64_t *cap, const char *s, const char *src) {
    if (*n == *cap) {
        int64_t nc = *cap ? 2 * *cap : 16;
        char **nt = realloc(*t, (size_t)nc * sizeof *nt);
        if (!nt) return vc_fail(VC_ERR_OOM, "%s: out of memory for %lld templates", src, (long long)nc);
        *t = nt;
        *cap = nc;
    }
    if (!((*t)[*n] = strdup(s)))
        return vc_fail(VC_ERR_OOM, "%s: out of memory for a %zu-byte template", src, strlen(s) + 1);
    (*n)++;
    return VC_OK;
}

vc_status vc_zeroshot_templates_read(const char *path, char ***out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    char **t = NULL;
    int64_t n = 0, cap = 0;
    vc_status s = VC_OK;
    if (!path) {
        for (int64_t i = 0; i < vc_zeroshot_n_default_templates && !s; i++)
            s = add_template(&t, &n, &cap, vc_zeroshot_default_templates[i], "zero-shot templates");
    } else {
        FILE *f = fopen(path, "r");
        if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open the templates file", path);
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        int64_t lineno = 0;
        while (!s && (len = getline(&line, &lcap, f)) >= 0) {
            lineno++;
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (len == 0 || line[0] == '#') continue;
            if (!strstr(line, "{}"))
                s = vc_fail(VC_ERR_FORMAT, "%s: line %lld has no {} where the class name goes", path, (long long)lineno);
            else s = add_template(&t, &n, &cap, line, path);
        }
        if (!s && ferror(f)) s = vc_fail(VC_ERR_IO, "%s: read error after line %lld", path, (long long)lineno);
        free(line);
        fclose(f);
        if (!s && n == 0) s = vc_fail(VC_ERR_FORMAT, "%s: no templates", path);
    }
    if (s) {
        vc_zeroshot_templates_free(t, n);
        return s;
    }
    *out = t;
    *n_out = n;
    return VC_OK;
}

vc_status vc_zeroshot_fill(const char *tmpl, const char *name, char **out) {
    size_t nl = strlen(name), k = 0;
    for (const char *p = tmpl; (p = strstr(p, "{}")); p += 2) k++;
    size_t size = strlen(tmpl) + k * nl + 1;
    char *o = *out = malloc(size);
    if (!o) return vc_fail(VC_ERR_OOM, "zero-shot: out of memory for a %zu-byte prompt", size);
    while (*tmpl) {
        if (tmpl[0] == '{' && tmpl[1] == '}') {
            memcpy(o, name, nl);
            o += nl;
            tmpl += 2;
        } else *o++ = *tmpl++;
    }
    *o = 0;
    return VC_OK;
}

/* 1 / |x| in float (0 for a zero vector), the sum of squares in double. */
static float inv_norm(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
}

void vc_zeroshot_average(const float *prompts, int64_t T, int64_t E, float *out) {
    memset(out, 0, (size_t)E * sizeof *out);
    for (int64_t t = 0; t < T; t++) {
        const float *p = prompts + t * E;
        float inv = inv_norm(p, E);
        for (int64_t j = 0; j < E; j++) out[j] += p[j] * inv;
    }
    for (int64_t j = 0; j < E; j++) out[j] /= (float)T;
    float inv = inv_norm(out, E);
    for (int64_t j = 0; j < E; j++) out[j] *= inv;
}

vc_status vc_zeroshot_classes(vc_tape *t, const vc_clip *m, vc_tokenizer *tk, const char *const *names, int64_t K,
                              const char *const *templates, int64_t T, float *out, const vc_progress_hook *progress) {
    int64_t E = m->cfg.embed, L = m->cfg.context;
    char **prompts = calloc((size_t)T, sizeof *prompts);
    float *pe = malloc((size_t)(T * E) * sizeof *pe);
    int32_t *ids = malloc((size_t)(T * L) * sizeof *ids);
    vc_status s = VC_OK;
    if (!prompts || !pe || !ids)
        s = vc_fail(VC_ERR_OOM, "zero-shot: out of memory for %lld prompts of %lld ids and %lld-wide embeddings",
                    (long long)T, (long long)L, (long long)E);
    vc_progress_report(progress, "class names encoded", 0, K);
    for (int64_t k = 0; k < K && !s; k++) {
        for (int64_t i = 0; i < T && !s; i++) s = vc_zeroshot_fill(templates[i], names[k], &prompts[i]);
        /* the prompts of one class in one batch (T is small) */
        if (!s) s = vc_clip_embed_texts(t, m, tk, (const char *const *)prompts, T, ids, pe);
        for (int64_t i = 0; i < T; i++) {
            free(prompts[i]);
            prompts[i] = NULL;
        }
        if (!s) {
            vc_zeroshot_average(pe, T, E, out + k * E);
            vc_progress_report(progress, "class names encoded", k + 1, K);
        }
    }
    free(prompts);
    free(pe);
    free(ids);
    return s;
}
