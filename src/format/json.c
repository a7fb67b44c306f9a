/* json.c: the JSON reader and writer helpers declared in json.h. The tree lives in one arena so a
 * document is freed in one call and large files (tokenizer.json, 27 MB) parse without per-node malloc. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "format/json.h"

#define JSON_MAX_DEPTH 256
#define ARENA_CHUNK ((size_t)1 << 20)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

struct json_doc {
    arena_block *blocks;
    json_value root;
};

typedef struct parser {
    const char *p, *end, *start;
    json_doc *doc;
    char *err;
    size_t err_size;
    int failed;
    /* Scratch stacks reused while collecting array items / object members. */
    json_value *vstack;
    size_t vlen, vcap;
    json_member *mstack;
    size_t mlen, mcap;
    char *sbuf;
    size_t scap;
} parser;

static void *arena_alloc(json_doc *doc, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_block *b = doc->blocks;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = doc->blocks;
        b->used = 0;
        b->cap = cap;
        doc->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static int fail(parser *ps, const char *msg) {
    if (!ps->failed) {
        ps->failed = 1;
        gptoss_fail(GPTOSS_ERR_FORMAT, ps->err, ps->err_size, "invalid JSON at byte %zu: %s",
                    (size_t)(ps->p - ps->start), msg);
    }
    return 0;
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

/* Length of the UTF-8 sequence at s (valid, shortest form, no surrogates), or 0. */
static size_t utf8_seq_len(const unsigned char *s, const unsigned char *end) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)(end - s) < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0;
    return n;
}

int json_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = utf8_seq_len(p, end);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

static int sbuf_reserve(parser *ps, size_t need) {
    if (need <= ps->scap) return 1;
    size_t cap = ps->scap ? ps->scap : 256;
    while (cap < need) cap *= 2;
    char *b = realloc(ps->sbuf, cap);
    if (!b) return fail(ps, "out of memory");
    ps->sbuf = b;
    ps->scap = cap;
    return 1;
}

static int hex4(parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) return fail(ps, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return fail(ps, "bad hex digit in \\u escape");
    }
    ps->p += 4;
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); return 4;
}

/* Parses a string literal (ps->p at the opening quote) into the arena. */
static int parse_string(parser *ps, const char **out, size_t *out_len) {
    ps->p++; /* opening quote */
    size_t n = 0;
    for (;;) {
        if (ps->p >= ps->end) return fail(ps, "unterminated string");
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') { ps->p++; break; }
        if (c < 0x20) return fail(ps, "control character in string");
        if (!sbuf_reserve(ps, n + 8)) return 0;
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end) return fail(ps, "unterminated escape");
            char e = *ps->p++;
            switch (e) {
            case '"': ps->sbuf[n++] = '"'; break;
            case '\\': ps->sbuf[n++] = '\\'; break;
            case '/': ps->sbuf[n++] = '/'; break;
            case 'b': ps->sbuf[n++] = '\b'; break;
            case 'f': ps->sbuf[n++] = '\f'; break;
            case 'n': ps->sbuf[n++] = '\n'; break;
            case 'r': ps->sbuf[n++] = '\r'; break;
            case 't': ps->sbuf[n++] = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (!hex4(ps, &cp)) return 0;
                if (cp >= 0xdc00 && cp <= 0xdfff) return fail(ps, "lone low surrogate");
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                        return fail(ps, "lone high surrogate");
                    ps->p += 2;
                    if (!hex4(ps, &lo)) return 0;
                    if (lo < 0xdc00 || lo > 0xdfff) return fail(ps, "bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                n += put_utf8(ps->sbuf + n, cp);
                break;
            }
            default: ps->p--; return fail(ps, "bad escape");
            }
        } else if (c < 0x80) {
            ps->sbuf[n++] = (char)c;
            ps->p++;
        } else {
            size_t k = utf8_seq_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
            if (!k) return fail(ps, "invalid UTF-8 in string");
            memcpy(ps->sbuf + n, ps->p, k);
            n += k;
            ps->p += k;
        }
    }
    char *s = arena_alloc(ps->doc, n + 1);
    if (!s) return fail(ps, "out of memory");
    if (n) memcpy(s, ps->sbuf, n);
    s[n] = 0;
    *out = s;
    *out_len = n;
    return 1;
}

static int parse_number(parser *ps, json_value *v) {
    const char *s = ps->p;
    const char *p = s;
    int plain = 1;
    if (p < ps->end && *p == '-') { p++; plain = 0; }
    if (p >= ps->end) return fail(ps, "truncated number");
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < ps->end && *p >= '0' && *p <= '9') p++;
    else return fail(ps, "bad number");
    if (p < ps->end && *p == '.') {
        plain = 0;
        p++;
        if (p >= ps->end || *p < '0' || *p > '9') { ps->p = p; return fail(ps, "bad fraction"); }
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        plain = 0;
        p++;
        if (p < ps->end && (*p == '+' || *p == '-')) p++;
        if (p >= ps->end || *p < '0' || *p > '9') { ps->p = p; return fail(ps, "bad exponent"); }
        while (p < ps->end && *p >= '0' && *p <= '9') p++;
    }
    size_t n = (size_t)(p - s);
    char tmp[64];
    v->type = JSON_NUMBER;
    if (plain) {
        uint64_t u = 0;
        int ok = 1;
        for (const char *q = s; q < p; q++) {
            uint64_t d = (uint64_t)(*q - '0');
            if (u > (UINT64_MAX - d) / 10) { ok = 0; break; }
            u = u * 10 + d;
        }
        if (ok) { v->is_uint = 1; v->uint = u; v->number = (double)u; ps->p = p; return 1; }
    }
    if (n < sizeof tmp) {
        memcpy(tmp, s, n);
        tmp[n] = 0;
        v->number = strtod(tmp, NULL);
    } else {
        char *big = malloc(n + 1);
        if (!big) return fail(ps, "out of memory");
        memcpy(big, s, n);
        big[n] = 0;
        v->number = strtod(big, NULL);
        free(big);
    }
    ps->p = p;
    return 1;
}

static int match_lit(parser *ps, const char *lit, size_t n) {
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0) return fail(ps, "unexpected token");
    ps->p += n;
    return 1;
}

static int parse_value(parser *ps, json_value *v, int depth);

static int push_value(parser *ps, const json_value *v) {
    if (ps->vlen == ps->vcap) {
        size_t cap = ps->vcap ? ps->vcap * 2 : 64;
        json_value *s = realloc(ps->vstack, cap * sizeof *s);
        if (!s) return fail(ps, "out of memory");
        ps->vstack = s;
        ps->vcap = cap;
    }
    ps->vstack[ps->vlen++] = *v;
    return 1;
}

static int push_member(parser *ps, const json_member *m) {
    if (ps->mlen == ps->mcap) {
        size_t cap = ps->mcap ? ps->mcap * 2 : 64;
        json_member *s = realloc(ps->mstack, cap * sizeof *s);
        if (!s) return fail(ps, "out of memory");
        ps->mstack = s;
        ps->mcap = cap;
    }
    ps->mstack[ps->mlen++] = *m;
    return 1;
}

static int parse_array(parser *ps, json_value *v, int depth) {
    ps->p++;
    size_t base = ps->vlen;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            json_value item;
            memset(&item, 0, sizeof item);
            skip_ws(ps);
            if (!parse_value(ps, &item, depth + 1) || !push_value(ps, &item)) return 0;
            skip_ws(ps);
            if (ps->p >= ps->end) return fail(ps, "unterminated array");
            if (*ps->p == ',') { ps->p++; continue; }
            if (*ps->p == ']') { ps->p++; break; }
            return fail(ps, "expected ',' or ']'");
        }
    }
    size_t n = ps->vlen - base;
    v->type = JSON_ARRAY;
    v->n = n;
    if (n) {
        v->items = arena_alloc(ps->doc, n * sizeof *v->items);
        if (!v->items) return fail(ps, "out of memory");
        memcpy(v->items, ps->vstack + base, n * sizeof *v->items);
    }
    ps->vlen = base;
    return 1;
}

static int parse_object(parser *ps, json_value *v, int depth) {
    ps->p++;
    size_t base = ps->mlen;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            json_member m;
            memset(&m, 0, sizeof m);
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a string key");
            if (!parse_string(ps, &m.key, &m.key_len)) return 0;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') return fail(ps, "expected ':'");
            ps->p++;
            skip_ws(ps);
            if (!parse_value(ps, &m.value, depth + 1) || !push_member(ps, &m)) return 0;
            skip_ws(ps);
            if (ps->p >= ps->end) return fail(ps, "unterminated object");
            if (*ps->p == ',') { ps->p++; continue; }
            if (*ps->p == '}') { ps->p++; break; }
            return fail(ps, "expected ',' or '}'");
        }
    }
    size_t n = ps->mlen - base;
    v->type = JSON_OBJECT;
    v->n = n;
    if (n) {
        v->members = arena_alloc(ps->doc, n * sizeof *v->members);
        if (!v->members) return fail(ps, "out of memory");
        memcpy(v->members, ps->mstack + base, n * sizeof *v->members);
    }
    ps->mlen = base;
    return 1;
}

static int parse_value(parser *ps, json_value *v, int depth) {
    if (depth > JSON_MAX_DEPTH) return fail(ps, "nesting too deep");
    if (ps->p >= ps->end) return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{': return parse_object(ps, v, depth);
    case '[': return parse_array(ps, v, depth);
    case '"': v->type = JSON_STRING; return parse_string(ps, &v->str, &v->len);
    case 't': v->type = JSON_TRUE; return match_lit(ps, "true", 4);
    case 'f': v->type = JSON_FALSE; return match_lit(ps, "false", 5);
    case 'n': v->type = JSON_NULL; return match_lit(ps, "null", 4);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return parse_number(ps, v);
        return fail(ps, "unexpected character");
    }
}

json_doc *json_parse(const char *text, size_t len, char *err, size_t err_size) {
    json_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        return NULL;
    }
    if (!text) { /* an empty document, not pointer arithmetic on NULL */
        text = "";
        len = 0;
    }
    parser ps = {.p = text, .end = text + len, .start = text, .doc = doc, .err = err, .err_size = err_size};
    /* A UTF-8 byte order mark is tolerated, as many Windows-written config files carry one. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) ps.p += 3;
    skip_ws(&ps);
    int ok = parse_value(&ps, &doc->root, 0);
    if (ok) {
        skip_ws(&ps);
        if (ps.p != ps.end) ok = fail(&ps, "trailing characters after the value");
    }
    free(ps.vstack);
    free(ps.mstack);
    free(ps.sbuf);
    if (!ok) {
        json_free(doc);
        return NULL;
    }
    return doc;
}

void json_free(json_doc *doc) {
    if (!doc) return;
    arena_block *b = doc->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(doc);
}

const json_value *json_root(const json_doc *doc) { return doc ? &doc->root : NULL; }

const json_value *json_get(const json_value *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->members[i].key_len == kl && memcmp(obj->members[i].key, key, kl) == 0)
            return &obj->members[i].value;
    return NULL;
}

int json_get_uint(const json_value *obj, const char *key, uint64_t *out) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_NUMBER) return 0;
    if (v->is_uint) { *out = v->uint; return 1; }
    /* Accept integral floats such as 150000.0 */
    if (v->number >= 0 && v->number <= 9007199254740992.0 && floor(v->number) == v->number) {
        *out = (uint64_t)v->number;
        return 1;
    }
    return 0;
}

int json_get_number(const json_value *obj, const char *key, double *out) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type != JSON_NUMBER) return 0;
    *out = v->number;
    return 1;
}

const char *json_get_string(const json_value *obj, const char *key) {
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_STRING ? v->str : NULL;
}

int json_is_true(const json_value *v) { return v && v->type == JSON_TRUE; }

void json_write_string(gptoss_buf *b, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    gptoss_buf_append(b, "\"", 1);
    while (p < end) {
        unsigned c = *p;
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p, end);
            if (!n) {
                gptoss_buf_append(b, "\xef\xbf\xbd", 3);
                p++;
            } else {
                gptoss_buf_append(b, p, n);
                p += n;
            }
            continue;
        }
        switch (c) {
        case '"': gptoss_buf_append(b, "\\\"", 2); break;
        case '\\': gptoss_buf_append(b, "\\\\", 2); break;
        case '\n': gptoss_buf_append(b, "\\n", 2); break;
        case '\r': gptoss_buf_append(b, "\\r", 2); break;
        case '\t': gptoss_buf_append(b, "\\t", 2); break;
        case '\b': gptoss_buf_append(b, "\\b", 2); break;
        case '\f': gptoss_buf_append(b, "\\f", 2); break;
        default:
            if (c < 0x20) gptoss_buf_printf(b, "\\u%04x", c);
            else gptoss_buf_append(b, p, 1);
        }
        p++;
    }
    gptoss_buf_append(b, "\"", 1);
}

/* Compact JSON as serde_json's Display writes it (harmony renders tool schemas this way). */

static void write_number(gptoss_buf *b, const json_value *v) {
    if (v->is_uint) {
        gptoss_buf_printf(b, "%llu", (unsigned long long)v->uint);
        return;
    }
    double x = v->number;
    if (!isfinite(x)) { /* only from an out-of-range literal: keep it readable back as the same */
        gptoss_buf_puts(b, x < 0 ? "-1e999" : "1e999");
        return;
    }
    if (x == floor(x) && fabs(x) < 9.2e18) {
        gptoss_buf_printf(b, "%lld", (long long)x);
        return;
    }
    /* Shortest text that reads back as the same double, as serde_json (ryu) prints it. */
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, x);
        if (strtod(tmp, NULL) == x) break;
    }
    char *e = strchr(tmp, 'e');
    if (!e) {
        gptoss_buf_puts(b, tmp);
        return;
    }
    /* "1e+21" -> "1e21", "1e-07" -> "1e-7" */
    gptoss_buf_append(b, tmp, (size_t)(e - tmp) + 1);
    const char *p = e + 1;
    if (*p == '+') p++;
    else if (*p == '-') gptoss_buf_append(b, p++, 1);
    while (*p == '0' && p[1]) p++;
    gptoss_buf_puts(b, p);
}

void json_write_value(gptoss_buf *b, const json_value *v) {
    if (!v) {
        gptoss_buf_puts(b, "null");
        return;
    }
    switch (v->type) {
    case JSON_NULL: gptoss_buf_puts(b, "null"); break;
    case JSON_FALSE: gptoss_buf_puts(b, "false"); break;
    case JSON_TRUE: gptoss_buf_puts(b, "true"); break;
    case JSON_NUMBER: write_number(b, v); break;
    case JSON_STRING: json_write_string(b, v->str, v->len); break;
    case JSON_ARRAY:
        gptoss_buf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) gptoss_buf_puts(b, ",");
            json_write_value(b, &v->items[i]);
        }
        gptoss_buf_puts(b, "]");
        break;
    case JSON_OBJECT:
        gptoss_buf_puts(b, "{");
        for (size_t i = 0; i < v->n; i++) {
            if (i) gptoss_buf_puts(b, ",");
            json_write_string(b, v->members[i].key, v->members[i].key_len);
            gptoss_buf_puts(b, ":");
            json_write_value(b, &v->members[i].value);
        }
        gptoss_buf_puts(b, "}");
        break;
    }
}
