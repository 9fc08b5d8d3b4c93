/*
 * The rank worker's options (flags, environment, defaults, ranges, help), the worker object's
 * life cycle and its lazily opened PostgreSQL and Redis connections.
 */
#include "rank_worker.h"

#include "ss/clock.h"
#include "ss/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RANK_DEFAULT_BOOTSTRAP "127.0.0.1:19092"
#define RANK_DEFAULT_PG_DSN "postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream"
#define RANK_DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"
#define RANK_PG_CONNECT_TIMEOUT_S 10

void ss_rank_worker_options(ss_config_option_t *options, ss_rank_worker_config_t *config)
{
    const ss_config_option_t table[SS_RANK_WORKER_OPTION_COUNT - SS_OPS_HTTP_OPTION_COUNT] = {
        {"--kafka-bootstrap", "KAFKA_BOOTSTRAP", SS_CONFIG_STRING, RANK_DEFAULT_BOOTSTRAP, 1, 1024,
         "Kafka bootstrap servers, host:port[,host:port]", &config->kafka_bootstrap},
        {"--pg-dsn", "PG_DSN", SS_CONFIG_STRING, RANK_DEFAULT_PG_DSN, 1, 1024,
         "PostgreSQL connection string (the daily batch, rebuilds)", &config->pg_dsn},
        {"--redis-url", "REDIS_URL", SS_CONFIG_STRING, RANK_DEFAULT_REDIS_URL, 1, 1024,
         "Redis URL, redis://[[user]:password@]host[:port][/db]", &config->redis_url},
        {"--group-id", "SS_GROUP_ID", SS_CONFIG_STRING, "ss-rank-worker", 1, 200,
         "consumer group (offsets are kept in Redis, not in the group)", &config->group_id},
        {"--topic", "SS_TOPIC", SS_CONFIG_STRING, SS_TOPIC_EVENTS_ORDER, 1, 200,
         "topic of the OrderPaid events (OrderFailed and others there are passed over)",
         &config->topic},
        {"--schema-dir", "SS_SCHEMA_DIR", SS_CONFIG_STRING, SS_AVRO_SCHEMA_DIR_DEFAULT, 1, 4096,
         "folder of the Avro schemas (*.avsc)", &config->schema_dir},
        {"--client-id", "SS_CLIENT_ID", SS_CONFIG_STRING, "", 0, 200,
         "Kafka client id; empty means <group>-<pid>", &config->client_id},
        {"--log-level", "SS_LOG_LEVEL", SS_CONFIG_STRING, "info", 1, 10,
         "debug, info, warn, error or off", &config->log_level},
        {"--batch-at", "SS_RANK_BATCH_AT", SS_CONFIG_STRING, "00:10", 5, 5,
         "time of day (HH:MM, UTC) of the daily batch of the previous day", &config->batch_at},
        {"--batch-date", NULL, SS_CONFIG_STRING, "", 0, 10,
         "run the daily batch of this day (YYYY-MM-DD) once, then exit", &config->batch_date},
        {"--rebuild-redis", NULL, SS_CONFIG_BOOL, "false", 0, 0,
         "recompute the last 3 days' Redis sorted sets from PostgreSQL, then exit",
         &config->rebuild_redis},
        {"--rebuild-at-start", "SS_RANK_REBUILD_AT_START", SS_CONFIG_BOOL, "true", 0, 0,
         "at start, rebuild the window's days whose sorted set is missing",
         &config->rebuild_at_start},
        {"--catch-up-days", "SS_RANK_CATCH_UP_DAYS", SS_CONFIG_INT, "30", 1,
         SS_RANK_CATCH_UP_DAYS_MAX, "how many days back the batch catches up missed days",
         &config->catch_up_days},
        {"--batch-records-max", "SS_BATCH_RECORDS_MAX", SS_CONFIG_INT, "500", 1,
         SS_RANK_WORKER_BATCH_RECORDS_LIMIT, "records polled and applied together at most",
         &config->batch_records_max},
        {"--batch-wait-ms", "SS_BATCH_WAIT_MS", SS_CONFIG_INT, "5", 0, 1000,
         "how long to keep collecting a batch after its first record", &config->batch_wait_ms},
        SS_CONFIG_FETCH_OPTIONS(&config->fetch_min_bytes, &config->fetch_wait_max_ms),
        {"--retry-backoff-max-ms", "SS_RETRY_BACKOFF_MAX_MS", SS_CONFIG_INT, "2000", 10, 60000,
         "longest pause between attempts after a Redis or PostgreSQL failure",
         &config->retry_backoff_max_ms},
        {"--redis-timeout-ms", "SS_REDIS_TIMEOUT_MS", SS_CONFIG_INT, "5000", 1, 600000,
         "bound on connecting to Redis and on every Redis command", &config->redis_timeout_ms},
    };
    memcpy(options, table, sizeof(table));
    ss_ops_http_options(options + SS_RANK_WORKER_OPTION_COUNT - SS_OPS_HTTP_OPTION_COUNT,
                        &config->metrics_host, &config->metrics_port);
}

ss_err_t ss_rank_worker_new(const ss_rank_worker_config_t *config, ss_rank_worker_t **worker_out,
                            char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_log_level_t level;
    int minute_of_day = 0;

    *worker_out = NULL;
    if (ss_log_level_parse(config->log_level, &level, errstr, errstr_size) != SS_OK) {
        return SS_ERR_INVALID;
    }
    if (ss_rank_time_of_day_parse(config->batch_at, &minute_of_day, errstr, errstr_size) != SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "SS_RANK_BATCH_AT is not a time of day HH:MM between 00:00 and 23:59");
    }
    int64_t batch_day = 0;
    if (config->batch_date[0] != '\0' &&
        ss_clock_parse_day(config->batch_date, &batch_day, errstr, errstr_size) != SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "--batch-date=%s is not a date YYYY-MM-DD", config->batch_date);
    }
    if (config->batch_records_max < 1 ||
        config->batch_records_max > SS_RANK_WORKER_BATCH_RECORDS_LIMIT) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "batch_records_max must be between 1 and %d",
                          SS_RANK_WORKER_BATCH_RECORDS_LIMIT);
    }
    ss_log_level_set(level);
    ss_rank_worker_t *worker = calloc(1, sizeof(*worker));
    if (worker == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the worker");
    }
    worker->config = *config;
    worker->batch_minute_of_day = minute_of_day;
    if (config->client_id == NULL || config->client_id[0] == '\0') {
        snprintf(worker->client_id, sizeof(worker->client_id), "%s-%ld", config->group_id,
                 (long)getpid());
    } else {
        snprintf(worker->client_id, sizeof(worker->client_id), "%s", config->client_id);
    }
    size_t max = (size_t)config->batch_records_max;
    size_t sales_max = max * SS_RANK_WORKER_ORDER_LINES_MAX;
    worker->records = calloc(max, sizeof(*worker->records));
    worker->sales = calloc(sales_max, sizeof(*worker->sales));
    worker->sale_event_ids = calloc(sales_max, sizeof(*worker->sale_event_ids));
    worker->sale_offsets = calloc(sales_max, sizeof(*worker->sale_offsets));
    if (worker->records == NULL || worker->sales == NULL || worker->sale_event_ids == NULL ||
        worker->sale_offsets == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate batch buffers");
        ss_rank_worker_destroy(worker);
        return err;
    }
    *worker_out = worker;
    return SS_OK;
}

void ss_rank_worker_destroy(ss_rank_worker_t *worker)
{
    if (worker == NULL) {
        return;
    }
    ss_kafka_consumer_destroy(worker->consumer);
    ss_avro_registry_destroy(worker->registry);
    ss_redis_destroy(worker->redis);
    ss_pg_destroy(worker->pg);
    ss_loop_destroy(worker->loop);
    free(worker->records);
    free(worker->sales);
    free(worker->sale_event_ids);
    free(worker->sale_offsets);
    free(worker);
}

ss_err_t ss_rank_worker_pg(ss_rank_worker_t *worker, char *errstr, size_t errstr_size)
{
    if (worker->pg == NULL) {
        return ss_pg_connect(worker->config.pg_dsn, worker->client_id, RANK_PG_CONNECT_TIMEOUT_S,
                             &worker->pg, errstr, errstr_size);
    }
    if (ss_pg_is_broken(worker->pg)) {
        return ss_pg_reset(worker->pg, errstr, errstr_size);
    }
    return SS_OK;
}

ss_err_t ss_rank_worker_redis(ss_rank_worker_t *worker, char *errstr, size_t errstr_size)
{
    if (worker->redis != NULL) {
        return SS_OK;
    }
    return ss_redis_connect(worker->config.redis_url, (int)worker->config.redis_timeout_ms,
                            &worker->redis, errstr, errstr_size);
}
