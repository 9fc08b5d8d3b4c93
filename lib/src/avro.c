/*
 * Avro single-object encoding over jansson: the schema loader (avro-c validates every schema,
 * then this file compiles its JSON into a small node tree), the Parsing Canonical Form and its
 * CRC-64-AVRO fingerprint, and a binary encoder and resolving decoder that walk the node tree.
 * The binary format is written here rather than through avro-c's value API because the callers
 * hold json_t records; tests/unit/test_schemas.c checks the bytes against avro-c's writer.
 *
 * Recursion: the compiler, encoder, decoder and resolver recurse along the schema's nesting,
 * never along the input's. The loader refuses recursive types and schemas nested deeper than
 * SS_AVRO_SCHEMA_DEPTH_MAX, so the stack depth is bounded by a constant whatever bytes arrive.
 */
#include "ss/avro.h"

#include "ss/assert.h"

#include <avro.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A zig-zag varint of 64 bits takes at most 10 bytes. */
#define SS_AVRO_VARINT_BYTES_MAX 10
/* A schema file larger than this is surely not a schema. */
#define SS_AVRO_SCHEMA_FILE_BYTES_MAX (1024 * 1024)
/* Room for an error's field path such as "PlaceOrder.lines[12].quantity". */
#define SS_AVRO_PATH_TEXT_MAX 192
/* Room for a message built before the file name is prefixed to it. */
#define SS_AVRO_MESSAGE_MAX 512

typedef enum node_kind {
    NODE_NULL,
    NODE_BOOLEAN,
    NODE_INT,
    NODE_LONG,
    NODE_FLOAT,
    NODE_DOUBLE,
    NODE_BYTES,
    NODE_STRING,
    NODE_RECORD,
    NODE_ENUM,
    NODE_ARRAY,
    NODE_MAP,
    NODE_UNION,
    NODE_FIXED,
} node_kind_t;

static const char *const node_kind_names[] = {
    "null",   "boolean", "int",  "long",  "float", "double", "bytes",
    "string", "record",  "enum", "array", "map",   "union",  "fixed",
};

/* The primitive kinds come first in node_kind_t, in the same order as their names. */
#define NODE_PRIMITIVE_LAST NODE_STRING

typedef struct schema_node schema_node_t;

typedef struct schema_field {
    char *name;
    schema_node_t *type;
    const json_t *default_json;   /* borrowed from the schema's document; NULL: no default */
    bool has_default;             /* default_bytes is valid (it may be empty: type null) */
    unsigned char *default_bytes; /* the default in binary, written when a record lacks it */
    size_t default_length;
} schema_field_t;

struct schema_node {
    node_kind_t kind;
    char *fullname;       /* record, enum, fixed */
    char *namespace_name; /* the namespace its nested definitions inherit; NULL for none */
    schema_field_t *fields;
    size_t field_count;
    char **symbols;
    size_t symbol_count;
    long enum_default;    /* index into symbols for resolution, -1 for none */
    schema_node_t *items; /* array items, map values */
    schema_node_t **branches;
    size_t branch_count;
    size_t fixed_size;
    bool on_path; /* set while the depth check is below this node */
    bool emitted; /* set once the canonical form has written the definition */
};

struct ss_avro_schema {
    char *path;
    char *fullname;
    const char *name; /* points into fullname */
    char *canonical;
    uint64_t fingerprint;
    schema_node_t *root;
    schema_node_t **nodes; /* every node of this schema, owned */
    size_t node_count;
    size_t node_capacity;
    json_t *document;               /* the parsed .avsc, which default_json points into */
    const ss_avro_schema_t *reader; /* the current version of this record; itself if current */
};

struct ss_avro_registry {
    ss_avro_schema_t **schemas; /* current versions in [0, current_count), then snapshots */
    size_t schema_count;
    size_t current_count;
};

typedef struct value_path {
    char text[SS_AVRO_PATH_TEXT_MAX];
    size_t length;
} value_path_t;

typedef struct encode_ctx {
    ss_avro_buffer_t *out;
    value_path_t path;
    char *errstr;
    size_t errstr_size;
} encode_ctx_t;

typedef struct decode_ctx {
    const unsigned char *data;
    size_t length;
    size_t position;
    size_t items; /* array and map items so far, bounded by SS_AVRO_DECODE_ITEMS_MAX */
    value_path_t path;
    char *errstr;
    size_t errstr_size;
} decode_ctx_t;

typedef struct compile_ctx {
    ss_avro_schema_t *schema;
    char *errstr;
    size_t errstr_size;
} compile_ctx_t;

/* ---------------------------------------------------------------- buffers and fingerprints */

void ss_avro_buffer_init(ss_avro_buffer_t *buffer)
{
    SS_ASSERT(buffer != NULL);
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
}

void ss_avro_buffer_reset(ss_avro_buffer_t *buffer)
{
    SS_ASSERT(buffer != NULL);
    buffer->length = 0;
}

void ss_avro_buffer_free(ss_avro_buffer_t *buffer)
{
    if (buffer == NULL) {
        return;
    }
    free(buffer->data);
    ss_avro_buffer_init(buffer);
}

static ss_err_t buffer_reserve(ss_avro_buffer_t *buffer, size_t extra)
{
    if (extra <= buffer->capacity - buffer->length) {
        return SS_OK;
    }
    if (extra > SIZE_MAX / 2 - buffer->length) {
        return SS_ERR_NOMEM;
    }
    size_t capacity = buffer->capacity < 64 ? 64 : buffer->capacity;
    while (capacity - buffer->length < extra) { /* at most log2(SIZE_MAX) doublings */
        capacity *= 2;
    }
    unsigned char *data = realloc(buffer->data, capacity);
    if (data == NULL) {
        return SS_ERR_NOMEM;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return SS_OK;
}

static ss_err_t buffer_append(ss_avro_buffer_t *buffer, const void *bytes, size_t length)
{
    ss_err_t err = buffer_reserve(buffer, length);
    if (err != SS_OK) {
        return err;
    }
    if (length > 0) {
        memcpy(buffer->data + buffer->length, bytes, length);
    }
    buffer->length += length;
    return SS_OK;
}

static ss_err_t buffer_append_text(ss_avro_buffer_t *buffer, const char *text)
{
    return buffer_append(buffer, text, strlen(text));
}

uint64_t ss_avro_fingerprint64(const void *bytes, size_t length)
{
    /* Bit by bit rather than through the usual 256-entry table: fingerprints are computed once
     * per schema at load time, and no table means no lazily initialised shared state. */
    const unsigned char *data = bytes;
    uint64_t fingerprint = SS_AVRO_FINGERPRINT_EMPTY;
    for (size_t i = 0; i < length; i++) {
        fingerprint ^= data[i];
        for (int bit = 0; bit < 8; bit++) {
            fingerprint =
                (fingerprint >> 1) ^ (SS_AVRO_FINGERPRINT_EMPTY & (0 - (fingerprint & 1)));
        }
    }
    return fingerprint;
}

/* ---------------------------------------------------------------- small helpers */

static const char *json_kind_name(const json_t *value)
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
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static bool node_is_named(const schema_node_t *node)
{
    return node->kind == NODE_RECORD || node->kind == NODE_ENUM || node->kind == NODE_FIXED;
}

static const char *short_name(const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    return dot == NULL ? fullname : dot + 1;
}

/* Avro resolution matches named types by full name or, failing that, by unqualified name. */
static bool names_match(const schema_node_t *writer, const schema_node_t *reader)
{
    return strcmp(writer->fullname, reader->fullname) == 0 ||
           strcmp(short_name(writer->fullname), short_name(reader->fullname)) == 0;
}

/* True when strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF). */
static bool utf8_is_valid(const unsigned char *text, size_t length)
{
    size_t i = 0;
    while (i < length) {
        unsigned char lead = text[i];
        size_t extra;
        uint32_t code_point;
        uint32_t minimum;
        if (lead < 0x80) {
            i++;
            continue;
        } else if ((lead & 0xe0) == 0xc0) {
            extra = 1;
            code_point = lead & 0x1f;
            minimum = 0x80;
        } else if ((lead & 0xf0) == 0xe0) {
            extra = 2;
            code_point = lead & 0x0f;
            minimum = 0x800;
        } else if ((lead & 0xf8) == 0xf0) {
            extra = 3;
            code_point = lead & 0x07;
            minimum = 0x10000;
        } else {
            return false;
        }
        if (extra > length - i - 1) {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if ((text[i + k] & 0xc0) != 0x80) {
                return false;
            }
            code_point = (code_point << 6) | (text[i + k] & 0x3f);
        }
        if (code_point < minimum || code_point > 0x10ffff ||
            (code_point >= 0xd800 && code_point <= 0xdfff)) {
            return false;
        }
        i += extra + 1;
    }
    return true;
}

/* Appends text without formatting (this runs for every field on the hot path), truncating. */
static void path_append(value_path_t *path, const char *text)
{
    size_t length = strlen(text);
    size_t room = sizeof(path->text) - 1 - path->length;
    if (length > room) {
        length = room;
    }
    memcpy(path->text + path->length, text, length);
    path->length += length;
    path->text[path->length] = '\0';
}

static void path_set(value_path_t *path, const char *root)
{
    path->length = 0;
    path->text[0] = '\0';
    path_append(path, root);
}

/* Appends prefix, text and suffix and returns the length to restore with path_pop(). */
static size_t path_push(value_path_t *path, const char *prefix, const char *text,
                        const char *suffix)
{
    size_t saved = path->length;
    path_append(path, prefix);
    path_append(path, text);
    path_append(path, suffix);
    return saved;
}

static size_t path_push_field(value_path_t *path, const char *name)
{
    return path_push(path, ".", name, "");
}

static size_t path_push_index(value_path_t *path, size_t index)
{
    char digits[24];
    size_t at = sizeof(digits) - 1;
    digits[at] = '\0';
    do { /* at most 20 digits for a 64-bit size_t */
        digits[--at] = (char)('0' + index % 10);
        index /= 10;
    } while (index > 0);
    return path_push(path, "[", digits + at, "]");
}

static void path_pop(value_path_t *path, size_t saved)
{
    path->length = saved;
    path->text[saved] = '\0';
}

/* ---------------------------------------------------------------- binary writing */

static ss_err_t write_long(ss_avro_buffer_t *out, int64_t value)
{
    uint64_t zigzag = value >= 0 ? (uint64_t)value << 1 : ((uint64_t)(-(value + 1)) << 1) | 1;
    unsigned char bytes[SS_AVRO_VARINT_BYTES_MAX];
    size_t length = 0;
    while (zigzag >= 0x80) { /* at most 9 iterations: 63 bits in 7-bit groups */
        bytes[length++] = (unsigned char)(zigzag | 0x80);
        zigzag >>= 7;
    }
    bytes[length++] = (unsigned char)zigzag;
    return buffer_append(out, bytes, length);
}

static ss_err_t write_fixed_le(ss_avro_buffer_t *out, uint64_t bits, size_t size)
{
    unsigned char bytes[8];
    for (size_t i = 0; i < size; i++) {
        bytes[i] = (unsigned char)(bits >> (8 * i));
    }
    return buffer_append(out, bytes, size);
}

/* ---------------------------------------------------------------- encoding */

__attribute__((format(printf, 2, 3))) static ss_err_t encode_fail(encode_ctx_t *ctx,
                                                                  const char *format, ...)
{
    char message[SS_AVRO_MESSAGE_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: %s", ctx->path.text,
                      message);
}

static ss_err_t encode_type_mismatch(encode_ctx_t *ctx, const schema_node_t *node,
                                     const json_t *value)
{
    return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s: expected %s, got %s",
                      ctx->path.text, node_kind_names[node->kind], json_kind_name(value));
}

/* bytes and fixed are JSON strings whose code points U+0000..U+00FF are the byte values. */
static ss_err_t encode_latin1(encode_ctx_t *ctx, const json_t *value, size_t fixed_size,
                              bool is_fixed)
{
    const unsigned char *text = (const unsigned char *)json_string_value(value);
    size_t length = json_string_length(value);
    size_t start = ctx->out->length;
    size_t count = 0;
    ss_err_t err = buffer_reserve(ctx->out, SS_AVRO_VARINT_BYTES_MAX + length);
    if (err != SS_OK) {
        return err;
    }
    /* Decode in place after a worst-case length prefix, then move the bytes down. */
    unsigned char *bytes = ctx->out->data + start + SS_AVRO_VARINT_BYTES_MAX;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < 0x80) {
            bytes[count++] = text[i];
        } else if ((text[i] == 0xc2 || text[i] == 0xc3) && i + 1 < length &&
                   (text[i + 1] & 0xc0) == 0x80) {
            bytes[count++] = (unsigned char)(((text[i] & 0x1f) << 6) | (text[i + 1] & 0x3f));
            i++;
        } else {
            return encode_fail(ctx, "%s", "a bytes value may hold only characters U+0000..U+00FF");
        }
    }
    if (is_fixed && count != fixed_size) {
        char detail[64];
        snprintf(detail, sizeof(detail), "%zu bytes where fixed size is %zu", count, fixed_size);
        return encode_fail(ctx, "%s", detail);
    }
    size_t prefix = 0;
    if (!is_fixed) {
        ctx->out->length = start;
        err = write_long(ctx->out, (int64_t)count);
        if (err != SS_OK) {
            return err;
        }
        prefix = ctx->out->length - start;
    }
    memmove(ctx->out->data + start + prefix, ctx->out->data + start + SS_AVRO_VARINT_BYTES_MAX,
            count);
    ctx->out->length = start + prefix + count;
    return SS_OK;
}

static bool json_may_fit(const schema_node_t *node, const json_t *value)
{
    switch (node->kind) {
    case NODE_NULL:
        return json_is_null(value);
    case NODE_BOOLEAN:
        return json_is_boolean(value);
    case NODE_INT:
    case NODE_LONG:
        return json_is_integer(value);
    case NODE_FLOAT:
    case NODE_DOUBLE:
        return json_is_number(value);
    case NODE_BYTES:
    case NODE_STRING:
    case NODE_ENUM:
    case NODE_FIXED:
        return json_is_string(value);
    case NODE_ARRAY:
        return json_is_array(value);
    case NODE_MAP:
    case NODE_RECORD:
        return json_is_object(value);
    case NODE_UNION:
        return false;
    }
    return false;
}

static ss_err_t encode_value(encode_ctx_t *ctx, const schema_node_t *node, const json_t *value);

static ss_err_t encode_record(encode_ctx_t *ctx, const schema_node_t *node, const json_t *value)
{
    size_t matched = 0;
    for (size_t i = 0; i < node->field_count; i++) {
        const schema_field_t *field = &node->fields[i];
        const json_t *field_value = json_object_get(value, field->name);
        if (field_value == NULL) {
            if (!field->has_default) {
                return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                  "%s: missing field %s, which has no default", ctx->path.text,
                                  field->name);
            }
            ss_err_t err = buffer_append(ctx->out, field->default_bytes, field->default_length);
            if (err != SS_OK) {
                return err;
            }
            continue;
        }
        matched++;
        size_t saved = path_push_field(&ctx->path, field->name);
        ss_err_t err = encode_value(ctx, field->type, field_value);
        if (err != SS_OK) {
            return err;
        }
        path_pop(&ctx->path, saved);
    }
    if (matched != json_object_size(value)) {
        const char *key;
        const json_t *member;
        json_object_foreach((json_t *)value, key, member)
        {
            bool known = false;
            for (size_t i = 0; i < node->field_count && !known; i++) {
                known = strcmp(node->fields[i].name, key) == 0;
            }
            if (!known) {
                return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                                  "%s: unknown field %s", ctx->path.text, key);
            }
        }
    }
    return SS_OK;
}

static ss_err_t encode_union(encode_ctx_t *ctx, const schema_node_t *node, const json_t *value)
{
    /* The first branch the value fits wins; a failed attempt is rolled back. */
    size_t start = ctx->out->length;
    size_t path_length = ctx->path.length;
    size_t candidates = 0;
    for (size_t i = 0; i < node->branch_count; i++) {
        const schema_node_t *branch = node->branches[i];
        if (!json_may_fit(branch, value)) {
            continue;
        }
        candidates++;
        ss_err_t err = write_long(ctx->out, (int64_t)i);
        if (err == SS_OK) {
            err = encode_value(ctx, branch, value);
        }
        if (err != SS_ERR_INVALID) {
            return err;
        }
        ctx->out->length = start;
        path_pop(&ctx->path, path_length);
    }
    if (candidates == 1) {
        return SS_ERR_INVALID; /* the one candidate's message says why it did not fit */
    }
    return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                      "%s: a %s value fits no branch of the union", ctx->path.text,
                      json_kind_name(value));
}

static ss_err_t encode_collection(encode_ctx_t *ctx, const schema_node_t *node, const json_t *value)
{
    size_t count = node->kind == NODE_ARRAY ? json_array_size(value) : json_object_size(value);
    ss_err_t err;
    if (count > 0) {
        err = write_long(ctx->out, (int64_t)count);
        if (err != SS_OK) {
            return err;
        }
    }
    if (node->kind == NODE_ARRAY) {
        size_t index;
        const json_t *item;
        json_array_foreach(value, index, item)
        {
            size_t saved = path_push_index(&ctx->path, index);
            err = encode_value(ctx, node->items, item);
            if (err != SS_OK) {
                return err;
            }
            path_pop(&ctx->path, saved);
        }
    } else {
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)value, key, item)
        {
            size_t key_length = strlen(key);
            size_t saved = path_push(&ctx->path, "[\"", key, "\"]");
            err = write_long(ctx->out, (int64_t)key_length);
            if (err == SS_OK) {
                err = buffer_append(ctx->out, key, key_length);
            }
            if (err == SS_OK) {
                err = encode_value(ctx, node->items, item);
            }
            if (err != SS_OK) {
                return err;
            }
            path_pop(&ctx->path, saved);
        }
    }
    return write_long(ctx->out, 0);
}

static ss_err_t encode_value(encode_ctx_t *ctx, const schema_node_t *node, const json_t *value)
{
    if (node->kind == NODE_UNION) {
        return encode_union(ctx, node, value);
    }
    if (!json_may_fit(node, value)) {
        return encode_type_mismatch(ctx, node, value);
    }
    switch (node->kind) {
    case NODE_NULL:
        return SS_OK;
    case NODE_BOOLEAN: {
        unsigned char byte = json_is_true(value) ? 1 : 0;
        return buffer_append(ctx->out, &byte, 1);
    }
    case NODE_INT: {
        json_int_t number = json_integer_value(value);
        if (number < INT32_MIN || number > INT32_MAX) {
            char detail[64];
            snprintf(detail, sizeof(detail), "%lld", (long long)number);
            return encode_fail(ctx, "%s is out of the int range", detail);
        }
        return write_long(ctx->out, (int64_t)number);
    }
    case NODE_LONG:
        return write_long(ctx->out, (int64_t)json_integer_value(value));
    case NODE_FLOAT: {
        float number = (float)json_number_value(value);
        uint32_t bits;
        memcpy(&bits, &number, sizeof(bits));
        return write_fixed_le(ctx->out, bits, sizeof(bits));
    }
    case NODE_DOUBLE: {
        double number = json_number_value(value);
        uint64_t bits;
        memcpy(&bits, &number, sizeof(bits));
        return write_fixed_le(ctx->out, bits, sizeof(bits));
    }
    case NODE_STRING: {
        const char *text = json_string_value(value);
        size_t length = json_string_length(value);
        if (!utf8_is_valid((const unsigned char *)text, length)) {
            return encode_fail(ctx, "%s", "string is not valid UTF-8");
        }
        ss_err_t err = write_long(ctx->out, (int64_t)length);
        return err != SS_OK ? err : buffer_append(ctx->out, text, length);
    }
    case NODE_BYTES:
        return encode_latin1(ctx, value, 0, false);
    case NODE_FIXED:
        return encode_latin1(ctx, value, node->fixed_size, true);
    case NODE_ENUM: {
        const char *symbol = json_string_value(value);
        for (size_t i = 0; i < node->symbol_count; i++) {
            if (strcmp(node->symbols[i], symbol) == 0) {
                return write_long(ctx->out, (int64_t)i);
            }
        }
        return encode_fail(ctx, "%s is not a symbol of the enum", symbol);
    }
    case NODE_RECORD:
        return encode_record(ctx, node, value);
    case NODE_ARRAY:
    case NODE_MAP:
        return encode_collection(ctx, node, value);
    case NODE_UNION:
        break;
    }
    return encode_type_mismatch(ctx, node, value);
}

ss_err_t ss_avro_encode_schema(const ss_avro_schema_t *schema, const json_t *record,
                               ss_avro_buffer_t *out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(schema != NULL && out != NULL);
    encode_ctx_t ctx = {.out = out, .errstr = errstr, .errstr_size = errstr_size};
    path_set(&ctx.path, schema->name);
    out->length = 0;
    ss_err_t err;
    if (record == NULL) {
        err =
            ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s: the record is NULL", schema->name);
        goto cleanup;
    }
    unsigned char header[SS_AVRO_HEADER_SIZE] = {SS_AVRO_MARKER_0, SS_AVRO_MARKER_1};
    for (size_t i = 0; i < 8; i++) {
        header[2 + i] = (unsigned char)(schema->fingerprint >> (8 * i));
    }
    err = buffer_append(out, header, sizeof(header));
    if (err == SS_OK) {
        err = encode_value(&ctx, schema->root, record);
    }
cleanup:
    if (err == SS_ERR_NOMEM) {
        ss_err_set(err, errstr, errstr_size, "out of memory encoding %s", schema->name);
    }
    if (err != SS_OK) {
        out->length = 0;
    }
    return err;
}

ss_err_t ss_avro_encode(const ss_avro_registry_t *registry, const char *schema_name,
                        const json_t *record, ss_avro_buffer_t *out, char *errstr,
                        size_t errstr_size)
{
    SS_ASSERT(registry != NULL && schema_name != NULL && out != NULL);
    const ss_avro_schema_t *schema = ss_avro_registry_find(registry, schema_name);
    if (schema == NULL) {
        out->length = 0;
        return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "unknown schema %s", schema_name);
    }
    return ss_avro_encode_schema(schema, record, out, errstr, errstr_size);
}

/* ---------------------------------------------------------------- decoding */

static ss_err_t decode_fail(decode_ctx_t *ctx, const char *message)
{
    return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s at %s (byte %zu of %zu)",
                      message, ctx->path.text, ctx->position, ctx->length);
}

static ss_err_t decode_nomem(decode_ctx_t *ctx)
{
    return ss_err_set(SS_ERR_NOMEM, ctx->errstr, ctx->errstr_size, "out of memory decoding %s",
                      ctx->path.text);
}

static ss_err_t read_long(decode_ctx_t *ctx, int64_t *value_out)
{
    uint64_t zigzag = 0;
    for (size_t i = 0; i < SS_AVRO_VARINT_BYTES_MAX; i++) {
        if (ctx->position >= ctx->length) {
            return decode_fail(ctx, "truncated record");
        }
        unsigned char byte = ctx->data[ctx->position++];
        if (i == SS_AVRO_VARINT_BYTES_MAX - 1 && byte > 1) {
            return decode_fail(ctx, "varint overflows 64 bits");
        }
        zigzag |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            uint64_t half = zigzag >> 1;
            *value_out = (zigzag & 1) ? -(int64_t)half - 1 : (int64_t)half;
            return SS_OK;
        }
    }
    return decode_fail(ctx, "varint longer than 10 bytes");
}

static ss_err_t read_raw(decode_ctx_t *ctx, size_t length, const unsigned char **bytes_out)
{
    if (length > ctx->length - ctx->position) {
        return decode_fail(ctx, "truncated record");
    }
    *bytes_out = ctx->data + ctx->position;
    ctx->position += length;
    return SS_OK;
}

/* A length-prefixed byte string (string, bytes, map key). */
static ss_err_t read_length_prefixed(decode_ctx_t *ctx, const unsigned char **bytes_out,
                                     size_t *length_out)
{
    int64_t length;
    ss_err_t err = read_long(ctx, &length);
    if (err != SS_OK) {
        return err;
    }
    if (length < 0) {
        return decode_fail(ctx, "negative length");
    }
    if ((uint64_t)length > ctx->length - ctx->position) {
        return decode_fail(ctx, "truncated record");
    }
    *length_out = (size_t)length;
    return read_raw(ctx, (size_t)length, bytes_out);
}

static ss_err_t make_utf8_string(decode_ctx_t *ctx, const unsigned char *bytes, size_t length,
                                 json_t **value_out)
{
    if (!utf8_is_valid(bytes, length)) {
        return decode_fail(ctx, "string is not valid UTF-8");
    }
    *value_out = json_stringn((const char *)bytes, length);
    return *value_out == NULL ? decode_nomem(ctx) : SS_OK;
}

static ss_err_t make_latin1_string(decode_ctx_t *ctx, const unsigned char *bytes, size_t length,
                                   json_t **value_out)
{
    char *text = malloc(length * 2 + 1);
    if (text == NULL) {
        return decode_nomem(ctx);
    }
    size_t text_length = 0;
    for (size_t i = 0; i < length; i++) {
        if (bytes[i] < 0x80) {
            text[text_length++] = (char)bytes[i];
        } else {
            text[text_length++] = (char)(0xc0 | (bytes[i] >> 6));
            text[text_length++] = (char)(0x80 | (bytes[i] & 0x3f));
        }
    }
    *value_out = json_stringn(text, text_length);
    free(text);
    return *value_out == NULL ? decode_nomem(ctx) : SS_OK;
}

/* Whether a writer primitive may be read as a reader primitive (Avro's promotions). */
static bool primitive_promotable(node_kind_t writer, node_kind_t reader)
{
    if (writer == reader) {
        return true;
    }
    switch (writer) {
    case NODE_INT:
        return reader == NODE_LONG || reader == NODE_FLOAT || reader == NODE_DOUBLE;
    case NODE_LONG:
        return reader == NODE_FLOAT || reader == NODE_DOUBLE;
    case NODE_FLOAT:
        return reader == NODE_DOUBLE;
    case NODE_STRING:
        return reader == NODE_BYTES;
    case NODE_BYTES:
        return reader == NODE_STRING;
    default:
        return false;
    }
}

static bool node_matches_exactly(const schema_node_t *writer, const schema_node_t *reader)
{
    if (writer == reader) {
        return true;
    }
    if (writer->kind != reader->kind) {
        return false;
    }
    if (node_is_named(writer)) {
        return names_match(writer, reader) &&
               (writer->kind != NODE_FIXED || writer->fixed_size == reader->fixed_size);
    }
    return true;
}

/* The first reader union branch a (non-union) writer type resolves to, exact matches first. */
static const schema_node_t *pick_reader_branch(const schema_node_t *reader_union,
                                               const schema_node_t *writer)
{
    for (size_t i = 0; i < reader_union->branch_count; i++) {
        if (node_matches_exactly(writer, reader_union->branches[i])) {
            return reader_union->branches[i];
        }
    }
    for (size_t i = 0; i < reader_union->branch_count; i++) {
        const schema_node_t *branch = reader_union->branches[i];
        if (writer->kind <= NODE_PRIMITIVE_LAST && branch->kind <= NODE_PRIMITIVE_LAST &&
            primitive_promotable(writer->kind, branch->kind)) {
            return branch;
        }
    }
    return NULL;
}

static ss_err_t decode_primitive(decode_ctx_t *ctx, node_kind_t writer, node_kind_t reader,
                                 json_t **value_out)
{
    ss_err_t err = SS_OK;
    int64_t number = 0;
    double real = 0.0;
    bool is_real = false;
    const unsigned char *bytes = NULL;
    size_t length = 0;
    switch (writer) {
    case NODE_NULL:
        *value_out = json_null();
        return SS_OK;
    case NODE_BOOLEAN:
        err = read_raw(ctx, 1, &bytes);
        if (err != SS_OK) {
            return err;
        }
        if (bytes[0] > 1) {
            return decode_fail(ctx, "boolean byte is neither 0 nor 1");
        }
        *value_out = json_boolean(bytes[0] == 1);
        return SS_OK;
    case NODE_INT:
    case NODE_LONG:
        err = read_long(ctx, &number);
        if (err != SS_OK) {
            return err;
        }
        if (writer == NODE_INT && (number < INT32_MIN || number > INT32_MAX)) {
            return decode_fail(ctx, "int out of range");
        }
        real = (double)number;
        break;
    case NODE_FLOAT: {
        err = read_raw(ctx, 4, &bytes);
        if (err != SS_OK) {
            return err;
        }
        uint32_t bits = (uint32_t)bytes[0] | (uint32_t)bytes[1] << 8 | (uint32_t)bytes[2] << 16 |
                        (uint32_t)bytes[3] << 24;
        float value;
        memcpy(&value, &bits, sizeof(value));
        real = value;
        is_real = true;
        break;
    }
    case NODE_DOUBLE: {
        err = read_raw(ctx, 8, &bytes);
        if (err != SS_OK) {
            return err;
        }
        uint64_t bits = 0;
        for (size_t i = 0; i < 8; i++) {
            bits |= (uint64_t)bytes[i] << (8 * i);
        }
        memcpy(&real, &bits, sizeof(real));
        is_real = true;
        break;
    }
    case NODE_STRING:
    case NODE_BYTES:
        err = read_length_prefixed(ctx, &bytes, &length);
        if (err != SS_OK) {
            return err;
        }
        return reader == NODE_STRING ? make_utf8_string(ctx, bytes, length, value_out)
                                     : make_latin1_string(ctx, bytes, length, value_out);
    default:
        return decode_fail(ctx, "internal error: not a primitive");
    }
    if (reader == NODE_FLOAT || reader == NODE_DOUBLE || is_real) {
        if (!isfinite(real)) {
            return decode_fail(ctx, "floating-point value is not finite (JSON has no NaN)");
        }
        *value_out = json_real(real);
        return *value_out == NULL ? decode_nomem(ctx) : SS_OK;
    }
    *value_out = json_integer((json_int_t)number);
    return *value_out == NULL ? decode_nomem(ctx) : SS_OK;
}

static ss_err_t decode_value(decode_ctx_t *ctx, const schema_node_t *writer,
                             const schema_node_t *reader, json_t **value_out);

static ss_err_t decode_default(decode_ctx_t *ctx, const schema_field_t *field, json_t **value_out)
{
    decode_ctx_t sub = {.data = field->default_bytes,
                        .length = field->default_length,
                        .items = ctx->items,
                        .path = ctx->path,
                        .errstr = ctx->errstr,
                        .errstr_size = ctx->errstr_size};
    ss_err_t err = decode_value(&sub, field->type, field->type, value_out);
    ctx->items = sub.items;
    return err;
}

/* Writer and reader are the same schema: fields in order, no matching, no defaults. */
static ss_err_t decode_record_same(decode_ctx_t *ctx, const schema_node_t *node, json_t **value_out)
{
    ss_err_t err = SS_OK;
    json_t *object = json_object();
    json_t *value = NULL;
    if (object == NULL) {
        err = decode_nomem(ctx);
        goto cleanup;
    }
    for (size_t i = 0; i < node->field_count; i++) {
        const schema_field_t *field = &node->fields[i];
        size_t saved = path_push_field(&ctx->path, field->name);
        err = decode_value(ctx, field->type, field->type, &value);
        if (err != SS_OK) {
            goto cleanup;
        }
        /* Field names are ASCII identifiers (avro-c checked them), so skip the UTF-8 check. */
        int rc = json_object_set_new_nocheck(object, field->name, value);
        value = NULL;
        if (rc != 0) {
            err = decode_nomem(ctx);
            goto cleanup;
        }
        path_pop(&ctx->path, saved);
    }
    *value_out = object;
    object = NULL;
cleanup:
    json_decref(value);
    json_decref(object);
    return err;
}

static ss_err_t decode_record(decode_ctx_t *ctx, const schema_node_t *writer,
                              const schema_node_t *reader, json_t **value_out)
{
    if (writer == reader) {
        return decode_record_same(ctx, reader, value_out);
    }
    ss_err_t err = SS_OK;
    json_t *object = json_object();
    json_t **values = calloc(reader->field_count + 1, sizeof(*values));
    json_t *skipped = NULL;
    if (object == NULL || values == NULL) {
        err = decode_nomem(ctx);
        goto cleanup;
    }
    for (size_t i = 0; i < writer->field_count; i++) {
        const schema_field_t *writer_field = &writer->fields[i];
        size_t reader_index = reader->field_count;
        for (size_t k = 0; k < reader->field_count; k++) {
            if (strcmp(reader->fields[k].name, writer_field->name) == 0) {
                reader_index = k;
                break;
            }
        }
        size_t saved = path_push_field(&ctx->path, writer_field->name);
        if (reader_index == reader->field_count) {
            /* The reader does not know the field: read it to skip it. */
            err = decode_value(ctx, writer_field->type, writer_field->type, &skipped);
            json_decref(skipped);
            skipped = NULL;
        } else {
            json_decref(values[reader_index]);
            values[reader_index] = NULL;
            err = decode_value(ctx, writer_field->type, reader->fields[reader_index].type,
                               &values[reader_index]);
        }
        if (err != SS_OK) {
            goto cleanup;
        }
        path_pop(&ctx->path, saved);
    }
    for (size_t i = 0; i < reader->field_count; i++) {
        const schema_field_t *field = &reader->fields[i];
        if (values[i] == NULL) {
            size_t saved = path_push_field(&ctx->path, field->name);
            if (!field->has_default) {
                err = decode_fail(ctx, "writer lacks the field and the reader has no default");
                goto cleanup;
            }
            err = decode_default(ctx, field, &values[i]);
            if (err != SS_OK) {
                goto cleanup;
            }
            path_pop(&ctx->path, saved);
        }
        if (json_object_set_new_nocheck(object, field->name, values[i]) != 0) {
            values[i] = NULL;
            err = decode_nomem(ctx);
            goto cleanup;
        }
        values[i] = NULL;
    }
    *value_out = object;
    object = NULL;
cleanup:
    if (values != NULL) {
        for (size_t i = 0; i < reader->field_count; i++) {
            json_decref(values[i]);
        }
    }
    free(values);
    json_decref(object);
    return err;
}

static ss_err_t decode_enum(decode_ctx_t *ctx, const schema_node_t *writer,
                            const schema_node_t *reader, json_t **value_out)
{
    int64_t index;
    ss_err_t err = read_long(ctx, &index);
    if (err != SS_OK) {
        return err;
    }
    if (index < 0 || (uint64_t)index >= writer->symbol_count) {
        return decode_fail(ctx, "enum index out of range");
    }
    const char *symbol = writer->symbols[index];
    if (writer != reader) {
        const char *found = NULL;
        for (size_t i = 0; i < reader->symbol_count && found == NULL; i++) {
            if (strcmp(reader->symbols[i], symbol) == 0) {
                found = reader->symbols[i];
            }
        }
        if (found == NULL && reader->enum_default >= 0) {
            found = reader->symbols[reader->enum_default];
        }
        if (found == NULL) {
            return decode_fail(ctx, "enum symbol unknown to the reader, which has no default");
        }
        symbol = found;
    }
    *value_out = json_string(symbol);
    return *value_out == NULL ? decode_nomem(ctx) : SS_OK;
}

static ss_err_t decode_collection(decode_ctx_t *ctx, const schema_node_t *writer,
                                  const schema_node_t *reader, json_t **value_out)
{
    ss_err_t err = SS_OK;
    bool is_array = reader->kind == NODE_ARRAY;
    json_t *collection = is_array ? json_array() : json_object();
    json_t *item = NULL;
    char *key = NULL;
    size_t index = 0;
    if (collection == NULL) {
        err = decode_nomem(ctx);
        goto cleanup;
    }
    /* Each block adds at least one item, and items are bounded, so blocks are too. */
    for (;;) {
        int64_t count;
        err = read_long(ctx, &count);
        if (err != SS_OK) {
            goto cleanup;
        }
        if (count == 0) {
            break;
        }
        if (count < 0) {
            int64_t block_bytes;
            if (count == INT64_MIN) {
                err = decode_fail(ctx, "block count out of range");
                goto cleanup;
            }
            count = -count;
            err = read_long(ctx, &block_bytes);
            if (err != SS_OK) {
                goto cleanup;
            }
            if (block_bytes < 0) {
                err = decode_fail(ctx, "negative block size");
                goto cleanup;
            }
        }
        if ((uint64_t)count > SS_AVRO_DECODE_ITEMS_MAX - ctx->items) {
            err = decode_fail(ctx, "too many array or map items");
            goto cleanup;
        }
        ctx->items += (size_t)count;
        for (int64_t i = 0; i < count; i++, index++) {
            size_t saved;
            if (is_array) {
                saved = path_push_index(&ctx->path, index);
            } else {
                const unsigned char *key_bytes;
                size_t key_length;
                saved = path_push_index(&ctx->path, index);
                err = read_length_prefixed(ctx, &key_bytes, &key_length);
                if (err != SS_OK) {
                    goto cleanup;
                }
                if (!utf8_is_valid(key_bytes, key_length) ||
                    memchr(key_bytes, '\0', key_length) != NULL) {
                    err = decode_fail(ctx, "map key is not valid UTF-8 without NUL");
                    goto cleanup;
                }
                key = strndup((const char *)key_bytes, key_length);
                if (key == NULL) {
                    err = decode_nomem(ctx);
                    goto cleanup;
                }
            }
            err = decode_value(ctx, writer->items, reader->items, &item);
            if (err != SS_OK) {
                goto cleanup;
            }
            int rc = is_array ? json_array_append_new(collection, item)
                              : json_object_set_new(collection, key, item);
            item = NULL;
            free(key);
            key = NULL;
            if (rc != 0) {
                err = decode_nomem(ctx);
                goto cleanup;
            }
            path_pop(&ctx->path, saved);
        }
    }
    *value_out = collection;
    collection = NULL;
cleanup:
    free(key);
    json_decref(item);
    json_decref(collection);
    return err;
}

static ss_err_t decode_value(decode_ctx_t *ctx, const schema_node_t *writer,
                             const schema_node_t *reader, json_t **value_out)
{
    *value_out = NULL;
    if (writer->kind == NODE_UNION) {
        int64_t index;
        ss_err_t err = read_long(ctx, &index);
        if (err != SS_OK) {
            return err;
        }
        if (index < 0 || (uint64_t)index >= writer->branch_count) {
            return decode_fail(ctx, "union branch index out of range");
        }
        writer = writer->branches[index]; /* never a union: the compiler refuses nesting */
    }
    if (reader->kind == NODE_UNION) {
        const schema_node_t *branch = pick_reader_branch(reader, writer);
        if (branch == NULL) {
            return decode_fail(ctx, "the writer's type matches no branch of the reader's union");
        }
        reader = branch;
    }
    if (writer->kind <= NODE_PRIMITIVE_LAST && reader->kind <= NODE_PRIMITIVE_LAST &&
        primitive_promotable(writer->kind, reader->kind)) {
        return decode_primitive(ctx, writer->kind, reader->kind, value_out);
    }
    if (!node_matches_exactly(writer, reader)) {
        return decode_fail(ctx, "the writer's type cannot be read as the reader's");
    }
    switch (reader->kind) {
    case NODE_RECORD:
        return decode_record(ctx, writer, reader, value_out);
    case NODE_ENUM:
        return decode_enum(ctx, writer, reader, value_out);
    case NODE_ARRAY:
    case NODE_MAP:
        return decode_collection(ctx, writer, reader, value_out);
    case NODE_FIXED: {
        const unsigned char *bytes = NULL;
        ss_err_t err = read_raw(ctx, writer->fixed_size, &bytes);
        return err != SS_OK ? err : make_latin1_string(ctx, bytes, writer->fixed_size, value_out);
    }
    default:
        return decode_fail(ctx, "internal error: unexpected type");
    }
}

ss_err_t ss_avro_peek_fingerprint(const void *bytes, size_t length, uint64_t *fingerprint_out,
                                  char *errstr, size_t errstr_size)
{
    SS_ASSERT(fingerprint_out != NULL);
    const unsigned char *data = bytes;
    if (data == NULL || length < SS_AVRO_HEADER_SIZE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "message of %zu bytes is shorter than the %d-byte avro header", length,
                          SS_AVRO_HEADER_SIZE);
    }
    if (data[0] != SS_AVRO_MARKER_0 || data[1] != SS_AVRO_MARKER_1) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "bad single-object marker 0x%02x%02x (expected 0xc301)", data[0],
                          data[1]);
    }
    uint64_t fingerprint = 0;
    for (size_t i = 0; i < 8; i++) {
        fingerprint |= (uint64_t)data[2 + i] << (8 * i);
    }
    *fingerprint_out = fingerprint;
    return SS_OK;
}

ss_err_t ss_avro_decode(const ss_avro_registry_t *registry, const void *bytes, size_t length,
                        const char **schema_name_out, json_t **record_out, char *errstr,
                        size_t errstr_size)
{
    SS_ASSERT(registry != NULL && record_out != NULL);
    *record_out = NULL;
    uint64_t fingerprint;
    ss_err_t err = ss_avro_peek_fingerprint(bytes, length, &fingerprint, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    const ss_avro_schema_t *writer = ss_avro_registry_find_fingerprint(registry, fingerprint);
    if (writer == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "unknown schema fingerprint 0x%016" PRIx64, fingerprint);
    }
    const ss_avro_schema_t *reader = writer->reader;
    decode_ctx_t ctx = {.data = bytes,
                        .length = length,
                        .position = SS_AVRO_HEADER_SIZE,
                        .errstr = errstr,
                        .errstr_size = errstr_size};
    path_set(&ctx.path, reader->name);
    json_t *record = NULL;
    err = decode_value(&ctx, writer->root, reader->root, &record);
    if (err == SS_OK && ctx.position != length) {
        err =
            ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%zu trailing bytes after a %s record",
                       length - ctx.position, reader->name);
    }
    if (err != SS_OK) {
        json_decref(record);
        return err;
    }
    *record_out = record;
    if (schema_name_out != NULL) {
        *schema_name_out = reader->name;
    }
    return SS_OK;
}

/* ---------------------------------------------------------------- schema compilation */

static void node_free(schema_node_t *node)
{
    if (node == NULL) {
        return;
    }
    for (size_t i = 0; i < node->field_count; i++) {
        free(node->fields[i].name);
        free(node->fields[i].default_bytes);
    }
    for (size_t i = 0; i < node->symbol_count; i++) {
        free(node->symbols[i]);
    }
    free(node->fields);
    free(node->symbols);
    free(node->branches);
    free(node->fullname);
    free(node->namespace_name);
    free(node);
}

static void schema_destroy(ss_avro_schema_t *schema)
{
    if (schema == NULL) {
        return;
    }
    for (size_t i = 0; i < schema->node_count; i++) {
        node_free(schema->nodes[i]);
    }
    free(schema->nodes);
    json_decref(schema->document);
    free(schema->canonical);
    free(schema->fullname);
    free(schema->path);
    free(schema);
}

__attribute__((format(printf, 2, 3))) static ss_err_t compile_fail(compile_ctx_t *ctx,
                                                                   const char *format, ...)
{
    char message[SS_AVRO_MESSAGE_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size, "%s", message);
}

static ss_err_t compile_nomem(compile_ctx_t *ctx)
{
    return ss_err_set(SS_ERR_NOMEM, ctx->errstr, ctx->errstr_size,
                      "out of memory compiling a schema");
}

static ss_err_t node_new(compile_ctx_t *ctx, node_kind_t kind, schema_node_t **node_out)
{
    ss_avro_schema_t *schema = ctx->schema;
    if (schema->node_count == schema->node_capacity) {
        size_t capacity = schema->node_capacity == 0 ? 16 : schema->node_capacity * 2;
        schema_node_t **nodes = realloc(schema->nodes, capacity * sizeof(*nodes));
        if (nodes == NULL) {
            return compile_nomem(ctx);
        }
        schema->nodes = nodes;
        schema->node_capacity = capacity;
    }
    schema_node_t *node = calloc(1, sizeof(*node));
    if (node == NULL) {
        return compile_nomem(ctx);
    }
    node->kind = kind;
    node->enum_default = -1;
    schema->nodes[schema->node_count++] = node;
    *node_out = node;
    return SS_OK;
}

static bool primitive_kind(const char *name, node_kind_t *kind_out)
{
    for (int kind = NODE_NULL; kind <= NODE_PRIMITIVE_LAST; kind++) {
        if (strcmp(node_kind_names[kind], name) == 0) {
            *kind_out = (node_kind_t)kind;
            return true;
        }
    }
    return false;
}

/* name qualified by namespace unless it already holds a dot; the caller frees the result. */
static char *qualify(const char *name, const char *namespace_name)
{
    if (strchr(name, '.') != NULL || namespace_name == NULL || namespace_name[0] == '\0') {
        return strdup(name);
    }
    size_t length = strlen(namespace_name) + 1 + strlen(name) + 1;
    char *fullname = malloc(length);
    if (fullname != NULL) {
        snprintf(fullname, length, "%s.%s", namespace_name, name);
    }
    return fullname;
}

static schema_node_t *find_named(const ss_avro_schema_t *schema, const char *fullname)
{
    for (size_t i = 0; i < schema->node_count; i++) {
        schema_node_t *node = schema->nodes[i];
        if (node->fullname != NULL && strcmp(node->fullname, fullname) == 0) {
            return node;
        }
    }
    return NULL;
}

static ss_err_t compile_reference(compile_ctx_t *ctx, const char *name, const char *namespace_name,
                                  schema_node_t **node_out)
{
    node_kind_t kind;
    if (primitive_kind(name, &kind)) {
        return node_new(ctx, kind, node_out);
    }
    char *fullname = qualify(name, namespace_name);
    if (fullname == NULL) {
        return compile_nomem(ctx);
    }
    *node_out = find_named(ctx->schema, fullname);
    if (*node_out == NULL) {
        /* An unqualified name may also refer to a type in the null namespace. */
        *node_out = find_named(ctx->schema, name);
    }
    free(fullname);
    return *node_out == NULL ? compile_fail(ctx, "unknown type name %s", name) : SS_OK;
}

/* Gives a record, enum or fixed its full name and the namespace its children inherit. */
static ss_err_t define_name(compile_ctx_t *ctx, const json_t *json, const char *namespace_name,
                            schema_node_t *node)
{
    const char *name = json_string_value(json_object_get(json, "name"));
    if (name == NULL) {
        return compile_fail(ctx, "a %s needs a name", node_kind_names[node->kind]);
    }
    const json_t *namespace_json = json_object_get(json, "namespace");
    if (json_is_string(namespace_json)) {
        namespace_name = json_string_value(namespace_json);
    }
    char *fullname = qualify(name, namespace_name);
    if (fullname == NULL) {
        return compile_nomem(ctx);
    }
    if (find_named(ctx->schema, fullname) != NULL) {
        ss_err_t err = compile_fail(ctx, "type %s is defined twice", fullname);
        free(fullname);
        return err;
    }
    node->fullname = fullname;
    const char *dot = strrchr(fullname, '.');
    if (dot != NULL) {
        node->namespace_name = strndup(fullname, (size_t)(dot - fullname));
        if (node->namespace_name == NULL) {
            return compile_nomem(ctx);
        }
    }
    return SS_OK;
}

static ss_err_t compile_type(compile_ctx_t *ctx, const json_t *json, const char *namespace_name,
                             size_t depth, schema_node_t **node_out);

static ss_err_t compile_record(compile_ctx_t *ctx, const json_t *json, schema_node_t *node,
                               size_t depth)
{
    const json_t *fields = json_object_get(json, "fields");
    if (!json_is_array(fields)) {
        return compile_fail(ctx, "record %s needs a fields array", node->fullname);
    }
    size_t count = json_array_size(fields);
    node->fields = calloc(count + 1, sizeof(*node->fields));
    if (node->fields == NULL) {
        return compile_nomem(ctx);
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *field_json = json_array_get(fields, i);
        const char *name = json_string_value(json_object_get(field_json, "name"));
        if (name == NULL) {
            return compile_fail(ctx, "a field of %s has no name", node->fullname);
        }
        schema_field_t *field = &node->fields[i];
        field->name = strdup(name);
        node->field_count = i + 1;
        if (field->name == NULL) {
            return compile_nomem(ctx);
        }
        field->default_json = json_object_get(field_json, "default");
        ss_err_t err = compile_type(ctx, json_object_get(field_json, "type"), node->namespace_name,
                                    depth + 1, &field->type);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

static ss_err_t compile_enum(compile_ctx_t *ctx, const json_t *json, schema_node_t *node)
{
    const json_t *symbols = json_object_get(json, "symbols");
    if (!json_is_array(symbols)) {
        return compile_fail(ctx, "enum %s needs a symbols array", node->fullname);
    }
    size_t count = json_array_size(symbols);
    node->symbols = calloc(count + 1, sizeof(*node->symbols));
    if (node->symbols == NULL) {
        return compile_nomem(ctx);
    }
    for (size_t i = 0; i < count; i++) {
        const char *symbol = json_string_value(json_array_get(symbols, i));
        if (symbol == NULL) {
            return compile_fail(ctx, "a symbol of %s is not a string", node->fullname);
        }
        node->symbols[i] = strdup(symbol);
        node->symbol_count = i + 1;
        if (node->symbols[i] == NULL) {
            return compile_nomem(ctx);
        }
    }
    const char *default_symbol = json_string_value(json_object_get(json, "default"));
    for (size_t i = 0; default_symbol != NULL && i < count; i++) {
        if (strcmp(node->symbols[i], default_symbol) == 0) {
            node->enum_default = (long)i;
        }
    }
    return SS_OK;
}

static ss_err_t compile_union(compile_ctx_t *ctx, const json_t *json, const char *namespace_name,
                              size_t depth, schema_node_t *node)
{
    size_t count = json_array_size(json);
    node->branches = calloc(count + 1, sizeof(*node->branches));
    if (node->branches == NULL) {
        return compile_nomem(ctx);
    }
    for (size_t i = 0; i < count; i++) {
        ss_err_t err = compile_type(ctx, json_array_get(json, i), namespace_name, depth + 1,
                                    &node->branches[i]);
        if (err != SS_OK) {
            return err;
        }
        node->branch_count = i + 1;
        if (node->branches[i]->kind == NODE_UNION) {
            return compile_fail(ctx, "%s", "a union may not directly contain a union");
        }
    }
    return SS_OK;
}

static ss_err_t compile_type(compile_ctx_t *ctx, const json_t *json, const char *namespace_name,
                             size_t depth, schema_node_t **node_out)
{
    ss_err_t err;
    schema_node_t *node = NULL;
    if (depth > SS_AVRO_SCHEMA_DEPTH_MAX) {
        return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                          "schema nested deeper than %d levels", SS_AVRO_SCHEMA_DEPTH_MAX);
    }
    if (json_is_string(json)) {
        return compile_reference(ctx, json_string_value(json), namespace_name, node_out);
    }
    if (json_is_array(json)) {
        err = node_new(ctx, NODE_UNION, &node);
        if (err == SS_OK) {
            err = compile_union(ctx, json, namespace_name, depth, node);
        }
        *node_out = node;
        return err;
    }
    const json_t *type = json_object_get(json, "type");
    if (json_is_object(type) || json_is_array(type)) {
        return compile_type(ctx, type, namespace_name, depth + 1, node_out);
    }
    const char *type_name = json_string_value(type);
    if (type_name == NULL) {
        return compile_fail(ctx, "%s",
                            "a type must be a name, a union array or an object with "
                            "a type attribute");
    }
    node_kind_t kind;
    if (strcmp(type_name, "error") == 0) {
        kind = NODE_RECORD;
    } else if (!primitive_kind(type_name, &kind)) {
        bool complex = false;
        for (int k = NODE_RECORD; k <= NODE_FIXED && !complex; k++) {
            complex = strcmp(node_kind_names[k], type_name) == 0 && k != NODE_UNION;
            kind = (node_kind_t)k;
        }
        if (!complex) {
            return compile_reference(ctx, type_name, namespace_name, node_out);
        }
    }
    err = node_new(ctx, kind, &node);
    if (err != SS_OK) {
        return err;
    }
    *node_out = node;
    if (node_is_named(node)) {
        err = define_name(ctx, json, namespace_name, node);
        if (err != SS_OK) {
            return err;
        }
        namespace_name = node->namespace_name;
    }
    switch (kind) {
    case NODE_RECORD:
        return compile_record(ctx, json, node, depth);
    case NODE_ENUM:
        return compile_enum(ctx, json, node);
    case NODE_ARRAY:
    case NODE_MAP:
        return compile_type(ctx, json_object_get(json, kind == NODE_ARRAY ? "items" : "values"),
                            namespace_name, depth + 1, &node->items);
    case NODE_FIXED: {
        const json_t *size = json_object_get(json, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            return compile_fail(ctx, "fixed %s needs a size", node->fullname);
        }
        node->fixed_size = (size_t)json_integer_value(size);
        return SS_OK;
    }
    default:
        return SS_OK; /* a primitive written as {"type": "long", ...} */
    }
}

/* Refuses recursive types and nesting deeper than SS_AVRO_SCHEMA_DEPTH_MAX. */
static ss_err_t check_depth(compile_ctx_t *ctx, schema_node_t *node, size_t depth)
{
    if (node->on_path) {
        return compile_fail(ctx, "recursive type %s is not supported", node->fullname);
    }
    if (depth > SS_AVRO_SCHEMA_DEPTH_MAX) {
        return ss_err_set(SS_ERR_INVALID, ctx->errstr, ctx->errstr_size,
                          "schema nested deeper than %d levels", SS_AVRO_SCHEMA_DEPTH_MAX);
    }
    ss_err_t err = SS_OK;
    node->on_path = true;
    for (size_t i = 0; i < node->field_count && err == SS_OK; i++) {
        err = check_depth(ctx, node->fields[i].type, depth + 1);
    }
    for (size_t i = 0; i < node->branch_count && err == SS_OK; i++) {
        err = check_depth(ctx, node->branches[i], depth + 1);
    }
    if (node->items != NULL && err == SS_OK) {
        err = check_depth(ctx, node->items, depth + 1);
    }
    node->on_path = false;
    return err;
}

/* Encodes every field default into bytes; a default that does not fit its type is refused. */
static ss_err_t encode_defaults(compile_ctx_t *ctx)
{
    ss_avro_buffer_t bytes;
    ss_avro_buffer_init(&bytes);
    ss_err_t err = SS_OK;
    for (size_t n = 0; n < ctx->schema->node_count && err == SS_OK; n++) {
        schema_node_t *node = ctx->schema->nodes[n];
        for (size_t i = 0; i < node->field_count && err == SS_OK; i++) {
            schema_field_t *field = &node->fields[i];
            if (field->default_json == NULL) {
                continue;
            }
            char message[SS_AVRO_MESSAGE_MAX];
            encode_ctx_t encode = {
                .out = &bytes, .errstr = message, .errstr_size = sizeof(message)};
            path_set(&encode.path, "default");
            bytes.length = 0;
            const schema_node_t *type = field->type;
            if (type->kind == NODE_UNION && type->branch_count > 0) {
                /* A union's default is a value of its first branch. */
                err = write_long(&bytes, 0);
                type = type->branches[0];
            }
            if (err == SS_OK) {
                err = encode_value(&encode, type, field->default_json);
            }
            if (err == SS_ERR_INVALID) {
                err = ss_err_set(err, ctx->errstr, ctx->errstr_size,
                                 "field %s of %s: the default does not fit the type: %s",
                                 field->name, node->fullname, message);
            } else if (err != SS_OK) {
                err = compile_nomem(ctx);
            } else {
                field->default_bytes = malloc(bytes.length + 1);
                if (field->default_bytes == NULL) {
                    err = compile_nomem(ctx);
                } else {
                    memcpy(field->default_bytes, bytes.data, bytes.length);
                    field->default_length = bytes.length;
                    field->has_default = true;
                }
            }
        }
    }
    ss_avro_buffer_free(&bytes);
    return err;
}

static ss_err_t canonical_append_name(ss_avro_buffer_t *text, const char *name)
{
    ss_err_t err = buffer_append_text(text, "\"");
    for (const char *c = name; *c != '\0' && err == SS_OK; c++) {
        char escaped[8];
        if (*c == '"' || *c == '\\') {
            snprintf(escaped, sizeof(escaped), "\\%c", *c);
        } else if ((unsigned char)*c < 0x20) {
            snprintf(escaped, sizeof(escaped), "\\u%04x", (unsigned)(unsigned char)*c);
        } else {
            escaped[0] = *c;
            escaped[1] = '\0';
        }
        err = buffer_append_text(text, escaped);
    }
    return err == SS_OK ? buffer_append_text(text, "\"") : err;
}

/* Writes the Parsing Canonical Form; a named type is defined at its first use only. */
static ss_err_t canonical_write(ss_avro_buffer_t *text, schema_node_t *node)
{
    ss_err_t err = SS_OK;
    if (node->kind <= NODE_PRIMITIVE_LAST) {
        err = buffer_append_text(text, "\"");
        if (err == SS_OK) {
            err = buffer_append_text(text, node_kind_names[node->kind]);
        }
        return err == SS_OK ? buffer_append_text(text, "\"") : err;
    }
    if (node_is_named(node)) {
        if (node->emitted) {
            return canonical_append_name(text, node->fullname);
        }
        node->emitted = true;
        err = buffer_append_text(text, "{\"name\":");
        if (err == SS_OK) {
            err = canonical_append_name(text, node->fullname);
        }
        if (err == SS_OK) {
            err = buffer_append_text(text, ",\"type\":\"");
        }
        if (err == SS_OK) {
            err = buffer_append_text(text, node_kind_names[node->kind]);
        }
        if (err == SS_OK) {
            err = buffer_append_text(text, "\"");
        }
    }
    if (err != SS_OK) {
        return err;
    }
    switch (node->kind) {
    case NODE_RECORD:
        err = buffer_append_text(text, ",\"fields\":[");
        for (size_t i = 0; i < node->field_count && err == SS_OK; i++) {
            err = buffer_append_text(text, i == 0 ? "{\"name\":" : ",{\"name\":");
            if (err == SS_OK) {
                err = canonical_append_name(text, node->fields[i].name);
            }
            if (err == SS_OK) {
                err = buffer_append_text(text, ",\"type\":");
            }
            if (err == SS_OK) {
                err = canonical_write(text, node->fields[i].type);
            }
            if (err == SS_OK) {
                err = buffer_append_text(text, "}");
            }
        }
        return err == SS_OK ? buffer_append_text(text, "]}") : err;
    case NODE_ENUM:
        err = buffer_append_text(text, ",\"symbols\":[");
        for (size_t i = 0; i < node->symbol_count && err == SS_OK; i++) {
            if (i > 0) {
                err = buffer_append_text(text, ",");
            }
            if (err == SS_OK) {
                err = canonical_append_name(text, node->symbols[i]);
            }
        }
        return err == SS_OK ? buffer_append_text(text, "]}") : err;
    case NODE_FIXED: {
        char size[48];
        snprintf(size, sizeof(size), ",\"size\":%zu}", node->fixed_size);
        return buffer_append_text(text, size);
    }
    case NODE_ARRAY:
    case NODE_MAP:
        err = buffer_append_text(text, node->kind == NODE_ARRAY ? "{\"type\":\"array\",\"items\":"
                                                                : "{\"type\":\"map\",\"values\":");
        if (err == SS_OK) {
            err = canonical_write(text, node->items);
        }
        return err == SS_OK ? buffer_append_text(text, "}") : err;
    case NODE_UNION:
        err = buffer_append_text(text, "[");
        for (size_t i = 0; i < node->branch_count && err == SS_OK; i++) {
            if (i > 0) {
                err = buffer_append_text(text, ",");
            }
            if (err == SS_OK) {
                err = canonical_write(text, node->branches[i]);
            }
        }
        return err == SS_OK ? buffer_append_text(text, "]") : err;
    default:
        return SS_OK;
    }
}

static ss_err_t canonical_form_of(ss_avro_schema_t *schema, char **canonical_out)
{
    for (size_t i = 0; i < schema->node_count; i++) {
        schema->nodes[i]->emitted = false;
    }
    ss_avro_buffer_t text;
    ss_avro_buffer_init(&text);
    ss_err_t err = canonical_write(&text, schema->root);
    if (err == SS_OK) {
        err = buffer_append(&text, "", 1);
    }
    if (err != SS_OK) {
        ss_avro_buffer_free(&text);
        return err;
    }
    *canonical_out = (char *)text.data;
    return SS_OK;
}

/*
 * Validates text with avro-c, then compiles it. With for_registry, the root must be a record,
 * recursion is refused and defaults are encoded. Error messages are not prefixed by a file.
 */
static ss_err_t schema_compile(const char *text, size_t length, bool for_registry,
                               ss_avro_schema_t **schema_out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_avro_schema_t *schema = NULL;
    avro_schema_t avro_schema = NULL;
    if (avro_schema_from_json_length(text, length, &avro_schema) != 0) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "avro-c rejects the schema: %s",
                         avro_strerror());
        goto cleanup;
    }
    schema = calloc(1, sizeof(*schema));
    if (schema == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    json_error_t json_error;
    schema->document =
        json_loadb(text, length, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &json_error);
    if (schema->document == NULL) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "invalid JSON at line %d: %s",
                         json_error.line, json_error.text);
        goto cleanup;
    }
    compile_ctx_t ctx = {.schema = schema, .errstr = errstr, .errstr_size = errstr_size};
    err = compile_type(&ctx, schema->document, NULL, 0, &schema->root);
    if (err != SS_OK) {
        goto cleanup;
    }
    if (for_registry) {
        if (schema->root->kind != NODE_RECORD) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "the top-level type must be a record, not %s",
                             node_kind_names[schema->root->kind]);
            goto cleanup;
        }
        err = check_depth(&ctx, schema->root, 0);
        if (err == SS_OK) {
            err = encode_defaults(&ctx);
        }
        if (err != SS_OK) {
            goto cleanup;
        }
        schema->fullname = strdup(schema->root->fullname);
        if (schema->fullname == NULL) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto cleanup;
        }
        schema->name = short_name(schema->fullname);
    }
    err = canonical_form_of(schema, &schema->canonical);
    if (err != SS_OK) {
        ss_err_set(err, errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    schema->fingerprint = ss_avro_fingerprint64(schema->canonical, strlen(schema->canonical));
    schema->reader = schema;
    *schema_out = schema;
    schema = NULL;
cleanup:
    if (avro_schema != NULL) {
        avro_schema_decref(avro_schema);
    }
    schema_destroy(schema);
    return err;
}

ss_err_t ss_avro_canonical_form(const char *schema_json, char **canonical_out, char *errstr,
                                size_t errstr_size)
{
    SS_ASSERT(schema_json != NULL && canonical_out != NULL);
    ss_avro_schema_t *schema = NULL;
    ss_err_t err =
        schema_compile(schema_json, strlen(schema_json), false, &schema, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    *canonical_out = schema->canonical;
    schema->canonical = NULL;
    schema_destroy(schema);
    return SS_OK;
}

/* ---------------------------------------------------------------- resolution check */

/* Whether every value the writer can produce decodes with the reader (Avro resolution). */
static bool resolvable(const schema_node_t *writer, const schema_node_t *reader, value_path_t *path,
                       char *errstr, size_t errstr_size)
{
    if (writer->kind == NODE_UNION) {
        for (size_t i = 0; i < writer->branch_count; i++) {
            if (!resolvable(writer->branches[i], reader, path, errstr, errstr_size)) {
                return false;
            }
        }
        return true;
    }
    if (reader->kind == NODE_UNION) {
        const schema_node_t *branch = pick_reader_branch(reader, writer);
        if (branch == NULL) {
            ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                       "%s: the old %s matches no branch of the current union", path->text,
                       node_kind_names[writer->kind]);
            return false;
        }
        return resolvable(writer, branch, path, errstr, errstr_size);
    }
    if (writer->kind <= NODE_PRIMITIVE_LAST && reader->kind <= NODE_PRIMITIVE_LAST &&
        primitive_promotable(writer->kind, reader->kind)) {
        return true;
    }
    if (!node_matches_exactly(writer, reader)) {
        ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s: the old %s cannot be read as %s",
                   path->text, node_kind_names[writer->kind], node_kind_names[reader->kind]);
        return false;
    }
    if (reader->kind == NODE_ARRAY || reader->kind == NODE_MAP) {
        size_t saved = path_push(path, "", "[]", "");
        bool ok = resolvable(writer->items, reader->items, path, errstr, errstr_size);
        path_pop(path, saved);
        return ok;
    }
    if (reader->kind == NODE_ENUM) {
        for (size_t i = 0; i < writer->symbol_count; i++) {
            bool known = reader->enum_default >= 0;
            for (size_t k = 0; k < reader->symbol_count && !known; k++) {
                known = strcmp(writer->symbols[i], reader->symbols[k]) == 0;
            }
            if (!known) {
                ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                           "%s: symbol %s was removed and the enum has no default", path->text,
                           writer->symbols[i]);
                return false;
            }
        }
        return true;
    }
    if (reader->kind != NODE_RECORD) {
        return true;
    }
    for (size_t i = 0; i < reader->field_count; i++) {
        const schema_field_t *field = &reader->fields[i];
        const schema_field_t *old = NULL;
        for (size_t k = 0; k < writer->field_count && old == NULL; k++) {
            if (strcmp(writer->fields[k].name, field->name) == 0) {
                old = &writer->fields[k];
            }
        }
        size_t saved = path_push_field(path, field->name);
        bool ok = true;
        if (old == NULL && !field->has_default) {
            ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                       "%s: the field is new and has no default, so older records cannot be "
                       "read",
                       path->text);
            ok = false;
        } else if (old != NULL) {
            ok = resolvable(old->type, field->type, path, errstr, errstr_size);
        }
        path_pop(path, saved);
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- registry */

static int compare_names(const void *left, const void *right)
{
    return strcmp(*(char *const *)left, *(char *const *)right);
}

static void names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
}

/* The sorted names of the .avsc files in dir; a missing dir is an empty list when optional. */
static ss_err_t list_schema_files(const char *dir, bool optional, char ***names_out,
                                  size_t *count_out, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    char **names = calloc(SS_AVRO_SCHEMAS_MAX, sizeof(*names));
    size_t count = 0;
    DIR *handle = NULL;
    if (names == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    handle = opendir(dir);
    if (handle == NULL) {
        if (optional && errno == ENOENT) {
            goto cleanup;
        }
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not open schema dir %s: %s",
                         dir, strerror(errno));
        goto cleanup;
    }
    for (;;) { /* bounded by SS_AVRO_SCHEMAS_MAX files below */
        errno = 0;
        struct dirent *entry = readdir(handle);
        if (entry == NULL) {
            if (errno != 0) {
                err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                                 "could not read schema dir %s: %s", dir, strerror(errno));
            }
            break;
        }
        size_t length = strlen(entry->d_name);
        if (length <= 5 || strcmp(entry->d_name + length - 5, ".avsc") != 0 ||
            entry->d_name[0] == '.') {
            continue;
        }
        if (count == SS_AVRO_SCHEMAS_MAX) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "more than %d schema files in %s",
                             SS_AVRO_SCHEMAS_MAX, dir);
            break;
        }
        names[count] = strdup(entry->d_name);
        if (names[count] == NULL) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
            break;
        }
        count++;
    }
    qsort(names, count, sizeof(*names), compare_names);
cleanup:
    if (handle != NULL) {
        closedir(handle);
    }
    if (err != SS_OK) {
        names_free(names, count);
        names = NULL;
        count = 0;
    }
    *names_out = names;
    *count_out = count;
    return err;
}

static ss_err_t read_file(const char *path, char **text_out, size_t *length_out, char *errstr,
                          size_t errstr_size)
{
    ss_err_t err = SS_OK;
    char *text = NULL;
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not open %s: %s", path,
                          strerror(errno));
    }
    struct stat info;
    if (fstat(fileno(file), &info) != 0 || info.st_size < 0 ||
        info.st_size > SS_AVRO_SCHEMA_FILE_BYTES_MAX) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "%s: cannot be read or is larger than %d bytes", path,
                         SS_AVRO_SCHEMA_FILE_BYTES_MAX);
        goto cleanup;
    }
    size_t length = (size_t)info.st_size;
    text = malloc(length + 1);
    if (text == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory reading %s", path);
        goto cleanup;
    }
    if (fread(text, 1, length, file) != length) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not read %s", path);
        goto cleanup;
    }
    text[length] = '\0';
    *text_out = text;
    *length_out = length;
    text = NULL;
cleanup:
    free(text);
    fclose(file);
    return err;
}

static ss_err_t load_schema_file(const char *dir, const char *file_name,
                                 ss_avro_schema_t **schema_out, char *errstr, size_t errstr_size)
{
    ss_err_t err;
    char *text = NULL;
    size_t length = 0;
    char message[SS_AVRO_MESSAGE_MAX];
    size_t path_length = strlen(dir) + 1 + strlen(file_name) + 1;
    char *path = malloc(path_length);
    if (path == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    snprintf(path, path_length, "%s/%s", dir, file_name);
    err = read_file(path, &text, &length, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    err = schema_compile(text, length, true, schema_out, message, sizeof(message));
    if (err != SS_OK) {
        ss_err_set(err, errstr, errstr_size, "%s: %s", path, message);
        goto cleanup;
    }
    (*schema_out)->path = path;
    path = NULL;
cleanup:
    free(text);
    free(path);
    return err;
}

static ss_err_t registry_append(ss_avro_registry_t *registry, ss_avro_schema_t *schema,
                                char *errstr, size_t errstr_size)
{
    if (registry->schema_count == SS_AVRO_SCHEMAS_MAX * 2) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "more than %d schemas",
                          SS_AVRO_SCHEMAS_MAX * 2);
    }
    registry->schemas[registry->schema_count++] = schema;
    return SS_OK;
}

/* A snapshot is named <file>.v<N>.avsc, so that versions of one file sort together. */
static bool snapshot_name_is_valid(const char *file_name)
{
    const char *suffix = strrchr(file_name, '.'); /* ".avsc" */
    const char *cursor = suffix;
    size_t digits = 0;
    while (cursor > file_name && cursor[-1] >= '0' && cursor[-1] <= '9') { /* <= name length */
        cursor--;
        digits++;
    }
    return digits > 0 && cursor - file_name >= 3 && cursor[-1] == 'v' && cursor[-2] == '.';
}

static ss_err_t load_snapshots(ss_avro_registry_t *registry, const char *dir, char *errstr,
                               size_t errstr_size)
{
    ss_err_t err = SS_OK;
    char **names = NULL;
    size_t count = 0;
    ss_avro_schema_t *snapshot = NULL;
    size_t compat_length = strlen(dir) + sizeof("/compat");
    char *compat = malloc(compat_length);
    if (compat == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    snprintf(compat, compat_length, "%s/compat", dir);
    err = list_schema_files(compat, true, &names, &count, errstr, errstr_size);
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        if (!snapshot_name_is_valid(names[i])) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "%s/%s: a snapshot must be named <file>.v<N>.avsc", compat, names[i]);
            break;
        }
        err = load_schema_file(compat, names[i], &snapshot, errstr, errstr_size);
        if (err != SS_OK) {
            break;
        }
        const ss_avro_schema_t *current = ss_avro_registry_find(registry, snapshot->fullname);
        if (current == NULL) {
            err =
                ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s: no current schema defines %s",
                           snapshot->path, snapshot->fullname);
            break;
        }
        if (ss_avro_registry_find_fingerprint(registry, snapshot->fingerprint) != NULL) {
            /* Same canonical form as a version already loaded: nothing new to decode. */
            schema_destroy(snapshot);
            snapshot = NULL;
            continue;
        }
        value_path_t path;
        char message[SS_AVRO_MESSAGE_MAX];
        path_set(&path, current->name);
        if (!resolvable(snapshot->root, current->root, &path, message, sizeof(message))) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "%s: the current %s cannot read this released version: %s",
                             snapshot->path, current->path, message);
            break;
        }
        snapshot->reader = current;
        err = registry_append(registry, snapshot, errstr, errstr_size);
        if (err == SS_OK) {
            snapshot = NULL;
        }
    }
    schema_destroy(snapshot);
    names_free(names, count);
    free(compat);
    return err;
}

ss_err_t ss_avro_registry_load(const char *schema_dir, ss_avro_registry_t **registry_out,
                               char *errstr, size_t errstr_size)
{
    SS_ASSERT(registry_out != NULL);
    ss_err_t err = SS_OK;
    char **names = NULL;
    size_t count = 0;
    ss_avro_schema_t *schema = NULL;
    const char *dir = schema_dir != NULL ? schema_dir : SS_AVRO_SCHEMA_DIR_DEFAULT;
    *registry_out = NULL;
    ss_avro_registry_t *registry = calloc(1, sizeof(*registry));
    if (registry != NULL) {
        registry->schemas = calloc(SS_AVRO_SCHEMAS_MAX * 2, sizeof(*registry->schemas));
    }
    if (registry == NULL || registry->schemas == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    err = list_schema_files(dir, false, &names, &count, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    if (count == 0) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "no .avsc schema in %s", dir);
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        err = load_schema_file(dir, names[i], &schema, errstr, errstr_size);
        if (err != SS_OK) {
            goto cleanup;
        }
        const ss_avro_schema_t *twin = ss_avro_registry_find(registry, schema->name);
        if (twin != NULL) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s: %s is already defined by %s",
                             schema->path, schema->name, twin->path);
            goto cleanup;
        }
        err = registry_append(registry, schema, errstr, errstr_size);
        if (err != SS_OK) {
            goto cleanup;
        }
        schema = NULL;
        registry->current_count++;
    }
    err = load_snapshots(registry, dir, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    *registry_out = registry;
    registry = NULL;
cleanup:
    schema_destroy(schema);
    names_free(names, count);
    ss_avro_registry_destroy(registry);
    return err;
}

void ss_avro_registry_destroy(ss_avro_registry_t *registry)
{
    if (registry == NULL) {
        return;
    }
    for (size_t i = 0; i < registry->schema_count; i++) {
        schema_destroy(registry->schemas[i]);
    }
    free(registry->schemas);
    free(registry);
}

const ss_avro_schema_t *ss_avro_registry_find(const ss_avro_registry_t *registry, const char *name)
{
    SS_ASSERT(registry != NULL && name != NULL);
    for (size_t i = 0; i < registry->current_count; i++) {
        const ss_avro_schema_t *schema = registry->schemas[i];
        if (strcmp(schema->name, name) == 0 || strcmp(schema->fullname, name) == 0) {
            return schema;
        }
    }
    return NULL;
}

const ss_avro_schema_t *ss_avro_registry_find_fingerprint(const ss_avro_registry_t *registry,
                                                          uint64_t fingerprint)
{
    SS_ASSERT(registry != NULL);
    for (size_t i = 0; i < registry->schema_count; i++) {
        if (registry->schemas[i]->fingerprint == fingerprint) {
            return registry->schemas[i];
        }
    }
    return NULL;
}

size_t ss_avro_registry_count(const ss_avro_registry_t *registry)
{
    SS_ASSERT(registry != NULL);
    return registry->current_count;
}

const ss_avro_schema_t *ss_avro_registry_at(const ss_avro_registry_t *registry, size_t index)
{
    SS_ASSERT(registry != NULL);
    return index < registry->current_count ? registry->schemas[index] : NULL;
}

const char *ss_avro_schema_name(const ss_avro_schema_t *schema)
{
    SS_ASSERT(schema != NULL);
    return schema->name;
}

const char *ss_avro_schema_fullname(const ss_avro_schema_t *schema)
{
    SS_ASSERT(schema != NULL);
    return schema->fullname;
}

const char *ss_avro_schema_path(const ss_avro_schema_t *schema)
{
    SS_ASSERT(schema != NULL);
    return schema->path;
}

const char *ss_avro_schema_canonical_form(const ss_avro_schema_t *schema)
{
    SS_ASSERT(schema != NULL);
    return schema->canonical;
}

bool ss_avro_schema_has_field(const ss_avro_schema_t *schema, const char *name)
{
    for (size_t i = 0; i < schema->root->field_count; i++) {
        if (strcmp(schema->root->fields[i].name, name) == 0) {
            return true;
        }
    }
    return false;
}

uint64_t ss_avro_schema_fingerprint(const ss_avro_schema_t *schema)
{
    SS_ASSERT(schema != NULL);
    return schema->fingerprint;
}
