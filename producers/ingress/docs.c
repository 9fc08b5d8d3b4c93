/*
 * GET /docs: a browsable page of the HTTP API. The page is Redoc (docs/vendor/redoc, vendored
 * from the npm registry at a pinned version, see its README.md) rendering GET /openapi.json; it
 * loads nothing from anywhere but this ingress, so it works offline, and its
 * Content-Security-Policy says so to the browser.
 *
 *   GET /docs                      the HTML page (small, static; Cache-Control: no-cache)
 *   GET /docs/redoc.standalone.js  the bundle, read once at start-up from SS_DOCS_ASSET_PATH
 *                                  (Cache-Control: public, max-age=86400)
 *
 * Any other /docs/... path is the router's 404 NOT_FOUND. A bundle that could not be read at
 * start-up does not stop the ingress: the bundle's route then answers 500 INTERNAL.
 */
#include "ingress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Redoc styles with inline <style> elements and runs its search index in a worker made from a
 * blob: URL; everything else comes from this origin.
 */
static const ss_http_header_t docs_page_headers[] = {
    {"Content-Type", "text/html; charset=utf-8"},
    {"Cache-Control", "no-cache"},
    {"X-Content-Type-Options", "nosniff"},
    {"Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                "img-src 'self' data:; worker-src 'self' blob:; "
                                "font-src 'self' data:"},
};

static const ss_http_header_t docs_asset_headers[] = {
    {"Content-Type", "text/javascript; charset=utf-8"},
    {"Cache-Control", "public, max-age=86400"},
    {"X-Content-Type-Options", "nosniff"},
};

/* Absolute URLs: the router also serves this page as /docs/, where relative ones would break. */
static const char docs_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>shopstream HTTP API</title>\n"
    "<style>body { margin: 0; padding: 0; }</style>\n"
    "</head>\n"
    "<body>\n"
    "<redoc spec-url=\"/openapi.json\" hide-hostname=\"true\"></redoc>\n"
    "<script src=\"/docs/redoc.standalone.js\"></script>\n"
    "</body>\n"
    "</html>\n";

ss_err_t ss_ingress_text_file_read(const char *path, size_t bytes_max, char **out,
                                   size_t *length_out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    *out = NULL;
    *length_out = 0;
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "could not open %s: %s", path,
                          strerror(errno));
    }
    char *text = malloc(bytes_max + 1);
    if (text == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate %zu bytes",
                         bytes_max + 1);
        goto cleanup;
    }
    size_t length = fread(text, 1, bytes_max + 1, file);
    if (ferror(file)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not read %s", path);
        goto cleanup;
    }
    if (length > bytes_max) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s is over %zu bytes", path,
                         bytes_max);
        goto cleanup;
    }
    /* Answers are sent as NUL-terminated text (ss/http.h). */
    if (memchr(text, '\0', length) != NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s contains a NUL byte", path);
        goto cleanup;
    }
    text[length] = '\0';
    /* Give back what the buffer has beyond the text; keeping it is harmless. */
    char *shrunk = realloc(text, length + 1);
    *out = shrunk != NULL ? shrunk : text;
    *length_out = length;
    text = NULL;

cleanup:
    free(text);
    fclose(file);
    return err;
}

static void docs_page_get(ss_http_request_t *req, void *context)
{
    (void)context;
    (void)ss_http_respond_json_headers(req, 200, docs_page, docs_page_headers,
                                       sizeof(docs_page_headers) / sizeof(docs_page_headers[0]));
}

static void docs_asset_get(ss_http_request_t *req, void *context)
{
    const ss_ingress_t *ingress = context;
    if (ingress->docs_asset == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL,
                                 "the API page's script could not be read at start-up", NULL);
        return;
    }
    (void)ss_http_respond_json_headers(req, 200, ingress->docs_asset, docs_asset_headers,
                                       sizeof(docs_asset_headers) / sizeof(docs_asset_headers[0]));
}

const ss_http_route_t ss_ingress_docs_routes[] = {
    {SS_HTTP_METHOD_GET, "/docs", docs_page_get},
    {SS_HTTP_METHOD_GET, "/docs/redoc.standalone.js", docs_asset_get},
};
const size_t ss_ingress_docs_routes_count =
    sizeof(ss_ingress_docs_routes) / sizeof(ss_ingress_docs_routes[0]);
