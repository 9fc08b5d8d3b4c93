/*
 * A Redis of a test's own, for outages: the stack's Redis is shared by everyone's tests and
 * must never be stopped, so a test that needs "Redis stopped" or "Redis lost its data" starts a
 * redis-server on a free loopback port (no persistence), points one ss-ingress at it, and kills
 * and restarts it at will. The server logs to /tmp/ss-test-private-redis-<port>.log.
 *
 * Ownership: the struct is the caller's; ss_test_private_redis_stop() reaps the process and is
 * a no-op when it is not running.
 */
#ifndef SS_TEST_PRIVATE_REDIS_H
#define SS_TEST_PRIVATE_REDIS_H

#include "ss/redis.h"

#include <sys/types.h>

typedef struct ss_test_private_redis {
    pid_t pid;    /* 0 when not running */
    int port;     /* chosen by the first start, reused by restarts */
    char url[64]; /* "redis://127.0.0.1:<port>/0" */
    char env[96]; /* "REDIS_URL=<url>", for a child's environment */
} ss_test_private_redis_t;

/* Starts redis-server (on the same port as before when restarted) and waits for PING. */
void ss_test_private_redis_start(ss_test_private_redis_t *redis);

/* Kills it with signal_number (SIGKILL: a crash that loses everything) and reaps it. */
void ss_test_private_redis_stop(ss_test_private_redis_t *redis, int signal_number);

/* A connection to it (1 s timeout); the test frees it with ss_redis_destroy(). */
ss_redis_t *ss_test_private_redis_connect(const ss_test_private_redis_t *redis);

#endif
