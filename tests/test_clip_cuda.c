/* test_clip_cuda.c: the CLIP towers on the CUDA backend (here the CPU
 * emulator, tensor/cuda/README.md), against the CPU towers.
 * - fp32 on cuda equals fp32 on the cpu: every embedding within 1e-4 of the
 *   CPU's, relative to the row's largest value (the two run the same float32
 *   sums in different kernels: seen about 1e-6);
 * - bf16 and fp16 on cuda against fp32 on the CLIP test models, images and
 *   prompts of tests/test_precision.c (tests/clip_fixtures.h): cosine >=
 *   0.999 per embedding, zero-shot argmax unchanged, the embeddings differ
 *   from fp32 (the 16-bit products ran), the matrices are held on the device
 *   in bf16 / fp16 (half the bytes);
 * - the model's placement: every tensor on the device, a moved model refuses
 *   to be saved, fp16 asked of the CPU falls back to fp32 with a reason;
 * - through the vclip program built on the emulated backend
 *   ($BUILD/tests/vclip_cuemu, beside this program): encode-video --device cuda on
 *   videos made here with ffmpeg gives the frame and caption embeddings the
 *   CPU binary gives (fp32: within 1e-4 as above; bf16 / fp16: cosine >=
 *   0.999), and prints its videos/s, frames/s and bottleneck line;
 *   encode-text and search with --device cuda give the CPU's results; no GPU
 *   (VC_CUDA_EMU_DEVICES=0), a GPU that does not exist (cuda:3) and fp16 for
 *   training are one error line and a non-zero exit.
 * $VCLIP_CUDA_BIN names the CUDA-capable program instead (tools/gpu_check.sh
 * on a GPU machine: this suite built against the real backend, the bundle's
 * vclip). Without that program, $VCLIP_BIN or ffmpeg the program tests print
 * SKIP; the missing-GPU cases need the emulator (VC_CUDA_EMU_DEVICES=0) and
 * run only with it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "clip_fixtures.h"
#include "data/h5_reader.h"
#include "harness.h"
#include "models/clip.h"
#include "tensor/backend.h"
#include "tensor/backend_cuda.h"
#include "tensor/cuda/kernels.h"
#include "train/run_config.h"

#define FP32_TOL 1e-4

/* A CUDA device to run on (always under the emulator; a real build on a
 * machine without a GPU prints SKIP). */
static bool gpu_ok(void) {
    static int state;
    if (!state) {
        state = vc_cuda_select(0) == VC_OK ? 1 : 2;
        if (state == 2) printf("SKIP: the CLIP towers on cuda: %s\n", vc_last_error());
    }
    return state == 1;
}

/* Embeddings of both towers on the model's device, raw, into img [Ni, E]
 * and txt [Nt, E] (host). */
static void embed_raw(const vc_clip *m, const vc_tensor *images, const vc_tensor *ids, float *img, float *txt) {
    vc_tape t;
    vc_tape_init_on(&t, m->device, 0);
    vc_tape_grad(&t, false);
    const vc_backend *be = vc_backend_for(m->device);
    int64_t E = m->cfg.embed, Ni = images->ne[0], Nt = ids->ne[0];
    vc_var *a = vc_clip_encode_image(&t, m, images);
    ck_assert_msg(a, "%s", vc_last_error());
    be->copy_d2h(img, a->val.data, (size_t)(Ni * E) * sizeof(float));
    vc_var *b = vc_clip_encode_text(&t, m, ids);
    ck_assert_msg(b, "%s", vc_last_error());
    be->copy_d2h(txt, b->val.data, (size_t)(Nt * E) * sizeof(float));
    ck_assert_msg(vc_cuda_take_error() == VC_OK, "%s", vc_last_error());
    vc_tape_free(&t);
}

/* Worst over rows of max |a - b| / max |b| in the row. */
static double worst_rel(const float *a, const float *b, int64_t rows, int64_t E) {
    double w = 0;
    for (int64_t i = 0; i < rows; i++) {
        double d = 0, m = 0;
        for (int64_t j = 0; j < E; j++) {
            d = fmax(d, fabs((double)a[i * E + j] - b[i * E + j]));
            m = fmax(m, fabs((double)b[i * E + j]));
        }
        w = fmax(w, d / (m > 0 ? m : 1));
    }
    return w;
}

/* Worst cosine between rows of a and b (raw rows). */
static double worst_cos(const float *a, const float *b, int64_t rows, int64_t E) {
    double w = 1;
    for (int64_t i = 0; i < rows; i++) {
        double ab = 0, aa = 0, bb = 0;
        for (int64_t j = 0; j < E; j++) {
            ab += (double)a[i * E + j] * b[i * E + j];
            aa += (double)a[i * E + j] * a[i * E + j];
            bb += (double)b[i * E + j] * b[i * E + j];
        }
        w = fmin(w, ab / sqrt(aa * bb));
    }
    return w;
}

/* The towers of one random CLIP in fp32 on the CPU, then on cuda in fp32,
 * bf16 and fp16. */
static void check_towers(int64_t width, int64_t layers, int64_t image, int64_t patch) {
    vc_clip_cfg cfg;
    vc_fx_clip_cfg(&cfg, width, layers, image, patch);
    enum { NI = 12, NT = 10 };
    vc_tensor images, ids;
    vc_fx_images(&images, NI, image);
    vc_fx_prompts(&ids, NT, cfg.context, cfg.vocab);
    int64_t E = cfg.embed;
    float *i32 = malloc(sizeof(float) * NI * E), *t32 = malloc(sizeof(float) * NT * E);
    float *ig = malloc(sizeof(float) * NI * E), *tg = malloc(sizeof(float) * NT * E);
    ck_assert(i32 && t32 && ig && tg);
    vc_clip cpu;
    ck_assert_int_eq(vc_clip_init_random(&cpu, &cfg, 5), VC_OK);
    embed_raw(&cpu, &images, &ids, i32, t32);
    size_t bytes32 = vc_fx_weight_bytes(&cpu);

    static const vc_precision precs[3] = {VC_PREC_FP32, VC_PREC_BF16, VC_PREC_FP16};
    for (int k = 0; k < 3; k++) {
        vc_precision p = precs[k];
        vc_clip m;
        ck_assert_int_eq(vc_clip_init_random(&m, &cfg, 5), VC_OK);
        m.asked = p;
        ck_assert_msg(vc_clip_to_device(&m, VC_CUDA) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(m.device, VC_CUDA);
        ck_assert_int_eq(m.precision, p);
        vc_dtype want = p == VC_PREC_BF16 ? VC_BF16 : p == VC_PREC_FP16 ? VC_F16 : VC_F32;
        ck_assert_int_eq(m.vblocks[0].fc1_w.dtype, want);
        ck_assert_int_eq(m.tblocks[layers - 1].out_w.dtype, want);
        ck_assert_int_eq(m.patch_w.dtype, want);
        ck_assert_int_eq(m.ln_post_g.dtype, VC_F32);
        ck_assert_int_eq(m.vblocks[0].qkv_w.device, VC_CUDA);
        ck_assert_int_eq(m.tok_emb.device, VC_CUDA);
        ck_assert_uint_eq(vc_fx_weight_bytes(&m) * (p == VC_PREC_FP32 ? 1 : 2), bytes32);
        embed_raw(&m, &images, &ids, ig, tg);
        const char *pn = vc_precision_name(p);
        if (p == VC_PREC_FP32) {
            double wi = worst_rel(ig, i32, NI, E), wt = worst_rel(tg, t32, NT, E);
            ck_assert_msg(wi <= FP32_TOL && wt <= FP32_TOL,
                          "width %lld: cuda fp32 against cpu fp32: worst relative difference image %.3g, text %.3g "
                          "(> %g)", (long long)width, wi, wt, FP32_TOL);
            printf("clip width %lld x%lld: cuda fp32 vs cpu fp32: worst relative difference image %.2g, text %.2g\n",
                   (long long)width, (long long)layers, wi, wt);
        } else {
            double ci = worst_cos(ig, i32, NI, E), ct = worst_cos(tg, t32, NT, E);
            ck_assert_msg(ci >= 0.999 && ct >= 0.999, "width %lld: cuda %s against fp32: worst cosine image %.6f, text "
                                                       "%.6f (< 0.999)", (long long)width, pn, ci, ct);
            double d = worst_rel(ig, i32, NI, E);
            ck_assert_msg(d > 1e-5, "width %lld: cuda %s image embeddings equal fp32's (%.3g): the 16-bit products did "
                                    "not run", (long long)width, pn, d);
            char what[64];
            snprintf(what, sizeof what, "width %lld: cuda %s", (long long)width, pn);
            double min_margin = vc_fx_same_zero_shot(what, i32, t32, ig, tg, NI, NT, E);
            printf("clip width %lld x%lld: cuda %s vs fp32: worst cosine image %.6f, text %.6f; zero-shot argmax "
                   "unchanged for %d images x %d prompts (smallest fp32 margin %.3g)\n",
                   (long long)width, (long long)layers, pn, ci, ct, NI, NT, min_margin);
        }
        if (k == 0) { /* a moved model is not saved; it converts where it is */
            char path[512];
            snprintf(path, sizeof path, "%s/moved.safetensors", vc_test_tmpdir());
            ck_assert_int_eq(vc_clip_save(&m, path, VC_CLIP_NAMES_OPENAI), VC_ERR_DEVICE);
            ck_assert_int_eq(vc_clip_set_precision(&m, VC_PREC_FP16), VC_OK);
            ck_assert_int_eq(m.vblocks[0].fc2_w.dtype, VC_F16);
            ck_assert_int_eq(m.vblocks[0].fc2_w.device, VC_CUDA);
        }
        vc_clip_free(&m);
    }
    vc_clip_free(&cpu);
    free(i32);
    free(t32);
    free(ig);
    free(tg);
    vc_tensor_release(&images);
    vc_tensor_release(&ids);
}

START_TEST(test_towers_on_cuda_match_the_cpu_in_fp32_bf16_fp16) {
    if (!gpu_ok()) return;
    check_towers(64, 2, 32, 8);
    check_towers(128, 2, 48, 16);
}
END_TEST

/* fp16 asked of the CPU: float32 with a reason; the casts back to float32
 * on the device are exact. */
START_TEST(test_fp16_falls_back_on_the_cpu_and_casts_widen_exactly) {
    if (!gpu_ok()) return;
    vc_clip_cfg cfg;
    vc_fx_clip_cfg(&cfg, 64, 1, 16, 8);
    vc_clip m;
    ck_assert_int_eq(vc_clip_init_random(&m, &cfg, 1), VC_OK);
    ck_assert_int_eq(vc_clip_set_precision(&m, VC_PREC_FP16), VC_OK);
    ck_assert_int_eq(m.precision, VC_PREC_FP32);
    ck_assert_int_eq(m.vblocks[0].fc1_w.dtype, VC_F32);
    const char *why = vc_precision_fallback_reason(vc_backend_for(VC_CPU), VC_PREC_FP16);
    ck_assert_msg(strstr(why, "fp16") && strstr(why, "float32"), "reason: %s", why);
    ck_assert_str_eq(vc_precision_fallback_reason(vc_backend_for(VC_CUDA), VC_PREC_FP16), "");
    vc_clip_free(&m);
    /* training refuses fp16 in one line; bf16 is accepted */
    vc_config *ini = NULL;
    vc_run_cfg rc;
    const char *ov[1] = {"train.precision=fp16"};
    ck_assert_int_eq(vc_run_config_parse("[data]\nfile = x.h5\n", "fp16.ini", ov, 1, &ini, &rc), VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "fp16") && strstr(vc_last_error(), "inference") &&
                      !strchr(vc_last_error(), '\n'), "%s", vc_last_error());
    vc_config_free(ini);
    ini = NULL;
    ov[0] = "train.precision=bf16";
    ck_assert_msg(vc_run_config_parse("[data]\nfile = x.h5\n", "bf16.ini", ov, 1, &ini, &rc) == VC_OK, "%s",
                  vc_last_error());
    ck_assert_int_eq(rc.precision, VC_PREC_BF16);
    vc_config_free(ini);

    const vc_backend *be = vc_backend_for(VC_CUDA);
    enum { N = 1000 };
    uint16_t hb[N], hh[N];
    float want_b[N], want_h[N], got[N];
    vc_rng r;
    vc_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        float x = (float)(vc_rng_normal(&r) * 100);
        hb[i] = vc_f32_to_bf16(x);
        hh[i] = vc_f32_to_f16(x);
        want_b[i] = vc_bf16_to_f32(hb[i]);
        want_h[i] = vc_f16_to_f32(hh[i]);
    }
    uint16_t *d16 = be->mem_alloc(sizeof hb);
    float *d32 = be->mem_alloc(sizeof got);
    be->copy_h2d(d16, hb, sizeof hb);
    vc_cu_widen_bf16(d16, d32, N);
    be->copy_d2h(got, d32, sizeof got);
    ck_assert(memcmp(got, want_b, sizeof got) == 0);
    be->copy_h2d(d16, hh, sizeof hh);
    vc_cu_widen_f16(d16, d32, N);
    be->copy_d2h(got, d32, sizeof got);
    ck_assert(memcmp(got, want_h, sizeof got) == 0);
    ck_assert_int_eq(vc_cuda_take_error(), VC_OK);
    be->mem_free(d16);
    be->mem_free(d32);
}
END_TEST

/* ---- the program ------------------------------------------------------------ */

#define NVID 3
static struct {
    char err[1024];
    char cuemu[600], clip[600], vocab[600], csv[600];
    char video[NVID][600];
} fx;

/* Runs `prefix BIN args` with stdout and stderr into files; the exit status. */
static int run(const char *prefix, const char *bin, const char *args, const char *out, const char *err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s' 2>'%s'", prefix, bin, args, out, err);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static const char k_tiny_merges[] = "#version: tiny\nh e\nl l\nhe ll\nhell o</w>\nc a\nca t</w>";

static bool make_fixture(void) {
    const char *b = vc_test_vclip_bin();
    if (!b) return snprintf(fx.err, sizeof fx.err, "no $VCLIP_BIN"), false;
    const char *cb = getenv("VCLIP_CUDA_BIN");
    if (cb && *cb) snprintf(fx.cuemu, sizeof fx.cuemu, "%.590s", cb);
    else { /* vclip_cuemu beside this program (make test builds it) */
        ssize_t k = readlink("/proc/self/exe", fx.cuemu, sizeof fx.cuemu - 16);
        char *slash = k > 0 ? (fx.cuemu[k] = 0, strrchr(fx.cuemu, '/')) : NULL;
        if (!slash) return snprintf(fx.err, sizeof fx.err, "no path of this program"), false;
        snprintf(slash + 1, 16, "vclip_cuemu");
    }
    if (access(fx.cuemu, X_OK) != 0) return snprintf(fx.err, sizeof fx.err, "no %s", fx.cuemu), false;
    if (system("command -v ffmpeg >/dev/null 2>&1") != 0) return snprintf(fx.err, sizeof fx.err, "no ffmpeg"), false;
    snprintf(fx.clip, sizeof fx.clip, "%s", vc_test_path("clip.safetensors"));
    snprintf(fx.vocab, sizeof fx.vocab, "%s", vc_test_path("vocab.txt.gz"));
    snprintf(fx.csv, sizeof fx.csv, "%s", vc_test_path("captions.csv"));
    gzFile g = gzopen(fx.vocab, "wb");
    if (!g || gzwrite(g, k_tiny_merges, (unsigned)strlen(k_tiny_merges)) <= 0 || gzclose(g) != Z_OK)
        return snprintf(fx.err, sizeof fx.err, "cannot write %s", fx.vocab), false;
    vc_clip_cfg cfg;
    vc_fx_clip_cfg(&cfg, 64, 2, 32, 16);
    cfg.vocab = 520; /* the tiny vocabulary: <start> 518, <end> 519 */
    vc_clip m;
    if (vc_clip_init_random(&m, &cfg, 11) || vc_clip_save(&m, fx.clip, VC_CLIP_NAMES_OPENAI))
        return snprintf(fx.err, sizeof fx.err, "clip: %s", vc_last_error()), false;
    vc_clip_free(&m);
    static const char *const src[NVID] = {"testsrc=size=160x120:rate=25:duration=3",
                                          "testsrc2=size=96x64:rate=30:duration=2",
                                          "mandelbrot=size=80x80:rate=10:end_scale=0.5"};
    static const char *const dur[NVID] = {"", "", "-t 4"};
    for (int i = 0; i < NVID; i++) {
        char name[32], cmd[2048];
        snprintf(name, sizeof name, "v%d.mp4", i);
        snprintf(fx.video[i], sizeof fx.video[i], "%s", vc_test_path(name));
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i %s %s -c:v mpeg4 -q:v 3 "
                                  "-pix_fmt yuv420p '%s' >/dev/null 2>&1", src[i], dur[i], fx.video[i]);
        if (system(cmd) != 0) return snprintf(fx.err, sizeof fx.err, "ffmpeg failed: %.400s", cmd), false;
    }
    FILE *f = fopen(fx.csv, "w");
    if (!f) return snprintf(fx.err, sizeof fx.err, "cannot write %s", fx.csv), false;
    fprintf(f, "video,caption\nv0,hello cat\nv1,a cat\nv2,hello\nv0,cat cat hello\n");
    fclose(f);
    return true;
}

static bool fixture_ok(void) {
    static int state;
    if (!state) state = make_fixture() ? 1 : 2;
    if (state == 2) printf("SKIP: the vclip program on the emulated CUDA backend (%s)\n", fx.err);
    return state == 1;
}

/* encode-video of the fixture into out with extra args, by bin; its stderr
 * text is returned (malloc'd). */
static char *encode(const char *bin, const char *extra, const char *out) {
    char args[4096];
    int k = snprintf(args, sizeof args, "encode-video --clip '%s' --out '%s' --dtype f32 --fps 2 --batch 4 --captions '%s' "
                                        "--vocab '%s' %s", fx.clip, out, fx.csv, fx.vocab, extra);
    for (int i = 0; i < NVID; i++) k += snprintf(args + k, sizeof args - (size_t)k, " '%s'", fx.video[i]);
    const char *o = vc_test_path("enc.out"), *e = vc_test_path("enc.err");
    int rc = run("", bin, args, o, e);
    char *err = vc_test_read_file(e, NULL);
    ck_assert_msg(rc == 0, "%s %s failed (%d): %s", bin, extra, rc, err ? err : "");
    return err;
}

/* Frame and caption embeddings of a file: *nf frame rows, *nc caption rows. */
static float *read_all(const char *path, int64_t *nf, int64_t *nc, int64_t *E) {
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, path) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *in = vc_h5_get_info(h);
    *E = in->dim;
    *nf = vc_h5_offsets(h)[in->n_videos];
    *nc = in->n_captions;
    float *x = malloc(sizeof(float) * (size_t)((*nf + *nc) * *E));
    ck_assert(x);
    ck_assert_int_eq(vc_h5_read_frames(h, 0, *nf, x), VC_OK);
    ck_assert_int_eq(vc_h5_read_text(h, 0, *nc, x + *nf * *E), VC_OK);
    vc_h5_close(h);
    return x;
}

START_TEST(test_encode_video_on_cuda_gives_the_cpu_embeddings) {
    if (!fixture_ok()) return;
    const char *cpu_out = vc_test_path("cpu.h5");
    free(encode(vc_test_vclip_bin(), "--precision fp32", cpu_out));
    int64_t nf, nc, E;
    float *want = read_all(cpu_out, &nf, &nc, &E);
    ck_assert_int_ge(nf, 16); /* 3 s + 2 s + 4 s at 2 fps */
    ck_assert_int_eq(nc, 4);
    static const char *const precs[3] = {"fp32", "bf16", "fp16"};
    for (int k = 0; k < 3; k++) {
        char extra[128], name[32];
        snprintf(extra, sizeof extra, "--device cuda --precision %s --decode-threads 2", precs[k]);
        snprintf(name, sizeof name, "cuda_%s.h5", precs[k]);
        const char *out = vc_test_path(name);
        char *err = encode(fx.cuemu, extra, out);
        ck_assert_msg(strstr(err, "videos/s") && strstr(err, "frames/s") && strstr(err, "the bottleneck was "),
                      "no throughput line: %s", err);
        printf("encode-video --device cuda --precision %s: %s", precs[k], strstr(err, "vclip encode-video: cuda"));
        free(err);
        int64_t gf, gc, gE;
        float *got = read_all(out, &gf, &gc, &gE);
        ck_assert(gf == nf && gc == nc && gE == E);
        if (k == 0) {
            double w = worst_rel(got, want, nf + nc, E);
            ck_assert_msg(w <= FP32_TOL, "encode-video on cuda fp32: worst relative difference %.3g > %g", w, FP32_TOL);
            printf("encode-video cuda fp32 vs cpu fp32: %lld frames + %lld captions, worst relative difference %.2g\n",
                   (long long)nf, (long long)nc, w);
        } else {
            double c = worst_cos(got, want, nf + nc, E);
            ck_assert_msg(c >= 0.999, "encode-video on cuda %s: worst cosine %.6f against fp32", precs[k], c);
            ck_assert_msg(worst_rel(got, want, nf, E) > 1e-5, "cuda %s equals fp32: 16-bit products did not run",
                          precs[k]);
            printf("encode-video cuda %s vs cpu fp32: worst cosine %.6f\n", precs[k], c);
        }
        free(got);
    }
    free(want);
}
END_TEST

START_TEST(test_encode_text_and_search_on_cuda_give_the_cpu_results) {
    if (!fixture_ok()) return;
    const char *base = vc_test_path("base.h5");
    free(encode(vc_test_vclip_bin(), "--precision fp32", base));
    char cmd[2048];
    const char *a = vc_test_path("text_cpu.h5"), *b = vc_test_path("text_cuda.h5");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s' '%s'", base, a, base, b);
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    char args[2048];
    snprintf(args, sizeof args, "encode-text --precision fp32 --clip '%s' --data '%s' --vocab '%s'", fx.clip, a,
             fx.vocab);
    ck_assert_int_eq(run("", vc_test_vclip_bin(), args, vc_test_path("t.out"), vc_test_path("t.err")), 0);
    snprintf(args, sizeof args, "encode-text --precision fp32 --device cuda --clip '%s' --data '%s' --vocab '%s'",
             fx.clip, b, fx.vocab);
    ck_assert_msg(run("", fx.cuemu, args, vc_test_path("t.out"), vc_test_path("t.err")) == 0, "%s",
                  vc_test_read_file(vc_test_path("t.err"), NULL));
    int64_t nf, nc, E, gf, gc, gE;
    float *x = read_all(a, &nf, &nc, &E), *y = read_all(b, &gf, &gc, &gE);
    ck_assert(nf == gf && nc == gc && nc == 4);
    double w = worst_rel(y + nf * E, x + nf * E, nc, E);
    ck_assert_msg(w <= FP32_TOL, "encode-text on cuda: worst relative difference %.3g", w);
    free(x);
    free(y);
    /* search: the same hits in the same order, scores within 1e-4 */
    const char *so[2] = {vc_test_path("s_cpu.out"), vc_test_path("s_cuda.out")};
    snprintf(args, sizeof args, "search --precision fp32 --clip '%s' --data '%s' --vocab '%s' --moments --top 6 hello cat",
             fx.clip, base, fx.vocab);
    ck_assert_int_eq(run("", vc_test_vclip_bin(), args, so[0], vc_test_path("s.err")), 0);
    char args2[2100];
    snprintf(args2, sizeof args2, "%s --device cuda", args);
    ck_assert_msg(run("", fx.cuemu, args2, so[1], vc_test_path("s.err")) == 0, "%s",
                  vc_test_read_file(vc_test_path("s.err"), NULL));
    char *t0 = vc_test_read_file(so[0], NULL), *t1 = vc_test_read_file(so[1], NULL);
    ck_assert(t0 && t1);
    char *p0 = t0, *p1 = t1;
    int lines = 0;
    for (;;) {
        long r0, r1;
        double s0, s1;
        char id0[64], id1[64], tm0[32], tm1[32];
        int n0 = sscanf(p0, "%ld\t%lf\t%63s\t%31s", &r0, &s0, id0, tm0);
        int n1 = sscanf(p1, "%ld\t%lf\t%63s\t%31s", &r1, &s1, id1, tm1);
        if (n0 != 4) break;
        ck_assert_int_eq(n1, 4);
        ck_assert_msg(r0 == r1 && fabs(s0 - s1) <= 1e-4, "search hit %ld: cpu %.6f, cuda %.6f", r0, s0, s1);
        ck_assert_msg(strcmp(id0, id1) == 0 && strcmp(tm0, tm1) == 0, "search hit %ld: cpu %s at %s, cuda %s at %s",
                      r0, id0, tm0, id1, tm1);
        lines++;
        p0 = strchr(p0, '\n');
        p1 = strchr(p1, '\n');
        if (!p0 || !p1) break;
        p0++;
        p1++;
    }
    ck_assert_int_eq(lines, 6);
    free(t0);
    free(t1);
}
END_TEST

/* One line, non-zero exit: no GPU, a GPU that is not there, fp16 training. */
START_TEST(test_missing_gpu_and_fp16_training_are_one_error_line) {
    if (!fixture_ok()) return;
#ifndef VC_CUDA_EMU
    printf("SKIP: the missing-GPU cases (they need the emulator's VC_CUDA_EMU_DEVICES=0)\n");
    return;
#endif
    struct {
        const char *prefix, *bin, *args, *needle;
    } cases[] = {
        {"VC_CUDA_EMU_DEVICES=0", fx.cuemu, "encode-video --device cuda --clip C --out O x.mp4", "no CUDA GPU"},
        {"", fx.cuemu, "encode-video --device cuda:3 --clip C --out O x.mp4", "cuda:3"},
        {"VC_CUDA_EMU_DEVICES=0", fx.cuemu, "encode-text --device cuda --clip C --data D", "no CUDA GPU"},
        {"VC_CUDA_EMU_DEVICES=0", fx.cuemu, "search --device cuda --clip C --data D query", "no CUDA GPU"},
        {"VC_CUDA_EMU_DEVICES=0", fx.cuemu, "bench encode-image --clip random --device cuda", "no CUDA GPU"},
        {"", vc_test_vclip_bin(), "bench train --precision fp16 --seconds 1", "inference"},
        {"", fx.cuemu, "encode-video --device gpu --clip C --out O x.mp4", "gpu"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *o = vc_test_path("m.out"), *e = vc_test_path("m.err");
        int rc = run(cases[i].prefix, cases[i].bin, cases[i].args, o, e);
        size_t n;
        char *err = vc_test_read_file(e, &n);
        ck_assert_msg(rc != 0, "%s: exit 0", cases[i].args);
        ck_assert_msg(err && strstr(err, cases[i].needle), "%s: stderr lacks '%s': %s", cases[i].args,
                      cases[i].needle, err ? err : "");
        int lines = 0;
        for (size_t j = 0; j < n; j++) lines += err[j] == '\n';
        ck_assert_msg(lines == 1, "%s: %d lines on stderr: %s", cases[i].args, lines, err);
        free(err);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("clip_cuda");
    TCase *tc = tcase_create("towers");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_towers_on_cuda_match_the_cpu_in_fp32_bf16_fp16);
    tcase_add_test(tc, test_fp16_falls_back_on_the_cpu_and_casts_widen_exactly);
    tcase_add_test(tc, test_encode_video_on_cuda_gives_the_cpu_embeddings);
    tcase_add_test(tc, test_encode_text_and_search_on_cuda_give_the_cpu_results);
    tcase_add_test(tc, test_missing_gpu_and_fp16_training_are_one_error_line);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
