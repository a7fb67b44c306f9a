/* textwrap.c: CPython 3.11 textwrap.TextWrapper for the settings the browser tool uses (see
 * textwrap.h): expandtabs(8), chunks cut by TextWrapper.wordsep_re (break_on_hyphens), then
 * _wrap_chunks with break_long_words and whitespace kept. Lengths are in code points. */
#include "tools/textwrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "tools/pytext.h"

/* textwrap's whitespace is ASCII only: "\t\n\x0b\x0c\r " */
static int tw_ws(uint32_t c) { return c == ' ' || (c >= 0x09 && c <= 0x0D); }
static int tw_word(uint32_t c) { return gptoss_py_is_word(c); }
static int tw_letter(uint32_t c) { return gptoss_py_is_word(c) && !gptoss_py_is_decimal(c); } /* [^\d\W] */
static int tw_wp(uint32_t c) { /* [\w!"'&.,?] */
    return tw_word(c) || c == '!' || c == '"' || c == '\'' || c == '&' || c == '.' || c == ',' || c == '?';
}

/* the end of the wordsep_re match that starts at i */
static size_t chunk_end(const uint32_t *c, size_t n, size_t i) {
    if (tw_ws(c[i])) {
        size_t j = i;
        while (j < n && tw_ws(c[j])) j++;
        return j;
    }
    if (c[i] == '-' && i > 0 && tw_wp(c[i - 1])) { /* (?<=wp) -{2,} (?=\w) */
        size_t k = i;
        while (k < n && c[k] == '-') k++;
        if (k - i >= 2 && k < n && tw_word(c[k])) return k;
    }
    for (size_t p = i + 1;; p++) { /* nws+? followed by one of three endings */
        if (p < n && c[p] == '-') {
            int lb = (p >= 2 && tw_letter(c[p - 2]) && tw_letter(c[p - 1])) ||
                     (p >= 3 && tw_letter(c[p - 3]) && c[p - 2] == '-' && tw_letter(c[p - 1]));
            int la = p + 2 < n && tw_letter(c[p + 1]) &&
                     ((c[p + 2] == '-' && p + 3 < n && tw_letter(c[p + 3])) || tw_letter(c[p + 2]));
            if (lb && la) return p + 1;
        }
        if (p >= n || tw_ws(c[p])) return p;
        if (tw_wp(c[p - 1]) && c[p] == '-') {
            size_t k = p;
            while (k < n && c[k] == '-') k++;
            if (k - p >= 2 && k < n && tw_word(c[k])) return p;
        }
    }
}

typedef struct builder {
    gptoss_buf text;
    size_t *off;
    size_t n, cap, max;
    int err;
} builder;

static void begin_line(builder *b) {
    if (b->err) return;
    if (b->n >= b->max) {
        b->err = -2;
        return;
    }
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        size_t *o = realloc(b->off, cap * sizeof *o);
        if (!o) {
            b->err = -1;
            return;
        }
        b->off = o;
        b->cap = cap;
    }
    if (b->n) gptoss_buf_append(&b->text, "\n", 1);
    b->off[b->n++] = b->text.len;
}

static void put_cps(builder *b, const uint32_t *c, size_t n) {
    for (size_t i = 0; i < n; i++) gptoss_py_put(&b->text, c[i]);
}

static void wrap_one(builder *b, const uint32_t *c, size_t n, size_t width) {
    /* chunks as [start, end) spans of c; the long-word split shortens the current one in place */
    size_t i = 0, cs = 0, ce = n ? chunk_end(c, n, 0) : 0;
    while (cs < n && !b->err) {
        size_t cur_len = 0;
        begin_line(b);
        while (cs < n && cur_len + (ce - cs) <= width) {
            put_cps(b, c + cs, ce - cs);
            cur_len += ce - cs;
            cs = ce;
            if (cs < n) ce = chunk_end(c, n, cs);
        }
        if (cs < n && ce - cs > width) {
            size_t space_left = width - cur_len, end = space_left, len = ce - cs;
            if (len > space_left) {
                size_t h = SIZE_MAX;
                for (size_t k = 0; k < space_left; k++)
                    if (c[cs + k] == '-') h = k;
                if (h != SIZE_MAX && h > 0) {
                    int other = 0;
                    for (size_t k = 0; k < h; k++) other |= c[cs + k] != '-';
                    if (other) end = h + 1;
                }
            }
            put_cps(b, c + cs, end);
            cs += end;
        }
    }
    (void)i;
}

int gptoss_wrap_lines(const char *text, size_t len, size_t width, size_t max_lines, gptoss_lines *out) {
    memset(out, 0, sizeof *out);
    builder b = {{0}, NULL, 0, 0, max_lines, 0};
    uint32_t *cps = NULL;
    size_t cap = 0, start = 0;
    for (size_t pos = 0; pos <= len && !b.err; pos++) {
        if (pos < len && text[pos] != '\n') continue;
        /* the line text[start..pos): decode, expand tabs */
        size_t n = 0, i = start, col = 0;
        while (i < pos) {
            uint32_t cp = gptoss_py_next(text, pos, &i);
            size_t need = cp == '\t' ? 8 : 1;
            if (n + need > cap) {
                size_t nc = (n + need) * 2 + 64;
                uint32_t *t = realloc(cps, nc * sizeof *t);
                if (!t) {
                    b.err = -1;
                    break;
                }
                cps = t;
                cap = nc;
            }
            if (cp == '\t') {
                size_t sp = 8 - col % 8;
                for (size_t k = 0; k < sp; k++) cps[n++] = ' ';
                col += sp;
            } else {
                cps[n++] = cp;
                col = cp == '\r' ? 0 : col + 1;
            }
        }
        if (b.err) break;
        if (n == 0) begin_line(&b);
        else wrap_one(&b, cps, n, width);
        start = pos + 1;
    }
    free(cps);
    if (!b.err && b.text.failed) b.err = -1;
    if (!b.err) {
        if (!gptoss_buf_cstr(&b.text)) b.err = -1;
    }
    if (b.err) {
        gptoss_buf_free(&b.text);
        free(b.off);
        return b.err;
    }
    b.off[b.n] = b.text.len + 1; /* line n-1 ends where a "\n" would follow */
    out->text = b.text.data;
    out->len = b.text.len;
    out->off = b.off;
    out->n = b.n;
    return 0;
}

void gptoss_lines_free(gptoss_lines *lines) {
    if (!lines) return;
    free(lines->text);
    free(lines->off);
    memset(lines, 0, sizeof *lines);
}
