/* server_page.h: the chat page `gptoss serve` answers at / (its files in app/server/page/, built into
 * the binary by server_page_data.S): finding a file by its path, its Content-Type and ETag, and the
 * Content-Security-Policy every file is served with. */
#ifndef GPTOSS_SERVER_PAGE_H
#define GPTOSS_SERVER_PAGE_H

#include <stddef.h>

/* The page loads nothing but its own files and talks only to its own server; nothing may frame it
 * (its API key is in the origin's localStorage). */
#define SERVER_PAGE_CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

typedef struct server_page_file {
    const char *path;         /* as requested: "/", "/app.js", ... */
    const char *content_type; /* with its charset */
    const unsigned char *data;
    size_t n_bytes;
    const char *etag; /* quoted: "\"…\"" */
} server_page_file;

/* The file served at PATH (the request's path, no query), or NULL when the page has none there. */
const server_page_file *server_page_find(const char *path);

/* 1 when an If-None-Match header's value names FILE's ETag: the client's copy is current. */
int server_page_fresh(const server_page_file *file, const char *if_none_match);

#endif
