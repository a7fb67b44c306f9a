/* posix.c: the descriptor calls of posix.h. On Linux each is one system call that sets
 * close-on-exec atomically, which matters because threads here fork (the python tool's sandboxes
 * start while other threads open sockets): a descriptor opened in one thread must never leak into
 * another's child. Elsewhere the POSIX call is followed by fcntl, which leaves that window open
 * between the two calls; no other system offers more through POSIX (macOS has no pipe2 or accept4),
 * and there the only child processes (the sandbox) are Linux-only anyway. Building with
 * GPTOSS_POSIX_FALLBACK picks the portable code on Linux too, which is how tests/test_posix.c runs it. */
#include "base/posix.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#if defined(__linux__) && !defined(GPTOSS_POSIX_FALLBACK)
#define USE_LINUX 1
#else
#define USE_LINUX 0
#endif

#if !USE_LINUX
/* close-on-exec, O_NONBLOCK when asked, and SO_NOSIGPIPE on a socket where the system has it;
 * closes fd on failure (errno kept). */
static int fd_setup(int fd, int flags, int is_socket) {
    int fl = fcntl(fd, F_GETFD);
    int ok = fl != -1 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != -1;
    if (ok && (flags & GPTOSS_FD_NONBLOCK)) {
        fl = fcntl(fd, F_GETFL);
        ok = fl != -1 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != -1;
    }
#ifdef SO_NOSIGPIPE
    int one = 1;
    if (ok && is_socket) ok = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) == 0;
#else
    (void)is_socket;
#endif
    if (!ok) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int pair_setup(int fds[2], int flags, int is_socket) {
    for (int i = 0; i < 2; i++)
        if (fd_setup(fds[i], flags, is_socket) < 0) { /* fd_setup closed fds[i]; the other goes too */
            int e = errno;
            close(fds[1 - i]);
            errno = e;
            fds[0] = fds[1] = -1;
            return -1;
        }
    return 0;
}
#endif

int gptoss_fd_pipe(int fds[2], int flags) {
#if USE_LINUX
    return pipe2(fds, O_CLOEXEC | (flags & GPTOSS_FD_NONBLOCK ? O_NONBLOCK : 0));
#else
    if (pipe(fds) != 0) return -1;
    return pair_setup(fds, flags, 0);
#endif
}

int gptoss_fd_socket(int domain, int type, int protocol, int flags) {
#if USE_LINUX
    return socket(domain, type | SOCK_CLOEXEC | (flags & GPTOSS_FD_NONBLOCK ? SOCK_NONBLOCK : 0), protocol);
#else
    int fd = socket(domain, type, protocol);
    return fd < 0 ? -1 : fd_setup(fd, flags, 1);
#endif
}

int gptoss_fd_socketpair(int domain, int type, int protocol, int fds[2], int flags) {
#if USE_LINUX
    return socketpair(domain, type | SOCK_CLOEXEC | (flags & GPTOSS_FD_NONBLOCK ? SOCK_NONBLOCK : 0), protocol, fds);
#else
    if (socketpair(domain, type, protocol, fds) != 0) return -1;
    return pair_setup(fds, flags, 1);
#endif
}

int gptoss_fd_accept(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags) {
#if USE_LINUX
    return accept4(fd, addr, addr_len, SOCK_CLOEXEC | (flags & GPTOSS_FD_NONBLOCK ? SOCK_NONBLOCK : 0));
#else
    /* a BSD socket inherits the listener's O_NONBLOCK through accept, Linux's does not: set both ways */
    int c = accept(fd, addr, addr_len);
    if (c < 0) return -1;
    if (!(flags & GPTOSS_FD_NONBLOCK)) {
        int fl = fcntl(c, F_GETFL);
        if (fl != -1 && (fl & O_NONBLOCK) && fcntl(c, F_SETFL, fl & ~O_NONBLOCK) == -1) fl = -1;
        if (fl == -1) {
            int e = errno;
            close(c);
            errno = e;
            return -1;
        }
    }
    return fd_setup(c, flags, 1);
#endif
}
