/* browser.c: the browser tool's state and its three functions, as gpt-oss's SimpleBrowserTool has
 * them: a dict of pages by URL and a stack of URLs whose indices are the cursors; search (the
 * backend's results as the reference's HTML results page), open (a link id on a cursor's page, a URL,
 * or a scroll with loc/num_lines), find (case-insensitive, links stripped, 50 results, 4 lines each);
 * the page view (80-column lines numbered L{n}, about view_tokens o200k tokens when num_lines is not
 * given, counted exactly as the reference counts them) and every error text the reference produces.
 * Citations map a cursor back to the URL of its page. */
#include "tools/browser.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "format/json.h"
#include "tokenizer/unicode.h"
#include "tools/html_page.h"
#include "tools/pytext.h"
#include "tools/textwrap.h"
#include "tools/url.h"

#define MAX_LINES ((size_t)1 << 20) /* a page that wraps to more lines is a tool error */
#define MAX_STACK ((size_t)1 << 16) /* pages pushed in one conversation */
#define FIND_MAX_RESULTS 50
#define FIND_SHOW_LINES 4
#define REF_N_VOCAB 200019 /* tiktoken o200k_base's n_vocab, over which the reference measures tokens */

typedef struct page {
    char *url, *title, *text;
    size_t text_len;
    char **urls; /* link id -> url */
    size_t n_urls;
    size_t *snippet_line; /* find pages: link id -> line; NULL: the page has no snippets */
    gptoss_lines lines;   /* wrap_lines(text), made on first use */
    int wrapped;
} page;

struct gptoss_browser {
    const gptoss_tokenizer *tok;
    gptoss_browser_backend backend;
    size_t view_tokens, max_results;
    uint8_t *tok_chars; /* per id: len(decode([id])) in code points, capped at 255 */
    size_t n_tok_chars, max_chars_per_token;
    page **pages; /* the dict: unique urls */
    size_t n_pages, cap_pages;
    size_t *stack; /* indices into pages */
    size_t n_stack, cap_stack;
    const char *fn; /* the function being run: "search", "open", "find" */
};

static void page_free(page *p) {
    if (!p) return;
    free(p->url);
    free(p->title);
    free(p->text);
    for (size_t i = 0; i < p->n_urls; i++) free(p->urls[i]);
    free(p->urls);
    free(p->snippet_line);
    gptoss_lines_free(&p->lines);
    free(p);
}

void gptoss_browser_results_free(gptoss_browser_result *r, size_t n) {
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].url);
        free(r[i].title);
        free(r[i].snippet);
    }
    free(r);
}

/* ==== creation: the reference's per-token character lengths ==== */

static size_t lossy_chars(const char *s, size_t n) {
    size_t i = 0, c = 0;
    while (i < n) {
        uint32_t cp;
        i += gptoss_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        c++;
    }
    return c;
}

gptoss_status gptoss_browser_create(const gptoss_tokenizer *tok, const gptoss_browser_backend *backend,
                                    const gptoss_browser_options *options, gptoss_browser **out) {
    *out = NULL;
    if (!tok || !backend) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_browser *b = calloc(1, sizeof *b);
    if (!b) return GPTOSS_ERR_NO_MEMORY;
    b->tok = tok;
    b->backend = *backend;
    b->view_tokens = options && options->view_tokens ? options->view_tokens : 1024;
    b->max_results = options && options->max_search_results ? options->max_search_results : 20;
    uint32_t nv = gptoss_tokenizer_n_vocab(tok);
    b->n_tok_chars = nv < REF_N_VOCAB ? nv : REF_N_VOCAB;
    b->tok_chars = malloc(b->n_tok_chars ? b->n_tok_chars : 1);
    if (!b->tok_chars) {
        free(b);
        return GPTOSS_ERR_NO_MEMORY;
    }
    for (size_t id = 0; id < b->n_tok_chars; id++) {
        size_t len = 0, c = 1; /* an id tiktoken cannot decode counts 1 */
        const char *s = gptoss_tokenizer_token_bytes(tok, (uint32_t)id, &len);
        if (s && (!gptoss_tokenizer_is_special(tok, (uint32_t)id) || id == 199999 || id == 200018))
            c = lossy_chars(s, len);
        b->tok_chars[id] = (uint8_t)(c > 255 ? 255 : c);
        if (c > b->max_chars_per_token) b->max_chars_per_token = c;
    }
    *out = b;
    return GPTOSS_OK;
}

void gptoss_browser_free(gptoss_browser *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n_pages; i++) page_free(b->pages[i]);
    free(b->pages);
    free(b->stack);
    free(b->tok_chars);
    free(b);
}

/* ==== replies ==== */

typedef struct reply {
    gptoss_buf text;
    int error; /* a tool error: no page pushed */
} reply;

static void fail_text(reply *r, const char *fmt, ...) GPTOSS_PRINTF(2, 3);
static void fail_text(reply *r, const char *fmt, ...) {
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    r->text.len = 0;
    if (n >= (int)sizeof tmp) { /* long: format again into the buffer */
        char *big = malloc((size_t)n + 1);
        if (big) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            gptoss_buf_append(&r->text, big, (size_t)n);
            free(big);
        } else {
            r->text.failed = 1;
        }
    } else if (n > 0) {
        gptoss_buf_append(&r->text, tmp, (size_t)n);
    }
    r->error = 1;
}

/* maybe_truncate(text, 1024): over 1024 code points, the first 1021 and "..." */
static void put_truncated(gptoss_buf *b, const char *s, size_t n) {
    if (gptoss_py_len(s, n) > 1024) {
        gptoss_buf_append(b, s, gptoss_py_offset(s, n, 1021));
        gptoss_buf_append(b, "...", 3);
    } else {
        gptoss_buf_append(b, s, n);
    }
}

static char *truncated(const char *s) {
    gptoss_buf b = {0};
    put_truncated(&b, s, strlen(s));
    const char *c = gptoss_buf_cstr(&b);
    char *r = strdup(c ? c : "");
    gptoss_buf_free(&b);
    return r;
}

/* ==== the state: pages by url, the stack of cursors ==== */

static page *page_at_url(gptoss_browser *b, const char *url, size_t *idx) {
    for (size_t i = 0; i < b->n_pages; i++)
        if (!strcmp(b->pages[i]->url, url)) {
            if (idx) *idx = i;
            return b->pages[i];
        }
    return NULL;
}

/* add_page: pages[url] = p (the old page under that url is freed unless it is p), push the url.
 * Takes p. 0 when out of memory or the stack is full (p freed). */
static int add_page(gptoss_browser *b, page *p) {
    size_t idx;
    page *old = page_at_url(b, p->url, &idx);
    if (b->n_stack == b->cap_stack) {
        size_t cap = b->cap_stack ? b->cap_stack * 2 : 16;
        size_t *s = cap <= MAX_STACK ? realloc(b->stack, cap * sizeof *s) : NULL;
        if (!s) {
            if (old != p) page_free(p);
            return 0;
        }
        b->stack = s;
        b->cap_stack = cap;
    }
    if (old) {
        if (old != p) {
            page_free(old);
            b->pages[idx] = p;
        }
    } else {
        if (b->n_pages == b->cap_pages) {
            size_t cap = b->cap_pages ? b->cap_pages * 2 : 16;
            page **v = realloc(b->pages, cap * sizeof *v);
            if (!v) {
                page_free(p);
                return 0;
            }
            b->pages = v;
            b->cap_pages = cap;
        }
        idx = b->n_pages;
        b->pages[b->n_pages++] = p;
    }
    b->stack[b->n_stack++] = idx;
    return 1;
}

/* a JSON argument as Python would format it in an f-string */
static void put_arg(gptoss_buf *o, const json_value *v) {
    if (!v) return;
    switch (v->type) {
    case JSON_STRING: gptoss_buf_append(o, v->str, v->len); break;
    case JSON_NUMBER:
        if (v->is_uint) gptoss_buf_printf(o, "%llu", (unsigned long long)v->uint);
        else if (v->number == floor(v->number) && fabs(v->number) < 9e15) gptoss_buf_printf(o, "%.0f", v->number);
        else gptoss_buf_printf(o, "%.17g", v->number);
        break;
    case JSON_TRUE: gptoss_buf_puts(o, "True"); break;
    case JSON_FALSE: gptoss_buf_puts(o, "False"); break;
    case JSON_NULL: gptoss_buf_puts(o, "None"); break;
    default: json_write_value(o, v); break;
    }
}

/* an integer argument: absent -> def; 1 and *out when it is an int (bools are ints in Python) */
static int int_arg(const json_value *v, long long def, long long *out) {
    if (!v) {
        *out = def;
        return 1;
    }
    if (v->type == JSON_TRUE || v->type == JSON_FALSE) {
        *out = v->type == JSON_TRUE;
        return 1;
    }
    if (v->type != JSON_NUMBER) return 0;
    if (v->is_uint) {
        *out = v->uint > (uint64_t)INT64_MAX ? INT64_MAX : (long long)v->uint;
        return 1;
    }
    if (v->number == floor(v->number) && fabs(v->number) < 9e18) {
        *out = (long long)v->number;
        return 1;
    }
    return 0;
}

static const char *py_type(const json_value *v) {
    switch (v->type) {
    case JSON_STRING: return "str";
    case JSON_NUMBER: return "float";
    case JSON_NULL: return "NoneType";
    case JSON_ARRAY: return "list";
    case JSON_OBJECT: return "dict";
    default: return "bool";
    }
}

/* get_page(cursor): NULL with the error text in r */
static page *get_page(gptoss_browser *b, const json_value *cursor_v, reply *r) {
    if (b->n_stack == 0) {
        fail_text(r, "No pages to access!");
        return NULL;
    }
    long long cursor;
    if (!int_arg(cursor_v, -1, &cursor)) {
        fail_text(r, "`cursor` should be an integer, not `%s`", py_type(cursor_v));
        return NULL;
    }
    long long cur = (long long)b->n_stack - 1;
    if (cursor == -1 || cursor == cur) return b->pages[b->stack[b->n_stack - 1]];
    long long i = cursor < 0 ? cursor + (long long)b->n_stack : cursor;
    if (i < 0 || i >= (long long)b->n_stack) {
        gptoss_buf c = {0};
        put_arg(&c, cursor_v);
        const char *cs = gptoss_buf_cstr(&c);
        fail_text(r, "Cursor `%s` is out of range. Available cursor indices: [0 - %lld].", cs ? cs : "", cur);
        gptoss_buf_free(&c);
        return NULL;
    }
    return b->pages[b->stack[i]];
}

static int ensure_lines(page *p) {
    if (p->wrapped) return 0;
    int rc = gptoss_wrap_lines(p->text, p->text_len, 80, MAX_LINES, &p->lines);
    if (rc == 0) p->wrapped = 1;
    return rc;
}

/* "L{i}: {line}" lines from `first` joined by "\n" until more than `limit` code points are there
 * (or the end); *chars: how many code points were written. */
static void numbered(const page *p, size_t first, size_t last, size_t limit, gptoss_buf *o, size_t *chars) {
    size_t c = 0;
    for (size_t i = first; i < last && c <= limit; i++) {
        if (i > first) {
            gptoss_buf_append(o, "\n", 1);
            c++;
        }
        size_t at = o->len;
        gptoss_buf_printf(o, "L%zu: ", i);
        const char *s = p->lines.text + p->lines.off[i];
        size_t n = p->lines.off[i + 1] - 1 - p->lines.off[i];
        gptoss_buf_append(o, s, n);
        c += (o->len - at - n) + gptoss_py_len(s, n);
    }
    if (chars) *chars = c;
}

/* get_end_loc */
static size_t end_loc(gptoss_browser *b, const page *p, size_t loc, long long num_lines, int *oom) {
    size_t total = p->lines.n;
    if (num_lines <= 0) {
        size_t limit = (b->view_tokens + 1) * b->max_chars_per_token, chars;
        gptoss_buf txt = {0};
        numbered(p, loc, total, limit, &txt, &chars);
        const char *t = gptoss_buf_cstr(&txt);
        if (!t) {
            *oom = 1;
            return total;
        }
        num_lines = (long long)total;
        if (chars > b->view_tokens) {
            size_t cut = gptoss_py_offset(t, txt.len, limit);
            gptoss_tokens toks = {0};
            if (gptoss_tokenizer_encode(b->tok, t, cut, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &toks) != GPTOSS_OK) {
                *oom = 1;
                gptoss_buf_free(&txt);
                return total;
            }
            if (toks.n > b->view_tokens) {
                size_t end_idx = 0;
                for (size_t k = 0; k < b->view_tokens; k++)
                    end_idx += toks.ids[k] < b->n_tok_chars ? b->tok_chars[toks.ids[k]] : 1;
                size_t off = gptoss_py_offset(t, txt.len, end_idx), nl = 0;
                for (size_t k = 0; k < off; k++) nl += t[k] == '\n';
                num_lines = (long long)nl + 1;
            }
            gptoss_tokens_free(&toks);
        }
        gptoss_buf_free(&txt);
    }
    size_t e = loc + (size_t)num_lines;
    return e < total && e >= loc ? e : total;
}

/* show_page_safely(loc, num_lines) on the top page; on a tool error the push is undone */
static void show_page(gptoss_browser *b, long long loc, long long num_lines, reply *r) {
    page *p = b->pages[b->stack[b->n_stack - 1]];
    size_t cursor = b->n_stack - 1;
    int rc = ensure_lines(p);
    if (rc == -2) {
        fail_text(r, "Page too long: it wraps to more than %zu lines.", MAX_LINES);
        b->n_stack--;
        return;
    }
    if (rc) {
        r->text.failed = 1;
        return;
    }
    size_t total = p->lines.n;
    if (loc >= (long long)total) {
        fail_text(r, "Invalid location parameter: `%lld`. Cannot exceed page maximum of %zu.", loc, total - 1);
        b->n_stack--;
        return;
    }
    if (loc < 0) loc = 0;
    int oom = 0;
    size_t end = end_loc(b, p, (size_t)loc, num_lines, &oom);
    if (oom) {
        r->text.failed = 1;
        return;
    }
    gptoss_buf *o = &r->text;
    o->len = 0;
    gptoss_buf_printf(o, "[%zu] %s", cursor, p->title);
    gptoss_buf shown = {0};
    gptoss_url_unquote(&shown, p->url, strlen(p->url));
    if (shown.len) {
        gptoss_buf_append(o, " (", 2);
        put_truncated(o, shown.data, shown.len);
        gptoss_buf_append(o, ")", 1);
    }
    gptoss_buf_free(&shown);
    gptoss_buf_printf(o, "\n**viewing lines [%lld - %zu] of %zu**\n\n", loc, end - 1, total - 1);
    numbered(p, (size_t)loc, end, SIZE_MAX - 1, o, NULL);
}

static page *page_from_html(const gptoss_html_page *hp, const char *url) {
    page *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->url = strdup(url);
    p->title = strdup(hp->title ? hp->title : "");
    p->text = malloc(hp->text_len + 1);
    p->urls = hp->n_urls ? malloc(hp->n_urls * sizeof *p->urls) : NULL;
    if (!p->url || !p->title || !p->text || (hp->n_urls && !p->urls)) {
        page_free(p);
        return NULL;
    }
    memcpy(p->text, hp->text, hp->text_len + 1);
    p->text_len = hp->text_len;
    for (size_t i = 0; i < hp->n_urls; i++) {
        p->urls[i] = strdup(hp->urls[i]);
        if (!p->urls[i]) {
            p->n_urls = i;
            page_free(p);
            return NULL;
        }
    }
    p->n_urls = hp->n_urls;
    return p;
}

/* ==== search ==== */

static void do_search(gptoss_browser *b, const json_value *args, reply *r) {
    const json_value *q = json_get(args, "query");
    if (!q) {
        fail_text(r, "search() missing 1 required positional argument: 'query'");
        return;
    }
    gptoss_buf qs = {0}, html = {0};
    put_arg(&qs, q);
    const char *query = gptoss_buf_cstr(&qs);
    gptoss_browser_result *res = NULL;
    size_t n = 0;
    char err[1024] = "";
    if (!query) {
        r->text.failed = 1;
        return;
    }
    if (b->backend.search(b->backend.ctx, query, b->max_results, &res, &n, err, sizeof err) != 0) {
        char *m = truncated(err);
        fail_text(r, "Error during search for `%s`: %s", query, m ? m : "");
        free(m);
        gptoss_buf_free(&qs);
        return;
    }
    gptoss_buf_puts(&html, "\n<html><body>\n<h1>Search Results</h1>\n<ul>\n");
    for (size_t i = 0; i < n; i++)
        gptoss_buf_printf(&html, "<li><a href='%s'>%s</a> %s</li>", res[i].url ? res[i].url : "",
                          res[i].title ? res[i].title : "", res[i].snippet ? res[i].snippet : "");
    gptoss_buf_puts(&html, "\n</ul>\n</body></html>\n");
    gptoss_browser_results_free(res, n);
    gptoss_html_page hp;
    const char *h = gptoss_buf_cstr(&html);
    if (!h) {
        r->text.failed = 1;
    } else if (gptoss_html_page_process(h, html.len, NULL, "", query, 1, &hp, err, sizeof err) != GPTOSS_OK) {
        char *m = truncated(err);
        fail_text(r, "Error during search for `%s`: %s", query, m ? m : "");
        free(m);
    } else {
        page *p = page_from_html(&hp, "");
        gptoss_html_page_free(&hp);
        if (!p || !add_page(b, p)) r->text.failed = 1;
        else show_page(b, 0, -1, r);
    }
    gptoss_buf_free(&html);
    gptoss_buf_free(&qs);
}

/* ==== open ==== */

static page *open_url(gptoss_browser *b, const char *url, int direct, reply *r) {
    if (!direct) {
        page *cached = page_at_url(b, url, NULL);
        if (cached) return cached;
    }
    const char *fetch_url = url;
    if (!strncmp(fetch_url, "view-source:", 12)) fetch_url += 12;
    char err[1024] = "", *html = NULL;
    size_t len = 0;
    const char *charset = NULL;
    gptoss_html_page hp;
    if (b->backend.fetch(b->backend.ctx, fetch_url, &html, &len, &charset, err, sizeof err) != 0 ||
        gptoss_html_page_process(html ? html : "", html ? len : 0, charset, fetch_url, NULL, 1, &hp, err,
                                 sizeof err) != GPTOSS_OK) {
        free(html);
        char *u = truncated(url), *m = truncated(err);
        fail_text(r, "Error fetching URL `%s`: %s", u ? u : "", m ? m : "");
        free(u);
        free(m);
        return NULL;
    }
    free(html);
    page *p = page_from_html(&hp, fetch_url);
    gptoss_html_page_free(&hp);
    if (!p) r->text.failed = 1;
    return p;
}

static void do_open(gptoss_browser *b, const json_value *args, reply *r) {
    const json_value *id_v = json_get(args, "id");
    long long loc, num_lines;
    if (!int_arg(json_get(args, "loc"), -1, &loc)) loc = -1;
    if (!int_arg(json_get(args, "num_lines"), -1, &num_lines)) num_lines = -1;
    int view_source = json_is_true(json_get(args, "view_source"));
    page *cur = NULL, *np = NULL;
    int stay = 0, direct = 0;
    long long snippet_line = -1;
    gptoss_buf url = {0};
    if (id_v && id_v->type == JSON_STRING) {
        gptoss_buf_append(&url, id_v->str, id_v->len);
        direct = 1;
    } else {
        cur = get_page(b, json_get(args, "cursor"), r);
        if (!cur) return;
        long long id;
        int is_int = int_arg(id_v, -1, &id);
        if (!is_int || id >= 0) {
            if (!is_int || id >= (long long)cur->n_urls) {
                gptoss_buf s = {0};
                put_arg(&s, id_v);
                const char *ss = gptoss_buf_cstr(&s);
                fail_text(r, "Invalid link id `%s`.", ss ? ss : "");
                gptoss_buf_free(&s);
                return;
            }
            gptoss_buf_puts(&url, cur->urls[id]);
            if (cur->snippet_line) snippet_line = (long long)cur->snippet_line[id];
        } else {
            if (!view_source) stay = 1;
            gptoss_buf_puts(&url, cur->url);
        }
    }
    if (view_source) {
        gptoss_buf v = {0};
        gptoss_buf_puts(&v, "view-source:");
        gptoss_buf_append(&v, url.data, url.len);
        gptoss_buf_free(&url);
        url = v;
        snippet_line = -1;
    }
    const char *u = gptoss_buf_cstr(&url);
    if (!u) {
        r->text.failed = 1;
        return;
    }
    if (stay) np = cur;
    else np = open_url(b, u, direct, r);
    gptoss_buf_free(&url);
    if (!np) return;
    if (!add_page(b, np)) {
        r->text.failed = 1;
        return;
    }
    if (loc < 0) loc = snippet_line >= 0 ? (snippet_line > 4 ? snippet_line - 4 : snippet_line) : 0;
    show_page(b, loc, num_lines, r);
}

/* ==== find ==== */

static const char LB[] = "\xE3\x80\x90", RB[] = "\xE3\x80\x91", DAG[] = "\xE2\x80\xA0"; /* 【 】 † */

static int at(const char *s, size_t n, size_t i, const char *lit) {
    size_t l = strlen(lit);
    return n - i >= l && !memcmp(s + i, lit, l);
}

/* [^†】]* from i: the end */
static size_t not_dag_rb(const char *s, size_t n, size_t i) {
    while (i < n && !at(s, n, i, DAG) && !at(s, n, i, RB)) i++;
    return i;
}

static size_t digits(const char *s, size_t n, size_t i) {
    while (i < n) {
        size_t k = i;
        if (!gptoss_py_is_decimal(gptoss_py_next(s, n, &k))) break;
        i = k;
    }
    return i;
}

/* strip_links: PARTIAL_INITIAL_LINK_PATTERN, PARTIAL_FINAL_LINK_PATTERN, LINK_PATTERN */
static void strip_links(const char *s0, size_t n0, gptoss_buf *out) {
    const char *s = s0;
    size_t n = n0;
    /* ^[^【】]*】 */
    for (size_t i = 0; i < n; i++) {
        if (at(s, n, i, LB)) break;
        if (at(s, n, i, RB)) {
            s += i + 3;
            n -= i + 3;
            break;
        }
    }
    /* 【\d*(?:†(content)(?:†[^†】]*)?)?$ */
    gptoss_buf a = {0};
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (!at(s, n, i, LB)) continue;
        size_t j = digits(s, n, i + 3), cb = 0, ce = 0, end = SIZE_MAX;
#define IS_END(q) ((q) == n || ((q) == n - 1 && s[q] == '\n'))
        if (at(s, n, j, DAG)) {
            size_t k = not_dag_rb(s, n, j + 3);
            if (IS_END(k)) end = k;
            else if (at(s, n, k, DAG) && IS_END(not_dag_rb(s, n, k + 3))) end = not_dag_rb(s, n, k + 3);
            if (end != SIZE_MAX) {
                cb = j + 3;
                ce = k;
            }
        }
        if (end == SIZE_MAX && IS_END(j)) end = j;
#undef IS_END
        if (end == SIZE_MAX) continue;
        gptoss_buf_append(&a, s, i);
        gptoss_buf_append(&a, s + cb, ce - cb);
        done = end;
        break;
    }
    if (done || !a.len) {
        if (done) gptoss_buf_append(&a, s + done, n - done);
        else gptoss_buf_append(&a, s, n);
    }
    /* 【\d+†(content)(?:†[^†】]+)?】 */
    const char *t = a.data ? a.data : "";
    size_t m = a.len;
    size_t last = 0;
    for (size_t i = 0; i < m; i++) {
        if (!at(t, m, i, LB)) continue;
        size_t j = digits(t, m, i + 3);
        if (j == i + 3 || !at(t, m, j, DAG)) continue;
        size_t k = not_dag_rb(t, m, j + 3);
        if (k == j + 3) continue;
        size_t e = SIZE_MAX;
        if (at(t, m, k, RB)) e = k + 3;
        else if (at(t, m, k, DAG)) {
            size_t q = not_dag_rb(t, m, k + 3);
            if (q > k + 3 && at(t, m, q, RB)) e = q + 3;
        }
        if (e == SIZE_MAX) continue;
        gptoss_buf_append(out, t + last, i - last);
        gptoss_buf_append(out, t + j + 3, k - j - 3);
        last = e;
        i = e - 1;
    }
    gptoss_buf_append(out, t + last, m - last);
    if (a.failed) out->failed = 1;
    gptoss_buf_free(&a);
}

static void do_find(gptoss_browser *b, const json_value *args, reply *r) {
    page *p = get_page(b, json_get(args, "cursor"), r);
    if (!p) return;
    const json_value *pv = json_get(args, "pattern");
    if (!pv) {
        fail_text(r, "find() missing 1 required positional argument: 'pattern'");
        return;
    }
    if (p->snippet_line) {
        fail_text(r, "Cannot run `find` on search results page or find results page");
        return;
    }
    int rc = ensure_lines(p);
    if (rc) {
        if (rc == -2) fail_text(r, "Page too long: it wraps to more than %zu lines.", MAX_LINES);
        else r->text.failed = 1;
        return;
    }
    gptoss_buf raw = {0}, pat = {0}, stripped = {0}, shown = {0}, line = {0};
    put_arg(&raw, pv);
    gptoss_py_lower_append(&pat, raw.data ? raw.data : "", raw.len);
    const char *pattern = gptoss_buf_cstr(&pat);
    strip_links(p->lines.text, p->lines.len, &stripped);
    const char *st = gptoss_buf_cstr(&stripped);
    page *np = calloc(1, sizeof *np);
    size_t *starts = NULL, n_lines = 1;
    if (!pattern || !st || !np) goto oom;
    for (size_t i = 0; i < stripped.len; i++) n_lines += st[i] == '\n';
    starts = malloc((n_lines + 1) * sizeof *starts);
    if (!starts) goto oom;
    starts[0] = 0;
    for (size_t i = 0, k = 1; i < stripped.len; i++)
        if (st[i] == '\n') starts[k++] = i + 1;
    starts[n_lines] = stripped.len + 1;
    np->urls = malloc(FIND_MAX_RESULTS * sizeof *np->urls);
    np->snippet_line = malloc(FIND_MAX_RESULTS * sizeof *np->snippet_line);
    if (!np->urls || !np->snippet_line) goto oom;
    size_t n_res = 0;
    for (size_t li = 0; li < n_lines;) {
        line.len = 0;
        gptoss_py_lower_append(&line, st + starts[li], starts[li + 1] - 1 - starts[li]);
        if (line.failed) goto oom;
        if (!(pat.len == 0 || (line.len >= pat.len && memmem(line.data, line.len, pattern, pat.len)))) {
            li++;
            continue;
        }
        if (n_res) gptoss_buf_append(&shown, "\n\n", 2);
        gptoss_buf_printf(&shown, "# %s%zu%smatch at L%zu%s\n", LB, n_res, DAG, li, RB);
        size_t last = li + FIND_SHOW_LINES < n_lines ? li + FIND_SHOW_LINES : n_lines;
        gptoss_buf_append(&shown, st + starts[li], starts[last] - 1 - starts[li]);
        np->urls[n_res] = strdup(p->url);
        if (!np->urls[n_res]) goto oom;
        np->snippet_line[n_res] = li;
        np->n_urls = ++n_res;
        if (n_res == FIND_MAX_RESULTS) break;
        li += FIND_SHOW_LINES;
    }
    if (!n_res) gptoss_buf_printf(&shown, "No `find` results for pattern: `%s`", pattern);
    gptoss_buf u = {0}, title = {0};
    gptoss_buf_puts(&u, p->url);
    gptoss_buf_puts(&u, "/find?pattern=");
    gptoss_url_quote(&u, pattern, pat.len);
    gptoss_buf_printf(&title, "Find results for text: `%s` in `%s`", pattern, p->title);
    const char *us = gptoss_buf_cstr(&u), *ts = gptoss_buf_cstr(&title), *ss = gptoss_buf_cstr(&shown);
    np->url = us ? strdup(us) : NULL;
    np->title = ts ? strdup(ts) : NULL;
    np->text = ss ? strdup(ss) : NULL;
    np->text_len = shown.len;
    gptoss_buf_free(&u);
    gptoss_buf_free(&title);
    if (!np->url || !np->title || !np->text) goto oom;
    if (!add_page(b, np)) {
        np = NULL;
        goto oom;
    }
    np = NULL;
    show_page(b, 0, -1, r);
    goto done;
oom:
    page_free(np);
    r->text.failed = 1;
done:
    free(starts);
    gptoss_buf_free(&raw);
    gptoss_buf_free(&pat);
    gptoss_buf_free(&stripped);
    gptoss_buf_free(&shown);
    gptoss_buf_free(&line);
}

/* ==== entry points ==== */

gptoss_status gptoss_browser_call(gptoss_browser *b, const char *function, const char *args, size_t args_len,
                                  char **reply_out, const char **author) {
    *reply_out = NULL;
    reply r = {{0}, 0};
    json_doc *doc = NULL;
    const json_value *a = NULL;
    static const json_value empty = {.type = JSON_OBJECT};
    if (!strcmp(function, "search")) *author = "browser.search";
    else if (!strcmp(function, "open")) *author = "browser.open";
    else if (!strcmp(function, "find")) *author = "browser.find";
    else *author = "browser";
    size_t k = 0;
    while (k < args_len && (args[k] == ' ' || args[k] == '\n' || args[k] == '\t' || args[k] == '\r')) k++;
    if (k == args_len) {
        a = &empty;
    } else {
        char err[256];
        doc = json_parse(args, args_len, err, sizeof err);
        a = doc ? json_root(doc) : NULL;
    }
    if (!a || a->type != JSON_OBJECT) gptoss_buf_puts(&r.text, "{\"error\": \"Invalid function arguments\"}");
    else if (!strcmp(function, "search")) do_search(b, a, &r);
    else if (!strcmp(function, "open")) do_open(b, a, &r);
    else if (!strcmp(function, "find")) do_find(b, a, &r);
    else gptoss_buf_printf(&r.text, "{\"error\": \"Unknown function: %s\"}", function);
    json_free(doc);
    const char *t = gptoss_buf_cstr(&r.text);
    if (!t) {
        gptoss_buf_free(&r.text);
        return GPTOSS_ERR_NO_MEMORY;
    }
    *reply_out = r.text.data;
    return GPTOSS_OK;
}

const char *gptoss_browser_citation_url(const gptoss_browser *b, const char *c, size_t n) {
    /* 【(\d+)†([^†】]+)(?:†[^†】]+)?】 */
    if (!at(c, n, 0, LB)) return NULL;
    size_t j = 3;
    unsigned long long cursor = 0;
    while (j < n && c[j] >= '0' && c[j] <= '9') {
        cursor = cursor * 10 + (unsigned)(c[j] - '0');
        if (cursor > MAX_STACK) return NULL;
        j++;
    }
    if (j == 3 || (j > 4 && c[3] == '0')) return NULL; /* str keys: "01" is not cursor 1 */
    if (!at(c, n, j, DAG)) return NULL;
    size_t k = not_dag_rb(c, n, j + 3);
    if (k == j + 3) return NULL;
    if (at(c, n, k, DAG)) {
        size_t q = not_dag_rb(c, n, k + 3);
        if (q == k + 3) return NULL;
        k = q;
    }
    if (!at(c, n, k, RB) || k + 3 != n) return NULL;
    if (cursor >= b->n_stack) return NULL;
    const char *url = b->pages[b->stack[cursor]]->url;
    return url[0] ? url : NULL;
}
