#include "data/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const float vc_clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
const float vc_clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};

/* Pillow's fixed point: 32 bits minus 8 for the pixel minus 2 for headroom
 * (weights of a bicubic kernel sum to 1 but their magnitudes to more). */
#define FIX_BITS 22

void vc_clip_resize_size(int w, int h, int size, int *rw, int *rh) {
    /* torchvision: new_long = int(size * long / short), a float division. */
    int shorter = w <= h ? w : h, longer = w <= h ? h : w;
    int nl = (int)((double)((int64_t)size * longer) / (double)shorter);
    if (w <= h) {
        *rw = size;
        *rh = nl;
    } else {
        *rw = nl;
        *rh = size;
    }
}

/* int(round((full - size) / 2.0)) with Python's round: halves go to even. */
int vc_clip_crop_offset(int full, int size) {
    int d = full - size;
    if (d % 2 == 0) return d / 2;
    int lo = (d - 1) / 2;  /* d / 2 = lo + 0.5 */
    return lo % 2 == 0 ? lo : lo + 1;
}

/* Keys' cubic convolution kernel with a = -0.5, the one Pillow calls BICUBIC. */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

static void pass_free(vc_resample_pass *ps) {
    free(ps->w);
    free(ps->x0);
    free(ps->n);
    memset(ps, 0, sizeof *ps);
}

/* Weights for outputs first .. first + count - 1 of an in_size -> out_size
 * resize. Pillow computes each tap in double, normalises the taps to sum 1,
 * then rounds them half away from zero to FIX_BITS fixed point; doing the
 * same operations in the same order gives the same integers. */
static vc_status pass_init(vc_resample_pass *ps, int in_size, int out_size, int first, int count) {
    memset(ps, 0, sizeof *ps);
    ps->out = count;
    if (in_size == out_size) {
        ps->identity = 1;
        ps->offset = first;
        return VC_OK;
    }
    double scale = (double)in_size / out_size;
    double fscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * fscale;
    int k = (int)ceil(support) * 2 + 1;
    ps->k = k;
    ps->w = calloc((size_t)count * (size_t)k, sizeof *ps->w);
    ps->x0 = malloc((size_t)count * sizeof *ps->x0);
    ps->n = malloc((size_t)count * sizeof *ps->n);
    double *tap = malloc((size_t)k * sizeof *tap);
    if (!ps->w || !ps->x0 || !ps->n || !tap) {
        free(tap);
        pass_free(ps);
        return vc_fail(VC_ERR_OOM, "preprocess: cannot allocate resize weights (%d outputs x %d taps)", count, k);
    }
    double inv = 1.0 / fscale;
    for (int i = 0; i < count; i++) {
        int xx = first + i;
        double center = (xx + 0.5) * scale;
        int lo = (int)(center - support + 0.5);  /* truncation, as Pillow */
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        if (n > k) n = k;  /* cannot happen; guards the buffer */
        double sum = 0.0;
        for (int t = 0; t < n; t++) {
            tap[t] = bicubic((t + lo - center + 0.5) * inv);
            sum += tap[t];
        }
        int32_t *w = ps->w + (size_t)i * k;
        for (int t = 0; t < n; t++) {
            double v = sum != 0.0 ? tap[t] / sum : tap[t];
            w[t] = v < 0 ? (int32_t)(-0.5 + v * (1 << FIX_BITS)) : (int32_t)(0.5 + v * (1 << FIX_BITS));
        }
        ps->x0[i] = lo;
        ps->n[i] = n;
    }
    free(tap);
    return VC_OK;
}

static inline uint8_t clip8(int32_t acc) {
    if (acc >= (1 << FIX_BITS << 8)) return 255;
    if (acc <= 0) return 0;
    return (uint8_t)(acc >> FIX_BITS);
}

void vc_clip_prep_free(vc_clip_prep *p) {
    pass_free(&p->h);
    pass_free(&p->v);
    free(p->tmp);
    free(p->crop);
    memset(p, 0, sizeof *p);
}

vc_status vc_clip_prep_init(vc_clip_prep *p, int w, int h, int size) {
    memset(p, 0, sizeof *p);
    if (w < 1 || h < 1 || size < 1)
        return vc_fail(VC_ERR_ARG, "preprocess: image %dx%d to crop %d: sizes must be positive", w, h, size);
    if ((int64_t)size * (w > h ? w : h) / (w < h ? w : h) > (1 << 30))
        return vc_fail(VC_ERR_ARG, "preprocess: image %dx%d has an aspect ratio too extreme to resize", w, h);
    p->in_w = w;
    p->in_h = h;
    p->size = size;
    vc_clip_resize_size(w, h, size, &p->rs_w, &p->rs_h);
    p->crop_x = vc_clip_crop_offset(p->rs_w, size);
    p->crop_y = vc_clip_crop_offset(p->rs_h, size);
    vc_status st = pass_init(&p->h, w, p->rs_w, p->crop_x, size);
    if (st == VC_OK) st = pass_init(&p->v, h, p->rs_h, p->crop_y, size);
    if (st != VC_OK) {
        vc_clip_prep_free(p);
        return st;
    }
    if (p->v.identity) {
        p->row0 = p->crop_y;
        p->rows = size;
    } else {
        /* Tap windows move monotonically with the output index. */
        p->row0 = p->v.x0[0];
        p->rows = p->v.x0[size - 1] + p->v.n[size - 1] - p->row0;
    }
    p->tmp = malloc((size_t)p->rows * size * 3);
    p->crop = malloc((size_t)size * size * 3);
    if (!p->tmp || !p->crop) {
        vc_clip_prep_free(p);
        return vc_fail(VC_ERR_OOM, "preprocess: cannot allocate buffers for a %dx%d image", w, h);
    }
    return VC_OK;
}

/* src: one row of RGB pixels; dst: S RGB pixels. */
static void hpass_row(const vc_resample_pass *ps, const uint8_t *src, uint8_t *dst) {
    if (ps->identity) {
        memcpy(dst, src + (size_t)ps->offset * 3, (size_t)ps->out * 3);
        return;
    }
    for (int i = 0; i < ps->out; i++) {
        const int32_t *w = ps->w + (size_t)i * ps->k;
        const uint8_t *s = src + (size_t)ps->x0[i] * 3;
        int32_t a0 = 1 << (FIX_BITS - 1), a1 = a0, a2 = a0;
        for (int t = 0; t < ps->n[i]; t++) {
            a0 += s[3 * t + 0] * w[t];
            a1 += s[3 * t + 1] * w[t];
            a2 += s[3 * t + 2] * w[t];
        }
        dst[3 * i + 0] = clip8(a0);
        dst[3 * i + 1] = clip8(a1);
        dst[3 * i + 2] = clip8(a2);
    }
}

void vc_clip_prep_u8(vc_clip_prep *p, const uint8_t *rgb, ptrdiff_t stride, uint8_t *out) {
    int S = p->size;
    size_t row = (size_t)S * 3;
    /* Horizontal pass first, as Pillow, over the source rows the crop needs. */
    for (int r = 0; r < p->rows; r++) hpass_row(&p->h, rgb + (ptrdiff_t)(p->row0 + r) * stride, p->tmp + r * row);
    if (p->v.identity) {
        memcpy(out, p->tmp, row * S);
        return;
    }
    /* Vertical pass row by row: a whole row of accumulators per tap keeps the
     * inner loop contiguous (it vectorises). */
    int32_t acc[3 * 4096];
    for (int i = 0; i < S; i++) {
        const int32_t *w = p->v.w + (size_t)i * p->v.k;
        const uint8_t *base = p->tmp + (size_t)(p->v.x0[i] - p->row0) * row;
        uint8_t *o = out + (size_t)i * row;
        for (size_t j0 = 0; j0 < row; j0 += 3 * 4096) {
            size_t m = row - j0 < 3 * 4096 ? row - j0 : 3 * 4096;
            for (size_t j = 0; j < m; j++) acc[j] = 1 << (FIX_BITS - 1);
            for (int t = 0; t < p->v.n[i]; t++) {
                const uint8_t *s = base + t * row + j0;
                int32_t wt = w[t];
                for (size_t j = 0; j < m; j++) acc[j] += s[j] * wt;
            }
            for (size_t j = 0; j < m; j++) o[j0 + j] = clip8(acc[j]);
        }
    }
}

void vc_clip_normalize(const uint8_t *hwc, int size, float *chw) {
    size_t n = (size_t)size * size;
    for (int c = 0; c < 3; c++) {
        float m = vc_clip_mean[c], s = vc_clip_std[c];
        float *o = chw + c * n;
        /* float32 throughout, in torchvision's order: v / 255, - mean, / std. */
        for (size_t i = 0; i < n; i++) o[i] = ((float)hwc[3 * i + c] / 255.0f - m) / s;
    }
}

void vc_clip_prep_run(vc_clip_prep *p, const uint8_t *rgb, ptrdiff_t stride, float *out) {
    vc_clip_prep_u8(p, rgb, stride, p->crop);
    vc_clip_normalize(p->crop, p->size, out);
}

vc_status vc_clip_preprocess(const uint8_t *rgb, int w, int h, ptrdiff_t stride, int size, float *out) {
    vc_clip_prep p;
    vc_status st = vc_clip_prep_init(&p, w, h, size);
    if (st != VC_OK) return st;
    vc_clip_prep_run(&p, rgb, stride, out);
    vc_clip_prep_free(&p);
    return VC_OK;
}
