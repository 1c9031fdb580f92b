/* tokenizer.h: the CLIP byte-level BPE tokenizer, matching open_clip's SimpleTokenizer
 * (the OpenAI CLIP tokenizer) id for id on real captions.
 * Owns: the public tokenizer API, the split pattern, merges by rank with the word cache,
 * start/end tokens, truncation to the context length and zero padding. Built on three
 * models/ modules, one concept each: text cleaning (text_clean.h, with mojibake.h), the
 * vocabulary files and tables (bpe_vocab.h), and the BPE here (tokenizer.c).
 * Not here: the text transformer that consumes the ids, batching, fetching the vocabulary
 * (tools/fetch-clip-vocab.sh, `make vocab`).
 *
 * Text is cleaned as text_clean.h describes (ftfy 6.3.1's fix_text, html.unescape twice,
 * whitespace, str.lower(), and where that differs from Python). Hundreds of thousands of
 * generated strings (mojibake of every kind ftfy handles, entities, garbled bytes) were
 * cleaned and tokenized exactly as ftfy 6.3.1 + open_clip do (tests/test_tokenizer.c,
 * VC_TOK_FUZZ). Words are split with PCRE2, whose Unicode tables (10.42: Unicode 14) are
 * older than those of the regex module open_clip uses: a character unassigned in Unicode 14
 * (e.g. U+209E, which the repair of mojibake can produce) may be split differently.
 * Special tokens: the gzip vocabulary recognises open_clip's "<start_of_text>" and
 * "<end_of_text>" in the text (OpenAI's CLIP spelled them "<|startoftext|>"); a Hugging Face
 * vocabulary recognises the strings vocab.json gives ids 49406/49407 (its last two ids).
 *
 * A tokenizer keeps a cache of words already split, so one handle must not be used by two
 * threads at once; load one per thread (loading takes about 20 ms). */
#ifndef VC_TOKENIZER_H
#define VC_TOKENIZER_H

#include <stdint.h>

#include "tensor/status.h"

#define VC_TOKENIZER_CONTEXT 77  /* context length of every released CLIP text tower */

typedef struct vc_tokenizer vc_tokenizer;

/* path_or_dir: a bpe_simple_vocab_16e6.txt.gz file (gzip or plain text), a Hugging Face
 * merges.txt or vocab.json (the other file is read from the same folder), or a folder
 * holding either. As open_clip does, the first 48,894 merges are used. */
vc_status vc_tokenizer_load(vc_tokenizer **out, const char *path_or_dir);
void vc_tokenizer_free(vc_tokenizer *tk);

/* One row of open_clip's tokenize(): <start>, the BPE ids of the cleaned text, <end>;
 * when longer than context_len it is cut to context_len and its last id set to <end>;
 * the rest of ids[0..context_len) is 0. *n_out (may be NULL) gets the count of ids
 * before the padding. utf8 is NUL-terminated; invalid UTF-8 is replaced, never an error. */
vc_status vc_tokenize(vc_tokenizer *tk, const char *utf8, int32_t *ids, int context_len,
                      int *n_out);

/* The BPE ids of the cleaned text without start/end tokens and without truncation.
 * *ids is malloc'ed (free() it); *n may be 0. */
vc_status vc_tokenizer_encode(vc_tokenizer *tk, const char *utf8, int32_t **ids, int *n);

/* The cleaned, lower-cased text that is split into words (malloc'ed, free() it). */
vc_status vc_tokenizer_clean(const char *utf8, char **out);

/* Text of ids as open_clip's decode gives it: token strings joined, bytes back to UTF-8
 * (invalid sequences become U+FFFD), "</w>" read as a space; start/end tokens come out as
 * their strings. Malloc'ed (free() it). */
vc_status vc_tokenizer_decode(const vc_tokenizer *tk, const int32_t *ids, int n, char **out);

int32_t vc_tokenizer_sot(const vc_tokenizer *tk);        /* 49406 for CLIP */
int32_t vc_tokenizer_eot(const vc_tokenizer *tk);        /* 49407 for CLIP */
int32_t vc_tokenizer_vocab_size(const vc_tokenizer *tk); /* 49408 for CLIP */
/* Id of a vocabulary string in its byte-mapped form (e.g. "cat</w>"), or -1. */
int32_t vc_tokenizer_token_id(const vc_tokenizer *tk, const char *token);

#endif
