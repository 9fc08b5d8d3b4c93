/*
 * POST /orders/batch of the mock platform: the batch endpoint a real ingestion API has. Each
 * item is one order with its own Idempotency-Key, accepted exactly as a POST /orders with that
 * key would be (mock_item_accept), and answered by its own status in the results, so a sink can
 * send a hundred orders in one request and still learn the fate of each.
 */
#include "mock_internal.h"

#include "ss/json.h"
#include "ss/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The optional string field of an item; NULL when absent or null. */
static ss_err_t item_text(const json_t *item, const char *name, size_t max_length, const char **out,
                          char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (json_is_null(json_object_get(item, name))) {
        return SS_OK;
    }
    return ss_json_get_string(item, name, false, 1, max_length, out, errstr, errstr_size);
}

/* Checks every item before anything is stored: a malformed batch is refused as a whole. */
static ss_err_t batch_check(const json_t *batch, json_t **items_out, char *errstr,
                            size_t errstr_size)
{
    static const char *const fields[] = {"orders"};
    static const char *const item_fields[] = {"idempotencyKey", "order", "requestId",
                                              "traceparent"};
    json_t *items = NULL;
    ss_err_t err = ss_json_check_fields(batch, fields, 1, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_array(batch, "orders", true, 1, SS_MOCK_PLATFORM_BATCH_MAX, &items,
                                errstr, errstr_size);
    }
    for (size_t i = 0; err == SS_OK && i < json_array_size(items); i++) {
        json_t *item = NULL, *order = NULL;
        const char *text = NULL;
        err = ss_json_array_get_object(items, i, "orders", &item, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_json_check_fields(item, item_fields, 4, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_json_get_string(item, "idempotencyKey", true, 1,
                                     SS_MOCK_PLATFORM_KEY_BYTES_MAX, &text, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_json_get_object(item, "order", true, &order, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = item_text(item, "requestId", SS_MOCK_PLATFORM_KEY_BYTES_MAX, &text, errstr,
                            errstr_size);
        }
        if (err == SS_OK) {
            err = item_text(item, "traceparent", SS_MOCK_PLATFORM_KEY_BYTES_MAX, &text, errstr,
                            errstr_size);
        }
        if (err != SS_OK) {
            ss_json_errstr_prefix(errstr, errstr_size, "orders[%zu].", i);
        }
    }
    *items_out = items;
    return err;
}

/* One attempt per item, counted on arrival as for POST /orders; false when the store is full. */
static bool batch_count(ss_mock_platform_t *mock, const json_t *items, bool *full)
{
    bool counted = true;
    for (size_t i = 0; counted && i < json_array_size(items); i++) {
        const char *key =
            json_string_value(json_object_get(json_array_get(items, i), "idempotencyKey"));
        counted = mock_attempt_count(mock, key, full);
    }
    mock->batches++;
    return counted;
}

/* The results of a checked batch, item by item; NULL when out of memory. */
static char *batch_accept(ss_mock_platform_t *mock, const json_t *items)
{
    json_t *results = json_array();
    for (size_t i = 0; results != NULL && i < json_array_size(items); i++) {
        const json_t *item = json_array_get(items, i);
        const char *key = json_string_value(json_object_get(item, "idempotencyKey"));
        /* The stored body shares the batch's object: neither is changed after this. */
        int status = mock_item_accept(mock, key, json_incref(json_object_get(item, "order")),
                                      json_string_value(json_object_get(item, "requestId")),
                                      json_string_value(json_object_get(item, "traceparent")));
        json_t *result = json_pack("{s:s, s:i}", "idempotencyKey", key, "status", status);
        if (result != NULL && status >= 300) {
            (void)json_object_set_new(result, "error", json_string(mock_item_error(status)));
        }
        if (result == NULL || json_array_append_new(results, result) != 0) {
            json_decref(results);
            results = NULL;
        }
    }
    json_t *answer = results != NULL ? json_pack("{s:o}", "results", results) : NULL;
    char *text = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer);
    return text;
}

void mock_batch_post(ss_http_request_t *req, void *context)
{
    ss_mock_platform_t *mock = context;
    char errstr[MOCK_ERRSTR_SIZE];
    size_t length = 0;
    const char *text = ss_http_request_body(req, &length);
    json_t *batch = NULL, *items = NULL;
    pthread_mutex_lock(&mock->mutex);
    bool off = mock->batch_off;
    pthread_mutex_unlock(&mock->mutex);
    if (off) {
        mock_respond(req, 404, mock_error_body("no batch endpoint here (control batch false)"));
        return;
    }
    ss_err_t err = ss_json_parse_object(text, length, &batch, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = batch_check(batch, &items, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        json_decref(batch);
        mock_respond(req, 400, mock_error_body(errstr));
        return;
    }
    bool full = false;
    pthread_mutex_lock(&mock->mutex);
    bool counted = batch_count(mock, items, &full);
    pthread_mutex_unlock(&mock->mutex);
    SS_LOG_DEBUG(SS_MOCK_PLATFORM_COMPONENT, "batch orders=%zu", json_array_size(items));
    if (mock_mode_answer(mock, req, counted, full, true)) {
        mock_respond(req, 200, batch_accept(mock, items));
    }
    json_decref(batch);
}

void mock_batch_finish(ss_mock_platform_t *mock, ss_http_request_t *req)
{
    char errstr[MOCK_ERRSTR_SIZE];
    size_t length = 0;
    const char *text = ss_http_request_body(req, &length);
    json_t *batch = NULL, *items = NULL;
    char *answer = NULL;
    /* Checked on arrival already; parsed again rather than kept through the stall. */
    if (ss_json_parse_object(text, length, &batch, errstr, sizeof(errstr)) == SS_OK &&
        batch_check(batch, &items, errstr, sizeof(errstr)) == SS_OK) {
        answer = batch_accept(mock, items);
    }
    (void)ss_http_request_complete(req, answer != NULL ? 200 : 500,
                                   answer != NULL ? answer : "{\"error\":\"out of memory\"}", NULL,
                                   0);
    free(answer);
    json_decref(batch);
    ss_http_request_release(req);
}
