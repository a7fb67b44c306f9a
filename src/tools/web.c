/* web.c: the browser's web backend over libcurl: SearXNG's JSON API for search, http(s) fetches for
 * open. Every connection a page fetch makes (redirect hops included) goes through the address policy
 * at the moment curl opens its socket, so what is checked is the address actually connected to. */
#include "tools/web.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/common.h"

#define DEFAULT_CONNECT_TIMEOUT_S 10.0
#define DEFAULT_TIMEOUT_S 30.0
#define DEFAULT_MAX_PAGE_BYTES ((size_t)10 << 20)
#define MAX_SEARCH_BYTES ((size_t)4 << 20)
#define MAX_URL_BYTES 8192
#define SNIFF_BYTES 1024
#define MAX_ALLOWED_ADDRESSES 64

typedef struct ip_addr {
    int family;
    unsigned char bytes[16];
} ip_addr;

struct gptoss_web {
    char *search_url;
    int allow_private;
    long connect_timeout_ms, timeout_ms;
    size_t max_page_bytes;
    ip_addr allowed[MAX_ALLOWED_ADDRESSES];
    size_t n_allowed;
};

#ifdef GPTOSS_HAVE_LIBCURL
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "format/json.h"
#include "tools/addr_policy.h"

int gptoss_web_available(void) { return 1; }

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

gptoss_status gptoss_web_create(const gptoss_web_options *o, gptoss_web **out, char *err, size_t err_size) {
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    gptoss_web_options d = {0};
    if (!o) o = &d;
    double ct = o->connect_timeout_s > 0 ? o->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT_S;
    double tt = o->timeout_s > 0 ? o->timeout_s : DEFAULT_TIMEOUT_S;
    if (!(ct <= 86400) || !(tt <= 86400))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "timeouts must be at most 86400 s");
    if (o->search_url && (strncmp(o->search_url, "http://", 7) && strncmp(o->search_url, "https://", 8)))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "the search URL must start with http:// or https://");
    if (o->n_allow_addresses > MAX_ALLOWED_ADDRESSES)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "at most %d allowed addresses",
                           MAX_ALLOWED_ADDRESSES);
    gptoss_web *w = calloc(1, sizeof *w);
    if (!w) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    for (size_t i = 0; i < o->n_allow_addresses; i++) {
        ip_addr *a = &w->allowed[w->n_allowed++];
        const char *text = o->allow_addresses[i] ? o->allow_addresses[i] : "";
        if (inet_pton(AF_INET, text, a->bytes) == 1) a->family = AF_INET;
        else if (inet_pton(AF_INET6, text, a->bytes) == 1) a->family = AF_INET6;
        else {
            free(w);
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "'%s' is not a numeric IP address", text);
        }
    }
    if (o->search_url && !(w->search_url = strdup(o->search_url))) {
        free(w);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    w->allow_private = o->allow_private;
    w->connect_timeout_ms = (long)(ct * 1000);
    w->timeout_ms = (long)(tt * 1000);
    if (w->connect_timeout_ms > w->timeout_ms) w->connect_timeout_ms = w->timeout_ms;
    w->max_page_bytes = o->max_page_bytes ? o->max_page_bytes : DEFAULT_MAX_PAGE_BYTES;
    *out = w;
    return GPTOSS_OK;
}

void gptoss_web_free(gptoss_web *w) {
    if (!w) return;
    free(w->search_url);
    free(w);
}

/* ==== one transfer ==== */

typedef enum body_kind { BODY_ANY, BODY_PAGE } body_kind;

typedef struct transfer {
    CURL *curl;
    const gptoss_web *web;
    body_kind kind;
    int check_addresses;
    gptoss_buf body;
    size_t cap;
    int too_large, no_memory, checked_type, bad_type, is_text;
    char type[96];     /* the media type, lowercased ("text/html") */
    char charset[48];  /* Content-Type's charset parameter, or "" */
    char refused[INET6_ADDRSTRLEN];
    const char *refused_why;
} transfer;

static int allowed_address(const gptoss_web *w, const struct curl_sockaddr *a) {
    const unsigned char *bytes = NULL;
    if (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in))
        bytes = (const unsigned char *)&((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6))
        bytes = ((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr.s6_addr;
    for (size_t i = 0; bytes && i < w->n_allowed; i++)
        if (w->allowed[i].family == a->family &&
            !memcmp(w->allowed[i].bytes, bytes, a->family == AF_INET ? 4 : 16))
            return 1;
    return 0;
}

/* only the socket curl connects through is trusted to say where the request goes: a host name may
 * resolve differently on each lookup (DNS rebinding), and each redirect hop opens its own */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a) {
    transfer *t = ctx;
    (void)purpose;
    const char *why = NULL;
    if (t->check_addresses && !gptoss_addr_is_public(&a->addr, a->addrlen, &why) && !allowed_address(t->web, a)) {
        if (a->family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr, t->refused,
                      sizeof t->refused);
        else if (a->family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr, t->refused,
                      sizeof t->refused);
        else snprintf(t->refused, sizeof t->refused, "(family %d)", a->family);
        t->refused_why = why;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* "text/html; charset=ISO-8859-1" -> type "text/html", charset "ISO-8859-1" (a name made of the
 * characters charset names use, else none) */
static void parse_content_type(const char *ct, char *type, size_t type_size, char *charset, size_t cs_size) {
    size_t i = 0, n = 0;
    type[0] = charset[0] = 0;
    if (!ct) return;
    while (ct[i] == ' ' || ct[i] == '\t') i++;
    while (ct[i] && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t' && n + 1 < type_size)
        type[n++] = (char)tolower((unsigned char)ct[i++]);
    type[n] = 0;
    for (const char *p = strchr(ct, ';'); p; p = strchr(p + 1, ';')) {
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t') q++;
        if (strncasecmp(q, "charset=", 8)) continue;
        q += 8;
        if (*q == '"' || *q == '\'') q++;
        size_t k = 0;
        while (q[k] && (isalnum((unsigned char)q[k]) || strchr("-_.:+", q[k])) && k + 1 < cs_size) {
            charset[k] = q[k];
            k++;
        }
        charset[k] = 0;
        if (q[k] && !strchr("\"'; \t", q[k])) charset[0] = 0; /* not a charset name */
        return;
    }
}

/* what the browser can show: HTML as HTML, other text as text; everything else is refused before its
 * body is read */
static int page_type(const char *type, int *is_text) {
    static const char *const html[] = {"text/html", "application/xhtml+xml"};
    static const char *const text[] = {"text/plain", "text/markdown", "text/x-markdown", "text/xml",
                                       "application/xml", "application/json", "text/csv", "text/x-rst"};
    *is_text = 0;
    if (!type[0]) return 1; /* unlabelled: the body is sniffed */
    for (size_t i = 0; i < sizeof html / sizeof html[0]; i++)
        if (!strcmp(type, html[i])) return 1;
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        if (!strcmp(type, text[i])) return *is_text = 1;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx) {
    transfer *t = ctx;
    size_t n = size * nmemb;
    if (!t->checked_type) {
        t->checked_type = 1;
        const char *ct = NULL;
        curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &ct);
        parse_content_type(ct, t->type, sizeof t->type, t->charset, sizeof t->charset);
        if (t->kind == BODY_PAGE && !page_type(t->type, &t->is_text)) {
            t->bad_type = 1;
            return 0;
        }
    }
    if (n > t->cap - t->body.len) {
        t->too_large = 1;
        return 0;
    }
    gptoss_buf_append(&t->body, data, n);
    if (t->body.failed) {
        t->no_memory = 1;
        return 0;
    }
    return n;
}

/* curl's messages are one line already; this keeps it so whatever a server put into them */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F) *s = ' ';
}

static CURL *new_handle(const gptoss_web *w, transfer *t, const char *url, char *errbuf) {
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    t->curl = c;
    int ok = 1;
    ok &= curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok &= curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
    ok &= curl_easy_setopt(c, CURLOPT_DEFAULT_PROTOCOL, "https") == CURLE_OK;
    /* a proxy would connect on our behalf to an address the policy never sees */
    ok &= curl_easy_setopt(c, CURLOPT_PROXY, "") == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)GPTOSS_WEB_MAX_REDIRECTS) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, w->connect_timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, w->timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->cap) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip, deflate") == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, "Mozilla/5.0 (compatible; gptoss-browser)") == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, t) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket) == CURLE_OK;
    ok &= curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t) == CURLE_OK;
    if (!ok) {
        curl_easy_cleanup(c);
        t->curl = NULL;
        return NULL;
    }
    return c;
}

/* Runs the transfer; 0 on a 2xx body, else -1 with the message the model reads in err. */
static int perform(const gptoss_web *w, transfer *t, const char *url, char *err, size_t err_size) {
    char errbuf[CURL_ERROR_SIZE] = "";
    t->web = w;
    CURL *c = new_handle(w, t, url, errbuf);
    if (!c) {
        snprintf(err, err_size, "cannot set up the HTTP client");
        return -1;
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    t->curl = NULL;
    one_line(errbuf);
    if (rc == CURLE_OK) return 0;
    if (t->refused_why) {
        snprintf(err, err_size, "refused to connect to %s (%s): only public addresses are opened", t->refused,
                 t->refused_why);
        return -1;
    }
    if (t->bad_type) snprintf(err, err_size, "unsupported content type %s (not a text or HTML page)", t->type);
    else if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(err, err_size, "the response is larger than %zu bytes", t->cap);
    else if (t->no_memory) snprintf(err, err_size, "out of memory");
    else if (rc == CURLE_HTTP_RETURNED_ERROR) snprintf(err, err_size, "HTTP error %ld", status);
    else if (rc == CURLE_TOO_MANY_REDIRECTS)
        snprintf(err, err_size, "too many redirects (more than %d)", GPTOSS_WEB_MAX_REDIRECTS);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(err, err_size, "timed out (%s)", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        snprintf(err, err_size, "unsupported URL scheme (only http and https are opened)");
    else snprintf(err, err_size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return -1;
}

/* ==== open ==== */

/* a charset the page names itself: a byte-order mark, else <meta charset=...> or <meta
 * http-equiv=Content-Type content="...; charset=..."> in its first bytes (as browsers prescan) */
static void sniff_charset(const char *s, size_t len, char *out, size_t out_size) {
    if (len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
        snprintf(out, out_size, "UTF-8");
        return;
    }
    if (len >= 2 && (!memcmp(s, "\xFF\xFE", 2) || !memcmp(s, "\xFE\xFF", 2))) {
        snprintf(out, out_size, "UTF-16");
        return;
    }
    size_t n = len < SNIFF_BYTES ? len : SNIFF_BYTES;
    for (size_t i = 0; i + 5 < n; i++) {
        if (s[i] != '<' || strncasecmp(s + i + 1, "meta", 4)) continue;
        size_t end = i;
        while (end < n && s[end] != '>') end++;
        for (size_t k = i; k + 8 <= end; k++) {
            if (strncasecmp(s + k, "charset=", 8)) continue;
            size_t a = k + 8, m = 0;
            if (a < end && (s[a] == '"' || s[a] == '\'')) a++;
            while (a < end && m + 1 < out_size && (isalnum((unsigned char)s[a]) || strchr("-_.:+", s[a])))
                out[m++] = s[a++];
            out[m] = 0;
            if (m) return;
        }
    }
}

static int looks_binary(const char *s, size_t len) {
    size_t n = len < SNIFF_BYTES ? len : SNIFF_BYTES;
    /* UTF-16 text has NULs too, but only after its byte-order mark */
    if (n >= 2 && (!memcmp(s, "\xFF\xFE", 2) || !memcmp(s, "\xFE\xFF", 2))) return 0;
    return memchr(s, 0, n) != NULL;
}

/* text that is not HTML is shown as it is: escaped into a <pre> block */
static char *text_as_html(const char *s, size_t len, size_t *out_len) {
    gptoss_buf b = {0};
    gptoss_buf_puts(&b, "<html><body><pre>\n");
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" : NULL;
        if (!e) continue;
        gptoss_buf_append(&b, s + start, i - start);
        gptoss_buf_puts(&b, e);
        start = i + 1;
    }
    gptoss_buf_append(&b, s + start, len - start);
    gptoss_buf_puts(&b, "</pre></body></html>");
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    *out_len = b.len;
    return b.data;
}

/* the charset the backend hands back lives until the next fetch on the same thread, so one web can
 * serve tools on several threads (it is read-only after create; each transfer has its own handle) */
static _Thread_local char fetch_charset[48];

static int web_fetch(void *ctx, const char *url, char **html, size_t *len, const char **charset, char *err,
                     size_t err_size) {
    gptoss_web *w = ctx;
    *html = NULL;
    *len = 0;
    *charset = NULL;
    if (strlen(url) > MAX_URL_BYTES) {
        snprintf(err, err_size, "the URL is longer than %d bytes", MAX_URL_BYTES);
        return -1;
    }
    transfer t = {0};
    t.kind = BODY_PAGE;
    t.check_addresses = !w->allow_private;
    t.cap = w->max_page_bytes;
    if (perform(w, &t, url, err, err_size) != 0) {
        gptoss_buf_free(&t.body);
        return -1;
    }
    if (!t.type[0] && looks_binary(t.body.data ? t.body.data : "", t.body.len)) {
        gptoss_buf_free(&t.body);
        snprintf(err, err_size, "the response is not text (no content type, binary bytes)");
        return -1;
    }
    fetch_charset[0] = 0;
    if (t.charset[0]) snprintf(fetch_charset, sizeof fetch_charset, "%s", t.charset);
    else if (t.body.len) sniff_charset(t.body.data, t.body.len, fetch_charset, sizeof fetch_charset);
    if (!gptoss_buf_cstr(&t.body)) {
        gptoss_buf_free(&t.body);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (t.is_text) {
        *html = text_as_html(t.body.data, t.body.len, len);
        gptoss_buf_free(&t.body);
        if (!*html) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    } else {
        *html = t.body.data;
        *len = t.body.len;
    }
    *charset = fetch_charset[0] ? fetch_charset : NULL;
    return 0;
}

/* ==== search ==== */

static char *dup_json_string(const json_value *o, const char *key) {
    const json_value *v = json_get(o, key);
    if (!v || v->type != JSON_STRING) return strdup("");
    return strndup(v->str, v->len);
}

static int web_search(void *ctx, const char *query, size_t max_results, gptoss_browser_result **results,
                      size_t *n_results, char *err, size_t err_size) {
    gptoss_web *w = ctx;
    *results = NULL;
    *n_results = 0;
    if (!w->search_url) {
        snprintf(err, err_size, "no search service is configured (gptoss needs --search-url)");
        return -1;
    }
    CURL *esc = curl_easy_init();
    char *q = esc ? curl_easy_escape(esc, query, (int)strnlen(query, MAX_URL_BYTES)) : NULL;
    if (esc) curl_easy_cleanup(esc);
    gptoss_buf url = {0};
    if (q) {
        gptoss_buf_puts(&url, w->search_url);
        gptoss_buf_puts(&url, strchr(w->search_url, '?') ? "&q=" : "?q=");
        gptoss_buf_puts(&url, q);
        gptoss_buf_puts(&url, "&format=json");
        curl_free(q);
    }
    const char *u = gptoss_buf_cstr(&url);
    if (!u) {
        gptoss_buf_free(&url);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    transfer t = {0};
    t.kind = BODY_ANY;
    t.cap = MAX_SEARCH_BYTES;
    char msg[512];
    int rc = perform(w, &t, u, msg, sizeof msg);
    gptoss_buf_free(&url);
    if (rc != 0) {
        gptoss_buf_free(&t.body);
        /* SearXNG answers 403 while its JSON format is off (the default) */
        snprintf(err, err_size, "the search service failed: %s%s", msg,
                 strstr(msg, "HTTP error 403") ? " (SearXNG needs json in search.formats of its settings.yml)" : "");
        return -1;
    }
    char jerr[256];
    json_doc *doc = json_parse(t.body.data ? t.body.data : "", t.body.len, jerr, sizeof jerr);
    gptoss_buf_free(&t.body);
    if (!doc) {
        snprintf(err, err_size, "the search service's answer is not JSON: %s", jerr);
        return -1;
    }
    const json_value *list = json_get(json_root(doc), "results");
    if (!list || list->type != JSON_ARRAY) {
        json_free(doc);
        snprintf(err, err_size, "the search service's answer has no results list");
        return -1;
    }
    size_t cap = list->n < max_results ? list->n : max_results, n = 0;
    gptoss_browser_result *r = cap ? calloc(cap, sizeof *r) : NULL;
    if (cap && !r) {
        json_free(doc);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < list->n && n < cap; i++) {
        const json_value *item = &list->items[i];
        const json_value *link = json_get(item, "url");
        if (item->type != JSON_OBJECT || !link || link->type != JSON_STRING || !link->len) continue;
        r[n].url = dup_json_string(item, "url");
        r[n].title = dup_json_string(item, "title");
        r[n].snippet = dup_json_string(item, "content");
        n++;
        if (!r[n - 1].url || !r[n - 1].title || !r[n - 1].snippet) {
            gptoss_browser_results_free(r, n);
            json_free(doc);
            snprintf(err, err_size, "out of memory");
            return -1;
        }
    }
    json_free(doc);
    *results = r;
    *n_results = n;
    return 0;
}

gptoss_browser_backend gptoss_web_backend(gptoss_web *w) {
    gptoss_browser_backend b = {w, web_search, web_fetch};
    return b;
}

#else /* without libcurl */

int gptoss_web_available(void) { return 0; }

gptoss_status gptoss_web_create(const gptoss_web_options *o, gptoss_web **out, char *err, size_t err_size) {
    (void)o;
    *out = NULL;
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                       "this gptoss was built without libcurl: install libcurl4-openssl-dev (Debian) and rebuild");
}

void gptoss_web_free(gptoss_web *w) { free(w); }

gptoss_browser_backend gptoss_web_backend(gptoss_web *w) {
    gptoss_browser_backend b = {w, NULL, NULL};
    return b;
}

#endif
