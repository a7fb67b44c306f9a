/* harmony_parse.c: the incremental parser of token ids into harmony messages (openai/harmony's
 * StreamableParser, same header rules and error messages in strict mode), with a lenient mode that
 * recovers what it can from malformed model output instead of failing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harmony/harmony.h"

#define CHANNEL_LITERAL "<|channel|>"
#define CONSTRAIN_LITERAL "<|constrain|>"
#define REPLACEMENT "\xef\xbf\xbd"

struct gptoss_harmony_parser {
    const gptoss_tokenizer *tok;
    int strict;
    gptoss_harmony_role start_role;
    gptoss_harmony_parser_state state;
    /* Role of the header being read when already known: given at creation for the first message, or
     * ASSISTANT for an implicit message (lenient). */
    gptoss_harmony_role next_role;
    gptoss_buf header;
    int header_has_tokens;
    int header_bad_id;
    gptoss_harmony_message cur; /* header fields of the message in CONTENT (owned strings) */
    gptoss_buf content;
    gptoss_buf pending; /* bytes of an incomplete UTF-8 sequence */
    size_t delta_off, delta_len;
    int has_delta;
    gptoss_harmony_message *msgs;
    size_t n_msgs, cap_msgs;
    int failed;
    gptoss_status fail_status;
    char error[256];
};

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

/* At s[0..n): >0 length of a valid sequence; <0 minus the length of an invalid one (the maximal
 * prefix of a valid sequence, at least 1, as Rust's Utf8Error::error_len); 0 incomplete at the end. */
static int utf8_step(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return -1;
    }
    for (int k = 1; k < len; k++) {
        if ((size_t)k >= n) return 0;
        unsigned b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return -k;
    }
    return len;
}

/* Appends s[0..n) to b with invalid sequences (and an incomplete tail) replaced by U+FFFD. */
static void append_lossy(gptoss_buf *b, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int r = utf8_step(p + i, n - i);
        if (r > 0) {
            gptoss_buf_append(b, p + i, (size_t)r);
            i += (size_t)r;
        } else {
            gptoss_buf_puts(b, REPLACEMENT);
            i = r < 0 ? i + (size_t)-r : n;
        }
    }
}

/* Unicode White_Space (Rust's char::is_whitespace): byte length of the character at s, or 0. */
static size_t ws_len(const unsigned char *s, size_t n) {
    if (!n) return 0;
    if (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d)) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3) {
        unsigned cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
        if ((s[0] & 0xf0) != 0xe0) return 0;
        if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
            cp == 0x205f || cp == 0x3000)
            return 3;
    }
    return 0;
}

static size_t ws_len_before(const unsigned char *s, size_t end) {
    for (size_t k = 1; k <= 3 && k <= end; k++)
        if (ws_len(s + end - k, k) == k) return k;
    return 0;
}

static int ascii_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

/* ---- messages --------------------------------------------------------------------------------- */

static gptoss_status set_error(gptoss_harmony_parser *p, gptoss_status st, const char *fmt, const char *arg) {
    p->failed = 1;
    p->fail_status = st;
    snprintf(p->error, sizeof p->error, fmt, arg ? arg : "");
    return st;
}

static gptoss_status no_memory(gptoss_harmony_parser *p) {
    return set_error(p, GPTOSS_ERR_NO_MEMORY, "out of memory%s", "");
}

static gptoss_status push_message(gptoss_harmony_parser *p, const gptoss_harmony_message *hdr, const char *text,
                                  size_t len) {
    if (p->n_msgs == p->cap_msgs) {
        size_t cap = p->cap_msgs ? p->cap_msgs * 2 : 8;
        gptoss_harmony_message *m = realloc(p->msgs, cap * sizeof *m);
        if (!m) return no_memory(p);
        p->msgs = m;
        p->cap_msgs = cap;
    }
    gptoss_harmony_content part = {.kind = GPTOSS_HARMONY_CONTENT_TEXT, .text = text ? text : "", .text_len = len};
    gptoss_harmony_message m = *hdr;
    m.content = &part;
    m.n_content = 1;
    if (gptoss_harmony_message_copy(&p->msgs[p->n_msgs], &m) != GPTOSS_OK) return no_memory(p);
    p->n_msgs++;
    return GPTOSS_OK;
}

/* ---- headers ---------------------------------------------------------------------------------- */

typedef struct header_parts {
    char *text;     /* the header after removing the channel, trimmed, constrain markers spaced */
    char **words;   /* point into text */
    size_t n_words;
    char *channel;  /* owned */
} header_parts;

static void header_parts_free(header_parts *h) {
    free(h->text);
    free(h->words);
    free(h->channel);
    memset(h, 0, sizeof *h);
}

/* Steps 1-3 of openai/harmony's parse_header_from_string: take out "<|channel|>X", trim, put a space
 * before each "<|constrain|>", split on ASCII whitespace. */
static gptoss_status split_header(gptoss_harmony_parser *p, const char *s, size_t n, header_parts *h) {
    memset(h, 0, sizeof *h);
    gptoss_buf t = {0};
    const char *mark = NULL;
    size_t ml = strlen(CHANNEL_LITERAL);
    for (size_t i = 0; i + ml <= n; i++)
        if (!memcmp(s + i, CHANNEL_LITERAL, ml)) {
            mark = s + i;
            break;
        }
    if (mark) {
        const unsigned char *after = (const unsigned char *)mark + ml, *end = (const unsigned char *)s + n;
        const unsigned char *q = after;
        while (q < end && *q != '<' && !ws_len(q, (size_t)(end - q))) q++;
        if (q == after) {
            if (p->strict) {
                gptoss_buf_free(&t);
                return set_error(p, GPTOSS_ERR_FORMAT, "channel marker present but no channel value found in header%s", "");
            }
        } else {
            h->channel = malloc((size_t)(q - after) + 1);
            if (!h->channel) {
                gptoss_buf_free(&t);
                return no_memory(p);
            }
            memcpy(h->channel, after, (size_t)(q - after));
            h->channel[q - after] = 0;
        }
        gptoss_buf_append(&t, s, (size_t)(mark - s));
        gptoss_buf_append(&t, q, (size_t)(end - q));
    } else {
        gptoss_buf_append(&t, s, n);
    }
    /* Trim Unicode whitespace, then space out constrain markers and trim again. */
    const unsigned char *u = (const unsigned char *)(t.data ? t.data : "");
    size_t a = 0, b = t.len, k;
    while (a < b && (k = ws_len(u + a, b - a))) a += k;
    while (b > a && (k = ws_len_before(u, b))) b -= k;
    gptoss_buf sp = {0};
    size_t cl = strlen(CONSTRAIN_LITERAL);
    for (size_t i = a; i < b;) {
        if (i + cl <= b && !memcmp(u + i, CONSTRAIN_LITERAL, cl)) {
            gptoss_buf_puts(&sp, " " CONSTRAIN_LITERAL);
            i += cl;
        } else {
            gptoss_buf_append(&sp, u + i, 1);
            i++;
        }
    }
    gptoss_buf_free(&t);
    const char *text = gptoss_buf_cstr(&sp);
    if (!text) {
        gptoss_buf_free(&sp);
        free(h->channel);
        h->channel = NULL;
        return no_memory(p);
    }
    h->text = sp.data; /* owned now; split_ascii_whitespace makes the second trim implicit */
    size_t cap = sp.len / 2 + 2;
    h->words = malloc(cap * sizeof *h->words);
    if (!h->words) {
        header_parts_free(h);
        return no_memory(p);
    }
    char *c = h->text;
    while (*c) {
        while (*c && ascii_ws(*c)) c++;
        if (!*c) break;
        h->words[h->n_words++] = c;
        while (*c && !ascii_ws(*c)) c++;
        if (*c) *c++ = 0;
    }
    return GPTOSS_OK;
}

static int is_known_channel(const char *w) {
    return !strcmp(w, "analysis") || !strcmp(w, "commentary") || !strcmp(w, "final");
}

static char *join_words(char **w, size_t n) {
    gptoss_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i) gptoss_buf_puts(&b, " ");
        gptoss_buf_puts(&b, w[i]);
    }
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* openai/harmony's parse_header_from_string. parse_rt = 0 for a header cut short by a stop token:
 * every word after the role is content, returned in *remaining. On success *out holds owned
 * strings (role, name, recipient, channel, content_type). */
static gptoss_status parse_header(gptoss_harmony_parser *p, const char *s, size_t n, gptoss_harmony_role role,
                                  int parse_rt, gptoss_harmony_message *out, char **remaining) {
    header_parts h;
    memset(out, 0, sizeof *out);
    *remaining = NULL;
    gptoss_status st = split_header(p, s, n, &h);
    if (st != GPTOSS_OK) return st;
    char **w = h.words;
    size_t nw = h.n_words;
    const char *name = NULL;
    if (role == GPTOSS_HARMONY_ROLE_NONE) {
        if (!nw) {
            header_parts_free(&h);
            return set_error(p, GPTOSS_ERR_FORMAT, "message header did not contain a role%s", "");
        }
        role = gptoss_harmony_role_from_name(w[0]);
        if (role == GPTOSS_HARMONY_ROLE_TOOL) {
            name = w[0];
        } else if (role == GPTOSS_HARMONY_ROLE_NONE) {
            if (nw > 1 || !strncmp(w[0], "to=", 3) || !p->strict) {
                role = GPTOSS_HARMONY_ROLE_TOOL;
                name = w[0];
                w++;
                nw--;
            } else {
                char word[128];
                snprintf(word, sizeof word, "%s", w[0]);
                header_parts_free(&h);
                return set_error(p, GPTOSS_ERR_FORMAT, "Unknown role: %s", word);
            }
        }
    }
    if (nw && !strcmp(w[0], gptoss_harmony_role_name(role))) {
        w++;
        nw--;
    }
    const char *recipient = NULL, *content_type = NULL;
    if (parse_rt && nw) {
        size_t num = nw;
        const char *last = w[--nw];
        if (!strncmp(last, "to=", 3)) {
            recipient = last + 3;
        } else if (num == 1 && strncmp(last, CONSTRAIN_LITERAL, strlen(CONSTRAIN_LITERAL)) != 0) {
            recipient = last;
        } else {
            content_type = last;
            if (nw) {
                const char *r = w[--nw];
                recipient = !strncmp(r, "to=", 3) ? r + 3 : r;
            }
        }
        if (nw && !p->strict) {
            /* Leftover words: a channel the model wrote without <|channel|> (`<|end|>commentary
             * to=...`), or a recipient the content-type rule passed over. */
            for (size_t i = 0; i < nw; i++) {
                if (!h.channel && is_known_channel(w[i])) h.channel = gptoss_harmony_strdup(w[i], &(int){0});
                if (!strncmp(w[i], "to=", 3) && (!recipient || recipient == w[nw])) recipient = w[i] + 3;
            }
            nw = 0;
        }
    }
    int failed = 0;
    if (nw && !(*remaining = join_words(w, nw))) failed = 1;
    out->role = role;
    out->name = gptoss_harmony_strdup(name, &failed);
    out->recipient = gptoss_harmony_strdup(recipient, &failed);
    out->content_type = gptoss_harmony_strdup(content_type, &failed);
    out->channel = h.channel;
    h.channel = NULL;
    header_parts_free(&h);
    if (failed) {
        gptoss_harmony_message_clear(out);
        free(*remaining);
        *remaining = NULL;
        return no_memory(p);
    }
    return GPTOSS_OK;
}

/* The header bytes as text: strict mode requires valid UTF-8 (openai/harmony decodes with
 * decode_utf8); lenient mode replaces what is invalid. */
static gptoss_status header_text(gptoss_harmony_parser *p, gptoss_buf *out) {
    const char *s = p->header.data ? p->header.data : "";
    if (p->strict && (p->header_bad_id || !json_utf8_valid(s, p->header.len)))
        return set_error(p, GPTOSS_ERR_FORMAT, "could not decode header%s", "");
    append_lossy(out, s, p->header.len);
    if (!gptoss_buf_cstr(out)) {
        gptoss_buf_free(out);
        return no_memory(p);
    }
    return GPTOSS_OK;
}

static void header_reset(gptoss_harmony_parser *p) {
    p->header.len = 0;
    p->header_has_tokens = 0;
    p->header_bad_id = 0;
}

/* <|message|>: the header is complete. */
static gptoss_status finish_header(gptoss_harmony_parser *p) {
    gptoss_buf text = {0};
    gptoss_status st = header_text(p, &text);
    if (st != GPTOSS_OK) return st;
    char *remaining = NULL;
    gptoss_harmony_message hdr;
    st = parse_header(p, text.data, text.len, p->next_role, 1, &hdr, &remaining);
    if (st != GPTOSS_OK && st != GPTOSS_ERR_NO_MEMORY && !p->strict) {
        /* Lenient: whatever the header says, this is an assistant message. */
        p->failed = 0;
        p->error[0] = 0;
        memset(&hdr, 0, sizeof hdr);
        hdr.role = GPTOSS_HARMONY_ROLE_ASSISTANT;
        st = GPTOSS_OK;
    }
    gptoss_buf_free(&text);
    if (st != GPTOSS_OK) return st;
    if (remaining) {
        char msg[200];
        snprintf(msg, sizeof msg, "\"%.150s\"", remaining);
        free(remaining);
        gptoss_harmony_message_clear(&hdr);
        return set_error(p, GPTOSS_ERR_FORMAT, "unexpected tokens remaining in message header: %s", msg);
    }
    gptoss_harmony_message_clear(&p->cur);
    p->cur = hdr;
    p->content.len = 0;
    p->pending.len = 0;
    p->next_role = GPTOSS_HARMONY_ROLE_NONE;
    header_reset(p);
    p->state = GPTOSS_HARMONY_CONTENT;
    return GPTOSS_OK;
}

/* A header cut short by a stop token or the end of the stream (lenient mode only): what follows the
 * role and channel is the content (openai/harmony's non-strict rule, here for every header). */
static gptoss_status salvage_header(gptoss_harmony_parser *p) {
    gptoss_status st = GPTOSS_OK;
    if (p->header_has_tokens) {
        gptoss_buf text = {0};
        st = header_text(p, &text);
        if (st != GPTOSS_OK) return st;
        char *remaining = NULL;
        gptoss_harmony_message hdr;
        st = parse_header(p, text.data, text.len, p->next_role, 0, &hdr, &remaining);
        if (st != GPTOSS_OK && st != GPTOSS_ERR_NO_MEMORY) {
            p->failed = 0;
            p->error[0] = 0;
            memset(&hdr, 0, sizeof hdr);
            hdr.role = GPTOSS_HARMONY_ROLE_ASSISTANT;
            remaining = gptoss_harmony_strdup(text.data, &(int){0});
            st = GPTOSS_OK;
        }
        gptoss_buf_free(&text);
        /* openai/harmony keeps an empty message only for the header whose role it was given; a
         * later header cut short with nothing after its role says nothing. */
        int keep = p->next_role != GPTOSS_HARMONY_ROLE_NONE || (remaining && *remaining);
        if (st == GPTOSS_OK && keep) {
            st = push_message(p, &hdr, remaining ? remaining : "", remaining ? strlen(remaining) : 0);
            gptoss_harmony_message_clear(&hdr);
        } else if (st == GPTOSS_OK) {
            gptoss_harmony_message_clear(&hdr);
        }
        free(remaining);
    }
    header_reset(p);
    p->next_role = GPTOSS_HARMONY_ROLE_NONE;
    p->state = GPTOSS_HARMONY_EXPECT_START;
    return st;
}

/* ---- content ---------------------------------------------------------------------------------- */

/* Moves every decodable byte of `pending` into the content; at the end of a message (`final`) an
 * incomplete tail becomes U+FFFD too. */
static void drain_pending(gptoss_harmony_parser *p, int final) {
    const unsigned char *s = (const unsigned char *)p->pending.data;
    size_t n = p->pending.len, i = 0;
    size_t before = p->content.len;
    while (i < n) {
        int r = utf8_step(s + i, n - i);
        if (r > 0) {
            gptoss_buf_append(&p->content, s + i, (size_t)r);
            i += (size_t)r;
        } else if (r < 0) {
            gptoss_buf_puts(&p->content, REPLACEMENT);
            i += (size_t)-r;
        } else if (final) {
            gptoss_buf_puts(&p->content, REPLACEMENT);
            i = n;
        } else {
            break;
        }
    }
    if (i) {
        memmove(p->pending.data, p->pending.data + i, n - i);
        p->pending.len = n - i;
    }
    gptoss_buf_cstr(&p->content); /* deltas and content stay NUL-terminated */
    if (p->content.len > before) {
        p->has_delta = 1;
        p->delta_off = before;
        p->delta_len = p->content.len - before;
    }
}

static gptoss_status close_message(gptoss_harmony_parser *p) {
    drain_pending(p, 1);
    p->has_delta = 0;
    if (p->content.failed || p->pending.failed) return no_memory(p);
    gptoss_status st = push_message(p, &p->cur, p->content.data, p->content.len);
    gptoss_harmony_message_clear(&p->cur);
    p->content.len = 0;
    p->pending.len = 0;
    p->state = GPTOSS_HARMONY_EXPECT_START;
    return st;
}

static int is_stop(uint32_t id) {
    return id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_END || id == GPTOSS_HARMONY_CALL;
}

/* ---- API -------------------------------------------------------------------------------------- */

gptoss_status gptoss_harmony_parser_create(const gptoss_tokenizer *tokenizer, gptoss_harmony_role role, int strict,
                                           gptoss_harmony_parser **out, char *err, size_t err_size) {
    if (!out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: NULL argument");
    *out = NULL;
    if (!tokenizer) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "harmony: parser needs a tokenizer");
    gptoss_harmony_parser *p = calloc(1, sizeof *p);
    if (!p) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    p->tok = tokenizer;
    p->strict = strict ? 1 : 0;
    gptoss_harmony_parser_reset(p, role);
    *out = p;
    return GPTOSS_OK;
}

void gptoss_harmony_parser_reset(gptoss_harmony_parser *p, gptoss_harmony_role role) {
    if (!p) return;
    for (size_t i = 0; i < p->n_msgs; i++) gptoss_harmony_message_clear(&p->msgs[i]);
    p->n_msgs = 0;
    gptoss_harmony_message_clear(&p->cur);
    header_reset(p);
    p->content.len = 0;
    p->content.failed = 0;
    p->pending.len = 0;
    p->pending.failed = 0;
    p->header.failed = 0;
    p->has_delta = 0;
    p->failed = 0;
    p->fail_status = GPTOSS_OK;
    p->error[0] = 0;
    p->start_role = role;
    p->next_role = role;
    p->state = role == GPTOSS_HARMONY_ROLE_NONE ? GPTOSS_HARMONY_EXPECT_START : GPTOSS_HARMONY_HEADER;
}

void gptoss_harmony_parser_free(gptoss_harmony_parser *p) {
    if (!p) return;
    gptoss_harmony_parser_reset(p, GPTOSS_HARMONY_ROLE_NONE);
    free(p->msgs);
    gptoss_buf_free(&p->header);
    gptoss_buf_free(&p->content);
    gptoss_buf_free(&p->pending);
    free(p);
}

static gptoss_status header_token(gptoss_harmony_parser *p, uint32_t id) {
    size_t len = 0;
    const char *bytes = gptoss_tokenizer_token_bytes(p->tok, id, &len);
    p->header_has_tokens = 1;
    if (!bytes) {
        /* Strict mode fails on it (openai/harmony cannot decode the header); lenient mode drops it,
         * as it says nothing about the header. */
        p->header_bad_id = 1;
    } else {
        gptoss_buf_append(&p->header, bytes, len);
    }
    return p->header.failed ? no_memory(p) : GPTOSS_OK;
}

gptoss_status gptoss_harmony_parser_process(gptoss_harmony_parser *p, uint32_t id) {
    if (!p) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (p->failed) return p->fail_status;
    p->has_delta = 0;
    switch (p->state) {
    case GPTOSS_HARMONY_EXPECT_START:
        if (id == GPTOSS_HARMONY_START) {
            p->next_role = GPTOSS_HARMONY_ROLE_NONE;
            header_reset(p);
            p->state = GPTOSS_HARMONY_HEADER;
            return GPTOSS_OK;
        }
        if (p->strict) {
            char msg[96];
            snprintf(msg, sizeof msg, "%u while expecting start token %u", (unsigned)id, (unsigned)GPTOSS_HARMONY_START);
            return set_error(p, GPTOSS_ERR_FORMAT, "Unexpected token %s", msg);
        }
        /* Lenient: a stray stop token is dropped; anything else begins an assistant message whose
         * <|start|>assistant the model left out. */
        if (is_stop(id)) return GPTOSS_OK;
        header_reset(p);
        p->next_role = GPTOSS_HARMONY_ROLE_ASSISTANT;
        p->state = GPTOSS_HARMONY_HEADER;
        return gptoss_harmony_parser_process(p, id);
    case GPTOSS_HARMONY_HEADER:
        if (id == GPTOSS_HARMONY_MESSAGE) return finish_header(p);
        if (!p->strict && is_stop(id)) return salvage_header(p);
        if (!p->strict && id == GPTOSS_HARMONY_START) {
            /* The model began again: forget the unfinished header. */
            header_reset(p);
            p->next_role = GPTOSS_HARMONY_ROLE_NONE;
            return GPTOSS_OK;
        }
        return header_token(p, id);
    case GPTOSS_HARMONY_CONTENT:
        if (is_stop(id)) return close_message(p);
        if (!p->strict && id == GPTOSS_HARMONY_START) {
            /* <|end|> left out: close this message, the new one begins. */
            gptoss_status st = close_message(p);
            if (st != GPTOSS_OK) return st;
            p->next_role = GPTOSS_HARMONY_ROLE_NONE;
            header_reset(p);
            p->state = GPTOSS_HARMONY_HEADER;
            return GPTOSS_OK;
        }
        {
            size_t len = 0;
            const char *bytes = gptoss_tokenizer_token_bytes(p->tok, id, &len);
            if (!bytes) {
                bytes = REPLACEMENT;
                len = 3;
            }
            gptoss_buf_append(&p->pending, bytes, len);
            drain_pending(p, 0);
            if (p->content.failed || p->pending.failed) return no_memory(p);
        }
        return GPTOSS_OK;
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_harmony_parser_process_eos(gptoss_harmony_parser *p) {
    if (!p) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (p->failed) return p->fail_status;
    p->has_delta = 0;
    switch (p->state) {
    case GPTOSS_HARMONY_EXPECT_START: return GPTOSS_OK;
    case GPTOSS_HARMONY_HEADER:
        if (p->strict)
            return set_error(p, GPTOSS_ERR_FORMAT, "Unexpected EOS while waiting for message header to complete%s", "");
        return salvage_header(p);
    case GPTOSS_HARMONY_CONTENT: return close_message(p);
    }
    return GPTOSS_OK;
}

const char *gptoss_harmony_parser_error(const gptoss_harmony_parser *p) { return p && p->failed ? p->error : ""; }

size_t gptoss_harmony_parser_n_messages(const gptoss_harmony_parser *p) { return p ? p->n_msgs : 0; }

const gptoss_harmony_message *gptoss_harmony_parser_message(const gptoss_harmony_parser *p, size_t i) {
    return p && i < p->n_msgs ? &p->msgs[i] : NULL;
}

gptoss_harmony_parser_state gptoss_harmony_parser_get_state(const gptoss_harmony_parser *p) {
    return p ? p->state : GPTOSS_HARMONY_EXPECT_START;
}

gptoss_harmony_role gptoss_harmony_parser_current_role(const gptoss_harmony_parser *p) {
    if (!p) return GPTOSS_HARMONY_ROLE_NONE;
    return p->state == GPTOSS_HARMONY_CONTENT ? p->cur.role : p->next_role;
}

const char *gptoss_harmony_parser_current_channel(const gptoss_harmony_parser *p) {
    return p && p->state == GPTOSS_HARMONY_CONTENT ? p->cur.channel : NULL;
}

const char *gptoss_harmony_parser_current_recipient(const gptoss_harmony_parser *p) {
    return p && p->state == GPTOSS_HARMONY_CONTENT ? p->cur.recipient : NULL;
}

const char *gptoss_harmony_parser_current_content_type(const gptoss_harmony_parser *p) {
    return p && p->state == GPTOSS_HARMONY_CONTENT ? p->cur.content_type : NULL;
}

const char *gptoss_harmony_parser_current_content(const gptoss_harmony_parser *p, size_t *len) {
    if (!p || p->state != GPTOSS_HARMONY_CONTENT || !p->content.data) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = p->content.len;
    return p->content.data;
}

const char *gptoss_harmony_parser_last_delta(const gptoss_harmony_parser *p, size_t *len) {
    if (!p || !p->has_delta || !p->content.data) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = p->delta_len;
    return p->content.data + p->delta_off;
}
