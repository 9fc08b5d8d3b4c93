/*
 * GET /api/v1/users/{id}/balance (a read from PostgreSQL) and
 * POST /api/v1/users/{id}/balance/charge (a ChargeBalance command to the user's partition).
 */
#include "command.h"
#include "ss/topics.h"
#include "ingress.h"

#include "ss/json.h"
#include "ss/rules.h"

#include <inttypes.h>
#include <stdio.h>

static void balance_get(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    int64_t user_id;
    if (ss_ingress_path_id(req, "id", &user_id) != SS_OK) {
        return;
    }
    char id_text[24], errstr[256];
    snprintf(id_text, sizeof(id_text), "%" PRId64, user_id);
    const char *params[] = {id_text};
    PGresult *rows = NULL;
    int64_t balance = 0;
    ss_err_t err = ss_ingress_query(ingress, "SELECT balance FROM users WHERE id = $1", 1, params,
                                    &rows, errstr, sizeof(errstr));
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
    } else if (PQntuples(rows) == 0) {
        ss_ingress_respond_error(req, SS_API_ERROR_USER_NOT_FOUND, NULL, NULL);
    } else if (ss_pg_get_int64(rows, 0, 0, &balance, errstr, sizeof(errstr)) != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
    } else {
        ss_ingress_respond_ok(req, json_pack("{s:I, s:I}", "userId", (json_int_t)user_id, "amount",
                                             (json_int_t)balance));
    }
    PQclear(rows);
}

static void balance_charge(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"amount"};
    ss_ingress_t *ingress = context;
    int64_t user_id;
    json_t *body = NULL;
    if (ss_ingress_path_id(req, "id", &user_id) != SS_OK ||
        ss_ingress_body_object(req, SS_INGRESS_FIELDS(fields), &body) != SS_OK) {
        return;
    }
    long long amount = 0;
    char errstr[256];
    if (ss_json_get_int(body, "amount", true, 1, SS_RULES_CHARGE_MAX, &amount, errstr,
                        sizeof(errstr)) != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
        json_decref(body);
        return;
    }
    json_decref(body);
    char key[24];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    json_t *record =
        json_pack("{s:I, s:I}", "user_id", (json_int_t)user_id, "amount", (json_int_t)amount);
    char scope[96];
    snprintf(scope, sizeof(scope), "POST /api/v1/users/%" PRId64 "/balance/charge", user_id);
    ss_ingress_command_submit(ingress->commands, req, SS_TOPIC_CMD_USER, key,
                              SS_SCHEMA_CHARGE_BALANCE, scope, record);
}

const ss_http_route_t ss_ingress_balance_routes[] = {
    {SS_HTTP_METHOD_GET, "/api/v1/users/{id}/balance", balance_get},
    {SS_HTTP_METHOD_POST, "/api/v1/users/{id}/balance/charge", balance_charge},
};
const size_t ss_ingress_balance_routes_count =
    sizeof(ss_ingress_balance_routes) / sizeof(ss_ingress_balance_routes[0]);
