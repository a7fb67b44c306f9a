/* html2text.h: markup to text as the browser tool's reference does it: Python's html.parser
 * tokenizing lxml's serialization of the cleaned tree, and html2text 2025.4.15's layout with the
 * reference's settings (links, images, emphasis and tables ignored, no wrapping, unicode_snob). */
#ifndef GPTOSS_TOOLS_HTML2TEXT_H
#define GPTOSS_TOOLS_HTML2TEXT_H

#include <stddef.h>

#include "base/common.h"

/* Appends the text of markup s[0..n) (UTF-8) to out (what HTML2Text.handle returns, unstripped). */
void gptoss_html2text(const char *s, size_t n, gptoss_buf *out);

#endif
