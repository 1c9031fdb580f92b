#include "op_gemm.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const vc_real *base; /* the parameter's float32 value */
    int64_t n;
    uint16_t *copy;      /* its bf16 rounding, same layout */
    uint64_t resets;     /* the tape reset the copy was made after */
} wcopy;

/* A buffer the op rounded once for several products (vc_op_round). */
typedef struct {
    const vc_real *x;
    int64_t n;
    uint16_t *copy;
} alias;

#define MAX_ALIAS 4

/* A gradient's bf16 copy and column sums made ahead by the node that wrote
 * it (vc_op_round_carry), for the next vc_op_round / vc_op_round_bias. */
typedef struct {
    const vc_real *x;
    int64_t R, N;
    uint16_t *copy;
    vc_real *sums;
} carry;

typedef struct vc_bf16_cache {
    wcopy *e;
    int n, cap;
    uint64_t resets;     /* vc_tape_reset calls seen (t->step is the caller's to set) */
    alias al[MAX_ALIAS];
    int nal;
    carry cy;            /* x NULL: none */
    long carried;        /* carries used */
} cache;

vc_precision vc_tape_precision(vc_tape *t, vc_precision p) {
    t->precision = vc_precision_on(vc_backend_for(t->arena.device), p);
    return t->precision;
}

void vc_op_gemm_reset(vc_tape *t) {
    cache *c = t->bf16_cache;
    if (!c) return;
    c->resets++;
    c->nal = 0; /* scratch of the arena, which the reset reclaims */
    c->cy.x = NULL;
}

void vc_op_gemm_free(vc_tape *t) {
    cache *c = t->bf16_cache;
    if (!c) return;
    for (int i = 0; i < c->n; i++) vc_backend_for(t->arena.device)->mem_free(c->e[i].copy);
    free(c->e);
    free(c);
    t->bf16_cache = NULL;
}

#ifndef VC_DOUBLE
/* The bf16 copy of parameter p's value, made this step if not yet; NULL when
 * memory runs out (the caller then rounds on the fly). */
static const uint16_t *param_copy(vc_tape *t, const vc_backend *be, const vc_var *p) {
    const vc_real *base = vc_f32(&p->val);
    int64_t n = vc_numel(&p->val);
    cache *c = t->bf16_cache;
    if (!c && !(c = t->bf16_cache = calloc(1, sizeof *c))) return NULL;
    wcopy *w = NULL;
    for (int i = 0; i < c->n && !w; i++)
        if (c->e[i].base == base && c->e[i].n == n) w = &c->e[i];
    if (!w) {
        if (c->n == c->cap) {
            int cap = c->cap ? 2 * c->cap : 32;
            wcopy *e = realloc(c->e, (size_t)cap * sizeof *e);
            if (!e) return NULL;
            c->e = e;
            c->cap = cap;
        }
        uint16_t *copy = be->mem_alloc((size_t)n * sizeof(uint16_t));
        if (!copy) return NULL;
        w = &c->e[c->n++];
        *w = (wcopy){base, n, copy, c->resets - 1};
    }
    if (w->resets != c->resets) {
        be->round_bf16((const float *)base, w->copy, n);
        w->resets = c->resets;
    }
    return w->copy;
}
#endif

/* Where A lies inside the value of parameter p0 or p1: the bf16 copy at the
 * same offset; NULL when it does not (or there is no copy). */
#ifndef VC_DOUBLE
static const uint16_t *in_param(vc_tape *t, const vc_backend *be, const vc_var *p, const vc_real *A) {
    if (!p || !p->is_param) return NULL;
    const vc_real *base = vc_f32(&p->val);
    if (A < base || A >= base + vc_numel(&p->val)) return NULL;
    const uint16_t *c = param_copy(t, be, p);
    return c ? c + (A - base) : NULL;
}

static const uint16_t *as_bf16(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1,
                               const vc_real *A) {
    const cache *k = t->bf16_cache;
    for (int i = 0; k && i < k->nal; i++)
        if (A >= k->al[i].x && A < k->al[i].x + k->al[i].n) return k->al[i].copy + (A - k->al[i].x);
    const uint16_t *c = in_param(t, be, p0, A);
    return c ? c : in_param(t, be, p1, A);
}
#endif

void vc_op_gemm(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, bool ta, bool tb, int64_t M,
                int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda, const vc_real *B, int64_t ldb,
                vc_real beta, vc_real *C, int64_t ldc) {
#ifndef VC_DOUBLE
    if (t->precision == VC_PREC_BF16) {
        const uint16_t *a = as_bf16(t, be, p0, p1, A), *b = as_bf16(t, be, p0, p1, B);
        unsigned flags = (a ? VC_GEMM_A_BF16 : 0) | (b ? VC_GEMM_B_BF16 : 0);
        be->gemm_bf16(flags, ta, tb, M, N, K, alpha, a ? (const void *)a : A, lda, b ? (const void *)b : B, ldb, beta,
                      C, ldc);
        return;
    }
#endif
    be->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void vc_op_gemm16(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, unsigned flags, bool ta,
                  bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A, int64_t lda, const void *B,
                  int64_t ldb, float beta, vc_real *C, int64_t ldc) {
#ifndef VC_DOUBLE
    const uint16_t *a = flags & VC_GEMM_A_BF16 ? A : as_bf16(t, be, p0, p1, A);
    const uint16_t *b = flags & VC_GEMM_B_BF16 ? B : as_bf16(t, be, p0, p1, B);
    unsigned f = (a ? VC_GEMM_A_BF16 : 0) | (b ? VC_GEMM_B_BF16 : 0);
    be->gemm_bf16(f, ta, tb, M, N, K, alpha, a ? (const void *)a : A, lda, b ? (const void *)b : B, ldb, beta, C, ldc);
#else
    (void)t, (void)be, (void)p0, (void)p1, (void)flags, (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha;
    (void)A, (void)lda, (void)B, (void)ldb, (void)beta, (void)C, (void)ldc;
#endif
}

bool vc_op_gemm16_bias(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, unsigned flags, bool ta,
                       bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda, const void *B,
                       int64_t ldb, const vc_real *bias, const vc_real *res, vc_real *C, int64_t ldc) {
#ifndef VC_DOUBLE
    if (!be->gemm_bias_bf16) return false;
    const uint16_t *a = flags & VC_GEMM_A_BF16 ? A : as_bf16(t, be, p0, p1, A);
    const uint16_t *b = flags & VC_GEMM_B_BF16 ? B : as_bf16(t, be, p0, p1, B);
    unsigned f = (a ? VC_GEMM_A_BF16 : 0) | (b ? VC_GEMM_B_BF16 : 0);
    be->gemm_bias_bf16(f, ta, tb, M, N, K, a ? (const void *)a : A, lda, b ? (const void *)b : B, ldb, bias, res, C,
                       ldc);
    return true;
#else
    (void)t, (void)be, (void)p0, (void)p1, (void)flags, (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)A;
    (void)lda, (void)B, (void)ldb, (void)bias, (void)res, (void)C, (void)ldc;
    return false;
#endif
}

void vc_op_gemm_batched(vc_tape *t, const vc_backend *be, const vc_var *p0, const vc_var *p1, int64_t batch, bool ta,
                        bool tb, int64_t M, int64_t N, int64_t K, vc_real alpha, const vc_real *A, int64_t lda,
                        int64_t sa, const vc_real *B, int64_t ldb, int64_t sb, vc_real beta, vc_real *C, int64_t ldc,
                        int64_t sc) {
#ifndef VC_DOUBLE
    if (t->precision == VC_PREC_BF16) {
        const uint16_t *a = as_bf16(t, be, p0, p1, A), *b = as_bf16(t, be, p0, p1, B);
        unsigned flags = (a ? VC_GEMM_A_BF16 : 0) | (b ? VC_GEMM_B_BF16 : 0);
        be->gemm_batched_bf16(flags, batch, ta, tb, M, N, K, alpha, a ? (const void *)a : A, lda, sa,
                              b ? (const void *)b : B, ldb, sb, beta, C, ldc, sc);
        return;
    }
#endif
    be->gemm_batched(batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc);
}

static void drop_carry(vc_tape *t, cache *c) {
    if (!c->cy.x) return;
    vc_tape_give(t, c->cy.copy, (size_t)(c->cy.R * c->cy.N) * sizeof(uint16_t));
    vc_tape_give(t, c->cy.sums, (size_t)c->cy.N * sizeof(vc_real));
    c->cy.x = NULL;
}

/* vc_op_round, and vc_op_round_bias when gb: the bf16 copy made by one pass
 * of the backend (round_bf16, or bias_bwd_round_bf16 writing the bias sums
 * too), or the one carried here from the node that wrote x. */
static bool round_into_alias(vc_tape *t, const vc_backend *be, const vc_real *x, int64_t R, int64_t N, vc_real *gb,
                             vc_real beta) {
#ifndef VC_DOUBLE
    int64_t n = R * N;
    if (t->precision != VC_PREC_BF16 || n <= 0) return false;
    cache *c = t->bf16_cache;
    if (!c && !(c = t->bf16_cache = calloc(1, sizeof *c))) return false;
    if (c->cy.x == x && c->cy.R * c->cy.N == n && (!gb || c->cy.N == N) && c->nal < MAX_ALIAS) {
        if (gb) be->axpby(c->cy.sums, 1, gb, beta, N); /* gb + sums: bias_bwd's bits */
        vc_tape_give(t, c->cy.sums, (size_t)c->cy.N * sizeof(vc_real));
        c->al[c->nal++] = (alias){x, n, c->cy.copy};
        c->cy.x = NULL;
        c->carried++;
        return true;
    }
    /* not for this x (or no slot for it): stale from here on, as x's buffer
     * may go back to the pool and come out again as another gradient */
    drop_carry(t, c);
    if (c->nal == MAX_ALIAS || (gb && !be->bias_bwd_round_bf16)) return false;
    vc_status keep = t->status;
    uint16_t *copy = vc_tape_take(t, (size_t)n * sizeof(uint16_t));
    if (!copy) {
        t->status = keep; /* not an error: the products round as they go */
        return false;
    }
    if (gb) be->bias_bwd_round_bf16((const float *)x, copy, gb, beta, R, N);
    else be->round_bf16((const float *)x, copy, n);
    c->al[c->nal++] = (alias){x, n, copy};
    return true;
#else
    (void)t, (void)be, (void)x, (void)R, (void)N, (void)gb, (void)beta;
    return false;
#endif
}

bool vc_op_round_carry(vc_tape *t, const vc_real *x, int64_t R, int64_t N, uint16_t *copy, vc_real *sums) {
    cache *c = t->bf16_cache;
    if (!c && !(c = t->bf16_cache = calloc(1, sizeof *c))) return false;
    drop_carry(t, c);
    c->cy = (carry){x, R, N, copy, sums};
    return true;
}

long vc_op_round_carried(const vc_tape *t) { return t->bf16_cache ? t->bf16_cache->carried : 0; }

bool vc_op_round(vc_tape *t, const vc_backend *be, const vc_real *x, int64_t n) {
    return round_into_alias(t, be, x, 1, n, NULL, 0);
}

bool vc_op_round_bias(vc_tape *t, const vc_backend *be, const vc_real *x, int64_t R, int64_t N, vc_real *gb,
                      vc_real beta) {
    return gb && round_into_alias(t, be, x, R, N, gb, beta);
}

void vc_op_unround(vc_tape *t, const vc_real *x) {
    cache *c = t->bf16_cache;
    for (int i = c ? c->nal - 1 : -1; i >= 0; i--)
        if (c->al[i].x == x) {
            vc_tape_give(t, c->al[i].copy, (size_t)c->al[i].n * sizeof(uint16_t));
            c->al[i] = c->al[--c->nal];
            return;
        }
}
