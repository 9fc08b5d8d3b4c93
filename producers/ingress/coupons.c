/*
 * GET /api/v1/users/{id}/coupons (the user's usable coupons: UNUSED and unexpired, from
 * PostgreSQL) and POST /api/v1/users/{id}/coupons (an IssueCoupon command to the coupon's
 * partition, where first come is first served).
 */
#include "command.h"
#include "ss/topics.h"
#include "ingress.h"

#include "ss/clock.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define SQL_USABLE_COUPONS                                                                         \
    "SELECT c.id, uc.id, c.name, c.discount_rate, (extract(epoch FROM c.expired_at) * "            \
    "1000)::bigint"                                                                                \
    " FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id"                                  \
    " WHERE uc.user_id = $1 AND uc.status = 'UNUSED' AND c.expired_at > now() ORDER BY uc.id"

/* One row of SQL_USABLE_COUPONS as the API's coupon object; NULL on bad data. */
static json_t *coupon_json(const PGresult *rows, int row)
{
    int64_t coupon_id, user_coupon_id, expired_ms;
    const char *name;
    double rate;
    char time_text[SS_CLOCK_ISO8601_SIZE], errstr[128];
    if (ss_pg_get_int64(rows, row, 0, &coupon_id, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, row, 1, &user_coupon_id, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_text(rows, row, 2, &name, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_double(rows, row, 3, &rate, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, row, 4, &expired_ms, errstr, sizeof(errstr)) != SS_OK ||
        ss_clock_format_iso8601(expired_ms, time_text, sizeof(time_text), errstr, sizeof(errstr)) !=
            SS_OK) {
        return NULL;
    }
    return json_pack("{s:I, s:I, s:s, s:f, s:s}", "id", (json_int_t)coupon_id, "userCouponId",
                     (json_int_t)user_coupon_id, "name", name, "discountRate", rate, "expiredAt",
                     time_text);
}

static void coupons_list(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    int64_t user_id;
    if (ss_ingress_path_id(req, "id", &user_id) != SS_OK) {
        return;
    }
    char id_text[24], errstr[256];
    snprintf(id_text, sizeof(id_text), "%" PRId64, user_id);
    const char *params[] = {id_text};
    PGresult *user = NULL, *rows = NULL;
    ss_err_t err = ss_ingress_query(ingress, "SELECT 1 FROM users WHERE id = $1", 1, params, &user,
                                    errstr, sizeof(errstr));
    if (err == SS_OK && PQntuples(user) > 0) {
        err =
            ss_ingress_query(ingress, SQL_USABLE_COUPONS, 1, params, &rows, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
    } else if (rows == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_USER_NOT_FOUND, NULL, NULL);
    } else {
        json_t *coupons = json_array();
        for (int row = 0; row < PQntuples(rows); row++) {
            json_array_append_new(coupons, coupon_json(rows, row));
        }
        ss_ingress_respond_ok(req, json_pack("{s:o}", "coupons", coupons));
    }
    PQclear(user);
    PQclear(rows);
}

static void coupon_issue(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"couponId"};
    ss_ingress_t *ingress = context;
    int64_t user_id;
    json_t *body = NULL;
    if (ss_ingress_path_id(req, "id", &user_id) != SS_OK ||
        ss_ingress_body_object(req, SS_INGRESS_FIELDS(fields), &body) != SS_OK) {
        return;
    }
    long long coupon_id = 0;
    char errstr[256];
    if (ss_json_get_int(body, "couponId", true, 1, INT64_MAX, &coupon_id, errstr, sizeof(errstr)) !=
        SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
        json_decref(body);
        return;
    }
    json_decref(body);
    char key[24];
    snprintf(key, sizeof(key), "%lld", coupon_id);
    json_t *record =
        json_pack("{s:I, s:I}", "coupon_id", (json_int_t)coupon_id, "user_id", (json_int_t)user_id);
    char scope[96];
    snprintf(scope, sizeof(scope), "POST /api/v1/users/%" PRId64 "/coupons", user_id);
    ss_ingress_command_submit(ingress->commands, req, SS_TOPIC_CMD_COUPON, key,
                              SS_SCHEMA_ISSUE_COUPON, scope, record);
}

const ss_http_route_t ss_ingress_coupons_routes[] = {
    {SS_HTTP_METHOD_GET, "/api/v1/users/{id}/coupons", coupons_list},
    {SS_HTTP_METHOD_POST, "/api/v1/users/{id}/coupons", coupon_issue},
};
const size_t ss_ingress_coupons_routes_count =
    sizeof(ss_ingress_coupons_routes) / sizeof(ss_ingress_coupons_routes[0]);
