#include "data/h5_copy.h"

#include <stdlib.h>
#include <string.h>

enum { IDS_AT_ONCE = 4096, DEFAULT_BLOCK = 4096 };

vc_status vc_h5_copy_videos(vc_h5 *h, vc_h5w *w, const vc_progress_hook *progress) {
    const vc_h5_info *in = vc_h5_get_info(h);
    int64_t V = in->n_videos, D = in->dim;
    const int64_t *off = vc_h5_offsets(h);
    char **ids = calloc(IDS_AT_ONCE, sizeof *ids), **meta = calloc(IDS_AT_ONCE, sizeof *meta);
    float *buf = NULL;
    int64_t bcap = 0;
    vc_status s = ids && meta ? VC_OK
                              : vc_fail(VC_ERR_OOM, "%s: out of memory for %d video ids and metadata", vc_h5_path(h),
                                        IDS_AT_ONCE);
    vc_progress_report(progress, "videos copied", 0, V);
    for (int64_t v0 = 0; v0 < V && !s; v0 += IDS_AT_ONCE) {
        int64_t k = V - v0 < IDS_AT_ONCE ? V - v0 : IDS_AT_ONCE;
        if ((s = vc_h5_read_strings(h, VC_H5_IDS, v0, k, ids))) break;
        if (in->has_meta) s = vc_h5_read_strings(h, VC_H5_META, v0, k, meta); /* ids freed below */
        for (int64_t j = 0; j < k && !s; j++) {
            int64_t v = v0 + j, n = off[v + 1] - off[v];
            if (n > bcap) {
                float *nb = realloc(buf, (size_t)(n * D) * sizeof *nb);
                if (!nb) {
                    s = vc_fail(VC_ERR_OOM, "%s: out of memory for video %lld's %lld frames (%lld bytes)", vc_h5_path(h),
                                (long long)v, (long long)n, (long long)(n * D * (int64_t)sizeof *nb));
                    break;
                }
                buf = nb;
                bcap = n;
            }
            if (!(s = vc_h5_read_frames(h, off[v], n, buf))) s = vc_h5w_add_video(w, ids[j], buf, n, NULL);
            /* the metadata (data/FORMAT.md /video/meta) goes along */
            if (!s && meta[j] && meta[j][0]) s = vc_h5w_set_meta(w, v, meta[j]);
        }
        for (int64_t j = 0; j < k; j++) {
            free(ids[j]);
            free(meta[j]);
            ids[j] = meta[j] = NULL;
        }
        if (!s) vc_progress_report(progress, "videos copied", v0 + k, V);
    }
    free(ids);
    free(meta);
    free(buf);
    return s;
}

vc_status vc_h5_copy_captions(vc_h5 *h, vc_h5w *w, const vc_h5_copy_opts *o, int64_t *n_copied) {
    const vc_h5_info *in = vc_h5_get_info(h);
    int64_t C = in->n_captions, D = in->dim, B = o->block > 0 ? o->block : DEFAULT_BLOCK, copied = 0;
    const int64_t *cv = vc_h5_caption_video(h);
    bool text = in->has_captions_text, file_emb = in->has_text_embeddings && !(o->map_from_text && text);
    float *emb = malloc((size_t)(B * D) * sizeof *emb);
    char **str = text ? calloc((size_t)B, sizeof *str) : NULL;
    vc_status s = VC_OK;
    if (!emb || (text && !str))
        s = vc_fail(VC_ERR_OOM, "%s: out of memory for a block of %lld captions (%lld-wide embeddings)", vc_h5_path(h),
                    (long long)B, (long long)D);
    const char *phase = o->phase ? o->phase : "captions copied";
    if (!s) vc_progress_report(&o->progress, phase, 0, C);
    for (int64_t c0 = 0; c0 < C && !s; c0 += B) {
        int64_t k = C - c0 < B ? C - c0 : B, any = 0;
        for (int64_t j = 0; j < k; j++) any += !o->newidx || o->newidx[cv[c0 + j]] >= 0;
        if (!any) {
            vc_progress_report(&o->progress, phase, c0 + k, C);
            continue;
        }
        bool has_emb = file_emb;
        if (text) s = vc_h5_read_strings(h, VC_H5_CAPTIONS, c0, k, str);
        if (!s && file_emb) s = vc_h5_read_text(h, c0, k, emb);
        if (!s && o->map) s = o->map(o->ctx, text ? str : NULL, emb, k, &has_emb);
        for (int64_t j = 0; j < k && !s; j++) {
            int64_t v = o->newidx ? o->newidx[cv[c0 + j]] : cv[c0 + j];
            if (v < 0) continue;
            s = vc_h5w_add_caption(w, v, text ? str[j] : NULL, has_emb ? emb + j * D : NULL);
            copied += !s;
        }
        for (int64_t j = 0; text && j < k; j++) {
            free(str[j]);
            str[j] = NULL;
        }
        if (!s) vc_progress_report(&o->progress, phase, c0 + k, C);
    }
    free(emb);
    free(str);
    if (n_copied) *n_copied = copied;
    return s;
}

vc_status vc_h5_copy_splits(vc_h5 *h, vc_h5w *w, const vc_h5_copy_opts *o) {
    const vc_h5_info *in = vc_h5_get_info(h);
    int64_t V = in->n_videos;
    int64_t *tmp = o->newidx ? malloc((size_t)(V ? V : 1) * sizeof *tmp) : NULL;
    if (o->newidx && !tmp)
        return vc_fail(VC_ERR_OOM, "%s: out of memory for a split of %lld videos", vc_h5_path(h), (long long)V);
    vc_status s = VC_OK;
    for (int sp = 0; sp < VC_NSPLITS && !s; sp++) {
        if (!in->has_split[sp]) continue;
        const int64_t *idx;
        int64_t n, m = 0;
        if ((s = vc_h5_split(h, (vc_split)sp, &idx, &n))) break;
        if (!o->newidx) {
            s = vc_h5w_set_split(w, vc_split_name((vc_split)sp), idx, n);
            continue;
        }
        for (int64_t i = 0; i < n; i++)
            if (o->newidx[idx[i]] >= 0) tmp[m++] = o->newidx[idx[i]];
        if (m > 0) s = vc_h5w_set_split(w, vc_split_name((vc_split)sp), tmp, m);
    }
    free(tmp);
    return s;
}

vc_status vc_h5_copy_classes(vc_h5 *h, vc_h5w *w, const vc_h5_copy_opts *o, int64_t *n_classes) {
    if (n_classes) *n_classes = 0;
    const vc_h5_info *in = vc_h5_get_info(h);
    if (!in->has_class_names) return VC_OK;
    int64_t K = in->n_classes, D = in->dim, V = in->n_videos;
    bool has_emb = in->has_class_embeddings && !o->map_from_text;
    char **names = calloc((size_t)(K ? K : 1), sizeof *names);
    size_t n_ce = (size_t)(K * D);
    float *ce = malloc((n_ce ? n_ce : 1) * sizeof *ce);
    vc_status s = VC_OK;
    if (!names || !ce)
        s = vc_fail(VC_ERR_OOM, "%s: out of memory for %lld class names and embeddings", vc_h5_path(h), (long long)K);
    if (!s) s = vc_h5_read_strings(h, VC_H5_CLASS_NAMES, 0, K, names);
    if (!s && has_emb) s = vc_h5_read_classes(h, ce);
    if (!s && o->map) s = o->map(o->ctx, names, ce, K, &has_emb);
    if (!s) s = vc_h5w_set_classes(w, (const char *const *)names, K, has_emb ? ce : NULL);
    if (!s && in->has_labels) {
        const int64_t *lab = vc_h5_labels(h);
        if (!o->sel) s = vc_h5w_set_labels(w, lab, V);
        else {
            int64_t *tmp = malloc((size_t)(o->n_sel ? o->n_sel : 1) * sizeof *tmp);
            if (!tmp)
                s = vc_fail(VC_ERR_OOM, "%s: out of memory for the labels of %lld videos", vc_h5_path(h),
                            (long long)o->n_sel);
            for (int64_t i = 0; !s && i < o->n_sel; i++) tmp[i] = lab[o->sel[i]];
            if (!s) s = vc_h5w_set_labels(w, tmp, o->n_sel);
            free(tmp);
        }
    }
    if (!s && n_classes) *n_classes = K;
    for (int64_t k = 0; names && k < K; k++) free(names[k]);
    free(names);
    free(ce);
    return s;
}
