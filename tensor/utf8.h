/* utf8.h: UTF-8, the one decoder and encoder for every layer: validation of the file
 * formats that carry text (safetensors headers, captions, ids), the tokenizer's
 * bytes.decode(errors='replace') and the mojibake repair's strict decoding.
 * Owns: decoding one sequence (strict: no overlong forms, no surrogates, nothing past
 * U+10FFFF; an ill-formed sequence is reported with the length of its maximal subpart),
 * encoding one code point, and whole-string conversions into tensor/buf.h buffers.
 * Not here: Unicode properties and normalisation (utf8proc, PCRE2 in models/). */
#ifndef VC_UTF8_H
#define VC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/buf.h"

#define VC_UTF8_BAD UINT32_MAX /* vc_utf8_decode's code point for an ill-formed sequence */

/* Decodes the sequence that starts s[0, n), n >= 1: sets *cp and returns its length (1 to
 * 4). For an ill-formed sequence *cp is VC_UTF8_BAD and the length is that of its maximal
 * subpart (Unicode 3.9, "U+FFFD substitution of maximal subparts": what Python's
 * errors='replace' turns into one U+FFFD), at least 1. */
static inline size_t vc_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    uint32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0; /* overlong */
        if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90; /* overlong */
        if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else {
        *cp = VC_UTF8_BAD;
        return 1;
    }
    size_t k = 1;
    for (; k < len && k < n; k++) {
        unsigned b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        v = v << 6 | (b & 0x3F);
    }
    if (k < len) {
        *cp = VC_UTF8_BAD;
        return k;
    }
    *cp = v;
    return len;
}

/* Index of the first byte that breaks UTF-8 in s[0, n), or n when valid. */
size_t vc_utf8_invalid_at(const unsigned char *s, size_t n);
static inline bool vc_utf8_valid(const unsigned char *s, size_t n) { return vc_utf8_invalid_at(s, n) == n; }

/* Writes the UTF-8 bytes of code point c (at most U+10FFFF) to d; returns
 * how many (1 to 4). */
size_t vc_utf8_put(uint32_t c, unsigned char *d);

/* Appends the code points of s[0, n) to out, each ill-formed subpart as one U+FFFD (Python's
 * bytes.decode('utf-8', errors='replace')). */
void vc_utf8_to_u32(const unsigned char *s, size_t n, vc_u32buf *out);
/* Appends the UTF-8 of code points s[0, n) (each at most U+10FFFF) to out. */
void vc_u32_to_utf8(const uint32_t *s, size_t n, vc_bytebuf *out);

#endif
