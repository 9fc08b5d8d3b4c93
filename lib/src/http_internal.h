/*
 * Private to the ss/http.h module: what a server observes of its requests (http_observe.c),
 * called by http.c at the points of a request's life. The observer belongs to one server and
 * is written only by that server's threads; its counters are ss/metrics.h atomics.
 */
#ifndef SS_HTTP_INTERNAL_H
#define SS_HTTP_INTERNAL_H

#include "ss/http.h"
#include "ss/metrics.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct ss_http_observer {
    ss_metrics_family_t *requests; /* ss_http_requests_total{route,method,status} */
    ss_metrics_family_t *duration; /* ss_http_request_duration_seconds{route} */
    ss_metrics_series_t *in_flight;
    ss_metrics_series_t *suspended;
    unsigned access_log_permille;  /* 0: no access log */
    atomic_uint_fast64_t finished; /* requests ended, for the sampling */
} ss_http_observer_t;

/* What the observer is told when a request ends. */
typedef struct ss_http_observation {
    const char *method;     /* as sent */
    const char *route;      /* the matched route's pattern, or "other" */
    int status;             /* the answer's status; 0 when the client went before one */
    int64_t duration_us;    /* from the first byte of the request to the end */
    const char *request_id; /* NULL when the request has none */
} ss_http_observation_t;

/* metrics NULL: nothing counted. access_log_permille 0..1000. */
void ss_http_observer_init(ss_http_observer_t *observer, ss_metrics_t *metrics,
                           unsigned access_log_permille);
/* A request was received (in flight from now) or ended. */
void ss_http_observer_began(ss_http_observer_t *observer);
void ss_http_observer_ended(ss_http_observer_t *observer, const ss_http_observation_t *seen);
/* A request was suspended (+1) or left the suspended state (-1). */
void ss_http_observer_suspended(ss_http_observer_t *observer, int delta);
/*
 * Whether the n-th ended request (from 0) is written to the access log at permille: exactly
 * permille of every 1000 consecutive ones, spread evenly, no randomness.
 */
bool ss_http_observer_sampled(uint64_t n, unsigned permille);

#endif
