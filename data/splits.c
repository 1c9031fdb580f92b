#include "splits.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "tensor/rng.h"

bool vc_split_ratio_parse(const char *s, double r[VC_NSPLITS]) {
    const char *p = s;
    double sum = 0;
    for (int k = 0; k < VC_NSPLITS; k++) {
        char *end;
        errno = 0;
        r[k] = strtod(p, &end);
        if (errno || end == p || !(r[k] >= 0) || !isfinite(r[k])) return false;
        sum += r[k];
        if (k < VC_NSPLITS - 1) {
            if (*end != ',') return false;
            p = end + 1;
        } else if (*end) {
            return false;
        }
    }
    return fabs(sum - 1) <= 1e-6;
}

vc_status vc_split_by_ratio(int64_t V, const double r[VC_NSPLITS], uint64_t seed, int8_t *out) {
    int64_t n0 = llround(r[0] * (double)V), n01 = llround((r[0] + r[1]) * (double)V);
    if (n0 > V) n0 = V;
    if (n01 > V) n01 = V;
    if (n01 < n0) n01 = n0;
    /* a seeded Fisher-Yates permutation: position i decides video perm[i] */
    int64_t *perm = malloc((size_t)(V ? V : 1) * sizeof *perm);
    if (!perm) return vc_fail(VC_ERR_OOM, "splits: out of memory for %lld videos", (long long)V);
    for (int64_t i = 0; i < V; i++) perm[i] = i;
    vc_rng rng;
    vc_rng_seed(&rng, seed);
    for (int64_t i = V - 1; i > 0; i--) {
        int64_t j = (int64_t)vc_rng_below(&rng, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int64_t i = 0; i < V; i++) out[perm[i]] = i < n0 ? VC_SPLIT_TRAIN : i < n01 ? VC_SPLIT_VAL : VC_SPLIT_TEST;
    free(perm);
    return VC_OK;
}

vc_status vc_split_write(vc_h5w *w, const int8_t *split_of, int64_t V, int64_t sizes[VC_NSPLITS]) {
    int64_t *idx = malloc((size_t)(V ? V : 1) * sizeof *idx);
    if (!idx) return vc_fail(VC_ERR_OOM, "splits: out of memory for %lld videos", (long long)V);
    vc_status st = VC_OK;
    for (int k = 0; k < VC_NSPLITS && !st; k++) {
        int64_t n = 0;
        for (int64_t v = 0; v < V; v++)
            if (split_of[v] == k) idx[n++] = v;
        if (sizes) sizes[k] = n;
        st = vc_h5w_set_split(w, vc_split_name((vc_split)k), idx, n);
    }
    free(idx);
    return st;
}
