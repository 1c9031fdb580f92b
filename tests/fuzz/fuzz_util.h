/* fuzz_util.h: what the libFuzzer harnesses in tests/fuzz/ share (header
 * only, each harness is one program). A harness is tests/fuzz/fuzz_NAME.c
 * with LLVMFuzzerTestOneInput; `make fuzz` links it with libFuzzer (clang,
 * ASan + UBSan), `make test` links it with tests/fuzz/replay.c, which runs
 * it on tests/fuzz/corpus/NAME/ and tests/fuzz/regress/NAME/ (inputs that
 * once failed). tests/fuzz/README.md says how to run and extend them.
 *
 * Most of vclip's readers take a path, so inputs are handed over as files:
 * fuzz_file() puts the bytes into an in-memory file (memfd) and returns a
 * path to it, and fuzz_dir() is a private scratch directory for outputs
 * (removed at exit). */
#ifndef VC_FUZZ_UTIL_H
#define VC_FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path that reads as data[0, size). slot 0..7: harnesses that need several
 * files at once use several slots; a slot is rewritten on every call. The
 * path is /proc/self/fd/N, stable for the process. Aborts when the memfd
 * cannot be made (the harness cannot run at all then). */
static inline const char *fuzz_file(int slot, const void *data, size_t size) {
    static int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    static char paths[8][32];
    if (slot < 0 || slot >= 8) abort();
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("vclip-fuzz", 0);
        if (fds[slot] < 0) {
            perror("fuzz_file: memfd_create");
            abort();
        }
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) != 0) abort();
    const char *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fds[slot], p + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return paths[slot];
}

static inline void fuzz_rm_rf(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat sb;
            if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) fuzz_rm_rf(p);
            else unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static char fuzz_dir_path[256];
static pid_t fuzz_dir_owner;
/* Only the process that made the directory removes it (a forked child that
 * exits must not remove its parent's). */
static inline void fuzz_dir_cleanup(void) {
    if (fuzz_dir_path[0] && getpid() == fuzz_dir_owner) fuzz_rm_rf(fuzz_dir_path);
}

/* A scratch directory of this process ($TMPDIR or /tmp), removed at exit. */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0] || fuzz_dir_owner != getpid()) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/vclip-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) {
            perror("fuzz_dir: mkdtemp");
            abort();
        }
        if (!fuzz_dir_owner) atexit(fuzz_dir_cleanup);
        fuzz_dir_owner = getpid();
    }
    return fuzz_dir_path;
}

/* The same as a regular file in fuzz_dir() (libhdf5 cannot open a memfd
 * by its /proc path: it resolves the real path of every file it opens). */
static inline const char *fuzz_real_file(int slot, const void *data, size_t size) {
    static char path[8][300];
    if (slot < 0 || slot >= 8) abort();
    snprintf(path[slot], sizeof path[slot], "%s/input-%d", fuzz_dir(), slot);
    FILE *f = fopen(path[slot], "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror("fuzz_real_file");
        abort();
    }
    return path[slot];
}

/* A NUL-terminated copy of data[0, size) (free it). */
static inline char *fuzz_str(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
