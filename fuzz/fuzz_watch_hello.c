/* fuzz_watch_hello.c: libFuzzer target for the hello that a rank on another host sends to rank 0's
 * liveness port (src/dist/dist_watch.c, built in here: the library has it only with make MPI=1).
 * Any bytes give a rank or -1; a rank is within 1..n_ranks-1 and the bytes are exactly the hello
 * that rank would make with the token; the first input byte picks the world's size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/dist/dist_watch.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint8_t token[GPTOSS_WATCH_TOKEN_BYTES] = {0x47, 0x10, 0x9a, 0x03, 0xee, 0x5c, 0x71, 0x28,
                                                            0xb4, 0x0d, 0x96, 0x3f, 0xc2, 0x18, 0x6b, 0xf5};
    if (size == 0) return 0;
    const int n_ranks = data[0] % 8 - 1; /* -1 .. 6: worlds too small for any hello as well */
    const int rank = gptoss_watch_hello_parse(data + 1, size - 1, token, n_ranks);
    if (rank == -1) return 0;
    if (rank < 1 || rank >= n_ranks) abort();
    uint8_t again[GPTOSS_WATCH_HELLO_BYTES];
    gptoss_watch_hello_make(again, token, rank);
    if (size - 1 != sizeof again || memcmp(again, data + 1, sizeof again)) abort();
    return 0;
}
