/* chat.c: `gptoss chat` (interactive, streaming) and `gptoss run` (one shot) on top of harmony: the
 * prompt (system, developer with function tools, history), the generation loop with its display, the
 * tool-call loop, slash commands and line input. Tokens come from a chat_source, so tests can replay a
 * scripted stream through exactly this code. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef GPTOSS_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "base/common.h"
#include "chat/chat.h"
#include "cli/cli.h"
#include "cli/cli_browser.h"
#include "format/json.h"
#include "harmony/harmony.h"

/* --max-tool-calls: room for a browsing turn (a few searches, opens and finds per question) while a
 * model that keeps calling cannot hold the turn for good. */
#define DEFAULT_MAX_TOOL_CALLS 32
/* The longest citation 【{cursor}†L{a}-L{b}】 (or 【{cursor}†...】 with a domain) held back from the
 * screen until it is complete: a longer run of text after 【 is shown as it is. */
#define CITE_HOLD_MAX 256

/* Both stop an answer (Ctrl-C, SIGINT); SIGTERM also ends the session once what was generated is
 * shown (and, for run --json, printed). */
static volatile sig_atomic_t g_interrupted, g_terminated;

static void on_signal(int sig) {
    g_interrupted = 1;
    if (sig == SIGTERM) g_terminated = 1;
}

/* An answer's length when --max-tokens is not given: room for low-effort reasoning and an answer,
 * while a model that never stops does not run on until the context is full. */
#define DEFAULT_MAX_TOKENS 4096
/* --tool-timeout: long enough for a web request or a build step, short enough that a hung tool
 * does not hold the chat for good. */
#define DEFAULT_TOOL_TIMEOUT_S 60

typedef enum kind { K_FINAL, K_REASONING, K_PREAMBLE, K_CALL } kind;

typedef struct chat {
    int one_shot;
    const char *model_path, *tok_path;
    chat_settings settings;
    gptoss_harmony_effort effort;
    const char *identity;
    int identity_set;
    const char *instructions;
    char date[32];
    gptoss_harmony_tool *tools;
    size_t n_tools;
    int *strict; /* per tool: "strict": true, its arguments follow its parameters */
    /* constrained generation: --json-schema / --json-object, --reasoning-budget, strict tools */
    const char *schema_path;
    int json_object, limit_reasoning;
    uint32_t reasoning_budget;
    char *response_format; /* the developer message's "# Response Formats" section, or NULL */
    gptoss_grammar_vocab *gvocab;
    gptoss_grammar *final_grammar;
    gptoss_grammar **tool_grammars;
    gptoss_constraint *constraint; /* NULL: generation is free */
    const char *tool_exec;
    uint32_t tool_timeout_s; /* --tool-timeout */
    uint32_t max_tool_calls; /* --max-tool-calls: tool calls run per turn */
    /* --browser: the browser tool, one per conversation (its page stack is what citations point to) */
    cli_browser_options browser_opts;
    cli_browser_source *browser_src;
    gptoss_browser *browser;
    int links_osc8; /* citations become OSC 8 hyperlinks (a colour terminal) rather than "(URL)" */
    char cite[CITE_HOLD_MAX]; /* a citation of the final answer being held back */
    size_t cite_len;
    int hide_reasoning, show_reasoning, json_out, verbose, color_out, color_err;
    uint32_t max_tokens;
    const char *prompt;
    gptoss_tokenizer *tok;
    chat_source src;
    int src_open;
    gptoss_harmony_conversation *hist;
    gptoss_harmony_parser *parser;
    gptoss_tokens ids;
    /* display */
    int input_interrupted; /* the last read_line ended with Ctrl-C */
    int streaming;     /* the parser's current message is being shown */
    kind stream_kind;
    int line_start[2]; /* stdout, stderr: at the start of a line */
} chat;

/* ---- output --------------------------------------------------------------------------------- */

/* Where a kind of text goes: 0 stdout, 1 stderr, -1 nowhere. */
static int stream_of(const chat *c, kind k) {
    if (c->one_shot) {
        if (c->json_out) return -1;
        if (k == K_FINAL) return 0;
        return c->show_reasoning ? 1 : -1;
    }
    if (k == K_REASONING && c->hide_reasoning) return -1;
    return 0;
}

static void out_write(chat *c, int s, int dim, const char *text, size_t len) {
    if (s < 0 || !len) return;
    FILE *f = s ? stderr : stdout;
    int color = s ? c->color_err : c->color_out;
    if (dim && color) fputs("\033[2m", f);
    fwrite(text, 1, len, f);
    if (dim && color) fputs("\033[0m", f);
    c->line_start[s] = text[len - 1] == '\n';
    fflush(f);
}

static void out_puts(chat *c, int s, int dim, const char *text) { out_write(c, s, dim, text, strlen(text)); }

static void out_newline(chat *c, int s) {
    if (s >= 0 && !c->line_start[s]) out_write(c, s, 0, "\n", 1);
}

/* ---- citations ------------------------------------------------------------------------------- */

/* With --browser the final answer's citations 【{cursor}†L{a}-L{b}】 are shown as links to the pages
 * they cite: each is held back (in c->cite, no allocation) from its 【 until its 】, then written with
 * the page's URL. A URL with control characters (from a hostile page) is not written at all. */
static const char CITE_OPEN[] = "\343\200\220", CITE_CLOSE[] = "\343\200\221";

static int url_printable(const char *u) {
    for (; *u; u++)
        if ((unsigned char)*u < 0x20 || *u == 0x7f) return 0;
    return 1;
}

static void cite_flush(chat *c, int s) {
    size_t n = c->cite_len;
    c->cite_len = 0;
    if (!n) return;
    const char *url = NULL;
    if (n > 6 && !memcmp(c->cite + n - 3, CITE_CLOSE, 3)) url = gptoss_browser_citation_url(c->browser, c->cite, n);
    if (url && !url_printable(url)) url = NULL;
    if (url && c->links_osc8) {
        /* OSC 8: the citation itself is the link, as terminals that know hyperlinks show them; the
         * others ignore the sequence and show the citation. */
        out_puts(c, s, 0, "\033]8;;");
        out_puts(c, s, 0, url);
        out_puts(c, s, 0, "\033\\");
        out_write(c, s, 0, c->cite, n);
        out_puts(c, s, 0, "\033]8;;\033\\");
    } else {
        out_write(c, s, 0, c->cite, n);
        if (url) {
            out_puts(c, s, 0, " (");
            out_puts(c, s, 0, url);
            out_puts(c, s, 0, ")");
        }
    }
}

/* Writes final-answer text, holding back what may be the start of a citation. */
static void cite_feed(chat *c, int s, const char *text, size_t len) {
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (!c->cite_len) {
            if ((unsigned char)text[i] != 0xE3) continue;
            out_write(c, s, 0, text + start, i - start);
            c->cite[c->cite_len++] = text[i];
            start = i + 1;
            continue;
        }
        c->cite[c->cite_len++] = text[i];
        start = i + 1;
        size_t n = c->cite_len;
        if (n <= 3 ? memcmp(c->cite, CITE_OPEN, n) != 0 : text[i] == '\n' || n == sizeof c->cite)
            cite_flush(c, s); /* not a citation after all: shown as it is */
        else if (n > 6 && !memcmp(c->cite + n - 3, CITE_CLOSE, 3))
            cite_flush(c, s);
        else if (n > 3 && !memcmp(c->cite + n - 3, CITE_OPEN, 3)) {
            /* "【【1†L2】": what came before the second 【 is no citation; the second may be one */
            out_write(c, s, 0, c->cite, n - 3);
            memmove(c->cite, c->cite + n - 3, 3);
            c->cite_len = 3;
        }
    }
    if (!c->cite_len) out_write(c, s, 0, text + start, len - start);
}

/* Status lines of the chat itself ("[interrupted]", stats): dim, on their own line. */
static void note(chat *c, const char *fmt, ...) GPTOSS_PRINTF(2, 3);
static void note(chat *c, const char *fmt, ...) {
    int s = c->one_shot ? 1 : 0;
    if (c->one_shot && !c->verbose) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out_newline(c, s);
    out_puts(c, s, 1, buf);
    out_write(c, s, 0, "\n", 1);
}

static kind kind_of(gptoss_harmony_role role, const char *channel, const char *recipient) {
    if (role == GPTOSS_HARMONY_ROLE_ASSISTANT && recipient && strcmp(recipient, "assistant") != 0 &&
        strcmp(recipient, "all") != 0)
        return K_CALL;
    if (channel && !strcmp(channel, "analysis")) return K_REASONING;
    if (channel && !strcmp(channel, "commentary")) return K_PREAMBLE;
    return K_FINAL;
}

static int is_dim(kind k) { return k == K_REASONING || k == K_CALL; }

/* Text of a message of kind k, where its kind goes. */
static void out_text(chat *c, kind k, const char *text, size_t len) {
    int s = stream_of(c, k);
    if (k == K_FINAL && c->browser && s >= 0) cite_feed(c, s, text, len);
    else out_write(c, s, is_dim(k), text, len);
}

static void begin_message(chat *c, kind k, const char *recipient) {
    int s = stream_of(c, k);
    c->streaming = 1;
    c->stream_kind = k;
    if (s < 0) return;
    out_newline(c, s);
    if (k == K_REASONING) out_puts(c, s, 1, "[reasoning] ");
    else if (k == K_PREAMBLE) out_puts(c, s, 1, "[commentary] ");
    else if (k == K_CALL) {
        char label[512];
        snprintf(label, sizeof label, "[tool call %s] ", recipient ? recipient : "?");
        out_puts(c, s, 1, label);
    }
}

static void end_message(chat *c) {
    int s = stream_of(c, c->stream_kind);
    c->streaming = 0;
    if (s >= 0) cite_flush(c, s); /* an unfinished citation is shown as it is */
    /* A final answer on stdout in `run` ends with one newline; everything else gets its own line. */
    out_newline(c, s);
}

static void show_whole(chat *c, const gptoss_harmony_message *m) {
    size_t len;
    const char *text = gptoss_harmony_message_text(m, &len);
    kind k = kind_of(m->role, m->channel, m->recipient);
    begin_message(c, k, m->recipient);
    out_text(c, k, text, len);
    end_message(c);
}

/* After each token: show what the parser learned (a new message, a delta, messages it closed). */
static void show_progress(chat *c, size_t n_before) {
    gptoss_harmony_parser *p = c->parser;
    size_t n = gptoss_harmony_parser_n_messages(p);
    for (size_t i = n_before; i < n; i++) {
        if (i == n_before && c->streaming) end_message(c);
        else show_whole(c, gptoss_harmony_parser_message(p, i)); /* recovered without streaming */
    }
    if (gptoss_harmony_parser_get_state(p) != GPTOSS_HARMONY_CONTENT) return;
    if (!c->streaming)
        begin_message(c, kind_of(gptoss_harmony_parser_current_role(p), gptoss_harmony_parser_current_channel(p),
                                 gptoss_harmony_parser_current_recipient(p)),
                      gptoss_harmony_parser_current_recipient(p));
    size_t len;
    const char *d = gptoss_harmony_parser_last_delta(p, &len);
    if (d) out_text(c, c->stream_kind, d, len);
}

/* ---- prompt --------------------------------------------------------------------------------- */

/* The system and developer messages this session's settings make, then the history from `first`. */
static gptoss_harmony_conversation *conversation_from(chat *c, size_t first) {
    gptoss_harmony_conversation *conv = gptoss_harmony_conversation_create();
    if (!conv) return NULL;
    gptoss_harmony_system_content sc;
    gptoss_harmony_system_content_default(&sc);
    sc.reasoning_effort = c->effort;
    if (c->identity_set) sc.model_identity = c->identity && *c->identity ? c->identity : NULL;
    sc.conversation_start_date = c->date[0] ? c->date : NULL;
    /* The browser's namespace goes in the system message, as the trained block (harmony_tools.c). */
    gptoss_harmony_namespace browser_ns = {.name = "browser", .builtin = 1};
    if (c->browser) {
        sc.tools = &browser_ns;
        sc.n_tools = 1;
    }
    gptoss_harmony_content sys_part = {.kind = GPTOSS_HARMONY_CONTENT_SYSTEM, .system = &sc};
    gptoss_harmony_message sys = {.role = GPTOSS_HARMONY_ROLE_SYSTEM, .content = &sys_part, .n_content = 1};
    gptoss_status st = gptoss_harmony_conversation_append(conv, &sys);
    if (st == GPTOSS_OK && (c->instructions || c->n_tools || c->response_format)) {
        gptoss_harmony_namespace ns = {.name = "functions", .tools = c->tools, .n_tools = c->n_tools};
        gptoss_harmony_developer_content dc = {.instructions = c->instructions, .tools = c->n_tools ? &ns : NULL,
                                               .n_tools = c->n_tools ? 1 : 0};
        /* The response format follows the other sections, as harmony's format.md appends it. */
        const char *rf = c->response_format;
        if (rf && !c->instructions && !c->n_tools) rf += 2; /* no section before it: no blank line */
        gptoss_harmony_content dev_parts[2] = {{.kind = GPTOSS_HARMONY_CONTENT_DEVELOPER, .developer = &dc},
                                               {.kind = GPTOSS_HARMONY_CONTENT_TEXT, .text = rf,
                                                .text_len = rf ? strlen(rf) : 0}};
        gptoss_harmony_message dev = {.role = GPTOSS_HARMONY_ROLE_DEVELOPER, .content = dev_parts,
                                      .n_content = rf ? 2 : 1};
        st = gptoss_harmony_conversation_append(conv, &dev);
    }
    for (size_t i = first; st == GPTOSS_OK && i < gptoss_harmony_conversation_size(c->hist); i++)
        st = gptoss_harmony_conversation_append(conv, gptoss_harmony_conversation_get(c->hist, i));
    if (st != GPTOSS_OK) {
        gptoss_harmony_conversation_free(conv);
        return NULL;
    }
    return conv;
}

static gptoss_harmony_conversation *full_conversation(chat *c) { return conversation_from(c, 0); }

/* The ids the model is given for the next assistant message, made from conversation_from(first). */
static int render_prompt(chat *c, size_t first, gptoss_tokens *out) {
    char err[512] = "";
    gptoss_harmony_conversation *conv = conversation_from(c, first);
    out->n = 0;
    if (!conv || gptoss_harmony_render_for_completion(c->tok, conv, GPTOSS_HARMONY_ROLE_ASSISTANT,
                                                      GPTOSS_HARMONY_DROP_TURNS, out, err, sizeof err) != GPTOSS_OK) {
        gptoss_harmony_conversation_free(conv);
        cli_error("%s", err[0] ? err : "out of memory");
        return 0;
    }
    gptoss_harmony_conversation_free(conv);
    return 1;
}

/* Where the current turn begins in the history: its last user message. */
static size_t turn_start(const chat *c) {
    size_t n = gptoss_harmony_conversation_size(c->hist);
    while (n && gptoss_harmony_conversation_get(c->hist, n - 1)->role != GPTOSS_HARMONY_ROLE_USER) n--;
    return n ? n - 1 : 0;
}

/* ---- generation ----------------------------------------------------------------------------- */

typedef enum gen_result { GEN_DONE, GEN_CALL, GEN_INTERRUPTED, GEN_LIMIT, GEN_ERROR } gen_result;

static int is_call_message(const gptoss_harmony_message *m) {
    return m && kind_of(m->role, m->channel, m->recipient) == K_CALL;
}

/* Samples one assistant turn (up to a stop token, a tool call, a limit or Ctrl-C), showing it as it
 * comes, and adds the messages to the history. */
/* The prompt leaves no room for an answer. Chat drops the turn (kept, it would overflow every later
 * prompt too) and says whether /reset can help: only when the turn fits without those before it. */
static gen_result prompt_too_long(chat *c, size_t n_prompt) {
    uint32_t n_ctx = c->src.n_ctx;
    if (c->one_shot) {
        cli_error("run: the prompt is %zu tokens but the context holds %u (--ctx): no room for an answer", n_prompt,
                  n_ctx);
        return GEN_ERROR;
    }
    size_t first = turn_start(c), n_turn = n_prompt;
    gptoss_tokens t = {0};
    if (first && render_prompt(c, first, &t)) n_turn = t.n;
    gptoss_tokens_free(&t);
    int alone = gptoss_harmony_conversation_size(c->hist) == first + 1;
    const char *what = alone ? "this message" : "this turn (the message, tool calls and results)";
    const char *fate = alone ? "it was not sent" : "it was dropped";
    gptoss_harmony_conversation_truncate(c->hist, first);
    if (n_turn < n_ctx) {
        note(c, "[context full: with %s the conversation is %zu tokens, the context holds %u; %s; /reset starts over]",
             what, n_prompt, n_ctx, fate);
        return GEN_LIMIT;
    }
    cli_error("chat: %s makes the prompt %zu tokens by itself but the context holds %u (--ctx); %s", what, n_turn,
              n_ctx, fate);
    return GEN_ERROR;
}

/* The prompt after a tool result: the ids the model was given and wrote, up to its <|call|>, then
 * the messages from `first` on (the result) and <|start|>assistant. Kept as the model wrote them
 * (harmony re-renders a call's header in another order), the prompt extends what the source holds,
 * so the result is all it processes: nothing before it is computed again. 0 when the ids do not end
 * with a call (then the whole conversation is rendered). */
static int append_result(chat *c, size_t first) {
    if (!c->ids.n || c->ids.ids[c->ids.n - 1] != GPTOSS_HARMONY_CALL) return 0;
    size_t n0 = c->ids.n;
    char err[512] = "";
    int ok = 1;
    for (size_t i = first; ok && i < gptoss_harmony_conversation_size(c->hist); i++)
        ok = gptoss_harmony_render_message(c->tok, gptoss_harmony_conversation_get(c->hist, i), c->n_tools != 0,
                                           &c->ids, err, sizeof err) == GPTOSS_OK;
    ok = ok && gptoss_tokens_push(&c->ids, GPTOSS_HARMONY_START) == GPTOSS_OK &&
         gptoss_tokenizer_encode(c->tok, "assistant", 9, GPTOSS_TOKENIZER_SPECIAL_AS_TEXT, &c->ids) == GPTOSS_OK;
    if (!ok) c->ids.n = n0;
    return ok;
}

/* One assistant turn's generation; cont_from: 0, or where the tool results that continue the
 * generation before begin in the history. */
static gen_result generate(chat *c, size_t cont_from) {
    char err[512] = "";
    if (!(cont_from && append_result(c, cont_from)) && !render_prompt(c, 0, &c->ids)) return GEN_ERROR;
    size_t n_prompt = c->ids.n;
    if (c->src.n_ctx && n_prompt >= c->src.n_ctx) return prompt_too_long(c, n_prompt);
    gptoss_constraint_state *cs = NULL;
    if (c->constraint && gptoss_constraint_state_create(c->constraint, &cs) != GPTOSS_OK) {
        cli_error("out of memory");
        return GEN_ERROR;
    }
    gptoss_harmony_parser_reset(c->parser, GPTOSS_HARMONY_ROLE_ASSISTANT);
    c->streaming = 0;
    gen_result res = GEN_DONE;
    uint32_t n_gen = 0;
    double t0 = cli_now_s(), t_first = 0;
    for (;;) {
        if (g_interrupted || g_terminated) {
            res = GEN_INTERRUPTED;
            if (!c->one_shot && isatty(0)) c->line_start[0] = 0; /* the terminal echoed ^C */
            break;
        }
        if (c->max_tokens && n_gen >= c->max_tokens) {
            res = GEN_LIMIT;
            note(c, "[stopped at --max-tokens %u]", c->max_tokens);
            break;
        }
        if (c->src.n_ctx && c->ids.n >= c->src.n_ctx) {
            res = GEN_LIMIT;
            out_newline(c, c->one_shot ? 1 : 0);
            note(c, "[context full: %zu tokens; /reset starts over]", c->ids.n);
            break;
        }
        uint32_t id;
        gptoss_constraint_next allowed = {GPTOSS_NEXT_ANY, 0, NULL};
        if (cs && gptoss_constraint_state_next(cs, &allowed) != GPTOSS_OK) {
            out_newline(c, 0);
            cli_error("the answer cannot go on within its schema (past the grammar's nesting bounds)");
            res = GEN_ERROR;
            break;
        }
        if (c->src.next(c->src.ctx, c->ids.ids, c->ids.n, cs ? &allowed : NULL, &id, err, sizeof err) != 0) {
            out_newline(c, 0);
            cli_error("%s", err[0] ? err : "the model failed");
            res = GEN_ERROR;
            break;
        }
        if (cs && gptoss_constraint_state_accept(cs, id) != GPTOSS_OK) {
            out_newline(c, 0);
            cli_error("the model's token %u is not one the constraint allows", id);
            res = GEN_ERROR;
            break;
        }
        if (!n_gen) t_first = cli_now_s();
        n_gen++;
        if (gptoss_tokens_push(&c->ids, id) != GPTOSS_OK) {
            res = GEN_ERROR;
            break;
        }
        size_t before = gptoss_harmony_parser_n_messages(c->parser);
        if (gptoss_harmony_parser_process(c->parser, id) != GPTOSS_OK) {
            cli_error("%s", gptoss_harmony_parser_error(c->parser));
            res = GEN_ERROR;
            break;
        }
        show_progress(c, before);
        if (id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_CALL) break;
        /* A tool call closed by <|end|> or <|return|> is still a tool call: stop there. */
        size_t n = gptoss_harmony_parser_n_messages(c->parser);
        if (n > before && is_call_message(gptoss_harmony_parser_message(c->parser, n - 1))) break;
    }
    gptoss_constraint_state_free(cs);
    size_t before = gptoss_harmony_parser_n_messages(c->parser);
    gptoss_harmony_parser_process_eos(c->parser);
    show_progress(c, before);
    if (c->streaming) end_message(c);
    double t1 = cli_now_s();
    size_t n_msgs = gptoss_harmony_parser_n_messages(c->parser);
    /* An interrupted tool call is not kept: it would wait for a result forever. */
    if (res != GEN_DONE && n_msgs && is_call_message(gptoss_harmony_parser_message(c->parser, n_msgs - 1))) n_msgs--;
    for (size_t i = 0; i < n_msgs; i++) {
        const gptoss_harmony_message *m = gptoss_harmony_parser_message(c->parser, i);
        size_t len;
        gptoss_harmony_message_text(m, &len);
        if (!len && !is_call_message(m)) continue; /* an empty message (cut short) tells the model nothing */
        if (gptoss_harmony_conversation_append(c->hist, m) != GPTOSS_OK) res = GEN_ERROR;
    }
    if (n_gen) {
        double decode = t1 - t_first;
        note(c, "[%u tokens, %.1f tokens/s; prompt %zu tokens in %.2fs]", n_gen,
             n_gen > 1 && decode > 0 ? (n_gen - 1) / decode : 0.0, n_prompt, t_first - t0);
    }
    if (res == GEN_DONE && n_msgs && is_call_message(gptoss_harmony_conversation_get(
                                         c->hist, gptoss_harmony_conversation_size(c->hist) - 1)))
        res = GEN_CALL;
    return res;
}

/* ---- tools ---------------------------------------------------------------------------------- */

/* The declared tool a recipient names: "functions.NAME", or as models also write it, "NAME" or
 * "functions.NAMEjson". */
static const gptoss_harmony_tool *find_tool(const chat *c, const char *recipient) {
    const char *r = recipient;
    if (!strncmp(r, "functions.", 10)) r += 10;
    const gptoss_harmony_tool *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < c->n_tools; i++) {
        size_t n = strlen(c->tools[i].name);
        if (strncmp(r, c->tools[i].name, n) != 0) continue;
        if (r[n] && strncmp(r + n, "json", 4) != 0 && strncmp(r + n, "<|", 2) != 0) continue;
        if (!r[n]) return &c->tools[i];
        if (n > best_len) {
            best = &c->tools[i];
            best_len = n;
        }
    }
    return best;
}

/* What a --tool-exec command may print: more is cut (with a note to the model), since the result
 * goes into the context whole and one runaway tool must not exhaust memory. */
#define TOOL_OUTPUT_MAX ((size_t)1 << 20)
/* Between SIGTERM and SIGKILL for a tool that is stopped. */
#define TOOL_GRACE_MS 2000

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Whether the tool's process has exited, without reaping it: while it is unreaped its process group
 * id cannot be reused, so a later kill(-pid) reaches only what the tool started. */
static int tool_exited(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
        if (errno != EINTR) return 1; /* gone (or not ours): nothing to wait for */
    return si.si_pid == pid;
}

/* Stops the tool's whole process group: SIGTERM, then SIGKILL to whatever is left after the grace. */
static void stop_tool(pid_t pid) {
    kill(-pid, SIGTERM);
    for (long waited = 0; waited < TOOL_GRACE_MS && !tool_exited(pid); waited += 10) sleep_ms(10);
    kill(-pid, SIGKILL); /* children that outlived the shell, or a tool that ignores SIGTERM */
}

/* Drops an incomplete UTF-8 sequence that the cap cut, so the result stays valid text. */
static size_t utf8_cut(const char *s, size_t n) {
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--, back++;
    if (i == 0) return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return need > back + 1 ? i - 1 : n;
}

/* Runs --tool-exec with the arguments on stdin and GPTOSS_TOOL_NAME set; its stdout is the result,
 * at most TOOL_OUTPUT_MAX bytes of it. A tool still running after --tool-timeout seconds (or when the
 * user interrupts) is stopped with its process group; the model reads why in the result. */
static char *run_tool_command(chat *c, const char *name, const char *args, size_t args_len) {
    FILE *in = tmpfile();
    int fds[2] = {-1, -1};
    if (!in || fwrite(args, 1, args_len, in) != args_len || fflush(in) != 0 || pipe(fds) != 0) {
        if (in) fclose(in);
        return NULL;
    }
    rewind(in);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* its own group, so a stop reaches whatever the command starts */
        dup2(fileno(in), 0);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("GPTOSS_TOOL_NAME", name, 1);
        execl("/bin/sh", "sh", "-c", c->tool_exec, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    fclose(in);
    if (pid < 0) {
        close(fds[0]);
        return NULL;
    }
    setpgid(pid, pid); /* also here: the group must exist before any kill(-pid), whoever runs first */
    const double deadline = cli_now_s() + c->tool_timeout_s;
    gptoss_buf out = {0};
    char chunk[4096];
    int truncated = 0, timed_out = 0, interrupted = 0, open_pipe = 1;
    /* Read until end of output, then wait for the exit, both within the deadline. Output past the
     * cap is read and dropped, so a tool that prints much still finishes normally. */
    for (;;) {
        double left = deadline - cli_now_s();
        if (g_interrupted) {
            interrupted = 1;
            break;
        }
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        if (!open_pipe) {
            if (tool_exited(pid)) break;
            sleep_ms(left < 0.01 ? 1 : 10);
            continue;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int r = poll(&pfd, 1, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
        if (r <= 0) continue; /* timeout of this slice, or EINTR: the loop checks both */
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            open_pipe = 0;
            continue;
        }
        size_t keep = (size_t)n, room = TOOL_OUTPUT_MAX - out.len;
        if (keep > room) keep = room, truncated = 1;
        if (keep) gptoss_buf_append(&out, chunk, keep);
    }
    close(fds[0]);
    if (timed_out || interrupted) stop_tool(pid);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (out.failed) {
        gptoss_buf_free(&out);
        return NULL;
    }
    if (truncated) out.len = utf8_cut(out.data, out.len);
    if (out.len && out.data[out.len - 1] == '\n') out.len--;
    const char *sep = out.len ? "\n" : "";
    if (truncated) {
        gptoss_buf_printf(&out, "%s[error: the tool's output was truncated at %zu bytes]", sep, TOOL_OUTPUT_MAX);
        sep = "\n";
    }
    if (timed_out)
        gptoss_buf_printf(&out, "%s[error: the tool did not finish within %u s and was stopped]", sep,
                          c->tool_timeout_s);
    else if (interrupted)
        gptoss_buf_printf(&out, "%s[error: the tool was stopped by the user]", sep);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        gptoss_buf_printf(&out, "%s[tool failed: %s %d]", sep, WIFEXITED(status) ? "exit status" : "signal",
                          WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (!gptoss_buf_cstr(&out)) {
        gptoss_buf_free(&out);
        return NULL;
    }
    return out.data;
}

static char *read_line(chat *c, const char *prompt);

/* (Re)starts the browser tool: a new conversation gets a new page stack, so its citations never
 * point into an old one. 0 after an error line. */
static int browser_start(chat *c) {
    gptoss_browser_free(c->browser);
    c->browser = NULL;
    c->cite_len = 0;
    if (!c->browser_src) return 1;
    gptoss_browser_backend be = cli_browser_source_backend(c->browser_src);
    if (gptoss_browser_create(c->tok, &be, NULL, &c->browser) != GPTOSS_OK) {
        cli_error("cannot start the browser tool: out of memory");
        return 0;
    }
    return 1;
}

/* browser.search / browser.open / browser.find: the tool's reply, its errors included ("Invalid link
 * id `3`.", bad arguments, an unknown function), since the model is trained to read those and go on.
 * *author is the reply's author ("browser.open"). NULL only when out of memory. */
static char *run_browser_call(chat *c, const gptoss_harmony_message *call, const char *args, size_t args_len,
                              const char **author) {
    char fn[64];
    const char *f = call->recipient + strlen("browser.");
    size_t n = strcspn(f, " <"); /* "browser.search<|constrain|>json", as models also write it */
    if (n >= sizeof fn) n = sizeof fn - 1; /* a name that long is no function: the tool says so */
    memcpy(fn, f, n);
    fn[n] = 0;
    char *reply = NULL;
    if (gptoss_browser_call(c->browser, fn, args, args_len, &reply, author) != GPTOSS_OK) return NULL;
    return reply;
}

/* The result of the tool call that ends the history: 0 result appended, 1 no result (turn ends). */
static int handle_call(chat *c) {
    const gptoss_harmony_message *call =
        gptoss_harmony_conversation_get(c->hist, gptoss_harmony_conversation_size(c->hist) - 1);
    size_t args_len;
    const char *args = gptoss_harmony_message_text(call, &args_len);
    int browsing = c->browser && !strncmp(call->recipient, "browser.", 8);
    const gptoss_harmony_tool *tool = browsing ? NULL : find_tool(c, call->recipient);
    char *result = NULL;
    char author[512];
    if (tool) snprintf(author, sizeof author, "functions.%s", tool->name);
    else snprintf(author, sizeof author, "%s", call->recipient);
    if (browsing) {
        const char *a = NULL;
        result = run_browser_call(c, call, args, args_len, &a);
        if (!result) cli_error("out of memory");
        else snprintf(author, sizeof author, "%s", a);
    } else if (!tool) {
        gptoss_buf b = {0};
        gptoss_buf_printf(&b, "Error: there is no tool '%s'.", call->recipient);
        for (size_t i = 0; i < c->n_tools; i++)
            gptoss_buf_printf(&b, "%sfunctions.%s", i ? ", " : " Available tools: ", c->tools[i].name);
        if (!c->n_tools) gptoss_buf_puts(&b, " No tools are available.");
        if (gptoss_buf_cstr(&b)) result = b.data;
        else gptoss_buf_free(&b);
    } else if (c->tool_exec) {
        result = run_tool_command(c, tool->name, args, args_len);
        if (!result) cli_error("could not run --tool-exec command");
    } else if (!c->one_shot) {
        char prompt[600];
        snprintf(prompt, sizeof prompt, "result of %s> ", author);
        result = read_line(c, prompt);
        if (result && c->input_interrupted) { /* Ctrl-C instead of a result: the turn ends */
            free(result);
            result = NULL;
            g_interrupted = 1;
        }
    } else {
        cli_error("the model called %s; pass --tool-exec CMD to run it", author);
    }
    if (!result) return 1;
    size_t n = strlen(result);
    if (n && result[n - 1] == '\n') result[--n] = 0;
    int s = c->one_shot ? (c->show_reasoning && !c->json_out ? 1 : -1) : 0;
    if (s >= 0 && browsing) {
        /* A page is long: its header line ("[2] Title (url)", or the error) says what came back. */
        size_t first = strcspn(result, "\n");
        out_newline(c, s);
        out_puts(c, s, 1, "[");
        out_puts(c, s, 1, author);
        out_puts(c, s, 1, "] ");
        /* The title is a web page's: its control characters (a terminal escape) are not written. */
        for (size_t i = 0, run = 0; i <= first; i++) {
            if (i < first && (unsigned char)result[i] >= 0x20 && result[i] != 0x7f) continue;
            out_write(c, s, 1, result + run, i - run);
            if (i < first) out_write(c, s, 1, "?", 1);
            run = i + 1;
        }
        if (result[first]) out_puts(c, s, 1, " ...");
        out_write(c, s, 0, "\n", 1);
    } else if (s >= 0 && (c->tool_exec || !tool)) {
        out_newline(c, s);
        out_puts(c, s, 1, "[tool result] ");
        out_puts(c, s, 1, result);
        out_write(c, s, 0, "\n", 1);
    }
    gptoss_status st = gptoss_harmony_conversation_append_text(c->hist, GPTOSS_HARMONY_ROLE_TOOL, author, "assistant",
                                                               call->channel, NULL, result);
    free(result);
    return st == GPTOSS_OK ? 0 : 1;
}

/* One user turn: generate, run tools, generate again, until an answer or a stop. At most
 * --max-tool-calls calls are run: the one past that is dropped (unanswered, it would wait for a
 * result forever) and the turn ends, so a model that loops cannot run on. */
static gen_result run_turn(chat *c) {
    gen_result r = GEN_DONE;
    g_interrupted = 0;
    size_t cont_from = 0;
    for (uint32_t calls = 0;; calls++) {
        r = generate(c, cont_from);
        if (r != GEN_CALL) break;
        if (calls == c->max_tool_calls) {
            gptoss_harmony_conversation_truncate(c->hist, gptoss_harmony_conversation_size(c->hist) - 1);
            if (c->one_shot) {
                cli_error("run: the model asked for more than %u tool calls (--max-tool-calls); stopped without an "
                          "answer",
                          c->max_tool_calls);
                r = GEN_ERROR;
            } else {
                note(c, "[stopped: more than %u tool calls in this turn (--max-tool-calls)]", c->max_tool_calls);
                r = GEN_LIMIT;
            }
            break;
        }
        cont_from = gptoss_harmony_conversation_size(c->hist);
        if (handle_call(c) != 0) {
            /* A call left without a result (Ctrl-C at the result prompt) would confuse the model. */
            if (g_interrupted) gptoss_harmony_conversation_truncate(c->hist, gptoss_harmony_conversation_size(c->hist) - 1);
            break;
        }
        if (g_interrupted || g_terminated) break;
    }
    if (r == GEN_INTERRUPTED || g_interrupted || g_terminated) {
        note(c, "[interrupted]");
        r = GEN_INTERRUPTED;
    }
    g_interrupted = 0;
    return r;
}

/* ---- input ---------------------------------------------------------------------------------- */

static int locale_is_utf8(void) {
    const char *cs = nl_langinfo(CODESET);
    return cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
}

/* libedit decodes what is typed in LC_CTYPE's encoding, and the "C" locale a program starts in (or
 * one the environment names that is not UTF-8) makes it drop every non-ASCII byte. The model reads
 * UTF-8 whatever the terminal says, so without a UTF-8 locale from the environment a UTF-8 one of
 * the system is used. Only LC_CTYPE: numbers keep their decimal point. */
static void use_utf8_locale(void) {
    if (setlocale(LC_CTYPE, "") && locale_is_utf8()) return;
    static const char *const utf8[] = {"C.UTF-8", "C.utf8", "en_US.UTF-8", "en_US.utf8"};
    for (size_t i = 0; i < sizeof utf8 / sizeof utf8[0]; i++)
        if (setlocale(LC_CTYPE, utf8[i]) && locale_is_utf8()) return;
    setlocale(LC_CTYPE, "");
}

/* One line without its newline (malloc'd), or NULL at end of input. Ctrl-C gives an empty line. */
static char *read_line(chat *c, const char *prompt) {
    c->input_interrupted = 0;
#ifdef GPTOSS_HAVE_LIBEDIT
    if (isatty(0) && isatty(1)) {
        char *l = readline(prompt);
        if (!l && g_terminated) return NULL;
        if (!l && g_interrupted) {
            g_interrupted = 0;
            c->input_interrupted = 1;
            fputc('\n', stdout);
            char *e = malloc(1);
            if (e) *e = 0;
            return e;
        }
        if (l && *l) add_history(l);
        c->line_start[0] = 1;
        return l;
    }
#endif
    fputs(prompt, stdout);
    fflush(stdout);
    c->line_start[0] = 1;
    gptoss_buf b = {0};
    for (;;) {
        int ch = getc(stdin);
        if (ch == EOF) {
            if (ferror(stdin) && errno == EINTR) {
                clearerr(stdin);
                if (g_terminated) {
                    gptoss_buf_free(&b);
                    return NULL;
                }
                if (g_interrupted) {
                    g_interrupted = 0;
                    c->input_interrupted = 1;
                    fputc('\n', stdout);
                    b.len = 0;
                    break;
                }
                continue;
            }
            if (!b.len) {
                gptoss_buf_free(&b);
                return NULL;
            }
            break;
        }
        if (ch == '\n') break;
        char cc = (char)ch;
        gptoss_buf_append(&b, &cc, 1);
    }
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        char *e = malloc(1);
        if (e) *e = 0;
        return e;
    }
    return b.data;
}

/* ---- slash commands --------------------------------------------------------------------------- */

static int save_conversation(chat *c, const char *path) {
    gptoss_harmony_conversation *conv = full_conversation(c);
    char *json = NULL;
    size_t len = 0;
    int ok = conv && gptoss_harmony_conversation_to_json(conv, &json, &len) == GPTOSS_OK;
    FILE *f = ok ? fopen(path, "wb") : NULL;
    ok = f && fwrite(json, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    if (ok) note(c, "[saved %zu messages to %s]", gptoss_harmony_conversation_size(conv), path);
    else cli_error("cannot write %s: %s", path, strerror(errno));
    free(json);
    gptoss_harmony_conversation_free(conv);
    return ok;
}

/* System and developer messages of the file are ignored: this session's settings make them. */
static int load_conversation(chat *c, const char *path) {
    char err[512] = "";
    char *data = NULL;
    size_t len = 0;
    gptoss_harmony_conversation *conv = NULL;
    if (gptoss_read_file(path, (size_t)1 << 30, &data, &len, err, sizeof err) != GPTOSS_OK ||
        gptoss_harmony_conversation_from_json(data, len, &conv, err, sizeof err) != GPTOSS_OK) {
        free(data);
        cli_error("%s", err);
        return 0;
    }
    free(data);
    gptoss_harmony_conversation_truncate(c->hist, 0);
    for (size_t i = 0; i < gptoss_harmony_conversation_size(conv); i++) {
        const gptoss_harmony_message *m = gptoss_harmony_conversation_get(conv, i);
        if (m->role == GPTOSS_HARMONY_ROLE_SYSTEM || m->role == GPTOSS_HARMONY_ROLE_DEVELOPER) continue;
        gptoss_harmony_conversation_append(c->hist, m);
    }
    gptoss_harmony_conversation_free(conv);
    browser_start(c); /* the loaded conversation's cursors name pages this tool never opened */
    note(c, "[loaded %zu messages from %s]", gptoss_harmony_conversation_size(c->hist), path);
    return 1;
}

static const char *effort_usage = "low|medium|high";

/* Returns 1 to quit. */
static int slash_command(chat *c, char *line) {
    char *cmd = line + 1;
    char *arg = cmd + strcspn(cmd, " \t");
    if (*arg) *arg++ = 0;
    while (*arg == ' ' || *arg == '\t') arg++;
    size_t al = strlen(arg);
    while (al && (arg[al - 1] == ' ' || arg[al - 1] == '\t' || arg[al - 1] == '\r')) arg[--al] = 0;
    if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit")) return 1;
    if (!strcmp(cmd, "help")) {
        note(c, "/reset  forget the conversation\n/effort %s  reasoning effort\n/save FILE  write the conversation "
                "(JSON)\n/load FILE  read one\n/quit  leave (or Ctrl-D); Ctrl-C stops an answer",
             effort_usage);
    } else if (!strcmp(cmd, "reset")) {
        gptoss_harmony_conversation_truncate(c->hist, 0);
        browser_start(c);
        note(c, "[conversation reset]");
    } else if (!strcmp(cmd, "effort")) {
        gptoss_harmony_effort e = gptoss_harmony_effort_from_name(arg);
        if (*arg && e == GPTOSS_HARMONY_EFFORT_NONE) note(c, "[usage: /effort %s]", effort_usage);
        else {
            if (*arg) c->effort = e;
            note(c, "[reasoning effort: %s]", gptoss_harmony_effort_name(c->effort));
        }
    } else if (!strcmp(cmd, "save") || !strcmp(cmd, "load")) {
        if (!*arg) note(c, "[usage: /%s FILE]", cmd);
        else if (cmd[0] == 's') save_conversation(c, arg);
        else load_conversation(c, arg);
    } else {
        note(c, "[unknown command /%s; /help lists them]", cmd);
    }
    return 0;
}

/* ---- options -------------------------------------------------------------------------------- */

static void usage(FILE *f, int one_shot) {
    if (one_shot)
        fprintf(f, "usage: gptoss run MODEL -p PROMPT [--show-reasoning] [--json] [OPTIONS]\n"
                   "  One answer: the final answer streams to stdout as it is written; --show-reasoning also\n"
                   "  streams the reasoning (and tool calls) to stderr; --json prints the turn's messages as\n"
                   "  JSON at the end instead. -p - reads the prompt from stdin. Ctrl-C or SIGTERM stops the\n"
                   "  answer: what was generated is printed, exit status 130 or 143.\n");
    else
        fprintf(f, "usage: gptoss chat MODEL [--hide-reasoning] [OPTIONS]\n"
                   "  Interactive chat: answers stream as they come, reasoning dimmed and labelled (or\n"
                   "  hidden); Ctrl-C stops an answer (SIGTERM stops it and quits); /help lists the\n"
                   "  commands (/reset, /effort, /save, /load, /quit).\n");
    fprintf(f, "options:\n"
               "  --reasoning-effort low|medium|high   (default low)\n"
               "  --system TEXT        the model identity line of the system message\n"
               "  --developer TEXT     developer instructions\n"
               "  --date YYYY-MM-DD    current date in the system message (default today; none: leave out)\n"
               "  --tools FILE         function tools: JSON list of {name, description, parameters, strict};\n"
               "                       a strict tool's arguments follow its parameters schema\n"
               "  --json-schema FILE   the final answer is JSON that follows this JSON Schema\n"
               "  --json-object        the final answer is a JSON object\n"
               "  --reasoning-budget N at most N reasoning tokens, then the answer (0: none)\n"
               "  --tool-exec CMD      run tool calls with `sh -c CMD`: arguments on stdin, the tool name\n"
               "                       in $GPTOSS_TOOL_NAME, stdout is the result (chat asks otherwise);\n"
               "                       output past 1 MiB is cut, with a note to the model\n"
               "  --tool-timeout S     stop a --tool-exec command (and what it started) still running\n"
               "                       after S seconds (default 60); the model is told why\n"
               "  --max-tool-calls N   tool calls run per turn (default %d); a model that asks for more\n"
               "                       is stopped\n"
               CLI_BROWSER_USAGE
               "  --temperature T (1.0) --top-p P --top-k K --min-p M --seed S\n"
               "  -n, --max-tokens N   tokens per answer (default %d; 0: until the context is full)\n"
               "  -c, --ctx N          context size in tokens (default 8192, at most the model's)\n"
               "  -t, --threads N      threads (default: every CPU)\n"
               "  --device cpu|cuda    where the model runs (default cuda when a GPU is usable, else cpu)\n"
               "  --tokenizer PATH --no-color\n"
               "  --kv TYPE            KV cache elements: bf24 (default), f32, or f16 (half of f32's memory,\n"
               "                       less exact); --kv-f16 is --kv f16\n",
            DEFAULT_MAX_TOOL_CALLS, DEFAULT_MAX_TOKENS);
}

/* --tools: [{name, description, parameters}], the OpenAI form [{type: function, function: {...}}],
 * or {"tools": [...]}. */
static int load_tools(chat *c, const char *path) {
    char err[512] = "";
    char *data = NULL;
    size_t len = 0;
    if (gptoss_read_file(path, (size_t)1 << 26, &data, &len, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err);
        return 0;
    }
    json_doc *doc = json_parse(data, len, err, sizeof err);
    free(data);
    if (!doc) {
        cli_error("%s: %s", path, err);
        return 0;
    }
    const json_value *list = json_root(doc);
    if (list->type == JSON_OBJECT) list = json_get(list, "tools");
    int ok = list && list->type == JSON_ARRAY;
    if (ok && (!(c->tools = calloc(list->n ? list->n : 1, sizeof *c->tools)) ||
               !(c->strict = calloc(list->n ? list->n : 1, sizeof *c->strict))))
        ok = 0;
    for (size_t i = 0; ok && i < list->n; i++) {
        const json_value *t = &list->items[i];
        const json_value *fn = json_get(t, "function");
        int strict = json_is_true(json_get(t, "strict")); /* the Responses form has it outside "function" */
        if (fn && fn->type == JSON_OBJECT) t = fn;
        strict |= json_is_true(json_get(t, "strict"));
        const char *name = json_get_string(t, "name");
        const char *desc = json_get_string(t, "description");
        const json_value *params = json_get(t, "parameters");
        if (!name || !*name) {
            cli_error("%s: tool %zu has no \"name\"", path, i);
            ok = 0;
            break;
        }
        int failed = 0;
        c->strict[c->n_tools] = strict;
        gptoss_harmony_tool *d = &c->tools[c->n_tools++];
        d->name = gptoss_harmony_strdup(name, &failed);
        d->description = gptoss_harmony_strdup(desc, &failed);
        if (params && params->type != JSON_NULL) {
            gptoss_buf b = {0};
            json_write_value(&b, params);
            if (gptoss_buf_cstr(&b)) d->parameters_json = b.data;
            else failed = 1;
        }
        if (failed) ok = 0;
    }
    if (!ok && list && list->type != JSON_ARRAY) cli_error("%s: expected a list of tools", path);
    json_free(doc);
    return ok;
}

static void free_tools(chat *c) {
    for (size_t i = 0; i < c->n_tools; i++) {
        free((void *)(uintptr_t)c->tools[i].name);
        free((void *)(uintptr_t)c->tools[i].description);
        free((void *)(uintptr_t)c->tools[i].parameters_json);
    }
    free(c->tools);
    free(c->strict);
}

static int parse_options(chat *c, int argc, char **argv) {
    const char *cmd = c->one_shot ? "run" : "chat";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int ok = 1, browser_opt = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, c->one_shot);
            return 0;
        } else if (!strcmp(a, "--no-color")) {
            c->color_out = c->color_err = 0;
        } else if (!strcmp(a, "--kv-f16")) {
            c->settings.kv_type = GPTOSS_KV_F16;
        } else if (!c->one_shot && !strcmp(a, "--hide-reasoning")) {
            c->hide_reasoning = 1;
        } else if (c->one_shot && !strcmp(a, "--show-reasoning")) {
            c->show_reasoning = 1;
        } else if (c->one_shot && !strcmp(a, "--json")) {
            c->json_out = 1;
        } else if (!strcmp(a, "--json-object")) {
            c->json_object = 1;
        } else if (c->one_shot && !strcmp(a, "--verbose")) {
            c->verbose = 1;
        } else if (a[0] == '-' && a[1] && (browser_opt = cli_browser_option(&c->browser_opts, argc, argv, &i)) != 0) {
            if (browser_opt < 0) return -1;
        } else if (a[0] == '-' && a[1]) {
            static const char *const with_value[] = {
                "--reasoning-effort", "--effort", "--system", "--developer", "--date", "--tools", "--tool-exec", "--tool-timeout",
                "--temperature", "--top-p", "--top-k", "--min-p", "--seed", "--max-tokens", "--ctx", "--threads",
                "--device", "--tokenizer", "-p", "--prompt", "--kv", "--json-schema", "--reasoning-budget",
                "--max-tool-calls"};
            const char *name = cli_option_name(a);
            int known = 0;
            for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(name, with_value[k]);
            if (!known || (!c->one_shot && (!strcmp(a, "-p") || !strcmp(a, "--prompt")))) {
                cli_error("%s: unknown option %s", cmd, a);
                usage(stderr, c->one_shot);
                return -1;
            }
            if (!(v = cli_next(argc, argv, &i))) return -1;
            if (!strcmp(a, "--reasoning-effort") || !strcmp(a, "--effort"))
                ok = (c->effort = gptoss_harmony_effort_from_name(v)) != GPTOSS_HARMONY_EFFORT_NONE;
            else if (!strcmp(a, "--system")) c->identity = v, c->identity_set = 1;
            else if (!strcmp(a, "--developer")) c->instructions = v;
            else if (!strcmp(a, "--date")) {
                if (!strcmp(v, "none")) c->date[0] = 0;
                else ok = strlen(v) < sizeof c->date && snprintf(c->date, sizeof c->date, "%s", v) > 0;
            } else if (!strcmp(a, "--tools")) {
                if (!load_tools(c, v)) return -1;
            } else if (!strcmp(a, "--tool-exec")) c->tool_exec = v;
            else if (!strcmp(a, "--max-tool-calls")) ok = cli_parse_u32(v, &c->max_tool_calls);
            else if (!strcmp(a, "--tool-timeout")) ok = cli_parse_u32(v, &c->tool_timeout_s) && c->tool_timeout_s > 0;
            else if (!strcmp(a, "--temperature")) ok = cli_parse_float(v, &c->settings.temperature) && c->settings.temperature >= 0;
            else if (!strcmp(a, "--top-p")) ok = cli_parse_float(v, &c->settings.top_p) && c->settings.top_p >= 0 && c->settings.top_p <= 1;
            else if (!strcmp(a, "--top-k")) ok = cli_parse_u32(v, &c->settings.top_k);
            else if (!strcmp(a, "--min-p")) ok = cli_parse_float(v, &c->settings.min_p) && c->settings.min_p >= 0 && c->settings.min_p <= 1;
            else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &c->settings.seed);
            else if (!strcmp(name, "--max-tokens")) ok = cli_parse_u32(v, &c->max_tokens);
            else if (!strcmp(name, "--ctx")) ok = cli_parse_u32(v, &c->settings.n_ctx);
            else if (!strcmp(name, "--threads")) ok = cli_parse_u32(v, &c->settings.n_threads);
            else if (!strcmp(name, "--device")) ok = cli_parse_device(v, &c->settings.device);
            else if (!strcmp(a, "--tokenizer")) c->tok_path = v;
            else if (!strcmp(a, "--kv")) ok = cli_parse_kv_type(v, &c->settings.kv_type);
            else if (!strcmp(a, "--json-schema")) c->schema_path = v;
            else if (!strcmp(a, "--reasoning-budget")) ok = (c->limit_reasoning = cli_parse_u32(v, &c->reasoning_budget));
            else c->prompt = v;
            if (!ok) {
                cli_error("%s: invalid value '%s' for %s", cmd, v, a);
                return -1;
            }
        } else if (!c->model_path) {
            c->model_path = a;
        } else {
            cli_error("%s: unexpected argument '%s'", cmd, a);
            return -1;
        }
    }
    if (c->schema_path && c->json_object) {
        cli_error("%s: --json-schema and --json-object cannot go together", cmd);
        return -1;
    }
    int any_strict = 0;
    for (size_t i = 0; i < c->n_tools; i++) any_strict |= c->strict[i];
    if (c->browser_opts.enabled && (c->schema_path || c->json_object || c->limit_reasoning || any_strict)) {
        /* The constraint knows the message headers of the answer and of function calls only: under it
         * the model could never write to=browser.*, so it would be told it can browse and be unable to. */
        cli_error("%s: --browser cannot go with --json-schema, --json-object, --reasoning-budget or strict tools "
                  "(under a constraint the model cannot call the browser)",
                  cmd);
        return -1;
    }
    if (!c->model_path || (c->one_shot && !c->prompt)) {
        cli_error(!c->model_path ? "%s: MODEL is required" : "%s: -p PROMPT is required", cmd);
        usage(stderr, c->one_shot);
        return -1;
    }
    if (!(c->model_path = cli_model_arg(c->model_path))) return -1;
    return 1;
}

/* ---- constrained generation ----------------------------------------------------------------- */

/* The "# Response Formats" section for the schema in root (harmony's format.md: "## NAME", the
 * schema's description as a "// " line, the schema as compact JSON), preceded by a blank line. The
 * name is the file's base name, in the characters response format names use. */
static char *response_format_section(const char *path, const json_value *root) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    gptoss_buf b = {0};
    gptoss_buf_puts(&b, "\n\n# Response Formats\n\n## ");
    for (size_t i = 0; i < n; i++) {
        char ch = base[i];
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-';
        gptoss_buf_append(&b, keep ? &ch : "_", 1);
    }
    if (!n) gptoss_buf_puts(&b, "response");
    gptoss_buf_puts(&b, "\n\n");
    const char *desc = json_get_string(root, "description");
    if (desc) gptoss_buf_printf(&b, "// %s\n", desc);
    json_write_value(&b, root);
    if (!gptoss_buf_cstr(&b)) {
        gptoss_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Compiles schema[0..len) against the chat's grammar vocabulary; 0 with one error line naming what. */
static int compile_schema(chat *c, const char *what, const char *schema, size_t len, gptoss_grammar **out) {
    char err[512] = "";
    const char *cmd = c->one_shot ? "run" : "chat";
    if (!c->gvocab && gptoss_grammar_vocab_create(c->tok, &c->gvocab, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s: %s", cmd, err);
        return 0;
    }
    if (gptoss_grammar_compile_json_schema(c->gvocab, schema, len, NULL, out, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s: %s: %s", cmd, what, err);
        return 0;
    }
    return 1;
}

/* Builds the constraint the options ask for (none when they ask for nothing); 0 after one error line. */
static int setup_constraint(chat *c) {
    int any_strict = 0;
    for (size_t i = 0; i < c->n_tools; i++) any_strict |= c->strict[i];
    if (!c->schema_path && !c->json_object && !c->limit_reasoning && !any_strict) return 1;
    const char *cmd = c->one_shot ? "run" : "chat";
    char err[512] = "";
    if (c->schema_path) {
        char *data = NULL;
        size_t len = 0;
        if (gptoss_read_file(c->schema_path, (size_t)1 << 26, &data, &len, err, sizeof err) != GPTOSS_OK) {
            cli_error("%s: --json-schema: %s", cmd, err);
            return 0;
        }
        int ok = compile_schema(c, c->schema_path, data, len, &c->final_grammar);
        json_doc *doc = ok ? json_parse(data, len, err, sizeof err) : NULL;
        free(data);
        if (ok && (!doc || !(c->response_format = response_format_section(c->schema_path, json_root(doc))))) {
            cli_error("%s: %s: %s", cmd, c->schema_path, err[0] ? err : "out of memory");
            ok = 0;
        }
        json_free(doc);
        if (!ok) return 0;
    } else if (c->json_object) {
        static const char object[] = "{\"type\":\"object\"}";
        if (!compile_schema(c, "--json-object", object, sizeof object - 1, &c->final_grammar)) return 0;
    }
    gptoss_constraint_function *fns = c->n_tools ? calloc(c->n_tools, sizeof *fns) : NULL;
    if (c->n_tools && (!fns || !(c->tool_grammars = calloc(c->n_tools, sizeof *c->tool_grammars)))) {
        free(fns);
        cli_error("out of memory");
        return 0;
    }
    int ok = 1;
    for (size_t i = 0; ok && i < c->n_tools; i++) {
        fns[i].name = c->tools[i].name;
        if (!c->strict[i]) continue;
        const char *params = c->tools[i].parameters_json ? c->tools[i].parameters_json : "{\"type\":\"object\"}";
        char what[300];
        snprintf(what, sizeof what, "--tools: the parameters of strict tool %s", c->tools[i].name);
        ok = compile_schema(c, what, params, strlen(params), &c->tool_grammars[i]);
        fns[i].arguments = c->tool_grammars[i];
    }
    gptoss_constraint_options o = {.final_grammar = c->final_grammar, .functions = fns, .n_functions = c->n_tools,
                                   .limit_reasoning = c->limit_reasoning,
                                   .max_reasoning_tokens = c->reasoning_budget};
    if (ok && gptoss_constraint_create(c->tok, &o, &c->constraint, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s: %s", cmd, err);
        ok = 0;
    }
    free(fns);
    return ok;
}

static void free_constraint(chat *c) {
    gptoss_constraint_free(c->constraint);
    for (size_t i = 0; c->tool_grammars && i < c->n_tools; i++) gptoss_grammar_free(c->tool_grammars[i]);
    free(c->tool_grammars);
    gptoss_grammar_free(c->final_grammar);
    gptoss_grammar_vocab_free(c->gvocab);
    free(c->response_format);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int repl(chat *c) {
    note(c, "gptoss chat: %s (reasoning %s). /help for commands, Ctrl-C stops an answer, Ctrl-D quits.",
         c->model_path, gptoss_harmony_effort_name(c->effort));
    for (;;) {
        char *line = read_line(c, "> ");
        if (!line) {
            fputc('\n', stdout);
            break;
        }
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
        if (!n) {
            free(line);
            continue;
        }
        if (line[0] == '/') {
            int quit = slash_command(c, line);
            free(line);
            if (quit) break;
            continue;
        }
        gptoss_status st = gptoss_harmony_conversation_append_text(c->hist, GPTOSS_HARMONY_ROLE_USER, NULL, NULL, NULL,
                                                                   NULL, line);
        free(line);
        if (st != GPTOSS_OK) return 1;
        run_turn(c);
        if (g_terminated) break;
    }
    return g_terminated ? 128 + SIGTERM : 0;
}

static int one_shot(chat *c) {
    gptoss_buf in = {0};
    const char *prompt = c->prompt;
    if (!strcmp(prompt, "-")) {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) gptoss_buf_append(&in, chunk, n);
        if (in.len && in.data[in.len - 1] == '\n') in.len--; /* `echo ... |` adds one */
        if (in.len && in.data[in.len - 1] == '\r') in.len--;
        if (!(prompt = gptoss_buf_cstr(&in))) return 1;
    }
    gptoss_status st = gptoss_harmony_conversation_append_text(c->hist, GPTOSS_HARMONY_ROLE_USER, NULL, NULL, NULL,
                                                               NULL, prompt);
    gptoss_buf_free(&in);
    if (st != GPTOSS_OK) return 1;
    gen_result r = run_turn(c);
    if (c->json_out) {
        gptoss_harmony_conversation *turn = gptoss_harmony_conversation_create();
        char *json = NULL;
        for (size_t i = 1; turn && i < gptoss_harmony_conversation_size(c->hist); i++)
            gptoss_harmony_conversation_append(turn, gptoss_harmony_conversation_get(c->hist, i));
        if (turn && gptoss_harmony_conversation_to_json(turn, &json, NULL) == GPTOSS_OK) fputs(json, stdout);
        free(json);
        gptoss_harmony_conversation_free(turn);
    } else {
        out_newline(c, 0);
    }
    fflush(stdout);
    if (r == GEN_ERROR) return 1;
    if (r == GEN_INTERRUPTED) return g_terminated ? 128 + SIGTERM : 128 + SIGINT;
    return 0;
}

int chat_main(int argc, char **argv, int one_shot_mode, chat_source_open open) {
    chat c;
    memset(&c, 0, sizeof c);
    c.one_shot = one_shot_mode;
    c.effort = GPTOSS_HARMONY_EFFORT_LOW;
    c.settings.temperature = 1.0f;
    c.max_tokens = DEFAULT_MAX_TOKENS;
    c.tool_timeout_s = DEFAULT_TOOL_TIMEOUT_S;
    c.max_tool_calls = DEFAULT_MAX_TOOL_CALLS;
    c.settings.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    c.line_start[0] = c.line_start[1] = 1;
    const char *term = getenv("TERM");
    int color_ok = !getenv("NO_COLOR") && !(term && !strcmp(term, "dumb"));
    c.color_out = color_ok && isatty(1);
    c.color_err = color_ok && isatty(2);
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(c.date, sizeof c.date, "%Y-%m-%d", &tm);

    int rc = 2, pr = parse_options(&c, argc, argv);
    if (pr <= 0) {
        free_tools(&c);
        return pr == 0 ? 0 : 2;
    }
    rc = 1;
    char err[512] = "";
    if (!(c.tok = cli_open_tokenizer(c.tok_path, c.model_path)) || !setup_constraint(&c)) goto done;
    c.links_osc8 = c.color_out; /* a terminal that takes escape sequences (and the user allows them) */
    if (c.browser_opts.enabled && (!(c.browser_src = cli_browser_source_open(&c.browser_opts)) || !browser_start(&c)))
        goto done;
    if (open(c.model_path, &c.settings, c.tok, &c.src, err, sizeof err) != 0) {
        cli_error("%s", err[0] ? err : "cannot open the model");
        goto done;
    }
    c.src_open = 1;
    if (!(c.hist = gptoss_harmony_conversation_create()) ||
        gptoss_harmony_parser_create(c.tok, GPTOSS_HARMONY_ROLE_ASSISTANT, 0, &c.parser, err, sizeof err) != GPTOSS_OK) {
        cli_error("%s", err[0] ? err : "out of memory");
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: a blocked read returns so the signal is seen */
    sigaction(SIGTERM, &sa, NULL);
    if (!c.one_shot) {
        /* Nothing could ever be answered: say so now rather than after the first message. */
        if (!render_prompt(&c, 0, &c.ids)) goto done;
        if (c.src.n_ctx && c.ids.n >= c.src.n_ctx) {
            cli_error("chat: the system and developer messages alone are %zu tokens but the context holds %u (--ctx)",
                      c.ids.n, c.src.n_ctx);
            goto done;
        }
        use_utf8_locale();
    }
    rc = c.one_shot ? one_shot(&c) : repl(&c);
done:
    gptoss_harmony_parser_free(c.parser);
    gptoss_harmony_conversation_free(c.hist);
    gptoss_tokens_free(&c.ids);
    if (c.src_open && c.src.close) c.src.close(c.src.ctx);
    free_constraint(&c);
    gptoss_browser_free(c.browser);
    cli_browser_source_close(c.browser_src);
    gptoss_tokenizer_free(c.tok);
    free_tools(&c);
    return rc;
}
