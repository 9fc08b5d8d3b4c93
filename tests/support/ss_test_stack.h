/*
 * What integration tests share: the stack's addresses from the environment
 * (`eval "$(scripts/stack.sh env)"`), a PostgreSQL connection with scalar helpers, starting and
 * killing the project's own binaries, producing Avro commands, and waiting for a condition
 * with a bound. Everything asserts through cmocka: a failing helper fails the test.
 */
#ifndef SS_TEST_STACK_H
#define SS_TEST_STACK_H

#include "ss/avro.h"
#include "ss/pg.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* getenv(name), or fallback when unset or empty. */
const char *ss_test_env(const char *name, const char *fallback);
const char *ss_test_kafka_bootstrap(void);
const char *ss_test_pg_dsn(void);
const char *ss_test_redis_url(void);
/* The partition of topic that key goes to, by the topic's live partition count on the stack. */
int32_t ss_test_partition_of(const char *topic, const char *key);

/* A connection to the stack's PostgreSQL; the test frees it with ss_pg_destroy(). */
ss_pg_t *ss_test_pg_connect(void);
/* Runs sql with text params and returns the first column of the first row as an integer. */
int64_t ss_test_pg_scalar(ss_pg_t *pg, const char *sql, int param_count, const char *const *params);
/* Runs sql (no result wanted). */
void ss_test_pg_exec(ss_pg_t *pg, const char *sql, int param_count, const char *const *params);
/* Inserts a user with the nickname and returns its id. */
int64_t ss_test_user_create(ss_pg_t *pg, const char *nickname);

/*
 * Starts a project binary (path relative to the build directory, e.g.
 * "workers/user/ss-user-worker") with extra environment entries ("NAME=value", NULL-terminated list
 * or NULL), its output appended to /tmp/ss-test-<name>.log. Returns the pid.
 */
pid_t ss_test_process_start(const char *relative_path, const char *const *environment);
/* Sends signal_number and waits for the process to end (bounded). */
void ss_test_process_stop(pid_t pid, int signal_number);
/*
 * Waits up to timeout_ms for the process to exit by itself and returns its exit status (128 +
 * signal when killed); fails the test (after SIGKILL) when it is still running.
 */
int ss_test_process_exit_wait(pid_t pid, int timeout_ms);
/* The size of /tmp/ss-test-<name>.log now (0 when missing), to search only what comes after. */
long ss_test_log_size(const char *name);
/* Whether /tmp/ss-test-<name>.log holds text past byte from. */
bool ss_test_log_contains(const char *name, long from, const char *text);

/* The schemas of the source tree, loaded once per process. */
const ss_avro_registry_t *ss_test_registry(void);
/* Encodes record with schema_name and produces it to topic with key, waiting for delivery. */
void ss_test_produce(const char *topic, const char *key, const char *schema_name,
                     const json_t *record);

/* Polls sql (a scalar) every 50 ms until it equals expected or timeout_ms passes; returns it. */
int64_t ss_test_wait_scalar(ss_pg_t *pg, const char *sql, int param_count,
                            const char *const *params, int64_t expected, int timeout_ms);

/*
 * A broker outage: ss_test_broker_stop() sends the stack's Kafka SIGTERM and waits until it is
 * gone; ss_test_broker_start() starts it again with scripts/stack.sh start (topics kept).
 */
void ss_test_broker_stop(void);
void ss_test_broker_start(void);

/* A string unique to this test run, for names and keys: "<pid>-<ms>". */
const char *ss_test_run_id(void);

#endif
