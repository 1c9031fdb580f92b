/* mojibake.h: repair of mojibake (text decoded in the wrong encoding, "cafÃ©" for "café"),
 * exactly as ftfy 6.3.1's fix_encoding does it with its default options, on arrays of
 * Unicode code points. Used by the CLIP tokenizer's text cleaning (models/text_clean.c).
 * Owns: ftfy's badness heuristic, its single-byte code pages (latin-1, the "sloppy"
 * Windows ones, ISO-8859-2, MacRoman, CP437), the "utf-8-variants" decoding (CESU-8,
 * Java's C0 80), the byte-level transcoders (restore_byte_a0, replace_lossy_sequences),
 * decode_inconsistent_utf8 and the C1-control fallbacks.
 * Not here: the rest of ftfy.fix_text (HTML entities, quotes, widths, NFC: text_clean.c).
 *
 * Thread-safe: the badness pattern (PCRE2) is compiled once, at first use. */
#ifndef VC_MOJIBAKE_H
#define VC_MOJIBAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/status.h"

/* ftfy.fix_encoding of s[0..n). When that changes the text, *out gets a malloc'ed array
 * of *out_n code points (free() it); when it does not, *out is NULL and *out_n is n.
 * Code points must be Unicode scalar values (no surrogates, none above U+10FFFF). */
vc_status vc_fix_encoding(const uint32_t *s, size_t n, uint32_t **out, size_t *out_n);

/* ftfy.badness.is_bad: whether s[0..n) holds a sequence typical of mojibake. */
vc_status vc_looks_like_mojibake(const uint32_t *s, size_t n, bool *bad);

#endif
