/* json.h: a strict, bounds-checked JSON reader (RFC 8259) producing an arena-allocated tree, and
 * helpers for writing JSON. Used for config.json, safetensors headers, tokenizer.json and harmony
 * conversations, so the core needs no third-party library. */
#ifndef GPTOSS_JSON_H
#define GPTOSS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;
typedef struct json_member json_member;

struct json_value {
    json_type type;
    /* JSON_NUMBER: `number` always; `is_uint` when the text is a plain non-negative integer that fits
     * in uint64_t (exact, unlike the double), then `uint` holds it. */
    int is_uint;
    uint64_t uint;
    double number;
    /* JSON_STRING: UTF-8, NUL-terminated, may contain NUL (use len). */
    const char *str;
    size_t len;
    /* JSON_ARRAY: items[n]; JSON_OBJECT: members[n] in document order. */
    json_value *items;
    json_member *members;
    size_t n;
};

struct json_member {
    const char *key;
    size_t key_len;
    json_value value;
};

typedef struct json_doc json_doc;

/* Parses text[0..len). Limits nesting depth to 256. Strings must be valid UTF-8; escapes are
 * decoded (a lone surrogate is an error). Returns NULL and fills err on failure. */
json_doc *json_parse(const char *text, size_t len, char *err, size_t err_size);
void json_free(json_doc *doc);
const json_value *json_root(const json_doc *doc);

/* Object member by key (first match), or NULL. NULL-safe on obj. */
const json_value *json_get(const json_value *obj, const char *key);
/* Convenience accessors: return 1 and set *out when the member exists and has the right type. */
int json_get_uint(const json_value *obj, const char *key, uint64_t *out);
int json_get_number(const json_value *obj, const char *key, double *out);
const char *json_get_string(const json_value *obj, const char *key); /* NULL if absent/not string */
int json_is_true(const json_value *v);

/* Writes s[0..len) as a JSON string literal (with quotes). Invalid UTF-8 bytes become U+FFFD. */
void json_write_string(gptoss_buf *b, const char *s, size_t len);

/* Writes a value as compact JSON: no spaces, members in document order, numbers in their shortest
 * form that reads back as the same double (as serde_json prints them). */
void json_write_value(gptoss_buf *b, const json_value *v);

/* 1 if s[0..len) is valid UTF-8. */
int json_utf8_valid(const char *s, size_t len);

#endif
