/* test_h5_copy.c: data/h5_copy.h, the copying of captions, splits, classes and labels that
 * encode-text and embed share: a selection renumbers everything, maps see every block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5_copy.h"
#include "harness.h"

enum { D = 3, V = 5, K = 2 };
static const int64_t k_nf[V] = {2, 1, 0, 3, 1};
static const int64_t k_cap_video[] = {0, 1, 1, 2, 3, 4, 4, 0}; /* caption -> video, as added */
enum { C = sizeof k_cap_video / sizeof k_cap_video[0] };
static const int64_t k_labels[V] = {0, 1, 0, 1, 1};


static float frame_value(int64_t v, int64_t f, int j) { return (float)(10 * v + f) + 0.1f * (float)j; }
static float caption_value(int64_t c, int j) { return (float)(100 + c) + 0.01f * (float)j; }

static const char *write_source(void) {
    const char *path = vc_test_path("src.h5");
    vc_h5w *w;
    vc_h5w_opts o = {.dim = D, .dtype = VC_F32};
    ck_assert_int_eq(vc_h5w_open(&w, path, &o), VC_OK);
    for (int64_t v = 0; v < V; v++) {
        float fr[3 * D];
        for (int64_t f = 0; f < k_nf[v]; f++)
            for (int j = 0; j < D; j++) fr[f * D + j] = frame_value(v, f, j);
        char id[8];
        snprintf(id, sizeof id, "v%lld", (long long)v);
        ck_assert_int_eq(vc_h5w_add_video(w, id, fr, k_nf[v], NULL), VC_OK);
    }
    for (int64_t c = 0; c < C; c++) {
        float e[D];
        for (int j = 0; j < D; j++) e[j] = caption_value(c, j);
        char text[32];
        snprintf(text, sizeof text, "caption %lld", (long long)c);
        ck_assert_int_eq(vc_h5w_add_caption(w, k_cap_video[c], text, e), VC_OK);
    }
    ck_assert_int_eq(vc_h5w_set_split(w, "train", (const int64_t[]){0, 1, 2}, 3), VC_OK);
    ck_assert_int_eq(vc_h5w_set_split(w, "val", (const int64_t[]){3}, 1), VC_OK);
    ck_assert_int_eq(vc_h5w_set_split(w, "test", (const int64_t[]){4}, 1), VC_OK);
    const char *names[K] = {"archery", "bowling"};
    const float ce[K * D] = {1, 0, 0, 0, 1, 0};
    ck_assert_int_eq(vc_h5w_set_labels(w, k_labels, V), VC_OK);
    ck_assert_int_eq(vc_h5w_set_classes(w, names, K, ce), VC_OK);
    ck_assert_int_eq(vc_h5w_close(w), VC_OK);
    return path;
}

typedef struct {
    int calls;
    int64_t rows;
} map_count;

/* Doubles whatever embeddings there are. */
static vc_status twice(void *ctx, char *const *texts, float *emb, int64_t n, bool *has_emb) {
    map_count *m = ctx;
    m->calls++;
    m->rows += n;
    ck_assert(texts != NULL);
    for (int64_t i = 0; *has_emb && i < n * D; i++) emb[i] *= 2;
    return VC_OK;
}

/* Makes embeddings from the strings: (length, first byte, 7). */
static vc_status from_text(void *ctx, char *const *texts, float *emb, int64_t n, bool *has_emb) {
    ck_assert(texts != NULL);
    for (int64_t i = 0; i < n; i++) {
        emb[i * D] = (float)strlen(texts[i]);
        emb[i * D + 1] = (float)(unsigned char)texts[i][0];
        emb[i * D + 2] = 7;
    }
    *has_emb = true;
    return VC_OK;
}

/* Progress reports seen: the last of each phase and how many. */
typedef struct {
    int videos, captions;
    int64_t last_videos, last_captions, total_captions;
} seen;

static void hear(void *ud, const char *phase, int64_t done, int64_t total) {
    seen *p = ud;
    if (strcmp(phase, "videos copied") == 0) {
        ck_assert_int_ge(done, p->last_videos);
        p->videos++, p->last_videos = done;
        ck_assert_int_eq(total, V);
    } else {
        ck_assert_str_eq(phase, "captions made");
        ck_assert_int_ge(done, p->last_captions);
        p->captions++, p->last_captions = done, p->total_captions = total;
    }
}

static void expect_split(vc_h5 *h, vc_split sp, const int64_t *want, int64_t n) {
    const vc_h5_info *in = vc_h5_get_info(h);
    if (n < 0) {
        ck_assert_msg(!in->has_split[sp], "split %s should be dropped", vc_split_name(sp));
        return;
    }
    const int64_t *idx;
    int64_t got;
    ck_assert_int_eq(vc_h5_split(h, sp, &idx, &got), VC_OK);
    ck_assert_int_eq(got, n);
    for (int64_t i = 0; i < n; i++) ck_assert_int_eq(idx[i], want[i]);
}

START_TEST(test_a_selection_renumbers_captions_splits_and_labels_and_maps_every_block) {
    const char *src = write_source();
    vc_h5 *h;
    ck_assert_int_eq(vc_h5_open(&h, src), VC_OK);
    /* keep videos 1, 3, 4 as 0, 1, 2 */
    const int64_t newidx[V] = {-1, 0, -1, 1, 2}, sel[3] = {1, 3, 4};
    const char *dst = vc_test_path("sel.h5");
    vc_h5w *w;
    vc_h5w_opts wo = {.dim = D, .dtype = VC_F32};
    ck_assert_int_eq(vc_h5w_open(&w, dst, &wo), VC_OK);
    for (int i = 0; i < 3; i++) {
        float one[D] = {1, 2, 3};
        ck_assert_int_eq(vc_h5w_add_video(w, (const char *[]){"a", "b", "c"}[i], one, 1, NULL), VC_OK);
    }
    map_count mc = {0};
    vc_h5_copy_opts o = {.newidx = newidx, .sel = sel, .n_sel = 3, .block = 3, .map = twice, .ctx = &mc};
    int64_t nc = -1, nk = -1;
    ck_assert_int_eq(vc_h5_copy_captions(h, w, &o, &nc), VC_OK);
    ck_assert_int_eq(nc, 5); /* captions 1, 2 (video 1), 4 (video 3), 5, 6 (video 4) */
    ck_assert_int_eq(vc_h5_copy_splits(h, w, &o), VC_OK);
    ck_assert_int_eq(vc_h5_copy_classes(h, w, &o, &nk), VC_OK);
    ck_assert_int_eq(nk, K);
    ck_assert_int_eq(vc_h5w_close(w), VC_OK);
    vc_h5_close(h);
    /* captions in blocks of 3: [0 1 2] [3 4 5] [6 7]; every block has a selected caption */
    ck_assert_int_eq(mc.calls, 3 + 1); /* 3 caption blocks + the classes */
    ck_assert_int_eq(mc.rows, C + K);

    ck_assert_int_eq(vc_h5_open(&h, dst), VC_OK);
    const vc_h5_info *in = vc_h5_get_info(h);
    static const int64_t kept[] = {1, 2, 4, 5, 6}; /* source captions of videos 1, 3, 4 */
    ck_assert_int_eq(in->n_captions, 5);
    const int64_t *cv = vc_h5_caption_video(h);
    float e[5 * D];
    ck_assert_int_eq(vc_h5_read_text(h, 0, 5, e), VC_OK);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(cv[i], newidx[k_cap_video[kept[i]]]);
        for (int j = 0; j < D; j++) ck_assert_float_eq_tol(e[i * D + j], 2 * caption_value(kept[i], j), 1e-4f);
        char *t, want[32];
        ck_assert_int_eq(vc_h5_caption(h, i, &t), VC_OK);
        snprintf(want, sizeof want, "caption %lld", (long long)kept[i]);
        ck_assert_str_eq(t, want);
        free(t);
    }
    expect_split(h, VC_SPLIT_TRAIN, (const int64_t[]){0}, 1);
    expect_split(h, VC_SPLIT_VAL, (const int64_t[]){1}, 1);
    expect_split(h, VC_SPLIT_TEST, (const int64_t[]){2}, 1);
    const int64_t *lab = vc_h5_labels(h);
    ck_assert_ptr_nonnull(lab);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(lab[i], k_labels[sel[i]]);
    float ce[K * D];
    ck_assert_int_eq(vc_h5_read_classes(h, ce), VC_OK);
    ck_assert_float_eq(ce[0], 2.0f);
    ck_assert_float_eq(ce[4], 2.0f);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_a_split_the_selection_empties_is_dropped) {
    const char *src = write_source();
    vc_h5 *h;
    ck_assert_int_eq(vc_h5_open(&h, src), VC_OK);
    const int64_t newidx[V] = {-1, -1, -1, 0, 1}, sel[2] = {3, 4};
    const char *dst = vc_test_path("sel2.h5");
    vc_h5w *w;
    vc_h5w_opts wo = {.dim = D, .dtype = VC_F32};
    ck_assert_int_eq(vc_h5w_open(&w, dst, &wo), VC_OK);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(vc_h5w_add_video(w, i ? "y" : "x", NULL, 0, NULL), VC_OK);
    vc_h5_copy_opts o = {.newidx = newidx, .sel = sel, .n_sel = 2};
    int64_t nc;
    ck_assert_int_eq(vc_h5_copy_captions(h, w, &o, &nc), VC_OK);
    ck_assert_int_eq(nc, 3);
    ck_assert_int_eq(vc_h5_copy_splits(h, w, &o), VC_OK);
    ck_assert_int_eq(vc_h5w_close(w), VC_OK);
    vc_h5_close(h);
    ck_assert_int_eq(vc_h5_open(&h, dst), VC_OK);
    expect_split(h, VC_SPLIT_TRAIN, NULL, -1);
    expect_split(h, VC_SPLIT_VAL, (const int64_t[]){0}, 1);
    expect_split(h, VC_SPLIT_TEST, (const int64_t[]){1}, 1);
    float e[3 * D];
    ck_assert_int_eq(vc_h5_read_text(h, 0, 3, e), VC_OK); /* no map: copied as they are */
    ck_assert_float_eq_tol(e[0], caption_value(4, 0), 1e-4f);
    vc_h5_close(h);
}
END_TEST

START_TEST(test_without_a_selection_videos_are_copied_and_a_text_map_replaces_embeddings) {
    const char *src = write_source();
    vc_h5 *h;
    ck_assert_int_eq(vc_h5_open(&h, src), VC_OK);
    const char *dst = vc_test_path("all.h5");
    vc_h5w *w;
    vc_h5w_opts wo = {.dim = D, .dtype = VC_F32};
    ck_assert_int_eq(vc_h5w_open(&w, dst, &wo), VC_OK);
    seen heard = {0};
    vc_progress_hook hook = {hear, &heard};
    vc_h5_copy_opts o = {.block = 3, .map = from_text, .map_from_text = true, .progress = hook, .phase = "captions made"};
    int64_t nc, nk;
    ck_assert_int_eq(vc_h5_copy_videos(h, w, &hook), VC_OK);
    ck_assert_int_eq(vc_h5_copy_captions(h, w, &o, &nc), VC_OK);
    ck_assert_int_eq(nc, C);
    ck_assert_int_eq(heard.videos, 2); /* 0 of 5, then 5 of 5 (one block of ids) */
    ck_assert_int_eq(heard.last_videos, V);
    ck_assert_int_eq(heard.captions, 4); /* 0, then after each block of 3 of the 8 */
    ck_assert_int_eq(heard.last_captions, C);
    ck_assert_int_eq(heard.total_captions, C);
    ck_assert_int_eq(vc_h5_copy_splits(h, w, &o), VC_OK);
    ck_assert_int_eq(vc_h5_copy_classes(h, w, &o, &nk), VC_OK);
    ck_assert_int_eq(vc_h5w_close(w), VC_OK);
    vc_h5_close(h);
    ck_assert_int_eq(vc_h5_open(&h, dst), VC_OK);
    const vc_h5_info *in = vc_h5_get_info(h);
    ck_assert_int_eq(in->n_videos, V);
    const int64_t *off = vc_h5_offsets(h);
    float fr[7 * D];
    ck_assert_int_eq(vc_h5_read_frames(h, 0, off[V], fr), VC_OK);
    for (int64_t v = 0, r = 0; v < V; v++) {
        ck_assert_int_eq(off[v + 1] - off[v], k_nf[v]);
        char *id, want[8];
        ck_assert_int_eq(vc_h5_video_id(h, v, &id), VC_OK);
        snprintf(want, sizeof want, "v%lld", (long long)v);
        ck_assert_str_eq(id, want);
        free(id);
        for (int64_t f = 0; f < k_nf[v]; f++, r++)
            for (int j = 0; j < D; j++) ck_assert_float_eq_tol(fr[r * D + j], frame_value(v, f, j), 1e-5f);
    }
    float e[C * D];
    ck_assert_int_eq(vc_h5_read_text(h, 0, C, e), VC_OK);
    const int64_t *cv = vc_h5_caption_video(h);
    for (int64_t c = 0; c < C; c++) {
        ck_assert_int_eq(cv[c], k_cap_video[c]);
        ck_assert_float_eq(e[c * D], c < 10 ? 9.0f : 10.0f); /* strlen("caption N") */
        ck_assert_float_eq(e[c * D + 2], 7.0f);
    }
    expect_split(h, VC_SPLIT_TRAIN, (const int64_t[]){0, 1, 2}, 3);
    float ce[K * D];
    ck_assert_int_eq(vc_h5_read_classes(h, ce), VC_OK);
    ck_assert_float_eq(ce[0], 7.0f); /* strlen("archery") */
    ck_assert_float_eq(ce[1], (float)'a');
    ck_assert_float_eq(ce[D + 1], (float)'b');
    const int64_t *lab = vc_h5_labels(h);
    for (int v = 0; v < V; v++) ck_assert_int_eq(lab[v], k_labels[v]);
    vc_h5_close(h);
}
END_TEST

static Suite *h5_copy_suite(void) {
    Suite *s = suite_create("h5_copy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_a_selection_renumbers_captions_splits_and_labels_and_maps_every_block);
    tcase_add_test(tc, test_a_split_the_selection_empties_is_dropped);
    tcase_add_test(tc, test_without_a_selection_videos_are_copied_and_a_text_map_replaces_embeddings);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(h5_copy_suite)
