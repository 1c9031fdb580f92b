#include "progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void vc_format_duration(char *b, size_t n, double s) {
    if (!isfinite(s) || s < 0 || s >= 1e8) {
        snprintf(b, n, "?");
        return;
    }
    long long r = llround(s);
    if (r < 60) snprintf(b, n, "%llds", r);
    else if (r < 3600) snprintf(b, n, "%lldm%02llds", r / 60, r % 60);
    else snprintf(b, n, "%lldh%02lldm", r / 3600, r / 60 % 60);
}

void vc_format_rate(char *b, size_t n, double r) {
    if (!isfinite(r) || r < 0) snprintf(b, n, "?");
    else if (r >= 1e6) snprintf(b, n, "%.1fM", r / 1e6);
    else if (r >= 1e4) snprintf(b, n, "%.1fk", r / 1e3);
    else if (r >= 100) snprintf(b, n, "%.0f", r);
    else if (r >= 10) snprintf(b, n, "%.1f", r);
    else snprintf(b, n, "%.2f", r);
}

void vc_progress_init(vc_progress_line *p, const char *cmd) {
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    const char *env = getenv("VCLIP_PROGRESS");
    if (env && strcmp(env, "off") == 0) p->mode = VC_PROG_OFF;
    else if (env && strcmp(env, "plain") == 0) p->mode = VC_PROG_PLAIN;
    else if ((env && strcmp(env, "tty") == 0) || isatty(2)) p->mode = VC_PROG_TTY;
    else p->mode = VC_PROG_LOG;
}

void vc_progress_update(vc_progress_line *p, const char *phase, int64_t done, int64_t total, const char *extra) {
    if (p->mode == VC_PROG_OFF) return;
    double t = now_s();
    if (strncmp(p->phase, phase, sizeof p->phase - 1) != 0 || total != p->total) {
        snprintf(p->phase, sizeof p->phase, "%s", phase);
        p->total = total;
        p->t0 = t;
        p->last_print = 0;
        p->next_tenth = 1;
    }
    double el = t - p->t0;
    if (p->mode == VC_PROG_TTY) {
        if (el < 0.5 || (t - p->last_print < 0.2 && done < total)) return;
    } else {
        if (total <= 0 || done * 10 < (int64_t)p->next_tenth * total) return;
        if (p->mode == VC_PROG_LOG && el < 2) return;
        p->next_tenth = (int)(done * 10 / total) + 1;
    }
    p->last_print = t;
    double rate = el > 0 ? (double)done / el : NAN;
    char r[32], eta[32];
    vc_format_rate(r, sizeof r, rate);
    vc_format_duration(eta, sizeof eta, rate > 0 ? (double)(total - done) / rate : NAN);
    fprintf(stderr, "%s%s: %s %lld/%lld (%d%%), %s/s, ETA %s%s%s%s", p->mode == VC_PROG_TTY ? "\r\033[K" : "", p->cmd,
            phase, (long long)done, (long long)total, total > 0 ? (int)(100 * done / total) : 0, r, eta,
            extra ? "; " : "", extra ? extra : "", p->mode == VC_PROG_TTY ? "" : "\n");
    fflush(stderr);
    p->showing = p->mode == VC_PROG_TTY;
}

void vc_progress_clear(vc_progress_line *p) {
    if (p->showing) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->showing = false;
}

void vc_progress_done(vc_progress_line *p) {
    vc_progress_clear(p);
    p->phase[0] = '\0';
}

static void hook_fn(void *ud, const char *phase, int64_t done, int64_t total) {
    vc_progress_update(ud, phase, done, total, NULL);
}

vc_progress_hook vc_progress_hook_for(vc_progress_line *p) { return (vc_progress_hook){hook_fn, p}; }
