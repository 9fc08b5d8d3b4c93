/*
 * What the rank worker tells an operator besides its log: readiness for GET /ready and the lag
 * of its partitions (ss_consumer_lag_records). The loop publishes; the ops server's thread only
 * reads the atomics and probes Redis and Kafka with connections of its own.
 */
#include "rank_worker.h"

#include "ss/clock.h"

#define RANK_OBSERVE_INTERVAL_MS 1000
#define RANK_OPS_ERRSTR_SIZE 512

void ss_rank_worker_observe(ss_rank_worker_t *worker)
{
    int resyncing = 0;
    for (int32_t p = 0; p < SS_RANK_WORKER_PARTITIONS_MAX; p++) {
        resyncing += worker->partitions[p].owned && worker->partitions[p].resync;
    }
    atomic_store(&worker->ready_resyncing, resyncing);
    int64_t now_ms = ss_clock_monotonic_ms();
    if (now_ms - worker->observed_ms < RANK_OBSERVE_INTERVAL_MS) {
        return;
    }
    worker->observed_ms = now_ms;
    for (int32_t p = 0; p < SS_RANK_WORKER_PARTITIONS_MAX; p++) {
        const ss_rank_partition_t *state = &worker->partitions[p];
        if (state->owned && !state->resync && state->expected != SS_RANK_OFFSET_NONE) {
            ss_kafka_consumer_lag_report(worker->consumer, worker->config.topic, p,
                                         state->expected);
        }
    }
}

static void redis_check(const ss_rank_worker_t *worker, ss_ops_check_t *check)
{
    char errstr[RANK_OPS_ERRSTR_SIZE];
    ss_redis_t *redis = NULL;
    ss_err_t err = ss_redis_connect(worker->config.redis_url, SS_OPS_PROBE_TIMEOUT_MS, &redis,
                                    errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_redis_ping(redis, errstr, sizeof(errstr));
    }
    ss_redis_destroy(redis);
    if (err != SS_OK) {
        ss_ops_check_fail(check, "%s", errstr);
    }
}

size_t ss_rank_worker_ready(void *opaque, ss_ops_check_t *checks, size_t checks_max)
{
    ss_rank_worker_t *worker = opaque;
    if (checks_max < 3) {
        return 0;
    }
    checks[0] = (ss_ops_check_t){.name = "redis", .ok = true};
    checks[1] = (ss_ops_check_t){.name = "kafka", .ok = true};
    checks[2] = (ss_ops_check_t){.name = "partitions", .ok = true};
    redis_check(worker, &checks[0]);
    char errstr[RANK_OPS_ERRSTR_SIZE];
    if (ss_kafka_ping(worker->config.kafka_bootstrap, SS_OPS_PROBE_TIMEOUT_MS, errstr,
                      sizeof(errstr)) != SS_OK) {
        ss_ops_check_fail(&checks[1], "%s", errstr);
    }
    int resyncing = atomic_load(&worker->ready_resyncing);
    if (!atomic_load(&worker->ready_joined)) {
        ss_ops_check_fail(&checks[2], "no assignment from group %s yet", worker->config.group_id);
    } else if (resyncing > 0) {
        ss_ops_check_fail(&checks[2], "%d owned partitions wait for their offset in redis",
                          resyncing);
    }
    return 3;
}
