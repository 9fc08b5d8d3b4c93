/*
 * Unit tests for the pure parts of lib/src/redis.c: URL parsing (defaults, credentials, IPv6,
 * clear refusals) and argument checks that fail before any connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/redis.h"

#include <string.h>

static void test_full_url_parses_host_port_and_db(void **state)
{
    (void)state;
    ss_redis_url_t url;
    char errstr[256];
    assert_int_equal(ss_redis_url_parse("redis://127.0.0.1:16379/0", &url, errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(url.host, "127.0.0.1");
    assert_int_equal(url.port, 16379);
    assert_int_equal(url.db, 0);
    assert_string_equal(url.password, "");
    assert_string_equal(url.username, "");

    assert_int_equal(
        ss_redis_url_parse("redis://cache.internal:7000/15", &url, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(url.host, "cache.internal");
    assert_int_equal(url.port, 7000);
    assert_int_equal(url.db, 15);
}

static void test_port_and_db_default_to_6379_and_0(void **state)
{
    (void)state;
    ss_redis_url_t url;
    char errstr[256];
    const char *forms[] = {"redis://localhost", "redis://localhost/"};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        assert_int_equal(ss_redis_url_parse(forms[i], &url, errstr, sizeof(errstr)), SS_OK);
        assert_string_equal(url.host, "localhost");
        assert_int_equal(url.port, 6379);
        assert_int_equal(url.db, 0);
    }
    assert_int_equal(ss_redis_url_parse("redis://h/3", &url, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(url.port, 6379);
    assert_int_equal(url.db, 3);
}

static void test_credentials_are_parsed_and_percent_decoded(void **state)
{
    (void)state;
    ss_redis_url_t url;
    char errstr[256];
    assert_int_equal(ss_redis_url_parse("redis://:s3cret@h:1/2", &url, errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(url.username, "");
    assert_string_equal(url.password, "s3cret");
    assert_string_equal(url.host, "h");
    assert_int_equal(url.port, 1);
    assert_int_equal(url.db, 2);

    assert_int_equal(
        ss_redis_url_parse("redis://app:p%40ss%3Aw0rd@h", &url, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(url.username, "app");
    assert_string_equal(url.password, "p@ss:w0rd");

    /* The last '@' ends the credentials. */
    assert_int_equal(ss_redis_url_parse("redis://:a@b@h", &url, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(url.password, "a@b");
    assert_string_equal(url.host, "h");
}

static void test_bracketed_ipv6_host_is_unwrapped(void **state)
{
    (void)state;
    ss_redis_url_t url;
    char errstr[256];
    assert_int_equal(ss_redis_url_parse("redis://[::1]:6380/1", &url, errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(url.host, "::1");
    assert_int_equal(url.port, 6380);
    assert_int_equal(url.db, 1);
    assert_int_equal(ss_redis_url_parse("redis://[::1]", &url, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(url.port, 6379);
}

typedef struct bad_url {
    const char *url;
    const char *reason; /* a fragment the error message must contain */
} bad_url_t;

static void test_malformed_urls_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const bad_url_t cases[] = {
        {"", "empty"},
        {"http://h:1/0", "must start with redis://"},
        {"rediss://h:1/0", "tls"},
        {"redis://", "missing host"},
        {"redis://:6379/0", "missing host"},
        {"redis://h:/0", "port"},
        {"redis://h:0/0", "port"},
        {"redis://h:65536/0", "port"},
        {"redis://h:12ab/0", "port"},
        {"redis://h:-1/0", "port"},
        {"redis://h/16", "database"},
        {"redis://h/-1", "database"},
        {"redis://h/1/2", "database"},
        {"redis://h/x", "database"},
        {"redis://h?db=1", "query"},
        {"redis://user@h", "password"},
        {"redis://:@h", "empty password"},
        {"redis://:%zz@h", "percent"},
        {"redis://:%4@h", "percent"},
        {"redis://:%00@h", "%00"},
        {"redis://[::1/0", "]"},
        {"redis://[::1]x/0", "port"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ss_redis_url_t url;
        char errstr[256] = "";
        ss_err_t err = ss_redis_url_parse(cases[i].url, &url, errstr, sizeof(errstr));
        if (err != SS_ERR_INVALID) {
            fail_msg("url \"%s\" gave %s, expected invalid", cases[i].url, ss_err_name(err));
        }
        if (strstr(errstr, cases[i].reason) == NULL) {
            fail_msg("url \"%s\": message \"%s\" lacks \"%s\"", cases[i].url, errstr,
                     cases[i].reason);
        }
    }
    ss_redis_url_t url;
    char errstr[256];
    assert_int_equal(ss_redis_url_parse(NULL, &url, errstr, sizeof(errstr)), SS_ERR_INVALID);
}

static void test_overlong_host_is_refused(void **state)
{
    (void)state;
    char text[SS_REDIS_HOST_MAX + 64];
    memset(text, 0, sizeof(text));
    strcpy(text, "redis://");
    memset(text + 8, 'a', SS_REDIS_HOST_MAX + 1);
    ss_redis_url_t url;
    char errstr[256];
    assert_int_equal(ss_redis_url_parse(text, &url, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "host longer"));
    /* Exactly the limit is fine. */
    text[8 + SS_REDIS_HOST_MAX] = '\0';
    assert_int_equal(ss_redis_url_parse(text, &url, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(strlen(url.host), SS_REDIS_HOST_MAX);
}

static void test_connect_with_bad_url_or_timeout_is_invalid(void **state)
{
    (void)state;
    char errstr[256];
    ss_redis_t *redis = (ss_redis_t *)&errstr; /* must be overwritten with NULL */
    assert_int_equal(ss_redis_connect("http://h", 100, &redis, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(redis);
    assert_int_equal(ss_redis_connect("redis://127.0.0.1:1/0", 0, &redis, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    ss_redis_destroy(NULL);
}

static void test_connect_to_a_closed_port_is_retriable(void **state)
{
    (void)state;
    char errstr[256];
    ss_redis_t *redis = NULL;
    /* Port 1 on loopback: nothing listens, the kernel refuses at once. */
    assert_int_equal(
        ss_redis_connect("redis://127.0.0.1:1/0", 1000, &redis, errstr, sizeof(errstr)),
        SS_ERR_RETRIABLE);
    assert_null(redis);
    assert_non_null(strstr(errstr, "could not connect to redis at 127.0.0.1:1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_url_parses_host_port_and_db),
        cmocka_unit_test(test_port_and_db_default_to_6379_and_0),
        cmocka_unit_test(test_credentials_are_parsed_and_percent_decoded),
        cmocka_unit_test(test_bracketed_ipv6_host_is_unwrapped),
        cmocka_unit_test(test_malformed_urls_are_refused_with_a_reason),
        cmocka_unit_test(test_overlong_host_is_refused),
        cmocka_unit_test(test_connect_with_bad_url_or_timeout_is_invalid),
        cmocka_unit_test(test_connect_to_a_closed_port_is_retriable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
