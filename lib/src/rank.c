/*
 * The pure half of the ranking (ss/rank.h): Redis key names, event ids, the popular window,
 * the daily batch schedule, the top-N merge and the sales of a decoded OrderPaid. No
 * I/O and no allocation, so the ingress and the rank worker share exactly these rules and the
 * unit tests reach every branch. The Redis and PostgreSQL halves are rank_redis.c and
 * rank_batch.c.
 */
#include "ss/rank.h"
#include "ss/topics.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANK_MINUTES_PER_DAY 1440
#define RANK_MS_PER_MINUTE INT64_C(60000)

/* Writes "<prefix><YYYY-MM-DD>" for a UTC day number. */
static ss_err_t rank_day_key(const char *prefix, int64_t day, char *out, size_t out_size,
                             char *errstr, size_t errstr_size)
{
    char date[SS_CLOCK_DAY_SIZE];
    if (out == NULL || out_size < SS_RANK_KEY_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "rank key buffer of %zu bytes is below %d", out_size, SS_RANK_KEY_SIZE);
    }
    out[0] = '\0';
    if (day < ss_clock_day_from_ms(SS_CLOCK_MS_MIN) ||
        day > ss_clock_day_from_ms(SS_CLOCK_MS_MAX)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "day %" PRId64 " is outside the years 1970..9999", day);
    }
    ss_err_t err =
        ss_clock_format_day(ss_clock_day_start_ms(day), date, sizeof(date), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    snprintf(out, out_size, "%s%s", prefix, date);
    return SS_OK;
}

ss_err_t ss_rank_sell_key(int64_t day, char *out, size_t out_size, char *errstr, size_t errstr_size)
{
    return rank_day_key("ss:rank:sell:", day, out, out_size, errstr, errstr_size);
}

ss_err_t ss_rank_seen_key(int64_t day, char *out, size_t out_size, char *errstr, size_t errstr_size)
{
    return rank_day_key("ss:rank:seen:", day, out, out_size, errstr, errstr_size);
}

ss_err_t ss_rank_offset_key(int32_t partition, char *out, size_t out_size, char *errstr,
                            size_t errstr_size)
{
    if (out == NULL || out_size < SS_RANK_KEY_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "rank key buffer of %zu bytes is below %d", out_size, SS_RANK_KEY_SIZE);
    }
    out[0] = '\0';
    if (partition < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "partition %" PRId32 " is negative",
                          partition);
    }
    snprintf(out, out_size, "ss:rank:order-offset:%" PRId32, partition);
    return SS_OK;
}

ss_err_t ss_rank_event_id(int64_t order_id, int64_t product_id, char *out, size_t out_size,
                          char *errstr, size_t errstr_size)
{
    if (out == NULL || out_size < SS_RANK_EVENT_ID_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "event id buffer of %zu bytes is below %d", out_size,
                          SS_RANK_EVENT_ID_SIZE);
    }
    out[0] = '\0';
    if (order_id <= 0 || product_id <= 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "order id %" PRId64 " and product id %" PRId64 " must be positive",
                          order_id, product_id);
    }
    snprintf(out, out_size, SS_EVENT_ID_SALE, order_id, product_id);
    return SS_OK;
}

int64_t ss_rank_window_first_day(int64_t today)
{
    return today - (SS_RANK_WINDOW_DAYS - 1);
}

int64_t ss_rank_expire_at_s(int64_t day)
{
    return (ss_clock_day_start_ms(day) + SS_RANK_KEY_TTL_DAYS * SS_CLOCK_DAY_MS) / 1000;
}

bool ss_rank_day_expired(int64_t day, int64_t now_ms)
{
    return ss_rank_expire_at_s(day) * 1000 <= now_ms;
}

/* ---- schedule ---------------------------------------------------------------------------- */

static bool rank_two_digits(const char *text, int *out)
{
    if (text[0] < '0' || text[0] > '9' || text[1] < '0' || text[1] > '9') {
        return false;
    }
    *out = (text[0] - '0') * 10 + (text[1] - '0');
    return true;
}

ss_err_t ss_rank_time_of_day_parse(const char *text, int *minute_of_day_out, char *errstr,
                                   size_t errstr_size)
{
    int hour = 0, minute = 0;
    if (text == NULL || strlen(text) != 5 || text[2] != ':' || !rank_two_digits(text, &hour) ||
        !rank_two_digits(text + 3, &minute) || hour > 23 || minute > 59) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "not a time of day HH:MM between 00:00 and 23:59");
    }
    *minute_of_day_out = hour * 60 + minute;
    return SS_OK;
}

/* The scheduled instant on a day. */
static int64_t rank_tick_ms(int64_t day, int minute_of_day)
{
    SS_ASSERT(minute_of_day >= 0 && minute_of_day < RANK_MINUTES_PER_DAY);
    return ss_clock_day_start_ms(day) + minute_of_day * RANK_MS_PER_MINUTE;
}

int64_t ss_rank_batch_next_ms(int64_t now_ms, int minute_of_day)
{
    int64_t today = ss_clock_day_from_ms(now_ms);
    int64_t tick = rank_tick_ms(today, minute_of_day);
    return tick > now_ms ? tick : rank_tick_ms(today + 1, minute_of_day);
}

int64_t ss_rank_batch_due_day(int64_t now_ms, int minute_of_day)
{
    int64_t today = ss_clock_day_from_ms(now_ms);
    return now_ms >= rank_tick_ms(today, minute_of_day) ? today - 1 : today - 2;
}

/* ---- top-N ------------------------------------------------------------------------------- */

static int rank_compare_product(const void *left, const void *right)
{
    const ss_rank_score_t *a = left;
    const ss_rank_score_t *b = right;
    return (a->product_id > b->product_id) - (a->product_id < b->product_id);
}

/* Whether a ranks before b: more sold first, then the smaller id. */
static bool rank_before(const ss_rank_score_t *a, const ss_rank_score_t *b)
{
    return a->score > b->score || (a->score == b->score && a->product_id < b->product_id);
}

/* Inserts candidate into the sorted top[0..*count) of capacity top_max, if it makes the cut. */
static void rank_top_offer(ss_rank_score_t *top, size_t *count, size_t top_max,
                           ss_rank_score_t candidate)
{
    size_t position = *count;
    while (position > 0 && rank_before(&candidate, &top[position - 1])) {
        position--;
    }
    if (position >= top_max) {
        return;
    }
    size_t last = *count < top_max ? *count : top_max - 1;
    memmove(&top[position + 1], &top[position], (last - position) * sizeof(*top));
    top[position] = candidate;
    if (*count < top_max) {
        (*count)++;
    }
}

size_t ss_rank_top(ss_rank_score_t *scores, size_t count, ss_rank_score_t *top, size_t top_max)
{
    size_t top_count = 0;
    if (count == 0 || top_max == 0) {
        return 0;
    }
    SS_ASSERT(scores != NULL && top != NULL);
    qsort(scores, count, sizeof(*scores), rank_compare_product);
    size_t run_start = 0;
    while (run_start < count) {
        ss_rank_score_t total = {.product_id = scores[run_start].product_id, .score = 0};
        size_t run_end = run_start;
        for (; run_end < count && scores[run_end].product_id == total.product_id; run_end++) {
            int64_t add = scores[run_end].score;
            total.score = add > 0 && total.score > INT64_MAX - add ? INT64_MAX : total.score + add;
        }
        rank_top_offer(top, &top_count, top_max, total);
        run_start = run_end;
    }
    return top_count;
}

/* ---- sales ------------------------------------------------------------------------------- */

/* record.name (of a record the error calls what) as an integer in min..max. */
static ss_err_t rank_field_integer(const json_t *record, const char *what, const char *name,
                                   int64_t min, int64_t max, int64_t *out, char *errstr,
                                   size_t errstr_size)
{
    const json_t *value = json_object_get(record, name);
    if (!json_is_integer(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s.%s: missing or not an integer",
                          what, name);
    }
    int64_t number = (int64_t)json_integer_value(value);
    if (number < min || number > max) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s.%s: %" PRId64 " is outside %" PRId64 "..%" PRId64, what, name, number,
                          min, max);
    }
    *out = number;
    return SS_OK;
}

/* Line i of an OrderPaid as sale i of day, its event id written to event_id. */
static ss_err_t rank_line_sale(const json_t *line, int64_t order_id, int64_t day,
                               ss_rank_sale_t *sale, char *event_id, char *errstr,
                               size_t errstr_size)
{
    if (!json_is_object(line)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "OrderPaid.lines: not a record");
    }
    int64_t product_id = 0, quantity = 0;
    ss_err_t err = rank_field_integer(line, "OrderPaid.lines[]", "product_id", 1, INT64_MAX,
                                      &product_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = rank_field_integer(line, "OrderPaid.lines[]", "quantity", 1, SS_RANK_QUANTITY_MAX,
                                 &quantity, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_rank_event_id(order_id, product_id, event_id, SS_RANK_EVENT_ID_SIZE, errstr,
                               errstr_size);
    }
    if (err == SS_OK) {
        *sale = (ss_rank_sale_t){
            .event_id = event_id, .product_id = product_id, .quantity = quantity, .day = day};
    }
    return err;
}

ss_err_t ss_rank_sales_from_order_paid(const json_t *record, ss_rank_sale_t *sales,
                                       ss_rank_event_id_t *event_ids, size_t capacity,
                                       size_t *count_out, char *errstr, size_t errstr_size)
{
    *count_out = 0;
    if (!json_is_object(record)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "OrderPaid: not a record");
    }
    int64_t order_id = 0, paid_at = 0;
    ss_err_t err = rank_field_integer(record, "OrderPaid", "order_id", 1, INT64_MAX, &order_id,
                                      errstr, errstr_size);
    if (err == SS_OK) {
        err = rank_field_integer(record, "OrderPaid", "paid_at", SS_CLOCK_MS_MIN, SS_CLOCK_MS_MAX,
                                 &paid_at, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    const json_t *lines = json_object_get(record, "lines");
    size_t count = json_array_size(lines);
    if (!json_is_array(lines) || count == 0 || count > capacity) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "OrderPaid.lines: %zu lines is outside 1..%zu (or not an array)", count,
                          capacity);
    }
    int64_t day = ss_clock_day_from_ms(paid_at);
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        err = rank_line_sale(json_array_get(lines, i), order_id, day, &sales[i], event_ids[i],
                             errstr, errstr_size);
    }
    *count_out = err == SS_OK ? count : 0;
    return err;
}

size_t ss_rank_sales_chunk(const ss_rank_sale_t *sales, size_t count)
{
    int64_t days[SS_RANK_APPLY_DAYS_MAX];
    size_t day_count = 0;
    size_t taken = 0;
    for (; taken < count && taken < SS_RANK_APPLY_SALES_MAX; taken++) {
        bool known = false;
        for (size_t i = 0; i < day_count && !known; i++) {
            known = days[i] == sales[taken].day;
        }
        if (!known) {
            if (day_count == SS_RANK_APPLY_DAYS_MAX) {
                break;
            }
            days[day_count++] = sales[taken].day;
        }
    }
    return taken;
}
