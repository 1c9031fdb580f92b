/* vclip train CONFIG.ini [--set section.key=value ...] [--resume] */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
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
    vc_config *cfg;
    vc_run_cfg rc;
    if (vc_run_config_load(path, ov, nov, &cfg, &rc)) return vc_cmd_error("train", "%s", vc_last_error());
    progress_state ps = {isatty(2) != 0, 0, {0}};
    vc_progress_init(&ps.eval, "train: validation");
    vc_train_hooks hooks = {on_step, on_eval, on_note, &ps, vc_progress_hook_for(&ps.eval)};
    vc_status s = vc_train_run(cfg, &rc, resume, &hooks);
    if (s) {
        if (ps.tty) fputc('\n', stderr);
        int r = vc_cmd_error("train", "%s", vc_last_error());
        vc_config_free(cfg);
        return r;
    }
    printf("run %s: config.ini, log.jsonl, last.safetensors%s\n", rc.out_dir,
           strcmp(rc.val_split, "none") ? ", best.safetensors (best mean val R@1)" : "");
    vc_config_free(cfg);
    return 0;
}
