/*
 * GET /health (the process is up), GET /ready (Kafka, PostgreSQL and Redis answer; after
 * a fatal producer error, why the ingress is stopping) and GET /metrics (the process's metrics
 * in Prometheus's text format, ss/ops_http.h).
 *
 * Readiness probes reuse what the endpoints use: the producer's broker connections, and one
 * pooled PostgreSQL and Redis connection each, so "ready" means the ingress itself can reach
 * them. A pooled connection that turns out dead (the server restarted) is dropped and the probe
 * tries once more with a fresh one, so a restart does not read as an outage. Each attempt is
 * bounded by dependency_timeout_ms (PostgreSQL by pg_timeout_ms, and not tried at all while the
 * ingress knows it to be down: see pg_breaker in ingress.h).
 */
#include "ingress.h"

#include "ss/json.h"
#include "ss/log.h"
#include "ss/ops_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A probe tries a pooled connection, then a fresh one. */
#define HEALTH_PROBE_ATTEMPTS_MAX 2
/* How long a client should wait before asking /ready again. */
#define HEALTH_RETRY_AFTER_S "5"
#define HEALTH_ERRSTR_MAX 256

/* Error texts may span lines (libpq's do); a log event is one line. */
static const char *one_line(char *text)
{
    for (char *c = text; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t') {
            *c = ' ';
        }
    }
    return text;
}

static bool probe_kafka(ss_ingress_t *ingress)
{
    char errstr[HEALTH_ERRSTR_MAX];
    ss_err_t err = ss_kafka_producer_ping(
        ingress->producer, (int)ingress->config->dependency_timeout_ms, errstr, sizeof(errstr));
    if (err != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "readiness probe failed dependency=kafka error=\"%s\"",
                    one_line(errstr));
    }
    return err == SS_OK;
}

static bool probe_postgres(ss_ingress_t *ingress)
{
    char errstr[HEALTH_ERRSTR_MAX] = "";
    ss_err_t err = SS_OK;
    for (int attempt = 0; attempt < HEALTH_PROBE_ATTEMPTS_MAX; attempt++) {
        ss_pg_t *pg = NULL;
        err = ss_ingress_pg_acquire(ingress, &pg, errstr, sizeof(errstr));
        if (err != SS_OK) {
            break; /* a fresh connection failed, or the pool is exhausted */
        }
        err = ss_pg_ping(pg, errstr, sizeof(errstr));
        bool broken = ss_pg_is_broken(pg);
        ss_ingress_pg_release(ingress, pg);
        if (err == SS_OK || !broken) {
            break;
        }
    }
    if (err != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "readiness probe failed dependency=postgres error=\"%s\"",
                    one_line(errstr));
    }
    return err == SS_OK;
}

static bool probe_redis(ss_ingress_t *ingress)
{
    char errstr[HEALTH_ERRSTR_MAX] = "";
    ss_err_t err = SS_OK;
    for (int attempt = 0; attempt < HEALTH_PROBE_ATTEMPTS_MAX; attempt++) {
        ss_redis_t *redis = NULL;
        err = ss_ingress_redis_acquire(ingress, &redis, errstr, sizeof(errstr));
        if (err != SS_OK) {
            break;
        }
        err = ss_redis_ping(redis, errstr, sizeof(errstr));
        bool broken = ss_redis_is_broken(redis);
        ss_ingress_redis_release(ingress, redis);
        if (err == SS_OK || !broken) {
            break;
        }
    }
    if (err != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "readiness probe failed dependency=redis error=\"%s\"",
                    one_line(errstr));
    }
    return err == SS_OK;
}

void ss_ingress_readiness_probe(ss_ingress_t *ingress, ss_ingress_readiness_t *out)
{
    out->fatal = ss_ingress_producer_failure(ingress);
    out->kafka = out->fatal == NULL && probe_kafka(ingress);
    out->postgres = probe_postgres(ingress);
    out->redis = probe_redis(ingress);
}

char *ss_ingress_readiness_envelope(const ss_ingress_readiness_t *readiness, int *status_out)
{
    /* After a fatal producer error Kafka is not down but unusable for good: FAILED. */
    const struct {
        const char *name;
        bool up;
        bool failed;
    } components[] = {
        {"kafka", readiness->kafka, readiness->fatal != NULL},
        {"postgres", readiness->postgres, false},
        {"redis", readiness->redis, false},
    };
    const size_t count = sizeof(components) / sizeof(components[0]);
    json_t *data = json_object();
    if (data == NULL) {
        return NULL;
    }
    char down[64] = "";
    size_t down_count = 0;
    for (size_t i = 0; i < count; i++) {
        bool failed = components[i].failed;
        const char *state = failed ? "FAILED" : components[i].up ? "UP" : "DOWN";
        if (json_object_set_new(data, components[i].name, json_string(state)) != 0) {
            json_decref(data);
            return NULL;
        }
        if (!components[i].up && !failed) {
            size_t used = strlen(down);
            snprintf(down + used, sizeof(down) - used, "%s%s", down_count > 0 ? ", " : "",
                     components[i].name);
            down_count++;
        }
    }
    if (down_count == 0 && readiness->fatal == NULL) {
        *status_out = 200;
        return ss_json_envelope_ok(data);
    }
    char message[400];
    if (readiness->fatal != NULL) {
        snprintf(message, sizeof(message), "not ready: %s; the ingress is stopping",
                 readiness->fatal);
    } else {
        snprintf(message, sizeof(message), "not ready: %s %s not reachable", down,
                 down_count == 1 ? "is" : "are");
    }
    *status_out = ss_api_error_status(SS_API_ERROR_UNAVAILABLE);
    return ss_json_envelope_api_error(SS_API_ERROR_UNAVAILABLE, message, data);
}

static void health_get(ss_http_request_t *req, void *context)
{
    (void)context;
    json_t *data = json_pack("{s:s}", "status", "UP");
    if (data == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
        return;
    }
    ss_ingress_respond_ok(req, data);
}

static void ready_get(ss_http_request_t *req, void *context)
{
    static const ss_http_header_t retry_after[] = {{"Retry-After", HEALTH_RETRY_AFTER_S}};
    ss_ingress_t *ingress = context;
    ss_ingress_readiness_t readiness;
    ss_ingress_readiness_probe(ingress, &readiness);
    int status = 0;
    char *body = ss_ingress_readiness_envelope(&readiness, &status);
    if (body == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
        return;
    }
    (void)ss_http_respond_json_headers(req, status, body, retry_after, status == 200 ? 0 : 1);
    free(body);
}

static void metrics_get(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_ops_http_respond_metrics(req);
}

const ss_http_route_t ss_ingress_health_routes[] = {
    {SS_HTTP_METHOD_GET, "/health", health_get},
    {SS_HTTP_METHOD_GET, "/ready", ready_get},
    {SS_HTTP_METHOD_GET, "/metrics", metrics_get},
};
const size_t ss_ingress_health_routes_count =
    sizeof(ss_ingress_health_routes) / sizeof(ss_ingress_health_routes[0]);
