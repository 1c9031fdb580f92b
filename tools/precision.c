/* --precision fp32|bf16 for the commands that run the CLIP towers or train
 * (encode-video, encode-text, search, bench), and the one line that says when
 * bf16 falls back to float32 on this machine (printed once per process). */
#include <stdio.h>

#include "commands.h"
#include "tensor/backend.h"

const char *const vc_cmd_clip_precision_default = "bf16";

int vc_cmd_precision(const char *cmd, const char *value, vc_precision *out) {
    if (vc_precision_parse(value, out)) return vc_cmd_error(cmd, "--precision must be fp32 or bf16, not '%s'", value);
    return 0;
}

void vc_cmd_precision_note(vc_precision asked, vc_precision got) {
    static bool said;
    if (asked == got || said) return;
    said = true;
    fprintf(stderr, "%s\n", vc_precision_fallback_reason(vc_backend_for(VC_CPU), asked));
}
