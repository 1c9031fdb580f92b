#include "npy.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c takes the host to be little-endian ('<' data is copied, '>' data swapped)"
#endif

#define NPY_MAX_DIMS 32  /* NumPy's own limit; deeper shapes are malformed */

/* The header dict is a Python literal; this cursor walks it without ever
 * reading past end. */
typedef struct {
    const char *p, *end;
    const char *name;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static vc_status malformed(const cursor *c, const char *what) {
    return vc_fail(VC_ERR_FORMAT, "%s: .npy header dict is malformed: %s", c->name, what);
}

/* A quoted string without escapes ('<f4', "shape"): NumPy never writes any. */
static vc_status parse_str(cursor *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return malformed(c, "expected a quoted string");
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\') return malformed(c, "escapes in strings are not supported");
        if (n + 1 < cap) out[n++] = *c->p;
        else return malformed(c, "string too long");
        c->p++;
    }
    if (c->p >= c->end) return malformed(c, "unterminated string");
    c->p++;
    out[n] = '\0';
    return VC_OK;
}

static bool eat_word(cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

/* (a, b, ...) of non-negative integers; Python 2 NumPy wrote "3L". */
static vc_status parse_shape(cursor *c, int64_t *dims, int *ndim) {
    if (!eat(c, '(')) {
        skip_ws(c);
        if (c->p < c->end && *c->p == '[') return malformed(c, "'shape' is a list, expected a tuple");
        return malformed(c, "'shape' is not a tuple");
    }
    *ndim = 0;
    for (;;) {
        if (eat(c, ')')) return VC_OK;
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return malformed(c, "'shape' holds something other than non-negative integers");
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return malformed(c, "'shape' value too large");
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
        if (*ndim >= NPY_MAX_DIMS) return malformed(c, "'shape' has more than 32 dimensions");
        dims[(*ndim)++] = v;
        if (eat(c, ',')) continue;
        if (eat(c, ')')) return VC_OK;
        return malformed(c, "expected ',' or ')' in 'shape'");
    }
}

static vc_status parse_dict(cursor *c, char *descr, size_t descr_cap, int *fortran, int64_t *dims, int *ndim) {
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    vc_status st;
    if (!eat(c, '{')) return malformed(c, "does not start with '{'");
    for (;;) {
        if (eat(c, '}')) break;
        char key[32];
        if ((st = parse_str(c, key, sizeof key))) return st;
        if (!eat(c, ':')) return malformed(c, "expected ':' after a key");
        if (strcmp(key, "descr") == 0) {
            if (seen_descr) return malformed(c, "'descr' appears twice");
            seen_descr = true;
            skip_ws(c);
            if (c->p < c->end && *c->p == '[')
                return vc_fail(VC_ERR_UNSUPPORTED, "%s: structured dtype not supported (need float16, float32 or float64: '<f2', '<f4', '<f8', '>f2', '>f4' or '>f8')", c->name);
            if ((st = parse_str(c, descr, descr_cap))) return st;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (seen_fortran) return malformed(c, "'fortran_order' appears twice");
            seen_fortran = true;
            if (eat_word(c, "True")) *fortran = 1;
            else if (eat_word(c, "False")) *fortran = 0;
            else return malformed(c, "'fortran_order' is neither True nor False");
        } else if (strcmp(key, "shape") == 0) {
            if (seen_shape) return malformed(c, "'shape' appears twice");
            seen_shape = true;
            if ((st = parse_shape(c, dims, ndim))) return st;
        } else {
            return vc_fail(VC_ERR_FORMAT, "%s: .npy header dict has unexpected key '%s'", c->name, key);
        }
        if (eat(c, ',')) continue;
        if (eat(c, '}')) break;
        return malformed(c, "expected ',' or '}'");
    }
    skip_ws(c);
    if (c->p != c->end) return malformed(c, "unexpected bytes after '}' (header length wrong?)");
    if (!seen_descr) return malformed(c, "missing 'descr'");
    if (!seen_fortran) return malformed(c, "missing 'fortran_order'");
    if (!seen_shape) return malformed(c, "missing 'shape'");
    return VC_OK;
}

static const char *shape_str(const int64_t *dims, int ndim, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (n < cap) snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
    return buf;
}

vc_status vc_npy_parse(const void *buf, size_t len, const char *name, vc_npy_info *info) {
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    const unsigned char *b = buf;
    if (!name) name = ".npy";
    if (len < 6 || memcmp(b, magic, 6) != 0)
        return vc_fail(VC_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
    if (len < 10) return vc_fail(VC_ERR_FORMAT, "%s: truncated .npy header (%zu bytes)", name, len);
    int major = b[6], minor = b[7];
    if (major < 1 || major > 3 || minor != 0)
        return vc_fail(VC_ERR_UNSUPPORTED, "%s: unsupported .npy format version %d.%d (need 1.0, 2.0 or 3.0)", name, major, minor);
    size_t prefix = major == 1 ? 10 : 12, hlen;
    if (len < prefix) return vc_fail(VC_ERR_FORMAT, "%s: truncated .npy header (%zu bytes)", name, len);
    if (major == 1) hlen = (size_t)b[8] | (size_t)b[9] << 8;
    else hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > len - prefix)
        return vc_fail(VC_ERR_FORMAT, "%s: .npy header length %zu runs past the end of the data (%zu bytes after the prefix): truncated, or the length is wrong",
                       name, hlen, len - prefix);

    cursor c = {(const char *)b + prefix, (const char *)b + prefix + hlen, name};
    char descr[32] = "";
    int fortran = 0, ndim = 0;
    int64_t dims[NPY_MAX_DIMS];
    vc_status st = parse_dict(&c, descr, sizeof descr, &fortran, dims, &ndim);
    if (st) return st;

    vc_npy_info in = {.version = major, .data_offset = prefix + hlen, .fortran_order = fortran != 0};
    /* numpy writes '<' or '>' for multi-byte floats ('=' and '|' never) */
    if ((descr[0] == '<' || descr[0] == '>') && descr[1] == 'f' && descr[3] == '\0' &&
        (descr[2] == '2' || descr[2] == '4' || descr[2] == '8')) {
        in.elem_bytes = descr[2] - '0';
        in.big_endian = descr[0] == '>';
        memcpy(in.descr, descr, 4);
    } else {
        return vc_fail(VC_ERR_UNSUPPORTED,
                       "%s: dtype '%s' not supported (need float16, float32 or float64: '<f2', '<f4', '<f8' or big-endian '>f2', '>f4', '>f8')",
                       name, descr);
    }
    char sbuf[128];
    if (ndim != 1 && ndim != 2)
        return vc_fail(VC_ERR_UNSUPPORTED, "%s: shape %s has %d dimensions, need (n, D) frames x width", name,
                       shape_str(dims, ndim, sbuf, sizeof sbuf), ndim);
    in.ndim = ndim;
    in.rows = ndim == 2 ? dims[0] : 1;
    in.cols = dims[ndim - 1];
    if (in.cols < 1)
        return vc_fail(VC_ERR_FORMAT, "%s: shape %s has width D = 0", name, shape_str(dims, ndim, sbuf, sizeof sbuf));
    size_t esize = (size_t)in.elem_bytes;
    /* rows*cols*esize must fit; compare against the bytes present before multiplying */
    size_t avail = len - in.data_offset;
    uint64_t need;
    if ((uint64_t)in.cols > UINT64_MAX / esize || (in.rows && (uint64_t)in.rows > UINT64_MAX / ((uint64_t)in.cols * esize)))
        return vc_fail(VC_ERR_FORMAT, "%s: shape %s is too large", name, shape_str(dims, ndim, sbuf, sizeof sbuf));
    need = (uint64_t)in.rows * (uint64_t)in.cols * esize;
    if (need > avail)
        return vc_fail(VC_ERR_FORMAT, "%s: truncated .npy data: %zu bytes, shape %s of %s needs %llu", name, avail,
                       shape_str(dims, ndim, sbuf, sizeof sbuf), descr, (unsigned long long)need);
    if (need < avail)
        return vc_fail(VC_ERR_FORMAT, "%s: %llu unexpected bytes after the .npy data of shape %s (%s)", name,
                       (unsigned long long)(avail - need), shape_str(dims, ndim, sbuf, sizeof sbuf), descr);
    in.data_bytes = (size_t)need;
    *info = in;
    return VC_OK;
}

/* Raw bits of element j (storage order) in host order. */
static uint64_t load_bits(const unsigned char *src, size_t j, int size, bool swap) {
    unsigned char b[8];
    memcpy(b, src + j * (size_t)size, (size_t)size);
    if (swap)
        for (int k = 0; k < size / 2; k++) {
            unsigned char t = b[k];
            b[k] = b[size - 1 - k];
            b[size - 1 - k] = t;
        }
    uint64_t u = 0;
    if (size == 2) {
        uint16_t v;
        memcpy(&v, b, 2);
        u = v;
    } else if (size == 4) {
        uint32_t v;
        memcpy(&v, b, 4);
        u = v;
    } else {
        memcpy(&u, b, 8);
    }
    return u;
}

/* Storage index of row-major element i. */
static size_t storage_index(const vc_npy_info *in, size_t i) {
    if (!in->fortran_order || in->ndim < 2) return i;
    size_t r = i / (size_t)in->cols, c = i % (size_t)in->cols;
    return c * (size_t)in->rows + r;
}

/* float64 -> float32 rounded to odd: truncate toward zero and, when that
 * lost anything, set the lowest significand bit. Beyond float32's range
 * this gives +-FLT_MAX, which still rounds to +-Inf in float16. */
static float f64_to_f32_odd(double x) {
    float f = (float)x;
    if ((double)f == x || x != x) return f;
    if (fabs((double)f) > fabs(x)) f = nextafterf(f, 0.0f);
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= 1;
    memcpy(&f, &u, 4);
    return f;
}

double vc_npy_value(const vc_npy_info *in, const void *buf, int64_t i) {
    const unsigned char *src = (const unsigned char *)buf + in->data_offset;
    uint64_t u = load_bits(src, storage_index(in, (size_t)i), in->elem_bytes, in->big_endian);
    if (in->elem_bytes == 2) return (double)vc_f16_to_f32((uint16_t)u);
    if (in->elem_bytes == 4) {
        uint32_t v = (uint32_t)u;
        float f;
        memcpy(&f, &v, 4);
        return (double)f;
    }
    double d;
    memcpy(&d, &u, 8);
    return d;
}

int64_t vc_npy_to_f32(const vc_npy_info *in, const void *buf, float *out, bool for_f16) {
    const unsigned char *src = (const unsigned char *)buf + in->data_offset;
    size_t n = (size_t)in->rows * (size_t)in->cols;
    bool plain = !in->big_endian && (!in->fortran_order || in->ndim < 2);
    if (plain && in->elem_bytes == 4) {
        memcpy(out, src, n * sizeof(float));
        return -1;
    }
    if (plain && in->elem_bytes == 2) {
        /* the data after a header of odd length may be misaligned for uint16_t */
        uint16_t tmp[256];
        for (size_t i = 0; i < n; i += 256) {
            size_t k = n - i < 256 ? n - i : 256;
            memcpy(tmp, src + 2 * i, 2 * k);
            vc_f16_to_f32_n(out + i, tmp, k);
        }
        return -1;
    }
    int64_t first_over = -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = load_bits(src, storage_index(in, i), in->elem_bytes, in->big_endian);
        if (in->elem_bytes == 2) {
            out[i] = vc_f16_to_f32((uint16_t)u);
        } else if (in->elem_bytes == 4) {
            uint32_t v = (uint32_t)u;
            memcpy(&out[i], &v, 4);
        } else {
            double d;
            memcpy(&d, &u, 8);
            if (isfinite(d) && !isfinite((float)d)) {
                if (first_over < 0) first_over = (int64_t)i;
                out[i] = d > 0 ? INFINITY : -INFINITY;
            } else {
                out[i] = for_f16 ? f64_to_f32_odd(d) : (float)d;
            }
        }
    }
    return first_over;
}

vc_status vc_npy_buf_reserve(vc_npy_buf *b, size_t n) {
    if (n <= b->cap) return VC_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < n) cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    /* old contents are never needed, so free + malloc avoids realloc's copy */
    free(b->data);
    b->data = malloc(cap);
    if (!b->data) {
        b->cap = b->len = 0;
        return vc_fail(VC_ERR_OOM, "out of memory for a %zu-byte read buffer", cap);
    }
    b->cap = cap;
    return VC_OK;
}

void vc_npy_buf_free(vc_npy_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

vc_status vc_npy_buf_read_file(vc_npy_buf *b, const char *path, size_t max_bytes, int64_t *size) {
    b->len = 0;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return vc_fail(VC_ERR_IO, "%s: not a regular file", path);
    }
    *size = (int64_t)sb.st_size;
    if ((uint64_t)sb.st_size > max_bytes) {
        fclose(f);
        return VC_OK;
    }
    size_t n = (size_t)sb.st_size;
    vc_status st = vc_npy_buf_reserve(b, n + 1);
    if (st) {
        fclose(f);
        return vc_fail(st, "%s: out of memory for its %zu bytes", path, n);
    }
    size_t got = fread(b->data, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) return vc_fail(VC_ERR_IO, "%s: read failed after %zu of %zu bytes", path, got, n);
    b->len = n;
    return VC_OK;
}

vc_status vc_npy_read_file(const char *path, size_t max_bytes, vc_npy_buf *b, vc_npy_info *info) {
    int64_t size;
    vc_status st = vc_npy_buf_read_file(b, path, max_bytes, &size);
    if (st) return st;
    if ((uint64_t)size > max_bytes)
        return vc_fail(VC_ERR_FORMAT, "%s: %lld bytes is over the %zu-byte limit for one .npy", path, (long long)size,
                       max_bytes);
    return vc_npy_parse(b->data, b->len, path, info);
}
