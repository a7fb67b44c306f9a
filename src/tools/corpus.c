/* corpus.c: the browser tool's backend over a corpus database (corpus.h): search is FTS5 full-text
 * search ranked by BM25 with a snippet per result, fetch serves the stored document. The database is
 * opened read-only and everything read from it is checked, so a damaged or foreign file gives an
 * error message, never a crash. */
#include "tools/corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/url.h"

#define MAX_QUERY_BYTES 4096 /* of the user's query; the rest is not searched */
#define MAX_TERM_BYTES 128
#define SNIPPET_TOKENS 24

static int is_term_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void gptoss_corpus_match_expr(const char *query, const char *joiner, gptoss_buf *out) {
    size_t n = strlen(query), terms = 0;
    if (n > MAX_QUERY_BYTES) n = MAX_QUERY_BYTES;
    for (size_t i = 0; i < n && terms < GPTOSS_CORPUS_MAX_QUERY_TERMS;) {
        if (!is_term_byte((unsigned char)query[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && is_term_byte((unsigned char)query[j])) j++;
        size_t len = j - i;
        if (len > MAX_TERM_BYTES) { /* cut at a character boundary */
            len = MAX_TERM_BYTES;
            while (len && ((unsigned char)query[i + len] & 0xC0) == 0x80) len--;
        }
        /* inside "...", FTS5 reads every character as part of the string (a quote would be doubled,
         * but a term holds none): no operator, column filter or prefix can come from the user */
        if (terms++) gptoss_buf_puts(out, joiner);
        gptoss_buf_append(out, "\"", 1);
        gptoss_buf_append(out, query + i, len);
        gptoss_buf_append(out, "\"", 1);
        i = j;
    }
}

#ifdef GPTOSS_HAVE_SQLITE
#include <sqlite3.h>


struct gptoss_corpus {
    sqlite3 *db;
    sqlite3_stmt *search, *fetch;
    char charset[64]; /* the last fetched page's: the backend hands out a pointer that must stay valid */
};

int gptoss_corpus_available(void) { return 1; }

static gptoss_status db_fail(sqlite3 *db, const char *path, char *err, size_t err_size) {
    int code = sqlite3_errcode(db);
    const char *why = code == SQLITE_NOTADB || code == SQLITE_CORRUPT
                          ? "not a corpus database, or a damaged one (build one with gptoss index)"
                          : sqlite3_errmsg(db);
    return gptoss_fail(code == SQLITE_NOMEM ? GPTOSS_ERR_NO_MEMORY : GPTOSS_ERR_FORMAT, err, err_size, "%s: %s",
                       path, why);
}

gptoss_status gptoss_corpus_open(const char *path, gptoss_corpus **out, char *err, size_t err_size) {
    *out = NULL;
    struct stat st;
    /* sqlite would open a directory or a device and fail later with a vaguer message */
    if (stat(path, &st) != 0) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot open: no such file", path);
    if (!S_ISREG(st.st_mode)) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: not a regular file", path);
    gptoss_corpus *c = calloc(1, sizeof *c);
    if (!c) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    gptoss_status s = GPTOSS_OK;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        s = c->db ? db_fail(c->db, path, err, err_size)
                  : gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, 5000);
    sqlite3_stmt *meta = NULL;
    if (sqlite3_prepare_v2(c->db, "SELECT (SELECT value FROM meta WHERE key = 'format'), "
                                  "(SELECT value FROM meta WHERE key = 'version')", -1, &meta, NULL) != SQLITE_OK) {
        int code = sqlite3_errcode(c->db);
        s = code == SQLITE_ERROR ? gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                               "%s: not a corpus database (build one with gptoss index)", path)
                                 : db_fail(c->db, path, err, err_size);
        goto fail;
    }
    int rc = sqlite3_step(meta);
    const unsigned char *format = rc == SQLITE_ROW ? sqlite3_column_text(meta, 0) : NULL;
    const unsigned char *version = rc == SQLITE_ROW ? sqlite3_column_text(meta, 1) : NULL;
    if (rc != SQLITE_ROW) {
        s = db_fail(c->db, path, err, err_size);
    } else if (!format || strcmp((const char *)format, GPTOSS_CORPUS_FORMAT)) {
        s = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: not a corpus database (build one with gptoss index)",
                        path);
    } else if (!version || strcmp((const char *)version, GPTOSS_CORPUS_VERSION)) {
        s = gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                        "%s: corpus version %s, this gptoss reads version %s (index the folder again)", path,
                        version ? (const char *)version : "(none)", GPTOSS_CORPUS_VERSION);
    }
    sqlite3_finalize(meta);
    if (s != GPTOSS_OK) goto fail;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT d.url, d.title, s.snip FROM (SELECT rowid AS id, rank, snippet(fts, 1, '', '', "
                           "'\xE2\x80\xA6', " /* … */
                           "?3) AS snip FROM fts WHERE fts MATCH ?1 ORDER BY rank LIMIT ?2) AS s "
                           "JOIN docs AS d ON d.id = s.id ORDER BY s.rank",
                           -1, &c->search, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "SELECT kind, charset, title, body FROM docs WHERE url = ?1", -1, &c->fetch,
                           NULL) != SQLITE_OK) {
        s = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: not a corpus database of this version: %s", path,
                        sqlite3_errmsg(c->db));
        goto fail;
    }
    *out = c;
    return GPTOSS_OK;
fail:
    gptoss_corpus_close(c);
    return s;
}

void gptoss_corpus_close(gptoss_corpus *c) {
    if (!c) return;
    sqlite3_finalize(c->search);
    sqlite3_finalize(c->fetch);
    sqlite3_close(c->db);
    free(c);
}

static char *escaped_dup(const unsigned char *s) {
    gptoss_buf b = {0};
    for (const unsigned char *p = s ? s : (const unsigned char *)""; *p; p++) {
        switch (*p) {
        case '&': gptoss_buf_puts(&b, "&amp;"); break;
        case '<': gptoss_buf_puts(&b, "&lt;"); break;
        case '>': gptoss_buf_puts(&b, "&gt;"); break;
        case '\'': gptoss_buf_puts(&b, "&#39;"); break;
        case '"': gptoss_buf_puts(&b, "&quot;"); break;
        case '\n': case '\r': case '\t': gptoss_buf_append(&b, " ", 1); break;
        default: gptoss_buf_append(&b, p, 1);
        }
    }
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Runs the search statement with expr; appends the rows to *r. 0, or -1 with err. */
static int run_search(gptoss_corpus *c, const char *expr, size_t max, gptoss_browser_result **r, size_t *n,
                      char *err, size_t err_size) {
    sqlite3_stmt *st = c->search;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, expr, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    sqlite3_bind_int(st, 3, SNIPPET_TOKENS);
    int rc = SQLITE_DONE;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        gptoss_browser_result *x = &(*r)[*n];
        /* titles and snippets are text, and the tool puts them into its results page as HTML */
        x->url = escaped_dup(sqlite3_column_text(st, 0));
        x->title = escaped_dup(sqlite3_column_text(st, 1));
        x->snippet = escaped_dup(sqlite3_column_text(st, 2));
        ++*n;
        if (!x->url || !x->title || !x->snippet) {
            snprintf(err, err_size, "out of memory");
            sqlite3_reset(st);
            return -1;
        }
    }
    if (*n < max && rc != SQLITE_DONE) {
        snprintf(err, err_size, "the corpus database cannot be read: %s", sqlite3_errmsg(c->db));
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    return 0;
}

static int corpus_search(void *ctx, const char *query, size_t max, gptoss_browser_result **out, size_t *n_out,
                         char *err, size_t err_size) {
    gptoss_corpus *c = ctx;
    *out = NULL;
    *n_out = 0;
    if (!max) return 0;
    if (max > 1000) max = 1000;
    gptoss_buf all = {0}, any = {0};
    gptoss_corpus_match_expr(query, " ", &all);
    gptoss_corpus_match_expr(query, " OR ", &any);
    const char *ea = gptoss_buf_cstr(&all), *eo = gptoss_buf_cstr(&any);
    gptoss_browser_result *r = calloc(max, sizeof *r);
    int rc = 0;
    size_t n = 0;
    if (!r || !ea || !eo) {
        snprintf(err, err_size, "out of memory");
        rc = -1;
    } else if (*ea) {
        /* documents with every term first; a query that no document matches whole (a question in
         * words) falls back to any term, BM25 still putting those with more of them first */
        rc = run_search(c, ea, max, &r, &n, err, err_size);
        if (!rc && !n && strcmp(ea, eo)) rc = run_search(c, eo, max, &r, &n, err, err_size);
    }
    gptoss_buf_free(&all);
    gptoss_buf_free(&any);
    if (rc || !n) {
        gptoss_browser_results_free(r, n);
        return rc;
    }
    *out = r;
    *n_out = n;
    return 0;
}

/* Looks url up; 1 found (the row is current), 0 not, -1 a database error (in err). */
static int lookup(gptoss_corpus *c, const char *url, size_t len, char *err, size_t err_size) {
    sqlite3_reset(c->fetch);
    if (len > INT32_MAX) return 0;
    sqlite3_bind_text(c->fetch, 1, url, (int)len, SQLITE_TRANSIENT);
    int rc = sqlite3_step(c->fetch);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    snprintf(err, err_size, "the corpus database cannot be read: %s", sqlite3_errmsg(c->db));
    return -1;
}

/* The row of url: as given less its fragment, then with its path quoted as the index quotes it (a
 * link written "a b.html" or "a%20b.html" reaches the same page), then a folder's index.html. */
static int find_doc(gptoss_corpus *c, const char *url, char *err, size_t err_size) {
    size_t n = strcspn(url, "#");
    int f = lookup(c, url, n, err, err_size);
    if (f) return f;
    gptoss_buf raw = {0}, norm = {0};
    gptoss_url_unquote(&raw, url, n);
    const char *r = gptoss_buf_cstr(&raw);
    const char *sep = r ? strstr(r, "://") : NULL;
    if (sep) {
        const char *path = strchr(sep + 3, '/');
        size_t head = path ? (size_t)(path - r) : strlen(r);
        gptoss_buf_append(&norm, r, head);
        gptoss_url_quote(&norm, r + head, raw.len - head);
        const char *u = gptoss_buf_cstr(&norm);
        if (u && strcmp(u, url) && (f = lookup(c, u, norm.len, err, err_size)) == 0 && norm.len &&
            u[norm.len - 1] == '/') {
            gptoss_buf_puts(&norm, "index.html");
            u = gptoss_buf_cstr(&norm);
            if (u) f = lookup(c, u, norm.len, err, err_size);
        }
    }
    gptoss_buf_free(&raw);
    gptoss_buf_free(&norm);
    return f;
}

static int corpus_fetch(void *ctx, const char *url, char **html, size_t *len, const char **charset, char *err,
                        size_t err_size) {
    gptoss_corpus *c = ctx;
    *html = NULL;
    *len = 0;
    *charset = NULL;
    int f = find_doc(c, url, err, err_size);
    if (f <= 0) {
        /* the reference's backends' words for a page they cannot serve */
        if (!f) snprintf(err, err_size, "No contents returned for %s", url);
        sqlite3_reset(c->fetch);
        return -1;
    }
    sqlite3_stmt *st = c->fetch;
    sqlite3_int64 kind = sqlite3_column_int64(st, 0);
    const unsigned char *cs = sqlite3_column_text(st, 1), *title = sqlite3_column_text(st, 2);
    const char *body = sqlite3_column_blob(st, 3);
    size_t n = (size_t)sqlite3_column_bytes(st, 3);
    gptoss_buf page = {0};
    int rc = 0;
    if (!body) body = "";
    if (n > GPTOSS_CORPUS_MAX_DOC_BYTES) {
        snprintf(err, err_size, "the stored page is larger than %zu bytes", GPTOSS_CORPUS_MAX_DOC_BYTES);
        rc = -1;
    } else if (kind == GPTOSS_CORPUS_HTML) {
        size_t skip = gptoss_corpus_skip_xml_declaration(body, n);
        gptoss_buf_append(&page, body + skip, n - skip);
        size_t cl = cs ? strlen((const char *)cs) : 0;
        if (cl && cl < sizeof c->charset) {
            memcpy(c->charset, cs, cl + 1);
            *charset = c->charset;
        }
    } else if (kind == GPTOSS_CORPUS_MARKDOWN || kind == GPTOSS_CORPUS_TEXT) {
        gptoss_corpus_page_html((gptoss_corpus_kind)kind, title ? (const char *)title : "", body, n, &page);
    } else {
        snprintf(err, err_size, "the corpus database holds a document of unknown kind %lld", (long long)kind);
        rc = -1;
    }
    sqlite3_reset(st);
    if (!rc && !gptoss_buf_cstr(&page)) {
        snprintf(err, err_size, "out of memory");
        rc = -1;
    }
    if (rc) {
        gptoss_buf_free(&page);
        *charset = NULL;
        return -1;
    }
    *html = page.data;
    *len = page.len;
    return 0;
}

void gptoss_corpus_backend(gptoss_corpus *corpus, gptoss_browser_backend *out) {
    out->ctx = corpus;
    out->search = corpus_search;
    out->fetch = corpus_fetch;
}

#else /* without SQLite */

struct gptoss_corpus {
    int unused;
};

int gptoss_corpus_available(void) { return 0; }

gptoss_status gptoss_corpus_open(const char *path, gptoss_corpus **out, char *err, size_t err_size) {
    (void)path;
    *out = NULL;
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                       "this build has no SQLite: install libsqlite3-dev (Debian) and rebuild");
}

void gptoss_corpus_close(gptoss_corpus *corpus) { (void)corpus; }

void gptoss_corpus_backend(gptoss_corpus *corpus, gptoss_browser_backend *out) {
    (void)corpus;
    memset(out, 0, sizeof *out);
}

#endif
