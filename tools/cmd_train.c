/* vclip train CONFIG.ini [--set section.key=value ...] [--resume]
 * Under mpirun (or srun) every rank runs this with the same arguments: the
 * comm comes from the launcher (tensor/comm.h), rank 0 reports progress and
 * every rank's error is printed with its rank. A rank that fails ends the
 * whole job (MPI_Abort), and a collective that waits longer than
 * $VCLIP_COMM_TIMEOUT seconds (default 600, 0: never) ends this rank, so a
 * job with a hung or dead rank never hangs.
 * With train.device = cuda and several ranks the step's collectives go
 * through NCCL on the GPUs (unique id over MPI), each rank on the GPU of its
 * local rank on its machine unless the config names one (cuda:N); a vclip
 * built without NCCL stages them through host memory over MPI.
 * $VCLIP_COMM picks that comm: auto (the default: NCCL where built in),
 * nccl, or host (host-staged); nccl and host also apply to one rank. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
#include "tensor/comm.h"
#include "tensor/device.h"
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

/* This rank's number among the ranks on its machine: the launcher's
 * (Open MPI, Slurm, MPICH's Hydra), else counted from every rank's host
 * name. A host collective: every rank calls it. */
static vc_status local_rank(vc_comm *c, int *out) {
    enum { H = 64 };
    char me[H] = "";
    gethostname(me, H - 1);
    char *all = calloc((size_t)c->size, H);
    if (!all) return vc_fail(VC_ERR_OOM, "out of memory for %d host names", c->size);
    vc_status s = vc_comm_allgather_bytes(c, me, H, all);
    int n = 0;
    for (int r = 0; r < c->rank && !s; r++) n += strncmp(all + (size_t)r * H, me, H) == 0;
    free(all);
    static const char *const env[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(env[i]);
        char *end;
        long x = v && *v ? strtol(v, &end, 10) : -1;
        if (x >= 0 && x < 1 << 20 && !*end) {
            n = (int)x;
            break;
        }
    }
    *out = n;
    return s;
}

/* The comm of a CUDA run with several ranks (or $VCLIP_COMM = nccl or host):
 * NCCL or host-staged over the launcher's MPI comm, after this rank's GPU
 * is chosen and opened. *dev stays NULL when the run needs none. Collective
 * on `mpi`; a failure is agreed (every rank returns it). */
static vc_status open_device_comm(vc_comm *mpi, vc_config *cfg, vc_run_cfg *rc, vc_comm **dev, char *note, size_t nn) {
    *dev = NULL;
    note[0] = '\0';
    const char *mode = getenv("VCLIP_COMM");
    if (!mode || !*mode) mode = "auto";
    bool want_nccl = strcmp(mode, "nccl") == 0, want_host = strcmp(mode, "host") == 0;
    if (!want_nccl && !want_host && strcmp(mode, "auto") != 0)
        return vc_fail(VC_ERR_ARG, "VCLIP_COMM = %s: expected auto, nccl or host", mode);
    if (rc->device.type != VC_CUDA) {
        if (want_nccl || want_host)
            return vc_fail(VC_ERR_ARG, "VCLIP_COMM = %s carries CUDA memory, but train.device is %s", mode,
                           vc_device_name(rc->device.type));
        return VC_OK;
    }
    if (mpi->size == 1 && !want_nccl && !want_host) return VC_OK;
    const char *text = NULL;
    vc_status s = vc_config_string(cfg, "train", "device", &text);
    int local = 0;
    if (!s) s = local_rank(mpi, &local);
    bool named = text && strchr(text, ':');
    if (!s && !named) rc->device.index = local;
    if (!s && (s = vc_device_open(&rc->device, rc->tf32)) && mpi->size > 1) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", vc_last_error());
        s = vc_fail(s, "%s (local rank %d on this machine%s; one GPU per rank: start at most as many ranks per machine "
                       "as it has GPUs)", msg, local, named ? ", train.device names its GPU" : " takes the GPU of that number");
    }
    if ((s = vc_comm_agree(mpi, s))) return s;
    bool nccl = want_nccl || (!want_host && vc_comm_nccl_version());
    if (nccl) {
        s = vc_comm_nccl_open(dev, mpi, rc->device.index);
        if (s) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", vc_last_error());
            return vc_fail(s, "%s (VCLIP_COMM=host trains through host memory over MPI instead)", msg);
        }
        snprintf(note, nn, "comm nccl (%s): %d rank%s, rank 0 on cuda:%d (%s)", vc_comm_nccl_version(), mpi->size,
                 mpi->size == 1 ? "" : "s", rc->device.index, named ? "as train.device names" : "GPUs by local rank");
        return VC_OK;
    }
    snprintf(note, nn, "comm host-staged: %d rank%s, rank 0 on cuda:%d; %s", mpi->size, mpi->size == 1 ? "" : "s",
             rc->device.index,
             want_host ? "the step's collectives go through host memory over MPI (VCLIP_COMM=host)"
                       : "NCCL is not built in: the step's collectives go through host memory over MPI");
    return vc_comm_staged_open(dev, mpi, VC_CUDA);
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
    /* CUDA with several ranks: the device comm (NCCL) over the launcher's;
     * from here on `comm` is the one the run uses, `host` the launcher's */
    vc_comm *host = comm, *dcomm = NULL;
    char dnote[400] = "";
    if (!s && (s = open_device_comm(host, cfg, &rc, &dcomm, dnote, sizeof dnote)) == VC_OK && dcomm) comm = dcomm;
    if (!s && dnote[0] && comm->rank == 0) fprintf(stderr, "%s\n", dnote);
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
        if (!comm->failed_together && !host->failed_together) vc_comm_abort(comm, r);
        vc_comm_close(dcomm);
        vc_comm_close(host);
        return r;
    }
    if (comm->rank == 0)
        printf("run %s: config.ini, log.jsonl, last.safetensors%s\n", rc.out_dir,
               strcmp(rc.val_split, "none") ? ", best.safetensors (best mean val R@1)" : "");
    vc_config_free(cfg);
    vc_comm_close(dcomm);
    vc_comm_close(host);
    return 0;
}
