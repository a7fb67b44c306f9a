/* pretokenize.c: the o200k pre-tokenizer, a hand-written matcher equivalent to tiktoken's regex
 *
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *  |[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 *  |\p{N}{1,3}
 *  | ?[^\s\p{L}\p{N}]+[\r\n/]*
 *  |\s*[\r\n]+
 *  |\s+(?!\S)
 *  |\s+
 *
 * under backtracking, leftmost-first semantics (fancy-regex). Every code point is matched by some
 * branch, so pieces tile the text. Each branch below reproduces the first match a backtracking engine
 * finds, including where it has to give characters back. */
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* The o200k pattern, as tokenizer.json spells it; gptoss_pretokenize_next implements exactly this. */
const char gptoss_tokenizer_o200k_pattern[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Sets of the regex, as bit masks over enum gptoss_unicode_class. */
#define C(x) (1u << GPTOSS_UC_##x)
#define SET_UPPERISH (C(UPPER) | C(LETTER) | C(MARK))           /* [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
#define SET_LOWERISH (C(LOWER) | C(LETTER) | C(MARK))           /* [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
#define SET_PREFIX (C(OTHER) | C(MARK) | C(SPACE))              /* [^\r\n\p{L}\p{N}] */
#define SET_PUNCT (C(OTHER) | C(MARK))                          /* [^\s\p{L}\p{N}] */
#define SET_SPACE (C(SPACE) | C(NEWLINE))                       /* \s */

/* ASCII classes, so the common case needs no table walk. */
static const unsigned char ascii_class[128] = {
#define O GPTOSS_UC_OTHER
#define U GPTOSS_UC_UPPER
#define L GPTOSS_UC_LOWER
#define N GPTOSS_UC_NUMBER
#define S GPTOSS_UC_SPACE
#define NL GPTOSS_UC_NEWLINE
    O, O, O, O, O, O, O, O, O, S, NL, S, S, NL, O, O, /* 0x00 */
    O, O, O, O, O, O, O, O, O, O, O,  O, O, O,  O, O, /* 0x10 */
    S, O, O, O, O, O, O, O, O, O, O,  O, O, O,  O, O, /* 0x20 */
    N, N, N, N, N, N, N, N, N, N, O,  O, O, O,  O, O, /* 0x30 */
    O, U, U, U, U, U, U, U, U, U, U,  U, U, U,  U, U, /* 0x40 */
    U, U, U, U, U, U, U, U, U, U, U,  O, O, O,  O, O, /* 0x50 */
    O, L, L, L, L, L, L, L, L, L, L,  L, L, L,  L, L, /* 0x60 */
    L, L, L, L, L, L, L, L, L, L, L,  O, O, O,  O, O, /* 0x70 */
#undef O
#undef U
#undef L
#undef N
#undef S
#undef NL
};

/* Class of the character at s[i] (i < n) and its length in *len. Invalid bytes (only possible when
 * a caller skipped sanitising) count as one OTHER character per maximal subpart, like U+FFFD. */
static inline unsigned class_at(const unsigned char *s, size_t n, size_t i, size_t *len) {
    unsigned char c = s[i];
    if (c < 0x80) {
        *len = 1;
        return ascii_class[c];
    }
    uint32_t cp;
    *len = gptoss_utf8_decode(s + i, n - i, &cp);
    return (unsigned)gptoss_unicode_class_of(cp);
}

/* End of the longest run of characters in `set` starting at i; *last receives the start of its last
 * character (i if the run is empty). */
static size_t run_of(const unsigned char *s, size_t n, size_t i, unsigned set, size_t *last) {
    size_t len;
    *last = i;
    while (i < n && ((1u << class_at(s, n, i, &len)) & set)) {
        *last = i;
        i += len;
    }
    return i;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)? at i: the end after it, or i. Case-insensitive matching in the Rust
 * regex crate uses Unicode simple case folding, so 's' also matches U+017F LATIN SMALL LETTER LONG S. */
static size_t contraction(const unsigned char *s, size_t n, size_t i) {
    if (i + 1 >= n || s[i] != '\'') return i;
    unsigned char a = s[i + 1];
    if (a == 0xC5 && i + 2 < n && s[i + 2] == 0xBF) return i + 3; /* 'ſ */
    a = (unsigned char)(a | 0x20);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 >= n) return i;
    unsigned char b = (unsigned char)(s[i + 2] | 0x20);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return i;
}

/* Branches 1 and 2 (the letter branches), tried with the optional prefix character taken first and,
 * if that fails, without it. Returns the end of the match, or i if neither branch matches. */
static size_t letters(const unsigned char *s, size_t n, size_t i, unsigned c0, size_t len0) {
    size_t last, len;
    for (int branch = 1; branch <= 2; branch++) {
        for (int with_prefix = 1; with_prefix >= 0; with_prefix--) {
            size_t j = i;
            if (with_prefix) {
                if (!((1u << c0) & SET_PREFIX)) continue;
                j = i + len0;
            }
            size_t q = run_of(s, n, j, SET_UPPERISH, &last);
            size_t end;
            if (branch == 1) {
                /* [upperish]* [lowerish]+ : the upperish run is greedy; if no lowerish character
                 * follows it, backtrack to the last lowerish (Lm/Lo/M) character inside it. */
                if (q < n && class_at(s, n, q, &len) == GPTOSS_UC_LOWER) {
                    end = run_of(s, n, q, SET_LOWERISH, &last);
                } else {
                    end = j;
                    for (size_t k = j; k < q; k += len) {
                        unsigned ck = class_at(s, n, k, &len);
                        if ((1u << ck) & SET_LOWERISH) end = k + len;
                    }
                    if (end == j) continue;
                }
            } else {
                /* [upperish]+ [lowerish]* */
                if (q == j) continue;
                end = run_of(s, n, q, SET_LOWERISH, &last);
            }
            return contraction(s, n, end);
        }
    }
    return i;
}

size_t gptoss_pretokenize_next(const unsigned char *s, size_t n, size_t i) {
    size_t len0, len, last;
    unsigned c0 = class_at(s, n, i, &len0);

    /* Letter branches: the first character is a letter, or a possible prefix followed by one. */
    if ((1u << c0) & (C(UPPER) | C(LOWER) | C(LETTER) | C(MARK) | SET_PREFIX)) {
        size_t end = letters(s, n, i, c0, len0);
        if (end > i) return end;
    }
    /* \p{N}{1,3} */
    if (c0 == GPTOSS_UC_NUMBER) {
        size_t j = i + len0;
        for (int k = 1; k < 3 && j < n && class_at(s, n, j, &len) == GPTOSS_UC_NUMBER; k++) j += len;
        return j;
    }
    /* " ?[^\s\p{L}\p{N}]+[\r\n/]*" */
    {
        size_t j = i;
        if (s[i] == ' ' && i + 1 < n && ((1u << class_at(s, n, i + 1, &len)) & SET_PUNCT)) j = i + 1;
        if ((1u << class_at(s, n, j, &len)) & SET_PUNCT) {
            j = run_of(s, n, j, SET_PUNCT, &last);
            while (j < n && (s[j] == '\r' || s[j] == '\n' || s[j] == '/')) j++;
            return j;
        }
    }
    /* The whitespace branches. c0 is whitespace here: every other class matched above. */
    size_t k = run_of(s, n, i, SET_SPACE, &last);
    if (k == i) return i + len0; /* unreachable with valid tables; never loop forever */
    /* \s*[\r\n]+ : ends after the run's last \r or \n. */
    for (size_t p = k; p > i; p--)
        if (s[p - 1] == '\r' || s[p - 1] == '\n') return p;
    /* \s+(?!\S) : the whole run at the end of text, else the run minus its last character. */
    if (k == n || last > i) return k == n ? k : last;
    /* \s+ */
    return k;
}
