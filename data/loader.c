#include "loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/device.h"
#include "tensor/rng.h"
#include "tensor/sort.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Size of the read buffer through which small nearby spans (uniform samples,
 * captions) are read together, amortising the per-call cost of the source. */
#define SCRATCH_BYTES ((int64_t)8 << 20)
/* A gap of at most this many bytes between wanted rows is read through rather
 * than starting a new read. */
#define GAP_BYTES ((int64_t)256 << 10)
/* A span this large is read straight into its destination: a call to the
 * source costs less than copying it out of the read buffer. */
#define DIRECT_BYTES ((int64_t)16 << 10)

/* Where randomness comes from, so the draws for orders and for samples never
 * collide. */
enum { TAG_ORDER = 1, TAG_SAMPLE = 2 };

/* A run of cnt consecutive rows wanted at dst. */
typedef struct {
    int64_t row, cnt;
    float *dst;
} span;

/* The frames chosen from a video: row k is start + k, or when spread,
 * floor((2k+1) n / 2T) (uniform sampling of a video longer than T). */
typedef struct {
    int64_t video, cap, cap_k; /* cap: file caption index or -1; cap_k: its rank among the video's captions */
    int64_t n, len, start;
    bool spread;
} sample;

/* One streaming window: positions [a, b) of epoch `epoch`'s order, with the
 * selected frames of each video already cut (len rows of T*D each). */
typedef struct {
    int64_t epoch, j, a, b; /* epoch -1: empty */
    float *rows;            /* [gcap, T, D] */
    float *text;            /* [gcap, D] */
    int64_t *len, *video, *cap;
} window;

typedef struct {
    vc_tensor frames, lengths, text; /* storage for B rows */
    int64_t *video, *caption;
    vc_batch batch;                  /* views on the storage */
    int64_t next_epoch, next_pos;    /* state after this batch */
} slot;

typedef struct {
    int64_t epoch; /* -1: empty */
    int64_t *ord;  /* [N] indices into elig */
} order_cache;

struct vc_loader {
    vc_source *src;
    vc_loader_opts o;
    int64_t D, T, B, N, V;
    bool carry;
    /* shards: R ranks, this one r; a training batch holds rows [r*bl, (r+1)*bl)
     * of the global batch of B; an evaluation pass covers positions [lo, hi) */
    int R, r;
    int64_t bl, lo, hi;
    int64_t *elig;             /* [N] the videos: eval = split order, train = ascending */
    int64_t *cap_off, *cap_idx; /* captions per video: cap_idx[cap_off[v] .. cap_off[v+1]) */
    int64_t skipped_empty, skipped_uncap;
    uint64_t fingerprint;

    /* RAM mode */
    bool stream;
    float *ram_rows, *ram_text;
    int64_t *ram_row_base, *ram_text_base; /* [N] first row of each elig video's frames / captions */

    /* streaming */
    int64_t K, G, ng, gcap;
    window win[2];
    bool pinned[2];
    span *spans;               /* [gcap * T + gcap] */
    int64_t *sort_buf;         /* [2 * gcap] (video, local index) pairs */

    /* orders (worker-owned) */
    order_cache oc[2];
    int64_t *tmp_ord, *blk, *tailbuf;

    float *scratch;            /* worker's read buffer, scratch_rows * D */
    int64_t scratch_rows, gap_rows;

    /* queue */
    int nslots;
    slot *slots;
    int *fullq, fq_head, fq_count;
    int *freeq, nfree;
    int held;
    pthread_mutex_t mu, src_mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool thread_on, stop, w_done;
    bool paused;               /* evaluation: the worker waits at the end of a pass until it is asked for more */
    vc_status w_err;
    char w_msg[512];
    int64_t w_epoch, w_pos;    /* worker's next batch, owned by the worker while it runs */

    int64_t c_epoch, c_pos;    /* next batch the consumer gets */
    bool pass_end_pending;     /* evaluation: the next call returns NULL */
    bool resume_pass;          /* evaluation: NULL was returned, the next call starts a pass */
    vc_status err;             /* sticky error */
    char err_msg[512];
};

/* ---------- small helpers ---------- */

static uint64_t hash3(uint64_t seed, uint64_t tag, uint64_t a, uint64_t b) {
    uint64_t h = vc_mix64(seed + 0x9e3779b97f4a7c15ull);
    h = vc_mix64(h ^ (tag * 0xd1b54a32d192ed03ull));
    h = vc_mix64(h ^ a);
    return vc_mix64(h ^ (b + 0x632be59bd9b4e019ull));
}

static void *xmalloc(size_t n) { return malloc(n ? n : 1); }

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

static int64_t frames_of(const vc_loader *ld, int64_t v) { return ld->src->offsets[v + 1] - ld->src->offsets[v]; }

/* Whether position q of epoch e lands in this shard's rows. Training: the
 * stream position e*N + q sits at row (e*N + q) mod B of its global batch
 * (batches start at multiples of B in CARRY mode, at epoch starts in PARTIAL
 * mode, which is unsharded). Evaluation: q in [lo, hi). */
static bool mine(const vc_loader *ld, int64_t e, int64_t q) {
    if (ld->R <= 1) return true;
    if (!ld->o.train) return q >= ld->lo && q < ld->hi;
    int64_t row = (int64_t)(((unsigned __int128)e * (uint64_t)ld->N + (uint64_t)q) % (uint64_t)ld->B);
    return row / ld->bl == ld->r;
}

/* ---------- reading ---------- */

/* Reads every span (sorted by row) with few source calls: a large span is
 * read straight into its destination; runs of small nearby spans share one
 * read through the scratch buffer. */
static vc_status gather(vc_loader *ld, bool text, span *sp, int64_t n, float *scratch, int64_t scratch_rows) {
    vc_status (*rd)(void *, int64_t, int64_t, float *) = text ? ld->src->read_text : ld->src->read_frames;
    int64_t D = ld->D, direct_rows = DIRECT_BYTES / (D * (int64_t)sizeof(float));
    int64_t i = 0;
    while (i < n) {
        int64_t lo = sp[i].row, hi = sp[i].row + sp[i].cnt, j = i;
        if (sp[i].cnt < direct_rows)
            while (j + 1 < n) {
                const span *nx = &sp[j + 1];
                int64_t nhi = nx->row + nx->cnt > hi ? nx->row + nx->cnt : hi;
                if (nx->cnt >= direct_rows || nx->row - hi > ld->gap_rows || nhi - lo > scratch_rows) break;
                hi = nhi;
                j++;
            }
        vc_status s;
        pthread_mutex_lock(&ld->src_mu);
        if (j == i)
            s = rd(ld->src->ctx, sp[i].row, sp[i].cnt, sp[i].dst);
        else
            s = rd(ld->src->ctx, lo, hi - lo, scratch);
        pthread_mutex_unlock(&ld->src_mu);
        if (s) return s;
        if (j > i)
            for (int64_t k = i; k <= j; k++)
                memcpy(sp[k].dst, scratch + (sp[k].row - lo) * D, (size_t)(sp[k].cnt * D) * sizeof(float));
        i = j + 1;
    }
    return VC_OK;
}

/* ---------- copies into cold memory ---------- */

/* Batches and windows are far larger than the cache and are written once, so
 * streaming stores (which skip reading each destination line first) copy
 * them faster. SSE2 is part of x86-64; elsewhere plain memcpy/memset. */
#if defined(__SSE2__)
static void copy_nt(float *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 15); i++) dst[i] = src[i];
    for (; i + 16 <= n; i += 16) {
        _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
        _mm_stream_ps(dst + i + 4, _mm_loadu_ps(src + i + 4));
        _mm_stream_ps(dst + i + 8, _mm_loadu_ps(src + i + 8));
        _mm_stream_ps(dst + i + 12, _mm_loadu_ps(src + i + 12));
    }
    for (; i < n; i++) dst[i] = src[i];
}
static void zero_nt(float *dst, int64_t n) {
    int64_t i = 0;
    __m128 z = _mm_setzero_ps();
    for (; i < n && ((uintptr_t)(dst + i) & 15); i++) dst[i] = 0;
    for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, z);
    for (; i < n; i++) dst[i] = 0;
}
/* Streaming stores are weakly ordered: fence before handing the batch over. */
static void nt_fence(void) { _mm_sfence(); }
#else
static void copy_nt(float *dst, const float *src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
static void zero_nt(float *dst, int64_t n) { memset(dst, 0, (size_t)n * sizeof(float)); }
static void nt_fence(void) {}
#endif

/* ---------- sampling ---------- */

static void draw_sample(const vc_loader *ld, int64_t epoch, int64_t ei, sample *s) {
    int64_t v = ld->elig[ei], T = ld->T;
    int64_t n = frames_of(ld, v);
    int64_t nc = ld->cap_off[v + 1] - ld->cap_off[v];
    vc_rng r;
    vc_rng_seed(&r, hash3(ld->o.seed, TAG_SAMPLE, (uint64_t)epoch, (uint64_t)v));
    s->video = v;
    s->n = n;
    s->cap_k = nc == 0 ? -1 : ld->o.train ? (int64_t)vc_rng_below(&r, (uint64_t)nc) : 0;
    s->cap = s->cap_k < 0 ? -1 : ld->cap_idx[ld->cap_off[v] + s->cap_k];
    s->spread = false;
    s->start = 0;
    s->len = n < T ? n : T;
    if (n > T) {
        switch (ld->o.frames) {
        case VC_FRAMES_FIRST: break;
        case VC_FRAMES_UNIFORM: s->spread = true; break;
        case VC_FRAMES_RANDOM:
            s->start = ld->o.train ? (int64_t)vc_rng_below(&r, (uint64_t)(n - T + 1)) : (n - T) / 2;
            break;
        }
    }
}

static int64_t sample_frame(const sample *s, int64_t k, int64_t T) {
    return s->spread ? ((2 * k + 1) * s->n) / (2 * T) : s->start + k;
}

/* Appends the frame spans of s (rows relative to the file) to sp, merging
 * consecutive frames; returns the new count. dst is the video's [T, D] rows. */
static int64_t sample_spans(const vc_loader *ld, const sample *s, float *dst, span *sp, int64_t n) {
    int64_t base = ld->src->offsets[s->video], D = ld->D;
    if (!s->spread) {
        sp[n++] = (span){base + s->start, s->len, dst};
        return n;
    }
    for (int64_t k = 0; k < s->len; k++) {
        int64_t f = base + sample_frame(s, k, ld->T);
        if (k > 0 && sp[n - 1].row + sp[n - 1].cnt == f)
            sp[n - 1].cnt++;
        else
            sp[n++] = (span){f, 1, dst + k * D};
    }
    return n;
}

/* ---------- epoch orders ---------- */

static void shuffle(int64_t *a, int64_t n, vc_rng *r) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)vc_rng_below(r, (uint64_t)(i + 1));
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static int64_t win_start(const vc_loader *ld, int64_t j) { return j * ld->N / ld->ng; }

static int64_t win_index(const vc_loader *ld, int64_t q) {
    int64_t j = q * ld->ng / ld->N;
    while (j + 1 < ld->ng && win_start(ld, j + 1) <= q) j++;
    while (j > 0 && win_start(ld, j) > q) j--;
    return j;
}

/* The epoch's order before the carry fix: a permutation of the indices into elig. */
static void raw_order(vc_loader *ld, int64_t e, int64_t *ord) {
    int64_t N = ld->N;
    if (!ld->o.train) {
        for (int64_t i = 0; i < N; i++) ord[i] = i;
        return;
    }
    vc_rng r;
    vc_rng_seed(&r, hash3(ld->o.seed, TAG_ORDER, (uint64_t)e, 0));
    if (!ld->stream) {
        for (int64_t i = 0; i < N; i++) ord[i] = i;
        shuffle(ord, N, &r);
        return;
    }
    int64_t K = ld->K, nb = (N + K - 1) / K, w = 0;
    for (int64_t i = 0; i < nb; i++) ld->blk[i] = i;
    shuffle(ld->blk, nb, &r);
    for (int64_t i = 0; i < nb; i++) {
        int64_t s0 = ld->blk[i] * K, s1 = s0 + K < N ? s0 + K : N;
        for (int64_t s = s0; s < s1; s++) ord[w++] = s;
    }
    for (int64_t j = 0; j < ld->ng; j++) {
        int64_t a = win_start(ld, j), b = win_start(ld, j + 1);
        shuffle(ord + a, b - a, &r);
    }
}

static bool in_sorted(const int64_t *a, int64_t n, int64_t x) {
    return bsearch(&x, a, (size_t)n, sizeof *a, vc_cmp_i64) != NULL;
}

/* The epoch's order. In carry mode the batch that crosses into epoch e holds
 * the last t videos of epoch e-1 and the first B-t of epoch e; any of those t
 * videos found among the first B-t positions is swapped with the nearest
 * later position below B that holds another video (there are always enough:
 * positions B-t..B-1 hold at most t minus the ones found). Positions from B on
 * are untouched, so epoch e-1's last t videos are those of its raw order. */
static void epoch_order(vc_loader *ld, int64_t e, int64_t *ord) {
    raw_order(ld, e, ord);
    if (!ld->carry || e == 0) return;
    int64_t N = ld->N, B = ld->B;
    int64_t t = (int64_t)(((unsigned __int128)e * (uint64_t)N) % (uint64_t)B);
    if (t == 0) return;
    raw_order(ld, e - 1, ld->tmp_ord); /* its tail lies past position B, untouched by its own fix */
    memcpy(ld->tailbuf, ld->tmp_ord + N - t, (size_t)t * sizeof(int64_t));
    qsort(ld->tailbuf, (size_t)t, sizeof(int64_t), vc_cmp_i64);
    int64_t h = B - t, j = h;
    for (int64_t i = 0; i < h; i++) {
        if (!in_sorted(ld->tailbuf, t, ord[i])) continue;
        while (in_sorted(ld->tailbuf, t, ord[j])) j++;
        int64_t x = ord[i];
        ord[i] = ord[j];
        ord[j] = x;
        j++;
    }
}

/* The order of epoch e, computed at most once while cached; never evicts the
 * entry for epoch `keep`. */
static const int64_t *get_order(vc_loader *ld, int64_t e, int64_t keep) {
    for (int i = 0; i < 2; i++)
        if (ld->oc[i].epoch == e) return ld->oc[i].ord;
    int victim = ld->oc[0].epoch == keep ? 1 : ld->oc[1].epoch == keep ? 0 : (ld->oc[0].epoch > ld->oc[1].epoch ? 1 : 0);
    epoch_order(ld, e, ld->oc[victim].ord);
    ld->oc[victim].epoch = e;
    return ld->oc[victim].ord;
}

/* ---------- streaming windows ---------- */

static vc_status load_window(vc_loader *ld, window *w, int64_t e, int64_t j, const int64_t *ord) {
    int64_t a = win_start(ld, j), b = win_start(ld, j + 1), m = b - a, T = ld->T, D = ld->D;
    w->epoch = -1; /* invalid until fully read */
    sample *smp = NULL;
    int64_t *pairs = ld->sort_buf;
    smp = xmalloc((size_t)m * sizeof *smp);
    if (!smp) return vc_fail(VC_ERR_OOM, "loader: out of memory for a window of %lld samples", (long long)m);
    int64_t nm = 0; /* this shard's videos of the window: the only ones read */
    for (int64_t i = 0; i < m; i++) {
        if (!mine(ld, e, a + i)) {
            smp[i] = (sample){.video = -1, .cap = -1};
            w->len[i] = 0;
            w->video[i] = w->cap[i] = -1;
            continue;
        }
        draw_sample(ld, e, ord[a + i], &smp[i]);
        w->len[i] = smp[i].len;
        w->video[i] = smp[i].video;
        w->cap[i] = smp[i].cap;
        pairs[2 * nm] = smp[i].video;
        pairs[2 * nm + 1] = i;
        nm++;
    }
    /* File order, so the frame spans come out sorted by row. */
    qsort(pairs, (size_t)nm, 2 * sizeof(int64_t), vc_cmp_i64); /* (key, value) pairs by key */
    int64_t ns = 0;
    for (int64_t k = 0; k < nm; k++) {
        int64_t i = pairs[2 * k + 1];
        ns = sample_spans(ld, &smp[i], w->rows + i * T * D, ld->spans, ns);
    }
    vc_status s = gather(ld, false, ld->spans, ns, ld->scratch, ld->scratch_rows);
    if (!s) {
        ns = 0;
        for (int64_t i = 0; i < m; i++) {
            if (smp[i].cap >= 0)
                ld->spans[ns++] = (span){smp[i].cap, 1, w->text + i * D};
            else if (smp[i].video >= 0)
                memset(w->text + i * D, 0, (size_t)D * sizeof(float));
        }
        qsort(ld->spans, (size_t)ns, sizeof(span), cmp_span);
        s = gather(ld, true, ld->spans, ns, ld->scratch, ld->scratch_rows);
    }
    free(smp);
    if (s) return s;
    w->epoch = e;
    w->j = j;
    w->a = a;
    w->b = b;
    return VC_OK;
}

/* The window holding position q of epoch e, reading it if needed into a
 * window this batch has not used yet. */
static vc_status need_window(vc_loader *ld, int64_t e, int64_t q, const int64_t *ord, window **out) {
    int64_t j = win_index(ld, q);
    for (int i = 0; i < 2; i++)
        if (ld->win[i].epoch == e && ld->win[i].j == j) {
            ld->pinned[i] = true;
            *out = &ld->win[i];
            return VC_OK;
        }
    int victim = ld->pinned[0] ? 1 : 0;
    if (ld->pinned[victim]) return vc_fail(VC_ERR_ARG, "loader: internal error, batch spans three windows");
    vc_status s = load_window(ld, &ld->win[victim], e, j, ord);
    if (s) return s;
    ld->pinned[victim] = true;
    *out = &ld->win[victim];
    return VC_OK;
}

/* ---------- batches ---------- */

/* Fills row i of the slot from RAM. */
static void row_from_ram(vc_loader *ld, slot *sl, int64_t i, int64_t e, int64_t ei) {
    int64_t T = ld->T, D = ld->D;
    sample s;
    draw_sample(ld, e, ei, &s);
    float *dst = (float *)sl->frames.data + i * T * D;
    const float *src = ld->ram_rows + ld->ram_row_base[ei] * D;
    if (s.spread) {
        for (int64_t k = 0; k < s.len; k++) copy_nt(dst + k * D, src + sample_frame(&s, k, T) * D, D);
    } else {
        copy_nt(dst, src + s.start * D, s.len * D);
    }
    zero_nt(dst + s.len * D, (T - s.len) * D);
    float *tdst = (float *)sl->text.data + i * D;
    if (s.cap >= 0)
        memcpy(tdst, ld->ram_text + (ld->ram_text_base[ei] + s.cap_k) * D, (size_t)D * sizeof(float));
    else
        memset(tdst, 0, (size_t)D * sizeof(float));
    ((int64_t *)sl->lengths.data)[i] = s.len;
    sl->video[i] = s.video;
    sl->caption[i] = s.cap;
}

static void row_from_window(vc_loader *ld, slot *sl, int64_t i, const window *w, int64_t q) {
    int64_t T = ld->T, D = ld->D, li = q - w->a, len = w->len[li];
    float *dst = (float *)sl->frames.data + i * T * D;
    copy_nt(dst, w->rows + li * T * D, len * D);
    zero_nt(dst + len * D, (T - len) * D);
    memcpy((float *)sl->text.data + i * D, w->text + li * D, (size_t)D * sizeof(float));
    ((int64_t *)sl->lengths.data)[i] = len;
    sl->video[i] = w->video[li];
    sl->caption[i] = w->cap[li];
}

/* Builds the batch starting at position p of epoch e into sl. */
static vc_status produce(vc_loader *ld, slot *sl, int64_t e, int64_t p) {
    int64_t N = ld->N, B = ld->B;
    /* the batch's extent in the stream (the same on every rank), and this
     * shard's rows of it: [first, first + n) from p */
    int64_t end = ld->o.train ? N : ld->hi;
    int64_t span_n = ld->carry ? B : (end - p < B ? end - p : B);
    int64_t first = ld->o.train && ld->R > 1 ? ld->r * ld->bl : 0;
    int64_t n = ld->o.train && ld->R > 1 ? ld->bl : span_n;
    const int64_t *ordA = get_order(ld, e, -1), *ordB = NULL;
    ld->pinned[0] = ld->pinned[1] = false;
    for (int64_t i = 0; i < n; i++) {
        int64_t q = p + first + i, ee = e;
        const int64_t *ord = ordA;
        if (q >= N) {
            q -= N;
            ee = e + 1;
            if (!ordB) ordB = get_order(ld, e + 1, e);
            ord = ordB;
        }
        if (ld->stream) {
            window *w = NULL;
            vc_status s = need_window(ld, ee, q, ord, &w);
            if (s) return s;
            row_from_window(ld, sl, i, w, q);
        } else {
            row_from_ram(ld, sl, i, ee, ord[q]);
        }
    }
    vc_batch *b = &sl->batch;
    b->n = n;
    vc_view_slice(&b->frames, &sl->frames, 0, 0, n);
    vc_view_slice(&b->lengths, &sl->lengths, 0, 0, n);
    vc_view_slice(&b->text, &sl->text, 0, 0, n);
    b->video = sl->video;
    b->caption = sl->caption;
    b->epoch = e;
    b->pos = p;
    b->epoch_end = p + span_n >= end;
    nt_fence();
    if (!ld->o.train) { /* the next pass starts again at the shard's first position */
        sl->next_epoch = p + span_n >= end ? e + 1 : e;
        sl->next_pos = p + span_n >= end ? ld->lo : p + span_n;
    } else {
        sl->next_epoch = p + span_n >= N ? e + 1 : e;
        sl->next_pos = p + span_n >= N ? p + span_n - N : p + span_n;
    }
    return VC_OK;
}

/* ---------- background thread ---------- */

static void *worker_main(void *arg) {
    vc_loader *ld = arg;
    for (;;) {
        pthread_mutex_lock(&ld->mu);
        while (!ld->stop && (ld->nfree == 0 || ld->paused)) pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->stop) {
            pthread_mutex_unlock(&ld->mu);
            return NULL;
        }
        int id = ld->freeq[--ld->nfree];
        pthread_mutex_unlock(&ld->mu);

        vc_status s = produce(ld, &ld->slots[id], ld->w_epoch, ld->w_pos);

        pthread_mutex_lock(&ld->mu);
        if (s) {
            ld->w_err = s;
            snprintf(ld->w_msg, sizeof ld->w_msg, "%s", vc_last_error());
            ld->w_done = true;
            ld->freeq[ld->nfree++] = id;
            pthread_cond_broadcast(&ld->cv);
            pthread_mutex_unlock(&ld->mu);
            return NULL;
        }
        ld->w_epoch = ld->slots[id].next_epoch;
        ld->w_pos = ld->slots[id].next_pos;
        ld->fullq[(ld->fq_head + ld->fq_count) % ld->nslots] = id;
        ld->fq_count++;
        if (!ld->o.train && ld->slots[id].batch.epoch_end) ld->paused = true;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
}

static void stop_worker(vc_loader *ld) {
    if (ld->thread_on) {
        pthread_mutex_lock(&ld->mu);
        ld->stop = true;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
        ld->thread_on = false;
    }
    ld->stop = false;
    ld->paused = false;
    ld->w_done = false;
    ld->w_err = VC_OK;
    ld->fq_head = ld->fq_count = 0;
    ld->nfree = 0;
    for (int i = 0; i < ld->nslots; i++) ld->freeq[ld->nfree++] = i;
    ld->held = -1;
}

static vc_status start_worker(vc_loader *ld) {
    ld->w_epoch = ld->c_epoch;
    ld->w_pos = ld->c_pos;
    if (pthread_create(&ld->thread, NULL, worker_main, ld) != 0)
        return vc_fail(VC_ERR_OOM, "loader: cannot start the prefetch thread");
    ld->thread_on = true;
    return VC_OK;
}

/* ---------- public ---------- */

/* A batch's float32 storage, zeroed: pinned for device d's asynchronous
 * copies when d is not the CPU. */
static vc_status batch_tensor(vc_tensor *t, vc_device d, int ndim, const int64_t *shape) {
    if (d == VC_CPU) return vc_tensor_alloc(t, VC_F32, ndim, shape);
    vc_status s = vc_tensor_wrap(t, NULL, VC_F32, ndim, shape);
    if (s) return s;
    size_t nb = vc_nbytes(t);
    if (!(t->data = vc_device_host_alloc(d, nb)))
        return vc_fail(VC_ERR_OOM, "loader: cannot allocate %zu bytes of pinned memory for a batch", nb);
    memset(t->data, 0, nb);
    return VC_OK;
}

static void batch_release(vc_tensor *t, vc_device d) {
    if (d == VC_CPU) vc_tensor_release(t);
    else vc_device_host_free(d, t->data);
    t->data = NULL;
}

vc_loader_opts vc_loader_defaults(void) {
    return (vc_loader_opts){
        .batch = 64,
        .max_frames = 32,
        .frames = VC_FRAMES_UNIFORM,
        .train = true,
        .tail = VC_TAIL_CARRY,
        .seed = 0,
        .split = NULL,
        .n_split = 0,
        .mem_budget = (int64_t)1 << 30,
        .block_videos = 256,
        .prefetch = 4,
        .shard_rank = 0,
        .shard_count = 1,
    };
}

static uint64_t fp_add(uint64_t h, uint64_t x) { return vc_mix64(h ^ vc_mix64(x + 0x9e3779b97f4a7c15ull)); }

static vc_status load_ram(vc_loader *ld, int64_t rows, int64_t texts) {
    int64_t N = ld->N, D = ld->D;
    /* an evaluation shard holds only its positions (the order is the identity) */
    int64_t s0 = ld->o.train ? 0 : ld->lo, s1 = ld->o.train ? N : ld->hi;
    if (s1 - s0 < N) {
        rows = texts = 0;
        for (int64_t s = s0; s < s1; s++) {
            int64_t v = ld->elig[s];
            rows += frames_of(ld, v);
            texts += ld->cap_off[v + 1] > ld->cap_off[v];
        }
    }
    ld->ram_rows = xmalloc((size_t)(rows * D) * sizeof(float));
    ld->ram_text = xmalloc((size_t)(texts * D) * sizeof(float));
    ld->ram_row_base = xmalloc((size_t)N * sizeof(int64_t));
    ld->ram_text_base = xmalloc((size_t)N * sizeof(int64_t));
    span *sp = xmalloc((size_t)(N > texts ? N : texts) * sizeof(span));
    if (!ld->ram_rows || !ld->ram_text || !ld->ram_row_base || !ld->ram_text_base || !sp) {
        free(sp);
        return vc_fail(VC_ERR_OOM, "loader: cannot allocate %lld MB to hold the dataset",
                       (long long)((rows + texts) * D * 4 >> 20));
    }
    int64_t r = 0, t = 0, nt = 0, nsp = 0;
    for (int64_t s = s0; s < s1; s++) {
        int64_t v = ld->elig[s], n = frames_of(ld, v);
        ld->ram_row_base[s] = r;
        sp[nsp++] = (span){ld->src->offsets[v], n, ld->ram_rows + r * D};
        r += n;
    }
    qsort(sp, (size_t)nsp, sizeof(span), cmp_span);
    vc_status st = gather(ld, false, sp, nsp, ld->scratch, ld->scratch_rows);
    if (!st && texts > 0) {
        for (int64_t s = s0; s < s1; s++) {
            int64_t v = ld->elig[s], nc = ld->cap_off[v + 1] - ld->cap_off[v];
            if (!ld->o.train && nc > 1) nc = 1;
            ld->ram_text_base[s] = t;
            for (int64_t k = 0; k < nc; k++) sp[nt++] = (span){ld->cap_idx[ld->cap_off[v] + k], 1, ld->ram_text + (t + k) * D};
            t += nc;
        }
        qsort(sp, (size_t)nt, sizeof(span), cmp_span);
        st = gather(ld, true, sp, nt, ld->scratch, ld->scratch_rows);
    }
    free(sp);
    return st;
}

static vc_status setup_stream(vc_loader *ld) {
    int64_t N = ld->N, B = ld->B, T = ld->T, D = ld->D;
    int64_t per_video = (T * D + D) * (int64_t)sizeof(float);
    /* Two windows of at most 2G videos each fit the budget. */
    int64_t G = ld->o.mem_budget / (4 * per_video);
    if (G < B) G = B;
    if (G > N) G = N;
    if (G < 1) G = 1;
    ld->G = G;
    ld->K = ld->o.block_videos;
    ld->ng = N / G > 0 ? N / G : 1;
    ld->gcap = 0;
    for (int64_t j = 0; j < ld->ng; j++) {
        int64_t m = win_start(ld, j + 1) - win_start(ld, j);
        if (m > ld->gcap) ld->gcap = m;
    }
    int64_t gc = ld->gcap;
    for (int i = 0; i < 2; i++) {
        window *w = &ld->win[i];
        w->epoch = -1;
        w->rows = xmalloc((size_t)(gc * T * D) * sizeof(float));
        w->text = xmalloc((size_t)(gc * D) * sizeof(float));
        w->len = xmalloc((size_t)gc * sizeof(int64_t));
        w->video = xmalloc((size_t)gc * sizeof(int64_t));
        w->cap = xmalloc((size_t)gc * sizeof(int64_t));
        if (!w->rows || !w->text || !w->len || !w->video || !w->cap)
            return vc_fail(VC_ERR_OOM, "loader: cannot allocate the streaming windows (%lld videos)", (long long)gc);
    }
    ld->spans = xmalloc((size_t)(gc * T + gc) * sizeof(span));
    ld->sort_buf = xmalloc((size_t)(2 * gc) * sizeof(int64_t));
    if (!ld->spans || !ld->sort_buf)
        return vc_fail(VC_ERR_OOM, "loader: out of memory for the read spans of %lld videos of %lld frames", (long long)gc,
                       (long long)T);
    return VC_OK;
}

vc_status vc_loader_open(vc_loader **out, vc_source *src, const vc_loader_opts *opts) {
    *out = NULL;
    if (!src || !opts || !src->offsets) return vc_fail(VC_ERR_ARG, "loader: needs a source and options");
    const char *name = src->name ? src->name : "source";
    const vc_loader_opts *o = opts;
    if (o->batch < 1 || o->max_frames < 1)
        return vc_fail(VC_ERR_ARG, "loader: batch (%lld) and max_frames (%lld) must be >= 1", (long long)o->batch,
                       (long long)o->max_frames);
    if ((unsigned)o->frames > VC_FRAMES_RANDOM || (unsigned)o->tail > VC_TAIL_PARTIAL)
        return vc_fail(VC_ERR_ARG, "loader: invalid frame mode or epoch tail");
    if (o->block_videos < 1 || o->prefetch < 0 || o->mem_budget < 0)
        return vc_fail(VC_ERR_ARG, "loader: block_videos must be >= 1, prefetch and mem_budget >= 0");
    if (o->n_split < 0 || (o->n_split > 0 && !o->split)) return vc_fail(VC_ERR_ARG, "loader: split has no indices");
    if (src->dim < 1 || src->n_videos < 0 || src->n_captions < 0 || src->offsets[0] != 0)
        return vc_fail(VC_ERR_FORMAT, "%s: bad dimensions or offsets", name);
    if (o->train && !src->has_text)
        return vc_fail(VC_ERR_FORMAT, "%s: training needs caption embeddings and the file has none", name);
    int R = o->shard_count > 1 ? o->shard_count : 1;
    if (o->shard_count < 0 || o->shard_rank < 0 || o->shard_rank >= R)
        return vc_fail(VC_ERR_ARG, "loader: shard %d of %d does not exist", o->shard_rank, o->shard_count);
    if (R > 1 && o->train && o->batch % R != 0)
        return vc_fail(VC_ERR_ARG, "the global batch %lld does not divide by the %d ranks (set train.batch to a multiple of %d)",
                       (long long)o->batch, R, R);
    if (R > 1 && o->train && o->tail != VC_TAIL_CARRY)
        return vc_fail(VC_ERR_ARG, "loader: sharded training needs the carry epoch tail (every batch full)");

    vc_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return vc_fail(VC_ERR_OOM, "%s: out of memory for the loader (%zu bytes)", name, sizeof *ld);
    pthread_mutex_init(&ld->mu, NULL);
    pthread_mutex_init(&ld->src_mu, NULL);
    pthread_cond_init(&ld->cv, NULL);
    ld->src = src;
    ld->o = *o;
    ld->o.split = NULL;
    ld->D = src->dim;
    ld->T = o->max_frames;
    ld->B = o->batch;
    ld->V = src->n_videos;
    ld->carry = o->train && o->tail == VC_TAIL_CARRY;
    ld->R = R;
    ld->r = R > 1 ? o->shard_rank : 0;
    ld->bl = o->batch / R;
    ld->held = -1;
    ld->oc[0].epoch = ld->oc[1].epoch = -1;
    ld->win[0].epoch = ld->win[1].epoch = -1;
    vc_status s = VC_OK;
    int64_t V = ld->V, C = src->n_captions, D = ld->D;
    uint8_t *seen = NULL;

    /* The source's index arrays are checked again: the loader must not crash on them. */
    for (int64_t v = 0; v < V; v++)
        if (src->offsets[v + 1] < src->offsets[v]) {
            s = vc_fail(VC_ERR_FORMAT, "%s: /video/offsets decreases at index %lld", name, (long long)(v + 1));
            goto fail;
        }
    ld->cap_off = calloc((size_t)V + 1, sizeof(int64_t));
    ld->cap_idx = xmalloc((size_t)C * sizeof(int64_t));
    if (!ld->cap_off || !ld->cap_idx) goto oom;
    if (src->has_text) {
        for (int64_t c = 0; c < C; c++) {
            int64_t v = src->text_video[c];
            if (v < 0 || v >= V) {
                s = vc_fail(VC_ERR_FORMAT, "%s: /text/video[%lld] = %lld is outside [0, %lld)", name, (long long)c,
                            (long long)v, (long long)V);
                goto fail;
            }
            ld->cap_off[v + 1]++;
        }
        for (int64_t v = 0; v < V; v++) ld->cap_off[v + 1] += ld->cap_off[v];
        int64_t *fill = xmalloc((size_t)V * sizeof(int64_t));
        if (!fill) goto oom;
        memcpy(fill, ld->cap_off, (size_t)V * sizeof(int64_t));
        for (int64_t c = 0; c < C; c++) ld->cap_idx[fill[src->text_video[c]]++] = c;
        free(fill);
    }

    /* The selected videos. */
    int64_t ns = o->split ? o->n_split : V;
    ld->elig = xmalloc((size_t)ns * sizeof(int64_t));
    seen = calloc((size_t)(V / 8 + 1), 1);
    if (!ld->elig || !seen) goto oom;
    int64_t rows = 0, texts = 0;
    for (int64_t i = 0; i < ns; i++) {
        int64_t v = o->split ? o->split[i] : i;
        if (v < 0 || v >= V) {
            s = vc_fail(VC_ERR_ARG, "%s: split entry %lld is video %lld, outside [0, %lld)", name, (long long)i,
                        (long long)v, (long long)V);
            goto fail;
        }
        if (seen[v >> 3] & (1u << (v & 7))) {
            s = vc_fail(VC_ERR_ARG, "%s: split lists video %lld twice", name, (long long)v);
            goto fail;
        }
        seen[v >> 3] |= (uint8_t)(1u << (v & 7));
        int64_t nc = ld->cap_off[v + 1] - ld->cap_off[v];
        if (frames_of(ld, v) == 0) {
            ld->skipped_empty++;
            continue;
        }
        if (o->train && nc == 0) {
            ld->skipped_uncap++;
            continue;
        }
        ld->elig[ld->N++] = v;
        rows += frames_of(ld, v);
        texts += o->train ? nc : (nc > 0);
    }
    free(seen);
    seen = NULL;
    int64_t N = ld->N, B = ld->B;
    if (N == 0) {
        s = vc_fail(VC_ERR_ARG, "%s: no videos to load (%lld in the split: %lld with no frames, %lld with no caption)",
                    name, (long long)ns, (long long)ld->skipped_empty, (long long)ld->skipped_uncap);
        goto fail;
    }
    if (ld->carry && (N < B || (N % B != 0 && N < 2 * B - 1))) {
        s = vc_fail(VC_ERR_ARG,
                    "%s: %lld videos are too few for batches of %lld carried across epochs (needs %lld); "
                    "lower the batch size or end epochs with a partial batch",
                    name, (long long)N, (long long)B, (long long)(N % B == 0 ? B : 2 * B - 1));
        goto fail;
    }
    if (o->train) qsort(ld->elig, (size_t)N, sizeof(int64_t), vc_cmp_i64);
    ld->lo = o->train ? 0 : (int64_t)((unsigned __int128)ld->r * (uint64_t)N / (uint64_t)R);
    ld->hi = o->train ? N : (int64_t)((unsigned __int128)(ld->r + 1) * (uint64_t)N / (uint64_t)R);
    ld->c_pos = ld->lo;

    ld->scratch_rows = SCRATCH_BYTES / (D * (int64_t)sizeof(float));
    if (ld->scratch_rows < 1) ld->scratch_rows = 1;
    ld->gap_rows = GAP_BYTES / (D * (int64_t)sizeof(float));
    ld->scratch = xmalloc((size_t)(ld->scratch_rows * D) * sizeof(float));
    if (!ld->scratch) goto oom;

    /* RAM or streaming. Overflow-safe comparison of (rows + texts) * D * 4 with the budget. */
    double ram_bytes = (double)(rows + texts) * (double)D * 4.0;
    ld->stream = ram_bytes > (double)o->mem_budget;
    if (ld->stream) {
        s = setup_stream(ld);
        if (s) goto fail;
    } else {
        ld->G = N;
        s = load_ram(ld, rows, texts);
        if (s) goto fail;
    }

    for (int i = 0; i < 2; i++) {
        ld->oc[i].ord = xmalloc((size_t)N * sizeof(int64_t));
        if (!ld->oc[i].ord) goto oom;
    }
    ld->tmp_ord = xmalloc((size_t)N * sizeof(int64_t));
    ld->blk = xmalloc((size_t)(N / ld->o.block_videos + 1) * sizeof(int64_t));
    ld->tailbuf = xmalloc((size_t)B * sizeof(int64_t));
    if (!ld->tmp_ord || !ld->blk || !ld->tailbuf) goto oom;

    ld->nslots = o->prefetch + 1;
    ld->slots = calloc((size_t)ld->nslots, sizeof(slot));
    ld->fullq = xmalloc((size_t)ld->nslots * sizeof(int));
    ld->freeq = xmalloc((size_t)ld->nslots * sizeof(int));
    if (!ld->slots || !ld->fullq || !ld->freeq) goto oom;
    int64_t Bs = o->train ? ld->bl : B; /* rows a batch of this shard holds */
    for (int i = 0; i < ld->nslots; i++) {
        slot *sl = &ld->slots[i];
        sl->video = xmalloc((size_t)Bs * sizeof(int64_t));
        sl->caption = xmalloc((size_t)Bs * sizeof(int64_t));
        if (!sl->video || !sl->caption) goto oom;
        if ((s = batch_tensor(&sl->frames, o->pinned_for, VC_DIMS(Bs, ld->T, D))) ||
            (s = vc_tensor_alloc(&sl->lengths, VC_I64, VC_DIMS(Bs))) ||
            (s = batch_tensor(&sl->text, o->pinned_for, VC_DIMS(Bs, D))))
            goto fail;
    }
    stop_worker(ld); /* initialises the queue */

    uint64_t h = fp_add(0x766c6f6164657231ull, (uint64_t)N);
    for (int64_t i = 0; i < N; i++) h = fp_add(h, (uint64_t)ld->elig[i]);
    h = fp_add(h, (uint64_t)B);
    h = fp_add(h, (uint64_t)ld->T);
    h = fp_add(h, (uint64_t)o->frames);
    h = fp_add(h, (uint64_t)o->train);
    h = fp_add(h, (uint64_t)ld->carry);
    h = fp_add(h, (uint64_t)ld->stream);
    if (ld->stream) {
        h = fp_add(h, (uint64_t)ld->K);
        h = fp_add(h, (uint64_t)ld->G);
    }
    ld->fingerprint = h;
    *out = ld;
    return VC_OK;

oom:
    s = vc_fail(VC_ERR_OOM, "loader: out of memory for %s", name);
fail:
    free(seen);
    vc_loader_close(ld);
    return s;
}

void vc_loader_close(vc_loader *ld) {
    if (!ld) return;
    if (ld->freeq) stop_worker(ld);
    free(ld->elig);
    free(ld->cap_off);
    free(ld->cap_idx);
    free(ld->ram_rows);
    free(ld->ram_text);
    free(ld->ram_row_base);
    free(ld->ram_text_base);
    for (int i = 0; i < 2; i++) {
        free(ld->win[i].rows);
        free(ld->win[i].text);
        free(ld->win[i].len);
        free(ld->win[i].video);
        free(ld->win[i].cap);
        free(ld->oc[i].ord);
    }
    free(ld->spans);
    free(ld->sort_buf);
    free(ld->tmp_ord);
    free(ld->blk);
    free(ld->tailbuf);
    free(ld->scratch);
    if (ld->slots)
        for (int i = 0; i < ld->nslots; i++) {
            batch_release(&ld->slots[i].frames, ld->o.pinned_for);
            vc_tensor_release(&ld->slots[i].lengths);
            batch_release(&ld->slots[i].text, ld->o.pinned_for);
            free(ld->slots[i].video);
            free(ld->slots[i].caption);
        }
    free(ld->slots);
    free(ld->fullq);
    free(ld->freeq);
    pthread_mutex_destroy(&ld->mu);
    pthread_mutex_destroy(&ld->src_mu);
    pthread_cond_destroy(&ld->cv);
    free(ld);
}

static vc_status set_sticky(vc_loader *ld, vc_status s, const char *msg) {
    ld->err = s;
    snprintf(ld->err_msg, sizeof ld->err_msg, "%s", msg);
    return vc_fail(s, "%s", ld->err_msg);
}

vc_status vc_loader_next(vc_loader *ld, const vc_batch **out) {
    *out = NULL;
    if (ld->err) return vc_fail(ld->err, "%s", ld->err_msg);
    if (!ld->o.train && ld->lo == ld->hi) return VC_OK; /* an evaluation shard with no video: every pass is empty */
    if (ld->pass_end_pending) {
        ld->pass_end_pending = false;
        ld->resume_pass = true;
        return VC_OK;
    }
    slot *sl;
    if (ld->o.prefetch == 0) {
        sl = &ld->slots[0];
        vc_status s = produce(ld, sl, ld->c_epoch, ld->c_pos);
        if (s) return set_sticky(ld, s, vc_last_error());
    } else {
        if (!ld->thread_on) {
            vc_status s = start_worker(ld);
            if (s) return s;
        }
        pthread_mutex_lock(&ld->mu);
        if (ld->resume_pass) { /* the caller wants another pass: let the worker go on */
            ld->paused = false;
            ld->resume_pass = false;
            pthread_cond_broadcast(&ld->cv);
        }
        if (ld->held >= 0) {
            ld->freeq[ld->nfree++] = ld->held;
            ld->held = -1;
            pthread_cond_broadcast(&ld->cv);
        }
        while (ld->fq_count == 0 && !ld->w_done) pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->fq_count == 0) {
            vc_status s = ld->w_err;
            char msg[sizeof ld->w_msg];
            memcpy(msg, ld->w_msg, sizeof msg);
            pthread_mutex_unlock(&ld->mu);
            return set_sticky(ld, s, msg);
        }
        int id = ld->fullq[ld->fq_head];
        ld->fq_head = (ld->fq_head + 1) % ld->nslots;
        ld->fq_count--;
        ld->held = id;
        pthread_mutex_unlock(&ld->mu);
        sl = &ld->slots[id];
    }
    ld->c_epoch = sl->next_epoch;
    ld->c_pos = sl->next_pos;
    if (!ld->o.train && sl->batch.epoch_end) ld->pass_end_pending = true;
    *out = &sl->batch;
    return VC_OK;
}

void vc_loader_get_state(const vc_loader *ld, vc_loader_state *st) {
    st->seed = ld->o.seed;
    st->epoch = ld->c_epoch;
    st->pos = ld->c_pos;
    st->fingerprint = ld->fingerprint;
}

vc_status vc_loader_set_state(vc_loader *ld, const vc_loader_state *st) {
    if (st->seed != ld->o.seed)
        return vc_fail(VC_ERR_ARG, "loader: saved state has seed %llu, the loader was opened with seed %llu",
                       (unsigned long long)st->seed, (unsigned long long)ld->o.seed);
    if (st->fingerprint != ld->fingerprint)
        return vc_fail(VC_ERR_ARG,
                       "loader: saved state comes from a different dataset, split or loader setup "
                       "(batch, frames, frame mode, training, epoch tail, memory budget or block size)");
    int64_t N = ld->N, B = ld->B;
    bool ok = st->epoch >= 0 && st->pos >= 0 && st->pos < N;
    if (ok && ld->carry)
        ok = ((unsigned __int128)st->epoch * (uint64_t)N + (uint64_t)st->pos) % (uint64_t)B == 0;
    else if (ok && !ld->o.train)
        ok = st->pos >= ld->lo && st->pos < ld->hi && (st->pos - ld->lo) % B == 0;
    else if (ok)
        ok = st->pos % B == 0;
    if (!ok)
        return vc_fail(VC_ERR_ARG, "loader: saved state (epoch %lld, position %lld) is not a batch start of this loader",
                       (long long)st->epoch, (long long)st->pos);
    stop_worker(ld);
    ld->c_epoch = st->epoch;
    ld->c_pos = st->pos;
    ld->pass_end_pending = false;
    ld->resume_pass = false;
    ld->err = VC_OK;
    return VC_OK;
}

void vc_loader_state_pack(const vc_loader_state *st, uint64_t w[VC_LOADER_STATE_WORDS]) {
    w[0] = st->seed;
    w[1] = (uint64_t)st->epoch;
    w[2] = (uint64_t)st->pos;
    w[3] = st->fingerprint;
}

void vc_loader_state_unpack(vc_loader_state *st, const uint64_t w[VC_LOADER_STATE_WORDS]) {
    st->seed = w[0];
    st->epoch = (int64_t)w[1];
    st->pos = (int64_t)w[2];
    st->fingerprint = w[3];
}

int64_t vc_loader_n_videos(const vc_loader *ld) { return ld->N; }
int64_t vc_loader_n_skipped_empty(const vc_loader *ld) { return ld->skipped_empty; }
int64_t vc_loader_n_skipped_uncaptioned(const vc_loader *ld) { return ld->skipped_uncap; }
const int64_t *vc_loader_videos(const vc_loader *ld) { return ld->elig; }
bool vc_loader_streaming(const vc_loader *ld) { return ld->stream; }
int64_t vc_loader_window(const vc_loader *ld) { return ld->G; }

void vc_loader_shard_range(const vc_loader *ld, int64_t *lo, int64_t *hi) {
    *lo = ld->lo;
    *hi = ld->hi;
}

vc_status vc_loader_captions(vc_loader *ld, vc_captions *out) {
    memset(out, 0, sizeof *out);
    if (!ld->src->has_text) return vc_fail(VC_ERR_FORMAT, "%s: the file has no caption embeddings", ld->src->name);
    int64_t N = ld->N, D = ld->D, n = 0;
    for (int64_t s = 0; s < N; s++) n += ld->cap_off[ld->elig[s] + 1] - ld->cap_off[ld->elig[s]];
    vc_status st;
    if ((st = vc_tensor_alloc(&out->emb, VC_F32, VC_DIMS(n, D))) ||
        (st = vc_tensor_alloc(&out->caption, VC_I64, VC_DIMS(n))) ||
        (st = vc_tensor_alloc(&out->video, VC_I64, VC_DIMS(n))) || (st = vc_tensor_alloc(&out->row, VC_I64, VC_DIMS(n)))) {
        vc_captions_release(out);
        return st;
    }
    out->n = n;
    int64_t *trip = xmalloc((size_t)(3 * n) * sizeof(int64_t));
    span *sp = xmalloc((size_t)n * sizeof(span));
    int64_t srows = SCRATCH_BYTES / (D * (int64_t)sizeof(float));
    if (srows < 1) srows = 1;
    float *scratch = xmalloc((size_t)(srows * D) * sizeof(float));
    if (!trip || !sp || !scratch) {
        free(trip);
        free(sp);
        free(scratch);
        vc_captions_release(out);
        return vc_fail(VC_ERR_OOM, "loader: out of memory for %lld captions", (long long)n);
    }
    int64_t k = 0;
    for (int64_t s = 0; s < N; s++) {
        int64_t v = ld->elig[s];
        for (int64_t c = ld->cap_off[v]; c < ld->cap_off[v + 1]; c++) {
            trip[3 * k] = ld->cap_idx[c];
            trip[3 * k + 1] = v;
            trip[3 * k + 2] = s;
            k++;
        }
    }
    qsort(trip, (size_t)n, 3 * sizeof(int64_t), vc_cmp_i64);
    float *emb = out->emb.data;
    for (int64_t i = 0; i < n; i++) {
        ((int64_t *)out->caption.data)[i] = trip[3 * i];
        ((int64_t *)out->video.data)[i] = trip[3 * i + 1];
        ((int64_t *)out->row.data)[i] = trip[3 * i + 2];
        sp[i] = (span){trip[3 * i], 1, emb + i * D};
    }
    st = gather(ld, true, sp, n, scratch, srows);
    free(trip);
    free(sp);
    free(scratch);
    if (st) vc_captions_release(out);
    return st;
}

void vc_captions_release(vc_captions *c) {
    vc_tensor_release(&c->emb);
    vc_tensor_release(&c->caption);
    vc_tensor_release(&c->video);
    vc_tensor_release(&c->row);
    c->n = 0;
}
