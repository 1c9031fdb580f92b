/* buf.h: growable arrays, the one helper for "append and double when full".
 * Owns: vc_grow (capacity doubling for any element type) and three buffers built on it,
 * code points (vc_u32buf), int32 ids (vc_i32buf) and bytes (vc_bytebuf, kept
 * NUL-terminated so it can be read as a string).
 * Not here: fixed-size arenas (arena.h), tensors.
 *
 * Out of memory: a buffer whose growth fails sets its sticky `oom` flag and ignores every
 * later push, so a caller appends a whole stage without checks and tests `oom` once at its
 * end (then frees `v` as usual; what the buffer holds is incomplete). A zeroed struct is an
 * empty buffer; free(b.v) releases it. */
#ifndef VC_BUF_H
#define VC_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Makes *p hold at least need elements of elem bytes (capacity *cap, in elements),
 * doubling from 64; false, with *p and *cap unchanged, when need * elem overflows or
 * realloc fails. */
bool vc_grow(void **p, size_t *cap, size_t need, size_t elem);

typedef struct { uint32_t *v; size_t n, cap; bool oom; } vc_u32buf;
typedef struct { int32_t *v; size_t n, cap; bool oom; } vc_i32buf;
typedef struct { uint8_t *v; size_t n, cap; bool oom; } vc_bytebuf; /* v[n] is 0 once allocated */

/* Whether a buffer has room for need elements in all, growing it; sets *oom when it
 * cannot (and stays false once *oom is set). Use it through VC_BUF_RESERVE. */
static inline bool vc_buf_room(void **v, size_t *cap, bool *oom, size_t need, size_t elem) {
    if (*oom) return false;
    if (need <= *cap || vc_grow(v, cap, need, elem)) return true;
    *oom = true;
    return false;
}
#define VC_BUF_RESERVE(b, need) vc_buf_room((void **)&(b)->v, &(b)->cap, &(b)->oom, (need), sizeof *(b)->v)

static inline void vc_u32buf_push(vc_u32buf *b, uint32_t x) {
    if (VC_BUF_RESERVE(b, b->n + 1)) b->v[b->n++] = x;
}

static inline void vc_u32buf_append(vc_u32buf *b, const uint32_t *s, size_t n) {
    if (n && VC_BUF_RESERVE(b, b->n + n)) {
        memcpy(b->v + b->n, s, n * sizeof *s);
        b->n += n;
    }
}

static inline void vc_i32buf_push(vc_i32buf *b, int32_t x) {
    if (VC_BUF_RESERVE(b, b->n + 1)) b->v[b->n++] = x;
}

/* Appends n bytes (n may be 0: then it only makes sure v is a valid empty string). */
static inline void vc_bytebuf_append(vc_bytebuf *b, const void *s, size_t n) {
    if (VC_BUF_RESERVE(b, b->n + n + 1)) {
        if (n) memcpy(b->v + b->n, s, n);
        b->n += n;
        b->v[b->n] = 0;
    }
}

static inline void vc_bytebuf_push(vc_bytebuf *b, uint8_t c) {
    if (VC_BUF_RESERVE(b, b->n + 2)) {
        b->v[b->n++] = c;
        b->v[b->n] = 0;
    }
}

#endif
