/* text_clean.h: the text cleaning in front of the CLIP tokenizer, open_clip's 'lower' clean:
 * ftfy.fix_text, html.unescape twice, strip, whitespace collapsed to single spaces,
 * str.lower().
 * Owns: all of ftfy 6.3.1's fix_text with its default options, line by line and repeated
 * until the text stops changing, as ftfy does: HTML entities (every HTML5 name and ftfy's
 * upper-case forms; none in and after a line containing '<'), mojibake repair (through
 * mojibake.h: "cafÃ©" -> "café", "â€™" -> "'", with ftfy's quirks), C1 controls read as
 * Windows-1252, Latin ligatures, halfwidth/fullwidth forms, curly quotes, line breaks, ANSI
 * terminal escapes, control characters and NFC; a complete html.unescape (every name, its
 * longest-prefix rule for names without ';', numeric references); Python's str.isspace and
 * str.lower.
 * Not here: the mojibake heuristics and code pages (mojibake.h), splitting into words and
 * BPE (tokenizer.h).
 *
 * Differences from the reference:
 *  - Unicode tables come from utf8proc (2.8: Unicode 15); Python 3.11's unicodedata is
 *    Unicode 14. The final-sigma rule of str.lower() uses an approximation of
 *    Cased/Case_Ignorable.
 *  - Invalid UTF-8 is replaced as Python's bytes.decode('utf-8', errors='replace') does
 *    (one U+FFFD per maximal invalid subpart); the input cannot contain NUL bytes.
 *  - Mojibake repair recursing more than 200 levels deep (ftfy has no limit) leaves the
 *    inner text as it is; real text needs a few levels.
 * Thread-safe: no state between calls. */
#ifndef VC_TEXT_CLEAN_H
#define VC_TEXT_CLEAN_H

#include "tensor/buf.h"
#include "tensor/status.h"

/* Appends the cleaned, lower-cased UTF-8 of the NUL-terminated utf8 to out. Fails only
 * when out of memory (invalid UTF-8 is replaced, never an error). */
vc_status vc_text_clean(const char *utf8, vc_bytebuf *out);

#endif
