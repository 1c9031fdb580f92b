#include "json_text.h"

#include <stdio.h>
#include <string.h>

#include "tensor/utf8.h"

/* A cursor over the input and, when compacting, over the output. */
typedef struct {
    const unsigned char *s, *p, *end;
    char *o;
    char *err;
    size_t err_cap;
} jcur;

static bool jfail(jcur *j, const char *what) {
    if (j->err && j->err_cap) snprintf(j->err, j->err_cap, "at byte %zu: %s", (size_t)(j->p - j->s), what);
    return false;
}

static void emit(jcur *j, unsigned char c) {
    if (j->o) *j->o++ = (char)c;
}

static void skip_ws(jcur *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static bool at(const jcur *j, unsigned char c) { return j->p < j->end && *j->p == c; }

static bool is_digit(const jcur *j) { return j->p < j->end && *j->p >= '0' && *j->p <= '9'; }

static bool is_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* The string starting at the opening quote (UTF-8 was checked up front). */
static bool string(jcur *j) {
    emit(j, *j->p++);
    for (;;) {
        if (j->p >= j->end) return jfail(j, "unterminated string");
        unsigned char c = *j->p;
        if (c == '"') {
            emit(j, *j->p++);
            return true;
        }
        if (c < 0x20) return jfail(j, "raw control character in a string (must be escaped)");
        emit(j, *j->p++);
        if (c != '\\') continue;
        if (j->p >= j->end) return jfail(j, "unterminated string");
        unsigned char e = *j->p;
        if (e == 'u') {
            emit(j, *j->p++);
            for (int k = 0; k < 4; k++) {
                if (j->p >= j->end || !is_hex(*j->p)) return jfail(j, "\\u needs four hex digits");
                emit(j, *j->p++);
            }
        } else if (e && strchr("\"\\/bfnrt", e)) {
            emit(j, *j->p++);
        } else {
            return jfail(j, "unknown escape in a string");
        }
    }
}

/* The word w if the input holds it here (true, false, null, NaN, Infinity). */
static bool word(jcur *j, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return false;
    for (size_t k = 0; k < n; k++) emit(j, *j->p++);
    return true;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? or -Infinity. */
static bool number(jcur *j) {
    if (at(j, '-')) {
        emit(j, *j->p++);
        if (word(j, "Infinity")) return true;
    }
    if (!is_digit(j)) return jfail(j, "malformed number");
    if (at(j, '0')) {
        emit(j, *j->p++);
        if (is_digit(j)) return jfail(j, "number with a leading zero");
    } else {
        while (is_digit(j)) emit(j, *j->p++);
    }
    if (at(j, '.')) {
        emit(j, *j->p++);
        if (!is_digit(j)) return jfail(j, "malformed number: no digit after '.'");
        while (is_digit(j)) emit(j, *j->p++);
    }
    if (at(j, 'e') || at(j, 'E')) {
        emit(j, *j->p++);
        if (at(j, '+') || at(j, '-')) emit(j, *j->p++);
        if (!is_digit(j)) return jfail(j, "malformed number: no digit in the exponent");
        while (is_digit(j)) emit(j, *j->p++);
    }
    return true;
}

bool vc_json_compact(const char *in, size_t len, char *out, size_t *out_len, char *err, size_t err_cap) {
    jcur j = {(const unsigned char *)in, (const unsigned char *)in, (const unsigned char *)in + len, out, err, err_cap};
    if (len >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0) j.p += 3;  /* a UTF-8 byte order mark */
    size_t bad = vc_utf8_invalid_at(j.p, (size_t)(j.end - j.p));
    if (bad != (size_t)(j.end - j.p)) {
        j.p += bad;
        return jfail(&j, "not valid UTF-8");
    }
    char stack[VC_JSON_MAX_DEPTH];  /* '{' or '[' of each open container */
    int depth = 0;
    enum { VALUE, KEY, AFTER } state = VALUE;
    for (;;) {
        skip_ws(&j);
        if (state == KEY) {
            if (!at(&j, '"')) return jfail(&j, "expected a string as the object key");
            if (!string(&j)) return false;
            skip_ws(&j);
            if (!at(&j, ':')) return jfail(&j, "expected ':' after an object key");
            emit(&j, *j.p++);
            state = VALUE;
            continue;
        }
        if (state == AFTER) {
            if (depth == 0) {
                if (j.p != j.end) return jfail(&j, "unexpected text after the JSON value");
                break;
            }
            char top = stack[depth - 1];
            if (at(&j, ',')) {
                emit(&j, *j.p++);
                state = top == '{' ? KEY : VALUE;
            } else if (at(&j, top == '{' ? '}' : ']')) {
                emit(&j, *j.p++);
                depth--;
            } else {
                return jfail(&j, top == '{' ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
            }
            continue;
        }
        /* a value */
        if (j.p >= j.end) return jfail(&j, j.p == j.s ? "empty: expected a JSON value" : "expected a value, found the end");
        unsigned char c = *j.p;
        if (c == '{' || c == '[') {
            if (depth == VC_JSON_MAX_DEPTH) return jfail(&j, "nested too deeply");
            stack[depth++] = (char)c;
            emit(&j, *j.p++);
            skip_ws(&j);
            if (at(&j, c == '{' ? '}' : ']')) {
                emit(&j, *j.p++);
                depth--;
                state = AFTER;
            } else {
                state = c == '{' ? KEY : VALUE;
            }
            continue;
        }
        bool ok;
        if (c == '"') ok = string(&j);
        else if (c == '-' || (c >= '0' && c <= '9')) ok = number(&j);
        else if (word(&j, "true") || word(&j, "false") || word(&j, "null") || word(&j, "NaN") || word(&j, "Infinity"))
            ok = true;
        else return jfail(&j, "expected a value (object, array, string, number, true, false or null)");
        if (!ok) return false;
        state = AFTER;
    }
    if (out) {
        *j.o = '\0';
        if (out_len) *out_len = (size_t)(j.o - out);
    }
    return true;
}
