/* fuzz_wds.c: WebDataset tar shards through `vclip import-wds`'s library
 * path (data/wds_import.h, data/import_sink.h): libarchive reads the members
 * (any compression it detects), members are grouped into samples by key,
 * .npy frames, .txt captions and .json metadata are checked and a vclip file
 * is written. The last input byte also picks the options (dtype, caption
 * separator, labels from text, strict, a fixed D) so their paths are fuzzed
 * too. Every report must be one line. Errors and skipped samples are fine;
 * crashes, leaks and undefined behaviour are findings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/wds_import.h"
#include "tests/fuzz/fuzz_util.h"

static void report(void *ctx, const char *line) {
    (void)ctx;
    if (!line || strchr(line, '\n')) {
        fprintf(stderr, "a report is not one line: %s\n", line ? line : "(null)");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *shard = fuzz_file(0, data, size);
    unsigned o = size ? data[size - 1] : 0;
    char out[512];
    snprintf(out, sizeof out, "%s/out.h5", fuzz_dir());
    vc_import_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.dtype = o & 1 ? VC_F32 : VC_F16;
    opts.caption_sep = o & 2 ? ";" : NULL;
    opts.labels_from_text = (o & 6) == 4;
    opts.strict = o & 8;
    opts.dim = o & 16 ? 4 : 0;
    opts.max_pending_bytes = 1 << 20;
    opts.split_by_ratio = o & 32;
    opts.split_ratio[0] = 0.5;
    opts.split_ratio[1] = 0.25;
    opts.split_ratio[2] = 0.25;
    opts.report = report;
    const char *shards[1] = {shard};
    vc_import_stats stats;
    (void)vc_wds_import(out, shards, 1, NULL, &opts, &stats);
    unlink(out);
    return 0;
}
