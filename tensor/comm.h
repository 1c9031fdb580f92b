/* comm.h: collective communication between the processes ("ranks") of a
 * data-parallel job, as one table of entry points per implementation, the way
 * tensor/backend.h is one table per compute device:
 *   - "single": one process, size 1; every collective is a copy or nothing.
 *     Needs no library and is what `vclip` uses when no launcher started it.
 *   - "mpi" (tensor/comm_mpi.c, built with -DVC_HAVE_MPI): Open MPI on host
 *     memory, for processes on CPUs and across machines.
 *   - "nccl" (tensor/comm_nccl.c, built with -DVC_HAVE_NCCL): NCCL on CUDA
 *     device memory for the float collectives, bootstrapped over an MPI comm
 *     (the NCCL unique id is broadcast through it), which also serves the
 *     host collectives.
 *   - "host-staged" (tensor/comm_staged.c): device buffers copied to host
 *     memory and back around an MPI comm's collectives (CUDA without NCCL).
 *
 * Owns: the table, the single-process implementation, the choice of an
 * implementation at start-up from the launcher's environment
 * (vc_comm_open), byte counters, and a watchdog that reports a collective
 * that waits longer than a timeout. Not here: MPI and NCCL calls themselves
 * (comm_mpi.c, comm_nccl.c), what is communicated and when
 * (autograd/op_gather.c, train/).
 *
 * Every collective is called by every rank of the comm, in the same order,
 * with the same sizes (MPI's rule): a rank that skips one leaves the others
 * waiting. Code paths that can fail on one rank only agree first
 * (vc_comm_agree) or end the job (vc_comm_abort).
 *
 * Float collectives work on vc_real buffers on the comm's device (host
 * memory for single and mpi, CUDA memory for nccl). The all-reduce also
 * comes asynchronous (vc_comm_iallreduce_sum: start, test, wait), so
 * train/ can reduce finished gradients while the backward goes on. Sums are the same on
 * every rank: each element is reduced once and the result handed out (MPI's
 * reduction algorithms and NCCL's ring both do this), so data-parallel
 * replicas stay bit-identical. Host collectives (broadcast, gathers of bytes,
 * agreement, barrier) work on host memory in every implementation.
 *
 * Failures: an implementation returns a vc_status with the library's message
 * ("comm mpi: MPI_Allreduce of 1024 floats: MPI_ERR_TRUNCATE: ..."); a dead
 * peer under mpirun ends the job (Open MPI kills the other ranks within about
 * a second); a peer that hangs is caught by the watchdog (see
 * vc_comm_set_watchdog). */
#ifndef VC_COMM_H
#define VC_COMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "real.h"
#include "status.h"

typedef struct vc_comm_ops {
    const char *name;   /* "single", "mpi", "nccl" */
    vc_device device;   /* where the float collectives' buffers live */
    /* ---- float collectives on device buffers ---- */
    /* buf [n] := the sum over ranks of buf [n] (in place). */
    vc_status (*allreduce_sum)(void *impl, vc_real *buf, int64_t n);
    /* recv [size * n]: block r (recv + r*n) is rank r's send [n]. send and
     * recv do not overlap, except send == recv + rank*n (in place). */
    vc_status (*allgather)(void *impl, const vc_real *send, int64_t n, vc_real *recv);
    /* recv [n] := the sum over ranks of block `rank` of their send [size * n]
     * (the adjoint of allgather). */
    vc_status (*reduce_scatter_sum)(void *impl, const vc_real *send, int64_t n, vc_real *recv);
    /* ---- host collectives ---- */
    vc_status (*broadcast)(void *impl, void *buf, size_t nbytes, int root);
    /* recv [size * nbytes]: block r is rank r's send. */
    vc_status (*allgather_bytes)(void *impl, const void *send, size_t nbytes, void *recv);
    /* buf [n] := the element-wise maximum over ranks. */
    vc_status (*allreduce_max_i64)(void *impl, int64_t *buf, int n);
    vc_status (*barrier)(void *impl);
    /* Ends every rank of the job with exit code `code` (MPI_Abort). Does not
     * return when size > 1. */
    void (*abort)(void *impl, int code);
    void (*close)(void *impl);  /* collective: every rank calls it */
} vc_comm_ops;

/* The asynchronous float all-reduce, a second table an implementation may
 * hang on its comm (vc_comm.async; comm_mpi.c and comm_nccl.c do). Without
 * one (single, host-staged) vc_comm_iallreduce_sum runs the blocking
 * allreduce_sum at once and hands back a request that is already complete. */
typedef struct vc_comm_async_ops {
    /* Starts buf [n] := the sum over ranks of buf [n] (in place) and leaves
     * the implementation's handle in h (VC_COMM_REQ_BYTES of storage); buf
     * belongs to the collective until it completes. */
    vc_status (*iallreduce_sum)(void *impl, vc_real *buf, int64_t n, void *h);
    /* *done := whether the collective of handle h has completed; also moves
     * every pending collective of the comm along (MPI progresses only inside
     * its calls). Once done, h is spent. */
    vc_status (*req_test)(void *impl, void *h, bool *done);
    /* Returns once the collective of handle h has completed (NCCL: once
     * work queued after it on the CUDA backend's stream runs after it, the
     * host not waiting); h is spent. */
    vc_status (*req_wait)(void *impl, void *h);
} vc_comm_async_ops;

/* An asynchronous collective in flight (vc_comm_iallreduce_sum). The
 * caller owns the struct; it must stay where it is until the collective
 * completed (vc_comm_wait, or vc_comm_test reporting it done). Every rank
 * starts its asynchronous collectives in the same order (MPI's rule again);
 * blocking collectives may run while they are in flight, and need not
 * interleave with them alike on every rank (the MPI comm runs the two kinds
 * on communicators of their own). */
#define VC_COMM_REQ_BYTES 32
typedef struct vc_comm_req {
    union {
        unsigned char bytes[VC_COMM_REQ_BYTES];
        void *align_p;
        int64_t align_i;
    } h;                /* the implementation's handle (an MPI_Request) */
    int64_t n;          /* floats */
    bool active;        /* started and not yet seen complete */
} vc_comm_req;

/* Bytes handed to the float collectives since the comm opened (or the last
 * vc_comm_stats_reset), counted per rank as what it contributes:
 * allreduce n floats, allgather n, reduce-scatter size*n. */
typedef struct {
    int64_t allreduce_bytes, allgather_bytes, reduce_scatter_bytes;
    int64_t calls;
    double wait_s;      /* time spent inside float collectives */
} vc_comm_stats;

typedef struct vc_comm_watch vc_comm_watch;

typedef struct vc_comm {
    const vc_comm_ops *ops;
    void *impl;
    int rank, size;
    vc_comm_stats stats;
    vc_comm_watch *watch;   /* NULL: no watchdog */
    const vc_comm_async_ops *async; /* NULL: no asynchronous collectives (the blocking ones stand in) */
    bool failed_together;   /* an agreement (vc_comm_agree, vc_comm_check_same) failed: every rank
                               knows, so ranks can end one by one without aborting the job */
} vc_comm;

/* ---- opening ---- */

/* The single-process comm (rank 0 of 1). Never fails except out of memory. */
vc_status vc_comm_single(vc_comm **out);
/* What the environment says about a launcher: true when mpirun (Open MPI),
 * srun with several tasks, or a PMI/PMIx launcher started this process;
 * *size and *rank (either may be NULL) receive its view, 1 and 0 when it
 * names none. */
bool vc_comm_launched(int *size, int *rank);
/* MPI when a launcher started this process, else single. Fails when a
 * launcher started several processes and this build has no MPI
 * (VC_ERR_UNSUPPORTED, saying so), or MPI cannot start. */
vc_status vc_comm_open(vc_comm **out);
/* Collective; frees the comm (NULL is fine). After closing an MPI comm no
 * other MPI comm can be opened in this process. */
void vc_comm_close(vc_comm *c);

/* The MPI comm over every rank of the job (MPI_COMM_WORLD, duplicated),
 * initialising MPI in this process. VC_ERR_UNSUPPORTED without -DVC_HAVE_MPI. */
vc_status vc_comm_mpi_open(vc_comm **out);
/* NCCL over the ranks of an open bootstrap comm (MPI across processes; the
 * single comm for one rank), on CUDA device `device`: rank 0's NCCL unique
 * id reaches the others through boot, which also serves the host
 * collectives and stays the caller's (it must outlive the result). The
 * float collectives then take CUDA device buffers. VC_ERR_UNSUPPORTED
 * without -DVC_HAVE_NCCL. */
vc_status vc_comm_nccl_open(vc_comm **out, vc_comm *boot, int device);
/* Float collectives on `device` buffers (CUDA) carried out by `host` (a
 * host-memory comm, MPI) on host copies of them (tensor/comm_staged.c): for
 * builds without NCCL. host stays the caller's and must outlive the result. */
vc_status vc_comm_staged_open(vc_comm **out, vc_comm *host, vc_device device);

/* ---- build information (for `vclip version`) ---- */
/* "Open MPI v4.1.4, ..." or NULL when not built with MPI. */
const char *vc_comm_mpi_version(void);
/* "NCCL 2.28.3" or NULL when not built with NCCL. */
const char *vc_comm_nccl_version(void);

/* ---- the collectives (see the table for each one's meaning) ---- */
vc_status vc_comm_allreduce_sum(vc_comm *c, vc_real *buf, int64_t n);
vc_status vc_comm_allgather(vc_comm *c, const vc_real *send, int64_t n, vc_real *recv);
vc_status vc_comm_reduce_scatter_sum(vc_comm *c, const vc_real *send, int64_t n, vc_real *recv);
vc_status vc_comm_broadcast(vc_comm *c, void *buf, size_t nbytes, int root);
vc_status vc_comm_allgather_bytes(vc_comm *c, const void *send, size_t nbytes, void *recv);
vc_status vc_comm_allreduce_max_i64(vc_comm *c, int64_t *buf, int n);
vc_status vc_comm_barrier(vc_comm *c);
void vc_comm_abort(vc_comm *c, int code);

/* ---- the asynchronous all-reduce ----
 * vc_comm_iallreduce_sum starts buf [n] := the sum over ranks (in place,
 * the same sums as vc_comm_allreduce_sum: for 2 ranks bit-identical to it,
 * each element being one addition, which is commutative; for 3 or more the
 * same on every rank but, where the implementation reduces in another order
 * than the blocking call, equal only to rounding). On a comm without
 * asynchronous entries (single, host-staged) it runs the blocking call and the
 * request is complete at once. vc_comm_test (cheap; call it between
 * pieces of other work so the collective moves on) sets *done; vc_comm_wait
 * returns once it completed (watched by the watchdog like any wait). Both
 * accept a request that is already complete. Counters: the bytes and the
 * call at the start, the time inside test and wait as waiting. */
vc_status vc_comm_iallreduce_sum(vc_comm *c, vc_real *buf, int64_t n, vc_comm_req *req);
vc_status vc_comm_test(vc_comm *c, vc_comm_req *req, bool *done);
vc_status vc_comm_wait(vc_comm *c, vc_comm_req *req);

/* Agreement on failure, for code that can fail on some ranks only: every
 * rank passes its own status and gets VC_OK when all succeeded. A rank that
 * failed gets its own status back (its message kept); the others get the
 * first failed rank's status with "rank R of N failed (its message is in
 * that rank's output)". A failure of the agreement itself is returned too. */
vc_status vc_comm_agree(vc_comm *c, vc_status mine);
/* Fails (VC_ERR_ARG, naming `what` and the ranks) unless every rank passes
 * the same value: configs, dataset fingerprints, weights' hashes. */
vc_status vc_comm_check_same(vc_comm *c, uint64_t value, const char *what);

void vc_comm_stats_reset(vc_comm *c);

/* The watchdog: a background thread that calls fn(ud, message) when a
 * collective of this rank has waited more than timeout_s seconds ("rank 1 of
 * 2: MPI_Allreduce of 1234 floats waited 600 s; a peer rank hung or
 * died"). fn runs on the watchdog's thread; the caller's fn typically prints
 * the message and exits the process (the launcher then ends the other
 * ranks). timeout_s <= 0 stops watching. Waits inside vc_comm_patient
 * regions are not timed. */
vc_status vc_comm_set_watchdog(vc_comm *c, double timeout_s, void (*fn)(void *ud, const char *msg), void *ud);
/* Collectives between these two calls may wait as long as they need (a
 * rank waiting for rank 0 to finish computing metrics). They nest. */
void vc_comm_patient_begin(vc_comm *c);
void vc_comm_patient_end(vc_comm *c);

/* For implementations: the table of the single comm and a helper that
 * fills a comm struct. */
vc_status vc_comm_wrap(vc_comm **out, const vc_comm_ops *ops, void *impl, int rank, int size);

#endif
