/*
 * Avro single-object encoding of the records the schemas folder defines (one .avsc file each),
 * read and written as jansson objects. A message is the marker C3 01, the 8-byte little-endian
 * CRC-64-AVRO (Rabin) fingerprint of the writer schema's Parsing Canonical Form, then the Avro
 * binary body.
 *
 * A registry holds every schema of a directory: its .avsc files are the current versions (the
 * ones this build writes and reads into), `<dir>/compat/<file>.v<N>.avsc` are snapshots of
 * released versions that may still sit in Kafka. A record written with a snapshot decodes into
 * the current version of the same record (Avro schema resolution: fields the writer lacks get
 * the reader's default, fields the reader lacks are skipped, int/long/float widen).
 *
 * JSON mapping (encode accepts it, decode produces it):
 *   null -> null; boolean -> true/false; int, long -> integer (long is exact over the whole
 *   64-bit range: jansson integers are long long); float, double -> real (encode also takes an
 *   integer); string -> string (UTF-8); bytes, fixed -> string whose code points U+0000..U+00FF
 *   are the bytes (Avro's JSON convention); enum -> its symbol; array -> array; map -> object;
 *   record -> object with exactly the schema's field names.
 *   A union is the plain value or null, NOT Avro-JSON's {"type": value} wrapper: encode takes
 *   the first branch the value fits, so ["null", "long"] is written as null or as an integer.
 *   Logical types are their underlying type (timestamp-millis is a long of Unix milliseconds).
 *   On encode a missing field takes its default; a field without default is required; a key
 *   that is not a field of the schema is refused.
 *
 * Thread safety: a loaded registry is immutable; any number of threads may encode and decode
 * with it at once, each with its own buffer.
 */
#ifndef SS_AVRO_H
#define SS_AVRO_H

#include "ss/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The two marker bytes that start every single-object encoded message. */
#define SS_AVRO_MARKER_0 0xC3
#define SS_AVRO_MARKER_1 0x01
/* Marker plus fingerprint: the body starts at this offset. */
#define SS_AVRO_HEADER_SIZE 10
/* CRC-64-AVRO of the empty string, the fingerprint's initial value (Avro specification). */
#define SS_AVRO_FINGERPRINT_EMPTY UINT64_C(0xc15d213aa4d7a795)
/* Where ss_avro_registry_load() looks when given NULL; SS_SOURCE_DIR is set by the build. */
#define SS_AVRO_SCHEMA_DIR_DEFAULT SS_SOURCE_DIR "/schemas"

/* Bounds. A schema nested deeper, or a message with more array/map items, is refused. */
#define SS_AVRO_SCHEMA_DEPTH_MAX 16
#define SS_AVRO_SCHEMAS_MAX 256
#define SS_AVRO_DECODE_ITEMS_MAX 100000

typedef struct ss_avro_registry ss_avro_registry_t;
typedef struct ss_avro_schema ss_avro_schema_t;

/*
 * A growable byte buffer that encode writes into. Reuse one per thread in the steady-state
 * loop: encode overwrites data[0..length) and keeps the allocation. The caller owns it and
 * releases the memory with ss_avro_buffer_free(); data is NULL until the first encode.
 */
typedef struct ss_avro_buffer {
    unsigned char *data;
    size_t length;
    size_t capacity;
} ss_avro_buffer_t;

/* Sets an empty buffer that owns nothing. */
void ss_avro_buffer_init(ss_avro_buffer_t *buffer);
/* Empties the buffer (length 0) and keeps its memory for the next encode. */
void ss_avro_buffer_reset(ss_avro_buffer_t *buffer);
/* Frees the memory and leaves an empty buffer; NULL is a no-op. */
void ss_avro_buffer_free(ss_avro_buffer_t *buffer);

/*
 * Loads every .avsc file of schema_dir and of schema_dir/compat (schema_dir NULL means
 * SS_AVRO_SCHEMA_DIR_DEFAULT; binaries pass their SS_SCHEMA_DIR setting). A schema avro-c rejects,
 * a named type that is defined recursively, two current schemas with one name, or a snapshot that
 * the current version of its record cannot read fails with SS_ERR_INVALID and an errstr naming the
 * file. On success *registry_out is owned by the caller: free it with ss_avro_registry_destroy().
 */
ss_err_t ss_avro_registry_load(const char *schema_dir, ss_avro_registry_t **registry_out,
                               char *errstr, size_t errstr_size);

/* Frees the registry and every schema in it; NULL is a no-op. */
void ss_avro_registry_destroy(ss_avro_registry_t *registry);

/*
 * The current version of a record by short name ("ChargeBalance") or full name
 * ("shopstream.ChargeBalance"); NULL when unknown. Owned by the registry.
 */
const ss_avro_schema_t *ss_avro_registry_find(const ss_avro_registry_t *registry, const char *name);

/* Any loaded version (current or snapshot) with this fingerprint; NULL when unknown. */
const ss_avro_schema_t *ss_avro_registry_find_fingerprint(const ss_avro_registry_t *registry,
                                                          uint64_t fingerprint);

/* The current schemas, in file-name order: index 0 .. count-1. */
size_t ss_avro_registry_count(const ss_avro_registry_t *registry);
const ss_avro_schema_t *ss_avro_registry_at(const ss_avro_registry_t *registry, size_t index);

/* Accessors; the strings are owned by the registry and live as long as it does. */
const char *ss_avro_schema_name(const ss_avro_schema_t *schema);     /* "ChargeBalance" */
const char *ss_avro_schema_fullname(const ss_avro_schema_t *schema); /* "shopstream.Charge.." */
const char *ss_avro_schema_path(const ss_avro_schema_t *schema);     /* the .avsc it came from */
const char *ss_avro_schema_canonical_form(const ss_avro_schema_t *schema);
uint64_t ss_avro_schema_fingerprint(const ss_avro_schema_t *schema);
/* True when the record schema has a top-level field called name. */
bool ss_avro_schema_has_field(const ss_avro_schema_t *schema, const char *name);

/*
 * Encodes record with the current version of schema_name into out (marker, fingerprint,
 * body), replacing what out held. A record that does not fit the schema (missing field without
 * default, unknown key, wrong JSON type, int out of range, string not UTF-8) fails with
 * SS_ERR_INVALID and an errstr naming the field path, e.g. "PlaceOrder.lines[1].quantity:
 * expected int, got string"; an unknown schema_name is SS_ERR_NOT_FOUND. On failure out's
 * length is 0.
 */
ss_err_t ss_avro_encode(const ss_avro_registry_t *registry, const char *schema_name,
                        const json_t *record, ss_avro_buffer_t *out, char *errstr,
                        size_t errstr_size);

/* The same with a schema already looked up (any version: tests write old snapshots with it). */
ss_err_t ss_avro_encode_schema(const ss_avro_schema_t *schema, const json_t *record,
                               ss_avro_buffer_t *out, char *errstr, size_t errstr_size);

/*
 * Decodes one message. Anything but a well-formed message of a known schema fails with
 * SS_ERR_INVALID and a clear errstr (bad marker, "unknown schema fingerprint 0x...",
 * truncated body, trailing bytes, int out of range, invalid UTF-8, too many items); arbitrary
 * bytes never crash it. On success *record_out is a new reference the caller releases with
 * json_decref(), in the shape of the current version of the record (see the mapping above),
 * and *schema_name_out (may be NULL if not wanted) is its short name, owned by the registry.
 */
ss_err_t ss_avro_decode(const ss_avro_registry_t *registry, const void *bytes, size_t length,
                        const char **schema_name_out, json_t **record_out, char *errstr,
                        size_t errstr_size);

/* Reads only the header: SS_ERR_INVALID when shorter than it or the marker is wrong. */
ss_err_t ss_avro_peek_fingerprint(const void *bytes, size_t length, uint64_t *fingerprint_out,
                                  char *errstr, size_t errstr_size);

/*
 * The Parsing Canonical Form of a schema given as JSON text (Avro specification: only
 * type/name/fields/symbols/items/values/size, full names, that key order, no whitespace,
 * primitives as plain strings). *canonical_out is a NUL-terminated string the caller frees
 * with free(). The text is validated by avro-c first; SS_ERR_INVALID when it is not a schema.
 */
ss_err_t ss_avro_canonical_form(const char *schema_json, char **canonical_out, char *errstr,
                                size_t errstr_size);

/* CRC-64-AVRO (Rabin) of bytes: the fingerprint of a canonical form. */
uint64_t ss_avro_fingerprint64(const void *bytes, size_t length);

#endif
