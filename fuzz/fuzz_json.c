/* fuzz_json.c: libFuzzer target for the JSON reader and writer: parse arbitrary bytes; when they
 * parse, serialise the whole tree with json_write_value, parse that again and require
 * the same tree; every string the reader returns must be valid UTF-8. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const json_value *a, const json_value *b) {
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JSON_NUMBER:
        if (a->is_uint != b->is_uint) /* "5.0" or "1e-400" is written back as the integer "5" / "0" */
            return !a->is_uint && b->is_uint && a->number == (double)b->uint;
        if (a->is_uint) return a->uint == b->uint;
        return a->number == b->number;
    case JSON_STRING: return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    case JSON_ARRAY:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!same(&a->items[i], &b->items[i])) return 0;
        return 1;
    case JSON_OBJECT:
        if (a->n != b->n) return 0;
        for (size_t i = 0; i < a->n; i++)
            if (a->members[i].key_len != b->members[i].key_len ||
                memcmp(a->members[i].key, b->members[i].key, a->members[i].key_len) != 0 ||
                !same(&a->members[i].value, &b->members[i].value))
                return 0;
        return 1;
    default: return 1;
    }
}

static void check_strings(const json_value *v) {
    if (v->type == JSON_STRING && (!json_utf8_valid(v->str, v->len) || v->str[v->len] != 0)) __builtin_trap();
    if (v->type == JSON_ARRAY)
        for (size_t i = 0; i < v->n; i++) check_strings(&v->items[i]);
    if (v->type == JSON_OBJECT)
        for (size_t i = 0; i < v->n; i++) {
            const json_member *m = &v->members[i];
            if (!json_utf8_valid(m->key, m->key_len) || m->key[m->key_len] != 0) __builtin_trap();
            check_strings(&m->value);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    char err[256];
    err[0] = 0;
    json_doc *doc = json_parse(text, size, err, sizeof err);
    if (!doc) {
        if (!err[0] || strchr(err, '\n')) __builtin_trap();
    } else {
        const json_value *root = json_root(doc);
        check_strings(root);
        gptoss_buf b = {0};
        json_write_value(&b, root);
        const char *out = gptoss_buf_cstr(&b);
        if (out) {
            char err2[256];
            json_doc *doc2 = json_parse(out, b.len, err2, sizeof err2);
            if (!doc2 || !same(root, json_root(doc2))) __builtin_trap();
            json_free(doc2);
        }
        gptoss_buf_free(&b);
        json_free(doc);
    }
    /* json_write_string on the raw bytes: output must be one valid JSON string literal that parses. */
    gptoss_buf s = {0};
    json_write_string(&s, text, size);
    const char *lit = gptoss_buf_cstr(&s);
    if (lit) {
        json_doc *d3 = json_parse(lit, s.len, err, sizeof err);
        if (!d3 || json_root(d3)->type != JSON_STRING) __builtin_trap();
        /* Valid UTF-8 input must survive the round trip unchanged. */
        if (json_utf8_valid(text, size) &&
            (json_root(d3)->len != size || (size && memcmp(json_root(d3)->str, text, size) != 0)))
            __builtin_trap();
        json_free(d3);
    }
    gptoss_buf_free(&s);
    free(text);
    return 0;
}
