/* html_page.h: one fetched page (or the search-results page) turned into what the browser tool shows:
 * the reference's process_html (gpt-oss simple_browser/page_contents.py). */
#ifndef GPTOSS_TOOLS_HTML_PAGE_H
#define GPTOSS_TOOLS_HTML_PAGE_H

#include <stddef.h>

#include "gptoss.h"

/* Largest HTML accepted (bytes, after conversion to UTF-8); a larger page is a tool error. */
#define GPTOSS_HTML_MAX_BYTES ((size_t)16 << 20)

typedef struct gptoss_html_page {
    char *title; /* <title>'s text, or the title given, or the URL's domain, or "" */
    char *text;  /* "\nURL: {url}\n" + the converted text */
    size_t text_len;
    char **urls; /* link id i (as the text shows it: 【i†...】) -> absolute URL */
    size_t n_urls;
} gptoss_html_page;

/* 1 when the library was built with libxml2 (otherwise process returns GPTOSS_ERR_UNSUPPORTED). */
int gptoss_html_page_available(void);

/* html[0..len) in `charset` (NULL or "utf-8": UTF-8; others converted with iconv), fetched from url
 * (fragment included; "" for a search page). title: the title to use, or NULL for the page's
 * <title>. display_urls: put "\nURL: {url}\n" in front of the text (the reference always does).
 * On failure returns a status and writes the reference's message (e.g. "Document is empty") into
 * err; *out is then empty. */
gptoss_status gptoss_html_page_process(const char *html, size_t len, const char *charset, const char *url,
                                       const char *title, int display_urls, gptoss_html_page *out, char *err,
                                       size_t err_size);
void gptoss_html_page_free(gptoss_html_page *page);

#endif
