/* test_corpus.c: the browser tool's local corpus (src/tools/corpus*.c) without the command: FTS5
 * MATCH expressions from hostile queries, search and fetch through the backend's function pointers,
 * charset sniffing, the Markdown page, and damaged databases (random bytes, truncated, bytes flipped
 * all over a real one, foreign SQLite files) read with an error, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/common.h"
#include "tap.h"
#include "tools/corpus.h"
#include "tools/html_page.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) { /* xorshift64: the same damage on every run */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static char dir[] = "/tmp/test_corpus.XXXXXX";

static void path_of(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", dir, name); }

static int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}


static void match_exprs(void) {
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"hello world", "\"hello\" \"world\""},
        {"\"unbalanced", "\"unbalanced\""},
        {"pre* NEAR(a b) -x col:val", "\"pre\" \"NEAR\" \"a\" \"b\" \"x\" \"col\" \"val\""},
        {"AND OR NOT", "\"AND\" \"OR\" \"NOT\""},
        {"", ""},
        {"  ..,;:!?()\"*^-+ ", ""},
        {"caf\xC3\xA9 na\xC3\xAFve", "\"caf\xC3\xA9\" \"na\xC3\xAFve\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gptoss_buf b = {0};
        gptoss_corpus_match_expr(cases[i].q, " ", &b);
        const char *got = gptoss_buf_cstr(&b);
        tap_check(got && !strcmp(got, cases[i].want), "match expression of '%s': '%s'", cases[i].q, got ? got : "");
        gptoss_buf_free(&b);
    }
    char many[2000];
    size_t n = 0;
    for (int i = 0; i < 100; i++) n += (size_t)snprintf(many + n, sizeof many - n, "w%d ", i);
    gptoss_buf b = {0};
    gptoss_corpus_match_expr(many, " OR ", &b);
    const char *got = gptoss_buf_cstr(&b);
    size_t terms = 0;
    for (const char *p = got; p && (p = strstr(p, " OR ")); p += 4) terms++;
    tap_check(got && terms + 1 == GPTOSS_CORPUS_MAX_QUERY_TERMS, "a long query keeps %d terms (%zu)",
              GPTOSS_CORPUS_MAX_QUERY_TERMS, terms + 1);
    gptoss_buf_free(&b);
}

static void charsets(void) {
    char buf[64];
    static const char meta[] = "<html><head><meta charset=\"ISO-8859-1\"></head><body>caf\xE9</body></html>";
    static const char equiv[] = "<meta http-equiv='Content-Type' content='text/html; charset=koi8-r'>";
    static const char bogus[] = "<meta charset=\"no-such-charset\"><p>caf\xE9</p>";
    static const char utf8[] = "<p>caf\xC3\xA9</p>";
    static const char xml[] = "<?xml version=\"1.0\" encoding=\"iso-8859-15\"?><html/>";
    tap_check(!strcasecmp(gptoss_corpus_html_charset(meta, sizeof meta - 1, buf, sizeof buf), "ISO-8859-1"),
              "charset from <meta charset>");
    tap_check(!strcasecmp(gptoss_corpus_html_charset(equiv, sizeof equiv - 1, buf, sizeof buf), "koi8-r"),
              "charset from http-equiv Content-Type");
    tap_check(!strcmp(gptoss_corpus_html_charset(bogus, sizeof bogus - 1, buf, sizeof buf), "windows-1252"),
              "an unknown charset, bytes not UTF-8: windows-1252");
    tap_check(!strcmp(gptoss_corpus_html_charset(utf8, sizeof utf8 - 1, buf, sizeof buf), "utf-8"), "no charset, UTF-8");
    tap_check(!strcasecmp(gptoss_corpus_html_charset(xml, sizeof xml - 1, buf, sizeof buf), "iso-8859-15"),
              "charset from the XML declaration");
    size_t skip = gptoss_corpus_skip_xml_declaration(xml, sizeof xml - 1);
    tap_check(skip && !strcmp(xml + skip, "<html/>"), "the XML declaration is skipped");
    tap_check(gptoss_corpus_skip_xml_declaration("<?xml", 5) == 0, "an unterminated declaration is left alone");
}

static void markdown(void) {
    static const char md[] = "# T<i>tle\n\nSome *text* & [a link](other.md \"t\") `x<y`\n\n- one\n- two\n\n```\n<b>\n";
    gptoss_buf b = {0};
    gptoss_corpus_page_html(GPTOSS_CORPUS_MARKDOWN, "T<i>tle", md, sizeof md - 1, &b);
    const char *h = gptoss_buf_cstr(&b);
    tap_check(h && strstr(h, "<title>T&lt;i&gt;tle</title>") && strstr(h, "<h1>T&lt;i&gt;tle</h1>") &&
                  strstr(h, "<a href=\"other.md\">a link</a>") && strstr(h, "<code>x&lt;y</code>") &&
                  strstr(h, "<li>two") && strstr(h, "<pre>&lt;b&gt;\n</pre>") && strstr(h, "&amp;"),
              "Markdown page: headings, links, code, lists, an unclosed fence, all escaped");
    if (h && tap_n_failed) tap_diag("%s", h);
    gptoss_buf_free(&b);
    /* unbalanced brackets and every byte value: no read past the end (ASan) */
    char junk[512];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof junk; i++) junk[i] = "[]()!`<>#-*\n \\ab1."[rnd() % 18];
        gptoss_buf j = {0};
        gptoss_corpus_page_html(GPTOSS_CORPUS_MARKDOWN, "", junk, (size_t)(rnd() % sizeof junk), &j);
        gptoss_buf_free(&j);
    }
    tap_check(1, "random Markdown punctuation converts");
}

static int build_db(const char *path) {
    char err[256];
    gptoss_corpus_writer *w = NULL;
    if (gptoss_corpus_writer_create(path, NULL, &w, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "create: %s", err);
        return 0;
    }
    static const char a[] = "<html><head><title>Alpha guide</title></head><body><p>alpha alpha beta. "
                            "<a href='b.html'>to b</a></p></body></html>";
    static const char b[] = "<html><head><title>Beta</title></head><body><p>beta gamma alpha</p></body></html>";
    static const char t[] = "gamma delta \"quoted\" NEAR(x y) col:val -minus";
    static const char bin[] = "<html>\0\1\2";
    int ok = gptoss_corpus_writer_add(w, "a.html", GPTOSS_CORPUS_HTML, a, sizeof a - 1, err, sizeof err) == GPTOSS_OK &&
             gptoss_corpus_writer_add(w, "dir/b c.html", GPTOSS_CORPUS_HTML, b, sizeof b - 1, err, sizeof err) == GPTOSS_OK &&
             gptoss_corpus_writer_add(w, "t.txt", GPTOSS_CORPUS_TEXT, t, sizeof t - 1, err, sizeof err) == GPTOSS_OK;
    tap_check(ok, "three documents added (%s)", ok ? "" : err);
    gptoss_status s = gptoss_corpus_writer_add(w, "bin.html", GPTOSS_CORPUS_HTML, bin, sizeof bin - 1, err, sizeof err);
    tap_check(s == GPTOSS_ERR_FORMAT && strstr(err, "binary"), "a binary .html is skipped: %s", err);
    s = gptoss_corpus_writer_add(w, "e.html", GPTOSS_CORPUS_HTML, "   ", 3, err, sizeof err);
    tap_check(s == GPTOSS_ERR_FORMAT, "an empty HTML document is skipped: %s", err);
    s = gptoss_corpus_writer_finish(w, err, sizeof err);
    tap_check(s == GPTOSS_OK, "finish (%s)", s == GPTOSS_OK ? "" : err);
    return ok && s == GPTOSS_OK;
}

static void search_fetch(const char *db) {
    char err[512];
    gptoss_corpus *c = NULL;
    if (gptoss_corpus_open(db, &c, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "open %s: %s", db, err);
        return;
    }
    gptoss_browser_backend be;
    gptoss_corpus_backend(c, &be);
    gptoss_browser_result *r = NULL;
    size_t n = 0;
    int rc = be.search(be.ctx, "alpha", 10, &r, &n, err, sizeof err);
    tap_check(rc == 0 && n == 2 && !strcmp(r[0].title, "Alpha guide") && strstr(r[0].snippet, "alpha") &&
                  !strcmp(r[0].url, "https://corpus.invalid/a.html"),
              "search ranks the title match first, with a snippet (%zu results)", n);
    gptoss_browser_results_free(r, n);
    rc = be.search(be.ctx, "alpha nonexistentword", 10, &r, &n, err, sizeof err);
    tap_check(rc == 0 && n == 2, "no document has every term: any term, %zu results", n);
    gptoss_browser_results_free(r, n);
    static const char *hostile[] = {"\"", "*", "NEAR(", "-", ":", "col:val", "\"quoted", "a OR", "(((", "^x",
                                    "", "   ", "\xFF\xFE\x80", "NOT", "AND AND"};
    int all_ok = 1;
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        rc = be.search(be.ctx, hostile[i], 10, &r, &n, err, sizeof err);
        if (rc != 0) {
            tap_diag("query '%s': %s", hostile[i], err);
            all_ok = 0;
        }
        gptoss_browser_results_free(r, n);
    }
    tap_check(all_ok, "FTS5 syntax in queries is never an error");
    rc = be.search(be.ctx, "NEAR(x y) col:val", 10, &r, &n, err, sizeof err);
    tap_check(rc == 0 && n == 1 && strstr(r[0].url, "t.txt"), "operator words are searched as words");
    gptoss_browser_results_free(r, n);
    char *html = NULL;
    size_t len = 0;
    const char *cs = NULL;
    rc = be.fetch(be.ctx, "https://corpus.invalid/dir/b%20c.html#frag", &html, &len, &cs, err, sizeof err);
    tap_check(rc == 0 && html && strstr(html, "beta gamma"), "fetch by URL, fragment dropped");
    free(html);
    rc = be.fetch(be.ctx, "https://corpus.invalid/dir/b c.html", &html, &len, &cs, err, sizeof err);
    tap_check(rc == 0 && html, "fetch of an unquoted URL finds the quoted one");
    free(html);
    rc = be.fetch(be.ctx, "https://corpus.invalid/t.txt", &html, &len, &cs, err, sizeof err);
    tap_check(rc == 0 && html && strstr(html, "<pre>gamma delta &quot;quoted&quot;"), "text served in <pre>, escaped");
    free(html);
    rc = be.fetch(be.ctx, "https://corpus.invalid/missing.html", &html, &len, &cs, err, sizeof err);
    tap_check(rc != 0 && !strcmp(err, "No contents returned for https://corpus.invalid/missing.html"),
              "a missing URL: the reference's message (%s)", err);
    gptoss_corpus_close(c);
}

/* a damaged database: open fails with a message, or searches and fetches give errors; no crash */
static int survive(const char *path) {
    char err[512];
    gptoss_corpus *c = NULL;
    if (gptoss_corpus_open(path, &c, err, sizeof err) != GPTOSS_OK) return err[0] != 0;
    gptoss_browser_backend be;
    gptoss_corpus_backend(c, &be);
    static const char *qs[] = {"alpha", "beta gamma", "delta"};
    for (size_t i = 0; i < 3; i++) {
        gptoss_browser_result *r = NULL;
        size_t n = 0;
        be.search(be.ctx, qs[i], 20, &r, &n, err, sizeof err);
        gptoss_browser_results_free(r, n);
    }
    char *html = NULL;
    size_t len;
    const char *cs;
    be.fetch(be.ctx, "https://corpus.invalid/a.html", &html, &len, &cs, err, sizeof err);
    free(html);
    gptoss_corpus_close(c);
    return 1;
}

static void corrupt(const char *good) {
    char p[512], err[512];
    gptoss_corpus *c = NULL;
    path_of(p, sizeof p, "random.db");
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)rnd();
    write_file(p, junk, sizeof junk);
    tap_check(gptoss_corpus_open(p, &c, err, sizeof err) != GPTOSS_OK && strstr(err, "not a corpus database"),
              "random bytes: %s", err);
    path_of(p, sizeof p, "empty.db");
    write_file(p, "", 0);
    tap_check(gptoss_corpus_open(p, &c, err, sizeof err) != GPTOSS_OK, "an empty file: %s", err);
    tap_check(gptoss_corpus_open(dir, &c, err, sizeof err) != GPTOSS_OK, "a folder: %s", err);
    path_of(p, sizeof p, "none.db");
    tap_check(gptoss_corpus_open(p, &c, err, sizeof err) != GPTOSS_OK && access(p, F_OK) != 0,
              "a missing file is not created: %s", err);
    size_t len = 0;
    char *db = NULL, rerr[256];
    if (gptoss_read_file(good, (size_t)1 << 30, &db, &len, rerr, sizeof rerr) != GPTOSS_OK) db = NULL;
    if (!db || len < 4096) {
        tap_check(0, "read %s", good);
        free(db);
        return;
    }
    int ok = 1;
    for (size_t cut = 100; cut < len; cut += len / 7) {
        path_of(p, sizeof p, "cut.db");
        write_file(p, db, cut);
        ok &= survive(p);
    }
    tap_check(ok, "truncated databases give errors");
    ok = 1;
    for (int round = 0; round < 60; round++) {
        char *copy = malloc(len);
        memcpy(copy, db, len);
        /* keep the header's first page readable half the time, so the damage reaches b-tree pages */
        size_t from = round % 2 ? 4096 : 0;
        for (int k = 0; k < 1 + round % 16; k++) copy[from + rnd() % (len - from)] ^= (char)(1 + rnd() % 255);
        path_of(p, sizeof p, "flip.db");
        write_file(p, copy, len);
        ok &= survive(p);
        free(copy);
    }
    tap_check(ok, "databases with flipped bytes give errors or results, never a crash");
    free(db);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The backend's search alone over 1,000 pages of ~4 KB (what the model waits for on each
 * browser.search, apart from the page view): printed, asserted only against a hang guard. */
static void bench_search(void) {
    static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo", "kernel", "memory", "thread",
                                  "socket", "buffer", "parser", "token", "stream", "cache", "index", "query",
                                  "page", "layout", "render", "driver", "module", "compiler", "tango", "zulu"};
    const size_t nw = sizeof words / sizeof words[0];
    char p[512], err[256];
    path_of(p, sizeof p, "big.db");
    gptoss_corpus_writer *w = NULL;
    if (gptoss_corpus_writer_create(p, NULL, &w, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "bench create: %s", err);
        return;
    }
    gptoss_buf page = {0};
    int ok = 1;
    double t0 = now_ms();
    for (int i = 0; i < 1000 && ok; i++) {
        page.len = 0;
        gptoss_buf_printf(&page, "<html><head><title>Page %d %s</title></head><body>", i, words[i % nw]);
        for (int k = 0; k < 12; k++) {
            gptoss_buf_puts(&page, "<p>");
            for (int j = 0; j < 40; j++) gptoss_buf_printf(&page, "%s ", words[rnd() % nw]);
            gptoss_buf_printf(&page, "<a href='page%d.html'>next</a></p>", (i + k + 1) % 1000);
        }
        gptoss_buf_printf(&page, "<p>unique%d</p></body></html>", i);
        char name[32];
        snprintf(name, sizeof name, "page%d.html", i);
        ok = !page.failed &&
             gptoss_corpus_writer_add(w, name, GPTOSS_CORPUS_HTML, page.data, page.len, err, sizeof err) == GPTOSS_OK;
    }
    gptoss_buf_free(&page);
    if (!ok || gptoss_corpus_writer_finish(w, err, sizeof err) != GPTOSS_OK) {
        if (ok) w = NULL;
        gptoss_corpus_writer_free(w);
        tap_check(0, "bench build: %s", err);
        return;
    }
    double build_ms = now_ms() - t0;
    gptoss_corpus *c = NULL;
    if (gptoss_corpus_open(p, &c, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "bench open: %s", err);
        return;
    }
    gptoss_browser_backend be;
    gptoss_corpus_backend(c, &be);
    static const char *qs[] = {"kernel memory", "unique517", "page layout driver", "zulu", "alpha bravo charlie",
                               "compiler", "what is the socket buffer", "nothing matches this xyzzy"};
    enum { N_RUNS = 40 };
    double t[N_RUNS];
    size_t found = 0;
    for (int r = 0; r < N_RUNS; r++) {
        gptoss_browser_result *res = NULL;
        size_t n = 0;
        double a = now_ms();
        int rc = be.search(be.ctx, qs[r % 8], 20, &res, &n, err, sizeof err);
        t[r] = now_ms() - a;
        if (rc) tap_diag("search: %s", err);
        if (r % 8 == 1 && n && strstr(res[0].title, "Page 517 ")) found++;
        gptoss_browser_results_free(res, n);
    }
    qsort(t, N_RUNS, sizeof t[0], cmp_double);
    printf("# corpus of 1,000 HTML pages (~4 KB) built through the writer in %.0f ms\n", build_ms);
    printf("# backend search, 20 results with snippets, %d queries: median %.2f ms, max %.2f ms\n", N_RUNS,
           t[N_RUNS / 2], t[N_RUNS - 1]);
    tap_check(found == N_RUNS / 8, "unique517 ranks page 517 first");
    tap_check(t[N_RUNS / 2] < 2000.0 * tap_time_scale(), "searches answer within the hang guard");
    gptoss_corpus_close(c);
}

int main(void) {
    match_exprs();
    markdown();
    charsets();
    if (!gptoss_corpus_available() || !gptoss_html_page_available()) {
        tap_skip("corpus database", "built without SQLite (libsqlite3-dev) or libxml2 (libxml2-dev)");
        return tap_exit();
    }
    if (!mkdtemp(dir)) {
        tap_check(0, "mkdtemp");
        return tap_exit();
    }
    char db[512];
    path_of(db, sizeof db, "c.db");
    if (build_db(db)) {
        char err[256];
        gptoss_corpus_writer *w = NULL;
        tap_check(gptoss_corpus_writer_create(db, NULL, &w, err, sizeof err) != GPTOSS_OK,
                  "the writer refuses an existing file: %s", err);
        search_fetch(db);
        corrupt(db);
    }
    bench_search();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) tap_diag("could not remove %s", dir);
    return tap_exit();
}
