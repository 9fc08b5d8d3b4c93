/*
 * What an ss/http.h server observes of its requests: the agreed HTTP metrics
 * (/work/metrics-spec.md: ss_http_requests_total, ss_http_request_duration_seconds,
 * ss_http_requests_in_flight, ss_http_requests_suspended) and the access log, one key=value
 * line per request (component "access"), written for a configured share of requests.
 */
#include "http_internal.h"

#include "ss/log.h"

#include <stdio.h>

#define OBSERVE_STATUS_BYTES 8

void ss_http_observer_init(ss_http_observer_t *observer, ss_metrics_t *metrics,
                           unsigned access_log_permille)
{
    static const char *const request_labels[] = {"route", "method", "status"};
    static const char *const route_label[] = {"route"};
    static const double seconds[] = SS_METRICS_SECONDS_BUCKETS;
    static const ss_metrics_spec_t requests = {
        .name = "ss_http_requests_total",
        .help = "HTTP requests answered, by route pattern, method and status",
        .type = SS_METRICS_COUNTER,
        .labels = request_labels,
        .label_count = 3};
    static const ss_metrics_spec_t duration = {
        .name = "ss_http_request_duration_seconds",
        .help = "Time from a request's arrival to the end of its answer, by route pattern",
        .type = SS_METRICS_HISTOGRAM,
        .labels = route_label,
        .label_count = 1,
        .buckets = seconds,
        .bucket_count = sizeof(seconds) / sizeof(seconds[0])};
    static const ss_metrics_spec_t in_flight = {.name = "ss_http_requests_in_flight",
                                                .help = "HTTP requests received and not yet ended",
                                                .type = SS_METRICS_GAUGE};
    static const ss_metrics_spec_t suspended = {
        .name = "ss_http_requests_suspended",
        .help = "HTTP requests waiting, without a thread, for a worker's answer",
        .type = SS_METRICS_GAUGE};
    observer->requests = ss_metrics_family(metrics, &requests);
    observer->duration = ss_metrics_family(metrics, &duration);
    observer->in_flight = ss_metrics_series(ss_metrics_family(metrics, &in_flight), NULL);
    observer->suspended = ss_metrics_series(ss_metrics_family(metrics, &suspended), NULL);
    observer->access_log_permille = access_log_permille > 1000 ? 1000 : access_log_permille;
    atomic_init(&observer->finished, 0);
}

void ss_http_observer_began(ss_http_observer_t *observer)
{
    ss_metrics_add(observer->in_flight, 1);
}

void ss_http_observer_suspended(ss_http_observer_t *observer, int delta)
{
    ss_metrics_add(observer->suspended, delta);
}

bool ss_http_observer_sampled(uint64_t n, unsigned permille)
{
    /* The count of sampled requests among the first k is floor(k * permille / 1000). */
    uint64_t phase = n % 1000;
    return (phase + 1) * permille / 1000 > phase * permille / 1000;
}

void ss_http_observer_ended(ss_http_observer_t *observer, const ss_http_observation_t *seen)
{
    ss_metrics_add(observer->in_flight, -1);
    if (seen->status == 0) {
        return; /* the client went away before an answer: nothing was served */
    }
    char status[OBSERVE_STATUS_BYTES];
    snprintf(status, sizeof(status), "%d", seen->status);
    const char *const request_values[] = {seen->route, seen->method, status};
    const char *const route_values[] = {seen->route};
    double seconds = (double)seen->duration_us / 1e6;
    ss_metrics_add(ss_metrics_series(observer->requests, request_values), 1);
    ss_metrics_observe(ss_metrics_series(observer->duration, route_values), seconds);
    uint64_t n = atomic_fetch_add(&observer->finished, 1);
    if (observer->access_log_permille == 0 ||
        !ss_http_observer_sampled(n, observer->access_log_permille)) {
        return;
    }
    SS_LOG_INFO("access", "method=%s route=%s status=%d duration_ms=%.3f request_id=%s",
                seen->method, seen->route, seen->status, (double)seen->duration_us / 1e3,
                seen->request_id != NULL ? seen->request_id : "-");
}
