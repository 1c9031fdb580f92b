/* test_dist_bucket.c: the gradient all-reduce in buckets that start during
 * the backward (issue 12, [train] grad_bucket_mb).
 *  - autograd: the backward hooks report every parameter a node reads
 *    exactly once per step, after the last write to its gradient (its
 *    gradient then equals the final one bit for bit), and none that no node
 *    reads or that needs no gradient; a failing hook stops the backward;
 *  - train/grad_sync.h on a fake two-rank comm (two identical ranks: the
 *    sum is twice the gradient): the buckets cover the buffer once, start in
 *    order from its end, each only once its gradients are final, for bucket
 *    sizes below the smallest parameter, in between and above the whole
 *    buffer, also on a comm without asynchronous entries;
 *  - through mpirun (SKIP where mpirun or MPI is missing): the MPI
 *    asynchronous all-reduce against the blocking one (2 ranks bit-identical,
 *    3 ranks within rounding and the same on every rank) with a blocking
 *    collective in between; `vclip train` bucketed against one all-reduce
 *    for 20 steps at -np 2 (losses and final weights bit-identical, three
 *    bucket sizes) and -np 3 (within 1e-5); a rank killed (kill -9) or hung
 *    while a bucket is in flight ends the job within bounded time with a
 *    line naming it, in the comm worker and in `vclip train`. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "autograd/params.h"
#include "dist_util.h"
#include "harness.h"
#include "models/pooler.h"
#include "tensor/comm.h"
#include "tensor/safetensors.h"
#include "train/grad_sync.h"
#include "train/loss.h"
#include "train/step.h"

/* ---------- the hooks of the backward ---------- */

#define MAXP 64

typedef struct {
    vc_params *ps;
    int reported[MAXP];
    vc_real *at_report[MAXP]; /* the gradient when it was reported */
    int after_ops, order[MAXP], n_order;
    int fail_at;              /* > 0: the fail_at-th report fails */
} hook_log;

static int index_of(const vc_params *ps, const vc_var *v) {
    for (int i = 0; i < ps->count; i++)
        if (ps->vars[i] == v) return i;
    return -1;
}

static vc_status log_ready(void *ud, vc_var *p) {
    hook_log *h = ud;
    int i = index_of(h->ps, p);
    ck_assert_msg(i >= 0, "a var that is no parameter of the store was reported");
    ck_assert_msg(p->is_param && p->requires_grad, "%s reported without needing a gradient", h->ps->info[i].name);
    h->reported[i]++;
    h->order[h->n_order++ % MAXP] = i;
    if (h->fail_at > 0 && h->n_order == h->fail_at) return vc_fail(VC_ERR_IO, "hook failed on purpose");
    size_t nb = h->ps->info[i].numel * sizeof(vc_real);
    free(h->at_report[i]);
    h->at_report[i] = malloc(nb);
    if (p->grad_written) memcpy(h->at_report[i], vc_f32(&p->grad), nb);
    else memset(h->at_report[i], 0, nb);
    return VC_OK;
}

static vc_status log_after(void *ud) {
    ((hook_log *)ud)->after_ops++;
    return VC_OK;
}

static void log_free(hook_log *h) {
    for (int i = 0; i < MAXP; i++) free(h->at_report[i]);
}

/* A hand-made graph: W read by two nodes, R through a reshape (a view), P
 * three times by one concat of five inputs, U read by no node, F read but
 * frozen. Three steps: W, b, R and P reported once per step, U and F never,
 * each with its final gradient; after_op once per node. */
START_TEST(test_hooks_report_each_parameter_once_with_its_final_gradient) {
    vc_params ps;
    vc_params_init(&ps);
    vc_var *W = vc_params_add(&ps, "W", VC_DIMS(4, 4), true), *b = vc_params_add(&ps, "b", VC_DIMS(4), false);
    vc_var *R = vc_params_add(&ps, "R", VC_DIMS(2, 8), true), *U = vc_params_add(&ps, "U", VC_DIMS(3), false);
    vc_var *F = vc_params_add(&ps, "F", VC_DIMS(2, 4), false), *P = vc_params_add(&ps, "P", VC_DIMS(1, 4), false);
    ck_assert(W && b && R && U && F && P);
    ck_assert(vc_params_place(&ps, VC_CPU) == VC_OK);
    W = ps.vars[0], b = ps.vars[1], R = ps.vars[2], U = ps.vars[3], F = ps.vars[4], P = ps.vars[5];
    vc_rng r;
    vc_rng_seed(&r, 3);
    vc_test_fill_uniform(ps.data, (int64_t)ps.n, &r, -1, 1);
    F->requires_grad = false;
    vc_tensor X;
    vc_tensor_alloc(&X, VC_F32, VC_DIMS(2, 4));
    vc_test_fill_uniform(vc_f32(&X), 8, &r, -1, 1);
    vc_tape t;
    vc_tape_init(&t, 0);
    for (int step = 0; step < 3; step++) {
        vc_tape_reset(&t);
        vc_params_zero_grad(&ps);
        vc_var *x = vc_const(&t, &X);
        vc_var *h1 = vc_tanh(&t, vc_linear(&t, x, W, b));
        vc_var *h2 = vc_linear(&t, h1, W, NULL);
        vc_var *h3 = vc_matmul(&t, h2, vc_reshape(&t, R, VC_DIMS(4, 4)), false, false);
        vc_var *h4 = vc_add(&t, h3, F);
        vc_var *parts[5] = {h4, P, P, h4, P};
        vc_var *loss = vc_sum_all(&t, vc_tanh(&t, vc_concat(&t, 5, parts, 0)));
        ck_assert_msg(loss, "%s", vc_last_error());
        hook_log h = {.ps = &ps};
        vc_backward_hooks hooks = {log_ready, log_after, &h};
        ck_assert_msg(vc_backward_hooked(&t, loss, &hooks) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(h.after_ops, t.n_nodes);
        const int want[6] = {1, 1, 1, 0, 0, 1};
        for (int i = 0; i < ps.count; i++) {
            ck_assert_msg(h.reported[i] == want[i], "step %d: %s reported %d times", step, ps.info[i].name, h.reported[i]);
            if (want[i])
                ck_assert_msg(memcmp(h.at_report[i], ps.grad + ps.info[i].offset, ps.info[i].numel * sizeof(vc_real)) == 0,
                              "step %d: %s changed after it was reported final", step, ps.info[i].name);
        }
        /* the first node (x W^T + b) is walked last: W and b come last, in its input order */
        ck_assert_int_eq(h.n_order, 4);
        ck_assert(h.order[2] == 0 && h.order[3] == 1);
        log_free(&h);
    }
    /* a failing hook stops the backward with its status */
    vc_tape_reset(&t);
    vc_params_zero_grad(&ps);
    vc_var *x = vc_const(&t, &X);
    vc_var *loss = vc_sum_all(&t, vc_tanh(&t, vc_linear(&t, vc_tanh(&t, vc_linear(&t, x, W, b)), W, NULL)));
    hook_log h = {.ps = &ps, .fail_at = 1};
    vc_backward_hooks hooks = {log_ready, log_after, &h};
    ck_assert(vc_backward_hooked(&t, loss, &hooks) == VC_ERR_IO);
    ck_assert_str_eq(vc_last_error(), "hook failed on purpose");
    ck_assert(vc_tape_status(&t) == VC_ERR_IO);
    ck_assert_int_eq(h.n_order, 1);
    log_free(&h);
    vc_tape_free(&t);
    vc_tensor_release(&X);
    vc_params_free(&ps);
}
END_TEST

/* ---------- a pooler's step on a fake comm ---------- */

typedef struct {
    vc_pooler m;
    vc_params ps;
    vc_var *scale;
    vc_tensor frames, text, len;
    vc_tape t;
} model;

/* _type with a text head (so a parameter is read only on the text side), B 6, T 5, D 16. */
static void model_make(model *md, vc_pool_type type) {
    memset(md, 0, sizeof *md);
    vc_pooler_cfg cfg;
    vc_pooler_cfg_default(&cfg, type, 16);
    cfg.layers = 2;
    cfg.heads = 2;
    cfg.max_frames = 5;
    cfg.text_head = true;
    vc_params_init(&md->ps);
    ck_assert_msg(vc_pooler_init(&md->m, &cfg, &md->ps, 7) == VC_OK, "%s", vc_last_error());
    ck_assert(md->scale = vc_logit_scale_init(&md->ps));
    ck_assert(vc_params_place(&md->ps, VC_CPU) == VC_OK);
    vc_tensor_alloc(&md->frames, VC_F32, VC_DIMS(6, 5, 16));
    vc_tensor_alloc(&md->text, VC_F32, VC_DIMS(6, 16));
    vc_tensor_alloc(&md->len, VC_I64, VC_DIMS(6));
    vc_rng r;
    vc_rng_seed(&r, 11);
    vc_test_fill_uniform(vc_f32(&md->frames), 6 * 5 * 16, &r, -1, 1);
    vc_test_fill_uniform(vc_f32(&md->text), 6 * 16, &r, -1, 1);
    for (int i = 0; i < 6; i++) ((int64_t *)md->len.data)[i] = 1 + i % 5;
    vc_tape_init(&md->t, 0);
}

static void model_free(model *md) {
    vc_tape_free(&md->t);
    vc_tensor_release(&md->frames);
    vc_tensor_release(&md->text);
    vc_tensor_release(&md->len);
    vc_params_free(&md->ps);
}

/* Forward on the tape (reset first); the loss. */
static vc_var *model_forward(model *md) {
    vc_tape_reset(&md->t);
    vc_params_zero_grad(&md->ps);
    vc_var *v = vc_pooler_forward(&md->t, &md->m, vc_const(&md->t, &md->frames), &md->len);
    vc_var *x = vc_pooler_text(&md->t, &md->m, vc_const(&md->t, &md->text));
    vc_var *loss = vc_infonce(&md->t, v, x, md->scale, NULL);
    ck_assert_msg(loss, "%s", vc_last_error());
    return loss;
}

/* Every parameter of a real pooler step reported once, with its final gradient. */
START_TEST(test_hooks_on_a_pooler_step) {
    model md;
    model_make(&md, _i == 0 ? VC_POOL_TRANSFORMER : VC_POOL_CROSS_ATTN);
    ck_assert(md.ps.count <= MAXP);
    for (int step = 0; step < 2; step++) {
        vc_var *loss = model_forward(&md);
        hook_log h = {.ps = &md.ps};
        vc_backward_hooks hooks = {log_ready, NULL, &h};
        ck_assert_msg(vc_backward_hooked(&md.t, loss, &hooks) == VC_OK, "%s", vc_last_error());
        for (int i = 0; i < md.ps.count; i++) {
            ck_assert_msg(h.reported[i] == 1, "%s reported %d times", md.ps.info[i].name, h.reported[i]);
            ck_assert_msg(memcmp(h.at_report[i], md.ps.grad + md.ps.info[i].offset,
                                 md.ps.info[i].numel * sizeof(vc_real)) == 0,
                          "%s changed after it was reported final", md.ps.info[i].name);
        }
        log_free(&h);
    }
    model_free(&md);
}
END_TEST

/* A comm of two identical ranks: every all-reduce doubles. The asynchronous
 * one checks, when it starts, that its range holds the final gradient
 * (ref) and was never started before, and completes on the second test. */
typedef struct {
    const vc_real *ref;
    const vc_real *base;
    int64_t n;
    unsigned char *seen;
    int starts;
    int64_t last_lo;
    char bad[256];
} fake;

static fake fk;

typedef struct {
    vc_real *buf;
    int64_t n;
    int tests_left;
} fake_req;

static void dbl(vc_real *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) b[i] *= 2;
}

static vc_status f_allreduce(void *impl, vc_real *buf, int64_t n) {
    dbl(buf, n);
    return VC_OK;
}

static vc_status f_iallreduce(void *impl, vc_real *buf, int64_t n, void *h) {
    int64_t lo = buf - fk.base;
    if (!fk.bad[0] && (lo < 0 || lo + n > fk.n)) snprintf(fk.bad, sizeof fk.bad, "range [%lld, +%lld) outside", (long long)lo, (long long)n);
    if (!fk.bad[0] && fk.starts && lo + n != fk.last_lo)
        snprintf(fk.bad, sizeof fk.bad, "bucket [%lld, %lld) does not end where the last began (%lld)", (long long)lo,
                 (long long)(lo + n), (long long)fk.last_lo);
    if (!fk.bad[0] && !fk.starts && lo + n != fk.n) snprintf(fk.bad, sizeof fk.bad, "the first bucket ends at %lld", (long long)(lo + n));
    for (int64_t i = 0; i < n && !fk.bad[0]; i++) {
        if (fk.seen[lo + i]++) snprintf(fk.bad, sizeof fk.bad, "element %lld reduced twice", (long long)(lo + i));
        else if (memcmp(&buf[i], &fk.ref[lo + i], sizeof(vc_real)) != 0)
            snprintf(fk.bad, sizeof fk.bad, "element %lld started as %.9g, final gradient %.9g", (long long)(lo + i), buf[i],
                     fk.ref[lo + i]);
    }
    fk.starts++;
    fk.last_lo = lo;
    fake_req q = {buf, n, 2};
    memcpy(h, &q, sizeof q);
    return VC_OK;
}

static vc_status f_test(void *impl, void *h, bool *done) {
    fake_req q;
    memcpy(&q, h, sizeof q);
    *done = --q.tests_left <= 0;
    if (*done) dbl(q.buf, q.n);
    memcpy(h, &q, sizeof q);
    return VC_OK;
}

static vc_status f_wait(void *impl, void *h) {
    fake_req q;
    memcpy(&q, h, sizeof q);
    if (q.tests_left > 0) dbl(q.buf, q.n);
    return VC_OK;
}

static vc_status f_none(void *impl) { return VC_OK; }
static void f_close(void *impl) {}
static void f_abort(void *impl, int code) {}

static const vc_comm_ops fake_ops = {
    .name = "fake", .device = VC_CPU, .allreduce_sum = f_allreduce, .barrier = f_none, .abort = f_abort,
    .close = f_close,
};
static const vc_comm_async_ops fake_async = {f_iallreduce, f_test, f_wait};

/* _i: 0 buckets below the smallest parameter (one per parameter), 1 about
 * 2 KB, 2 above the whole buffer (one bucket), 3 the 2 KB buckets on a comm
 * without asynchronous entries. */
START_TEST(test_buckets_cover_the_buffer_once_in_order_when_final) {
    model md;
    model_make(&md, VC_POOL_TRANSFORMER);
    vc_params *ps = &md.ps;
    /* the reference: a plain backward */
    vc_var *loss = model_forward(&md);
    ck_assert(vc_backward(&md.t, loss) == VC_OK);
    vc_params_finish_grad(ps);
    vc_real *ref = malloc(ps->n * sizeof(vc_real));
    memcpy(ref, ps->grad, ps->n * sizeof(vc_real));
    const double mb[4] = {1e-5, 0.002, 1000, 0.002};
    memset(&fk, 0, sizeof fk);
    fk.ref = ref;
    fk.base = ps->grad;
    fk.n = (int64_t)ps->n;
    fk.seen = calloc(ps->n, 1);
    vc_comm *c;
    ck_assert(vc_comm_wrap(&c, &fake_ops, NULL, 0, 2) == VC_OK);
    if (_i != 3) c->async = &fake_async;
    /* the bucketed step, as train/step.c runs it */
    loss = model_forward(&md);
    vc_grad_sync *gs;
    ck_assert_msg(vc_grad_sync_begin(&gs, &md.t, ps, c, mb[_i]) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_backward_hooked(&md.t, loss, vc_grad_sync_hooks(gs)) == VC_OK, "%s", vc_last_error());
    vc_params_finish_grad(ps);
    ck_assert(vc_grad_sync_finish(gs) == VC_OK);
    vc_grad_sync_info in;
    vc_grad_sync_get_info(gs, &in);
    ck_assert_msg(!fk.bad[0], "%s", fk.bad);
    if (_i != 3) {
        ck_assert_int_eq(fk.starts, in.buckets);
        for (size_t k = 0; k < ps->n; k++) ck_assert_msg(fk.seen[k] == 1, "element %zu reduced %d times", k, fk.seen[k]);
    }
    for (size_t k = 0; k < ps->n; k++)
        ck_assert_msg(ps->grad[k] == 2 * ref[k], "element %zu: %.9g, twice the gradient is %.9g", k, ps->grad[k], 2 * ref[k]);
    ck_assert_int_eq(c->stats.allreduce_bytes, (int64_t)(ps->n * sizeof(vc_real)));
    if (_i == 0) ck_assert_int_eq(in.buckets, ps->count);
    if (_i == 2) ck_assert_int_eq(in.buckets, 1);
    if (_i == 1 || _i == 3) {
        ck_assert(in.buckets > 1 && in.buckets < ps->count);
        ck_assert(in.largest >= 500);
    }
    /* every parameter is read in this step: every bucket started during the backward */
    ck_assert_int_eq(in.started_in_backward, in.buckets);
    printf("grad sync, %g MB buckets%s: %d buckets of %lld to %lld floats over %zu, all started during the backward, "
           "sums exact\n", mb[_i], _i == 3 ? " (no asynchronous entries)" : "", in.buckets, (long long)in.smallest,
           (long long)in.largest, ps->n);
    vc_comm_close(c);
    free(fk.seen);
    free(ref);
    model_free(&md);
}
END_TEST

/* The generic layer: a single comm's asynchronous all-reduce is complete at
 * once; bad sizes fail; test and wait accept a complete request. */
START_TEST(test_async_on_the_single_comm) {
    vc_comm *c;
    ck_assert(vc_comm_single(&c) == VC_OK);
    vc_real a[3] = {1, 2, 3};
    vc_comm_req q;
    ck_assert(vc_comm_iallreduce_sum(c, a, 3, &q) == VC_OK);
    ck_assert(!q.active);
    bool done = false;
    ck_assert(vc_comm_test(c, &q, &done) == VC_OK && done);
    ck_assert(vc_comm_wait(c, &q) == VC_OK);
    ck_assert(a[0] == 1 && a[2] == 3);
    ck_assert_int_eq(c->stats.allreduce_bytes, 3 * (int64_t)sizeof(vc_real));
    ck_assert(vc_comm_iallreduce_sum(c, a, -1, &q) == VC_ERR_ARG);
    vc_comm_close(c);
    vc_grad_sync *gs;
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_params ps;
    vc_params_init(&ps);
    ck_assert(vc_grad_sync_begin(&gs, &t, &ps, NULL, 0) == VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "bucket size 0 MB"), "%s", vc_last_error());
    vc_params_free(&ps);
    vc_tape_free(&t);
}
END_TEST

/* ---------- processes ---------- */

static char self_path[512], mpirun_path[512];

/* ---------- the MPI asynchronous all-reduce, from inside mpirun ---------- */

static uint64_t fnv(const void *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}

/* Three asynchronous all-reduces in flight at once over [0, n), started from
 * the end, a blocking reduce-scatter and tests between them, against one
 * blocking all-reduce of the same numbers. */
static int async_worker(void) {
    vc_comm *c;
    if (vc_comm_open(&c)) {
        fprintf(stderr, "comm open: %s\n", vc_last_error());
        return 1;
    }
    const int64_t n = 100003, cut[4] = {0, 7, 60000, n};
    vc_real *a = malloc(n * sizeof(vc_real)), *b = malloc(n * sizeof(vc_real));
    vc_rng r;
    vc_rng_seed(&r, 100 + (uint64_t)c->rank);
    vc_test_fill_uniform(a, n, &r, -1, 1);
    memcpy(b, a, n * sizeof(vc_real));
    VC_WCHECK(c, vc_comm_allreduce_sum(c, a, n) == VC_OK, "%s", vc_last_error());
    vc_comm_req q[3];
    vc_real rs[12], ro[12];
    for (int i = 0; i < 12; i++) rs[i] = (vc_real)(c->rank + i);
    for (int k = 2; k >= 0; k--) {
        VC_WCHECK(c, vc_comm_iallreduce_sum(c, b + cut[k], cut[k + 1] - cut[k], &q[k]) == VC_OK, "%s", vc_last_error());
        if (k == 1) /* a blocking collective of the other communicator while two are in flight */
            VC_WCHECK(c, vc_comm_reduce_scatter_sum(c, rs, 12 / c->size, ro) == VC_OK, "%s", vc_last_error());
        bool done;
        VC_WCHECK(c, vc_comm_test(c, &q[2], &done) == VC_OK, "%s", vc_last_error());
    }
    for (int k = 0; k < 3; k++) VC_WCHECK(c, vc_comm_wait(c, &q[k]) == VC_OK, "%s", vc_last_error());
    int64_t w;
    double err = vc_test_max_rel_err(b, a, n, 1e-3, &w);
    bool same = memcmp(a, b, n * sizeof(vc_real)) == 0;
    if (c->size == 2) VC_WCHECK(c, same, "2 ranks: asynchronous sums differ from the blocking ones (%.3g at %lld)", err, (long long)w);
    VC_WCHECK(c, err <= 1e-6, "asynchronous sums differ from the blocking ones by %.3g at %lld", err, (long long)w);
    VC_WCHECK(c, vc_comm_check_same(c, fnv(b, n * sizeof(vc_real)), "asynchronous sums") == VC_OK, "%s", vc_last_error());
    VC_WCHECK(c, c->stats.allreduce_bytes == 2 * n * (int64_t)sizeof(vc_real), "counted %lld bytes",
           (long long)c->stats.allreduce_bytes);
    printf("rank %d of %d: async all-reduce checked: %s\n", c->rank, c->size,
           same ? "bit-identical to the blocking one" : "the same on every rank, within rounding of the blocking one");
    free(a);
    free(b);
    vc_comm_close(c);
    return vc_test_worker_bad;
}

static void on_watchdog(void *ud, const char *msg) {
    fprintf(stderr, "async worker: %s\n", msg);
    _exit(3);
}

/* A bucket in flight when rank 1 dies (mode "die": kill -9 of itself) or
 * hangs (mode "hang": sleeps 40 s; rank 0's watchdog waits 2 s). */
static int fault_worker(const char *mode) {
    vc_comm *c;
    if (vc_comm_open(&c)) {
        fprintf(stderr, "comm open: %s\n", vc_last_error());
        return 1;
    }
    const int64_t n = 4000000; /* 16 MB: no eager send completes it alone */
    vc_real *b = calloc((size_t)n, sizeof(vc_real));
    if (strcmp(mode, "hang") == 0 && vc_comm_set_watchdog(c, 2, on_watchdog, NULL)) return 1;
    vc_comm_req q;
    if (vc_comm_iallreduce_sum(c, b, n, &q)) return 1;
    printf("rank %d: bucket in flight\n", c->rank);
    fflush(stdout);
    if (c->rank == 1) {
        if (strcmp(mode, "die") == 0) kill(getpid(), SIGKILL);
        sleep(40);
        return 4;
    }
    vc_test_sleep_ms(300);
    vc_status s = vc_comm_wait(c, &q);
    fprintf(stderr, "rank 0: the wait returned %d (%s)\n", (int)s, s ? vc_last_error() : "");
    return 5; /* not reached while the job ends as it should */
}

START_TEST(test_mpi_async_allreduce_against_the_blocking_one) {
    char np[16];
    snprintf(np, sizeof np, "%d", 2 + _i);
    const char *out = vc_test_path("async.out");
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", np, self_path, "--async-worker", NULL};
    int rc = vc_test_wait(vc_test_spawn(argv, out), 60, "mpirun --async-worker");
    char *text = vc_test_read_file(out, NULL);
    ck_assert_msg(rc == 0, "async worker failed (%d):\n%.3000s", rc, text);
    for (int r = 0; r < 2 + _i; r++) {
        char line[96];
        snprintf(line, sizeof line, "rank %d of %d: async all-reduce checked: %s", r, 2 + _i,
                 _i == 0 ? "bit-identical" : "");
        ck_assert_msg(strstr(text, line), "no line '%s' in:\n%.2000s", line, text);
    }
    const char *l = strstr(text, "rank 0 of");
    printf("%.*s\n", (int)strcspn(l, "\n"), l);
    free(text);
}
END_TEST

/* _i: 0 rank 1 killed with -9, 1 rank 1 hung, while a bucket is in flight. */
START_TEST(test_a_rank_lost_with_a_bucket_in_flight_ends_the_job) {
    const char *out = vc_test_path("fault.out");
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "2", self_path, "--fault-worker", _i ? "hang" : "die", NULL};
    double t0 = vc_test_now_s();
    int rc = vc_test_wait(vc_test_spawn(argv, out), 60, "mpirun --fault-worker");
    double took = vc_test_now_s() - t0;
    char *text = vc_test_read_file(out, NULL);
    ck_assert_msg(strstr(text, "rank 0: bucket in flight") && strstr(text, "rank 1: bucket in flight"),
                  "the bucket never started:\n%.2000s", text);
    ck_assert_msg(rc != 0, "the job exited 0:\n%.2000s", text);
    ck_assert_msg(!strstr(text, "the wait returned"), "rank 0's wait returned:\n%.2000s", text);
    if (_i == 0)
        ck_assert_msg(strstr(text, "rank 1") && strstr(text, "signal 9"), "no line names the killed rank 1:\n%.2000s", text);
    else
        ck_assert_msg(strstr(text, "rank 0 of 2: mpi allreduce (asynchronous) of 4000000 floats waited"),
                      "no watchdog line naming the wait:\n%.2000s", text);
    ck_assert_msg(took < (_i ? 30 : 20), "the job took %.1f s to end", took);
    printf("rank 1 %s with a 16 MB bucket in flight: the job ended in %.1f s (exit %d)\n", _i ? "hung" : "killed -9",
           took, rc);
    free(text);
}
END_TEST

/* ---------- vclip train: buckets against one all-reduce ---------- */

static char data_path[600], data_error[2048];

static void make_data(void) {
    snprintf(data_path, sizeof data_path, "%s", vc_test_path("synth.h5"));
    char cmd[1400];
    const char *log = vc_test_path("synth.out");
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --videos 200 --dim 32 --max-frames 10 --min-frames 4 --seed 5 > '%s' 2>&1",
             vc_test_vclip_bin(), data_path, log);
    if (vc_test_sh(cmd) != 0) snprintf(data_error, sizeof data_error, "vclip synth failed: %s", vc_test_last_line(log));
}

/* TMP/NAME.ini: the transformer (1 layer) with a text head on the synth file, batch 12, 20 steps. */
static void make_config(const char *name, char *cfg, size_t n) {
    const char *dir = vc_test_path(name);
    snprintf(cfg, n, "%s.ini", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "[data]\nfile = %s\nframes = 10\ntrain_sampling = random\neval_sampling = uniform\nprefetch = 2\n"
             "[model]\ntype = transformer\nlayers = 1\nheads = 4\ntext_head = linear\n"
             "[train]\nbatch = 12\nsteps = 20\nlr = 2e-3\nwarmup = 4\nseed = 2\neval_every = 10\n"
             "checkpoint_every = 10\nlog_every = 1\nout_dir = %s\n"
             "[eval]\nsplit = test\nbatch = 32\n",
             data_path, dir);
    vc_test_write_text(cfg, text);
}

/* mpirun -np NP vclip train CFG --set train.out_dir=DIR --set train.grad_bucket_mb=MB: its exit code. */
static int train(int np, const char *cfg, const char *dir, double mb, char *log, size_t nlog) {
    char cmd[4096];
    snprintf(log, nlog, "%s.out", dir);
    snprintf(cmd, sizeof cmd,
             "timeout 120 '%s' --oversubscribe -np %d '%s' train '%s' --set 'train.out_dir=%s' --set train.grad_bucket_mb=%g "
             "> '%s' 2>&1",
             mpirun_path, np, vc_test_vclip_bin(), cfg, dir, mb, log);
    return vc_test_sh(cmd);
}

/* _i: 0 two ranks (bit-identical to one all-reduce), 1 three ranks (within
 * 1e-5). Bucket sizes: 1e-5 MB (below the smallest parameter, logit_scale's
 * 64 bytes: one bucket per parameter), 0.02 MB (several parameters each)
 * and 1000 MB (above the whole buffer); three ranks the first only. The
 * losses compare as log.jsonl has them (7 digits), the checkpoints'
 * tensors (weights and AdamW moments) bit for bit. */
START_TEST(test_bucketed_training_equals_one_allreduce) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    int np = 2 + _i;
    char cfg[700], name[32], dir0[640], log[800];
    snprintf(name, sizeof name, "np%d", np);
    make_config(name, cfg, sizeof cfg);
    snprintf(dir0, sizeof dir0, "%s/%s_one", vc_test_tmpdir(), name);
    int rc = train(np, cfg, dir0, 0, log, sizeof log);
    ck_assert_msg(rc == 0, "%d ranks, one all-reduce: exit %d: %s", np, rc, vc_test_last_line(log));
    double l0[32], l1[32];
    ck_assert_int_eq(vc_test_step_losses(dir0, l0, 32), 20);
    const double mbs[3] = {1e-5, 0.02, 1000};
    for (int k = 0; k < (np == 2 ? 3 : 1); k++) { /* 3 ranks: the most buckets only (runtime) */
        char dir[700], a[760], b[760], worst[200] = "";
        snprintf(dir, sizeof dir, "%s/%s_b%d", vc_test_tmpdir(), name, k);
        double t0 = vc_test_now_s();
        rc = train(np, cfg, dir, mbs[k], log, sizeof log);
        ck_assert_msg(rc == 0, "%d ranks, %g MB buckets: exit %d: %s", np, mbs[k], rc, vc_test_last_line(log));
        ck_assert_int_eq(vc_test_step_losses(dir, l1, 32), 20);
        double wl = 0;
        for (int s = 0; s < 20; s++) {
            double e = fabs(l1[s] - l0[s]) / fabs(l0[s]);
            if (np == 2) ck_assert_msg(l1[s] == l0[s], "2 ranks, %g MB: step %d loss %.9g vs %.9g", mbs[k], s + 1, l1[s], l0[s]);
            ck_assert_msg(e <= 1e-5, "%d ranks, %g MB: step %d loss %.7f vs %.7f", np, mbs[k], s + 1, l1[s], l0[s]);
            wl = fmax(wl, e);
        }
        snprintf(a, sizeof a, "%s/last.safetensors", dir);
        snprintf(b, sizeof b, "%s/last.safetensors", dir0);
        bool same;
        double dw = vc_test_ckpt_diff(a, b, true, &same, worst, sizeof worst);
        if (np == 2) ck_assert_msg(same, "2 ranks, %g MB buckets: final weights differ by %.3g at %s", mbs[k], dw, worst);
        ck_assert_msg(dw <= 1e-5, "%d ranks, %g MB buckets: final weights differ by %.3g at %s", np, mbs[k], dw, worst);
        printf("%d ranks, %g MB buckets vs one all-reduce, 20 steps: %s (losses within %.2g, weights within %.2g; %.1f s)\n",
               np, mbs[k], same ? "bit-identical" : "within rounding", wl, dw, vc_test_now_s() - t0);
    }
}
END_TEST

/* kill -9 of rank 1 in a bucketed run (buckets of 0.001 MB: one in flight
 * during most of the backward): the job ends within 60 s naming rank 1. */
START_TEST(test_killed_rank_in_bucketed_training_ends_the_job) {
    ck_assert_msg(!data_error[0], "%s", data_error);
    char cfg[700], dir[640], out[700];
    make_config("kill", cfg, sizeof cfg);
    snprintf(dir, sizeof dir, "%s/kill", vc_test_tmpdir());
    snprintf(out, sizeof out, "%s.out", dir);
    const char *argv[] = {mpirun_path, "--oversubscribe", "-np", "2", vc_test_vclip_bin(), "train", cfg,
                          "--set", "train.steps=3000", "--set", "train.eval_every=5000", "--set", "train.grad_bucket_mb=0.001",
                          NULL};
    pid_t job = vc_test_spawn(argv, out);
    pid_t victim = vc_test_rank_once_logged(job, out, dir, 5, 60, 2, 1);
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    double tk = vc_test_now_s();
    int rc = vc_test_wait(job, 60, "the bucketed job after kill -9 of rank 1");
    double took = vc_test_now_s() - tk;
    char *text = vc_test_read_file(out, NULL);
    ck_assert_msg(rc != 0, "the job exited 0 after a rank was killed:\n%.2000s", text);
    ck_assert_msg(strstr(text, "rank 1") && strstr(text, "signal 9"), "no line names the killed rank 1:\n%.2000s", text);
    printf("bucketed training: kill -9 of rank 1 after step 5, the job ended %.2f s later (exit %d)\n", took, rc);
    free(text);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("dist_bucket");
    TCase *tc = tcase_create("hooks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hooks_report_each_parameter_once_with_its_final_gradient);
    tcase_add_loop_test(tc, test_hooks_on_a_pooler_step, 0, 2);
    tcase_add_loop_test(tc, test_buckets_cover_the_buffer_once_in_order_when_final, 0, 4);
    tcase_add_test(tc, test_async_on_the_single_comm);
    suite_add_tcase(s, tc);
    const char *why = vc_test_mpi_ready(mpirun_path, sizeof mpirun_path);
    if (why) {
        printf("SKIP: bucketed all-reduce across processes (mpirun, vclip train -np 2 and 3): %s\n", why);
        return s;
    }
    TCase *mpi = tcase_create("mpi");
    tcase_set_timeout(mpi, 300);
    tcase_add_unchecked_fixture(mpi, make_data, NULL);
    tcase_add_loop_test(mpi, test_mpi_async_allreduce_against_the_blocking_one, 0, 2);
    tcase_add_loop_test(mpi, test_a_rank_lost_with_a_bucket_in_flight_ends_the_job, 0, 2);
    tcase_add_loop_test(mpi, test_bucketed_training_equals_one_allreduce, 0, 2);
    tcase_add_test(mpi, test_killed_rank_in_bucketed_training_ends_the_job);
    suite_add_tcase(s, mpi);
    return s;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--async-worker") == 0) return async_worker();
    if (argc > 2 && strcmp(argv[1], "--fault-worker") == 0) return fault_worker(argv[2]);
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n > 0) self_path[n] = '\0';
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
