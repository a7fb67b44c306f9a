/* test_base_random.c: gptoss_random_bytes (src/base/random.c): every length from none to past
 * getentropy's 256-byte limit is filled, two calls differ, and the bits are balanced. */
#include <stdio.h>
#include <string.h>

#include "base/random.h"

static int n_failed;

static void check(int ok, const char *name) {
    printf("%sok - %s\n", ok ? "" : "not ", name);
    if (!ok) n_failed++;
}

int main(void) {
    static const size_t lens[] = {0, 1, 16, 255, 256, 257, 1000, 4096};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char a[4096 + 1], b[4096 + 1];
        memset(a, 0xa5, sizeof a);
        memset(b, 0xa5, sizeof b);
        const size_t n = lens[i];
        const int ra = gptoss_random_bytes(a, n), rb = gptoss_random_bytes(b, n);
        char name[96];
        snprintf(name, sizeof name, "random bytes: %zu bytes filled, the byte after untouched", n);
        check(ra == 0 && rb == 0 && a[n] == 0xa5 && b[n] == 0xa5, name);
        if (n >= 16) {
            snprintf(name, sizeof name, "random bytes: two calls of %zu bytes differ", n);
            check(memcmp(a, b, n) != 0, name);
        }
        if (n == 4096) { /* 32768 bits: mean 16384, sd 90.5; 1000 is over 11 sd */
            long ones = 0;
            for (size_t k = 0; k < n; k++) ones += __builtin_popcount(a[k]);
            snprintf(name, sizeof name, "random bytes: %ld of 32768 bits set", ones);
            check(ones > 16384 - 1000 && ones < 16384 + 1000, name);
        }
    }
    return n_failed ? 1 : 0;
}
