/* The batch loader over in-memory sources: epoch coverage, batch contents
 * for each frame mode, padding, caption draws, skipping, resumption,
 * determinism (run to run and with or without the prefetch thread), the
 * streaming path under a tiny memory budget, and the fast float16 path. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data/f16_fast.h"
#include "data/h5_writer.h"
#include "data/loader.h"
#include "data/source_h5.h"
#include "harness.h"

/* ---------- a synthetic dataset whose values say where they came from ---------- */

typedef struct {
    int64_t V, D, C;
    int64_t *offsets; /* [V+1] */
    float *f32;       /* [F, D] */
    uint16_t *f16;    /* [F, D] */
    int64_t *tv;      /* [C] */
    float *text;      /* [C, D] */
    vc_source src;
} dataset;

/* Frame f of video v: element 0 is v, element 1 is f, the rest a pattern; all
 * exact in float16 for v, f < 2048. */
static float frame_val(int64_t v, int64_t f, int64_t d) {
    if (d == 0) return (float)v;
    if (d == 1) return (float)f;
    return (float)((v * 5 + f * 3 + d) % 17 - 8) * 0.25f;
}

static float text_val(int64_t c, int64_t v, int64_t d) {
    if (d == 0) return (float)c;
    if (d == 1) return (float)v;
    return (float)((c * 7 + d) % 13 - 6) * 0.5f;
}

/* Videos with min_f..max_f frames; every empty_every-th video has no frames,
 * every nocap_every-th none caption (0 = never); others 1..3 captions, listed
 * in a shuffled order so captions are not grouped by video. */
static void ds_make(dataset *ds, int64_t V, int64_t D, int64_t min_f, int64_t max_f, int64_t empty_every,
                    int64_t nocap_every, vc_dtype dt, uint64_t seed) {
    memset(ds, 0, sizeof *ds);
    vc_rng r;
    vc_rng_seed(&r, seed);
    ds->V = V;
    ds->D = D;
    ds->offsets = malloc((size_t)(V + 1) * sizeof(int64_t));
    int64_t *ncap = malloc((size_t)V * sizeof(int64_t));
    ds->offsets[0] = 0;
    int64_t C = 0;
    for (int64_t v = 0; v < V; v++) {
        int64_t n = min_f + (int64_t)vc_rng_below(&r, (uint64_t)(max_f - min_f + 1));
        if (empty_every && v % empty_every == empty_every - 1) n = 0;
        ds->offsets[v + 1] = ds->offsets[v] + n;
        ncap[v] = (nocap_every && v % nocap_every == 1) ? 0 : 1 + (int64_t)vc_rng_below(&r, 3);
        C += ncap[v];
    }
    int64_t F = ds->offsets[V];
    ds->f32 = malloc((size_t)(F * D) * sizeof(float) + 4);
    ds->f16 = malloc((size_t)(F * D) * sizeof(uint16_t) + 4);
    for (int64_t v = 0; v < V; v++)
        for (int64_t f = 0; f < ds->offsets[v + 1] - ds->offsets[v]; f++)
            for (int64_t d = 0; d < D; d++) {
                int64_t i = (ds->offsets[v] + f) * D + d;
                ds->f32[i] = frame_val(v, f, d);
                ds->f16[i] = vc_f32_to_f16(ds->f32[i]);
            }
    ds->C = C;
    ds->tv = malloc((size_t)C * sizeof(int64_t) + 8);
    int64_t c = 0;
    for (int64_t v = 0; v < V; v++)
        for (int64_t k = 0; k < ncap[v]; k++) ds->tv[c++] = v;
    for (int64_t i = C - 1; i > 0; i--) {
        int64_t j = (int64_t)vc_rng_below(&r, (uint64_t)(i + 1)), t = ds->tv[i];
        ds->tv[i] = ds->tv[j];
        ds->tv[j] = t;
    }
    ds->text = malloc((size_t)(C * D) * sizeof(float) + 4);
    for (c = 0; c < C; c++)
        for (int64_t d = 0; d < D; d++) ds->text[c * D + d] = text_val(c, ds->tv[c], d);
    free(ncap);
    vc_source_mem_desc desc = {.dim = D, .n_videos = V, .n_captions = C, .offsets = ds->offsets,
                               .frames = dt == VC_F16 ? (const void *)ds->f16 : (const void *)ds->f32,
                               .frame_dtype = dt, .text_video = ds->tv, .text = ds->text};
    ck_assert_int_eq(vc_source_memory(&ds->src, &desc), VC_OK);
}

static void ds_free(dataset *ds) {
    vc_source_close(&ds->src);
    free(ds->offsets);
    free(ds->f32);
    free(ds->f16);
    free(ds->tv);
    free(ds->text);
}

static int64_t nframes(const dataset *ds, int64_t v) { return ds->offsets[v + 1] - ds->offsets[v]; }

static vc_loader_opts opts(int64_t B, int64_t T, vc_frame_mode m, bool train, uint64_t seed) {
    vc_loader_opts o = vc_loader_defaults();
    o.batch = B;
    o.max_frames = T;
    o.frames = m;
    o.train = train;
    o.seed = seed;
    return o;
}

/* Forces streaming with small blocks. */
static vc_loader_opts streaming(vc_loader_opts o) {
    o.mem_budget = 1;
    o.block_videos = 4;
    return o;
}

static vc_loader *open_ok(dataset *ds, const vc_loader_opts *o) {
    vc_loader *ld = NULL;
    vc_status s = vc_loader_open(&ld, &ds->src, o);
    ck_assert_msg(s == VC_OK, "open failed: %s", vc_last_error());
    return ld;
}

static const vc_batch *next_ok(vc_loader *ld) {
    const vc_batch *b = NULL;
    vc_status s = vc_loader_next(ld, &b);
    ck_assert_msg(s == VC_OK, "next failed: %s", vc_last_error());
    return b;
}

/* Checks every row against the dataset: the frames are the ones the mode
 * selects, in order, padding is zero, the caption belongs to the video. */
static void check_batch(const dataset *ds, const vc_batch *b, int64_t T, vc_frame_mode m, bool train) {
    int64_t D = ds->D;
    ck_assert_int_eq(b->frames.ne[0], b->n);
    ck_assert_int_eq(b->frames.ne[1], T);
    ck_assert_int_eq(b->frames.ne[2], D);
    ck_assert_int_eq(b->lengths.dtype, VC_I64);
    ck_assert_int_eq(b->text.ne[0], b->n);
    const float *fr = b->frames.data;
    const float *tx = b->text.data;
    const int64_t *len = b->lengths.data;
    for (int64_t i = 0; i < b->n; i++) {
        int64_t v = b->video[i], n = nframes(ds, v);
        ck_assert_msg(n > 0, "video %lld with no frames in a batch", (long long)v);
        ck_assert_int_eq(len[i], n < T ? n : T);
        int64_t first = (int64_t)fr[(i * T) * D + 1];
        for (int64_t k = 0; k < T; k++) {
            const float *row = fr + (i * T + k) * D;
            if (k >= len[i]) {
                for (int64_t d = 0; d < D; d++) ck_assert_msg(row[d] == 0.0f, "padding not zero at row %lld frame %lld", (long long)i, (long long)k);
                continue;
            }
            int64_t want;
            if (n <= T || m == VC_FRAMES_FIRST)
                want = k;
            else if (m == VC_FRAMES_UNIFORM)
                want = ((2 * k + 1) * n) / (2 * T);
            else
                want = train ? first + k : (n - T) / 2 + k;
            if (m == VC_FRAMES_RANDOM && n > T && train)
                ck_assert_msg(first >= 0 && first + T <= n, "window [%lld,%lld) outside video of %lld frames",
                              (long long)first, (long long)(first + T), (long long)n);
            for (int64_t d = 0; d < D; d++)
                ck_assert_msg(row[d] == frame_val(v, want, d), "video %lld row %lld frame %lld dim %lld: %g, want %g",
                              (long long)v, (long long)i, (long long)k, (long long)d, row[d], frame_val(v, want, d));
        }
        int64_t c = b->caption[i];
        if (c < 0) {
            ck_assert(!train);
            for (int64_t d = 0; d < D; d++) ck_assert(tx[i * D + d] == 0.0f);
        } else {
            ck_assert_int_lt(c, ds->C);
            ck_assert_int_eq(ds->tv[c], v);
            for (int64_t d = 0; d < D; d++) ck_assert(tx[i * D + d] == text_val(c, v, d));
        }
    }
}

static void check_no_duplicates(const vc_batch *b) {
    for (int64_t i = 0; i < b->n; i++)
        for (int64_t j = i + 1; j < b->n; j++)
            ck_assert_msg(b->video[i] != b->video[j], "video %lld twice in one batch", (long long)b->video[i]);
}

/* Eligible videos of a training run over the whole file. */
static int64_t eligible(const dataset *ds, bool train, char *mark) {
    int64_t n = 0;
    for (int64_t v = 0; v < ds->V; v++) {
        bool has_cap = false;
        for (int64_t c = 0; c < ds->C; c++) has_cap |= ds->tv[c] == v;
        mark[v] = nframes(ds, v) > 0 && (!train || has_cap);
        n += mark[v];
    }
    return n;
}

/* Runs `epochs` epochs of training and checks that every stream window
 * [eN, (e+1)N) is a permutation of the eligible videos, every batch is full
 * (carry) and free of duplicates, and the contents are right. */
static void check_training_coverage(dataset *ds, vc_loader_opts o, int epochs) {
    char *mark = malloc((size_t)ds->V);
    int64_t N = eligible(ds, true, mark);
    vc_loader *ld = open_ok(ds, &o);
    ck_assert_int_eq(vc_loader_n_videos(ld), N);
    int64_t total = N * epochs;
    int64_t *stream = malloc((size_t)(total + o.batch) * sizeof(int64_t));
    int64_t got = 0, expect_epoch = 0, expect_pos = 0;
    while (got < total) {
        const vc_batch *b = next_ok(ld);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(b->epoch, expect_epoch);
        ck_assert_int_eq(b->pos, expect_pos);
        if (o.tail == VC_TAIL_CARRY) ck_assert_int_eq(b->n, o.batch);
        else ck_assert_int_eq(b->n, N - b->pos < o.batch ? N - b->pos : o.batch);
        ck_assert(b->epoch_end == (b->pos + b->n >= N));
        check_no_duplicates(b);
        check_batch(ds, b, o.max_frames, o.frames, true);
        for (int64_t i = 0; i < b->n; i++) stream[got++] = b->video[i];
        expect_pos += b->n;
        if (expect_pos >= N) {
            expect_pos -= N;
            expect_epoch++;
        }
    }
    char *seen = malloc((size_t)ds->V);
    for (int e = 0; e < epochs; e++) {
        memset(seen, 0, (size_t)ds->V);
        for (int64_t i = e * N; i < (e + 1) * N; i++) {
            int64_t v = stream[i];
            ck_assert_msg(v >= 0 && v < ds->V && mark[v], "ineligible video %lld", (long long)v);
            ck_assert_msg(!seen[v], "epoch %d visits video %lld twice", e, (long long)v);
            seen[v] = 1;
        }
    }
    if (epochs >= 2) { /* and the epochs are shuffled differently */
        ck_assert(memcmp(stream, stream + N, (size_t)N * sizeof(int64_t)) != 0);
    }
    free(seen);
    free(stream);
    free(mark);
    vc_loader_close(ld);
}

START_TEST(test_training_visits_every_video_exactly_once_per_epoch_with_full_batches) {
    dataset ds;
    ds_make(&ds, 61, 6, 1, 9, 0, 0, VC_F32, 1);
    uint64_t seeds[] = {0, 1, 12345};
    int64_t Bs[] = {1, 4, 7, 16, 31}; /* 61 is prime: every epoch boundary falls inside a batch */
    for (int si = 0; si < 3; si++)
        for (int bi = 0; bi < 5; bi++) {
            vc_loader_opts o = opts(Bs[bi], 4, VC_FRAMES_UNIFORM, true, seeds[si]);
            o.prefetch = (int)(bi % 3);
            check_training_coverage(&ds, o, 9);
        }
    ds_free(&ds);
}
END_TEST

START_TEST(test_partial_tail_visits_every_video_once_and_ends_epochs_with_a_short_batch) {
    dataset ds;
    ds_make(&ds, 50, 5, 1, 7, 0, 0, VC_F32, 2);
    for (int64_t B = 1; B <= 60; B += 7) {
        vc_loader_opts o = opts(B, 3, VC_FRAMES_FIRST, true, 7);
        o.tail = VC_TAIL_PARTIAL;
        check_training_coverage(&ds, o, 4);
    }
    ds_free(&ds);
}
END_TEST

START_TEST(test_streaming_with_a_tiny_budget_keeps_the_coverage_guarantees) {
    dataset ds;
    ds_make(&ds, 203, 6, 1, 12, 0, 0, VC_F16, 3);
    for (int mode = 0; mode < 3; mode++)
        for (int64_t B = 3; B <= 40; B += 12) {
            vc_loader_opts o = streaming(opts(B, 5, (vc_frame_mode)mode, true, 99 + (uint64_t)B));
            o.prefetch = (int)(B % 3);
            vc_loader *ld = open_ok(&ds, &o);
            ck_assert(vc_loader_streaming(ld));
            ck_assert_int_ge(vc_loader_window(ld), B);
            ck_assert_int_lt(vc_loader_window(ld), 203);
            vc_loader_close(ld);
            check_training_coverage(&ds, o, 5);
            o.tail = VC_TAIL_PARTIAL;
            check_training_coverage(&ds, o, 3);
        }
    ds_free(&ds);
}
END_TEST

START_TEST(test_each_frame_mode_pads_with_zeros_and_sets_lengths) {
    dataset ds;
    ds_make(&ds, 40, 4, 1, 20, 0, 0, VC_F32, 4);
    for (int mode = 0; mode < 3; mode++)
        for (int train = 0; train < 2; train++)
            for (int stream = 0; stream < 2; stream++) {
                vc_loader_opts o = opts(6, 8, (vc_frame_mode)mode, train, 5);
                if (stream) o = streaming(o);
                vc_loader *ld = open_ok(&ds, &o);
                for (int k = 0; k < 20; k++) {
                    const vc_batch *b = next_ok(ld);
                    if (!b) continue; /* end of an evaluation pass */
                    check_batch(&ds, b, 8, (vc_frame_mode)mode, train);
                }
                vc_loader_close(ld);
            }
    ds_free(&ds);
}
END_TEST

START_TEST(test_uniform_sampling_takes_the_centre_of_each_segment) {
    /* One video of 10 frames, T = 4: segments of 2.5 frames, centres 1.25,
     * 3.75, 6.25, 8.75 -> frames 1, 3, 6, 8. A second of 3 frames keeps all. */
    int64_t off[] = {0, 10, 13};
    float fr[13 * 2];
    for (int i = 0; i < 10; i++) fr[2 * i] = 0, fr[2 * i + 1] = (float)i;
    for (int i = 0; i < 3; i++) fr[20 + 2 * i] = 1, fr[20 + 2 * i + 1] = (float)(100 + i);
    int64_t tv[] = {0, 1};
    float tx[4] = {0};
    vc_source src;
    vc_source_mem_desc d = {.dim = 2, .n_videos = 2, .n_captions = 2, .offsets = off, .frames = fr,
                            .frame_dtype = VC_F32, .text_video = tv, .text = tx};
    ck_assert_int_eq(vc_source_memory(&src, &d), VC_OK);
    vc_loader_opts o = opts(2, 4, VC_FRAMES_UNIFORM, false, 0);
    vc_loader *ld;
    ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_OK);
    const vc_batch *b = next_ok(ld);
    const float *x = b->frames.data;
    const int64_t *len = b->lengths.data;
    ck_assert_int_eq(b->video[0], 0);
    ck_assert_int_eq(len[0], 4);
    ck_assert(x[1] == 1 && x[3] == 3 && x[5] == 6 && x[7] == 8);
    ck_assert_int_eq(len[1], 3);
    ck_assert(x[8 + 1] == 100 && x[8 + 3] == 101 && x[8 + 5] == 102 && x[8 + 6] == 0 && x[8 + 7] == 0);
    ck_assert_ptr_null(next_ok(ld)); /* end of the pass */
    vc_loader_close(ld);
    /* FIRST and centred RANDOM (evaluation) on the same video. */
    o.frames = VC_FRAMES_FIRST;
    ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_OK);
    x = next_ok(ld)->frames.data;
    ck_assert(x[1] == 0 && x[3] == 1 && x[5] == 2 && x[7] == 3);
    vc_loader_close(ld);
    o.frames = VC_FRAMES_RANDOM;
    ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_OK);
    x = next_ok(ld)->frames.data;
    ck_assert(x[1] == 3 && x[7] == 6);
    vc_loader_close(ld);
    vc_source_close(&src);
}
END_TEST

START_TEST(test_random_windows_stay_inside_the_video_and_change_between_epochs) {
    dataset ds;
    ds_make(&ds, 24, 3, 30, 30, 0, 0, VC_F32, 6);
    vc_loader_opts o = opts(8, 5, VC_FRAMES_RANDOM, true, 11);
    vc_loader *ld = open_ok(&ds, &o);
    int64_t starts[24][6];
    int64_t hist[26] = {0};
    for (int e = 0; e < 6; e++)
        for (int k = 0; k < 3; k++) {
            const vc_batch *b = next_ok(ld);
            check_batch(&ds, b, 5, VC_FRAMES_RANDOM, true);
            for (int64_t i = 0; i < b->n; i++) {
                int64_t s = (int64_t)((const float *)b->frames.data)[i * 5 * 3 + 1];
                ck_assert(s >= 0 && s <= 25);
                starts[b->video[i]][b->epoch] = s;
                hist[s]++;
            }
        }
    int changed = 0, distinct = 0;
    for (int v = 0; v < 24; v++)
        for (int e = 1; e < 6; e++) changed += starts[v][e] != starts[v][0];
    for (int s = 0; s < 26; s++) distinct += hist[s] > 0;
    ck_assert_int_gt(changed, 60);  /* of 120: windows are redrawn every epoch */
    ck_assert_int_gt(distinct, 15); /* and spread over the 26 possible starts */
    vc_loader_close(ld);
    ds_free(&ds);
}
END_TEST

START_TEST(test_captions_are_drawn_per_epoch_among_the_videos_captions) {
    dataset ds;
    ds_make(&ds, 30, 3, 2, 4, 0, 0, VC_F32, 7);
    vc_loader_opts o = opts(10, 4, VC_FRAMES_FIRST, true, 3);
    vc_loader *ld = open_ok(&ds, &o);
    char *used = calloc((size_t)ds.C, 1);
    for (int k = 0; k < 3 * 40; k++) {
        const vc_batch *b = next_ok(ld);
        check_batch(&ds, b, 4, VC_FRAMES_FIRST, true);
        for (int64_t i = 0; i < b->n; i++) used[b->caption[i]] = 1;
    }
    int64_t n_used = 0;
    for (int64_t c = 0; c < ds.C; c++) n_used += used[c];
    ck_assert_int_eq(n_used, ds.C); /* 40 epochs: every caption gets drawn */
    free(used);
    vc_loader_close(ld);
    ds_free(&ds);
}
END_TEST

/* ---------- determinism and resumption ---------- */

typedef struct {
    int64_t n, epoch, pos;
    bool end;
    float *frames, *text;
    int64_t *len, *video, *cap;
} rec;

static void rec_take(rec *r, const vc_batch *b) {
    int64_t nf = vc_numel(&b->frames), nt = vc_numel(&b->text);
    r->n = b->n;
    r->epoch = b->epoch;
    r->pos = b->pos;
    r->end = b->epoch_end;
    r->frames = malloc((size_t)nf * sizeof(float));
    r->text = malloc((size_t)nt * sizeof(float));
    r->len = malloc((size_t)b->n * sizeof(int64_t));
    r->video = malloc((size_t)b->n * sizeof(int64_t));
    r->cap = malloc((size_t)b->n * sizeof(int64_t));
    memcpy(r->frames, b->frames.data, (size_t)nf * sizeof(float));
    memcpy(r->text, b->text.data, (size_t)nt * sizeof(float));
    memcpy(r->len, b->lengths.data, (size_t)b->n * sizeof(int64_t));
    memcpy(r->video, b->video, (size_t)b->n * sizeof(int64_t));
    memcpy(r->cap, b->caption, (size_t)b->n * sizeof(int64_t));
}

static void rec_free(rec *r) {
    free(r->frames);
    free(r->text);
    free(r->len);
    free(r->video);
    free(r->cap);
}

static void rec_check(const rec *r, const vc_batch *b, int64_t T, int64_t D, const char *what, int k) {
    ck_assert_msg(b && b->n == r->n && b->epoch == r->epoch && b->pos == r->pos && b->epoch_end == r->end,
                  "%s: batch %d differs in size or position", what, k);
    ck_assert_msg(memcmp(r->frames, b->frames.data, (size_t)(r->n * T * D) * sizeof(float)) == 0, "%s: batch %d frames differ", what, k);
    ck_assert_msg(memcmp(r->text, b->text.data, (size_t)(r->n * D) * sizeof(float)) == 0, "%s: batch %d text differs", what, k);
    ck_assert_msg(memcmp(r->len, b->lengths.data, (size_t)r->n * sizeof(int64_t)) == 0, "%s: batch %d lengths differ", what, k);
    ck_assert_msg(memcmp(r->video, b->video, (size_t)r->n * sizeof(int64_t)) == 0, "%s: batch %d videos differ", what, k);
    ck_assert_msg(memcmp(r->cap, b->caption, (size_t)r->n * sizeof(int64_t)) == 0, "%s: batch %d captions differ", what, k);
}

/* Records K batches (evaluation's NULL pass ends are skipped). */
static rec *record(dataset *ds, const vc_loader_opts *o, int K) {
    rec *rs = calloc((size_t)K, sizeof *rs);
    vc_loader *ld = open_ok(ds, o);
    for (int k = 0; k < K; k++) {
        const vc_batch *b = next_ok(ld);
        if (!b) b = next_ok(ld);
        rec_take(&rs[k], b);
    }
    vc_loader_close(ld);
    return rs;
}

static void recs_free(rec *rs, int K) {
    for (int k = 0; k < K; k++) rec_free(&rs[k]);
    free(rs);
}

START_TEST(test_batches_are_identical_run_to_run_and_with_or_without_the_thread) {
    dataset ds;
    ds_make(&ds, 77, 5, 1, 15, 9, 8, VC_F16, 8);
    for (int stream = 0; stream < 2; stream++)
        for (int mode = 0; mode < 3; mode++) {
            vc_loader_opts o = opts(9, 6, (vc_frame_mode)mode, true, 2024);
            if (stream) o = streaming(o);
            int K = 40;
            o.prefetch = 0;
            rec *a = record(&ds, &o, K);
            o.prefetch = 3;
            vc_loader *ld = open_ok(&ds, &o);
            for (int k = 0; k < K; k++) rec_check(&a[k], next_ok(ld), 6, 5, "threaded vs direct", k);
            vc_loader_close(ld);
            ld = open_ok(&ds, &o);
            for (int k = 0; k < K; k++) rec_check(&a[k], next_ok(ld), 6, 5, "second run", k);
            vc_loader_close(ld);
            /* another seed gives another order */
            o.seed = 2025;
            ld = open_ok(&ds, &o);
            int same = 0;
            for (int k = 0; k < K; k++) same += memcmp(a[k].video, next_ok(ld)->video, (size_t)a[k].n * sizeof(int64_t)) == 0;
            ck_assert_int_lt(same, K / 4);
            vc_loader_close(ld);
            recs_free(a, K);
        }
    ds_free(&ds);
}
END_TEST

/* Saves the state after `at` batches, restores it into a fresh loader and
 * checks the following batches against an uninterrupted run, bit for bit. */
static void check_resume(dataset *ds, vc_loader_opts o, const rec *ref, int K, int at) {
    vc_loader *ld = open_ok(ds, &o);
    for (int k = 0; k < at; k++) {
        const vc_batch *b = next_ok(ld);
        if (!b) b = next_ok(ld);
    }
    vc_loader_state st;
    vc_loader_get_state(ld, &st);
    uint64_t w[VC_LOADER_STATE_WORDS];
    vc_loader_state_pack(&st, w);
    /* keep the first loader running past the save point: the restore must not care */
    for (int k = 0; k < 3; k++) next_ok(ld);
    vc_loader_close(ld);
    vc_loader_state back;
    vc_loader_state_unpack(&back, w);
    ld = open_ok(ds, &o);
    next_ok(ld); /* a loader already under way can be repositioned too */
    ck_assert_msg(vc_loader_set_state(ld, &back) == VC_OK, "restore: %s", vc_last_error());
    for (int k = at; k < K; k++) {
        const vc_batch *b = next_ok(ld);
        if (!b) b = next_ok(ld);
        rec_check(&ref[k], b, o.max_frames, ds->D, "resumed", k);
    }
    vc_loader_close(ld);
}

START_TEST(test_resume_after_save_and_restore_gives_identical_batches) {
    dataset ds;
    ds_make(&ds, 53, 4, 1, 13, 0, 0, VC_F32, 9);
    int ats[] = {0, 1, 4, 5, 6, 11, 17, 23};
    for (int stream = 0; stream < 2; stream++)
        for (int tail = 0; tail < 2; tail++)
            for (int train = 0; train < 2; train++) {
                if (!train && tail) continue;
                vc_loader_opts o = opts(10, 5, train ? VC_FRAMES_RANDOM : VC_FRAMES_UNIFORM, train, 77);
                o.tail = (vc_epoch_tail)tail;
                o.prefetch = stream ? 2 : 0;
                if (stream) o = streaming(o);
                int K = 28;
                rec *ref = record(&ds, &o, K);
                for (size_t i = 0; i < sizeof ats / sizeof ats[0]; i++) check_resume(&ds, o, ref, K, ats[i]);
                recs_free(ref, K);
            }
    ds_free(&ds);
}
END_TEST

START_TEST(test_restore_refuses_a_state_from_another_setup) {
    dataset ds;
    ds_make(&ds, 40, 4, 1, 6, 0, 0, VC_F32, 10);
    vc_loader_opts o = opts(8, 4, VC_FRAMES_UNIFORM, true, 5);
    vc_loader *ld = open_ok(&ds, &o);
    next_ok(ld);
    vc_loader_state st;
    vc_loader_get_state(ld, &st);
    vc_loader_close(ld);
    ck_assert_int_eq(st.epoch, 0);
    ck_assert_int_eq(st.pos, 8);
    vc_loader_opts o2 = o;
    o2.seed = 6;
    ld = open_ok(&ds, &o2);
    ck_assert_int_eq(vc_loader_set_state(ld, &st), VC_ERR_ARG);
    ck_assert(strstr(vc_last_error(), "seed") != NULL);
    vc_loader_close(ld);
    o2 = o;
    o2.batch = 4;
    ld = open_ok(&ds, &o2);
    ck_assert_int_eq(vc_loader_set_state(ld, &st), VC_ERR_ARG);
    vc_loader_close(ld);
    int64_t half[20];
    for (int i = 0; i < 20; i++) half[i] = i;
    o2 = o;
    o2.split = half;
    o2.n_split = 20;
    ld = open_ok(&ds, &o2);
    ck_assert_int_eq(vc_loader_set_state(ld, &st), VC_ERR_ARG);
    vc_loader_close(ld);
    ld = open_ok(&ds, &o);
    vc_loader_state bad = st;
    bad.pos = 3; /* not a batch start */
    ck_assert_int_eq(vc_loader_set_state(ld, &bad), VC_ERR_ARG);
    bad.pos = 40;
    ck_assert_int_eq(vc_loader_set_state(ld, &bad), VC_ERR_ARG);
    ck_assert_int_eq(vc_loader_set_state(ld, &st), VC_OK);
    vc_loader_close(ld);
    ds_free(&ds);
}
END_TEST

/* ---------- selection, skipping, evaluation ---------- */

START_TEST(test_empty_and_uncaptioned_videos_are_skipped_and_counted) {
    dataset ds;
    /* every 5th video has no frames (v = 4, 9, ...), videos with v % 6 == 1 have no caption */
    ds_make(&ds, 60, 3, 1, 5, 5, 6, VC_F32, 11);
    int64_t empty = 0, uncap = 0, uncap_nonempty = 0;
    char *mark = malloc(60);
    for (int64_t v = 0; v < 60; v++) {
        empty += nframes(&ds, v) == 0;
        bool nocap = v % 6 == 1;
        uncap += nocap;
        uncap_nonempty += nocap && nframes(&ds, v) > 0;
    }
    ck_assert_int_eq(empty, 12);
    ck_assert_int_gt(uncap_nonempty, 5);
    for (int stream = 0; stream < 2; stream++) {
        vc_loader_opts o = opts(7, 4, VC_FRAMES_UNIFORM, true, 1);
        if (stream) o = streaming(o);
        vc_loader *ld = open_ok(&ds, &o);
        ck_assert_int_eq(vc_loader_n_skipped_empty(ld), empty);
        ck_assert_int_eq(vc_loader_n_skipped_uncaptioned(ld), uncap_nonempty);
        ck_assert_int_eq(vc_loader_n_videos(ld), 60 - empty - uncap_nonempty);
        ck_assert_int_eq(vc_loader_n_videos(ld), eligible(&ds, true, mark));
        vc_loader_close(ld);
        check_training_coverage(&ds, o, 3);
        /* evaluation keeps caption-less videos */
        o.train = false;
        ld = open_ok(&ds, &o);
        ck_assert_int_eq(vc_loader_n_skipped_empty(ld), empty);
        ck_assert_int_eq(vc_loader_n_skipped_uncaptioned(ld), 0);
        ck_assert_int_eq(vc_loader_n_videos(ld), 60 - empty);
        int64_t no_caption_rows = 0;
        const vc_batch *b;
        while ((b = next_ok(ld)) != NULL) {
            check_batch(&ds, b, 4, VC_FRAMES_UNIFORM, false);
            for (int64_t i = 0; i < b->n; i++) no_caption_rows += b->caption[i] < 0;
        }
        ck_assert_int_eq(no_caption_rows, uncap_nonempty);
        vc_loader_close(ld);
    }
    free(mark);
    ds_free(&ds);
}
END_TEST

START_TEST(test_evaluation_covers_every_video_once_in_split_order) {
    dataset ds;
    ds_make(&ds, 45, 4, 0, 6, 0, 0, VC_F16, 12);
    /* a split in a scrambled order with some videos left out */
    int64_t split[30];
    for (int i = 0; i < 30; i++) split[i] = (i * 17 + 5) % 45;
    for (int stream = 0; stream < 2; stream++)
        for (int64_t B = 1; B <= 33; B += 8) {
            vc_loader_opts o = opts(B, 3, VC_FRAMES_UNIFORM, false, 0);
            o.split = split;
            o.n_split = 30;
            if (stream) o = streaming(o);
            vc_loader *ld = open_ok(&ds, &o);
            int64_t N = vc_loader_n_videos(ld);
            int64_t want[30], nw = 0;
            for (int i = 0; i < 30; i++)
                if (nframes(&ds, split[i]) > 0) want[nw++] = split[i];
            ck_assert_int_eq(N, nw);
            ck_assert_int_eq(vc_loader_n_skipped_empty(ld), 30 - nw);
            ck_assert(memcmp(vc_loader_videos(ld), want, (size_t)nw * sizeof(int64_t)) == 0);
            for (int pass = 0; pass < 2; pass++) {
                int64_t got = 0;
                const vc_batch *b;
                while ((b = next_ok(ld)) != NULL) {
                    ck_assert_int_eq(b->pos, got);
                    ck_assert_int_eq(b->epoch, pass);
                    ck_assert_int_eq(b->n, N - got < B ? N - got : B);
                    check_batch(&ds, b, 3, VC_FRAMES_UNIFORM, false);
                    for (int64_t i = 0; i < b->n; i++) ck_assert_int_eq(b->video[i], want[got + i]);
                    got += b->n;
                }
                ck_assert_int_eq(got, N);
            }
            vc_loader_close(ld);
        }
    ds_free(&ds);
}
END_TEST

START_TEST(test_all_captions_for_evaluation_map_to_their_videos) {
    dataset ds;
    ds_make(&ds, 35, 4, 0, 5, 0, 4, VC_F32, 13);
    int64_t split[20];
    for (int i = 0; i < 20; i++) split[i] = 34 - i;
    vc_loader_opts o = opts(8, 3, VC_FRAMES_FIRST, false, 0);
    o.split = split;
    o.n_split = 20;
    o.prefetch = 2;
    vc_loader *ld = open_ok(&ds, &o);
    next_ok(ld); /* prefetching runs while the captions are read */
    vc_captions c;
    ck_assert_int_eq(vc_loader_captions(ld, &c), VC_OK);
    const int64_t *vids = vc_loader_videos(ld);
    int64_t N = vc_loader_n_videos(ld), expect = 0;
    for (int64_t cc = 0; cc < ds.C; cc++)
        for (int64_t i = 0; i < N; i++) expect += ds.tv[cc] == vids[i];
    ck_assert_int_eq(c.n, expect);
    ck_assert_int_gt(c.n, 10);
    const int64_t *cap = c.caption.data, *vid = c.video.data, *row = c.row.data;
    const float *emb = c.emb.data;
    for (int64_t i = 0; i < c.n; i++) {
        if (i > 0) ck_assert_int_lt(cap[i - 1], cap[i]);
        ck_assert_int_eq(ds.tv[cap[i]], vid[i]);
        ck_assert_int_eq(vids[row[i]], vid[i]);
        for (int64_t d = 0; d < 4; d++) ck_assert(emb[i * 4 + d] == text_val(cap[i], vid[i], d));
    }
    vc_captions_release(&c);
    vc_loader_close(ld);
    ds_free(&ds);
}
END_TEST

START_TEST(test_bad_splits_and_too_small_datasets_are_errors) {
    dataset ds;
    ds_make(&ds, 20, 3, 1, 4, 0, 0, VC_F32, 14);
    vc_loader *ld = NULL;
    int64_t dup[] = {1, 2, 3, 2};
    vc_loader_opts o = opts(2, 4, VC_FRAMES_FIRST, true, 0);
    o.split = dup;
    o.n_split = 4;
    ck_assert_int_eq(vc_loader_open(&ld, &ds.src, &o), VC_ERR_ARG);
    ck_assert(strstr(vc_last_error(), "video 2 twice") != NULL);
    ck_assert_ptr_null(ld);
    int64_t out[] = {1, 20};
    o.split = out;
    o.n_split = 2;
    ck_assert_int_eq(vc_loader_open(&ld, &ds.src, &o), VC_ERR_ARG);
    ck_assert(strstr(vc_last_error(), "outside") != NULL);
    /* 20 videos cannot be carried in batches of 11 (needs 21), but can be in 10 or with a partial tail */
    o = opts(11, 4, VC_FRAMES_FIRST, true, 0);
    ck_assert_int_eq(vc_loader_open(&ld, &ds.src, &o), VC_ERR_ARG);
    o.batch = 10;
    ck_assert_int_eq(vc_loader_open(&ld, &ds.src, &o), VC_OK);
    vc_loader_close(ld);
    o.batch = 11;
    o.tail = VC_TAIL_PARTIAL;
    ck_assert_int_eq(vc_loader_open(&ld, &ds.src, &o), VC_OK);
    vc_loader_close(ld);
    o.batch = 0;
    ck_assert_int_eq(vc_loader_open(&ld, &ds.src, &o), VC_ERR_ARG);
    /* nothing left to load */
    int64_t none[] = {0};
    int64_t off[] = {0, 0};
    vc_source empty;
    vc_source_mem_desc d = {.dim = 3, .n_videos = 1, .offsets = off, .frame_dtype = VC_F32};
    ck_assert_int_eq(vc_source_memory(&empty, &d), VC_OK);
    o = opts(1, 4, VC_FRAMES_FIRST, false, 0);
    o.split = none;
    o.n_split = 1;
    ck_assert_int_eq(vc_loader_open(&ld, &empty, &o), VC_ERR_ARG);
    ck_assert(strstr(vc_last_error(), "no videos") != NULL);
    o.train = true; /* and training needs captions */
    ck_assert_int_eq(vc_loader_open(&ld, &empty, &o), VC_ERR_FORMAT);
    vc_source_close(&empty);
    /* a bad memory source is refused up front */
    int64_t dec[] = {0, 3, 2};
    d.n_videos = 2;
    d.offsets = dec;
    d.frames = ds.f32;
    ck_assert_int_eq(vc_source_memory(&empty, &d), VC_ERR_FORMAT);
    ck_assert(strstr(vc_last_error(), "decrease") != NULL);
    ds_free(&ds);
}
END_TEST

/* ---------- a source that counts reads and can fail ---------- */

typedef struct {
    vc_source inner;
    int64_t calls, rows, fail_row;
} counting;

static vc_status cnt_frames(void *ctx, int64_t r0, int64_t n, float *dst) {
    counting *c = ctx;
    c->calls++;
    c->rows += n;
    if (c->fail_row >= r0 && c->fail_row < r0 + n)
        return vc_fail(VC_ERR_NUMERIC, "test.h5: /video/embeddings row %lld is NaN", (long long)c->fail_row);
    return c->inner.read_frames(c->inner.ctx, r0, n, dst);
}

static vc_status cnt_text(void *ctx, int64_t c0, int64_t n, float *dst) {
    counting *c = ctx;
    return c->inner.read_text(c->inner.ctx, c0, n, dst);
}

static vc_source counted(counting *c, const vc_source *inner, int64_t fail_row) {
    c->inner = *inner;
    c->calls = c->rows = 0;
    c->fail_row = fail_row;
    vc_source s = *inner;
    s.ctx = c;
    s.read_frames = cnt_frames;
    s.read_text = cnt_text;
    s.close = NULL;
    return s;
}

START_TEST(test_streaming_reads_few_large_ranges_and_bounds_memory) {
    dataset ds;
    ds_make(&ds, 1000, 8, 2, 6, 0, 0, VC_F16, 15);
    counting cnt;
    vc_source src = counted(&cnt, &ds.src, -1);
    vc_loader_opts o = opts(16, 4, VC_FRAMES_FIRST, true, 1);
    o.block_videos = 32;
    o.mem_budget = 100 * (4 * 8 + 8) * 4 * 4; /* windows of 100 videos */
    o.prefetch = 0;
    vc_loader *ld;
    ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_OK);
    ck_assert(vc_loader_streaming(ld));
    ck_assert_int_eq(vc_loader_window(ld), 100);
    for (int k = 0; k < 1000 / 16 * 2; k++) next_ok(ld); /* about two epochs */
    vc_loader_close(ld);
    /* 10 windows an epoch, each touching a few blocks: far fewer reads than videos */
    ck_assert_msg(cnt.calls < 2 * 10 * 8, "%lld read calls for 2000 videos", (long long)cnt.calls);
    ck_assert_int_gt(cnt.calls, 0);
    ds_free(&ds);
}
END_TEST

START_TEST(test_evaluation_does_not_read_ahead_past_the_end_of_a_pass) {
    dataset ds;
    ds_make(&ds, 100, 4, 1, 5, 0, 0, VC_F32, 18);
    counting cnt;
    vc_source src = counted(&cnt, &ds.src, -1);
    vc_loader_opts o = streaming(opts(8, 3, VC_FRAMES_FIRST, false, 0));
    o.prefetch = 4;
    vc_loader *ld;
    ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_OK);
    int64_t seen = 0;
    const vc_batch *b;
    while ((b = next_ok(ld)) != NULL) seen += b->n;
    ck_assert_int_eq(seen, 100);
    int64_t rows = cnt.rows; /* the worker is paused: it wrote these before handing over the last batch */
    usleep(100 * 1000);
    ck_assert_int_eq(cnt.rows, rows);
    int64_t wanted = 0;
    for (int64_t v = 0; v < 100; v++) wanted += nframes(&ds, v) < 3 ? nframes(&ds, v) : 3;
    ck_assert_int_ge(rows, wanted);
    ck_assert_int_le(rows, ds.offsets[100]); /* no row read twice in a pass */
    b = next_ok(ld);
    ck_assert_int_eq(b->epoch, 1);
    ck_assert_int_eq(b->pos, 0);
    vc_loader_close(ld);
    ds_free(&ds);
}
END_TEST

START_TEST(test_a_read_error_arrives_after_the_good_batches_and_stays) {
    dataset ds;
    ds_make(&ds, 40, 4, 3, 3, 0, 0, VC_F32, 16);
    for (int prefetch = 0; prefetch < 3; prefetch += 2) {
        /* evaluation in file order: row 3*25 belongs to video 25, in batch 25/8 = 3 */
        counting cnt;
        vc_source src = counted(&cnt, &ds.src, 75);
        vc_loader_opts o = streaming(opts(8, 3, VC_FRAMES_FIRST, false, 0));
        o.prefetch = prefetch;
        vc_loader *ld;
        ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_OK);
        const vc_batch *b;
        int good = 0;
        vc_status s;
        while ((s = vc_loader_next(ld, &b)) == VC_OK && b) good++;
        ck_assert_int_eq(s, VC_ERR_NUMERIC);
        ck_assert(strstr(vc_last_error(), "row 75 is NaN") != NULL);
        ck_assert_int_eq(good, 3); /* windows of 8 videos: batches 0..2 come before video 25 */
        ck_assert_int_eq(vc_loader_next(ld, &b), VC_ERR_NUMERIC);
        ck_assert_ptr_null(b);
        vc_loader_close(ld);
        /* In RAM mode the whole dataset is read at open, so open reports it. */
        o.mem_budget = (int64_t)1 << 30;
        ck_assert_int_eq(vc_loader_open(&ld, &src, &o), VC_ERR_NUMERIC);
    }
    ds_free(&ds);
}
END_TEST

/* ---------- through a vclip HDF5 file ---------- */

static void write_h5(const dataset *ds, const char *path, vc_dtype dt) {
    vc_h5w_opts o = {.dim = ds->D, .dtype = dt, .gzip_level = dt == VC_F16 ? 0 : 3};
    vc_h5w *w;
    ck_assert_msg(vc_h5w_open(&w, path, &o) == VC_OK, "%s", vc_last_error());
    char id[32];
    for (int64_t v = 0; v < ds->V; v++) {
        snprintf(id, sizeof id, "vid%lld", (long long)v);
        ck_assert_msg(vc_h5w_add_video(w, id, ds->f32 + ds->offsets[v] * ds->D, nframes(ds, v), NULL) == VC_OK, "%s",
                      vc_last_error());
    }
    for (int64_t c = 0; c < ds->C; c++)
        ck_assert_msg(vc_h5w_add_caption(w, ds->tv[c], "a caption", ds->text + c * ds->D) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_h5w_close(w) == VC_OK, "%s", vc_last_error());
}

START_TEST(test_hdf5_files_load_like_the_same_data_in_memory) {
    dataset ds;
    ds_make(&ds, 90, 16, 0, 40, 0, 7, VC_F32, 17);
    for (int dt = 0; dt < 2; dt++) {
        char path[512];
        snprintf(path, sizeof path, "%s/loader-%d.h5", vc_test_tmpdir(), dt);
        write_h5(&ds, path, dt ? VC_F16 : VC_F32);
        vc_source src;
        ck_assert_msg(vc_source_open_h5(&src, path, NULL) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(src.n_videos, 90);
        ck_assert_int_eq(src.n_captions, ds.C);
        for (int stream = 0; stream < 2; stream++)
            for (int train = 0; train < 2; train++) {
                vc_loader_opts o = opts(8, 12, train ? VC_FRAMES_RANDOM : VC_FRAMES_UNIFORM, train, 3);
                if (stream) o = streaming(o);
                int K = 30;
                vc_loader *a, *b;
                ck_assert_msg(vc_loader_open(&a, &src, &o) == VC_OK, "%s", vc_last_error());
                ck_assert_msg(vc_loader_open(&b, &ds.src, &o) == VC_OK, "%s", vc_last_error());
                ck_assert_int_eq(vc_loader_n_skipped_empty(a), vc_loader_n_skipped_empty(b));
                ck_assert_int_eq(vc_loader_n_skipped_uncaptioned(a), vc_loader_n_skipped_uncaptioned(b));
                for (int k = 0; k < K; k++) {
                    const vc_batch *x = next_ok(a), *y = next_ok(b);
                    ck_assert((x == NULL) == (y == NULL));
                    if (!x) continue;
                    check_batch(&ds, x, 12, o.frames, train);
                    rec r;
                    rec_take(&r, y);
                    rec_check(&r, x, 12, ds.D, "hdf5 vs memory", k);
                    rec_free(&r);
                }
                vc_loader_close(a);
                vc_loader_close(b);
            }
        vc_source_close(&src);
    }
    ds_free(&ds);
}
END_TEST

START_TEST(test_fast_f16_conversion_matches_the_exact_scalar_one) {
    static uint16_t h[65536 + 7];
    static float a[65536 + 7], b[65536 + 7];
    for (uint32_t i = 0; i < 65536 + 7; i++) h[i] = (uint16_t)(i * 40503u);
    for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    /* odd lengths and offsets exercise the vector tails */
    size_t lens[] = {65536 + 7, 1, 7, 8, 15, 17, 33};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        size_t off = li % 3, n = lens[li] - (lens[li] > 3 ? off : 0);
        vc_f16_to_f32_fast(a, h + off, n);
        vc_f16_to_f32_n(b, h + off, n);
        for (size_t i = 0; i < n; i++) {
            if (isnan(b[i]))
                ck_assert_msg(isnan(a[i]), "0x%04x: NaN lost", h[off + i]);
            else
                ck_assert_msg(memcmp(&a[i], &b[i], 4) == 0, "0x%04x: %g vs %g", h[off + i], a[i], b[i]);
        }
    }
    printf("f16 fast path: %s\n", vc_f16_fast_path());
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("loader");
    TCase *c = tcase_create("loader");
    tcase_set_timeout(c, 300);
    tcase_add_test(c, test_training_visits_every_video_exactly_once_per_epoch_with_full_batches);
    tcase_add_test(c, test_partial_tail_visits_every_video_once_and_ends_epochs_with_a_short_batch);
    tcase_add_test(c, test_streaming_with_a_tiny_budget_keeps_the_coverage_guarantees);
    tcase_add_test(c, test_each_frame_mode_pads_with_zeros_and_sets_lengths);
    tcase_add_test(c, test_uniform_sampling_takes_the_centre_of_each_segment);
    tcase_add_test(c, test_random_windows_stay_inside_the_video_and_change_between_epochs);
    tcase_add_test(c, test_captions_are_drawn_per_epoch_among_the_videos_captions);
    tcase_add_test(c, test_batches_are_identical_run_to_run_and_with_or_without_the_thread);
    tcase_add_test(c, test_resume_after_save_and_restore_gives_identical_batches);
    tcase_add_test(c, test_restore_refuses_a_state_from_another_setup);
    tcase_add_test(c, test_empty_and_uncaptioned_videos_are_skipped_and_counted);
    tcase_add_test(c, test_evaluation_covers_every_video_once_in_split_order);
    tcase_add_test(c, test_all_captions_for_evaluation_map_to_their_videos);
    tcase_add_test(c, test_bad_splits_and_too_small_datasets_are_errors);
    tcase_add_test(c, test_streaming_reads_few_large_ranges_and_bounds_memory);
    tcase_add_test(c, test_evaluation_does_not_read_ahead_past_the_end_of_a_pass);
    tcase_add_test(c, test_a_read_error_arrives_after_the_good_batches_and_stays);
    tcase_add_test(c, test_hdf5_files_load_like_the_same_data_in_memory);
    tcase_add_test(c, test_fast_f16_conversion_matches_the_exact_scalar_one);
    suite_add_tcase(s, c);
    return s;
}

VC_TEST_MAIN(make_suite)
