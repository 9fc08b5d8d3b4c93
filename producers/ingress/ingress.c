/*
 * The ingress core: configuration table, the ss_ingress_t context (Kafka producer, PostgreSQL
 * and Redis pools), the list of route groups, and the answer/input helpers endpoint files share.
 */
#include "ingress.h"

#include "ss/retention.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/json.h"
#include "ss/log.h"
#include "ss/topics.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INGRESS_DEFAULT_BOOTSTRAP "127.0.0.1:19092"
#define INGRESS_DEFAULT_PG_DSN "postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream"
#define INGRESS_DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"
#define INGRESS_APPLICATION_NAME "ss-ingress"
/* How much longer than statement_timeout the ingress waits for an answer before giving up. */
#define INGRESS_PG_RESULT_MARGIN_MS 250
#define INGRESS_PG_OPTIONS_MAX 64
#define INGRESS_TOPOLOGY_TIMEOUT_MS 3000
/* The partitions schemas/topics.tsv gives ss.results. */
#define INGRESS_RESULTS_PARTITIONS_DECLARED 4

static const char ingress_body_internal[] =
    "{\"code\":500,\"message\":\"internal error\",\"error\":\"INTERNAL\"}";

void ss_ingress_config_options(ss_config_option_t *options, ss_ingress_config_t *config)
{
    const ss_config_option_t table[SS_INGRESS_CONFIG_OPTION_COUNT] = {
        {"--host", "SS_INGRESS_HOST", SS_CONFIG_STRING, "127.0.0.1", 2, 64,
         "numeric IPv4 or IPv6 address to listen on", &config->host},
        {"--port", "SS_INGRESS_PORT", SS_CONFIG_INT, "18080", 1, 65535, "HTTP port", &config->port},
        {"--threads", "SS_INGRESS_THREADS", SS_CONFIG_INT, "4", 1, SS_HTTP_THREADS_MAX,
         "HTTP threads (a suspended request holds none)", &config->threads},
        {"--instance", "SS_INGRESS_INSTANCE", SS_CONFIG_INT, "0", 0, 1023,
         "this ingress's number, in its request ids; it reads partition instance % N of ss.results",
         &config->instance},
        {"--kafka-bootstrap", "KAFKA_BOOTSTRAP", SS_CONFIG_STRING, INGRESS_DEFAULT_BOOTSTRAP, 1,
         1024, "Kafka bootstrap servers, host:port[,host:port]", &config->kafka_bootstrap},
        {"--pg-dsn", "PG_DSN", SS_CONFIG_STRING, INGRESS_DEFAULT_PG_DSN, 1, 1024,
         "PostgreSQL connection string", &config->pg_dsn},
        {"--redis-url", "REDIS_URL", SS_CONFIG_STRING, INGRESS_DEFAULT_REDIS_URL, 1, 1024,
         "Redis URL, redis://[[user]:password@]host[:port][/db]", &config->redis_url},
        {"--admin-token", "ADMIN_TOKEN", SS_CONFIG_STRING, NULL, 16, 256,
         "bearer token of the /api/v1/admin endpoints", &config->admin_token},
        {"--request-deadline-ms", "SS_REQUEST_DEADLINE_MS", SS_CONFIG_INT, "3000", 100, 60000,
         "how long a mutation waits for its result before answering 202",
         &config->request_deadline_ms},
        {"--dependency-timeout-ms", "SS_DEPENDENCY_TIMEOUT_MS", SS_CONFIG_INT, "500", 50, 60000,
         "timeout of each /ready probe and of Redis commands; also the pool wait",
         &config->dependency_timeout_ms},
        {"--pool-size", "SS_INGRESS_POOL_SIZE", SS_CONFIG_INT, "16", 1, SS_POOL_SIZE_MAX,
         "PostgreSQL connections and Redis connections kept at most (each)", &config->pool_size},
        {"--log-level", "SS_LOG_LEVEL", SS_CONFIG_STRING, "info", 1, 10,
         "debug, info, warn, error or off", &config->log_level},
        {"--schema-dir", "SS_SCHEMA_DIR", SS_CONFIG_STRING, SS_AVRO_SCHEMA_DIR_DEFAULT, 1, 4096,
         "folder of the Avro schemas (*.avsc)", &config->schema_dir},
        {"--pending-max", "SS_INGRESS_PENDING_MAX", SS_CONFIG_INT, "65536", 16, 4194304,
         "requests waiting for their result at once; beyond it new ones get 503",
         &config->pending_max},
        {"--openapi-path", "SS_OPENAPI_PATH", SS_CONFIG_STRING, SS_SOURCE_DIR "/docs/openapi.json",
         1, 4096, "the OpenAPI document GET /openapi.json serves", &config->openapi_path},
        {"--docs-asset-path", "SS_DOCS_ASSET_PATH", SS_CONFIG_STRING,
         SS_SOURCE_DIR "/docs/vendor/redoc/redoc.standalone.js", 1, 4096,
         "Redoc's standalone bundle, the script of the API page GET /docs",
         &config->docs_asset_path},
        {"--fatal-drain-ms", "SS_INGRESS_FATAL_DRAIN_MS", SS_CONFIG_INT, "3000", 0, 60000,
         "after a fatal producer error, how long /ready explains it before the process exits",
         &config->fatal_drain_ms},
        {"--producer-message-timeout-ms", "SS_PRODUCER_MESSAGE_TIMEOUT_MS", SS_CONFIG_INT, "30000",
         1000, 900000,
         "how long a command may wait to reach Kafka; past it, one never sent is answered as"
         " not applied",
         &config->producer_message_timeout_ms},
        {"--linger-ms", "SS_LINGER_MS", SS_CONFIG_INT, "2", 0, 1000,
         "how long the command producer gathers records into one request", &config->linger_ms},
        SS_CONFIG_FETCH_OPTIONS(&config->fetch_min_bytes, &config->fetch_wait_max_ms),
        {"--fault-producer-fatal-after-ms", "SS_FAULT_PRODUCER_FATAL_AFTER_MS", SS_CONFIG_INT, "0",
         0, 86400000, "tests only: raise a fatal producer error this long after start",
         &config->fault_producer_fatal_after_ms},
        {"--pg-timeout-ms", "SS_INGRESS_PG_TIMEOUT_MS", SS_CONFIG_INT, "1000", 100, 60000,
         "PostgreSQL statement_timeout of the ingress and its connect timeout; an answer is "
         "awaited 250 ms longer, then the connection is dropped",
         &config->pg_timeout_ms},
        {"--pg-retry-ms", "SS_INGRESS_PG_RETRY_MS", SS_CONFIG_INT, "1000", 100, 600000,
         "after PostgreSQL was found unreachable, reads and commands answer 503 at once for this "
         "long, then one request tries again",
         &config->pg_retry_ms},
        {"--connections-max", "SS_INGRESS_CONNECTIONS_MAX", SS_CONFIG_INT, "1024", 16, 65536,
         "open HTTP connections at most (suspended requests count)", &config->connections_max},
        {"--connections-per-address-max", "SS_INGRESS_CONNECTIONS_PER_ADDRESS_MAX", SS_CONFIG_INT,
         "512", 1, 65536, "open HTTP connections from one client address at most",
         &config->connections_per_address_max},
        {"--request-read-timeout-ms", "SS_INGRESS_REQUEST_READ_TIMEOUT_MS", SS_CONFIG_INT, "10000",
         100, 600000,
         "a request must be received whole within this time of its connection opening (or of "
         "the previous answer on a kept-alive connection), else the connection is closed",
         &config->request_read_timeout_ms},
        {"--pending-retention-s", "SS_PENDING_RETENTION_S", SS_CONFIG_INT,
         SS_RETENTION_PENDING_S_DEFAULT, SS_RETENTION_S_MIN, SS_RETENTION_S_MAX,
         "a request answered 202 reads as PENDING this long at most; its row goes once the result"
         " exists",
         &config->pending_retention_s},
        {"--retention-interval-ms", "SS_RETENTION_INTERVAL_MS", SS_CONFIG_INT,
         SS_RETENTION_INTERVAL_MS_DEFAULT, SS_RETENTION_INTERVAL_MS_MIN,
         SS_RETENTION_INTERVAL_MS_MAX,
         "how often request_pending is pruned (at once again while a batch was full)",
         &config->retention_interval_ms},
        {"--retention-rows-max", "SS_RETENTION_ROWS_MAX", SS_CONFIG_INT,
         SS_RETENTION_ROWS_MAX_DEFAULT, 1, SS_RETENTION_ROWS_MAX_LIMIT,
         "rows one pruning statement removes or looks at, at most", &config->retention_rows_max},
        {"--access-log-permille", "SS_ACCESS_LOG_PERMILLE", SS_CONFIG_INT, "1000", 0, 1000,
         "of every 1000 HTTP requests, how many get an access-log line (component=access "
         "method route status duration_ms request_id); 1000 all, 0 none",
         &config->access_log_permille},
    };
    memcpy(options, table, sizeof(table));
}

/* ---- pools ------------------------------------------------------------------------------------
 */

static ss_err_t pg_pool_create(void *opaque, void **resource_out, char *errstr, size_t errstr_size)
{
    const ss_ingress_t *ingress = opaque;
    const ss_ingress_config_t *config = ingress->config;
    char server_options[INGRESS_PG_OPTIONS_MAX];
    snprintf(server_options, sizeof(server_options), "-c statement_timeout=%lld",
             config->pg_timeout_ms);
    ss_pg_t *pg = NULL;
    ss_err_t err =
        ss_pg_connect_ms(config->pg_dsn, INGRESS_APPLICATION_NAME, (int)config->pg_timeout_ms,
                         server_options, &pg, errstr, errstr_size);
    if (err == SS_OK) {
        ss_pg_set_result_timeout(pg, (int)config->pg_timeout_ms + INGRESS_PG_RESULT_MARGIN_MS);
    }
    *resource_out = pg;
    return err;
}

static void pg_pool_destroy(void *opaque, void *resource)
{
    (void)opaque;
    ss_pg_destroy(resource);
}

static ss_err_t redis_pool_create(void *opaque, void **resource_out, char *errstr,
                                  size_t errstr_size)
{
    const ss_ingress_t *ingress = opaque;
    ss_redis_t *redis = NULL;
    ss_err_t err =
        ss_redis_connect(ingress->config->redis_url, (int)ingress->config->dependency_timeout_ms,
                         &redis, errstr, errstr_size);
    *resource_out = redis;
    return err;
}

static void redis_pool_destroy(void *opaque, void *resource)
{
    (void)opaque;
    ss_redis_destroy(resource);
}

ss_err_t ss_ingress_pg_acquire(ss_ingress_t *ingress, ss_pg_t **out, char *errstr,
                               size_t errstr_size)
{
    *out = NULL;
    if (!ss_breaker_allow(&ingress->pg_breaker, ss_clock_monotonic_ms())) {
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                          "postgresql was unreachable moments ago; not trying again yet");
    }
    void *resource = NULL;
    ss_err_t err = ss_pool_acquire(ingress->pg_pool, (int)ingress->config->dependency_timeout_ms,
                                   &resource, errstr, errstr_size);
    if (err == SS_ERR_RETRIABLE) {
        /* The connect failed: the server refuses, or did not answer within connect_timeout. */
        ss_breaker_failure(&ingress->pg_breaker, ss_clock_monotonic_ms());
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "postgresql unreachable error=\"%s\"", errstr);
    }
    *out = err == SS_OK ? resource : NULL;
    return err;
}

void ss_ingress_pg_release(ss_ingress_t *ingress, ss_pg_t *pg)
{
    if (pg == NULL) {
        return;
    }
    bool broken = ss_pg_is_broken(pg);
    if (ss_pg_timed_out(pg)) {
        /* The server hangs: the next requests answer 503 at once for pg_retry_ms. */
        ss_breaker_failure(&ingress->pg_breaker, ss_clock_monotonic_ms());
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "postgresql did not answer within timeout_ms=%lld",
                    ingress->config->pg_timeout_ms + INGRESS_PG_RESULT_MARGIN_MS);
    } else if (!broken) {
        ss_breaker_success(&ingress->pg_breaker);
    }
    /* Broken otherwise (a pooled connection the server dropped): the next connect decides. */
    ss_pool_release(ingress->pg_pool, pg, broken || ss_pg_in_transaction(pg));
}

ss_err_t ss_ingress_redis_acquire(ss_ingress_t *ingress, ss_redis_t **out, char *errstr,
                                  size_t errstr_size)
{
    void *resource = NULL;
    ss_err_t err = ss_pool_acquire(ingress->redis_pool, (int)ingress->config->dependency_timeout_ms,
                                   &resource, errstr, errstr_size);
    *out = err == SS_OK ? resource : NULL;
    return err;
}

void ss_ingress_redis_release(ss_ingress_t *ingress, ss_redis_t *redis)
{
    if (redis != NULL) {
        ss_pool_release(ingress->redis_pool, redis,
                        ss_redis_is_broken(redis) || ss_redis_pipeline_pending(redis) > 0);
    }
}

/* The commands' view of the pool (command.h). */
static ss_err_t commands_pg_acquire(void *opaque, ss_pg_t **out, char *errstr, size_t errstr_size)
{
    return ss_ingress_pg_acquire(opaque, out, errstr, errstr_size);
}

static void commands_pg_release(void *opaque, ss_pg_t *pg)
{
    ss_ingress_pg_release(opaque, pg);
}

static bool commands_pg_available(void *opaque)
{
    ss_ingress_t *ingress = opaque;
    return ss_breaker_is_available(&ingress->pg_breaker, ss_clock_monotonic_ms());
}

/* ---- the context ------------------------------------------------------------------------------
 */

/*
 * The command topics' partition counts against the recorded ones (ss/topology.h): a mismatch
 * refuses to start (SS_ERR_CONFLICT); a broker or database that does not answer is only
 * logged, since the workers, the owners of the state, check again before they consume.
 */
static ss_err_t topology_check(ss_ingress_t *ingress, char *errstr, size_t errstr_size)
{
    static const char *const topics[] = {SS_TOPIC_CMD_USER, SS_TOPIC_CMD_STOCK,
                                         SS_TOPIC_CMD_COUPON};
    ss_pg_t *pg = NULL;
    ss_err_t err = ss_ingress_pg_acquire(ingress, &pg, errstr, errstr_size);
    for (size_t i = 0; err == SS_OK && i < sizeof(topics) / sizeof(topics[0]); i++) {
        err = ss_topology_partitions_check(pg, ingress->config->kafka_bootstrap, topics[i],
                                           INGRESS_TOPOLOGY_TIMEOUT_MS, errstr, errstr_size);
    }
    ss_ingress_pg_release(ingress, pg);
    if (err == SS_ERR_CONFLICT) {
        return err;
    }
    if (err != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "topology not checked error=\"%s\"", errstr);
    }
    return SS_OK;
}

/*
 * The partition of ss.results this instance reads and names as reply_partition: its instance
 * number modulo the topic's partition count, so any number of instances can run. Instances that
 * share a partition each read all of it and keep only the results of their own request ids.
 * A broker that does not answer in time leaves instance % INGRESS_RESULTS_PARTITIONS_DECLARED,
 * a partition that exists in any deployment made from schemas/topics.tsv (partition counts only
 * grow), so the ingress still starts with Kafka down and never asks for a reply that cannot be
 * produced.
 */
static int results_partition_find(const ss_ingress_config_t *config)
{
    int32_t count = 0;
    char errstr[256];
    if (ss_kafka_topic_partition_count(config->kafka_bootstrap, SS_TOPIC_RESULTS, &count,
                                       INGRESS_TOPOLOGY_TIMEOUT_MS, errstr,
                                       sizeof(errstr)) != SS_OK) {
        const int partition = (int)(config->instance % INGRESS_RESULTS_PARTITIONS_DECLARED);
        SS_LOG_WARN(SS_INGRESS_COMPONENT,
                    "partition count unknown topic=%s partition=%d instance=%lld error=\"%s\"",
                    SS_TOPIC_RESULTS, partition, config->instance, errstr);
        return partition;
    }
    const int partition = (int)(config->instance % count);
    SS_LOG_INFO(SS_INGRESS_COMPONENT, "results topic=%s partition=%d of %" PRId32 " instance=%lld",
                SS_TOPIC_RESULTS, partition, count, config->instance);
    return partition;
}

ss_err_t ss_ingress_create(const ss_ingress_config_t *config, ss_ingress_t **out, char *errstr,
                           size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_ingress_t *ingress = calloc(1, sizeof(*ingress));
    if (ingress == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the ingress");
    }
    ingress->config = config;
    ss_breaker_init(&ingress->pg_breaker, config->pg_retry_ms);
    char load_error[256];
    if (ss_ingress_openapi_load(config->openapi_path, &ingress->openapi_document, load_error,
                                sizeof(load_error)) != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "GET /openapi.json will answer 500 error=\"%s\"",
                    load_error);
    }
    size_t docs_asset_length = 0;
    if (ss_ingress_text_file_read(config->docs_asset_path, SS_INGRESS_DOCS_ASSET_BYTES_MAX,
                                  &ingress->docs_asset, &docs_asset_length, load_error,
                                  sizeof(load_error)) != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT,
                    "GET /docs/redoc.standalone.js will answer 500 error=\"%s\"", load_error);
    }

    err = ss_pool_create((size_t)config->pool_size, pg_pool_create, pg_pool_destroy, ingress,
                         &ingress->pg_pool, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    err = ss_pool_create((size_t)config->pool_size, redis_pool_create, redis_pool_destroy, ingress,
                         &ingress->redis_pool, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    ss_ingress_commands_config_t commands_config = {
        .kafka_bootstrap = config->kafka_bootstrap,
        .pg = {.acquire = commands_pg_acquire,
               .release = commands_pg_release,
               .available = commands_pg_available,
               .opaque = ingress},
        .schema_dir = config->schema_dir,
        .instance = (int)config->instance,
        .results_partition = results_partition_find(config),
        .deadline_ms = (int)config->request_deadline_ms,
        .pending_max = (size_t)config->pending_max,
        .linger_ms = (int)config->linger_ms,
        .fetch_min_bytes = (int)config->fetch_min_bytes,
        .fetch_wait_max_ms = (int)config->fetch_wait_max_ms,
        .message_timeout_ms = (int)config->producer_message_timeout_ms,
    };
    err = ss_ingress_commands_start(&commands_config, &ingress->commands, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    ingress->producer = ss_ingress_commands_producer(ingress->commands);
    err = topology_check(ingress, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    *out = ingress;
    ingress = NULL;

cleanup:
    ss_ingress_destroy(ingress);
    return err;
}

void ss_ingress_destroy(ss_ingress_t *ingress)
{
    if (ingress == NULL) {
        return;
    }
    ss_ingress_commands_destroy(ingress->commands); /* its threads use the pools */
    ss_pool_destroy(ingress->redis_pool);
    ss_pool_destroy(ingress->pg_pool);
    ss_breaker_destroy(&ingress->pg_breaker);
    free(ingress->openapi_document);
    free(ingress->docs_asset);
    free(ingress);
}

void ss_ingress_producer_failed(ss_ingress_t *ingress, const char *reason)
{
    if (atomic_load(&ingress->producer_failed)) {
        return;
    }
    snprintf(ingress->producer_failure, sizeof(ingress->producer_failure), "%s", reason);
    atomic_store(&ingress->producer_failed, true);
}

const char *ss_ingress_producer_failure(ss_ingress_t *ingress)
{
    return atomic_load(&ingress->producer_failed) ? ingress->producer_failure : NULL;
}

/* ---- routes -----------------------------------------------------------------------------------
 */

typedef struct ingress_route_group {
    const ss_http_route_t *routes;
    const size_t *count;
} ingress_route_group_t;

/* One line per endpoint file. */
static const ingress_route_group_t ingress_route_groups[] = {
    {ss_ingress_health_routes, &ss_ingress_health_routes_count},
    {ss_ingress_balance_routes, &ss_ingress_balance_routes_count},
    {ss_ingress_coupons_routes, &ss_ingress_coupons_routes_count},
    {ss_ingress_products_routes, &ss_ingress_products_routes_count},
    {ss_ingress_popular_routes, &ss_ingress_popular_routes_count},
    {ss_ingress_requests_routes, &ss_ingress_requests_routes_count},
    {ss_ingress_admin_routes, &ss_ingress_admin_routes_count},
    {ss_ingress_openapi_routes, &ss_ingress_openapi_routes_count},
    {ss_ingress_docs_routes, &ss_ingress_docs_routes_count},
    {ss_ingress_orders_routes, &ss_ingress_orders_routes_count},
};

size_t ss_ingress_routes(ss_http_route_t *routes, size_t routes_max)
{
    size_t count = 0;
    size_t groups = sizeof(ingress_route_groups) / sizeof(ingress_route_groups[0]);
    for (size_t g = 0; g < groups; g++) {
        const ingress_route_group_t *group = &ingress_route_groups[g];
        SS_ASSERT(count + *group->count <= routes_max);
        memcpy(routes + count, group->routes, *group->count * sizeof(*routes));
        count += *group->count;
    }
    return count;
}

ss_err_t ss_ingress_server_start(ss_ingress_t *ingress, ss_http_server_t **out, char *errstr,
                                 size_t errstr_size)
{
    ss_http_route_t routes[SS_HTTP_ROUTES_MAX];
    size_t routes_count = ss_ingress_routes(routes, SS_HTTP_ROUTES_MAX);
    ss_http_server_config_t server_config = {
        .bind_address = ingress->config->host,
        .port = (uint16_t)ingress->config->port,
        .threads = (unsigned)ingress->config->threads,
        .connections_max = (unsigned)ingress->config->connections_max,
        .connections_per_address_max = (unsigned)ingress->config->connections_per_address_max,
        .request_read_timeout_ms = (unsigned)ingress->config->request_read_timeout_ms,
        .routes = routes,
        .routes_count = routes_count,
        .context = ingress,
        .metrics = ss_metrics_process(),
        .access_log_permille = (unsigned)ingress->config->access_log_permille,
    };
    return ss_http_server_start(&server_config, out, errstr, errstr_size);
}

/* ---- answering --------------------------------------------------------------------------------
 */

/* Sends a malloc'd envelope (NULL: out of memory, answered 500) and frees it. */
static void respond_envelope(ss_http_request_t *req, int status, char *body,
                             const ss_http_header_t *headers, size_t headers_count)
{
    if (body == NULL) {
        (void)ss_http_respond_json(req, 500, ingress_body_internal);
        return;
    }
    (void)ss_http_respond_json_headers(req, status, body, headers, headers_count);
    free(body);
}

void ss_ingress_respond_ok(ss_http_request_t *req, json_t *data)
{
    respond_envelope(req, 200, ss_json_envelope_ok(data), NULL, 0);
}

void ss_ingress_respond_error(ss_http_request_t *req, ss_api_error_t error, const char *message,
                              json_t *data)
{
    static const ss_http_header_t retry_after[] = {{"Retry-After", "1"}};
    bool unavailable = error == SS_API_ERROR_UNAVAILABLE;
    respond_envelope(req, ss_api_error_status(error),
                     ss_json_envelope_api_error(error, message, data),
                     unavailable ? retry_after : NULL, unavailable ? 1 : 0);
}

ss_err_t ss_ingress_body_object(ss_http_request_t *req, const char *const *fields,
                                size_t field_count, json_t **out)
{
    char errstr[256];
    size_t length = 0;
    const char *body = ss_http_request_body(req, &length);
    ss_err_t err = ss_json_parse_object(body, length, out, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_json_check_fields(*out, fields, field_count, errstr, sizeof(errstr));
        if (err != SS_OK) {
            json_decref(*out);
            *out = NULL;
        }
    }
    if (err == SS_ERR_INVALID) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
    } else if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
    }
    return err;
}

ss_err_t ss_ingress_path_id(ss_http_request_t *req, const char *name, int64_t *id_out)
{
    ss_err_t err = ss_http_request_param_id(req, name, id_out);
    if (err != SS_OK) {
        char message[128];
        snprintf(message, sizeof(message), "%s must be a positive integer", name);
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, message, NULL);
        return SS_ERR_INVALID;
    }
    return SS_OK;
}

ss_err_t ss_ingress_query(ss_ingress_t *ingress, const char *sql, int param_count,
                          const char *const *params, PGresult **rows_out, char *errstr,
                          size_t errstr_size)
{
    *rows_out = NULL;
    ss_err_t err = SS_ERR_RETRIABLE;
    for (int attempt = 0; attempt < 2 && err == SS_ERR_RETRIABLE; attempt++) {
        ss_pg_t *pg = NULL;
        err = ss_ingress_pg_acquire(ingress, &pg, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        err = ss_pg_query(pg, NULL, sql, param_count, params, rows_out, errstr, errstr_size);
        ss_ingress_pg_release(ingress, pg);
    }
    return err;
}
