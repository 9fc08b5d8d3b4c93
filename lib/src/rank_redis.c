/*
 * The Redis half of the ranking (ss/rank.h): one Lua script applies a batch of sales and moves
 * the partition's consumed offset atomically, counting an event id at most once per day (its
 * seen set) and only while the stored offset is still the one the batch started from (a
 * compare-and-set that fences a worker which lost its partition, with the effect of WATCH on the
 * offset key but in one round trip). The same script, without an offset, replays PostgreSQL's
 * paid order lines when a day is rebuilt. Reading the popular products is a pipeline of ZRANGEs
 * merged with ss_rank_top().
 */
#include "ss/rank.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decimal text of an int64 with sign and NUL. */
#define RANK_NUMBER_SIZE 24
/* EVAL, script, numkeys, KEYS (two per day and the offset), ARGV (three, a day's expiry each,
 * four per sale). */
#define RANK_APPLY_ARGS_MAX                                                                        \
    (3 + 2 * SS_RANK_APPLY_DAYS_MAX + 1 + 3 + SS_RANK_APPLY_DAYS_MAX + 4 * SS_RANK_APPLY_SALES_MAX)
/* Numbers written per call: numkeys, the day count, both offsets, a day's expiry each, three
 * per sale (day index, product id, quantity). */
#define RANK_APPLY_NUMBERS_MAX (4 + SS_RANK_APPLY_DAYS_MAX + 3 * SS_RANK_APPLY_SALES_MAX)

/*
 * KEYS: sell_1, seen_1, ..., sell_d, seen_d, then the offset key when ARGV[2] is not "".
 * ARGV[1] = d; ARGV[2] = "" (no offset), "-" (the offset must be absent) or the expected offset;
 * ARGV[3] = the next offset; ARGV[4..3+d] = each day's EXPIREAT seconds; then four per sale:
 * the day's index 1..d, the event id, the product id, the quantity.
 * Every key's type is checked before the first write, so a script that fails has written
 * nothing (Redis does not roll back a script that stops half way). The shebang makes Redis
 * refuse the script up front when it is out of memory, rather than at its first write.
 * Returns {1, counted} when applied, {0} when fenced.
 */
static const char rank_apply_script[] =
    "#!lua\n"
    "local days = tonumber(ARGV[1])\n"
    "local function check(key, wanted)\n"
    "  local t = redis.call('TYPE', key)['ok']\n"
    "  if t ~= 'none' and t ~= wanted then\n"
    "    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t)\n"
    "  end\n"
    "end\n"
    "for i = 1, days do\n"
    "  local e = check(KEYS[2 * i - 1], 'zset') or check(KEYS[2 * i], 'set')\n"
    "  if e then return e end\n"
    "end\n"
    "local offset_key = nil\n"
    "if ARGV[2] ~= '' then\n"
    "  offset_key = KEYS[2 * days + 1]\n"
    "  local e = check(offset_key, 'string')\n"
    "  if e then return e end\n"
    "  local current = redis.call('GET', offset_key)\n"
    "  if ARGV[2] == '-' then\n"
    "    if current then return {0} end\n"
    "  elseif (not current) or tonumber(current) ~= tonumber(ARGV[2]) then\n"
    "    return {0}\n"
    "  end\n"
    "end\n"
    "local counted = 0\n"
    "for j = 4 + days, #ARGV, 4 do\n"
    "  local d = tonumber(ARGV[j])\n"
    "  if redis.call('SADD', KEYS[2 * d], ARGV[j + 1]) == 1 then\n"
    "    redis.call('ZINCRBY', KEYS[2 * d - 1], ARGV[j + 3], ARGV[j + 2])\n"
    "    counted = counted + 1\n"
    "  end\n"
    "end\n"
    "for i = 1, days do\n"
    "  redis.call('EXPIREAT', KEYS[2 * i - 1], ARGV[3 + i])\n"
    "  redis.call('EXPIREAT', KEYS[2 * i], ARGV[3 + i])\n"
    "end\n"
    "if offset_key then redis.call('SET', offset_key, ARGV[3]) end\n"
    "return {1, counted}\n";

/* The arguments of one EVAL, built per call on the heap (about 55 KiB). */
typedef struct rank_apply_args {
    const char *argv[RANK_APPLY_ARGS_MAX];
    int argc;
    char keys[2 * SS_RANK_APPLY_DAYS_MAX + 1][SS_RANK_KEY_SIZE];
    char numbers[RANK_APPLY_NUMBERS_MAX][RANK_NUMBER_SIZE];
    size_t number_count;
    int64_t days[SS_RANK_APPLY_DAYS_MAX];
    size_t day_count;
} rank_apply_args_t;

static const char *rank_number(rank_apply_args_t *args, int64_t value)
{
    SS_ASSERT(args->number_count < RANK_APPLY_NUMBERS_MAX);
    char *text = args->numbers[args->number_count++];
    snprintf(text, RANK_NUMBER_SIZE, "%" PRId64, value);
    return text;
}

static void rank_push(rank_apply_args_t *args, const char *value)
{
    SS_ASSERT(args->argc < RANK_APPLY_ARGS_MAX);
    args->argv[args->argc++] = value;
}

/* The 1-based index of day among args->days, adding it; 0 when there is no room. */
static size_t rank_day_index(rank_apply_args_t *args, int64_t day)
{
    for (size_t i = 0; i < args->day_count; i++) {
        if (args->days[i] == day) {
            return i + 1;
        }
    }
    if (args->day_count == SS_RANK_APPLY_DAYS_MAX) {
        return 0;
    }
    args->days[args->day_count++] = day;
    return args->day_count;
}

static ss_err_t rank_sale_check(const ss_rank_sale_t *sale, char *errstr, size_t errstr_size)
{
    size_t length = sale->event_id == NULL ? 0 : strlen(sale->event_id);
    if (length < 1 || length > SS_RANK_EVENT_ID_MAX || sale->product_id <= 0 ||
        sale->quantity < 1 || sale->quantity > SS_RANK_QUANTITY_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not apply sales: invalid sale (event id of %zu bytes, product "
                          "%" PRId64 ", quantity %" PRId64 ")",
                          length, sale->product_id, sale->quantity);
    }
    return SS_OK;
}

/* Fills args for the sales that count at now_ms; *live_out is how many that is. */
static ss_err_t rank_args_build(rank_apply_args_t *args, const ss_rank_sale_t *sales, size_t count,
                                const ss_rank_offset_move_t *move, int64_t now_ms, size_t *live_out,
                                char *errstr, size_t errstr_size)
{
    /* First pass: the days, so KEYS can precede ARGV. */
    size_t live = 0;
    for (size_t i = 0; i < count; i++) {
        ss_err_t err = rank_sale_check(&sales[i], errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        if (ss_rank_day_expired(sales[i].day, now_ms)) {
            continue;
        }
        if (rank_day_index(args, sales[i].day) == 0) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "could not apply sales: more than %d days in one call",
                              SS_RANK_APPLY_DAYS_MAX);
        }
        live++;
    }
    rank_push(args, "EVAL");
    rank_push(args, rank_apply_script);
    rank_push(args, rank_number(args, (int64_t)(2 * args->day_count + (move != NULL ? 1 : 0))));
    for (size_t i = 0; i < args->day_count; i++) {
        ss_err_t err = ss_rank_sell_key(args->days[i], args->keys[2 * i], SS_RANK_KEY_SIZE, errstr,
                                        errstr_size);
        if (err == SS_OK) {
            err = ss_rank_seen_key(args->days[i], args->keys[2 * i + 1], SS_RANK_KEY_SIZE, errstr,
                                   errstr_size);
        }
        if (err != SS_OK) {
            return err;
        }
        rank_push(args, args->keys[2 * i]);
        rank_push(args, args->keys[2 * i + 1]);
    }
    if (move != NULL) {
        char *offset_key = args->keys[2 * args->day_count];
        ss_err_t err =
            ss_rank_offset_key(move->partition, offset_key, SS_RANK_KEY_SIZE, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        rank_push(args, offset_key);
    }
    rank_push(args, rank_number(args, (int64_t)args->day_count));
    if (move == NULL) {
        rank_push(args, "");
        rank_push(args, "");
    } else {
        rank_push(args,
                  move->expected == SS_RANK_OFFSET_NONE ? "-" : rank_number(args, move->expected));
        rank_push(args, rank_number(args, move->next));
    }
    for (size_t i = 0; i < args->day_count; i++) {
        rank_push(args, rank_number(args, ss_rank_expire_at_s(args->days[i])));
    }
    for (size_t i = 0; i < count; i++) {
        if (ss_rank_day_expired(sales[i].day, now_ms)) {
            continue;
        }
        rank_push(args, rank_number(args, (int64_t)rank_day_index(args, sales[i].day)));
        rank_push(args, sales[i].event_id);
        rank_push(args, rank_number(args, sales[i].product_id));
        rank_push(args, rank_number(args, sales[i].quantity));
    }
    *live_out = live;
    return SS_OK;
}

/* Reads the script's answer: {1, counted} or {0}. */
static ss_err_t rank_apply_reply(const redisReply *reply, size_t *counted_out, char *errstr,
                                 size_t errstr_size)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "rank script answered with an unexpected reply of type %d", reply->type);
    }
    if (reply->element[0]->integer == 0) {
        return ss_err_set(SS_ERR_CONFLICT, errstr, errstr_size,
                          "sales not applied: the stored offset moved on (fenced)");
    }
    if (reply->elements != 2 || reply->element[1]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->integer < 0) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "rank script answered without a count of counted sales");
    }
    if (counted_out != NULL) {
        *counted_out = (size_t)reply->element[1]->integer;
    }
    return SS_OK;
}

ss_err_t ss_rank_sales_apply(ss_redis_t *redis, const ss_rank_sale_t *sales, size_t count,
                             const ss_rank_offset_move_t *move, int64_t now_ms, size_t *counted_out,
                             char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    rank_apply_args_t *args = NULL;
    redisReply *reply = NULL;
    size_t live = 0;

    SS_ASSERT(redis != NULL);
    if (counted_out != NULL) {
        *counted_out = 0;
    }
    if ((count > 0 && sales == NULL) || count > SS_RANK_APPLY_SALES_MAX ||
        (move != NULL && (move->partition < 0 || move->next < 0 ||
                          (move->expected < 0 && move->expected != SS_RANK_OFFSET_NONE)))) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not apply sales: %zu sales (at most %d) or an invalid offset move",
                          count, SS_RANK_APPLY_SALES_MAX);
    }
    args = calloc(1, sizeof(*args));
    if (args == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not apply sales: no memory");
    }
    err = rank_args_build(args, sales, count, move, now_ms, &live, errstr, errstr_size);
    if (err != SS_OK || (live == 0 && move == NULL)) {
        goto cleanup;
    }
    err = ss_redis_command_argv(redis, args->argc, args->argv, NULL, &reply, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    err = rank_apply_reply(reply, counted_out, errstr, errstr_size);

cleanup:
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    free(args);
    return err;
}

/* Parses a whole decimal int64 within min..max. */
static bool rank_parse_int64(const char *text, size_t length, int64_t min, int64_t max,
                             int64_t *out)
{
    char buffer[RANK_NUMBER_SIZE];
    if (text == NULL || length < 1 || length >= sizeof(buffer)) {
        return false;
    }
    memcpy(buffer, text, length);
    buffer[length] = '\0';
    if (!(buffer[0] == '-' || (buffer[0] >= '0' && buffer[0] <= '9'))) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    long long value = strtoll(buffer, &end, 10);
    if (errno != 0 || end != buffer + length || value < min || value > max) {
        return false;
    }
    *out = (int64_t)value;
    return true;
}

ss_err_t ss_rank_offset_read(ss_redis_t *redis, int32_t partition, int64_t *offset_out,
                             char *errstr, size_t errstr_size)
{
    char key[SS_RANK_KEY_SIZE];
    redisReply *reply = NULL;
    ss_err_t err = ss_rank_offset_key(partition, key, sizeof(key), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    const char *argv[] = {"GET", key};
    err = ss_redis_command_argv(redis, 2, argv, NULL, &reply, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        *offset_out = SS_RANK_OFFSET_NONE;
    } else if (reply->type != REDIS_REPLY_STRING ||
               !rank_parse_int64(reply->str, reply->len, 0, INT64_MAX, offset_out)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "%s does not hold a non-negative offset", key);
    }
    freeReplyObject(reply);
    return err;
}

/* ---- rebuild ----------------------------------------------------------------------------- */

#define RANK_STRINGIFY_INNER(x) #x
#define RANK_STRINGIFY(x) RANK_STRINGIFY_INNER(x)
#define RANK_SQL_DAY_LINES                                                                         \
    "SELECT oi.order_id, oi.product_id, oi.quantity"                                               \
    " FROM orders o JOIN order_items oi ON oi.order_id = o.id"                                     \
    " WHERE o.status = 'PAID'"                                                                     \
    " AND o.paid_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                                   \
    " AND o.paid_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'"                                \
    " AND o.id >= $2::bigint AND (oi.order_id, oi.product_id) > ($2::bigint, $3::bigint)"          \
    " ORDER BY oi.order_id, oi.product_id LIMIT " RANK_STRINGIFY(SS_RANK_REBUILD_PAGE_LINES)

/* One page of order lines turned into sales, and the event ids they point into. */
typedef struct rank_page {
    ss_rank_sale_t sales[SS_RANK_REBUILD_PAGE_LINES];
    char event_ids[SS_RANK_REBUILD_PAGE_LINES][SS_RANK_EVENT_ID_SIZE];
    size_t count;
    int64_t last_order_id;
    int64_t last_product_id;
} rank_page_t;

/* Reads the page after (last_order_id, last_product_id) into page. */
static ss_err_t rank_page_read(ss_pg_t *pg, const char *date, int64_t day, rank_page_t *page,
                               char *errstr, size_t errstr_size)
{
    char after_order[RANK_NUMBER_SIZE], after_product[RANK_NUMBER_SIZE];
    snprintf(after_order, sizeof(after_order), "%" PRId64, page->last_order_id);
    snprintf(after_product, sizeof(after_product), "%" PRId64, page->last_product_id);
    const char *params[] = {date, after_order, after_product};
    PGresult *result = NULL;
    ss_err_t err =
        ss_pg_query(pg, NULL, RANK_SQL_DAY_LINES, 3, params, &result, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    int rows = PQntuples(result);
    page->count = 0;
    for (int row = 0; row < rows && row < SS_RANK_REBUILD_PAGE_LINES && err == SS_OK; row++) {
        int64_t order_id = 0, product_id = 0, quantity = 0;
        err = ss_pg_get_int64(result, row, 0, &order_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(result, row, 1, &product_id, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(result, row, 2, &quantity, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_rank_event_id(order_id, product_id, page->event_ids[row],
                                   SS_RANK_EVENT_ID_SIZE, errstr, errstr_size);
        }
        if (err == SS_OK) {
            page->sales[row] = (ss_rank_sale_t){.event_id = page->event_ids[row],
                                                .product_id = product_id,
                                                .quantity = quantity,
                                                .day = day};
            page->last_order_id = order_id;
            page->last_product_id = product_id;
            page->count++;
        }
    }
    PQclear(result);
    return err;
}

ss_err_t ss_rank_rebuild_day(ss_pg_t *pg, ss_redis_t *redis, int64_t day, int64_t now_ms,
                             int64_t *lines_out, char *errstr, size_t errstr_size)
{
    char sell_key[SS_RANK_KEY_SIZE], seen_key[SS_RANK_KEY_SIZE], date[SS_CLOCK_DAY_SIZE];
    rank_page_t *page = NULL;
    int64_t lines = 0;

    SS_ASSERT(pg != NULL && redis != NULL);
    if (lines_out != NULL) {
        *lines_out = 0;
    }
    ss_err_t err = ss_rank_sell_key(day, sell_key, sizeof(sell_key), errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_rank_seen_key(day, seen_key, sizeof(seen_key), errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_clock_format_day(ss_clock_day_start_ms(day), date, sizeof(date), errstr,
                                  errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    /* Delete first: every event applied from here on belongs to an order PAID already. */
    const char *del[] = {"DEL", sell_key, seen_key};
    err = ss_redis_command_argv(redis, 3, del, NULL, NULL, errstr, errstr_size);
    if (err != SS_OK || ss_rank_day_expired(day, now_ms)) {
        return err;
    }
    page = calloc(1, sizeof(*page));
    if (page == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not rebuild %s: no memory",
                          date);
    }
    int pages = 0;
    for (; pages < SS_RANK_REBUILD_PAGES_MAX; pages++) {
        err = rank_page_read(pg, date, day, page, errstr, errstr_size);
        if (err == SS_OK && page->count > 0) {
            err = ss_rank_sales_apply(redis, page->sales, page->count, NULL, now_ms, NULL, errstr,
                                      errstr_size);
        }
        if (err != SS_OK) {
            goto cleanup;
        }
        lines += (int64_t)page->count;
        if (page->count < SS_RANK_REBUILD_PAGE_LINES) {
            break;
        }
    }
    if (pages == SS_RANK_REBUILD_PAGES_MAX) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "could not rebuild %s: more than %d pages of order lines", date,
                         SS_RANK_REBUILD_PAGES_MAX);
    }

cleanup:
    free(page);
    if (lines_out != NULL) {
        *lines_out = lines;
    }
    return err;
}

ss_err_t ss_rank_rebuild_window(ss_pg_t *pg, ss_redis_t *redis, int64_t today, bool only_missing,
                                int64_t now_ms, int *days_out, char *errstr, size_t errstr_size)
{
    int days = 0;
    ss_err_t err = SS_OK;
    if (days_out != NULL) {
        *days_out = 0;
    }
    for (int64_t day = ss_rank_window_first_day(today); day <= today && err == SS_OK; day++) {
        bool missing = true;
        if (only_missing) {
            char sell_key[SS_RANK_KEY_SIZE];
            redisReply *reply = NULL;
            err = ss_rank_sell_key(day, sell_key, sizeof(sell_key), errstr, errstr_size);
            if (err != SS_OK) {
                break;
            }
            const char *exists[] = {"EXISTS", sell_key};
            err = ss_redis_command_argv(redis, 2, exists, NULL, &reply, errstr, errstr_size);
            if (err != SS_OK) {
                break;
            }
            missing = reply->type == REDIS_REPLY_INTEGER && reply->integer == 0;
            freeReplyObject(reply);
        }
        if (missing) {
            err = ss_rank_rebuild_day(pg, redis, day, now_ms, NULL, errstr, errstr_size);
            days += err == SS_OK ? 1 : 0;
        }
    }
    if (days_out != NULL) {
        *days_out = days;
    }
    return err;
}

/* ---- popular ----------------------------------------------------------------------------- */

/* Appends one day's WITHSCORES reply to scores[*count..). */
static ss_err_t rank_day_scores(const redisReply *reply, ss_rank_score_t *scores, size_t *count,
                                char *errstr, size_t errstr_size)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0 ||
        reply->elements / 2 > SS_RANK_DAY_PRODUCTS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "a rank sorted set answered with an unexpected reply or more than %d "
                          "products",
                          SS_RANK_DAY_PRODUCTS_MAX);
    }
    for (size_t i = 0; i < reply->elements; i += 2) {
        const redisReply *member = reply->element[i];
        const redisReply *score = reply->element[i + 1];
        int64_t product_id = 0;
        if (member->type != REDIS_REPLY_STRING ||
            !rank_parse_int64(member->str, member->len, 1, INT64_MAX, &product_id)) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "a rank sorted set holds a member that is not a product id");
        }
        char *end = NULL;
        double value = score->type == REDIS_REPLY_STRING ? strtod(score->str, &end) : -1.0;
        if (end == NULL || end != score->str + score->len || !(value >= 0.0) ||
            value > 9007199254740992.0 || floor(value) != value) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "product %" PRId64 " has a score that is not a whole count",
                              product_id);
        }
        scores[(*count)++] = (ss_rank_score_t){.product_id = product_id, .score = (int64_t)value};
    }
    return SS_OK;
}

ss_err_t ss_rank_popular_read(ss_redis_t *redis, int64_t today, ss_rank_score_t *top,
                              size_t top_max, size_t *count_out, char *errstr, size_t errstr_size)
{
    char keys[SS_RANK_WINDOW_DAYS][SS_RANK_KEY_SIZE];
    redisReply *replies[SS_RANK_WINDOW_DAYS] = {NULL};
    ss_rank_score_t *scores = NULL;
    size_t score_count = 0;

    SS_ASSERT(redis != NULL && count_out != NULL);
    *count_out = 0;
    int64_t first_day = ss_rank_window_first_day(today);
    ss_err_t err = SS_OK;
    for (int i = 0; i < SS_RANK_WINDOW_DAYS && err == SS_OK; i++) {
        err = ss_rank_sell_key(first_day + i, keys[i], sizeof(keys[i]), errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    for (int i = 0; i < SS_RANK_WINDOW_DAYS; i++) {
        const char *argv[] = {"ZRANGE", keys[i], "0", "-1", "WITHSCORES"};
        /* An append failure is remembered and reported by collect. */
        (void)ss_redis_pipeline_append_argv(redis, 5, argv, NULL, errstr, errstr_size);
    }
    err = ss_redis_pipeline_collect(redis, replies, SS_RANK_WINDOW_DAYS, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    size_t total = 0;
    for (int i = 0; i < SS_RANK_WINDOW_DAYS; i++) {
        if (replies[i]->type == REDIS_REPLY_ARRAY &&
            replies[i]->elements / 2 <= SS_RANK_DAY_PRODUCTS_MAX) {
            total += replies[i]->elements / 2; /* larger ones are refused below */
        }
    }
    scores = calloc(total > 0 ? total : 1, sizeof(*scores));
    if (scores == NULL) {
        err =
            ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not read the ranking: no memory");
        goto cleanup;
    }
    for (int i = 0; i < SS_RANK_WINDOW_DAYS && err == SS_OK; i++) {
        err = rank_day_scores(replies[i], scores, &score_count, errstr, errstr_size);
    }
    if (err == SS_OK) {
        *count_out = ss_rank_top(scores, score_count, top, top_max);
    }

cleanup:
    free(scores);
    for (int i = 0; i < SS_RANK_WINDOW_DAYS; i++) {
        if (replies[i] != NULL) {
            freeReplyObject(replies[i]);
        }
    }
    return err;
}
