/* url.h: the parts of Python's urllib.parse that the browser tool's reference uses on link targets,
 * with CPython 3.11's exact results: urljoin, the netloc of urlparse (get_domain), quote and unquote. */
#ifndef GPTOSS_TOOLS_URL_H
#define GPTOSS_TOOLS_URL_H

#include "base/common.h"

/* urljoin(base, url) appended to out; 0 where Python raises ValueError (an unbalanced "[" or "]" in
 * the netloc). */
int gptoss_url_join(const char *base, const char *url, gptoss_buf *out);
/* The reference's get_domain: urlparse(url).netloc, with "http://" put in front of a url that does
 * not contain "http". 0 where Python raises. */
int gptoss_url_domain(const char *url, gptoss_buf *out);
/* quote(s) (safe "/"): every byte but ASCII letters, digits, "_.-~/" as %XX. */
void gptoss_url_quote(gptoss_buf *out, const char *s, size_t n);
/* unquote(s): %XX escapes in ASCII runs decoded, the bytes read as UTF-8 with errors="replace". */
void gptoss_url_unquote(gptoss_buf *out, const char *s, size_t n);

#endif
