/* strmap.h: the one string -> int64 hash map, for vocabularies, word caches, video ids and
 * paths. Keys are byte strings of any length (NUL bytes allowed); the map keeps its own
 * copy of each, at an address that stays put until vc_strmap_clear or vc_strmap_free.
 * Owns: the byte-string hash (FNV-1a), open addressing with linear probing (load at most
 * 1/2), deletion by tombstones, and the storage of the keys.
 * Not here: maps keyed by integers (the tokenizer's merge-pair table is its own).
 *
 *   vc_strmap m;
 *   vc_strmap_init(&m, "video ids");           // the name goes into error messages
 *   vc_strmap_put(&m, "v1", 2, 0, &added);     // added: false when "v1" was there
 *   int64_t v; if (vc_strmap_get(&m, "v1", 2, &v)) ...
 *   vc_strmap_free(&m);
 *
 * A zeroed vc_strmap is an empty map named "string map". One map must not be used by two
 * threads at once. */
#ifndef VC_STRMAP_H
#define VC_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"

typedef struct vc_strmap_slot vc_strmap_slot;
typedef struct vc_strmap_block vc_strmap_block;

typedef struct {
    const char *what;         /* names the map in error messages */
    vc_strmap_slot *slots;    /* [cap], cap a power of two (or 0) */
    size_t cap, used, live;   /* used counts live keys and tombstones */
    vc_strmap_block *keys;    /* the key bytes, newest block first */
} vc_strmap;

/* FNV-1a of n bytes, its high bits folded into the low ones the table indexes by. */
uint64_t vc_hash_bytes(const void *p, size_t n);

void vc_strmap_init(vc_strmap *m, const char *what);
void vc_strmap_free(vc_strmap *m);   /* the map is empty (and reusable) afterwards */
void vc_strmap_clear(vc_strmap *m);  /* removes every key, keeps the table's memory */
size_t vc_strmap_size(const vc_strmap *m);

/* Room for n keys in all without growing again. */
vc_status vc_strmap_reserve(vc_strmap *m, size_t n);

/* Whether key[0, len) is in the map; then *val (may be NULL) gets its value. */
bool vc_strmap_get(const vc_strmap *m, const void *key, size_t len, int64_t *val);

/* Adds key[0, len) -> val unless the key is there already; then the map is unchanged and
 * *val_there (may be NULL) gets the value it has. *added (may be NULL) says which. */
vc_status vc_strmap_put(vc_strmap *m, const void *key, size_t len, int64_t val, bool *added, int64_t *val_there);

/* Removes key[0, len); false when it was not there. */
bool vc_strmap_del(vc_strmap *m, const void *key, size_t len);

#endif
