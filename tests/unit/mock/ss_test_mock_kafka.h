/*
 * librdkafka's in-process mock cluster as a cmocka group fixture. It lives under tests/unit and
 * only unit tests link it; every integration test and the default run use the real broker. The
 * fixture owns the cluster and its handle.
 */
#ifndef SS_TEST_MOCK_KAFKA_H
#define SS_TEST_MOCK_KAFKA_H

#include "ss/kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

typedef struct ss_test_mock {
    rd_kafka_t *rk; /* owns the cluster */
    rd_kafka_mock_cluster_t *cluster;
    char bootstrap[256];
} ss_test_mock_t;

/* cmocka group setup and teardown: *state becomes an ss_test_mock_t of one broker. */
int ss_test_mock_setup(void **state);
int ss_test_mock_teardown(void **state);

/* Creates topic with partitions (replication 1); fails the test otherwise. */
void ss_test_mock_topic(ss_test_mock_t *mock, const char *topic, int partitions);

/*
 * A member of group subscribed to topic on the mock cluster, with a short session (6 s) so
 * that a second member's rebalance is quick; the hooks and opaque as in ss_kafka_consumer_config_t.
 * Fails the test if it cannot be made. The caller closes and destroys it.
 */
ss_kafka_consumer_t *ss_test_mock_consumer(const ss_test_mock_t *mock, const char *group,
                                           const char *topic, const char *client_id,
                                           ss_kafka_assign_fn on_assign,
                                           ss_kafka_revoke_fn on_revoke, void *opaque);

#endif
