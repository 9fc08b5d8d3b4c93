/*
 * Unit tests for lib/src/json.c: body parsing, every field reader's four outcomes (valid,
 * absent, wrong type, out of range) and their messages, the error prefix helper, and the
 * envelope builders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/json.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parses a literal test body, failing the test when it is not an object. */
static json_t *body(const char *text)
{
    char errstr[256] = "";
    json_t *object = NULL;
    if (ss_json_parse_object(text, strlen(text), &object, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("test body refused: %s", errstr);
    }
    return object;
}

static void assert_parse_refused(const char *text, size_t length, const char *message)
{
    char errstr[256] = "";
    json_t *object = (json_t *)&errstr;
    assert_int_equal(ss_json_parse_object(text, length, &object, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(object);
    if (strstr(errstr, message) == NULL) {
        fail_msg("message '%s' lacks '%s'", errstr, message);
    }
}

static void test_parse_accepts_an_object(void **state)
{
    (void)state;
    json_t *object = body("{\"amount\": 5, \"name\": \"\xea\xb9\x80\"}");
    assert_true(json_is_object(object));
    assert_int_equal(json_object_size(object), 2);
    json_decref(object);
}

static void test_parse_refuses_non_objects(void **state)
{
    (void)state;
    assert_parse_refused("[1,2]", 5, "the request body must be a JSON object, got an array");
    assert_parse_refused("42", 2, "the request body must be a JSON object, got an integer");
    assert_parse_refused("\"x\"", 3, "the request body must be a JSON object, got a string");
    assert_parse_refused("null", 4, "the request body must be a JSON object, got null");
    assert_parse_refused("", 0, "the request body is empty, a JSON object is expected");
    assert_parse_refused(NULL, 0, "the request body is empty");
}

static void test_parse_refuses_malformed_json(void **state)
{
    (void)state;
    assert_parse_refused("{\"amount\": }", 12, "malformed JSON at line 1, column 12: ");
    assert_parse_refused("{\"a\":1} x", 9, "end of file expected");
    assert_parse_refused("{\"a\":1,}", 8, "malformed JSON");
    assert_parse_refused("{'a':1}", 7, "malformed JSON");
    assert_parse_refused("{\"a\":NaN}", 9, "malformed JSON");
}

static void test_parse_refuses_invalid_utf8(void **state)
{
    (void)state;
    assert_parse_refused("{\"a\":\"\xff\"}", 9, "unable to decode byte 0xff");
    /* An overlong encoding of '/'. */
    assert_parse_refused("{\"a\":\"\xc0\xaf\"}", 10, "malformed JSON");
}

static void test_parse_refuses_duplicate_keys(void **state)
{
    (void)state;
    assert_parse_refused("{\"amount\":1,\"amount\":2}", 23, "duplicate object key");
}

static void test_parse_refuses_nul_in_keys_and_raw_nul_bytes(void **state)
{
    (void)state;
    assert_parse_refused("{\"a\\u0000\":1}", 13, "NUL byte in object key");
    assert_parse_refused("{\"a\":1}\0{", 9, "malformed JSON");
    assert_parse_refused("{\"a\":\"x\0y\"}", 11, "malformed JSON");
}

/* A \u0000 in a value is parsed so that the field reader can name the field in its refusal. */
static void test_nul_escape_in_a_value_is_refused_by_the_reader_naming_the_field(void **state)
{
    (void)state;
    json_t *object = body("{\"nickname\": \"a\\u0000b\", \"expiredAt\": \"\\u0000\"}");
    char errstr[128] = "";
    const char *value = NULL;
    assert_int_equal(
        ss_json_get_string(object, "nickname", true, 1, 100, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "nickname must not contain NUL characters");
    assert_null(value);
    int64_t ms = 0;
    assert_int_equal(ss_json_get_time(object, "expiredAt", true, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "expiredAt must not contain NUL characters");
    json_decref(object);
}

static void test_parse_uses_length_not_terminator(void **state)
{
    (void)state;
    const char text[] = "{\"a\":1}trailing";
    char errstr[128] = "";
    json_t *object = NULL;
    assert_int_equal(ss_json_parse_object(text, 7, &object, errstr, sizeof(errstr)), SS_OK);
    json_decref(object);
}

static void test_parse_refuses_excessive_depth(void **state)
{
    (void)state;
    enum { depth = 5000 };
    char *text = malloc(2 * depth + 16);
    assert_non_null(text);
    size_t used = 0;
    text[used++] = '{';
    memcpy(text + used, "\"a\":", 4);
    used += 4;
    for (int i = 0; i < depth; i++) {
        text[used++] = '[';
    }
    for (int i = 0; i < depth; i++) {
        text[used++] = ']';
    }
    text[used++] = '}';
    assert_parse_refused(text, used, "maximum parsing depth");
    free(text);
}

static void test_int_reads_a_value_in_range(void **state)
{
    (void)state;
    json_t *object = body("{\"amount\": 10000000, \"low\": 1, \"neg\": -5}");
    char errstr[128] = "";
    long long value = 0;
    assert_int_equal(
        ss_json_get_int(object, "amount", true, 1, 10000000, &value, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(value, 10000000);
    assert_int_equal(
        ss_json_get_int(object, "low", true, 1, 10000000, &value, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(value, 1);
    assert_int_equal(
        ss_json_get_int(object, "neg", true, LLONG_MIN, LLONG_MAX, &value, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(value, -5);
    json_decref(object);
}

static void test_int_missing_required_is_refused(void **state)
{
    (void)state;
    json_t *object = body("{\"other\": 1}");
    char errstr[128] = "";
    long long value = 77;
    assert_int_equal(
        ss_json_get_int(object, "amount", true, 1, 10000000, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "amount is required");
    assert_int_equal(value, 77);
    json_decref(object);
}

/* null is a value of the wrong type, not "absent": `"amount": null` never means the default. */
static void test_null_is_refused_as_a_wrong_type_required_or_optional(void **state)
{
    (void)state;
    json_t *object = body("{\"amount\": null}");
    char errstr[128] = "";
    long long value = 77;
    assert_int_equal(
        ss_json_get_int(object, "amount", true, 1, 10000000, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "amount must be an integer between 1 and 10000000, got null");
    assert_int_equal(
        ss_json_get_int(object, "amount", false, 1, 10000000, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "amount must be an integer between 1 and 10000000, got null");
    assert_int_equal(value, 77);
    json_decref(object);
}

/* The optional fields of the admin bodies: each refuses null with a message naming it. */
static void test_null_is_refused_by_every_reader(void **state)
{
    (void)state;
    static const char *const statuses[] = {"HOLD", "SELLING", "STOP_SELLING"};
    json_t *object = body("{\"v\": null}");
    char errstr[128] = "";
    size_t index = 1;
    assert_int_equal(
        ss_json_get_enum(object, "v", false, statuses, 3, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "v must be one of HOLD, SELLING, STOP_SELLING, got null");
    assert_int_equal(index, 1);
    const char *text = "default";
    assert_int_equal(ss_json_get_string(object, "v", false, 1, 10, &text, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "v must be a string of 1 to 10 characters, got null");
    assert_string_equal(text, "default");
    long long units = 0;
    assert_int_equal(
        ss_json_get_decimal(object, "v", false, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "v must be a number between 0.0001 and 1, got null");
    double number = 0;
    assert_int_equal(ss_json_get_number(object, "v", false, 0, 1, &number, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    int64_t ms = 0;
    assert_int_equal(ss_json_get_time(object, "v", false, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    bool flag = false;
    assert_int_equal(ss_json_get_bool(object, "v", false, &flag, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    json_t *inner = NULL;
    assert_int_equal(ss_json_get_array(object, "v", false, 0, 5, &inner, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_json_get_object(object, "v", false, &inner, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "v must be an object, got null");
    json_decref(object);
}

static void test_int_missing_optional_keeps_the_default(void **state)
{
    (void)state;
    json_t *object = body("{\"other\": 1}");
    char errstr[128] = "";
    long long value = 0;
    assert_int_equal(
        ss_json_get_int(object, "absent", false, 1, LLONG_MAX, &value, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(value, 0);
    json_decref(object);
}

static void test_int_refuses_reals_strings_and_booleans(void **state)
{
    (void)state;
    json_t *object =
        body("{\"a\": 1.0, \"b\": \"5\", \"c\": true, \"d\": 1e3, \"e\": [1], \"f\": {}}");
    static const struct {
        const char *name;
        const char *type;
    } cases[] = {{"a", "a real number"}, {"b", "a string"}, {"c", "a boolean"},
                 {"d", "a real number"}, {"e", "an array"}, {"f", "an object"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char errstr[128] = "";
        char expected[128];
        long long value = 0;
        assert_int_equal(ss_json_get_int(object, cases[i].name, true, 1, 10000000, &value, errstr,
                                         sizeof(errstr)),
                         SS_ERR_INVALID);
        snprintf(expected, sizeof(expected), "%s must be an integer between 1 and 10000000, got %s",
                 cases[i].name, cases[i].type);
        assert_string_equal(errstr, expected);
    }
    json_decref(object);
}

static void test_int_out_of_range_names_field_and_range(void **state)
{
    (void)state;
    json_t *object = body("{\"amount\": 0, \"big\": 10000001}");
    char errstr[128] = "";
    long long value = 0;
    assert_int_equal(
        ss_json_get_int(object, "amount", true, 1, 10000000, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "amount must be an integer between 1 and 10000000, got 0");
    assert_int_equal(
        ss_json_get_int(object, "big", true, 1, 10000000, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "big must be an integer between 1 and 10000000, got 10000001");
    assert_int_equal(
        ss_json_get_int(object, "amount", true, 1, LLONG_MAX, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "amount must be an integer of at least 1, got 0");
    assert_int_equal(
        ss_json_get_int(object, "big", true, LLONG_MIN, 5, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "big must be an integer of at most 5, got 10000001");
    json_decref(object);
}

static void test_int_beyond_64_bits_is_malformed_json(void **state)
{
    (void)state;
    const char *text = "{\"amount\": 99999999999999999999}";
    assert_parse_refused(text, strlen(text), "too big integer");
}

static void test_number_accepts_integers_and_reals(void **state)
{
    (void)state;
    json_t *object = body("{\"r\": 0.25, \"i\": 1, \"low\": 0}");
    char errstr[128] = "";
    double value = 0;
    assert_int_equal(ss_json_get_number(object, "r", true, 0, 1, &value, errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(value == 0.25);
    assert_int_equal(ss_json_get_number(object, "i", true, 0, 1, &value, errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(value == 1.0);
    assert_int_equal(
        ss_json_get_number(object, "low", true, 0.5, 1, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "low must be a number between 0.5 and 1, got 0");
    assert_int_equal(ss_json_get_number(object, "none", true, 0, 1, &value, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "none is required");
    value = 0.75;
    assert_int_equal(
        ss_json_get_number(object, "none", false, 0, 1, &value, errstr, sizeof(errstr)), SS_OK);
    assert_true(value == 0.75);
    json_decref(object);
}

static void test_number_refuses_strings(void **state)
{
    (void)state;
    json_t *object = body("{\"rate\": \"0.1\"}");
    char errstr[128] = "";
    double value = 0;
    assert_int_equal(
        ss_json_get_number(object, "rate", true, 0.1, 1, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "rate must be a number between 0.1 and 1, got a string");
    json_decref(object);
}

static void test_decimal_counts_exact_units(void **state)
{
    (void)state;
    json_t *object = body("{\"r\": 0.29, \"one\": 1, \"tiny\": 0.0001, \"e\": 2.9e-1}");
    char errstr[128] = "";
    long long units = 0;
    assert_int_equal(
        ss_json_get_decimal(object, "r", true, 4, 1, 10000, &units, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(units, 2900);
    /* The reason for this reader: in doubles floor(100 * 0.29) is 28, in units it is 29. */
    assert_int_equal(100 * units / 10000, 29);
    assert_int_equal(
        ss_json_get_decimal(object, "one", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(units, 10000);
    assert_int_equal(
        ss_json_get_decimal(object, "tiny", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(units, 1);
    assert_int_equal(
        ss_json_get_decimal(object, "e", true, 4, 1, 10000, &units, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(units, 2900);
    json_decref(object);
}

static void test_decimal_refuses_extra_places_range_and_type(void **state)
{
    (void)state;
    json_t *object =
        body("{\"fine\": 0.12345, \"zero\": 0, \"over\": 1.5, \"text\": \"0.1\", \"huge\": 1e300,"
             " \"bigint\": 9223372036854775807}");
    char errstr[128] = "";
    long long units = 42;
    assert_int_equal(
        ss_json_get_decimal(object, "fine", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "fine must have at most 4 decimal places, got 0.12345");
    assert_int_equal(
        ss_json_get_decimal(object, "zero", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "zero must be a number between 0.0001 and 1, got 0");
    assert_int_equal(
        ss_json_get_decimal(object, "over", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "over must be a number between 0.0001 and 1, got 1.5");
    assert_int_equal(
        ss_json_get_decimal(object, "text", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "text must be a number between 0.0001 and 1, got a string");
    assert_int_equal(
        ss_json_get_decimal(object, "huge", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "huge must be a number between 0.0001 and 1, got 1e+300");
    assert_int_equal(
        ss_json_get_decimal(object, "bigint", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr,
                        "bigint must be a number between 0.0001 and 1, got 9223372036854775807");
    assert_int_equal(
        ss_json_get_decimal(object, "none", true, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "none is required");
    assert_int_equal(
        ss_json_get_decimal(object, "none", false, 4, 1, 10000, &units, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(units, 42);
    json_decref(object);
}

static void test_decimal_formats_negative_bounds(void **state)
{
    (void)state;
    json_t *object = body("{\"delta\": -2.5}");
    char errstr[128] = "";
    long long units = 0;
    assert_int_equal(
        ss_json_get_decimal(object, "delta", true, 2, -150, 150, &units, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "delta must be a number between -1.5 and 1.5, got -2.5");
    assert_int_equal(
        ss_json_get_decimal(object, "delta", true, 1, -25, 0, &units, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(units, -25);
    json_decref(object);
}

static void test_string_length_counts_characters(void **state)
{
    (void)state;
    /* Three Hangul syllables: 9 bytes, 3 characters. */
    json_t *object =
        body("{\"nickname\": \"\xea\xb9\x80\xec\xb2\xa0\xec\x88\x98\", \"empty\": \"\"}");
    char errstr[128] = "";
    const char *value = NULL;
    assert_int_equal(
        ss_json_get_string(object, "nickname", true, 1, 3, &value, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(value, "\xea\xb9\x80\xec\xb2\xa0\xec\x88\x98");
    assert_int_equal(
        ss_json_get_string(object, "nickname", true, 1, 2, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "nickname must be a string of 1 to 2 characters, got 3 characters");
    assert_int_equal(
        ss_json_get_string(object, "empty", true, 1, 50, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "empty must be a string of 1 to 50 characters, got 0 characters");
    assert_int_equal(
        ss_json_get_string(object, "empty", true, 0, 50, &value, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(value, "");
    assert_int_equal(
        ss_json_get_string(object, "nickname", true, 5, 5, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr,
                        "nickname must be a string of exactly 5 characters, got 3 characters");
    assert_int_equal(
        ss_json_get_string(object, "nickname", true, 4, SIZE_MAX, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr,
                        "nickname must be a string of at least 4 characters, got 3 characters");
    json_decref(object);
}

static void test_string_refuses_other_types_and_absence(void **state)
{
    (void)state;
    json_t *object = body("{\"name\": 5}");
    char errstr[128] = "";
    const char *value = "default";
    assert_int_equal(
        ss_json_get_string(object, "name", true, 1, 50, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "name must be a string of 1 to 50 characters, got an integer");
    assert_int_equal(
        ss_json_get_string(object, "other", true, 1, 50, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "other is required");
    assert_int_equal(
        ss_json_get_string(object, "other", false, 1, 50, &value, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(value, "default");
    json_decref(object);
}

static void test_string_with_nul_built_in_code_is_refused(void **state)
{
    (void)state;
    /* As the parser leaves a \u0000 in a value, and as objects built in code carry it. */
    json_t *object = json_object();
    assert_int_equal(json_object_set_new(object, "name", json_stringn_nocheck("a\0b", 3)), 0);
    char errstr[128] = "";
    const char *value = NULL;
    assert_int_equal(
        ss_json_get_string(object, "name", true, 0, 50, &value, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "name must not contain NUL characters");
    size_t index = 0;
    const char *const allowed[] = {"a"};
    assert_int_equal(
        ss_json_get_enum(object, "name", true, allowed, 1, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    int64_t ms = 0;
    assert_int_equal(ss_json_get_time(object, "name", true, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "name must not contain NUL characters");
    json_decref(object);
}

static void test_bool_reads_only_true_and_false(void **state)
{
    (void)state;
    json_t *object = body("{\"t\": true, \"f\": false, \"one\": 1, \"s\": \"true\"}");
    char errstr[128] = "";
    bool value = false;
    assert_int_equal(ss_json_get_bool(object, "t", true, &value, errstr, sizeof(errstr)), SS_OK);
    assert_true(value);
    assert_int_equal(ss_json_get_bool(object, "f", true, &value, errstr, sizeof(errstr)), SS_OK);
    assert_false(value);
    assert_int_equal(ss_json_get_bool(object, "one", true, &value, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "one must be a boolean (true or false), got an integer");
    assert_int_equal(ss_json_get_bool(object, "s", true, &value, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "s must be a boolean (true or false), got a string");
    assert_int_equal(ss_json_get_bool(object, "x", true, &value, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "x is required");
    value = true;
    assert_int_equal(ss_json_get_bool(object, "x", false, &value, errstr, sizeof(errstr)), SS_OK);
    assert_true(value);
    json_decref(object);
}

static void test_array_length_range(void **state)
{
    (void)state;
    json_t *object = body("{\"products\": [{}, {}], \"none\": [], \"obj\": {}}");
    char errstr[128] = "";
    json_t *array = NULL;
    assert_int_equal(
        ss_json_get_array(object, "products", true, 1, 50, &array, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(json_array_size(array), 2);
    assert_int_equal(ss_json_get_array(object, "none", true, 1, 50, &array, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "none must be an array of 1 to 50 items, got 0 items");
    assert_int_equal(
        ss_json_get_array(object, "products", true, 0, 1, &array, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "products must be an array of at most 1 items, got 2 items");
    assert_int_equal(ss_json_get_array(object, "obj", true, 1, 50, &array, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "obj must be an array of 1 to 50 items, got an object");
    assert_int_equal(
        ss_json_get_array(object, "missing", true, 1, 50, &array, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "missing is required");
    array = NULL;
    assert_int_equal(
        ss_json_get_array(object, "missing", false, 1, 50, &array, errstr, sizeof(errstr)), SS_OK);
    assert_null(array);
    json_decref(object);
}

static void test_object_reader(void **state)
{
    (void)state;
    json_t *object = body("{\"inner\": {\"a\": 1}, \"list\": []}");
    char errstr[128] = "";
    json_t *inner = NULL;
    assert_int_equal(ss_json_get_object(object, "inner", true, &inner, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(json_object_size(inner), 1);
    assert_int_equal(ss_json_get_object(object, "list", true, &inner, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "list must be an object, got an array");
    assert_int_equal(ss_json_get_object(object, "nope", true, &inner, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "nope is required");
    json_decref(object);
}

static void test_enum_matches_case_sensitively(void **state)
{
    (void)state;
    static const char *const statuses[] = {"HOLD", "SELLING", "STOP_SELLING"};
    json_t *object = body("{\"a\": \"STOP_SELLING\", \"b\": \"selling\", \"c\": 3}");
    char errstr[128] = "";
    size_t index = 99;
    assert_int_equal(
        ss_json_get_enum(object, "a", true, statuses, 3, &index, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(index, 2);
    assert_int_equal(
        ss_json_get_enum(object, "b", true, statuses, 3, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "b must be one of HOLD, SELLING, STOP_SELLING, got 'selling'");
    assert_int_equal(
        ss_json_get_enum(object, "c", true, statuses, 3, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "c must be one of HOLD, SELLING, STOP_SELLING, got an integer");
    assert_int_equal(
        ss_json_get_enum(object, "d", true, statuses, 3, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "d is required");
    assert_int_equal(
        ss_json_get_enum(object, "d", false, statuses, 3, &index, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(index, 2);
    json_decref(object);
}

static void test_enum_echo_is_bounded_and_sanitised(void **state)
{
    (void)state;
    static const char *const statuses[] = {"HOLD"};
    /* 30 ASCII bytes then a 3-byte character straddling the 32-byte limit, then a newline. */
    json_t *object = body("{\"s\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xea\xb9\x80zz\\n\", "
                          "\"t\": \"a\\tb\"}");
    char errstr[256] = "";
    size_t index = 0;
    assert_int_equal(
        ss_json_get_enum(object, "s", true, statuses, 1, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "s must be one of HOLD, got 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
    assert_int_equal(
        ss_json_get_enum(object, "t", true, statuses, 1, &index, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "t must be one of HOLD, got 'a?b'");
    json_decref(object);
}

static void test_time_reads_iso8601_utc(void **state)
{
    (void)state;
    json_t *object =
        body("{\"expiredAt\": \"2026-12-31T23:59:59Z\", \"bad\": \"2026-13-01T00:00:00Z\","
             " \"local\": \"2026-12-31T23:59:59+09:00\", \"num\": 17}");
    char errstr[128] = "";
    int64_t ms = 0;
    assert_int_equal(ss_json_get_time(object, "expiredAt", true, &ms, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ms, 1798761599000);
    assert_int_equal(ss_json_get_time(object, "bad", true, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "bad is not an ISO 8601 UTC time: month 13 is out of range 01..12");
    assert_int_equal(ss_json_get_time(object, "local", true, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "offset +09:00 is not UTC"));
    assert_int_equal(ss_json_get_time(object, "num", true, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(
        errstr, "num must be an ISO 8601 UTC time such as 2026-12-31T23:59:59Z, got an integer");
    assert_int_equal(ss_json_get_time(object, "none", true, &ms, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "none is required");
    assert_int_equal(ss_json_get_time(object, "none", false, &ms, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ms, 1798761599000);
    json_decref(object);
}

static void test_array_items_must_be_objects(void **state)
{
    (void)state;
    json_t *object = body("{\"products\": [{\"id\": 1}, 5]}");
    json_t *products = json_object_get(object, "products");
    char errstr[128] = "";
    json_t *item = NULL;
    assert_int_equal(
        ss_json_array_get_object(products, 0, "products", &item, errstr, sizeof(errstr)), SS_OK);
    assert_ptr_equal(item, json_array_get(products, 0));
    assert_int_equal(
        ss_json_array_get_object(products, 1, "products", &item, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "products[1] must be an object, got an integer");
    assert_int_equal(
        ss_json_array_get_object(products, 2, "products", &item, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "products[2] is missing");
    json_decref(object);
}

static void test_errstr_prefix_names_the_item(void **state)
{
    (void)state;
    json_t *item = body("{\"id\": 3}");
    char errstr[128] = "";
    long long quantity = 0;
    assert_int_equal(
        ss_json_get_int(item, "quantity", true, 1, 1000, &quantity, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    ss_json_errstr_prefix(errstr, sizeof(errstr), "products[%zu].", (size_t)2);
    assert_string_equal(errstr, "products[2].quantity is required");
    json_decref(item);
}

static void test_errstr_prefix_truncates_to_the_buffer(void **state)
{
    (void)state;
    char errstr[12] = "abcdefgh";
    ss_json_errstr_prefix(errstr, sizeof(errstr), "%s", "1234");
    assert_string_equal(errstr, "1234abcdefg");
    char tiny[4] = "xyz";
    ss_json_errstr_prefix(tiny, sizeof(tiny), "%s", "123456");
    assert_string_equal(tiny, "123");
    ss_json_errstr_prefix(NULL, 0, "%s", "ignored");
}

static void test_check_fields_refuses_unknown_keys(void **state)
{
    (void)state;
    static const char *const allowed[] = {"userId", "couponId", "products"};
    json_t *good = body("{\"userId\": 1, \"products\": []}");
    json_t *bad = body("{\"userId\": 1, \"userID\": 2}");
    char errstr[128] = "";
    assert_int_equal(ss_json_check_fields(good, allowed, 3, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_json_check_fields(bad, allowed, 3, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_string_equal(errstr, "userID is not a known field");
    assert_int_equal(ss_json_check_fields(bad, NULL, 0, errstr, sizeof(errstr)), SS_ERR_INVALID);
    json_decref(good);
    json_decref(bad);
}

static void test_envelope_ok_with_and_without_data(void **state)
{
    (void)state;
    char *text = ss_json_envelope_ok(
        json_pack("{s:I,s:I}", "userId", (json_int_t)7, "amount", (json_int_t)5000));
    assert_string_equal(
        text, "{\"code\":200,\"message\":\"OK\",\"data\":{\"userId\":7,\"amount\":5000}}");
    free(text);
    text = ss_json_envelope_ok(NULL);
    assert_string_equal(text, "{\"code\":200,\"message\":\"OK\"}");
    free(text);
    text = ss_json_envelope_ok(json_object());
    assert_string_equal(text, "{\"code\":200,\"message\":\"OK\"}");
    free(text);
    text = ss_json_envelope_ok(json_null());
    assert_string_equal(text, "{\"code\":200,\"message\":\"OK\"}");
    free(text);
}

static void test_envelope_error_carries_code_and_data(void **state)
{
    (void)state;
    char *text = ss_json_envelope_error(409, "INSUFFICIENT_BALANCE", "balance 100 is below 200",
                                        json_pack("{s:I}", "orderId", (json_int_t)42));
    assert_string_equal(text, "{\"code\":409,\"message\":\"balance 100 is below 200\","
                              "\"error\":\"INSUFFICIENT_BALANCE\",\"data\":{\"orderId\":42}}");
    free(text);
    text = ss_json_envelope_error(400, "INVALID_REQUEST", "amount is required", NULL);
    assert_string_equal(
        text, "{\"code\":400,\"message\":\"amount is required\",\"error\":\"INVALID_REQUEST\"}");
    free(text);
}

static void test_envelope_api_error_uses_the_table(void **state)
{
    (void)state;
    char *text = ss_json_envelope_api_error(SS_API_ERROR_COUPON_SOLD_OUT, NULL, NULL);
    assert_string_equal(text, "{\"code\":409,\"message\":\"the coupon has run out\","
                              "\"error\":\"COUPON_SOLD_OUT\"}");
    free(text);
    text = ss_json_envelope_api_error(SS_API_ERROR_INVALID_REQUEST, "amount is required", NULL);
    assert_string_equal(
        text, "{\"code\":400,\"message\":\"amount is required\",\"error\":\"INVALID_REQUEST\"}");
    free(text);
}

static void test_envelope_escapes_and_keeps_utf8(void **state)
{
    (void)state;
    char *text = ss_json_envelope(202, "say \"hi\"\n\xea\xb9\x80", NULL,
                                  json_pack("{s:s}", "requestId", "0-1-2"));
    assert_string_equal(text, "{\"code\":202,\"message\":\"say \\\"hi\\\"\\n\xea\xb9\x80\","
                              "\"data\":{\"requestId\":\"0-1-2\"}}");
    free(text);
}

static void test_envelope_cuts_a_message_broken_mid_character(void **state)
{
    (void)state;
    /* "ab" then the first two bytes of a three-byte character, as a truncated errstr leaves it. */
    char *text = ss_json_envelope(400, "ab\xea\xb9", "INVALID_REQUEST", NULL);
    assert_string_equal(text, "{\"code\":400,\"message\":\"ab\",\"error\":\"INVALID_REQUEST\"}");
    free(text);
}

static void test_envelope_prints_reals_without_binary_noise(void **state)
{
    (void)state;
    char *text = ss_json_envelope_ok(json_pack("{s:f}", "discountRate", 0.29));
    assert_string_equal(text, "{\"code\":200,\"message\":\"OK\",\"data\":{\"discountRate\":0.29}}");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_an_object),
        cmocka_unit_test(test_parse_refuses_non_objects),
        cmocka_unit_test(test_parse_refuses_malformed_json),
        cmocka_unit_test(test_parse_refuses_invalid_utf8),
        cmocka_unit_test(test_parse_refuses_duplicate_keys),
        cmocka_unit_test(test_parse_refuses_nul_in_keys_and_raw_nul_bytes),
        cmocka_unit_test(test_nul_escape_in_a_value_is_refused_by_the_reader_naming_the_field),
        cmocka_unit_test(test_parse_uses_length_not_terminator),
        cmocka_unit_test(test_parse_refuses_excessive_depth),
        cmocka_unit_test(test_int_reads_a_value_in_range),
        cmocka_unit_test(test_int_missing_required_is_refused),
        cmocka_unit_test(test_null_is_refused_as_a_wrong_type_required_or_optional),
        cmocka_unit_test(test_null_is_refused_by_every_reader),
        cmocka_unit_test(test_int_missing_optional_keeps_the_default),
        cmocka_unit_test(test_int_refuses_reals_strings_and_booleans),
        cmocka_unit_test(test_int_out_of_range_names_field_and_range),
        cmocka_unit_test(test_int_beyond_64_bits_is_malformed_json),
        cmocka_unit_test(test_number_accepts_integers_and_reals),
        cmocka_unit_test(test_number_refuses_strings),
        cmocka_unit_test(test_decimal_counts_exact_units),
        cmocka_unit_test(test_decimal_refuses_extra_places_range_and_type),
        cmocka_unit_test(test_decimal_formats_negative_bounds),
        cmocka_unit_test(test_string_length_counts_characters),
        cmocka_unit_test(test_string_refuses_other_types_and_absence),
        cmocka_unit_test(test_string_with_nul_built_in_code_is_refused),
        cmocka_unit_test(test_bool_reads_only_true_and_false),
        cmocka_unit_test(test_array_length_range),
        cmocka_unit_test(test_object_reader),
        cmocka_unit_test(test_enum_matches_case_sensitively),
        cmocka_unit_test(test_enum_echo_is_bounded_and_sanitised),
        cmocka_unit_test(test_time_reads_iso8601_utc),
        cmocka_unit_test(test_array_items_must_be_objects),
        cmocka_unit_test(test_errstr_prefix_names_the_item),
        cmocka_unit_test(test_errstr_prefix_truncates_to_the_buffer),
        cmocka_unit_test(test_check_fields_refuses_unknown_keys),
        cmocka_unit_test(test_envelope_ok_with_and_without_data),
        cmocka_unit_test(test_envelope_error_carries_code_and_data),
        cmocka_unit_test(test_envelope_api_error_uses_the_table),
        cmocka_unit_test(test_envelope_escapes_and_keeps_utf8),
        cmocka_unit_test(test_envelope_cuts_a_message_broken_mid_character),
        cmocka_unit_test(test_envelope_prints_reals_without_binary_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
