/* preprocess.h: CLIP image preprocessing of one RGB24 frame into a float
 * [3, S, S] tensor, the same numbers as CLIP's Python transform on a PIL image:
 *   Resize(S, BICUBIC)  shorter side to S, the other int(S * long / short)
 *   CenterCrop(S)       top = round_half_even((h - S) / 2), same for left
 *   ToTensor            uint8 / 255 in float32
 *   Normalize           (x - mean) / std with CLIP's mean and std.
 * The resize reproduces Pillow's 8-bit two-pass resampler (Keys bicubic,
 * a = -0.5, support widened by the shrink factor, 22-bit fixed-point
 * weights, rounding and clamping to uint8 after the horizontal pass and
 * again after the vertical one), so it agrees with Pillow to the last bit.
 * Only the S x S pixels kept by the crop are computed.
 * Owns: the resampling plan and the normalisation. Not: decoding (video.h),
 * batching or the model. A plan fits one input size (re-plan when a
 * video's frame size changes) and has scratch buffers: one plan per thread.
 * Cost: about 5 ms for a 1920x1080 frame on one core. */
#ifndef VC_DATA_PREPROCESS_H
#define VC_DATA_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"

#define VC_CLIP_SIZE 224

extern const float vc_clip_mean[3];
extern const float vc_clip_std[3];

/* One separable pass: for output i, n[i] taps starting at source index
 * x0[i], weights w[i * k .. i * k + n[i]) in 22-bit fixed point. */
typedef struct {
    int out;         /* outputs kept (S) */
    int k;           /* weights stored per output */
    int32_t *w;
    int *x0, *n;
    int identity;    /* same size as the source: a plain copy (Pillow skips the pass) */
    int offset;      /* identity: first source index kept (the crop offset) */
} vc_resample_pass;

/* Everything that depends only on the input size: frames of one video share
 * a plan. */
typedef struct {
    int in_w, in_h, size;
    int rs_w, rs_h;          /* size after the resize, before the crop */
    int crop_x, crop_y;      /* crop offset within the resized image */
    vc_resample_pass h, v;
    int row0, rows;          /* source rows the vertical pass reads */
    uint8_t *tmp;            /* [rows, S, 3] horizontal pass output */
    uint8_t *crop;           /* [S, S, 3] resized and cropped pixels */
} vc_clip_prep;

/* Plans the resize of a w x h image to an S x S crop. Errors: sizes < 1. */
vc_status vc_clip_prep_init(vc_clip_prep *p, int w, int h, int size);
void vc_clip_prep_free(vc_clip_prep *p);

/* rgb: in_h rows of in_w * 3 bytes (R, G, B), stride bytes apart.
 * out: [S, S, 3] uint8, the resized and cropped image (Pillow's pixels). */
void vc_clip_prep_u8(vc_clip_prep *p, const uint8_t *rgb, ptrdiff_t stride, uint8_t *out);

/* The whole transform. out: [3, S, S] float32, planar (CHW), normalised. */
void vc_clip_prep_run(vc_clip_prep *p, const uint8_t *rgb, ptrdiff_t stride, float *out);

/* hwc: [S, S, 3] uint8 -> chw: [3, S, S] float32, (v / 255 - mean) / std. */
void vc_clip_normalize(const uint8_t *hwc, int size, float *chw);

/* One-shot form of init + run + free, for single images. */
vc_status vc_clip_preprocess(const uint8_t *rgb, int w, int h, ptrdiff_t stride, int size, float *out);

/* torchvision's size rules, exposed for tests and callers that need them:
 * the resized size (*rw, *rh) and the crop offsets. */
void vc_clip_resize_size(int w, int h, int size, int *rw, int *rh);
int vc_clip_crop_offset(int full, int size);

#endif
