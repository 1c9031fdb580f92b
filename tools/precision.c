/* --precision fp32|bf16|fp16 for the commands that run the CLIP towers or
 * train (encode-video, encode-text, search, bench), the one line that says
 * when bf16 or fp16 falls back to float32 on this machine (printed once per
 * process), and --device for the CLIP commands. */
#include <stdio.h>

#include "commands.h"
#include "tensor/backend.h"
#include "tensor/device.h"

const char *const vc_cmd_clip_precision_default = "bf16";

int vc_cmd_precision(const char *cmd, const char *value, vc_precision *out) {
    if (vc_precision_parse(value, out))
        return vc_cmd_error(cmd, "--precision must be fp32, bf16 or fp16, not '%s'", value);
    return 0;
}

int vc_cmd_train_precision(const char *cmd, const char *value, vc_precision *out) {
    if (vc_cmd_precision(cmd, value, out)) return 1;
    if (*out == VC_PREC_FP16)
        return vc_cmd_error(cmd, "--precision fp16 is an inference mode (the CLIP towers); train in bf16 or fp32");
    return 0;
}

void vc_cmd_precision_note_on(vc_device d, vc_precision asked, vc_precision got) {
    static bool said;
    if (asked == got || said) return;
    said = true;
    fprintf(stderr, "%s\n", vc_precision_fallback_reason(vc_backend_for(d), asked));
}

void vc_cmd_precision_note(vc_precision asked, vc_precision got) { vc_cmd_precision_note_on(VC_CPU, asked, got); }

int vc_cmd_clip_device(const char *cmd, const char *value, vc_device *out) {
    vc_device_spec d;
    vc_status s = vc_device_parse(value, &d);
    if (!s) s = vc_device_open(&d, false);
    if (s) return vc_cmd_error(cmd, "%s", vc_last_error());
    *out = d.type;
    return 0;
}
