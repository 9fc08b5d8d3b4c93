/*
 * A TCP proxy in front of PostgreSQL for fault tests: it relays every connection unchanged
 * until armed, then forwards the next COMMIT a client sends (a simple-protocol 'Q' message),
 * waits long enough for the server to commit, and cuts that connection before the answer
 * reaches the client: the commit happened, and the client cannot know. Runs on its own threads;
 * the test owns it and ends it with ss_test_pg_proxy_stop().
 *
 * Its mode plays PostgreSQL down without stopping the shared server:
 *   RELAY      forwards both ways (the start);
 *   BLACK_HOLE accepts connections and takes every byte, forwarding nothing either way, on old
 *              and new connections alike: a server that hangs (or a network that drops all);
 *   REFUSE     cuts every relayed connection and stops listening, so connects are refused
 *              (ECONNREFUSED): a server that is down. Back to RELAY, it listens again on the
 *              same port.
 */
#ifndef SS_TEST_PG_PROXY_H
#define SS_TEST_PG_PROXY_H

typedef struct ss_test_pg_proxy ss_test_pg_proxy_t;

typedef enum ss_test_pg_proxy_mode {
    SS_TEST_PG_PROXY_RELAY = 0,
    SS_TEST_PG_PROXY_BLACK_HOLE,
    SS_TEST_PG_PROXY_REFUSE,
} ss_test_pg_proxy_mode_t;

/* Listens on an ephemeral loopback port, relaying to 127.0.0.1:target_port. */
ss_test_pg_proxy_t *ss_test_pg_proxy_start(int target_port);
int ss_test_pg_proxy_port(const ss_test_pg_proxy_t *proxy);
/* The next COMMIT through the proxy is forwarded, then its connection is cut. */
void ss_test_pg_proxy_arm_commit_cut(ss_test_pg_proxy_t *proxy);
/* How many connections were cut after a COMMIT so far. */
int ss_test_pg_proxy_cuts(ss_test_pg_proxy_t *proxy);
/* Switches the mode; REFUSE and back take effect within 100 ms (see ss_test_pg_proxy_wait). */
void ss_test_pg_proxy_set_mode(ss_test_pg_proxy_t *proxy, ss_test_pg_proxy_mode_t mode);
/* Waits (at most 2 s) until the accept thread applied the last mode; fails the test otherwise. */
void ss_test_pg_proxy_wait(ss_test_pg_proxy_t *proxy);
void ss_test_pg_proxy_stop(ss_test_pg_proxy_t *proxy);

#endif
