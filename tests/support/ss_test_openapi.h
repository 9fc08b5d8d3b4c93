/*
 * A small OpenAPI response validator for tests: given the project's OpenAPI document, an
 * operation (method and path template as written in the document), an HTTP status and a response
 * body, it checks the body against the response's application/json schema.
 *
 * The schema language is the subset of JSON Schema the document uses:
 *   $ref (local "#/..." pointers; siblings of $ref are ignored, as in OpenAPI 3.0),
 *   type (one name or a list; "integer" means a JSON number without fraction or exponent,
 *   "number" any number), nullable (OpenAPI 3.0) and type "null" (3.1),
 *   enum, required, properties, additionalProperties (false or a schema), minProperties,
 *   maxProperties, items, minItems, maxItems, minLength, maxLength (in code points), minimum,
 *   maximum, exclusiveMinimum and exclusiveMaximum (3.0 booleans or 3.1 numbers), allOf,
 *   anyOf, oneOf, not.
 * Other keywords (format, pattern, multipleOf, description, example, default, ...) are
 * annotations here: they are not checked.
 *
 * A response is looked up as responses["409"], then responses["4XX"], then responses["default"]
 * (a $ref to components/responses is followed). The validator runs without recursion: an
 * explicit work stack with named bounds, so a $ref cycle ends with an error, not a hang.
 *
 * Ownership: ss_test_openapi_t owns its copy of the document; strings it hands out are
 * borrowed and live as long as it. Functions never print and never assert: they return an
 * ss_err_t with the reason in errstr, so a test can expect a rejection.
 */
#ifndef SS_TEST_OPENAPI_H
#define SS_TEST_OPENAPI_H

#include "ss/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Operations (method + path) a document may hold. */
#define SS_TEST_OPENAPI_OPERATIONS_MAX 256
/* Pending schema checks at once (depth x breadth of a body) and total checks per validation. */
#define SS_TEST_OPENAPI_STACK_MAX 8192
#define SS_TEST_OPENAPI_STEPS_MAX 1000000
/* anyOf/oneOf/not groups and their alternatives per validation. */
#define SS_TEST_OPENAPI_NODES_MAX 4096
/* Longest JSON path quoted in a message ("$.data.products[3].price"); longer ones are cut. */
#define SS_TEST_OPENAPI_PATH_MAX 160
/* How many $ref hops one reference may take (a -> b -> c). */
#define SS_TEST_OPENAPI_REF_HOPS_MAX 16

typedef struct ss_test_openapi ss_test_openapi_t;

/*
 * Reads and parses the document at path. SS_ERR_NOT_FOUND when the file cannot be opened,
 * SS_ERR_INVALID when it is not a JSON object with a "paths" object or holds more than
 * SS_TEST_OPENAPI_OPERATIONS_MAX operations. The caller frees *out with ss_test_openapi_destroy().
 */
ss_err_t ss_test_openapi_load(const char *path, ss_test_openapi_t **out, char *errstr,
                              size_t errstr_size);

/* As ss_test_openapi_load(), from the document's text. */
ss_err_t ss_test_openapi_parse(const char *text, ss_test_openapi_t **out, char *errstr,
                               size_t errstr_size);

/* NULL is a no-op. */
void ss_test_openapi_destroy(ss_test_openapi_t *openapi);

/* The parsed document (borrowed). */
const json_t *ss_test_openapi_document(const ss_test_openapi_t *openapi);

/* How many operations the document has (each method of each path counts once). */
size_t ss_test_openapi_operation_count(const ss_test_openapi_t *openapi);

/*
 * Operation index (0..count), in document order: *method_out is upper case ("GET"), *path_out
 * the path template ("/api/v1/users/{id}/balance"); both borrowed. SS_ERR_NOT_FOUND past the end.
 */
ss_err_t ss_test_openapi_operation(const ss_test_openapi_t *openapi, size_t index,
                                   const char **method_out, const char **path_out);

/*
 * The documented response of an operation for status (see the top of this file); *out is
 * borrowed. method is case-insensitive. SS_ERR_NOT_FOUND names what is missing: the path, the
 * method, or a response for this status.
 */
ss_err_t ss_test_openapi_response(const ss_test_openapi_t *openapi, const char *method,
                                  const char *path_template, int status, const json_t **out,
                                  char *errstr, size_t errstr_size);

/*
 * Checks body (body_length bytes) against the response's application/json schema. SS_OK when
 * it conforms; SS_ERR_NOT_FOUND when the operation or status is not documented; SS_ERR_INVALID
 * when the body is not JSON or does not conform ("$.data.amount: expected integer, got
 * string"), or when the schema cannot be evaluated (a bad $ref, a bound passed).
 * A response documented without content accepts only an empty body.
 */
ss_err_t ss_test_openapi_check_response(const ss_test_openapi_t *openapi, const char *method,
                                        const char *path_template, int status, const char *body,
                                        size_t body_length, char *errstr, size_t errstr_size);

/*
 * Checks instance against schema, resolving $ref in the document. Returns as above (SS_OK or
 * SS_ERR_INVALID).
 */
ss_err_t ss_test_openapi_check_value(const ss_test_openapi_t *openapi, const json_t *schema,
                                     const json_t *instance, char *errstr, size_t errstr_size);

/*
 * The response headers documented for an operation's status: fills names[0..names_max) with
 * borrowed header names and returns how many the response documents (which may be more than
 * names_max); 0 when the response or its headers are not documented.
 */
size_t ss_test_openapi_response_headers(const ss_test_openapi_t *openapi, const char *method,
                                        const char *path_template, int status, const char **names,
                                        size_t names_max);

#endif
