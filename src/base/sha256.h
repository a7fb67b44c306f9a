/* sha256.h: SHA-256 (FIPS 180-4) as a stream: checking downloaded blobs against the Hub's LFS oid
 * and the tests' digests of spec text. */
#ifndef GPTOSS_SHA256_H
#define GPTOSS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct gptoss_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    unsigned char block[64];
    size_t n_block;
} gptoss_sha256;

void gptoss_sha256_init(gptoss_sha256 *s);
void gptoss_sha256_update(gptoss_sha256 *s, const void *data, size_t len);
/* Writes the 32-byte digest; the state must be initialized again before reuse. */
void gptoss_sha256_final(gptoss_sha256 *s, unsigned char digest[32]);
/* Lowercase hex of the digest (64 characters and a NUL). */
void gptoss_sha256_final_hex(gptoss_sha256 *s, char hex[65]);
/* One call for a whole buffer, as lowercase hex. */
void gptoss_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
