/* mojibake.c: ftfy 6.3.1's fix_encoding (see mojibake.h). Each function names the ftfy
 * function or regular expression it mirrors; the data (code pages, UTF8_CLUES, the
 * character categories of the badness heuristic) is generated into mojibake_tables.inc
 * by tests/ref_tokenizer.py --mojibake-tables. Python's regular expressions on bytes are
 * written out as explicit scans; where Python's `$` is involved, note that it also
 * matches just before a final '\n'. */
#include "models/mojibake.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tensor/buf.h"
#include "tensor/utf8.h"

#include "models/mojibake_tables.inc"

/* Buffers (tensor/buf.h) record a failed allocation in their own `oom` flag; each step
 * copies it into fixer.oom, which ends the repair and becomes the error. */

/* Recursion through decode_inconsistent_utf8 only ever works on strictly shorter text and
 * in practice goes a few levels deep; past this depth text is left as it is. */
#define MAX_DEPTH 200

typedef struct {
    bool oom;               /* an allocation failed: the caller reports it */
    bool re_failed;         /* the badness pattern is unusable or a match failed */
    pcre2_match_data *md;   /* made at the first badness test */
    vc_bytebuf utf8;        /* scratch: the text being tested, as UTF-8 */
    int depth;
} fixer;

static bool same32(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* ------------------------------------------------------------------ badness */

/* The alternatives of ftfy.badness.BADNESS_RE. "<name>" stands for a class body: the
 * categories of MOJIBAKE_CATEGORIES, and Python's \s and \w (str.isspace; str.isalnum or
 * '_', which is \p{L}\p{N}_ in Unicode 14). Literal characters are \x{...}. */
static const char *const k_badness[] = {
    "[<c1>]",
    "[<bad><lower><upper><box><start><end><currency><numeric><law>][<bad>]",
    "[a-zA-Z][<lower_common><upper_common>][<bad>]",
    "[<bad>][<lower><upper><box><start><end><currency><numeric><law>]",
    "[<lower><lower_common><box><end><currency><numeric>][<upper>]",
    "[<box><end><currency><numeric>][<lower>]",
    "[<lower><box><end>][<currency>]",
    "[<s>][<upper>][<currency>]",
    "[<upper><box>][<numeric><law>]",
    "[<lower><upper><box><currency><end>][<start>][<numeric>]",
    "[<lower><upper><currency><numeric><box><law>][<end>][<start>]",
    "[<currency><numeric><box>][<start>]",
    "[a-z][<upper>][<start><currency>]",
    "[<box>][<kaomoji>]",
    "[<lower><upper><currency><numeric><start><end><law>][<box>]",
    "[<box>][<end>]",
    "[<lower><upper>][<start><end>][<w>]",
    /* the ligature oe not followed by a Latin letter; a degree sign after a capital */
    "[\\x{152}\\x{153}][^A-Za-z]",
    "[<upper>]\\x{b0}",
    /* Windows-1252 two-character mojibake */
    "[\\x{c2}\\x{c3}\\x{ce}\\x{d0}][\\x{20ac}\\x{153}\\x{160}\\x{161}\\x{a2}\\x{a3}\\x{178}\\x{17e}"
    "\\x{a0}\\x{ad}\\x{ae}\\x{a9}\\x{b0}\\x{b7}\\x{bb}<start><end>\\x{2013}\\x{2014}\\x{b4}]",
    "\\x{d7}[\\x{b2}\\x{b3}]",
    /* Windows-1252 mojibake of Arabic: four characters */
    "[\\x{d8}\\x{d9}]"
    "[<common><currency><bad><numeric><start>\\x{178}\\x{160}\\x{ae}\\x{b0}\\x{b5}\\x{bb}]"
    "[\\x{d8}\\x{d9}]"
    "[<common><currency><bad><numeric><start>\\x{178}\\x{160}\\x{ae}\\x{b0}\\x{b5}\\x{bb}]",
    "\\x{e0}[\\x{b2}\\x{b5}\\x{b9}\\x{bc}\\x{bd}\\x{be}]",
    /* MacRoman */
    "\\x{221a}[\\x{b1}\\x{2202}\\x{2020}\\x{2260}\\x{ae}\\x{2122}\\x{b4}\\x{2264}\\x{2265}\\x{a5}"
    "\\x{b5}\\x{f8}]",
    "\\x{2248}[\\x{b0}\\x{a2}]",
    "\\x{201a}\\x{c4}[\\x{ec}\\x{ee}\\x{ef}\\x{f2}\\x{f4}\\x{fa}\\x{f9}\\x{fb}\\x{2020}"
    "\\x{b0}\\x{a2}\\x{3c0}]",
    "\\x{201a}[\\x{e2}\\x{f3}][\\x{e0}\\x{e4}\\x{b0}\\x{ea}]",
    /* Windows-1251 */
    "\\x{432}\\x{402}",
    "[\\x{412}\\x{413}\\x{420}\\x{421}][<c1><bad><start><end><currency>\\x{b0}\\x{b5}]"
    "[\\x{412}\\x{413}\\x{420}\\x{421}]",
    "\\x{413}\\x{45e}\\x{412}\\x{402}\\x{412}[^\\n][A-Za-z\\x{20}]",
    /* Windows-1252 of a-grave, a-acute, and of byte A0 itself */
    "\\x{c3}[\\x{a0}\\x{a1}]",
    "[a-z][<s>]?[\\x{c3}\\x{c2}]\\x{20}",
    "^[\\x{c3}\\x{c2}]\\x{20}",
    "[a-z.,?!<end>]\\x{c2}[\\x{20}<start><end>]",
    /* Windows-1253 */
    "\\x{3b2}\\x{20ac}[\\x{2122}\\x{a0}\\x{386}\\x{ad}\\x{ae}\\x{b0}]",
    "[\\x{392}\\x{393}\\x{39e}\\x{39f}][<c1><bad><start><end><currency>\\x{b0}]"
    "[\\x{392}\\x{393}\\x{39e}\\x{39f}]",
    /* Windows-1257 */
    "\\x{101}\\x{20ac}",
};

static const struct { const char *name, *body; } k_class_names[] = {
    {"c1", k_cat_c1}, {"bad", k_cat_bad}, {"law", k_cat_law}, {"currency", k_cat_currency},
    {"start", k_cat_start_punctuation}, {"end", k_cat_end_punctuation},
    {"numeric", k_cat_numeric}, {"kaomoji", k_cat_kaomoji}, {"upper", k_cat_upper_accented},
    {"lower", k_cat_lower_accented}, {"upper_common", k_cat_upper_common},
    {"lower_common", k_cat_lower_common}, {"box", k_cat_box}, {"common", k_cat_common},
    {"s", "\\x{9}-\\x{d}\\x{1c}-\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}"
          "\\x{2029}\\x{202f}\\x{205f}\\x{3000}"},
    {"w", "\\p{L}\\p{N}_"},
};

static pcre2_code *g_badness;
static pthread_once_t g_badness_once = PTHREAD_ONCE_INIT;
/* Every alternative needs at least one of the non-ASCII characters the pattern names (all
 * in the BMP), so text without any of them is not bad: most non-Latin text is decided by
 * this bitmap without running the pattern. */
static uint8_t g_named[0x10000 / 8];

static void mark_named(const uint8_t *p, size_t n) {
    for (size_t i = 0; i + 3 < n; i++) {
        if (memcmp(p + i, "\\x{", 3) != 0) continue;
        char *end;
        unsigned long a = strtoul((const char *)p + i + 3, &end, 16), b = a;
        size_t j = (size_t)(end - (const char *)p) + 1;  /* past '}' */
        if (j + 3 < n && memcmp(p + j, "-\\x{", 4) == 0)
            b = strtoul((const char *)p + j + 4, NULL, 16);
        for (unsigned long c = a < 0x80 ? 0x80 : a; c <= b && c < 0x10000; c++)
            g_named[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
}

/* Appends template t with its "<name>"s expanded; false when a name is unknown. */
static bool expand(vc_bytebuf *p, const char *t) {
    while (*t) {
        if (*t != '<') { vc_bytebuf_push(p, (uint8_t)*t++); continue; }
        const char *close = strchr(t, '>');
        if (!close) return false;
        size_t len = (size_t)(close - t - 1), k = 0;
        size_t nk = sizeof k_class_names / sizeof k_class_names[0];
        while (k < nk && !(strlen(k_class_names[k].name) == len &&
                           memcmp(k_class_names[k].name, t + 1, len) == 0))
            k++;
        if (k == nk) return false;
        for (const char *b = k_class_names[k].body; *b; b++) vc_bytebuf_push(p, (uint8_t)*b);
        t = close + 1;
    }
    return true;
}

static void build_badness(void) {
    vc_bytebuf p = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof k_badness / sizeof k_badness[0]; i++) {
        if (i) vc_bytebuf_push(&p, '|');
        ok = expand(&p, k_badness[i]);
    }
    if (ok && !p.oom) {
        int err;
        PCRE2_SIZE off;
        mark_named(p.v, p.n);
        g_badness = pcre2_compile((PCRE2_SPTR)p.v, p.n, PCRE2_UTF, &err, &off, NULL);
        if (g_badness) pcre2_jit_compile(g_badness, PCRE2_JIT_COMPLETE);  /* optional */
    }
    free(p.v);
}

/* ftfy.badness.is_bad. Sets f->re_failed (and answers false) when it cannot tell. */
static bool is_bad(fixer *f, const uint32_t *s, size_t n) {
    pthread_once(&g_badness_once, build_badness);
    if (!g_badness) { f->re_failed = true; return false; }
    size_t k = 0;
    while (k < n && !(s[k] < 0x10000 && (g_named[s[k] >> 3] >> (s[k] & 7) & 1))) k++;
    if (k == n) return false;
    if (!f->md && !(f->md = pcre2_match_data_create(1, NULL))) { f->oom = true; return false; }
    vc_bytebuf *u = &f->utf8;
    u->n = 0;
    vc_u32_to_utf8(s, n, u);
    if (u->oom) {
        f->oom = true;
        return false;
    }
    int rc = pcre2_match(g_badness, (PCRE2_SPTR)u->v, u->n, 0, PCRE2_NO_UTF_CHECK, f->md, NULL);
    if (rc >= 0) return true;
    if (rc != PCRE2_ERROR_NOMATCH) f->re_failed = true;
    return false;
}

/* ------------------------------------------------------------------ code pages */

/* str.encode(code page) into out; false when a character is not in the code page
 * (ftfy.chardata.possible_encoding is false). */
static bool cp_encode(fixer *f, int cp, const uint32_t *s, size_t n, vc_bytebuf *out) {
    out->n = 0;
    if (!VC_BUF_RESERVE(out, n + 1)) {
        f->oom = true;
        return false;
    }
    const cp_pair *t = k_cp_encode[cp];
    for (size_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c < 0x80 && c != 0x1A) { out->v[out->n++] = (uint8_t)c; continue; }
        size_t lo = 0, hi = 129;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (t[mid].cp < c) lo = mid + 1; else hi = mid;
        }
        if (lo == 129 || t[lo].cp != c) return false;
        out->v[out->n++] = t[lo].byte;
    }
    return true;
}

/* ------------------------------------------------------------------ byte transcoders */

static bool is_cont(uint8_t b) { return b >= 0x80 && b <= 0xBF; }
/* a continuation byte other than 85 and A0, which stand for common characters */
static bool is_cont_likely(uint8_t b) { return is_cont(b) && b != 0x85 && b != 0xA0; }

/* Length of the ALTERED_UTF8_RE match at b[i] (UTF-8 with a space where A0 belongs), or 0. */
static size_t altered_at(const uint8_t *b, size_t n, size_t i) {
    uint8_t c = b[i];
    size_t left = n - i;
    if ((c == 0xC2 || c == 0xC3 || c == 0xC5 || c == 0xCE || c == 0xD0 || c == 0xD9) &&
        left >= 2 && b[i + 1] == ' ')
        return 2;
    if ((c == 0xE2 || c == 0xE3) && left >= 3 && b[i + 1] == ' ' && is_cont_likely(b[i + 2]))
        return 3;
    if (c >= 0xE0 && c <= 0xE3 && left >= 3 && is_cont_likely(b[i + 1]) && b[i + 2] == ' ')
        return 3;
    if (c == 0xF0 && left >= 4) {
        int spaces = (b[i + 1] == ' ') + (b[i + 2] == ' ') + (b[i + 3] == ' ');
        int conts = is_cont(b[i + 1]) + is_cont(b[i + 2]) + is_cont(b[i + 3]);
        if (spaces == 1 && conts == 2) return 4;
    }
    return 0;
}

static bool altered_found(const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i] >= 0xC2 && altered_at(b, n, i)) return true;
    return false;
}

static bool starts_with(const uint8_t *b, size_t n, size_t i, const char *w) {
    size_t k = strlen(w);
    return n - i >= k && memcmp(b + i, w, k) == 0;
}

/* fixes.restore_byte_a0: first A_GRAVE_WORD_RE ("Ã " as the word "à", keeping the space,
 * except before " ", "quele", "quela", "quilo" and "s "), then every ALTERED_UTF8_RE match
 * gets its spaces back as A0. */
static void restore_byte_a0(fixer *f, const vc_bytebuf *in, vc_bytebuf *tmp, vc_bytebuf *out) {
    const uint8_t *b = in->v;
    size_t n = in->n;
    tmp->n = 0;
    for (size_t i = 0; i < n; i++) {
        vc_bytebuf_push(tmp, b[i]);
        if (b[i] == 0xC3 && i + 1 < n && b[i + 1] == ' ' && !starts_with(b, n, i + 2, " ") &&
            !starts_with(b, n, i + 2, "quele") && !starts_with(b, n, i + 2, "quela") &&
            !starts_with(b, n, i + 2, "quilo") && !starts_with(b, n, i + 2, "s ")) {
            vc_bytebuf_push(tmp, 0xA0);
            vc_bytebuf_push(tmp, ' ');
            i++;
        }
    }
    b = tmp->v;
    n = tmp->n;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        size_t m = b[i] >= 0xC2 ? altered_at(b, n, i) : 0;
        if (!m) { vc_bytebuf_push(out, b[i++]); continue; }
        for (size_t k = 0; k < m; k++) vc_bytebuf_push(out, b[i + k] == ' ' ? 0xA0 : b[i + k]);
        i += m;
    }
    if (tmp->oom || out->oom) f->oom = true;
}

/* Length of the LOSSY_UTF8_RE match at b[i], or 0: a UTF-8 (or CESU-8) sequence with
 * bytes lost to 1A (the sloppy codecs' U+FFFD) or, at most once, to '?'. */
static size_t lossy_at(const uint8_t *b, size_t n, size_t i) {
#define LOST(x) ((x) == 0x1A || (x) == '?')
#define SUB_OR_CONT(x) ((x) == 0x1A || is_cont(x))
    uint8_t c = b[i];
    size_t left = n - i;
    if (c >= 0xC2 && c <= 0xDF && left >= 2 && b[i + 1] == 0x1A) return 2;
    if ((c == 0xC2 || c == 0xC3) && left >= 2 && b[i + 1] == '?') return 2;
    if (c == 0xED && left >= 6 && b[i + 1] >= 0xA0 && b[i + 1] <= 0xAF && b[i + 3] == 0xED &&
        b[i + 4] >= 0xB0 && b[i + 4] <= 0xBF) {
        if (LOST(b[i + 2]) && (LOST(b[i + 5]) || is_cont(b[i + 5]))) return 6;
        if ((LOST(b[i + 2]) || is_cont(b[i + 2])) && LOST(b[i + 5])) return 6;
    }
    if (c >= 0xE0 && c <= 0xEF && left >= 3) {
        if (LOST(b[i + 1]) && SUB_OR_CONT(b[i + 2])) return 3;
        if (SUB_OR_CONT(b[i + 1]) && LOST(b[i + 2])) return 3;
    }
    if (c >= 0xF0 && c <= 0xF4 && left >= 4) {
        if (LOST(b[i + 1]) && SUB_OR_CONT(b[i + 2]) && SUB_OR_CONT(b[i + 3])) return 4;
        if (SUB_OR_CONT(b[i + 1]) && LOST(b[i + 2]) && SUB_OR_CONT(b[i + 3])) return 4;
        if (SUB_OR_CONT(b[i + 1]) && SUB_OR_CONT(b[i + 2]) && LOST(b[i + 3])) return 4;
    }
    return c == 0x1A ? 1 : 0;
#undef LOST
#undef SUB_OR_CONT
}

/* fixes.replace_lossy_sequences: each LOSSY_UTF8_RE match becomes EF BF BD (U+FFFD). */
static void replace_lossy(fixer *f, const vc_bytebuf *in, vc_bytebuf *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n;) {
        size_t m = lossy_at(in->v, in->n, i);
        if (!m) { vc_bytebuf_push(out, in->v[i++]); continue; }
        vc_bytebuf_push(out, 0xEF);
        vc_bytebuf_push(out, 0xBF);
        vc_bytebuf_push(out, 0xBD);
        i += m;
    }
    if (out->oom) f->oom = true;
}

/* ------------------------------------------------------------------ decoders */

/* bytes.decode('utf-8') (strict): appends to out, false on any ill-formed sequence. */
static bool utf8_strict(const uint8_t *b, size_t n, vc_u32buf *out) {
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += vc_utf8_decode(b + i, n - i, &c);
        if (c == VC_UTF8_BAD) return false;
        vc_u32buf_push(out, c);
    }
    return true;
}

/* Python's `$` (no MULTILINE) at byte p: the end, or just before a final '\n'. */
static bool at_end(const uint8_t *b, size_t n, size_t p) {
    return p == n || (p + 1 == n && b[p] == '\n');
}

/* Whether utf8_variants.SPECIAL_BYTES_RE matches at b[i]: C0 80 (Java's U+0000) or ED
 * followed by A0..BF and a continuation byte (a surrogate), either maybe cut by `$`. */
static bool special_at(const uint8_t *b, size_t n, size_t i) {
    if (b[i] == 0xC0) return (i + 1 < n && b[i + 1] == 0x80) || at_end(b, n, i + 1);
    if (b[i] != 0xED) return false;
    size_t p = i + 1;
    if (p < n && b[p] >= 0xA0 && b[p] <= 0xBF) p++;
    else if (!at_end(b, n, p)) return false;
    return (p < n && is_cont(b[p])) || at_end(b, n, p);
}

/* bytes.decode('utf-8-variants') of ftfy.bad_codecs: standard UTF-8 between the special
 * sequences; C0 plus any byte is U+0000; ED A0..AF xx ED B0..BF xx is one CESU-8 surrogate
 * pair (its last byte may be the final '\n', read as 0A, because of `$`); anything else
 * that starts a special match is an error. */
static bool utf8_variants(const uint8_t *b, size_t n, vc_u32buf *out) {
    size_t pos = 0;
    while (pos < n) {
        size_t i = pos;
        while (i < n && !((b[i] == 0xC0 || b[i] == 0xED) && special_at(b, n, i))) i++;
        if (i > pos && !utf8_strict(b + pos, i - pos, out)) return false;
        if (i == n) break;
        if (b[i] == 0xC0) {
            if (n - i < 2) return false;
            vc_u32buf_push(out, 0);
            pos = i + 2;
            continue;
        }
        if (n - i < 6) return false;
        const uint8_t *q = b + i;
        bool last_ok = is_cont(q[5]) || (n - i == 6 && q[5] == '\n');
        if (!(q[1] >= 0xA0 && q[1] <= 0xAF && is_cont(q[2]) && q[3] == 0xED && q[4] >= 0xB0 &&
              q[4] <= 0xBF && last_ok))
            return false;
        vc_u32buf_push(out, ((uint32_t)(q[1] & 0x0F) << 16 | (uint32_t)(q[2] & 0x3F) << 10 |
                       (uint32_t)(q[4] & 0x0F) << 6 | (q[5] & 0x3F)) + 0x10000);
        pos = i + 6;
    }
    return true;
}

/* ------------------------------------------------------------------ inconsistent UTF-8 */

static unsigned clue(uint32_t c) {
    if (c < 0x80) return c == ' ' ? CLUE_CONT : 0;
    size_t lo = 0, hi = sizeof k_clues / sizeof k_clues[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (k_clues[mid].cp < c) lo = mid + 1; else hi = mid;
    }
    return lo < sizeof k_clues / sizeof k_clues[0] && k_clues[lo].cp == c ? k_clues[lo].flags : 0;
}

/* End of the UTF8_DETECTOR_RE match that starts at s[i] (i when none): a run of
 * characters that look like UTF-8 lead and continuation bytes in a code page. The
 * lookbehind (no strict continuation character before it) is the caller's. */
static size_t detector_end(const uint32_t *s, size_t n, size_t i) {
    static const unsigned first[3] = {CLUE_FIRST2, CLUE_FIRST3, CLUE_FIRST4};
    size_t p = i;
    while (p < n) {
        unsigned lead = clue(s[p]);
        size_t len = 0;
        for (size_t conts = 1; conts <= 3 && !len; conts++) {  /* alternatives in order */
            if (!(lead & first[conts - 1]) || n - p <= conts) continue;
            size_t k = 1;
            while (k <= conts && (clue(s[p + k]) & CLUE_CONT)) k++;
            if (k > conts) len = conts + 1;
        }
        if (!len) break;
        p += len;
    }
    return p;
}

static bool fix_encoding(fixer *f, const uint32_t *s, size_t n, vc_u32buf *out);

/* fixes.decode_inconsistent_utf8 into out: each detector match shorter than the text that
 * is bad in itself is replaced by its fix_encoding. Returns whether anything matched. */
static bool decode_inconsistent_utf8(fixer *f, const uint32_t *s, size_t n, vc_u32buf *out) {
    bool matched = false;
    size_t done = 0;
    vc_u32buf sub = {0};
    for (size_t i = 0; i < n && !f->oom;) {
        size_t e = (i == 0 || !(clue(s[i - 1]) & CLUE_CONT_STRICT)) ? detector_end(s, n, i) : i;
        if (e == i) { i++; continue; }
        matched = true;
        vc_u32buf_append(out, s + done, i - done);
        sub.n = 0;
        if (e - i < n && is_bad(f, s + i, e - i) && fix_encoding(f, s + i, e - i, &sub))
            vc_u32buf_append(out, sub.v, sub.n);
        else
            vc_u32buf_append(out, s + i, e - i);
        done = i = e;
        if (out->oom || sub.oom) f->oom = true;
    }
    vc_u32buf_append(out, s + done, n - done);
    if (out->oom) f->oom = true;
    free(sub.v);
    return matched;
}

/* ------------------------------------------------------------------ fix_encoding */

/* ftfy._fix_encoding_one_step_and_explain. Returns false when it leaves the text as it is
 * without a new copy (empty, ASCII or not bad); else out holds the result. */
static bool one_step(fixer *f, const uint32_t *s, size_t n, vc_u32buf *out) {
    size_t i = 0;
    while (i < n && s[i] < 0x80) i++;
    if (i == n || !is_bad(f, s, n)) return false;
    bool done = false;
    vc_bytebuf bytes = {0}, t1 = {0}, t2 = {0};
    for (int cp = 0; cp < CP_COUNT && !done && !f->oom; cp++) {
        if (!cp_encode(f, cp, s, n, &bytes)) continue;
        const vc_bytebuf *b = &bytes;
        if (cp != CP_MACROMAN && altered_found(b->v, b->n)) {
            restore_byte_a0(f, b, &t1, &t2);
            b = &t2;
        }
        if (k_cp_sloppy[cp]) {
            vc_bytebuf *dst = b == &t2 ? &t1 : &t2;
            replace_lossy(f, b, dst);
            b = dst;
        }
        out->n = 0;
        bool variants = memchr(b->v, 0xED, b->n) || memchr(b->v, 0xC0, b->n);
        done = variants ? utf8_variants(b->v, b->n, out) : utf8_strict(b->v, b->n, out);
        if (out->oom) f->oom = true;
    }
    free(bytes.v);
    free(t1.v);
    free(t2.v);
    if (done || f->oom) return true;
    out->n = 0;
    if (decode_inconsistent_utf8(f, s, n, out) && !same32(out->v, out->n, s, n)) return true;
    /* What is left: Latin-1 that was meant as Windows-1252 (a strict decode, refused when a
     * byte is one of the five Windows-1252 leaves undefined), else fixes.fix_c1_controls
     * (the same map, keeping those five). Either way each C1 control becomes its
     * Windows-1252 character, the undefined ones staying as they are. */
    bool c1 = false;
    for (i = 0; i < n && !c1; i++) c1 = s[i] >= 0x80 && s[i] <= 0x9F;
    if (!c1) return false;
    out->n = 0;
    for (i = 0; i < n; i++) {
        bool is_c1 = s[i] >= 0x80 && s[i] <= 0x9F;
        vc_u32buf_push(out, is_c1 ? k_cp_decode[CP_SLOPPY_1252][s[i] - 0x80] : s[i]);
    }
    if (out->oom) f->oom = true;
    return true;
}

/* ftfy.fix_encoding: steps until the text stops changing. Returns whether it changed;
 * then out holds the result. */
static bool fix_encoding(fixer *f, const uint32_t *s, size_t n, vc_u32buf *out) {
    if (f->depth >= MAX_DEPTH) return false;
    f->depth++;
    vc_u32buf a = {0}, b = {0};
    const uint32_t *cur = s;
    size_t cn = n;
    bool changed = false;
    for (;;) {
        b.n = 0;
        if (!one_step(f, cur, cn, &b) || f->oom || f->re_failed) break;
        if (same32(b.v, b.n, cur, cn)) break;
        vc_u32buf t = a;
        a = b;
        b = t;
        cur = a.v;
        cn = a.n;
        changed = true;
    }
    if (changed) {
        out->n = 0;
        vc_u32buf_append(out, cur, cn);
        if (out->oom) f->oom = true;
    }
    free(a.v);
    free(b.v);
    f->depth--;
    return changed;
}

static vc_status check_text(const uint32_t *s, size_t n, const char *fn) {
    if (!s && n) return vc_fail(VC_ERR_ARG, "%s: NULL text", fn);
    for (size_t i = 0; i < n; i++)
        if (s[i] > 0x10FFFF || (s[i] >= 0xD800 && s[i] <= 0xDFFF))
            return vc_fail(VC_ERR_ARG, "%s: U+%04X at %zu is not a Unicode scalar value", fn,
                           (unsigned)s[i], i);
    return VC_OK;
}

static vc_status finish(fixer *f, const char *fn) {
    if (f->md) pcre2_match_data_free(f->md);
    free(f->utf8.v);
    if (f->oom) return vc_fail(VC_ERR_OOM, "%s: out of memory for the text being repaired", fn);
    if (f->re_failed)
        return vc_fail(VC_ERR_UNSUPPORTED, "%s: the badness pattern failed in PCRE2", fn);
    return VC_OK;
}

vc_status vc_fix_encoding(const uint32_t *s, size_t n, uint32_t **out, size_t *out_n) {
    if (!out || !out_n) return vc_fail(VC_ERR_ARG, "vc_fix_encoding: NULL argument");
    *out = NULL;
    *out_n = n;
    vc_status st = check_text(s, n, "vc_fix_encoding");
    if (st != VC_OK) return st;
    size_t i = 0;
    while (i < n && s[i] < 0x80) i++;
    if (i == n) return VC_OK;  /* ASCII: the common case, decided without any allocation */
    fixer f = {0};
    vc_u32buf r = {0};
    bool changed = fix_encoding(&f, s, n, &r);
    st = finish(&f, "vc_fix_encoding");
    if (st != VC_OK || !changed) { free(r.v); return st; }
    if (!r.v && !(r.v = malloc(sizeof *r.v)))
        return vc_fail(VC_ERR_OOM, "vc_fix_encoding: out of memory for an empty result");
    *out = r.v;
    *out_n = r.n;
    return VC_OK;
}

vc_status vc_looks_like_mojibake(const uint32_t *s, size_t n, bool *bad) {
    if (!bad) return vc_fail(VC_ERR_ARG, "vc_looks_like_mojibake: NULL argument");
    *bad = false;
    vc_status st = check_text(s, n, "vc_looks_like_mojibake");
    if (st != VC_OK) return st;
    fixer f = {0};
    *bad = is_bad(&f, s, n);
    return finish(&f, "vc_looks_like_mojibake");
}
