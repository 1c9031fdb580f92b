/* test_util.c: the small generic helpers of tensor/ that the layers above share: growable
 * buffers (buf.h), UTF-8 (utf8.h), the string map (strmap.h), the 64-bit mixer (rng.h), the
 * int64 order (sort.h), the last failure's code (status.h). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/buf.h"
#include "tensor/rng.h"
#include "tensor/sort.h"
#include "tensor/strmap.h"
#include "tensor/utf8.h"

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

START_TEST(test_utf8_round_trips_every_scalar_value) {
    uint32_t first_bad = 0, bad = 0; /* counted, not asserted per value: Check's asserts are slow */
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        unsigned char b[4];
        size_t n = vc_utf8_put(c, b);
        uint32_t got;
        bool ok = vc_utf8_decode(b, n, &got) == n && got == c && vc_utf8_valid(b, n) &&
                  n == (c < 0x80 ? 1u : c < 0x800 ? 2u : c < 0x10000 ? 3u : 4u);
        if (!ok && !bad++) first_bad = c;
    }
    ck_assert_msg(bad == 0, "%u code points do not round-trip, the first U+%04X", bad, first_bad);
}
END_TEST

/* One string decoded with errors='replace': the code points, or -1 after the last. */
static void expect_decoded(const char *bytes, const int64_t *want) {
    vc_u32buf u = {0};
    size_t n = strlen(bytes);
    vc_utf8_to_u32((const unsigned char *)bytes, n, &u);
    size_t k = 0;
    while (want[k] >= 0) k++;
    ck_assert_msg(u.n == k, "%zu code points, want %zu", u.n, k);
    for (size_t i = 0; i < k; i++) ck_assert_uint_eq(u.v[i], (uint32_t)want[i]);
    free(u.v);
}

START_TEST(test_utf8_replaces_each_maximal_subpart_once) {
    expect_decoded("a\xC3\xA9", (const int64_t[]){'a', 0xE9, -1});
    expect_decoded("\xC0\xAF", (const int64_t[]){0xFFFD, 0xFFFD, -1});              /* overlong lead */
    expect_decoded("\xE0\x80\x80", (const int64_t[]){0xFFFD, 0xFFFD, 0xFFFD, -1});  /* overlong */
    expect_decoded("\xED\xA0\x80", (const int64_t[]){0xFFFD, 0xFFFD, 0xFFFD, -1});  /* surrogate */
    expect_decoded("\xF4\x90\x80\x80", (const int64_t[]){0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, -1});
    expect_decoded("\xE2\x82", (const int64_t[]){0xFFFD, -1});      /* cut short: one subpart */
    expect_decoded("\xE2\x82(", (const int64_t[]){0xFFFD, '(', -1});
    expect_decoded("\xF0\x9F\x98", (const int64_t[]){0xFFFD, -1});
    expect_decoded("\xF0\x9F\x98\x80!", (const int64_t[]){0x1F600, '!', -1});
    expect_decoded("\xFF\x80", (const int64_t[]){0xFFFD, 0xFFFD, -1});
    const unsigned char bad[] = {'o', 'k', 0xE2, 0x82, 'x'};
    ck_assert_uint_eq(vc_utf8_invalid_at(bad, sizeof bad), 2);
    ck_assert_uint_eq(vc_utf8_invalid_at(bad, 2), 2);
}
END_TEST

/* Random byte strings near UTF-8 decoded here and by Python's bytes.decode('utf-8',
 * errors='replace'). */
START_TEST(test_utf8_decoding_matches_python_on_random_bytes) {
    enum { N = 3000, L = 12 };
    const char *dir = vc_test_tmpdir();
    char in_path[512], out_path[512], cmd[2048];
    snprintf(in_path, sizeof in_path, "%s/utf8_in.txt", dir);
    snprintf(out_path, sizeof out_path, "%s/utf8_out.txt", dir);
    static const unsigned char pool[] = {'a', ' ', 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
                                         0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF3, 0xF4, 0xF5, 0xFF};
    static unsigned char str[N][L];
    vc_rng r;
    vc_rng_seed(&r, 42);
    FILE *f = fopen(in_path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < L; j++) {
            str[i][j] = pool[vc_rng_below(&r, sizeof pool)];
            fprintf(f, "%02x", str[i][j]);
        }
        fputc('\n', f);
    }
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import sys\nfor l in open(sys.argv[1]):\n"
             "  print(\" \".join(\"%%x\" %% ord(c) for c in bytes.fromhex(l.strip()).decode(\"utf-8\", \"replace\")))'"
             " '%s' > '%s'",
             vc_test_python(), in_path, out_path);
    ck_assert_msg(system(cmd) == 0, "%s failed", vc_test_python());
    f = fopen(out_path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    for (int i = 0; i < N; i++) {
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        vc_u32buf u = {0};
        vc_utf8_to_u32(str[i], L, &u);
        char *p = line;
        size_t k = 0;
        for (;; k++) {
            char *end;
            unsigned long c = strtoul(p, &end, 16);
            if (end == p) break;
            ck_assert_msg(k < u.n && u.v[k] == c, "string %d: code point %zu is U+%04lX in Python", i, k, c);
            p = end;
        }
        ck_assert_msg(k == u.n, "string %d: %zu code points, Python has %zu", i, u.n, k);
        free(u.v);
    }
    fclose(f);
}
END_TEST

/* Against a plain array searched linearly: random puts, gets and deletes of keys that
 * share prefixes, hold NUL bytes or are empty, through growth, tombstones and a clear. */
START_TEST(test_string_map_agrees_with_a_linear_search) {
    enum { NK = 3000 };
    static char keys[NK][12];
    static size_t lens[NK];
    static int64_t ref[NK]; /* -1: absent */
    for (int i = 0; i < NK; i++) {
        lens[i] = (size_t)snprintf(keys[i], sizeof keys[i], "k%d", i) + (i % 3 == 0); /* some end in NUL */
        ref[i] = -1;
    }
    lens[0] = 0; /* the empty key */
    vc_strmap m;
    vc_strmap_init(&m, "test map");
    vc_rng r;
    vc_rng_seed(&r, 7);
    int bad = 0;
    for (int step = 0; step < 60000; step++) {
        int i = (int)vc_rng_below(&r, step < 30000 ? NK / 2 : NK);
        int op = (int)vc_rng_below(&r, 4);
        int64_t v = -2, there = -2;
        bool added = false;
        if (op == 0) {
            bad += !vc_strmap_del(&m, keys[i], lens[i]) != (ref[i] < 0);
            ref[i] = -1;
        } else if (op == 1) {
            bad += vc_strmap_get(&m, keys[i], lens[i], &v) != (ref[i] >= 0) || (ref[i] >= 0 && v != ref[i]);
        } else {
            ck_assert_int_eq(vc_strmap_put(&m, keys[i], lens[i], step, &added, &there), VC_OK);
            bad += added != (ref[i] < 0) || (!added && there != ref[i]);
            if (added) ref[i] = step;
        }
        if (step == 40000) {
            vc_strmap_clear(&m);
            for (int k = 0; k < NK; k++) ref[k] = -1;
        }
    }
    size_t live = 0;
    for (int i = 0; i < NK; i++) {
        int64_t v;
        live += ref[i] >= 0;
        bad += vc_strmap_get(&m, keys[i], lens[i], &v) != (ref[i] >= 0) || (ref[i] >= 0 && v != ref[i]);
    }
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(vc_strmap_size(&m), live);
    ck_assert(!vc_strmap_get(&m, "k1", 3, NULL)); /* "k1\0" is not "k1" */
    vc_strmap_free(&m);
    ck_assert_uint_eq(vc_strmap_size(&m), 0);
    ck_assert(!vc_strmap_get(&m, "k2", 2, NULL));
}
END_TEST

START_TEST(test_string_map_hash_is_fnv1a) {
    /* FNV-1a 64 of "a" is af63dc4c8601ec8c; the map folds bits 29.. into the low ones */
    uint64_t h = 0xaf63dc4c8601ec8cull;
    ck_assert_uint_eq(vc_hash_bytes("a", 1), h ^ (h >> 29));
    uint64_t e = 0xcbf29ce484222325ull;
    ck_assert_uint_eq(vc_hash_bytes("", 0), e ^ (e >> 29));
}
END_TEST

START_TEST(test_splitmix64_gives_the_published_sequence) {
    uint64_t state = 0; /* splitmix64 seeded with 0 */
    ck_assert_uint_eq(vc_splitmix64(&state), 0xe220a8397b1dcdafull);
    ck_assert_uint_eq(vc_splitmix64(&state), 0x6e789e6aa1b965f4ull);
    ck_assert_uint_eq(vc_splitmix64(&state), 0x06c45d188009454full);
    ck_assert_uint_eq(state, 3 * 0x9e3779b97f4a7c15ull);
    ck_assert_uint_eq(vc_mix64(0), 0);
}
END_TEST

START_TEST(test_int64_order_holds_at_the_extremes_and_sorts_records_by_key) {
    int64_t lo = INT64_MIN, hi = INT64_MAX, z = 0;
    ck_assert_int_lt(vc_cmp_i64(&lo, &hi), 0); /* a subtraction would overflow here */
    ck_assert_int_gt(vc_cmp_i64(&hi, &lo), 0);
    ck_assert_int_eq(vc_cmp_i64(&z, &z), 0);
    int64_t rec[5][2] = {{3, 30}, {-1, 10}, {INT64_MAX, 50}, {INT64_MIN, 0}, {2, 20}};
    qsort(rec, 5, sizeof rec[0], vc_cmp_i64);
    static const int64_t want[5] = {0, 10, 20, 30, 50};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(rec[i][1], want[i]);
}
END_TEST

START_TEST(test_the_last_status_is_the_code_of_the_last_failure) {
    vc_clear_error();
    ck_assert_int_eq(vc_last_status(), VC_OK);
    ck_assert_int_eq(vc_fail(VC_ERR_SHAPE, "op x: %d", 3), VC_ERR_SHAPE);
    ck_assert_int_eq(vc_last_status(), VC_ERR_SHAPE);
    ck_assert_str_eq(vc_last_error(), "op x: 3");
    vc_fail(VC_ERR_OOM, "y");
    ck_assert_int_eq(vc_last_status(), VC_ERR_OOM);
    vc_clear_error();
    ck_assert_int_eq(vc_last_status(), VC_OK);
    ck_assert_str_eq(vc_last_error(), "");
}
END_TEST

static bool python_runs(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' -c pass >/dev/null 2>&1", vc_test_python());
    return system(cmd) == 0;
}

static Suite *util_suite(void) {
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_buffers_grow_keep_contents_and_bytes_stay_nul_terminated);
    tcase_add_test(tc, test_a_failed_growth_is_sticky_and_leaves_the_buffer_intact);
    tcase_add_test(tc, test_utf8_round_trips_every_scalar_value);
    tcase_add_test(tc, test_utf8_replaces_each_maximal_subpart_once);
    tcase_add_test(tc, test_string_map_agrees_with_a_linear_search);
    tcase_add_test(tc, test_string_map_hash_is_fnv1a);
    tcase_add_test(tc, test_splitmix64_gives_the_published_sequence);
    tcase_add_test(tc, test_int64_order_holds_at_the_extremes_and_sorts_records_by_key);
    tcase_add_test(tc, test_the_last_status_is_the_code_of_the_last_failure);
    if (python_runs()) tcase_add_test(tc, test_utf8_decoding_matches_python_on_random_bytes);
    else printf("SKIP: UTF-8 decoding against Python: %s does not run\n", vc_test_python());
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(util_suite)
