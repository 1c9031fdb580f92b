/* test_damage.c: a damaged HDF5 dataset never crashes or hangs a command
 * (data/h5_guard.h, tools/h5_safety.c, data/FORMAT.md "Damaged files").
 *  - files that crashed libhdf5 inside `vclip embed` (found by the damage
 *    campaign, kept gzipped in tests/fuzz/regress/h5/) give train, eval,
 *    embed and search one line naming the file;
 *  - the check runs once per file version (its cache), not per command;
 *  - a fault inside libhdf5 in the middle of a run (a crash, an abort, a
 *    call that never returns: made on demand by the LD_PRELOAD shim
 *    tests/fuzz/h5_fault.c, since a file damaged after it was opened is
 *    mostly served from libhdf5's caches) stops the run with one line
 *    naming the file; the last checkpoint stays intact and --resume ends
 *    bit-identical to a run that was never interrupted;
 *  - a crash outside libhdf5 is not disguised as a damaged file;
 *  - a small slice of the damage campaign (tests/fuzz/h5_campaign.c) runs
 *    clean. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "tensor/safetensors.h"
#include "tests/harness.h"




/* The shim next to the tests (build/tests/h5_fault.so beside build/vclip). */
static const char *shim(void) {
    static char p[1024];
    snprintf(p, sizeof p, "%s", vc_test_vclip_bin());
    char *slash = strrchr(p, '/');
    snprintf(slash ? slash + 1 : p, sizeof p - (size_t)(slash ? slash + 1 - p : 0), "tests/h5_fault.so");
    return p;
}

/* Environment for a run under the shim (ASan refuses a library preloaded
 * before its runtime unless told not to check). */
static const char *shim_env(const char *mode, const char *after) {
    static char e[4096];
    snprintf(e, sizeof e, "LD_PRELOAD='%s' ASAN_OPTIONS=\"$ASAN_OPTIONS:verify_asan_link_order=0\" H5FAULT_MODE=%s%s%s%s",
             shim(), mode, after ? " H5FAULT_AFTER_FILE='" : "", after ? after : "", after ? "'" : "");
    return e;
}

/* ---- fixture: one data file, a trained checkpoint, a tiny CLIP (made once) ---- */

static char g_data[1024], g_ckpt[1024];
static int g_fixture = -1;

static void fixture(void) {
    if (g_fixture >= 0) {
        ck_assert_msg(g_fixture == 1, "fixture failed earlier");
        return;
    }
    g_fixture = 0;
    char cmd[4096];
    snprintf(g_data, sizeof g_data, "%s", vc_test_path("data.h5"));
    snprintf(g_ckpt, sizeof g_ckpt, "%s", vc_test_path("base_run/last.safetensors"));
    struct stat sb;
    if (stat(g_ckpt, &sb) == 0) { /* made by an earlier test (each runs in its own process) */
        g_fixture = 1;
        return;
    }
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --videos 300 --dim 32 --seed 5 > /dev/null", vc_test_vclip_bin(), g_data);
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    vc_test_write_text(vc_test_path("base.ini"), "[data]\nframes = 8\n[model]\ntype = mean\ntext_head = linear\n[train]\nbatch = 16\n"
                                  "steps = 4\n[eval]\nbatch = 64\n");
    snprintf(cmd, sizeof cmd,
             "'%s' train '%s' --set data.file='%s' --set train.out_dir='%s' > /dev/null 2> '%s'", vc_test_vclip_bin(),
             vc_test_path("base.ini"), g_data, vc_test_path("base_run"), vc_test_path("base_run.err"));
    ck_assert_msg(vc_test_sh(cmd) == 0, "%s", vc_test_last_line(vc_test_path("base_run.err")));
    snprintf(g_ckpt, sizeof g_ckpt, "%s", vc_test_path("base_run/last.safetensors"));
    /* the campaign's tiny CLIP and vocabulary (search): made by the campaign
     * tool itself in test_campaign_slice; here a search needs its own */
    g_fixture = 1;
}

/* ---- kept files that crashed libhdf5 ---- */

#ifndef VC_SRC_DIR
#define VC_SRC_DIR "."
#endif

static int gunzip_to(const char *src, const char *dst) {
    gzFile g = gzopen(src, "rb");
    if (!g) return -1;
    FILE *f = fopen(dst, "wb");
    char buf[65536];
    int n, ok = f != NULL;
    while (ok && (n = gzread(g, buf, sizeof buf)) > 0) ok = fwrite(buf, 1, (size_t)n, f) == (size_t)n;
    gzclose(g);
    if (f) fclose(f);
    return ok ? 0 : -1;
}

START_TEST(test_files_that_crashed_libhdf5_give_one_line_errors) {
    fixture();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/h5", getenv("VC_SRC_DIR") ? getenv("VC_SRC_DIR") : VC_SRC_DIR);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "ls '%s'/*.h5.gz > '%s' 2>/dev/null", dir, vc_test_path("kept.list"));
    vc_test_sh(cmd);
    char *list = vc_test_read_file(vc_test_path("kept.list"), NULL);
    ck_assert_msg(list && *list, "no kept files in %s", dir);
    int files = 0, caught = 0;
    for (char *save = NULL, *gz = strtok_r(list, "\n", &save); gz; gz = strtok_r(NULL, "\n", &save)) {
        const char *f = vc_test_path("kept.h5");
        ck_assert_int_eq(gunzip_to(gz, f), 0);
        const char *cmds[4][2] = {{"train", ""}, {"eval", ""}, {"embed", ""}, {"search", ""}};
        for (int c = 0; c < 4; c++) {
            const char *err = vc_test_path("kept.err");
            if (c == 0)
                snprintf(cmd, sizeof cmd, "'%s' train '%s' --set data.file='%s' --set train.out_dir='%s' >/dev/null 2>'%s'",
                         vc_test_vclip_bin(), vc_test_path("base.ini"), f, vc_test_path("kept_run"), err);
            else if (c == 1)
                snprintf(cmd, sizeof cmd, "'%s' eval '%s' --set data.file='%s' --checkpoint '%s' >/dev/null 2>'%s'",
                         vc_test_vclip_bin(), vc_test_path("base.ini"), f, g_ckpt, err);
            else if (c == 2)
                snprintf(cmd, sizeof cmd, "'%s' embed '%s' --data '%s' --out '%s' >/dev/null 2>'%s'", vc_test_vclip_bin(), g_ckpt,
                         f, vc_test_path("kept_out.h5"), err);
            else
                snprintf(cmd, sizeof cmd, "'%s' search --clip '%s' --data '%s' hello >/dev/null 2>'%s'", vc_test_vclip_bin(),
                         g_ckpt, f, err);
            char full[9000];
            snprintf(full, sizeof full, "VCLIP_H5_STALL_SECONDS=3 %s", cmd);
            int rc = vc_test_sh(full);
            const char *l = vc_test_last_line(err);
            ck_assert_msg(rc == 1, "%s: vclip %s exit status %d: %s", gz, cmds[c][0], rc, l);
            char want[64];
            snprintf(want, sizeof want, "vclip %s: ", cmds[c][0]);
            ck_assert_msg(strncmp(l, want, strlen(want)) == 0 && strstr(l, f), "%s: %s", gz, l);
            caught += strstr(l, "corrupt HDF5 file") != NULL;
        }
        struct stat sb;
        ck_assert_msg(stat(vc_test_path("kept_out.h5"), &sb) != 0, "embed left an output for %s", gz);
        files++;
    }
    free(list);
    printf("damage: %d kept files through train, eval, embed and search: every run one line naming the file, %d of "
           "them \"corrupt HDF5 file\" (libhdf5 crashed or hung in the check)\n", files, caught);
}
END_TEST

/* ---- the check's cache ---- */

static int count_lines(const char *path) {
    char *t = vc_test_read_file(path, NULL);
    int n = 0;
    for (char *p = t; p && *p; p++) n += *p == '\n';
    free(t);
    return n;
}

START_TEST(test_check_runs_once_per_file_version) {
    fixture();
    char cache[1024], f[1024];
    snprintf(cache, sizeof cache, "%s", vc_test_path("cache/checked-h5"));
    snprintf(f, sizeof f, "%s", vc_test_path("cached.h5"));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", g_data, f);
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "VCLIP_CHECK_CACHE='%s' '%s' embed '%s' --data '%s' --out '%s' >/dev/null 2>&1", cache,
                 vc_test_vclip_bin(), g_ckpt, f, vc_test_path(i ? "c1.h5" : "c0.h5"));
        ck_assert_int_eq(vc_test_sh(cmd), 0);
        ck_assert_int_eq(count_lines(cache), 1); /* checked the first time only */
    }
    /* a new version of the file (rewritten: new mtime and ctime) is checked again */
    sleep(1);
    snprintf(cmd, sizeof cmd,
             "cp '%s' '%s.new' && mv '%s.new' '%s' && VCLIP_CHECK_CACHE='%s' '%s' embed '%s' --data '%s' --out '%s' "
             ">/dev/null 2>'%s'", g_data, f, f, f, cache, vc_test_vclip_bin(), g_ckpt, f, vc_test_path("c2.h5"), vc_test_path("c2.err"));
    ck_assert_msg(vc_test_sh(cmd) == 0, "%s", vc_test_last_line(vc_test_path("c2.err")));
    ck_assert_int_eq(count_lines(cache), 2);
    /* the default place is under $XDG_CACHE_HOME; "off" writes nothing */
    snprintf(cmd, sizeof cmd, "XDG_CACHE_HOME='%s' '%s' embed '%s' --data '%s' --out '%s' >/dev/null 2>&1",
             vc_test_path("xdg"), vc_test_vclip_bin(), g_ckpt, f, vc_test_path("c3.h5"));
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    ck_assert_int_eq(count_lines(vc_test_path("xdg/vclip/checked-h5")), 1);
    snprintf(cmd, sizeof cmd, "VCLIP_CHECK_CACHE=off XDG_CACHE_HOME='%s' '%s' embed '%s' --data '%s' --out '%s' "
             ">/dev/null 2>&1", vc_test_path("xdg2"), vc_test_vclip_bin(), g_ckpt, f, vc_test_path("c4.h5"));
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    struct stat sb;
    ck_assert_int_ne(stat(vc_test_path("xdg2/vclip/checked-h5"), &sb), 0);
}
END_TEST

/* ---- faults in the middle of a run ---- */

/* Tensors of two checkpoints are equal, bit for bit. */
static void assert_same_tensors(const char *a, const char *b) {
    vc_st_file *fa, *fb;
    ck_assert_msg(vc_st_open(&fa, a, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(vc_st_open(&fb, b, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(vc_st_count(fa), vc_st_count(fb));
    for (int i = 0; i < vc_st_count(fa); i++) {
        const vc_st_tensor *ta = vc_st_at(fa, i), *tb = vc_st_find(fb, ta->name);
        ck_assert_msg(tb && ta->nbytes == tb->nbytes, "tensor '%s' missing or resized", ta->name);
        ck_assert_msg(memcmp(ta->data, tb->data, ta->nbytes) == 0, "tensor '%s' differs", ta->name);
    }
    vc_st_close(fa);
    vc_st_close(fb);
}

/* Streaming (mem_budget_mb = 1 < the file's 1.4 MB of frames), a checkpoint
 * every 10 steps, so reads go on after the first checkpoint. */
static void mid_cfg(const char *name, char *ini, size_t n, char *dir, size_t dn) {
    snprintf(ini, n, "%s", vc_test_path(name));
    snprintf(dir, dn, "%.1000s.run", ini);
    char text[4096];
    snprintf(text, sizeof text,
             "[data]\nfile = %s\nframes = 8\nmem_budget_mb = 1\n[model]\ntype = mean\ntext_head = linear\n[train]\n"
             "batch = 16\nsteps = 40\ncheckpoint_every = 10\neval_every = 20\nout_dir = %s\n",
             g_data, dir);
    vc_test_write_text(ini, text);
}

static void fault_mid_run(const char *mode, const char *expect) {
    fixture();
    char ref[1024], ref_dir[1024], ini[1024], dir[1024], cmd[8192];
    char name[64];
    snprintf(name, sizeof name, "ref_%s.ini", mode);
    mid_cfg(name, ref, sizeof ref, ref_dir, sizeof ref_dir);
    snprintf(cmd, sizeof cmd, "'%s' train '%s' > /dev/null 2>&1", vc_test_vclip_bin(), ref);
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    snprintf(name, sizeof name, "mid_%s.ini", mode);
    mid_cfg(name, ini, sizeof ini, dir, sizeof dir);
    char last[1100], err[1100];
    snprintf(last, sizeof last, "%s/last.safetensors", dir);
    snprintf(err, sizeof err, "%s.err", ini);
    /* the fault comes with the first read after the first checkpoint */
    snprintf(cmd, sizeof cmd, "%s VCLIP_H5_STALL_SECONDS=2 timeout -s KILL 120 '%s' train '%s' > /dev/null 2> '%s'",
             shim_env(mode, last), vc_test_vclip_bin(), ini, err);
    int rc = vc_test_sh(cmd);
    const char *l = vc_test_last_line(err);
    ck_assert_msg(rc == 1, "train under H5FAULT_MODE=%s: exit status %d (%s)", mode, rc, l);
    char want[2048];
    snprintf(want, sizeof want, "vclip train: %s: corrupt HDF5 file: the HDF5 library %s", g_data, expect);
    ck_assert_msg(strncmp(l, want, strlen(want)) == 0, "got: %s\nwant: %s", l, want);
    ck_assert_msg(strstr(l, "--resume"), "%s", l);
    /* the checkpoint written before the fault is whole */
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, last, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    vc_st_close(f);
    /* the file is fine again (replaced): --resume ends where the uninterrupted run ended */
    snprintf(cmd, sizeof cmd, "'%s' train '%s' --resume > /dev/null 2> '%s'", vc_test_vclip_bin(), ini, err);
    ck_assert_msg(vc_test_sh(cmd) == 0, "resume: %s", vc_test_last_line(err));
    char ref_last[1100];
    snprintf(ref_last, sizeof ref_last, "%s/last.safetensors", ref_dir);
    assert_same_tensors(ref_last, last);
}

START_TEST(test_crash_inside_libhdf5_mid_run_stops_train_with_checkpoint_intact) {
    fault_mid_run("segv", "crashed (signal 11) while reading it");
}
END_TEST

START_TEST(test_abort_inside_libhdf5_mid_run_stops_train_with_checkpoint_intact) {
    fault_mid_run("abort", "crashed (signal 6) while reading it");
}
END_TEST

START_TEST(test_stall_inside_libhdf5_mid_run_stops_train_with_checkpoint_intact) {
    fault_mid_run("hang", "stopped responding (no progress in 2 s) while reading it");
}
END_TEST

/* eval, embed and search: a fault after the check, in the command itself */
START_TEST(test_crash_inside_libhdf5_stops_eval_embed_search) {
    fixture();
    char cmd[8192];
    const char *err = vc_test_path("cmd_fault.err"), *out = vc_test_path("fault_out.h5");
    for (int c = 0; c < 3; c++) {
        const char *name = c == 0 ? "eval" : c == 1 ? "embed" : "search";
        if (c == 0)
            snprintf(cmd, sizeof cmd, "%s '%s' eval '%s' --set data.file='%s' --checkpoint '%s' > /dev/null 2> '%s'",
                     shim_env("segv", NULL), vc_test_vclip_bin(), vc_test_path("base.ini"), g_data, g_ckpt, err);
        else if (c == 1)
            snprintf(cmd, sizeof cmd, "%s '%s' embed '%s' --data '%s' --out '%s' > /dev/null 2> '%s'",
                     shim_env("segv", NULL), vc_test_vclip_bin(), g_ckpt, g_data, out, err);
        else
            snprintf(cmd, sizeof cmd, "%s '%s' search --clip '%s' --data '%s' --vocab x hello > /dev/null 2> '%s'",
                     shim_env("segv", NULL), vc_test_vclip_bin(), g_ckpt, g_data, err);
        int rc = vc_test_sh(cmd);
        const char *l = vc_test_last_line(err);
        char want[2048];
        snprintf(want, sizeof want, "vclip %s: %s: corrupt HDF5 file: the HDF5 library crashed (signal 11) while reading",
                 name, g_data);
        ck_assert_msg(rc == 1 && strncmp(l, want, strlen(want)) == 0, "%s: exit status %d: %s", name, rc, l);
    }
    struct stat sb;
    ck_assert_msg(stat(out, &sb) != 0, "embed left %s", out);
}
END_TEST

/* A crash that is not inside libhdf5 keeps its signal: the guard only
 * explains faults it can attribute to a file. */
START_TEST(test_fault_outside_libhdf5_is_not_disguised) {
    fixture();
    char ini[1024], dir[1024], cmd[8192];
    mid_cfg("outside.ini", ini, sizeof ini, dir, sizeof dir);
    vc_test_write_text(ini, "[data]\nframes = 8\n[model]\ntype = transformer\nlayers = 2\n[train]\nbatch = 16\nsteps = 100000\n");
    snprintf(cmd, sizeof cmd,
             "'%s' train '%s' --set data.file='%s' --set train.out_dir='%s' > /dev/null 2>'%s' & pid=$!; "
             "sleep 2; kill -SEGV $pid; wait $pid 2>/dev/null",
             vc_test_vclip_bin(), ini, g_data, dir, vc_test_path("outside.err"));
    int rc = vc_test_sh(cmd);
    ck_assert_msg(rc == 128 + SIGSEGV, "exit status %d (%s)", rc, vc_test_last_line(vc_test_path("outside.err")));
    ck_assert_msg(!strstr(vc_test_last_line(vc_test_path("outside.err")), "corrupt HDF5"), "%s", vc_test_last_line(vc_test_path("outside.err")));
}
END_TEST

/* ---- a slice of the damage campaign ---- */

#define main h5_campaign_main
#include "tests/fuzz/h5_campaign.c"
#undef main

START_TEST(test_campaign_slice_has_no_crash_or_hang) {
    const char *out = vc_test_path("campaign.out");
    fflush(stdout);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout)) _exit(3);
        char *argv[] = {"h5_campaign", "--vclip", (char *)vc_test_vclip_bin(), "--files", "12", "--videos", "60", "--dim", "16",
                        "--timeout", "60", "--work", (char *)vc_test_path("campaign"), NULL};
        int rc = h5_campaign_main(13, argv);
        fflush(stdout);
        _exit(rc);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    char *o = vc_test_read_file(out, NULL);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "campaign slice: %s", o ? o : "");
    ck_assert_ptr_nonnull(strstr(o, "0 crashes, 0 hangs"));
    free(o);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("damage");
    TCase *t = tcase_create("damage");
    tcase_set_timeout(t, 300);
    if (!vc_test_vclip_bin()) {
        printf("SKIP: damaged-file tests (VCLIP_BIN is not set; run them with make test)\n");
    } else {
        tcase_add_test(t, test_files_that_crashed_libhdf5_give_one_line_errors);
        tcase_add_test(t, test_check_runs_once_per_file_version);
        tcase_add_test(t, test_crash_inside_libhdf5_mid_run_stops_train_with_checkpoint_intact);
        tcase_add_test(t, test_abort_inside_libhdf5_mid_run_stops_train_with_checkpoint_intact);
        tcase_add_test(t, test_stall_inside_libhdf5_mid_run_stops_train_with_checkpoint_intact);
        tcase_add_test(t, test_crash_inside_libhdf5_stops_eval_embed_search);
        tcase_add_test(t, test_fault_outside_libhdf5_is_not_disguised);
        tcase_add_test(t, test_campaign_slice_has_no_crash_or_hang);
    }
    suite_add_tcase(s, t);
    (void)vc_test_tmpdir(); /* one scratch directory for every test's process */
    return s;
}

VC_TEST_MAIN(make_suite)
