/* corpus_index.c: writing a corpus database (corpus.h): the schema, and each file read into a
 * document: its URL, title, the bytes the browser tool will be served and the text FTS5 indexes
 * (for HTML, the page converter's own text, so that what search finds is what `open` shows). */
#include "tools/corpus.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tools/html_page.h"
#include "tools/url.h"

#ifdef GPTOSS_HAVE_SQLITE
#include <sqlite3.h>

struct gptoss_corpus_writer {
    sqlite3 *db;
    sqlite3_stmt *doc, *fts;
    char *base;
};

static const char schema[] =
    "PRAGMA journal_mode = OFF;" /* a new file in a staging folder: a failed run is thrown away whole */
    "PRAGMA synchronous = OFF;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE docs(id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, path TEXT NOT NULL,"
    " kind INTEGER NOT NULL, charset TEXT, title TEXT NOT NULL, body BLOB NOT NULL);"
    /* porter: "indexing" finds "indexed"; remove_diacritics: "cafe" finds "café" */
    "CREATE VIRTUAL TABLE fts USING fts5(title, text, tokenize = 'porter unicode61 remove_diacritics 2');"
    /* a match in the title counts four times one in the text */
    "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(4.0, 1.0)');"
    "INSERT INTO meta VALUES('format', '" GPTOSS_CORPUS_FORMAT "'), ('version', '" GPTOSS_CORPUS_VERSION "');"
    "BEGIN;";

static gptoss_status sql_fail(sqlite3 *db, char *err, size_t err_size, const char *what) {
    return gptoss_fail(sqlite3_errcode(db) == SQLITE_NOMEM ? GPTOSS_ERR_NO_MEMORY : GPTOSS_ERR_IO, err, err_size,
                       "%s: %s", what, sqlite3_errmsg(db));
}

gptoss_status gptoss_corpus_writer_create(const char *path, const char *base_url, gptoss_corpus_writer **out,
                                          char *err, size_t err_size) {
    *out = NULL;
    if (access(path, F_OK) == 0 || errno != ENOENT)
        return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: exists already", path);
    gptoss_corpus_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->base = strdup(base_url ? base_url : GPTOSS_CORPUS_DEFAULT_BASE))) {
        free(w);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    gptoss_status s = GPTOSS_OK;
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        s = w->db ? sql_fail(w->db, err, err_size, path) : gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    } else if (sqlite3_exec(w->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        s = sql_fail(w->db, err, err_size, "creating the corpus tables (does this SQLite have FTS5?)");
    } else if (sqlite3_prepare_v2(w->db,
                                  "INSERT INTO docs(url, path, kind, charset, title, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                                  -1, &w->doc, NULL) != SQLITE_OK ||
               sqlite3_prepare_v2(w->db, "INSERT INTO fts(rowid, title, text) VALUES(?1, ?2, ?3)", -1, &w->fts,
                                  NULL) != SQLITE_OK) {
        s = sql_fail(w->db, err, err_size, path);
    }
    if (s != GPTOSS_OK) {
        gptoss_corpus_writer_free(w);
        return s;
    }
    *out = w;
    return GPTOSS_OK;
}

void gptoss_corpus_writer_free(gptoss_corpus_writer *w) {
    if (!w) return;
    sqlite3_finalize(w->doc);
    sqlite3_finalize(w->fts);
    sqlite3_close(w->db);
    free(w->base);
    free(w);
}

gptoss_status gptoss_corpus_writer_finish(gptoss_corpus_writer *w, char *err, size_t err_size) {
    gptoss_status s = GPTOSS_OK;
    sqlite3_finalize(w->doc);
    sqlite3_finalize(w->fts);
    w->doc = w->fts = NULL;
    /* optimize merges the index's segments into one: every search reads one b-tree */
    if (sqlite3_exec(w->db, "COMMIT; INSERT INTO fts(fts) VALUES('optimize');", NULL, NULL, NULL) != SQLITE_OK)
        s = sql_fail(w->db, err, err_size, "writing the corpus");
    if (sqlite3_close(w->db) != SQLITE_OK && s == GPTOSS_OK)
        s = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "closing the corpus database: %s", sqlite3_errmsg(w->db));
    else w->db = NULL;
    gptoss_corpus_writer_free(w);
    return s;
}

/* data[0..len) from charset to UTF-8; undecodable bytes become U+FFFD */
static int to_utf8(const char *data, size_t len, const char *charset, gptoss_buf *out) {
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1) return 0;
    char *in = (char *)data;
    size_t left = len;
    char chunk[4096];
    while (left && !out->failed) {
        char *o = chunk;
        size_t room = sizeof chunk;
        size_t r = iconv(cd, &in, &left, &o, &room);
        gptoss_buf_append(out, chunk, (size_t)(o - chunk));
        if (r == (size_t)-1 && errno != E2BIG) {
            gptoss_buf_append(out, "\xEF\xBF\xBD", 3);
            in++;
            left--;
            iconv(cd, NULL, NULL, NULL, NULL);
        }
    }
    iconv_close(cd);
    return !out->failed;
}

/* Markdown and text as UTF-8: a byte order mark read and dropped; other bytes that are not UTF-8
 * read as windows-1252, what such files mostly are. */
static int text_utf8(const char *data, size_t len, gptoss_buf *out) {
    if (len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) data += 3, len -= 3;
    else if (len >= 2 && (!memcmp(data, "\xFF\xFE", 2) || !memcmp(data, "\xFE\xFF", 2)))
        return to_utf8(data, len, "UTF-16", out);
    if (gptoss_corpus_valid_utf8(data, len)) {
        gptoss_buf_append(out, data, len);
        return !out->failed;
    }
    return to_utf8(data, len, "WINDOWS-1252", out);
}

/* The converter's text without its link markers 【id†text】 / 【id†text†domain】: the index holds the
 * words a reader sees, and snippets do not show cursor-less link ids. */
static void strip_link_markers(const char *s, size_t n, gptoss_buf *out) {
    size_t i = 0, run = 0;
    while (i + 3 <= n) {
        if (memcmp(s + i, "\xE3\x80\x90", 3)) { /* 【 */
            i++;
            continue;
        }
        size_t k = i + 3;
        while (k < n && s[k] >= '0' && s[k] <= '9') k++;
        if (k == i + 3 || n - k < 3 || memcmp(s + k, "\xE2\x80\xA0", 3)) { /* † */
            i += 3;
            continue;
        }
        size_t t = k + 3, e = t;
        while (e + 3 <= n && memcmp(s + e, "\xE3\x80\x91", 3) && memcmp(s + e, "\xE2\x80\xA0", 3)) e++;
        size_t close = e;
        while (close + 3 <= n && memcmp(s + close, "\xE3\x80\x91", 3)) close++;
        if (close + 3 > n) break;
        gptoss_buf_append(out, s + run, i - run);
        gptoss_buf_append(out, s + t, e - t);
        i = run = close + 3;
    }
    gptoss_buf_append(out, s + run, n - run);
}

/* the first ATX heading of a Markdown file ("# Title"), outside code fences; "" if none */
static void markdown_title(const char *md, size_t len, gptoss_buf *out) {
    int fence = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(md + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - md) : len;
        const char *l = md + pos;
        size_t n = end - pos;
        pos = nl ? end + 1 : len;
        while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t')) n--;
        if (n >= 3 && (!memcmp(l, "```", 3) || !memcmp(l, "~~~", 3))) fence = !fence;
        if (fence || !n || l[0] != '#') continue;
        size_t h = 0;
        while (h < n && l[h] == '#') h++;
        if (h > 6 || (h < n && l[h] != ' ' && l[h] != '\t')) continue;
        while (n > h && (l[n - 1] == '#' || l[n - 1] == ' ')) n--;
        while (h < n && (l[h] == ' ' || l[h] == '\t')) h++;
        if (h < n) {
            gptoss_buf_append(out, l + h, n - h);
            return;
        }
    }
}

static int has_nul(const char *data, size_t len) { return memchr(data, 0, len) != NULL; }

gptoss_status gptoss_corpus_writer_add(gptoss_corpus_writer *w, const char *rel_path, gptoss_corpus_kind kind,
                                       const char *data, size_t len, char *err, size_t err_size) {
    if (len > GPTOSS_CORPUS_MAX_DOC_BYTES)
        return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "larger than %zu MiB",
                           GPTOSS_CORPUS_MAX_DOC_BYTES >> 20);
    if (len > INT32_MAX) return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "too large");
    gptoss_buf url = {0}, title = {0}, text = {0}, body = {0};
    char csbuf[64];
    const char *charset = NULL;
    gptoss_status s = GPTOSS_OK;
    gptoss_buf_puts(&url, w->base);
    gptoss_url_quote(&url, rel_path, strlen(rel_path));
    if (kind == GPTOSS_CORPUS_HTML) {
        charset = gptoss_corpus_html_charset(data, len, csbuf, sizeof csbuf);
        if (strcasecmp(charset, "UTF-16") && has_nul(data, len)) {
            s = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "binary (NUL bytes), not HTML");
            goto done;
        }
        gptoss_html_page hp;
        char perr[256];
        size_t skip = gptoss_corpus_skip_xml_declaration(data, len);
        /* url "": the title is <title>'s or none (not the domain), links need not resolve here */
        gptoss_status ps = gptoss_html_page_process(data + skip, len - skip, charset, "", NULL, 0, &hp, perr,
                                                    sizeof perr);
        if (ps != GPTOSS_OK) {
            s = gptoss_fail(ps == GPTOSS_ERR_NO_MEMORY ? ps : ps == GPTOSS_ERR_UNSUPPORTED ? ps : GPTOSS_ERR_FORMAT,
                            err, err_size, "%s", perr);
            goto done;
        }
        gptoss_buf_puts(&title, hp.title);
        strip_link_markers(hp.text, hp.text_len, &text);
        gptoss_html_page_free(&hp);
        gptoss_buf_append(&body, data, len); /* served as read: the tool converts it like a fetched page */
    } else {
        if (has_nul(data, len) && !(len >= 2 && (!memcmp(data, "\xFF\xFE", 2) || !memcmp(data, "\xFE\xFF", 2)))) {
            s = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "binary (NUL bytes), not text");
            goto done;
        }
        if (!text_utf8(data, len, &body)) goto oom;
        if (has_nul(body.data ? body.data : "", body.len)) {
            s = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "binary (NUL characters), not text");
            goto done;
        }
        const char *b = body.data ? body.data : "";
        if (kind == GPTOSS_CORPUS_MARKDOWN) markdown_title(b, body.len, &title);
        gptoss_html_page hp;
        gptoss_buf page = {0};
        char perr[256];
        const char *t0 = gptoss_buf_cstr(&title);
        if (kind == GPTOSS_CORPUS_MARKDOWN && t0) gptoss_corpus_page_html(kind, t0, b, body.len, &page);
        /* Markdown indexed as `open` shows it, so snippets carry no link targets or fences */
        if (page.len && !page.failed &&
            gptoss_html_page_process(page.data, page.len, NULL, "", NULL, 0, &hp, perr, sizeof perr) == GPTOSS_OK) {
            strip_link_markers(hp.text, hp.text_len, &text);
            gptoss_html_page_free(&hp);
        } else {
            gptoss_buf_append(&text, b, body.len);
        }
        gptoss_buf_free(&page);
    }
    if (!title.len) { /* no <title> or heading: the file's name tells more than nothing */
        const char *slash = strrchr(rel_path, '/');
        gptoss_buf_puts(&title, slash ? slash + 1 : rel_path);
    }
    const char *u = gptoss_buf_cstr(&url), *t = gptoss_buf_cstr(&title), *x = gptoss_buf_cstr(&text);
    if (!u || !t || !x || body.failed || body.len > INT32_MAX || text.len > INT32_MAX) goto oom;
    sqlite3_reset(w->doc);
    sqlite3_bind_text(w->doc, 1, u, (int)url.len, SQLITE_STATIC);
    sqlite3_bind_text(w->doc, 2, rel_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(w->doc, 3, (int)kind);
    if (charset) sqlite3_bind_text(w->doc, 4, charset, -1, SQLITE_STATIC);
    else sqlite3_bind_null(w->doc, 4);
    sqlite3_bind_text(w->doc, 5, t, (int)title.len, SQLITE_STATIC);
    sqlite3_bind_blob(w->doc, 6, body.data ? body.data : "", (int)body.len, SQLITE_STATIC);
    if (sqlite3_step(w->doc) != SQLITE_DONE) {
        s = sqlite3_extended_errcode(w->db) == SQLITE_CONSTRAINT_UNIQUE
                ? gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "its URL %s is another file's", u)
                : sql_fail(w->db, err, err_size, "writing the corpus");
        goto done;
    }
    sqlite3_reset(w->fts);
    sqlite3_bind_int64(w->fts, 1, sqlite3_last_insert_rowid(w->db));
    sqlite3_bind_text(w->fts, 2, t, (int)title.len, SQLITE_STATIC);
    sqlite3_bind_text(w->fts, 3, x, (int)text.len, SQLITE_STATIC);
    if (sqlite3_step(w->fts) != SQLITE_DONE) s = sql_fail(w->db, err, err_size, "writing the corpus index");
    goto done;
oom:
    s = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
done:
    if (w->doc) sqlite3_reset(w->doc);
    if (w->fts) sqlite3_reset(w->fts);
    gptoss_buf_free(&url);
    gptoss_buf_free(&title);
    gptoss_buf_free(&text);
    gptoss_buf_free(&body);
    return s;
}

#else /* without SQLite */

struct gptoss_corpus_writer {
    int unused;
};

gptoss_status gptoss_corpus_writer_create(const char *path, const char *base_url, gptoss_corpus_writer **out,
                                          char *err, size_t err_size) {
    (void)path;
    (void)base_url;
    *out = NULL;
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                       "this build has no SQLite: install libsqlite3-dev (Debian) and rebuild");
}

gptoss_status gptoss_corpus_writer_add(gptoss_corpus_writer *w, const char *rel_path, gptoss_corpus_kind kind,
                                       const char *data, size_t len, char *err, size_t err_size) {
    (void)w;
    (void)rel_path;
    (void)kind;
    (void)data;
    (void)len;
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "this build has no SQLite");
}

gptoss_status gptoss_corpus_writer_finish(gptoss_corpus_writer *w, char *err, size_t err_size) {
    (void)w;
    return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "this build has no SQLite");
}

void gptoss_corpus_writer_free(gptoss_corpus_writer *w) { (void)w; }

#endif
