#include "utf8.h"

size_t vc_utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = vc_utf8_decode(s + i, n - i, &cp);
        if (cp == VC_UTF8_BAD) return i;
        i += len;
    }
    return n;
}

size_t vc_utf8_put(uint32_t c, unsigned char *d) {
    if (c < 0x80) {
        d[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        d[0] = (unsigned char)(0xC0 | c >> 6);
        d[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        d[0] = (unsigned char)(0xE0 | c >> 12);
        d[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
        d[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | c >> 18);
    d[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
    d[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
    d[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

void vc_utf8_to_u32(const unsigned char *s, size_t n, vc_u32buf *out) {
    if (!VC_BUF_RESERVE(out, out->n + n)) return; /* at most one code point per byte */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += vc_utf8_decode(s + i, n - i, &cp);
        out->v[out->n++] = cp == VC_UTF8_BAD ? 0xFFFD : cp;
    }
}

void vc_u32_to_utf8(const uint32_t *s, size_t n, vc_bytebuf *out) {
    if (!VC_BUF_RESERVE(out, out->n + 4 * n + 1)) return;
    for (size_t i = 0; i < n; i++) out->n += vc_utf8_put(s[i], out->v + out->n);
    out->v[out->n] = 0;
}
