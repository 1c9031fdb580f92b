/* dist_util.h: helpers of the data-parallel suites (tests/test_dist.c,
 * tests/test_dist_bucket.c), which run vclip and comm workers as processes
 * under mpirun: starting a process with its output in a file and waiting
 * for it within a time limit, finding mpirun and one rank's process, the
 * environment those suites give Open MPI, and reading what a `vclip train`
 * run left behind (its per-step losses, its checkpoints).
 * Owns: those helpers. Not here: the suites' data, configs and how they call
 * vclip (each suite's own), the generic helpers of tests/harness.h. */
#ifndef VC_TEST_DIST_UTIL_H
#define VC_TEST_DIST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Inside a worker that a suite runs under mpirun (no Check there): when
 * cond is false, "rank R: line L: MESSAGE" on stderr and vc_test_worker_bad
 * set, which the worker returns as its exit code. c: the worker's vc_comm. */
extern int vc_test_worker_bad;
#define VC_WCHECK(c, cond, ...)                                         \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "rank %d: line %d: ", (c)->rank, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                               \
            fputc('\n', stderr);                                        \
            vc_test_worker_bad = 1;                                     \
        }                                                               \
    } while (0)

/* Seconds on the monotonic clock. */
double vc_test_now_s(void);
/* Sleeps ms milliseconds. */
void vc_test_sleep_ms(int ms);
/* Starts argv (argv[0] a path, NULL-terminated) with stdout and stderr into
 * the file out; its pid. */
pid_t vc_test_spawn(const char *const *argv, const char *out);
/* The exit code of pid (128 + N for signal N), waiting at most limit_s;
 * past that pid is killed and the running test fails naming what. */
int vc_test_wait(pid_t pid, double limit_s, const char *what);
/* The pid of the child of ppid whose environment holds
 * OMPI_COMM_WORLD_RANK=rank; 0 when none (yet). */
pid_t vc_test_rank_pid(pid_t ppid, int rank);
/* The pid of rank `rank` of a running `mpirun ... vclip train` (job: mpirun's
 * pid, its output in the file out) once the run in dir has logged `steps`
 * steps, polled every poll_ms; fails the test when the job ends first (with
 * its output), when that takes over limit_s, or when the rank is not found. */
pid_t vc_test_rank_once_logged(pid_t job, const char *out, const char *dir, int steps, double limit_s, int poll_ms,
                               int rank);
/* Whether the suites' mpirun cases can run here: NULL when mpirun is on
 * PATH (its path into mpirun, n bytes), this build has MPI and VCLIP_BIN is
 * set, after setting what those runs need (root may run mpirun, one OpenMP
 * and one BLAS thread per rank: 2 cores run up to 3 ranks; Open MPI's
 * components kept mapped at exit and whole allocation stacks under ASan, so
 * tests/lsan.supp matches their allocations in make test-asan); else why
 * not, for a SKIP line. */
const char *vc_test_mpi_ready(char *mpirun, size_t n);
/* The "loss" of every "step" event of DIR/log.jsonl, in order, at most max;
 * how many (0 while the file is not there). Only complete lines count, so a
 * run still writing may be polled. */
int vc_test_step_losses(const char *dir, double *loss, int max);
/* Largest difference between the float32 tensors of two checkpoint files,
 * relative to max(|b|, 1); with_optim: the optimiser's moments too (else the
 * "optim." tensors are left out). *identical (if not NULL): whether all
 * their bytes matched. The worst element into worst (n bytes). Fails the
 * test when a file cannot be read, when b lacks a tensor of a, or when a
 * has none to compare. */
double vc_test_ckpt_diff(const char *a, const char *b, bool with_optim, bool *identical, char *worst, size_t n);
/* DIR_B's last and best checkpoints hold the same tensors as DIR_A's, bit
 * for bit (every dtype); else the test fails, the message naming the file,
 * the tensor and what (the run DIR_B was compared with). */
void vc_test_assert_same_ckpts(const char *dir_a, const char *dir_b, const char *what);

#endif
