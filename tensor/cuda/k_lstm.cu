/* k_lstm.cu: the one-layer LSTM over a padded batch, forward and backward
 * through time (tensor/k_lstm.c's counterpart: PyTorch gate order i, f, g,
 * o, zero initial state, rows stop at len[b]; same saved tensors).
 * Owns: the input projection of every step as one cuBLAS GEMM, then per
 * step the recurrent GEMM (h_{t-1} w_hh^T added into that step's gates)
 * and one fused kernel applying the gates for every (b, j); backward per
 * step the fused gate-gradient kernel and the GEMM carrying dh to t-1.
 *   x [B, T, D], w_ih [4H, D], w_hh [4H, H], bias [4H]
 *   gates [B, T, 4H] (activated), c, h [B, T, H]
 * Scratch (backward): dh and dc carried between steps, 2*B*H floats.
 * Not here: the weight and input gradients (GEMMs by the caller, op_lstm.c). */
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/cu_compat.h"

namespace {

__device__ __forceinline__ float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

unsigned grid_for(long long n) {
    long long b = (n + 127) / 128;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

/* Step t for every (b, j): gates pre-activations (with the bias) in,
 * activations out; c_t, h_t. Past len[b]: zero gates and output, frozen c. */
__global__ void k_lstm_cell_fwd(float *gates, const float *bias, float *c, float *h, const int64_t *len, long long B,
                                long long T, long long H, long long t) {
    long long G = 4 * H;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < B * H;
         e += (long long)gridDim.x * blockDim.x) {
        long long b = e / H, j = e % H;
        float *a = gates + (b * T + t) * G;
        float *ct = c + (b * T + t) * H, *ht = h + (b * T + t) * H;
        if (len && t >= (long long)len[b]) {
            a[j] = a[H + j] = a[2 * H + j] = a[3 * H + j] = 0.0f;
            ct[j] = t > 0 ? ct[j - H] : 0.0f;
            ht[j] = 0.0f;
            continue;
        }
        float i = sigm(a[j] + bias[j]), f = sigm(a[H + j] + bias[H + j]);
        float g = tanhf(a[2 * H + j] + bias[2 * H + j]), o = sigm(a[3 * H + j] + bias[3 * H + j]);
        a[j] = i;
        a[H + j] = f;
        a[2 * H + j] = g;
        a[3 * H + j] = o;
        float cv = i * g + (t > 0 ? f * ct[j - H] : 0.0f);
        ct[j] = cv;
        ht[j] = o * tanhf(cv);
    }
}

/* Gate gradients dA_t of every (b, j); dhn (dh from t+1, by the GEMM) in,
 * dcn (dc from t+1) in and out. */
__global__ void k_lstm_cell_bwd(const float *gates, const float *c, const float *dh, float *dA, const float *dhn,
                                float *dcn, const int64_t *len, long long B, long long T, long long H, long long t) {
    long long G = 4 * H;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < B * H;
         e += (long long)gridDim.x * blockDim.x) {
        long long b = e / H, j = e % H;
        float *da = dA + (b * T + t) * G;
        if (len && t >= (long long)len[b]) {
            da[j] = da[H + j] = da[2 * H + j] = da[3 * H + j] = 0.0f;
            continue;
        }
        const float *a = gates + (b * T + t) * G, *ct = c + (b * T + t) * H;
        float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
        float tc = tanhf(ct[j]);
        float dhv = dh[(b * T + t) * H + j] + dhn[b * H + j];
        float dc = dhv * o * (1.0f - tc * tc) + dcn[b * H + j];
        da[j] = dc * g * i * (1.0f - i);
        da[H + j] = (t > 0 ? dc * ct[j - H] : 0.0f) * f * (1.0f - f);
        da[2 * H + j] = dc * i * (1.0f - g * g);
        da[3 * H + j] = dhv * tc * o * (1.0f - o);
        dcn[b * H + j] = dc * f;
    }
}

/* hprev [B, T, H] = h shifted one step later, zeros at t = 0 */
__global__ void k_lstm_hprev(const float *h, float *hprev, long long B, long long T, long long H) {
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < B * T * H;
         e += (long long)gridDim.x * blockDim.x) {
        long long t = e / H % T;
        hprev[e] = t == 0 ? 0.0f : h[e - H];
    }
}

} // namespace

extern "C" size_t vc_cu_lstm_bwd_scratch(const vc_lstm_dims *d) { return (size_t)(2 * d->B * d->H) * sizeof(float); }

extern "C" void vc_cu_lstm_fwd(const vc_lstm_dims *d, const vc_real *x, const vc_real *w_ih, const vc_real *w_hh,
                               const vc_real *bias, vc_real *gates, vc_real *c, vc_real *h) {
    long long B = d->B, T = d->T, D = d->D, H = d->H, G = 4 * H;
    if (B * T * H == 0) return;
    const char *op = "lstm_fwd";
    /* every step's input projection: gates = x w_ih^T (the bias joins in the cell kernel) */
    if (!vc_cu_gemm_rm(op, 1, false, true, B * T, G, D, 1.0f, x, D, 0, w_ih, D, 0, 0.0f, gates, G, 0)) return;
    for (long long t = 0; t < T; t++) {
        /* gates_t += h_{t-1} w_hh^T  (rows b*T + t, stride T*G) */
        if (t > 0 &&
            !vc_cu_gemm_rm(op, 1, false, true, B, G, H, 1.0f, h + (t - 1) * H, T * H, 0, w_hh, H, 0, 1.0f,
                           gates + t * G, T * G, 0))
            return;
        VC_LAUNCH(k_lstm_cell_fwd, grid_for(B * H), 128, 0, vc_cu_stream(), gates, bias, c, h, d->len, B, T, H, t);
        if (!vc_cu_launched(op, "k_lstm_cell_fwd")) return;
    }
}

/* dh [B, T, H] in; dA [B, T, 4H] and hprev [B, T, H] (may be NULL) out;
 * scratch: vc_cu_lstm_bwd_scratch(d) bytes */
extern "C" void vc_cu_lstm_bwd(const vc_lstm_dims *d, const vc_real *gates, const vc_real *c, const vc_real *h,
                               const vc_real *w_hh, const vc_real *dh, vc_real *dA, vc_real *hprev, void *scratch) {
    long long B = d->B, T = d->T, H = d->H, G = 4 * H;
    if (B * T * H == 0) return;
    const char *op = "lstm_bwd";
    cudaStream_t s = vc_cu_stream();
    if (hprev) {
        VC_LAUNCH(k_lstm_hprev, grid_for(B * T * H), 128, 0, s, h, hprev, B, T, H);
        if (!vc_cu_launched(op, "k_lstm_hprev")) return;
    }
    float *dhn = static_cast<float *>(scratch), *dcn = dhn + B * H;
    if (!vc_cu_check(cudaMemsetAsync(scratch, 0, (size_t)(2 * B * H) * sizeof(float), s), op, "cudaMemsetAsync"))
        return;
    for (long long t = T - 1; t >= 0; t--) {
        VC_LAUNCH(k_lstm_cell_bwd, grid_for(B * H), 128, 0, s, gates, c, dh, dA, dhn, dcn, d->len, B, T, H, t);
        if (!vc_cu_launched(op, "k_lstm_cell_bwd")) return;
        /* dh_next = dA_t w_hh  [B, H] */
        if (t > 0 && !vc_cu_gemm_rm(op, 1, false, false, B, H, G, 1.0f, dA + t * G, T * G, 0, w_hh, H, 0, 0.0f, dhn, H, 0))
            return;
    }
}
