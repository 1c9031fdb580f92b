/* utf8.h: strict UTF-8 validation, shared by the file formats that carry
 * text (safetensors headers, captions, ids). Strict: no overlong forms, no
 * surrogates, nothing past U+10FFFF. */
#ifndef VC_UTF8_H
#define VC_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Index of the first byte that breaks UTF-8 in s[0, n), or n when valid. */
size_t vc_utf8_invalid_at(const unsigned char *s, size_t n);
static inline bool vc_utf8_valid(const unsigned char *s, size_t n) { return vc_utf8_invalid_at(s, n) == n; }

/* Writes the UTF-8 bytes of code point c (at most U+10FFFF) to d; returns
 * how many (1 to 4). */
size_t vc_utf8_put(uint32_t c, unsigned char *d);

#endif
