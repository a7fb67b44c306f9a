/* unicode.h: code-point classes for the o200k pre-tokenizer (src/tokenizer/pretokenize.c) and a UTF-8 decoder
 * that reports invalid sequences the way WHATWG/Unicode "maximal subpart" replacement does. */
#ifndef GPTOSS_UNICODE_H
#define GPTOSS_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* One class per code point: exactly the distinctions the o200k regex draws. The regex's \s is the
 * White_Space property; \r and \n get their own class because two branches treat them specially. */
enum gptoss_unicode_class {
    GPTOSS_UC_OTHER = 0, /* punctuation, symbols, controls, unassigned */
    GPTOSS_UC_UPPER,     /* Lu, Lt */
    GPTOSS_UC_LOWER,     /* Ll */
    GPTOSS_UC_LETTER,    /* Lm, Lo: in both the "upper" and the "lower" sets of the regex */
    GPTOSS_UC_MARK,      /* Mn, Mc, Me: also in both sets, and not excluded by [^\r\n\p{L}\p{N}] */
    GPTOSS_UC_NUMBER,    /* Nd, Nl, No */
    GPTOSS_UC_SPACE,     /* White_Space other than \r \n */
    GPTOSS_UC_NEWLINE,   /* \r, \n */
};

#define GPTOSS_UNICODE_BLOCK 128
extern const char gptoss_unicode_version[];
extern const uint16_t gptoss_unicode_stage1[0x110000 / GPTOSS_UNICODE_BLOCK];
extern const uint8_t gptoss_unicode_stage2[][GPTOSS_UNICODE_BLOCK];

static inline int gptoss_unicode_class_of(uint32_t cp) {
    if (cp >= 0x110000) return GPTOSS_UC_OTHER;
    return gptoss_unicode_stage2[gptoss_unicode_stage1[cp / GPTOSS_UNICODE_BLOCK]][cp % GPTOSS_UNICODE_BLOCK];
}

/* Decodes one code point from s[0..n), n >= 1. Returns the sequence length (1..4) and sets *cp; for
 * an invalid sequence returns the length of its maximal subpart (1..3: the bytes that one U+FFFD
 * replaces in from_utf8_lossy / TextDecoder) and sets *cp to 0xFFFFFFFF. */
static inline size_t gptoss_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    *cp = 0xFFFFFFFFu;
    size_t need;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) { need = 1; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 2; v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* surrogates are not scalar values */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3; v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    for (size_t i = 1; i <= need; i++) {
        if (i >= n) return i;
        unsigned b = s[i];
        if (b < lo || b > hi) return i;
        lo = 0x80; hi = 0xBF;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return need + 1;
}

#endif
