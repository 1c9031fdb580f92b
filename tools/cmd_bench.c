/* vclip bench train: times training steps of a pooler on random data.
 * Prints per-step time, peak resident memory and, last, "samples/s: X".
 * Under mpirun (N ranks) --batch is the global batch: each rank steps on
 * its B/N rows against all B as negatives (train/step.h), rank 0 prints the
 * global samples/s and what each step communicates (bench/dist_scaling.sh
 * compares 1 process x 2 threads with 2 processes x 1 thread). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "commands.h"
#include "models/clip.h"
#include "models/pooler.h"
#include "autograd/op_gemm.h"
#include "tensor/backend.h"
#include "tensor/backend_cuda.h"
#include "tensor/comm.h"
#include "tensor/rng.h"
#include "train/step.h"
#include "train/trainer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The plain-product roof: GFLOP/s of the backend's products alone at the
 * workload's shapes (rows R; each shape {OUT, IN} as forward y = x w^T,
 * and with grads also as dx = dy w and dw = dy^T x), for about `seconds`.
 * fp32: gemm (OpenBLAS sgemm); bf16: gemm_bf16 with both inputs already
 * bf16 (oneDNN), i.e. the rate the workload's products could reach.
 * The operands hold random values of a workload's scale (activations and
 * gradients ~U(-1, 1), weights ~U(-0.05, 0.05)), in buffers of their own:
 * all-zero operands (less switching) ran the same products 0-2% faster per
 * CPU second on this machine kind when it was quiet and 4-8% when it was
 * loaded, a roof a workload multiplying real numbers cannot reach. */
typedef struct {
    void *x, *w, *g;  /* inputs: activations [R, maxw], weights, output gradients [R, maxw] */
    float *y, *dx, *dw; /* outputs */
} roof_bufs;

static void roof_free(roof_bufs *b) {
    free(b->x), free(b->w), free(b->g), free(b->y), free(b->dx), free(b->dw);
}

/* n random values in [-scale, scale), float32 or rounded to bf16 */
static void roof_fill(void *p, int64_t n, bool bf, float scale, vc_rng *r) {
    for (int64_t i = 0; i < n; i++) {
        float v = (float)((2 * vc_rng_uniform(r) - 1) * scale);
        if (bf) ((uint16_t *)p)[i] = vc_f32_to_bf16(v);
        else ((float *)p)[i] = v;
    }
}

static double product_roof(vc_precision prec, int64_t R, const int64_t (*shapes)[2], int ns, bool grads,
                           double seconds) {
    int64_t maxw = 0, maxx = 0;
    for (int i = 0; i < ns; i++) {
        int64_t w = shapes[i][0] * shapes[i][1], x = R * (shapes[i][0] > shapes[i][1] ? shapes[i][0] : shapes[i][1]);
        if (w > maxw) maxw = w;
        if (x > maxx) maxx = x;
    }
    const vc_backend *be = vc_backend_for(VC_CPU);
    bool bf = vc_precision_on(be, prec) == VC_PREC_BF16;
    size_t in = bf ? sizeof(uint16_t) : sizeof(float);
    roof_bufs b = {malloc((size_t)maxx * in), malloc((size_t)maxw * in), malloc((size_t)maxx * in),
                   malloc((size_t)maxx * sizeof(float)), malloc((size_t)maxx * sizeof(float)),
                   malloc((size_t)maxw * sizeof(float))};
    if (!b.x || !b.w || !b.g || !b.y || !b.dx || !b.dw) {
        roof_free(&b);
        return 0;
    }
    vc_rng r;
    vc_rng_seed(&r, 7);
    roof_fill(b.x, maxx, bf, 1.0f, &r);
    roof_fill(b.g, maxx, bf, 1.0f, &r);
    roof_fill(b.w, maxw, bf, 0.05f, &r);
    unsigned f = VC_GEMM_A_BF16 | VC_GEMM_B_BF16;
    double flops = 0, s0 = now();
    while (now() - s0 < seconds) {
        for (int i = 0; i < ns; i++) {
            int64_t O = shapes[i][0], In = shapes[i][1];
            if (bf) {
                be->gemm_bf16(f, false, true, R, O, In, 1, b.x, In, b.w, In, 0, b.y, O);
                if (grads) {
                    be->gemm_bf16(f, false, false, R, In, O, 1, b.g, O, b.w, In, 0, b.dx, In);
                    be->gemm_bf16(f, true, false, O, In, R, 1, b.g, O, b.x, In, 0, b.dw, In);
                }
            } else {
                be->gemm(false, true, R, O, In, 1, b.x, In, b.w, In, 0, b.y, O);
                if (grads) {
                    be->gemm(false, false, R, In, O, 1, b.g, O, b.w, In, 0, b.dx, In);
                    be->gemm(true, false, O, In, R, 1, b.g, O, b.x, In, 0, b.dw, In);
                }
            }
            flops += (grads ? 6.0 : 2.0) * (double)R * (double)O * (double)In;
        }
    }
    double rate = flops / (now() - s0);
    roof_free(&b);
    return rate;
}

/* The data-parallel timing: the same steps on every rank (rank 0 sets the
 * count from a short timed run), comm counters per step. */
static int bench_ranks(vc_comm *c, vc_step_ctx *ctx, const vc_tensor *frames, const vc_tensor *len,
                       const vc_tensor *text, long B, double seconds, const char *desc) {
    vc_step_out so;
    double t0 = now();
    for (int i = 0; i < 3; i++)
        if (vc_train_step(ctx, frames, len, text, 1e-4, &so)) return vc_cmd_error("bench train", "%s", vc_last_error());
    int64_t n = (int64_t)(seconds / ((now() - t0) / 3)) + 1;
    if (vc_comm_broadcast(c, &n, sizeof n, 0)) return vc_cmd_error("bench train", "%s", vc_last_error());
    vc_comm_stats_reset(c);
    t0 = now();
    for (int64_t i = 0; i < n; i++)
        if (vc_train_step(ctx, frames, len, text, 1e-4, &so)) return vc_cmd_error("bench train", "%s", vc_last_error());
    double dt = (now() - t0) / (double)n;
    vc_comm_stats steps = c->stats;
    /* the gradient all-reduce alone, on the same buffer */
    double ta = now();
    for (int i = 0; i < 5; i++)
        if (vc_comm_allreduce_sum(c, ctx->ps->grad, (int64_t)ctx->ps->n))
            return vc_cmd_error("bench train", "%s", vc_last_error());
    double tar = (now() - ta) / 5;
    if (c->rank == 0) {
        const vc_comm_stats *st = &steps;
        printf("vclip %s on %d ranks (%ld rows each): %.1f ms/step over %lld steps, loss %.4f\n", desc, c->size,
               B / c->size, dt * 1e3, (long long)n, so.loss);
        printf("per step and rank: all-reduce %.3f MB (gradients and the loss), all-gather %.1f KB (embeddings), "
               "reduce-scatter %.1f KB (their gradients); waiting in collectives %.1f%% of the step\n",
               (double)st->allreduce_bytes / (double)n / 1e6, (double)st->allgather_bytes / (double)n / 1e3,
               (double)st->reduce_scatter_bytes / (double)n / 1e3, 100 * st->wait_s / (dt * (double)n));
        double mb = (double)ctx->ps->n * sizeof(vc_real) / 1e6;
        printf("the gradient all-reduce alone (%.2f MB): %.2f ms, %.1f%% of a step, %.2f GB/s of buffer\n", mb, tar * 1e3,
               100 * tar / dt, mb / 1e3 / tar);
        printf("samples/s: %.1f\n", B / dt);
    }
    return 0;
}

static int bench_train(int argc, char **argv) {
    const char *model = "transformer", *device = NULL;
    long B = 128, T = 32, D = 512, L = 4, H = 8;
    double seconds = 10, bucket_mb = 0;
    bool profile = false, tf32 = false;
    vc_precision prec = VC_PREC_FP32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--profile") == 0) {
            profile = true;
            continue;
        }
        if (strcmp(a, "--tf32") == 0) { /* CUDA: products on TF32 tensor cores, as [train] tf32 = true */
            tf32 = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return vc_cmd_error("bench train", "%s needs a value", a);
        char *end = NULL;
        if (strcmp(a, "--model") == 0) model = v;
        else if (strcmp(a, "--precision") == 0) {
            if (vc_cmd_train_precision("bench train", v, &prec)) return 1;
        } else if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--seconds") == 0) seconds = strtod(v, &end);
        else if (strcmp(a, "--grad-bucket-mb") == 0) bucket_mb = strtod(v, &end); /* as [train] grad_bucket_mb */
        else {
            long x = strtol(v, &end, 10);
            if (strcmp(a, "--batch") == 0) B = x;
            else if (strcmp(a, "--frames") == 0) T = x;
            else if (strcmp(a, "--dim") == 0) D = x;
            else if (strcmp(a, "--layers") == 0) L = x;
            else if (strcmp(a, "--heads") == 0) H = x;
            else return vc_cmd_error("bench train", "unknown option %s", a);
        }
        if (end && *end) return vc_cmd_error("bench train", "%s: '%s' is not a number", a, v);
        i++;
    }
    if (B < 1 || T < 1 || D < 1 || seconds <= 0)
        return vc_cmd_error("bench train", "batch, frames, dim and seconds must be positive");
    if (!(bucket_mb >= 0 && bucket_mb <= 1e9)) return vc_cmd_error("bench train", "--grad-bucket-mb must be in [0, 1e9]");
    vc_pooler_cfg cfg;
    vc_pool_type type;
    if (vc_pool_type_parse(model, &type)) return vc_cmd_error("bench train", "%s", vc_last_error());
    vc_pooler_cfg_default(&cfg, type, D);
    cfg.layers = (int)L;
    cfg.heads = (int)H;
    cfg.max_frames = T;
    vc_params ps;
    vc_params_init(&ps);
    vc_pooler m;
    vc_var *scale = NULL;
    vc_adamw opt = {0};
    vc_adamw_cfg oc = {0.9, 0.98, 1e-6, 0.2};
    if (vc_pooler_init(&m, &cfg, &ps, 0) || !(scale = vc_logit_scale_init(&ps)) ||
        vc_model_place(&ps, device, tf32, "bench train") || vc_adamw_init(&opt, &ps, &oc)) {
        int rc = vc_cmd_error("bench train", "%s", vc_last_error());
        vc_adamw_free(&opt);
        vc_params_free(&ps);
        return rc;
    }
    vc_tensor frames, text, len;
    if (vc_step_random_batch(B, T, D, 0, &frames, &len, &text)) return vc_cmd_error("bench train", "%s", vc_last_error());
    vc_tape tape;
    vc_tape_init_on(&tape, ps.device, 0);
    vc_precision got = vc_tape_precision(&tape, prec);
    vc_cmd_precision_note(prec, got);
    vc_step_ctx ctx = {&m, &ps, scale, &opt, &tape, 1.0, 0, NULL, false, NULL, NULL, NULL, bucket_mb};
    ctx.use_graph = ps.device != VC_CPU;
    vc_step_out so;
    vc_comm *comm;
    if (vc_comm_open(&comm)) return vc_cmd_error("bench train", "%s", vc_last_error());
    if (comm->size > 1) { /* this rank's rows of the same global batch */
        if (B % comm->size) return vc_cmd_error("bench train", "--batch %ld does not divide by %d ranks", B, comm->size);
        long b = B / comm->size;
        vc_tensor f2, t2, l2;
        vc_view_slice(&f2, &frames, 0, comm->rank * b, b);
        vc_view_slice(&t2, &text, 0, comm->rank * b, b);
        vc_view_slice(&l2, &len, 0, comm->rank * b, b);
        ctx.comm = comm;
        char desc[200], how[64] = "one gradient all-reduce";
        if (bucket_mb > 0) snprintf(how, sizeof how, "gradient buckets of %g MB", bucket_mb);
        snprintf(desc, sizeof desc, "%s B=%ld T=%ld D=%ld L=%ld H=%ld, %s", model, B, T, D, L, H, how);
        int rc = bench_ranks(comm, &ctx, &f2, &l2, &t2, B, seconds, desc);
        if (rc) vc_comm_abort(comm, rc);
        vc_comm_close(comm);
        vc_tape_free(&tape);
        vc_adamw_free(&opt);
        vc_params_free(&ps);
        vc_tensor_release(&frames);
        vc_tensor_release(&text);
        vc_tensor_release(&len);
        return rc;
    }
    vc_comm_close(comm);
    for (int i = 0; i < 2; i++)
        if (vc_train_step(&ctx, &frames, &len, &text, 1e-4, &so))
            return vc_cmd_error("bench train", "%s", vc_last_error());
    if (profile && vc_tape_profile(&tape, true)) return vc_cmd_error("bench train", "%s", vc_last_error());
    int n = 0;
    double t0 = now();
    while (now() - t0 < seconds) {
        if (vc_train_step(&ctx, &frames, &len, &text, 1e-4, &so))
            return vc_cmd_error("bench train", "%s", vc_last_error());
        n++;
    }
    double dt = (now() - t0) / n;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* before the sgemm reference allocates */
    /* The step's matrix-product work, and a plain sgemm doing the same products
     * (forward, input-gradient and weight-gradient shapes of every projection). */
    double N = (double)B * (double)T, Dd = (double)D, work = 0;
    int64_t shapes[4][2] = {{0, 0}};
    int ns = 0;
    if (type == VC_POOL_TRANSFORMER) {
        work = 3.0 * (double)L * (24.0 * N * Dd * Dd + 4.0 * N * (double)T * Dd);
        int64_t sh[4][2] = {{3 * D, D}, {D, D}, {4 * D, D}, {D, 4 * D}};
        memcpy(shapes, sh, sizeof sh);
        ns = 4;
    } else if (type == VC_POOL_LSTM) {
        /* forward 16 N D^2 (input and recurrent projections); backward 24 N D^2
         * (both weight gradients and the recurrent state gradient; the frames
         * need no gradient) */
        work = 40.0 * N * Dd * Dd;
        int64_t sh[1][2] = {{4 * D, D}};
        memcpy(shapes, sh, sizeof sh);
        ns = 1;
    }
    if (ns) {
        double plain = product_roof(got, B * T, (const int64_t(*)[2])shapes, ns, true, 2);
        if (plain <= 0) return vc_cmd_error("bench train", "out of memory for the plain-product reference");
        printf("matmul work %.1f GFLOP/step: %.1f GFLOP/s achieved, plain %s on the same shapes %.1f GFLOP/s: "
               "%.0f%% of it%s\n",
               work * 1e-9, work / dt * 1e-9, got == VC_PREC_BF16 ? "bf16 matmul (oneDNN)" : "sgemm", plain * 1e-9,
               100 * work / dt / plain,
               type == VC_POOL_TRANSFORMER ? (got == VC_PREC_BF16 ? " (target >= 85%)" : " (target >= 70%)") : "");
    }
    if (profile) {
        static char rep[8192];
        vc_tape_profile_report(&tape, rep, sizeof rep);
        printf("per-op time over %d steps (forward = time since the previous op):\n%s", n, rep);
    }
    printf("vclip %s B=%ld T=%ld D=%ld L=%ld H=%ld %s: %.1f ms/step over %d steps, loss %.4f, peak RSS %.0f MB\n",
           model, B, T, D, L, H, vc_precision_name(got), dt * 1e3, n, so.loss, ru.ru_maxrss / 1024.0);
    printf("samples/s: %.1f\n", B / dt);
    vc_tape_free(&tape);
    vc_adamw_free(&opt);
    vc_params_free(&ps);
    vc_tensor_release(&frames);
    vc_tensor_release(&text);
    vc_tensor_release(&len);
    return 0;
}

/* vclip bench encode-image: times the CLIP image tower on random pixels.
 * --clip random builds ViT-B/32's image tower with random weights (speed
 * does not depend on the values). Prints the model, per-batch time, the
 * matrix-product rate, peak resident memory and, last, "images/s: X".
 * --clip random --save FILE instead writes a random ViT-B/32 with both
 * towers to FILE (float32, OpenAI names) and times nothing: the checkpoint
 * bench/clip_vs_peers.sh measures encode-video's memory with. */
static int bench_encode_image(int argc, char **argv) {
    const char *clip = NULL, *act_name = "quickgelu", *save = NULL, *device = "cpu";
    vc_device dev = VC_CPU;
    long B = 32, heads = 0;
    vc_precision prec;
    vc_precision_parse(vc_cmd_clip_precision_default, &prec);
    double seconds = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return vc_cmd_error("bench encode-image", "%s needs a value", a);
        char *end = NULL;
        if (strcmp(a, "--clip") == 0) clip = v;
        else if (strcmp(a, "--act") == 0) act_name = v;
        else if (strcmp(a, "--precision") == 0) {
            if (vc_cmd_precision("bench encode-image", v, &prec)) return 1;
        } else if (strcmp(a, "--save") == 0) save = v;
        else if (strcmp(a, "--device") == 0) device = v;
        else if (strcmp(a, "--seconds") == 0) seconds = strtod(v, &end);
        else if (strcmp(a, "--batch") == 0) B = strtol(v, &end, 10);
        else if (strcmp(a, "--vision-heads") == 0) heads = strtol(v, &end, 10);
        else return vc_cmd_error("bench encode-image", "unknown option %s", a);
        if (end && *end) return vc_cmd_error("bench encode-image", "%s: '%s' is not a number", a, v);
        i++;
    }
    if (!clip) return vc_cmd_error("bench encode-image", "--clip FILE.safetensors|random is required");
    if (B < 1 || seconds <= 0 || heads < 0)
        return vc_cmd_error("bench encode-image", "batch and seconds must be positive");
    vc_clip_act act;
    if (vc_clip_act_parse(act_name, &act)) return vc_cmd_error("bench encode-image", "%s", vc_last_error());
    if (!save && vc_cmd_clip_device("bench encode-image", device, &dev)) return 1;
    vc_clip m;
    vc_status s;
    if (save && strcmp(clip, "random") != 0)
        return vc_cmd_error("bench encode-image", "--save needs --clip random");
    if (save) {
        vc_clip_cfg cfg;
        vc_clip_cfg_vit_b32(&cfg, act);
        cfg.towers = VC_CLIP_BOTH;
        char tmp[4096];
        if (snprintf(tmp, sizeof tmp, "%s.tmp", save) >= (int)sizeof tmp)
            return vc_cmd_error("bench encode-image", "--save: path too long");
        if (vc_clip_init_random(&m, &cfg, 0)) return vc_cmd_error("bench encode-image", "%s", vc_last_error());
        s = vc_clip_save(&m, tmp, VC_CLIP_NAMES_OPENAI);
        int64_t numel = vc_clip_numel(&m);
        vc_clip_free(&m);
        if (s || rename(tmp, save) != 0) {
            remove(tmp);
            return vc_cmd_error("bench encode-image", "%s", s ? vc_last_error() : "cannot rename the checkpoint into place");
        }
        printf("wrote a random ViT-B/32 (both towers, %lld parameters, %.0f MB float32) to %s\n", (long long)numel,
               (double)numel * 4 / 1e6, save);
        return 0;
    }
    if (strcmp(clip, "random") == 0) {
        vc_clip_cfg cfg;
        vc_clip_cfg_vit_b32(&cfg, act);
        cfg.towers = VC_CLIP_VISION;
        if (heads) cfg.vision.heads = heads;
        s = vc_clip_init_random(&m, &cfg, 0);
        if (!s) s = dev == VC_CPU ? vc_clip_set_precision(&m, prec) : (m.asked = prec, vc_clip_to_device(&m, dev));
        if (s) vc_clip_free(&m);
    } else {
        vc_clip_opts o = {.towers = VC_CLIP_VISION, .act = act, .vision_heads = (int)heads, .precision = prec,
                          .device = dev};
        s = vc_clip_load(&m, clip, &o);
    }
    if (s) return vc_cmd_error("bench encode-image", "%s", vc_last_error());
    vc_cmd_precision_note_on(dev, prec, m.precision);
    const vc_clip_cfg *c = &m.cfg;
    int64_t S = c->image_size;
    vc_tensor images;
    if (vc_tensor_alloc(&images, VC_F32, VC_DIMS(B, 3, S, S))) {
        vc_clip_free(&m);
        return vc_cmd_error("bench encode-image", "%s", vc_last_error());
    }
    vc_rng r;
    vc_rng_seed(&r, 0);
    for (int64_t i = 0; i < vc_numel(&images); i++) vc_f32(&images)[i] = (float)vc_rng_normal(&r);
    vc_tape tape;
    vc_tape_init_on(&tape, dev, 0);
    vc_tape_grad(&tape, false);
    /* on a GPU the pixels are uploaded once (the tower alone is timed; each
     * batch waits for its embeddings, as a reader of them would) */
    vc_tensor in = images;
    void *dimg = NULL;
    const vc_backend *be = vc_backend_for(dev);
    if (dev != VC_CPU) {
        if (!(dimg = be->mem_alloc(vc_nbytes(&images)))) {
            vc_tensor_release(&images);
            vc_clip_free(&m);
            return vc_cmd_error("bench encode-image", "out of %s memory for a batch of %ld images", device, B);
        }
        be->copy_h2d(dimg, images.data, vc_nbytes(&images));
        in.data = dimg;
        in.owned = NULL;
        in.device = dev;
    }
    float probe;
    int n = -1; /* the first batch warms up (arena growth, OpenBLAS threads) */
    double t0 = now();
    while (n < 1 || now() - t0 < seconds) {
        vc_tape_reset(&tape);
        vc_var *e = vc_clip_encode_image(&tape, &m, &in);
        if (e) be->copy_d2h(&probe, e->val.data, sizeof probe); /* waits for the batch */
        vc_status es = dev == VC_CPU ? VC_OK : vc_cuda_take_error();
        if (!e || es) {
            be->mem_free(dimg);
            vc_tape_free(&tape);
            vc_tensor_release(&images);
            vc_clip_free(&m);
            return vc_cmd_error("bench encode-image", "%s", vc_last_error());
        }
        if (++n == 0) t0 = now();
    }
    double dt = (now() - t0) / n;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* multiply-adds x 2 of the work done: patch GEMM, per block qkv/out/MLP
     * projections and attention scores/values, head; the last block runs qkv
     * for every token but the rest for the class token only (models/clip.c) */
    double T = (double)(1 + c->grid * c->grid), W = (double)c->vision.width, M = (double)c->vision.mlp;
    double block = 2.0 * T * (4.0 * W * W + 2.0 * W * M) + 4.0 * T * T * W;
    double last = 2.0 * T * 3.0 * W * W + 4.0 * T * W + 2.0 * (W * W + 2.0 * W * M);
    double flop = 2.0 * (double)(c->grid * c->grid) * 3.0 * (double)(c->patch * c->patch) * W +
                  (c->vision.layers > 0 ? (double)(c->vision.layers - 1) * block + last : 0) +
                  2.0 * W * (double)c->embed;
    char desc[256];
    printf("vclip encode-image %s (%s) on %s, batch %ld %s: %.1f ms/batch over %d batches, %.1f GFLOP/s, peak RSS %.0f MB\n",
           strcmp(clip, "random") == 0 ? "random ViT-B/32" : clip, vc_clip_describe(c, desc, sizeof desc), device, B,
           vc_precision_name(m.precision), dt * 1e3, n, flop * (double)B / dt * 1e-9, ru.ru_maxrss / 1024.0);
    /* the blocks' products alone at the tower's shapes (rows B * T) */
    int64_t Wi = c->vision.width, Mi = c->vision.mlp;
    const int64_t shapes[4][2] = {{3 * Wi, Wi}, {Wi, Wi}, {Mi, Wi}, {Wi, Mi}};
    double roof = dev == VC_CPU ? product_roof(m.precision, (int64_t)B * (1 + c->grid * c->grid), shapes, 4, false, 2)
                                : 0; /* the roof is the CPU's library */
    if (roof > 0)
        printf("products: %.1f GFLOP/s of the tower's work, plain %s at the blocks' shapes %.1f GFLOP/s: %.0f%% of it\n",
               flop * (double)B / dt * 1e-9, m.precision == VC_PREC_BF16 ? "bf16 matmul (oneDNN)" : "sgemm",
               roof * 1e-9, 100 * flop * (double)B / dt / roof);
    printf("images/s: %.1f\n", (double)B / dt);
    be->mem_free(dimg);
    vc_tape_free(&tape);
    vc_tensor_release(&images);
    vc_clip_free(&m);
    return 0;
}

int vc_cmd_bench(int argc, char **argv) {
    if (argc < 2) return vc_cmd_error("bench", "%s", vc_cmd_usage("bench"));
    if (strcmp(argv[1], "train") == 0) return bench_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "encode-image") == 0) return bench_encode_image(argc - 1, argv + 1);
    return vc_cmd_error("bench", "unknown benchmark '%s' (available: train, encode-image)", argv[1]);
}
