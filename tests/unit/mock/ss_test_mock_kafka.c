/* The mock-cluster fixture (ss_test_mock_kafka.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_mock_kafka.h"

#include <stdio.h>
#include <stdlib.h>

int ss_test_mock_setup(void **state)
{
    char errstr[256];
    ss_test_mock_t *mock = calloc(1, sizeof(*mock));
    assert_non_null(mock);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_non_null(conf);
    /* The cluster's own handle is never used to produce; keep its logs quiet. */
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)),
                     RD_KAFKA_CONF_OK);
    mock->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(mock->rk);
    mock->cluster = rd_kafka_mock_cluster_new(mock->rk, 1);
    assert_non_null(mock->cluster);
    snprintf(mock->bootstrap, sizeof(mock->bootstrap), "%s",
             rd_kafka_mock_cluster_bootstraps(mock->cluster));
    *state = mock;
    return 0;
}

int ss_test_mock_teardown(void **state)
{
    ss_test_mock_t *mock = *state;
    rd_kafka_mock_cluster_destroy(mock->cluster);
    rd_kafka_destroy(mock->rk);
    free(mock);
    return 0;
}

void ss_test_mock_topic(ss_test_mock_t *mock, const char *topic, int partitions)
{
    assert_int_equal(rd_kafka_mock_topic_create(mock->cluster, topic, partitions, 1),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
}

ss_kafka_consumer_t *ss_test_mock_consumer(const ss_test_mock_t *mock, const char *group,
                                           const char *topic, const char *client_id,
                                           ss_kafka_assign_fn on_assign,
                                           ss_kafka_revoke_fn on_revoke, void *opaque)
{
    char errstr[256] = "";
    const char *topics[] = {topic};
    const ss_kafka_property_t properties[] = {{"session.timeout.ms", "6000"},
                                              {"heartbeat.interval.ms", "300"}};
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap,
                                               .group_id = group,
                                               .client_id = client_id,
                                               .topics = topics,
                                               .topic_count = 1,
                                               .on_assign = on_assign,
                                               .on_revoke = on_revoke,
                                               .opaque = opaque,
                                               .properties = properties,
                                               .property_count = 2};
    ss_kafka_consumer_t *consumer = NULL;
    if (ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("mock consumer: %s", errstr);
    }
    return consumer;
}
