/* k_binary.cu: the CUDA twin of tensor/k_binary.c: add / sub / mul with
 * NumPy broadcasting (a vc_bcast, backend.h) and the gradient that carries a
 * broadcast output back to an operand.
 * Forward: one thread per output element. Backward: an operand with the
 * output's shape gets one thread per element; a broadcast operand gets, per
 * element, a 32 x 8 thread block column: the 8 threads of a column each sum
 * one contiguous eighth of the element's terms in output order, and the 8
 * partial sums are added in order. The order of additions is fixed by the
 * shapes alone (no atomics): a run is bit-identical run to run.
 * Owns: vc_cu_binary_fwd, vc_cu_binary_bwd (tensor/cuda/kernels.h). */
#include "tensor/cuda/cu_compat.h"
#include "tensor/cuda/grid.cuh"
#include "tensor/cuda/kernels.h"

namespace {

using namespace vc_grid; /* kThreads, kMaxBlocks, kPerBlock, kCols, kRows, blocks_for (grid.cuh) */

__device__ __forceinline__ vc_real apply(int op, vc_real x, vc_real y) {
    return op == VC_BIN_ADD ? x + y : op == VC_BIN_SUB ? x - y : x * y;
}

/* Offsets in a and b of output element i. */
__device__ __forceinline__ void offsets(const vc_bcast &p, int64_t i, int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = p.nd - 1; d >= 0; d--) {
        int64_t k = i % p.ne[d];
        i /= p.ne[d];
        a += k * p.sa[d];
        b += k * p.sb[d];
    }
    *oa = a;
    *ob = b;
}

__global__ void k_binary_fwd(int op, vc_bcast p, bool flat, const vc_real *__restrict__ a,
                             const vc_real *__restrict__ b, vc_real *__restrict__ out) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {
        int64_t oa = i, ob = i;
        if (!flat) offsets(p, i, &oa, &ob);
        out[i] = apply(op, a[oa], b[ob]);
    }
}

/* d out / d operand for one output element. */
__device__ __forceinline__ vc_real contrib(int op, int which, vc_real g, vc_real other) {
    if (op == VC_BIN_MUL) return g * other;
    if (op == VC_BIN_SUB && which == 1) return -g;
    return g;
}

/* The operand has the output's shape: gx[i] (+)= contrib(g[i], other). */
__global__ void k_binary_bwd_same(int op, int which, vc_bcast p, const vc_real *__restrict__ g,
                                  const vc_real *__restrict__ other, vc_real *__restrict__ gx, bool acc) {
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += step) {
        vc_real o = 0;
        if (op == VC_BIN_MUL) {
            int64_t oa, ob;
            offsets(p, i, &oa, &ob);
            o = other[which == 0 ? ob : oa];
        }
        vc_real c = contrib(op, which, g[i], o);
        gx[i] = acc ? gx[i] + c : c;
    }
}

/* The operand's gradient as a reduction: element e of the operand (its kept
 * dims) sums nt terms (its broadcast dims) of the output. Offsets per dim:
 * out (contiguous output), x (the operand), oth (the other operand). */
struct RedPlan {
    int nk, nr;
    int64_t kne[VC_MAX_DIMS], kout[VC_MAX_DIMS], kx[VC_MAX_DIMS], koth[VC_MAX_DIMS];
    int64_t rne[VC_MAX_DIMS], rout[VC_MAX_DIMS], roth[VC_MAX_DIMS];
    int64_t nx, nt;
};

__global__ void k_binary_bwd_reduce(int op, int which, RedPlan rp, const vc_real *__restrict__ g,
                                    const vc_real *__restrict__ other, vc_real *__restrict__ gx, bool acc) {
    VC_SHARED(vc_real, part, [kRows][kCols + 1]);
    column_reduce(
        part, rp.nx, rp.nt,
        [&](int64_t e, int64_t t0, int64_t t1) {
            vc_real sum = 0;
            if (t0 >= t1) return sum;
            /* this element's base offsets */
            int64_t rem = e, out = 0, oth = 0;
            for (int k = rp.nk - 1; k >= 0; k--) {
                int64_t i = rem % rp.kne[k];
                rem /= rp.kne[k];
                out += i * rp.kout[k];
                oth += i * rp.koth[k];
            }
            /* the first term of this chunk, then an odometer over the
             * broadcast dims in output order */
            int64_t idx[VC_MAX_DIMS];
            rem = t0;
            for (int k = rp.nr - 1; k >= 0; k--) {
                idx[k] = rem % rp.rne[k];
                rem /= rp.rne[k];
                out += idx[k] * rp.rout[k];
                oth += idx[k] * rp.roth[k];
            }
            for (int64_t t = t0; t < t1; t++) {
                sum += contrib(op, which, g[out], op == VC_BIN_MUL ? other[oth] : (vc_real)0);
                for (int k = rp.nr - 1; k >= 0; k--) {
                    out += rp.rout[k];
                    oth += rp.roth[k];
                    if (++idx[k] < rp.rne[k]) break;
                    out -= rp.rne[k] * rp.rout[k];
                    oth -= rp.rne[k] * rp.roth[k];
                    idx[k] = 0;
                }
            }
            return sum;
        },
        [&](int64_t e, vc_real s) {
            int64_t rem = e, xoff = 0;
            for (int k = rp.nk - 1; k >= 0; k--) {
                xoff += rem % rp.kne[k] * rp.kx[k];
                rem /= rp.kne[k];
            }
            gx[xoff] = acc ? gx[xoff] + s : s;
        });
}

/* The same broadcast with fewer dims: dims of size 1 dropped, and a dim
 * merged into the one after it when both operands step through the pair as
 * through one dim (so a broadcast dim only merges with a broadcast one).
 * Fewer dims, fewer 64-bit divisions per element on the device. */
vc_bcast coalesce(const vc_bcast *p) {
    vc_bcast q = {};
    q.n = p->n;
    int64_t ne[VC_MAX_DIMS], sa[VC_MAX_DIMS], sb[VC_MAX_DIMS];
    int k = 0; /* merged dims, innermost first */
    for (int d = p->nd - 1; d >= 0; d--) {
        if (p->ne[d] == 1) continue;
        if (k > 0 && p->sa[d] == sa[k - 1] * ne[k - 1] && p->sb[d] == sb[k - 1] * ne[k - 1]) {
            ne[k - 1] *= p->ne[d];
            continue;
        }
        ne[k] = p->ne[d];
        sa[k] = p->sa[d];
        sb[k] = p->sb[d];
        k++;
    }
    q.nd = k;
    for (int i = 0; i < k; i++) {
        q.ne[i] = ne[k - 1 - i];
        q.sa[i] = sa[k - 1 - i];
        q.sb[i] = sb[k - 1 - i];
    }
    return q;
}

}  // namespace

extern "C" void vc_cu_binary_fwd(vc_binop op, const vc_bcast *p, const vc_real *a, const vc_real *b, vc_real *out) {
    if (p->n <= 0) return;
    vc_bcast q = coalesce(p);
    /* both operands laid out like the output: no index arithmetic */
    bool flat = q.nd == 0 || (q.nd == 1 && q.sa[0] == 1 && q.sb[0] == 1);
    VC_LAUNCH(k_binary_fwd, blocks_for(q.n, kPerBlock), kThreads, 0, vc_cu_stream(), (int)op, q, flat, a, b, out);
    vc_cu_launched("binary_fwd", "k_binary_fwd");
}

extern "C" void vc_cu_binary_bwd(vc_binop op, int which, const vc_bcast *p, const vc_real *g, const vc_real *a,
                                 const vc_real *b, vc_real *gx, vc_real beta) {
    vc_bcast q = p->n > 0 ? coalesce(p) : *p;
    p = &q;
    const int64_t *sx = which == 0 ? p->sa : p->sb, *so = which == 0 ? p->sb : p->sa;
    const vc_real *other = which == 0 ? b : a;
    bool acc = beta != 0;
    RedPlan rp = {};
    rp.nx = 1;
    rp.nt = 1;
    int64_t ost[VC_MAX_DIMS], st = 1;
    for (int d = p->nd - 1; d >= 0; d--) {
        ost[d] = st;
        st *= p->ne[d];
    }
    /* dims of size 1 take no part; kept dims are the operand's own, the
     * others are broadcast and summed over */
    for (int d = 0; d < p->nd; d++) {
        if (p->ne[d] == 1) continue;
        if (sx[d] != 0) {
            rp.kne[rp.nk] = p->ne[d];
            rp.kout[rp.nk] = ost[d];
            rp.kx[rp.nk] = sx[d];
            rp.koth[rp.nk] = so[d];
            rp.nk++;
            rp.nx *= p->ne[d];
        } else {
            rp.rne[rp.nr] = p->ne[d];
            rp.rout[rp.nr] = ost[d];
            rp.roth[rp.nr] = so[d];
            rp.nr++;
            rp.nt *= p->ne[d];
        }
    }
    if (p->n <= 0) { /* an empty output: the operand's gradient gets nothing */
        if (!acc && rp.nx > 0 && rp.nt == 0)
            vc_cu_check(cudaMemsetAsync(gx, 0, (size_t)rp.nx * sizeof(vc_real), vc_cu_stream()), "binary_bwd",
                        "cudaMemsetAsync");
        return;
    }
    if (rp.nr == 0) {
        VC_LAUNCH(k_binary_bwd_same, blocks_for(p->n, kPerBlock), kThreads, 0, vc_cu_stream(), (int)op, which, *p, g,
                  other, gx, acc);
        vc_cu_launched("binary_bwd", "k_binary_bwd_same");
        return;
    }
    VC_LAUNCH(k_binary_bwd_reduce, blocks_for(rp.nx, kCols), dim3(kCols, kRows), 0, vc_cu_stream(), (int)op, which,
              rp, g, other, gx, acc);
    vc_cu_launched("binary_bwd", "k_binary_bwd_reduce");
}
