/* chat_double.c: `gptoss chat` / `gptoss run` (app/chat/chat.c, unchanged) with a scripted token source in
 * place of the model, so tests can drive tool calls, history and Ctrl-C with output that random
 * weights never produce.
 *
 *   chat_double chat|run SCRIPT [options of gptoss chat / run]
 *
 * SCRIPT holds one model response per line, written as text with special-token literals
 * ("<|channel|>final<|message|>Hi<|return|>"; "\n" and "\\" are escapes). Each new prompt starts the
 * next response; tokens are handed out one at a time. Blank lines and "#" lines are skipped, except
 * "#delay MS", which pauses before each token of the responses that follow, and "#hold N" (0: off),
 * which makes the responses that follow stop before their N-th token (counted from 0) until Ctrl-C
 * (SIGINT) or SIGTERM arrives, as a model too slow ever to finish would: a test can interrupt such an
 * answer whenever it gets to it. With CHAT_DOUBLE_LOG set, every prompt is appended to that file
 * (decoded), followed by a line "----", and a response that reaches its hold appends "#held N", so a
 * test knows N tokens were written before it signals. With CHAT_DOUBLE_REUSE set, each new prompt
 * appends a line "SHARED HELD N" to that file: N ids, the first SHARED of them the same as the HELD ids
 * the double had been given and written before (0 0 N for the first): a prompt after a tool result
 * with SHARED = HELD extends what a model's session holds, so nothing is computed again.
 * Under a constraint (--json-schema, --reasoning-budget, strict tools) the script is what the model
 * would prefer: a forced token that is the script's next one uses it up, any other forced token is
 * inserted before it; where the constraint masks, script tokens it does not allow are skipped (a
 * script that runs out ends with <|return|>, or the lowest allowed id when that is not allowed).
 * With --browser (and a corpus) the calls the script makes are run by the real browser tool, with
 * --python by the real python tool (in its sandbox). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/common.h"
#include "chat/chat.h"

typedef struct response {
    uint32_t *ids;
    size_t n;
    unsigned delay_ms;
    size_t hold; /* 0, or the token before which it waits for Ctrl-C */
} response;

typedef struct script {
    const gptoss_tokenizer *tok;
    response *r;
    size_t n_r;
    size_t cur, pos; /* response being replayed, next token in it */
    int started;
    uint32_t *last;  /* the previous call's ids plus the token it returned */
    size_t n_last;
    const char *log;
    const char *reuse_log; /* CHAT_DOUBLE_REUSE */
    int chained; /* on_sigint is installed in front of chat's handler */
} script;

/* SIGINT and SIGTERM: noted here for #hold, then handed to chat's own handler of that signal
 * (installed after script_open). */
static volatile sig_atomic_t g_sigint;
static struct sigaction g_chat_sigint, g_chat_sigterm;
static void on_sigint(int sig) {
    const struct sigaction *chat = sig == SIGTERM ? &g_chat_sigterm : &g_chat_sigint;
    g_sigint = 1;
    if (chat->sa_handler != SIG_DFL && chat->sa_handler != SIG_IGN) chat->sa_handler(sig);
    else if (chat->sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/* Installed at the first token, long before any hold, so a Ctrl-C that chat sees is seen here too. */
static void chain_sigint(script *s) {
    if (s->chained) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_sigint;
    if (sigaction(SIGINT, &sa, &g_chat_sigint) == 0 && sigaction(SIGTERM, &sa, &g_chat_sigterm) == 0) s->chained = 1;
}

static void script_close(void *ctx) {
    script *s = ctx;
    for (size_t i = 0; i < s->n_r; i++) free(s->r[i].ids);
    free(s->r);
    free(s->last);
    free(s);
}

/* A continuation is the previous ids plus the token handed out; anything else is a new prompt. */
static int is_continuation(const script *s, const uint32_t *ids, size_t n) {
    return s->started && n == s->n_last && !memcmp(ids, s->last, n * sizeof *ids);
}

static void log_prompt(const script *s, const uint32_t *ids, size_t n) {
    if (!s->log) return;
    FILE *f = fopen(s->log, "ab");
    if (!f) return;
    char *text = NULL;
    size_t len = 0;
    if (gptoss_tokenizer_decode(s->tok, ids, n, &text, &len, NULL, 0) == GPTOSS_OK) fwrite(text, 1, len, f);
    free(text);
    fputs("\n----\n", f);
    fclose(f);
}

static void log_reuse(const script *s, const uint32_t *ids, size_t n) {
    if (!s->reuse_log) return;
    FILE *f = fopen(s->reuse_log, "ab");
    if (!f) return;
    size_t held = s->started ? s->n_last : 0, shared = 0;
    while (shared < held && shared < n && ids[shared] == s->last[shared]) shared++;
    fprintf(f, "%zu %zu %zu\n", shared, held, n);
    fclose(f);
}

static int allows(const gptoss_constraint_next *a, uint32_t id) {
    if (!a || a->kind == GPTOSS_NEXT_ANY) return 1;
    if (a->kind == GPTOSS_NEXT_FORCED) return a->id == id;
    return a->bits[id / 32] >> (id % 32) & 1u;
}

/* The token after the script's position under `allowed`, moving the position past what it uses or
 * skips. */
static uint32_t scripted(script *s, const response *r, const gptoss_constraint_next *allowed) {
    if (allowed && allowed->kind == GPTOSS_NEXT_FORCED) {
        if (s->pos < r->n && r->ids[s->pos] == allowed->id) s->pos++;
        return allowed->id;
    }
    while (s->pos < r->n && !allows(allowed, r->ids[s->pos])) s->pos++;
    if (s->pos < r->n) return r->ids[s->pos++];
    if (allows(allowed, GPTOSS_HARMONY_RETURN)) return GPTOSS_HARMONY_RETURN;
    for (uint32_t id = 0; id < gptoss_tokenizer_n_vocab(s->tok); id++)
        if (allows(allowed, id)) return id;
    return GPTOSS_HARMONY_RETURN;
}

static int script_next(void *ctx, const uint32_t *ids, size_t n, const gptoss_constraint_next *allowed, uint32_t *out,
                       char *err, size_t err_size) {
    script *s = ctx;
    if (!is_continuation(s, ids, n)) {
        log_reuse(s, ids, n);
        if (s->started) s->cur++;
        s->started = 1;
        s->pos = 0;
        log_prompt(s, ids, n);
    }
    if (s->cur >= s->n_r) {
        gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "chat_double: the script has no more responses");
        s->started = 0; /* a later prompt fails the same way */
        return -1;
    }
    const response *r = &s->r[s->cur];
    chain_sigint(s);
    if (s->pos == 0) g_sigint = 0; /* a Ctrl-C before this answer does not end its hold */
    if (r->hold && s->pos == r->hold) {
        if (s->log) {
            FILE *f = fopen(s->log, "ab");
            if (f) {
                fprintf(f, "#held %zu\n", r->hold);
                fclose(f);
            }
        }
        while (!g_sigint) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (r->delay_ms) {
        struct timespec ts = {r->delay_ms / 1000, (long)(r->delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL); /* Ctrl-C cuts it short, as it would a slow model */
    }
    *out = scripted(s, r, allowed);
    uint32_t *l = realloc(s->last, (n + 1) * sizeof *l);
    if (!l) {
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        return -1;
    }
    memcpy(l, ids, n * sizeof *ids);
    l[n] = *out;
    s->last = l;
    s->n_last = n + 1;
    return 0;
}

static int add_response(script *s, const char *line, size_t len, unsigned delay, size_t hold, char *err,
                        size_t err_size) {
    gptoss_buf text = {0};
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '\\' && i + 1 < len && (line[i + 1] == 'n' || line[i + 1] == '\\')) {
            gptoss_buf_append(&text, line[++i] == 'n' ? "\n" : "\\", 1);
        } else {
            gptoss_buf_append(&text, &line[i], 1);
        }
    }
    gptoss_tokens t = {0};
    response *r = realloc(s->r, (s->n_r + 1) * sizeof *r);
    if (!r || text.failed ||
        gptoss_tokenizer_encode(s->tok, text.data ? text.data : "", text.len, GPTOSS_TOKENIZER_SPECIAL_ALLOW, &t) !=
            GPTOSS_OK) {
        if (r) s->r = r;
        gptoss_buf_free(&text);
        gptoss_tokens_free(&t);
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "chat_double: cannot encode a response");
        return -1;
    }
    s->r = r;
    s->r[s->n_r++] = (response){t.ids, t.n, delay, hold};
    gptoss_buf_free(&text);
    return 0;
}

static int script_open(const char *path, const chat_settings *settings, const gptoss_tokenizer *tok, chat_source *out,
                       char *err, size_t err_size) {
    char *data = NULL;
    size_t len = 0;
    if (gptoss_read_file(path, (size_t)1 << 26, &data, &len, err, err_size) != GPTOSS_OK) return -1;
    script *s = calloc(1, sizeof *s);
    if (!s) {
        free(data);
        return -1;
    }
    s->tok = tok;
    s->log = getenv("CHAT_DOUBLE_LOG");
    s->reuse_log = getenv("CHAT_DOUBLE_REUSE");
    unsigned delay = 0;
    size_t hold = 0;
    for (char *line = data; line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(data + len - line);
        if (n && line[n - 1] == '\r') n--;
        if (n >= 7 && !strncmp(line, "#delay ", 7)) {
            delay = (unsigned)strtoul(line + 7, NULL, 10);
        } else if (n >= 6 && !strncmp(line, "#hold ", 6)) {
            hold = (size_t)strtoul(line + 6, NULL, 10);
        } else if (n && line[0] != '#' && add_response(s, line, n, delay, hold, err, err_size) != 0) {
            free(data);
            script_close(s);
            return -1;
        }
        line = nl ? nl + 1 : data + len;
    }
    free(data);
    out->ctx = s;
    out->next = script_next;
    out->close = script_close;
    out->n_ctx = settings->n_ctx;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "chat") != 0 && strcmp(argv[1], "run") != 0)) {
        fprintf(stderr, "usage: chat_double chat|run SCRIPT [options of gptoss chat / run]\n");
        return 2;
    }
    return chat_main(argc - 1, argv + 1, !strcmp(argv[1], "run"), script_open);
}
