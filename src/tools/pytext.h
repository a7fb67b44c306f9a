/* pytext.h: the pieces of Python's str semantics that the browser tool's reference (gpt-oss
 * simple_browser, CPython 3.11) depends on, over UTF-8: the code-point classes of re's \w, \d and \s,
 * str.lower(), lengths and offsets counted in code points. Tables in pytext_tables.c (generated). */
#ifndef GPTOSS_TOOLS_PYTEXT_H
#define GPTOSS_TOOLS_PYTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef struct gptoss_py_range {
    uint32_t first, last;
} gptoss_py_range;

typedef struct gptoss_py_case_run {
    uint32_t first, last, stride;
    int32_t delta;
} gptoss_py_case_run;

extern const char gptoss_py_unicode_version[];
extern const gptoss_py_range gptoss_py_word[], gptoss_py_decimal[], gptoss_py_space[];
extern const size_t gptoss_py_word_n, gptoss_py_decimal_n, gptoss_py_space_n;
extern const gptoss_py_case_run gptoss_py_lower[];
extern const size_t gptoss_py_lower_n;

int gptoss_py_is_word(uint32_t cp);    /* re \w: str.isalnum() or "_" */
int gptoss_py_is_decimal(uint32_t cp); /* re \d: str.isdecimal() */
int gptoss_py_is_space(uint32_t cp);   /* re \s and str.strip(): str.isspace() */

/* Decodes the code point at s[*i] (n bytes in all) and advances *i; an invalid byte decodes as
 * U+FFFD and advances by one (the tool's strings are valid UTF-8 by construction). */
uint32_t gptoss_py_next(const char *s, size_t n, size_t *i);
/* The code point that ends just before s[i] (i > 0), and *start its first byte. */
uint32_t gptoss_py_prev(const char *s, size_t i, size_t *start);
/* Appends the UTF-8 encoding of cp. */
void gptoss_py_put(gptoss_buf *b, uint32_t cp);
/* Number of code points in s[0..n). */
size_t gptoss_py_len(const char *s, size_t n);
/* Byte offset of code point number `chars` (or n when the string is shorter). */
size_t gptoss_py_offset(const char *s, size_t n, size_t chars);
/* str.lower() of s[0..n), appended to b (full mapping: U+0130 and the final-sigma rule included). */
void gptoss_py_lower_append(gptoss_buf *b, const char *s, size_t n);
/* str.strip(): the bounds of s[0..n) without leading and trailing str.isspace() code points. */
void gptoss_py_strip(const char *s, size_t n, size_t *begin, size_t *end);

#endif
