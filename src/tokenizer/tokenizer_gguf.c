/* tokenizer_gguf.c: the tokenizer from GGUF metadata (tokenizer.ggml.*). The reader uses the token
 * strings (the ranks are the ids, as in tokenizer.json's model.vocab) and the specials' literals;
 * merges are derivable from the ranks for a tiktoken-style BPE, so they are checked for presence,
 * not used, exactly as the tokenizer.json reader skips them. */
#include <stdio.h>
#include <stdlib.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/tokenizer_load.h"

#define TOKEN_TYPE_NORMAL 1
#define TOKEN_TYPE_CONTROL 3

/* Decodes one UTF-8 code point at s[*i] (< n); -1 if malformed. */
static long next_cp(const unsigned char *s, uint64_t n, uint64_t *i) {
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    if ((c & 0xE0) == 0xC0 && *i + 1 < n && (s[*i + 1] & 0xC0) == 0x80) {
        long cp = ((long)(c & 0x1F) << 6) | (s[*i + 1] & 0x3F);
        *i += 2;
        return cp;
    }
    return -1;
}

gptoss_status gptoss_tokenizer_from_gguf(const gptoss_gguf *g, gptoss_tokenizer **out, char *err, size_t err_size) {
    *out = NULL;
    const char *s;
    uint64_t n;
    if (!gptoss_gguf_get_str(g, "tokenizer.ggml.model", &s, &n))
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: no tokenizer in the metadata (tokenizer.ggml.model)",
                           g->path);
    if (n != 4 || memcmp(s, "gpt2", 4) != 0)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: tokenizer.ggml.model '%.*s' is not gpt2", g->path,
                           (int)(n > 32 ? 32 : n), s);
    if (gptoss_gguf_get_str(g, "tokenizer.ggml.pre", &s, &n) && !(n == 6 && !memcmp(s, "gpt-4o", 6)))
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                           "%s: tokenizer.ggml.pre '%.*s' is not gpt-4o (o200k), the only pre-tokenizer supported",
                           g->path, (int)(n > 32 ? 32 : n), s);
    const gptoss_gguf_kv *kv = gptoss_gguf_find(g, "tokenizer.ggml.tokens");
    if (!kv || kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_STRING)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tokenizer.ggml.tokens is missing or not a string array",
                           g->path);
    if (kv->arr_n < GPTOSS_TOK_N_TEXT || kv->arr_n > GPTOSS_TOK_N_VOCAB)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: tokenizer.ggml.tokens has %llu entries, o200k_harmony needs %u to %u", g->path,
                           (unsigned long long)kv->arr_n, GPTOSS_TOK_N_TEXT, GPTOSS_TOK_N_VOCAB);
    const gptoss_gguf_kv *types = gptoss_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != GGUF_TYPE_ARRAY || types->arr_n != kv->arr_n ||
                  (types->arr_type != GGUF_TYPE_INT32 && types->arr_type != GGUF_TYPE_UINT32)))
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: tokenizer.ggml.token_type must be an int32 array as long as tokenizer.ggml.tokens", g->path);
    /* text tokens: decode the byte-level spelling */
    uint64_t total = 0;
    for (uint64_t id = 0; id < GPTOSS_TOK_N_TEXT; id++) {
        gptoss_gguf_arr_str(kv, id, &s, &n);
        total += n; /* decoded bytes <= spelled bytes */
    }
    if (total > UINT32_MAX)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tokenizer.ggml.tokens is too large", g->path);
    unsigned char *bytes = malloc(total ? (size_t)total : 1);
    uint32_t *off = malloc((GPTOSS_TOK_N_TEXT + 1) * sizeof *off);
    if (!bytes || !off) {
        free(bytes);
        free(off);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    uint32_t o = 0;
    for (uint32_t id = 0; id < GPTOSS_TOK_N_TEXT; id++) {
        gptoss_gguf_arr_str(kv, id, &s, &n);
        off[id] = o;
        if (types && gptoss_gguf_arr_int(types, id) != TOKEN_TYPE_NORMAL) {
            free(bytes);
            free(off);
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: token %u has type %lld, expected 1 (normal)", g->path,
                               id, (long long)gptoss_gguf_arr_int(types, id));
        }
        for (uint64_t i = 0; i < n;) {
            long cp = next_cp((const unsigned char *)s, n, &i);
            int b = cp < 0 ? -1 : gptoss_tokenizer_cp_to_byte((uint32_t)cp);
            if (b < 0) {
                free(bytes);
                free(off);
                return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                   "%s: token %u '%.*s' is not in the GPT-2 byte-level alphabet", g->path, id,
                                   (int)(n > 64 ? 64 : n), s);
            }
            bytes[o++] = (unsigned char)b;
        }
        if (n == 0) {
            free(bytes);
            free(off);
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: token %u is empty", g->path, id);
        }
    }
    off[GPTOSS_TOK_N_TEXT] = o;
    /* specials: each listed literal names its id, as tokenizer.json's added_tokens do */
    size_t n_extra = (size_t)(kv->arr_n - GPTOSS_TOK_N_TEXT);
    uint32_t *ids = malloc((n_extra + 1) * sizeof *ids);
    char **names = calloc(n_extra + 1, sizeof *names);
    gptoss_status st = GPTOSS_OK;
    size_t k = 0;
    if (!ids || !names) st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    for (; st == GPTOSS_OK && k < n_extra; k++) {
        gptoss_gguf_arr_str(kv, GPTOSS_TOK_N_TEXT + k, &s, &n);
        ids[k] = (uint32_t)(GPTOSS_TOK_N_TEXT + k);
        names[k] = malloc((size_t)n + 1);
        if (!names[k]) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            break;
        }
        memcpy(names[k], s, (size_t)n);
        names[k][n] = 0;
        if (strlen(names[k]) != n) {
            st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: token %u contains a NUL byte", g->path, ids[k]);
            k++;
            break;
        }
    }
    gptoss_tokenizer *tok = NULL;
    if (st == GPTOSS_OK) {
        tok = calloc(1, sizeof *tok);
        if (!tok) st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    if (st == GPTOSS_OK) {
        char msg[400] = "";
        st = gptoss_tokenizer_build(tok, bytes, off, ids, (const char *const *)names, n_extra, msg, sizeof msg);
        bytes = NULL; /* owned by tok now */
        off = NULL;
        if (st != GPTOSS_OK) gptoss_fail(st, err, err_size, "%s: %s", g->path, msg);
    }
    for (size_t i = 0; i < k; i++) free(names[i]);
    free(names);
    free(ids);
    free(bytes);
    free(off);
    if (st != GPTOSS_OK) {
        if (tok) gptoss_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return GPTOSS_OK;
}

gptoss_status gptoss_tokenizer_load_gguf(const char *path, gptoss_tokenizer **out, char *err, size_t err_size) {
    gptoss_gguf g;
    gptoss_status st = gptoss_gguf_open(&g, path, err, err_size);
    if (st != GPTOSS_OK) return st;
    st = gptoss_tokenizer_from_gguf(&g, out, err, err_size);
    gptoss_gguf_free(&g);
    return st;
}
