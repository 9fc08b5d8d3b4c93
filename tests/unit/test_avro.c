/*
 * Unit tests for lib/src/avro.c: the CRC-64-AVRO fingerprint against the values the Avro
 * project publishes (share/test/data/schema-tests.txt, checked there by Java), Parsing
 * Canonical Form, the binary encoding's edge cases, schema resolution between a released
 * snapshot and the current schema, registry load errors, and garbage input that must never
 * crash the decoder. Schemas live in throw-away directories under /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/avro.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_DIR_FILES_MAX 8
#define GARBAGE_ROUNDS_MAX 20000
#define GARBAGE_LENGTH_MAX 64

typedef struct schema_dir {
    char path[64];
    char files[TEST_DIR_FILES_MAX][128];
    size_t file_count;
    bool has_compat;
} schema_dir_t;

static void dir_write(schema_dir_t *dir, const char *name, const char *text)
{
    assert_true(dir->file_count < TEST_DIR_FILES_MAX);
    char path[sizeof(dir->files[0])];
    snprintf(path, sizeof(path), "%s/%s", dir->path, name);
    memcpy(dir->files[dir->file_count++], path, sizeof(path));
    if (strncmp(name, "compat/", 7) == 0 && !dir->has_compat) {
        char compat[96];
        snprintf(compat, sizeof(compat), "%s/compat", dir->path);
        assert_int_equal(mkdir(compat, 0700), 0);
        dir->has_compat = true;
    }
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    assert_int_equal(fputs(text, file) >= 0, 1);
    assert_int_equal(fclose(file), 0);
}

static void dir_create(schema_dir_t *dir)
{
    memset(dir, 0, sizeof(*dir));
    snprintf(dir->path, sizeof(dir->path), "/tmp/ss_test_avro_XXXXXX");
    assert_non_null(mkdtemp(dir->path));
}

static void dir_remove(schema_dir_t *dir)
{
    for (size_t i = 0; i < dir->file_count; i++) {
        unlink(dir->files[i]);
    }
    if (dir->has_compat) {
        char compat[96];
        snprintf(compat, sizeof(compat), "%s/compat", dir->path);
        rmdir(compat);
    }
    rmdir(dir->path);
}

/* A registry over one or two schema files; the directory is removed before returning. */
static ss_avro_registry_t *registry_of(const char *name1, const char *text1, const char *name2,
                                       const char *text2)
{
    schema_dir_t dir;
    dir_create(&dir);
    dir_write(&dir, name1, text1);
    if (name2 != NULL && text2 != NULL) {
        dir_write(&dir, name2, text2);
    }
    char errstr[512] = "";
    ss_avro_registry_t *registry = NULL;
    ss_err_t err = ss_avro_registry_load(dir.path, &registry, errstr, sizeof(errstr));
    dir_remove(&dir);
    if (err != SS_OK) {
        fail_msg("registry load failed: %s", errstr);
    }
    return registry;
}

static ss_err_t registry_load_error(const char *name1, const char *text1, const char *name2,
                                    const char *text2, char *errstr, size_t errstr_size)
{
    schema_dir_t dir;
    dir_create(&dir);
    dir_write(&dir, name1, text1);
    if (name2 != NULL && text2 != NULL) {
        dir_write(&dir, name2, text2);
    }
    ss_avro_registry_t *registry = NULL;
    ss_err_t err = ss_avro_registry_load(dir.path, &registry, errstr, errstr_size);
    dir_remove(&dir);
    ss_avro_registry_destroy(registry);
    return err;
}

static json_t *json_of(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (value == NULL) {
        fail_msg("bad test JSON %s: %s", text, error.text);
    }
    return value;
}

/*
 * Encodes text with schema_name, decodes it back and checks that every field the text gives
 * comes back equal (fields it leaves out take their defaults, which other tests check).
 */
static void assert_round_trip(const ss_avro_registry_t *registry, const char *schema_name,
                              const char *text, ss_avro_buffer_t *buffer)
{
    char errstr[256] = "";
    json_t *record = json_of(text);
    if (ss_avro_encode(registry, schema_name, record, buffer, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("encode %s failed: %s", text, errstr);
    }
    json_t *decoded = NULL;
    const char *decoded_name = NULL;
    if (ss_avro_decode(registry, buffer->data, buffer->length, &decoded_name, &decoded, errstr,
                       sizeof(errstr)) != SS_OK) {
        fail_msg("decode %s failed: %s", text, errstr);
    }
    assert_string_equal(decoded_name, schema_name);
    const char *key;
    json_t *value;
    json_object_foreach(record, key, value)
    {
        if (!json_equal(value, json_object_get(decoded, key))) {
            char *got = json_dumps(decoded, JSON_COMPACT);
            fail_msg("round trip changed %s into %s", text, got);
        }
    }
    json_decref(decoded);
    json_decref(record);
}

static const char numbers_schema[] =
    "{\"type\":\"record\",\"name\":\"Numbers\",\"namespace\":\"test\",\"fields\":["
    "{\"name\":\"big\",\"type\":\"long\"},{\"name\":\"small\",\"type\":\"int\"}]}";

/* ---------------------------------------------------------------- fingerprints */

static void test_fingerprints_match_the_avro_specification_vectors(void **state)
{
    (void)state;
    /* share/test/data/schema-tests.txt gives them as signed Java longs. */
    static const struct {
        const char *canonical;
        int64_t fingerprint;
    } vectors[] = {
        {"\"null\"", 7195948357588979594},
        {"\"boolean\"", -6970731678124411036},
        {"\"int\"", 8247732601305521295},
        {"\"long\"", -3434872931120570953},
        {"\"float\"", 5583340709985441680},
        {"\"double\"", -8181574048448539266},
        {"\"bytes\"", 5746618253357095269},
        {"\"string\"", -8142146995180207161},
        {"[]", -1241056759729112623},
        {"[\"int\"]", -5232228896498058493},
        {"[\"int\",\"boolean\"]", 5392556393470105090},
        {"{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", -4824392279771201922},
        {"{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", 5916914534497305771},
        {"{\"type\":\"array\",\"items\":\"null\"}", -589620603366471059},
        {"{\"type\":\"map\",\"values\":\"string\"}", -8732877298790414990},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint64_t got = ss_avro_fingerprint64(vectors[i].canonical, strlen(vectors[i].canonical));
        if (got != (uint64_t)vectors[i].fingerprint) {
            fail_msg("fingerprint of %s: got %llx", vectors[i].canonical, (unsigned long long)got);
        }
    }
    assert_true(ss_avro_fingerprint64("", 0) == SS_AVRO_FINGERPRINT_EMPTY);
}

static void test_header_of_an_int_schema_matches_the_ruby_implementation(void **state)
{
    (void)state;
    /* lang/ruby test_fingerprints.rb: single_object_encoding_header of "int". */
    static const unsigned char expected[] = {0xc3, 0x01, 0x8f, 0x5c, 0x39,
                                             0x3f, 0x1a, 0xd5, 0x75, 0x72};
    ss_avro_registry_t *registry = registry_of(
        "int_box.avsc",
        "{\"type\":\"record\",\"name\":\"IntBox\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"}]}",
        NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *record = json_of("{\"v\": 1}");
    assert_int_equal(ss_avro_encode(registry, "IntBox", record, &buffer, NULL, 0), SS_OK);
    /* The record's header differs; check the header layout with the "int" fingerprint. */
    uint64_t fingerprint = ss_avro_fingerprint64("\"int\"", 5);
    unsigned char header[SS_AVRO_HEADER_SIZE] = {SS_AVRO_MARKER_0, SS_AVRO_MARKER_1};
    for (size_t i = 0; i < 8; i++) {
        header[2 + i] = (unsigned char)(fingerprint >> (8 * i));
    }
    assert_memory_equal(header, expected, sizeof(expected));
    /* And the record's own header is built the same way from its schema's fingerprint. */
    uint64_t record_fingerprint = 0;
    assert_int_equal(
        ss_avro_peek_fingerprint(buffer.data, buffer.length, &record_fingerprint, NULL, 0), SS_OK);
    assert_true(record_fingerprint ==
                ss_avro_schema_fingerprint(ss_avro_registry_find(registry, "IntBox")));
    assert_int_equal(buffer.data[0], 0xc3);
    assert_int_equal(buffer.data[1], 0x01);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

/* ---------------------------------------------------------------- canonical form */

static void test_canonical_form_follows_the_specification_cases(void **state)
{
    (void)state;
    /* Inputs and outputs from share/test/data/schema-tests.txt (those avro-c accepts). */
    static const struct {
        const char *input;
        const char *canonical;
    } cases[] = {
        {"\"null\"", "\"null\""},
        {"{\"type\":\"boolean\"}", "\"boolean\""},
        {"{\"type\":\"long\"}", "\"long\""},
        {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]"},
        {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"namespace\":\"x.y\"}",
         "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}"},
        {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", \"namespace\":\"x.y\"}",
         "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}"},
        {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", \"doc\":\"foo\", "
         "\"aliases\":[\"foo\",\"bar\"]}",
         "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}"},
        {"{\"fields\":[{\"type\":{\"type\":\"boolean\"}, \"name\":\"f1\"}], \"type\":\"record\", "
         "\"name\":\"foo\"}",
         "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"}"
         "]}"},
        {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", \"default\":true},"
         " {\"order\":\"descending\",\"name\":\"f2\",\"doc\":\"Hello\",\"type\":\"int\"}],"
         " \"type\":\"record\", \"name\":\"foo\" }",
         "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"},"
         "{\"name\":\"f2\",\"type\":\"int\"}]}"},
        {"{\"type\":\"enum\", \"name\":\"foo\", \"symbols\":[\"A1\"]}",
         "{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}"},
        {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", \"doc\":\"foo bar\", "
         "\"symbols\":[\"A1\", \"A2\"]}",
         "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}"},
        {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
         "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}"},
        {"{\"namespace\":\"x.y.z\", \"type\":\"fixed\", \"name\":\"foo\", \"doc\":\"foo bar\", "
         "\"size\":32}",
         "{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}"},
        {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
         "{\"type\":\"array\",\"items\":\"null\"}"},
        {"{ \"values\":\"string\", \"type\":\"map\"}", "{\"type\":\"map\",\"values\":\"string\"}"},
        {"{\"name\":\"PigValue\",\"type\":\"record\", \"fields\":[{\"name\":\"value\", "
         "\"type\":[\"null\", \"int\", \"long\", \"PigValue\"]}]}",
         "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":["
         "\"null\",\"int\",\"long\",\"PigValue\"]}]}"},
        /* Ours: logical types and docs vanish; nested names take the enclosing namespace. */
        {"{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"doc\":\"d\",\"fields\":["
         "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
         "{\"name\":\"line\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
         "\"name\":\"Line\",\"fields\":[{\"name\":\"q\",\"type\":\"int\"}]}}},"
         "{\"name\":\"again\",\"type\":[\"null\",\"Line\"],\"default\":null}]}",
         "{\"name\":\"n.R\",\"type\":\"record\",\"fields\":[{\"name\":\"at\",\"type\":\"long\"},"
         "{\"name\":\"line\",\"type\":{\"type\":\"array\",\"items\":{\"name\":\"n.Line\","
         "\"type\":\"record\",\"fields\":[{\"name\":\"q\",\"type\":\"int\"}]}}},"
         "{\"name\":\"again\",\"type\":[\"null\",\"n.Line\"]}]}"},
    };
    static const int64_t pig_value_fingerprint = -1759257747318642341;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char errstr[256] = "";
        char *canonical = NULL;
        if (ss_avro_canonical_form(cases[i].input, &canonical, errstr, sizeof(errstr)) != SS_OK) {
            fail_msg("case %zu refused: %s", i, errstr);
        }
        assert_string_equal(canonical, cases[i].canonical);
        if (strstr(canonical, "PigValue") != NULL) {
            assert_true(ss_avro_fingerprint64(canonical, strlen(canonical)) ==
                        (uint64_t)pig_value_fingerprint);
        }
        free(canonical);
    }
}

static void test_canonical_form_refuses_what_avro_c_refuses(void **state)
{
    (void)state;
    char errstr[256] = "";
    char *canonical = NULL;
    assert_int_equal(ss_avro_canonical_form("{\"type\":\"record\",\"name\":\"x\"}", &canonical,
                                            errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "avro-c"));
    assert_null(canonical);
    assert_int_equal(ss_avro_canonical_form("\"nosuchtype\"", &canonical, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

/* ---------------------------------------------------------------- varints and numbers */

static void test_varint_edges_encode_as_zigzag_and_round_trip(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("numbers.avsc", numbers_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    static const struct {
        long long value;
        unsigned char bytes[10];
        size_t length;
    } cases[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2},
        {LLONG_MAX, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
        {LLONG_MIN, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *record = json_pack("{s:I,s:i}", "big", (json_int_t)cases[i].value, "small", 0);
        char errstr[256] = "";
        assert_int_equal(
            ss_avro_encode(registry, "Numbers", record, &buffer, errstr, sizeof(errstr)), SS_OK);
        assert_int_equal(buffer.length, SS_AVRO_HEADER_SIZE + cases[i].length + 1);
        assert_memory_equal(buffer.data + SS_AVRO_HEADER_SIZE, cases[i].bytes, cases[i].length);
        json_t *decoded = NULL;
        assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded,
                                        errstr, sizeof(errstr)),
                         SS_OK);
        assert_true(json_integer_value(json_object_get(decoded, "big")) == cases[i].value);
        json_decref(decoded);
        json_decref(record);
    }
    assert_round_trip(registry, "Numbers", "{\"big\": 9007199254740993, \"small\": -2147483648}",
                      &buffer);
    assert_round_trip(registry, "Numbers", "{\"big\": -9007199254740993, \"small\": 2147483647}",
                      &buffer);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_int_out_of_range_is_refused_naming_the_field(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("numbers.avsc", numbers_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    char errstr[256] = "";
    json_t *record = json_of("{\"big\": 1, \"small\": 2147483648}");
    assert_int_equal(ss_avro_encode(registry, "Numbers", record, &buffer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "Numbers.small"));
    assert_non_null(strstr(errstr, "out of the int range"));
    assert_int_equal(buffer.length, 0);
    json_decref(record);

    /* The decoder refuses an int varint beyond 32 bits too: big=0, small=2^31 zig-zagged. */
    uint64_t fingerprint = ss_avro_schema_fingerprint(ss_avro_registry_find(registry, "Numbers"));
    unsigned char message[SS_AVRO_HEADER_SIZE + 7] = {SS_AVRO_MARKER_0, SS_AVRO_MARKER_1};
    for (size_t i = 0; i < 8; i++) {
        message[2 + i] = (unsigned char)(fingerprint >> (8 * i));
    }
    static const unsigned char body[] = {0x00, 0x80, 0x80, 0x80, 0x80, 0x10};
    memcpy(message + SS_AVRO_HEADER_SIZE, body, sizeof(body));
    json_t *decoded = NULL;
    assert_int_equal(ss_avro_decode(registry, message, SS_AVRO_HEADER_SIZE + sizeof(body), NULL,
                                    &decoded, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "int out of range"));
    assert_null(decoded);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_overlong_varints_are_refused(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("numbers.avsc", numbers_schema, NULL, NULL);
    uint64_t fingerprint = ss_avro_schema_fingerprint(ss_avro_registry_find(registry, "Numbers"));
    unsigned char message[SS_AVRO_HEADER_SIZE + 12] = {SS_AVRO_MARKER_0, SS_AVRO_MARKER_1};
    for (size_t i = 0; i < 8; i++) {
        message[2 + i] = (unsigned char)(fingerprint >> (8 * i));
    }
    char errstr[256] = "";
    json_t *decoded = NULL;
    /* Ten bytes whose last carries more than the 64th bit. */
    memset(message + SS_AVRO_HEADER_SIZE, 0xff, 9);
    message[SS_AVRO_HEADER_SIZE + 9] = 0x02;
    message[SS_AVRO_HEADER_SIZE + 10] = 0x00;
    assert_int_equal(ss_avro_decode(registry, message, SS_AVRO_HEADER_SIZE + 11, NULL, &decoded,
                                    errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "overflows"));
    /* Eleven continuation bytes. */
    memset(message + SS_AVRO_HEADER_SIZE, 0x80, 11);
    message[SS_AVRO_HEADER_SIZE + 11] = 0x00;
    assert_int_equal(
        ss_avro_decode(registry, message, sizeof(message), NULL, &decoded, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_null(decoded);
    ss_avro_registry_destroy(registry);
}

/* ---------------------------------------------------------------- strings, arrays, unions */

static const char rich_schema[] =
    "{\"type\":\"record\",\"name\":\"Rich\",\"namespace\":\"test\",\"fields\":["
    "{\"name\":\"text\",\"type\":\"string\"},"
    "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\"},"
    "{\"name\":\"flag\",\"type\":\"boolean\",\"default\":false},"
    "{\"name\":\"ratio\",\"type\":\"double\",\"default\":0.5},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"
    "{\"name\":\"counts\",\"type\":{\"type\":\"map\",\"values\":\"long\"},\"default\":{}},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\","
    "\"GREEN\"]},\"default\":\"RED\"},"
    "{\"name\":\"id\",\"type\":{\"type\":\"fixed\",\"name\":\"Id\",\"size\":2},"
    "\"default\":\"\\u0001\\u00ff\"},"
    "{\"name\":\"maybe\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"either\",\"type\":[\"null\",\"string\",\"long\",{\"type\":\"record\","
    "\"name\":\"Point\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}],\"default\":null},"
    "{\"name\":\"points\",\"type\":{\"type\":\"array\",\"items\":\"Point\"},\"default\":[]}]}";

static void test_unicode_strings_round_trip_byte_for_byte(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("rich.avsc", rich_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    assert_round_trip(registry, "Rich", "{\"text\": \"\"}", &buffer);
    assert_round_trip(registry, "Rich",
                      "{\"text\": \"\xec\x95\x88\xeb\x85\x95 \xf0\x9f\x9b\x92 caf\xc3\xa9\"}",
                      &buffer);
    /* "안녕" is 6 bytes of UTF-8: length 6 zig-zagged is 12. */
    json_t *record = json_of("{\"text\": \"\xec\x95\x88\xeb\x85\x95\"}");
    assert_int_equal(ss_avro_encode(registry, "Rich", record, &buffer, NULL, 0), SS_OK);
    assert_int_equal(buffer.data[SS_AVRO_HEADER_SIZE], 12);
    assert_memory_equal(buffer.data + SS_AVRO_HEADER_SIZE + 1, "\xec\x95\x88\xeb\x85\x95", 6);
    json_decref(record);
    /* Embedded NUL survives: jansson strings carry their length. */
    record = json_object();
    json_object_set_new(record, "text", json_stringn("a\0b", 3));
    assert_int_equal(ss_avro_encode(registry, "Rich", record, &buffer, NULL, 0), SS_OK);
    json_t *decoded = NULL;
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, NULL, 0),
                     SS_OK);
    assert_int_equal(json_string_length(json_object_get(decoded, "text")), 3);
    json_decref(decoded);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_invalid_utf8_in_a_string_is_refused_on_decode(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("rich.avsc", rich_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *record = json_of("{\"text\": \"ab\"}");
    assert_int_equal(ss_avro_encode(registry, "Rich", record, &buffer, NULL, 0), SS_OK);
    /* Replace "ab" with a lone continuation byte and an overlong NUL. */
    buffer.data[SS_AVRO_HEADER_SIZE + 1] = 0x80;
    buffer.data[SS_AVRO_HEADER_SIZE + 2] = 0xc0;
    char errstr[256] = "";
    json_t *decoded = NULL;
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, errstr,
                                    sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "UTF-8"));
    assert_non_null(strstr(errstr, "Rich.text"));
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_defaults_fill_missing_fields_and_every_type_round_trips(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("rich.avsc", rich_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *record = json_of("{\"text\": \"x\"}");
    assert_int_equal(ss_avro_encode(registry, "Rich", record, &buffer, NULL, 0), SS_OK);
    json_t *decoded = NULL;
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, NULL, 0),
                     SS_OK);
    json_t *expected = json_of(
        "{\"text\":\"x\",\"raw\":\"\",\"flag\":false,\"ratio\":0.5,\"tags\":[],\"counts\":{},"
        "\"color\":\"RED\",\"id\":\"\\u0001\\u00ff\",\"maybe\":null,\"either\":null,"
        "\"points\":[]}");
    assert_true(json_equal(decoded, expected));
    json_decref(expected);
    json_decref(decoded);
    json_decref(record);
    assert_round_trip(registry, "Rich",
                      "{\"text\":\"t\",\"raw\":\"\\u0000\\u0001\\u00e9\\u00ff\",\"flag\":true,"
                      "\"ratio\":-1.25,\"tags\":[\"a\",\"\",\"c\"],\"counts\":{\"a\":1,"
                      "\"b\":-9223372036854775808},\"color\":\"GREEN\",\"id\":\"zz\","
                      "\"maybe\":42,\"either\":{\"x\":7},\"points\":[{\"x\":1},{\"x\":-1}]}",
                      &buffer);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_unions_take_the_first_branch_the_value_fits(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("rich.avsc", rich_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    static const struct {
        const char *either;
        unsigned char branch;
    } cases[] = {{"null", 0}, {"\"s\"", 1}, {"5", 2}, {"{\"x\":1}", 3}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "{\"text\":\"\",\"either\":%s}", cases[i].either);
        assert_round_trip(registry, "Rich", text, &buffer);
        /* text "" (0x00), raw, flag, ratio(8), tags, counts, color, id(2), maybe, either. */
        size_t either_offset = SS_AVRO_HEADER_SIZE + 1 + 1 + 1 + 8 + 1 + 1 + 1 + 2 + 1;
        assert_int_equal(buffer.data[either_offset], cases[i].branch * 2);
    }
    char errstr[256] = "";
    json_t *record = json_of("{\"text\":\"\",\"either\":[1]}");
    assert_int_equal(ss_avro_encode(registry, "Rich", record, &buffer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "Rich.either"));
    json_decref(record);
    record = json_of("{\"text\":\"\",\"either\":{\"x\":\"no\"}}");
    assert_int_equal(ss_avro_encode(registry, "Rich", record, &buffer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "Rich.either.x: expected int, got string"));
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_arrays_in_negative_count_blocks_decode(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of(
        "list.avsc",
        "{\"type\":\"record\",\"name\":\"List\",\"fields\":[{\"name\":\"v\",\"type\":{\"type\":"
        "\"array\",\"items\":\"long\"}}]}",
        NULL, NULL);
    uint64_t fingerprint = ss_avro_schema_fingerprint(ss_avro_registry_find(registry, "List"));
    unsigned char message[SS_AVRO_HEADER_SIZE + 8] = {SS_AVRO_MARKER_0, SS_AVRO_MARKER_1};
    for (size_t i = 0; i < 8; i++) {
        message[2 + i] = (unsigned char)(fingerprint >> (8 * i));
    }
    /* Block of -2 items spanning 2 bytes (1, 2), then a block of 1 item (3), then the end. */
    static const unsigned char body[] = {0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00};
    memcpy(message + SS_AVRO_HEADER_SIZE, body, sizeof(body));
    json_t *decoded = NULL;
    char errstr[256] = "";
    assert_int_equal(ss_avro_decode(registry, message, SS_AVRO_HEADER_SIZE + sizeof(body), NULL,
                                    &decoded, errstr, sizeof(errstr)),
                     SS_OK);
    json_t *expected = json_of("{\"v\":[1,2,3]}");
    assert_true(json_equal(decoded, expected));
    json_decref(expected);
    json_decref(decoded);

    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    assert_round_trip(registry, "List", "{\"v\":[]}", &buffer);
    json_t *many = json_array();
    for (int i = 0; i < 1000; i++) {
        json_array_append_new(many, json_integer(i * 1000003LL));
    }
    json_t *record = json_pack("{s:o}", "v", many);
    assert_int_equal(ss_avro_encode(registry, "List", record, &buffer, NULL, 0), SS_OK);
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, NULL, 0),
                     SS_OK);
    assert_true(json_equal(decoded, record));
    json_decref(decoded);
    json_decref(record);

    /* A block claiming more items than the decoder allows is refused, not allocated. */
    static const unsigned char huge[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00};
    memcpy(message + SS_AVRO_HEADER_SIZE, huge, sizeof(huge));
    assert_int_equal(ss_avro_decode(registry, message, SS_AVRO_HEADER_SIZE + sizeof(huge), NULL,
                                    &decoded, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "too many"));
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

/* ---------------------------------------------------------------- record validation */

static void test_missing_unknown_and_mistyped_fields_are_refused_by_name(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("numbers.avsc", numbers_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    static const struct {
        const char *record;
        const char *message;
    } cases[] = {
        {"{\"big\": 1}", "Numbers: missing field small, which has no default"},
        {"{\"big\": 1, \"small\": 2, \"smal\": 3}", "Numbers: unknown field smal"},
        {"{\"big\": \"1\", \"small\": 2}", "Numbers.big: expected long, got string"},
        {"{\"big\": 1.5, \"small\": 2}", "Numbers.big: expected long, got real"},
        {"{\"big\": null, \"small\": 2}", "Numbers.big: expected long, got null"},
        {"[1, 2]", "Numbers: expected record, got array"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char errstr[256] = "";
        json_t *record = json_of(cases[i].record);
        assert_int_equal(
            ss_avro_encode(registry, "Numbers", record, &buffer, errstr, sizeof(errstr)),
            SS_ERR_INVALID);
        assert_string_equal(errstr, cases[i].message);
        assert_int_equal(buffer.length, 0);
        json_decref(record);
    }
    char errstr[256] = "";
    json_t *record = json_of("{}");
    assert_int_equal(ss_avro_encode(registry, "NoSuch", record, &buffer, errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "NoSuch"));
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_bad_marker_unknown_fingerprint_and_trailing_bytes_are_refused(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("numbers.avsc", numbers_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *record = json_of("{\"big\": 1, \"small\": 2}");
    assert_int_equal(ss_avro_encode(registry, "Numbers", record, &buffer, NULL, 0), SS_OK);
    char errstr[256] = "";
    json_t *decoded = NULL;

    unsigned char copy[64];
    memcpy(copy, buffer.data, buffer.length);
    copy[buffer.length] = 0;
    assert_int_equal(
        ss_avro_decode(registry, copy, buffer.length + 1, NULL, &decoded, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(errstr, "1 trailing bytes after a Numbers record");

    copy[0] = 0xc4;
    assert_int_equal(
        ss_avro_decode(registry, copy, buffer.length, NULL, &decoded, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "marker"));

    memcpy(copy, buffer.data, buffer.length);
    copy[9] ^= 0x40;
    assert_int_equal(
        ss_avro_decode(registry, copy, buffer.length, NULL, &decoded, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "unknown schema fingerprint 0x"));

    assert_int_equal(ss_avro_decode(registry, copy, 3, NULL, &decoded, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_avro_decode(registry, NULL, 0, NULL, &decoded, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(decoded);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

/* ---------------------------------------------------------------- evolution */

static const char account_v1[] =
    "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"int\"},"
    "{\"name\":\"legacy\",\"type\":\"string\"},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Line\",\"fields\":[{\"name\":\"q\",\"type\":\"int\"}]}}}]}";

/* Version 2 widens id to long, drops legacy, adds defaulted fields, and a field to Line. */
static const char account_v2[] =
    "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"id\",\"type\":\"long\"},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"B\","
    "\"C\"]}},"
    "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Line\",\"fields\":[{\"name\":\"q\",\"type\":\"int\"},{\"name\":\"price\","
    "\"type\":\"long\",\"default\":-1}]}}},"
    "{\"name\":\"limit\",\"type\":\"long\",\"default\":10000000}]}";

static void test_a_released_version_decodes_into_the_current_schema(void **state)
{
    (void)state;
    ss_avro_registry_t *registry =
        registry_of("account.avsc", account_v2, "compat/account.v1.avsc", account_v1);
    char *canonical = NULL;
    assert_int_equal(ss_avro_canonical_form(account_v1, &canonical, NULL, 0), SS_OK);
    uint64_t v1_fingerprint = ss_avro_fingerprint64(canonical, strlen(canonical));
    free(canonical);
    const ss_avro_schema_t *v1 = ss_avro_registry_find_fingerprint(registry, v1_fingerprint);
    assert_non_null(v1);
    assert_true(v1 != ss_avro_registry_find(registry, "Account"));
    assert_int_equal(ss_avro_registry_count(registry), 1);

    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    char errstr[256] = "";
    json_t *old = json_of("{\"id\": -7, \"legacy\": \"gone\", \"kind\": \"B\", "
                          "\"lines\": [{\"q\": 3}, {\"q\": 4}]}");
    assert_int_equal(ss_avro_encode_schema(v1, old, &buffer, errstr, sizeof(errstr)), SS_OK);
    json_t *decoded = NULL;
    const char *name = NULL;
    if (ss_avro_decode(registry, buffer.data, buffer.length, &name, &decoded, errstr,
                       sizeof(errstr)) != SS_OK) {
        fail_msg("decode of v1 failed: %s", errstr);
    }
    assert_string_equal(name, "Account");
    json_t *expected = json_of("{\"note\": null, \"id\": -7, \"kind\": \"B\", \"lines\": "
                               "[{\"q\": 3, \"price\": -1}, {\"q\": 4, \"price\": -1}], "
                               "\"limit\": 10000000}");
    if (!json_equal(decoded, expected)) {
        fail_msg("v1 decoded as %s", json_dumps(decoded, JSON_COMPACT));
    }
    /* The current schema's field order is kept. */
    assert_string_equal(json_object_iter_key(json_object_iter(decoded)), "note");
    json_decref(expected);
    json_decref(decoded);
    json_decref(old);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

/* schemas/README.md rule 5: the next version ships first as a snapshot that old readers know. */
static void test_a_future_version_shipped_as_snapshot_decodes_into_the_older_schema(void **state)
{
    (void)state;
    static const char v1[] =
        "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"long\"}]}";
    static const char v2[] =
        "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"note\",\"type\":[\"null\","
        "\"string\"],\"default\":null}]}";
    ss_avro_registry_t *registry = registry_of("account.avsc", v1, "compat/account.v2.avsc", v2);
    char *canonical = NULL;
    assert_int_equal(ss_avro_canonical_form(v2, &canonical, NULL, 0), SS_OK);
    const ss_avro_schema_t *future = ss_avro_registry_find_fingerprint(
        registry, ss_avro_fingerprint64(canonical, strlen(canonical)));
    free(canonical);
    assert_non_null(future);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *record = json_of("{\"id\": 5, \"note\": \"new\"}");
    assert_int_equal(ss_avro_encode_schema(future, record, &buffer, NULL, 0), SS_OK);
    json_t *decoded = NULL;
    char errstr[256] = "";
    if (ss_avro_decode(registry, buffer.data, buffer.length, NULL, &decoded, errstr,
                       sizeof(errstr)) != SS_OK) {
        fail_msg("decode failed: %s", errstr);
    }
    json_t *expected = json_of("{\"id\": 5}");
    assert_true(json_equal(decoded, expected));
    json_decref(expected);
    json_decref(decoded);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_a_new_field_without_default_makes_the_snapshot_unloadable(void **state)
{
    (void)state;
    static const char v2_without_default[] =
        "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"int\"},{\"name\":\"added\",\"type\":\"long\"}]}";
    static const char v1[] =
        "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"int\"}]}";
    char errstr[512] = "";
    assert_int_equal(registry_load_error("account.avsc", v2_without_default,
                                         "compat/account.v1.avsc", v1, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "compat/account.v1.avsc"));
    assert_non_null(strstr(errstr, "Account.added"));
    assert_non_null(strstr(errstr, "no default"));

    static const char v2_narrowed[] =
        "{\"type\":\"record\",\"name\":\"Account\",\"namespace\":\"test\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"}]}";
    assert_int_equal(registry_load_error("account.avsc", v2_narrowed, "compat/account.v1.avsc", v1,
                                         errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "Account.id"));
}

/* ---------------------------------------------------------------- registry errors */

static void test_registry_load_names_the_file_of_a_bad_schema(void **state)
{
    (void)state;
    char errstr[512] = "";
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"{\"type\":\"record\",\"name\":\"Bad\",\"fields\":[{\"name\":\"a\",\"type\":\"nope\"}]}",
         "avro-c rejects"},
        {"{\"type\":\"record\",\"name\":\"Bad\",\"fields\":[{\"name\":\"a\",\"type\":\"int\","
         "\"default\":\"x\"}]}",
         "default"},
        {"{\"type\":\"record\",\"name\":\"Bad\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\","
         "\"Bad\"]}]}",
         "recursive type Bad"},
        {"\"int\"", "must be a record"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(registry_load_error("ok.avsc", numbers_schema, "zz_bad.avsc",
                                             cases[i].text, errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
        if (strstr(errstr, "zz_bad.avsc") == NULL || strstr(errstr, cases[i].message) == NULL) {
            fail_msg("case %zu: %s", i, errstr);
        }
    }
    assert_int_equal(registry_load_error("a.avsc", numbers_schema, "b.avsc", numbers_schema, errstr,
                                         sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "already defined"));
    assert_int_equal(registry_load_error("a.avsc", numbers_schema, "compat/a.avsc", numbers_schema,
                                         errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "<file>.v<N>.avsc"));

    ss_avro_registry_t *registry = NULL;
    assert_int_equal(ss_avro_registry_load("/nonexistent/ss", &registry, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(registry);
    assert_non_null(strstr(errstr, "/nonexistent/ss"));
    ss_avro_registry_destroy(NULL);
    ss_avro_buffer_free(NULL);
}

/* ---------------------------------------------------------------- garbage */

static uint64_t next_random(uint64_t *seed)
{
    /* xorshift64*: a fixed seed gives the same bytes on every run. */
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    return *seed * UINT64_C(2685821657736338717);
}

static void test_random_bytes_never_crash_the_decoder(void **state)
{
    (void)state;
    ss_avro_registry_t *registry =
        registry_of("rich.avsc", rich_schema, "numbers.avsc", numbers_schema);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    json_t *sample =
        json_of("{\"text\":\"t\",\"raw\":\"\\u0001\",\"tags\":[\"a\",\"b\"],\"counts\":{\"k\":5},"
                "\"maybe\":3,\"either\":{\"x\":9},\"points\":[{\"x\":1}]}");
    assert_int_equal(ss_avro_encode(registry, "Rich", sample, &buffer, NULL, 0), SS_OK);
    uint64_t rich = ss_avro_schema_fingerprint(ss_avro_registry_find(registry, "Rich"));
    uint64_t seed = UINT64_C(0x5eed5eed5eed5eed);
    size_t decoded_ok = 0;
    size_t refused = 0;
    for (size_t round = 0; round < GARBAGE_ROUNDS_MAX; round++) {
        unsigned char message[SS_AVRO_HEADER_SIZE + GARBAGE_LENGTH_MAX];
        size_t length = next_random(&seed) % sizeof(message);
        for (size_t i = 0; i < length; i++) {
            message[i] = (unsigned char)next_random(&seed);
        }
        uint64_t mode = round % 3;
        if (mode == 1 && length >= SS_AVRO_HEADER_SIZE) {
            /* A valid header over a random body exercises the body parser. */
            message[0] = SS_AVRO_MARKER_0;
            message[1] = SS_AVRO_MARKER_1;
            for (size_t i = 0; i < 8; i++) {
                message[2 + i] = (unsigned char)(rich >> (8 * i));
            }
        } else if (mode == 2) {
            /* A valid record with a few bytes of its body flipped. */
            length = buffer.length;
            memcpy(message, buffer.data, length);
            for (size_t flips = 1 + next_random(&seed) % 3; flips > 0; flips--) {
                size_t at = SS_AVRO_HEADER_SIZE +
                            next_random(&seed) % (buffer.length - SS_AVRO_HEADER_SIZE);
                message[at] ^= (unsigned char)(1u << (next_random(&seed) % 8));
            }
        }
        json_t *decoded = NULL;
        char errstr[256] = "";
        ss_err_t err =
            ss_avro_decode(registry, message, length, NULL, &decoded, errstr, sizeof(errstr));
        if (err == SS_OK) {
            assert_non_null(decoded);
            decoded_ok++;
        } else {
            assert_int_equal(err, SS_ERR_INVALID);
            assert_null(decoded);
            assert_true(errstr[0] != '\0');
            refused++;
        }
        json_decref(decoded);
    }
    assert_int_equal(decoded_ok + refused, GARBAGE_ROUNDS_MAX);
    assert_true(refused > 0);
    json_decref(sample);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

static void test_buffer_is_reused_across_encodes(void **state)
{
    (void)state;
    ss_avro_registry_t *registry = registry_of("numbers.avsc", numbers_schema, NULL, NULL);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    assert_null(buffer.data);
    json_t *record = json_of("{\"big\": 1, \"small\": 2}");
    assert_int_equal(ss_avro_encode(registry, "Numbers", record, &buffer, NULL, 0), SS_OK);
    unsigned char *first = buffer.data;
    size_t length = buffer.length;
    assert_int_equal(ss_avro_encode(registry, "Numbers", record, &buffer, NULL, 0), SS_OK);
    assert_ptr_equal(buffer.data, first);
    assert_int_equal(buffer.length, length);
    ss_avro_buffer_reset(&buffer);
    assert_int_equal(buffer.length, 0);
    assert_ptr_equal(buffer.data, first);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    assert_null(buffer.data);
    ss_avro_registry_destroy(registry);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprints_match_the_avro_specification_vectors),
        cmocka_unit_test(test_header_of_an_int_schema_matches_the_ruby_implementation),
        cmocka_unit_test(test_canonical_form_follows_the_specification_cases),
        cmocka_unit_test(test_canonical_form_refuses_what_avro_c_refuses),
        cmocka_unit_test(test_varint_edges_encode_as_zigzag_and_round_trip),
        cmocka_unit_test(test_int_out_of_range_is_refused_naming_the_field),
        cmocka_unit_test(test_overlong_varints_are_refused),
        cmocka_unit_test(test_unicode_strings_round_trip_byte_for_byte),
        cmocka_unit_test(test_invalid_utf8_in_a_string_is_refused_on_decode),
        cmocka_unit_test(test_defaults_fill_missing_fields_and_every_type_round_trips),
        cmocka_unit_test(test_unions_take_the_first_branch_the_value_fits),
        cmocka_unit_test(test_arrays_in_negative_count_blocks_decode),
        cmocka_unit_test(test_missing_unknown_and_mistyped_fields_are_refused_by_name),
        cmocka_unit_test(test_bad_marker_unknown_fingerprint_and_trailing_bytes_are_refused),
        cmocka_unit_test(test_a_released_version_decodes_into_the_current_schema),
        cmocka_unit_test(test_a_future_version_shipped_as_snapshot_decodes_into_the_older_schema),
        cmocka_unit_test(test_a_new_field_without_default_makes_the_snapshot_unloadable),
        cmocka_unit_test(test_registry_load_names_the_file_of_a_bad_schema),
        cmocka_unit_test(test_random_bytes_never_crash_the_decoder),
        cmocka_unit_test(test_buffer_is_reused_across_encodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
