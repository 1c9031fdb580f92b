/* test_zeroshot.c: models/zeroshot.h, CLIP's zero-shot recipe for class embeddings: the
 * template averaging against NumPy, filling templates, reading a templates file. (The whole
 * recipe through the CLIP text tower is tested by test_encode.c's encode-text test.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "models/zeroshot.h"


START_TEST(test_template_average_matches_numpy) {
    enum { T = 5, E = 64 };
    static float p[T * E];
    vc_rng r;
    vc_rng_seed(&r, 3);
    for (int i = 0; i < T * E; i++) p[i] = (float)(vc_rng_normal(&r) * (1 + i / E)); /* rows of different norms */
    float out[E];
    vc_zeroshot_average(p, T, E, out);
    char in_path[512], out_path[512], cmd[2048];
    snprintf(in_path, sizeof in_path, "%s/prompts.txt", vc_test_tmpdir());
    snprintf(out_path, sizeof out_path, "%s/average.txt", vc_test_tmpdir());
    FILE *f = fopen(in_path, "w");
    ck_assert_ptr_nonnull(f);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < E; j++) fprintf(f, "%.9g%c", p[t * E + j], j + 1 < E ? ' ' : '\n');
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import sys, numpy as np\n"
             "p = np.loadtxt(sys.argv[1], dtype=np.float64)\n"
             "p = p / np.linalg.norm(p, axis=1, keepdims=True)\n"
             "m = p.mean(axis=0)\n"
             "np.savetxt(sys.argv[2], m / np.linalg.norm(m), fmt=\"%%.17g\")' '%s' '%s'",
             vc_test_python(), in_path, out_path);
    ck_assert_msg(system(cmd) == 0, "the NumPy reference failed: %s", cmd);
    f = fopen(out_path, "r");
    ck_assert_ptr_nonnull(f);
    double worst = 0, norm2 = 0;
    for (int j = 0; j < E; j++) {
        double want;
        ck_assert_int_eq(fscanf(f, "%lf", &want), 1);
        worst = fmax(worst, fabs(out[j] - want));
        norm2 += (double)out[j] * out[j];
    }
    fclose(f);
    ck_assert_msg(worst < 1e-6, "differs from NumPy by %g", worst);
    ck_assert_double_eq_tol(norm2, 1.0, 1e-6);
    /* a zero prompt adds nothing but still counts; all zero gives zero */
    static float z[2 * E];
    memcpy(z, p, E * sizeof *z);
    memset(z + E, 0, E * sizeof *z);
    float one[E], two[E];
    vc_zeroshot_average(p, 1, E, one);
    vc_zeroshot_average(z, 2, E, two);
    for (int j = 0; j < E; j++) ck_assert_float_eq_tol(two[j], one[j], 1e-6f);
    memset(z, 0, sizeof z);
    vc_zeroshot_average(z, 2, E, two);
    for (int j = 0; j < E; j++) ck_assert_float_eq(two[j], 0.0f);
}
END_TEST

START_TEST(test_fill_puts_the_name_at_every_placeholder) {
    char *s;
    ck_assert_int_eq(vc_zeroshot_fill("a video of {}.", "juggling", &s), VC_OK);
    ck_assert_str_eq(s, "a video of juggling.");
    free(s);
    ck_assert_int_eq(vc_zeroshot_fill("{} and {}{}", "ab", &s), VC_OK);
    ck_assert_str_eq(s, "ab and abab");
    free(s);
    ck_assert_int_eq(vc_zeroshot_fill("no placeholder", "x", &s), VC_OK);
    ck_assert_str_eq(s, "no placeholder");
    free(s);
    ck_assert_int_eq(vc_zeroshot_fill("{ } {", "x", &s), VC_OK);
    ck_assert_str_eq(s, "{ } {");
    free(s);
}
END_TEST

START_TEST(test_templates_file_skips_comments_and_names_a_bad_line) {
    char **t;
    int64_t n;
    ck_assert_int_eq(vc_zeroshot_templates_read(NULL, &t, &n), VC_OK);
    ck_assert_int_eq(n, vc_zeroshot_n_default_templates);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(t[0], "a video of {}.");
    ck_assert_str_eq(t[4], "an example of {}.");
    vc_zeroshot_templates_free(t, n);

    char path[512];
    snprintf(path, sizeof path, "%s/templates.txt", vc_test_tmpdir());
    vc_test_write_text(path, "# comment\r\n\r\na photo of {}.\r\n\n{} again\n");
    ck_assert_int_eq(vc_zeroshot_templates_read(path, &t, &n), VC_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(t[0], "a photo of {}.");
    ck_assert_str_eq(t[1], "{} again");
    vc_zeroshot_templates_free(t, n);

    vc_test_write_text(path, "a photo of {}.\nno slot here\n");
    ck_assert_int_eq(vc_zeroshot_templates_read(path, &t, &n), VC_ERR_FORMAT);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(vc_last_error(), "line 2") && strstr(vc_last_error(), path), "%s", vc_last_error());
    vc_test_write_text(path, "# only a comment\n");
    ck_assert_int_eq(vc_zeroshot_templates_read(path, &t, &n), VC_ERR_FORMAT);
    snprintf(path, sizeof path, "%s/missing.txt", vc_test_tmpdir());
    ck_assert_int_eq(vc_zeroshot_templates_read(path, &t, &n), VC_ERR_IO);
    ck_assert(strstr(vc_last_error(), path));
}
END_TEST

static bool numpy_runs(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", vc_test_python());
    return system(cmd) == 0;
}

static Suite *zeroshot_suite(void) {
    Suite *s = suite_create("zeroshot");
    TCase *tc = tcase_create("core");
    if (numpy_runs()) tcase_add_test(tc, test_template_average_matches_numpy);
    else printf("SKIP: template averaging against NumPy: %s cannot import numpy\n", vc_test_python());
    tcase_add_test(tc, test_fill_puts_the_name_at_every_placeholder);
    tcase_add_test(tc, test_templates_file_skips_comments_and_names_a_bad_line);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(zeroshot_suite)
