/* harness.h: shared helpers for the Check test programs.
 * Each tests/test_*.c builds its suites and ends with VC_TEST_MAIN(suite_fn).
 * PyTorch reference tests call vc_torch_available(): when /usr/bin/python3
 * cannot import torch they are not registered and "SKIP: ..." is printed, so
 * a missing reference never counts as a pass. */
#ifndef VC_TEST_HARNESS_H
#define VC_TEST_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>

#include "tensor/rng.h"
#include "tensor/tensor.h"

/* Fills n values with uniform numbers in [lo, hi). */
void vc_test_fill_uniform(vc_real *x, int64_t n, vc_rng *r, double lo, double hi);
/* Largest |a-b| / max(|b|, floor) over n values; reports the worst index. */
double vc_test_max_rel_err(const vc_real *a, const vc_real *b, int64_t n, double floor, int64_t *worst);
/* The Python interpreter for reference scripts ($VC_PYTHON or /usr/bin/python3). */
const char *vc_test_python(void);
/* True when that interpreter can import torch (checked once). */
bool vc_torch_available(void);
/* Path of a fresh temporary directory for this test process (created once). */
const char *vc_test_tmpdir(void);
/* A whole file, NUL-terminated (malloc'd; its length in *n if n), or NULL. */
char *vc_test_read_file(const char *path, size_t *n);
/* Runs a shell command: its exit status, 128+N when killed by signal N, -1
 * when it could not run. */
int vc_test_sh(const char *cmd);
/* The last non-empty line of a file ("" if none; a static buffer). */
const char *vc_test_last_line(const char *path);
/* The vclip binary the suites run ($VCLIP_BIN; `make test` sets it), or NULL
 * when unset: a test that needs it then prints SKIP. */
const char *vc_test_vclip_bin(void);
/* NAME inside vc_test_tmpdir(); one of 16 rotating static buffers, so up to
 * 16 results can be used at once. */
const char *vc_test_path(const char *name);
/* Writes TEXT to PATH, failing the running test if it cannot. */
void vc_test_write_text(const char *path, const char *text);

#define VC_TEST_MAIN(make_suite)                                          \
    int main(void) {                                                      \
        SRunner *sr = srunner_create(make_suite());                       \
        srunner_run_all(sr, CK_NORMAL);                                   \
        int failed = srunner_ntests_failed(sr);                           \
        srunner_free(sr);                                                 \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                      \
    }

#endif
