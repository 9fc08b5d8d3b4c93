/*
 * The sink's hooks on the shared consumer loop (ss/loop.h): poll a batch of ss.events.order,
 * go through each partition's records in order (OrderFailed: skip; anything undecodable: park;
 * OrderPaid: an item of the partition's next batch), send the items in batches to the
 * platform's batch endpoint (or one by one, when it has none) until each is delivered, refused
 * for good or out of attempts (both: parked), then commit each partition's next offset to
 * Kafka. A record is committed only once it and every record before it are delivered, skipped
 * or parked, so a crash re-sends (the platform dedupes by idempotency key) and never loses an
 * order. The item and done-record arrays are this file's, reset for each partition's records.
 *
 * Parking sends the record's raw bytes to ss.dlq with the ss-dlq-reason and ss-dlq-source
 * (topic/partition/offset) headers, and waits for the broker's acknowledgement before the
 * offset moves on.
 */
#include "platform_sink.h"
#include "ss/topics.h"

#include "ss/avro.h"
#include "ss/clock.h"
#include "ss/kafka.h"
#include "ss/log.h"
#include "ss/loop.h"
#include "ss/metrics.h"

#include <stdatomic.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Records one poll hands over at most (so a partition's batch can be SS_SINK_BATCH_MAX). */
#define SINK_BATCH_RECORDS_MAX SS_SINK_BATCH_MAX
/* One poll waits this long for records before the stop flag is looked at again. */
#define SINK_POLL_MS 200
/* Waits (backoff, after a consumer error) are cut into slices this long to notice a stop. */
#define SINK_SLEEP_SLICE_MS 50
/* Partitions whose next offset waits for the end-of-batch commit. */
#define SINK_PENDING_MAX 1024
/* Parking: attempts to reach ss.dlq, how long each may take, and the waits between them. */
#define SINK_PARK_ATTEMPTS_MAX 30
#define SINK_PARK_MESSAGE_TIMEOUT_MS "30000"
#define SINK_PARK_FLUSH_MS 35000
#define SINK_PARK_BACKOFF_BASE_MS 200
#define SINK_PARK_BACKOFF_MAX_MS 5000
/*
 * librdkafka evicts a member that has not polled for max.poll.interval.ms. A retried order
 * keeps the sink from polling for up to attempts x (timeout + backoff), so the interval is set
 * above that (within librdkafka's range).
 */
#define SINK_POLL_INTERVAL_MARGIN_MS 60000LL
#define SINK_POLL_INTERVAL_MIN_MS 300000LL
#define SINK_POLL_INTERVAL_MAX_MS 86400000LL
#define SINK_SOURCE_SIZE 320
#define SINK_ERRSTR_SIZE 512
/* Room for a cause inside a dead-letter reason. */
#define SINK_CAUSE_SIZE 384

typedef struct sink_pending {
    int32_t partition;
    int64_t next_offset;
} sink_pending_t;

struct ss_sink {
    const ss_sink_config_t *config;
    volatile sig_atomic_t *stop;
    char url[SS_SINK_URL_SIZE];
    char batch_url[SS_SINK_URL_SIZE];
    bool batch_refused; /* the batch endpoint answered 404 or 405: one POST per order from now on */
    ss_avro_registry_t *registry;
    ss_kafka_consumer_t *consumer;
    ss_kafka_producer_t *producer;
    ss_sink_client_t *client;
    sink_pending_t pending[SINK_PENDING_MAX];
    size_t pending_count;
    /* The records of the partition in hand: which are done, and the OrderPaid items to send. */
    bool record_done[SINK_BATCH_RECORDS_MAX];
    ss_sink_item_t items[SINK_BATCH_RECORDS_MAX];
    size_t item_count;
    uint64_t random_state;
    /* The dead letter in flight: its sequence number and what the delivery callback said. */
    uint64_t park_sequence;
    bool park_done;
    ss_err_t park_result;
    char park_error[SS_SINK_EXCERPT_SIZE];
    /* Metrics (the process registry): ss_sink_deliveries_total, _retries_total, _parked_total. */
    ss_metrics_series_t *deliveries;
    ss_metrics_series_t *retries;
    ss_metrics_series_t *parked;
    /* Written by the loop's rebalance hooks, read by the ops thread (ss_sink_ready). */
    atomic_bool joined;
};

/* Sleeps up to ms, in slices, returning early once a stop is requested. */
static void sink_sleep(const ss_sink_t *sink, int64_t ms)
{
    int64_t deadline = ss_clock_monotonic_ms() + ms;
    for (int64_t left = ms; left > 0 && !*sink->stop; left = deadline - ss_clock_monotonic_ms()) {
        int64_t slice = left < SINK_SLEEP_SLICE_MS ? left : SINK_SLEEP_SLICE_MS;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)slice * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static void sink_on_delivery(void *opaque, void *message_opaque,
                             const ss_kafka_delivery_t *delivery)
{
    ss_sink_t *sink = opaque;
    const ss_err_t result = delivery->result;
    const char *error_text = delivery->error_text;
    if ((uint64_t)(uintptr_t)message_opaque != sink->park_sequence) {
        return; /* a dead letter given up on earlier (flush timed out) that arrived after all */
    }
    sink->park_done = true;
    sink->park_result = result;
    snprintf(sink->park_error, sizeof(sink->park_error), "%s",
             error_text != NULL ? error_text : "");
}

/* ---- offsets ------------------------------------------------------------------------------- */

static void pending_commit(ss_sink_t *sink)
{
    for (size_t i = 0; i < sink->pending_count; i++) {
        char errstr[SINK_ERRSTR_SIZE];
        const sink_pending_t *entry = &sink->pending[i];
        if (ss_kafka_consumer_commit(sink->consumer, SS_TOPIC_EVENTS_ORDER, entry->partition,
                                     entry->next_offset, errstr, sizeof(errstr)) != SS_OK) {
            /* Not fatal: the records after the last commit are sent again, and deduped. */
            SS_LOG_WARN(SS_SINK_COMPONENT,
                        "could not commit topic=%s partition=%" PRId32 " offset=%" PRId64
                        " error=\"%s\"",
                        SS_TOPIC_EVENTS_ORDER, entry->partition, entry->next_offset, errstr);
        }
    }
    sink->pending_count = 0;
}

/* Remembers that everything of partition before next_offset is done. */
static void pending_set(ss_sink_t *sink, int32_t partition, int64_t next_offset)
{
    for (size_t i = 0; i < sink->pending_count; i++) {
        if (sink->pending[i].partition == partition) {
            sink->pending[i].next_offset = next_offset;
            return;
        }
    }
    if (sink->pending_count == SINK_PENDING_MAX) {
        pending_commit(sink);
    }
    sink->pending[sink->pending_count++] = (sink_pending_t){partition, next_offset};
}

/* ---- parking ------------------------------------------------------------------------------- */

/*
 * Sends the record to ss.dlq and waits for the acknowledgement. *done is true once it is
 * there; false when a stop interrupted the attempts. SS_ERR_FATAL when the dead-letter topic
 * stayed out of reach for every attempt, or the producer broke.
 */
static ss_err_t record_park(ss_sink_t *sink, const ss_kafka_message_t *message, const char *reason,
                            bool *done, char *errstr, size_t errstr_size)
{
    char source[SINK_SOURCE_SIZE];
    snprintf(source, sizeof(source), "%s/%" PRId32 "/%" PRId64, message->topic, message->partition,
             message->offset);
    ss_kafka_header_t headers[2 + SS_TRACE_KAFKA_HEADERS_MAX] = {
        {SS_HEADER_DLQ_REASON, reason, strlen(reason)},
        {SS_HEADER_DLQ_SOURCE, source, strlen(source)},
    };
    ss_trace_t trace;
    ss_trace_from_kafka(message, &trace);
    size_t header_count = 2 + ss_trace_kafka_headers(&trace, headers + 2);
    *done = false;
    char cause[SINK_ERRSTR_SIZE] = "";
    for (unsigned attempt = 1; attempt <= SINK_PARK_ATTEMPTS_MAX && !*sink->stop; attempt++) {
        sink->park_sequence++;
        sink->park_done = false;
        ss_err_t err = ss_kafka_producer_send(
            sink->producer, SS_TOPIC_DLQ, SS_KAFKA_PARTITION_BY_KEY, message->key,
            message->key_length, message->value, message->value_length, headers, header_count,
            (void *)(uintptr_t)sink->park_sequence, cause, sizeof(cause));
        if (err == SS_OK) {
            err = ss_kafka_producer_flush(sink->producer, SINK_PARK_FLUSH_MS, cause, sizeof(cause));
        }
        if (err == SS_OK && sink->park_done && sink->park_result == SS_OK) {
            SS_LOG_WARN(SS_SINK_COMPONENT, "parked source=%s dlq=%s reason=\"%s\"", source,
                        SS_TOPIC_DLQ, reason);
            ss_metrics_add(sink->parked, 1);
            *done = true;
            return SS_OK;
        }
        if (err == SS_OK) {
            err = sink->park_done ? sink->park_result : SS_ERR_TIMEOUT;
            snprintf(cause, sizeof(cause), "%s",
                     sink->park_done ? sink->park_error : "no delivery report");
        }
        if (err == SS_ERR_FATAL) {
            return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                              "could not park source=%s in %s: %s", source, SS_TOPIC_DLQ, cause);
        }
        SS_LOG_WARN(SS_SINK_COMPONENT, "could not park source=%s attempt=%u error=\"%s\"", source,
                    attempt, cause);
        sink_sleep(sink,
                   ss_sink_backoff_ms(attempt, SINK_PARK_BACKOFF_BASE_MS, SINK_PARK_BACKOFF_MAX_MS,
                                      ss_sink_random_next(&sink->random_state)));
    }
    if (*sink->stop) {
        return SS_OK;
    }
    return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                      "could not park source=%s in %s after %d attempts: %s", source, SS_TOPIC_DLQ,
                      SINK_PARK_ATTEMPTS_MAX, cause);
}

/* ---- delivery ------------------------------------------------------------------------------ */

/* The dead-letter reason of an order refused for good, or out of attempts. */
static void reason_write(char *reason, size_t size, int64_t order_id, ss_sink_outcome_t outcome,
                         unsigned attempt, bool answered, long status, const char *detail)
{
    if (outcome == SS_SINK_PERMANENT) {
        snprintf(reason, size, "the data platform refused order_id=%" PRId64 " with status %ld: %s",
                 order_id, status, detail);
    } else {
        snprintf(reason, size,
                 "no delivery of order_id=%" PRId64 " after %u attempts, the last: %s%ld %s",
                 order_id, attempt, answered ? "status " : "no answer ", answered ? status : 0L,
                 detail);
    }
}

/* The debug line of a delivered order (the caller has entered the order's request context). */
static void delivered_log(int64_t order_id, long status, unsigned attempt, bool batch)
{
    SS_LOG_DEBUG(SS_SINK_COMPONENT, "delivered order_id=%" PRId64 " status=%ld attempt=%u%s",
                 order_id, status, attempt, batch ? " batch=true" : "");
}

static void failure_log(int64_t order_id, unsigned attempt, long status, ss_sink_outcome_t outcome,
                        const char *detail)
{
    SS_LOG_WARN(SS_SINK_COMPONENT,
                "delivery failed order_id=%" PRId64 " attempt=%u status=%ld outcome=%s"
                " error=\"%s\"",
                order_id, attempt, status, ss_sink_outcome_name(outcome), detail);
}

/* Waits before attempt + 1; the first wait commits what is done first (it may be long). */
static void retry_wait(ss_sink_t *sink, unsigned attempt, size_t orders)
{
    ss_metrics_add(sink->retries, (double)orders);
    if (attempt == 1) {
        pending_commit(sink);
    }
    sink_sleep(sink, ss_sink_backoff_ms(attempt, sink->config->backoff_base_ms,
                                        sink->config->backoff_max_ms,
                                        ss_sink_random_next(&sink->random_state)));
}

/*
 * POSTs one order alone until the platform has it, refuses it for good, or the attempts run
 * out (both: parked). *done as for record_park().
 */
static ss_err_t order_deliver(ss_sink_t *sink, const ss_kafka_message_t *message,
                              const ss_sink_item_t *item, const char *body, bool *done,
                              char *errstr, size_t errstr_size)
{
    const ss_sink_config_t *config = sink->config;
    char reason[SS_SINK_REASON_SIZE];
    size_t body_length = strlen(body);
    *done = false;
    for (unsigned attempt = 1; attempt <= (unsigned)config->attempts_max && !*sink->stop;
         attempt++) {
        ss_sink_response_t response;
        ss_err_t err = ss_sink_client_post(sink->client, item->key, &item->trace, body, body_length,
                                           &response, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        if (*sink->stop && !response.answered) {
            return SS_OK; /* abandoned on stop: neither delivered nor failed */
        }
        ss_sink_outcome_t outcome = ss_sink_classify(response.answered, response.status);
        if (outcome == SS_SINK_DELIVERED) {
            delivered_log(item->order_id, response.status, attempt, false);
            ss_metrics_add(sink->deliveries, 1);
            *done = true;
            return SS_OK;
        }
        const char *detail = response.answered ? response.excerpt : response.error;
        long status = response.answered ? response.status : 0L;
        failure_log(item->order_id, attempt, status, outcome, detail);
        if (outcome == SS_SINK_PERMANENT || attempt == (unsigned)config->attempts_max) {
            reason_write(reason, sizeof(reason), item->order_id, outcome, attempt,
                         response.answered, status, detail);
            return record_park(sink, message, reason, done, errstr, errstr_size);
        }
        retry_wait(sink, attempt, 1);
    }
    return SS_OK;
}

static void item_done(ss_sink_t *sink, ss_sink_item_t *item)
{
    item->done = true;
    sink->record_done[item->record] = true;
}

/* Sends the item alone (POST /orders), as every order was before batches. */
static ss_err_t item_deliver_alone(ss_sink_t *sink, ss_kafka_message_t **messages,
                                   ss_sink_item_t *item, char *errstr, size_t errstr_size)
{
    bool done = false;
    ss_trace_log_enter(&item->trace);
    ss_err_t err =
        order_deliver(sink, messages[item->record], item, item->order, &done, errstr, errstr_size);
    ss_trace_log_leave();
    if (err == SS_OK && done) {
        item_done(sink, item);
    }
    return err;
}

/* Every item still to send gets the outcome of an answer (or its absence) for the whole batch. */
static void items_outcome_set(ss_sink_t *sink, const ss_sink_response_t *response)
{
    for (size_t i = 0; i < sink->item_count; i++) {
        ss_sink_item_t *item = &sink->items[i];
        item->outcome = SS_SINK_RETRY;
        item->status = response->answered ? response->status : 0L;
        snprintf(item->detail, sizeof(item->detail), "%s",
                 response->answered ? response->excerpt : response->error);
    }
}

/*
 * One POST /orders/batch of the items not done, their outcomes read into them. *fall_back:
 * send them alone instead (the platform has no batch endpoint, refused the batch as a whole,
 * or answered results that do not match it). *abandoned: a stop cut the POST short.
 */
static ss_err_t batch_attempt(ss_sink_t *sink, bool *fall_back, bool *abandoned, char *errstr,
                              size_t errstr_size)
{
    char *body = NULL;
    char cause[SINK_CAUSE_SIZE] = "";
    ss_sink_response_t response;
    *fall_back = false;
    *abandoned = false;
    ss_err_t err = ss_sink_batch_body(sink->items, sink->item_count, &body, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_sink_client_post_batch(sink->client, sink->batch_url, body, strlen(body),
                                        &response, errstr, errstr_size);
    }
    free(body);
    if (err != SS_OK || (*abandoned = *sink->stop && !response.answered)) {
        return err;
    }
    ss_sink_outcome_t outcome = ss_sink_classify(response.answered, response.status);
    if (outcome == SS_SINK_RETRY) {
        items_outcome_set(sink, &response);
        return SS_OK;
    }
    if (outcome == SS_SINK_DELIVERED &&
        ss_sink_batch_results(response.body, response.body_length, sink->items, sink->item_count,
                              cause, sizeof(cause)) == SS_OK) {
        return SS_OK;
    }
    *fall_back = true;
    sink->batch_refused = response.status == 404 || response.status == 405;
    SS_LOG_WARN(SS_SINK_COMPONENT,
                "the batch endpoint answered status=%ld error=\"%s\": sending its orders one by"
                " one%s",
                response.status, cause[0] != '\0' ? cause : response.excerpt,
                sink->batch_refused ? " from now on" : "");
    return SS_OK;
}

/*
 * Applies what attempt said of each item: delivered, parked (refused for good, or the attempts
 * ran out), or to send again (*left counts those).
 */
static ss_err_t batch_settle(ss_sink_t *sink, ss_kafka_message_t **messages, unsigned attempt,
                             size_t *left, char *errstr, size_t errstr_size)
{
    char reason[SS_SINK_REASON_SIZE];
    size_t delivered = 0;
    bool last = attempt == (unsigned)sink->config->attempts_max;
    ss_err_t err = SS_OK;
    *left = 0;
    for (size_t i = 0; i < sink->item_count && err == SS_OK; i++) {
        ss_sink_item_t *item = &sink->items[i];
        if (item->done) {
            continue;
        }
        if (item->outcome == SS_SINK_DELIVERED) {
            /* As for an order sent alone: the line names the order's request. */
            ss_trace_log_enter(&item->trace);
            delivered_log(item->order_id, item->status, attempt, true);
            ss_trace_log_leave();
            delivered++;
            item_done(sink, item);
            continue;
        }
        ss_trace_log_enter(&item->trace);
        failure_log(item->order_id, attempt, item->status, item->outcome, item->detail);
        if (item->outcome == SS_SINK_PERMANENT || last) {
            bool done = false;
            reason_write(reason, sizeof(reason), item->order_id, item->outcome, attempt,
                         item->status != 0, item->status, item->detail);
            err = record_park(sink, messages[item->record], reason, &done, errstr, errstr_size);
            if (done) {
                item_done(sink, item);
            }
        } else {
            (*left)++;
        }
        ss_trace_log_leave();
    }
    ss_metrics_add(sink->deliveries, (double)delivered);
    return err;
}

/* Sends the items in batches until each is delivered or parked, or it is better sent alone. */
static ss_err_t batch_deliver(ss_sink_t *sink, ss_kafka_message_t **messages, char *errstr,
                              size_t errstr_size)
{
    unsigned attempts_max = (unsigned)sink->config->attempts_max;
    for (unsigned attempt = 1; attempt <= attempts_max && !*sink->stop; attempt++) {
        bool fall_back = false, abandoned = false;
        size_t left = 0;
        ss_err_t err = batch_attempt(sink, &fall_back, &abandoned, errstr, errstr_size);
        if (err == SS_OK && !fall_back && !abandoned) {
            err = batch_settle(sink, messages, attempt, &left, errstr, errstr_size);
        }
        if (err != SS_OK || fall_back || abandoned || left == 0) {
            return err;
        }
        retry_wait(sink, attempt, left);
    }
    return SS_OK;
}

/* Notes that the partition's records before the first one not done are done. */
static void progress_note(ss_sink_t *sink, int32_t partition, ss_kafka_message_t **messages,
                          size_t count)
{
    size_t prefix = 0;
    while (prefix < count && sink->record_done[prefix]) {
        prefix++;
    }
    if (prefix > 0) {
        pending_set(sink, partition, messages[prefix - 1]->offset + 1);
    }
}

/* Releases the items' bodies: the partition's records in hand are done with. */
static void items_clear(ss_sink_t *sink)
{
    for (size_t i = 0; i < sink->item_count; i++) {
        free(sink->items[i].order);
    }
    sink->item_count = 0;
}

/*
 * Delivers the round's items: in batches when there are several, else (or as told) alone.
 * What is done before each send is noted first: a retry's wait commits it.
 */
static ss_err_t items_deliver(ss_sink_t *sink, int32_t partition, ss_kafka_message_t **messages,
                              size_t count, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    if (sink->item_count > 1 && sink->config->batch_max > 1 && !sink->batch_refused) {
        progress_note(sink, partition, messages, count);
        err = batch_deliver(sink, messages, errstr, errstr_size);
    }
    for (size_t i = 0; i < sink->item_count && err == SS_OK && !*sink->stop; i++) {
        if (!sink->items[i].done) {
            progress_note(sink, partition, messages, count);
            err = item_deliver_alone(sink, messages, &sink->items[i], errstr, errstr_size);
        }
    }
    items_clear(sink);
    return err;
}

/* ---- records ------------------------------------------------------------------------------- */

/* What became of a record looked at. */
typedef enum record_fate {
    RECORD_DONE,    /* skipped (OrderFailed) or parked */
    RECORD_ITEM,    /* an OrderPaid: the round's next item */
    RECORD_STOPPED, /* a stop interrupted its parking */
} record_fate_t;

/* Parks the record; RECORD_STOPPED when a stop came first. */
static ss_err_t record_refuse(ss_sink_t *sink, const ss_kafka_message_t *message,
                              const char *reason, record_fate_t *fate, char *errstr,
                              size_t errstr_size)
{
    bool done = false;
    ss_err_t err = record_park(sink, message, reason, &done, errstr, errstr_size);
    *fate = done ? RECORD_DONE : RECORD_STOPPED;
    return err;
}

/* Makes record number index (its trace headers read already) an item, or skips or parks it. */
static ss_err_t record_prepare(ss_sink_t *sink, ss_kafka_message_t **messages, size_t index,
                               const ss_trace_t *trace, record_fate_t *fate, char *errstr,
                               size_t errstr_size)
{
    const ss_kafka_message_t *message = messages[index];
    json_t *record = NULL;
    const char *schema_name = NULL;
    char cause[SINK_CAUSE_SIZE];
    char reason[SS_SINK_REASON_SIZE];
    ss_sink_item_t *item = &sink->items[sink->item_count];
    *fate = RECORD_DONE;
    if (message->value == NULL || message->value_length == 0) {
        return record_refuse(sink, message, "the record has no value", fate, errstr, errstr_size);
    }
    if (ss_avro_decode(sink->registry, message->value, message->value_length, &schema_name, &record,
                       cause, sizeof(cause)) != SS_OK) {
        snprintf(reason, sizeof(reason), "could not decode the record: %s", cause);
        return record_refuse(sink, message, reason, fate, errstr, errstr_size);
    }
    ss_err_t err = SS_OK;
    if (strcmp(schema_name, SS_SCHEMA_ORDER_FAILED) == 0) {
        /* done: the platform wants paid orders only */
    } else if (strcmp(schema_name, SS_SCHEMA_ORDER_PAID) != 0) {
        snprintf(reason, sizeof(reason), "a %s record has no place on %s", schema_name,
                 SS_TOPIC_EVENTS_ORDER);
        err = record_refuse(sink, message, reason, fate, errstr, errstr_size);
    } else {
        *item = (ss_sink_item_t){.record = index};
        err = ss_sink_order_body(record, &item->order_id, &item->order, cause, sizeof(cause));
        if (err == SS_OK) {
            ss_sink_idempotency_key(item->order_id, item->key, sizeof(item->key));
            item->trace = *trace;
            sink->item_count++;
            *fate = RECORD_ITEM;
        } else if (err == SS_ERR_NOMEM) {
            err = ss_err_set(err, errstr, errstr_size, "%s", cause);
        } else {
            snprintf(reason, sizeof(reason), "not a valid OrderPaid: %s", cause);
            err = record_refuse(sink, message, reason, fate, errstr, errstr_size);
        }
    }
    json_decref(record);
    return err;
}

/* ---- the loop ------------------------------------------------------------------------------ */

/*
 * loop.h's records hook: one partition's records in order; OrderPaid ones are sent in batches
 * of SS_PLATFORM_BATCH_MAX, the offset moving past each record once it and all before it are
 * done. A stop leaves the rest for after a restart.
 */
static ss_err_t sink_records(void *opaque, int32_t partition, ss_kafka_message_t **messages,
                             size_t count, char *errstr, size_t errstr_size)
{
    ss_sink_t *sink = opaque;
    size_t batch_max = (size_t)sink->config->batch_max;
    ss_err_t err = SS_OK;
    record_fate_t fate = RECORD_DONE;
    memset(sink->record_done, 0, count * sizeof(sink->record_done[0]));
    for (size_t i = 0; i < count && err == SS_OK && fate != RECORD_STOPPED && !*sink->stop; i++) {
        ss_trace_t trace;
        ss_trace_from_kafka(messages[i], &trace);
        ss_trace_log_enter(&trace); /* every line about the record names its request */
        err = record_prepare(sink, messages, i, &trace, &fate, errstr, errstr_size);
        ss_trace_log_leave();
        sink->record_done[i] = err == SS_OK && fate == RECORD_DONE;
        if (err == SS_OK && sink->item_count == batch_max) {
            err = items_deliver(sink, partition, messages, count, errstr, errstr_size);
        }
    }
    if (err == SS_OK && !*sink->stop) {
        err = items_deliver(sink, partition, messages, count, errstr, errstr_size);
    }
    progress_note(sink, partition, messages, count);
    items_clear(sink); /* left by an error or a stop */
    return err;
}

/* loop.h's round_end: what the round delivered is committed to the group, failed or not. */
static ss_err_t sink_round_end(void *opaque, ss_err_t result, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    pending_commit(opaque);
    return result;
}

ss_err_t ss_sink_run(ss_sink_t *sink, char *errstr, size_t errstr_size)
{
    ss_loop_config_t loop_config = {.consumer = sink->consumer,
                                    .topic = SS_TOPIC_EVENTS_ORDER,
                                    .records_max = SINK_BATCH_RECORDS_MAX,
                                    .poll_timeout_ms = SINK_POLL_MS};
    ss_loop_handler_t handler = {.name = SS_SINK_COMPONENT,
                                 .opaque = sink,
                                 .records = sink_records,
                                 .round_end = sink_round_end};
    ss_loop_t *loop = NULL;
    ss_err_t err = ss_loop_new(&loop_config, &handler, &loop, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_loop_run(loop, sink->stop, errstr, errstr_size);
    }
    ss_loop_destroy(loop);
    char close_error[SINK_ERRSTR_SIZE];
    if (ss_kafka_consumer_close(sink->consumer, close_error, sizeof(close_error)) != SS_OK) {
        SS_LOG_WARN(SS_SINK_COMPONENT, "could not leave the group cleanly error=\"%s\"",
                    close_error);
    }
    return err;
}

/* ---- setup --------------------------------------------------------------------------------- */

/* Starts where the group's committed offsets say (the offsets stay as given); notes the join. */
static ss_err_t sink_on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                               char *errstr, size_t errstr_size)
{
    ss_sink_t *sink = opaque;
    (void)partitions;
    (void)count;
    (void)errstr;
    (void)errstr_size;
    atomic_store(&sink->joined, true);
    return SS_OK;
}

static void sink_metrics_init(ss_sink_t *sink)
{
    static const ss_metrics_spec_t specs[] = {
        {"ss_sink_deliveries_total", "Orders the data platform acknowledged (2xx or 409)",
         SS_METRICS_COUNTER, NULL, 0, NULL, 0},
        {"ss_sink_retries_total", "Failed POSTs of an order that were tried again",
         SS_METRICS_COUNTER, NULL, 0, NULL, 0},
        {"ss_sink_parked_total", "Records parked in the dead-letter topic", SS_METRICS_COUNTER,
         NULL, 0, NULL, 0},
    };
    ss_metrics_t *metrics = ss_metrics_process();
    sink->deliveries = ss_metrics_series(ss_metrics_family(metrics, &specs[0]), NULL);
    sink->retries = ss_metrics_series(ss_metrics_family(metrics, &specs[1]), NULL);
    sink->parked = ss_metrics_series(ss_metrics_family(metrics, &specs[2]), NULL);
}

size_t ss_sink_ready(void *opaque, ss_ops_check_t *checks, size_t checks_max)
{
    ss_sink_t *sink = opaque;
    if (checks_max < 2) {
        return 0;
    }
    checks[0] = (ss_ops_check_t){.name = "kafka", .ok = true};
    checks[1] = (ss_ops_check_t){.name = "partitions", .ok = true};
    char errstr[SINK_ERRSTR_SIZE];
    if (ss_kafka_producer_ping(sink->producer, SS_OPS_PROBE_TIMEOUT_MS, errstr, sizeof(errstr)) !=
        SS_OK) {
        ss_ops_check_fail(&checks[0], "%s", errstr);
    }
    if (!atomic_load(&sink->joined)) {
        ss_ops_check_fail(&checks[1], "no assignment from group %s yet", sink->config->group_id);
    }
    return 2;
}

static ss_err_t sink_clients_create(ss_sink_t *sink, char *errstr, size_t errstr_size)
{
    const ss_sink_config_t *config = sink->config;
    ss_err_t err = ss_avro_registry_load(config->schema_dir, &sink->registry, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    static const ss_kafka_property_t producer_properties[] = {
        {"message.timeout.ms", SINK_PARK_MESSAGE_TIMEOUT_MS},
    };
    ss_kafka_producer_config_t producer = {.bootstrap = config->kafka_bootstrap,
                                           .client_id = config->client_id,
                                           .linger_ms = 0,
                                           .on_delivery = sink_on_delivery,
                                           .opaque = sink,
                                           .properties = producer_properties,
                                           .property_count = 1};
    err = ss_kafka_producer_new(&producer, &sink->producer, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    long long poll_interval_ms =
        config->attempts_max * (config->timeout_ms + config->backoff_max_ms) +
        SINK_POLL_INTERVAL_MARGIN_MS;
    if (poll_interval_ms < SINK_POLL_INTERVAL_MIN_MS) {
        poll_interval_ms = SINK_POLL_INTERVAL_MIN_MS;
    }
    if (poll_interval_ms > SINK_POLL_INTERVAL_MAX_MS) {
        poll_interval_ms = SINK_POLL_INTERVAL_MAX_MS;
    }
    char poll_interval_text[24];
    snprintf(poll_interval_text, sizeof(poll_interval_text), "%lld", poll_interval_ms);
    /* A member that died is noticed within the session timeout, as for the workers. */
    const ss_kafka_property_t consumer_properties[] = {
        {"session.timeout.ms", "10000"},
        {"heartbeat.interval.ms", "1000"},
        {"max.poll.interval.ms", poll_interval_text},
    };
    const char *topics[] = {SS_TOPIC_EVENTS_ORDER};
    ss_kafka_consumer_config_t consumer = {.bootstrap = config->kafka_bootstrap,
                                           .group_id = config->group_id,
                                           .client_id = config->client_id,
                                           .topics = topics,
                                           .topic_count = 1,
                                           .on_assign = sink_on_assign,
                                           .opaque = sink,
                                           .batch_linger_ms = 0,
                                           .fetch_min_bytes = (int)config->fetch_min_bytes,
                                           .fetch_wait_max_ms = (int)config->fetch_wait_max_ms,
                                           .properties = consumer_properties,
                                           .property_count = sizeof(consumer_properties) /
                                                             sizeof(consumer_properties[0])};
    err = ss_kafka_consumer_new(&consumer, &sink->consumer, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    return ss_sink_client_new(sink->url, config->platform_token, (long)config->connect_timeout_ms,
                              (long)config->timeout_ms, sink->stop, &sink->client, errstr,
                              errstr_size);
}

ss_err_t ss_sink_new(const ss_sink_config_t *config, volatile sig_atomic_t *stop, ss_sink_t **out,
                     char *errstr, size_t errstr_size)
{
    *out = NULL;
    ss_sink_t *sink = calloc(1, sizeof(*sink));
    if (sink == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory for the sink");
    }
    sink->config = config;
    sink->stop = stop;
    sink_metrics_init(sink);
    sink->random_state = (uint64_t)ss_clock_monotonic_us() ^ ((uint64_t)getpid() << 32);
    if (sink->random_state == 0) {
        sink->random_state = 1;
    }
    ss_err_t err = ss_sink_config_validate(config, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_sink_url_resolve(config->platform_url, sink->url, sizeof(sink->url), errstr,
                                  errstr_size);
    }
    if (err == SS_OK) {
        err = ss_sink_batch_url(sink->url, sink->batch_url, sizeof(sink->batch_url), errstr,
                                errstr_size);
    }
    if (err == SS_OK) {
        err = sink_clients_create(sink, errstr, errstr_size);
    }
    if (err != SS_OK) {
        ss_sink_destroy(sink);
        return err;
    }
    /* A URL with user:password@ is not logged: ss/config.h never echoes strings either. */
    SS_LOG_INFO(SS_SINK_COMPONENT,
                "ready group=%s topic=%s url=%s attempts_max=%lld batch_max=%lld", config->group_id,
                SS_TOPIC_EVENTS_ORDER, strchr(sink->url, '@') ? "(hidden)" : sink->url,
                config->attempts_max, config->batch_max);
    *out = sink;
    return SS_OK;
}

void ss_sink_destroy(ss_sink_t *sink)
{
    if (sink == NULL) {
        return;
    }
    ss_sink_client_destroy(sink->client);
    ss_kafka_consumer_destroy(sink->consumer);
    ss_kafka_producer_destroy(sink->producer);
    ss_avro_registry_destroy(sink->registry);
    free(sink);
}
