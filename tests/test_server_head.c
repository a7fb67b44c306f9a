/* test_server_head.c: the server's request head check (app/server/server_head.c): heads it must take
 * as they are, each kind of malformed head with its status and code, the limits at their edges, every
 * prefix of a good head still incomplete (never refused), corrupted heads that must get a verdict, and
 * the chunked body decoder (split anywhere, malformed framing, max_body) with the head rewritten for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_head.h"
#include "tap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) { /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const server_head_limits lim = {.max_target_bytes = 64, .max_head_bytes = 512, .max_body = 1000};

static server_head_state check(const char *s, server_head_verdict *v) {
    return server_head_check(s, strlen(s), &lim, v);
}

static void expect_bad(const char *what, const char *head, int status, const char *code) {
    server_head_verdict v;
    server_head_state st = check(head, &v);
    tap_check(st == SERVER_HEAD_BAD && v.status == status && v.code && !strcmp(v.code, code) && v.message[0],
              "head: %s is %d %s (got state %d, %d %s)", what, status, code, st, v.status, v.code ? v.code : "-");
}

/* The head's length: up to its first blank line. */
static size_t head_length(const char *s) {
    const char *crlf = strstr(s, "\r\n\r\n"), *lf = strstr(s, "\n\n");
    if (crlf && (!lf || crlf < lf)) return (size_t)(crlf - s) + 4;
    return lf ? (size_t)(lf - s) + 2 : 0;
}

static void expect_ok(const char *what, const char *head) {
    size_t head_bytes = head_length(head);
    server_head_verdict v;
    server_head_state st = check(head, &v);
    int prefixes = 1;
    for (size_t k = 0; k < head_bytes; k++) {
        server_head_verdict pv;
        if (server_head_check(head, k, &lim, &pv) != SERVER_HEAD_MORE) prefixes = 0;
    }
    tap_check(st == SERVER_HEAD_OK && v.head_bytes == head_bytes && prefixes,
              "head: %s is taken (%zu bytes; got state %d, %zu; every prefix incomplete: %d)", what, head_bytes, st,
              v.head_bytes, prefixes);
}

int main(void) {
    const char *post = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\n\r\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%s{}", post);
    expect_ok("a POST with its body after it", buf);
    expect_ok("bare LF line ends", "GET /health HTTP/1.0\nHost: x\n\n");
    expect_ok("no headers", "GET / HTTP/1.1\r\n\r\n");
    expect_ok("a chunked POST", "POST /v1/responses HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n5\r\n");
    expect_ok("a tab, UTF-8 and an empty value", "GET / HTTP/1.1\r\nX-A:\tcaf\xc3\xa9\t\r\nX-B:\r\n\r\n");
    expect_ok("Content-Length: 0 and max_body", "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");

    expect_bad("HTTP/9.9", "GET / HTTP/9.9\r\n\r\n", 505, "http_version_not_supported");
    expect_bad("HTTP/1.2", "GET / HTTP/1.2\r\n\r\n", 505, "http_version_not_supported");
    expect_bad("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505, "http_version_not_supported");
    expect_bad("no version", "GET /\r\n\r\n", 400, "invalid_request_line");
    expect_bad("four fields", "GET / HTTP/1.1 x\r\n\r\n", 400, "invalid_request_line");
    expect_bad("two spaces", "GET  / HTTP/1.1\r\n\r\n", 400, "invalid_request_line");
    expect_bad("one word", "GARBAGE\r\n\r\n", 400, "invalid_request_line");
    expect_bad("an empty line first", "\r\nGET / HTTP/1.1\r\n\r\n", 400, "invalid_request_line");
    expect_bad("a CR inside the request line", "GET /\r/ HTTP/1.1\r\n\r\n", 400, "invalid_request_line");
    expect_bad("a control byte in the target", "GET /\x01 HTTP/1.1\r\n\r\n", 400, "invalid_request_line");
    expect_bad("a lowercase version", "GET / http/1.1\r\n\r\n", 400, "invalid_request_line");
    expect_bad("a header without a colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", 400, "invalid_header");
    expect_bad("a space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "invalid_header");
    expect_bad("an empty header name", "GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "invalid_header");
    expect_bad("a folded line", "GET / HTTP/1.1\r\nX-A: b\r\n\tc\r\n\r\n", 400, "invalid_header");
    expect_bad("a CR in a value", "GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n", 400, "invalid_header");
    expect_bad("DEL in a value", "GET / HTTP/1.1\r\nX-A: b\x7f\r\n\r\n", 400, "invalid_header");
    expect_bad("Content-Length: -1", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "invalid_content_length");
    expect_bad("Content-Length: empty", "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400, "invalid_content_length");
    expect_bad("Content-Length: 1 2", "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400, "invalid_content_length");
    expect_bad("Content-Length: 0x10", "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "invalid_content_length");
    expect_bad("Content-Length: 5 (a space after)", "POST / HTTP/1.1\r\nContent-Length: 5 \r\n\r\n", 400,
               "invalid_content_length");
    expect_bad("Content-Length twice", "POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n", 400,
               "invalid_content_length");
    expect_bad("Content-Length over max_body", "POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, "request_too_large");
    expect_bad("Content-Length past 2^64", "POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", 413,
               "request_too_large");
    expect_bad("Content-Length and Transfer-Encoding",
               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400, "invalid_content_length");
    expect_bad("Transfer-Encoding: gzip, chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
               "unsupported_transfer_encoding");
    expect_bad("Transfer-Encoding twice",
               "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
               "unsupported_transfer_encoding");
    expect_bad("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
               "invalid_header");

    /* the limits at their edges */
    char target[80];
    memset(target, 'a', sizeof target);
    snprintf(buf, sizeof buf, "GET /%.*s HTTP/1.1\r\n\r\n", 63, target);
    expect_ok("a target of exactly max_target_bytes", buf);
    snprintf(buf, sizeof buf, "GET /%.*s HTTP/1.1\r\n\r\n", 64, target);
    expect_bad("a target one byte over", buf, 414, "uri_too_long");
    memset(buf, 'a', 200);
    buf[200] = 0;
    expect_bad("a request line still arriving past the limit", buf, 414, "uri_too_long");
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
    while (n + 12 < 512) n += (size_t)snprintf(buf + n, sizeof buf - n, "X-A: bcdef\r\n");
    snprintf(buf + n, sizeof buf - n, "\r\n");
    server_head_verdict v;
    server_head_state st = check(buf, &v);
    tap_check(st == SERVER_HEAD_OK || (st == SERVER_HEAD_BAD && v.status == 431), "head: near max_head_bytes: taken or 431");
    snprintf(buf + n, sizeof buf - n, "X-B: %.*s\r\n\r\n", 40, target);
    expect_bad("a head over max_head_bytes", buf, 431, "request_header_fields_too_large");
    memset(buf + n, 'x', 600);
    buf[n + 600] = 0;
    expect_bad("a header line still arriving past the limit", buf, 431, "request_header_fields_too_large");

    /* corrupted heads: any verdict, but a consistent one (a head taken lies within the bytes) */
    int consistent = 1;
    for (int it = 0; it < 20000; it++) {
        char h[512];
        size_t len = strlen(post);
        memcpy(h, post, len);
        int flips = 1 + (int)(next_rand() % 4);
        for (int f = 0; f < flips; f++) h[next_rand() % len] = (char)(next_rand() & 0xff);
        size_t cut = (size_t)(next_rand() % (len + 1));
        server_head_verdict a, b;
        server_head_state sa = server_head_check(h, cut, &lim, &a), sb = server_head_check(h, len, &lim, &b);
        if (sb == SERVER_HEAD_OK && (b.head_bytes == 0 || b.head_bytes > len)) consistent = 0;
        if (sa != SERVER_HEAD_MORE && (sa != sb || a.status != b.status)) consistent = 0;
        if (sb == SERVER_HEAD_BAD && (!b.code || !b.message[0])) consistent = 0;
    }
    tap_check(consistent, "head: 20000 corrupted heads each get one verdict, the same on every longer input");

    /* chunked bodies: decoded whole however the bytes are split, malformed framing refused */
    static const struct {
        const char *what, *in, *body;
        int status; /* 0: taken */
        size_t used;
    } chunks[] = {
        {"one chunk", "5\r\nhello\r\n0\r\n\r\nNEXT", "hello", 0, 15},
        {"two chunks, bare LF, an extension", "3;x=y\nhel\n2\r\nlo\r\n0\n\n", "hello", 0, 0},
        {"trailer fields", "5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", "hello", 0, 0},
        {"upper-case hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 0, 0},
        {"an empty body", "0\r\n\r\n", "", 0, 5},
        {"a size that is not hex", "zz\r\n", NULL, 400, 0},
        {"no size", "\r\n", NULL, 400, 0},
        {"data longer than its size", "2\r\nabc\r\n0\r\n\r\n", NULL, 400, 0},
        {"a size past 64 bits", "11111111111111111\r\n", NULL, 400, 0},
        {"a chunk over max_body", "3e9\r\n", NULL, 413, 0},
        {"chunks adding up over max_body", "1f4\r\n", NULL, 0, 0}, /* 500: fine alone, see below */
        {"a control byte in a trailer", "0\r\nX\x01: 1\r\n\r\n", NULL, 400, 0},
    };
    for (size_t t = 0; t < sizeof chunks / sizeof chunks[0]; t++) {
        if (!chunks[t].body && !chunks[t].status) continue;
        size_t in_len = strlen(chunks[t].in);
        int same = 1;
        for (size_t split = 0; split <= in_len; split++) { /* fed in two parts, cut anywhere */
            server_chunked d = {0};
            server_head_verdict cv;
            size_t used = 0, used2 = 0;
            server_head_state cs = server_chunked_feed(&d, chunks[t].in, split, lim.max_body, &used, &cv);
            if (cs == SERVER_HEAD_MORE) {
                cs = server_chunked_feed(&d, chunks[t].in + split, in_len - split, lim.max_body, &used2, &cv);
                used += used2;
            }
            int ok = chunks[t].status ? cs == SERVER_HEAD_BAD && cv.status == chunks[t].status
                                      : cs == SERVER_HEAD_OK && d.len == strlen(chunks[t].body) &&
                                            !memcmp(d.data ? d.data : "", chunks[t].body, d.len) &&
                                            (!chunks[t].used || used == chunks[t].used);
            if (!ok) same = 0;
            free(d.data);
        }
        tap_check(same, "chunked: %s, split anywhere: %s", chunks[t].what,
                  chunks[t].status ? (chunks[t].status == 413 ? "413" : "400") : "decoded");
    }
    {
        server_chunked d = {0};
        server_head_verdict cv;
        size_t used;
        char big[700];
        memset(big, 'x', sizeof big);
        server_head_state cs = server_chunked_feed(&d, "1f4\r\n", 5, lim.max_body, &used, &cv);
        if (cs == SERVER_HEAD_MORE) cs = server_chunked_feed(&d, big, 500, lim.max_body, &used, &cv);
        if (cs == SERVER_HEAD_MORE) cs = server_chunked_feed(&d, "\r\n258\r\n", 9, lim.max_body, &used, &cv);
        tap_check(cs == SERVER_HEAD_BAD && cv.status == 413, "chunked: 500 + 600 bytes over max_body 1000: 413");
        free(d.data);
    }
    char *dechunked = NULL;
    const char *chead = "POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
                        "X-A: b\r\n\r\n";
    size_t dl = server_head_dechunk(chead, strlen(chead), 42, &dechunked);
    const char *want = "POST /v1/x HTTP/1.1\r\nHost: x\r\nX-A: b\r\nContent-Length: 42\r\n\r\n";
    server_head_verdict rv;
    tap_check(dl == strlen(want) && !memcmp(dechunked, want, dl) &&
                  server_head_check(dechunked, dl, &lim, &rv) == SERVER_HEAD_OK && !rv.chunked,
              "chunked: the head rewritten with a Content-Length, without Transfer-Encoding and Expect");
    free(dechunked);
    return tap_n_failed ? 1 : 0;
}
