/*
 * ss-stock-worker: consumes ss.cmd.stock (key product id) and applies stock reservations,
 * releases and admin adjustments exactly once, and keeps the Redis stock overlay current.
 * Everything but the handler and the overlay's options is ss_worker_main's.
 */
#include "stock_worker.h"

#include "ss/retention.h"

#define MAIN_DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"

static ss_stock_worker_t stock_worker;
static char *redis_url;
static long long redis_timeout_ms;
static long long reservation_retention_s;

static const ss_config_option_t overlay_options[] = {
    {"--redis-url", "REDIS_URL", SS_CONFIG_STRING, MAIN_DEFAULT_REDIS_URL, 1, 1024,
     "Redis of the stock overlay, redis://[[user]:password@]host[:port][/db]", &redis_url},
    {"--redis-timeout-ms", "SS_STOCK_REDIS_TIMEOUT_MS", SS_CONFIG_INT, "200", 10, 10000,
     "connect and command timeout of the overlay writes (a batch waits for them)",
     &redis_timeout_ms},
    {"--reservation-retention-s", "SS_RESERVATION_RETENTION_S", SS_CONFIG_INT,
     SS_RETENTION_RESERVATION_S_DEFAULT, SS_RETENTION_RESERVATION_S_MIN, SS_RETENTION_S_MAX,
     "a stock reservation is pruned this long after it was decided; a ReserveStock for an order"
     " below the pruned horizon is refused, never applied twice",
     &reservation_retention_s},
};

static ss_err_t stock_start(void *opaque, const ss_worker_config_t *config,
                            ss_worker_handler_t *handler_out, char *errstr, size_t errstr_size)
{
    (void)errstr;
    (void)errstr_size;
    ss_stock_worker_t *worker = opaque;
    ss_stock_batch_init(&worker->batch);
    ss_stock_overlay_config_t overlay_config = {
        .redis_url = redis_url, .pg_dsn = config->pg_dsn, .timeout_ms = (int)redis_timeout_ms};
    ss_stock_overlay_init(&worker->overlay, &overlay_config);
    worker->retention = (ss_stock_retention_t){.retention_s = reservation_retention_s};
    ss_stock_worker_handler(worker, handler_out);
    return SS_OK;
}

static void stock_stop(void *opaque)
{
    ss_stock_worker_t *worker = opaque;
    ss_stock_overlay_free(&worker->overlay);
    ss_stock_retention_free(&worker->retention);
    ss_stock_batch_free(&worker->batch);
}

int main(int argc, char **argv)
{
    const ss_worker_program_t program = {
        .name = "ss-stock-worker",
        .topic = SS_TOPIC_CMD_STOCK,
        .summary = "reserves, releases and adjusts product stock, keyed by product id",
        .extra_options = overlay_options,
        .extra_option_count = sizeof(overlay_options) / sizeof(overlay_options[0]),
        .start = stock_start,
        .stop = stock_stop,
        .opaque = &stock_worker,
    };
    return ss_worker_main(argc, argv, &program);
}
