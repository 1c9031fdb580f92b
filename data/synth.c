#include "data/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/h5_writer.h"
#include "tensor/rng.h"

#define MAX_EVENTS 64

static const char *event_words[] = {
    "wave",   "jump",  "clap",  "sit down", "stand up", "run",   "fall",        "spin",
    "kick",   "throw", "catch", "climb",    "dive",     "roll",  "swim",        "dance",
    "eat",    "drink", "read",  "write",    "sleep",    "walk",  "push a cart", "pull a rope",
    "open a door", "close a door", "laugh", "cry", "sing", "paint", "cook", "juggle"};
#define N_WORDS (int)(sizeof event_words / sizeof event_words[0])

void vc_synth_defaults(vc_synth_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_videos = 4000;
    o->dim = 512;
    o->min_frames = 6;
    o->max_frames = 32;
    o->n_events = 8;
    o->seed = 1;
    o->dtype = VC_F16;
    o->gzip_level = 0;
}

typedef struct {
    int64_t D;
    int K;
    float *m_img, *m_txt;   /* [D] */
    float *ev;              /* [K, D] event directions */
    float *slot[3];         /* first, middle, last: [K, D] each */
    char names[MAX_EVENTS][32];
} world;

static void unit_vector(vc_rng *r, float *x, int64_t D) {
    double ss = 0;
    for (int64_t j = 0; j < D; j++) {
        x[j] = (float)vc_rng_normal(r);
        ss += (double)x[j] * x[j];
    }
    float inv = (float)(1.0 / sqrt(ss > 0 ? ss : 1));
    for (int64_t j = 0; j < D; j++) x[j] *= inv;
}

static void normalize(float *x, int64_t D) {
    double ss = 0;
    for (int64_t j = 0; j < D; j++) ss += (double)x[j] * x[j];
    float inv = (float)(1.0 / sqrt(ss > 0 ? ss : 1));
    for (int64_t j = 0; j < D; j++) x[j] *= inv;
}

/* u = unit(F_first + L_last [+ M_middle]) for events ev[0..L). */
static void caption_meaning(const world *w, const int *ev, int L, int with_middle, float *u) {
    int64_t D = w->D;
    const float *f = w->slot[0] + (size_t)ev[0] * D, *l = w->slot[2] + (size_t)ev[L - 1] * D;
    for (int64_t j = 0; j < D; j++) u[j] = f[j] + l[j];
    if (with_middle && L == 3) {
        const float *m = w->slot[1] + (size_t)ev[1] * D;
        for (int64_t j = 0; j < D; j++) u[j] += m[j];
    }
    normalize(u, D);
}

/* Ordered (first, last) pair -> class index in [0, K(K-1)). */
static int64_t pair_class(int K, int a, int z) { return (int64_t)a * (K - 1) + (z < a ? z : z - 1); }

static vc_status check_opts(const vc_synth_opts *o) {
    if (o->n_videos < 1 || o->n_videos > 100000000)
        return vc_fail(VC_ERR_ARG, "synth: --videos %lld is not in 1 .. 100000000", (long long)o->n_videos);
    if (o->dim < 2 || o->dim > 65536) return vc_fail(VC_ERR_ARG, "synth: --dim %lld is not in 2 .. 65536", (long long)o->dim);
    if (o->min_frames < 1 || o->max_frames < o->min_frames || o->max_frames > 100000)
        return vc_fail(VC_ERR_ARG, "synth: frames per video must satisfy 1 <= min (%lld) <= max (%lld) <= 100000",
                       (long long)o->min_frames, (long long)o->max_frames);
    if (o->n_events < 3 || o->n_events > MAX_EVENTS)
        return vc_fail(VC_ERR_ARG, "synth: --events %d is not in 3 .. %d", o->n_events, MAX_EVENTS);
    return VC_OK;
}

static void free_world(world *w) {
    free(w->m_img);
    free(w->m_txt);
    free(w->ev);
    for (int i = 0; i < 3; i++) free(w->slot[i]);
}

static vc_status make_world(world *w, vc_rng *r, int K, int64_t D) {
    memset(w, 0, sizeof *w);
    w->D = D;
    w->K = K;
    w->m_img = malloc((size_t)D * sizeof(float));
    w->m_txt = malloc((size_t)D * sizeof(float));
    w->ev = malloc((size_t)K * D * sizeof(float));
    for (int i = 0; i < 3; i++) w->slot[i] = malloc((size_t)K * D * sizeof(float));
    if (!w->m_img || !w->m_txt || !w->ev || !w->slot[0] || !w->slot[1] || !w->slot[2]) {
        free_world(w);
        return vc_fail(VC_ERR_OOM, "synth: out of memory for %d events of width %lld", K, (long long)D);
    }
    unit_vector(r, w->m_img, D);
    unit_vector(r, w->m_txt, D);
    for (int k = 0; k < K; k++) unit_vector(r, w->ev + (size_t)k * D, D);
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < K; k++) unit_vector(r, w->slot[i] + (size_t)k * D, D);
    for (int k = 0; k < K; k++) {
        if (k < N_WORDS) snprintf(w->names[k], sizeof w->names[k], "%s", event_words[k]);
        else snprintf(w->names[k], sizeof w->names[k], "event %d", k + 1);
    }
    return VC_OK;
}

/* Draws a set of L distinct events (sorted), avoiding sets used before while
 * unused ones remain. used: one bit per code of a sorted set. */
static void draw_set(vc_rng *r, int K, int L, uint8_t *used, int64_t *n_used, int64_t n_sets, int *set) {
    int pool[MAX_EVENTS];
    for (int tries = 0;; tries++) {
        for (int k = 0; k < K; k++) pool[k] = k;
        for (int i = 0; i < L; i++) {
            int j = i + (int)vc_rng_below(r, (uint64_t)(K - i));
            int t = pool[i];
            pool[i] = pool[j];
            pool[j] = t;
        }
        for (int i = 0; i < L; i++) set[i] = pool[i];
        for (int i = 1; i < L; i++)
            for (int j = i; j > 0 && set[j] < set[j - 1]; j--) {
                int t = set[j];
                set[j] = set[j - 1];
                set[j - 1] = t;
            }
        int64_t code = 0;
        for (int i = 0; i < L; i++) code = code * K + set[i];
        int fresh = !(used[code / 8] >> (code % 8) & 1);
        /* Once every set was used (or after many misses), repeats are allowed. */
        if (fresh || *n_used >= n_sets || tries >= 200) {
            if (fresh) {
                used[code / 8] |= (uint8_t)(1u << (code % 8));
                (*n_used)++;
            }
            return;
        }
    }
}

static const int perms2[2][3] = {{0, 1, 0}, {1, 0, 0}};
static const int perms3[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

typedef struct {
    int64_t *idx[3];
    int64_t n[3];
    int64_t *labels;
} split_acc;

vc_status vc_synth_write(const char *path, const vc_synth_opts *o, vc_synth_stats *stats) {
    vc_status st = check_opts(o);
    if (st) return st;
    const int K = o->n_events;
    const int64_t D = o->dim, V = o->n_videos;
    vc_synth_stats s;
    memset(&s, 0, sizeof s);
    vc_rng r;
    vc_rng_seed(&r, o->seed);
    world w;
    if ((st = make_world(&w, &r, K, D))) return st;

    int64_t max_n = o->max_frames > 3 ? o->max_frames : 3;
    float *frames = malloc((size_t)max_n * D * sizeof(float));
    float *cap = malloc((size_t)D * sizeof(float)), *u = malloc((size_t)D * sizeof(float));
    uint8_t *used[2] = {calloc((size_t)K * K / 8 + 1, 1), calloc((size_t)K * K * K / 8 + 1, 1)};
    split_acc sp;
    memset(&sp, 0, sizeof sp);
    for (int i = 0; i < 3; i++) sp.idx[i] = malloc((size_t)V * sizeof(int64_t));
    sp.labels = malloc((size_t)V * sizeof(int64_t));
    vc_h5w *wr = NULL;
    if (!frames || !cap || !u || !used[0] || !used[1] || !sp.idx[0] || !sp.idx[1] || !sp.idx[2] || !sp.labels) {
        st = vc_fail(VC_ERR_OOM, "synth: out of memory for the frames, splits and labels of %lld videos", (long long)V);
        goto done;
    }
    vc_h5w_opts wo = {.dim = D, .dtype = o->dtype, .gzip_level = o->gzip_level, .clip_model = "vclip-synth", .fps = 1.0};
    if ((st = vc_h5w_open(&wr, path, &wo))) {
        wr = NULL;
        goto done;
    }
    const int64_t n_sets[2] = {(int64_t)K * (K - 1) / 2, (int64_t)K * (K - 1) * (K - 2) / 6};
    int64_t n_used[2] = {0, 0};
    const float sigma = 0.6f / sqrtf((float)D), tau = 0.25f / sqrtf((float)D);
    int64_t v = 0;
    vc_progress_report(&o->progress, "videos written", 0, V);
    while (v < V && !st) {
        int L = vc_rng_uniform(&r) < 0.6 ? 3 : 2;
        int set[3];
        draw_set(&r, K, L, used[L - 2], &n_used[L - 2], n_sets[L - 2], set);
        double us = vc_rng_uniform(&r);
        int split = us < 0.8 ? 0 : us < 0.9 ? 1 : 2;
        int np = L == 3 ? 6 : 2, order[6];
        for (int i = 0; i < np; i++) order[i] = i;
        for (int i = np - 1; i > 0; i--) {
            int j = (int)vc_rng_below(&r, (uint64_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        s.families++;
        for (int p = 0; p < np && v < V && !st; p++, v++) {
            const int *pm = L == 3 ? perms3[order[p]] : perms2[order[p]];
            int ev[3];
            for (int i = 0; i < L; i++) ev[i] = set[pm[i]];
            /* Length: 1 in 100 empty, 1 in 30 one frame per event, else uniform. */
            double ul = vc_rng_uniform(&r);
            int64_t lo = o->min_frames > L ? o->min_frames : L, hi = o->max_frames > lo ? o->max_frames : lo;
            int64_t n = ul < 0.01 ? 0 : ul < 0.01 + 1.0 / 30 ? L : lo + (int64_t)vc_rng_below(&r, (uint64_t)(hi - lo + 1));
            /* Segment lengths proportional to weights in [1, 2), each >= 1 frame:
             * they vary, but not so much that the frame mean tells orderings apart. */
            int64_t cut[4] = {0, n, n, n};
            double wsum = 0, wc[4] = {0, 0, 0, 0};
            for (int i = 0; i < L; i++) wc[i + 1] = wsum += 1.0 + vc_rng_uniform(&r);
            for (int i = 1; i < L && n > 0; i++) {
                int64_t c = (int64_t)llround((double)n * wc[i] / wsum);
                if (c < cut[i - 1] + 1) c = cut[i - 1] + 1;
                if (c > n - (L - i)) c = n - (L - i);
                cut[i] = c;
            }
            float scale = (float)(8.0 + 4.0 * vc_rng_uniform(&r));
            for (int seg = 0; seg < L && n > 0; seg++) {
                const float *e = w.ev + (size_t)ev[seg] * D;
                for (int64_t t = cut[seg]; t < cut[seg + 1]; t++) {
                    float *x = frames + (size_t)t * D;
                    for (int64_t j = 0; j < D; j++)
                        x[j] = scale * (0.5f * w.m_img[j] + e[j] + sigma * (float)vc_rng_normal(&r));
                }
            }
            char id[32];
            snprintf(id, sizeof id, "synth-%06lld", (long long)v);
            int64_t index;
            if ((st = vc_h5w_add_video(wr, id, frames, n, &index))) break;
            if ((v + 1) % 256 == 0 || v + 1 == V) vc_progress_report(&o->progress, "videos written", v + 1, V);
            s.frames += n;
            s.empty_videos += n == 0;
            caption_meaning(&w, ev, L, 1, u);
            double uc = vc_rng_uniform(&r);
            int ncap = uc < 0.04 ? 0 : uc < 0.24 ? 2 : 1;
            s.uncaptioned += ncap == 0;
            for (int c = 0; c < ncap && !st; c++) {
                float t = (float)(7.0 + 2.0 * vc_rng_uniform(&r));
                for (int64_t j = 0; j < D; j++)
                    cap[j] = t * (0.5f * w.m_txt[j] + u[j] + tau * (float)vc_rng_normal(&r));
                char text[160];
                const char *a = w.names[ev[0]], *b = w.names[ev[1]], *z = w.names[ev[L - 1]];
                if (L == 2) snprintf(text, sizeof text, c == 0 ? "first %s, then %s" : "%s, and after that %s", a, z);
                else snprintf(text, sizeof text, c == 0 ? "first %s, then %s, finally %s" : "%s, then %s, and at the end %s", a, b, z);
                st = vc_h5w_add_caption(wr, index, text, cap);
                s.captions++;
            }
            sp.idx[split][sp.n[split]++] = index;
            sp.labels[index] = pair_class(K, ev[0], ev[L - 1]);
        }
    }
    if (st) goto done;
    /* Classes: every ordered (first, last) pair. */
    int64_t n_cls = (int64_t)K * (K - 1);
    char **names = calloc((size_t)n_cls, sizeof *names);
    float *cemb = malloc((size_t)n_cls * D * sizeof(float));
    if (!names || !cemb) st = vc_fail(VC_ERR_OOM, "synth: out of memory for %lld classes", (long long)n_cls);
    for (int a = 0; a < K && !st; a++)
        for (int z = 0; z < K && !st; z++) {
            if (a == z) continue;
            int64_t k = pair_class(K, a, z);
            int ev[2] = {a, z};
            caption_meaning(&w, ev, 2, 0, u);
            float *e = cemb + (size_t)k * D;
            for (int64_t j = 0; j < D; j++) e[j] = 8.0f * (0.5f * w.m_txt[j] + u[j]);
            char nm[96];
            snprintf(nm, sizeof nm, "starts with %s and ends with %s", w.names[a], w.names[z]);
            if (!(names[k] = strdup(nm))) st = vc_fail(VC_ERR_OOM, "synth: out of memory for class name %lld", (long long)k);
        }
    if (!st) st = vc_h5w_set_classes(wr, (const char *const *)names, n_cls, cemb);
    if (names)
        for (int64_t k = 0; k < n_cls; k++) free(names[k]);
    free(names);
    free(cemb);
    if (!st) st = vc_h5w_set_labels(wr, sp.labels, V);
    static const char *split_names[3] = {"train", "val", "test"};
    for (int i = 0; i < 3 && !st; i++) st = vc_h5w_set_split(wr, split_names[i], sp.idx[i], sp.n[i]);
    if (!st) {
        st = vc_h5w_close(wr);
        wr = NULL;
    }
    s.videos = V;
    s.classes = n_cls;
    for (int i = 0; i < 3; i++) s.split_size[i] = sp.n[i];
done:
    if (wr) vc_h5w_abort(wr);
    free_world(&w);
    free(frames);
    free(cap);
    free(u);
    free(used[0]);
    free(used[1]);
    for (int i = 0; i < 3; i++) free(sp.idx[i]);
    free(sp.labels);
    if (!st && stats) *stats = s;
    return st;
}
