/* vclip eval CONFIG.ini [--set ...] [--checkpoint CKPT] [--split NAME] [--json OUT] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
#include "data/dataset.h"
#include "data/h5_reader.h"
#include "eval/evaluate.h"
#include "eval/report.h"
#include "train/checkpoint.h"
#include "train/run_config.h"
#include "train/step.h"
#include "train/trainer.h"

static int fail(vc_config *cfg, vc_params *ps, const char *msg) {
    int r = vc_cmd_error("eval", "%s", msg);
    vc_params_free(ps);
    vc_config_free(cfg);
    return r;
}

int vc_cmd_eval(int argc, char **argv) {
    const char *path = NULL, *ckpt = NULL, *split = NULL, *json = NULL, *device = NULL;
    const char *ov[256];
    int nov = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = strcmp(a, "--set") == 0 || strcmp(a, "--checkpoint") == 0 || strcmp(a, "--split") == 0 ||
                   strcmp(a, "--json") == 0 || strcmp(a, "--device") == 0;
        if (val && i + 1 >= argc) return vc_cmd_error("eval", "%s needs a value", a);
        if (strcmp(a, "--set") == 0) {
            if (nov == 256) return vc_cmd_error("eval", "too many --set overrides");
            ov[nov++] = argv[++i];
        } else if (strcmp(a, "--checkpoint") == 0) ckpt = argv[++i];
        else if (strcmp(a, "--split") == 0) split = argv[++i];
        else if (strcmp(a, "--json") == 0) json = argv[++i];
        else if (strcmp(a, "--device") == 0) device = argv[++i];
        else if (a[0] == '-') return vc_cmd_error("eval", "unknown option %s", a);
        else if (!path) path = a;
        else return vc_cmd_error("eval", "more than one config file given (%s, %s)", path, a);
    }
    if (!path)
        return vc_cmd_error("eval", "%s", vc_cmd_usage("eval"));
    vc_config *cfg = NULL;
    vc_run_cfg rc;
    vc_params ps;
    vc_params_init(&ps);
    if (vc_run_config_load(path, ov, nov, &cfg, &rc)) return fail(cfg, &ps, vc_last_error());
    if (vc_cmd_h5_prepare("eval", rc.file, NULL)) {
        vc_config_free(cfg);
        return 1;
    }
    if (!split) split = rc.eval_split;
    vc_dataset *ds; /* one file or several (data/dataset.h) */
    if (vc_dataset_open(&ds, rc.file)) return fail(cfg, &ps, vc_last_error());
    int64_t dim = vc_dataset_info(ds)->dim;
    const int64_t *idx;
    int64_t n;
    vc_status s = vc_dataset_split(ds, split, &idx, &n);
    int64_t *idx_copy = NULL;
    if (!s && idx) {
        idx_copy = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
        if (idx_copy) memcpy(idx_copy, idx, (size_t)n * sizeof(int64_t));
        else s = vc_fail(VC_ERR_OOM, "eval: out of memory for a split of %lld videos", (long long)n);
    }
    vc_dataset_close(ds);
    if (s) {
        free(idx_copy);
        return fail(cfg, &ps, vc_last_error());
    }
    vc_run_config_model(&rc, dim);
    vc_pooler m;
    if (vc_pooler_init(&m, &rc.model, &ps, rc.seed) || !vc_logit_scale_init(&ps)) {
        free(idx_copy);
        return fail(cfg, &ps, vc_last_error());
    }
    if (ckpt) {
        if (vc_ckpt_load(ckpt, &ps, NULL, NULL)) {
            free(idx_copy);
            return fail(cfg, &ps, vc_last_error());
        }
    } else if (rc.model.type != VC_POOL_MEAN || rc.model.text_head) {
        free(idx_copy);
        return fail(cfg, &ps, "a trained model needs --checkpoint (only a mean model without a text head "
                              "evaluates as the zero-shot baseline)");
    }
    /* the checkpoint was read on the host; the model moves to --device */
    if (vc_model_place(&ps, device, false, "evaluation")) {
        free(idx_copy);
        return fail(cfg, &ps, vc_last_error());
    }
    vc_progress_line pl;
    vc_progress_init(&pl, "eval");
    vc_eval_opts eo = {rc.eval_batch, rc.frames,    rc.eval_sampling,         rc.mem_budget_mb << 20,
                       rc.prefetch,   rc.zero_shot, vc_progress_hook_for(&pl)};
    vc_eval_result r;
    s = vc_evaluate(&m, rc.file, idx_copy, idx_copy ? n : 0, &eo, &r);
    vc_progress_done(&pl);
    free(idx_copy);
    if (s) return fail(cfg, &ps, vc_last_error());
    char title[512];
    snprintf(title, sizeof title, "%s on %s [%s]%s%s", vc_pool_type_name(rc.model.type), rc.file, split,
             ckpt ? " checkpoint " : " (zero-shot)", ckpt ? ckpt : "");
    vc_eval_table_write(&r, title, stdout);
    if (json) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", json, (int)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f) {
            vc_fail(VC_ERR_IO, "%s: cannot open for writing: %s", tmp, strerror(errno));
            return fail(cfg, &ps, vc_last_error());
        }
        s = vc_eval_json_write(&r, true, f);
        if (fclose(f) != 0 && !s) s = vc_fail(VC_ERR_IO, "%s: write failed: %s", json, strerror(errno));
        if (!s && rename(tmp, json) != 0) s = vc_fail(VC_ERR_IO, "%s: cannot rename into place", json);
        if (s) {
            remove(tmp);
            return fail(cfg, &ps, vc_last_error());
        }
    }
    vc_params_free(&ps);
    vc_config_free(cfg);
    return 0;
}
