/*
 * Content hashes over OpenSSL's libcrypto (already loaded by libpq and librdkafka): the
 * SHA-256 of a request body identifies "the same request" for Idempotency-Key retries.
 */
#ifndef SS_HASH_H
#define SS_HASH_H

#include "ss/error.h"

#include <stddef.h>

/* 64 hex digits and the NUL. */
#define SS_HASH_SHA256_HEX_SIZE 65

/* Writes the lower-case hex SHA-256 of data[0..length) into out (SS_HASH_SHA256_HEX_SIZE). */
ss_err_t ss_hash_sha256_hex(const void *data, size_t length, char out[SS_HASH_SHA256_HEX_SIZE],
                            char *errstr, size_t errstr_size);

#endif
