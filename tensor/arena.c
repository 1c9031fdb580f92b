#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "status.h"

#define VC_ALIGN 64

struct vc_arena_chunk {
    vc_arena_chunk *next;
    size_t cap, off;
    unsigned char *mem;
};

static vc_arena_chunk *chunk_new(vc_arena *a, size_t cap) {
    vc_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    cap = (cap + VC_ALIGN - 1) / VC_ALIGN * VC_ALIGN;
    const vc_backend *be = vc_backend_for(a->device);
    c->mem = be ? be->mem_alloc(cap) : NULL;
    if (!c->mem) { free(c); return NULL; }
    c->cap = cap;
    c->off = 0;
    c->next = NULL;
    a->n_mallocs++;
    return c;
}

static void chunks_free(vc_arena *a) {
    const vc_backend *be = vc_backend_for(a->device);
    for (vc_arena_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        be->mem_free(c->mem);
        free(c);
    }
    a->head = NULL;
}

void vc_arena_init_on(vc_arena *a, vc_device d, size_t initial_bytes) {
    memset(a, 0, sizeof *a);
    a->device = d;
    if (initial_bytes) a->head = chunk_new(a, initial_bytes);
}

void vc_arena_init(vc_arena *a, size_t initial_bytes) { vc_arena_init_on(a, VC_CPU, initial_bytes); }

void vc_arena_free(vc_arena *a) {
    vc_device d = a->device;
    chunks_free(a);
    memset(a, 0, sizeof *a);
    a->device = d;
}

void *vc_arena_alloc(vc_arena *a, size_t nbytes) {
    size_t need = (nbytes + VC_ALIGN - 1) / VC_ALIGN * VC_ALIGN;
    if (need == 0) need = VC_ALIGN;
    vc_arena_chunk *c = a->head;
    if (!c || c->cap - c->off < need) {
        size_t cap = need > (size_t)1 << 20 ? need : (size_t)1 << 20;
        if (c && c->cap * 2 > cap) cap = c->cap * 2 > need ? c->cap * 2 : need;
        vc_arena_chunk *nc = chunk_new(a, cap);
        if (!nc) {
            vc_fail(VC_ERR_OOM, "arena: cannot allocate %zu bytes", cap);
            return NULL;
        }
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->mem + c->off;
    c->off += need;
    a->used += need;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

void *vc_arena_calloc(vc_arena *a, size_t nbytes) {
    void *p = vc_arena_alloc(a, nbytes);
    if (p) vc_backend_for(a->device)->mem_set(p, 0, nbytes);
    return p;
}

void vc_arena_reset(vc_arena *a) {
    if (a->head && a->head->next) {
        /* Consolidate: one chunk big enough for the whole high-water mark. */
        size_t want = a->high_water;
        chunks_free(a);
        a->head = chunk_new(a, want);  /* on failure the next alloc retries */
    }
    if (a->head) a->head->off = 0;
    a->used = 0;
}
