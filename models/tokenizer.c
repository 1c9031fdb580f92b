/* tokenizer.c: the CLIP BPE tokenizer (see tokenizer.h for what matches the reference and
 * what does not). Text is handled as arrays of code points while it is cleaned, then as
 * UTF-8 bytes for the split and the BPE. Each step names the Python function it mirrors. */
#include "models/tokenizer.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cJSON.h>
#include <pcre2.h>
#include <utf8proc.h>
#include <zlib.h>

#include "models/mojibake.h"
#include "tensor/buf.h"
#include "tensor/strmap.h"
#include "tensor/utf8.h"

#define N_MERGES (49152 - 256 - 2)  /* open_clip: merges[1:49152-256-2+1] */
#define CACHE_MAX_WORDS 32768        /* the word cache is emptied when it grows past this */

/* ------------------------------------------------------------------ UTF-8 */

/* Appends a literal that is valid UTF-8 (table values). */
static void cp_push_utf8(vc_u32buf *b, const char *s) {
    vc_utf8_to_u32((const unsigned char *)s, strlen(s), b);
}

/* ------------------------------------------------------------------ HTML entities */

enum {
    E_SEMI = 1,       /* "&name;" is in html.entities.html5 */
    E_LEGACY = 2,     /* "&name" without ';' is too (html.unescape's longest-prefix rule) */
    E_FTFY_UPPER = 4  /* only ftfy decodes it: upper-cased form of a lower-case name */
};

typedef struct { const char *name; const char *val; unsigned char flags; } entity;

/* Every name html.unescape or ftfy's unescape_html knows: the 2231 keys of
 * html.entities.html5 (2125 names, 106 of them also without ';') and ftfy's upper-case
 * forms; sorted by strcmp of name. */
static const entity k_entities[] = {
#include "models/html_entities.inc"
};

static int entity_cmp(const uint32_t *name, size_t n, const char *e) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ec = (unsigned char)e[i];
        if (ec == 0) return 1;
        if (name[i] != ec) return name[i] < ec ? -1 : 1;
    }
    return e[n] ? -1 : 0;
}

/* The entity whose name is the n code points at name and whose flags meet want, or NULL. */
static const entity *entity_find(const uint32_t *name, size_t n, unsigned want) {
    size_t lo = 0, hi = sizeof k_entities / sizeof k_entities[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = entity_cmp(name, n, k_entities[mid].name);
        if (c == 0) return (k_entities[mid].flags & want) ? &k_entities[mid] : NULL;
        if (c < 0) hi = mid; else lo = mid + 1;
    }
    return NULL;
}

/* Bytes 0x80..0x9F read as Windows-1252; its five holes stay as they are, as in ftfy's
 * "sloppy-windows-1252" and html's _invalid_charrefs. */
static const uint16_t k_cp1252[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* The replacement html.unescape gives a numeric reference (num saturates above
 * 0x10FFFF); writes 0 or 1 code point to *out and returns how many. */
static int charref_value(uint64_t num, uint32_t *out) {
    if (num == 0) { *out = 0xFFFD; return 1; }
    if (num == 0x0D) { *out = 0x0D; return 1; }
    if (num >= 0x80 && num <= 0x9F) { *out = k_cp1252[num - 0x80]; return 1; }
    if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { *out = 0xFFFD; return 1; }
    if ((num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
        num == 0x7F || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
        return 0;
    *out = (uint32_t)num;
    return 1;
}

static bool is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static bool is_hex(uint32_t c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static bool is_alnum_ascii(uint32_t c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static uint32_t hex_value(uint32_t c) {
    return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Reads base-10 or base-16 digits from s[*i..n); saturates above 0x10FFFF. */
static uint64_t read_number(const uint32_t *s, size_t n, size_t *i, int base) {
    uint64_t v = 0;
    while (*i < n && (base == 16 ? is_hex(s[*i]) : is_digit(s[*i]))) {
        v = v * (uint64_t)base + hex_value(s[*i]);
        if (v > 0x110000) v = 0x110000;
        (*i)++;
    }
    return v;
}

/* Python's html.unescape: &#NNN; &#xHHH; (';' optional) and named references, where a
 * name without its ';' may be the longest legacy name that prefixes it ("&copy2020"). */
static void html_unescape(const uint32_t *s, size_t n, vc_u32buf *out) {
    size_t i = 0;
    while (i < n) {
        if (s[i] != '&') { vc_u32buf_push(out, s[i++]); continue; }
        size_t j = i + 1;
        if (j < n && s[j] == '#') {
            int base = 0;
            size_t k = j + 1;
            if (k + 1 < n && (s[k] == 'x' || s[k] == 'X') && is_hex(s[k + 1])) { base = 16; k++; }
            else if (k < n && is_digit(s[k])) base = 10;
            if (!base) { vc_u32buf_push(out, '&'); i++; continue; }
            uint64_t num = read_number(s, n, &k, base);
            if (k < n && s[k] == ';') k++;
            uint32_t c;
            if (charref_value(num, &c)) vc_u32buf_push(out, c);
            i = k;
            continue;
        }
        size_t k = j;
        while (k < n && k - j < 32) {
            uint32_t c = s[k];
            if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' ||
                c == '#' || c == ';')
                break;
            k++;
        }
        size_t len = k - j;
        if (len == 0) { vc_u32buf_push(out, '&'); i++; continue; }
        bool semi = k < n && s[k] == ';';
        const entity *e = entity_find(s + j, len, semi ? E_SEMI : E_LEGACY);
        if (e) {
            cp_push_utf8(out, e->val);
        } else {
            size_t x = semi ? len : len - 1;
            for (; x >= 2; x--)
                if ((e = entity_find(s + j, x, E_LEGACY))) break;
            if (e) {
                cp_push_utf8(out, e->val);
                vc_u32buf_append(out, s + j + x, len - x);
            } else {
                vc_u32buf_push(out, '&');
                vc_u32buf_append(out, s + j, len);
            }
            if (semi) vc_u32buf_push(out, ';');
        }
        i = k + (semi ? 1 : 0);
    }
}

/* ftfy.fixes.unescape_html: only "&#?[0-9A-Za-z]{1,24};" is decoded; names from the html5
 * table or ftfy's upper-case forms; a numeric one only when all of it is consumed. */
static void ftfy_unescape(const uint32_t *s, size_t n, vc_u32buf *out) {
    size_t i = 0;
    while (i < n) {
        if (s[i] != '&') { vc_u32buf_push(out, s[i++]); continue; }
        size_t j = i + 1;
        bool hash = j < n && s[j] == '#';
        if (hash) j++;
        size_t k = j;
        while (k < n && k - j < 24 && is_alnum_ascii(s[k])) k++;
        if (k == j || k >= n || s[k] != ';') { vc_u32buf_push(out, '&'); i++; continue; }
        size_t len = k - j;
        bool done = false;
        if (!hash) {
            const entity *e = entity_find(s + j, len, E_SEMI | E_FTFY_UPPER);
            if (e) { cp_push_utf8(out, e->val); done = true; }
        } else {
            size_t p = j;
            int base = 10;
            if (s[p] == 'x' || s[p] == 'X') { base = 16; p++; }
            size_t q = p;
            uint64_t num = read_number(s, k, &q, base);
            if (q > p && q == k) {
                uint32_t c;
                int m = charref_value(num, &c);
                if (!(m && c == ';')) {  /* a decoded ';' reads as "not all consumed" */
                    if (m) vc_u32buf_push(out, c);
                    done = true;
                }
            }
        }
        if (!done) vc_u32buf_append(out, s + i, k + 1 - i);
        i = k + 1;
    }
}

/* ------------------------------------------------------------------ ftfy.fix_text */

/* NFC (or NFKC with compat) of s[0..n) appended to out, through utf8proc. */
static void normalize(const uint32_t *s, size_t n, bool compat, vc_u32buf *out) {
    bool trivial = true;  /* below U+0300 nothing composes or decomposes canonically */
    for (size_t i = 0; i < n && trivial; i++) trivial = s[i] < 0x300;
    if (trivial && !compat) { vc_u32buf_append(out, s, n); return; }
    vc_bytebuf u = {0};
    vc_u32_to_utf8(s, n, &u);
    if (u.oom) { free(u.v); out->oom = true; return; }
    utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE | (compat ? UTF8PROC_COMPAT : 0);
    utf8proc_ssize_t need = utf8proc_decompose((const utf8proc_uint8_t *)u.v,
                                               (utf8proc_ssize_t)u.n, NULL, 0, opt);
    utf8proc_int32_t *tmp = need >= 0 ? malloc(((size_t)need + 1) * sizeof *tmp) : NULL;
    utf8proc_ssize_t got = tmp ? utf8proc_decompose((const utf8proc_uint8_t *)u.v,
                                                    (utf8proc_ssize_t)u.n, tmp, need, opt) : -1;
    if (got >= 0 && got <= need) got = utf8proc_normalize_utf32(tmp, got, opt);
    if (got < 0 || got > need) {
        vc_u32buf_append(out, s, n);  /* cannot happen for valid code points; keep the text */
    } else {
        for (utf8proc_ssize_t i = 0; i < got; i++) vc_u32buf_push(out, (uint32_t)tmp[i]);
    }
    free(tmp);
    free(u.v);
}

/* ftfy's per-character maps, composed in its order: fix_c1_controls, fix_latin_ligatures,
 * fix_character_width, uncurl_quotes. */
static void map_quote(uint32_t c, vc_u32buf *out) {
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
    vc_u32buf_push(out, c);
}

static void map_width(uint32_t c, vc_u32buf *out) {
    if (c == 0x3000) { map_quote(' ', out); return; }
    if (c >= 0xFF01 && c <= 0xFFEF) {
        vc_u32buf w = {0};
        normalize(&c, 1, true, &w);
        if (w.oom) out->oom = true;
        for (size_t i = 0; i < w.n; i++) map_quote(w.v[i], out);
        free(w.v);
        return;
    }
    map_quote(c, out);
}

static const struct { uint16_t from; uint16_t to[3]; } k_ligatures[] = {
    {0x0132, {'I', 'J'}}, {0x0133, {'i', 'j'}}, {0x0149, {0x02BC, 'n'}},
    {0x01F1, {'D', 'Z'}}, {0x01F2, {'D', 'z'}}, {0x01F3, {'d', 'z'}},
    {0x01C4, {'D', 0x017D}}, {0x01C5, {'D', 0x017E}}, {0x01C6, {'d', 0x017E}},
    {0x01C7, {'L', 'J'}}, {0x01C8, {'L', 'j'}}, {0x01C9, {'l', 'j'}},
    {0x01CA, {'N', 'J'}}, {0x01CB, {'N', 'j'}}, {0x01CC, {'n', 'j'}},
    {0xFB00, {'f', 'f'}}, {0xFB01, {'f', 'i'}}, {0xFB02, {'f', 'l'}},
    {0xFB03, {'f', 'f', 'i'}}, {0xFB04, {'f', 'f', 'l'}}, {0xFB05, {0x017F, 't'}},
    {0xFB06, {'s', 't'}},
};

static void map_chars(const uint32_t *s, size_t n, vc_u32buf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c >= 0x80 && c <= 0x9F) c = k_cp1252[c - 0x80];
        bool lig = false;
        if ((c >= 0x132 && c <= 0x1F3) || (c >= 0xFB00 && c <= 0xFB06)) {
            for (size_t k = 0; k < sizeof k_ligatures / sizeof k_ligatures[0]; k++) {
                if (k_ligatures[k].from != c) continue;
                for (int m = 0; m < 3 && k_ligatures[k].to[m]; m++) map_width(k_ligatures[k].to[m], out);
                lig = true;
                break;
            }
        }
        if (!lig) map_width(c, out);
    }
}

/* fix_line_breaks: CRLF, CR, U+2028, U+2029 and NEL become LF. */
static void fix_line_breaks(const uint32_t *s, size_t n, vc_u32buf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == '\r' && i + 1 < n && s[i + 1] == '\n') continue;
        if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
        vc_u32buf_push(out, c);
    }
}

/* remove_terminal_escapes: ESC '[' (digit|';')* letter, where \d is any Unicode decimal
 * digit as in Python's re; then remove_control_chars. */
static void remove_escapes_and_controls(const uint32_t *s, size_t n, vc_u32buf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x1B && i + 1 < n && s[i + 1] == '[') {
            size_t k = i + 2;
            while (k < n && (s[k] == ';' ||
                             utf8proc_category((utf8proc_int32_t)s[k]) == UTF8PROC_CATEGORY_ND))
                k++;
            if (k < n && ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'z')) { i = k; continue; }
        }
        if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
            (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC))
            continue;
        vc_u32buf_push(out, c);
    }
}

typedef void (*text_fix)(const uint32_t *s, size_t n, vc_u32buf *out);

/* ftfy.fix_encoding (models/mojibake.c): mojibake repair. */
static void fix_encoding(const uint32_t *s, size_t n, vc_u32buf *out) {
    uint32_t *fixed = NULL;
    size_t m = n;
    if (vc_fix_encoding(s, n, &fixed, &m) != VC_OK) {
        out->oom = true;  /* only out of memory: the text is valid */
        return;
    }
    vc_u32buf_append(out, fixed ? fixed : s, m);
    free(fixed);
}

static void nfc(const uint32_t *s, size_t n, vc_u32buf *out) { normalize(s, n, false, out); }

/* Runs one fix from *a into *b, then swaps them so *a holds the result. */
static void apply_fix(text_fix fix, vc_u32buf *a, vc_u32buf *b) {
    b->n = 0;
    fix(a->v, a->n, b);
    vc_u32buf t = *a;
    *a = *b;
    *b = t;
    if (b->oom) a->oom = true;
}

/* ftfy.fix_and_explain on one segment: the fixes in order until the text stops changing. */
static void fix_segment(const uint32_t *s, size_t n, bool unescape, vc_u32buf *out) {
    vc_u32buf a = {0}, b = {0}, prev = {0};
    vc_u32buf_append(&a, s, n);
    for (int round = 0; round < 64 && !a.oom; round++) {  /* converges in 2 or 3 */
        prev.n = 0;
        vc_u32buf_append(&prev, a.v, a.n);
        if (unescape) apply_fix(ftfy_unescape, &a, &b);
        apply_fix(fix_encoding, &a, &b);
        apply_fix(map_chars, &a, &b);
        apply_fix(fix_line_breaks, &a, &b);
        apply_fix(remove_escapes_and_controls, &a, &b);
        apply_fix(nfc, &a, &b);
        if (prev.oom) a.oom = true;
        if (prev.n == a.n && (a.n == 0 || memcmp(prev.v, a.v, a.n * sizeof *a.v) == 0)) break;
    }
    if (a.oom) out->oom = true;
    vc_u32buf_append(out, a.v, a.n);
    free(a.v);
    free(b.v);
    free(prev.v);
}

/* ftfy.fix_text: line by line (a segment ends after '\n', or after 10^6 code points);
 * HTML is not unescaped in a line holding '<' nor in any line after it. */
static void ftfy_fix_text(const uint32_t *s, size_t n, vc_u32buf *out) {
    bool unescape = true;
    size_t pos = 0;
    while (pos < n) {
        size_t end = pos;
        while (end < n && s[end] != '\n') end++;
        if (end < n) end++;
        if (end - pos > 1000000) end = pos + 1000000;
        for (size_t i = pos; i < end && unescape; i++)
            if (s[i] == '<') unescape = false;
        fix_segment(s + pos, end - pos, unescape, out);
        pos = end;
    }
}

/* ------------------------------------------------------------------ whitespace, lower */

/* str.isspace() of Python 3.11. */
static bool py_isspace(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Case_Ignorable, approximated: Mn Me Cf Lm Sk and the Word_Break MidLetter, MidNumLet
 * and Single_Quote characters. */
static bool case_ignorable(uint32_t c) {
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52:
    case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return true;
    default:
        break;
    }
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* Cased, approximated: Lu Ll Lt, anything with a case mapping, and the Other_Lowercase /
 * Other_Uppercase letters that have none (ª º, squared and circled Latin capitals). */
static bool cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return true;
    if (utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
        utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c)
        return true;
    return c == 0xAA || c == 0xBA || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* str.lower(): simple mappings, plus SpecialCasing's İ -> i̇ and the final-sigma rule. */
static void py_lower(const uint32_t *s, size_t n, vc_u32buf *out) {
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c == 0x130) { vc_u32buf_push(out, 'i'); vc_u32buf_push(out, 0x307); continue; }
        if (c == 0x3A3) {
            size_t j = i;
            while (j > 0 && case_ignorable(s[j - 1])) j--;
            bool final = j > 0 && cased(s[j - 1]);
            if (final) {
                size_t k = i + 1;
                while (k < n && case_ignorable(s[k])) k++;
                final = k == n || !cased(s[k]);
            }
            vc_u32buf_push(out, final ? 0x3C2 : 0x3C3);
            continue;
        }
        vc_u32buf_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
    }
}

/* open_clip's _clean_lower: whitespace_clean(basic_clean(text)).lower(), as UTF-8. */
static vc_status clean_text(const char *utf8, vc_bytebuf *out) {
    vc_u32buf a = {0}, b = {0};
    vc_utf8_to_u32((const unsigned char *)utf8, strlen(utf8), &a);
    ftfy_fix_text(a.v, a.n, &b);
    a.n = 0; html_unescape(b.v, b.n, &a);
    b.n = 0; html_unescape(a.v, a.n, &b);
    /* strip() and " ".join(text.split()) */
    a.n = 0;
    for (size_t i = 0; i < b.n;) {
        if (py_isspace(b.v[i])) { i++; continue; }
        if (a.n) vc_u32buf_push(&a, ' ');
        while (i < b.n && !py_isspace(b.v[i])) vc_u32buf_push(&a, b.v[i++]);
    }
    b.n = 0; py_lower(a.v, a.n, &b);
    bool oom = a.oom || b.oom;
    if (!oom) vc_u32_to_utf8(b.v, b.n, out);
    free(a.v);
    free(b.v);
    if (oom || out->oom) return vc_fail(VC_ERR_OOM, "tokenizer: out of memory cleaning text");
    return VC_OK;
}

vc_status vc_tokenizer_clean(const char *utf8, char **out) {
    if (!utf8 || !out) return vc_fail(VC_ERR_ARG, "vc_tokenizer_clean: NULL argument");
    *out = NULL;
    vc_bytebuf t = {0};
    vc_status st = clean_text(utf8, &t);
    if (st != VC_OK) { free(t.v); return st; }
    if (!t.v) {
        t.v = calloc(1, 1);
        if (!t.v) return vc_fail(VC_ERR_OOM, "tokenizer: out of memory");
    }
    *out = (char *)t.v;
    return VC_OK;
}

/* ------------------------------------------------------------------ vocabulary */

typedef struct { uint64_t key; int32_t rank, merged; } pair_slot;  /* key 0: empty */
typedef struct { int32_t rank, pos; } heap_item;

struct vc_tokenizer {
    /* token strings, in their byte-mapped form, one per id (len -1: no token) */
    char *pool;
    size_t pool_n, pool_cap;
    size_t *tok_off;
    int32_t *tok_len;
    int32_t n_tok;
    vc_strmap ids;         /* token string -> id */
    pair_slot *pairs;      /* (left id, right id) -> merge rank and merged id */
    size_t pairs_cap;
    int32_t byte_id[256], byte_end_id[256];  /* "x" and "x</w>" for each byte */
    int32_t sot, eot;
    char sot_str[64], eot_str[64];
    int16_t unbyte[512];   /* byte-mapped code point (all below 0x144) -> byte, or -1 */
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

static uint64_t hash_pair(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return key;
}

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

static int32_t map_find(const vc_tokenizer *tk, const char *s, size_t n) {
    int64_t id;
    return vc_strmap_get(&tk->ids, s, n, &id) ? (int32_t)id : -1;
}

/* Adds the string of token id to the string map, unless that string is there already. */
static vc_status map_insert(vc_tokenizer *tk, int32_t id) {
    return vc_strmap_put(&tk->ids, tk->pool + tk->tok_off[id], (size_t)tk->tok_len[id], id, NULL, NULL);
}

/* Stores the string of token id (ids grow by one in gzip files, arbitrary in vocab.json). */
static bool set_token(vc_tokenizer *tk, int32_t id, const char *s, size_t n, int32_t *cap) {
    if (id >= *cap) {
        int32_t nc = *cap ? *cap : 1024;
        while (nc <= id) nc *= 2;
        size_t *o = realloc(tk->tok_off, (size_t)nc * sizeof *o);
        if (!o) return false;
        tk->tok_off = o;
        int32_t *l = realloc(tk->tok_len, (size_t)nc * sizeof *l);
        if (!l) return false;
        tk->tok_len = l;
        for (int32_t i = *cap; i < nc; i++) { tk->tok_len[i] = -1; tk->tok_off[i] = 0; }
        *cap = nc;
    }
    if (!vc_grow((void **)&tk->pool, &tk->pool_cap, tk->pool_n + n + 1, 1)) return false;
    memcpy(tk->pool + tk->pool_n, s, n);
    tk->pool[tk->pool_n + n] = 0;
    tk->tok_off[id] = tk->pool_n;
    tk->tok_len[id] = (int32_t)n;
    tk->pool_n += n + 1;
    if (id >= tk->n_tok) tk->n_tok = id + 1;
    return true;
}

static const pair_slot *pair_find(const vc_tokenizer *tk, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)b;
    size_t mask = tk->pairs_cap - 1;
    for (size_t i = hash_pair(key) & mask;; i = (i + 1) & mask) {
        if (tk->pairs[i].key == key) return &tk->pairs[i];
        if (tk->pairs[i].key == 0) return NULL;
    }
}

/* A later duplicate of a merge line replaces the earlier rank, as dict(zip(...)) does. */
static void pair_put(vc_tokenizer *tk, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)b;
    size_t mask = tk->pairs_cap - 1;
    size_t i = hash_pair(key) & mask;
    while (tk->pairs[i].key != 0 && tk->pairs[i].key != key) i = (i + 1) & mask;
    tk->pairs[i].key = key;
    tk->pairs[i].rank = rank;
    tk->pairs[i].merged = merged;
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

/* Builds the split pattern of SimpleTokenizer with this vocabulary's special strings. */
static vc_status compile_pattern(vc_tokenizer *tk, const char *file) {
    char pat[640];
    size_t n = 0;
    const char *sp[2] = {tk->sot_str, tk->eot_str};
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
    if (!tk->md) return vc_fail(VC_ERR_OOM, "%s: out of memory", file);
    return VC_OK;
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
static vc_status read_merges(vc_tokenizer *tk, const char *file, bool have_ids, int32_t *cap,
                             int32_t *n_elems) {
    gzFile f = gzopen(file, "rb");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", file, strerror(errno));
    vc_status st = VC_OK;
    vc_bytebuf line = {0}, cat = {0};
    uint8_t *produced = calloc((size_t)(have_ids ? tk->n_tok : 512 + N_MERGES + 2), 1);
    tk->pairs_cap = 1 << 17;
    tk->pairs = calloc(tk->pairs_cap, sizeof *tk->pairs);
    if (!produced || !tk->pairs) { st = vc_fail(VC_ERR_OOM, "%s: out of memory", file); goto done; }
    for (int b = 0; b < 256; b++) produced[tk->byte_id[b]] = produced[tk->byte_end_id[b]] = 1;
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
                if (!set_token(tk, 512 + elems, "", 0, cap)) goto oom;
                elems++;
            }
            break;
        }
        long lineno = (long)elems + 2;
        char *fld[2];
        size_t fl[2];
        int k = split_fields((char *)line.v, line.n, fld, fl);
        if (k == 0) {  /* an empty merge: it takes a rank (and an id) but never applies */
            if (!have_ids && !set_token(tk, 512 + elems, "", 0, cap)) goto oom;
            elems++;
            continue;
        }
        if (k != 2) {
            st = vc_fail(VC_ERR_FORMAT, "%s: line %ld is not two tokens separated by a space",
                         file, lineno);
            goto done;
        }
        int32_t a = map_find(tk, fld[0], fl[0]), b = map_find(tk, fld[1], fl[1]);
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
        int32_t m = map_find(tk, (char *)cat.v, cat.n);
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
            if (!set_token(tk, m, (char *)cat.v, cat.n, cap)) goto oom;
            if ((st = map_insert(tk, m))) goto done;
        }
        produced[m] = 1;
        pair_put(tk, a, b, elems, m);
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
    st = vc_fail(VC_ERR_OOM, "%s: out of memory", file);
done:
    gzclose(f);
    free(line.v);
    free(cat.v);
    free(produced);
    return st;
}

static vc_status load_bpe_file(vc_tokenizer *tk, const char *file) {
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
            if (!set_token(tk, id, s, n, &cap))
                return vc_fail(VC_ERR_OOM, "%s: out of memory storing the byte tokens", file);
            vc_status st = map_insert(tk, id);
            if (st) return st;
            if (half) tk->byte_end_id[order[k]] = id; else tk->byte_id[order[k]] = id;
        }
    }
    int32_t elems = 0;
    vc_status st = read_merges(tk, file, false, &cap, &elems);
    if (st != VC_OK) return st;
    snprintf(tk->sot_str, sizeof tk->sot_str, "<start_of_text>");
    snprintf(tk->eot_str, sizeof tk->eot_str, "<end_of_text>");
    tk->sot = 512 + elems;
    tk->eot = tk->sot + 1;
    if (!set_token(tk, tk->sot, tk->sot_str, strlen(tk->sot_str), &cap) ||
        !set_token(tk, tk->eot, tk->eot_str, strlen(tk->eot_str), &cap))
        return vc_fail(VC_ERR_OOM, "%s: out of memory storing the start and end tokens", file);
    if ((st = map_insert(tk, tk->sot)) || (st = map_insert(tk, tk->eot))) return st;
    return compile_pattern(tk, file);
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

static vc_status load_hf(vc_tokenizer *tk, const char *merges, const char *vocab) {
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
        if ((id < cap && tk->tok_len[id] >= 0) || map_find(tk, e->string, len) >= 0) {
            st = vc_fail(VC_ERR_FORMAT, "%s: id %d or token \"%.60s\" appears twice", vocab, id,
                         e->string);
            goto done;
        }
        if (!set_token(tk, id, e->string, len, &cap)) {
            st = vc_fail(VC_ERR_OOM, "%s: out of memory storing token %d (%zu bytes)", vocab, id, len);
            goto done;
        }
        if ((st = map_insert(tk, id))) goto done;
    }
    uint32_t sym[256];
    byte_symbols(sym);
    for (int b = 0; b < 256; b++) {
        for (int end = 0; end < 2; end++) {
            char s[8];
            size_t len;
            byte_symbol_string(sym, b, end, s, &len);
            int32_t id = map_find(tk, s, len);
            if (id < 0) {
                st = vc_fail(VC_ERR_FORMAT, "%s: byte symbol \"%.*s\" is missing", vocab, (int)len, s);
                goto done;
            }
            if (end) tk->byte_end_id[b] = id; else tk->byte_id[b] = id;
        }
    }
    snprintf(tk->sot_str, sizeof tk->sot_str, "<|startoftext|>");
    snprintf(tk->eot_str, sizeof tk->eot_str, "<|endoftext|>");
    tk->sot = map_find(tk, tk->sot_str, strlen(tk->sot_str));
    tk->eot = map_find(tk, tk->eot_str, strlen(tk->eot_str));
    if (tk->sot < 0 || tk->eot < 0) {
        st = vc_fail(VC_ERR_FORMAT, "%s: has no \"<|startoftext|>\" or \"<|endoftext|>\"", vocab);
        goto done;
    }
    int32_t elems = 0;
    st = read_merges(tk, merges, true, &cap, &elems);
    if (st == VC_OK) st = compile_pattern(tk, vocab);
done:
    cJSON_Delete(root);
    return st;
}

static bool is_file(const char *p) {
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

void vc_tokenizer_free(vc_tokenizer *tk) {
    if (!tk) return;
    free(tk->pool);
    free(tk->tok_off);
    free(tk->tok_len);
    vc_strmap_free(&tk->ids);
    free(tk->pairs);
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
    struct stat s;
    if (stat(path, &s) != 0) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t plen = strlen(path);
    char *a = malloc(plen + 64), *b = malloc(plen + 64);
    vc_tokenizer *tk = calloc(1, sizeof *tk);
    vc_status st = VC_OK;
    if (!a || !b || !tk) { st = vc_fail(VC_ERR_OOM, "%s: out of memory for the tokenizer", path); goto done; }
    vc_strmap_init(&tk->ids, "tokenizer vocabulary");
    vc_strmap_init(&tk->cache, "tokenizer word cache");
    if (S_ISDIR(s.st_mode)) {
        snprintf(a, plen + 64, "%s/bpe_simple_vocab_16e6.txt.gz", path);
        if (is_file(a)) { st = load_bpe_file(tk, a); goto done; }
        snprintf(a, plen + 64, "%s/merges.txt", path);
        snprintf(b, plen + 64, "%s/vocab.json", path);
        if (is_file(a) && is_file(b)) { st = load_hf(tk, a, b); goto done; }
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
        st = load_hf(tk, a, b);
        goto done;
    }
    st = load_bpe_file(tk, path);
done:
    free(a);
    free(b);
    if (st == VC_OK) {
        uint32_t sym[256];
        byte_symbols(sym);
        for (int k = 0; k < 512; k++) tk->unbyte[k] = -1;
        for (int k = 0; k < 256; k++) tk->unbyte[sym[k]] = (int16_t)k;
        *out = tk;
    } else {
        vc_tokenizer_free(tk);
    }
    return st;
}

int32_t vc_tokenizer_sot(const vc_tokenizer *tk) { return tk->sot; }
int32_t vc_tokenizer_eot(const vc_tokenizer *tk) { return tk->eot; }
int32_t vc_tokenizer_vocab_size(const vc_tokenizer *tk) { return tk->n_tok; }

int32_t vc_tokenizer_token_id(const vc_tokenizer *tk, const char *token) {
    return tk && token ? map_find(tk, token, strlen(token)) : -1;
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
    const pair_slot *p = pair_find(tk, tk->sym[pos], tk->sym[q]);
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
        tk->sym[i] = i + 1 == m ? tk->byte_end_id[w[i]] : tk->byte_id[w[i]];
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
        const pair_slot *ps = pair_find(tk, tk->sym[p], tk->sym[q]);
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
    return vc_fail(VC_ERR_OOM, "tokenizer: out of memory in BPE");
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
    vc_status st = clean_text(utf8, &t);
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
        if (m == strlen(tk->sot_str) && memcmp(w, tk->sot_str, m) == 0) vc_i32buf_push(out, tk->sot);
        else if (m == strlen(tk->eot_str) && memcmp(w, tk->eot_str, m) == 0) vc_i32buf_push(out, tk->eot);
        else st = word_ids(tk, w, m, out);
        if (out->oom) st = vc_fail(VC_ERR_OOM, "tokenizer: out of memory");
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
        if (!out.v) return vc_fail(VC_ERR_OOM, "tokenizer: out of memory");
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
        ids[0] = tk->sot;
        for (size_t i = 0; i < bpe.n; i++) ids[1 + i] = bpe.v[i];
        ids[bpe.n + 1] = tk->eot;
        n = bpe.n + 2;
    } else {  /* tokens[:C], then tokens[-1] = eot */
        ids[0] = tk->sot;
        for (size_t i = 1; i < C; i++) ids[i] = bpe.v[i - 1];
        ids[C - 1] = tk->eot;
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
        if (ids[i] < 0 || ids[i] >= tk->n_tok || tk->tok_len[ids[i]] < 0) {
            st = vc_fail(VC_ERR_ARG, "vc_tokenizer_decode: id %d at %d is not in the vocabulary", ids[i], i);
            goto done;
        }
        cps.n = 0;
        const char *s = tk->pool + tk->tok_off[ids[i]];
        vc_utf8_to_u32((const unsigned char *)s, (size_t)tk->tok_len[ids[i]], &cps);
        for (size_t k = 0; k < cps.n; k++) {
            /* every character of a CLIP token is a byte symbol; others (a foreign
             * vocab.json) read as '?' */
            int16_t u = cps.v[k] < 512 ? tk->unbyte[cps.v[k]] : -1;
            char byte = u >= 0 ? (char)u : '?';
            vc_bytebuf_append(&raw, &byte, 1);
        }
    }
    cps.n = 0;
    vc_utf8_to_u32(raw.v ? raw.v : (const uint8_t *)"", raw.n, &cps);
    vc_u32_to_utf8(cps.v, cps.n, &res);
    if (raw.oom || cps.oom || res.oom) { st = vc_fail(VC_ERR_OOM, "tokenizer: out of memory"); goto done; }
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
