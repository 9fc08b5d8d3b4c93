/*
 * The ingress's API page (producers/ingress/docs.c), run without a socket through
 * ss_http_router_dispatch(): GET /docs is HTML that loads the script and the document from the
 * ingress itself, the script is served from what was read at start-up (500 when nothing was),
 * other /docs paths are 404, and the start-up reader refuses what it cannot serve. The page's
 * rendering in a browser is tests/scripts/test_docs_page.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ingress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERRSTR_SIZE 512

typedef struct fixture {
    ss_ingress_t ingress; /* only docs_asset is used by the routes under test */
    ss_http_router_t *router;
} fixture_t;

static int fixture_setup(void **state)
{
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    char errstr[ERRSTR_SIZE];
    assert_int_equal(ss_http_router_create(ss_ingress_docs_routes, ss_ingress_docs_routes_count,
                                           &fixture->ingress, &fixture->router, errstr,
                                           sizeof(errstr)),
                     SS_OK);
    *state = fixture;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture_t *fixture = *state;
    ss_http_router_destroy(fixture->router);
    free(fixture->ingress.docs_asset);
    free(fixture);
    return 0;
}

/* Dispatches GET target and returns the answered request; the caller finishes it. */
static ss_http_request_t *get(fixture_t *fixture, const char *target)
{
    ss_http_request_t *req = NULL;
    char errstr[ERRSTR_SIZE];
    assert_int_equal(
        ss_http_request_create("GET", target, NULL, 0, NULL, 0, &req, errstr, sizeof(errstr)),
        SS_OK);
    ss_http_router_dispatch(fixture->router, req);
    return req;
}

/* Writes length bytes of text to a new temporary file and returns its path (caller unlinks). */
static char *temporary_file(const char *text, size_t length)
{
    char *path = strdup("/tmp/test_ingress_docs_XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, length), (ssize_t)length);
    close(fd);
    return path;
}

static void test_page_is_html_that_loads_only_from_the_ingress(void **state)
{
    ss_http_request_t *req = get(*state, "/docs");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_response_header(req, "Content-Type"),
                        "text/html; charset=utf-8");
    assert_string_equal(ss_http_request_response_header(req, "Cache-Control"), "no-cache");
    const char *policy = ss_http_request_response_header(req, "Content-Security-Policy");
    assert_non_null(policy);
    assert_non_null(strstr(policy, "default-src 'self'"));
    const char *body = ss_http_request_response_body(req);
    assert_non_null(strstr(body, "<redoc spec-url=\"/openapi.json\""));
    assert_non_null(strstr(body, "<script src=\"/docs/redoc.standalone.js\"></script>"));
    assert_null(strstr(body, "http"));
    ss_http_request_finish(req);

    req = get(*state, "/docs/");
    assert_int_equal(ss_http_request_response_status(req), 200);
    ss_http_request_finish(req);
}

static void test_script_is_what_was_read_at_start_up(void **state)
{
    fixture_t *fixture = *state;
    fixture->ingress.docs_asset = strdup("window.Redoc = {};\n");
    assert_non_null(fixture->ingress.docs_asset);
    ss_http_request_t *req = get(fixture, "/docs/redoc.standalone.js");
    assert_int_equal(ss_http_request_response_status(req), 200);
    assert_string_equal(ss_http_request_response_header(req, "Content-Type"),
                        "text/javascript; charset=utf-8");
    assert_string_equal(ss_http_request_response_header(req, "Cache-Control"),
                        "public, max-age=86400");
    assert_string_equal(ss_http_request_response_body(req), "window.Redoc = {};\n");
    ss_http_request_finish(req);
}

static void test_script_not_read_at_start_up_is_500(void **state)
{
    ss_http_request_t *req = get(*state, "/docs/redoc.standalone.js");
    assert_int_equal(ss_http_request_response_status(req), 500);
    assert_non_null(strstr(ss_http_request_response_body(req), "\"error\":\"INTERNAL\""));
    ss_http_request_finish(req);
}

static void test_unknown_asset_is_404(void **state)
{
    ss_http_request_t *req = get(*state, "/docs/swagger-ui.js");
    assert_int_equal(ss_http_request_response_status(req), 404);
    assert_non_null(strstr(ss_http_request_response_body(req), "\"error\":\"NOT_FOUND\""));
    ss_http_request_finish(req);
}

static void test_reader_returns_the_text_and_its_length(void **state)
{
    (void)state;
    char *path = temporary_file("abc\n", 4);
    char *text = NULL;
    size_t length = 0;
    char errstr[ERRSTR_SIZE];
    assert_int_equal(ss_ingress_text_file_read(path, 4, &text, &length, errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(text, "abc\n");
    assert_int_equal(length, 4);
    free(text);
    unlink(path);
    free(path);
}

static void test_reader_refuses_a_nul_byte_a_large_file_and_a_missing_one(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char *text = NULL;
    size_t length = 0;
    char *path = temporary_file("a\0b", 3);
    assert_int_equal(ss_ingress_text_file_read(path, 100, &text, &length, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "contains a NUL byte"));
    assert_null(text);
    unlink(path);
    free(path);

    path = temporary_file("12345", 5);
    assert_int_equal(ss_ingress_text_file_read(path, 4, &text, &length, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "is over 4 bytes"));
    assert_null(text);
    unlink(path);
    free(path);

    assert_int_equal(ss_ingress_text_file_read("/nonexistent/redoc.js", 100, &text, &length, errstr,
                                               sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_null(text);
}

static void test_vendored_bundle_is_readable_by_the_ingress(void **state)
{
    (void)state;
    char *text = NULL;
    size_t length = 0;
    char errstr[ERRSTR_SIZE];
    ss_err_t err = ss_ingress_text_file_read(SS_SOURCE_DIR "/docs/vendor/redoc/redoc.standalone.js",
                                             SS_INGRESS_DOCS_ASSET_BYTES_MAX, &text, &length,
                                             errstr, sizeof(errstr));
    if (err != SS_OK) {
        fail_msg("%s", errstr);
    }
    assert_true(length > 100000);
    assert_non_null(strstr(text, "Redoc"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_page_is_html_that_loads_only_from_the_ingress,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_script_is_what_was_read_at_start_up, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_script_not_read_at_start_up_is_500, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_asset_is_404, fixture_setup, fixture_teardown),
        cmocka_unit_test(test_reader_returns_the_text_and_its_length),
        cmocka_unit_test(test_reader_refuses_a_nul_byte_a_large_file_and_a_missing_one),
        cmocka_unit_test(test_vendored_bundle_is_readable_by_the_ingress),
    };
    return cmocka_run_group_tests_name("ingress docs page", tests, NULL, NULL);
}
