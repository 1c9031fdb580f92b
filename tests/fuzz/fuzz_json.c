/* fuzz_json.c: the JSON vclip reads, on arbitrary bytes:
 *  - eval results given to `vclip compare` (tools/cmd_compare.c, compiled
 *    in here with the two tools/vclip.c functions it calls stubbed), alone
 *    and beside a valid result;
 *  - per-video metadata (data/json_text.h vc_json_compact, what the
 *    importers and the HDF5 reader check /video/meta with): compacting must
 *    not grow the text and must be idempotent.
 * Errors are fine; crashes, leaks, undefined behaviour, an error that is
 * not one line and a broken compaction are findings. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/json_text.h"
#include "tests/fuzz/fuzz_util.h"
#include "tools/commands.h"

/* (gcc sees the harness's short paths and warns about compare's name buffer) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "tools/cmd_compare.c"

const char *vc_cmd_usage(const char *name) { return name; }

int vc_cmd_error(const char *cmd, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (strchr(buf, '\n')) {
        fprintf(stderr, "vclip %s: an error of more than one line: %s\n", cmd, buf);
        abort();
    }
    return 1;
}

static const char k_valid[] =
    "{\"t2v\": {\"R@1\": 10.5, \"R@5\": 30, \"R@10\": 40, \"MdR\": 12, \"MnR\": 20.25},\n"
    " \"v2t\": {\"R@1\": 11, \"R@5\": 31, \"R@10\": 41, \"MdR\": 11, \"MnR\": 19},\n"
    " \"videos\": 100, \"captions\": 200, \"top1\": 50, \"top5\": 80}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet++ && !freopen("/dev/null", "w", stdout)) abort(); /* compare's table */
    char a[64], b[64];
    snprintf(a, sizeof a, "%s", fuzz_file(0, data, size));
    snprintf(b, sizeof b, "%s", fuzz_file(1, k_valid, sizeof k_valid - 1));
    char *argv1[] = {"compare", a, NULL};
    (void)vc_cmd_compare(2, argv1);
    char *argv2[] = {"compare", b, a, NULL};
    (void)vc_cmd_compare(3, argv2);

    char *out = malloc(size + 1), *again = malloc(size + 1), why[160];
    size_t n = 0, m = 0;
    if (vc_json_compact((const char *)data, size, out, &n, why, sizeof why)) {
        if (n > size || strlen(out) != n) abort();
        if (!vc_json_compact(out, n, again, &m, why, sizeof why) || m != n || memcmp(out, again, n) != 0) {
            fprintf(stderr, "compacting is not idempotent: %s\n", why);
            abort();
        }
    } else if (!why[0] || strchr(why, '\n')) {
        abort(); /* a failure must say why, in one line */
    }
    free(out);
    free(again);
    return 0;
}
