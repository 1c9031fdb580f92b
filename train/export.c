#include "export.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tensor/safetensors.h"
#include "trainer.h"

char *vc_export_model_json(const vc_pooler_cfg *c) {
    cJSON *o = cJSON_CreateObject();
    /* the float dropout printed as its shortest decimal (0.1, not 0.10000000149) */
    char num[32];
    snprintf(num, sizeof num, "%.7g", (double)c->dropout);
    bool ok = o && cJSON_AddStringToObject(o, "type", vc_pool_type_name(c->type)) &&
              cJSON_AddNumberToObject(o, "dim", (double)c->dim) &&
              cJSON_AddNumberToObject(o, "width", (double)c->width) &&
              cJSON_AddNumberToObject(o, "layers", c->layers) && cJSON_AddNumberToObject(o, "heads", c->heads) &&
              cJSON_AddNumberToObject(o, "mlp_ratio", c->mlp_ratio) &&
              cJSON_AddStringToObject(o, "act", c->act == VC_ACT_QUICKGELU ? "quickgelu" : "gelu") &&
              cJSON_AddNumberToObject(o, "tokens", c->tokens) && cJSON_AddBoolToObject(o, "residual", c->residual) &&
              cJSON_AddNumberToObject(o, "max_frames", (double)c->max_frames) &&
              cJSON_AddNumberToObject(o, "mlp_layers", c->mlp_layers) &&
              cJSON_AddNumberToObject(o, "hidden", (double)c->hidden) &&
              cJSON_AddBoolToObject(o, "text_head", c->text_head) &&
              cJSON_AddNumberToObject(o, "dropout", strtod(num, NULL));
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) vc_fail(VC_ERR_OOM, "export: out of memory building the model JSON");
    return s;
}

static bool exported(const char *name) {
    return strncmp(name, "pooler.", 7) == 0 || strcmp(name, "logit_scale") == 0;
}

/* Writing onto the checkpoint itself would replace the only copy of the run. */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

vc_status vc_export_pooler(const char *ckpt, const char *out) {
    if (same_file(ckpt, out))
        return vc_fail(VC_ERR_ARG, "%s: the export would overwrite the checkpoint itself; choose another --out", out);
    vc_config *cfg = NULL;
    vc_run_cfg rc;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    vc_st_writer *w = NULL;
    char *json = NULL;
    vc_status s = vc_model_from_checkpoint(ckpt, NULL, 0, &cfg, &rc, &ps, &m);
    if (!s && !(json = vc_export_model_json(&m.cfg))) s = vc_last_status();
    if (!s) s = vc_st_writer_new(&w);
    for (int i = 0; i < ps.count && !s; i++)
        if (exported(ps.info[i].name)) s = vc_st_writer_add(w, ps.info[i].name, &ps.vars[i]->val);
    if (!s) s = vc_st_writer_meta(w, "format", VC_EXPORT_FORMAT);
    if (!s) s = vc_st_writer_meta(w, "version", VC_EXPORT_VERSION);
    if (!s) s = vc_st_writer_meta(w, "model", json);
    if (!s) s = vc_st_writer_write(w, out);
    vc_st_writer_free(w);
    free(json);
    vc_params_free(&ps);
    vc_config_free(cfg);
    return s;
}
