/* posix.h: file descriptors made close-on-exec (and non-blocking when asked) in one call on every
 * system: Linux's atomic forms (pipe2, accept4, SOCK_CLOEXEC) where they exist, POSIX calls plus
 * fcntl elsewhere (macOS), and sockets that never raise SIGPIPE. The one place such differences
 * live; callers use these instead of the Linux calls. */
#ifndef GPTOSS_BASE_POSIX_H
#define GPTOSS_BASE_POSIX_H

#include <sys/socket.h>
#include <sys/types.h>

/* flags of the calls below */
#define GPTOSS_FD_NONBLOCK 1 /* O_NONBLOCK on the new descriptors */

/* send() flags that keep a write to a closed peer from raising SIGPIPE: MSG_NOSIGNAL on Linux;
 * elsewhere 0, since the sockets made below carry SO_NOSIGPIPE (macOS, the BSDs) instead. A socket
 * made otherwise must not be written with send() off Linux unless SIGPIPE is ignored. */
#if defined(__linux__) && !defined(GPTOSS_POSIX_FALLBACK)
#define GPTOSS_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define GPTOSS_MSG_NOSIGNAL 0
#endif

/* Like pipe(fds), both ends close-on-exec. 0, or -1 with errno set (nothing left open). */
int gptoss_fd_pipe(int fds[2], int flags);
/* Like socket(domain, type, protocol), close-on-exec. The descriptor, or -1 with errno set. */
int gptoss_fd_socket(int domain, int type, int protocol, int flags);
/* Like socketpair(domain, type, protocol, fds), both close-on-exec. 0, or -1 with errno set. */
int gptoss_fd_socketpair(int domain, int type, int protocol, int fds[2], int flags);
/* Like accept(fd, addr, addr_len), the new connection close-on-exec. The descriptor, or -1 with errno
 * set (EAGAIN on a non-blocking listener with nothing pending, as accept). */
int gptoss_fd_accept(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags);

#endif
