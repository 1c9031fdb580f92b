#include "precision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k_gemm_bf16.h"

vc_status vc_precision_parse(const char *s, vc_precision *out) {
    if (s && strcmp(s, "fp32") == 0) *out = VC_PREC_FP32;
    else if (s && strcmp(s, "bf16") == 0) *out = VC_PREC_BF16;
    else if (s && strcmp(s, "fp16") == 0) *out = VC_PREC_FP16;
    else return vc_fail(VC_ERR_ARG, "precision '%s' is unknown (fp32, bf16 or fp16)", s ? s : "(null)");
    return VC_OK;
}

const char *vc_precision_name(vc_precision p) {
    return p == VC_PREC_BF16 ? "bf16" : p == VC_PREC_FP16 ? "fp16" : "fp32";
}

vc_precision vc_precision_on(const vc_backend *be, vc_precision p) {
    if (p == VC_PREC_BF16 && be && be->supports_op(VC_K_GEMM_BF16) && be->supports_op(VC_K_GEMM_BATCHED_BF16))
        return VC_PREC_BF16;
    if (p == VC_PREC_FP16 && be && be->supports_op(VC_K_GEMM_F16) && be->supports_op(VC_K_GEMM_BATCHED_F16))
        return VC_PREC_FP16;
    return VC_PREC_FP32;
}

const char *vc_precision_fallback_reason(const vc_backend *be, vc_precision p) {
    if (p == VC_PREC_FP32 || vc_precision_on(be, p) == p) return "";
    static _Thread_local char buf[256];
    if (p == VC_PREC_FP16) {
        snprintf(buf, sizeof buf, "fp16: the %s backend has no fp16 products (fp16 is a CUDA inference mode); "
                                  "computing in float32", be ? be->name : "(none)");
    } else if (be && be->device == VC_CPU) {
        const char *env = getenv("VCLIP_BF16");
        if (env && strcmp(env, "off") == 0)
            snprintf(buf, sizeof buf, "bf16: VCLIP_BF16=off is set; computing in float32");
        else
            snprintf(buf, sizeof buf, "bf16: this CPU has no native bf16 products (oneDNN's ISA: %s, AVX512_BF16 "
                                      "needed); computing in float32", vc_gemm_bf16_isa());
    } else {
        snprintf(buf, sizeof buf, "bf16: the %s backend has no bf16 products; computing in float32",
                 be ? be->name : "(none)");
    }
    return buf;
}
