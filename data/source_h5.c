#include "source_h5.h"

#include <string.h>

static vc_status h5_frames(void *ctx, int64_t r0, int64_t n, float *dst) {
    return vc_h5_read_frames(ctx, r0, n, dst);
}

static vc_status h5_text(void *ctx, int64_t c0, int64_t n, float *dst) {
    return vc_h5_read_text(ctx, c0, n, dst);
}

static void h5_close(void *ctx) { vc_h5_close(ctx); }

void vc_source_set_h5_info(vc_source *src, const char *name, const vc_h5_info *in, const int64_t *offsets,
                           const int64_t *text_video) {
    memset(src, 0, sizeof *src);
    src->name = name;
    src->dim = in->dim;
    src->n_videos = in->n_videos;
    src->n_frames = in->n_frames;
    src->n_captions = in->n_captions;
    src->frame_dtype = in->frame_dtype;
    src->has_text = in->n_captions > 0 && in->has_text_embeddings;
    src->offsets = offsets;
    src->text_video = in->n_captions > 0 ? text_video : NULL;
}

vc_status vc_source_h5(vc_source *src, vc_h5 *h) {
    memset(src, 0, sizeof *src);
    if (!h) return vc_fail(VC_ERR_ARG, "vc_source_h5: no file handle");
    const vc_h5_info *in = vc_h5_get_info(h);
    vc_source_set_h5_info(src, vc_h5_path(h), in, vc_h5_offsets(h), in->n_captions > 0 ? vc_h5_caption_video(h) : NULL);
    src->ctx = h;
    src->read_frames = h5_frames;
    src->read_text = h5_text;
    src->close = NULL;
    return VC_OK;
}

vc_status vc_source_open_h5(vc_source *src, const char *path, vc_h5 **h_out) {
    memset(src, 0, sizeof *src);
    if (h_out) *h_out = NULL;
    vc_h5 *h;
    vc_status s = vc_h5_open(&h, path);
    if (s) return s;
    s = vc_source_h5(src, h);
    if (s) {
        vc_h5_close(h);
        return s;
    }
    src->close = h5_close;
    if (h_out) *h_out = h;
    return VC_OK;
}
