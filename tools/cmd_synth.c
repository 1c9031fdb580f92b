/* vclip synth: writes the built-in synthetic dataset (data/synth.h explains
 * the generator: captions depend on the order of events). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "progress.h"
#include "data/synth.h"

static int parse_i64(const char *opt, const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return vc_cmd_error("synth", "%s needs an integer, not '%s'", opt, s);
    *out = v;
    return 0;
}

int vc_cmd_synth(int argc, char **argv) {
    vc_synth_opts o;
    vc_synth_defaults(&o);
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return vc_cmd_error("synth", "%s: unknown option or missing value (run 'vclip help synth')", a);
        const char *val = argv[++i];
        int64_t x = 0;
        if (strcmp(a, "--out") == 0) out = val;
        else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(val, "f16") == 0 || strcmp(val, "float16") == 0) o.dtype = VC_F16;
            else if (strcmp(val, "f32") == 0 || strcmp(val, "float32") == 0) o.dtype = VC_F32;
            else return vc_cmd_error("synth", "--dtype must be f16 or f32, not '%s'", val);
        } else if (strcmp(a, "--videos") == 0 || strcmp(a, "--dim") == 0 || strcmp(a, "--min-frames") == 0 ||
                   strcmp(a, "--max-frames") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--events") == 0 ||
                   strcmp(a, "--gzip") == 0) {
            if (parse_i64(a, val, &x)) return 1;
            if (strcmp(a, "--videos") == 0) o.n_videos = x;
            else if (strcmp(a, "--dim") == 0) o.dim = x;
            else if (strcmp(a, "--min-frames") == 0) o.min_frames = x;
            else if (strcmp(a, "--max-frames") == 0) o.max_frames = x;
            else if (strcmp(a, "--seed") == 0) o.seed = (uint64_t)x;
            else if (strcmp(a, "--events") == 0) {
                if (x < 0 || x > 1000) return vc_cmd_error("synth", "--events %lld is out of range", (long long)x);
                o.n_events = (int)x;
            } else {
                if (x < 0 || x > 9) return vc_cmd_error("synth", "--gzip must be 0 .. 9, not %lld", (long long)x);
                o.gzip_level = (int)x;
            }
        } else {
            return vc_cmd_error("synth", "unknown option '%s' (run 'vclip help synth')", a);
        }
    }
    if (!out) return vc_cmd_error("synth", "--out DATA.h5 is required");
    vc_synth_stats s;
    vc_progress_line pl;
    vc_progress_init(&pl, "synth");
    o.progress = vc_progress_hook_for(&pl);
    vc_status st = vc_synth_write(out, &o, &s);
    vc_progress_done(&pl);
    if (st) return vc_cmd_error("synth", "%s", vc_last_error());
    printf("wrote %s: %lld videos (%lld families, %lld with 0 frames), %lld frames, %lld captions, D = %lld, %s; "
           "splits train %lld / val %lld / test %lld; %lld classes\n",
           out, (long long)s.videos, (long long)s.families, (long long)s.empty_videos, (long long)s.frames,
           (long long)s.captions, (long long)o.dim, o.dtype == VC_F16 ? "float16" : "float32", (long long)s.split_size[0],
           (long long)s.split_size[1], (long long)s.split_size[2], (long long)s.classes);
    return 0;
}
