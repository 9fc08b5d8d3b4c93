/*
 * Integration tests for lib/kafka against the real broker of scripts/stack.sh (KAFKA_BOOTSTRAP).
 * The group setup creates a fresh 8-partition topic for this run (ss.test.kafka.<pid>.<time>)
 * and produces 200 keyed records with the library's producer, remembering where each landed;
 * the tests then read them back in the ways the workers, the ingress and the sink do.
 * Waits are bounded loops that stop as soon as the expected state is reached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ss/kafka.h"
#include "ss/log.h"

#define SS_TEST_PARTITIONS 8
#define SS_TEST_RECORDS 200
#define SS_TEST_ADMIN_MS 15000
#define SS_TEST_FLUSH_MS 30000
/* Polls of at most SS_TEST_POLL_MS each before a wait gives up (about a minute). */
#define SS_TEST_POLLS_MAX 240
#define SS_TEST_POLL_MS 250
#define SS_TEST_BATCH_MAX 64
#define SS_TEST_METADATA_TRIES_MAX 50

typedef struct fixture {
    char bootstrap[256];
    char topic[128];
    char group_prefix[128];
    /* Where each record i (key "<1000 + i>", value "value-<i>") landed. */
    int32_t partition[SS_TEST_RECORDS];
    int64_t offset[SS_TEST_RECORDS];
    size_t delivered;
    size_t failed;
    bool failure_expected;
    ss_err_t last_failure;
    size_t per_partition[SS_TEST_PARTITIONS];
} fixture_t;

static void key_of(int index, char *key, size_t key_size)
{
    snprintf(key, key_size, "%d", 1000 + index * 37);
}

static void fixture_delivery(void *opaque, void *message_opaque,
                             const ss_kafka_delivery_t *delivery)
{
    fixture_t *fixture = opaque;
    const int index = (int)(intptr_t)message_opaque;
    if (delivery->result != SS_OK) {
        fixture->failed++;
        fixture->last_failure = delivery->result;
        if (!fixture->failure_expected) {
            fprintf(stderr, "delivery of record %d failed: %s\n", index, delivery->error_text);
        }
        return;
    }
    assert_int_equal(delivery->persistence, SS_KAFKA_PERSISTED);
    fixture->partition[index] = delivery->partition;
    fixture->offset[index] = delivery->offset;
    fixture->delivered++;
}

static int fixture_setup(void **state)
{
    char errstr[512] = "";
    char key[32];
    char value[32];
    const char *bootstrap = getenv("KAFKA_BOOTSTRAP");
    if (bootstrap == NULL || bootstrap[0] == '\0') {
        fprintf(stderr, "KAFKA_BOOTSTRAP is not set: eval \"$(scripts/stack.sh env)\" first\n");
        return -1;
    }
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    snprintf(fixture->bootstrap, sizeof(fixture->bootstrap), "%s", bootstrap);
    snprintf(fixture->topic, sizeof(fixture->topic), "ss.test.kafka.%ld.%ld", (long)getpid(),
             (long)time(NULL));
    snprintf(fixture->group_prefix, sizeof(fixture->group_prefix), "ss.test.kafka.%ld.%ld",
             (long)getpid(), (long)time(NULL));

    if (ss_kafka_topic_create(fixture->bootstrap, fixture->topic, SS_TEST_PARTITIONS,
                              SS_TEST_ADMIN_MS, errstr, sizeof(errstr)) != SS_OK) {
        fprintf(stderr, "topic create: %s\n", errstr);
        free(fixture);
        return -1;
    }
    /* Creation is asynchronous in the cluster: wait until metadata shows all partitions. */
    int32_t count = 0;
    for (int try = 0; try < SS_TEST_METADATA_TRIES_MAX && count != SS_TEST_PARTITIONS; try++) {
        if (ss_kafka_topic_partition_count(fixture->bootstrap, fixture->topic, &count,
                                           SS_TEST_ADMIN_MS, errstr, sizeof(errstr)) != SS_OK) {
            usleep(100 * 1000);
        }
    }
    assert_int_equal(count, SS_TEST_PARTITIONS);

    ss_kafka_producer_t *producer = NULL;
    const ss_kafka_producer_config_t config = {
        .bootstrap = fixture->bootstrap,
        .client_id = "test-kafka-integration",
        .linger_ms = 5,
        .on_delivery = fixture_delivery,
        .opaque = fixture,
    };
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        key_of(i, key, sizeof(key));
        const int value_length = snprintf(value, sizeof(value), "value-%d", i);
        const ss_kafka_header_t header = {
            .name = "ss-index", .value = value + 6, .value_length = strlen(value + 6)};
        assert_int_equal(ss_kafka_producer_send(producer, fixture->topic, SS_KAFKA_PARTITION_BY_KEY,
                                                key, strlen(key), value, (size_t)value_length,
                                                &header, 1, (void *)(intptr_t)i, errstr,
                                                sizeof(errstr)),
                         SS_OK);
    }
    assert_int_equal(ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    ss_kafka_producer_destroy(producer);
    assert_int_equal(fixture->failed, 0);
    assert_int_equal(fixture->delivered, SS_TEST_RECORDS);
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        fixture->per_partition[fixture->partition[i]]++;
    }
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    free(*state);
    return 0;
}

/* The record index carried in a consumed value "value-<i>". */
static int index_of(const ss_kafka_message_t *message)
{
    char text[32];
    assert_true(message->value_length > 6 && message->value_length < sizeof(text));
    memcpy(text, message->value, message->value_length);
    text[message->value_length] = '\0';
    assert_memory_equal(text, "value-", 6);
    return atoi(text + 6);
}

/* ---------------------------------------------------------------------------------------- */
/* Hooks and consumers                                                                        */
/* ---------------------------------------------------------------------------------------- */

typedef struct member {
    const char *name;
    int64_t start_offset; /* what on_assign sets */
    size_t assign_calls;
    size_t revoke_calls;
    ss_kafka_consumer_t *consumer;
    size_t received[SS_TEST_PARTITIONS]; /* records per partition since last reset */
    bool seen[SS_TEST_RECORDS];
} member_t;

static ss_err_t member_on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                                 char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    member_t *member = opaque;
    member->assign_calls++;
    for (size_t i = 0; i < count; i++) {
        partitions[i].offset = member->start_offset;
    }
    return SS_OK;
}

static void member_on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count)
{
    (void)partitions;
    (void)count;
    member_t *member = opaque;
    member->revoke_calls++;
}

static void member_join(const fixture_t *fixture, member_t *member, const char *group)
{
    char errstr[512] = "";
    const char *topics[] = {fixture->topic};
    const ss_kafka_property_t properties[] = {{"session.timeout.ms", "10000"},
                                              {"heartbeat.interval.ms", "500"}};
    const ss_kafka_consumer_config_t config = {
        .bootstrap = fixture->bootstrap,
        .group_id = group,
        .client_id = member->name,
        .topics = topics,
        .topic_count = 1,
        .on_assign = member_on_assign,
        .on_revoke = member_on_revoke,
        .opaque = member,
        .batch_linger_ms = 5,
        .properties = properties,
        .property_count = 2,
    };
    assert_int_equal(ss_kafka_consumer_new(&config, &member->consumer, errstr, sizeof(errstr)),
                     SS_OK);
}

/* One poll; counts what arrived, checking each record against where it was produced. */
static size_t member_poll(const fixture_t *fixture, member_t *member, int timeout_ms)
{
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    char errstr[512] = "";
    size_t count = 0;
    assert_int_equal(ss_kafka_consumer_poll_batch(member->consumer, batch, SS_TEST_BATCH_MAX,
                                                  timeout_ms, &count, errstr, sizeof(errstr)),
                     SS_OK);
    for (size_t i = 0; i < count; i++) {
        const ss_kafka_message_t *message = batch[i];
        assert_string_equal(message->topic, fixture->topic);
        assert_true(ss_kafka_consumer_is_current(member->consumer, message));
        const int index = index_of(message);
        assert_int_equal(message->partition, fixture->partition[index]);
        assert_int_equal(message->offset, fixture->offset[index]);
        member->received[message->partition]++;
        member->seen[index] = true;
    }
    ss_kafka_messages_release(batch, count);
    return count;
}

static size_t member_owned(const fixture_t *fixture, const member_t *member)
{
    size_t owned = 0;
    for (int32_t p = 0; p < SS_TEST_PARTITIONS; p++) {
        owned += ss_kafka_consumer_owns(member->consumer, fixture->topic, p) ? 1 : 0;
    }
    return owned;
}

static size_t total(const size_t *per_partition)
{
    size_t sum = 0;
    for (int p = 0; p < SS_TEST_PARTITIONS; p++) {
        sum += per_partition[p];
    }
    return sum;
}

/* ---------------------------------------------------------------------------------------- */
/* Tests                                                                                      */
/* ---------------------------------------------------------------------------------------- */

static void test_keyed_records_land_where_murmur2_predicts(void **state)
{
    fixture_t *fixture = *state;
    char key[32];
    char group[192];
    member_t member = {.name = "test-kafka-murmur2", .start_offset = SS_KAFKA_OFFSET_BEGINNING};

    /* The delivery reports agree with the pure-C partitioner... */
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        key_of(i, key, sizeof(key));
        assert_int_equal(fixture->partition[i],
                         ss_kafka_partition_for_key(key, strlen(key), SS_TEST_PARTITIONS));
    }
    /* ...and so does reading them back: every record, key included, on that partition. */
    snprintf(group, sizeof(group), "%s.murmur2", fixture->group_prefix);
    member_join(fixture, &member, group);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && total(member.received) < SS_TEST_RECORDS;
         poll++) {
        member_poll(fixture, &member, SS_TEST_POLL_MS);
    }
    assert_int_equal(total(member.received), SS_TEST_RECORDS);
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        assert_true(member.seen[i]);
    }
    for (int p = 0; p < SS_TEST_PARTITIONS; p++) {
        assert_int_equal(member.received[p], fixture->per_partition[p]);
    }
    ss_kafka_consumer_destroy(member.consumer);
}

static void test_consumer_resumes_at_the_offset_on_assign_supplies(void **state)
{
    fixture_t *fixture = *state;
    char group[192];
    const int64_t resume_at = 3;
    member_t member = {.name = "test-kafka-resume", .start_offset = resume_at};
    size_t expected = 0;
    for (int p = 0; p < SS_TEST_PARTITIONS; p++) {
        assert_true(fixture->per_partition[p] > (size_t)resume_at);
        expected += fixture->per_partition[p] - (size_t)resume_at;
    }

    snprintf(group, sizeof(group), "%s.resume", fixture->group_prefix);
    member_join(fixture, &member, group);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && total(member.received) < expected; poll++) {
        member_poll(fixture, &member, SS_TEST_POLL_MS);
    }
    assert_int_equal(total(member.received), expected);
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        assert_int_equal(member.seen[i], fixture->offset[i] >= resume_at);
    }
    assert_int_equal(member.assign_calls, 1);
    ss_kafka_consumer_destroy(member.consumer);
    assert_int_equal(member.revoke_calls, 1);
}

static void test_second_member_triggers_revoke_and_assign_and_they_split_partitions(void **state)
{
    fixture_t *fixture = *state;
    char group[192];
    char errstr[512] = "";
    member_t first = {.name = "test-kafka-first", .start_offset = SS_KAFKA_OFFSET_BEGINNING};
    member_t second = {.name = "test-kafka-second", .start_offset = SS_KAFKA_OFFSET_BEGINNING};
    snprintf(group, sizeof(group), "%s.split", fixture->group_prefix);

    member_join(fixture, &first, group);
    /* Hold one record across the rebalance, as a worker holds a batch it is applying. */
    ss_kafka_message_t *held = NULL;
    size_t held_count = 0;
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && held_count == 0; poll++) {
        assert_int_equal(ss_kafka_consumer_poll_batch(first.consumer, &held, 1, SS_TEST_POLL_MS,
                                                      &held_count, errstr, sizeof(errstr)),
                         SS_OK);
    }
    assert_int_equal(held_count, 1);
    assert_true(ss_kafka_consumer_is_current(first.consumer, held));
    assert_int_equal(member_owned(fixture, &first), SS_TEST_PARTITIONS);
    assert_int_equal(first.assign_calls, 1);

    member_join(fixture, &second, group);
    int poll = 0;
    for (; poll < SS_TEST_POLLS_MAX; poll++) {
        member_poll(fixture, &first, 50);
        member_poll(fixture, &second, 50);
        if (member_owned(fixture, &first) + member_owned(fixture, &second) == SS_TEST_PARTITIONS &&
            member_owned(fixture, &second) > 0 && member_owned(fixture, &first) > 0) {
            break;
        }
    }
    assert_true(poll < SS_TEST_POLLS_MAX);
    /* Eager rebalancing revoked everything: the held record must not be applied. */
    assert_false(ss_kafka_consumer_is_current(first.consumer, held));
    ss_kafka_message_release(held);
    assert_true(first.revoke_calls >= 1);
    assert_true(first.assign_calls >= 2);
    assert_true(second.assign_calls >= 1);
    /* Disjoint, and together everything. */
    for (int32_t p = 0; p < SS_TEST_PARTITIONS; p++) {
        const bool a = ss_kafka_consumer_owns(first.consumer, fixture->topic, p);
        const bool b = ss_kafka_consumer_owns(second.consumer, fixture->topic, p);
        assert_true(a != b);
    }
    /* The range assignor splits 8 partitions between two members evenly. */
    assert_int_equal(member_owned(fixture, &first), SS_TEST_PARTITIONS / 2);
    assert_int_equal(member_owned(fixture, &second), SS_TEST_PARTITIONS / 2);

    /* The second member reads its half from the beginning (its hook says so). */
    size_t expected = 0;
    for (int32_t p = 0; p < SS_TEST_PARTITIONS; p++) {
        if (ss_kafka_consumer_owns(second.consumer, fixture->topic, p)) {
            expected += fixture->per_partition[p];
        }
    }
    for (poll = 0; poll < SS_TEST_POLLS_MAX && total(second.received) < expected; poll++) {
        member_poll(fixture, &second, SS_TEST_POLL_MS);
        member_poll(fixture, &first, 0);
    }
    assert_int_equal(total(second.received), expected);

    assert_int_equal(ss_kafka_consumer_close(second.consumer, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(second.revoke_calls, second.assign_calls);
    ss_kafka_consumer_destroy(second.consumer);
    ss_kafka_consumer_destroy(first.consumer);
}

static void test_seek_rewinds_an_assigned_partition(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    const int32_t partition = 1;
    const size_t in_partition = fixture->per_partition[partition];
    member_t member = {.name = "test-kafka-seek"};
    const ss_kafka_consumer_config_t config = {.bootstrap = fixture->bootstrap,
                                               .client_id = member.name};
    assert_true(in_partition > 5);
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, fixture->topic, partition,
                                                    SS_KAFKA_OFFSET_BEGINNING, &member.consumer,
                                                    errstr, sizeof(errstr)),
                     SS_OK);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && total(member.received) < in_partition; poll++) {
        member_poll(fixture, &member, SS_TEST_POLL_MS);
    }
    assert_int_equal(member.received[partition], in_partition);

    /* A batch rolled back: rewind to offset 2 and get everything from there again. */
    assert_int_equal(ss_kafka_consumer_seek(member.consumer, fixture->topic, partition, 2, errstr,
                                            sizeof(errstr)),
                     SS_OK);
    memset(member.received, 0, sizeof(member.received));
    memset(member.seen, 0, sizeof(member.seen));
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && total(member.received) < in_partition - 2;
         poll++) {
        member_poll(fixture, &member, SS_TEST_POLL_MS);
    }
    assert_int_equal(member.received[partition], in_partition - 2);
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        assert_int_equal(member.seen[i],
                         fixture->partition[i] == partition && fixture->offset[i] >= 2);
    }
    ss_kafka_consumer_destroy(member.consumer);
}

static void test_manually_assigned_consumer_reads_only_its_partition(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    const int32_t partition = 5;
    member_t member = {.name = "test-kafka-ingress"};
    const ss_kafka_consumer_config_t config = {.bootstrap = fixture->bootstrap,
                                               .client_id = member.name};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, fixture->topic, partition,
                                                    SS_KAFKA_OFFSET_BEGINNING, &member.consumer,
                                                    errstr, sizeof(errstr)),
                     SS_OK);
    for (int poll = 0;
         poll < SS_TEST_POLLS_MAX && total(member.received) < fixture->per_partition[partition];
         poll++) {
        member_poll(fixture, &member, SS_TEST_POLL_MS);
    }
    /* One more poll finds nothing: no other partition leaks in. */
    member_poll(fixture, &member, 500);
    assert_int_equal(total(member.received), fixture->per_partition[partition]);
    assert_int_equal(member.received[partition], fixture->per_partition[partition]);
    ss_kafka_consumer_destroy(member.consumer);
}

static void test_committed_offset_is_where_the_next_member_starts(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    char group[192];
    const int32_t partition = 0;
    snprintf(group, sizeof(group), "%s.commit", fixture->group_prefix);

    ss_kafka_consumer_t *committer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = fixture->bootstrap, .group_id = group};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, fixture->topic, partition,
                                                    SS_KAFKA_OFFSET_BEGINNING, &committer, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    assert_int_equal(
        ss_kafka_consumer_commit(committer, fixture->topic, partition, 4, errstr, sizeof(errstr)),
        SS_OK);
    ss_kafka_consumer_destroy(committer);

    /* A member whose hook leaves the offset at COMMITTED starts right there. */
    member_t member = {.name = "test-kafka-sink", .start_offset = SS_KAFKA_OFFSET_COMMITTED};
    const size_t expected = fixture->per_partition[partition] - 4;
    member_join(fixture, &member, group);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && member.received[partition] < expected; poll++) {
        member_poll(fixture, &member, SS_TEST_POLL_MS);
    }
    assert_int_equal(member.received[partition], expected);
    for (int i = 0; i < SS_TEST_RECORDS; i++) {
        if (fixture->partition[i] == partition) {
            assert_int_equal(member.seen[i], fixture->offset[i] >= 4);
        }
    }
    ss_kafka_consumer_destroy(member.consumer);
}

static void test_topic_create_is_idempotent(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    int32_t count = 0;
    assert_int_equal(ss_kafka_topic_create(fixture->bootstrap, fixture->topic, SS_TEST_PARTITIONS,
                                           SS_TEST_ADMIN_MS, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_kafka_topic_partition_count(fixture->bootstrap, fixture->topic, &count,
                                                    SS_TEST_ADMIN_MS, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(count, SS_TEST_PARTITIONS);
}

static void test_missing_topic_is_not_found_and_never_auto_created(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    char missing[192];
    int32_t count = -1;
    snprintf(missing, sizeof(missing), "%s.missing", fixture->topic);
    assert_int_equal(ss_kafka_topic_partition_count(fixture->bootstrap, missing, &count,
                                                    SS_TEST_ADMIN_MS, errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, missing));

    /* Sending to it fails (at send or at delivery) and does not create it either. */
    ss_kafka_producer_t *producer = NULL;
    size_t failed_before = fixture->failed;
    const ss_kafka_property_t properties[] = {{"topic.metadata.propagation.max.ms", "1000"},
                                              {"message.timeout.ms", "10000"}};
    const ss_kafka_producer_config_t config = {
        .bootstrap = fixture->bootstrap,
        .on_delivery = fixture_delivery,
        .opaque = fixture,
        .properties = properties,
        .property_count = 2,
    };
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    fixture->failure_expected = true;
    const ss_err_t sent =
        ss_kafka_producer_send(producer, missing, SS_KAFKA_PARTITION_BY_KEY, "k", 1, "value-0", 7,
                               NULL, 0, (void *)(intptr_t)0, errstr, sizeof(errstr));
    if (sent == SS_OK) {
        assert_int_equal(
            ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)), SS_OK);
        assert_int_equal(fixture->failed, failed_before + 1);
        assert_int_equal(fixture->last_failure, SS_ERR_NOT_FOUND);
    } else {
        assert_int_equal(sent, SS_ERR_NOT_FOUND);
    }
    ss_kafka_producer_destroy(producer);
    fixture->failed = failed_before;
    fixture->failure_expected = false;
    assert_int_equal(ss_kafka_topic_partition_count(fixture->bootstrap, missing, &count,
                                                    SS_TEST_ADMIN_MS, errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
}

static void test_subscribing_to_a_missing_topic_is_reported_as_not_found(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    char missing[192];
    char group[192];
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    size_t count = 0;
    ss_err_t err = SS_OK;
    snprintf(missing, sizeof(missing), "%s.absent", fixture->topic);
    snprintf(group, sizeof(group), "%s.absent", fixture->group_prefix);
    const char *topics[] = {missing};
    const ss_kafka_consumer_config_t config = {
        .bootstrap = fixture->bootstrap,
        .group_id = group,
        .topics = topics,
        .topic_count = 1,
    };
    ss_kafka_consumer_t *consumer = NULL;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)), SS_OK);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && err == SS_OK; poll++) {
        err = ss_kafka_consumer_poll_batch(consumer, batch, SS_TEST_BATCH_MAX, SS_TEST_POLL_MS,
                                           &count, errstr, sizeof(errstr));
        assert_int_equal(count, 0);
    }
    assert_int_equal(err, SS_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, missing));
    ss_kafka_consumer_destroy(consumer);
}

static void test_ping_and_producer_ping_reach_the_broker(void **state)
{
    fixture_t *fixture = *state;
    char errstr[512] = "";
    assert_int_equal(ss_kafka_ping(fixture->bootstrap, SS_TEST_ADMIN_MS, errstr, sizeof(errstr)),
                     SS_OK);
    ss_kafka_producer_t *producer = NULL;
    const ss_kafka_producer_config_t config = {.bootstrap = fixture->bootstrap};
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_kafka_producer_ping(producer, SS_TEST_ADMIN_MS, errstr, sizeof(errstr)),
                     SS_OK);
    ss_kafka_producer_destroy(producer);
}

int main(void)
{
    ss_log_level_set(SS_LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_records_land_where_murmur2_predicts),
        cmocka_unit_test(test_consumer_resumes_at_the_offset_on_assign_supplies),
        cmocka_unit_test(test_second_member_triggers_revoke_and_assign_and_they_split_partitions),
        cmocka_unit_test(test_seek_rewinds_an_assigned_partition),
        cmocka_unit_test(test_manually_assigned_consumer_reads_only_its_partition),
        cmocka_unit_test(test_committed_offset_is_where_the_next_member_starts),
        cmocka_unit_test(test_topic_create_is_idempotent),
        cmocka_unit_test(test_missing_topic_is_not_found_and_never_auto_created),
        cmocka_unit_test(test_subscribing_to_a_missing_topic_is_reported_as_not_found),
        cmocka_unit_test(test_ping_and_producer_ping_reach_the_broker),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
