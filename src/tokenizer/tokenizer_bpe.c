/* tokenizer_bpe.c: encoding: the rank index over token bytes, tiktoken's byte-pair merge, and
 * gptoss_tokenizer_encode (UTF-8 repair, special-token literals, pre-tokenization, BPE). */
#include <stdlib.h>

#include "format/json.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* ----------------------------------------------------------------------------------------------
 * Rank index: open addressing with linear probing over gptoss_tok_slot. Tokens are at most 255
 * bytes (o200k: 128), so the length fits the slot's meta byte.
 * -------------------------------------------------------------------------------------------- */
#define MAX_TOKEN_LEN 255

/* The first min(n, 8) bytes of p, zero-padded. */
static inline uint64_t load_head(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    if (n >= 8) {
        memcpy(&v, p, 8);
    } else {
        for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 32;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 32;
    return h;
}

static inline uint64_t hash_bytes(const unsigned char *p, size_t n, uint64_t head) {
    uint64_t h = head ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    for (size_t i = 8; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = mix(h ^ v) + (uint64_t)i;
    }
    if (n > 8 && n % 8) h = mix(h ^ load_head(p + n - n % 8, n % 8));
    return mix(h);
}

static inline uint32_t slot_meta(uint64_t h, size_t n) { return (uint32_t)(h >> 40) << 8 | (uint32_t)n; }

uint32_t gptoss_tokenizer_rank(const gptoss_tokenizer *tok, const unsigned char *p, size_t n) {
    if (n == 0 || n > tok->max_token_len) return GPTOSS_TOK_RANK_NONE;
    uint64_t head = load_head(p, n);
    uint64_t h = hash_bytes(p, n, head);
    uint32_t meta = slot_meta(h, n);
    for (uint64_t i = h & tok->mask;; i = (i + 1) & tok->mask) {
        const gptoss_tok_slot *e = &tok->slots[i];
        if (!e->meta) return GPTOSS_TOK_RANK_NONE;
        if (e->meta == meta && e->head == head &&
            (n <= 8 || !memcmp(tok->bytes + tok->off[e->rank] + 8, p + 8, n - 8)))
            return e->rank;
    }
}

gptoss_status gptoss_tokenizer_index(gptoss_tokenizer *tok, char *err, size_t err_size) {
    /* Load factor under 0.4 keeps probe chains short for the misses that dominate BPE. */
    uint64_t size = 1;
    while (size < (uint64_t)GPTOSS_TOK_N_TEXT * 5 / 2) size <<= 1;
    tok->slots = calloc(size, sizeof *tok->slots);
    tok->pair_rank = malloc(65536 * sizeof *tok->pair_rank);
    uint64_t *hashes = malloc(GPTOSS_TOK_N_TEXT * sizeof *hashes);
    if (!tok->slots || !tok->pair_rank || !hashes) {
        free(hashes);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    tok->mask = size - 1;
    tok->max_token_len = 0;
    for (uint32_t i = 0; i < 256; i++) tok->byte_rank[i] = GPTOSS_TOK_RANK_NONE;
    for (uint32_t i = 0; i < 65536; i++) tok->pair_rank[i] = GPTOSS_TOK_RANK_NONE;
    for (uint32_t r = 0; r < GPTOSS_TOK_N_TEXT; r++) {
        const unsigned char *p = tok->bytes + tok->off[r];
        size_t n = tok->off[r + 1] - tok->off[r];
        if (n == 0 || n > MAX_TOKEN_LEN) {
            free(hashes);
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "token %u has %zu bytes (1..%d allowed)", r, n,
                               MAX_TOKEN_LEN);
        }
        if (n > tok->max_token_len) tok->max_token_len = (uint32_t)n;
        hashes[r] = hash_bytes(p, n, load_head(p, n));
    }
    /* Inserts are cache misses into a large table; prefetching a few ahead hides most of them. */
    enum { AHEAD = 16 };
    for (uint32_t r = 0; r < GPTOSS_TOK_N_TEXT; r++) {
#if defined(__GNUC__)
        if (r + AHEAD < GPTOSS_TOK_N_TEXT) __builtin_prefetch(&tok->slots[hashes[r + AHEAD] & tok->mask], 1);
#endif
        const unsigned char *p = tok->bytes + tok->off[r];
        size_t n = tok->off[r + 1] - tok->off[r];
        uint64_t head = load_head(p, n);
        uint32_t meta = slot_meta(hashes[r], n);
        uint64_t i = hashes[r] & tok->mask;
        for (; tok->slots[i].meta; i = (i + 1) & tok->mask) {
            const gptoss_tok_slot *e = &tok->slots[i];
            if (e->meta == meta && e->head == head && !memcmp(tok->bytes + tok->off[e->rank], p, n)) {
                free(hashes);
                return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "tokens %u and %u have the same bytes", e->rank, r);
            }
        }
        tok->slots[i] = (gptoss_tok_slot){head, r, meta};
        if (n == 1) tok->byte_rank[p[0]] = r;
        if (n == 2) tok->pair_rank[p[0] << 8 | p[1]] = r;
    }
    free(hashes);
    /* Byte-level BPE can represent any input only if every single byte is a token. */
    for (uint32_t b = 0; b < 256; b++)
        if (tok->byte_rank[b] == GPTOSS_TOK_RANK_NONE)
            return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "byte 0x%02x has no token", b);
    return GPTOSS_OK;
}

/* ----------------------------------------------------------------------------------------------
 * Byte-pair merge, exactly as tiktoken's byte_pair_merge: repeatedly merge the adjacent pair whose
 * concatenation has the lowest rank (leftmost on ties) until no adjacent pair is a token.
 * -------------------------------------------------------------------------------------------- */
#define BPE_SMALL 64

static inline uint32_t span_rank(const gptoss_tokenizer *tok, const unsigned char *p, size_t a, size_t b) {
    if (b - a == 2) return tok->pair_rank[p[a] << 8 | p[a + 1]];
    return gptoss_tokenizer_rank(tok, p + a, b - a);
}

/* Short pieces: tiktoken's own array algorithm; parts[i] starts at start[i], pair[i] is the rank of
 * parts i and i+1 merged, tokr[i] the rank of part i itself. */
static size_t bpe_small(const gptoss_tokenizer *tok, const unsigned char *p, size_t n, uint32_t *out) {
    uint32_t start[BPE_SMALL + 1], pair[BPE_SMALL + 1], tokr[BPE_SMALL + 1];
    size_t m = n; /* number of parts */
    for (size_t i = 0; i < n; i++) {
        start[i] = (uint32_t)i;
        tokr[i] = tok->byte_rank[p[i]];
        pair[i] = i + 1 < n ? tok->pair_rank[p[i] << 8 | p[i + 1]] : GPTOSS_TOK_RANK_NONE;
    }
    start[n] = (uint32_t)n;
    for (;;) {
        uint32_t best = GPTOSS_TOK_RANK_NONE;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (pair[i] < best) { best = pair[i]; bi = i; }
        if (best == GPTOSS_TOK_RANK_NONE) break;
        tokr[bi] = best;
        memmove(start + bi + 1, start + bi + 2, (m - bi - 1) * sizeof *start);
        memmove(tokr + bi + 1, tokr + bi + 2, (m - bi - 2) * sizeof *tokr);
        memmove(pair + bi + 1, pair + bi + 2, (m - bi - 2) * sizeof *pair);
        m--;
        pair[bi] = bi + 1 < m ? span_rank(tok, p, start[bi], start[bi + 2]) : GPTOSS_TOK_RANK_NONE;
        if (bi > 0) pair[bi - 1] = span_rank(tok, p, start[bi - 1], start[bi + 1]);
    }
    memcpy(out, tokr, m * sizeof *out);
    return m;
}

/* Long pieces (long words, whitespace runs): the same merge order with a binary heap of candidate
 * pairs keyed by (rank, position) and a linked list of parts, so the cost is O(n log n). Stale heap
 * entries are skipped: a part's pair rank only ever changes by growing, so (position, rank) still
 * matching means the entry is current. */
typedef struct heap_item {
    uint32_t rank, pos;
} heap_item;

static inline int heap_less(heap_item a, heap_item b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(heap_item *h, size_t *n, heap_item x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(x, h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], x = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
        if (!heap_less(h[c], x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

static gptoss_status bpe_large(const gptoss_tokenizer *tok, const unsigned char *p, size_t n, uint32_t *out,
                               size_t *n_out) {
    /* Parts are identified by their start byte; next/prev are byte positions (n = none). */
    uint32_t *next = malloc((n + 1) * sizeof *next), *prev = malloc((n + 1) * sizeof *prev);
    uint32_t *pair = malloc((n + 1) * sizeof *pair);
    /* Each merge pushes at most two items, so 3n bounds the heap. */
    heap_item *heap = malloc(3 * n * sizeof *heap);
    gptoss_status st = GPTOSS_OK;
    if (!next || !prev || !pair || !heap) {
        st = GPTOSS_ERR_NO_MEMORY;
        goto done;
    }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = (uint32_t)(i ? i - 1 : n);
        pair[i] = i + 1 < n ? tok->pair_rank[p[i] << 8 | p[i + 1]] : GPTOSS_TOK_RANK_NONE;
        if (pair[i] != GPTOSS_TOK_RANK_NONE) heap_push(heap, &hn, (heap_item){pair[i], (uint32_t)i});
    }
    while (hn) {
        heap_item it = heap_pop(heap, &hn);
        uint32_t a = it.pos;
        if (pair[a] != it.rank) continue; /* stale, or part a was merged away (pair set to NONE) */
        uint32_t b = next[a];
        uint32_t c = next[b]; /* may be n */
        next[a] = c;
        if (c < n) prev[c] = a;
        pair[b] = GPTOSS_TOK_RANK_NONE;
        pair[a] = c < n ? span_rank(tok, p, a, next[c]) : GPTOSS_TOK_RANK_NONE;
        if (pair[a] != GPTOSS_TOK_RANK_NONE) heap_push(heap, &hn, (heap_item){pair[a], a});
        if (a > 0) {
            uint32_t z = prev[a];
            pair[z] = span_rank(tok, p, z, c);
            if (pair[z] != GPTOSS_TOK_RANK_NONE) heap_push(heap, &hn, (heap_item){pair[z], z});
        }
    }
    size_t m = 0;
    for (uint32_t a = 0; a < n; a = next[a]) {
        uint32_t r = span_rank(tok, p, a, next[a]);
        if (r == GPTOSS_TOK_RANK_NONE) { /* every part is a merged token by construction */
            st = GPTOSS_ERR_INTERNAL;
            goto done;
        }
        out[m++] = r;
    }
    *n_out = m;
done:
    free(next);
    free(prev);
    free(pair);
    free(heap);
    return st;
}

/* ----------------------------------------------------------------------------------------------
 * Encoding
 * -------------------------------------------------------------------------------------------- */
gptoss_status gptoss_tokens_push(gptoss_tokens *tokens, uint32_t id) {
    if (!tokens) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (tokens->n == tokens->cap) {
        size_t cap = tokens->cap ? tokens->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof *tokens->ids) return GPTOSS_ERR_NO_MEMORY;
        uint32_t *ids = realloc(tokens->ids, cap * sizeof *ids);
        if (!ids) return GPTOSS_ERR_NO_MEMORY;
        tokens->ids = ids;
        tokens->cap = cap;
    }
    tokens->ids[tokens->n++] = id;
    return GPTOSS_OK;
}

void gptoss_tokens_free(gptoss_tokens *tokens) {
    if (!tokens) return;
    free(tokens->ids);
    tokens->ids = NULL;
    tokens->n = tokens->cap = 0;
}

static gptoss_status reserve(gptoss_tokens *t, size_t extra) {
    if (t->cap - t->n >= extra) return GPTOSS_OK;
    size_t cap = t->cap ? t->cap : 64;
    while (cap - t->n < extra) {
        if (cap > SIZE_MAX / 2 / sizeof *t->ids) return GPTOSS_ERR_NO_MEMORY;
        cap *= 2;
    }
    uint32_t *ids = realloc(t->ids, cap * sizeof *ids);
    if (!ids) return GPTOSS_ERR_NO_MEMORY;
    t->ids = ids;
    t->cap = cap;
    return GPTOSS_OK;
}

/* A piece of n bytes never yields more than n tokens. */
static gptoss_status encode_piece(const gptoss_tokenizer *tok, const unsigned char *p, size_t n, gptoss_tokens *out) {
    gptoss_status st = reserve(out, n);
    if (st != GPTOSS_OK) return st;
    uint32_t *dst = out->ids + out->n;
    if (n == 1) {
        dst[0] = tok->byte_rank[p[0]];
        out->n++;
        return GPTOSS_OK;
    }
    uint32_t r = n == 2 ? tok->pair_rank[p[0] << 8 | p[1]] : gptoss_tokenizer_rank(tok, p, n);
    if (r != GPTOSS_TOK_RANK_NONE) {
        dst[0] = r;
        out->n++;
        return GPTOSS_OK;
    }
    size_t m;
    if (n <= BPE_SMALL) {
        m = bpe_small(tok, p, n, dst);
    } else {
        st = bpe_large(tok, p, n, dst, &m);
        if (st != GPTOSS_OK) return st;
    }
    out->n += m;
    return GPTOSS_OK;
}

static gptoss_status encode_ordinary(const gptoss_tokenizer *tok, const unsigned char *s, size_t n, gptoss_tokens *out) {
    size_t i = 0;
    while (i < n) {
        size_t e = gptoss_pretokenize_next(s, n, i);
        gptoss_status st = encode_piece(tok, s + i, e - i, out);
        if (st != GPTOSS_OK) return st;
        i = e;
    }
    return GPTOSS_OK;
}

const gptoss_tok_special *gptoss_tokenizer_find_special(const gptoss_tokenizer *tok, const char *p, size_t n) {
    size_t lo = 0, hi = tok->n_specials;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gptoss_tok_special *sp = &tok->specials[mid];
        size_t k = sp->len < n ? sp->len : n;
        int c = memcmp(sp->name, p, k);
        if (c == 0) c = sp->len < n ? -1 : sp->len > n ? 1 : 0;
        if (c == 0) return sp;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* The next special literal in s[from..n): its start in *at, or NULL. Every literal is "<|...|>"
 * with no "|>" inside, so a candidate starting at "<|" can only end at the first "|>" after it. */
static const gptoss_tok_special *next_special(const gptoss_tokenizer *tok, const unsigned char *s, size_t n,
                                              size_t from, size_t *at) {
    for (size_t i = from; i + 1 < n;) {
        const unsigned char *lt = memchr(s + i, '<', n - 1 - i);
        if (!lt) return NULL;
        i = (size_t)(lt - s);
        if (s[i + 1] == '|') {
            size_t lim = i + tok->max_special_len; /* bound on the literal's end */
            for (size_t j = i + 2; j + 1 < n && j + 2 <= lim; j++) {
                if (s[j] == '|' && s[j + 1] == '>') {
                    const gptoss_tok_special *sp = gptoss_tokenizer_find_special(tok, (const char *)s + i, j + 2 - i);
                    if (sp) {
                        *at = i;
                        return sp;
                    }
                    break;
                }
            }
        }
        i++;
    }
    return NULL;
}

/* Replaces each maximal invalid subpart with U+FFFD: what tiktoken encodes when given such bytes
 * through a string API (TextDecoder / from_utf8_lossy / Python's errors="replace"). */
static unsigned char *repair_utf8(const unsigned char *s, size_t n, size_t *out_n) {
    if (n > (SIZE_MAX - 1) / 3) return NULL;
    unsigned char *r = malloc(n * 3 + 1), *o = r;
    if (!r) return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = gptoss_utf8_decode(s + i, n - i, &cp);
        if (cp == 0xFFFFFFFFu) {
            *o++ = 0xEF; *o++ = 0xBF; *o++ = 0xBD;
        } else {
            memcpy(o, s + i, k);
            o += k;
        }
        i += k;
    }
    *out_n = (size_t)(o - r);
    return r;
}

gptoss_status gptoss_tokenizer_encode(const gptoss_tokenizer *tok, const char *text, size_t len, int allow_special,
                                      gptoss_tokens *out) {
    if (!tok || !out || (!text && len)) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (allow_special != GPTOSS_TOKENIZER_SPECIAL_AS_TEXT && allow_special != GPTOSS_TOKENIZER_SPECIAL_ALLOW &&
        allow_special != GPTOSS_TOKENIZER_SPECIAL_REJECT)
        return GPTOSS_ERR_INVALID_ARGUMENT;
    const unsigned char *s = (const unsigned char *)text;
    unsigned char *repaired = NULL;
    if (len && !json_utf8_valid(text, len)) {
        repaired = repair_utf8(s, len, &len);
        if (!repaired) return GPTOSS_ERR_NO_MEMORY;
        s = repaired;
    }
    size_t n0 = out->n;
    gptoss_status st = GPTOSS_OK;
    if (allow_special == GPTOSS_TOKENIZER_SPECIAL_AS_TEXT) {
        st = encode_ordinary(tok, s, len, out);
    } else {
        size_t at, pos = 0;
        for (;;) {
            const gptoss_tok_special *sp = next_special(tok, s, len, pos, &at);
            if (sp && allow_special == GPTOSS_TOKENIZER_SPECIAL_REJECT) {
                st = GPTOSS_ERR_INVALID_ARGUMENT;
                break;
            }
            st = encode_ordinary(tok, s + pos, (sp ? at : len) - pos, out);
            if (st != GPTOSS_OK || !sp) break;
            st = gptoss_tokens_push(out, sp->id);
            if (st != GPTOSS_OK) break;
            pos = at + sp->len;
        }
    }
    if (st != GPTOSS_OK) out->n = n0;
    free(repaired);
    return st;
}
