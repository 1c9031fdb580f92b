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

/* ---- batches to the device ---- */
#ifdef VC_HAVE_CUDA
void *vc_device_host_alloc(vc_device d, size_t n) {
    void *p = NULL;
    if (d == VC_CPU) return posix_memalign(&p, 64, n ? n : 1) == 0 ? p : NULL;
    if (cudaHostAlloc(&p, n ? n : 1, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}

void vc_device_host_free(vc_device d, void *p) {
    if (!p) return;
    if (d == VC_CPU) free(p);
    else cudaFreeHost(p);
}

struct vc_uploader {
    vc_device d;
    cudaStream_t copy;
    cudaEvent_t done[2];
    void *buf[2][VC_UPLOAD_MAX];
    size_t cap[2][VC_UPLOAD_MAX];
    int n, next;     /* buffers of the last start; the set the next start fills */
    bool pending;
};

vc_status vc_uploader_open(vc_uploader **out, vc_device d) {
    *out = NULL;
    if (d != VC_CUDA) return vc_fail(VC_ERR_UNSUPPORTED, "uploader: device %s copies nothing", vc_device_name(d));
    vc_uploader *u = calloc(1, sizeof *u);
    if (!u) return vc_fail(VC_ERR_OOM, "uploader: out of memory");
    u->d = d;
    cudaError_t e = cudaStreamCreateWithFlags(&u->copy, cudaStreamNonBlocking);
    for (int i = 0; i < 2 && e == cudaSuccess; i++) e = cudaEventCreateWithFlags(&u->done[i], cudaEventDisableTiming);
    if (e != cudaSuccess) {
        vc_uploader_close(u);
        return cu_fail(e, "cudaStreamCreate (the copy stream)");
    }
    *out = u;
    return VC_OK;
}

vc_status vc_uploader_start(vc_uploader *u, int n, const void *const *src, const size_t *bytes) {
    if (n < 1 || n > VC_UPLOAD_MAX) return vc_fail(VC_ERR_ARG, "uploader: %d buffers (1..%d)", n, VC_UPLOAD_MAX);
    int k = u->next;
    /* the set's previous copies were read by a step that has finished (each
     * step waits for its results), so it may be overwritten */
    for (int i = 0; i < n; i++) {
        if (bytes[i] > u->cap[k][i]) {
            if (u->buf[k][i]) cudaFree(u->buf[k][i]);
            u->buf[k][i] = NULL;
            u->cap[k][i] = 0;
            if (cudaMalloc(&u->buf[k][i], bytes[i]) != cudaSuccess) {
                cudaGetLastError();
                return vc_fail(VC_ERR_OOM, "uploader: cannot allocate %zu bytes on the device", bytes[i]);
            }
            u->cap[k][i] = bytes[i];
        }
        cudaError_t e = cudaMemcpyAsync(u->buf[k][i], src[i], bytes[i], cudaMemcpyHostToDevice, u->copy);
        if (e != cudaSuccess) return cu_fail(e, "cudaMemcpyAsync (a batch to the device)");
    }
    cudaError_t e = cudaEventRecord(u->done[k], u->copy);
    if (e != cudaSuccess) return cu_fail(e, "cudaEventRecord");
    u->n = n;
    u->pending = true;
    u->next = 1 - k;
    return VC_OK;
}

vc_status vc_uploader_take(vc_uploader *u, void **dst) {
    if (!u->pending) return vc_fail(VC_ERR_ARG, "uploader: nothing was started");
    int k = 1 - u->next;
    cudaError_t e = cudaStreamWaitEvent(vc_cu_stream(), u->done[k], 0);
    if (e != cudaSuccess) return cu_fail(e, "cudaStreamWaitEvent");
    for (int i = 0; i < u->n; i++) dst[i] = u->buf[k][i];
    u->pending = false;
    return VC_OK;
}

void vc_uploader_wait(vc_uploader *u) {
    if (u && u->copy && cudaStreamSynchronize(u->copy) != cudaSuccess) cudaGetLastError();
}

void vc_uploader_close(vc_uploader *u) {
    if (!u) return;
    if (u->copy) cudaStreamSynchronize(u->copy);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < VC_UPLOAD_MAX; i++)
            if (u->buf[k][i]) cudaFree(u->buf[k][i]);
        if (u->done[k]) cudaEventDestroy(u->done[k]);
    }
    if (u->copy) cudaStreamDestroy(u->copy);
    cudaGetLastError();
    free(u);
}
#else
void *vc_device_host_alloc(vc_device d, size_t n) {
    (void)d;
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 1) == 0 ? p : NULL;
}
void vc_device_host_free(vc_device d, void *p) {
    (void)d;
    free(p);
}
struct vc_uploader {
    int unused;
};
vc_status vc_uploader_open(vc_uploader **u, vc_device d) {
    *u = NULL;
    return vc_fail(VC_ERR_UNSUPPORTED, "uploader: device %s has none in this build", vc_device_name(d));
}
vc_status vc_uploader_start(vc_uploader *u, int n, const void *const *src, const size_t *bytes) {
    (void)u, (void)n, (void)src, (void)bytes;
    return vc_fail(VC_ERR_UNSUPPORTED, "uploader: not in this build");
}
vc_status vc_uploader_take(vc_uploader *u, void **dst) {
    (void)u, (void)dst;
    return vc_fail(VC_ERR_UNSUPPORTED, "uploader: not in this build");
}
void vc_uploader_wait(vc_uploader *u) { (void)u; }
void vc_uploader_close(vc_uploader *u) { (void)u; }
#endif
