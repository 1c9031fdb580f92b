#include "trainer.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autograd/op_gemm.h"
#include "checkpoint.h"
#include "data/dataset.h"
#include "eval/evaluate.h"
#include "eval/run_log.h"
#include "step.h"
#include "tb_events.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void note(const vc_train_hooks *h, const char *fmt, ...) {
    if (!h || !h->on_note) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h->on_note(h->ud, buf);
}

/* mkdir -p */
static vc_status make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return vc_fail(VC_ERR_ARG, "out_dir is too long: %s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return vc_fail(VC_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return vc_fail(VC_ERR_IO, "%s: not a directory", path);
    return VC_OK;
}

static void path_in(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* A run killed inside a checkpoint write leaves its CKPT.tmp.PID behind
 * (vc_st_writer_write), as large as a checkpoint, and one killed while a
 * resume cut its log back leaves log.jsonl.tmp.PID (vc_run_log_cut);
 * repeated kills would pile them up. Removes those whose writer is gone;
 * returns how many. */
static int remove_stale_temporaries(const char *dir) {
    static const char *const prefixes[] = {"last.safetensors.tmp.", "best.safetensors.tmp.", "log.jsonl.tmp."};
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    for (struct dirent *e; (e = readdir(d));) {
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncmp(e->d_name, prefixes[i], n) != 0) continue;
            char *end;
            long pid = strtol(e->d_name + n, &end, 10);
            if (end == e->d_name + n || *end || pid <= 0) continue;
            if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* still writing (or not ours to judge) */
            char p[4096];
            path_in(p, sizeof p, dir, e->d_name);
            removed += unlink(p) == 0;
        }
    }
    closedir(d);
    return removed;
}

static void json_recall(FILE *f, const char *name, const vc_recall *r) {
    fprintf(f, "\"%s\": {\"R@1\": %.4f, \"R@5\": %.4f, \"R@10\": %.4f, \"MdR\": %.1f, \"MnR\": %.4f}", name, r->r1,
            r->r5, r->r10, r->mdr, r->mnr);
}

static vc_status model_setup(vc_run_cfg *rc, int64_t dim, vc_params *ps, vc_pooler *m, vc_var **scale) {
    vc_run_config_model(rc, dim);
    vc_status s = vc_pooler_init(m, &rc->model, ps, rc->seed);
    if (s) return s;
    *scale = vc_logit_scale_init(ps);
    return *scale ? VC_OK : vc_last_status(); /* vc_params_add said what failed */
}

vc_status vc_model_place(vc_params *ps, const char *device, bool tf32, const char *what) {
    vc_device_spec d;
    vc_status s = vc_device_parse(device ? device : "cpu", &d);
    if (!s) s = vc_device_open(&d, tf32);
    if (!s) s = vc_device_require(d.type, vc_train_kernels, vc_train_kernels_n, what);
    if (!s) s = vc_params_place(ps, d.type);
    return s;
}

vc_status vc_model_from_checkpoint(const char *path, const char *const *ov, int n, vc_config **cfg, vc_run_cfg *rc,
                                   vc_params *ps, vc_pooler *m) {
    char *text = NULL;
    int64_t dim = 0;
    vc_status s = vc_ckpt_read_config(path, &text, &dim);
    if (!s) s = vc_run_config_parse(text, path, ov, n, cfg, rc);
    free(text);
    if (s) return s;
    vc_var *scale;
    if (!(s = model_setup(rc, dim, ps, m, &scale))) s = vc_ckpt_load(path, ps, NULL, NULL);
    return s;
}

typedef struct {
    vc_config *cfg;
    vc_run_cfg *rc;
    const vc_train_hooks *hooks;
    char *config_text;
    int64_t dim;
    const int64_t *val_idx;
    int64_t n_val;
    bool have_val;
    FILE *log;
    vc_tb_writer *tb; /* the TensorBoard event file: the same numbers as log.jsonl */
    vc_comm *comm;    /* the ranks of a data-parallel run (size 1: one process) */
    bool writer;      /* this rank writes the run directory (rank 0) */
} run_ctx;

/* An evaluation's scalars in the event file: SPLIT/t2v_R@1 ... SPLIT/v2t_MnR,
 * SPLIT/mean_R@1 (log.jsonl's "score") and, with zero-shot classification,
 * SPLIT/zero_shot_top1 and _top5. */
static vc_status tb_eval(vc_tb_writer *tb, const char *split, int64_t step, const vc_eval_result *r, double score) {
    static const char *const what[5] = {"R@1", "R@5", "R@10", "MdR", "MnR"};
    char tags[14][96];
    vc_tb_scalar v[14];
    int n = 0;
    for (int d = 0; d < 2; d++) {
        const vc_recall *rc = d ? &r->v2t : &r->t2v;
        const double x[5] = {rc->r1, rc->r5, rc->r10, rc->mdr, rc->mnr};
        for (int k = 0; k < 5; k++, n++) {
            snprintf(tags[n], sizeof tags[n], "%s/%s_%s", split, d ? "v2t" : "t2v", what[k]);
            v[n] = (vc_tb_scalar){tags[n], x[k]};
        }
    }
    snprintf(tags[n], sizeof tags[n], "%s/mean_R@1", split);
    v[n] = (vc_tb_scalar){tags[n], score};
    n++;
    if (r->has_cls)
        for (int k = 0; k < 2; k++, n++) {
            snprintf(tags[n], sizeof tags[n], "%s/zero_shot_top%d", split, k ? 5 : 1);
            v[n] = (vc_tb_scalar){tags[n], k ? r->top5 : r->top1};
        }
    return vc_tb_write(tb, step, v, n);
}

/* log.jsonl, the event file, best.safetensors and the hook of one evaluation. */
static vc_status write_eval(run_ctx *c, int64_t step, const vc_ckpt_state *st0, const vc_params *ps, const vc_adamw *opt,
                            const vc_loader_state *ls, const vc_eval_result *rr, double score, bool best) {
    vc_run_cfg *rc = c->rc;
    const vc_eval_result r = *rr;
    vc_status s;
    fprintf(c->log, "{\"event\": \"eval\", \"split\": \"%s\", \"step\": %lld, ", rc->val_split, (long long)step);
    json_recall(c->log, "t2v", &r.t2v);
    fputs(", ", c->log);
    json_recall(c->log, "v2t", &r.v2t);
    fprintf(c->log, ", \"videos\": %lld, \"captions\": %lld, \"score\": %.4f, \"best\": %s", (long long)r.videos,
            (long long)r.captions, score, best ? "true" : "false");
    if (r.has_cls) fprintf(c->log, ", \"top1\": %.4f, \"top5\": %.4f", r.top1, r.top5);
    fputs("}\n", c->log);
    fflush(c->log);
    if ((s = tb_eval(c->tb, rc->val_split, step, &r, score))) return s;
    if (best) {
        char p[4096];
        path_in(p, sizeof p, rc->out_dir, "best.safetensors");
        vc_ckpt_state bs = *st0;
        bs.best_score = score;
        bs.best_step = step;
        bs.loader = *ls;
        if ((s = vc_ckpt_save(p, ps, opt, &bs, c->config_text, c->dim))) return s;
    }
    if (c->hooks && c->hooks->on_eval) c->hooks->on_eval(c->hooks->ud, step, &r, best);
    return VC_OK;
}

static vc_status evaluate_val(run_ctx *c, const vc_pooler *m, int64_t step, vc_ckpt_state *st, const vc_params *ps,
                              const vc_adamw *opt, const vc_loader_state *ls) {
    vc_run_cfg *rc = c->rc;
    vc_eval_opts eo = {rc->eval_batch, rc->frames,   rc->eval_sampling,
                       rc->mem_budget_mb << 20, rc->prefetch, rc->zero_shot,
                       c->hooks ? c->hooks->eval_progress : (vc_progress_hook){0}};
    vc_eval_result r;
    vc_status s = vc_evaluate_sharded(m, rc->file, c->val_idx, c->n_val, &eo, c->comm, &r);
    if (s) return s;
    double score = (r.t2v.r1 + r.v2t.r1) / 2;
    /* a model that produced NaN scores is never the best one; every rank has
     * the same numbers, so every rank makes the same choice */
    bool best = score > st->best_score && r.nan_scores == 0;
    /* rank 0 writes; then every rank learns whether that worked */
    s = c->writer ? write_eval(c, step, st, ps, opt, ls, &r, score, best) : VC_OK;
    if (best) {
        st->best_score = score;
        st->best_step = step;
    }
    return vc_comm_agree(c->comm, s);
}

/* FNV-1a over bytes: fingerprints of configs and weights compared across ranks. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The parameters (and with opt the AdamW moments) in host memory: a copy
 * into *buf on a device (free it), ps's own arrays on the CPU. */
static vc_status host_view(const vc_params *ps, const vc_adamw *opt, vc_real **buf, vc_real *view[3]) {
    *buf = NULL;
    view[0] = ps->data;
    view[1] = opt ? opt->m : NULL;
    view[2] = opt ? opt->v : NULL;
    if (ps->device == VC_CPU) return VC_OK;
    size_t n = ps->n, k = opt ? 3 : 1;
    if (!(*buf = malloc(k * n * sizeof(vc_real) + 1)))
        return vc_fail(VC_ERR_OOM, "train: cannot allocate %zu bytes to copy the model to the host", k * n * sizeof(vc_real));
    const vc_backend *be = vc_backend_for(ps->device);
    for (size_t i = 0; i < k; i++) {
        be->copy_d2h(*buf + i * n, view[i], n * sizeof(vc_real));
        view[i] = *buf + i * n;
    }
    return VC_OK;
}

/* Rank 0's model, optimiser and run state to every rank: the start of a
 * data-parallel run (resumed or fresh) is rank 0's, so ranks never depend on
 * reading the run directory themselves. Broadcasts are host collectives: on
 * a device the arrays travel through host copies. */
static vc_status share_state(vc_comm *c, vc_params *ps, vc_adamw *opt, vc_ckpt_state *st, bool *resumed) {
    if (c->size == 1) return VC_OK;
    vc_status s;
    uint8_t r = *resumed;
    vc_real *buf, *h[3];
    if ((s = host_view(ps, opt, &buf, h))) return s;
    if ((s = vc_comm_broadcast(c, st, sizeof *st, 0)) || (s = vc_comm_broadcast(c, &r, 1, 0)) ||
        (s = vc_comm_broadcast(c, &opt->step, sizeof opt->step, 0)) ||
        (s = vc_comm_broadcast(c, h[0], ps->n * sizeof(vc_real), 0)) ||
        (s = vc_comm_broadcast(c, h[1], opt->n * sizeof(vc_real), 0)) ||
        (s = vc_comm_broadcast(c, h[2], opt->n * sizeof(vc_real), 0))) {
        free(buf);
        return s;
    }
    if (buf) {
        const vc_backend *be = vc_backend_for(ps->device);
        be->copy_h2d(ps->data, h[0], ps->n * sizeof(vc_real));
        be->copy_h2d(opt->m, h[1], opt->n * sizeof(vc_real));
        be->copy_h2d(opt->v, h[2], opt->n * sizeof(vc_real));
        free(buf);
    }
    *resumed = r;
    return VC_OK;
}

/* Every rank holds the same weights (a checkpoint speaks for all), also on a
 * device (hashed from a host copy). */
static vc_status check_replicas(vc_comm *c, const vc_params *ps) {
    vc_real *buf, *h[3];
    vc_status s = host_view(ps, NULL, &buf, h);
    if (!s) s = vc_comm_check_same(c, fnv(0xcbf29ce484222325ull, h[0], ps->n * sizeof(vc_real)),
                                   "model weights (the replicas diverged)");
    free(buf);
    return s;
}

/* Batches to the device: each batch's frames and text go over on the
 * uploader's copy stream while the previous step computes (fetched and
 * started from the step's `queued` callback), out of the loader's pinned
 * buffers. */
typedef struct {
    vc_loader *ld;
    vc_uploader *up;
    const vc_batch *next;   /* fetched during the last step, its copy started */
    vc_loader_state before; /* the loader's position before next was fetched */
    bool want_next;         /* another step follows this one */
    vc_status err;
} feed;

static vc_status feed_start(feed *f, const vc_batch *b) {
    const void *src[2] = {b->frames.data, b->text.data};
    size_t nb[2] = {vc_nbytes(&b->frames), vc_nbytes(&b->text)};
    return vc_uploader_start(f->up, 2, src, nb);
}

static void feed_queued(void *ud) {
    feed *f = ud;
    if (!f->want_next || f->err || f->next) return;
    vc_uploader_wait(f->up); /* the current batch's buffers go back to the loader below */
    vc_loader_get_state(f->ld, &f->before);
    const vc_batch *nb;
    if ((f->err = vc_loader_next(f->ld, &nb))) return;
    if (!(f->err = feed_start(f, nb))) f->next = nb;
}

vc_status vc_train_run(vc_config *cfg, vc_run_cfg *rc, bool resume, const vc_train_hooks *hooks) {
    vc_comm *one;
    vc_status s = vc_comm_single(&one);
    if (s) return s;
    s = vc_train_run_comm(cfg, rc, resume, hooks, one);
    vc_comm_close(one);
    return s;
}

vc_status vc_train_run_comm(vc_config *cfg, vc_run_cfg *rc, bool resume, const vc_train_hooks *hooks, vc_comm *comm) {
    /* only rank 0 reports and writes; every rank computes */
    if (comm->rank != 0) hooks = NULL;
    run_ctx c = {.cfg = cfg, .rc = rc, .hooks = hooks, .comm = comm, .writer = comm->rank == 0};
    int R = comm->size;
    vc_status s = VC_OK;
    vc_dataset *ds = NULL;
    vc_source src = {0};
    vc_loader *ld = NULL;
    vc_params ps;
    vc_params_init(&ps);
    vc_adamw opt = {0};
    vc_tape tape;
    vc_tape_init(&tape, 0);
    vc_pooler m;
    vc_var *scale = NULL;
    vc_step_ctx *scp = NULL; /* the step context, once made (its graph is freed at the end) */
    feed fd = {0};
    char path[4096];
    const int64_t *train_idx = NULL;
    int64_t n_train = 0, N = 0;
    /* the data opens before the run directory is made: a bad file leaves nothing behind */
    s = vc_dataset_open(&ds, rc->file);
    if (!s) s = vc_dataset_source(ds, &src);
    if (!s) s = vc_dataset_split(ds, rc->train_split, &train_idx, &n_train);
    c.have_val = strcmp(rc->val_split, "none") != 0;
    if (!s && c.have_val) s = vc_dataset_split(ds, rc->val_split, &c.val_idx, &c.n_val);
    if (!s) s = model_setup(rc, src.dim, &ps, &m, &scale);
    /* the device: present, able to run every kernel of the step; then the
     * parameters, gradients and moments move there in one buffer and the
     * tape's arena lives there too */
    vc_device dev = rc->device.type;
    if (!s) s = vc_device_open(&rc->device, rc->tf32);
    if (!s) s = vc_device_require(dev, vc_train_kernels, vc_train_kernels_n, "training");
    /* data-parallel, the comm's float collectives must take the step's
     * memory: MPI for the CPU, NCCL (or host-staged) for CUDA */
    if (!s && (R > 1 || comm->ops->device != VC_CPU) && comm->ops->device != dev)
        s = vc_fail(VC_ERR_ARG, "train.device = %s with %d rank%s over the %s comm, whose collectives work on %s memory",
                    vc_device_name(dev), R, R == 1 ? "" : "s", comm->ops->name, vc_device_name(comm->ops->device));
    if (!s) s = vc_params_place(&ps, dev);
    if (!s && dev != VC_CPU) {
        vc_tape_free(&tape);
        vc_tape_init_on(&tape, dev, 0);
    }
    /* the products' precision, on the tape of the device it trains on (a
     * tape starts in fp32), and on that device's backend */
    if (!s && vc_tape_precision(&tape, rc->precision) != rc->precision)
        note(hooks, "%s", vc_precision_fallback_reason(vc_backend_for(dev), rc->precision));
    if (!s) s = vc_adamw_init(&opt, &ps, &rc->adamw);
    if (!s) s = vc_config_text(cfg, &c.config_text);
    if (!s && R > 1 && rc->batch % R != 0)
        s = vc_fail(VC_ERR_ARG, "train.batch %lld does not divide by the %d ranks: set it to a multiple of %d",
                    (long long)rc->batch, R, R);
    vc_loader_opts lo = vc_loader_defaults();
    lo.batch = rc->batch;
    lo.max_frames = rc->frames;
    lo.frames = rc->train_sampling;
    lo.train = true;
    lo.seed = rc->seed;
    lo.split = train_idx;
    lo.n_split = train_idx ? n_train : 0;
    lo.mem_budget = rc->mem_budget_mb << 20;
    lo.prefetch = rc->prefetch;
    lo.shard_rank = comm->rank;
    lo.shard_count = R;
    if (!s) lo.pinned_for = dev;
    if (!s) s = vc_loader_open(&ld, &src, &lo);
    if (!s && dev != VC_CPU) s = vc_uploader_open(&fd.up, dev);
    fd.ld = ld;
    if (!s && (N = vc_loader_n_videos(ld)) < rc->batch)
        s = vc_fail(VC_ERR_ARG, "%s: %lld training videos with frames and captions, fewer than batch %lld", rc->file,
                    (long long)N, (long long)rc->batch);
    /* every rank must have opened the same data with the same config */
    if ((s = vc_comm_agree(comm, s))) goto done;
    vc_loader_state ls0;
    vc_loader_get_state(ld, &ls0);
    if ((s = vc_comm_check_same(comm, fnv(0xcbf29ce484222325ull, c.config_text, strlen(c.config_text)),
                                "config (its file or --set overrides)")) ||
        (s = vc_comm_check_same(comm, ls0.fingerprint, "training data (file, split or loader setup)")))
        goto done;
    if (c.writer) {
        s = make_dirs(rc->out_dir);
        int stale = s ? 0 : remove_stale_temporaries(rc->out_dir);
        if (stale)
            note(hooks, "%s: removed %d partial file%s of an interrupted run (checkpoint or log)", rc->out_dir, stale,
                 stale == 1 ? "" : "s");
    }
    c.dim = src.dim;
    note(hooks, "data %s: %lld training videos (%lld without frames and %lld without captions skipped), D %lld",
         rc->file, (long long)N, (long long)vc_loader_n_skipped_empty(ld),
         (long long)vc_loader_n_skipped_uncaptioned(ld), (long long)src.dim);
    if (R > 1)
        note(hooks, "%d ranks (%s): %lld videos of each global batch of %lld per rank", R, comm->ops->name,
             (long long)(rc->batch / R), (long long)rc->batch);
    int64_t per_epoch = N / rc->batch;
    int64_t total, warmup;
    vc_run_schedule(rc, N, &total, &warmup);
    int64_t eval_every = rc->eval_every ? rc->eval_every : per_epoch;
    int64_t ckpt_every = rc->checkpoint_every ? rc->checkpoint_every : eval_every;
    vc_sched sched = {rc->schedule, rc->lr, warmup, total};
    vc_ckpt_state st = {0, -1, -1, {0}};
    path_in(path, sizeof path, rc->out_dir, "last.safetensors");
    struct stat sb;
    if (!s && c.writer && resume && stat(path, &sb) != 0) {
        note(hooks, "no checkpoint %s yet: starting from step 0", path);
        resume = false;
    }
    if (!s && c.writer && resume) {
        char *old = NULL;
        int64_t odim;
        s = vc_ckpt_read_config(path, &old, &odim);
        bool same = false;
        if (!s) s = vc_run_config_same_run(old, c.config_text, &same);
        free(old);
        if (!s && !same)
            s = vc_fail(VC_ERR_ARG, "%s: the checkpoint was made with a different config; resume with the same "
                                    "config file and --set overrides", path);
        if (!s) s = vc_ckpt_load(path, &ps, &opt, &st);
    }
    /* rank 0's directory and checkpoint are fine (or every rank stops), then
     * its state goes to all */
    if ((s = vc_comm_agree(comm, s)) || (s = share_state(comm, &ps, &opt, &st, &resume))) goto done;
    if (resume) {
        if ((s = vc_loader_set_state(ld, &st.loader))) goto done;
        note(hooks, "resumed from %s at step %lld", path, (long long)st.step);
    }
    if (c.writer) {
        char cpath[4096];
        path_in(cpath, sizeof cpath, rc->out_dir, "config.ini");
        s = vc_config_save(cfg, cpath);
        /* the event file opens before log.jsonl, so that a refusal (several
         * event files) leaves the log as it was; resumed, it keeps the steps up
         * to the checkpoint's, which this run does not redo (see tb_events.h) */
        vc_tb_resume tbr;
        if (!s) s = vc_tb_open(&c.tb, rc->out_dir, resume ? st.step : -1, &tbr);
        if (!s && resume && tbr.created)
            note(hooks, "%s: no event file of the earlier launches: TensorBoard shows this run from step %lld on",
                 rc->out_dir, (long long)st.step);
        else if (!s && resume && (tbr.dropped || tbr.damaged_bytes))
            note(hooks, "%s: cut back to step %lld (%lld later record%s dropped%s)", vc_tb_path(c.tb), (long long)st.step,
                 (long long)tbr.dropped, tbr.dropped == 1 ? "" : "s", tbr.damaged_bytes ? ", and a damaged tail" : "");
        path_in(cpath, sizeof cpath, rc->out_dir, "log.jsonl");
        vc_run_log_cut_info cut; /* resumed: the records past the checkpoint go, as in the event file */
        if (!s && resume && !(s = vc_run_log_cut(cpath, st.step, &cut)) && cut.dropped)
            note(hooks, "%s: cut back to step %lld (%lld later line%s dropped)", cpath, (long long)st.step,
                 (long long)cut.dropped, cut.dropped == 1 ? "" : "s");
        if (!s && !(c.log = fopen(cpath, resume ? "a" : "w"))) s = vc_fail(VC_ERR_IO, "%s: cannot open for writing", cpath);
        if (!s) {
            fprintf(c.log, "{\"event\": \"%s\", \"step\": %lld, \"total_steps\": %lld, \"warmup_steps\": %lld, "
                           "\"videos\": %lld, \"model\": \"%s\", \"params\": %zu, \"ranks\": %d}\n",
                    resume ? "resume" : "start", (long long)st.step, (long long)total, (long long)warmup, (long long)N,
                    vc_pool_type_name(rc->model.type), ps.n, R);
            fflush(c.log);
        }
    }
    if ((s = vc_comm_agree(comm, s))) goto done;
    /* dropout masks differ per rank (each holds other videos); rank 0's are a single run's */
    tape.seed = (rc->seed ^ 0x5bd1e995u) + (uint64_t)comm->rank * 0x9e3779b97f4a7c15ull;
    vc_step_ctx sc = {&m, &ps, scale, &opt, &tape, rc->grad_clip, 0, comm, false, NULL, NULL, NULL, rc->grad_bucket_mb};
    sc.use_graph = dev != VC_CPU && rc->cuda_graph;
    if (fd.up) {
        sc.queued = feed_queued;
        sc.queued_ud = &fd;
    }
    scp = &sc;
    double t0 = now(), tlog = t0;
    int64_t first = st.step;
    while (st.step < total) {
        const vc_batch *b;
        /* a read error here is this rank's alone: the others wait in the step's
         * collectives until the launcher ends the job (see tensor/comm.h) */
        if (fd.next) {
            b = fd.next;
            fd.next = NULL;
        } else if ((s = vc_loader_next(ld, &b)) || (fd.up && (s = feed_start(&fd, b)))) {
            goto done;
        }
        vc_tensor frames = b->frames, text = b->text;
        if (fd.up) { /* the device copies (the compute stream waits for them) */
            void *dp[2];
            if ((s = vc_uploader_take(fd.up, dp))) goto done;
            frames.data = dp[0];
            text.data = dp[1];
            frames.device = text.device = dev;
            frames.owned = text.owned = NULL;
        }
        int64_t epoch = b->epoch; /* b goes back to the loader once the next batch is fetched */
        fd.want_next = fd.up && st.step + 1 < total && !(hooks && hooks->stop_at > 0 && st.step + 1 >= hooks->stop_at);
        double lr = vc_sched_lr(&sched, st.step);
        vc_step_out so;
        sc.step = (uint64_t)st.step; /* dropout masks follow the step, also across resumes */
        s = vc_train_step(&sc, &frames, &b->lengths, &text, lr, &so);
        if (!s && fd.err) s = fd.err;
        if (s) {
            if (s == VC_ERR_NUMERIC) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s", vc_last_error());
                s = vc_fail(VC_ERR_NUMERIC, "step %lld: %s; stopped, the last good checkpoint is %s",
                            (long long)st.step, msg, path);
            }
            goto done;
        }
        st.step++;
        double t = now();
        if (c.log && (st.step % rc->log_every == 0 || st.step == total)) {
            double sps = (double)((st.step - first) * rc->batch) / (t - t0);
            fprintf(c.log,
                    "{\"event\": \"step\", \"step\": %lld, \"epoch\": %lld, \"loss\": %.6f, \"lr\": %.6g, "
                    "\"grad_norm\": %.6g, \"logit_scale\": %.6f, \"samples_per_s\": %.1f}\n",
                    (long long)st.step, (long long)epoch, so.loss, lr, so.grad_norm, so.logit_scale, sps);
            fflush(c.log);
            const vc_tb_scalar v[] = {{"train/loss", so.loss},         {"train/lr", lr},
                                      {"train/grad_norm", so.grad_norm}, {"train/logit_scale", so.logit_scale},
                                      {"train/samples_per_s", sps},    {"train/epoch", (double)epoch}};
            if ((s = vc_tb_write(c.tb, st.step, v, (int)(sizeof v / sizeof v[0])))) goto done;
        }
        if (hooks && hooks->on_step && (t - tlog > 0.2 || st.step == total)) {
            tlog = t;
            double sps = (double)((st.step - first) * rc->batch) / (t - t0);
            vc_train_progress p = {st.step, total, epoch, so.loss, lr, so.grad_norm, so.logit_scale, sps,
                                   sps > 0 ? (double)((total - st.step) * rc->batch) / sps : 0};
            hooks->on_step(hooks->ud, &p);
        }
        if (fd.next) st.loader = fd.before; /* the next batch, fetched already, is not done */
        else vc_loader_get_state(ld, &st.loader);
        bool at_eval = c.have_val && (st.step % eval_every == 0 || st.step == total);
        if (at_eval) {
            vc_tape_reset(&tape); /* release this step's activations before evaluating */
            if ((s = evaluate_val(&c, &m, st.step, &st, &ps, &opt, &st.loader))) goto done;
        }
        bool stop = hooks && hooks->stop_at > 0 && st.step >= hooks->stop_at;
        if (st.step % ckpt_every == 0 || st.step == total || stop) {
            /* the replicas must still be identical: a checkpoint speaks for all */
            if (R > 1 && (s = check_replicas(comm, &ps))) goto done;
            if (c.writer) s = vc_ckpt_save(path, &ps, &opt, &st, c.config_text, c.dim);
            if ((s = vc_comm_agree(comm, s))) goto done;
        }
        if (stop) goto done;
    }
    if (c.log)
        fprintf(c.log, "{\"event\": \"end\", \"step\": %lld, \"best_step\": %lld, \"best_score\": %.4f}\n",
                (long long)st.step, (long long)st.best_step, st.best_score);
    if (!c.have_val) note(hooks, "no validation split: best.safetensors is not written");
done:
    if (c.log) fclose(c.log);
    if (c.tb && !s) {
        s = vc_tb_close(c.tb);
    } else if (c.tb) { /* keep the first failure's message */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", vc_last_error());
        vc_tb_close(c.tb);
        vc_fail(s, "%s", msg);
    }
    if (scp) vc_step_ctx_free(scp);
    vc_uploader_close(fd.up);
    free(c.config_text);
    vc_loader_close(ld);
    vc_source_close(&src);
    vc_dataset_close(ds);
    vc_tape_free(&tape);
    vc_adamw_free(&opt);
    vc_params_free(&ps);
    return s;
}
