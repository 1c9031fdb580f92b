/* config.h: vclip's INI configuration files (parsed with inih), `--set`
 * overrides, a caller-declared schema, typed lookups with defaults, and the
 * effective configuration written back as INI text. It does not know which
 * sections or keys exist: train/, eval/ and tools/ declare them in a schema.
 *
 *   vc_config *cfg;
 *   vc_config_load(&cfg, "demo.ini");          // syntax, duplicate keys
 *   vc_config_set(cfg, "train.lr=3e-4");        // each --set, in order
 *   vc_config_validate(cfg, schema, n);         // unknown keys, bad values
 *   vc_config_int_range(cfg, "train", "batch", 1, 65536, &batch);
 *   vc_config_save(cfg, "run/config.ini");      // every key, round-trips
 *   vc_config_free(cfg);
 *
 * Every error names where the value came from: "demo.ini:12: unknown key
 * 'lrr' in [train] (did you mean 'lr'?)", "--set train.batch=x: ...".
 *
 * File syntax: `[section]`, `key = value` (or `key: value`), comments on their
 * own line start with ';' or '#', and ';' or '#' after a space ends a value.
 * Keys are case-sensitive; values are trimmed; a key may appear once per
 * section. Lines are limited to VC_CONFIG_LINE_MAX characters (inih's fixed
 * line buffer). Multi-line values are not supported: indentation is ignored. */
#ifndef VC_CONFIG_H
#define VC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/status.h"

#define VC_CONFIG_LINE_MAX 196

typedef struct vc_config vc_config;

typedef enum {
    VC_CFG_INT,     /* decimal integer, int64 range */
    VC_CFG_DOUBLE,  /* finite number as strtod reads it: 1e-4, 0.9, 3 */
    VC_CFG_BOOL,    /* true/false, yes/no, on/off, 1/0 (any case) */
    VC_CFG_STRING,  /* any text, possibly empty */
    VC_CFG_ENUM     /* one of `choices`, exact match */
} vc_config_type;

/* One allowed key. A schema is a static array of these; it must outlive the
 * config it validates. Keys of a section need not be adjacent. */
typedef struct {
    const char *section;
    const char *key;
    vc_config_type type;
    const char *def;      /* default as INI text; NULL: the key is required */
    const char *doc;      /* one line; written as a comment above the key */
    const char *choices;  /* VC_CFG_ENUM only: "cosine|linear|constant" */
} vc_config_key;

/* Table rows without -Wmissing-field-initializers noise:
 *   VC_CFG_KEY("train", "lr", VC_CFG_DOUBLE, "1e-4", "peak learning rate"),
 *   VC_CFG_ENUM_KEY("train", "schedule", "cosine", "cosine|linear|constant", "lr schedule"), */
#define VC_CFG_KEY(section, key, type, def, doc) {(section), (key), (type), (def), (doc), NULL}
#define VC_CFG_ENUM_KEY(section, key, def, choices, doc) {(section), (key), VC_CFG_ENUM, (def), (doc), (choices)}

/* Parses an INI file. Errors: a missing or unreadable file (VC_ERR_IO), a
 * syntax error, a key outside any section, a key repeated within a section,
 * a line over VC_CONFIG_LINE_MAX (VC_ERR_FORMAT), each as "FILE:LINE: ...". */
vc_status vc_config_load(vc_config **out, const char *path);
/* The same for INI text in memory (a checkpoint's stored config; "" gives an
 * empty config); `name` stands for the file name in messages. */
vc_status vc_config_parse(vc_config **out, const char *text, const char *name);

/* Applies one "section.key=value" override (split at the first '.' before
 * the first '='; the value may contain '='; whitespace around parts is
 * trimmed). Overrides beat the file, later overrides beat earlier ones.
 * Before vc_config_validate they are checked by it; after, immediately. */
vc_status vc_config_set(vc_config *cfg, const char *override);

/* Records the value a placeholder default resolved to (model.layers = -1
 * becomes the pooler type's depth), so the effective config holds the number
 * used; it is written with "(default for the type)" and counts as read. */
vc_status vc_config_resolve(vc_config *cfg, const char *section, const char *key, const char *value);

/* Checks the schema itself (VC_ERR_ARG), then every section, key and value of
 * the file and the overrides against it, and that required keys are present
 * (VC_ERR_FORMAT), and attaches it: getters then fall back to its defaults. */
vc_status vc_config_validate(vc_config *cfg, const vc_config_key *schema, size_t n);

/* Typed lookups: the last --set, else the file, else the schema default. The
 * getter must match the key's schema type (VC_ERR_ARG otherwise; string
 * works for enum keys too); reading marks the key used. _range getters fail
 * with the value's origin when it is outside [min, max]. */
vc_status vc_config_int(vc_config *cfg, const char *section, const char *key, int64_t *out);
vc_status vc_config_int_range(vc_config *cfg, const char *section, const char *key,
                              int64_t min, int64_t max, int64_t *out);
vc_status vc_config_double(vc_config *cfg, const char *section, const char *key, double *out);
vc_status vc_config_double_range(vc_config *cfg, const char *section, const char *key,
                                 double min, double max, double *out);
vc_status vc_config_bool(vc_config *cfg, const char *section, const char *key, bool *out);
/* *out stays valid until vc_config_free. */
vc_status vc_config_string(vc_config *cfg, const char *section, const char *key, const char **out);
/* *out is the index of the value in the key's `choices`. */
vc_status vc_config_enum(vc_config *cfg, const char *section, const char *key, int *out);

/* The effective configuration (needs vc_config_validate): every schema key
 * grouped by section in schema order, overrides applied, defaults filled in,
 * each under a comment with its doc. Loading it again gives the same values. */
vc_status vc_config_write(const vc_config *cfg, FILE *f);
/* The same text in a malloc'd string (for checkpoint metadata). */
vc_status vc_config_text(const vc_config *cfg, char **out);
/* The same text written to PATH.tmp, then renamed to PATH. */
vc_status vc_config_save(const vc_config *cfg, const char *path);

/* Keys set in the file or by --set that no getter has read, one line each
 * ("demo.ini:9: [model] heads is set but never read\n") in a malloc'd string,
 * or *out = NULL when every one was read. The caller decides whether to warn. */
vc_status vc_config_unused(const vc_config *cfg, char **out);

void vc_config_free(vc_config *cfg);

#endif
