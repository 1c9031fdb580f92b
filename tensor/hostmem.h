/* hostmem.h: the host memory the CPU backend and its kernels allocate.
 * Blocks are 64-byte aligned; blocks of VC_HOSTMEM_HUGE bytes and more (a
 * training step's activations and gradients, a tower's weights, the bf16
 * packing buffers of the products) start on a 2 MB boundary, are rounded
 * up to whole 2 MB pages, and are advised as transparent huge pages
 * (madvise; Debian's kernels run THP in "madvise" mode). The products and
 * the row and column passes over such blocks then miss the TLB far less:
 * the bf16 transformer training step went from 941.5 to 921.1 ms (medians
 * of 5 alternating runs of `vclip bench train --precision bf16`).
 * Free with vc_host_free (free() also works). */
#ifndef VC_HOSTMEM_H
#define VC_HOSTMEM_H

#include <stddef.h>

#define VC_HOSTMEM_HUGE ((size_t)4 << 20)

void *vc_host_alloc(size_t nbytes);
void vc_host_free(void *p);

#endif
