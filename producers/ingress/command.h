/*
 * Commands from the ingress to the workers, and their answers (docs/architecture.md,
 * "Requests, replies and idempotency").
 *
 * A mutation endpoint builds the command's record and calls ss_ingress_command_submit(): the
 * request gets an id `<instance>-<start ms>-<sequence>`, the Idempotency-Key header (if any)
 * and a SHA-256 of the body are attached, the command is produced keyed by the owning entity,
 * and the HTTP request is suspended (no thread is held). It is answered by whichever comes
 * first: the worker's CommandResult on this instance's partition of ss.results, the deadline
 * (202 with a Location to GET /api/v1/requests/{id}, after the id is recorded in
 * request_pending), or a failed delivery (503). `Prefer: respond-async` records the id in
 * request_pending first and answers 202 as soon as the command is handed to the producer.
 *
 * PostgreSQL down: a command is refused with 503 before it is sent while the ingress knows
 * PostgreSQL to be unreachable (pg.available), and an async one whose pending row cannot be
 * written is refused before it is sent. A command already sent is never answered with an
 * error: at its deadline it gets 202 even if its pending row could not be written then (a
 * warning is logged; GET /requests/{id} answers 503 while PostgreSQL is down, and DONE once the
 * worker applied it).
 *
 * Pending requests live in a fixed ring of slots indexed by sequence: looking a result up is
 * an array access, and a ring full of unanswered requests refuses new ones with 503 (the bound
 * on what one instance keeps waiting).
 */
#ifndef SS_INGRESS_COMMAND_H
#define SS_INGRESS_COMMAND_H

#include "ss/avro.h"
#include "ss/error.h"
#include "ss/http.h"
#include "ss/kafka.h"
#include "ss/pg.h"
#include "ss/topics.h"

#include <jansson.h>

/* Longest Idempotency-Key accepted. */
#define SS_INGRESS_IDEMPOTENCY_KEY_MAX 255

typedef struct ss_ingress_commands ss_ingress_commands_t;

/*
 * How commands reach PostgreSQL for their request_pending rows: the ingress's pool, bounded
 * (see ss_ingress_pg_acquire). available says whether PostgreSQL is worth trying now; while
 * it is not, new commands are refused with 503 before they are sent.
 */
typedef struct ss_ingress_commands_pg {
    ss_err_t (*acquire)(void *opaque, ss_pg_t **out, char *errstr, size_t errstr_size);
    void (*release)(void *opaque, ss_pg_t *pg);
    bool (*available)(void *opaque);
    void *opaque; /* borrowed; outlives the commands */
} ss_ingress_commands_pg_t;

typedef struct ss_ingress_commands_config {
    const char *kafka_bootstrap;
    ss_ingress_commands_pg_t pg; /* for request_pending rows */
    const char *schema_dir;      /* NULL: the source tree's schemas/ */
    int instance;                /* in this ingress's request ids */
    int results_partition;       /* the ss.results partition it reads and asks replies on */
    int deadline_ms;             /* how long a request waits for its result */
    size_t pending_max;          /* slots in the ring, e.g. 65536 */
    int linger_ms;               /* producer linger */
    int fetch_min_bytes;         /* results consumer: see ss_kafka_consumer_config_t */
    int fetch_wait_max_ms;
    int message_timeout_ms; /* how long a command may wait to reach Kafka (message.timeout.ms) */
} ss_ingress_commands_config_t;

/*
 * Creates the producer, the results consumer (this instance's partition, from its end) and the
 * two threads that complete requests. The config is copied. Caller frees with
 * ss_ingress_commands_destroy().
 */
ss_err_t ss_ingress_commands_start(const ss_ingress_commands_config_t *config,
                                   ss_ingress_commands_t **out, char *errstr, size_t errstr_size);

/*
 * The first step of a shutdown, while the HTTP server still runs: refuses new commands with 503
 * (they are not sent), waits (bounded) for the broker to acknowledge the sent ones (a command
 * that failed delivery gets 503), gives those a moment for their results, then answers every
 * command still waiting 202 with its status URL, after recording it in request_pending: a
 * command that may apply is never answered with an error.
 */
void ss_ingress_commands_drain(ss_ingress_commands_t *commands);

/* Stops the threads, answers every pending request 503, frees. NULL is a no-op. */
void ss_ingress_commands_destroy(ss_ingress_commands_t *commands);

/* The producer (for the readiness probe). Owned by commands. */
ss_kafka_producer_t *ss_ingress_commands_producer(ss_ingress_commands_t *commands);

/*
 * The Idempotency-Key header of req: SS_OK with *key_out NULL when there is none, or the key
 * when it is 1 to SS_INGRESS_IDEMPOTENCY_KEY_MAX bytes of valid UTF-8. Otherwise answers 400
 * INVALID_REQUEST naming the header and returns SS_ERR_INVALID: the handler just returns.
 */
ss_err_t ss_ingress_idempotency_key(ss_http_request_t *req, const char **key_out);

/*
 * Sends record (schema_name; request_id, reply_partition, idempotency and requested_at are
 * filled here) to topic keyed by key on behalf of req, and answers req as described above.
 * scope is the Idempotency-Key's canonical scope, built by the endpoint from its route and the
 * parsed ids ("POST /api/v1/users/7/balance/charge" however the path was spelled; orders are
 * scoped by user); NULL for commands that carry no key. Always answers or suspends req. Takes
 * the reference to record.
 */
void ss_ingress_command_submit(ss_ingress_commands_t *commands, ss_http_request_t *req,
                               const char *topic, const char *key, const char *schema_name,
                               const char *scope, json_t *record);

#endif
