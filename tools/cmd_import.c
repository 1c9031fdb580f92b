/* cmd_import.c: `vclip import-wds` (WebDataset tar shards) and `vclip
 * import-npy` (a directory of KEY.npy + KEY.txt + KEY.json) into a vclip
 * embeddings file. Problems with single samples, and shards damaged part-way
 * (whose earlier samples are kept), are printed as warnings (the first 100,
 * all with --verbose) and counted in the one-line summary on stdout; the
 * exit status is then 0. It is 1, with no output file, for usage errors, a
 * shard that cannot be opened, an import that yields no video, or any
 * problem at all under --strict. A progress line (input bytes, rate, ETA)
 * appears on stderr once an import has run for a few seconds.
 *
 * import-wds --out-dir DIR --shards-per-file K [--jobs J] writes one file
 * per K consecutive shards (DIR/part-00000.h5, ...), J at a time in child
 * processes (tools/jobs.h): each file is complete or absent after a crash,
 * and a re-run with the same shards skips the files already written.
 * DIR/shards.txt records which shards make which file, so a re-run with
 * other shards is refused instead of mixing imports. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "jobs.h"
#include "data/splits.h"
#include "data/npy_import.h"
#include "data/wds_import.h"
#include "tensor/buf.h"

#define MAX_REPORTS 100  /* warnings printed before the rest are only counted */

typedef struct {
    const char *cmd;
    bool verbose;
    int64_t printed, suppressed;
    /* the progress line */
    bool tty, shown;
    double t0, last, after_s;
    int last_tenth;
} reporter;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Clears a progress line on the terminal before other output. */
static void clear_progress(reporter *r) {
    if (r->tty && r->shown) fprintf(stderr, "\r\033[K");
}

static void fmt_duration(char *b, size_t n, double s) {
    if (!(s < 1e7)) snprintf(b, n, "?");
    else if (s < 60) snprintf(b, n, "%.0fs", s);
    else if (s < 3600) snprintf(b, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(b, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
}

/* A terminal gets one line rewritten twice a second; a log gets a line at
 * every tenth of the input. Nothing for imports shorter than after_s. */
static void print_progress(void *ctx, const vc_import_progress *p) {
    reporter *r = ctx;
    double t = now_s(), el = t - r->t0;
    if (el < r->after_s || p->bytes_total <= 0) return;
    double frac = (double)p->bytes_done / (double)p->bytes_total;
    if (frac > 1) frac = 1;
    if (r->tty) {
        if (t - r->last < 0.5 && frac < 1) return;
    } else {
        int tenth = (int)(frac * 10);
        if (tenth <= r->last_tenth) return;
        r->last_tenth = tenth;
    }
    r->last = t;
    char eta[32];
    fmt_duration(eta, sizeof eta, frac > 0 ? el * (1 - frac) / frac : INFINITY);
    clear_progress(r);
    fprintf(stderr, "%s: %.1f%% of %.1f MB, %lld videos, %lld frames, %.1f MB/s, %.0f videos/s, ETA %s%s", r->cmd,
            100 * frac, (double)p->bytes_total / 1e6, (long long)p->videos, (long long)p->frames,
            (double)p->bytes_done / 1e6 / el, (double)p->videos / el, eta, r->tty ? "" : "\n");
    fflush(stderr);
    r->shown = true;
}

static void reporter_init(reporter *r, const char *cmd) {
    memset(r, 0, sizeof *r);
    r->cmd = cmd;
    r->tty = isatty(2) != 0;
    r->t0 = now_s();
    const char *e = getenv("VCLIP_PROGRESS_AFTER");
    r->after_s = e && *e ? atof(e) : 2.0;
    r->last_tenth = 0;
}

static void print_report(void *ctx, const char *line) {
    reporter *r = ctx;
    if (r->verbose || r->printed < MAX_REPORTS) {
        clear_progress(r);
        fprintf(stderr, "vclip %s: warning: %s\n", r->cmd, line);
        r->printed++;
    } else {
        r->suppressed++;
    }
}

typedef struct {
    const char *out, *splits_csv;
    const char **inputs;
    int n_inputs;
    vc_import_opts o;
    bool seed_given;
    const char *out_dir;       /* import-wds: one file per group of shards */
    int64_t per_file, jobs;    /* shards per file, files written at once */
} import_args;

/* --name VALUE or --name=VALUE; *i advances past what was used. */
static bool opt_value(int argc, char **argv, int *i, const char *name, const char **val) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return false;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0') return false;
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return true;
}

static bool parse_int64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Returns 0 on success, else the exit status (the error is printed). */
static int parse_args(const char *cmd, int argc, char **argv, bool allow_csv, import_args *a, reporter *rep) {
    memset(a, 0, sizeof *a);
    a->o.dtype = VC_F16;
    a->inputs = calloc((size_t)argc, sizeof *a->inputs);
    if (!a->inputs) return vc_cmd_error(cmd, "out of memory for the list of %d arguments", argc);
    bool only_inputs = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (only_inputs || argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            a->inputs[a->n_inputs++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            only_inputs = true;
        } else if (allow_csv && opt_value(argc, argv, &i, "--out-dir", &v)) {
            if (!v || !*v) return vc_cmd_error(cmd, "--out-dir needs a directory");
            a->out_dir = v;
        } else if (allow_csv && opt_value(argc, argv, &i, "--shards-per-file", &v)) {
            if (!parse_int64(v, 1, INT32_MAX, &a->per_file))
                return vc_cmd_error(cmd, "--shards-per-file needs a positive integer, not '%s'", v ? v : "");
        } else if (allow_csv && opt_value(argc, argv, &i, "--jobs", &v)) {
            if (!parse_int64(v, 1, 1024, &a->jobs)) return vc_cmd_error(cmd, "--jobs needs 1..1024, not '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--out", &v)) {
            if (!v || !*v) return vc_cmd_error(cmd, "--out needs a file name");
            a->out = v;
        } else if (opt_value(argc, argv, &i, "--dtype", &v)) {
            if (v && strcmp(v, "f16") == 0) a->o.dtype = VC_F16;
            else if (v && strcmp(v, "f32") == 0) a->o.dtype = VC_F32;
            else return vc_cmd_error(cmd, "--dtype must be f16 or f32, not '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--dim", &v)) {
            if (!parse_int64(v, 1, INT32_MAX, &a->o.dim)) return vc_cmd_error(cmd, "--dim needs a positive integer, not '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--gzip", &v)) {
            int64_t g;
            if (!parse_int64(v, 0, 9, &g)) return vc_cmd_error(cmd, "--gzip needs a level 0..9, not '%s'", v ? v : "");
            a->o.gzip_level = (int)g;
        } else if (opt_value(argc, argv, &i, "--split-ratio", &v)) {
            if (!v || !vc_split_ratio_parse(v, a->o.split_ratio))
                return vc_cmd_error(cmd, "--split-ratio needs three fractions train,val,test adding up to 1 (e.g. 0.8,0.1,0.1), not '%s'",
                                    v ? v : "");
            a->o.split_by_ratio = true;
        } else if (opt_value(argc, argv, &i, "--seed", &v)) {
            int64_t sd;
            if (!parse_int64(v, 0, INT64_MAX, &sd)) return vc_cmd_error(cmd, "--seed needs a non-negative integer, not '%s'", v ? v : "");
            a->o.seed = (uint64_t)sd;
            a->seed_given = true;
        } else if (allow_csv && opt_value(argc, argv, &i, "--splits", &v)) {
            if (!v || !*v) return vc_cmd_error(cmd, "--splits needs a CSV file");
            a->splits_csv = v;
        } else if (opt_value(argc, argv, &i, "--clip-model", &v)) {
            if (!v || !*v) return vc_cmd_error(cmd, "--clip-model needs a name");
            a->o.clip_model = v;
        } else if (opt_value(argc, argv, &i, "--fps", &v)) {
            char *end;
            a->o.fps = v ? strtod(v, &end) : 0;
            if (!v || *end || !(a->o.fps > 0) || !isfinite(a->o.fps)) return vc_cmd_error(cmd, "--fps needs a positive number, not '%s'", v ? v : "");
        } else if (opt_value(argc, argv, &i, "--caption-sep", &v)) {
            if (!v || !*v) return vc_cmd_error(cmd, "--caption-sep needs a separator, e.g. ';'");
            a->o.caption_sep = v;
        } else if (strcmp(argv[i], "--labels-from-text") == 0) {
            a->o.labels_from_text = true;
        } else if (strcmp(argv[i], "--strict") == 0) {
            a->o.strict = true;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            rep->verbose = true;
        } else {
            return vc_cmd_error(cmd, "unknown option '%s' (run 'vclip help %s')", argv[i], cmd);
        }
    }
    if (a->out && a->out_dir) return vc_cmd_error(cmd, "give --out FILE or --out-dir DIR, not both");
    if (!a->out_dir && (a->per_file || a->jobs))
        return vc_cmd_error(cmd, "--shards-per-file and --jobs go with --out-dir DIR");
    if (!a->out && !a->out_dir)
        return vc_cmd_error(cmd, "--out FILE%s is required (run 'vclip help %s')", allow_csv ? " or --out-dir DIR" : "", cmd);
    if (!a->per_file) a->per_file = 1;
    if (!a->jobs) a->jobs = 1;
    if (a->splits_csv && a->o.split_by_ratio) return vc_cmd_error(cmd, "give --splits or --split-ratio, not both");
    if (a->seed_given && !a->o.split_by_ratio) return vc_cmd_error(cmd, "--seed only applies to --split-ratio");
    if (a->o.labels_from_text && a->o.caption_sep)
        return vc_cmd_error(cmd, "give --labels-from-text or --caption-sep, not both (a class is one name per video)");
    a->o.report = print_report;
    a->o.report_ctx = rep;
    a->o.progress = print_progress;
    a->o.progress_ctx = rep;
    return 0;
}

static void print_summary(const char *cmd, const char *out, const vc_import_opts *o, const vc_import_stats *s, reporter *rep) {
    clear_progress(rep);
    rep->shown = false;
    if (rep->suppressed)
        fprintf(stderr, "vclip %s: %lld more warnings not shown (run with --verbose to list them all)\n", cmd,
                (long long)rep->suppressed);
    printf("%s: wrote %s: %lld videos (%lld without caption, %lld with 0 frames), %lld frames, %lld captions, D %lld, %s; skipped %lld",
           cmd, out, (long long)s->videos, (long long)s->uncaptioned, (long long)s->empty_videos, (long long)s->frames,
           (long long)s->captions, (long long)s->dim, o->dtype == VC_F16 ? "float16" : "float32",
           (long long)vc_import_stats_skipped(s));
    const char *sep = " (";
    for (int r = 0; r < VC_SKIP_NREASONS; r++)
        if (s->skipped[r]) {
            printf("%s%s %lld", sep, vc_skip_reason_name((vc_skip_reason)r), (long long)s->skipped[r]);
            sep = ", ";
        }
    if (*sep == ',') printf(")");
    if (s->with_meta) printf("; %lld with JSON metadata", (long long)s->with_meta);
    if (s->classes) printf("; %lld classes (labels from text)", (long long)s->classes);
    if (s->ignored) printf("; %lld other members ignored", (long long)s->ignored);
    if (s->bad_sources) printf("; %lld shard%s damaged", (long long)s->bad_sources, s->bad_sources == 1 ? "" : "s");
    if (s->split_size[0] + s->split_size[1] + s->split_size[2])
        printf("; splits train %lld, val %lld, test %lld", (long long)s->split_size[0], (long long)s->split_size[1],
               (long long)s->split_size[2]);
    if (s->no_split) printf(", %lld in no split", (long long)s->no_split);
    printf("\n");
}

/* Each shard's split from the CSV. A shard that matches no row is imported
 * into no split, with a warning (an error under --strict); rows that match
 * none of the shards given get one note (importing a subset of a dataset's
 * shards is normal). */
static int match_splits(const char *cmd, const import_args *a, const vc_shard_splits *csv, int *splits, reporter *rep) {
    bool *used = calloc((size_t)csv->n, sizeof *used);
    if (!used) return vc_cmd_error(cmd, "out of memory for the marks of %d CSV rows", csv->n);
    char stem[1024];
    for (int i = 0; i < a->n_inputs; i++) {
        int row = vc_shard_splits_row(csv, a->inputs[i]);
        splits[i] = row < 0 ? -1 : csv->splits[row];
        if (row >= 0) {
            used[row] = true;
            continue;
        }
        vc_shard_stem(a->inputs[i], stem, sizeof stem);
        if (a->o.strict) {
            free(used);
            return vc_cmd_error(cmd, "%s: shard '%s' matches no row of %s (--strict)", a->inputs[i], stem, a->splits_csv);
        }
        char line[2200];
        snprintf(line, sizeof line, "%s: shard '%s' matches no row of %s; its videos go into no split", a->inputs[i], stem,
                 a->splits_csv);
        print_report(rep, line);
    }
    int unused = 0;
    for (int r = 0; r < csv->n; r++) unused += !used[r];
    if (unused) {
        fprintf(stderr, "vclip %s: note: %d of the %d shards in %s match none of the shards given:", cmd, unused, csv->n,
                a->splits_csv);
        int shown = 0;
        for (int r = 0; r < csv->n && shown < 5; r++)
            if (!used[r]) fprintf(stderr, "%s %s (line %d)", shown++ ? "," : "", csv->names[r], csv->lines[r]);
        fprintf(stderr, "%s\n", unused > shown ? ", ..." : "");
    }
    free(used);
    return 0;
}

/* ---- --out-dir: one file per group of shards, several at once ---- */

typedef struct {
    import_args *a;
    const int *splits;       /* per shard, or NULL */
    char **outs;             /* [groups] */
    reporter *rep;
} group_ctx;

/* In a child: imports group g's shards into its file. */
static int import_group(void *ud, int g) {
    group_ctx *c = ud;
    import_args *a = c->a;
    int first = (int)(g * a->per_file), n = a->n_inputs - first < a->per_file ? a->n_inputs - first : (int)a->per_file;
    vc_import_opts o = a->o;
    o.progress = NULL; /* the parent reports files, not bytes */
    vc_import_stats st;
    if (vc_wds_import(c->outs[g], a->inputs + first, n, c->splits ? c->splits + first : NULL, &o, &st))
        return vc_cmd_error("import-wds", "%s: %s", c->outs[g], vc_last_error());
    print_summary("import-wds", c->outs[g], &o, &st, c->rep);
    return 0;
}

static void group_done(void *ud, int g, int rc, int done, int n) {
    group_ctx *c = ud;
    if (rc < 0) printf("import-wds: %s is already there (skipped)\n", c->outs[g]);
    else if (rc) fprintf(stderr, "vclip import-wds: %s failed (exit %d); a re-run redoes it\n", c->outs[g], rc);
    fprintf(stderr, "import-wds: %d of %d files done\n", done, n);
    fflush(stdout);
}

/* DIR/shards.txt, "FILE<TAB>SHARD" per shard: written when absent (through
 * a temporary), compared when present. */
static int check_manifest(const import_args *a, char **outs, int groups) {
    vc_bytebuf b = {0};
    for (int i = 0; i < a->n_inputs; i++) {
        const char *base = strrchr(outs[i / a->per_file], '/') + 1;
        vc_bytebuf_append(&b, base, strlen(base));
        vc_bytebuf_push(&b, '\t');
        vc_bytebuf_append(&b, a->inputs[i], strlen(a->inputs[i]));
        vc_bytebuf_push(&b, '\n');
    }
    if (b.oom) {
        free(b.v);
        return vc_cmd_error("import-wds", "out of memory for the text of %s/shards.txt (over %zu bytes for %d shards)",
                            a->out_dir, b.n, a->n_inputs);
    }
    const char *text = (const char *)b.v;
    size_t len = b.n;
    (void)groups;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/shards.txt", a->out_dir);
    FILE *f = fopen(path, "rb");
    int rc = 0;
    if (f) {
        char *old = malloc(len + 2);
        size_t got = old ? fread(old, 1, len + 1, f) : 0;
        fclose(f);
        if (!old)
            rc = vc_cmd_error("import-wds", "out of memory for reading %s back (%zu bytes)", path, len + 2);
        else if (got != len || memcmp(old, text, len) != 0)
            rc = vc_cmd_error("import-wds", "%s lists other shards or another --shards-per-file than this import; "
                                            "use another --out-dir, or remove that directory to start over",
                              path);
        free(old);
    } else {
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
        f = fopen(tmp, "wb");
        bool ok = f && fwrite(text, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = false;
        if (!ok || rename(tmp, path) != 0) {
            int err = errno;
            if (f) remove(tmp);
            rc = vc_cmd_error("import-wds", "%s: cannot write: %s", path, strerror(err));
        }
    }
    free(b.v);
    return rc;
}

static int import_dir(import_args *a, const int *splits, reporter *rep) {
    if (mkdir(a->out_dir, 0777) != 0 && errno != EEXIST)
        return vc_cmd_error("import-wds", "%s: cannot create directory: %s", a->out_dir, strerror(errno));
    int groups = (int)((a->n_inputs + a->per_file - 1) / a->per_file);
    char **outs = calloc((size_t)groups, sizeof *outs);
    if (!outs) return vc_cmd_error("import-wds", "out of memory for the names of %d files", groups);
    int rc = 0;
    for (int g = 0; g < groups && !rc; g++) {
        size_t n = strlen(a->out_dir) + 32;
        if (!(outs[g] = malloc(n))) rc = vc_cmd_error("import-wds", "out of memory for the names of %d files", groups);
        else snprintf(outs[g], n, "%s/part-%05d.h5", a->out_dir, g);
    }
    if (!rc) rc = check_manifest(a, outs, groups);
    if (!rc) {
        group_ctx c = {a, splits, outs, rep};
        vc_jobs_result r;
        rc = vc_run_jobs(groups, (const char *const *)outs, (int)a->jobs, import_group, group_done, &c, &r);
        printf("import-wds: %s: %d files of %lld shards each: %d written, %d already there, %d failed%s\n", a->out_dir,
               groups, (long long)a->per_file, r.written, r.skipped, r.failed,
               rc ? " (run the same command again to finish)" : "");
    }
    for (int g = 0; g < groups; g++) free(outs[g]);
    free(outs);
    return rc;
}

int vc_cmd_import_wds(int argc, char **argv) {
    const char *cmd = "import-wds";
    reporter rep;
    reporter_init(&rep, cmd);
    import_args a;
    int rc = parse_args(cmd, argc, argv, true, &a, &rep);
    int *splits = NULL;
    vc_shard_splits csv = {0};
    if (rc) goto done;
    if (a.n_inputs == 0) {
        rc = vc_cmd_error(cmd, "no shards given (%s)", vc_cmd_usage(cmd));
        goto done;
    }
    if (a.splits_csv) {
        if (vc_shard_splits_read(a.splits_csv, &csv)) {
            rc = vc_cmd_error(cmd, "%s", vc_last_error());
            goto done;
        }
        splits = malloc((size_t)a.n_inputs * sizeof *splits);
        if (!splits) {
            rc = vc_cmd_error(cmd, "out of memory for the splits of %d shards", a.n_inputs);
            goto done;
        }
        if ((rc = match_splits(cmd, &a, &csv, splits, &rep))) goto done;
    }
    if (a.out_dir) {
        rc = import_dir(&a, splits, &rep);
        goto done;
    }
    vc_import_stats st;
    if (vc_wds_import(a.out, a.inputs, a.n_inputs, splits, &a.o, &st)) {
        clear_progress(&rep);
        rc = vc_cmd_error(cmd, "%s", vc_last_error());
        goto done;
    }
    print_summary(cmd, a.out, &a.o, &st, &rep);
done:
    free(splits);
    vc_shard_splits_free(&csv);
    free(a.inputs);
    return rc;
}

int vc_cmd_import_npy(int argc, char **argv) {
    const char *cmd = "import-npy";
    reporter rep;
    reporter_init(&rep, cmd);
    import_args a;
    int rc = parse_args(cmd, argc, argv, false, &a, &rep);
    if (rc) goto done;
    if (a.n_inputs != 1) {
        rc = vc_cmd_error(cmd, "give exactly one directory (%s)", vc_cmd_usage(cmd));
        goto done;
    }
    vc_import_stats st;
    if (vc_npy_dir_import(a.out, a.inputs[0], &a.o, &st)) {
        clear_progress(&rep);
        rc = vc_cmd_error(cmd, "%s", vc_last_error());
        goto done;
    }
    print_summary(cmd, a.out, &a.o, &st, &rep);
done:
    free(a.inputs);
    return rc;
}

static const char k_help_common[] =
    "Frames (KEY.npy): float16, float32 or float64, little- or big-endian ('<f8', '>f4', ...), C or\n"
    "  Fortran order, shape (n, D) or (D,). They are stored as --dtype (default f16); float64 is\n"
    "  rounded once, as numpy's astype does. A sample is skipped, counted and reported when its\n"
    "  .npy is unreadable, of another width, holds NaN/Inf (\"non-finite\") or a value beyond the\n"
    "  stored type (\"out of range\": |x| >= 65520 for f16, beyond 3.4e38 for f32).\n"
    "Captions (KEY.txt): UTF-8, trimmed. --caption-sep SEP splits one .txt into several captions of\n"
    "  the video (TEA's CLIP-WebVid joins them with ';'): each piece trimmed, empty pieces dropped.\n"
    "Metadata (KEY.json): checked to be one JSON value (Python's json: NaN and Infinity allowed)\n"
    "  and stored compacted (whitespace outside strings dropped, nothing else changed) in\n"
    "  /video/meta, one string per video, \"\" for a video without one. A .json that is not JSON\n"
    "  is counted as \"bad json\"; its video is kept without metadata.\n"
    "--labels-from-text: the .txt is the video's class name (CLIP-Kinetics700). /class/names gets\n"
    "  the distinct names sorted by their UTF-8 bytes, /video/label each video's index into them;\n"
    "  the name also stays the video's caption. A sample without a .txt is skipped (\"no label\").\n"
    "  Then `vclip encode-text` fills the class embeddings (prompt templates) and `vclip eval`\n"
    "  reports zero-shot top-1/top-5.\n"
    "--strict: any skipped sample, damaged shard or (import-wds) shard missing from --splits fails\n"
    "  the import, and no file is written.\n"
    "Progress: after VCLIP_PROGRESS_AFTER seconds (default 2) a line on stderr gives the share of\n"
    "  input bytes read, MB/s, videos/s and the ETA.\n"
    "File layout: data/FORMAT.md.\n";

static const char k_help_wds[] =
    "Shards as clip-video-encode writes them (webdataset.TarWriter: KEY.json, KEY.npy, KEY.txt;\n"
    "  named 000000000.tar, or 00000_clip_embeddings.tar in later versions) and as TEA publishes\n"
    "  them; .tar.gz and other compressions work. A sample's KEY is the member path up to the\n"
    "  first dot of its basename. Video ids are the KEYs; duplicates across shards are skipped.\n"
    "--splits CSV: the splits.csv of create_shards.py: header tar_file,split, then one\n"
    "  'ds_000000,train' per shard. A row matches a shard by its base name with or without\n"
    "  .tar/.tar.gz (and any directory). A shard that matches no row is imported into no split\n"
    "  (warning; error with --strict); rows that match none of the shards given are listed in one\n"
    "  note (importing some of a dataset's shards is fine).\n"
    "--out-dir DIR --shards-per-file K [--jobs J]: one file per K consecutive shards,\n"
    "  DIR/part-00000.h5, part-00001.h5, ..., J imported at once (separate processes). A file is\n"
    "  complete or absent after a crash; running the same command again skips the files already\n"
    "  there. DIR/shards.txt records the shards of each file; a re-run with other shards is\n"
    "  refused. Video ids are checked within each file, not across files. Train on them all with\n"
    "  [data] file = DIR/part-*.h5; `vclip info DIR/part-*.h5` prints their totals.\n";

static const char k_help_npy[] =
    "DIR holds KEY.npy (frames), KEY.txt (caption) and KEY.json (metadata), as clip-video-encode's\n"
    "  \"files\" output and its live encoder write them; KEY keeps inner dots. Videos are written in\n"
    "  sorted KEY order.\n";

const char *vc_cmd_import_help(const char *name) {
    static char text[sizeof k_help_wds + sizeof k_help_common + 8];
    const char *own = strcmp(name, "import-wds") == 0 ? k_help_wds : strcmp(name, "import-npy") == 0 ? k_help_npy : NULL;
    if (!own) return NULL;
    snprintf(text, sizeof text, "%s%s", own, k_help_common);
    return text;
}
