/* text_clean.c: open_clip's 'lower' clean (see text_clean.h for what matches the reference and
 * what does not). Text is handled as arrays of code points; each step names the Python
 * function it mirrors. */
#include "models/text_clean.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "models/mojibake.h"
#include "tensor/utf8.h"

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

vc_status vc_text_clean(const char *utf8, vc_bytebuf *out) {
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
    if (oom || out->oom)
        return vc_fail(VC_ERR_OOM, "text cleaning: out of memory for the code points of %zu bytes of text", strlen(utf8));
    return VC_OK;
}
