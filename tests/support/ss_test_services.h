/*
 * The project's processes for one HTTP-level integration test: an ss-ingress of its own (its
 * own port and SS_INGRESS_INSTANCE, so its results partition is not a developer's) and N
 * instances of each worker binary the test needs, all with the stack's environment.
 *
 * ss_test_services_start() returns once the ingress answers /health and /ready and every
 * started kind of worker has answered a probe mutation through the ingress (a charge, an
 * issuance, a stock adjustment): the whole path HTTP -> Kafka -> worker -> PostgreSQL ->
 * ss.results -> HTTP works. ss_test_services_stop() stops them (SIGTERM, bounded wait, then
 * SIGKILL). Processes log to /tmp/ss-test-<binary>.log.
 *
 * Ownership: the services struct is the caller's (usually static); it owns the client in
 * services->http, which ss_test_services_stop() destroys.
 */
#ifndef SS_TEST_SERVICES_H
#define SS_TEST_SERVICES_H

#include "ss_test_http.h"

#include "ss/pg.h"

#include <stdbool.h>
#include <sys/types.h>

#define SS_TEST_SERVICES_WORKERS_MAX 4
/* How long a mutation in a test may take to settle (202 followed to DONE). */
#define SS_TEST_SERVICES_SETTLE_MS 90000

typedef enum ss_test_service_kind {
    SS_TEST_SERVICE_USER = 0, /* workers/user/ss-user-worker */
    SS_TEST_SERVICE_COUPON,   /* workers/coupon/ss-coupon-worker */
    SS_TEST_SERVICE_STOCK,    /* workers/stock/ss-stock-worker */
    SS_TEST_SERVICE_KINDS     /* not a kind: the number of kinds */
} ss_test_service_kind_t;

typedef struct ss_test_services_config {
    int instance; /* SS_INGRESS_INSTANCE: 1..1023, not a multiple of 4 (it reads ss.results
                     partition instance % 4, and partition 0 is a developer's) */
    int port;     /* SS_INGRESS_PORT; taken by someone else: a free one instead */
    int workers[SS_TEST_SERVICE_KINDS]; /* instances of each worker binary, 0..WORKERS_MAX */
    int request_deadline_ms;            /* SS_REQUEST_DEADLINE_MS; 0: the ingress's default */
    /* More "NAME=value" entries for the ingress (NULL-terminated, borrowed), or NULL. */
    const char *const *ingress_environment;
    /* More "NAME=value" entries for every worker (NULL-terminated, borrowed), or NULL. */
    const char *const *worker_environment;
} ss_test_services_config_t;

typedef struct ss_test_services {
    ss_test_services_config_t config;
    pid_t ingress_pid;
    pid_t worker_pids[SS_TEST_SERVICE_KINDS][SS_TEST_SERVICES_WORKERS_MAX];
    int port;
    char base_url[64];
    char admin_token[128];
    ss_test_http_t *http; /* a client of this ingress that knows the admin token */
    ss_pg_t *pg;          /* a connection to the stack's database, for the test's own checks */
} ss_test_services_t;

/* Starts everything and waits until it serves (see above); fails the test otherwise. */
void ss_test_services_start(ss_test_services_t *services, const ss_test_services_config_t *config);

/* Stops every process still running, frees the client and the connection. Zeroed: a no-op. */
void ss_test_services_stop(ss_test_services_t *services);
/*
 * A cmocka group teardown for a suite whose group setup started the services and set *state to
 * them: stops them. The usual shape of an HTTP-level test file.
 */
int ss_test_services_teardown(void **state);

/* Sends signal_number to worker index of kind and reaps it (SIGKILL: kill -9). */
void ss_test_services_worker_stop(ss_test_services_t *services, ss_test_service_kind_t kind,
                                  int index, int signal_number);

/* Starts worker index of kind again (after ss_test_services_worker_stop). */
void ss_test_services_worker_start(ss_test_services_t *services, ss_test_service_kind_t kind,
                                   int index);

/*
 * Sends one request and settles a 202 (waiting for DONE up to SS_TEST_SERVICES_SETTLE_MS), so
 * the reply is the final outcome whatever the timing of rebalances.
 */
void ss_test_services_send(ss_test_services_t *services, const ss_test_http_request_t *request,
                           ss_test_http_reply_t *reply);

#endif
