/*
 * The admin endpoints, behind `Authorization: Bearer <ADMIN_TOKEN>` (401 without it, 403 with
 * another). New users, products and coupons are inserted here directly: nobody owns them yet.
 * Changes to worker-owned state (stock, sell status, coupon status) are commands to the owning
 * partition, so they are ordered with every other mutation of that row.
 */
#include "command.h"
#include "ss/topics.h"
#include "ingress.h"

#include "ss/clock.h"
#include "ss/hash.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ADMIN_NAME_MAX 200
#define ADMIN_NICKNAME_MAX 100
#define ADMIN_PRICE_MAX INT64_C(1000000000000)
#define ADMIN_STOCK_MAX INT64_C(1000000000)
#define ADMIN_QUANTITY_MAX INT64_C(1000000000)

static const char *const sell_statuses[] = {"HOLD", "SELLING", "STOP_SELLING"};
static const char *const coupon_statuses[] = {"REGISTERED", "PUBLISHABLE", "CANCELED"};

/* Compares without an early exit, so the time taken says nothing about the token. */
static bool token_equal(const char *given, const char *expected)
{
    size_t given_length = strlen(given), expected_length = strlen(expected);
    unsigned char difference = given_length != expected_length;
    for (size_t i = 0; i < given_length; i++) {
        difference |= (unsigned char)(given[i] ^ expected[i % (expected_length + 1)]);
    }
    return difference == 0;
}

/* True when the request carries the admin token; otherwise answers 401 or 403. */
static bool admin_allowed(ss_http_request_t *req, const ss_ingress_t *ingress)
{
    const char *authorization = ss_http_request_header(req, "Authorization");
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAUTHORIZED,
                                 "an admin bearer token is required", NULL);
        return false;
    }
    if (!token_equal(authorization + 7, ingress->config->admin_token)) {
        ss_ingress_respond_error(req, SS_API_ERROR_FORBIDDEN, "the admin token is not valid", NULL);
        return false;
    }
    return true;
}

/* Reads the admin body (fields as ss_ingress_body_object); false when refused (answered). */
static bool admin_body(ss_http_request_t *req, const ss_ingress_t *ingress,
                       const char *const *fields, size_t field_count, json_t **body)
{
    return admin_allowed(req, ingress) &&
           ss_ingress_body_object(req, fields, field_count, body) == SS_OK;
}

/* Runs an INSERT ... RETURNING id on pg and builds the {id} envelope (malloc'd). */
static ss_err_t insert_envelope(ss_pg_t *pg, const char *sql, int param_count,
                                const char *const *params, char **envelope_out, char *errstr,
                                size_t errstr_size)
{
    PGresult *rows = NULL;
    int64_t id = 0;
    ss_err_t err = ss_pg_query(pg, NULL, sql, param_count, params, &rows, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, 0, 0, &id, errstr, errstr_size);
    }
    PQclear(rows);
    if (err == SS_OK) {
        *envelope_out = ss_json_envelope_ok(json_pack("{s:I}", "id", (json_int_t)id));
        err = *envelope_out != NULL ? SS_OK : SS_ERR_NOMEM;
    }
    return err;
}

#define SQL_KEY_CLAIM                                                                              \
    "INSERT INTO idempotency_keys (scope, key, body_hash, request_id) VALUES ($1, $2, $3, $4)"     \
    " ON CONFLICT (scope, key) DO NOTHING RETURNING 1"
#define SQL_KEY_OUTCOME                                                                            \
    "SELECT ik.body_hash, rr.http_status, rr.body FROM idempotency_keys ik"                        \
    " JOIN request_results rr ON rr.request_id = ik.request_id WHERE ik.scope = $1 AND ik.key = "  \
    "$2"

/* The first outcome stored under the key: its status and envelope, or 409 for another body. */
static ss_err_t key_outcome(ss_pg_t *pg, const char *const *key_params, const char *hash,
                            int *status_out, char **envelope_out, char *errstr, size_t errstr_size)
{
    PGresult *rows = NULL;
    ss_err_t err =
        ss_pg_query(pg, NULL, SQL_KEY_OUTCOME, 2, key_params, &rows, errstr, errstr_size);
    if (err == SS_OK && PQntuples(rows) == 1 && strcmp(PQgetvalue(rows, 0, 0), hash) == 0) {
        *status_out = atoi(PQgetvalue(rows, 0, 1));
        *envelope_out = strdup(PQgetvalue(rows, 0, 2));
    } else if (err == SS_OK) {
        *status_out = 409;
        *envelope_out = ss_json_envelope_api_error(SS_API_ERROR_IDEMPOTENCY_KEY_REUSED, NULL, NULL);
    }
    PQclear(rows);
    return err == SS_OK && *envelope_out == NULL ? SS_ERR_NOMEM : err;
}

/*
 * The creation and its Idempotency-Key in one transaction: the key row is claimed first (a
 * concurrent twin waits on it, then finds it taken), the entity inserted, the outcome stored.
 */
static ss_err_t idempotent_insert(ss_pg_t *pg, ss_http_request_t *req, const char *scope,
                                  const char *key, const char *sql, int param_count,
                                  const char *const *params, int *status_out, char **envelope_out,
                                  char *errstr, size_t errstr_size)
{
    size_t body_length = 0;
    const char *body = ss_http_request_body(req, &body_length);
    char hash[SS_HASH_SHA256_HEX_SIZE], request_id[64];
    snprintf(request_id, sizeof(request_id), "admin-%lld-%ld", (long long)ss_clock_now_us(),
             random());
    ss_err_t err = ss_hash_sha256_hex(body, body_length, hash, errstr, errstr_size);
    const char *claim[] = {scope, key, hash, request_id};
    PGresult *claimed = NULL;
    if (err == SS_OK) {
        err = ss_pg_begin(pg, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_query(pg, NULL, SQL_KEY_CLAIM, 4, claim, &claimed, errstr, errstr_size);
    }
    if (err == SS_OK && PQntuples(claimed) == 0) {
        ss_pg_rollback(pg, NULL, 0);
        PQclear(claimed);
        return key_outcome(pg, claim, hash, status_out, envelope_out, errstr, errstr_size);
    }
    PQclear(claimed);
    *status_out = 200;
    if (err == SS_OK) {
        err = insert_envelope(pg, sql, param_count, params, envelope_out, errstr, errstr_size);
    }
    if (err == SS_OK) {
        const char *result[] = {request_id, *envelope_out};
        err = ss_pg_query(pg, NULL,
                          "INSERT INTO request_results (request_id, http_status, body)"
                          " VALUES ($1, 200, $2)",
                          2, result, NULL, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_commit(pg, errstr, errstr_size);
    }
    if (err != SS_OK) {
        ss_pg_rollback(pg, NULL, 0);
    }
    return err;
}

/*
 * Runs an INSERT ... RETURNING id and answers {id}; with an Idempotency-Key, a retry with the
 * same body gets the first answer and creates nothing (API.md: the key works on any POST).
 * scope is the route ("POST /api/v1/admin/users"), whatever spelling of it was requested.
 */
static void insert_and_answer(ss_http_request_t *req, ss_ingress_t *ingress, const char *scope,
                              const char *sql, int param_count, const char *const *params)
{
    const char *key = NULL;
    if (ss_ingress_idempotency_key(req, &key) != SS_OK) {
        return;
    }
    ss_pg_t *pg = NULL;
    char *envelope = NULL, errstr[256];
    int status = 200;
    ss_err_t err = ss_ingress_pg_acquire(ingress, &pg, errstr, sizeof(errstr));
    for (int attempt = 0; attempt < 2 && err == SS_OK; attempt++) {
        free(envelope);
        envelope = NULL;
        err = key == NULL
                  ? insert_envelope(pg, sql, param_count, params, &envelope, errstr, sizeof(errstr))
                  : idempotent_insert(pg, req, scope, key, sql, param_count, params, &status,
                                      &envelope, errstr, sizeof(errstr));
        if (err != SS_ERR_RETRIABLE || !ss_pg_is_broken(pg) ||
            ss_pg_reset(pg, errstr, sizeof(errstr)) != SS_OK) {
            break;
        }
        err = SS_OK;
    }
    ss_ingress_pg_release(ingress, pg);
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
    } else {
        ss_http_respond_json(req, status, envelope);
    }
    free(envelope);
}

static void invalid(ss_http_request_t *req, const char *errstr, json_t *body)
{
    ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
    json_decref(body);
}

static void user_create(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"nickname"};
    ss_ingress_t *ingress = context;
    json_t *body = NULL;
    const char *nickname = NULL;
    char errstr[256];
    if (!admin_body(req, ingress, SS_INGRESS_FIELDS(fields), &body)) {
        return;
    }
    if (ss_json_get_string(body, "nickname", true, 1, ADMIN_NICKNAME_MAX, &nickname, errstr,
                           sizeof(errstr)) != SS_OK) {
        invalid(req, errstr, body);
        return;
    }
    const char *params[] = {nickname};
    insert_and_answer(req, ingress, "POST /api/v1/admin/users",
                      "INSERT INTO users (nickname) VALUES ($1) RETURNING id", 1, params);
    json_decref(body);
}

static void product_create(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"name", "price", "stock", "sellStatus"};
    ss_ingress_t *ingress = context;
    json_t *body = NULL;
    const char *name = NULL;
    long long price = 0, stock = 0;
    size_t status = 1; /* SELLING */
    char errstr[256];
    if (!admin_body(req, ingress, SS_INGRESS_FIELDS(fields), &body)) {
        return;
    }
    if (ss_json_get_string(body, "name", true, 1, ADMIN_NAME_MAX, &name, errstr, sizeof(errstr)) !=
            SS_OK ||
        ss_json_get_int(body, "price", true, 0, ADMIN_PRICE_MAX, &price, errstr, sizeof(errstr)) !=
            SS_OK ||
        ss_json_get_int(body, "stock", true, 0, ADMIN_STOCK_MAX, &stock, errstr, sizeof(errstr)) !=
            SS_OK ||
        ss_json_get_enum(body, "sellStatus", false, sell_statuses, 3, &status, errstr,
                         sizeof(errstr)) != SS_OK) {
        invalid(req, errstr, body);
        return;
    }
    char price_text[24], stock_text[24];
    snprintf(price_text, sizeof(price_text), "%lld", price);
    snprintf(stock_text, sizeof(stock_text), "%lld", stock);
    const char *params[] = {name, price_text, stock_text, sell_statuses[status]};
    insert_and_answer(req, ingress, "POST /api/v1/admin/products",
                      "INSERT INTO products (name, price, stock, sell_status)"
                      " VALUES ($1, $2, $3, $4) RETURNING id",
                      4, params);
    json_decref(body);
}

static void product_update(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"sellStatus", "stockDelta"};
    ss_ingress_t *ingress = context;
    json_t *body = NULL;
    int64_t product_id;
    long long delta = 0;
    size_t status = SIZE_MAX;
    char errstr[256];
    if (!admin_allowed(req, ingress) || ss_ingress_path_id(req, "id", &product_id) != SS_OK ||
        ss_ingress_body_object(req, SS_INGRESS_FIELDS(fields), &body) != SS_OK) {
        return;
    }
    if (ss_json_get_int(body, "stockDelta", false, -ADMIN_STOCK_MAX, ADMIN_STOCK_MAX, &delta,
                        errstr, sizeof(errstr)) != SS_OK ||
        ss_json_get_enum(body, "sellStatus", false, sell_statuses, 3, &status, errstr,
                         sizeof(errstr)) != SS_OK) {
        invalid(req, errstr, body);
        return;
    }
    bool has_delta = json_is_integer(json_object_get(body, "stockDelta"));
    if (!has_delta && status == SIZE_MAX) {
        invalid(req, "give sellStatus, stockDelta or both", body);
        return;
    }
    json_decref(body);
    char key[24];
    snprintf(key, sizeof(key), "%" PRId64, product_id);
    json_t *record =
        json_pack("{s:I, s:o, s:o}", "product_id", (json_int_t)product_id, "stock_delta",
                  has_delta ? json_integer(delta) : json_null(), "sell_status",
                  status != SIZE_MAX ? json_string(sell_statuses[status]) : json_null());
    ss_ingress_command_submit(ingress->commands, req, SS_TOPIC_CMD_STOCK, key,
                              SS_SCHEMA_ADJUST_PRODUCT, NULL, record);
}

static void coupon_create(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"name", "discountRate", "quantity", "expiredAt", "status"};
    ss_ingress_t *ingress = context;
    json_t *body = NULL;
    const char *name = NULL;
    long long rate_units = 0, quantity = 0;
    int64_t expired_ms = 0;
    size_t status = 1; /* PUBLISHABLE */
    char errstr[256];
    if (!admin_body(req, ingress, SS_INGRESS_FIELDS(fields), &body)) {
        return;
    }
    if (ss_json_get_string(body, "name", true, 1, ADMIN_NAME_MAX, &name, errstr, sizeof(errstr)) !=
            SS_OK ||
        ss_json_get_decimal(body, "discountRate", true, 4, 1, 10000, &rate_units, errstr,
                            sizeof(errstr)) != SS_OK ||
        ss_json_get_int(body, "quantity", true, 0, ADMIN_QUANTITY_MAX, &quantity, errstr,
                        sizeof(errstr)) != SS_OK ||
        ss_json_get_time(body, "expiredAt", true, &expired_ms, errstr, sizeof(errstr)) != SS_OK ||
        ss_json_get_enum(body, "status", false, coupon_statuses, 3, &status, errstr,
                         sizeof(errstr)) != SS_OK) {
        invalid(req, errstr, body);
        return;
    }
    char rate_text[48], quantity_text[24], expired_text[24];
    snprintf(rate_text, sizeof(rate_text), "%lld.%04lld", rate_units / 10000, rate_units % 10000);
    snprintf(quantity_text, sizeof(quantity_text), "%lld", quantity);
    snprintf(expired_text, sizeof(expired_text), "%" PRId64, expired_ms);
    const char *params[] = {name, rate_text, quantity_text, expired_text, coupon_statuses[status]};
    insert_and_answer(req, ingress, "POST /api/v1/admin/coupons",
                      "INSERT INTO coupons (name, discount_rate, quantity, expired_at, status)"
                      " VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0), $5) RETURNING id",
                      5, params);
    json_decref(body);
}

static void coupon_update(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"status"};
    ss_ingress_t *ingress = context;
    json_t *body = NULL;
    int64_t coupon_id;
    size_t status = 0;
    char errstr[256];
    if (!admin_allowed(req, ingress) || ss_ingress_path_id(req, "id", &coupon_id) != SS_OK ||
        ss_ingress_body_object(req, SS_INGRESS_FIELDS(fields), &body) != SS_OK) {
        return;
    }
    if (ss_json_get_enum(body, "status", true, coupon_statuses, 3, &status, errstr,
                         sizeof(errstr)) != SS_OK) {
        invalid(req, errstr, body);
        return;
    }
    json_decref(body);
    char key[24];
    snprintf(key, sizeof(key), "%" PRId64, coupon_id);
    json_t *record = json_pack("{s:I, s:s}", "coupon_id", (json_int_t)coupon_id, "status",
                               coupon_statuses[status]);
    ss_ingress_command_submit(ingress->commands, req, SS_TOPIC_CMD_COUPON, key,
                              SS_SCHEMA_CHANGE_COUPON_STATUS, NULL, record);
}

const ss_http_route_t ss_ingress_admin_routes[] = {
    {SS_HTTP_METHOD_POST, "/api/v1/admin/users", user_create},
    {SS_HTTP_METHOD_POST, "/api/v1/admin/products", product_create},
    {SS_HTTP_METHOD_PATCH, "/api/v1/admin/products/{id}", product_update},
    {SS_HTTP_METHOD_POST, "/api/v1/admin/coupons", coupon_create},
    {SS_HTTP_METHOD_PATCH, "/api/v1/admin/coupons/{id}", coupon_update},
};
const size_t ss_ingress_admin_routes_count =
    sizeof(ss_ingress_admin_routes) / sizeof(ss_ingress_admin_routes[0]);
