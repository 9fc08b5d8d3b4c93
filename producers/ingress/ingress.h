/*
 * The ingress core (library ss_ingress_core, everything but main.c): its configuration, the
 * ss_ingress_t context every endpoint takes, the route table, and the small helpers that keep
 * an endpoint file short (answer with an envelope, read a JSON body or an id, borrow a pooled
 * connection).
 *
 * Adding an endpoint group (balance.c, products.c, ...):
 *   1. in the new file, write static handlers `void h(ss_http_request_t *req, void *context)`
 *      (context is the ss_ingress_t) and define
 *        const ss_http_route_t ss_ingress_<group>_routes[] = {{SS_HTTP_METHOD_GET, "/...", h}};
 *        const size_t ss_ingress_<group>_routes_count = sizeof(...) / sizeof(...[0]);
 *   2. declare both below, next to the health group;
 *   3. add the pair to the group list in ingress.c.
 *
 * Threads: handlers run on the HTTP server's threads, several at once, so everything reachable
 * from ss_ingress_t is thread-safe (the producer and the pools are; a pooled connection is
 * used by one thread between acquire and release).
 */
#ifndef SS_INGRESS_H
#define SS_INGRESS_H

#include "command.h"

#include "ss/api_error.h"
#include "ss/breaker.h"
#include "ss/config.h"
#include "ss/error.h"
#include "ss/http.h"
#include "ss/kafka.h"
#include "ss/pg.h"
#include "ss/pool.h"
#include "ss/redis.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SS_INGRESS_COMPONENT "ingress"
/* Redoc's bundle (GET /docs/redoc.standalone.js) is about 1.1 MB; anything this large is not it. */
#define SS_INGRESS_DOCS_ASSET_BYTES_MAX (8 * 1024 * 1024)

/* ---- configuration --------------------------------------------------------------------------- */

/* Filled by ss_config_load() from ss_ingress_config_options(); freed with ss_config_free(). */
typedef struct ss_ingress_config {
    char *host;                      /* SS_INGRESS_HOST, numeric address to bind */
    long long port;                  /* SS_INGRESS_PORT */
    long long threads;               /* SS_INGRESS_THREADS, HTTP polling threads */
    long long instance;              /* SS_INGRESS_INSTANCE, 0..1023: in request ids; reads
                                        ss.results partition instance % its partition count */
    char *kafka_bootstrap;           /* KAFKA_BOOTSTRAP */
    char *pg_dsn;                    /* PG_DSN */
    char *redis_url;                 /* REDIS_URL */
    char *admin_token;               /* ADMIN_TOKEN, required */
    long long request_deadline_ms;   /* SS_REQUEST_DEADLINE_MS: wait for a result, then 202 */
    long long dependency_timeout_ms; /* SS_DEPENDENCY_TIMEOUT_MS: probes, Redis commands */
    long long pool_size;             /* SS_INGRESS_POOL_SIZE: PostgreSQL and Redis connections */
    char *log_level;                 /* SS_LOG_LEVEL */
    char *schema_dir;                /* SS_SCHEMA_DIR: the Avro schemas */
    long long pending_max;           /* SS_INGRESS_PENDING_MAX: requests awaiting a result */
    char *openapi_path;              /* SS_OPENAPI_PATH: the document GET /openapi.json serves */
    char *docs_asset_path;           /* SS_DOCS_ASSET_PATH: Redoc's bundle, for GET /docs */
    long long fatal_drain_ms;        /* SS_INGRESS_FATAL_DRAIN_MS: /ready says why, then exit */
    long long producer_message_timeout_ms;   /* SS_PRODUCER_MESSAGE_TIMEOUT_MS */
    long long linger_ms;                     /* SS_LINGER_MS: the command producer's linger */
    long long fetch_min_bytes;               /* SS_FETCH_MIN_BYTES: the results consumer's */
    long long fetch_wait_max_ms;             /* SS_FETCH_WAIT_MAX_MS: the results consumer's */
    long long fault_producer_fatal_after_ms; /* SS_FAULT_PRODUCER_FATAL_AFTER_MS (tests; 0 off) */
    long long pg_timeout_ms;   /* SS_INGRESS_PG_TIMEOUT_MS: statement_timeout, answer wait */
    long long pg_retry_ms;     /* SS_INGRESS_PG_RETRY_MS: PostgreSQL down: 503 at once this long */
    long long connections_max; /* SS_INGRESS_CONNECTIONS_MAX */
    long long connections_per_address_max; /* SS_INGRESS_CONNECTIONS_PER_ADDRESS_MAX */
    long long request_read_timeout_ms;     /* SS_INGRESS_REQUEST_READ_TIMEOUT_MS */
    long long pending_retention_s; /* SS_PENDING_RETENTION_S: request_pending rows (retention.h) */
    long long retention_interval_ms; /* SS_RETENTION_INTERVAL_MS: the pruning timer */
    long long retention_rows_max;    /* SS_RETENTION_ROWS_MAX: rows one statement removes */
    long long access_log_permille;   /* SS_ACCESS_LOG_PERMILLE: requests per 1000 logged */
} ss_ingress_config_t;

#define SS_INGRESS_CONFIG_OPTION_COUNT 31

/* Fills options[0..SS_INGRESS_CONFIG_OPTION_COUNT) with targets inside *config. */
void ss_ingress_config_options(ss_config_option_t *options, ss_ingress_config_t *config);

/* ---- the context --------------------------------------------------------------------------------
 */

typedef struct ss_ingress {
    const ss_ingress_config_t *config; /* borrowed; outlives the ingress */
    ss_ingress_commands_t *commands;   /* publishes commands, completes their requests */
    ss_kafka_producer_t *producer;     /* the commands' idempotent producer (borrowed) */
    ss_pool_t *pg_pool;                /* resources are ss_pg_t * */
    ss_pool_t *redis_pool;             /* resources are ss_redis_t * */
    /*
     * Open while PostgreSQL was last found unreachable or hanging: ss_ingress_pg_acquire() then
     * fails at once (SS_ERR_RETRIABLE, answered 503) instead of every HTTP thread waiting out
     * its own timeout. Fed by acquire (connect failures) and release (broken connections).
     */
    ss_breaker_t pg_breaker;
    char *openapi_document; /* read at start-up; NULL when it could not be (owned) */
    char *docs_asset;       /* Redoc's bundle, likewise (owned) */
    /*
     * Set once by the main loop (ss_ingress_producer_failed) when the producer failed fatally:
     * nothing can be published any more and the process is about to exit non-zero. The text is
     * written before the flag is raised and never changes after it.
     */
    atomic_bool producer_failed;
    char producer_failure[256];
} ss_ingress_t;

/*
 * Creates the producer and the (lazy) pools; contacts no server, so it succeeds while
 * dependencies are down (GET /ready reports them). The caller frees *out with
 * ss_ingress_destroy(); config must outlive it.
 */
ss_err_t ss_ingress_create(const ss_ingress_config_t *config, ss_ingress_t **out, char *errstr,
                           size_t errstr_size);

/* Every pooled connection must have been released. NULL is a no-op. */
void ss_ingress_destroy(ss_ingress_t *ingress);

/* The main loop's: records why the producer failed fatally (the first call wins). */
void ss_ingress_producer_failed(ss_ingress_t *ingress, const char *reason);
/* Why the producer failed fatally, or NULL while it has not. Any thread. */
const char *ss_ingress_producer_failure(ss_ingress_t *ingress);

/* ---- routes -------------------------------------------------------------------------------------
 */

/* health.c: GET /health, GET /ready, GET /metrics. */
extern const ss_http_route_t ss_ingress_health_routes[];
extern const size_t ss_ingress_health_routes_count;
/* balance.c: GET /users/{id}/balance, POST /users/{id}/balance/charge. */
extern const ss_http_route_t ss_ingress_balance_routes[];
extern const size_t ss_ingress_balance_routes_count;
/* coupons.c: GET and POST /users/{id}/coupons. */
extern const ss_http_route_t ss_ingress_coupons_routes[];
extern const size_t ss_ingress_coupons_routes_count;
/* products.c: GET /products. */
extern const ss_http_route_t ss_ingress_products_routes[];
extern const size_t ss_ingress_products_routes_count;
/* popular.c: GET /products/popular. */
extern const ss_http_route_t ss_ingress_popular_routes[];
extern const size_t ss_ingress_popular_routes_count;
/* requests.c: GET /requests/{id}. */
extern const ss_http_route_t ss_ingress_requests_routes[];
extern const size_t ss_ingress_requests_routes_count;
/* admin.c: users, products, coupons. */
extern const ss_http_route_t ss_ingress_admin_routes[];
extern const size_t ss_ingress_admin_routes_count;
/* openapi.c: GET /openapi.json. */
extern const ss_http_route_t ss_ingress_openapi_routes[];
extern const size_t ss_ingress_openapi_routes_count;
/* docs.c: GET /docs, the browsable API page, and its script. */
extern const ss_http_route_t ss_ingress_docs_routes[];
extern const size_t ss_ingress_docs_routes_count;
/* orders.c: POST /api/v1/orders, GET /api/v1/orders/{id}. */
extern const ss_http_route_t ss_ingress_orders_routes[];
extern const size_t ss_ingress_orders_routes_count;

/*
 * openapi.c: reads the OpenAPI document at path and checks that it is a JSON object. On SS_OK
 * the caller frees *out (the file's text, NUL-terminated) with free(); on failure *out is NULL.
 */
ss_err_t ss_ingress_openapi_load(const char *path, char **out, char *errstr, size_t errstr_size);

/*
 * docs.c: reads the text file at path, at most bytes_max bytes and no NUL byte, into a malloc'd,
 * NUL-terminated *out (caller frees) of *length_out bytes. SS_ERR_NOT_FOUND when it cannot be
 * opened, SS_ERR_INVALID when it cannot be read, is too large or holds a NUL, SS_ERR_NOMEM.
 */
ss_err_t ss_ingress_text_file_read(const char *path, size_t bytes_max, char **out,
                                   size_t *length_out, char *errstr, size_t errstr_size);

/*
 * Copies every group's routes into routes[0..routes_max) and returns how many; a table that
 * does not fit is a programmer error (SS_ASSERT).
 */
size_t ss_ingress_routes(ss_http_route_t *routes, size_t routes_max);

/* Starts the HTTP server on config host/port/threads with every route and ingress as context. */
ss_err_t ss_ingress_server_start(ss_ingress_t *ingress, ss_http_server_t **out, char *errstr,
                                 size_t errstr_size);

/* ---- answering with the envelope (API.md) -----------------------------------------------------
 */

/* 200 {"code":200,"message":"OK","data":...}. Steals data (may be NULL). */
void ss_ingress_respond_ok(ss_http_request_t *req, json_t *data);

/*
 * {"code":<status>,"message":...,"error":"<NAME>"[,"data":...]} with the code's status; message
 * NULL means the code's default message. UNAVAILABLE carries Retry-After: 1. Steals data.
 */
void ss_ingress_respond_error(ss_http_request_t *req, ss_api_error_t error, const char *message,
                              json_t *data);

/*
 * The body as a JSON object whose keys are all among fields[0..field_count) (the properties of
 * the operation's request schema, which says additionalProperties: false): a misspelt optional
 * field ("couponID") is refused instead of silently ignored. On failure answers 400
 * INVALID_REQUEST with the reason ("couponID is not a known field") or 500, and returns the
 * error: the handler just returns. On SS_OK the caller json_decref()s *out.
 */
ss_err_t ss_ingress_body_object(ss_http_request_t *req, const char *const *fields,
                                size_t field_count, json_t **out);
/* A handler's static array of field names as the (fields, field_count) pair. */
#define SS_INGRESS_FIELDS(fields) (fields), (sizeof(fields) / sizeof((fields)[0]))

/*
 * The path parameter name as an entity id (1..INT64_MAX). On failure answers
 * 400 INVALID_REQUEST ("id must be a positive integer") and returns SS_ERR_INVALID.
 */
ss_err_t ss_ingress_path_id(ss_http_request_t *req, const char *name, int64_t *id_out);

/* ---- pooled connections ------------------------------------------------------------------------
 */

/*
 * Borrow a connection for at most dependency_timeout_ms of waiting; give it back with the
 * matching release, which destroys it when it is broken. SS_ERR_TIMEOUT when the pool stays
 * exhausted, the connect error otherwise (SS_ERR_RETRIABLE: the server is unreachable), and
 * SS_ERR_RETRIABLE at once while pg_breaker is open. A PostgreSQL connection answers within
 * pg_timeout_ms (server-side statement_timeout) or fails with SS_ERR_TIMEOUT 250 ms later
 * (client side) and is then broken. A connect that fails or an answer that timed out opens
 * pg_breaker; a sound connection released closes it.
 */
ss_err_t ss_ingress_pg_acquire(ss_ingress_t *ingress, ss_pg_t **out, char *errstr,
                               size_t errstr_size);
void ss_ingress_pg_release(ss_ingress_t *ingress, ss_pg_t *pg);
ss_err_t ss_ingress_redis_acquire(ss_ingress_t *ingress, ss_redis_t **out, char *errstr,
                                  size_t errstr_size);
void ss_ingress_redis_release(ss_ingress_t *ingress, ss_redis_t *redis);

/*
 * Runs one read on a pooled PostgreSQL connection (text params), retrying once on a fresh
 * connection when the pooled one turns out broken. On SS_OK the caller PQclear()s *rows_out.
 */
ss_err_t ss_ingress_query(ss_ingress_t *ingress, const char *sql, int param_count,
                          const char *const *params, PGresult **rows_out, char *errstr,
                          size_t errstr_size);

/* ---- readiness (health.c) ----------------------------------------------------------------------
 */

typedef struct ss_ingress_readiness {
    bool kafka;
    bool postgres;
    bool redis;
    const char *fatal; /* why the producer failed fatally; NULL while it has not */
} ss_ingress_readiness_t;

/* Probes the three dependencies, each bounded by dependency_timeout_ms (plus one reconnect). */
void ss_ingress_readiness_probe(ss_ingress_t *ingress, ss_ingress_readiness_t *out);

/*
 * The /ready answer for a probe result (pure): 200 with data {"kafka":"UP","postgres":"UP",
 * "redis":"UP"}, or 503 UNAVAILABLE naming what is down ("not ready: redis is not reachable")
 * with the same data. After a fatal producer error: 503 UNAVAILABLE "not ready: <why>; the
 * ingress is stopping" with kafka "FAILED". Returns a malloc'd body the caller frees, NULL when
 * out of memory.
 */
char *ss_ingress_readiness_envelope(const ss_ingress_readiness_t *readiness, int *status_out);

#endif
