/* test_encode.c: `vclip encode-video`, `encode-text` and `search` through the
 * built binary ($VCLIP_BIN), on videos made here with the ffmpeg command (a
 * 3 s and a 2 s H.264/MPEG-4 clip, an odd-sized VP9 or FFV1 one, a truncated
 * file, a file that is not a video), a tiny random CLIP written with
 * vc_clip_save (OpenAI names) and a tiny BPE vocabulary. What the binary
 * writes is checked against the same pieces run in this process (decode,
 * preprocess, image and text towers). Also the caption CSV reader and the
 * frame reader's order and END records, in-process. The binary runs with
 * --precision fp32, as the in-process towers do (bf16, the CLIP default,
 * against float32 is tests/test_precision.c). Without $VCLIP_BIN or
 * ffmpeg the tests that need them print SKIP and are not registered. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "data/encode.h"
#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "data/preprocess.h"
#include "data/video.h"
#include "harness.h"
#include "models/clip.h"
#include "models/tokenizer.h"
#include "train/trainer.h"

/* ---- fixture: made once, in make_suite, before the tests fork --------------- */

#define NV 5
static const char *const k_names[NV] = {"a.mp4", "b.mp4", "odd.mkv", "cut.mp4", "notvideo.mp4"};
static const char *const k_ids[NV] = {"a", "b", "odd", "cut", "notvideo"};

static struct {
    char err[1024];
    char clip[600], vocab[600], csv[600], out[600], stderr_path[600], stdout_path[600];
    char video[NV][600];
} fx;


static const char *vclip_bin(void) {
    const char *p = getenv("VCLIP_BIN");
    return p && *p && access(p, X_OK) == 0 ? p : NULL;
}

static bool have_cmd(const char *cmd) {
    char b[256];
    snprintf(b, sizeof b, "command -v %s >/dev/null 2>&1", cmd);
    return system(b) == 0;
}

static bool have_encoder(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' %s '", name);
    return system(cmd) == 0;
}

static bool ffmpeg(const char *args, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -hide_banner -loglevel error -y %s '%s' >/dev/null 2>&1", args, out);
    return system(cmd) == 0;
}

static bool write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(text, 1, strlen(text), f) == strlen(text);
    return fclose(f) == 0 && ok;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *b = malloc((size_t)len + 1);
    size_t got = fread(b, 1, (size_t)len, f);
    fclose(f);
    b[got] = 0;
    if (n) *n = got;
    return b;
}

/* The tiny vocabulary of tests/test_tokenizer.c: 6 merges, so <start> 518, <end> 519. */
static const char k_tiny_merges[] = "#version: tiny\nh e\nl l\nhe ll\nhell o</w>\nc a\nca t</w>";

static void tiny_cfg(vc_clip_cfg *c) {
    memset(c, 0, sizeof *c);
    c->towers = VC_CLIP_BOTH;
    c->act = VC_CLIP_QUICKGELU;
    c->embed = 32;
    c->image_size = 32;
    c->patch = 16;
    c->vision = (vc_clip_tower){64, 1, 1, 256};
    c->context = 16;
    c->vocab = 520; /* the tiny vocabulary's size */
    c->text = (vc_clip_tower){64, 1, 1, 256};
}

#include <stdarg.h>
__attribute__((format(printf, 1, 2))) static bool fail_fixture(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fx.err, sizeof fx.err, fmt, ap);
    va_end(ap);
    return false;
}
#define FAIL(...) fail_fixture(__VA_ARGS__)

static bool make_fixture(void) {
    snprintf(fx.clip, sizeof fx.clip, "%s", vc_test_path("tiny_clip.safetensors"));
    snprintf(fx.vocab, sizeof fx.vocab, "%s", vc_test_path("tiny_vocab.txt.gz"));
    snprintf(fx.csv, sizeof fx.csv, "%s", vc_test_path("captions.csv"));
    snprintf(fx.out, sizeof fx.out, "%s", vc_test_path("out.h5"));
    snprintf(fx.stderr_path, sizeof fx.stderr_path, "%s", vc_test_path("encode.stderr"));
    snprintf(fx.stdout_path, sizeof fx.stdout_path, "%s", vc_test_path("encode.stdout"));
    gzFile g = gzopen(fx.vocab, "wb");
    if (!g || gzwrite(g, k_tiny_merges, (unsigned)strlen(k_tiny_merges)) <= 0 || gzclose(g) != Z_OK)
        return FAIL("cannot write %s", fx.vocab);
    vc_clip m;
    vc_clip_cfg cfg;
    tiny_cfg(&cfg);
    if (vc_clip_init_random(&m, &cfg, 11) || vc_clip_save(&m, fx.clip, VC_CLIP_NAMES_OPENAI))
        return FAIL("tiny CLIP: %s", vc_last_error());
    vc_clip_free(&m);

    for (int i = 0; i < NV; i++) snprintf(fx.video[i], sizeof fx.video[i], "%s", vc_test_path(k_names[i]));
    const char *h264 = have_encoder("libx264") ? "-c:v libx264 -pix_fmt yuv420p" : "-c:v mpeg4 -q:v 3 -pix_fmt yuv420p";
    char args[1024];
    snprintf(args, sizeof args, "-f lavfi -i testsrc=size=320x240:rate=25:duration=3 %s", h264);
    if (!ffmpeg(args, fx.video[0])) return FAIL("ffmpeg: %s", args);
    snprintf(args, sizeof args, "-f lavfi -i testsrc2=size=160x120:rate=30:duration=2 %s", h264);
    if (!ffmpeg(args, fx.video[1])) return FAIL("ffmpeg: %s", args);
    /* odd size: FFV1 codes any size; VP9 in WebM when this ffmpeg has it */
    if (have_encoder("libvpx-vp9")) {
        snprintf(fx.video[2], sizeof fx.video[2], "%s", vc_test_path("odd.webm"));
        snprintf(args, sizeof args, "-f lavfi -i testsrc=size=121x87:rate=30:duration=2 -c:v libvpx-vp9 -deadline realtime");
    } else snprintf(args, sizeof args, "-f lavfi -i testsrc=size=121x87:rate=30:duration=2 -c:v ffv1");
    if (!ffmpeg(args, fx.video[2])) return FAIL("ffmpeg: %s", args);
    /* moov first, so the cut file opens and ends in damage */
    const char *full = vc_test_path("long.mp4");
    snprintf(args, sizeof args, "-f lavfi -i testsrc=size=128x96:rate=25:duration=6 %s -movflags +faststart", h264);
    if (!ffmpeg(args, full)) return FAIL("ffmpeg: %s", args);
    size_t n;
    char *bytes = slurp(full, &n);
    FILE *f = fopen(fx.video[3], "wb");
    if (!bytes || !f || fwrite(bytes, 1, n * 4 / 10, f) != n * 4 / 10) return FAIL("cannot write %s", fx.video[3]);
    fclose(f);
    free(bytes);
    if (!write_text(fx.video[4], "this is not a video, only text\n")) return FAIL("cannot write %s", fx.video[4]);

    /* captions: a header, quoting, a key by path, a multi-line caption, CRLF */
    char csv[2048];
    snprintf(csv, sizeof csv,
             "video,caption\n"
             "a,\"hello cat, hello\"\n"
             "b.mp4,\"a \"\"quoted\"\" cat\"\r\n"
             "%s,\"two\nlines\"\n"
             "\n"
             "a,cat\n"
             "notvideo,hello\n",
             fx.video[2]);
    if (!write_text(fx.csv, csv)) return FAIL("cannot write %s", fx.csv);
    return true;
}

static const char *const k_captions[] = {"hello cat, hello", "a \"quoted\" cat", "two\nlines", "cat", "hello"};
static const int k_caption_video[] = {0, 1, 2, 0, 4};
#define NC 5

/* Runs the binary with args (shell words), stdout and stderr into files. */
static int run_vclip(const char *args, const char *out, const char *err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", vclip_bin(), args, out, err);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static int g_encoded = -1;
static char g_encode_err[8192];

/* encode-video over every fixture video, once per process. */
static void encode_all(void) {
    ck_assert_msg(!fx.err[0], "fixture: %s", fx.err);
    if (g_encoded >= 0) {
        ck_assert_int_eq(g_encoded, 0);
        return;
    }
    char args[4096];
    int k = snprintf(args, sizeof args, "encode-video --precision fp32 --clip '%s' --out '%s' --dtype f32 --batch 4 --captions '%s' "
                                        "--vocab '%s'", fx.clip, fx.out, fx.csv, fx.vocab);
    for (int i = 0; i < NV; i++) k += snprintf(args + k, sizeof args - (size_t)k, " '%s'", fx.video[i]);
    g_encoded = run_vclip(args, fx.stdout_path, fx.stderr_path);
    char *e = slurp(fx.stderr_path, NULL);
    snprintf(g_encode_err, sizeof g_encode_err, "%s", e ? e : "");
    free(e);
    ck_assert_msg(g_encoded == 0, "encode-video failed (%d): %s", g_encoded, g_encode_err);
}

static vc_h5 *open_ok(const char *path) {
    vc_h5 *h = NULL;
    ck_assert_msg(vc_h5_open(&h, path) == VC_OK, "%s", vc_last_error());
    return h;
}

static vc_clip *load_tiny(void) {
    static vc_clip m;
    vc_clip_opts o = {0};
    ck_assert_msg(vc_clip_load(&m, fx.clip, &o) == VC_OK, "%s", vc_last_error());
    return &m;
}

static float max_diff(const float *a, const float *b, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]) / fmaxf(1.0f, fabsf(b[i]));
        if (!(d <= m)) m = d;
    }
    return m;
}

/* In-process: raw text embeddings of texts [n, E]. */
static void encode_texts_here(vc_clip *m, const char *const *texts, int n, float *out) {
    vc_tokenizer *tk;
    ck_assert_msg(vc_tokenizer_load(&tk, fx.vocab) == VC_OK, "%s", vc_last_error());
    int64_t L = m->cfg.context, E = m->cfg.embed;
    int32_t *ids = malloc((size_t)(n * L) * sizeof *ids);
    for (int i = 0; i < n; i++) ck_assert_int_eq(vc_tokenize(tk, texts[i], ids + i * L, (int)L, NULL), VC_OK);
    vc_tensor x;
    vc_tensor_wrap(&x, ids, VC_I32, VC_DIMS(n, L));
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    vc_var *e = vc_clip_encode_text(&t, m, &x);
    ck_assert_msg(e != NULL, "%s", vc_last_error());
    memcpy(out, e->val.data, (size_t)(n * E) * sizeof *out);
    vc_tape_free(&t);
    free(ids);
    vc_tokenizer_free(tk);
}

static int count_lines_with(const char *text, const char *needle) {
    int n = 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        char *line = strndup(l, len);
        n += strstr(line, needle) != NULL;
        free(line);
        l += len + (e ? 1 : 0);
    }
    return n;
}

/* ---- in-process: CSV and frame reader ---------------------------------------- */

START_TEST(test_csv_reader_handles_quotes_newlines_crlf_and_bom) {
    const char *p = vc_test_path("quotes.csv");
    ck_assert(write_text(p, "\xEF\xBB\xBFid,text\r\n"
                            "v1,\"a, b\"\r\n"
                            "\r\n"
                            "\"v2\",\"say \"\"hi\"\"\nthere\"\n"
                            "v3,plain \"inner\" quote\n"
                            "v4,\n"
                            "v5,last"));
    vc_csv *c;
    ck_assert_int_eq(vc_csv_open(&c, p), VC_OK);
    static const char *const want[][2] = {{"id", "text"}, {"v1", "a, b"}, {"v2", "say \"hi\"\nthere"},
                                          {"v3", "plain \"inner\" quote"}, {"v4", ""}, {"v5", "last"}};
    static const int64_t want_line[] = {1, 2, 4, 6, 7, 8};
    for (int r = 0; r < 6; r++) {
        char **f;
        int n, got;
        int64_t line;
        ck_assert_msg(vc_csv_next(c, &f, &n, &line, &got) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(got, 1);
        ck_assert_int_eq(n, 2);
        ck_assert_str_eq(f[0], want[r][0]);
        ck_assert_str_eq(f[1], want[r][1]);
        ck_assert_int_eq(line, want_line[r]);
    }
    char **f;
    int n, got = 1;
    int64_t line;
    ck_assert_int_eq(vc_csv_next(c, &f, &n, &line, &got), VC_OK);
    ck_assert_int_eq(got, 0);
    vc_csv_close(c);

    ck_assert(write_text(p, "v1,ok\nv2,\"bad\"x\n"));
    ck_assert_int_eq(vc_csv_open(&c, p), VC_OK);
    ck_assert_int_eq(vc_csv_next(c, &f, &n, &line, &got), VC_OK);
    ck_assert_int_eq(vc_csv_next(c, &f, &n, &line, &got), VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "line 2"));
    vc_csv_close(c);
    ck_assert(write_text(p, "v1,\"never closed\n"));
    ck_assert_int_eq(vc_csv_open(&c, p), VC_OK);
    ck_assert_int_eq(vc_csv_next(c, &f, &n, &line, &got), VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "inside a quoted field"));
    vc_csv_close(c);
}
END_TEST

START_TEST(test_video_stem) {
    char b[64];
    vc_video_stem("data/clips/v12.mp4", b, sizeof b);
    ck_assert_str_eq(b, "v12");
    vc_video_stem("x.tar.gz", b, sizeof b);
    ck_assert_str_eq(b, "x.tar");
    vc_video_stem("dir.d/noext", b, sizeof b);
    ck_assert_str_eq(b, "noext");
    vc_video_stem("x/.hidden", b, sizeof b);
    ck_assert_str_eq(b, ".hidden");
    ck_assert_uint_eq(vc_video_stem("abcdef.mp4", b, 4), 6);
    ck_assert_str_eq(b, "abc");
}
END_TEST

/* Every video gets its frames in order, then exactly one END, also a file
 * that cannot be opened; a queue of 2 slots holds the decoder back. With 3
 * decoder threads (videos decoded at once) the items and pixels are the
 * same as with one. */
START_TEST(test_frame_reader_order_and_end_records) {
    ck_assert_msg(!fx.err[0], "fixture: %s", fx.err);
    const char *paths[NV];
    for (int i = 0; i < NV; i++) paths[i] = fx.video[i];
    double sums[2][64];
    int nitems[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        vc_frame_reader_opts o = {.fps = 1, .size = 32, .capacity = 2, .workers = pass ? 3 : 1};
        vc_frame_reader *r;
        ck_assert_int_eq(vc_frame_reader_start(&r, paths, NV, &o), VC_OK);
        int64_t frames[NV] = {0}, ends[NV] = {0}, cur = 0;
        vc_enc_item it;
        int got;
        while (vc_frame_reader_next(r, &it, &got) == VC_OK && got) {
            ck_assert_int_eq(it.video, cur);
            if (it.kind == VC_ENC_FRAME) {
                ck_assert_int_eq(it.index, frames[cur]);
                ck_assert(it.pixels[0] == it.pixels[0]);
                double sm = 0;
                for (int k = 0; k < 3 * 32 * 32; k++) sm += it.pixels[k];
                ck_assert_int_lt(nitems[pass], 64);
                sums[pass][nitems[pass]++] = sm;
                frames[cur]++;
            } else {
                ck_assert_int_eq(it.kind, VC_ENC_END);
                ck_assert_int_eq(it.frames, frames[cur]);
                ends[cur]++;
                cur++;
            }
        }
        ck_assert_int_eq(cur, NV);
        for (int i = 0; i < NV; i++) ck_assert_int_eq(ends[i], 1);
        ck_assert_int_eq(frames[0], 3);
        ck_assert_int_eq(frames[1], 2);
        ck_assert_int_eq(frames[2], 2);
        ck_assert_int_eq(frames[4], 0);
        vc_frame_reader_stop(r);
        /* stopping early (the decoders blocked on full queues) joins cleanly */
        ck_assert_int_eq(vc_frame_reader_start(&r, paths, NV, &o), VC_OK);
        ck_assert_int_eq(vc_frame_reader_next(r, &it, &got), VC_OK);
        ck_assert_int_eq(got, 1);
        vc_frame_reader_stop(r);
    }
    ck_assert_int_eq(nitems[0], nitems[1]);
    for (int i = 0; i < nitems[0]; i++) ck_assert(sums[0][i] == sums[1][i]);
}
END_TEST

/* ---- through the binary -------------------------------------------------------- */

START_TEST(test_encode_video_records_every_video_and_reports_the_broken) {
    encode_all();
    vc_h5 *h = open_ok(fx.out);
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->n_videos, NV);
    ck_assert_int_eq(in->dim, 32);
    ck_assert_int_eq(in->frame_dtype, VC_F32);
    ck_assert(fabs(in->fps - 1.0) < 1e-12);
    ck_assert_ptr_nonnull(in->clip_model);
    ck_assert_str_eq(in->clip_model, "tiny_clip");
    const int64_t *off = vc_h5_offsets(h);
    for (int i = 0; i < NV; i++) {
        char *id;
        ck_assert_int_eq(vc_h5_video_id(h, i, &id), VC_OK);
        ck_assert_str_eq(id, k_ids[i]);
        free(id);
    }
    /* frames at 1 fps = duration */
    ck_assert_int_eq(off[1] - off[0], 3);
    ck_assert_int_eq(off[2] - off[1], 2);
    ck_assert_int_eq(off[3] - off[2], 2);
    ck_assert_int_le(off[4] - off[3], 6);
    ck_assert_int_eq(off[5] - off[4], 0);
    /* one stderr line each for the broken ones, none for the good ones */
    ck_assert_int_eq(count_lines_with(g_encode_err, "notvideo.mp4"), 1);
    ck_assert_int_eq(count_lines_with(g_encode_err, "cut.mp4"), 1);
    ck_assert_int_eq(count_lines_with(g_encode_err, "a.mp4"), 0);
    ck_assert_int_eq(count_lines_with(g_encode_err, "odd."), 0);
    char *so = slurp(fx.stdout_path, NULL);
    ck_assert_msg(strstr(so, "encoded 5 videos") && strstr(so, "1 could not be opened") && strstr(so, "5 captions"),
                  "%s", so);
    free(so);
    /* no temporary file left next to the output */
    DIR *d = opendir(vc_test_tmpdir());
    struct dirent *de;
    while ((de = readdir(d))) ck_assert_msg(!strstr(de->d_name, ".tmp."), "left over: %s", de->d_name);
    closedir(d);
    vc_h5_close(h);
}
END_TEST

typedef struct {
    vc_clip_prep prep;
    int w, h;
    float *px;
    int n, cap;
} prep_ctx;

static vc_status prep_fn(void *ctx, const vc_video_frame *f) {
    prep_ctx *c = ctx;
    if (f->width != c->w || f->height != c->h) {
        if (c->w) vc_clip_prep_free(&c->prep);
        ck_assert_int_eq(vc_clip_prep_init(&c->prep, f->width, f->height, 32), VC_OK);
        c->w = f->width;
        c->h = f->height;
    }
    ck_assert_int_lt(c->n, c->cap);
    vc_clip_prep_run(&c->prep, f->rgb, f->stride, c->px + (size_t)c->n * 3 * 32 * 32);
    c->n++;
    return VC_OK;
}

START_TEST(test_frame_embeddings_equal_in_process_encoding) {
    encode_all();
    vc_clip *m = load_tiny();
    vc_h5 *h = open_ok(fx.out);
    const int64_t *off = vc_h5_offsets(h);
    for (int v = 0; v < 4; v++) {
        prep_ctx c = {.cap = 16};
        c.px = malloc((size_t)c.cap * 3 * 32 * 32 * sizeof(float));
        vc_video_opts vo = {1, 1};
        vc_video_decode(fx.video[v], &vo, prep_fn, &c, NULL);
        if (c.w) vc_clip_prep_free(&c.prep);
        ck_assert_int_eq(c.n, off[v + 1] - off[v]);
        if (c.n == 0) {
            free(c.px);
            continue;
        }
        vc_tensor x;
        vc_tensor_wrap(&x, c.px, VC_F32, VC_DIMS(c.n, 3, 32, 32));
        vc_tape t;
        vc_tape_init(&t, 0);
        vc_tape_grad(&t, false);
        vc_var *e = vc_clip_encode_image(&t, m, &x);
        ck_assert_msg(e != NULL, "%s", vc_last_error());
        float *got = malloc((size_t)c.n * 32 * sizeof *got);
        ck_assert_int_eq(vc_h5_read_frames(h, off[v], c.n, got), VC_OK);
        float d = max_diff(got, vc_f32(&e->val), c.n * 32);
        ck_assert_msg(d <= 1e-5f, "%s: frame embeddings differ by %g", k_names[v], d);
        free(got);
        vc_tape_free(&t);
        free(c.px);
    }
    vc_h5_close(h);
    vc_clip_free(m);
}
END_TEST

START_TEST(test_captions_from_csv_are_encoded_with_the_text_tower) {
    encode_all();
    vc_h5 *h = open_ok(fx.out);
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->n_captions, NC);
    ck_assert(in->has_text_embeddings);
    ck_assert(in->has_captions_text);
    const int64_t *cv = vc_h5_caption_video(h);
    for (int i = 0; i < NC; i++) {
        char *s;
        ck_assert_int_eq(vc_h5_caption(h, i, &s), VC_OK);
        ck_assert_str_eq(s, k_captions[i]);
        free(s);
        ck_assert_int_eq(cv[i], k_caption_video[i]);
    }
    vc_clip *m = load_tiny();
    float want[NC * 32], got[NC * 32];
    encode_texts_here(m, k_captions, NC, want);
    ck_assert_int_eq(vc_h5_read_text(h, 0, NC, got), VC_OK);
    float d = max_diff(got, want, NC * 32);
    ck_assert_msg(d <= 1e-5f, "caption embeddings differ by %g", d);
    vc_clip_free(m);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_encode_video_split_ratio_assigns_every_video_once) {
    ck_assert_msg(!fx.err[0], "fixture: %s", fx.err);
    const char *out = vc_test_path("split.h5");
    char args[4096];
    int k = snprintf(args, sizeof args, "encode-video --precision fp32 --clip '%s' --out '%s' --split-ratio 0.5,0.25,0.25 --seed 3",
                     fx.clip, out);
    for (int i = 0; i < NV; i++) k += snprintf(args + k, sizeof args - (size_t)k, " '%s'", fx.video[i]);
    ck_assert_int_eq(run_vclip(args, vc_test_path("split.out"), vc_test_path("split.err")), 0);
    vc_h5 *h;
    ck_assert_msg(vc_h5_open(&h, out) == VC_OK, "%s", vc_last_error());
    int seen[NV] = {0};
    int64_t want[VC_NSPLITS] = {llround(0.5 * NV), llround(0.75 * NV) - llround(0.5 * NV), 0};
    want[2] = NV - want[0] - want[1];
    for (int sp = 0; sp < VC_NSPLITS; sp++) {
        const int64_t *idx;
        int64_t n;
        ck_assert_int_eq(vc_h5_split(h, (vc_split)sp, &idx, &n), VC_OK);
        ck_assert_int_eq(n, want[sp]);
        for (int64_t i = 0; i < n; i++) seen[idx[i]]++;
    }
    for (int i = 0; i < NV; i++) ck_assert_int_eq(seen[i], 1); /* broken videos included: they are videos */
    vc_h5_close(h);
    /* a bad ratio is refused before anything is written */
    snprintf(args, sizeof args, "encode-video --precision fp32 --clip '%s' --out '%s' --split-ratio 0.5,0.5,0.5 '%s'", fx.clip,
             vc_test_path("never2.h5"), fx.video[0]);
    ck_assert_int_ne(run_vclip(args, vc_test_path("split.out"), vc_test_path("split.err")), 0);
    ck_assert_int_ne(access(vc_test_path("never2.h5"), F_OK), 0);
}
END_TEST

START_TEST(test_encode_video_rejects_an_unknown_caption_video_before_writing) {
    ck_assert_msg(!fx.err[0], "fixture: %s", fx.err);
    const char *csv = vc_test_path("bad_captions.csv"), *out = vc_test_path("never.h5");
    ck_assert(write_text(csv, "a,fine\nzzz,no such video\n"));
    char args[4096];
    snprintf(args, sizeof args, "encode-video --precision fp32 --clip '%s' --out '%s' --captions '%s' --vocab '%s' '%s'", fx.clip, out,
             csv, fx.vocab, fx.video[0]);
    ck_assert_int_ne(run_vclip(args, vc_test_path("bad.out"), vc_test_path("bad.err")), 0);
    char *e = slurp(vc_test_path("bad.err"), NULL);
    ck_assert_msg(strstr(e, "line 2") && strstr(e, "zzz"), "%s", e);
    free(e);
    ck_assert_int_ne(access(out, F_OK), 0);
    /* no arguments: usage, non-zero */
    ck_assert_int_ne(run_vclip("encode-video", vc_test_path("bad.out"), vc_test_path("bad.err")), 0);
    /* two videos with the same id */
    snprintf(args, sizeof args, "encode-video --precision fp32 --clip '%s' --out '%s' '%s' '%s'", fx.clip, out, fx.video[0], fx.video[0]);
    ck_assert_int_ne(run_vclip(args, vc_test_path("bad.out"), vc_test_path("bad.err")), 0);
    e = slurp(vc_test_path("bad.err"), NULL);
    ck_assert_msg(strstr(e, "same video id"), "%s", e);
    free(e);
}
END_TEST

/* An import-style copy of out.h5: captions without embeddings, class names,
 * labels and a split. */
/* Copies every video (id and frames, at most 16 frames of 32) of h into w. */
static void copy_videos(vc_h5 *h, vc_h5w *w) {
    const int64_t *off = vc_h5_offsets(h);
    float buf[16 * 32];
    for (int64_t v = 0; v < vc_h5_get_info(h)->n_videos; v++) {
        char *id;
        ck_assert_int_eq(vc_h5_video_id(h, v, &id), VC_OK);
        ck_assert_int_eq(vc_h5_read_frames(h, off[v], off[v + 1] - off[v], buf), VC_OK);
        ck_assert_int_eq(vc_h5w_add_video(w, id, buf, off[v + 1] - off[v], NULL), VC_OK);
        free(id);
    }
}

static void write_import_style(const char *path) {
    vc_h5 *h = open_ok(fx.out);
    const vc_h5_info *in = vc_h5_get_info(h);
    const int64_t *cv = vc_h5_caption_video(h);
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 32, .dtype = VC_F32, .clip_model = "tiny", .fps = 1};
    ck_assert_int_eq(vc_h5w_open(&w, path, &o), VC_OK);
    copy_videos(h, w);
    for (int64_t c = 0; c < in->n_captions; c++) {
        char *s;
        ck_assert_int_eq(vc_h5_caption(h, c, &s), VC_OK);
        ck_assert_int_eq(vc_h5w_add_caption(w, cv[c], s, NULL), VC_OK);
        free(s);
    }
    int64_t train[3] = {0, 2, 4}, labels[NV] = {0, 1, 0, 1, 0};
    const char *names[2] = {"cat", "hello world"};
    ck_assert_int_eq(vc_h5w_set_split(w, "train", train, 3), VC_OK);
    ck_assert_int_eq(vc_h5w_set_classes(w, names, 2, NULL), VC_OK);
    ck_assert_int_eq(vc_h5w_set_labels(w, labels, NV), VC_OK);
    ck_assert_msg(vc_h5w_close(w) == VC_OK, "%s", vc_last_error());
    vc_h5_close(h);
}

START_TEST(test_encode_text_fills_embeddings_in_place_atomically) {
    encode_all();
    const char *data = vc_test_path("import.h5"), *tpl = vc_test_path("templates.txt");
    write_import_style(data);
    {
        vc_h5 *h = open_ok(data);
        ck_assert(!vc_h5_get_info(h)->has_text_embeddings);
        vc_h5_close(h);
    }
    size_t n0 = 0, n1 = 0;
    char *before = slurp(data, &n0);
    char args[4096];
    /* a failure (vocabulary missing) leaves the file as it was */
    snprintf(args, sizeof args, "encode-text --precision fp32 --clip '%s' --data '%s' --vocab '%s'", fx.clip, data,
             vc_test_path("no_such_vocab.txt.gz"));
    ck_assert_int_ne(run_vclip(args, vc_test_path("et.out"), vc_test_path("et.err")), 0);
    char *after = slurp(data, &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    free(after);
    free(before);
    /* a template file without {} is an error too */
    ck_assert(write_text(tpl, "a video of {}.\nno placeholder\n"));
    snprintf(args, sizeof args, "encode-text --precision fp32 --clip '%s' --data '%s' --vocab '%s' --templates '%s'", fx.clip, data,
             fx.vocab, tpl);
    ck_assert_int_ne(run_vclip(args, vc_test_path("et.out"), vc_test_path("et.err")), 0);

    ck_assert(write_text(tpl, "# two templates\na video of {}.\n\n{} and {}\n"));
    ck_assert_int_eq(run_vclip(args, vc_test_path("et.out"), vc_test_path("et.err")), 0);
    vc_h5 *h = open_ok(data), *ref = open_ok(fx.out);
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert(in->has_text_embeddings);
    ck_assert(in->has_class_embeddings);
    ck_assert(in->has_labels);
    ck_assert(in->has_split[VC_SPLIT_TRAIN]);
    ck_assert_int_eq(in->split_size[VC_SPLIT_TRAIN], 3);
    ck_assert_int_eq(in->n_videos, NV);
    ck_assert_str_eq(in->clip_model, "tiny");
    /* captions: the same embeddings encode-video made */
    float got[NC * 32], want[NC * 32];
    ck_assert_int_eq(vc_h5_read_text(h, 0, NC, got), VC_OK);
    ck_assert_int_eq(vc_h5_read_text(ref, 0, NC, want), VC_OK);
    ck_assert_msg(max_diff(got, want, NC * 32) <= 1e-6f, "captions differ");
    /* frames copied unchanged */
    int64_t F = vc_h5_get_info(ref)->n_frames;
    ck_assert_int_eq(in->n_frames, F);
    float *fa = malloc((size_t)F * 32 * sizeof *fa), *fb = malloc((size_t)F * 32 * sizeof *fb);
    ck_assert_int_eq(vc_h5_read_frames(h, 0, F, fa), VC_OK);
    ck_assert_int_eq(vc_h5_read_frames(ref, 0, F, fb), VC_OK);
    ck_assert(memcmp(fa, fb, (size_t)F * 32 * sizeof *fa) == 0);
    free(fa);
    free(fb);
    /* classes: normalise per template, average, normalise */
    vc_clip *m = load_tiny();
    const char *prompts[4] = {"a video of cat.", "cat and cat", "a video of hello world.", "hello world and hello world"};
    float pe[4 * 32], ce[2 * 32], cw[2 * 32];
    encode_texts_here(m, prompts, 4, pe);
    for (int k = 0; k < 2; k++) {
        double s2 = 0;
        for (int t = 0; t < 2; t++) {
            float *p = pe + (2 * k + t) * 32;
            double s = 0;
            for (int j = 0; j < 32; j++) s += (double)p[j] * p[j];
            for (int j = 0; j < 32; j++) p[j] /= (float)sqrt(s);
        }
        for (int j = 0; j < 32; j++) {
            cw[k * 32 + j] = (pe[2 * k * 32 + j] + pe[(2 * k + 1) * 32 + j]) / 2;
            s2 += (double)cw[k * 32 + j] * cw[k * 32 + j];
        }
        for (int j = 0; j < 32; j++) cw[k * 32 + j] /= (float)sqrt(s2);
    }
    ck_assert_int_eq(vc_h5_read_classes(h, ce), VC_OK);
    ck_assert_msg(max_diff(ce, cw, 64) <= 1e-5f, "class embeddings differ by %g", max_diff(ce, cw, 64));
    vc_clip_free(m);
    vc_h5_close(h);
    vc_h5_close(ref);
    DIR *d = opendir(vc_test_tmpdir());
    struct dirent *de;
    while ((de = readdir(d))) ck_assert_msg(!strstr(de->d_name, ".tmp."), "left over: %s", de->d_name);
    closedir(d);
}
END_TEST

/* Parses "RANK\tSCORE\tID\tTIME" lines; returns the count. */
static int parse_results(const char *text, double *score, char ids[][64], double *time, int max) {
    int n = 0;
    for (const char *l = text; *l && n < max;) {
        int rank;
        char t[64];
        ck_assert_msg(sscanf(l, "%d\t%lf\t%63[^\t]\t%63s", &rank, &score[n], ids[n], t) == 4, "bad line: %s", l);
        ck_assert_int_eq(rank, n + 1);
        time[n] = strcmp(t, "-") == 0 ? -1 : atof(t);
        n++;
        const char *e = strchr(l, '\n');
        if (!e) break;
        l = e + 1;
    }
    return n;
}

/* In-process: the normalised query. */
static void query_here(const char *q, float *out) {
    vc_clip *m = load_tiny();
    encode_texts_here(m, &q, 1, out);
    double s = 0;
    for (int j = 0; j < 32; j++) s += (double)out[j] * out[j];
    for (int j = 0; j < 32; j++) out[j] /= (float)sqrt(s);
    vc_clip_free(m);
}

START_TEST(test_search_ranks_videos_by_mean_frame_cosine) {
    encode_all();
    char args[4096];
    snprintf(args, sizeof args, "search --precision fp32 --clip '%s' --data '%s' --vocab '%s' --top 3 hello cat", fx.clip, fx.out,
             fx.vocab);
    ck_assert_int_eq(run_vclip(args, vc_test_path("s.out"), vc_test_path("s.err")), 0);
    char *o = slurp(vc_test_path("s.out"), NULL);
    double sc[16], tm[16];
    char ids[16][64];
    ck_assert_int_eq(parse_results(o, sc, ids, tm, 16), 3);
    free(o);
    for (int i = 1; i < 3; i++) ck_assert(sc[i] <= sc[i - 1]);
    for (int i = 0; i < 3; i++) ck_assert(tm[i] < 0);
    /* the in-process scores of every video with frames */
    float q[32], fr[16 * 32];
    query_here("hello cat", q);
    vc_h5 *h = open_ok(fx.out);
    const int64_t *off = vc_h5_offsets(h);
    double best = -2;
    int nonempty = 0;
    for (int v = 0; v < NV; v++) {
        int64_t n = off[v + 1] - off[v];
        if (!n) continue;
        nonempty++;
        ck_assert_int_eq(vc_h5_read_frames(h, off[v], n, fr), VC_OK);
        double mean[32] = {0}, s = 0, d = 0;
        for (int64_t f = 0; f < n; f++) {
            double l = 0;
            for (int j = 0; j < 32; j++) l += (double)fr[f * 32 + j] * fr[f * 32 + j];
            for (int j = 0; j < 32; j++) mean[j] += fr[f * 32 + j] / sqrt(l);
        }
        for (int j = 0; j < 32; j++) s += mean[j] * mean[j], d += mean[j] * q[j];
        double score = d / sqrt(s);
        if (score > best) best = score;
        for (int i = 0; i < 3; i++)
            if (strcmp(ids[i], k_ids[v]) == 0) ck_assert_msg(fabs(sc[i] - score) < 1e-4, "%s: %g vs %g", k_ids[v], sc[i], score);
    }
    ck_assert_msg(fabs(sc[0] - best) < 1e-4, "top score %g, best %g", sc[0], best);
    vc_h5_close(h);
    /* K larger than the videos with frames: one line per such video */
    snprintf(args, sizeof args, "search --precision fp32 --clip '%s' --data '%s' --vocab '%s' --top 50 \"a cat\"", fx.clip, fx.out,
             fx.vocab);
    ck_assert_int_eq(run_vclip(args, vc_test_path("s.out"), vc_test_path("s.err")), 0);
    o = slurp(vc_test_path("s.out"), NULL);
    ck_assert_int_eq(parse_results(o, sc, ids, tm, 16), nonempty);
    for (int i = 0; i < nonempty; i++) ck_assert_str_ne(ids[i], "notvideo");
    free(o);
}
END_TEST

START_TEST(test_search_moments_gives_frame_times) {
    encode_all();
    char args[4096];
    snprintf(args, sizeof args, "search --precision fp32 --moments --clip '%s' --data '%s' --vocab '%s' --top 4 hello", fx.clip, fx.out,
             fx.vocab);
    ck_assert_int_eq(run_vclip(args, vc_test_path("m.out"), vc_test_path("m.err")), 0);
    char *o = slurp(vc_test_path("m.out"), NULL);
    double sc[16], tm[16];
    char ids[16][64];
    ck_assert_int_eq(parse_results(o, sc, ids, tm, 16), 4);
    free(o);
    float q[32], fr[16 * 32];
    query_here("hello", q);
    vc_h5 *h = open_ok(fx.out);
    const int64_t *off = vc_h5_offsets(h);
    double best = -2;
    for (int v = 0; v < NV; v++) {
        int64_t n = off[v + 1] - off[v];
        ck_assert_int_eq(vc_h5_read_frames(h, off[v], n, fr), VC_OK);
        for (int64_t f = 0; f < n; f++) {
            double l = 0, d = 0;
            for (int j = 0; j < 32; j++) l += (double)fr[f * 32 + j] * fr[f * 32 + j], d += fr[f * 32 + j] * q[j];
            double s = d / sqrt(l);
            if (s > best) best = s;
            for (int i = 0; i < 4; i++)
                if (strcmp(ids[i], k_ids[v]) == 0 && fabs(tm[i] - (double)f) < 1e-9)
                    ck_assert_msg(fabs(sc[i] - s) < 1e-4, "%s at %g s: %g vs %g", k_ids[v], tm[i], sc[i], s);
        }
    }
    for (int i = 0; i < 4; i++) {
        ck_assert(tm[i] >= 0 && tm[i] < 6);
        ck_assert(tm[i] == floor(tm[i])); /* 1 fps: whole seconds */
        if (i) ck_assert(sc[i] <= sc[i - 1]);
    }
    ck_assert_msg(fabs(sc[0] - best) < 1e-4, "top moment %g, best %g", sc[0], best);
    vc_h5_close(h);
}
END_TEST

/* out.h5 with splits (train: all, val: the first three), for `vclip train`. */
static void write_with_splits(const char *path) {
    vc_h5 *h = open_ok(fx.out);
    const vc_h5_info *in = vc_h5_get_info(h);
    const int64_t *cv = vc_h5_caption_video(h);
    vc_h5w *w;
    vc_h5w_opts o = {.dim = 32, .dtype = VC_F32, .fps = 1};
    ck_assert_int_eq(vc_h5w_open(&w, path, &o), VC_OK);
    float buf[16 * 32];
    copy_videos(h, w);
    for (int64_t c = 0; c < in->n_captions; c++) {
        char *s;
        ck_assert_int_eq(vc_h5_caption(h, c, &s), VC_OK);
        ck_assert_int_eq(vc_h5_read_text(h, c, 1, buf), VC_OK);
        ck_assert_int_eq(vc_h5w_add_caption(w, cv[c], s, buf), VC_OK);
        free(s);
    }
    int64_t train[NV] = {0, 1, 2, 3, 4}, val[3] = {0, 1, 2};
    ck_assert_int_eq(vc_h5w_set_split(w, "train", train, NV), VC_OK);
    ck_assert_int_eq(vc_h5w_set_split(w, "val", val, 3), VC_OK);
    ck_assert_msg(vc_h5w_close(w) == VC_OK, "%s", vc_last_error());
    vc_h5_close(h);
}

/* With a mean pooler checkpoint whose linear text head was trained a little:
 * the query goes through the head, videos are pooled by the checkpoint. */
START_TEST(test_search_with_a_pooler_checkpoint) {
    encode_all();
    const char *data = vc_test_path("splits.h5"), *ini = vc_test_path("mean.ini"), *run = vc_test_path("run");
    write_with_splits(data);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "[data]\nfile = %s\nframes = 8\n[model]\ntype = mean\ntext_head = linear\n"
             "[train]\nbatch = 2\nepochs = 2\nmin_steps = 0\nlr = 1e-2\nwarmup = 0\nseed = 0\nout_dir = %s\n",
             data, run);
    ck_assert(write_text(ini, cfg));
    char args[4096], ckpt[700];
    snprintf(args, sizeof args, "train '%s'", ini);
    int rc = run_vclip(args, vc_test_path("t.out"), vc_test_path("t.err"));
    char *e = slurp(vc_test_path("t.err"), NULL);
    ck_assert_msg(rc == 0, "train failed: %s", e);
    free(e);
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", run);
    snprintf(args, sizeof args, "search --precision fp32 --clip '%s' --data '%s' --vocab '%s' --checkpoint '%s' --top 2 hello cat",
             fx.clip, data, fx.vocab, ckpt);
    rc = run_vclip(args, vc_test_path("s.out"), vc_test_path("s.err"));
    e = slurp(vc_test_path("s.err"), NULL);
    ck_assert_msg(rc == 0, "search failed: %s", e);
    free(e);
    char *o = slurp(vc_test_path("s.out"), NULL);
    double sc[16], tm[16];
    char ids[16][64];
    ck_assert_int_eq(parse_results(o, sc, ids, tm, 16), 2);
    free(o);
    ck_assert(sc[1] <= sc[0]);
    /* in-process: the head-mapped query against mean-pooled frames (T 8
     * covers every video here, so the mean pooler sees all frames) */
    vc_config *c = NULL;
    vc_run_cfg rcf;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler pm;
    ck_assert_msg(vc_model_from_checkpoint(ckpt, NULL, 0, &c, &rcf, &ps, &pm) == VC_OK, "%s", vc_last_error());
    vc_clip *m = load_tiny();
    const char *qt = "hello cat";
    float q[32], fr[16 * 32];
    encode_texts_here(m, &qt, 1, q);
    vc_clip_free(m);
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    vc_tensor x;
    vc_tensor_wrap(&x, q, VC_F32, VC_DIMS(1, 32));
    vc_var *y = vc_pooler_text(&t, &pm, vc_const(&t, &x));
    ck_assert_ptr_nonnull(y);
    memcpy(q, y->val.data, sizeof q);
    vc_tape_free(&t);
    vc_params_free(&ps);
    vc_config_free(c);
    vc_h5 *h = open_ok(data);
    const int64_t *off = vc_h5_offsets(h);
    double best = -2;
    for (int v = 0; v < NV; v++) {
        int64_t n = off[v + 1] - off[v];
        if (!n) continue;
        ck_assert_int_eq(vc_h5_read_frames(h, off[v], n, fr), VC_OK);
        double mean[32] = {0}, s = 0, d = 0;
        for (int64_t f = 0; f < n; f++) {
            double l = 0;
            for (int j = 0; j < 32; j++) l += (double)fr[f * 32 + j] * fr[f * 32 + j];
            for (int j = 0; j < 32; j++) mean[j] += fr[f * 32 + j] / sqrt(l);
        }
        for (int j = 0; j < 32; j++) s += mean[j] * mean[j], d += mean[j] * q[j];
        if (d / sqrt(s) > best) best = d / sqrt(s);
    }
    ck_assert_msg(fabs(sc[0] - best) < 1e-4, "top score %g, in-process best %g", sc[0], best);
    vc_h5_close(h);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("encode");
    TCase *tc = tcase_create("encode");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_csv_reader_handles_quotes_newlines_crlf_and_bom);
    tcase_add_test(tc, test_video_stem);
    if (!have_cmd("ffmpeg")) {
        printf("SKIP: encode tests with videos: no ffmpeg command\n");
    } else {
        if (!make_fixture()) printf("encode fixture failed: %s\n", fx.err);
        tcase_add_test(tc, test_frame_reader_order_and_end_records);
        if (!vclip_bin()) {
            printf("SKIP: encode-video/encode-text/search tests: VCLIP_BIN is not set to the built vclip\n");
        } else {
            tcase_add_test(tc, test_encode_video_records_every_video_and_reports_the_broken);
            tcase_add_test(tc, test_frame_embeddings_equal_in_process_encoding);
            tcase_add_test(tc, test_captions_from_csv_are_encoded_with_the_text_tower);
            tcase_add_test(tc, test_encode_video_rejects_an_unknown_caption_video_before_writing);
    tcase_add_test(tc, test_encode_video_split_ratio_assigns_every_video_once);
            tcase_add_test(tc, test_encode_text_fills_embeddings_in_place_atomically);
            tcase_add_test(tc, test_search_ranks_videos_by_mean_frame_cosine);
            tcase_add_test(tc, test_search_moments_gives_frame_times);
            tcase_add_test(tc, test_search_with_a_pooler_checkpoint);
        }
    }
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
