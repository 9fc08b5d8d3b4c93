/*
 * Metrics in the Prometheus text exposition format 0.0.4: counters, gauges and histograms in
 * a registry, rendered for GET /metrics. No C client library in Debian fits (see lib/README.md),
 * so this is our own, kept small.
 *
 * A family is one metric name with a fixed list of label names (at most SS_METRICS_LABELS_MAX);
 * a series is one combination of label values in it. The label sets are bounded: a family holds
 * at most SS_METRICS_SERIES_MAX series, and a lookup beyond that returns NULL, which every
 * update accepts as a no-op (the registry counts such drops in ss_metrics_series_dropped_total).
 * Label values longer than SS_METRICS_LABEL_VALUE_BYTES_MAX - 1 bytes are cut.
 *
 * Ownership: the registry owns its families and series; pointers to them stay valid until
 * ss_metrics_destroy(), so a hot path may look a series up once and keep it. Series are never
 * freed one by one: ss_metrics_hide() takes one out of the exposition until it is updated again
 * (a partition this process no longer owns).
 *
 * Threads: every function is thread-safe. Values are atomics; a family's mutex guards only the
 * creation of series, and the registry's mutex the list of families. A rendering reads each
 * value atomically; a histogram's _count is the sum of its buckets as read, so the two agree.
 *
 * The one process-wide registry, ss_metrics_process(), is what the library's own hooks write to
 * (ss/http.h servers given it, ss/kafka.h producers and consumers, ss/worker.h) and what every
 * binary's GET /metrics renders. It is the one exception, with the log level, to "no hidden
 * global state" (lib/README.md): a process has one set of metrics, as it has one log.
 */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include "ss/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_METRICS_FAMILIES_MAX 96
#define SS_METRICS_LABELS_MAX 4
#define SS_METRICS_SERIES_MAX 512
#define SS_METRICS_BUCKETS_MAX 16
#define SS_METRICS_NAME_BYTES_MAX 96
#define SS_METRICS_LABEL_VALUE_BYTES_MAX 96

/* The agreed buckets of every *_duration_seconds histogram (/work/metrics-spec.md). */
#define SS_METRICS_SECONDS_BUCKETS                                                                 \
    {                                                                                              \
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10                     \
    }
/* The agreed buckets of record-count histograms (ss_worker_batch_records). */
#define SS_METRICS_RECORDS_BUCKETS                                                                 \
    {                                                                                              \
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000                                       \
    }

/* The Content-Type of a rendering. */
#define SS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct ss_metrics ss_metrics_t;
typedef struct ss_metrics_family ss_metrics_family_t;
typedef struct ss_metrics_series ss_metrics_series_t;

typedef enum ss_metrics_type {
    SS_METRICS_COUNTER,
    SS_METRICS_GAUGE,
    SS_METRICS_HISTOGRAM,
} ss_metrics_type_t;

/* A family's definition; everything is copied at registration. */
typedef struct ss_metrics_spec {
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*, e.g. "ss_http_requests_total" */
    const char *help; /* one line */
    ss_metrics_type_t type;
    const char *const *labels; /* label_count names, [a-zA-Z_][a-zA-Z0-9_]*, not "le" */
    size_t label_count;
    const double *buckets; /* histograms: increasing upper bounds (+Inf is implied) */
    size_t bucket_count;   /* histograms: 1..SS_METRICS_BUCKETS_MAX; others 0 */
} ss_metrics_spec_t;

/* An empty registry; the caller frees it with ss_metrics_destroy(). SS_ERR_NOMEM. */
ss_err_t ss_metrics_create(ss_metrics_t **out, char *errstr, size_t errstr_size);

/* Frees the registry, its families and series. NULL is a no-op. */
void ss_metrics_destroy(ss_metrics_t *metrics);

/*
 * The process-wide registry, created on first use with ss_up 1 and ss_build_info{version} 1;
 * never freed. NULL only when that first allocation failed (every update then is a no-op).
 */
ss_metrics_t *ss_metrics_process(void);

/*
 * Registers a family, or returns the one already registered under spec->name. A malformed
 * spec, or one that differs from the registered family in type, labels or buckets, is a
 * programmer error (SS_ASSERT). NULL when metrics is NULL, out of memory, or the registry is
 * full (SS_METRICS_FAMILIES_MAX). A family without labels has its one series from the start,
 * so it is rendered (as 0) before its first update.
 */
ss_metrics_family_t *ss_metrics_family(ss_metrics_t *metrics, const ss_metrics_spec_t *spec);

/*
 * The series of family for values[0..label_count) (NULL when the family has no labels),
 * created at the first lookup. NULL when family is NULL, the family is full, or out of memory.
 */
ss_metrics_series_t *ss_metrics_series(ss_metrics_family_t *family, const char *const *values);

/* Counter (delta >= 0, else a programmer error) or gauge: value += delta. NULL is a no-op. */
void ss_metrics_add(ss_metrics_series_t *series, double delta);

/* Gauge: value = value. NULL is a no-op. */
void ss_metrics_set(ss_metrics_series_t *series, double value);

/* Histogram: one observation. NULL is a no-op. */
void ss_metrics_observe(ss_metrics_series_t *series, double value);

/* Leaves the series out of renderings until its next update. NULL is a no-op. */
void ss_metrics_hide(ss_metrics_series_t *series);

/* A counter's or gauge's value, a histogram's sum; 0 for NULL. */
double ss_metrics_value(const ss_metrics_series_t *series);

/* A histogram's number of observations; 0 for NULL and for other types. */
uint64_t ss_metrics_count(const ss_metrics_series_t *series);

/*
 * The whole registry in the text format: per family `# HELP`, `# TYPE`, then its series
 * (histograms as _bucket{le=...} cumulative, _sum and _count). On SS_OK the caller frees *out
 * (NUL-terminated, *length_out bytes) with free(). SS_ERR_NOMEM.
 */
ss_err_t ss_metrics_render(ss_metrics_t *metrics, char **out, size_t *length_out, char *errstr,
                           size_t errstr_size);

#endif
