// OpenSSL libcrypto behind the four calls of CPasswordCrypto.h.
#include "CPasswordCrypto.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

int mserve_sha1(const uint8_t *data, size_t length, uint8_t *digest) {
    return EVP_Digest(data, length, digest, NULL, EVP_sha1(), NULL) == 1;
}

int mserve_sha256(const uint8_t *data, size_t length, uint8_t *digest) {
    return EVP_Digest(data, length, digest, NULL, EVP_sha256(), NULL) == 1;
}

int mserve_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data, size_t length,
                       uint8_t *code) {
    if (key_length > INT_MAX) return 0;
    unsigned int code_length = 0;
    return HMAC(EVP_sha256(), key, (int)key_length, data, length, code, &code_length) != NULL &&
           code_length == 32;
}

int mserve_pbkdf2_sha256(const uint8_t *secret, size_t secret_length, const uint8_t *salt,
                         size_t salt_length, unsigned rounds, uint8_t *output, size_t output_length) {
    if (secret_length > INT_MAX || salt_length > INT_MAX || output_length > INT_MAX || rounds == 0 ||
        rounds > INT_MAX)
        return 0;
    return PKCS5_PBKDF2_HMAC((const char *)secret, (int)secret_length, salt, (int)salt_length,
                             (int)rounds, EVP_sha256(), (int)output_length, output) == 1;
}
