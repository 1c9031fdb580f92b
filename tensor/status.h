/* status.h: error codes and the thread-local error message.
 * Library code never prints or exits: a failing function stores one readable
 * line ("op linear: x is [4,3] but w is [5,2]") and returns a vc_status.
 * Only tools/ prints it. */
#ifndef VC_STATUS_H
#define VC_STATUS_H

typedef enum {
    VC_OK = 0,
    VC_ERR_SHAPE,       /* shapes do not agree */
    VC_ERR_DTYPE,       /* wrong element type */
    VC_ERR_DEVICE,      /* tensor on a device this build cannot serve */
    VC_ERR_ARG,         /* bad argument value (axis out of range, NULL, ...) */
    VC_ERR_OOM,         /* allocation failed */
    VC_ERR_IO,          /* file cannot be opened, read or written */
    VC_ERR_FORMAT,      /* file contents malformed */
    VC_ERR_NUMERIC,     /* NaN or Inf where a finite value is required */
    VC_ERR_UNSUPPORTED  /* feature not available in this build */
} vc_status;

/* Stores the message (printf-style) and returns code, so callers write
 * `return vc_fail(VC_ERR_SHAPE, "op %s: ...", ...);`. */
/* Control bytes in the formatted message (a newline quoted from a damaged
 * file) become '?', so a message is always one line. */
vc_status vc_fail(vc_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The message of the most recent failure on this thread ("" if none). */
const char *vc_last_error(void);
/* Its code (VC_OK if none): what a function returns when a callee that gives NULL on failure
 * (a constructor, a lookup) has already stored the message. */
vc_status vc_last_status(void);
void vc_clear_error(void);
const char *vc_status_name(vc_status s);

#endif
