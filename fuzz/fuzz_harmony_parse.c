/* fuzz_harmony_parse.c: libFuzzer target for harmony. The first byte picks the mode: bit 0 strict,
 * bit 1 starts the parser in a header (role assistant) instead of expecting <|start|>, bit 2 reads the
 * rest as conversation JSON instead of ids. Ids: two bytes each, mapped so that the format's special
 * ids, header words, reserved ids and ids outside the vocabulary come up often. Checks: lenient mode
 * never fails; strict errors are sticky; message text, content and deltas are valid UTF-8 and the
 * deltas of a message add up to its content; conversation JSON that loads renders, writes and reads
 * back to the same ids. Reads $GPTOSS_SHARED/vocab/o200k_base.tiktoken (default ../shared) once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "format/json.h"
#include "gptoss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gptoss_tokenizer *tok; /* loaded once, reachable until exit */

static gptoss_tokenizer *tokenizer(void) {
    if (tok) return tok;
    const char *shared = getenv("GPTOSS_SHARED");
    char path[4096], err[512] = "";
    snprintf(path, sizeof path, "%s/vocab/o200k_base.tiktoken", shared ? shared : "../shared");
    if (gptoss_tokenizer_load(path, &tok, err, sizeof err) != GPTOSS_OK) {
        fprintf(stderr, "fuzz_harmony_parse: %s\n", err);
        abort();
    }
    return tok;
}

/* The format's specials and the words headers are made of. */
static const uint32_t format_ids[] = {
    GPTOSS_HARMONY_START, GPTOSS_HARMONY_MESSAGE, GPTOSS_HARMONY_END, GPTOSS_HARMONY_CHANNEL,
    GPTOSS_HARMONY_CONSTRAIN, GPTOSS_HARMONY_RETURN, GPTOSS_HARMONY_CALL,
    173781 /* assistant */, 1428 /* user */, 35644 /* analysis */, 17196 /* final */, 12606 /* comment */,
    815 /* ary */, 316 /* " to" */, 28 /* = */, 44580 /* functions */, 4108 /* json */, 3490 /* " code" */,
    220 /* " " */, 46071 /* browser */, 9552, 31446, 244 /* pieces of UTF-8 characters */};

static uint32_t id_of(uint16_t v) {
    if ((v & 0xc000) == 0xc000) return format_ids[(v & 0x3fff) % (sizeof format_ids / sizeof format_ids[0])];
    if ((v & 0xc000) == 0x8000) return 199990u + (v & 0x3fff) % 1200u; /* specials, reserved, past the end */
    if (v == 0x7fff) return UINT32_MAX;
    return v;
}

static void check_utf8(const char *s, size_t n) {
    if (!json_utf8_valid(s, n)) abort();
}

static void fuzz_parser(const uint8_t *data, size_t size, int strict, gptoss_harmony_role role) {
    gptoss_harmony_parser *p = NULL;
    char err[256];
    if (gptoss_harmony_parser_create(tok, role, strict, &p, err, sizeof err) != GPTOSS_OK) abort();
    gptoss_buf deltas = {0};
    int failed = 0;
    size_t n_msgs = 0;
    for (size_t i = 0; i + 1 < size; i += 2) {
        uint32_t id = id_of((uint16_t)(data[i] | data[i + 1] << 8));
        int was_content = gptoss_harmony_parser_get_state(p) == GPTOSS_HARMONY_CONTENT;
        gptoss_status st = gptoss_harmony_parser_process(p, id);
        if (st != GPTOSS_OK) {
            if (!strict || st != GPTOSS_ERR_FORMAT) abort();
            if (!*gptoss_harmony_parser_error(p)) abort();
            failed = 1;
            break;
        }
        size_t n = gptoss_harmony_parser_n_messages(p);
        if (n < n_msgs) abort();
        if (n > n_msgs || !was_content) deltas.len = 0; /* a new message starts its deltas afresh */
        n_msgs = n;
        size_t len;
        const char *d = gptoss_harmony_parser_last_delta(p, &len);
        if (d) {
            check_utf8(d, len);
            gptoss_buf_append(&deltas, d, len);
        }
        const char *content = gptoss_harmony_parser_current_content(p, &len);
        check_utf8(content, len);
        if (gptoss_harmony_parser_get_state(p) == GPTOSS_HARMONY_CONTENT && was_content &&
            (deltas.len != len || (len && memcmp(deltas.data, content, len) != 0)))
            abort();
    }
    if (failed) {
        if (gptoss_harmony_parser_process(p, GPTOSS_HARMONY_START) != GPTOSS_ERR_FORMAT) abort();
    } else {
        gptoss_status st = gptoss_harmony_parser_process_eos(p);
        if (st != GPTOSS_OK && (!strict || st != GPTOSS_ERR_FORMAT)) abort();
    }
    for (size_t i = 0; i < gptoss_harmony_parser_n_messages(p); i++) {
        const gptoss_harmony_message *m = gptoss_harmony_parser_message(p, i);
        size_t len;
        const char *t = gptoss_harmony_message_text(m, &len);
        check_utf8(t, len);
        if (m->role == GPTOSS_HARMONY_ROLE_NONE) abort();
    }
    gptoss_buf_free(&deltas);
    gptoss_harmony_parser_free(p);
}

static void fuzz_json(const uint8_t *data, size_t size) {
    gptoss_harmony_conversation *c = NULL, *back = NULL;
    char err[256];
    if (gptoss_harmony_conversation_from_json((const char *)data, size, &c, err, sizeof err) != GPTOSS_OK) return;
    gptoss_tokens a = {0}, b = {0};
    char *json = NULL;
    gptoss_status st = gptoss_harmony_render_for_completion(tok, c, GPTOSS_HARMONY_ROLE_ASSISTANT,
                                                            GPTOSS_HARMONY_DROP_TURNS, &a, err, sizeof err);
    if (gptoss_harmony_conversation_to_json(c, &json, NULL) != GPTOSS_OK) abort();
    if (gptoss_harmony_conversation_from_json(json, strlen(json), &back, err, sizeof err) != GPTOSS_OK) abort();
    gptoss_status st2 = gptoss_harmony_render_for_completion(tok, back, GPTOSS_HARMONY_ROLE_ASSISTANT,
                                                             GPTOSS_HARMONY_DROP_TURNS, &b, err, sizeof err);
    if ((st == GPTOSS_OK) != (st2 == GPTOSS_OK)) abort();
    if (st == GPTOSS_OK && (a.n != b.n || memcmp(a.ids, b.ids, a.n * sizeof *a.ids) != 0)) abort();
    gptoss_tokens t = {0};
    gptoss_harmony_render_for_training(tok, c, GPTOSS_HARMONY_DROP_HARMONY, &t, err, sizeof err);
    gptoss_tokens_free(&t);
    gptoss_tokens_free(&a);
    gptoss_tokens_free(&b);
    free(json);
    gptoss_harmony_conversation_free(back);
    gptoss_harmony_conversation_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tokenizer();
    if (size == 0) return 0;
    int mode = data[0];
    if (mode & 4) {
        fuzz_json(data + 1, size - 1);
        return 0;
    }
    fuzz_parser(data + 1, size - 1, mode & 1, mode & 2 ? GPTOSS_HARMONY_ROLE_ASSISTANT : GPTOSS_HARMONY_ROLE_NONE);
    return 0;
}
