/* test_harmony.c: the harmony conformance data (shared/harmony): every render case must give exactly
 * expected_ids (and its test-data text), every parse case its messages, error or streaming fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "format/json.h"
#include "harmony/harmony.h"
#include "tap.h"

static gptoss_tokenizer *tok;
static char shared_dir[1024];

static char *slurp(const char *path, size_t *len) {
    char *data = NULL;
    size_t n = 0;
    if (gptoss_read_file(path, (size_t)1 << 30, &data, &n, NULL, 0) != GPTOSS_OK) return NULL;
    if (len) *len = n;
    return data;
}

static char *decode_ids(const uint32_t *ids, size_t n) {
    char *out = NULL;
    size_t len = 0;
    if (gptoss_tokenizer_decode(tok, ids, n, &out, &len, NULL, 0) != GPTOSS_OK) return NULL;
    return out;
}

/* Upstream reads test-data files with CRLF -> LF and trailing whitespace trimmed. */
static char *normalized_file(const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/harmony/%s", shared_dir, name);
    size_t n;
    char *s = slurp(path, &n);
    if (!s) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')) s[w++] = s[i];
    while (w > 0 && (s[w - 1] == ' ' || s[w - 1] == '\n' || s[w - 1] == '\t' || s[w - 1] == '\r')) w--;
    s[w] = 0;
    return s;
}

static int ids_equal(const gptoss_tokens *got, const json_value *want, const char *name) {
    size_t n = want ? want->n : 0;
    size_t i = 0;
    for (; i < n && i < got->n; i++)
        if (!want->items[i].is_uint || want->items[i].uint != got->ids[i]) break;
    if (i == n && n == got->n) return 1;
    tap_diag("%s: %zu ids, expected %zu; first difference at %zu (got %ld, want %ld)", name, got->n, n, i,
             i < got->n ? (long)got->ids[i] : -1L, i < n ? (long)want->items[i].uint : -1L);
    char *text = decode_ids(got->ids, got->n);
    if (text) tap_diag("rendered: %s", text);
    free(text);
    return 0;
}

static void render_case(const json_value *c) {
    const char *name = json_get_string(c, "name");
    const json_value *render = json_get(c, "render");
    const char *fn = json_get_string(render, "fn");
    const json_value *config = json_get(render, "config");
    gptoss_harmony_drop drop = json_is_true(json_get(config, "auto_drop_analysis")) ? GPTOSS_HARMONY_DROP_HARMONY
                                                                                    : GPTOSS_HARMONY_DROP_NONE;
    gptoss_buf mj = {0};
    json_write_value(&mj, json_get(c, "messages"));
    char err[256] = "";
    gptoss_harmony_conversation *conv = NULL;
    gptoss_status st = gptoss_harmony_conversation_from_json(mj.data, mj.len, &conv, err, sizeof err);
    gptoss_buf_free(&mj);
    if (st != GPTOSS_OK) {
        tap_check(0, "render %s: conversation JSON (%s)", name, err);
        return;
    }
    gptoss_tokens out = {0};
    if (!strcmp(fn, "render_conversation_for_completion")) {
        const char *next = json_get_string(render, "next_turn_role");
        st = gptoss_harmony_render_for_completion(tok, conv, gptoss_harmony_role_from_name(next ? next : "assistant"),
                                                  drop, &out, err, sizeof err);
    } else if (!strcmp(fn, "render_conversation")) {
        st = gptoss_harmony_render_conversation(tok, conv, drop, &out, err, sizeof err);
    } else if (!strcmp(fn, "render_conversation_for_training")) {
        st = gptoss_harmony_render_for_training(tok, conv, drop, &out, err, sizeof err);
    } else if (!strcmp(fn, "render")) {
        st = gptoss_harmony_render_message(tok, gptoss_harmony_conversation_get(conv, 0), 0, &out, err, sizeof err);
        if (st == GPTOSS_OK && json_is_true(json_get(render, "drop_last_token")) && out.n) out.n--;
    } else {
        snprintf(err, sizeof err, "unknown render fn %s", fn ? fn : "(none)");
        st = GPTOSS_ERR_INVALID_ARGUMENT;
    }
    if (st != GPTOSS_OK) {
        tap_check(0, "render %s: %s", name, err);
    } else {
        tap_check(ids_equal(&out, json_get(c, "expected_ids"), name), "render %s: exact expected_ids (%zu ids)", name,
                  out.n);
        char *text = decode_ids(out.ids, out.n);
        const char *want = json_get_string(c, "expected_text");
        tap_check(text && want && !strcmp(text, want), "render %s: decodes to expected_text", name);
        /* The upstream file, where there is one, must agree too. */
        const char *from = json_get_string(c, "expected_from");
        if (text && from && !strncmp(from, "test-data/", 10)) {
            char *file = normalized_file(from);
            if (file) {
                size_t tl = strlen(text);
                while (tl > 0 && (text[tl - 1] == ' ' || text[tl - 1] == '\n')) text[--tl] = 0;
                tap_check(!strcmp(text, file), "render %s: matches %s", name, from);
            }
            free(file);
        }
        free(text);
        /* Written out and read back, the conversation renders the same ids. */
        char *json = NULL;
        gptoss_harmony_conversation *back = NULL;
        gptoss_tokens again = {0};
        int same = gptoss_harmony_conversation_to_json(conv, &json, NULL) == GPTOSS_OK &&
                   gptoss_harmony_conversation_from_json(json, strlen(json), &back, err, sizeof err) == GPTOSS_OK;
        if (same && !strcmp(fn, "render")) {
            same = gptoss_harmony_render_message(tok, gptoss_harmony_conversation_get(back, 0), 0, &again, err,
                                                 sizeof err) == GPTOSS_OK;
            if (same && json_is_true(json_get(render, "drop_last_token")) && again.n) again.n--;
        } else if (same && !strcmp(fn, "render_conversation_for_training")) {
            same = gptoss_harmony_render_for_training(tok, back, drop, &again, err, sizeof err) == GPTOSS_OK;
        } else if (same && !strcmp(fn, "render_conversation")) {
            same = gptoss_harmony_render_conversation(tok, back, drop, &again, err, sizeof err) == GPTOSS_OK;
        } else if (same) {
            same = gptoss_harmony_render_for_completion(tok, back, GPTOSS_HARMONY_ROLE_ASSISTANT, drop, &again, err,
                                                        sizeof err) == GPTOSS_OK;
        }
        same = same && out.n > 0 && again.n == out.n && !memcmp(again.ids, out.ids, out.n * sizeof *out.ids);
        tap_check(same, "render %s: conversation JSON written and read back renders the same", name);
        gptoss_tokens_free(&again);
        gptoss_harmony_conversation_free(back);
        free(json);
    }
    gptoss_tokens_free(&out);
    gptoss_harmony_conversation_free(conv);
}

static int str_eq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static int message_equal(const gptoss_harmony_message *got, const gptoss_harmony_message *want, const char *name,
                         size_t i) {
    size_t gl, wl;
    const char *gt = gptoss_harmony_message_text(got, &gl);
    const char *wt = gptoss_harmony_message_text(want, &wl);
    int ok = got->role == want->role && str_eq(got->name, want->name) && str_eq(got->channel, want->channel) &&
             str_eq(got->recipient, want->recipient) && str_eq(got->content_type, want->content_type) && gl == wl &&
             !memcmp(gt, wt, gl);
    if (!ok)
        tap_diag("%s message %zu: got {%s name=%s channel=%s recipient=%s type=%s text=\"%.*s\"}, want {%s name=%s "
                 "channel=%s recipient=%s type=%s text=\"%.*s\"}",
                 name, i, gptoss_harmony_role_name(got->role), got->name ? got->name : "-",
                 got->channel ? got->channel : "-", got->recipient ? got->recipient : "-",
                 got->content_type ? got->content_type : "-", (int)gl, gt, gptoss_harmony_role_name(want->role),
                 want->name ? want->name : "-", want->channel ? want->channel : "-",
                 want->recipient ? want->recipient : "-", want->content_type ? want->content_type : "-", (int)wl, wt);
    return ok;
}

static gptoss_harmony_conversation *messages_of(const json_value *list) {
    gptoss_buf b = {0};
    json_write_value(&b, list);
    gptoss_harmony_conversation *conv = NULL;
    char err[256];
    if (gptoss_harmony_conversation_from_json(b.data, b.len, &conv, err, sizeof err) != GPTOSS_OK) {
        tap_diag("expected messages do not load: %s", err);
        conv = NULL;
    }
    gptoss_buf_free(&b);
    return conv;
}

static int messages_equal(const gptoss_harmony_parser *p, const json_value *list, const char *name) {
    gptoss_harmony_conversation *want = messages_of(list);
    if (!want) return 0;
    size_t n = gptoss_harmony_conversation_size(want);
    int ok = n == gptoss_harmony_parser_n_messages(p);
    if (!ok) tap_diag("%s: %zu messages, expected %zu", name, gptoss_harmony_parser_n_messages(p), n);
    for (size_t i = 0; ok && i < n; i++)
        ok = message_equal(gptoss_harmony_parser_message(p, i), gptoss_harmony_conversation_get(want, i), name, i);
    gptoss_harmony_conversation_free(want);
    return ok;
}

static int delta_is(const gptoss_harmony_parser *p, const json_value *want) {
    size_t len;
    const char *d = gptoss_harmony_parser_last_delta(p, &len);
    if (!want || want->type == JSON_NULL) return d == NULL;
    return d && want->type == JSON_STRING && len == want->len && !memcmp(d, want->str, len);
}

static int content_is(const gptoss_harmony_parser *p, const json_value *want) {
    size_t len;
    const char *c = gptoss_harmony_parser_current_content(p, &len);
    return want && want->type == JSON_STRING && len == want->len && !memcmp(c, want->str, len);
}

static void parse_case(const json_value *c) {
    const char *name = json_get_string(c, "name");
    const char *role_name = json_get_string(c, "role");
    const char *mode = json_get_string(c, "mode");
    int batch = mode && !strcmp(mode, "batch");
    int strict = json_is_true(json_get(c, "strict"));
    const json_value *tokens = json_get(c, "tokens");
    const json_value *expected = json_get(c, "expected");
    gptoss_harmony_parser *p = NULL;
    char err[256];
    gptoss_harmony_role role = role_name ? gptoss_harmony_role_from_name(role_name) : GPTOSS_HARMONY_ROLE_NONE;
    if (gptoss_harmony_parser_create(tok, role, strict, &p, err, sizeof err) != GPTOSS_OK) {
        tap_check(0, "parse %s: create (%s)", name, err);
        return;
    }
    gptoss_buf deltas = {0};
    gptoss_buf per_token = {0}; /* deltas after each content token, as JSON */
    gptoss_status st = GPTOSS_OK;
    for (size_t i = 0; i < tokens->n && st == GPTOSS_OK; i++) {
        uint32_t id = tokens->items[i].is_uint && tokens->items[i].uint <= UINT32_MAX ? (uint32_t)tokens->items[i].uint
                                                                                        : UINT32_MAX;
        int in_content = gptoss_harmony_parser_get_state(p) == GPTOSS_HARMONY_CONTENT &&
                         id != GPTOSS_HARMONY_END && id != GPTOSS_HARMONY_RETURN && id != GPTOSS_HARMONY_CALL;
        st = gptoss_harmony_parser_process(p, id);
        size_t len;
        const char *d = gptoss_harmony_parser_last_delta(p, &len);
        if (d) gptoss_buf_append(&deltas, d, len);
        if (in_content) {
            gptoss_buf_puts(&per_token, per_token.len ? "," : "[");
            if (d) json_write_string(&per_token, d, len);
            else gptoss_buf_puts(&per_token, "null");
        }
    }
    gptoss_buf_puts(&per_token, per_token.len ? "]" : "[]");
    if (st == GPTOSS_OK && (batch || json_is_true(json_get(c, "process_eos")))) st = gptoss_harmony_parser_process_eos(p);

    const json_value *want_error = json_get(expected, "error");
    if (want_error) {
        const char *e = gptoss_harmony_parser_error(p);
        int ok = st != GPTOSS_OK &&
                 (!strcmp(want_error->str, "any error") || strstr(e, want_error->str) != NULL);
        if (!ok) tap_diag("%s: status %s, error \"%s\"", name, gptoss_status_string(st), e);
        tap_check(ok, "parse %s: fails with \"%s\"", name, want_error->str);
        goto done;
    }
    if (!tap_check(st == GPTOSS_OK, "parse %s: no error", name)) {
        tap_diag("error: %s", gptoss_harmony_parser_error(p));
        goto done;
    }
    const json_value *v;
    if ((v = json_get(expected, "messages"))) tap_check(messages_equal(p, v, name), "parse %s: messages", name);
    if ((v = json_get(expected, "message_count")))
        tap_check(gptoss_harmony_parser_n_messages(p) == v->uint, "parse %s: %llu messages", name,
                  (unsigned long long)v->uint);
    if ((v = json_get(expected, "message_1"))) {
        gptoss_buf one = {0};
        gptoss_buf_puts(&one, "[");
        json_write_value(&one, v);
        gptoss_buf_puts(&one, "]");
        json_doc *d = json_parse(one.data, one.len, NULL, 0);
        gptoss_harmony_conversation *w = d ? messages_of(json_root(d)) : NULL;
        const gptoss_harmony_message *got = gptoss_harmony_parser_message(p, 1);
        tap_check(w && got && message_equal(got, gptoss_harmony_conversation_get(w, 0), name, 1),
                  "parse %s: message 1", name);
        gptoss_harmony_conversation_free(w);
        json_free(d);
        gptoss_buf_free(&one);
    }
    if ((v = json_get(expected, "current_content"))) tap_check(content_is(p, v), "parse %s: current_content", name);
    if ((v = json_get(expected, "content_deltas_concat")))
        tap_check(deltas.len == v->len && (!v->len || !memcmp(deltas.data, v->str, v->len)),
                  "parse %s: content deltas concatenate to the content", name);
    if (json_get(expected, "last_content_delta"))
        tap_check(delta_is(p, json_get(expected, "last_content_delta")), "parse %s: last_content_delta", name);
    if ((v = json_get(expected, "deltas_after_each_content_token"))) {
        gptoss_buf w = {0};
        json_write_value(&w, v);
        int ok = gptoss_buf_cstr(&w) && gptoss_buf_cstr(&per_token) && !strcmp(w.data, per_token.data);
        if (!ok) tap_diag("deltas %s, expected %s", per_token.data, w.data);
        tap_check(ok, "parse %s: delta after each content token", name);
        gptoss_buf_free(&w);
    }
    if ((v = json_get(expected, "then_process"))) {
        st = GPTOSS_OK;
        for (size_t i = 0; i < v->n && st == GPTOSS_OK; i++) st = gptoss_harmony_parser_process(p, (uint32_t)v->items[i].uint);
        tap_check(st == GPTOSS_OK && delta_is(p, json_get(expected, "then_last_delta")), "parse %s: then last delta",
                  name);
        tap_check(content_is(p, json_get(expected, "then_current_content")), "parse %s: then current content", name);
    }
done:
    gptoss_buf_free(&deltas);
    gptoss_buf_free(&per_token);
    gptoss_harmony_parser_free(p);
}

typedef void (*case_fn)(const json_value *);

static size_t each_case(const char *file, case_fn fn) {
    char path[2048];
    snprintf(path, sizeof path, "%s/harmony/%s", shared_dir, file);
    size_t n;
    char *text = slurp(path, &n);
    if (!text) {
        tap_check(0, "read %s", path);
        return 0;
    }
    size_t count = 0;
    for (char *line = text; line < text + n;) {
        char *nl = memchr(line, '\n', (size_t)(text + n - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(text + n - line);
        if (len) {
            char err[256];
            json_doc *d = json_parse(line, len, err, sizeof err);
            if (tap_check(d != NULL, "%s case %zu parses", file, count + 1)) fn(json_root(d));
            json_free(d);
            count++;
        }
        line += len + 1;
    }
    free(text);
    return count;
}

int main(void) {
    snprintf(shared_dir, sizeof shared_dir, "%s", tap_shared_dir());
    char path[4096], err[256] = "";
    if (!tap_shared_path("harmony conformance", "vocab/tokenizer.json", path, sizeof path) ||
        !tap_shared_path("harmony conformance", "harmony/render_cases.jsonl", path, sizeof path) ||
        !tap_shared_path("harmony conformance", "harmony/parse_cases.jsonl", path, sizeof path))
        return 0;
    snprintf(path, sizeof path, "%s/vocab/tokenizer.json", shared_dir);
    if (!tap_check(gptoss_tokenizer_load(path, &tok, err, sizeof err) == GPTOSS_OK, "load %s (%s)", path, err))
        return tap_exit();
    size_t nr = each_case("render_cases.jsonl", render_case);
    tap_check(nr == 23, "23 render cases (%zu)", nr);
    size_t np = each_case("parse_cases.jsonl", parse_case);
    tap_check(np == 27, "27 parse cases (%zu)", np);
    gptoss_tokenizer_free(tok);
    return tap_exit();
}
