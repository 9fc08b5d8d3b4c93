/*
 * GET /openapi.json: the OpenAPI document of the whole HTTP API (docs/openapi.json), served as
 * it is on disk. The file is read once at start-up (ss_ingress_create() calls
 * ss_ingress_openapi_load() with SS_OPENAPI_PATH) and checked to be a JSON object; the bytes
 * are kept in ss_ingress_t and every request copies them out. A missing or broken document
 * does not stop the ingress (the API works without it): the route then answers 500 INTERNAL.
 */
#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The document is a few tens of KiB; anything this large is not it. */
#define OPENAPI_DOCUMENT_BYTES_MAX (4 * 1024 * 1024)

ss_err_t ss_ingress_openapi_load(const char *path, char **out, char *errstr, size_t errstr_size)
{
    char *text = NULL;
    size_t length = 0;
    *out = NULL;
    ss_err_t err = ss_ingress_text_file_read(path, OPENAPI_DOCUMENT_BYTES_MAX, &text, &length,
                                             errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    json_error_t json_error;
    json_t *document = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_error);
    if (!json_is_object(document)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "the OpenAPI document %s is not a JSON object: line %d: %s", path,
                         json_error.line, document == NULL ? json_error.text : "not an object");
        free(text);
        text = NULL;
    }
    json_decref(document);
    *out = text;
    return err;
}

static void openapi_get(ss_http_request_t *req, void *context)
{
    const ss_ingress_t *ingress = context;
    if (ingress->openapi_document == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL,
                                 "the OpenAPI document could not be read at start-up", NULL);
        return;
    }
    (void)ss_http_respond_json(req, 200, ingress->openapi_document);
}

const ss_http_route_t ss_ingress_openapi_routes[] = {
    {SS_HTTP_METHOD_GET, "/openapi.json", openapi_get},
};
const size_t ss_ingress_openapi_routes_count =
    sizeof(ss_ingress_openapi_routes) / sizeof(ss_ingress_openapi_routes[0]);
