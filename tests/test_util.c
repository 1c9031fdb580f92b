/* test_util.c: the small generic helpers of tensor/ that the layers above share: growable
 * buffers (buf.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/buf.h"

START_TEST(test_buffers_grow_keep_contents_and_bytes_stay_nul_terminated) {
    vc_u32buf u = {0};
    vc_i32buf i = {0};
    vc_bytebuf b = {0};
    for (uint32_t k = 0; k < 1000; k++) {
        vc_u32buf_push(&u, k * 7);
        vc_i32buf_push(&i, -(int32_t)k);
        vc_bytebuf_push(&b, (uint8_t)('a' + k % 26));
    }
    uint32_t tail[3] = {1, 2, 3};
    vc_u32buf_append(&u, tail, 3);
    vc_bytebuf_append(&b, "xyz", 3);
    ck_assert(!u.oom && !i.oom && !b.oom);
    ck_assert_uint_eq(u.n, 1003);
    ck_assert_uint_eq(i.n, 1000);
    ck_assert_uint_eq(b.n, 1003);
    ck_assert_uint_ge(u.cap, u.n);
    for (uint32_t k = 0; k < 1000; k++) {
        ck_assert_uint_eq(u.v[k], k * 7);
        ck_assert_int_eq(i.v[k], -(int32_t)k);
        ck_assert_int_eq(b.v[k], 'a' + k % 26);
    }
    ck_assert_uint_eq(u.v[1002], 3);
    ck_assert_uint_eq(strlen((const char *)b.v), 1003);
    ck_assert_str_eq((const char *)b.v + 1000, "xyz");
    vc_bytebuf e = {0};
    vc_bytebuf_append(&e, NULL, 0);  /* an empty string, not NULL */
    ck_assert_ptr_nonnull(e.v);
    ck_assert_str_eq((const char *)e.v, "");
    free(u.v);
    free(i.v);
    free(b.v);
    free(e.v);
}
END_TEST

START_TEST(test_a_failed_growth_is_sticky_and_leaves_the_buffer_intact) {
    void *p = NULL;
    size_t cap = 0;
    ck_assert(!vc_grow(&p, &cap, SIZE_MAX / 2, 16));  /* the size overflows: refused */
    ck_assert_ptr_null(p);
    ck_assert_uint_eq(cap, 0);
    vc_u32buf u = {0};
    vc_u32buf_push(&u, 5);
    ck_assert(VC_BUF_RESERVE(&u, 10));
    ck_assert(!VC_BUF_RESERVE(&u, SIZE_MAX / 2));
    ck_assert(u.oom);
    size_t n = u.n;
    vc_u32buf_push(&u, 6);  /* ignored once oom is set */
    ck_assert_uint_eq(u.n, n);
    ck_assert_uint_eq(u.v[0], 5);
    free(u.v);
}
END_TEST

static Suite *util_suite(void) {
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_buffers_grow_keep_contents_and_bytes_stay_nul_terminated);
    tcase_add_test(tc, test_a_failed_growth_is_sticky_and_leaves_the_buffer_intact);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(util_suite)
