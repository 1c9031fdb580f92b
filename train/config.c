/* config.c: INI parsing through inih, overrides, schema checks, typed getters
 * and the effective-config writer. See config.h for the rules users see. */
#include "train/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One key = value as read from the file or given by --set. Overrides are
 * appended after the file's entries; the last entry for a key wins. */
typedef struct {
    char *section, *key, *value;
    char *where;  /* "demo.ini:12" or "--set train.lr=1e-3": prefix of messages */
    int line;     /* file line, 0 for an override, -1 for a resolved default (vc_config_resolve) */
    bool used;
} cfg_entry;

typedef struct {
    char *name;
    int line;
} cfg_section;

struct vc_config {
    char *name;  /* file path or the name given to vc_config_parse */
    cfg_entry *ent;
    size_t n, cap;
    cfg_section *sec;  /* every [section] header, so empty ones are checked too */
    size_t nsec, capsec;
    const vc_config_key *schema;
    size_t nschema;
};

/* ---- small string helpers ---- */

static char *dup_range(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *dup_str(const char *s) { return dup_range(s, strlen(s)); }

/* Trims [*b, *e) in place of the pointers. */
static void trim_range(const char **b, const char **e) {
    while (*b < *e && isspace((unsigned char)**b)) (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1])) (*e)--;
}

static char *dup_trimmed(const char *b, const char *e) {
    trim_range(&b, &e);
    return dup_range(b, (size_t)(e - b));
}

/* Where a value would be cut by the comment rule: ';' or '#' at its start or
 * after whitespace. NULL when there is none. */
static const char *comment_start(const char *s) {
    for (const char *p = s; *p; p++)
        if ((*p == ';' || *p == '#') && (p == s || p[-1] == ' ' || p[-1] == '\t')) return p;
    return NULL;
}

/* Levenshtein distance, for "did you mean"; long strings are never close. */
static size_t edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= nb; j++) row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* Close enough to be a typo: at most 2 edits and fewer than the word's length. */
static bool is_close(const char *typed, const char *known, size_t *dist) {
    size_t d = edit_distance(typed, known);
    size_t len = strlen(known);
    *dist = d;
    return d <= 2 && d < len;
}

/* ---- entries ---- */

static vc_status add_entry(vc_config *cfg, const char *section, const char *key, const char *value,
                           const char *where, int line) {
    if (cfg->n == cfg->cap) {
        size_t cap = cfg->cap ? 2 * cfg->cap : 16;
        cfg_entry *e = realloc(cfg->ent, cap * sizeof *e);
        if (!e) return vc_fail(VC_ERR_OOM, "config %s: out of memory for %zu entries", cfg->name, cap);
        cfg->ent = e;
        cfg->cap = cap;
    }
    cfg_entry *e = &cfg->ent[cfg->n];
    e->section = dup_str(section);
    e->key = dup_str(key);
    e->value = dup_str(value);
    e->where = dup_str(where);
    e->line = line;
    e->used = false;
    if (!e->section || !e->key || !e->value || !e->where) {
        free(e->section), free(e->key), free(e->value), free(e->where);
        return vc_fail(VC_ERR_OOM, "config %s: out of memory storing [%s] %s", cfg->name, section, key);
    }
    cfg->n++;
    return VC_OK;
}

static cfg_entry *last_entry(const vc_config *cfg, const char *section, const char *key) {
    for (size_t i = cfg->n; i-- > 0;)
        if (!strcmp(cfg->ent[i].section, section) && !strcmp(cfg->ent[i].key, key)) return &cfg->ent[i];
    return NULL;
}

static const vc_config_key *schema_key(const vc_config_key *schema, size_t n, const char *section,
                                       const char *key) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(schema[i].section, section) && !strcmp(schema[i].key, key)) return &schema[i];
    return NULL;
}

static bool schema_has_section(const vc_config_key *schema, size_t n, const char *section) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(schema[i].section, section)) return true;
    return false;
}

/* ---- value parsing ---- */

static bool parse_int(const char *s, int64_t *out) {
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out) {
    if (!*s || isspace((unsigned char)*s)) return false;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out) {
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) return *out = true, true;
        if (!strcasecmp(s, no[i])) return *out = false, true;
    }
    return false;
}

/* Index of s among "a|b|c", or -1. */
static int enum_index(const char *choices, const char *s) {
    size_t n = strlen(s);
    int idx = 0;
    for (const char *p = choices;; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, s, n)) return idx;
        if (!bar) return -1;
        p = bar + 1;
    }
}

static const char *type_expect(vc_config_type t) {
    switch (t) {
    case VC_CFG_INT: return "an integer";
    case VC_CFG_DOUBLE: return "a finite number";
    case VC_CFG_BOOL: return "a boolean (true/false, yes/no, on/off, 1/0)";
    case VC_CFG_STRING: return "a string";
    case VC_CFG_ENUM: return "one of";
    }
    return "?";
}

static const char *type_name(vc_config_type t) {
    switch (t) {
    case VC_CFG_INT: return "int";
    case VC_CFG_DOUBLE: return "double";
    case VC_CFG_BOOL: return "bool";
    case VC_CFG_STRING: return "string";
    case VC_CFG_ENUM: return "enum";
    }
    return "?";
}

static bool value_ok(const vc_config_key *k, const char *v) {
    int64_t i;
    double d;
    bool b;
    switch (k->type) {
    case VC_CFG_INT: return parse_int(v, &i);
    case VC_CFG_DOUBLE: return parse_double(v, &d);
    case VC_CFG_BOOL: return parse_bool(v, &b);
    case VC_CFG_STRING: return true;
    case VC_CFG_ENUM: return enum_index(k->choices, v) >= 0;
    }
    return false;
}

static vc_status bad_value(const char *where, const vc_config_key *k, const char *v) {
    const char *shown = *v ? v : "";
    const char *note = *v ? "" : " (the value is empty)";
    if (k->type == VC_CFG_ENUM)
        return vc_fail(VC_ERR_FORMAT, "%s: bad value '%s' for %s in [%s]: expected one of %s%s", where, shown,
                       k->key, k->section, k->choices, note);
    return vc_fail(VC_ERR_FORMAT, "%s: bad value '%s' for %s in [%s]: expected %s%s", where, shown, k->key,
                   k->section, type_expect(k->type), note);
}

/* Unknown section or key, with a suggestion when one is close. */
static vc_status unknown_section(const char *where, const vc_config_key *schema, size_t n, const char *section) {
    const char *best = NULL;
    size_t best_d = (size_t)-1, d;
    char known[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(schema[j].section, schema[i].section)) first = false;
        if (!first) continue;
        if (is_close(section, schema[i].section, &d) && d < best_d) best = schema[i].section, best_d = d;
        int w = snprintf(known + used, sizeof known - used, "%s[%s]", used ? " " : "", schema[i].section);
        if (w > 0 && (size_t)w < sizeof known - used) used += (size_t)w;
    }
    if (best)
        return vc_fail(VC_ERR_FORMAT, "%s: unknown section [%s] (did you mean [%s]?)", where, section, best);
    return vc_fail(VC_ERR_FORMAT, "%s: unknown section [%s] (known sections: %s)", where, section, known);
}

static vc_status unknown_key(const char *where, const vc_config_key *schema, size_t n, const char *section,
                             const char *key) {
    const char *best = NULL, *elsewhere = NULL;
    size_t best_d = (size_t)-1, d;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(schema[i].section, section)) {
            if (!strcmp(schema[i].key, key) && !elsewhere) elsewhere = schema[i].section;
            continue;
        }
        if (is_close(key, schema[i].key, &d) && d < best_d) best = schema[i].key, best_d = d;
    }
    if (best)
        return vc_fail(VC_ERR_FORMAT, "%s: unknown key '%s' in [%s] (did you mean '%s'?)", where, key, section, best);
    if (elsewhere)
        return vc_fail(VC_ERR_FORMAT, "%s: unknown key '%s' in [%s] (it belongs in [%s])", where, key, section,
                       elsewhere);
    return vc_fail(VC_ERR_FORMAT, "%s: unknown key '%s' in [%s]", where, key, section);
}

static vc_status check_entry(const cfg_entry *e, const vc_config_key *schema, size_t n) {
    if (!schema_has_section(schema, n, e->section)) return unknown_section(e->where, schema, n, e->section);
    const vc_config_key *k = schema_key(schema, n, e->section, e->key);
    if (!k) return unknown_key(e->where, schema, n, e->section, e->key);
    if (!value_ok(k, e->value)) return bad_value(e->where, k, e->value);
    return VC_OK;
}

/* ---- parsing through inih ---- */

typedef struct {
    vc_config *cfg;
    FILE *f;           /* file source, or */
    const char *text;  /* text source */
    size_t pos;
    char *raw;  /* current raw line */
    size_t rawcap;
    int line;   /* number of the line last handed to inih */
    char **lines;  /* every processed line, to quote it in a syntax error */
    size_t nlines, caplines;
    vc_status err;  /* first error our callbacks found, and its line */
    int err_line;
} parse_ctx;

static vc_status ctx_fail_oom(parse_ctx *c) {
    c->err = vc_fail(VC_ERR_OOM, "config %s: line %d: out of memory for the line and its section", c->cfg->name,
                     c->line);
    c->err_line = c->line;
    return c->err;
}

/* Next raw line without its line break into c->raw; false at the end. */
static bool next_raw_line(parse_ctx *c) {
    if (c->f) {
        ssize_t len = getline(&c->raw, &c->rawcap, c->f);
        if (len < 0) return false;
        while (len > 0 && (c->raw[len - 1] == '\n' || c->raw[len - 1] == '\r')) c->raw[--len] = '\0';
        return true;
    }
    if (!c->text[c->pos]) return false;
    const char *s = c->text + c->pos;
    size_t len = strcspn(s, "\n");
    c->pos += len + (s[len] == '\n');
    if (len + 1 > c->rawcap) {
        char *p = realloc(c->raw, len + 1);
        if (!p) {
            ctx_fail_oom(c);
            return false;
        }
        c->raw = p;
        c->rawcap = len + 1;
    }
    memcpy(c->raw, s, len);
    while (len > 0 && c->raw[len - 1] == '\r') len--;
    c->raw[len] = '\0';
    return true;
}

/* inih's fgets-style reader. Feeding inih one cleaned line per call keeps its
 * line numbers equal to ours, strips '#' comments it does not know inline,
 * and, by removing indentation, turns off its multi-line continuation rule
 * (an indented "key = v" would otherwise be glued onto the previous value). */
static char *read_line_for_inih(char *buf, int num, void *stream) {
    parse_ctx *c = stream;
    if (c->err || !next_raw_line(c)) return NULL;
    c->line++;
    char *s = c->raw;
    if (c->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3)) s += 3;
    while (isspace((unsigned char)*s)) s++;
    char *cut = (char *)comment_start(s);
    if (cut) *cut = '\0';
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) s[--len] = '\0';
    size_t max = VC_CONFIG_LINE_MAX;
    if (num - 3 < (int)max) max = num > 3 ? (size_t)(num - 3) : 0;
    if (len > max) {
        c->err = vc_fail(VC_ERR_FORMAT, "%s:%d: line is longer than %zu characters", c->cfg->name, c->line, max);
        c->err_line = c->line;
        return NULL;
    }
    if (c->nlines == c->caplines) {
        size_t cap = c->caplines ? 2 * c->caplines : 64;
        char **p = realloc(c->lines, cap * sizeof *p);
        if (!p) return ctx_fail_oom(c), NULL;
        c->lines = p;
        c->caplines = cap;
    }
    if (!(c->lines[c->nlines] = dup_str(s))) return ctx_fail_oom(c), NULL;
    c->nlines++;
    if (s[0] == '[') {
        char *close = strchr(s, ']');
        if (close) {
            vc_config *cfg = c->cfg;
            if (cfg->nsec == cfg->capsec) {
                size_t cap = cfg->capsec ? 2 * cfg->capsec : 8;
                cfg_section *p = realloc(cfg->sec, cap * sizeof *p);
                if (!p) return ctx_fail_oom(c), NULL;
                cfg->sec = p;
                cfg->capsec = cap;
            }
            char *name = dup_trimmed(s + 1, close);
            if (!name) return ctx_fail_oom(c), NULL;
            cfg->sec[cfg->nsec].name = name;
            cfg->sec[cfg->nsec].line = c->line;
            cfg->nsec++;
        }
    }
    memcpy(buf, s, len);
    buf[len] = '\n';
    buf[len + 1] = '\0';
    return buf;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
    parse_ctx *c = user;
    vc_config *cfg = c->cfg;
    if (c->err) return 0;
    if (!name) return 1;  /* a new-section call, when inih is built to make them */
    char where[512];
    snprintf(where, sizeof where, "%s:%d", cfg->name, c->line);
    char *sec = dup_trimmed(section, section + strlen(section));
    if (!sec) return ctx_fail_oom(c), 0;
    vc_status st = VC_OK;
    if (!*name)
        st = vc_fail(VC_ERR_FORMAT, "%s: missing key before '='", where);
    else if (!*sec)
        st = vc_fail(VC_ERR_FORMAT, "%s: key '%s' is outside any [section]", where, name);
    else {
        for (size_t i = 0; i < cfg->n && st == VC_OK; i++)
            if (!strcmp(cfg->ent[i].section, sec) && !strcmp(cfg->ent[i].key, name))
                st = vc_fail(VC_ERR_FORMAT, "%s: duplicate key '%s' in [%s] (first set on line %d)", where, name, sec,
                             cfg->ent[i].line);
        if (st == VC_OK) st = add_entry(cfg, sec, name, value ? value : "", where, c->line);
    }
    free(sec);
    if (st != VC_OK) {
        c->err = st;
        c->err_line = c->line;
        return 0;
    }
    return 1;
}

static vc_status run_parse(vc_config **out, const char *name, FILE *f, const char *text) {
    *out = NULL;
    vc_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->name = dup_str(name))) {
        free(cfg);
        return vc_fail(VC_ERR_OOM, "config %s: out of memory for the config (%zu bytes)", name, sizeof *cfg);
    }
    parse_ctx c = {.cfg = cfg, .f = f, .text = text};
    int rc = ini_parse_stream(read_line_for_inih, &c, on_key, &c);
    vc_status st = c.err;
    /* inih reports the first line it rejected; one before ours was a syntax error. */
    if (rc > 0 && (!c.err || rc < c.err_line)) {
        const char *shown = (size_t)rc <= c.nlines ? c.lines[rc - 1] : "";
        if (shown[0] == '[')
            st = vc_fail(VC_ERR_FORMAT, "%s:%d: section header '%.60s' has no closing ']'", name, rc, shown);
        else
            st = vc_fail(VC_ERR_FORMAT, "%s:%d: expected '[section]', 'key = value' or a comment, got '%.60s'", name,
                         rc, shown);
    } else if (rc < 0 && !c.err) {
        st = vc_fail(VC_ERR_OOM, "config %s: inih could not allocate its line buffer", name);
    }
    for (size_t i = 0; i < c.nlines; i++) free(c.lines[i]);
    free(c.lines);
    free(c.raw);
    if (st != VC_OK) {
        vc_config_free(cfg);
        return st;
    }
    *out = cfg;
    return VC_OK;
}

vc_status vc_config_load(vc_config **out, const char *path) {
    if (!out || !path) return vc_fail(VC_ERR_ARG, "vc_config_load: NULL argument");
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return vc_fail(VC_ERR_IO, "config %s: cannot open: %s", path, strerror(errno));
    vc_status st = run_parse(out, path, f, NULL);
    if (st == VC_OK && ferror(f)) {
        vc_config_free(*out);
        *out = NULL;
        st = vc_fail(VC_ERR_IO, "config %s: read error", path);
    }
    fclose(f);
    return st;
}

vc_status vc_config_parse(vc_config **out, const char *text, const char *name) {
    if (!out || !text) return vc_fail(VC_ERR_ARG, "vc_config_parse: NULL argument");
    return run_parse(out, name ? name : "(config text)", NULL, text);
}

/* ---- overrides ---- */

vc_status vc_config_set(vc_config *cfg, const char *ov) {
    if (!cfg || !ov) return vc_fail(VC_ERR_ARG, "vc_config_set: NULL argument");
    const char *eq = strchr(ov, '=');
    if (!eq) return vc_fail(VC_ERR_ARG, "--set %s: expected section.key=value", ov);
    const char *dot = memchr(ov, '.', (size_t)(eq - ov));
    const char *sb = ov, *se = dot ? dot : eq, *kb = dot ? dot + 1 : eq, *ke = eq;
    trim_range(&sb, &se);
    trim_range(&kb, &ke);
    if (!dot || sb == se || kb == ke)
        return vc_fail(VC_ERR_ARG, "--set %s: expected section.key=value (like train.lr=1e-4)", ov);
    const char *vb = eq + 1, *ve = eq + strlen(eq);
    trim_range(&vb, &ve);
    if (memchr(vb, '\n', (size_t)(ve - vb)) || memchr(vb, '\r', (size_t)(ve - vb)))
        return vc_fail(VC_ERR_ARG, "--set %s: the value contains a line break", ov);
    char *section = dup_range(sb, (size_t)(se - sb)), *key = dup_range(kb, (size_t)(ke - kb));
    char *value = dup_range(vb, (size_t)(ve - vb));
    size_t wlen = strlen(ov) + 8;
    char *where = malloc(wlen);
    vc_status st = VC_OK;
    if (!section || !key || !value || !where) {
        st = vc_fail(VC_ERR_OOM, "--set %s: out of memory for its section, key and value", ov);
        goto done;
    }
    snprintf(where, wlen, "--set %s", ov);
    /* The effective config is written as INI: refuse what would not read back. */
    if (comment_start(value))
        st = vc_fail(VC_ERR_ARG, "%s: the value cannot hold ';' or '#' at its start or after a space "
                     "(they start a comment in INI files)", where);
    else if (strlen(key) + 3 + strlen(value) > VC_CONFIG_LINE_MAX)
        st = vc_fail(VC_ERR_ARG, "%s: key and value are longer than %d characters", where, VC_CONFIG_LINE_MAX - 3);
    else if (strpbrk(section, "[]") || strpbrk(key, "=:;#[]") || strchr(key, ' '))
        st = vc_fail(VC_ERR_ARG, "%s: '%s.%s' is not a valid section.key", where, section, key);
    if (st != VC_OK) goto done;
    if (cfg->schema) {
        cfg_entry probe = {.section = section, .key = key, .value = value, .where = where};
        if ((st = check_entry(&probe, cfg->schema, cfg->nschema)) != VC_OK) goto done;
    }
    st = add_entry(cfg, section, key, value, where, 0);
done:
    free(section), free(key), free(value), free(where);
    return st;
}

vc_status vc_config_resolve(vc_config *cfg, const char *section, const char *key, const char *value) {
    if (!cfg || !section || !key || !value) return vc_fail(VC_ERR_ARG, "vc_config_resolve: NULL argument");
    vc_status st = add_entry(cfg, section, key, value, "the type's default", -1);
    if (!st) cfg->ent[cfg->n - 1].used = true;
    return st;
}

/* ---- schema ---- */

static vc_status check_schema(const vc_config_key *schema, size_t n) {
    if (!schema && n) return vc_fail(VC_ERR_ARG, "config schema: NULL table");
    for (size_t i = 0; i < n; i++) {
        const vc_config_key *k = &schema[i];
        if (!k->section || !k->key || !*k->section || !*k->key)
            return vc_fail(VC_ERR_ARG, "config schema: entry %zu has no section or key", i);
        if ((unsigned)k->type > VC_CFG_ENUM)
            return vc_fail(VC_ERR_ARG, "config schema: [%s] %s has an unknown type", k->section, k->key);
        if (k->doc && strpbrk(k->doc, "\r\n"))
            return vc_fail(VC_ERR_ARG, "config schema: the doc of [%s] %s is not one line", k->section, k->key);
        if (k->type == VC_CFG_ENUM && (!k->choices || !*k->choices))
            return vc_fail(VC_ERR_ARG, "config schema: enum [%s] %s lists no choices", k->section, k->key);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(schema[j].section, k->section) && !strcmp(schema[j].key, k->key))
                return vc_fail(VC_ERR_ARG, "config schema: [%s] %s is declared twice", k->section, k->key);
        if (k->def && !value_ok(k, k->def))
            return vc_fail(VC_ERR_ARG, "config schema: default '%s' of [%s] %s is not %s %s", k->def, k->section,
                           k->key, type_expect(k->type), k->type == VC_CFG_ENUM ? k->choices : "");
        if (k->def && (comment_start(k->def) || strpbrk(k->def, "\r\n") ||
                       (*k->def && (isspace((unsigned char)k->def[0]) ||
                                    isspace((unsigned char)k->def[strlen(k->def) - 1])))))
            return vc_fail(VC_ERR_ARG, "config schema: default of [%s] %s would not survive an INI file", k->section,
                           k->key);
    }
    return VC_OK;
}

vc_status vc_config_validate(vc_config *cfg, const vc_config_key *schema, size_t n) {
    if (!cfg) return vc_fail(VC_ERR_ARG, "vc_config_validate: NULL config");
    vc_status st = check_schema(schema, n);
    if (st != VC_OK) return st;
    /* Sections first (their header line is the better place to point at),
     * then keys and values in file order, then overrides. */
    for (size_t i = 0; i < cfg->nsec; i++)
        if (!schema_has_section(schema, n, cfg->sec[i].name)) {
            char where[512];
            snprintf(where, sizeof where, "%s:%d", cfg->name, cfg->sec[i].line);
            return unknown_section(where, schema, n, cfg->sec[i].name);
        }
    for (size_t i = 0; i < cfg->n; i++)
        if ((st = check_entry(&cfg->ent[i], schema, n)) != VC_OK) return st;
    for (size_t i = 0; i < n; i++)
        if (!schema[i].def && !last_entry(cfg, schema[i].section, schema[i].key))
            return vc_fail(VC_ERR_FORMAT, "%s: [%s] %s is required (%s)", cfg->name, schema[i].section, schema[i].key,
                           schema[i].doc ? schema[i].doc : "no default");
    cfg->schema = schema;
    cfg->nschema = n;
    return VC_OK;
}

/* ---- getters ---- */

/* The effective text of a key and where it came from ("default of ..."
 * for schema defaults), checking the getter's type against the schema. */
static vc_status lookup(vc_config *cfg, const char *section, const char *key, vc_config_type want,
                        const char **value, const char **where, const vc_config_key **kout) {
    if (!cfg || !section || !key) return vc_fail(VC_ERR_ARG, "config lookup: NULL argument");
    const vc_config_key *k = NULL;
    if (cfg->schema) {
        k = schema_key(cfg->schema, cfg->nschema, section, key);
        if (!k) return vc_fail(VC_ERR_ARG, "config %s: [%s] %s is not in the schema", cfg->name, section, key);
        bool string_of_enum = want == VC_CFG_STRING && k->type == VC_CFG_ENUM;
        if (k->type != want && !string_of_enum)
            return vc_fail(VC_ERR_ARG, "config %s: [%s] %s is declared %s but read as %s", cfg->name, section, key,
                           type_name(k->type), type_name(want));
    }
    *kout = k;
    cfg_entry *e = last_entry(cfg, section, key);
    if (e) {
        for (size_t i = 0; i < cfg->n; i++)
            if (!strcmp(cfg->ent[i].section, section) && !strcmp(cfg->ent[i].key, key)) cfg->ent[i].used = true;
        *value = e->value;
        *where = e->where;
        return VC_OK;
    }
    if (k && k->def) {
        *value = k->def;
        *where = "schema default";
        return VC_OK;
    }
    return vc_fail(VC_ERR_FORMAT, "%s: [%s] %s is not set", cfg->name, section, key);
}

/* A type error here means the value bypassed vc_config_validate. */
static vc_status getter_bad(const char *where, const char *section, const char *key, vc_config_type t,
                            const vc_config_key *k, const char *v) {
    if (k) return bad_value(where, k, v);
    vc_config_key tmp = {.section = section, .key = key, .type = t};
    return bad_value(where, &tmp, v);
}

vc_status vc_config_int(vc_config *cfg, const char *section, const char *key, int64_t *out) {
    const char *v, *where;
    const vc_config_key *k;
    vc_status st = lookup(cfg, section, key, VC_CFG_INT, &v, &where, &k);
    if (st != VC_OK) return st;
    if (!parse_int(v, out)) return getter_bad(where, section, key, VC_CFG_INT, k, v);
    return VC_OK;
}

vc_status vc_config_int_range(vc_config *cfg, const char *section, const char *key, int64_t min, int64_t max,
                              int64_t *out) {
    int64_t x = 0;
    vc_status st = vc_config_int(cfg, section, key, &x);
    if (st != VC_OK) return st;
    if (x < min || x > max) {
        const char *v, *where;
        const vc_config_key *k;
        lookup(cfg, section, key, VC_CFG_INT, &v, &where, &k);
        return vc_fail(VC_ERR_FORMAT, "%s: %s in [%s] is %lld, outside the allowed range [%lld, %lld]", where, key,
                       section, (long long)x, (long long)min, (long long)max);
    }
    *out = x;
    return VC_OK;
}

vc_status vc_config_double(vc_config *cfg, const char *section, const char *key, double *out) {
    const char *v, *where;
    const vc_config_key *k;
    vc_status st = lookup(cfg, section, key, VC_CFG_DOUBLE, &v, &where, &k);
    if (st != VC_OK) return st;
    if (!parse_double(v, out)) return getter_bad(where, section, key, VC_CFG_DOUBLE, k, v);
    return VC_OK;
}

vc_status vc_config_double_range(vc_config *cfg, const char *section, const char *key, double min, double max,
                                 double *out) {
    double x = 0;
    vc_status st = vc_config_double(cfg, section, key, &x);
    if (st != VC_OK) return st;
    if (!(x >= min && x <= max)) {
        const char *v, *where;
        const vc_config_key *k;
        lookup(cfg, section, key, VC_CFG_DOUBLE, &v, &where, &k);
        return vc_fail(VC_ERR_FORMAT, "%s: %s in [%s] is %s, outside the allowed range [%g, %g]", where, key, section,
                       v, min, max);
    }
    *out = x;
    return VC_OK;
}

vc_status vc_config_bool(vc_config *cfg, const char *section, const char *key, bool *out) {
    const char *v, *where;
    const vc_config_key *k;
    vc_status st = lookup(cfg, section, key, VC_CFG_BOOL, &v, &where, &k);
    if (st != VC_OK) return st;
    if (!parse_bool(v, out)) return getter_bad(where, section, key, VC_CFG_BOOL, k, v);
    return VC_OK;
}

vc_status vc_config_string(vc_config *cfg, const char *section, const char *key, const char **out) {
    const char *v, *where;
    const vc_config_key *k;
    vc_status st = lookup(cfg, section, key, VC_CFG_STRING, &v, &where, &k);
    if (st != VC_OK) return st;
    *out = v;
    return VC_OK;
}

vc_status vc_config_enum(vc_config *cfg, const char *section, const char *key, int *out) {
    if (!cfg || !cfg->schema)
        return vc_fail(VC_ERR_ARG, "config: [%s] %s read as an enum before vc_config_validate", section, key);
    const char *v, *where;
    const vc_config_key *k;
    vc_status st = lookup(cfg, section, key, VC_CFG_ENUM, &v, &where, &k);
    if (st != VC_OK) return st;
    int idx = enum_index(k->choices, v);
    if (idx < 0) return bad_value(where, k, v);
    *out = idx;
    return VC_OK;
}

/* ---- writing ---- */

vc_status vc_config_write(const vc_config *cfg, FILE *f) {
    if (!cfg || !f) return vc_fail(VC_ERR_ARG, "vc_config_write: NULL argument");
    if (!cfg->schema) return vc_fail(VC_ERR_ARG, "config %s: vc_config_write needs vc_config_validate first", cfg->name);
    const vc_config_key *s = cfg->schema;
    size_t n = cfg->nschema;
    fprintf(f, "; vclip effective configuration: every key, with defaults filled in\n"
               "; and --set overrides applied (read from %s)\n", cfg->name);
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s[j].section, s[i].section)) first = false;
        if (!first) continue;
        fprintf(f, "\n[%s]\n", s[i].section);
        for (size_t j = i; j < n; j++) {
            if (strcmp(s[j].section, s[i].section)) continue;
            const cfg_entry *e = last_entry(cfg, s[j].section, s[j].key);
            const char *origin = !e ? " (default)" : e->line < 0 ? " (default for the type)" : e->line ? "" : " (--set)";
            fprintf(f, "; %s%s", s[j].doc ? s[j].doc : "", origin);
            if (s[j].type == VC_CFG_ENUM) fprintf(f, "; one of %s", s[j].choices);
            const char *v = e ? e->value : s[j].def ? s[j].def : "";
            /* A file line at the length limit only fits back without the spaces;
             * a value that starts with ';' or '#' (a file's "key =;x") only
             * reads back without the space before it, which would start a comment. */
            bool tight = strlen(s[j].key) + 3 + strlen(v) > VC_CONFIG_LINE_MAX || v[0] == ';' || v[0] == '#';
            fprintf(f, "\n%s%s%s\n", s[j].key, tight ? "=" : " = ", v);
        }
    }
    if (ferror(f)) return vc_fail(VC_ERR_IO, "config %s: write error", cfg->name);
    return VC_OK;
}

vc_status vc_config_text(const vc_config *cfg, char **out) {
    if (!out) return vc_fail(VC_ERR_ARG, "vc_config_text: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return vc_fail(VC_ERR_OOM, "vc_config_text: out of memory for an in-memory stream");
    vc_status st = vc_config_write(cfg, f);
    if (fclose(f) != 0 && st == VC_OK) st = vc_fail(VC_ERR_OOM, "vc_config_text: out of memory for the text (%zu bytes)", len);
    if (st != VC_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return VC_OK;
}

vc_status vc_config_save(const vc_config *cfg, const char *path) {
    if (!cfg || !path) return vc_fail(VC_ERR_ARG, "vc_config_save: NULL argument");
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) return vc_fail(VC_ERR_OOM, "config %s: out of memory for the temporary file's name", path);
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        vc_status st = vc_fail(VC_ERR_IO, "config %s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    vc_status st = vc_config_write(cfg, f);
    if (fclose(f) != 0 && st == VC_OK) st = vc_fail(VC_ERR_IO, "config %s: write error: %s", tmp, strerror(errno));
    if (st == VC_OK && rename(tmp, path) != 0)
        st = vc_fail(VC_ERR_IO, "config %s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (st != VC_OK) remove(tmp);
    free(tmp);
    return st;
}

vc_status vc_config_unused(const vc_config *cfg, char **out) {
    if (!cfg || !out) return vc_fail(VC_ERR_ARG, "vc_config_unused: NULL argument");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return vc_fail(VC_ERR_OOM, "vc_config_unused: out of memory for an in-memory stream");
    for (size_t i = 0; i < cfg->n; i++) {
        const cfg_entry *e = &cfg->ent[i];
        /* A shadowed entry shares its used flag with the one that wins. */
        if (e->used || last_entry(cfg, e->section, e->key) != e) continue;
        fprintf(f, "%s: [%s] %s is set but never read\n", e->where, e->section, e->key);
    }
    if (fclose(f) != 0) {
        free(buf);
        return vc_fail(VC_ERR_OOM, "vc_config_unused: out of memory for the list (%zu bytes)", len);
    }
    if (len == 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    return VC_OK;
}

void vc_config_free(vc_config *cfg) {
    if (!cfg) return;
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->ent[i].section);
        free(cfg->ent[i].key);
        free(cfg->ent[i].value);
        free(cfg->ent[i].where);
    }
    for (size_t i = 0; i < cfg->nsec; i++) free(cfg->sec[i].name);
    free(cfg->ent);
    free(cfg->sec);
    free(cfg->name);
    free(cfg);
}
