/* nccl_smoke: a 1-rank NCCL smoke test for a machine with a GPU (make
 * nccl-check builds it against the toolkit as build/nvcc/nccl_smoke; run it
 * there, e.g. from a GPU check script). It opens the NCCL comm of
 * tensor/comm_nccl.c over the single-process comm on device 0 and runs each
 * float collective on device memory: with one rank each must give back its
 * input. Prints one line and exits 0, or names the failure and exits 1. */
#include <stdio.h>
#include <string.h>

#include "tensor/comm.h"
#include "tensor/cuda/cuda_host.h"

int main(void) {
    vc_comm *one, *nc;
    if (vc_comm_single(&one) || vc_comm_nccl_open(&nc, one, 0)) {
        fprintf(stderr, "nccl smoke: %s\n", vc_last_error());
        return 1;
    }
    enum { N = 4096 };
    static vc_real h[N], g[N];
    for (int i = 0; i < N; i++) h[i] = (vc_real)(i % 97) * 0.5f;
    vc_real *a = NULL, *b = NULL;
    if (cudaMalloc((void **)&a, sizeof h) != cudaSuccess || cudaMalloc((void **)&b, sizeof h) != cudaSuccess) {
        fprintf(stderr, "nccl smoke: cudaMalloc failed\n");
        return 1;
    }
    cudaMemcpy(a, h, sizeof h, cudaMemcpyHostToDevice);
    const char *what[3] = {"all-reduce", "all-gather", "reduce-scatter"};
    for (int k = 0; k < 3; k++) {
        cudaMemset(b, 0, sizeof h);
        vc_status s = k == 0 ? (cudaMemcpy(b, a, sizeof h, cudaMemcpyDeviceToDevice), vc_comm_allreduce_sum(nc, b, N))
                      : k == 1 ? vc_comm_allgather(nc, a, N, b)
                               : vc_comm_reduce_scatter_sum(nc, a, N, b);
        cudaMemcpy(g, b, sizeof g, cudaMemcpyDeviceToHost);
        if (s || memcmp(g, h, sizeof h) != 0) {
            fprintf(stderr, "nccl smoke: %s: %s\n", what[k], s ? vc_last_error() : "the result differs from the input");
            return 1;
        }
    }
    struct cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("nccl smoke: %s on %s: all-reduce, all-gather and reduce-scatter of %d floats on 1 rank ok\n",
           vc_comm_nccl_version(), p.name, N);
    cudaFree(a);
    cudaFree(b);
    vc_comm_close(nc);
    vc_comm_close(one);
    return 0;
}
