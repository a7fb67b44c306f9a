/* test_browser.c: the browser tool (src/tools/) without recorded data: input it must survive (corrupt
 * and binary HTML, an empty page, a page over the size limit, a page in another charset), the
 * reference's error texts for bad cursors, link ids and locations, the view window on a long page,
 * find, and citations mapped back to URLs. Needs the o200k vocabulary from the shared data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "tap.h"
#include "tools/browser.h"
#include "tools/html_page.h"

typedef struct fake {
    const char *url;
    char *html;
    size_t len;
    const char *charset;
} fake;

static fake pages[16];
static size_t n_pages;

static void add(const char *url, const char *html, size_t len, const char *charset) {
    pages[n_pages].url = url;
    pages[n_pages].html = malloc(len + 1);
    memcpy(pages[n_pages].html, html, len);
    pages[n_pages].html[len] = 0;
    pages[n_pages].len = len;
    pages[n_pages++].charset = charset;
}

static int fetch(void *ctx, const char *url, char **html, size_t *len, const char **charset, char *err,
                 size_t err_size) {
    (void)ctx;
    for (size_t i = 0; i < n_pages; i++)
        if (!strcmp(pages[i].url, url)) {
            *html = malloc(pages[i].len + 1);
            memcpy(*html, pages[i].html, pages[i].len + 1);
            *len = pages[i].len;
            *charset = pages[i].charset;
            return 0;
        }
    snprintf(err, err_size, "No contents returned for %s", url);
    return -1;
}

static int search(void *ctx, const char *query, size_t max, gptoss_browser_result **out, size_t *n, char *err,
                  size_t err_size) {
    (void)ctx;
    (void)max;
    (void)err;
    (void)err_size;
    *n = 0;
    *out = NULL;
    if (!strcmp(query, "nothing")) return 0;
    *out = calloc(2, sizeof **out);
    (*out)[0].url = strdup("https://a.example/one.html");
    (*out)[0].title = strdup("One");
    (*out)[0].snippet = strdup("the first page");
    (*out)[1].url = strdup("https://b.example/two.html");
    (*out)[1].title = strdup("Two");
    (*out)[1].snippet = strdup("the second page");
    *n = 2;
    return 0;
}

static char *call(gptoss_browser *b, const char *fn, const char *args) {
    char *reply = NULL;
    const char *author = NULL;
    if (gptoss_browser_call(b, fn, args, strlen(args), &reply, &author) != GPTOSS_OK) return strdup("<no reply>");
    return reply;
}

static void expect(gptoss_browser *b, const char *fn, const char *args, const char *want, const char *name) {
    char *r = call(b, fn, args);
    int ok = !strncmp(r, want, strlen(want));
    tap_check(ok, "%s", name);
    if (!ok) tap_diag("got: %.300s", r);
    free(r);
}

int main(void) {
    char vocab[4096];
    if (!tap_shared_path("browser tool", "vocab/o200k_base.tiktoken", vocab, sizeof vocab)) return 0;
    if (!gptoss_html_page_available()) {
        tap_skip("browser tool", "built without libxml2 (libxml2-dev)");
        return 0;
    }
    gptoss_tokenizer *tok = NULL;
    char err[512];
    if (gptoss_tokenizer_load(vocab, &tok, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "load %s: %s", vocab, err);
        return tap_exit();
    }
    /* pages */
    static const char good[] = "<html><head><title>Good page</title></head><body><h1>Title</h1>"
                               "<p>See <a href='other.html'>the other page</a> and "
                               "<a href='https://far.example/x'>far away</a> and <a href='#top'>top</a>."
                               "<img src='x.png' alt='a cat'><math><mi>x</mi></math>gone</p>"
                               "<p>Brackets \xE3\x80\x90not a link\xE3\x80\x91 stay text.</p></body></html>";
    add("https://site.example/dir/good.html", good, sizeof good - 1, NULL);
    static const char corrupt[] = "<html><body><p>unclosed <b>bold <a href=\"x\">link <table><tr><td>cell"
                                  "</p></div></span><<<>>> &bogus; &#xFFFFFFFF; &#0; <!-- unterminated";
    add("https://site.example/corrupt.html", corrupt, sizeof corrupt - 1, NULL);
    char binary[4096];
    for (size_t i = 0; i < sizeof binary; i++) binary[i] = (char)((i * 131 + 7) & 0xFF);
    add("https://site.example/binary.bin", binary, sizeof binary, NULL);
    add("https://site.example/empty.html", "", 0, NULL);
    add("https://site.example/blank.html", " \n\t ", 4, NULL);
    static const char latin1[] = "<html><head><title>Caf\xE9</title></head><body><p>cr\xE8me br\xFBl\xE9" "e</p></body></html>";
    add("https://site.example/latin1.html", latin1, sizeof latin1 - 1, "iso-8859-1");
    size_t big_len = (size_t)50 << 20;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) big[i] = "<p>lorem ipsum dolor</p>\n"[i % 25];
    add("https://site.example/big.html", big, big_len, NULL);
    free(big);
    gptoss_buf longp = {0};
    gptoss_buf_puts(&longp, "<html><body>");
    for (int i = 0; i < 2000; i++) gptoss_buf_printf(&longp, "<p>paragraph %d with some words in it</p>", i);
    gptoss_buf_puts(&longp, "</body></html>");
    add("https://site.example/long.html", gptoss_buf_cstr(&longp), longp.len, NULL);
    gptoss_buf_free(&longp);

    gptoss_browser_backend be = {NULL, search, fetch};
    gptoss_browser *b = NULL;
    tap_check(gptoss_browser_create(tok, &be, NULL, &b) == GPTOSS_OK, "create");

    expect(b, "open", "{\"id\": 1}", "No pages to access!", "open a link before any page: No pages to access!");
    expect(b, "find", "{\"pattern\": \"x\"}", "No pages to access!", "find before any page");
    expect(b, "open", "{\"id\": \"https://site.example/dir/good.html\"}",
           "[0] Good page (https://site.example/dir/good.html)\n**viewing lines [0 - ", "open a URL: header");
    char *r = call(b, "open", "{\"cursor\": 0, \"loc\": 0}");
    tap_check(strstr(r, "\xE3\x80\x90" "0\xE2\x80\xA0the other page\xE3\x80\x91") != NULL, "same-domain link marker");
    tap_check(strstr(r, "\xE3\x80\x90" "1\xE2\x80\xA0" "far away\xE2\x80\xA0" "far.example\xE3\x80\x91") != NULL,
              "other-domain link marker");
    tap_check(strstr(r, "[Image 0: a cat]") != NULL, "image placeholder");
    tap_check(strstr(r, "gone") == NULL && strstr(r, "<mi>") == NULL, "math removed with its tail");
    tap_check(strstr(r, "\xE3\x80\x96not a link\xE3\x80\x97") != NULL, "literal brackets escaped");
    tap_check(strstr(r, "# Title") != NULL && strstr(r, " top.") != NULL, "heading, fragment link as text");
    free(r);
    expect(b, "open", "{\"cursor\": 0, \"id\": 99}", "Invalid link id `99`.", "invalid link id");
    expect(b, "open", "{\"cursor\": 7, \"id\": 0}", "Cursor `7` is out of range. Available cursor indices: [0 - 1].",
           "cursor out of range");
    expect(b, "open", "{\"cursor\": -1000}", "Cursor `-1000` is out of range.", "negative cursor out of range");
    expect(b, "open", "{\"cursor\": -2, \"loc\": 1}", "[2] Good page", "negative cursor counts from the end");
    expect(b, "open", "{\"cursor\": 0, \"loc\": 100000}", "Invalid location parameter: `100000`. Cannot exceed page maximum of ",
           "location past the end");
    expect(b, "open", "{\"cursor\": \"x\"}", "`cursor` should be an integer, not `str`", "cursor of the wrong type");
    expect(b, "open", "{\"cursor\": 0, \"id\": 0}", "Error fetching URL `https://site.example/dir/other.html`: No contents returned for https://site.example/dir/other.html",
           "a link the backend cannot serve");
    expect(b, "open", "{\"id\": \"https://site.example/empty.html\"}",
           "Error fetching URL `https://site.example/empty.html`: Document is empty", "empty page: tool error");
    expect(b, "open", "{\"id\": \"https://site.example/blank.html\"}",
           "Error fetching URL `https://site.example/blank.html`: Document is empty", "blank page: tool error");
    expect(b, "open", "{\"id\": \"https://site.example/big.html\"}",
           "Error fetching URL `https://site.example/big.html`: Page too large", "50 MB page: tool error");
    expect(b, "open", "{\"id\": \"https://site.example/corrupt.html\"}", "[3] site.example (https://site.example/corrupt.html)",
           "corrupt HTML: a page view");
    expect(b, "open", "{\"id\": \"https://site.example/binary.bin\"}", "[4] ", "binary body: a page view");
    expect(b, "open", "{\"id\": \"https://site.example/latin1.html\"}",
           "[5] Caf\xC3\xA9 (https://site.example/latin1.html)", "latin-1 page converted to UTF-8");
    r = call(b, "open", "{\"id\": \"https://site.example/long.html\"}");
    tap_check(!strncmp(r, "[6] site.example (https://site.example/long.html)\n**viewing lines [0 - ", r ? 52 : 0) &&
                  strstr(r, "of 4000**") != NULL && strstr(r, "L4000:") == NULL,
              "long page: a window, not the whole page");
    free(r);
    expect(b, "open", "{\"loc\": 10, \"num_lines\": 3}",
           "[7] site.example (https://site.example/long.html)\n**viewing lines [10 - 12] of 4000**\n\nL10: ",
           "scroll with loc and num_lines");
    expect(b, "find", "{\"pattern\": \"PARAGRAPH 1999\"}",
           "[8] Find results for text: `paragraph 1999` in `site.example` (https://site.example/long.html/find?pattern=paragraph 1999)",
           "find lower-cases the pattern");
    expect(b, "find", "{\"pattern\": \"x\"}", "Cannot run `find` on search results page or find results page",
           "find on a find page");
    expect(b, "open", "{\"id\": 0}", "[9] site.example (https://site.example/long.html)\n**viewing lines [3996 - ",
           "a find result opens 4 lines above the match");
    expect(b, "find", "{\"pattern\": \"no such words\", \"cursor\": 6}",
           "[10] Find results for text: `no such words` in `site.example` (https://site.example/long.html/find?pattern=no such words)\n**viewing lines [0 - 0] of 0**\n\nL0: No `find` results for pattern: `no such words`",
           "find without results (the header shows the URL unquoted)");
    expect(b, "search", "{\"query\": \"pages\"}", "[11] pages\n**viewing lines [0 - ", "search: results page");
    r = call(b, "search", "{\"query\": \"pages\"}");
    tap_check(strstr(r, "\xE3\x80\x90" "1\xE2\x80\xA0Two\xE2\x80\xA0" "b.example\xE3\x80\x91 the second page") != NULL,
              "search result links");
    free(r);
    expect(b, "search", "{\"query\": \"nothing\"}", "[13] nothing\n**viewing lines [0 - 2] of 2**", "empty search");
    expect(b, "open", "{\"id\": 0}", "Invalid link id `0`.", "no link on an empty results page");
    expect(b, "open", "", "[14] nothing", "no arguments: the newest page again");
    expect(b, "open", "{not json", "{\"error\": \"Invalid function arguments\"}", "malformed arguments");

    static const char c0[] = "\xE3\x80\x90" "0\xE2\x80\xA0L1-L3\xE3\x80\x91", c6[] = "\xE3\x80\x90" "6\xE2\x80\xA0L2\xE3\x80\x91",
                      c13[] = "\xE3\x80\x90" "13\xE2\x80\xA0L0\xE3\x80\x91", c99[] = "\xE3\x80\x90" "99\xE2\x80\xA0L1\xE3\x80\x91";
    const char *u = gptoss_browser_citation_url(b, c0, sizeof c0 - 1);
    tap_check(u && !strcmp(u, "https://site.example/dir/good.html"), "citation -> the page's URL");
    u = gptoss_browser_citation_url(b, c6, sizeof c6 - 1);
    tap_check(u && !strcmp(u, "https://site.example/long.html"), "citation of another cursor");
    tap_check(gptoss_browser_citation_url(b, c13, sizeof c13 - 1) == NULL, "citation of a search page: no URL");
    tap_check(gptoss_browser_citation_url(b, c99, sizeof c99 - 1) == NULL, "citation of an unknown cursor");
    tap_check(gptoss_browser_citation_url(b, "L1-L3", 5) == NULL, "not a citation");

    gptoss_browser_free(b);
    gptoss_tokenizer_free(tok);
    for (size_t i = 0; i < n_pages; i++) free(pages[i].html);
    return tap_exit();
}
