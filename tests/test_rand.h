/* test_rand.h: the kernel tests' deterministic random floats (xorshift64), one stream per test file.
 * A file defines TEST_RNG_SEED before including this to get its own sequence. */
#ifndef GPTOSS_TEST_RAND_H
#define GPTOSS_TEST_RAND_H

#include <stdint.h>

#ifndef TEST_RNG_SEED
#define TEST_RNG_SEED 0x9e3779b97f4a7c15ull
#endif

static uint64_t rng = TEST_RNG_SEED;

/* uniform in [-1, 1) */
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

#endif
