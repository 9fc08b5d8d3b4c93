/*
 * libFuzzer target for ss_avro_decode(), the function a consumer's dead-letter decision rests
 * on: any bytes must come back as a record or as SS_ERR_INVALID, never a crash, a leak or
 * undefined behaviour. A record that decodes must also survive re-encoding with its schema and
 * decode to the same JSON. The registry is the real schemas/ folder, loaded once.
 * Seeds: tests/fuzz/corpus/fuzz_avro_decode (one encoded record per schema).
 */
#include "ss/avro.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ss_avro_registry_t *registry;
static ss_avro_buffer_t buffer;

static void load_registry(void)
{
    char errstr[512];
    if (ss_avro_registry_load(SS_AVRO_SCHEMA_DIR_DEFAULT, &registry, errstr, sizeof(errstr)) !=
        SS_OK) {
        fprintf(stderr, "fuzz_avro_decode: %s\n", errstr);
        abort();
    }
    ss_avro_buffer_init(&buffer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (registry == NULL) {
        load_registry();
    }
    char errstr[256];
    const char *name = NULL;
    json_t *record = NULL;
    ss_err_t err = ss_avro_decode(registry, data, size, &name, &record, errstr, sizeof(errstr));
    if (err != SS_OK) {
        if (err != SS_ERR_INVALID || record != NULL) {
            abort(); /* garbage is invalid input, nothing else */
        }
        return 0;
    }
    json_t *again = NULL;
    if (ss_avro_encode(registry, name, record, &buffer, errstr, sizeof(errstr)) != SS_OK ||
        ss_avro_decode(registry, buffer.data, buffer.length, NULL, &again, errstr,
                       sizeof(errstr)) != SS_OK ||
        !json_equal(record, again)) {
        fprintf(stderr, "fuzz_avro_decode: %s did not survive a re-encode: %s\n", name, errstr);
        abort();
    }
    json_decref(again);
    json_decref(record);
    return 0;
}
