/* matcher.c: the byte matcher. A state is a bounded set of threads (one per live anyOf choice);
 * a thread is a bounded stack of frames (root, object, array, string, number, literal, keyword).
 * step() is functional (in -> out) so the token-trie walk can keep one state per depth. Anything
 * over a bound (depth, threads, digits under a bound) is rejected: a rejection can only lose a
 * valid text, never accept an invalid one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_internal.h"

enum { M_ROOT, M_OBJ, M_ARR, M_STR, M_NUM, M_LIT, M_KW };
enum { O_OPEN, O_KEY, O_COLON, O_VAL, O_AFTER, O_COMMA };
enum { A_OPEN, A_AFTER, A_COMMA };
enum { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum { F_NEG = 1, F_OVER = 2, F_FRACNZ = 4 };

static const char *const KEYWORDS[] = {"true", "false", "null"};

static int is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

static void thread_copy(gram_thread *d, const gram_thread *s) {
    d->depth = s->depth;
    memcpy(d->f, s->f, s->depth * sizeof s->f[0]);
}

static void emit(gram_state *out, const gram_thread *t) {
    for (uint32_t i = 0; i < out->n; i++)
        if (out->t[i].depth == t->depth && !memcmp(out->t[i].f, t->f, t->depth * sizeof t->f[0])) return;
    if (out->n == GRAM_MAX_THREADS) return;
    thread_copy(&out->t[out->n++], t);
}

static void feed(const gptoss_grammar *g, gram_thread *t, uint8_t b, gram_state *out, int guard);

/* The value of node starts with byte b: push its frame (forking over anyOf) and feed b. */
static void enter(const gptoss_grammar *g, gram_thread *t, int32_t id, uint8_t b, gram_state *out, int guard) {
    /* nested anyOf could fork exponentially: the expansions of one step are bounded */
    if (id < 0 || guard > 16 || ++out->work > 4096) return;
    const gram_node *n = &g->nodes[id];
    if (n->kind == GN_ANYOF) {
        for (uint32_t i = 0; i < n->n_alts; i++) {
            gram_thread c;
            thread_copy(&c, t);
            enter(g, &c, n->alts[i], b, out, guard + 1);
        }
        return;
    }
    if (t->depth >= GRAM_MAX_DEPTH) return;
    gram_frame *f = &t->f[t->depth];
    memset(f, 0, sizeof *f);
    f->node = id;
    if (n->kind == GN_LITERAL) {
        f->mode = M_LIT;
        f->a = (uint32_t)n->lit;
        t->depth++;
        feed(g, t, b, out, guard);
        return;
    }
    unsigned ty = n->types;
    switch (b) {
    case '{':
        if (!(ty & GT_OBJ)) return;
        f->mode = M_OBJ;
        f->sub = O_OPEN;
        t->depth++;
        emit(out, t);
        return;
    case '[':
        if (!(ty & GT_ARR)) return;
        f->mode = M_ARR;
        f->sub = A_OPEN;
        t->depth++;
        emit(out, t);
        return;
    case '"':
        if (!(ty & GT_STR)) return;
        f->mode = M_STR;
        t->depth++;
        emit(out, t);
        return;
    case 't': case 'f': case 'n':
        if (!(ty & (b == 'n' ? GT_NULL : GT_BOOL))) return;
        f->mode = M_KW;
        f->a = b == 't' ? 0 : b == 'f' ? 1 : 2;
        f->b = 1;
        t->depth++;
        emit(out, t);
        return;
    default:
        if (b != '-' && (b < '0' || b > '9')) return;
        if (!(ty & (GT_INT | GT_NUM))) return;
        f->mode = M_NUM;
        f->sub = N_SIGN;
        t->depth++;
        if (b == '-') {
            /* a minus sign gives at most 0 */
            if (n->has_min && (n->min > 0 || (n->min == 0 && n->excl_min))) return;
            f->flags = F_NEG;
            emit(out, t);
            return;
        }
        feed(g, t, b, out, guard);
        return;
    }
}

/* A child value finished: the parent moves past it. */
static void value_done(gram_thread *t) {
    gram_frame *p = &t->f[t->depth - 1];
    if (p->mode == M_ROOT) p->sub = 1;
    /* objects and arrays set their after-value phase before pushing */
}

static int pow10_u64(uint32_t e, uint64_t *out) {
    uint64_t v = 1;
    for (uint32_t i = 0; i < e; i++) {
        if (v > UINT64_MAX / 10) return 0;
        v *= 10;
    }
    *out = v;
    return 1;
}

/* Whether a finished number satisfies its node's bounds and multipleOf. */
static int number_ok(const gram_node *n, const gram_frame *f) {
    if (f->sub != N_ZERO && f->sub != N_INT && f->sub != N_FRAC && f->sub != N_EXP) return 0;
    if (!n->has_min && !n->has_max && !n->multiple_of) return 1;
    if (f->flags & F_OVER) return 0;
    uint64_t scale;
    if (!pow10_u64(f->a, &scale)) return 0;
    uint64_t ip = f->c / scale;
    int neg = (f->flags & F_NEG) && f->c != 0;
    int frac = (f->c % scale) != 0;
    if (n->multiple_of) {
        if (frac || ip % n->multiple_of) return 0;
    }
    for (int k = 0; k < 2; k++) {
        int has = k ? n->has_max : n->has_min;
        if (!has) continue;
        double bound = k ? n->max : n->min;
        int excl = k ? n->excl_max : n->excl_min;
        int cmp; /* sign of (x - bound) */
        if (bound == floor(bound) && fabs(bound) < 9e15) {
            /* exact: x = ±(ip + frac) against an integer */
            int64_t bi = (int64_t)bound;
            if (!neg) {
                if (bi < 0) cmp = 1;
                else if (ip != (uint64_t)bi) cmp = ip > (uint64_t)bi ? 1 : -1;
                else cmp = frac ? 1 : 0;
            } else {
                /* x = -(ip + frac) */
                if (bi >= 0) cmp = (ip == 0 && !frac && bi == 0) ? 0 : -1;
                else {
                    uint64_t mb = (uint64_t)(-bi);
                    if (ip != mb) cmp = ip > mb ? -1 : 1;
                    else cmp = frac ? -1 : 0;
                }
            }
        } else {
            char buf[64];
            snprintf(buf, sizeof buf, "%s%llue-%u", neg ? "-" : "", (unsigned long long)f->c, f->a);
            double x = strtod(buf, NULL);
            cmp = x < bound ? -1 : x > bound;
        }
        if (k == 0 && (cmp < 0 || (excl && cmp == 0))) return 0;
        if (k == 1 && (cmp > 0 || (excl && cmp == 0))) return 0;
    }
    return 1;
}

static int literal_child(const gptoss_grammar *g, uint32_t node, uint8_t b, uint32_t *out) {
    for (int32_t ch = g->tnodes[node].first_child; ch >= 0; ch = g->tnodes[ch].next_sibling)
        if (g->tnodes[ch].byte == b) {
            *out = (uint32_t)ch;
            return 1;
        }
    return 0;
}

/* UTF-8 order of a raw string byte (values and keys; the pending continuation count lives in the
 * frame's flags). Returns 0 to reject, 1 for a continuation byte, 2 when b starts a character. */
static int utf8_byte(gram_frame *f, uint8_t b) {
    unsigned rem = f->flags & 3;
    if (rem) {
        if (b < 0x80 || b > 0xBF) return 0;
        f->flags = (uint16_t)((f->flags & ~3u) | (rem - 1));
        return 1;
    }
    if (b < 0x80) return 2; /* a whole ASCII character */
    if (b >= 0xC2 && b <= 0xDF) rem = 1;
    else if (b >= 0xE0 && b <= 0xEF) rem = 2;
    else if (b >= 0xF0 && b <= 0xF4) rem = 3;
    else return 0;
    f->flags = (uint16_t)((f->flags & ~3u) | rem);
    return 2; /* a character starts */
}

static int hexv(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The UTF-8 bytes of code point cp (not a surrogate) into u; their count. */
static int utf8_encode(uint32_t cp, uint8_t u[4]) {
    if (cp < 0x80) { u[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { u[0] = (uint8_t)(0xC0 | cp >> 6); u[1] = (uint8_t)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | cp >> 12); u[1] = (uint8_t)(0x80 | ((cp >> 6) & 63)); u[2] = (uint8_t)(0x80 | (cp & 63));
        return 3;
    }
    u[0] = (uint8_t)(0xF0 | cp >> 18); u[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
    u[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)); u[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

/* A string frame's flags: bits 0-1 the UTF-8 continuation bytes pending; bit 2 the last escape was
 * a high surrogate (length counting); with a pattern, bit 5 and bits 6-15 a high surrogate (its
 * offset from D800) whose low half the DFA waits for. */
#define STR_HI (1u << 5)
#define STR_HI_SHIFT 6
#define STR_HI_BITS (0x3FFu << STR_HI_SHIFT)

/* One decoded character cp of a string value: length and pattern. */
static int str_char(const gptoss_grammar *g, const gram_node *n, gram_frame *f, uint32_t cp, int count) {
    if (count) {
        if (f->a >= n->max_len) return 0;
        f->a++;
    }
    if (n->dfa >= 0) {
        uint8_t u[4];
        int k = utf8_encode(cp, u);
        int32_t s = (int32_t)f->b;
        for (int i = 0; i < k; i++) s = gram_dfa_step(&g->dfas[n->dfa], s, u[i]);
        if (s < 0) return 0;
        f->b = (uint32_t)s;
    }
    return 1;
}

static int32_t first_required_from(const gram_node *n, uint32_t idx) {
    for (uint32_t j = idx; j < n->n_props; j++)
        if (n->props[j].required) return (int32_t)j;
    return INT32_MAX;
}

/* Whether a number whose integer part is f->c (sign in f->flags; N_ZERO: "0" or "-0", which
 * cannot grow) can no longer meet n's minimum and maximum, whatever follows. The value lies in
 * [lo, hi]: lo_open/hi_open mark ends reached only in the limit; lo or hi unbounded when absent. */
static int int_part_dead(const gram_node *n, const gram_frame *f, int int_only) {
    if (!n->has_min && !n->has_max) return 0;
    const double c = (double)f->c; /* rounding is monotone: c > bound as doubles implies it exactly */
    const int neg = (f->flags & F_NEG) != 0, zero = f->sub == N_ZERO;
    double lo, hi;
    int lo_inf = 0, hi_inf = 0, lo_open = 0, hi_open = 0;
    if (!neg) {
        lo = c;
        hi = zero ? (int_only ? 0.0 : 1.0) : 0.0;
        hi_open = zero && !int_only;
        hi_inf = !zero;
    } else {
        hi = -c;
        lo = zero ? (int_only ? 0.0 : -1.0) : 0.0;
        lo_open = zero && !int_only;
        lo_inf = !zero;
    }
    if (n->has_max && !lo_inf && (lo > n->max || (lo == n->max && (n->excl_max || lo_open)))) return 1;
    if (n->has_min && !hi_inf && (hi < n->min || (hi == n->min && (n->excl_min || hi_open)))) return 1;
    return 0;
}

/* Whether some key may still come after `count` keys, the next declared one from index idx. */
static int key_may_follow(const gram_node *n, uint32_t idx, uint32_t count) {
    if (count >= n->max_props) return 0;
    if (n->additional >= 0 || n->n_pat) return 1;
    for (uint32_t j = idx; j < n->n_props; j++)
        if (n->props[j].node >= 0) return 1;
    return 0;
}

/* An object frame's c: the next declared property index (24 bits), the members so far (24 bits)
 * and, inside a key's backslash-u escape, the code unit read so far (16 bits). */
#define OBJ_FIELD_MAX 0xFFFFFFu
static uint64_t obj_pack(uint32_t idx, uint32_t count, uint32_t unit) {
    return (uint64_t)idx | (uint64_t)count << 24 | (uint64_t)unit << 48;
}
static uint32_t obj_idx(const gram_frame *f) { return (uint32_t)(f->c & OBJ_FIELD_MAX); }
static uint32_t obj_count(const gram_frame *f) { return (uint32_t)(f->c >> 24 & OBJ_FIELD_MAX); }

/* A key frame's flags: bits 0-1 the UTF-8 continuation bytes pending; bits 2-4 the escape phase
 * (0 none, 1 after the backslash, 2-5 after u and 0-3 hex digits); bit 5 and bits 6-15 a high
 * surrogate (its offset from D800) waiting for its low half. */
#define KEY_PHASE_SHIFT 2
#define KEY_PHASE_MASK (7u << KEY_PHASE_SHIFT)
#define KEY_HI (1u << 5)
#define KEY_HI_SHIFT 6
#define KEY_HI_BITS (0x3FFu << KEY_HI_SHIFT)

/* The UTF-16 code units [*a, *z] whose character's text starts with byte b (F0-F4: the high
 * surrogates); canon: the text is json_write_string's, where a backslash starts the characters it
 * escapes (all below 0x5D). 0 when b starts none. */
static int lead_units(uint8_t b, int canon, uint32_t *a, uint32_t *z) {
    if (canon && b == '\\') { *a = 0; *z = 0x5C; }
    else if (b < 0x80) *a = *z = b;
    else if (b >= 0xC2 && b <= 0xDF) { *a = (uint32_t)(b & 0x1F) << 6; *z = *a + 0x3F; }
    else if (b >= 0xE0 && b <= 0xEF) { *a = (uint32_t)(b & 0x0F) << 12; *z = *a + 0xFFF; }
    else if (b >= 0xF0 && b <= 0xF4) { *a = 0xD800; *z = 0xDBFF; }
    else return 0;
    return 1;
}

/* Whether a key may still go somewhere: any key when additionalProperties or a pattern is live,
 * else a declared name not yet passed (declared order) nor past a missing required one. */
static int key_open(const gram_node *n, const gram_frame *f) {
    if (n->additional >= 0) return 1;
    for (uint32_t k = 0; k < n->n_pat; k++)
        if ((f->b >> (16 * k) & 0xFFFF) != 0xFFFF) return 1;
    return 0;
}
static int tnode_in_order(const gram_node *n, const gram_tnode *tn, uint32_t idx) {
    return tn->max_prop >= (int32_t)idx && tn->min_prop <= first_required_from(n, idx);
}

/* One byte of a key's name as decoded (written raw or escaped): the declared-name trie and the
 * patternProperties DFAs follow it. 0 when no key allowed here can continue. */
static int key_byte(const gptoss_grammar *g, const gram_node *n, gram_frame *f, uint32_t idx, uint8_t b) {
    if (f->a != UINT32_MAX) {
        uint32_t ch;
        f->a = literal_child(g, f->a, b, &ch) ? ch : UINT32_MAX;
    }
    for (uint32_t k = 0; k < n->n_pat; k++) {
        uint32_t ds = f->b >> (16 * k) & 0xFFFF;
        if (ds == 0xFFFF) continue;
        int32_t ns = gram_dfa_step(&g->dfas[n->pat_dfa[k]], (int32_t)ds, b);
        ds = ns < 0 ? 0xFFFF : (uint32_t)ns;
        f->b = (f->b & ~(0xFFFFu << (16 * k))) | ds << (16 * k);
    }
    if (key_open(n, f)) return 1;
    return f->a != UINT32_MAX && tnode_in_order(n, &g->tnodes[f->a], idx);
}

/* Whether an escape whose code unit lies in [lo, hi] can continue a declared name (only checked
 * when just declared names are allowed): some trie child in order whose first byte starts a
 * character in that range (F0-F4 start the characters of high surrogates). */
static int key_units_viable(const gptoss_grammar *g, const gram_node *n, const gram_frame *f, uint32_t idx, uint32_t lo, uint32_t hi) {
    if (key_open(n, f)) return 1;
    if (f->a == UINT32_MAX) return 0;
    for (int32_t ch = g->tnodes[f->a].first_child; ch >= 0; ch = g->tnodes[ch].next_sibling) {
        const gram_tnode *tn = &g->tnodes[ch];
        uint32_t a, z;
        if (tnode_in_order(n, tn, idx) && lead_units(tn->byte, 0, &a, &z) && a <= hi && lo <= z) return 1;
    }
    return 0;
}

/* A literal frame inside a string of its trie: flags bits 0-2 the escape phase (as a key's: 1 after
 * the backslash, 2-5 after u and 0-3 hex digits), bit 3 a high surrogate waiting for its low half
 * (its offset from D800 in b); c the code unit so far. */
#define LIT_PHASE 7u
#define LIT_HI 8u

/* Follows the trie from the frame's node by cp as json_write_string writes it (the trie's form). */
static int lit_follow(const gptoss_grammar *g, gram_frame *f, uint32_t cp) {
    static const char short_esc[] = "\"\\\n\r\t\b\f", short_out[] = "\"\\nrtbf";
    uint8_t u[6];
    int k;
    const char *e = cp && cp < 0x80 ? strchr(short_esc, (int)cp) : NULL;
    if (e) {
        u[0] = '\\';
        u[1] = (uint8_t)short_out[e - short_esc];
        k = 2;
    } else if (cp < 0x20) {
        static const char hx[] = "0123456789abcdef";
        memcpy(u, "\\u00", 4);
        u[4] = (uint8_t)hx[cp >> 4];
        u[5] = (uint8_t)hx[cp & 15];
        k = 6;
    } else {
        k = utf8_encode(cp, u);
    }
    uint32_t node = f->a;
    for (int i = 0; i < k; i++)
        if (!literal_child(g, node, u[i], &node)) return 0;
    f->a = node;
    return 1;
}

/* Whether some character with a code unit in [lo, hi] continues the literal trie. A raw quote child
 * is the string's end (the trie's form writes a quote inside as \"), which no escape can be. */
static int lit_units_viable(const gptoss_grammar *g, uint32_t node, uint32_t lo, uint32_t hi) {
    for (int32_t ch = g->tnodes[node].first_child; ch >= 0; ch = g->tnodes[ch].next_sibling) {
        uint32_t a, z;
        if (g->tnodes[ch].byte == '"') continue;
        if (lead_units(g->tnodes[ch].byte, 1, &a, &z) && a <= hi && lo <= z) return 1;
    }
    return 0;
}

/* One byte of an escape inside a literal's string: JSON equality compares the decoded strings,
 * so any character may be written escaped whatever the trie's form. 0 to reject. */
static int lit_escape(const gptoss_grammar *g, gram_frame *f, uint8_t b) {
    unsigned phase = f->flags & LIT_PHASE;
    if (phase == 0) {
        /* a low half is checked whole, with its high half, at its last digit */
        if (b != '\\' || (!(f->flags & LIT_HI) && !lit_units_viable(g, f->a, 0, 0xFFFF))) return 0;
        f->flags = (uint16_t)((f->flags & ~LIT_PHASE) | 1);
        return 1;
    }
    if (phase == 1) {
        static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
        if (b == 'u') {
            f->flags = (uint16_t)((f->flags & ~LIT_PHASE) | 2);
            f->c = 0;
            return 1;
        }
        const char *p = b && !(f->flags & LIT_HI) ? strchr(esc_in, b) : NULL;
        if (!p) return 0;
        f->flags &= (uint16_t)~LIT_PHASE;
        return lit_follow(g, f, (uint8_t)esc_out[p - esc_in]);
    }
    int h = hexv(b);
    if (h < 0) return 0;
    uint32_t unit = (uint32_t)f->c * 16 + (uint32_t)h, nd = phase - 1;
    uint32_t lo = unit << (4 * (4 - nd)), hi = lo + (1u << (4 * (4 - nd))) - 1;
    if (f->flags & LIT_HI) {
        if (hi < 0xDC00 || lo > 0xDFFF) return 0;
    } else if (!lit_units_viable(g, f->a, lo, hi)) {
        return 0;
    }
    if (nd < 4) {
        f->flags = (uint16_t)((f->flags & ~LIT_PHASE) | (phase + 1));
        f->c = unit;
        return 1;
    }
    f->flags &= (uint16_t)~LIT_PHASE;
    f->c = 0;
    if (f->flags & LIT_HI) {
        f->flags &= (uint16_t)~LIT_HI;
        return lit_follow(g, f, 0x10000 + (f->b << 10) + (unit - 0xDC00));
    }
    if (unit >= 0xD800 && unit <= 0xDBFF) {
        f->flags |= LIT_HI;
        f->b = unit - 0xD800;
        return 1;
    }
    if (unit >= 0xDC00 && unit <= 0xDFFF) return 0;
    return lit_follow(g, f, unit);
}

static void feed(const gptoss_grammar *g, gram_thread *t, uint8_t b, gram_state *out, int guard) {
    for (;;) {
        gram_frame *f = &t->f[t->depth - 1];
        const gram_node *n = &g->nodes[f->node];
        switch (f->mode) {
        case M_ROOT:
            if (is_ws(b)) { emit(out, t); return; }
            if (f->sub) return;
            f->sub = 1;
            enter(g, t, g->root, b, out, guard);
            return;
        case M_KW: {
            const char *k = KEYWORDS[f->a];
            if ((uint8_t)k[f->b] != b) return;
            f->b++;
            if (!k[f->b]) {
                t->depth--;
                value_done(t);
            }
            emit(out, t);
            return;
        }
        case M_NUM: {
            int int_only = (n->types & GT_INT) && !(n->types & GT_NUM);
            int bounded = n->has_min || n->has_max || n->multiple_of;
            int digit = b >= '0' && b <= '9';
            switch (f->sub) {
            case N_SIGN:
                if (!digit) return;
                f->sub = b == '0' ? N_ZERO : N_INT;
                break;
            case N_ZERO: case N_INT: case N_FRAC:
                if (digit && f->sub != N_ZERO) break;
                /* drafts 6 on call 1.0 an integer (its fraction digits must then all be 0),
                 * drafts 3 and 4 do not */
                if (b == '.' && f->sub != N_FRAC) {
                    if (int_only && !g->int_zero_frac) return;
                    f->sub = N_DOT;
                    emit(out, t);
                    return;
                }
                if ((b == 'e' || b == 'E')) {
                    if (bounded || int_only) return;
                    f->sub = N_E;
                    emit(out, t);
                    return;
                }
                goto number_end;
            case N_DOT:
                if (!digit) return;
                f->sub = N_FRAC;
                break;
            case N_E:
                if (b == '+' || b == '-') { f->sub = N_ESIGN; emit(out, t); return; }
                if (!digit) return;
                f->sub = N_EXP;
                emit(out, t);
                return;
            case N_ESIGN: case N_EXP:
                if (digit) { f->sub = N_EXP; emit(out, t); return; }
                goto number_end;
            }
            /* a mantissa digit */
            if (f->sub == N_FRAC) {
                if (b != '0') {
                    if (int_only) return;
                    f->flags |= F_FRACNZ;
                }
                f->a++;
            }
            if (f->c > (UINT64_MAX - 9) / 10) {
                f->flags |= F_OVER;
                if (bounded) return;
            } else {
                f->c = f->c * 10 + (uint64_t)(b - '0');
            }
            /* the integer part only grows: prune once no continuation can meet the bounds, so that a
             * mask never leads into a dead end */
            if ((f->sub == N_INT || f->sub == N_ZERO) && !(f->flags & F_OVER) && int_part_dead(n, f, int_only)) return;
            emit(out, t);
            return;
        number_end:
            if (!number_ok(n, f)) return;
            t->depth--;
            value_done(t);
            continue; /* the parent reads b */
        }
        case M_LIT: {
            const gram_tnode *tn = &g->tnodes[f->a];
            uint32_t ch;
            /* inside a string, a backslash starts an escape decoded against the trie; a high
             * surrogate's low half must follow */
            if (tn->in_string && ((f->flags & (LIT_PHASE | LIT_HI)) || b == '\\')) {
                if (!lit_escape(g, f, b)) return;
                emit(out, t);
                return;
            }
            /* an integer literal may be written with a zero fraction (1.0 equals 1) */
            if (f->sub >= 2) {
                if (b == '0') {
                    f->sub = 3;
                    emit(out, t);
                    return;
                }
                if (f->sub == 2 || (b >= '1' && b <= '9') || b == '.' || b == 'e' || b == 'E') return;
                f->sub = 1;
            } else if (b == '.' && tn->int_digit && !literal_child(g, f->a, '.', &ch)) {
                f->sub = 2;
                emit(out, t);
                return;
            }
            if (!tn->in_string && is_ws(b)) {
                /* whitespace between JSON tokens: after a structural byte or a closing quote
                 * anything may follow; after a number or keyword only a structural byte */
                int ended = f->a == (uint32_t)n->lit || (tn->byte && strchr("{[,:\"", tn->byte) != NULL);
                if (!ended) f->sub = 1;
                emit(out, t);
                return;
            }
            if (f->sub && !(b && strchr(",]}:", b))) {
                if (tn->term < 0) return;
                t->depth--;
                value_done(t);
                continue;
            }
            if (literal_child(g, f->a, b, &ch)) {
                f->a = ch;
                f->sub = 0;
                emit(out, t);
                return;
            }
            if (tn->term < 0 || tn->in_string) return;
            t->depth--;
            value_done(t);
            continue;
        }
        case M_STR: {
            if (f->sub == 0) {
                if (b == '"') {
                    if (f->flags & (3 | STR_HI)) return;
                    if (f->a < n->min_len) return;
                    if (n->dfa >= 0 && !g->dfas[n->dfa].accept[f->b]) return;
                    t->depth--;
                    value_done(t);
                    emit(out, t);
                    return;
                }
                if (b == '\\') {
                    if (f->flags & 3) return;
                    /* an escape is one more character (unless it ends a surrogate pair): none left, a dead end */
                    if (f->a >= n->max_len && !(f->flags & (4 | STR_HI))) return;
                    f->sub = 1;
                    emit(out, t);
                    return;
                }
                if (b < 0x20 || (f->flags & STR_HI)) return;
                if (b >= 0xC0 && f->a >= n->max_len) return; /* a character that could not be counted */
                int r = utf8_byte(f, b);
                if (!r) return;
                f->flags &= (uint16_t)~4u;
                if (r == 2) {
                    if (f->a >= n->max_len) return;
                    f->a++;
                }
                if (n->dfa >= 0) {
                    int32_t s = gram_dfa_step(&g->dfas[n->dfa], (int32_t)f->b, b);
                    if (s < 0) return;
                    f->b = (uint32_t)s;
                }
                emit(out, t);
                return;
            }
            if (f->sub == 1) {
                static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
                if (b == 'u') {
                    f->sub = 2;
                    f->c = 0;
                    emit(out, t);
                    return;
                }
                const char *p = b && !(f->flags & STR_HI) ? strchr(esc_in, b) : NULL;
                if (!p) return;
                f->sub = 0;
                f->flags &= (uint16_t)~4u;
                if (!str_char(g, n, f, (uint8_t)esc_out[p - esc_in], 1)) return;
                emit(out, t);
                return;
            }
            int h = hexv(b);
            if (h < 0) return;
            f->c = f->c * 16 + (uint64_t)h;
            if (++f->sub < 6) {
                emit(out, t);
                return;
            }
            f->sub = 0;
            uint32_t cp = (uint32_t)f->c;
            if (n->dfa >= 0 && (cp >= 0xD800 || (f->flags & STR_HI))) {
                /* a pattern sees whole characters: a high surrogate waits in the flags for its
                 * low half, the pair is one character; a lone half is refused */
                int low = cp >= 0xDC00 && cp <= 0xDFFF;
                if (!(f->flags & STR_HI)) {
                    if (cp > 0xDBFF) return; /* a lone low half (cp >= 0xD800 here) */
                    if (f->a >= n->max_len) return; /* the pair counts here, the DFA steps at the low half */
                    f->a++;
                    f->flags = (uint16_t)(f->flags | STR_HI | (cp - 0xD800) << STR_HI_SHIFT);
                    emit(out, t);
                    return;
                }
                if (!low) return;
                cp = 0x10000 + ((uint32_t)(f->flags >> STR_HI_SHIFT) << 10) + (cp - 0xDC00);
                f->flags &= (uint16_t)~(STR_HI | STR_HI_BITS);
                uint8_t u[4];
                int k = utf8_encode(cp, u);
                int32_t ds = (int32_t)f->b;
                for (int i = 0; i < k; i++) ds = gram_dfa_step(&g->dfas[n->dfa], ds, u[i]);
                if (ds < 0) return;
                f->b = (uint32_t)ds;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                int low = cp >= 0xDC00;
                int count = !(low && (f->flags & 4));
                f->flags = (uint16_t)((f->flags & ~4u) | (low ? 0u : 4u));
                if (!str_char(g, n, f, cp, count)) return;
            } else {
                f->flags &= (uint16_t)~4u;
                if (!str_char(g, n, f, cp, 1)) return;
            }
            emit(out, t);
            return;
        }
        case M_ARR: {
            if (is_ws(b)) { emit(out, t); return; }
            if (f->sub == A_AFTER) {
                if (b == ',') {
                    /* a comma only where another item may come: a mask must not lead into a dead end */
                    if (f->a >= n->max_items || (f->a >= n->n_prefix && n->items < 0)) return;
                    f->sub = A_COMMA;
                    emit(out, t);
                    return;
                }
                if (b != ']') return;
                if (f->a < n->min_items || f->b < n->min_contains) return;
                t->depth--;
                value_done(t);
                emit(out, t);
                return;
            }
            if (b == ']' && f->sub == A_OPEN) {
                if (n->min_items > 0 || n->min_contains > 0) return;
                t->depth--;
                value_done(t);
                emit(out, t);
                return;
            }
            if (f->a >= n->max_items) return;
            int32_t item = f->a < n->n_prefix ? n->prefix[f->a] : n->items;
            if (item < 0) return;
            f->a++;
            f->sub = A_AFTER;
            if (f->b < n->min_contains) { /* this item may be one that matches contains */
                gram_thread c2;
                thread_copy(&c2, t);
                c2.f[c2.depth - 1].b++;
                enter(g, &c2, n->contains_item, b, out, guard);
            }
            enter(g, t, item, b, out, guard);
            return;
        }
        case M_OBJ: {
            uint32_t idx = obj_idx(f), count = obj_count(f);
            switch (f->sub) {
            case O_OPEN: case O_COMMA: case O_AFTER:
                if (is_ws(b)) { emit(out, t); return; }
                if (f->sub == O_AFTER && b == ',') {
                    if (!key_may_follow(n, idx, count)) return; /* no dead end after the comma */
                    f->sub = O_COMMA;
                    emit(out, t);
                    return;
                }
                if (b == '}' && f->sub != O_COMMA) {
                    if (count < n->min_props || first_required_from(n, idx) != INT32_MAX) return;
                    t->depth--;
                    value_done(t);
                    emit(out, t);
                    return;
                }
                if (b != '"' || f->sub == O_AFTER) return;
                if (!key_may_follow(n, idx, count)) return;
                f->sub = O_KEY;
                f->a = n->key_trie >= 0 ? (uint32_t)n->key_trie : UINT32_MAX;
                f->flags = 0;
                f->b = n->n_pat == 0 ? 0xFFFFFFFFu : n->n_pat == 1 ? 0xFFFF0000u : 0; /* DFA states, 0xFFFF dead */
                emit(out, t);
                return;
            case O_KEY: {
                unsigned phase = f->flags >> KEY_PHASE_SHIFT & 7;
                if (phase == 0 && b == '"') {
                    if (f->flags & (3 | KEY_HI)) return;
                    int32_t j = f->a != UINT32_MAX ? g->tnodes[f->a].term : -1;
                    int32_t chosen;
                    if (j >= 0) {
                        if ((uint32_t)j < idx || first_required_from(n, idx) < j) return;
                        chosen = n->props[j].node;
                        if (chosen < 0) return;
                        idx = (uint32_t)j + 1;
                    } else {
                        uint32_t mm = 0;
                        for (uint32_t k = 0; k < n->n_pat; k++) {
                            uint32_t ds = f->b >> (16 * k) & 0xFFFF;
                            if (ds != 0xFFFF && g->dfas[n->pat_dfa[k]].accept[ds]) mm |= 1u << k;
                        }
                        chosen = mm ? n->pat_node[mm - 1] : n->additional;
                        if (chosen < 0) return;
                    }
                    if (++count > OBJ_FIELD_MAX || idx > OBJ_FIELD_MAX) return;
                    f->c = obj_pack(idx, count, 0);
                    f->b = (uint32_t)chosen;
                    f->sub = O_COLON;
                    f->flags = 0;
                    emit(out, t);
                    return;
                }
                if (phase == 0 && b == '\\') {
                    /* an escape starts a whole character; what it may decode to is [0, 0xFFFF] */
                    if ((f->flags & 3) || !key_units_viable(g, n, f, idx, 0, 0xFFFF)) return;
                    f->flags = (uint16_t)((f->flags & ~KEY_PHASE_MASK) | 1u << KEY_PHASE_SHIFT);
                    emit(out, t);
                    return;
                }
                if (phase == 0) {
                    /* a high surrogate escape must be followed by its low half */
                    if (b < 0x20 || (f->flags & KEY_HI)) return;
                    if (!utf8_byte(f, b) || !key_byte(g, n, f, idx, b)) return;
                    emit(out, t);
                    return;
                }
                if (phase == 1) {
                    static const char esc_in[] = "\"\\/bfnrt", esc_out[] = "\"\\/\b\f\n\r\t";
                    const char *p = b && b != 'u' && !(f->flags & KEY_HI) ? strchr(esc_in, b) : NULL;
                    if (b == 'u') {
                        f->flags = (uint16_t)((f->flags & ~KEY_PHASE_MASK) | 2u << KEY_PHASE_SHIFT);
                        f->c = obj_pack(idx, count, 0);
                        emit(out, t);
                        return;
                    }
                    if (!p) return;
                    f->flags &= (uint16_t)~KEY_PHASE_MASK;
                    if (!key_byte(g, n, f, idx, (uint8_t)esc_out[p - esc_in])) return;
                    emit(out, t);
                    return;
                }
                /* a backslash-u escape: phase 2 + the hex digits read so far; the code unit so far in c */
                int h = hexv(b);
                if (h < 0) return;
                uint32_t unit = (uint32_t)(f->c >> 48) * 16 + (uint32_t)h, nd = phase - 1;
                uint32_t lo = unit << (4 * (4 - nd)), hi = lo + (1u << (4 * (4 - nd))) - 1;
                if (f->flags & KEY_HI) {
                    if (hi < 0xDC00 || lo > 0xDFFF) return;
                } else if (!key_units_viable(g, n, f, idx, lo, hi)) {
                    return;
                }
                if (nd < 4) {
                    f->flags = (uint16_t)((f->flags & ~KEY_PHASE_MASK) | (phase + 1) << KEY_PHASE_SHIFT);
                    f->c = obj_pack(idx, count, unit);
                    emit(out, t);
                    return;
                }
                f->flags &= (uint16_t)~KEY_PHASE_MASK;
                f->c = obj_pack(idx, count, 0);
                uint32_t cp = unit;
                if (f->flags & KEY_HI) {
                    cp = 0x10000 + ((uint32_t)(f->flags >> KEY_HI_SHIFT) << 10) + (unit - 0xDC00);
                    f->flags &= (uint16_t)~(KEY_HI | KEY_HI_BITS);
                } else if (unit >= 0xD800 && unit <= 0xDBFF) {
                    f->flags = (uint16_t)(f->flags | KEY_HI | (unit - 0xD800) << KEY_HI_SHIFT);
                    emit(out, t);
                    return;
                } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
                    return; /* a lone low surrogate names no property and no pattern sees it */
                }
                uint8_t u[4];
                int k = utf8_encode(cp, u);
                for (int i = 0; i < k; i++)
                    if (!key_byte(g, n, f, idx, u[i])) return;
                emit(out, t);
                return;
            }
            case O_COLON:
                if (is_ws(b)) { emit(out, t); return; }
                if (b != ':') return;
                f->sub = O_VAL;
                emit(out, t);
                return;
            case O_VAL:
                if (is_ws(b)) { emit(out, t); return; }
                f->sub = O_AFTER;
                enter(g, t, (int32_t)f->b, b, out, guard);
                return;
            }
            return;
        }
        }
        return;
    }
}

void gram_state_init(const gptoss_grammar *g, gram_state *s) {
    (void)g;
    s->n = 1;
    s->t[0].depth = 1;
    memset(&s->t[0].f[0], 0, sizeof s->t[0].f[0]);
    s->t[0].f[0].mode = M_ROOT;
    s->t[0].f[0].node = g->root;
}

uint32_t gram_state_step(const gptoss_grammar *g, const gram_state *in, uint8_t b, gram_state *out) {
    out->n = 0;
    out->work = 0;
    for (uint32_t i = 0; i < in->n; i++) {
        gram_thread t;
        thread_copy(&t, &in->t[i]);
        feed(g, &t, b, out, 0);
    }
    return out->n;
}

static int thread_complete(const gptoss_grammar *g, const gram_thread *in) {
    gram_thread t;
    thread_copy(&t, in);
    while (t.depth > 1) {
        gram_frame *f = &t.f[t.depth - 1];
        const gram_node *n = &g->nodes[f->node];
        if (f->mode == M_NUM && number_ok(n, f)) t.depth--;
        else if (f->mode == M_LIT && g->tnodes[f->a].term >= 0 && f->sub != 2) t.depth--;
        else return 0;
        value_done(&t);
    }
    return t.f[0].sub == 1;
}

int gram_state_complete(const gptoss_grammar *g, const gram_state *s) {
    for (uint32_t i = 0; i < s->n; i++)
        if (thread_complete(g, &s->t[i])) return 1;
    return 0;
}

int gram_state_plain_string(const gptoss_grammar *g, const gram_state *s) {
    for (uint32_t i = 0; i < s->n; i++) {
        const gram_thread *t = &s->t[i];
        const gram_frame *f = &t->f[t->depth - 1];
        const gram_node *n = &g->nodes[f->node];
        if (f->mode == M_STR && f->sub == 0 && !(f->flags & 3) && n->dfa < 0 &&
            (n->max_len == UINT32_MAX || n->max_len - f->a >= 256))
            return 1;
        if (f->mode == M_OBJ && f->sub == O_KEY && !(f->flags & (3 | KEY_PHASE_MASK | KEY_HI)) && n->additional >= 0) return 1;
    }
    return 0;
}

int gram_thread_in_string(const gptoss_grammar *g, const gram_thread *t) {
    (void)g;
    const gram_frame *f = &t->f[t->depth - 1];
    return f->mode == M_STR && f->sub == 0 && !(f->flags & (3 | STR_HI));
}

static void set_byte(uint32_t *m, uint8_t b) { m[b >> 5] |= 1u << (b & 31); }
static void set_ws(uint32_t *m) {
    set_byte(m, ' ');
    set_byte(m, '\t');
    set_byte(m, '\n');
    set_byte(m, '\r');
}

/* First bytes of a value of node id (a superset). */
static void value_first(const gptoss_grammar *g, int32_t id, uint32_t *m, int depth) {
    if (id < 0) return;
    const gram_node *n = &g->nodes[id];
    if (n->kind == GN_ANYOF) {
        if (depth > 8) {
            memset(m, 0xff, 32);
            return;
        }
        for (uint32_t i = 0; i < n->n_alts; i++) value_first(g, n->alts[i], m, depth + 1);
        return;
    }
    if (n->kind == GN_LITERAL) {
        for (int32_t c = g->tnodes[n->lit].first_child; c >= 0; c = g->tnodes[c].next_sibling) set_byte(m, g->tnodes[c].byte);
        return;
    }
    if (n->types & GT_OBJ) set_byte(m, '{');
    if (n->types & GT_ARR) set_byte(m, '[');
    if (n->types & GT_STR) set_byte(m, '"');
    if (n->types & GT_BOOL) { set_byte(m, 't'); set_byte(m, 'f'); }
    if (n->types & GT_NULL) set_byte(m, 'n');
    if (n->types & (GT_INT | GT_NUM)) {
        set_byte(m, '-');
        for (uint8_t d = '0'; d <= '9'; d++) set_byte(m, d);
    }
}

void gram_state_first_bytes(const gptoss_grammar *g, const gram_state *s, uint32_t m[8]) {
    memset(m, 0, 32);
    for (uint32_t i = 0; i < s->n; i++) {
        const gram_thread *t = &s->t[i];
        const gram_frame *f = &t->f[t->depth - 1];
        const gram_node *n = &g->nodes[f->node];
        switch (f->mode) {
        case M_ROOT:
            set_ws(m);
            if (!f->sub) value_first(g, g->root, m, 0);
            break;
        case M_KW:
            set_byte(m, (uint8_t)KEYWORDS[f->a][f->b]);
            break;
        case M_OBJ:
            switch (f->sub) {
            case O_OPEN: set_ws(m); set_byte(m, '"'); set_byte(m, '}'); break;
            case O_COMMA: set_ws(m); set_byte(m, '"'); break;
            case O_AFTER: set_ws(m); set_byte(m, ','); set_byte(m, '}'); break;
            case O_COLON: set_ws(m); set_byte(m, ':'); break;
            case O_VAL: set_ws(m); value_first(g, (int32_t)f->b, m, 0); break;
            default: memset(m, 0xff, 32); return;
            }
            break;
        case M_ARR:
            set_ws(m);
            if (f->sub == A_AFTER) {
                set_byte(m, ',');
                set_byte(m, ']');
                break;
            }
            if (f->sub == A_OPEN) set_byte(m, ']');
            if (f->a < n->n_prefix) value_first(g, n->prefix[f->a], m, 0);
            else value_first(g, n->items, m, 0);
            break;
        default:
            memset(m, 0xff, 32);
            return;
        }
    }
}
