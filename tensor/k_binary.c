#include "k_binary.h"

#include <string.h>

static inline vc_real apply(vc_binop op, vc_real x, vc_real y) {
    return op == VC_BIN_ADD ? x + y : op == VC_BIN_SUB ? x - y : x * y;
}

/* Offsets of the first element of output row `row` (all dims but the last). */
static void row_offsets(const vc_bcast *p, int64_t row, int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = p->nd - 2; d >= 0; d--) {
        int64_t i = row % p->ne[d];
        row /= p->ne[d];
        a += i * p->sa[d];
        b += i * p->sb[d];
    }
    *oa = a;
    *ob = b;
}

void vc_binary_fwd(vc_binop op, const vc_bcast *p, const vc_real *a, const vc_real *b, vc_real *out) {
    if (p->n == 0) return;
    int64_t inner = p->nd ? p->ne[p->nd - 1] : 1;
    int64_t rows = p->n / (inner ? inner : 1);
    int64_t ia = p->nd ? p->sa[p->nd - 1] : 0, ib = p->nd ? p->sb[p->nd - 1] : 0;
#pragma omp parallel for schedule(static) if (p->n > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa, ob;
        row_offsets(p, r, &oa, &ob);
        const vc_real *ar = a + oa, *br = b + ob;
        vc_real *o = out + r * inner;
        if (ia == 1 && ib == 1)
            for (int64_t j = 0; j < inner; j++) o[j] = apply(op, ar[j], br[j]);
        else if (ia == 1 && ib == 0)
            for (int64_t j = 0; j < inner; j++) o[j] = apply(op, ar[j], br[0]);
        else if (ia == 0 && ib == 1)
            for (int64_t j = 0; j < inner; j++) o[j] = apply(op, ar[0], br[j]);
        else
            for (int64_t j = 0; j < inner; j++) o[j] = apply(op, ar[j * ia], br[j * ib]);
    }
}

/* Contribution of output element (row r, column j) to the operand gradient. */
static inline vc_real contrib(vc_binop op, int which, vc_real g, vc_real other) {
    if (op == VC_BIN_MUL) return g * other;
    if (op == VC_BIN_SUB && which == 1) return -g;
    return g;
}

void vc_binary_bwd(vc_binop op, int which, const vc_bcast *p, const vc_real *g, const vc_real *a,
                   const vc_real *b, vc_real *gx, vc_real beta) {
    const int64_t *sx = which == 0 ? p->sa : p->sb;
    const int64_t *so = which == 0 ? p->sb : p->sa;
    const vc_real *other = which == 0 ? b : a;
    int nd = p->nd;
    int64_t inner = nd ? p->ne[nd - 1] : 1;
    int64_t rows = inner ? p->n / inner : 0;
    /* Operand size and whether it is broadcast anywhere. */
    int64_t nx = 1;
    bool full = true;
    for (int d = 0; d < nd; d++)
        if (sx[d]) nx *= p->ne[d];
        else if (p->ne[d] != 1) full = false;
    if (full) { /* same shape as the output: a plain element-wise loop */
        int64_t ix = nd ? sx[nd - 1] : 0, io = nd ? so[nd - 1] : 0;
        (void)ix;
#pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t r = 0; r < rows; r++) {
            int64_t oa, ob;
            row_offsets(p, r, &oa, &ob);
            const vc_real *orow = other + (which == 0 ? ob : oa);
            const vc_real *gr = g + r * inner;
            vc_real *xr = gx + r * inner;
            for (int64_t j = 0; j < inner; j++) {
                vc_real c = contrib(op, which, gr[j], op == VC_BIN_MUL ? orow[j * io] : 0);
                xr[j] = beta == 0 ? c : xr[j] + c;
            }
        }
        return;
    }
    if (beta == 0) memset(gx, 0, (size_t)nx * sizeof(vc_real));
    /* Broadcast only over leading dims (a bias [D] over [N, D]): each thread
     * owns a block of columns and sums rows in order, so the result does not
     * depend on the thread count. */
    int lead = 0;
    while (lead < nd && sx[lead] == 0) lead++;
    bool trailing_full = true;
    for (int d = lead; d < nd; d++)
        if (sx[d] == 0 && p->ne[d] != 1) trailing_full = false;
    if (trailing_full && nx > 0) {
        int64_t outer = p->n / nx;
        int64_t os_last = nd ? so[nd - 1] : 0;
        bool other_simple = op != VC_BIN_MUL;
        bool other_full = true;
        for (int d = 0; d < nd; d++)
            if (so[d] == 0 && p->ne[d] != 1) other_full = false;
        (void)os_last;
#pragma omp parallel for schedule(static) if (p->n > 32768)
        for (int64_t c0 = 0; c0 < nx; c0 += 64) {
            int64_t c1 = c0 + 64 < nx ? c0 + 64 : nx;
            for (int64_t o = 0; o < outer; o++) {
                const vc_real *gr = g + o * nx;
                if (other_simple) {
                    for (int64_t c = c0; c < c1; c++) gx[c] += contrib(op, which, gr[c], 0);
                } else if (other_full) { /* the other operand has the output's layout */
                    const vc_real *orow = other + o * nx;
                    for (int64_t c = c0; c < c1; c++) gx[c] += gr[c] * orow[c];
                } else {
                    for (int64_t c = c0; c < c1; c++) {
                        int64_t r = (o * nx + c) / inner, j = (o * nx + c) % inner;
                        int64_t oa, ob;
                        row_offsets(p, r, &oa, &ob);
                        int64_t off = (which == 0 ? ob : oa) + j * so[nd - 1];
                        gx[c] += gr[c] * other[off];
                    }
                }
            }
        }
        return;
    }
    /* General case: sequential in output order (deterministic). */
    for (int64_t r = 0; r < rows; r++) {
        int64_t oa, ob;
        row_offsets(p, r, &oa, &ob);
        int64_t ox = which == 0 ? oa : ob, oo = which == 0 ? ob : oa;
        const vc_real *gr = g + r * inner;
        for (int64_t j = 0; j < inner; j++)
            gx[ox + j * sx[nd - 1]] += contrib(op, which, gr[j], op == VC_BIN_MUL ? other[oo + j * so[nd - 1]] : 0);
    }
}
