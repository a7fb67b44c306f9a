/* html_text.c: the reference's regular-expression passes over page strings (see html_text.h),
 * written as scanners that find what Python's re finds: leftmost matches, greedy runs, and the
 * MULTILINE ^ and $ of EMPTY_LINE_RE. */
#include "tools/html_text.h"

#include <string.h>

#include "tools/pytext.h"

void gptoss_page_prepare(const char *s, size_t n, gptoss_buf *out) {
    size_t i = 0;
    while (i < n) {
        size_t at = i;
        uint32_t cp = gptoss_py_next(s, n, &i);
        if ((cp >= 0x10000 && cp <= 0x1FFFF) || cp == 0x200B) continue;
        if (cp == 0x3010) cp = 0x3016;      /* 【 -> 〖 */
        else if (cp == 0x3011) cp = 0x3017; /* 】 -> 〗 */
        else if (cp == 0x25FC) cp = 0x25FE; /* ◼ -> ◾ */
        else if (cp != 0xFFFD || (i - at == 3)) {
            gptoss_buf_append(out, s + at, i - at);
            continue;
        }
        gptoss_py_put(out, cp);
    }
}

static int word_at(const char *s, size_t n, size_t i) {
    if (i >= n) return 0;
    size_t k = i;
    return gptoss_py_is_word(gptoss_py_next(s, n, &k));
}

static int word_before(const char *s, size_t i) {
    if (i == 0) return 0;
    return gptoss_py_is_word(gptoss_py_prev(s, i, NULL));
}

/* <TAG( [^>]*)?>([\w\-]+)</TAG> at s[i] -> MARK{content}; returns the end, or 0 when it does not match */
static size_t sup_sub_match(const char *s, size_t n, size_t i, const char *tag, size_t *cb, size_t *ce) {
    size_t tl = strlen(tag);
    if (n - i < tl + 2 || s[i] != '<' || memcmp(s + i + 1, tag, tl)) return 0;
    size_t j = i + 1 + tl;
    if (j < n && s[j] == ' ') {
        const char *gt = memchr(s + j, '>', n - j);
        if (!gt) return 0;
        j = (size_t)(gt - s);
    }
    if (j >= n || s[j] != '>') return 0;
    j++;
    size_t c0 = j;
    while (j < n) {
        size_t k = j;
        uint32_t cp = gptoss_py_next(s, n, &k);
        if (!(cp == '-' || gptoss_py_is_word(cp))) break;
        j = k;
    }
    if (j == c0 || n - j < tl + 3 || s[j] != '<' || s[j + 1] != '/' || memcmp(s + j + 2, tag, tl) || s[j + 2 + tl] != '>')
        return 0;
    *cb = c0;
    *ce = j;
    return j + 3 + tl;
}

static void sup_sub_pass(const char *s, size_t n, const char *tag, const char *mark, gptoss_buf *out) {
    size_t i = 0, done = 0;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        i = (size_t)(lt - s);
        size_t cb, ce, end = sup_sub_match(s, n, i, tag, &cb, &ce);
        if (!end) {
            i++;
            continue;
        }
        gptoss_buf_append(out, s + done, i - done);
        gptoss_buf_puts(out, mark);
        gptoss_buf_append(out, "{", 1);
        gptoss_buf_append(out, s + cb, ce - cb);
        gptoss_buf_append(out, "}", 1);
        i = done = end;
    }
    gptoss_buf_append(out, s + done, n - done);
}

/* (?<=\w)((<[^>]*>)+)(?=\w) -> " \1" */
static void tags_seq_pass(const char *s, size_t n, gptoss_buf *out) {
    size_t i = 0, done = 0;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        i = (size_t)(lt - s);
        if (!word_before(s, i)) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] == '<') {
            const char *gt = memchr(s + j, '>', n - j);
            if (!gt) break;
            j = (size_t)(gt - s) + 1;
        }
        if (j == i || !word_at(s, n, j)) {
            i++;
            continue;
        }
        gptoss_buf_append(out, s + done, i - done);
        gptoss_buf_append(out, " ", 1);
        gptoss_buf_append(out, s + i, j - i);
        i = done = j;
    }
    gptoss_buf_append(out, s + done, n - done);
}

void gptoss_page_markup_passes(const char *s, size_t n, gptoss_buf *out) {
    gptoss_buf a = {0}, b = {0};
    sup_sub_pass(s, n, "sup", "^", &a);
    sup_sub_pass(a.data ? a.data : "", a.len, "sub", "_", &b);
    tags_seq_pass(b.data ? b.data : "", b.len, out);
    if (a.failed || b.failed) out->failed = 1;
    gptoss_buf_free(&a);
    gptoss_buf_free(&b);
}

static int space_at(const char *s, size_t n, size_t i, size_t *next) {
    size_t k = i;
    int sp = gptoss_py_is_space(gptoss_py_next(s, n, &k));
    if (next) *next = k;
    return sp;
}

/* 【@[^】]+】 at s[i]: its end, or 0 */
static size_t at_anchor(const char *s, size_t n, size_t i) {
    static const char open_at[] = "\xE3\x80\x90@", close_br[] = "\xE3\x80\x91";
    if (n - i < 4 || memcmp(s + i, open_at, 4)) return 0;
    const char *c = memmem(s + i + 4, n - i - 4, close_br, 3);
    if (!c || (size_t)(c - s) == i + 4) return 0;
    return (size_t)(c - s) + 3;
}

int gptoss_page_only_anchors(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t e = at_anchor(s, n, i);
        if (!e) return 0;
        i = e;
    }
    return 1;
}

void gptoss_page_merge_whitespace(const char *s, size_t n, gptoss_buf *out) {
    size_t i = 0;
    int in_ws = 0;
    while (i < n) {
        size_t at = i;
        uint32_t cp = gptoss_py_next(s, n, &i);
        if (gptoss_py_is_space(cp)) {
            if (!in_ws) gptoss_buf_append(out, " ", 1);
            in_ws = 1;
        } else {
            gptoss_buf_append(out, s + at, i - at);
            in_ws = 0;
        }
    }
}

void gptoss_page_text_passes(const char *s0, size_t n0, gptoss_buf *out) {
    size_t b, e;
    gptoss_py_strip(s0, n0, &b, &e);
    const char *s = s0 + b;
    size_t n = e - b;
    /* WHITESPACE_ANCHOR_RE: (【@[^】]+】)(\s+) -> \2\1 */
    gptoss_buf a = {0};
    for (size_t i = 0; i < n;) {
        size_t end = at_anchor(s, n, i), k;
        if (end && end < n && space_at(s, n, end, &k)) {
            size_t w = k;
            while (w < n && space_at(s, n, w, &k)) w = k;
            gptoss_buf_append(&a, s + end, w - end);
            gptoss_buf_append(&a, s + i, end - i);
            i = w;
        } else {
            gptoss_buf_append(&a, s + i, 1);
            i++;
        }
    }
    /* EMPTY_LINE_RE: ^\s+$ (MULTILINE) -> "" */
    const char *t = a.data ? a.data : "";
    size_t m = a.len;
    gptoss_buf c = {0};
    for (size_t i = 0; i < m;) {
        if (i == 0 || t[i - 1] == '\n') {
            size_t w = i, k, last_nl = SIZE_MAX;
            while (w < m && space_at(t, m, w, &k)) {
                if (t[w] == '\n' && w > i) last_nl = w;
                w = k;
            }
            size_t q = SIZE_MAX;
            if (w > i && w == m) q = m;
            else if (last_nl != SIZE_MAX) q = last_nl;
            if (q != SIZE_MAX) {
                i = q;
                continue;
            }
        }
        gptoss_buf_append(&c, t + i, 1);
        i++;
    }
    /* EXTRA_NEWLINE_RE: \n(\s*\n)+ -> \n\n */
    t = c.data ? c.data : "";
    m = c.len;
    for (size_t i = 0; i < m;) {
        if (t[i] == '\n') {
            size_t w = i + 1, k, last_nl = SIZE_MAX;
            while (w < m && space_at(t, m, w, &k)) {
                if (t[w] == '\n') last_nl = w;
                w = k;
            }
            if (last_nl != SIZE_MAX) {
                gptoss_buf_append(out, "\n\n", 2);
                i = last_nl + 1;
                continue;
            }
        }
        gptoss_buf_append(out, t + i, 1);
        i++;
    }
    if (a.failed || c.failed) out->failed = 1;
    gptoss_buf_free(&a);
    gptoss_buf_free(&c);
}
