/* h5_fault.c: an LD_PRELOAD shim that makes libhdf5 fail on demand inside
 * H5Dread, the call vclip's readers make for every block of rows, so that
 * tests/test_damage.c can damage a file "mid-run" deterministically:
 *
 *   H5FAULT_AFTER_FILE=PATH  arm once PATH exists (e.g. a run's first
 *                            checkpoint); without it, armed from the start
 *   H5FAULT_MODE=segv        write through a null pointer (what libhdf5 does
 *                            on some damaged metadata)
 *               abort        abort() (libhdf5's assertions, glibc's heap checks)
 *               hang         never return (libhdf5 looping on a damaged tree)
 *               truncate     truncate H5FAULT_FILE to H5FAULT_SIZE bytes, then
 *                            read as usual (a file cut short by a copy in
 *                            progress); only once
 * The first H5Dread after arming (from any thread) fails so; only in the
 * process that loaded the shim, not in children it forks (vclip checks a
 * file in a forked child first: data/h5_guard.h). Built without
 * sanitizers; under ASan set ASAN_OPTIONS=verify_asan_link_order=0. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <hdf5.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef herr_t (*read_fn)(hid_t, hid_t, hid_t, hid_t, hid_t, void *);

static atomic_int fired;
static pid_t owner;

__attribute__((constructor)) static void remember_owner(void) { owner = getpid(); }

herr_t H5Dread(hid_t dset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t plist, void *buf) {
    static read_fn real;
    if (!real) real = (read_fn)dlsym(RTLD_NEXT, "H5Dread");
    const char *after = getenv("H5FAULT_AFTER_FILE"), *mode = getenv("H5FAULT_MODE");
    if (mode && getpid() == owner && (!after || access(after, F_OK) == 0) && atomic_exchange(&fired, 1) == 0) {
        if (strcmp(mode, "segv") == 0) {
            volatile int *p = NULL;
            *p = 1;
        } else if (strcmp(mode, "abort") == 0) {
            abort();
        } else if (strcmp(mode, "hang") == 0) {
            for (;;) pause();
        } else if (strcmp(mode, "truncate") == 0) {
            const char *f = getenv("H5FAULT_FILE"), *sz = getenv("H5FAULT_SIZE");
            if (f && sz && truncate(f, atol(sz)) != 0) abort();
        }
    }
    return real(dset, mem_type, mem_space, file_space, plist, buf);
}
