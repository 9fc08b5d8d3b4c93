/*
 * Unit tests for the pure parts of lib/src/pg.c: SQLSTATE classification, the array literal
 * builder and its escaping, the result getters (on results built in memory with libpq's
 * PQmakeEmptyPGresult, no server) and argument checks that fail before any connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/pg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- classification ---------------------------------------------------------------------- */

typedef struct sqlstate_case {
    const char *sqlstate;
    ss_err_t expected;
} sqlstate_case_t;

static void test_sqlstates_classify_as_documented(void **state)
{
    (void)state;
    static const sqlstate_case_t cases[] = {
        {"08000", SS_ERR_RETRIABLE}, /* connection_exception */
        {"08003", SS_ERR_RETRIABLE}, /* connection_does_not_exist */
        {"08006", SS_ERR_RETRIABLE}, /* connection_failure */
        {"08P01", SS_ERR_RETRIABLE}, /* protocol_violation */
        {"40001", SS_ERR_RETRIABLE}, /* serialization_failure */
        {"40P01", SS_ERR_RETRIABLE}, /* deadlock_detected */
        {"55P03", SS_ERR_RETRIABLE}, /* lock_not_available */
        {"57P01", SS_ERR_RETRIABLE}, /* admin_shutdown */
        {"57P02", SS_ERR_RETRIABLE}, /* crash_shutdown */
        {"57P03", SS_ERR_RETRIABLE}, /* cannot_connect_now */
        {"53000", SS_ERR_RETRIABLE}, /* insufficient_resources */
        {"53100", SS_ERR_RETRIABLE}, /* disk_full */
        {"53200", SS_ERR_RETRIABLE}, /* out_of_memory */
        {"53300", SS_ERR_RETRIABLE}, /* too_many_connections */
        {"23505", SS_ERR_CONFLICT},  /* unique_violation */
        {"23502", SS_ERR_INVALID},   /* not_null_violation */
        {"23503", SS_ERR_INVALID},   /* foreign_key_violation */
        {"23514", SS_ERR_INVALID},   /* check_violation */
        {"23P01", SS_ERR_INVALID},   /* exclusion_violation */
        {"22001", SS_ERR_INVALID},   /* string_data_right_truncation */
        {"22003", SS_ERR_INVALID},   /* numeric_value_out_of_range */
        {"22P02", SS_ERR_INVALID},   /* invalid_text_representation */
        {"42601", SS_ERR_FATAL},     /* syntax_error */
        {"42P01", SS_ERR_FATAL},     /* undefined_table */
        {"40002", SS_ERR_FATAL},     /* transaction_integrity_constraint_violation */
        {"55000", SS_ERR_FATAL},     /* object_not_in_prerequisite_state */
        {"57014", SS_ERR_FATAL},     /* query_canceled */
        {"XX000", SS_ERR_FATAL},     /* internal_error */
        {"25P02", SS_ERR_FATAL},     /* in_failed_sql_transaction */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ss_err_t got = ss_pg_classify_sqlstate(cases[i].sqlstate);
        if (got != cases[i].expected) {
            fail_msg("sqlstate %s: got %s, expected %s", cases[i].sqlstate, ss_err_name(got),
                     ss_err_name(cases[i].expected));
        }
    }
}

static void test_missing_or_malformed_sqlstate_is_fatal(void **state)
{
    (void)state;
    assert_int_equal(ss_pg_classify_sqlstate(NULL), SS_ERR_FATAL);
    assert_int_equal(ss_pg_classify_sqlstate(""), SS_ERR_FATAL);
    assert_int_equal(ss_pg_classify_sqlstate("0800"), SS_ERR_FATAL);
    assert_int_equal(ss_pg_classify_sqlstate("080001"), SS_ERR_FATAL);
    assert_int_equal(ss_pg_classify_sqlstate("08x01"), SS_ERR_FATAL);
    assert_int_equal(ss_pg_classify_sqlstate("2350"), SS_ERR_FATAL);
}

/* ---- array builder ----------------------------------------------------------------------- */

static void test_empty_array_is_braces(void **state)
{
    (void)state;
    ss_pg_array_t array;
    ss_pg_array_init(&array);
    assert_string_equal(ss_pg_array_text(&array), "{}");
    assert_int_equal(ss_pg_array_count(&array), 0);
    ss_pg_array_free(&array);
}

static void test_int64_elements_are_unquoted_and_cover_the_range(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    assert_int_equal(ss_pg_array_append_int64(&array, 1, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_int64(&array, -2, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_int64(&array, INT64_MAX, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_int64(&array, INT64_MIN, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_null(&array, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_array_text(&array),
                        "{1,-2,9223372036854775807,-9223372036854775808,NULL}");
    assert_int_equal(ss_pg_array_count(&array), 5);
    ss_pg_array_free(&array);
}

static void test_text_elements_escape_quote_and_backslash(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    assert_int_equal(ss_pg_array_append_text(&array, "a\"b", errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_text(&array, "c\\d", errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_text(&array, "\\\"", errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_array_text(&array), "{\"a\\\"b\",\"c\\\\d\",\"\\\\\\\"\"}");
    ss_pg_array_free(&array);
}

static void test_text_that_looks_special_is_quoted_so_it_stays_text(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    const char *tricky[] = {"",    "NULL",      "null",      " ",    "a,b",
                            "{x}", "tab\there", "new\nline", "héllo"};
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        assert_int_equal(ss_pg_array_append_text(&array, tricky[i], errstr, sizeof(errstr)), SS_OK);
    }
    assert_string_equal(ss_pg_array_text(&array), "{\"\",\"NULL\",\"null\",\" \",\"a,b\",\"{x}\","
                                                  "\"tab\there\",\"new\nline\",\"héllo\"}");
    ss_pg_array_free(&array);
}

static void test_null_text_pointer_becomes_sql_null(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    assert_int_equal(ss_pg_array_append_text(&array, "x", errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_text(&array, NULL, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_text_n(&array, NULL, 5, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_array_text(&array), "{\"x\",NULL,NULL}");
    ss_pg_array_free(&array);
}

static void test_text_n_takes_exactly_length_bytes(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    assert_int_equal(ss_pg_array_append_text_n(&array, "abcdef", 3, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_array_text(&array), "{\"abc\"}");
    ss_pg_array_free(&array);
}

static void test_text_with_nul_byte_fails_the_array_until_reset(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    assert_int_equal(ss_pg_array_append_int64(&array, 7, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_text_n(&array, "a\0b", 3, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "NUL"));
    /* A batch can never go out with the element silently missing. */
    assert_null(ss_pg_array_text(&array));
    assert_int_not_equal(ss_pg_array_append_int64(&array, 8, errstr, sizeof(errstr)), SS_OK);
    assert_null(ss_pg_array_text(&array));
    ss_pg_array_reset(&array);
    assert_int_equal(ss_pg_array_append_int64(&array, 9, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_array_text(&array), "{9}");
    ss_pg_array_free(&array);
}

static void test_bytea_elements_are_hex_with_escaped_backslash(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    static const unsigned char bytes[] = {0x00, 0x0a, 0xc3, 0xff};
    ss_pg_array_init(&array);
    assert_int_equal(ss_pg_array_append_bytea(&array, bytes, sizeof(bytes), errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_pg_array_append_bytea(&array, bytes, 0, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_array_append_bytea(&array, NULL, 0, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_array_text(&array), "{\"\\\\x000ac3ff\",\"\\\\x\",NULL}");
    ss_pg_array_free(&array);
}

static void test_reset_keeps_the_buffer_for_the_next_batch(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    ss_pg_array_init(&array);
    for (int64_t i = 0; i < 1000; i++) {
        assert_int_equal(ss_pg_array_append_int64(&array, i, errstr, sizeof(errstr)), SS_OK);
    }
    const char *buffer_before = ss_pg_array_text(&array);
    size_t capacity_before = array.capacity;
    ss_pg_array_reset(&array);
    assert_string_equal(ss_pg_array_text(&array), "{}");
    assert_int_equal(ss_pg_array_count(&array), 0);
    for (int64_t i = 0; i < 1000; i++) {
        assert_int_equal(ss_pg_array_append_int64(&array, i, errstr, sizeof(errstr)), SS_OK);
    }
    /* The same bytes again fit the same allocation: no growth in the steady state. */
    assert_ptr_equal(ss_pg_array_text(&array), buffer_before);
    assert_int_equal(array.capacity, capacity_before);
    ss_pg_array_free(&array);
    assert_null(array.buffer);
    assert_string_equal(ss_pg_array_text(&array), "{}");
}

static void test_large_array_grows_and_stays_well_formed(void **state)
{
    (void)state;
    ss_pg_array_t array;
    char errstr[128];
    char element[64];
    ss_pg_array_init(&array);
    for (int i = 0; i < 20000; i++) {
        snprintf(element, sizeof(element), "item \"%d\" \\", i);
        assert_int_equal(ss_pg_array_append_text(&array, element, errstr, sizeof(errstr)), SS_OK);
    }
    const char *text = ss_pg_array_text(&array);
    size_t length = strlen(text);
    assert_int_equal(text[0], '{');
    assert_int_equal(text[length - 1], '}');
    assert_int_equal(length, array.length);
    assert_non_null(strstr(text, ",\"item \\\"19999\\\" \\\\\"}"));
    assert_int_equal(ss_pg_array_count(&array), 20000);
    ss_pg_array_free(&array);
}

static void test_free_of_null_array_is_a_no_op(void **state)
{
    (void)state;
    ss_pg_array_free(NULL);
    ss_pg_destroy(NULL);
}

/* ---- result getters ---------------------------------------------------------------------- */

/* A result with columns (n text, flag text) and the given rows; NULL values are SQL NULL. */
static PGresult *make_result(const char *const (*rows)[2], int row_count)
{
    PGresult *result = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(result);
    PGresAttDesc columns[2];
    memset(columns, 0, sizeof(columns));
    columns[0].name = (char *)"n";
    columns[0].typid = 25;
    columns[0].typlen = -1;
    columns[0].atttypmod = -1;
    columns[1].name = (char *)"flag";
    columns[1].typid = 25;
    columns[1].typlen = -1;
    columns[1].atttypmod = -1;
    assert_int_equal(PQsetResultAttrs(result, 2, columns), 1);
    for (int row = 0; row < row_count; row++) {
        for (int column = 0; column < 2; column++) {
            const char *value = rows[row][column];
            int length = value != NULL ? (int)strlen(value) : -1;
            assert_int_equal(PQsetvalue(result, row, column, (char *)value, length), 1);
        }
    }
    return result;
}

static void test_getters_parse_values_and_refuse_null_garbage_and_bad_positions(void **state)
{
    (void)state;
    static const char *const rows[][2] = {
        {"42", "t"},  {"-9223372036854775808", "f"}, {NULL, NULL},        {"12abc", "yes"},
        {"", "t"},    {"99999999999999999999", "t"}, {"2147483648", "t"}, {"3.25", "t"},
        {"inf", "t"},
    };
    PGresult *result = make_result(rows, 9);
    char errstr[256];
    int64_t value = 0;
    int32_t small = 0;
    bool flag = false;
    double number = 0;
    const char *text = NULL;

    assert_int_equal(ss_pg_get_int64(result, 0, 0, &value, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(value, 42);
    assert_int_equal(ss_pg_get_int64(result, 1, 0, &value, errstr, sizeof(errstr)), SS_OK);
    assert_true(value == INT64_MIN);
    assert_int_equal(ss_pg_get_bool(result, 0, 1, &flag, errstr, sizeof(errstr)), SS_OK);
    assert_true(flag);
    assert_int_equal(ss_pg_get_bool(result, 1, 1, &flag, errstr, sizeof(errstr)), SS_OK);
    assert_false(flag);
    assert_int_equal(ss_pg_get_text(result, 3, 1, &text, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(text, "yes");
    assert_int_equal(ss_pg_get_int32(result, 0, 0, &small, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(small, 42);
    assert_int_equal(ss_pg_get_double(result, 7, 0, &number, errstr, sizeof(errstr)), SS_OK);
    assert_true(number == 3.25);

    /* SQL NULL */
    assert_true(ss_pg_is_null(result, 2, 0));
    assert_false(ss_pg_is_null(result, 0, 0));
    assert_int_equal(ss_pg_get_int64(result, 2, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "null"));
    assert_int_equal(ss_pg_get_text(result, 2, 1, &text, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_null(text);
    /* Parse failures */
    assert_int_equal(ss_pg_get_int64(result, 3, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(result, 4, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(result, 5, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(result, 7, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int32(result, 6, 0, &small, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_bool(result, 3, 1, &flag, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_double(result, 8, 0, &number, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    /* Out of range positions and a missing result */
    assert_int_equal(ss_pg_get_int64(result, 9, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(result, -1, 0, &value, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(result, 0, 2, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(NULL, 0, 0, &value, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_true(ss_pg_is_null(NULL, 0, 0));
    PQclear(result);
}

/* ---- arguments checked before any connection --------------------------------------------- */

static void test_connect_with_malformed_dsn_is_invalid(void **state)
{
    (void)state;
    char errstr[256];
    ss_pg_t *pg = (ss_pg_t *)&errstr; /* must be overwritten with NULL */
    assert_int_equal(ss_pg_connect("host=a nosuchoption=1", "t", 5, &pg, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(pg);
    assert_non_null(strstr(errstr, "invalid dsn"));
    assert_int_equal(ss_pg_connect("postgresql://h/db", "t", 0, &pg, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_pg_connect("", "t", 5, &pg, errstr, sizeof(errstr)), SS_ERR_INVALID);
}

static void test_connect_to_a_closed_port_is_retriable(void **state)
{
    (void)state;
    char errstr[512];
    ss_pg_t *pg = NULL;
    /* Port 1 on loopback: nothing listens, the kernel refuses at once. */
    assert_int_equal(
        ss_pg_connect("postgresql://u@127.0.0.1:1/db", "unit", 2, &pg, errstr, sizeof(errstr)),
        SS_ERR_RETRIABLE);
    assert_null(pg);
    assert_non_null(strstr(errstr, "could not connect to postgresql"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlstates_classify_as_documented),
        cmocka_unit_test(test_missing_or_malformed_sqlstate_is_fatal),
        cmocka_unit_test(test_empty_array_is_braces),
        cmocka_unit_test(test_int64_elements_are_unquoted_and_cover_the_range),
        cmocka_unit_test(test_text_elements_escape_quote_and_backslash),
        cmocka_unit_test(test_text_that_looks_special_is_quoted_so_it_stays_text),
        cmocka_unit_test(test_null_text_pointer_becomes_sql_null),
        cmocka_unit_test(test_text_n_takes_exactly_length_bytes),
        cmocka_unit_test(test_text_with_nul_byte_fails_the_array_until_reset),
        cmocka_unit_test(test_bytea_elements_are_hex_with_escaped_backslash),
        cmocka_unit_test(test_reset_keeps_the_buffer_for_the_next_batch),
        cmocka_unit_test(test_large_array_grows_and_stays_well_formed),
        cmocka_unit_test(test_free_of_null_array_is_a_no_op),
        cmocka_unit_test(test_getters_parse_values_and_refuse_null_garbage_and_bad_positions),
        cmocka_unit_test(test_connect_with_malformed_dsn_is_invalid),
        cmocka_unit_test(test_connect_to_a_closed_port_is_retriable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
