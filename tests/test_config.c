/* INI configuration layer: parsing through inih, typed values and defaults,
 * schema errors that name file, line and key, --set overrides, comments,
 * duplicates, missing files, and the effective config reading back the same. */
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "train/config.h"

static const vc_config_key schema[] = {
    VC_CFG_KEY("data", "file", VC_CFG_STRING, "data.h5", "path of the HDF5 dataset"),
    VC_CFG_KEY("data", "frames", VC_CFG_INT, "32", "frames per clip"),
    VC_CFG_KEY("data", "note", VC_CFG_STRING, "", "free text"),
    {"model", "type", VC_CFG_ENUM, "mean", "pooler", "mean|wavg|transformer"}, /* the plain form */
    VC_CFG_KEY("model", "residual", VC_CFG_BOOL, "true", "residual connections"),
    VC_CFG_KEY("model", "heads", VC_CFG_INT, "8", "attention heads"),
    VC_CFG_KEY("train", "lr", VC_CFG_DOUBLE, "1e-4", "peak learning rate"),
    VC_CFG_KEY("train", "batch", VC_CFG_INT, "128", "batch size"),
    VC_CFG_ENUM_KEY("train", "schedule", "cosine", "cosine|linear|constant", "learning-rate schedule"),
    VC_CFG_KEY("train", "out", VC_CFG_STRING, "runs/demo", "output directory"),
    VC_CFG_KEY("eval", "every", VC_CFG_INT, "0", "evaluate every N steps (0: only at the end)"),
};
#define NSCHEMA (sizeof schema / sizeof schema[0])

/* Writes text to NAME in the test's temporary directory; returns the path
 * (a static buffer, valid until the next call). */
static const char *write_ini(const char *name, const char *text) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", vc_test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads and validates; returns the config, or NULL with the error kept. */
static vc_config *load_valid(const char *name, const char *text, vc_status *st) {
    vc_config *cfg = NULL;
    *st = vc_config_load(&cfg, write_ini(name, text));
    if (*st != VC_OK) return NULL;
    *st = vc_config_validate(cfg, schema, NSCHEMA);
    if (*st != VC_OK) {
        vc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

#define ck_assert_error_has(st, want_status, fragment)                                                  \
    do {                                                                                                \
        ck_assert_msg((st) == (want_status), "status %s, expected %s (message: %s)", vc_status_name(st), \
                      vc_status_name(want_status), vc_last_error());                                   \
        ck_assert_msg(strstr(vc_last_error(), (fragment)) != NULL, "message '%s' lacks '%s'",           \
                      vc_last_error(), (fragment));                                                     \
    } while (0)

START_TEST(test_parse_gives_typed_values) {
    vc_status st;
    vc_config *cfg = load_valid("typed.ini",
                                "[data]\nfile = /data/msrvtt.h5\nframes = 12\n"
                                "[model]\ntype = transformer\nresidual = off\nheads = -3\n"
                                "[train]\nlr = 3.5e-4\nbatch = 64\nschedule = linear\n",
                                &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    const char *s;
    int64_t i;
    double d;
    bool b;
    int e;
    ck_assert_int_eq(vc_config_string(cfg, "data", "file", &s), VC_OK);
    ck_assert_str_eq(s, "/data/msrvtt.h5");
    ck_assert_int_eq(vc_config_int(cfg, "data", "frames", &i), VC_OK);
    ck_assert_int_eq(i, 12);
    ck_assert_int_eq(vc_config_int(cfg, "model", "heads", &i), VC_OK);
    ck_assert_int_eq(i, -3);
    ck_assert_int_eq(vc_config_enum(cfg, "model", "type", &e), VC_OK);
    ck_assert_int_eq(e, 2);
    ck_assert_int_eq(vc_config_string(cfg, "model", "type", &s), VC_OK);
    ck_assert_str_eq(s, "transformer");
    ck_assert_int_eq(vc_config_bool(cfg, "model", "residual", &b), VC_OK);
    ck_assert(!b);
    ck_assert_int_eq(vc_config_double(cfg, "train", "lr", &d), VC_OK);
    ck_assert(d == 3.5e-4);
    ck_assert_int_eq(vc_config_enum(cfg, "train", "schedule", &e), VC_OK);
    ck_assert_int_eq(e, 1);
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_every_bool_spelling_is_accepted) {
    static const char *yes[] = {"true", "True", "YES", "on", "1"}, *no[] = {"false", "No", "OFF", "0"};
    for (int k = 0; k < 9; k++) {
        const char *v = k < 5 ? yes[k] : no[k - 5];
        char text[128];
        snprintf(text, sizeof text, "[model]\nresidual = %s\n", v);
        vc_status st;
        vc_config *cfg = load_valid("bool.ini", text, &st);
        ck_assert_msg(cfg, "%s: %s", v, vc_last_error());
        bool b;
        ck_assert_int_eq(vc_config_bool(cfg, "model", "residual", &b), VC_OK);
        ck_assert_msg(b == (k < 5), "'%s' read as %d", v, b);
        vc_config_free(cfg);
    }
}
END_TEST

START_TEST(test_schema_defaults_fill_absent_keys) {
    vc_status st;
    vc_config *cfg = load_valid("defaults.ini", "[train]\nbatch = 7\n", &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    int64_t i;
    double d;
    bool b;
    int e;
    const char *s;
    ck_assert_int_eq(vc_config_int(cfg, "train", "batch", &i), VC_OK);
    ck_assert_int_eq(i, 7);
    ck_assert_int_eq(vc_config_int(cfg, "data", "frames", &i), VC_OK);
    ck_assert_int_eq(i, 32);
    ck_assert_int_eq(vc_config_double(cfg, "train", "lr", &d), VC_OK);
    ck_assert(d == 1e-4);
    ck_assert_int_eq(vc_config_bool(cfg, "model", "residual", &b), VC_OK);
    ck_assert(b);
    ck_assert_int_eq(vc_config_enum(cfg, "train", "schedule", &e), VC_OK);
    ck_assert_int_eq(e, 0);
    ck_assert_int_eq(vc_config_string(cfg, "eval", "every", &s) == VC_OK, 0); /* wrong getter type */
    ck_assert_int_eq(vc_config_string(cfg, "data", "note", &s), VC_OK);
    ck_assert_str_eq(s, "");
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_unknown_key_names_file_line_and_suggests_the_near_one) {
    vc_status st;
    vc_config *cfg = load_valid("demo.ini",
                                "; demo\n[train]\nbatch = 8\n\n\n\n\n\n\n\n\nlrr = 1e-3\n", &st);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "demo.ini:12: unknown key 'lrr' in [train] (did you mean 'lr'?)");

    cfg = load_valid("wrongsec.ini", "[model]\nlr = 1e-3\n", &st);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "wrongsec.ini:2: unknown key 'lr' in [model] (it belongs in [train])");

    cfg = load_valid("far.ini", "[train]\nbatch = 1\nzzzzzz = 1\n", &st);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "far.ini:3: unknown key 'zzzzzz' in [train]");
    ck_assert(strstr(vc_last_error(), "did you mean") == NULL);
}
END_TEST

START_TEST(test_unknown_section_names_file_and_header_line) {
    vc_status st;
    vc_config *cfg = load_valid("sec.ini", "[train]\nbatch = 2\n\n[trian]\nlr = 1\n", &st);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "sec.ini:4: unknown section [trian] (did you mean [train]?)");

    /* A section with no keys is still checked. */
    cfg = load_valid("empty_sec.ini", "[train]\nbatch = 2\n[optimizer]\n", &st);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "empty_sec.ini:3: unknown section [optimizer] (known sections:");
}
END_TEST

START_TEST(test_bad_values_name_file_line_key_and_expected_type) {
    static const struct {
        const char *text, *fragment;
    } cases[] = {
        {"[train]\nbatch = 12x\n", "bad.ini:2: bad value '12x' for batch in [train]: expected an integer"},
        {"[train]\n\nbatch = 1.5\n", "bad.ini:3: bad value '1.5' for batch in [train]: expected an integer"},
        {"[train]\nbatch = 99999999999999999999\n", "bad.ini:2: bad value '99999999999999999999' for batch"},
        {"[train]\nlr = fast\n", "bad.ini:2: bad value 'fast' for lr in [train]: expected a finite number"},
        {"[train]\nlr = nan\n", "bad.ini:2: bad value 'nan' for lr in [train]: expected a finite number"},
        {"[train]\nlr = 1e999\n", "bad.ini:2: bad value '1e999' for lr"},
        {"[model]\nresidual = maybe\n", "bad.ini:2: bad value 'maybe' for residual in [model]: expected a boolean"},
        {"[train]\nschedule = cosin\n",
         "bad.ini:2: bad value 'cosin' for schedule in [train]: expected one of cosine|linear|constant"},
        {"[model]\ntype = Mean\n", "bad.ini:2: bad value 'Mean' for type in [model]: expected one of mean|wavg|"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        vc_status st;
        vc_config *cfg = load_valid("bad.ini", cases[k].text, &st);
        ck_assert_msg(cfg == NULL, "case %zu accepted", k);
        ck_assert_error_has(st, VC_ERR_FORMAT, cases[k].fragment);
    }
}
END_TEST

START_TEST(test_set_overrides_win_over_the_file_and_later_ones_win) {
    vc_config *cfg;
    ck_assert_int_eq(vc_config_load(&cfg, write_ini("ov.ini", "[train]\nbatch = 8\nlr = 0.5\n")), VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, "train.batch=16"), VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, " train . batch = 32 "), VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, "data.file=dir/a=b.h5"), VC_OK); /* '=' inside the value */
    ck_assert_int_eq(vc_config_set(cfg, "data.note="), VC_OK);           /* empty value */
    ck_assert_int_eq(vc_config_validate(cfg, schema, NSCHEMA), VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, "train.lr=0.25"), VC_OK);        /* after validate */
    int64_t i;
    double d;
    const char *s;
    ck_assert_int_eq(vc_config_int(cfg, "train", "batch", &i), VC_OK);
    ck_assert_int_eq(i, 32);
    ck_assert_int_eq(vc_config_double(cfg, "train", "lr", &d), VC_OK);
    ck_assert(d == 0.25);
    ck_assert_int_eq(vc_config_string(cfg, "data", "file", &s), VC_OK);
    ck_assert_str_eq(s, "dir/a=b.h5");
    ck_assert_int_eq(vc_config_string(cfg, "data", "note", &s), VC_OK);
    ck_assert_str_eq(s, "");
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_bad_overrides_are_errors_naming_the_override) {
    vc_config *cfg;
    ck_assert_int_eq(vc_config_parse(&cfg, "[train]\nbatch = 8\n", "inline"), VC_OK);
    vc_status st = vc_config_set(cfg, "train.batch");
    ck_assert_error_has(st, VC_ERR_ARG, "--set train.batch: expected section.key=value");
    st = vc_config_set(cfg, "batch=3");
    ck_assert_error_has(st, VC_ERR_ARG, "--set batch=3: expected section.key=value");
    st = vc_config_set(cfg, ".batch=3");
    ck_assert_error_has(st, VC_ERR_ARG, "--set .batch=3: expected");
    st = vc_config_set(cfg, "train.=3");
    ck_assert_error_has(st, VC_ERR_ARG, "--set train.=3: expected");
    st = vc_config_set(cfg, "train.out=a ;b");
    ck_assert_error_has(st, VC_ERR_ARG, "--set train.out=a ;b: the value cannot hold");
    st = vc_config_set(cfg, "train.out=a\nb");
    ck_assert_error_has(st, VC_ERR_ARG, "line break");

    /* Unknown keys set before validation are caught by it, naming the override. */
    ck_assert_int_eq(vc_config_set(cfg, "train.bacth=3"), VC_OK);
    st = vc_config_validate(cfg, schema, NSCHEMA);
    ck_assert_error_has(st, VC_ERR_FORMAT, "--set train.bacth=3: unknown key 'bacth' in [train] (did you mean 'batch'?)");
    vc_config_free(cfg);

    /* After validation they fail at once and leave the config as it was. */
    ck_assert_int_eq(vc_config_parse(&cfg, "[train]\nbatch = 8\n", "inline"), VC_OK);
    ck_assert_int_eq(vc_config_validate(cfg, schema, NSCHEMA), VC_OK);
    st = vc_config_set(cfg, "trian.batch=3");
    ck_assert_error_has(st, VC_ERR_FORMAT, "--set trian.batch=3: unknown section [trian] (did you mean [train]?)");
    st = vc_config_set(cfg, "train.batch=many");
    ck_assert_error_has(st, VC_ERR_FORMAT, "--set train.batch=many: bad value 'many' for batch in [train]: expected an integer");
    st = vc_config_set(cfg, "train.batch=");
    ck_assert_error_has(st, VC_ERR_FORMAT, "expected an integer (the value is empty)");
    int64_t i;
    ck_assert_int_eq(vc_config_int(cfg, "train", "batch", &i), VC_OK);
    ck_assert_int_eq(i, 8);
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_comments_and_whitespace) {
    vc_status st;
    vc_config *cfg = load_valid("comments.ini",
                                "\xEF\xBB\xBF; a comment\r\n"
                                "# another comment\r\n"
                                "\r\n"
                                "  [ train ]   ; inline after a header\r\n"
                                "\tbatch=4   ; inline comment\r\n"
                                "    lr   =   2e-3 # hash comment\r\n"
                                "out = runs/a#b;c\r\n"
                                "   # indented comment\r\n"
                                "[data]\n"
                                "file: x.h5\n",
                                &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    int64_t i;
    double d;
    const char *s;
    ck_assert_int_eq(vc_config_int(cfg, "train", "batch", &i), VC_OK);
    ck_assert_int_eq(i, 4);
    ck_assert_int_eq(vc_config_double(cfg, "train", "lr", &d), VC_OK);
    ck_assert(d == 2e-3);
    ck_assert_int_eq(vc_config_string(cfg, "train", "out", &s), VC_OK);
    ck_assert_str_eq(s, "runs/a#b;c"); /* no space before them: part of the value */
    ck_assert_int_eq(vc_config_string(cfg, "data", "file", &s), VC_OK);
    ck_assert_str_eq(s, "x.h5");
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_syntax_errors_name_file_and_line) {
    vc_config *cfg = NULL;
    vc_status st = vc_config_load(&cfg, write_ini("syn.ini", "[train]\nbatch = 1\nthis is not ini\n"));
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "syn.ini:3: expected '[section]', 'key = value' or a comment, got 'this is not ini'");
    st = vc_config_load(&cfg, write_ini("syn.ini", "; x\n[train\nbatch = 1\n"));
    ck_assert_error_has(st, VC_ERR_FORMAT, "syn.ini:2: section header '[train' has no closing ']'");
    st = vc_config_load(&cfg, write_ini("syn.ini", "batch = 1\n[train]\n"));
    ck_assert_error_has(st, VC_ERR_FORMAT, "syn.ini:1: key 'batch' is outside any [section]");
    st = vc_config_load(&cfg, write_ini("syn.ini", "[train]\n = 1\n"));
    ck_assert_error_has(st, VC_ERR_FORMAT, "syn.ini:2: missing key before '='");
    /* The earliest problem wins even when a later line has a different one. */
    st = vc_config_load(&cfg, write_ini("syn.ini", "[train]\nnonsense\nbatch = 1\nbatch = 2\n"));
    ck_assert_error_has(st, VC_ERR_FORMAT, "syn.ini:2: expected");
    char text[512] = "[data]\nfile = ";
    size_t n = strlen(text);
    memset(text + n, 'a', 300);
    strcpy(text + n + 300, "\n");
    st = vc_config_load(&cfg, write_ini("long.ini", text));
    ck_assert_error_has(st, VC_ERR_FORMAT, "long.ini:2: line is longer than");
    ck_assert(cfg == NULL);
}
END_TEST

START_TEST(test_duplicate_keys_name_both_lines) {
    vc_config *cfg = NULL;
    vc_status st = vc_config_load(&cfg, write_ini("dup.ini", "[train]\nlr = 1\nbatch = 2\n[data]\nframes = 3\n[train]\nlr = 2\n"));
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "dup.ini:7: duplicate key 'lr' in [train] (first set on line 2)");
    /* The same key name in two sections is fine. */
    static const vc_config_key two[] = {VC_CFG_KEY("a", "n", VC_CFG_INT, "0", "a's n"), VC_CFG_KEY("b", "n", VC_CFG_INT, "0", "b's n")};
    ck_assert_int_eq(vc_config_parse(&cfg, "[a]\nn = 1\n[b]\nn = 2\n", "two"), VC_OK);
    ck_assert_int_eq(vc_config_validate(cfg, two, 2), VC_OK);
    int64_t x, y;
    ck_assert_int_eq(vc_config_int(cfg, "a", "n", &x), VC_OK);
    ck_assert_int_eq(vc_config_int(cfg, "b", "n", &y), VC_OK);
    ck_assert(x == 1 && y == 2);
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_missing_file_is_an_io_error_naming_it) {
    char path[4096];
    snprintf(path, sizeof path, "%s/no-such-config.ini", vc_test_tmpdir());
    vc_config *cfg = (vc_config *)&cfg;
    vc_status st = vc_config_load(&cfg, path);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_IO, "no-such-config.ini: cannot open: No such file or directory");
}
END_TEST

START_TEST(test_empty_values_and_empty_file) {
    vc_status st;
    vc_config *cfg = load_valid("empty.ini", "[data]\nnote =\nfile=\n", &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    const char *s;
    ck_assert_int_eq(vc_config_string(cfg, "data", "note", &s), VC_OK);
    ck_assert_str_eq(s, "");
    ck_assert_int_eq(vc_config_string(cfg, "data", "file", &s), VC_OK);
    ck_assert_str_eq(s, ""); /* an empty value is a value, not "use the default" */
    vc_config_free(cfg);

    cfg = load_valid("empty.ini", "[train]\nbatch =\n", &st);
    ck_assert(cfg == NULL);
    ck_assert_error_has(st, VC_ERR_FORMAT, "empty.ini:2: bad value '' for batch in [train]: expected an integer (the value is empty)");

    cfg = load_valid("empty.ini", "", &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    int64_t i;
    ck_assert_int_eq(vc_config_int(cfg, "train", "batch", &i), VC_OK);
    ck_assert_int_eq(i, 128);
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_required_keys_and_bad_schemas) {
    static const vc_config_key req[] = {VC_CFG_KEY("data", "file", VC_CFG_STRING, NULL, "path of the HDF5 dataset")};
    vc_config *cfg;
    ck_assert_int_eq(vc_config_parse(&cfg, "[data]\n", "req.ini"), VC_OK);
    vc_status st = vc_config_validate(cfg, req, 1);
    ck_assert_error_has(st, VC_ERR_FORMAT, "req.ini: [data] file is required (path of the HDF5 dataset)");
    ck_assert_int_eq(vc_config_set(cfg, "data.file=x.h5"), VC_OK);
    ck_assert_int_eq(vc_config_validate(cfg, req, 1), VC_OK);

    static const vc_config_key bad_default[] = {VC_CFG_KEY("t", "n", VC_CFG_INT, "ten", "n")};
    st = vc_config_validate(cfg, bad_default, 1);
    ck_assert_error_has(st, VC_ERR_ARG, "config schema: default 'ten' of [t] n is not an integer");
    static const vc_config_key no_choices[] = {VC_CFG_KEY("t", "e", VC_CFG_ENUM, "a", "e")};
    st = vc_config_validate(cfg, no_choices, 1);
    ck_assert_error_has(st, VC_ERR_ARG, "enum [t] e lists no choices");
    static const vc_config_key twice[] = {VC_CFG_KEY("t", "n", VC_CFG_INT, "1", "n"), VC_CFG_KEY("t", "n", VC_CFG_INT, "2", "n")};
    st = vc_config_validate(cfg, twice, 2);
    ck_assert_error_has(st, VC_ERR_ARG, "[t] n is declared twice");
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_getters_check_type_schema_and_range) {
    vc_status st;
    vc_config *cfg = load_valid("range.ini", "[train]\nbatch = 0\nlr = 2.5\n", &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    int64_t i;
    double d;
    bool b;
    st = vc_config_int_range(cfg, "train", "batch", 1, 4096, &i);
    ck_assert_error_has(st, VC_ERR_FORMAT, "range.ini:2: batch in [train] is 0, outside the allowed range [1, 4096]");
    st = vc_config_double_range(cfg, "train", "lr", 0, 1, &d);
    ck_assert_error_has(st, VC_ERR_FORMAT, "range.ini:3: lr in [train] is 2.5, outside the allowed range [0, 1]");
    st = vc_config_int_range(cfg, "data", "frames", 64, 128, &i);
    ck_assert_error_has(st, VC_ERR_FORMAT, "schema default: frames in [data] is 32");
    ck_assert_int_eq(vc_config_set(cfg, "train.batch=5000"), VC_OK);
    st = vc_config_int_range(cfg, "train", "batch", 1, 4096, &i);
    ck_assert_error_has(st, VC_ERR_FORMAT, "--set train.batch=5000: batch in [train] is 5000");
    ck_assert_int_eq(vc_config_int_range(cfg, "train", "batch", 1, 8192, &i), VC_OK);
    ck_assert_int_eq(i, 5000);
    st = vc_config_bool(cfg, "train", "batch", &b);
    ck_assert_error_has(st, VC_ERR_ARG, "[train] batch is declared int but read as bool");
    st = vc_config_int(cfg, "train", "epochs", &i);
    ck_assert_error_has(st, VC_ERR_ARG, "[train] epochs is not in the schema");
    vc_config_free(cfg);
}
END_TEST

START_TEST(test_unused_keys_are_reported_once) {
    vc_status st;
    vc_config *cfg = load_valid("unused.ini", "[model]\ntype = mean\nheads = 4\n[train]\nbatch = 2\n", &st);
    ck_assert_msg(cfg, "%s", vc_last_error());
    ck_assert_int_eq(vc_config_set(cfg, "train.batch=3"), VC_OK);
    int e;
    ck_assert_int_eq(vc_config_enum(cfg, "model", "type", &e), VC_OK);
    char *report;
    ck_assert_int_eq(vc_config_unused(cfg, &report), VC_OK);
    ck_assert_ptr_nonnull(report);
    ck_assert_msg(strstr(report, "unused.ini:3: [model] heads is set but never read\n"), "%s", report);
    ck_assert_msg(strstr(report, "--set train.batch=3: [train] batch is set but never read\n"), "%s", report);
    ck_assert_msg(strstr(report, "unused.ini:5") == NULL, "shadowed entry reported: %s", report);
    free(report);
    int64_t i;
    ck_assert_int_eq(vc_config_int(cfg, "model", "heads", &i), VC_OK);
    ck_assert_int_eq(vc_config_int(cfg, "train", "batch", &i), VC_OK);
    ck_assert_int_eq(vc_config_unused(cfg, &report), VC_OK);
    ck_assert_ptr_null(report);
    vc_config_free(cfg);
}
END_TEST

/* Every schema key read through its own getter, as text, for comparisons. */
static void effective_values(vc_config *cfg, char out[][256]) {
    for (size_t k = 0; k < NSCHEMA; k++) {
        const vc_config_key *key = &schema[k];
        int64_t i;
        double d;
        bool b;
        int e;
        const char *s;
        vc_status st = VC_OK;
        switch (key->type) {
        case VC_CFG_INT: st = vc_config_int(cfg, key->section, key->key, &i); snprintf(out[k], 256, "%lld", (long long)i); break;
        case VC_CFG_DOUBLE: st = vc_config_double(cfg, key->section, key->key, &d); snprintf(out[k], 256, "%a", d); break;
        case VC_CFG_BOOL: st = vc_config_bool(cfg, key->section, key->key, &b); snprintf(out[k], 256, "%d", b); break;
        case VC_CFG_STRING: st = vc_config_string(cfg, key->section, key->key, &s); snprintf(out[k], 256, "'%s'", s); break;
        case VC_CFG_ENUM: st = vc_config_enum(cfg, key->section, key->key, &e); snprintf(out[k], 256, "%d", e); break;
        }
        ck_assert_msg(st == VC_OK, "%s", vc_last_error());
    }
}

START_TEST(test_effective_config_round_trips) {
    vc_config *cfg;
    ck_assert_int_eq(vc_config_load(&cfg, write_ini("rt.ini", "[train]\nlr = 0.1\nschedule = constant\n"
                                                              "[model]\nresidual = no\n[data]\nnote = a b  c\n")),
                     VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, "train.batch=77"), VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, "data.file=/x/y=z.h5"), VC_OK);
    ck_assert_int_eq(vc_config_set(cfg, "model.type=wavg"), VC_OK);
    ck_assert_int_eq(vc_config_validate(cfg, schema, NSCHEMA), VC_OK);
    char *text;
    ck_assert_int_eq(vc_config_text(cfg, &text), VC_OK);
    ck_assert_msg(strstr(text, "\n[train]\n") && strstr(text, "\nbatch = 77\n") && strstr(text, "\nout = runs/demo\n"),
                  "%s", text);
    ck_assert_msg(strstr(text, "(default)") && strstr(text, "(--set)"), "%s", text);
    /* Sections come in schema order. */
    ck_assert(strstr(text, "[data]") < strstr(text, "[model]"));
    ck_assert(strstr(text, "[model]") < strstr(text, "[train]"));
    ck_assert(strstr(text, "[train]") < strstr(text, "[eval]"));

    vc_config *back;
    ck_assert_int_eq(vc_config_parse(&back, text, "metadata"), VC_OK);
    ck_assert_msg(vc_config_validate(back, schema, NSCHEMA) == VC_OK, "%s", vc_last_error());
    char a[NSCHEMA][256], b[NSCHEMA][256];
    effective_values(cfg, a);
    effective_values(back, b);
    for (size_t k = 0; k < NSCHEMA; k++)
        ck_assert_msg(!strcmp(a[k], b[k]), "[%s] %s: %s became %s", schema[k].section, schema[k].key, a[k], b[k]);
    ck_assert_str_eq(b[2], "'a b  c'");
    ck_assert_str_eq(b[0], "'/x/y=z.h5'");

    /* Saved to a file, loaded again: the same values, and the same text. */
    char path[4096];
    snprintf(path, sizeof path, "%s/effective.ini", vc_test_tmpdir());
    ck_assert_int_eq(vc_config_save(back, path), VC_OK);
    vc_config *again;
    ck_assert_int_eq(vc_config_load(&again, path), VC_OK);
    ck_assert_int_eq(vc_config_validate(again, schema, NSCHEMA), VC_OK);
    effective_values(again, b);
    for (size_t k = 0; k < NSCHEMA; k++) ck_assert_str_eq(a[k], b[k]);
    char *text2;
    ck_assert_int_eq(vc_config_text(again, &text2), VC_OK);
    /* Only the origin notes may differ ((--set) becomes a file value). */
    ck_assert_int_eq(strstr(text2, "(--set)") == NULL, 1);
    free(text);
    free(text2);
    vc_config_free(cfg);
    vc_config_free(back);
    vc_config_free(again);
}
END_TEST

START_TEST(test_write_needs_a_schema) {
    vc_config *cfg;
    ck_assert_int_eq(vc_config_parse(&cfg, "[train]\nbatch = 1\n", "x"), VC_OK);
    char *text = (char *)"sentinel";
    vc_status st = vc_config_text(cfg, &text);
    ck_assert_error_has(st, VC_ERR_ARG, "needs vc_config_validate");
    ck_assert_ptr_null(text);
    vc_config_free(cfg);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_parse_gives_typed_values);
    tcase_add_test(tc, test_every_bool_spelling_is_accepted);
    tcase_add_test(tc, test_schema_defaults_fill_absent_keys);
    tcase_add_test(tc, test_unknown_key_names_file_line_and_suggests_the_near_one);
    tcase_add_test(tc, test_unknown_section_names_file_and_header_line);
    tcase_add_test(tc, test_bad_values_name_file_line_key_and_expected_type);
    tcase_add_test(tc, test_set_overrides_win_over_the_file_and_later_ones_win);
    tcase_add_test(tc, test_bad_overrides_are_errors_naming_the_override);
    tcase_add_test(tc, test_comments_and_whitespace);
    tcase_add_test(tc, test_syntax_errors_name_file_and_line);
    tcase_add_test(tc, test_duplicate_keys_name_both_lines);
    tcase_add_test(tc, test_missing_file_is_an_io_error_naming_it);
    tcase_add_test(tc, test_empty_values_and_empty_file);
    tcase_add_test(tc, test_required_keys_and_bad_schemas);
    tcase_add_test(tc, test_getters_check_type_schema_and_range);
    tcase_add_test(tc, test_unused_keys_are_reported_once);
    tcase_add_test(tc, test_effective_config_round_trips);
    tcase_add_test(tc, test_write_needs_a_schema);
    suite_add_tcase(s, tc);
    return s;
}

VC_TEST_MAIN(make_suite)
