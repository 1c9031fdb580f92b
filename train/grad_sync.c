#include "grad_sync.h"

#include <string.h>

typedef struct {
    int64_t lo, hi;     /* [lo, hi) of ps->grad */
    int pending;        /* its parameters not reported final yet */
    vc_comm_req req;
} bucket;

struct vc_grad_sync {
    vc_params *ps;
    vc_comm *comm;
    vc_backward_hooks hooks;
    bucket *b;
    int nb;
    int *of;            /* [ps->count]: the bucket of each parameter */
    int next;           /* the first bucket not started */
    int oldest;         /* the first bucket that may still be in flight */
    int started_in_backward;
    bool backward_done;
};

/* The parameter whose gradient v's gradient is, by its offset into ps->grad; -1 if none. */
static int param_index(const vc_params *ps, const vc_var *v) {
    const vc_real *g = vc_f32(&v->grad);
    if (!g || g < ps->grad || g >= ps->grad + ps->n) return -1;
    size_t off = (size_t)(g - ps->grad);
    int lo = 0, hi = ps->count - 1;
    while (lo <= hi) { /* offsets increase with the index */
        int mid = (lo + hi) / 2;
        if (ps->info[mid].offset == off) return ps->vars[mid] == v ? mid : -1;
        if (ps->info[mid].offset < off) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static vc_status start_ready(vc_grad_sync *g) {
    while (g->next < g->nb && g->b[g->next].pending == 0) {
        bucket *k = &g->b[g->next];
        vc_status s = vc_comm_iallreduce_sum(g->comm, g->ps->grad + k->lo, k->hi - k->lo, &k->req);
        if (s) return s;
        g->next++;
        if (!g->backward_done) g->started_in_backward++;
    }
    return VC_OK;
}

static vc_status on_grad_ready(void *ud, vc_var *p) {
    vc_grad_sync *g = ud;
    int i = param_index(g->ps, p);
    if (i < 0) return VC_OK; /* a parameter of another store: not in this buffer */
    if (!p->grad_written) { /* no gradient reached it: zero, as vc_params_finish_grad would */
        vc_backend_for(g->ps->device)->mem_set(vc_f32(&p->grad), 0, g->ps->info[i].numel * sizeof(vc_real));
        p->grad_written = true;
    }
    g->b[g->of[i]].pending--;
    return start_ready(g);
}

/* MPI moves a collective along only inside its calls: test the oldest ones
 * in flight after every op. */
static vc_status on_after_op(void *ud) {
    vc_grad_sync *g = ud;
    while (g->oldest < g->next) {
        bool done;
        vc_status s = vc_comm_test(g->comm, &g->b[g->oldest].req, &done);
        if (s) return s;
        if (!done) break;
        g->oldest++;
    }
    return VC_OK;
}

vc_status vc_grad_sync_begin(vc_grad_sync **out, vc_tape *t, vc_params *ps, vc_comm *c, double bucket_mb) {
    *out = NULL;
    if (!(bucket_mb > 0)) return vc_fail(VC_ERR_ARG, "grad sync: bucket size %g MB (must be > 0)", bucket_mb);
    if (ps->device != c->ops->device)
        return vc_fail(VC_ERR_ARG, "grad sync: the gradients are on %s, the %s comm's collectives on %s",
                       vc_device_name(ps->device), c->ops->name, vc_device_name(c->ops->device));
    vc_grad_sync *g = vc_tape_host(t, sizeof *g);
    int *of = vc_tape_host(t, (size_t)(ps->count ? ps->count : 1) * sizeof *of);
    bucket *b = vc_tape_host(t, (size_t)(ps->count ? ps->count : 1) * sizeof *b);
    if (!g || !of || !b) return vc_fail(VC_ERR_OOM, "grad sync: no memory for the plan of %d parameters", ps->count);
    memset(g, 0, sizeof *g);
    g->ps = ps;
    g->comm = c;
    g->b = b;
    g->of = of;
    /* from the end of the buffer: bucket 0 ends at ps->n, each next one where the last began */
    double cap = bucket_mb * 1e6 / sizeof(vc_real);
    bool open = true;
    for (int i = ps->count - 1; i >= 0; i--) {
        if (open) {
            memset(&b[g->nb], 0, sizeof b[0]);
            b[g->nb].hi = g->nb ? b[g->nb - 1].lo : (int64_t)ps->n;
            g->nb++;
            open = false;
        }
        bucket *k = &b[g->nb - 1];
        k->lo = i == 0 ? 0 : (int64_t)ps->info[i].offset;
        k->pending++;
        of[i] = g->nb - 1;
        open = (double)(k->hi - k->lo) >= cap; /* full: the next parameter opens a new one */
    }
    g->hooks = (vc_backward_hooks){on_grad_ready, on_after_op, g};
    *out = g;
    return VC_OK;
}

const vc_backward_hooks *vc_grad_sync_hooks(vc_grad_sync *g) { return &g->hooks; }

vc_status vc_grad_sync_finish(vc_grad_sync *g) {
    g->backward_done = true;
    for (int k = g->next; k < g->nb; k++) g->b[k].pending = 0; /* the rest was zeroed by vc_params_finish_grad */
    vc_status s = start_ready(g);
    for (int k = g->oldest; k < g->next; k++) {
        vc_status w = vc_comm_wait(g->comm, &g->b[k].req);
        if (!s) s = w;
    }
    g->oldest = g->next;
    return s;
}

void vc_grad_sync_get_info(const vc_grad_sync *g, vc_grad_sync_info *info) {
    memset(info, 0, sizeof *info);
    info->buckets = g->nb;
    info->started_in_backward = g->started_in_backward;
    for (int k = 0; k < g->nb; k++) {
        int64_t n = g->b[k].hi - g->b[k].lo;
        if (k == 0 || n < info->smallest) info->smallest = n;
        if (n > info->largest) info->largest = n;
    }
}
