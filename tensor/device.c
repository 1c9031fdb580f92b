/* Device names and opening (device.h). The CUDA part is compiled only in a
 * CUDA-enabled build (VC_CUDA; VC_CUDA_EMU for the emulator). */
#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

#ifdef VC_CUDA
#include "tensor/cuda/cuda_host.h"
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

#ifdef VC_CUDA
/* The cuda backend's TF32 switch (backend_cuda.c). */
void vc_cuda_set_tf32(bool on);

vc_status vc_device_open(const vc_device_spec *d, bool tf32) {
    char nm[32];
    vc_device_spec_name(d, nm, sizeof nm);
    if (d->type == VC_CPU) return VC_OK;
    const vc_backend *be;
    vc_status s = vc_backend_get(d->type, &be);
    if (s) return s;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError(); /* clear it: later calls must not report this one */
        return vc_fail(VC_ERR_DEVICE, "device %s: no CUDA GPU is present (cudaGetDeviceCount: %s)", nm,
                       e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    }
    if (d->index >= count)
        return vc_fail(VC_ERR_DEVICE, "device %s: this machine has %d CUDA GPU%s (cuda:0%s)", nm, count,
                       count == 1 ? "" : "s", count == 1 ? "" : " to cuda:N-1");
    if ((e = cudaSetDevice(d->index)) != cudaSuccess)
        return vc_fail(VC_ERR_DEVICE, "device %s: cudaSetDevice failed: %s", nm, cudaGetErrorString(e));
    vc_cuda_set_tf32(tf32);
    return VC_OK;
}

bool vc_device_cuda_built(void) { return true; }

const char *vc_device_cuda_info(char *buf, size_t n) {
    int rt = 0, count = 0;
    cudaRuntimeGetVersion(&rt);
    if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
    cudaGetLastError();
#ifdef VC_CUDA_EMU
    const char *kind = " (CPU emulator)";
#else
    const char *kind = "";
#endif
    snprintf(buf, n, "built in%s: runtime %d.%d, %d device%s present", kind, rt / 1000, rt % 1000 / 10, count,
             count == 1 ? "" : "s");
    return buf;
}
#else
vc_status vc_device_open(const vc_device_spec *d, bool tf32) {
    (void)tf32;
    if (d->type == VC_CPU) return VC_OK;
    char nm[32];
    return vc_fail(VC_ERR_DEVICE, "device %s: this vclip was built without CUDA (build it where nvcc is found)",
                   vc_device_spec_name(d, nm, sizeof nm));
}

bool vc_device_cuda_built(void) { return false; }

const char *vc_device_cuda_info(char *buf, size_t n) {
    snprintf(buf, n, "not built in (cpu only)");
    return buf;
}
#endif
