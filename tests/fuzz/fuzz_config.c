/* fuzz_config.c: INI run configs and --set overrides (train/config.h,
 * train/run_config.h) on arbitrary bytes.
 * Input: INI text, optionally a NUL byte and then --set overrides, one per
 * line. The text is parsed, the overrides applied before validation (as
 * `vclip train --set` does) and again after it (the immediate path); a
 * config that loads is written back as text, which must load again and
 * write back to the same keys and values (config.h: "Loading it again gives
 * the same values"). Errors are fine; crashes, leaks and a broken round trip are
 * findings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_util.h"
#include "train/run_config.h"

#define MAX_OV 16

/* The text without its comment lines (which say where each value came
 * from, and so differ between a config and its saved copy). */
static char *values_only(const char *text) {
    char *out = malloc(strlen(text) + 1), *w = out;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
        if (*p != ';') {
            memcpy(w, p, n);
            w += n;
        }
        p += n;
    }
    *w = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_str(data, size);
    size_t tlen = strlen(text);
    const char *ov[MAX_OV] = {0};
    int n = 0;
    if (tlen < size) { /* overrides after the NUL, one per line (NULs end them) */
        char *p = text + tlen + 1, *end = text + size;
        while (p < end && n < MAX_OV) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            if (nl) *nl = '\0';
            ov[n++] = p;
            p = nl ? nl + 1 : end;
        }
    }
    vc_config *cfg = NULL;
    vc_run_cfg rc;
    if (vc_run_config_parse(text, "fuzz.ini", ov, n, &cfg, &rc) == VC_OK) {
        vc_run_config_model(&rc, 16);
        for (int i = 0; i < n; i++) (void)vc_config_set(cfg, ov[i]);
        char *unused = NULL;
        (void)vc_config_unused(cfg, &unused);
        free(unused);
        char *saved = NULL;
        if (vc_config_text(cfg, &saved) == VC_OK) {
            vc_config *cfg2 = NULL;
            vc_run_cfg rc2;
            if (vc_run_config_parse(saved, "saved.ini", NULL, 0, &cfg2, &rc2) != VC_OK) {
                fprintf(stderr, "the effective config does not load again: %s\n---\n%s---\n", vc_last_error(), saved);
                abort();
            }
            char *again = NULL;
            char *v1 = values_only(saved), *v2 = NULL;
            if (vc_config_text(cfg2, &again) != VC_OK || strcmp(v1, v2 = values_only(again)) != 0) {
                fprintf(stderr, "the effective config changes when loaded again\n--- first\n%s--- again\n%s---\n",
                        saved, again ? again : "(none)");
                abort();
            }
            free(v1);
            free(v2);
            free(again);
            vc_config_free(cfg2);
        }
        free(saved);
    }
    vc_config_free(cfg);
    /* the plain parser alone, without the run schema */
    cfg = NULL;
    if (vc_config_parse(&cfg, text, "fuzz.ini") == VC_OK)
        for (int i = 0; i < n; i++) (void)vc_config_set(cfg, ov[i]);
    vc_config_free(cfg);
    free(text);
    return 0;
}
