/* server_head.c: whether the bytes a client has sent so far are a well-formed HTTP/1.x request head, and
 * which error to answer when they are not. The server looks before libmicrohttpd parses a head, since
 * libmicrohttpd answers the heads it refuses with HTML of its own (and a bad Content-Length with two
 * status lines); what passes here is something it takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_head.h"

/* RFC 9110 5.6.2 token characters. */
static int is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static server_head_state bad(server_head_verdict *v, int status, const char *code, const char *message) {
    v->status = status;
    v->code = code;
    snprintf(v->message, sizeof v->message, "%s", message);
    return SERVER_HEAD_BAD;
}

static int name_is(const char *p, size_t n, const char *name) {
    size_t k = strlen(name);
    if (n != k) return 0;
    for (size_t i = 0; i < n; i++) {
        char a = p[i], b = name[i];
        if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
        if (a != b) return 0;
    }
    return 1;
}

/* The line starting at p (up to end): its length without the line end, and where the next line
 * begins; 0 when no line end has arrived. */
static int next_line(const char *p, const char *end, size_t *len, const char **next) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return 0;
    *next = nl + 1;
    *len = (size_t)(nl - p);
    if (*len && p[*len - 1] == '\r') (*len)--;
    return 1;
}

static server_head_state request_line(const char *p, size_t len, const server_head_limits *lim,
                                      server_head_verdict *v) {
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i])) i++;
    if (!i || i >= len || p[i] != ' ')
        return bad(v, 400, "invalid_request_line", "The request line must be METHOD TARGET HTTP/1.1.");
    size_t t0 = ++i;
    while (i < len && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f) i++;
    if (i - t0 > lim->max_target_bytes) {
        snprintf(v->message, sizeof v->message, "The request URI is longer than %zu bytes.", lim->max_target_bytes);
        v->status = 414, v->code = "uri_too_long";
        return SERVER_HEAD_BAD;
    }
    if (i == t0 || i >= len || p[i] != ' ')
        return bad(v, 400, "invalid_request_line",
                   "The request line must be METHOD TARGET HTTP/1.1, the target without spaces or control bytes.");
    const char *ver = p + i + 1;
    size_t vl = len - i - 1;
    if (vl != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' || ver[7] < '0' ||
        ver[7] > '9')
        return bad(v, 400, "invalid_request_line", "The request line must end with the HTTP version (HTTP/1.1).");
    if (ver[5] != '1' || (ver[7] != '0' && ver[7] != '1'))
        return bad(v, 505, "http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are supported.");
    return SERVER_HEAD_OK;
}

server_head_state server_head_check(const char *data, size_t n, const server_head_limits *lim,
                                    server_head_verdict *v) {
    memset(v, 0, sizeof *v);
    const char *p = data, *end = data + n, *next;
    size_t len;
    /* The request line: its target alone may reach max_target_bytes, the method and version take a
     * few more. Its length is judged first, so that a verdict on a line still arriving (which has
     * only its length) is the one the whole line gets. */
    size_t line_max = lim->max_target_bytes + 64;
    if (!next_line(p, end, &len, &next)) {
        if (n > line_max + 1) goto uri_too_long; /* + 1: a CR that a LF may still follow */
        return SERVER_HEAD_MORE;
    }
    if (len > line_max) goto uri_too_long;
    if (memchr(p, '\r', len) || memchr(p, 0, len))
        return bad(v, 400, "invalid_request_line", "The request line has a control byte.");
    if (request_line(p, len, lim, v) != SERVER_HEAD_OK) return SERVER_HEAD_BAD;
    int http10 = p[len - 1] == '0';
    int n_length = 0, chunked = 0;
    /* Header fields up to the blank line. */
    for (p = next;;) {
        if ((size_t)(p - data) > lim->max_head_bytes) goto too_big;
        if (!next_line(p, end, &len, &next)) {
            if (n > lim->max_head_bytes) goto too_big;
            return SERVER_HEAD_MORE;
        }
        if ((size_t)(next - data) > lim->max_head_bytes) goto too_big;
        if (!len) {
            v->head_bytes = (size_t)(next - data);
            v->chunked = chunked;
            return SERVER_HEAD_OK;
        }
        if (p[0] == ' ' || p[0] == '\t')
            return bad(v, 400, "invalid_header", "Header lines may not be folded (a line begins with white space).");
        size_t k = 0;
        while (k < len && is_tchar((unsigned char)p[k])) k++;
        if (!k || k >= len || p[k] != ':')
            return bad(v, 400, "invalid_header", "A header line must be NAME: VALUE, the name without spaces.");
        for (size_t j = k + 1; j < len; j++) {
            unsigned char c = (unsigned char)p[j];
            if ((c < ' ' && c != '\t') || c == 0x7f)
                return bad(v, 400, "invalid_header", "A header value has a control byte.");
        }
        const char *val = p + k + 1, *vend = p + len;
        while (val < vend && (*val == ' ' || *val == '\t')) val++;
        while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
        size_t vlen = (size_t)(vend - val);
        if (name_is(p, k, "content-length")) {
            if (n_length++)
                return bad(v, 400, "invalid_content_length", "The request has more than one Content-Length.");
            uint64_t cl = 0;
            int over = 0;
            for (size_t j = 0; j < vlen; j++) {
                if (val[j] < '0' || val[j] > '9')
                    return bad(v, 400, "invalid_content_length", "Content-Length must be a number of bytes.");
                unsigned d = (unsigned)(val[j] - '0');
                if (cl > (UINT64_MAX - d) / 10) over = 1;
                else cl = cl * 10 + d;
            }
            if (!vlen || val + vlen != p + len) /* no white space after the digits either */
                return bad(v, 400, "invalid_content_length", "Content-Length must be a number of bytes.");
            if (over || cl > lim->max_body) {
                snprintf(v->message, sizeof v->message, "The request body is larger than %llu bytes.",
                         (unsigned long long)lim->max_body);
                v->status = 413, v->code = "request_too_large";
                return SERVER_HEAD_BAD;
            }
        } else if (name_is(p, k, "expect") && name_is(val, vlen, "100-continue")) {
            v->expect_continue = 1;
        } else if (name_is(p, k, "transfer-encoding")) {
            if (chunked++ || !name_is(val, vlen, "chunked"))
                return bad(v, 501, "unsupported_transfer_encoding",
                           "Only Transfer-Encoding: chunked is supported (or a Content-Length).");
            if (http10) return bad(v, 400, "invalid_header", "HTTP/1.0 has no Transfer-Encoding.");
        }
        if (n_length && chunked)
            return bad(v, 400, "invalid_content_length", "A request may not have both Content-Length and Transfer-Encoding.");
        p = next;
    }
uri_too_long:
    snprintf(v->message, sizeof v->message, "The request URI is longer than %zu bytes.", lim->max_target_bytes);
    v->status = 414, v->code = "uri_too_long";
    return SERVER_HEAD_BAD;
too_big:
    snprintf(v->message, sizeof v->message, "The request headers are larger than %zu bytes.", lim->max_head_bytes);
    v->status = 431, v->code = "request_header_fields_too_large";
    return SERVER_HEAD_BAD;
}

size_t server_head_dechunk(const char *head, size_t head_bytes, uint64_t body_len, char **out) {
    char *o = malloc(head_bytes + 64);
    if (!(*out = o)) return 0;
    size_t n = 0, len;
    const char *p = head, *end = head + head_bytes, *next;
    for (int first = 1; next_line(p, end, &len, &next) && len; p = next, first = 0) {
        size_t k = 0;
        while (k < len && p[k] != ':') k++;
        if (!first && (name_is(p, k, "transfer-encoding") || name_is(p, k, "expect"))) continue;
        memcpy(o + n, p, len);
        n += len;
        o[n++] = '\r', o[n++] = '\n';
    }
    n += (size_t)snprintf(o + n, 64, "Content-Length: %llu\r\n\r\n", (unsigned long long)body_len);
    return n;
}

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF };

#define CHUNK_LINE_MAX 4096   /* a size line with its extensions */
#define CHUNK_TRAILER_MAX 8192 /* every trailer field */

static server_head_state chunk_bad(server_head_verdict *v) {
    return bad(v, 400, "invalid_chunked_body", "The chunked request body is malformed.");
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

server_head_state server_chunked_feed(server_chunked *d, const char *in, size_t n, uint64_t max_body, size_t *used,
                                      server_head_verdict *v) {
    memset(v, 0, sizeof *v);
    size_t i = 0;
    while (i < n) {
        char c = in[i];
        switch (d->state) {
        case CH_SIZE: {
            int h = hexval(c);
            if (h >= 0) {
                if (d->line >= 16) return chunk_bad(v); /* past 64 bits */
                d->left = d->left * 16 + (uint64_t)h;
                d->line++, i++;
                break;
            }
            if (!d->line) return chunk_bad(v);
            if (d->left > max_body || d->len + d->left > max_body) {
                snprintf(v->message, sizeof v->message, "The request body is larger than %llu bytes.",
                         (unsigned long long)max_body);
                v->status = 413, v->code = "request_too_large";
                return SERVER_HEAD_BAD;
            }
            if (c == ';' || c == ' ' || c == '\t') d->state = CH_EXT;
            else if (c == '\r') d->state = CH_SIZE_LF;
            else if (c == '\n') d->state = d->left ? CH_DATA : CH_TRAILER, d->line = 0;
            else return chunk_bad(v);
            i++;
            break;
        }
        case CH_EXT: /* extensions are allowed and ignored */
            if (++d->line > CHUNK_LINE_MAX) return chunk_bad(v);
            if (c == '\n') d->state = d->left ? CH_DATA : CH_TRAILER, d->line = 0;
            else if ((unsigned char)c < ' ' && c != '\t' && c != '\r') return chunk_bad(v);
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n') return chunk_bad(v);
            d->state = d->left ? CH_DATA : CH_TRAILER, d->line = 0;
            i++;
            break;
        case CH_DATA: {
            size_t take = n - i < d->left ? n - i : (size_t)d->left;
            if (d->len + take > d->cap) {
                size_t cap = d->cap ? d->cap : 4096;
                while (cap < d->len + take) cap *= 2;
                char *nd = realloc(d->data, cap);
                if (!nd) return bad(v, 413, "request_too_large", "The request body does not fit in memory.");
                d->data = nd, d->cap = cap;
            }
            memcpy(d->data + d->len, in + i, take);
            d->len += take, d->left -= take, i += take;
            if (!d->left) d->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (c == '\r') d->state = CH_DATA_LF;
            else if (c == '\n') d->state = CH_SIZE, d->line = 0;
            else return chunk_bad(v);
            i++;
            break;
        case CH_DATA_LF:
            if (c != '\n') return chunk_bad(v);
            d->state = CH_SIZE, d->line = 0;
            i++;
            break;
        case CH_TRAILER: /* after the last chunk: field lines until an empty one */
            if (++d->trailer > CHUNK_TRAILER_MAX) return chunk_bad(v);
            if (c == '\n') {
                i++;
                if (!d->line) {
                    *used = i;
                    return SERVER_HEAD_OK;
                }
                d->line = 0;
            } else if (c == '\r' && !d->line) {
                d->state = CH_TRAILER_LF, i++;
            } else {
                if ((unsigned char)c < ' ' && c != '\t' && c != '\r') return chunk_bad(v);
                d->line++, i++;
            }
            break;
        case CH_TRAILER_LF:
            if (c != '\n') return chunk_bad(v);
            *used = i + 1;
            return SERVER_HEAD_OK;
        default: return chunk_bad(v);
        }
    }
    *used = n;
    return SERVER_HEAD_MORE;
}
