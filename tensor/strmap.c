#include "strmap.h"

#include <stdlib.h>
#include <string.h>

struct vc_strmap_slot {
    const char *key; /* NULL: empty; k_tomb: deleted */
    size_t len;
    uint64_t hash;
    int64_t val;
};

struct vc_strmap_block {
    vc_strmap_block *next;
    size_t used, cap;
    char data[];
};

enum { BLOCK_BYTES = 1 << 16 };
static const char k_tomb[1];

static const char *name(const vc_strmap *m) { return m->what ? m->what : "string map"; }

uint64_t vc_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64: offset basis and prime */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

void vc_strmap_init(vc_strmap *m, const char *what) {
    memset(m, 0, sizeof *m);
    m->what = what;
}

static void free_blocks(vc_strmap_block *b) {
    while (b) {
        vc_strmap_block *next = b->next;
        free(b);
        b = next;
    }
}

void vc_strmap_free(vc_strmap *m) {
    free(m->slots);
    free_blocks(m->keys);
    vc_strmap_init(m, m->what);
}

void vc_strmap_clear(vc_strmap *m) {
    if (m->cap) memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->used = m->live = 0;
    if (m->keys) { /* keep the newest block for the keys to come */
        free_blocks(m->keys->next);
        m->keys->next = NULL;
        m->keys->used = 0;
    }
}

size_t vc_strmap_size(const vc_strmap *m) { return m->live; }

/* Rebuilds the table with cap slots (a power of two above 2 * live), dropping tombstones. */
static vc_status rehash(vc_strmap *m, size_t cap) {
    vc_strmap_slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return vc_fail(VC_ERR_OOM, "%s: out of memory growing the hash table to %zu slots (%zu bytes)", name(m), cap,
                       cap * sizeof *ns);
    for (size_t i = 0; i < m->cap; i++) {
        const vc_strmap_slot *s = &m->slots[i];
        if (!s->key || s->key == k_tomb) continue;
        size_t j = s->hash & (cap - 1);
        while (ns[j].key) j = (j + 1) & (cap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
    m->used = m->live;
    return VC_OK;
}

vc_status vc_strmap_reserve(vc_strmap *m, size_t n) {
    size_t cap = m->cap ? m->cap : 16;
    while (cap / 2 < n + 1) {
        if (cap > SIZE_MAX / 2 / sizeof(vc_strmap_slot))
            return vc_fail(VC_ERR_OOM, "%s: %zu keys are too many for a hash table", name(m), n);
        cap *= 2;
    }
    return cap == m->cap ? VC_OK : rehash(m, cap);
}

/* The slot holding key, or NULL. */
static vc_strmap_slot *find(const vc_strmap *m, const void *key, size_t len, uint64_t h) {
    if (!m->cap) return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        vc_strmap_slot *s = &m->slots[i];
        if (!s->key) return NULL;
        if (s->key != k_tomb && s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s;
    }
}

bool vc_strmap_get(const vc_strmap *m, const void *key, size_t len, int64_t *val) {
    const vc_strmap_slot *s = find(m, key, len, vc_hash_bytes(key, len));
    if (s && val) *val = s->val;
    return s != NULL;
}

/* A stable copy of key[0, len), NUL-terminated, from the key blocks. */
static const char *store_key(vc_strmap *m, const void *key, size_t len) {
    vc_strmap_block *b = m->keys;
    if (!b || b->cap - b->used < len + 1) {
        if (len > SIZE_MAX - sizeof *b - 1) return NULL;
        size_t cap = len + 1 > BLOCK_BYTES ? len + 1 : BLOCK_BYTES;
        if (!(b = malloc(sizeof *b + cap))) return NULL;
        b->next = m->keys;
        b->used = 0;
        b->cap = cap;
        m->keys = b;
    }
    char *dst = b->data + b->used;
    if (len) memcpy(dst, key, len);
    dst[len] = 0;
    b->used += len + 1;
    return dst;
}

vc_status vc_strmap_put(vc_strmap *m, const void *key, size_t len, int64_t val, bool *added, int64_t *val_there) {
    if (added) *added = false;
    uint64_t h = vc_hash_bytes(key, len);
    const vc_strmap_slot *there = find(m, key, len, h);
    if (there) {
        if (val_there) *val_there = there->val;
        return VC_OK;
    }
    if (2 * (m->used + 1) > m->cap) {
        /* twice the keys, or the same size when tombstones fill it */
        size_t cap = m->cap ? m->cap : 16;
        while (cap / 2 < m->live + 1 || (cap == m->cap && 4 * (m->live + 1) > cap)) cap *= 2;
        vc_status st = rehash(m, cap);
        if (st) return st;
    }
    const char *k = store_key(m, key, len);
    if (!k) return vc_fail(VC_ERR_OOM, "%s: out of memory storing a %zu-byte key", name(m), len);
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != k_tomb) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].key) m->used++;
    m->slots[i] = (vc_strmap_slot){k, len, h, val};
    m->live++;
    if (added) *added = true;
    return VC_OK;
}

bool vc_strmap_del(vc_strmap *m, const void *key, size_t len) {
    vc_strmap_slot *s = find(m, key, len, vc_hash_bytes(key, len));
    if (!s) return false;
    s->key = k_tomb;
    m->live--;
    return true;
}
