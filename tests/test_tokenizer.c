/* test_tokenizer.c: the CLIP BPE tokenizer (models/tokenizer.c, text_clean.c, bpe_vocab.c).
 * - A tiny hand-made vocabulary (written here, gzip and Hugging Face forms) pins merges
 *   by rank, start/end tokens, truncation, padding, errors and invalid UTF-8.
 * - Cleaning cases with their expected text (ftfy, html.unescape, lower-casing).
 * - With the real vocabulary (build/vocab/bpe_simple_vocab_16e6.txt.gz, `make vocab`, or
 *   $VC_CLIP_VOCAB): known ids of simple captions.
 * - Mojibake repairs and HTML5 entities with their expected text (ftfy 6.3.1).
 * - With that vocabulary and the Python reference (build/venv-tok, `make tokenizer-ref`,
 *   or $VC_TOK_PYTHON): about 1,300 strings (captions, entities, generated mojibake)
 *   tokenized by open_clip's SimpleTokenizer must give exactly the same ids, at context
 *   lengths 77 and 16. $VC_TOK_FUZZ=N,SEED makes that a fuzz run over N mojibake strings. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "harness.h"
#include "models/mojibake.h"
#include "models/tokenizer.h"

/* ------------------------------------------------------------------ helpers */

static const char *real_vocab(void) {
    const char *p = getenv("VC_CLIP_VOCAB");
    if (!p || !*p) p = "build/vocab/bpe_simple_vocab_16e6.txt.gz";
    return access(p, R_OK) == 0 ? p : NULL;
}

static const char *ref_python(void) {
    const char *p = getenv("VC_TOK_PYTHON");
    if (!p || !*p) p = "build/venv-tok/bin/python";
    return access(p, X_OK) == 0 ? p : NULL;
}

static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", vc_test_tmpdir(), name);
    return b;
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_gz(const char *path, const char *text) {
    gzFile g = gzopen(path, "wb");
    ck_assert(g != NULL);
    ck_assert_int_eq(gzwrite(g, text, (unsigned)strlen(text)), (int)strlen(text));
    ck_assert_int_eq(gzclose(g), Z_OK);
}

/* The tiny vocabulary: 6 merges (ids 512..517), no final newline, so <start> is 518. */
static const char k_tiny_merges[] =
    "#version: tiny\n"
    "h e\n"
    "l l\n"
    "he ll\n"
    "hell o</w>\n"
    "c a\n"
    "ca t</w>";

static const char *tiny_gz(void) {
    static char path[512];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s", tmp_path("tiny_vocab.txt.gz"));
        write_gz(path, k_tiny_merges);
    }
    return path;
}

static vc_tokenizer *load_ok(const char *path) {
    vc_tokenizer *tk = NULL;
    vc_status st = vc_tokenizer_load(&tk, path);
    ck_assert_msg(st == VC_OK, "load %s: %s", path, vc_last_error());
    return tk;
}

static void expect_ids(vc_tokenizer *tk, const char *text, int C, const int32_t *want, int nwant) {
    int32_t *ids = malloc((size_t)C * sizeof *ids);
    int n = -1;
    ck_assert_msg(vc_tokenize(tk, text, ids, C, &n) == VC_OK, "%s", vc_last_error());
    ck_assert_int_eq(n, nwant);
    for (int i = 0; i < C; i++) {
        int32_t w = i < nwant ? want[i] : 0;
        ck_assert_msg(ids[i] == w, "\"%s\" C=%d: id[%d] is %d, want %d", text, C, i, ids[i], w);
    }
    free(ids);
}

/* Id of the byte symbol of b (end: the "</w>" form), from the bytes_to_unicode order. */
static int32_t byte_id(int b, int end) {
    int k = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        if (printable) { if (c == b) return k + 256 * end; k++; }
    }
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        if (!printable) { if (c == b) return k + 256 * end; k++; }
    }
    return -1;
}

/* ------------------------------------------------------------------ tiny vocabulary */

START_TEST(test_merges_apply_lowest_rank_first_and_words_end_with_w) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    ck_assert_int_eq(vc_tokenizer_sot(tk), 518);
    ck_assert_int_eq(vc_tokenizer_eot(tk), 519);
    ck_assert_int_eq(vc_tokenizer_vocab_size(tk), 520);
    ck_assert_int_eq(vc_tokenizer_token_id(tk, "hello</w>"), 515);
    ck_assert_int_eq(vc_tokenizer_token_id(tk, "o"), byte_id('o', 0));
    ck_assert_int_eq(vc_tokenizer_token_id(tk, "a</w>"), 320);  /* as in CLIP's vocabulary */
    ck_assert_int_eq(vc_tokenizer_token_id(tk, "nothere"), -1);
    /* "Hello cat": cleaned to lower case, two words */
    expect_ids(tk, "Hello cat", 77, (const int32_t[]){518, 515, 517, 519}, 4);
    /* hellohello: he,ll,hell everywhere, then only the last o is o</w> */
    expect_ids(tk, "hellohello", 77, (const int32_t[]){518, 514, byte_id('o', 0), 515, 519}, 5);
    /* lll: the (l,l) pair merges left to right, the third l stays (as l</w>) */
    expect_ids(tk, "lll", 77, (const int32_t[]){518, 513, byte_id('l', 1), 519}, 4);
    /* single byte word */
    expect_ids(tk, "a", 77, (const int32_t[]){518, 320, 519}, 3);
    /* the split: letters, single digits, punctuation runs, contractions */
    expect_ids(tk, "cat's 42!?", 77,
               (const int32_t[]){518, 517, byte_id('\'', 0), byte_id('s', 1), byte_id('4', 1),
                                 byte_id('2', 1), byte_id('!', 0), byte_id('?', 1), 519}, 9);
    vc_tokenizer_free(tk);
}
END_TEST

START_TEST(test_special_token_strings_in_text_map_to_their_ids) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    expect_ids(tk, "cat <end_of_text> cat<START_OF_TEXT>", 77,
               (const int32_t[]){518, 517, 519, 517, 518, 519}, 6);
    vc_tokenizer_free(tk);
}
END_TEST

START_TEST(test_truncation_keeps_end_token_last_and_pads_with_zero) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    char text[100 * 4 + 1] = "";
    for (int i = 0; i < 100; i++) strcat(text, "cat ");
    int32_t want[77];
    want[0] = 518;
    for (int i = 1; i < 76; i++) want[i] = 517;
    want[76] = 519;
    expect_ids(tk, text, 77, want, 77);
    expect_ids(tk, text, 5, (const int32_t[]){518, 517, 517, 517, 519}, 5);
    expect_ids(tk, text, 2, (const int32_t[]){518, 519}, 2);
    expect_ids(tk, text, 1, (const int32_t[]){519}, 1);  /* tokens[:1], then tokens[-1] = eot */
    /* exactly context_len - 2 words fit without cutting */
    text[75 * 4] = 0;
    expect_ids(tk, text, 77, want, 77);
    text[3 * 4] = 0;
    expect_ids(tk, text, 5, (const int32_t[]){518, 517, 517, 517, 519}, 5);
    int32_t ids[4];
    ck_assert_int_eq(vc_tokenize(tk, "cat", ids, 0, NULL), VC_ERR_ARG);
    vc_tokenizer_free(tk);
}
END_TEST

START_TEST(test_empty_and_blank_text_give_start_end_only) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    expect_ids(tk, "", 77, (const int32_t[]){518, 519}, 2);
    expect_ids(tk, " \t\r\n\u3000\u00a0 ", 77, (const int32_t[]){518, 519}, 2);
    int32_t *ids = NULL;
    int n = -1;
    ck_assert_int_eq(vc_tokenizer_encode(tk, "", &ids, &n), VC_OK);
    ck_assert_int_eq(n, 0);
    free(ids);
    vc_tokenizer_free(tk);
}
END_TEST

START_TEST(test_invalid_utf8_becomes_replacement_characters) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    /* U+FFFD is EF BF BD; \xff and a cut-off \xc3 each become one */
    int32_t ef = byte_id(0xEF, 0), bf = byte_id(0xBF, 0), bd = byte_id(0xBD, 0);
    int32_t bd_end = byte_id(0xBD, 1);
    expect_ids(tk, "\xff" "cat\xc3", 77, (const int32_t[]){518, ef, bf, bd_end, 517, ef, bf, bd_end, 519}, 9);
    (void)bd;
    int32_t *ids = NULL;
    int n = 0;
    const char *bad[] = {"\x80", "\xc0\xaf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                         "\xf5\xff\xfe", "a\xe2\x82", "\xf0\x9f\x98"};
    int want_fffd[] = {1, 2, 3, 3, 4, 3, 1, 1};
    for (int i = 0; i < 8; i++) {
        char *c = NULL;
        ck_assert_int_eq(vc_tokenizer_clean(bad[i], &c), VC_OK);
        int k = 0;
        for (const char *p = c; (p = strstr(p, "\xef\xbf\xbd")); p += 3) k++;
        ck_assert_msg(k == want_fffd[i], "case %d: %d replacement characters, want %d", i, k,
                      want_fffd[i]);
        free(c);
        ck_assert_int_eq(vc_tokenizer_encode(tk, bad[i], &ids, &n), VC_OK);
        ck_assert_int_gt(n, 0);
        free(ids);
    }
    vc_tokenizer_free(tk);
}
END_TEST

START_TEST(test_repeated_words_use_the_cache_without_changing_ids) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    /* 40000 distinct words: more than the cache holds, so it is emptied on the way */
    size_t cap = 40000 * 5 + 1;
    char *text = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < 40000; i++) {
        int v = i;
        for (int k = 0; k < 4; k++) { text[n++] = (char)('a' + v % 26); v /= 26; }
        text[n++] = ' ';
    }
    text[n] = 0;
    int32_t *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    ck_assert_int_eq(vc_tokenizer_encode(tk, text, &a, &na), VC_OK);
    ck_assert_int_eq(vc_tokenizer_encode(tk, text, &b, &nb), VC_OK);
    ck_assert_int_eq(na, nb);
    ck_assert_int_ge(na, 40000);
    ck_assert(memcmp(a, b, (size_t)na * sizeof *a) == 0);
    free(a);
    free(b);
    free(text);
    vc_tokenizer_free(tk);
}
END_TEST

START_TEST(test_decode_reads_w_as_space) {
    vc_tokenizer *tk = load_ok(tiny_gz());
    int32_t *ids = NULL;
    int n = 0;
    ck_assert_int_eq(vc_tokenizer_encode(tk, "Hello, cat! l'été 😀", &ids, &n), VC_OK);
    char *s = NULL;
    ck_assert_int_eq(vc_tokenizer_decode(tk, ids, n, &s), VC_OK);
    ck_assert_str_eq(s, "hello , cat ! l ' été 😀 ");
    free(s);
    free(ids);
    int32_t bad = 99999;
    ck_assert_int_eq(vc_tokenizer_decode(tk, &bad, 1, &s), VC_ERR_ARG);
    vc_tokenizer_free(tk);
}
END_TEST

/* The tiny vocabulary as Hugging Face merges.txt + vocab.json, with other ids. */
START_TEST(test_hugging_face_merges_and_vocab_json) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tmp_path("hf"));
    mkdir(dir, 0755);
    char merges[600], vocab[600];
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    snprintf(vocab, sizeof vocab, "%s/vocab.json", dir);
    write_file(merges, k_tiny_merges, strlen(k_tiny_merges));
    cJSON *o = cJSON_CreateObject();
    int id = 0;
    for (int end = 0; end < 2; end++) {
        for (int b = 0; b < 256; b++) {
            /* the byte symbol of b: itself when printable, else U+0100 + its rank */
            int k = 0, cp = b;
            if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
                for (int c = 0; c < b; c++)
                    if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE)) k++;
                cp = 256 + k;
            }
            char s[16];
            int n = cp < 0x80 ? (s[0] = (char)cp, 1)
                              : (s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F)), 2);
            strcpy(s + n, end ? "</w>" : "");
            cJSON_AddNumberToObject(o, s, id++);
        }
    }
    const char *extra[] = {"he", "ll", "hell", "hello</w>", "ca", "cat</w>", "<|startoftext|>",
                           "<|endoftext|>"};
    for (int i = 0; i < 8; i++) cJSON_AddNumberToObject(o, extra[i], 1000 + i);
    char *js = cJSON_PrintUnformatted(o);
    write_file(vocab, js, strlen(js));
    free(js);
    cJSON_Delete(o);

    const char *paths[] = {dir, merges, vocab};
    for (int p = 0; p < 3; p++) {
        vc_tokenizer *tk = load_ok(paths[p]);
        ck_assert_int_eq(vc_tokenizer_sot(tk), 1006);
        ck_assert_int_eq(vc_tokenizer_eot(tk), 1007);
        expect_ids(tk, "hello cat<|endoftext|>", 77, (const int32_t[]){1006, 1003, 1005, 1007, 1007}, 5);
        vc_tokenizer_free(tk);
    }
    /* a merge whose result vocab.json lacks */
    o = cJSON_Parse("{\"a\": 0}");
    js = cJSON_PrintUnformatted(o);
    write_file(vocab, js, strlen(js));
    free(js);
    cJSON_Delete(o);
    vc_tokenizer *tk = NULL;
    ck_assert_int_eq(vc_tokenizer_load(&tk, dir), VC_ERR_FORMAT);
    ck_assert_ptr_null(tk);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "vocab.json"));
    write_file(vocab, "{\"a\": ", 6);
    ck_assert_int_eq(vc_tokenizer_load(&tk, vocab), VC_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), vocab));
    unlink(vocab);
    ck_assert_int_eq(vc_tokenizer_load(&tk, merges), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "vocab.json"));
}
END_TEST

START_TEST(test_missing_or_corrupt_vocabulary_is_an_error_naming_the_file) {
    vc_tokenizer *tk = NULL;
    const char *missing = tmp_path("no_such_vocab.txt.gz");
    ck_assert_int_eq(vc_tokenizer_load(&tk, missing), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), missing));
    ck_assert_ptr_null(tk);

    char empty_dir[512];
    snprintf(empty_dir, sizeof empty_dir, "%s", tmp_path("empty_dir"));
    mkdir(empty_dir, 0755);
    ck_assert_int_eq(vc_tokenizer_load(&tk, empty_dir), VC_ERR_IO);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), empty_dir));

    struct { const char *name, *text; vc_status want; } plain[] = {
        {"empty.txt", "", VC_ERR_FORMAT},
        {"header_only.txt", "#version\n", VC_ERR_FORMAT},
        {"words.txt", "#version\nhello world\nfoo bar\n", VC_ERR_FORMAT},   /* undefined parts */
        {"three.txt", "#version\nh e\nl l x\n", VC_ERR_FORMAT},             /* not two fields */
        {"twice.txt", "#version\nh e\nh e\n", VC_ERR_FORMAT},               /* "he" made twice */
        {"binary.txt", "\x1f\x8b\x08\x00garbage that is not deflate data", VC_ERR_IO},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        const char *p = tmp_path(plain[i].name);
        write_file(p, plain[i].text, strlen(plain[i].text));
        tk = NULL;
        vc_status st = vc_tokenizer_load(&tk, p);
        ck_assert_msg(st == plain[i].want, "%s: status %d (%s), want %d", plain[i].name, st,
                      vc_last_error(), plain[i].want);
        ck_assert_ptr_nonnull(strstr(vc_last_error(), p));
        ck_assert_ptr_null(tk);
    }

    /* a gzip file cut in the middle */
    const char *real = real_vocab();
    const char *src = tiny_gz();
    FILE *f = fopen(real ? real : src, "rb");
    ck_assert(f != NULL);
    char *buf = malloc(1 << 16);
    size_t n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    const char *cut = tmp_path("cut.txt.gz");
    write_file(cut, buf, n > 40 ? n / 2 : n - 4);
    free(buf);
    ck_assert_int_ne(vc_tokenizer_load(&tk, cut), VC_OK);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), cut));

    /* a final newline is one more (empty) merge, as in open_clip: the ids move by one */
    char with_nl[sizeof k_tiny_merges + 1];
    snprintf(with_nl, sizeof with_nl, "%s\n", k_tiny_merges);
    const char *p = tmp_path("tiny_nl.txt");
    write_file(p, with_nl, strlen(with_nl));
    tk = load_ok(p);
    ck_assert_int_eq(vc_tokenizer_sot(tk), 519);
    vc_tokenizer_free(tk);
    ck_assert_int_eq(vc_tokenizer_load(NULL, p), VC_ERR_ARG);
}
END_TEST

/* ------------------------------------------------------------------ cleaning */

typedef struct {
    const char *in, *want;
} clean_case;

/* vc_tokenizer_clean(in) must give want, for each case. */
static void check_clean_cases(const clean_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *got = NULL;
        ck_assert_int_eq(vc_tokenizer_clean(cases[i].in, &got), VC_OK);
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "case %zu: got \"%s\", want \"%s\"", i, got,
                      cases[i].want);
        free(got);
    }
}

START_TEST(test_cleaning_matches_open_clip_lower_clean) {
    static const clean_case cases[] = {
        {"  A\tB\n\nC  ", "a b c"},
        {"&amp;amp;amp;", "&"},                     /* ftfy to a fixed point, then twice more */
        {"a < b &amp;amp;amp; c", "a < b &amp; c"},  /* a '<' stops ftfy's unescaping */
        {"a < b\n&amp;amp;amp;", "a < b &amp;"},     /* ...in the lines after it too */
        {"&#x27;&#39;&#8217;", "'''"},
        {"&lt;b&gt; &quot;x&quot; &nbsp;y", "<b> \"x\" y"},
        {"&copy2020 &notit; &notin; &ampx", "\xc2\xa9" "2020 \xc2\xacit; \xe2\x88\x89 &x"},
        {"&EACUTE;T&EACUTE; &Eacute;", "\xc3\xa9t\xc3\xa9 \xc3\xa9"},
        {"&#128;&#0;&#x110000;&#55296;&#1;x", "\xe2\x82\xac\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"},
        {"&unknownentity; &#xZZ; & &#", "&unknownentity; &#xzz; & &#"},
        {"don\xe2\x80\x99t \xe2\x80\x9cquoted\xe2\x80\x9d", "don't \"quoted\""},
        {"\xef\xac\x81ne \xef\xac\x82our \xc4\xb2ssel", "fine flour ijssel"},
        {"\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xac\xef\xbc\xac\xe3\x80\x80\xef\xbd\xb6", "full \xe3\x82\xab"},
        {"e\xcc\x81 A\xcc\x8a", "\xc3\xa9 \xc3\xa5"},  /* NFC */
        {"\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\x91\xce\xa3 \xce\xa3",  /* final sigma */
         "\xce\xbf\xce\xb4\xcf\x85\xcf\x83\xcf\x83\xce\xb5\xce\xb1\xcf\x82 \xcf\x83"},
        {"\xc4\xb0stanbul", "i\xcc\x87stanbul"},
        {"\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90", "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"},
        {"\x1b[31mred\x1b[0m bell\x07 zero\xef\xbb\xbf" "bom", "red bell zerobom"},
        {"c1\xc2\x85nel \xc2\x80", "c1\xe2\x80\xa6nel \xe2\x82\xac"},  /* C1 read as cp1252 */
        {"line\xe2\x80\xa8sep\r\nx", "line sep x"},
    };
    check_clean_cases(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

/* Known repairs of ftfy.fix_encoding and entities, pinned from ftfy 6.3.1 + open_clip. */
START_TEST(test_cleaning_repairs_mojibake_as_ftfy_does) {
    static const clean_case cases[] = {
        {"caf\xc3\x83\xc2\xa9", "caf\xc3\xa9"},  /* UTF-8 read as Latin-1 */
        {"\xc3\xa2\xe2\x82\xac\xc5\x93quoted\xc3\xa2\xe2\x82\xac\xc2\x9d", "\"quoted\""},  /* as Windows-1252 */
        {"don\xc3\xa2\xe2\x82\xac\xe2\x84\xa2t", "don't"},
        /* correct text is left alone */
        {"caf\xc3\xa9 na\xc3\xafve \xc3\x86r\xc3\xb8sk\xc3\xb8" "bing \xc5\x81\xc3\xb3" "d\xc5\xba "
         "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1",
         "caf\xc3\xa9 na\xc3\xafve \xc3\xa6r\xc3\xb8sk\xc3\xb8" "bing \xc5\x82\xc3\xb3" "d\xc5\xba "
         "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xce\xb1\xce\xb8\xce\xae\xce\xbd\xce\xb1"},
        {"voil\xc3\x83 le travail", "voil\xc3\xa0 le travail"},  /* byte A0 turned into a space */
        {"\xc3\x83 la mode", "\xc3\xa0 la mode"},                   /* ...and the word a-grave */
        /* a byte lost to U+FFFD: the whole sequence becomes U+FFFD */
        {"\xc3\xa2\xe2\x82\xac\xc5\x93 like this \xc3\xa2\xe2\x82\xac\xef\xbf\xbd", "\" like this \xef\xbf\xbd"},
        /* a CESU-8 surrogate pair */
        {"\xc3\x83\xc2\xa9\xc3\xad\xc2\xa0\xc2\xbd\xc3\xad\xc2\xb8\xc2\x80", "\xc3\xa9\xf0\x9f\x98\x80"},
        {"caf\xc3\x83\xc6\x92\xc3\x82\xc2\xa9", "caf\xc3\xa9"},  /* encoded twice */
        {"\xc3\x8e\xe2\x80\x98\xc3\x8e\xc2\xb8\xc3\x8e\xc2\xae\xc3\x8e\xc2\xbd\xc3\x8e\xc2\xb1",
         "\xce\xb1\xce\xb8\xce\xae\xce\xbd\xce\xb1"},            /* Greek */
        /* Cyrillic with a byte missing: only what decodes is repaired */
        {"\xc3\x90\xc5\x93\xc3\x90\xc2\xbe\xc3\x91\xc3\x90\xc2\xba\xc3\x90\xc2\xb2\xc3\x90\xc2\xb0",
         "\xd0\xbc\xd0\xbe\xc3\xb1\xd0\xba\xd0\xb2\xd0\xb0"},
        {"\xc3\x83\xc2\xa9t\xc3\x83\xc2\xa9 caf\xc3\xa9", "\xc3\xa9t\xc3\xa9 caf\xc3\xa9"},  /* mixed */
        /* ftfy's utf-8-variants decoder reads C0 and a final newline as U+0000 */
        {"caf\xc3\x83\xc2\xa9\xc3\x80\nnext", "caf\xc3\xa9next"},
        {"\xc2\x80\xc2\x81 euro", "\xe2\x82\xac\xc2\x81 euro"},  /* 81 is undefined in Windows-1252 */
        /* HTML5 names, one longer than the 24 characters ftfy looks at */
        {"&NestedGreaterGreater; &CounterClockwiseContourIntegral;", "\xe2\x89\xab \xe2\x88\xb3"},
        {"&Eacute &ecirc &Nestedgreatergreater; &nGt; &NGT;",
         "\xc3\xa9 \xc3\xaa &nestedgreatergreater; \xe2\x89\xab\xe2\x83\x92 \xe2\x89\xaf"},
    };
    check_clean_cases(cases, sizeof cases / sizeof cases[0]);
}
END_TEST

START_TEST(test_fix_encoding_copies_only_what_it_changes) {
    const uint32_t ascii[] = {'c', 'a', 'f', 'e'};
    const uint32_t good[] = {'c', 'a', 'f', 0xE9};
    const uint32_t bad[] = {'c', 'a', 'f', 0xC3, 0xA9};
    uint32_t *out = NULL;
    size_t n = 0;
    bool is_bad = true;
    ck_assert_int_eq(vc_fix_encoding(ascii, 4, &out, &n), VC_OK);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(vc_fix_encoding(good, 4, &out, &n), VC_OK);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(vc_looks_like_mojibake(good, 4, &is_bad), VC_OK);
    ck_assert(!is_bad);
    ck_assert_int_eq(vc_looks_like_mojibake(bad, 5, &is_bad), VC_OK);
    ck_assert(is_bad);
    ck_assert_int_eq(vc_fix_encoding(bad, 5, &out, &n), VC_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(n, 4);
    ck_assert(memcmp(out, good, sizeof good) == 0);
    free(out);
    ck_assert_int_eq(vc_fix_encoding(NULL, 0, &out, &n), VC_OK);
    const uint32_t surrogate[] = {0xC3, 0xD800};
    ck_assert_int_eq(vc_fix_encoding(surrogate, 2, &out, &n), VC_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(vc_last_error(), "U+D800"));
}
END_TEST

/* ------------------------------------------------------------------ real vocabulary */

/* Only the first 48,894 of the file's ~262,000 merges are used, yet damage
 * after them (a flipped byte, a cut) must fail the load: gzip's checksum
 * covers the whole stream, so it is read to the end. */
START_TEST(test_real_vocabulary_damaged_past_the_used_merges_is_an_error) {
    FILE *f = fopen(real_vocab(), "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert(n > 100000 && n < sizeof buf);
    vc_tokenizer *tk = NULL;
    const char *flip = tmp_path("flip.txt.gz");
    buf[n * 9 / 10] ^= 0x55;
    write_file(flip, buf, n);
    buf[n * 9 / 10] ^= 0x55;
    ck_assert_int_ne(vc_tokenizer_load(&tk, flip), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), flip) && strstr(vc_last_error(), "cannot read"), "%s", vc_last_error());
    const char *cut = tmp_path("cut_tail.txt.gz");
    write_file(cut, buf, n * 6 / 10);
    ck_assert_int_ne(vc_tokenizer_load(&tk, cut), VC_OK);
    ck_assert_msg(strstr(vc_last_error(), "the gzip data is cut short"), "%s", vc_last_error());
    ck_assert_ptr_null(tk);
}
END_TEST

START_TEST(test_real_vocabulary_known_ids) {
    vc_tokenizer *tk = load_ok(real_vocab());
    ck_assert_int_eq(vc_tokenizer_vocab_size(tk), 49408);
    ck_assert_int_eq(vc_tokenizer_sot(tk), 49406);
    ck_assert_int_eq(vc_tokenizer_eot(tk), 49407);
    ck_assert_int_eq(vc_tokenizer_token_id(tk, "cat</w>"), 2368);
    ck_assert_int_eq(vc_tokenizer_token_id(tk, "<end_of_text>"), 49407);
    expect_ids(tk, "a photo of a cat", 77, (const int32_t[]){49406, 320, 1125, 539, 320, 2368, 49407}, 7);
    expect_ids(tk, "A PHOTO of a   cat", 77, (const int32_t[]){49406, 320, 1125, 539, 320, 2368, 49407}, 7);
    vc_tokenizer_free(tk);
}
END_TEST

/* ------------------------------------------------------------------ reference comparison */

static const char *k_handwritten[] = {
    /* captions */
    "a photo of a cat", "a man is playing a guitar on stage", "people are dancing at a party",
    "a woman is cooking in the kitchen and talking about the recipe",
    "cartoon characters are running around", "a video game character jumps over obstacles",
    "A dog catches a frisbee in the park.", "two kids ride bikes down a hill",
    "news anchor reports on the weather", "someone slicing vegetables with a knife",
    /* punctuation */
    "Hello, world!", "What?! No way...", "(parentheses) [brackets] {braces}", "email@example.com",
    "http://www.example.com/path?q=1&x=2", "C++ / C# / F#", "--- *** ### !!!", "\"double\" 'single'",
    "50% off!!!", "$19.99", "#hashtag @mention", "a-b_c.d:e;f", "...", "!!!", "?", "~`^|\\",
    "<<>>", "=>", "a/b\\c", "\"\"\"", "''", "'", "' s", "end.", ".start", "q&a", "rock & roll",
    /* digits */
    "1234567890", "3.14159", "2023-01-15", "12:30pm", "1st 2nd 3rd 4th", "100,000", "007",
    "9am-5pm", "v1.2.3", "x2", "4k 1080p 60fps", "\xc2\xbd \xc2\xb2 \xd9\xa3 \xe0\xa5\xa8 \xe2\x85\xa7",
    /* accents */
    "caf\xc3\xa9", "na\xc3\xafve", "r\xc3\xa9sum\xc3\xa9", "Cr\xc3\xa8me Br\xc3\xbbl\xc3\xa9\x65",
    "S\xc3\xa3o Paulo", "Z\xc3\xbcrich", "\xc3\x86r\xc3\xb8sk\xc3\xb8\x62ing", "\xc5\x81\xc3\xb3\x64\xc5\xba",
    "Dvo\xc5\x99\xc3\xa1k", "Stra\xc3\x9f\x65", "l'\xc3\xa9t\xc3\xa9 \xc3\xa0 Paris", "Espa\xc3\xb1\x61 ma\xc3\xb1\x61na",
    "\xc3\x80 LA MODE", "\xc3\x89\x43OLE", "\xc3\xa5\xc3\xa4\xc3\xb6 \xc3\x85\xc3\x84\xc3\x96",
    /* NFD */
    "e\xcc\x81t\xcc\x81\x65\xcc\x81", "A\xcc\x8a", "n\xcc\x83", "o\xcc\x88\xcc\x81",
    /* CJK and other scripts */
    "\xe6\x9d\xb1\xe4\xba\xac\xe3\x82\xbf\xe3\x83\xaf\xe3\x83\xbc",
    "\xe6\x88\x91\xe7\x88\xb1\xe5\x8c\x97\xe4\xba\xac\xe5\xa4\xa9\xe5\xae\x89\xe9\x97\xa8",
    "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe4\xb8\x96\xe7\x95\x8c",
    "\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94",
    "\xe4\xb8\xad\xe6\x96\x87, \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x80\x82\xe9\x9f\x93\xe5\x9c\x8b\xe8\xaa\x9e\xef\xbc\x81",
    "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85",
    "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", "\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87",
    "\xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5",
    /* Greek and Cyrillic, upper case and final sigma */
    "\xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\x91\xce\xa3 \xce\xba\xce\xb1\xce\xb9 \xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91.",
    "\xce\xa3 \xcf\x83 \xcf\x82 \xce\x91\xce\xa3. \xce\x91\xce\xa3\xce\x91 \xce\x91\xce\xa3'",
    "\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91", "\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90 \xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0",
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80!",
    /* emoji */
    "\xf0\x9f\x98\x80", "I \xe2\x9d\xa4\xef\xb8\x8f NY", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\xe2\x80\x8d\xf0\x9f\x91\xa6",
    "\xf0\x9f\x87\xba\xf0\x9f\x87\xb8\xf0\x9f\x87\xaf\xf0\x9f\x87\xb5", "\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89\xf0\x9f\x8e\x89",
    "a\xf0\x9f\x90\xb6\x62", "\xe2\x98\x95\xef\xb8\x8f time", "\xe2\x9c\xa8 sparkles \xe2\x9c\xa8",
    /* HTML entities */
    "&amp;", "&amp;amp;", "&amp;amp;amp;amp;", "&lt;b&gt;bold&lt;/b&gt;", "&quot;quoted&quot;",
    "&#39;apos&#39; &#x27;hex&#x27; &apos;x&apos;", "&nbsp;x&nbsp;", "&eacute;t&eacute; &EACUTE;",
    "&hellip; &mdash; &ndash; &copy; &reg; &trade;", "&copy2020", "&notit; &notin;", "&ampx &lt3",
    "&#128; &#0; &#x110000; &#55296; &#1;", "&#59; &#x3b;", "&foo; &#xZZ; &#12ab;", "&SZLIG; &szlig;",
    "&Alpha; &ALPHA; &alpha;", "& &# &#x; &;", "<b>bold</b> &amp; more", "x &lt; y < z &amp;amp; w",
    "a < b\n&amp;amp; c", "a < b &amp;amp;amp; c", "a &lt; b\n&amp;amp;amp;", "Tom &amp; Jerry", "AT&amp;T", "&AMP; &Amp;", "&lt&gt&amp",
    /* contractions */
    "don't", "DON'T", "it's", "we're", "they've", "I'm", "you'll", "he'd", "rock'n'roll", "'s",
    "o'clock", "y'all", "ain't", "can't won't shouldn't", "don\xe2\x80\x99t", "it\xe2\x80\x99s", "'S 'T 'RE",
    "John's dog's bone", "'ll'd'm", "students' books",
    /* whitespace */
    "  leading", "trailing  ", "a  b", "a\tb", "a\nb", "a\r\nb", "line1\n\nline2", "\xc2\xa0nbsp\xc2\xa0",
    "\xe3\x80\x80ideographic", "x\xe2\x80\xa8ls", "   ", "", "\t\n", "a \x0b b \x0c c", "x\xe2\x80\x83y",
    /* mixed case */
    "HELLO World", "iPhone", "McDonald's", "NASA", "CamelCaseWord", "\xc4\xb0STANBUL \xc4\xb1", "K\xe2\x84\xaa",
    "\xe1\xba\x9e", "\xc7\x85 \xc7\x88", "SHOUTING AND WHISPERING",
    /* controls, widths, ligatures */
    "\x1b[31mred\x1b[0m", "bell\x07", "zero\xe2\x80\x8bwidth", "soft\xc2\xad" "hyphen", "bom\xef\xbb\xbfx",
    "c1\xc2\x85nel", "\xc2\x80 euro", "\xc2\x91quoted\xc2\x92",
    "\xef\xbc\xa6\xef\xbc\xb5\xef\xbc\xac\xef\xbc\xac\xef\xbc\xb7\xef\xbc\xa9\xef\xbc\xa4\xef\xbc\xb4\xef\xbc\xa8",
    "\xef\xbd\xb6\xef\xbe\x80\xef\xbd\xb6\xef\xbe\x85", "\xef\xac\x81ne \xef\xac\x82our", "\xc4\xb2ssel \xc5\x89",
    "\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93", "zwj\xe2\x80\x8djoin",
    /* invalid UTF-8 */
    "\xff", "abc\xc3", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "ok\x80ok",
    "\xf0\x9f\x98", "caf\xe9", "\xfe\xff text",
    /* special token strings */
    "<start_of_text>", "<end_of_text> text", "<|endoftext|>", "<START_OF_TEXT>", "a<end_of_text>b",
    "<start_of_text", "end_of_text>",
};

/* Long texts that need truncation. */
static char *long_text(int kind) {
    static const char *pieces[] = {
        "a man walks his dog along the beach at sunset while waves crash on the shore. ",
        "supercalifragilisticexpialidocious",
        "\xe6\x9d\xb1\xe4\xba\xac ",
        "&amp; ",
    };
    int reps[] = {12, 30, 90, 120};
    size_t len = strlen(pieces[kind]) * (size_t)reps[kind] + 1;
    char *s = malloc(len);
    s[0] = 0;
    for (int i = 0; i < reps[kind]; i++) strcat(s, pieces[kind]);
    return s;
}

/* Random captions from fragments of every kind above (seeded, so the same every run). */
static const char *k_fragments[] = {
    "the", "a", "dog", "Running", "QUICKLY", "caf\xc3\xa9", "na\xc3\xafve", "Stra\xc3\x9f\x65", "don't",
    "it's", "they're", "I'm", "\xe6\x9d\xb1\xe4\xba\xac", "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf",
    "\xec\x95\x88\xeb\x85\x95", "\xf0\x9f\x98\x80", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", "\xe2\x9d\xa4\xef\xb8\x8f",
    "&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&nbsp;", "&eacute;", "&hellip;", "&mdash;", "&copy;",
    "42", "3.14", "2024", "1,000", "!!", "?", "...", ",", ".", "-", "(", ")", "#", "@", "%", "$5",
    "\xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91\xce\xa3", "\xce\xbb\xcf\x8c\xce\xb3\xce\xbf\xcf\x82",
    "\xd0\x9c\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0", "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
    "\xe2\x80\x9cquoted\xe2\x80\x9d", "it\xe2\x80\x99s", "\xef\xac\x81ne", "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3",
    "e\xcc\x81", "\xc4\xb0", "K", "ABC", "xyz", "hello", "world", "video", "of", "in", "on",
};
static const char *k_separators[] = {" ", " ", " ", "", "  ", "\n", ", ", "-", "\t", "'"};

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static char *random_caption(uint64_t *rng) {
    size_t nf = sizeof k_fragments / sizeof k_fragments[0];
    size_t ns = sizeof k_separators / sizeof k_separators[0];
    int words = 1 + (int)(rng_next(rng) % 25);
    char *s = calloc(1, (size_t)words * 64 + 1);
    for (int w = 0; w < words; w++) {
        strcat(s, k_fragments[rng_next(rng) % nf]);
        if (w + 1 < words) strcat(s, k_separators[rng_next(rng) % ns]);
    }
    return s;
}

#define N_RANDOM 250
#define N_MOJIBAKE 400

static int hex_digit(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Strings made by tests/ref_tokenizer.py --cases: every HTML5 entity name in several
 * forms, then mojibake of many kinds (seeded). $VC_TOK_FUZZ=N[,SEED] asks for N pieces of
 * mojibake instead of N_MOJIBAKE (a long fuzz run: VC_TOK_FUZZ=50000,7). Appended to
 * texts[*n..]; returns the new count. */
static size_t add_generated_cases(char ***texts, size_t n) {
    long count = N_MOJIBAKE, seed = 1;
    const char *fuzz = getenv("VC_TOK_FUZZ");
    if (fuzz && *fuzz) sscanf(fuzz, "%ld,%ld", &count, &seed);
    const char *path = tmp_path("ref_cases.hex");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' tests/ref_tokenizer.py --cases %ld %ld > '%s'", ref_python(),
             seed, count, path);
    ck_assert_msg(system(cmd) == 0, "case generator failed: %s", cmd);
    FILE *f = fopen(path, "r");
    ck_assert(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        char *t = malloc((size_t)len / 2 + 1);
        size_t k = 0;
        for (ssize_t i = 0; i + 1 < len && hex_digit(line[i]) >= 0; i += 2)
            t[k++] = (char)(hex_digit(line[i]) * 16 + hex_digit(line[i + 1]));
        t[k] = 0;
        *texts = realloc(*texts, (n + 1) * sizeof **texts);
        (*texts)[n++] = t;
    }
    free(line);
    fclose(f);
    return n;
}

START_TEST(test_matches_open_clip_reference_on_hundreds_of_strings) {
    size_t nh = sizeof k_handwritten / sizeof k_handwritten[0];
    size_t n = nh + 4 + N_RANDOM;
    char **texts = calloc(n, sizeof *texts);
    for (size_t i = 0; i < nh; i++) texts[i] = strdup(k_handwritten[i]);
    for (int k = 0; k < 4; k++) texts[nh + (size_t)k] = long_text(k);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (size_t i = nh + 4; i < n; i++) texts[i] = random_caption(&rng);
    size_t n_fixed = n;
    n = add_generated_cases(&texts, n);
    ck_assert_uint_ge(n - n_fixed, 600);

    const char *in = tmp_path("ref_in.hex"), *out = tmp_path("ref_out.txt");
    FILE *f = fopen(in, "w");
    ck_assert(f != NULL);
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)texts[i]; *p; p++) fprintf(f, "%02x", *p);
        fputc('\n', f);
    }
    fclose(f);
    const int lens[2] = {77, 16};
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' tests/ref_tokenizer.py '%s' 77,16 '%s' '%s'", ref_python(),
             real_vocab(), in, out);
    ck_assert_msg(system(cmd) == 0, "reference failed: %s", cmd);

    vc_tokenizer *tk = load_ok(real_vocab());
    f = fopen(out, "r");
    ck_assert(f != NULL);
    int bad = 0;
    int32_t got[77];
    for (int l = 0; l < 2; l++) {
        int C = lens[l];
        for (size_t i = 0; i < n; i++) {
            long want[77];
            for (int k = 0; k < C; k++) ck_assert_int_eq(fscanf(f, "%ld", &want[k]), 1);
            int nout = 0;
            ck_assert_msg(vc_tokenize(tk, texts[i], got, C, &nout) == VC_OK, "%s", vc_last_error());
            int same = 1, nz = 0;  /* the row's length: id 0 ("!") can occur before the end */
            for (int k = 0; k < C; k++) {
                same &= got[k] == want[k];
                if (want[k] != 0) nz = k + 1;
            }
            same &= nout == nz;
            if (!same && ++bad <= 5) {
                fprintf(stderr, "MISMATCH C=%d string %zu \"%s\"\n  want:", C, i, texts[i]);
                for (int k = 0; k < nz; k++) fprintf(stderr, " %ld", want[k]);
                fprintf(stderr, "\n  got: ");
                for (int k = 0; k < nout; k++) fprintf(stderr, " %d", got[k]);
                fprintf(stderr, "\n");
            }
        }
    }
    fclose(f);
    printf("tokenizer reference: %zu strings (%zu generated: entities, mojibake) x 2 context "
           "lengths, %d mismatches\n", n, n - n_fixed, bad);
    ck_assert_msg(bad == 0, "%d of %zu rows differ from open_clip", bad, 2 * n);
    ck_assert_int_ge((int)n, 300);
    vc_tokenizer_free(tk);
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
}
END_TEST

static bool reference_usable(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' tests/ref_tokenizer.py --check >/dev/null 2>&1", ref_python());
    return system(cmd) == 0;
}

static Suite *make_suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_merges_apply_lowest_rank_first_and_words_end_with_w);
    tcase_add_test(tc, test_special_token_strings_in_text_map_to_their_ids);
    tcase_add_test(tc, test_truncation_keeps_end_token_last_and_pads_with_zero);
    tcase_add_test(tc, test_empty_and_blank_text_give_start_end_only);
    tcase_add_test(tc, test_invalid_utf8_becomes_replacement_characters);
    tcase_add_test(tc, test_repeated_words_use_the_cache_without_changing_ids);
    tcase_add_test(tc, test_decode_reads_w_as_space);
    tcase_add_test(tc, test_hugging_face_merges_and_vocab_json);
    tcase_add_test(tc, test_missing_or_corrupt_vocabulary_is_an_error_naming_the_file);
    tcase_add_test(tc, test_cleaning_matches_open_clip_lower_clean);
    tcase_add_test(tc, test_cleaning_repairs_mojibake_as_ftfy_does);
    tcase_add_test(tc, test_fix_encoding_copies_only_what_it_changes);
    if (real_vocab()) {
        tcase_add_test(tc, test_real_vocabulary_known_ids);
        tcase_add_test(tc, test_real_vocabulary_damaged_past_the_used_merges_is_an_error);
        if (ref_python() && reference_usable())
            tcase_add_test(tc, test_matches_open_clip_reference_on_hundreds_of_strings);
        else
            printf("SKIP: tokenizer reference comparison: no build/venv-tok with open_clip_torch, "
                   "ftfy, regex (run `make tokenizer-ref`, or set VC_TOK_PYTHON)\n");
    } else {
        printf("SKIP: real CLIP vocabulary tests: no build/vocab/bpe_simple_vocab_16e6.txt.gz "
               "(run `make vocab`, or set VC_CLIP_VOCAB)\n");
    }
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
