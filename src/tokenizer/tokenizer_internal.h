/* tokenizer_internal.h: the tokenizer's in-memory layout and the functions its source files
 * (the core: tokenizer.c, tokenizer_bpe.c, pretokenize.c; and the loaders, which build through
 * gptoss_tokenizer_build) share. Not a public API. */
#ifndef GPTOSS_TOKENIZER_INTERNAL_H
#define GPTOSS_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

/* o200k_harmony's fixed shape: the ids of special tokens are part of the model, so the BPE part
 * must have exactly this many ranks and the special/reserved ids fill the rest. */
#define GPTOSS_TOK_N_TEXT 199998u
#define GPTOSS_TOK_N_VOCAB 201088u
#define GPTOSS_TOK_RANK_NONE UINT32_MAX

/* One entry of the rank index. The first 8 bytes of the token live in the slot, so a lookup of a
 * short string (what BPE mostly asks for) touches one cache line; meta = hash tag << 8 | length,
 * never 0 for a used slot. */
typedef struct gptoss_tok_slot {
    uint64_t head;
    uint32_t rank;
    uint32_t meta;
} gptoss_tok_slot;

typedef struct gptoss_tok_special {
    const char *name; /* points into tokenizer->names */
    uint32_t len;
    uint32_t id;
} gptoss_tok_special;

struct gptoss_tokenizer {
    /* Bytes of every id (text tokens, then special literals): bytes[off[id] .. off[id + 1]). */
    unsigned char *bytes;
    uint32_t *off;
    /* Open-addressing table over the text tokens (see tokenizer_bpe.c). */
    struct gptoss_tok_slot *slots;
    uint64_t mask;
    uint32_t max_token_len;
    uint32_t byte_rank[256];
    /* Rank of every two-byte string (GPTOSS_TOK_RANK_NONE if none): most merges start here. */
    uint32_t *pair_rank;
    /* All special names sorted by bytes (200018 has two), for lookup and for allow_special. */
    gptoss_tok_special *specials;
    uint32_t n_specials;
    uint32_t max_special_len;
    char *names;
};

/* Builds everything from the text tokens given as bytes[off[r]..off[r+1]) for r < N_TEXT (owned by
 * the tokenizer from here on, also on failure) and adds the harmony specials. extra: optional
 * (id, literal) pairs from a tokenizer.json's added_tokens that rename special ids. */
gptoss_status gptoss_tokenizer_build(gptoss_tokenizer *tok, unsigned char *bytes, uint32_t *off,
                                     const uint32_t *extra_ids, const char *const *extra_names,
                                     size_t n_extra, char *err, size_t err_size);

/* pretokenize.c: the o200k pre-tokenizer pattern, unescaped (what tokenizer.json's "Regex" holds). */
extern const char gptoss_tokenizer_o200k_pattern[];

/* tokenizer_bpe.c */
gptoss_status gptoss_tokenizer_index(gptoss_tokenizer *tok, char *err, size_t err_size);
uint32_t gptoss_tokenizer_rank(const gptoss_tokenizer *tok, const unsigned char *p, size_t n);
const gptoss_tok_special *gptoss_tokenizer_find_special(const gptoss_tokenizer *tok, const char *p, size_t n);

/* pretokenize.c: end of the o200k pre-token that starts at s[i] (i < n); s must be valid UTF-8. */
size_t gptoss_pretokenize_next(const unsigned char *s, size_t n, size_t i);

/* GPT-2 byte-level alphabet used by tokenizer.json keys: byte -> code point, and back (-1 if cp is
 * not in the alphabet). */
uint32_t gptoss_tokenizer_byte_to_cp(unsigned char b);
int gptoss_tokenizer_cp_to_byte(uint32_t cp);

#endif
