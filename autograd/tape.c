#include "tape.h"

#include "op_gemm.h"
#include "../tensor/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROF_OPS 64
struct vc_tape_prof {
    const char *op[PROF_OPS];
    double fwd[PROF_OPS], bwd[PROF_OPS];
    long calls[PROF_OPS];
    int n;
    double last;
};

static double prof_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int prof_slot(struct vc_tape_prof *p, const char *op) {
    for (int i = 0; i < p->n; i++)
        if (p->op[i] == op || strcmp(p->op[i], op) == 0) return i;
    if (p->n == PROF_OPS) return PROF_OPS - 1;
    p->op[p->n] = op;
    return p->n++;
}

vc_status vc_tape_profile(vc_tape *t, bool on) {
    if (!on) {
        free(t->prof);
        t->prof = NULL;
        return VC_OK;
    }
    if (!t->prof && !(t->prof = calloc(1, sizeof *t->prof)))
        return vc_fail(VC_ERR_OOM, "autograd: cannot allocate the profile");
    t->prof->last = prof_now();
    return VC_OK;
}

void vc_tape_profile_report(const vc_tape *t, char *buf, size_t n) {
    const struct vc_tape_prof *p = t->prof;
    size_t o = 0;
    buf[0] = '\0';
    if (!p) return;
    int order[PROF_OPS];
    for (int i = 0; i < p->n; i++) order[i] = i;
    for (int i = 0; i < p->n; i++) /* slowest first */
        for (int j = i + 1; j < p->n; j++)
            if (p->fwd[order[j]] + p->bwd[order[j]] > p->fwd[order[i]] + p->bwd[order[i]]) {
                int k = order[i];
                order[i] = order[j];
                order[j] = k;
            }
    o += (size_t)snprintf(buf + o, n - o, "%-16s %8s %10s %10s\n", "op", "calls", "fwd ms", "bwd ms");
    for (int k = 0; k < p->n && o < n; k++) {
        int i = order[k];
        o += (size_t)snprintf(buf + o, n - o, "%-16s %8ld %10.1f %10.1f\n", p->op[i], p->calls[i], 1e3 * p->fwd[i],
                              1e3 * p->bwd[i]);
    }
}

/* The kernels autograd's ops call (the optimiser's, the CLIP towers' and
 * the ranking kernels are not theirs). */
static const vc_kop op_kernels[] = {
    VC_K_GEMM, VC_K_GEMM_BATCHED, VC_K_LAYERNORM_FWD, VC_K_LAYERNORM_BWD, VC_K_L2NORM_FWD, VC_K_L2NORM_BWD,
    VC_K_SOFTMAX_FWD, VC_K_SOFTMAX_BWD, VC_K_XENT_FWD, VC_K_XENT_BWD, VC_K_ATTENTION_FWD, VC_K_ATTENTION_BWD,
    VC_K_LSTM_FWD, VC_K_LSTM_BWD, VC_K_UNARY_FWD, VC_K_UNARY_BWD, VC_K_UNARY_BWD_INPLACE, VC_K_SCALE, VC_K_AXPBY,
    VC_K_BINARY_FWD, VC_K_BINARY_BWD, VC_K_SUM_FWD, VC_K_SUM_BWD, VC_K_WSUM_FWD, VC_K_WSUM_BWD, VC_K_BIAS_FWD,
    VC_K_BIAS_BWD, VC_K_STRIDED_COPY, VC_K_SLAB_COPY, VC_K_GATHER_FWD, VC_K_GATHER_BWD, VC_K_DROPOUT_FWD,
    VC_K_DROPOUT_BWD,
};

void vc_tape_init_on(vc_tape *t, vc_device d, size_t arena_bytes) {
    memset(t, 0, sizeof *t);
    vc_arena_init_on(&t->arena, d, arena_bytes);
    vc_arena_init(&t->host, 0);
    t->grad_enabled = true;
    t->training = true;
    t->missing_kernel = -1;
    const vc_backend *be = vc_backend_for(d);
    for (size_t i = 0; be && d != VC_CPU && i < sizeof op_kernels / sizeof op_kernels[0]; i++)
        if (!be->supports_op || !be->supports_op(op_kernels[i])) {
            t->missing_kernel = (int)op_kernels[i];
            break;
        }
}

void vc_tape_init(vc_tape *t, size_t arena_bytes) { vc_tape_init_on(t, VC_CPU, arena_bytes); }

typedef struct pool_buf pool_buf;
static void pool_list_free(pool_buf *b);

void vc_tape_free(vc_tape *t) {
    vc_op_gemm_free(t);
    free(t->prof);
    vc_arena_free(&t->arena);
    vc_arena_free(&t->host);
    pool_list_free(t->grad_pool);
    pool_list_free(t->spare_pool);
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static void pool_drop_all(vc_tape *t);

void vc_tape_reset(vc_tape *t) {
    vc_op_gemm_reset(t);
    vc_arena_reset(&t->arena);
    vc_arena_reset(&t->host);
    pool_drop_all(t);
    t->n_nodes = 0;
    t->n_random_calls = 0;
    t->status = VC_OK;
    t->step++;
    if (t->prof) t->prof->last = prof_now();
}

vc_var *vc_tape_fail(vc_tape *t, vc_status s) {
    if (s == VC_OK) s = vc_fail(VC_ERR_ARG, "autograd: an op failed without a status (a bug in the op)");
    if (t->status == VC_OK) t->status = s;
    return NULL;
}

bool vc_tape_bad(vc_tape *t, int n, vc_var *const *in) {
    if (t->status != VC_OK) return true;
    if (t->missing_kernel >= 0) { /* checked before any op calls into the table */
        const vc_backend *be = vc_backend_for(t->arena.device);
        t->status = vc_fail(VC_ERR_UNSUPPORTED, "autograd: the %s backend has no %s kernel, which the ops need",
                            be ? be->name : vc_device_name(t->arena.device), vc_kop_name((vc_kop)t->missing_kernel));
        return true;
    }
    for (int i = 0; i < n; i++)
        if (!in[i]) {
            /* A NULL with no earlier failure is a caller bug; say so. */
            vc_fail(VC_ERR_ARG, "autograd: input %d is NULL", i);
            t->status = VC_ERR_ARG;
            return true;
        }
    return false;
}

static vc_var *var_alloc(vc_tape *t) {
    vc_var *v = vc_arena_alloc(&t->host, sizeof *v);
    if (!v) {
        vc_fail(VC_ERR_OOM, "autograd: cannot allocate a variable (%zu bytes) on the tape", sizeof *v);
        return NULL;
    }
    memset(v, 0, sizeof *v);
    return v;
}

void *vc_tape_host(vc_tape *t, size_t nbytes) {
    void *p = vc_arena_alloc(&t->host, nbytes ? nbytes : 1);
    if (!p) vc_tape_fail(t, VC_ERR_OOM);
    return p;
}

void *vc_tape_upload(vc_tape *t, const void *host, size_t nbytes) {
    void *p = vc_arena_alloc(&t->arena, nbytes ? nbytes : 1);
    if (!p) return vc_tape_fail(t, VC_ERR_OOM);
    if (t->capturing) vc_device_upload_now(t->arena.device, p, host, nbytes);
    else if (nbytes) vc_backend_for(t->arena.device)->copy_h2d(p, host, nbytes);
    return p;
}

vc_status vc_tape_on_device(vc_tape *t, const vc_tensor *x, vc_tensor *out) {
    vc_device d = t->arena.device;
    if (x->device == d) return vc_tensor_contiguous(out, x, &t->arena);
    if (x->device != VC_CPU)
        return vc_fail(VC_ERR_DEVICE, "autograd: a tensor on %s given to a tape on %s", vc_device_name(x->device),
                       vc_device_name(d));
    vc_tensor h; /* float32 and contiguous on the host first, then one copy */
    vc_status s = vc_tensor_contiguous(&h, x, &t->host);
    if (s) return s;
    vc_tensor o;
    if ((s = vc_tensor_arena(&o, &t->arena, VC_F32, h.ndim, h.ne))) return s;
    if (t->capturing) vc_device_upload_now(d, o.data, h.data, vc_nbytes(&h));
    else vc_backend_for(d)->copy_h2d(o.data, h.data, vc_nbytes(&h));
    *out = o;
    return VC_OK;
}

vc_var *vc_const(vc_tape *t, const vc_tensor *x) {
    if (t->status) return NULL;
    if (!x || !x->data) {
        vc_fail(VC_ERR_ARG, "autograd: constant tensor is missing");
        return vc_tape_fail(t, VC_ERR_ARG);
    }
    vc_var *v = var_alloc(t);
    if (!v) return vc_tape_fail(t, VC_ERR_OOM);
    /* Ops see contiguous float32 on the tape's device only: other layouts,
     * dtypes and host tensors are copied. */
    vc_status s = vc_tape_on_device(t, x, &v->val);
    if (s) return vc_tape_fail(t, s);
    return v;
}

vc_var *vc_var_new(vc_tape *t, int ndim, const int64_t *shape) {
    if (t->status) return NULL;
    vc_var *v = var_alloc(t);
    if (!v) return vc_tape_fail(t, VC_ERR_OOM);
    vc_status s = vc_tensor_arena(&v->val, &t->arena, VC_F32, ndim, shape);
    if (s) return vc_tape_fail(t, s);
    return v;
}

vc_var *vc_op_out(vc_tape *t, int ndim, const int64_t *shape, int n, vc_var *const *in) {
    vc_var *v = vc_var_new(t, ndim, shape);
    if (!v) return NULL;
    if (t->grad_enabled)
        for (int i = 0; i < n; i++)
            if (in[i]->requires_grad) v->requires_grad = true;
    return v;
}

int64_t *vc_lengths_arg(vc_tape *t, const char *op, const vc_tensor *len, int64_t B, int64_t T) {
    char s1[96];
    if (!len->data || (len->dtype != VC_I64 && len->dtype != VC_I32) || len->ndim != 1 || len->ne[0] != B ||
        !vc_is_contiguous(len) || len->device != VC_CPU) {
        vc_fail(VC_ERR_SHAPE, "op %s: lengths must be an integer host tensor [%lld], got %s %s on %s", op,
                (long long)B, vc_dtype_name(len->dtype), vc_shape_str(len, s1, sizeof s1), vc_device_name(len->device));
        return vc_tape_fail(t, VC_ERR_SHAPE), NULL;
    }
    size_t nb = (size_t)(B + 1) * sizeof(int64_t);
    int64_t *h = vc_tape_host(t, nb);
    if (!h) return NULL;
    for (int64_t b = 0; b < B; b++) {
        h[b] = vc_int_at(len, b);
        if (h[b] < 0 || h[b] > T) {
            vc_fail(VC_ERR_ARG, "op %s: length %lld of row %lld is outside [0, %lld]", op, (long long)h[b],
                    (long long)b, (long long)T);
            return vc_tape_fail(t, VC_ERR_ARG), NULL;
        }
    }
    h[B] = 0;
    return vc_tape_upload(t, h, nb);
}

vc_var *vc_op_view(vc_tape *t, const vc_tensor *view, int n, vc_var *const *in) {
    if (t->status) return NULL;
    vc_var *v = var_alloc(t);
    if (!v) return vc_tape_fail(t, VC_ERR_OOM);
    v->val = *view;
    v->val.owned = NULL;
    if (t->grad_enabled)
        for (int i = 0; i < n; i++)
            if (in[i]->requires_grad) v->requires_grad = true;
    return v;
}

vc_status vc_record(vc_tape *t, const char *op, vc_backward_fn bw, vc_var *out, int n, vc_var *const *in,
                    size_t ctx_bytes, void **ctx) {
    if (ctx) *ctx = NULL;
    if (t->prof) {
        double now = prof_now();
        int i = prof_slot(t->prof, op);
        t->prof->fwd[i] += now - t->prof->last;
        t->prof->calls[i]++;
        t->prof->last = now;
    }
    if (!t->grad_enabled || !out->requires_grad) {
        /* Still give the op a context so its forward can write saved state. */
        if (ctx && ctx_bytes) {
            *ctx = vc_arena_calloc(&t->host, ctx_bytes);
            if (!*ctx) return t->status = vc_fail(VC_ERR_OOM, "op %s: cannot allocate its %zu-byte context", op, ctx_bytes);
        }
        return VC_OK;
    }
    if (t->n_nodes == t->cap_nodes) {
        int cap = t->cap_nodes ? 2 * t->cap_nodes : 256;
        vc_node *nn = realloc(t->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return t->status = vc_fail(VC_ERR_OOM, "autograd: cannot grow the tape to %d nodes", cap);
        t->nodes = nn;
        t->cap_nodes = cap;
    }
    vc_node *nd = &t->nodes[t->n_nodes];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->backward = bw;
    nd->out = out;
    nd->n_in = n;
    for (int i = 0; i < n && i < 4; i++) nd->in[i] = in[i];
    if (n > 4) {
        nd->in_many = vc_arena_alloc(&t->host, (size_t)n * sizeof(vc_var *));
        if (!nd->in_many) return t->status = vc_fail(VC_ERR_OOM, "op %s: cannot record its %d inputs", op, n);
        memcpy(nd->in_many, in, (size_t)n * sizeof(vc_var *));
    }
    if (ctx_bytes) {
        nd->ctx = vc_arena_calloc(&t->host, ctx_bytes);
        if (!nd->ctx) return t->status = vc_fail(VC_ERR_OOM, "op %s: cannot allocate its %zu-byte context", op, ctx_bytes);
        if (ctx) *ctx = nd->ctx;
    }
    t->n_nodes++;
    return VC_OK;
}

/* A recycled buffer: the free list is host memory that points at the
 * buffers (which may be device memory the host must not touch). Entries
 * move between the live list and a spare list, so a steady step allocates
 * none. */
struct pool_buf {
    struct pool_buf *next;
    void *p;
    size_t nbytes;
};

static void pool_list_free(pool_buf *b) {
    for (pool_buf *n; b; b = n) {
        n = b->next;
        free(b);
    }
}

static void pool_drop_all(vc_tape *t) {
    pool_buf *b = t->grad_pool;
    while (b) {
        pool_buf *n = b->next;
        b->next = t->spare_pool;
        t->spare_pool = b;
        b = n;
    }
    t->grad_pool = NULL;
}

static void *pool_take(vc_tape *t, size_t nbytes) {
    for (pool_buf **p = (pool_buf **)&t->grad_pool; *p; p = &(*p)->next)
        if ((*p)->nbytes == nbytes) {
            pool_buf *b = *p;
            *p = b->next;
            b->next = t->spare_pool;
            t->spare_pool = b;
            return b->p;
        }
    return NULL;
}

void *vc_tape_take(vc_tape *t, size_t nbytes) {
    nbytes = (nbytes + 63) / 64 * 64;
    void *p = pool_take(t, nbytes);
    if (!p) p = vc_arena_alloc(&t->arena, nbytes);
    if (!p) t->status = vc_fail(VC_ERR_OOM, "autograd: cannot allocate a %zu-byte gradient buffer", nbytes);
    return p;
}

void vc_tape_give(vc_tape *t, void *p, size_t nbytes) {
    nbytes = (nbytes + 63) / 64 * 64;
    if (!p || !nbytes) return;
    pool_buf *b = t->spare_pool;
    if (b) t->spare_pool = b->next;
    else if (!(b = malloc(sizeof *b))) return; /* not recycled: the arena still frees it */
    b->p = p;
    b->nbytes = nbytes;
    b->next = t->grad_pool;
    t->grad_pool = b;
}

static void pool_give(vc_tape *t, vc_var *v) {
    size_t nbytes = (vc_nbytes(&v->grad) + 63) / 64 * 64;
    if (!v->grad.data || v->grad.owned || !nbytes) return;
    vc_tape_give(t, v->grad.data, nbytes);
    v->grad.data = NULL;
    v->grad_written = false;
}

vc_real *vc_grad_for(vc_tape *t, vc_var *v, vc_real *beta) {
    if (!v->requires_grad) return NULL;
    if (!v->grad.data) {
        vc_status s = vc_tensor_wrap(&v->grad, NULL, VC_F32, v->val.ndim, v->val.ne);
        if (!s) v->grad.data = pool_take(t, (vc_nbytes(&v->grad) + 63) / 64 * 64);
        if (!s && !v->grad.data) s = vc_tensor_arena(&v->grad, &t->arena, VC_F32, v->val.ndim, v->val.ne);
        if (s) {
            t->status = s;
            return NULL;
        }
        v->grad_written = false;
    }
    *beta = v->grad_written ? 1 : 0;
    v->grad_written = true;
    return vc_f32(&v->grad);
}

static vc_status walk_back(vc_tape *t, const vc_backward_hooks *h);

vc_status vc_backward(vc_tape *t, vc_var *loss) { return vc_backward_hooked(t, loss, NULL); }

vc_status vc_backward_hooked(vc_tape *t, vc_var *loss, const vc_backward_hooks *h) {
    if (t->status) return t->status;
    if (!loss) return vc_fail(VC_ERR_ARG, "backward: loss is NULL");
    if (vc_numel(&loss->val) != 1) {
        char b[96];
        return vc_fail(VC_ERR_SHAPE, "backward: loss must be a scalar, got %s", vc_shape_str(&loss->val, b, sizeof b));
    }
    if (!loss->requires_grad) return vc_fail(VC_ERR_ARG, "backward: loss does not depend on any parameter");
    vc_real beta;
    vc_real *g = vc_grad_for(t, loss, &beta);
    if (!g) return t->status ? t->status : vc_fail(VC_ERR_OOM, "backward: no gradient buffer for the loss");
    /* d loss / d loss = 1 (added to a gradient already written) */
    const vc_backend *be = vc_var_backend(loss);
    if (beta != 0) { /* g += 1 on the device: g = 1 * one + 1 * g */
        vc_real *one = vc_arena_alloc(&t->arena, sizeof(vc_real));
        if (!one) return t->status = VC_ERR_OOM;
        be->fill(one, 1, 1);
        be->axpby(one, 1, g, 1, 1);
    } else {
        be->fill(g, 1, 1);
    }
    return walk_back(t, h);
}

vc_status vc_backward_with(vc_tape *t, vc_var *out, const vc_tensor *gout) {
    if (t->status) return t->status;
    char b1[96], b2[96];
    if (!out || !gout || !gout->data) return vc_fail(VC_ERR_ARG, "backward: output or its gradient is missing");
    if (!vc_same_shape(&out->val, gout) || gout->dtype != VC_F32 || !vc_is_contiguous(gout))
        return vc_fail(VC_ERR_SHAPE, "backward: output is %s but its gradient is %s %s",
                       vc_shape_str(&out->val, b1, sizeof b1), vc_dtype_name(gout->dtype),
                       vc_shape_str(gout, b2, sizeof b2));
    if (!out->requires_grad) return vc_fail(VC_ERR_ARG, "backward: output does not depend on any parameter");
    if (!out->grad.data && !out->is_param && t->n_nodes && t->nodes[t->n_nodes - 1].out == out) {
        /* Nothing recorded after out can accumulate into its gradient, so the
         * caller's buffer is used as it is instead of copied. */
        out->grad = *gout;
        out->grad.owned = NULL;
        out->grad_written = true;
        out->grad_borrowed = true;
        vc_status s = walk_back(t, NULL);
        out->grad_borrowed = false;
        return s;
    }
    vc_real beta;
    vc_real *g = vc_grad_for(t, out, &beta);
    if (!g) return t->status ? t->status : vc_fail(VC_ERR_OOM, "backward: no gradient buffer for the output");
    vc_var_backend(out)->axpby(vc_f32(gout), 1, g, beta, vc_numel(gout));
    return walk_back(t, NULL);
}

/* Parameters that need a gradient: what grad_ready reports. */
static bool hooked_param(const vc_var *v) { return v && v->is_param && v->requires_grad; }

/* Marks each parameter with the earliest node reading it: its gradient is
 * final once that node's backward ran. */
static void mark_first_readers(vc_tape *t) {
    for (int i = t->n_nodes - 1; i >= 0; i--) {
        vc_var *const *in = vc_node_inputs(&t->nodes[i]);
        for (int k = 0; k < t->nodes[i].n_in; k++)
            if (hooked_param(in[k])) in[k]->first_reader = i;
    }
}

/* After node i's backward: the hooks for the parameters it was the first to read. */
static vc_status after_node(const vc_tape *t, int i, const vc_backward_hooks *h) {
    const vc_node *n = &t->nodes[i];
    vc_var *const *in = vc_node_inputs(n);
    vc_status s = VC_OK;
    for (int k = 0; k < n->n_in && !s; k++)
        if (hooked_param(in[k]) && in[k]->first_reader == i) {
            in[k]->first_reader = -1; /* once, also when a node reads it twice */
            if (h->grad_ready) s = h->grad_ready(h->ud, in[k]);
        }
    if (!s && h->after_op) s = h->after_op(h->ud);
    return s;
}

static vc_status walk_back(vc_tape *t, const vc_backward_hooks *h) {
    if (h) mark_first_readers(t);
    for (int i = t->n_nodes - 1; i >= 0; i--) {
        const vc_node *n = &t->nodes[i];
        if (!n->out->grad_written) { /* nothing flows back through it */
            vc_status s = h ? after_node(t, i, h) : VC_OK;
            if (s) return t->status = s;
            continue;
        }
        double t0 = t->prof ? prof_now() : 0;
        vc_status s = n->backward(t, n);
        if (t->prof) {
            double now = prof_now();
            t->prof->bwd[prof_slot(t->prof, n->op)] += now - t0;
            t->prof->last = now;
        }
        if (s) return t->status = s;
        if (t->status) return t->status;
        /* Its output's gradient is dead now unless it aliases the caller's
         * buffer (backward_with) or was asked for. */
        if (!t->keep_grads && !n->out->is_param && !n->out->grad_borrowed) pool_give(t, n->out);
        if (h && (s = after_node(t, i, h))) return t->status = s;
    }
    return VC_OK;
}
