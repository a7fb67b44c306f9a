/* server_conn.c: the server's connections: the listening socket, every connection until its request
 * head has come whole and well-formed (then it goes to libmicrohttpd), and the guard around it after
 * that (a deadline for the body, none while the request runs). One thread accepts, reads heads and
 * keeps the deadlines.
 *
 * Why not leave it all to libmicrohttpd 0.9.75: it has one inactivity timeout, which a client sending
 * a byte now and then never reaches; it holds a thread for each connection that waits for a head; at
 * its connection limit it resets every newcomer; and it answers the heads it refuses with HTML (a bad
 * Content-Length with two status lines). Here a head is looked at with MSG_PEEK, which leaves the bytes
 * for libmicrohttpd to read as if it had accepted the connection itself, and every connection carries
 * one request (the server answers "Connection: close"), so no head reaches libmicrohttpd unchecked.
 * A chunked body, which libmicrohttpd would also answer in HTML when malformed, is read and decoded
 * here; libmicrohttpd then gets one end of a socket pair carrying the request with a Content-Length,
 * and the front relays its answer to the client (and the client's end of stream back). */
#ifdef GPTOSS_HAVE_SERVER
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/posix.h"
#include "server/server.h"

#define LINGER_S 2.0 /* after an error answer, how long the client's unread bytes are drained */
#define ATTACH_S 10.0 /* a connection libmicrohttpd never announced is forgotten after this */
/* Only a connection that has waited this long for its head is closed to make room: one just opened
 * is most likely sending its head now. A newcomer that finds no such connection is turned away. */
#define EVICT_AFTER_S 0.25

struct server_conn {
    server_conn *prev, *next;
    int fd;     /* the client's socket */
    int mhd_fd; /* the socket libmicrohttpd reads: fd, or for a chunked request its end of the pair */
    int family; /* AF_INET (an IPv4-mapped IPv6 address counts as IPv4) or AF_INET6; 0: unknown */
    unsigned char addr[16];
    struct sockaddr_storage sa;
    socklen_t sa_len;
    server_conn_phase phase;
    int attached;      /* libmicrohttpd announced it (phases BODY and BUSY) */
    size_t n_seen;     /* head bytes looked at so far (phase HEAD) */
    double since;      /* when the phase began (CLOCK_MONOTONIC seconds) */
    server_conn_end end;
    /* a chunked request */
    char *head;            /* CHUNKED: its head, taken off the socket */
    size_t head_len;
    server_chunked chunk;  /* CHUNKED: the body decoded so far */
    int relay;             /* the front relays between pair and fd */
    int pair;              /* the front's end of the socket pair, -1 */
    char *req;             /* relay: the rewritten request not yet written into the pair */
    size_t req_len, req_off;
    char *out;             /* relay: answer bytes read from the pair, not yet written to the client */
    size_t out_len, out_off;
    int client_eof, pair_eof;
    int mhd_closed;        /* libmicrohttpd announced its close (a relayed one outlives it) */
};

#define RELAY_BYTES 65536

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The front alone reads and closes its client socket in these phases. */
static int owned(const server_conn *c) {
    return c->phase == SERVER_CONN_HEAD || c->phase == SERVER_CONN_CHUNKED || c->phase == SERVER_CONN_LINGER;
}

/* An error answer written straight to the socket: one status line, a JSON body, "Connection: close".
 * Before libmicrohttpd has the connection, or in a phase where it only reads. */
static void send_error(int fd, int status, const char *code, const char *message) {
    const char *reason = status == 400   ? "Bad Request"
                         : status == 408 ? "Request Timeout"
                         : status == 413 ? "Content Too Large"
                         : status == 414 ? "URI Too Long"
                         : status == 431 ? "Request Header Fields Too Large"
                         : status == 501 ? "Not Implemented"
                         : status == 503 ? "Service Unavailable"
                         : status == 505 ? "HTTP Version Not Supported"
                                         : "Error";
    char body[384], msg[768];
    int nb = snprintf(body, sizeof body,
                      "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":null,"
                      "\"code\":\"%s\"}}",
                      message, code);
    if (nb <= 0 || (size_t)nb >= sizeof body) return;
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     status, reason, nb, body);
    if (n > 0 && (size_t)n < sizeof msg) (void)!send(fd, msg, (size_t)n, GPTOSS_MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void unlink_conn(server_conns *g, server_conn *c) {
    if (c->prev) c->prev->next = c->next;
    else g->first = c->next;
    if (c->next) c->next->prev = c->prev;
    else g->last = c->prev;
}

static void free_conn(server_conn *c) {
    free(c->head);
    free(c->chunk.data);
    free(c->req);
    free(c->out);
    free(c);
}

/* The front is done with a connection: its sockets closed, the record forgotten, unless
 * libmicrohttpd (which had a relayed request's pair) has not yet said it closed. Under g->mu. */
static void drop_owned(server_conns *g, server_conn *c) {
    if (!c->end) g->n_live--, c->end = SERVER_CONN_DONE;
    if (c->fd >= 0) close(c->fd);
    if (c->pair >= 0) close(c->pair);
    c->fd = c->pair = -1;
    c->relay = 0;
    if (c->mhd_fd >= 0 && !c->mhd_closed) {
        c->phase = SERVER_CONN_GONE;
        return;
    }
    unlink_conn(g, c);
    free_conn(c);
}

/* The front answered a connection itself: the answer is written, the sending side closed, and what
 * the client still sends is read and dropped for a moment (closing with unread bytes would reset the
 * connection, which can destroy the answer before the client reads it). Under g->mu. */
static void answer_and_linger(server_conns *g, server_conn *c, int status, const char *code, const char *message) {
    send_error(c->fd, status, code, message);
    shutdown(c->fd, SHUT_WR);
    c->phase = SERVER_CONN_LINGER;
    c->since = now_s();
    if (!c->end) c->end = status == 408 ? SERVER_CONN_TIMED_OUT : SERVER_CONN_REFUSED, g->n_live--;
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
}

/* Ends a connection for the guard. One the front owns is answered or closed here; one libmicrohttpd
 * has is shut down, so that its thread's next read sees the end and closes it (the descriptor stays
 * open until libmicrohttpd has told us it closed, so it cannot be another connection's by then).
 * Under g->mu. */
static void end_conn(server_conns *g, server_conn *c, server_conn_end why) {
    if (c->end) return;
    if (why == SERVER_CONN_TIMED_OUT) g->n_timed_out++;
    else if (why == SERVER_CONN_EVICTED) g->n_evicted++;
    else g->n_refused++;
    if (owned(c)) {
        if (why == SERVER_CONN_REFUSED)
            answer_and_linger(g, c, 503, "too_many_connections",
                              "Too many connections from your address are running requests. Retry later.");
        else if (why == SERVER_CONN_TIMED_OUT && c->phase == SERVER_CONN_CHUNKED)
            answer_and_linger(g, c, 408, "request_timeout", "The request body did not arrive in time.");
        else if (why == SERVER_CONN_TIMED_OUT && c->n_seen) /* idle: no answer, none was asked for */
            answer_and_linger(g, c, 408, "request_timeout", "The request headers did not arrive in time.");
        else drop_owned(g, c);
        return;
    }
    c->end = why;
    g->n_live--;
    if (!c->attached) return; /* libmicrohttpd may not have it yet: the body deadline waits */
    if (why == SERVER_CONN_TIMED_OUT && c->phase == SERVER_CONN_BODY && !c->relay)
        send_error(c->fd, 408, "request_timeout", "The request body did not arrive in time.");
    shutdown(c->mhd_fd, SHUT_RDWR);
}

static int same_address(const server_conn *a, const server_conn *b) {
    return a->family && a->family == b->family && !memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

/* The connection that has waited longest for a request head, at least EVICT_AFTER_S (from b's address
 * only, when given); NULL when there is none. */
static server_conn *oldest_waiting(server_conns *g, const server_conn *b) {
    server_conn *best = NULL;
    double t = now_s();
    for (server_conn *c = g->first; c; c = c->next)
        if (!c->end && c->phase == SERVER_CONN_HEAD && t - c->since >= EVICT_AFTER_S && (!b || same_address(c, b)) &&
            (!best || c->since < best->since))
            best = c;
    return best;
}

/* A connection accepted: listed, and room made for it. Under g->mu. */
static void conn_opened(server_conns *g, int fd, const struct sockaddr_storage *sa, socklen_t sa_len) {
    server_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->mhd_fd = c->pair = -1;
    c->phase = SERVER_CONN_HEAD;
    c->since = now_s();
    c->sa = *sa;
    c->sa_len = sa_len;
    if (sa->ss_family == AF_INET) {
        c->family = AF_INET;
        memcpy(c->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) c->family = AF_INET, memcpy(c->addr, a6->s6_addr + 12, 4);
        else c->family = AF_INET6, memcpy(c->addr, a6->s6_addr, 16);
    }
    if (g->last) g->last->next = c, c->prev = g->last;
    else g->first = c;
    g->last = c;
    g->n_live++;
    /* One address over its share: its own longest-waiting connection makes room or, when all of its
     * connections are running requests, the newcomer is turned away. */
    if (g->lim.per_address && c->family) {
        uint32_t n = 0;
        for (server_conn *o = g->first; o; o = o->next) n += !o->end && same_address(o, c);
        if (n > g->lim.per_address) {
            server_conn *victim = oldest_waiting(g, c);
            if (victim) end_conn(g, victim, SERVER_CONN_EVICTED);
            else {
                end_conn(g, c, SERVER_CONN_REFUSED);
                return;
            }
        }
    }
    /* Near the limit, the connection that has waited longest for a request goes, so that a new client
     * (a health check among them) always finds a place; with every place running a request, the
     * newcomer is turned away. */
    while (g->n_live + g->lim.reserve > g->lim.max_connections) {
        server_conn *victim = oldest_waiting(g, NULL);
        if (!victim) break;
        end_conn(g, victim, SERVER_CONN_EVICTED);
    }
    if (g->n_live > g->lim.max_connections) end_conn(g, c, SERVER_CONN_REFUSED);
}

/* New bytes on a connection waiting for its head. Called without g->mu (only the front thread touches
 * a connection it owns, apart from the list links, which need the lock). */
static void head_bytes(server_conns *g, server_conn *c, char *buf) {
    ssize_t n = recv(c->fd, buf, g->head_lim.max_head_bytes + 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    pthread_mutex_lock(&g->mu);
    if (n <= 0) { /* the client left before its request was whole */
        drop_owned(g, c);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    c->n_seen = (size_t)n;
    server_head_verdict v;
    server_head_state st = server_head_check(buf, (size_t)n, &g->head_lim, &v);
    if (st == SERVER_HEAD_MORE) {
        /* wake only for more than what is there (else poll would report these bytes forever) */
        int low = (int)n + 1;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    if (st == SERVER_HEAD_BAD) {
        /* the head is taken off the socket: only what follows is drained */
        (void)!recv(c->fd, buf, (size_t)n, MSG_DONTWAIT);
        g->n_bad_heads++;
        answer_and_linger(g, c, v.status, v.code, v.message);
        pthread_mutex_unlock(&g->mu);
        if (g->on_answered) g->on_answered(g->ctx, v.status, v.message);
        return;
    }
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    if (v.chunked) {
        /* the head comes off the socket; the body is the front's to read */
        c->head = malloc(v.head_bytes);
        if (!c->head || recv(c->fd, c->head, v.head_bytes, MSG_DONTWAIT) != (ssize_t)v.head_bytes) {
            drop_owned(g, c);
            pthread_mutex_unlock(&g->mu);
            return;
        }
        c->head_len = v.head_bytes;
        c->phase = SERVER_CONN_CHUNKED;
        c->since = now_s();
        if (v.expect_continue) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            (void)!send(c->fd, cont, sizeof cont - 1, GPTOSS_MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        pthread_mutex_unlock(&g->mu);
        return;
    }
    c->phase = SERVER_CONN_BODY;
    c->since = now_s();
    c->mhd_fd = c->fd;
    int fd = c->fd;
    struct sockaddr_storage sa = c->sa;
    socklen_t sa_len = c->sa_len;
    pthread_mutex_unlock(&g->mu);
    if (g->handoff(g->ctx, fd, (const struct sockaddr *)&sa, sa_len) != 0) {
        /* libmicrohttpd closed the socket; it never announced it */
        pthread_mutex_lock(&g->mu);
        if (!c->end) g->n_live--;
        unlink_conn(g, c);
        free(c);
        pthread_mutex_unlock(&g->mu);
    }
}

/* What an owned connection in LINGER sends is read and dropped; its end closes it. */
static void linger_bytes(server_conns *g, server_conn *c, char *buf) {
    ssize_t n;
    while ((n = recv(c->fd, buf, g->head_lim.max_head_bytes + 1, MSG_DONTWAIT)) > 0) {
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    pthread_mutex_lock(&g->mu);
    drop_owned(g, c);
    pthread_mutex_unlock(&g->mu);
}

/* A chunked body's bytes, decoded as they come; once whole, libmicrohttpd gets the request through a
 * socket pair. Called without g->mu, like head_bytes. */
static void chunked_bytes(server_conns *g, server_conn *c, char *buf, size_t buf_size) {
    ssize_t n = recv(c->fd, buf, buf_size, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    pthread_mutex_lock(&g->mu);
    if (n <= 0) {
        drop_owned(g, c);
        pthread_mutex_unlock(&g->mu);
        return;
    }
    size_t used = 0;
    server_head_verdict v;
    server_head_state st = server_chunked_feed(&c->chunk, buf, (size_t)n, g->head_lim.max_body, &used, &v);
    if (st == SERVER_HEAD_MORE) {
        pthread_mutex_unlock(&g->mu);
        return;
    }
    if (st == SERVER_HEAD_BAD) {
        g->n_bad_heads++;
        answer_and_linger(g, c, v.status, v.code, v.message);
        pthread_mutex_unlock(&g->mu);
        if (g->on_answered) g->on_answered(g->ctx, v.status, v.message);
        return;
    }
    /* whole: the request as libmicrohttpd will read it, with a Content-Length */
    char *head = NULL;
    size_t hl = server_head_dechunk(c->head, c->head_len, c->chunk.len, &head);
    int sv[2] = {-1, -1};
    if (!hl || !(c->req = malloc(hl + c->chunk.len + 1)) || !(c->out = malloc(RELAY_BYTES)) ||
        gptoss_fd_socketpair(AF_UNIX, SOCK_STREAM, 0, sv, GPTOSS_FD_NONBLOCK) != 0) {
        free(head);
        answer_and_linger(g, c, 503, "server_busy", "The server could not take the request. Retry later.");
        pthread_mutex_unlock(&g->mu);
        return;
    }
    memcpy(c->req, head, hl);
    if (c->chunk.len) memcpy(c->req + hl, c->chunk.data, c->chunk.len);
    c->req_len = hl + c->chunk.len;
    free(head);
    free(c->head), c->head = NULL;
    free(c->chunk.data), c->chunk.data = NULL;
    c->pair = sv[0];
    c->mhd_fd = sv[1];
    c->relay = 1;
    c->phase = SERVER_CONN_BODY;
    c->since = now_s();
    struct sockaddr_storage sa = c->sa;
    socklen_t sa_len = c->sa_len;
    pthread_mutex_unlock(&g->mu);
    if (g->handoff(g->ctx, sv[1], (const struct sockaddr *)&sa, sa_len) != 0) {
        pthread_mutex_lock(&g->mu);
        c->mhd_fd = -1; /* closed by libmicrohttpd */
        drop_owned(g, c);
        pthread_mutex_unlock(&g->mu);
    }
}

/* Writes what the relay holds of the answer to the client; -1 when the client is gone. */
static int relay_flush(server_conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, GPTOSS_MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 0;
}

/* One pass of a relayed request: the request into the pair, the answer out of it to the client, the
 * client's end of stream into the pair (libmicrohttpd tells a half-close from a client gone by
 * writing, which the relay passes on). Under g->mu (only the front touches the pair and the relay). */
static void relay_io(server_conns *g, server_conn *c, char *buf, size_t buf_size) {
    if (c->req && c->req_off < c->req_len) {
        ssize_t w = send(c->pair, c->req + c->req_off, c->req_len - c->req_off, GPTOSS_MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) c->req_off += (size_t)w;
        if (c->req_off == c->req_len) free(c->req), c->req = NULL;
    }
    if (!c->client_eof) {
        ssize_t r = recv(c->fd, buf, buf_size, MSG_DONTWAIT);
        if (r == 0) {
            c->client_eof = 1;
            shutdown(c->pair, SHUT_WR);
        } else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            drop_owned(g, c); /* reset: libmicrohttpd sees its pair closed */
            return;
        }
    }
    int gone = relay_flush(c) != 0;
    while (!gone && !c->pair_eof && c->out_len == 0) {
        ssize_t r = recv(c->pair, c->out, RELAY_BYTES, MSG_DONTWAIT);
        if (r > 0) {
            c->out_len = (size_t)r;
            gone = relay_flush(c) != 0;
        } else {
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) c->pair_eof = 1;
            break;
        }
    }
    if (gone) {
        drop_owned(g, c);
        return;
    }
    if (c->pair_eof && c->out_len == 0) {
        /* the answer is out: the client's side closes like any answered connection */
        shutdown(c->fd, SHUT_WR);
        close(c->pair);
        c->pair = -1;
        c->relay = 0;
        c->phase = SERVER_CONN_LINGER;
        c->since = now_s();
        if (!c->end) g->n_live--, c->end = SERVER_CONN_DONE;
    }
}

/* The deadlines, a pass over every connection. Under g->mu. */
static void check_deadlines(server_conns *g) {
    double t = now_s();
    for (server_conn *c = g->first, *next; c; c = next) {
        next = c->next;
        switch (c->phase) {
        case SERVER_CONN_HEAD:
            if (t - c->since > g->lim.header_timeout_s) end_conn(g, c, SERVER_CONN_TIMED_OUT);
            break;
        case SERVER_CONN_CHUNKED:
            if (t - c->since > g->lim.body_timeout_s) end_conn(g, c, SERVER_CONN_TIMED_OUT);
            break;
        case SERVER_CONN_LINGER:
            if (t - c->since > LINGER_S) drop_owned(g, c);
            break;
        case SERVER_CONN_BODY:
            if (!c->attached && t - c->since > ATTACH_S) {
                /* libmicrohttpd refused it without a word (it closed the socket): forget it */
                if (!c->relay) c->fd = -1; /* libmicrohttpd's to close */
                c->mhd_fd = -1;
                drop_owned(g, c);
            } else if (c->attached && !c->end && t - c->since > g->lim.body_timeout_s)
                end_conn(g, c, SERVER_CONN_TIMED_OUT);
            break;
        case SERVER_CONN_BUSY:
        case SERVER_CONN_GONE:
            break;
        }
    }
}

static void *front_main(void *arg) {
    server_conns *g = arg;
    size_t cap = 0;
    struct pollfd *pfd = NULL;
    server_conn **who = NULL;
    char *buf = malloc(g->head_lim.max_head_bytes + 1);
    double accept_paused_until = 0;
    while (buf) {
        pthread_mutex_lock(&g->mu);
        if (g->stop) {
            pthread_mutex_unlock(&g->mu);
            break;
        }
        check_deadlines(g);
        size_t n = 2, need = 2;
        for (server_conn *c = g->first; c; c = c->next) need += owned(c) + 2 * (c->relay != 0);
        if (need > cap) {
            size_t ncap = need * 2;
            struct pollfd *np = realloc(pfd, ncap * sizeof *np);
            if (np) pfd = np;
            server_conn **nw = np ? realloc(who, ncap * sizeof *nw) : NULL;
            if (nw) who = nw, cap = ncap;
        }
        pfd[0] = (struct pollfd){.fd = g->wake[0], .events = POLLIN};
        /* out of descriptors, a pending connection stays readable: accept waits a tenth of a second
         * rather than spin */
        pfd[1] = (struct pollfd){.fd = g->listen_fd, .events = now_s() < accept_paused_until ? 0 : POLLIN};
        for (server_conn *c = g->first; c && n + 2 <= cap; c = c->next) {
            if (owned(c)) who[n] = c, pfd[n++] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            else if (c->relay) {
                /* the client: its end of stream or reset, room for the answer; the pair: the answer,
                 * room for the request */
                short ce = (short)((c->client_eof ? 0 : POLLIN) | (c->out_len ? POLLOUT : 0));
                short pe = (short)((!c->pair_eof && !c->out_len ? POLLIN : 0) | (c->req ? POLLOUT : 0));
                who[n] = c, pfd[n++] = (struct pollfd){.fd = c->fd, .events = ce};
                who[n] = c, pfd[n++] = (struct pollfd){.fd = c->pair, .events = pe};
            }
        }
        pthread_mutex_unlock(&g->mu);
        int k = poll(pfd, (nfds_t)n, 100); /* deadlines are kept to a tenth of a second */
        if (k <= 0) continue;
        if (pfd[0].revents) {
            char drain[64];
            (void)!read(g->wake[0], drain, sizeof drain);
        }
        /* Connections before new ones: a newcomer may close an older one (making room), which must
         * not be looked at afterwards. A relayed connection has two entries, side by side: one pass
         * serves both (it may free the connection). */
        for (size_t i = 2; i < n; i++) {
            if (!pfd[i].revents) continue;
            server_conn *c = who[i];
            if (i + 1 < n && who[i + 1] == c) pfd[i + 1].revents = 0;
            if (c->relay) {
                pthread_mutex_lock(&g->mu);
                relay_io(g, c, buf, g->head_lim.max_head_bytes + 1);
                pthread_mutex_unlock(&g->mu);
            } else if (c->phase == SERVER_CONN_HEAD) head_bytes(g, c, buf);
            else if (c->phase == SERVER_CONN_CHUNKED) chunked_bytes(g, c, buf, g->head_lim.max_head_bytes + 1);
            else linger_bytes(g, c, buf);
        }
        if (pfd[1].revents & POLLIN)
            for (int a = 0; a < 64; a++) {
                struct sockaddr_storage sa;
                socklen_t len = sizeof sa;
                int fd = gptoss_fd_accept(g->listen_fd, (struct sockaddr *)&sa, &len, GPTOSS_FD_NONBLOCK);
                if (fd < 0) {
                    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                        accept_paused_until = now_s() + 0.1;
                    break;
                }
                pthread_mutex_lock(&g->mu);
                conn_opened(g, fd, &sa, len);
                pthread_mutex_unlock(&g->mu);
            }
    }
    free(buf);
    free(pfd);
    free(who);
    return NULL;
}

int server_conns_start(server_conns *g, const server_conn_limits *lim, const server_head_limits *head_lim,
                       const struct sockaddr *addr, socklen_t addr_len, unsigned *port, char *err, size_t err_size) {
    memset(g, 0, sizeof *g);
    g->listen_fd = g->wake[0] = g->wake[1] = -1;
    g->lim = *lim;
    g->head_lim = *head_lim;
    if (!g->lim.reserve) g->lim.reserve = 1;
    int fd = gptoss_fd_socket(addr->sa_family, SOCK_STREAM, 0, GPTOSS_FD_NONBLOCK), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 || bind(fd, addr, addr_len) != 0 ||
        listen(fd, 511) != 0) {
        snprintf(err, err_size, "%s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    *port = 0;
    if (!getsockname(fd, (struct sockaddr *)&bound, &bl))
        *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    if (gptoss_fd_pipe(g->wake, GPTOSS_FD_NONBLOCK) != 0) {
        snprintf(err, err_size, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    g->listen_fd = fd;
    pthread_mutex_init(&g->mu, NULL);
    g->started = 1;
    return 0;
}

int server_conns_run(server_conns *g, int (*handoff)(void *ctx, int fd, const struct sockaddr *addr, socklen_t len),
                     void (*on_answered)(void *ctx, int status, const char *message), void *ctx) {
    g->handoff = handoff;
    g->on_answered = on_answered;
    g->ctx = ctx;
    if (pthread_create(&g->thread, NULL, front_main, g) != 0) return -1;
    g->running = 1;
    return 0;
}

void server_conns_quiesce(server_conns *g) {
    if (!g->started) return;
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_mutex_unlock(&g->mu);
    (void)!write(g->wake[1], "x", 1);
    if (g->running) pthread_join(g->thread, NULL);
    g->running = 0;
    close(g->listen_fd);
    g->listen_fd = -1;
}

void server_conns_stop(server_conns *g) {
    if (!g->started) return;
    server_conns_quiesce(g);
    /* libmicrohttpd has stopped and told of every close; what is left is the front's own */
    while (g->first) {
        server_conn *c = g->first;
        g->first = c->next;
        if (owned(c) || c->relay) close(c->fd);
        if (c->pair >= 0) close(c->pair);
        free_conn(c);
    }
    close(g->wake[0]);
    close(g->wake[1]);
    pthread_mutex_destroy(&g->mu);
    g->started = 0;
}

server_conn *server_conn_attach(server_conns *g, int fd) {
    server_conn *found = NULL;
    pthread_mutex_lock(&g->mu);
    for (server_conn *c = g->first; c; c = c->next)
        if (c->mhd_fd == fd && !owned(c) && c->phase != SERVER_CONN_GONE && !c->attached) {
            c->attached = 1;
            found = c;
            if (c->end) shutdown(fd, SHUT_RDWR); /* ended while libmicrohttpd was taking it */
            break;
        }
    pthread_mutex_unlock(&g->mu);
    return found;
}

void server_conn_closed(server_conns *g, server_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    c->mhd_closed = 1;
    if (!c->end) g->n_live--, c->end = SERVER_CONN_DONE;
    if (c->relay || owned(c)) { /* the front still relays or drains it, and frees it after */
        pthread_mutex_unlock(&g->mu);
        return;
    }
    unlink_conn(g, c);
    pthread_mutex_unlock(&g->mu);
    free_conn(c);
}

void server_conn_enter(server_conns *g, server_conn *c, server_conn_phase phase) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    if (phase != c->phase && !owned(c) && c->phase != SERVER_CONN_GONE) {
        c->phase = phase;
        c->since = now_s();
    }
    pthread_mutex_unlock(&g->mu);
}

void server_conn_finished(server_conns *g, server_conn *c) {
    if (!c) return;
    pthread_mutex_lock(&g->mu);
    if (!c->end) c->end = SERVER_CONN_DONE, g->n_live--;
    pthread_mutex_unlock(&g->mu);
}

server_conn_end server_conn_ended(server_conns *g, server_conn *c) {
    if (!c) return SERVER_CONN_OPEN;
    pthread_mutex_lock(&g->mu);
    server_conn_end e = c->end;
    pthread_mutex_unlock(&g->mu);
    return e;
}

void server_conns_stats(server_conns *g, server_conn_stats *out) {
    memset(out, 0, sizeof *out);
    if (!g->started) return;
    pthread_mutex_lock(&g->mu);
    out->open = g->n_live;
    out->timed_out = g->n_timed_out;
    out->evicted = g->n_evicted;
    out->refused = g->n_refused;
    out->bad_heads = g->n_bad_heads;
    pthread_mutex_unlock(&g->mu);
}

#else
typedef int server_conn_unused;
#endif
