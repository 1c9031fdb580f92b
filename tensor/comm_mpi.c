/* The MPI comm (tensor/comm.h): Open MPI's collectives on host memory, over
 * a duplicate of MPI_COMM_WORLD whose errors return codes (MPI_ERRORS_RETURN)
 * instead of aborting, so a failure is a vc_status naming the call. Only the
 * thread that opened the comm calls MPI (MPI_THREAD_FUNNELED): the loader's
 * and OpenMP's threads never do. Counts above INT_MAX elements are sent in
 * pieces. Built only with -DVC_HAVE_MPI (the Makefile adds it when
 * pkg-config finds ompi-c); otherwise opening fails with VC_ERR_UNSUPPORTED. */
#include "comm.h"

#ifdef VC_HAVE_MPI

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"

#define VC_MPI_REAL (sizeof(vc_real) == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT)
/* a piece of at most this many elements per call */
#define PIECE ((int64_t)1 << 30)

typedef struct {
    MPI_Comm comm;
    /* a second duplicate for the asynchronous all-reduce: MPI orders the
     * collectives of one communicator, so the blocking ones that run while
     * an asynchronous one is in flight (the gather's reduce-scatter during
     * the backward) need not come at the same point on every rank */
    MPI_Comm acomm;
    int rank, size;
} mpi_impl;

static bool mpi_started_here; /* MPI_Init ran in this process (and MPI_Finalize must) */

static vc_status mpi_err(int rc, const char *what, long long n) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", rc);
    if (n < 0) return vc_fail(VC_ERR_IO, "comm mpi: %s: %s", what, text); /* no count to name */
    return vc_fail(VC_ERR_IO, "comm mpi: %s of %lld: %s", what, n, text);
}

static vc_status m_allreduce(void *impl, vc_real *buf, int64_t n) {
    mpi_impl *m = impl;
    for (int64_t i = 0; i < n; i += PIECE) {
        int k = (int)(n - i < PIECE ? n - i : PIECE);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + i, k, VC_MPI_REAL, MPI_SUM, m->comm);
        if (rc != MPI_SUCCESS) return mpi_err(rc, "MPI_Allreduce", (long long)n);
    }
    return VC_OK;
}

static vc_status m_allgather(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    mpi_impl *m = impl;
    if (n > INT_MAX) return vc_fail(VC_ERR_ARG, "comm mpi: allgather of %lld floats per rank is too large", (long long)n);
    const void *sb = send == recv + (int64_t)m->rank * n ? MPI_IN_PLACE : (const void *)send;
    int rc = MPI_Allgather(sb, (int)n, VC_MPI_REAL, recv, (int)n, VC_MPI_REAL, m->comm);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Allgather", (long long)n);
}

static vc_status m_reduce_scatter(void *impl, const vc_real *send, int64_t n, vc_real *recv) {
    mpi_impl *m = impl;
    if (n > INT_MAX)
        return vc_fail(VC_ERR_ARG, "comm mpi: reduce-scatter of %lld floats per rank is too large", (long long)n);
    int rc = MPI_Reduce_scatter_block(send, recv, (int)n, VC_MPI_REAL, MPI_SUM, m->comm);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Reduce_scatter_block", (long long)n);
}

static vc_status m_broadcast(void *impl, void *buf, size_t nbytes, int root) {
    mpi_impl *m = impl;
    for (size_t i = 0; i < nbytes; i += (size_t)PIECE) {
        int k = (int)(nbytes - i < (size_t)PIECE ? nbytes - i : (size_t)PIECE);
        int rc = MPI_Bcast((char *)buf + i, k, MPI_BYTE, root, m->comm);
        if (rc != MPI_SUCCESS) return mpi_err(rc, "MPI_Bcast", (long long)nbytes);
    }
    return VC_OK;
}

static vc_status m_allgather_bytes(void *impl, const void *send, size_t nbytes, void *recv) {
    mpi_impl *m = impl;
    if (nbytes > INT_MAX) return vc_fail(VC_ERR_ARG, "comm mpi: allgather of %zu bytes is too large", nbytes);
    int rc = MPI_Allgather(send, (int)nbytes, MPI_BYTE, recv, (int)nbytes, MPI_BYTE, m->comm);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Allgather", (long long)nbytes);
}

static vc_status m_max_i64(void *impl, int64_t *buf, int n) {
    mpi_impl *m = impl;
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_INT64_T, MPI_MAX, m->comm);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Allreduce(max)", (long long)n);
}

static vc_status m_barrier(void *impl) {
    mpi_impl *m = impl;
    int rc = MPI_Barrier(m->comm);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Barrier", 0);
}

/* The asynchronous all-reduce: MPI_Iallreduce, its MPI_Request kept in the
 * caller's handle storage. A count above INT_MAX runs blocking in pieces and
 * leaves MPI_REQUEST_NULL (complete at once). */
_Static_assert(sizeof(MPI_Request) <= VC_COMM_REQ_BYTES, "an MPI_Request must fit a vc_comm_req");

static vc_status m_iallreduce(void *impl, vc_real *buf, int64_t n, void *h) {
    mpi_impl *m = impl;
    MPI_Request r = MPI_REQUEST_NULL;
    if (n > INT_MAX) {
        vc_status s = m_allreduce(impl, buf, n);
        memcpy(h, &r, sizeof r);
        return s;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, VC_MPI_REAL, MPI_SUM, m->acomm, &r);
    memcpy(h, &r, sizeof r);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Iallreduce", (long long)n);
}

static vc_status m_test(void *impl, void *h, bool *done) {
    MPI_Request r;
    memcpy(&r, h, sizeof r);
    int flag = 0;
    int rc = MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    memcpy(h, &r, sizeof r);
    *done = flag != 0;
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Test of an MPI_Iallreduce", -1);
}

static vc_status m_wait(void *impl, void *h) {
    MPI_Request r;
    memcpy(&r, h, sizeof r);
    int rc = MPI_Wait(&r, MPI_STATUS_IGNORE);
    memcpy(h, &r, sizeof r);
    return rc == MPI_SUCCESS ? VC_OK : mpi_err(rc, "MPI_Wait of an MPI_Iallreduce", -1);
}

static void m_abort(void *impl, int code) {
    mpi_impl *m = impl;
    MPI_Abort(m->comm, code);
}

static void m_close(void *impl) {
    mpi_impl *m = impl;
    if (m->acomm != MPI_COMM_NULL) MPI_Comm_free(&m->acomm);
    MPI_Comm_free(&m->comm);
    free(m);
    int fin = 0;
    MPI_Finalized(&fin);
    if (mpi_started_here && !fin) MPI_Finalize();
}

static const vc_comm_ops mpi_ops = {
    "mpi",       VC_CPU,            m_allreduce, m_allgather, m_reduce_scatter, m_broadcast,
    m_allgather_bytes, m_max_i64, m_barrier,   m_abort,     m_close,
};
static const vc_comm_async_ops mpi_async = {m_iallreduce, m_test, m_wait};

vc_status vc_comm_mpi_open(vc_comm **out) {
    *out = NULL;
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (fin) return vc_fail(VC_ERR_ARG, "comm mpi: MPI was already finalised in this process");
    if (!init) {
        int provided = 0;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return mpi_err(rc, "MPI_Init_thread", 0);
        mpi_started_here = true;
        if (provided < MPI_THREAD_FUNNELED) {
            MPI_Finalize();
            return vc_fail(VC_ERR_UNSUPPORTED, "comm mpi: the MPI library offers no MPI_THREAD_FUNNELED");
        }
    }
    mpi_impl *m = calloc(1, sizeof *m);
    if (!m) return vc_fail(VC_ERR_OOM, "comm mpi: out of memory for the comm (%zu bytes)", sizeof *m);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc != MPI_SUCCESS) {
        free(m);
        return mpi_err(rc, "MPI_Comm_dup", 0);
    }
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_dup(m->comm, &m->acomm)) != MPI_SUCCESS) {
        vc_status s = mpi_err(rc, "MPI_Comm_dup", 0); /* before m_close may finalise MPI */
        m->acomm = MPI_COMM_NULL;
        m_close(m);
        return s;
    }
    MPI_Comm_set_errhandler(m->acomm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(m->comm, &m->rank);
    MPI_Comm_size(m->comm, &m->size);
    vc_status s = vc_comm_wrap(out, &mpi_ops, m, m->rank, m->size);
    if (s) m_close(m);
    else (*out)->async = &mpi_async;
    return s;
}

const char *vc_comm_mpi_version(void) {
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    if (!v[0]) {
        int len = 0;
        MPI_Get_library_version(v, &len);
        char *nl = strpbrk(v, "\r\n,");
        if (nl) *nl = '\0';
    }
    return v;
}

#else /* no MPI in this build */

vc_status vc_comm_mpi_open(vc_comm **out) {
    *out = NULL;
    return vc_fail(VC_ERR_UNSUPPORTED, "comm: this vclip was built without MPI (Debian libopenmpi-dev; make MPI=1)");
}

const char *vc_comm_mpi_version(void) { return NULL; }

#endif
