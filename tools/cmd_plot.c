/* vclip plot RUN_DIR... --out FILE.png [--width W] [--height H]: training
 * loss and validation mean R@1 against step, one line per run (eval/plot.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "eval/plot.h"

static int parse_px(const char *opt, const char *s, int *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v <= 0 || v > 100000)
        return vc_cmd_error("plot", "%s needs a number of pixels, not '%s'", opt, s ? s : "");
    *out = (int)v;
    return 0;
}

int vc_cmd_plot(int argc, char **argv) {
    const char *out = NULL, *dirs[VC_PLOT_MAX_RUNS];
    int n = 0;
    vc_plot_opts o = vc_plot_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--out") == 0 || strcmp(a, "--width") == 0 || strcmp(a, "--height") == 0) {
            if (!v) return vc_cmd_error("plot", "%s needs a value (%s)", a, vc_cmd_usage("plot"));
            i++;
            if (strcmp(a, "--out") == 0) out = v;
            else if (parse_px(a, v, strcmp(a, "--width") == 0 ? &o.width : &o.height)) return 1;
        } else if (a[0] == '-' && a[1]) {
            return vc_cmd_error("plot", "unknown option %s (%s)", a, vc_cmd_usage("plot"));
        } else if (n == VC_PLOT_MAX_RUNS) {
            return vc_cmd_error("plot", "more than %d run directories; one plot holds at most %d", VC_PLOT_MAX_RUNS,
                                VC_PLOT_MAX_RUNS);
        } else {
            dirs[n++] = a;
        }
    }
    if (!n || !out) return vc_cmd_error("plot", "%s", vc_cmd_usage("plot"));
    vc_run_log runs[VC_PLOT_MAX_RUNS];
    for (int i = 0; i < n; i++)
        if (vc_run_log_read(dirs[i], &runs[i])) {
            int r = vc_cmd_error("plot", "%s", vc_last_error());
            while (i--) vc_run_log_free(&runs[i]);
            return r;
        }
    int rc = 0;
    if (vc_plot_runs(runs, n, out, &o, NULL)) {
        rc = vc_cmd_error("plot", "%s", vc_last_error());
    } else {
        for (int i = 0; i < n; i++) {
            if (runs[i].n_val == 0)
                fprintf(stderr, "vclip plot: note: %s has no evaluation records: only its training loss is drawn\n",
                        runs[i].dir);
            if (runs[i].torn_lines)
                fprintf(stderr, "vclip plot: note: %s/log.jsonl ends in a line cut short (a run still writing, or "
                                "killed): ignored\n",
                        runs[i].dir);
        }
        printf("wrote %s (%d x %d):", out, o.width, o.height);
        for (int i = 0; i < n; i++)
            printf("%s %s (%lld logged steps, %lld evaluations)", i ? "," : "", runs[i].name,
                   (long long)runs[i].n_loss, (long long)runs[i].n_val);
        printf("\n");
    }
    for (int i = 0; i < n; i++) vc_run_log_free(&runs[i]);
    return rc;
}
