/* h5_guard.h: keeping libhdf5's own faults from taking vclip down.
 * libhdf5 1.10 can crash, or loop forever, inside its own code on a file
 * whose internal metadata is damaged (a global heap of strings, object
 * headers, B-tree nodes: data/FORMAT.md). Two tools here:
 *
 *  - vc_h5_check(path): opens and walks the whole file in a child process
 *    (vc_h5_open's validation, every string, every chunk's index entry;
 *    with values, every embedding row too) and turns a crash or a stall of
 *    that child into an error naming the file. A file that passes is
 *    recorded in a small cache keyed by (path, device, inode, size, mtime,
 *    ctime), so a run over hundreds of shards pays once per file version.
 *  - vc_h5_busy(): which file this process is inside libhdf5 on right now,
 *    on which thread and since when (every reader call records it), for a
 *    fault handler or a watchdog the program installs (tools/ does: a crash
 *    or a stall inside libhdf5 then ends the run with one line naming the
 *    file, without touching any output).
 *
 * Not here: the validation itself (data/h5_reader.h), printing and exiting
 * (tools/).
 *
 *   vc_h5_check_opts o = {.stall_s = 60, .cache_path = "~/.cache/vclip/checked-h5"};
 *   if (vc_h5_check("data.h5", &o, NULL)) ... vc_last_error(): "data.h5: corrupt HDF5
 *       file: the HDF5 library crashed (signal 11) while checking it", or the
 *       validation's own error ("data.h5: /video/offsets decreases at ...")
 *
 * The child is made with fork(): call vc_h5_check before starting threads
 * that hold locks the child could need (in practice: before the loader
 * starts). The cache is advisory: a file rewritten in place with the same
 * size within one tick of the file system's clock keeps its entry (then the
 * in-call guard is what is left). */
#ifndef VC_H5_GUARD_H
#define VC_H5_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/status.h"

typedef struct {
    int stall_s;            /* the child making no progress this long is killed (<= 0: 60) */
    const char *cache_path; /* file of checked files; NULL or "": no cache */
    bool values;            /* also read every embedding row (NaN/Inf), as `vclip info` does */
    bool quiet_child;       /* child's stderr to /dev/null (what libhdf5 or the C library print as it dies) */
} vc_h5_check_opts;

/* *lib_fault (may be NULL) tells a crash, stall or silent death of the
 * child, or an allocation past its cap (vc_h5_cap_child_memory: libhdf5
 * sizing a buffer by a damaged field; the error then says so) or a string
 * refused for the length it states, from a clean validation error: a file
 * with a lib_fault is not safe to read unguarded. */
vc_status vc_h5_check(const char *path, const vc_h5_check_opts *o, bool *lib_fault);

/* In a process forked to read a file that may be damaged (vc_h5_check's
 * child; `vclip info` makes its own): caps the address space at what the
 * process has mapped plus 1 GB plus file_bytes (the file's size), so a
 * damaged length that makes libhdf5 or the reader allocate and fill
 * gigabytes fails there as an error instead. Checking a healthy file needs
 * far less. Call it in the child, never in the parent. */
void vc_h5_cap_child_memory(uint64_t file_bytes);

/* True while some thread is inside a libhdf5 call that reads a vclip file;
 * then *path (the file as it was opened), *tid (the thread's kernel id) and
 * *since_ns (CLOCK_MONOTONIC when the call began) are set (each may be
 * NULL). Lock-free and async-signal-safe. */
bool vc_h5_busy(const char **path, int *tid, int64_t *since_ns);

#endif
