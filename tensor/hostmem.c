#include "hostmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *vc_host_alloc(size_t nbytes) {
    if (nbytes > SIZE_MAX - HUGE_PAGE) return NULL;
    size_t cap = (nbytes + 63) / 64 * 64;
    if (cap < VC_HOSTMEM_HUGE) return aligned_alloc(64, cap ? cap : 64);
    cap = (cap + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, cap);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, cap, MADV_HUGEPAGE); /* advice: where the kernel refuses it, nothing changes */
#endif
    return p;
}

void vc_host_free(void *p) { free(p); }
