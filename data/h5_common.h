/* h5_common.h: what the HDF5 reader and writer share (internal to data/).
 * It owns the process-wide lock held around every call into HDF5 and the
 * translation of HDF5's error stack into one line for vc_fail messages.
 * HDF5's automatic error printing is switched off for every thread that
 * enters through vc_h5i_lock, so the library never prints. It also keeps
 * the record of which file a reader is inside libhdf5 on (vc_h5i_enter),
 * which data/h5_guard.h publishes. */
#ifndef VC_H5_COMMON_H
#define VC_H5_COMMON_H

#include <hdf5.h>
#include <stdbool.h>

/* Serialises all of vclip's HDF5 calls (a serial HDF5 build has unprotected
 * global state) and silences HDF5's error printing on the calling thread. */
void vc_h5i_lock(void);
void vc_h5i_unlock(void);

/* vc_h5i_lock for a call that reads the file at path: also records that
 * this thread is inside libhdf5 on that file from now on, which
 * vc_h5_busy (data/h5_guard.h) reports to a fault handler or watchdog;
 * vc_h5i_leave clears the record and unlocks. path must stay valid until
 * vc_h5i_leave. The first call on each thread also gives the thread an
 * alternate signal stack, so a handler can still run when libhdf5 has
 * overflowed the thread's stack (endless recursion on a damaged tree). */
void vc_h5i_enter(const char *path);
void vc_h5i_leave(void);

/* The innermost message on this thread's HDF5 error stack (e.g. "truncated
 * file: eof = 800, sblock->base_addr = 0, stored_eof = 4096"), or "" if the
 * stack is empty; clears the stack. The string lives until the next call. */
const char *vc_h5i_detail(void);
/* True once vc_h5i_detail on this thread reported an allocation libhdf5
 * could not make, or a reader marked one it refused (a string stating more
 * than a string may have: libhdf5 had sized a buffer by it already); the
 * capped child of data/h5_guard.c tells its parent. */
bool vc_h5i_alloc_failed(void);
void vc_h5i_mark_alloc_failed(void);

/* Closes an id of any kind if it is valid; returns H5I_INVALID_HID to store. */
hid_t vc_h5i_close(hid_t id);

/* IEEE binary16 as an HDF5 type, little-endian (the caller closes it). */
hid_t vc_h5i_half_type(void);
/* True when t is a float type with binary16's layout (any byte order). */
int vc_h5i_is_half(hid_t t);

#endif
