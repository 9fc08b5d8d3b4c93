/*
 * The metrics registry and its text exposition (ss/metrics.h). Values are doubles stored as
 * their bit patterns in 64-bit atomics (a compare-and-swap loop adds), histogram buckets are
 * plain atomic counts per bucket, summed into cumulative ones only when rendering.
 */
#include "ss/metrics.h"

#include "ss/assert.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SS_VERSION
#define SS_VERSION "dev"
#endif

/* The first size of a rendering's buffer; it doubles as needed. */
#define METRICS_RENDER_BYTES_INITIAL 4096
#define METRICS_LABEL_NAME_BYTES_MAX 64

struct ss_metrics_series {
    const ss_metrics_family_t *family;
    _Atomic uint64_t value_bits; /* counter or gauge value, or histogram sum, as double bits */
    _Atomic uint64_t buckets[SS_METRICS_BUCKETS_MAX + 1]; /* per bucket; the last is +Inf */
    atomic_bool hidden;
    char values[SS_METRICS_LABELS_MAX][SS_METRICS_LABEL_VALUE_BYTES_MAX]; /* fixed at creation */
};

struct ss_metrics_family {
    ss_metrics_t *registry;
    char name[SS_METRICS_NAME_BYTES_MAX];
    char *help;
    ss_metrics_type_t type;
    char labels[SS_METRICS_LABELS_MAX][METRICS_LABEL_NAME_BYTES_MAX];
    size_t label_count;
    double buckets[SS_METRICS_BUCKETS_MAX];
    size_t bucket_count;
    pthread_mutex_t mutex; /* guards series_count and series[] growth */
    ss_metrics_series_t *series[SS_METRICS_SERIES_MAX];
    size_t series_count;
};

struct ss_metrics {
    pthread_mutex_t mutex; /* guards families[] and family_count */
    ss_metrics_family_t *families[SS_METRICS_FAMILIES_MAX];
    size_t family_count;
    ss_metrics_series_t *dropped; /* ss_metrics_series_dropped_total */
};

static void lock(pthread_mutex_t *mutex)
{
    int rc = pthread_mutex_lock(mutex);
    SS_ASSERT(rc == 0);
}

static void unlock(pthread_mutex_t *mutex)
{
    int rc = pthread_mutex_unlock(mutex);
    SS_ASSERT(rc == 0);
}

static uint64_t bits_of(double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

static double double_of(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

static void atomic_double_add(_Atomic uint64_t *target, double delta)
{
    uint64_t old = atomic_load(target);
    while (!atomic_compare_exchange_weak(target, &old, bits_of(double_of(old) + delta))) {
    }
}

/* ---- names and registration ----------------------------------------------------------------- */

static bool name_valid(const char *name, bool colons)
{
    if (name == NULL || name[0] == '\0' || strlen(name) >= SS_METRICS_NAME_BYTES_MAX) {
        return false;
    }
    for (const char *c = name; *c != '\0'; c++) {
        bool letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_';
        bool digit = *c >= '0' && *c <= '9';
        if (!letter && !(digit && c != name) && !(colons && *c == ':')) {
            return false;
        }
    }
    return true;
}

static void spec_check(const ss_metrics_spec_t *spec)
{
    SS_ASSERT(spec != NULL && name_valid(spec->name, true) && spec->help != NULL);
    SS_ASSERT(spec->label_count <= SS_METRICS_LABELS_MAX);
    SS_ASSERT(spec->label_count == 0 || spec->labels != NULL);
    for (size_t i = 0; i < spec->label_count; i++) {
        SS_ASSERT(name_valid(spec->labels[i], false) &&
                  strlen(spec->labels[i]) < METRICS_LABEL_NAME_BYTES_MAX);
        SS_ASSERT(strncmp(spec->labels[i], "__", 2) != 0);
        SS_ASSERT(spec->type != SS_METRICS_HISTOGRAM || strcmp(spec->labels[i], "le") != 0);
    }
    if (spec->type == SS_METRICS_HISTOGRAM) {
        SS_ASSERT(spec->bucket_count >= 1 && spec->bucket_count <= SS_METRICS_BUCKETS_MAX);
        for (size_t i = 1; i < spec->bucket_count; i++) {
            SS_ASSERT(spec->buckets[i - 1] < spec->buckets[i]);
        }
    } else {
        SS_ASSERT(spec->bucket_count == 0);
    }
}

/* The registered family has the same shape as spec (a second registration must agree). */
static bool family_matches(const ss_metrics_family_t *family, const ss_metrics_spec_t *spec)
{
    bool same = family->type == spec->type && family->label_count == spec->label_count &&
                family->bucket_count == spec->bucket_count;
    for (size_t i = 0; same && i < spec->label_count; i++) {
        same = strcmp(family->labels[i], spec->labels[i]) == 0;
    }
    for (size_t i = 0; same && i < spec->bucket_count; i++) {
        same = family->buckets[i] == spec->buckets[i];
    }
    return same;
}

static void family_free(ss_metrics_family_t *family)
{
    if (family == NULL) {
        return;
    }
    for (size_t i = 0; i < family->series_count; i++) {
        free(family->series[i]);
    }
    pthread_mutex_destroy(&family->mutex);
    free(family->help);
    free(family);
}

static ss_metrics_family_t *family_new(ss_metrics_t *registry, const ss_metrics_spec_t *spec)
{
    ss_metrics_family_t *family = calloc(1, sizeof(*family));
    if (family == NULL) {
        return NULL;
    }
    family->help = strdup(spec->help);
    if (family->help == NULL || pthread_mutex_init(&family->mutex, NULL) != 0) {
        free(family->help);
        free(family);
        return NULL;
    }
    family->registry = registry;
    snprintf(family->name, sizeof(family->name), "%s", spec->name);
    family->type = spec->type;
    family->label_count = spec->label_count;
    for (size_t i = 0; i < spec->label_count; i++) {
        snprintf(family->labels[i], sizeof(family->labels[i]), "%s", spec->labels[i]);
    }
    family->bucket_count = spec->bucket_count;
    for (size_t i = 0; i < spec->bucket_count; i++) {
        family->buckets[i] = spec->buckets[i];
    }
    return family;
}

ss_metrics_family_t *ss_metrics_family(ss_metrics_t *metrics, const ss_metrics_spec_t *spec)
{
    spec_check(spec);
    if (metrics == NULL) {
        return NULL;
    }
    ss_metrics_family_t *found = NULL;
    lock(&metrics->mutex);
    for (size_t i = 0; i < metrics->family_count && found == NULL; i++) {
        if (strcmp(metrics->families[i]->name, spec->name) == 0) {
            found = metrics->families[i];
        }
    }
    if (found != NULL) {
        SS_ASSERT(family_matches(found, spec));
    } else if (metrics->family_count < SS_METRICS_FAMILIES_MAX) {
        found = family_new(metrics, spec);
        if (found != NULL) {
            metrics->families[metrics->family_count++] = found;
        }
    }
    unlock(&metrics->mutex);
    if (found != NULL && spec->label_count == 0) {
        (void)ss_metrics_series(found, NULL);
    }
    return found;
}

/* ---- series ---------------------------------------------------------------------------------- */

static bool series_matches(const ss_metrics_family_t *family, const ss_metrics_series_t *series,
                           const char *const *values)
{
    for (size_t i = 0; i < family->label_count; i++) {
        if (strncmp(series->values[i], values[i], SS_METRICS_LABEL_VALUE_BYTES_MAX - 1) != 0) {
            return false;
        }
    }
    return true;
}

static ss_metrics_series_t *series_new(const ss_metrics_family_t *family, const char *const *values)
{
    ss_metrics_series_t *series = calloc(1, sizeof(*series));
    if (series == NULL) {
        return NULL;
    }
    series->family = family;
    for (size_t i = 0; i < family->label_count; i++) {
        snprintf(series->values[i], sizeof(series->values[i]), "%s", values[i]);
    }
    atomic_init(&series->value_bits, bits_of(0.0));
    return series;
}

ss_metrics_series_t *ss_metrics_series(ss_metrics_family_t *family, const char *const *values)
{
    if (family == NULL) {
        return NULL;
    }
    SS_ASSERT(family->label_count == 0 || values != NULL);
    for (size_t i = 0; i < family->label_count; i++) {
        SS_ASSERT(values[i] != NULL);
    }
    ss_metrics_series_t *found = NULL;
    bool dropped = false;
    lock(&family->mutex);
    for (size_t i = 0; i < family->series_count && found == NULL; i++) {
        if (series_matches(family, family->series[i], values)) {
            found = family->series[i];
        }
    }
    if (found == NULL && family->series_count < SS_METRICS_SERIES_MAX) {
        found = series_new(family, values);
        if (found != NULL) {
            family->series[family->series_count++] = found;
        }
    }
    dropped = found == NULL;
    unlock(&family->mutex);
    if (dropped) {
        ss_metrics_add(family->registry->dropped, 1);
    }
    return found;
}

void ss_metrics_add(ss_metrics_series_t *series, double delta)
{
    if (series == NULL) {
        return;
    }
    SS_ASSERT(series->family->type != SS_METRICS_HISTOGRAM);
    SS_ASSERT(series->family->type == SS_METRICS_GAUGE || delta >= 0);
    atomic_double_add(&series->value_bits, delta);
    atomic_store(&series->hidden, false);
}

void ss_metrics_set(ss_metrics_series_t *series, double value)
{
    if (series == NULL) {
        return;
    }
    SS_ASSERT(series->family->type == SS_METRICS_GAUGE);
    atomic_store(&series->value_bits, bits_of(value));
    atomic_store(&series->hidden, false);
}

void ss_metrics_observe(ss_metrics_series_t *series, double value)
{
    if (series == NULL) {
        return;
    }
    const ss_metrics_family_t *family = series->family;
    SS_ASSERT(family->type == SS_METRICS_HISTOGRAM);
    size_t bucket = 0;
    while (bucket < family->bucket_count && value > family->buckets[bucket]) {
        bucket++;
    }
    atomic_fetch_add(&series->buckets[bucket], 1);
    atomic_double_add(&series->value_bits, value);
    atomic_store(&series->hidden, false);
}

void ss_metrics_hide(ss_metrics_series_t *series)
{
    if (series != NULL) {
        atomic_store(&series->hidden, true);
    }
}

double ss_metrics_value(const ss_metrics_series_t *series)
{
    return series != NULL ? double_of(atomic_load(&series->value_bits)) : 0.0;
}

uint64_t ss_metrics_count(const ss_metrics_series_t *series)
{
    if (series == NULL || series->family->type != SS_METRICS_HISTOGRAM) {
        return 0;
    }
    uint64_t count = 0;
    for (size_t i = 0; i <= series->family->bucket_count; i++) {
        count += atomic_load(&series->buckets[i]);
    }
    return count;
}

/* ---- registries ------------------------------------------------------------------------------ */

ss_err_t ss_metrics_create(ss_metrics_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ss_metrics_t *metrics = calloc(1, sizeof(*metrics));
    if (metrics == NULL || pthread_mutex_init(&metrics->mutex, NULL) != 0) {
        free(metrics);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate a registry");
    }
    const ss_metrics_spec_t dropped = {
        .name = "ss_metrics_series_dropped_total",
        .help = "Updates dropped because their family already had its most series",
        .type = SS_METRICS_COUNTER,
    };
    metrics->dropped = ss_metrics_series(ss_metrics_family(metrics, &dropped), NULL);
    *out = metrics;
    return SS_OK;
}

void ss_metrics_destroy(ss_metrics_t *metrics)
{
    if (metrics == NULL) {
        return;
    }
    for (size_t i = 0; i < metrics->family_count; i++) {
        family_free(metrics->families[i]);
    }
    pthread_mutex_destroy(&metrics->mutex);
    free(metrics);
}

static ss_metrics_t *process_registry;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void process_registry_create(void)
{
    ss_metrics_t *metrics = NULL;
    if (ss_metrics_create(&metrics, NULL, 0) != SS_OK) {
        return;
    }
    static const ss_metrics_spec_t up = {
        .name = "ss_up", .help = "1 while the process runs", .type = SS_METRICS_GAUGE};
    static const char *const version_label[] = {"version"};
    static const ss_metrics_spec_t build = {.name = "ss_build_info",
                                            .help = "The build of this process, as a label",
                                            .type = SS_METRICS_GAUGE,
                                            .labels = version_label,
                                            .label_count = 1};
    const char *const version[] = {SS_VERSION};
    ss_metrics_set(ss_metrics_series(ss_metrics_family(metrics, &up), NULL), 1);
    ss_metrics_set(ss_metrics_series(ss_metrics_family(metrics, &build), version), 1);
    process_registry = metrics;
}

ss_metrics_t *ss_metrics_process(void)
{
    (void)pthread_once(&process_once, process_registry_create);
    return process_registry;
}

/* ---- rendering ------------------------------------------------------------------------------- */

typedef struct render_buffer {
    char *data;
    size_t length;
    size_t capacity;
    bool failed; /* out of memory: everything after is dropped, the rendering fails */
} render_buffer_t;

__attribute__((format(printf, 2, 3))) static void buffer_printf(render_buffer_t *buffer,
                                                                const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !buffer->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = buffer->capacity - buffer->length;
        int n = vsnprintf(buffer->data + buffer->length, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            buffer->failed = true;
            return;
        }
        if ((size_t)n < room) {
            buffer->length += (size_t)n;
            return;
        }
        size_t capacity = buffer->capacity * 2;
        while (capacity - buffer->length <= (size_t)n) {
            capacity *= 2;
        }
        char *grown = realloc(buffer->data, capacity);
        if (grown == NULL) {
            buffer->failed = true;
            return;
        }
        buffer->data = grown;
        buffer->capacity = capacity;
    }
}

/* Shortest text that reads back as value; the format's NaN, +Inf and -Inf. */
static void number_format(double value, char *out, size_t out_size)
{
    if (isnan(value)) {
        snprintf(out, out_size, "NaN");
    } else if (isinf(value)) {
        snprintf(out, out_size, "%sInf", value > 0 ? "+" : "-");
    } else if (value == floor(value) && fabs(value) < 1e15) {
        snprintf(out, out_size, "%.0f", value);
    } else {
        snprintf(out, out_size, "%.15g", value);
        if (strtod(out, NULL) != value) {
            snprintf(out, out_size, "%.17g", value);
        }
    }
}

/* text with \, \n (and, in label values, \") escaped as the format wants. */
static void escaped_append(render_buffer_t *buffer, const char *text, bool quote)
{
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == '\\') {
            buffer_printf(buffer, "\\\\");
        } else if (*c == '\n') {
            buffer_printf(buffer, "\\n");
        } else if (quote && *c == '"') {
            buffer_printf(buffer, "\\\"");
        } else {
            buffer_printf(buffer, "%c", *c);
        }
    }
}

/* {a="x",b="y"} with an extra le="..." for buckets (le may be NULL); nothing without labels. */
static void labels_append(render_buffer_t *buffer, const ss_metrics_family_t *family,
                          const ss_metrics_series_t *series, const char *le)
{
    if (family->label_count == 0 && le == NULL) {
        return;
    }
    buffer_printf(buffer, "{");
    for (size_t i = 0; i < family->label_count; i++) {
        buffer_printf(buffer, "%s%s=\"", i > 0 ? "," : "", family->labels[i]);
        escaped_append(buffer, series->values[i], true);
        buffer_printf(buffer, "\"");
    }
    if (le != NULL) {
        buffer_printf(buffer, "%sle=\"%s\"", family->label_count > 0 ? "," : "", le);
    }
    buffer_printf(buffer, "}");
}

static void histogram_append(render_buffer_t *buffer, const ss_metrics_family_t *family,
                             const ss_metrics_series_t *series)
{
    uint64_t cumulative = 0;
    char bound[40], number[40];
    for (size_t i = 0; i <= family->bucket_count; i++) {
        cumulative += atomic_load(&series->buckets[i]);
        if (i < family->bucket_count) {
            number_format(family->buckets[i], bound, sizeof(bound));
        } else {
            snprintf(bound, sizeof(bound), "+Inf");
        }
        buffer_printf(buffer, "%s_bucket", family->name);
        labels_append(buffer, family, series, bound);
        buffer_printf(buffer, " %llu\n", (unsigned long long)cumulative);
    }
    number_format(ss_metrics_value(series), number, sizeof(number));
    buffer_printf(buffer, "%s_sum", family->name);
    labels_append(buffer, family, series, NULL);
    buffer_printf(buffer, " %s\n%s_count", number, family->name);
    labels_append(buffer, family, series, NULL);
    buffer_printf(buffer, " %llu\n", (unsigned long long)cumulative);
}

static void family_append(render_buffer_t *buffer, ss_metrics_family_t *family)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    buffer_printf(buffer, "# HELP %s ", family->name);
    escaped_append(buffer, family->help, false);
    buffer_printf(buffer, "\n# TYPE %s %s\n", family->name, type_names[family->type]);
    lock(&family->mutex);
    size_t count = family->series_count;
    unlock(&family->mutex);
    /* Series are only ever appended, and a pointer once stored never changes. */
    for (size_t i = 0; i < count; i++) {
        const ss_metrics_series_t *series = family->series[i];
        if (atomic_load(&series->hidden)) {
            continue;
        }
        if (family->type == SS_METRICS_HISTOGRAM) {
            histogram_append(buffer, family, series);
            continue;
        }
        char number[40];
        number_format(ss_metrics_value(series), number, sizeof(number));
        buffer_printf(buffer, "%s", family->name);
        labels_append(buffer, family, series, NULL);
        buffer_printf(buffer, " %s\n", number);
    }
}

ss_err_t ss_metrics_render(ss_metrics_t *metrics, char **out, size_t *length_out, char *errstr,
                           size_t errstr_size)
{
    *out = NULL;
    *length_out = 0;
    render_buffer_t buffer = {.data = malloc(METRICS_RENDER_BYTES_INITIAL),
                              .capacity = METRICS_RENDER_BYTES_INITIAL};
    if (buffer.data == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the rendering");
    }
    buffer.data[0] = '\0';
    if (metrics != NULL) {
        lock(&metrics->mutex);
        for (size_t i = 0; i < metrics->family_count && !buffer.failed; i++) {
            family_append(&buffer, metrics->families[i]);
        }
        unlock(&metrics->mutex);
    }
    if (buffer.failed) {
        free(buffer.data);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the rendering");
    }
    *out = buffer.data;
    *length_out = buffer.length;
    return SS_OK;
}
