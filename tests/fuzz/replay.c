/* replay.c: runs a fuzz harness (tests/fuzz/fuzz_NAME.c) without libFuzzer,
 * on every input of tests/fuzz/corpus/NAME/ (the seeds) and
 * tests/fuzz/regress/NAME/ (inputs that once crashed, hung or leaked), so
 * `make test` and `make test-asan` re-check them with the ordinary compiler.
 * NAME comes from the program's name (build/tests/fuzz_NAME). Each input
 * runs in its own child process, so a crash names its file; an input that
 * runs longer than 60 s counts as a hang. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_util.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

#ifndef VC_SRC_DIR
#define VC_SRC_DIR "."
#endif

static char g_name[64];
static int g_argc;
static char **g_argv;

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap);
    for (;;) {
        if (len == cap) b = realloc(b, cap *= 2);
        size_t k = fread(b + len, 1, cap - len, f);
        if (k == 0) break;
        len += k;
    }
    fclose(f);
    *n = len;
    return b;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of dir; returns how many there were (-1: no such dir). */
static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strcmp(e->d_name, "README") != 0) {
            names = realloc(names, (size_t)(n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            alarm(60);
            size_t len = 0;
            char *data = read_all(path, &len);
            if (!data) _exit(3);
            LLVMFuzzerTestOneInput((const uint8_t *)data, len);
            free(data);
            exit(0); /* exit, not _exit: LeakSanitizer checks at exit */
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fuzz_%s on %s: %s %d", g_name, path,
                      WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? "hung (60 s), signal"
                      : WIFSIGNALED(status)                              ? "killed by signal"
                                                                         : "exit status",
                      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        free(names[i]);
    }
    free(names);
    return n;
}

START_TEST(test_seed_corpus_runs_clean) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", VC_SRC_DIR, g_name);
    int n = replay_dir(dir);
    ck_assert_msg(n > 0, "fuzz_%s: no seed inputs in %s", g_name, dir);
    printf("fuzz_%s: %d seed inputs replayed\n", g_name, n);
}
END_TEST

START_TEST(test_regression_inputs_run_clean) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", VC_SRC_DIR, g_name);
    int n = replay_dir(dir);
    if (n > 0) printf("fuzz_%s: %d regression inputs replayed\n", g_name, n);
}
END_TEST

int main(int argc, char **argv) {
    const char *b = strrchr(argv[0], '/');
    b = b ? b + 1 : argv[0];
    snprintf(g_name, sizeof g_name, "%s", strncmp(b, "fuzz_", 5) == 0 ? b + 5 : b);
    g_argc = argc;
    g_argv = argv;
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&g_argc, &g_argv);
    Suite *s = suite_create(g_name);
    TCase *t = tcase_create("replay");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_seed_corpus_runs_clean);
    tcase_add_test(t, test_regression_inputs_run_clean);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
