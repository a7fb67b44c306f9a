/* server_double.c: `gptoss serve` (the files of app/server/, unchanged) with a scripted engine in place of the
 * model, so tests can force the token stream: reasoning then an answer, tool calls, malformed
 * arguments, answers with stop strings.
 *
 *   SERVER_DOUBLE_SCRIPT=FILE server_double MODEL_NAME --tokenizer TOKENIZER [options of gptoss serve]
 *
 * FILE holds rules, one a line: "MATCH => RESPONSE". A sequence replays the RESPONSE of the first
 * rule whose MATCH occurs in the last message of its prompt (the one before the final
 * <|start|>assistant); MATCH "*" matches every prompt. RESPONSE is text with special-token literals
 * ("<|channel|>final<|message|>Hi<|return|>"; "\n" and "\\" are escapes), handed out one token per
 * step, then <|return|> forever. Blank lines and "#" lines are skipped. Every token fed back moves the
 * script on by one, so a token the server forces (the output constraint: tool_choice, a response
 * format, strict tools, the reasoning budget) takes the place of the script's, and a scripted token
 * the constraint's mask refuses is replaced (script_sample).
 * Tokens appended to a sequence that has begun (a tool's reply) choose its rule again.
 * SERVER_DOUBLE_DELAY_MS: a pause in every decode step (a slow model). SERVER_DOUBLE_LOG: every
 * prompt is appended to that file (decoded), followed by a line "----". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/common.h"
#include "server/server.h"

typedef struct rule {
    char *match;
    uint32_t *ids;
    size_t n;
} rule;

typedef struct seq {
    gptoss_tokens prompt; /* every token the slot holds: prompt, then the tokens fed back */
    const rule *r; /* chosen at the first sample */
    size_t pos;
} seq;

typedef struct script {
    const gptoss_tokenizer *tok;
    rule *rules;
    size_t n_rules;
    seq *seqs;
    uint32_t n;
    unsigned delay_ms;
    const char *log;
} script;

static void script_close(void *ctx) {
    script *s = ctx;
    for (size_t i = 0; i < s->n_rules; i++) {
        free(s->rules[i].match);
        free(s->rules[i].ids);
    }
    free(s->rules);
    for (uint32_t i = 0; i < s->n; i++) gptoss_tokens_free(&s->seqs[i].prompt);
    free(s->seqs);
    free(s);
}

static void script_reset(void *ctx, uint32_t slot) {
    script *s = ctx;
    s->seqs[slot].prompt.n = 0;
    s->seqs[slot].r = NULL;
    s->seqs[slot].pos = 0;
}

/* Prefix reuse: a slot keeps its tokens; a new sequence starts its script afresh. */
static int script_truncate(void *ctx, uint32_t slot, uint32_t n, char *err, size_t err_size) {
    script *s = ctx;
    seq *q = &s->seqs[slot];
    if (n > q->prompt.n) return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "server_double: bad truncate"), -1;
    q->prompt.n = n;
    q->r = NULL;
    q->pos = 0;
    return 0;
}

static int script_copy(void *ctx, uint32_t dst, uint32_t src, uint32_t n, char *err, size_t err_size) {
    script *s = ctx;
    seq *to = &s->seqs[dst];
    const seq *from = &s->seqs[src];
    if (n > from->prompt.n) return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "server_double: bad copy"), -1;
    to->prompt.n = 0;
    for (size_t i = 0; i < n; i++)
        if (gptoss_tokens_push(&to->prompt, from->prompt.ids[i]) != GPTOSS_OK)
            return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory"), -1;
    to->r = NULL;
    to->pos = 0;
    return 0;
}

/* Tokens appended after the sequence has sampled are a tool's reply (the browser run server-side): the
 * script starts again from the rule that matches the prompt as it now ends, the reply being its last
 * message, so a scenario can go search -> open -> answer. */
static int script_append(void *ctx, uint32_t slot, const uint32_t *ids, size_t n, char *err, size_t err_size) {
    script *s = ctx;
    if (s->seqs[slot].r) {
        s->seqs[slot].r = NULL;
        s->seqs[slot].pos = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (gptoss_tokens_push(&s->seqs[slot].prompt, ids[i]) != GPTOSS_OK)
            return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory"), -1;
    return 0;
}

/* Every token fed back moves its sequence one place on in its script, whether the script's token
 * was taken or the server forced another (tool_choice). */
static int script_step(void *ctx, const uint32_t *slots, const uint32_t *ids, size_t n, char *err, size_t err_size) {
    script *s = ctx;
    for (size_t i = 0; i < n; i++) {
        s->seqs[slots[i]].pos++;
        if (gptoss_tokens_push(&s->seqs[slots[i]].prompt, ids[i]) != GPTOSS_OK)
            return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory"), -1;
    }
    if (s->delay_ms) {
        struct timespec ts = {s->delay_ms / 1000, (long)(s->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void choose(script *s, seq *q) {
    char *text = NULL;
    size_t len = 0;
    if (gptoss_tokenizer_decode(s->tok, q->prompt.ids, q->prompt.n, &text, &len, NULL, 0) != GPTOSS_OK) return;
    if (s->log) {
        FILE *f = fopen(s->log, "ab");
        if (f) {
            fwrite(text, 1, len, f);
            fputs("\n----\n", f);
            fclose(f);
        }
    }
    /* The last message: from the last <|start|> before the final one up to the final one. */
    char *end = text + len;
    static const char start[] = "<|start|>";
    char *last_start = NULL, *prev_start = NULL;
    for (char *p = text; (p = strstr(p, start)) != NULL; p += sizeof start - 1) prev_start = last_start, last_start = p;
    const char *msg = prev_start ? prev_start : text;
    if (last_start) end = last_start;
    for (size_t i = 0; i < s->n_rules && !q->r; i++) {
        const char *m = s->rules[i].match;
        if (!strcmp(m, "*")) q->r = &s->rules[i];
        else {
            char saved = *end;
            *end = 0;
            if (strstr(msg, m)) q->r = &s->rules[i];
            *end = saved;
        }
    }
    free(text);
}

static int allowed(const uint32_t *bits, uint32_t id) { return !bits || (bits[id / 32] >> (id % 32)) & 1u; }

/* The script's token at the sequence's place; one the constraint's mask refuses is replaced by
 * <|end|>, <|call|> or else the lowest allowed id (at a header: the lowest of the alternatives' next
 * tokens, e.g. "comment" before "analysis", "_time" before "_weather"). A mask allowing nothing is an
 * error, as the real sampler's. */
static int script_sample(void *ctx, uint32_t slot, gptoss_sampler *sampler, const uint32_t *bits, uint32_t *out,
                         char *err, size_t err_size) {
    script *s = ctx;
    (void)sampler;
    seq *q = &s->seqs[slot];
    if (!q->r) choose(s, q);
    if (!q->r) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "server_double: no rule matches"), -1;
    *out = q->pos < q->r->n ? q->r->ids[q->pos] : GPTOSS_HARMONY_RETURN;
    if (allowed(bits, *out)) return 0;
    if (allowed(bits, GPTOSS_HARMONY_END)) *out = GPTOSS_HARMONY_END;
    else if (allowed(bits, GPTOSS_HARMONY_CALL)) *out = GPTOSS_HARMONY_CALL;
    else {
        uint32_t n = gptoss_tokenizer_n_vocab(s->tok);
        for (*out = 0; *out < n && !allowed(bits, *out); ++*out) {
        }
        if (*out == n) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "server_double: empty mask"), -1;
    }
    return 0;
}

static int add_rule(script *s, const char *line, size_t len, char *err, size_t err_size) {
    const char *sep = NULL;
    for (size_t i = 0; i + 4 <= len; i++)
        if (!memcmp(line + i, " => ", 4)) {
            sep = line + i;
            break;
        }
    if (!sep) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "server_double: a rule is 'MATCH => RESPONSE'"), -1;
    gptoss_buf text = {0};
    const char *resp = sep + 4;
    size_t rlen = len - (size_t)(resp - line);
    for (size_t i = 0; i < rlen; i++) {
        if (resp[i] == '\\' && i + 1 < rlen && (resp[i + 1] == 'n' || resp[i + 1] == '\\'))
            gptoss_buf_append(&text, resp[++i] == 'n' ? "\n" : "\\", 1);
        else gptoss_buf_append(&text, &resp[i], 1);
    }
    gptoss_tokens t = {0};
    rule *r = realloc(s->rules, (s->n_rules + 1) * sizeof *r);
    if (r) s->rules = r;
    if (!r || text.failed ||
        gptoss_tokenizer_encode(s->tok, text.data ? text.data : "", text.len, GPTOSS_TOKENIZER_SPECIAL_ALLOW, &t) !=
            GPTOSS_OK) {
        gptoss_buf_free(&text);
        gptoss_tokens_free(&t);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "server_double: cannot encode a response"), -1;
    }
    gptoss_buf_free(&text);
    s->rules[s->n_rules++] = (rule){strndup(line, (size_t)(sep - line)), t.ids, t.n};
    return 0;
}

static int script_open(const server_options *o, const gptoss_tokenizer *tok, server_engine *out, char *err,
                       size_t err_size) {
    const char *path = getenv("SERVER_DOUBLE_SCRIPT");
    if (!path) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "set SERVER_DOUBLE_SCRIPT"), -1;
    char *data = NULL;
    size_t len = 0;
    if (gptoss_read_file(path, (size_t)1 << 26, &data, &len, err, err_size) != GPTOSS_OK) return -1;
    script *s = calloc(1, sizeof *s);
    if (!s || !(s->seqs = calloc(o->parallel, sizeof *s->seqs))) {
        free(s);
        free(data);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory"), -1;
    }
    s->n = o->parallel;
    s->tok = tok;
    s->log = getenv("SERVER_DOUBLE_LOG");
    const char *d = getenv("SERVER_DOUBLE_DELAY_MS");
    s->delay_ms = d ? (unsigned)strtoul(d, NULL, 10) : 0;
    for (char *line = data; line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        if (n && line[n - 1] == '\r') n--;
        if (n && line[0] != '#' && add_rule(s, line, n, err, err_size) != 0) {
            free(data);
            script_close(s);
            return -1;
        }
        line = nl ? nl + 1 : data + len;
    }
    free(data);
    out->ctx = s;
    out->n_slots = o->parallel;
    out->n_ctx = o->ctx_size;
    out->reset = script_reset;
    out->truncate = script_truncate;
    out->copy = script_copy;
    out->append = script_append;
    out->step = script_step;
    out->sample = script_sample;
    out->close = script_close;
    return 0;
}

int main(int argc, char **argv) { return server_main(argc, argv, script_open); }
