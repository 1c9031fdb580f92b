/* test_export.c: `vclip export` and tools/vclip_torch.py.
 * For every pooler type (and the options that change its graph: width !=
 * dim, QuickGELU, no residual, MLP heads, the text head) a small model with
 * noisy weights (so no bias or LayerNorm parameter is trivial) is saved as a
 * checkpoint and exported through the vclip binary ($VCLIP_BIN, as `make
 * test` sets it; else the library call). The export must hold exactly the
 * pooler's tensors, bit for bit, and its config as JSON. tests/ref_export.py
 * then loads each export with tools/vclip_torch.py and runs the same padded
 * batch (garbage in the padding, a video of no frames); its float32 and float64 outputs must equal
 * vclip's forward to a relative error under 1e-4 (max|a-b| / max|b| per
 * tensor). Bad inputs give a one-line error, a non-zero exit and no file. */
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "models/pooler.h"
#include "train/checkpoint.h"
#include "train/export.h"
#include "train/run_config.h"
#include "tensor/safetensors.h"
#include "train/step.h"

enum { B = 6, T = 7, D = 16 };
static const int64_t lens[B] = {7, 3, 1, 6, 2, 0}; /* 0: a video without frames embeds as 0 */
#define REL_TOL 1e-4

typedef struct {
    const char *name;
    const char *model_ini; /* the [model] section */
} variant;

static const variant variants[] = {
    {"mean", "type = mean\n"},
    {"mean_text_head", "type = mean\ntext_head = linear\n"},
    {"wavg", "type = wavg\nmax_frames = 9\n"},
    {"mlp_mean", "type = mlp_mean\nmlp_layers = 1\n"},
    {"mlp_mean_2", "type = mlp_mean\nmlp_layers = 2\nact = quickgelu\nresidual = false\ntext_head = linear\n"},
    {"transformer", "type = transformer\nlayers = 2\nheads = 4\ntext_head = linear\ndropout = 0.1\n"},
    {"transformer_proj",
     "type = transformer\nwidth = 24\nlayers = 1\nheads = 3\nmlp_ratio = 2\nact = quickgelu\nresidual = false\n"
     "max_frames = 10\n"},
    {"cross_attn", "type = cross_attn\nwidth = 24\nheads = 4\ntokens = 3\nmlp_layers = 1\n"},
    {"cross_attn_plain", "type = cross_attn\nheads = 2\ntokens = 5\nmlp_layers = 0\nact = quickgelu\n"},
    {"lstm", "type = lstm\n"},
    {"lstm_plain", "type = lstm\nresidual = false\ntext_head = linear\n"},
    {"tokenlearner", "type = tokenlearner\nlayers = 2\nheads = 4\ntokens = 4\nhidden = 8\nmlp_ratio = 2\n"},
};
enum { NV = sizeof variants / sizeof variants[0] };

/* ---- models, checkpoints, exports ---------------------------------------- */

static void path_of(char *buf, size_t n, const char *name, const char *suffix) {
    snprintf(buf, n, "%s/%s%s", vc_test_tmpdir(), name, suffix);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* The variant's model with every parameter moved off its init by noise. */
static vc_status build(int vi, vc_params *ps, vc_pooler *m, char *ini, size_t n) {
    snprintf(ini, n, "[data]\nfile = x.h5\nframes = %d\n\n[model]\n%s", T, variants[vi].model_ini);
    vc_config *cfg;
    vc_run_cfg rc;
    vc_status s = vc_run_config_parse(ini, variants[vi].name, NULL, 0, &cfg, &rc);
    if (s) return s;
    vc_run_config_model(&rc, D);
    s = vc_pooler_init(m, &rc.model, ps, 7);
    vc_config_free(cfg);
    if (s) return s;
    if (!vc_logit_scale_init(ps)) return VC_ERR_OOM;
    vc_rng r;
    vc_rng_seed(&r, 100 + (uint64_t)vi);
    for (int i = 0; i < ps->count; i++) {
        vc_real *p = ps->data + ps->info[i].offset;
        double std = strcmp(ps->info[i].name, "pooler.logits") == 0 ? 1.0 : 0.3;
        for (size_t k = 0; k < ps->info[i].numel; k++) p[k] += (vc_real)(std * vc_rng_normal(&r));
    }
    return VC_OK;
}

static vc_status save_ckpt(const char *path, const vc_params *ps, const char *ini) {
    vc_ckpt_state st;
    memset(&st, 0, sizeof st);
    st.step = 42;
    st.best_step = -1;
    st.best_score = -1;
    return vc_ckpt_save(path, ps, NULL, &st, ini, D);
}


/* Runs `vclip ARGS`; returns the exit status, the output (stdout + stderr) in text. */
static int run_vclip(const char *args, char *text, size_t cap) {
    char cmd[4096], log[600];
    snprintf(log, sizeof log, "%s/vclip.log", vc_test_tmpdir());
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1", vc_test_vclip_bin(), args, log);
    int rc = system(cmd);
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(text, 1, cap - 1, f) : 0;
    text[got] = '\0';
    if (f) fclose(f);
    unlink(log);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/* The export through the binary when there is one (that is what users run),
 * else through the library. */
static void export_ckpt(const char *ckpt, const char *out) {
    if (vc_test_vclip_bin()) {
        char args[1400], text[2048];
        snprintf(args, sizeof args, "export '%s' --out '%s'", ckpt, out);
        ck_assert_msg(run_vclip(args, text, sizeof text) == 0, "vclip %s: %s", args, text);
    } else {
        ck_assert_msg(vc_export_pooler(ckpt, out) == VC_OK, "%s", vc_last_error());
    }
}

/* ---- the export's contents ------------------------------------------------ */

static int64_t json_int(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "model JSON: '%s' is missing or not a number", key);
    return (int64_t)v->valuedouble;
}

static bool json_bool(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsBool(v), "model JSON: '%s' is missing or not a bool", key);
    return cJSON_IsTrue(v);
}

static const char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsString(v), "model JSON: '%s' is missing or not a string", key);
    return v->valuestring;
}

START_TEST(test_export_holds_exactly_the_pooler_tensors_and_its_config) {
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    char ini[1024], ckpt[600], out[600];
    ck_assert_msg(build(_i, &ps, &m, ini, sizeof ini) == VC_OK, "%s: %s", variants[_i].name, vc_last_error());
    path_of(ckpt, sizeof ckpt, variants[_i].name, ".contents.ckpt");
    path_of(out, sizeof out, variants[_i].name, ".contents.pooler");
    ck_assert_msg(save_ckpt(ckpt, &ps, ini) == VC_OK, "%s", vc_last_error());
    export_ckpt(ckpt, out);

    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, out, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    ck_assert_str_eq(vc_st_meta(f, "format"), "vclip-pooler");
    ck_assert_str_eq(vc_st_meta(f, "version"), "1");
    /* exactly the model's parameters (pooler.* and logit_scale), F32, bit for bit */
    ck_assert_int_eq(vc_st_count(f), ps.count);
    for (int i = 0; i < ps.count; i++) {
        const char *name = ps.info[i].name;
        ck_assert_msg(strncmp(name, "pooler.", 7) == 0 || strcmp(name, "logit_scale") == 0, "%s", name);
        const vc_st_tensor *t = vc_st_find(f, name);
        ck_assert_msg(t != NULL, "%s: no tensor '%s'", out, name);
        const vc_tensor *want = &ps.vars[i]->val;
        ck_assert_int_eq(t->dtype, VC_ST_F32);
        ck_assert_int_eq(t->ndim, want->ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], want->ne[d]);
        ck_assert_msg(memcmp(t->data, want->data, t->nbytes) == 0, "%s differs from the checkpoint", name);
    }
    ck_assert(vc_st_find(f, "optim.m") == NULL && vc_st_find(f, "train.state") == NULL);

    cJSON *j = cJSON_Parse(vc_st_meta(f, "model"));
    ck_assert_msg(cJSON_IsObject(j), "model metadata is not a JSON object: %s", vc_st_meta(f, "model"));
    const vc_pooler_cfg *c = &m.cfg;
    ck_assert_str_eq(json_str(j, "type"), vc_pool_type_name(c->type));
    ck_assert_str_eq(json_str(j, "act"), c->act == VC_ACT_QUICKGELU ? "quickgelu" : "gelu");
    ck_assert_int_eq(json_int(j, "dim"), D);
    ck_assert_int_eq(json_int(j, "width"), c->width);
    ck_assert_int_eq(json_int(j, "layers"), c->layers);
    ck_assert_int_eq(json_int(j, "heads"), c->heads);
    ck_assert_int_eq(json_int(j, "mlp_ratio"), c->mlp_ratio);
    ck_assert_int_eq(json_int(j, "tokens"), c->tokens);
    ck_assert_int_eq(json_int(j, "max_frames"), c->max_frames);
    ck_assert_int_eq(json_int(j, "mlp_layers"), c->mlp_layers);
    ck_assert_int_eq(json_int(j, "hidden"), c->hidden);
    ck_assert(json_bool(j, "residual") == c->residual);
    ck_assert(json_bool(j, "text_head") == c->text_head);
    const cJSON *dr = cJSON_GetObjectItemCaseSensitive(j, "dropout");
    ck_assert(cJSON_IsNumber(dr) && dr->valuedouble == (strstr(variants[_i].model_ini, "dropout = 0.1") ? 0.1 : 0.0));
    ck_assert_int_eq(cJSON_GetArraySize(j), 14);
    cJSON_Delete(j);
    vc_st_close(f);
    unlink(ckpt);
    unlink(out);
    vc_params_free(&ps);
}
END_TEST

/* ---- the PyTorch module against vclip's forward --------------------------- */

/* Prepared once for every variant (an unchecked fixture), so the reference
 * script starts once: checkpoints, exports, the shared inputs, vclip's own
 * outputs, then tests/ref_export.py over all the exports. */
static struct {
    char error[4096];                /* a failure of the preparation ("" if none) */
    float video[NV][B * D], text[NV][B * D], logit_scale[NV];
} ref;

static void ref_script(char *path, size_t n) {
    /* __FILE__ is "tests/test_export.c" as compiled from the repository root */
    snprintf(path, n, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    snprintf(slash ? slash + 1 : path, n - (size_t)(slash ? slash + 1 - path : 0), "ref_export.py");
    if (access(path, R_OK) == 0) return;
    /* run from elsewhere: the binary is REPO/BUILD/tests/test_export */
    char exe[512];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return;
    exe[len] = '\0';
    for (int up = 0; up < 3; up++)
        if ((slash = strrchr(exe, '/'))) *slash = '\0';
    snprintf(path, n, "%s/tests/ref_export.py", exe);
}

static void make_inputs(vc_tensor *frames, vc_tensor *len, vc_tensor *text) {
    vc_tensor_alloc(frames, VC_F32, VC_DIMS(B, T, D));
    vc_tensor_alloc(len, VC_I64, VC_DIMS(B));
    vc_tensor_alloc(text, VC_F32, VC_DIMS(B, D));
    vc_rng r;
    vc_rng_seed(&r, 5);
    for (int b = 0; b < B; b++) {
        ((int64_t *)len->data)[b] = lens[b];
        for (int t = 0; t < T; t++) /* padding: large garbage that would dominate any leak */
            vc_test_fill_uniform(vc_f32(frames) + (b * T + t) * D, D, &r, t < lens[b] ? -1 : -40,
                                 t < lens[b] ? 1 : 40);
    }
    vc_test_fill_uniform(vc_f32(text), B * D, &r, -1, 1);
}

/* vclip's outputs for variant vi into ref; false with ref.error set on failure. */
static bool prepare_variant(int vi, const vc_tensor *frames, const vc_tensor *len, const vc_tensor *text) {
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    char ini[1024], ckpt[600], out[600];
    path_of(ckpt, sizeof ckpt, variants[vi].name, ".ckpt");
    path_of(out, sizeof out, variants[vi].name, ".pooler");
    bool ok = build(vi, &ps, &m, ini, sizeof ini) == VC_OK && save_ckpt(ckpt, &ps, ini) == VC_OK;
    if (ok && vc_test_vclip_bin()) {
        char args[1400], log[2048];
        snprintf(args, sizeof args, "export '%s' --out '%s'", ckpt, out);
        if (run_vclip(args, log, sizeof log) != 0) {
            snprintf(ref.error, sizeof ref.error, "%s: vclip %s: %s", variants[vi].name, args, log);
            vc_params_free(&ps);
            return false;
        }
    } else if (ok) {
        ok = vc_export_pooler(ckpt, out) == VC_OK;
    }
    vc_tape t;
    vc_tape_init(&t, 0);
    vc_tape_grad(&t, false);
    t.training = false; /* inference: no dropout */
    vc_var *y = ok ? vc_pooler_forward(&t, &m, vc_const(&t, frames), len) : NULL;
    vc_var *z = ok ? vc_pooler_text(&t, &m, vc_const(&t, text)) : NULL;
    if (y && z) {
        memcpy(ref.video[vi], y->val.data, sizeof ref.video[vi]);
        memcpy(ref.text[vi], z->val.data, sizeof ref.text[vi]);
        ref.logit_scale[vi] = vc_f32(&ps.vars[vc_params_find(&ps, "logit_scale")]->val)[0];
    } else {
        snprintf(ref.error, sizeof ref.error, "%s: %s", variants[vi].name, vc_last_error());
    }
    vc_tape_free(&t);
    vc_params_free(&ps);
    return y && z;
}

static void prepare_reference(void) {
    vc_tensor frames, len, text;
    make_inputs(&frames, &len, &text);
    char in[600], script[600], cmd[16384], log[600];
    path_of(in, sizeof in, "inputs", ".safetensors");
    path_of(log, sizeof log, "ref_export", ".log");
    ref_script(script, sizeof script);
    vc_st_writer *w = NULL;
    bool ok = vc_st_writer_new(&w) == VC_OK && vc_st_writer_add(w, "frames", &frames) == VC_OK &&
              vc_st_writer_add(w, "lengths", &len) == VC_OK && vc_st_writer_add(w, "text", &text) == VC_OK &&
              vc_st_writer_write(w, in) == VC_OK;
    vc_st_writer_free(w);
    if (!ok) snprintf(ref.error, sizeof ref.error, "writing the inputs: %s", vc_last_error());
    int o = snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", vc_test_python(), script, in);
    for (int vi = 0; ok && vi < NV; vi++) {
        ok = prepare_variant(vi, &frames, &len, &text);
        o += snprintf(cmd + o, sizeof cmd - (size_t)o, " '%s/%s.pooler' '%s/%s.out'", vc_test_tmpdir(),
                      variants[vi].name, vc_test_tmpdir(), variants[vi].name);
    }
    snprintf(cmd + o, sizeof cmd - (size_t)o, " >'%s' 2>&1", log);
    if (ok && system(cmd) != 0) {
        FILE *f = fopen(log, "r");
        char tail[900] = "";
        if (f) {
            fseek(f, 0, SEEK_END);
            long sz = ftell(f);
            fseek(f, sz > 899 ? sz - 899 : 0, SEEK_SET);
            tail[fread(tail, 1, sizeof tail - 1, f)] = '\0';
            fclose(f);
        }
        snprintf(ref.error, sizeof ref.error, "%s failed: %s", script, tail);
    }
    vc_tensor_release(&frames);
    vc_tensor_release(&len);
    vc_tensor_release(&text);
}

/* max|a - b| / max|b| */
static double rel_err(const float *a, const float *b, int64_t n) {
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (!(e <= d)) d = e; /* NaN counts as infinitely wrong */
        if (fabs((double)b[i]) > s) s = fabs((double)b[i]);
    }
    return isnan(d) ? INFINITY : d / (s > 0 ? s : 1);
}

static void check_output(const vc_st_file *f, const char *name, const float *want, int vi) {
    vc_tensor got;
    ck_assert_msg(vc_st_load_f32_new(f, name, &got) == VC_OK, "%s", vc_last_error());
    ck_assert_msg(got.ndim == 2 && got.ne[0] == B && got.ne[1] == D, "%s: %s has the wrong shape", variants[vi].name,
                  name);
    double e = rel_err(vc_f32(&got), want, B * D);
    ck_assert_msg(e < REL_TOL, "%s: torch %s differs from vclip: relative error %.3g", variants[vi].name, name, e);
    vc_tensor_release(&got);
}

START_TEST(test_torch_module_matches_vclip_forward) {
    ck_assert_msg(ref.error[0] == '\0', "%s", ref.error);
    char out[600];
    path_of(out, sizeof out, variants[_i].name, ".out");
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, out, VC_ST_READ) == VC_OK, "%s", vc_last_error());
    check_output(f, "video", ref.video[_i], _i);
    check_output(f, "video64", ref.video[_i], _i);
    check_output(f, "text", ref.text[_i], _i);
    check_output(f, "text64", ref.text[_i], _i);
    /* inf, nan and huge values in the padding change nothing */
    check_output(f, "video_repad", ref.video[_i], _i);
    vc_tensor ls;
    ck_assert(vc_st_load_f32_new(f, "logit_scale", &ls) == VC_OK);
    ck_assert(vc_numel(&ls) == 1 && vc_f32(&ls)[0] == ref.logit_scale[_i]);
    vc_tensor_release(&ls);
    vc_st_close(f);
}
END_TEST

/* ---- bad inputs ----------------------------------------------------------- */

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static void *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert(f != NULL);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(*n ? *n : 1);
    ck_assert(p && fread(p, 1, *n, f) == *n);
    fclose(f);
    return p;
}

/* Bad checkpoints under tmpdir/bad.*: missing, not safetensors, a safetensors
 * file that is no checkpoint, an export, and a truncated checkpoint. */
enum { NBAD = 5 };
static const char *const bad_names[NBAD] = {"bad.missing", "bad.text", "bad.other", "bad.export", "bad.truncated"};
static const char *const bad_words[NBAD] = {"bad.missing", "bad.text", "not a vclip checkpoint",
                                            "not a vclip checkpoint", "bad.truncated"};

static void make_bad_inputs(void) {
    char p[600], good[600];
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    char ini[1024];
    ck_assert(build(5, &ps, &m, ini, sizeof ini) == VC_OK);
    path_of(good, sizeof good, "bad", ".good");
    ck_assert(save_ckpt(good, &ps, ini) == VC_OK);
    path_of(p, sizeof p, bad_names[1], "");
    write_bytes(p, "[data]\nfile = x.h5\n", 19);
    /* a valid safetensors file of someone else's */
    vc_st_writer *w;
    ck_assert(vc_st_writer_new(&w) == VC_OK);
    ck_assert(vc_st_writer_add(w, "pooler.pos_emb", &ps.vars[0]->val) == VC_OK);
    ck_assert(vc_st_writer_meta(w, "format", "pt") == VC_OK);
    path_of(p, sizeof p, bad_names[2], "");
    ck_assert(vc_st_writer_write(w, p) == VC_OK);
    vc_st_writer_free(w);
    path_of(p, sizeof p, bad_names[3], "");
    ck_assert_msg(vc_export_pooler(good, p) == VC_OK, "%s", vc_last_error());
    size_t n;
    char *bytes = read_all(good, &n);
    path_of(p, sizeof p, bad_names[4], "");
    write_bytes(p, bytes, n - 100);
    free(bytes);
    vc_params_free(&ps);
}

START_TEST(test_export_of_a_bad_checkpoint_fails_and_writes_nothing) {
    make_bad_inputs();
    char in[600], out[600];
    for (int k = 0; k < NBAD; k++) {
        path_of(in, sizeof in, bad_names[k], "");
        path_of(out, sizeof out, bad_names[k], ".out");
        ck_assert_msg(vc_export_pooler(in, out) != VC_OK, "%s was exported", bad_names[k]);
        ck_assert_msg(strstr(vc_last_error(), bad_words[k]), "%s: message '%s' lacks '%s'", bad_names[k],
                      vc_last_error(), bad_words[k]);
        ck_assert_msg(!exists(out), "%s: a failed export left %s", bad_names[k], out);
    }
    /* a failed export leaves an existing file as it was */
    path_of(out, sizeof out, "bad", ".existing");
    write_bytes(out, "keep me", 7);
    path_of(in, sizeof in, bad_names[4], "");
    ck_assert(vc_export_pooler(in, out) != VC_OK);
    size_t n;
    char *bytes = read_all(out, &n);
    ck_assert(n == 7 && memcmp(bytes, "keep me", 7) == 0);
    free(bytes);
    /* never onto the checkpoint itself */
    path_of(in, sizeof in, "bad", ".good");
    ck_assert(vc_export_pooler(in, in) != VC_OK);
    ck_assert(strstr(vc_last_error(), "overwrite the checkpoint"));
    char *text;
    int64_t dim;
    ck_assert_msg(vc_ckpt_read_config(in, &text, &dim) == VC_OK, "%s", vc_last_error());
    free(text);
}
END_TEST

/* A checkpoint whose weights were damaged into NaN/Inf after it was written
 * fails to load, naming the parameter and the element (training never saves
 * non-finite values). */
START_TEST(test_checkpoint_with_non_finite_weights_fails_to_load) {
    vc_params ps, ps2;
    vc_pooler m, m2;
    char ini[512], path[600];
    vc_params_init(&ps);
    vc_params_init(&ps2);
    ck_assert_msg(build(5, &ps, &m, ini, sizeof ini) == VC_OK, "%s", vc_last_error()); /* transformer */
    ck_assert_msg(build(5, &ps2, &m2, ini, sizeof ini) == VC_OK, "%s", vc_last_error());
    int last = 0;
    while (last < ps.count && ps.info[last].numel < 4) last++;
    ck_assert_int_lt(last, ps.count);
    ps.data[ps.info[last].offset + 3] = NAN;
    path_of(path, sizeof path, "nan", ".safetensors");
    ck_assert_msg(save_ckpt(path, &ps, ini) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(vc_ckpt_load(path, &ps2, NULL, NULL), VC_ERR_NUMERIC);
    char want[200];
    snprintf(want, sizeof want, "'%s' holds NaN at element 3: the checkpoint is damaged", ps.info[last].name);
    ck_assert_msg(strstr(vc_last_error(), want) && strstr(vc_last_error(), path), "%s", vc_last_error());
    vc_params_free(&ps);
    vc_params_free(&ps2);
}
END_TEST

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

START_TEST(test_export_command_reports_bad_input_in_one_line) {
    make_bad_inputs();
    char in[600], out[600], args[1400], text[4096];
    for (int k = 0; k < NBAD; k++) {
        path_of(in, sizeof in, bad_names[k], "");
        path_of(out, sizeof out, bad_names[k], ".cmd.out");
        snprintf(args, sizeof args, "export '%s' --out '%s'", in, out);
        ck_assert_msg(run_vclip(args, text, sizeof text) != 0, "vclip %s succeeded", args);
        ck_assert_msg(count_lines(text) == 1 && strncmp(text, "vclip export: ", 14) == 0 &&
                          strstr(text, bad_words[k]),
                      "%s: expected one line 'vclip export: ...%s...', got: %s", bad_names[k], bad_words[k], text);
        ck_assert_msg(!exists(out), "%s: a failed export left %s", bad_names[k], out);
    }
    path_of(in, sizeof in, "bad", ".good");
    snprintf(args, sizeof args, "export '%s'", in);
    ck_assert(run_vclip(args, text, sizeof text) != 0 && count_lines(text) == 1 && strstr(text, "--out"));
    snprintf(args, sizeof args, "export '%s' --out", in);
    ck_assert(run_vclip(args, text, sizeof text) != 0 && count_lines(text) == 1);
    snprintf(args, sizeof args, "export '%s' --bogus x --out y", in);
    ck_assert(run_vclip(args, text, sizeof text) != 0 && count_lines(text) == 1 && strstr(text, "--bogus"));
    path_of(out, sizeof out, "bad", ".cmd.good");
    snprintf(args, sizeof args, "export '%s' --out '%s'", in, out);
    ck_assert_msg(run_vclip(args, text, sizeof text) == 0 && exists(out), "%s", text);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("export");
    TCase *tc = tcase_create("contents");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_export_holds_exactly_the_pooler_tensors_and_its_config, 0, NV);
    tcase_add_test(tc, test_export_of_a_bad_checkpoint_fails_and_writes_nothing);
    tcase_add_test(tc, test_checkpoint_with_non_finite_weights_fails_to_load);
    suite_add_tcase(s, tc);
    if (vc_test_vclip_bin()) {
        TCase *cmd = tcase_create("command");
        tcase_set_timeout(cmd, 60);
        tcase_add_test(cmd, test_export_command_reports_bad_input_in_one_line);
        suite_add_tcase(s, cmd);
    } else {
        printf("SKIP: vclip export command tests (VCLIP_BIN is not set; run them with make test)\n");
    }
    if (vc_torch_available()) {
        TCase *tc2 = tcase_create("torch");
        tcase_set_timeout(tc2, 300);
        tcase_add_unchecked_fixture(tc2, prepare_reference, NULL);
        tcase_add_loop_test(tc2, test_torch_module_matches_vclip_forward, 0, NV);
        suite_add_tcase(s, tc2);
    } else {
        printf("SKIP: tools/vclip_torch.py against vclip (%s cannot import torch)\n", vc_test_python());
    }
    return s;
}

VC_TEST_MAIN(make_suite)
