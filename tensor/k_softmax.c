#include "k_softmax.h"

#include <math.h>

#include "k_math.h"

/* Splits x's shape around axis into outer Out, length Len and inner In. */
static void split_dims(int nd, const int64_t *ne, int axis, int64_t *Out, int64_t *Len, int64_t *In) {
    int64_t o = 1, in = 1;
    for (int d = 0; d < axis; d++) o *= ne[d];
    for (int d = axis + 1; d < nd; d++) in *= ne[d];
    *Out = o;
    *Len = ne[axis];
    *In = in;
}

/* Mask offset of element (o, 0, i) of the [Out, Len, In] view. */
static int64_t mask_base(int nd, const int64_t *ne, int axis, const int64_t *mst, int64_t o, int64_t i) {
    int64_t off = 0;
    for (int d = nd - 1; d > axis; d--) {
        off += (i % ne[d]) * mst[d];
        i /= ne[d];
    }
    for (int d = axis - 1; d >= 0; d--) {
        off += (o % ne[d]) * mst[d];
        o /= ne[d];
    }
    return off;
}

void vc_softmax_fwd(const vc_real *x, vc_real *y, int nd, const int64_t *ne, int axis, const vc_real *mask,
                    const int64_t *mst, bool take_log) {
    int64_t Out, Len, In;
    split_dims(nd, ne, axis, &Out, &Len, &In);
#pragma omp parallel for schedule(static) if (Out * Len * In > 16384)
    for (int64_t r = 0; r < Out * In; r++) {
        int64_t o = r / In, i = r % In;
        const vc_real *xr = x + o * Len * In + i;
        vc_real *yr = y + o * Len * In + i;
        const vc_real *mr = mask ? mask + mask_base(nd, ne, axis, mst, o, i) : NULL;
        int64_t ms = mask ? mst[axis] : 0;
        vc_real mx = -INFINITY;
        for (int64_t j = 0; j < Len; j++) {
            vc_real v = xr[j * In] + (mr ? mr[j * ms] : 0);
            yr[j * In] = v;
            if (v > mx) mx = v;
        }
        if (mx == -INFINITY) { /* every entry masked */
            for (int64_t j = 0; j < Len; j++) yr[j * In] = take_log ? -INFINITY : 0;
            continue;
        }
        vc_real s = 0;
        for (int64_t j = 0; j < Len; j++) s += vc_fexp(yr[j * In] - mx);
        if (take_log) {
            vc_real lse = mx + (vc_real)log((double)s);
            for (int64_t j = 0; j < Len; j++) yr[j * In] -= lse;
        } else {
            vc_real inv = 1 / s;
            for (int64_t j = 0; j < Len; j++) yr[j * In] = vc_fexp(yr[j * In] - mx) * inv;
        }
    }
}

void vc_softmax_bwd(const vc_real *y, const vc_real *g, vc_real *gx, vc_real beta, int nd, const int64_t *ne,
                    int axis, bool take_log) {
    int64_t Out, Len, In;
    split_dims(nd, ne, axis, &Out, &Len, &In);
#pragma omp parallel for schedule(static) if (Out * Len * In > 16384)
    for (int64_t r = 0; r < Out * In; r++) {
        int64_t o = r / In, i = r % In;
        const vc_real *yr = y + o * Len * In + i, *gr = g + o * Len * In + i;
        vc_real *xr = gx + o * Len * In + i;
        vc_real s = 0;
        if (take_log)
            for (int64_t j = 0; j < Len; j++) s += yr[j * In] == -INFINITY ? 0 : gr[j * In];
        else
            for (int64_t j = 0; j < Len; j++) s += gr[j * In] * yr[j * In];
        for (int64_t j = 0; j < Len; j++) {
            vc_real yj = yr[j * In], d;
            if (take_log)
                d = yj == -INFINITY ? 0 : gr[j * In] - vc_fexp(yj) * s;
            else
                d = yj * (gr[j * In] - s);
            xr[j * In] = beta == 0 ? d : xr[j * In] + d;
        }
    }
}

void vc_xent_fwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target, vc_real *lse,
                 vc_real *loss) {
    /* sample s, class c at logits[s*ss + c*cs] */
    int64_t S = axis == 1 ? rows : cols, C = axis == 1 ? cols : rows;
    int64_t ss = axis == 1 ? cols : 1, cs = axis == 1 ? 1 : cols;
    double total = 0;
    for (int64_t s = 0; s < S; s++) {
        const vc_real *l = logits + s * ss;
        vc_real mx = -INFINITY;
        for (int64_t c = 0; c < C; c++)
            if (l[c * cs] > mx) mx = l[c * cs];
        double sum = 0;
        for (int64_t c = 0; c < C; c++) sum += exp((double)(l[c * cs] - mx));
        lse[s] = (vc_real)(mx + log(sum));
        total += (double)lse[s] - (double)l[target[s] * cs];
    }
    loss[0] = (vc_real)(total / (double)S);
}

void vc_xent_bwd(const vc_real *logits, int64_t rows, int64_t cols, int axis, const int64_t *target,
                 const vc_real *lse, const vc_real *gloss, vc_real *gl, vc_real beta) {
    int64_t S = axis == 1 ? rows : cols, C = axis == 1 ? cols : rows;
    int64_t ss = axis == 1 ? cols : 1, cs = axis == 1 ? 1 : cols;
    vc_real k = gloss[0] / (vc_real)S;
    for (int64_t s = 0; s < S; s++) {
        const vc_real *l = logits + s * ss;
        vc_real *g = gl + s * ss;
        for (int64_t c = 0; c < C; c++) {
            vc_real d = k * ((vc_real)exp((double)(l[c * cs] - lse[s])) - (c == target[s] ? 1 : 0));
            g[c * cs] = beta == 0 ? d : g[c * cs] + d;
        }
    }
}
