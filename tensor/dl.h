/* dl.h: a shared library opened at run time (dlopen) and a table of its
 * entry points resolved into function pointers (dlsym), for the GPU
 * libraries vclip maps only when first used (cuBLAS in backend_cuda.c, NCCL
 * in comm_nccl.c), so that a vclip with them built in starts on a machine
 * without them.
 * Owns: the open, the lookups and the line that says which failed. Not
 * here: which library and entry points (the callers' tables), remembering
 * that a load was tried (the callers), the emulated builds (they link the
 * emulator's functions instead). */
#ifndef VC_DL_H
#define VC_DL_H

#include "status.h"

/* One entry point: its symbol and the function pointer it fills. */
typedef struct {
    const char *name;
    void *slot; /* the address of the caller's function pointer */
} vc_dl_sym;

/* Opens the first of names[0..n_names) that loads (RTLD_NOW | RTLD_LOCAL;
 * it stays open) and writes the address of each of syms[0..n_syms) into its
 * slot. Failure: VC_ERR_UNSUPPORTED with one vc_fail line, "cannot load
 * WHAT (NAMES[0]HINT): <dlerror>" when no name loads (hint: "" or more words
 * for the parentheses, starting "; "), "LIB lacks SYMBOL" for the first
 * missing symbol (LIB: names[0] without its ".so..."). */
vc_status vc_dl_load(const char *what, const char *const *names, int n_names, const char *hint, const vc_dl_sym *syms,
                     int n_syms);

#endif
