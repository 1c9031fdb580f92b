/* test_plot.c: `vclip plot` and what it rests on.
 * - eval/run_log.h: log.jsonl read back with the resume rule (a killed
 *   launch's steps past its checkpoint taken back), a torn last line ignored,
 *   every malformed input an error naming the file (and line); the same rule
 *   applied to the file on resume (vc_run_log_cut).
 * - eval/plot.h: the PNG decodes (cairo), has the asked size, and each run's
 *   colour is in the legend and in the panels it has data for; a run without
 *   evaluations is absent from the R@1 panel.
 * - The command through the built binary ($VCLIP_BIN; SKIP without it): the
 *   default size, its notes, and one-line errors that leave no file behind.
 * The runs are log.jsonl files written here in the trainer's format. */
#include <cairo.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eval/plot.h"
#include "eval/run_log.h"
#include "harness.h"

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Makes TMP/name holding log.jsonl with the given text; the directory in dir. */
static void make_run(char *dir, size_t n, const char *name, const char *log) {
    tmp_path(dir, n, name);
    mkdir(dir, 0777);
    char p[800];
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    FILE *f = fopen(p, "w");
    ck_assert(f);
    fputs(log, f);
    ck_assert(fclose(f) == 0);
}

/* A log as the trainer writes it: start, steps first..last (every `every`)
 * with loss f(step), evals every eval_every (0: none) with score g(step). */
static char *make_log(int64_t last, int every, int eval_every, double loss0, double score_max) {
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    ck_assert(s);
    n += (size_t)snprintf(s + n, cap - n,
                          "{\"event\": \"start\", \"step\": 0, \"total_steps\": %lld, \"videos\": 100, "
                          "\"model\": \"mean\", \"params\": 10}\n",
                          (long long)last);
    for (int64_t st = every; st <= last; st += every) {
        double loss = loss0 * exp(-(double)st / (double)last) + 0.1 * sin((double)st);
        n += (size_t)snprintf(s + n, cap - n,
                              "{\"event\": \"step\", \"step\": %lld, \"epoch\": 0, \"loss\": %.6f, \"lr\": 0.001, "
                              "\"grad_norm\": 1, \"logit_scale\": 2.6, \"samples_per_s\": 100.0}\n",
                              (long long)st, loss);
        if (eval_every && st % eval_every == 0)
            n += (size_t)snprintf(s + n, cap - n,
                                  "{\"event\": \"eval\", \"split\": \"val\", \"step\": %lld, \"t2v\": {\"R@1\": 1}, "
                                  "\"v2t\": {\"R@1\": 1}, \"score\": %.4f, \"best\": false}\n",
                                  (long long)st, score_max * (1 - exp(-3.0 * (double)st / (double)last)));
        ck_assert(n < cap - 1000);
    }
    return s;
}

/* ---- run_log ---- */

START_TEST(test_log_reads_with_the_resume_rule_and_ignores_a_torn_last_line) {
    char dir[600];
    /* launch 1 logs steps 1-8 and evals at 4 and 8, then is killed; its
     * checkpoint was at 5; launch 2 resumes at 5 and logs 6-10 with new values */
    const char *log =
        "{\"event\": \"start\", \"step\": 0}\n"
        "{\"event\": \"step\", \"step\": 1, \"loss\": 9.0}\n"
        "{\"event\": \"step\", \"step\": 2, \"loss\": 8.0}\n"
        "{\"event\": \"step\", \"step\": 3, \"loss\": 7.0}\n"
        "{\"event\": \"step\", \"step\": 4, \"loss\": 6.0}\n"
        "{\"event\": \"eval\", \"split\": \"val\", \"step\": 4, \"score\": 10.0}\n"
        "{\"event\": \"step\", \"step\": 5, \"loss\": 5.0}\n"
        "{\"event\": \"step\", \"step\": 6, \"loss\": -1.0}\n"
        "{\"event\": \"step\", \"step\": 7, \"loss\": -1.0}\n"
        "{\"event\": \"step\", \"step\": 8, \"loss\": -1.0}\n"
        "{\"event\": \"eval\", \"split\": \"val\", \"step\": 8, \"score\": -1.0}\n"
        "{\"event\": \"resume\", \"step\": 5}\n"
        "{\"event\": \"step\", \"step\": 6, \"loss\": 4.0}\n"
        "{\"event\": \"step\", \"step\": 7, \"loss\": 3.0}\n"
        "{\"event\": \"step\", \"step\": 8, \"loss\": 2.0}\n"
        "{\"event\": \"eval\", \"split\": \"val\", \"step\": 8, \"score\": 20.0}\n"
        "{\"event\": \"step\", \"step\": 9, \"loss\": 1.5}\n"
        "{\"event\": \"step\", \"step\": 10, \"loss\": 1.0}\n"
        "{\"event\": \"end\", \"step\": 10, \"best_step\": 8, \"best_score\": 20.0}\n"
        "{\"event\": \"step\", \"st";
    make_run(dir, sizeof dir, "resumed/", log);
    vc_run_log r;
    char given[700];
    snprintf(given, sizeof given, "%s/", dir); /* a trailing slash does not change the name */
    ck_assert_msg(vc_run_log_read(given, &r) == VC_OK, "%s", vc_last_error());
    ck_assert_str_eq(r.name, "resumed");
    ck_assert_str_eq(r.val_split, "val");
    ck_assert_int_eq(r.launches, 2);
    ck_assert_int_eq(r.torn_lines, 1);
    const double want[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1.5, 1};
    ck_assert_int_eq(r.n_loss, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(r.loss[i].step, i + 1);
        ck_assert_msg(r.loss[i].value == want[i], "step %d: loss %g, want %g", i + 1, r.loss[i].value, want[i]);
    }
    ck_assert_int_eq(r.n_val, 2);
    ck_assert(r.val[0].step == 4 && r.val[0].value == 10);
    ck_assert(r.val[1].step == 8 && r.val[1].value == 20);
    vc_run_log_free(&r);
}
END_TEST

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f, "%s: cannot open", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* The resume rule on the file: a resume at step 5 of the killed launch above
 * drops every record past 5 and the torn last line, keeps the rest byte for
 * byte (a line that is not JSON included), through a rename; with nothing to
 * drop the file is not rewritten; a missing log is no error. */
START_TEST(test_log_cut_drops_the_records_past_the_resume_step_and_a_torn_line) {
    char dir[600], path[700], tmp_glob[800];
    const char *log =
        "{\"event\": \"start\", \"step\": 0}\n"
        "{\"event\": \"step\", \"step\": 4, \"loss\": 6.0}\n"
        "{\"event\": \"eval\", \"split\": \"val\", \"step\": 4, \"score\": 10.0}\n"
        "not json, kept as it is\n"
        "{\"event\": \"step\", \"step\": 5, \"loss\": 5.0}\n"
        "{\"event\": \"step\", \"step\": 6, \"loss\": -1.0}\n"
        "{\"event\": \"eval\", \"split\": \"val\", \"step\": 8, \"score\": -1.0}\n"
        "{\"event\": \"step\",\"step\":12,\"loss\":-1.0}\n"
        "{\"event\": \"step\", \"st";
    const char *want =
        "{\"event\": \"start\", \"step\": 0}\n"
        "{\"event\": \"step\", \"step\": 4, \"loss\": 6.0}\n"
        "{\"event\": \"eval\", \"split\": \"val\", \"step\": 4, \"score\": 10.0}\n"
        "not json, kept as it is\n"
        "{\"event\": \"step\", \"step\": 5, \"loss\": 5.0}\n";
    make_run(dir, sizeof dir, "cut/", log);
    snprintf(path, sizeof path, "%s/log.jsonl", dir);
    struct stat before, after;
    ck_assert(stat(path, &before) == 0);
    vc_run_log_cut_info ci;
    ck_assert_msg(vc_run_log_cut(path, 5, &ci) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(ci.kept, 5);
    ck_assert_int_eq(ci.dropped, 4);
    ck_assert(ci.torn);
    ck_assert_str_eq(read_text(path), want);
    ck_assert(stat(path, &after) == 0);
    ck_assert_msg(after.st_ino != before.st_ino, "the log was rewritten in place, not through a rename");
    /* again: nothing to drop, the file stays the same file */
    ck_assert_msg(vc_run_log_cut(path, 5, &ci) == VC_OK, "%s", vc_last_error());
    ck_assert(ci.kept == 5 && ci.dropped == 0 && !ci.torn);
    ck_assert(stat(path, &before) == 0 && before.st_ino == after.st_ino);
    ck_assert_str_eq(read_text(path), want);
    /* no temporary left behind */
    snprintf(tmp_glob, sizeof tmp_glob, "%s/log.jsonl.tmp.*", dir);
    glob_t g;
    ck_assert_int_eq(glob(tmp_glob, 0, NULL, &g), GLOB_NOMATCH);
    /* a run resumed without a log: nothing to cut */
    snprintf(path, sizeof path, "%s/none.jsonl", dir);
    ck_assert_msg(vc_run_log_cut(path, 5, &ci) == VC_OK && ci.kept == 0 && ci.dropped == 0, "%s", vc_last_error());
}
END_TEST

/* vc_run_log_read(dir) fails with code, and the message holds each of the
 * NULL-terminated strings. */
static void assert_log_error(const char *dir, vc_status code, ...) {
    vc_run_log r;
    vc_status s = vc_run_log_read(dir, &r);
    ck_assert_msg(s == code, "%s: status %d, want %d (%s)", dir, s, code, vc_last_error());
    const char *msg = vc_last_error();
    ck_assert_msg(!strchr(msg, '\n'), "more than one line: %s", msg);
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));) ck_assert_msg(strstr(msg, w), "'%s' not in: %s", w, msg);
    va_end(ap);
}

START_TEST(test_log_errors_name_the_file_and_line) {
    char dir[600], p[800];
    tmp_path(dir, sizeof dir, "no_such_run");
    assert_log_error(dir, VC_ERR_IO, dir, NULL);
    tmp_path(dir, sizeof dir, "a_file");
    FILE *f = fopen(dir, "w");
    ck_assert(f && fclose(f) == 0);
    assert_log_error(dir, VC_ERR_ARG, dir, "not a directory", NULL);
    tmp_path(dir, sizeof dir, "empty_dir");
    mkdir(dir, 0777);
    snprintf(p, sizeof p, "%s/log.jsonl", dir);
    assert_log_error(dir, VC_ERR_IO, p, "run directory", NULL);
    make_run(dir, sizeof dir, "bad_line", "{\"event\": \"start\", \"step\": 0}\n{\"event\": \"step\", \"step\": 1, "
                                          "\"loss\": 1}\nnot json\n{\"event\": \"step\", \"step\": 2, \"loss\": 1}\n");
    snprintf(p, sizeof p, "%s/log.jsonl:3", dir);
    assert_log_error(dir, VC_ERR_FORMAT, p, "not a JSON object", NULL);
    make_run(dir, sizeof dir, "no_loss", "{\"event\": \"step\", \"step\": 1, \"lr\": 1}\n");
    snprintf(p, sizeof p, "%s/log.jsonl:1", dir);
    assert_log_error(dir, VC_ERR_FORMAT, p, "\"loss\"", NULL);
    make_run(dir, sizeof dir, "no_step", "{\"event\": \"eval\", \"score\": 1}\n");
    snprintf(p, sizeof p, "%s/log.jsonl:1", dir);
    assert_log_error(dir, VC_ERR_FORMAT, p, "\"step\"", NULL);
    make_run(dir, sizeof dir, "nothing_yet", "{\"event\": \"start\", \"step\": 0}\n");
    assert_log_error(dir, VC_ERR_FORMAT, "no step or evaluation record", NULL);
}
END_TEST

/* ---- the picture ---- */

typedef struct {
    cairo_surface_t *sf;
    int w, h, stride;
    const unsigned char *px;
} image;

static void image_load(image *im, const char *path) {
    im->sf = cairo_image_surface_create_from_png(path);
    ck_assert_msg(cairo_surface_status(im->sf) == CAIRO_STATUS_SUCCESS, "%s does not decode as PNG: %s", path,
                  cairo_status_to_string(cairo_surface_status(im->sf)));
    cairo_surface_flush(im->sf);
    im->w = cairo_image_surface_get_width(im->sf);
    im->h = cairo_image_surface_get_height(im->sf);
    im->stride = cairo_image_surface_get_stride(im->sf);
    im->px = cairo_image_surface_get_data(im->sf);
    cairo_format_t fmt = cairo_image_surface_get_format(im->sf);
    ck_assert(fmt == CAIRO_FORMAT_RGB24 || fmt == CAIRO_FORMAT_ARGB32);
}

/* Pixels of exactly colour 0xRRGGBB inside [x0, x1) x [y0, y1). */
static int count_colour(const image *im, uint32_t colour, double x0, double y0, double x1, double y1) {
    int n = 0;
    for (int y = (int)fmax(0, y0); y < (int)fmin(im->h, y1); y++) {
        const uint32_t *row = (const uint32_t *)(im->px + (size_t)y * (size_t)im->stride);
        for (int x = (int)fmax(0, x0); x < (int)fmin(im->w, x1); x++) n += (row[x] & 0xffffff) == colour;
    }
    return n;
}

static int count_in_panel(const image *im, const vc_plot_layout *lay, int k, uint32_t colour) {
    const double *p = lay->panel[k];
    return count_colour(im, colour, p[0], p[1], p[0] + p[2], p[1] + p[3]);
}

START_TEST(test_png_has_the_asked_size_and_each_runs_colour) {
    char dirs[3][600], png[600];
    char *a = make_log(200, 5, 20, 4.0, 60), *b = make_log(300, 10, 50, 3.0, 35), *c = make_log(150, 1, 0, 5.0, 0);
    make_run(dirs[0], sizeof dirs[0], "alpha", a);
    make_run(dirs[1], sizeof dirs[1], "beta", b);
    make_run(dirs[2], sizeof dirs[2], "gamma", c);
    free(a), free(b), free(c);
    vc_run_log runs[3];
    for (int i = 0; i < 3; i++) ck_assert_msg(vc_run_log_read(dirs[i], &runs[i]) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(runs[2].n_val, 0);
    tmp_path(png, sizeof png, "three.png");
    vc_plot_opts o = {900, 420};
    vc_plot_layout lay;
    ck_assert_msg(vc_plot_runs(runs, 3, png, &o, &lay) == VC_OK, "%s", vc_last_error());
    image im;
    image_load(&im, png);
    ck_assert_int_eq(im.w, 900);
    ck_assert_int_eq(im.h, 420);
    for (int k = 0; k < 2; k++) /* the panels are inside the picture, side by side */
        ck_assert(lay.panel[k][0] >= 0 && lay.panel[k][2] > 100 && lay.panel[k][3] > 100 &&
                  lay.panel[k][0] + lay.panel[k][2] <= 900 && lay.panel[k][1] + lay.panel[k][3] <= 420);
    ck_assert(lay.panel[0][0] + lay.panel[0][2] < lay.panel[1][0]);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < i; j++) ck_assert_msg(lay.colour[i] != lay.colour[j], "runs %d and %d share a colour", i, j);
        int all = count_colour(&im, lay.colour[i], 0, 0, im.w, im.h);
        int loss = count_in_panel(&im, &lay, 0, lay.colour[i]), val = count_in_panel(&im, &lay, 1, lay.colour[i]);
        /* legend swatch (outside the panels) + lines */
        ck_assert_msg(all - loss - val >= 50, "run %d: %06x not in the legend (%d pixels outside the panels)", i,
                      lay.colour[i], all - loss - val);
        ck_assert_msg(loss >= 100, "run %d: only %d pixels of %06x in the loss panel", i, loss, lay.colour[i]);
        if (i < 2) ck_assert_msg(val >= 100, "run %d: only %d pixels of %06x in the R@1 panel", i, val, lay.colour[i]);
        else ck_assert_msg(val == 0, "run gamma has no evaluation but %d pixels of its colour in the R@1 panel", val);
    }
    /* a colour of a run not drawn is nowhere */
    ck_assert_int_eq(count_colour(&im, 0xd62728, 0, 0, im.w, im.h), 0);
    cairo_surface_destroy(im.sf);
    for (int i = 0; i < 3; i++) vc_run_log_free(&runs[i]);
}
END_TEST

START_TEST(test_plot_errors_leave_no_file) {
    char dir[600], png[700];
    char *a = make_log(20, 1, 5, 2.0, 50);
    make_run(dir, sizeof dir, "small", a);
    free(a);
    vc_run_log r;
    ck_assert(vc_run_log_read(dir, &r) == VC_OK);
    vc_plot_opts tiny = {100, 50};
    tmp_path(png, sizeof png, "tiny.png");
    ck_assert(vc_plot_runs(&r, 1, png, &tiny, NULL) == VC_ERR_ARG);
    ck_assert_msg(strstr(vc_last_error(), "100 x 50"), "%s", vc_last_error());
    ck_assert(!exists(png));
    ck_assert(vc_plot_runs(&r, 0, png, NULL, NULL) == VC_ERR_ARG);
    ck_assert(vc_plot_runs(&r, VC_PLOT_MAX_RUNS + 1, png, NULL, NULL) == VC_ERR_ARG);
    tmp_path(png, sizeof png, "no_such_dir/x.png");
    ck_assert(vc_plot_runs(&r, 1, png, NULL, NULL) == VC_ERR_IO);
    ck_assert_msg(strstr(vc_last_error(), png), "%s", vc_last_error());
    /* a single-point run and equal values still give a picture */
    r.n_loss = 1;
    r.n_val = 1;
    tmp_path(png, sizeof png, "one_point.png");
    ck_assert_msg(vc_plot_runs(&r, 1, png, NULL, NULL) == VC_OK, "%s", vc_last_error());
    image im;
    image_load(&im, png);
    ck_assert(im.w == 1200 && im.h == 480);
    cairo_surface_destroy(im.sf);
    r.n_loss = 20;
    vc_run_log_free(&r);
    glob_t g;
    char pattern[700];
    tmp_path(pattern, sizeof pattern, "*.tmp.*");
    ck_assert_msg(glob(pattern, 0, NULL, &g) == GLOB_NOMATCH, "a temporary file was left behind");
}
END_TEST

/* ---- the command ---- */


/* Runs `vclip ARGS` (NULL-terminated); stdout+stderr into *text (free it). */
static int run_vclip(char **text, const char *const *args) {
    char out[700];
    tmp_path(out, sizeof out, "vclip.out");
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        const char *argv[16] = {vc_test_vclip_bin()};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(vc_test_vclip_bin(), (char *const *)argv);
        _exit(127);
    }
    int st;
    ck_assert(waitpid(pid, &st, 0) == pid);
    FILE *f = fopen(out, "r");
    ck_assert(f);
    *text = calloc(1, 65536);
    ck_assert(*text);
    size_t n = fread(*text, 1, 65535, f);
    (*text)[n] = '\0';
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(test_command_writes_the_default_size_and_says_what_it_drew) {
    char d1[600], d2[600], png[700], *text;
    char *a = make_log(100, 10, 20, 3.0, 40), *b = make_log(100, 10, 0, 2.0, 0);
    make_run(d1, sizeof d1, "cli_a", a);
    make_run(d2, sizeof d2, "cli_b", b);
    free(a), free(b);
    tmp_path(png, sizeof png, "cli.png");
    const char *args[] = {"plot", d1, d2, "--out", png, NULL};
    int rc = run_vclip(&text, args);
    ck_assert_msg(rc == 0, "vclip plot failed (%d): %s", rc, text);
    ck_assert_msg(strstr(text, "wrote") && strstr(text, "cli_a") && strstr(text, "1200 x 480"), "%s", text);
    ck_assert_msg(strstr(text, "cli_b has no evaluation records"), "no note about cli_b: %s", text);
    free(text);
    image im;
    image_load(&im, png);
    ck_assert(im.w == 1200 && im.h == 480);
    cairo_surface_destroy(im.sf);
    const char *sized[] = {"plot", d1, "--out", png, "--width", "640", "--height", "360", NULL};
    rc = run_vclip(&text, sized);
    ck_assert_msg(rc == 0, "%s", text);
    free(text);
    image_load(&im, png);
    ck_assert(im.w == 640 && im.h == 360);
    cairo_surface_destroy(im.sf);
}
END_TEST

START_TEST(test_command_errors_are_one_line_and_write_nothing) {
    char d1[600], missing[600], png[700], *text;
    char *a = make_log(50, 10, 10, 3.0, 40);
    make_run(d1, sizeof d1, "cli_ok", a);
    free(a);
    tmp_path(missing, sizeof missing, "cli_missing");
    tmp_path(png, sizeof png, "cli_err.png");
    const struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        {{"plot", d1, missing, "--out", png, NULL}, missing},
        {{"plot", d1, NULL}, "usage"},
        {{"plot", "--out", png, NULL}, "usage"},
        {{"plot", d1, "--out", png, "--width", "wide", NULL}, "--width"},
        {{"plot", d1, "--out", png, "--height", "10", NULL}, "x 10"},
        {{"plot", d1, "--out", png, "--colour", NULL}, "--colour"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run_vclip(&text, cases[i].args);
        ck_assert_msg(rc == 1, "case %zu: exit %d: %s", i, rc, text);
        ck_assert_msg(strncmp(text, "vclip plot: ", 12) == 0 && strchr(text, '\n') == text + strlen(text) - 1,
                      "case %zu: not one error line: %s", i, text);
        ck_assert_msg(strstr(text, cases[i].says), "case %zu: '%s' not in: %s", i, cases[i].says, text);
        ck_assert_msg(!exists(png), "case %zu wrote %s", i, png);
        free(text);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("library");
    tcase_add_test(tc, test_log_reads_with_the_resume_rule_and_ignores_a_torn_last_line);
    tcase_add_test(tc, test_log_cut_drops_the_records_past_the_resume_step_and_a_torn_line);
    tcase_add_test(tc, test_log_errors_name_the_file_and_line);
    tcase_add_test(tc, test_png_has_the_asked_size_and_each_runs_colour);
    tcase_add_test(tc, test_plot_errors_leave_no_file);
    suite_add_tcase(s, tc);
    if (!vc_test_vclip_bin()) {
        printf("SKIP: vclip plot command tests (VCLIP_BIN is not set; run them with make test)\n");
        return s;
    }
    TCase *cli = tcase_create("command");
    tcase_add_test(cli, test_command_writes_the_default_size_and_says_what_it_drew);
    tcase_add_test(cli, test_command_errors_are_one_line_and_write_nothing);
    suite_add_tcase(s, cli);
    return s;
}

VC_TEST_MAIN(make_suite)
