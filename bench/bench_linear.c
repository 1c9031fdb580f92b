/* bench_linear: the linear layer's forward + backward through the autograd
 * tape against the same three GEMMs called directly with cblas_sgemm, in the
 * same process, interleaved so machine noise hits both alike. Shapes are those
 * of a transformer pooler's MLP (rows = B*T = 4096, width 512 <-> 2048).
 * Target: vclip within 10% of plain sgemm (ratio >= 0.90). Prints medians. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ops.h"
#include "autograd/params.h"
#include "tensor/rng.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void fill(float *p, size_t n, vc_rng *r) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(vc_rng_uniform(r) * 2 - 1) * 0.05f;
}

static int run(int64_t R, int64_t IN, int64_t OUT, int reps) {
    vc_rng rng;
    vc_rng_seed(&rng, 1);
    vc_tensor x, gy;
    if (vc_tensor_alloc(&x, VC_F32, VC_DIMS(R, IN)) || vc_tensor_alloc(&gy, VC_F32, VC_DIMS(R, OUT))) return 1;
    fill(x.data, (size_t)(R * IN), &rng);
    fill(gy.data, (size_t)(R * OUT), &rng);
    vc_params ps;
    vc_params_init(&ps);
    vc_var *w = vc_params_add(&ps, "w", VC_DIMS(OUT, IN), true);
    vc_var *b = vc_params_add(&ps, "b", VC_DIMS(OUT), false);
    if (!w || !b) return 1;
    fill(ps.data, ps.n, &rng);
    /* plain: the same products on separate buffers */
    float *Y = aligned_alloc(64, (size_t)(R * OUT) * 4), *dX = aligned_alloc(64, (size_t)(R * IN) * 4);
    float *dW = aligned_alloc(64, (size_t)(OUT * IN) * 4);
    vc_tape t;
    vc_tape_init(&t, 0);
    double flops = 3.0 * 2.0 * (double)R * (double)IN * (double)OUT;
    double *tp = malloc(sizeof(double) * (size_t)reps), *tb = malloc(sizeof(double) * (size_t)reps),
           *tn = malloc(sizeof(double) * (size_t)reps);
    for (int it = -2; it < reps; it++) { /* two warm-up rounds */
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)OUT, (int)IN, 1, x.data, (int)IN, w->val.data,
                    (int)IN, 0, Y, (int)OUT);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)IN, (int)OUT, 1, gy.data, (int)OUT,
                    w->val.data, (int)IN, 0, dX, (int)IN);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)OUT, (int)IN, (int)R, 1, gy.data, (int)OUT, x.data,
                    (int)IN, 0, dW, (int)IN);
        double t1 = now();
        for (int bias = 1; bias >= 0; bias--) {
            double s0 = now();
            vc_tape_reset(&t);
            vc_params_zero_grad(&ps);
            vc_var *xv = vc_const(&t, &x);
            xv->requires_grad = true;
            vc_var *y = vc_linear(&t, xv, w, bias ? b : NULL);
            if (!y || vc_backward_with(&t, y, &gy)) {
                fprintf(stderr, "bench_linear: %s\n", vc_last_error());
                return 1;
            }
            double s1 = now();
            if (it >= 0) (bias ? tb : tn)[it] = s1 - s0;
        }
        if (it >= 0) tp[it] = t1 - t0;
    }
    double mp = median(tp, reps), mb = median(tb, reps), mn = median(tn, reps);
    printf("linear [%lld,%lld] -> %lld fwd+bwd, median of %d: plain sgemm %.1f GFLOP/s | vclip with bias %.1f GFLOP/s "
           "(ratio %.2f) | vclip no bias %.1f GFLOP/s (ratio %.2f)   target ratio >= 0.90\n",
           (long long)R, (long long)IN, (long long)OUT, reps, flops / mp * 1e-9, flops / mb * 1e-9, mp / mb,
           flops / mn * 1e-9, mp / mn);
    free(tp);
    free(tb);
    free(tn);
    free(Y);
    free(dX);
    free(dW);
    vc_tape_free(&t);
    vc_params_free(&ps);
    vc_tensor_release(&x);
    vc_tensor_release(&gy);
    return 0;
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    if (reps < 1) reps = 1;
    if (run(4096, 512, 2048, reps) || run(4096, 2048, 512, reps)) return 1;
    return 0;
}
