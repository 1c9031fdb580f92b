/* safetensors reader and writer: bit-exact round trips of every dtype vclip
 * has (0-d and zero-size shapes included) with metadata, both open modes,
 * float16/bfloat16/float64 loads as float32, views, every malformed header we
 * could think of plus every truncation and random header damage, the atomic
 * write (no temporary file left, an existing file never clobbered on
 * failure), and files exchanged with PyTorch (tests/ref_safetensors.py). */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tensor/safetensors.h"

/* ---- the tensors both this test and tests/ref_safetensors.py define ---- */

#define N_EXPECTED 9
static const char *const expected_names[N_EXPECTED] = {"f32", "f16", "bf16", "i64", "i32", "u8", "scalar", "empty", "special"};

static const char *const meta_keys[3] = {"format", "note", "empty"};
static const char *const meta_vals[3] = {"pt", "h\xc3\xa9llo \"quoted\"\nline\ttab \\ back \xe4\xb8\xad", ""};

static float base_val(int64_t i) { return (float)((i * 37) % 101 - 50) / 7.0f; }

/* expected_names[k] as a freshly allocated tensor. */
static void make_expected(int k, vc_tensor *t) {
    switch (k) {
    case 0:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_F32, VC_DIMS(3, 4)), VC_OK);
        for (int64_t i = 0; i < 12; i++) ((float *)t->data)[i] = base_val(i);
        break;
    case 1:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_F16, VC_DIMS(2, 3, 5)), VC_OK);
        for (int64_t i = 0; i < 30; i++) ((uint16_t *)t->data)[i] = vc_f32_to_f16(base_val(i));
        break;
    case 2:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_BF16, VC_DIMS(7)), VC_OK);
        for (int64_t i = 0; i < 7; i++) ((uint16_t *)t->data)[i] = vc_f32_to_bf16(base_val(i));
        break;
    case 3:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_I64, VC_DIMS(2, 2)), VC_OK);
        for (int64_t i = 0; i < 4; i++) ((int64_t *)t->data)[i] = (i - 2) * 123456789012LL;
        break;
    case 4:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_I32, VC_DIMS(5)), VC_OK);
        for (int64_t i = 0; i < 5; i++) ((int32_t *)t->data)[i] = (int32_t)((i - 2) * 100000);
        break;
    case 5:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_U8, VC_DIMS(3)), VC_OK);
        for (int64_t i = 0; i < 3; i++) ((uint8_t *)t->data)[i] = (uint8_t)(i * 100);
        break;
    case 6:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_F32, 0, NULL), VC_OK);
        ((float *)t->data)[0] = 2.5f;
        break;
    case 7:
        ck_assert_int_eq(vc_tensor_alloc(t, VC_F32, VC_DIMS(0, 3)), VC_OK);
        break;
    default: {
        ck_assert_int_eq(vc_tensor_alloc(t, VC_F32, VC_DIMS(6)), VC_OK);
        const float v[6] = {0.0f, -0.0f, INFINITY, -INFINITY, (float)1e-40, -3.0e38f};
        memcpy(t->data, v, sizeof v);
    }
    }
}

static vc_st_dtype st_of(vc_dtype d) {
    switch (d) {
    case VC_F32: return VC_ST_F32;
    case VC_F16: return VC_ST_F16;
    case VC_BF16: return VC_ST_BF16;
    case VC_I32: return VC_ST_I32;
    case VC_I64: return VC_ST_I64;
    default: return VC_ST_U8;
    }
}

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", vc_test_tmpdir(), name); }

/* Writes the expected tensors and metadata to path with vclip's writer. */
static void write_expected(const char *path) {
    vc_tensor t[N_EXPECTED];
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    for (int k = 0; k < N_EXPECTED; k++) {
        make_expected(k, &t[k]);
        ck_assert_msg(vc_st_writer_add(w, expected_names[k], &t[k]) == VC_OK, "%s", vc_last_error());
    }
    for (int k = 0; k < 3; k++) ck_assert_int_eq(vc_st_writer_meta(w, meta_keys[k], meta_vals[k]), VC_OK);
    ck_assert_msg(vc_st_writer_write(w, path) == VC_OK, "%s", vc_last_error());
    vc_st_writer_free(w);
    for (int k = 0; k < N_EXPECTED; k++) vc_tensor_release(&t[k]);
}

/* Every expected tensor of f has its dtype, shape and exact bytes. */
static void check_expected(const vc_st_file *f) {
    for (int k = 0; k < N_EXPECTED; k++) {
        vc_tensor want;
        make_expected(k, &want);
        const vc_st_tensor *t = vc_st_find(f, expected_names[k]);
        ck_assert_msg(t != NULL, "tensor %s missing", expected_names[k]);
        ck_assert_str_eq(t->name, expected_names[k]);
        ck_assert_int_eq(t->dtype, st_of(want.dtype));
        ck_assert_int_eq(t->ndim, want.ndim);
        for (int d = 0; d < want.ndim; d++) ck_assert_int_eq(t->shape[d], want.ne[d]);
        ck_assert_int_eq(t->numel, vc_numel(&want));
        ck_assert_uint_eq(t->nbytes, vc_nbytes(&want));
        ck_assert_msg(memcmp(t->data, want.data, t->nbytes) == 0, "%s: bytes differ", expected_names[k]);

        vc_tensor got;
        ck_assert_msg(vc_st_load_new(f, expected_names[k], &got) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(got.dtype, want.dtype);
        ck_assert(vc_same_shape(&got, &want));
        ck_assert(memcmp(got.data, want.data, vc_nbytes(&want)) == 0);
        vc_tensor_release(&got);
        vc_tensor_release(&want);
    }
}

static void check_expected_meta(const vc_st_file *f) {
    for (int k = 0; k < 3; k++) {
        const char *v = vc_st_meta(f, meta_keys[k]);
        ck_assert_msg(v != NULL, "metadata %s missing", meta_keys[k]);
        ck_assert_str_eq(v, meta_vals[k]);
    }
    ck_assert_ptr_null(vc_st_meta(f, "nope"));
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    if (n) ck_assert_uint_eq(fwrite(b, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

/* A file of header length hlen (the JSON's own length when hlen is -1), the
 * JSON text, and data_len zero bytes. */
static void write_raw(const char *path, const char *json, int64_t hlen, size_t data_len) {
    size_t jl = strlen(json);
    uint64_t h = hlen < 0 ? jl : (uint64_t)hlen;
    unsigned char *b = calloc(8 + jl + data_len + 1, 1);
    ck_assert_ptr_nonnull(b);
    memcpy(b, &h, 8);
    memcpy(b + 8, json, jl);
    write_bytes(path, b, 8 + jl + data_len);
    free(b);
}

/* Names in dir containing ".tmp." (leftover temporary files). */
static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static const vc_st_mode modes[2] = {VC_ST_MMAP, VC_ST_READ};

/* ---- round trips ---- */

START_TEST(test_round_trip_every_dtype_and_shape_is_bit_exact_with_metadata) {
    char path[512];
    tmp_path(path, sizeof path, "round.safetensors");
    write_expected(path);
    for (int m = 0; m < 2; m++) {
        vc_st_file *f;
        ck_assert_msg(vc_st_open(&f, path, modes[m]) == VC_OK, "%s", vc_last_error());
        ck_assert_str_eq(vc_st_path(f), path);
        ck_assert_int_eq(vc_st_count(f), N_EXPECTED);
        for (int k = 0; k < N_EXPECTED; k++) ck_assert_str_eq(vc_st_at(f, k)->name, expected_names[k]); /* insertion order */
        ck_assert_ptr_null(vc_st_at(f, N_EXPECTED));
        check_expected(f);
        ck_assert_int_eq(vc_st_meta_count(f), 3);
        for (int k = 0; k < 3; k++) {
            const char *key, *val;
            vc_st_meta_at(f, k, &key, &val);
            ck_assert_str_eq(key, meta_keys[k]);
            ck_assert_str_eq(val, meta_vals[k]);
        }
        check_expected_meta(f);
        /* The 0-d tensor has an empty shape and one element. */
        const vc_st_tensor *s = vc_st_find(f, "scalar");
        ck_assert_int_eq(s->ndim, 0);
        ck_assert_int_eq(s->numel, 1);
        ck_assert_ptr_null(vc_st_find(f, "nope"));
        vc_st_close(f);
    }
}
END_TEST

START_TEST(test_written_header_is_padded_and_data_aligned_without_holes) {
    char path[512];
    tmp_path(path, sizeof path, "layout.safetensors");
    write_expected(path);
    size_t len;
    unsigned char *b = read_file(path, &len);
    uint64_t hn;
    memcpy(&hn, b, 8);
    ck_assert_uint_eq(hn % 8, 0);
    ck_assert_int_eq(b[8], '{');
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_READ), VC_OK);
    size_t total = 0;
    for (int i = 0; i < vc_st_count(f); i++) {
        const vc_st_tensor *t = vc_st_at(f, i);
        ck_assert_uint_eq((uintptr_t)t->data % vc_st_dtype_size(t->dtype), 0);
        total += t->nbytes;
    }
    ck_assert_uint_eq(8 + hn + total, len); /* tensors cover the data section exactly */
    vc_st_close(f);
    free(b);
}
END_TEST

START_TEST(test_empty_writer_writes_a_valid_file) {
    char path[512];
    tmp_path(path, sizeof path, "nothing.safetensors");
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    ck_assert_int_eq(vc_st_writer_write(w, path), VC_OK);
    vc_st_writer_free(w);
    vc_st_file *f;
    ck_assert_msg(vc_st_open(&f, path, VC_ST_MMAP) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(vc_st_count(f), 0);
    ck_assert_int_eq(vc_st_meta_count(f), 0);
    ck_assert_ptr_null(vc_st_find(f, "x"));
    ck_assert_ptr_null(vc_st_meta(f, "x"));
    vc_st_close(f);
}
END_TEST

START_TEST(test_add_copy_keeps_values_after_source_changes_and_add_borrows) {
    char path[512];
    tmp_path(path, sizeof path, "copy.safetensors");
    int64_t step = 1234567890123LL;
    vc_tensor st, big;
    ck_assert_int_eq(vc_tensor_wrap(&st, &step, VC_I64, 0, NULL), VC_OK);
    ck_assert_int_eq(vc_tensor_alloc(&big, VC_F32, VC_DIMS(4)), VC_OK);
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    ck_assert_int_eq(vc_st_writer_add_copy(w, "step", &st), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "w", &big), VC_OK);
    step = -1;                       /* the copy is unaffected */
    ((float *)big.data)[2] = 7.25f;  /* the borrowed tensor is written as it is at write time */
    ck_assert_int_eq(vc_st_writer_write(w, path), VC_OK);
    vc_st_writer_free(w);
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_READ), VC_OK);
    int64_t got = 0;
    vc_tensor gt;
    ck_assert_int_eq(vc_tensor_wrap(&gt, &got, VC_I64, 0, NULL), VC_OK);
    ck_assert_msg(vc_st_load(f, "step", &gt) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(got, 1234567890123LL);
    vc_tensor wt;
    ck_assert_int_eq(vc_st_load_f32_new(f, "w", &wt), VC_OK);
    ck_assert_float_eq(((float *)wt.data)[2], 7.25f);
    vc_tensor_release(&wt);
    vc_st_close(f);
    vc_tensor_release(&big);
}
END_TEST

/* ---- float32 loads and views ---- */

START_TEST(test_load_f32_converts_f16_and_bf16_exactly) {
    char path[512];
    tmp_path(path, sizeof path, "conv.safetensors");
    write_expected(path);
    for (int m = 0; m < 2; m++) {
        vc_st_file *f;
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_OK);
        vc_tensor a;
        ck_assert_int_eq(vc_tensor_alloc(&a, VC_F32, VC_DIMS(2, 3, 5)), VC_OK);
        ck_assert_msg(vc_st_load_f32(f, "f16", &a) == VC_OK, "%s", vc_last_error());
        for (int64_t i = 0; i < 30; i++) ck_assert_float_eq(((float *)a.data)[i], vc_f16_to_f32(vc_f32_to_f16(base_val(i))));
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "bf16", &a), VC_OK);
        ck_assert_int_eq(a.ndim, 1);
        for (int64_t i = 0; i < 7; i++) ck_assert_float_eq(((float *)a.data)[i], vc_bf16_to_f32(vc_f32_to_bf16(base_val(i))));
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "f32", &a), VC_OK);
        for (int64_t i = 0; i < 12; i++) ck_assert_float_eq(((float *)a.data)[i], base_val(i));
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "empty", &a), VC_OK);
        ck_assert_int_eq(vc_numel(&a), 0);
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "scalar", &a), VC_OK);
        ck_assert_int_eq(a.ndim, 0);
        ck_assert_float_eq(((float *)a.data)[0], 2.5f);
        vc_tensor_release(&a);
        vc_st_close(f);
    }
}
END_TEST

START_TEST(test_load_errors_name_the_file_and_tensor) {
    char path[512];
    tmp_path(path, sizeof path, "errs.safetensors");
    write_expected(path);
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_MMAP), VC_OK);
    vc_tensor a;
    char want[700];

    ck_assert_int_eq(vc_tensor_alloc(&a, VC_F32, VC_DIMS(30)), VC_OK);
    ck_assert_int_eq(vc_st_load_f32(f, "f16", &a), VC_ERR_SHAPE);
    snprintf(want, sizeof want, "%s: tensor 'f16' has shape [2,3,5] but [30] is expected", path);
    ck_assert_str_eq(vc_last_error(), want);
    vc_tensor_release(&a);

    ck_assert_int_eq(vc_tensor_alloc(&a, VC_F32, VC_DIMS(2, 2)), VC_OK);
    ck_assert_int_eq(vc_st_load_f32(f, "i64", &a), VC_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "tensor 'i64' is I64; only F32, F16, BF16 and F64"));
    ck_assert_int_eq(vc_st_load(f, "i64", &a), VC_ERR_DTYPE); /* raw load wants an I64 destination */
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "tensor 'i64' is I64 but the destination is float32"));
    vc_tensor_release(&a);

    ck_assert_int_eq(vc_st_load_f32_new(f, "pooler.nope", &a), VC_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: no tensor 'pooler.nope'", path);
    ck_assert_str_eq(vc_last_error(), want);
    ck_assert_ptr_null(a.data);
    const vc_st_tensor *t = (const vc_st_tensor *)1;
    ck_assert_int_eq(vc_st_get(f, "pooler.nope", &t), VC_ERR_FORMAT);
    ck_assert_ptr_null(t);
    vc_st_close(f);
}
END_TEST

START_TEST(test_view_reads_in_place_and_never_changes_the_file) {
    char path[512];
    tmp_path(path, sizeof path, "view.safetensors");
    write_expected(path);
    for (int m = 0; m < 2; m++) {
        vc_st_file *f;
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_OK);
        for (int k = 0; k < N_EXPECTED; k++) {
            vc_tensor v, want;
            ck_assert_msg(vc_st_view(f, expected_names[k], &v) == VC_OK, "%s", vc_last_error());
            make_expected(k, &want);
            ck_assert_int_eq(v.dtype, want.dtype);
            ck_assert(vc_same_shape(&v, &want));
            ck_assert_ptr_null(v.owned);
            ck_assert(memcmp(v.data, want.data, vc_nbytes(&want)) == 0);
            vc_tensor_release(&want);
        }
        vc_tensor v;
        ck_assert_int_eq(vc_st_view(f, "f32", &v), VC_OK);
        ((float *)v.data)[0] = 99.0f; /* private: the next open sees the original */
        vc_st_close(f);
    }
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_MMAP), VC_OK);
    check_expected(f);
    vc_st_close(f);
}
END_TEST

/* ---- the writer's own checks and the atomic write ---- */

START_TEST(test_writer_rejects_bad_names_and_tensors) {
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    vc_tensor a, tr;
    ck_assert_int_eq(vc_tensor_alloc(&a, VC_F32, VC_DIMS(2, 3)), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "a", &a), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "a", &a), VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "tensor 'a' added twice"));
    ck_assert_int_eq(vc_st_writer_add(w, "__metadata__", &a), VC_ERR_ARG);
    ck_assert_int_eq(vc_st_writer_add(w, "", &a), VC_ERR_ARG);
    ck_assert_int_eq(vc_st_writer_add(w, "bad\xff", &a), VC_ERR_ARG);
    ck_assert_int_eq(vc_view_transpose(&tr, &a, 0, 1), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "t", &tr), VC_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "tensor 't' is not contiguous"));
    tr = a;
    tr.device = VC_CUDA;
    ck_assert_int_eq(vc_st_writer_add(w, "g", &tr), VC_ERR_DEVICE);
    ck_assert_int_eq(vc_st_writer_meta(w, "k", "v"), VC_OK);
    ck_assert_int_eq(vc_st_writer_meta(w, "k", "v2"), VC_ERR_ARG);
    ck_assert_int_eq(vc_st_writer_meta(w, "k2", "\xc0\xaf"), VC_ERR_ARG);
    vc_st_writer_free(w);
    vc_tensor_release(&a);
}
END_TEST

START_TEST(test_write_into_missing_directory_fails_and_creates_nothing) {
    char dir[512], path[600];
    tmp_path(dir, sizeof dir, "nope");
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    vc_tensor a;
    ck_assert_int_eq(vc_tensor_alloc(&a, VC_F32, VC_DIMS(4)), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "a", &a), VC_OK);
    ck_assert_int_eq(vc_st_writer_write(w, path), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), path));
    struct stat sb;
    ck_assert_int_ne(stat(dir, &sb), 0);
    ck_assert_int_ne(stat(path, &sb), 0);
    ck_assert_int_eq(count_tmp_files(vc_test_tmpdir()), 0);
    vc_st_writer_free(w);
    vc_tensor_release(&a);
}
END_TEST

/* A write that fails half-way (file size limit, as on a full disk) removes
 * its temporary file and leaves the previous checkpoint as it was. Runs in a
 * child process so the limit does not outlive it. */
START_TEST(test_failed_write_leaves_existing_file_untouched_and_no_temp) {
    char dir[512], path[600];
    tmp_path(dir, sizeof dir, "atomic");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    write_expected(path);
    size_t n0, n1;
    unsigned char *before = read_file(path, &n0);

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        vc_st_writer *w;
        vc_tensor big;
        if (vc_st_writer_new(&w) || vc_tensor_alloc(&big, VC_F32, VC_DIMS(1 << 18))) _exit(4);
        if (vc_st_writer_add(w, "big", &big)) _exit(5);
        vc_status s = vc_st_writer_write(w, path);
        _exit(s == VC_ERR_IO && strstr(vc_last_error(), "write failed") ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    unsigned char *after = read_file(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert(memcmp(before, after, n0) == 0);
    ck_assert_int_eq(count_tmp_files(dir), 0);
    free(after);

    /* Renaming onto a directory fails after the data is written: same promise. */
    char sub[700];
    snprintf(sub, sizeof sub, "%s/isdir", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    vc_st_writer *w;
    ck_assert_int_eq(vc_st_writer_new(&w), VC_OK);
    ck_assert_int_eq(vc_st_writer_write(w, sub), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "cannot rename"));
    ck_assert_int_eq(count_tmp_files(dir), 0);

    /* A successful write replaces the file in one step. */
    vc_tensor a;
    ck_assert_int_eq(vc_tensor_alloc(&a, VC_F32, VC_DIMS(1)), VC_OK);
    ck_assert_int_eq(vc_st_writer_add(w, "only", &a), VC_OK);
    ck_assert_int_eq(vc_st_writer_write(w, path), VC_OK);
    vc_st_writer_free(w);
    vc_tensor_release(&a);
    ck_assert_int_eq(count_tmp_files(dir), 0);
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_MMAP), VC_OK);
    ck_assert_int_eq(vc_st_count(f), 1);
    ck_assert_str_eq(vc_st_at(f, 0)->name, "only");
    vc_st_close(f);
    free(before);
}
END_TEST

/* ---- malformed files ---- */

typedef struct {
    const char *json;
    size_t data_len;
    const char *expect; /* substring of the message after "PATH: " */
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2]", 8, "header is not valid JSON"},
    {"{} x", 0, "header has data after its JSON object"},
    {"{}{}", 0, "header has data after its JSON object"},
    {"[1, 2]", 0, "header is not a JSON object"},
    {"\"w\"", 0, "header is not a JSON object"},
    {"{\"w\": {\"dtype\": \"F128\", \"shape\": [1], \"data_offsets\": [0, 16]}}", 64, "tensor 'w' has unknown dtype 'F128'"},
    {"{\"w\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 64, "tensor 'w' has unknown dtype 'f32'"},
    {"{\"w\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 64, "tensor 'w' dtype is not a string"},
    {"{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 64, "tensor 'w' has no \"dtype\""},
    {"{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 64, "tensor 'w' has no \"shape\""},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 64, "tensor 'w' has no \"data_offsets\""},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 64, "tensor 'w' shape entry 0 is not a non-negative integer"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 2.5], \"data_offsets\": [0, 4]}}", 64, "tensor 'w' shape entry 1 is not a non-negative integer"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 64, "tensor 'w' shape entry 0 is not"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 8]}}", 64, "tensor 'w' shape entry 0 is not"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 64, "tensor 'w' shape is not an array"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}", 64,
     "tensor 'w' shape [4294967296,4294967296,4294967296] is too large"},
    {"{\"w\": {\"dtype\": \"F64\", \"shape\": [9007199254740992, 1024], \"data_offsets\": [0, 8]}}", 64, "is too large"},
    {"{\"pooler.w\": {\"dtype\": \"F32\", \"shape\": [25], \"data_offsets\": [0, 100]}}", 64,
     "tensor 'pooler.w' data_offsets [0, 100] exceed the 64-byte data section"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [65, 65]}}", 64, "data_offsets [65, 65] exceed"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 64, "tensor 'w' data_offsets [8, 0] end before they begin"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 64, "tensor 'w' data_offsets is not a pair"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 64, "tensor 'w' data_offsets is not a pair"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": 4}}", 64, "tensor 'w' data_offsets is not a pair"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 64, "tensor 'w' data_offsets is not a pair"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 12]}}", 64,
     "tensor 'w' data_offsets [0, 12] hold 12 bytes but F32 [2,2] needs 16"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 0]}}", 64, "hold 0 bytes but F32 [] needs 4"},
    {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, "
     "\"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 64,
     "tensors 'a' [0, 16] and 'b' [8, 24] overlap"},
    {"{\"a\": {\"dtype\": \"U8\", \"shape\": [16], \"data_offsets\": [0, 16]}, "
     "\"b\": {\"dtype\": \"I32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 64, "overlap"},
    {"{\"a\": {\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [0, 32]}, "
     "\"c\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]}, "
     "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 64, "tensors 'a' [0, 32] and 'b' [4, 12] overlap"},
    {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
     "\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 64, "tensor 'w' appears twice"},
    {"{\"w\": {\"dtype\": \"F32\", \"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 64, "tensor 'w' has \"dtype\" twice"},
    {"{\"w\": 5}", 64, "tensor 'w' is not a JSON object"},
    {"{\"w\": [0, 4]}", 64, "tensor 'w' is not a JSON object"},
    {"{\"w\": null}", 64, "tensor 'w' is not a JSON object"},
    {"{\"__metadata__\": \"x\"}", 0, "__metadata__ is not a JSON object"},
    {"{\"__metadata__\": {\"a\": 1}}", 0, "__metadata__ value of 'a' is not a string"},
    {"{\"__metadata__\": {\"a\": \"1\"}, \"__metadata__\": {}}", 0, "__metadata__ appears twice"},
    {"{\"__metadata__\": {\"a\": \"1\", \"b\": \"2\", \"a\": \"3\"}}", 0, "__metadata__ key 'a' appears twice"},
    {"{\"w\xff\": 1}", 0, "header is not valid UTF-8 at byte 3"},
    {"{\"\xc0\xaf\": 1}", 0, "header is not valid UTF-8"},
    {"{\"\xed\xa0\x80\": 1}", 0, "header is not valid UTF-8"}, /* a UTF-16 surrogate */
    {"{\"w\x01\": 1}", 0, "header has control byte 0x01"},
    {"", 8, "header length 0 cannot hold a JSON object"},
};

START_TEST(test_every_malformed_header_is_a_clear_error) {
    char path[512], want[800];
    tmp_path(path, sizeof path, "bad.safetensors");
    int n = (int)(sizeof bad_cases / sizeof bad_cases[0]);
    for (int i = 0; i < n; i++) {
        write_raw(path, bad_cases[i].json, -1, bad_cases[i].data_len);
        for (int m = 0; m < 2; m++) {
            vc_st_file *f = (vc_st_file *)1;
            vc_clear_error();
            vc_status s = vc_st_open(&f, path, modes[m]);
            ck_assert_msg(s == VC_ERR_FORMAT, "case %d (%s): status %d, message '%s'", i, bad_cases[i].json, s, vc_last_error());
            ck_assert_ptr_null(f);
            snprintf(want, sizeof want, "%s: ", path);
            ck_assert_msg(strncmp(vc_last_error(), want, strlen(want)) == 0, "case %d: '%s' does not start with the path", i,
                          vc_last_error());
            ck_assert_msg(strstr(vc_last_error(), bad_cases[i].expect), "case %d: '%s' lacks '%s'", i, vc_last_error(),
                          bad_cases[i].expect);
        }
    }
}
END_TEST

START_TEST(test_exact_message_for_offsets_past_the_data) {
    char path[512], want[700];
    tmp_path(path, sizeof path, "ckpt.safetensors");
    write_raw(path, "{\"pooler.w\": {\"dtype\": \"F32\", \"shape\": [25], \"data_offsets\": [0, 100]}}", -1, 64);
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_MMAP), VC_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: tensor 'pooler.w' data_offsets [0, 100] exceed the 64-byte data section", path);
    ck_assert_str_eq(vc_last_error(), want);
}
END_TEST

START_TEST(test_short_files_and_lying_header_lengths) {
    char path[512];
    tmp_path(path, sizeof path, "short.safetensors");
    vc_st_file *f;
    for (int m = 0; m < 2; m++) {
        write_bytes(path, "", 0);
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), "0 bytes, too short for the 8-byte header length"));
        write_bytes(path, "\x10\0\0\0\0", 5);
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), "5 bytes, too short"));
        write_raw(path, "{}", 1000, 0);
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), "header length 1000 exceeds the 2 bytes after it"));
        write_raw(path, "{}", INT64_MAX, 0);
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_ERR_FORMAT);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), "exceeds the 2 bytes"));
        /* A header length one short cuts the JSON. */
        write_raw(path, "{}", 1, 0);
        ck_assert_int_eq(vc_st_open(&f, path, modes[m]), VC_ERR_FORMAT);
    }
    char missing[600];
    tmp_path(missing, sizeof missing, "missing.safetensors");
    ck_assert_int_eq(vc_st_open(&f, missing, VC_ST_MMAP), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "missing.safetensors: cannot open"));
    ck_assert_int_eq(vc_st_open(&f, vc_test_tmpdir(), VC_ST_READ), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "not a regular file"));
}
END_TEST

/* cJSON bounds its nesting depth, so a header of 100000 '[' is an error, not
 * a stack overflow. */
START_TEST(test_deeply_nested_header_is_an_error) {
    char path[512];
    tmp_path(path, sizeof path, "deep.safetensors");
    size_t depth = 100000;
    char *json = malloc(2 * depth + 16);
    ck_assert_ptr_nonnull(json);
    size_t o = (size_t)sprintf(json, "{\"a\": ");
    memset(json + o, '[', depth);
    memset(json + o + depth, ']', depth);
    strcpy(json + o + 2 * depth, "}");
    write_raw(path, json, -1, 0);
    free(json);
    vc_st_file *f;
    ck_assert_int_eq(vc_st_open(&f, path, VC_ST_READ), VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "header is not valid JSON"));
}
END_TEST

/* What the format allows and other writers do: holes between tensors,
 * trailing padding, zero-size tensors anywhere, fields we do not know, keys
 * in any order, unpadded headers that leave data unaligned. */
START_TEST(test_accepts_valid_files_from_other_writers) {
    char path[512];
    tmp_path(path, sizeof path, "other.safetensors");
    const char *json =
        "{\"b\": {\"data_offsets\": [16, 17], \"shape\": [1], \"dtype\": \"U8\"},"
        " \"a\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [1, 5], \"extra\": 1},"
        " \"z\": {\"dtype\": \"F32\", \"shape\": [0, 7], \"data_offsets\": [2, 2]},"
        " \"u\": {\"dtype\": \"U16\", \"shape\": [1], \"data_offsets\": [6, 8]},"
        " \"__metadata__\": {}}   \n";
    size_t jl = strlen(json);
    unsigned char buf[512] = {0};
    uint64_t h = jl;
    memcpy(buf, &h, 8);
    memcpy(buf + 8, json, jl);
    unsigned char *d = buf + 8 + jl;
    uint16_t h1 = vc_f32_to_f16(1.5f), h2 = vc_f32_to_f16(-0.25f);
    memcpy(d + 1, &h1, 2);
    memcpy(d + 3, &h2, 2);
    d[16] = 200;
    write_bytes(path, buf, 8 + jl + 24);
    for (int m = 0; m < 2; m++) {
        vc_st_file *f;
        ck_assert_msg(vc_st_open(&f, path, modes[m]) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(vc_st_count(f), 4);
        ck_assert_str_eq(vc_st_at(f, 0)->name, "b");
        ck_assert_int_eq(vc_st_meta_count(f), 0);
        vc_tensor a;
        ck_assert_msg(vc_st_load_f32_new(f, "a", &a) == VC_OK, "%s", vc_last_error());
        ck_assert_float_eq(((float *)a.data)[0], 1.5f);
        ck_assert_float_eq(((float *)a.data)[1], -0.25f);
        vc_tensor_release(&a);
        /* One of a's two possible alignments is odd; a view must refuse it. */
        vc_status s = vc_st_view(f, "a", &a);
        ck_assert_int_eq(s, ((uintptr_t)vc_st_find(f, "a")->data % 2) ? VC_ERR_FORMAT : VC_OK);
        ck_assert_int_eq(vc_st_load_new(f, "b", &a), VC_OK);
        ck_assert_int_eq(((uint8_t *)a.data)[0], 200);
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "z", &a), VC_OK);
        ck_assert_int_eq(a.ne[0], 0);
        ck_assert_int_eq(a.ne[1], 7);
        vc_tensor_release(&a);
        /* U16 is readable but has no vclip type. */
        ck_assert_int_eq(vc_st_find(f, "u")->dtype, VC_ST_U16);
        ck_assert_int_eq(vc_st_load_new(f, "u", &a), VC_ERR_DTYPE);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), "tensor 'u' is U16"));
        vc_st_close(f);
    }
}
END_TEST

START_TEST(test_every_truncation_of_a_valid_file_fails_cleanly) {
    char path[512], cut[512];
    tmp_path(path, sizeof path, "whole.safetensors");
    tmp_path(cut, sizeof cut, "cut.safetensors");
    write_expected(path);
    size_t len;
    unsigned char *b = read_file(path, &len);
    for (size_t n = 0; n < len; n++) {
        write_bytes(cut, b, n);
        for (int m = 0; m < 2; m++) {
            vc_st_file *f = NULL;
            vc_status s = vc_st_open(&f, cut, modes[m]);
            ck_assert_msg(s == VC_ERR_FORMAT, "prefix of %zu of %zu bytes: status %d", n, len, s);
            ck_assert_ptr_nonnull(strstr(vc_last_error(), cut));
        }
    }
    free(b);
}
END_TEST

/* Random damage to the header never crashes (ASan watches) and what opens
 * reads in bounds. */
START_TEST(test_random_header_damage_never_crashes) {
    char path[512], dmg[512];
    tmp_path(path, sizeof path, "fuzz.safetensors");
    tmp_path(dmg, sizeof dmg, "fuzz_d.safetensors");
    write_expected(path);
    size_t len;
    unsigned char *b = read_file(path, &len);
    uint64_t hn;
    memcpy(&hn, b, 8);
    unsigned char *c = malloc(len);
    vc_rng r;
    vc_rng_seed(&r, 12345);
    static const char alphabet[] = "0123456789-.e[]{}\",: \\uF_x\xff\x80";
    int opened = 0;
    for (int it = 0; it < 1500; it++) {
        memcpy(c, b, len);
        int edits = 1 + (int)vc_rng_below(&r, 3);
        for (int e = 0; e < edits; e++) {
            size_t at = 8 + (size_t)vc_rng_below(&r, hn);
            c[at] = (unsigned char)alphabet[vc_rng_below(&r, sizeof alphabet - 1)];
        }
        write_bytes(dmg, c, len);
        vc_st_file *f;
        if (vc_st_open(&f, dmg, modes[it % 2]) != VC_OK) continue;
        opened++;
        for (int i = 0; i < vc_st_count(f); i++) {
            const vc_st_tensor *t = vc_st_at(f, i);
            unsigned sum = 0;
            for (size_t k = 0; k < t->nbytes; k++) sum += ((const unsigned char *)t->data)[k];
            (void)sum;
            vc_tensor x;
            if (vc_st_load_f32_new(f, t->name, &x) == VC_OK) vc_tensor_release(&x);
            if (vc_st_load_new(f, t->name, &x) == VC_OK) vc_tensor_release(&x);
        }
        vc_st_close(f);
    }
    ck_assert_int_lt(opened, 1500); /* the damage did reach the checks */
    free(c);
    free(b);
}
END_TEST

/* ---- PyTorch interop ---- */

START_TEST(test_reads_a_file_written_from_pytorch) {
    char path[512], cmd[1200];
    tmp_path(path, sizeof path, "torch.safetensors");
    snprintf(cmd, sizeof cmd, "%s tests/ref_safetensors.py write '%s'", vc_test_python(), path);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    for (int m = 0; m < 2; m++) {
        vc_st_file *f;
        ck_assert_msg(vc_st_open(&f, path, modes[m]) == VC_OK, "%s", vc_last_error());
        ck_assert_int_eq(vc_st_count(f), N_EXPECTED + 1);
        check_expected(f);
        check_expected_meta(f);
        ck_assert_int_eq(vc_st_meta_count(f), 3);
        vc_tensor a;
        ck_assert_msg(vc_st_load_f32_new(f, "f64", &a) == VC_OK, "%s", vc_last_error());
        for (int64_t i = 0; i < 3; i++) ck_assert_float_eq(((float *)a.data)[i], (float)((double)((i * 37) % 101 - 50) / 7.0));
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "f16", &a), VC_OK);
        for (int64_t i = 0; i < 30; i++) ck_assert_float_eq(((float *)a.data)[i], vc_f16_to_f32(vc_f32_to_f16(base_val(i))));
        vc_tensor_release(&a);
        ck_assert_int_eq(vc_st_load_f32_new(f, "bf16", &a), VC_OK);
        for (int64_t i = 0; i < 7; i++) ck_assert_float_eq(((float *)a.data)[i], vc_bf16_to_f32(vc_f32_to_bf16(base_val(i))));
        vc_tensor_release(&a);
        vc_st_close(f);
    }
}
END_TEST

START_TEST(test_pytorch_reads_a_file_written_by_vclip) {
    char path[512], cmd[1200];
    tmp_path(path, sizeof path, "vclip.safetensors");
    write_expected(path);
    snprintf(cmd, sizeof cmd, "%s tests/ref_safetensors.py check '%s'", vc_test_python(), path);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip_every_dtype_and_shape_is_bit_exact_with_metadata);
    tcase_add_test(tc, test_written_header_is_padded_and_data_aligned_without_holes);
    tcase_add_test(tc, test_empty_writer_writes_a_valid_file);
    tcase_add_test(tc, test_add_copy_keeps_values_after_source_changes_and_add_borrows);
    tcase_add_test(tc, test_load_f32_converts_f16_and_bf16_exactly);
    tcase_add_test(tc, test_load_errors_name_the_file_and_tensor);
    tcase_add_test(tc, test_view_reads_in_place_and_never_changes_the_file);
    tcase_add_test(tc, test_writer_rejects_bad_names_and_tensors);
    tcase_add_test(tc, test_write_into_missing_directory_fails_and_creates_nothing);
    tcase_add_test(tc, test_failed_write_leaves_existing_file_untouched_and_no_temp);
    tcase_add_test(tc, test_every_malformed_header_is_a_clear_error);
    tcase_add_test(tc, test_exact_message_for_offsets_past_the_data);
    tcase_add_test(tc, test_short_files_and_lying_header_lengths);
    tcase_add_test(tc, test_deeply_nested_header_is_an_error);
    tcase_add_test(tc, test_accepts_valid_files_from_other_writers);
    tcase_add_test(tc, test_every_truncation_of_a_valid_file_fails_cleanly);
    tcase_add_test(tc, test_random_header_damage_never_crashes);
    suite_add_tcase(s, tc);
    if (vc_torch_available()) {
        TCase *tp = tcase_create("pytorch");
        tcase_set_timeout(tp, 120);
        tcase_add_test(tp, test_reads_a_file_written_from_pytorch);
        tcase_add_test(tp, test_pytorch_reads_a_file_written_by_vclip);
        suite_add_tcase(s, tp);
    } else {
        printf("SKIP: safetensors PyTorch interop (%s cannot import torch)\n", vc_test_python());
    }
    return s;
}

VC_TEST_MAIN(make_suite)
