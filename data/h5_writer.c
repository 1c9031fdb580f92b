#include "data/h5_writer.h"

#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/h5_common.h"
#include "data/h5_reader.h"
#include "tensor/buf.h"

/* Strings and caption rows are staged in blocks of this many entries so HDF5
 * sees a few large writes instead of one per video. */
#define STAGE_STRINGS 1024

/* An extendible [rows, D] embedding dataset with a one-chunk staging buffer. */
typedef struct {
    const char *name;
    hid_t id;
    int64_t rows;        /* written to the file */
    void *stage;         /* chunk_rows rows in the file dtype */
    int64_t staged;
} emb_out;

/* An extendible 1-D variable-length string dataset. */
typedef struct {
    const char *name;
    hid_t id;
    int64_t rows;
    char **stage;
    int64_t staged;
} str_out;

struct vc_h5w {
    char *path, *tmp;
    vc_h5w_opts o;
    size_t esize;          /* bytes per stored element (2 or 4) */
    int64_t chunk_rows;
    hid_t file, ftype, strtype; /* ftype: stored float type; strtype: vlen UTF-8 */
    emb_out frames, text;
    str_out ids, captions, meta;  /* meta.id < 0 until the first vc_h5w_set_meta */
    int64_t V, C;
    int64_t *offsets;              /* [V+1] */
    int64_t *cap_video;            /* [C] */
    size_t off_cap, cap_cap;       /* their capacities */
    int cap_emb, cap_text;         /* -1 unknown until the first caption, then 0/1 */
    int64_t *split[3], split_n[3];
    int64_t *labels, n_labels;
    char **cnames;
    float *cemb;
    int64_t K;
    int broken;                    /* an HDF5 write failed: only abort/close remain */
};

static const char *split_names[3] = {"train", "val", "test"};

/* ---- helpers (called with the lock held) ---- */

static vc_status h5fail(vc_h5w *w, const char *what, const char *name) {
    w->broken = 1;
    return vc_fail(VC_ERR_IO, "%s: %s %s failed (%s)", w->path, what, name, vc_h5i_detail());
}

static hid_t make_dcpl(vc_h5w *w, int rank, const hsize_t *chunk, int compress) {
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p < 0) return p;
    /* No timestamps: the same inputs give the same bytes. */
    H5Pset_obj_track_times(p, 0);
    if (chunk) {
        H5Pset_chunk(p, rank, chunk);
        if (compress && w->o.gzip_level > 0) {
            H5Pset_shuffle(p);
            H5Pset_deflate(p, (unsigned)w->o.gzip_level);
        }
    }
    return p;
}

static hid_t make_group(vc_h5w *w, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(gcpl, 0);
    hid_t g = H5Gcreate2(w->file, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    vc_h5i_close(gcpl);
    return g;
}

static vc_status create_emb(vc_h5w *w, emb_out *e, const char *name) {
    e->name = name;
    hsize_t dims[2] = {0, (hsize_t)w->o.dim}, maxd[2] = {H5S_UNLIMITED, (hsize_t)w->o.dim};
    hsize_t chunk[2] = {(hsize_t)w->chunk_rows, (hsize_t)w->o.dim};
    hid_t sp = H5Screate_simple(2, dims, maxd);
    hid_t dcpl = make_dcpl(w, 2, chunk, 1);
    e->id = sp < 0 || dcpl < 0 ? -1 : H5Dcreate2(w->file, name, w->ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    vc_h5i_close(sp);
    vc_h5i_close(dcpl);
    if (e->id < 0) return h5fail(w, "creating", name);
    if (!(e->stage = malloc((size_t)w->chunk_rows * (size_t)w->o.dim * w->esize)))
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the %s buffer", w->path, name);
    return VC_OK;
}

static vc_status create_str(vc_h5w *w, str_out *s, const char *name) {
    s->name = name;
    hsize_t dims[1] = {0}, maxd[1] = {H5S_UNLIMITED}, chunk[1] = {STAGE_STRINGS};
    hid_t sp = H5Screate_simple(1, dims, maxd);
    hid_t dcpl = make_dcpl(w, 1, chunk, 0);
    s->id = sp < 0 || dcpl < 0 ? -1 : H5Dcreate2(w->file, name, w->strtype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    vc_h5i_close(sp);
    vc_h5i_close(dcpl);
    if (s->id < 0) return h5fail(w, "creating", name);
    if (!(s->stage = calloc(STAGE_STRINGS, sizeof *s->stage)))
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the %s buffer", w->path, name);
    return VC_OK;
}

/* Appends n rows (row-major, memtype) to an extendible dataset of rank 1 or 2. */
static vc_status append(vc_h5w *w, hid_t d, const char *name, int rank, int64_t *rows, int64_t n, hid_t memtype,
                        const void *buf) {
    if (n == 0) return VC_OK;
    hsize_t newd[2] = {(hsize_t)(*rows + n), (hsize_t)w->o.dim};
    hsize_t start[2] = {(hsize_t)*rows, 0}, count[2] = {(hsize_t)n, (hsize_t)w->o.dim};
    if (H5Dset_extent(d, newd) < 0) return h5fail(w, "extending", name);
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t r = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (r >= 0) r = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf);
    vc_h5i_close(fs);
    vc_h5i_close(ms);
    if (r < 0) return h5fail(w, "writing", name);
    *rows += n;
    return VC_OK;
}

static vc_status flush_emb(vc_h5w *w, emb_out *e) {
    vc_status st = append(w, e->id, e->name, 2, &e->rows, e->staged, w->ftype, e->stage);
    if (!st) e->staged = 0;
    return st;
}

static vc_status flush_str(vc_h5w *w, str_out *s) {
    vc_status st = append(w, s->id, s->name, 1, &s->rows, s->staged, w->strtype, s->stage);
    if (st) return st;
    for (int64_t i = 0; i < s->staged; i++) {
        free(s->stage[i]);
        s->stage[i] = NULL;
    }
    s->staged = 0;
    return VC_OK;
}

/* Stages n rows of float32 (already checked finite) in the file dtype. */
static vc_status stage_rows(vc_h5w *w, emb_out *e, const float *x, int64_t n) {
    int64_t D = w->o.dim;
    while (n > 0) {
        int64_t k = w->chunk_rows - e->staged;
        if (k > n) k = n;
        size_t cnt = (size_t)k * (size_t)D;
        char *dst = (char *)e->stage + (size_t)e->staged * (size_t)D * w->esize;
        if (w->o.dtype == VC_F16) vc_f32_to_f16_n((uint16_t *)(void *)dst, x, cnt);
        else memcpy(dst, x, cnt * sizeof *x);
        e->staged += k;
        x += cnt;
        n -= k;
        if (e->staged == w->chunk_rows) {
            vc_status st = flush_emb(w, e);
            if (st) return st;
        }
    }
    return VC_OK;
}

static vc_status stage_str(vc_h5w *w, str_out *s, const char *text) {
    char *c = strdup(text);
    if (!c) return vc_fail(VC_ERR_OOM, "%s: out of memory for a %zu-byte string", w->path, strlen(text) + 1);
    s->stage[s->staged++] = c;
    return s->staged == STAGE_STRINGS ? flush_str(w, s) : VC_OK;
}

/* First value of x[n] that is not finite or (for float16 storage) would
 * overflow to Inf: binary16 rounds |x| < 65520 to at most 65504, and
 * |x| >= 65520 to Inf. -1 if none. */
static int64_t first_unstorable(const vc_h5w *w, const float *x, int64_t n) {
    float lim = w->o.dtype == VC_F16 ? 65520.0f : INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(x[i]) < lim) || !isfinite(x[i])) return i;
    return -1;
}

static vc_status bad_value(const vc_h5w *w, const char *what, float x, int64_t row, int64_t col) {
    if (!isfinite(x))
        return vc_fail(VC_ERR_NUMERIC, "%s: %s has %s at row %lld, column %lld", w->path, what, isnan(x) ? "NaN" : "Inf",
                       (long long)row, (long long)col);
    return vc_fail(VC_ERR_NUMERIC, "%s: %s has %g at row %lld, column %lld, outside the float16 range", w->path, what,
                   (double)x, (long long)row, (long long)col);
}

/* Room for need entries in one of the index arrays (what names it). */
static vc_status grow(int64_t **a, size_t *cap, int64_t need, const char *path, const char *what) {
    if (vc_grow((void **)a, cap, (size_t)need, sizeof **a)) return VC_OK;
    return vc_fail(VC_ERR_OOM, "%s: out of memory growing %s to %lld entries (%lld bytes)", path, what,
                   (long long)need, (long long)need * (long long)sizeof **a);
}

static vc_status write_attr(vc_h5w *w, hid_t loc, const char *name, hid_t type, const void *val) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, type, val);
    vc_h5i_close(a);
    vc_h5i_close(sp);
    return r < 0 ? h5fail(w, "writing root attribute", name) : VC_OK;
}

/* A whole fixed-size 1-D int64 or 2-D embedding dataset, written at close. */
static vc_status write_fixed(vc_h5w *w, const char *name, hid_t ftype, hid_t mtype, int rank, int64_t n,
                             const void *buf) {
    hsize_t dims[2] = {(hsize_t)n, (hsize_t)w->o.dim};
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = make_dcpl(w, rank, NULL, 0);
    hid_t d = sp < 0 || dcpl < 0 ? -1 : H5Dcreate2(w->file, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : n > 0 ? H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
    vc_h5i_close(d);
    vc_h5i_close(dcpl);
    vc_h5i_close(sp);
    return r < 0 ? h5fail(w, "writing", name) : VC_OK;
}

static void free_writer(vc_h5w *w) {
    emb_out *es[2] = {&w->frames, &w->text};
    for (int i = 0; i < 2; i++) {
        vc_h5i_close(es[i]->id);
        free(es[i]->stage);
    }
    str_out *ss[3] = {&w->ids, &w->captions, &w->meta};
    for (int i = 0; i < 3; i++) {
        vc_h5i_close(ss[i]->id);
        if (ss[i]->stage)
            for (int64_t k = 0; k < ss[i]->staged; k++) free(ss[i]->stage[k]);
        free(ss[i]->stage);
    }
    vc_h5i_close(w->ftype);
    vc_h5i_close(w->strtype);
    vc_h5i_close(w->file);
    free(w->offsets);
    free(w->cap_video);
    for (int s = 0; s < 3; s++) free(w->split[s]);
    free(w->labels);
    if (w->cnames)
        for (int64_t k = 0; k < w->K; k++) free(w->cnames[k]);
    free(w->cnames);
    free(w->cemb);
    free((char *)w->o.clip_model);
    free(w->path);
    free(w->tmp);
    free(w);
}

/* ---- public API ---- */

vc_status vc_h5w_open(vc_h5w **out, const char *path, const vc_h5w_opts *opts) {
    if (!out || !path || !opts) return vc_fail(VC_ERR_ARG, "vc_h5w_open: NULL argument");
    *out = NULL;
    if (opts->dim < 1 || opts->dim > (1 << 20))
        return vc_fail(VC_ERR_ARG, "%s: embedding width %lld is not in 1 .. 1048576", path, (long long)opts->dim);
    if (opts->dtype != VC_F16 && opts->dtype != VC_F32)
        return vc_fail(VC_ERR_ARG, "%s: storage dtype must be float16 or float32, not %s", path,
                       vc_dtype_name(opts->dtype));
    if (opts->gzip_level < 0 || opts->gzip_level > 9)
        return vc_fail(VC_ERR_ARG, "%s: gzip level %d is not in 0 .. 9", path, opts->gzip_level);
    if (opts->fps != opts->fps || isinf(opts->fps))
        return vc_fail(VC_ERR_ARG, "%s: fps must be a finite number", path);

    vc_h5w *w = calloc(1, sizeof *w);
    if (!w) return vc_fail(VC_ERR_OOM, "%s: out of memory for the writer (%zu bytes)", path, sizeof *w);
    w->o = *opts;
    w->o.clip_model = NULL;
    w->file = w->ftype = w->strtype = H5I_INVALID_HID;
    w->frames.id = w->text.id = w->ids.id = w->captions.id = w->meta.id = H5I_INVALID_HID;
    w->cap_emb = w->cap_text = -1;
    w->esize = opts->dtype == VC_F16 ? 2 : 4;
    /* At most 1 MiB and 1024 rows per chunk: large enough for fast sequential
     * reads and compression, small enough that a random block read wastes
     * little and a small file stays small (a partial chunk is stored whole). */
    w->chunk_rows = (int64_t)((1u << 20) / ((size_t)opts->dim * w->esize));
    if (w->chunk_rows > 1024) w->chunk_rows = 1024;
    if (w->chunk_rows < 16) w->chunk_rows = 16;
    size_t tl = strlen(path) + 32;
    w->path = strdup(path);
    w->tmp = malloc(tl);
    if (opts->clip_model) w->o.clip_model = strdup(opts->clip_model);
    if (!w->path || !w->tmp || (opts->clip_model && !w->o.clip_model)) {
        free_writer(w);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for the paths and the clip_model attribute", path);
    }
    snprintf(w->tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    vc_status st = grow(&w->offsets, &w->off_cap, 1, path, "/video/offsets");
    if (st) {
        free_writer(w);
        return st;
    }
    w->offsets[0] = 0;

    vc_h5i_lock();
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_obj_track_times(fcpl, 0);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    vc_h5i_close(fcpl);
    vc_h5i_close(fapl);
    if (w->file < 0) {
        st = vc_fail(VC_ERR_IO, "%s: cannot create %s (%s)", path, w->tmp, vc_h5i_detail());
        unlink(w->tmp); /* HDF5 may have made it before failing (a full disk) */
        free_writer(w);
        vc_h5i_unlock();
        return st;
    }
    w->ftype = opts->dtype == VC_F16 ? vc_h5i_half_type() : H5Tcopy(H5T_IEEE_F32LE);
    w->strtype = H5Tcopy(H5T_C_S1);
    if (w->ftype < 0 || w->strtype < 0 || H5Tset_size(w->strtype, H5T_VARIABLE) < 0 ||
        H5Tset_cset(w->strtype, H5T_CSET_UTF8) < 0)
        st = h5fail(w, "creating", "types");
    hid_t root = st ? -1 : H5Gopen2(w->file, "/", H5P_DEFAULT);
    if (!st && root < 0) st = h5fail(w, "opening", "/");
    const char *fmt = "vclip-embeddings";
    int64_t version = 1, dim = opts->dim;
    if (!st) st = write_attr(w, root, "vclip_format", w->strtype, &fmt);
    if (!st) st = write_attr(w, root, "vclip_version", H5T_NATIVE_INT64, &version);
    if (!st) st = write_attr(w, root, "dim", H5T_NATIVE_INT64, &dim);
    if (!st && w->o.clip_model) st = write_attr(w, root, "clip_model", w->strtype, &w->o.clip_model);
    if (!st && opts->fps > 0) st = write_attr(w, root, "fps", H5T_NATIVE_DOUBLE, &opts->fps);
    vc_h5i_close(root);
    const char *groups[2] = {"/video", "/text"};
    for (int i = 0; i < 2 && !st; i++) {
        hid_t g = make_group(w, groups[i]);
        if (g < 0) st = h5fail(w, "creating", groups[i]);
        vc_h5i_close(g);
    }
    if (!st) st = create_emb(w, &w->frames, "/video/embeddings");
    if (!st) st = create_str(w, &w->ids, "/video/ids");
    if (st) {
        unlink(w->tmp);
        free_writer(w);
        H5Eclear2(H5E_DEFAULT);
    }
    vc_h5i_unlock();
    if (st) return st;
    *out = w;
    return VC_OK;
}

int64_t vc_h5w_n_videos(const vc_h5w *w) { return w->V; }

/* A string longer than the reader accepts (VC_H5_STRING_MAX, data/h5_reader.h)
 * is refused here, so every file vclip writes reads back. */
static vc_status check_length(const vc_h5w *w, const char *what, int64_t i, const char *text) {
    size_t n = strlen(text);
    if (n <= (size_t)VC_H5_STRING_MAX) return VC_OK;
    return vc_fail(VC_ERR_ARG, "%s: %s %lld is %zu bytes long, more than the %d bytes a string may have", w->path,
                   what, (long long)i, n, VC_H5_STRING_MAX);
}

vc_status vc_h5w_add_video(vc_h5w *w, const char *id, const float *frames, int64_t n, int64_t *index) {
    if (w->broken) return vc_fail(VC_ERR_IO, "%s: an earlier write failed", w->path);
    if (!id) return vc_fail(VC_ERR_ARG, "%s: video %lld has no id", w->path, (long long)w->V);
    vc_status st = check_length(w, "the id of video", w->V, id);
    if (st) return st;
    if (n < 0 || (n > 0 && !frames))
        return vc_fail(VC_ERR_ARG, "%s: video %lld ('%.80s'): bad frames (n = %lld)", w->path, (long long)w->V, id,
                       (long long)n);
    int64_t i = first_unstorable(w, frames, n * w->o.dim);
    if (i >= 0) {
        char what[160];
        snprintf(what, sizeof what, "video %lld ('%.80s')", (long long)w->V, id);
        return bad_value(w, what, frames[i], i / w->o.dim, i % w->o.dim);
    }
    st = grow(&w->offsets, &w->off_cap, w->V + 2, w->path, "/video/offsets");
    if (st) return st;
    vc_h5i_lock();
    st = stage_str(w, &w->ids, id);
    if (!st) st = stage_rows(w, &w->frames, frames, n);
    vc_h5i_unlock();
    if (st) {
        w->broken = 1;
        return st;
    }
    w->offsets[w->V + 1] = w->offsets[w->V] + n;
    if (index) *index = w->V;
    w->V++;
    return VC_OK;
}

vc_status vc_h5w_add_caption(vc_h5w *w, int64_t video, const char *text, const float *emb) {
    if (w->broken) return vc_fail(VC_ERR_IO, "%s: an earlier write failed", w->path);
    if (video < 0 || video >= w->V)
        return vc_fail(VC_ERR_ARG, "%s: caption %lld names video %lld, but only %lld videos were added", w->path,
                       (long long)w->C, (long long)video, (long long)w->V);
    if (!text && !emb)
        return vc_fail(VC_ERR_ARG, "%s: caption %lld has neither text nor an embedding", w->path, (long long)w->C);
    int has_t = text != NULL, has_e = emb != NULL;
    if (w->cap_text >= 0 && w->cap_text != has_t)
        return vc_fail(VC_ERR_ARG, "%s: caption %lld %s text but earlier captions %s (all captions of a file must agree)",
                       w->path, (long long)w->C, has_t ? "has" : "has no", has_t ? "have none" : "have it");
    if (w->cap_emb >= 0 && w->cap_emb != has_e)
        return vc_fail(VC_ERR_ARG,
                       "%s: caption %lld %s an embedding but earlier captions %s (all captions of a file must agree)",
                       w->path, (long long)w->C, has_e ? "has" : "has no", has_e ? "have none" : "have one");
    if (text && check_length(w, "caption", w->C, text)) return VC_ERR_ARG;
    if (emb) {
        char what[64];
        snprintf(what, sizeof what, "caption %lld embedding", (long long)w->C);
        int64_t i = first_unstorable(w, emb, w->o.dim);
        if (i >= 0) return bad_value(w, what, emb[i], 0, i);
    }
    vc_status st = grow(&w->cap_video, &w->cap_cap, w->C + 1, w->path, "/text/video");
    if (st) return st;
    vc_h5i_lock();
    if (w->cap_text < 0) {
        w->cap_text = has_t;
        w->cap_emb = has_e;
        if (has_t) st = create_str(w, &w->captions, "/text/captions");
        if (!st && has_e) st = create_emb(w, &w->text, "/text/embeddings");
    }
    if (!st && has_t) st = stage_str(w, &w->captions, text);
    if (!st && has_e) st = stage_rows(w, &w->text, emb, 1);
    vc_h5i_unlock();
    if (st) {
        w->broken = 1;
        return st;
    }
    w->cap_video[w->C++] = video;
    return VC_OK;
}

/* Rewrites entry row of a string dataset already in the file. */
static vc_status rewrite_str(vc_h5w *w, str_out *s, int64_t row, const char *text) {
    hsize_t start[1] = {(hsize_t)row}, count[1] = {1};
    hid_t fs = H5Dget_space(s->id);
    hid_t ms = H5Screate_simple(1, count, NULL);
    herr_t r = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (r >= 0) r = H5Dwrite(s->id, w->strtype, ms, fs, H5P_DEFAULT, &text);
    vc_h5i_close(fs);
    vc_h5i_close(ms);
    return r < 0 ? h5fail(w, "rewriting an entry of", s->name) : VC_OK;
}

vc_status vc_h5w_set_meta(vc_h5w *w, int64_t video, const char *text) {
    if (w->broken) return vc_fail(VC_ERR_IO, "%s: an earlier write failed", w->path);
    if (video < 0 || video >= w->V)
        return vc_fail(VC_ERR_ARG, "%s: metadata for video %lld, but only %lld videos were added", w->path,
                       (long long)video, (long long)w->V);
    if (!text) return vc_fail(VC_ERR_ARG, "%s: metadata of video %lld is NULL", w->path, (long long)video);
    if (check_length(w, "the metadata of video", video, text)) return VC_ERR_ARG;
    vc_status st = VC_OK;
    vc_h5i_lock();
    if (w->meta.id < 0) st = create_str(w, &w->meta, "/video/meta");
    str_out *m = &w->meta;
    /* videos before this one that never got metadata hold "" */
    while (!st && m->rows + m->staged < video) st = stage_str(w, m, "");
    if (!st && video == m->rows + m->staged) {
        st = stage_str(w, m, text);
    } else if (!st && video >= m->rows) {
        char *c = strdup(text);
        if (!c)
            st = vc_fail(VC_ERR_OOM, "%s: out of memory for the metadata of video %lld (%zu bytes)", w->path,
                         (long long)video, strlen(text) + 1);
        else {
            free(m->stage[video - m->rows]);
            m->stage[video - m->rows] = c;
        }
    } else if (!st) {
        st = rewrite_str(w, m, video, text);
    }
    vc_h5i_unlock();
    if (st) w->broken = 1;
    return st;
}

vc_status vc_h5w_set_split(vc_h5w *w, const char *name, const int64_t *videos, int64_t n) {
    int s = -1;
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, split_names[i]) == 0) s = i;
    if (s < 0) return vc_fail(VC_ERR_ARG, "%s: split '%s' is not train, val or test", w->path, name ? name : "(null)");
    if (n < 0 || (n > 0 && !videos)) return vc_fail(VC_ERR_ARG, "%s: split %s: bad index array", w->path, name);
    int64_t *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    if (!c) return vc_fail(VC_ERR_OOM, "%s: out of memory for split %s", w->path, name);
    if (n) memcpy(c, videos, (size_t)n * sizeof *c);
    free(w->split[s]);
    w->split[s] = c;
    w->split_n[s] = n;
    return VC_OK;
}

vc_status vc_h5w_set_labels(vc_h5w *w, const int64_t *labels, int64_t n_videos) {
    if (n_videos != w->V)
        return vc_fail(VC_ERR_ARG, "%s: %lld labels for %lld videos (set labels after adding every video)", w->path,
                       (long long)n_videos, (long long)w->V);
    if (n_videos > 0 && !labels) return vc_fail(VC_ERR_ARG, "%s: labels are NULL", w->path);
    int64_t *c = malloc((size_t)(n_videos ? n_videos : 1) * sizeof *c);
    if (!c) return vc_fail(VC_ERR_OOM, "%s: out of memory for the labels", w->path);
    if (n_videos) memcpy(c, labels, (size_t)n_videos * sizeof *c);
    free(w->labels);
    w->labels = c;
    w->n_labels = n_videos;
    return VC_OK;
}

vc_status vc_h5w_set_classes(vc_h5w *w, const char *const *names, int64_t k, const float *emb) {
    if (k < 1 || !names) return vc_fail(VC_ERR_ARG, "%s: classes need at least one name", w->path);
    for (int64_t i = 0; i < k; i++)
        if (!names[i]) return vc_fail(VC_ERR_ARG, "%s: class %lld has no name", w->path, (long long)i);
        else if (check_length(w, "the name of class", i, names[i])) return VC_ERR_ARG;
    if (emb) {
        int64_t i = first_unstorable(w, emb, k * w->o.dim);
        if (i >= 0) return bad_value(w, "class embeddings", emb[i], i / w->o.dim, i % w->o.dim);
    }
    char **nm = calloc((size_t)k, sizeof *nm);
    float *e = emb ? malloc((size_t)k * (size_t)w->o.dim * sizeof *e) : NULL;
    int oom = !nm || (emb && !e);
    for (int64_t i = 0; i < k && !oom; i++) oom = !(nm[i] = strdup(names[i]));
    if (oom) {
        if (nm)
            for (int64_t i = 0; i < k; i++) free(nm[i]);
        free(nm);
        free(e);
        return vc_fail(VC_ERR_OOM, "%s: out of memory for %lld classes", w->path, (long long)k);
    }
    if (e) memcpy(e, emb, (size_t)k * (size_t)w->o.dim * sizeof *e);
    if (w->cnames)
        for (int64_t i = 0; i < w->K; i++) free(w->cnames[i]);
    free(w->cnames);
    free(w->cemb);
    w->cnames = nm;
    w->cemb = e;
    w->K = k;
    return VC_OK;
}

static vc_status check_before_close(vc_h5w *w) {
    for (int s = 0; s < 3; s++)
        for (int64_t i = 0; i < w->split_n[s]; i++)
            if (w->split[s][i] < 0 || w->split[s][i] >= w->V)
                return vc_fail(VC_ERR_ARG, "%s: split %s entry %lld is video %lld, but the file has %lld videos", w->path,
                               split_names[s], (long long)i, (long long)w->split[s][i], (long long)w->V);
    if (w->labels) {
        if (w->n_labels != w->V)
            return vc_fail(VC_ERR_ARG, "%s: %lld labels but %lld videos (videos were added after the labels)", w->path,
                           (long long)w->n_labels, (long long)w->V);
        if (!w->K) return vc_fail(VC_ERR_ARG, "%s: labels were set but no classes", w->path);
        for (int64_t v = 0; v < w->V; v++)
            if (w->labels[v] < 0 || w->labels[v] >= w->K)
                return vc_fail(VC_ERR_ARG, "%s: video %lld has label %lld, outside the %lld classes", w->path,
                               (long long)v, (long long)w->labels[v], (long long)w->K);
    }
    return VC_OK;
}

static vc_status finish(vc_h5w *w) {
    vc_status st = VC_OK;
    if (!st) st = flush_emb(w, &w->frames);
    if (!st) st = flush_str(w, &w->ids);
    if (!st && w->text.id >= 0) st = flush_emb(w, &w->text);
    if (!st && w->captions.id >= 0) st = flush_str(w, &w->captions);
    while (!st && w->meta.id >= 0 && w->meta.rows + w->meta.staged < w->V) st = stage_str(w, &w->meta, "");
    if (!st && w->meta.id >= 0) st = flush_str(w, &w->meta);
    /* A file without captions still has a (0-row) /text/embeddings, so every
     * valid file can be read without special cases. */
    if (!st && w->cap_text < 0) st = create_emb(w, &w->text, "/text/embeddings");
    if (!st) st = write_fixed(w, "/video/offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, w->V + 1, w->offsets);
    if (!st) st = write_fixed(w, "/text/video", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, w->C, w->cap_video);
    int any_split = w->split[0] || w->split[1] || w->split[2];
    if (!st && any_split) {
        hid_t g = make_group(w, "/split");
        if (g < 0) st = h5fail(w, "creating", "/split");
        vc_h5i_close(g);
        for (int s = 0; s < 3 && !st; s++)
            if (w->split[s]) {
                char name[32];
                snprintf(name, sizeof name, "/split/%s", split_names[s]);
                st = write_fixed(w, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, w->split_n[s], w->split[s]);
            }
    }
    if (!st && w->labels) st = write_fixed(w, "/video/label", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, w->V, w->labels);
    if (!st && w->cnames) {
        hid_t g = make_group(w, "/class");
        if (g < 0) st = h5fail(w, "creating", "/class");
        vc_h5i_close(g);
        if (!st) st = write_fixed(w, "/class/names", w->strtype, w->strtype, 1, w->K, w->cnames);
        if (!st && w->cemb) {
            size_t n = (size_t)w->K * (size_t)w->o.dim;
            void *buf = w->cemb;
            uint16_t *half = NULL;
            if (w->o.dtype == VC_F16) {
                if (!(half = malloc(n * sizeof *half)))
                    return vc_fail(VC_ERR_OOM, "%s: out of memory for the class embeddings", w->path);
                vc_f32_to_f16_n(half, w->cemb, n);
                buf = half;
            }
            st = write_fixed(w, "/class/embeddings", w->ftype, w->o.dtype == VC_F16 ? w->ftype : H5T_NATIVE_FLOAT, 2,
                             w->K, buf);
            free(half);
        }
    }
    if (st) return st;
    emb_out *es[2] = {&w->frames, &w->text};
    for (int i = 0; i < 2; i++) es[i]->id = vc_h5i_close(es[i]->id);
    str_out *ss[3] = {&w->ids, &w->captions, &w->meta};
    for (int i = 0; i < 3; i++) ss[i]->id = vc_h5i_close(ss[i]->id);
    herr_t r = H5Fclose(w->file);
    w->file = H5I_INVALID_HID;
    if (r < 0) return h5fail(w, "closing", w->tmp);
    return VC_OK;
}

/* Closes the file and removes the temporary (under the HDF5 lock): nothing
 * half-written stays behind. */
static void discard_tmp(vc_h5w *w) {
    vc_h5i_close(w->file);
    w->file = H5I_INVALID_HID;
    unlink(w->tmp);
    H5Eclear2(H5E_DEFAULT);
}

vc_status vc_h5w_close(vc_h5w *w) {
    if (!w) return vc_fail(VC_ERR_ARG, "vc_h5w_close: NULL writer");
    vc_status st = w->broken ? vc_fail(VC_ERR_IO, "%s: not written: an earlier write failed", w->path)
                             : check_before_close(w);
    vc_h5i_lock();
    if (!st) st = finish(w);
    if (!st) {
        /* The data must be on disk before the name points at it. */
        int fd = open(w->tmp, O_RDONLY);
        if (fd < 0 || fsync(fd) != 0) st = vc_fail(VC_ERR_IO, "%s: cannot sync %s", w->path, w->tmp);
        if (fd >= 0) close(fd);
    }
    if (!st && rename(w->tmp, w->path) != 0)
        st = vc_fail(VC_ERR_IO, "%s: cannot rename %s into place", w->path, w->tmp);
    if (st) discard_tmp(w);
    free_writer(w);
    vc_h5i_unlock();
    return st;
}

void vc_h5w_abort(vc_h5w *w) {
    if (!w) return;
    vc_h5i_lock();
    discard_tmp(w);
    free_writer(w);
    vc_h5i_unlock();
}
