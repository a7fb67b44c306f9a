/* fuzz_html_page.c: libFuzzer target for the browser tool's page conversion (src/tools/html_page.c:
 * libxml2's HTML parser, the link/image/math rewriting, the html2text layout) and the line wrapping
 * of its result: arbitrary bytes as HTML must give either an error message or a page whose text is
 * valid UTF-8, starts with the URL line and whose link markers name ids below the link count; its
 * wrapped lines are valid UTF-8 too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "tools/html_page.h"
#include "tools/textwrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char url[] = "https://www.example.org/docs/page.html#part";
    gptoss_html_page page;
    char err[256];
    err[0] = 0;
    /* the first byte picks the charset, so iconv's path is fuzzed too */
    const char *charset = size && (data[0] & 1) ? "iso-8859-1" : NULL;
    if (gptoss_html_page_process((const char *)data, size, charset, url, NULL, 1, &page, err, sizeof err) != GPTOSS_OK) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
        return 0;
    }
    static const char head[] = "\nURL: https://www.example.org/docs/page.html#part\n";
    if (!page.text || page.text[page.text_len] != 0 || page.text_len < sizeof head - 1 ||
        memcmp(page.text, head, sizeof head - 1) || !json_utf8_valid(page.text, page.text_len) || !page.title ||
        !json_utf8_valid(page.title, strlen(page.title)))
        __builtin_trap();
    for (const char *p = strstr(page.text, "\xE3\x80\x90"); p; p = strstr(p + 3, "\xE3\x80\x90")) {
        char *end;
        unsigned long id = strtoul(p + 3, &end, 10);
        if (end > p + 3 && !strncmp(end, "\xE2\x80\xA0", 3) && id >= page.n_urls) __builtin_trap();
    }
    for (size_t i = 0; i < page.n_urls; i++)
        if (!page.urls[i] || !page.urls[i][0]) __builtin_trap();
    gptoss_lines lines;
    if (gptoss_wrap_lines(page.text, page.text_len, 80, (size_t)1 << 20, &lines) == 0) {
        /* wrapping splits lines and expands tabs: at least one line, never fewer bytes */
        if (!lines.n || lines.len < page.text_len || !json_utf8_valid(lines.text, lines.len)) __builtin_trap();
        gptoss_lines_free(&lines);
    }
    gptoss_html_page_free(&page);
    return 0;
}
