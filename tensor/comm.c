/* The comm table's generic side: the single-process implementation, opening
 * from the launcher's environment, counters, agreement and the watchdog. */
#include "comm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------- single process ---------- */

static vc_status single_allreduce(void *impl, vc_real *buf, int64_t n) { return VC_OK; }

static vc_status single_allgather(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    if (send != recv) memmove(recv, send, (size_t)n * sizeof(vc_real));
    return VC_OK;
}

static vc_status single_reduce_scatter(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    if (send != recv) memmove(recv, send, (size_t)n * sizeof(vc_real));
    return VC_OK;
}

static vc_status single_broadcast(void *impl, void *buf, size_t nbytes, int root) { return VC_OK; }

static vc_status single_allgather_bytes(void *impl, const void *send, size_t nbytes, void *recv) {
    if (send != recv) memmove(recv, send, nbytes);
    return VC_OK;
}

static vc_status single_max_i64(void *impl, int64_t *buf, int n) { return VC_OK; }
static vc_status single_barrier(void *impl) { return VC_OK; }
static void single_abort(void *impl, int code) {}
static void single_close(void *impl) {}

static const vc_comm_ops single_ops = {
    "single",           VC_CPU,           single_allreduce, single_allgather, single_reduce_scatter,
    single_broadcast,   single_allgather_bytes, single_max_i64, single_barrier, single_abort,
    single_close,
};

vc_status vc_comm_wrap(vc_comm **out, const vc_comm_ops *ops, void *impl, int rank, int size) {
    *out = NULL;
    vc_comm *c = calloc(1, sizeof *c);
    if (!c) return vc_fail(VC_ERR_OOM, "comm: out of memory for the comm (%zu bytes)", sizeof *c);
    c->ops = ops;
    c->impl = impl;
    c->rank = rank;
    c->size = size;
    *out = c;
    return VC_OK;
}

vc_status vc_comm_single(vc_comm **out) { return vc_comm_wrap(out, &single_ops, NULL, 0, 1); }

/* ---------- the launcher's environment ---------- */

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 || x > 1 << 24 ? dflt : (int)x;
}

bool vc_comm_launched(int *size, int *rank) {
    /* Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), PMI-1/2 (MPICH's
     * Hydra, srun --mpi=pmi2), and Slurm's srun with several tasks */
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    static const char *const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"};
    int n = 1, r = 0;
    bool found = false;
    for (int i = 0; i < 3 && !found; i++) {
        int s = env_int(sizes[i], -1);
        if (s < 1 || (i == 2 && s < 2 && !getenv("PMIX_RANK"))) continue;
        n = s;
        r = env_int(ranks[i], 0);
        found = true;
    }
    if (!found && getenv("PMIX_RANK")) {
        r = env_int("PMIX_RANK", 0);
        n = env_int("PMIX_SIZE", 0) > 0 ? env_int("PMIX_SIZE", 1) : 0; /* 0: PMIx knows, the env does not */
        found = true;
    }
    if (size) *size = n;
    if (rank) *rank = r;
    return found;
}

vc_status vc_comm_open(vc_comm **out) {
    *out = NULL;
    int size, rank;
    if (!vc_comm_launched(&size, &rank)) return vc_comm_single(out);
    if (!vc_comm_mpi_version()) {
        if (size == 1) return vc_comm_single(out);
        char who[64] = "";
        if (size > 1) snprintf(who, sizeof who, " as rank %d of %d", rank, size);
        return vc_fail(VC_ERR_UNSUPPORTED,
                       "started%s by an MPI launcher, but this vclip was built without MPI "
                       "(install Debian libopenmpi-dev and rebuild; `vclip version` says what is built in)",
                       who);
    }
    vc_status s = vc_comm_mpi_open(out);
    if (s) return s;
    if (size > 1 && (*out)->size != size) {
        int got = (*out)->size;
        vc_comm_close(*out);
        *out = NULL;
        return vc_fail(VC_ERR_ARG,
                       "the launcher started %d tasks but MPI sees %d (under Slurm: srun --mpi=pmix, or mpirun "
                       "inside the allocation)",
                       size, got);
    }
    return VC_OK;
}

/* ---------- the watchdog ---------- */

struct vc_comm_watch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    double timeout_s;
    void (*fn)(void *ud, const char *msg);
    void *ud;
    int rank, size;
    _Atomic int64_t since_ns;  /* start of the current collective, 0 when none */
    _Atomic int patient;       /* > 0: waits are not timed */
    char what[160];            /* the current collective, written before since_ns */
};

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *watch_main(void *arg) {
    vc_comm_watch *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        double tick = w->timeout_s / 8 < 1 ? w->timeout_s / 8 : 1;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)(tick * 1e9);
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (w->stop) break;
        int64_t since = atomic_load(&w->since_ns);
        if (!since || atomic_load(&w->patient) > 0) continue;
        double waited = (double)(mono_ns() - since) * 1e-9;
        if (waited < w->timeout_s) continue;
        char msg[320];
        snprintf(msg, sizeof msg, "rank %d of %d: %s waited %.0f s for the other ranks; one of them hung or died",
                 w->rank, w->size, w->what, waited);
        w->fn(w->ud, msg);
        atomic_store(&w->since_ns, 0); /* a fn that returns is told once per wait */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watch_stop(vc_comm *c) {
    vc_comm_watch *w = c->watch;
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    c->watch = NULL;
}

vc_status vc_comm_set_watchdog(vc_comm *c, double timeout_s, void (*fn)(void *ud, const char *msg), void *ud) {
    watch_stop(c);
    if (!(timeout_s > 0) || !fn) return VC_OK;
    vc_comm_watch *w = calloc(1, sizeof *w);
    if (!w) return vc_fail(VC_ERR_OOM, "comm: out of memory for the watchdog (%zu bytes)", sizeof *w);
    w->timeout_s = timeout_s;
    w->fn = fn;
    w->ud = ud;
    w->rank = c->rank;
    w->size = c->size;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return vc_fail(VC_ERR_OOM, "comm: cannot start the watchdog thread");
    }
    c->watch = w;
    return VC_OK;
}

void vc_comm_patient_begin(vc_comm *c) {
    if (c && c->watch) atomic_fetch_add(&c->watch->patient, 1);
}

void vc_comm_patient_end(vc_comm *c) {
    if (c && c->watch) atomic_fetch_sub(&c->watch->patient, 1);
}

/* Marks the start of a wait (what: "MPI_Allreduce of N floats"-like, built
 * only when a watchdog runs) and returns the start time for the counters. */
static int64_t wait_begin(vc_comm *c, const char *op, int64_t n, const char *unit) {
    int64_t t = mono_ns();
    if (c->watch) {
        snprintf(c->watch->what, sizeof c->watch->what, "%s %s of %lld %s", c->ops->name, op, (long long)n, unit);
        atomic_store(&c->watch->since_ns, t);
    }
    return t;
}

static void wait_end(vc_comm *c, int64_t t0) {
    if (c->watch) atomic_store(&c->watch->since_ns, 0);
    c->stats.wait_s += (double)(mono_ns() - t0) * 1e-9;
}

/* ---------- collectives ---------- */

vc_status vc_comm_allreduce_sum(vc_comm *c, vc_real *buf, int64_t n) {
    if (n < 0) return vc_fail(VC_ERR_ARG, "comm allreduce: n = %lld", (long long)n);
    c->stats.allreduce_bytes += n * (int64_t)sizeof(vc_real);
    c->stats.calls++;
    if (c->size == 1 || n == 0) return VC_OK;
    int64_t t0 = wait_begin(c, "allreduce", n, "floats");
    vc_status s = c->ops->allreduce_sum(c->impl, buf, n);
    wait_end(c, t0);
    return s;
}

vc_status vc_comm_iallreduce_sum(vc_comm *c, vc_real *buf, int64_t n, vc_comm_req *req) {
    memset(req, 0, sizeof *req);
    if (n < 0) return vc_fail(VC_ERR_ARG, "comm iallreduce: n = %lld", (long long)n);
    req->n = n;
    if (c->size == 1 || n == 0 || !c->async) /* nothing to wait for afterwards */
        return vc_comm_allreduce_sum(c, buf, n);
    c->stats.allreduce_bytes += n * (int64_t)sizeof(vc_real);
    c->stats.calls++;
    vc_status s = c->async->iallreduce_sum(c->impl, buf, n, req->h.bytes);
    req->active = s == VC_OK;
    return s;
}

vc_status vc_comm_test(vc_comm *c, vc_comm_req *req, bool *done) {
    *done = !req->active;
    if (!req->active) return VC_OK;
    int64_t t0 = mono_ns();
    vc_status s = c->async->req_test(c->impl, req->h.bytes, done);
    c->stats.wait_s += (double)(mono_ns() - t0) * 1e-9;
    if (s || *done) req->active = false;
    return s;
}

vc_status vc_comm_wait(vc_comm *c, vc_comm_req *req) {
    if (!req->active) return VC_OK;
    int64_t t0 = wait_begin(c, "allreduce (asynchronous)", req->n, "floats");
    vc_status s = c->async->req_wait(c->impl, req->h.bytes);
    wait_end(c, t0);
    req->active = false;
    return s;
}

vc_status vc_comm_allgather(vc_comm *c, const vc_real *send, int64_t n, vc_real *recv) {
    if (n < 0) return vc_fail(VC_ERR_ARG, "comm allgather: n = %lld", (long long)n);
    c->stats.allgather_bytes += n * (int64_t)sizeof(vc_real);
    c->stats.calls++;
    if (c->size == 1) return single_allgather(NULL, send, n, recv);
    int64_t t0 = wait_begin(c, "allgather", n, "floats");
    vc_status s = c->ops->allgather(c->impl, send, n, recv);
    wait_end(c, t0);
    return s;
}

vc_status vc_comm_reduce_scatter_sum(vc_comm *c, const vc_real *send, int64_t n, vc_real *recv) {
    if (n < 0) return vc_fail(VC_ERR_ARG, "comm reduce_scatter: n = %lld", (long long)n);
    c->stats.reduce_scatter_bytes += n * c->size * (int64_t)sizeof(vc_real);
    c->stats.calls++;
    if (c->size == 1) return single_reduce_scatter(NULL, send, n, recv);
    int64_t t0 = wait_begin(c, "reduce_scatter", n, "floats");
    vc_status s = c->ops->reduce_scatter_sum(c->impl, send, n, recv);
    wait_end(c, t0);
    return s;
}

vc_status vc_comm_broadcast(vc_comm *c, void *buf, size_t nbytes, int root) {
    if (root < 0 || root >= c->size)
        return vc_fail(VC_ERR_ARG, "comm broadcast: root %d outside [0, %d)", root, c->size);
    if (c->size == 1 || nbytes == 0) return VC_OK;
    int64_t t0 = wait_begin(c, "broadcast", (int64_t)nbytes, "bytes");
    vc_status s = c->ops->broadcast(c->impl, buf, nbytes, root);
    wait_end(c, t0);
    return s;
}

vc_status vc_comm_allgather_bytes(vc_comm *c, const void *send, size_t nbytes, void *recv) {
    if (c->size == 1) return single_allgather_bytes(NULL, send, nbytes, recv);
    int64_t t0 = wait_begin(c, "allgather", (int64_t)nbytes, "bytes");
    vc_status s = c->ops->allgather_bytes(c->impl, send, nbytes, recv);
    wait_end(c, t0);
    return s;
}

vc_status vc_comm_allreduce_max_i64(vc_comm *c, int64_t *buf, int n) {
    if (c->size == 1 || n <= 0) return VC_OK;
    int64_t t0 = wait_begin(c, "allreduce(max)", n, "integers");
    vc_status s = c->ops->allreduce_max_i64(c->impl, buf, n);
    wait_end(c, t0);
    return s;
}

vc_status vc_comm_barrier(vc_comm *c) {
    if (c->size == 1) return VC_OK;
    int64_t t0 = wait_begin(c, "barrier", 0, "bytes");
    vc_status s = c->ops->barrier(c->impl);
    wait_end(c, t0);
    return s;
}

void vc_comm_abort(vc_comm *c, int code) {
    if (c && c->size > 1) c->ops->abort(c->impl, code);
}

vc_status vc_comm_agree(vc_comm *c, vc_status mine) {
    if (c->size == 1) return mine;
    /* the lowest failed rank wins: maximise (size - rank) over failed ranks */
    int64_t v[2] = {mine ? c->size - c->rank : 0, 0};
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mine ? vc_last_error() : "");
    vc_status s = vc_comm_allreduce_max_i64(c, v, 1);
    if (s) return s;
    if (v[0] == 0) return VC_OK;
    c->failed_together = true;
    int bad = c->size - (int)v[0];
    int64_t code = bad == c->rank ? (int64_t)mine : 0;
    if ((s = vc_comm_allreduce_max_i64(c, &code, 1))) return s;
    if (mine) return vc_fail(mine, "%s", msg);
    return vc_fail((vc_status)code, "rank %d of %d failed (its message is in that rank's output)", bad, c->size);
}

vc_status vc_comm_check_same(vc_comm *c, uint64_t value, const char *what) {
    if (c->size == 1) return VC_OK;
    uint64_t *all = malloc((size_t)c->size * sizeof *all);
    if (!all) return vc_fail(VC_ERR_OOM, "comm: out of memory comparing the %s of %d ranks", what, c->size);
    vc_status s = vc_comm_allgather_bytes(c, &value, sizeof value, all);
    if (!s)
        for (int r = 1; r < c->size; r++)
            if (all[r] != all[0]) {
                s = vc_fail(VC_ERR_ARG, "rank %d of %d has a different %s than rank 0", r, c->size, what);
                c->failed_together = true;
                break;
            }
    free(all);
    return s;
}

void vc_comm_stats_reset(vc_comm *c) { memset(&c->stats, 0, sizeof c->stats); }

void vc_comm_close(vc_comm *c) {
    if (!c) return;
    watch_stop(c);
    c->ops->close(c->impl);
    free(c);
}
