/* pytext.c: Python str semantics over UTF-8 for the browser tool (see pytext.h): class lookups in the
 * generated tables, code-point iteration and counting, str.lower() and str.strip(). */
#include "tools/pytext.h"

#include "tokenizer/unicode.h"

static int in_ranges(const gptoss_py_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first) hi = mid;
        else if (cp > r[mid].last) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int gptoss_py_is_word(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    return in_ranges(gptoss_py_word, gptoss_py_word_n, cp);
}

int gptoss_py_is_decimal(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(gptoss_py_decimal, gptoss_py_decimal_n, cp);
}

int gptoss_py_is_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return in_ranges(gptoss_py_space, gptoss_py_space_n, cp);
}

uint32_t gptoss_py_next(const char *s, size_t n, size_t *i) {
    uint32_t cp;
    size_t k = gptoss_utf8_decode((const unsigned char *)s + *i, n - *i, &cp);
    if (cp == 0xFFFFFFFFu) {
        *i += 1;
        return 0xFFFD;
    }
    *i += k;
    return cp;
}

uint32_t gptoss_py_prev(const char *s, size_t i, size_t *start) {
    size_t j = i - 1, lim = i >= 4 ? i - 4 : 0;
    while (j > lim && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
    size_t k = j;
    uint32_t cp = gptoss_py_next(s, i, &k);
    if (k != i) { /* not one well-formed sequence: the last byte alone */
        j = i - 1;
        cp = 0xFFFD;
    }
    if (start) *start = j;
    return cp;
}

void gptoss_py_put(gptoss_buf *b, uint32_t cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | cp >> 6); u[1] = (unsigned char)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        u[2] = (unsigned char)(0x80 | (cp & 63)); n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 63)); u[3] = (unsigned char)(0x80 | (cp & 63)); n = 4;
    }
    gptoss_buf_append(b, u, n);
}

size_t gptoss_py_len(const char *s, size_t n) {
    size_t i = 0, count = 0;
    while (i < n) {
        gptoss_py_next(s, n, &i);
        count++;
    }
    return count;
}

size_t gptoss_py_offset(const char *s, size_t n, size_t chars) {
    size_t i = 0;
    while (i < n && chars) {
        gptoss_py_next(s, n, &i);
        chars--;
    }
    return i;
}

static uint32_t lower_one(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    size_t lo = 0, hi = gptoss_py_lower_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gptoss_py_case_run *r = &gptoss_py_lower[mid];
        if (cp < r->first) hi = mid;
        else if (cp > r->last) lo = mid + 1;
        else return (cp - r->first) % r->stride == 0 ? (uint32_t)((int32_t)cp + r->delta) : cp;
    }
    return cp;
}

/* Final_Sigma's "cased" and "case-ignorable", approximated from the letter classes: cased letters
 * are the ones with an upper or lower class; marks and a few word-internal punctuation are ignorable. */
static int is_cased(uint32_t cp) {
    int c = gptoss_unicode_class_of(cp);
    return c == GPTOSS_UC_UPPER || c == GPTOSS_UC_LOWER;
}

static int is_case_ignorable(uint32_t cp) {
    return gptoss_unicode_class_of(cp) == GPTOSS_UC_MARK || cp == '\'' || cp == '.' || cp == ':' || cp == '^' ||
           cp == '`' || cp == 0xB7 || cp == 0xAD || cp == 0x2019;
}

static int final_sigma(const char *s, size_t n, size_t at, size_t after) {
    size_t i = at;
    uint32_t c = 0;
    int found = 0;
    while (i > 0) {
        c = gptoss_py_prev(s, i, &i);
        if (!is_case_ignorable(c)) { found = 1; break; }
    }
    if (!found || !is_cased(c)) return 0;
    i = after;
    while (i < n) {
        c = gptoss_py_next(s, n, &i);
        if (!is_case_ignorable(c)) return !is_cased(c);
    }
    return 1;
}

void gptoss_py_lower_append(gptoss_buf *b, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t at = i;
        uint32_t cp = gptoss_py_next(s, n, &i);
        if (cp < 0x80) {
            char c = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            gptoss_buf_append(b, &c, 1);
        } else if (cp == 0x130) {
            gptoss_buf_append(b, "i\xCC\x87", 3);
        } else if (cp == 0x3A3) {
            gptoss_py_put(b, final_sigma(s, n, at, i) ? 0x3C2 : 0x3C3);
        } else {
            gptoss_py_put(b, lower_one(cp));
        }
    }
}

void gptoss_py_strip(const char *s, size_t n, size_t *begin, size_t *end) {
    size_t i = 0;
    while (i < n) {
        size_t k = i;
        if (!gptoss_py_is_space(gptoss_py_next(s, n, &k))) break;
        i = k;
    }
    size_t j = n;
    while (j > i) {
        size_t k;
        if (!gptoss_py_is_space(gptoss_py_prev(s, j, &k))) break;
        j = k;
    }
    *begin = i;
    *end = j;
}
