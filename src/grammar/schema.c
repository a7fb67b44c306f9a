/* schema.c: JSON Schema text -> compiled grammar nodes. $ref targets are compiled once (memoized by
 * their JSON value, so recursion becomes a cycle of node ids); allOf is merged into one schema,
 * anyOf/oneOf become alternatives, enum/const become a literal trie. A keyword that changes which
 * instances are valid and is not supported is an error naming it and its JSON pointer: never
 * ignored, since ignoring one could accept an invalid instance. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "grammar/grammar_internal.h"

#define MAX_SCHEMA_DEPTH 64
#define MAX_NODES 200000
#define MAX_TNODES 2000000

typedef struct memo {
    const json_value *v;
    int32_t node;
} memo;

typedef struct cctx {
    gptoss_grammar *g;
    const json_value *root;
    char *err;
    size_t err_size;
    int failed;
    gptoss_status status;
    memo *memo;
    size_t n_memo, cap_memo;
    void **allocs; /* synthetic schema values made by merging */
    size_t n_allocs, cap_allocs;
    int depth;
    int format_assert; /* 0 for 2019-09/2020-12 schemas, where format is an annotation */
} cctx;

static int cfail(cctx *c, gptoss_status st, const char *fmt, ...) GPTOSS_PRINTF(3, 4);
static int cfail(cctx *c, gptoss_status st, const char *fmt, ...) {
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->err_size, fmt, ap);
        va_end(ap);
        c->failed = 1;
        c->status = st;
    }
    return -1;
}

static void *calloc_track(cctx *c, size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) return NULL;
    if (c->n_allocs == c->cap_allocs) {
        size_t cap = c->cap_allocs ? c->cap_allocs * 2 : 64;
        void **a = realloc(c->allocs, cap * sizeof *a);
        if (!a) {
            free(p);
            return NULL;
        }
        c->allocs = a;
        c->cap_allocs = cap;
    }
    c->allocs[c->n_allocs++] = p;
    return p;
}

/* JSON pointer of a child: parent + "/" + escaped token. */
static void ptr_join(char *out, size_t size, const char *parent, const char *tok, size_t tok_len) {
    size_t n = (size_t)snprintf(out, size, "%s/", parent);
    for (size_t i = 0; i < tok_len && n + 3 < size; i++) {
        if (tok[i] == '~') { out[n++] = '~'; out[n++] = '0'; }
        else if (tok[i] == '/') { out[n++] = '~'; out[n++] = '1'; }
        else out[n++] = tok[i];
    }
    if (n < size) out[n] = 0;
}

static int32_t new_node(cctx *c) {
    gptoss_grammar *g = c->g;
    if (g->n_nodes >= MAX_NODES) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "schema too large (over %d nodes)", MAX_NODES);
    if (g->n_nodes == g->cap_nodes) {
        uint32_t cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        gram_node *n = realloc(g->nodes, cap * sizeof *n);
        if (!n) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        g->nodes = n;
        g->cap_nodes = cap;
    }
    gram_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = GN_VALUE;
    n->types = GT_ALL;
    n->max_len = UINT32_MAX;
    n->max_items = UINT32_MAX;
    n->max_props = UINT32_MAX;
    n->dfa = -1;
    n->lit = -1;
    n->key_trie = -1;
    n->contains_item = -1;
    n->items = g->any >= 0 ? g->any : (int32_t)g->n_nodes;
    n->additional = n->items;
    return (int32_t)g->n_nodes++;
}

static int32_t new_tnode(cctx *c, uint8_t byte) {
    gptoss_grammar *g = c->g;
    if (g->n_tnodes >= MAX_TNODES) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "schema literals too large");
    if (g->n_tnodes == g->cap_tnodes) {
        uint32_t cap = g->cap_tnodes ? g->cap_tnodes * 2 : 256;
        gram_tnode *n = realloc(g->tnodes, cap * sizeof *n);
        if (!n) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        g->tnodes = n;
        g->cap_tnodes = cap;
    }
    g->tnodes[g->n_tnodes] = (gram_tnode){-1, -1, -1, 0, byte, 0, INT32_MAX, -1};
    return (int32_t)g->n_tnodes++;
}

/* Inserts s into the trie at root; returns the end node. in_string flags follow JSON string state
 * when json is set; json 1 also marks integer digits (a zero fraction may follow them, 1.0 == 1),
 * json 2 does not (drafts 3 and 4, where 1.0 is no integer). */
static int32_t trie_insert(cctx *c, int32_t root, const char *s, size_t len, int json, int32_t prop) {
    int32_t cur = root;
    int in_str = 0, esc = 0, in_num = 0, frac = 0;
    if (prop >= 0) {
        gram_tnode *t = &c->g->tnodes[cur];
        if (prop < t->min_prop) t->min_prop = prop;
        if (prop > t->max_prop) t->max_prop = prop;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)s[i];
        if (json) {
            if (in_str) {
                if (esc) esc = 0;
                else if (b == '\\') esc = 1;
                else if (b == '"') in_str = 0;
            } else if (b == '"') {
                in_str = 1;
            }
            if (in_str || b == '"') in_num = 0;
            else if ((b >= '0' && b <= '9') || b == '-') {
                if (!in_num) frac = 0;
                in_num = 1;
            } else if (in_num && (b == '.' || b == 'e' || b == 'E' || b == '+')) {
                frac = 1;
            } else {
                in_num = 0;
            }
        }
        int32_t ch = c->g->tnodes[cur].first_child;
        while (ch >= 0 && c->g->tnodes[ch].byte != b) ch = c->g->tnodes[ch].next_sibling;
        if (ch < 0) {
            ch = new_tnode(c, b);
            if (ch < 0) return -1;
            c->g->tnodes[ch].in_string = (uint8_t)in_str;
            c->g->tnodes[ch].int_digit = (uint8_t)(json == 1 && in_num && !frac && b >= '0' && b <= '9');
            c->g->tnodes[ch].next_sibling = c->g->tnodes[cur].first_child;
            c->g->tnodes[cur].first_child = ch;
        }
        cur = ch;
        if (prop >= 0) {
            gram_tnode *t = &c->g->tnodes[cur];
            if (prop < t->min_prop) t->min_prop = prop;
            if (prop > t->max_prop) t->max_prop = prop;
        }
    }
    return cur;
}

static const json_value *get(const json_value *o, const char *k) { return json_get(o, k); }

/* ---- $ref ---- */
const json_value *gram_json_pointer(const json_value *root, const char *ref, size_t len, int *why) {
    *why = 0;
    if (len == 0 || ref[0] != '#') {
        *why = 1;
        return NULL;
    }
    const json_value *v = root;
    size_t i = 1;
    while (i < len) {
        if (ref[i] != '/') {
            *why = 2;
            return NULL;
        }
        i++;
        char tok[512];
        size_t n = 0;
        while (i < len && ref[i] != '/' && n + 1 < sizeof tok) {
            char ch = ref[i++];
            if (ch == '~' && i < len) ch = ref[i++] == '0' ? '~' : '/';
            else if (ch == '%' && i + 1 < len) {
                int hv = 0;
                for (int k = 0; k < 2; k++) {
                    char h = ref[i + (size_t)k];
                    hv = hv * 16 + (h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
                }
                ch = (char)hv;
                i += 2;
            }
            tok[n++] = ch;
        }
        tok[n] = 0;
        if (v->type == JSON_OBJECT) {
            const json_value *nv = NULL;
            for (size_t k = 0; k < v->n; k++)
                if (v->members[k].key_len == n && !memcmp(v->members[k].key, tok, n)) { nv = &v->members[k].value; break; }
            v = nv;
        } else if (v->type == JSON_ARRAY) {
            char *e;
            unsigned long idx = strtoul(tok, &e, 10);
            v = (*e || idx >= v->n) ? NULL : &v->items[idx];
        } else {
            v = NULL;
        }
        if (!v) {
            *why = 3;
            return NULL;
        }
    }
    return v;
}

static const json_value *resolve_ref(cctx *c, const char *ref, size_t len, const char *ptr) {
    int why;
    const json_value *v = gram_json_pointer(c->root, ref, len, &why);
    int l = (int)(len > 200 ? 200 : len);
    if (why == 1) cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '$ref' (non-local \"%.*s\") at %s", l, ref, ptr);
    else if (why == 2) cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '$ref' (anchor \"%.*s\") at %s", l, ref, ptr);
    else if (why == 3) cfail(c, GPTOSS_ERR_UNSUPPORTED, "unresolvable '$ref' \"%.*s\" at %s", l, ref, ptr);
    return v;
}

/* ---- keyword classes ---- */
static const char *const ANNOTATIONS[] = {
    "title", "description", "default", "examples", "example", "$comment", "$schema", "$id", "id",
    "$anchor", "$dynamicAnchor", "readOnly", "writeOnly", "deprecated", "$defs", "definitions",
    "contentMediaType", "contentEncoding", "$vocabulary", "discriminator", "xml", "externalDocs",
    "readonly", NULL};
static const char *const UNSUPPORTED[] = {
    "if", "then", "else", "dependencies", "dependentRequired", "dependentSchemas",
    "propertyNames", "unevaluatedProperties", "unevaluatedItems", "maxContains", "$dynamicRef", "$recursiveRef", "$recursiveAnchor", "contentSchema", NULL};

static int in_list(const char *const *l, const char *k, size_t n) {
    for (; *l; l++)
        if (strlen(*l) == n && !memcmp(*l, k, n)) return 1;
    return 0;
}

static int keq(const json_member *m, const char *k) { return strlen(k) == m->key_len && !memcmp(m->key, k, m->key_len); }

/* ---- allOf: merge several schema objects into one synthetic object ---- */
static int json_equal(const json_value *a, const json_value *b) {
    gptoss_buf x = {0}, y = {0};
    json_write_value(&x, a);
    json_write_value(&y, b);
    int eq = x.len == y.len && (x.len == 0 || !memcmp(x.data, y.data, x.len));
    gptoss_buf_free(&x);
    gptoss_buf_free(&y);
    return eq;
}

static unsigned type_bits(const json_value *t) {
    unsigned m = 0;
    size_t n = t->type == JSON_ARRAY ? t->n : 1;
    for (size_t i = 0; i < n; i++) {
        const json_value *s = t->type == JSON_ARRAY ? &t->items[i] : t;
        if (s->type != JSON_STRING) return 0;
        if (!strcmp(s->str, "null")) m |= GT_NULL;
        else if (!strcmp(s->str, "boolean")) m |= GT_BOOL;
        else if (!strcmp(s->str, "integer")) m |= GT_INT;
        else if (!strcmp(s->str, "number")) m |= GT_INT | GT_NUM;
        else if (!strcmp(s->str, "string")) m |= GT_STR;
        else if (!strcmp(s->str, "array")) m |= GT_ARR;
        else if (!strcmp(s->str, "object")) m |= GT_OBJ;
        else return 0;
    }
    return m;
}

typedef struct mlist {
    json_member *m;
    size_t n, cap;
} mlist;

static json_member *mlist_add(cctx *c, mlist *l, const char *key, size_t key_len) {
    for (size_t i = 0; i < l->n; i++)
        if (l->m[i].key_len == key_len && !memcmp(l->m[i].key, key, key_len)) return &l->m[i];
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        json_member *m = calloc_track(c, cap, sizeof *m);
        if (!m) return NULL;
        if (l->n) memcpy(m, l->m, l->n * sizeof *m);
        l->m = m;
        l->cap = cap;
    }
    json_member *m = &l->m[l->n++];
    m->key = key;
    m->key_len = key_len;
    m->value.type = JSON_NULL;
    m->value.n = 0;
    return m;
}

/* A synthetic {"allOf": [a, b]} (or a when b is NULL). */
static json_value make_allof2(cctx *c, const json_value *a, const json_value *b) {
    json_value v = {.type = JSON_OBJECT};
    json_member *m = calloc_track(c, 1, sizeof *m);
    json_value *items = calloc_track(c, 2, sizeof *items);
    if (!m || !items) return *a;
    items[0] = *a;
    items[1] = *b;
    m->key = "allOf";
    m->key_len = 5;
    m->value = (json_value){.type = JSON_ARRAY, .items = items, .n = 2};
    v.members = m;
    v.n = 1;
    return v;
}

static int flatten_allof(cctx *c, const json_value *s, const json_value **out, size_t *n, size_t cap, const char *ptr, int depth);

static int merge_allof(cctx *c, const json_value *s, json_value *out, const char *ptr);

/* Merges the subschemas of s's allOf (and s's own keywords) into out. */
static int merge_allof(cctx *c, const json_value *s, json_value *out, const char *ptr) {
    const json_value *parts[256];
    size_t np = 0;
    if (flatten_allof(c, s, parts, &np, 256, ptr, 0)) return -1;
    mlist l = {0};
    unsigned types = GT_ALL;
    int have_type = 0;
    for (size_t i = 0; i < np; i++) {
        const json_value *p = parts[i];
        if (p->type == JSON_TRUE) continue;
        if (p->type == JSON_FALSE) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'allOf' contains false at %s", ptr);
        if (p->type != JSON_OBJECT) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "schema is not an object at %s/allOf", ptr);
        for (size_t k = 0; k < p->n; k++) {
            const json_member *m = &p->members[k];
            if (keq(m, "allOf") || keq(m, "$ref")) continue; /* flattened */
            if (in_list(ANNOTATIONS, m->key, m->key_len)) continue;
            if (keq(m, "type")) {
                unsigned t = type_bits(&m->value);
                if (!t) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'type' at %s", ptr);
                types &= t;
                have_type = 1;
                continue;
            }
            size_t before = l.n;
            json_member *d = mlist_add(c, &l, m->key, m->key_len);
            if (!d) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            if (l.n > before) {
                d->value = m->value;
                continue;
            }
            /* keyword in several parts */
            if (keq(m, "required")) {
                if (m->value.type != JSON_ARRAY || d->value.type != JSON_ARRAY) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'required' at %s", ptr);
                json_value *it = calloc_track(c, d->value.n + m->value.n, sizeof *it);
                if (!it) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                memcpy(it, d->value.items, d->value.n * sizeof *it);
                memcpy(it + d->value.n, m->value.items, m->value.n * sizeof *it);
                d->value.items = it;
                d->value.n += m->value.n;
            } else if (keq(m, "properties")) {
                if (m->value.type != JSON_OBJECT || d->value.type != JSON_OBJECT) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'properties' at %s", ptr);
                mlist pl = {0};
                for (size_t q = 0; q < d->value.n; q++) {
                    json_member *x = mlist_add(c, &pl, d->value.members[q].key, d->value.members[q].key_len);
                    if (!x) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                    x->value = d->value.members[q].value;
                }
                for (size_t q = 0; q < m->value.n; q++) {
                    size_t pbefore = pl.n;
                    json_member *x = mlist_add(c, &pl, m->value.members[q].key, m->value.members[q].key_len);
                    if (!x) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                    if (pl.n > pbefore) x->value = m->value.members[q].value;
                    else x->value = make_allof2(c, &x->value, &m->value.members[q].value);
                }
                d->value.members = pl.m;
                d->value.n = pl.n;
            } else if (keq(m, "minLength") || keq(m, "minItems") || keq(m, "minimum") || keq(m, "minProperties") || keq(m, "exclusiveMinimum")) {
                if (m->value.type != JSON_NUMBER || d->value.type != JSON_NUMBER) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '%.*s' merged in 'allOf' at %s", (int)m->key_len, m->key, ptr);
                if (m->value.number > d->value.number) d->value = m->value;
            } else if (keq(m, "maxLength") || keq(m, "maxItems") || keq(m, "maximum") || keq(m, "maxProperties") || keq(m, "exclusiveMaximum")) {
                if (m->value.type != JSON_NUMBER || d->value.type != JSON_NUMBER) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '%.*s' merged in 'allOf' at %s", (int)m->key_len, m->key, ptr);
                if (m->value.number < d->value.number) d->value = m->value;
            } else if (keq(m, "items") && m->value.type != JSON_ARRAY && d->value.type != JSON_ARRAY) {
                d->value = make_allof2(c, &d->value, &m->value);
            } else if (keq(m, "anyOf") && m->value.type == JSON_ARRAY && d->value.type == JSON_ARRAY &&
                       d->value.n * m->value.n <= 64) {
                /* (a|b) and (c|d) = ac|ad|bc|bd */
                json_value *it = calloc_track(c, d->value.n * m->value.n, sizeof *it);
                if (!it) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                size_t k2 = 0;
                for (size_t x = 0; x < d->value.n; x++)
                    for (size_t y = 0; y < m->value.n; y++) it[k2++] = make_allof2(c, &d->value.items[x], &m->value.items[y]);
                d->value.items = it;
                d->value.n = k2;
            } else if (keq(m, "not")) {
                /* not A and not B = not (A or B) */
                json_value *it = calloc_track(c, 2, sizeof *it);
                json_member *am = calloc_track(c, 1, sizeof *am);
                if (!it || !am) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                it[0] = d->value;
                it[1] = m->value;
                *am = (json_member){"anyOf", 5, {.type = JSON_ARRAY, .items = it, .n = 2}};
                d->value = (json_value){.type = JSON_OBJECT, .members = am, .n = 1};
            } else if (keq(m, "additionalProperties")) {
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'additionalProperties' in two 'allOf' parts at %s", ptr);
            } else if (!json_equal(&d->value, &m->value)) {
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '%.*s' in two 'allOf' parts at %s", (int)m->key_len, m->key, ptr);
            }
        }
    }
    /* items after a prefix: prefixItems (or tuple items) and items of different parts interact */
    for (size_t i = 0; i < np; i++) {
        if (parts[i]->type != JSON_OBJECT) continue;
        const json_value *it = get(parts[i], "items");
        int has_prefix = get(parts[i], "prefixItems") || (it && it->type == JSON_ARRAY);
        int has_items = (it && it->type != JSON_ARRAY) || get(parts[i], "additionalItems");
        for (size_t j = 0; j < np; j++) {
            if (j == i || parts[j]->type != JSON_OBJECT) continue;
            const json_value *jt = get(parts[j], "items");
            if (has_prefix && ((jt && jt->type != JSON_ARRAY) || get(parts[j], "additionalItems")))
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'items' with 'prefixItems' of another 'allOf' part at %s", ptr);
            if (has_items && (get(parts[j], "prefixItems") || (jt && jt->type == JSON_ARRAY)))
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'items' with 'prefixItems' of another 'allOf' part at %s", ptr);
        }
    }
    /* additionalProperties of one part applies to the properties the other parts declare: only the
     * simple case (every part's properties are declared by the part with additionalProperties) is
     * merged exactly; otherwise refuse rather than guess. */
    for (size_t i = 0; i < np; i++) {
        const json_value *ap = parts[i]->type == JSON_OBJECT ? get(parts[i], "additionalProperties") : NULL;
        if (!ap || ap->type == JSON_TRUE) continue;
        const json_value *own = get(parts[i], "properties");
        const json_value *pp = get(parts[i], "patternProperties");
        if (pp && pp->type == JSON_OBJECT && pp->n) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'patternProperties' with 'allOf' at %s", ptr);
        for (size_t j = 0; j < np; j++) {
            if (j == i || parts[j]->type != JSON_OBJECT) continue;
            const json_value *op = get(parts[j], "properties");
            for (size_t q = 0; op && op->type == JSON_OBJECT && q < op->n; q++) {
                int found = 0;
                for (size_t r = 0; own && own->type == JSON_OBJECT && r < own->n; r++)
                    if (own->members[r].key_len == op->members[q].key_len && !memcmp(own->members[r].key, op->members[q].key, own->members[r].key_len)) found = 1;
                if (!found) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'additionalProperties' (property '%.*s' of another 'allOf' part) at %s", (int)op->members[q].key_len, op->members[q].key, ptr);
            }
        }
    }
    if (have_type) {
        json_member *d = mlist_add(c, &l, "type", 4);
        json_value *it = calloc_track(c, 7, sizeof *it);
        if (!d || !it) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        static const char *const names[] = {"null", "boolean", "integer", "number", "string", "array", "object"};
        size_t n = 0;
        unsigned t = types;
        if ((t & GT_NUM) && (t & GT_INT)) t &= ~(unsigned)GT_INT;
        for (int b = 0; b < 7; b++)
            if (t & (1u << b)) {
                it[n].type = JSON_STRING;
                it[n].str = names[b];
                it[n].len = strlen(names[b]);
                n++;
            }
        if (!n) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'type' of 'allOf' parts have nothing in common at %s", ptr);
        d->value = (json_value){.type = JSON_ARRAY, .items = it, .n = n};
    }
    *out = (json_value){.type = JSON_OBJECT, .members = l.m, .n = l.n};
    return 0;
}

/* Collects the schemas s stands for under allOf and $ref (s itself included, minus those keywords). */
static int flatten_allof(cctx *c, const json_value *s, const json_value **out, size_t *n, size_t cap, const char *ptr, int depth) {
    if (depth > 16) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "'allOf'/'$ref' nested too deeply at %s", ptr);
    if (*n >= cap) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "too many 'allOf' parts at %s", ptr);
    out[(*n)++] = s;
    if (s->type != JSON_OBJECT) return 0;
    const json_value *ref = get(s, "$ref");
    if (ref) {
        if (ref->type != JSON_STRING) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword '$ref' at %s", ptr);
        const json_value *t = resolve_ref(c, ref->str, ref->len, ptr);
        if (!t) return -1;
        if (flatten_allof(c, t, out, n, cap, ptr, depth + 1)) return -1;
    }
    const json_value *all = get(s, "allOf");
    if (all) {
        if (all->type != JSON_ARRAY) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'allOf' at %s", ptr);
        for (size_t i = 0; i < all->n; i++)
            if (flatten_allof(c, &all->items[i], out, n, cap, ptr, depth + 1)) return -1;
    }
    return 0;
}

/* ---- compile ---- */
static int32_t compile(cctx *c, const json_value *s, const char *ptr);

static int literal_matches_types(const json_value *v, unsigned types) {
    switch (v->type) {
    case JSON_NULL: return (types & GT_NULL) != 0;
    case JSON_TRUE: case JSON_FALSE: return (types & GT_BOOL) != 0;
    case JSON_NUMBER: return (types & GT_NUM) || ((types & GT_INT) && v->number == floor(v->number));
    case JSON_STRING: return (types & GT_STR) != 0;
    case JSON_ARRAY: return (types & GT_ARR) != 0;
    default: return (types & GT_OBJ) != 0;
    }
}

/* Member orders of a literal value: the product of n! over its objects, or LIT_ORDERS_MAX + 1
 * when over that. */
#define LIT_ORDERS_MAX 120
#define LIT_ORDER_BYTES_MAX 262144 /* text of the reordered values of one enum/const */
static uint64_t member_orders(const json_value *v) {
    uint64_t r = 1;
    if (v->type == JSON_ARRAY)
        for (size_t i = 0; i < v->n && r <= LIT_ORDERS_MAX; i++) r *= member_orders(&v->items[i]);
    if (v->type == JSON_OBJECT) {
        for (size_t i = 2; i <= v->n && r <= LIT_ORDERS_MAX; i++) r *= i;
        for (size_t i = 0; i < v->n && r <= LIT_ORDERS_MAX; i++) r *= member_orders(&v->members[i].value);
    }
    return r > LIT_ORDERS_MAX ? LIT_ORDERS_MAX + 1 : r;
}

/* v as compact JSON (json_write_value's form) with its objects' members in the order that *choice
 * selects: each object in writing order takes choice mod n! as its permutation (Lehmer code) and
 * divides it out, so 0 .. member_orders(v) - 1 write every order once. NULL: document order. */
static void write_ordered(gptoss_buf *b, const json_value *v, uint64_t *choice) {
    if (!choice || (v->type != JSON_ARRAY && v->type != JSON_OBJECT)) {
        json_write_value(b, v);
        return;
    }
    if (v->type == JSON_ARRAY) {
        gptoss_buf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i) gptoss_buf_puts(b, ",");
            write_ordered(b, &v->items[i], choice);
        }
        gptoss_buf_puts(b, "]");
        return;
    }
    size_t order[8], left[8];
    size_t n = v->n;
    if (n > 8) { /* not reached: 6 members already have more orders than LIT_ORDERS_MAX */
        json_write_value(b, v);
        return;
    }
    for (size_t i = 0; i < n; i++) left[i] = i;
    for (size_t i = 0; i < n; i++) {
        size_t pick = (size_t)(*choice % (n - i));
        *choice /= n - i;
        order[i] = left[pick];
        memmove(&left[pick], &left[pick + 1], (n - i - pick - 1) * sizeof left[0]);
    }
    gptoss_buf_puts(b, "{");
    for (size_t i = 0; i < n; i++) {
        const json_member *m = &v->members[order[i]];
        if (i) gptoss_buf_puts(b, ",");
        json_write_string(b, m->key, m->key_len);
        gptoss_buf_puts(b, ":");
        write_ordered(b, &m->value, choice);
    }
    gptoss_buf_puts(b, "}");
}

static int compile_literals(cctx *c, int32_t id, const json_value *vals, size_t n, unsigned types, const char *ptr, const char *kw) {
    int32_t root = new_tnode(c, 0);
    if (root < 0) return -1;
    size_t used = 0, perm_bytes = 0;
    unsigned lit_types = 0;
    for (size_t i = 0; i < n; i++) {
        if (!literal_matches_types(&vals[i], types)) continue;
        /* JSON equality ignores member order: every order of every object in the value goes in
         * the trie, while the orders stay within the bounds (else the document's order only) */
        gptoss_buf b = {0};
        json_write_value(&b, &vals[i]);
        uint64_t orders = member_orders(&vals[i]); /* each order's text has the same length */
        if (orders > LIT_ORDERS_MAX || b.len * orders > LIT_ORDER_BYTES_MAX - perm_bytes) orders = 1;
        if (orders > 1) perm_bytes += b.len * orders;
        for (uint64_t k = 0; k < orders; k++) {
            uint64_t choice = k;
            if (k) {
                b.len = 0;
                write_ordered(&b, &vals[i], &choice);
            }
            /* drafts 3/4: an integer-typed value written 1.0 is invalid there; refusing the zero
             * fraction for every literal loses only untyped ones, never accepts an invalid text */
            int32_t end = b.len ? trie_insert(c, root, b.data, b.len, c->g->int_zero_frac ? 1 : 2, -1) : -1;
            if (end < 0) {
                gptoss_buf_free(&b);
                return cfail(c, c->failed ? c->status : GPTOSS_ERR_NO_MEMORY, "out of memory");
            }
            c->g->tnodes[end].term = 1;
        }
        gptoss_buf_free(&b);
        used++;
        const json_value *lv = &vals[i];
        lit_types |= lv->type == JSON_NULL ? GT_NULL : lv->type == JSON_TRUE || lv->type == JSON_FALSE ? GT_BOOL
                   : lv->type == JSON_NUMBER ? (lv->number == floor(lv->number) ? GT_INT | GT_NUM : GT_NUM)
                   : lv->type == JSON_STRING ? GT_STR : lv->type == JSON_ARRAY ? GT_ARR : GT_OBJ;
    }
    if (!used) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: no value of '%s' matches 'type' at %s", kw, ptr);
    c->g->nodes[id].kind = GN_LITERAL;
    c->g->nodes[id].lit = root;
    c->g->nodes[id].types = lit_types;
    return 0;
}

static int get_count(cctx *c, const json_value *v, const char *kw, const char *ptr, uint32_t *out) {
    if (v->type != JSON_NUMBER || v->number < 0 || v->number != floor(v->number))
        return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword '%s' (not a non-negative integer) at %s", kw, ptr);
    *out = v->number > 4e9 ? UINT32_MAX : (uint32_t)v->number;
    return 0;
}

static const char *const FORMATS[][2] = {
    {"date", "^[0-9]{4}-(((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01]))|((0[469]|11)-(0[1-9]|[12][0-9]|30))|(02-(0[1-9]|1[0-9]|2[0-9])))$"},
    {"time", "^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?([zZ]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
    {"date-time", "^[0-9]{4}-(((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01]))|((0[469]|11)-(0[1-9]|[12][0-9]|30))|(02-(0[1-9]|1[0-9]|2[0-9])))[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?([zZ]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"},
    {"email", "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$"},
    {"uri", "^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=%]*$"},
    {"uuid", "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
    {"ipv4", "^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"},
    {"ipv6", "^(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}|:((:[0-9a-fA-F]{1,4}){1,7}|:))$"},
    {"hostname", "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"},
};

static const char *const ASSERTED_FORMATS[] = {"regex", "iri", "iri-reference", "uri-reference", "json-pointer",
                                                "relative-json-pointer", "uri-template", "idn-email",
                                                "idn-hostname", "duration", "color", NULL};

int gram_format_asserted(const json_value *root) {
    const json_value *sv = root->type == JSON_OBJECT ? get(root, "$schema") : NULL;
    return !(sv && sv->type == JSON_STRING && (strstr(sv->str, "2019-09") || strstr(sv->str, "2020-12")));
}

int gram_int_zero_frac(const json_value *root) {
    const json_value *sv = root->type == JSON_OBJECT ? get(root, "$schema") : NULL;
    return !(sv && sv->type == JSON_STRING && (strstr(sv->str, "draft-04") || strstr(sv->str, "draft-03")));
}

const char *gram_format_regex(const char *name, int *asserted) {
    *asserted = in_list(ASSERTED_FORMATS, name, strlen(name));
    for (size_t f = 0; f < sizeof FORMATS / sizeof FORMATS[0]; f++)
        if (!strcmp(name, FORMATS[f][0])) return FORMATS[f][1];
    return NULL;
}

static int32_t add_dfa(cctx *c, const char *pat, size_t len, const char *kw, const char *ptr) {
    gptoss_grammar *g = c->g;
    if (g->n_dfas == g->cap_dfas) {
        uint32_t cap = g->cap_dfas ? g->cap_dfas * 2 : 8;
        gram_dfa *d = realloc(g->dfas, cap * sizeof *d);
        if (!d) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        g->dfas = d;
        g->cap_dfas = cap;
    }
    char e[200];
    if (gram_regex_compile(pat, len, &g->dfas[g->n_dfas], e, sizeof e))
        return cfail(c, GPTOSS_ERR_UNSUPPORTED, "keyword '%s' at %s: %s", kw, ptr, e);
    return (int32_t)g->n_dfas++;
}

static int32_t compile_object_schema(cctx *c, const json_value *s, const char *ptr, int32_t id);

static int32_t forward(const gptoss_grammar *g, int32_t a) {
    for (int k = 0; k < 32 && a >= 0 && g->nodes[a].kind == GN_ANYOF && g->nodes[a].n_alts == 1; k++) a = g->nodes[a].alts[0];
    return a;
}

static unsigned node_types(const gptoss_grammar *g, int32_t a, int depth) {
    a = forward(g, a);
    if (a < 0) return 0;
    const gram_node *n = &g->nodes[a];
    if (n->kind != GN_ANYOF) return n->types & GT_NUM ? n->types | GT_INT : n->types;
    if (depth > 8) return GT_ALL;
    unsigned t = 0;
    for (uint32_t i = 0; i < n->n_alts; i++) t |= node_types(g, n->alts[i], depth + 1);
    return t;
}

/* 1 if the literal tries at x and y share a complete value. */
static int tries_meet(const gptoss_grammar *g, int32_t x, int32_t y, int depth) {
    if (g->tnodes[x].term >= 0 && g->tnodes[y].term >= 0) return 1;
    if (depth > 4096) return 1;
    for (int32_t a = g->tnodes[x].first_child; a >= 0; a = g->tnodes[a].next_sibling)
        for (int32_t b = g->tnodes[y].first_child; b >= 0; b = g->tnodes[b].next_sibling)
            if (g->tnodes[a].byte == g->tnodes[b].byte && tries_meet(g, a, b, depth + 1)) return 1;
    return 0;
}

static int32_t find_prop(const gram_node *n, const gram_prop *p) {
    for (uint32_t k = 0; k < n->n_props; k++)
        if (n->props[k].key_len == p->key_len && !memcmp(n->props[k].key, p->key, p->key_len)) return (int32_t)k;
    return -1;
}

/* 1 when no JSON value can match both a and b (proved from types, literals, or required object
 * properties); 0 when not proved. oneOf is only accepted as anyOf when its alternatives are. */
static int nodes_disjoint(const gptoss_grammar *g, int32_t a, int32_t b, int depth) {
    a = forward(g, a);
    b = forward(g, b);
    if (a < 0 || b < 0) return 1;
    if (depth > 8) return 0;
    unsigned common = node_types(g, a, 0) & node_types(g, b, 0);
    if (!common) return 1;
    const gram_node *x = &g->nodes[a], *y = &g->nodes[b];
    if (x->kind == GN_LITERAL && y->kind == GN_LITERAL) return !tries_meet(g, x->lit, y->lit, 0);
    if (x->kind != GN_VALUE || y->kind != GN_VALUE || common != GT_OBJ) return 0;
    for (int swap = 0; swap < 2; swap++) {
        const gram_node *p = swap ? y : x, *q = swap ? x : y;
        for (uint32_t k = 0; k < p->n_props; k++) {
            if (!p->props[k].required) continue;
            int32_t j = find_prop(q, &p->props[k]);
            if (j < 0) {
                if (q->additional < 0 && q->n_pat == 0) return 1;
                continue;
            }
            if (q->props[j].node < 0) return 1;
            if (q->props[j].required && nodes_disjoint(g, p->props[k].node, q->props[j].node, depth + 1)) return 1;
        }
    }
    return 0;
}

static int32_t compile(cctx *c, const json_value *s, const char *ptr) {
    if (c->failed) return -1;
    for (size_t i = 0; i < c->n_memo; i++)
        if (c->memo[i].v == s) return c->memo[i].node;
    if (c->depth > MAX_SCHEMA_DEPTH) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "schema nested too deeply at %s", ptr);
    if (s->type == JSON_TRUE || (s->type == JSON_OBJECT && s->n == 0)) return c->g->any;
    if (s->type == JSON_FALSE) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: false at %s", ptr);
    if (s->type != JSON_OBJECT) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "schema is not an object or boolean at %s", ptr);
    int32_t id = new_node(c);
    if (id < 0) return -1;
    if (c->n_memo == c->cap_memo) {
        size_t cap = c->cap_memo ? c->cap_memo * 2 : 64;
        memo *m = realloc(c->memo, cap * sizeof *m);
        if (!m) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        c->memo = m;
        c->cap_memo = cap;
    }
    c->memo[c->n_memo++] = (memo){s, id};
    c->depth++;
    int32_t r = compile_object_schema(c, s, ptr, id);
    c->depth--;
    if (r < 0) {
        /* the memo keeps this id: a later $ref to the same schema (after an unsatisfiable one was
         * dropped) must get a node that accepts nothing, not a half-built one */
        gram_node *n = &c->g->nodes[id];
        free(n->prefix);
        free(n->props);
        free(n->alts);
        memset(n, 0, sizeof *n);
        n->kind = GN_ANYOF;
        n->dfa = n->lit = n->key_trie = n->items = n->additional = -1;
        return -1;
    }
    return id;
}

/* 1 if the pattern DFA matches the whole name (search semantics are in the DFA). */
static int key_matches(const gptoss_grammar *g, int32_t dfa, const char *key, size_t len) {
    int32_t st = 0;
    for (size_t i = 0; i < len && st >= 0; i++) st = gram_dfa_step(&g->dfas[dfa], st, (uint8_t)key[i]);
    return st >= 0 && g->dfas[dfa].accept[st];
}

/* A subschema that no value satisfies, where "absent" is still valid (a property, items,
 * additionalProperties): -1 (nothing allowed there) instead of an error. */
static int32_t compile_or_never(cctx *c, const json_value *s, const char *ptr) {
    if (s->type == JSON_FALSE) return -1;
    int32_t id = compile(c, s, ptr);
    if (id < 0 && c->status == GPTOSS_ERR_UNSUPPORTED && strstr(c->err, "unsatisfiable")) {
        c->failed = 0;
        c->status = GPTOSS_OK;
        c->err[0] = 0;
        return -1;
    }
    return id < 0 ? -2 : id;
}

/* enum/const, directly or in an allOf part: each value is checked against the whole schema by the
 * validator, so every keyword constrains a literal exactly. 1 when s was compiled this way, 0 when
 * s has no literal set, -1 on error. */
static int compile_literal_schema(cctx *c, const json_value *s, const char *ptr, int32_t id) {
    const json_value *src = NULL;
    if (get(s, "enum") || get(s, "const")) {
        src = s;
    } else if (get(s, "allOf") || get(s, "$ref")) {
        const json_value *parts[256];
        size_t np = 0;
        if (flatten_allof(c, s, parts, &np, 256, ptr, 0)) {
            /* not a literal schema this way (a ref cycle, a non-local ref): the general path
             * below decides and reports */
            c->failed = 0;
            c->status = GPTOSS_OK;
            c->err[0] = 0;
            return 0;
        }
        for (size_t i = 0; i < np && !src; i++)
            if (parts[i]->type == JSON_OBJECT && (get(parts[i], "enum") || get(parts[i], "const"))) src = parts[i];
    }
    if (!src) return 0;
    const json_value *e = get(src, "enum"), *k = get(src, "const");
    if (e && k) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'enum' together with 'const' at %s", ptr);
    if (e && e->type != JSON_ARRAY) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'enum' at %s", ptr);
    const json_value *vals = e ? e->items : k;
    size_t n = e ? e->n : 1;
    json_value *kept = calloc_track(c, n, sizeof *kept);
    if (!kept) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        int r = gram_validate(c->root, s, &vals[i], src, 0);
        if (r < 0)
            return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword combination: '%s' value %zu cannot be checked against the rest of the schema at %s", e ? "enum" : "const", i, ptr);
        if (r) kept[nk++] = vals[i];
    }
    if (!nk) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: no value of '%s' is valid against the rest of the schema at %s", e ? "enum" : "const", ptr);
    return compile_literals(c, id, kept, nk, GT_ALL, ptr, e ? "enum" : "const") < 0 ? -1 : 1;
}

/* An open-addressing index of an object's property names (slots hold index + 1; 0 is empty). */
typedef struct prop_index {
    uint32_t *slots;
    size_t mask;
} prop_index;

static uint64_t name_hash(const char *k, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    return h;
}

/* Room for n names at most half full; the slots are freed with the compile's other allocations. */
static int prop_index_init(cctx *c, prop_index *px, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    px->slots = calloc_track(c, cap, sizeof *px->slots);
    px->mask = cap - 1;
    return px->slots ? 0 : -1;
}

/* The index in props of the name k, or UINT32_MAX. */
static uint32_t prop_find(const prop_index *px, const gram_prop *props, const char *k, size_t len) {
    for (size_t i = name_hash(k, len) & px->mask;; i = (i + 1) & px->mask) {
        uint32_t v = px->slots[i];
        if (!v) return UINT32_MAX;
        const gram_prop *p = &props[v - 1];
        if (p->key_len == len && !memcmp(p->key, k, len)) return v - 1;
    }
}

static void prop_add(prop_index *px, const gram_prop *props, uint32_t k) {
    size_t i = name_hash(props[k].key, props[k].key_len) & px->mask;
    while (px->slots[i]) i = (i + 1) & px->mask;
    px->slots[i] = k + 1;
}

static int32_t compile_object_schema(cctx *c, const json_value *s, const char *ptr, int32_t id) {
    char sub[1024];
    int lit = compile_literal_schema(c, s, ptr, id);
    if (lit) return lit < 0 ? -1 : 0;
    /* $ref alone (siblings only annotations) is the target itself; with constraints, allOf. */
    const json_value *ref = get(s, "$ref"), *all = get(s, "allOf");
    if (ref || all) {
        int only_ref = ref && !all;
        for (size_t i = 0; only_ref && i < s->n; i++)
            if (!keq(&s->members[i], "$ref") && !in_list(ANNOTATIONS, s->members[i].key, s->members[i].key_len)) only_ref = 0;
        if (only_ref) {
            if (ref->type != JSON_STRING) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword '$ref' at %s", ptr);
            const json_value *t = resolve_ref(c, ref->str, ref->len, ptr);
            if (!t) return -1;
            snprintf(sub, sizeof sub, "%s/$ref", ptr);
            int32_t tid = compile(c, t, sub);
            if (tid < 0) return -1;
            /* forward this node to the target: an anyOf of one */
            int32_t *alts = calloc(1, sizeof *alts);
            if (!alts) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            alts[0] = tid;
            c->g->nodes[id].kind = GN_ANYOF;
            c->g->nodes[id].alts = alts;
            c->g->nodes[id].n_alts = 1;
            return 0;
        }
        json_value *m = calloc_track(c, 1, sizeof *m);
        if (!m) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        if (merge_allof(c, s, m, ptr)) return -1;
        return compile_object_schema(c, m, ptr, id);
    }
    /* anyOf/oneOf with sibling constraints: distribute the siblings into each alternative */
    const json_value *any = get(s, "anyOf"), *one = get(s, "oneOf");
    if (any || one) {
        if (any && one) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'oneOf' together with 'anyOf' at %s", ptr);
        const json_value *alt = any ? any : one;
        const char *kw = any ? "anyOf" : "oneOf";
        if (alt->type != JSON_ARRAY || alt->n == 0) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword '%s' at %s", kw, ptr);
        size_t n_rest = 0;
        for (size_t i = 0; i < s->n; i++)
            if (!keq(&s->members[i], kw) && !in_list(ANNOTATIONS, s->members[i].key, s->members[i].key_len)) n_rest++;
        json_value rest = {.type = JSON_OBJECT};
        if (n_rest) {
            json_member *rm = calloc_track(c, n_rest, sizeof *rm);
            if (!rm) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            for (size_t i = 0; i < s->n; i++)
                if (!keq(&s->members[i], kw) && !in_list(ANNOTATIONS, s->members[i].key, s->members[i].key_len)) rm[rest.n++] = s->members[i];
            rest.members = rm;
        }
        int32_t *alts = calloc(alt->n, sizeof *alts);
        if (!alts) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        c->g->nodes[id].kind = GN_ANYOF;
        c->g->nodes[id].alts = alts;
        uint32_t na = 0;
        char first_err[512] = "";
        for (size_t i = 0; i < alt->n; i++) {
            char ap[1024];
            snprintf(ap, sizeof ap, "%s/%s/%zu", ptr, kw, i);
            int32_t a;
            if (n_rest) {
                json_value *m = calloc_track(c, 1, sizeof *m);
                if (!m) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                *m = make_allof2(c, &rest, &alt->items[i]);
                a = compile(c, m, ap);
            } else {
                a = compile(c, &alt->items[i], ap);
            }
            if (a < 0) {
                /* an unsatisfiable alternative is dropped; any other failure stands */
                if (c->status == GPTOSS_ERR_UNSUPPORTED && strstr(c->err, "unsatisfiable")) {
                    if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", c->err);
                    c->failed = 0;
                    c->err[0] = 0;
                    continue;
                }
                return -1;
            }
            alts[na++] = a;
        }
        c->g->nodes[id].n_alts = na;
        if (!na) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "%s", first_err);
        uint32_t oi = 0, oj = 0;
        int overlap = 0;
        for (uint32_t i = 0; one && i < na && !overlap; i++)
            for (uint32_t j = i + 1; j < na && !overlap; j++)
                if (!nodes_disjoint(c->g, alts[i], alts[j], 0)) {
                    overlap = 1;
                    oi = i;
                    oj = j;
                }
        if (!overlap) return 0;
        /* not provably disjoint: exactly one means "alternative i and none of the others", which
         * compiles when the others' negations are exact (types, single required names) */
        if (alt->n > 16)
            return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'oneOf' (alternatives %u and %u may overlap) at %s", oi, oj, ptr);
        uint32_t nb = 0;
        for (size_t i = 0; i < alt->n; i++) {
            json_value *others = calloc_track(c, alt->n, sizeof *others);
            json_member *am = calloc_track(c, 1, sizeof *am), *nm = calloc_track(c, 1, sizeof *nm);
            json_value *notobj = calloc_track(c, 1, sizeof *notobj), *m = calloc_track(c, 1, sizeof *m);
            if (!others || !am || !nm || !notobj || !m) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            size_t no = 0;
            for (size_t j = 0; j < alt->n; j++)
                if (j != i) others[no++] = alt->items[j];
            *am = (json_member){"anyOf", 5, {.type = JSON_ARRAY, .items = others, .n = no}};
            *nm = (json_member){"not", 3, {.type = JSON_OBJECT, .members = am, .n = 1}};
            *notobj = (json_value){.type = JSON_OBJECT, .members = nm, .n = 1};
            *m = make_allof2(c, &alt->items[i], notobj);
            if (n_rest) {
                json_value *m2 = calloc_track(c, 1, sizeof *m2);
                if (!m2) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                *m2 = make_allof2(c, &rest, m);
                m = m2;
            }
            char ap[1024];
            snprintf(ap, sizeof ap, "%s/%s/%zu", ptr, kw, i);
            int32_t a = compile(c, m, ap);
            if (a < 0) {
                int unsat = c->status == GPTOSS_ERR_UNSUPPORTED && strstr(c->err, "unsatisfiable");
                c->failed = 0;
                c->status = GPTOSS_OK;
                c->err[0] = 0;
                if (unsat) continue;
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'oneOf' (alternatives %u and %u may overlap) at %s", oi, oj, ptr);
            }
            alts[nb++] = a;
        }
        c->g->nodes[id].n_alts = nb;
        if (!nb) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: no 'oneOf' alternative holds alone at %s", ptr);
        return 0;
    }

    gram_node nd = c->g->nodes[id];
    unsigned types = GT_ALL;
    const json_value *enm = NULL, *cst = NULL, *props = NULL, *req = NULL, *addl = NULL, *items = NULL, *prefix = NULL, *addi = NULL;
    const json_value *notv = NULL, *pprops = NULL, *containsv = NULL, *min_contains = NULL;
    int excl_min_bool = 0, excl_max_bool = 0, nullable = 0;
    for (size_t i = 0; i < s->n; i++) {
        const json_member *m = &s->members[i];
        const json_value *v = &m->value;
        char kw[128];
        snprintf(kw, sizeof kw, "%.*s", (int)(m->key_len > 100 ? 100 : m->key_len), m->key);
        if (in_list(ANNOTATIONS, m->key, m->key_len)) continue;
        if (in_list(UNSUPPORTED, m->key, m->key_len))
            return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '%s' at %s", kw, ptr);
        if (!strcmp(kw, "type")) {
            types = type_bits(v);
            if (!types) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'type' at %s", ptr);
        } else if (!strcmp(kw, "contains")) {
            containsv = v;
        } else if (!strcmp(kw, "minContains")) {
            min_contains = v;
        } else if (!strcmp(kw, "not")) {
            notv = v;
        } else if (!strcmp(kw, "nullable")) {
            nullable = json_is_true(v);
        } else if (!strcmp(kw, "enum")) {
            if (v->type != JSON_ARRAY) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'enum' at %s", ptr);
            enm = v;
        } else if (!strcmp(kw, "const")) {
            cst = v;
        } else if (!strcmp(kw, "minLength")) {
            if (get_count(c, v, kw, ptr, &nd.min_len)) return -1;
        } else if (!strcmp(kw, "maxLength")) {
            if (get_count(c, v, kw, ptr, &nd.max_len)) return -1;
        } else if (!strcmp(kw, "minItems")) {
            if (get_count(c, v, kw, ptr, &nd.min_items)) return -1;
        } else if (!strcmp(kw, "maxItems")) {
            if (get_count(c, v, kw, ptr, &nd.max_items)) return -1;
        } else if (!strcmp(kw, "minProperties")) {
            if (get_count(c, v, kw, ptr, &nd.min_props)) return -1;
        } else if (!strcmp(kw, "maxProperties")) {
            if (get_count(c, v, kw, ptr, &nd.max_props)) return -1;
        } else if (!strcmp(kw, "minimum") || !strcmp(kw, "maximum") || !strcmp(kw, "exclusiveMinimum") || !strcmp(kw, "exclusiveMaximum")) {
            int is_min = strstr(kw, "inimum") != NULL;
            int excl = kw[0] == 'e';
            if (v->type == JSON_TRUE || v->type == JSON_FALSE) {
                if (!excl) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword '%s' at %s", kw, ptr);
                if (is_min) excl_min_bool = v->type == JSON_TRUE;
                else excl_max_bool = v->type == JSON_TRUE;
                continue;
            }
            if (v->type != JSON_NUMBER) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword '%s' at %s", kw, ptr);
            if (is_min) {
                if (!nd.has_min || v->number > nd.min || (v->number == nd.min && excl)) {
                    nd.min = v->number;
                    nd.excl_min = excl;
                }
                nd.has_min = 1;
            } else {
                if (!nd.has_max || v->number < nd.max || (v->number == nd.max && excl)) {
                    nd.max = v->number;
                    nd.excl_max = excl;
                }
                nd.has_max = 1;
            }
        } else if (!strcmp(kw, "multipleOf")) {
            if (v->type != JSON_NUMBER || v->number <= 0 || v->number != floor(v->number) || v->number > 1e15)
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'multipleOf' (only positive integers) at %s", ptr);
            nd.multiple_of = (uint64_t)v->number;
        } else if (!strcmp(kw, "pattern")) {
            if (v->type != JSON_STRING) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'pattern' at %s", ptr);
            if (nd.dfa >= 0) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'pattern' together with 'format' at %s", ptr);
            nd.dfa = add_dfa(c, v->str, v->len, "pattern", ptr);
            if (nd.dfa < 0) return -1;
        } else if (!strcmp(kw, "format")) {
            if (v->type != JSON_STRING) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'format' at %s", ptr);
            if (!c->format_assert) continue;
            for (size_t f = 0; f < sizeof FORMATS / sizeof FORMATS[0]; f++)
                if (!strcmp(v->str, FORMATS[f][0])) {
                    if (nd.dfa >= 0) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'format' together with 'pattern' at %s", ptr);
                    nd.dfa = add_dfa(c, FORMATS[f][1], strlen(FORMATS[f][1]), "format", ptr);
                    if (nd.dfa < 0) return -1;
                }
            /* formats that validators assert but this engine does not model are refused (accepting
             * any string could accept an invalid instance); other names are annotations */
            if (in_list(ASSERTED_FORMATS, v->str, v->len))
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'format' (\"%s\") at %s", v->str, ptr);
        } else if (!strcmp(kw, "uniqueItems")) {
            if (json_is_true(v)) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'uniqueItems' at %s", ptr);
        } else if (!strcmp(kw, "properties")) {
            if (v->type != JSON_OBJECT) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'properties' at %s", ptr);
            props = v;
        } else if (!strcmp(kw, "required")) {
            if (v->type != JSON_ARRAY) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'required' at %s", ptr);
            req = v;
        } else if (!strcmp(kw, "additionalProperties")) {
            addl = v;
        } else if (!strcmp(kw, "patternProperties")) {
            if (v->type != JSON_OBJECT) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'patternProperties' at %s", ptr);
            if (v->n > 2) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'patternProperties' (more than 2 patterns) at %s", ptr);
            if (v->n) pprops = v;
        } else if (!strcmp(kw, "items")) {
            items = v;
        } else if (!strcmp(kw, "prefixItems")) {
            if (v->type != JSON_ARRAY) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'prefixItems' at %s", ptr);
            prefix = v;
        } else if (!strcmp(kw, "additionalItems")) {
            addi = v;
        }
        /* anything else is no JSON Schema keyword (vendor extensions, x-*): an annotation */
    }
    if (nullable) types |= GT_NULL;
    /* not: the forms that subtract exactly. not(A or B) is not A and not B, so an anyOf under not
     * (also what two allOf parts' nots merge into) is taken apart; then false, a type set
     * (subtracted), one required name (the value must be an object without it) */
    const char *forbid[16];
    size_t forbid_len[16], n_forbid = 0;
    const json_value *negs[64];
    size_t n_negs = 0;
    if (notv) negs[n_negs++] = notv;
    for (size_t q = 0; q < n_negs; q++) {
        const json_value *nv = negs[q];
        for (int hops = 0; nv && nv->type == JSON_OBJECT && hops < 8; hops++) {
            const json_value *r = get(nv, "$ref");
            if (!r || r->type != JSON_STRING || nv->n != 1) break;
            nv = resolve_ref(c, r->str, r->len, ptr);
            if (!nv) return -1;
        }
        if (nv->type == JSON_FALSE) continue;
        size_t n_kw = 0;
        for (size_t i = 0; nv->type == JSON_OBJECT && i < nv->n; i++)
            if (!in_list(ANNOTATIONS, nv->members[i].key, nv->members[i].key_len)) n_kw++;
        const json_value *na = nv->type == JSON_OBJECT ? get(nv, "anyOf") : NULL;
        if (na && n_kw == 1 && na->type == JSON_ARRAY) {
            for (size_t i = 0; i < na->n; i++) {
                if (n_negs == 64) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'not' (too many parts) at %s", ptr);
                negs[n_negs++] = &na->items[i];
            }
            continue;
        }
        const json_value *nt = nv->type == JSON_OBJECT ? get(nv, "type") : NULL;
        const json_value *nr = nv->type == JSON_OBJECT ? get(nv, "required") : NULL;
        if (nv->type == JSON_TRUE || (nv->type == JSON_OBJECT && n_kw == 0))
            return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'not' of a schema that accepts everything at %s", ptr);
        if (nt && n_kw == 1) {
            unsigned t = type_bits(nt);
            if (!t) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'type' at %s/not", ptr);
            if ((t & GT_INT) && !(t & GT_NUM) && (types & GT_NUM))
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'not' (integer out of number) at %s", ptr);
            types &= ~t;
        } else if (nr && n_kw == 1 && nr->type == JSON_ARRAY && nr->n == 1 && nr->items[0].type == JSON_STRING) {
            /* required holds for every non-object, so its negation leaves objects only */
            types &= GT_OBJ;
            if (n_forbid == 16) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'not' (too many names) at %s", ptr);
            forbid[n_forbid] = nr->items[0].str;
            forbid_len[n_forbid++] = nr->items[0].len;
        } else {
            return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'not' at %s", ptr);
        }
        if (!types) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'not' removes every type at %s", ptr);
    }
    nd.types = types;
    nd.excl_min |= excl_min_bool;
    nd.excl_max |= excl_max_bool;
    if (cst || enm) {
        c->g->nodes[id] = nd;
        if (cst && enm) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'enum' together with 'const' at %s", ptr);
        /* a literal must still satisfy the other keywords: refuse the combinations not checked */
        if (nd.dfa >= 0 || nd.min_len || nd.max_len != UINT32_MAX || nd.has_min || nd.has_max || props || items || prefix)
            return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword '%s' together with other constraints at %s", cst ? "const" : "enum", ptr);
        return compile_literals(c, id, cst ? cst : enm->items, cst ? 1 : enm->n, types, ptr, cst ? "const" : "enum");
    }
    if (nd.min_len > nd.max_len && types == GT_STR) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'minLength' > 'maxLength' at %s", ptr);
    if (nd.min_items > nd.max_items && types == GT_ARR) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'minItems' > 'maxItems' at %s", ptr);
    if (nd.has_min && nd.has_max && (nd.min > nd.max || (nd.min == nd.max && (nd.excl_min || nd.excl_max))) && !(types & ~(unsigned)(GT_INT | GT_NUM)))
        return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'minimum' > 'maximum' at %s", ptr);
    /* arrays */
    if (items && items->type == JSON_ARRAY) { /* draft 4 tuple form */
        prefix = items;
        items = addi;
    } else if (addi && !prefix) {
        addi = NULL; /* additionalItems without tuple items has no effect */
    }
    if (prefix) {
        nd.n_prefix = (uint32_t)prefix->n;
        nd.prefix = calloc(prefix->n ? prefix->n : 1, sizeof *nd.prefix);
        if (!nd.prefix) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        c->g->nodes[id] = nd;
        for (size_t i = 0; i < prefix->n; i++) {
            snprintf(sub, sizeof sub, "%s/prefixItems/%zu", ptr, i);
            if (prefix->items[i].type == JSON_FALSE) {
                /* no item at i or after */
                if (nd.max_items > i) nd.max_items = (uint32_t)i;
                nd.n_prefix = (uint32_t)i;
                break;
            }
            int32_t x = compile(c, &prefix->items[i], sub);
            if (x < 0) return -1;
            nd.prefix[i] = x;
        }
    }
    if (items) {
        if (items->type == JSON_FALSE) {
            nd.items = -1;
        } else {
            snprintf(sub, sizeof sub, "%s/items", ptr);
            c->g->nodes[id] = nd;
            nd.items = compile_or_never(c, items, sub);
            if (nd.items == -2) return -1;
        }
    }
    if (nd.items < 0 && nd.max_items > nd.n_prefix) nd.max_items = nd.n_prefix;
    if (containsv && (types & GT_ARR)) {
        uint32_t m = 1;
        if (min_contains && get_count(c, min_contains, "minContains", ptr, &m)) return -1;
        if (m > 0) {
            if (prefix) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsupported keyword 'contains' together with 'prefixItems' at %s", ptr);
            static const json_value any_value = {.type = JSON_TRUE};
            json_value *mv = calloc_track(c, 1, sizeof *mv);
            if (!mv) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            *mv = make_allof2(c, items ? items : &any_value, containsv);
            snprintf(sub, sizeof sub, "%s/contains", ptr);
            c->g->nodes[id] = nd;
            nd.contains_item = compile(c, mv, sub);
            if (nd.contains_item < 0) return -1;
            nd.min_contains = m;
            if (m > nd.max_items && types == GT_ARR) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'minContains' > 'maxItems' at %s", ptr);
        }
    }
    if (nd.min_items > nd.max_items && types == GT_ARR) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: 'minItems' > allowed items at %s", ptr);
    /* objects */
    if (addl) {
        if (addl->type == JSON_FALSE) {
            nd.additional = -1;
        } else {
            snprintf(sub, sizeof sub, "%s/additionalProperties", ptr);
            c->g->nodes[id] = nd;
            nd.additional = compile_or_never(c, addl, sub);
            if (nd.additional == -2) return -1;
        }
    }
    if (pprops) {
        for (size_t k = 0; k < pprops->n; k++) {
            const json_member *m = &pprops->members[k];
            snprintf(sub, sizeof sub, "%s/patternProperties", ptr);
            nd.pat_dfa[k] = add_dfa(c, m->key, m->key_len, "patternProperties", sub);
            if (nd.pat_dfa[k] < 0) return -1;
            char sub2[1024];
            ptr_join(sub2, sizeof sub2, sub, m->key, m->key_len);
            c->g->nodes[id] = nd;
            nd.pat_node[k] = compile_or_never(c, &m->value, sub2);
            if (nd.pat_node[k] == -2) return -1;
        }
        nd.n_pat = (uint32_t)pprops->n;
        nd.pat_node[2] = -1;
        if (nd.n_pat == 2) {
            json_value *both = calloc_track(c, 1, sizeof *both);
            if (!both) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            *both = make_allof2(c, &pprops->members[0].value, &pprops->members[1].value);
            snprintf(sub, sizeof sub, "%s/patternProperties", ptr);
            c->g->nodes[id] = nd;
            nd.pat_node[2] = compile_or_never(c, both, sub);
            if (nd.pat_node[2] == -2) return -1;
        }
    }
    if (props || req || n_forbid || pprops) {
        size_t np = props ? props->n : 0;
        nd.props = calloc(np + (req ? req->n : 0) + n_forbid + 1, sizeof *nd.props);
        if (!nd.props) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        c->g->nodes[id] = nd;
        /* names are looked up through a hash index: a linear scan per name made 100,000
         * properties a 20 s compile */
        prop_index px = {0};
        if (prop_index_init(c, &px, np + (req ? req->n : 0) + n_forbid + 1)) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
        for (size_t i = 0; i < np; i++) {
            const json_member *m = &props->members[i];
            if (prop_find(&px, nd.props, m->key, m->key_len) < nd.n_props) continue; /* a duplicate name */
            ptr_join(sub, sizeof sub, ptr, "properties", 10);
            char sub2[1024];
            ptr_join(sub2, sizeof sub2, sub, m->key, m->key_len);
            gram_prop *p = &nd.props[nd.n_props];
            p->key = m->key;
            p->key_len = m->key_len;
            const json_value *pv = &m->value;
            for (uint32_t k = 0; k < nd.n_pat; k++)
                if (key_matches(c->g, nd.pat_dfa[k], m->key, m->key_len)) {
                    json_value *mv = calloc_track(c, 1, sizeof *mv);
                    if (!mv) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                    *mv = make_allof2(c, pv, &pprops->members[k].value);
                    pv = mv;
                }
            p->node = compile_or_never(c, pv, sub2); /* -1: present is invalid */
            if (p->node == -2) return -1;
            prop_add(&px, nd.props, nd.n_props++);
            c->g->nodes[id] = nd;
        }
        /* required names that properties does not declare take additionalProperties' schema */
        for (size_t i = 0; req && i < req->n; i++) {
            const json_value *r = &req->items[i];
            if (r->type != JSON_STRING) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "bad keyword 'required' at %s", ptr);
            uint32_t k = prop_find(&px, nd.props, r->str, r->len);
            if (k > nd.n_props) k = nd.n_props;
            int32_t undeclared = nd.additional;
            uint32_t mm = 0;
            for (uint32_t q = 0; q < nd.n_pat; q++) mm |= (uint32_t)key_matches(c->g, nd.pat_dfa[q], r->str, r->len) << q;
            if (mm) undeclared = nd.pat_node[mm - 1];
            if (k == nd.n_props) {
                if (undeclared < 0 || !(types & GT_OBJ)) {
                    if (types == GT_OBJ) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: required property '%.*s' is not allowed at %s", (int)(r->len > 100 ? 100 : r->len), r->str, ptr);
                    continue;
                }
                nd.props[k] = (gram_prop){r->str, r->len, undeclared, 0};
                prop_add(&px, nd.props, nd.n_props++);
            }
            if (nd.props[k].node < 0 && types == GT_OBJ) return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: required property '%.*s' is false at %s", (int)(r->len > 100 ? 100 : r->len), r->str, ptr);
            nd.props[k].required = nd.props[k].node >= 0;
        }
        for (size_t q = 0; q < n_forbid; q++) {
            uint32_t k = prop_find(&px, nd.props, forbid[q], forbid_len[q]);
            if (k > nd.n_props) k = nd.n_props;
            if (k < nd.n_props && nd.props[k].required)
                return cfail(c, GPTOSS_ERR_UNSUPPORTED, "unsatisfiable schema: property '%.*s' is required and excluded by 'not' at %s", (int)(forbid_len[q] > 100 ? 100 : forbid_len[q]), forbid[q], ptr);
            if (k == nd.n_props) nd.props[nd.n_props++] = (gram_prop){forbid[q], forbid_len[q], -1, 0};
            else nd.props[k].node = -1;
        }
        /* keys are copied: the schema text is freed after compile */
        for (uint32_t k = 0; k < nd.n_props; k++) {
            gptoss_grammar *g = c->g;
            if (g->n_strs == g->cap_strs) {
                uint32_t cap = g->cap_strs ? g->cap_strs * 2 : 64;
                char **ss = realloc(g->strs, cap * sizeof *ss);
                if (!ss) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
                g->strs = ss;
                g->cap_strs = cap;
            }
            char *cp = malloc(nd.props[k].key_len + 1);
            if (!cp) return cfail(c, GPTOSS_ERR_NO_MEMORY, "out of memory");
            memcpy(cp, nd.props[k].key, nd.props[k].key_len);
            cp[nd.props[k].key_len] = 0;
            g->strs[g->n_strs++] = cp;
            nd.props[k].key = cp;
        }
        nd.key_trie = new_tnode(c, 0);
        if (nd.key_trie < 0) return -1;
        for (uint32_t k = 0; k < nd.n_props; k++) {
            int32_t e = trie_insert(c, nd.key_trie, nd.props[k].key, nd.props[k].key_len, 0, (int32_t)k);
            if (e < 0) return -1;
            c->g->tnodes[e].term = (int32_t)k;
        }
    }
    c->g->nodes[id] = nd;
    return 0;
}

static void free_node(gram_node *n) {
    free(n->prefix);
    free(n->props);
    free(n->alts);
}

void gptoss_grammar_free(gptoss_grammar *g) {
    if (!g) return;
    for (uint32_t i = 0; i < g->n_nodes; i++) free_node(&g->nodes[i]);
    for (uint32_t i = 0; i < g->n_dfas; i++) gram_dfa_free(&g->dfas[i]);
    for (uint32_t i = 0; i < g->n_strs; i++) free(g->strs[i]);
    free(g->strs);
    for (uint32_t i = 0; i < g->n_cache; i++) free(g->cache[i].bits);
    free(g->cache);
    for (uint32_t i = 0; g->masks && i < GRAM_MASKS_SLOTS; i++) {
        free(g->masks[i].key);
        free(g->masks[i].bits);
    }
    free(g->masks);
    pthread_mutex_destroy(&g->cache_lock);
    free(g->nodes);
    free(g->tnodes);
    free(g->dfas);
    free(g);
}

gptoss_status gptoss_grammar_compile_json_schema(const gptoss_grammar_vocab *vocab, const char *schema, size_t len,
                                                 const gptoss_grammar_options *options, gptoss_grammar **out,
                                                 char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!schema || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "grammar: NULL schema or output");
    if (options && options->reserved) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "grammar: options.reserved must be zero");
    char perr[256] = "";
    json_doc *doc = json_parse(schema, len, perr, sizeof perr);
    if (!doc) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "schema: %s", perr);
    gptoss_grammar *g = calloc(1, sizeof *g);
    char cerr[1024] = "";
    cctx c = {.g = g, .root = json_root(doc), .err = cerr, .err_size = sizeof cerr, .status = GPTOSS_OK};
    if (!g) {
        json_free(doc);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "grammar: out of memory");
    }
    g->vocab = vocab;
    g->any = -1;
    c.format_assert = gram_format_asserted(c.root);
    g->int_zero_frac = gram_int_zero_frac(c.root);
    pthread_mutex_init(&g->cache_lock, NULL);
    g->any = new_node(&c); /* items/additional of the any-node point to itself */
    if (g->any >= 0) g->root = compile(&c, c.root, "");
    for (size_t i = 0; i < c.n_allocs; i++) free(c.allocs[i]);
    free(c.allocs);
    free(c.memo);
    json_free(doc);
    if (c.failed || g->any < 0 || g->root < 0) {
        gptoss_grammar_free(g);
        return gptoss_fail(c.failed ? c.status : GPTOSS_ERR_INTERNAL, err, err_size, "schema: %s", cerr[0] ? cerr : "compile failed");
    }
    /* property keys were pointed at the copies; literal tries hold bytes; nothing else refers to doc */
    *out = g;
    return GPTOSS_OK;
}
