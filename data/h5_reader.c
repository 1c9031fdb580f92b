#include "data/h5_reader.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/f16_fast.h"
#include "data/h5_common.h"
#include "data/json_text.h"

/* An embedding dataset [rows, D], float16 or float32 on disk. */
typedef struct {
    const char *name;   /* "/video/embeddings", ... */
    hid_t id;           /* H5I_INVALID_HID when absent */
    hid_t space;        /* its file dataspace (the extent never changes: read-only) */
    hid_t memtype;      /* float32: native float; float16: binary16 little-endian */
    vc_dtype dtype;
    int64_t rows;
} emb_set;

typedef struct {
    const char *name;
    hid_t id;
    hid_t memtype;      /* variable-length or fixed, in the file's character set */
    int variable;
    size_t fixed_size;
    int64_t n;
} str_set;

struct vc_h5 {
    char *path;
    int64_t file_bytes; /* size at open, for the chunk index check */
    hid_t file;
    emb_set frames, text, classes;
    str_set ids, captions, cnames, meta;
    vc_h5_info info;
    char *clip_model;
    int64_t *offsets, *cap_video, *cap_off, *cap_idx, *labels, *all;
    int64_t *split[VC_NSPLITS];
    void *scratch;
    size_t scratch_bytes;
};

static const char *split_names[VC_NSPLITS] = {"train", "val", "test"};

const char *vc_split_name(vc_split s) { return (unsigned)s < VC_NSPLITS ? split_names[s] : "?"; }

/* ---- small helpers (called with the lock held) ---- */

static void *xmalloc_n(int64_t n, size_t size) {
    return malloc((size_t)(n > 0 ? n : 1) * size);
}

/* True when every component of path exists as a link ("/video/offsets"). */
static int link_exists(hid_t file, const char *path) {
    char buf[256];
    size_t len = strlen(path);
    if (len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t e = H5Lexists(file, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    return 1;
}

/* Opens dataset `name` (absent -> *out = invalid, or an error if required),
 * checks its rank and returns its shape. */
static vc_status open_dataset(vc_h5 *h, const char *name, int required, int rank, hid_t dapl, hid_t *out,
                              hsize_t *dims) {
    *out = H5I_INVALID_HID;
    if (!link_exists(h->file, name)) {
        if (required) return vc_fail(VC_ERR_FORMAT, "%s: missing dataset %s", h->path, name);
        return VC_OK;
    }
    hid_t d = H5Dopen2(h->file, name, dapl);
    if (d < 0) return vc_fail(VC_ERR_FORMAT, "%s: %s is not a readable dataset (%s)", h->path, name, vc_h5i_detail());
    hid_t sp = H5Dget_space(d);
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (r != rank) {
        vc_h5i_close(sp);
        vc_h5i_close(d);
        if (r < 0) return vc_fail(VC_ERR_FORMAT, "%s: %s: cannot read its shape (%s)", h->path, name, vc_h5i_detail());
        return vc_fail(VC_ERR_FORMAT, "%s: %s has rank %d; expected %d", h->path, name, r, rank);
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    vc_h5i_close(sp);
    *out = d;
    return VC_OK;
}

/* Reads a whole 1-D integer dataset as int64; expect < 0 accepts any length. */
static vc_status read_ints(vc_h5 *h, const char *name, int required, int64_t expect, const char *expect_what,
                           int64_t **out, int64_t *n_out) {
    *out = NULL;
    if (n_out) *n_out = -1;
    hid_t d;
    hsize_t dims[1];
    vc_status st = open_dataset(h, name, required, 1, H5P_DEFAULT, &d, dims);
    if (st || d < 0) return st;
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    vc_h5i_close(t);
    if (cls != H5T_INTEGER) {
        vc_h5i_close(d);
        return vc_fail(VC_ERR_FORMAT, "%s: %s is not an integer dataset", h->path, name);
    }
    int64_t n = (int64_t)dims[0];
    if (expect >= 0 && n != expect) {
        vc_h5i_close(d);
        return vc_fail(VC_ERR_FORMAT, "%s: %s has %lld entries; expected %lld (%s)", h->path, name, (long long)n,
                       (long long)expect, expect_what);
    }
    int64_t *a = xmalloc_n(n, sizeof *a);
    if (!a) {
        vc_h5i_close(d);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for %s (%lld entries)", h->path, name, (long long)n);
    }
    if (n > 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) < 0) {
        free(a);
        vc_h5i_close(d);
        return vc_fail(VC_ERR_IO, "%s: cannot read %s (%s)", h->path, name, vc_h5i_detail());
    }
    vc_h5i_close(d);
    *out = a;
    if (n_out) *n_out = n;
    return VC_OK;
}

/* A chunk cache big enough for a few chunks, so block reads of a compressed
 * dataset do not decompress the same chunk again for every call. */
static hid_t make_dapl(vc_h5 *h, const char *name) {
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0) return dapl;
    size_t bytes = 16u << 20;
    hid_t d = H5Dopen2(h->file, name, H5P_DEFAULT);
    if (d >= 0) {
        hid_t dcpl = H5Dget_create_plist(d);
        hsize_t cd[2];
        if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 2, cd) == 2) {
            hid_t t = H5Dget_type(d);
            size_t chunk = (size_t)cd[0] * (size_t)cd[1] * (t >= 0 ? H5Tget_size(t) : 4);
            vc_h5i_close(t);
            if (chunk * 4 > bytes) bytes = chunk * 4 < (256u << 20) ? chunk * 4 : (256u << 20);
        }
        vc_h5i_close(dcpl);
        vc_h5i_close(d);
    }
    H5Eclear2(H5E_DEFAULT);
    /* w0 = 1: a chunk read to the end is evicted first (reads are mostly sequential). */
    H5Pset_chunk_cache(dapl, 12421, bytes, 1.0);
    return dapl;
}

static vc_status open_emb(vc_h5 *h, emb_set *e, const char *name, int required) {
    e->name = name;
    e->id = e->space = e->memtype = H5I_INVALID_HID;
    e->rows = 0;
    if (!link_exists(h->file, name)) {
        if (required) return vc_fail(VC_ERR_FORMAT, "%s: missing dataset %s", h->path, name);
        return VC_OK;
    }
    hid_t dapl = make_dapl(h, name);
    hsize_t dims[2];
    vc_status st = open_dataset(h, name, required, 2, dapl, &e->id, dims);
    vc_h5i_close(dapl);
    if (st) return st;
    if ((int64_t)dims[1] != h->info.dim)
        return vc_fail(VC_ERR_FORMAT, "%s: %s has width %lld but the file's dim attribute is %lld", h->path, name,
                       (long long)dims[1], (long long)h->info.dim);
    e->rows = (int64_t)dims[0];
    hid_t t = H5Dget_type(e->id);
    if (t < 0) return vc_fail(VC_ERR_FORMAT, "%s: %s: cannot read its type (%s)", h->path, name, vc_h5i_detail());
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_FLOAT && size == 4) {
        e->dtype = VC_F32;
        e->memtype = H5Tcopy(H5T_NATIVE_FLOAT);
    } else if (vc_h5i_is_half(t)) {
        e->dtype = VC_F16;
        e->memtype = vc_h5i_half_type();
    } else {
        vc_h5i_close(t);
        return vc_fail(VC_ERR_FORMAT, "%s: %s has elements of %s %zu bytes; expected float16 or float32", h->path,
                       name, cls == H5T_FLOAT ? "float" : cls == H5T_INTEGER ? "integer" : "non-numeric type,", size);
    }
    vc_h5i_close(t);
    e->space = H5Dget_space(e->id);
    if (e->memtype < 0 || e->space < 0)
        return vc_fail(VC_ERR_FORMAT, "%s: %s: HDF5 error (%s)", h->path, name, vc_h5i_detail());
    return VC_OK;
}

static vc_status open_strings(vc_h5 *h, str_set *s, const char *name, int required, int64_t expect,
                              const char *expect_what) {
    s->name = name;
    s->id = s->memtype = H5I_INVALID_HID;
    s->n = 0;
    hsize_t dims[1];
    vc_status st = open_dataset(h, name, required, 1, H5P_DEFAULT, &s->id, dims);
    if (st || s->id < 0) return st;
    s->n = (int64_t)dims[0];
    if (expect >= 0 && s->n != expect)
        return vc_fail(VC_ERR_FORMAT, "%s: %s has %lld entries; expected %lld (%s)", h->path, name, (long long)s->n,
                       (long long)expect, expect_what);
    hid_t t = H5Dget_type(s->id);
    if (t < 0 || H5Tget_class(t) != H5T_STRING) {
        vc_h5i_close(t);
        return vc_fail(VC_ERR_FORMAT, "%s: %s is not a string dataset", h->path, name);
    }
    s->variable = H5Tis_variable_str(t) > 0;
    s->fixed_size = H5Tget_size(t);
    H5T_cset_t cset = H5Tget_cset(t);
    vc_h5i_close(t);
    /* HDF5 does not convert between ASCII and UTF-8, so read in the file's set. */
    s->memtype = H5Tcopy(H5T_C_S1);
    if (s->memtype < 0 || H5Tset_size(s->memtype, s->variable ? H5T_VARIABLE : s->fixed_size) < 0 ||
        H5Tset_cset(s->memtype, cset) < 0 || (!s->variable && H5Tset_strpad(s->memtype, H5T_STR_NULLPAD) < 0))
        return vc_fail(VC_ERR_FORMAT, "%s: %s: unsupported string type (%s)", h->path, name, vc_h5i_detail());
    return VC_OK;
}

static int attr_exists(hid_t root, const char *name) {
    htri_t e = H5Aexists(root, name);
    if (e < 0) H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

/* Opens a root attribute that must hold one value; returns its type class. */
static vc_status open_attr(vc_h5 *h, hid_t root, const char *name, hid_t *a, H5T_class_t *cls) {
    *cls = H5T_NO_CLASS;
    *a = H5Aopen(root, name, H5P_DEFAULT);
    if (*a < 0) return vc_fail(VC_ERR_FORMAT, "%s: cannot read root attribute '%s' (%s)", h->path, name, vc_h5i_detail());
    hid_t sp = H5Aget_space(*a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    vc_h5i_close(sp);
    hid_t t = H5Aget_type(*a);
    *cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    vc_h5i_close(t);
    if (n != 1) {
        *a = vc_h5i_close(*a);
        return vc_fail(VC_ERR_FORMAT, "%s: root attribute '%s' must hold one value, not %lld", h->path, name,
                       (long long)n);
    }
    return VC_OK;
}

static vc_status attr_string(vc_h5 *h, hid_t root, const char *name, char **out) {
    *out = NULL;
    hid_t a;
    H5T_class_t cls;
    vc_status st = open_attr(h, root, name, &a, &cls);
    if (st) return st;
    if (cls != H5T_STRING) {
        vc_h5i_close(a);
        return vc_fail(VC_ERR_FORMAT, "%s: root attribute '%s' must be a string", h->path, name);
    }
    hid_t t = H5Aget_type(a);
    hid_t mt = H5Tcopy(H5T_C_S1);
    int variable = H5Tis_variable_str(t) > 0;
    size_t size = H5Tget_size(t);
    H5Tset_cset(mt, H5Tget_cset(t));
    vc_h5i_close(t);
    herr_t r;
    if (variable) {
        char *p = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        r = H5Aread(a, mt, &p);
        if (r >= 0) *out = strdup(p ? p : "");
        if (p) H5free_memory(p);
    } else {
        char *buf = calloc(size + 1, 1);
        H5Tset_size(mt, size);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        r = buf ? H5Aread(a, mt, buf) : -1;
        *out = buf;
    }
    vc_h5i_close(mt);
    vc_h5i_close(a);
    if (r < 0 || !*out) {
        free(*out);
        *out = NULL;
        return vc_fail(VC_ERR_FORMAT, "%s: cannot read root attribute '%s' (%s)", h->path, name, vc_h5i_detail());
    }
    return VC_OK;
}

static vc_status attr_number(vc_h5 *h, hid_t root, const char *name, int want_int, int64_t *iv, double *dv) {
    hid_t a;
    H5T_class_t cls;
    vc_status st = open_attr(h, root, name, &a, &cls);
    if (st) return st;
    herr_t r = -1;
    if (cls == H5T_INTEGER)
        r = want_int ? H5Aread(a, H5T_NATIVE_INT64, iv) : H5Aread(a, H5T_NATIVE_DOUBLE, dv);
    else if (cls == H5T_FLOAT && !want_int)
        r = H5Aread(a, H5T_NATIVE_DOUBLE, dv);
    else {
        vc_h5i_close(a);
        return vc_fail(VC_ERR_FORMAT, "%s: root attribute '%s' must be %s", h->path, name,
                       want_int ? "an integer" : "a number");
    }
    vc_h5i_close(a);
    if (r < 0) return vc_fail(VC_ERR_FORMAT, "%s: cannot read root attribute '%s' (%s)", h->path, name, vc_h5i_detail());
    return VC_OK;
}

static vc_status read_root_attrs(vc_h5 *h) {
    hid_t root = H5Gopen2(h->file, "/", H5P_DEFAULT);
    if (root < 0) return vc_fail(VC_ERR_FORMAT, "%s: cannot open the root group (%s)", h->path, vc_h5i_detail());
    vc_status st = VC_OK;
    char *fmt = NULL;
    if (!attr_exists(root, "vclip_format")) {
        st = vc_fail(VC_ERR_FORMAT, "%s: missing root attribute 'vclip_format' (not a vclip embeddings file?)", h->path);
        goto done;
    }
    if ((st = attr_string(h, root, "vclip_format", &fmt))) goto done;
    if (strcmp(fmt, "vclip-embeddings") != 0) {
        st = vc_fail(VC_ERR_FORMAT, "%s: root attribute vclip_format is '%.80s'; expected 'vclip-embeddings'", h->path, fmt);
        goto done;
    }
    int64_t version = 0, dim = 0;
    const char *need[2] = {"vclip_version", "dim"};
    for (int i = 0; i < 2; i++)
        if (!attr_exists(root, need[i])) {
            st = vc_fail(VC_ERR_FORMAT, "%s: missing root attribute '%s'", h->path, need[i]);
            goto done;
        }
    if ((st = attr_number(h, root, "vclip_version", 1, &version, NULL))) goto done;
    if (version != 1) {
        st = vc_fail(VC_ERR_FORMAT, "%s: vclip_version is %lld; this build reads version 1%s", h->path, (long long)version,
                     version > 1 ? " (written by a newer vclip?)" : "");
        goto done;
    }
    if ((st = attr_number(h, root, "dim", 1, &dim, NULL))) goto done;
    if (dim < 1 || dim > (1 << 20)) {
        st = vc_fail(VC_ERR_FORMAT, "%s: root attribute dim is %lld; expected 1 .. 1048576", h->path, (long long)dim);
        goto done;
    }
    h->info.version = (int)version;
    h->info.dim = dim;
    if (attr_exists(root, "clip_model")) {
        if ((st = attr_string(h, root, "clip_model", &h->clip_model))) goto done;
        h->info.clip_model = h->clip_model;
    }
    if (attr_exists(root, "fps")) {
        double fps = 0;
        if ((st = attr_number(h, root, "fps", 0, NULL, &fps))) goto done;
        if (!(fps > 0 && fps < 1e9)) {
            st = vc_fail(VC_ERR_FORMAT, "%s: root attribute fps is %g; expected a positive number", h->path, fps);
            goto done;
        }
        h->info.fps = fps;
    }
done:
    free(fmt);
    vc_h5i_close(root);
    return st;
}

static vc_status check_indices(vc_h5 *h, const char *name, const int64_t *a, int64_t n, int64_t limit,
                               const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (a[i] < 0 || a[i] >= limit)
            return vc_fail(VC_ERR_FORMAT, "%s: %s[%lld] = %lld is out of range: %s", h->path, name, (long long)i,
                           (long long)a[i], what);
    return VC_OK;
}

static vc_status validate_offsets(vc_h5 *h) {
    const int64_t *o = h->offsets;
    int64_t V = h->info.n_videos, F = h->frames.rows;
    if (o[0] != 0)
        return vc_fail(VC_ERR_FORMAT, "%s: /video/offsets[0] is %lld; must be 0", h->path, (long long)o[0]);
    for (int64_t v = 1; v <= V; v++) {
        if (o[v] < o[v - 1])
            return vc_fail(VC_ERR_FORMAT, "%s: /video/offsets decreases at index %lld (%lld after %lld)", h->path,
                           (long long)v, (long long)o[v], (long long)o[v - 1]);
        if (o[v] > F)
            return vc_fail(VC_ERR_FORMAT, "%s: /video/offsets[%lld] = %lld runs past the %lld rows of /video/embeddings",
                           h->path, (long long)v, (long long)o[v], (long long)F);
    }
    if (o[V] != F)
        return vc_fail(VC_ERR_FORMAT, "%s: /video/offsets ends at %lld but /video/embeddings has %lld rows", h->path,
                       (long long)o[V], (long long)F);
    for (int64_t v = 0; v < V; v++) h->info.n_empty_videos += o[v + 1] == o[v];
    return VC_OK;
}

static vc_status build_caption_lists(vc_h5 *h) {
    int64_t V = h->info.n_videos, C = h->info.n_captions;
    h->cap_off = calloc((size_t)V + 1, sizeof *h->cap_off);
    h->cap_idx = xmalloc_n(C, sizeof *h->cap_idx);
    if (!h->cap_off || !h->cap_idx) return vc_fail(VC_ERR_OOM, "%s: out of memory for the caption lists", h->path);
    for (int64_t c = 0; c < C; c++) h->cap_off[h->cap_video[c] + 1]++;
    for (int64_t v = 0; v < V; v++) {
        h->info.n_uncaptioned += h->cap_off[v + 1] == 0;
        h->cap_off[v + 1] += h->cap_off[v];
    }
    /* A counting sort that keeps caption order within each video. */
    int64_t *fill = xmalloc_n(V, sizeof *fill);
    if (!fill) return vc_fail(VC_ERR_OOM, "%s: out of memory for the caption lists", h->path);
    memcpy(fill, h->cap_off, (size_t)V * sizeof *fill);
    for (int64_t c = 0; c < C; c++) h->cap_idx[fill[h->cap_video[c]]++] = c;
    free(fill);
    return VC_OK;
}

static vc_status read_splits(vc_h5 *h) {
    int64_t V = h->info.n_videos;
    uint64_t *seen = NULL;
    for (int s = 0; s < VC_NSPLITS; s++) {
        char name[32];
        snprintf(name, sizeof name, "/split/%s", split_names[s]);
        int64_t n;
        vc_status st = read_ints(h, name, 0, -1, NULL, &h->split[s], &n);
        if (st) {
            free(seen);
            return st;
        }
        if (!h->split[s]) continue;
        h->info.has_split[s] = true;
        h->info.split_size[s] = n;
        if ((st = check_indices(h, name, h->split[s], n, V, "not a video index"))) {
            free(seen);
            return st;
        }
        /* A video listed twice would be drawn twice per epoch. */
        if (!seen && !(seen = malloc(((size_t)V / 64 + 1) * sizeof *seen)))
            return vc_fail(VC_ERR_OOM, "%s: out of memory checking %s for repeats (%lld videos)", h->path, name, (long long)V);
        memset(seen, 0, ((size_t)V / 64 + 1) * sizeof *seen);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = h->split[s][i];
            if (seen[v / 64] >> (v % 64) & 1) {
                free(seen);
                return vc_fail(VC_ERR_FORMAT, "%s: %s lists video %lld twice (again at index %lld)", h->path, name,
                               (long long)v, (long long)i);
            }
            seen[v / 64] |= 1ull << (v % 64);
        }
    }
    free(seen);
    return VC_OK;
}

static vc_status validate(vc_h5 *h) {
    vc_status st;
    vc_h5_info *in = &h->info;
    if ((st = read_root_attrs(h))) return st;
    if ((st = open_emb(h, &h->frames, "/video/embeddings", 1))) return st;
    in->frame_dtype = h->frames.dtype;
    int64_t n_off;
    if ((st = read_ints(h, "/video/offsets", 1, -1, NULL, &h->offsets, &n_off))) return st;
    if (n_off < 1) return vc_fail(VC_ERR_FORMAT, "%s: /video/offsets is empty; it needs V+1 entries", h->path);
    in->n_videos = n_off - 1;
    in->n_frames = h->frames.rows;
    if ((st = validate_offsets(h))) return st;
    if ((st = open_strings(h, &h->ids, "/video/ids", 1, in->n_videos, "one per video, V+1 = /video/offsets length")))
        return st;
    if ((st = open_strings(h, &h->meta, "/video/meta", 0, in->n_videos, "one per video")))
        return st;
    in->has_meta = h->meta.id >= 0;

    if ((st = read_ints(h, "/text/video", 1, -1, NULL, &h->cap_video, &in->n_captions))) return st;
    if ((st = check_indices(h, "/text/video", h->cap_video, in->n_captions, in->n_videos, "not a video index")))
        return st;
    if ((st = open_strings(h, &h->captions, "/text/captions", 0, in->n_captions, "one per row of /text/video")))
        return st;
    in->has_captions_text = h->captions.id >= 0;
    /* Captions without embeddings are a file still waiting for text encoding. */
    if ((st = open_emb(h, &h->text, "/text/embeddings", !in->has_captions_text))) return st;
    in->has_text_embeddings = h->text.id >= 0;
    if (in->has_text_embeddings) {
        in->text_dtype = h->text.dtype;
        if (h->text.rows != in->n_captions)
            return vc_fail(VC_ERR_FORMAT, "%s: /text/embeddings has %lld rows but /text/video has %lld", h->path,
                           (long long)h->text.rows, (long long)in->n_captions);
    }
    if ((st = build_caption_lists(h))) return st;
    if ((st = read_splits(h))) return st;

    if ((st = open_strings(h, &h->cnames, "/class/names", 0, -1, NULL))) return st;
    if ((st = open_emb(h, &h->classes, "/class/embeddings", 0))) return st;
    in->has_class_names = h->cnames.id >= 0;
    in->has_class_embeddings = h->classes.id >= 0;
    if (in->has_class_embeddings) in->class_dtype = h->classes.dtype;
    if (in->has_class_names && in->has_class_embeddings && h->cnames.n != h->classes.rows)
        return vc_fail(VC_ERR_FORMAT, "%s: /class/names has %lld entries but /class/embeddings has %lld rows", h->path,
                       (long long)h->cnames.n, (long long)h->classes.rows);
    in->n_classes = in->has_class_names ? h->cnames.n : h->classes.rows;
    if ((st = read_ints(h, "/video/label", 0, in->n_videos, "one per video", &h->labels, NULL))) return st;
    in->has_labels = h->labels != NULL;
    if (in->has_labels) {
        if (in->n_classes == 0)
            return vc_fail(VC_ERR_FORMAT, "%s: /video/label needs the classes: /class/names or /class/embeddings",
                           h->path);
        char what[64];
        snprintf(what, sizeof what, "the file has %lld classes", (long long)in->n_classes);
        if ((st = check_indices(h, "/video/label", h->labels, in->n_videos, in->n_classes, what))) return st;
    }
    return VC_OK;
}

/* ---- public API ---- */

/* The HDF5 side of closing (called inside vc_h5i_enter / vc_h5i_leave). */
static void close_ids(vc_h5 *h) {
    emb_set *es[3] = {&h->frames, &h->text, &h->classes};
    for (int i = 0; i < 3; i++) {
        es[i]->space = vc_h5i_close(es[i]->space);
        es[i]->memtype = vc_h5i_close(es[i]->memtype);
        es[i]->id = vc_h5i_close(es[i]->id);
    }
    str_set *ss[4] = {&h->ids, &h->captions, &h->cnames, &h->meta};
    for (int i = 0; i < 4; i++) {
        ss[i]->memtype = vc_h5i_close(ss[i]->memtype);
        ss[i]->id = vc_h5i_close(ss[i]->id);
    }
    h->file = vc_h5i_close(h->file);
}

/* The memory side (after vc_h5i_leave: h->path is what vc_h5_busy names). */
static void free_handle(vc_h5 *h) {
    free(h->path);
    free(h->clip_model);
    free(h->offsets);
    free(h->cap_video);
    free(h->cap_off);
    free(h->cap_idx);
    free(h->labels);
    free(h->all);
    for (int s = 0; s < VC_NSPLITS; s++) free(h->split[s]);
    free(h->scratch);
    free(h);
}

vc_status vc_h5_open(vc_h5 **out, const char *path) {
    if (!out || !path) return vc_fail(VC_ERR_ARG, "vc_h5_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return vc_fail(VC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return vc_fail(VC_ERR_IO, "%s: not a regular file", path);
    vc_h5 *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the file handle", path);
    }
    h->file_bytes = (int64_t)sb.st_size;
    h->file = H5I_INVALID_HID;
    emb_set *es[3] = {&h->frames, &h->text, &h->classes};
    for (int i = 0; i < 3; i++) es[i]->id = es[i]->space = es[i]->memtype = H5I_INVALID_HID;
    str_set *ss[4] = {&h->ids, &h->captions, &h->cnames, &h->meta};
    for (int i = 0; i < 4; i++) ss[i]->id = ss[i]->memtype = H5I_INVALID_HID;

    vc_h5i_enter(h->path);
    vc_status st = VC_OK;
    htri_t is = H5Fis_hdf5(path);
    if (is == 0) {
        st = sb.st_size == 0 ? vc_fail(VC_ERR_FORMAT, "%s: not an HDF5 file (it is empty)", path)
                             : vc_fail(VC_ERR_FORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
    } else if (is < 0) {
        st = vc_fail(VC_ERR_FORMAT, "%s: cannot read as HDF5, truncated or damaged? (%s)", path, vc_h5i_detail());
    } else {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
        h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        vc_h5i_close(fapl);
        if (h->file < 0)
            st = vc_fail(VC_ERR_FORMAT, "%s: cannot open as HDF5, truncated or damaged? (%s)", path, vc_h5i_detail());
        else
            st = validate(h);
    }
    if (st) {
        /* Keep the message: closing HDF5 objects must not replace it. */
        close_ids(h);
        H5Eclear2(H5E_DEFAULT);
        vc_h5i_leave();
        free_handle(h);
        return st;
    }
    vc_h5i_leave();
    *out = h;
    return VC_OK;
}

void vc_h5_close(vc_h5 *h) {
    if (!h) return;
    vc_h5i_enter(h->path);
    close_ids(h);
    vc_h5i_leave();
    free_handle(h);
}

const vc_h5_info *vc_h5_get_info(const vc_h5 *h) { return &h->info; }
const char *vc_h5_path(const vc_h5 *h) { return h->path; }
const int64_t *vc_h5_offsets(const vc_h5 *h) { return h->offsets; }
const int64_t *vc_h5_caption_video(const vc_h5 *h) { return h->cap_video; }
const int64_t *vc_h5_caption_offsets(const vc_h5 *h) { return h->cap_off; }
const int64_t *vc_h5_caption_index(const vc_h5 *h) { return h->cap_idx; }
const int64_t *vc_h5_labels(const vc_h5 *h) { return h->labels; }

vc_status vc_h5_split(const vc_h5 *h, vc_split s, const int64_t **idx, int64_t *n) {
    if ((unsigned)s >= VC_NSPLITS) return vc_fail(VC_ERR_ARG, "%s: split %d does not exist", h->path, (int)s);
    if (!h->info.has_split[s]) return vc_fail(VC_ERR_FORMAT, "%s: has no /split/%s", h->path, split_names[s]);
    *idx = h->split[s];
    *n = h->info.split_size[s];
    return VC_OK;
}

vc_status vc_h5_all_videos(vc_h5 *h, const int64_t **idx, int64_t *n) {
    int64_t V = h->info.n_videos;
    if (!h->all) {
        if (!(h->all = xmalloc_n(V, sizeof *h->all))) return vc_fail(VC_ERR_OOM, "%s: out of memory for the indices of %lld videos", h->path, (long long)V);
        for (int64_t v = 0; v < V; v++) h->all[v] = v;
    }
    *idx = h->all;
    *n = V;
    return VC_OK;
}

/* First row of x [n, D] holding a NaN or Inf, or -1; *col gets its column. */
static int64_t first_bad_f16(const uint16_t *x, int64_t n, int64_t D, int64_t *col, int *is_nan) {
    unsigned bad = 0;
    size_t N = (size_t)n * (size_t)D;
    for (size_t i = 0; i < N; i++) bad |= (x[i] & 0x7c00u) == 0x7c00u;
    if (!bad) return -1;
    for (size_t i = 0; i < N; i++)
        if ((x[i] & 0x7c00u) == 0x7c00u) {
            *col = (int64_t)(i % (size_t)D);
            *is_nan = (x[i] & 0x03ffu) != 0;
            return (int64_t)(i / (size_t)D);
        }
    return -1;
}

static int64_t first_bad_f32(const float *x, int64_t n, int64_t D, int64_t *col, int *is_nan) {
    int64_t i = vc_first_nonfinite(x, (size_t)n * (size_t)D);
    if (i < 0) return -1;
    *col = i % D;
    *is_nan = isnan(x[i]);
    return i / D;
}

/* The video owning frame row r (offsets are non-decreasing). */
static int64_t video_of_row(const vc_h5 *h, int64_t r) {
    int64_t lo = 0, hi = h->info.n_videos - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (h->offsets[mid] <= r) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static vc_status read_rows(vc_h5 *h, emb_set *e, int64_t r0, int64_t n, float *dst) {
    if (e->id < 0) return vc_fail(VC_ERR_FORMAT, "%s: has no %s", h->path, e->name);
    if (r0 < 0 || n < 0 || r0 > e->rows - n)
        return vc_fail(VC_ERR_ARG, "%s: rows [%lld, %lld) are outside %s (%lld rows)", h->path, (long long)r0,
                       (long long)(r0 + n), e->name, (long long)e->rows);
    if (n == 0) return VC_OK;
    if (!dst) return vc_fail(VC_ERR_ARG, "%s: reading %s into NULL", h->path, e->name);
    int64_t D = h->info.dim;
    size_t N = (size_t)n * (size_t)D;
    void *buf = dst;
    if (e->dtype == VC_F16) {
        if (h->scratch_bytes < N * 2) {
            void *p = realloc(h->scratch, N * 2);
            if (!p) return vc_fail(VC_ERR_OOM, "%s: out of memory reading %lld rows of %s", h->path, (long long)n, e->name);
            h->scratch = p;
            h->scratch_bytes = N * 2;
        }
        buf = h->scratch;
    }
    /* At most 64 MB per call into libhdf5, so no single call runs long on
     * a healthy file (a watchdog of the program may time calls: h5_guard.h). */
    const size_t elem = e->dtype == VC_F16 ? 2 : 4;
    int64_t step_rows = (int64_t)((64u << 20) / ((size_t)D * elem));
    if (step_rows < 1) step_rows = 1;
    vc_status st = VC_OK;
    for (int64_t done = 0; done < n && !st; done += step_rows) {
        int64_t k = n - done < step_rows ? n - done : step_rows;
        vc_h5i_enter(h->path);
        /* The memory space has the selection's 2-D shape: with a 1-D one HDF5
         * maps chunks element by element, several times slower. */
        hsize_t start[2] = {(hsize_t)(r0 + done), 0}, count[2] = {(hsize_t)k, (hsize_t)D};
        hid_t ms = H5Screate_simple(2, count, NULL);
        herr_t r = ms < 0 ? -1 : H5Sselect_hyperslab(e->space, H5S_SELECT_SET, start, NULL, count, NULL);
        if (r >= 0) r = H5Dread(e->id, e->memtype, ms, e->space, H5P_DEFAULT, (char *)buf + (size_t)done * (size_t)D * elem);
        vc_h5i_close(ms);
        if (r < 0)
            st = vc_fail(VC_ERR_IO, "%s: cannot read rows [%lld, %lld) of %s (%s)", h->path, (long long)r0,
                         (long long)(r0 + n), e->name, vc_h5i_detail());
        vc_h5i_leave();
    }
    if (st) return st;
    int64_t col = 0;
    int is_nan = 0;
    int64_t bad = e->dtype == VC_F16 ? first_bad_f16(buf, n, D, &col, &is_nan) : first_bad_f32(buf, n, D, &col, &is_nan);
    if (bad >= 0) {
        int64_t row = r0 + bad;
        if (e == &h->frames)
            return vc_fail(VC_ERR_NUMERIC, "%s: %s row %lld (video %lld) has %s at column %lld", h->path, e->name,
                           (long long)row, (long long)video_of_row(h, row), is_nan ? "NaN" : "Inf", (long long)col);
        return vc_fail(VC_ERR_NUMERIC, "%s: %s row %lld has %s at column %lld", h->path, e->name, (long long)row,
                       is_nan ? "NaN" : "Inf", (long long)col);
    }
    if (e->dtype == VC_F16) vc_f16_to_f32_fast(dst, buf, N);
    return VC_OK;
}

vc_status vc_h5_read_frames(vc_h5 *h, int64_t r0, int64_t n, float *dst) { return read_rows(h, &h->frames, r0, n, dst); }
vc_status vc_h5_read_text(vc_h5 *h, int64_t r0, int64_t n, float *dst) { return read_rows(h, &h->text, r0, n, dst); }
vc_status vc_h5_read_classes(vc_h5 *h, float *dst) { return read_rows(h, &h->classes, 0, h->classes.rows, dst); }

/* Each entry of /video/meta is "" or one JSON value (data/json_text.h). */
static vc_status check_meta(const vc_h5 *h, int64_t i0, int64_t n, char *const *str) {
    for (int64_t i = 0; i < n; i++) {
        char why[160];
        size_t len = strlen(str[i]);
        if (len && !vc_json_compact(str[i], len, NULL, NULL, why, sizeof why))
            return vc_fail(VC_ERR_FORMAT, "%s: /video/meta[%lld] is not JSON (%s)", h->path, (long long)(i0 + i), why);
    }
    return VC_OK;
}

/* libhdf5 allocates each variable-length string it reads at the length
 * the file states, and fills it: a damaged length (one flipped byte of a
 * string's entry) states up to 4 GB for a string whose bytes in the heap
 * are a few dozen, and a read of such a file took 8 GB. Reads of string
 * sets allocate through str_alloc instead: a string longer than
 * VC_H5_STRING_MAX, or strings past a budget for the whole read, are
 * refused before a byte is written, and the read fails naming the claim.
 * Every block it hands out is tracked, so a read that fails part-way frees
 * the strings libhdf5 already made (libhdf5 drops its pointers to them). */
typedef struct {
    size_t left;        /* bytes the read may still allocate */
    size_t refused;     /* first refused claim (bytes, with the NUL); 0: none */
    bool over_budget;   /* the refused claim was within VC_H5_STRING_MAX */
    void **blocks;      /* what str_alloc handed out and libhdf5 did not free */
    size_t n_blocks, cap_blocks;
    bool oom;
} str_budget;

static void *str_alloc(size_t n, void *info) {
    str_budget *b = info;
    if (n > (size_t)VC_H5_STRING_MAX + 1 || n > b->left) {
        if (!b->refused) {
            b->refused = n;
            b->over_budget = n <= (size_t)VC_H5_STRING_MAX + 1;
        }
        return NULL;
    }
    if (b->n_blocks == b->cap_blocks) {
        size_t cap = b->cap_blocks ? 2 * b->cap_blocks : 64;
        void **nb = realloc(b->blocks, cap * sizeof *nb);
        if (!nb) {
            b->oom = true;
            return NULL;
        }
        b->blocks = nb;
        b->cap_blocks = cap;
    }
    void *p = malloc(n ? n : 1);
    if (!p) {
        b->oom = true;
        return NULL;
    }
    b->left -= n;
    b->blocks[b->n_blocks++] = p;
    return p;
}

static void str_free(void *p, void *info) {
    str_budget *b = info;
    if (!p) return;
    for (size_t i = b->n_blocks; i-- > 0;)
        if (b->blocks[i] == p) {
            b->blocks[i] = b->blocks[--b->n_blocks];
            break;
        }
    free(p);
}

/* What n strings may take in one read: each at most VC_H5_STRING_MAX, and
 * all together 64 MB plus 4 KB a string (a read of a million captions may
 * hold 4 GB of text; a block of the 4096 that vc_h5_scan reads, 80 MB). */
static size_t str_read_budget(int64_t n) {
    uint64_t b = (64u << 20) + (uint64_t)n * 4096u;
    return b > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)b;
}

vc_status vc_h5_read_strings(vc_h5 *h, vc_h5_strings which, int64_t i0, int64_t n, char **out) {
    static const char *const names[] = {"/video/ids", "/text/captions", "/class/names", "/video/meta"};
    if ((unsigned)which > VC_H5_META) return vc_fail(VC_ERR_ARG, "%s: unknown string set %d", h->path, (int)which);
    str_set *sets[] = {&h->ids, &h->captions, &h->cnames, &h->meta};
    str_set *s = sets[which];
    const char *name = names[which];
    if (s->id < 0) return vc_fail(VC_ERR_FORMAT, "%s: has no %s", h->path, name);
    if (i0 < 0 || n < 0 || i0 > s->n - n)
        return vc_fail(VC_ERR_ARG, "%s: entries [%lld, %lld) are outside %s (%lld entries)", h->path, (long long)i0,
                       (long long)(i0 + n), name, (long long)s->n);
    for (int64_t i = 0; i < n; i++) out[i] = NULL;
    if (n == 0) return VC_OK;
    size_t elem = s->variable ? sizeof(char *) : s->fixed_size;
    char *buf = calloc((size_t)n, elem);
    if (!buf) return vc_fail(VC_ERR_OOM, "%s: out of memory reading %lld strings of %s", h->path, (long long)n, name);
    str_budget bud = {.left = str_read_budget(n)};
    vc_h5i_enter(h->path);
    hsize_t start[1] = {(hsize_t)i0}, count[1] = {(hsize_t)n};
    hid_t fs = H5Dget_space(s->id);
    hid_t ms = H5Screate_simple(1, count, NULL);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    herr_t r = fs < 0 || ms < 0 || dxpl < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (r >= 0 && s->variable) r = H5Pset_vlen_mem_manager(dxpl, str_alloc, &bud, str_free, &bud);
    if (r >= 0) r = H5Dread(s->id, s->memtype, ms, fs, dxpl, buf);
    vc_status st = VC_OK;
    if (r < 0 && bud.refused) vc_h5i_mark_alloc_failed();
    if (r < 0 && bud.refused && !bud.over_budget)
        st = vc_fail(VC_ERR_FORMAT,
                     "%s: %s: a string among entries [%lld, %lld) states a length of %zu bytes, more than the %d a "
                     "string of a vclip file may have: a damaged length, or a file not made for vclip",
                     h->path, name, (long long)i0, (long long)(i0 + n), bud.refused - 1, VC_H5_STRING_MAX);
    else if (r < 0 && bud.refused)
        st = vc_fail(VC_ERR_FORMAT, "%s: %s: entries [%lld, %lld) state more than %zu bytes of text in all: damaged "
                                    "lengths", h->path, name, (long long)i0, (long long)(i0 + n), str_read_budget(n));
    else if (r < 0 && bud.oom)
        st = vc_fail(VC_ERR_OOM, "%s: out of memory reading entries [%lld, %lld) of %s", h->path, (long long)i0,
                     (long long)(i0 + n), name);
    else if (r < 0)
        st = vc_fail(VC_ERR_IO, "%s: cannot read entries [%lld, %lld) of %s (%s)", h->path, (long long)i0,
                     (long long)(i0 + n), name, vc_h5i_detail());
    int oom = 0;
    for (int64_t i = 0; i < n && !st; i++) {
        if (s->variable) {
            char *p = ((char **)(void *)buf)[i];
            out[i] = strdup(p ? p : "");
        } else {
            const char *p = buf + (size_t)i * elem;
            out[i] = strndup(p, elem);
        }
        oom |= out[i] == NULL;
    }
    /* the strings libhdf5 made, read or not: every one is in bud.blocks */
    for (size_t i = 0; i < bud.n_blocks; i++) free(bud.blocks[i]);
    free(bud.blocks);
    vc_h5i_close(dxpl);
    vc_h5i_close(ms);
    vc_h5i_close(fs);
    vc_h5i_leave();
    free(buf);
    if (!st && oom) st = vc_fail(VC_ERR_OOM, "%s: out of memory copying %lld strings of %s", h->path, (long long)n, name);
    if (!st && which == VC_H5_META) st = check_meta(h, i0, n, out);
    if (st)
        for (int64_t i = 0; i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    return st;
}

vc_status vc_h5_video_id(vc_h5 *h, int64_t v, char **out) { return vc_h5_read_strings(h, VC_H5_IDS, v, 1, out); }
vc_status vc_h5_caption(vc_h5 *h, int64_t c, char **out) { return vc_h5_read_strings(h, VC_H5_CAPTIONS, c, 1, out); }
vc_status vc_h5_video_meta(vc_h5 *h, int64_t v, char **out) { return vc_h5_read_strings(h, VC_H5_META, v, 1, out); }
vc_status vc_h5_class_name(vc_h5 *h, int64_t k, char **out) {
    return vc_h5_read_strings(h, VC_H5_CLASS_NAMES, k, 1, out);
}

/* ---- vc_h5_scan ---- */

typedef struct {
    vc_h5 *h;
    vc_h5_scan_progress progress;
    void *ctx;
} scan_ctx;

static void step(scan_ctx *c, const char *phase, int64_t done, int64_t total) {
    if (c->progress) c->progress(c->ctx, phase, done, total);
}

/* Every chunk of dataset d (rank 1 or 2) that its shape needs must be in
 * its index and lie inside the file; a contiguous dataset's data must be
 * stored whole, inside the file. A damaged index (a B-tree node) is where
 * libhdf5 can crash while reading rows. The chunks are looked up one by
 * one from the root (as reads do), not by walking the index from node to
 * node (H5Dget_num_chunks follows sibling links, which a damaged node can
 * turn into a cycle), and the walk stops at the first missing chunk, so a
 * damaged size cannot make it run for ever. */
static vc_status walk_chunks(scan_ctx *c, hid_t d, const char *name) {
    vc_h5 *h = c->h;
    const uint64_t eof = (uint64_t)h->file_bytes;
    vc_status st = VC_OK;
    vc_h5i_enter(h->path);
    hid_t dcpl = H5Dget_create_plist(d), sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 1}, cd[2] = {1, 1};
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    H5D_layout_t layout = dcpl < 0 ? H5D_LAYOUT_ERROR : H5Pget_layout(dcpl);
    if (rank < 1 || rank > 2 || layout < 0 || H5Sget_simple_extent_dims(sp, dims, NULL) < 0 ||
        (layout == H5D_CHUNKED && H5Pget_chunk(dcpl, rank, cd) != rank)) {
        st = vc_fail(VC_ERR_FORMAT, "%s: %s: cannot read its layout (%s)", h->path, name, vc_h5i_detail());
    } else if (layout == H5D_CONTIGUOUS) {
        haddr_t off = H5Dget_offset(d);
        hsize_t bytes = H5Dget_storage_size(d);
        hid_t t = H5Dget_type(d);
        /* a variable-length string is stored as a reference to a global heap
         * (its size there is not H5Tget_size's): at least a byte each */
        bool vlen = t >= 0 && H5Tis_variable_str(t) > 0;
        size_t elem = t < 0 ? 0 : vlen ? 1 : H5Tget_size(t);
        vc_h5i_close(t);
        uint64_t want = (uint64_t)dims[0] * (rank == 2 ? dims[1] : 1) * elem;
        if (want && (off == HADDR_UNDEF || (vlen ? bytes < want : bytes != want)))
            st = vc_fail(VC_ERR_FORMAT, "%s: %s: %llu bytes of data are stored where its shape needs %llu: an "
                                        "unfinished write or a damaged size", h->path, name,
                         (unsigned long long)(off == HADDR_UNDEF ? 0 : bytes), (unsigned long long)want);
        else if (want && (off > eof || bytes > eof - off))
            st = vc_fail(VC_ERR_FORMAT, "%s: %s: its data (%llu bytes at %llu) lies outside the file (%llu bytes): "
                                        "damaged or truncated", h->path, name, (unsigned long long)bytes,
                         (unsigned long long)off, (unsigned long long)eof);
    }
    vc_h5i_close(sp);
    vc_h5i_close(dcpl);
    vc_h5i_leave();
    if (st || layout != H5D_CHUNKED) return st;
    if (cd[0] == 0 || (rank == 2 && cd[1] == 0))
        return vc_fail(VC_ERR_FORMAT, "%s: %s: chunk size 0", h->path, name);
    int64_t n = 0, total = (int64_t)((dims[0] + cd[0] - 1) / cd[0] * (rank == 2 ? (dims[1] + cd[1] - 1) / cd[1] : 1));
    bool inside = false;
    step(c, "chunk index entries checked", 0, total);
    for (hsize_t r = 0; r < dims[0] && !st; r += cd[0]) {
        for (hsize_t col = 0; col < (rank == 2 ? dims[1] : 1) && !st; col += (rank == 2 ? cd[1] : 1)) {
            hsize_t at[2] = {r, col};
            unsigned mask = 0;
            haddr_t addr = HADDR_UNDEF;
            hsize_t bytes = 0;
            if (!inside) {
                vc_h5i_enter(h->path);
                inside = true;
            }
            if (H5Dget_chunk_info_by_coord(d, at, &mask, &addr, &bytes) < 0)
                st = vc_fail(VC_ERR_FORMAT, "%s: %s: the index entry of the chunk at row %llu is unreadable (%s)",
                             h->path, name, (unsigned long long)r, vc_h5i_detail());
            else if (addr == HADDR_UNDEF) /* reading it would give fill values (zero rows, empty strings) */
                st = vc_fail(VC_ERR_FORMAT, "%s: %s: the chunk at row %llu is not stored: an unfinished write or a "
                                            "damaged size", h->path, name, (unsigned long long)r);
            else if (addr > eof || bytes > eof - addr)
                st = vc_fail(VC_ERR_FORMAT, "%s: %s: the chunk at row %llu (%llu bytes at %llu) lies outside the file "
                                            "(%llu bytes): damaged index or truncated file", h->path, name,
                             (unsigned long long)r, (unsigned long long)bytes, (unsigned long long)addr,
                             (unsigned long long)eof);
            if (++n % 1024 == 0 || st) {
                vc_h5i_leave();
                inside = false;
                step(c, "chunk index entries checked", n, total);
            }
        }
    }
    if (inside) vc_h5i_leave();
    if (!st) step(c, "chunk index entries checked", total, total);
    return st;
}

static vc_status scan_rows(scan_ctx *c, vc_status (*rd)(vc_h5 *, int64_t, int64_t, float *), int64_t rows,
                           const char *phase) {
    int64_t D = c->h->info.dim, block = (8 << 20) / (D * (int64_t)sizeof(float));
    if (block < 1) block = 1;
    float *buf = xmalloc_n((block < rows ? block : rows) * D, sizeof *buf);
    if (!buf) return vc_fail(VC_ERR_OOM, "%s: out of memory for a block of %lld rows", c->h->path, (long long)block);
    vc_status st = VC_OK;
    step(c, phase, 0, rows);
    for (int64_t r = 0; r < rows && !st; r += block) {
        st = rd(c->h, r, rows - r < block ? rows - r : block, buf);
        step(c, phase, rows - r < block ? rows : r + block, rows);
    }
    free(buf);
    return st;
}

static vc_status scan_strings(scan_ctx *c, vc_h5_strings which, int64_t n, int64_t *nonempty, const char *phase) {
    enum { BLOCK = 4096 };
    char **s = malloc(BLOCK * sizeof *s);
    if (!s) return vc_fail(VC_ERR_OOM, "%s: out of memory for a block of %d strings", c->h->path, BLOCK);
    vc_status st = VC_OK;
    step(c, phase, 0, n);
    for (int64_t i = 0; i < n && !st; i += BLOCK) {
        int64_t k = n - i < BLOCK ? n - i : BLOCK;
        st = vc_h5_read_strings(c->h, which, i, k, s);
        step(c, phase, i + k, n);
        if (!st)
            for (int64_t j = 0; j < k; j++) {
                if (nonempty) *nonempty += s[j][0] != '\0';
                free(s[j]);
            }
    }
    free(s);
    return st;
}

vc_status vc_h5_scan(vc_h5 *h, bool values, int64_t *meta_nonempty, vc_h5_scan_progress progress, void *ctx) {
    scan_ctx c = {h, progress, ctx};
    const vc_h5_info *in = &h->info;
    if (meta_nonempty) *meta_nonempty = 0;
    vc_status st = VC_OK;
    const emb_set *es[3] = {&h->frames, &h->text, &h->classes};
    const str_set *ss[4] = {&h->ids, &h->captions, &h->cnames, &h->meta};
    for (int i = 0; i < 3 && !st; i++)
        if (es[i]->id >= 0) st = walk_chunks(&c, es[i]->id, es[i]->name);
    for (int i = 0; i < 4 && !st; i++)
        if (ss[i]->id >= 0) st = walk_chunks(&c, ss[i]->id, ss[i]->name);
    if (!st && values) st = scan_rows(&c, vc_h5_read_frames, in->n_frames, "frame rows checked");
    if (!st && values && in->has_text_embeddings)
        st = scan_rows(&c, vc_h5_read_text, in->n_captions, "caption rows checked");
    if (!st && values && in->has_class_embeddings) {
        float *x = xmalloc_n(in->n_classes * in->dim, sizeof *x);
        st = x ? vc_h5_read_classes(h, x)
               : vc_fail(VC_ERR_OOM, "%s: out of memory for %lld class embeddings", h->path, (long long)in->n_classes);
        free(x);
        step(&c, "class rows checked", in->n_classes, in->n_classes);
    }
    if (!st) st = scan_strings(&c, VC_H5_IDS, in->n_videos, NULL, "ids checked");
    if (!st && in->has_captions_text) st = scan_strings(&c, VC_H5_CAPTIONS, in->n_captions, NULL, "caption texts checked");
    if (!st && in->has_class_names) st = scan_strings(&c, VC_H5_CLASS_NAMES, in->n_classes, NULL, "class names checked");
    if (!st && in->has_meta) st = scan_strings(&c, VC_H5_META, in->n_videos, meta_nonempty, "metadata checked");
    return st;
}
