/* validate.c: a three-valued JSON Schema validator for one JSON value (yes, no, unknown). The
 * compiler uses it on the finite value sets of enum and const: each value is checked against the
 * whole schema, so keywords the matcher cannot express (not, oneOf, if/then/else, contains,
 * uniqueItems, dependencies, ...) still constrain a literal exactly. Anything it cannot decide is
 * "unknown", which the compiler turns into an error rather than a guess. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "grammar/grammar_internal.h"

#define YES 1
#define NO 0
#define UNKNOWN (-1)

static int and3(int a, int b) { return a == NO || b == NO ? NO : a == UNKNOWN || b == UNKNOWN ? UNKNOWN : YES; }

static int keyeq(const json_member *m, const char *k) { return strlen(k) == m->key_len && !memcmp(m->key, k, m->key_len); }

/* JSON Schema equality: numbers by value, objects regardless of member order. */
static int json_eq(const json_value *a, const json_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NUMBER: return a->number == b->number;
    case JSON_STRING: return a->len == b->len && !memcmp(a->str, b->str, a->len);
    case JSON_ARRAY:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!json_eq(&a->items[i], &b->items[i])) return 0;
        return 1;
    case JSON_OBJECT:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++) {
            size_t j = 0;
            while (j < b->n && !(b->members[j].key_len == a->members[i].key_len &&
                                 !memcmp(b->members[j].key, a->members[i].key, a->members[i].key_len)))
                j++;
            if (j == b->n || !json_eq(&a->members[i].value, &b->members[j].value)) return 0;
        }
        return 1;
    default: return 1;
    }
}

static size_t code_points(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((uint8_t)s[i] & 0xC0) != 0x80;
    return c;
}

static int regex_match(const char *pat, size_t plen, const char *s, size_t n) {
    gram_dfa d;
    char err[128];
    if (gram_regex_compile(pat, plen, &d, err, sizeof err)) return UNKNOWN;
    int32_t st = 0;
    for (size_t i = 0; i < n && st >= 0; i++) st = gram_dfa_step(&d, st, (uint8_t)s[i]);
    int r = st >= 0 && d.accept[st] ? YES : NO;
    gram_dfa_free(&d);
    return r;
}

static int type_ok(const json_value *v, const char *t) {
    if (!strcmp(t, "null")) return v->type == JSON_NULL;
    if (!strcmp(t, "boolean")) return v->type == JSON_TRUE || v->type == JSON_FALSE;
    if (!strcmp(t, "number")) return v->type == JSON_NUMBER;
    if (!strcmp(t, "integer")) return v->type == JSON_NUMBER && v->number == floor(v->number);
    if (!strcmp(t, "string")) return v->type == JSON_STRING;
    if (!strcmp(t, "array")) return v->type == JSON_ARRAY;
    if (!strcmp(t, "object")) return v->type == JSON_OBJECT;
    return -1;
}

static int num_kw(const json_member *m, const json_value *v, const json_value *s) {
    if (v->type != JSON_NUMBER) return YES;
    const json_value *b = &m->value;
    int min = keyeq(m, "minimum") || keyeq(m, "exclusiveMinimum");
    int excl = m->key[0] == 'e';
    if (excl && (b->type == JSON_TRUE || b->type == JSON_FALSE)) return YES; /* draft 4: read with minimum/maximum */
    if (b->type != JSON_NUMBER) return UNKNOWN;
    if (!excl) {
        const json_value *e = json_get(s, min ? "exclusiveMinimum" : "exclusiveMaximum");
        if (e && e->type == JSON_TRUE) excl = 1;
    }
    double x = v->number, y = b->number;
    if (min) return excl ? x > y : x >= y;
    return excl ? x < y : x <= y;
}

static const char *const IGNORED[] = {
    "title", "description", "default", "examples", "example", "$comment", "$schema", "$id", "id", "$anchor",
    "$dynamicAnchor", "readOnly", "writeOnly", "deprecated", "$defs", "definitions", "contentMediaType",
    "contentEncoding", "$vocabulary", "discriminator", "xml", "externalDocs", "readonly", "nullable",
    "then", "else", "additionalItems", "minContains", "maxContains", NULL};
static const char *const UNDECIDED[] = {"unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
                                        "contentSchema", NULL};

static int in(const char *const *l, const json_member *m) {
    for (; *l; l++)
        if (keyeq(m, *l)) return 1;
    return 0;
}

int gram_validate(const json_value *root, const json_value *s, const json_value *v, const json_value *skip, int depth) {
    if (depth > 48) return UNKNOWN;
    if (s->type == JSON_TRUE) return YES;
    if (s->type == JSON_FALSE) return NO;
    if (s->type != JSON_OBJECT) return UNKNOWN;
    int r = YES;
    for (size_t i = 0; i < s->n && r != NO; i++) {
        const json_member *m = &s->members[i];
        const json_value *k = &m->value;
        int x = YES;
        if (in(IGNORED, m)) continue;
        if (in(UNDECIDED, m)) return UNKNOWN;
        if (keyeq(m, "$ref")) {
            /* draft 4-7 ignore $ref's siblings, 2019+ apply them: decide only without siblings */
            for (size_t j = 0; j < s->n; j++)
                if (j != i && !in(IGNORED, &s->members[j])) return UNKNOWN;
            int why;
            const json_value *t = k->type == JSON_STRING ? gram_json_pointer(root, k->str, k->len, &why) : NULL;
            x = t ? gram_validate(root, t, v, skip, depth + 1) : UNKNOWN;
        } else if (keyeq(m, "type")) {
            if (k->type == JSON_STRING) {
                x = type_ok(v, k->str);
            } else if (k->type == JSON_ARRAY) {
                x = NO;
                for (size_t j = 0; j < k->n; j++) {
                    int t = k->items[j].type == JSON_STRING ? type_ok(v, k->items[j].str) : -1;
                    if (t < 0) return UNKNOWN;
                    if (t) x = YES;
                }
            } else {
                return UNKNOWN;
            }
            if (x < 0) return UNKNOWN;
            const json_value *nl = json_get(s, "nullable");
            if (!x && v->type == JSON_NULL && nl && nl->type == JSON_TRUE) x = YES;
        } else if (keyeq(m, "enum") || keyeq(m, "const")) {
            if (s == skip) continue;
            if (keyeq(m, "const")) {
                x = json_eq(k, v);
            } else {
                if (k->type != JSON_ARRAY) return UNKNOWN;
                x = NO;
                for (size_t j = 0; j < k->n && !x; j++) x = json_eq(&k->items[j], v);
            }
        } else if (keyeq(m, "minimum") || keyeq(m, "maximum") || keyeq(m, "exclusiveMinimum") || keyeq(m, "exclusiveMaximum")) {
            x = num_kw(m, v, s);
        } else if (keyeq(m, "multipleOf")) {
            if (v->type == JSON_NUMBER) {
                if (k->type != JSON_NUMBER || k->number <= 0) return UNKNOWN;
                int vi = v->number == floor(v->number), ki = k->number == floor(k->number);
                /* exact only for integers (below 2^53); a float divisor is computed differently by
                 * different validators (0.3 / 0.1 is not 3 in binary): undecided */
                if (vi && ki && fabs(v->number) < 9e15 && k->number < 9e15) x = fmod(v->number, k->number) == 0;
                else if (!vi && ki) x = NO;
                else return UNKNOWN;
            }
        } else if (keyeq(m, "minLength") || keyeq(m, "maxLength")) {
            if (v->type == JSON_STRING) {
                if (k->type != JSON_NUMBER) return UNKNOWN;
                double n = (double)code_points(v->str, v->len);
                x = m->key[1] == 'i' ? n >= k->number : n <= k->number;
            }
        } else if (keyeq(m, "pattern")) {
            if (v->type == JSON_STRING) {
                if (k->type != JSON_STRING) return UNKNOWN;
                x = regex_match(k->str, k->len, v->str, v->len);
            }
        } else if (keyeq(m, "format")) {
            if (!gram_format_asserted(root)) continue;
            if (v->type == JSON_STRING && k->type == JSON_STRING) {
                int asserted;
                const char *re = gram_format_regex(k->str, &asserted);
                if (asserted) return UNKNOWN;
                if (re) x = regex_match(re, strlen(re), v->str, v->len);
            } else if (v->type == JSON_STRING) {
                return UNKNOWN;
            }
        } else if (keyeq(m, "minItems") || keyeq(m, "maxItems")) {
            if (v->type == JSON_ARRAY) {
                if (k->type != JSON_NUMBER) return UNKNOWN;
                x = m->key[1] == 'i' ? (double)v->n >= k->number : (double)v->n <= k->number;
            }
        } else if (keyeq(m, "minProperties") || keyeq(m, "maxProperties")) {
            if (v->type == JSON_OBJECT) {
                if (k->type != JSON_NUMBER) return UNKNOWN;
                x = m->key[1] == 'i' ? (double)v->n >= k->number : (double)v->n <= k->number;
            }
        } else if (keyeq(m, "uniqueItems")) {
            if (v->type == JSON_ARRAY && k->type == JSON_TRUE)
                for (size_t a = 0; a < v->n && x; a++)
                    for (size_t b = a + 1; b < v->n && x; b++)
                        if (json_eq(&v->items[a], &v->items[b])) x = NO;
        } else if (keyeq(m, "items") || keyeq(m, "prefixItems")) {
            if (v->type != JSON_ARRAY) continue;
            if (k->type == JSON_ARRAY) { /* tuple: prefixItems, or draft-4 items with additionalItems */
                for (size_t j = 0; j < v->n && j < k->n && x != NO; j++) x = and3(x, gram_validate(root, &k->items[j], &v->items[j], skip, depth + 1));
                const json_value *rest = keyeq(m, "items") ? json_get(s, "additionalItems") : NULL;
                if (keyeq(m, "prefixItems")) {
                    const json_value *it = json_get(s, "items");
                    rest = it && it->type != JSON_ARRAY ? it : NULL;
                }
                for (size_t j = k->n; rest && j < v->n && x != NO; j++) x = and3(x, gram_validate(root, rest, &v->items[j], skip, depth + 1));
            } else {
                const json_value *pre = json_get(s, "prefixItems");
                size_t from = pre && pre->type == JSON_ARRAY ? pre->n : 0;
                for (size_t j = from; j < v->n && x != NO; j++) x = and3(x, gram_validate(root, k, &v->items[j], skip, depth + 1));
            }
        } else if (keyeq(m, "contains")) {
            if (v->type != JSON_ARRAY) continue;
            size_t hits = 0;
            for (size_t j = 0; j < v->n; j++) {
                int t = gram_validate(root, k, &v->items[j], skip, depth + 1);
                if (t < 0) return UNKNOWN;
                hits += (size_t)t;
            }
            const json_value *mn = json_get(s, "minContains"), *mx = json_get(s, "maxContains");
            double lo = mn && mn->type == JSON_NUMBER ? mn->number : 1;
            x = (double)hits >= lo && (!mx || mx->type != JSON_NUMBER || (double)hits <= mx->number);
        } else if (keyeq(m, "properties") || keyeq(m, "patternProperties") || keyeq(m, "additionalProperties")) {
            if (v->type != JSON_OBJECT) continue;
            if (!keyeq(m, "additionalProperties") && k->type != JSON_OBJECT) return UNKNOWN;
            const json_value *props = json_get(s, "properties"), *pats = json_get(s, "patternProperties");
            for (size_t j = 0; j < v->n && x != NO; j++) {
                const json_member *p = &v->members[j];
                int covered = 0;
                for (size_t q = 0; props && props->type == JSON_OBJECT && q < props->n; q++)
                    if (props->members[q].key_len == p->key_len && !memcmp(props->members[q].key, p->key, p->key_len)) {
                        covered = 1;
                        if (keyeq(m, "properties")) x = and3(x, gram_validate(root, &props->members[q].value, &p->value, skip, depth + 1));
                    }
                for (size_t q = 0; pats && pats->type == JSON_OBJECT && q < pats->n; q++) {
                    int t = regex_match(pats->members[q].key, pats->members[q].key_len, p->key, p->key_len);
                    if (t < 0) return UNKNOWN;
                    if (t) {
                        covered = 1;
                        if (keyeq(m, "patternProperties")) x = and3(x, gram_validate(root, &pats->members[q].value, &p->value, skip, depth + 1));
                    }
                }
                if (!covered && keyeq(m, "additionalProperties")) x = and3(x, gram_validate(root, k, &p->value, skip, depth + 1));
            }
        } else if (keyeq(m, "required")) {
            if (v->type != JSON_OBJECT) continue;
            if (k->type != JSON_ARRAY) return UNKNOWN;
            for (size_t j = 0; j < k->n && x; j++) {
                if (k->items[j].type != JSON_STRING) return UNKNOWN;
                int found = 0;
                for (size_t q = 0; q < v->n; q++)
                    if (v->members[q].key_len == k->items[j].len && !memcmp(v->members[q].key, k->items[j].str, k->items[j].len)) found = 1;
                x = found;
            }
        } else if (keyeq(m, "propertyNames")) {
            if (v->type != JSON_OBJECT) continue;
            for (size_t j = 0; j < v->n && x != NO; j++) {
                json_value name = {.type = JSON_STRING, .str = v->members[j].key, .len = v->members[j].key_len};
                x = and3(x, gram_validate(root, k, &name, skip, depth + 1));
            }
        } else if (keyeq(m, "dependentRequired") || keyeq(m, "dependentSchemas") || keyeq(m, "dependencies")) {
            if (v->type != JSON_OBJECT) continue;
            if (k->type != JSON_OBJECT) return UNKNOWN;
            for (size_t j = 0; j < k->n && x != NO; j++) {
                const json_member *d = &k->members[j];
                int present = 0;
                for (size_t q = 0; q < v->n; q++)
                    if (v->members[q].key_len == d->key_len && !memcmp(v->members[q].key, d->key, d->key_len)) present = 1;
                if (!present) continue;
                if (d->value.type == JSON_ARRAY) {
                    json_value req = {.type = JSON_OBJECT};
                    json_member rm = {"required", 8, d->value};
                    req.members = &rm;
                    req.n = 1;
                    x = and3(x, gram_validate(root, &req, v, skip, depth + 1));
                } else {
                    x = and3(x, gram_validate(root, &d->value, v, skip, depth + 1));
                }
            }
        } else if (keyeq(m, "allOf") || keyeq(m, "anyOf") || keyeq(m, "oneOf")) {
            if (k->type != JSON_ARRAY) return UNKNOWN;
            int all = keyeq(m, "allOf"), one = keyeq(m, "oneOf");
            size_t yes = 0, unk = 0;
            for (size_t j = 0; j < k->n; j++) {
                int t = gram_validate(root, &k->items[j], v, skip, depth + 1);
                if (t == YES) yes++;
                else if (t == UNKNOWN) unk++;
                else if (all) break;
            }
            if (all) x = yes == k->n ? YES : yes + unk == k->n ? UNKNOWN : NO;
            else if (one) x = unk ? (yes > 1 ? NO : UNKNOWN) : yes == 1;
            else x = yes ? YES : unk ? UNKNOWN : NO;
        } else if (keyeq(m, "not")) {
            int t = gram_validate(root, k, v, skip, depth + 1);
            x = t == UNKNOWN ? UNKNOWN : !t;
        } else if (keyeq(m, "if")) {
            int t = gram_validate(root, k, v, skip, depth + 1);
            if (t == UNKNOWN) return UNKNOWN;
            const json_value *br = json_get(s, t ? "then" : "else");
            if (br) x = gram_validate(root, br, v, skip, depth + 1);
        }
        /* other names are not keywords: annotations */
        r = and3(r, x);
    }
    return r;
}
