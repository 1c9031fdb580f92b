/* nccl_emu_worker: the NCCL comm (tensor/comm_nccl.c) on the CPU-emulated
 * CUDA runtime with NCCL emulated over MPI (tensor/cuda/emu_nccl.c), run by
 * tests/test_dist.c as `mpirun -np 3 nccl_emu_worker`. Each rank checks the
 * float collectives on cudaMalloc'd buffers against their closed forms and,
 * bit for bit, against the MPI comm on host copies of the same data (the
 * gradient all-reduce of training); the host collectives through the
 * bootstrap comm; and that the emulator refuses a call on a capturing
 * stream. Prints "rank R of N: comm nccl ... checked" and exits 0, or names
 * what failed and exits 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/comm.h"
#include "tensor/cuda/cuda_host.h"
#include "tensor/cuda/nccl_host.h"
#include "tensor/rng.h"

static int bad;
static int me;
#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "rank %d: line %d: ", me, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                 \
            fputc('\n', stderr);                          \
            bad = 1;                                      \
        }                                                 \
    } while (0)

static vc_real *dev(const vc_real *host, int64_t n) {
    vc_real *d = NULL;
    if (cudaMalloc((void **)&d, (size_t)n * sizeof *d) != cudaSuccess) return NULL;
    if (host) cudaMemcpy(d, host, (size_t)n * sizeof *d, cudaMemcpyHostToDevice);
    return d;
}

static void back(vc_real *host, const vc_real *d, int64_t n) {
    cudaMemcpy(host, d, (size_t)n * sizeof *host, cudaMemcpyDeviceToHost);
}

int main(void) {
    vc_comm *mpi = NULL, *nc = NULL;
    if (vc_comm_mpi_open(&mpi)) {
        fprintf(stderr, "mpi: %s\n", vc_last_error());
        return 1;
    }
    me = mpi->rank;
    if (vc_comm_nccl_open(&nc, mpi, 0)) {
        fprintf(stderr, "rank %d: nccl: %s\n", me, vc_last_error());
        return 1;
    }
    int R = nc->size, r = nc->rank;
    CHECK(strcmp(nc->ops->name, "nccl") == 0 && nc->ops->device == VC_CUDA && R == mpi->size && r == me,
          "comm %s of size %d", nc->ops->name, R);

    /* all-reduce of a gradient-sized buffer of random values: the same bits
     * as the MPI comm's on host memory */
    const int64_t n = 100003;
    vc_real *h = malloc((size_t)n * sizeof *h), *ref = malloc((size_t)n * sizeof *ref), *got = malloc((size_t)n * sizeof *got);
    vc_rng rng;
    vc_rng_seed(&rng, 100 + (uint64_t)r);
    for (int64_t i = 0; i < n; i++) h[i] = ref[i] = (vc_real)vc_rng_normal(&rng);
    vc_real *d = dev(h, n);
    CHECK(d != NULL, "cudaMalloc");
    CHECK(vc_comm_allreduce_sum(nc, d, n) == VC_OK, "%s", vc_last_error());
    CHECK(vc_comm_allreduce_sum(mpi, ref, n) == VC_OK, "%s", vc_last_error());
    back(got, d, n);
    CHECK(memcmp(got, ref, (size_t)n * sizeof *got) == 0, "the NCCL all-reduce differs from the MPI one");
    cudaFree(d);

    /* all-gather, also in place, and reduce-scatter, against closed forms */
    vc_real send[5], all[5 * 8], out[4];
    for (int i = 0; i < 5; i++) send[i] = (vc_real)(r * 10 + i);
    vc_real *ds = dev(send, 5), *da = dev(NULL, 5 * R);
    CHECK(vc_comm_allgather(nc, ds, 5, da) == VC_OK, "%s", vc_last_error());
    back(all, da, 5 * R);
    for (int i = 0; i < 5 * R; i++) CHECK(all[i] == (vc_real)(i / 5 * 10 + i % 5), "allgather[%d] = %g", i, all[i]);
    cudaMemset(da, 0, (size_t)(5 * R) * sizeof(vc_real));
    cudaMemcpy(da + 5 * r, send, sizeof send, cudaMemcpyHostToDevice);
    CHECK(vc_comm_allgather(nc, da + 5 * r, 5, da) == VC_OK, "%s", vc_last_error());
    back(all, da, 5 * R);
    for (int i = 0; i < 5 * R; i++) CHECK(all[i] == (vc_real)(i / 5 * 10 + i % 5), "in-place allgather[%d] = %g", i, all[i]);
    vc_real rs[4 * 8];
    for (int q = 0; q < R; q++)
        for (int i = 0; i < 4; i++) rs[q * 4 + i] = (vc_real)(r + q * 100 + i);
    vc_real *drs = dev(rs, 4 * R), *dout = dev(NULL, 4);
    CHECK(vc_comm_reduce_scatter_sum(nc, drs, 4, dout) == VC_OK, "%s", vc_last_error());
    back(out, dout, 4);
    for (int i = 0; i < 4; i++)
        CHECK(out[i] == (vc_real)(R * (R - 1) / 2 + R * (r * 100 + i)), "reduce_scatter[%d] = %g", i, out[i]);
    cudaFree(ds);
    cudaFree(da);
    cudaFree(drs);
    cudaFree(dout);

    /* host collectives go through the bootstrap comm */
    char word[8] = "";
    if (r == R - 1) snprintf(word, sizeof word, "nccl");
    CHECK(vc_comm_broadcast(nc, word, sizeof word, R - 1) == VC_OK && strcmp(word, "nccl") == 0, "broadcast '%s'", word);
    vc_status st = r == 1 ? vc_fail(VC_ERR_DEVICE, "GPU on fire") : VC_OK;
    CHECK(vc_comm_agree(nc, st) == VC_ERR_DEVICE, "agree");
    CHECK(vc_comm_check_same(nc, 9, "weights") == VC_OK, "check_same");
    CHECK(nc->stats.allreduce_bytes == n * (int64_t)sizeof(vc_real), "byte counter %lld", (long long)nc->stats.allreduce_bytes);

    /* the asynchronous all-reduce (the gradient buckets): the comm has its
     * own table, two pieces of a buffer in flight at once with a blocking
     * all-gather between them, then test and wait; the sums are the MPI
     * comm's bit for bit */
    CHECK(nc->async != NULL, "the nccl comm has no asynchronous all-reduce");
    const int64_t na = 1000, cut = 400;
    vc_real *ha = malloc((size_t)na * sizeof *ha), *ra = malloc((size_t)na * sizeof *ra);
    for (int64_t i = 0; i < na; i++) ha[i] = ra[i] = (vc_real)vc_rng_normal(&rng);
    vc_real *dab = dev(ha, na), *dg = dev(NULL, 5 * R), *dsend = dev(send, 5);
    vc_comm_req q0, q1;
    CHECK(vc_comm_iallreduce_sum(nc, dab + cut, na - cut, &q0) == VC_OK, "%s", vc_last_error());
    CHECK(vc_comm_allgather(nc, dsend, 5, dg) == VC_OK, "%s", vc_last_error());
    CHECK(vc_comm_iallreduce_sum(nc, dab, cut, &q1) == VC_OK, "%s", vc_last_error());
    CHECK(q0.active && q1.active, "the requests are not in flight");
    bool done0 = false;
    CHECK(vc_comm_test(nc, &q0, &done0) == VC_OK, "%s", vc_last_error());
    CHECK(vc_comm_wait(nc, &q0) == VC_OK && vc_comm_wait(nc, &q1) == VC_OK, "%s", vc_last_error());
    CHECK(!q0.active && !q1.active, "requests still active after the wait");
    CHECK(vc_comm_allreduce_sum(mpi, ra, na) == VC_OK, "%s", vc_last_error());
    back(ha, dab, na);
    CHECK(memcmp(ha, ra, (size_t)na * sizeof *ha) == 0, "the asynchronous NCCL all-reduce differs from the MPI one");
    back(all, dg, 5 * R);
    for (int i = 0; i < 5 * R; i++) CHECK(all[i] == (vc_real)(i / 5 * 10 + i % 5), "allgather in between [%d] = %g", i, all[i]);
    CHECK(nc->stats.allreduce_bytes == (n + na) * (int64_t)sizeof(vc_real), "byte counter %lld",
          (long long)nc->stats.allreduce_bytes);
    cudaFree(dab);
    cudaFree(dg);
    cudaFree(dsend);
    free(ha);
    free(ra);

    /* the emulated API directly: a second communicator from an id rank 0
     * shares; a call on a capturing stream is refused (the emulator cannot
     * put an NCCL call into a graph) before anything is sent */
    int ver = 0;
    CHECK(ncclGetVersion(&ver) == ncclSuccess && ver == NCCL_VERSION_CODE, "version %d", ver);
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (r == 0) ncclGetUniqueId(&id);
    vc_comm_broadcast(mpi, &id, sizeof id, 0);
    ncclComm_t c2 = NULL;
    CHECK(ncclCommInitRank(&c2, R, id, r) == ncclSuccess, "ncclCommInitRank");
    int cnt = 0, ur = -1;
    CHECK(ncclCommCount(c2, &cnt) == ncclSuccess && cnt == R && ncclCommUserRank(c2, &ur) == ncclSuccess && ur == r,
          "count %d rank %d", cnt, ur);
    cudaStream_t s;
    cudaStreamCreate(&s);
    vc_real *dx = dev(send, 5);
    if (cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess) {
        ncclResult_t rr = ncclAllReduce(dx, dx, 5, ncclFloat, ncclSum, c2, s);
        CHECK(rr == ncclInvalidUsage, "an all-reduce on a capturing stream gave %d", (int)rr);
        CHECK(strstr(ncclGetLastError(c2), "graph") != NULL, "last error '%s'", ncclGetLastError(c2));
        cudaGraph_t g = NULL;
        cudaStreamEndCapture(s, &g);
        if (g) cudaGraphDestroy(g);
    } else {
        CHECK(0, "cudaStreamBeginCapture failed");
    }
    ncclCommDestroy(c2);
    cudaFree(dx);
    cudaStreamDestroy(s);

    printf("rank %d of %d: comm nccl (%s) collectives checked%s\n", r, R, vc_comm_nccl_version(), bad ? " (FAILED)" : "");
    free(h);
    free(ref);
    free(got);
    vc_comm_close(nc);
    vc_comm_close(mpi);
    return bad;
}
