#include "jobs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Removes OUT.tmp.PID for the given outputs when PID is gone. */
static void remove_stale(int n, const char *const *outputs) {
    for (int i = 0; i < n; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", outputs[i]);
        char *slash = strrchr(dir, '/');
        const char *base = slash ? slash + 1 : outputs[i];
        if (slash) *slash = '\0';
        else snprintf(dir, sizeof dir, ".");
        DIR *d = opendir(dir);
        if (!d) continue;
        size_t bl = strlen(base);
        for (struct dirent *e; (e = readdir(d));) {
            if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp.", 5) != 0) continue;
            char *end;
            long pid = strtol(e->d_name + bl + 5, &end, 10);
            if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
}

int vc_run_jobs(int n, const char *const *outputs, int parallel, int (*job)(void *ud, int i),
                void (*on_done)(void *ud, int i, int rc, int done, int n), void *ud, vc_jobs_result *res) {
    memset(res, 0, sizeof *res);
    if (parallel < 1) parallel = 1;
    remove_stale(n, outputs);
    pid_t *pids = calloc((size_t)(n ? n : 1), sizeof *pids);
    if (!pids) return 1;
    int next = 0, running = 0, done = 0;
    while (done < n) {
        while (running < parallel && next < n) {
            int i = next++;
            struct stat st;
            if (stat(outputs[i], &st) == 0) {
                res->skipped++;
                done++;
                if (on_done) on_done(ud, i, -1, done, n);
                continue;
            }
            fflush(stdout);
            fflush(stderr);
            pid_t pid = fork();
            if (pid == 0) {
                int rc = job(ud, i);
                fflush(stdout);
                fflush(stderr);
                _exit(rc);
            }
            if (pid < 0) { /* no process to spare: run it here */
                int rc = job(ud, i);
                rc ? res->failed++ : res->written++;
                done++;
                if (on_done) on_done(ud, i, rc, done, n);
                continue;
            }
            pids[i] = pid;
            running++;
        }
        if (!running) continue;
        int status;
        pid_t w = wait(&status);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < n; i++)
            if (pids[i] == w) {
                pids[i] = 0;
                running--;
                done++;
                int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                rc ? res->failed++ : res->written++;
                if (on_done) on_done(ud, i, rc, done, n);
            }
    }
    free(pids);
    return res->failed || done < n ? 1 : 0;
}
