/*
 * Unit tests for lib/loop (ss/loop.h), the consumer-loop skeleton of the worker core, the rank
 * worker and the sink, on librdkafka's in-process mock cluster (unit tests only): every record
 * handed over exactly once, one partition per group in offset order, the records and bytes
 * bounds, the hooks' order and errors, stale records dropped after a seek, offsets published on
 * the interval (and again after ss_loop_forget), rebalances between two members, and a fatal
 * poll. Waits are bounded loops that end once the expected records are in; no timed assertion.
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

#include "ss/kafka.h"
#include "ss/loop.h"
#include "ss_test_mock_kafka.h"

#define TEST_ROUNDS_MAX 400
#define TEST_POLL_MS 50
#define TEST_FLUSH_MS 10000
#define TEST_PARTITIONS 4
#define TEST_OFFSETS_MAX 512
#define TEST_HELD_MAX 1024

/* What the hooks saw, per partition. */
typedef struct seen {
    ss_kafka_consumer_t *consumer;
    int64_t offsets[TEST_PARTITIONS][TEST_OFFSETS_MAX];
    size_t counts[TEST_PARTITIONS];
    size_t groups;
    size_t group_max;    /* the most records in one group */
    long long bytes_max; /* the most value bytes in a group of more than one record */
    size_t begins, ends; /* round_begin and round_end calls */
    bool mixed;          /* a group held two partitions */
    bool out_of_order;   /* a partition's offsets went backwards or repeated */
    ss_err_t fail_with;  /* the records hook returns this once, when not SS_OK */
    ss_err_t end_result; /* what round_end was given last */
    bool seek_others;    /* the next group seeks every other partition back to 0, once */
    int64_t publish[TEST_PARTITIONS]; /* the offsets hook's answer; 0: nothing */
    int32_t assigned, revoked;        /* partitions, from the consumer's hooks */
    /* The round's records as handed over, read again by records_end (still alive then). */
    const ss_kafka_message_t *held[TEST_HELD_MAX];
    int64_t held_offsets[TEST_HELD_MAX];
    size_t held_count;
    size_t records_ends;    /* records_end calls */
    size_t held_checked;    /* records records_end found intact */
    ss_err_t end_fail_with; /* records_end returns this once, when not SS_OK */
} seen_t;

static size_t total(const seen_t *seen)
{
    size_t sum = 0;
    for (int p = 0; p < TEST_PARTITIONS; p++) {
        sum += seen->counts[p];
    }
    return sum;
}

static ss_err_t on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                          char *errstr, size_t errstr_size)
{
    seen_t *seen = opaque;
    seen->assigned += (int32_t)count;
    for (size_t i = 0; i < count; i++) {
        partitions[i].offset = SS_KAFKA_OFFSET_BEGINNING;
    }
    if (seen->fail_with == SS_ERR_FATAL) {
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size, "offsets store unreachable");
    }
    return SS_OK;
}

static void on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count)
{
    seen_t *seen = opaque;
    (void)partitions;
    seen->revoked += (int32_t)count;
}

static void seen_record(seen_t *seen, int32_t partition, const ss_kafka_message_t *message)
{
    size_t *count = &seen->counts[partition];
    if (*count > 0 && seen->offsets[partition][*count - 1] >= message->offset) {
        seen->out_of_order = true;
    }
    if (*count < TEST_OFFSETS_MAX) {
        seen->offsets[partition][(*count)++] = message->offset;
    }
}

/* Seeks every partition but this one back to 0: their records held in this round are stale. */
static void seek_others(seen_t *seen, int32_t partition)
{
    char errstr[256];
    for (int32_t p = 0; p < TEST_PARTITIONS; p++) {
        if (p != partition) {
            assert_int_equal(ss_kafka_consumer_seek(seen->consumer, "unit.loop.seek", p, 0, errstr,
                                                    sizeof(errstr)),
                             SS_OK);
            seen->counts[p] = 0; /* what it saw before comes again */
        }
    }
    seen->seek_others = false;
}

static ss_err_t hook_records(void *opaque, int32_t partition, ss_kafka_message_t **messages,
                             size_t count, char *errstr, size_t errstr_size)
{
    seen_t *seen = opaque;
    assert_true(partition >= 0 && partition < TEST_PARTITIONS);
    assert_true(count > 0);
    if (seen->fail_with != SS_OK && seen->fail_with != SS_ERR_FATAL) {
        ss_err_t err = seen->fail_with;
        seen->fail_with = SS_OK;
        return ss_err_set(err, errstr, errstr_size, "the store refused the batch");
    }
    long long bytes = 0;
    for (size_t i = 0; i < count; i++) {
        seen->mixed |= messages[i]->partition != partition;
        bytes += (long long)messages[i]->value_length;
        seen_record(seen, partition, messages[i]);
        if (seen->held_count < TEST_HELD_MAX) {
            seen->held_offsets[seen->held_count] = messages[i]->offset;
            seen->held[seen->held_count++] = messages[i];
        }
    }
    seen->groups++;
    seen->group_max = count > seen->group_max ? count : seen->group_max;
    if (count > 1 && bytes > seen->bytes_max) {
        seen->bytes_max = bytes;
    }
    if (seen->seek_others) {
        seek_others(seen, partition);
    }
    return SS_OK;
}

static ss_err_t hook_begin(void *opaque, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    ((seen_t *)opaque)->begins++;
    return SS_OK;
}

/* Every record of the round is still readable here, as it was handed over. */
static ss_err_t hook_records_end(void *opaque, char *errstr, size_t errstr_size)
{
    seen_t *seen = opaque;
    seen->records_ends++;
    for (size_t i = 0; i < seen->held_count; i++) {
        assert_int_equal(seen->held[i]->offset, seen->held_offsets[i]);
        seen->held_checked++;
    }
    seen->held_count = 0;
    if (seen->end_fail_with != SS_OK) {
        ss_err_t err = seen->end_fail_with;
        seen->end_fail_with = SS_OK;
        return ss_err_set(err, errstr, errstr_size, "the round's batch failed");
    }
    return SS_OK;
}

static ss_err_t hook_end(void *opaque, ss_err_t result, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    seen_t *seen = opaque;
    seen->ends++;
    seen->end_result = result;
    return result;
}

static size_t hook_offsets(void *opaque, int32_t *partitions, int64_t *offsets, size_t max)
{
    const seen_t *seen = opaque;
    size_t count = 0;
    for (int32_t p = 0; p < TEST_PARTITIONS && count < max; p++) {
        partitions[count] = p;
        offsets[count++] = seen->publish[p];
    }
    return count;
}

static void delivered(void *opaque, void *message_opaque, const ss_kafka_delivery_t *delivery)
{
    (void)message_opaque;
    if (delivery->result == SS_OK) {
        (*(size_t *)opaque)++;
    }
}

/* Writes per_partition records of value_size bytes to each of the topic's partitions. */
static void produce(const ss_test_mock_t *mock, const char *topic, int per_partition,
                    size_t value_size)
{
    char errstr[256] = "";
    size_t acknowledged = 0;
    ss_kafka_producer_t *producer = NULL;
    const ss_kafka_producer_config_t config = {.bootstrap = mock->bootstrap,
                                               .client_id = "test-loop-producer",
                                               .linger_ms = 1,
                                               .on_delivery = delivered,
                                               .opaque = &acknowledged};
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    char *value = malloc(value_size);
    assert_non_null(value);
    memset(value, 'v', value_size);
    for (int32_t p = 0; p < TEST_PARTITIONS; p++) {
        for (int i = 0; i < per_partition; i++) {
            assert_int_equal(ss_kafka_producer_send(producer, topic, p, NULL, 0, value, value_size,
                                                    NULL, 0, NULL, errstr, sizeof(errstr)),
                             SS_OK);
        }
    }
    assert_int_equal(ss_kafka_producer_flush(producer, TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(acknowledged, (size_t)(per_partition * TEST_PARTITIONS));
    free(value);
    ss_kafka_producer_destroy(producer);
}

static ss_kafka_consumer_t *consumer_new(const ss_test_mock_t *mock, const char *group,
                                         const char *topic, seen_t *seen)
{
    ss_kafka_consumer_t *consumer =
        ss_test_mock_consumer(mock, group, topic, "test-loop-consumer", on_assign, on_revoke, seen);
    seen->consumer = consumer;
    return consumer;
}

static ss_loop_t *loop_new(ss_kafka_consumer_t *consumer, const char *topic, seen_t *seen,
                           size_t records_max, long long bytes_max, long long publish_ms)
{
    char errstr[256] = "";
    const ss_loop_config_t config = {.consumer = consumer,
                                     .topic = topic,
                                     .records_max = records_max,
                                     .bytes_max = bytes_max,
                                     .record_bytes_max = 1000,
                                     .poll_timeout_ms = TEST_POLL_MS,
                                     .publish_interval_ms = publish_ms};
    const ss_loop_handler_t handler = {.name = "test-loop",
                                       .opaque = seen,
                                       .round_begin = hook_begin,
                                       .records = hook_records,
                                       .records_end = hook_records_end,
                                       .round_end = hook_end,
                                       .offsets = hook_offsets};
    ss_loop_t *loop = NULL;
    assert_int_equal(ss_loop_new(&config, &handler, &loop, errstr, sizeof(errstr)), SS_OK);
    return loop;
}

/* Rounds until the hooks saw want records (or the bound); every round must succeed. */
static void rounds_until(ss_loop_t *loop, const seen_t *seen, size_t want)
{
    char errstr[256] = "";
    for (int round = 0; round < TEST_ROUNDS_MAX && total(seen) < want; round++) {
        assert_int_equal(ss_loop_round(loop, errstr, sizeof(errstr)), SS_OK);
    }
    assert_int_equal(total(seen), want);
}

/* A few more rounds, in which nothing more may be handed over (nothing twice). */
static void rounds_quiet(ss_loop_t *loop, const seen_t *seen)
{
    char errstr[256] = "";
    size_t before = total(seen);
    for (int round = 0; round < 40; round++) {
        assert_int_equal(ss_loop_round(loop, errstr, sizeof(errstr)), SS_OK);
    }
    assert_int_equal(total(seen), before);
}

static void consumer_close(ss_kafka_consumer_t *consumer)
{
    char errstr[256] = "";
    assert_int_equal(ss_kafka_consumer_close(consumer, errstr, sizeof(errstr)), SS_OK);
    ss_kafka_consumer_destroy(consumer);
}

/* One test's topic ("unit.loop.<name>", its records produced), consumer ("g.<name>") and loop. */
typedef struct scene {
    char topic[64]; /* the loop borrows it */
    char group[64];
    ss_kafka_consumer_t *consumer;
    ss_loop_t *loop;
} scene_t;

/* The records: per_partition of value_bytes each on every partition; the loop's bounds. */
typedef struct scene_config {
    int per_partition;
    size_t value_bytes;
    size_t records_max;
    long long bytes_max;
    long long publish_ms;
} scene_config_t;

static void scene_start(scene_t *scene, ss_test_mock_t *mock, const char *name, seen_t *seen,
                        const scene_config_t *config)
{
    snprintf(scene->topic, sizeof(scene->topic), "unit.loop.%s", name);
    snprintf(scene->group, sizeof(scene->group), "g.%s", name);
    ss_test_mock_topic(mock, scene->topic, TEST_PARTITIONS);
    produce(mock, scene->topic, config->per_partition, config->value_bytes);
    scene->consumer = consumer_new(mock, scene->group, scene->topic, seen);
    scene->loop = loop_new(scene->consumer, scene->topic, seen, config->records_max,
                           config->bytes_max, config->publish_ms);
}

static void scene_end(scene_t *scene)
{
    ss_loop_destroy(scene->loop);
    consumer_close(scene->consumer);
}

static void assert_each_once(const seen_t *seen, int per_partition)
{
    assert_false(seen->mixed);
    assert_false(seen->out_of_order);
    for (int p = 0; p < TEST_PARTITIONS; p++) {
        assert_int_equal(seen->counts[p], (size_t)per_partition);
        for (int i = 0; i < per_partition; i++) {
            assert_int_equal(seen->offsets[p][i], i);
        }
    }
}

static void test_every_record_once_per_partition_in_order_within_the_bounds(void **state)
{
    seen_t seen = {0};
    /* At most 25 records a poll and 1,000 value bytes (10 records) a group. */
    scene_t scene;
    scene_start(&scene, *state, "bounds", &seen,
                &(scene_config_t){
                    .per_partition = 40, .value_bytes = 100, .records_max = 25, .bytes_max = 1000});
    ss_loop_t *loop = scene.loop;
    rounds_until(loop, &seen, 40 * TEST_PARTITIONS);
    rounds_quiet(loop, &seen);
    assert_each_once(&seen, 40);
    assert_true(seen.group_max <= 10);
    assert_true(seen.bytes_max <= 1000);
    assert_true(seen.groups >= 40 * TEST_PARTITIONS / 10);
    assert_int_equal(seen.begins, seen.ends);
    assert_true(seen.begins > 0);
    /* records_end ran every round, and saw every record of its round still alive. */
    assert_int_equal(seen.records_ends, seen.begins);
    assert_int_equal(seen.held_checked, 40 * TEST_PARTITIONS);
    scene_end(&scene);
}

static void test_a_record_over_record_bytes_max_counts_nothing_towards_a_group(void **state)
{
    seen_t seen = {0};
    /* Each record over record_bytes_max (1,000). */
    scene_t scene;
    scene_start(
        &scene, *state, "large", &seen,
        &(scene_config_t){
            .per_partition = 6, .value_bytes = 5000, .records_max = 100, .bytes_max = 1000});
    rounds_until(scene.loop, &seen, 6 * TEST_PARTITIONS);
    assert_each_once(&seen, 6);
    /* Counted as 0 bytes, the large records do not split groups; counted, each would be alone. */
    assert_true(seen.group_max > 1);
    scene_end(&scene);
}

/* Runs a loop over 5 records per partition of a new topic until it fails; checks the error. */
static void run_until_failure(ss_test_mock_t *mock, const char *name, seen_t *seen, ss_err_t want,
                              const char *message)
{
    scene_t scene;
    scene_start(&scene, mock, name, seen,
                &(scene_config_t){.per_partition = 5, .value_bytes = 10, .records_max = 100});
    volatile sig_atomic_t stop = 0;
    char errstr[256] = "";
    assert_int_equal(ss_loop_run(scene.loop, &stop, errstr, sizeof(errstr)), want);
    assert_non_null(strstr(errstr, message));
    assert_int_equal(seen->end_result, want);
    assert_int_equal(seen->begins, seen->ends);
    scene_end(&scene);
}

static void test_a_failed_batch_ends_the_round_with_its_error_and_the_run(void **state)
{
    seen_t seen = {.fail_with = SS_ERR_RETRIABLE};
    run_until_failure(*state, "fail", &seen, SS_ERR_RETRIABLE, "the store refused the batch");
    /* The failing group was the first: nothing after it in that round was handed over. */
    assert_int_equal(total(&seen), 0);
    /* Every round but the failing one (the earlier ones had no records yet). */
    assert_int_equal(seen.records_ends, seen.begins - 1);
}

static void test_a_failed_records_end_ends_the_round_with_its_error(void **state)
{
    seen_t seen = {.end_fail_with = SS_ERR_CONFLICT};
    run_until_failure(*state, "endfail", &seen, SS_ERR_CONFLICT, "the round's batch failed");
    assert_int_equal(seen.records_ends, seen.begins);
}

static void test_records_made_stale_by_a_seek_are_dropped_then_come_again(void **state)
{
    seen_t seen = {0};
    scene_t scene;
    scene_start(&scene, *state, "seek", &seen,
                &(scene_config_t){.per_partition = 20, .value_bytes = 10, .records_max = 200});
    ss_loop_t *loop = scene.loop;
    seen.seek_others = true; /* the first group seeks the other partitions back to 0 */
    rounds_until(loop, &seen, 20 * TEST_PARTITIONS);
    assert_false(seen.seek_others);
    rounds_quiet(loop, &seen);
    /* The records the round held of the others were dropped, not handed over twice. */
    assert_each_once(&seen, 20);
    scene_end(&scene);
}

/* The group's committed offset of partition, as a non-member sees it. */
static int64_t committed(const ss_test_mock_t *mock, const char *group, const char *topic,
                         int32_t partition)
{
    char errstr[256] = "";
    ss_kafka_consumer_t *reader = NULL;
    const ss_kafka_consumer_config_t config = {
        .bootstrap = mock->bootstrap, .group_id = group, .client_id = "test-loop-reader"};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, topic, partition, 0, &reader, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    int64_t offset = -1;
    assert_int_equal(ss_kafka_consumer_committed(reader, topic, partition, 5000, &offset, errstr,
                                                 sizeof(errstr)),
                     SS_OK);
    ss_kafka_consumer_destroy(reader);
    return offset;
}

static void pause_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* Rounds until the committed offset of partition 0 is want (bounded). */
static int64_t rounds_until_committed(ss_loop_t *loop, const ss_test_mock_t *mock, int64_t want)
{
    char errstr[256] = "";
    int64_t offset = -1;
    for (int round = 0; round < 20 && offset != want; round++) {
        pause_ms(30); /* past the 20 ms interval */
        assert_int_equal(ss_loop_round(loop, errstr, sizeof(errstr)), SS_OK);
        pause_ms(50); /* the commit is asynchronous */
        offset = committed(mock, "g.publish", "unit.loop.publish", 0);
    }
    return offset;
}

static void test_offsets_are_published_on_the_interval_and_again_after_forget(void **state)
{
    ss_test_mock_t *mock = *state;
    seen_t seen = {0};
    scene_t scene;
    scene_start(&scene, mock, "publish", &seen,
                &(scene_config_t){
                    .per_partition = 3, .value_bytes = 10, .records_max = 100, .publish_ms = 20});
    ss_loop_t *loop = scene.loop;
    rounds_until(loop, &seen, 3 * TEST_PARTITIONS);
    seen.publish[0] = 2;
    assert_int_equal(rounds_until_committed(loop, mock, 2), 2);
    seen.publish[0] = 3;
    assert_int_equal(rounds_until_committed(loop, mock, 3), 3);
    /* An offset of 0 (nothing known) is never sent. */
    seen.publish[0] = 0;
    assert_int_equal(rounds_until_committed(loop, mock, 0), 3);
    /* A forgotten partition (revoked, assigned again) is published again. */
    ss_loop_forget(loop, 0);
    seen.publish[0] = 4;
    assert_int_equal(rounds_until_committed(loop, mock, 4), 4);
    scene_end(&scene);
}

/* Whether both members own partitions, and together all of them. */
static bool shared(const seen_t *first, const seen_t *second)
{
    int32_t a = first->assigned - first->revoked, b = second->assigned - second->revoked;
    return a > 0 && b > 0 && a + b == TEST_PARTITIONS;
}

static void test_two_members_share_the_partitions_and_the_survivor_takes_all(void **state)
{
    ss_test_mock_t *mock = *state;
    seen_t first = {0}, second = {0};
    char errstr[256] = "";
    ss_test_mock_topic(mock, "unit.loop.group", TEST_PARTITIONS);
    ss_kafka_consumer_t *a = consumer_new(mock, "g.group", "unit.loop.group", &first);
    ss_kafka_consumer_t *b = consumer_new(mock, "g.group", "unit.loop.group", &second);
    ss_loop_t *loop_a = loop_new(a, "unit.loop.group", &first, 100, 0, 0);
    ss_loop_t *loop_b = loop_new(b, "unit.loop.group", &second, 100, 0, 0);
    for (int round = 0; round < TEST_ROUNDS_MAX && !shared(&first, &second); round++) {
        assert_int_equal(ss_loop_round(loop_a, errstr, sizeof(errstr)), SS_OK);
        assert_int_equal(ss_loop_round(loop_b, errstr, sizeof(errstr)), SS_OK);
    }
    assert_true(first.assigned - first.revoked > 0);
    assert_true(second.assigned - second.revoked > 0);
    produce(mock, "unit.loop.group", 10, 10);
    for (int round = 0; round < TEST_ROUNDS_MAX && total(&first) + total(&second) < 40; round++) {
        assert_int_equal(ss_loop_round(loop_a, errstr, sizeof(errstr)), SS_OK);
        assert_int_equal(ss_loop_round(loop_b, errstr, sizeof(errstr)), SS_OK);
    }
    assert_int_equal(total(&first) + total(&second), 10 * TEST_PARTITIONS);
    ss_loop_destroy(loop_b);
    consumer_close(b);
    /* The survivor gets every partition; started from the beginning, it sees all 40. */
    memset(first.counts, 0, sizeof(first.counts));
    rounds_until(loop_a, &first, 10 * TEST_PARTITIONS);
    assert_each_once(&first, 10);
    ss_loop_destroy(loop_a);
    consumer_close(a);
}

static void test_a_fatal_poll_ends_the_round_before_any_hook(void **state)
{
    ss_test_mock_t *mock = *state;
    seen_t seen = {.fail_with = SS_ERR_FATAL};
    ss_test_mock_topic(mock, "unit.loop.fatal", TEST_PARTITIONS);
    ss_kafka_consumer_t *consumer = consumer_new(mock, "g.fatal", "unit.loop.fatal", &seen);
    ss_loop_t *loop = loop_new(consumer, "unit.loop.fatal", &seen, 100, 0, 0);
    volatile sig_atomic_t stop = 0;
    char errstr[256] = "";
    size_t begins = 0;
    ss_err_t err = SS_OK;
    for (int round = 0; round < TEST_ROUNDS_MAX && err == SS_OK; round++) {
        begins = seen.begins;
        err = ss_loop_round(loop, errstr, sizeof(errstr));
    }
    assert_int_equal(err, SS_ERR_FATAL);
    assert_non_null(strstr(errstr, "offsets store unreachable"));
    assert_int_equal(seen.begins, begins); /* the fatal round ran no hook */
    assert_int_equal(ss_loop_run(loop, &stop, errstr, sizeof(errstr)), SS_ERR_FATAL);
    ss_loop_destroy(loop);
    ss_kafka_consumer_destroy(consumer);
}

static void test_run_returns_at_once_when_stopped(void **state)
{
    ss_test_mock_t *mock = *state;
    seen_t seen = {0};
    ss_test_mock_topic(mock, "unit.loop.stop", 1);
    ss_kafka_consumer_t *consumer = consumer_new(mock, "g.stop", "unit.loop.stop", &seen);
    ss_loop_t *loop = loop_new(consumer, "unit.loop.stop", &seen, 10, 0, 0);
    volatile sig_atomic_t stop = 1;
    char errstr[256] = "";
    assert_int_equal(ss_loop_run(loop, &stop, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(seen.begins, 0);
    ss_loop_destroy(loop);
    consumer_close(consumer);
}

static void test_config_errors_are_refused(void **state)
{
    ss_test_mock_t *mock = *state;
    seen_t seen = {0};
    char errstr[256] = "";
    ss_test_mock_topic(mock, "unit.loop.config", 1);
    ss_kafka_consumer_t *consumer = consumer_new(mock, "g.config", "unit.loop.config", &seen);
    const ss_loop_handler_t handler = {.name = "t", .opaque = &seen, .records = hook_records};
    const ss_loop_handler_t no_records = {.name = "t", .opaque = &seen};
    const ss_loop_config_t good = {
        .consumer = consumer, .topic = "unit.loop.config", .records_max = 10};
    ss_loop_config_t bad[4] = {good, good, good, good};
    bad[0].records_max = 0;
    bad[1].records_max = SS_LOOP_RECORDS_LIMIT + 1;
    bad[2].bytes_max = -1;
    bad[3].topic = NULL;
    ss_loop_t *loop = NULL;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ss_loop_new(&bad[i], &handler, &loop, errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
        assert_null(loop);
    }
    assert_int_equal(ss_loop_new(&good, &no_records, &loop, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "records hook"));
    assert_int_equal(ss_loop_new(&good, &handler, &loop, errstr, sizeof(errstr)), SS_OK);
    ss_loop_destroy(loop);
    ss_loop_destroy(NULL);
    ss_kafka_consumer_destroy(consumer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_record_once_per_partition_in_order_within_the_bounds),
        cmocka_unit_test(test_a_record_over_record_bytes_max_counts_nothing_towards_a_group),
        cmocka_unit_test(test_a_failed_batch_ends_the_round_with_its_error_and_the_run),
        cmocka_unit_test(test_a_failed_records_end_ends_the_round_with_its_error),
        cmocka_unit_test(test_records_made_stale_by_a_seek_are_dropped_then_come_again),
        cmocka_unit_test(test_offsets_are_published_on_the_interval_and_again_after_forget),
        cmocka_unit_test(test_two_members_share_the_partitions_and_the_survivor_takes_all),
        cmocka_unit_test(test_a_fatal_poll_ends_the_round_before_any_hook),
        cmocka_unit_test(test_run_returns_at_once_when_stopped),
        cmocka_unit_test(test_config_errors_are_refused),
    };
    return cmocka_run_group_tests(tests, ss_test_mock_setup, ss_test_mock_teardown);
}
