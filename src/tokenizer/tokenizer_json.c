/* tokenizer_json.c: reads a Hugging Face tokenizer.json for o200k_harmony. A single pass that decodes
 * only model.vocab, added_tokens and the pre-tokenizer's regex and skips the rest (merges are ~80%
 * of the 27 MB file and carry nothing tiktoken-style BPE needs: ranks are the ids). The general JSON
 * tree of json.c takes longer than the whole 150 ms load budget on this file. */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/tokenizer_load.h"
#include "tokenizer/unicode.h"

#define MAX_DEPTH 256
#define MAX_ADDED 4096

typedef struct cursor {
    const char *p, *start, *end;
    char *err;
    size_t err_size;
    gptoss_status st; /* first failure */
} cursor;

static int fail(cursor *c, gptoss_status st, const char *msg) {
    if (c->st == GPTOSS_OK) {
        c->st = st;
        gptoss_fail(st, c->err, c->err_size, "tokenizer.json, byte %zu: %s", (size_t)(c->p - c->start), msg);
    }
    return 0;
}

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t')) c->p++;
}

static int expect(cursor *c, char ch) {
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch) {
        char msg[32];
        snprintf(msg, sizeof msg, "expected '%c'", ch);
        return fail(c, GPTOSS_ERR_FORMAT, msg);
    }
    c->p++;
    return 1;
}

/* After '{' or ',' in an object / array: 1 if another element follows, 0 at the closing bracket
 * (consumed) or on error (c->st set). `first`: no comma is expected before this element. */
static int next_element(cursor *c, char close, int first) {
    skip_ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    if (!first && !expect(c, ',')) return 0;
    return 1;
}

static int hex4(cursor *c, uint32_t *out) {
    if (c->end - c->p < 4) return fail(c, GPTOSS_ERR_FORMAT, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char h = c->p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (uint32_t)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (uint32_t)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (uint32_t)(h - 'A' + 10);
        else return fail(c, GPTOSS_ERR_FORMAT, "bad \\u escape");
    }
    c->p += 4;
    *out = v;
    return 1;
}

/* Reads one character of a string body (c->p < end, *c->p not '"'): the code point in *cp. */
static int string_char(cursor *c, uint32_t *cp) {
    unsigned char ch = (unsigned char)*c->p;
    if (ch < 0x20) return fail(c, GPTOSS_ERR_FORMAT, "control character in string");
    if (ch != '\\') {
        size_t k = gptoss_utf8_decode((const unsigned char *)c->p, (size_t)(c->end - c->p), cp);
        if (*cp == 0xFFFFFFFFu) return fail(c, GPTOSS_ERR_FORMAT, "invalid UTF-8 in string");
        c->p += k;
        return 1;
    }
    if (c->end - c->p < 2) return fail(c, GPTOSS_ERR_FORMAT, "truncated escape");
    char e = c->p[1];
    c->p += 2;
    switch (e) {
    case '"': *cp = '"'; return 1;
    case '\\': *cp = '\\'; return 1;
    case '/': *cp = '/'; return 1;
    case 'b': *cp = '\b'; return 1;
    case 'f': *cp = '\f'; return 1;
    case 'n': *cp = '\n'; return 1;
    case 'r': *cp = '\r'; return 1;
    case 't': *cp = '\t'; return 1;
    case 'u': break;
    default: return fail(c, GPTOSS_ERR_FORMAT, "bad escape");
    }
    if (!hex4(c, cp)) return 0;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return fail(c, GPTOSS_ERR_FORMAT, "lone surrogate");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        uint32_t lo;
        if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return fail(c, GPTOSS_ERR_FORMAT, "lone surrogate");
        c->p += 2;
        if (!hex4(c, &lo)) return 0;
        if (lo < 0xDC00 || lo > 0xDFFF) return fail(c, GPTOSS_ERR_FORMAT, "lone surrogate");
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return 1;
}

static void put_utf8(gptoss_buf *b, uint32_t cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | cp >> 6); u[1] = (unsigned char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12); u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18); u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (unsigned char)(0x80 | (cp & 0x3F)); n = 4;
    }
    gptoss_buf_append(b, u, n);
}

/* A string value, decoded to UTF-8 into out (replacing its contents). */
static int read_string(cursor *c, gptoss_buf *out) {
    if (!expect(c, '"')) return 0;
    out->len = 0;
    for (;;) {
        if (c->p >= c->end) return fail(c, GPTOSS_ERR_FORMAT, "unterminated string");
        if (*c->p == '"') break;
        uint32_t cp;
        if (!string_char(c, &cp)) return 0;
        put_utf8(out, cp);
    }
    c->p++;
    if (!gptoss_buf_cstr(out)) return fail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
    return 1;
}

/* Skips a string starting at '"' without decoding it. A byte loop: the strings skipped (merges)
 * are a few bytes long, too short for memchr to pay off. */
static int skip_string(cursor *c) {
    const char *p = c->p + 1, *end = c->end;
    while (p < end) {
        char ch = *p++;
        if (ch == '"') {
            c->p = p;
            return 1;
        }
        if (ch == '\\') p++;
    }
    c->p = end;
    return fail(c, GPTOSS_ERR_FORMAT, "unterminated string");
}

/* Skips any value, checking bracket structure but not the contents of scalars. */
static int skip_value(cursor *c) {
    char stack[MAX_DEPTH];
    size_t depth = 0;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end) return fail(c, GPTOSS_ERR_FORMAT, "unexpected end of file");
        char ch = *c->p;
        if (ch == '"') {
            if (!skip_string(c)) return 0;
        } else if (ch == '{' || ch == '[') {
            if (depth == MAX_DEPTH) return fail(c, GPTOSS_ERR_FORMAT, "nesting too deep");
            stack[depth++] = ch == '{' ? '}' : ']';
            c->p++;
            continue;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0 || stack[depth - 1] != ch) return fail(c, GPTOSS_ERR_FORMAT, "mismatched bracket");
            depth--;
            c->p++;
        } else if (ch == ',' || ch == ':') {
            if (depth == 0) return fail(c, GPTOSS_ERR_FORMAT, "unexpected separator");
            c->p++;
            continue;
        } else {
            const char *s = c->p;
            while (c->p < c->end && ((*c->p >= '0' && *c->p <= '9') || (*c->p >= 'a' && *c->p <= 'z') ||
                                     *c->p == '-' || *c->p == '+' || *c->p == '.' || *c->p == 'E'))
                c->p++;
            if (c->p == s) return fail(c, GPTOSS_ERR_FORMAT, "unexpected character");
        }
        if (depth == 0) return 1;
    }
}

static int read_uint(cursor *c, uint64_t *out) {
    skip_ws(c);
    const char *s = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (v > (UINT32_MAX - 9) / 10) return fail(c, GPTOSS_ERR_FORMAT, "number too large");
        v = v * 10 + (uint64_t)(*c->p - '0');
        c->p++;
    }
    if (c->p == s || (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E')))
        return fail(c, GPTOSS_ERR_FORMAT, "expected a non-negative integer");
    *out = v;
    return 1;
}

static int key_is(const gptoss_buf *key, const char *s) { return key->len == strlen(s) && !memcmp(key->data, s, key->len); }

/* ----------------------------------------------------------------------------------------------
 * The parts we read
 * -------------------------------------------------------------------------------------------- */
typedef struct loader {
    cursor c;
    gptoss_buf key, str;
    int16_t cp_byte[324]; /* byte-level alphabet: code point -> byte, -1 outside */
    /* Vocab, in file order: the bytes of each entry and where its id says it goes. */
    unsigned char *vb;
    size_t vb_len, vb_cap;
    uint32_t *vstart, *vlen; /* indexed by id */
    uint32_t n_vocab;
    /* added_tokens */
    uint32_t added_id[MAX_ADDED];
    char *added_name[MAX_ADDED];
    size_t n_added;
    int saw_vocab;
} loader;

/* Room for at least one more vocab byte. */
static int vb_grow(loader *L) {
    size_t cap = L->vb_cap ? L->vb_cap * 2 : (size_t)1 << 21;
    unsigned char *nb = realloc(L->vb, cap);
    if (!nb) return fail(&L->c, GPTOSS_ERR_NO_MEMORY, "out of memory");
    L->vb = nb;
    L->vb_cap = cap;
    return 1;
}

static int parse_vocab(loader *L) {
    cursor *c = &L->c;
    if (!expect(c, '{')) return 0;
    for (int first = 1; next_element(c, '}', first); first = 0) {
        if (!expect(c, '"')) return 0;
        size_t start = L->vb_len, w = start;
        for (;;) {
            if (c->p >= c->end) return fail(c, GPTOSS_ERR_FORMAT, "unterminated string");
            unsigned char ch = (unsigned char)*c->p;
            if (ch == '"') break;
            int b;
            if (ch >= 0x21 && ch <= 0x7E && ch != '\\') { /* the common case: printable ASCII is itself */
                b = ch;
                c->p++;
            } else {
                uint32_t cp;
                if (!string_char(c, &cp)) return 0;
                b = cp < 324 ? L->cp_byte[cp] : -1;
                if (b < 0) return fail(c, GPTOSS_ERR_FORMAT, "vocab key has a character outside the byte-level alphabet");
            }
            if (w == L->vb_cap && !vb_grow(L)) return 0;
            L->vb[w++] = (unsigned char)b;
        }
        c->p++;
        L->vb_len = w;
        uint64_t id;
        if (!expect(c, ':') || !read_uint(c, &id)) return 0;
        if (id >= GPTOSS_TOK_N_TEXT) {
            char msg[96];
            snprintf(msg, sizeof msg, "vocab id %llu: o200k_harmony's BPE ids are 0..%u", (unsigned long long)id,
                     GPTOSS_TOK_N_TEXT - 1);
            return fail(c, GPTOSS_ERR_FORMAT, msg);
        }
        if (L->vlen[id] != UINT32_MAX) return fail(c, GPTOSS_ERR_FORMAT, "vocab id repeated");
        if (L->vb_len == start || L->vb_len > UINT32_MAX) return fail(c, GPTOSS_ERR_FORMAT, "bad vocab key");
        L->vstart[id] = (uint32_t)start;
        L->vlen[id] = (uint32_t)(L->vb_len - start);
        L->n_vocab++;
    }
    L->saw_vocab = 1;
    return c->st == GPTOSS_OK;
}

static int parse_model(loader *L) {
    cursor *c = &L->c;
    if (!expect(c, '{')) return 0;
    for (int first = 1; next_element(c, '}', first); first = 0) {
        if (!read_string(c, &L->key) || !expect(c, ':')) return 0;
        if (key_is(&L->key, "vocab")) {
            if (!parse_vocab(L)) return 0;
        } else if (key_is(&L->key, "type")) {
            if (!read_string(c, &L->str)) return 0;
            if (strcmp(L->str.data, "BPE") != 0) return fail(c, GPTOSS_ERR_UNSUPPORTED, "model type is not BPE");
        } else if (!skip_value(c)) {
            return 0;
        }
    }
    return c->st == GPTOSS_OK;
}

static int parse_added_tokens(loader *L) {
    cursor *c = &L->c;
    if (!expect(c, '[')) return 0;
    for (int first = 1; next_element(c, ']', first); first = 0) {
        uint64_t id = UINT64_MAX;
        char *name = NULL;
        if (!expect(c, '{')) return 0;
        for (int f2 = 1; next_element(c, '}', f2); f2 = 0) {
            if (!read_string(c, &L->key) || !expect(c, ':')) break;
            if (key_is(&L->key, "id")) {
                if (!read_uint(c, &id)) break;
            } else if (key_is(&L->key, "content")) {
                if (!read_string(c, &L->str)) break;
                free(name);
                name = malloc(L->str.len + 1);
                if (!name) {
                    fail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                    break;
                }
                memcpy(name, L->str.data, L->str.len + 1);
            } else if (!skip_value(c)) {
                break;
            }
        }
        if (c->st == GPTOSS_OK && (id == UINT64_MAX || !name))
            fail(c, GPTOSS_ERR_FORMAT, "added token without id or content");
        if (c->st == GPTOSS_OK && L->n_added == MAX_ADDED) fail(c, GPTOSS_ERR_FORMAT, "too many added tokens");
        if (c->st != GPTOSS_OK) {
            free(name);
            return 0;
        }
        L->added_id[L->n_added] = (uint32_t)id;
        L->added_name[L->n_added++] = name;
    }
    return c->st == GPTOSS_OK;
}

/* Walks a value (the pre_tokenizer), checking every "Regex" string in it against the o200k pattern:
 * a different pattern would need a different pre-tokenizer than this build has. */
static int check_regexes(loader *L, int depth) {
    cursor *c = &L->c;
    if (depth > MAX_DEPTH) return fail(c, GPTOSS_ERR_FORMAT, "nesting too deep");
    skip_ws(c);
    if (c->p >= c->end) return fail(c, GPTOSS_ERR_FORMAT, "unexpected end of file");
    if (*c->p == '[') {
        c->p++;
        for (int first = 1; next_element(c, ']', first); first = 0)
            if (!check_regexes(L, depth + 1)) return 0;
        return c->st == GPTOSS_OK;
    }
    if (*c->p != '{') return skip_value(c);
    c->p++;
    for (int first = 1; next_element(c, '}', first); first = 0) {
        if (!read_string(c, &L->key) || !expect(c, ':')) return 0;
        if (key_is(&L->key, "Regex")) {
            if (!read_string(c, &L->str)) return 0;
            if (strcmp(L->str.data, gptoss_tokenizer_o200k_pattern) != 0)
                return fail(c, GPTOSS_ERR_UNSUPPORTED, "the pre-tokenizer regex is not o200k's");
        } else if (!check_regexes(L, depth + 1)) {
            return 0;
        }
    }
    return c->st == GPTOSS_OK;
}

gptoss_status gptoss_tokenizer_parse_json(gptoss_tokenizer *tok, const char *text, size_t len, char *err,
                                          size_t err_size) {
    loader *L = calloc(1, sizeof *L);
    if (!L) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    cursor *c = &L->c;
    c->p = c->start = text;
    c->end = text + len;
    c->err = err;
    c->err_size = err_size;
    for (uint32_t cp = 0; cp < 324; cp++) L->cp_byte[cp] = -1;
    for (unsigned b = 0; b < 256; b++) L->cp_byte[gptoss_tokenizer_byte_to_cp((unsigned char)b)] = (int16_t)b;
    L->vstart = malloc(GPTOSS_TOK_N_TEXT * sizeof *L->vstart);
    L->vlen = malloc(GPTOSS_TOK_N_TEXT * sizeof *L->vlen);
    unsigned char *bytes = NULL;
    uint32_t *off = NULL;
    gptoss_status st;
    if (!L->vstart || !L->vlen) {
        fail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    memset(L->vlen, 0xFF, GPTOSS_TOK_N_TEXT * sizeof *L->vlen);
    if (!expect(c, '{')) goto done;
    for (int first = 1; next_element(c, '}', first); first = 0) {
        if (!read_string(c, &L->key) || !expect(c, ':')) break;
        int ok;
        if (key_is(&L->key, "model")) ok = parse_model(L);
        else if (key_is(&L->key, "added_tokens")) ok = parse_added_tokens(L);
        else if (key_is(&L->key, "pre_tokenizer")) ok = check_regexes(L, 0);
        else ok = skip_value(c);
        if (!ok) break;
    }
    if (c->st != GPTOSS_OK) goto done;
    skip_ws(c);
    if (c->p != c->end) {
        fail(c, GPTOSS_ERR_FORMAT, "trailing characters after the top-level object");
        goto done;
    }
    if (!L->saw_vocab || L->n_vocab != GPTOSS_TOK_N_TEXT) {
        char msg[96];
        snprintf(msg, sizeof msg, "model.vocab has %u entries, o200k_harmony needs %u", L->n_vocab, GPTOSS_TOK_N_TEXT);
        fail(c, GPTOSS_ERR_FORMAT, msg);
        goto done;
    }
    bytes = malloc(L->vb_len + 1);
    off = malloc((GPTOSS_TOK_N_TEXT + 1) * sizeof *off);
    if (!bytes || !off) {
        fail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    uint32_t o = 0;
    for (uint32_t id = 0; id < GPTOSS_TOK_N_TEXT; id++) {
        off[id] = o;
        memcpy(bytes + o, L->vb + L->vstart[id], L->vlen[id]);
        o += L->vlen[id];
    }
    off[GPTOSS_TOK_N_TEXT] = o;
    st = gptoss_tokenizer_build(tok, bytes, off, L->added_id, (const char *const *)L->added_name, L->n_added, err,
                                err_size);
    bytes = NULL;
    off = NULL;
    c->st = st;
done:
    st = c->st;
    free(bytes);
    free(off);
    for (size_t i = 0; i < L->n_added; i++) free(L->added_name[i]);
    free(L->vstart);
    free(L->vlen);
    free(L->vb);
    gptoss_buf_free(&L->key);
    gptoss_buf_free(&L->str);
    free(L);
    return st;
}
