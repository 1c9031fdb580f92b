#include "k_gemm_bf16.h"

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h" /* VC_GEMM_A_BF16, VC_GEMM_B_BF16 */
#include "hostmem.h"

/* ---- the library, the engine, the ISA, once per process ----
 * oneDNN is opened on first use (dlopen), not linked: a process that
 * computes only in float32 does not map its 40 MB (address-space limits,
 * tools/limits.c), and a machine without libdnnl.so.2 falls back to float32. */

static __typeof__(dnnl_engine_create) *fp_dnnl_engine_create;
static __typeof__(dnnl_get_effective_cpu_isa) *fp_dnnl_get_effective_cpu_isa;
static __typeof__(dnnl_matmul_desc_init) *fp_dnnl_matmul_desc_init;
static __typeof__(dnnl_memory_create) *fp_dnnl_memory_create;
static __typeof__(dnnl_memory_desc_init_by_strides) *fp_dnnl_memory_desc_init_by_strides;
static __typeof__(dnnl_memory_destroy) *fp_dnnl_memory_destroy;
static __typeof__(dnnl_memory_set_data_handle) *fp_dnnl_memory_set_data_handle;
static __typeof__(dnnl_post_ops_append_sum) *fp_dnnl_post_ops_append_sum;
static __typeof__(dnnl_post_ops_append_binary) *fp_dnnl_post_ops_append_binary;
static __typeof__(dnnl_post_ops_create) *fp_dnnl_post_ops_create;
static __typeof__(dnnl_post_ops_destroy) *fp_dnnl_post_ops_destroy;
static __typeof__(dnnl_primitive_attr_create) *fp_dnnl_primitive_attr_create;
static __typeof__(dnnl_primitive_attr_destroy) *fp_dnnl_primitive_attr_destroy;
static __typeof__(dnnl_primitive_attr_set_output_scales) *fp_dnnl_primitive_attr_set_output_scales;
static __typeof__(dnnl_primitive_attr_set_post_ops) *fp_dnnl_primitive_attr_set_post_ops;
static __typeof__(dnnl_primitive_create) *fp_dnnl_primitive_create;
static __typeof__(dnnl_primitive_desc_create) *fp_dnnl_primitive_desc_create;
static __typeof__(dnnl_primitive_desc_destroy) *fp_dnnl_primitive_desc_destroy;
static __typeof__(dnnl_primitive_destroy) *fp_dnnl_primitive_destroy;
static __typeof__(dnnl_primitive_execute) *fp_dnnl_primitive_execute;
static __typeof__(dnnl_stream_create) *fp_dnnl_stream_create;
static __typeof__(dnnl_stream_destroy) *fp_dnnl_stream_destroy;
static __typeof__(dnnl_stream_wait) *fp_dnnl_stream_wait;

static dnnl_engine_t engine;
static bool fast;
static const char *isa_name = "unknown";
static pthread_once_t once = PTHREAD_ONCE_INIT;

static bool load_dnnl(void) {
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    bool ok =
        (fp_dnnl_engine_create = (__typeof__(fp_dnnl_engine_create))dlsym(lib, "dnnl_engine_create")) &&
        (fp_dnnl_get_effective_cpu_isa = (__typeof__(fp_dnnl_get_effective_cpu_isa))dlsym(lib, "dnnl_get_effective_cpu_isa")) &&
        (fp_dnnl_matmul_desc_init = (__typeof__(fp_dnnl_matmul_desc_init))dlsym(lib, "dnnl_matmul_desc_init")) &&
        (fp_dnnl_memory_create = (__typeof__(fp_dnnl_memory_create))dlsym(lib, "dnnl_memory_create")) &&
        (fp_dnnl_memory_desc_init_by_strides = (__typeof__(fp_dnnl_memory_desc_init_by_strides))dlsym(lib, "dnnl_memory_desc_init_by_strides")) &&
        (fp_dnnl_memory_destroy = (__typeof__(fp_dnnl_memory_destroy))dlsym(lib, "dnnl_memory_destroy")) &&
        (fp_dnnl_memory_set_data_handle = (__typeof__(fp_dnnl_memory_set_data_handle))dlsym(lib, "dnnl_memory_set_data_handle")) &&
        (fp_dnnl_post_ops_append_sum = (__typeof__(fp_dnnl_post_ops_append_sum))dlsym(lib, "dnnl_post_ops_append_sum")) &&
        (fp_dnnl_post_ops_append_binary = (__typeof__(fp_dnnl_post_ops_append_binary))dlsym(lib, "dnnl_post_ops_append_binary")) &&
        (fp_dnnl_post_ops_create = (__typeof__(fp_dnnl_post_ops_create))dlsym(lib, "dnnl_post_ops_create")) &&
        (fp_dnnl_post_ops_destroy = (__typeof__(fp_dnnl_post_ops_destroy))dlsym(lib, "dnnl_post_ops_destroy")) &&
        (fp_dnnl_primitive_attr_create = (__typeof__(fp_dnnl_primitive_attr_create))dlsym(lib, "dnnl_primitive_attr_create")) &&
        (fp_dnnl_primitive_attr_destroy = (__typeof__(fp_dnnl_primitive_attr_destroy))dlsym(lib, "dnnl_primitive_attr_destroy")) &&
        (fp_dnnl_primitive_attr_set_output_scales = (__typeof__(fp_dnnl_primitive_attr_set_output_scales))dlsym(lib, "dnnl_primitive_attr_set_output_scales")) &&
        (fp_dnnl_primitive_attr_set_post_ops = (__typeof__(fp_dnnl_primitive_attr_set_post_ops))dlsym(lib, "dnnl_primitive_attr_set_post_ops")) &&
        (fp_dnnl_primitive_create = (__typeof__(fp_dnnl_primitive_create))dlsym(lib, "dnnl_primitive_create")) &&
        (fp_dnnl_primitive_desc_create = (__typeof__(fp_dnnl_primitive_desc_create))dlsym(lib, "dnnl_primitive_desc_create")) &&
        (fp_dnnl_primitive_desc_destroy = (__typeof__(fp_dnnl_primitive_desc_destroy))dlsym(lib, "dnnl_primitive_desc_destroy")) &&
        (fp_dnnl_primitive_destroy = (__typeof__(fp_dnnl_primitive_destroy))dlsym(lib, "dnnl_primitive_destroy")) &&
        (fp_dnnl_primitive_execute = (__typeof__(fp_dnnl_primitive_execute))dlsym(lib, "dnnl_primitive_execute")) &&
        (fp_dnnl_stream_create = (__typeof__(fp_dnnl_stream_create))dlsym(lib, "dnnl_stream_create")) &&
        (fp_dnnl_stream_destroy = (__typeof__(fp_dnnl_stream_destroy))dlsym(lib, "dnnl_stream_destroy")) &&
        (fp_dnnl_stream_wait = (__typeof__(fp_dnnl_stream_wait))dlsym(lib, "dnnl_stream_wait")) &&
        true;
    if (!ok) dlclose(lib);
    return ok; /* kept open for the process */
}

static void init_once(void) {
    if (!load_dnnl()) {
        isa_name = "none: libdnnl.so.2 cannot be loaded";
        return;
    }
    if (fp_dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
    dnnl_cpu_isa_t isa = fp_dnnl_get_effective_cpu_isa();
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: isa_name = "avx512_core_amx"; break;
    case dnnl_cpu_isa_avx512_core_bf16: isa_name = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_vnni: isa_name = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core: isa_name = "avx512_core"; break;
    case dnnl_cpu_isa_avx2: isa_name = "avx2"; break;
    default: isa_name = "other"; break;
    }
    /* the ISA values are bit sets: avx512_core_bf16's bits are inside AMX's */
    bool bf16 = ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) == (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    const char *env = getenv("VCLIP_BF16");
    fast = engine && bf16 && !(env && strcmp(env, "off") == 0);
}

bool vc_gemm_bf16_fast(void) {
    pthread_once(&once, init_once);
    return fast;
}

const char *vc_gemm_bf16_isa(void) {
    pthread_once(&once, init_once);
    return isa_name;
}

/* ---- conversion ---- */

void vc_f32_to_bf16_n(uint16_t *dst, const float *src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, &src[i], 4);
        uint32_t r = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
        dst[i] = (uint16_t)((x & 0x7fffffffu) > 0x7f800000u ? (x >> 16) | 0x40u : r);
    }
}

/* rows x cols float32 at stride ld, `count` copies at stride s, into packed
 * bf16 (row stride cols, copy stride rows * cols). */
static void pack_bf16(uint16_t *dst, const float *src, int64_t count, int64_t s, int64_t rows, int64_t cols,
                      int64_t ld) {
    if (ld == cols && (count == 1 || s == rows * cols)) {
        vc_f32_to_bf16_n(dst, src, count * rows * cols);
        return;
    }
    int64_t total = count * rows;
#pragma omp parallel for schedule(static) if (total * cols > 65536)
    for (int64_t r = 0; r < total; r++) {
        int64_t c = r / rows, i = r % rows;
        vc_f32_to_bf16_n(dst + r * cols, src + c * s + i * ld, cols);
    }
}

/* ---- per-thread state: the stream, the primitive cache, buffers ---- */

typedef struct {
    int64_t batch, M, N, K, lda, ldb, ldc, sa, sb, sc;
    float alpha, beta;
    bool ta, tb, bias, res; /* res: a matrix added by a binary post-op (beta is then 0) */
} key_t_;

typedef struct {
    key_t_ key;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c, bias, res; /* bias, res: NULL unless key.bias, key.res */
    uint64_t used;
} entry;

#define CACHE_SIZE 64

typedef struct {
    dnnl_stream_t stream;
    entry cache[CACHE_SIZE];
    int n;
    uint64_t tick;
    uint16_t *buf[2];
    size_t cap[2];
} thread_state;

static _Thread_local thread_state *ts;
static long n_primitives; /* made so far, all threads (vc_gemm_bf16_primitives) */

long vc_gemm_bf16_primitives(void) { return __atomic_load_n(&n_primitives, __ATOMIC_RELAXED); }
static pthread_key_t ts_key;
static pthread_once_t ts_once = PTHREAD_ONCE_INIT;

static void entry_free(entry *e) {
    fp_dnnl_primitive_destroy(e->prim);
    fp_dnnl_memory_destroy(e->a);
    fp_dnnl_memory_destroy(e->b);
    fp_dnnl_memory_destroy(e->c);
    if (e->bias) fp_dnnl_memory_destroy(e->bias);
    if (e->res) fp_dnnl_memory_destroy(e->res);
}

static void state_free(void *p) {
    thread_state *s = p;
    if (!s) return;
    for (int i = 0; i < s->n; i++) entry_free(&s->cache[i]);
    if (s->stream) fp_dnnl_stream_destroy(s->stream);
    vc_host_free(s->buf[0]);
    vc_host_free(s->buf[1]);
    free(s);
}

static void ts_key_make(void) { pthread_key_create(&ts_key, state_free); }

/* The main thread's state is freed at exit (its pthread destructor does not run). */
static thread_state *main_state;
static void main_state_free(void) {
    state_free(main_state);
    main_state = NULL;
}

static thread_state *state(void) {
    if (ts) return ts;
    pthread_once(&ts_once, ts_key_make);
    thread_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (fp_dnnl_stream_create(&s->stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        free(s);
        return NULL;
    }
    pthread_setspecific(ts_key, s);
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!main_state) {
        main_state = s;
        pthread_setspecific(ts_key, NULL); /* freed by atexit instead */
        atexit(main_state_free);
    }
    pthread_mutex_unlock(&mu);
    ts = s;
    return s;
}

static uint16_t *buffer(thread_state *s, int which, size_t n) {
    if (s->cap[which] < n) {
        vc_host_free(s->buf[which]);
        size_t cap = n + n / 4;
        s->buf[which] = vc_host_alloc(cap * 2);
        s->cap[which] = s->buf[which] ? cap : 0;
    }
    return s->buf[which];
}

/* dims {batch, rows, cols} with row stride ld, column stride 1, or the
 * transpose (trans: the stored matrix is cols x rows). */
static dnnl_status_t md3(dnnl_memory_desc_t *md, dnnl_data_type_t dt, int64_t batch, int64_t rows, int64_t cols,
                         bool trans, int64_t ld, int64_t s) {
    dnnl_dims_t dims = {batch, rows, cols};
    dnnl_dims_t st = {s ? s : rows * cols * 4 + ld, trans ? 1 : ld, trans ? ld : 1};
    if (batch == 1) st[0] = (trans ? cols : rows) * ld;
    return fp_dnnl_memory_desc_init_by_strides(md, 3, dims, dt, st);
}

static entry *lookup(thread_state *s, const key_t_ *k) {
    for (int i = 0; i < s->n; i++)
        if (memcmp(&s->cache[i].key, k, sizeof *k) == 0) {
            s->cache[i].used = ++s->tick;
            return &s->cache[i];
        }
    entry e = {.key = *k};
    __atomic_add_fetch(&n_primitives, 1, __ATOMIC_RELAXED);
    dnnl_memory_desc_t ma, mb, mc;
    int64_t bb = k->sb ? k->batch : 1;
    if (md3(&ma, dnnl_bf16, k->batch, k->M, k->K, k->ta, k->lda, k->sa) ||
        md3(&mb, dnnl_bf16, bb, k->K, k->N, k->tb, k->ldb, k->sb) ||
        md3(&mc, dnnl_f32, k->batch, k->M, k->N, false, k->ldc, k->sc))
        return NULL;
    dnnl_memory_desc_t mbias; /* [1, 1, N]: one value per output column, every row and entry */
    if (k->bias && md3(&mbias, dnnl_f32, 1, 1, k->N, false, k->N, 0)) return NULL;
    dnnl_matmul_desc_t d;
    if (fp_dnnl_matmul_desc_init(&d, &ma, &mb, k->bias ? &mbias : NULL, &mc)) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = fp_dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && k->alpha != 1) ok = fp_dnnl_primitive_attr_set_output_scales(attr, 1, 0, &k->alpha) == dnnl_success;
    if (ok && k->beta != 0) {
        ok = fp_dnnl_post_ops_create(&po) == dnnl_success && fp_dnnl_post_ops_append_sum(po, k->beta) == dnnl_success &&
             fp_dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    } else if (ok && k->res) { /* dst = product + bias + res, res laid out as C */
        ok = fp_dnnl_post_ops_create(&po) == dnnl_success &&
             fp_dnnl_post_ops_append_binary(po, dnnl_binary_add, &mc) == dnnl_success &&
             fp_dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    }
    ok = ok && fp_dnnl_primitive_desc_create(&pd, &d, attr, engine, NULL) == dnnl_success &&
         fp_dnnl_primitive_create(&e.prim, pd) == dnnl_success;
    if (po) fp_dnnl_post_ops_destroy(po);
    if (attr) fp_dnnl_primitive_attr_destroy(attr);
    if (pd) fp_dnnl_primitive_desc_destroy(pd);
    if (!ok) return NULL;
    if (fp_dnnl_memory_create(&e.a, &ma, engine, DNNL_MEMORY_NONE) || fp_dnnl_memory_create(&e.b, &mb, engine, DNNL_MEMORY_NONE) ||
        fp_dnnl_memory_create(&e.c, &mc, engine, DNNL_MEMORY_NONE) ||
        (k->bias && fp_dnnl_memory_create(&e.bias, &mbias, engine, DNNL_MEMORY_NONE)) ||
        (k->res && fp_dnnl_memory_create(&e.res, &mc, engine, DNNL_MEMORY_NONE))) {
        entry_free(&e);
        return NULL;
    }
    e.used = ++s->tick;
    int slot = s->n;
    if (s->n < CACHE_SIZE) s->n++;
    else { /* replace the least recently used */
        slot = 0;
        for (int i = 1; i < CACHE_SIZE; i++)
            if (s->cache[i].used < s->cache[slot].used) slot = i;
        entry_free(&s->cache[slot]);
    }
    s->cache[slot] = e;
    return &s->cache[slot];
}

/* Reference loop for when oneDNN cannot run (no engine, a primitive that
 * fails to build): the same bf16 rounding, float32 accumulation in double. */
static void gemm_loop(int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const uint16_t *A, int64_t lda, int64_t sa, const uint16_t *B, int64_t ldb, int64_t sb,
                      const float *bias, const float *res, float beta, float *C, int64_t ldc, int64_t sc) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    uint32_t x = (uint32_t)A[b * sa + (ta ? k * lda + i : i * lda + k)] << 16;
                    uint32_t y = (uint32_t)B[b * sb + (tb ? j * ldb + k : k * ldb + j)] << 16;
                    float fx, fy;
                    memcpy(&fx, &x, 4);
                    memcpy(&fy, &y, 4);
                    acc += (double)fx * fy;
                }
                float *c = &C[b * sc + i * ldc + j];
                *c = (float)(alpha * acc + (bias ? bias[j] : 0) + (res ? res[b * sc + i * ldc + j] : 0) +
                             (beta == 0 ? 0 : beta * *c));
            }
}

/* vc_gemm_batched_bf16, plus bias [N] added to every row and res (laid out
 * as C, not C itself) added, each when not NULL (only with alpha 1, beta 0,
 * batch 1: vc_gemm_bias_bf16). */
static void gemm_impl(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb,
                      const float *bias, const float *res, float beta, float *C, int64_t ldc, int64_t sc) {
    if (batch <= 0 || M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t b = 0; b < (sc ? batch : 1); b++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    float *c = &C[b * sc + i * ldc + j];
                    *c = (bias ? bias[j] : 0) + (res ? res[b * sc + i * ldc + j] : 0) + (beta == 0 ? 0 : beta * *c);
                }
        return;
    }
    if (sc == 0 && batch > 1) { /* every entry adds into one C, in order */
        size_t ea = flags & VC_GEMM_A_BF16 ? 2 : 4, eb = flags & VC_GEMM_B_BF16 ? 2 : 4;
        for (int64_t b = 0; b < batch; b++)
            gemm_impl(flags, 1, ta, tb, M, N, K, alpha, (const char *)A + (size_t)(b * sa) * ea, lda, 0,
                      (const char *)B + (size_t)(b * sb) * eb, ldb, 0, b ? NULL : bias, b ? NULL : res, b ? 1 : beta, C, ldc,
                      0);
        return;
    }
    pthread_once(&once, init_once);
    thread_state *s = engine ? state() : NULL;
    /* float32 operands are packed into bf16 buffers */
    const uint16_t *a = A, *b = B;
    int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
    int64_t nbB = sb ? batch : 1;
    uint16_t *tmp[2] = {NULL, NULL};
    if (!(flags & VC_GEMM_A_BF16)) {
        uint16_t *p = s ? buffer(s, 0, (size_t)(batch * ra * ca)) : (tmp[0] = malloc((size_t)(batch * ra * ca) * 2));
        if (!p) goto fail;
        pack_bf16(p, A, sa ? batch : 1, sa, ra, ca, lda);
        a = p;
        lda = ca;
        sa = sa ? ra * ca : 0;
    }
    if (!(flags & VC_GEMM_B_BF16)) {
        uint16_t *p = s ? buffer(s, 1, (size_t)(nbB * rb * cb)) : (tmp[1] = malloc((size_t)(nbB * rb * cb) * 2));
        if (!p) goto fail;
        pack_bf16(p, B, nbB, sb, rb, cb, ldb);
        b = p;
        ldb = cb;
        sb = sb ? rb * cb : 0;
    }
    if (sa == 0 && batch > 1) { /* a shared A: oneDNN wants it per entry; loop */
        for (int64_t i = 0; i < batch; i++)
            gemm_impl(VC_GEMM_A_BF16 | VC_GEMM_B_BF16, 1, ta, tb, M, N, K, alpha, a, lda, 0, b + i * sb, ldb, 0, bias,
                      res ? res + i * sc : NULL, beta, C + i * sc, ldc, 0);
        goto done;
    }
    /* lookup compares keys with memcmp: the padding after the two bools
     * must be zero, not whatever the stack held (an initialiser list leaves
     * it unspecified, and with it every lookup could miss and compile a new
     * primitive, with its own scratchpad) */
    key_t_ k;
    memset(&k, 0, sizeof k);
    k.batch = batch, k.M = M, k.N = N, k.K = K, k.lda = lda, k.ldb = ldb, k.ldc = ldc;
    k.sa = batch > 1 ? sa : 0, k.sb = batch > 1 ? sb : 0, k.sc = batch > 1 ? sc : 0;
    k.alpha = alpha, k.beta = beta, k.ta = ta, k.tb = tb, k.bias = bias != NULL, k.res = res != NULL;
    entry *e = s ? lookup(s, &k) : NULL;
    if (!e) {
        gemm_loop(batch, ta, tb, M, N, K, alpha, a, lda, sa, b, ldb, sb, bias, res, beta, C, ldc, sc);
        goto done;
    }
    fp_dnnl_memory_set_data_handle(e->a, (void *)a);
    fp_dnnl_memory_set_data_handle(e->b, (void *)b);
    fp_dnnl_memory_set_data_handle(e->c, C);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    int nargs = 3;
    if (bias) {
        fp_dnnl_memory_set_data_handle(e->bias, (void *)bias);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, e->bias};
    }
    if (res) {
        fp_dnnl_memory_set_data_handle(e->res, (void *)res);
        args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, e->res};
    }
    if (fp_dnnl_primitive_execute(e->prim, s->stream, nargs, args) != dnnl_success ||
        fp_dnnl_stream_wait(s->stream) != dnnl_success)
        gemm_loop(batch, ta, tb, M, N, K, alpha, a, lda, sa, b, ldb, sb, bias, res, beta, C, ldc, sc);
done:
    free(tmp[0]);
    free(tmp[1]);
    return;
fail:
    free(tmp[0]);
    free(tmp[1]);
    /* out of memory for the conversion: C is left as NaN so the caller's
     * non-finite checks report it */
    for (int64_t bi = 0; bi < batch; bi++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[bi * sc + i * ldc + j] = __builtin_nanf("");
}

void vc_gemm_batched_bf16(unsigned flags, int64_t batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                          float alpha, const void *A, int64_t lda, int64_t sa, const void *B, int64_t ldb, int64_t sb,
                          float beta, float *C, int64_t ldc, int64_t sc) {
    gemm_impl(flags, batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, NULL, NULL, beta, C, ldc, sc);
}

void vc_gemm_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                  int64_t lda, const void *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    gemm_impl(flags, 1, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, NULL, NULL, beta, C, ldc, 0);
}

void vc_gemm_bias_bf16(unsigned flags, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                       const void *B, int64_t ldb, const float *bias, const float *res, float *C, int64_t ldc) {
    /* res == C: accumulate (the sum post-op); another matrix: the binary one */
    gemm_impl(flags, 1, ta, tb, M, N, K, 1, A, lda, 0, B, ldb, 0, bias, res == C ? NULL : res, res == C ? 1 : 0, C, ldc,
              0);
}
