/* vclip train CONFIG.ini [--set section.key=value ...] [--resume]
 * Under mpirun (or srun) every rank runs this with the same arguments: the
 * comm comes from the launcher (tensor/comm.h), rank 0 reports progress and
 * every rank's error is printed with its rank. A rank that fails ends the
 * whole job (MPI_Abort), and a collective that waits longer than
 * $VCLIP_COMM_TIMEOUT seconds (default 600, 0: never) ends this rank, so a
 * job with a hung or dead rank never hangs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
#include "tensor/comm.h"
#include "train/trainer.h"

typedef struct {
    bool tty;
    double last_print;
    vc_progress_line eval; /* the validation evaluations */
} progress_state;

static void on_step(void *ud, const vc_train_progress *p) {
    progress_state *ps = ud;
    char eta[32];
    vc_format_duration(eta, sizeof eta, p->eta_s);
    if (ps->tty) {
        fprintf(stderr, "\r\033[Kstep %lld/%lld  epoch %lld  loss %.4f  lr %.2e  %.0f samples/s  ETA %s   ",
                (long long)p->step, (long long)p->total_steps, (long long)p->epoch, p->loss, p->lr, p->samples_per_s,
                eta);
        if (p->step == p->total_steps) fputc('\n', stderr);
    } else if (p->step == p->total_steps || p->step >= ps->last_print) {
        /* not a terminal: a plain line every 10% of the run */
        fprintf(stderr, "step %lld/%lld epoch %lld loss %.4f lr %.2e %.0f samples/s ETA %s\n", (long long)p->step,
                (long long)p->total_steps, (long long)p->epoch, p->loss, p->lr, p->samples_per_s, eta);
        ps->last_print = (double)(p->step + (p->total_steps / 10 > 0 ? p->total_steps / 10 : 1));
    }
    fflush(stderr);
}

static void on_eval(void *ud, int64_t step, const vc_eval_result *r, bool best) {
    progress_state *ps = ud;
    vc_progress_done(&ps->eval);
    fprintf(stderr, "%sstep %lld val: t2v R@1 %.1f R@5 %.1f R@10 %.1f MdR %.1f | v2t R@1 %.1f R@5 %.1f R@10 %.1f MdR %.1f%s\n",
            ps->tty ? "\r\033[K" : "", (long long)step, r->t2v.r1, r->t2v.r5, r->t2v.r10, r->t2v.mdr, r->v2t.r1, r->v2t.r5,
            r->v2t.r10, r->v2t.mdr, best ? "  (best)" : "");
}

static void on_note(void *ud, const char *msg) { fprintf(stderr, "%s\n", msg); }

/* The watchdog's report (tensor/comm.h): one line, then this rank ends; the
 * launcher ends the others. */
static void on_comm_timeout(void *ud, const char *msg) {
    fprintf(stderr, "\nvclip train: %s\n", msg);
    fflush(stderr);
    _exit(3);
}

/* Seconds from $VCLIP_COMM_TIMEOUT (600 when unset; 0 turns the watchdog off). */
static int comm_timeout(double *out) {
    const char *v = getenv("VCLIP_COMM_TIMEOUT");
    *out = 600;
    if (!v || !*v) return 0;
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= 0)) return -1;
    *out = x;
    return 0;
}

int vc_cmd_train(int argc, char **argv) {
    const char *path = NULL;
    const char *ov[256];
    int nov = 0;
    bool resume = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc) return vc_cmd_error("train", "--set needs section.key=value");
            if (nov == 256) return vc_cmd_error("train", "too many --set overrides");
            ov[nov++] = argv[++i];
        } else if (strcmp(argv[i], "--resume") == 0) {
            resume = true;
        } else if (argv[i][0] == '-') {
            return vc_cmd_error("train", "unknown option %s (%s)", argv[i], vc_cmd_usage("train"));
        } else if (!path) {
            path = argv[i];
        } else {
            return vc_cmd_error("train", "more than one config file given (%s, %s)", path, argv[i]);
        }
    }
    if (!path) return vc_cmd_error("train", "%s", vc_cmd_usage("train"));
    double timeout;
    if (comm_timeout(&timeout)) return vc_cmd_error("train", "VCLIP_COMM_TIMEOUT is not a number of seconds >= 0");
    vc_comm *comm;
    if (vc_comm_open(&comm)) return vc_cmd_error("train", "%s", vc_last_error());
    char who[64] = "";
    if (comm->size > 1) snprintf(who, sizeof who, "rank %d of %d: ", comm->rank, comm->size);
    vc_config *cfg = NULL;
    vc_run_cfg rc;
    vc_status s = vc_run_config_load(path, ov, nov, &cfg, &rc);
    if (!s) {
        char hint[600];
        snprintf(hint, sizeof hint,
                 "checkpoints in %.400s are left as they were: replace the file and go on with --resume", rc.out_dir);
        s = vc_cmd_h5_check_files("train", rc.file, hint);
    }
    s = vc_comm_agree(comm, s); /* a bad config or data file on one rank stops all of them */
    if (!s && comm->size > 1) s = vc_comm_set_watchdog(comm, timeout, on_comm_timeout, NULL);
    progress_state ps = {isatty(2) != 0, 0, {0}};
    vc_progress_init(&ps.eval, "train: validation");
    vc_train_hooks hooks = {on_step, on_eval, on_note, &ps, vc_progress_hook_for(&ps.eval), 0};
    if (!s) s = vc_train_run_comm(cfg, &rc, resume, &hooks, comm);
    if (s) {
        if (ps.tty && comm->rank == 0) fputc('\n', stderr);
        int r = vc_cmd_error("train", "%s%s", who, vc_last_error());
        fflush(stderr);
        vc_config_free(cfg);
        /* unless every rank saw the failure, the others may be waiting for
         * this one in a collective: end them all */
        if (!comm->failed_together) vc_comm_abort(comm, r);
        vc_comm_close(comm);
        return r;
    }
    if (comm->rank == 0)
        printf("run %s: config.ini, log.jsonl, last.safetensors%s\n", rc.out_dir,
               strcmp(rc.val_split, "none") ? ", best.safetensors (best mean val R@1)" : "");
    vc_config_free(cfg);
    vc_comm_close(comm);
    return 0;
}
