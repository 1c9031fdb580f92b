/* Device names and opening (device.h); the CUDA controls are the cuda
 * backend's (backend_cuda.h), which say so in a build without CUDA. */
#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#include "backend_cuda.h"

#ifdef VC_HAVE_CUDA
#include "cuda/kernels.h"
#endif

vc_status vc_device_parse(const char *text, vc_device_spec *out) {
    out->type = VC_CPU;
    out->index = 0;
    if (!text) text = "";
    if (strcmp(text, "cpu") == 0) return VC_OK;
    if (strncmp(text, "cuda", 4) == 0 && (text[4] == '\0' || text[4] == ':')) {
        out->type = VC_CUDA;
        if (!text[4]) return VC_OK;
        char *end = NULL;
        const char *num = text + 5;
        long v = (*num >= '0' && *num <= '9') ? strtol(num, &end, 10) : -1;
        if (v >= 0 && v < 1024 && end && !*end) {
            out->index = (int)v;
            return VC_OK;
        }
    }
    return vc_fail(VC_ERR_ARG, "device '%s': expected cpu, cuda or cuda:N", text);
}

const char *vc_device_spec_name(const vc_device_spec *d, char *buf, size_t n) {
    if (d->type == VC_CUDA) snprintf(buf, n, "cuda:%d", d->index);
    else snprintf(buf, n, "%s", vc_device_name(d->type));
    return buf;
}

vc_status vc_device_require(vc_device d, const int *ops, int n, const char *what) {
    const vc_backend *be;
    vc_status s = vc_backend_get(d, &be);
    if (s) return s;
    for (int i = 0; i < n; i++)
        if (!be->supports_op || !be->supports_op((vc_kop)ops[i]))
            return vc_fail(VC_ERR_DEVICE, "device %s: this build's %s backend has no %s kernel (%s needs it)",
                           vc_device_name(d), be->name, vc_kop_name((vc_kop)ops[i]), what);
    return VC_OK;
}

/* Everything but the CLIP towers' input embeddings and the ranking kernels
 * (evaluation ranks on the host's copy of the scores). */
const int vc_train_kernels[] = {
    VC_K_GEMM, VC_K_GEMM_BATCHED, VC_K_LAYERNORM_FWD, VC_K_LAYERNORM_BWD, VC_K_L2NORM_FWD, VC_K_L2NORM_BWD,
    VC_K_SOFTMAX_FWD, VC_K_SOFTMAX_BWD, VC_K_XENT_FWD, VC_K_XENT_BWD, VC_K_ATTENTION_FWD, VC_K_ATTENTION_BWD,
    VC_K_LSTM_FWD, VC_K_LSTM_BWD, VC_K_UNARY_FWD, VC_K_UNARY_BWD, VC_K_UNARY_BWD_INPLACE, VC_K_SCALE, VC_K_AXPBY,
    VC_K_BINARY_FWD, VC_K_BINARY_BWD, VC_K_SUM_FWD, VC_K_SUM_BWD, VC_K_WSUM_FWD, VC_K_WSUM_BWD, VC_K_BIAS_FWD,
    VC_K_BIAS_BWD, VC_K_STRIDED_COPY, VC_K_SLAB_COPY, VC_K_GATHER_FWD, VC_K_GATHER_BWD, VC_K_DROPOUT_FWD,
    VC_K_DROPOUT_BWD, VC_K_ADAMW, VC_K_GLOBAL_NORM, VC_K_CLIP_SCALE,
};
const int vc_train_kernels_n = (int)(sizeof vc_train_kernels / sizeof vc_train_kernels[0]);

vc_status vc_device_open(const vc_device_spec *d, bool tf32) {
    if (d->type == VC_CPU) return VC_OK;
    char nm[32];
    vc_device_spec_name(d, nm, sizeof nm);
    if (!vc_cuda_built())
        return vc_fail(VC_ERR_DEVICE, "device %s: this vclip was built without CUDA (build it where nvcc is found)", nm);
#ifdef VC_HAVE_CUDA
    /* asked every time (the backend keeps the device it opened once) */
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        return vc_fail(VC_ERR_DEVICE, "device %s: no CUDA GPU is present (cudaGetDeviceCount: %s)", nm,
                       e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
#endif
    vc_status s = vc_cuda_select(d->index);
    if (!s) s = vc_cuda_set_tf32(tf32);
    if (s) {
        char msg[320];
        snprintf(msg, sizeof msg, "%s", vc_last_error());
        return vc_fail(VC_ERR_DEVICE, "device %s: %s", nm, msg);
    }
    return VC_OK;
}

bool vc_device_cuda_built(void) { return vc_cuda_built(); }

const char *vc_device_cuda_info(char *buf, size_t n) {
    if (!vc_cuda_built()) snprintf(buf, n, "not built in (cpu only)");
#ifdef VC_CUDA_EMU
    else snprintf(buf, n, "built in (the CPU emulator: tensor/cuda/README.md)");
#else
    else snprintf(buf, n, "built in (cudart and cuBLAS; `[train] device = cuda` or --device cuda)");
#endif
    return buf;
}

#ifdef VC_HAVE_CUDA
struct vc_graph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    size_t nodes;
};

static vc_status cu_fail(cudaError_t e, const char *call) {
    cudaGetLastError();
    return vc_fail(VC_ERR_DEVICE, "cuda graph: %s failed: %s", call, cudaGetErrorString(e));
}

vc_status vc_graph_begin(vc_device d) {
    if (d != VC_CUDA) return vc_fail(VC_ERR_UNSUPPORTED, "graphs: device %s has none", vc_device_name(d));
    cudaStream_t st = vc_cu_stream();
    cudaError_t e = cudaStreamSynchronize(st);
    if (e == cudaSuccess) e = cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed);
    return e == cudaSuccess ? VC_OK : cu_fail(e, "cudaStreamBeginCapture");
}

vc_status vc_graph_end(vc_device d, vc_graph **out) {
    *out = NULL;
    if (d != VC_CUDA) return vc_fail(VC_ERR_UNSUPPORTED, "graphs: device %s has none", vc_device_name(d));
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(vc_cu_stream(), &g);
    if (e != cudaSuccess) return cu_fail(e, "cudaStreamEndCapture");
    vc_graph *r = calloc(1, sizeof *r);
    if (!r) {
        cudaGraphDestroy(g);
        return vc_fail(VC_ERR_OOM, "cuda graph: out of memory");
    }
    r->graph = g;
    if ((e = cudaGraphGetNodes(g, NULL, &r->nodes)) != cudaSuccess ||
        (e = cudaGraphInstantiate(&r->exec, g, 0)) != cudaSuccess) {
        cudaGraphDestroy(g);
        free(r);
        return cu_fail(e, "cudaGraphInstantiate");
    }
    *out = r;
    return VC_OK;
}

vc_status vc_graph_launch(vc_graph *g) {
    cudaError_t e = cudaGraphLaunch(g->exec, vc_cu_stream());
    return e == cudaSuccess ? VC_OK : cu_fail(e, "cudaGraphLaunch");
}

size_t vc_graph_nodes(const vc_graph *g) { return g ? g->nodes : 0; }

void vc_graph_free(vc_graph *g) {
    if (!g) return;
    cudaGraphExecDestroy(g->exec);
    cudaGraphDestroy(g->graph);
    free(g);
}

void vc_device_upload_now(vc_device d, void *dst, const void *src, size_t n) {
    if (d == VC_CPU || !n) {
        if (n) memcpy(dst, src, n);
        return;
    }
    /* the legacy stream: the vclip stream (non-blocking) may be capturing */
    if (cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice) != cudaSuccess) vc_backend_for(d)->copy_h2d(dst, src, n);
}
#else
struct vc_graph {
    int unused;
};
static vc_status no_graphs(vc_device d) {
    return vc_fail(VC_ERR_UNSUPPORTED, "graphs: device %s has none in this build", vc_device_name(d));
}
vc_status vc_graph_begin(vc_device d) { return no_graphs(d); }
vc_status vc_graph_end(vc_device d, vc_graph **out) {
    *out = NULL;
    return no_graphs(d);
}
vc_status vc_graph_launch(vc_graph *g) {
    (void)g;
    return no_graphs(VC_CPU);
}
size_t vc_graph_nodes(const vc_graph *g) {
    (void)g;
    return 0;
}
void vc_graph_free(vc_graph *g) { (void)g; }
void vc_device_upload_now(vc_device d, void *dst, const void *src, size_t n) {
    if (n) vc_backend_for(d)->copy_h2d(dst, src, n);
}
#endif
