/*
 * JSON helpers over jansson for the HTTP API: parsing a request body into an object, strict
 * field readers whose messages become API.md's 400 INVALID_REQUEST answers, and the response
 * envelope builders.
 *
 * Field readers. Each ss_json_get_<kind>() reads object[name]:
 *   - absent and required: SS_ERR_INVALID, "<name> is required";
 *   - absent and optional: SS_OK and *out is left unchanged, so the caller sets the default
 *     before the call;
 *   - wrong type: SS_ERR_INVALID, "<name> must be <what>, got <type>", e.g.
 *     "amount must be an integer between 1 and 10000000, got a string"; a JSON number with a
 *     fraction or exponent (1.0, 1e3) is a real number, never an integer. JSON null is a wrong
 *     type like any other ("status must be one of ..., got null"), never taken for "absent":
 *     a caller whose field the OpenAPI document marks nullable tests json_is_null() first;
 *   - out of range: SS_ERR_INVALID, "<name> must be <what>, got <value>", e.g.
 *     "amount must be an integer between 1 and 10000000, got 0".
 * Ranges are inclusive. Messages start with the field name, so a caller reading an array item
 * prefixes the item's path with ss_json_errstr_prefix() ("products[2].quantity ...").
 * Pointers returned into the object (strings, arrays, objects) are borrowed: valid while the
 * object lives, never freed by the caller.
 */
#ifndef SS_JSON_H
#define SS_JSON_H

#include "ss/api_error.h"
#include "ss/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* How many bytes of a refused string value a message quotes. */
#define SS_JSON_ECHO_MAX 32

/*
 * Parses body[0..length) as one JSON object: strict JSON, valid UTF-8, no duplicate keys, no
 * \u0000 in a key, nothing after the value; nesting depth is bounded by jansson (2048). A
 * \u0000 in a string value is parsed: every string reader refuses it naming the field
 * ("name must not contain NUL characters"), so read strings only through them. On SS_OK the
 * caller owns *out and releases it with json_decref(). SS_ERR_INVALID with a message fit for
 * the client ("malformed JSON at line 1, column 9: ...", "the request body must be a JSON
 * object, got an array"), SS_ERR_NOMEM when jansson runs out of memory. *out is NULL on error.
 */
ss_err_t ss_json_parse_object(const char *body, size_t length, json_t **out, char *errstr,
                              size_t errstr_size);

/* An integer (JSON number without fraction or exponent) within [min, max]. */
ss_err_t ss_json_get_int(const json_t *object, const char *name, bool required, long long min,
                         long long max, long long *out, char *errstr, size_t errstr_size);

/* Any JSON number (integer or real) within [min, max], as a double. */
ss_err_t ss_json_get_number(const json_t *object, const char *name, bool required, double min,
                            double max, double *out, char *errstr, size_t errstr_size);

/*
 * A number with at most scale decimal places (0..9), as an exact count of 10^-scale units:
 * with scale 4, 0.29 gives 2900. Avoids binary floating point in money arithmetic
 * (floor(100 * 0.29) is 28 in doubles). Range in units: [min_units, max_units]; messages show
 * decimals: "discountRate must be a number between 0.0001 and 1, got 0",
 * "discountRate must have at most 4 decimal places, got 0.12345".
 */
ss_err_t ss_json_get_decimal(const json_t *object, const char *name, bool required, int scale,
                             long long min_units, long long max_units, long long *units_out,
                             char *errstr, size_t errstr_size);

/*
 * A string of min_length..max_length characters (Unicode code points; jansson guarantees valid
 * UTF-8). *out is borrowed. A string holding a NUL character is refused.
 */
ss_err_t ss_json_get_string(const json_t *object, const char *name, bool required,
                            size_t min_length, size_t max_length, const char **out, char *errstr,
                            size_t errstr_size);

/* true or false (not 0/1, not "true"). */
ss_err_t ss_json_get_bool(const json_t *object, const char *name, bool required, bool *out,
                          char *errstr, size_t errstr_size);

/* An array of min_items..max_items elements (not checked); *out is borrowed. */
ss_err_t ss_json_get_array(const json_t *object, const char *name, bool required, size_t min_items,
                           size_t max_items, json_t **out, char *errstr, size_t errstr_size);

/* An object; *out is borrowed. */
ss_err_t ss_json_get_object(const json_t *object, const char *name, bool required, json_t **out,
                            char *errstr, size_t errstr_size);

/*
 * A string equal to one of allowed[0..allowed_count) (case-sensitive); *index_out is its
 * index. "sellStatus must be one of HOLD, SELLING, STOP_SELLING, got 'PAUSED'".
 */
ss_err_t ss_json_get_enum(const json_t *object, const char *name, bool required,
                          const char *const *allowed, size_t allowed_count, size_t *index_out,
                          char *errstr, size_t errstr_size);

/*
 * An ISO 8601 UTC time string (ss_clock_parse_iso8601's rules) as ms since the Unix epoch.
 * "expiredAt is not an ISO 8601 UTC time: month 13 is out of range 01..12".
 */
ss_err_t ss_json_get_time(const json_t *object, const char *name, bool required,
                          int64_t *unix_ms_out, char *errstr, size_t errstr_size);

/*
 * Element index of array as an object (for arrays of objects); *out is borrowed.
 * "products[2] must be an object, got a number". label is the array's name.
 */
ss_err_t ss_json_array_get_object(const json_t *array, size_t index, const char *label,
                                  json_t **out, char *errstr, size_t errstr_size);

/*
 * Refuses a key of object that is not in allowed[0..allowed_count):
 * "nickName is not a known field".
 */
ss_err_t ss_json_check_fields(const json_t *object, const char *const *allowed,
                              size_t allowed_count, char *errstr, size_t errstr_size);

/*
 * Prepends a formatted prefix to the message already in errstr (truncating at the end):
 * after reading "quantity" from products[2], ss_json_errstr_prefix(errstr, size,
 * "products[%zu].", 2) turns "quantity is required" into "products[2].quantity is required".
 */
void ss_json_errstr_prefix(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Envelope builders (API.md "Envelope"). Each returns a compact JSON text in a malloc'd string
 * the caller frees with free(), or NULL when memory runs out. data is stolen (released in every
 * case, also on failure) and may be NULL; NULL, JSON null or an empty object leave "data" out.
 * A message that is not valid UTF-8 (an errstr cut mid-character) is cut to its valid prefix.
 * Real numbers are printed with at most 15 significant digits, so 0.29 reads "0.29".
 *
 * ss_json_envelope: {"code":<code>,"message":<message>[,"error":<error_code>][,"data":...]}
 *                             (error_code NULL leaves "error" out)
 * ss_json_envelope_ok:        {"code":200,"message":"OK"[,"data":...]}
 * ss_json_envelope_error: {"code":409,"message":"...","error":"INSUFFICIENT_BALANCE"[,"data":...]}
 * ss_json_envelope_api_error: the same from the table; message NULL means its default message.
 */
char *ss_json_envelope(int code, const char *message, const char *error_code, json_t *data);
char *ss_json_envelope_ok(json_t *data);
char *ss_json_envelope_error(int http_status, const char *error_code, const char *message,
                             json_t *data);
char *ss_json_envelope_api_error(ss_api_error_t error, const char *message, json_t *data);

#endif
