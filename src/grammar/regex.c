/* regex.c: the ECMA-262 subset JSON Schemas use (literals, escapes, classes, '.', groups,
 * alternation, greedy/lazy quantifiers, ^ and $ at the ends) compiled to a Thompson NFA over UTF-8
 * bytes and then determinized into a byte DFA with equivalence classes. Sizes are capped so a
 * pathological pattern is a compile error, never a hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_internal.h"

#define NFA_MAX 40000
#define DFA_MAX 3000

enum { N_EPS, N_RANGE };
typedef struct nnode {
    uint8_t type, lo, hi;
    int32_t o1, o2;
} nnode;

typedef struct rx {
    const char *p, *end;
    nnode *n;
    int nn, cap;
    char *err;
    size_t err_size;
    int failed;
} rx;

typedef struct frag {
    int s, e;
} frag;

typedef struct cpr {
    uint32_t lo, hi;
} cpr;
typedef struct cset {
    cpr r[64];
    int n;
    int overflow;
} cset;

static void rx_fail(rx *r, const char *msg) {
    if (!r->failed) snprintf(r->err, r->err_size, "%s", msg);
    r->failed = 1;
}

static int nnew(rx *r, int type, int lo, int hi) {
    if (r->nn >= NFA_MAX) {
        rx_fail(r, "pattern too large");
        return 0;
    }
    if (r->nn == r->cap) {
        int cap = r->cap ? r->cap * 2 : 256;
        nnode *n = realloc(r->n, (size_t)cap * sizeof *n);
        if (!n) {
            rx_fail(r, "out of memory");
            return 0;
        }
        r->n = n;
        r->cap = cap;
    }
    r->n[r->nn] = (nnode){(uint8_t)type, (uint8_t)lo, (uint8_t)hi, -1, -1};
    return r->nn++;
}

static void eps(rx *r, int from, int to) {
    if (r->failed) return;
    nnode *n = &r->n[from];
    if (n->o1 < 0) n->o1 = to;
    else n->o2 = to;
}

/* ---- code point sets -> UTF-8 byte sequences ---- */
static void cs_add(cset *c, uint32_t lo, uint32_t hi) {
    if (lo > hi) return;
    if (c->n == 64) {
        c->overflow = 1;
        return;
    }
    c->r[c->n++] = (cpr){lo, hi};
}

static int cpr_cmp(const void *a, const void *b) {
    const cpr *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void cs_norm(cset *c) {
    qsort(c->r, (size_t)c->n, sizeof c->r[0], cpr_cmp);
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (k && c->r[i].lo <= c->r[k - 1].hi + 1) {
            if (c->r[i].hi > c->r[k - 1].hi) c->r[k - 1].hi = c->r[i].hi;
        } else {
            c->r[k++] = c->r[i];
        }
    }
    c->n = k;
}

static void cs_negate(cset *c) {
    cs_norm(c);
    cset o = {.n = 0};
    uint32_t next = 0;
    for (int i = 0; i < c->n; i++) {
        if (c->r[i].lo > next) cs_add(&o, next, c->r[i].lo - 1);
        next = c->r[i].hi + 1;
    }
    if (next <= 0x10FFFF) cs_add(&o, next, 0x10FFFF);
    o.overflow |= c->overflow;
    *c = o;
}

static int utf8_enc(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | cp >> 6); o[1] = (uint8_t)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
        o[2] = (uint8_t)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 63));
    o[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

/* Adds to (*s -> e) the byte paths of code points lo..hi; *s is a chain of split nodes that grows
 * by one per path (an EPS node has two exits). */
static void utf8_range(rx *r, int *s, int e, uint32_t lo, uint32_t hi) {
    int n = lo < 0x80 ? 1 : lo < 0x800 ? 2 : lo < 0x10000 ? 3 : 4;
    for (int i = 1; i < n; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if (lo & m) {
                utf8_range(r, s, e, lo, lo | m);
                utf8_range(r, s, e, (lo | m) + 1, hi);
                return;
            }
            if ((hi & m) != m) {
                utf8_range(r, s, e, lo, (hi & ~m) - 1);
                utf8_range(r, s, e, hi & ~m, hi);
                return;
            }
        }
    }
    uint8_t a[4], b[4];
    utf8_enc(lo, a);
    utf8_enc(hi, b);
    int first = -1, prev = -1;
    for (int i = 0; i < n; i++) {
        int x = nnew(r, N_RANGE, a[i], b[i]);
        if (r->failed) return;
        if (prev >= 0) r->n[prev].o1 = x;
        else first = x;
        prev = x;
    }
    r->n[prev].o1 = e;
    int nx = nnew(r, N_EPS, 0, 0);
    if (r->failed) return;
    eps(r, *s, first);
    eps(r, *s, nx);
    *s = nx;
}

static frag set_frag(rx *r, cset *c) {
    frag f = {nnew(r, N_EPS, 0, 0), nnew(r, N_EPS, 0, 0)};
    if (c->overflow) rx_fail(r, "character class too large");
    cs_norm(c);
    static const uint32_t bounds[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    int cur = f.s;
    for (int i = 0; i < c->n && !r->failed; i++) {
        uint32_t lo = c->r[i].lo, hi = c->r[i].hi;
        for (int b = 0; b < 4 && lo <= hi && !r->failed; b++) {
            if (lo > bounds[b]) continue;
            uint32_t h = hi < bounds[b] ? hi : bounds[b];
            /* surrogates are no characters */
            if (lo <= 0xDFFF && h >= 0xD800) {
                if (lo < 0xD800) utf8_range(r, &cur, f.e, lo, 0xD7FF);
                if (h > 0xDFFF) utf8_range(r, &cur, f.e, 0xE000, h);
            } else {
                utf8_range(r, &cur, f.e, lo, h);
            }
            lo = h + 1;
        }
    }
    return f;
}

/* ---- parser ---- */
static uint32_t next_cp(rx *r) {
    const uint8_t *p = (const uint8_t *)r->p;
    uint32_t c = p[0];
    int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (r->p + n > r->end) n = 1;
    if (n > 1) {
        c &= (uint32_t)(0x3F >> (n - 1));
        for (int i = 1; i < n; i++) c = c << 6 | (p[i] & 63);
    }
    r->p += n;
    return c;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void add_class(cset *c, char k) {
    switch (k) {
    case 'd': cs_add(c, '0', '9'); break;
    case 'w': cs_add(c, '0', '9'); cs_add(c, 'A', 'Z'); cs_add(c, 'a', 'z'); cs_add(c, '_', '_'); break;
    case 's':
        cs_add(c, 9, 13); cs_add(c, ' ', ' '); cs_add(c, 0xA0, 0xA0); cs_add(c, 0x1680, 0x1680);
        cs_add(c, 0x2000, 0x200A); cs_add(c, 0x2028, 0x2029); cs_add(c, 0x202F, 0x202F);
        cs_add(c, 0x205F, 0x205F); cs_add(c, 0x3000, 0x3000); cs_add(c, 0xFEFF, 0xFEFF);
        break;
    }
}

/* Parses an escape after '\'; fills c (a set) and returns 1, or returns 0 on an unsupported one. */
static int parse_escape(rx *r, cset *c, int in_class) {
    if (r->p >= r->end) {
        rx_fail(r, "pattern ends with '\\'");
        return 0;
    }
    char k = *r->p++;
    switch (k) {
    case 'd': case 'w': case 's': add_class(c, k); return 1;
    case 'D': case 'W': case 'S': {
        cset t = {.n = 0};
        add_class(&t, (char)(k + 32));
        cs_negate(&t);
        for (int i = 0; i < t.n; i++) cs_add(c, t.r[i].lo, t.r[i].hi);
        return 1;
    }
    case 'n': cs_add(c, '\n', '\n'); return 1;
    case 'r': cs_add(c, '\r', '\r'); return 1;
    case 't': cs_add(c, '\t', '\t'); return 1;
    case 'f': cs_add(c, '\f', '\f'); return 1;
    case 'v': cs_add(c, '\v', '\v'); return 1;
    case '0': cs_add(c, 0, 0); return 1;
    case 'b':
        if (in_class) { cs_add(c, 8, 8); return 1; }
        rx_fail(r, "unsupported pattern: word boundary \\b");
        return 0;
    case 'x': case 'u': {
        int nd = k == 'x' ? 2 : 4;
        uint32_t v = 0;
        if (k == 'u' && r->p < r->end && *r->p == '{') {
            r->p++;
            while (r->p < r->end && *r->p != '}') {
                int h = hexval(*r->p++);
                if (h < 0 || v > 0x10FFFF) { rx_fail(r, "bad \\u{} escape in pattern"); return 0; }
                v = v * 16 + (uint32_t)h;
            }
            if (r->p >= r->end) { rx_fail(r, "bad \\u{} escape in pattern"); return 0; }
            r->p++;
        } else {
            for (int i = 0; i < nd; i++) {
                int h = r->p < r->end ? hexval(*r->p) : -1;
                if (h < 0) { rx_fail(r, "bad hex escape in pattern"); return 0; }
                r->p++;
                v = v * 16 + (uint32_t)h;
            }
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
            rx_fail(r, "unsupported pattern: surrogate escape");
            return 0;
        }
        cs_add(c, v, v);
        return 1;
    }
    default:
        if ((k >= '1' && k <= '9') || k == 'k' || k == 'B' || k == 'p' || k == 'P' || k == 'c') {
            char m[64];
            snprintf(m, sizeof m, "unsupported pattern escape \\%c", k);
            rx_fail(r, m);
            return 0;
        }
        if ((unsigned char)k >= 0x80) {
            r->p--;
            uint32_t cp = next_cp(r);
            cs_add(c, cp, cp);
        } else {
            cs_add(c, (uint8_t)k, (uint8_t)k);
        }
        return 1;
    }
}

static void parse_class(rx *r, cset *c) {
    int neg = 0;
    if (r->p < r->end && *r->p == '^') {
        neg = 1;
        r->p++;
    }
    int first = 1;
    while (!r->failed) {
        if (r->p >= r->end) {
            rx_fail(r, "unterminated character class in pattern");
            return;
        }
        if (*r->p == ']' && !first) {
            r->p++;
            break;
        }
        if (*r->p == ']' && first) { /* ECMA: [] matches nothing, []...] is not special; keep simple */
            r->p++;
            if (!neg) { c->n = 0; return; }
            cs_add(c, 0, 0x10FFFF);
            return;
        }
        first = 0;
        uint32_t lo;
        int single = 1;
        cset t = {.n = 0};
        if (*r->p == '\\') {
            r->p++;
            if (!parse_escape(r, &t, 1)) return;
            single = t.n == 1 && t.r[0].lo == t.r[0].hi;
            lo = t.r[0].lo;
        } else {
            lo = next_cp(r);
            cs_add(&t, lo, lo);
        }
        if (single && r->p + 1 < r->end && *r->p == '-' && r->p[1] != ']') {
            r->p++;
            uint32_t hi;
            if (*r->p == '\\') {
                r->p++;
                cset u = {.n = 0};
                if (!parse_escape(r, &u, 1)) return;
                if (u.n != 1 || u.r[0].lo != u.r[0].hi) {
                    rx_fail(r, "bad range in character class");
                    return;
                }
                hi = u.r[0].lo;
            } else {
                hi = next_cp(r);
            }
            if (hi < lo) {
                rx_fail(r, "reversed range in character class");
                return;
            }
            cs_add(c, lo, hi);
        } else {
            for (int i = 0; i < t.n; i++) cs_add(c, t.r[i].lo, t.r[i].hi);
        }
    }
    if (neg) cs_negate(c);
}

static frag parse_alt(rx *r, int depth);

static frag clone_frag(rx *r, int lo, int hi, frag f) {
    int off = r->nn - lo;
    for (int i = lo; i < hi && !r->failed; i++) {
        int x = nnew(r, r->n[i].type, r->n[i].lo, r->n[i].hi);
        if (r->failed) break;
        nnode src = r->n[i];
        r->n[x].o1 = src.o1 >= lo && src.o1 < hi ? src.o1 + off : src.o1;
        r->n[x].o2 = src.o2 >= lo && src.o2 < hi ? src.o2 + off : src.o2;
    }
    return (frag){f.s + off, f.e + off};
}

static frag empty_frag(rx *r) {
    frag f = {nnew(r, N_EPS, 0, 0), 0};
    f.e = f.s;
    return f;
}

static frag parse_atom(rx *r, int depth) {
    char ch = *r->p;
    cset c = {.n = 0};
    if (ch == '(') {
        r->p++;
        if (r->p < r->end && *r->p == '?') {
            if (r->p + 1 < r->end && r->p[1] == ':') {
                r->p += 2;
            } else if (r->p + 1 < r->end && r->p[1] == '<' && r->p + 2 < r->end && r->p[2] != '=' && r->p[2] != '!') {
                while (r->p < r->end && *r->p != '>') r->p++;
                if (r->p < r->end) r->p++;
            } else {
                rx_fail(r, "unsupported pattern: lookaround");
                return empty_frag(r);
            }
        }
        frag f = parse_alt(r, depth + 1);
        if (r->p >= r->end || *r->p != ')') {
            rx_fail(r, "unbalanced parenthesis in pattern");
            return f;
        }
        r->p++;
        return f;
    }
    if (ch == '[') {
        r->p++;
        parse_class(r, &c);
        return set_frag(r, &c);
    }
    if (ch == '.') {
        r->p++;
        cs_add(&c, '\n', '\n');
        cs_add(&c, '\r', '\r');
        cs_add(&c, 0x2028, 0x2029);
        cs_negate(&c);
        return set_frag(r, &c);
    }
    if (ch == '\\') {
        r->p++;
        parse_escape(r, &c, 0);
        return set_frag(r, &c);
    }
    if (ch == '^' || ch == '$') {
        rx_fail(r, "unsupported pattern: anchor inside the pattern");
        return empty_frag(r);
    }
    if (ch == '*' || ch == '+' || ch == '?' || ch == ')' || ch == '|') {
        rx_fail(r, "bad pattern: nothing to repeat");
        return empty_frag(r);
    }
    uint32_t cp = next_cp(r);
    cs_add(&c, cp, cp);
    return set_frag(r, &c);
}

static int parse_int(rx *r, uint32_t *v) {
    const char *s = r->p;
    uint32_t x = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        x = x * 10 + (uint32_t)(*r->p - '0');
        if (x > 100000) x = 100000;
        r->p++;
    }
    *v = x;
    return r->p > s;
}

static frag star(rx *r, frag a) {
    frag f = {nnew(r, N_EPS, 0, 0), nnew(r, N_EPS, 0, 0)};
    eps(r, f.s, a.s);
    eps(r, f.s, f.e);
    eps(r, a.e, a.s);
    eps(r, a.e, f.e);
    return f;
}

static frag concat(rx *r, frag a, frag b) {
    eps(r, a.e, b.s);
    return (frag){a.s, b.e};
}

static frag parse_concat(rx *r, int depth) {
    frag f = empty_frag(r);
    while (!r->failed && r->p < r->end && *r->p != '|' && *r->p != ')') {
        if (*r->p == '{') {
            /* a braced quantifier with nothing before it to repeat (a{2}{3}, {2}) is an ECMA-262
             * syntax error, not literal text; a '{' that forms no quantifier is a literal */
            const char *save = r->p++;
            uint32_t q1, q2;
            int quant = parse_int(r, &q1);
            if (quant && r->p < r->end && *r->p == ',') {
                r->p++;
                if (r->p < r->end && *r->p != '}') quant = parse_int(r, &q2);
            }
            quant = quant && r->p < r->end && *r->p == '}';
            r->p = save;
            if (quant) {
                rx_fail(r, "bad pattern: nothing to repeat");
                break;
            }
        }
        int lo = r->nn;
        frag a = parse_atom(r, depth);
        int hi = r->nn;
        if (r->failed) break;
        if (r->p < r->end && (*r->p == '*' || *r->p == '+' || *r->p == '?' || *r->p == '{')) {
            uint32_t mn = 0, mx = UINT32_MAX;
            const char *save = r->p;
            char q = *r->p++;
            if (q == '+') mn = 1;
            else if (q == '?') mx = 1;
            else if (q == '{') {
                if (!parse_int(r, &mn)) {
                    /* a literal '{' (ECMA annex B) */
                    r->p = save;
                    f = concat(r, f, a);
                    cset c = {.n = 0};
                    cs_add(&c, '{', '{');
                    r->p++;
                    f = concat(r, f, set_frag(r, &c));
                    continue;
                }
                mx = mn;
                if (r->p < r->end && *r->p == ',') {
                    r->p++;
                    mx = UINT32_MAX;
                    if (r->p < r->end && *r->p != '}') parse_int(r, &mx);
                }
                if (r->p >= r->end || *r->p != '}' || mx < mn) {
                    rx_fail(r, "bad {n,m} repetition in pattern");
                    break;
                }
                r->p++;
            }
            if (r->p < r->end && *r->p == '?') r->p++; /* lazy: same language */
            if (mn > 1000 || (mx != UINT32_MAX && mx > 1000)) {
                rx_fail(r, "pattern repetition count too large");
                break;
            }
            /* every copy is cloned before any is linked: a clone copies the exits of its source */
            uint32_t k = mx == UINT32_MAX ? (mn ? mn + 1 : 1) : mx;
            frag cp[2001];
            cp[0] = a;
            for (uint32_t i = 1; i < k && !r->failed; i++) cp[i] = clone_frag(r, lo, hi, a);
            if (r->failed) break;
            frag rep = empty_frag(r);
            for (uint32_t i = 0; i < mn; i++) rep = concat(r, rep, cp[i]);
            if (mx == UINT32_MAX) {
                rep = concat(r, rep, star(r, cp[mn ? mn : 0]));
            } else if (mx > mn) {
                /* optional copies nested, (x(x(x)?)?)?, not x?x?x?: a DFA state then holds the next
                 * copy only, instead of every copy left (quadratic for x{1,255}) */
                frag tail = empty_frag(r);
                for (uint32_t i = mx; i-- > mn && !r->failed;) {
                    frag body = concat(r, cp[i], tail);
                    frag q2 = {nnew(r, N_EPS, 0, 0), 0};
                    q2.e = nnew(r, N_EPS, 0, 0);
                    eps(r, q2.s, body.s);
                    eps(r, q2.s, q2.e);
                    eps(r, body.e, q2.e);
                    tail = q2;
                }
                rep = concat(r, rep, tail);
            }
            a = rep;
        }
        f = concat(r, f, a);
    }
    return f;
}

static frag parse_alt(rx *r, int depth) {
    if (depth > 64) {
        rx_fail(r, "pattern nested too deeply");
        return empty_frag(r);
    }
    frag f = parse_concat(r, depth);
    while (!r->failed && r->p < r->end && *r->p == '|') {
        r->p++;
        frag b = parse_concat(r, depth);
        frag u = {nnew(r, N_EPS, 0, 0), nnew(r, N_EPS, 0, 0)};
        eps(r, u.s, f.s);
        eps(r, u.s, b.s);
        eps(r, f.e, u.e);
        eps(r, b.e, u.e);
        f = u;
    }
    return f;
}

static frag any_star(rx *r) {
    cset c = {.n = 0};
    cs_add(&c, 0, 0x10FFFF);
    return star(r, set_frag(r, &c));
}

/* Top level: alternatives each with optional ^ and $. */
static frag parse_top(rx *r) {
    frag all = {-1, -1};
    for (;;) {
        int anc_s = 0, anc_e = 0;
        if (r->p < r->end && *r->p == '^') {
            anc_s = 1;
            r->p++;
        }
        /* find this alternative's end at depth 0 to see a trailing $ */
        const char *q = r->p;
        int d = 0, cls = 0;
        while (q < r->end) {
            if (*q == '\\') { q += 2; continue; }
            if (cls) { if (*q == ']') cls = 0; q++; continue; }
            if (*q == '[') cls = 1;
            else if (*q == '(') d++;
            else if (*q == ')') d--;
            else if (*q == '|' && d == 0) break;
            q++;
        }
        if (q > r->end) q = r->end;
        const char *save_end = r->end;
        if (q > r->p && q[-1] == '$' && !(q - 1 > r->p && q[-2] == '\\')) {
            anc_e = 1;
            r->end = q - 1;
        } else {
            r->end = q;
        }
        frag f = parse_concat(r, 0);
        if (!r->failed && r->p != r->end) rx_fail(r, "unbalanced parenthesis in pattern");
        r->end = save_end;
        if (anc_e) r->p++;
        if (r->failed) return f;
        if (!anc_s) f = concat(r, any_star(r), f);
        if (!anc_e) f = concat(r, f, any_star(r));
        if (all.s < 0) {
            all = f;
        } else {
            frag u = {nnew(r, N_EPS, 0, 0), nnew(r, N_EPS, 0, 0)};
            eps(r, u.s, all.s);
            eps(r, u.s, f.s);
            eps(r, all.e, u.e);
            eps(r, f.e, u.e);
            all = u;
        }
        if (r->p < r->end && *r->p == '|') {
            r->p++;
            continue;
        }
        break;
    }
    return all;
}

/* ---- determinization ---- */
typedef struct sset {
    int32_t *v;
    int n;
} sset;

/* Keeps only the states that matter for identity: byte transitions and the final state (the
 * epsilon nodes in between are implied), so DFA sets stay small and equal sets compare equal. */
static void keep_important(const rx *r, int final, sset *s) {
    int k = 0;
    for (int i = 0; i < s->n; i++)
        if (r->n[s->v[i]].type == N_RANGE || s->v[i] == final) s->v[k++] = s->v[i];
    s->n = k;
}

static void closure(const rx *r, int32_t *stack, uint8_t *mark, sset *s) {
    int sp = 0;
    for (int i = 0; i < s->n; i++) stack[sp++] = s->v[i];
    while (sp) {
        int x = stack[--sp];
        const nnode *n = &r->n[x];
        if (n->type != N_EPS) continue;
        for (int k = 0; k < 2; k++) {
            int o = k ? n->o2 : n->o1;
            if (o >= 0 && !mark[o]) {
                mark[o] = 1;
                s->v[s->n++] = o;
                stack[sp++] = o;
            }
        }
    }
    for (int i = 0; i < s->n; i++) mark[s->v[i]] = 0;
}

static int i32cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t hash_set(const int32_t *v, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint32_t)v[i]) * 1099511628211ull;
    return h;
}

int gram_regex_compile(const char *pattern, size_t len, gram_dfa *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    rx r = {.p = pattern, .end = pattern + len, .err = err, .err_size = err_size};
    frag f = parse_top(&r);
    if (!r.failed && r.p != r.end) rx_fail(&r, "unbalanced parenthesis in pattern");
    if (r.failed) {
        free(r.n);
        return 1;
    }
    int final = f.e;
    /* byte classes */
    uint8_t cut[257] = {0};
    for (int i = 0; i < r.nn; i++)
        if (r.n[i].type == N_RANGE) {
            cut[r.n[i].lo] = 1;
            cut[r.n[i].hi + 1] = 1;
        }
    int nc = 0;
    for (int b = 0; b < 256; b++) {
        if (b > 0 && cut[b]) nc++;
        out->cls[b] = (uint8_t)nc;
    }
    nc++;
    out->n_class = nc;
    uint8_t rep[256];
    for (int b = 255; b >= 0; b--) rep[out->cls[b]] = (uint8_t)b;

    int32_t *stack = malloc((size_t)r.nn * sizeof *stack);
    uint8_t *mark = calloc((size_t)r.nn, 1);
    sset *states = NULL;
    int ns = 0, cap = 0;
    int hcap = 8192;
    int32_t *htab = malloc((size_t)hcap * sizeof *htab);
    int32_t *tmp = malloc((size_t)r.nn * sizeof *tmp);
    size_t tcap = 0;
    int rc = 0;
    if (!stack || !mark || !htab || !tmp) {
        rc = 1;
        snprintf(err, err_size, "out of memory");
        goto done;
    }
    for (int i = 0; i < hcap; i++) htab[i] = -1;
#define ADD_STATE(SET)                                                                                  \
    do {                                                                                                \
        qsort((SET).v, (size_t)(SET).n, sizeof(int32_t), i32cmp);                                       \
        uint64_t h = hash_set((SET).v, (SET).n);                                                        \
        int slot = (int)(h & (uint64_t)(hcap - 1));                                                     \
        found = -1;                                                                                     \
        while (htab[slot] >= 0) {                                                                       \
            sset *o = &states[htab[slot]];                                                              \
            if (o->n == (SET).n && !memcmp(o->v, (SET).v, (size_t)o->n * 4)) { found = htab[slot]; break; } \
            slot = (slot + 1) & (hcap - 1);                                                             \
        }                                                                                               \
        if (found < 0) {                                                                                \
            if (ns >= DFA_MAX) { rc = 1; snprintf(err, err_size, "pattern too complex (over %d DFA states)", DFA_MAX); goto done; } \
            if (ns == cap) {                                                                            \
                cap = cap ? cap * 2 : 64;                                                               \
                sset *ns2 = realloc(states, (size_t)cap * sizeof *ns2);                                 \
                if (!ns2) { rc = 1; snprintf(err, err_size, "out of memory"); goto done; }             \
                states = ns2;                                                                           \
            }                                                                                           \
            states[ns].n = (SET).n;                                                                     \
            states[ns].v = malloc((size_t)((SET).n ? (SET).n : 1) * 4);                                 \
            if (!states[ns].v) { rc = 1; snprintf(err, err_size, "out of memory"); goto done; }        \
            memcpy(states[ns].v, (SET).v, (size_t)(SET).n * 4);                                         \
            htab[slot] = ns;                                                                            \
            found = ns++;                                                                               \
        }                                                                                               \
    } while (0)
    int found;
    sset s0 = {tmp, 1};
    tmp[0] = f.s;
    mark[f.s] = 1;
    closure(&r, stack, mark, &s0);
    mark[f.s] = 0;
    keep_important(&r, final, &s0);
    ADD_STATE(s0);
    for (int cur = 0; cur < ns; cur++) {
        if ((size_t)ns * (size_t)nc > tcap) {
            size_t nt = tcap ? tcap * 2 : (size_t)64 * (size_t)nc;
            while (nt < (size_t)ns * (size_t)nc) nt *= 2;
            int32_t *nx = realloc(out->next, nt * sizeof *nx);
            if (!nx) { rc = 1; snprintf(err, err_size, "out of memory"); goto done; }
            out->next = nx;
            tcap = nt;
        }
        for (int c = 0; c < nc; c++) {
            uint8_t b = rep[c];
            sset t = {tmp, 0};
            sset *src = &states[cur];
            for (int i = 0; i < src->n; i++) {
                const nnode *n = &r.n[src->v[i]];
                if (n->type == N_RANGE && b >= n->lo && b <= n->hi && !mark[n->o1]) {
                    mark[n->o1] = 1;
                    tmp[t.n++] = n->o1;
                }
            }
            for (int i = 0; i < t.n; i++) mark[tmp[i]] = 0;
            if (!t.n) {
                out->next[(size_t)cur * (size_t)nc + (size_t)c] = -1;
                continue;
            }
            for (int i = 0; i < t.n; i++) mark[tmp[i]] = 1;
            closure(&r, stack, mark, &t);
            keep_important(&r, final, &t);
            ADD_STATE(t);
            /* states may have moved; out->next may need growth, done at the loop head */
            if ((size_t)ns * (size_t)nc > tcap) {
                size_t nt = tcap * 2;
                while (nt < (size_t)ns * (size_t)nc) nt *= 2;
                int32_t *nx = realloc(out->next, nt * sizeof *nx);
                if (!nx) { rc = 1; snprintf(err, err_size, "out of memory"); goto done; }
                out->next = nx;
                tcap = nt;
            }
            out->next[(size_t)cur * (size_t)nc + (size_t)c] = found;
        }
    }
    out->n_states = ns;
    out->accept = calloc((size_t)ns, 1);
    if (!out->accept) { rc = 1; snprintf(err, err_size, "out of memory"); goto done; }
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < states[i].n; k++)
            if (states[i].v[k] == final) out->accept[i] = 1;
    /* states that cannot reach an accepting one become dead (-1) so masks prune early */
    {
        uint8_t *live = calloc((size_t)ns, 1);
        if (!live) { rc = 1; snprintf(err, err_size, "out of memory"); goto done; }
        for (int i = 0; i < ns; i++) live[i] = out->accept[i];
        for (int changed = 1; changed;) {
            changed = 0;
            for (int i = 0; i < ns; i++) {
                if (live[i]) continue;
                for (int c = 0; c < nc; c++) {
                    int32_t t = out->next[(size_t)i * (size_t)nc + (size_t)c];
                    if (t >= 0 && live[t]) { live[i] = 1; changed = 1; break; }
                }
            }
        }
        for (size_t i = 0; i < (size_t)ns * (size_t)nc; i++)
            if (out->next[i] >= 0 && !live[out->next[i]]) out->next[i] = -1;
        if (!live[0]) {
            rc = 1;
            snprintf(err, err_size, "pattern matches no string");
        }
        free(live);
    }
done:
#undef ADD_STATE
    for (int i = 0; i < ns; i++) free(states[i].v);
    free(states);
    free(htab);
    free(tmp);
    free(stack);
    free(mark);
    free(r.n);
    if (rc) gram_dfa_free(out);
    return rc;
}

void gram_dfa_free(gram_dfa *d) {
    free(d->next);
    free(d->accept);
    d->next = NULL;
    d->accept = NULL;
}
