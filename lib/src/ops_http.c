/*
 * The ops server (ss/ops_http.h): /health, /ready and /metrics on an ss/http.h server of one
 * thread, and the answers the ingress and the mock platform reuse on their own ports.
 */
#include "ss/ops_http.h"

#include "ss/api_error.h"
#include "ss/assert.h"
#include "ss/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_RETRY_AFTER_S "5"
#define OPS_MESSAGE_BYTES_MAX (SS_OPS_CHECKS_MAX * (SS_OPS_DETAIL_BYTES_MAX + 32) + 16)
#define OPS_CONNECTIONS_MAX 64

static const char ops_body_internal[] =
    "{\"code\":500,\"message\":\"internal error\",\"error\":\"INTERNAL\"}";

struct ss_ops_http {
    ss_ops_http_config_t config;
    ss_http_server_t *server;
};

void ss_ops_http_options(ss_config_option_t *options, char **host, long long *port)
{
    const ss_config_option_t table[SS_OPS_HTTP_OPTION_COUNT] = {
        {"--metrics-host", "SS_METRICS_HOST", SS_CONFIG_STRING, "127.0.0.1", 2, 64,
         "numeric address the ops endpoints (/health, /ready, /metrics) listen on", host},
        {"--metrics-port", "SS_METRICS_PORT", SS_CONFIG_INT, "0", 0, 65535,
         "port of the ops endpoints GET /health, /ready and /metrics (0: off)", port},
    };
    memcpy(options, table, sizeof(table));
}

void ss_ops_check_fail(ss_ops_check_t *check, const char *fmt, ...)
{
    check->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(check->detail, sizeof(check->detail), fmt, ap);
    va_end(ap);
    /* Error texts may span lines (libpq's do); a message is one line. */
    for (char *c = check->detail; *c != '\0'; c++) {
        if (*c == '\n' || *c == '\r' || *c == '\t') {
            *c = ' ';
        }
    }
}

/* "not ready: a: why; b: why" for the failed checks. */
static void failures_describe(const ss_ops_check_t *checks, size_t count, char *out,
                              size_t out_size)
{
    size_t used = (size_t)snprintf(out, out_size, "not ready:");
    const char *separator = " ";
    for (size_t i = 0; i < count && used < out_size; i++) {
        if (!checks[i].ok) {
            used += (size_t)snprintf(out + used, out_size - used, "%s%s: %s", separator,
                                     checks[i].name, checks[i].detail);
            separator = "; ";
        }
    }
}

char *ss_ops_http_ready_body(const ss_ops_check_t *checks, size_t count, int *status_out)
{
    json_t *data = json_object();
    if (data == NULL) {
        return NULL;
    }
    bool ready = true;
    for (size_t i = 0; i < count; i++) {
        ready &= checks[i].ok;
        if (json_object_set_new(data, checks[i].name, json_string(checks[i].ok ? "UP" : "DOWN")) !=
            0) {
            json_decref(data);
            return NULL;
        }
    }
    if (ready) {
        *status_out = 200;
        return ss_json_envelope_ok(data);
    }
    char message[OPS_MESSAGE_BYTES_MAX];
    failures_describe(checks, count, message, sizeof(message));
    *status_out = ss_api_error_status(SS_API_ERROR_UNAVAILABLE);
    return ss_json_envelope_api_error(SS_API_ERROR_UNAVAILABLE, message, data);
}

void ss_ops_http_respond_ready(ss_http_request_t *req, ss_ops_ready_fn ready, void *opaque)
{
    static const ss_http_header_t retry_after[] = {{"Retry-After", OPS_RETRY_AFTER_S}};
    ss_ops_check_t checks[SS_OPS_CHECKS_MAX];
    memset(checks, 0, sizeof(checks));
    size_t count = ready != NULL ? ready(opaque, checks, SS_OPS_CHECKS_MAX) : 0;
    SS_ASSERT(count <= SS_OPS_CHECKS_MAX);
    int status = 500;
    char *body = ss_ops_http_ready_body(checks, count, &status);
    if (body == NULL) {
        (void)ss_http_respond_json(req, 500, ops_body_internal);
        return;
    }
    (void)ss_http_respond_json_headers(req, status, body, retry_after, status == 200 ? 0 : 1);
    free(body);
}

void ss_ops_http_respond_metrics(ss_http_request_t *req)
{
    static const ss_http_header_t text[] = {{"Content-Type", SS_METRICS_CONTENT_TYPE}};
    char *body = NULL;
    size_t length = 0;
    if (ss_metrics_render(ss_metrics_process(), &body, &length, NULL, 0) != SS_OK) {
        (void)ss_http_respond_json(req, 500, ops_body_internal);
        return;
    }
    (void)ss_http_respond_json_headers(req, 200, body, text, 1);
    free(body);
}

static void health_get(ss_http_request_t *req, void *context)
{
    (void)context;
    (void)ss_http_respond_json(req, 200,
                               "{\"code\":200,\"message\":\"OK\",\"data\":{\"status\":\"UP\"}}");
}

static void ready_get(ss_http_request_t *req, void *context)
{
    const ss_ops_http_t *ops = context;
    ss_ops_http_respond_ready(req, ops->config.ready, ops->config.opaque);
}

static void metrics_get(ss_http_request_t *req, void *context)
{
    (void)context;
    ss_ops_http_respond_metrics(req);
}

ss_err_t ss_ops_http_start(const ss_ops_http_config_t *config, ss_ops_http_t **out, char *errstr,
                           size_t errstr_size)
{
    static const ss_http_route_t routes[] = {
        {SS_HTTP_METHOD_GET, "/health", health_get},
        {SS_HTTP_METHOD_GET, "/ready", ready_get},
        {SS_HTTP_METHOD_GET, "/metrics", metrics_get},
    };
    *out = NULL;
    ss_ops_http_t *ops = calloc(1, sizeof(*ops));
    if (ops == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the ops server");
    }
    ops->config = *config;
    const ss_http_server_config_t server_config = {
        .bind_address = config->bind_address,
        .port = config->port,
        .threads = 1,
        .connections_max = OPS_CONNECTIONS_MAX,
        .routes = routes,
        .routes_count = sizeof(routes) / sizeof(routes[0]),
        .context = ops,
        .metrics = ss_metrics_process(),
    };
    ss_err_t err = ss_http_server_start(&server_config, &ops->server, errstr, errstr_size);
    if (err != SS_OK) {
        free(ops);
        return err;
    }
    *out = ops;
    return SS_OK;
}

uint16_t ss_ops_http_port(const ss_ops_http_t *ops)
{
    return ss_http_server_port(ops->server);
}

void ss_ops_http_destroy(ss_ops_http_t *ops)
{
    if (ops == NULL) {
        return;
    }
    ss_http_server_destroy(ops->server);
    free(ops);
}
