/* progress.h: how a long library loop tells its caller how far it is, since
 * library code never prints (tensor/status.h): a callback with what is being
 * counted and done / total. Owns only the callback type; the caller decides
 * what to show (tools/progress.h prints rate and ETA), and a library function
 * takes a hook by pointer or in its options (NULL or fn NULL: no reports).
 * Reports come from the calling thread, in order, done never decreasing within
 * one phase; a loop reports about once per batch, so a hook must be cheap. */
#ifndef VC_PROGRESS_H
#define VC_PROGRESS_H

#include <stdint.h>

typedef struct {
    /* phase: what is counted ("videos pooled", "t2v queries ranked"); a new
     * phase string starts a new count */
    void (*fn)(void *ud, const char *phase, int64_t done, int64_t total);
    void *ud;
} vc_progress_hook;

static inline void vc_progress_report(const vc_progress_hook *h, const char *phase, int64_t done, int64_t total) {
    if (h && h->fn) h->fn(h->ud, phase, done, total);
}

#endif
