#include "plot.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Saturated colours, none of them grey: axis text and grid lines are greys,
 * and antialiased text passes through every grey between them and white. */
static const uint32_t palette[VC_PLOT_MAX_RUNS] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                                   0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22, 0x393b79};

vc_plot_opts vc_plot_defaults(void) { return (vc_plot_opts){1200, 480}; }

static void set_rgb(cairo_t *cr, uint32_t c) {
    cairo_set_source_rgb(cr, ((c >> 16) & 255) / 255.0, ((c >> 8) & 255) / 255.0, (c & 255) / 255.0);
}

/* ---- axes ---- */

typedef struct {
    double lo, hi, step; /* ticks at lo, lo + step, ..., hi */
} axis;

/* 1, 2, 2.5 or 5 times a power of ten, near range / target. */
static double nice_step(double range, int target) {
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return mag * (f < 1.5 ? 1 : f < 2.25 ? 2 : f < 3.5 ? 2.5 : f < 7.5 ? 5 : 10);
}

/* An axis over [lo, hi] with about `target` intervals, widened to ticks. */
static axis make_axis(double lo, double hi, int target, bool from_zero) {
    if (from_zero && lo > 0) lo = 0;
    if (!(hi > lo)) { /* one value: a band around it */
        double d = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1;
        hi += d;
        lo = from_zero && lo >= 0 ? lo : lo - d;
        if (!(hi > lo)) hi = lo + 1;
    }
    double st = nice_step(hi - lo, target);
    return (axis){floor(lo / st + 1e-9) * st, ceil(hi / st - 1e-9) * st, st};
}

/* A tick label with as many decimals as the step needs; 20000 as "20k". */
static void tick_label(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    if (step >= 1000 && fmod(step, 1000) == 0) {
        snprintf(buf, n, "%gk", v / 1000);
        return;
    }
    int d = 0;
    while (d < 8 && fabs(step * pow(10, d) - round(step * pow(10, d))) > 1e-6 * step * pow(10, d)) d++;
    snprintf(buf, n, "%.*f", d, v);
}

static double text_w(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

/* Text with its anchor point at (x, y): ax 0 left, 0.5 centre, 1 right;
 * y is the vertical middle of a digit. */
static void text_at(cairo_t *cr, double x, double y, double ax, double fs, const char *s) {
    cairo_move_to(cr, x - ax * text_w(cr, s), y + 0.36 * fs);
    cairo_show_text(cr, s);
}

/* ---- panels ---- */

typedef struct {
    double x, y, w, h; /* data area */
    axis ax, ay;
} panel;

static double px(const panel *p, double v) { return p->x + (v - p->ax.lo) / (p->ax.hi - p->ax.lo) * p->w; }
static double py(const panel *p, double v) { return p->y + p->h - (v - p->ay.lo) / (p->ay.hi - p->ay.lo) * p->h; }

/* Grid, ticks, labels and the title of a panel whose area is (x0, y0, w0, h0). */
static void draw_frame(cairo_t *cr, panel *p, double x0, double y0, double w0, double h0, double fs,
                       const char *title, const char *ylabel) {
    char buf[64];
    double label_w = 0;
    for (double v = p->ay.lo; v <= p->ay.hi + p->ay.step * 1e-6; v += p->ay.step) {
        tick_label(buf, sizeof buf, v, p->ay.step);
        label_w = fmax(label_w, text_w(cr, buf));
    }
    p->x = round(x0 + 1.6 * fs + label_w + 0.8 * fs);
    p->y = round(y0 + 2.0 * fs);
    p->w = round(x0 + w0 - p->x - 0.8 * fs);
    p->h = round(y0 + h0 - p->y - 3.2 * fs);
    cairo_set_font_size(cr, fs * 1.1);
    cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
    text_at(cr, p->x + p->w / 2, y0 + 0.8 * fs, 0.5, fs * 1.1, title);
    cairo_set_font_size(cr, fs);
    cairo_set_line_width(cr, 1);
    for (double v = p->ay.lo; v <= p->ay.hi + p->ay.step * 1e-6; v += p->ay.step) {
        double y = round(py(p, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, p->x, y);
        cairo_line_to(cr, p->x + p->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
        tick_label(buf, sizeof buf, v, p->ay.step);
        text_at(cr, p->x - 0.5 * fs, y, 1, fs, buf);
    }
    for (double v = p->ax.lo; v <= p->ax.hi + p->ax.step * 1e-6; v += p->ax.step) {
        double x = round(px(p, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, x, p->y);
        cairo_line_to(cr, x, p->y + p->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
        tick_label(buf, sizeof buf, v, p->ax.step);
        text_at(cr, x, p->y + p->h + 1.0 * fs, 0.5, fs, buf);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, p->x + 0.5, p->y + 0.5, p->w - 1, p->h - 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
    text_at(cr, p->x + p->w / 2, p->y + p->h + 2.4 * fs, 0.5, fs, "step");
    cairo_save(cr);
    cairo_translate(cr, x0 + 0.7 * fs, p->y + p->h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, 0.5, fs, ylabel);
    cairo_restore(cr);
}

/* One run's series in its colour: a line, and with dots a dot at each point
 * (evaluations; a lone point would not show otherwise). */
static void draw_series(cairo_t *cr, const panel *p, const vc_run_point *pt, int64_t n, uint32_t colour, double lw,
                        bool dots) {
    if (n == 0) return;
    cairo_save(cr);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_clip(cr);
    set_rgb(cr, colour);
    cairo_set_line_width(cr, lw);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (int64_t i = 0; i < n; i++) {
        double x = px(p, (double)pt[i].step), y = py(p, pt[i].value);
        if (i == 0) cairo_move_to(cr, x, y);
        else cairo_line_to(cr, x, y);
    }
    cairo_stroke(cr);
    if (dots || n == 1)
        for (int64_t i = 0; i < n; i++) {
            cairo_arc(cr, px(p, (double)pt[i].step), py(p, pt[i].value), lw * 1.3, 0, 2 * M_PI);
            cairo_fill(cr);
        }
    cairo_restore(cr);
}

/* ---- the picture ---- */

typedef struct {
    double lo, hi;
    int64_t max_step;
    bool any;
} range;

static void range_add(range *r, const vc_run_point *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(p[i].value)) continue;
        if (!r->any || p[i].value < r->lo) r->lo = p[i].value;
        if (!r->any || p[i].value > r->hi) r->hi = p[i].value;
        if (p[i].step > r->max_step) r->max_step = p[i].step;
        r->any = true;
    }
}

static void legend_name(char *buf, size_t n, const vc_run_log *runs, int nr, int i) {
    bool clash = false;
    for (int j = 0; j < nr; j++) clash |= j != i && strcmp(runs[j].name, runs[i].name) == 0;
    snprintf(buf, n, "%s%s", clash ? runs[i].dir : runs[i].name, runs[i].n_val ? "" : " (no evaluations)");
}

static void draw(cairo_t *cr, const vc_run_log *runs, int nr, int W, int H, vc_plot_layout *lay) {
    double fs = fmin(fmax(fmin(W / 90.0, H / 36.0), 8), 22), lw = fmax(2.5, fs * 0.18), pad = fs;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, fs);

    /* legend rows across the top: a swatch and the run's name per entry */
    double sw = round(2 * fs), sh = round(0.8 * fs), row_h = round(1.7 * fs), x = pad, y = pad;
    char name[1400];
    for (int i = 0; i < nr; i++) {
        legend_name(name, sizeof name, runs, nr, i);
        double ew = sw + 0.5 * fs + text_w(cr, name) + 1.5 * fs;
        if (x > pad && x + ew > W - pad) x = pad, y += row_h;
        set_rgb(cr, palette[i]);
        cairo_rectangle(cr, round(x), round(y + (row_h - sh) / 2), sw, sh);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.13, 0.13, 0.13);
        text_at(cr, x + sw + 0.5 * fs, y + row_h / 2, 0, fs, name);
        x += ew;
    }
    double top = y + row_h + 0.5 * fs;

    range rl = {0}, rv = {0};
    for (int i = 0; i < nr; i++) range_add(&rl, runs[i].loss, runs[i].n_loss), range_add(&rv, runs[i].val, runs[i].n_val);
    int64_t max_step = rl.max_step > rv.max_step ? rl.max_step : rv.max_step;
    panel p[2];
    int xt = W < 700 ? 3 : 5, yt = H < 300 ? 3 : 5;
    p[0].ax = p[1].ax = make_axis(0, (double)(max_step > 0 ? max_step : 1), xt, true);
    p[0].ay = make_axis(rl.any ? rl.lo : 0, rl.any ? rl.hi : 1, yt, false);
    p[1].ay = make_axis(0, rv.any ? fmax(rv.hi, 1e-3) : 100, yt, true);
    const char *titles[2] = {"training loss", "validation mean R@1 (t2v and v2t)"};
    const char *ylabels[2] = {"loss", "mean R@1 (%)"};
    double half = (W - pad) / 2.0;
    for (int k = 0; k < 2; k++) {
        draw_frame(cr, &p[k], pad / 2 + k * half, top, half - pad / 2, H - top - pad / 2, fs, titles[k], ylabels[k]);
        for (int i = 0; i < nr; i++) {
            if (k == 0) draw_series(cr, &p[0], runs[i].loss, runs[i].n_loss, palette[i], lw, false);
            else draw_series(cr, &p[1], runs[i].val, runs[i].n_val, palette[i], lw, runs[i].n_val <= 200);
        }
        lay->panel[k][0] = p[k].x;
        lay->panel[k][1] = p[k].y;
        lay->panel[k][2] = p[k].w;
        lay->panel[k][3] = p[k].h;
    }
    if (!rv.any) {
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        text_at(cr, p[1].x + p[1].w / 2, p[1].y + p[1].h / 2, 0.5, fs, "no evaluation logged");
    }
    for (int i = 0; i < nr; i++) lay->colour[i] = palette[i];
}

vc_status vc_plot_runs(const vc_run_log *runs, int n, const char *path, const vc_plot_opts *o,
                       vc_plot_layout *layout) {
    vc_plot_opts d = vc_plot_defaults();
    if (!o) o = &d;
    if (n < 1 || n > VC_PLOT_MAX_RUNS)
        return vc_fail(VC_ERR_ARG, "plot: %d runs; one plot holds 1 to %d", n, VC_PLOT_MAX_RUNS);
    if (o->width < 320 || o->height < 200 || o->width > 8000 || o->height > 8000)
        return vc_fail(VC_ERR_ARG, "plot: a %d x %d picture; width and height must be 320 x 200 to 8000 x 8000",
                       o->width, o->height);
    vc_plot_layout local;
    if (!layout) layout = &local;
    memset(layout, 0, sizeof *layout);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, o->width, o->height);
    cairo_t *cr = cairo_create(sf);
    draw(cr, runs, n, o->width, o->height, layout);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    vc_status s = VC_OK;
    if (cs != CAIRO_STATUS_SUCCESS) {
        s = vc_fail(cs == CAIRO_STATUS_NO_MEMORY ? VC_ERR_OOM : VC_ERR_ARG, "plot: drawing %d x %d failed: %s",
                    o->width, o->height, cairo_status_to_string(cs));
    } else {
        char tmp[4200];
        if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) {
            s = vc_fail(VC_ERR_ARG, "%s: path too long", path);
        } else if ((cs = cairo_surface_write_to_png(sf, tmp)) != CAIRO_STATUS_SUCCESS) {
            s = vc_fail(VC_ERR_IO, "%s: cannot write the PNG: %s", path, cairo_status_to_string(cs));
            remove(tmp);
        } else if (rename(tmp, path) != 0) {
            s = vc_fail(VC_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
            remove(tmp);
        }
    }
    cairo_surface_destroy(sf);
    return s;
}
