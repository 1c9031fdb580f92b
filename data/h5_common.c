#include "data/h5_common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "data/h5_guard.h"

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
/* The error-printing setting is per thread in thread-safe HDF5 builds. */
static _Thread_local int h5_silenced;
static _Thread_local char h5_detail[512];
static _Thread_local bool h5_alloc_failed;

/* libhdf5 registers an atexit handler that closes what is still open; after
 * a failed H5Fclose (a full disk) that handler segfaults (1.10.8: in
 * H5F__close_cb). vclip closes everything it keeps and removes a writer's
 * temporary file itself, so the handler is not wanted: it is turned off
 * before the library's first call (H5dont_atexit must come first). */
static void no_atexit(void) { H5dont_atexit(); }
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

void vc_h5i_lock(void) {
    pthread_once(&atexit_once, no_atexit);
    pthread_mutex_lock(&h5_mutex);
    if (!h5_silenced) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        h5_silenced = 1;
    }
}

void vc_h5i_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

/* ---- which file a reader is inside libhdf5 on (data/h5_guard.h) ----
 * Written under the mutex, read lock-free by vc_h5_busy (from a signal
 * handler or a watchdog thread), hence atomics. The path is published
 * before the flag that makes it visible, and cleared after it. */
static _Atomic(const char *) busy_path;
static _Atomic int busy_tid;
static _Atomic int64_t busy_since_ns;
static _Thread_local int my_tid;

static void free_altstack(void *p) {
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    free(p);
}

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;
static void make_altstack_key(void) { pthread_key_create(&altstack_key, free_altstack); }

/* 64 KB is plenty for a handler that only formats one line and exits. */
static void ensure_altstack(void) {
    pthread_once(&altstack_once, make_altstack_key);
    if (pthread_getspecific(altstack_key)) return;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return; /* the program set its own */
    size_t size = 64 << 10;
    void *p = malloc(size);
    if (!p) return;
    stack_t ss = {.ss_sp = p, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0 || pthread_setspecific(altstack_key, p) != 0) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        free(p);
    }
}

void vc_h5i_enter(const char *path) {
    if (!my_tid) {
        my_tid = (int)syscall(SYS_gettid);
        ensure_altstack();
    }
    vc_h5i_lock();
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    atomic_store(&busy_since_ns, (int64_t)t.tv_sec * 1000000000 + t.tv_nsec);
    atomic_store(&busy_path, path);
    atomic_store(&busy_tid, my_tid);
}

void vc_h5i_leave(void) {
    atomic_store(&busy_tid, 0);
    atomic_store(&busy_path, NULL);
    vc_h5i_unlock();
}

bool vc_h5_busy(const char **path, int *tid, int64_t *since_ns) {
    int t = atomic_load(&busy_tid);
    const char *p = atomic_load(&busy_path);
    int64_t s = atomic_load(&busy_since_ns);
    if (!t || !p || t != atomic_load(&busy_tid)) return false;
    if (path) *path = p;
    if (tid) *tid = t;
    if (since_ns) *since_ns = s;
    return true;
}

static herr_t keep_deepest(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    (void)data;
    if (e->desc && e->desc[0]) snprintf(h5_detail, sizeof h5_detail, "%s", e->desc);
    /* one line: HDF5's messages can hold a ctime() ("time = Sun Dec  6 ...\n") */
    for (char *c = h5_detail; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    /* "file write failed: time = ..., filename = ..., errno = 28, error message =
     * 'No space left on device', buf = ..." -> "file write failed: No space left on device" */
    char *colon = strchr(h5_detail, ':'), *m = strstr(h5_detail, "error message = '");
    if (colon && m && colon < m) {
        m += strlen("error message = '");
        char *q = strchr(m, '\'');
        if (q) {
            size_t n = (size_t)(q - m);
            memmove(colon + 2, m, n);
            colon[1] = ' ';
            colon[2 + n] = '\0';
        }
    }
    return 0;
}

const char *vc_h5i_detail(void) {
    h5_detail[0] = '\0';
    /* Walking downward visits the API call first and the innermost cause last. */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, keep_deepest, NULL);
    H5Eclear2(H5E_DEFAULT);
    /* libhdf5 sizes many of its buffers by what the file states: an
     * allocation that failed is most often a damaged size (in a check's
     * child, capped by data/h5_guard.h, always so) */
    static const char why[] = ": a size the file states may be damaged";
    if (strstr(h5_detail, "allocation failed")) {
        h5_alloc_failed = true;
        if (strlen(h5_detail) + sizeof why <= sizeof h5_detail) strcat(h5_detail, why);
    }
    return h5_detail;
}

void vc_h5i_mark_alloc_failed(void) { h5_alloc_failed = true; }

bool vc_h5i_alloc_failed(void) {
    return h5_alloc_failed;
}

hid_t vc_h5i_close(hid_t id) {
    if (id < 0) return H5I_INVALID_HID;
    /* Every HDF5 API call clears the error stack, so keep a pending error's
     * stack aside: cleanup must not erase the reason reported afterwards. */
    hid_t saved = H5Eget_current_stack();
    if (H5Iis_valid(id) > 0) {
        switch (H5Iget_type(id)) {
        case H5I_FILE: H5Fclose(id); break;
        case H5I_GROUP: H5Gclose(id); break;
        case H5I_DATASET: H5Dclose(id); break;
        case H5I_DATATYPE: H5Tclose(id); break;
        case H5I_DATASPACE: H5Sclose(id); break;
        case H5I_ATTR: H5Aclose(id); break;
        case H5I_GENPROP_LST: H5Pclose(id); break;
        default: break;
        }
    }
    if (saved >= 0) H5Eset_current_stack(saved);
    return H5I_INVALID_HID;
}

hid_t vc_h5i_half_type(void) {
    /* The same construction h5py uses for numpy float16, so both agree. */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return H5I_INVALID_HID;
    }
    return t;
}

int vc_h5i_is_half(hid_t t) {
    if (H5Tget_class(t) != H5T_FLOAT || H5Tget_size(t) != 2) return 0;
    size_t spos, epos, esize, mpos, msize;
    if (H5Tget_fields(t, &spos, &epos, &esize, &mpos, &msize) < 0) return 0;
    return spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && H5Tget_ebias(t) == 15 &&
           H5Tget_offset(t) == 0;
}
