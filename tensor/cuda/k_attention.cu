/* k_attention.cu: multi-head scaled dot-product attention over packed
 * projections, forward and backward (tensor/k_attention.c's counterpart:
 * same vc_attn_dims, same saved probabilities P [B, H, Tq, Tk]).
 * Owns: the products as cuBLAS strided batched GEMMs, batched over the
 * heads of one batch entry (or over the batch for one head, whichever
 * makes fewer calls; a head's columns are dh apart, a batch entry's rows
 * qbs/kbs/vbs apart, so each is one stride), and the masked softmax and
 * its backward as one block per row of P. A broadcast operand (batch
 * stride 0) adds its batch entries one after another into its gradient.
 * Every sum has a fixed order: the same bits every run.
 * Scratch: dP / dS for every (b, h), B*H*Tq*Tk floats.
 * Not here: the table (backend_cuda.c). */
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"

namespace {

/* C_{b,h} = alpha op(A_{b,h}) op(B_{b,h}) + beta C_{b,h} for every pair,
 * where X_{b,h} = X + b*sXb + h*sXh. */
bool bh_gemm(const char *op, long long B, long long H, bool ta, bool tb, long long M, long long N, long long K,
             float alpha, const float *A, long long lda, long long sab, long long sah, const float *Bm, long long ldb,
             long long sbb, long long sbh, float beta, float *C, long long ldc, long long scb, long long sch) {
    if (B <= H) {
        for (long long b = 0; b < B; b++)
            if (!vc_cu_gemm_rm(op, H, ta, tb, M, N, K, alpha, A + b * sab, lda, sah, Bm + b * sbb, ldb, sbh, beta,
                               C + b * scb, ldc, sch))
                return false;
    } else {
        for (long long h = 0; h < H; h++)
            if (!vc_cu_gemm_rm(op, B, ta, tb, M, N, K, alpha, A + h * sah, lda, sab, Bm + h * sbh, ldb, sbb, beta,
                               C + h * sch, ldc, scb))
                return false;
    }
    return true;
}

/* Row r = (b*H + h)*Tq + i of P: scores in, probabilities out. */
__global__ void k_attn_softmax(float *P, long long H, long long Tq, long long Tk, const int64_t *klen, bool causal) {
    VC_SHARED(float, sh, [32]);
    long long r = blockIdx.x, i = r % Tq, b = r / Tq / H;
    float *row = P + r * Tk;
    long long valid = klen ? (long long)klen[b] : Tk;
    float mx = -INFINITY;
    for (long long j = threadIdx.x; j < Tk; j += blockDim.x) {
        if (j >= valid || (causal && j > i)) row[j] = -INFINITY;
        mx = fmaxf(mx, row[j]);
    }
    mx = vc_block_max(mx, sh);
    if (mx == -INFINITY) { /* every key masked: P = 0, so O = 0 */
        for (long long j = threadIdx.x; j < Tk; j += blockDim.x) row[j] = 0.0f;
    } else {
        float s = 0.0f;
        for (long long j = threadIdx.x; j < Tk; j += blockDim.x) {
            float e = expf(row[j] - mx);
            row[j] = e;
            s += e;
        }
        float inv = 1.0f / vc_block_sum(s, sh);
        for (long long j = threadIdx.x; j < Tk; j += blockDim.x) row[j] *= inv;
    }
}

/* dS = P (dP - rowsum(dP P)) * scale, in place over dP */
__global__ void k_attn_softmax_bwd(const float *P, float *ds, long long Tk, float scale) {
    VC_SHARED(float, sh, [32]);
    const float *pr = P + (long long)blockIdx.x * Tk;
    float *r = ds + (long long)blockIdx.x * Tk;
    float dot = 0.0f;
    for (long long j = threadIdx.x; j < Tk; j += blockDim.x) dot += r[j] * pr[j];
    dot = vc_block_sum(dot, sh);
    for (long long j = threadIdx.x; j < Tk; j += blockDim.x) r[j] = pr[j] * (r[j] - dot) * scale;
}

} // namespace

extern "C" size_t vc_cu_attention_bwd_scratch(const vc_attn_dims *d) {
    return (size_t)(d->B * d->H * d->Tq * d->Tk) * sizeof(float);
}

/* Q, K, V packed (see vc_attn_dims); P [B, H, Tq, Tk]; O [B, Tq, H*dh] */
extern "C" void vc_cu_attention_fwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V,
                                    vc_real *P, vc_real *O) {
    long long B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk, dh = d->dh, ldo = H * dh, sp = Tq * Tk;
    if (B * H * Tq == 0) return;
    const char *op = "attention_fwd";
    /* S = scale q k^T  [Tq, Tk] per (b, h) */
    if (!bh_gemm(op, B, H, false, true, Tq, Tk, dh, d->scale, Q + d->qoff, d->ldq, d->qbs, dh, K + d->koff, d->ldk,
                 d->kbs, dh, 0.0f, P, Tk, H * sp, sp))
        return;
    if (Tk > 0) {
        VC_LAUNCH(k_attn_softmax, (unsigned)(B * H * Tq), vc_cu_row_threads(Tk), 0, vc_cu_stream(), P, H, Tq, Tk,
                  d->klen, d->causal);
        if (!vc_cu_launched(op, "k_attn_softmax")) return;
    }
    /* O_h = P v  [Tq, dh] into columns h*dh of O */
    bh_gemm(op, B, H, false, false, Tq, dh, Tk, 1.0f, P, Tk, H * sp, sp, V + d->voff, d->ldv, d->vbs, dh, 0.0f, O, ldo,
            Tq * ldo, dh);
}

/* dQ, dK, dV (each may be NULL) in the layouts of Q, K, V, written with
 * betas bq, bk, bv; scratch: vc_cu_attention_bwd_scratch(d) bytes */
extern "C" void vc_cu_attention_bwd(const vc_attn_dims *d, const vc_real *Q, const vc_real *K, const vc_real *V,
                                    const vc_real *P, const vc_real *dO, vc_real *dQ, vc_real bq, vc_real *dK,
                                    vc_real bk, vc_real *dV, vc_real bv, void *scratch) {
    long long B = d->B, H = d->H, Tq = d->Tq, Tk = d->Tk, dh = d->dh, ldo = H * dh, sp = Tq * Tk;
    if (B * H == 0) return;
    const char *op = "attention_bwd";
    float *ds = static_cast<float *>(scratch);
    /* dV = P^T dO */
    if (dV && !bh_gemm(op, B, H, true, false, Tk, dh, Tq, 1.0f, P, Tk, H * sp, sp, dO, ldo, Tq * ldo, dh, bv,
                       dV + d->voff, d->ldv, d->vbs, dh))
        return;
    /* dP = dO v^T, then dS */
    if (!bh_gemm(op, B, H, false, true, Tq, Tk, dh, 1.0f, dO, ldo, Tq * ldo, dh, V + d->voff, d->ldv, d->vbs, dh, 0.0f,
                 ds, Tk, H * sp, sp))
        return;
    if (Tq > 0 && Tk > 0) {
        VC_LAUNCH(k_attn_softmax_bwd, (unsigned)(B * H * Tq), vc_cu_row_threads(Tk), 0, vc_cu_stream(), P, ds, Tk,
                  d->scale);
        if (!vc_cu_launched(op, "k_attn_softmax_bwd")) return;
    }
    /* dQ = dS k; dK = dS^T q */
    if (dQ && !bh_gemm(op, B, H, false, false, Tq, dh, Tk, 1.0f, ds, Tk, H * sp, sp, K + d->koff, d->ldk, d->kbs, dh,
                       bq, dQ + d->qoff, d->ldq, d->qbs, dh))
        return;
    if (dK)
        bh_gemm(op, B, H, true, false, Tk, dh, Tq, 1.0f, ds, Tk, H * sp, sp, Q + d->qoff, d->ldq, d->qbs, dh, bk,
                dK + d->koff, d->ldk, d->kbs, dh);
}
