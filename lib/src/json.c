/*
 * Request-body parsing, strict field readers and response envelopes over jansson. Every reader
 * follows the same shape (absent, wrong type, out of range) so that clients see one consistent
 * style of 400 message; the phrase describing what is wanted is built once per call and used
 * for both the type and the range message.
 */
#include "ss/json.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a phrase such as "an integer between -9223372036854775808 and ...". */
#define JSON_PHRASE_SIZE 256
#define JSON_SCALE_MAX 9
/* Digits that print any decimal of up to 15 significant digits exactly (0.29, not 0.28999..). */
#define JSON_REAL_DIGITS 15

static const long long json_pow10[JSON_SCALE_MAX + 1] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL, 1000000000LL,
};

/* "a string", "an integer", ...: how a message names the type a client sent. */
static const char *json_type_phrase(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static void json_format_double(double value, char *out, size_t out_size)
{
    snprintf(out, out_size, "%.*g", JSON_REAL_DIGITS, value);
    if (strtod(out, NULL) != value) {
        snprintf(out, out_size, "%.17g", value);
    }
}

/* Writes units * 10^-scale as a plain decimal without trailing zeros: 2900, 4 -> "0.29". */
static void json_format_units(long long units, int scale, char *out, size_t out_size)
{
    const long long divisor = json_pow10[scale];
    const unsigned long long magnitude =
        units < 0 ? 0ULL - (unsigned long long)units : (unsigned long long)units;
    const unsigned long long whole = magnitude / (unsigned long long)divisor;
    unsigned long long fraction = magnitude % (unsigned long long)divisor;
    if (fraction == 0) {
        snprintf(out, out_size, "%s%llu", units < 0 ? "-" : "", whole);
        return;
    }
    int digits = scale;
    while (fraction % 10 == 0) {
        fraction /= 10;
        digits--;
    }
    snprintf(out, out_size, "%s%llu.%0*llu", units < 0 ? "-" : "", whole, digits, fraction);
}

/*
 * Copies at most SS_JSON_ECHO_MAX bytes of a client's string for a message: cut at a character
 * boundary, control characters replaced by '?', "..." appended when cut.
 */
static void json_echo(const char *text, char *out, size_t out_size)
{
    size_t length = strlen(text);
    const bool cut = length > SS_JSON_ECHO_MAX;
    if (cut) {
        length = SS_JSON_ECHO_MAX;
        /* Back up to the first byte of the character that straddles the limit. */
        while (length > 0 && ((unsigned char)text[length] & 0xC0) == 0x80) {
            length--;
        }
    }
    size_t used = 0;
    for (size_t i = 0; i < length && used + 1 < out_size; i++) {
        const unsigned char c = (unsigned char)text[i];
        out[used] = c < 0x20 || c == 0x7F ? '?' : (char)c;
        used++;
    }
    out[used] = '\0';
    if (cut && used + 4 <= out_size) {
        memcpy(out + used, "...", 4);
    }
}

/*
 * The start of every reader: finds object[name]. Returns SS_OK with *value_out NULL when the
 * field is absent and optional, SS_ERR_INVALID when it is absent and required. A JSON null is a
 * value like any other (of the wrong type for every reader), so `"status": null` is refused
 * rather than taken for the default: the document marks the few nullable fields, whose callers
 * test for null themselves.
 */
static ss_err_t json_field(const json_t *object, const char *name, bool required,
                           json_t **value_out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(json_is_object(object) && name != NULL);
    json_t *value = json_object_get(object, name);
    if (value == NULL) {
        *value_out = NULL;
        if (required) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s is required", name);
        }
        return SS_OK;
    }
    *value_out = value;
    return SS_OK;
}

static void json_int_phrase(long long min, long long max, char *out, size_t out_size)
{
    if (min == LLONG_MIN && max == LLONG_MAX) {
        snprintf(out, out_size, "an integer");
    } else if (max == LLONG_MAX) {
        snprintf(out, out_size, "an integer of at least %lld", min);
    } else if (min == LLONG_MIN) {
        snprintf(out, out_size, "an integer of at most %lld", max);
    } else {
        snprintf(out, out_size, "an integer between %lld and %lld", min, max);
    }
}

/* "a string of 1 to 50 characters", "an array of at most 50 items". */
static void json_count_phrase(const char *kind, size_t min, size_t max, const char *unit, char *out,
                              size_t out_size)
{
    if (min == 0 && max == SIZE_MAX) {
        snprintf(out, out_size, "%s", kind);
    } else if (max == SIZE_MAX) {
        snprintf(out, out_size, "%s of at least %zu %s", kind, min, unit);
    } else if (min == 0) {
        snprintf(out, out_size, "%s of at most %zu %s", kind, max, unit);
    } else if (min == max) {
        snprintf(out, out_size, "%s of exactly %zu %s", kind, min, unit);
    } else {
        snprintf(out, out_size, "%s of %zu to %zu %s", kind, min, max, unit);
    }
}

ss_err_t ss_json_parse_object(const char *body, size_t length, json_t **out, char *errstr,
                              size_t errstr_size)
{
    SS_ASSERT(out != NULL && (body != NULL || length == 0));
    *out = NULL;
    if (length == 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the request body is empty, a JSON object is expected");
    }
    json_error_t error;
    /*
     * DECODE_ANY so that a scalar body gets the "must be a JSON object" message below; ALLOW_NUL
     * so that a \u0000 in a string value reaches the field reader, which refuses it naming the
     * field (jansson's own message would name one of its flags). A key with \u0000 is still
     * refused here: no field has such a name.
     */
    json_t *root =
        json_loadb(body, length, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (root == NULL) {
        if (json_error_code(&error) == json_error_out_of_memory) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                              "out of memory parsing the request body");
        }
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "malformed JSON at line %d, column %d: %s", error.line, error.column,
                          error.text);
    }
    if (!json_is_object(root)) {
        const char *type = json_type_phrase(root);
        json_decref(root);
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the request body must be a JSON object, got %s", type);
    }
    *out = root;
    return SS_OK;
}

ss_err_t ss_json_get_int(const json_t *object, const char *name, bool required, long long min,
                         long long max, long long *out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(min <= max && out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    char phrase[JSON_PHRASE_SIZE];
    json_int_phrase(min, max, phrase, sizeof(phrase));
    if (!json_is_integer(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %s", name,
                          phrase, json_type_phrase(value));
    }
    const long long number = json_integer_value(value);
    if (number < min || number > max) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %lld", name,
                          phrase, number);
    }
    *out = number;
    return SS_OK;
}

ss_err_t ss_json_get_number(const json_t *object, const char *name, bool required, double min,
                            double max, double *out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(min <= max && out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    char min_text[32];
    char max_text[32];
    json_format_double(min, min_text, sizeof(min_text));
    json_format_double(max, max_text, sizeof(max_text));
    if (!json_is_number(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must be a number between %s and %s, got %s", name, min_text, max_text,
                          json_type_phrase(value));
    }
    const double number = json_number_value(value);
    if (!(number >= min && number <= max)) {
        char got[32];
        json_format_double(number, got, sizeof(got));
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must be a number between %s and %s, got %s", name, min_text, max_text,
                          got);
    }
    *out = number;
    return SS_OK;
}

/*
 * Converts a JSON number to 10^-scale units. Returns 1 when it fits exactly, 0 when it has
 * more decimals than scale, -1 when it is too large to count in a long long.
 */
static int json_to_units(const json_t *value, int scale, long long *units_out)
{
    const long long factor = json_pow10[scale];
    if (json_is_integer(value)) {
        const long long whole = json_integer_value(value);
        if (whole > LLONG_MAX / factor || whole < LLONG_MIN / factor) {
            return -1;
        }
        *units_out = whole * factor;
        return 1;
    }
    const double scaled = json_real_value(value) * (double)factor;
    /* Beyond 2^53 a double no longer holds every integer: refuse rather than guess. */
    if (!isfinite(scaled) || fabs(scaled) > 9007199254740992.0) {
        return -1;
    }
    const double rounded = nearbyint(scaled);
    /* 0.29 * 10^4 is 2900.0000000000005: a relative tolerance absorbs the binary error. */
    if (fabs(scaled - rounded) > 1e-9 * fmax(1.0, fabs(scaled))) {
        return 0;
    }
    *units_out = (long long)rounded;
    return 1;
}

ss_err_t ss_json_get_decimal(const json_t *object, const char *name, bool required, int scale,
                             long long min_units, long long max_units, long long *units_out,
                             char *errstr, size_t errstr_size)
{
    SS_ASSERT(scale >= 0 && scale <= JSON_SCALE_MAX && min_units <= max_units);
    SS_ASSERT(units_out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    char min_text[48];
    char max_text[48];
    json_format_units(min_units, scale, min_text, sizeof(min_text));
    json_format_units(max_units, scale, max_text, sizeof(max_text));
    if (!json_is_number(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must be a number between %s and %s, got %s", name, min_text, max_text,
                          json_type_phrase(value));
    }
    char got[48];
    if (json_is_integer(value)) {
        snprintf(got, sizeof(got), "%lld", json_integer_value(value));
    } else {
        json_format_double(json_real_value(value), got, sizeof(got));
    }
    long long units = 0;
    const int fits = json_to_units(value, scale, &units);
    if (fits == 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must have at most %d decimal places, got %s", name, scale, got);
    }
    if (fits < 0 || units < min_units || units > max_units) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must be a number between %s and %s, got %s", name, min_text, max_text,
                          got);
    }
    *units_out = units;
    return SS_OK;
}

ss_err_t ss_json_get_string(const json_t *object, const char *name, bool required,
                            size_t min_length, size_t max_length, const char **out, char *errstr,
                            size_t errstr_size)
{
    SS_ASSERT(min_length <= max_length && out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    char phrase[JSON_PHRASE_SIZE];
    json_count_phrase("a string", min_length, max_length, "characters", phrase, sizeof(phrase));
    if (!json_is_string(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %s", name,
                          phrase, json_type_phrase(value));
    }
    const char *text = json_string_value(value);
    const size_t bytes = json_string_length(value);
    if (memchr(text, '\0', bytes) != NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must not contain NUL characters",
                          name);
    }
    /* Count code points: every byte that is not a UTF-8 continuation byte starts one. */
    size_t characters = 0;
    for (size_t i = 0; i < bytes; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            characters++;
        }
    }
    if (characters < min_length || characters > max_length) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %zu characters",
                          name, phrase, characters);
    }
    *out = text;
    return SS_OK;
}

ss_err_t ss_json_get_bool(const json_t *object, const char *name, bool required, bool *out,
                          char *errstr, size_t errstr_size)
{
    SS_ASSERT(out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    if (!json_is_boolean(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must be a boolean (true or false), got %s", name,
                          json_type_phrase(value));
    }
    *out = json_is_true(value);
    return SS_OK;
}

ss_err_t ss_json_get_array(const json_t *object, const char *name, bool required, size_t min_items,
                           size_t max_items, json_t **out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(min_items <= max_items && out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    char phrase[JSON_PHRASE_SIZE];
    json_count_phrase("an array", min_items, max_items, "items", phrase, sizeof(phrase));
    if (!json_is_array(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %s", name,
                          phrase, json_type_phrase(value));
    }
    const size_t items = json_array_size(value);
    if (items < min_items || items > max_items) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %zu items", name,
                          phrase, items);
    }
    *out = value;
    return SS_OK;
}

ss_err_t ss_json_get_object(const json_t *object, const char *name, bool required, json_t **out,
                            char *errstr, size_t errstr_size)
{
    SS_ASSERT(out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    if (!json_is_object(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be an object, got %s", name,
                          json_type_phrase(value));
    }
    *out = value;
    return SS_OK;
}

ss_err_t ss_json_get_enum(const json_t *object, const char *name, bool required,
                          const char *const *allowed, size_t allowed_count, size_t *index_out,
                          char *errstr, size_t errstr_size)
{
    SS_ASSERT(allowed != NULL && allowed_count > 0 && index_out != NULL);
    json_t *value = NULL;
    const ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    char phrase[JSON_PHRASE_SIZE] = "one of ";
    for (size_t i = 0; i < allowed_count; i++) {
        const size_t used = strlen(phrase);
        snprintf(phrase + used, sizeof(phrase) - used, "%s%s", i > 0 ? ", " : "", allowed[i]);
    }
    if (!json_is_string(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got %s", name,
                          phrase, json_type_phrase(value));
    }
    const char *text = json_string_value(value);
    /* A string with an embedded NUL matches nothing: compare lengths too. */
    const size_t length = json_string_length(value);
    for (size_t i = 0; i < allowed_count; i++) {
        if (strlen(allowed[i]) == length && strcmp(allowed[i], text) == 0) {
            *index_out = i;
            return SS_OK;
        }
    }
    char echo[SS_JSON_ECHO_MAX + 4];
    json_echo(text, echo, sizeof(echo));
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must be %s, got '%s'", name, phrase,
                      echo);
}

ss_err_t ss_json_get_time(const json_t *object, const char *name, bool required,
                          int64_t *unix_ms_out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(unix_ms_out != NULL);
    json_t *value = NULL;
    ss_err_t err = json_field(object, name, required, &value, errstr, errstr_size);
    if (err != SS_OK || value == NULL) {
        return err;
    }
    if (!json_is_string(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s must be an ISO 8601 UTC time such as 2026-12-31T23:59:59Z, got %s",
                          name, json_type_phrase(value));
    }
    const char *text = json_string_value(value);
    if (strlen(text) != json_string_length(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s must not contain NUL characters",
                          name);
    }
    char reason[128];
    int64_t unix_ms = 0;
    err = ss_clock_parse_iso8601(text, &unix_ms, reason, sizeof(reason));
    if (err != SS_OK) {
        return ss_err_set(err, errstr, errstr_size, "%s is %s", name, reason);
    }
    *unix_ms_out = unix_ms;
    return SS_OK;
}

ss_err_t ss_json_array_get_object(const json_t *array, size_t index, const char *label,
                                  json_t **out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(json_is_array(array) && label != NULL && out != NULL);
    json_t *value = json_array_get(array, index);
    if (value == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s[%zu] is missing", label, index);
    }
    if (!json_is_object(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s[%zu] must be an object, got %s",
                          label, index, json_type_phrase(value));
    }
    *out = value;
    return SS_OK;
}

ss_err_t ss_json_check_fields(const json_t *object, const char *const *allowed,
                              size_t allowed_count, char *errstr, size_t errstr_size)
{
    SS_ASSERT(json_is_object(object) && (allowed != NULL || allowed_count == 0));
    const char *key = NULL;
    json_t *value = NULL;
    /* Bounded by the object's size, itself bounded by the body limit. */
    json_object_foreach((json_t *)object, key, value)
    {
        bool known = false;
        for (size_t i = 0; i < allowed_count && !known; i++) {
            known = strcmp(allowed[i], key) == 0;
        }
        if (!known) {
            char echo[SS_JSON_ECHO_MAX + 4];
            json_echo(key, echo, sizeof(echo));
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s is not a known field", echo);
        }
    }
    return SS_OK;
}

void ss_json_errstr_prefix(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    if (errstr == NULL || errstr_size == 0) {
        return;
    }
    char prefix[JSON_PHRASE_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    size_t prefix_length = strlen(prefix);
    if (prefix_length > errstr_size - 1) {
        prefix_length = errstr_size - 1;
    }
    size_t message_length = strnlen(errstr, errstr_size - 1);
    if (prefix_length + message_length > errstr_size - 1) {
        message_length = errstr_size - 1 - prefix_length;
    }
    memmove(errstr + prefix_length, errstr, message_length);
    memcpy(errstr, prefix, prefix_length);
    errstr[prefix_length + message_length] = '\0';
}

/*
 * A JSON string of message; when message is not valid UTF-8 (cut by a bounded errstr in the
 * middle of a character), of its longest prefix that jansson accepts, dropping at most the
 * last three bytes. NULL when memory runs out or the text is invalid further in.
 */
static json_t *json_message_string(const char *message)
{
    const size_t length = strlen(message);
    for (size_t drop = 0; drop <= 3 && drop <= length; drop++) {
        json_t *string = json_stringn(message, length - drop);
        if (string != NULL) {
            return string;
        }
    }
    return NULL;
}

char *ss_json_envelope(int code, const char *message, const char *error_code, json_t *data)
{
    char *text = NULL;
    json_t *root = json_object();
    if (root == NULL) {
        goto cleanup;
    }
    /* json_object_set_new steals its value even when it fails, so nothing leaks on error. */
    if (json_object_set_new(root, "code", json_integer(code)) != 0) {
        goto cleanup;
    }
    json_t *message_json = json_message_string(message != NULL ? message : "");
    if (message_json == NULL) {
        message_json = json_string("error");
    }
    if (json_object_set_new(root, "message", message_json) != 0) {
        goto cleanup;
    }
    if (error_code != NULL && json_object_set_new(root, "error", json_string(error_code)) != 0) {
        goto cleanup;
    }
    const bool has_data = data != NULL && !json_is_null(data) &&
                          !(json_is_object(data) && json_object_size(data) == 0);
    if (has_data) {
        const int rc = json_object_set_new(root, "data", data);
        data = NULL; /* stolen by set_new, also on failure */
        if (rc != 0) {
            goto cleanup;
        }
    }
    text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(JSON_REAL_DIGITS));

cleanup:
    json_decref(data);
    json_decref(root);
    return text;
}

char *ss_json_envelope_ok(json_t *data)
{
    return ss_json_envelope(200, "OK", NULL, data);
}

char *ss_json_envelope_error(int http_status, const char *error_code, const char *message,
                             json_t *data)
{
    return ss_json_envelope(http_status, message, error_code, data);
}

char *ss_json_envelope_api_error(ss_api_error_t error, const char *message, json_t *data)
{
    return ss_json_envelope(ss_api_error_status(error),
                            message != NULL ? message : ss_api_error_message(error),
                            ss_api_error_name(error), data);
}
