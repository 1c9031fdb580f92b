/* jobs.h: runs independent jobs in child processes, a few at a time, for
 * commands that make many output files (vclip import-wds --out-dir). Each
 * job writes one file through a temporary name it renames at the end
 * (data/h5_writer.h does), so after a crash a file is there complete or not
 * at all; a job whose file exists is skipped, which makes a re-run finish
 * what an interrupted one left. Temporaries left by dead processes
 * (NAME.tmp.PID) are removed first. Owns only the process pool: what a job
 * does is the caller's, run in the child, whose return is its exit code. */
#ifndef VC_TOOLS_JOBS_H
#define VC_TOOLS_JOBS_H

#include <stdbool.h>

typedef struct {
    int written, skipped, failed; /* jobs that ran and succeeded, found done, failed */
} vc_jobs_result;

/* Runs job(ud, i) for every i in [0, n) whose outputs[i] does not exist,
 * at most `parallel` at once (each in its own process; parallel 1 still
 * forks, so a job that crashes fails alone). on_done(ud, i, rc, done, n) is
 * called in this process as each job ends (rc -1: skipped, already there).
 * Returns 0 when every job succeeded or was skipped, else 1. */
int vc_run_jobs(int n, const char *const *outputs, int parallel, int (*job)(void *ud, int i),
                void (*on_done)(void *ud, int i, int rc, int done, int n), void *ud, vc_jobs_result *res);

#endif
