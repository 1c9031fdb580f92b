/* fuzz_h5.c: vclip HDF5 datasets through the validation the commands use.
 * Each input goes first through data/h5_guard.h's check in a child process,
 * exactly as `vclip train`, `eval`, `embed` and `search` check a file before
 * reading it; when libhdf5 itself crashed or hung on it there, or the file
 * stated sizes past the child's memory cap, the command would have stopped
 * with one line naming the file, and the input is done (libhdf5 is not ours
 * to fix, and would bring this process down too, or take the memory).
 * Every other input, valid or refused cleanly, then runs in this process,
 * where libFuzzer sees the coverage: vc_h5_open's validation and vc_h5_scan
 * with values (what `vclip info` does; the same answer as the child's), and
 * for a file that passed, what the commands read next: the splits, single
 * strings, one training batch and one evaluation pass through the loader.
 * A gzip-compressed input (the .h5.gz files in tests/fuzz/regress/h5/, the damage
 * campaign's kept files) is unpacked first. Errors are fine; crashes,
 * leaks, undefined behaviour in vclip's code are findings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/h5_guard.h"
#include "data/h5_reader.h"
#include "data/loader.h"
#include "data/source_h5.h"
#include "tests/fuzz/fuzz_util.h"

/* LeakSanitizer, in this program only: libhdf5 1.10 leaks the strings it had
 * already converted when a read of variable-length strings fails part-way
 * (H5T__conv_vlen allocates them into its own conversion buffer, which is
 * dropped; none reaches the caller's buffer, so vclip cannot free them:
 * checked with a plain C reader on a file the fuzzer found). Leaks of
 * memory libhdf5 allocated are not reported here; vclip's own frees of
 * the strings libhdf5 hands it are checked by `make test-asan`. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

/* Every input forks the check's child, and a fork costs in proportion to
 * the memory mapped: a small ASan quarantine keeps that low (a use after
 * free is still caught while the block is among the last 16 MB freed). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=16"; }

static unsigned char *gunzip(const uint8_t *data, size_t size, size_t *out_n) {
    size_t cap = 1 << 20, n = 0;
    unsigned char *out = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (!out || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) abort();
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)size;
    int r = Z_OK;
    while (r == Z_OK && n < (64u << 20)) {
        if (n == cap) out = realloc(out, cap *= 2);
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        r = inflate(&z, Z_NO_FLUSH);
        n = cap - z.avail_out;
    }
    inflateEnd(&z);
    *out_n = n;
    return out;
}

static void loader_pass(vc_h5 *h, bool train) {
    vc_source src;
    if (vc_source_h5(&src, h) != VC_OK) return;
    vc_loader_opts o = vc_loader_defaults();
    o.batch = 4;
    o.max_frames = 3;
    o.train = train;
    o.prefetch = 0;
    o.mem_budget = train ? 1 << 20 : 64; /* RAM mode, then streaming */
    o.block_videos = 2;
    vc_loader *ld = NULL;
    if (vc_loader_open(&ld, &src, &o) == VC_OK) {
        const vc_batch *b = NULL;
        for (int i = 0; i < (train ? 2 : 8); i++)
            if (vc_loader_next(ld, &b) != VC_OK || (!train && !b)) break;
        vc_captions c;
        if (!train && vc_loader_captions(ld, &c) == VC_OK) vc_captions_release(&c);
    }
    vc_loader_close(ld);
    vc_source_close(&src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *unz = NULL;
    if (size > 2 && data[0] == 0x1f && data[1] == 0x8b) {
        data = unz = gunzip(data, size, &size);
    }
    const char *path = fuzz_real_file(0, data, size);
    /* a healthy small file takes milliseconds; libFuzzer's own limit is 25 s */
    vc_h5_check_opts o = {.stall_s = 3, .values = true, .quiet_child = true};
    bool lib_fault = false;
    vc_status checked = vc_h5_check(path, &o, &lib_fault);
    if (getenv("FUZZ_H5_DEBUG")) fprintf(stderr, "check: %d, libhdf5 fault %d: %s\n", checked, lib_fault, vc_last_error());
    if (lib_fault) {
        free(unz);
        return 0;
    }
    vc_h5 *h = NULL;
    vc_status st = vc_h5_open(&h, path);
    if (checked == VC_OK && st != VC_OK) abort(); /* the check passed a file that does not open */
    if (st == VC_OK) {
        const vc_h5_info *in = vc_h5_get_info(h);
        int64_t nmeta = 0;
        vc_status scanned = vc_h5_scan(h, true, &nmeta, NULL, NULL);
        if (checked == VC_OK && scanned != VC_OK) abort(); /* same file, same answer */
        if (nmeta < 0 || nmeta > in->n_videos) abort();
        /* what a command reads once the check has passed (it stops otherwise) */
        if (checked == VC_OK) {
            for (int s = 0; s < VC_NSPLITS; s++) {
                const int64_t *idx;
                int64_t n;
                if (vc_h5_split(h, (vc_split)s, &idx, &n) == VC_OK)
                    for (int64_t i = 0; i < n; i++)
                        if (idx[i] < 0 || idx[i] >= in->n_videos) abort();
            }
            const int64_t *all;
            int64_t nall;
            (void)vc_h5_all_videos(h, &all, &nall);
            char *s = NULL;
            if (in->n_videos > 0 && vc_h5_video_id(h, in->n_videos - 1, &s) == VC_OK) free(s);
            if (in->has_captions_text && in->n_captions > 0 && vc_h5_caption(h, 0, &s) == VC_OK) free(s);
            if (in->has_class_names && in->n_classes > 0 && vc_h5_class_name(h, 0, &s) == VC_OK) free(s);
            if (in->has_meta && in->n_videos > 0 && vc_h5_video_meta(h, 0, &s) == VC_OK) free(s);
            loader_pass(h, true);
            loader_pass(h, false);
        }
        vc_h5_close(h);
    }
    free(unz);
    return 0;
}
