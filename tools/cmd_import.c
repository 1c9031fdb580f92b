/* cmd_import.c: `vclip import-wds` (WebDataset tar shards) and `vclip
 * import-npy` (a directory of KEY.npy + KEY.txt) into a vclip embeddings
 * file. Problems with single samples, and shards damaged part-way (whose
 * earlier samples are kept), are printed as warnings (the first 100, all with
 * --verbose) and counted in the one-line summary on stdout; the exit status
 * is then 0. It is 1, with no output file, for usage errors, a shard that
 * cannot be opened, an import that yields no video, or any problem at all
 * under --strict. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data/splits.h"
#include "data/npy_import.h"
#include "data/wds_import.h"

#define MAX_REPORTS 100  /* warnings printed before the rest are only counted */

typedef struct {
    const char *cmd;
    bool verbose;
    int64_t printed, suppressed;
} reporter;

static void print_report(void *ctx, const char *line) {
    reporter *r = ctx;
    if (r->verbose || r->printed < MAX_REPORTS) {
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
    if (!a->inputs) return vc_cmd_error(cmd, "out of memory");
    bool only_inputs = false;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (only_inputs || argv[i][0] != '-' || strcmp(argv[i], "-") == 0) {
            a->inputs[a->n_inputs++] = argv[i];
        } else if (strcmp(argv[i], "--") == 0) {
            only_inputs = true;
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
        } else if (strcmp(argv[i], "--strict") == 0) {
            a->o.strict = true;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            rep->verbose = true;
        } else {
            return vc_cmd_error(cmd, "unknown option '%s' (run 'vclip help %s')", argv[i], cmd);
        }
    }
    if (!a->out) return vc_cmd_error(cmd, "--out FILE is required (run 'vclip help %s')", cmd);
    if (a->splits_csv && a->o.split_by_ratio) return vc_cmd_error(cmd, "give --splits or --split-ratio, not both");
    if (a->seed_given && !a->o.split_by_ratio) return vc_cmd_error(cmd, "--seed only applies to --split-ratio");
    a->o.report = print_report;
    a->o.report_ctx = rep;
    return 0;
}

static void print_summary(const char *cmd, const char *out, const vc_import_opts *o, const vc_import_stats *s, const reporter *rep) {
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
    if (s->ignored) printf("; %lld other members ignored", (long long)s->ignored);
    if (s->bad_sources) printf("; %lld shard%s damaged", (long long)s->bad_sources, s->bad_sources == 1 ? "" : "s");
    if (s->split_size[0] + s->split_size[1] + s->split_size[2])
        printf("; splits train %lld, val %lld, test %lld", (long long)s->split_size[0], (long long)s->split_size[1],
               (long long)s->split_size[2]);
    printf("\n");
}

int vc_cmd_import_wds(int argc, char **argv) {
    const char *cmd = "import-wds";
    reporter rep = {cmd, false, 0, 0};
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
            rc = vc_cmd_error(cmd, "out of memory");
            goto done;
        }
        for (int i = 0; i < a.n_inputs; i++)
            if ((splits[i] = vc_shard_splits_find(&csv, a.inputs[i])) < 0) {
                rc = vc_cmd_error(cmd, "%s: shard is not listed in %s", a.inputs[i], a.splits_csv);
                goto done;
            }
    }
    vc_import_stats st;
    if (vc_wds_import(a.out, a.inputs, a.n_inputs, splits, &a.o, &st)) {
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
    reporter rep = {cmd, false, 0, 0};
    import_args a;
    int rc = parse_args(cmd, argc, argv, false, &a, &rep);
    if (rc) goto done;
    if (a.n_inputs != 1) {
        rc = vc_cmd_error(cmd, "give exactly one directory (%s)", vc_cmd_usage(cmd));
        goto done;
    }
    vc_import_stats st;
    if (vc_npy_dir_import(a.out, a.inputs[0], &a.o, &st)) {
        rc = vc_cmd_error(cmd, "%s", vc_last_error());
        goto done;
    }
    print_summary(cmd, a.out, &a.o, &st, &rep);
done:
    free(a.inputs);
    return rc;
}
