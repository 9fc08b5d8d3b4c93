/*
 * The OpenAPI response validator of ss_test_openapi.h.
 *
 * Validation is a work list of (schema, instance) checks. Everything in one schema is a
 * conjunction: a check pushes its children (properties, items, allOf, $ref targets) as more
 * checks of the same "alternative". Disjunctions (anyOf, oneOf) and negation (not) open a group
 * whose alternatives are decided separately: each alternative counts its outstanding checks,
 * and when the count reaches zero it is decided (passed unless one of its checks failed); when
 * every alternative of a group is decided, the group passes or fails its own alternative. The
 * root is an alternative too, and only its first failure becomes the message. No recursion:
 * every loop is bounded by the SS_TEST_OPENAPI_*_MAX constants.
 */
#include "ss_test_openapi.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A document file larger than this is not ours. */
#define OPENAPI_FILE_BYTES_MAX (16 * 1024 * 1024)
#define OPENAPI_MESSAGE_MAX 256
#define NODE_NONE UINT32_MAX

static const char *const openapi_methods[] = {"get",  "put",     "post",  "delete",
                                              "head", "options", "patch", "trace"};
#define OPENAPI_METHODS_COUNT (sizeof(openapi_methods) / sizeof(openapi_methods[0]))
static const char *const openapi_methods_upper[] = {"GET",  "PUT",     "POST",  "DELETE",
                                                    "HEAD", "OPTIONS", "PATCH", "TRACE"};

typedef struct openapi_operation {
    const char *method; /* upper case, static */
    const char *path;   /* a key of "paths", borrowed from the document */
} openapi_operation_t;

struct ss_test_openapi {
    json_t *document;
    openapi_operation_t operations[SS_TEST_OPENAPI_OPERATIONS_MAX];
    size_t operations_count;
};

/* ---- loading ------------------------------------------------------------------------------- */

static ss_err_t openapi_index(ss_test_openapi_t *openapi, char *errstr, size_t errstr_size)
{
    json_t *paths = json_object_get(openapi->document, "paths");
    if (!json_is_object(paths)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the document has no \"paths\" object");
    }
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item)
    {
        if (!json_is_object(item)) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "paths[\"%s\"] is not an object",
                              path);
        }
        for (size_t m = 0; m < OPENAPI_METHODS_COUNT; m++) {
            if (json_object_get(item, openapi_methods[m]) == NULL) {
                continue;
            }
            if (openapi->operations_count == SS_TEST_OPENAPI_OPERATIONS_MAX) {
                return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                  "the document has more than %d operations",
                                  SS_TEST_OPENAPI_OPERATIONS_MAX);
            }
            openapi->operations[openapi->operations_count].method = openapi_methods_upper[m];
            openapi->operations[openapi->operations_count].path = path;
            openapi->operations_count++;
        }
    }
    return SS_OK;
}

/* Takes the reference to document (also on failure). */
static ss_err_t openapi_create(json_t *document, ss_test_openapi_t **out, char *errstr,
                               size_t errstr_size)
{
    *out = NULL;
    ss_test_openapi_t *openapi = calloc(1, sizeof(*openapi));
    if (openapi == NULL) {
        json_decref(document);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the validator");
    }
    openapi->document = document;
    ss_err_t err = openapi_index(openapi, errstr, errstr_size);
    if (err != SS_OK) {
        ss_test_openapi_destroy(openapi);
        return err;
    }
    *out = openapi;
    return SS_OK;
}

ss_err_t ss_test_openapi_parse(const char *text, ss_test_openapi_t **out, char *errstr,
                               size_t errstr_size)
{
    *out = NULL;
    json_error_t error;
    json_t *document = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (document == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the document is not JSON: line %d: %s", error.line, error.text);
    }
    if (!json_is_object(document)) {
        json_decref(document);
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "the document is not a JSON object");
    }
    return openapi_create(document, out, errstr, errstr_size);
}

ss_err_t ss_test_openapi_load(const char *path, ss_test_openapi_t **out, char *errstr,
                              size_t errstr_size)
{
    *out = NULL;
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "could not open %s: %s", path,
                          strerror(errno));
    }
    ss_err_t err = SS_OK;
    char *text = malloc(OPENAPI_FILE_BYTES_MAX + 1);
    if (text == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate a read buffer");
        goto cleanup;
    }
    size_t length = fread(text, 1, OPENAPI_FILE_BYTES_MAX + 1, file);
    if (ferror(file) || length > OPENAPI_FILE_BYTES_MAX) {
        err =
            ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                       "could not read %s (or it is over %d bytes)", path, OPENAPI_FILE_BYTES_MAX);
        goto cleanup;
    }
    text[length] = '\0';
    err = ss_test_openapi_parse(text, out, errstr, errstr_size);

cleanup:
    free(text);
    fclose(file);
    return err;
}

void ss_test_openapi_destroy(ss_test_openapi_t *openapi)
{
    if (openapi == NULL) {
        return;
    }
    json_decref(openapi->document);
    free(openapi);
}

const json_t *ss_test_openapi_document(const ss_test_openapi_t *openapi)
{
    return openapi->document;
}

size_t ss_test_openapi_operation_count(const ss_test_openapi_t *openapi)
{
    return openapi->operations_count;
}

ss_err_t ss_test_openapi_operation(const ss_test_openapi_t *openapi, size_t index,
                                   const char **method_out, const char **path_out)
{
    if (index >= openapi->operations_count) {
        return SS_ERR_NOT_FOUND;
    }
    *method_out = openapi->operations[index].method;
    *path_out = openapi->operations[index].path;
    return SS_OK;
}

/* ---- references ---------------------------------------------------------------------------- */

/* Follows one local JSON pointer ("#/components/schemas/Balance"); NULL when it leads nowhere. */
static json_t *pointer_resolve(json_t *document, const char *pointer)
{
    if (pointer[0] != '#') {
        return NULL;
    }
    json_t *node = document;
    const char *cursor = pointer + 1;
    char token[256];
    /* Each pass consumes one "/token"; a pointer is shorter than the bound. */
    for (size_t tokens = 0; *cursor != '\0' && tokens < SS_TEST_OPENAPI_PATH_MAX; tokens++) {
        if (*cursor != '/') {
            return NULL;
        }
        cursor++;
        size_t length = 0;
        while (*cursor != '\0' && *cursor != '/') {
            char c = *cursor++;
            if (c == '~') {
                if (*cursor != '0' && *cursor != '1') {
                    return NULL;
                }
                c = *cursor++ == '0' ? '~' : '/';
            }
            if (length + 1 >= sizeof(token)) {
                return NULL;
            }
            token[length++] = c;
        }
        token[length] = '\0';
        if (json_is_object(node)) {
            node = json_object_get(node, token);
        } else if (json_is_array(node)) {
            char *end = NULL;
            unsigned long index = strtoul(token, &end, 10);
            node = (length > 0 && *end == '\0') ? json_array_get(node, index) : NULL;
        } else {
            node = NULL;
        }
        if (node == NULL) {
            return NULL;
        }
    }
    return *cursor == '\0' ? node : NULL;
}

/* Follows $ref hops from node (any object with "$ref"); NULL when a pointer is dangling. */
static json_t *ref_follow(json_t *document, json_t *node, const char **bad_ref)
{
    for (int hop = 0; hop < SS_TEST_OPENAPI_REF_HOPS_MAX; hop++) {
        const char *ref = json_string_value(json_object_get(node, "$ref"));
        if (ref == NULL) {
            return node;
        }
        *bad_ref = ref;
        node = pointer_resolve(document, ref);
        if (node == NULL) {
            return NULL;
        }
    }
    return NULL;
}

/* ---- the work list -------------------------------------------------------------------------- */

typedef enum node_kind {
    NODE_ALTERNATIVE, /* a set of checks that must all pass; the root is one */
    NODE_ANY_OF,
    NODE_ONE_OF,
    NODE_NOT,
} node_kind_t;

typedef struct check_node {
    node_kind_t kind;
    uint32_t parent;      /* alternative: its group (NODE_NONE for the root); group: its owner */
    uint32_t outstanding; /* alternative: undecided checks and groups under it */
    bool failed;          /* alternative: one of its checks failed */
    uint32_t alternatives, decided, passed;  /* group */
    char path[SS_TEST_OPENAPI_PATH_MAX];     /* group: where, for the message */
    char first_failure[OPENAPI_MESSAGE_MAX]; /* group: the first failure of an alternative */
} check_node_t;

typedef struct check_item {
    json_t *schema;
    json_t *instance;
    uint32_t owner; /* the alternative this check belongs to */
    char path[SS_TEST_OPENAPI_PATH_MAX];
} check_item_t;

typedef struct validation {
    json_t *document;
    check_item_t *stack;
    size_t stack_count;
    check_node_t *nodes;
    size_t nodes_count;
    bool aborted; /* the schema could not be evaluated; message already in errstr */
    char *errstr;
    size_t errstr_size;
} validation_t;

/* Stops the whole validation: the schema, not the instance, is at fault (or a bound passed). */
static void validation_abort(validation_t *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void validation_abort(validation_t *v, const char *fmt, ...)
{
    if (v->aborted) {
        return;
    }
    v->aborted = true;
    if (v->errstr_size > 0) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(v->errstr, v->errstr_size, fmt, args);
        va_end(args);
    }
}

/* A child's JSON path; one longer than SS_TEST_OPENAPI_PATH_MAX is cut (messages only). */
static void path_format(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void path_format(char *out, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(out, SS_TEST_OPENAPI_PATH_MAX, fmt, args);
    va_end(args);
}

static uint32_t node_add(validation_t *v, node_kind_t kind, uint32_t parent)
{
    if (v->nodes_count == SS_TEST_OPENAPI_NODES_MAX) {
        validation_abort(v, "more than %d anyOf/oneOf/not branches", SS_TEST_OPENAPI_NODES_MAX);
        return NODE_NONE;
    }
    check_node_t *node = &v->nodes[v->nodes_count];
    memset(node, 0, sizeof(*node));
    node->kind = kind;
    node->parent = parent;
    return (uint32_t)v->nodes_count++;
}

static void check_push(validation_t *v, json_t *schema, json_t *instance, uint32_t owner,
                       const char *path)
{
    if (v->stack_count == SS_TEST_OPENAPI_STACK_MAX) {
        validation_abort(v, "more than %d pending checks", SS_TEST_OPENAPI_STACK_MAX);
        return;
    }
    check_item_t *item = &v->stack[v->stack_count++];
    item->schema = schema;
    item->instance = instance;
    item->owner = owner;
    snprintf(item->path, sizeof(item->path), "%s", path);
    v->nodes[owner].outstanding++;
}

/* Records that alternative owner failed, with a message about path. */
static void check_fail(validation_t *v, uint32_t owner, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void check_fail(validation_t *v, uint32_t owner, const char *path, const char *fmt, ...)
{
    check_node_t *alternative = &v->nodes[owner];
    if (alternative->failed) {
        return;
    }
    alternative->failed = true;
    char message[OPENAPI_MESSAGE_MAX];
    int used = snprintf(message, sizeof(message), "%s: ", path);
    if (used < 0 || (size_t)used >= sizeof(message)) {
        used = 0;
    }
    va_list args;
    va_start(args, fmt);
    vsnprintf(message + used, sizeof(message) - (size_t)used, fmt, args);
    va_end(args);
    if (alternative->parent == NODE_NONE) {
        if (v->errstr_size > 0) {
            snprintf(v->errstr, v->errstr_size, "%s", message);
        }
        return;
    }
    check_node_t *group = &v->nodes[alternative->parent];
    if (group->first_failure[0] == '\0') {
        snprintf(group->first_failure, sizeof(group->first_failure), "%s", message);
    }
}

/*
 * One check of alternative owner is done: counts it, and decides alternatives and groups that
 * have nothing outstanding any more, up the chain (bounded by the number of nodes).
 */
static void check_done(validation_t *v, uint32_t owner)
{
    for (size_t level = 0; level < SS_TEST_OPENAPI_NODES_MAX; level++) {
        check_node_t *alternative = &v->nodes[owner];
        alternative->outstanding--;
        if (alternative->outstanding > 0 || alternative->parent == NODE_NONE) {
            return;
        }
        uint32_t group_index = alternative->parent;
        check_node_t *group = &v->nodes[group_index];
        group->decided++;
        group->passed += alternative->failed ? 0 : 1;
        if (group->decided < group->alternatives) {
            return;
        }
        bool passed = false;
        const char *name = "";
        switch (group->kind) {
        case NODE_ANY_OF:
            passed = group->passed >= 1;
            name = "anyOf";
            break;
        case NODE_ONE_OF:
            passed = group->passed == 1;
            name = "oneOf";
            break;
        case NODE_NOT:
            passed = group->passed == 0;
            name = "not";
            break;
        case NODE_ALTERNATIVE:
            break;
        }
        if (!passed) {
            if (group->kind == NODE_NOT) {
                check_fail(v, group->parent, group->path, "matches the schema under \"not\"");
            } else {
                check_fail(v, group->parent, group->path,
                           "matches %u of the %u %s alternatives%s%s", group->passed,
                           group->alternatives, name,
                           group->passed == 0 ? "; the first failure: " : "",
                           group->passed == 0 ? group->first_failure : "");
            }
        }
        owner = group->parent; /* the group itself was one outstanding item of its owner */
    }
}

/* Opens an anyOf/oneOf/not group over the schemas in list (an array, or one schema for not). */
static void group_open(validation_t *v, node_kind_t kind, json_t *list, json_t *instance,
                       uint32_t owner, const char *path)
{
    size_t count = kind == NODE_NOT ? 1 : json_array_size(list);
    if (count == 0) {
        check_fail(v, owner, path, "an empty anyOf/oneOf matches nothing");
        return;
    }
    uint32_t group = node_add(v, kind, owner);
    if (group == NODE_NONE) {
        return;
    }
    v->nodes[group].alternatives = (uint32_t)count;
    snprintf(v->nodes[group].path, sizeof(v->nodes[group].path), "%s", path);
    v->nodes[owner].outstanding++;
    for (size_t i = 0; i < count && !v->aborted; i++) {
        uint32_t alternative = node_add(v, NODE_ALTERNATIVE, group);
        if (alternative == NODE_NONE) {
            return;
        }
        check_push(v, kind == NODE_NOT ? list : json_array_get(list, i), instance, alternative,
                   path);
    }
}

static const char *json_type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* 1 when value has the type named, 0 when not, -1 for a name JSON Schema does not have. */
static int type_matches(const char *name, const json_t *value)
{
    if (strcmp(name, "object") == 0) {
        return json_is_object(value);
    }
    if (strcmp(name, "array") == 0) {
        return json_is_array(value);
    }
    if (strcmp(name, "string") == 0) {
        return json_is_string(value);
    }
    if (strcmp(name, "integer") == 0) {
        return json_is_integer(value);
    }
    if (strcmp(name, "number") == 0) {
        return json_is_number(value);
    }
    if (strcmp(name, "boolean") == 0) {
        return json_is_boolean(value);
    }
    if (strcmp(name, "null") == 0) {
        return json_is_null(value);
    }
    return -1;
}

/* Whether the schema lets null through: nullable: true, or "null" among its types. */
static bool schema_allows_null(const json_t *schema)
{
    if (json_is_true(json_object_get(schema, "nullable"))) {
        return true;
    }
    const json_t *type = json_object_get(schema, "type");
    if (json_is_string(type)) {
        return strcmp(json_string_value(type), "null") == 0;
    }
    for (size_t i = 0; i < json_array_size(type); i++) {
        const char *name = json_string_value(json_array_get(type, i));
        if (name != NULL && strcmp(name, "null") == 0) {
            return true;
        }
    }
    return false;
}

/* Returns false when the type keyword rules the instance out (failure recorded). */
static bool check_type(validation_t *v, const check_item_t *item)
{
    const json_t *type = json_object_get(item->schema, "type");
    if (type == NULL) {
        return true;
    }
    size_t count = json_is_array(type) ? json_array_size(type) : 1;
    char wanted[96] = "";
    for (size_t i = 0; i < count; i++) {
        const json_t *entry = json_is_array(type) ? json_array_get(type, i) : type;
        const char *name = json_string_value(entry);
        int match = name != NULL ? type_matches(name, item->instance) : -1;
        if (match < 0) {
            validation_abort(v, "schema error at %s: unknown type %s", item->path,
                             name != NULL ? name : "(not a string)");
            return false;
        }
        if (match == 1) {
            return true;
        }
        size_t used = strlen(wanted);
        snprintf(wanted + used, sizeof(wanted) - used, "%s%s", i > 0 ? " or " : "", name);
    }
    check_fail(v, item->owner, item->path, "expected %s, got %s", wanted,
               json_type_name(item->instance));
    return false;
}

static void check_enum(validation_t *v, const check_item_t *item)
{
    const json_t *allowed = json_object_get(item->schema, "enum");
    if (!json_is_array(allowed)) {
        return;
    }
    for (size_t i = 0; i < json_array_size(allowed); i++) {
        if (json_equal(json_array_get(allowed, i), item->instance)) {
            return;
        }
    }
    char *text = json_dumps(item->instance, JSON_ENCODE_ANY | JSON_COMPACT);
    check_fail(v, item->owner, item->path, "%s is not one of the enum values",
               text != NULL ? text : "the value");
    free(text);
}

/* Compares two JSON numbers exactly when both are integers: <0, 0, >0. */
static int number_compare(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    double x = json_number_value(a), y = json_number_value(b);
    return (x > y) - (x < y);
}

static void check_number(validation_t *v, const check_item_t *item)
{
    if (!json_is_number(item->instance)) {
        return;
    }
    const json_t *minimum = json_object_get(item->schema, "minimum");
    const json_t *maximum = json_object_get(item->schema, "maximum");
    const json_t *exclusive_minimum = json_object_get(item->schema, "exclusiveMinimum");
    const json_t *exclusive_maximum = json_object_get(item->schema, "exclusiveMaximum");
    /* OpenAPI 3.0 says exclusiveMinimum: true next to minimum; 3.1 gives the bound itself. */
    if (json_is_number(exclusive_minimum)) {
        minimum = exclusive_minimum;
    }
    if (json_is_number(exclusive_maximum)) {
        maximum = exclusive_maximum;
    }
    bool minimum_exclusive = json_is_true(exclusive_minimum) || json_is_number(exclusive_minimum);
    bool maximum_exclusive = json_is_true(exclusive_maximum) || json_is_number(exclusive_maximum);
    char *text = NULL;
    if (json_is_number(minimum)) {
        int compared = number_compare(item->instance, minimum);
        if (compared < 0 || (compared == 0 && minimum_exclusive)) {
            text = json_dumps(minimum, JSON_ENCODE_ANY);
            check_fail(v, item->owner, item->path, "is below the minimum %s%s",
                       text != NULL ? text : "", minimum_exclusive ? " (exclusive)" : "");
        }
    }
    if (text == NULL && json_is_number(maximum)) {
        int compared = number_compare(item->instance, maximum);
        if (compared > 0 || (compared == 0 && maximum_exclusive)) {
            text = json_dumps(maximum, JSON_ENCODE_ANY);
            check_fail(v, item->owner, item->path, "is above the maximum %s%s",
                       text != NULL ? text : "", maximum_exclusive ? " (exclusive)" : "");
        }
    }
    free(text);
}

/* A non-negative integer keyword (minLength, maxItems, ...); -1 when absent. */
static json_int_t keyword_count(const json_t *schema, const char *name)
{
    const json_t *value = json_object_get(schema, name);
    return json_is_integer(value) && json_integer_value(value) >= 0 ? json_integer_value(value)
                                                                    : -1;
}

static void check_string(validation_t *v, const check_item_t *item)
{
    if (!json_is_string(item->instance)) {
        return;
    }
    const unsigned char *text = (const unsigned char *)json_string_value(item->instance);
    size_t bytes = json_string_length(item->instance), characters = 0;
    for (size_t i = 0; i < bytes; i++) {
        characters += (text[i] & 0xC0) != 0x80; /* count lead bytes: code points */
    }
    json_int_t min_length = keyword_count(item->schema, "minLength");
    json_int_t max_length = keyword_count(item->schema, "maxLength");
    if (min_length >= 0 && (json_int_t)characters < min_length) {
        check_fail(v, item->owner, item->path, "is shorter than %lld characters",
                   (long long)min_length);
    } else if (max_length >= 0 && (json_int_t)characters > max_length) {
        check_fail(v, item->owner, item->path, "is longer than %lld characters",
                   (long long)max_length);
    }
}

static void check_array(validation_t *v, const check_item_t *item)
{
    if (!json_is_array(item->instance)) {
        return;
    }
    size_t count = json_array_size(item->instance);
    json_int_t min_items = keyword_count(item->schema, "minItems");
    json_int_t max_items = keyword_count(item->schema, "maxItems");
    if (min_items >= 0 && (json_int_t)count < min_items) {
        check_fail(v, item->owner, item->path, "has %zu items, fewer than %lld", count,
                   (long long)min_items);
        return;
    }
    if (max_items >= 0 && (json_int_t)count > max_items) {
        check_fail(v, item->owner, item->path, "has %zu items, more than %lld", count,
                   (long long)max_items);
        return;
    }
    json_t *items = json_object_get(item->schema, "items");
    if (!json_is_object(items)) {
        return;
    }
    for (size_t i = 0; i < count && !v->aborted; i++) {
        char path[SS_TEST_OPENAPI_PATH_MAX];
        path_format(path, "%s[%zu]", item->path, i);
        check_push(v, items, json_array_get(item->instance, i), item->owner, path);
    }
}

static void check_object(validation_t *v, const check_item_t *item)
{
    if (!json_is_object(item->instance)) {
        return;
    }
    json_t *required = json_object_get(item->schema, "required");
    for (size_t i = 0; i < json_array_size(required); i++) {
        const char *name = json_string_value(json_array_get(required, i));
        if (name != NULL && json_object_get(item->instance, name) == NULL) {
            check_fail(v, item->owner, item->path, "%s is required", name);
            return;
        }
    }
    size_t count = json_object_size(item->instance);
    json_int_t min_properties = keyword_count(item->schema, "minProperties");
    json_int_t max_properties = keyword_count(item->schema, "maxProperties");
    if ((min_properties >= 0 && (json_int_t)count < min_properties) ||
        (max_properties >= 0 && (json_int_t)count > max_properties)) {
        check_fail(v, item->owner, item->path, "has %zu properties, outside %lld..%lld", count,
                   (long long)min_properties, (long long)max_properties);
        return;
    }
    json_t *properties = json_object_get(item->schema, "properties");
    json_t *additional = json_object_get(item->schema, "additionalProperties");
    const char *name;
    json_t *value;
    json_object_foreach(item->instance, name, value)
    {
        char path[SS_TEST_OPENAPI_PATH_MAX];
        path_format(path, "%s.%s", item->path, name);
        json_t *property = json_object_get(properties, name);
        if (property != NULL) {
            check_push(v, property, value, item->owner, path);
        } else if (json_is_false(additional)) {
            check_fail(v, item->owner, item->path, "%s is not a documented property", name);
            return;
        } else if (json_is_object(additional)) {
            check_push(v, additional, value, item->owner, path);
        }
        if (v->aborted) {
            return;
        }
    }
}

/* Runs every keyword of one (schema, instance) pair; pushes the checks it implies. */
static void check_one(validation_t *v, const check_item_t *item)
{
    if (!json_is_object(item->schema)) {
        if (json_is_false(item->schema)) {
            check_fail(v, item->owner, item->path, "no value is allowed here");
        } else if (!json_is_true(item->schema)) {
            validation_abort(v, "schema error at %s: a schema must be an object", item->path);
        }
        return;
    }
    const char *ref = json_string_value(json_object_get(item->schema, "$ref"));
    if (ref != NULL) {
        json_t *target = pointer_resolve(v->document, ref);
        if (target == NULL) {
            validation_abort(v, "schema error: $ref %s (at %s) leads nowhere", ref, item->path);
            return;
        }
        check_push(v, target, item->instance, item->owner, item->path);
        return;
    }
    if (json_is_null(item->instance) && schema_allows_null(item->schema)) {
        return;
    }
    if (!check_type(v, item)) {
        return;
    }
    check_enum(v, item);
    check_number(v, item);
    check_string(v, item);
    check_array(v, item);
    check_object(v, item);
    json_t *all_of = json_object_get(item->schema, "allOf");
    for (size_t i = 0; i < json_array_size(all_of) && !v->aborted; i++) {
        check_push(v, json_array_get(all_of, i), item->instance, item->owner, item->path);
    }
    json_t *any_of = json_object_get(item->schema, "anyOf");
    if (json_is_array(any_of) && !v->aborted) {
        group_open(v, NODE_ANY_OF, any_of, item->instance, item->owner, item->path);
    }
    json_t *one_of = json_object_get(item->schema, "oneOf");
    if (json_is_array(one_of) && !v->aborted) {
        group_open(v, NODE_ONE_OF, one_of, item->instance, item->owner, item->path);
    }
    json_t *not_schema = json_object_get(item->schema, "not");
    if (not_schema != NULL && !v->aborted) {
        group_open(v, NODE_NOT, not_schema, item->instance, item->owner, item->path);
    }
}

ss_err_t ss_test_openapi_check_value(const ss_test_openapi_t *openapi, const json_t *schema,
                                     const json_t *instance, char *errstr, size_t errstr_size)
{
    validation_t v = {
        .document = openapi->document,
        .stack = malloc(SS_TEST_OPENAPI_STACK_MAX * sizeof(check_item_t)),
        .nodes = malloc(SS_TEST_OPENAPI_NODES_MAX * sizeof(check_node_t)),
        .errstr = errstr,
        .errstr_size = errstr_size,
    };
    ss_err_t err = SS_OK;
    if (v.stack == NULL || v.nodes == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the work list");
        goto cleanup;
    }
    uint32_t root = node_add(&v, NODE_ALTERNATIVE, NODE_NONE);
    /* jansson's getters are const-correct, its iterators are not; nothing here writes. */
    check_push(&v, (json_t *)schema, (json_t *)instance, root, "$");
    size_t steps = 0;
    while (v.stack_count > 0 && !v.aborted && !v.nodes[root].failed) {
        if (++steps > SS_TEST_OPENAPI_STEPS_MAX) {
            validation_abort(&v, "more than %d checks (a $ref cycle?)", SS_TEST_OPENAPI_STEPS_MAX);
            break;
        }
        check_item_t item = v.stack[--v.stack_count];
        if (!v.nodes[item.owner].failed) {
            check_one(&v, &item);
        }
        if (!v.aborted) {
            check_done(&v, item.owner);
        }
    }
    if (v.aborted || v.nodes[root].failed) {
        err = SS_ERR_INVALID;
    }

cleanup:
    free(v.stack);
    free(v.nodes);
    return err;
}

/* ---- responses ------------------------------------------------------------------------------ */

static json_t *operation_find(const ss_test_openapi_t *openapi, const char *method,
                              const char *path_template, char *errstr, size_t errstr_size)
{
    json_t *item = json_object_get(json_object_get(openapi->document, "paths"), path_template);
    if (item == NULL) {
        ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "the document has no path %s",
                   path_template);
        return NULL;
    }
    char lower[16];
    size_t length = strlen(method);
    if (length >= sizeof(lower)) {
        ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "no such method %s", method);
        return NULL;
    }
    for (size_t i = 0; i <= length; i++) {
        lower[i] = (char)tolower((unsigned char)method[i]);
    }
    json_t *operation = json_object_get(item, lower);
    if (operation == NULL) {
        ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "the document has no %s %s", method,
                   path_template);
    }
    return operation;
}

ss_err_t ss_test_openapi_response(const ss_test_openapi_t *openapi, const char *method,
                                  const char *path_template, int status, const json_t **out,
                                  char *errstr, size_t errstr_size)
{
    *out = NULL;
    json_t *operation = operation_find(openapi, method, path_template, errstr, errstr_size);
    if (operation == NULL) {
        return SS_ERR_NOT_FOUND;
    }
    json_t *responses = json_object_get(operation, "responses");
    char exact[16], range[16];
    snprintf(exact, sizeof(exact), "%d", status);
    snprintf(range, sizeof(range), "%dXX", status / 100);
    json_t *response = json_object_get(responses, exact);
    if (response == NULL) {
        response = json_object_get(responses, range);
    }
    if (response == NULL) {
        response = json_object_get(responses, "default");
    }
    if (response == NULL) {
        return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "%s %s documents no response %d",
                          method, path_template, status);
    }
    const char *bad_ref = "";
    response = ref_follow(openapi->document, response, &bad_ref);
    if (response == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the response %d of %s %s: $ref %s leads nowhere", status, method,
                          path_template, bad_ref);
    }
    *out = response;
    return SS_OK;
}

ss_err_t ss_test_openapi_check_response(const ss_test_openapi_t *openapi, const char *method,
                                        const char *path_template, int status, const char *body,
                                        size_t body_length, char *errstr, size_t errstr_size)
{
    const json_t *response = NULL;
    ss_err_t err = ss_test_openapi_response(openapi, method, path_template, status, &response,
                                            errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    const json_t *content = json_object_get(response, "content");
    if (content == NULL) {
        return body_length == 0 ? SS_OK
                                : ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                             "%s %s %d documents no body, got %zu bytes", method,
                                             path_template, status, body_length);
    }
    const json_t *media = json_object_get(content, "application/json");
    if (media == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "%s %s %d documents no application/json content", method, path_template,
                          status);
    }
    json_error_t error;
    json_t *instance = json_loadb(body, body_length, JSON_DECODE_ANY, &error);
    if (instance == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the body of %s %s %d is not JSON: %s", method, path_template, status,
                          error.text);
    }
    const json_t *schema = json_object_get(media, "schema");
    if (schema != NULL) {
        char message[OPENAPI_MESSAGE_MAX] = "";
        err = ss_test_openapi_check_value(openapi, schema, instance, message, sizeof(message));
        if (err != SS_OK) {
            ss_err_set(err, errstr, errstr_size, "%s %s %d: %s", method, path_template, status,
                       message);
        }
    }
    json_decref(instance);
    return err;
}

size_t ss_test_openapi_response_headers(const ss_test_openapi_t *openapi, const char *method,
                                        const char *path_template, int status, const char **names,
                                        size_t names_max)
{
    const json_t *response = NULL;
    if (ss_test_openapi_response(openapi, method, path_template, status, &response, NULL, 0) !=
        SS_OK) {
        return 0;
    }
    /* jansson's object iteration takes a non-const object; it does not modify it. */
    json_t *headers = json_object_get(response, "headers");
    size_t count = 0;
    const char *name;
    json_t *header;
    json_object_foreach(headers, name, header)
    {
        if (count < names_max) {
            names[count] = name;
        }
        count++;
    }
    return count;
}
