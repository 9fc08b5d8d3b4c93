/*
 * What the exactly-once worker tells an operator: its metrics (/work/metrics-spec.md: batch
 * records and durations, transaction outcomes, dead letters by reason class, outbox depth and
 * age, consumer lag per partition) and its readiness for GET /ready (PostgreSQL and Kafka
 * reachable, every assigned partition claimed).
 *
 * Ownership: the loop (worker.c) is the only writer of ss_worker_t.ready_* (atomics, published
 * once per round from the partition table); the ops server's thread only reads them. The
 * outbox figures are read by worker_outbox.c, the one owner of outbox rows.
 */
#include "worker_internal.h"

#include "ss/clock.h"
#include "ss/ops_http.h"

#include <string.h>

/* Lag and outbox figures are refreshed this often (the offsets' publish interval). */
#define WORKER_METRICS_REFRESH_MS 1000

static const char *const outcome_names[SS_WORKER_OUTCOMES] = {"commit", "retry", "fenced",
                                                              "failed"};

void ss_worker_metrics_init(ss_worker_t *worker)
{
    static const double records[] = SS_METRICS_RECORDS_BUCKETS;
    static const double seconds[] = SS_METRICS_SECONDS_BUCKETS;
    static const double partitions[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    static const char *const outcome_label[] = {"outcome"};
    static const char *const reason_label[] = {"reason"};
    static const ss_metrics_spec_t specs[] = {
        {"ss_worker_batch_records", "Records per committed batch transaction", SS_METRICS_HISTOGRAM,
         NULL, 0, records, sizeof(records) / sizeof(records[0])},
        {"ss_worker_batch_duration_seconds", "Duration of a committed batch transaction",
         SS_METRICS_HISTOGRAM, NULL, 0, seconds, sizeof(seconds) / sizeof(seconds[0])},
        {"ss_worker_transactions_total",
         "Batch and tick transactions by outcome: commit, retry, fenced or failed",
         SS_METRICS_COUNTER, outcome_label, 1, NULL, 0},
        {"ss_dead_letters_total", "Records set aside to the dead-letter topic, by reason class",
         SS_METRICS_COUNTER, reason_label, 1, NULL, 0},
        {"ss_outbox_rows", "Outbox rows stored for the partitions this process owns",
         SS_METRICS_GAUGE, NULL, 0, NULL, 0},
        {"ss_outbox_oldest_age_seconds", "Age of the oldest of those rows (0 when none)",
         SS_METRICS_GAUGE, NULL, 0, NULL, 0},
        {"ss_worker_batch_partitions",
         "Partitions whose records one committed batch transaction applied (a poll round's)",
         SS_METRICS_HISTOGRAM, NULL, 0, partitions, sizeof(partitions) / sizeof(partitions[0])},
    };
    ss_metrics_t *metrics = ss_metrics_process();
    ss_worker_metrics_t *m = &worker->metrics;
    m->batch_records = ss_metrics_series(ss_metrics_family(metrics, &specs[0]), NULL);
    m->batch_duration = ss_metrics_series(ss_metrics_family(metrics, &specs[1]), NULL);
    ss_metrics_family_t *transactions = ss_metrics_family(metrics, &specs[2]);
    for (size_t i = 0; i < SS_WORKER_OUTCOMES; i++) {
        m->transactions[i] = ss_metrics_series(transactions, &outcome_names[i]);
    }
    m->dead_letters = ss_metrics_family(metrics, &specs[3]);
    m->outbox_rows = ss_metrics_series(ss_metrics_family(metrics, &specs[4]), NULL);
    m->outbox_age = ss_metrics_series(ss_metrics_family(metrics, &specs[5]), NULL);
    m->batch_partitions = ss_metrics_series(ss_metrics_family(metrics, &specs[6]), NULL);
}

void ss_worker_metrics_transaction(ss_worker_t *worker, ss_batch_outcome_t outcome)
{
    size_t index = 1; /* RETRY and POISON: rolled back, tried again */
    if (outcome == SS_BATCH_COMMITTED || outcome == SS_BATCH_ALREADY_APPLIED) {
        index = 0;
    } else if (outcome == SS_BATCH_FENCED) {
        index = 2;
    } else if (outcome == SS_BATCH_FAILED) {
        index = 3;
    }
    ss_metrics_add(worker->metrics.transactions[index], 1);
}

void ss_worker_metrics_batch(ss_worker_t *worker, const ss_worker_slot_t *slots, size_t count,
                             size_t partitions, int64_t duration_us)
{
    ss_metrics_observe(worker->metrics.batch_records, (double)count);
    ss_metrics_observe(worker->metrics.batch_partitions, (double)partitions);
    ss_metrics_observe(worker->metrics.batch_duration, (double)duration_us / 1e6);
    for (size_t i = 0; i < count; i++) {
        if (slots[i].dead) {
            ss_worker_metrics_dead_letter(worker, slots[i].dead_class);
        }
    }
}

void ss_worker_metrics_dead_letter(ss_worker_t *worker, const char *reason_class)
{
    const char *const values[] = {reason_class != NULL ? reason_class : "invalid"};
    ss_metrics_add(ss_metrics_series(worker->metrics.dead_letters, values), 1);
}

/* The partition table as the ops thread may read it. */
static void readiness_publish(ss_worker_t *worker)
{
    int assigned = 0, claiming = 0;
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        ss_partition_phase_t phase = worker->partitions[p].phase;
        assigned += phase != SS_PARTITION_UNASSIGNED;
        claiming += phase == SS_PARTITION_CLAIMING;
    }
    atomic_store(&worker->ready_assigned, assigned);
    atomic_store(&worker->ready_claiming, claiming);
}

void ss_worker_metrics_round(ss_worker_t *worker)
{
    readiness_publish(worker);
    int64_t now_ms = ss_clock_monotonic_ms();
    if (now_ms - worker->metrics.refreshed_ms < WORKER_METRICS_REFRESH_MS) {
        return;
    }
    worker->metrics.refreshed_ms = now_ms;
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        const ss_partition_t *state = &worker->partitions[p];
        if (state->phase == SS_PARTITION_OWNED) {
            ss_kafka_consumer_lag_report(worker->consumer, worker->config.topic, p,
                                         state->next_offset);
        }
    }
    ss_worker_outbox_gauge(worker);
}

/* ---- readiness (the ops server's thread) ----------------------------------------------------- */

static void postgres_check(const ss_worker_t *worker, ss_ops_check_t *check)
{
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_pg_t *pg = NULL;
    ss_err_t err = ss_pg_connect_ms(worker->config.pg_dsn, "ss-ready", SS_OPS_PROBE_TIMEOUT_MS,
                                    NULL, &pg, errstr, sizeof(errstr));
    if (err == SS_OK) {
        ss_pg_set_result_timeout(pg, SS_OPS_PROBE_TIMEOUT_MS);
        err = ss_pg_ping(pg, errstr, sizeof(errstr));
    }
    ss_pg_destroy(pg);
    if (err != SS_OK) {
        ss_ops_check_fail(check, "%s", errstr);
    }
}

static void partitions_check(const ss_worker_t *worker, ss_ops_check_t *check)
{
    int claiming = atomic_load(&worker->ready_claiming);
    if (!atomic_load(&worker->ready_joined)) {
        ss_ops_check_fail(check, "no assignment from group %s yet", worker->config.group_id);
    } else if (claiming > 0) {
        ss_ops_check_fail(check, "%d of %d assigned partitions not claimed yet", claiming,
                          atomic_load(&worker->ready_assigned));
    }
}

size_t ss_worker_ready(void *opaque, ss_ops_check_t *checks, size_t checks_max)
{
    ss_worker_t *worker = opaque;
    if (checks_max < 3) {
        return 0;
    }
    checks[0] = (ss_ops_check_t){.name = "postgres", .ok = true};
    checks[1] = (ss_ops_check_t){.name = "kafka", .ok = true};
    checks[2] = (ss_ops_check_t){.name = "partitions", .ok = true};
    postgres_check(worker, &checks[0]);
    char errstr[SS_WORKER_ERRSTR_SIZE];
    if (ss_kafka_producer_ping(worker->producer, SS_OPS_PROBE_TIMEOUT_MS, errstr, sizeof(errstr)) !=
        SS_OK) {
        ss_ops_check_fail(&checks[1], "%s", errstr);
    }
    partitions_check(worker, &checks[2]);
    return 3;
}
