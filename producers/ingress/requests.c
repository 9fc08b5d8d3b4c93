/*
 * GET /api/v1/requests/{id}: the outcome of a mutation answered 202. DONE with the final
 * envelope once the worker stored it (request_results, written in the worker's batch
 * transaction), PENDING while only the ingress's record of the 202 exists, 404 otherwise.
 */
#include "ingress.h"

#include "ss/json.h"

#include <string.h>

#define REQUEST_ID_MAX 128

static void request_get(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    const char *request_id = ss_http_request_param(req, "id");
    if (request_id == NULL || strlen(request_id) > REQUEST_ID_MAX) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST,
                                 "request id must be at most 128 characters", NULL);
        return;
    }
    const char *params[] = {request_id};
    PGresult *done = NULL, *pending = NULL;
    char errstr[256];
    ss_err_t err =
        ss_ingress_query(ingress, "SELECT body FROM request_results WHERE request_id = $1", 1,
                         params, &done, errstr, sizeof(errstr));
    if (err == SS_OK && PQntuples(done) == 0) {
        err = ss_ingress_query(ingress, "SELECT 1 FROM request_pending WHERE request_id = $1", 1,
                               params, &pending, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
    } else if (PQntuples(done) > 0) {
        json_t *result = json_loads(PQgetvalue(done, 0, 0), 0, NULL);
        ss_ingress_respond_ok(req, json_pack("{s:s, s:s, s:o*}", "requestId", request_id, "status",
                                             "DONE", "result", result));
    } else if (PQntuples(pending) > 0) {
        ss_ingress_respond_ok(req, json_pack("{s:s, s:s, s:n}", "requestId", request_id, "status",
                                             "PENDING", "result"));
    } else {
        ss_ingress_respond_error(req, SS_API_ERROR_REQUEST_NOT_FOUND, NULL, NULL);
    }
    PQclear(done);
    PQclear(pending);
}

const ss_http_route_t ss_ingress_requests_routes[] = {
    {SS_HTTP_METHOD_GET, "/api/v1/requests/{id}", request_get},
};
const size_t ss_ingress_requests_routes_count =
    sizeof(ss_ingress_requests_routes) / sizeof(ss_ingress_requests_routes[0]);
