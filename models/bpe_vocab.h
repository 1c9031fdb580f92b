/* bpe_vocab.h: the CLIP byte-level BPE vocabulary, as open_clip's SimpleTokenizer builds it.
 * Owns: finding and reading the files (bpe_simple_vocab_16e6.txt.gz, gzip or plain text;
 * or Hugging Face merges.txt + vocab.json), with the checks that make a damaged or foreign
 * file an error naming it; bytes_to_unicode (the byte symbols); the token strings by id;
 * the token string -> id map; and the merge table, (left id, right id) -> rank and merged id.
 * Not here: text cleaning (text_clean.h), the split into words, the merges themselves and
 * the word cache (tokenizer.c).
 *
 * As open_clip does, the first 48,894 merges are used; a gzip file is still read to its end
 * so its checksum covers every byte. Ids of the gzip vocabulary: 256 byte symbols, their
 * 256 "</w>" forms, one id per merge in file order, then <start_of_text>, <end_of_text>. */
#ifndef VC_BPE_VOCAB_H
#define VC_BPE_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"
#include "tensor/strmap.h"

typedef struct { uint64_t key; int32_t rank, merged; } vc_bpe_pair; /* key 0: empty slot */

typedef struct {
    /* token strings, in their byte-mapped form, one per id (len -1: no token) */
    char *pool;
    size_t pool_n, pool_cap;
    size_t *tok_off;
    int32_t *tok_len;
    int32_t n_tok;
    vc_strmap ids;         /* token string -> id */
    vc_bpe_pair *pairs;    /* open addressing, pairs_cap a power of two */
    size_t pairs_cap;
    int32_t byte_id[256], byte_end_id[256];  /* "x" and "x</w>" for each byte */
    int32_t sot, eot;
    char sot_str[64], eot_str[64];           /* their strings, as they may appear in text */
    int16_t unbyte[512];   /* byte-mapped code point (all below 0x144) -> byte, or -1 */
} vc_bpe_vocab;

/* path_or_dir: as vc_tokenizer_load takes it (tokenizer.h). On failure *vb is empty. */
vc_status vc_bpe_vocab_load(vc_bpe_vocab *vb, const char *path_or_dir);
void vc_bpe_vocab_free(vc_bpe_vocab *vb);

/* Id of the n-byte token string s (byte-mapped form), or -1. */
int32_t vc_bpe_vocab_find(const vc_bpe_vocab *vb, const char *s, size_t n);

static inline uint64_t vc_bpe_pair_key(int32_t a, int32_t b) {
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)b;
}

static inline uint64_t vc_bpe_pair_hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

/* The merge of adjacent tokens a, b, or NULL (inline: the BPE asks this for every pair). */
static inline const vc_bpe_pair *vc_bpe_vocab_pair(const vc_bpe_vocab *vb, int32_t a, int32_t b) {
    uint64_t key = vc_bpe_pair_key(a, b);
    size_t mask = vb->pairs_cap - 1;
    for (size_t i = vc_bpe_pair_hash(key) & mask;; i = (i + 1) & mask) {
        if (vb->pairs[i].key == key) return &vb->pairs[i];
        if (vb->pairs[i].key == 0) return NULL;
    }
}

#endif
