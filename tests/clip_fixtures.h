/* clip_fixtures.h: the CLIP test models, images and prompts that the
 * precision suites share (tests/test_precision.c on the CPU,
 * tests/test_clip_cuda.c on the emulated CUDA backend), so that both judge
 * bf16 / fp16 against fp32 on the same inputs.
 * Owns: a random CLIP's shape, smooth test images, prompts whose end token
 * is the highest id, the zero-shot argmax of one image and the check that
 * 16 bits leave every image's unchanged, the bytes the matrices take. */
#ifndef VC_TEST_CLIP_FIXTURES_H
#define VC_TEST_CLIP_FIXTURES_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/clip.h"

/* Both towers of a random CLIP: width, layers, image size, patch. */
static inline void vc_fx_clip_cfg(vc_clip_cfg *c, int64_t width, int64_t layers, int64_t image, int64_t patch) {
    memset(c, 0, sizeof *c);
    c->towers = VC_CLIP_BOTH;
    c->act = VC_CLIP_QUICKGELU;
    c->embed = width / 2;
    c->image_size = image;
    c->patch = patch;
    c->vision = (vc_clip_tower){width, layers, width / 64 > 0 ? width / 64 : 1, 4 * width};
    c->context = 16;
    c->vocab = 300;
    c->text = (vc_clip_tower){width, layers, width / 64 > 0 ? width / 64 : 1, 4 * width};
}

/* Test images: smooth colour patterns (gradients and stripes of different
 * frequencies per image) plus a little noise, CLIP-normalised range. */
static inline void vc_fx_images(vc_tensor *im, int64_t N, int64_t S) {
    ck_assert_int_eq(vc_tensor_alloc(im, VC_F32, VC_DIMS(N, 3, S, S)), VC_OK);
    vc_rng r;
    vc_rng_seed(&r, 21);
    vc_real *p = vc_f32(im);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < 3; c++)
            for (int64_t y = 0; y < S; y++)
                for (int64_t x = 0; x < S; x++)
                    *p++ = (vc_real)(1.5 * sin(0.2 * (double)(n + 1) * (double)x + (double)c) *
                                         cos(0.13 * (double)(n + 2) * (double)y) +
                                     0.2 * vc_rng_normal(&r));
}

/* Prompts: start token, n-dependent ids, end token (the highest id). */
static inline void vc_fx_prompts(vc_tensor *ids, int64_t N, int64_t L, int64_t V) {
    ck_assert_int_eq(vc_tensor_alloc(ids, VC_I64, VC_DIMS(N, L)), VC_OK);
    int64_t *p = ids->data;
    for (int64_t n = 0; n < N; n++) {
        int64_t end = 3 + n % (L - 4);
        for (int64_t j = 0; j < L; j++)
            p[n * L + j] = j == 0 ? V - 2 : j < end ? 1 + (n * 37 + j * 11) % (V - 3) : j == end ? V - 1 : 0;
    }
}

/* The prompt (row of txt [Nt, E]) closest to img [E]; *margin = best minus
 * second-best dot product. */
static inline int64_t vc_fx_argmax(const float *img, const float *txt, int64_t Nt, int64_t E, double *margin) {
    int64_t best = 0;
    double bs = -INFINITY, second = -INFINITY;
    for (int64_t k = 0; k < Nt; k++) {
        double s = 0;
        for (int64_t j = 0; j < E; j++) s += (double)img[j] * txt[k * E + j];
        if (s > bs) {
            second = bs;
            bs = s;
            best = k;
        } else if (s > second) second = s;
    }
    *margin = bs - second;
    return best;
}

/* The zero-shot check of 16-bit embeddings against float32 ones (images
 * [NI, E], prompts [NT, E], raw or unit rows: compared as unit rows): each
 * image's closest prompt must be the same in both, else the test fails
 * naming what (e.g. "width 64: cuda bf16"), the image and both answers.
 * Returns the smallest float32 margin (best minus second-best cosine). */
static inline double vc_fx_same_zero_shot(const char *what, const float *i32, const float *t32, const float *i16,
                                          const float *t16, int64_t NI, int64_t NT, int64_t E) {
    const float *src[4] = {i32, t32, i16, t16};
    float *u[4];
    for (int k = 0; k < 4; k++) {
        int64_t rows = k % 2 ? NT : NI;
        u[k] = malloc(sizeof(float) * (size_t)(rows * E));
        ck_assert_ptr_nonnull(u[k]);
        for (int64_t i = 0; i < rows; i++) {
            double s = 0;
            for (int64_t j = 0; j < E; j++) s += (double)src[k][i * E + j] * src[k][i * E + j];
            for (int64_t j = 0; j < E; j++) u[k][i * E + j] = (float)(src[k][i * E + j] / sqrt(s));
        }
    }
    double min_margin = INFINITY;
    for (int64_t n = 0; n < NI; n++) {
        double m32, m16;
        int64_t a = vc_fx_argmax(u[0] + n * E, u[1], NT, E, &m32), b = vc_fx_argmax(u[2] + n * E, u[3], NT, E, &m16);
        ck_assert_msg(a == b, "%s: image %lld: zero-shot argmax %lld in fp32 but %lld in 16 bits (fp32 margin %.2g)",
                      what, (long long)n, (long long)a, (long long)b, m32);
        min_margin = fmin(min_margin, m32);
    }
    for (int k = 0; k < 4; k++) free(u[k]);
    return min_margin;
}

/* Bytes of the image tower's qkv and fc1 matrices in their storage type
 * (halves when they are held in bf16 or fp16). */
static inline size_t vc_fx_weight_bytes(const vc_clip *m) {
    size_t n = 0;
    for (int64_t l = 0; l < m->cfg.vision.layers; l++) {
        const vc_clip_block *b = &m->vblocks[l];
        n += vc_numel(&b->qkv_w) * vc_dtype_size(b->qkv_w.dtype) + vc_numel(&b->fc1_w) * vc_dtype_size(b->fc1_w.dtype);
    }
    return n;
}

#endif
