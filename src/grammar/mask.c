/* mask.c: token masks. The vocabulary becomes a byte trie laid out in preorder with skip links;
 * a mask walks it with the byte matcher (one matcher state per depth), skipping a subtree as soon
 * as its prefix is rejected. Inside an unconstrained string every token made only of plain string
 * bytes is allowed, so that precomputed set is copied and only the other tokens are walked. */
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "grammar/grammar_internal.h"

#define MAX_TOKEN_BYTES 255

struct gptoss_grammar_state {
    const gptoss_grammar *g;
    gram_state cur;
    gram_state *scratch; /* n_scratch states, made on first use: 2 to advance, MAX_TOKEN_BYTES + 2 for a
                          * mask walk (6 MB; a clone that only advances never pays for it) */
    uint32_t n_scratch;
};

typedef struct tok {
    const uint8_t *p;
    uint32_t len, id;
} tok;

static int tok_cmp(const void *a, const void *b) {
    const tok *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Preorder trie of sorted tokens; returns the node count or -1 on allocation failure. */
static int64_t build_trie(const tok *t, uint32_t n, gram_vnode **out) {
    size_t cap = 1024, nn = 0;
    gram_vnode *v = malloc(cap * sizeof *v);
    uint32_t stack[MAX_TOKEN_BYTES + 1];
    uint32_t depth = 0;
    if (!v) return -1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t common = 0;
        if (i) {
            const tok *p = &t[i - 1];
            while (common < p->len && common < t[i].len && p->p[common] == t[i].p[common]) common++;
        }
        if (common > depth) common = depth;
        while (depth > common) v[stack[--depth]].skip = (uint32_t)nn;
        if (common == t[i].len) { /* duplicate bytes: keep the first id */
            continue;
        }
        for (uint32_t d = common; d < t[i].len; d++) {
            if (nn == cap) {
                cap *= 2;
                gram_vnode *nv = realloc(v, cap * sizeof *nv);
                if (!nv) { free(v); return -1; }
                v = nv;
            }
            v[nn] = (gram_vnode){0, -1, t[i].p[d], (uint8_t)(d + 1)};
            stack[depth++] = (uint32_t)nn;
            nn++;
        }
        v[nn - 1].token = (int32_t)t[i].id;
    }
    while (depth) v[stack[--depth]].skip = (uint32_t)nn;
    *out = v;
    return (int64_t)nn;
}

/* Plain string content from a character boundary: no quote, backslash or control byte, and UTF-8
 * lead/continuation bytes in order (a token may end inside a character). */
static int plain_token(const uint8_t *p, uint32_t len) {
    unsigned rem = 0;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t b = p[i];
        if (rem) {
            if (b < 0x80 || b > 0xBF) return 0;
            rem--;
            continue;
        }
        if (b < 0x20 || b == '"' || b == '\\') return 0;
        if (b < 0x80) continue;
        if (b >= 0xC2 && b <= 0xDF) rem = 1;
        else if (b >= 0xE0 && b <= 0xEF) rem = 2;
        else if (b >= 0xF0 && b <= 0xF4) rem = 3;
        else return 0;
    }
    return 1;
}

gptoss_status gptoss_grammar_vocab_create(const gptoss_tokenizer *tokenizer, gptoss_grammar_vocab **out, char *err,
                                          size_t err_size) {
    if (out) *out = NULL;
    if (!tokenizer || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "grammar: NULL tokenizer or output");
    uint32_t nv = gptoss_tokenizer_n_vocab(tokenizer);
    gptoss_grammar_vocab *v = calloc(1, sizeof *v);
    tok *all = calloc(nv ? nv : 1, sizeof *all);
    tok *rest = calloc(nv ? nv : 1, sizeof *rest);
    tok *plain = calloc(nv ? nv : 1, sizeof *plain);
    if (!v || !all || !rest || !plain) goto oom;
    v->n_vocab = nv;
    v->n_words = (nv + 31) / 32;
    v->plain = calloc(v->n_words ? v->n_words : 1, sizeof *v->plain);
    if (!v->plain) goto oom;
    uint32_t na = 0, nr = 0, npl = 0;
    size_t total = 0;
    v->tok_off = calloc((size_t)nv + 1, sizeof *v->tok_off);
    if (!v->tok_off) goto oom;
    for (uint32_t pass = 0; pass < 2; pass++) {
        total = 0;
        for (uint32_t id = 0; id < nv; id++) {
            size_t len = 0;
            const char *p = gptoss_tokenizer_is_special(tokenizer, id) ? NULL : gptoss_tokenizer_token_bytes(tokenizer, id, &len);
            if (!p || len > MAX_TOKEN_BYTES) len = 0;
            if (pass && len) memcpy(v->tok_bytes + total, p, len);
            if (pass) v->tok_off[id] = (uint32_t)total;
            total += len;
        }
        if (pass) v->tok_off[nv] = (uint32_t)total;
        else if (total > UINT32_MAX || !(v->tok_bytes = malloc(total ? total : 1))) goto oom;
    }
    for (uint32_t id = 0; id < nv; id++) {
        uint32_t len = v->tok_off[id + 1] - v->tok_off[id];
        if (!len) continue;
        tok t = {v->tok_bytes + v->tok_off[id], len, id};
        all[na++] = t;
        if (len > v->max_len) v->max_len = (uint32_t)len;
        if (plain_token(t.p, t.len)) {
            v->plain[id / 32] |= 1u << (id % 32);
            plain[npl++] = t;
        } else {
            rest[nr++] = t;
        }
    }
    v->plain_le = calloc((size_t)GRAM_PLAIN_LE * v->n_words, sizeof *v->plain_le);
    if (!v->plain_le) goto oom;
    for (uint32_t i = 0; i < npl; i++) {
        uint32_t chars = 0;
        for (uint32_t k = 0; k < plain[i].len; k++) chars += plain[i].p[k] < 0x80 || plain[i].p[k] >= 0xC0;
        if (chars > v->max_chars) v->max_chars = chars;
        for (uint32_t r = chars; r < GRAM_PLAIN_LE; r++) v->plain_le[(size_t)r * v->n_words + plain[i].id / 32] |= 1u << (plain[i].id % 32);
    }
    qsort(plain, npl, sizeof *plain, tok_cmp);
    int64_t pt = build_trie(plain, npl, &v->plain_trie);
    if (pt < 0) goto oom;
    v->n_plain_trie = (uint32_t)pt;
    qsort(all, na, sizeof *all, tok_cmp);
    qsort(rest, nr, sizeof *rest, tok_cmp);
    int64_t a = build_trie(all, na, &v->all);
    if (a < 0) goto oom;
    v->n_all = (uint32_t)a;
    int64_t r = build_trie(rest, nr, &v->rest);
    if (r < 0) goto oom;
    v->n_rest = (uint32_t)r;
    free(all);
    free(rest);
    free(plain);
    *out = v;
    return GPTOSS_OK;
oom:
    free(all);
    free(rest);
    free(plain);
    gptoss_grammar_vocab_free(v);
    return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "grammar: out of memory building the token trie");
}

void gptoss_grammar_vocab_free(gptoss_grammar_vocab *v) {
    if (!v) return;
    free(v->all);
    free(v->rest);
    free(v->plain);
    free(v->tok_bytes);
    free(v->plain_trie);
    free(v->plain_le);
    free(v->tok_off);
    free(v);
}

uint32_t gptoss_grammar_vocab_mask_words(const gptoss_grammar_vocab *v) { return v ? v->n_words : 0; }

gptoss_status gptoss_grammar_state_create(const gptoss_grammar *g, gptoss_grammar_state **out) {
    if (out) *out = NULL;
    if (!g || !out) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_grammar_state *s = malloc(sizeof *s);
    if (!s) return GPTOSS_ERR_NO_MEMORY;
    s->g = g;
    s->scratch = NULL;
    s->n_scratch = 0;
    gram_state_init(g, &s->cur);
    *out = s;
    return GPTOSS_OK;
}

gptoss_status gptoss_grammar_state_clone(const gptoss_grammar_state *src, gptoss_grammar_state **out) {
    if (out) *out = NULL;
    if (!src || !out) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_grammar_state *s = malloc(sizeof *s);
    if (!s) return GPTOSS_ERR_NO_MEMORY;
    s->g = src->g;
    s->scratch = NULL;
    s->n_scratch = 0;
    s->cur.n = src->cur.n;
    for (uint32_t i = 0; i < src->cur.n; i++) {
        s->cur.t[i].depth = src->cur.t[i].depth;
        memcpy(s->cur.t[i].f, src->cur.t[i].f, src->cur.t[i].depth * sizeof src->cur.t[i].f[0]);
    }
    *out = s;
    return GPTOSS_OK;
}

void gptoss_grammar_state_free(gptoss_grammar_state *s) {
    if (!s) return;
    free(s->scratch);
    free(s);
}

static int ensure_scratch(gptoss_grammar_state *s, uint32_t n) {
    if (s->n_scratch >= n) return 1;
    free(s->scratch);
    s->scratch = malloc(n * sizeof *s->scratch);
    s->n_scratch = s->scratch ? n : 0;
    return s->scratch != NULL;
}

/* The mask walk's scratch, the most any call needs, so that a constrained decode loop never allocates. */
int gram_grammar_state_reserve(gptoss_grammar_state *s) { return s && ensure_scratch(s, MAX_TOKEN_BYTES + 2); }

void gram_grammar_state_restart(gptoss_grammar_state *s, const gptoss_grammar *g) {
    s->g = g;
    gram_state_init(g, &s->cur);
}

static void copy_state(gram_state *d, const gram_state *src) {
    d->n = src->n;
    for (uint32_t i = 0; i < src->n; i++) {
        d->t[i].depth = src->t[i].depth;
        memcpy(d->t[i].f, src->t[i].f, src->t[i].depth * sizeof src->t[i].f[0]);
    }
}

/* Preorder walk with one matcher state per depth; a child whose byte is outside its parent's
 * first-byte set is skipped without stepping. */
static void walk(const gptoss_grammar *g, gram_state *st, const gram_vnode *v, uint32_t n, uint32_t *bits) {
    static _Thread_local uint32_t first[MAX_TOKEN_BYTES + 1][8];
    gram_state_first_bytes(g, &st[0], first[0]);
    uint32_t i = 0;
    while (i < n) {
        const gram_vnode *x = &v[i];
        uint32_t d = x->depth;
        if (!(first[d - 1][x->byte >> 5] >> (x->byte & 31) & 1) || !gram_state_step(g, &st[d - 1], x->byte, &st[d])) {
            i = x->skip;
            continue;
        }
        if (x->token >= 0) bits[(uint32_t)x->token / 32] |= 1u << ((uint32_t)x->token % 32);
        if (i + 1 < n && v[i + 1].depth > d) gram_state_first_bytes(g, &st[d], first[d]);
        i++;
    }
}

/* Plain tokens a string frame accepts from DFA state ds (-1: no pattern) with at most r more
 * characters, ORed into bits. */
static void walk_plain(const gptoss_grammar *g, int32_t dfa, int32_t ds, uint32_t r, uint32_t *bits) {
    const gptoss_grammar_vocab *v = g->vocab;
    const gram_dfa *d = dfa >= 0 ? &g->dfas[dfa] : NULL;
    int32_t st[MAX_TOKEN_BYTES + 1];
    uint32_t cnt[MAX_TOKEN_BYTES + 1];
    st[0] = ds;
    cnt[0] = 0;
    const gram_vnode *t = v->plain_trie;
    uint32_t i = 0, n = v->n_plain_trie;
    while (i < n) {
        const gram_vnode *x = &t[i];
        uint32_t k = x->depth;
        uint32_t c = cnt[k - 1] + (x->byte < 0x80 || x->byte >= 0xC0);
        int32_t s2 = d ? gram_dfa_step(d, st[k - 1], x->byte) : 0;
        if (c > r || s2 < 0) {
            i = x->skip;
            continue;
        }
        st[k] = s2;
        cnt[k] = c;
        if (x->token >= 0) bits[(uint32_t)x->token / 32] |= 1u << ((uint32_t)x->token % 32);
        i++;
    }
}

static void or_words(uint32_t *dst, const uint32_t *src, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) dst[i] |= src[i];
}

/* ORs into bits the plain tokens the string frame on top of t accepts. */
static void plain_for_thread(const gptoss_grammar *g, const gram_thread *t, uint32_t *bits) {
    const gptoss_grammar_vocab *v = g->vocab;
    const gram_frame *f = &t->f[t->depth - 1];
    const gram_node *n = &g->nodes[f->node];
    uint32_t r = n->max_len == UINT32_MAX ? UINT32_MAX : n->max_len - f->a;
    if (n->dfa < 0) {
        if (r >= v->max_chars) or_words(bits, v->plain, v->n_words);
        else if (r < GRAM_PLAIN_LE) or_words(bits, v->plain_le + (size_t)r * v->n_words, v->n_words);
        else walk_plain(g, -1, 0, r, bits);
        return;
    }
    if (r < v->max_chars) {
        walk_plain(g, n->dfa, (int32_t)f->b, r, bits);
        return;
    }
    gptoss_grammar *gm = (gptoss_grammar *)g; /* the cache is the one mutable part, under its lock */
    pthread_mutex_lock(&gm->cache_lock);
    for (uint32_t i = 0; i < gm->n_cache; i++)
        if (gm->cache[i].dfa == n->dfa && gm->cache[i].state == (int32_t)f->b) {
            or_words(bits, gm->cache[i].bits, v->n_words);
            pthread_mutex_unlock(&gm->cache_lock);
            return;
        }
    pthread_mutex_unlock(&gm->cache_lock);
    uint32_t *m = gm->n_cache < GRAM_CACHE_MAX ? calloc(v->n_words, sizeof *m) : NULL;
    if (!m) {
        walk_plain(g, n->dfa, (int32_t)f->b, r, bits);
        return;
    }
    walk_plain(g, n->dfa, (int32_t)f->b, r, m);
    or_words(bits, m, v->n_words);
    pthread_mutex_lock(&gm->cache_lock);
    if (!gm->cache) gm->cache = calloc(GRAM_CACHE_MAX, sizeof *gm->cache);
    if (gm->cache && gm->n_cache < GRAM_CACHE_MAX) {
        gm->cache[gm->n_cache++] = (gram_cache_entry){n->dfa, (int32_t)f->b, m};
        m = NULL;
    }
    pthread_mutex_unlock(&gm->cache_lock);
    free(m);
}

/* The mask is the union over threads. Threads inside a string between characters take their plain
 * tokens from precomputed sets (or the plain trie walked with the pattern's DFA, cached) and walk
 * only the other tokens; the rest walk the whole trie together. */
/* The state as bytes (thread count, then each thread's depth and frames) into buf; its length. */
static size_t state_key(const gram_state *st, uint8_t *buf) {
    size_t n = 0;
    memcpy(buf, &st->n, sizeof st->n);
    n += sizeof st->n;
    for (uint32_t i = 0; i < st->n; i++) {
        memcpy(buf + n, &st->t[i].depth, sizeof st->t[i].depth);
        n += sizeof st->t[i].depth;
        memcpy(buf + n, st->t[i].f, st->t[i].depth * sizeof st->t[i].f[0]);
        n += st->t[i].depth * sizeof st->t[i].f[0];
    }
    return n;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static gptoss_status compute_mask(gptoss_grammar_state *s, uint32_t *bits);

/* Masks repeat (the same property of every array element, the start of every text): whole masks
 * are kept by matcher state in the grammar, under its lock, up to half of GRAM_MASKS_SLOTS. */
gptoss_status gptoss_grammar_state_mask(gptoss_grammar_state *s, uint32_t *bits) {
    if (!s || !bits) return GPTOSS_ERR_INVALID_ARGUMENT;
    gptoss_grammar *g = (gptoss_grammar *)s->g;
    const gptoss_grammar_vocab *v = g->vocab;
    if (!v) return GPTOSS_ERR_INVALID_ARGUMENT;
    static _Thread_local uint8_t key[sizeof(gram_state)];
    size_t klen = state_key(&s->cur, key);
    uint64_t h = hash_bytes(key, klen);
    uint32_t slot = (uint32_t)(h % GRAM_MASKS_SLOTS);
    pthread_mutex_lock(&g->cache_lock);
    if (g->masks) {
        for (uint32_t k = 0; k < GRAM_MASKS_SLOTS; k++) {
            gram_mask_entry *e = &g->masks[(slot + k) % GRAM_MASKS_SLOTS];
            if (!e->key) break;
            if (e->hash == h && e->key_len == klen && !memcmp(e->key, key, klen)) {
                memcpy(bits, e->bits, v->n_words * sizeof *bits);
                pthread_mutex_unlock(&g->cache_lock);
                return GPTOSS_OK;
            }
        }
    }
    pthread_mutex_unlock(&g->cache_lock);
    gptoss_status st = compute_mask(s, bits);
    if (st != GPTOSS_OK) return st;
    pthread_mutex_lock(&g->cache_lock);
    if (!g->masks) g->masks = calloc(GRAM_MASKS_SLOTS, sizeof *g->masks);
    if (g->masks && g->n_masks < GRAM_MASKS_SLOTS / 2) {
        uint32_t k = slot;
        while (g->masks[k].key) k = (k + 1) % GRAM_MASKS_SLOTS;
        uint8_t *kc = malloc(klen);
        uint32_t *bc = malloc(v->n_words * sizeof *bc);
        if (kc && bc) {
            memcpy(kc, key, klen);
            memcpy(bc, bits, v->n_words * sizeof *bc);
            g->masks[k] = (gram_mask_entry){h, kc, klen, bc};
            g->n_masks++;
        } else {
            free(kc);
            free(bc);
        }
    }
    pthread_mutex_unlock(&g->cache_lock);
    return GPTOSS_OK;
}

static gptoss_status compute_mask(gptoss_grammar_state *s, uint32_t *bits) {
    const gptoss_grammar *g = s->g;
    const gptoss_grammar_vocab *v = g->vocab;
    if (!ensure_scratch(s, MAX_TOKEN_BYTES + 2)) return GPTOSS_ERR_NO_MEMORY;
    memset(bits, 0, v->n_words * sizeof *bits);
    gram_state *st = s->scratch;
    for (int pass = 0; pass < 2; pass++) {
        st[0].n = 0;
        for (uint32_t i = 0; i < s->cur.n; i++) {
            const gram_thread *t = &s->cur.t[i];
            if (gram_thread_in_string(g, t) != pass) continue;
            st[0].t[st[0].n].depth = t->depth;
            memcpy(st[0].t[st[0].n].f, t->f, t->depth * sizeof t->f[0]);
            st[0].n++;
            if (pass) plain_for_thread(g, t, bits);
        }
        if (!st[0].n) continue;
        if (pass) walk(g, st, v->rest, v->n_rest, bits);
        else if (gram_state_plain_string(g, &st[0])) {
            or_words(bits, v->plain, v->n_words);
            walk(g, st, v->rest, v->n_rest, bits);
        } else {
            walk(g, st, v->all, v->n_all, bits);
        }
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_grammar_state_advance_bytes(gptoss_grammar_state *s, const char *bytes, size_t len) {
    if (!s || (!bytes && len)) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (!ensure_scratch(s, 2)) return GPTOSS_ERR_NO_MEMORY;
    gram_state *a = &s->scratch[0], *b = &s->scratch[1];
    copy_state(a, &s->cur);
    for (size_t i = 0; i < len; i++) {
        if (!gram_state_step(s->g, a, (uint8_t)bytes[i], b)) return GPTOSS_ERR_INVALID_ARGUMENT;
        gram_state *t = a;
        a = b;
        b = t;
    }
    copy_state(&s->cur, a);
    return GPTOSS_OK;
}

gptoss_status gptoss_grammar_state_advance(gptoss_grammar_state *s, uint32_t token_id) {
    if (!s) return GPTOSS_ERR_INVALID_ARGUMENT;
    const gptoss_grammar_vocab *v = s->g->vocab;
    if (!v) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (token_id >= v->n_vocab) return GPTOSS_ERR_OUT_OF_RANGE;
    const uint8_t *p = v->tok_bytes + v->tok_off[token_id];
    uint32_t len = v->tok_off[token_id + 1] - v->tok_off[token_id];
    if (!len) return GPTOSS_ERR_INVALID_ARGUMENT; /* special or empty */
    return gptoss_grammar_state_advance_bytes(s, (const char *)p, len);
}

int gptoss_grammar_state_is_complete(const gptoss_grammar_state *s) {
    return s ? gram_state_complete(s->g, &s->cur) : 0;
}
