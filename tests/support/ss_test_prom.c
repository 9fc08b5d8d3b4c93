/*
 * The exposition reader of ss_test_prom.h: a hand-written scanner of the text format's grammar
 * (no regular expressions, so its failures can say where a line went wrong).
 */
#include "ss_test_prom.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_LINE_MAX 4096
#define PROM_FAMILIES_MAX 256
#define PROM_NAME_MAX 128
#define PROM_LABELS_MAX 16

static bool name_char(char c, bool first, bool colons)
{
    return isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c)) ||
           (colons && c == ':');
}

/* A name at *p; advances past it. */
static bool name_scan(const char **p, bool colons, char *out, size_t out_size)
{
    const char *start = *p;
    while (name_char(**p, *p == start, colons)) {
        (*p)++;
    }
    size_t length = (size_t)(*p - start);
    if (length == 0 || length >= out_size) {
        return false;
    }
    memcpy(out, start, length);
    out[length] = '\0';
    return true;
}

static bool number_valid(const char *text)
{
    if (strcmp(text, "NaN") == 0 || strcmp(text, "+Inf") == 0 || strcmp(text, "-Inf") == 0) {
        return true;
    }
    char *end = NULL;
    double value = strtod(text, &end);
    return end != text && *end == '\0' && isfinite(value) && !isalpha((unsigned char)text[0]);
}

/* {name="value",...} at *p (optional); advances past it. */
static bool labels_scan(const char **p)
{
    if (**p != '{') {
        return true;
    }
    (*p)++;
    char name[PROM_NAME_MAX];
    for (int count = 0; **p != '}'; count++) {
        if (count >= PROM_LABELS_MAX || (count > 0 && *(*p)++ != ',') ||
            !name_scan(p, false, name, sizeof(name)) || *(*p)++ != '=' || *(*p)++ != '"') {
            return false;
        }
        while (**p != '"') {
            if (**p == '\0' || **p == '\n') {
                return false;
            }
            if (**p == '\\') {
                (*p)++;
                if (**p != '\\' && **p != '"' && **p != 'n') {
                    return false;
                }
            }
            (*p)++;
        }
        (*p)++;
    }
    (*p)++;
    return true;
}

typedef struct prom_families {
    char names[PROM_FAMILIES_MAX][PROM_NAME_MAX];
    size_t count;
} prom_families_t;

static bool family_known(const prom_families_t *families, const char *name)
{
    for (size_t i = 0; i < families->count; i++) {
        if (strcmp(families->names[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* A sample's family: its name, or the name less a histogram's _bucket, _sum or _count. */
static bool sample_family_known(const prom_families_t *families, const char *name)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    if (family_known(families, name)) {
        return true;
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t length = strlen(name), suffix = strlen(suffixes[i]);
        char base[PROM_NAME_MAX];
        if (length > suffix && strcmp(name + length - suffix, suffixes[i]) == 0) {
            snprintf(base, sizeof(base), "%.*s", (int)(length - suffix), name);
            if (family_known(families, base)) {
                return true;
            }
        }
    }
    return false;
}

static const char *comment_check(const char *line, prom_families_t *families)
{
    static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    const char *p = line + 2;
    char name[PROM_NAME_MAX];
    if (strncmp(p, "HELP ", 5) == 0) {
        p += 5;
        return name_scan(&p, true, name, sizeof(name)) && *p == ' ' ? NULL : "bad HELP line";
    }
    if (strncmp(p, "TYPE ", 5) != 0) {
        return NULL; /* any other comment is allowed */
    }
    p += 5;
    if (!name_scan(&p, true, name, sizeof(name)) || *p++ != ' ') {
        return "bad TYPE line";
    }
    bool typed = false;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        typed |= strcmp(p, types[i]) == 0;
    }
    if (!typed || family_known(families, name) || families->count == PROM_FAMILIES_MAX) {
        return "unknown type, or a family typed twice";
    }
    snprintf(families->names[families->count++], PROM_NAME_MAX, "%s", name);
    return NULL;
}

static const char *sample_check(const char *line, const prom_families_t *families)
{
    const char *p = line;
    char name[PROM_NAME_MAX];
    if (!name_scan(&p, true, name, sizeof(name))) {
        return "bad metric name";
    }
    if (!sample_family_known(families, name)) {
        return "sample before its TYPE line";
    }
    if (!labels_scan(&p)) {
        return "bad label set";
    }
    if (*p++ != ' ') {
        return "no space before the value";
    }
    char value[64];
    size_t length = strcspn(p, " ");
    if (length == 0 || length >= sizeof(value)) {
        return "bad value";
    }
    memcpy(value, p, length);
    value[length] = '\0';
    if (!number_valid(value)) {
        return "value is not a number";
    }
    p += length;
    if (*p == ' ') { /* an optional timestamp */
        p++;
        char *end = NULL;
        (void)strtoll(p, &end, 10);
        if (end == p || *end != '\0') {
            return "bad timestamp";
        }
    }
    return NULL;
}

ss_err_t ss_test_prom_check(const char *text, char *errstr, size_t errstr_size)
{
    static prom_families_t families;
    families.count = 0;
    size_t number = 0;
    for (const char *line = text; *line != '\0';) {
        size_t length = strcspn(line, "\n");
        number++;
        if (line[length] != '\n') {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "line %zu has no newline",
                              number);
        }
        char copy[PROM_LINE_MAX];
        if (length >= sizeof(copy)) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "line %zu is too long", number);
        }
        memcpy(copy, line, length);
        copy[length] = '\0';
        const char *problem = NULL;
        if (length > 0) {
            problem = copy[0] == '#' ? (strncmp(copy, "# ", 2) == 0 ? comment_check(copy, &families)
                                                                    : "a comment needs '# '")
                                     : sample_check(copy, &families);
        }
        if (problem != NULL) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "line %zu: %s: %s", number,
                              problem, copy);
        }
        line += length + 1;
    }
    return SS_OK;
}

/* Every `k="v"` of the comma-separated wanted list appears in the sample's label text. */
static bool labels_include(const char *sample_labels, size_t sample_length, const char *wanted)
{
    char list[PROM_LINE_MAX];
    snprintf(list, sizeof(list), "%s", wanted);
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        bool seen = false;
        size_t item_length = strlen(item);
        for (size_t i = 0; !seen && i + item_length <= sample_length; i++) {
            seen = strncmp(sample_labels + i, item, item_length) == 0 &&
                   (i == 0 || sample_labels[i - 1] == '{' || sample_labels[i - 1] == ',');
        }
        if (!seen) {
            return false;
        }
    }
    return true;
}

double ss_test_prom_value(const char *text, const char *name, const char *labels, bool *found)
{
    double sum = 0;
    size_t name_length = strlen(name);
    *found = false;
    for (const char *line = text; *line != '\0';) {
        size_t length = strcspn(line, "\n");
        bool named = length > name_length && strncmp(line, name, name_length) == 0 &&
                     (line[name_length] == '{' || line[name_length] == ' ');
        if (named) {
            const char *value = memchr(line + name_length, ' ', length - name_length);
            const char *brace = line + name_length;
            size_t labels_length = value != NULL ? (size_t)(value - brace) : 0;
            if (value != NULL && labels_include(brace, labels_length, labels)) {
                sum += strtod(value + 1, NULL);
                *found = true;
            }
        }
        line += length + (line[length] == '\n');
    }
    return sum;
}
