/* vclip export CKPT --out POOLER.safetensors: the pooler weights and model
 * config alone (train/export.h, models/README.md). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "train/export.h"


int vc_cmd_export(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--out") == 0) {
            if (i + 1 >= argc) return vc_cmd_error("export", "--out needs a value");
            out = argv[++i];
        } else if (a[0] == '-' && a[1]) return vc_cmd_error("export", "unknown option %s (%s)", a, vc_cmd_usage("export"));
        else if (!ckpt) ckpt = a;
        else return vc_cmd_error("export", "more than one checkpoint given (%s, %s)", ckpt, a);
    }
    if (!ckpt || !out) return vc_cmd_error("export", "%s", vc_cmd_usage("export"));
    if (vc_export_pooler(ckpt, out)) return vc_cmd_error("export", "%s", vc_last_error());
    printf("exported the pooler of %s to %s\n", ckpt, out);
    return 0;
}
