/* plot.h: a picture of training runs, drawn with cairo into a PNG: training
 * loss against step (left panel) and validation mean R@1 against step (right
 * panel), one line per run in its own colour, a legend naming the runs, axis
 * labels and ticks at round numbers.
 *
 * Owns: the layout, the tick choice, the colours, writing the PNG (to a
 * temporary file renamed into place: no half-written picture).
 * Not here: reading the runs (eval/run_log.h), printing (tools/cmd_plot.c).
 * A run without evaluations is drawn in the loss panel only (its legend entry
 * says so). */
#ifndef VC_EVAL_PLOT_H
#define VC_EVAL_PLOT_H

#include <stdint.h>

#include "eval/run_log.h"
#include "tensor/status.h"

#define VC_PLOT_MAX_RUNS 10

typedef struct {
    int width, height; /* pixels */
} vc_plot_opts;

/* 1200 x 480. */
vc_plot_opts vc_plot_defaults(void);

/* Where things landed, for callers that look at the picture (tests). */
typedef struct {
    double panel[2][4];                  /* x, y, w, h of the loss and R@1 data areas */
    uint32_t colour[VC_PLOT_MAX_RUNS];   /* 0xRRGGBB of run i's line and legend swatch */
} vc_plot_layout;

/* Draws runs[0, n) (1 <= n <= VC_PLOT_MAX_RUNS) into the PNG at path.
 * Sizes from 320 x 200 to 8000 x 8000. layout may be NULL. */
vc_status vc_plot_runs(const vc_run_log *runs, int n, const char *path, const vc_plot_opts *o,
                       vc_plot_layout *layout);

#endif
