/*
 * The batch endpoint's two texts as pure functions: the body of a POST /orders/batch written
 * from the items still to deliver (their order bodies are text already, order.c), and the per-item
 * outcomes read back from its answer (docs/data-platform.md, "Batches"). An answer that does not
 * match the items one for one is refused whole: the caller then sends the orders one by one, where
 * each answer is its own.
 */
#include "platform_sink.h"

#include "ss/assert.h"
#include "ss/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Room for one entry's text besides its order: the names, quotes and brackets (under 80 bytes)
 * and its key, request id and traceparent.
 */
#define BATCH_ENTRY_FIXED 96

/*
 * A text field of an item as JSON: the quoted string, or null for "". The key is order-<id> and
 * ss_trace_t holds a request id of ss/trace.h's characters and a traceparent of hex and dashes
 * (both checked when read from Kafka), so neither needs escaping.
 */
static size_t text_or_null(char *out, const char *text)
{
    size_t length = strlen(text);
    if (length == 0) {
        memcpy(out, "null", 4);
        return 4;
    }
    out[0] = '"';
    memcpy(out + 1, text, length);
    out[length + 1] = '"';
    return length + 2;
}

static size_t append(char *out, const char *text)
{
    size_t length = strlen(text);
    memcpy(out, text, length);
    return length;
}

/* At least the length of item's entry and its separator (BATCH_ENTRY_FIXED covers the rest). */
static size_t entry_bound(const ss_sink_item_t *item)
{
    return BATCH_ENTRY_FIXED + strlen(item->key) + strlen(item->trace.request_id) +
           strlen(item->trace.traceparent) + strlen(item->order);
}

/* Writes the entry of item at out; returns its length. */
static size_t entry_write(char *out, const ss_sink_item_t *item)
{
    size_t used = append(out, "{\"idempotencyKey\":");
    used += text_or_null(out + used, item->key);
    used += append(out + used, ",\"requestId\":");
    used += text_or_null(out + used, item->trace.request_id);
    used += append(out + used, ",\"traceparent\":");
    used += text_or_null(out + used, item->trace.traceparent);
    used += append(out + used, ",\"order\":");
    used += append(out + used, item->order);
    out[used++] = '}';
    return used;
}

ss_err_t ss_sink_batch_body(const ss_sink_item_t *items, size_t count, char **body_out,
                            char *errstr, size_t errstr_size)
{
    size_t size = sizeof("{\"orders\":[]}");
    for (size_t i = 0; i < count; i++) {
        size += items[i].done ? 0 : entry_bound(&items[i]);
    }
    char *body = malloc(size);
    if (body == NULL) {
        *body_out = NULL;
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory building a batch");
    }
    size_t used = append(body, "{\"orders\":[");
    bool first = true;
    for (size_t i = 0; i < count; i++) {
        if (!items[i].done) {
            /* The bound, separator included, was counted into size: checked before writing. */
            SS_ASSERT(size - used >= entry_bound(&items[i]) + sizeof("]}"));
            if (!first) {
                body[used++] = ',';
            }
            used += entry_write(body + used, &items[i]);
            first = false;
        }
    }
    SS_ASSERT(size - used >= sizeof("]}"));
    used += append(body + used, "]}");
    body[used] = '\0';
    *body_out = body;
    return SS_OK;
}

/* Checks result number index against item; its status and error on SS_OK. */
static ss_err_t result_read(const json_t *results, size_t index, const ss_sink_item_t *item,
                            long long *status, const char **error, char *errstr, size_t errstr_size)
{
    json_t *result = NULL;
    const char *key = NULL;
    *error = NULL;
    ss_err_t err =
        ss_json_array_get_object(results, index, "results", &result, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_string(result, "idempotencyKey", true, 1, SS_SINK_EXCERPT_SIZE, &key,
                                 errstr, errstr_size);
    }
    if (err == SS_OK && strcmp(key, item->key) != 0) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "results[%zu] is for %s, the batch sent %s there", index, key, item->key);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(result, "status", true, 100, 599, status, errstr, errstr_size);
        if (err != SS_OK) {
            ss_json_errstr_prefix(errstr, errstr_size, "results[%zu].", index);
        }
    }
    if (err == SS_OK && json_is_string(json_object_get(result, "error"))) {
        *error = json_string_value(json_object_get(result, "error"));
    }
    return err;
}

ss_err_t ss_sink_batch_results(const char *answer, size_t length, ss_sink_item_t *items,
                               size_t count, char *errstr, size_t errstr_size)
{
    json_t *root = NULL, *results = NULL;
    size_t sent = 0;
    for (size_t i = 0; i < count; i++) {
        sent += items[i].done ? 0 : 1;
    }
    ss_err_t err = ss_json_parse_object(answer, length, &root, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_array(root, "results", true, sent, sent, &results, errstr, errstr_size);
    }
    long long statuses[SS_SINK_BATCH_MAX];
    const char *errors[SS_SINK_BATCH_MAX];
    for (size_t i = 0, r = 0; err == SS_OK && i < count; i++) {
        if (!items[i].done) {
            err = result_read(results, r, &items[i], &statuses[r], &errors[r], errstr, errstr_size);
            r++;
        }
    }
    for (size_t i = 0, r = 0; err == SS_OK && i < count; i++) {
        if (!items[i].done) {
            items[i].status = (long)statuses[r];
            items[i].outcome = ss_sink_classify(true, items[i].status);
            const char *detail = errors[r] != NULL ? errors[r] : "";
            ss_sink_excerpt(detail, strlen(detail), items[i].detail, sizeof(items[i].detail));
            r++;
        }
    }
    json_decref(root);
    return err;
}
