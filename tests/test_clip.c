/* The CLIP towers (models/clip.h) against PyTorch, plus loading and input
 * errors. tests/ref_clip.py builds small random CLIPs with a faithful
 * PyTorch model (OpenAI's module layout, torch's MultiheadAttention), saves
 * them in both naming schemes and in F32, F16 and BF16, converts torch.save
 * and TorchScript checkpoints with tools/clip_to_safetensors.py and computes
 * float64 embeddings from the stored weights; every image and text
 * embedding vclip computes must have cosine similarity above 0.99999 with
 * PyTorch's and a relative error (max |diff| / max |ref| per row) under
 * 1e-4. Without torch those tests are not registered (SKIP). The rest runs
 * everywhere: save/load round trips in both schemes, the architecture read
 * from shapes, a missing tensor, a wrong shape, a file that is not
 * safetensors or not CLIP, the head-width assumption and its override,
 * bad images and token ids, and batch/padding invariance. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "models/clip.h"
#include "tensor/safetensors.h"

#define COS_MIN 0.99999
#define REL_MAX 1e-4

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

/* Worst cosine similarity and relative error over the rows of got vs want [N, E]. */
static void compare_rows(const float *got, const float *want, int64_t N, int64_t E, double *min_cos,
                         double *max_rel) {
    *min_cos = 1;
    *max_rel = 0;
    for (int64_t n = 0; n < N; n++) {
        const float *a = got + n * E, *b = want + n * E;
        double ab = 0, aa = 0, bb = 0, md = 0, mb = 0;
        for (int64_t j = 0; j < E; j++) {
            ab += (double)a[j] * b[j];
            aa += (double)a[j] * a[j];
            bb += (double)b[j] * b[j];
            md = fmax(md, fabs((double)a[j] - b[j]));
            mb = fmax(mb, fabs((double)b[j]));
        }
        double cs = ab / sqrt(aa * bb + 1e-300), rel = md / (mb > 0 ? mb : 1);
        if (!(cs >= *min_cos)) *min_cos = isnan(cs) ? -2 : cs;
        if (!(rel <= *max_rel)) *max_rel = isnan(rel) ? INFINITY : rel;
    }
}

static void tiny_cfg(vc_clip_cfg *c, vc_clip_act act) {
    memset(c, 0, sizeof *c);
    c->towers = VC_CLIP_BOTH;
    c->act = act;
    c->embed = 24;
    c->image_size = 24;
    c->patch = 8;
    c->vision = (vc_clip_tower){64, 2, 2, 128};
    c->context = 10;
    c->vocab = 40;
    c->text = (vc_clip_tower){64, 2, 1, 256};
}

static void random_images(vc_tensor *im, int64_t N, int64_t S, uint64_t seed) {
    ck_assert_int_eq(vc_tensor_alloc(im, VC_F32, VC_DIMS(N, 3, S, S)), VC_OK);
    vc_rng r;
    vc_rng_seed(&r, seed);
    for (int64_t i = 0; i < vc_numel(im); i++) vc_f32(im)[i] = (float)vc_rng_normal(&r);
}

/* Rows: start (V-2), random ids, end (V-1) at eot[n], zeros after. */
static void token_rows(vc_tensor *ids, vc_dtype dt, int64_t N, int64_t L, int64_t V, const int *eot, uint64_t seed) {
    ck_assert_int_eq(vc_tensor_alloc(ids, dt, VC_DIMS(N, L)), VC_OK);
    vc_rng r;
    vc_rng_seed(&r, seed);
    for (int64_t n = 0; n < N; n++)
        for (int64_t j = 0; j < L; j++) {
            int64_t v = j == 0 ? V - 2 : j < eot[n] ? 1 + (int64_t)vc_rng_below(&r, (uint64_t)(V - 3))
                                     : j == eot[n] ? V - 1 : 0;
            if (dt == VC_I64) ((int64_t *)ids->data)[n * L + j] = v;
            else ((int32_t *)ids->data)[n * L + j] = (int32_t)v;
        }
}

/* Runs a tower on a fresh tape; copies the [N, E] output into out (allocated). */
static vc_status encode(const vc_clip *m, bool image, const vc_tensor *in, vc_tensor *out) {
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    vc_var *e = image ? vc_clip_encode_image(&t, m, in) : vc_clip_encode_text(&t, m, in);
    vc_status s = e ? VC_OK : vc_tape_status(&t);
    if (e) {
        s = vc_tensor_alloc(out, VC_F32, e->val.ndim, e->val.ne);
        if (!s) memcpy(out->data, e->val.data, vc_nbytes(out));
    }
    vc_tape_free(&t);
    return s;
}

/* Copies src to dst leaving out tensor `skip` and giving tensor `reshape` a
 * zero-filled value of shape (ndim, shape). Every tensor must be float. */
static void rewrite(const char *src, const char *dst, const char *skip, const char *reshape, int ndim,
                    const int64_t *shape) {
    vc_st_file *f;
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_open(&f, src, VC_ST_READ), VC_OK);
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    int n = vc_st_count(f);
    vc_tensor *keep = calloc((size_t)n, sizeof *keep);
    bool found_skip = !skip, found_reshape = !reshape;
    for (int i = 0; i < n; i++) {
        const char *name = vc_st_at(f, i)->name;
        if (skip && strcmp(name, skip) == 0) {
            found_skip = true;
            continue;
        }
        if (reshape && strcmp(name, reshape) == 0) {
            ck_assert_int_eq(vc_tensor_alloc(&keep[i], VC_F32, ndim, shape), VC_OK);
            found_reshape = true;
        } else {
            ck_assert_int_eq(vc_st_load_f32_new(f, name, &keep[i]), VC_OK);
        }
        ck_assert_int_eq(vc_st_writer_add(w, name, &keep[i]), VC_OK);
    }
    ck_assert_msg(found_skip && found_reshape, "rewrite: %s or %s not in %s", skip ? skip : "-",
                  reshape ? reshape : "-", src);
    ck_assert_int_eq(vc_st_writer_write(w, dst), VC_OK);
    vc_st_writer_free(w);
    vc_st_close(f);
    for (int i = 0; i < n; i++) vc_tensor_release(&keep[i]);
    free(keep);
}

/* A saved tiny model (both towers, act quickgelu) under the given names; path out. */
static void saved_tiny(vc_clip *m, vc_clip_names names, char *path, size_t n) {
    vc_clip_cfg c;
    tiny_cfg(&c, VC_CLIP_QUICKGELU);
    ck_assert_int_eq(vc_clip_init_random(m, &c, 7), VC_OK);
    tmp_path(path, n, names == VC_CLIP_NAMES_HF ? "tiny.hf.safetensors" : "tiny.openai.safetensors");
    ck_assert_msg(vc_clip_save(m, path, names) == VC_OK, "%s", vc_last_error());
}

static const vc_clip_opts TINY_OPTS = {.vision_heads = 2}; /* vision width 64 with 32-wide heads */

static void expect_load_error(const char *path, const vc_clip_opts *o, const char *const *needles) {
    vc_clip m;
    ck_assert_int_ne(vc_clip_load(&m, path, o), VC_OK);
    const char *msg = vc_last_error();
    for (int i = 0; needles[i]; i++) ck_assert_msg(strstr(msg, needles[i]), "'%s' lacks '%s'", msg, needles[i]);
}

/* ------------------------------------------------------------------------ */
/* Without PyTorch                                                            */

START_TEST(test_clip_save_load_round_trip_in_both_naming_schemes) {
    for (int names = 0; names < 2; names++) {
        vc_clip m, l;
        char path[600];
        saved_tiny(&m, (vc_clip_names)names, path, sizeof path);
        ck_assert_msg(vc_clip_load(&l, path, &TINY_OPTS) == VC_OK, "%s", vc_last_error());
        /* the architecture comes back from the shapes alone */
        ck_assert_int_eq(l.cfg.image_size, 24);
        ck_assert_int_eq(l.cfg.patch, 8);
        ck_assert_int_eq(l.cfg.grid, 3);
        ck_assert_int_eq(l.cfg.vision.width, 64);
        ck_assert_int_eq(l.cfg.vision.layers, 2);
        ck_assert_int_eq(l.cfg.vision.heads, 2);
        ck_assert_int_eq(l.cfg.vision.mlp, 128);
        ck_assert_int_eq(l.cfg.context, 10);
        ck_assert_int_eq(l.cfg.vocab, 40);
        ck_assert_int_eq(l.cfg.text.width, 64);
        ck_assert_int_eq(l.cfg.text.layers, 2);
        ck_assert_int_eq(l.cfg.text.heads, 1);
        ck_assert_int_eq(l.cfg.text.mlp, 256);
        ck_assert_int_eq(l.cfg.embed, 24);
        ck_assert_int_eq(vc_clip_numel(&l), vc_clip_numel(&m));
        vc_tensor im, ids, a, b;
        random_images(&im, 3, 24, 1);
        int eot[4] = {1, 9, 4, 6};
        token_rows(&ids, VC_I64, 4, 10, 40, eot, 2);
        ck_assert_int_eq(encode(&m, true, &im, &a), VC_OK);
        ck_assert_int_eq(encode(&l, true, &im, &b), VC_OK);
        ck_assert_int_eq(a.ne[0], 3);
        ck_assert_int_eq(a.ne[1], 24);
        ck_assert_msg(memcmp(a.data, b.data, vc_nbytes(&a)) == 0, "image embeddings differ after a %s round trip",
                      names ? "hf" : "openai");
        vc_tensor_release(&a);
        vc_tensor_release(&b);
        ck_assert_int_eq(encode(&m, false, &ids, &a), VC_OK);
        ck_assert_int_eq(encode(&l, false, &ids, &b), VC_OK);
        ck_assert_msg(memcmp(a.data, b.data, vc_nbytes(&a)) == 0, "text embeddings differ after a round trip");
        vc_tensor_release(&a);
        vc_tensor_release(&b);
        vc_tensor_release(&im);
        vc_tensor_release(&ids);
        vc_clip_free(&m);
        vc_clip_free(&l);
    }
}
END_TEST

START_TEST(test_released_vision_architectures_load_by_shape_alone) {
    /* B/16, L/14, L/14@336 and H/14 image towers (one block each, to keep the
     * files small), saved in both naming schemes and loaded with default
     * options: every size must come back from the tensor shapes, including
     * H/14's 16 heads of width 80 (the exception to width / 64). */
    struct {
        const char *name;
        int64_t size, patch, width, mlp, embed, heads;
    } arch[] = {{"B/16", 224, 16, 768, 3072, 512, 12},
                {"L/14", 224, 14, 1024, 4096, 768, 16},
                {"L/14@336", 336, 14, 1024, 4096, 768, 16},
                {"H/14", 224, 14, 1280, 5120, 1024, 16}};
    for (int a = 0; a < 4; a++)
        for (int names = 0; names < 2; names++) {
            vc_clip_cfg cfg;
            vc_clip_cfg_vit_b32(&cfg, VC_CLIP_QUICKGELU);
            cfg.towers = VC_CLIP_VISION;
            cfg.image_size = arch[a].size;
            cfg.patch = arch[a].patch;
            cfg.vision = (vc_clip_tower){arch[a].width, 1, arch[a].heads, arch[a].mlp};
            cfg.embed = arch[a].embed;
            vc_clip m, l;
            ck_assert_msg(vc_clip_init_random(&m, &cfg, 7) == VC_OK, "%s: %s", arch[a].name, vc_last_error());
            char path[600];
            tmp_path(path, sizeof path, "released_arch.safetensors");
            ck_assert_msg(vc_clip_save(&m, path, (vc_clip_names)names) == VC_OK, "%s", vc_last_error());
            vc_clip_opts o = {.towers = VC_CLIP_VISION};
            ck_assert_msg(vc_clip_load(&l, path, &o) == VC_OK, "%s: %s", arch[a].name, vc_last_error());
            ck_assert_int_eq(l.cfg.image_size, arch[a].size);
            ck_assert_int_eq(l.cfg.patch, arch[a].patch);
            ck_assert_int_eq(l.cfg.grid, arch[a].size / arch[a].patch);
            ck_assert_int_eq(l.cfg.vision.width, arch[a].width);
            ck_assert_int_eq(l.cfg.vision.layers, 1);
            ck_assert_msg(l.cfg.vision.heads == arch[a].heads, "%s: %lld heads, expected %lld", arch[a].name,
                          (long long)l.cfg.vision.heads, (long long)arch[a].heads);
            ck_assert_int_eq(l.cfg.vision.mlp, arch[a].mlp);
            ck_assert_int_eq(l.cfg.embed, arch[a].embed);
            if (a == 0) { /* and it runs: the loaded B/16 tower matches the saved one */
                vc_tensor im, e1, e2;
                random_images(&im, 1, arch[a].size, 3);
                ck_assert_int_eq(encode(&m, true, &im, &e1), VC_OK);
                ck_assert_int_eq(encode(&l, true, &im, &e2), VC_OK);
                ck_assert(memcmp(e1.data, e2.data, vc_nbytes(&e1)) == 0);
                vc_tensor_release(&im);
                vc_tensor_release(&e1);
                vc_tensor_release(&e2);
            }
            remove(path);
            vc_clip_free(&m);
            vc_clip_free(&l);
        }
}
END_TEST

START_TEST(test_clip_text_ignores_padding_and_id_type) {
    vc_clip m;
    vc_clip_cfg c;
    tiny_cfg(&c, VC_CLIP_GELU);
    ck_assert_int_eq(vc_clip_init_random(&m, &c, 3), VC_OK);
    int eot[3] = {3, 5, 2};
    vc_tensor full, shorter, i32, a, b, d;
    token_rows(&full, VC_I64, 3, 10, 40, eot, 9);
    token_rows(&shorter, VC_I64, 3, 6, 40, eot, 9); /* same rows, cut after the last end token */
    token_rows(&i32, VC_I32, 3, 10, 40, eot, 9);
    ck_assert_int_eq(encode(&m, false, &full, &a), VC_OK);
    ck_assert_int_eq(encode(&m, false, &shorter, &b), VC_OK);
    ck_assert_int_eq(encode(&m, false, &i32, &d), VC_OK);
    ck_assert(memcmp(a.data, b.data, vc_nbytes(&a)) == 0);
    ck_assert(memcmp(a.data, d.data, vc_nbytes(&a)) == 0);
    /* a row's embedding does not depend on the other rows of the batch */
    vc_tensor one, e;
    int eot1[1] = {3};
    token_rows(&one, VC_I64, 1, 10, 40, eot1, 1);
    memcpy(one.data, full.data, 10 * sizeof(int64_t)); /* row 0 of `full` */
    ck_assert_int_eq(encode(&m, false, &one, &e), VC_OK);
    double cs, rel;
    compare_rows(vc_f32(&e), vc_f32(&a), 1, 24, &cs, &rel);
    ck_assert_msg(cs > 0.999999 && rel < 1e-5, "row 0 alone vs in a batch: cos %.9f rel %.3g", cs, rel);
    /* and changing a token before the end token changes the embedding */
    int64_t *o = one.data;
    o[1] = o[1] == 1 ? 2 : 1;
    vc_tensor f;
    ck_assert_int_eq(encode(&m, false, &one, &f), VC_OK);
    compare_rows(vc_f32(&f), vc_f32(&e), 1, 24, &cs, &rel);
    ck_assert_msg(rel > 1e-3, "a different token left the embedding unchanged (rel %.3g)", rel);
    vc_tensor *all[] = {&full, &shorter, &i32, &a, &b, &d, &one, &e, &f};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) vc_tensor_release(all[i]);
    vc_clip_free(&m);
}
END_TEST

START_TEST(test_clip_image_batch_rows_are_independent) {
    vc_clip m;
    vc_clip_cfg c;
    tiny_cfg(&c, VC_CLIP_QUICKGELU);
    ck_assert_int_eq(vc_clip_init_random(&m, &c, 4), VC_OK);
    vc_tensor im, a;
    random_images(&im, 4, 24, 5);
    ck_assert_int_eq(encode(&m, true, &im, &a), VC_OK);
    for (int64_t n = 0; n < 4; n++) {
        vc_tensor one, e;
        ck_assert_int_eq(vc_tensor_wrap(&one, vc_f32(&im) + n * 3 * 24 * 24, VC_F32, VC_DIMS(1, 3, 24, 24)), VC_OK);
        ck_assert_int_eq(encode(&m, true, &one, &e), VC_OK);
        double cs, rel;
        compare_rows(vc_f32(&e), vc_f32(&a) + n * 24, 1, 24, &cs, &rel);
        ck_assert_msg(cs > 0.999999 && rel < 1e-5, "image %lld alone vs in a batch: cos %.9f rel %.3g", (long long)n,
                      cs, rel);
        vc_tensor_release(&e);
    }
    /* different images give different embeddings */
    double cs, rel;
    compare_rows(vc_f32(&a), vc_f32(&a) + 24, 1, 24, &cs, &rel);
    ck_assert(rel > 1e-2);
    vc_tensor_release(&im);
    vc_tensor_release(&a);
    vc_clip_free(&m);
}
END_TEST

/* 730 tokens: the attention probabilities of one image (730^2 floats) fill
 * clip.c's chunk, so a batch runs its attention one image at a time. */
START_TEST(test_clip_long_sequences_attend_in_chunks) {
    vc_clip m;
    vc_clip_cfg c;
    tiny_cfg(&c, VC_CLIP_GELU);
    c.towers = VC_CLIP_VISION;
    c.image_size = 216;
    c.vision = (vc_clip_tower){32, 1, 1, 64};
    ck_assert_int_eq(vc_clip_init_random(&m, &c, 6), VC_OK);
    ck_assert_int_eq(m.cfg.grid, 27);
    vc_tensor im, a;
    random_images(&im, 3, 216, 2);
    ck_assert_int_eq(encode(&m, true, &im, &a), VC_OK);
    for (int64_t n = 0; n < 3; n++) {
        vc_tensor one, e;
        ck_assert_int_eq(vc_tensor_wrap(&one, vc_f32(&im) + n * 3 * 216 * 216, VC_F32, VC_DIMS(1, 3, 216, 216)),
                         VC_OK);
        ck_assert_int_eq(encode(&m, true, &one, &e), VC_OK);
        double cs, rel;
        compare_rows(vc_f32(&e), vc_f32(&a) + n * 24, 1, 24, &cs, &rel);
        ck_assert_msg(cs > 0.999999 && rel < 1e-5, "image %lld alone vs in a batch: cos %.9f rel %.3g", (long long)n,
                      cs, rel);
        vc_tensor_release(&e);
    }
    vc_tensor_release(&im);
    vc_tensor_release(&a);
    vc_clip_free(&m);
}
END_TEST

START_TEST(test_clip_missing_tensor_names_tensor_and_file) {
    vc_clip m;
    char src[600], dst[600];
    saved_tiny(&m, VC_CLIP_NAMES_OPENAI, src, sizeof src);
    tmp_path(dst, sizeof dst, "missing_fc.safetensors");
    rewrite(src, dst, "visual.transformer.resblocks.1.mlp.c_fc.bias", NULL, 0, NULL);
    expect_load_error(dst, &TINY_OPTS,
                      (const char *[]){dst, "visual.transformer.resblocks.1.mlp.c_fc.bias", "missing", NULL});
    /* the text tower is only needed when asked for */
    tmp_path(dst, sizeof dst, "missing_final.safetensors");
    rewrite(src, dst, "ln_final.bias", NULL, 0, NULL);
    expect_load_error(dst, &TINY_OPTS, (const char *[]){dst, "'ln_final.bias'", NULL});
    vc_clip l;
    vc_clip_opts vo = TINY_OPTS;
    vo.towers = VC_CLIP_VISION;
    ck_assert_msg(vc_clip_load(&l, dst, &vo) == VC_OK, "%s", vc_last_error());
    vc_tensor ids;
    int eot[1] = {2};
    token_rows(&ids, VC_I64, 1, 10, 40, eot, 1);
    vc_tensor out;
    ck_assert_int_ne(encode(&l, false, &ids, &out), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "text tower was not loaded"), "%s", vc_last_error());
    vc_tensor_release(&ids);
    vc_clip_free(&l);
    vc_clip_free(&m);
    /* Hugging Face names: one of the split q/k/v projections */
    saved_tiny(&m, VC_CLIP_NAMES_HF, src, sizeof src);
    tmp_path(dst, sizeof dst, "missing_k.safetensors");
    rewrite(src, dst, "text_model.encoder.layers.1.self_attn.k_proj.weight", NULL, 0, NULL);
    expect_load_error(dst, &TINY_OPTS,
                      (const char *[]){dst, "text_model.encoder.layers.1.self_attn.k_proj.weight", "Hugging Face", NULL});
    /* a whole block missing in the middle is a missing tensor, not a shorter model */
    vc_clip_free(&m);
}
END_TEST

START_TEST(test_clip_wrong_shape_names_tensor_and_shapes) {
    vc_clip m;
    char src[600], dst[600];
    saved_tiny(&m, VC_CLIP_NAMES_OPENAI, src, sizeof src);
    tmp_path(dst, sizeof dst, "bad_ln.safetensors");
    rewrite(src, dst, NULL, "visual.ln_post.weight", VC_DIMS(65));
    expect_load_error(dst, &TINY_OPTS, (const char *[]){dst, "'visual.ln_post.weight'", "[65]", "[64]", NULL});
    tmp_path(dst, sizeof dst, "bad_fc2.safetensors");
    rewrite(src, dst, NULL, "transformer.resblocks.0.mlp.c_proj.weight", VC_DIMS(64, 255));
    expect_load_error(dst, &TINY_OPTS,
                      (const char *[]){"'transformer.resblocks.0.mlp.c_proj.weight'", "[64,255]", "[64,256]", NULL});
    tmp_path(dst, sizeof dst, "bad_conv.safetensors");
    rewrite(src, dst, NULL, "visual.conv1.weight", VC_DIMS(64, 3, 8, 7));
    expect_load_error(dst, &TINY_OPTS, (const char *[]){dst, "'visual.conv1.weight'", "[64,3,8,7]", NULL});
    tmp_path(dst, sizeof dst, "bad_pos.safetensors");
    rewrite(src, dst, NULL, "visual.positional_embedding", VC_DIMS(9, 64));
    expect_load_error(dst, &TINY_OPTS, (const char *[]){"'visual.positional_embedding'", "[9,64]", NULL});
    tmp_path(dst, sizeof dst, "bad_proj.safetensors");
    rewrite(src, dst, NULL, "text_projection", VC_DIMS(64, 20));
    expect_load_error(dst, &TINY_OPTS, (const char *[]){"'text_projection'", "embedding width 20", NULL});
    vc_clip_free(&m);
    saved_tiny(&m, VC_CLIP_NAMES_HF, src, sizeof src);
    tmp_path(dst, sizeof dst, "bad_v.safetensors");
    rewrite(src, dst, NULL, "vision_model.encoder.layers.0.self_attn.v_proj.bias", VC_DIMS(32));
    expect_load_error(dst, &TINY_OPTS,
                      (const char *[]){dst, "'vision_model.encoder.layers.0.self_attn.v_proj.bias'", "[32]", NULL});
    vc_clip_free(&m);
}
END_TEST

/* NaN or Inf in the weights (a damaged file) is a load error naming the
 * tensor and the element, not NaN embeddings later. */
START_TEST(test_clip_non_finite_weight_names_tensor_and_element) {
    vc_clip m;
    char src[600], dst[600];
    saved_tiny(&m, VC_CLIP_NAMES_OPENAI, src, sizeof src);
    vc_f32(&m.vblocks[1].fc1_w)[5] = NAN;
    tmp_path(dst, sizeof dst, "nan_fc.safetensors");
    ck_assert_msg(vc_clip_save(&m, dst, VC_CLIP_NAMES_OPENAI) == VC_OK, "%s", vc_last_error());
    expect_load_error(dst, &TINY_OPTS,
                      (const char *[]){dst, "'visual.transformer.resblocks.1.mlp.c_fc.weight'", "NaN at element 5",
                                       "damaged", NULL});
    vc_f32(&m.vblocks[1].fc1_w)[5] = 0;
    vc_f32(&m.tok_emb)[77] = -INFINITY;
    tmp_path(dst, sizeof dst, "inf_tok.safetensors");
    ck_assert_msg(vc_clip_save(&m, dst, VC_CLIP_NAMES_HF) == VC_OK, "%s", vc_last_error());
    expect_load_error(dst, &TINY_OPTS,
                      (const char *[]){dst, "'text_model.embeddings.token_embedding.weight'",
                                       "an infinite value at element 77", NULL});
    vc_clip_free(&m);
}
END_TEST

START_TEST(test_clip_rejects_files_that_are_not_clip_safetensors) {
    char path[600];
    tmp_path(path, sizeof path, "text.safetensors");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a safetensors file\n", f);
    fclose(f);
    expect_load_error(path, NULL, (const char *[]){path, NULL});
    tmp_path(path, sizeof path, "nonexistent.safetensors");
    expect_load_error(path, NULL, (const char *[]){path, NULL});
    /* valid safetensors without CLIP's tensors */
    tmp_path(path, sizeof path, "other.safetensors");
    vc_st_writer *w;
    vc_tensor t;
    ck_assert_int_eq(vc_tensor_alloc(&t, VC_F32, VC_DIMS(4)), VC_OK);
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "pooler.w", &t), VC_OK);
    ck_assert_int_eq(vc_st_writer_write(w, path), VC_OK);
    vc_st_writer_free(w);
    vc_tensor_release(&t);
    expect_load_error(path, NULL, (const char *[]){path, "not a CLIP checkpoint", "visual.conv1.weight", NULL});
}
END_TEST

START_TEST(test_clip_heads_default_to_64_wide_with_override) {
    vc_clip m, l;
    vc_clip_cfg c;
    tiny_cfg(&c, VC_CLIP_QUICKGELU);
    c.vision = (vc_clip_tower){96, 1, 3, 384};
    ck_assert_int_eq(vc_clip_init_random(&m, &c, 8), VC_OK);
    char path[600];
    tmp_path(path, sizeof path, "w96.safetensors");
    ck_assert_int_eq(vc_clip_save(&m, path, VC_CLIP_NAMES_OPENAI), VC_OK);
    /* 96 is not a multiple of 64: the default cannot apply */
    expect_load_error(path, NULL, (const char *[]){path, "96 wide", "64-wide heads", NULL});
    vc_clip_opts o = {.vision_heads = 5};
    expect_load_error(path, &o, (const char *[]){"96 wide", "5 heads", NULL});
    o.vision_heads = 3;
    ck_assert_msg(vc_clip_load(&l, path, &o) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(l.cfg.vision.heads, 3);
    ck_assert_int_eq(l.cfg.text.heads, 1); /* 64 / 64 */
    /* the head count matters: 3 heads of 32 vs 1 head of 96 differ */
    vc_tensor im, a, b;
    random_images(&im, 2, 24, 3);
    ck_assert_int_eq(encode(&l, true, &im, &a), VC_OK);
    vc_clip_free(&l);
    o.vision_heads = 1;
    ck_assert_int_eq(vc_clip_load(&l, path, &o), VC_OK);
    ck_assert_int_eq(encode(&l, true, &im, &b), VC_OK);
    double cs, rel;
    compare_rows(vc_f32(&a), vc_f32(&b), 2, 24, &cs, &rel);
    ck_assert_msg(rel > 1e-3, "head count had no effect (rel %.3g)", rel);
    vc_tensor_release(&im);
    vc_tensor_release(&a);
    vc_tensor_release(&b);
    vc_clip_free(&l);
    vc_clip_free(&m);
    /* open_clip's wide image towers (H/14: 1280) have 16 heads; a 1280-wide
     * text tower (bigG/14) has 20 (one layer, narrow MLP: a small file) */
    tiny_cfg(&c, VC_CLIP_GELU);
    c.vision = (vc_clip_tower){1280, 1, 16, 32};
    c.text = (vc_clip_tower){1280, 1, 20, 32};
    ck_assert_int_eq(vc_clip_init_random(&m, &c, 8), VC_OK);
    tmp_path(path, sizeof path, "w1280.safetensors");
    ck_assert_int_eq(vc_clip_save(&m, path, VC_CLIP_NAMES_HF), VC_OK);
    ck_assert_msg(vc_clip_load(&l, path, NULL) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(l.cfg.vision.heads, 16);
    ck_assert_int_eq(l.cfg.text.heads, 20);
    vc_clip_free(&l);
    vc_clip_free(&m);
}
END_TEST

START_TEST(test_clip_bad_inputs_are_errors) {
    vc_clip m;
    vc_clip_cfg c;
    tiny_cfg(&c, VC_CLIP_QUICKGELU);
    ck_assert_int_eq(vc_clip_init_random(&m, &c, 1), VC_OK);
    vc_tensor im, out, ids;
    random_images(&im, 2, 32, 1); /* the tower takes 24 x 24 */
    ck_assert_int_ne(encode(&m, true, &im, &out), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "[N, 3, 24, 24]") && strstr(vc_last_error(), "[2,3,32,32]"), "%s",
                  vc_last_error());
    vc_tensor_release(&im);
    int eot[2] = {3, 4};
    token_rows(&ids, VC_I64, 2, 10, 40, eot, 1);
    ((int64_t *)ids.data)[12] = 40;
    ck_assert_int_ne(encode(&m, false, &ids, &out), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "token id 40 (row 1, position 2)"), "%s", vc_last_error());
    ((int64_t *)ids.data)[12] = -1;
    ck_assert_int_ne(encode(&m, false, &ids, &out), VC_OK);
    vc_tensor_release(&ids);
    token_rows(&ids, VC_I64, 2, 11, 40, eot, 1); /* longer than the context of 10 */
    ck_assert_int_ne(encode(&m, false, &ids, &out), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "L <= 10"), "%s", vc_last_error());
    vc_tensor_release(&ids);
    ck_assert_int_eq(vc_tensor_alloc(&ids, VC_F32, VC_DIMS(2, 10)), VC_OK);
    ck_assert_int_ne(encode(&m, false, &ids, &out), VC_OK);
    vc_tensor_release(&ids);
    /* an error is sticky on the tape: a later call on it fails too */
    vc_tape t;
    vc_tape_init(&t, 0);
    random_images(&im, 1, 32, 1);
    ck_assert_ptr_null(vc_clip_encode_image(&t, &m, &im));
    vc_tensor_release(&im);
    random_images(&im, 1, 24, 1);
    ck_assert_ptr_null(vc_clip_encode_image(&t, &m, &im));
    vc_tape_reset(&t);
    ck_assert_ptr_nonnull(vc_clip_encode_image(&t, &m, &im));
    vc_tape_free(&t);
    vc_tensor_release(&im);
    vc_clip_act a;
    ck_assert_int_eq(vc_clip_act_parse("gelu", &a), VC_OK);
    ck_assert_int_eq(a, VC_CLIP_GELU);
    ck_assert_int_eq(vc_clip_act_parse("quickgelu", &a), VC_OK);
    ck_assert_int_eq(a, VC_CLIP_QUICKGELU);
    ck_assert_int_ne(vc_clip_act_parse("relu", &a), VC_OK);
    vc_clip_free(&m);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Against PyTorch                                                            */

typedef struct {
    const char *model, *ref;
    vc_clip_act act;
    int vision_heads, text_heads;
} parity_case;

static const parity_case CASES[] = {
    {"A.openai", "A", VC_CLIP_QUICKGELU, 2, 0},   {"A.hf", "A", VC_CLIP_QUICKGELU, 2, 0},
    {"A16.openai", "A16", VC_CLIP_QUICKGELU, 2, 0}, {"A16.hf", "A16", VC_CLIP_QUICKGELU, 2, 0},
    {"B.openai", "B", VC_CLIP_GELU, 0, 0},         {"B.hf", "B", VC_CLIP_GELU, 0, 0},
    {"Bbf.openai", "Bbf", VC_CLIP_GELU, 0, 0},     {"C.hf", "C", VC_CLIP_GELU, 3, 3},
    {"A.conv_sd", "A", VC_CLIP_QUICKGELU, 2, 0},   {"A.conv_jit", "A", VC_CLIP_QUICKGELU, 2, 0},
    {"A.conv_mod", "A", VC_CLIP_QUICKGELU, 2, 0},
};
#define N_CASES (int)(sizeof CASES / sizeof *CASES)

static char ref_dir[600];
static char ref_error[4096];

static void script_path(char *path, size_t n, const char *name) {
    snprintf(path, n, "%s", __FILE__); /* "tests/test_clip.c" when built from the repository root */
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, n - (size_t)(slash ? slash + 1 - path : 0), "%s", name);
    if (access(path, R_OK) == 0) return;
    char exe[512]; /* run from elsewhere: the binary is REPO/BUILD/tests/test_clip */
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = '\0';
    for (int up = 0; up < 3; up++)
        if ((slash = strrchr(exe, '/'))) *slash = '\0';
    snprintf(path, n, "%s/tests/%s", exe, name);
}

static void prepare_references(void) {
    char script[600], cmd[2000], log[700];
    script_path(script, sizeof script, "ref_clip.py");
    snprintf(ref_dir, sizeof ref_dir, "%s/ref", vc_test_tmpdir());
    snprintf(log, sizeof log, "%s/ref_clip.log", vc_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' >'%s' 2>&1", vc_test_python(), script, ref_dir, log);
    if (system(cmd) != 0) {
        FILE *f = fopen(log, "r");
        size_t n = f ? fread(ref_error, 1, sizeof ref_error - 1, f) : 0;
        ref_error[n] = 0;
        if (f) fclose(f);
        if (!n) snprintf(ref_error, sizeof ref_error, "%s failed with no output", cmd);
    }
}

typedef struct {
    vc_tensor images, ids, image_emb, text_emb;
} reference;

static void load_reference(const char *name, reference *r) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s.ref.safetensors", ref_dir, name);
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, path, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_st_load_f32_new(f, "images", &r->images) == VC_OK && vc_st_load_new(f, "ids", &r->ids) == VC_OK &&
                      vc_st_load_f32_new(f, "image_emb", &r->image_emb) == VC_OK &&
                      vc_st_load_f32_new(f, "text_emb", &r->text_emb) == VC_OK,
                  "%s", vc_last_error());
    vc_st_close(f);
}

static void free_reference(reference *r) {
    vc_tensor_release(&r->images);
    vc_tensor_release(&r->ids);
    vc_tensor_release(&r->image_emb);
    vc_tensor_release(&r->text_emb);
}

/* Loads case k with activation act and returns the worst cosine and relative error of both towers. */
static void run_case(int k, vc_clip_act act, double *cs, double *rel) {
    const parity_case *pc = &CASES[k];
    char path[700];
    snprintf(path, sizeof path, "%s/%s.safetensors", ref_dir, pc->model);
    vc_clip m;
    vc_clip_opts o = {.act = act, .vision_heads = pc->vision_heads, .text_heads = pc->text_heads};
    ck_assert_msg(vc_clip_load(&m, path, &o) == VC_OK, "%s", vc_last_error());
    reference r;
    load_reference(pc->ref, &r);
    vc_tensor ie, te;
    ck_assert_msg(encode(&m, true, &r.images, &ie) == VC_OK, "%s: %s", pc->model, vc_last_error());
    ck_assert_msg(encode(&m, false, &r.ids, &te) == VC_OK, "%s: %s", pc->model, vc_last_error());
    ck_assert(vc_same_shape(&ie, &r.image_emb) && vc_same_shape(&te, &r.text_emb));
    double c1, r1, c2, r2;
    compare_rows(vc_f32(&ie), vc_f32(&r.image_emb), ie.ne[0], ie.ne[1], &c1, &r1);
    compare_rows(vc_f32(&te), vc_f32(&r.text_emb), te.ne[0], te.ne[1], &c2, &r2);
    *cs = fmin(c1, c2);
    *rel = fmax(r1, r2);
    vc_tensor_release(&ie);
    vc_tensor_release(&te);
    free_reference(&r);
    vc_clip_free(&m);
}

START_TEST(test_clip_embeddings_match_pytorch) {
    ck_assert_msg(!ref_error[0], "tests/ref_clip.py failed:\n%s", ref_error);
    double cs, rel;
    run_case(_i, CASES[_i].act, &cs, &rel);
    printf("clip parity %-11s %-9s: min cosine %.9f, max rel err %.2e\n", CASES[_i].model,
           vc_clip_act_name(CASES[_i].act), cs, rel);
    ck_assert_msg(cs > COS_MIN && rel < REL_MAX, "%s: min cosine %.9f (need > %g), max rel err %.3g (need < %g)",
                  CASES[_i].model, cs, COS_MIN, rel, REL_MAX);
}
END_TEST

/* The same files with the other activation fail the bar: the comparison can
 * tell QuickGELU from GELU, so the parity above is not an accident. */
START_TEST(test_clip_wrong_activation_is_detected) {
    ck_assert_msg(!ref_error[0], "tests/ref_clip.py failed:\n%s", ref_error);
    const int ks[2] = {0, 4}; /* A (quickgelu), B (gelu) */
    for (int i = 0; i < 2; i++) {
        vc_clip_act other = CASES[ks[i]].act == VC_CLIP_GELU ? VC_CLIP_QUICKGELU : VC_CLIP_GELU;
        double cs, rel;
        run_case(ks[i], other, &cs, &rel);
        ck_assert_msg(cs < COS_MIN && rel > 1e-3, "%s with %s still matched (cos %.9f, rel %.3g)",
                      CASES[ks[i]].model, vc_clip_act_name(other), cs, rel);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("clip");
    TCase *tc = tcase_create("towers");
    tcase_set_timeout(tc, 120);
    vc_test_tmpdir(); /* made by this process so forked tests share it */
    tcase_add_test(tc, test_clip_save_load_round_trip_in_both_naming_schemes);
    tcase_add_test(tc, test_released_vision_architectures_load_by_shape_alone);
    tcase_add_test(tc, test_clip_text_ignores_padding_and_id_type);
    tcase_add_test(tc, test_clip_image_batch_rows_are_independent);
    tcase_add_test(tc, test_clip_long_sequences_attend_in_chunks);
    tcase_add_test(tc, test_clip_missing_tensor_names_tensor_and_file);
    tcase_add_test(tc, test_clip_wrong_shape_names_tensor_and_shapes);
    tcase_add_test(tc, test_clip_non_finite_weight_names_tensor_and_element);
    tcase_add_test(tc, test_clip_rejects_files_that_are_not_clip_safetensors);
    tcase_add_test(tc, test_clip_heads_default_to_64_wide_with_override);
    tcase_add_test(tc, test_clip_bad_inputs_are_errors);
    if (vc_torch_available()) {
        prepare_references();
        tcase_add_loop_test(tc, test_clip_embeddings_match_pytorch, 0, N_CASES);
        tcase_add_test(tc, test_clip_wrong_activation_is_detected);
    } else {
        printf("SKIP: CLIP parity with PyTorch and tools/clip_to_safetensors.py (%s cannot import torch)\n",
               vc_test_python());
    }
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
