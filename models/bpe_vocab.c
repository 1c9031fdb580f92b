/* bpe_vocab.c: the CLIP BPE vocabulary files and tables (see bpe_vocab.h). */
#include "models/bpe_vocab.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>
#include <zlib.h>

#include "tensor/buf.h"
#include "tensor/utf8.h"

#define N_MERGES (49152 - 256 - 2)  /* open_clip: merges[1:49152-256-2+1] */

/* bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
 * for U+0100.. in byte order. */
static void byte_symbols(uint32_t sym[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        sym[b] = printable ? (uint32_t)b : 256u + (uint32_t)n++;
    }
}

/* vocabulary order of the 256 byte symbols: the printable ones first, then the others */
static void byte_order(int order[256]) {
    int k = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) order[k++] = b;
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) order[k++] = b;
}

int32_t vc_bpe_vocab_find(const vc_bpe_vocab *vb, const char *s, size_t n) {
    int64_t id;
    return vc_strmap_get(&vb->ids, s, n, &id) ? (int32_t)id : -1;
}

/* Adds the string of token id to the string map, unless that string is there already. */
static vc_status map_insert(vc_bpe_vocab *vb, int32_t id) {
    return vc_strmap_put(&vb->ids, vb->pool + vb->tok_off[id], (size_t)vb->tok_len[id], id, NULL, NULL);
}

/* Stores the string of token id (ids grow by one in gzip files, arbitrary in vocab.json). */
static bool set_token(vc_bpe_vocab *vb, int32_t id, const char *s, size_t n, int32_t *cap) {
    if (id >= *cap) {
        int32_t nc = *cap ? *cap : 1024;
        while (nc <= id) nc *= 2;
        size_t *o = realloc(vb->tok_off, (size_t)nc * sizeof *o);
        if (!o) return false;
        vb->tok_off = o;
        int32_t *l = realloc(vb->tok_len, (size_t)nc * sizeof *l);
        if (!l) return false;
        vb->tok_len = l;
        for (int32_t i = *cap; i < nc; i++) { vb->tok_len[i] = -1; vb->tok_off[i] = 0; }
        *cap = nc;
    }
    if (!vc_grow((void **)&vb->pool, &vb->pool_cap, vb->pool_n + n + 1, 1)) return false;
    memcpy(vb->pool + vb->pool_n, s, n);
    vb->pool[vb->pool_n + n] = 0;
    vb->tok_off[id] = vb->pool_n;
    vb->tok_len[id] = (int32_t)n;
    vb->pool_n += n + 1;
    if (id >= vb->n_tok) vb->n_tok = id + 1;
    return true;
}

/* A later duplicate of a merge line replaces the earlier rank, as dict(zip(...)) does. */
static void pair_put(vc_bpe_vocab *vb, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = vc_bpe_pair_key(a, b);
    size_t mask = vb->pairs_cap - 1;
    size_t i = vc_bpe_pair_hash(key) & mask;
    while (vb->pairs[i].key != 0 && vb->pairs[i].key != key) i = (i + 1) & mask;
    vb->pairs[i].key = key;
    vb->pairs[i].rank = rank;
    vb->pairs[i].merged = merged;
}

/* One line (without its newline) from a gzip or plain file: 1, 0 at the end, -1 on error. */
static int read_line(gzFile f, vc_bytebuf *line, bool *had_newline) {
    line->n = 0;
    *had_newline = false;
    for (;;) {
        if (!VC_BUF_RESERVE(line, line->n + 4096)) return -1;
        if (!gzgets(f, (char *)line->v + line->n, (int)(line->cap - line->n))) {
            int err;
            gzerror(f, &err);
            if (err != Z_OK && err != Z_STREAM_END) return -1;
            return line->n ? 1 : 0;
        }
        line->n += strlen((char *)line->v + line->n);
        if (line->n > (1u << 24)) return -2;
        if (line->n && line->v[line->n - 1] == '\n') {
            line->v[--line->n] = 0;
            *had_newline = true;
            return 1;
        }
        if (gzeof(f)) return 1;
    }
}

/* Splits a merge line as str.split() does for ASCII whitespace: returns the field count
 * (up to 3) and the first two fields. */
static int split_fields(char *s, size_t n, char **f, size_t *fl) {
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f'))
            i++;
        if (i >= n) break;
        size_t st = i;
        while (i < n && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\v' || s[i] == '\f'))
            i++;
        if (k < 2) { f[k] = s + st; fl[k] = i - st; }
        if (++k == 3) break;
    }
    return k;
}

/* The 512 byte symbols ("x" and "x</w>") as UTF-8 strings, in vocabulary order. */
static void byte_symbol_string(const uint32_t sym[256], int b, bool end, char *out, size_t *n) {
    *n = vc_utf8_put(sym[b], (unsigned char *)out);
    if (end) { memcpy(out + *n, "</w>", 4); *n += 4; }
}

/* Reads the merges (the first line is a header) and fills the pair table. With have_ids
 * (vocab.json) merged strings must already have ids; otherwise they get 512 + line index,
 * as open_clip numbers them. produced[] marks tokens that a merge may use: byte symbols
 * and the results of earlier merges, so ranks only ever grow along a word. */
static vc_status read_merges(vc_bpe_vocab *vb, const char *file, bool have_ids, int32_t *cap,
                             int32_t *n_elems) {
    gzFile f = gzopen(file, "rb");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", file, strerror(errno));
    vc_status st = VC_OK;
    vc_bytebuf line = {0}, cat = {0};
    uint8_t *produced = calloc((size_t)(have_ids ? vb->n_tok : 512 + N_MERGES + 2), 1);
    vb->pairs_cap = 1 << 17;
    vb->pairs = calloc(vb->pairs_cap, sizeof *vb->pairs);
    if (!produced || !vb->pairs) {
        st = vc_fail(VC_ERR_OOM, "%s: out of memory for the merge table (%zu slots)", file, vb->pairs_cap);
        goto done;
    }
    for (int b = 0; b < 256; b++) produced[vb->byte_id[b]] = produced[vb->byte_end_id[b]] = 1;
    bool nl = false;
    int r = read_line(f, &line, &nl);
    if (r == -2) { st = vc_fail(VC_ERR_FORMAT, "%s: line 1 is longer than 16 MB", file); goto done; }
    if (r < 0) goto read_error;
    if (r == 0) { st = vc_fail(VC_ERR_FORMAT, "%s: empty file", file); goto done; }
    int32_t elems = 0, real = 0;
    while (elems < N_MERGES) {
        bool prev_nl = nl;
        r = read_line(f, &line, &nl);
        if (r == -2) {
            st = vc_fail(VC_ERR_FORMAT, "%s: line %ld is longer than 16 MB", file, (long)elems + 2);
            goto done;
        }
        if (r < 0) goto read_error;
        if (r == 0) {
            /* text.split('\n') ends with '' after a final newline: one more (empty) merge */
            if (prev_nl && !have_ids) {
                if (!set_token(vb, 512 + elems, "", 0, cap)) goto oom;
                elems++;
            }
            break;
        }
        long lineno = (long)elems + 2;
        char *fld[2];
        size_t fl[2];
        int k = split_fields((char *)line.v, line.n, fld, fl);
        if (k == 0) {  /* an empty merge: it takes a rank (and an id) but never applies */
            if (!have_ids && !set_token(vb, 512 + elems, "", 0, cap)) goto oom;
            elems++;
            continue;
        }
        if (k != 2) {
            st = vc_fail(VC_ERR_FORMAT, "%s: line %ld is not two tokens separated by a space",
                         file, lineno);
            goto done;
        }
        int32_t a = vc_bpe_vocab_find(vb, fld[0], fl[0]), b = vc_bpe_vocab_find(vb, fld[1], fl[1]);
        if (a < 0 || b < 0 || !produced[a] || !produced[b]) {
            st = vc_fail(VC_ERR_FORMAT, "%s: line %ld: merge \"%.*s %.*s\" uses a token that no "
                         "earlier line makes (corrupt or not a CLIP BPE file?)", file, lineno,
                         (int)(fl[0] > 40 ? 40 : fl[0]), fld[0], (int)(fl[1] > 40 ? 40 : fl[1]), fld[1]);
            goto done;
        }
        cat.n = 0;
        vc_bytebuf_append(&cat, fld[0], fl[0]);
        vc_bytebuf_append(&cat, fld[1], fl[1]);
        if (cat.oom) goto oom;
        int32_t m = vc_bpe_vocab_find(vb, (char *)cat.v, cat.n);
        if (have_ids) {
            if (m < 0) {
                st = vc_fail(VC_ERR_FORMAT, "%s: line %ld: merged token \"%.*s\" is not in vocab.json",
                             file, lineno, (int)(cat.n > 80 ? 80 : cat.n), (char *)cat.v);
                goto done;
            }
        } else {
            if (m >= 0) {
                st = vc_fail(VC_ERR_FORMAT, "%s: line %ld: token \"%.*s\" is made twice", file,
                             lineno, (int)(cat.n > 80 ? 80 : cat.n), (char *)cat.v);
                goto done;
            }
            m = 512 + elems;
            if (!set_token(vb, m, (char *)cat.v, cat.n, cap)) goto oom;
            if ((st = map_insert(vb, m))) goto done;
        }
        produced[m] = 1;
        pair_put(vb, a, b, elems, m);
        elems++;
        real++;
    }
    if (real == 0) st = vc_fail(VC_ERR_FORMAT, "%s: no merges (not a CLIP BPE file?)", file);
    *n_elems = elems;
    if (!st && !gzdirect(f)) {
        /* Only the first merges are used, but gzip's checksum covers the
         * whole stream: read it to the end so a damaged file cannot pass
         * with silently different merges. */
        char rest[1 << 15];
        int got;
        while ((got = gzread(f, rest, sizeof rest)) > 0) {}
        int err;
        gzerror(f, &err);
        if (got < 0 || err != Z_OK) goto read_error; /* Z_BUF_ERROR: cut short */
    }
    goto done;
read_error:
    if (line.oom) goto oom;
    {
        int err;
        const char *msg = gzerror(f, &err);
        size_t fn = strlen(file); /* zlib's message starts with the path again */
        if (strncmp(msg, file, fn) == 0 && strncmp(msg + fn, ": ", 2) == 0) msg += fn + 2;
        st = vc_fail(VC_ERR_IO, "%s: cannot read: %s", file,
                     err == Z_ERRNO ? strerror(errno) : err == Z_BUF_ERROR ? "the gzip data is cut short" : msg);
    }
    goto done;
oom:
    st = vc_fail(VC_ERR_OOM, "%s: out of memory storing the merges and the tokens they make", file);
done:
    gzclose(f);
    free(line.v);
    free(cat.v);
    free(produced);
    return st;
}

static vc_status load_bpe_file(vc_bpe_vocab *vb, const char *file) {
    uint32_t sym[256];
    int order[256];
    byte_symbols(sym);
    byte_order(order);
    int32_t cap = 0;
    for (int half = 0; half < 2; half++) {
        for (int k = 0; k < 256; k++) {
            char s[8];
            size_t n;
            int32_t id = half * 256 + k;
            byte_symbol_string(sym, order[k], half == 1, s, &n);
            if (!set_token(vb, id, s, n, &cap))
                return vc_fail(VC_ERR_OOM, "%s: out of memory storing the byte tokens", file);
            vc_status st = map_insert(vb, id);
            if (st) return st;
            if (half) vb->byte_end_id[order[k]] = id; else vb->byte_id[order[k]] = id;
        }
    }
    int32_t elems = 0;
    vc_status st = read_merges(vb, file, false, &cap, &elems);
    if (st != VC_OK) return st;
    snprintf(vb->sot_str, sizeof vb->sot_str, "<start_of_text>");
    snprintf(vb->eot_str, sizeof vb->eot_str, "<end_of_text>");
    vb->sot = 512 + elems;
    vb->eot = vb->sot + 1;
    if (!set_token(vb, vb->sot, vb->sot_str, strlen(vb->sot_str), &cap) ||
        !set_token(vb, vb->eot, vb->eot_str, strlen(vb->eot_str), &cap))
        return vc_fail(VC_ERR_OOM, "%s: out of memory storing the start and end tokens", file);
    if ((st = map_insert(vb, vb->sot)) || (st = map_insert(vb, vb->eot))) return st;
    return VC_OK;
}

static char *read_whole(const char *file, size_t *n) {
    FILE *f = fopen(file, "rb");
    if (!f) return NULL;
    vc_bytebuf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) vc_bytebuf_append(&b, chunk, got);
    int bad = ferror(f) || b.oom;
    fclose(f);
    if (bad) { free(b.v); errno = b.oom ? ENOMEM : EIO; return NULL; }
    if (!b.v) b.v = calloc(1, 1);
    *n = b.n;
    return (char *)b.v;
}

static vc_status load_hf(vc_bpe_vocab *vb, const char *merges, const char *vocab) {
    size_t n = 0;
    char *text = read_whole(vocab, &n);
    if (!text) return vc_fail(VC_ERR_IO, "%s: cannot read: %s", vocab, strerror(errno));
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vc_fail(VC_ERR_FORMAT, "%s: not a JSON object of token ids", vocab);
    }
    vc_status st = VC_OK;
    int32_t cap = 0;
    for (cJSON *e = root->child; e; e = e->next) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!e->string || v < 0 || v >= (1 << 22) || v != (double)(int32_t)v) {
            st = vc_fail(VC_ERR_FORMAT, "%s: \"%.60s\" has no valid token id", vocab,
                         e->string ? e->string : "");
            goto done;
        }
        int32_t id = (int32_t)v;
        size_t len = strlen(e->string);
        if ((id < cap && vb->tok_len[id] >= 0) || vc_bpe_vocab_find(vb, e->string, len) >= 0) {
            st = vc_fail(VC_ERR_FORMAT, "%s: id %d or token \"%.60s\" appears twice", vocab, id,
                         e->string);
            goto done;
        }
        if (!set_token(vb, id, e->string, len, &cap)) {
            st = vc_fail(VC_ERR_OOM, "%s: out of memory storing token %d (%zu bytes)", vocab, id, len);
            goto done;
        }
        if ((st = map_insert(vb, id))) goto done;
    }
    uint32_t sym[256];
    byte_symbols(sym);
    for (int b = 0; b < 256; b++) {
        for (int end = 0; end < 2; end++) {
            char s[8];
            size_t len;
            byte_symbol_string(sym, b, end, s, &len);
            int32_t id = vc_bpe_vocab_find(vb, s, len);
            if (id < 0) {
                st = vc_fail(VC_ERR_FORMAT, "%s: byte symbol \"%.*s\" is missing", vocab, (int)len, s);
                goto done;
            }
            if (end) vb->byte_end_id[b] = id; else vb->byte_id[b] = id;
        }
    }
    snprintf(vb->sot_str, sizeof vb->sot_str, "<|startoftext|>");
    snprintf(vb->eot_str, sizeof vb->eot_str, "<|endoftext|>");
    vb->sot = vc_bpe_vocab_find(vb, vb->sot_str, strlen(vb->sot_str));
    vb->eot = vc_bpe_vocab_find(vb, vb->eot_str, strlen(vb->eot_str));
    if (vb->sot < 0 || vb->eot < 0) {
        st = vc_fail(VC_ERR_FORMAT, "%s: has no \"<|startoftext|>\" or \"<|endoftext|>\"", vocab);
        goto done;
    }
    int32_t elems = 0;
    st = read_merges(vb, merges, true, &cap, &elems);
done:
    cJSON_Delete(root);
    return st;
}

static bool is_file(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

void vc_bpe_vocab_free(vc_bpe_vocab *vb) {
    free(vb->pool);
    free(vb->tok_off);
    free(vb->tok_len);
    vc_strmap_free(&vb->ids);
    free(vb->pairs);
    memset(vb, 0, sizeof *vb);
}

vc_status vc_bpe_vocab_load(vc_bpe_vocab *vb, const char *path) {
    memset(vb, 0, sizeof *vb);
    vc_strmap_init(&vb->ids, "tokenizer vocabulary");
    struct stat s;
    if (stat(path, &s) != 0) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t plen = strlen(path);
    char *a = malloc(plen + 64), *b = malloc(plen + 64);
    vc_status st = VC_OK;
    if (!a || !b) { st = vc_fail(VC_ERR_OOM, "%s: out of memory for two paths", path); goto done; }
    if (S_ISDIR(s.st_mode)) {
        snprintf(a, plen + 64, "%s/bpe_simple_vocab_16e6.txt.gz", path);
        if (is_file(a)) { st = load_bpe_file(vb, a); goto done; }
        snprintf(a, plen + 64, "%s/merges.txt", path);
        snprintf(b, plen + 64, "%s/vocab.json", path);
        if (is_file(a) && is_file(b)) { st = load_hf(vb, a, b); goto done; }
        st = vc_fail(VC_ERR_IO, "%s: holds neither bpe_simple_vocab_16e6.txt.gz nor merges.txt "
                     "+ vocab.json (run `make vocab`)", path);
        goto done;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t dirlen = (size_t)(base - path);
    if (strcmp(base, "vocab.json") == 0 || strcmp(base, "merges.txt") == 0) {
        snprintf(a, plen + 64, "%.*smerges.txt", (int)dirlen, path);
        snprintf(b, plen + 64, "%.*svocab.json", (int)dirlen, path);
        if (!is_file(a) || !is_file(b)) {
            st = vc_fail(VC_ERR_IO, "%s: a Hugging Face vocabulary needs both %s and %s", path, a, b);
            goto done;
        }
        st = load_hf(vb, a, b);
        goto done;
    }
    st = load_bpe_file(vb, path);
done:
    free(a);
    free(b);
    if (st == VC_OK) {
        uint32_t sym[256];
        byte_symbols(sym);
        for (int k = 0; k < 512; k++) vb->unbyte[k] = -1;
        for (int k = 0; k < 256; k++) vb->unbyte[sym[k]] = (int16_t)k;
    } else {
        vc_bpe_vocab_free(vb);
    }
    return st;
}
