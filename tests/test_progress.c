/* test_progress.c: the progress lines of the long commands (tools/progress.h).
 * - The duration and rate formats (tools/progress.c is compiled into this
 *   test: tools/ is not in libvclip.a).
 * - Through the built binary ($VCLIP_BIN; SKIP without it), with
 *   VCLIP_PROGRESS=plain so that phases far shorter than a real run's still
 *   print: synth, info, train (its validation), eval, embed and encode-text show
 *   each phase with done/total, percent, rate and ETA, the counts rising to
 *   the total; encode-video too where ffmpeg can make a clip. With
 *   VCLIP_PROGRESS=off, and by default for phases that end within 2 s
 *   outside a terminal, nothing is printed. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zlib.h>

#include "harness.h"
#include "models/clip.h"
#include "tools/progress.c"

/* ---- formats ---- */

START_TEST(test_durations_and_rates_read_well) {
    const struct {
        double s;
        const char *want;
    } d[] = {{0, "0s"},         {0.4, "0s"},       {12.6, "13s"},    {59.4, "59s"},    {59.6, "1m00s"},
             {61, "1m01s"},     {3599.4, "59m59s"}, {3600, "1h00m"}, {7384, "2h03m"}, {-1, "?"},
             {NAN, "?"},        {INFINITY, "?"}};
    char b[32];
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        vc_format_duration(b, sizeof b, d[i].s);
        ck_assert_msg(strcmp(b, d[i].want) == 0, "%g s: '%s', want '%s'", d[i].s, b, d[i].want);
    }
    const struct {
        double r;
        const char *want;
    } r[] = {{3.4159, "3.42"}, {36.14, "36.1"}, {812.4, "812"}, {9999, "9999"}, {24321, "24.3k"},
             {1.26e6, "1.3M"}, {NAN, "?"}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        vc_format_rate(b, sizeof b, r[i].r);
        ck_assert_msg(strcmp(b, r[i].want) == 0, "%g/s: '%s', want '%s'", r[i].r, b, r[i].want);
    }
}
END_TEST

/* ---- the commands ---- */


static char tmp[600];

static const char *tpath(const char *name) {
    static char bufs[8][700];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 700, "%s/%s", tmp, name);
    return b;
}

/* Runs `VCLIP_PROGRESS=mode vclip ARGS` (shell words); returns the exit
 * code, and stderr in *err (malloc'd). */
static int run_mode(const char *mode, const char *args, char **err) {
    char cmd[4096];
    const char *ep = tpath("stderr.txt");
    snprintf(cmd, sizeof cmd, "%s%s '%s' %s >/dev/null 2>'%s'", mode ? "VCLIP_PROGRESS=" : "env -u VCLIP_PROGRESS",
             mode ? mode : "", vc_test_vclip_bin(), args, ep);
    int rc = system(cmd);
    FILE *f = fopen(ep, "r");
    ck_assert(f);
    *err = calloc(1, 1 << 20);
    ck_assert(*err);
    size_t n = fread(*err, 1, (1 << 20) - 1, f);
    (*err)[n] = '\0';
    fclose(f);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* Checks the lines "CMD: PHASE D/T (P%), R/s, ETA X[; extra]" of phase in
 * err: at least one, every one well formed, D rising to T (in each run of
 * the phase), P = 100 D / T. Returns how many there were. */
static int assert_phase(const char *err, const char *cmd, const char *phase) {
    char head[200];
    snprintf(head, sizeof head, "%s: %s ", cmd, phase);
    int n = 0;
    long long last = -1, total = -1;
    for (const char *p = err; (p = strstr(p, head)); p++) {
        if (p != err && p[-1] != '\n') continue;
        long long d, t;
        int pct, used = 0;
        char rate[32], eta[32];
        int got = sscanf(p + strlen(head), "%lld/%lld (%d%%), %31[^/]/s, ETA %31[^;\n]%n", &d, &t, &pct, rate, eta,
                         &used);
        const char *nl = strchr(p, '\n');
        ck_assert_msg(got == 5 && used > 0, "malformed progress line: %.*s", nl ? (int)(nl - p) : 200, p);
        ck_assert_msg(d >= 0 && d <= t && t > 0 && pct == (int)(100 * d / t), "counts in: %.*s",
                      nl ? (int)(nl - p) : 200, p);
        /* a phase may run again (one evaluation after another): only after it ended */
        bool again = d < last;
        ck_assert_msg(!again || last == total, "done went down to %lld after %lld of %lld: %.*s", d, last, total,
                      nl ? (int)(nl - p) : 200, p);
        ck_assert_msg(again || total < 0 || t == total, "the total changed within a phase");
        char *end;
        double rv = strtod(rate, &end);
        ck_assert_msg(end != rate && rv >= 0 && strchr("kM", *end ? *end : 'k'), "rate '%s'", rate);
        ck_assert_msg(eta[0] != '?' && strpbrk(eta, "smh"), "ETA '%s'", eta);
        last = d;
        total = t;
        n++;
    }
    ck_assert_msg(n > 0, "no '%s' progress line in:\n%s", head, err);
    ck_assert_msg(last == total, "'%s' never reached its total %lld (last %lld)", head, total, last);
    return n;
}

static char fixture_error[2048], data[700], clip_path[700], vocab[700], cfg[700];

static void make_fixture(void) {
    snprintf(tmp, sizeof tmp, "%s", vc_test_tmpdir());
    snprintf(data, sizeof data, "%s", tpath("synth.h5"));
    char *err;
    char args[1400];
    snprintf(args, sizeof args, "synth --out '%s' --videos 1500 --dim 32 --max-frames 12 --min-frames 4", data);
    int rc = run_mode("off", args, &err);
    if (rc) snprintf(fixture_error, sizeof fixture_error, "vclip synth failed: %s", err);
    free(err);
    snprintf(cfg, sizeof cfg, "%s", tpath("run.ini"));
    FILE *f = fopen(cfg, "w");
    if (!f) {
        snprintf(fixture_error, sizeof fixture_error, "cannot write %s", cfg);
        return;
    }
    fprintf(f,
            "[data]\nfile = %s\nframes = 12\n[model]\ntype = mean\n[train]\nbatch = 32\nsteps = 20\n"
            "eval_every = 10\nlog_every = 5\nout_dir = %s\n[eval]\nsplit = test\nbatch = 64\n",
            data, tpath("run"));
    fclose(f);
    /* a tiny random CLIP (width 32, as the data) and a vocabulary of bytes */
    snprintf(clip_path, sizeof clip_path, "%s", tpath("clip.safetensors"));
    snprintf(vocab, sizeof vocab, "%s", tpath("vocab.txt.gz"));
    gzFile g = gzopen(vocab, "wb");
    const char *merges = "#version: tiny\nf i\nfi r\nt h\nth e\nthe n</w>";
    if (!g || gzwrite(g, merges, (unsigned)strlen(merges)) <= 0 || gzclose(g) != Z_OK) {
        snprintf(fixture_error, sizeof fixture_error, "cannot write %s", vocab);
        return;
    }
    vc_clip_cfg c;
    memset(&c, 0, sizeof c);
    c.towers = VC_CLIP_BOTH;
    c.act = VC_CLIP_QUICKGELU;
    c.embed = 32;
    c.image_size = 32;
    c.patch = 16;
    c.vision = (vc_clip_tower){64, 1, 1, 256};
    c.context = 16;
    c.vocab = 519; /* 512 byte tokens, 5 merges, 2 specials */
    c.text = (vc_clip_tower){64, 1, 1, 256};
    vc_clip m;
    if (vc_clip_init_random(&m, &c, 3) || vc_clip_save(&m, clip_path, VC_CLIP_NAMES_OPENAI)) {
        snprintf(fixture_error, sizeof fixture_error, "tiny CLIP: %s", vc_last_error());
        return;
    }
    vc_clip_free(&m);
}

static void need_fixture(void) { ck_assert_msg(!fixture_error[0], "%s", fixture_error); }

START_TEST(test_synth_shows_rate_and_eta) {
    need_fixture();
    char *err, args[1400];
    snprintf(args, sizeof args, "synth --out '%s' --videos 3000 --dim 16", tpath("s2.h5"));
    ck_assert_int_eq(run_mode("plain", args, &err), 0);
    ck_assert_int_ge(assert_phase(err, "synth", "videos written"), 5);
    free(err);
    /* not a terminal, default mode: a phase of well under 2 s prints nothing */
    ck_assert_int_eq(run_mode(NULL, args, &err), 0);
    ck_assert_msg(!strstr(err, "ETA"), "a short phase printed progress: %s", err);
    free(err);
    ck_assert_int_eq(run_mode("off", args, &err), 0);
    ck_assert_msg(!err[0], "VCLIP_PROGRESS=off printed: %s", err);
    free(err);
}
END_TEST

START_TEST(test_info_shows_every_set_it_checks) {
    need_fixture();
    char *err, args[1400];
    snprintf(args, sizeof args, "info '%s'", data);
    ck_assert_int_eq(run_mode("plain", args, &err), 0);
    const char *sets[] = {"frame rows checked", "caption rows checked", "ids checked", "caption texts checked",
                          "class names checked"};
    for (int i = 0; i < 5; i++) assert_phase(err, "info", sets[i]);
    free(err);
}
END_TEST

START_TEST(test_train_shows_steps_and_its_validation) {
    need_fixture();
    char *err, args[1400];
    snprintf(args, sizeof args, "train '%s'", cfg);
    ck_assert_int_eq(run_mode("plain", args, &err), 0);
    assert_phase(err, "train: validation", "videos pooled");
    assert_phase(err, "train: validation", "t2v queries ranked");
    assert_phase(err, "train: validation", "v2t queries ranked");
    ck_assert_msg(strstr(err, "step 20/20 ") && strstr(err, "samples/s ETA 0s"), "no final step line: %s", err);
    free(err);
}
END_TEST

START_TEST(test_eval_and_embed_show_every_phase) {
    need_fixture();
    char *err, args[2000];
    /* the zero-shot mean baseline needs no checkpoint */
    snprintf(args, sizeof args, "eval '%s' --set model.text_head=none --split all", cfg);
    ck_assert_int_eq(run_mode("plain", args, &err), 0);
    assert_phase(err, "eval", "videos pooled");
    assert_phase(err, "eval", "t2v queries ranked");
    assert_phase(err, "eval", "v2t queries ranked");
    free(err);
    snprintf(args, sizeof args, "train '%s' --set train.steps=2", cfg);
    ck_assert_int_eq(run_mode("off", args, &err), 0);
    free(err);
    snprintf(args, sizeof args, "embed '%s' --data '%s' --out '%s' --batch 16", tpath("run/last.safetensors"), data,
             tpath("emb.h5"));
    ck_assert_int_eq(run_mode("plain", args, &err), 0);
    ck_assert_int_ge(assert_phase(err, "embed", "videos embedded"), 5);
    free(err);
}
END_TEST

START_TEST(test_encode_text_shows_every_phase) {
    need_fixture();
    char *err, args[2000];
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", data, tpath("text.h5"));
    ck_assert(system(cmd) == 0);
    snprintf(args, sizeof args, "encode-text --clip '%s' --data '%s' --vocab '%s' --batch 64", clip_path,
             tpath("text.h5"), vocab);
    int rc = run_mode("plain", args, &err);
    ck_assert_msg(rc == 0, "encode-text failed: %s", err);
    assert_phase(err, "encode-text", "videos copied");
    assert_phase(err, "encode-text", "captions encoded");
    assert_phase(err, "encode-text", "class names encoded");
    free(err);
}
END_TEST

START_TEST(test_encode_video_shows_videos_and_frames) {
    need_fixture();
    char cmd[2000], *err, args[3000];
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "v%d.mp4", i);
        snprintf(cmd, sizeof cmd,
                 "ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=10:duration=%d -c:v mpeg4 '%s' </dev/null",
                 2 + i, tpath(name));
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
    snprintf(args, sizeof args, "encode-video --clip '%s' --out '%s' --fps 2 '%s' '%s' '%s'", clip_path,
             tpath("video.h5"), tpath("v0.mp4"), tpath("v1.mp4"), tpath("v2.mp4"));
    int rc = run_mode("plain", args, &err);
    ck_assert_msg(rc == 0, "encode-video failed: %s", err);
    assert_phase(err, "encode-video", "videos encoded");
    ck_assert_msg(strstr(err, " frames/s"), "no frame rate: %s", err);
    free(err);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("formats");
    tcase_add_test(tc, test_durations_and_rates_read_well);
    suite_add_tcase(s, tc);
    if (!vc_test_vclip_bin()) {
        printf("SKIP: progress lines of the commands (VCLIP_BIN is not set; run them with make test)\n");
        return s;
    }
    TCase *cmd = tcase_create("commands");
    tcase_set_timeout(cmd, 120);
    tcase_add_unchecked_fixture(cmd, make_fixture, NULL);
    tcase_add_test(cmd, test_synth_shows_rate_and_eta);
    tcase_add_test(cmd, test_info_shows_every_set_it_checks);
    tcase_add_test(cmd, test_train_shows_steps_and_its_validation);
    tcase_add_test(cmd, test_eval_and_embed_show_every_phase);
    tcase_add_test(cmd, test_encode_text_shows_every_phase);
    if (system("ffmpeg -version >/dev/null 2>&1") == 0)
        tcase_add_test(cmd, test_encode_video_shows_videos_and_frames);
    else
        printf("SKIP: encode-video progress (no ffmpeg command to make a clip)\n");
    suite_add_tcase(s, cmd);
    return s;
}

VC_TEST_MAIN(make_suite)
