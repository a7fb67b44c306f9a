/* tokenizer.c: the tokenizer's core: building one from its text tokens (gptoss_tokenizer_build, the
 * one constructor every loader ends in), the harmony special-token table, id <-> bytes lookups, and
 * decoding (whole and streaming). It reads no file: the loaders (tokenizer_load.h) do. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* ----------------------------------------------------------------------------------------------
 * GPT-2 byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes are
 * shifted to U+0100.. in byte order. tokenizer.json spells token bytes in it.
 * -------------------------------------------------------------------------------------------- */
static int byte_is_printable(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

uint32_t gptoss_tokenizer_byte_to_cp(unsigned char b) {
    if (byte_is_printable(b)) return b;
    uint32_t k = 0;
    for (unsigned x = 0; x < b; x++) k += !byte_is_printable(x);
    return 256 + k;
}

int gptoss_tokenizer_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t k = cp - 256;
    for (unsigned x = 0; x < 256; x++)
        if (!byte_is_printable(x) && k-- == 0) return (int)x;
    return -1;
}

/* ----------------------------------------------------------------------------------------------
 * Special tokens: o200k_harmony's table (tiktoken's o200k_harmony, as in
 * shared/vocab/o200k_harmony_special_tokens.tsv): every id 199998..201087 is special; the ones below
 * have names, the rest are <|reserved_ID|>. 200018 keeps o200k_base's <|endofprompt|> as its decoded
 * form and also answers to <|reserved_200018|>.
 * -------------------------------------------------------------------------------------------- */
static const struct {
    uint32_t id;
    const char *name;
} named_specials[] = {
    {199998, "<|startoftext|>"}, {199999, "<|endoftext|>"}, {200002, "<|return|>"},
    {200003, "<|constrain|>"},   {200005, "<|channel|>"},   {200006, "<|start|>"},
    {200007, "<|end|>"},         {200008, "<|message|>"},   {200012, "<|call|>"},
    {200018, "<|endofprompt|>"},
};

static int special_cmp(const void *a, const void *b) {
    const gptoss_tok_special *x = a, *y = b;
    size_t k = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, k);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* A literal the special-token scanner can find: "<|" ... "|>" with no "|>" inside. */
static int special_literal_ok(const char *s, size_t n) {
    if (n < 4 || n > 256 || memcmp(s, "<|", 2) || memcmp(s + n - 2, "|>", 2)) return 0;
    for (size_t i = 2; i + 3 < n; i++)
        if (s[i] == '|' && s[i + 1] == '>') return 0;
    return 1;
}

gptoss_status gptoss_tokenizer_build(gptoss_tokenizer *tok, unsigned char *text_bytes, uint32_t *text_off,
                                     const uint32_t *extra_ids, const char *const *extra_names, size_t n_extra,
                                     char *err, size_t err_size) {
    enum { N_SPECIAL = GPTOSS_TOK_N_VOCAB - GPTOSS_TOK_N_TEXT };
    const uint32_t n_special_ids = N_SPECIAL;
    /* builtin: o200k_harmony's name of each special id. primary: how it decodes, where a
     * tokenizer.json's added_tokens win (so a renamed reserved token round-trips); the built-in name
     * stays valid for lookup. */
    char reserved[N_SPECIAL][24];
    const char *builtin[N_SPECIAL], *primary[N_SPECIAL];
    tok->bytes = text_bytes;
    tok->off = text_off;
    for (uint32_t k = 0; k < n_special_ids; k++) {
        snprintf(reserved[k], sizeof reserved[k], "<|reserved_%u|>", GPTOSS_TOK_N_TEXT + k);
        builtin[k] = reserved[k];
    }
    for (size_t i = 0; i < sizeof named_specials / sizeof named_specials[0]; i++)
        builtin[named_specials[i].id - GPTOSS_TOK_N_TEXT] = named_specials[i].name;
    memcpy(primary, builtin, sizeof primary);
    for (size_t i = 0; i < n_extra; i++) {
        if (extra_ids[i] < GPTOSS_TOK_N_TEXT || extra_ids[i] >= GPTOSS_TOK_N_VOCAB)
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                               "added token %u is outside o200k_harmony's special range %u..%u", extra_ids[i],
                               GPTOSS_TOK_N_TEXT, GPTOSS_TOK_N_VOCAB - 1);
        if (!special_literal_ok(extra_names[i], strlen(extra_names[i])))
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "added token %u: '%s' is not a <|...|> literal",
                               extra_ids[i], extra_names[i]);
        primary[extra_ids[i] - GPTOSS_TOK_N_TEXT] = extra_names[i];
    }

    /* Names: every primary, each built-in name an added token replaced, and <|reserved_200018|>
     * (o200k_harmony keeps it beside o200k_base's <|endofprompt|> for the same id). */
    const uint32_t alias = 200018 - GPTOSS_TOK_N_TEXT;
    size_t cap = 2 * (size_t)n_special_ids + 1, names_len = 0, n = 0;
    gptoss_tok_special *sp = calloc(cap, sizeof *sp);
    const char **src = calloc(cap, sizeof *src);
    if (!sp || !src) {
        free(sp);
        free(src);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    for (uint32_t k = 0; k < n_special_ids; k++) {
        sp[n].id = GPTOSS_TOK_N_TEXT + k;
        src[n++] = primary[k];
        if (strcmp(builtin[k], primary[k]) != 0) {
            sp[n].id = GPTOSS_TOK_N_TEXT + k;
            src[n++] = builtin[k];
        }
    }
    if (strcmp(reserved[alias], primary[alias]) != 0 && strcmp(reserved[alias], builtin[alias]) != 0) {
        sp[n].id = GPTOSS_TOK_N_TEXT + alias;
        src[n++] = reserved[alias];
    }
    for (size_t i = 0; i < n; i++) names_len += strlen(src[i]) + 1;

    /* Id bytes: text tokens, then each special id's primary literal. */
    size_t text_len = text_off[GPTOSS_TOK_N_TEXT], spec_len = 0;
    for (uint32_t k = 0; k < n_special_ids; k++) spec_len += strlen(primary[k]);
    unsigned char *bytes = realloc(text_bytes, text_len + spec_len);
    uint32_t *off = realloc(text_off, (GPTOSS_TOK_N_VOCAB + 1) * sizeof *off);
    tok->names = malloc(names_len);
    if (bytes) tok->bytes = bytes;
    if (off) tok->off = off;
    if (!bytes || !off || !tok->names || text_len + spec_len > UINT32_MAX) {
        free(sp);
        free(src);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    size_t pos = text_len;
    for (uint32_t k = 0; k < n_special_ids; k++) {
        size_t l = strlen(primary[k]);
        memcpy(bytes + pos, primary[k], l);
        pos += l;
        off[GPTOSS_TOK_N_TEXT + k + 1] = (uint32_t)pos;
    }
    char *w = tok->names;
    uint32_t max_len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(src[i]);
        memcpy(w, src[i], l + 1);
        sp[i].name = w;
        sp[i].len = (uint32_t)l;
        if (sp[i].len > max_len) max_len = sp[i].len;
        w += l + 1;
    }
    free(src);
    qsort(sp, n, sizeof *sp, special_cmp);
    tok->specials = sp;
    tok->n_specials = (uint32_t)n;
    tok->max_special_len = max_len;
    for (size_t i = 1; i < n; i++)
        if (special_cmp(&sp[i - 1], &sp[i]) == 0 && sp[i - 1].id != sp[i].id)
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "special literal %s names both %u and %u",
                               sp[i].name, sp[i - 1].id, sp[i].id);
    return gptoss_tokenizer_index(tok, err, err_size);
}

void gptoss_tokenizer_free(gptoss_tokenizer *tok) {
    if (!tok) return;
    free(tok->bytes);
    free(tok->off);
    free(tok->slots);
    free(tok->pair_rank);
    free(tok->specials);
    free(tok->names);
    free(tok);
}

uint32_t gptoss_tokenizer_n_vocab(const gptoss_tokenizer *tok) { return tok ? GPTOSS_TOK_N_VOCAB : 0; }

const char *gptoss_tokenizer_token_bytes(const gptoss_tokenizer *tok, uint32_t id, size_t *len) {
    if (!tok || id >= GPTOSS_TOK_N_VOCAB) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = tok->off[id + 1] - tok->off[id];
    return (const char *)tok->bytes + tok->off[id];
}

int gptoss_tokenizer_special_id(const gptoss_tokenizer *tok, const char *literal, uint32_t *id) {
    if (!tok || !literal) return -1;
    const gptoss_tok_special *sp = gptoss_tokenizer_find_special(tok, literal, strlen(literal));
    if (!sp) return -1;
    if (id) *id = sp->id;
    return 0;
}

int gptoss_tokenizer_is_special(const gptoss_tokenizer *tok, uint32_t id) {
    return tok && id >= GPTOSS_TOK_N_TEXT && id < GPTOSS_TOK_N_VOCAB;
}

/* ----------------------------------------------------------------------------------------------
 * Decoding
 * -------------------------------------------------------------------------------------------- */
gptoss_status gptoss_tokenizer_decode(const gptoss_tokenizer *tok, const uint32_t *ids, size_t n_ids, char **out,
                                      size_t *out_len, char *err, size_t err_size) {
    if (!tok || !out || (!ids && n_ids))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "decode: NULL argument");
    *out = NULL;
    if (out_len) *out_len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] >= GPTOSS_TOK_N_VOCAB)
            return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size,
                               "invalid token for decoding: %u (the vocabulary has %u ids)", ids[i], GPTOSS_TOK_N_VOCAB);
        total += tok->off[ids[i] + 1] - tok->off[ids[i]];
    }
    char *buf = malloc(total + 1);
    if (!buf) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t l = tok->off[ids[i] + 1] - tok->off[ids[i]];
        memcpy(buf + o, tok->bytes + tok->off[ids[i]], l);
        o += l;
    }
    buf[o] = 0;
    *out = buf;
    if (out_len) *out_len = o;
    return GPTOSS_OK;
}

struct gptoss_tokenizer_stream {
    const gptoss_tokenizer *tok;
    unsigned char pending[4]; /* a valid but unfinished character */
    size_t n_pending, n_needed;
    gptoss_buf out;
};

gptoss_status gptoss_tokenizer_stream_create(const gptoss_tokenizer *tok, gptoss_tokenizer_stream **out) {
    if (!tok || !out) return GPTOSS_ERR_INVALID_ARGUMENT;
    *out = calloc(1, sizeof **out);
    if (!*out) return GPTOSS_ERR_NO_MEMORY;
    (*out)->tok = tok;
    return GPTOSS_OK;
}

void gptoss_tokenizer_stream_free(gptoss_tokenizer_stream *s) {
    if (!s) return;
    gptoss_buf_free(&s->out);
    free(s);
}

static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Whether b can be byte k (k >= 1) of a character that starts with lead: the same ranges
 * gptoss_utf8_decode checks, so the stream splits invalid input into the same maximal subparts as
 * decoding everything at once would. */
static int continues(unsigned char lead, size_t k, unsigned char b) {
    unsigned lo = 0x80, hi = 0xBF;
    if (k == 1) {
        if (lead == 0xE0) lo = 0xA0;
        else if (lead == 0xED) hi = 0x9F;
        else if (lead == 0xF0) lo = 0x90;
        else if (lead == 0xF4) hi = 0x8F;
    }
    return b >= lo && b <= hi;
}

static void stream_feed(gptoss_tokenizer_stream *s, const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char b = p[i];
        if (s->n_pending == 0) {
            if (b < 0x80) {
                size_t a = i;
                while (a < n && p[a] < 0x80) a++;
                gptoss_buf_append(&s->out, p + i, a - i);
                i = a;
                continue;
            }
            if (b >= 0xC2 && b <= 0xF4) {
                s->pending[0] = b;
                s->n_pending = 1;
                s->n_needed = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
            } else {
                gptoss_buf_append(&s->out, replacement, 3);
            }
            i++;
            continue;
        }
        if (!continues(s->pending[0], s->n_pending, b)) {
            /* The held bytes are a maximal invalid subpart; b starts afresh. */
            gptoss_buf_append(&s->out, replacement, 3);
            s->n_pending = 0;
            continue;
        }
        s->pending[s->n_pending++] = b;
        i++;
        if (s->n_pending == s->n_needed) {
            gptoss_buf_append(&s->out, s->pending, s->n_pending);
            s->n_pending = 0;
        }
    }
}

gptoss_status gptoss_tokenizer_stream_push(gptoss_tokenizer_stream *s, uint32_t id, const char **text, size_t *len) {
    if (text) *text = "";
    if (len) *len = 0;
    if (!s) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (id >= GPTOSS_TOK_N_VOCAB) return GPTOSS_ERR_OUT_OF_RANGE;
    s->out.len = 0;
    s->out.failed = 0;
    stream_feed(s, s->tok->bytes + s->tok->off[id], s->tok->off[id + 1] - s->tok->off[id]);
    if (s->out.failed) return GPTOSS_ERR_NO_MEMORY;
    if (text && s->out.data) *text = s->out.data;
    if (len) *len = s->out.len;
    return GPTOSS_OK;
}

void gptoss_tokenizer_stream_flush(gptoss_tokenizer_stream *s, const char **text, size_t *len) {
    if (text) *text = "";
    if (len) *len = 0;
    if (!s) return;
    s->out.len = 0;
    s->out.failed = 0;
    /* Pending bytes are a valid prefix by construction: one replacement character, as lossy
     * decoding of the whole stream gives for a truncated sequence at the end. */
    if (s->n_pending) gptoss_buf_append(&s->out, replacement, 3);
    s->n_pending = 0;
    if (s->out.failed) return;
    if (text && s->out.data) *text = s->out.data;
    if (len) *len = s->out.len;
}
