/* sha1.h: SHA-1 (FIPS 180-4) as a stream, for one use only: checking a small file from the Hugging
 * Face Hub against its git blob id (sha1 of "blob SIZE\0" and the contents). Not for security. */
#ifndef GPTOSS_SHA1_H
#define GPTOSS_SHA1_H

#include <stddef.h>
#include <stdint.h>

typedef struct gptoss_sha1 {
    uint32_t h[5];
    uint64_t n_bytes;
    unsigned char block[64];
    size_t n_block;
} gptoss_sha1;

void gptoss_sha1_init(gptoss_sha1 *s);
void gptoss_sha1_update(gptoss_sha1 *s, const void *data, size_t len);
/* Lowercase hex of the digest (40 characters and a NUL); the state must be initialized again after. */
void gptoss_sha1_final_hex(gptoss_sha1 *s, char hex[41]);

#endif
