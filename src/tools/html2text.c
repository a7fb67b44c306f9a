/* html2text.c: the second half of the reference's page conversion. The reference serializes the
 * cleaned lxml tree and hands the string to html2text, whose HTMLParser (CPython 3.11 html.parser,
 * convert_charrefs=False) cuts it into tags, data and character references; html2text turns those
 * events into Markdown-like text. This file replays both over libxml2's serialization of the same
 * tree: the tokenizer keeps html.parser's rules (tag and attribute syntax, script/style raw text,
 * comments, declarations, entity and character references, the three feed/close passes), and the
 * layout keeps html2text's state machine for the options the reference sets (ignore_links,
 * ignore_images, ignore_emphasis, ignore_tables, body_width 0, unicode_snob). The escaping that the
 * reference means to switch off is kept: its monkey-patch of html2text.utils does not reach the
 * names html2text imported, so escape_md_section still runs. */
#include "tools/html2text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/html_text.h"
#include "tools/pytext.h"

#define MAX_LISTS 4096

typedef struct list_elem {
    int ol;
    long long num;
} list_elem;

typedef struct abbr_def {
    char *abbr, *title;
} abbr_def;

typedef struct h2t {
    gptoss_buf out;
    int lastWasNL;
    int quiet, p_p, start, space, blockquote, pre, startpre, code, quote, lastWasList;
    int stressed, preceding_stressed;
    const char *br_toggle;
    gptoss_buf pre_indent, list_code_indent, current_tag, preceding_data;
    list_elem *lists;
    size_t n_lists, cap_lists;
    int has_abbr_title, has_abbr_data;
    gptoss_buf abbr_title, abbr_data;
    abbr_def *abbrs;
    size_t n_abbrs;
    /* tokenizer */
    const char *raw;
    size_t n, pos;
    char cdata_elem[8]; /* "script" or "style" while in raw-text mode, else "" */
} h2t;

static const char *cs(gptoss_buf *b) {
    const char *s = gptoss_buf_cstr(b);
    return s ? s : "";
}

static void out_s(h2t *h, const char *s, size_t n) {
    gptoss_buf_append(&h->out, s, n);
    if (n) h->lastWasNL = s[n - 1] == '\n';
}

/* ==== html2text's output primitives ==== */

static void pbr(h2t *h) {
    if (h->p_p == 0) h->p_p = 1;
}
static void para(h2t *h) { h->p_p = 2; }
static void soft_br(h2t *h) {
    pbr(h);
    h->br_toggle = "  ";
}

enum { FORCE_NO = 0, FORCE_YES = 1, FORCE_END = 2 };

/* HTML2Text.o */
static void emit(h2t *h, const char *data_in, size_t n_in, int puredata, int force) {
    if (h->has_abbr_data) gptoss_buf_append(&h->abbr_data, data_in, n_in);
    if (h->quiet) return;
    gptoss_buf data = {0};
    if (puredata && !h->pre) { /* re.sub(r"\s+", " ", data), then a leading space becomes self.space */
        gptoss_page_merge_whitespace(data_in, n_in, &data);
        if (data.len && data.data[0] == ' ') {
            h->space = 1;
            memmove(data.data, data.data + 1, --data.len);
        }
    } else {
        gptoss_buf_append(&data, data_in, n_in);
    }
    if (!data.len && !force) {
        gptoss_buf_free(&data);
        return;
    }
    if (h->startpre) {
        if (!(data.len >= 1 && data.data[0] == '\n') && !(data.len >= 2 && !memcmp(data.data, "\r\n", 2))) {
            gptoss_buf t = {0};
            gptoss_buf_append(&t, "\n", 1);
            gptoss_buf_append(&t, data.data, data.len);
            gptoss_buf_free(&data);
            data = t;
        }
    }
    gptoss_buf bq = {0};
    for (int i = 0; i < h->blockquote; i++) gptoss_buf_append(&bq, ">", 1);
    if (!(force && data.len && data.data[0] == '>') && h->blockquote) gptoss_buf_append(&bq, " ", 1);
    if (h->pre) {
        if (h->n_lists) gptoss_buf_append(&bq, h->list_code_indent.data, h->list_code_indent.len);
        gptoss_buf_append(&bq, "    ", 4);
        gptoss_buf t = {0};
        for (size_t i = 0; i < data.len; i++) {
            gptoss_buf_append(&t, data.data + i, 1);
            if (data.data[i] == '\n') gptoss_buf_append(&t, bq.data, bq.len);
        }
        gptoss_buf_free(&data);
        data = t;
        h->pre_indent.len = 0;
        gptoss_buf_append(&h->pre_indent, bq.data, bq.len);
    }
    if (h->startpre) {
        h->startpre = 0;
        if (h->n_lists) { /* data.lstrip("\n" + pre_indent): a set of characters */
            size_t k = 0;
            while (k < data.len && (data.data[k] == '\n' || memchr(h->pre_indent.data ? h->pre_indent.data : "",
                                                                     data.data[k], h->pre_indent.len)))
                k++;
            memmove(data.data, data.data + k, data.len - k);
            data.len -= k;
        }
    }
    if (h->start) {
        h->space = 0;
        h->p_p = 0;
        h->start = 0;
    }
    if (force == FORCE_END) {
        h->p_p = 0;
        out_s(h, "\n", 1);
        h->space = 0;
    }
    if (h->p_p) {
        for (int k = 0; k < h->p_p; k++) {
            out_s(h, h->br_toggle, strlen(h->br_toggle));
            out_s(h, "\n", 1);
            out_s(h, bq.data ? bq.data : "", bq.len);
        }
        h->space = 0;
        h->br_toggle = "";
    }
    if (h->space) {
        if (!h->lastWasNL) out_s(h, " ", 1);
        h->space = 0;
    }
    if (h->n_abbrs && force == FORCE_END)
        for (size_t k = 0; k < h->n_abbrs; k++) {
            out_s(h, "  *[", 4);
            out_s(h, h->abbrs[k].abbr, strlen(h->abbrs[k].abbr));
            out_s(h, "]: ", 3);
            out_s(h, h->abbrs[k].title, strlen(h->abbrs[k].title));
            out_s(h, "\n", 1);
        }
    h->p_p = 0;
    out_s(h, data.data ? data.data : "", data.len);
    gptoss_buf_free(&data);
    gptoss_buf_free(&bq);
}

static void emit_s(h2t *h, const char *s) { emit(h, s, strlen(s), 0, FORCE_NO); }

/* ==== escape_md_section (snob off) ==== */

static int is_md_slash_char(char c) { return c && strchr("\\`*_{}[]()#+-.!", c) != NULL; }

/* 1 when the whitespace run that ends at `end` (exclusive) starts at a line start: Python's
 * ^\s* in MULTILINE mode reaching `end`. */
static int line_start_ws(const char *s, size_t end) {
    size_t i = end;
    while (i > 0) {
        size_t st;
        uint32_t cp = gptoss_py_prev(s, i, &st);
        if (!gptoss_py_is_space(cp)) return 0;
        if (cp == '\n') return 1;
        i = st;
    }
    return 1;
}

static void escape_md_section(const char *s, size_t n, gptoss_buf *o) {
    gptoss_buf a = {0};
    /* (\\)(?=[\\`*_{}[]()#+-.!]) -> \\\\ */
    for (size_t i = 0; i < n; i++) {
        gptoss_buf_append(&a, s + i, 1);
        if (s[i] == '\\' && i + 1 < n && is_md_slash_char(s[i + 1])) gptoss_buf_append(&a, "\\", 1);
    }
    const char *t = a.data ? a.data : "";
    size_t m = a.len;
    for (size_t i = 0; i < m;) {
        size_t at = i;
        uint32_t cp = gptoss_py_next(t, m, &i);
        int esc = 0;
        if (cp == '.' && i < m) { /* ^(\s*\d+)(\.)(?=\s) */
            size_t k = i;
            if (gptoss_py_is_space(gptoss_py_next(t, m, &k))) {
                size_t d = at, st;
                int digits = 0;
                while (d > 0) {
                    uint32_t c = gptoss_py_prev(t, d, &st);
                    if (!gptoss_py_is_decimal(c)) break;
                    d = st;
                    digits = 1;
                }
                esc = digits && line_start_ws(t, d);
            }
        } else if ((cp == '+' || cp == '-') && i < m) { /* ^(\s*)(\+)(?=\s), ^(\s*)(-)(?=\s|\-) */
            size_t k = i;
            uint32_t nx = gptoss_py_next(t, m, &k);
            esc = (gptoss_py_is_space(nx) || (cp == '-' && nx == '-')) && line_start_ws(t, at);
        }
        if (esc) gptoss_buf_append(o, "\\", 1);
        gptoss_buf_append(o, t + at, i - at);
    }
    gptoss_buf_free(&a);
}

/* ==== html2text's handlers ==== */

static void handle_data(h2t *h, const char *s, size_t n, int entity_char) {
    if (!n) return;
    gptoss_buf d = {0};
    if (h->stressed) {
        size_t b, e;
        gptoss_py_strip(s, n, &b, &e);
        gptoss_buf_append(&d, s + b, e - b);
        h->stressed = 0;
        h->preceding_stressed = 1;
    } else {
        if (h->preceding_stressed) {
            size_t k = 0;
            uint32_t c0 = gptoss_py_next(s, n, &k);
            const char *tag = cs(&h->current_tag);
            int hn = tag[0] == 'h' && tag[1] >= '1' && tag[1] <= '9' && !tag[2];
            if (!gptoss_py_is_space(c0) && !(c0 < 0x80 && strchr("][(){}.!?", (int)c0)) && !hn &&
                strcmp(tag, "a") && strcmp(tag, "code") && strcmp(tag, "pre"))
                gptoss_buf_append(&d, " ", 1);
            h->preceding_stressed = 0;
        }
        gptoss_buf_append(&d, s, n);
    }
    gptoss_buf e = {0};
    if (!h->code && !h->pre && !entity_char) escape_md_section(d.data ? d.data : "", d.len, &e);
    else gptoss_buf_append(&e, d.data, d.len);
    h->preceding_data.len = 0;
    gptoss_buf_append(&h->preceding_data, e.data, e.len);
    emit(h, e.data ? e.data : "", e.len, 1, FORCE_NO);
    gptoss_buf_free(&d);
    gptoss_buf_free(&e);
}

/* int(value) - 1 as list_numbering_start does, 0 where int() fails */
static long long numbering_start(const char *v) {
    if (!v) return 0;
    size_t n = strlen(v), b, e;
    gptoss_py_strip(v, n, &b, &e);
    const char *p = v + b, *end = v + e;
    int neg = 0;
    if (p < end && (*p == '+' || *p == '-')) neg = *p++ == '-';
    if (p >= end) return 0;
    long long x = 0;
    int prev_digit = 0;
    for (; p < end; p++) {
        if (*p >= '0' && *p <= '9') {
            if (x > (INT64_MAX - 9) / 10) return 0;
            x = x * 10 + (*p - '0');
            prev_digit = 1;
        } else if (*p == '_' && prev_digit && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
            prev_digit = 0;
        } else {
            return 0;
        }
    }
    return (neg ? -x : x) - 1;
}

static void abbr_record(h2t *h) {
    const char *key = cs(&h->abbr_data), *val = cs(&h->abbr_title);
    for (size_t i = 0; i < h->n_abbrs; i++)
        if (!strcmp(h->abbrs[i].abbr, key)) {
            char *t = strdup(val);
            if (t) {
                free(h->abbrs[i].title);
                h->abbrs[i].title = t;
            }
            return;
        }
    if (h->n_abbrs >= 65536) return;
    abbr_def *na = realloc(h->abbrs, (h->n_abbrs + 1) * sizeof *na);
    if (!na) return;
    h->abbrs = na;
    char *k = strdup(key), *t = strdup(val);
    if (!k || !t) {
        free(k);
        free(t);
        return;
    }
    h->abbrs[h->n_abbrs].abbr = k;
    h->abbrs[h->n_abbrs++].title = t;
}

static void handle_tag(h2t *h, const char *tag, const char *attr_start, const char *attr_title, int has_title,
                       int start) {
    h->current_tag.len = 0;
    gptoss_buf_puts(&h->current_tag, tag);
    int hn = tag[0] == 'h' && tag[1] >= '1' && tag[1] <= '9' && !tag[2];
    if (hn) {
        para(h);
        if (start) {
            char marks[12];
            int k = tag[1] - '0';
            memset(marks, '#', (size_t)k);
            marks[k] = ' ';
            emit(h, marks, (size_t)k + 1, 0, FORCE_NO);
        } else {
            return;
        }
    }
    if (!strcmp(tag, "p") || !strcmp(tag, "div")) para(h);
    if (!strcmp(tag, "br") && start) emit_s(h, h->blockquote > 0 ? "  \n> " : "  \n");
    if (!strcmp(tag, "hr") && start) {
        para(h);
        emit_s(h, "* * *");
        para(h);
    }
    if (!strcmp(tag, "head") || !strcmp(tag, "style") || !strcmp(tag, "script")) h->quiet += start ? 1 : -1;
    if (!strcmp(tag, "body")) h->quiet = 0;
    if (!strcmp(tag, "blockquote")) {
        if (start) {
            para(h);
            emit(h, "> ", 2, 0, FORCE_YES);
            h->start = 1;
            h->blockquote++;
        } else {
            h->blockquote--;
            para(h);
        }
    }
    if (!strcmp(tag, "del") || !strcmp(tag, "strike") || !strcmp(tag, "s")) {
        if (start && h->preceding_data.len && h->preceding_data.data[h->preceding_data.len - 1] == '~') {
            emit_s(h, " ~~");
            gptoss_buf_append(&h->preceding_data, " ", 1);
        } else {
            emit_s(h, "~~");
        }
        if (start) h->stressed = 1;
    }
    if ((!strcmp(tag, "kbd") || !strcmp(tag, "code") || !strcmp(tag, "tt")) && !h->pre) {
        emit_s(h, "`");
        h->code = !h->code;
    }
    if (!strcmp(tag, "abbr")) {
        if (start) {
            h->has_abbr_title = 0;
            h->abbr_title.len = 0;
            h->has_abbr_data = 1;
            h->abbr_data.len = 0;
            if (has_title && attr_title) {
                h->has_abbr_title = 1;
                gptoss_buf_puts(&h->abbr_title, attr_title);
            }
        } else {
            if (h->has_abbr_title) {
                abbr_record(h);
                h->has_abbr_title = 0;
            }
            h->has_abbr_data = 0;
            h->abbr_data.len = 0;
        }
    }
    if (!strcmp(tag, "q")) {
        emit_s(h, "\"");
        h->quote = !h->quote;
    }
    if (!strcmp(tag, "dl") && start) para(h);
    if (!strcmp(tag, "dt") && !start) pbr(h);
    if (!strcmp(tag, "dd") && start) emit_s(h, "    ");
    if (!strcmp(tag, "dd") && !start) pbr(h);
    if (!strcmp(tag, "ol") || !strcmp(tag, "ul")) {
        if (!h->n_lists && !h->lastWasList) para(h);
        if (start) {
            if (h->n_lists == h->cap_lists && h->n_lists < MAX_LISTS) {
                size_t cap = h->cap_lists ? h->cap_lists * 2 : 16;
                list_elem *nl = realloc(h->lists, cap * sizeof *nl);
                if (nl) {
                    h->lists = nl;
                    h->cap_lists = cap;
                }
            }
            if (h->n_lists < h->cap_lists) {
                h->lists[h->n_lists].ol = !strcmp(tag, "ol");
                h->lists[h->n_lists++].num = numbering_start(attr_start);
            }
        } else if (h->n_lists) {
            h->n_lists--;
            if (!h->n_lists) emit_s(h, "\n");
        }
        h->lastWasList = 1;
    } else {
        h->lastWasList = 0;
    }
    if (!strcmp(tag, "li")) {
        h->list_code_indent.len = 0;
        pbr(h);
        if (start) {
            list_elem tmp = {0, 0}, *li = h->n_lists ? &h->lists[h->n_lists - 1] : &tmp;
            int parent_ol = 0;
            for (size_t i = 0; i < h->n_lists; i++) {
                gptoss_buf_puts(&h->list_code_indent, parent_ol ? "   " : "  ");
                parent_ol = h->lists[i].ol;
            }
            emit(h, cs(&h->list_code_indent), h->list_code_indent.len, 0, FORCE_NO);
            if (!li->ol) {
                gptoss_buf_puts(&h->list_code_indent, "  ");
                emit_s(h, "* ");
            } else {
                li->num++;
                gptoss_buf_puts(&h->list_code_indent, "   ");
                char num[32];
                snprintf(num, sizeof num, "%lld. ", li->num);
                emit_s(h, num);
            }
            h->start = 1;
        }
    }
    if (!strcmp(tag, "tr") && !start) soft_br(h);
    if (!strcmp(tag, "pre")) {
        if (start) {
            h->startpre = 1;
            h->pre = 1;
            h->pre_indent.len = 0;
        } else {
            h->pre = 0;
        }
        para(h);
    }
}

/* ==== character and entity references (html2text's charref / entityref, unicode_snob) ==== */

static const uint16_t cp1252[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
                                    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
                                    0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

static void handle_charref(h2t *h, const char *name, size_t n) {
    uint64_t c = 0;
    int hex = name[0] == 'x' || name[0] == 'X';
    for (size_t i = hex ? 1 : 0; i < n; i++) {
        int d = name[i] >= '0' && name[i] <= '9' ? name[i] - '0' : (name[i] | 32) - 'a' + 10;
        c = c * (hex ? 16 : 10) + (uint64_t)d;
        if (c > 0x10FFFF) c = 0x110000;
    }
    if (c == 0 || c >= 0x110000 || (c >= 0xD800 && c < 0xE000)) c = 0xFFFD;
    if (c >= 0x80 && c <= 0x9F) c = cp1252[c - 0x80];
    gptoss_buf b = {0};
    gptoss_py_put(&b, (uint32_t)c);
    handle_data(h, b.data ? b.data : "", b.len, 1);
    gptoss_buf_free(&b);
}

static void handle_entityref(h2t *h, const char *name, size_t n) {
    static const struct {
        const char *name, *text;
    } ents[] = {{"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "&nbsp_place_holder;"},
                {"shy", "\xC2\xAD"}, {"copy", "\xC2\xA9"}, {"reg", "\xC2\xAE"}};
    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++)
        if (strlen(ents[i].name) == n && !memcmp(ents[i].name, name, n)) {
            handle_data(h, ents[i].text, strlen(ents[i].text), 1);
            return;
        }
    gptoss_buf b = {0};
    gptoss_buf_append(&b, "&", 1);
    gptoss_buf_append(&b, name, n);
    gptoss_buf_append(&b, ";", 1);
    handle_data(h, b.data, b.len, 1);
    gptoss_buf_free(&b);
}

/* html.unescape for the two attribute values html2text reads (basic entities and numeric refs) */
static char *unescape_attr(const char *s, size_t n) {
    gptoss_buf b = {0};
    for (size_t i = 0; i < n;) {
        if (s[i] == '&') {
            size_t j = i + 1;
            if (j < n && s[j] == '#') {
                j++;
                int hex = j < n && (s[j] == 'x' || s[j] == 'X');
                if (hex) j++;
                size_t d0 = j;
                uint64_t c = 0;
                while (j < n && ((s[j] >= '0' && s[j] <= '9') ||
                                 (hex && (((s[j] | 32) >= 'a' && (s[j] | 32) <= 'f'))))) {
                    int d = s[j] <= '9' ? s[j] - '0' : (s[j] | 32) - 'a' + 10;
                    c = c * (hex ? 16 : 10) + (uint64_t)d;
                    if (c > 0x10FFFF) c = 0x110000;
                    j++;
                }
                if (j > d0) {
                    if (j < n && s[j] == ';') j++;
                    if (c == 0 || c >= 0x110000 || (c >= 0xD800 && c < 0xE000)) c = 0xFFFD;
                    if (c >= 0x80 && c <= 0x9F) c = cp1252[c - 0x80];
                    gptoss_py_put(&b, (uint32_t)c);
                    i = j;
                    continue;
                }
            } else {
                static const char *names[] = {"amp;", "lt;", "gt;", "quot;", "apos;"}, *vals[] = {"&", "<", ">", "\"", "'"};
                int hit = 0;
                for (int k = 0; k < 5 && !hit; k++) {
                    size_t ln = strlen(names[k]);
                    if (n - j >= ln && !memcmp(s + j, names[k], ln)) {
                        gptoss_buf_puts(&b, vals[k]);
                        i = j + ln;
                        hit = 1;
                    }
                }
                if (hit) continue;
            }
        }
        gptoss_buf_append(&b, s + i, 1);
        i++;
    }
    const char *r = gptoss_buf_cstr(&b);
    char *copy = strdup(r ? r : "");
    gptoss_buf_free(&b);
    return copy;
}

/* ==== the tokenizer: CPython 3.11 html.parser.HTMLParser.goahead ==== */

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_alnum(char c) { return is_alpha(c) || (c >= '0' && c <= '9'); }

/* length of one Python-whitespace code point at s[i], or 0 */
static size_t ws_len(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) return gptoss_py_is_space(c) ? 1 : 0;
    size_t k = i;
    return gptoss_py_is_space(gptoss_py_next(s, n, &k)) ? k - i : 0;
}

static size_t skip_ws(const char *s, size_t n, size_t i) {
    size_t l;
    while ((l = ws_len(s, n, i))) i += l;
    return i;
}

static int name_stop(char c) { return c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == ' ' || c == '/' || c == '>' || c == 0; }

/* (?:\s|/(?!>))* */
static size_t skip_ws_slash(const char *s, size_t n, size_t i) {
    for (;;) {
        size_t l = ws_len(s, n, i);
        if (l) i += l;
        else if (i < n && s[i] == '/' && !(i + 1 < n && s[i + 1] == '>')) i++;
        else return i;
    }
}

/* one attribute as attrfind_tolerant matches it at i; 0 when it does not match. Sets the name and
 * value spans (value_start == SIZE_MAX: no value). */
static size_t match_attr(const char *s, size_t n, size_t i, size_t *name_b, size_t *name_e, size_t *val_b,
                         size_t *val_e) {
    if (i == 0 || i >= n) return 0;
    size_t pst;
    uint32_t prev = gptoss_py_prev(s, i, &pst);
    if (!(prev == '\'' || prev == '"' || prev == '/' || gptoss_py_is_space(prev))) return 0;
    if (ws_len(s, n, i) || s[i] == '/' || s[i] == '>') return 0;
    size_t j = i;
    gptoss_py_next(s, n, &j);
    while (j < n && !ws_len(s, n, j) && s[j] != '/' && s[j] != '=' && s[j] != '>') j++;
    *name_b = i;
    *name_e = j;
    *val_b = SIZE_MAX;
    *val_e = SIZE_MAX;
    size_t t = skip_ws(s, n, j);
    if (t < n && s[t] == '=') {
        while (t < n && s[t] == '=') t++;
        t = skip_ws(s, n, t);
        if (t < n && (s[t] == '\'' || s[t] == '"')) {
            const char *q = memchr(s + t + 1, s[t], n - t - 1);
            if (q) {
                *val_b = t;
                *val_e = (size_t)(q - s) + 1;
                j = *val_e;
            }
        } else {
            size_t v = t;
            while (v < n && s[v] != '>' && !ws_len(s, n, v)) v++;
            *val_b = t;
            *val_e = v;
            j = v;
        }
    }
    return skip_ws_slash(s, n, j);
}

/* locatestarttagend_tolerant + check_for_whole_start_tag: the end of the start tag at i, or -1
 * (incomplete). */
static long long whole_start_tag(const char *s, size_t n, size_t i) {
    size_t j = i + 2;
    while (j < n && !name_stop(s[j])) j++;
    /* (?:[\s/]* (?:attribute)* )? \s* */
    for (;;) {
        size_t l = ws_len(s, n, j);
        if (l) j += l;
        else if (j < n && s[j] == '/') j++;
        else break;
    }
    for (;;) {
        size_t nb, ne, vb, ve;
        size_t k = match_attr(s, n, j, &nb, &ne, &vb, &ve);
        if (!k) break;
        if (vb != SIZE_MAX) k = skip_ws_slash(s, n, skip_ws(s, n, ve));
        j = k;
    }
    j = skip_ws(s, n, j);
    if (j >= n) return -1;
    if (s[j] == '>') return (long long)j + 1;
    if (s[j] == '/') {
        if (j + 1 < n && s[j + 1] == '>') return (long long)j + 2;
        if (j + 1 >= n) return -1;
        return j > i ? (long long)j : (long long)i + 1;
    }
    if (is_alpha(s[j]) || s[j] == '=' || s[j] == '/') return -1;
    return j > i ? (long long)j : (long long)i + 1;
}

static void lower_ascii(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
}

static long long parse_starttag(h2t *h, size_t i) {
    const char *s = h->raw;
    size_t n = h->n;
    long long endpos_l = whole_start_tag(s, n, i);
    if (endpos_l < 0) return endpos_l;
    size_t endpos = (size_t)endpos_l;
    size_t k = i + 1;
    while (k < n && !name_stop(s[k])) k++;
    char *tag = strndup(s + i + 1, k - i - 1);
    if (!tag) return (long long)endpos;
    lower_ascii(tag);
    k = skip_ws_slash(s, n, k);
    char *start_v = NULL, *title_v = NULL;
    int has_title = 0;
    while (k < endpos) {
        size_t nb, ne, vb, ve;
        size_t m = match_attr(s, n, k, &nb, &ne, &vb, &ve);
        if (!m) break;
        char *name = strndup(s + nb, ne - nb);
        if (name) {
            lower_ascii(name);
            char *val = NULL;
            if (vb != SIZE_MAX) {
                size_t b = vb, e = ve;
                if (e - b >= 2 && (s[b] == '\'' || s[b] == '"') && s[e - 1] == s[b]) {
                    b++;
                    e--;
                }
                val = unescape_attr(s + b, e - b);
            }
            if (!strcmp(name, "start")) {
                free(start_v);
                start_v = val;
                val = NULL;
            } else if (!strcmp(name, "title")) {
                free(title_v);
                title_v = val;
                has_title = 1;
                val = NULL;
            }
            free(val);
            free(name);
        }
        k = m;
    }
    size_t b = k, e = endpos;
    gptoss_py_strip(s + k, endpos - k, &b, &e);
    b += k;
    e += k;
    if (!((e - b == 1 && s[b] == '>') || (e - b == 2 && s[b] == '/' && s[b + 1] == '>'))) {
        handle_data(h, s + i, endpos - i, 0);
    } else if (e - b == 2) {
        handle_tag(h, tag, start_v, title_v, has_title, 1);
        handle_tag(h, tag, NULL, NULL, 0, 0);
    } else {
        handle_tag(h, tag, start_v, title_v, has_title, 1);
        if (!strcmp(tag, "script") || !strcmp(tag, "style")) strcpy(h->cdata_elem, tag);
    }
    free(tag);
    free(start_v);
    free(title_v);
    return (long long)endpos;
}

/* </\s*NAME\s*> with NAME = [a-zA-Z][-.a-zA-Z0-9:_]*: 1 and the name span when it matches at i */
static int match_endtagfind(const char *s, size_t n, size_t i, size_t *nb, size_t *ne, size_t *end) {
    size_t j = skip_ws(s, n, i + 2);
    if (j >= n || !is_alpha(s[j])) return 0;
    *nb = j;
    while (j < n && (is_alnum(s[j]) || s[j] == '-' || s[j] == '.' || s[j] == ':' || s[j] == '_')) j++;
    *ne = j;
    j = skip_ws(s, n, j);
    if (j >= n || s[j] != '>') return 0;
    *end = j + 1;
    return 1;
}

static long long parse_bogus_comment(h2t *h, size_t i) {
    const char *gt = memchr(h->raw + i + 2, '>', h->n - i - 2);
    if (!gt) return -1;
    return (long long)(gt - h->raw) + 1;
}

static long long parse_endtag(h2t *h, size_t i) {
    const char *s = h->raw;
    size_t n = h->n;
    const char *gt = memchr(s + i + 1, '>', n - i - 1);
    if (!gt) return -1;
    size_t gtpos = (size_t)(gt - s) + 1, nb, ne, end;
    if (!match_endtagfind(s, n, i, &nb, &ne, &end)) {
        if (h->cdata_elem[0]) {
            handle_data(h, s + i, gtpos - i, 0);
            return (long long)gtpos;
        }
        if (i + 2 >= n || !is_alpha(s[i + 2])) {
            if (n - i >= 3 && !memcmp(s + i, "</>", 3)) return (long long)i + 3;
            return parse_bogus_comment(h, i);
        }
        size_t k = i + 2;
        while (k < n && !name_stop(s[k])) k++;
        char *tag = strndup(s + i + 2, k - i - 2);
        k = skip_ws_slash(s, n, k);
        const char *g2 = memchr(s + k, '>', n - k);
        if (tag) {
            lower_ascii(tag);
            handle_tag(h, tag, NULL, NULL, 0, 0);
            free(tag);
        }
        return g2 ? (long long)(g2 - s) + 1 : 0; /* Python: find() == -1, + 1 */
    }
    char elem[16] = "";
    int long_name = ne - nb >= sizeof elem;
    if (!long_name) {
        memcpy(elem, s + nb, ne - nb);
        elem[ne - nb] = 0;
        lower_ascii(elem);
    }
    if (h->cdata_elem[0] && (long_name || strcmp(elem, h->cdata_elem))) {
        handle_data(h, s + i, gtpos - i, 0);
        return (long long)gtpos;
    }
    if (long_name) {
        char *tag = strndup(s + nb, ne - nb);
        if (tag) {
            lower_ascii(tag);
            handle_tag(h, tag, NULL, NULL, 0, 0);
            free(tag);
        }
    } else {
        handle_tag(h, elem, NULL, NULL, 0, 0);
    }
    h->cdata_elem[0] = 0;
    return (long long)gtpos;
}

static long long parse_comment(h2t *h, size_t i) {
    const char *s = h->raw;
    size_t n = h->n;
    for (size_t j = i + 4; j + 1 < n; j++)
        if (s[j] == '-' && s[j + 1] == '-') {
            size_t k = skip_ws(s, n, j + 2);
            if (k < n && s[k] == '>') return (long long)k + 1;
        }
    return -1;
}

static long long parse_html_declaration(h2t *h, size_t i) {
    const char *s = h->raw;
    size_t n = h->n;
    if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) return parse_comment(h, i);
    if (n - i >= 3 && !memcmp(s + i, "<![", 3)) { /* marked section: ]\s*]\s*> */
        for (size_t j = i + 3; j < n; j++)
            if (s[j] == ']') {
                size_t k = skip_ws(s, n, j + 1);
                if (k < n && s[k] == ']') {
                    k = skip_ws(s, n, k + 1);
                    if (k < n && s[k] == '>') return (long long)k + 1;
                }
            }
        return -1;
    }
    if (n - i >= 9 && !strncasecmp(s + i, "<!doctype", 9)) {
        const char *gt = memchr(s + i + 9, '>', n - i - 9);
        return gt ? (long long)(gt - s) + 1 : -1;
    }
    return parse_bogus_comment(h, i);
}

/* the first "</script\s*>" (case-insensitive) at or after i in raw-text mode */
static size_t find_cdata_end(h2t *h, size_t i) {
    const char *s = h->raw;
    size_t n = h->n, ln = strlen(h->cdata_elem);
    for (size_t j = i; j + 1 < n; j++) {
        if (s[j] != '<' || s[j + 1] != '/') continue;
        size_t k = skip_ws(s, n, j + 2);
        if (n - k >= ln && !strncasecmp(s + k, h->cdata_elem, ln)) {
            size_t m = skip_ws(s, n, k + ln);
            if (m < n && s[m] == '>') return j;
        }
    }
    return SIZE_MAX;
}

static void goahead(h2t *h, int end) {
    const char *s = h->raw;
    size_t n = h->n, i = h->pos;
    while (i < n) {
        size_t j;
        if (h->cdata_elem[0]) {
            j = find_cdata_end(h, i);
            if (j == SIZE_MAX) break;
        } else {
            j = i;
            while (j < n && s[j] != '<' && s[j] != '&') j++;
        }
        if (i < j) handle_data(h, s + i, j - i, 0);
        i = j;
        if (i == n) break;
        if (s[i] == '<') {
            long long k;
            if (i + 1 < n && is_alpha(s[i + 1])) k = parse_starttag(h, i);
            else if (n - i >= 2 && s[i + 1] == '/') k = parse_endtag(h, i);
            else if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) k = parse_comment(h, i);
            else if (n - i >= 2 && s[i + 1] == '?') {
                const char *gt = memchr(s + i + 2, '>', n - i - 2);
                k = gt ? (long long)(gt - s) + 1 : -1;
            } else if (n - i >= 2 && s[i + 1] == '!') k = parse_html_declaration(h, i);
            else if (i + 1 < n) {
                handle_data(h, "<", 1, 0);
                k = (long long)i + 1;
            } else break;
            if (k < 0) {
                if (!end) break;
                const char *gt = memchr(s + i + 1, '>', n - i - 1);
                size_t kk;
                if (!gt) {
                    const char *lt = memchr(s + i + 1, '<', n - i - 1);
                    kk = lt ? (size_t)(lt - s) : i + 1;
                } else {
                    kk = (size_t)(gt - s) + 1;
                }
                handle_data(h, s + i, kk - i, 0);
                k = (long long)kk;
            }
            i = (size_t)k;
        } else if (n - i >= 2 && s[i + 1] == '#') {
            /* &#(?:[0-9]+|[xX][0-9a-fA-F]+)[^0-9a-fA-F] */
            size_t k = i + 2;
            int hex = k < n && (s[k] == 'x' || s[k] == 'X');
            if (hex) k++;
            size_t d0 = k;
            while (k < n && ((s[k] >= '0' && s[k] <= '9') ||
                             (hex && (s[k] | 32) >= 'a' && (s[k] | 32) <= 'f')))
                k++;
            if (k > d0 && k < n &&
                !((s[k] >= '0' && s[k] <= '9') || ((s[k] | 32) >= 'a' && (s[k] | 32) <= 'f'))) {
                handle_charref(h, s + i + 2, k - i - 2);
                i = s[k] == ';' ? k + 1 : k;
                continue;
            }
            if (memchr(s + i, ';', n - i)) {
                handle_data(h, s + i, 2, 0);
                i += 2;
            }
            break;
        } else {
            /* &([a-zA-Z][-.a-zA-Z0-9]*)[^a-zA-Z0-9] */
            size_t k = i + 1;
            if (k < n && is_alpha(s[k])) {
                k++;
                while (k < n && (is_alnum(s[k]) || s[k] == '-' || s[k] == '.')) k++;
                if (k < n && !is_alnum(s[k])) {
                    handle_entityref(h, s + i + 1, k - i - 1);
                    i = s[k] == ';' ? k + 1 : k;
                    continue;
                }
            }
            if (i + 1 < n && (is_alpha(s[i + 1]) || s[i + 1] == '#')) { /* incomplete */
                if (end && n - i == 2) i = i + 1; /* the match is the rest of the input */
                break;
            } else if (i + 1 < n) {
                handle_data(h, "&", 1, 0);
                i++;
            } else {
                handle_data(h, "&", 1, 0);
                i++;
                break;
            }
        }
    }
    if (end && i < n && !h->cdata_elem[0]) {
        handle_data(h, s + i, n - i, 0);
        i = n;
    }
    h->pos = i;
}

void gptoss_html2text(const char *s, size_t n, gptoss_buf *out) {
    h2t h;
    memset(&h, 0, sizeof h);
    h.br_toggle = "";
    h.raw = s;
    h.n = n;
    h.start = 1;
    goahead(&h, 0); /* feed(data) */
    goahead(&h, 0); /* feed("") */
    goahead(&h, 1); /* close() */
    pbr(&h);
    emit(&h, "", 0, 0, FORCE_END);
    /* outtext.replace("&nbsp_place_holder;", "\xa0") */
    static const char ph[] = "&nbsp_place_holder;";
    const char *t = h.out.data ? h.out.data : "";
    size_t m = h.out.len, i = 0;
    while (i < m) {
        const char *hit = m - i >= sizeof ph - 1 ? memmem(t + i, m - i, ph, sizeof ph - 1) : NULL;
        if (!hit) {
            gptoss_buf_append(out, t + i, m - i);
            break;
        }
        gptoss_buf_append(out, t + i, (size_t)(hit - t) - i);
        gptoss_buf_append(out, "\xC2\xA0", 2);
        i = (size_t)(hit - t) + sizeof ph - 1;
    }
    gptoss_buf_free(&h.out);
    gptoss_buf_free(&h.pre_indent);
    gptoss_buf_free(&h.list_code_indent);
    gptoss_buf_free(&h.current_tag);
    gptoss_buf_free(&h.preceding_data);
    gptoss_buf_free(&h.abbr_title);
    gptoss_buf_free(&h.abbr_data);
    for (size_t k = 0; k < h.n_abbrs; k++) {
        free(h.abbrs[k].abbr);
        free(h.abbrs[k].title);
    }
    free(h.abbrs);
    free(h.lists);
}
