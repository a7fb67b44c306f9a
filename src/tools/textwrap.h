/* textwrap.h: the browser tool's line split: the reference's wrap_lines, i.e. each "\n"-separated
 * line through Python's textwrap.wrap(width=80, replace_whitespace=False, drop_whitespace=False),
 * an empty line kept as one empty line. */
#ifndef GPTOSS_TOOLS_TEXTWRAP_H
#define GPTOSS_TOOLS_TEXTWRAP_H

#include <stddef.h>

/* The wrapped lines, stored joined by "\n" in text (so text is "\n".join(lines)); line i is
 * text[off[i] .. off[i + 1] - 1). */
typedef struct gptoss_lines {
    char *text;
    size_t len;
    size_t *off; /* n + 1 entries */
    size_t n;
} gptoss_lines;

/* 0 on success; -1 out of memory; -2 more than max_lines lines. */
int gptoss_wrap_lines(const char *text, size_t len, size_t width, size_t max_lines, gptoss_lines *out);
void gptoss_lines_free(gptoss_lines *lines);

#endif
