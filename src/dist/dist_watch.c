/* dist_watch.c: the liveness channel between rank 0 and the ranks on other hosts (see dist_watch.h).
 * A rank's connection carries one hello at the start and, at an orderly end, one goodbye byte; its
 * closing without the goodbye is the rank's death. Every socket is close-on-exec, so a child
 * process a rank starts cannot keep a dead rank's connection open. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/posix.h"
#include "base/random.h"
#include "dist/dist_watch.h"

enum { CONN_NONE, CONN_OPEN, CONN_BYE, CONN_LOST };
static const uint8_t HELLO_MAGIC[4] = {'G', 'P', 'T', 'W'};
static const uint8_t GOODBYE = 'B';

struct gptoss_watch {
    pthread_mutex_t mu;
    int n_ranks;
    int listen_fd;         /* rank 0, until the accept phase ends */
    int *fd;               /* rank 0: each rank's connection, or -1 */
    unsigned char *state;  /* rank 0: CONN_* of each rank */
    int self_fd;           /* a joined rank: its connection to rank 0 */
    uint8_t token[GPTOSS_WATCH_TOKEN_BYTES];
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ms_left(double deadline) {
    double left = deadline - mono_s();
    return left <= 0 ? 0 : left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
}

static gptoss_watch *watch_new(int n_ranks) {
    gptoss_watch *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->n_ranks = n_ranks;
    w->listen_fd = w->self_fd = -1;
    w->fd = malloc((size_t)(n_ranks > 0 ? n_ranks : 1) * sizeof *w->fd);
    w->state = calloc((size_t)(n_ranks > 0 ? n_ranks : 1), 1);
    if (!w->fd || !w->state || pthread_mutex_init(&w->mu, NULL)) {
        free(w->fd);
        free(w->state);
        free(w);
        return NULL;
    }
    for (int k = 0; k < n_ranks; k++) w->fd[k] = -1;
    return w;
}

/* Rank 0's addresses another host may reach it at: IPv4 first, then global IPv6 (a link-local one
 * needs an interface name the other host cannot know); loopback only when there is nothing else. */
static void offer_addresses(gptoss_watch_offer *offer, int v6) {
    struct ifaddrs *list = NULL;
    if (getifaddrs(&list) == 0) {
        for (int pass = 0; pass < 2; pass++)
            for (struct ifaddrs *i = list; i; i = i->ifa_next) {
                if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
                if (offer->n_addrs >= GPTOSS_WATCH_MAX_ADDRS) break;
                const int k = offer->n_addrs;
                if (pass == 0 && i->ifa_addr->sa_family == AF_INET) {
                    const struct sockaddr_in *a = (const void *)i->ifa_addr;
                    offer->family[k] = 4;
                    memcpy(offer->addr[k], &a->sin_addr, 4);
                    offer->n_addrs++;
                } else if (pass == 1 && v6 && i->ifa_addr->sa_family == AF_INET6) {
                    const struct sockaddr_in6 *a = (const void *)i->ifa_addr;
                    if (IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) continue;
                    offer->family[k] = 6;
                    memcpy(offer->addr[k], &a->sin6_addr, 16);
                    offer->n_addrs++;
                }
            }
        freeifaddrs(list);
    }
    if (offer->n_addrs == 0) {
        const struct in_addr lo = {htonl(INADDR_LOOPBACK)};
        offer->family[0] = 4;
        memcpy(offer->addr[0], &lo, 4);
        offer->n_addrs = 1;
    }
}

int gptoss_watch_listen(gptoss_watch **out, int n_ranks, gptoss_watch_offer *offer, char *err, size_t err_size) {
    *out = NULL;
    memset(offer, 0, sizeof *offer);
    gptoss_watch *w = watch_new(n_ranks);
    if (!w) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (gptoss_random_bytes(w->token, sizeof w->token)) {
        snprintf(err, err_size, "no random bytes for the token: %s", strerror(errno));
        gptoss_watch_close(w);
        return -1;
    }
    /* One dual-stack socket when the host has IPv6, else IPv4 alone. */
    int v6 = 1, fd = gptoss_fd_socket(AF_INET6, SOCK_STREAM, 0, 0);
    if (fd >= 0) {
        int off = 0;
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) || bind(fd, (struct sockaddr *)&a, sizeof a)) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        v6 = 0;
        fd = gptoss_fd_socket(AF_INET, SOCK_STREAM, 0, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
        if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a)) {
            close(fd);
            fd = -1;
        }
    }
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    if (fd < 0 || listen(fd, n_ranks < 16 ? 16 : n_ranks) || getsockname(fd, (struct sockaddr *)&bound, &len)) {
        snprintf(err, err_size, "cannot listen on a TCP port: %s", strerror(errno));
        if (fd >= 0) close(fd);
        gptoss_watch_close(w);
        return -1;
    }
    w->listen_fd = fd;
    offer->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    memcpy(offer->token, w->token, sizeof offer->token);
    offer_addresses(offer, v6);
    *out = w;
    return 0;
}

void gptoss_watch_hello_make(uint8_t *out, const uint8_t *token, int rank) {
    memcpy(out, HELLO_MAGIC, 4);
    memcpy(out + 4, token, GPTOSS_WATCH_TOKEN_BYTES);
    const uint32_t r = (uint32_t)rank;
    uint8_t *p = out + 4 + GPTOSS_WATCH_TOKEN_BYTES;
    p[0] = (uint8_t)(r >> 24), p[1] = (uint8_t)(r >> 16), p[2] = (uint8_t)(r >> 8), p[3] = (uint8_t)r;
}

int gptoss_watch_hello_parse(const uint8_t *msg, size_t n, const uint8_t *token, int n_ranks) {
    if (!msg || !token || n_ranks < 2 || n != GPTOSS_WATCH_HELLO_BYTES || memcmp(msg, HELLO_MAGIC, 4)) return -1;
    unsigned diff = 0; /* every byte compared: the time taken says nothing about the token */
    for (size_t i = 0; i < GPTOSS_WATCH_TOKEN_BYTES; i++) diff |= (unsigned)(msg[4 + i] ^ token[i]);
    if (diff) return -1;
    const uint8_t *p = msg + 4 + GPTOSS_WATCH_TOKEN_BYTES;
    const uint32_t r = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    return r >= 1 && r < (uint32_t)n_ranks ? (int)r : -1;
}

/* Reads a hello from a new connection within the deadline (a silent peer costs at most that). */
static int read_hello(gptoss_watch *w, int fd, double deadline) {
    uint8_t buf[GPTOSS_WATCH_HELLO_BYTES];
    size_t got = 0;
    while (got < sizeof buf) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        ssize_t n = recv(fd, buf + got, sizeof buf - got, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return gptoss_watch_hello_parse(buf, got, w->token, w->n_ranks);
}

int gptoss_watch_accept(gptoss_watch *w, const unsigned char *expect, double seconds, int *first_missing) {
    const double deadline = mono_s() + seconds;
    for (;;) {
        int missing = 0, first = -1;
        for (int k = 0; k < w->n_ranks; k++)
            if (expect[k] && w->state[k] == CONN_NONE) {
                if (first < 0) first = k;
                missing++;
            }
        if (!missing || w->listen_fd < 0 || ms_left(deadline) == 0) {
            if (w->listen_fd >= 0) close(w->listen_fd); /* nobody else may join later */
            w->listen_fd = -1;
            if (first_missing) *first_missing = first;
            return missing;
        }
        struct pollfd p = {.fd = w->listen_fd, .events = POLLIN};
        int r = poll(&p, 1, ms_left(deadline));
        if (r <= 0) continue;
        int fd = gptoss_fd_accept(w->listen_fd, NULL, NULL, 0);
        if (fd < 0) continue;
        double hello_deadline = mono_s() + 2.0;
        if (hello_deadline > deadline) hello_deadline = deadline;
        const int k = read_hello(w, fd, hello_deadline);
        if (k < 0 || !expect[k] || w->state[k] != CONN_NONE) {
            close(fd); /* not a rank of this job, or one that already joined */
            continue;
        }
        w->fd[k] = fd;
        w->state[k] = CONN_OPEN;
    }
}

/* Connects within the deadline: 0 or an errno value. */
static int connect_by(int fd, const struct sockaddr *a, socklen_t len, double deadline) {
    if (connect(fd, a, len) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR) return errno;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int r = poll(&p, 1, ms_left(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) return ETIMEDOUT;
        if (r < 0) return errno;
        int e = 0;
        socklen_t elen = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen)) return errno;
        return e;
    }
}

static void addr_text(const gptoss_watch_offer *offer, int i, char *out, size_t out_size) {
    if (!inet_ntop(offer->family[i] == 6 ? AF_INET6 : AF_INET, offer->addr[i], out, (socklen_t)out_size))
        snprintf(out, out_size, "?");
}

int gptoss_watch_join(gptoss_watch **out, const gptoss_watch_offer *offer, int rank, double seconds, char *err,
                      size_t err_size) {
    *out = NULL;
    const double deadline = mono_s() + seconds;
    const int n_addrs = offer->n_addrs < GPTOSS_WATCH_MAX_ADDRS ? offer->n_addrs : GPTOSS_WATCH_MAX_ADDRS;
    char last[INET6_ADDRSTRLEN + 96] = "rank 0 offered no address";
    for (int i = 0; i < n_addrs; i++) {
        /* an address that drops the packets must leave time for the others */
        const double until = mono_s() + (deadline - mono_s()) / (double)(n_addrs - i);
        struct sockaddr_storage sa;
        memset(&sa, 0, sizeof sa);
        socklen_t len;
        if (offer->family[i] == 6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
            a->sin6_family = AF_INET6;
            a->sin6_port = htons(offer->port);
            memcpy(&a->sin6_addr, offer->addr[i], 16);
            len = sizeof *a;
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&sa;
            a->sin_family = AF_INET;
            a->sin_port = htons(offer->port);
            memcpy(&a->sin_addr, offer->addr[i], 4);
            len = sizeof *a;
        }
        char text[INET6_ADDRSTRLEN];
        addr_text(offer, i, text, sizeof text);
        int fd = gptoss_fd_socket(sa.ss_family, SOCK_STREAM, 0, GPTOSS_FD_NONBLOCK);
        int e = fd < 0 ? errno : connect_by(fd, (struct sockaddr *)&sa, len, until);
        uint8_t hello[GPTOSS_WATCH_HELLO_BYTES];
        gptoss_watch_hello_make(hello, offer->token, rank);
        if (!e && send(fd, hello, sizeof hello, GPTOSS_MSG_NOSIGNAL) != (ssize_t)sizeof hello) e = errno ? errno : EIO;
        if (!e) {
            gptoss_watch *w = watch_new(0);
            if (!w) {
                close(fd);
                snprintf(err, err_size, "out of memory");
                return -1;
            }
            w->self_fd = fd;
            *out = w;
            return 0;
        }
        snprintf(last, sizeof last, "%s port %u: %s", text, (unsigned)offer->port, strerror(e));
        if (fd >= 0) close(fd);
    }
    snprintf(err, err_size, "cannot connect to rank 0 within %.0f s (%s)", seconds, last);
    return -1;
}

/* Reads what a rank's connection holds: a goodbye, or its end. Called with w->mu held. */
static void drain(gptoss_watch *w, int k) {
    uint8_t buf[64];
    for (;;) {
        ssize_t n = recv(w->fd[k], buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n > 0 && !memchr(buf, GOODBYE, (size_t)n)) continue; /* nothing else is sent: ignored */
        w->state[k] = n > 0 ? CONN_BYE : CONN_LOST;             /* n <= 0: closed or reset */
        close(w->fd[k]);
        w->fd[k] = -1;
        return;
    }
}

static int lowest_lost(const gptoss_watch *w) {
    for (int k = 0; k < w->n_ranks; k++)
        if (w->state[k] == CONN_LOST) return k;
    return -1;
}

int gptoss_watch_lost(gptoss_watch *w, double seconds) {
    if (!w || w->n_ranks <= 0) return -1;
    pthread_mutex_lock(&w->mu);
    const double deadline = mono_s() + (seconds > 0 ? seconds : 0);
    struct pollfd *p = malloc((size_t)w->n_ranks * sizeof *p);
    int *who = malloc((size_t)w->n_ranks * sizeof *who);
    int lost = lowest_lost(w);
    while (p && who && lost < 0) {
        int n = 0;
        for (int k = 0; k < w->n_ranks; k++)
            if (w->state[k] == CONN_OPEN) {
                p[n] = (struct pollfd){.fd = w->fd[k], .events = POLLIN};
                who[n++] = k;
            }
        if (!n) { /* every rank said goodbye: nothing can close now, so the wait is the caller's pause */
            const int ms = ms_left(deadline);
            const struct timespec rest = {ms / 1000, (long)(ms % 1000) * 1000000L};
            if (ms) nanosleep(&rest, NULL);
            break;
        }
        int r = poll(p, (nfds_t)n, ms_left(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (int i = 0; i < n; i++)
            if (p[i].revents) drain(w, who[i]);
        lost = lowest_lost(w);
        if (ms_left(deadline) == 0) break;
    }
    free(p);
    free(who);
    pthread_mutex_unlock(&w->mu);
    return lost;
}

void gptoss_watch_close(gptoss_watch *w) {
    if (!w) return;
    if (w->self_fd >= 0) {
        (void)send(w->self_fd, &GOODBYE, 1, GPTOSS_MSG_NOSIGNAL);
        close(w->self_fd);
    }
    if (w->listen_fd >= 0) close(w->listen_fd);
    for (int k = 0; k < w->n_ranks; k++)
        if (w->fd[k] >= 0) close(w->fd[k]);
    pthread_mutex_destroy(&w->mu);
    free(w->fd);
    free(w->state);
    free(w);
}
