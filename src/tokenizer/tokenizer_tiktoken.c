/* tokenizer_tiktoken.c: the tiktoken rank file loader (o200k_base.tiktoken): one "base64(bytes) rank"
 * line per token, ranks in any order, every rank below the text-token count present once. */
#include <stdlib.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/tokenizer_load.h"

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes s[0..n) (padded base64) into out; returns the byte count or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out) {
    if (n == 0 || n % 4) return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad) return -1;
                v[k] = b64_value(c);
                if (v[k] < 0) return -1;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(x >> 16);
        if (pad < 2) out[o++] = (unsigned char)(x >> 8);
        if (pad < 1) out[o++] = (unsigned char)x;
    }
    return (long)o;
}

gptoss_status gptoss_tokenizer_parse_tiktoken(gptoss_tokenizer *tok, const char *text, size_t len, char *err,
                                              size_t err_size) {
    /* Ranks may come in any order: place them by rank in a first pass, then lay the bytes out. */
    uint32_t *line_of = malloc(GPTOSS_TOK_N_TEXT * sizeof *line_of);
    const char **b64 = malloc(GPTOSS_TOK_N_TEXT * sizeof *b64);
    uint32_t *b64_len = malloc(GPTOSS_TOK_N_TEXT * sizeof *b64_len);
    unsigned char *bytes = NULL;
    uint32_t *off = NULL;
    gptoss_status st = GPTOSS_OK;
    if (!line_of || !b64 || !b64_len) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    for (uint32_t r = 0; r < GPTOSS_TOK_N_TEXT; r++) line_of[r] = 0;
    const char *p = text, *end = text + len;
    uint32_t line = 0, count = 0;
    size_t total = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        if (le > p && le[-1] == '\r') le--;
        if (le == p) { /* blank line (a trailing newline) */
            p = nl ? nl + 1 : end;
            continue;
        }
        const char *sp = memchr(p, ' ', (size_t)(le - p));
        uint64_t r = 0;
        const char *q = sp ? sp + 1 : le;
        if (!sp || sp == p || q == le) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tiktoken line %u: expected 'BASE64 RANK'", line);
            goto done;
        }
        for (; q < le; q++) {
            if (*q < '0' || *q > '9' || r > GPTOSS_TOK_N_TEXT) {
                st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tiktoken line %u: bad rank", line);
                goto done;
            }
            r = r * 10 + (uint64_t)(*q - '0');
        }
        if (r >= GPTOSS_TOK_N_TEXT) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                             "tiktoken line %u: rank %llu, o200k_harmony has ranks 0..%u", line,
                             (unsigned long long)r, GPTOSS_TOK_N_TEXT - 1);
            goto done;
        }
        if (line_of[r]) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tiktoken line %u: rank %u repeats line %u", line,
                             (uint32_t)r, line_of[r]);
            goto done;
        }
        line_of[r] = line;
        b64[r] = p;
        b64_len[r] = (uint32_t)(sp - p);
        total += (size_t)(sp - p);
        count++;
        p = nl ? nl + 1 : end;
    }
    if (count != GPTOSS_TOK_N_TEXT) {
        st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tiktoken file has %u ranks, o200k_harmony needs %u",
                         count, GPTOSS_TOK_N_TEXT);
        goto done;
    }
    bytes = malloc(total / 4 * 3 + 1);
    off = malloc((GPTOSS_TOK_N_TEXT + 1) * sizeof *off);
    if (!bytes || !off) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    size_t o = 0;
    for (uint32_t r = 0; r < GPTOSS_TOK_N_TEXT; r++) {
        off[r] = (uint32_t)o;
        long k = b64_decode(b64[r], b64_len[r], bytes + o);
        if (k <= 0) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tiktoken line %u: bad base64", line_of[r]);
            goto done;
        }
        o += (size_t)k;
    }
    off[GPTOSS_TOK_N_TEXT] = (uint32_t)o;
    st = gptoss_tokenizer_build(tok, bytes, off, NULL, NULL, 0, err, err_size);
    bytes = NULL;
    off = NULL;
done:
    free(line_of);
    free(b64);
    free(b64_len);
    free(bytes);
    free(off);
    return st;
}
