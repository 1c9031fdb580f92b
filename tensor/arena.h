/* arena.h: a bump allocator for the activations of one training step.
 * Every block is 64-byte aligned. vc_arena_reset() rewinds it; if the step
 * needed more than the first chunk, reset replaces the chunks by one chunk of
 * the high-water size, so from the second step on a step does no malloc. */
#ifndef VC_ARENA_H
#define VC_ARENA_H

#include <stddef.h>

#include "dtype.h"

typedef struct vc_arena_chunk vc_arena_chunk;

typedef struct vc_arena {
    vc_device device;       /* where the chunks live (their backend allocates them) */
    vc_arena_chunk *head;   /* newest chunk first */
    size_t used;            /* bytes handed out since the last reset */
    size_t high_water;      /* most bytes ever handed out between resets */
    size_t n_mallocs;       /* chunk allocations so far (tests watch this) */
} vc_arena;

void vc_arena_init(vc_arena *a, size_t initial_bytes);  /* on the CPU */
void vc_arena_init_on(vc_arena *a, vc_device d, size_t initial_bytes);
void vc_arena_free(vc_arena *a);
/* NULL on allocation failure (with the error message set). */
void *vc_arena_alloc(vc_arena *a, size_t nbytes);
void *vc_arena_calloc(vc_arena *a, size_t nbytes);
void vc_arena_reset(vc_arena *a);

#endif
