/* h5_safety.c: what a command does before it reads an HDF5 dataset, so that
 * a damaged file ends the run with one line naming it and never with a
 * crash or a hang (data/h5_guard.h, data/FORMAT.md "Damaged files"):
 *
 *  1. the file is checked in a child process (structure, every string,
 *     every chunk's index entry), once per file version thanks to the
 *     cache;
 *  2. for the rest of the run, a fault inside libhdf5 while it reads a
 *     file (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT on the thread that is
 *     inside the library) or a libhdf5 call that makes no progress for the
 *     stall limit ends the process at once with that one line. Nothing is
 *     written after the fault: outputs are written whole and renamed into
 *     place (checkpoints included), so the last complete one stays intact.
 *     A fault anywhere else is not ours to explain: it goes to the handler
 *     that was there before (the default, or a sanitizer's).
 *
 * Environment:
 *   VCLIP_H5_STALL_SECONDS  the stall limit (default 60); VCLIP_INFO_STALL_SECONDS
 *                           is read too, for `vclip info`
 *   VCLIP_CHECK_CACHE       the cache file, or "off"; default
 *                           $XDG_CACHE_HOME/vclip/checked-h5, else
 *                           ~/.cache/vclip/checked-h5 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "data/dataset.h"
#include "data/h5_guard.h"

int vc_cmd_stall_seconds(void) {
    const char *e = getenv("VCLIP_H5_STALL_SECONDS");
    if (!e || atoi(e) <= 0) e = getenv("VCLIP_INFO_STALL_SECONDS");
    return e && atoi(e) > 0 ? atoi(e) : 60;
}

/* The cache path, or NULL when it is off or no home is known. */
static const char *cache_path(void) {
    static char buf[4096];
    const char *e = getenv("VCLIP_CHECK_CACHE");
    if (e) return *e && strcmp(e, "off") != 0 ? e : NULL;
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && *x == '/') snprintf(buf, sizeof buf, "%s/vclip/checked-h5", x);
    else if (home && *home == '/') snprintf(buf, sizeof buf, "%s/.cache/vclip/checked-h5", home);
    else return NULL;
    return buf;
}

/* ---- the in-run guard ---- */

static const char *g_cmd = "?";
static char g_hint[600];
static int g_stall_s = 60;
static struct sigaction g_old[32];
static const int g_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

static void put(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_int(long v) {
    char b[24], *p = b + sizeof b;
    *--p = '\0';
    do *--p = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    put(p);
}

static void report(const char *path, const char *what, long n) {
    put("vclip ");
    put(g_cmd);
    put(": ");
    put(path);
    put(": corrupt HDF5 file: the HDF5 library ");
    put(what);
    put_int(n);
    put(n == g_stall_s && what[0] == 's' ? " s) while reading it" : ") while reading it");
    put(g_hint);
    put("\n");
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    const char *path;
    int tid;
    /* a fault of this thread inside libhdf5 (SIGABRT comes from abort(),
     * so it is "sent"; the others must come from the CPU, not from kill) */
    if ((sig == SIGABRT || si->si_code > 0) && vc_h5_busy(&path, &tid, NULL) && tid == (int)syscall(SYS_gettid)) {
        report(path, "crashed (signal ", sig);
        _exit(1);
    }
    /* not inside libhdf5 on this thread: the previous handler decides */
    sigaction(sig, &g_old[sig], NULL);
    if (sig == SIGABRT || si->si_code <= 0) raise(sig); /* sent, not a fault: it would not come back */
}

static void *watchdog(void *arg) {
    (void)arg;
    for (;;) {
        struct timespec half = {0, 500000000}, now;
        nanosleep(&half, NULL);
        const char *path;
        int64_t since;
        if (!vc_h5_busy(&path, NULL, &since)) continue;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        if (t - since > (int64_t)g_stall_s * 1000000000) {
            report(path, "stopped responding (no progress in ", g_stall_s);
            _exit(1);
        }
    }
    return NULL;
}

void vc_cmd_h5_guard(const char *cmd, const char *hint) {
    static bool installed;
    g_cmd = cmd;
    snprintf(g_hint, sizeof g_hint, "%s%s", hint && *hint ? "; " : "", hint ? hint : "");
    g_stall_s = vc_cmd_stall_seconds();
    if (installed) return;
    installed = true;
    /* this thread's alternate stack (a reader thread gets its own in data/) */
    static char stack[64 << 10];
    stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack, .ss_flags = 0}, cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof g_sigs / sizeof *g_sigs; i++) sigaction(g_sigs[i], &sa, &g_old[g_sigs[i]]);
    pthread_t t;
    if (pthread_create(&t, NULL, watchdog, NULL) == 0) pthread_detach(t);
}

vc_status vc_cmd_h5_check_files(const char *cmd, const char *spec, const char *hint) {
    char **paths;
    int n;
    vc_status s = vc_dataset_list(spec, &paths, &n);
    vc_h5_check_opts o = {.stall_s = vc_cmd_stall_seconds(), .cache_path = cache_path(), .quiet_child = true};
    for (int k = 0; k < n && !s; k++) s = vc_h5_check(paths[k], &o, NULL);
    vc_dataset_list_free(paths, n);
    if (!s) vc_cmd_h5_guard(cmd, hint);
    return s;
}

int vc_cmd_h5_prepare(const char *cmd, const char *spec, const char *hint) {
    return vc_cmd_h5_check_files(cmd, spec, hint) ? vc_cmd_error(cmd, "%s", vc_last_error()) : 0;
}
