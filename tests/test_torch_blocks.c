/* test_torch_blocks.c: composite blocks built from vclip's autograd ops,
 * checked against PyTorch. tests/ref_blocks.py builds each block in PyTorch
 * (float64), runs forward and backward of a scalar loss and writes inputs,
 * weights, output and every gradient to a file; this program reads it through
 * a checked reader, builds the same block from the same numbers with vc_ ops
 * and requires every tensor to agree to a relative error under 1e-4
 * (max|got - want| / max(max|want|, 1e-6) per tensor).
 * Blocks: a pre-LN transformer encoder layer with a key-padding mask (GELU
 * and QuickGELU), a one-layer LSTM, and masked mean + L2 norm + symmetric
 * InfoNCE. Tests that need no PyTorch (the reader's checks, padding
 * invariance, run-to-run determinism) are always registered. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "autograd/params.h"
#include "harness.h"

#define REF_MAGIC 0x42524356u /* "VCRB" little-endian */
#define REF_VERSION 1u
#define REL_TOL 1e-4
#define REL_FLOOR 1e-6
#define LN_EPS 1e-5f
#define MAX_B 16

_Static_assert(sizeof(vc_real) == sizeof(float), "reference tensors are float32: build without VC_DOUBLE");

/* ------------------------------------------------------------------------ */
/* Reference files: reader                                                   */

typedef struct {
    char name[64];
    vc_tensor t;     /* contiguous F32, owned */
    bool checked;    /* compared by the test (every out/grad must be) */
} ref_tensor;

typedef struct {
    int n;
    ref_tensor *items;
} ref_file;

static void ref_free(ref_file *rf) {
    for (int i = 0; i < rf->n; i++) vc_tensor_release(&rf->items[i].t);
    free(rf->items);
    rf->items = NULL;
    rf->n = 0;
}

typedef struct {
    const unsigned char *p;
    size_t n, pos;
    const char *path;
    char *err;
    size_t errlen;
} ref_reader;

#define REF_HINT " ---> HINT: the file is stale or was cut short; re-run tests/ref_blocks.py"

static bool rd_take(ref_reader *r, size_t k, const char *what, const unsigned char **out) {
    if (r->n - r->pos < k) {
        snprintf(r->err, r->errlen, "%s: truncated: %s needs %zu bytes at offset %zu but only %zu remain" REF_HINT,
                 r->path, what, k, r->pos, r->n - r->pos);
        return false;
    }
    *out = r->p + r->pos;
    r->pos += k;
    return true;
}

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const unsigned char *b) { return (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32; }

static bool rd_u32(ref_reader *r, const char *what, uint32_t *v) {
    const unsigned char *b;
    if (!rd_take(r, 4, what, &b)) return false;
    *v = le32(b);
    return true;
}

/* Parses one tensor record into rt. */
static bool rd_tensor(ref_reader *r, int idx, ref_tensor *rt) {
    char what[96];
    uint32_t nlen, ndim;
    const unsigned char *b;
    snprintf(what, sizeof what, "the name length of tensor %d", idx);
    if (!rd_u32(r, what, &nlen)) return false;
    if (nlen == 0 || nlen >= sizeof rt->name) {
        snprintf(r->err, r->errlen, "%s: tensor %d has a name of %u bytes (need 1..%zu)" REF_HINT, r->path, idx,
                 nlen, sizeof rt->name - 1);
        return false;
    }
    snprintf(what, sizeof what, "the name of tensor %d", idx);
    if (!rd_take(r, nlen, what, &b)) return false;
    memcpy(rt->name, b, nlen);
    rt->name[nlen] = 0;
    if (strlen(rt->name) != nlen) {
        snprintf(r->err, r->errlen, "%s: the name of tensor %d contains a NUL byte" REF_HINT, r->path, idx);
        return false;
    }
    snprintf(what, sizeof what, "ndim of '%s'", rt->name);
    if (!rd_u32(r, what, &ndim)) return false;
    if (ndim < 1 || ndim > VC_MAX_DIMS) {
        snprintf(r->err, r->errlen, "%s: '%s' has %u dimensions (need 1..%d)" REF_HINT, r->path, rt->name, ndim,
                 VC_MAX_DIMS);
        return false;
    }
    snprintf(what, sizeof what, "the dims of '%s'", rt->name);
    if (!rd_take(r, 8 * (size_t)ndim, what, &b)) return false;
    int64_t shape[VC_MAX_DIMS];
    uint64_t numel = 1, room = (r->n - r->pos) / 4;
    for (uint32_t d = 0; d < ndim; d++) {
        shape[d] = (int64_t)le64(b + 8 * d);
        if (shape[d] < 1) {
            snprintf(r->err, r->errlen, "%s: '%s' has size %lld in dimension %u" REF_HINT, r->path, rt->name,
                     (long long)shape[d], d);
            return false;
        }
        if (numel > room / (uint64_t)shape[d]) { /* more data than the file holds */
            snprintf(r->err, r->errlen, "%s: truncated: the data of '%s' does not fit in the %zu bytes left" REF_HINT,
                     r->path, rt->name, r->n - r->pos);
            return false;
        }
        numel *= (uint64_t)shape[d];
    }
    snprintf(what, sizeof what, "the data of '%s'", rt->name);
    if (!rd_take(r, 4 * (size_t)numel, what, &b)) return false;
    if (vc_tensor_alloc(&rt->t, VC_F32, (int)ndim, shape)) {
        snprintf(r->err, r->errlen, "%s: '%s': %s", r->path, rt->name, vc_last_error());
        return false;
    }
    float *dst = (float *)rt->t.data;
    for (uint64_t i = 0; i < numel; i++) {
        uint32_t u = le32(b + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
    return true;
}

/* Parses a whole reference file held in memory. */
static bool ref_parse(ref_file *rf, const unsigned char *buf, size_t n, const char *path, char *err, size_t errlen) {
    ref_reader r = {buf, n, 0, path, err, errlen};
    uint32_t magic, version, count;
    memset(rf, 0, sizeof *rf);
    if (!rd_u32(&r, "the magic number", &magic)) return false;
    if (magic != REF_MAGIC) {
        snprintf(err, errlen, "%s: bad magic 0x%08x (want 0x%08x): not a vclip reference file" REF_HINT, path, magic,
                 REF_MAGIC);
        return false;
    }
    if (!rd_u32(&r, "the version", &version)) return false;
    if (version != REF_VERSION) {
        snprintf(err, errlen, "%s: format version %u, this test reads version %u" REF_HINT, path, version,
                 REF_VERSION);
        return false;
    }
    if (!rd_u32(&r, "the tensor count", &count)) return false;
    if (count == 0 || count > 4096) {
        snprintf(err, errlen, "%s: implausible tensor count %u" REF_HINT, path, count);
        return false;
    }
    rf->items = calloc(count, sizeof *rf->items);
    if (!rf->items) {
        snprintf(err, errlen, "%s: out of memory for %u tensors", path, count);
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        if (!rd_tensor(&r, (int)i, &rf->items[i])) {
            rf->n = (int)i + 1; /* frees the partial one too */
            ref_free(rf);
            return false;
        }
        rf->n = (int)i + 1;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(rf->items[j].name, rf->items[i].name) == 0) {
                snprintf(err, errlen, "%s: tensor name '%s' appears twice" REF_HINT, path, rf->items[i].name);
                ref_free(rf);
                return false;
            }
    }
    if (r.pos != n) {
        snprintf(err, errlen, "%s: %zu unexpected bytes after the last of %u tensors" REF_HINT, path, n - r.pos,
                 count);
        ref_free(rf);
        return false;
    }
    return true;
}

static bool ref_read(ref_file *rf, const char *path, char *err, size_t errlen) {
    memset(rf, 0, sizeof *rf);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open" REF_HINT, path);
        return false;
    }
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory reading the file", path);
                return false;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool io_error = ferror(f);
    fclose(f);
    bool ok = !io_error && ref_parse(rf, buf, n, path, err, errlen);
    if (io_error) snprintf(err, errlen, "%s: read error", path);
    free(buf);
    return ok;
}

static ref_tensor *ref_find(const ref_file *rf, const char *name) {
    for (int i = 0; i < rf->n; i++)
        if (strcmp(rf->items[i].name, name) == 0) return &rf->items[i];
    return NULL;
}

/* The named tensor, which must exist (else the test fails). */
static const vc_tensor *ref_need(const ref_file *rf, const char *name) {
    ref_tensor *rt = ref_find(rf, name);
    ck_assert_msg(rt != NULL, "reference file has no tensor '%s'", name);
    return &rt->t;
}

/* ------------------------------------------------------------------------ */
/* Running tests/ref_blocks.py                                               */

static const char *ref_script(void) {
    static char path[1024];
    const char *env = getenv("VC_REF_BLOCKS");
    if (env && *env) return env;
    /* __FILE__ is "tests/test_torch_blocks.c" as compiled from the repo root */
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    if (slash)
        snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "ref_blocks.py");
    else
        snprintf(path, sizeof path, "ref_blocks.py");
    if (access(path, R_OK) == 0) return path;
    /* run from elsewhere: the binary is BUILD/tests/test_torch_blocks */
    char exe[900];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        for (int up = 0; up < 3; up++) {
            char *s = strrchr(exe, '/');
            if (s) *s = 0;
        }
        char alt[1024];
        snprintf(alt, sizeof alt, "%s/tests/ref_blocks.py", exe);
        if (access(alt, R_OK) == 0) snprintf(path, sizeof path, "%s", alt);
    }
    return path;
}

/* Last lines of a log file, for failure messages. */
static void log_tail(const char *path, char *out, size_t len) {
    out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    long start = sz > (long)len - 1 ? sz - (long)len + 1 : 0;
    fseek(f, start, SEEK_SET);
    size_t got = fread(out, 1, len - 1, f);
    out[got] = 0;
    fclose(f);
    for (char *c = out; *c; c++)
        if (*c == '\n') *c = '|';
}

/* Runs the reference script for BLOCK with key=value ARGS and reads its
 * output into rf; any failure fails the test with the script's own words. */
static void ref_make(ref_file *rf, const char *block, const char *args) {
    static int serial;
    char out[512], log[560], cmd[2400], tail[600], err[768];
    const char *script = ref_script();
    ck_assert_msg(access(script, R_OK) == 0,
                  "cannot read %s (run the test from the repository root or set VC_REF_BLOCKS)", script);
    snprintf(out, sizeof out, "%s/ref-%s-%d-%d.bin", vc_test_tmpdir(), block, (int)getpid(), serial++);
    snprintf(log, sizeof log, "%s.log", out);
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s %s >'%s' 2>&1", vc_test_python(), script, out, block, args, log);
    int rc = system(cmd);
    if (rc != 0) {
        log_tail(log, tail, sizeof tail);
        unlink(log);
        ck_abort_msg("reference script failed (exit %d): %s: %s", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, cmd, tail);
    }
    bool ok = ref_read(rf, out, err, sizeof err);
    unlink(out);
    unlink(log);
    ck_assert_msg(ok, "%s", err);
}

/* ------------------------------------------------------------------------ */
/* Comparison                                                                */

typedef struct {
    char label[320];
    bool quiet;          /* no mismatch report (the comparison's self-test) */
    int n_compared, n_bad;
    double worst;
    char worst_name[80];
    char bad_names[512];
} cmp_state;

/* "[1,2,3]" multi-index of flat index i in t, for messages. */
static void index_str(const vc_tensor *t, int64_t i, char *buf, size_t len) {
    int64_t idx[VC_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = i % t->ne[d];
        i /= t->ne[d];
    }
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "[");
    for (int d = 0; d < t->ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (k < len) snprintf(buf + k, len - k, "]");
}

static void cmp_mark_bad(cmp_state *cs, const char *name) {
    cs->n_bad++;
    size_t k = strlen(cs->bad_names);
    if (k + strlen(name) + 3 < sizeof cs->bad_names) snprintf(cs->bad_names + k, sizeof cs->bad_names - k, " %s", name);
}

/* Compares got (shape `shape`, contiguous values) with reference tensor name:
 * error = max|got - want| / max(max|want|, REL_FLOOR). Prints the first
 * mismatching elements when it exceeds REL_TOL. */
static void cmp_values(cmp_state *cs, const ref_file *rf, const char *name, const vc_tensor *shape,
                       const vc_real *got) {
    ref_tensor *rt = ref_find(rf, name);
    cs->n_compared++;
    if (!rt) {
        fprintf(stderr, "%s: reference has no '%s'\n", cs->label, name);
        cmp_mark_bad(cs, name);
        return;
    }
    rt->checked = true;
    const vc_tensor *want = &rt->t;
    char s1[96], s2[96];
    if (!got || !vc_same_shape(shape, want)) {
        if (!cs->quiet)
            fprintf(stderr, "%s: '%s': vclip gives %s%s, PyTorch %s\n", cs->label, name, vc_shape_str(shape, s1, sizeof s1),
                got ? "" : " with no data (gradient never written)", vc_shape_str(want, s2, sizeof s2));
        cmp_mark_bad(cs, name);
        return;
    }
    const float *w = (const float *)want->data;
    int64_t n = vc_numel(want);
    double scale = REL_FLOOR, maxd = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs((double)w[i]) > scale) scale = fabs((double)w[i]);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)w[i]);
        if (!(d <= maxd)) maxd = isnan(d) ? INFINITY : d; /* NaN counts as infinitely wrong */
    }
    double err = maxd / scale;
    if (err > cs->worst || cs->worst_name[0] == 0) {
        cs->worst = err;
        snprintf(cs->worst_name, sizeof cs->worst_name, "%s", name);
    }
    if (err <= REL_TOL) return;
    cmp_mark_bad(cs, name);
    if (cs->quiet) return;
    fprintf(stderr, "%s: '%s' %s: relative error %.3g > %.0e (max|want| = %.4g); first mismatches:\n", cs->label,
            name, vc_shape_str(want, s1, sizeof s1), err, REL_TOL, scale);
    int shown = 0;
    for (int64_t i = 0; i < n && shown < 6; i++) {
        double d = fabs((double)got[i] - (double)w[i]);
        if (!(d / scale <= REL_TOL)) {
            index_str(want, i, s2, sizeof s2);
            fprintf(stderr, "    %s%s: vclip %.9g  torch %.9g  diff %.3g\n", name, s2, (double)got[i], (double)w[i],
                    d);
            shown++;
        }
    }
}

static void cmp_value(cmp_state *cs, const ref_file *rf, const char *name, const vc_var *v) {
    cmp_values(cs, rf, name, &v->val, vc_f32(&v->val));
}

/* Compares v's gradient with the reference "grad/NAME". */
static void cmp_grad(cmp_state *cs, const ref_file *rf, const char *name, const vc_var *v) {
    char g[96];
    snprintf(g, sizeof g, "grad/%s", name);
    cmp_values(cs, rf, g, &v->val, v->grad.data && v->grad_written ? vc_f32(&v->grad) : NULL);
}

/* Fails the test if any tensor mismatched or if the reference holds an
 * output or gradient that the test never compared. */
static void cmp_finish(cmp_state *cs, const ref_file *rf) {
    for (int i = 0; i < rf->n; i++) {
        const ref_tensor *rt = &rf->items[i];
        bool must = strncmp(rt->name, "grad/", 5) == 0 || strcmp(rt->name, "out") == 0;
        if (must && !rt->checked) {
            fprintf(stderr, "%s: reference tensor '%s' was never compared\n", cs->label, rt->name);
            cmp_mark_bad(cs, rt->name);
        }
    }
    printf("%s: %d tensors, worst relative error %.2e (%s)\n", cs->label, cs->n_compared, cs->worst,
           cs->worst_name);
    fflush(stdout);
    ck_assert_msg(cs->n_bad == 0, "%s: %d tensor(s) differ from PyTorch:%s", cs->label, cs->n_bad, cs->bad_names);
}

/* Integer lengths from the reference's float "lengths" tensor. */
static void ref_lengths(const ref_file *rf, int64_t B, int64_t T, int64_t *len) {
    const vc_tensor *l = ref_need(rf, "lengths");
    ck_assert_msg(l->ndim == 1 && l->ne[0] == B, "reference 'lengths' has %lld values for B=%lld",
                  (long long)l->ne[0], (long long)B);
    for (int64_t b = 0; b < B; b++) {
        float f = ((const float *)l->data)[b];
        len[b] = (int64_t)f;
        ck_assert_msg((float)len[b] == f && len[b] >= 1 && len[b] <= T, "reference length %g of video %lld",
                      (double)f, (long long)b);
    }
}

/* A borrowed, non-owning copy of a reference tensor's header. */
static vc_tensor ref_view(const ref_file *rf, const char *name) {
    vc_tensor t = *ref_need(rf, name);
    t.owned = NULL;
    return t;
}

/* ------------------------------------------------------------------------ */
/* Block 1: pre-LN transformer encoder layer with a key-padding mask          */

enum { IN_W, IN_B, OUT_W, OUT_B, FF1_W, FF1_B, FF2_W, FF2_B, LN1_W, LN1_B, LN2_W, LN2_B, ATTN_NW };
/* PyTorch's parameter names of nn.TransformerEncoderLayer */
static const char *const attn_wname[ATTN_NW] = {
    "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
    "linear1.weight",           "linear1.bias",           "linear2.weight",            "linear2.bias",
    "norm1.weight",             "norm1.bias",             "norm2.weight",              "norm2.bias"};

typedef struct {
    int64_t B, T, D, H;
    bool quick;               /* QuickGELU instead of GELU in the MLP */
    int64_t len[MAX_B];       /* valid frames per video */
    vc_tensor x, R;           /* [B,T,D] input, [B,T,D] loss weights */
    vc_tensor w[ATTN_NW];
} attn_case;

typedef struct {
    vc_var *x, *w[ATTN_NW], *y, *loss;
} attn_vars;

/* x [B,T,D], mask [B,1,1,T] additive over keys -> [B,T,D]:
 *   h = x + OutProj(Attn(LN1(x)));  y = h + Lin2(act(Lin1(LN2(h)))) */
static vc_var *attn_block(vc_tape *t, vc_var *x, vc_var *const *w, int64_t H, const vc_tensor *mask, bool quick) {
    int64_t B = x->val.ne[0], T = x->val.ne[1], D = x->val.ne[2], dh = D / H;
    static const int bhtd[4] = {0, 2, 1, 3}; /* [B,T,H,dh] <-> [B,H,T,dh] */
    vc_var *a = vc_layernorm(t, x, w[LN1_W], w[LN1_B], LN_EPS);
    vc_var *qkv = vc_linear(t, a, w[IN_W], w[IN_B]); /* [B,T,3D] */
    vc_var *part[3], *head[3];
    vc_split_sizes(t, qkv, 2, 3, (int64_t[]){D, D, D}, part);
    for (int i = 0; i < 3; i++) head[i] = vc_permute(t, vc_reshape(t, part[i], VC_DIMS(B, T, H, dh)), bhtd);
    vc_var *s = vc_scale(t, vc_matmul(t, head[0], head[1], false, true), (vc_real)(1 / sqrt((double)dh)));
    vc_var *p = vc_softmax(t, s, 3, mask);                                  /* [B,H,T,T] */
    vc_var *ctx = vc_permute(t, vc_matmul(t, p, head[2], false, false), bhtd); /* [B,T,H,dh] */
    ctx = vc_reshape(t, ctx, VC_DIMS(B, T, D));
    vc_var *h = vc_add(t, x, vc_linear(t, ctx, w[OUT_W], w[OUT_B]));
    vc_var *f = vc_linear(t, vc_layernorm(t, h, w[LN2_W], w[LN2_B], LN_EPS), w[FF1_W], w[FF1_B]);
    f = quick ? vc_quickgelu(t, f) : vc_gelu(t, f);
    return vc_add(t, h, vc_linear(t, f, w[FF2_W], w[FF2_B]));
}

/* Forward and backward of loss = sum over valid frames of y * R. */
static vc_status attn_run(vc_tape *t, const attn_case *c, attn_vars *v) {
    int64_t B = c->B, T = c->T, D = c->D;
    vc_tensor mask, rm;
    vc_status s = vc_tensor_arena(&mask, &t->arena, VC_F32, VC_DIMS(B, 1, 1, T));
    if (!s) s = vc_tensor_arena(&rm, &t->arena, VC_F32, VC_DIMS(B, T, D));
    if (s) return s;
    const vc_real *R = vc_f32(&c->R);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < T; i++) {
            bool valid = i < c->len[b];
            vc_f32(&mask)[b * T + i] = valid ? 0 : -INFINITY;
            for (int64_t d = 0; d < D; d++) vc_f32(&rm)[(b * T + i) * D + d] = valid ? R[(b * T + i) * D + d] : 0;
        }
    v->x = vc_const(t, &c->x);
    if (v->x) v->x->requires_grad = true;
    for (int i = 0; i < ATTN_NW; i++) {
        v->w[i] = vc_const(t, &c->w[i]);
        if (v->w[i]) v->w[i]->requires_grad = true;
    }
    if (vc_tape_status(t)) return vc_tape_status(t);
    v->y = attn_block(t, v->x, v->w, c->H, &mask, c->quick);
    v->loss = vc_sum_all(t, vc_mul(t, v->y, vc_const(t, &rm)));
    if (vc_tape_status(t)) return vc_tape_status(t);
    return vc_backward(t, v->loss);
}

static void attn_case_from_ref(attn_case *c, const ref_file *rf, int64_t H, bool quick) {
    memset(c, 0, sizeof *c);
    c->x = ref_view(rf, "x");
    c->R = ref_view(rf, "R");
    ck_assert_msg(c->x.ndim == 3 && c->x.ne[0] <= MAX_B, "reference 'x' must be [B,T,D] with B <= %d", MAX_B);
    c->B = c->x.ne[0];
    c->T = c->x.ne[1];
    c->D = c->x.ne[2];
    c->H = H;
    c->quick = quick;
    ref_lengths(rf, c->B, c->T, c->len);
    for (int i = 0; i < ATTN_NW; i++) c->w[i] = ref_view(rf, attn_wname[i]);
}

static void fill_normal(vc_tensor *t, vc_rng *r, double mean, double sd) {
    for (int64_t i = 0; i < vc_numel(t); i++) vc_f32(t)[i] = (vc_real)(mean + sd * vc_rng_normal(r));
}

/* A random attention case made in C (for the tests that need no PyTorch). */
static void attn_case_random(attn_case *c, int64_t B, int64_t T, int64_t D, int64_t H, const int64_t *len,
                             uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->B = B;
    c->T = T;
    c->D = D;
    c->H = H;
    memcpy(c->len, len, (size_t)B * sizeof *len);
    vc_rng r;
    vc_rng_seed(&r, seed);
    const int64_t shapes[ATTN_NW][2] = {{3 * D, D}, {3 * D, 0}, {D, D},     {D, 0}, {4 * D, D}, {4 * D, 0},
                                        {D, 4 * D}, {D, 0},     {D, 0},     {D, 0}, {D, 0},     {D, 0}};
    ck_assert(!vc_tensor_alloc(&c->x, VC_F32, VC_DIMS(B, T, D)));
    ck_assert(!vc_tensor_alloc(&c->R, VC_F32, VC_DIMS(B, T, D)));
    fill_normal(&c->x, &r, 0, 1);
    fill_normal(&c->R, &r, 0, 1);
    for (int i = 0; i < ATTN_NW; i++) {
        int nd = shapes[i][1] ? 2 : 1;
        ck_assert(!vc_tensor_alloc(&c->w[i], VC_F32, nd, shapes[i]));
        bool gain = i == LN1_W || i == LN2_W;
        fill_normal(&c->w[i], &r, gain ? 1 : 0, gain ? 0.2 : 0.3);
    }
}

static void attn_case_free(attn_case *c) {
    vc_tensor_release(&c->x);
    vc_tensor_release(&c->R);
    for (int i = 0; i < ATTN_NW; i++) vc_tensor_release(&c->w[i]);
}

static const struct {
    int B, T, D, H;
    const char *lengths, *act;
    int seed;
} attn_cases[] = {
    {3, 7, 16, 4, "7,3,1", "gelu", 1},
    {2, 5, 8, 2, "2,5", "gelu", 2},
    {3, 7, 16, 4, "7,3,1", "quickgelu", 3},
    {4, 9, 24, 3, "9,1,5,8", "quickgelu", 4},
};

START_TEST(test_attention_block_matches_pytorch) {
    int B = attn_cases[_i].B, T = attn_cases[_i].T, D = attn_cases[_i].D, H = attn_cases[_i].H;
    bool quick = strcmp(attn_cases[_i].act, "quickgelu") == 0;
    char args[256];
    snprintf(args, sizeof args, "seed=%d B=%d T=%d D=%d H=%d lengths=%s act=%s", attn_cases[_i].seed, B, T, D, H,
             attn_cases[_i].lengths, attn_cases[_i].act);
    ref_file rf;
    ref_make(&rf, "attn", args);
    attn_case c;
    attn_case_from_ref(&c, &rf, H, quick);
    ck_assert_msg(c.B == B && c.T == T && c.D == D, "reference x has the wrong shape");

    vc_tape t;
    vc_tape_init(&t, 1 << 20);
    attn_vars v;
    vc_status s = attn_run(&t, &c, &v);
    ck_assert_msg(s == VC_OK, "attention block failed: %s", vc_last_error());

    cmp_state cs = {0};
    snprintf(cs.label, sizeof cs.label, "attn %s", args);
    cmp_value(&cs, &rf, "out", v.y);
    cmp_value(&cs, &rf, "loss", v.loss);
    cmp_grad(&cs, &rf, "x", v.x);
    for (int i = 0; i < ATTN_NW; i++) cmp_grad(&cs, &rf, attn_wname[i], v.w[i]);
    vc_tape_free(&t);
    cmp_finish(&cs, &rf);
    ref_free(&rf);
}
END_TEST

/* Snapshot of one attention run: output, loss and every gradient. */
typedef struct {
    vc_real *buf[2 + 1 + ATTN_NW];
    int64_t n[2 + 1 + ATTN_NW];
} attn_snap;

static void snap_take(attn_snap *sn, const attn_vars *v) {
    const vc_tensor *src[2 + 1 + ATTN_NW];
    src[0] = &v->y->val;
    src[1] = &v->loss->val;
    src[2] = &v->x->grad;
    for (int i = 0; i < ATTN_NW; i++) src[3 + i] = &v->w[i]->grad;
    for (int i = 0; i < 3 + ATTN_NW; i++) {
        ck_assert_msg(src[i]->data != NULL, "attention run left tensor %d without data", i);
        sn->n[i] = vc_numel(src[i]);
        sn->buf[i] = malloc((size_t)sn->n[i] * sizeof(vc_real));
        ck_assert(sn->buf[i] != NULL);
        memcpy(sn->buf[i], src[i]->data, (size_t)sn->n[i] * sizeof(vc_real));
    }
}

static void snap_free(attn_snap *sn) {
    for (int i = 0; i < 3 + ATTN_NW; i++) free(sn->buf[i]);
}

/* Shapes large enough that the OpenMP loops and OpenBLAS run threaded. */
START_TEST(test_attention_block_is_bit_identical_run_to_run) {
    attn_case c;
    attn_case_random(&c, 4, 80, 128, 4, (const int64_t[]){80, 50, 1, 33}, 11);
    vc_tape t;
    vc_tape_init(&t, 1 << 20);
    attn_vars v;
    attn_snap first, second;
    ck_assert_msg(attn_run(&t, &c, &v) == VC_OK, "run 1 failed: %s", vc_last_error());
    snap_take(&first, &v);
    vc_tape_reset(&t);
    ck_assert_msg(attn_run(&t, &c, &v) == VC_OK, "run 2 failed: %s", vc_last_error());
    snap_take(&second, &v);
    const char *what[3] = {"output", "loss", "grad x"};
    for (int i = 0; i < 3 + ATTN_NW; i++) {
        ck_assert_int_eq(first.n[i], second.n[i]);
        ck_assert_msg(memcmp(first.buf[i], second.buf[i], (size_t)first.n[i] * sizeof(vc_real)) == 0,
                      "%s%s differs between two identical runs", i < 3 ? what[i] : "grad ",
                      i < 3 ? "" : attn_wname[i - 3]);
    }
    /* guard against comparing two empty results */
    double sum = 0;
    for (int64_t k = 0; k < first.n[3 + IN_W]; k++) sum += fabs((double)first.buf[3 + IN_W][k]);
    ck_assert_msg(sum > 0, "in_proj gradient is all zero");
    snap_free(&first);
    snap_free(&second);
    vc_tape_free(&t);
    attn_case_free(&c);
}
END_TEST

/* Values at padded frames (t >= length) must not reach the output at valid
 * frames nor any gradient, however large they are. (With -inf in the mask
 * the results are in fact bit-identical; the 1e-6 allowance leaves room for
 * a finite large-negative mask.) */
START_TEST(test_attention_padded_frames_do_not_change_valid_outputs) {
    const int64_t B = 3, T = 7, D = 16, H = 4, len[3] = {7, 3, 1};
    attn_case c;
    attn_case_random(&c, B, T, D, H, len, 5);
    c.quick = _i == 1;
    vc_tape t;
    vc_tape_init(&t, 1 << 20);
    attn_vars v;
    attn_snap before, after;
    ck_assert_msg(attn_run(&t, &c, &v) == VC_OK, "run 1 failed: %s", vc_last_error());
    snap_take(&before, &v);

    vc_rng r;
    vc_rng_seed(&r, 99);
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = len[b]; i < T; i++)
            for (int64_t d = 0; d < D; d++) vc_f32(&c.x)[(b * T + i) * D + d] = (vc_real)(50 * vc_rng_normal(&r));
    vc_tape_reset(&t);
    ck_assert_msg(attn_run(&t, &c, &v) == VC_OK, "run 2 failed: %s", vc_last_error());
    snap_take(&after, &v);

    /* output and grad x: valid rows only; loss and weight grads: all */
    double padded_change = 0;
    for (int k = 0; k < 3 + ATTN_NW; k++) {
        bool rows = k == 0 || k == 2;
        double scale = REL_FLOOR, maxd = 0;
        for (int64_t j = 0; j < before.n[k]; j++)
            if (fabs((double)before.buf[k][j]) > scale) scale = fabs((double)before.buf[k][j]);
        for (int64_t j = 0; j < before.n[k]; j++) {
            double d = fabs((double)before.buf[k][j] - (double)after.buf[k][j]);
            if (rows && (j / D) % T >= len[(j / D) / T]) {
                if (k == 0 && d > padded_change) padded_change = d;
                continue;
            }
            if (!(d <= maxd)) maxd = isnan(d) ? INFINITY : d;
        }
        ck_assert_msg(maxd / scale <= 1e-6, "tensor %d (%s) changed by %.3g (relative) when only padded frames changed",
                      k, k < 3 ? (k == 0 ? "output" : k == 1 ? "loss" : "grad x") : attn_wname[k - 3], maxd / scale);
    }
    /* the change did reach the padded rows, so the test compared something real */
    ck_assert_msg(padded_change > 1e-3, "padded output rows did not change (%.3g)", padded_change);
    snap_free(&before);
    snap_free(&after);
    vc_tape_free(&t);
    attn_case_free(&c);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Block 2: LSTM                                                             */

/* x [B,T,D] -> h_t for every step [B,T,Hd] from zero (h, c); PyTorch's gate
 * order i, f, g, o; w_ih [4Hd,D], w_hh [4Hd,Hd], b_ih, b_hh [4Hd]. */
static vc_var *lstm_layer(vc_tape *t, vc_var *x, vc_var *w_ih, vc_var *w_hh, vc_var *b_ih, vc_var *b_hh) {
    int64_t B = x->val.ne[0], T = x->val.ne[1], D = x->val.ne[2], Hd = w_hh->val.ne[1];
    vc_var *h = vc_var_new(t, VC_DIMS(B, Hd)), *c = vc_var_new(t, VC_DIMS(B, Hd));
    vc_var **hs = vc_arena_alloc(&t->arena, (size_t)T * sizeof *hs);
    if (!h || !c || !hs) return NULL;
    vc_tensor_fill(&h->val, 0);
    vc_tensor_fill(&c->val, 0);
    for (int64_t s = 0; s < T; s++) {
        vc_var *xt = vc_reshape(t, vc_slice(t, x, 1, s, 1), VC_DIMS(B, D));
        vc_var *gates = vc_add(t, vc_linear(t, xt, w_ih, b_ih), vc_linear(t, h, w_hh, b_hh)); /* [B,4Hd] */
        vc_var *g[4];
        vc_split_sizes(t, gates, 1, 4, (int64_t[]){Hd, Hd, Hd, Hd}, g);
        vc_var *i = vc_sigmoid(t, g[0]), *f = vc_sigmoid(t, g[1]), *gg = vc_tanh(t, g[2]), *o = vc_sigmoid(t, g[3]);
        c = vc_add(t, vc_mul(t, f, c), vc_mul(t, i, gg));
        h = vc_mul(t, o, vc_tanh(t, c));
        hs[s] = vc_reshape(t, h, VC_DIMS(B, 1, Hd));
    }
    return vc_concat(t, (int)T, hs, 1);
}

static const char *const lstm_wname[4] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};

static const struct {
    int B, T, D, Hd, seed;
} lstm_cases[] = {
    {2, 5, 6, 8, 1},
    {3, 9, 16, 12, 2},
    {1, 1, 3, 4, 3},
};

/* The weights are vc_params parameters, so the persistent-gradient path
 * (zero_grad, then overwrite) is what gets checked. */
START_TEST(test_lstm_matches_pytorch) {
    char args[160];
    snprintf(args, sizeof args, "seed=%d B=%d T=%d D=%d Hd=%d", lstm_cases[_i].seed, lstm_cases[_i].B,
             lstm_cases[_i].T, lstm_cases[_i].D, lstm_cases[_i].Hd);
    ref_file rf;
    ref_make(&rf, "lstm", args);
    vc_params P;
    vc_params_init(&P);
    vc_var *w[4];
    for (int i = 0; i < 4; i++) {
        const vc_tensor *src = ref_need(&rf, lstm_wname[i]);
        w[i] = vc_params_add(&P, lstm_wname[i], src->ndim, src->ne, i < 2);
        ck_assert_msg(w[i] != NULL, "vc_params_add: %s", vc_last_error());
    }
    for (int i = 0; i < 4; i++) /* copied after all adds: adding may move the buffer */
        memcpy(w[i]->val.data, ref_need(&rf, lstm_wname[i])->data, vc_nbytes(&w[i]->val));
    /* stale gradients that zero_grad must make the backward overwrite */
    for (size_t k = 0; k < P.n; k++) P.grad[k] = 1000;

    vc_tape t;
    vc_tape_init(&t, 1 << 20);
    vc_var *x = vc_const(&t, ref_need(&rf, "x"));
    if (x) x->requires_grad = true;
    vc_var *R = vc_const(&t, ref_need(&rf, "R"));
    vc_var *out = x ? lstm_layer(&t, x, w[0], w[1], w[2], w[3]) : NULL;
    vc_var *loss = vc_sum_all(&t, vc_mul(&t, out, R));
    ck_assert_msg(vc_tape_status(&t) == VC_OK && loss, "LSTM forward failed: %s", vc_last_error());
    vc_params_zero_grad(&P);
    ck_assert_msg(vc_backward(&t, loss) == VC_OK, "LSTM backward failed: %s", vc_last_error());
    vc_params_finish_grad(&P);

    cmp_state cs = {0};
    snprintf(cs.label, sizeof cs.label, "lstm %s", args);
    cmp_value(&cs, &rf, "out", out);
    cmp_value(&cs, &rf, "loss", loss);
    cmp_grad(&cs, &rf, "x", x);
    for (int i = 0; i < 4; i++) cmp_grad(&cs, &rf, lstm_wname[i], w[i]);
    vc_tape_free(&t);
    vc_params_free(&P);
    cmp_finish(&cs, &rf);
    ref_free(&rf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Block 3: masked mean + L2 norm + symmetric InfoNCE                         */

/* frames [B,T,D] (valid frames per lengths), text [B,D], logit_scale [1]:
 * v = l2norm(masked_mean(frames)), u = l2norm(text),
 * logits = exp(logit_scale) v u^T [B,B],
 * loss = (CE(logits rows) + CE(logits columns)) / 2 with targets arange(B). */
static vc_var *infonce(vc_tape *t, vc_var *frames, vc_var *text, vc_var *logit_scale, const vc_tensor *lengths,
                       const vc_tensor *targets, vc_var **logits_out) {
    vc_var *v = vc_l2norm(t, vc_masked_mean(t, frames, 1, lengths), 1e-12f);
    vc_var *u = vc_l2norm(t, text, 1e-12f);
    vc_var *logits = vc_mul(t, vc_matmul(t, v, u, false, true), vc_exp(t, logit_scale));
    *logits_out = logits;
    vc_var *l_vt = vc_cross_entropy(t, logits, targets, 1); /* video -> text */
    vc_var *l_tv = vc_cross_entropy(t, logits, targets, 0); /* text -> video */
    return vc_scale(t, vc_add(t, l_vt, l_tv), 0.5f);
}

static const struct {
    int B, T, D;
    const char *lengths;
    int seed;
} infonce_cases[] = {
    {4, 6, 8, "6,3,1,4", 1},
    {5, 3, 16, "3,3,2,1,3", 2},
    {2, 1, 5, "1,1", 3},
};

START_TEST(test_infonce_matches_pytorch) {
    int B = infonce_cases[_i].B, T = infonce_cases[_i].T;
    char args[160];
    snprintf(args, sizeof args, "seed=%d B=%d T=%d D=%d lengths=%s", infonce_cases[_i].seed, B, T,
             infonce_cases[_i].D, infonce_cases[_i].lengths);
    ref_file rf;
    ref_make(&rf, "infonce", args);
    int64_t len[MAX_B], tg[MAX_B];
    ck_assert(B <= MAX_B);
    ref_lengths(&rf, B, T, len);
    for (int b = 0; b < B; b++) tg[b] = b;
    vc_tensor lengths, targets;
    ck_assert(!vc_tensor_wrap(&lengths, len, VC_I64, VC_DIMS(B)));
    ck_assert(!vc_tensor_wrap(&targets, tg, VC_I64, VC_DIMS(B)));

    vc_tape t;
    vc_tape_init(&t, 1 << 16);
    vc_var *frames = vc_const(&t, ref_need(&rf, "frames"));
    vc_var *text = vc_const(&t, ref_need(&rf, "text"));
    vc_var *ls = vc_const(&t, ref_need(&rf, "logit_scale"));
    ck_assert_msg(frames && text && ls, "%s", vc_last_error());
    frames->requires_grad = text->requires_grad = ls->requires_grad = true;
    vc_var *logits = NULL;
    vc_var *loss = infonce(&t, frames, text, ls, &lengths, &targets, &logits);
    ck_assert_msg(vc_tape_status(&t) == VC_OK && loss, "InfoNCE forward failed: %s", vc_last_error());
    ck_assert_msg(vc_backward(&t, loss) == VC_OK, "InfoNCE backward failed: %s", vc_last_error());

    cmp_state cs = {0};
    snprintf(cs.label, sizeof cs.label, "infonce %s", args);
    cmp_value(&cs, &rf, "logits", logits);
    cmp_value(&cs, &rf, "out", loss);
    cmp_grad(&cs, &rf, "frames", frames);
    cmp_grad(&cs, &rf, "text", text);
    cmp_grad(&cs, &rf, "logit_scale", ls);
    vc_tape_free(&t);
    cmp_finish(&cs, &rf);
    ref_free(&rf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The reader itself: every malformed file is refused with a reason          */

typedef struct {
    unsigned char b[512];
    size_t n;
} bytes;

static void put32(bytes *w, uint32_t v) {
    for (int i = 0; i < 4; i++) w->b[w->n++] = (unsigned char)(v >> (8 * i));
}

static void put64(bytes *w, uint64_t v) {
    put32(w, (uint32_t)v);
    put32(w, (uint32_t)(v >> 32));
}

static void put_tensor(bytes *w, const char *name, int ndim, const int64_t *shape, const float *data) {
    put32(w, (uint32_t)strlen(name));
    memcpy(w->b + w->n, name, strlen(name));
    w->n += strlen(name);
    put32(w, (uint32_t)ndim);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        put64(w, (uint64_t)shape[d]);
        n *= shape[d];
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        put32(w, u);
    }
}

/* A valid two-tensor file, as ref_blocks.py writes it. */
static void good_file(bytes *w) {
    static const float a[6] = {1, -2, 3.5f, 4, 5, -6.25f}, g[1] = {0.125f};
    w->n = 0;
    put32(w, REF_MAGIC);
    put32(w, REF_VERSION);
    put32(w, 2);
    put_tensor(w, "x", 2, (const int64_t[]){2, 3}, a);
    put_tensor(w, "grad/x", 1, (const int64_t[]){1}, g);
}

static bool parse_bytes(const bytes *w, ref_file *rf, char *err, size_t len) {
    return ref_parse(rf, w->b, w->n, "mem.bin", err, len);
}

static void expect_refused(const bytes *w, const char *want_words, const char *why) {
    ref_file rf;
    char err[512] = "";
    bool ok = parse_bytes(w, &rf, err, sizeof err);
    if (ok) ref_free(&rf);
    ck_assert_msg(!ok, "reader accepted a file with %s", why);
    ck_assert_msg(strstr(err, want_words) != NULL, "file with %s: message '%s' lacks '%s'", why, err, want_words);
    ck_assert_msg(strstr(err, "mem.bin") != NULL, "message '%s' does not name the file", err);
}

START_TEST(test_reference_reader_accepts_good_and_refuses_bad_files) {
    bytes w;
    good_file(&w);
    ref_file rf;
    char err[512];
    ck_assert_msg(parse_bytes(&w, &rf, err, sizeof err), "good file refused: %s", err);
    ck_assert_int_eq(rf.n, 2);
    const vc_tensor *x = ref_need(&rf, "x");
    ck_assert(x->ndim == 2 && x->ne[0] == 2 && x->ne[1] == 3);
    ck_assert(vc_f32(x)[2] == 3.5f && vc_f32(x)[5] == -6.25f);
    ck_assert(vc_f32(ref_need(&rf, "grad/x"))[0] == 0.125f);
    ref_free(&rf);

    /* every proper prefix of the file is refused */
    bytes good = w;
    for (size_t n = 0; n < good.n; n++) {
        bytes cut = good;
        cut.n = n;
        expect_refused(&cut, "truncated", "its end cut off");
    }
    bytes bad = good;
    bad.b[0] ^= 0xff;
    expect_refused(&bad, "bad magic", "a wrong magic number");
    bad = good;
    bad.b[4] = 9;
    expect_refused(&bad, "version 9", "an unknown version");
    bad = good;
    bad.b[bad.n++] = 0;
    expect_refused(&bad, "unexpected bytes", "trailing garbage");
    bad = good;
    bad.b[8] = 3; /* claims three tensors, holds two */
    expect_refused(&bad, "truncated", "a tensor count larger than its contents");
    bad = good;
    bad.b[12 + 4 + 1] = 7; /* ndim of "x" */
    expect_refused(&bad, "dimensions", "too many dimensions");
    bad = good;
    bad.b[12] = 200; /* name length of "x" */
    expect_refused(&bad, "name of 200 bytes", "an over-long name");
    bad = good;
    memset(bad.b + 12 + 4 + 1 + 4, 0xff, 8); /* first dim of "x" = -1 */
    expect_refused(&bad, "size -1", "a negative size");
    bad = good;
    bad.b[12 + 4 + 1 + 4 + 7] = 0x7f; /* first dim of "x" huge */
    expect_refused(&bad, "truncated", "a size larger than the file");
    bad = good;
    memcpy(bad.b + 12 + 4 + 1 + 4 + 16 + 24 + 4, "x\0\0\0\0\0", 6); /* "grad/x" -> "x" + NULs: NUL in name */
    expect_refused(&bad, "NUL", "a NUL byte in a name");

    /* a duplicate name */
    bad.n = 0;
    put32(&bad, REF_MAGIC);
    put32(&bad, REF_VERSION);
    put32(&bad, 2);
    put_tensor(&bad, "x", 1, (const int64_t[]){1}, (const float[]){1});
    put_tensor(&bad, "x", 1, (const int64_t[]){1}, (const float[]){2});
    expect_refused(&bad, "twice", "a duplicate name");

    /* a file that cannot be opened */
    char path[600];
    snprintf(path, sizeof path, "%s/no-such-file.bin", vc_test_tmpdir());
    ck_assert(!ref_read(&rf, path, err, sizeof err));
    ck_assert_msg(strstr(err, "cannot open") != NULL, "message '%s'", err);
}
END_TEST

/* The comparison must be able to fail: a perturbed gradient is caught. */
START_TEST(test_comparison_flags_a_small_perturbation) {
    bytes w;
    good_file(&w);
    ref_file rf;
    char err[512];
    ck_assert_msg(parse_bytes(&w, &rf, err, sizeof err), "%s", err);
    vc_tensor shape = *ref_need(&rf, "x");
    vc_real got[6];
    for (int i = 0; i < 6; i++) got[i] = vc_f32(&shape)[i];
    cmp_state cs = {0};
    snprintf(cs.label, sizeof cs.label, "self-check");
    cs.quiet = true;
    cmp_values(&cs, &rf, "x", &shape, got);
    ck_assert_int_eq(cs.n_bad, 0);
    got[4] *= 1.001f; /* 5 -> 5.005: error 0.005 / 6.25 = 8e-4 */
    cmp_values(&cs, &rf, "x", &shape, got);
    ck_assert_int_eq(cs.n_bad, 1);
    got[4] = NAN;
    cmp_values(&cs, &rf, "x", &shape, got);
    ck_assert_int_eq(cs.n_bad, 2);
    cmp_values(&cs, &rf, "x", &shape, NULL); /* gradient never written */
    ck_assert_int_eq(cs.n_bad, 3);
    ref_free(&rf);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("torch_blocks");
    (void)vc_test_tmpdir(); /* created once, in the parent, before Check forks */

    TCase *tc = tcase_create("reference_format");
    tcase_add_test(tc, test_reference_reader_accepts_good_and_refuses_bad_files);
    tcase_add_test(tc, test_comparison_flags_a_small_perturbation);
    suite_add_tcase(s, tc);

    tc = tcase_create("attention_invariants");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_attention_padded_frames_do_not_change_valid_outputs, 0, 2);
    tcase_add_test(tc, test_attention_block_is_bit_identical_run_to_run);
    suite_add_tcase(s, tc);

    if (!vc_torch_available()) {
        printf("SKIP: PyTorch reference tests (torch not importable from %s)\n", vc_test_python());
        fflush(stdout);
        return s;
    }
    tc = tcase_create("pytorch_reference");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_attention_block_matches_pytorch, 0, (int)(sizeof attn_cases / sizeof *attn_cases));
    tcase_add_loop_test(tc, test_lstm_matches_pytorch, 0, (int)(sizeof lstm_cases / sizeof *lstm_cases));
    tcase_add_loop_test(tc, test_infonce_matches_pytorch, 0, (int)(sizeof infonce_cases / sizeof *infonce_cases));
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
