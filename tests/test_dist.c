/* test_dist.c: data-parallel training (issue 12).
 *  - loader shards: each rank's training batch is its slice of the batch a
 *    single loader makes (RAM and streaming, across epoch boundaries), the
 *    ranks together cover every video once per epoch, and evaluation shards
 *    partition a pass;
 *  - the comm table's single-process implementation and agreement;
 *  - through `mpirun` (SKIP where mpirun or MPI is missing): the comm's MPI
 *    collectives; `mpirun -np 2` and `-np 3` training against one process at
 *    the same global batch (loss at every step to 1e-5 relative, final
 *    weights to 1e-5) for the transformer and the mean + text-head models;
 *    a kill -9 of one rank ending the job within 60 s with a message naming
 *    it, and --resume finishing bit-identical to an uninterrupted 2-rank run;
 *    a rank that fails alone ending the job with its message. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "data/loader.h"
#include "harness.h"
#include "tensor/comm.h"

/* ---------- an in-memory dataset whose rows say where they came from ---------- */

typedef struct {
    int64_t V, D, C;
    int64_t *offsets;
    float *frames, *text;
    int64_t *tv;
    vc_source src;
} memds;

static void memds_make(memds *m, int64_t V, int64_t D, uint64_t seed) {
    memset(m, 0, sizeof *m);
    vc_rng r;
    vc_rng_seed(&r, seed);
    m->V = V;
    m->D = D;
    m->offsets = malloc((size_t)(V + 1) * sizeof(int64_t));
    m->offsets[0] = 0;
    for (int64_t v = 0; v < V; v++) m->offsets[v + 1] = m->offsets[v] + 1 + (int64_t)vc_rng_below(&r, 9);
    int64_t F = m->offsets[V];
    m->frames = malloc((size_t)(F * D) * sizeof(float));
    for (int64_t v = 0; v < V; v++)
        for (int64_t f = m->offsets[v]; f < m->offsets[v + 1]; f++)
            for (int64_t d = 0; d < D; d++) m->frames[f * D + d] = d == 0 ? (float)v : (float)(f - m->offsets[v]) + 0.5f * d;
    m->C = 2 * V;
    m->tv = malloc((size_t)m->C * sizeof(int64_t));
    m->text = malloc((size_t)(m->C * D) * sizeof(float));
    for (int64_t c = 0; c < m->C; c++) {
        m->tv[c] = c % V;
        for (int64_t d = 0; d < D; d++) m->text[c * D + d] = (float)(c * D + d);
    }
    vc_source_mem_desc desc = {.dim = D, .n_videos = V, .n_captions = m->C, .offsets = m->offsets,
                               .frames = m->frames, .frame_dtype = VC_F32, .text_video = m->tv, .text = m->text};
    ck_assert_int_eq(vc_source_memory(&m->src, &desc), VC_OK);
}

static void memds_free(memds *m) {
    vc_source_close(&m->src);
    free(m->offsets);
    free(m->frames);
    free(m->text);
    free(m->tv);
}

static vc_loader_opts train_opts(int64_t B, bool stream, int rank, int count) {
    vc_loader_opts o = vc_loader_defaults();
    o.batch = B;
    o.max_frames = 6;
    o.frames = VC_FRAMES_RANDOM;
    o.seed = 11;
    o.prefetch = 2;
    if (stream) {
        o.mem_budget = 1;
        o.block_videos = 5;
    }
    o.shard_rank = rank;
    o.shard_count = count;
    return o;
}

/* Row i of batch a equals row j of batch b: frames, length, text, video, caption. */
static void assert_same_row(const vc_batch *a, int64_t i, const vc_batch *b, int64_t j, int64_t T, int64_t D) {
    ck_assert_int_eq(a->video[i], b->video[j]);
    ck_assert_int_eq(a->caption[i], b->caption[j]);
    ck_assert_int_eq(vc_int_at(&a->lengths, i), vc_int_at(&b->lengths, j));
    ck_assert(memcmp(vc_f32(&a->frames) + i * T * D, vc_f32(&b->frames) + j * T * D, (size_t)(T * D) * sizeof(float)) == 0);
    ck_assert(memcmp(vc_f32(&a->text) + i * D, vc_f32(&b->text) + j * D, (size_t)D * sizeof(float)) == 0);
}

/* _i: 0 RAM, 1 streaming. N = 50 videos, B = 12 (does not divide N: batches
 * cross epoch boundaries), 2, 3 and 4 ranks, 13 steps (3+ epochs). */
START_TEST(test_training_shards_are_slices_of_the_single_batch) {
    memds m;
    memds_make(&m, 50, 4, 5);
    const int64_t B = 12, T = 6, D = 4, steps = 13;
    for (int R = 2; R <= 4; R++) {
        vc_loader *one, *sh[4];
        vc_loader_opts o = train_opts(B, _i, 0, 1);
        ck_assert_msg(vc_loader_open(&one, &m.src, &o) == VC_OK, "%s", vc_last_error());
        for (int r = 0; r < R; r++) {
            o = train_opts(B, _i, r, R);
            ck_assert_msg(vc_loader_open(&sh[r], &m.src, &o) == VC_OK, "%s", vc_last_error());
        }
        int64_t bl = B / R;
        int seen[4][50] = {{0}}; /* per epoch: times each video was dealt */
        for (int64_t s = 0; s < steps; s++) {
            const vc_batch *b1;
            ck_assert(vc_loader_next(one, &b1) == VC_OK && b1);
            ck_assert_int_eq(b1->n, B);
            for (int r = 0; r < R; r++) {
                const vc_batch *br;
                ck_assert(vc_loader_next(sh[r], &br) == VC_OK && br);
                ck_assert_int_eq(br->n, bl);
                ck_assert_int_eq(br->epoch, b1->epoch);
                ck_assert_int_eq(br->pos, b1->pos);
                ck_assert_int_eq(br->epoch_end, b1->epoch_end);
                for (int64_t i = 0; i < bl; i++) {
                    assert_same_row(br, i, b1, r * bl + i, T, D);
                    /* the stream position of this row decides its epoch */
                    int64_t q = b1->epoch * 50 + b1->pos + r * bl + i;
                    if (q / 50 < 4) seen[q / 50][br->video[i]]++;
                }
                vc_loader_state a, b;
                vc_loader_get_state(one, &a);
                vc_loader_get_state(sh[r], &b);
                ck_assert(a.epoch == b.epoch && a.pos == b.pos && a.fingerprint == b.fingerprint);
            }
        }
        /* 13 * 12 = 156 positions: epochs 0-2 complete, across all ranks */
        for (int e = 0; e < 3; e++)
            for (int v = 0; v < 50; v++) ck_assert_msg(seen[e][v] == 1, "R %d epoch %d: video %d dealt %d times", R, e, v, seen[e][v]);
        /* a state saved by one rank resumes another at the same global batch */
        vc_loader_state st;
        vc_loader_get_state(sh[0], &st);
        ck_assert(vc_loader_set_state(sh[R - 1], &st) == VC_OK);
        const vc_batch *b1, *br;
        ck_assert(vc_loader_next(one, &b1) == VC_OK && vc_loader_next(sh[R - 1], &br) == VC_OK);
        for (int64_t i = 0; i < bl; i++) assert_same_row(br, i, b1, (R - 1) * bl + i, T, D);
        vc_loader_close(one);
        for (int r = 0; r < R; r++) vc_loader_close(sh[r]);
    }
    memds_free(&m);
}
END_TEST

START_TEST(test_training_shard_errors) {
    memds m;
    memds_make(&m, 30, 4, 1);
    vc_loader *ld;
    vc_loader_opts o = train_opts(10, false, 0, 3);
    ck_assert(vc_loader_open(&ld, &m.src, &o) == VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "global batch 10 does not divide by the 3 ranks"), "%s", vc_last_error());
    o = train_opts(10, false, 2, 2);
    ck_assert(vc_loader_open(&ld, &m.src, &o) == VC_ERR_ARG);
    o = train_opts(10, false, 0, 2);
    o.tail = VC_TAIL_PARTIAL;
    ck_assert(vc_loader_open(&ld, &m.src, &o) == VC_ERR_ARG);
    memds_free(&m);
}
END_TEST

/* _i: 0 RAM, 1 streaming. The shards' passes, in rank order, are the single
 * pass; two passes in a row give the same batches; more ranks than videos
 * leave some shards empty. */
START_TEST(test_evaluation_shards_partition_a_pass) {
    memds m;
    memds_make(&m, 23, 4, 9);
    const int64_t T = 6, D = 4;
    for (int R = 1; R <= 25; R += (R < 4 ? 1 : 21)) {
        vc_loader *one;
        vc_loader_opts o = train_opts(5, _i, 0, 1);
        o.train = false;
        o.frames = VC_FRAMES_UNIFORM;
        ck_assert(vc_loader_open(&one, &m.src, &o) == VC_OK);
        const vc_batch *b1 = NULL;
        int64_t row1 = 0, total = 0;
        ck_assert(vc_loader_next(one, &b1) == VC_OK && b1);
        for (int r = 0; r < R; r++) {
            vc_loader *ld;
            o.shard_rank = r;
            o.shard_count = R;
            ck_assert_msg(vc_loader_open(&ld, &m.src, &o) == VC_OK, "%s", vc_last_error());
            ck_assert_int_eq(vc_loader_n_videos(ld), 23);
            int64_t lo, hi;
            vc_loader_shard_range(ld, &lo, &hi);
            ck_assert_int_eq(lo, total);
            for (int pass = 0; pass < 2; pass++) {
                int64_t got = 0;
                for (;;) {
                    const vc_batch *b;
                    ck_assert(vc_loader_next(ld, &b) == VC_OK);
                    if (!b) break;
                    ck_assert_int_eq(b->pos, lo + got);
                    for (int64_t i = 0; i < b->n; i++, got++) {
                        if (pass) continue;
                        if (row1 == b1->n) {
                            ck_assert(vc_loader_next(one, &b1) == VC_OK && b1);
                            row1 = 0;
                        }
                        assert_same_row(b, i, b1, row1++, T, D);
                    }
                }
                ck_assert_int_eq(got, hi - lo);
            }
            total += hi - lo;
            vc_loader_close(ld);
        }
        ck_assert_int_eq(total, 23);
        vc_loader_close(one);
    }
    memds_free(&m);
}
END_TEST

/* ---------- the comm table without MPI ---------- */

START_TEST(test_single_comm_is_the_identity) {
    vc_comm *c;
    ck_assert(vc_comm_single(&c) == VC_OK);
    ck_assert_int_eq(c->size, 1);
    ck_assert_int_eq(c->rank, 0);
    vc_real a[4] = {1, 2, 3, 4}, b[4] = {0};
    ck_assert(vc_comm_allreduce_sum(c, a, 4) == VC_OK);
    ck_assert(a[0] == 1 && a[3] == 4);
    ck_assert(vc_comm_allgather(c, a, 4, b) == VC_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert(vc_comm_reduce_scatter_sum(c, a, 4, b) == VC_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    ck_assert_int_eq(c->stats.allreduce_bytes, 4 * (int64_t)sizeof(vc_real));
    ck_assert(vc_comm_broadcast(c, a, sizeof a, 1) == VC_ERR_ARG);
    vc_fail(VC_ERR_IO, "disk on fire");
    ck_assert(vc_comm_agree(c, VC_ERR_IO) == VC_ERR_IO);
    ck_assert_str_eq(vc_last_error(), "disk on fire");
    ck_assert(vc_comm_agree(c, VC_OK) == VC_OK);
    ck_assert(vc_comm_check_same(c, 42, "config") == VC_OK);
    vc_comm_close(c);
}
END_TEST

/* Outside a launcher's environment vc_comm_open gives the single comm; a
 * launcher's variables are read (Open MPI's, Slurm's with several tasks). */
START_TEST(test_launcher_environment) {
    int size, rank;
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("PMIX_RANK");
    unsetenv("SLURM_STEP_NUM_TASKS");
    ck_assert(!vc_comm_launched(&size, &rank));
    ck_assert(size == 1 && rank == 0);
    vc_comm *c;
    ck_assert(vc_comm_open(&c) == VC_OK);
    ck_assert_str_eq(c->ops->name, "single");
    vc_comm_close(c);
    setenv("SLURM_STEP_NUM_TASKS", "1", 1);
    ck_assert(!vc_comm_launched(NULL, NULL)); /* one srun task: nothing to share */
    setenv("SLURM_STEP_NUM_TASKS", "4", 1);
    setenv("SLURM_PROCID", "3", 1);
    ck_assert(vc_comm_launched(&size, &rank));
    ck_assert(size == 4 && rank == 3);
    unsetenv("SLURM_STEP_NUM_TASKS");
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    setenv("OMPI_COMM_WORLD_RANK", "1", 1);
    ck_assert(vc_comm_launched(&size, &rank));
    ck_assert(size == 2 && rank == 1);
    if (!vc_comm_mpi_version()) {
        ck_assert(vc_comm_open(&c) == VC_ERR_UNSUPPORTED);
        ck_assert_msg(strstr(vc_last_error(), "built without MPI"), "%s", vc_last_error());
    }
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("OMPI_COMM_WORLD_RANK");
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("shards");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_training_shards_are_slices_of_the_single_batch, 0, 2);
    tcase_add_test(tc, test_training_shard_errors);
    tcase_add_loop_test(tc, test_evaluation_shards_partition_a_pass, 0, 2);
    tcase_add_test(tc, test_single_comm_is_the_identity);
    tcase_add_test(tc, test_launcher_environment);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
