/*
 * A TCP proxy in front of PostgreSQL for fault tests: it relays every connection unchanged
 * until armed, then forwards the next COMMIT a client sends (a simple-protocol 'Q' message),
 * waits long enough for the server to commit, and cuts that connection before the answer
 * reaches the client: the commit happened, and the client cannot know. Runs on its own threads;
 * the test owns it and ends it with ss_test_pg_proxy_stop().
 */
#ifndef SS_TEST_PG_PROXY_H
#define SS_TEST_PG_PROXY_H

typedef struct ss_test_pg_proxy ss_test_pg_proxy_t;

/* Listens on an ephemeral loopback port, relaying to 127.0.0.1:target_port. */
ss_test_pg_proxy_t *ss_test_pg_proxy_start(int target_port);
int ss_test_pg_proxy_port(const ss_test_pg_proxy_t *proxy);
/* The next COMMIT through the proxy is forwarded, then its connection is cut. */
void ss_test_pg_proxy_arm_commit_cut(ss_test_pg_proxy_t *proxy);
/* How many connections were cut after a COMMIT so far. */
int ss_test_pg_proxy_cuts(ss_test_pg_proxy_t *proxy);
void ss_test_pg_proxy_stop(ss_test_pg_proxy_t *proxy);

#endif
