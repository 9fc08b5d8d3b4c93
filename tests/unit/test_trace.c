/*
 * Unit tests for lib/src/trace.c: the request id's definition, W3C traceparent parsing as a
 * receiver must do it, our hop's traceparent, the headers JSON and the log context.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/log.h"
#include "ss/trace.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define VALID_PARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_request_id_is_one_to_128_safe_characters(void **state)
{
    (void)state;
    const char *valid[] = {"a", "0-1700000000000-42", "req.ID_7:x-y",
                           "550e8400-e29b-41d4-a716-446655440000"};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        assert_true(ss_trace_request_id_valid(valid[i], strlen(valid[i])));
    }
    const char *invalid[] = {"", "a b", "a=b", "a\"b", "a/b", "caf\xc3\xa9", "a\nb", "a+b"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_false(ss_trace_request_id_valid(invalid[i], strlen(invalid[i])));
    }
    char longest[SS_TRACE_REQUEST_ID_MAX + 1];
    memset(longest, 'x', sizeof(longest));
    assert_true(ss_trace_request_id_valid(longest, SS_TRACE_REQUEST_ID_MAX));
    assert_false(ss_trace_request_id_valid(longest, SS_TRACE_REQUEST_ID_MAX + 1));
    assert_false(ss_trace_request_id_valid(NULL, 0));
}

static void test_valid_traceparent_parses_into_its_parts(void **state)
{
    (void)state;
    ss_traceparent_t parent;
    assert_int_equal(ss_trace_parent_parse(VALID_PARENT, &parent), SS_OK);
    assert_string_equal(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_equal(parent.parent_id, "00f067aa0ba902b7");
    assert_int_equal(parent.flags, 1);
    char formatted[SS_TRACE_PARENT_SIZE];
    ss_trace_parent_format(&parent, formatted);
    assert_string_equal(formatted, VALID_PARENT);
}

static void test_traceparent_that_breaks_the_specification_is_refused(void **state)
{
    (void)state;
    const char *invalid[] = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* short */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* 00 has nothing more */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* forbidden version */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace-id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero parent-id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* upper case */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* separator */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",  /* flags not hex */
        "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* version not hex */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* later version, no '-' */
    };
    ss_traceparent_t parent;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        assert_int_equal(ss_trace_parent_parse(invalid[i], &parent), SS_ERR_INVALID);
    }
    assert_int_equal(ss_trace_parent_parse(NULL, &parent), SS_ERR_INVALID);
}

static void test_later_version_is_read_by_its_version_00_fields(void **state)
{
    (void)state;
    ss_traceparent_t parent;
    assert_int_equal(
        ss_trace_parent_parse(
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-adds",
            &parent),
        SS_OK);
    assert_string_equal(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_int_equal(
        ss_trace_parent_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent),
        SS_OK);
}

static void test_our_hop_keeps_the_trace_and_sampled_flag_with_a_new_parent_id(void **state)
{
    (void)state;
    char ours[SS_TRACE_PARENT_SIZE];
    assert_int_equal(
        ss_trace_parent_continue("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", ours),
        SS_OK);
    ss_traceparent_t parent;
    assert_int_equal(ss_trace_parent_parse(ours, &parent), SS_OK);
    assert_string_equal(parent.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_string_not_equal(parent.parent_id, "00f067aa0ba902b7");
    assert_int_equal(parent.flags, 1);
}

static void test_missing_or_invalid_traceparent_starts_a_new_trace(void **state)
{
    (void)state;
    char first[SS_TRACE_PARENT_SIZE], second[SS_TRACE_PARENT_SIZE];
    assert_int_equal(ss_trace_parent_continue(NULL, first), SS_OK);
    assert_int_equal(ss_trace_parent_continue("garbage", second), SS_OK);
    ss_traceparent_t a, b;
    assert_int_equal(ss_trace_parent_parse(first, &a), SS_OK);
    assert_int_equal(ss_trace_parent_parse(second, &b), SS_OK);
    assert_string_not_equal(a.trace_id, b.trace_id);
    assert_int_equal(a.flags, 0);
    char trace_id[SS_TRACE_ID_HEX + 1];
    ss_trace_id_of(first, trace_id);
    assert_string_equal(trace_id, a.trace_id);
}

static void test_random_hex_has_the_digits_asked_for(void **state)
{
    (void)state;
    char out[SS_TRACE_ID_HEX + 1];
    assert_int_equal(ss_trace_random_hex(out, SS_TRACE_ID_HEX), SS_OK);
    assert_int_equal(strlen(out), SS_TRACE_ID_HEX);
    assert_int_equal(strspn(out, "0123456789abcdef"), SS_TRACE_ID_HEX);
    assert_true(ss_trace_request_id_valid(out, strlen(out)));
}

static void test_headers_json_names_only_what_is_there(void **state)
{
    (void)state;
    ss_trace_t trace = {.request_id = "r-1", .traceparent = VALID_PARENT};
    char json[SS_TRACE_HEADERS_JSON_SIZE];
    ss_trace_headers_json(&trace, json, sizeof(json));
    assert_string_equal(json, "{\"ss-request-id\":\"r-1\",\"traceparent\":\"" VALID_PARENT "\"}");
    trace.traceparent[0] = '\0';
    ss_trace_headers_json(&trace, json, sizeof(json));
    assert_string_equal(json, "{\"ss-request-id\":\"r-1\"}");
    trace.request_id[0] = '\0';
    ss_trace_headers_json(&trace, json, sizeof(json));
    assert_string_equal(json, "");
    ss_kafka_header_t headers[SS_TRACE_KAFKA_HEADERS_MAX];
    assert_int_equal(ss_trace_kafka_headers(&trace, headers), 0);
    snprintf(trace.traceparent, sizeof(trace.traceparent), "%s", VALID_PARENT);
    assert_int_equal(ss_trace_kafka_headers(&trace, headers), 1);
    assert_string_equal(headers[0].name, "traceparent");
    assert_int_equal(headers[0].value_length, SS_TRACE_PARENT_LENGTH);
}

static void test_trace_from_text_keeps_only_valid_fields(void **state)
{
    (void)state;
    static const char parent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    static const char later[] = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x";
    ss_trace_t trace;
    /* Lengths are honoured: the id's text goes on past its length. */
    ss_trace_from_text("client-7 and more", 8, parent, strlen(parent), &trace);
    assert_string_equal(trace.request_id, "client-7");
    assert_string_equal(trace.traceparent, parent);
    /* A later version is kept in its version-00 form. */
    ss_trace_from_text(NULL, 0, later, strlen(later), &trace);
    assert_string_equal(trace.request_id, "");
    assert_string_equal(trace.traceparent, parent);
    /* Not valid or absent: "" (a space is not a request id character, "" is not a trace). */
    ss_trace_from_text("two words", 9, "", 0, &trace);
    assert_string_equal(trace.request_id, "");
    assert_string_equal(trace.traceparent, "");
    ss_trace_from_text("ok", 2, "00-00000000000000000000000000000000-00f067aa0ba902b7-01", 55,
                       &trace);
    assert_string_equal(trace.request_id, "ok");
    assert_string_equal(trace.traceparent, "");
    ss_trace_from_text(NULL, 0, NULL, 0, &trace);
    assert_string_equal(trace.request_id, "");
    assert_string_equal(trace.traceparent, "");
}

static void test_log_lines_of_the_thread_end_with_the_request_context(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ss_log_fd_set(fds[1]);
    ss_trace_t trace = {.request_id = "r-42", .traceparent = VALID_PARENT};
    ss_trace_log_enter(&trace);
    SS_LOG_WARN("worker", "dead letter offset=%d", 7);
    ss_trace_log_leave();
    SS_LOG_WARN("worker", "poll failed");
    ss_log_fd_set(2);
    char lines[1024];
    ssize_t got = read(fds[0], lines, sizeof(lines) - 1);
    assert_true(got > 0);
    lines[got] = '\0';
    assert_non_null(strstr(lines, "dead letter offset=7 request_id=r-42"
                                  " trace_id=4bf92f3577b34da6a3ce929d0e0e4736\n"));
    assert_non_null(strstr(lines, "poll failed\n"));
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_id_is_one_to_128_safe_characters),
        cmocka_unit_test(test_valid_traceparent_parses_into_its_parts),
        cmocka_unit_test(test_traceparent_that_breaks_the_specification_is_refused),
        cmocka_unit_test(test_later_version_is_read_by_its_version_00_fields),
        cmocka_unit_test(test_our_hop_keeps_the_trace_and_sampled_flag_with_a_new_parent_id),
        cmocka_unit_test(test_missing_or_invalid_traceparent_starts_a_new_trace),
        cmocka_unit_test(test_random_hex_has_the_digits_asked_for),
        cmocka_unit_test(test_headers_json_names_only_what_is_there),
        cmocka_unit_test(test_trace_from_text_keeps_only_valid_fields),
        cmocka_unit_test(test_log_lines_of_the_thread_end_with_the_request_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
