/* The host-staged comm (tensor/comm.h, "host-staged"): float collectives on
 * device buffers, carried out by a host comm (MPI) on host copies. Each
 * collective copies its device input to a host buffer of the comm's own
 * (the backend's copy waits for the kernels that wrote it), runs the host
 * comm's collective there and copies the result back; host collectives go
 * straight to the host comm. It is what data-parallel training on CUDA
 * uses in a vclip built without NCCL (or with VCLIP_COMM=host): the same
 * numbers as NCCL, since both sum each element once in an order that every
 * rank shares, at the cost of two copies over PCIe per collective.
 *
 * Owns: the staging. Not here: the host comm (comm_mpi.c), the device's
 * copies (backend.h). */
#include <stdlib.h>

#include "backend.h"
#include "comm.h"

typedef struct {
    vc_comm_ops ops;        /* the table below, with the device's name in it */
    vc_comm *host;          /* the caller's; outlives this comm */
    const vc_backend *be;   /* the device's copies */
    vc_real *buf;           /* host staging, grown on demand */
    size_t cap;             /* floats in buf */
} staged_impl;

/* n floats of host staging (the buffer is reused: one collective at a time). */
static vc_real *room(staged_impl *m, size_t n) {
    if (n > m->cap) {
        vc_real *p = realloc(m->buf, (n ? n : 1) * sizeof *p);
        if (!p) return NULL;
        m->buf = p;
        m->cap = n;
    }
    return m->buf;
}

static vc_status no_room(size_t n) {
    return vc_fail(VC_ERR_OOM, "comm host-staged: cannot allocate %zu bytes of host memory to stage a collective",
                   n * sizeof(vc_real));
}

static vc_status st_allreduce(void *impl, vc_real *buf, int64_t n) {
    staged_impl *m = impl;
    vc_real *h = room(m, (size_t)n);
    if (!h) return no_room((size_t)n);
    m->be->copy_d2h(h, buf, (size_t)n * sizeof *h);
    vc_status s = m->host->ops->allreduce_sum(m->host->impl, h, n);
    if (!s) m->be->copy_h2d(buf, h, (size_t)n * sizeof *h);
    return s;
}

static vc_status st_allgather(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    staged_impl *m = impl;
    size_t all = (size_t)m->host->size * (size_t)n;
    vc_real *h = room(m, (size_t)n + all);
    if (!h) return no_room((size_t)n + all);
    m->be->copy_d2h(h, send, (size_t)n * sizeof *h);
    vc_status s = m->host->ops->allgather(m->host->impl, h, n, h + n);
    if (!s) m->be->copy_h2d(recv, h + n, all * sizeof *h);
    return s;
}

static vc_status st_reduce_scatter(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    staged_impl *m = impl;
    size_t all = (size_t)m->host->size * (size_t)n;
    vc_real *h = room(m, all + (size_t)n);
    if (!h) return no_room(all + (size_t)n);
    m->be->copy_d2h(h, send, all * sizeof *h);
    vc_status s = m->host->ops->reduce_scatter_sum(m->host->impl, h, n, h + all);
    if (!s) m->be->copy_h2d(recv, h + all, (size_t)n * sizeof *h);
    return s;
}

static vc_status st_broadcast(void *impl, void *buf, size_t nbytes, int root) {
    staged_impl *m = impl;
    return m->host->ops->broadcast(m->host->impl, buf, nbytes, root);
}

static vc_status st_allgather_bytes(void *impl, const void *send, size_t nbytes, void *recv) {
    staged_impl *m = impl;
    return m->host->ops->allgather_bytes(m->host->impl, send, nbytes, recv);
}

static vc_status st_max_i64(void *impl, int64_t *buf, int n) {
    staged_impl *m = impl;
    return m->host->ops->allreduce_max_i64(m->host->impl, buf, n);
}

static vc_status st_barrier(void *impl) {
    staged_impl *m = impl;
    return m->host->ops->barrier(m->host->impl);
}

static void st_abort(void *impl, int code) {
    staged_impl *m = impl;
    m->host->ops->abort(m->host->impl, code);
}

static void st_close(void *impl) {
    staged_impl *m = impl;
    free(m->buf);
    free(m);
}

static const vc_comm_ops staged_ops = {
    "host-staged",      VC_CPU,       st_allreduce, st_allgather, st_reduce_scatter, st_broadcast,
    st_allgather_bytes, st_max_i64,   st_barrier,   st_abort,     st_close,
};

vc_status vc_comm_staged_open(vc_comm **out, vc_comm *host, vc_device device) {
    *out = NULL;
    if (!host || host->ops->device != VC_CPU)
        return vc_fail(VC_ERR_ARG, "comm host-staged: needs a comm on host memory (MPI) to carry the collectives");
    const vc_backend *be;
    vc_status s = vc_backend_get(device, &be);
    if (s) return s;
    staged_impl *m = calloc(1, sizeof *m);
    if (!m) return vc_fail(VC_ERR_OOM, "comm host-staged: out of memory for the comm (%zu bytes)", sizeof *m);
    m->ops = staged_ops;
    m->ops.device = device;
    m->host = host;
    m->be = be;
    s = vc_comm_wrap(out, &m->ops, m, host->rank, host->size);
    if (s) st_close(m);
    return s;
}
