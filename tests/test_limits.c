/* test_limits.c: resources running out give one line and exit status 1,
 * never a crash, a hang or a half-written output.
 *  - a full disk (a small tmpfs) while train writes a checkpoint (the last
 *    complete one stays, and --resume finishes once there is room), while
 *    import-npy, encode-video, encode-text (in place: the file stays as it
 *    was), export and embed write;
 *  - an output folder that cannot be written (a read-only mount: as root,
 *    permission bits would not stop the write);
 *  - an address-space limit (ulimit -v) too small for vclip itself
 *    (OpenBLAS's buffers: tools/limits.c) and too small for the model;
 *  - a dataset larger than the memory allowed, with streaming off
 *    ([data] mem_budget_mb above the dataset).
 * Mounting needs root; without it those tests print SKIP. Under a
 * sanitizer, whose runtime reserves terabytes of address space, the
 * ulimit tests print SKIP. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "models/clip.h"
#include "tensor/safetensors.h"
#include "tests/harness.h"




static long file_size(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Runs `vclip ARGS` (a shell fragment); asserts exit status 1 and a last
 * stderr line "vclip CMD: ..." holding want. */
static void expect_error(const char *cmd, const char *args, const char *want) {
    char line[8192];
    const char *err = vc_test_path("cmd.err");
    snprintf(line, sizeof line, "timeout -s KILL 300 '%s' %s %s > /dev/null 2> '%s'", vc_test_vclip_bin(), cmd, args, err);
    int rc = vc_test_sh(line);
    const char *l = vc_test_last_line(err);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "vclip %s: ", cmd);
    ck_assert_msg(rc == 1, "vclip %s %s: exit status %d (%s)", cmd, args, rc, l);
    ck_assert_msg(strncmp(l, prefix, strlen(prefix)) == 0 && strstr(l, want), "vclip %s: '%s' lacks '%s'", cmd, l,
                  want);
}

static void expect_ok(const char *cmd, const char *args) {
    char line[8192];
    const char *err = vc_test_path("ok.err");
    snprintf(line, sizeof line, "'%s' %s %s > /dev/null 2> '%s'", vc_test_vclip_bin(), cmd, args, err);
    ck_assert_msg(vc_test_sh(line) == 0, "vclip %s %s: %s", cmd, args, vc_test_last_line(err));
}

/* No file of dir is a temporary one (NAME.tmp.PID) and, when name is not
 * NULL, none is called name. */
static void expect_no_leftovers(const char *dir, const char *name) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.tmp*' | grep -q .", dir);
    ck_assert_msg(vc_test_sh(cmd) != 0, "a temporary file was left in %s", dir);
    if (name) {
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        ck_assert_msg(file_size(p) < 0, "%s was written", p);
    }
}

/* ---- mounts ---- */

static bool mount_tmpfs(const char *dir, const char *opts) {
    char cmd[2048];
    mkdir(dir, 0755);
    snprintf(cmd, sizeof cmd, "mount -t tmpfs -o '%s' tmpfs '%s' 2>/dev/null", opts, dir);
    return vc_test_sh(cmd) == 0;
}

static const char *const mounts[] = {"full_ckpt", "full_import", "full_encode", "full_text", "full_out", "ro"};

static void umount_all(void) {
    for (size_t i = 0; i < sizeof mounts / sizeof *mounts; i++) {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "umount -l '%s' 2>/dev/null", vc_test_path(mounts[i]));
        (void)!system(cmd);
    }
}

static bool g_can_mount = false;

#define NEED_MOUNT()                                                                                                    \
    do {                                                                                                               \
        if (!g_can_mount) {                                                                                            \
            printf("SKIP: %s (cannot mount a tmpfs: not root?)\n", __func__);                                          \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

/* ---- fixture: data, a trained checkpoint, a tiny CLIP and vocabulary ---- */

static char g_data[1024], g_ckpt[1024], g_clip[1024], g_vocab[1024], g_ini[1024];

static const char k_tiny_merges[] = "#version: tiny\nh e\nl l\nhe ll\nhell o</w>\nc a\nca t</w>";

static void fixture(void) {
    snprintf(g_data, sizeof g_data, "%s", vc_test_path("data.h5"));
    snprintf(g_ini, sizeof g_ini, "%s", vc_test_path("t.ini"));
    snprintf(g_ckpt, sizeof g_ckpt, "%s", vc_test_path("base/last.safetensors"));
    snprintf(g_clip, sizeof g_clip, "%s", vc_test_path("clip.safetensors"));
    snprintf(g_vocab, sizeof g_vocab, "%s", vc_test_path("vocab.txt.gz"));
    if (file_size(g_clip) > 0) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' synth --out '%s' --videos 200 --dim 32 --seed 3 > /dev/null", vc_test_vclip_bin(), g_data);
    ck_assert_int_eq(vc_test_sh(cmd), 0);
    char text[2048];
    snprintf(text, sizeof text,
             "[data]\nfile = %s\nframes = 8\n[model]\ntype = transformer\nlayers = 2\nheads = 2\n[train]\nbatch = 16\n"
             "steps = 30\nwarmup = 2\ncheckpoint_every = 10\neval_every = 10\nout_dir = %s\n[eval]\nbatch = 64\n",
             g_data, vc_test_path("base"));
    vc_test_write_text(g_ini, text);
    expect_ok("train", g_ini);
    gzFile g = gzopen(g_vocab, "wb");
    ck_assert(g && gzwrite(g, k_tiny_merges, (unsigned)strlen(k_tiny_merges)) > 0 && gzclose(g) == Z_OK);
    vc_clip m;
    vc_clip_cfg c;
    memset(&c, 0, sizeof c);
    c.towers = VC_CLIP_BOTH;
    c.act = VC_CLIP_QUICKGELU;
    c.embed = 32;
    c.image_size = 32;
    c.patch = 16;
    c.vision = (vc_clip_tower){64, 1, 1, 128};
    c.context = 16;
    c.vocab = 520;
    c.text = (vc_clip_tower){64, 1, 1, 128};
    ck_assert_msg(vc_clip_init_random(&m, &c, 5) == VC_OK && vc_clip_save(&m, g_clip, VC_CLIP_NAMES_OPENAI) == VC_OK,
                  "%s", vc_last_error());
    vc_clip_free(&m);
}

/* ---- a full disk ---- */

static int64_t ckpt_step(const char *path) {
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, path, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    const vc_st_tensor *t = vc_st_find(f, "train.state");
    ck_assert_ptr_nonnull(t);
    int64_t step;
    memcpy(&step, t->data, sizeof step);
    vc_st_close(f);
    return step;
}

START_TEST(test_full_disk_during_checkpoint_keeps_the_last_one) {
    NEED_MOUNT();
    fixture();
    /* room for the run's files up to its first checkpoint, not for the next */
    char p[1100];
    long sizes = 0;
    const char *names[] = {"config.ini", "log.jsonl", "last.safetensors", "best.safetensors"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", vc_test_path("base"), names[i]);
        sizes += (file_size(p) + 4095) / 4096 * 4096;
    }
    char opts[64], dir[1024], args[4096];
    snprintf(opts, sizeof opts, "size=%ld", sizes + 48 * 1024);
    snprintf(dir, sizeof dir, "%s", vc_test_path("full_ckpt"));
    ck_assert(mount_tmpfs(dir, opts));
    snprintf(args, sizeof args, "'%s' --set train.out_dir='%s/run'", g_ini, dir);
    expect_error("train", args, "No space left on device");
    snprintf(p, sizeof p, "%s/run/last.safetensors", dir);
    ck_assert_int_eq(ckpt_step(p), 10); /* the checkpoint before the full disk, whole */
    expect_no_leftovers(dir, NULL);
    /* room again: the run goes on from it and ends where the uninterrupted one did */
    snprintf(args, sizeof args, "mount -o remount,size=16m '%s'", dir);
    ck_assert_int_eq(vc_test_sh(args), 0);
    snprintf(args, sizeof args, "'%s' --set train.out_dir='%s/run' --resume", g_ini, dir);
    expect_ok("train", args);
    ck_assert_int_eq(ckpt_step(p), 30);
}
END_TEST

/* A directory of 40 KEY.npy of 50 frames of 256 float32 (2 MB of frames). */
static void write_npy_dir(const char *in) {
    mkdir(in, 0755);
    /* 40 videos of 50 frames of 256 float32: 2 MB of frames */
    float *x = malloc(50 * 256 * sizeof *x);
    for (int i = 0; i < 50 * 256; i++) x[i] = (float)(i % 97) / 97.0f;
    for (int v = 0; v < 40; v++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/v%02d.npy", in, v);
        FILE *f = fopen(p, "wb");
        const char hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (50, 256), }";
        char h[118];
        memset(h, ' ', sizeof h);
        memcpy(h, hdr, sizeof hdr - 1);
        h[117] = '\n';
        fwrite("\x93NUMPY\x01\x00\x76\x00", 1, 10, f);
        fwrite(h, 1, sizeof h, f);
        fwrite(x, sizeof *x, 50 * 256, f);
        fclose(f);
    }
    free(x);
}

START_TEST(test_full_disk_during_import_leaves_no_file) {
    NEED_MOUNT();
    char in[1024], dir[1024], args[4096];
    snprintf(in, sizeof in, "%s", vc_test_path("npy_in"));
    snprintf(dir, sizeof dir, "%s", vc_test_path("full_import"));
    write_npy_dir(in);
    ck_assert(mount_tmpfs(dir, "size=256k"));
    snprintf(args, sizeof args, "--out '%s/data.h5' --dtype f32 '%s'", dir, in);
    expect_error("import-npy", args, "No space left on device");
    expect_no_leftovers(dir, "data.h5");
}
END_TEST

START_TEST(test_full_disk_during_encode_leaves_no_file) {
    NEED_MOUNT();
    fixture();
    char dir[1024], args[8192];
    /* encode-text rewrites the file in place (temporary copy + rename): a
     * full disk leaves the original as it was */
    snprintf(dir, sizeof dir, "%s", vc_test_path("full_text"));
    ck_assert(mount_tmpfs(dir, "size=1m"));
    char data[1100];
    snprintf(data, sizeof data, "%s/data.h5", dir);
    snprintf(args, sizeof args, "'%s' synth --out '%s' --videos 100 --dim 32 --seed 4 > /dev/null", vc_test_vclip_bin(), data);
    ck_assert_int_eq(vc_test_sh(args), 0);
    size_t n0 = 0;
    char *before = vc_test_read_file(data, &n0);
    snprintf(args, sizeof args, "dd if=/dev/zero of='%s/fill' bs=4k count=1000 2>/dev/null", dir);
    (void)vc_test_sh(args); /* fills what is left */
    snprintf(args, sizeof args, "--clip '%s' --vocab '%s' --data '%s'", g_clip, g_vocab, data);
    expect_error("encode-text", args, "No space left on device");
    size_t n1 = 0;
    char *after = vc_test_read_file(data, &n1);
    ck_assert_msg(n0 == n1 && memcmp(before, after, n0) == 0, "encode-text changed %s", data);
    free(before);
    free(after);
    expect_no_leftovers(dir, NULL);

    /* encode-video into a full disk */
    if (vc_test_sh("ffmpeg -version > /dev/null 2>&1") != 0) {
        printf("SKIP: encode-video on a full disk (ffmpeg is not installed)\n");
        return;
    }
    char video[1100];
    snprintf(video, sizeof video, "%s", vc_test_path("clip.mp4"));
    snprintf(args, sizeof args,
             "ffmpeg -v error -y -f lavfi -i testsrc=size=64x48:rate=10:duration=20 -c:v mpeg4 '%s'", video);
    ck_assert_int_eq(vc_test_sh(args), 0);
    snprintf(dir, sizeof dir, "%s", vc_test_path("full_encode"));
    ck_assert(mount_tmpfs(dir, "size=24k"));
    snprintf(args, sizeof args, "--clip '%s' --vocab '%s' --out '%s/new.h5' --fps 5 '%s'", g_clip, g_vocab, dir, video);
    expect_error("encode-video", args, "No space left on device");
    expect_no_leftovers(dir, "new.h5");
}
END_TEST

START_TEST(test_full_disk_during_export_and_embed_leaves_no_file) {
    NEED_MOUNT();
    fixture();
    char dir[1024], args[4096];
    snprintf(dir, sizeof dir, "%s", vc_test_path("full_out"));
    ck_assert(mount_tmpfs(dir, "size=16k"));
    snprintf(args, sizeof args, "'%s' --out '%s/pooler.safetensors'", g_ckpt, dir);
    expect_error("export", args, "No space left on device");
    expect_no_leftovers(dir, "pooler.safetensors");
    snprintf(args, sizeof args, "'%s' --data '%s' --out '%s/videos.h5'", g_ckpt, g_data, dir);
    expect_error("embed", args, "No space left on device");
    expect_no_leftovers(dir, "videos.h5");
}
END_TEST

/* ---- a folder that cannot be written ---- */

START_TEST(test_unwritable_output_folder) {
    NEED_MOUNT();
    fixture();
    char dir[1024], args[4096];
    snprintf(dir, sizeof dir, "%s", vc_test_path("ro"));
    ck_assert(mount_tmpfs(dir, "ro,size=1m"));
    snprintf(args, sizeof args, "'%s' --set train.out_dir='%s/run'", g_ini, dir);
    expect_error("train", args, "Read-only file system");
    snprintf(args, sizeof args, "'%s' --out '%s/pooler.safetensors'", g_ckpt, dir);
    expect_error("export", args, "Read-only file system");
    snprintf(args, sizeof args, "'%s' --data '%s' --out '%s/videos.h5'", g_ckpt, g_data, dir);
    expect_error("embed", args, "Read-only file system");
    snprintf(args, sizeof args, "--out '%s/s.h5' --videos 10 --dim 8", dir);
    expect_error("synth", args, "Read-only file system");
    char in[1024];
    snprintf(in, sizeof in, "%s", vc_test_path("npy_ro"));
    write_npy_dir(in);
    snprintf(args, sizeof args, "--out '%s/i.h5' '%s'", dir, in);
    expect_error("import-npy", args, "Read-only file system");
    snprintf(args, sizeof args, "'%s' --checkpoint '%s' --json '%s/eval.json'", g_ini, g_ckpt, dir);
    expect_error("eval", args, "Read-only file system");
}
END_TEST

/* ---- ulimit -v ---- */

/* `vclip ARGS` under `ulimit -v kb`, OMP_NUM_THREADS=2 (what the limits
 * below were measured with). */
static int under_limit(long kb, const char *cmd, const char *args, const char *err) {
    char line[8192];
    snprintf(line, sizeof line,
             "ulimit -v %ld && OMP_NUM_THREADS=2 timeout -s KILL 300 '%s' %s %s > /dev/null 2> '%s'", kb,
             vc_test_vclip_bin(), cmd, args, err);
    return vc_test_sh(line);
}

/* A sanitizer's runtime needs terabytes of address space: nothing starts
 * under a limit then. */
static bool limits_usable(void) {
    if (under_limit(4 << 20, "version", "", vc_test_path("probe.err")) == 0) return true;
    printf("SKIP: ulimit -v tests (vclip does not start under a 4 GB address-space limit: a sanitizer build?)\n");
    return false;
}

START_TEST(test_address_space_too_small_for_vclip) {
    if (!limits_usable()) return;
    fixture();
    const char *err = vc_test_path("ulimit.err");
    char args[4096];
    snprintf(args, sizeof args, "'%s' --set train.out_dir='%s'", g_ini, vc_test_path("ul_run"));
    /* OpenBLAS would loop for ever on its buffers: vclip stops before main() */
    int rc = under_limit(400000, "train", args, err);
    ck_assert_msg(rc == 1, "exit status %d: %s", rc, vc_test_last_line(err));
    ck_assert_msg(strstr(vc_test_last_line(err), "vclip train: the address-space limit (ulimit -v 400000 KB) is too small"),
                  "%s", vc_test_last_line(err));
    /* room for vclip, not for a transformer 2048 wide and 8 deep (1.6 GB of weights) */
    snprintf(args, sizeof args, "'%s' --set train.out_dir='%s' --set model.width=2048 --set model.layers=8", g_ini,
             vc_test_path("ul_run2"));
    rc = under_limit(900000, "train", args, err);
    ck_assert_msg(rc == 1, "exit status %d: %s", rc, vc_test_last_line(err));
    ck_assert_msg(strncmp(vc_test_last_line(err), "vclip train: ", 13) == 0 && strstr(vc_test_last_line(err), "cannot allocate"), "%s",
                  vc_test_last_line(err));
}
END_TEST

START_TEST(test_dataset_larger_than_memory_with_streaming_off) {
    if (!limits_usable()) return;
    fixture();
    char big[1024], args[4096];
    snprintf(big, sizeof big, "%s", vc_test_path("big.h5"));
    /* 110,000 frames of 256: 110 MB as float32 in memory (55 MB on disk) */
    snprintf(args, sizeof args, "'%s' synth --out '%s' --videos 6000 --dim 256 --seed 1 > /dev/null", vc_test_vclip_bin(), big);
    ck_assert_int_eq(vc_test_sh(args), 0);
    char ini[1024];
    snprintf(ini, sizeof ini, "%s", vc_test_path("ram.ini"));
    char text[2048];
    snprintf(text, sizeof text,
             "[data]\nfile = %s\nframes = 8\nmem_budget_mb = 100000\n[model]\ntype = mean\ntext_head = linear\n"
             "[train]\nbatch = 16\nsteps = 5\nout_dir = %s\n",
             big, vc_test_path("ram_run"));
    vc_test_write_text(ini, text);
    const char *err = vc_test_path("ram.err");
    int rc = under_limit(740000, "train", ini, err);
    ck_assert_msg(rc == 1, "exit status %d: %s", rc, vc_test_last_line(err));
    ck_assert_msg(strstr(vc_test_last_line(err), "vclip train: loader: cannot allocate") &&
                      strstr(vc_test_last_line(err), "to hold the dataset"),
                  "%s", vc_test_last_line(err));
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("limits");
    TCase *t = tcase_create("limits");
    tcase_set_timeout(t, 600);
    tcase_add_unchecked_fixture(t, NULL, umount_all);
    if (!vc_test_vclip_bin()) {
        printf("SKIP: resource-limit tests (VCLIP_BIN is not set; run them with make test)\n");
    } else {
        g_can_mount = mount_tmpfs(vc_test_path("probe_mount"), "size=64k");
        if (g_can_mount) {
            char cmd[2048];
            snprintf(cmd, sizeof cmd, "umount '%s'", vc_test_path("probe_mount"));
            (void)!system(cmd);
        }
        tcase_add_test(t, test_full_disk_during_checkpoint_keeps_the_last_one);
        tcase_add_test(t, test_full_disk_during_import_leaves_no_file);
        tcase_add_test(t, test_full_disk_during_encode_leaves_no_file);
        tcase_add_test(t, test_full_disk_during_export_and_embed_leaves_no_file);
        tcase_add_test(t, test_unwritable_output_folder);
        tcase_add_test(t, test_address_space_too_small_for_vclip);
        tcase_add_test(t, test_dataset_larger_than_memory_with_streaming_off);
    }
    suite_add_tcase(s, t);
    return s;
}

VC_TEST_MAIN(make_suite)
