#include "source.h"

#include <stdlib.h>
#include <string.h>

#include "f16_fast.h"

typedef struct {
    vc_source_mem_desc d;
} mem_ctx;

static vc_status mem_read_frames(void *ctx, int64_t r0, int64_t n, float *dst) {
    const mem_ctx *m = ctx;
    int64_t D = m->d.dim, F = m->d.offsets[m->d.n_videos];
    if (r0 < 0 || n < 0 || r0 > F - n)
        return vc_fail(VC_ERR_ARG, "memory: frame rows [%lld, %lld) outside [0, %lld)", (long long)r0,
                       (long long)(r0 + n), (long long)F);
    if (m->d.frame_dtype == VC_F16)
        vc_f16_to_f32_fast(dst, (const uint16_t *)m->d.frames + r0 * D, (size_t)(n * D));
    else
        memcpy(dst, (const float *)m->d.frames + r0 * D, (size_t)(n * D) * sizeof(float));
    return VC_OK;
}

static vc_status mem_read_text(void *ctx, int64_t c0, int64_t n, float *dst) {
    const mem_ctx *m = ctx;
    int64_t D = m->d.dim, C = m->d.n_captions;
    if (!m->d.text) return vc_fail(VC_ERR_ARG, "memory: the dataset has no text embeddings");
    if (c0 < 0 || n < 0 || c0 > C - n)
        return vc_fail(VC_ERR_ARG, "memory: text rows [%lld, %lld) outside [0, %lld)", (long long)c0,
                       (long long)(c0 + n), (long long)C);
    memcpy(dst, m->d.text + c0 * D, (size_t)(n * D) * sizeof(float));
    return VC_OK;
}

vc_status vc_source_memory(vc_source *src, const vc_source_mem_desc *d) {
    memset(src, 0, sizeof *src);
    if (!d || d->dim < 1 || d->n_videos < 0 || d->n_captions < 0 || !d->offsets)
        return vc_fail(VC_ERR_ARG, "memory source: needs dim >= 1, n_videos >= 0 and offsets");
    if (d->frame_dtype != VC_F32 && d->frame_dtype != VC_F16)
        return vc_fail(VC_ERR_DTYPE, "memory source: frames must be float32 or float16, not %s",
                       vc_dtype_name(d->frame_dtype));
    if (d->offsets[0] != 0) return vc_fail(VC_ERR_FORMAT, "memory source: offsets[0] is %lld, not 0", (long long)d->offsets[0]);
    for (int64_t v = 0; v < d->n_videos; v++)
        if (d->offsets[v + 1] < d->offsets[v])
            return vc_fail(VC_ERR_FORMAT, "memory source: offsets decrease at index %lld", (long long)(v + 1));
    if (d->offsets[d->n_videos] > 0 && !d->frames) return vc_fail(VC_ERR_ARG, "memory source: frames missing");
    if (d->n_captions > 0 && !d->text_video) return vc_fail(VC_ERR_ARG, "memory source: text_video missing");
    for (int64_t c = 0; c < d->n_captions; c++)
        if (d->text_video[c] < 0 || d->text_video[c] >= d->n_videos)
            return vc_fail(VC_ERR_FORMAT, "memory source: caption %lld belongs to video %lld, outside [0, %lld)",
                           (long long)c, (long long)d->text_video[c], (long long)d->n_videos);
    mem_ctx *m = malloc(sizeof *m);
    if (!m) return vc_fail(VC_ERR_OOM, "memory source: out of memory for its state (%zu bytes)", sizeof *m);
    m->d = *d;
    src->name = "memory";
    src->dim = d->dim;
    src->n_videos = d->n_videos;
    src->n_frames = d->offsets[d->n_videos];
    src->n_captions = d->n_captions;
    src->frame_dtype = d->frame_dtype;
    src->has_text = d->n_captions > 0 && d->text != NULL;
    src->offsets = d->offsets;
    src->text_video = d->text_video;
    src->ctx = m;
    src->read_frames = mem_read_frames;
    src->read_text = mem_read_text;
    src->close = free;
    return VC_OK;
}

void vc_source_close(vc_source *src) {
    if (!src) return;
    if (src->close) src->close(src->ctx);
    memset(src, 0, sizeof *src);
}
