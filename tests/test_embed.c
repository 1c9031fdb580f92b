/* test_embed.c: `vclip embed` as users run it (through $VCLIP_BIN, as `make
 * test` sets it; without it the tests print SKIP and are not registered).
 * A tiny `vclip synth` file (200 videos, D 32, some with 0 frames) and a
 * transformer with a linear text head trained for 5 steps are made once. The
 * output is read back with the library's reader: one unit-norm row per
 * video that has frames, 0 rows for the others, the same ids and order, rows
 * equal to vc_embed_split run in-process on the same model, captions mapped
 * through the text head (equal to vc_pooler_text in-process), splits,
 * labels, classes and /video/meta carried over; --split restricts and reindexes; a mean
 * pooler evaluating the output scores exactly what the trained model scores
 * on the input (the output is directly searchable). Bad inputs give one line
 * on stderr, a non-zero exit and no output file. */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/h5_copy.h"
#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "eval/evaluate.h"
#include "harness.h"
#include "models/pooler.h"
#include "train/run_config.h"
#include "train/trainer.h"

enum { DIM = 32 };
#define TOL 1e-6

static char data_h5[600], data16_h5[600], ckpt[700], setup_error[8192];


static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs `vclip ARGS`; returns the exit status, stdout + stderr in text. */
static int run_vclip(const char *args, char *text, size_t cap) {
    char cmd[4096], log[700];
    tmp_path(log, sizeof log, "vclip.log");
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", vc_test_vclip_bin(), args, log);
    int rc = system(cmd);
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(text, 1, cap - 1, f) : 0;
    text[got] = '\0';
    if (f) fclose(f);
    unlink(log);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* Data and checkpoint, made once in the parent before the tests fork; a
 * failure is kept in setup_error for every test to report. */
static void prepare(void) {
    char args[3000], text[8192], ini[600], run[600];
    tmp_path(data_h5, sizeof data_h5, "data.h5");
    tmp_path(data16_h5, sizeof data16_h5, "data16.h5");
    tmp_path(ini, sizeof ini, "run.ini");
    tmp_path(run, sizeof run, "run");
    snprintf(ckpt, sizeof ckpt, "%s/last.safetensors", run);
    snprintf(args, sizeof args, "synth --out '%s' --videos 200 --dim %d --max-frames 10", data_h5, DIM);
    if (run_vclip(args, text, sizeof text) != 0) {
        snprintf(setup_error, sizeof setup_error, "vclip %.1000s: %.4000s", args, text);
        return;
    }
    snprintf(args, sizeof args, "synth --out '%s' --videos 20 --dim 16 --max-frames 10", data16_h5);
    if (run_vclip(args, text, sizeof text) != 0) {
        snprintf(setup_error, sizeof setup_error, "vclip %.1000s: %.4000s", args, text);
        return;
    }
    FILE *f = fopen(ini, "w");
    if (!f) {
        snprintf(setup_error, sizeof setup_error, "cannot write %s", ini);
        return;
    }
    fprintf(f,
            "[data]\nfile = %s\nframes = 10\n\n[model]\ntype = transformer\nlayers = 1\nheads = 4\n"
            "text_head = linear\n\n[train]\nbatch = 16\nsteps = 5\nlr = 0.01\nwarmup = 0\nout_dir = %s\n",
            data_h5, run);
    fclose(f);
    snprintf(args, sizeof args, "train '%s'", ini);
    if (run_vclip(args, text, sizeof text) != 0 || !exists(ckpt))
        snprintf(setup_error, sizeof setup_error, "vclip %.1000s: %.4000s", args, text);
}

static void check_setup(void) { ck_assert_msg(setup_error[0] == '\0', "setup failed: %s", setup_error); }

/* ---- helpers over files ------------------------------------------------------ */

static vc_h5 *open_h5(const char *path) {
    vc_h5 *h = NULL;
    ck_assert_msg(vc_h5_open(&h, path) == VC_OK, "%s", vc_last_error());
    return h;
}

static char *video_id(vc_h5 *h, int64_t v) {
    char *s = NULL;
    ck_assert_msg(vc_h5_video_id(h, v, &s) == VC_OK, "%s", vc_last_error());
    return s;
}

static double norm(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

/* The checkpoint's model and the evaluation options its config gives. */
typedef struct {
    vc_config *cfg;
    vc_run_cfg rc;
    vc_params ps;
    vc_pooler m;
    vc_eval_opts eo;
} model;

static void load_model(model *md, int64_t batch) {
    memset(md, 0, sizeof *md);
    vc_params_init(&md->ps);
    ck_assert_msg(vc_model_from_checkpoint(ckpt, NULL, 0, &md->cfg, &md->rc, &md->ps, &md->m) == VC_OK, "%s",
                  vc_last_error());
    ck_assert_int_eq(md->m.cfg.dim, DIM);
    md->eo = (vc_eval_opts){batch ? batch : md->rc.eval_batch, md->rc.frames, md->rc.eval_sampling,
                            md->rc.mem_budget_mb << 20, md->rc.prefetch, false, {0}};
}

static void free_model(model *md) {
    vc_params_free(&md->ps);
    vc_config_free(md->cfg);
}

/* Output row of each input video (by id and order) must equal the in-process
 * embedding of that video; sel[i] is the input video of output video i. */
static void check_videos(vc_h5 *out, vc_h5 *in, const int64_t *sel, int64_t ns, const model *md,
                         const int64_t *split, int64_t n_split) {
    const vc_h5_info *io = vc_h5_get_info(out);
    ck_assert_int_eq(io->dim, DIM);
    ck_assert_int_eq(io->n_videos, ns);
    ck_assert_int_eq(io->frame_dtype, VC_F32);
    vc_tensor ref;
    int64_t *vids, ne;
    ck_assert_msg(vc_embed_split(&md->m, vc_h5_path(in), split, n_split, &md->eo, &ref, &vids, &ne) == VC_OK, "%s",
                  vc_last_error());
    const int64_t *oi = vc_h5_offsets(in), *oo = vc_h5_offsets(out);
    float row[DIM];
    int64_t empty = 0, compared = 0;
    for (int64_t i = 0; i < ns; i++) {
        int64_t v = sel[i];
        char *a = video_id(out, i), *b = video_id(in, v);
        ck_assert_msg(strcmp(a, b) == 0, "output video %lld is '%s', input video %lld is '%s'", (long long)i, a,
                      (long long)v, b);
        free(a);
        free(b);
        int64_t rows = oo[i + 1] - oo[i];
        if (oi[v + 1] == oi[v]) {
            ck_assert_msg(rows == 0, "video %lld has no frames but %lld output rows", (long long)v, (long long)rows);
            empty++;
            continue;
        }
        ck_assert_msg(rows == 1, "video %lld: %lld output rows, want 1", (long long)v, (long long)rows);
        ck_assert_msg(vc_h5_read_frames(out, oo[i], 1, row) == VC_OK, "%s", vc_last_error());
        ck_assert_msg(fabs(norm(row, DIM) - 1) < 1e-5, "video %lld: norm %g", (long long)v, norm(row, DIM));
        int64_t k = 0;
        while (k < ne && vids[k] != v) k++;
        ck_assert_msg(k < ne, "vc_embed_split did not pool video %lld", (long long)v);
        double d = max_abs_diff(row, vc_f32(&ref) + k * DIM, DIM);
        ck_assert_msg(d <= TOL, "video %lld: max |embed - vc_embed_split| = %g", (long long)v, d);
        compared++;
    }
    ck_assert_int_eq(io->n_empty_videos, empty);
    ck_assert_int_eq(compared, ne);
    ck_assert_msg(compared > 0, "no video was compared");
    vc_tensor_release(&ref);
    free(vids);
}

/* Output captions: those of the selected videos in input order, text
 * embeddings equal to the text head + normalisation of the input's. */
static void check_captions(vc_h5 *out, vc_h5 *in, const int64_t *newidx, const model *md) {
    const vc_h5_info *ii = vc_h5_get_info(in), *io = vc_h5_get_info(out);
    ck_assert(io->has_text_embeddings);
    ck_assert_int_eq(io->has_captions_text, ii->has_captions_text);
    const int64_t *cvi = vc_h5_caption_video(in), *cvo = vc_h5_caption_video(out);
    int64_t C = ii->n_captions, j = 0, moved = 0;
    float *x = malloc((size_t)C * DIM * sizeof *x), got[DIM];
    ck_assert(x);
    ck_assert_msg(vc_h5_read_text(in, 0, C, x) == VC_OK, "%s", vc_last_error());
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    vc_tensor xt;
    vc_tensor_wrap(&xt, x, VC_F32, VC_DIMS(C, DIM));
    vc_var *y = vc_pooler_text(&t, &md->m, vc_const(&t, &xt));
    ck_assert_msg(y, "%s", vc_last_error());
    const float *ref = vc_f32(&y->val);
    for (int64_t c = 0; c < C; c++) {
        if (newidx[cvi[c]] < 0) continue;
        ck_assert_msg(j < io->n_captions, "output has too few captions");
        ck_assert_int_eq(cvo[j], newidx[cvi[c]]);
        ck_assert_msg(vc_h5_read_text(out, j, 1, got) == VC_OK, "%s", vc_last_error());
        ck_assert_msg(fabs(norm(got, DIM) - 1) < 1e-5, "caption %lld: norm %g", (long long)c, norm(got, DIM));
        double d = max_abs_diff(got, ref + c * DIM, DIM);
        ck_assert_msg(d <= TOL, "caption %lld: max |embed - text head| = %g", (long long)c, d);
        float plain[DIM];
        double n0 = norm(x + c * DIM, DIM);
        for (int k = 0; k < DIM; k++) plain[k] = (float)(x[c * DIM + k] / n0);
        moved += max_abs_diff(got, plain, DIM) > 1e-3;
        if (ii->has_captions_text) {
            char *a = NULL, *b = NULL;
            ck_assert(vc_h5_caption(out, j, &a) == VC_OK && vc_h5_caption(in, c, &b) == VC_OK);
            ck_assert_str_eq(a, b);
            free(a);
            free(b);
        }
        j++;
    }
    ck_assert_int_eq(j, io->n_captions);
    /* the trained text head was applied, not just normalisation */
    ck_assert_msg(moved > 0, "no caption differs from its plainly normalised input");
    vc_tape_free(&t);
    free(x);
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(test_embed_writes_one_unit_row_per_video_equal_to_vc_embed_split) {
    check_setup();
    char out[700], args[3000], text[4096];
    tmp_path(out, sizeof out, "videos.h5");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", ckpt, data_h5, out);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip %.1000s: %.4000s", args, text);
    snprintf(args, sizeof args, "info '%s'", out);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip info on the output: %s", text);

    vc_h5 *in = open_h5(data_h5), *o = open_h5(out);
    const vc_h5_info *ii = vc_h5_get_info(in), *io = vc_h5_get_info(o);
    ck_assert_msg(ii->n_empty_videos > 0, "the synthetic data should hold videos without frames");
    int64_t V = ii->n_videos;
    int64_t *sel = malloc((size_t)V * sizeof *sel);
    ck_assert(sel);
    for (int64_t v = 0; v < V; v++) sel[v] = v;
    model md;
    load_model(&md, 0);
    check_videos(o, in, sel, V, &md, NULL, 0);
    ck_assert_int_eq(io->n_captions, ii->n_captions);
    check_captions(o, in, sel, &md);
    /* splits, labels, classes and clip_model carried over unchanged */
    for (int s = 0; s < VC_NSPLITS; s++) {
        ck_assert_int_eq(io->has_split[s], ii->has_split[s]);
        if (!ii->has_split[s]) continue;
        const int64_t *a, *b;
        int64_t na, nb;
        ck_assert(vc_h5_split(o, (vc_split)s, &a, &na) == VC_OK && vc_h5_split(in, (vc_split)s, &b, &nb) == VC_OK);
        ck_assert_int_eq(na, nb);
        ck_assert(memcmp(a, b, (size_t)na * sizeof *a) == 0);
    }
    ck_assert_int_eq(io->has_labels, ii->has_labels);
    if (ii->has_labels) ck_assert(memcmp(vc_h5_labels(o), vc_h5_labels(in), (size_t)V * sizeof(int64_t)) == 0);
    ck_assert_int_eq(io->n_classes, ii->n_classes);
    ck_assert_int_eq(io->has_class_embeddings, ii->has_class_embeddings);
    ck_assert_msg(ii->clip_model && io->clip_model && strcmp(ii->clip_model, io->clip_model) == 0,
                  "clip_model not carried over");

    /* directly searchable: a mean pooler (normalise, pool one row, normalise;
     * no text head) on the output scores what the trained model scores on the input */
    vc_eval_result ra, rb;
    md.eo.zero_shot = true;
    ck_assert_msg(vc_evaluate(&md.m, data_h5, NULL, 0, &md.eo, &ra) == VC_OK, "%s", vc_last_error());
    vc_pooler_cfg mc;
    vc_pooler_cfg_default(&mc, VC_POOL_MEAN, DIM);
    vc_params mps;
    vc_params_init(&mps);
    vc_pooler mean;
    ck_assert_msg(vc_pooler_init(&mean, &mc, &mps, 1) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_evaluate(&mean, out, NULL, 0, &md.eo, &rb) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(ra.videos, rb.videos);
    ck_assert_int_eq(ra.captions, rb.captions);
    const vc_recall *pa[2] = {&ra.t2v, &ra.v2t}, *pb[2] = {&rb.t2v, &rb.v2t};
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(pa[k]->r1 == pb[k]->r1 && pa[k]->r5 == pb[k]->r5 && pa[k]->r10 == pb[k]->r10 &&
                          pa[k]->mdr == pb[k]->mdr && fabs(pa[k]->mnr - pb[k]->mnr) < 1e-9,
                      "%s: R@1 %g/%g R@5 %g/%g R@10 %g/%g MdR %g/%g MnR %g/%g", k ? "v2t" : "t2v", pa[k]->r1,
                      pb[k]->r1, pa[k]->r5, pb[k]->r5, pa[k]->r10, pb[k]->r10, pa[k]->mdr, pb[k]->mdr, pa[k]->mnr,
                      pb[k]->mnr);
    }
    ck_assert_int_eq(ra.has_cls, rb.has_cls);
    if (ra.has_cls) ck_assert(ra.top1 == rb.top1 && ra.top5 == rb.top5);
    vc_params_free(&mps);
    free_model(&md);
    free(sel);
    vc_h5_close(in);
    vc_h5_close(o);
}
END_TEST

START_TEST(test_embed_split_restricts_and_reindexes_with_the_batch_override) {
    check_setup();
    char out[700], args[3000], text[4096];
    tmp_path(out, sizeof out, "videos_test.h5");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s' --split test --batch 7", ckpt, data_h5, out);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip %.1000s: %.4000s", args, text);
    ck_assert_msg(strstr(text, "batch 7"), "the batch override is not reported: %s", text);

    vc_h5 *in = open_h5(data_h5), *o = open_h5(out);
    const vc_h5_info *ii = vc_h5_get_info(in), *io = vc_h5_get_info(o);
    const int64_t *tidx;
    int64_t nt;
    ck_assert(vc_h5_split(in, VC_SPLIT_TEST, &tidx, &nt) == VC_OK);
    ck_assert(nt > 0 && nt < ii->n_videos);
    /* the test videos in file order */
    int64_t V = ii->n_videos, ns = 0;
    int64_t *newidx = malloc((size_t)V * sizeof *newidx), *sel = malloc((size_t)nt * sizeof *sel);
    ck_assert(newidx && sel);
    for (int64_t v = 0; v < V; v++) newidx[v] = -1;
    for (int64_t i = 0; i < nt; i++) newidx[tidx[i]] = 0;
    for (int64_t v = 0; v < V; v++)
        if (newidx[v] == 0) {
            newidx[v] = ns;
            sel[ns++] = v;
        }
    ck_assert_int_eq(ns, nt);
    model md;
    load_model(&md, 7);
    check_videos(o, in, sel, ns, &md, tidx, nt);
    check_captions(o, in, newidx, &md);
    /* only the test split survives (train and val share no video with it), reindexed */
    ck_assert(!io->has_split[VC_SPLIT_TRAIN] && !io->has_split[VC_SPLIT_VAL] && io->has_split[VC_SPLIT_TEST]);
    const int64_t *oidx;
    int64_t no;
    ck_assert(vc_h5_split(o, VC_SPLIT_TEST, &oidx, &no) == VC_OK);
    ck_assert_int_eq(no, nt);
    for (int64_t i = 0; i < nt; i++) ck_assert_int_eq(oidx[i], newidx[tidx[i]]);
    if (ii->has_labels) {
        const int64_t *li = vc_h5_labels(in), *lo = vc_h5_labels(o);
        ck_assert(lo);
        for (int64_t i = 0; i < ns; i++) ck_assert_int_eq(lo[i], li[sel[i]]);
    }
    free_model(&md);
    free(sel);
    free(newidx);
    vc_h5_close(in);
    vc_h5_close(o);
}
END_TEST

/* One failing command: exit status non-zero, one line "vclip embed: ...", no
 * output file nor temporary file left. */
static void expect_failure(const char *args, const char *out, const char *want) {
    char text[4096], pat[800];
    int rc = run_vclip(args, text, sizeof text);
    ck_assert_msg(rc != 0, "vclip %s succeeded", args);
    size_t n = strlen(text);
    ck_assert_msg(n > 0 && text[n - 1] == '\n' && strchr(text, '\n') == text + n - 1, "not one line: %s", text);
    ck_assert_msg(strncmp(text, "vclip embed: ", 13) == 0, "unexpected message: %s", text);
    ck_assert_msg(strstr(text, want), "message lacks '%s': %s", want, text);
    ck_assert_msg(!exists(out), "vclip %s left %s", args, out);
    snprintf(pat, sizeof pat, "%s.tmp*", out);
    glob_t g;
    ck_assert_msg(glob(pat, 0, NULL, &g) == GLOB_NOMATCH, "vclip %s left a temporary file", args);
    globfree(&g);
}

START_TEST(test_embed_bad_inputs_fail_in_one_line_without_output) {
    check_setup();
    char out[700], args[3000], bad[700], missing[700];
    tmp_path(out, sizeof out, "bad_out.h5");
    tmp_path(missing, sizeof missing, "no_such.safetensors");
    tmp_path(bad, sizeof bad, "truncated.safetensors");
    /* a checkpoint cut in half */
    FILE *f = fopen(ckpt, "rb"), *g = fopen(bad, "wb");
    ck_assert(f && g);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    for (long i = 0; i < len / 2; i++) fputc(fgetc(f), g);
    fclose(f);
    fclose(g);

    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", missing, data_h5, out);
    expect_failure(args, out, "no_such.safetensors");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", bad, data_h5, out);
    expect_failure(args, out, "truncated.safetensors");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", ckpt, bad, out);
    expect_failure(args, out, "truncated.safetensors");
    snprintf(args, sizeof args, "embed '%s' --data '%s/none.h5' --out '%s'", ckpt, vc_test_tmpdir(), out);
    expect_failure(args, out, "none.h5");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", ckpt, data16_h5, out);
    expect_failure(args, out, "16 wide");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s' --split bogus", ckpt, data_h5, out);
    expect_failure(args, out, "bogus");
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s' --batch 0", ckpt, data_h5, out);
    expect_failure(args, out, "--batch");
    snprintf(args, sizeof args, "embed '%s' --out '%s'", ckpt, out);
    expect_failure(args, out, "usage");
    /* the input itself is never the output */
    struct stat before, after;
    ck_assert(stat(data_h5, &before) == 0);
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", ckpt, data_h5, data_h5);
    char text[4096];
    ck_assert_msg(run_vclip(args, text, sizeof text) != 0, "embedding into the input file succeeded");
    ck_assert(stat(data_h5, &after) == 0);
    ck_assert(before.st_ino == after.st_ino && before.st_size == after.st_size &&
              before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
}
END_TEST

/* A float32 copy of the data whose caption 5 has a NaN, patched in the raw
 * bytes (the writer refuses to store one): the failure comes while the output
 * is being written, after every video was. */
START_TEST(test_embed_failure_while_writing_leaves_no_output) {
    check_setup();
    char nan_h5[700], out[700], args[3000], text[4096];
    tmp_path(nan_h5, sizeof nan_h5, "nan.h5");
    tmp_path(out, sizeof out, "nan_out.h5");
    snprintf(args, sizeof args, "synth --out '%s' --videos 60 --dim %d --max-frames 10 --dtype f32", nan_h5, DIM);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip %s: %s", args, text);
    float row[DIM];
    vc_h5 *h = open_h5(nan_h5);
    ck_assert(vc_h5_get_info(h)->has_text_embeddings && vc_h5_get_info(h)->n_captions > 5);
    ck_assert_int_eq(vc_h5_get_info(h)->text_dtype, VC_F32);
    ck_assert_msg(vc_h5_read_text(h, 5, 1, row) == VC_OK, "%s", vc_last_error());
    vc_h5_close(h);
    FILE *f = fopen(nan_h5, "r+b");
    ck_assert(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f), at = -1;
    unsigned char *buf = malloc((size_t)len);
    ck_assert(buf);
    fseek(f, 0, SEEK_SET);
    ck_assert(fread(buf, 1, (size_t)len, f) == (size_t)len);
    for (long i = 0; i + (long)sizeof row <= len; i++)
        if (memcmp(buf + i, row, sizeof row) == 0) {
            ck_assert_msg(at < 0, "caption 5's bytes occur twice in the file");
            at = i;
        }
    ck_assert_msg(at >= 0, "caption 5's bytes not found in the file");
    float nan = NAN;
    fseek(f, at + 3 * (long)sizeof(float), SEEK_SET);
    ck_assert(fwrite(&nan, sizeof nan, 1, f) == 1);
    ck_assert(fclose(f) == 0);
    free(buf);
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", ckpt, nan_h5, out);
    expect_failure(args, out, "NaN");
}
END_TEST

/* A copy of data.h5 where every third video has metadata (its index in JSON), the others
 * none: embed, with and without --split, gives each output video its input's metadata. */
START_TEST(test_embed_copies_video_meta_of_the_selected_videos) {
    check_setup();
    char meta_h5[700], out[700], out_test[700], args[3000], text[4096];
    tmp_path(meta_h5, sizeof meta_h5, "meta.h5");
    tmp_path(out, sizeof out, "meta_out.h5");
    tmp_path(out_test, sizeof out_test, "meta_out_test.h5");
    vc_h5 *in = open_h5(data_h5);
    const vc_h5_info *ii = vc_h5_get_info(in);
    int64_t V = ii->n_videos;
    vc_h5w *w = NULL;
    vc_h5w_opts wo = {.dim = ii->dim, .dtype = VC_F32};
    ck_assert_msg(vc_h5w_open(&w, meta_h5, &wo) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_h5_copy_videos(in, w, NULL) == VC_OK, "%s", vc_last_error());
    char js[64];
    for (int64_t v = 0; v < V; v += 3) {
        snprintf(js, sizeof js, "{\"v\":%lld}", (long long)v);
        ck_assert_msg(vc_h5w_set_meta(w, v, js) == VC_OK, "%s", vc_last_error());
    }
    vc_h5_copy_opts co = {0};
    ck_assert_msg(vc_h5_copy_captions(in, w, &co, NULL) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_h5_copy_splits(in, w, &co) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_h5w_close(w) == VC_OK, "%s", vc_last_error());
    vc_h5_close(in);

    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s'", ckpt, meta_h5, out);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip %.1000s: %.4000s", args, text);
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s' --split test", ckpt, meta_h5, out_test);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip %.1000s: %.4000s", args, text);

    in = open_h5(meta_h5);
    vc_h5 *o = open_h5(out), *ot = open_h5(out_test);
    ck_assert(vc_h5_get_info(in)->has_meta);
    ck_assert_msg(vc_h5_get_info(o)->has_meta && vc_h5_get_info(ot)->has_meta, "embed dropped /video/meta");
    ck_assert_int_eq(vc_h5_get_info(o)->n_videos, V);
    const int64_t *tidx;
    int64_t nt;
    ck_assert(vc_h5_split(in, VC_SPLIT_TEST, &tidx, &nt) == VC_OK && nt > 0);
    bool *in_test = calloc((size_t)V, sizeof *in_test);
    ck_assert(in_test);
    for (int64_t i = 0; i < nt; i++) in_test[tidx[i]] = true;
    int64_t t = 0, with_meta = 0, test_with_meta = 0;
    for (int64_t v = 0; v < V; v++) {
        char *a = NULL, *b = NULL, *c = NULL;
        ck_assert_msg(vc_h5_video_meta(in, v, &a) == VC_OK, "%s", vc_last_error());
        ck_assert_msg(vc_h5_video_meta(o, v, &b) == VC_OK, "%s", vc_last_error());
        ck_assert_msg(strcmp(a, b) == 0, "video %lld: meta '%s' became '%s'", (long long)v, a, b);
        with_meta += a[0] != 0;
        if (in_test[v]) { /* the test split's videos, in file order */
            ck_assert_msg(vc_h5_video_meta(ot, t, &c) == VC_OK, "%s", vc_last_error());
            ck_assert_msg(strcmp(a, c) == 0, "video %lld (test video %lld): meta '%s' became '%s'", (long long)v,
                          (long long)t, a, c);
            test_with_meta += a[0] != 0;
            t++;
        }
        free(a);
        free(b);
        free(c);
    }
    ck_assert_int_eq(t, vc_h5_get_info(ot)->n_videos);
    ck_assert_int_eq(with_meta, (V + 2) / 3);
    ck_assert_msg(test_with_meta > 0, "no test video has metadata: the check above proved nothing");
    free(in_test);
    vc_h5_close(in);
    vc_h5_close(o);
    vc_h5_close(ot);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("embed");
    if (vc_test_vclip_bin()) {
        TCase *tc = tcase_create("command");
        tcase_set_timeout(tc, 300);
        tcase_add_unchecked_fixture(tc, prepare, NULL);
        tcase_add_test(tc, test_embed_writes_one_unit_row_per_video_equal_to_vc_embed_split);
        tcase_add_test(tc, test_embed_split_restricts_and_reindexes_with_the_batch_override);
        tcase_add_test(tc, test_embed_bad_inputs_fail_in_one_line_without_output);
        tcase_add_test(tc, test_embed_failure_while_writing_leaves_no_output);
        tcase_add_test(tc, test_embed_copies_video_meta_of_the_selected_videos);
        suite_add_tcase(s, tc);
    } else {
        printf("SKIP: vclip embed tests (VCLIP_BIN is not set; run them with make test)\n");
    }
    return s;
}

VC_TEST_MAIN(make_suite)
