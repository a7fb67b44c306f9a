/* test_posix.c: the descriptor calls of src/base/posix.h make what they promise: close-on-exec
 * always, non-blocking exactly when asked, data flowing, a closed peer reported as EPIPE rather than
 * a SIGPIPE. Built twice: test_posix against the library (on Linux, pipe2 / accept4 / SOCK_CLOEXEC)
 * and test_posix_fallback with posix.c compiled with GPTOSS_POSIX_FALLBACK (pipe, socket, accept
 * plus fcntl: the code macOS runs), so the portable branch runs for real here too. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/posix.h"
#include "tap.h"

#ifdef GPTOSS_POSIX_FALLBACK
#define MODE "fallback"
#else
#define MODE "native"
#endif

static int is_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFD);
    return fl != -1 && (fl & FD_CLOEXEC);
}
static int is_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl != -1 && (fl & O_NONBLOCK);
}
/* both flags as asked: close-on-exec always, O_NONBLOCK when nonblock */
static int flags_ok(int fd, int nonblock) { return fd >= 0 && is_cloexec(fd) && is_nonblock(fd) == nonblock; }

static void check_pipe(int nonblock) {
    int p[2] = {-1, -1};
    int rc = gptoss_fd_pipe(p, nonblock ? GPTOSS_FD_NONBLOCK : 0);
    tap_check(rc == 0 && flags_ok(p[0], nonblock) && flags_ok(p[1], nonblock), "%s pipe%s: both ends close-on-exec%s",
              MODE, nonblock ? " nonblock" : "", nonblock ? ", non-blocking" : ", blocking");
    char c = 0;
    tap_check(rc == 0 && write(p[1], "x", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'x', "%s pipe%s carries a byte",
              MODE, nonblock ? " nonblock" : "");
    if (nonblock) {
        errno = 0;
        ssize_t n = rc == 0 ? read(p[0], &c, 1) : 0;
        tap_check(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "%s pipe nonblock: an empty read is EAGAIN", MODE);
    }
    if (rc == 0) close(p[0]), close(p[1]);
}

static void check_socketpair(int nonblock) {
    int sv[2] = {-1, -1};
    int rc = gptoss_fd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv, nonblock ? GPTOSS_FD_NONBLOCK : 0);
    tap_check(rc == 0 && flags_ok(sv[0], nonblock) && flags_ok(sv[1], nonblock),
              "%s socketpair%s: both ends close-on-exec%s", MODE, nonblock ? " nonblock" : "",
              nonblock ? ", non-blocking" : ", blocking");
    char c = 0;
    tap_check(rc == 0 && send(sv[0], "y", 1, GPTOSS_MSG_NOSIGNAL) == 1 && recv(sv[1], &c, 1, 0) == 1 && c == 'y',
              "%s socketpair%s carries a byte", MODE, nonblock ? " nonblock" : "");
#ifdef SO_NOSIGPIPE
    int v = 0;
    socklen_t len = sizeof v;
    tap_check(rc == 0 && getsockopt(sv[0], SOL_SOCKET, SO_NOSIGPIPE, &v, &len) == 0 && v,
              "%s socketpair%s: SO_NOSIGPIPE set", MODE, nonblock ? " nonblock" : "");
#endif
    if (rc != 0) return;
    /* a write to a closed peer: EPIPE, and no SIGPIPE (which would end this test with a signal) */
    close(sv[1]);
#if defined(__linux__) && defined(GPTOSS_POSIX_FALLBACK) && !defined(SO_NOSIGPIPE)
    tap_skip("fallback send to a closed peer: EPIPE without SIGPIPE",
             "Linux has no SO_NOSIGPIPE, which the fallback relies on (macOS, BSDs)");
#else
    errno = 0;
    ssize_t n = send(sv[0], "z", 1, GPTOSS_MSG_NOSIGNAL);
    tap_check(n < 0 && errno == EPIPE, "%s socketpair%s: send to a closed peer is EPIPE without SIGPIPE", MODE,
              nonblock ? " nonblock" : "");
#endif
    close(sv[0]);
}

/* a listener on 127.0.0.1 (port 0); *port gets its port */
static int listener(int flags, struct sockaddr_in *addr) {
    int fd = gptoss_fd_socket(AF_INET, SOCK_STREAM, 0, flags);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static void check_accept(int listen_nonblock, int accept_nonblock) {
    struct sockaddr_in addr;
    int l = listener(listen_nonblock ? GPTOSS_FD_NONBLOCK : 0, &addr);
    tap_check(flags_ok(l, listen_nonblock), "%s socket%s: close-on-exec%s", MODE, listen_nonblock ? " nonblock" : "",
              listen_nonblock ? ", non-blocking" : ", blocking");
    if (l < 0) return;
    if (listen_nonblock) {
        errno = 0;
        int none = gptoss_fd_accept(l, NULL, NULL, 0);
        tap_check(none < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
                  "%s accept on a non-blocking listener with nothing pending: EAGAIN", MODE);
        if (none >= 0) close(none);
    }
    int c = gptoss_fd_socket(AF_INET, SOCK_STREAM, 0, 0);
    int connected = c >= 0 && connect(c, (struct sockaddr *)&addr, sizeof addr) == 0;
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof peer;
    int a = connected ? gptoss_fd_accept(l, (struct sockaddr *)&peer, &peer_len, accept_nonblock ? GPTOSS_FD_NONBLOCK : 0)
                      : -1;
    /* a BSD accept copies the listener's O_NONBLOCK; the call must give what was asked either way */
    tap_check(flags_ok(a, accept_nonblock) && peer.ss_family == AF_INET,
              "%s accept%s from a %s listener: close-on-exec%s, peer address filled", MODE,
              accept_nonblock ? " nonblock" : "", listen_nonblock ? "non-blocking" : "blocking",
              accept_nonblock ? ", non-blocking" : ", blocking");
    char ch = 0;
    tap_check(a >= 0 && send(c, "w", 1, GPTOSS_MSG_NOSIGNAL) == 1 && recv(a, &ch, 1, 0) == 1 && ch == 'w',
              "%s accepted connection carries a byte", MODE);
    if (a >= 0) close(a);
    if (c >= 0) close(c);
    close(l);
}

int main(void) {
    check_pipe(0);
    check_pipe(1);
    check_socketpair(0);
    check_socketpair(1);
    check_accept(0, 0);
    check_accept(0, 1);
    check_accept(1, 0);
    check_accept(1, 1);
    /* a failure leaves nothing open and keeps the call's errno */
    errno = 0;
    int bad = gptoss_fd_socket(-1, SOCK_STREAM, 0, GPTOSS_FD_NONBLOCK);
    tap_check(bad == -1 && errno != 0, "%s socket of a bad domain: -1 with errno (%s)", MODE, strerror(errno));
    int fds[2] = {7, 7};
    errno = 0;
    tap_check(gptoss_fd_socketpair(-1, SOCK_STREAM, 0, fds, 0) == -1 && errno != 0,
              "%s socketpair of a bad domain: -1 with errno", MODE);
    errno = 0;
    tap_check(gptoss_fd_accept(-1, NULL, NULL, 0) == -1 && errno == EBADF, "%s accept on a bad descriptor: EBADF", MODE);
    return tap_n_failed ? 1 : 0;
}
