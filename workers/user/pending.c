/*
 * ss_saga_orders_pending{age}: how many orders wait for the stock workers, by how long they
 * have waited (lt_10s, 10s_60s, ge_60s). Each owned partition is counted on its saga-deadline
 * tick, in the tick's transaction (the partial index orders_pending_deadline_idx holds exactly
 * the PENDING orders); the gauges are the sums over the partitions this process owns.
 */
#include "user_worker.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SQL_PENDING_BY_AGE                                                                         \
    "SELECT count(*) FILTER (WHERE created_at > now() - interval '10 seconds'),"                   \
    " count(*) FILTER (WHERE created_at <= now() - interval '10 seconds'"                          \
    " AND created_at > now() - interval '60 seconds'),"                                            \
    " count(*) FILTER (WHERE created_at <= now() - interval '60 seconds')"                         \
    " FROM orders WHERE status = 'PENDING' AND partition = $1"

void ss_user_pending_init(ss_user_pending_t *pending)
{
    static const char *const age_label[] = {"age"};
    static const char *const ages[SS_USER_PENDING_AGES] = {"lt_10s", "10s_60s", "ge_60s"};
    static const ss_metrics_spec_t spec = {
        .name = "ss_saga_orders_pending",
        .help = "Orders waiting for the stock workers' answers, by how long they have waited",
        .type = SS_METRICS_GAUGE,
        .labels = age_label,
        .label_count = 1};
    memset(pending, 0, sizeof(*pending));
    ss_metrics_family_t *family = ss_metrics_family(ss_metrics_process(), &spec);
    for (size_t age = 0; age < SS_USER_PENDING_AGES; age++) {
        pending->gauges[age] = ss_metrics_series(family, &ages[age]);
    }
}

static void gauges_set(ss_user_pending_t *pending)
{
    for (size_t age = 0; age < SS_USER_PENDING_AGES; age++) {
        int64_t sum = 0;
        for (size_t p = 0; p < SS_USER_PENDING_PARTITIONS_MAX; p++) {
            sum += pending->counts[p][age];
        }
        ss_metrics_set(pending->gauges[age], (double)sum);
    }
}

ss_err_t ss_user_pending_count(ss_user_pending_t *pending, ss_pg_t *pg, int32_t partition,
                               char *errstr, size_t errstr_size)
{
    if (partition < 0 || partition >= SS_USER_PENDING_PARTITIONS_MAX) {
        return SS_OK;
    }
    char partition_text[16];
    snprintf(partition_text, sizeof(partition_text), "%" PRId32, partition);
    const char *params[] = {partition_text};
    PGresult *rows = NULL;
    ss_err_t err = ss_pg_query(pg, NULL, SQL_PENDING_BY_AGE, 1, params, &rows, errstr, errstr_size);
    int64_t counts[SS_USER_PENDING_AGES] = {0};
    for (int age = 0; err == SS_OK && age < SS_USER_PENDING_AGES; age++) {
        err = ss_pg_get_int64(rows, 0, age, &counts[age], errstr, errstr_size);
    }
    PQclear(rows);
    if (err == SS_OK) {
        memcpy(pending->counts[partition], counts, sizeof(counts));
        gauges_set(pending);
    }
    return err;
}

void ss_user_pending_forget(ss_user_pending_t *pending, int32_t partition)
{
    if (partition >= 0 && partition < SS_USER_PENDING_PARTITIONS_MAX) {
        memset(pending->counts[partition], 0, sizeof(pending->counts[partition]));
        gauges_set(pending);
    }
}
