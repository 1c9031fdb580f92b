/* trainer.h: a training run from a validated run config: data, model,
 * optimiser, the step loop, periodic evaluation on the validation split with
 * best-checkpoint selection (test split never used), checkpoints, resume, and
 * log.jsonl. Progress and results reach the caller through hooks (the
 * trainer never prints).
 *
 * Run directory (rc->out_dir): config.ini (effective config), log.jsonl (one
 * JSON object per logged step and per evaluation), last.safetensors (latest
 * checkpoint), best.safetensors (best mean val R@1). A run stopped at any
 * moment and resumed ends bit-identical to an uninterrupted one: every random
 * choice derives from (seed, step) or the saved loader position. */
#ifndef VC_TRAINER_H
#define VC_TRAINER_H

#include "eval/metrics.h"
#include "tensor/progress.h"
#include "run_config.h"
#include "tensor/comm.h"

typedef struct {
    int64_t step, total_steps, epoch;
    double loss, lr, grad_norm, logit_scale;
    double samples_per_s, eta_s;
} vc_train_progress;

typedef struct {
    void (*on_step)(void *ud, const vc_train_progress *p);
    void (*on_eval)(void *ud, int64_t step, const vc_eval_result *r, bool best);
    void (*on_note)(void *ud, const char *msg);
    void *ud;
    vc_progress_hook eval_progress; /* the validation evaluations' progress (eval/evaluate.h) */
    int64_t stop_at;  /* > 0: stop after this step (its checkpoint written), as a killed run resumes */
} vc_train_hooks;

/* cfg must be the validated config rc was filled from (its text goes into
 * config.ini and every checkpoint). resume continues from out_dir's
 * last.safetensors, which must hold the same config (without one, the run
 * starts from step 0, so a restart script can always pass resume). */
vc_status vc_train_run(vc_config *cfg, vc_run_cfg *rc, bool resume, const vc_train_hooks *hooks);

/* The same run data-parallel over the ranks of comm (tensor/comm.h), every
 * rank calling it with the same config: train.batch is the global batch
 * (it must divide by the ranks), each rank trains on its slice of every
 * global batch against all of its negatives (train/step.h), and the
 * replicas stay identical (checked at every checkpoint). Rank 0 alone
 * writes the run directory (config.ini, log.jsonl, checkpoints, the event
 * file) and calls the hooks; it also resumes from last.safetensors and
 * hands that state to the other ranks, so only rank 0 needs the directory.
 * Validation is evaluated by all ranks together (eval/evaluate.h). A
 * failure every rank can see (config, data, a non-finite loss, a failed
 * checkpoint write) fails every rank; a failure of one rank inside a step
 * (a read error) returns on that rank while the others wait in a
 * collective: the caller then ends the job (vc_comm_abort). With a size-1
 * comm this is vc_train_run. */
vc_status vc_train_run_comm(vc_config *cfg, vc_run_cfg *rc, bool resume, const vc_train_hooks *hooks, vc_comm *comm);

/* Builds the model a checkpoint describes: its config (with overrides),
 * width and parameters. *ps must be freshly initialised. */
/* Opens device d (text as in [train] device; NULL: the CPU) and moves the
 * parameters there (vc_params_place), after checking the device's backend
 * has every kernel a model needs; `what` names the caller in errors. */
vc_status vc_model_place(vc_params *ps, const char *device, bool tf32, const char *what);

vc_status vc_model_from_checkpoint(const char *path, const char *const *overrides, int n, vc_config **cfg,
                                   vc_run_cfg *rc, vc_params *ps, vc_pooler *m);

#endif
