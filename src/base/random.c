/* random.c: the OS random source behind gptoss_random_bytes. getentropy is POSIX 2024 and exists on
 * glibc 2.25+, musl and macOS, unlike Linux's getrandom; /dev/urandom covers a kernel without the
 * system call under it. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/random.h> /* getentropy's home on macOS */
#endif

#include "base/random.h"

int gptoss_random_bytes(void *out, size_t n) {
    uint8_t *p = out;
    size_t got = 0;
    while (got < n) { /* getentropy serves at most 256 bytes a call */
        const size_t k = n - got < 256 ? n - got : 256;
        if (getentropy(p + got, k) != 0) break;
        got += k;
    }
    if (got == n) return 0;
    const int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (got < n) {
        const ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            const int e = r < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}
