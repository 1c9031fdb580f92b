/* progress.h: the progress line of a long command, on stderr: what is being
 * counted, done/total, rate and ETA, e.g.
 *   eval: t2v queries ranked 12000/22929 (52%), 2.4k/s, ETA 5s
 * On a terminal one line is rewritten in place, at most 5 times a second and
 * only once a phase has run half a second (quick phases leave no trace); it
 * is erased by vc_progress_clear or vc_progress_done. Elsewhere (a log file, CI) a plain line is
 * printed at every tenth of a phase that has run 2 seconds. VCLIP_PROGRESS
 * in the environment overrides: "off" prints nothing, "plain" prints the
 * plain lines of every phase however short (the tests use it), "tty" forces
 * the terminal form.
 * Library loops report through vc_progress_hook (tensor/progress.h);
 * vc_progress_hook_for turns a line into such a hook. */
#ifndef VC_TOOLS_PROGRESS_H
#define VC_TOOLS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/progress.h"

typedef struct {
    const char *cmd;
    char phase[96];
    int64_t total;
    double t0, last_print;
    int next_tenth;        /* plain lines: the next tenth of the phase to print at */
    enum { VC_PROG_OFF, VC_PROG_TTY, VC_PROG_LOG, VC_PROG_PLAIN } mode;
    bool showing;          /* a terminal line is on screen */
} vc_progress_line;

void vc_progress_init(vc_progress_line *p, const char *cmd);

/* done of total in phase; extra (may be NULL) is appended after the ETA. */
void vc_progress_update(vc_progress_line *p, const char *phase, int64_t done, int64_t total, const char *extra);

/* Erases the terminal line before other output (the next update redraws it). */
void vc_progress_clear(vc_progress_line *p);

/* Erases the line and ends the phase: the next update starts a new count,
 * also under the same phase name. */
void vc_progress_done(vc_progress_line *p);

/* A hook that updates p. */
vc_progress_hook vc_progress_hook_for(vc_progress_line *p);

/* "42s", "5m07s", "2h05m". */
void vc_format_duration(char *buf, size_t n, double seconds);

/* "3.42", "36.1", "812", "2.4k", "1.3M" */
void vc_format_rate(char *buf, size_t n, double per_second);

#endif
