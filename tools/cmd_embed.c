/* vclip embed CKPT --data DATA.h5 --out VIDEOS.h5 [--split NAME] [--batch B]
 * [--set section.key=value ...]: one pooled, L2-normalised embedding per
 * video, written as a vclip embeddings file (data/FORMAT.md, "Pooled
 * embeddings") so the result is searchable text-vs-video with plain dot
 * products: each video is one row of /video/embeddings (0 rows when the input
 * video has no frames), and caption and class embeddings have been through
 * the model's text head and normalised. Ids, video order, metadata
 * (/video/meta), captions, splits, labels and clip_model follow the input
 * (restricted and reindexed with --split). Frames T, frame sampling and the batch come from the
 * checkpoint's config ([data] frames, eval_sampling, [eval] batch).
 *
 * Memory stays bounded: videos are pooled CHUNK at a time (each chunk a
 * vc_embed_split call on its videos), captions are mapped BLOCK at a time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "progress.h"
#include "data/h5_copy.h"
#include "data/h5_reader.h"
#include "data/h5_writer.h"
#include "eval/evaluate.h"
#include "tensor/sort.h"
#include "train/trainer.h"

enum { CHUNK = 32768, BLOCK = 4096, MAX_SET = 256 };

typedef struct {
    const vc_pooler *m;
    vc_h5 *h;
    const vc_h5_info *in;
    vc_h5w *w;
    vc_tape tape;
    int64_t D;
    int64_t *sel;    /* [ns] selected file video indices, increasing */
    int64_t ns;
    int64_t *newidx; /* [V] output index of each file video, -1 when not selected */
    int64_t empty;   /* selected videos without frames */
    int64_t captions;
} embed_ctx;

/* Videos embedded so far, over all chunks: each chunk's pooling reports its
 * own count, which is offset by the chunk's start. */
typedef struct {
    vc_progress_line line;
    int64_t base, total;
} embed_progress;

static void embed_progress_fn(void *ud, const char *phase, int64_t done, int64_t total) {
    embed_progress *p = ud;
    (void)phase, (void)total;
    vc_progress_update(&p->line, "videos embedded", p->base + done, p->total, NULL);
}

static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* vc_text_map for caption and class embeddings: [n, D] in place, BLOCK rows at a time,
 * through the text head (if any), then L2 normalisation. */
static vc_status map_text(void *ctx, char *const *texts, float *X, int64_t n, bool *has_emb) {
    embed_ctx *c = ctx;
    for (int64_t a = 0; a < n && *has_emb; a += BLOCK) {
        int64_t k = n - a < BLOCK ? n - a : BLOCK;
        vc_tensor x;
        vc_tensor_wrap(&x, X + a * c->D, VC_F32, VC_DIMS(k, c->D));
        vc_tape_reset(&c->tape);
        vc_var *y = vc_pooler_text(&c->tape, c->m, vc_const(&c->tape, &x));
        if (!y) return vc_tape_status(&c->tape);
        vc_backend_for(y->val.device)->copy_d2h(X + a * c->D, y->val.data, (size_t)(k * c->D) * sizeof(float));
    }
    return VC_OK;
}

/* The selected videos (the split's, or all) in file order, and the map from
 * file index to output index. */
static vc_status select_videos(embed_ctx *c, const char *split) {
    int64_t V = c->in->n_videos;
    const int64_t *idx;
    int64_t n;
    vc_status s = vc_split_by_name(c->h, split, &idx, &n);
    if (s) return s;
    if (!idx) n = V;
    c->sel = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    c->newidx = malloc((size_t)(V ? V : 1) * sizeof(int64_t));
    if (!c->sel || !c->newidx) return vc_fail(VC_ERR_OOM, "embed: out of memory for %lld videos", (long long)V);
    for (int64_t i = 0; i < n; i++) c->sel[i] = idx ? idx[i] : i;
    if (idx) qsort(c->sel, (size_t)n, sizeof(int64_t), vc_cmp_i64);
    c->ns = n;
    for (int64_t v = 0; v < V; v++) c->newidx[v] = -1;
    for (int64_t i = 0; i < n; i++) c->newidx[c->sel[i]] = i;
    return VC_OK;
}

/* Pools sel[a, b) and writes those videos: one row each, or none when the
 * input video has no frames. */
static vc_status write_chunk(embed_ctx *c, const vc_eval_opts *eo, int64_t a, int64_t b) {
    const int64_t *off = vc_h5_offsets(c->h);
    int64_t n = b - a, nonempty = 0;
    for (int64_t i = a; i < b; i++) nonempty += off[c->sel[i] + 1] > off[c->sel[i]];
    vc_tensor emb = {0};
    int64_t *vids = NULL, ne = 0, *row = NULL;
    bool has_meta = c->in->has_meta;
    char **ids = calloc((size_t)n, sizeof *ids), **meta = has_meta ? calloc((size_t)n, sizeof *meta) : NULL;
    vc_status s = ids && (meta || !has_meta)
                      ? VC_OK
                      : vc_fail(VC_ERR_OOM, "embed: out of memory for the ids and metadata of %lld videos (%lld bytes)",
                                (long long)n, (long long)(2 * n * (int64_t)sizeof *ids));
    /* the loader refuses a set with no frames at all, so such a chunk is not pooled */
    if (!s && nonempty > 0)
        s = vc_embed_split(c->m, vc_h5_path(c->h), c->sel + a, n, eo, &emb, &vids, &ne);
    if (!s && !(row = malloc((size_t)n * sizeof *row)))
        s = vc_fail(VC_ERR_OOM, "embed: out of memory for the rows of %lld videos", (long long)n);
    if (!s) {
        for (int64_t i = 0; i < n; i++) row[i] = -1;
        for (int64_t k = 0; k < ne; k++) row[c->newidx[vids[k]] - a] = k;
    }
    /* ids and metadata in runs of consecutive file indices (one read for a whole file) */
    for (int64_t i = 0; i < n && !s;) {
        int64_t j = i + 1;
        while (j < n && c->sel[a + j] == c->sel[a + j - 1] + 1) j++;
        s = vc_h5_read_strings(c->h, VC_H5_IDS, c->sel[a + i], j - i, ids + i);
        if (!s && has_meta) s = vc_h5_read_strings(c->h, VC_H5_META, c->sel[a + i], j - i, meta + i);
        i = j;
    }
    for (int64_t i = 0; i < n && !s; i++) {
        int64_t v = c->sel[a + i];
        bool has_frames = off[v + 1] > off[v];
        if (has_frames != (row[i] >= 0)) {
            s = vc_fail(VC_ERR_ARG, "%s: video %lld ('%.80s') was %s", vc_h5_path(c->h), (long long)v, ids[i],
                        has_frames ? "not pooled although it has frames" : "pooled although it has no frames");
            break;
        }
        c->empty += !has_frames;
        int64_t out;
        s = vc_h5w_add_video(c->w, ids[i], has_frames ? vc_f32(&emb) + row[i] * c->D : NULL, has_frames, &out);
        /* the metadata (data/FORMAT.md /video/meta) goes along, as it is */
        if (!s && has_meta && meta[i] && meta[i][0]) s = vc_h5w_set_meta(c->w, out, meta[i]);
    }
    for (int64_t i = 0; ids && i < n; i++) free(ids[i]);
    for (int64_t i = 0; meta && i < n; i++) free(meta[i]);
    free(ids);
    free(meta);
    free(row);
    free(vids);
    vc_tensor_release(&emb);
    return s;
}

static vc_status embed(embed_ctx *c, const char *data, const char *out, const char *split, const vc_eval_opts *eo,
                       embed_progress *prog) {
    vc_status s = vc_h5_open(&c->h, data);
    if (s) return s;
    c->in = vc_h5_get_info(c->h);
    if (c->in->dim != c->D)
        return vc_fail(VC_ERR_SHAPE, "%s: embeddings are %lld wide but the checkpoint's model expects %lld", data,
                       (long long)c->in->dim, (long long)c->D);
    if ((s = select_videos(c, split))) return s;
    vc_h5w_opts wo = {.dim = c->D, .dtype = VC_F32, .clip_model = c->in->clip_model};
    if ((s = vc_h5w_open(&c->w, out, &wo))) return s;
    /* chunks of whole batches, so a chunk boundary never splits a batch */
    int64_t chunk = (CHUNK + eo->batch - 1) / eo->batch * eo->batch;
    prog->total = c->ns;
    vc_progress_update(&prog->line, "videos embedded", 0, c->ns, NULL);
    for (int64_t a = 0; a < c->ns && !s; a += chunk) {
        int64_t b = c->ns - a < chunk ? c->ns : a + chunk;
        prog->base = a;
        if (!(s = write_chunk(c, eo, a, b))) vc_progress_update(&prog->line, "videos embedded", b, c->ns, NULL);
    }
    vc_progress_done(&prog->line);
    vc_h5_copy_opts co = {.newidx = c->newidx, .sel = c->sel, .n_sel = c->ns, .block = BLOCK, .map = map_text, .ctx = c};
    if (!s) s = vc_h5_copy_captions(c->h, c->w, &co, &c->captions);
    if (!s) s = vc_h5_copy_splits(c->h, c->w, &co);
    if (!s) s = vc_h5_copy_classes(c->h, c->w, &co, NULL);
    if (!s) {
        s = vc_h5w_close(c->w);
        c->w = NULL; /* close releases the writer, failed or not */
    }
    return s;
}

int vc_cmd_embed(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *out = NULL, *split = NULL, *device = NULL;
    const char *ov[MAX_SET];
    int nov = 0;
    int64_t batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = strcmp(a, "--data") == 0 || strcmp(a, "--out") == 0 || strcmp(a, "--split") == 0 ||
                   strcmp(a, "--batch") == 0 || strcmp(a, "--set") == 0 || strcmp(a, "--device") == 0;
        if (val && i + 1 >= argc) return vc_cmd_error("embed", "%s needs a value", a);
        if (strcmp(a, "--data") == 0) data = argv[++i];
        else if (strcmp(a, "--out") == 0) out = argv[++i];
        else if (strcmp(a, "--split") == 0) split = argv[++i];
        else if (strcmp(a, "--device") == 0) device = argv[++i];
        else if (strcmp(a, "--set") == 0) {
            if (nov == MAX_SET) return vc_cmd_error("embed", "too many --set overrides");
            ov[nov++] = argv[++i];
        } else if (strcmp(a, "--batch") == 0) {
            const char *v = argv[++i];
            char *end;
            errno = 0;
            long long b = strtoll(v, &end, 10);
            if (errno || end == v || *end || b < 1)
                return vc_cmd_error("embed", "--batch must be a positive integer, not '%s'", v);
            batch = b;
        } else if (a[0] == '-' && a[1]) return vc_cmd_error("embed", "unknown option %s (%s)", a, vc_cmd_usage("embed"));
        else if (!ckpt) ckpt = a;
        else return vc_cmd_error("embed", "more than one checkpoint given (%s, %s)", ckpt, a);
    }
    if (!ckpt || !data || !out) return vc_cmd_error("embed", "%s", vc_cmd_usage("embed"));
    if (same_file(out, data) || same_file(out, ckpt))
        return vc_cmd_error("embed", "%s: the output would overwrite its own input; choose another --out", out);
    if (vc_cmd_h5_prepare("embed", data, "no output was written")) return 1;

    vc_config *cfg = NULL;
    vc_run_cfg rc;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    embed_ctx c = {.m = &m};
    vc_tape_init(&c.tape, 0);
    vc_tape_grad(&c.tape, false);
    c.tape.training = false;
    vc_status s = vc_model_from_checkpoint(ckpt, ov, nov, &cfg, &rc, &ps, &m);
    if (!s) s = vc_model_place(&ps, device, false, "embed");
    if (!s && ps.device != VC_CPU) { /* the caption tape computes where the model is */
        vc_tape_free(&c.tape);
        vc_tape_init_on(&c.tape, ps.device, 0);
        vc_tape_grad(&c.tape, false);
        c.tape.training = false;
    }
    vc_eval_opts eo = {0};
    embed_progress prog;
    vc_progress_init(&prog.line, "embed");
    if (!s) {
        c.D = m.cfg.dim;
        eo = (vc_eval_opts){batch ? batch : rc.eval_batch, rc.frames, rc.eval_sampling, rc.mem_budget_mb << 20,
                            rc.prefetch, false, {embed_progress_fn, &prog}};
        s = embed(&c, data, out, split ? split : "all", &eo, &prog);
    }
    vc_progress_done(&prog.line);
    if (s && c.w) vc_h5w_abort(c.w);
    vc_h5_close(c.h);
    vc_tape_free(&c.tape);
    free(c.sel);
    free(c.newidx);
    vc_params_free(&ps);
    vc_config_free(cfg);
    if (s) return vc_cmd_error("embed", "%s", vc_last_error());
    printf("embedded %lld videos (%lld without frames, written with 0 rows) and %lld captions of %s with %s "
           "(T %lld, batch %lld) into %s\n",
           (long long)c.ns, (long long)c.empty, (long long)c.captions, data, ckpt, (long long)eo.frames,
           (long long)eo.batch, out);
    return 0;
}
