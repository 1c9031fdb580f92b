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
 *    a rank that fails alone ending the job with its message;
 *  - data-parallel training on CUDA with the emulated vclip
 *    (build/tests/vclip_cuemu: the CUDA emulator, NCCL emulated over MPI):
 *    2 and 3 ranks through the NCCL comm and 2 through the host-staged one
 *    against one CPU process, a rank without its GPU, kill -9 of a rank and
 *    --resume bit-identical to the uninterrupted run. */
#include <archive.h>
#include <archive_entry.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "dist_util.h"
#include "harness.h"
#include "tensor/comm.h"
#include "tensor/safetensors.h"
#include "train/loss.h"

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

/* ---------- running processes ---------- */


static char mpirun_path[512], self_path[512];

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1);
    size_t n = 0;
    if (f) {
        char chunk[4096];
        for (size_t got; (got = fread(chunk, 1, sizeof chunk, f)) > 0; n += got) {
            buf = realloc(buf, n + got + 1);
            memcpy(buf + n, chunk, got);
        }
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}


#define MAX_ARGS 40

/* `mpirun -np N BIN ARGS...` (N 0: BIN alone); returns the exit code and
 * the output in *text (free it). */
static int run_prog(const char *bin, double limit_s, int np, char **text, va_list ap) {
    const char *argv[MAX_ARGS + 8];
    int n = 0;
    char nps[16];
    if (np) {
        snprintf(nps, sizeof nps, "%d", np);
        argv[n++] = mpirun_path;
        argv[n++] = "--oversubscribe";
        argv[n++] = "-np";
        argv[n++] = nps;
    }
    argv[n++] = bin;
    for (const char *a; (a = va_arg(ap, const char *)) && n < MAX_ARGS;) argv[n++] = a;
    argv[n] = NULL;
    char out[600];
    tmp_path(out, sizeof out, "run.out");
    int rc = vc_test_wait(vc_test_spawn(argv, out), limit_s, "vclip");
    *text = slurp(out);
    return rc;
}

/* `mpirun -np N vclip ARGS...` (N 0: vclip alone), as run_prog. */
static int run_vclip(int np, char **text, ...) {
    va_list ap;
    va_start(ap, text);
    int rc = run_prog(vc_test_vclip_bin(), 120, np, text, ap);
    va_end(ap);
    return rc;
}

/* ---------- the comm's MPI collectives, from inside mpirun ---------- */

/* The sharded InfoNCE on rank r's rows of a global batch against the plain
 * InfoNCE of the whole batch: losses summed over ranks, each rank's video
 * and text gradient rows, and the logit_scale gradient summed over ranks. */
static void worker_infonce(vc_comm *c) {
    const int64_t b = 3, D = 5, B = b * c->size;
    vc_tensor V, T, S;
    vc_tensor_alloc(&V, VC_F32, VC_DIMS(B, D));
    vc_tensor_alloc(&T, VC_F32, VC_DIMS(B, D));
    vc_tensor_alloc(&S, VC_F32, VC_DIMS(1));
    vc_rng rng;
    vc_rng_seed(&rng, 77); /* the same global batch on every rank */
    vc_test_fill_uniform(vc_f32(&V), B * D, &rng, -1, 1);
    vc_test_fill_uniform(vc_f32(&T), B * D, &rng, -1, 1);
    vc_f32(&S)[0] = 1.7f;
    vc_tape t1, t2;
    vc_tape_init(&t1, 0);
    vc_tape_init(&t2, 0);
    vc_var *v1 = vc_const(&t1, &V), *x1 = vc_const(&t1, &T), *s1 = vc_const(&t1, &S);
    v1->requires_grad = x1->requires_grad = s1->requires_grad = true;
    vc_var *l1 = vc_infonce(&t1, v1, x1, s1, NULL);
    VC_WCHECK(c, l1 && vc_backward(&t1, l1) == VC_OK, "single infonce: %s", vc_last_error());
    vc_tensor Vr, Tr;
    vc_view_slice(&Vr, &V, 0, c->rank * b, b);
    vc_view_slice(&Tr, &T, 0, c->rank * b, b);
    vc_var *v2 = vc_const(&t2, &Vr), *x2 = vc_const(&t2, &Tr), *s2 = vc_const(&t2, &S);
    v2->requires_grad = x2->requires_grad = s2->requires_grad = true;
    vc_var *l2 = vc_infonce_sharded(&t2, v2, x2, s2, c);
    VC_WCHECK(c, l2 && vc_backward(&t2, l2) == VC_OK, "sharded infonce: %s", vc_last_error());
    if (vc_test_worker_bad) goto done;
    vc_real sums[2] = {vc_f32(&l2->val)[0], vc_f32(&s2->grad)[0]};
    VC_WCHECK(c, vc_comm_allreduce_sum(c, sums, 2) == VC_OK, "%s", vc_last_error());
    double l = vc_f32(&l1->val)[0], gs = vc_f32(&s1->grad)[0];
    VC_WCHECK(c, fabs(sums[0] - l) <= 1e-6 * fabs(l), "loss %.9g summed over ranks, %.9g in one process", sums[0], l);
    VC_WCHECK(c, fabs(sums[1] - gs) <= 1e-5 * fabs(gs) + 1e-7, "logit_scale gradient %.9g, one process %.9g", sums[1], gs);
    int64_t w;
    double ev = vc_test_max_rel_err(vc_f32(&v2->grad), vc_f32(&v1->grad) + c->rank * b * D, b * D, 1e-3, &w);
    double et = vc_test_max_rel_err(vc_f32(&x2->grad), vc_f32(&x1->grad) + c->rank * b * D, b * D, 1e-3, &w);
    VC_WCHECK(c, ev < 1e-5 && et < 1e-5, "gradient rows: video %.3g, text %.3g relative error", ev, et);
    printf("rank %d: sharded infonce loss %.7f = one process %.7f; gradient errors video %.2g text %.2g\n", c->rank,
           sums[0], l, ev, et);
done:
    vc_tape_free(&t1);
    vc_tape_free(&t2);
    vc_tensor_release(&V);
    vc_tensor_release(&T);
    vc_tensor_release(&S);
}

/* Run as `mpirun -np 3 test_dist --comm-worker`. */
static int comm_worker(void) {
    vc_comm *c;
    if (vc_comm_open(&c)) {
        fprintf(stderr, "comm open: %s\n", vc_last_error());
        return 1;
    }
    int R = c->size, r = c->rank;
    VC_WCHECK(c, strcmp(c->ops->name, "mpi") == 0 && R == 3, "comm %s of size %d", c->ops->name, R);
    /* allreduce, in pieces of odd length */
    vc_real buf[1003];
    for (int i = 0; i < 1003; i++) buf[i] = (vc_real)(r * 1000 + i);
    VC_WCHECK(c, vc_comm_allreduce_sum(c, buf, 1003) == VC_OK, "%s", vc_last_error());
    for (int i = 0; i < 1003; i++) VC_WCHECK(c, buf[i] == (vc_real)(1000 * R * (R - 1) / 2 + R * i), "allreduce[%d] = %g", i, buf[i]);
    /* allgather, and in place */
    vc_real send[5], recv[15];
    for (int i = 0; i < 5; i++) send[i] = (vc_real)(r * 10 + i);
    VC_WCHECK(c, vc_comm_allgather(c, send, 5, recv) == VC_OK, "%s", vc_last_error());
    for (int i = 0; i < 15; i++) VC_WCHECK(c, recv[i] == (vc_real)(i / 5 * 10 + i % 5), "allgather[%d] = %g", i, recv[i]);
    memset(recv, 0, sizeof recv);
    memcpy(recv + 5 * r, send, sizeof send);
    VC_WCHECK(c, vc_comm_allgather(c, recv + 5 * r, 5, recv) == VC_OK, "%s", vc_last_error());
    for (int i = 0; i < 15; i++) VC_WCHECK(c, recv[i] == (vc_real)(i / 5 * 10 + i % 5), "in-place allgather[%d] = %g", i, recv[i]);
    /* reduce-scatter: the adjoint of allgather */
    vc_real rs[12], out[4];
    for (int q = 0; q < R; q++)
        for (int i = 0; i < 4; i++) rs[q * 4 + i] = (vc_real)(r + q * 100 + i);
    VC_WCHECK(c, vc_comm_reduce_scatter_sum(c, rs, 4, out) == VC_OK, "%s", vc_last_error());
    for (int i = 0; i < 4; i++)
        VC_WCHECK(c, out[i] == (vc_real)(R * (R - 1) / 2 + R * (r * 100 + i)), "reduce_scatter[%d] = %g", i, out[i]);
    /* host collectives */
    char word[8] = "";
    if (r == R - 1) snprintf(word, sizeof word, "hello");
    VC_WCHECK(c, vc_comm_broadcast(c, word, sizeof word, R - 1) == VC_OK && strcmp(word, "hello") == 0, "broadcast: %s", word);
    int32_t mine = r * r, all[3];
    VC_WCHECK(c, vc_comm_allgather_bytes(c, &mine, sizeof mine, all) == VC_OK && all[0] == 0 && all[1] == 1 && all[2] == 4,
           "allgather_bytes");
    int64_t mx[2] = {r, -r};
    VC_WCHECK(c, vc_comm_allreduce_max_i64(c, mx, 2) == VC_OK && mx[0] == R - 1 && mx[1] == 0, "max %lld %lld",
           (long long)mx[0], (long long)mx[1]);
    VC_WCHECK(c, vc_comm_barrier(c) == VC_OK, "%s", vc_last_error());
    /* agreement: rank 1 fails, everyone learns it; then all succeed */
    vc_status st = r == 1 ? vc_fail(VC_ERR_IO, "disk on fire") : VC_OK;
    vc_status ag = vc_comm_agree(c, st);
    VC_WCHECK(c, ag == VC_ERR_IO, "agree gave %d", (int)ag);
    if (r == 1) VC_WCHECK(c, strcmp(vc_last_error(), "disk on fire") == 0, "rank 1's message: %s", vc_last_error());
    else VC_WCHECK(c, strstr(vc_last_error(), "rank 1 of 3 failed") != NULL, "message: %s", vc_last_error());
    VC_WCHECK(c, vc_comm_agree(c, VC_OK) == VC_OK, "agree on success");
    VC_WCHECK(c, vc_comm_check_same(c, 5, "config") == VC_OK, "same values");
    VC_WCHECK(c, vc_comm_check_same(c, r == 2 ? 7 : 5, "config") == VC_ERR_ARG &&
                  strstr(vc_last_error(), "rank 2 of 3 has a different config"),
           "check_same: %s", vc_last_error());
    worker_infonce(c);
    printf("rank %d of %d: comm %s collectives checked%s\n", r, R, c->ops->name, vc_test_worker_bad ? " (FAILED)" : "");
    vc_comm_close(c);
    return vc_test_worker_bad;
}

START_TEST(test_mpi_collectives_and_the_sharded_loss) {
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "3", self_path, "--comm-worker", NULL};
    char out[600];
    tmp_path(out, sizeof out, "worker.out");
    int rc = vc_test_wait(vc_test_spawn(argv, out), 60, "mpirun test_dist --comm-worker");
    char *text = slurp(out);
    ck_assert_msg(rc == 0, "comm worker failed (%d):\n%.3000s", rc, text);
    for (int r = 0; r < 3; r++) {
        char line[64];
        snprintf(line, sizeof line, "rank %d of 3: comm mpi collectives checked\n", r);
        ck_assert_msg(strstr(text, line), "no line '%s' in:\n%.2000s", line, text);
    }
    const char *l = strstr(text, "sharded infonce");
    if (l) printf("%.*s\n", (int)(strchr(l, '\n') - l), l);
    free(text);
}
END_TEST

/* ---------- datasets over several files ---------- */

static char parts_dir[512], parts_error[2048];

/* TMP/parts/part-{1,2,3}.h5: 40, 70 and 25 videos (D 16), different seeds,
 * each split by ratio as vclip synth does; TMP/parts/wide.h5 has D 24. */
static void make_parts(void) {
    tmp_path(parts_dir, sizeof parts_dir, "parts");
    mkdir(parts_dir, 0755);
    const char *videos[3] = {"40", "70", "25"};
    for (int i = 0; i < 4 && !parts_error[0]; i++) {
        char out[700], seed[16], *text;
        if (i < 3) snprintf(out, sizeof out, "%s/part-%d.h5", parts_dir, i + 1);
        else snprintf(out, sizeof out, "%s/wide.h5", parts_dir);
        snprintf(seed, sizeof seed, "%d", 10 + i);
        int rc = run_vclip(0, &text, "synth", "--out", out, "--videos", i < 3 ? videos[i] : "10", "--dim", i < 3 ? "16" : "24",
                           "--max-frames", "7", "--min-frames", "2", "--seed", seed, NULL);
        if (rc) snprintf(parts_error, sizeof parts_error, "vclip synth %s failed (%d): %s", out, rc, text);
        free(text);
    }
}

/* The NCCL comm on the emulated CUDA runtime, NCCL emulated over MPI
 * (tests/nccl/nccl_emu_worker.c, built beside this program by make test). */
START_TEST(test_nccl_comm_emulated_over_mpi) {
    char worker[600];
    snprintf(worker, sizeof worker, "%s", self_path);
    char *slash = strrchr(worker, '/');
    ck_assert(slash);
    snprintf(slash + 1, sizeof worker - (size_t)(slash + 1 - worker), "nccl_emu_worker");
    if (access(worker, X_OK) != 0) {
        printf("SKIP: the emulated NCCL comm (%s not built; make test builds it)\n", worker);
        return;
    }
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "3", worker, NULL};
    char out[600];
    tmp_path(out, sizeof out, "nccl.out");
    int rc = vc_test_wait(vc_test_spawn(argv, out), 60, "mpirun nccl_emu_worker");
    char *text = slurp(out);
    ck_assert_msg(rc == 0, "the emulated NCCL worker failed (%d):\n%.2000s", rc, text);
    for (int r = 0; r < 3; r++) {
        char line[64];
        snprintf(line, sizeof line, "rank %d of 3: comm nccl (", r);
        ck_assert_msg(strstr(text, line) && strstr(text, "emulated over MPI)) collectives checked\n"),
                      "no line '%s...' in:\n%.2000s", line, text);
    }
    const char *l = strstr(text, "rank 0 of 3");
    printf("%.*s\n", (int)strcspn(l, "\n"), l);
    free(text);
}
END_TEST

/* ---------- training: ranks against one process ---------- */

static char data_path[512], data_error[2048];

static void make_data(void) {
    tmp_path(data_path, sizeof data_path, "synth.h5");
    char *text;
    int rc = run_vclip(0, &text, "synth", "--out", data_path, "--videos", "200", "--dim", "32", "--max-frames", "10",
                       "--min-frames", "4", "--seed", "5", NULL);
    if (rc) snprintf(data_error, sizeof data_error, "vclip synth failed (%d): %s", rc, text);
    free(text);
}

static const char *config_data; /* the [data] file of the next make_config (NULL: the synth file) */

/* TMP/NAME.ini: a tiny run on the synth file; returns the config path. */
static void make_config(const char *name, const char *model, const char *extra, char *cfg, size_t n) {
    char dir[600];
    tmp_path(dir, sizeof dir, name);
    snprintf(cfg, n, "%s.ini", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "[data]\nfile = %s\nframes = 10\ntrain_sampling = random\neval_sampling = uniform\nprefetch = 2\n"
             "[model]\n%s"
             "[train]\nbatch = 12\nsteps = 20\nlr = 2e-3\nwarmup = 4\nseed = 2\neval_every = 10\n"
             "checkpoint_every = 10\nlog_every = 1\nout_dir = %s\n%s"
             "[eval]\nsplit = test\nbatch = 32\n",
             config_data ? config_data : data_path, model, dir, extra ? extra : "");
    vc_test_write_text(cfg, text);
}

static const char *const models[3] = {"type = transformer\nlayers = 1\nheads = 4\n", "type = mean\ntext_head = linear\n",
                                      "type = transformer\nlayers = 1\nheads = 4\n"};
static const char *const model_names[3] = {"transformer", "mean+text_head", "transformer on 3 files"};

/* _i: the model (2: the transformer on a glob of three files). One process,
 * then 2 ranks (and 3 for the transformer) at the same global batch of 12:
 * the loss of each of the 20 steps within 1e-5 relative, the final weights
 * within 1e-5, the same validation picks. */
START_TEST(test_ranks_train_like_one_process) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], dir1[600], dirN[640], *text;
    char name[64], glob_spec[700];
    snprintf(name, sizeof name, "equal%d", _i);
    if (_i == 2) {
        if (!parts_dir[0]) make_parts();
        ck_assert_msg(!parts_error[0], "%s", parts_error);
        snprintf(glob_spec, sizeof glob_spec, "%s/part-*.h5", parts_dir);
        config_data = glob_spec;
    }
    make_config(name, models[_i], NULL, cfg, sizeof cfg);
    config_data = NULL;
    tmp_path(dir1, sizeof dir1, name);
    int rc = run_vclip(0, &text, "train", cfg, NULL);
    ck_assert_msg(rc == 0, "one process failed (%d): %.2000s", rc, text);
    free(text);
    double l1[32], lN[32];
    int n1 = vc_test_step_losses(dir1, l1, 32);
    ck_assert_int_eq(n1, 20);
    char a[700], b[700], worst[200] = "";
    snprintf(a, sizeof a, "%s/last.safetensors", dir1);
    for (int np = 2; np <= (_i == 0 ? 3 : 2); np++) {
        char over[700];
        snprintf(dirN, sizeof dirN, "%s_np%d", dir1, np);
        snprintf(over, sizeof over, "train.out_dir=%s", dirN);
        double t0 = vc_test_now_s();
        rc = run_vclip(np, &text, "train", cfg, "--set", over, NULL);
        ck_assert_msg(rc == 0, "%d ranks failed (%d): %.2000s", np, rc, text);
        ck_assert_msg(strstr(text, "ranks (mpi)"), "no note of the ranks in: %.2000s", text);
        free(text);
        ck_assert_int_eq(vc_test_step_losses(dirN, lN, 32), 20);
        double worst_l = 0;
        for (int k = 0; k < 20; k++) {
            double e = fabs(lN[k] - l1[k]) / fabs(l1[k]);
            ck_assert_msg(e <= 1e-5, "%s, %d ranks: step %d loss %.6f vs %.6f in one process", model_names[_i], np,
                          k + 1, lN[k], l1[k]);
            worst_l = fmax(worst_l, e);
        }
        snprintf(b, sizeof b, "%s/last.safetensors", dirN);
        double dw = vc_test_ckpt_diff(b, a, false, NULL, worst, sizeof worst);
        ck_assert_msg(dw <= 1e-5, "%s, %d ranks: final weights differ by %.3g at %s", model_names[_i], np, dw, worst);
        /* the best checkpoint is picked at the same step */
        char pa[700], pb[700];
        snprintf(pa, sizeof pa, "%s/best.safetensors", dir1);
        snprintf(pb, sizeof pb, "%s/best.safetensors", dirN);
        ck_assert_msg(vc_test_ckpt_diff(pb, pa, false, NULL, worst, sizeof worst) <= 1e-5, "best checkpoints differ at %s", worst);
        printf("%s: %d ranks vs one process over 20 steps: loss within %.2g relative, weights within %.2g (%.1f s)\n",
               model_names[_i], np, worst_l, dw, vc_test_now_s() - t0);
    }
}
END_TEST

/* train.batch must divide by N, and every rank must run the same config. */
START_TEST(test_batch_must_divide_by_the_ranks) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], *text;
    make_config("nodiv", models[0], NULL, cfg, sizeof cfg);
    int rc = run_vclip(2, &text, "train", cfg, "--set", "train.batch=13", NULL);
    ck_assert_msg(rc != 0 && rc < 128, "exit %d: %.2000s", rc, text);
    ck_assert_msg(strstr(text, "train.batch 13 does not divide by the 2 ranks"), "%.2000s", text);
    free(text);
    /* ranks started with different settings: refused before any step */
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "1", vc_test_vclip_bin(), "train", cfg, ":", "-np", "1",
                          vc_test_vclip_bin(), "train", cfg, "--set", "train.lr=1e-3", NULL};
    char out[600];
    tmp_path(out, sizeof out, "mpmd.out");
    rc = vc_test_wait(vc_test_spawn(argv, out), 60, "ranks with different configs");
    text = slurp(out);
    ck_assert_msg(rc != 0 && strstr(text, "rank 1 of 2 has a different config"), "(%d) %.2000s", rc, text);
    ck_assert_msg(!strstr(text, "MPI_ABORT"), "the job was aborted instead of ending on every rank: %.2000s", text);
    free(text);
}
END_TEST

/* ---------- failures ---------- */

static int64_t logged_step(const char *dir) {
    double l[256];
    return vc_test_step_losses(dir, l, 256);
}

/* 2 ranks, 60 steps, checkpoints every 5: run A uninterrupted; run B with
 * rank 1 killed (SIGKILL) once step 12 is logged: the job ends within 60 s
 * naming rank 1, last.safetensors is intact, and B --resume ends
 * bit-identical to A. */
START_TEST(test_killed_rank_ends_the_job_and_resume_is_bit_identical) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], dirA[600], dirB[600], over[700], *text;
    make_config("killA", models[0], NULL, cfg, sizeof cfg);
    tmp_path(dirA, sizeof dirA, "killA");
    tmp_path(dirB, sizeof dirB, "killB");
    const char *common[] = {"--set", "train.steps=60", "--set", "train.checkpoint_every=5", "--set", "train.eval_every=10"};
    int rc = run_vclip(2, &text, "train", cfg, common[0], common[1], common[2], common[3], common[4], common[5], NULL);
    ck_assert_msg(rc == 0, "uninterrupted run failed (%d): %.2000s", rc, text);
    free(text);

    snprintf(over, sizeof over, "train.out_dir=%s", dirB);
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "2", vc_test_vclip_bin(), "train", cfg, "--set", over,
                          common[0], common[1], common[2], common[3], common[4], common[5], NULL};
    char out[600];
    tmp_path(out, sizeof out, "kill.out");
    pid_t job = vc_test_spawn(argv, out);
    pid_t victim = vc_test_rank_once_logged(job, out, dirB, 12, 60, 1, 1);
    int64_t at = logged_step(dirB);
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    double tk = vc_test_now_s();
    rc = vc_test_wait(job, 60, "the job after kill -9 of rank 1");
    double ended = vc_test_now_s() - tk;
    text = slurp(out);
    ck_assert_msg(rc != 0, "the job exited 0 after a rank was killed: %.2000s", text);
    ck_assert_msg(strstr(text, "rank 1") && strstr(text, "signal 9"), "the output names no killed rank 1:\n%.2000s", text);
    ck_assert_msg(at < 60 && logged_step(dirB) < 60, "the run finished before the kill landed");
    free(text);
    char last[700];
    snprintf(last, sizeof last, "%s/last.safetensors", dirB);
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, last, VC_ST_READ) == VC_OK, "checkpoint after the kill: %s", vc_last_error());
    vc_st_close(f);

    rc = run_vclip(2, &text, "train", cfg, "--set", over, common[0], common[1], common[2], common[3], common[4], common[5],
                   "--resume", NULL);
    ck_assert_msg(rc == 0, "resumed run failed (%d): %.2000s", rc, text);
    ck_assert_msg(strstr(text, "resumed from"), "no resume: %.2000s", text);
    free(text);
    vc_test_assert_same_ckpts(dirA, dirB, "the uninterrupted run");
    printf("kill -9 of rank 1 at step %lld: job ended %.2f s later; resumed run bit-identical to the uninterrupted one\n",
           (long long)at, ended);
}
END_TEST

/* A rank that hangs (SIGSTOP) instead of dying: the other's watchdog
 * ($VCLIP_COMM_TIMEOUT, 3 s here) ends it with a line naming the wait, and
 * the launcher ends the job. */
START_TEST(test_a_hung_rank_is_caught_by_the_watchdog) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], dir[600];
    make_config("hang", models[0], NULL, cfg, sizeof cfg);
    tmp_path(dir, sizeof dir, "hang");
    setenv("VCLIP_COMM_TIMEOUT", "3", 1);
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "2", vc_test_vclip_bin(), "train", cfg, "--set", "train.steps=2000",
                          "--set", "train.eval_every=5000", NULL};
    char out[600];
    tmp_path(out, sizeof out, "hang.out");
    pid_t job = vc_test_spawn(argv, out);
    unsetenv("VCLIP_COMM_TIMEOUT");
    pid_t victim = vc_test_rank_once_logged(job, out, dir, 5, 60, 2, 1);
    ck_assert_int_eq(kill(victim, SIGSTOP), 0);
    double ts = vc_test_now_s();
    int rc = vc_test_wait(job, 60, "the job with a stopped rank");
    double ended = vc_test_now_s() - ts;
    kill(victim, SIGKILL); /* in case the launcher left it stopped */
    char *text = slurp(out);
    ck_assert_msg(rc != 0, "exit 0 with a hung rank: %.2000s", text);
    const char *line = strstr(text, "vclip train: rank 0 of 2: ");
    ck_assert_msg(line && strstr(line, "waited") && strstr(line, "hung or died"), "no watchdog line of rank 0:\n%.2000s", text);
    ck_assert_msg(ended >= 2.5, "the job ended %.1f s after the stop, before the 3 s timeout", ended);
    printf("a stopped rank 1: the job ended %.1f s later; %.*s\n", ended, (int)strcspn(line, "\n"), line);
    free(text);
}
END_TEST

/* Rank 1 alone cannot read its data: with the file in RAM the failure shows
 * when the ranks agree at start-up (both stop, rank 0 naming rank 1); when
 * streaming, inside a step, where rank 1 ends the job. Rank 1 runs in a
 * directory whose data file has NaN frames (mpirun's -wdir per rank). */
START_TEST(test_a_failing_rank_ends_the_job_with_its_message) {
    char why[200];
    char py[2600], d0[600], d1[600], cfg[700], *text;
    tmp_path(d0, sizeof d0, "fail_r0");
    tmp_path(d1, sizeof d1, "fail_r1");
    mkdir(d0, 0755);
    mkdir(d1, 0755);
    char f0[700], f1[700];
    snprintf(f0, sizeof f0, "%s/data.h5", d0);
    snprintf(f1, sizeof f1, "%s/data.h5", d1);
    /* D 256: 200 videos of up to 10 frames are 2 MB, above a 1 MB budget (streaming) */
    int rc = run_vclip(0, &text, "synth", "--out", f0, "--videos", "200", "--dim", "256", "--max-frames", "10",
                       "--min-frames", "4", "--seed", "5", "--dtype", "f32", NULL);
    ck_assert_msg(rc == 0, "synth: %.2000s", text);
    free(text);
    snprintf(py, sizeof py,
             "import shutil, h5py, numpy as np\n"
             "shutil.copy('%s', '%s')\n"
             "f = h5py.File('%s', 'r+')\n"
             "off = f['/video/offsets'][:]\n"
             "for v in f['/split/train'][:]: f['/video/embeddings'][off[v]:off[v + 1], :] = np.nan\n"
             "f.close()\n",
             f0, f1, f1);
    char pyfile[700], cmd[1600];
    tmp_path(pyfile, sizeof pyfile, "nan.py");
    vc_test_write_text(pyfile, py);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", vc_test_python(), pyfile);
    if (system(cmd) != 0) {
        snprintf(why, sizeof why, "SKIP: a failing rank (h5py cannot write the NaN file)");
        printf("%s\n", why);
        return;
    }
    char dir[600];
    tmp_path(dir, sizeof dir, "fail_run");
    snprintf(cfg, sizeof cfg, "%s.ini", dir);
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[data]\nfile = data.h5\nframes = 10\nprefetch = 1\n[model]\ntype = transformer\nlayers = 1\nheads = 4\n"
             "[train]\nbatch = 8\nsteps = 30\nwarmup = 2\neval_every = 100\nlog_every = 1\nout_dir = %s\n",
             dir);
    vc_test_write_text(cfg, ini);
    for (int streaming = 0; streaming < 2; streaming++) {
        const char *budget = streaming ? "data.mem_budget_mb=1" : "data.mem_budget_mb=64";
        const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "1", "-wdir", d0, vc_test_vclip_bin(), "train", cfg,
                              "--set", budget, ":", "-np", "1", "-wdir", d1, vc_test_vclip_bin(), "train", cfg, "--set", budget,
                              NULL};
        char out[600];
        tmp_path(out, sizeof out, "fail.out");
        double t0 = vc_test_now_s();
        rc = vc_test_wait(vc_test_spawn(argv, out), 60, "the job with a failing rank");
        text = slurp(out);
        ck_assert_msg(rc != 0, "exit 0 with a failing rank: %.2000s", text);
        const char *line = strstr(text, "vclip train: rank 1 of 2: ");
        ck_assert_msg(line, "no error line of rank 1 in:\n%.2000s", text);
        ck_assert_msg(strstr(line, "NaN") || strstr(line, "nan"), "rank 1's line does not say NaN: %.300s", line);
        if (!streaming) /* both ranks saw it and ended on their own */
            ck_assert_msg(strstr(text, "vclip train: rank 0 of 2: rank 1 of 2 failed") && !strstr(text, "MPI_ABORT"),
                          "rank 0 does not name rank 1, or the job was aborted:\n%.2000s", text);
        else /* rank 0 waited in the step's collectives until rank 1 ended the job */
            ck_assert_msg(!strstr(text, "vclip train: rank 0 of 2"), "rank 0 ended on its own:\n%.2000s", text);
        printf("a failing rank 1 (%s): the job ended in %.1f s; %.*s\n", streaming ? "streaming, in a step" : "at start-up",
               vc_test_now_s() - t0, (int)strcspn(line, "\n"), line);
        free(text);
    }
}
END_TEST

static void need_parts(void) {
    ck_assert_msg(vc_test_vclip_bin(), "VCLIP_BIN is not set");
    ck_assert_msg(!parts_error[0], "%s", parts_error);
}

/* A glob over three files is one dataset: counts add up, every global
 * video's frames and every caption read through the dataset's source are
 * those of its file, reads across a file boundary too, and a split is the
 * union of the files' splits. */
START_TEST(test_a_dataset_spans_its_files) {
    need_parts();
    char spec[700];
    snprintf(spec, sizeof spec, "%s/part-*.h5", parts_dir);
    vc_dataset *ds;
    ck_assert_msg(vc_dataset_open(&ds, spec) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(vc_dataset_n_files(ds), 3);
    const vc_h5_info *t = vc_dataset_info(ds);
    int64_t V = 0, F = 0, C = 0, split[VC_NSPLITS] = {0};
    for (int k = 0; k < 3; k++) {
        ck_assert(strstr(vc_dataset_path(ds, k), k == 0 ? "part-1" : k == 1 ? "part-2" : "part-3"));
        const vc_h5_info *ik = vc_h5_get_info(vc_dataset_h5(ds, k));
        V += ik->n_videos;
        F += ik->n_frames;
        C += ik->n_captions;
        for (int s = 0; s < VC_NSPLITS; s++) split[s] += ik->split_size[s];
    }
    ck_assert(t->n_videos == V && V == 135 && t->n_frames == F && t->n_captions == C && t->dim == 16);
    vc_source src;
    ck_assert(vc_dataset_source(ds, &src) == VC_OK);
    ck_assert(src.n_videos == V && src.n_frames == F && src.n_captions == C);
    float *a = malloc((size_t)(F * 16) * sizeof(float)), *b = malloc((size_t)(F * 16) * sizeof(float));
    /* every frame row in one read (it crosses both boundaries) */
    ck_assert_msg(src.read_frames(src.ctx, 0, F, a) == VC_OK, "%s", vc_last_error());
    int64_t row = 0, cap = 0;
    for (int k = 0; k < 3; k++) {
        vc_h5 *h = vc_dataset_h5(ds, k);
        const vc_h5_info *ik = vc_h5_get_info(h);
        ck_assert(vc_h5_read_frames(h, 0, ik->n_frames, b) == VC_OK);
        ck_assert(memcmp(a + row * 16, b, (size_t)(ik->n_frames * 16) * sizeof(float)) == 0);
        const int64_t *off = vc_h5_offsets(h);
        for (int64_t v = 0; v < ik->n_videos; v++) {
            int64_t local, gv = src.n_videos ? 0 : 0;
            gv = (int64_t)(k == 0 ? 0 : k == 1 ? vc_h5_get_info(vc_dataset_h5(ds, 0))->n_videos
                                              : V - ik->n_videos) + v;
            ck_assert_int_eq(vc_dataset_file_of(ds, gv, &local), k);
            ck_assert_int_eq(local, v);
            ck_assert_int_eq(src.offsets[gv + 1] - src.offsets[gv], off[v + 1] - off[v]);
            ck_assert_int_eq(src.offsets[gv], row + off[v]);
        }
        const int64_t *tv = vc_h5_caption_video(h);
        float ta[16], tb[16];
        for (int64_t c = 0; c < ik->n_captions; c++) {
            ck_assert(src.read_text(src.ctx, cap + c, 1, ta) == VC_OK && vc_h5_read_text(h, c, 1, tb) == VC_OK);
            ck_assert(memcmp(ta, tb, sizeof ta) == 0);
            int64_t local;
            ck_assert_int_eq(vc_dataset_file_of(ds, src.text_video[cap + c], &local), k);
            ck_assert_int_eq(local, tv[c]);
        }
        row += ik->n_frames;
        cap += ik->n_captions;
    }
    ck_assert(src.read_frames(src.ctx, F - 2, 3, a) == VC_ERR_ARG);
    for (int s = 0; s < VC_NSPLITS; s++) {
        const int64_t *idx;
        int64_t n;
        ck_assert(vc_dataset_split(ds, vc_split_name((vc_split)s), &idx, &n) == VC_OK);
        ck_assert_int_eq(n, split[s]);
        ck_assert_int_eq(t->split_size[s], split[s]);
        for (int64_t i = 0; i < n; i++) {
            int64_t local;
            int k = vc_dataset_file_of(ds, idx[i], &local);
            const int64_t *fi;
            int64_t fn;
            ck_assert(vc_h5_split(vc_dataset_h5(ds, k), (vc_split)s, &fi, &fn) == VC_OK);
            bool found = false;
            for (int64_t j = 0; j < fn && !found; j++) found = fi[j] == local;
            ck_assert_msg(found, "split %s lists video %lld, not in file %d's split", vc_split_name((vc_split)s),
                          (long long)idx[i], k);
        }
    }
    const int64_t *idx;
    int64_t n;
    ck_assert(vc_dataset_split(ds, "all", &idx, &n) == VC_OK && idx == NULL);
    ck_assert(vc_dataset_split(ds, "dev", &idx, &n) == VC_ERR_ARG);
    free(a);
    free(b);
    vc_source_close(&src);
    vc_dataset_close(ds);
    /* a list of paths and patterns is the same dataset in its order */
    char list[2200];
    snprintf(list, sizeof list, " %s/part-1.h5 ,%s/part-[23].h5", parts_dir, parts_dir);
    ck_assert_msg(vc_dataset_open(&ds, list) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(vc_dataset_info(ds)->n_videos, 135);
    vc_dataset_close(ds);
}
END_TEST

START_TEST(test_dataset_errors_name_the_file) {
    need_parts();
    char spec[2200];
    vc_dataset *ds;
    snprintf(spec, sizeof spec, "%s/nothing-*.h5", parts_dir);
    ck_assert(vc_dataset_open(&ds, spec) == VC_ERR_IO && !ds);
    ck_assert_msg(strstr(vc_last_error(), "no file matches") && strstr(vc_last_error(), "nothing-*.h5"), "%s", vc_last_error());
    snprintf(spec, sizeof spec, "%s/part-1.h5,%s/part-*.h5", parts_dir, parts_dir);
    ck_assert_msg(vc_dataset_open(&ds, spec) == VC_ERR_ARG, "%s", vc_last_error());
    ck_assert_msg(strstr(vc_last_error(), "part-1.h5 is listed twice"), "%s", vc_last_error());
    snprintf(spec, sizeof spec, "%s/part-1.h5,%s/wide.h5", parts_dir, parts_dir);
    ck_assert(vc_dataset_open(&ds, spec) == VC_ERR_FORMAT);
    ck_assert_msg(strstr(vc_last_error(), "wide.h5 has embeddings 24 wide"), "%s", vc_last_error());
    snprintf(spec, sizeof spec, "%s/part-1.h5, ,%s/part-2.h5", parts_dir, parts_dir);
    ck_assert(vc_dataset_open(&ds, spec) == VC_ERR_ARG);
    snprintf(spec, sizeof spec, "%s/part-1.h5,%s/missing.h5", parts_dir, parts_dir);
    ck_assert(vc_dataset_open(&ds, spec) != VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "missing.h5"), "%s", vc_last_error());
}
END_TEST

/* _i: 0 RAM, 1 streaming. The train split of three files dealt to 2 and 3
 * ranks: in each epoch every training video of every file lands on exactly
 * one rank, once. */
START_TEST(test_every_video_once_per_epoch_across_files_and_ranks) {
    need_parts();
    char spec[700];
    snprintf(spec, sizeof spec, "%s/part-*.h5", parts_dir);
    vc_dataset *ds;
    ck_assert(vc_dataset_open(&ds, spec) == VC_OK);
    vc_source src;
    ck_assert(vc_dataset_source(ds, &src) == VC_OK);
    const int64_t *train;
    int64_t n_train;
    ck_assert(vc_dataset_split(ds, "train", &train, &n_train) == VC_OK);
    int64_t V = src.n_videos;
    for (int R = 2; R <= 3; R++) {
        vc_loader *ld[3];
        int64_t B = 6;
        for (int r = 0; r < R; r++) {
            vc_loader_opts o = train_opts(B, _i, r, R);
            o.split = train;
            o.n_split = n_train;
            o.prefetch = 0; /* the loaders share one set of file handles: read on this thread */
            ck_assert_msg(vc_loader_open(&ld[r], &src, &o) == VC_OK, "%s", vc_last_error());
        }
        int64_t N = vc_loader_n_videos(ld[0]);
        ck_assert(N > 90);
        int *seen = calloc((size_t)(3 * V), sizeof(int));
        int64_t steps = (2 * N + B - 1) / B + 1;
        for (int64_t st = 0; st < steps; st++)
            for (int r = 0; r < R; r++) {
                const vc_batch *b;
                ck_assert_msg(vc_loader_next(ld[r], &b) == VC_OK && b, "%s", vc_last_error());
                for (int64_t i = 0; i < b->n; i++) {
                    int64_t q = b->epoch * N + b->pos + r * b->n + i, e = q / N;
                    /* the frames came from the video's own file: element 0 of a synth frame is not checked
                     * here; the video index is, and its length against the file */
                    int64_t local;
                    int k = vc_dataset_file_of(ds, b->video[i], &local);
                    const int64_t *off = vc_h5_offsets(vc_dataset_h5(ds, k));
                    int64_t nf = off[local + 1] - off[local];
                    ck_assert_int_eq(vc_int_at(&b->lengths, i), nf < 6 ? nf : 6);
                    if (e < 2) seen[e * V + b->video[i]]++;
                }
            }
        /* the training videos: the split's videos with frames and a caption */
        const int64_t *elig = vc_loader_videos(ld[0]);
        char *is_elig = calloc((size_t)V, 1);
        for (int64_t i = 0; i < N; i++) is_elig[elig[i]] = 1;
        for (int e = 0; e < 2; e++)
            for (int64_t v = 0; v < V; v++)
                ck_assert_msg(seen[e * V + v] == is_elig[v], "R %d epoch %d: video %lld seen %d times (eligible %d)", R, e,
                              (long long)v, seen[e * V + v], is_elig[v]);
        free(is_elig);
        int64_t total = 0;
        for (int64_t v = 0; v < V; v++) total += seen[v];
        ck_assert_int_eq(total, N);
        free(seen);
        for (int r = 0; r < R; r++) vc_loader_close(ld[r]);
    }
    vc_source_close(&src);
    vc_dataset_close(ds);
}
END_TEST

/* vclip info over the three files prints each and their totals. */
START_TEST(test_info_prints_the_totals_of_several_files) {
    need_parts();
    char a[700], b[700], c[700], *text;
    snprintf(a, sizeof a, "%s/part-1.h5", parts_dir);
    snprintf(b, sizeof b, "%s/part-2.h5", parts_dir);
    snprintf(c, sizeof c, "%s/part-3.h5", parts_dir);
    int rc = run_vclip(0, &text, "info", a, b, c, NULL);
    ck_assert_msg(rc == 0, "vclip info failed (%d): %.2000s", rc, text);
    const char *tot = strstr(text, "total:       3 files, dim 16, 135 videos");
    ck_assert_msg(tot, "no totals line in:\n%.2000s", text);
    int files = 0;
    for (const char *p = text; (p = strstr(p, "file:        ")); p++) files++;
    ck_assert_int_eq(files, 3);
    printf("vclip info of 3 files: %.*s\n", (int)strcspn(tot, "\n"), tot);
    free(text);
}
END_TEST

/* ---------- parallel, restartable import ---------- */

/* A float32 .npy of n frames of width d, values from seed. */
static unsigned char *npy_bytes(int seed, int n, int d, size_t *len) {
    char hdr[128];
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", n, d);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)(hl + pad + 1);
    *len = 10 + hlen + (size_t)(n * d) * 4;
    unsigned char *b = malloc(*len);
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hlen & 255);
    b[9] = (unsigned char)(hlen >> 8);
    memcpy(b + 10, hdr, (size_t)hl);
    memset(b + 10 + hl, ' ', (size_t)pad);
    b[10 + hlen - 1] = '\n';
    for (int i = 0; i < n * d; i++) {
        float x = (float)((seed * 31 + i * 7) % 19) * 0.125f - 1;
        memcpy(b + 10 + hlen + 4 * (size_t)i, &x, 4);
    }
    return b;
}

static void tar_add(struct archive *a, const char *name, const void *data, size_t len) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
    ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

/* DIR/000000000.tar ...: n shards of 5 samples (KEY.npy 2..6 frames of D 8, KEY.txt). */
static void make_shards(const char *dir, int n, char paths[][600]) {
    mkdir(dir, 0755);
    for (int k = 0; k < n; k++) {
        snprintf(paths[k], 600, "%s/%09d.tar", dir, k);
        struct archive *a = archive_write_new();
        archive_write_set_format_ustar(a);
        ck_assert_int_eq(archive_write_open_filename(a, paths[k]), ARCHIVE_OK);
        for (int j = 0; j < 5; j++) {
            char name[64], cap[64];
            size_t len;
            unsigned char *npy = npy_bytes(k * 5 + j, 2 + (k + j) % 5, 8, &len);
            snprintf(name, sizeof name, "s%02d_%d.npy", k, j);
            tar_add(a, name, npy, len);
            free(npy);
            snprintf(name, sizeof name, "s%02d_%d.txt", k, j);
            snprintf(cap, sizeof cap, "shard %d sample %d", k, j);
            tar_add(a, name, cap, strlen(cap));
        }
        ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
    }
}

static double mtime_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_mtim.tv_sec + 1e-9 * (double)st.st_mtim.tv_nsec : -1;
}

/* 7 shards, 2 per file, 3 at once: 4 complete files (2+2+2+1 shards) whose
 * totals are the shards'; a re-run skips them all; after a crash (a file
 * gone, a temporary of a dead import left) a re-run writes only what is
 * missing and cleans up; other shards into the same directory are refused. */
START_TEST(test_parallel_import_is_restartable) {
    ck_assert_msg(vc_test_vclip_bin(), "VCLIP_BIN is not set");
    char sdir[500], out[500], paths[7][600], *text;
    tmp_path(sdir, sizeof sdir, "shards");
    tmp_path(out, sizeof out, "imported");
    make_shards(sdir, 7, paths);
    const char *argv[24] = {vc_test_vclip_bin(), "import-wds", "--out-dir", out, "--shards-per-file", "2", "--jobs", "3",
                            "--dtype", "f32", "--split-ratio", "0.6,0.2,0.2", "--seed", "4"};
    for (int k = 0; k < 7; k++) argv[14 + k] = paths[k];
    argv[21] = NULL;
    char log[700];
    tmp_path(log, sizeof log, "import.out");
    double t0 = vc_test_now_s();
    int rc = vc_test_wait(vc_test_spawn(argv, log), 60, "vclip import-wds --out-dir");
    text = slurp(log);
    ck_assert_msg(rc == 0, "import failed (%d): %.2000s", rc, text);
    ck_assert_msg(strstr(text, "4 files of 2 shards each: 4 written, 0 already there, 0 failed"), "%.2000s", text);
    free(text);
    char part[4][700];
    double mt[4];
    for (int g = 0; g < 4; g++) {
        snprintf(part[g], sizeof part[g], "%s/part-%05d.h5", out, g);
        mt[g] = mtime_of(part[g]);
        ck_assert_msg(mt[g] > 0, "%s missing", part[g]);
    }
    double took = vc_test_now_s() - t0;
    char spec[700];
    snprintf(spec, sizeof spec, "%s/part-*.h5", out);
    vc_dataset *ds;
    ck_assert_msg(vc_dataset_open(&ds, spec) == VC_OK, "%s", vc_last_error());
    const vc_h5_info *t = vc_dataset_info(ds);
    ck_assert_int_eq(vc_dataset_n_files(ds), 4);
    ck_assert_int_eq(t->n_videos, 35);
    ck_assert_int_eq(t->n_captions, 35);
    ck_assert_int_eq(vc_h5_get_info(vc_dataset_h5(ds, 3))->n_videos, 5);
    ck_assert_int_eq(t->split_size[0] + t->split_size[1] + t->split_size[2], 35);
    char *id;
    ck_assert(vc_h5_video_id(vc_dataset_h5(ds, 1), 0, &id) == VC_OK);
    ck_assert_str_eq(id, "s02_0"); /* file 1 holds shards 2 and 3 */
    free(id);
    vc_dataset_close(ds);

    /* everything there: a re-run writes nothing */
    rc = vc_test_wait(vc_test_spawn(argv, log), 60, "the re-run");
    text = slurp(log);
    ck_assert_msg(rc == 0 && strstr(text, "0 written, 4 already there"), "(%d) %.2000s", rc, text);
    free(text);
    for (int g = 0; g < 4; g++) ck_assert_msg(mtime_of(part[g]) == mt[g], "%s was rewritten", part[g]);

    /* a crash: file 1 never renamed into place, file 2 half-written by a dead process */
    ck_assert_int_eq(unlink(part[1]), 0);
    ck_assert_int_eq(unlink(part[2]), 0);
    char stale[800];
    snprintf(stale, sizeof stale, "%s.tmp.%d", part[2], 999999999);
    vc_test_write_text(stale, "half an HDF5 file");
    rc = vc_test_wait(vc_test_spawn(argv, log), 60, "the re-run after a crash");
    text = slurp(log);
    ck_assert_msg(rc == 0 && strstr(text, "2 written, 2 already there"), "(%d) %.2000s", rc, text);
    free(text);
    ck_assert_msg(mtime_of(stale) < 0, "the dead import's temporary is still there");
    ck_assert(mtime_of(part[0]) == mt[0] && mtime_of(part[3]) == mt[3]);
    ck_assert(vc_dataset_open(&ds, spec) == VC_OK && vc_dataset_info(ds)->n_videos == 35);
    vc_dataset_close(ds);

    /* other shards into the same directory */
    argv[14] = paths[1];
    argv[15] = paths[0];
    rc = vc_test_wait(vc_test_spawn(argv, log), 60, "a re-run with other shards");
    text = slurp(log);
    ck_assert_msg(rc == 1 && strstr(text, "shards.txt lists other shards"), "(%d) %.2000s", rc, text);
    free(text);
    rc = run_vclip(0, &text, "import-wds", "--out", "x.h5", "--jobs", "2", paths[0], NULL);
    ck_assert_msg(rc == 1 && strstr(text, "--jobs go with --out-dir"), "%.2000s", text);
    free(text);
    printf("import-wds --out-dir: 7 shards into 4 files, 3 at once, in %.2f s; re-runs skip what is there\n", took);
}
END_TEST

/* ---------- data-parallel training on CUDA: the emulated build, NCCL over MPI ---------- */

/* Tolerance of a CUDA run against one CPU process: tests/test_cuda_train.c
 * bounds the emulated cuda backend against the cpu one by 1e-4 (1 + |loss|)
 * over 20 AdamW steps, since their kernels sum in other orders (float32
 * roundings, ~1e-7 relative per op) that AdamW carries forward; ranks add
 * only the order of the all-reduce's sums. A gather without its gradient, a
 * missing or doubled all-reduce, or replicas that start apart move the loss
 * by 1e-2 or more within a few steps. The weights are held to the same
 * bound relative to max(|w|, 1), as the CPU ranks are to 1e-5. (Measured
 * here: the logged losses equal to their 6 decimals, weights within ~2e-7.) */
#define CUDA_TOL 1e-4

static char cuemu_path[600];

/* build/tests/vclip_cuemu (vclip on the CUDA emulator with NCCL emulated
 * over MPI, built beside this program by make test), or false with why. */
static bool cuemu_usable(char *why, size_t n) {
    snprintf(cuemu_path, sizeof cuemu_path, "%s", self_path);
    char *slash = strrchr(cuemu_path, '/');
    if (!slash) return snprintf(why, n, "no path of this program"), false;
    snprintf(slash + 1, sizeof cuemu_path - (size_t)(slash + 1 - cuemu_path), "vclip_cuemu");
    if (access(cuemu_path, X_OK) != 0) return snprintf(why, n, "%s is not built (make test builds it)", cuemu_path), false;
    return true;
}

/* run_vclip with the emulated vclip: GPUS emulated GPUs per process (each
 * rank takes the one of its local rank); with protect, device memory
 * unreadable to host code (VC_CUDA_EMU_PROTECT=1), so host code that touches
 * it crashes (5x slower: one run per model has it). */
static int run_cuemu(int gpus, bool protect, int np, char **text, ...) {
    char g[16];
    snprintf(g, sizeof g, "%d", gpus);
    setenv("VC_CUDA_EMU_DEVICES", g, 1);
    setenv("VC_CUDA_EMU_PROTECT", protect ? "1" : "0", 1);
    va_list ap;
    va_start(ap, text);
    int rc = run_prog(cuemu_path, 400, np, text, ap); /* the emulator is slow, more so under ASan */
    va_end(ap);
    unsetenv("VC_CUDA_EMU_DEVICES");
    unsetenv("VC_CUDA_EMU_PROTECT");
    return rc;
}

/* Losses of DIR against l1 and weights of DIR's last and best checkpoints
 * against DIR1's, within CUDA_TOL; the worst differences into *wl, *ww. */
static void cuda_matches(const char *what, const char *dir1, const double *l1, const char *dir, double *wl, double *ww) {
    double l[32];
    ck_assert_int_eq(vc_test_step_losses(dir, l, 32), 20);
    *wl = 0;
    for (int k = 0; k < 20; k++) {
        double e = fabs(l[k] - l1[k]) / (1 + fabs(l1[k]));
        ck_assert_msg(e <= CUDA_TOL, "%s: step %d loss %.6f vs %.6f in one CPU process", what, k + 1, l[k], l1[k]);
        *wl = fmax(*wl, e);
    }
    *ww = 0;
    const char *files[2] = {"last.safetensors", "best.safetensors"};
    for (int f = 0; f < 2; f++) { /* best: the validation picked the same step */
        char a[800], b[800], worst[200] = "";
        snprintf(a, sizeof a, "%s/%s", dir1, files[f]);
        snprintf(b, sizeof b, "%s/%s", dir, files[f]);
        double dw = vc_test_ckpt_diff(b, a, false, NULL, worst, sizeof worst);
        ck_assert_msg(dw <= CUDA_TOL, "%s: %s differs by %.3g at %s", what, files[f], dw, worst);
        *ww = fmax(*ww, dw);
    }
}

/* _i: the model (0 transformer, 1 mean + text head). One CPU process, then
 * the emulated vclip with train.device = cuda on 2 ranks (and 3 for the
 * transformer) through the NCCL comm, and (mean + text head) on 2 ranks
 * through the host-staged comm of a build without NCCL (VCLIP_COMM=host),
 * all at the same global batch: losses, final and best weights agree. */
START_TEST(test_cuda_ranks_train_like_one_cpu_process) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], dir1[600], name[64], *text;
    snprintf(name, sizeof name, "cuda_equal%d", _i);
    make_config(name, models[_i], NULL, cfg, sizeof cfg);
    tmp_path(dir1, sizeof dir1, name);
    int rc = run_vclip(0, &text, "train", cfg, NULL);
    ck_assert_msg(rc == 0, "one CPU process failed (%d): %.2000s", rc, text);
    free(text);
    double l1[32];
    ck_assert_int_eq(vc_test_step_losses(dir1, l1, 32), 20);
    for (int run = 0; run < 3; run++) {
        int np = run == 1 ? 3 : 2;
        bool staged = run == 2;
        if ((_i == 0 && staged) || (_i == 1 && np == 3)) continue;
        char dirN[700], over[720], what[128];
        snprintf(dirN, sizeof dirN, "%s_np%d%s", dir1, np, staged ? "_staged" : "");
        snprintf(over, sizeof over, "train.out_dir=%s", dirN);
        snprintf(what, sizeof what, "%s on cuda, %d ranks (%s)", model_names[_i], np, staged ? "host-staged" : "nccl");
        if (staged) setenv("VCLIP_COMM", "host", 1);
        double t0 = vc_test_now_s();
        rc = run_cuemu(np, run == 0, np, &text, "train", cfg, "--set", "train.device=cuda", "--set", over, NULL);
        unsetenv("VCLIP_COMM");
        ck_assert_msg(rc == 0, "%s failed (%d): %.3000s", what, rc, text);
        char note[64];
        snprintf(note, sizeof note, "%d ranks (%s)", np, staged ? "host-staged" : "nccl");
        ck_assert_msg(strstr(text, note), "%s: no '%s' in: %.2000s", what, note, text);
        ck_assert_msg(staged ? strstr(text, "comm host-staged:") != NULL
                             : strstr(text, "comm nccl (NCCL") && strstr(text, "emulated over MPI"),
                      "%s: no line naming the comm in: %.2000s", what, text);
        free(text);
        double wl, ww;
        cuda_matches(what, dir1, l1, dirN, &wl, &ww);
        printf("%s vs one CPU process over 20 steps: loss within %.2g, weights within %.2g (tolerance %g; %.1f s)\n",
               what, wl, ww, CUDA_TOL, vc_test_now_s() - t0);
    }
}
END_TEST

/* The transformer's reference runs of the cuda cases, on TMP/cuda_equal0.ini
 * (cfg): one CPU process in TMP/cuda_equal0 (dir1; with cpu only) and 2
 * ranks on cuda with one all-reduce in TMP/cuda_equal0_np2 (dirA). Each is
 * the one test_cuda_ranks_train_like_one_cpu_process left when that
 * finished (20 steps logged, a last checkpoint), else made here. */
typedef struct {
    char cfg[700], dir1[600], dirA[700];
} cuda_refs;

static void cuda_refs_ready(cuda_refs *r, bool cpu) {
    make_config("cuda_equal0", models[0], NULL, r->cfg, sizeof r->cfg);
    tmp_path(r->dir1, sizeof r->dir1, "cuda_equal0");
    snprintf(r->dirA, sizeof r->dirA, "%s_np2", r->dir1);
    for (int np = cpu ? 0 : 2; np <= 2; np += 2) {
        const char *dir = np ? r->dirA : r->dir1;
        char last[760], over[720], *text;
        snprintf(last, sizeof last, "%s/last.safetensors", dir);
        if (logged_step(dir) == 20 && access(last, R_OK) == 0) continue;
        snprintf(over, sizeof over, "train.out_dir=%s", dir);
        int rc = np ? run_cuemu(2, false, 2, &text, "train", r->cfg, "--set", "train.device=cuda", "--set", over, NULL)
                    : run_vclip(0, &text, "train", r->cfg, NULL);
        ck_assert_msg(rc == 0, "%s failed (%d): %.2000s", np ? "2 ranks on cuda, one all-reduce" : "one CPU process", rc,
                      text);
        free(text);
    }
}

/* The gradient buckets on the NCCL path ([train] grad_bucket_mb = 0.004:
 * 5 buckets, each an asynchronous all-reduce on the comm's own
 * stream started during the backward): 2 ranks on cuda equal the one-call
 * 2-rank cuda run bit for bit (losses as logged, every tensor of the last
 * and best checkpoints: each sum is one addition), and one CPU process
 * within CUDA_TOL. The one-call run and the CPU run are those of
 * test_cuda_ranks_train_like_one_cpu_process when present, or made here. */
START_TEST(test_cuda_buckets_equal_one_allreduce) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    cuda_refs r;
    cuda_refs_ready(&r, true);
    const char *cfg = r.cfg, *dir1 = r.dir1, *dirA = r.dirA;
    char dirB[720], over[740], *text;
    snprintf(dirB, sizeof dirB, "%s_np2_buckets", dir1);
    snprintf(over, sizeof over, "train.out_dir=%s", dirB);
    double t0 = vc_test_now_s();
    int rc = run_cuemu(2, false, 2, &text, "train", cfg, "--set", "train.device=cuda", "--set", over, "--set",
                       "train.grad_bucket_mb=0.004", NULL);
    ck_assert_msg(rc == 0, "2 ranks on cuda with 0.004 MB buckets failed (%d): %.3000s", rc, text);
    ck_assert_msg(strstr(text, "comm nccl (NCCL") && strstr(text, "emulated over MPI"), "no NCCL comm in: %.2000s", text);
    free(text);
    double la[32], lb[32];
    ck_assert_int_eq(vc_test_step_losses(dirA, la, 32), 20);
    ck_assert_int_eq(vc_test_step_losses(dirB, lb, 32), 20);
    for (int k = 0; k < 20; k++)
        ck_assert_msg(la[k] == lb[k], "cuda, 2 ranks: step %d loss %.9g with buckets, %.9g with one all-reduce", k + 1,
                      lb[k], la[k]);
    vc_test_assert_same_ckpts(dirA, dirB, "the one-all-reduce cuda run");
    double l1[32], wl, ww;
    ck_assert_int_eq(vc_test_step_losses(dir1, l1, 32), 20);
    cuda_matches("transformer on cuda, 2 ranks, 0.004 MB buckets", dir1, l1, dirB, &wl, &ww);
    printf("cuda, nccl, 2 ranks, 0.004 MB gradient buckets (5 buckets over 13,032 floats) vs one all-reduce, 20 steps: bit-identical (losses, last and "
           "best checkpoints); vs one CPU process: loss within %.2g, weights within %.2g (tolerance %g; %.1f s)\n",
           wl, ww, CUDA_TOL, vc_test_now_s() - t0);
}
END_TEST

/* One GPU per rank, chosen by the local rank: a rank whose GPU is not there
 * stops every rank with one line naming it (no abort, no hang); a bad
 * VCLIP_COMM is one line too. */
START_TEST(test_cuda_rank_without_its_gpu_is_one_error) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], *text;
    make_config("cuda_nogpu", models[1], NULL, cfg, sizeof cfg);
    double t0 = vc_test_now_s();
    int rc = run_cuemu(1, false, 2, &text, "train", cfg, "--set", "train.device=cuda", NULL);
    ck_assert_msg(rc != 0 && rc < 128, "exit %d: %.2000s", rc, text);
    ck_assert_msg(strstr(text, "vclip train: rank 1 of 2: device cuda:1") && strstr(text, "local rank 1") &&
                      strstr(text, "1 GPU"),
                  "no line naming rank 1's missing GPU in: %.2000s", text);
    ck_assert_msg(!strstr(text, "MPI_ABORT"), "the job was aborted instead of ending on every rank: %.2000s", text);
    ck_assert_msg(vc_test_now_s() - t0 < 60, "took %.0f s", vc_test_now_s() - t0);
    const char *l = strstr(text, "vclip train: rank 1");
    printf("%.*s\n", (int)strcspn(l, "\n"), l);
    free(text);
    setenv("VCLIP_COMM", "gloo", 1);
    rc = run_cuemu(2, false, 2, &text, "train", cfg, "--set", "train.device=cuda", NULL);
    unsetenv("VCLIP_COMM");
    ck_assert_msg(rc != 0 && rc < 128 && strstr(text, "VCLIP_COMM = gloo: expected auto, nccl or host"), "(%d) %.2000s",
                  rc, text);
    free(text);
}
END_TEST

/* 2 ranks on cuda through NCCL: rank 1 killed (SIGKILL) after the step-10
 * checkpoint ends the job within 60 s naming it; --resume finishes
 * bit-identical to the uninterrupted 2-rank cuda run (that of
 * test_cuda_ranks_train_like_one_cpu_process, or made here). */
START_TEST(test_cuda_killed_rank_ends_the_job_and_resume_is_bit_identical) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    cuda_refs r;
    cuda_refs_ready(&r, false);
    const char *cfg = r.cfg, *dirA = r.dirA;
    char dirB[600], over[700], *text;
    tmp_path(dirB, sizeof dirB, "cuda_kill");
    snprintf(over, sizeof over, "train.out_dir=%s", dirB);
    setenv("VC_CUDA_EMU_DEVICES", "2", 1);
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "2", cuemu_path, "train", cfg, "--set", "train.device=cuda",
                          "--set", over, NULL};
    char out[600];
    tmp_path(out, sizeof out, "cuda_kill.out");
    pid_t job = vc_test_spawn(argv, out);
    unsetenv("VC_CUDA_EMU_DEVICES");
    /* step 11 logged: the step-10 checkpoint is written */
    pid_t victim = vc_test_rank_once_logged(job, out, dirB, 11, 400, 20, 1);
    int64_t at = logged_step(dirB);
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    double tk = vc_test_now_s();
    int rc = vc_test_wait(job, 60, "the cuda job after kill -9 of rank 1");
    double ended = vc_test_now_s() - tk;
    text = slurp(out);
    ck_assert_msg(rc != 0, "the job exited 0 after a rank was killed: %.2000s", text);
    ck_assert_msg(strstr(text, "rank 1") && strstr(text, "signal 9"), "the output names no killed rank 1:\n%.2000s", text);
    ck_assert_msg(logged_step(dirB) < 20, "the run finished before the kill landed");
    free(text);
    rc = run_cuemu(2, true, 2, &text, "train", cfg, "--set", "train.device=cuda", "--set", over, "--resume", NULL);
    ck_assert_msg(rc == 0, "resumed run failed (%d): %.2000s", rc, text);
    ck_assert_msg(strstr(text, "resumed from"), "no resume: %.2000s", text);
    free(text);
    vc_test_assert_same_ckpts(dirA, dirB, "the uninterrupted cuda run");
    printf("cuda, nccl: kill -9 of rank 1 at step %lld: job ended %.2f s later; resumed run bit-identical to the "
           "uninterrupted one\n",
           (long long)at, ended);
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
    if (vc_test_vclip_bin()) {
        TCase *dsc = tcase_create("datasets");
        tcase_set_timeout(dsc, 60);
        tcase_add_unchecked_fixture(dsc, make_parts, NULL);
        tcase_add_test(dsc, test_a_dataset_spans_its_files);
        tcase_add_test(dsc, test_dataset_errors_name_the_file);
        tcase_add_loop_test(dsc, test_every_video_once_per_epoch_across_files_and_ranks, 0, 2);
        tcase_add_test(dsc, test_info_prints_the_totals_of_several_files);
        tcase_add_test(dsc, test_parallel_import_is_restartable);
        suite_add_tcase(s, dsc);
    } else {
        printf("SKIP: datasets over several files (VCLIP_BIN is not set; run them with make test)\n");
    }
    const char *why = vc_test_mpi_ready(mpirun_path, sizeof mpirun_path);
    if (why) {
        printf("SKIP: MPI tests (mpirun against one process, kill -9 of a rank): %s\n", why);
        return s;
    }
    TCase *mpi = tcase_create("mpi");
    tcase_set_timeout(mpi, 300);
    tcase_add_unchecked_fixture(mpi, make_data, NULL);
    tcase_add_test(mpi, test_mpi_collectives_and_the_sharded_loss);
    tcase_add_test(mpi, test_nccl_comm_emulated_over_mpi);
    tcase_add_loop_test(mpi, test_ranks_train_like_one_process, 0, 3);
    tcase_add_test(mpi, test_batch_must_divide_by_the_ranks);
    tcase_add_test(mpi, test_killed_rank_ends_the_job_and_resume_is_bit_identical);
    tcase_add_test(mpi, test_a_failing_rank_ends_the_job_with_its_message);
    tcase_add_test(mpi, test_a_hung_rank_is_caught_by_the_watchdog);
    suite_add_tcase(s, mpi);
    char cu_why[700];
    if (!cuemu_usable(cu_why, sizeof cu_why)) {
        printf("SKIP: data-parallel training on CUDA (ranks against one CPU process, buckets, a missing GPU, kill -9 "
               "and --resume): %s\n",
               cu_why);
        return s;
    }
    /* CUDA ranks on the emulator: minutes on a loaded 2-core machine */
    TCase *cu = tcase_create("mpi-cuda");
    tcase_set_timeout(cu, 900);
    tcase_add_unchecked_fixture(cu, make_data, NULL);
    tcase_add_loop_test(cu, test_cuda_ranks_train_like_one_cpu_process, 0, 2);
    tcase_add_test(cu, test_cuda_buckets_equal_one_allreduce);
    tcase_add_test(cu, test_cuda_rank_without_its_gpu_is_one_error);
    tcase_add_test(cu, test_cuda_killed_rank_ends_the_job_and_resume_is_bit_identical);
    suite_add_tcase(s, cu);
    return s;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--comm-worker") == 0) return comm_worker();
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) self_path[n] = '\0';
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
