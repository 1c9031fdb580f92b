/* k_mem.cu: the kernel behind the CUDA backend's fill entry (the other
 * memory entries are runtime calls in tensor/backend_cuda.c).
 * Owns: p[0..n) = v. */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/kernels.h"

namespace {

__global__ void k_fill(float *p, float v, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        p[i] = v;
}

} // namespace

/* p [n] */
extern "C" void vc_cu_fill(vc_real *p, vc_real v, int64_t n) {
    if (n <= 0) return;
    long long blocks = (n + 255) / 256;
    if (blocks > 4096) blocks = 4096;
    VC_LAUNCH(k_fill, (unsigned)blocks, 256, 0, vc_cu_stream(), p, v, (long long)n);
    vc_cu_launched("fill", "k_fill");
}
