/* run_log.h: a run directory's log.jsonl read back as the series a person
 * looks at: training loss against step and validation mean R@1 against step.
 *
 * Owns: reading log.jsonl as train/trainer.c writes it (one JSON object per
 * line; "start", "resume", "step", "eval", "end" events) and the resume rule:
 * a "resume" at step S takes back what earlier launches logged after S (a
 * killed run's steps past its last checkpoint, which the resumed run logs
 * again), so each step appears once, with the values the run finally has.
 * A resume applies the rule to the file itself (vc_run_log_cut), so logs
 * written since hold each step once; the reader keeps the rule for older ones.
 * Not here: writing the log (train/trainer.c), drawing (eval/plot.h).
 * Nothing is printed. */
#ifndef VC_EVAL_RUN_LOG_H
#define VC_EVAL_RUN_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/status.h"

typedef struct {
    int64_t step;
    double value;
} vc_run_point;

typedef struct {
    char dir[1024];        /* as given */
    char name[256];        /* the directory's base name */
    char val_split[64];    /* split of the evaluations ("" without any) */
    vc_run_point *loss;    /* training loss, by step */
    int64_t n_loss;
    vc_run_point *val;     /* mean of t2v and v2t R@1 (log.jsonl's "score"), percent, by step */
    int64_t n_val;
    int64_t launches;      /* "start" + "resume" events */
    int64_t torn_lines;    /* a last line cut short (no newline, not JSON), ignored */
} vc_run_log;

/* Reads dir/log.jsonl. Errors name the file and line: a missing directory or
 * log, a line that is not a JSON object or lacks a field its event needs, a
 * log with no step and no evaluation record. */
vc_status vc_run_log_read(const char *dir, vc_run_log *out);

void vc_run_log_free(vc_run_log *r);

/* What vc_run_log_cut did. */
typedef struct {
    int64_t kept, dropped; /* lines */
    bool torn;             /* a last line cut short (no newline) was dropped */
} vc_run_log_cut_info;

/* The resume rule applied to the file at path (a log.jsonl) before a run
 * resumed at step appends to it: every record with a "step" above step goes,
 * and so does a last line cut short (the appended records would otherwise
 * continue it). Other lines, including any that are not JSON, are kept as
 * they are. The file is rewritten through a temporary and a rename, and only
 * when something goes; a missing file is fine (nothing to cut). info may be
 * NULL. */
vc_status vc_run_log_cut(const char *path, int64_t step, vc_run_log_cut_info *info);

#endif
