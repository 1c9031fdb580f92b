/* json_text.h: checks that a text is one JSON value and writes it compacted.
 * It owns the syntax check of the per-video metadata (KEY.json members,
 * /video/meta in data/FORMAT.md); it does not build a tree or interpret
 * values (the metadata is kept, not read).
 *
 * Accepted: JSON as Python's json module reads it, which is what wrote the
 * published metadata: RFC 8259 (any value at the top, strings of valid UTF-8
 * without raw control characters, the standard escapes, \uXXXX), plus the
 * tokens NaN, Infinity and -Infinity, which json.dumps writes for float NaN
 * and Inf (a pandas column with a missing duration, say). Nesting deeper
 * than VC_JSON_MAX_DEPTH is refused. Whitespace around the value is allowed.
 *
 * Compacted: every whitespace byte outside strings is dropped; everything
 * else is kept byte for byte (escapes stay escapes, numbers keep their
 * spelling), so json.loads of the result equals json.loads of the input and
 * the result is shorter (json.dumps(..., indent=4) output shrinks by half). */
#ifndef VC_JSON_TEXT_H
#define VC_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define VC_JSON_MAX_DEPTH 256

/* Checks in[0, len) (not NUL-terminated). When out is not NULL it receives
 * the compacted text, NUL-terminated (it needs len + 1 bytes) and *out_len
 * its length. On failure returns false and writes a reason naming the byte
 * offset to err ("at byte 17: expected ':' after an object key"). */
bool vc_json_compact(const char *in, size_t len, char *out, size_t *out_len, char *err, size_t err_cap);

#endif
