// The digests and key derivation MServePasswords needs, from the system's OpenSSL libcrypto
// (Debian: libssl-dev): SHA-1, SHA-256, HMAC-SHA256 and PBKDF2-HMAC-SHA256, each one call
// on byte buffers. Every function returns 1 on success and 0 on failure.
#ifndef MSERVE_PASSWORD_CRYPTO_H
#define MSERVE_PASSWORD_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/// Writes the 20-byte SHA-1 digest of `length` bytes at `data` to `digest`.
int mserve_sha1(const uint8_t *data, size_t length, uint8_t *digest);

/// Writes the 32-byte SHA-256 digest of `length` bytes at `data` to `digest`.
int mserve_sha256(const uint8_t *data, size_t length, uint8_t *digest);

/// Writes the 32-byte HMAC-SHA256 of `data` under `key` to `code`.
int mserve_hmac_sha256(const uint8_t *key, size_t key_length, const uint8_t *data, size_t length,
                       uint8_t *code);

/// Writes `output_length` bytes of PBKDF2-HMAC-SHA256 of `secret` with `salt` and `rounds`
/// rounds to `output`.
int mserve_pbkdf2_sha256(const uint8_t *secret, size_t secret_length, const uint8_t *salt,
                         size_t salt_length, unsigned rounds, uint8_t *output, size_t output_length);

#endif
