#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

void vc_test_fill_uniform(vc_real *x, int64_t n, vc_rng *r, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) x[i] = (vc_real)(lo + (hi - lo) * vc_rng_uniform(r));
}

double vc_test_max_rel_err(const vc_real *a, const vc_real *b, int64_t n, double floor, int64_t *worst) {
    double m = 0;
    int64_t w = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double s = fabs((double)b[i]);
        double e = d / (s > floor ? s : floor);
        if (e > m || isnan(e)) {
            m = isnan(e) ? INFINITY : e;
            w = i;
        }
    }
    if (worst) *worst = w;
    return m;
}

const char *vc_test_python(void) {
    const char *p = getenv("VC_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

bool vc_torch_available(void) {
    static int cached = -1;
    if (cached < 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", vc_test_python());
        cached = system(cmd) == 0;
    }
    return cached;
}

static char tmpdir_path[256];
static pid_t tmpdir_owner;

/* Removes the directory at exit of the process that made it (Check's forked
 * test processes share the path and must not remove it under the others). */
static void remove_tmpdir(void) {
    if (!tmpdir_path[0] || getpid() != tmpdir_owner) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmpdir_path);
}

const char *vc_test_tmpdir(void) {
    char *dir = tmpdir_path;
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof tmpdir_path, "%s/vclip-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
        tmpdir_owner = getpid();
        atexit(remove_tmpdir);
    }
    return dir;
}

char *vc_test_read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *b = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (!b) {
        fclose(f);
        return NULL;
    }
    size_t got = fread(b, 1, (size_t)len, f);
    fclose(f);
    b[got] = 0;
    if (n) *n = got;
    return b;
}

int vc_test_sh(const char *cmd) {
    int st = system(cmd);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

const char *vc_test_last_line(const char *path) {
    static char buf[4096];
    char *t = vc_test_read_file(path, NULL);
    buf[0] = 0;
    if (!t) return buf;
    char *end = t + strlen(t);
    while (end > t && end[-1] == '\n') *--end = 0;
    char *start = strrchr(t, '\n');
    snprintf(buf, sizeof buf, "%s", start ? start + 1 : t);
    free(t);
    return buf;
}

const char *vc_test_vclip_bin(void) {
    const char *b = getenv("VCLIP_BIN");
    return b && *b ? b : NULL;
}

const char *vc_test_path(const char *name) {
    static char buf[16][1024];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", vc_test_tmpdir(), name);
    return buf[k];
}

void vc_test_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    ck_assert_msg(fclose(f) == 0, "cannot write %s", path);
}
