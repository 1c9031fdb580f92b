/* test_video.c: video decoding and CLIP preprocessing.
 * Preprocessing is compared with Pillow (tests/ref_preprocess.py: Pillow's
 * bicubic resize with torchvision's Resize and CenterCrop size rules) on
 * random and structured images of odd sizes. Decoding runs on files made here
 * with the ffmpeg command: H.264 in MP4, VP9 in WebM at an odd size, a
 * variable frame rate, solid colours (RGB order), truncated files, PNG and
 * JPEG stills, and files that are not videos. Without Pillow or ffmpeg those
 * tests print SKIP and are not registered. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/preprocess.h"
#include "data/video.h"
#include "harness.h"

/* ---- helpers ------------------------------------------------------------ */


static bool have_encoder(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' %s '", name);
    return system(cmd) == 0;
}

/* H.264 when this ffmpeg has libx264, MPEG-4 part 2 otherwise. */
static const char *mp4_codec(void) {
    static const char *c;
    if (!c) c = have_encoder("libx264") ? "libx264 -pix_fmt yuv420p" : "mpeg4 -q:v 3 -pix_fmt yuv420p";
    return c;
}

/* Runs `ffmpeg ARGS OUT` once per process; returns the output path. */
static const char *make_media(const char *name, const char *args) {
    const char *out = vc_test_path(name);
    struct stat sb;
    if (stat(out, &sb) == 0) return out;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -hide_banner -loglevel error -y %s '%s' >/dev/null 2>&1", args, out);
    ck_assert_msg(system(cmd) == 0, "ffmpeg failed: %s", cmd);
    return out;
}

static long file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static const char *truncated_copy(const char *src, const char *name, double keep) {
    const char *dst = vc_test_path(name);
    long n = file_size(src);
    ck_assert_int_gt(n, 0);
    long m = (long)(n * keep);
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    char *buf = malloc((size_t)m);
    ck_assert_uint_eq(fread(buf, 1, (size_t)m, a), (size_t)m);
    ck_assert_uint_eq(fwrite(buf, 1, (size_t)m, b), (size_t)m);
    free(buf);
    fclose(a);
    fclose(b);
    return dst;
}

/* Every sample of a file, with a few numbers per sample. */
#define MAX_SAMPLES 64
typedef struct {
    int n;
    double time[MAX_SAMPLES], pts[MAX_SAMPLES];
    int w[MAX_SAMPLES], h[MAX_SAMPLES];
    double mean[MAX_SAMPLES][3];  /* mean R, G, B */
    int min[3], max[3];           /* over all samples */
    int stop_after;               /* > 0: fail the callback after this many */
    const uint8_t *expect;        /* when set: packed RGB every sample must equal */
    int mismatches;
} collect;

static vc_status collect_fn(void *ctx, const vc_video_frame *f) {
    collect *c = ctx;
    if (c->stop_after > 0 && c->n >= c->stop_after) return vc_fail(VC_ERR_ARG, "enough");
    ck_assert_int_lt(c->n, MAX_SAMPLES);
    int i = c->n++;
    c->time[i] = f->time;
    c->pts[i] = f->pts;
    c->w[i] = f->width;
    c->h[i] = f->height;
    ck_assert_int_ge(f->stride, f->width * 3);
    double s[3] = {0, 0, 0};
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++)
            for (int ch = 0; ch < 3; ch++) {
                int v = f->rgb[y * f->stride + x * 3 + ch];
                s[ch] += v;
                if (i == 0 && x == 0 && y == 0) c->min[ch] = c->max[ch] = v;
                if (v < c->min[ch]) c->min[ch] = v;
                if (v > c->max[ch]) c->max[ch] = v;
            }
    for (int ch = 0; ch < 3; ch++) c->mean[i][ch] = s[ch] / ((double)f->width * f->height);
    if (c->expect)
        for (int y = 0; y < f->height; y++)
            c->mismatches += memcmp(f->rgb + y * f->stride, c->expect + (size_t)y * f->width * 3, (size_t)f->width * 3) != 0;
    return VC_OK;
}

static vc_status decode_expect(const char *path, double fps, collect *c, vc_video_info *info, const uint8_t *expect) {
    memset(c, 0, sizeof *c);
    c->expect = expect;
    vc_video_opts o = {fps, 1};
    return vc_video_decode(path, &o, collect_fn, c, info);
}

static vc_status decode_all(const char *path, double fps, collect *c, vc_video_info *info) {
    return decode_expect(path, fps, c, info, NULL);
}

/* ---- preprocessing: size rules and normalisation ------------------------ */

START_TEST(test_resize_and_crop_follow_torchvision_size_rules) {
    int w, h;
    vc_clip_resize_size(320, 240, 224, &w, &h);
    ck_assert_int_eq(w, 298);  /* int(224 * 320 / 240) = int(298.67) */
    ck_assert_int_eq(h, 224);
    vc_clip_resize_size(241, 367, 224, &w, &h);
    ck_assert_int_eq(w, 224);
    ck_assert_int_eq(h, 341);  /* 341.1 */
    vc_clip_resize_size(100, 50, 224, &w, &h);
    ck_assert_int_eq(w, 448);
    ck_assert_int_eq(h, 224);
    vc_clip_resize_size(1, 1, 224, &w, &h);
    ck_assert_int_eq(w, 224);
    ck_assert_int_eq(h, 224);
    /* Python's round: halves go to the even neighbour. */
    ck_assert_int_eq(vc_clip_crop_offset(241, 224), 8);   /* 8.5 */
    ck_assert_int_eq(vc_clip_crop_offset(243, 224), 10);  /* 9.5 */
    ck_assert_int_eq(vc_clip_crop_offset(225, 224), 0);   /* 0.5 */
    ck_assert_int_eq(vc_clip_crop_offset(227, 224), 2);   /* 1.5 */
    ck_assert_int_eq(vc_clip_crop_offset(298, 224), 37);
    ck_assert_int_eq(vc_clip_crop_offset(224, 224), 0);
}
END_TEST

START_TEST(test_constant_image_normalises_to_clip_constants) {
    const int W = 37, H = 53, S = 224;
    uint8_t *img = malloc((size_t)W * H * 3);
    const uint8_t col[3] = {200, 17, 255};
    for (int i = 0; i < W * H; i++) memcpy(img + 3 * i, col, 3);
    float *out = malloc(sizeof(float) * 3 * S * S);
    ck_assert_int_eq(vc_clip_preprocess(img, W, H, W * 3, S, out), VC_OK);
    for (int c = 0; c < 3; c++) {
        float want = ((float)col[c] / 255.0f - vc_clip_mean[c]) / vc_clip_std[c];
        for (int i = 0; i < S * S; i++) ck_assert_float_eq(out[c * S * S + i], want);
    }
    free(img);
    free(out);
}
END_TEST

START_TEST(test_same_size_image_is_copied_and_planar) {
    /* 4x4 to 4x4: no resampling, so the output is the input in CHW order. */
    const int S = 4;
    uint8_t img[4 * 4 * 3];
    for (int i = 0; i < 48; i++) img[i] = (uint8_t)(i * 5);
    float out[3 * 16];
    ck_assert_int_eq(vc_clip_preprocess(img, S, S, S * 3, S, out), VC_OK);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 16; i++) {
            float want = ((float)img[3 * i + c] / 255.0f - vc_clip_mean[c]) / vc_clip_std[c];
            ck_assert_float_eq(out[c * 16 + i], want);
        }
}
END_TEST

START_TEST(test_bad_sizes_are_errors) {
    vc_clip_prep p;
    ck_assert_int_eq(vc_clip_prep_init(&p, 0, 10, 224), VC_ERR_ARG);
    ck_assert_int_eq(vc_clip_prep_init(&p, 10, 10, 0), VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "0x10"));
}
END_TEST

/* ---- preprocessing against Pillow --------------------------------------- */

static void write_ppm(const char *path, const uint8_t *rgb, int w, int h) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "P6\n%d %d\n255\n", w, h);
    ck_assert_uint_eq(fwrite(rgb, 3, (size_t)w * h, f), (size_t)w * h);
    fclose(f);
}

/* kind 0: uniform noise; 1: gradients, hard edges, a fine checkerboard and
 * thin lines (overshoot and clamping); 2: smooth blobs. */
static void make_image(uint8_t *img, int w, int h, int kind, vc_rng *r) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img + ((size_t)y * w + x) * 3;
            if (kind == 0) {
                for (int c = 0; c < 3; c++) p[c] = (uint8_t)(vc_rng_uniform(r) * 256.0);
            } else if (kind == 1) {
                p[0] = (uint8_t)(255 * x / (w > 1 ? w - 1 : 1));
                p[1] = ((x / 3 + y / 3) % 2) ? 255 : 0;
                p[2] = (x > w / 3 && x < 2 * w / 3) ? 230 : (y % 7 == 0 ? 255 : 10);
            } else {
                double fx = (double)x / w, fy = (double)y / h;
                p[0] = (uint8_t)(127.5 + 127.5 * sin(6.0 * fx + 2.0 * fy));
                p[1] = (uint8_t)(127.5 + 127.5 * cos(9.0 * fy * fx));
                p[2] = (uint8_t)(255.0 * fx * fy);
            }
        }
}

START_TEST(test_preprocess_matches_pillow_bicubic_on_odd_sizes) {
    static const int sizes[][3] = {
        /* w, h, S */
        {320, 240, 224}, {241, 367, 224}, {640, 360, 224}, {100, 50, 224}, {224, 224, 224},
        {1, 1, 224},     {225, 224, 224}, {7, 500, 224},   {1280, 720, 224}, {223, 225, 224},
        {321, 239, 64},  {50, 80, 336},
    };
    const int N = (int)(sizeof sizes / sizeof sizes[0]), KINDS = 3;
    vc_rng r;
    vc_rng_seed(&r, 1234);
    char cmd[16384];
    /* One Python run per crop size. */
    for (int pass = 0; pass < 3; pass++) {
        int S = pass == 0 ? 224 : pass == 1 ? 64 : 336;
        int len = snprintf(cmd, sizeof cmd, "%s tests/ref_preprocess.py %d", vc_test_python(), S);
        for (int i = 0; i < N; i++) {
            if (sizes[i][2] != S) continue;
            for (int kind = 0; kind < KINDS; kind++) {
                char a[64], b[64];
                snprintf(a, sizeof a, "img%d_%d.ppm", i, kind);
                snprintf(b, sizeof b, "ref%d_%d.f32", i, kind);
                len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s %s", vc_test_path(a), vc_test_path(b));
            }
        }
        for (int i = 0; i < N; i++) {
            if (sizes[i][2] != S) continue;
            int w = sizes[i][0], h = sizes[i][1];
            uint8_t *img = malloc((size_t)w * h * 3);
            for (int kind = 0; kind < KINDS; kind++) {
                char a[64];
                snprintf(a, sizeof a, "img%d_%d.ppm", i, kind);
                make_image(img, w, h, kind, &r);
                write_ppm(vc_test_path(a), img, w, h);
            }
            free(img);
        }
        ck_assert_msg(system(cmd) == 0, "reference failed: %s", cmd);
    }

    double worst_mean = 0, worst_max = 0;
    for (int i = 0; i < N; i++) {
        int w = sizes[i][0], h = sizes[i][1], S = sizes[i][2];
        size_t n = (size_t)3 * S * S;
        uint8_t *img = malloc((size_t)w * h * 3);
        float *out = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
        vc_clip_prep p;
        ck_assert_int_eq(vc_clip_prep_init(&p, w, h, S), VC_OK);
        for (int kind = 0; kind < KINDS; kind++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "img%d_%d.ppm", i, kind);
            snprintf(b, sizeof b, "ref%d_%d.f32", i, kind);
            /* Read the image back from the PPM so both sides see the same bytes. */
            FILE *f = fopen(vc_test_path(a), "rb");
            ck_assert_ptr_nonnull(f);
            int rw, rh, mx;
            ck_assert_int_eq(fscanf(f, "P6 %d %d %d", &rw, &rh, &mx), 3);
            fgetc(f);
            ck_assert_uint_eq(fread(img, 3, (size_t)w * h, f), (size_t)w * h);
            fclose(f);
            f = fopen(vc_test_path(b), "rb");
            ck_assert_ptr_nonnull(f);
            ck_assert_uint_eq(fread(ref, sizeof(float), n, f), n);
            fclose(f);

            /* Rows padded past w * 3 check that the stride is honoured. */
            ptrdiff_t stride = (ptrdiff_t)w * 3 + 5;
            uint8_t *padded = calloc((size_t)stride * h, 1);
            for (int y = 0; y < h; y++) memcpy(padded + y * stride, img + (size_t)y * w * 3, (size_t)w * 3);
            vc_clip_prep_run(&p, padded, stride, out);
            free(padded);
            double sum = 0, mxd = 0;
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < S * S; k++) {
                    size_t idx = (size_t)c * S * S + k;
                    double v01 = (double)out[idx] * vc_clip_std[c] + vc_clip_mean[c];  /* undo Normalize */
                    double d = fabs(v01 - ref[idx]);
                    sum += d;
                    if (d > mxd) mxd = d;
                }
            double mean = sum / (double)n;
            ck_assert_msg(mean < 2.0 / 255.0, "%dx%d kind %d S %d: mean |diff| %.5f >= 2/255", w, h, kind, S, mean);
            /* The resampler reproduces Pillow's integer arithmetic: any
             * difference beyond float rounding means it no longer does. */
            ck_assert_msg(mxd < 1e-5, "%dx%d kind %d S %d: max |diff| %.6f (%.2f/255)", w, h, kind, S, mxd, mxd * 255);
            if (mean > worst_mean) worst_mean = mean;
            if (mxd > worst_max) worst_max = mxd;
        }
        vc_clip_prep_free(&p);
        free(img);
        free(out);
        free(ref);
    }
    printf("preprocess vs Pillow: worst mean |diff| %.2e, worst max |diff| %.2e (in [0,1] units)\n", worst_mean, worst_max);
}
END_TEST

/* ---- decoding ----------------------------------------------------------- */

static const char *h264_5s(void) {
    char args[512];
    snprintf(args, sizeof args, "-f lavfi -i testsrc=size=320x240:rate=25:duration=5 -c:v %s", mp4_codec());
    return make_media("cfr5.mp4", args);
}

START_TEST(test_mp4_5s_at_1fps_gives_5_frames_at_whole_seconds) {
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(h264_5s(), 1.0, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 5);
    ck_assert_int_eq(info.samples, 5);
    ck_assert_int_eq(info.decoded, 125);
    ck_assert_int_eq(info.truncated, 0);
    ck_assert_int_eq(info.errors, 0);
    ck_assert_str_eq(info.message, "");
    for (int i = 0; i < 5; i++) {
        ck_assert_double_eq_tol(c.time[i], i, 1e-9);
        /* The last frame at or before the target: here exactly on it. */
        ck_assert_double_eq_tol(c.pts[i], i, 1e-6);
        ck_assert_int_eq(c.w[i], 320);
        ck_assert_int_eq(c.h[i], 240);
    }
}
END_TEST

START_TEST(test_other_rates_sample_by_time) {
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(h264_5s(), 2.0, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 10);
    /* 25 fps: t = 0.5 falls between frames at 0.48 and 0.52 and gets 0.48. */
    for (int i = 0; i < 10; i++) ck_assert_double_eq_tol(c.pts[i], i % 2 ? 0.5 * i - 0.02 : 0.5 * i, 1e-6);
    /* 0.3 fps: targets 0, 3.33 s; the frame shown at 3.33 s started at 3.32 s. */
    ck_assert_int_eq(decode_all(h264_5s(), 0.3, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 2);
    ck_assert_double_eq_tol(c.pts[1], 3.32, 1e-6);
    ck_assert_double_eq_tol(c.time[1], 10.0 / 3.0, 1e-4);
    /* Default options mean 1 fps. */
    vc_video *v;
    ck_assert_int_eq(vc_video_open(h264_5s(), NULL, &v), VC_OK);
    vc_video_frame f;
    int got, n = 0;
    while (vc_video_next(v, &f, &got) == VC_OK && got) {
        ck_assert_int_eq(f.index, n);
        n++;
    }
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(n, 5);
    vc_video_close(v);
}
END_TEST

START_TEST(test_vp9_webm_odd_size) {
    const char *p = make_media("odd.webm", "-f lavfi -i testsrc=size=321x239:rate=30:duration=3 "
                                           "-c:v libvpx-vp9 -pix_fmt yuv420p -b:v 300k -deadline realtime");
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(p, 1.0, &c, &info), VC_OK);
    ck_assert_str_eq(info.codec, "vp9");
    ck_assert_int_eq(c.n, 3);
    ck_assert_int_eq(info.decoded, 90);
    ck_assert_int_eq(info.truncated, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(c.w[i], 321);
        ck_assert_int_eq(c.h[i], 239);
        ck_assert_double_eq_tol(c.pts[i], i, 1e-3);
    }
    /* An odd-sized frame goes through preprocessing too. */
    vc_video *v;
    ck_assert_int_eq(vc_video_open(p, NULL, &v), VC_OK);
    vc_video_frame f;
    int got;
    ck_assert_int_eq(vc_video_next(v, &f, &got), VC_OK);
    ck_assert_int_eq(got, 1);
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    ck_assert_int_eq(vc_clip_preprocess(f.rgb, f.width, f.height, f.stride, 224, out), VC_OK);
    for (int i = 0; i < 3 * 224 * 224; i++) ck_assert(out[i] > -1.8f && out[i] < 2.2f);
    free(out);
    vc_video_close(v);
}
END_TEST

/* A solid red video must come out red, not blue: catches BGR. */
START_TEST(test_solid_colours_decode_in_rgb_order) {
    char args[512];
    snprintf(args, sizeof args, "-f lavfi -i color=c=red:size=64x48:rate=10:duration=2 -c:v %s", mp4_codec());
    const char *red = make_media("red.mp4", args);
    snprintf(args, sizeof args, "-f lavfi -i color=c=0x0000FF:size=64x48:rate=10:duration=2 -c:v %s", mp4_codec());
    const char *blue = make_media("blue.mp4", args);
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(red, 1.0, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 2);
    ck_assert_int_ge(c.min[0], 240);
    ck_assert_int_le(c.max[1], 12);
    ck_assert_int_le(c.max[2], 12);
    ck_assert_int_eq(decode_all(blue, 1.0, &c, &info), VC_OK);
    ck_assert_int_ge(c.min[2], 240);
    ck_assert_int_le(c.max[0], 12);
    ck_assert_int_le(c.max[1], 12);

    /* And through preprocessing: channel 0 is red. */
    vc_video *v;
    ck_assert_int_eq(vc_video_open(red, NULL, &v), VC_OK);
    vc_video_frame f;
    int got;
    ck_assert_int_eq(vc_video_next(v, &f, &got), VC_OK);
    ck_assert_int_eq(got, 1);
    float *out = malloc(sizeof(float) * 3 * 224 * 224);
    ck_assert_int_eq(vc_clip_preprocess(f.rgb, f.width, f.height, f.stride, 224, out), VC_OK);
    int mid = 112 * 224 + 112;
    ck_assert_float_eq_tol(out[mid], (1.0f - vc_clip_mean[0]) / vc_clip_std[0], 0.1f);
    ck_assert_float_eq_tol(out[224 * 224 + mid], (0.0f - vc_clip_mean[1]) / vc_clip_std[1], 0.1f);
    ck_assert_float_eq_tol(out[2 * 224 * 224 + mid], (0.0f - vc_clip_mean[2]) / vc_clip_std[2], 0.1f);
    free(out);
    vc_video_close(v);
}
END_TEST

/* Frames kept at 0.0-0.9 s (every 0.1 s), one at 3.3 s, then 5.0-5.9 s. A
 * frame-count sampler would pick frames 0, 10 and 20 (0, 3.3 and 5.9 s). */
START_TEST(test_variable_frame_rate_samples_by_presentation_time) {
    char args[512];
    snprintf(args, sizeof args,
             "-f lavfi -i testsrc=size=160x120:rate=10:duration=6 "
             "-vf select='lt(t\\,1)+between(t\\,3.25\\,3.35)+gte(t\\,5)' -fps_mode passthrough -c:v %s",
             mp4_codec());
    const char *p = make_media("vfr.mp4", args);
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(p, 1.0, &c, &info), VC_OK);
    ck_assert_int_eq(info.decoded, 21);
    const double want[] = {0.0, 0.9, 0.9, 0.9, 3.3, 5.0};
    ck_assert_int_eq(c.n, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_double_eq_tol(c.time[i], i, 1e-9);
        ck_assert_msg(fabs(c.pts[i] - want[i]) < 1e-3, "sample %d: pts %.4f, want %.1f", i, c.pts[i], want[i]);
    }
    /* The same frame held over t = 1, 2, 3 is delivered identically. */
    for (int ch = 0; ch < 3; ch++) {
        ck_assert_double_eq(c.mean[1][ch], c.mean[2][ch]);
        ck_assert_double_eq(c.mean[2][ch], c.mean[3][ch]);
    }
    ck_assert_int_eq(info.truncated, 0);
}
END_TEST

/* A stream whose timestamps start at 10 s: targets count from its start. */
START_TEST(test_sampling_starts_at_the_stream_start_time) {
    const char *p = make_media("offset.mkv", "-f lavfi -i testsrc=size=96x64:rate=5:duration=3 "
                                             "-output_ts_offset 10 -c:v mpeg4 -q:v 3");
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(p, 1.0, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 3);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(c.pts[i], i, 1e-3);
}
END_TEST

START_TEST(test_truncated_mp4_keeps_frames_before_the_damage) {
    char args[512];
    snprintf(args, sizeof args,
             "-f lavfi -i testsrc=size=320x240:rate=25:duration=5 -c:v %s -movflags +faststart", mp4_codec());
    const char *full = make_media("faststart.mp4", args);
    const char *cut = truncated_copy(full, "cut.mp4", 0.5);
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(cut, 1.0, &c, &info), VC_OK);
    ck_assert_int_ge(c.n, 1);
    ck_assert_int_lt(c.n, 5);
    ck_assert_int_gt(info.decoded, 0);
    ck_assert_int_lt(info.decoded, 125);
    ck_assert_int_eq(info.truncated, 1);
    ck_assert_str_ne(info.message, "");
    for (int i = 0; i < c.n; i++) ck_assert_double_eq_tol(c.pts[i], i, 1e-6);

    /* Without +faststart the index is at the end: nothing is readable, and
     * the error names the file. */
    const char *cut2 = truncated_copy(h264_5s(), "cut_noindex.mp4", 0.5);
    ck_assert_int_eq(decode_all(cut2, 1.0, &c, &info), VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "cut_noindex.mp4"));
    ck_assert_int_eq(c.n, 0);
}
END_TEST

/* A media file made in the test, whole, into b (it must be smaller than cap). */
static size_t read_media(const char *path, unsigned char *b, size_t cap) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(b, 1, cap, f);
    fclose(f);
    ck_assert_uint_lt(n, cap);
    return n;
}
static void write_media(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* Found by fuzzing: one sample-size entry of the MP4 index raised to ~855 MB.
 * FFmpeg answers the read with ENOMEM; that is damage to this video (frames
 * before it kept, the rest of a run unaffected), not an out-of-memory stop. */
START_TEST(test_absurd_sample_size_is_damage_not_out_of_memory) {
    char args[512];
    snprintf(args, sizeof args, "-f lavfi -i testsrc=size=160x120:rate=25:duration=6 -c:v %s", mp4_codec());
    const char *src = make_media("small6.mp4", args), *bad = vc_test_path("huge_sample.mp4");
    static unsigned char b[1 << 20];
    size_t n = read_media(src, b, sizeof b);
    unsigned char *stsz = memmem(b, n, "stsz", 4);
    ck_assert_ptr_nonnull(stsz);
    ck_assert_uint_lt((size_t)(stsz - b) + 16 + 12, n);
    stsz[16 + 4 * 2] = 0x33; /* size of the third sample: its top byte */
    write_media(bad, b, n);
    collect c;
    vc_video_info info;
    vc_status st = decode_all(bad, 1.0, &c, &info);
    ck_assert_msg(st == VC_OK, "%s", vc_last_error());
    ck_assert_int_ge(c.n, 1);
    ck_assert_int_lt(c.n, 6);
    ck_assert_ptr_nonnull(strstr(info.message, "read error"));
}
END_TEST

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be32(unsigned char *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (24 - 8 * i));
}

/* A slideshow (frames 24 s apart) is sampled in full; the same file with its
 * declared length cut to 6 s (found by fuzzing as a damaged header) is
 * damage: sampling stops at the declared length plus a wide margin instead of
 * repeating frames for twenty minutes. */
START_TEST(test_timestamps_far_past_the_declared_length_are_damage) {
    char args[512];
    snprintf(args, sizeof args,
             "-f lavfi -i testsrc=size=160x120:rate=25:duration=0.4 -vf setpts=N*24/TB -fps_mode vfr -bf 0 -c:v %s",
             mp4_codec());
    const char *src = make_media("spaced.mp4", args), *bad = vc_test_path("spaced_6s.mp4");
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(src, 0.25, &c, &info), VC_OK); /* a sample every 4 s */
    ck_assert_int_eq(info.truncated, 0);
    ck_assert_int_ge(info.samples, 9 * 24 / 4); /* 10 frames, 24 s apart */

    static unsigned char b[1 << 20];
    size_t n = read_media(src, b, sizeof b);
    /* version-0 mvhd/mdhd: flags(4) ctime(4) mtime(4) timescale(4) duration(4);
     * tkhd: flags(4) ctime(4) mtime(4) id(4) reserved(4) duration(4), movie units */
    unsigned char *mvhd = memmem(b, n, "mvhd", 4), *mdhd = memmem(b, n, "mdhd", 4), *tkhd = memmem(b, n, "tkhd", 4);
    ck_assert(mvhd && mdhd && tkhd && mvhd[4] == 0 && mdhd[4] == 0 && tkhd[4] == 0);
    put_be32(mvhd + 20, 6 * be32(mvhd + 16));
    put_be32(mdhd + 20, 6 * be32(mdhd + 16));
    put_be32(tkhd + 24, 6 * be32(mvhd + 16));
    write_media(bad, b, n);
    ck_assert_int_eq(decode_all(bad, 0.25, &c, &info), VC_OK);
    ck_assert_int_eq(info.truncated, 1);
    ck_assert_ptr_nonnull(strstr(info.message, "timestamps run far past the length the container declares"));
    ck_assert_int_eq(info.samples, 3); /* targets 0, 4, 8 s: within 6 s + 3 s + 2 s */
}
END_TEST

START_TEST(test_truncated_webm_is_reported) {
    const char *full = make_media("long.webm", "-f lavfi -i testsrc=size=128x96:rate=25:duration=6 "
                                               "-c:v libvpx-vp9 -pix_fmt yuv420p -b:v 300k -deadline realtime");
    const char *cut = truncated_copy(full, "cut.webm", 0.4);
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_all(cut, 1.0, &c, &info), VC_OK);
    ck_assert_int_ge(c.n, 1);
    ck_assert_int_lt(c.n, 6);
    ck_assert_int_eq(info.truncated, 1);
    ck_assert_ptr_nonnull(strstr(info.message, "declares"));
    ck_assert_int_eq(decode_all(full, 1.0, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 6);
    ck_assert_int_eq(info.truncated, 0);
}
END_TEST

START_TEST(test_png_and_jpeg_stills_give_one_frame) {
    /* A pattern written here as PPM, made PNG (lossless) by ffmpeg: every
     * pixel must come back exactly, in R, G, B order. */
    enum { W = 33, H = 17 };
    static uint8_t img[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = img + (y * W + x) * 3;
            p[0] = (uint8_t)(x * 7 + y);
            p[1] = (uint8_t)(y * 13);
            p[2] = (uint8_t)((x ^ y) * 5);
        }
    img[0] = 255, img[1] = 0, img[2] = 0;
    write_ppm(vc_test_path("pattern.ppm"), img, W, H);
    char args[600];
    snprintf(args, sizeof args, "-i '%s' -pix_fmt rgb24", vc_test_path("pattern.ppm"));
    const char *png = make_media("pattern.png", args);
    static uint8_t blue[35 * 19 * 3];
    for (int i = 0; i < 35 * 19; i++) blue[3 * i + 2] = 255;
    write_ppm(vc_test_path("blue.ppm"), blue, 35, 19);
    snprintf(args, sizeof args, "-i '%s' -q:v 2", vc_test_path("blue.ppm"));
    const char *jpg = make_media("blue.jpg", args);
    collect c;
    vc_video_info info;
    ck_assert_int_eq(decode_expect(png, 1.0, &c, &info, img), VC_OK);
    ck_assert_int_eq(c.n, 1);
    ck_assert_int_eq(c.w[0], W);
    ck_assert_int_eq(c.h[0], H);
    ck_assert_int_eq(c.mismatches, 0);
    ck_assert_int_eq(info.truncated, 0);
    ck_assert_int_eq(decode_all(jpg, 5.0, &c, &info), VC_OK);
    ck_assert_int_eq(c.n, 1);
    ck_assert_int_eq(c.w[0], 35);
    ck_assert_int_eq(c.h[0], 19);
    ck_assert_int_ge(c.min[2], 235);
    ck_assert_int_le(c.max[0], 20);
}
END_TEST

START_TEST(test_non_videos_are_errors_naming_the_file_and_print_nothing) {
    const char *txt = vc_test_path("notes.mp4");
    FILE *f = fopen(txt, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a video\n", f);
    fclose(f);
    const char *noise = vc_test_path("noise.bin");
    f = fopen(noise, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 4096; i++) fputc((i * 7919 + 13) % 251, f);
    fclose(f);
    const char *wav = make_media("tone.wav", "-f lavfi -i sine=duration=1");

    /* FFmpeg would log to stderr: it must not. */
    fflush(stderr);
    int saved = dup(2);
    const char *errlog = vc_test_path("stderr.txt");
    int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);

    collect c;
    vc_video_info info;
    vc_status s1 = decode_all(txt, 1.0, &c, &info);
    char m1[512];
    snprintf(m1, sizeof m1, "%s", vc_last_error());
    vc_status s2 = decode_all(noise, 1.0, &c, &info);
    char m2[512];
    snprintf(m2, sizeof m2, "%s", vc_last_error());
    vc_status s3 = decode_all(wav, 1.0, &c, &info);
    char m3[512];
    snprintf(m3, sizeof m3, "%s", vc_last_error());
    vc_status s4 = decode_all(vc_test_path("missing.mp4"), 1.0, &c, &info);
    char m4[512];
    snprintf(m4, sizeof m4, "%s", vc_last_error());
    /* Truncated files log decoder errors too. */
    char args[512];
    snprintf(args, sizeof args,
             "-f lavfi -i testsrc=size=320x240:rate=25:duration=5 -c:v %s -movflags +faststart", mp4_codec());
    const char *cut = truncated_copy(make_media("faststart.mp4", args), "cut2.mp4", 0.3);
    vc_status s5 = decode_all(cut, 1.0, &c, &info);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    ck_assert_int_eq(s1, VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(m1, "notes.mp4"));
    ck_assert_int_ne(s2, VC_OK);
    ck_assert_ptr_nonnull(strstr(m2, "noise.bin"));
    ck_assert_int_eq(s3, VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(m3, "tone.wav: no video stream"));
    ck_assert_int_eq(s4, VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(m4, "missing.mp4"));
    ck_assert_int_eq(s5, VC_OK);
    ck_assert_int_eq(info.truncated, 1);
    ck_assert_int_eq(file_size(errlog), 0);
}
END_TEST

START_TEST(test_callback_error_stops_decoding) {
    collect c;
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    vc_video_info info;
    vc_status st = vc_video_decode(h264_5s(), NULL, collect_fn, &c, &info);
    ck_assert_int_eq(st, VC_ERR_ARG);
    ck_assert_str_eq(vc_last_error(), "enough");
    ck_assert_int_eq(c.n, 2);
    ck_assert_int_eq(info.samples, 3);  /* the third was delivered and refused */
}
END_TEST

START_TEST(test_videos_decode_on_two_threads_at_once) {
    /* One vc_video per thread; results match a single-threaded run. */
    const char *p = h264_5s();
    collect a, b;
    vc_video_info ia, ib;
    ck_assert_int_eq(decode_all(p, 1.0, &a, &ia), VC_OK);
    collect par[2];
    vc_status st[2];
#pragma omp parallel for num_threads(2)
    for (int t = 0; t < 2; t++) {
        memset(&par[t], 0, sizeof par[t]);
        vc_video_opts o = {1.0, 1};
        st[t] = vc_video_decode(p, &o, collect_fn, &par[t], NULL);
    }
    for (int t = 0; t < 2; t++) {
        ck_assert_int_eq(st[t], VC_OK);
        ck_assert_int_eq(par[t].n, a.n);
        for (int i = 0; i < a.n; i++)
            for (int ch = 0; ch < 3; ch++) ck_assert_double_eq(par[t].mean[i][ch], a.mean[i][ch]);
    }
    /* Decoder threads give the same frames. */
    vc_video_opts o = {1.0, 2};
    memset(&b, 0, sizeof b);
    ck_assert_int_eq(vc_video_decode(p, &o, collect_fn, &b, &ib), VC_OK);
    ck_assert_int_eq(b.n, a.n);
    for (int i = 0; i < a.n; i++) ck_assert_double_eq(b.mean[i][0], a.mean[i][0]);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("video");
    vc_test_tmpdir();  /* made by this process, shared by the forked tests */

    TCase *pp = tcase_create("preprocess");
    tcase_add_test(pp, test_resize_and_crop_follow_torchvision_size_rules);
    tcase_add_test(pp, test_constant_image_normalises_to_clip_constants);
    tcase_add_test(pp, test_same_size_image_is_copied_and_planar);
    tcase_add_test(pp, test_bad_sizes_are_errors);
    suite_add_tcase(s, pp);

    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s tests/ref_preprocess.py --check >/dev/null 2>&1", vc_test_python());
    if (system(cmd) == 0) {
        TCase *ref = tcase_create("pillow");
        tcase_set_timeout(ref, 120);
        tcase_add_test(ref, test_preprocess_matches_pillow_bicubic_on_odd_sizes);
        suite_add_tcase(s, ref);
    } else {
        printf("SKIP: preprocessing against Pillow (%s cannot import PIL and numpy)\n", vc_test_python());
    }

    if (system("command -v ffmpeg >/dev/null 2>&1") == 0) {
        TCase *dec = tcase_create("decode");
        tcase_set_timeout(dec, 120);
        tcase_add_test(dec, test_mp4_5s_at_1fps_gives_5_frames_at_whole_seconds);
        tcase_add_test(dec, test_other_rates_sample_by_time);
        tcase_add_test(dec, test_solid_colours_decode_in_rgb_order);
        tcase_add_test(dec, test_variable_frame_rate_samples_by_presentation_time);
        tcase_add_test(dec, test_sampling_starts_at_the_stream_start_time);
        tcase_add_test(dec, test_truncated_mp4_keeps_frames_before_the_damage);
        tcase_add_test(dec, test_png_and_jpeg_stills_give_one_frame);
        tcase_add_test(dec, test_non_videos_are_errors_naming_the_file_and_print_nothing);
        tcase_add_test(dec, test_callback_error_stops_decoding);
        tcase_add_test(dec, test_videos_decode_on_two_threads_at_once);
        tcase_add_test(dec, test_absurd_sample_size_is_damage_not_out_of_memory);
        tcase_add_test(dec, test_timestamps_far_past_the_declared_length_are_damage);
        if (have_encoder("libvpx-vp9")) {
            tcase_add_test(dec, test_vp9_webm_odd_size);
            tcase_add_test(dec, test_truncated_webm_is_reported);
        } else {
            printf("SKIP: VP9/WebM decoding (this ffmpeg has no libvpx-vp9 encoder to make the files)\n");
        }
        suite_add_tcase(s, dec);
    } else {
        printf("SKIP: video decoding on real files (no ffmpeg command to make them)\n");
    }
    return s;
}

VC_TEST_MAIN(make_suite)
