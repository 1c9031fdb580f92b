#include "status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char vc_errbuf[1024];
static _Thread_local vc_status vc_errcode;

vc_status vc_fail(vc_status code, const char *fmt, ...) {
    vc_errcode = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vc_errbuf, sizeof vc_errbuf, fmt, ap);
    va_end(ap);
    /* one line whatever it quotes: a name or key read from a damaged file
     * may hold a newline or other control bytes (found by fuzz_wds) */
    for (char *c = vc_errbuf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return code;
}

const char *vc_last_error(void) { return vc_errbuf; }

vc_status vc_last_status(void) { return vc_errcode; }

void vc_clear_error(void) {
    vc_errbuf[0] = '\0';
    vc_errcode = VC_OK;
}

const char *vc_status_name(vc_status s) {
    switch (s) {
    case VC_OK: return "ok";
    case VC_ERR_SHAPE: return "shape error";
    case VC_ERR_DTYPE: return "dtype error";
    case VC_ERR_DEVICE: return "device error";
    case VC_ERR_ARG: return "bad argument";
    case VC_ERR_OOM: return "out of memory";
    case VC_ERR_IO: return "I/O error";
    case VC_ERR_FORMAT: return "format error";
    case VC_ERR_NUMERIC: return "numeric error";
    case VC_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}
