/* test_json.c: the JSON reader (src/format/json.c) on valid and invalid documents: escapes, surrogate pairs,
 * UTF-8 validation, nesting limit, exact 64-bit integers, number grammar, trailing garbage, byte order
 * marks, error messages; and json_write_string's escaping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "tap.h"

static json_doc *parse_n(const char *s, size_t n, char *err, size_t err_size) {
    /* An exact-size heap copy: nothing may be read past the end (ASan builds). */
    char *copy = malloc(n ? n : 1);
    if (!copy) return NULL;
    if (n) memcpy(copy, s, n);
    err[0] = 0;
    json_doc *d = json_parse(copy, n, err, err_size);
    free(copy);
    return d;
}

static json_doc *parse(const char *s, char *err, size_t err_size) { return parse_n(s, strlen(s), err, err_size); }

/* Valid documents: parse and the root has the given type. */
static void ok_doc(const char *name, const char *s, json_type type) {
    char err[256];
    json_doc *d = parse(s, err, sizeof err);
    tap_check(d && json_root(d)->type == type, "valid: %s", name);
    if (!d) tap_diag("  %s", err);
    json_free(d);
}

/* Invalid documents: rejected with a one-line "invalid JSON at byte N: ..." mentioning `want`. */
static void bad_doc_n(const char *name, const char *s, size_t n, const char *want) {
    char err[256];
    json_doc *d = parse_n(s, n, err, sizeof err);
    int ok = !d && strstr(err, "invalid JSON at byte") && !strchr(err, '\n') && (!want || strstr(err, want));
    tap_check(ok, "invalid: %s", name);
    if (!ok) tap_diag("  parsed=%d message: %s (want \"%s\")", d != NULL, err, want ? want : "");
    json_free(d);
}

static void bad_doc(const char *name, const char *s, const char *want) { bad_doc_n(name, s, strlen(s), want); }

/* The string value of a one-string document. */
static void string_is(const char *name, const char *doc, const char *want, size_t want_len) {
    char err[256];
    json_doc *d = parse(doc, err, sizeof err);
    const json_value *v = json_root(d);
    int ok = d && v->type == JSON_STRING && v->len == want_len && memcmp(v->str, want, want_len) == 0 &&
             v->str[v->len] == 0;
    tap_check(ok, "string: %s", name);
    if (!d) tap_diag("  %s", err);
    json_free(d);
}

static void test_valid(void) {
    ok_doc("empty object", "{}", JSON_OBJECT);
    ok_doc("empty array", "[]", JSON_ARRAY);
    ok_doc("scalar true", "true", JSON_TRUE);
    ok_doc("scalar false", "false", JSON_FALSE);
    ok_doc("scalar null", "null", JSON_NULL);
    ok_doc("scalar number", "42", JSON_NUMBER);
    ok_doc("scalar string", "\"x\"", JSON_STRING);
    ok_doc("whitespace everywhere", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n\t", JSON_OBJECT);
    ok_doc("UTF-8 BOM before the value", "\xef\xbb\xbf{\"x\": 1}", JSON_OBJECT);
    ok_doc("UTF-8 BOM then whitespace", "\xef\xbb\xbf \n[1]", JSON_ARRAY);

    char err[256];
    json_doc *d = parse("{\"a\": 1, \"b\": [true, false, null, \"s\"], \"c\": {\"d\": -2.5}, \"a\": 2}", err, sizeof err);
    const json_value *r = json_root(d);
    const json_value *b = json_get(r, "b");
    tap_check(d && r->n == 4 && b && b->type == JSON_ARRAY && b->n == 4 && b->items[0].type == JSON_TRUE &&
                  b->items[1].type == JSON_FALSE && b->items[2].type == JSON_NULL && b->items[3].type == JSON_STRING,
              "tree: object with array members in order");
    uint64_t u = 0;
    tap_check(json_get_uint(r, "a", &u) && u == 1, "duplicate keys: json_get returns the first");
    double x = 0;
    tap_check(json_get_number(json_get(r, "c"), "d", &x) && x == -2.5, "nested number -2.5");
    tap_check(json_get(r, "zz") == NULL && json_get(NULL, "a") == NULL && json_get(b, "a") == NULL,
              "json_get: absent key, NULL object, array all give NULL");
    tap_check(json_get_string(r, "a") == NULL && json_get_string(r, "zz") == NULL,
              "json_get_string: NULL for non-strings and absent keys");
    tap_check(json_is_true(&b->items[0]) && !json_is_true(&b->items[1]) && !json_is_true(NULL), "json_is_true");
    tap_check(!json_get_uint(json_get(r, "c"), "d", &u), "json_get_uint rejects -2.5");
    json_free(d);
    json_free(NULL);
    tap_check(json_root(NULL) == NULL, "json_root(NULL) is NULL");

    /* Keys with escapes and NUL compare by bytes. */
    d = parse("{\"a\\u0000b\": 1, \"\\u00e9\": 2}", err, sizeof err);
    r = json_root(d);
    tap_check(d && r->members[0].key_len == 3 && memcmp(r->members[0].key, "a\0b", 3) == 0 &&
                  json_get(r, "a") == NULL && json_get_uint(r, "\xc3\xa9", &u) && u == 2,
              "keys: embedded NUL kept with its length, escaped key found by its UTF-8");
    json_free(d);
}

static void test_strings(void) {
    string_is("simple escapes", "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\" \\ / \b \f \n \r \t", 15);
    string_is("\\u0041 and lower/upper hex", "\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9", 5);
    string_is("\\u0000 gives a NUL inside the string", "\"a\\u0000b\"", "a\0b", 3);
    string_is("three-byte \\u20ac", "\"\\u20ac\"", "\xe2\x82\xac", 3);
    string_is("surrogate pair U+1F600", "\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);
    string_is("surrogate pair U+10FFFF", "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);
    string_is("surrogate pair U+10000", "\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4);
    string_is("raw UTF-8 (2, 3, 4 bytes)", "\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"",
              "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80", 9);
    string_is("U+FFFF and U+E000 raw", "\"\xef\xbf\xbf\xee\x80\x80\"", "\xef\xbf\xbf\xee\x80\x80", 6);
    string_is("DEL (0x7f) raw", "\"\x7f\"", "\x7f", 1);
    string_is("empty string", "\"\"", "", 0);

    /* A long string (several MB, beyond the 1 MB arena chunk). */
    size_t n = 5u << 20;
    char *big = malloc(n + 3);
    if (big) {
        big[0] = '"';
        for (size_t i = 0; i < n; i++) big[1 + i] = (char)('a' + i % 26);
        big[n + 1] = '"';
        big[n + 2] = 0;
        char err[256];
        json_doc *d = parse_n(big, n + 2, err, sizeof err);
        tap_check(d && json_root(d)->len == n && json_root(d)->str[n - 1] == (char)('a' + (n - 1) % 26),
                  "a 5 MB string");
        json_free(d);
        free(big);
    }

    bad_doc("lone high surrogate", "\"\\ud83d\"", "surrogate");
    bad_doc("lone high surrogate then text", "\"\\ud83dxy\"", "surrogate");
    bad_doc("lone low surrogate", "\"\\ude00\"", "surrogate");
    bad_doc("high surrogate + non-surrogate", "\"\\ud83d\\u0041\"", "surrogate");
    bad_doc("high surrogate + high surrogate", "\"\\ud83d\\ud83d\"", "surrogate");
    bad_doc("high surrogate at end of input", "\"\\ud83d", NULL);
    bad_doc("truncated \\u escape", "\"\\u12\"", NULL);
    bad_doc("\\u escape at end of input", "\"\\u12", "truncated");
    bad_doc("bad hex digit", "\"\\u12g4\"", "hex");
    bad_doc("unknown escape \\x", "\"\\x41\"", "escape");
    bad_doc("unknown escape \\U", "\"\\U0001F600\"", "escape");
    bad_doc("escape at end of input", "\"abc\\", NULL);
    bad_doc("unterminated string", "\"abc", "unterminated");
    bad_doc("raw newline in string", "\"a\nb\"", "control");
    bad_doc("raw tab in string", "\"a\tb\"", "control");
    bad_doc_n("raw NUL in string", "\"a\0b\"", 5, "control");
    bad_doc("raw 0x1f in string", "\"\x1f\"", "control");
    bad_doc("invalid UTF-8: 0xff", "\"\xff\"", "UTF-8");
    bad_doc("invalid UTF-8: lone continuation 0x80", "\"\x80\"", "UTF-8");
    bad_doc("invalid UTF-8: overlong NUL c0 80", "\"\xc0\x80\"", "UTF-8");
    bad_doc("invalid UTF-8: overlong '/' c0 af", "\"\xc0\xaf\"", "UTF-8");
    bad_doc("invalid UTF-8: overlong 3-byte e0 80 af", "\"\xe0\x80\xaf\"", "UTF-8");
    bad_doc("invalid UTF-8: overlong 4-byte f0 80 80 af", "\"\xf0\x80\x80\xaf\"", "UTF-8");
    bad_doc("invalid UTF-8: encoded surrogate ed a0 80", "\"\xed\xa0\x80\"", "UTF-8");
    bad_doc("invalid UTF-8: above U+10FFFF f4 90 80 80", "\"\xf4\x90\x80\x80\"", "UTF-8");
    bad_doc("invalid UTF-8: f5 lead byte", "\"\xf5\x80\x80\x80\"", "UTF-8");
    bad_doc("invalid UTF-8: truncated sequence before the quote", "\"\xe2\x82\"", "UTF-8");
    bad_doc("invalid UTF-8: truncated sequence at end of input", "\"\xe2\x82", NULL);
    bad_doc("invalid UTF-8 in a key", "{\"\xff\": 1}", "UTF-8");
    bad_doc("single-quoted string", "'a'", NULL);
}

static void test_numbers(void) {
    char err[256];
    json_doc *d = parse("[0, 18446744073709551615, 18446744073709551616, 9007199254740993, -0, 1.0, 1e2, -5, 1.5,"
                        " 1E+2, 2.5e-3, 1e400, -1e400, 123456789012345678901234567890123456789012345678901234567890,"
                        " 0.000000000000000000000000000000000000000000000000000000000000000000001]",
                        err, sizeof err);
    const json_value *a = json_root(d);
    tap_check(d && a->n == 15, "number array parses");
    if (!d || a->n != 15) {
        tap_diag("  %s", err);
        json_free(d);
        return;
    }
    const json_value *v = a->items;
    tap_check(v[0].is_uint && v[0].uint == 0, "0 is an exact integer");
    tap_check(v[1].is_uint && v[1].uint == UINT64_MAX, "2^64-1 is exact (uint64)");
    tap_check(!v[2].is_uint && v[2].number == 18446744073709551616.0, "2^64 is not an integer, double 2^64");
    tap_check(v[3].is_uint && v[3].uint == 9007199254740993ull, "2^53+1 is exact (not rounded through double)");
    tap_check(!v[4].is_uint && v[4].number == 0 && signbit(v[4].number), "-0 is not an unsigned integer");
    tap_check(!v[5].is_uint && v[5].number == 1.0, "1.0 is a number, not a plain integer");
    tap_check(!v[6].is_uint && v[6].number == 100.0, "1e2 is 100");
    tap_check(!v[7].is_uint && v[7].number == -5.0, "-5");
    tap_check(v[8].number == 1.5 && v[9].number == 100.0 && fabs(v[10].number - 2.5e-3) < 1e-18, "1.5, 1E+2, 2.5e-3");
    tap_check(isinf(v[11].number) && v[11].number > 0 && isinf(v[12].number) && v[12].number < 0,
              "1e400 / -1e400 overflow to +/-inf (callers check isfinite)");
    tap_check(!v[13].is_uint && v[13].number > 1.2e59 && v[13].number < 1.3e59, "a 60-digit integer is a double");
    tap_check(v[14].number >= 0 && v[14].number < 1e-60, "a long fraction");
    json_free(d);

    d = parse("{\"a\": 1.0, \"b\": 4.5, \"c\": -1, \"d\": 1e300, \"e\": 9007199254740992.0, \"f\": \"3\"}", err,
              sizeof err);
    const json_value *o = json_root(d);
    uint64_t u = 7;
    tap_check(d && json_get_uint(o, "a", &u) && u == 1, "json_get_uint accepts 1.0");
    tap_check(!json_get_uint(o, "b", &u) && !json_get_uint(o, "c", &u) && !json_get_uint(o, "d", &u) &&
                  !json_get_uint(o, "f", &u),
              "json_get_uint rejects 4.5, -1, 1e300 and \"3\"");
    tap_check(json_get_uint(o, "e", &u) && u == 9007199254740992ull, "json_get_uint accepts 2^53 as a float");
    json_free(d);

    const char *bad[] = {"01", "-01", "+1", "1.", ".5", "1e", "1e+", "-", "0x10", "NaN", "Infinity", "-Infinity",
                         "1.e5", "--1", "1_000", "- 1", "00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "number '%s'", bad[i]);
        bad_doc(name, bad[i], NULL);
    }
}

static void test_structure(void) {
    bad_doc("empty input", "", "end of input");
    bad_doc("only whitespace", " \n\t ", "end of input");
    bad_doc("only a BOM", "\xef\xbb\xbf", "end of input");
    bad_doc("two BOMs", "\xef\xbb\xbf\xef\xbb\xbf{}", NULL);
    bad_doc("BOM after whitespace", " \xef\xbb\xbf{}", NULL);
    bad_doc("UTF-16 LE BOM", "\xff\xfe{}", NULL);
    bad_doc("trailing garbage after object", "{} x", "trailing");
    bad_doc("two values", "1 2", "trailing");
    bad_doc("trailing comma after value", "[1],", "trailing");
    bad_doc("extra closing brace", "{}}", "trailing");
    bad_doc_n("trailing NUL", "{}\0", 3, "trailing");
    bad_doc("trailing comma in array", "[1,]", NULL);
    bad_doc("trailing comma in object", "{\"a\":1,}", NULL);
    bad_doc("missing comma", "[1 2]", "expected");
    bad_doc("missing colon", "{\"a\" 1}", "':'");
    bad_doc("non-string key", "{1: 2}", "key");
    bad_doc("unquoted key", "{a: 2}", "key");
    bad_doc("unterminated array", "[1, 2", NULL);
    bad_doc("unterminated object", "{\"a\": 1", NULL);
    bad_doc("object missing a value", "{\"a\":}", NULL);
    bad_doc("truncated true", "tru", NULL);
    bad_doc("truncated null", "nul", NULL);
    bad_doc("misspelled literal", "nulL", NULL);
    bad_doc("literal with a tail", "falsey", "trailing");
    bad_doc("capitalised literal", "True", NULL);
    bad_doc("comment", "{} // c", NULL);
    bad_doc("block comment", "/* c */ {}", NULL);
    bad_doc("vertical tab is not whitespace", "\v{}", NULL);
    bad_doc("form feed is not whitespace", "{}\f", NULL);
    bad_doc("non-breaking space is not whitespace", "\xc2\xa0{}", NULL);

    /* Error messages give the byte offset. */
    char err[256];
    json_doc *d = parse("[1, 2, x]", err, sizeof err);
    tap_check(!d && strstr(err, "at byte 7"), "error names the byte offset (%s)", err);
    json_free(d);
    d = parse("\"\xff\"", err, 8);
    tap_check(!d && strlen(err) == 7, "error message truncated to the buffer");
    json_free(d);
    d = json_parse("{", 1, NULL, 0);
    tap_check(!d, "a NULL error buffer is allowed");

    /* Nesting: 200 levels parse, 300 and 1e6 are refused without exhausting the stack. */
    size_t depths[] = {200, 256, 257, 258, 300, 1000000};
    for (size_t k = 0; k < sizeof depths / sizeof depths[0]; k++) {
        size_t n = depths[k];
        char *s = malloc(2 * n + 1);
        if (!s) continue;
        for (size_t i = 0; i < n; i++) {
            s[i] = '[';
            s[2 * n - 1 - i] = ']';
        }
        s[2 * n] = 0;
        d = parse_n(s, 2 * n, err, sizeof err);
        /* The root sits at depth 0: 257 brackets reach depth 256, the documented limit. */
        if (n <= 257) tap_check(d != NULL, "nesting %zu levels parses", n);
        else tap_check(!d && strstr(err, "nesting too deep"), "nesting %zu levels is refused", n);
        json_free(d);
        /* The same with objects. */
        size_t unit = 6; /* {"a": ... } -> 5 open + 1 close */
        char *o = malloc(unit * n + 2);
        if (o) {
            size_t p = 0;
            for (size_t i = 0; i < n; i++) memcpy(o + p, "{\"a\":", 5), p += 5;
            o[p++] = '1';
            for (size_t i = 0; i < n; i++) o[p++] = '}';
            d = parse_n(o, p, err, sizeof err);
            if (n <= 256) tap_check(d != NULL, "object nesting %zu levels parses", n);
            else tap_check(!d && strstr(err, "nesting too deep"), "object nesting %zu levels is refused", n);
            json_free(d);
            free(o);
        }
        free(s);
    }

    /* Many values (arena and scratch stacks grow). */
    size_t count = 200000;
    char *s = malloc(count * 8 + 16);
    if (s) {
        size_t p = 0;
        s[p++] = '[';
        for (size_t i = 0; i < count; i++) p += (size_t)sprintf(s + p, "%s%zu", i ? "," : "", i);
        s[p++] = ']';
        d = parse_n(s, p, err, sizeof err);
        const json_value *r = json_root(d);
        tap_check(d && r->n == count && r->items[count - 1].uint == count - 1, "array of 200000 integers");
        json_free(d);
        free(s);
    }
}

/* json_write_string's output for s[0..n). */
static char *written(const char *s, size_t n, size_t *len) {
    gptoss_buf b = {0};
    json_write_string(&b, s, n);
    const char *c = gptoss_buf_cstr(&b);
    char *out = c ? strdup(c) : NULL;
    *len = b.len;
    gptoss_buf_free(&b);
    return out;
}

static void write_is(const char *name, const char *s, size_t n, const char *want) {
    size_t len;
    char *w = written(s, n, &len);
    int ok = w && len == strlen(want) && !strcmp(w, want);
    tap_check(ok, "write: %s", name);
    if (!ok) tap_diag("  got %s want %s", w ? w : "(null)", want);
    free(w);
}

static void test_write(void) {
    write_is("plain", "abc", 3, "\"abc\"");
    write_is("empty", "", 0, "\"\"");
    write_is("quote and backslash", "a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    write_is("short escapes", "\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    write_is("other control characters", "\x01\x1f", 2, "\"\\u0001\\u001f\"");
    write_is("NUL", "a\0b", 3, "\"a\\u0000b\"");
    write_is("slash and DEL stay raw", "/\x7f", 2, "\"/\x7f\"");
    write_is("valid UTF-8 passes through", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
             "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    write_is("0xff becomes U+FFFD", "a\xff" "b", 3, "\"a\xef\xbf\xbd" "b\"");
    write_is("lone continuation becomes U+FFFD", "\x80", 1, "\"\xef\xbf\xbd\"");
    write_is("encoded surrogate is not passed through", "\xed\xa0\x80", 3,
             "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    write_is("truncated sequence at the end", "a\xe2\x82", 3, "\"a\xef\xbf\xbd\xef\xbf\xbd\"");

    /* Every byte string written parses back; valid UTF-8 comes back unchanged. */
    int all_ok = 1;
    unsigned seed = 12345;
    for (int iter = 0; iter < 2000 && all_ok; iter++) {
        char s[64];
        size_t n = (size_t)(iter % 64);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = (char)(seed >> 16);
        }
        size_t len;
        char *w = written(s, n, &len);
        char err[256];
        json_doc *d = w ? parse_n(w, len, err, sizeof err) : NULL;
        const json_value *r = json_root(d);
        if (!d || r->type != JSON_STRING || !json_utf8_valid(r->str, r->len)) all_ok = 0;
        else if (json_utf8_valid(s, n) && (r->len != n || memcmp(r->str, s, n) != 0)) all_ok = 0;
        json_free(d);
        free(w);
    }
    tap_check(all_ok, "write: 2000 random byte strings round-trip through the reader");

    /* All 256 single bytes. */
    int bytes_ok = 1;
    for (int c = 0; c < 256; c++) {
        char s[1] = {(char)c};
        size_t len;
        char *w = written(s, 1, &len);
        char err[256];
        json_doc *d = w ? parse_n(w, len, err, sizeof err) : NULL;
        const json_value *r = json_root(d);
        if (!d || r->type != JSON_STRING) bytes_ok = 0;
        else if (c < 0x80 && (r->len != 1 || r->str[0] != (char)c)) bytes_ok = 0;
        else if (c >= 0x80 && (r->len != 3 || memcmp(r->str, "\xef\xbf\xbd", 3) != 0)) bytes_ok = 0;
        json_free(d);
        free(w);
    }
    tap_check(bytes_ok, "write: every single byte round-trips (>= 0x80 as U+FFFD)");

    tap_check(json_utf8_valid("", 0) && json_utf8_valid("a\0b", 3) && json_utf8_valid("\xf4\x8f\xbf\xbf", 4) &&
                  !json_utf8_valid("\xf4\x90\x80\x80", 4) && !json_utf8_valid("\xed\xbf\xbf", 3) &&
                  !json_utf8_valid("\xe2\x82", 2) && !json_utf8_valid("\xc1\xbf", 2),
              "json_utf8_valid");
}

int main(void) {
    test_valid();
    test_strings();
    test_numbers();
    test_structure();
    test_write();
    return tap_exit();
}
