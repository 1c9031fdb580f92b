/* NCCL over MPI for the CPU emulator (emu_nccl.h). */
#include "tensor/cuda/emu_nccl.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ncclComm {
    MPI_Comm comm;
    int rank, size;
    char last[256];
};

static const char id_magic[8] = "vcemuNC1";

ncclResult_t ncclGetVersion(int *version) {
    if (!version) return ncclInvalidArgument;
    *version = NCCL_VERSION_CODE;
    return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
    if (!id) return ncclInvalidArgument;
    memset(id, 0, sizeof *id);
    memcpy(id->internal, id_magic, sizeof id_magic);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 11);
    for (int i = 8; i < NCCL_UNIQUE_ID_BYTES; i += 8) { /* splitmix64 from time and pid */
        x += 0x9e3779b97f4a7c15ull;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        memcpy(id->internal + i, &z, 8);
    }
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *out, int nranks, ncclUniqueId id, int rank) {
    if (!out) return ncclInvalidArgument;
    *out = NULL;
    int init = 0;
    MPI_Initialized(&init);
    if (!init) return ncclInvalidUsage; /* the emulation needs MPI */
    if (memcmp(id.internal, id_magic, sizeof id_magic) != 0 || nranks < 1 || rank < 0 || rank >= nranks)
        return ncclInvalidArgument;
    uint32_t h = 2166136261u;
    for (int i = 0; i < NCCL_UNIQUE_ID_BYTES; i++) h = (h ^ (unsigned char)id.internal[i]) * 16777619u;
    struct ncclComm *c = calloc(1, sizeof *c);
    if (!c) return ncclSystemError;
    if (MPI_Comm_split(MPI_COMM_WORLD, (int)(h & 0x3fffffff), rank, &c->comm) != MPI_SUCCESS) {
        free(c);
        return ncclSystemError;
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    if (c->size != nranks || c->rank != rank) { /* as NCCL, a clique of another size never forms */
        MPI_Comm_free(&c->comm);
        free(c);
        return ncclInvalidArgument;
    }
    *out = c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t c) {
    if (!c) return ncclInvalidArgument;
    MPI_Comm_free(&c->comm);
    free(c);
    return ncclSuccess;
}

ncclResult_t ncclCommAbort(ncclComm_t c) { return c ? ncclCommDestroy(c) : ncclSuccess; }

const char *ncclGetErrorString(ncclResult_t r) {
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
    case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
    case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
    case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
    case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
    case ncclRemoteError: return "remote process exited or there was a network error";
    case ncclInProgress: return "NCCL operation in progress";
    default: return "unknown result code";
    }
}

const char *ncclGetLastError(ncclComm_t c) { return c ? c->last : ""; }

ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *err) {
    if (!c || !err) return ncclInvalidArgument;
    *err = ncclSuccess;
    return ncclSuccess;
}

ncclResult_t ncclCommCount(const ncclComm_t c, int *count) {
    if (!c || !count) return ncclInvalidArgument;
    *count = c->size;
    return ncclSuccess;
}

ncclResult_t ncclCommUserRank(const ncclComm_t c, int *rank) {
    if (!c || !rank) return ncclInvalidArgument;
    *rank = c->rank;
    return ncclSuccess;
}

static MPI_Datatype mpi_type(ncclDataType_t t, size_t *size) {
    switch (t) {
    case ncclInt8: *size = 1; return MPI_INT8_T;
    case ncclUint8: *size = 1; return MPI_UINT8_T;
    case ncclInt32: *size = 4; return MPI_INT32_T;
    case ncclUint32: *size = 4; return MPI_UINT32_T;
    case ncclInt64: *size = 8; return MPI_INT64_T;
    case ncclUint64: *size = 8; return MPI_UINT64_T;
    case ncclFloat32: *size = 4; return MPI_FLOAT;
    case ncclFloat64: *size = 8; return MPI_DOUBLE;
    default: *size = 0; return MPI_DATATYPE_NULL; /* float16 sums need a user op: not emulated */
    }
}

static MPI_Op mpi_op(ncclRedOp_t op) {
    switch (op) {
    case ncclSum: return MPI_SUM;
    case ncclProd: return MPI_PROD;
    case ncclMax: return MPI_MAX;
    case ncclMin: return MPI_MIN;
    default: return MPI_OP_NULL; /* ncclAvg: not emulated */
    }
}

/* Common checks: communicator, type, a stream that is not capturing. */
static ncclResult_t check(ncclComm_t c, ncclDataType_t t, cudaStream_t stream, const char *what, MPI_Datatype *mt,
                          size_t *es) {
    if (!c) return ncclInvalidArgument;
    *mt = mpi_type(t, es);
    if (*mt == MPI_DATATYPE_NULL) {
        snprintf(c->last, sizeof c->last, "%s: data type %d is not emulated", what, (int)t);
        return ncclInvalidArgument;
    }
    enum cudaStreamCaptureStatus st;
    if (cudaStreamIsCapturing(stream, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
        snprintf(c->last, sizeof c->last, "%s: the emulator cannot capture NCCL calls into a graph", what);
        return ncclInvalidUsage;
    }
    return ncclSuccess;
}

static ncclResult_t done(ncclComm_t c, int rc, const char *what) {
    if (rc == MPI_SUCCESS) return ncclSuccess;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    snprintf(c->last, sizeof c->last, "%s: %.200s", what, text);
    return ncclRemoteError;
}

/* The emulator's device memory may be unreadable to host code
 * (VC_CUDA_EMU_PROTECT=1), as a GPU's is, so a collective never touches it
 * directly: its device buffers go to host scratch with cudaMemcpy (which
 * also checks that they lie inside device allocations, as NCCL requires:
 * a host pointer handed to a collective fails here), MPI runs on the
 * scratch, and the result is copied back. */
static ncclResult_t take(ncclComm_t c, void *host, const void *dev, size_t bytes, const char *what, const char *which) {
    cudaError_t e = cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) return ncclSuccess;
    snprintf(c->last, sizeof c->last, "%s: %s %p is not %zu bytes of device memory: %.120s", what, which, dev, bytes,
             vc_emu_last_detail());
    return ncclInvalidArgument;
}

static ncclResult_t give(ncclComm_t c, void *dev, const void *host, size_t bytes, const char *what) {
    cudaError_t e = cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) return ncclSuccess;
    snprintf(c->last, sizeof c->last, "%s: recvbuff %p is not %zu bytes of device memory: %.120s", what, dev, bytes,
             vc_emu_last_detail());
    return ncclInvalidArgument;
}

/* Host scratch of a + b bytes (b at *second), or NULL. */
static void *scratch(size_t a, size_t b, void **second) {
    char *p = malloc(a + b + 1);
    *second = p ? p + a : NULL;
    return p;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t t, int root, ncclComm_t c,
                           cudaStream_t stream) {
    MPI_Datatype mt;
    size_t es;
    ncclResult_t r = check(c, t, stream, "ncclBroadcast", &mt, &es);
    if (r) return r;
    if (root < 0 || root >= c->size || count > (size_t)INT32_MAX) return ncclInvalidArgument;
    void *unused, *h = scratch(count * es, 0, &unused);
    if (!h) return ncclSystemError;
    if (c->rank == root) r = take(c, h, send, count * es, "ncclBroadcast", "sendbuff");
    /* a root with a bad buffer still takes part, so the others do not wait */
    ncclResult_t m = done(c, MPI_Bcast(h, (int)count, mt, root, c->comm), "ncclBroadcast");
    if (!r) r = m;
    if (!r) r = give(c, recv, h, count * es, "ncclBroadcast");
    free(h);
    return r;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t, ncclRedOp_t op, ncclComm_t c,
                           cudaStream_t stream) {
    MPI_Datatype mt;
    size_t es;
    ncclResult_t r = check(c, t, stream, "ncclAllReduce", &mt, &es);
    if (r) return r;
    if (mpi_op(op) == MPI_OP_NULL || count > (size_t)INT32_MAX) return ncclInvalidArgument;
    void *unused, *h = scratch(count * es, 0, &unused);
    if (!h) return ncclSystemError;
    r = take(c, h, send, count * es, "ncclAllReduce", "sendbuff");
    if (!r) r = done(c, MPI_Allreduce(MPI_IN_PLACE, h, (int)count, mt, mpi_op(op), c->comm), "ncclAllReduce");
    if (!r) r = give(c, recv, h, count * es, "ncclAllReduce");
    free(h);
    return r;
}

ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t recvcount, ncclDataType_t t, ncclRedOp_t op,
                               ncclComm_t c, cudaStream_t stream) {
    MPI_Datatype mt;
    size_t es;
    ncclResult_t r = check(c, t, stream, "ncclReduceScatter", &mt, &es);
    if (r) return r;
    if (mpi_op(op) == MPI_OP_NULL || recvcount > (size_t)INT32_MAX) return ncclInvalidArgument;
    /* in place (recvbuff == sendbuff + rank * recvcount) works too: the send side is copied first */
    size_t nb = recvcount * es;
    void *hr, *hs = scratch((size_t)c->size * nb, nb, &hr);
    if (!hs) return ncclSystemError;
    r = take(c, hs, send, (size_t)c->size * nb, "ncclReduceScatter", "sendbuff");
    if (!r) r = done(c, MPI_Reduce_scatter_block(hs, hr, (int)recvcount, mt, mpi_op(op), c->comm), "ncclReduceScatter");
    if (!r) r = give(c, recv, hr, nb, "ncclReduceScatter");
    free(hs);
    return r;
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t sendcount, ncclDataType_t t, ncclComm_t c,
                           cudaStream_t stream) {
    MPI_Datatype mt;
    size_t es;
    ncclResult_t r = check(c, t, stream, "ncclAllGather", &mt, &es);
    if (r) return r;
    if (sendcount > (size_t)INT32_MAX) return ncclInvalidArgument;
    /* in place (sendbuff == recvbuff + rank * sendcount) works too: the send side is copied first */
    size_t nb = sendcount * es;
    void *hr, *hs = scratch(nb, (size_t)c->size * nb, &hr);
    if (!hs) return ncclSystemError;
    r = take(c, hs, send, nb, "ncclAllGather", "sendbuff");
    if (!r) r = done(c, MPI_Allgather(hs, (int)sendcount, mt, hr, (int)sendcount, mt, c->comm), "ncclAllGather");
    if (!r) r = give(c, recv, hr, (size_t)c->size * nb, "ncclAllGather");
    free(hs);
    return r;
}
