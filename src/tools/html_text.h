/* html_text.h: the string passes of the reference's process_html and html_to_text, around the tree
 * work of html_page.c: character replacements before parsing, the regular expressions run over the
 * serialized markup, and the whitespace clean-up of the converted text. All over UTF-8, with Python
 * re's Unicode classes (pytext.h). */
#ifndef GPTOSS_TOOLS_HTML_TEXT_H
#define GPTOSS_TOOLS_HTML_TEXT_H

#include <stddef.h>

#include "base/common.h"

/* remove_unicode_smp + _replace_special_chars: U+10000..U+1FFFF and U+200B dropped, 【 】 ◼ become
 * 〖 〗 ◾. Invalid UTF-8 bytes become U+FFFD first (a Python str cannot hold them). */
void gptoss_page_prepare(const char *s, size_t n, gptoss_buf *out);
/* HTML_SUP_RE, HTML_SUB_RE (<sup>x</sup> -> ^{x}, <sub>x</sub> -> _{x}) and HTML_TAGS_SEQ_RE (a space
 * before a run of tags between two word characters), in that order. */
void gptoss_page_markup_passes(const char *s, size_t n, gptoss_buf *out);
/* .strip(), WHITESPACE_ANCHOR_RE, EMPTY_LINE_RE, EXTRA_NEWLINE_RE over html2text's output. */
void gptoss_page_text_passes(const char *s, size_t n, gptoss_buf *out);
/* merge_whitespace: "\n" -> " ", then every run of \s -> one space. */
void gptoss_page_merge_whitespace(const char *s, size_t n, gptoss_buf *out);
/* 1 when nothing is left of s after removing every 【@...】 (the reference's "probably an image"). */
int gptoss_page_only_anchors(const char *s, size_t n);

#endif
