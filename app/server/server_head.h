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

#endif
