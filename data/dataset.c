#include "dataset.h"

#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "source_h5.h"

struct vc_dataset {
    char *spec;
    int n;
    char **paths;
    vc_h5 **h;
    int64_t *vbase, *fbase, *cbase; /* [n+1]: first global video, frame row, caption of each file */
    vc_h5_info info;
    int64_t *offsets, *text_video;  /* global [V+1], [C]; NULL for one file */
    int64_t *labels;                /* global [V] with a shared class table and several files */
    int64_t *split_idx[VC_NSPLITS];
    int64_t split_n[VC_NSPLITS];
};

static vc_status add_path(vc_dataset *ds, int *cap, const char *p) {
    for (int k = 0; k < ds->n; k++) {
        bool same = strcmp(ds->paths[k], p) == 0;
        char a[PATH_MAX], b[PATH_MAX];
        if (!same && realpath(ds->paths[k], a) && realpath(p, b)) same = strcmp(a, b) == 0;
        if (same) return vc_fail(VC_ERR_ARG, "data: %s is listed twice in '%s'", p, ds->spec);
    }
    if (ds->n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        char **np = realloc(ds->paths, (size_t)*cap * sizeof *np);
        if (!np) return vc_fail(VC_ERR_OOM, "data: out of memory for a list of %d files", *cap);
        ds->paths = np;
    }
    if (!(ds->paths[ds->n] = strdup(p))) return vc_fail(VC_ERR_OOM, "data: out of memory for the path %s", p);
    ds->n++;
    return VC_OK;
}

/* Entries separated by commas, trimmed; a glob pattern adds its sorted matches. */
static vc_status expand(vc_dataset *ds) {
    char *copy = strdup(ds->spec);
    if (!copy) return vc_fail(VC_ERR_OOM, "data: out of memory for the file list '%s'", ds->spec);
    int cap = 0;
    vc_status s = VC_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && !s; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
        if (!*tok) {
            s = vc_fail(VC_ERR_ARG, "data: an empty entry in the file list '%s'", ds->spec);
            break;
        }
        if (!strpbrk(tok, "*?[")) {
            s = add_path(ds, &cap, tok);
            continue;
        }
        glob_t g;
        int rc = glob(tok, GLOB_ERR, NULL, &g);
        if (rc == GLOB_NOMATCH) s = vc_fail(VC_ERR_IO, "data: no file matches '%s'", tok);
        else if (rc != 0) s = vc_fail(VC_ERR_IO, "data: cannot read the directories of '%s'", tok);
        for (size_t i = 0; rc == 0 && i < g.gl_pathc && !s; i++) s = add_path(ds, &cap, g.gl_pathv[i]);
        if (rc == 0) globfree(&g);
    }
    free(copy);
    if (!s && ds->n == 0) s = vc_fail(VC_ERR_ARG, "data: no file in '%s'", ds->spec);
    return s;
}

/* Whether every file has the same class table (labels, K, embeddings). */
static vc_status classes_shared(vc_dataset *ds, bool *shared) {
    *shared = false;
    const vc_h5_info *i0 = vc_h5_get_info(ds->h[0]);
    for (int k = 0; k < ds->n; k++) {
        const vc_h5_info *ik = vc_h5_get_info(ds->h[k]);
        if (!ik->has_labels || !ik->has_class_embeddings || ik->n_classes != i0->n_classes) return VC_OK;
    }
    size_t n = (size_t)(i0->n_classes * i0->dim);
    float *a = malloc(n * sizeof(float) + 4), *b = malloc(n * sizeof(float) + 4);
    vc_status s = a && b ? vc_h5_read_classes(ds->h[0], a) : vc_fail(VC_ERR_OOM, "data: out of memory comparing %zu class embedding values", n);
    bool same = true;
    for (int k = 1; k < ds->n && !s && same; k++)
        if (!(s = vc_h5_read_classes(ds->h[k], b))) same = memcmp(a, b, n * sizeof(float)) == 0;
    free(a);
    free(b);
    *shared = !s && same;
    return s;
}

static vc_status combine(vc_dataset *ds) {
    int n = ds->n;
    ds->vbase = calloc((size_t)n + 1, sizeof(int64_t));
    ds->fbase = calloc((size_t)n + 1, sizeof(int64_t));
    ds->cbase = calloc((size_t)n + 1, sizeof(int64_t));
    if (!ds->vbase || !ds->fbase || !ds->cbase) return vc_fail(VC_ERR_OOM, "data: out of memory for the bases of %d files", n);
    const vc_h5_info *i0 = vc_h5_get_info(ds->h[0]);
    vc_h5_info *t = &ds->info;
    *t = *i0;
    for (int k = 0; k < n; k++) {
        const vc_h5_info *ik = vc_h5_get_info(ds->h[k]);
        ds->vbase[k + 1] = ds->vbase[k] + ik->n_videos;
        ds->fbase[k + 1] = ds->fbase[k] + ik->n_frames;
        ds->cbase[k + 1] = ds->cbase[k] + ik->n_captions;
        if (k == 0) continue;
        if (ik->dim != i0->dim)
            return vc_fail(VC_ERR_FORMAT, "data: %s has embeddings %lld wide, %s %lld", ds->paths[k], (long long)ik->dim,
                           ds->paths[0], (long long)i0->dim);
        if (ik->clip_model && i0->clip_model && strcmp(ik->clip_model, i0->clip_model) != 0)
            return vc_fail(VC_ERR_FORMAT, "data: %s was encoded with %s, %s with %s", ds->paths[k], ik->clip_model,
                           ds->paths[0], i0->clip_model);
        t->n_videos += ik->n_videos;
        t->n_frames += ik->n_frames;
        t->n_captions += ik->n_captions;
        t->n_empty_videos += ik->n_empty_videos;
        t->n_uncaptioned += ik->n_uncaptioned;
        if (ik->frame_dtype != t->frame_dtype) t->frame_dtype = VC_F32;
        if (ik->text_dtype != t->text_dtype) t->text_dtype = VC_F32;
        t->has_text_embeddings &= ik->has_text_embeddings;
        t->has_captions_text &= ik->has_captions_text;
        t->has_meta &= ik->has_meta;
        for (int s = 0; s < VC_NSPLITS; s++) {
            t->has_split[s] &= ik->has_split[s];
            t->split_size[s] += ik->split_size[s];
        }
    }
    if (n == 1) return VC_OK;
    bool shared;
    vc_status st = classes_shared(ds, &shared);
    if (st) return st;
    if (!shared) {
        t->has_labels = t->has_class_embeddings = t->has_class_names = false;
        t->n_classes = 0;
    } else {
        for (int k = 0; k < n; k++) t->has_class_names &= vc_h5_get_info(ds->h[k])->has_class_names;
    }
    int64_t V = t->n_videos, C = t->n_captions;
    ds->offsets = malloc((size_t)(V + 1) * sizeof(int64_t));
    ds->text_video = malloc((size_t)(C ? C : 1) * sizeof(int64_t));
    if (shared) ds->labels = malloc((size_t)(V ? V : 1) * sizeof(int64_t));
    if (!ds->offsets || !ds->text_video || (shared && !ds->labels)) return vc_fail(VC_ERR_OOM, "data: out of memory for the indices of %lld videos and %lld captions", (long long)V, (long long)C);
    ds->offsets[0] = 0;
    for (int k = 0; k < n; k++) {
        const vc_h5_info *ik = vc_h5_get_info(ds->h[k]);
        const int64_t *off = vc_h5_offsets(ds->h[k]);
        for (int64_t v = 0; v < ik->n_videos; v++) ds->offsets[ds->vbase[k] + v + 1] = ds->fbase[k] + off[v + 1];
        const int64_t *tv = ik->n_captions ? vc_h5_caption_video(ds->h[k]) : NULL;
        for (int64_t c = 0; c < ik->n_captions; c++) ds->text_video[ds->cbase[k] + c] = ds->vbase[k] + tv[c];
        if (shared) memcpy(ds->labels + ds->vbase[k], vc_h5_labels(ds->h[k]), (size_t)ik->n_videos * sizeof(int64_t));
    }
    return VC_OK;
}

static vc_status open_common(vc_dataset **out, const char *spec, const char *const *paths, int n) {
    *out = NULL;
    vc_dataset *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->spec = strdup(spec ? spec : ""))) {
        free(ds);
        return vc_fail(VC_ERR_OOM, "data: out of memory for the dataset (%zu bytes)", sizeof *ds);
    }
    int cap = 0;
    vc_status s = VC_OK;
    if (!paths) s = expand(ds);
    for (int k = 0; k < n && !s; k++) s = add_path(ds, &cap, paths[k]);
    if (!s && ds->n == 0) s = vc_fail(VC_ERR_ARG, "data: no file given");
    if (!s && !(ds->h = calloc((size_t)ds->n, sizeof *ds->h))) s = vc_fail(VC_ERR_OOM, "data: out of memory for %d file handles", ds->n);
    for (int k = 0; k < ds->n && !s; k++) s = vc_h5_open(&ds->h[k], ds->paths[k]);
    if (!s) s = combine(ds);
    if (s) {
        vc_dataset_close(ds);
        return s;
    }
    *out = ds;
    return VC_OK;
}

vc_status vc_dataset_open(vc_dataset **out, const char *spec) { return open_common(out, spec, NULL, 0); }

vc_status vc_dataset_list(const char *spec, char ***paths, int *n) {
    *paths = NULL;
    *n = 0;
    vc_dataset ds = {.spec = (char *)spec};
    vc_status s = expand(&ds);
    if (s) {
        vc_dataset_list_free(ds.paths, ds.n);
        return s;
    }
    *paths = ds.paths;
    *n = ds.n;
    return VC_OK;
}

void vc_dataset_list_free(char **paths, int n) {
    for (int k = 0; paths && k < n; k++) free(paths[k]);
    free(paths);
}

vc_status vc_dataset_open_files(vc_dataset **out, const char *const *paths, int n) {
    return open_common(out, n > 1 ? "the listed files" : n == 1 ? paths[0] : "", paths, n);
}

void vc_dataset_close(vc_dataset *ds) {
    if (!ds) return;
    for (int k = 0; k < ds->n; k++) {
        if (ds->h) vc_h5_close(ds->h[k]);
        free(ds->paths[k]);
    }
    free(ds->h);
    free(ds->paths);
    free(ds->vbase);
    free(ds->fbase);
    free(ds->cbase);
    free(ds->offsets);
    free(ds->text_video);
    free(ds->labels);
    for (int s = 0; s < VC_NSPLITS; s++) free(ds->split_idx[s]);
    free(ds->spec);
    free(ds);
}

const vc_h5_info *vc_dataset_info(const vc_dataset *ds) { return &ds->info; }
int vc_dataset_n_files(const vc_dataset *ds) { return ds->n; }
const char *vc_dataset_path(const vc_dataset *ds, int k) { return ds->paths[k]; }
vc_h5 *vc_dataset_h5(vc_dataset *ds, int k) { return ds->h[k]; }
const char *vc_dataset_name(const vc_dataset *ds) { return ds->n == 1 ? ds->paths[0] : ds->spec; }

/* The k with base[k] <= x < base[k+1] (base[0] = 0, non-decreasing, x < base[n]). */
static int find_base(const int64_t *base, int n, int64_t x) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (base[mid] <= x) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

int vc_dataset_file_of(const vc_dataset *ds, int64_t v, int64_t *local) {
    int k = find_base(ds->vbase, ds->n, v);
    while (k + 1 < ds->n && ds->vbase[k + 1] <= v) k++; /* past files without videos */
    if (local) *local = v - ds->vbase[k];
    return k;
}

vc_status vc_dataset_split(vc_dataset *ds, const char *name, const int64_t **idx, int64_t *n) {
    *idx = NULL;
    *n = 0;
    if (strcmp(name, "all") == 0) return VC_OK;
    int which = -1;
    for (int s = 0; s < VC_NSPLITS; s++)
        if (strcmp(name, vc_split_name((vc_split)s)) == 0) which = s;
    if (which < 0) return vc_fail(VC_ERR_ARG, "unknown split '%s' (train, val, test or all)", name);
    if (ds->n == 1) return vc_h5_split(ds->h[0], (vc_split)which, idx, n);
    if (!ds->split_idx[which]) {
        int64_t total = 0;
        for (int k = 0; k < ds->n; k++) {
            const int64_t *fi;
            int64_t fn;
            vc_status s = vc_h5_split(ds->h[k], (vc_split)which, &fi, &fn);
            if (s) return s;
            total += fn;
        }
        int64_t *all = malloc((size_t)(total ? total : 1) * sizeof(int64_t));
        if (!all) return vc_fail(VC_ERR_OOM, "data: out of memory for split %s (%lld videos)", name, (long long)total);
        int64_t w = 0;
        for (int k = 0; k < ds->n; k++) {
            const int64_t *fi;
            int64_t fn;
            vc_h5_split(ds->h[k], (vc_split)which, &fi, &fn);
            for (int64_t i = 0; i < fn; i++) all[w++] = ds->vbase[k] + fi[i];
        }
        ds->split_idx[which] = all;
        ds->split_n[which] = total;
    }
    *idx = ds->split_idx[which];
    *n = ds->split_n[which];
    return VC_OK;
}

const int64_t *vc_dataset_labels(const vc_dataset *ds) {
    if (!ds->info.has_labels) return NULL;
    return ds->n == 1 ? vc_h5_labels(ds->h[0]) : ds->labels;
}

vc_status vc_dataset_read_classes(vc_dataset *ds, float *dst) {
    if (!ds->info.has_class_embeddings)
        return vc_fail(VC_ERR_FORMAT, "%s: no class embeddings shared by every file", vc_dataset_name(ds));
    return vc_h5_read_classes(ds->h[0], dst);
}

/* ---------- the source over several files ---------- */

/* Rows [r0, r0+n) of the concatenation, file by file. */
static vc_status read_rows(vc_dataset *ds, bool text, int64_t r0, int64_t n, float *dst) {
    const int64_t *base = text ? ds->cbase : ds->fbase;
    int64_t D = ds->info.dim, total = base[ds->n];
    if (r0 < 0 || n < 0 || r0 > total - n)
        return vc_fail(VC_ERR_ARG, "%s: %s rows [%lld, %lld) outside [0, %lld)", ds->spec, text ? "text" : "frame",
                       (long long)r0, (long long)(r0 + n), (long long)total);
    while (n > 0) {
        int k = find_base(base, ds->n, r0);
        while (base[k + 1] <= r0) k++;
        int64_t m = base[k + 1] - r0 < n ? base[k + 1] - r0 : n;
        vc_status s = text ? vc_h5_read_text(ds->h[k], r0 - base[k], m, dst)
                           : vc_h5_read_frames(ds->h[k], r0 - base[k], m, dst);
        if (s) return s;
        r0 += m;
        n -= m;
        dst += m * D;
    }
    return VC_OK;
}

static vc_status ds_frames(void *ctx, int64_t r0, int64_t n, float *dst) { return read_rows(ctx, false, r0, n, dst); }
static vc_status ds_text(void *ctx, int64_t c0, int64_t n, float *dst) { return read_rows(ctx, true, c0, n, dst); }

vc_status vc_dataset_source(vc_dataset *ds, vc_source *src) {
    if (ds->n == 1) {
        vc_status s = vc_source_h5(src, ds->h[0]);
        return s;
    }
    vc_source_set_h5_info(src, ds->spec, &ds->info, ds->offsets, ds->text_video);
    src->ctx = ds;
    src->read_frames = ds_frames;
    src->read_text = ds_text;
    src->close = NULL;
    return VC_OK;
}
