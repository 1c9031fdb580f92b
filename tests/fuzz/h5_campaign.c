/* h5_campaign.c: the damaged-dataset campaign (`make damage-campaign`).
 * Makes valid vclip HDF5 files of several kinds, damages copies of them the
 * ways that have crashed or hung libhdf5 1.10 (data/FORMAT.md): bytes of the
 * global heap that holds variable-length strings, of object headers, of
 * B-tree nodes (chunk indexes and group indexes), of local heaps and symbol
 * table nodes, truncation, and random bytes anywhere; then runs
 * `vclip train`, `eval`, `embed` and `search` on every damaged file and
 * sorts each run into:
 *   ok       exit 0 (the damage missed what the command reads)
 *   error    exit 1, the last line on stderr is vclip's error naming the file
 *   unclear  exit 1 without such a line
 *   crash    killed by a signal, or an exit status above 1
 *   hang     still running after --timeout seconds (then killed)
 * and prints a table per damage kind and command. Crashing and hanging
 * files are copied to --keep DIR with a note of the command and its stderr.
 *
 * usage: h5_campaign --vclip BIN [--files N] [--seed S] [--timeout SEC] [--videos V] [--dim D]
 *                    [--work DIR] [--keep DIR] [--kinds LIST] [--commands LIST]
 *                    [--only FILE...]
 * --only runs the commands on the given (already damaged) files instead.
 * Exit status: 0 when nothing crashed or hung, 1 otherwise, 2 on a setup
 * error. */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "models/clip.h"
#include "tensor/rng.h"

enum { K_GHEAP, K_OHDR, K_BTREE, K_LHEAP, K_TRUNC, K_RANDOM, NKINDS };
static const char *kind_names[NKINDS] = {"gheap", "ohdr", "btree", "lheap", "trunc", "random"};
enum { C_TRAIN, C_EVAL, C_EMBED, C_SEARCH, NCMDS };
static const char *cmd_names[NCMDS] = {"train", "eval", "embed", "search"};
enum { RES_OK, RES_ERROR, RES_UNCLEAR, RES_CRASH, RES_HANG, RES_N };
static const char *res_names[RES_N] = {"ok", "error", "unclear", "crash", "hang"};

static const char *g_vclip, *g_work = NULL, *g_keep = NULL;
static int g_timeout = 20;

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "h5_campaign: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *b = malloc((size_t)len + 1);
    size_t got = fread(b, 1, (size_t)len, f);
    fclose(f);
    b[got] = 0;
    if (n) *n = got;
    return b;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) die("cannot write %s", path);
}

static const char *wpath(const char *name) {
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_work, name);
    return buf[k];
}

/* Runs argv with stdout to /dev/null and stderr to err_path, killing it
 * after timeout_s. Returns the wait status, or -1 when it timed out. */
static int run_argv(char *const argv[], const char *err_path, int timeout_s) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        int dn = open("/dev/null", O_RDWR);
        int fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(dn, 0);
        dup2(dn, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= timeout_s) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(5000);
    }
}

static void must_run(const char *what, char *const argv[]) {
    int st = run_argv(argv, wpath("setup.err"), 600);
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char *e = slurp(wpath("setup.err"), NULL);
        die("setup step '%s' failed: %s", what, e ? e : "");
    }
}

/* ---- fixtures ---- */

static const char k_tiny_merges[] = "#version: tiny\nh e\nl l\nhe ll\nhell o</w>\nc a\nca t</w>";
static int g_dim = 32, g_videos = 60;

static void write_npy(const char *path, const float *x, int rows, int cols) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write %s", path);
    uint16_t hl = (uint16_t)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hl, 2, 1, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof *x, (size_t)rows * (size_t)cols, f);
    fclose(f);
}

static void make_fixtures(void) {
    char *a[40];
    char out[1024], tmp[1024], nv[16], nd[16];
    snprintf(nv, sizeof nv, "%d", g_videos);
    snprintf(nd, sizeof nd, "%d", g_dim);
    /* A: float16, chunked, captions, classes, splits */
    snprintf(out, sizeof out, "%s", wpath("base_f16.h5"));
    must_run("synth f16", (char *[]){(char *)g_vclip, "synth", "--out", out, "--videos", nv, "--dim", nd,
                                     "--min-frames", "1", "--max-frames", "6", "--seed", "3", NULL});
    /* B: float32, gzip */
    snprintf(out, sizeof out, "%s", wpath("base_f32gz.h5"));
    must_run("synth f32 gzip", (char *[]){(char *)g_vclip, "synth", "--out", out, "--videos", nv, "--dim", nd,
                                          "--min-frames", "1", "--max-frames", "6", "--dtype", "f32", "--gzip", "4",
                                          "--seed", "4", NULL});
    /* the checkpoint eval and embed load (trained on A) */
    FILE *f = fopen(wpath("base.ini"), "w");
    fprintf(f, "[data]\nfile = %s\nframes = 4\nval_split = all\n[model]\ntype = mean\ntext_head = linear\n[train]\n"
               "batch = 8\nsteps = 4\nwarmup = 1\nout_dir = %s\n[eval]\nbatch = 16\n",
            wpath("base_f16.h5"), wpath("base_run"));
    fclose(f);
    snprintf(tmp, sizeof tmp, "%s", wpath("base.ini"));
    must_run("train the checkpoint", (char *[]){(char *)g_vclip, "train", tmp, NULL});
    /* C: the pooled output of embed */
    snprintf(tmp, sizeof tmp, "%s", wpath("base_run/last.safetensors"));
    snprintf(out, sizeof out, "%s", wpath("base_pooled.h5"));
    must_run("embed", (char *[]){(char *)g_vclip, "embed", tmp, "--data", (char *)wpath("base_f16.h5"), "--out", out, NULL});
    /* the tiny CLIP and vocabulary search and encode-text use */
    gzFile g = gzopen(wpath("tiny_vocab.txt.gz"), "wb");
    if (!g || gzwrite(g, k_tiny_merges, (unsigned)strlen(k_tiny_merges)) <= 0 || gzclose(g) != Z_OK)
        die("cannot write the tiny vocabulary");
    vc_clip m;
    vc_clip_cfg c;
    memset(&c, 0, sizeof c);
    c.towers = VC_CLIP_BOTH;
    c.act = VC_CLIP_QUICKGELU;
    c.embed = g_dim;
    c.image_size = 32;
    c.patch = 16;
    c.vision = (vc_clip_tower){64, 1, 1, 128};
    c.context = 16;
    c.vocab = 520;
    c.text = (vc_clip_tower){64, 1, 1, 128};
    if (vc_clip_init_random(&m, &c, 7) || vc_clip_save(&m, wpath("tiny_clip.safetensors"), VC_CLIP_NAMES_OPENAI))
        die("tiny CLIP: %s", vc_last_error());
    vc_clip_free(&m);
    /* D: imported .npy with captions and JSON metadata, then text-encoded */
    const char *dir = wpath("npy_in");
    mkdir(dir, 0755);
    vc_rng r;
    vc_rng_seed(&r, 9);
    for (int v = 0; v < g_videos * 2 / 3; v++) {
        int rows = 1 + (int)vc_rng_below(&r, 5);
        float x[6 * 1024];
        for (int i = 0; i < rows * g_dim; i++) x[i] = (float)vc_rng_below(&r, 2000) / 1000.0f - 1.0f;
        char p[1200];
        snprintf(p, sizeof p, "%s/v%03d.npy", dir, v);
        write_npy(p, x, rows, g_dim);
        snprintf(p, sizeof p, "%s/v%03d.txt", dir, v);
        f = fopen(p, "w");
        fprintf(f, v % 3 ? "hello cat number %d" : "a cat; hello %d", v);
        fclose(f);
        snprintf(p, sizeof p, "%s/v%03d.json", dir, v);
        f = fopen(p, "w");
        fprintf(f, "{\"videoID\": \"yt%04d\", \"start_time\": %d, \"end_time\": %d.5, \"tags\": [\"a\", \"b\"]}", v,
                v, v + 10);
        fclose(f);
    }
    snprintf(out, sizeof out, "%s", wpath("base_meta.h5"));
    a[0] = (char *)g_vclip, a[1] = "import-npy", a[2] = "--out", a[3] = out, a[4] = "--split-ratio", a[5] = "0.6,0.2,0.2",
    a[6] = "--seed", a[7] = "1", a[8] = (char *)dir, a[9] = NULL;
    must_run("import-npy", a);
    snprintf(tmp, sizeof tmp, "%s", wpath("tiny_clip.safetensors"));
    char voc[1024];
    snprintf(voc, sizeof voc, "%s", wpath("tiny_vocab.txt.gz"));
    must_run("encode-text", (char *[]){(char *)g_vclip, "encode-text", "--clip", tmp, "--data", out, "--vocab", voc,
                                       NULL});
}

/* ---- where the structures are ---- */

typedef struct {
    uint64_t lo, hi; /* byte range [lo, hi) */
    int kind;
    uint64_t fields[64]; /* offsets of interesting fields (object headers in a heap collection) */
    int n_fields;
} region;

typedef struct {
    char *path;
    unsigned char *bytes;
    size_t size;
    region *r;
    int n, cap;
} base_file;

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void add_region(base_file *b, int kind, uint64_t lo, uint64_t hi) {
    if (hi > b->size) hi = b->size;
    if (lo >= hi) return;
    if (b->n == b->cap) b->r = realloc(b->r, (size_t)(b->cap = b->cap ? 2 * b->cap : 64) * sizeof *b->r);
    region *g = &b->r[b->n++];
    memset(g, 0, sizeof *g);
    g->lo = lo;
    g->hi = hi;
    g->kind = kind;
}

static herr_t visit_obj(hid_t obj, const char *name, const H5O_info_t *info, void *ctx) {
    (void)obj;
    (void)name;
    base_file *b = ctx;
    H5O_info_t full;
    if (H5Oget_info_by_name2(obj, name, &full, H5O_INFO_BASIC | H5O_INFO_HDR, H5P_DEFAULT) < 0) full = *info;
    uint64_t size = full.hdr.space.total ? full.hdr.space.total : 256;
    add_region(b, K_OHDR, full.addr, full.addr + size + (full.hdr.version == 1 ? 16 : 0));
    return 0;
}

static void locate(base_file *b) {
    const unsigned char *p = b->bytes;
    for (size_t i = 0; i + 8 <= b->size; i++) {
        if (memcmp(p + i, "GCOL", 4) == 0 && i + 16 <= b->size) {
            uint64_t sz = le64(p + i + 8);
            if (sz < 16 || sz > b->size - i) continue;
            add_region(b, K_GHEAP, i, i + sz);
            region *g = &b->r[b->n - 1];
            /* heap objects: index (2), refcount (2), reserved (4), size (8), data padded to 8 */
            uint64_t o = i + 16;
            while (o + 16 <= i + sz && g->n_fields < 64) {
                unsigned idx = p[o] | p[o + 1] << 8;
                g->fields[g->n_fields++] = o;
                if (idx == 0) break; /* the free space object ends the list */
                uint64_t len = le64(p + o + 8);
                o += 16 + ((len + 7) & ~(uint64_t)7);
            }
        } else if (memcmp(p + i, "TREE", 4) == 0 && i + 24 <= b->size) {
            unsigned type = p[i + 4], used = p[i + 6] | p[i + 7] << 8;
            uint64_t key = type == 1 ? 8 + 8 * 3 : 8;
            add_region(b, K_BTREE, i, i + 24 + (used + 1) * (key + 8));
        } else if (memcmp(p + i, "HEAP", 4) == 0 && i + 32 <= b->size) {
            add_region(b, K_LHEAP, i, i + 32);
            uint64_t seg = le64(p + i + 24), segsz = le64(p + i + 8);
            if (seg < b->size && segsz < 65536) add_region(b, K_LHEAP, seg, seg + segsz);
        } else if (memcmp(p + i, "SNOD", 4) == 0 && i + 8 <= b->size) {
            unsigned n = p[i + 6] | p[i + 7] << 8;
            add_region(b, K_LHEAP, i, i + 8 + (uint64_t)n * 40);
        } else if ((memcmp(p + i, "OHDR", 4) == 0 || memcmp(p + i, "OCHK", 4) == 0)) {
            add_region(b, K_OHDR, i, i + 64);
        } else if (memcmp(p + i, "BTHD", 4) == 0 || memcmp(p + i, "BTIN", 4) == 0 || memcmp(p + i, "BTLF", 4) == 0) {
            add_region(b, K_BTREE, i, i + 64);
        }
    }
    hid_t f = H5Fopen(b->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) die("%s: cannot open with libhdf5", b->path);
    if (H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit_obj, b, H5O_INFO_BASIC | H5O_INFO_HDR) < 0)
        die("%s: cannot walk the objects", b->path);
    H5Fclose(f);
}

static base_file load_base(const char *name) {
    base_file b;
    memset(&b, 0, sizeof b);
    b.path = strdup(wpath(name));
    b.bytes = (unsigned char *)slurp(b.path, &b.size);
    if (!b.bytes) die("cannot read %s", b.path);
    locate(&b);
    return b;
}

/* ---- damage ---- */

static void poke(unsigned char *x, uint64_t lo, uint64_t hi, size_t size, vc_rng *r) {
    if (hi > size) hi = size;
    if (lo >= hi) return;
    uint64_t at = lo + vc_rng_below(r, hi - lo);
    switch (vc_rng_below(r, 6)) {
    case 0: x[at] = (unsigned char)vc_rng_below(r, 256); break;
    case 1: x[at] ^= (unsigned char)(1u << vc_rng_below(r, 8)); break;
    case 2: x[at] = vc_rng_below(r, 2) ? 0xff : 0x00; break;
    case 3: x[at] = (unsigned char)(x[at] + (vc_rng_below(r, 2) ? 1 : -1)); break;
    case 4: /* an 8-byte little-endian value at an aligned spot: an address or a length */
    case 5: {
        at &= ~(uint64_t)7;
        if (at + 8 > size) return;
        uint64_t v = vc_rng_below(r, 3) == 0 ? ~(uint64_t)0 >> vc_rng_below(r, 40) : vc_rng_below(r, 2 * (uint64_t)size);
        for (int i = 0; i < 8; i++) x[at + i] = (unsigned char)(v >> (8 * i));
        break;
    }
    }
}

/* A damaged copy of b of the given kind in out[0, *n); false when b has no
 * structure of that kind. */
static bool damage(const base_file *b, int kind, vc_rng *r, unsigned char *out, size_t *n) {
    memcpy(out, b->bytes, b->size);
    *n = b->size;
    if (kind == K_TRUNC) {
        /* at a structure's start half of the time, else anywhere */
        if (b->n && vc_rng_below(r, 2)) *n = b->r[vc_rng_below(r, (uint64_t)b->n)].lo + vc_rng_below(r, 64);
        else *n = vc_rng_below(r, b->size);
        if (*n >= b->size) *n = b->size - 1;
        return true;
    }
    if (kind == K_RANDOM) {
        int k = 1 + (int)vc_rng_below(r, 8);
        for (int i = 0; i < k; i++) poke(out, 0, b->size, b->size, r);
        return true;
    }
    int idx[4096], m = 0;
    for (int i = 0; i < b->n && m < 4096; i++)
        if (b->r[i].kind == kind) idx[m++] = i;
    if (!m) return false;
    const region *g = &b->r[idx[vc_rng_below(r, (uint64_t)m)]];
    int k = 1 + (int)vc_rng_below(r, 3);
    for (int i = 0; i < k; i++) {
        if (g->n_fields && vc_rng_below(r, 2)) { /* a heap object's header fields */
            uint64_t o = g->fields[vc_rng_below(r, (uint64_t)g->n_fields)];
            poke(out, o, o + 16, b->size, r);
        } else {
            poke(out, g->lo, g->hi, b->size, r);
        }
    }
    return true;
}

/* ---- the commands ---- */

typedef struct {
    int64_t n[NKINDS][NCMDS][RES_N];
} tally;

static int classify(int status, const char *err_path, const char *file, const char *cmd) {
    if (status == -1) return RES_HANG;
    if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) return RES_CRASH;
    if (WEXITSTATUS(status) == 0) return RES_OK;
    size_t n;
    char *e = slurp(err_path, &n);
    if (!e) return RES_UNCLEAR;
    /* the last line must be vclip's error naming the file (lines before it
     * are progress: train reports its steps on stderr) */
    int res = RES_UNCLEAR;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "vclip %s: ", cmd);
    char *last = e + n;
    while (last > e && last[-1] == '\n') last--;
    char *start = last;
    while (start > e && start[-1] != '\n') start--;
    if (strncmp(start, prefix, strlen(prefix)) == 0 && memmem(start, (size_t)(last - start), file, strlen(file)))
        res = RES_ERROR;
    free(e);
    return res;
}

static int run_cmd(int c, const char *file, const char *err_path) {
    char ckpt[1024], ini[1024], out[1024], clip[1024], vocab[1024], run[1024];
    snprintf(ckpt, sizeof ckpt, "%s", wpath("base_run/last.safetensors"));
    snprintf(out, sizeof out, "%s", wpath("out.h5"));
    snprintf(clip, sizeof clip, "%s", wpath("tiny_clip.safetensors"));
    snprintf(vocab, sizeof vocab, "%s", wpath("tiny_vocab.txt.gz"));
    snprintf(run, sizeof run, "%s", wpath("run"));
    snprintf(ini, sizeof ini, "%s", wpath("run.ini"));
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", run, out);
    if (system(cmd) != 0) die("cannot clean %s", run);
    FILE *f = fopen(ini, "w");
    fprintf(f, "[data]\nfile = %s\nframes = 4\nval_split = all\n[model]\ntype = mean\ntext_head = linear\n[train]\n"
               "batch = 8\nsteps = 3\nwarmup = 1\neval_every = 3\nout_dir = %s\n[eval]\nbatch = 16\n",
            file, run);
    fclose(f);
    switch (c) {
    case C_TRAIN: return run_argv((char *[]){(char *)g_vclip, "train", ini, NULL}, err_path, g_timeout);
    case C_EVAL:
        return run_argv((char *[]){(char *)g_vclip, "eval", ini, "--checkpoint", ckpt, "--split", "all", NULL}, err_path,
                        g_timeout);
    case C_EMBED:
        return run_argv((char *[]){(char *)g_vclip, "embed", ckpt, "--data", (char *)file, "--out", out, NULL}, err_path,
                        g_timeout);
    default:
        return run_argv((char *[]){(char *)g_vclip, "search", "--clip", clip, "--vocab", vocab, "--data", (char *)file,
                                   "--top", "3", "hello cat", NULL},
                        err_path, g_timeout);
    }
}

static void keep(const char *file, int kind, int c, int res, int64_t id, const char *err_path) {
    if (!g_keep) return;
    mkdir(g_keep, 0755);
    char dst[1200];
    snprintf(dst, sizeof dst, "%s/%s-%06lld-%s-%s.h5", g_keep, kind >= 0 ? kind_names[kind] : "given", (long long)id,
             cmd_names[c], res_names[res]);
    size_t n;
    char *b = slurp(file, &n);
    if (b) spit(dst, b, n);
    free(b);
    char note[1300];
    snprintf(note, sizeof note, "%s.stderr", dst);
    b = slurp(err_path, &n);
    if (b) spit(note, b, n);
    free(b);
}

static int64_t g_crash, g_hang;

static void run_all(const char *file, int kind, int64_t id, tally *t, unsigned cmd_mask) {
    for (int c = 0; c < NCMDS; c++) {
        if (!(cmd_mask & (1u << c))) continue;
        const char *err = wpath("cmd.err");
        int st = run_cmd(c, file, err);
        int res = classify(st, err, file, cmd_names[c]);
        t->n[kind >= 0 ? kind : K_RANDOM][c][res]++;
        if (res == RES_CRASH || res == RES_HANG) {
            *(res == RES_CRASH ? &g_crash : &g_hang) += 1;
            size_t n;
            char *e = slurp(err, &n);
            printf("  %s %s on %s #%lld: %s%s", res_names[res], cmd_names[c], kind >= 0 ? kind_names[kind] : file,
                   (long long)id, res == RES_CRASH && st != -1 && WIFSIGNALED(st) ? "signal " : "",
                   res == RES_HANG ? "timeout\n" : "");
            if (res == RES_CRASH) printf("%d  %.200s\n", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), e ? e : "");
            free(e);
            keep(file, kind, c, res, id, err);
        } else if (res == RES_UNCLEAR && getenv("H5_CAMPAIGN_SHOW_UNCLEAR")) {
            char *e = slurp(err, NULL);
            printf("  unclear %s on %s #%lld: %.300s\n", cmd_names[c], kind >= 0 ? kind_names[kind] : file,
                   (long long)id, e ? e : "");
            free(e);
        }
    }
}

static void print_tally(const tally *t, unsigned kind_mask, unsigned cmd_mask) {
    printf("%-8s %-7s", "damage", "command");
    for (int r = 0; r < RES_N; r++) printf(" %8s", res_names[r]);
    printf("\n");
    int64_t tot[RES_N] = {0};
    for (int k = 0; k < NKINDS; k++) {
        if (!(kind_mask & (1u << k))) continue;
        for (int c = 0; c < NCMDS; c++) {
            if (!(cmd_mask & (1u << c))) continue;
            printf("%-8s %-7s", kind_names[k], cmd_names[c]);
            for (int r = 0; r < RES_N; r++) {
                printf(" %8lld", (long long)t->n[k][c][r]);
                tot[r] += t->n[k][c][r];
            }
            printf("\n");
        }
    }
    printf("%-16s", "all");
    for (int r = 0; r < RES_N; r++) printf(" %8lld", (long long)tot[r]);
    printf("\n");
}

static unsigned parse_mask(const char *list, const char *const *names, int n) {
    unsigned m = 0;
    char *s = strdup(list), *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int i = 0;
        while (i < n && strcmp(names[i], tok) != 0) i++;
        if (i == n) die("unknown name '%s'", tok);
        m |= 1u << i;
    }
    free(s);
    return m;
}

int main(int argc, char **argv) {
    int64_t files = 200;
    uint64_t seed = 1;
    unsigned kind_mask = (1u << NKINDS) - 1, cmd_mask = (1u << NCMDS) - 1;
    int only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--only") == 0) {
            only = i + 1;
            break;
        }
        if (i + 1 >= argc) die("%s needs a value", a);
        const char *v = argv[++i];
        if (strcmp(a, "--vclip") == 0) g_vclip = v;
        else if (strcmp(a, "--files") == 0) files = atoll(v);
        else if (strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--dim") == 0) g_dim = atoi(v);
        else if (strcmp(a, "--videos") == 0) g_videos = atoi(v);
        else if (strcmp(a, "--timeout") == 0) g_timeout = atoi(v);
        else if (strcmp(a, "--work") == 0) g_work = v;
        else if (strcmp(a, "--keep") == 0) g_keep = v;
        else if (strcmp(a, "--kinds") == 0) kind_mask = parse_mask(v, kind_names, NKINDS);
        else if (strcmp(a, "--commands") == 0) cmd_mask = parse_mask(v, cmd_names, NCMDS);
        else die("unknown option %s", a);
    }
    if (!g_vclip) die("usage: h5_campaign --vclip BIN [--files N] [--seed S] [--timeout SEC] [--work DIR] [--keep DIR]"
                      " [--kinds LIST] [--commands LIST] [--only FILE...]");
    char vclip_abs[4096];
    if (!realpath(g_vclip, vclip_abs)) die("%s: %s", g_vclip, strerror(errno));
    g_vclip = vclip_abs;
    char work[256];
    if (!g_work) {
        snprintf(work, sizeof work, "/tmp/vclip-damage-XXXXXX");
        if (!mkdtemp(work)) die("mkdtemp: %s", strerror(errno));
        g_work = work;
    } else {
        mkdir(g_work, 0755);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    /* the commands' own stall limit (after a fix; ignored before) well below --timeout */
    char stall[16];
    snprintf(stall, sizeof stall, "%d", g_timeout / 4 > 1 ? g_timeout / 4 : 1);
    setenv("VCLIP_H5_STALL_SECONDS", stall, 0);
    setenv("OMP_NUM_THREADS", "1", 0);
    setenv("XDG_CACHE_HOME", g_work, 1); /* the commands' per-file check cache stays in the work dir */
    make_fixtures();
    tally t;
    memset(&t, 0, sizeof t);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (only) {
        for (int i = only; i < argc; i++) run_all(argv[i], -1, i - only, &t, cmd_mask);
        print_tally(&t, 1u << K_RANDOM, cmd_mask);
    } else {
        static const char *bases[] = {"base_f16.h5", "base_f32gz.h5", "base_pooled.h5", "base_meta.h5"};
        base_file b[4];
        size_t maxsz = 0;
        for (int i = 0; i < 4; i++) {
            b[i] = load_base(bases[i]);
            if (b[i].size > maxsz) maxsz = b[i].size;
            int per[NKINDS] = {0};
            for (int j = 0; j < b[i].n; j++) per[b[i].r[j].kind]++;
            printf("%s: %zu bytes; regions:", bases[i], b[i].size);
            for (int k = 0; k < NKINDS; k++)
                if (per[k]) printf(" %s %d", kind_names[k], per[k]);
            printf("\n");
        }
        unsigned char *buf = malloc(maxsz);
        vc_rng r;
        vc_rng_seed(&r, seed);
        int kinds[NKINDS], nk = 0;
        for (int k = 0; k < NKINDS; k++)
            if (kind_mask & (1u << k)) kinds[nk++] = k;
        for (int64_t i = 0; i < files; i++) {
            char dam[1024];
            snprintf(dam, sizeof dam, "%s/damaged-%06lld.h5", g_work, (long long)i);
            int kind = kinds[i % nk];
            const base_file *bf = &b[(i / nk) % 4];
            size_t n;
            if (!damage(bf, kind, &r, buf, &n)) continue;
            spit(dam, buf, n);
            run_all(dam, kind, i, &t, cmd_mask);
            unlink(dam);
            if ((i + 1) % 100 == 0) {
                clock_gettime(CLOCK_MONOTONIC, &t1);
                printf("... %lld files, %lld crashes, %lld hangs, %.0f s\n", (long long)(i + 1), (long long)g_crash,
                       (long long)g_hang, (double)(t1.tv_sec - t0.tv_sec));
                fflush(stdout);
            }
        }
        free(buf);
        print_tally(&t, kind_mask, cmd_mask);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%lld crashes, %lld hangs in %.0f s (work dir %s)\n", (long long)g_crash, (long long)g_hang,
           (double)(t1.tv_sec - t0.tv_sec), g_work);
    return g_crash || g_hang ? 1 : 0;
}
