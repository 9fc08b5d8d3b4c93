/*
 * The Redis read caches (ss/cache.h): key names, the stock overlay's value and its
 * compare-and-set script, the page skeleton's encoding, and the one-round-trip page lookup
 * (catalogue version, skeleton and overlay entries read by one script).
 */
#include "ss/cache.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_STOCK_PREFIX "ss:stock:"
#define CACHE_PAGE_PREFIX "ss:products:page:"
#define CACHE_POPULAR_PREFIX "ss:popular:"
/* Decimal text of an int64 with sign and NUL. */
#define CACHE_NUMBER_SIZE 24
/* Script calls sent in one pipeline by ss_cache_stock_write(). */
#define CACHE_STOCK_PIPELINE_CHUNKS 16
/* The most entries one ss_cache_stock_write() call takes. */
#define CACHE_STOCK_WRITE_MAX 1000000
/* EVAL, script, numkeys, the keys, the expiry, the values. */
#define CACHE_STOCK_ARGS_MAX (3 + 2 * SS_CACHE_STOCK_WRITE_CHUNK + 1)
/* The id line of a skeleton: at most 100 ids of 19 digits and their separators. */
#define CACHE_PAGE_ID_LINE_MAX (SS_CACHE_PAGE_ITEMS_MAX * 20)

/*
 * KEYS: overlay keys; ARGV[1]: expiry in ms; ARGV[1 + i]: the new "<version>:<stock>" of
 * KEYS[i]. An entry is replaced when absent, unreadable or not newer than the new value (an
 * equal version holds the same stock, and rewriting it renews its expiry). Returns how many
 * entries were written.
 */
static const char cache_stock_script[] =
    "local written = 0\n"
    "for i = 1, #KEYS do\n"
    "  local new = ARGV[i + 1]\n"
    "  local new_version = tonumber(string.match(new, '^(%d+):'))\n"
    "  local current = redis.call('GET', KEYS[i])\n"
    "  local current_version = current and tonumber(string.match(current, '^(%d+):'))\n"
    "  if (not current_version) or current_version <= new_version then\n"
    "    redis.call('SET', KEYS[i], new, 'PX', ARGV[1])\n"
    "    written = written + 1\n"
    "  end\n"
    "end\n"
    "return written\n";

/*
 * KEYS[1]: the catalogue version key; ARGV[1]: the page key prefix; ARGV[2]: "<cursor>:<limit>";
 * ARGV[3]: the overlay key prefix. Returns {version} on a skeleton miss, otherwise {version,
 * skeleton, entry of each id in order (nil when absent)}.
 */
static const char cache_page_script[] =
    "local version = redis.call('GET', KEYS[1]) or '0'\n"
    "local page = redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])\n"
    "if not page then return {version} end\n"
    "local newline = string.find(page, '\\n', 1, true)\n"
    "if not newline then return {version} end\n"
    "local keys = {}\n"
    "for id in string.gmatch(string.sub(page, 1, newline - 1), '%d+') do\n"
    "  if #keys >= 100 then return {version} end\n"
    "  keys[#keys + 1] = ARGV[3] .. id\n"
    "end\n"
    "if #keys == 0 then return {version} end\n"
    "local entries = redis.call('MGET', unpack(keys))\n"
    "return {version, page, unpack(entries)}\n";

/* ---- names and values ---------------------------------------------------------------------- */

ss_err_t ss_cache_stock_key(int64_t product_id, char *out, size_t out_size, char *errstr,
                            size_t errstr_size)
{
    if (product_id <= 0 || out_size < SS_CACHE_KEY_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "no overlay key for product %" PRId64 " in %zu bytes", product_id,
                          out_size);
    }
    snprintf(out, out_size, CACHE_STOCK_PREFIX "%" PRId64, product_id);
    return SS_OK;
}

ss_err_t ss_cache_popular_key(int64_t day, char *out, size_t out_size, char *errstr,
                              size_t errstr_size)
{
    char date[SS_CLOCK_DAY_SIZE];
    if (out_size < SS_CACHE_KEY_SIZE || day < 0 || day > ss_clock_day_from_ms(SS_CLOCK_MS_MAX) ||
        ss_clock_format_day(ss_clock_day_start_ms(day), date, sizeof(date), NULL, 0) != SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "no popular key for day %" PRId64 " in %zu bytes", day, out_size);
    }
    snprintf(out, out_size, CACHE_POPULAR_PREFIX "%s", date);
    return SS_OK;
}

/* True when text is 1..SS_CACHE_VERSION_SIZE - 1 decimal digits. */
static bool cache_version_valid(const char *text, size_t length)
{
    if (length < 1 || length >= SS_CACHE_VERSION_SIZE) {
        return false;
    }
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
    }
    return true;
}

ss_err_t ss_cache_page_key(const char *version, int64_t cursor, int64_t limit, char *out,
                           size_t out_size, char *errstr, size_t errstr_size)
{
    if (version == NULL || !cache_version_valid(version, strlen(version)) || cursor < 0 ||
        limit < 1 || limit > SS_CACHE_PAGE_ITEMS_MAX || out_size < SS_CACHE_KEY_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "no page key for cursor %" PRId64 " limit %" PRId64, cursor, limit);
    }
    snprintf(out, out_size, CACHE_PAGE_PREFIX "%s:%" PRId64 ":%" PRId64, version, cursor, limit);
    return SS_OK;
}

ss_err_t ss_cache_stock_value_format(int64_t version, int64_t stock, char *out, size_t out_size,
                                     char *errstr, size_t errstr_size)
{
    if (version < 0 || stock < 0 || out_size < SS_CACHE_VALUE_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "no overlay value for version %" PRId64 " stock %" PRId64, version,
                          stock);
    }
    snprintf(out, out_size, "%" PRId64 ":%" PRId64, version, stock);
    return SS_OK;
}

/* Parses text[0..length) as a non-negative decimal int64 (digits only). */
static bool cache_parse_count(const char *text, size_t length, int64_t *out)
{
    if (length < 1 || length >= CACHE_NUMBER_SIZE) {
        return false;
    }
    char buffer[CACHE_NUMBER_SIZE];
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') {
            return false;
        }
        buffer[i] = text[i];
    }
    buffer[length] = '\0';
    errno = 0;
    char *end = NULL;
    long long value = strtoll(buffer, &end, 10);
    if (errno != 0 || end != buffer + length) {
        return false;
    }
    *out = (int64_t)value;
    return true;
}

ss_err_t ss_cache_stock_value_parse(const char *text, size_t length, int64_t *version_out,
                                    int64_t *stock_out)
{
    if (text == NULL) {
        return SS_ERR_INVALID;
    }
    const char *colon = memchr(text, ':', length);
    int64_t version = 0, stock = 0;
    if (colon == NULL || !cache_parse_count(text, (size_t)(colon - text), &version) ||
        !cache_parse_count(colon + 1, length - (size_t)(colon - text) - 1, &stock)) {
        return SS_ERR_INVALID;
    }
    *version_out = version;
    *stock_out = stock;
    return SS_OK;
}

/* ---- the page skeleton ----------------------------------------------------------------------- */

char *ss_cache_page_encode(const ss_cache_page_item_t *items, size_t count)
{
    if (items == NULL || count < 1 || count > SS_CACHE_PAGE_ITEMS_MAX) {
        return NULL;
    }
    char ids[CACHE_PAGE_ID_LINE_MAX + 1];
    size_t ids_length = 0;
    json_t *array = json_array();
    char *json_text = NULL;
    char *value = NULL;
    for (size_t i = 0; i < count && array != NULL; i++) {
        if (items[i].product_id <= 0 || items[i].price < 0 || items[i].name == NULL) {
            goto cleanup;
        }
        int written = snprintf(ids + ids_length, sizeof(ids) - ids_length, "%s%" PRId64,
                               i == 0 ? "" : " ", items[i].product_id);
        SS_ASSERT(written > 0 && (size_t)written < sizeof(ids) - ids_length);
        ids_length += (size_t)written;
        json_t *item = json_pack("[I, s, I]", (json_int_t)items[i].product_id, items[i].name,
                                 (json_int_t)items[i].price);
        if (item == NULL || json_array_append_new(array, item) != 0) {
            goto cleanup; /* a name that is not UTF-8, or no memory */
        }
    }
    if (array == NULL) {
        goto cleanup;
    }
    json_text = json_dumps(array, JSON_COMPACT);
    if (json_text == NULL) {
        goto cleanup;
    }
    size_t json_length = strlen(json_text);
    value = malloc(ids_length + 1 + json_length + 1);
    if (value != NULL) {
        memcpy(value, ids, ids_length);
        value[ids_length] = '\n';
        memcpy(value + ids_length + 1, json_text, json_length + 1);
    }

cleanup:
    free(json_text);
    json_decref(array);
    return value;
}

/* Reads item index of the skeleton's JSON array into *item, checking it against expected_id. */
static ss_err_t cache_page_item_read(const json_t *array, size_t index, int64_t expected_id,
                                     ss_cache_page_item_t *item, char *errstr, size_t errstr_size)
{
    const json_t *entry = json_array_get(array, index);
    const json_t *id = json_array_get(entry, 0);
    const json_t *name = json_array_get(entry, 1);
    const json_t *price = json_array_get(entry, 2);
    if (!json_is_array(entry) || json_array_size(entry) != 3 || !json_is_integer(id) ||
        !json_is_string(name) || !json_is_integer(price) || json_integer_value(price) < 0 ||
        json_integer_value(id) != expected_id) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "cached page item %zu is not [%" PRId64 ", name, price]", index,
                          expected_id);
    }
    *item = (ss_cache_page_item_t){.product_id = expected_id,
                                   .name = json_string_value(name),
                                   .price = json_integer_value(price)};
    return SS_OK;
}

ss_err_t ss_cache_page_decode(const char *text, size_t length, ss_cache_page_item_t *items,
                              size_t items_max, size_t *count_out, json_t **json_out, char *errstr,
                              size_t errstr_size)
{
    *json_out = NULL;
    *count_out = 0;
    const char *newline = text != NULL ? memchr(text, '\n', length) : NULL;
    if (newline == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "cached page has no id line");
    }
    int64_t ids[SS_CACHE_PAGE_ITEMS_MAX];
    size_t id_count = 0;
    const char *cursor = text;
    for (size_t round = 0; round < SS_CACHE_PAGE_ITEMS_MAX && cursor < newline; round++) {
        const char *space = memchr(cursor, ' ', (size_t)(newline - cursor));
        const char *end = space != NULL ? space : newline;
        if (!cache_parse_count(cursor, (size_t)(end - cursor), &ids[id_count]) ||
            ids[id_count] <= 0) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "cached page has a malformed id line");
        }
        id_count++;
        if (space != NULL && space + 1 == newline) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "cached page has a trailing separator");
        }
        cursor = space != NULL ? space + 1 : newline;
    }
    if (cursor != newline || id_count == 0 || id_count > items_max) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "cached page has no ids or too many");
    }
    json_error_t error;
    json_t *array = json_loadb(newline + 1, length - (size_t)(newline + 1 - text), 0, &error);
    if (!json_is_array(array) || json_array_size(array) != id_count) {
        json_decref(array);
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "cached page JSON is not an array of %zu items", id_count);
    }
    for (size_t i = 0; i < id_count; i++) {
        ss_err_t err = cache_page_item_read(array, i, ids[i], &items[i], errstr, errstr_size);
        if (err != SS_OK) {
            json_decref(array);
            return err;
        }
    }
    *json_out = array;
    *count_out = id_count;
    return SS_OK;
}

/* ---- the overlay's compare-and-set ----------------------------------------------------------- */

typedef struct cache_stock_args {
    const char *argv[CACHE_STOCK_ARGS_MAX];
    char keys[SS_CACHE_STOCK_WRITE_CHUNK][SS_CACHE_KEY_SIZE];
    char values[SS_CACHE_STOCK_WRITE_CHUNK][SS_CACHE_VALUE_SIZE];
    char key_count[CACHE_NUMBER_SIZE];
    char ttl[CACHE_NUMBER_SIZE];
} cache_stock_args_t;

/* Appends one script call for entries[0..count) to the pipeline (count <= one chunk). */
static ss_err_t cache_stock_append(ss_redis_t *redis, cache_stock_args_t *args,
                                   const ss_cache_stock_t *entries, size_t count, char *errstr,
                                   size_t errstr_size)
{
    SS_ASSERT(count >= 1 && count <= SS_CACHE_STOCK_WRITE_CHUNK);
    int argc = 0;
    args->argv[argc++] = "EVAL";
    args->argv[argc++] = cache_stock_script;
    snprintf(args->key_count, sizeof(args->key_count), "%zu", count);
    args->argv[argc++] = args->key_count;
    for (size_t i = 0; i < count; i++) {
        ss_err_t err = ss_cache_stock_key(entries[i].product_id, args->keys[i],
                                          sizeof(args->keys[i]), errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        args->argv[argc++] = args->keys[i];
    }
    snprintf(args->ttl, sizeof(args->ttl), "%d", SS_CACHE_STOCK_TTL_MS);
    args->argv[argc++] = args->ttl;
    for (size_t i = 0; i < count; i++) {
        ss_err_t err =
            ss_cache_stock_value_format(entries[i].version, entries[i].stock, args->values[i],
                                        sizeof(args->values[i]), errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        args->argv[argc++] = args->values[i];
    }
    return ss_redis_pipeline_append_argv(redis, argc, args->argv, NULL, errstr, errstr_size);
}

static ss_err_t cache_stock_check(const ss_cache_stock_t *entries, size_t count, char *errstr,
                                  size_t errstr_size)
{
    if (count > CACHE_STOCK_WRITE_MAX || (count > 0 && entries == NULL)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not write the stock overlay: %zu entries (at most %d)", count,
                          CACHE_STOCK_WRITE_MAX);
    }
    for (size_t i = 0; i < count; i++) {
        if (entries[i].product_id <= 0 || entries[i].version < 0 || entries[i].stock < 0) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "could not write the stock overlay: invalid entry product %" PRId64
                              " version %" PRId64 " stock %" PRId64,
                              entries[i].product_id, entries[i].version, entries[i].stock);
        }
    }
    return SS_OK;
}

/* Sends up to CACHE_STOCK_PIPELINE_CHUNKS chunks of entries[0..count) in one round trip. */
static ss_err_t cache_stock_round(ss_redis_t *redis, cache_stock_args_t *args,
                                  const ss_cache_stock_t *entries, size_t count, size_t *replaced,
                                  size_t *sent_out, char *errstr, size_t errstr_size)
{
    redisReply *replies[CACHE_STOCK_PIPELINE_CHUNKS] = {NULL};
    size_t chunks = 0, sent = 0;
    ss_err_t err = SS_OK;
    while (chunks < CACHE_STOCK_PIPELINE_CHUNKS && sent < count && err == SS_OK) {
        size_t chunk =
            count - sent < SS_CACHE_STOCK_WRITE_CHUNK ? count - sent : SS_CACHE_STOCK_WRITE_CHUNK;
        err = cache_stock_append(redis, args, entries + sent, chunk, errstr, errstr_size);
        sent += chunk;
        chunks++;
    }
    /* Collect even after a failed append: the pipeline must be emptied either way. */
    char collect_error[256];
    ss_err_t collected = ss_redis_pipeline_collect(redis, err == SS_OK ? replies : NULL,
                                                   ss_redis_pipeline_pending(redis), collect_error,
                                                   sizeof(collect_error));
    if (err == SS_OK && collected != SS_OK) {
        err = ss_err_set(collected, errstr, errstr_size, "could not write the stock overlay: %s",
                         collect_error);
    }
    for (size_t i = 0; i < chunks; i++) {
        if (replies[i] == NULL) {
            continue;
        }
        if (err == SS_OK && (replies[i]->type != REDIS_REPLY_INTEGER || replies[i]->integer < 0)) {
            err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                             "the stock overlay script answered with a reply of type %d",
                             replies[i]->type);
        } else if (err == SS_OK) {
            *replaced += (size_t)replies[i]->integer;
        }
        freeReplyObject(replies[i]);
    }
    *sent_out = sent;
    return err;
}

ss_err_t ss_cache_stock_write(ss_redis_t *redis, const ss_cache_stock_t *entries, size_t count,
                              size_t *replaced_out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(redis != NULL);
    size_t replaced = 0;
    if (replaced_out != NULL) {
        *replaced_out = 0;
    }
    ss_err_t err = cache_stock_check(entries, count, errstr, errstr_size);
    if (err != SS_OK || count == 0) {
        return err;
    }
    cache_stock_args_t *args = calloc(1, sizeof(*args));
    if (args == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not write the stock overlay: no memory");
    }
    size_t done = 0;
    size_t rounds_max = count / SS_CACHE_STOCK_WRITE_CHUNK + 1;
    for (size_t round = 0; round < rounds_max && done < count && err == SS_OK; round++) {
        size_t sent = 0;
        err = cache_stock_round(redis, args, entries + done, count - done, &replaced, &sent, errstr,
                                errstr_size);
        done += sent;
    }
    free(args);
    if (replaced_out != NULL) {
        *replaced_out = replaced;
    }
    return err;
}

ss_err_t ss_cache_catalog_bump(ss_redis_t *redis, char *errstr, size_t errstr_size)
{
    const char *argv[] = {"INCR", SS_CACHE_CATALOG_VERSION_KEY};
    redisReply *reply = NULL;
    ss_err_t err = ss_redis_command_argv(redis, 2, argv, NULL, &reply, errstr, errstr_size);
    if (err == SS_OK && reply->type != REDIS_REPLY_INTEGER) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "INCR %s answered a reply of type %d",
                         SS_CACHE_CATALOG_VERSION_KEY, reply->type);
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return err;
}

/* ---- the page lookup ---------------------------------------------------------------------- */

void ss_cache_page_lookup_clear(ss_cache_page_lookup_t *lookup)
{
    if (lookup == NULL) {
        return;
    }
    json_decref(lookup->json);
    memset(lookup, 0, sizeof(*lookup));
}

/* Fills out from the script's reply; a malformed skeleton or entry is a miss, not an error. */
static ss_err_t cache_page_reply_read(const redisReply *reply, ss_cache_page_lookup_t *out,
                                      char *errstr, size_t errstr_size)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        !cache_version_valid(reply->element[0]->str, reply->element[0]->len)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s does not hold a catalogue version", SS_CACHE_CATALOG_VERSION_KEY);
    }
    memcpy(out->version, reply->element[0]->str, reply->element[0]->len);
    out->version[reply->element[0]->len] = '\0';
    if (reply->elements < 2 || reply->element[1]->type != REDIS_REPLY_STRING) {
        return SS_OK;
    }
    char ignored[128];
    if (ss_cache_page_decode(reply->element[1]->str, reply->element[1]->len, out->items,
                             SS_CACHE_PAGE_ITEMS_MAX, &out->count, &out->json, ignored,
                             sizeof(ignored)) != SS_OK ||
        reply->elements != out->count + 2) {
        ss_cache_page_lookup_clear(out);
        memcpy(out->version, reply->element[0]->str, reply->element[0]->len);
        out->version[reply->element[0]->len] = '\0';
        return SS_OK;
    }
    out->hit = true;
    for (size_t i = 0; i < out->count; i++) {
        const redisReply *entry = reply->element[i + 2];
        int64_t version = 0;
        out->stock_found[i] =
            entry->type == REDIS_REPLY_STRING &&
            ss_cache_stock_value_parse(entry->str, entry->len, &version, &out->stock[i]) == SS_OK;
    }
    return SS_OK;
}

ss_err_t ss_cache_page_lookup(ss_redis_t *redis, int64_t cursor, int64_t limit,
                              ss_cache_page_lookup_t *out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(redis != NULL && out != NULL);
    memset(out, 0, sizeof(*out));
    if (cursor < 0 || limit < 1 || limit > SS_CACHE_PAGE_ITEMS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "no page lookup for cursor %" PRId64 " limit %" PRId64, cursor, limit);
    }
    char page[CACHE_NUMBER_SIZE * 2];
    snprintf(page, sizeof(page), "%" PRId64 ":%" PRId64, cursor, limit);
    const char *argv[] = {
        "EVAL", cache_page_script, "1", SS_CACHE_CATALOG_VERSION_KEY, CACHE_PAGE_PREFIX,
        page,   CACHE_STOCK_PREFIX};
    redisReply *reply = NULL;
    ss_err_t err = ss_redis_command_argv(redis, 7, argv, NULL, &reply, errstr, errstr_size);
    if (err == SS_OK) {
        err = cache_page_reply_read(reply, out, errstr, errstr_size);
    }
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    return err;
}

ss_err_t ss_cache_page_store(ss_redis_t *redis, const char *version, int64_t cursor, int64_t limit,
                             const ss_cache_page_item_t *items, size_t count, char *errstr,
                             size_t errstr_size)
{
    char key[SS_CACHE_KEY_SIZE];
    ss_err_t err = ss_cache_page_key(version, cursor, limit, key, sizeof(key), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char *value = ss_cache_page_encode(items, count);
    if (value == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not encode a page of %zu products", count);
    }
    char ttl[CACHE_NUMBER_SIZE];
    snprintf(ttl, sizeof(ttl), "%d", SS_CACHE_PAGE_TTL_MS);
    const char *argv[] = {"SET", key, value, "PX", ttl};
    err = ss_redis_command_argv(redis, 5, argv, NULL, NULL, errstr, errstr_size);
    free(value);
    return err;
}
