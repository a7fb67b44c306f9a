/* server_head.h: the check of an HTTP/1.x request head before libmicrohttpd parses it (server_head.c).
 * Plain C with no library behind it, so the fuzz target builds it alone. */
#ifndef GPTOSS_SERVER_HEAD_H
#define GPTOSS_SERVER_HEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct server_head_limits {
    size_t max_target_bytes; /* the request target, query included; more is 414 */
    size_t max_head_bytes;   /* the whole head, request line and blank line included; more is 431 */
    uint64_t max_body;       /* a Content-Length above it is 413 */
} server_head_limits;

typedef enum server_head_state {
    SERVER_HEAD_MORE, /* no complete head yet, and nothing wrong so far */
    SERVER_HEAD_OK,   /* a complete head that libmicrohttpd will take as it is */
    SERVER_HEAD_BAD   /* an error to answer: status, code, message */
} server_head_state;

typedef struct server_head_verdict {
    int status;       /* 400, 413, 414, 431, 501 or 505 */
    const char *code; /* OpenAI-style error code */
    char message[192];
    size_t head_bytes; /* SERVER_HEAD_OK: the head's length, its blank line included */
    int chunked;       /* SERVER_HEAD_OK: the body comes with Transfer-Encoding: chunked */
    int expect_continue; /* SERVER_HEAD_OK: Expect: 100-continue */
} server_head_verdict;

/* Looks at the first n bytes a client sent on a connection (n may grow between calls: the same
 * verdict for a prefix is never contradicted by more bytes, except MORE becoming OK or BAD). A head
 * is accepted only when it is well-formed HTTP/1.0 or HTTP/1.1 (RFC 9112: one request line of three
 * fields, header fields as name ":" value with no obsolete line folding, CRLF or bare LF line ends, no
 * NUL or other control bytes, at most one Content-Length of digits only and never with a
 * Transfer-Encoding, which must be "chunked"), so everything libmicrohttpd would refuse with its own
 * HTML page is answered before it sees it. */
server_head_state server_head_check(const char *data, size_t n, const server_head_limits *lim,
                                    server_head_verdict *out);

/* The head of a chunked request rewritten for a body of body_len bytes sent whole: its
 * Transfer-Encoding and Expect lines dropped, a Content-Length added, CRLF line ends. Returns the
 * length written to out (malloc'd), 0 when out of memory. head is one server_head_check took. */
size_t server_head_dechunk(const char *head, size_t head_bytes, uint64_t body_len, char **out);

/* A chunked body (RFC 9112 7.1) decoded as it arrives: chunk sizes in hex with optional extensions,
 * CRLF or bare LF line ends, trailer fields read and dropped. */
typedef struct server_chunked {
    int state;
    uint64_t left;  /* bytes of the current chunk still to come */
    size_t line;    /* length of the size or trailer line read so far */
    size_t trailer; /* trailer bytes so far */
    char *data;     /* the body so far (malloc'd; the caller frees it) */
    size_t len, cap;
} server_chunked;

/* Feeds n more bytes. MORE: all taken, the body goes on; OK: the body ended after *used bytes (what
 * follows is not this request's); BAD: malformed (400) or over max_body (413), v filled. */
server_head_state server_chunked_feed(server_chunked *d, const char *in, size_t n, uint64_t max_body, size_t *used,
                                      server_head_verdict *v);

#endif
