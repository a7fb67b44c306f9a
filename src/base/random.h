/* random.h: bytes from the operating system's random source, for ids and tokens that must not be
 * guessable. */
#ifndef GPTOSS_BASE_RANDOM_H
#define GPTOSS_BASE_RANDOM_H

#include <stddef.h>

/* Fills out with n random bytes from the OS (getentropy, else /dev/urandom). Returns 0, or -1 with
 * errno set and out's contents unspecified. */
int gptoss_random_bytes(void *out, size_t n);

#endif
