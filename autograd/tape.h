/* tape.h: reverse-mode autograd.
 * A vc_var is a value tensor plus its gradient. Ops (ops.h) compute their
 * output from the tape's arena and, when grad mode is on and an input needs a
 * gradient, append a node (output, inputs, backward function, saved context)
 * to the tape. vc_backward() seeds d(loss)=1 and walks the nodes in reverse.
 * The first contribution to a gradient is written, later ones accumulate
 * (grad_written), so no gradient buffer is ever cleared just to be added to.
 *
 * Errors are sticky: an op that fails stores the message (vc_last_error),
 * records the status in the tape and returns NULL; every later op given a NULL
 * input or called on a failed tape returns NULL too. A forward pass can thus
 * be written straight through and checked once with vc_tape_status().
 *
 * Memory: activations, their gradients and kernel scratch come from the
 * tape's arena, which lives on the tape's device (vc_tape_init_on); the vars,
 * the nodes' saved contexts and host staging come from a second, host arena,
 * so host code never writes into device memory: small host inputs (lengths,
 * masks, targets, indices) reach the device through vc_tape_upload. Both are
 * reused after vc_tape_reset(); parameters (params.h) live outside and
 * survive resets. During the backward pass the gradient of
 * an op's output is dead once that op's backward has run, so its buffer is
 * recycled for later gradients of the same size: the gradients alive at once
 * are only those of the frontier, not of the whole graph. Gradients of leaf
 * vars (inputs, parameters) are kept; set keep_grads to keep all. */
#ifndef VC_TAPE_H
#define VC_TAPE_H

#include <stdbool.h>

#include "../tensor/backend.h"
#include "../tensor/tensor.h"

typedef struct vc_var {
    vc_tensor val;
    vc_tensor grad;          /* same shape as val; data NULL until written */
    bool requires_grad;
    bool grad_written;       /* grad holds a value: accumulate, don't overwrite */
    bool is_param;           /* grad is persistent (params.h) */
    bool grad_borrowed;      /* grad is the caller's buffer (vc_backward_with) */
    int first_reader;        /* during a hooked backward: the earliest node reading it (-1: told already) */
} vc_var;

struct vc_tape;
struct vc_node;
typedef vc_status (*vc_backward_fn)(struct vc_tape *t, const struct vc_node *n);

typedef struct vc_node {
    const char *op;
    vc_backward_fn backward;
    vc_var *out;
    vc_var *in[4];           /* the first 4 inputs; an optional one may be NULL */
    int n_in;
    vc_var **in_many;        /* all n_in inputs when there are more than 4 */
    void *ctx;               /* op-specific saved state, in the arena */
} vc_node;

/* The node's n_in inputs, wherever they are kept (in, or in_many past 4). */
static inline vc_var *const *vc_node_inputs(const vc_node *n) { return n->n_in > 4 ? n->in_many : n->in; }

typedef struct vc_tape {
    vc_arena arena;          /* on the tape's device: tensor data */
    vc_arena host;           /* host memory: vars, contexts, staging */
    vc_node *nodes;
    int n_nodes, cap_nodes;
    bool grad_enabled;       /* false: no_grad mode, nothing is recorded */
    bool training;           /* dropout active */
    uint64_t seed;           /* dropout masks derive from (seed, step, call) */
    uint64_t step;
    uint64_t n_random_calls; /* dropout calls since reset */
    vc_status status;        /* first error since reset */
    bool keep_grads;         /* keep every intermediate gradient (debugging) */
    struct vc_tape_prof *prof; /* per-op timings when profiling (vc_tape_profile) */
    void *grad_pool;         /* recycled gradient buffers (see vc_backward), a host list */
    void *spare_pool;        /* unused list entries, reused across steps */
    bool capturing;          /* the device stream records a graph: uploads copy at once, outside it */
    int missing_kernel;      /* a kernel the ops use that the device's backend lacks (vc_kop), or -1:
                                every op then fails with one line naming it */
    int precision;           /* vc_precision of the ops' products (op_gemm.h); 0 = fp32 */
    struct vc_bf16_cache *bf16_cache; /* bf16 copies of parameters (op_gemm.c) */
} vc_tape;

/* A tape computing on the CPU, or on device d (its arena lives there). */
void vc_tape_init(vc_tape *t, size_t arena_bytes);
void vc_tape_init_on(vc_tape *t, vc_device d, size_t arena_bytes);
static inline vc_device vc_tape_device(const vc_tape *t) { return t->arena.device; }
void vc_tape_free(vc_tape *t);
/* Forget nodes and activations; keep memory; clear the error; step++. */
void vc_tape_reset(vc_tape *t);
static inline void vc_tape_grad(vc_tape *t, bool on) { t->grad_enabled = on; }
static inline vc_status vc_tape_status(const vc_tape *t) { return t->status; }

/* Per-op time accounting: forward time is the time between consecutive
 * recorded ops (so it includes a caller's work between them), backward time
 * is each node's backward. vc_tape_profile_report writes a table, slowest
 * first, of the time accumulated since profiling was turned on. */
vc_status vc_tape_profile(vc_tape *t, bool on);
void vc_tape_profile_report(const vc_tape *t, char *buf, size_t n);

/* Backpropagate from a scalar var (numel 1). */
vc_status vc_backward(vc_tape *t, vc_var *loss);

/* Calls out of a backward, so outside code can work while it runs (train/
 * starts the all-reduce of finished gradients; autograd knows nothing of
 * what they do). Either function may be NULL; a failure they return stops
 * the backward with that status. Both run on the caller's thread. */
typedef struct vc_backward_hooks {
    /* The gradient of parameter p (is_param, requires_grad) is final: no
     * node left in this backward writes it. Called exactly once per such
     * parameter that a recorded node reads, right after the backward of the
     * earliest node reading it (the tape is in recording order, so later
     * nodes were walked before); p->grad_written is false when no gradient
     * reached it. A parameter no node reads is not reported. */
    vc_status (*grad_ready)(void *ud, vc_var *p);
    /* After each node's backward (after its grad_ready calls). */
    vc_status (*after_op)(void *ud);
    void *ud;
} vc_backward_hooks;
/* vc_backward with hooks (NULL: none). */
vc_status vc_backward_hooked(vc_tape *t, vc_var *loss, const vc_backward_hooks *h);
/* Backpropagate from any var given d(objective)/d(out) (contiguous F32 of
 * out's shape), e.g. to time one layer or to chain to outside code. */
vc_status vc_backward_with(vc_tape *t, vc_var *out, const vc_tensor *gout);

/* A var for data that needs no gradient: wraps x when it is contiguous
 * float32, else holds a float32 contiguous copy in the arena. Set
 * requires_grad on the result to differentiate with respect to an input. */
vc_var *vc_const(vc_tape *t, const vc_tensor *x);
/* Host memory valid until the next reset (for staging); NULL (tape failed)
 * on OOM. */
void *vc_tape_host(vc_tape *t, size_t nbytes);
/* nbytes of host data copied into the tape's arena (on its device); NULL
 * (tape failed) on OOM. */
void *vc_tape_upload(vc_tape *t, const void *host, size_t nbytes);
/* x as a contiguous float32 tensor on the tape's device: x itself when it
 * already is one, else a copy in the arena (from the host, or converted). */
vc_status vc_tape_on_device(vc_tape *t, const vc_tensor *x, vc_tensor *out);
/* A var in the arena with a fresh F32 value of the given shape. */
vc_var *vc_var_new(vc_tape *t, int ndim, const int64_t *shape);

/* ---- for op implementations ---- */
/* The backend that computes on v's device (ops compute only through it). */
static inline const vc_backend *vc_var_backend(const vc_var *v) { return vc_backend_for(v->val.device); }
/* Records failure s (message already set) and returns NULL. */
vc_var *vc_tape_fail(vc_tape *t, vc_status s);
/* True if the tape failed or any of the n inputs is NULL. */
bool vc_tape_bad(vc_tape *t, int n, vc_var *const *in);
/* Output var for an op over inputs: allocates the value, sets requires_grad. */
vc_var *vc_op_out(vc_tape *t, int ndim, const int64_t *shape, int n, vc_var *const *in);
/* Validates per-row lengths for an op (an integer host tensor [B], each in
 * [0, T]) and copies them to the arena (the device) as int64; NULL (tape
 * failed, message naming op) otherwise. */
int64_t *vc_lengths_arg(vc_tape *t, const char *op, const vc_tensor *len, int64_t B, int64_t T);
/* Scratch memory for a forward or backward kernel, from the recycled
 * gradient buffers when one of that size is free, else the arena; give it
 * back when done so later gradients reuse it. NULL (status set) on OOM. */
void *vc_tape_take(vc_tape *t, size_t nbytes);
void vc_tape_give(vc_tape *t, void *p, size_t nbytes);
/* Output var whose value is a view of an input's memory (reshape). */
vc_var *vc_op_view(vc_tape *t, const vc_tensor *view, int n, vc_var *const *in);
/* Appends a node if out->requires_grad and grad mode is on; ctx_bytes of
 * zeroed context are allocated and returned through *ctx (may be NULL). */
vc_status vc_record(vc_tape *t, const char *op, vc_backward_fn bw, vc_var *out, int n, vc_var *const *in,
                    size_t ctx_bytes, void **ctx);
/* The gradient buffer of v for writing: allocates it if needed and returns
 * through *beta 0 (first write: overwrite) or 1 (accumulate). Marks it written.
 * Returns NULL if v needs no gradient. */
vc_real *vc_grad_for(vc_tape *t, vc_var *v, vc_real *beta);

#endif
