/*
 * Tests over the real schemas/ folder: every .avsc loads and is documented, a sample record of
 * every schema round-trips and encodes to exactly the bytes avro-c's writer produces, every
 * truncated or foreign-fingerprint message is refused, and the evolution rule of
 * schemas/README.md holds for every snapshot in schemas/compat (a field the snapshot lacks has
 * a default, and a record written with the snapshot decodes with the current schema).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/avro.h"

#include <avro.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_DIR SS_AVRO_SCHEMA_DIR_DEFAULT
#define COMPAT_DIR SS_AVRO_SCHEMA_DIR_DEFAULT "/compat"
#define AVRO_C_BUFFER_BYTES 8192
#define COMPAT_FILES_MAX 256

/* One sample per schema, with every field given, large ids and non-ASCII text included. */
static const struct {
    const char *name;
    const char *record;
} samples[] = {
    {"AdjustProduct", "{\"request_id\":\"0-1767225600000-1\",\"reply_partition\":0,"
                      "\"product_id\":12,\"stock_delta\":-5,\"sell_status\":null}"},
    {"ChangeCouponStatus", "{\"request_id\":\"0-1767225600000-2\",\"reply_partition\":3,"
                           "\"coupon_id\":7,\"status\":\"CANCELED\"}"},
    {"ChargeBalance",
     "{\"request_id\":\"1-1767225600000-3\",\"reply_partition\":1,\"idempotency\":{\"key\":"
     "\"k-\xed\x82\xa4\",\"scope\":\"POST /api/v1/users/7/balance/charge\",\"body_hash\":"
     "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"},\"user_id\":7,"
     "\"amount\":10000000,\"requested_at\":1767225600000}"},
    {"CommandResult",
     "{\"event_id\":\"result-1-1767225600000-3\",\"request_id\":\"1-1767225600000-3\","
     "\"http_status\":409,\"body\":\"{\\\"code\\\":409,\\\"message\\\":\\\"\xec\x9e\x94\xec\x95"
     "\xa1 \xeb\xb6\x80\xec\xa1\xb1\\\",\\\"error\\\":\\\"INSUFFICIENT_BALANCE\\\"}\","
     "\"completed_at\":1767225600123}"},
    {"CommandResults",
     "{\"results\":[{\"request_id\":\"1-1767225600000-3\",\"http_status\":200,\"body\":"
     "\"{\\\"code\\\":200}\",\"completed_at\":1767225600123,\"trace_request_id\":"
     "\"client-\xed\x82\xa4\",\"traceparent\":"
     "\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"},{\"request_id\":"
     "\"1-1767225600000-4\",\"http_status\":409,\"body\":\"{}\",\"completed_at\":0,"
     "\"trace_request_id\":\"\",\"traceparent\":\"\"}]}"},
    {"IssueCoupon", "{\"request_id\":\"2-1767225600000-4\",\"reply_partition\":-1,"
                    "\"idempotency\":null,\"coupon_id\":3,\"user_id\":9223372036854775807,"
                    "\"requested_at\":0}"},
    {"OrderFailed", "{\"event_id\":\"order-9007199254740993-failed\",\"order_id\":"
                    "9007199254740993,\"user_id\":7,\"reason\":\"INSUFFICIENT_STOCK\","
                    "\"failed_at\":1767225600456}"},
    {"OrderPaid",
     "{\"event_id\":\"order-41-paid\",\"order_id\":41,\"user_id\":7,\"coupon_id\":3,"
     "\"total_price\":30000,\"discount_price\":3000,\"paid_amount\":27000,\"lines\":["
     "{\"product_id\":1,\"quantity\":2,\"unit_price\":10000},{\"product_id\":2,\"quantity\":1,"
     "\"unit_price\":10000}],\"paid_at\":1767225600789}"},
    {"PlaceOrder", "{\"request_id\":\"0-1767225600000-5\",\"reply_partition\":0,"
                   "\"idempotency\":null,\"user_id\":9007199254740993,"
                   "\"coupon_id\":null,\"lines\":[{\"product_id\":1,\"quantity\":1000},"
                   "{\"product_id\":-9223372036854775808,\"quantity\":1},{\"product_id\":3,"
                   "\"quantity\":2147483647}],\"requested_at\":1767225600000}"},
    {"ProductSold", "{\"event_id\":\"order-41-sold-1\",\"order_id\":41,\"product_id\":1,"
                    "\"quantity\":2,\"sold_at\":1767225600789}"},
    {"ReleaseStock", "{\"event_id\":\"order-41-release-1\",\"order_id\":41,\"user_id\":7,"
                     "\"product_id\":1,\"quantity\":2}"},
    {"ReserveStock", "{\"event_id\":\"order-41-reserve-1\",\"order_id\":41,\"user_id\":7,"
                     "\"product_id\":1,\"quantity\":2}"},
    {"StockRejected", "{\"event_id\":\"order-41-rejected-2\",\"order_id\":41,\"user_id\":7,"
                      "\"product_id\":2,\"quantity\":1,\"reason\":\"PRODUCT_NOT_SELLING\"}"},
    {"StockReserved", "{\"event_id\":\"order-41-reserved-1\",\"order_id\":41,\"user_id\":7,"
                      "\"product_id\":1,\"quantity\":2}"},
};

#define SAMPLE_COUNT (sizeof(samples) / sizeof(samples[0]))

static ss_avro_registry_t *registry;

static int setup(void **state)
{
    (void)state;
    char errstr[512] = "";
    if (ss_avro_registry_load(SCHEMA_DIR, &registry, errstr, sizeof(errstr)) != SS_OK) {
        fprintf(stderr, "registry load failed: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_avro_registry_destroy(registry);
    registry = NULL;
    return 0;
}

static json_t *json_of(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
    if (value == NULL) {
        fail_msg("bad JSON %s: %s", text, error.text);
    }
    return value;
}

static json_t *json_of_file(const char *path)
{
    json_error_t error;
    json_t *value = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (value == NULL) {
        fail_msg("%s: %s", path, error.text);
    }
    return value;
}

static const char *sample_of(const char *name)
{
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        if (strcmp(samples[i].name, name) == 0) {
            return samples[i].record;
        }
    }
    return NULL;
}

static char *file_text(const char *path, size_t *length_out)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    static char text[1 << 16];
    size_t length = fread(text, 1, sizeof(text) - 1, file);
    fclose(file);
    text[length] = '\0';
    *length_out = length;
    return text;
}

/* ---------------------------------------------------------------- loading and naming */

static void test_every_schema_file_loads_with_a_sample(void **state)
{
    (void)state;
    size_t count = ss_avro_registry_count(registry);
    assert_int_equal(count, SAMPLE_COUNT);
    for (size_t i = 0; i < count; i++) {
        const ss_avro_schema_t *schema = ss_avro_registry_at(registry, i);
        if (sample_of(ss_avro_schema_name(schema)) == NULL) {
            fail_msg("%s has no sample in test_schemas.c", ss_avro_schema_path(schema));
        }
        assert_ptr_equal(ss_avro_registry_find(registry, ss_avro_schema_fullname(schema)), schema);
        assert_ptr_equal(
            ss_avro_registry_find_fingerprint(registry, ss_avro_schema_fingerprint(schema)),
            schema);
        assert_int_equal(strncmp(ss_avro_schema_fullname(schema), "shopstream.", 11), 0);
    }
    assert_null(ss_avro_registry_at(registry, count));
}

/* ChargeBalance lives in charge_balance.avsc. */
static void test_file_names_are_the_snake_case_record_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < ss_avro_registry_count(registry); i++) {
        const ss_avro_schema_t *schema = ss_avro_registry_at(registry, i);
        char expected[128];
        size_t length = 0;
        for (const char *c = ss_avro_schema_name(schema); *c != '\0'; c++) {
            assert_true(length + 3 < sizeof(expected));
            if (isupper((unsigned char)*c) && length > 0) {
                expected[length++] = '_';
            }
            expected[length++] = (char)tolower((unsigned char)*c);
        }
        snprintf(expected + length, sizeof(expected) - length, ".avsc");
        const char *path = ss_avro_schema_path(schema);
        const char *base = strrchr(path, '/');
        assert_string_equal(base != NULL ? base + 1 : path, expected);
    }
}

static void assert_fields_documented(const json_t *type, const char *path)
{
    if (json_is_array(type)) {
        size_t index;
        const json_t *branch;
        json_array_foreach(type, index, branch)
        {
            assert_fields_documented(branch, path);
        }
        return;
    }
    if (!json_is_object(type)) {
        return;
    }
    const char *kind = json_string_value(json_object_get(type, "type"));
    if (kind != NULL && strcmp(kind, "record") == 0) {
        if (!json_is_string(json_object_get(type, "doc"))) {
            fail_msg("%s: record %s has no doc", path,
                     json_string_value(json_object_get(type, "name")));
        }
        size_t index;
        const json_t *field;
        json_array_foreach(json_object_get(type, "fields"), index, field)
        {
            if (!json_is_string(json_object_get(field, "doc"))) {
                fail_msg("%s: field %s has no doc", path,
                         json_string_value(json_object_get(field, "name")));
            }
            assert_fields_documented(json_object_get(field, "type"), path);
        }
    }
    assert_fields_documented(json_object_get(type, "items"), path);
    assert_fields_documented(json_object_get(type, "values"), path);
    if (json_is_object(json_object_get(type, "type")) ||
        json_is_array(json_object_get(type, "type"))) {
        assert_fields_documented(json_object_get(type, "type"), path);
    }
}

static void test_every_record_and_field_has_a_doc(void **state)
{
    (void)state;
    for (size_t i = 0; i < ss_avro_registry_count(registry); i++) {
        const char *path = ss_avro_schema_path(ss_avro_registry_at(registry, i));
        json_t *document = json_of_file(path);
        assert_fields_documented(document, path);
        json_decref(document);
    }
}

/* ---------------------------------------------------------------- round trips */

static void test_a_sample_of_every_schema_round_trips(void **state)
{
    (void)state;
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        char errstr[256] = "";
        json_t *record = json_of(samples[i].record);
        if (ss_avro_encode(registry, samples[i].name, record, &buffer, errstr, sizeof(errstr)) !=
            SS_OK) {
            fail_msg("encode %s: %s", samples[i].name, errstr);
        }
        json_t *decoded = NULL;
        const char *name = NULL;
        if (ss_avro_decode(registry, buffer.data, buffer.length, &name, &decoded, errstr,
                           sizeof(errstr)) != SS_OK) {
            fail_msg("decode %s: %s", samples[i].name, errstr);
        }
        assert_string_equal(name, samples[i].name);
        if (!json_equal(record, decoded)) {
            fail_msg("%s came back as %s", samples[i].name, json_dumps(decoded, JSON_COMPACT));
        }
        json_decref(decoded);
        json_decref(record);
    }
    ss_avro_buffer_free(&buffer);
}

/* Builds avro-c's generic value from the JSON mapping of ss/avro.h (unions: null or first
 * non-null branch), so that avro-c's writer can encode the same sample. */
static void avro_c_value_from_json(avro_value_t *value, const json_t *json)
{
    switch (avro_value_get_type(value)) {
    case AVRO_NULL:
        assert_true(json_is_null(json));
        assert_int_equal(avro_value_set_null(value), 0);
        return;
    case AVRO_BOOLEAN:
        assert_int_equal(avro_value_set_boolean(value, json_is_true(json)), 0);
        return;
    case AVRO_INT32:
        assert_int_equal(avro_value_set_int(value, (int32_t)json_integer_value(json)), 0);
        return;
    case AVRO_INT64:
        assert_int_equal(avro_value_set_long(value, (int64_t)json_integer_value(json)), 0);
        return;
    case AVRO_STRING:
        assert_int_equal(avro_value_set_string(value, json_string_value(json)), 0);
        return;
    case AVRO_RECORD: {
        size_t count = 0;
        assert_int_equal(avro_value_get_size(value, &count), 0);
        for (size_t i = 0; i < count; i++) {
            avro_value_t field;
            const char *name = NULL;
            assert_int_equal(avro_value_get_by_index(value, i, &field, &name), 0);
            const json_t *field_json = json_object_get(json, name);
            assert_non_null(field_json);
            avro_c_value_from_json(&field, field_json);
        }
        return;
    }
    case AVRO_ARRAY: {
        size_t index;
        const json_t *item_json;
        json_array_foreach(json, index, item_json)
        {
            avro_value_t item;
            assert_int_equal(avro_value_append(value, &item, NULL), 0);
            avro_c_value_from_json(&item, item_json);
        }
        return;
    }
    case AVRO_UNION: {
        avro_schema_t schema = avro_value_get_schema(value);
        size_t size = avro_schema_union_size(schema);
        for (size_t i = 0; i < size; i++) {
            bool is_null = is_avro_null(avro_schema_union_branch(schema, (int)i));
            if (is_null == json_is_null(json)) {
                avro_value_t branch;
                assert_int_equal(avro_value_set_branch(value, (int)i, &branch), 0);
                avro_c_value_from_json(&branch, json);
                return;
            }
        }
        fail_msg("no union branch for a %d", (int)json_typeof(json));
        return;
    }
    default:
        fail_msg("avro type %d is not used by the samples", (int)avro_value_get_type(value));
    }
}

static void test_bodies_are_byte_identical_to_avro_c_writer(void **state)
{
    (void)state;
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        const ss_avro_schema_t *schema = ss_avro_registry_find(registry, samples[i].name);
        assert_non_null(schema);
        size_t length = 0;
        const char *text = file_text(ss_avro_schema_path(schema), &length);
        avro_schema_t avro_schema = NULL;
        assert_int_equal(avro_schema_from_json_length(text, length, &avro_schema), 0);
        avro_value_iface_t *iface = avro_generic_class_from_schema(avro_schema);
        assert_non_null(iface);
        avro_value_t value;
        assert_int_equal(avro_generic_value_new(iface, &value), 0);
        json_t *record = json_of(samples[i].record);
        avro_c_value_from_json(&value, record);

        static char written[AVRO_C_BUFFER_BYTES];
        avro_writer_t writer = avro_writer_memory(written, sizeof(written));
        assert_non_null(writer);
        assert_int_equal(avro_value_write(writer, &value), 0);
        size_t written_length = (size_t)avro_writer_tell(writer);

        assert_int_equal(ss_avro_encode(registry, samples[i].name, record, &buffer, NULL, 0),
                         SS_OK);
        assert_int_equal(buffer.length - SS_AVRO_HEADER_SIZE, written_length);
        if (memcmp(buffer.data + SS_AVRO_HEADER_SIZE, written, written_length) != 0) {
            fail_msg("%s: body differs from avro-c's", samples[i].name);
        }
        avro_writer_free(writer);
        json_decref(record);
        avro_value_decref(&value);
        avro_value_iface_decref(iface);
        avro_schema_decref(avro_schema);
    }
    ss_avro_buffer_free(&buffer);
}

/* ---------------------------------------------------------------- refusals */

static void test_every_truncation_of_every_sample_is_refused(void **state)
{
    (void)state;
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    for (size_t i = 0; i < SAMPLE_COUNT; i++) {
        json_t *record = json_of(samples[i].record);
        assert_int_equal(ss_avro_encode(registry, samples[i].name, record, &buffer, NULL, 0),
                         SS_OK);
        for (size_t length = 0; length < buffer.length; length++) {
            char errstr[256] = "";
            json_t *decoded = NULL;
            ss_err_t err = ss_avro_decode(registry, buffer.data, length, NULL, &decoded, errstr,
                                          sizeof(errstr));
            if (err != SS_ERR_INVALID || decoded != NULL) {
                fail_msg("%s cut to %zu of %zu bytes: got %s", samples[i].name, length,
                         buffer.length, ss_err_name(err));
            }
            if (length > SS_AVRO_HEADER_SIZE) {
                assert_non_null(strstr(errstr, "truncated"));
            }
        }
        json_decref(record);
    }
    ss_avro_buffer_free(&buffer);
}

static void test_a_foreign_fingerprint_is_refused(void **state)
{
    (void)state;
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *record = json_of(sample_of("ChargeBalance"));
    assert_int_equal(ss_avro_encode(registry, "ChargeBalance", record, &buffer, NULL, 0), SS_OK);
    /* Another writer's schema: the fingerprint of "string". */
    uint64_t foreign = ss_avro_fingerprint64("\"string\"", 8);
    for (size_t i = 0; i < 8; i++) {
        buffer.data[2 + i] = (unsigned char)(foreign >> (8 * i));
    }
    char errstr[256] = "";
    json_t *decoded = NULL;
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, errstr,
                                    sizeof(errstr)),
                     SS_ERR_INVALID);
    char expected[64];
    snprintf(expected, sizeof(expected), "unknown schema fingerprint 0x%016llx",
             (unsigned long long)foreign);
    assert_string_equal(errstr, expected);
    assert_null(decoded);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
}

/* ---------------------------------------------------------------- the evolution rule */

/* Every field of a current record that the snapshot's record of the same name lacks has a
 * default. Records are found anywhere in the documents, so nested records are covered. */
static void collect_records(const json_t *type, json_t *records)
{
    if (json_is_array(type)) {
        size_t index;
        const json_t *branch;
        json_array_foreach(type, index, branch)
        {
            collect_records(branch, records);
        }
        return;
    }
    if (!json_is_object(type)) {
        return;
    }
    const char *kind = json_string_value(json_object_get(type, "type"));
    if (kind != NULL && strcmp(kind, "record") == 0) {
        json_object_set(records, json_string_value(json_object_get(type, "name")), (json_t *)type);
        size_t index;
        const json_t *field;
        json_array_foreach(json_object_get(type, "fields"), index, field)
        {
            collect_records(json_object_get(field, "type"), records);
        }
    }
    collect_records(json_object_get(type, "items"), records);
    collect_records(json_object_get(type, "values"), records);
    if (!json_is_string(json_object_get(type, "type"))) {
        collect_records(json_object_get(type, "type"), records);
    }
}

static bool record_has_field(const json_t *record, const char *name)
{
    size_t index;
    const json_t *field;
    json_array_foreach(json_object_get(record, "fields"), index, field)
    {
        if (strcmp(json_string_value(json_object_get(field, "name")), name) == 0) {
            return true;
        }
    }
    return false;
}

/* Writes "Record.field" of the first field breaking the rule into out; false when none does. */
static bool find_field_without_default(const json_t *snapshot, const json_t *current, char *out,
                                       size_t out_size)
{
    bool found = false;
    json_t *old_records = json_object();
    json_t *new_records = json_object();
    collect_records(snapshot, old_records);
    collect_records(current, new_records);
    const char *name;
    json_t *record;
    json_object_foreach(new_records, name, record)
    {
        const json_t *old = json_object_get(old_records, name);
        if (old == NULL || found) {
            continue; /* a new nested record: the field that holds it is checked instead */
        }
        size_t index;
        const json_t *field;
        json_array_foreach(json_object_get(record, "fields"), index, field)
        {
            const char *field_name = json_string_value(json_object_get(field, "name"));
            if (!found && !record_has_field(old, field_name) &&
                json_object_get(field, "default") == NULL) {
                snprintf(out, out_size, "%s.%s", name, field_name);
                found = true;
            }
        }
    }
    json_decref(old_records);
    json_decref(new_records);
    return found;
}

static void assert_new_fields_have_defaults(const char *snapshot_path, const json_t *snapshot,
                                            const json_t *current)
{
    char field[256];
    if (find_field_without_default(snapshot, current, field, sizeof(field))) {
        fail_msg("%s is not in %s and has no default (see schemas/README.md)", field,
                 snapshot_path);
    }
}

/* Writes the sample, reduced to the snapshot's fields, with the snapshot's schema, and checks
 * that the current schema reads it as the sample with the new fields at their defaults. */
static void assert_snapshot_record_decodes(const char *snapshot_path, const json_t *snapshot,
                                           const ss_avro_schema_t *current)
{
    size_t length = 0;
    const char *text = file_text(snapshot_path, &length);
    char *canonical = NULL;
    char errstr[512] = "";
    if (ss_avro_canonical_form(text, &canonical, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s: %s", snapshot_path, errstr);
    }
    const ss_avro_schema_t *writer = ss_avro_registry_find_fingerprint(
        registry, ss_avro_fingerprint64(canonical, strlen(canonical)));
    free(canonical);
    if (writer == NULL) {
        fail_msg("%s is not known to the registry", snapshot_path);
    }
    json_t *sample = json_of(sample_of(ss_avro_schema_name(current)));
    json_t *old_record = json_object();
    const char *key;
    json_t *value;
    json_object_foreach(sample, key, value)
    {
        if (record_has_field(snapshot, key)) {
            json_object_set(old_record, key, value);
        }
    }
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    if (ss_avro_encode_schema(writer, old_record, &buffer, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s: the sample reduced to this version does not encode (%s); give this "
                 "version its own sample",
                 snapshot_path, errstr);
    }
    json_t *decoded = NULL;
    if (ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, errstr,
                       sizeof(errstr)) != SS_OK) {
        fail_msg("%s: a record it wrote does not decode: %s", snapshot_path, errstr);
    }
    /* Expected: the current schema's own reading of the reduced record, defaults filled. */
    assert_int_equal(ss_avro_encode_schema(current, old_record, &buffer, NULL, 0), SS_OK);
    json_t *expected = NULL;
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &expected, NULL, 0),
                     SS_OK);
    if (!json_equal(decoded, expected)) {
        fail_msg("%s: decoded as %s", snapshot_path, json_dumps(decoded, JSON_COMPACT));
    }
    json_decref(expected);
    json_decref(decoded);
    json_decref(old_record);
    json_decref(sample);
    ss_avro_buffer_free(&buffer);
}

static void test_every_released_version_is_readable_by_the_current_schema(void **state)
{
    (void)state;
    DIR *dir = opendir(COMPAT_DIR);
    assert_non_null(dir);
    size_t snapshots = 0;
    for (size_t guard = 0; guard < COMPAT_FILES_MAX; guard++) {
        struct dirent *entry = readdir(dir);
        if (entry == NULL) {
            break;
        }
        size_t length = strlen(entry->d_name);
        if (length <= 5 || strcmp(entry->d_name + length - 5, ".avsc") != 0) {
            continue;
        }
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", COMPAT_DIR, entry->d_name);
        json_t *snapshot = json_of_file(path);
        const char *name = json_string_value(json_object_get(snapshot, "name"));
        const ss_avro_schema_t *current = ss_avro_registry_find(registry, name);
        if (current == NULL) {
            fail_msg("%s: no current schema named %s", path, name);
        }
        json_t *current_document = json_of_file(ss_avro_schema_path(current));
        assert_new_fields_have_defaults(path, snapshot, current_document);
        assert_snapshot_record_decodes(path, snapshot, current);
        json_decref(current_document);
        json_decref(snapshot);
        snapshots++;
    }
    closedir(dir);
    /* Every current schema has at least its v1 snapshot. */
    assert_true(snapshots >= ss_avro_registry_count(registry));
}

static void test_the_rule_check_catches_a_field_added_without_default(void **state)
{
    (void)state;
    /* The check above must be able to fail: feed it evolutions that keep and break the rule. */
    json_t *old = json_of("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\","
                          "\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
                          "\"name\":\"Y\",\"fields\":[]}}}]}");
    json_t *new_ok = json_of("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\","
                             "\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
                             "\"name\":\"Y\",\"fields\":[{\"name\":\"c\",\"type\":\"int\","
                             "\"default\":0}]}}},{\"name\":\"b\",\"type\":\"long\","
                             "\"default\":0}]}");
    json_t *new_bad = json_of("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\","
                              "\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
                              "\"name\":\"Y\",\"fields\":[{\"name\":\"c\",\"type\":\"int\""
                              "}]}}}]}");
    char field[64] = "";
    assert_false(find_field_without_default(old, new_ok, field, sizeof(field)));
    assert_true(find_field_without_default(old, new_bad, field, sizeof(field)));
    assert_string_equal(field, "Y.c");
    json_decref(new_bad);
    json_decref(new_ok);
    json_decref(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_schema_file_loads_with_a_sample),
        cmocka_unit_test(test_file_names_are_the_snake_case_record_names),
        cmocka_unit_test(test_every_record_and_field_has_a_doc),
        cmocka_unit_test(test_a_sample_of_every_schema_round_trips),
        cmocka_unit_test(test_bodies_are_byte_identical_to_avro_c_writer),
        cmocka_unit_test(test_every_truncation_of_every_sample_is_refused),
        cmocka_unit_test(test_a_foreign_fingerprint_is_refused),
        cmocka_unit_test(test_every_released_version_is_readable_by_the_current_schema),
        cmocka_unit_test(test_the_rule_check_catches_a_field_added_without_default),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
