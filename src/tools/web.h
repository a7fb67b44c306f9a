/* web.h: the browser's web backend: search through a SearXNG server's JSON API, open http(s) pages
 * with libcurl under the address policy (tools/addr_policy.h), bounded in time, size and redirects. */
#ifndef GPTOSS_TOOLS_WEB_H
#define GPTOSS_TOOLS_WEB_H

#include <stddef.h>

#include "gptoss.h"
#include "tools/browser.h"

#define GPTOSS_WEB_MAX_REDIRECTS 5

typedef struct gptoss_web_options {
    /* SearXNG's search endpoint, e.g. "http://127.0.0.1:8888/search" (the JSON format must be enabled
     * in its settings.yml, search.formats); NULL: search answers that no search service is set. The
     * operator chose it, so it may be on a private or loopback address. */
    const char *search_url;
    int allow_private;        /* pages on private, loopback, link-local... addresses too */
    /* numeric addresses ("10.0.0.5", "fd00::7") pages may come from although the policy refuses
     * them: one internal host opened, the rest of the network still not */
    const char *const *allow_addresses;
    size_t n_allow_addresses;
    double connect_timeout_s; /* 0: 10 s; each connection, redirects included */
    double timeout_s;         /* 0: 30 s; a whole search or page fetch, redirects included */
    size_t max_page_bytes;    /* 0: 10 MiB of body (after gzip/deflate decoding) */
} gptoss_web_options;

typedef struct gptoss_web gptoss_web;

/* 1 when the library was built with libcurl (otherwise create says to install libcurl4-openssl-dev). */
int gptoss_web_available(void);

/* options may be NULL (defaults, no search service). On failure writes a one-line message into err. */
gptoss_status gptoss_web_create(const gptoss_web_options *options, gptoss_web **out, char *err, size_t err_size);
void gptoss_web_free(gptoss_web *web);

/* The backend for gptoss_browser_create; web must outlive the tools. Tools on several threads may
 * share one web (each fetch has its own connection; the charset it returns lives until the next
 * fetch on the same thread). */
gptoss_browser_backend gptoss_web_backend(gptoss_web *web);

#endif
