/* The NCCL comm (tensor/comm.h): the float collectives with NCCL on CUDA
 * device memory, on a stream of the comm's own, each waited for before the
 * call returns (so the table's contract, "the result is in the buffer",
 * holds). The buffers
 * are written by kernels on the CUDA backend's stream, so each collective
 * first waits for that stream (the backend table's sync). The host
 * collectives (broadcast of bytes, agreement, barrier) go through the
 * bootstrap comm the NCCL one was opened over, normally MPI, which also
 * carried the NCCL unique id from rank 0 to the others.
 *
 * The asynchronous all-reduce (vc_comm_async_ops) runs on a second NCCL
 * communicator and a second stream of the comm's own, so that, as comm.h
 * says, blocking collectives may run while buckets are in flight without
 * ranks interleaving the two alike. Start: an event recorded on the CUDA
 * backend's stream (vc_cuda_stream), which the communication stream waits
 * for, then ncclAllReduce there and a done event. Test: cudaEventQuery of
 * the done event. Wait: the backend's stream waits for the done event, so
 * kernels queued after it read the sums; the host does not block (it does
 * where it copies results back).
 *
 * Built only with -DVC_HAVE_NCCL: against the toolkit's nccl.h (vclip's
 * CUDA build when nccl.h is found, make nccl-check), or against the CPU
 * emulator (-DVC_CUDA_EMU, with tensor/cuda/emu_nccl.c: NCCL over MPI) for
 * the tests (tests/nccl/nccl_emu_worker.c and the emulated vclip under
 * mpirun). Without it, opening fails with VC_ERR_UNSUPPORTED. The real
 * libnccl is loaded with dlopen when a comm first opens (or the version is
 * asked for), as cuBLAS is: a vclip with NCCL built in starts, and trains on
 * one GPU or the CPU, on a machine without libnccl.so.2.
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

#include "tensor/backend.h"
#include "tensor/backend_cuda.h"
#include "tensor/cuda/cuda_host.h"
#include "tensor/cuda/nccl_host.h"
#include "tensor/dl.h"

#define NCCL_REAL (sizeof(vc_real) == sizeof(double) ? ncclDouble : ncclFloat)

/* The NCCL entry points this comm calls: the emulator's, linked, or
 * libnccl's, loaded on first use. */
static struct {
    bool tried, ok;
    char why[400];
    __typeof__(&ncclGetVersion) get_version;
    __typeof__(&ncclGetUniqueId) get_unique_id;
    __typeof__(&ncclCommInitRank) init_rank;
    __typeof__(&ncclCommDestroy) destroy;
    __typeof__(&ncclCommAbort) abort_;
    __typeof__(&ncclGetErrorString) error_string;
    __typeof__(&ncclGetLastError) last_error;
    __typeof__(&ncclAllReduce) all_reduce;
    __typeof__(&ncclAllGather) all_gather;
    __typeof__(&ncclReduceScatter) reduce_scatter;
} nl;

static bool load_nccl(void) {
    if (nl.tried) return nl.ok;
    nl.tried = true;
#ifdef VC_CUDA_EMU
    nl.get_version = ncclGetVersion;
    nl.get_unique_id = ncclGetUniqueId;
    nl.init_rank = ncclCommInitRank;
    nl.destroy = ncclCommDestroy;
    nl.abort_ = ncclCommAbort;
    nl.error_string = ncclGetErrorString;
    nl.last_error = ncclGetLastError;
    nl.all_reduce = ncclAllReduce;
    nl.all_gather = ncclAllGather;
    nl.reduce_scatter = ncclReduceScatter;
#else
    static const char *const names[2] = {"libnccl.so.2", "libnccl.so"};
    static const vc_dl_sym syms[] = {
        {"ncclGetVersion", &nl.get_version},
        {"ncclGetUniqueId", &nl.get_unique_id},
        {"ncclCommInitRank", &nl.init_rank},
        {"ncclCommDestroy", &nl.destroy},
        {"ncclCommAbort", &nl.abort_},
        {"ncclGetErrorString", &nl.error_string},
        {"ncclGetLastError", &nl.last_error},
        {"ncclAllReduce", &nl.all_reduce},
        {"ncclAllGather", &nl.all_gather},
        {"ncclReduceScatter", &nl.reduce_scatter},
    };
    if (vc_dl_load("NCCL", names, 2, "; put the CUDA toolkit's lib64 or the nvidia-nccl wheel's lib on LD_LIBRARY_PATH",
                   syms, (int)(sizeof syms / sizeof *syms))) {
        snprintf(nl.why, sizeof nl.why, "%s", vc_last_error());
        return false;
    }
#endif
    nl.ok = true;
    return true;
}

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    ncclComm_t acomm;       /* the asynchronous all-reduces' */
    cudaStream_t astream;
    cudaEvent_t ready;      /* recorded on the backend's stream at each start */
    vc_comm *boot;  /* host collectives */
    int rank, size;
} nccl_impl;

static vc_status nccl_fail(nccl_impl *m, ncclResult_t r, const char *what, long long n) {
    const char *detail = m && m->comm ? nl.last_error(m->comm) : "";
    return vc_fail(VC_ERR_IO, "comm nccl: %s of %lld: %s%s%s", what, n, nl.error_string(r), detail && *detail ? ": " : "",
                   detail ? detail : "");
}

/* Waits for the stream; a CUDA error is the call's failure. */
static vc_status wait_stream(nccl_impl *m, const char *what, long long n) {
    cudaError_t e = cudaStreamSynchronize(m->stream);
    if (e != cudaSuccess) return vc_fail(VC_ERR_DEVICE, "comm nccl: %s of %lld: %s", what, n, cudaGetErrorString(e));
    return VC_OK;
}

/* The buffers come from kernels queued on the CUDA backend's stream: they
 * are complete once it drained (a build without the backend has none). */
static void wait_compute(void) {
    const vc_backend *be = vc_backend_for(VC_CUDA);
    if (be && be->sync) be->sync();
}

static vc_status n_allreduce(void *impl, vc_real *buf, int64_t n) {
    nccl_impl *m = impl;
    wait_compute();
    ncclResult_t r = nl.all_reduce(buf, buf, (size_t)n, NCCL_REAL, ncclSum, m->comm, m->stream);
    return r != ncclSuccess ? nccl_fail(m, r, "ncclAllReduce", (long long)n) : wait_stream(m, "ncclAllReduce", (long long)n);
}

static vc_status n_allgather(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    nccl_impl *m = impl;
    wait_compute();
    ncclResult_t r = nl.all_gather(send, recv, (size_t)n, NCCL_REAL, m->comm, m->stream);
    return r != ncclSuccess ? nccl_fail(m, r, "ncclAllGather", (long long)n) : wait_stream(m, "ncclAllGather", (long long)n);
}

static vc_status n_reduce_scatter(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    nccl_impl *m = impl;
    wait_compute();
    ncclResult_t r = nl.reduce_scatter(send, recv, (size_t)n, NCCL_REAL, ncclSum, m->comm, m->stream);
    return r != ncclSuccess ? nccl_fail(m, r, "ncclReduceScatter", (long long)n)
                            : wait_stream(m, "ncclReduceScatter", (long long)n);
}

/* The backend's stream: where the gradients are written (the legacy
 * stream in a build without the backend, as for plain cudaMemcpy). */
static cudaStream_t compute_stream(void) { return (cudaStream_t)vc_cuda_stream(); }

static vc_status cuda_fail(cudaError_t e, const char *what, long long n) {
    return vc_fail(VC_ERR_DEVICE, "comm nccl: %s of %lld floats: %s", what, n, cudaGetErrorString(e));
}

/* An asynchronous all-reduce's handle (in vc_comm_req's storage). */
typedef struct {
    cudaEvent_t done; /* recorded on the communication stream after it */
    int64_t n;
} async_req;

static vc_status n_iallreduce(void *impl, vc_real *buf, int64_t n, void *h) {
    nccl_impl *m = impl;
    cudaStream_t cs = compute_stream();
    cudaEvent_t done = NULL;
    cudaError_t e = cudaEventRecord(m->ready, cs);
    if (e == cudaSuccess) e = cudaStreamWaitEvent(m->astream, m->ready, 0);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
    if (e != cudaSuccess) return cuda_fail(e, "starting an asynchronous ncclAllReduce", (long long)n);
    ncclResult_t r = nl.all_reduce(buf, buf, (size_t)n, NCCL_REAL, ncclSum, m->acomm, m->astream);
    if (r != ncclSuccess) {
        cudaEventDestroy(done);
        return nccl_fail(m, r, "ncclAllReduce (asynchronous)", (long long)n);
    }
    if ((e = cudaEventRecord(done, m->astream)) != cudaSuccess) {
        cudaEventDestroy(done);
        return cuda_fail(e, "cudaEventRecord after ncclAllReduce", (long long)n);
    }
    async_req q = {done, n};
    memcpy(h, &q, sizeof q);
    return VC_OK;
}

static vc_status n_req_test(void *impl, void *h, bool *done) {
    (void)impl;
    async_req q;
    memcpy(&q, h, sizeof q);
    cudaError_t e = cudaEventQuery(q.done);
    *done = e != cudaErrorNotReady;
    if (e == cudaErrorNotReady) return VC_OK;
    cudaEventDestroy(q.done); /* complete (or failed): the handle is spent */
    return e == cudaSuccess ? VC_OK : cuda_fail(e, "cudaEventQuery of an asynchronous ncclAllReduce", (long long)q.n);
}

static vc_status n_req_wait(void *impl, void *h) {
    (void)impl;
    async_req q;
    memcpy(&q, h, sizeof q);
    /* the backend's later kernels run after the sums landed; destroying the
     * event now is allowed (CUDA releases it once it completed) */
    cudaError_t e = cudaStreamWaitEvent(compute_stream(), q.done, 0);
    cudaEventDestroy(q.done);
    return e == cudaSuccess ? VC_OK
                            : cuda_fail(e, "cudaStreamWaitEvent on an asynchronous ncclAllReduce", (long long)q.n);
}

_Static_assert(sizeof(async_req) <= VC_COMM_REQ_BYTES, "the handle fits vc_comm_req");
static const vc_comm_async_ops nccl_async = {n_iallreduce, n_req_test, n_req_wait};

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
    if (m->comm) nl.abort_(m->comm); /* unblocks this rank's NCCL work before the job ends */
    if (m->acomm) nl.abort_(m->acomm);
    m->comm = m->acomm = NULL;
    m->boot->ops->abort(m->boot->impl, code);
}

static void n_close(void *impl) {
    nccl_impl *m = impl;
    if (m->acomm) nl.destroy(m->acomm);
    if (m->comm) nl.destroy(m->comm);
    if (m->ready) cudaEventDestroy(m->ready);
    if (m->astream) cudaStreamDestroy(m->astream);
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
    /* every rank learns whether every rank has NCCL before any waits in a collective */
    vc_status s = vc_comm_agree(boot, load_nccl() ? VC_OK : vc_fail(VC_ERR_UNSUPPORTED, "comm nccl: %s", nl.why));
    if (s) return s;
    cudaError_t e = cudaSetDevice(device);
    s = vc_comm_agree(boot, e == cudaSuccess ? VC_OK
                                             : vc_fail(VC_ERR_DEVICE, "comm nccl: cudaSetDevice(%d): %s", device,
                                                       cudaGetErrorString(e)));
    if (s) return s;
    ncclUniqueId id[2]; /* the blocking collectives' communicator and the asynchronous one's */
    memset(id, 0, sizeof id);
    ncclResult_t r = boot->rank == 0 ? nl.get_unique_id(&id[0]) : ncclSuccess;
    if (r == ncclSuccess && boot->rank == 0) r = nl.get_unique_id(&id[1]);
    /* every rank learns whether rank 0 has an id before waiting in the init */
    int64_t bad = r != ncclSuccess;
    s = vc_comm_broadcast(boot, &bad, sizeof bad, 0);
    if (!s && bad) s = vc_fail(VC_ERR_IO, "comm nccl: ncclGetUniqueId on rank 0 failed");
    if (!s) s = vc_comm_broadcast(boot, id, sizeof id, 0);
    if (s) return s;
    nccl_impl *m = calloc(1, sizeof *m);
    if (!m) return vc_fail(VC_ERR_OOM, "comm nccl: out of memory for the comm (%zu bytes)", sizeof *m);
    m->boot = boot;
    m->rank = boot->rank;
    m->size = boot->size;
    e = cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&m->astream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaEventCreateWithFlags(&m->ready, cudaEventDisableTiming);
    if (e != cudaSuccess) {
        n_close(m);
        return vc_fail(VC_ERR_DEVICE, "comm nccl: creating its streams and event: %s", cudaGetErrorString(e));
    }
    r = nl.init_rank(&m->comm, m->size, id[0], m->rank);
    if (r != ncclSuccess) m->comm = NULL;
    else if ((r = nl.init_rank(&m->acomm, m->size, id[1], m->rank)) != ncclSuccess) m->acomm = NULL;
    if (r != ncclSuccess) {
        s = nccl_fail(NULL, r, "ncclCommInitRank", (long long)m->size);
        n_close(m);
        return s;
    }
    s = vc_comm_wrap(out, &nccl_ops, m, m->rank, m->size);
    if (s) n_close(m);
    else (*out)->async = &nccl_async;
    return s;
}

const char *vc_comm_nccl_version(void) {
    static char v[400];
    int code = 0;
    if (!v[0] && !load_nccl()) {
        snprintf(v, sizeof v, "built in (nccl.h %d.%d.%d), but %.150s", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH, nl.why);
        return v;
    }
    if (!v[0] && nl.get_version(&code) == ncclSuccess) {
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
