/* test_dl.c: tensor/dl.h, the run-time loading of a shared library and its
 * entry points that the CUDA backend (cuBLAS) and the NCCL comm use. Here on
 * glibc's libm, which every machine has: the entry points land in the
 * caller's function pointers, a later name is tried when the first does not
 * load, and the two failures are one line each naming what is missing. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "tensor/dl.h"

START_TEST(test_resolves_a_table_into_function_pointers) {
    double (*c)(double) = NULL, (*s)(double) = NULL;
    const vc_dl_sym syms[] = {{"cos", &c}, {"sin", &s}};
    /* the first name does not load: the second does */
    const char *names[] = {"libvclip-no-such-lib.so.1", "libm.so.6"};
    ck_assert_msg(vc_dl_load("libm", names, 2, "", syms, 2) == VC_OK, "%s", vc_last_error());
    ck_assert(c && s);
    ck_assert(c(0.0) == 1.0);
    ck_assert(fabs(s(1.0) - 0.8414709848078965) < 1e-15);
}
END_TEST

START_TEST(test_a_missing_symbol_is_named) {
    double (*c)(double) = NULL;
    void (*none)(void) = NULL;
    const vc_dl_sym syms[] = {{"cos", &c}, {"vc_no_such_symbol", &none}};
    const char *names[] = {"libm.so.6"};
    ck_assert_int_eq(vc_dl_load("libm", names, 1, "", syms, 2), VC_ERR_UNSUPPORTED);
    ck_assert_str_eq(vc_last_error(), "libm lacks vc_no_such_symbol");
    ck_assert(none == NULL);
}
END_TEST

START_TEST(test_a_library_that_does_not_load_is_named_with_the_hint) {
    double (*c)(double) = NULL;
    const vc_dl_sym syms[] = {{"cos", &c}};
    const char *names[] = {"libvclip-no-such-lib.so.1", "libvclip-no-such-lib.so"};
    ck_assert_int_eq(vc_dl_load("NoSuch", names, 2, "; install it", syms, 1), VC_ERR_UNSUPPORTED);
    const char *want = "cannot load NoSuch (libvclip-no-such-lib.so.1; install it): ";
    ck_assert_msg(strncmp(vc_last_error(), want, strlen(want)) == 0, "%s", vc_last_error());
    /* dlerror's text follows: it names the library it could not open */
    ck_assert_msg(strstr(vc_last_error() + strlen(want), "libvclip-no-such-lib.so"), "%s", vc_last_error());
    ck_assert(c == NULL);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("dl");
    TCase *tc = tcase_create("dl");
    tcase_add_test(tc, test_resolves_a_table_into_function_pointers);
    tcase_add_test(tc, test_a_missing_symbol_is_named);
    tcase_add_test(tc, test_a_library_that_does_not_load_is_named_with_the_hint);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
