/* tokenizer.c: the CLIP BPE tokenizer (see tokenizer.h for what matches the reference and
 * what does not): the split of the cleaned text into words, the byte-level BPE merges with
 * their word cache, and the rows of ids. Cleaning is text_clean.c, the vocabulary
 * bpe_vocab.c. Each step names the Python function it mirrors. */
#include "models/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "models/bpe_vocab.h"
#include "models/text_clean.h"
#include "tensor/buf.h"
#include "tensor/strmap.h"
#include "tensor/utf8.h"

#define CACHE_MAX_WORDS 32768        /* the word cache is emptied when it grows past this */

typedef struct { int32_t rank, pos; } heap_item;

struct vc_tokenizer {
    vc_bpe_vocab vocab;
    pcre2_code *re;
    pcre2_match_data *md;
    /* word cache: the raw bytes of a word -> where its ids are in cache_vals (offset << 32
     * | count) */
    vc_strmap cache;
    vc_i32buf cache_vals;
    /* BPE scratch */
    int32_t *sym, *prv, *nxt;
    size_t sym_cap;
    heap_item *heap;
    size_t heap_n, heap_cap;
};

/* Builds the split pattern of SimpleTokenizer with this vocabulary's special strings. */
static vc_status compile_pattern(vc_tokenizer *tk, const char *file) {
    char pat[640];
    size_t n = 0;
    const char *sp[2] = {tk->vocab.sot_str, tk->vocab.eot_str};
    for (int k = 0; k < 2; k++) {
        for (const char *c = sp[k]; *c; c++) {
            unsigned char u = (unsigned char)*c;
            if (u < 0x80 && !((u >= '0' && u <= '9') || ((u | 0x20) >= 'a' && (u | 0x20) <= 'z')))
                pat[n++] = '\\';
            pat[n++] = *c;
        }
        pat[n++] = '|';
    }
    /* The regex module's \s is White_Space, where PCRE2's also holds U+180E; and with
     * IGNORECASE it never matches U+0345 (which case-folds to a letter) in any of these
     * classes, so that character is skipped like whitespace. */
    static const char rest[] =
        "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}"
        "\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}\\x{345}\\p{L}\\p{N}]+";
    memcpy(pat + n, rest, sizeof rest);
    int err;
    PCRE2_SIZE off;
    tk->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &err, &off, NULL);
    if (!tk->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return vc_fail(VC_ERR_FORMAT, "%s: special tokens give a bad split pattern: %s", file,
                       (const char *)msg);
    }
    pcre2_jit_compile(tk->re, PCRE2_JIT_COMPLETE);  /* optional: interpreted if it fails */
    tk->md = pcre2_match_data_create_from_pattern(tk->re, NULL);
    if (!tk->md) return vc_fail(VC_ERR_OOM, "%s: out of memory for the split pattern's match data", file);
    return VC_OK;
}

void vc_tokenizer_free(vc_tokenizer *tk) {
    if (!tk) return;
    vc_bpe_vocab_free(&tk->vocab);
    if (tk->md) pcre2_match_data_free(tk->md);
    if (tk->re) pcre2_code_free(tk->re);
    vc_strmap_free(&tk->cache);
    free(tk->cache_vals.v);
    free(tk->sym);
    free(tk->prv);
    free(tk->nxt);
    free(tk->heap);
    free(tk);
}

vc_status vc_tokenizer_load(vc_tokenizer **out, const char *path) {
    if (!out || !path) return vc_fail(VC_ERR_ARG, "vc_tokenizer_load: NULL argument");
    *out = NULL;
    vc_tokenizer *tk = calloc(1, sizeof *tk);
    if (!tk) return vc_fail(VC_ERR_OOM, "%s: out of memory for the tokenizer (%zu bytes)", path, sizeof *tk);
    vc_strmap_init(&tk->cache, "tokenizer word cache");
    vc_status st = vc_bpe_vocab_load(&tk->vocab, path);
    if (!st) st = compile_pattern(tk, path);
    if (st) {
        vc_tokenizer_free(tk);
        return st;
    }
    *out = tk;
    return VC_OK;
}

int32_t vc_tokenizer_sot(const vc_tokenizer *tk) { return tk->vocab.sot; }
int32_t vc_tokenizer_eot(const vc_tokenizer *tk) { return tk->vocab.eot; }
int32_t vc_tokenizer_vocab_size(const vc_tokenizer *tk) { return tk->vocab.n_tok; }

int32_t vc_tokenizer_token_id(const vc_tokenizer *tk, const char *token) {
    return tk && token ? vc_bpe_vocab_find(&tk->vocab, token, strlen(token)) : -1;
}

vc_status vc_tokenizer_clean(const char *utf8, char **out) {
    if (!utf8 || !out) return vc_fail(VC_ERR_ARG, "vc_tokenizer_clean: NULL argument");
    *out = NULL;
    vc_bytebuf t = {0};
    vc_status st = vc_text_clean(utf8, &t);
    if (st != VC_OK) { free(t.v); return st; }
    if (!t.v) {
        t.v = calloc(1, 1);
        if (!t.v) return vc_fail(VC_ERR_OOM, "tokenizer: out of memory for an empty string");
    }
    *out = (char *)t.v;
    return VC_OK;
}

/* ------------------------------------------------------------------ BPE */

static bool heap_less(heap_item x, heap_item y) {
    return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos);
}

static bool heap_push(vc_tokenizer *tk, int32_t rank, int32_t pos) {
    if (!vc_grow((void **)&tk->heap, &tk->heap_cap, tk->heap_n + 1, sizeof *tk->heap)) return false;
    size_t i = tk->heap_n++;
    heap_item it = {rank, pos};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(it, tk->heap[p])) break;
        tk->heap[i] = tk->heap[p];
        i = p;
    }
    tk->heap[i] = it;
    return true;
}

static heap_item heap_pop(vc_tokenizer *tk) {
    heap_item top = tk->heap[0], last = tk->heap[--tk->heap_n];
    size_t i = 0, n = tk->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(tk->heap[c + 1], tk->heap[c])) c++;
        if (!heap_less(tk->heap[c], last)) break;
        tk->heap[i] = tk->heap[c];
        i = c;
    }
    if (n) tk->heap[i] = last;
    return top;
}

static bool push_pair(vc_tokenizer *tk, int32_t pos) {
    int32_t q = tk->nxt[pos];
    if (q < 0) return true;
    const vc_bpe_pair *p = vc_bpe_vocab_pair(&tk->vocab, tk->sym[pos], tk->sym[q]);
    return !p || heap_push(tk, p->rank, pos);
}

/* SimpleTokenizer.bpe on the bytes of one word: repeatedly merge every occurrence of the
 * lowest-ranked adjacent pair, left to right. A heap of (rank, position) gives the same
 * order: merges only make pairs of higher rank (read_merges checks this), and within one
 * rank the positions come out left to right, stale entries being skipped. */
static vc_status bpe_word(vc_tokenizer *tk, const unsigned char *w, size_t m, vc_i32buf *out) {
    if (m > INT32_MAX / 2) return vc_fail(VC_ERR_ARG, "tokenizer: word of %zu bytes", m);
    if (m > tk->sym_cap) {
        size_t nc = m < 64 ? 64 : m;
        int32_t *p[3] = {realloc(tk->sym, nc * sizeof(int32_t)), NULL, NULL};
        if (p[0]) tk->sym = p[0];
        if (p[0] && (p[1] = realloc(tk->prv, nc * sizeof(int32_t)))) tk->prv = p[1];
        if (p[1] && (p[2] = realloc(tk->nxt, nc * sizeof(int32_t)))) tk->nxt = p[2];
        if (!p[2]) goto oom;
        tk->sym_cap = nc;
    }
    for (size_t i = 0; i < m; i++) {
        tk->sym[i] = i + 1 == m ? tk->vocab.byte_end_id[w[i]] : tk->vocab.byte_id[w[i]];
        tk->prv[i] = (int32_t)i - 1;
        tk->nxt[i] = i + 1 < m ? (int32_t)i + 1 : -1;
    }
    tk->heap_n = 0;
    for (size_t i = 0; i + 1 < m; i++)
        if (!push_pair(tk, (int32_t)i)) goto oom;
    while (tk->heap_n) {
        heap_item it = heap_pop(tk);
        int32_t p = it.pos, q = tk->nxt[p];
        if (tk->sym[p] < 0 || q < 0) continue;
        const vc_bpe_pair *ps = vc_bpe_vocab_pair(&tk->vocab, tk->sym[p], tk->sym[q]);
        if (!ps || ps->rank != it.rank) continue;  /* stale: a neighbour changed */
        tk->sym[p] = ps->merged;
        tk->sym[q] = -1;
        tk->nxt[p] = tk->nxt[q];
        if (tk->nxt[q] >= 0) tk->prv[tk->nxt[q]] = p;
        if (tk->prv[p] >= 0 && !push_pair(tk, tk->prv[p])) goto oom;
        if (!push_pair(tk, p)) goto oom;
    }
    for (int32_t p = 0; p >= 0; p = tk->nxt[p]) vc_i32buf_push(out, tk->sym[p]);
    if (out->oom) goto oom;
    return VC_OK;
oom:
    return vc_fail(VC_ERR_OOM, "tokenizer: out of memory merging a %zu-byte word", m);
}

/* The ids of one word through the cache (SimpleTokenizer.cache); the cache is emptied
 * when it holds CACHE_MAX_WORDS words so memory stays bounded over millions of captions. */
static vc_status word_ids(vc_tokenizer *tk, const unsigned char *w, size_t m, vc_i32buf *out) {
    int64_t at;
    if (vc_strmap_get(&tk->cache, w, m, &at)) {
        size_t off = (size_t)(at >> 32), len = (size_t)(at & 0xFFFFFFFF);
        for (size_t k = 0; k < len; k++) vc_i32buf_push(out, tk->cache_vals.v[off + k]);
        return out->oom ? vc_fail(VC_ERR_OOM, "tokenizer: out of memory for the ids of a %zu-byte word", m) : VC_OK;
    }
    size_t before = out->n;
    vc_status st = bpe_word(tk, w, m, out);
    if (st != VC_OK || m > 256) return st;  /* long words are rare: not worth caching */
    if (vc_strmap_size(&tk->cache) >= CACHE_MAX_WORDS) {
        vc_strmap_clear(&tk->cache);
        tk->cache_vals.n = 0;
    }
    size_t off = tk->cache_vals.n;
    for (size_t k = before; k < out->n; k++) vc_i32buf_push(&tk->cache_vals, out->v[k]);
    if (tk->cache_vals.oom ||
        vc_strmap_put(&tk->cache, w, m, (int64_t)off << 32 | (int64_t)(out->n - before), NULL, NULL) != VC_OK) {
        /* the cache is optional: just drop it */
        vc_strmap_clear(&tk->cache);
        tk->cache_vals.n = 0;
        tk->cache_vals.oom = false;
        vc_clear_error();
    }
    return VC_OK;
}

/* SimpleTokenizer.encode, stopping once limit ids are out (the rest would be cut). */
static vc_status encode_ids(vc_tokenizer *tk, const char *utf8, vc_i32buf *out, size_t limit) {
    vc_bytebuf t = {0};
    vc_status st = vc_text_clean(utf8, &t);
    size_t start = 0;
    while (st == VC_OK && start < t.n && out->n < limit) {
        int rc = pcre2_match(tk->re, (PCRE2_SPTR)t.v, t.n, start, PCRE2_NO_UTF_CHECK, tk->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) { st = vc_fail(VC_ERR_ARG, "tokenizer: pattern match failed (%d)", rc); break; }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tk->md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { start = a + 1; continue; }  /* the pattern never matches empty */
        const unsigned char *w = (const unsigned char *)t.v + a;
        size_t m = b - a;
        if (m == strlen(tk->vocab.sot_str) && memcmp(w, tk->vocab.sot_str, m) == 0) vc_i32buf_push(out, tk->vocab.sot);
        else if (m == strlen(tk->vocab.eot_str) && memcmp(w, tk->vocab.eot_str, m) == 0) vc_i32buf_push(out, tk->vocab.eot);
        else st = word_ids(tk, w, m, out);
        if (out->oom) st = vc_fail(VC_ERR_OOM, "tokenizer: out of memory for %zu ids", out->n + 1);
        start = b;
    }
    free(t.v);
    return st;
}

vc_status vc_tokenizer_encode(vc_tokenizer *tk, const char *utf8, int32_t **ids, int *n) {
    if (!tk || !utf8 || !ids || !n) return vc_fail(VC_ERR_ARG, "vc_tokenizer_encode: NULL argument");
    *ids = NULL;
    *n = 0;
    vc_i32buf out = {0};
    vc_status st = encode_ids(tk, utf8, &out, (size_t)INT32_MAX);
    if (st != VC_OK) { free(out.v); return st; }
    if (!out.v) {
        out.v = malloc(sizeof *out.v);
        if (!out.v) return vc_fail(VC_ERR_OOM, "tokenizer: out of memory for an empty id list");
    }
    *ids = out.v;
    *n = (int)out.n;
    return VC_OK;
}

vc_status vc_tokenize(vc_tokenizer *tk, const char *utf8, int32_t *ids, int context_len, int *n_out) {
    if (n_out) *n_out = 0;
    if (!tk || !utf8 || !ids) return vc_fail(VC_ERR_ARG, "vc_tokenize: NULL argument");
    if (context_len < 1) return vc_fail(VC_ERR_ARG, "vc_tokenize: context length %d", context_len);
    size_t C = (size_t)context_len;
    vc_i32buf bpe = {0};
    vc_status st = encode_ids(tk, utf8, &bpe, C);  /* C - 1 ids already decide the row */
    if (st != VC_OK) { free(bpe.v); return st; }
    memset(ids, 0, C * sizeof *ids);
    size_t n;
    if (bpe.n + 2 <= C) {
        ids[0] = tk->vocab.sot;
        for (size_t i = 0; i < bpe.n; i++) ids[1 + i] = bpe.v[i];
        ids[bpe.n + 1] = tk->vocab.eot;
        n = bpe.n + 2;
    } else {  /* tokens[:C], then tokens[-1] = eot */
        ids[0] = tk->vocab.sot;
        for (size_t i = 1; i < C; i++) ids[i] = bpe.v[i - 1];
        ids[C - 1] = tk->vocab.eot;
        n = C;
    }
    free(bpe.v);
    if (n_out) *n_out = (int)n;
    return VC_OK;
}

vc_status vc_tokenizer_decode(const vc_tokenizer *tk, const int32_t *ids, int n, char **out) {
    if (!tk || (!ids && n > 0) || !out || n < 0) return vc_fail(VC_ERR_ARG, "vc_tokenizer_decode: bad argument");
    *out = NULL;
    vc_bytebuf raw = {0}, res = {0};
    vc_u32buf cps = {0};
    vc_status st = VC_OK;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tk->vocab.n_tok || tk->vocab.tok_len[ids[i]] < 0) {
            st = vc_fail(VC_ERR_ARG, "vc_tokenizer_decode: id %d at %d is not in the vocabulary", ids[i], i);
            goto done;
        }
        cps.n = 0;
        const char *s = tk->vocab.pool + tk->vocab.tok_off[ids[i]];
        vc_utf8_to_u32((const unsigned char *)s, (size_t)tk->vocab.tok_len[ids[i]], &cps);
        for (size_t k = 0; k < cps.n; k++) {
            /* every character of a CLIP token is a byte symbol; others (a foreign
             * vocab.json) read as '?' */
            int16_t u = cps.v[k] < 512 ? tk->vocab.unbyte[cps.v[k]] : -1;
            char byte = u >= 0 ? (char)u : '?';
            vc_bytebuf_append(&raw, &byte, 1);
        }
    }
    cps.n = 0;
    vc_utf8_to_u32(raw.v ? raw.v : (const uint8_t *)"", raw.n, &cps);
    vc_u32_to_utf8(cps.v, cps.n, &res);
    if (raw.oom || cps.oom || res.oom) {
        st = vc_fail(VC_ERR_OOM, "vc_tokenizer_decode: out of memory for the text of %d ids", n);
        goto done;
    }
    if (!res.v) vc_bytebuf_append(&res, "", 0);
    /* "</w>" -> " " in place */
    size_t w = 0;
    for (size_t r = 0; r < res.n;) {
        if (res.n - r >= 4 && memcmp(res.v + r, "</w>", 4) == 0) { res.v[w++] = ' '; r += 4; }
        else res.v[w++] = res.v[r++];
    }
    res.v[w] = 0;
    *out = (char *)res.v;
    res.v = NULL;
done:
    free(raw.v);
    free(res.v);
    free(cps.v);
    return st;
}
