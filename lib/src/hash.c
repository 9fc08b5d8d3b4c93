/* SHA-256 as hex through libcrypto's one-shot EVP_Digest (see ss/hash.h). */
#include "ss/hash.h"

#include <openssl/evp.h>

ss_err_t ss_hash_sha256_hex(const void *data, size_t length, char out[SS_HASH_SHA256_HEX_SIZE],
                            char *errstr, size_t errstr_size)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    if (EVP_Digest(data, length, digest, &digest_length, EVP_sha256(), NULL) != 1 ||
        digest_length != 32) {
        out[0] = '\0';
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "could not compute sha-256");
    }
    for (unsigned int i = 0; i < digest_length; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 0x0f];
    }
    out[2 * digest_length] = '\0';
    return SS_OK;
}
