/*
 * The batch endpoint's two texts as pure functions: the body of a POST /orders/batch built
 * from the items still to deliver, and the per-item outcomes read back from its answer
 * (docs/data-platform.md, "Batches"). An answer that does not match the items one for one is
 * refused whole: the caller then sends the orders one by one, where each answer is its own.
 */
#include "platform_sink.h"

#include "ss/json.h"

#include <stdio.h>
#include <string.h>

/* A text field of an item: the string, or null for "". */
static json_t *text_or_null(const char *text)
{
    return text[0] != '\0' ? json_string(text) : json_null();
}

ss_err_t ss_sink_batch_body(const ss_sink_item_t *items, size_t count, char **body_out,
                            char *errstr, size_t errstr_size)
{
    *body_out = NULL;
    json_t *orders = json_array();
    bool ok = orders != NULL;
    for (size_t i = 0; ok && i < count; i++) {
        const ss_sink_item_t *item = &items[i];
        if (item->done) {
            continue;
        }
        json_t *entry = json_pack("{s:s, s:o, s:o, s:O}", "idempotencyKey", item->key, "requestId",
                                  text_or_null(item->trace.request_id), "traceparent",
                                  text_or_null(item->trace.traceparent), "order", item->order);
        ok = entry != NULL && json_array_append_new(orders, entry) == 0;
    }
    json_t *body = ok ? json_pack("{s:o}", "orders", orders) : NULL;
    if (body == NULL && !ok) {
        json_decref(orders);
    }
    *body_out = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    if (*body_out == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory building a batch");
    }
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
