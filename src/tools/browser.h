/* browser.h: the browser tool (gpt-oss's SimpleBrowserTool): search, open and find over pages from a
 * pluggable backend, with the reference's page stack, cursors, view window, texts and errors. */
#ifndef GPTOSS_TOOLS_BROWSER_H
#define GPTOSS_TOOLS_BROWSER_H

#include <stddef.h>

#include "gptoss.h"

/* One search result as a backend returns it. */
typedef struct gptoss_browser_result {
    char *url, *title, *snippet;
} gptoss_browser_result;

/* Where pages come from (a web search service, a local corpus, a replay of recorded pages). Each
 * function returns 0 on success; otherwise it writes a one-line message (what the tool reports to the
 * model after "Error fetching URL `...`: " or "Error during search for `...`: ") into err. */
typedef struct gptoss_browser_backend {
    void *ctx;
    /* Up to max_results results for query: *results (malloc'd array of malloc'd strings, freed by the
     * tool with gptoss_browser_results_free), *n_results. */
    int (*search)(void *ctx, const char *query, size_t max_results, gptoss_browser_result **results,
                  size_t *n_results, char *err, size_t err_size);
    /* The page at url (as the model gave it, fragment included): *html malloc'd (the tool frees it),
     * *len bytes, *charset a static or NULL string (NULL: UTF-8). */
    int (*fetch)(void *ctx, const char *url, char **html, size_t *len, const char **charset, char *err,
                 size_t err_size);
} gptoss_browser_backend;

void gptoss_browser_results_free(gptoss_browser_result *results, size_t n);

typedef struct gptoss_browser gptoss_browser;

typedef struct gptoss_browser_options {
    size_t view_tokens;        /* 0: 1024, the reference's default */
    size_t max_search_results; /* 0: 20 */
} gptoss_browser_options;

/* tokenizer: o200k (counts the view window); it and backend->ctx must outlive the tool. options may
 * be NULL. */
gptoss_status gptoss_browser_create(const gptoss_tokenizer *tokenizer, const gptoss_browser_backend *backend,
                                    const gptoss_browser_options *options, gptoss_browser **out);
void gptoss_browser_free(gptoss_browser *browser);

/* Runs browser.<function> with the JSON object args[0..args_len) (empty: no arguments). *reply
 * (malloc'd, NUL-terminated) is the text of the tool's message, a tool error included ("Invalid link
 * id `3`."); *author is its author name ("browser.open"), static. Returns GPTOSS_OK whenever a reply
 * was made; GPTOSS_ERR_NO_MEMORY otherwise. */
gptoss_status gptoss_browser_call(gptoss_browser *browser, const char *function, const char *args, size_t args_len,
                                  char **reply, const char **author);

/* The URL a citation 【{cursor}†L{a}-L{b}】 (or 【{cursor}†...】) points to: the page at that cursor of the
 * stack, NULL when the citation is malformed, the cursor unknown, or the page has no URL (a search
 * page). Valid until the next call. */
const char *gptoss_browser_citation_url(const gptoss_browser *browser, const char *citation, size_t len);

#endif
