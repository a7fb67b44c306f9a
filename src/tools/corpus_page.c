/* corpus_page.c: what a corpus document looks like to the browser tool and how its bytes are read:
 * Markdown turned into simple HTML (headings, paragraphs, lists, code blocks, links) and plain text
 * put in <pre>, so that the page converter lays them out like any page; the charset of an HTML file
 * as a browser would pick it; the XML declaration the converter refuses. Needs no SQLite. */
#include <iconv.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "tools/corpus.h"

int gptoss_corpus_valid_utf8(const char *data, size_t len) {
    const unsigned char *s = (const unsigned char *)data;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

size_t gptoss_corpus_skip_xml_declaration(const char *html, size_t len) {
    size_t i = len >= 3 && !memcmp(html, "\xEF\xBB\xBF", 3) ? 3 : 0;
    while (i < len && (html[i] == ' ' || html[i] == '\t' || html[i] == '\r' || html[i] == '\n')) i++;
    if (len - i < 5 || memcmp(html + i, "<?xml", 5)) return 0;
    for (size_t k = i + 5; k + 1 < len; k++)
        if (html[k] == '?' && html[k + 1] == '>') return k + 2;
    return 0;
}

static int name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == ':';
}

/* the value after `key` [spaces] = [spaces] [quote] in s[0..n), copied into buf; 0 if none */
static int value_after(const char *s, size_t n, const char *key, char *buf, size_t buf_size) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= n; i++) {
        if (strncasecmp(s + i, key, kl)) continue;
        size_t k = i + kl;
        while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r')) k++;
        if (k >= n || s[k] != '=') continue;
        k++;
        while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r')) k++;
        if (k < n && (s[k] == '"' || s[k] == '\'')) k++;
        size_t m = 0;
        while (k + m < n && name_char(s[k + m]) && m + 1 < buf_size) m++;
        if (!m) continue;
        memcpy(buf, s + k, m);
        buf[m] = 0;
        return 1;
    }
    return 0;
}

static int known_charset(const char *name) {
    iconv_t cd = iconv_open("UTF-8", name);
    if (cd == (iconv_t)-1) return 0;
    iconv_close(cd);
    return 1;
}

static int declared_charset(const char *html, size_t len, char *buf, size_t buf_size) {
    size_t n = len < 4096 ? len : 4096;
    for (size_t i = 0; i + 5 <= n; i++) {
        if (html[i] != '<' || strncasecmp(html + i, "<meta", 5)) continue;
        const char *gt = memchr(html + i, '>', n - i);
        size_t end = gt ? (size_t)(gt - html) : n;
        if (value_after(html + i, end - i, "charset", buf, buf_size)) return 1;
    }
    size_t x = len >= 3 && !memcmp(html, "\xEF\xBB\xBF", 3) ? 3 : 0;
    if (n - x >= 5 && !memcmp(html + x, "<?xml", 5)) {
        const char *gt = memchr(html + x, '>', n - x);
        size_t end = gt ? (size_t)(gt - html) : n;
        if (value_after(html + x, end - x, "encoding", buf, buf_size)) return 1;
    }
    return 0;
}

const char *gptoss_corpus_html_charset(const char *html, size_t len, char *buf, size_t buf_size) {
    if (len >= 3 && !memcmp(html, "\xEF\xBB\xBF", 3)) return "utf-8";
    /* "UTF-16" reads the byte order mark itself */
    if (len >= 2 && (!memcmp(html, "\xFF\xFE", 2) || !memcmp(html, "\xFE\xFF", 2))) return "UTF-16";
    if (buf_size > 1 && declared_charset(html, len, buf, buf_size)) {
        /* a page that says UTF-16 but has no byte order mark was read as ASCII to find that: it is not */
        if (strncasecmp(buf, "utf-16", 6) && strncasecmp(buf, "utf-32", 6) && known_charset(buf)) return buf;
    }
    return gptoss_corpus_valid_utf8(html, len) ? "utf-8" : "windows-1252";
}

/* ---- HTML for Markdown and text ---- */

static void escape_html(gptoss_buf *out, const char *s, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        case '\0': rep = "\xEF\xBF\xBD"; break;
        default: continue;
        }
        gptoss_buf_append(out, s + run, i - run);
        gptoss_buf_puts(out, rep);
        run = i + 1;
    }
    gptoss_buf_append(out, s + run, n - run);
}

/* the end of a bracketed span starting at s[i] == open (nesting counted), or n */
static size_t closing(const char *s, size_t i, size_t n, char open, char close) {
    int depth = 0;
    for (size_t k = i; k < n; k++) {
        if (s[k] == '\\' && k + 1 < n) {
            k++;
        } else if (s[k] == open) {
            depth++;
        } else if (s[k] == close && --depth == 0) {
            return k;
        }
    }
    return n;
}

/* One line's inline Markdown: `code`, [text](target), ![alt](src), <http://...>; the rest escaped.
 * Emphasis stays as written: the reference's page converter ignores emphasis anyway. */
static void inline_md(gptoss_buf *out, const char *s, size_t n) {
    size_t i = 0, run = 0;
    while (i < n) {
        if (s[i] == '`') {
            const char *e = memchr(s + i + 1, '`', n - i - 1);
            if (e) {
                escape_html(out, s + run, i - run);
                gptoss_buf_puts(out, "<code>");
                escape_html(out, s + i + 1, (size_t)(e - s) - i - 1);
                gptoss_buf_puts(out, "</code>");
                i = run = (size_t)(e - s) + 1;
                continue;
            }
        }
        int image = s[i] == '!' && i + 1 < n && s[i + 1] == '[';
        if (s[i] == '[' || image) {
            size_t lb = i + (size_t)image, rb = closing(s, lb, n, '[', ']');
            if (rb + 1 < n && s[rb + 1] == '(') {
                size_t rp = closing(s, rb + 1, n, '(', ')');
                if (rp < n) {
                    const char *t = s + rb + 2;
                    size_t tl = rp - rb - 2;
                    while (tl && *t == ' ') t++, tl--;
                    size_t ul = 0; /* the target ends at a space: [x](url "title") */
                    while (ul < tl && t[ul] != ' ') ul++;
                    if (ul >= 2 && t[0] == '<' && t[ul - 1] == '>') t++, ul -= 2;
                    escape_html(out, s + run, i - run);
                    if (image) {
                        gptoss_buf_puts(out, "<img src=\"");
                        escape_html(out, t, ul);
                        gptoss_buf_puts(out, "\" alt=\"");
                        escape_html(out, s + lb + 1, rb - lb - 1);
                        gptoss_buf_puts(out, "\">");
                    } else {
                        gptoss_buf_puts(out, "<a href=\"");
                        escape_html(out, t, ul);
                        gptoss_buf_puts(out, "\">");
                        inline_md(out, s + lb + 1, rb - lb - 1);
                        gptoss_buf_puts(out, "</a>");
                    }
                    i = run = rp + 1;
                    continue;
                }
            }
        }
        if (s[i] == '<' && (n - i > 8 && (!strncmp(s + i + 1, "http://", 7) || !strncmp(s + i + 1, "https://", 8)))) {
            const char *e = memchr(s + i, '>', n - i);
            if (e && !memchr(s + i, ' ', (size_t)(e - s) - i)) {
                escape_html(out, s + run, i - run);
                gptoss_buf_puts(out, "<a href=\"");
                escape_html(out, s + i + 1, (size_t)(e - s) - i - 1);
                gptoss_buf_puts(out, "\">");
                escape_html(out, s + i + 1, (size_t)(e - s) - i - 1);
                gptoss_buf_puts(out, "</a>");
                i = run = (size_t)(e - s) + 1;
                continue;
            }
        }
        i++;
    }
    escape_html(out, s + run, n - run);
}

static size_t indent_of(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    return i;
}

/* length of a list marker ("- ", "* ", "+ ", "12. ", "3) ") at s, else 0 */
static size_t list_marker(const char *s, size_t n) {
    if (n >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (s[1] == ' ' || s[1] == '\t')) return 2;
    size_t d = 0;
    while (d < n && d < 9 && s[d] >= '0' && s[d] <= '9') d++;
    if (d && d + 1 < n && (s[d] == '.' || s[d] == ')') && (s[d + 1] == ' ' || s[d + 1] == '\t')) return d + 2;
    return 0;
}

typedef enum { MD_NONE, MD_PARA, MD_LIST } md_block;

static void close_block(gptoss_buf *out, md_block *b) {
    if (*b == MD_PARA) gptoss_buf_puts(out, "</p>\n");
    if (*b == MD_LIST) gptoss_buf_puts(out, "</li></ul>\n");
    *b = MD_NONE;
}

static void markdown_body(gptoss_buf *out, const char *md, size_t len) {
    md_block b = MD_NONE;
    char fence = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(md + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - md) : len, next = nl ? end + 1 : len;
        const char *line = md + pos;
        size_t n = end - pos;
        if (n && line[n - 1] == '\r') n--;
        pos = next;
        size_t ind = indent_of(line, n);
        const char *t = line + ind;
        size_t tn = n - ind;
        int is_fence = ind < 4 && tn >= 3 && (!memcmp(t, "```", 3) || !memcmp(t, "~~~", 3));
        if (fence) {
            if (is_fence && t[0] == fence) {
                gptoss_buf_puts(out, "</pre>\n");
                fence = 0;
            } else {
                escape_html(out, line, n);
                gptoss_buf_puts(out, "\n");
            }
            continue;
        }
        if (is_fence) {
            close_block(out, &b);
            fence = t[0];
            gptoss_buf_puts(out, "<pre>");
            continue;
        }
        if (!tn) {
            close_block(out, &b);
            continue;
        }
        size_t h = 0;
        while (h < tn && h < 7 && t[h] == '#') h++;
        if (ind < 4 && h >= 1 && h <= 6 && (h == tn || t[h] == ' ' || t[h] == '\t')) {
            close_block(out, &b);
            size_t e = tn;
            while (e > h && (t[e - 1] == '#' || t[e - 1] == ' ' || t[e - 1] == '\t')) e--;
            size_t s = h;
            while (s < e && (t[s] == ' ' || t[s] == '\t')) s++;
            gptoss_buf_printf(out, "<h%zu>", h);
            inline_md(out, t + s, e - s);
            gptoss_buf_printf(out, "</h%zu>\n", h);
            continue;
        }
        size_t lm = list_marker(t, tn);
        if (lm) {
            if (b == MD_LIST) {
                gptoss_buf_puts(out, "</li>\n<li>");
            } else {
                close_block(out, &b);
                gptoss_buf_puts(out, "<ul>\n<li>");
                b = MD_LIST;
            }
            inline_md(out, t + lm, tn - lm);
            continue;
        }
        if (b == MD_NONE) {
            gptoss_buf_puts(out, "<p>");
            b = MD_PARA;
        } else {
            gptoss_buf_puts(out, "\n");
        }
        if (tn >= 2 && t[0] == '>' && b == MD_PARA) t++, tn--; /* a quoted line reads as its text */
        inline_md(out, t, tn);
    }
    if (fence) gptoss_buf_puts(out, "</pre>\n");
    close_block(out, &b);
}

void gptoss_corpus_page_html(gptoss_corpus_kind kind, const char *title, const char *text, size_t len,
                             gptoss_buf *out) {
    gptoss_buf_puts(out, "<html><head><title>");
    escape_html(out, title, strlen(title));
    gptoss_buf_puts(out, "</title></head><body>\n");
    if (kind == GPTOSS_CORPUS_MARKDOWN) {
        markdown_body(out, text, len);
    } else {
        gptoss_buf_puts(out, "<pre>");
        escape_html(out, text, len);
        gptoss_buf_puts(out, "</pre>\n");
    }
    gptoss_buf_puts(out, "</body></html>\n");
}
