/* vclip search --clip CLIP.safetensors --data DATA.h5 [--checkpoint CKPT]
 * [--moments] [--top K] [--vocab FILE] [--act quickgelu|gelu]
 * [--precision fp32|bf16|fp16] [--device cpu|cuda|cuda:N] QUERY...
 * (--device: where the text tower runs; the scoring reads the file on the
 * CPU.)
 * Text-to-video search over a vclip embeddings file: the query (the
 * positional words joined by spaces) goes through the CLIP text tower, and
 * every video (or, with --moments, every frame) is scored by cosine
 * similarity; the top K are printed best first, one per line, tab-separated:
 *   RANK  SCORE  VIDEO_ID  TIME
 * TIME is "-" for whole videos and, for moments, the frame's time in seconds
 * (frame index / the file's fps attribute; without one, 1 fps is assumed).
 *
 * Video scores: with a pooler checkpoint, the checkpoint's pooled, normalised
 * video embedding against the query mapped by its text head (when it has one)
 * and normalised; without one, the mean of the video's L2-normalised frame
 * embeddings, normalised, against the normalised query. Moments always
 * compare the normalised query with each normalised frame in CLIP's own
 * space (the pooler's text head maps into the pooled space, not the frames').
 * Videos with 0 frames are never ranked. Equal scores keep file order.
 *
 * Memory: one video's frames at a time (or, with a checkpoint, chunks of
 * pooled embeddings), plus the top K. The scoring and the top K are
 * eval/search.h; this file parses, encodes the query and prints. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "data/h5_reader.h"
#include "eval/search.h"
#include "models/clip.h"
#include "models/text_embed.h"
#include "models/tokenizer.h"
#include "train/trainer.h"

#define DEFAULT_VOCAB "build/vocab/bpe_simple_vocab_16e6.txt.gz"

/* Scores with the checkpoint's pooler (its config gives the evaluation options). */
static vc_status score_pooled(vc_h5 *h, const char *ckpt, const float *q_raw, vc_topk *t) {
    vc_config *cfg = NULL;
    vc_run_cfg rc;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    vc_status s = vc_model_from_checkpoint(ckpt, NULL, 0, &cfg, &rc, &ps, &m);
    int64_t D = vc_h5_get_info(h)->dim;
    if (!s && m.cfg.dim != D)
        s = vc_fail(VC_ERR_SHAPE, "%s: the pooler takes %lld-wide embeddings but %s holds %lld-wide ones", ckpt,
                    (long long)m.cfg.dim, vc_h5_path(h), (long long)D);
    if (!s) {
        vc_eval_opts eo = {rc.eval_batch, rc.frames, rc.eval_sampling, rc.mem_budget_mb << 20, rc.prefetch, false, {0}};
        s = vc_search_pooled(h, &m, &eo, q_raw, t);
    }
    vc_params_free(&ps);
    vc_config_free(cfg);
    return s;
}

static vc_status search(const char *clip_path, const char *act, vc_precision prec, vc_device dev, const char *vocab,
                        const char *data, const char *ckpt, bool moments, const char *query, vc_topk *t, vc_h5 **hp) {
    vc_tokenizer *tk = NULL;
    vc_clip m;
    bool loaded = false;
    vc_tape tape;
    vc_tape_init_on(&tape, dev, 0);
    vc_tape_grad(&tape, false);
    tape.training = false;
    float *q = NULL;
    int32_t *ids = NULL;
    vc_clip_opts o = {.towers = VC_CLIP_TEXT, .precision = prec, .device = dev};
    vc_status s = act ? vc_clip_act_parse(act, &o.act) : VC_OK;
    if (!s) s = vc_h5_open(hp, data);
    if (!s) s = vc_tokenizer_load(&tk, vocab);
    if (!s && !(s = vc_clip_load(&m, clip_path, &o))) {
        loaded = true;
        vc_cmd_precision_note_on(dev, prec, m.precision);
    }
    int64_t E = loaded ? m.cfg.embed : 0, L = loaded ? m.cfg.context : 0;
    if (!s && E != vc_h5_get_info(*hp)->dim)
        s = vc_fail(VC_ERR_SHAPE, "%s holds %lld-wide embeddings but %s makes %lld-wide ones", data,
                    (long long)vc_h5_get_info(*hp)->dim, clip_path, (long long)E);
    if (!s && (!(q = malloc((size_t)E * sizeof *q)) || !(ids = malloc((size_t)L * sizeof *ids))))
        s = vc_fail(VC_ERR_OOM, "search: out of memory for the query's %lld ids and %lld-wide embedding",
                    (long long)L, (long long)E);
    if (!s) s = vc_clip_embed_texts(&tape, &m, tk, &query, 1, ids, q);
    if (!s) s = ckpt && !moments ? score_pooled(*hp, ckpt, q, t) : vc_search_frames(*hp, q, moments, t);
    free(q);
    free(ids);
    vc_tape_free(&tape);
    if (loaded) vc_clip_free(&m);
    if (tk) vc_tokenizer_free(tk);
    return s;
}

int vc_cmd_search(int argc, char **argv) {
    const char *cmd = "search";
    const char *clip = NULL, *data = NULL, *ckpt = NULL, *vocab = DEFAULT_VOCAB, *act = NULL, *device = "cpu";
    vc_device dev = VC_CPU;
    vc_precision prec;
    vc_precision_parse(vc_cmd_clip_precision_default, &prec);
    bool moments = false;
    int64_t K = 10;
    size_t qlen = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = strcmp(a, "--clip") == 0 || strcmp(a, "--data") == 0 || strcmp(a, "--checkpoint") == 0 ||
                   strcmp(a, "--top") == 0 || strcmp(a, "--vocab") == 0 || strcmp(a, "--act") == 0 ||
                   strcmp(a, "--precision") == 0 || strcmp(a, "--device") == 0;
        if (val && i + 1 >= argc) return vc_cmd_error(cmd, "%s needs a value", a);
        if (strcmp(a, "--clip") == 0) clip = argv[++i];
        else if (strcmp(a, "--data") == 0) data = argv[++i];
        else if (strcmp(a, "--checkpoint") == 0) ckpt = argv[++i];
        else if (strcmp(a, "--vocab") == 0) vocab = argv[++i];
        else if (strcmp(a, "--act") == 0) act = argv[++i];
        else if (strcmp(a, "--device") == 0) device = argv[++i];
        else if (strcmp(a, "--precision") == 0) {
            if (vc_cmd_precision(cmd, argv[++i], &prec)) return 1;
        } else if (strcmp(a, "--moments") == 0) moments = true;
        else if (strcmp(a, "--top") == 0) {
            const char *v = argv[++i];
            char *end;
            errno = 0;
            long long k = strtoll(v, &end, 10);
            if (errno || end == v || *end || k < 1 || k > 1000000)
                return vc_cmd_error(cmd, "--top must be an integer in [1, 1000000], not '%s'", v);
            K = k;
        } else if (a[0] == '-' && a[1] == '-' && a[2]) return vc_cmd_error(cmd, "unknown option %s (%s)", a, vc_cmd_usage("search"));
        else qlen += strlen(a) + 1;
    }
    if (!clip || !data || qlen == 0) return vc_cmd_error(cmd, "%s", vc_cmd_usage("search"));
    if (vc_cmd_clip_device(cmd, device, &dev)) return 1;
    char *query = malloc(qlen);
    vc_topk t;
    if (!query || vc_topk_init(&t, K)) {
        free(query);
        return vc_cmd_error(cmd, "out of memory for the query (%zu bytes) and the top %lld hits", qlen, (long long)K);
    }
    query[0] = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--moments") == 0) continue;
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            i++;
            continue;
        }
        if (query[0]) strcat(query, " ");
        strcat(query, a);
    }
    if (vc_cmd_h5_prepare(cmd, data, NULL)) {
        free(query);
        vc_topk_free(&t);
        return 1;
    }
    vc_h5 *h = NULL;
    vc_status s = search(clip, act, prec, dev, vocab, data, ckpt, moments, query, &t, &h);
    double fps = h && vc_h5_get_info(h)->fps > 0 ? vc_h5_get_info(h)->fps : 1.0;
    for (int64_t i = 0; i < t.n && !s; i++) {
        char *id = NULL;
        if ((s = vc_h5_video_id(h, t.h[i].video, &id))) break;
        if (t.h[i].frame >= 0)
            printf("%lld\t%.6f\t%s\t%.2f\n", (long long)i + 1, t.h[i].score, id, (double)t.h[i].frame / fps);
        else printf("%lld\t%.6f\t%s\t-\n", (long long)i + 1, t.h[i].score, id);
        free(id);
    }
    vc_h5_close(h);
    free(query);
    vc_topk_free(&t);
    if (s) return vc_cmd_error(cmd, "%s", vc_last_error());
    return 0;
}
