/* corpus.h: a local corpus for the browser tool: documentation files indexed into one SQLite
 * database with an FTS5 table (gptoss index), read back as a gptoss_browser_backend whose search is
 * BM25-ranked full-text search and whose fetch serves the stored pages. */
#ifndef GPTOSS_TOOLS_CORPUS_H
#define GPTOSS_TOOLS_CORPUS_H

#include <stddef.h>

#include "base/common.h"
#include "gptoss.h"
#include "tools/browser.h"

/* meta(key, value) of every corpus database: format = GPTOSS_CORPUS_FORMAT, version = the schema */
#define GPTOSS_CORPUS_FORMAT "gptoss-corpus"
#define GPTOSS_CORPUS_VERSION "1"
/* URLs of documents when no base URL is given: a name that never resolves (RFC 2606), in a scheme
 * that Python's urljoin resolves relative links in (a custom scheme such as corpus: is not in
 * urllib's uses_relative, so links between pages would not land on other corpus URLs) */
#define GPTOSS_CORPUS_DEFAULT_BASE "https://corpus.invalid/"
/* the largest document stored, and the longest search query used (longer ones are cut) */
#define GPTOSS_CORPUS_MAX_DOC_BYTES ((size_t)16 << 20)
#define GPTOSS_CORPUS_MAX_QUERY_TERMS 32

typedef enum gptoss_corpus_kind {
    GPTOSS_CORPUS_HTML = 0,     /* stored as read, with its charset: served as a fetched page would be */
    GPTOSS_CORPUS_MARKDOWN = 1, /* stored as UTF-8, served as simple HTML (corpus_page.c) */
    GPTOSS_CORPUS_TEXT = 2,     /* stored as UTF-8, served inside <pre> */
} gptoss_corpus_kind;

/* 1 when the library was built with SQLite (libsqlite3-dev); otherwise every function below fails
 * with GPTOSS_ERR_UNSUPPORTED and a message naming the package. */
int gptoss_corpus_available(void);

/* ---- reading (corpus.c) ---- */

typedef struct gptoss_corpus gptoss_corpus;

/* Opens path read-only and checks that it is a corpus database of this version; a file that is not
 * (or is damaged) is an error with a one-line message. */
gptoss_status gptoss_corpus_open(const char *path, gptoss_corpus **out, char *err, size_t err_size);
void gptoss_corpus_close(gptoss_corpus *corpus);
/* A backend over the corpus (ctx is the corpus: it must outlive the tool). A corpus holds prepared
 * statements and the last page's charset, so it serves one thread: a server opens one per worker
 * (opening is cheap: the file is read on demand). */
void gptoss_corpus_backend(gptoss_corpus *corpus, gptoss_browser_backend *out);
/* The FTS5 MATCH expression for a user's query: every run of letters and digits as a quoted term,
 * joined by `joiner` (" " for all terms, " OR " for any); "" when there is none. Never an FTS5
 * syntax error, whatever the query holds. */
void gptoss_corpus_match_expr(const char *query, const char *joiner, gptoss_buf *out);

/* ---- writing (corpus_index.c) ---- */

typedef struct gptoss_corpus_writer gptoss_corpus_writer;

/* Creates a new database at path (which must not exist) whose documents get base_url + the quoted
 * relative path as URL (base_url NULL: GPTOSS_CORPUS_DEFAULT_BASE). */
gptoss_status gptoss_corpus_writer_create(const char *path, const char *base_url, gptoss_corpus_writer **out,
                                          char *err, size_t err_size);
/* Adds the file at rel_path (relative to the indexed folder, "/"-separated) holding data[0..len).
 * GPTOSS_ERR_FORMAT or GPTOSS_ERR_OUT_OF_RANGE: the file is skipped, err says why (binary, too
 * large, an empty document); other failures are the database's. */
gptoss_status gptoss_corpus_writer_add(gptoss_corpus_writer *w, const char *rel_path, gptoss_corpus_kind kind,
                                       const char *data, size_t len, char *err, size_t err_size);
/* Commits, merges the FTS5 index and closes; w is freed whatever the result. */
gptoss_status gptoss_corpus_writer_finish(gptoss_corpus_writer *w, char *err, size_t err_size);
/* Abandons an unfinished database (the caller removes the file). */
void gptoss_corpus_writer_free(gptoss_corpus_writer *w);

/* ---- pages (corpus_page.c) ---- */

/* The HTML the tool gets for a stored Markdown or text document (UTF-8), appended to out. */
void gptoss_corpus_page_html(gptoss_corpus_kind kind, const char *title, const char *text, size_t len,
                             gptoss_buf *out);
/* Offset past a leading XML declaration (`<?xml ...?>`, after a UTF-8 byte order mark), else 0: the
 * page converter, like lxml, refuses a document that declares its encoding. */
size_t gptoss_corpus_skip_xml_declaration(const char *html, size_t len);
/* The charset of an HTML document: a byte order mark, else <meta charset> or http-equiv
 * Content-Type, else an XML declaration's encoding, among the first 4 KiB; an unknown or absent one
 * gives "utf-8" when the bytes are valid UTF-8, else "windows-1252" (what browsers assume). */
const char *gptoss_corpus_html_charset(const char *html, size_t len, char *buf, size_t buf_size);
/* 1 when data[0..len) is valid UTF-8. */
int gptoss_corpus_valid_utf8(const char *data, size_t len);

#endif
