/*
 * GET /api/v1/products/popular: the SS_RANK_POPULAR_MAX products with the most units in PAID
 * orders over the SS_RANK_WINDOW_DAYS UTC days that end today, most sold first, ties by
 * smaller product id, with name, price and saleCount.
 *
 * Answered from Redis: the rank worker's per-day sorted sets (ss/rank.h), read from the top
 * down only as deep as the threshold algorithm needs (popular_top_read: reading whole days costs
 * Redis tens of milliseconds at 50,000 products a day), names and prices from one PostgreSQL
 * query, and the finished answer
 * cached under ss:popular:<today> (docs/reports/caching.md). An answer is fresh for
 * SS_CACHE_POPULAR_TTL_MS; then one request per process computes the next one while the others
 * keep answering with the previous one, so an answer is at most SS_CACHE_POPULAR_TTL_MS plus
 * one computation old and an expiry never sends every request to the computation at once.
 *
 * Never empty by mistake: a day whose sorted set is missing while PostgreSQL holds PAID orders
 * of that day (Redis lost its data) is rebuilt from PostgreSQL (ss_rank_rebuild_day) before
 * the answer is computed. When Redis cannot be used at all, the same answer is aggregated from
 * PostgreSQL and kept in this process for SS_CACHE_POPULAR_TTL_MS, so an outage does not turn
 * every request into an aggregation.
 */
#include "ingress.h"
#include "read_cache.h"

#include "ss/cache.h"
#include "ss/clock.h"
#include "ss/log.h"
#include "ss/rank.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_POPULAR_PRODUCTS "SELECT id, name, price FROM products WHERE id = ANY($1::bigint[])"
#define SQL_POPULAR_DAY_PAID                                                                       \
    "SELECT EXISTS (SELECT 1 FROM orders WHERE status = 'PAID'"                                    \
    " AND paid_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                                     \
    " AND paid_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC')"
/* $1 the window's first day, $2 today, $3 how many. The same ranking, straight from the rows. */
#define SQL_POPULAR_AGGREGATE                                                                      \
    "SELECT p.id, p.name, p.price, t.sold FROM ("                                                  \
    " SELECT oi.product_id, sum(oi.quantity)::bigint AS sold"                                      \
    " FROM orders o JOIN order_items oi ON oi.order_id = o.id"                                     \
    " WHERE o.status = 'PAID'"                                                                     \
    " AND o.paid_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                                   \
    " AND o.paid_at < ($2::date + 1)::timestamp AT TIME ZONE 'UTC'"                                \
    " GROUP BY oi.product_id ORDER BY sold DESC, oi.product_id LIMIT $3) t"                        \
    " JOIN products p ON p.id = t.product_id ORDER BY t.sold DESC, t.product_id"

/*
 * One request of this process computes a new answer at a time (it may have to rebuild a lost
 * day, which takes seconds at volume); the others meanwhile answer with the previous answer, or
 * from PostgreSQL when there is none. Process-wide statics: there is one ingress per process,
 * and it lives as long as the process.
 */
static pthread_mutex_t popular_compute_mutex = PTHREAD_MUTEX_INITIALIZER;
/* The same for the aggregation by PostgreSQL while Redis cannot answer. */
static pthread_mutex_t popular_aggregate_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t popular_local_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The last answer aggregated by PostgreSQL, under popular_local_mutex (held only to copy). */
static struct {
    int64_t day;
    int64_t computed_ms; /* monotonic */
    char *data;          /* the data object as JSON text, malloc'd */
} popular_local;

static ss_err_t day_text(int64_t day, char *out, size_t out_size, char *errstr, size_t errstr_size)
{
    return ss_clock_format_day(ss_clock_day_start_ms(day), out, out_size, errstr, errstr_size);
}

static json_t *product_json(int64_t id, const char *name, int64_t price, int64_t sold)
{
    return json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "name", name, "price",
                     (json_int_t)price, "saleCount", (json_int_t)sold);
}

/* {"products": [...]} for the ranking top[0..count), with names and prices from PostgreSQL. */
static ss_err_t ranking_json(ss_ingress_t *ingress, const ss_rank_score_t *top, size_t count,
                             json_t **data_out, char *errstr, size_t errstr_size)
{
    json_t *products = json_array();
    PGresult *rows = NULL;
    ss_pg_array_t ids;
    ss_pg_array_init(&ids);
    ss_err_t err =
        products != NULL ? SS_OK : ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "no memory");
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        err = ss_pg_array_append_int64(&ids, top[i].product_id, errstr, errstr_size);
    }
    if (err == SS_OK && count > 0) {
        const char *params[] = {ss_pg_array_text(&ids)};
        err =
            ss_ingress_query(ingress, SQL_POPULAR_PRODUCTS, 1, params, &rows, errstr, errstr_size);
    }
    int row_count = err == SS_OK && rows != NULL ? PQntuples(rows) : 0;
    /* In ranking order; a product PostgreSQL does not know (never deleted, so never) is left out.
     */
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        for (int row = 0; row < row_count && err == SS_OK; row++) {
            int64_t id = 0, price = 0;
            const char *name = NULL;
            err = ss_pg_get_int64(rows, row, 0, &id, errstr, errstr_size);
            if (err != SS_OK || id != top[i].product_id) {
                continue;
            }
            err = ss_pg_get_text(rows, row, 1, &name, errstr, errstr_size);
            if (err == SS_OK) {
                err = ss_pg_get_int64(rows, row, 2, &price, errstr, errstr_size);
            }
            if (err == SS_OK &&
                json_array_append_new(products, product_json(id, name, price, top[i].score)) != 0) {
                err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "no memory");
            }
        }
    }
    PQclear(rows);
    ss_pg_array_free(&ids);
    if (err != SS_OK) {
        json_decref(products);
        return err;
    }
    *data_out = json_pack("{s:o}", "products", products);
    return *data_out != NULL ? SS_OK : ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "no memory");
}

/* Whether PostgreSQL holds a PAID order of day. */
static ss_err_t day_has_sales(ss_pg_t *pg, int64_t day, bool *out, char *errstr, size_t errstr_size)
{
    char date[SS_CLOCK_DAY_SIZE];
    ss_err_t err = day_text(day, date, sizeof(date), errstr, errstr_size);
    PGresult *rows = NULL;
    const char *params[] = {date};
    if (err == SS_OK) {
        err = ss_pg_query(pg, NULL, SQL_POPULAR_DAY_PAID, 1, params, &rows, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_bool(rows, 0, 0, out, errstr, errstr_size);
    }
    PQclear(rows);
    return err;
}

/*
 * Makes sure no day of the window is missing by mistake: a day without its sorted set but with
 * PAID orders in PostgreSQL is rebuilt from PostgreSQL. *rebuilt_out counts the days rebuilt.
 */
static ss_err_t days_ensure(ss_ingress_t *ingress, ss_redis_t *redis, int64_t today, int64_t now_ms,
                            int *rebuilt_out, char *errstr, size_t errstr_size)
{
    int64_t first = ss_rank_window_first_day(today);
    char keys[SS_RANK_WINDOW_DAYS][SS_RANK_KEY_SIZE];
    redisReply *replies[SS_RANK_WINDOW_DAYS] = {NULL};
    ss_err_t err = SS_OK;
    for (int i = 0; i < SS_RANK_WINDOW_DAYS && err == SS_OK; i++) {
        err = ss_rank_sell_key(first + i, keys[i], sizeof(keys[i]), errstr, errstr_size);
    }
    for (int i = 0; i < SS_RANK_WINDOW_DAYS && err == SS_OK; i++) {
        const char *argv[] = {"EXISTS", keys[i]};
        /* An append failure is remembered and reported by collect. */
        (void)ss_redis_pipeline_append_argv(redis, 2, argv, NULL, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_redis_pipeline_collect(redis, replies, SS_RANK_WINDOW_DAYS, errstr, errstr_size);
    }
    ss_pg_t *pg = NULL;
    for (int i = 0; i < SS_RANK_WINDOW_DAYS && err == SS_OK; i++) {
        if (replies[i]->type != REDIS_REPLY_INTEGER || replies[i]->integer != 0) {
            continue;
        }
        bool has_sales = false;
        if (pg == NULL) {
            err = ss_ingress_pg_acquire(ingress, &pg, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = day_has_sales(pg, first + i, &has_sales, errstr, errstr_size);
        }
        if (err == SS_OK && has_sales) {
            err = ss_rank_rebuild_day(pg, redis, first + i, now_ms, NULL, errstr, errstr_size);
            (*rebuilt_out)++;
        }
    }
    ss_ingress_pg_release(ingress, pg);
    for (int i = 0; i < SS_RANK_WINDOW_DAYS; i++) {
        if (replies[i] != NULL) {
            freeReplyObject(replies[i]);
        }
    }
    return err;
}

/* ---- the top of the window, read from the top of each day ---------------------------------- */

/* Each day is read POPULAR_DEPTH_FIRST deep, then 4 times deeper, up to POPULAR_DEPTH_MAX. */
#define POPULAR_DEPTH_FIRST 64
#define POPULAR_DEPTH_GROWTH 4
/* ZMSCORE takes every candidate of every day as arguments: 3 x 1024 stays within a command. */
#define POPULAR_DEPTH_MAX 1024
#define POPULAR_CANDIDATES_MAX (SS_RANK_WINDOW_DAYS * POPULAR_DEPTH_MAX)
/* Rounds: 64, 256 and 1024 deep. */
#define POPULAR_ROUNDS_MAX 3

typedef struct popular_round {
    char keys[SS_RANK_WINDOW_DAYS][SS_RANK_KEY_SIZE];
    int64_t ids[POPULAR_CANDIDATES_MAX]; /* candidates, sorted and unique after the read */
    char id_text[POPULAR_CANDIDATES_MAX][24];
    const char *argv[POPULAR_CANDIDATES_MAX + 2];
    ss_rank_score_t totals[POPULAR_CANDIDATES_MAX];
    size_t count;
} popular_round_t;

static bool popular_parse_count(const redisReply *reply, int64_t *out)
{
    if (reply->type != REDIS_REPLY_STRING) {
        return false;
    }
    char *end = NULL;
    double value = strtod(reply->str, &end);
    if (end != reply->str + reply->len || !(value >= 0.0) || value > 9007199254740992.0) {
        return false;
    }
    *out = (int64_t)value;
    return (double)*out == value;
}

static int popular_id_compare(const void *left, const void *right)
{
    int64_t a = *(const int64_t *)left, b = *(const int64_t *)right;
    return (a > b) - (a < b);
}

/*
 * Reads the first depth members of each day into round->ids (sorted, unique) and sums what an
 * unseen product can have at most: the depth-th score of each day that has more, else 0.
 */
static ss_err_t popular_read_tops(ss_redis_t *redis, popular_round_t *round, size_t depth,
                                  int64_t *threshold_out, bool *exhausted_out, char *errstr,
                                  size_t errstr_size)
{
    redisReply *replies[SS_RANK_WINDOW_DAYS] = {NULL};
    char stop[24];
    snprintf(stop, sizeof(stop), "%zu", depth - 1);
    for (int d = 0; d < SS_RANK_WINDOW_DAYS; d++) {
        const char *argv[] = {"ZREVRANGE", round->keys[d], "0", stop, "WITHSCORES"};
        /* An append failure is remembered and reported by collect. */
        (void)ss_redis_pipeline_append_argv(redis, 5, argv, NULL, errstr, errstr_size);
    }
    ss_err_t err =
        ss_redis_pipeline_collect(redis, replies, SS_RANK_WINDOW_DAYS, errstr, errstr_size);
    int64_t threshold = 0;
    bool exhausted = true;
    round->count = 0;
    for (int d = 0; d < SS_RANK_WINDOW_DAYS && err == SS_OK; d++) {
        const redisReply *reply = replies[d];
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0 ||
            reply->elements / 2 > depth) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s answered an unexpected reply",
                             round->keys[d]);
            break;
        }
        int64_t last = 0;
        for (size_t i = 0; i < reply->elements && err == SS_OK; i += 2) {
            int64_t id = 0;
            if (!popular_parse_count(reply->element[i], &id) || id <= 0 ||
                !popular_parse_count(reply->element[i + 1], &last)) {
                err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                 "%s holds a member or score that is not a count", round->keys[d]);
            } else {
                round->ids[round->count++] = id;
            }
        }
        if (reply->elements / 2 == depth) {
            threshold += last;
            exhausted = false;
        }
    }
    for (int d = 0; d < SS_RANK_WINDOW_DAYS; d++) {
        if (replies[d] != NULL) {
            freeReplyObject(replies[d]);
        }
    }
    if (err == SS_OK && round->count > 0) {
        qsort(round->ids, round->count, sizeof(round->ids[0]), popular_id_compare);
        size_t kept = 1;
        for (size_t i = 1; i < round->count; i++) {
            if (round->ids[i] != round->ids[kept - 1]) {
                round->ids[kept++] = round->ids[i];
            }
        }
        round->count = kept;
    }
    *threshold_out = threshold;
    *exhausted_out = exhausted;
    return err;
}

/* The window total of every candidate: one ZMSCORE per day, pipelined. */
static ss_err_t popular_read_totals(ss_redis_t *redis, popular_round_t *round, char *errstr,
                                    size_t errstr_size)
{
    if (round->count == 0) {
        return SS_OK;
    }
    for (size_t i = 0; i < round->count; i++) {
        snprintf(round->id_text[i], sizeof(round->id_text[i]), "%" PRId64, round->ids[i]);
        round->argv[i + 2] = round->id_text[i];
        round->totals[i] = (ss_rank_score_t){.product_id = round->ids[i], .score = 0};
    }
    round->argv[0] = "ZMSCORE";
    for (int d = 0; d < SS_RANK_WINDOW_DAYS; d++) {
        round->argv[1] = round->keys[d];
        (void)ss_redis_pipeline_append_argv(redis, (int)round->count + 2, round->argv, NULL, errstr,
                                            errstr_size);
    }
    redisReply *replies[SS_RANK_WINDOW_DAYS] = {NULL};
    ss_err_t err =
        ss_redis_pipeline_collect(redis, replies, SS_RANK_WINDOW_DAYS, errstr, errstr_size);
    for (int d = 0; d < SS_RANK_WINDOW_DAYS && err == SS_OK; d++) {
        if (replies[d]->type != REDIS_REPLY_ARRAY || replies[d]->elements != round->count) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "ZMSCORE %s answered an unexpected reply", round->keys[d]);
            break;
        }
        for (size_t i = 0; i < round->count && err == SS_OK; i++) {
            const redisReply *score = replies[d]->element[i];
            int64_t value = 0;
            if (score->type == REDIS_REPLY_NIL) {
                continue;
            }
            if (!popular_parse_count(score, &value)) {
                err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                 "%s holds a score that is not a count", round->keys[d]);
            } else if (round->totals[i].score <= INT64_MAX - value) {
                round->totals[i].score += value;
            }
        }
    }
    for (int d = 0; d < SS_RANK_WINDOW_DAYS; d++) {
        if (replies[d] != NULL) {
            freeReplyObject(replies[d]);
        }
    }
    return err;
}

/*
 * The threshold algorithm over the window's days: read each day from its top, total the
 * candidates over every day, and stop once the last of the top_max totals is above what any
 * product not read yet can reach (ties included: an unseen product with an equal total might
 * have the smaller id). Deeper and deeper; past POPULAR_DEPTH_MAX it reads whole days
 * (ss_rank_popular_read), which a very flat ranking may need. Same answer as that function.
 */
static ss_err_t popular_top_read(ss_redis_t *redis, int64_t today, ss_rank_score_t *top,
                                 size_t top_max, size_t *count_out, char *errstr,
                                 size_t errstr_size)
{
    popular_round_t *round = calloc(1, sizeof(*round));
    if (round == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not read the ranking");
    }
    int64_t first = ss_rank_window_first_day(today);
    ss_err_t err = SS_OK;
    for (int d = 0; d < SS_RANK_WINDOW_DAYS && err == SS_OK; d++) {
        err = ss_rank_sell_key(first + d, round->keys[d], sizeof(round->keys[d]), errstr,
                               errstr_size);
    }
    bool done = false;
    size_t depth = POPULAR_DEPTH_FIRST;
    for (int r = 0; r < POPULAR_ROUNDS_MAX && err == SS_OK && !done; r++) {
        int64_t threshold = 0;
        bool exhausted = false;
        err = popular_read_tops(redis, round, depth, &threshold, &exhausted, errstr, errstr_size);
        if (err == SS_OK) {
            err = popular_read_totals(redis, round, errstr, errstr_size);
        }
        if (err == SS_OK) {
            *count_out = ss_rank_top(round->totals, round->count, top, top_max);
            done = exhausted || (*count_out == top_max && top[top_max - 1].score > threshold);
        }
        depth *= POPULAR_DEPTH_GROWTH;
    }
    free(round);
    if (err == SS_OK && !done) {
        err = ss_rank_popular_read(redis, today, top, top_max, count_out, errstr, errstr_size);
    }
    return err;
}

/* The answer from Redis: *data_out on SS_OK; any failure means "ask PostgreSQL instead". */
static ss_err_t popular_from_redis(ss_ingress_t *ingress, ss_redis_t *redis, int64_t today,
                                   int64_t now_ms, json_t **data_out, char *errstr,
                                   size_t errstr_size)
{
    int rebuilt = 0;
    ss_err_t err = days_ensure(ingress, redis, today, now_ms, &rebuilt, errstr, errstr_size);
    ss_rank_score_t top[SS_RANK_POPULAR_MAX];
    size_t count = 0;
    if (err == SS_OK) {
        err = popular_top_read(redis, today, top, SS_RANK_POPULAR_MAX, &count, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ranking_json(ingress, top, count, data_out, errstr, errstr_size);
    }
    if (rebuilt > 0) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "popular: rebuilt days=%d from postgresql ok=%d", rebuilt,
                    err == SS_OK);
    }
    return err;
}

/* The answer aggregated by PostgreSQL alone. */
static ss_err_t popular_from_postgres(ss_ingress_t *ingress, int64_t today, json_t **data_out,
                                      char *errstr, size_t errstr_size)
{
    char first[SS_CLOCK_DAY_SIZE], last[SS_CLOCK_DAY_SIZE], limit[16];
    ss_err_t err =
        day_text(ss_rank_window_first_day(today), first, sizeof(first), errstr, errstr_size);
    if (err == SS_OK) {
        err = day_text(today, last, sizeof(last), errstr, errstr_size);
    }
    snprintf(limit, sizeof(limit), "%d", SS_RANK_POPULAR_MAX);
    const char *params[] = {first, last, limit};
    PGresult *rows = NULL;
    if (err == SS_OK) {
        err =
            ss_ingress_query(ingress, SQL_POPULAR_AGGREGATE, 3, params, &rows, errstr, errstr_size);
    }
    json_t *products = err == SS_OK ? json_array() : NULL;
    int row_count = products != NULL ? PQntuples(rows) : 0;
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        int64_t id = 0, price = 0, sold = 0;
        const char *name = NULL;
        err = ss_pg_get_int64(rows, row, 0, &id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_text(rows, row, 1, &name, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &price, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 3, &sold, errstr, errstr_size);
        }
        if (err == SS_OK &&
            json_array_append_new(products, product_json(id, name, price, sold)) != 0) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "no memory");
        }
    }
    PQclear(rows);
    if (err == SS_OK && products == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "no memory");
    }
    if (err != SS_OK) {
        json_decref(products);
        return err;
    }
    *data_out = json_pack("{s:o}", "products", products);
    return *data_out != NULL ? SS_OK : ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "no memory");
}

/* A cached answer: the data object and when it was computed (wall clock, ms). */
typedef struct cached_answer {
    json_t *data; /* NULL: none */
    int64_t computed_ms;
} cached_answer_t;

/*
 * GET key. The value is "<computed ms>\n<data JSON>"; a missing or malformed value leaves
 * *answer empty. *redis_err is the command's outcome.
 */
static void cached_read(ss_redis_t *redis, const char *key, cached_answer_t *answer,
                        ss_err_t *redis_err)
{
    const char *argv[] = {"GET", key};
    redisReply *reply = NULL;
    char errstr[256];
    *answer = (cached_answer_t){0};
    *redis_err = ss_redis_command_argv(redis, 2, argv, NULL, &reply, errstr, sizeof(errstr));
    if (*redis_err == SS_OK && reply->type == REDIS_REPLY_STRING) {
        const char *newline = memchr(reply->str, '\n', reply->len);
        char *end = NULL;
        long long computed_ms = strtoll(reply->str, &end, 10);
        if (newline != NULL && end == newline && computed_ms > 0) {
            json_t *data =
                json_loadb(newline + 1, reply->len - (size_t)(newline + 1 - reply->str), 0, NULL);
            if (json_is_object(data)) {
                *answer = (cached_answer_t){.data = data, .computed_ms = computed_ms};
            } else {
                json_decref(data);
            }
        }
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
}

/* SET key "<computed ms>\n<data>" for SS_CACHE_POPULAR_KEEP_MS. */
static ss_err_t cached_write(ss_redis_t *redis, const char *key, const json_t *data,
                             int64_t computed_ms)
{
    char *json_text = json_dumps(data, JSON_COMPACT);
    if (json_text == NULL) {
        return SS_ERR_NOMEM;
    }
    size_t value_size = strlen(json_text) + 32;
    char *value = malloc(value_size);
    if (value == NULL) {
        free(json_text);
        return SS_ERR_NOMEM;
    }
    snprintf(value, value_size, "%" PRId64 "\n%s", computed_ms, json_text);
    char keep[16], errstr[256];
    snprintf(keep, sizeof(keep), "%d", SS_CACHE_POPULAR_KEEP_MS);
    const char *argv[] = {"SET", key, value, "PX", keep};
    ss_err_t err = ss_redis_command_argv(redis, 5, argv, NULL, NULL, errstr, sizeof(errstr));
    free(value);
    free(json_text);
    return err;
}

static bool cached_fresh(const cached_answer_t *answer, int64_t now_ms)
{
    return answer->data != NULL && now_ms - answer->computed_ms < SS_CACHE_POPULAR_TTL_MS &&
           now_ms >= answer->computed_ms - SS_CACHE_POPULAR_TTL_MS;
}

/*
 * The Redis way, holding popular_compute_mutex: read the answer again (another thread may just
 * have computed it), else compute and cache it. NULL when Redis cannot answer.
 */
static json_t *popular_compute(ss_ingress_t *ingress, ss_redis_t *redis, int64_t today,
                               const char *key)
{
    int64_t now_ms = ss_clock_now_ms();
    cached_answer_t again;
    ss_err_t redis_err = SS_OK;
    cached_read(redis, key, &again, &redis_err);
    if (redis_err != SS_OK || cached_fresh(&again, now_ms)) {
        return again.data;
    }
    json_decref(again.data);
    json_t *data = NULL;
    char errstr[256];
    if (popular_from_redis(ingress, redis, today, now_ms, &data, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT,
                    "popular from redis failed, asking postgresql error=\"%s\"", errstr);
        return NULL;
    }
    /* Fresh from when the sets were read, not from before a rebuild that may take seconds. */
    (void)cached_write(redis, key, data, ss_clock_now_ms());
    return data;
}

/* The process-local copy of today's answer, and whether it is fresh; NULL when there is none. */
static json_t *popular_local_read(int64_t today, bool *fresh)
{
    pthread_mutex_lock(&popular_local_mutex);
    json_t *data = NULL;
    if (popular_local.data != NULL && popular_local.day == today) {
        data = json_loads(popular_local.data, 0, NULL);
        *fresh = ss_clock_monotonic_ms() - popular_local.computed_ms < SS_CACHE_POPULAR_TTL_MS;
    }
    pthread_mutex_unlock(&popular_local_mutex);
    return data;
}

/* Aggregates the answer by PostgreSQL and keeps a copy; NULL when PostgreSQL failed. */
static json_t *popular_aggregate(ss_ingress_t *ingress, int64_t today)
{
    json_t *data = NULL;
    char errstr[256];
    if (popular_from_postgres(ingress, today, &data, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "popular from postgresql failed error=\"%s\"", errstr);
        return NULL;
    }
    char *text = json_dumps(data, JSON_COMPACT);
    if (text != NULL) {
        pthread_mutex_lock(&popular_local_mutex);
        free(popular_local.data);
        popular_local.data = text;
        popular_local.day = today;
        popular_local.computed_ms = ss_clock_monotonic_ms();
        pthread_mutex_unlock(&popular_local_mutex);
    }
    return data;
}

/*
 * The PostgreSQL way, through the process-local copy, with the same rule as Redis's copy: one
 * aggregation at a time (about 250 ms at volume), the others answer with the previous copy.
 */
static json_t *popular_postgres(ss_ingress_t *ingress, int64_t today)
{
    bool fresh = false;
    json_t *previous = popular_local_read(today, &fresh);
    if (previous != NULL && fresh) {
        return previous;
    }
    if (previous != NULL && pthread_mutex_trylock(&popular_aggregate_mutex) != 0) {
        return previous;
    }
    if (previous == NULL) {
        /* Nothing to answer with meanwhile: wait for the aggregation in progress, if any. */
        pthread_mutex_lock(&popular_aggregate_mutex);
    }
    json_t *data = popular_local_read(today, &fresh);
    if (data == NULL || !fresh) {
        json_decref(data);
        data = popular_aggregate(ingress, today);
    }
    pthread_mutex_unlock(&popular_aggregate_mutex);
    if (data == NULL) {
        return previous; /* PostgreSQL failed: the previous copy is better than nothing */
    }
    json_decref(previous);
    return data;
}

/*
 * Redis first: a fresh cached answer; else, when no other thread is computing, compute one;
 * else the previous (stale) answer. NULL when Redis cannot answer now.
 */
static json_t *popular_from_cache(ss_ingress_t *ingress, ss_redis_t *redis, int64_t today,
                                  const char *key)
{
    cached_answer_t cached;
    ss_err_t redis_err = SS_OK;
    cached_read(redis, key, &cached, &redis_err);
    if (redis_err != SS_OK || cached_fresh(&cached, ss_clock_now_ms())) {
        return cached.data;
    }
    if (pthread_mutex_trylock(&popular_compute_mutex) == 0) {
        json_t *data = popular_compute(ingress, redis, today, key);
        pthread_mutex_unlock(&popular_compute_mutex);
        if (data != NULL) {
            json_decref(cached.data);
            return data;
        }
        json_decref(cached.data);
        return NULL;
    }
    /* Someone else is computing (perhaps rebuilding a lost day): the previous answer, if any. */
    return cached.data;
}

static void products_popular(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    int64_t today = ss_clock_day_from_ms(ss_clock_now_ms());
    char key[SS_CACHE_KEY_SIZE];
    char errstr[256];
    if (ss_cache_popular_key(today, key, sizeof(key), errstr, sizeof(errstr)) != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
        return;
    }
    json_t *data = NULL;
    ss_redis_t *redis = ss_ingress_cache_acquire(ingress);
    if (redis != NULL) {
        data = popular_from_cache(ingress, redis, today, key);
    }
    ss_ingress_cache_release(ingress, redis);
    if (data == NULL) {
        data = popular_postgres(ingress, today);
    }
    if (data == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
        return;
    }
    ss_ingress_respond_ok(req, data);
}

const ss_http_route_t ss_ingress_popular_routes[] = {
    {SS_HTTP_METHOD_GET, "/api/v1/products/popular", products_popular},
};
const size_t ss_ingress_popular_routes_count =
    sizeof(ss_ingress_popular_routes) / sizeof(ss_ingress_popular_routes[0]);
