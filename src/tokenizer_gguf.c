/* tokenizer_gguf.c: the tokenizer to and from GGUF metadata. The reader uses the token strings
 * (the ranks are the ids, as in tokenizer.json's model.vocab) and the specials' literals; merges
 * are derivable from the ranks for a tiktoken-style BPE, so they are checked for presence, not
 * used, exactly as the tokenizer.json reader skips them. The writer emits the merges the Hugging
 * Face converter produces (every split of every token into two tokens, by merged rank then halves),
 * so other GGUF consumers see a complete vocabulary. */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer_gguf.h"
#include "tokenizer_internal.h"

#define TOKEN_TYPE_NORMAL 1
#define TOKEN_TYPE_CONTROL 3

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct gguf_merges {
    gptoss_buf *text;
    const gptoss_tokenizer *tok;
    size_t *start, n, cap;
} gguf_merges;

/* Each merge as "LEFT RIGHT" in the byte-level alphabet; start[] indexes them in text. */
static gptoss_status put_gguf_merge(void *ctx, uint32_t r, size_t split) {
    gguf_merges *m = ctx;
    if (m->n + 1 >= m->cap) {
        size_t *ns = realloc(m->start, 2 * m->cap * sizeof *ns);
        if (!ns) return GPTOSS_ERR_NO_MEMORY;
        m->start = ns;
        m->cap *= 2;
    }
    const unsigned char *p = m->tok->bytes + m->tok->off[r];
    size_t n = m->tok->off[r + 1] - m->tok->off[r];
    m->start[m->n++] = m->text->len;
    gptoss_tokenizer_put_spelled(m->text, p, split);
    gptoss_buf_append(m->text, " ", 1);
    gptoss_tokenizer_put_spelled(m->text, p + split, n - split);
    return m->text->failed ? GPTOSS_ERR_NO_MEMORY : GPTOSS_OK;
}

gptoss_status gptoss_gguf_write_tokenizer(gptoss_gguf_writer *w, const char *tok_path, const char *model_dir,
                                          uint32_t n_vocab, char *err, size_t err_size) {
    gptoss_tokenizer *tok = NULL;
    if (tok_path) {
        gptoss_status st = gptoss_tokenizer_load(tok_path, &tok, err, err_size);
        if (st != GPTOSS_OK) return st;
    } else if (gptoss_tokenizer_load(model_dir, &tok, NULL, 0) != GPTOSS_OK) {
        return GPTOSS_OK;
    }
    (void)n_vocab; /* the token list is o200k_harmony's 201088 whatever the model's vocabulary */
    const uint32_t N = GPTOSS_TOK_N_VOCAB;
    gptoss_buf text = {0}, mtext = {0};
    size_t *start = malloc((N + 1) * sizeof *start), *lens = malloc(N * sizeof *lens);
    const char **ptrs = malloc(N * sizeof *ptrs);
    int32_t *types = malloc(N * sizeof *types);
    gptoss_status st = GPTOSS_OK;
    if (!start || !lens || !ptrs || !types) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    for (uint32_t id = 0; id < N; id++) {
        const unsigned char *p = tok->bytes + tok->off[id];
        size_t n = tok->off[id + 1] - tok->off[id];
        start[id] = text.len;
        if (id < GPTOSS_TOK_N_TEXT) gptoss_tokenizer_put_spelled(&text, p, n);
        else gptoss_buf_append(&text, p, n);
        types[id] = id < GPTOSS_TOK_N_TEXT ? TOKEN_TYPE_NORMAL : TOKEN_TYPE_CONTROL;
    }
    start[N] = text.len;
    if (text.failed) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    for (uint32_t id = 0; id < N; id++) {
        ptrs[id] = text.data + start[id];
        lens[id] = start[id + 1] - start[id];
    }
    gptoss_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    gptoss_gguf_w_str(w, "tokenizer.ggml.pre", "gpt-4o");
    gptoss_gguf_w_arr_str(w, "tokenizer.ggml.tokens", ptrs, lens, N);
    gptoss_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, N);

    /* merges */
    gguf_merges gm = {&mtext, tok, malloc(((size_t)1 << 20) * sizeof(size_t)), 0, (size_t)1 << 20};
    if (!gm.start || gptoss_tokenizer_for_each_merge(tok, put_gguf_merge, &gm) != GPTOSS_OK) {
        free(gm.start);
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    size_t *mstart = gm.start, n_merges = gm.n;
    mstart[n_merges] = mtext.len;
    const char **mp = malloc((n_merges + 1) * sizeof *mp);
    size_t *ml = malloc((n_merges + 1) * sizeof *ml);
    if (!mp || !ml) {
        free(mp);
        free(ml);
        free(mstart);
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_merges; i++) {
        mp[i] = mtext.data + mstart[i];
        ml[i] = mstart[i + 1] - mstart[i];
    }
    gptoss_gguf_w_arr_str(w, "tokenizer.ggml.merges", mp, ml, n_merges);
    free(mp);
    free(ml);
    free(mstart);
    gptoss_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 199998);   /* <|startoftext|> */
    gptoss_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 200002);   /* <|return|> */
    gptoss_gguf_w_u32(w, "tokenizer.ggml.padding_token_id", 199999); /* <|endoftext|> */
done:
    gptoss_buf_free(&text);
    gptoss_buf_free(&mtext);
    free(start);
    free(lens);
    free(ptrs);
    free(types);
    gptoss_tokenizer_free(tok);
    return st;
}

/* ---- reading ------------------------------------------------------------------------------ */

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
