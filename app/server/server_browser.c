/* server_browser.c: the browser tool run server-side by `gptoss serve --browser`: the backend (one
 * web shared by every request, or a corpus opened per request: a corpus serves one thread at a
 * time), a request's browser (its page stack), a call run and its reply rendered as the harmony
 * message the model reads next, the Responses API's browser tool entries, and citations
 * 【cursor†La-Lb】 turned into url_citation annotations, held back while incomplete. The protocols
 * (server_responses.c, server_chat.c) decide when to call; the scheduler runs each call on a thread of
 * its own (server_sched.c). */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "tools/browser.h"

struct server_browser {
    server *srv;
    cli_browser_source *own; /* a corpus of this request's, or NULL: the server's web */
    gptoss_browser_backend backend;
    gptoss_browser *browser;
    uint32_t n_calls;
};

int server_browser_start(server *srv) {
    if (!srv->opts.browser.enabled) return 0;
    /* Opened once at start, so a wrong --corpus or --search-url is an error before serving; a web is
     * shared by every request (it is thread-safe), a corpus is opened again per request. */
    srv->browser_source = cli_browser_source_open(&srv->opts.browser);
    return srv->browser_source ? 0 : -1;
}

void server_browser_stop(server *srv) {
    cli_browser_source_close(srv->browser_source);
    srv->browser_source = NULL;
}

server_browser *server_browser_new(server *srv) {
    if (!srv->browser_source) return NULL;
    server_browser *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->srv = srv;
    if (srv->opts.browser.corpus_path) {
        if (!(b->own = cli_browser_source_open(&srv->opts.browser))) {
            free(b);
            return NULL;
        }
        b->backend = cli_browser_source_backend(b->own);
    } else b->backend = cli_browser_source_backend(srv->browser_source);
    if (gptoss_browser_create(srv->tok, &b->backend, NULL, &b->browser) != GPTOSS_OK) {
        cli_browser_source_close(b->own);
        free(b);
        return NULL;
    }
    return b;
}

void server_browser_free(server_browser *b) {
    if (!b) return;
    gptoss_browser_free(b->browser);
    cli_browser_source_close(b->own);
    free(b);
}

int server_browser_recipient(const char *recipient) {
    return recipient && (!strcmp(recipient, "browser.search") || !strcmp(recipient, "browser.open") ||
                         !strcmp(recipient, "browser.find"));
}

int server_browser_declared(char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (names[i] && !strncmp(names[i], "browser", 7)) return 1;
    return 0;
}

static int is_browser_tool(const cJSON *t) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
    return cJSON_IsString(type) && (!strcmp(type->valuestring, "web_search") ||
                                    !strcmp(type->valuestring, "web_search_preview") ||
                                    !strcmp(type->valuestring, "browser_search"));
}

cJSON *server_browser_strip_tools(const cJSON *tools, int *wants, int *oom) {
    *wants = 0;
    *oom = 0;
    if (!cJSON_IsArray(tools)) return NULL;
    for (const cJSON *t = tools->child; t; t = t->next) *wants |= is_browser_tool(t);
    if (!*wants) return NULL;
    return server_json_array_without(tools, is_browser_tool, oom);
}

/* The page a reply shows: its header "[N] title (url)" names the cursor, whose URL the tool knows. */
static const char *reply_url(const server_browser *b, const char *reply) {
    if (reply[0] != '[') return NULL;
    const char *close = strchr(reply, ']');
    if (!close || close - reply > 12) return NULL;
    char cite[32];
    int n = snprintf(cite, sizeof cite, "\xe3\x80\x90%.*s\xe2\x80\xa0L0\xe3\x80\x91", (int)(close - reply - 1), reply + 1);
    if (n <= 0 || (size_t)n >= sizeof cite) return NULL;
    return gptoss_browser_citation_url(b->browser, cite, (size_t)n);
}

static const char *json_str(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int server_browser_call(server_browser *b, const char *recipient, const char *channel, const char *args, size_t len,
                        cJSON **action, char **reply_out, gptoss_tokens *out) {
    *action = NULL;
    *reply_out = NULL;
    const char *fn = recipient + strlen("browser.");
    char *reply = NULL;
    const char *author = NULL;
    if (++b->n_calls > SERVER_BROWSER_MAX_CALLS) {
        /* a tool reply, not an error of the request: the model can still answer with what it read */
        char msg[160];
        snprintf(msg, sizeof msg, "Too many browser calls: at most %d in one request. Answer with what you have.",
                 SERVER_BROWSER_MAX_CALLS);
        if (!(reply = strdup(msg))) return -1;
        author = recipient;
    } else if (gptoss_browser_call(b->browser, fn, args, len, &reply, &author) != GPTOSS_OK)
        return -1;
    /* the action, for the web_search_call item (what the model asked, and the page it got) */
    cJSON *a = cJSON_CreateObject();
    cJSON *parsed = cJSON_ParseWithLength(args, len);
    const char *url = reply_url(b, reply);
    if (!a) goto oom;
    if (!strcmp(fn, "search")) {
        cJSON_AddStringToObject(a, "type", "search");
        const char *q = json_str(parsed, "query");
        cJSON_AddStringToObject(a, "query", q ? q : "");
    } else if (!strcmp(fn, "open")) {
        cJSON_AddStringToObject(a, "type", "open_page");
        const char *id = json_str(parsed, "id");
        if (url || id) cJSON_AddStringToObject(a, "url", url ? url : id);
        else cJSON_AddNullToObject(a, "url");
    } else {
        cJSON_AddStringToObject(a, "type", "find");
        const char *pat = json_str(parsed, "pattern");
        /* the page searched: the results page's URL is that page's + "/find?pattern=..." */
        const char *tail = url ? strstr(url, "/find?pattern=") : NULL;
        char *page = url ? strndup(url, tail ? (size_t)(tail - url) : strlen(url)) : NULL;
        if (page) cJSON_AddStringToObject(a, "url", page);
        else cJSON_AddNullToObject(a, "url");
        free(page);
        cJSON_AddStringToObject(a, "pattern", pat ? pat : "");
    }
    cJSON_Delete(parsed);
    parsed = NULL;
    /* the reply as the model was trained to read it: from browser.F to the assistant, on the call's
     * channel, then the next assistant message's start, so decoding goes on from there */
    gptoss_harmony_content part = {.kind = GPTOSS_HARMONY_CONTENT_TEXT, .text = reply, .text_len = strlen(reply)};
    gptoss_harmony_message m = {.role = GPTOSS_HARMONY_ROLE_TOOL,
                                .name = author,
                                .recipient = "assistant",
                                .channel = channel && *channel ? channel : "analysis",
                                .content = &part,
                                .n_content = 1};
    char err[256];
    static const char next[] = "<|start|>assistant";
    if (gptoss_harmony_render_message(b->srv->tok, &m, 0, out, err, sizeof err) != GPTOSS_OK ||
        gptoss_tokenizer_encode(b->srv->tok, next, sizeof next - 1, GPTOSS_TOKENIZER_SPECIAL_ALLOW, out) != GPTOSS_OK)
        goto oom;
    *action = a;
    *reply_out = reply;
    return 0;
oom:
    cJSON_Delete(parsed);
    cJSON_Delete(a);
    free(reply);
    return -1;
}

/* ---- citations --------------------------------------------------------------------------------- */

#define CITE_OPEN "\xe3\x80\x90"  /* 【 */
#define CITE_CLOSE "\xe3\x80\x91" /* 】 */
/* A citation is short ("【12†L100-L120】"); an opening bracket with no close this far on is text. */
#define CITE_MAX_BYTES 64

/* Characters (code points) in UTF-8 text: OpenAI's annotation indices count characters, as the
 * reference's Python strings do. */
static size_t n_chars(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

static void emit(server_cite *c, gptoss_buf *out, const char *s, size_t len) {
    gptoss_buf_append(out, s, len);
    c->n_chars += n_chars(s, len);
}

/* One complete citation s[0..len): replaced by " ([domain](url)) " with its annotation when its cursor
 * names a page, else kept as written (as the reference's normalize_citations does). */
static void cite_one(server_browser *b, server_cite *c, const char *s, size_t len, gptoss_buf *out, cJSON *annotations) {
    const char *url = b ? gptoss_browser_citation_url(b->browser, s, len) : NULL;
    if (!url || !*url) {
        emit(c, out, s, len);
        return;
    }
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t hlen = strcspn(host, "/?#");
    gptoss_buf r = {0};
    gptoss_buf_puts(&r, " ([");
    gptoss_buf_append(&r, host, hlen);
    gptoss_buf_puts(&r, "](");
    gptoss_buf_puts(&r, url);
    gptoss_buf_puts(&r, ")) ");
    if (!gptoss_buf_cstr(&r)) {
        gptoss_buf_free(&r);
        emit(c, out, s, len);
        return;
    }
    size_t start = c->n_chars;
    emit(c, out, r.data, r.len);
    cJSON *a = cJSON_CreateObject();
    if (a) {
        cJSON_AddStringToObject(a, "type", "url_citation");
        cJSON_AddNumberToObject(a, "start_index", (double)start);
        cJSON_AddNumberToObject(a, "end_index", (double)c->n_chars);
        cJSON_AddStringToObject(a, "url", url);
        char *title = strndup(host, hlen);
        cJSON_AddStringToObject(a, "title", title ? title : "");
        free(title);
        if (!cJSON_AddItemToArray(annotations, a)) cJSON_Delete(a);
    }
    gptoss_buf_free(&r);
}

void server_cite_feed(server_browser *b, server_cite *c, const char *text, size_t len, int flush, gptoss_buf *out,
                      cJSON *annotations) {
    gptoss_buf_append(&c->held, text, len);
    if (!gptoss_buf_cstr(&c->held)) return;
    const char *p = c->held.data, *end = c->held.data + c->held.len;
    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), CITE_OPEN, 3);
        if (!open) {
            /* a lone first byte or two of 【 at the end may still become one */
            const char *keep = end;
            if (!flush)
                for (size_t k = 1; k <= 2 && (size_t)(end - p) >= k; k++)
                    if (!memcmp(end - k, CITE_OPEN, k)) keep = end - k;
            emit(c, out, p, (size_t)(keep - p));
            p = keep;
            break;
        }
        emit(c, out, p, (size_t)(open - p));
        p = open;
        const char *close = memmem(open + 3, (size_t)(end - open - 3), CITE_CLOSE, 3);
        const char *reopen = memmem(open + 3, (size_t)(end - open - 3), CITE_OPEN, 3);
        if (close && (!reopen || close < reopen) && close + 3 - open <= CITE_MAX_BYTES) {
            cite_one(b, c, open, (size_t)(close + 3 - open), out, annotations);
            p = close + 3;
            continue;
        }
        /* not a citation (too long, or another opens first), or not complete yet */
        if (flush || reopen || (size_t)(end - open) > CITE_MAX_BYTES) {
            emit(c, out, open, 3);
            p = open + 3;
            continue;
        }
        break; /* held back until it completes */
    }
    size_t rest = (size_t)(end - p);
    memmove(c->held.data, p, rest);
    c->held.len = rest;
}

void server_cite_free(server_cite *c) { gptoss_buf_free(&c->held); }

#else
typedef int server_browser_unused;
#endif
