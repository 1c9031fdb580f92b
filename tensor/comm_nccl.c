/* The NCCL comm (tensor/comm.h): the float collectives with NCCL on CUDA
 * device memory, on a stream of the comm's own, each waited for before the
 * call returns (so the table's contract, "the result is in the buffer",
 * holds; overlapping them with the backward is a later step). The host
 * collectives (broadcast of bytes, agreement, barrier) go through the
 * bootstrap comm the NCCL one was opened over, normally MPI, which also
 * carried the NCCL unique id from rank 0 to the others.
 *
 * Built only with -DVC_HAVE_NCCL: against the toolkit's nccl.h and cudart
 * (make nccl-check), or against the CPU emulator (-DVC_CUDA_EMU, with
 * tensor/cuda/emu_nccl.c: NCCL over MPI) for the tests
 * (tests/nccl/nccl_emu_worker.c under mpirun). Without it, opening fails
 * with VC_ERR_UNSUPPORTED.
 *
 * Failure: NCCL's errors come back as a vc_status naming the call and
 * NCCL's text. A peer that dies under mpirun ends the job as with MPI; a
 * peer that hangs leaves this rank waiting in cudaStreamSynchronize, where
 * the comm's watchdog (vc_comm_set_watchdog) reports it. ncclCommInitRank
 * is collective: a rank that fails before it leaves the others inside it,
 * which the launcher ends when that rank exits. */
#include "comm.h"

#ifdef VC_HAVE_NCCL

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/cuda/cuda_host.h"
#include "tensor/cuda/nccl_host.h"

#define NCCL_REAL (sizeof(vc_real) == sizeof(double) ? ncclDouble : ncclFloat)

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    vc_comm *boot;  /* host collectives */
    int rank, size;
} nccl_impl;

static vc_status nccl_fail(nccl_impl *m, ncclResult_t r, const char *what, long long n) {
    const char *detail = m && m->comm ? ncclGetLastError(m->comm) : "";
    return vc_fail(VC_ERR_IO, "comm nccl: %s of %lld: %s%s%s", what, n, ncclGetErrorString(r), detail && *detail ? ": " : "",
                   detail ? detail : "");
}

/* Waits for the stream; a CUDA error is the call's failure. */
static vc_status wait_stream(nccl_impl *m, const char *what, long long n) {
    cudaError_t e = cudaStreamSynchronize(m->stream);
    if (e != cudaSuccess) return vc_fail(VC_ERR_DEVICE, "comm nccl: %s of %lld: %s", what, n, cudaGetErrorString(e));
    return VC_OK;
}

static vc_status n_allreduce(void *impl, vc_real *buf, int64_t n) {
    nccl_impl *m = impl;
    ncclResult_t r = ncclAllReduce(buf, buf, (size_t)n, NCCL_REAL, ncclSum, m->comm, m->stream);
    return r != ncclSuccess ? nccl_fail(m, r, "ncclAllReduce", (long long)n) : wait_stream(m, "ncclAllReduce", (long long)n);
}

static vc_status n_allgather(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    nccl_impl *m = impl;
    ncclResult_t r = ncclAllGather(send, recv, (size_t)n, NCCL_REAL, m->comm, m->stream);
    return r != ncclSuccess ? nccl_fail(m, r, "ncclAllGather", (long long)n) : wait_stream(m, "ncclAllGather", (long long)n);
}

static vc_status n_reduce_scatter(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    nccl_impl *m = impl;
    ncclResult_t r = ncclReduceScatter(send, recv, (size_t)n, NCCL_REAL, ncclSum, m->comm, m->stream);
    return r != ncclSuccess ? nccl_fail(m, r, "ncclReduceScatter", (long long)n)
                            : wait_stream(m, "ncclReduceScatter", (long long)n);
}

static vc_status n_broadcast(void *impl, void *buf, size_t nbytes, int root) {
    nccl_impl *m = impl;
    return m->boot->ops->broadcast(m->boot->impl, buf, nbytes, root);
}

static vc_status n_allgather_bytes(void *impl, const void *send, size_t nbytes, void *recv) {
    nccl_impl *m = impl;
    return m->boot->ops->allgather_bytes(m->boot->impl, send, nbytes, recv);
}

static vc_status n_max_i64(void *impl, int64_t *buf, int n) {
    nccl_impl *m = impl;
    return m->boot->ops->allreduce_max_i64(m->boot->impl, buf, n);
}

static vc_status n_barrier(void *impl) {
    nccl_impl *m = impl;
    return m->boot->ops->barrier(m->boot->impl);
}

static void n_abort(void *impl, int code) {
    nccl_impl *m = impl;
    ncclCommAbort(m->comm); /* unblocks this rank's NCCL work before the job ends */
    m->comm = NULL;
    m->boot->ops->abort(m->boot->impl, code);
}

static void n_close(void *impl) {
    nccl_impl *m = impl;
    if (m->comm) ncclCommDestroy(m->comm);
    if (m->stream) cudaStreamDestroy(m->stream);
    free(m);
}

static const vc_comm_ops nccl_ops = {
    "nccl",           VC_CUDA,      n_allreduce, n_allgather, n_reduce_scatter, n_broadcast,
    n_allgather_bytes, n_max_i64, n_barrier,   n_abort,     n_close,
};

vc_status vc_comm_nccl_open(vc_comm **out, vc_comm *boot, int device) {
    *out = NULL;
    if (!boot) return vc_fail(VC_ERR_ARG, "comm nccl: needs a bootstrap comm (MPI) to share its unique id");
    cudaError_t e = cudaSetDevice(device);
    if (e != cudaSuccess) return vc_fail(VC_ERR_DEVICE, "comm nccl: cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    ncclResult_t r = boot->rank == 0 ? ncclGetUniqueId(&id) : ncclSuccess;
    /* every rank learns whether rank 0 has an id before waiting in the init */
    int64_t bad = r != ncclSuccess;
    vc_status s = vc_comm_broadcast(boot, &bad, sizeof bad, 0);
    if (!s && bad) s = vc_fail(VC_ERR_IO, "comm nccl: ncclGetUniqueId on rank 0 failed");
    if (!s) s = vc_comm_broadcast(boot, &id, sizeof id, 0);
    if (s) return s;
    nccl_impl *m = calloc(1, sizeof *m);
    if (!m) return vc_fail(VC_ERR_OOM, "comm nccl: out of memory for the comm (%zu bytes)", sizeof *m);
    m->boot = boot;
    m->rank = boot->rank;
    m->size = boot->size;
    e = cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        free(m);
        return vc_fail(VC_ERR_DEVICE, "comm nccl: cudaStreamCreateWithFlags: %s", cudaGetErrorString(e));
    }
    r = ncclCommInitRank(&m->comm, m->size, id, m->rank);
    if (r != ncclSuccess) {
        s = nccl_fail(NULL, r, "ncclCommInitRank", (long long)m->size);
        m->comm = NULL;
        n_close(m);
        return s;
    }
    s = vc_comm_wrap(out, &nccl_ops, m, m->rank, m->size);
    if (s) n_close(m);
    return s;
}

const char *vc_comm_nccl_version(void) {
    static char v[64];
    int code = 0;
    if (!v[0] && ncclGetVersion(&code) == ncclSuccess) {
        int major = code >= 20900 ? code / 10000 : code / 1000;
        int minor = code >= 20900 ? code / 100 % 100 : code / 100 % 10;
        snprintf(v, sizeof v, "NCCL %d.%d.%d%s", major, minor, code % 100,
#ifdef VC_CUDA_EMU
                 " (emulated over MPI)"
#else
                 ""
#endif
        );
    }
    return v[0] ? v : "NCCL (version unknown)";
}

#else /* no NCCL in this build */

vc_status vc_comm_nccl_open(vc_comm **out, vc_comm *boot, int device) {
    *out = NULL;
    return vc_fail(VC_ERR_UNSUPPORTED, "comm: this vclip was built without NCCL (it comes with the CUDA backend)");
}

const char *vc_comm_nccl_version(void) { return NULL; }

#endif
