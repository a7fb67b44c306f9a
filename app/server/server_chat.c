/* server_chat.c: POST /v1/chat/completions. OpenAI messages become a harmony conversation (system
 * and developer text become the developer instructions, function tools its "functions" namespace,
 * assistant reasoning_content an analysis message, tool_calls commentary calls, tool messages the
 * results); the model's tokens go through the harmony parser one id at a time: analysis becomes
 * reasoning_content, final and commentary text content, a message to a recipient a tool call.
 * Generation stops on <|return|>, <|call|>, a closed tool call, a stop string or a limit. With
 * `serve --browser`, a request that declares no functions named browser... gets the browser: its
 * calls run server-side (server_browser.c; the sequence waits in its slot), each call and the page
 * it returned are shown in reasoning_content, and the answer's citations become markdown links with
 * url_citation annotations. */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* OpenAI's limit; a framed request (Ollama's options.stop) may give SERVER_MAX_STOPS */
#define MAX_STOPS 4

/* K_BROWSE, K_PYTHON: a browser or python call run server-side */
typedef enum kind { K_NONE, K_CONTENT, K_REASONING, K_CALL, K_BROWSE, K_PYTHON } kind;

typedef struct call {
    char id[40];
    char *name;
    char *args; /* JSON text, once the call is complete */
} call;

/* One choice: the output of one of the job's sequences. */
typedef struct choice {
    uint32_t index;
    gptoss_harmony_parser *parser;
    server_stop_text content; /* its stopped: a stop string cut the content */
    gptoss_buf reasoning;
    call *calls;
    size_t n_calls;
    int msg_open;
    kind cur;
    uint32_t n_reasoning_tokens;
    int failed; /* a tool call id could not be made: the choice ends with an error */
    /* the browser (the request's has one per choice: each its own page stack) */
    server_browser *browser;
    server_cite cite;
    cJSON *annotations;  /* url_citation, in the chat shape */
    char *call_to, *call_channel; /* the browser or python call being written: recipient, channel */
    gptoss_buf call_args;
    /* python (server_python.c): the choice's own sandbox, made at its first call, ended with the request */
    int python;
    server_python_box *pybox;
    uint32_t n_py_calls;
} choice;

typedef struct chat_proto {
    server *srv;
    char id[48];
    long created;
    int stream, include_usage;
    server_stops stops;
    int framed; /* output goes to frame (Ollama's), not to chat completion chunks */
    server_frame frame;
    char **declared; /* tool names */
    size_t n_declared;
    uint32_t n_choices;
    choice ch[SERVER_MAX_SEQS];
} chat_proto;

static void chat_free(void *p) {
    chat_proto *c = p;
    if (!c) return;
    for (uint32_t k = 0; k < SERVER_MAX_SEQS; k++) server_python_release(c->srv, c->ch[k].pybox);
    server_stops_free(&c->stops);
    if (c->framed && c->frame.free) c->frame.free(c->frame.ctx);
    for (size_t i = 0; i < c->n_declared; i++) free(c->declared[i]);
    free(c->declared);
    for (uint32_t k = 0; k < SERVER_MAX_SEQS; k++) {
        choice *h = &c->ch[k];
        gptoss_harmony_parser_free(h->parser);
        server_stop_text_free(&h->content);
        gptoss_buf_free(&h->reasoning);
        for (size_t i = 0; i < h->n_calls; i++) {
            free(h->calls[i].name);
            free(h->calls[i].args);
        }
        free(h->calls);
        server_browser_free(h->browser);
        server_cite_free(&h->cite);
        cJSON_Delete(h->annotations);
        free(h->call_to);
        free(h->call_channel);
        gptoss_buf_free(&h->call_args);
    }
    free(c);
}

/* ---- streaming chunks ------------------------------------------------------------------------- */

/* A chunk; with delta, one for choice `index` (its delta object in *delta). */
static cJSON *chunk(chat_proto *c, uint32_t index, cJSON **delta) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)c->created);
    cJSON_AddStringToObject(o, "model", c->srv->opts.model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "gptoss");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (delta) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", index);
        *delta = cJSON_AddObjectToObject(ch, "delta");
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(choices, ch);
    }
    if (c->include_usage) cJSON_AddNullToObject(o, "usage");
    return o;
}

static void emit_text(server_job *job, choice *h, const char *field, const char *text, size_t len) {
    chat_proto *c = job->proto;
    if (c->framed && len) c->frame.text(job, c->frame.ctx, !strcmp(field, "reasoning_content"), text, len);
    if (!c->stream || !len) return;
    char *t = strndup(text, len);
    if (!t) return;
    cJSON *delta;
    cJSON *o = chunk(c, h->index, &delta);
    cJSON_AddStringToObject(delta, field, t);
    free(t);
    server_emit_sse(job, NULL, o);
}

/* Streams the content that no stop string can still claim; with `all`, the rest. */
static void flush_content(server_job *job, choice *h, int all) {
    chat_proto *c = job->proto;
    const char *from;
    size_t n = server_stop_text_take(&h->content, &c->stops, all, &from);
    if (n) emit_text(job, h, "content", from, n);
}

/* Appends final text; returns 1 when a stop string was found (the content ends before it). */
static int add_content(server_job *job, choice *h, const char *text, size_t len) {
    chat_proto *c = job->proto;
    if (h->content.stopped) return 1;
    server_stop_text_add(&h->content, &c->stops, text, len);
    flush_content(job, h, h->content.stopped);
    return h->content.stopped;
}

static kind kind_of(const choice *h, gptoss_harmony_role role, const char *channel, const char *recipient) {
    gptoss_harmony_message m = {.role = role, .channel = channel, .recipient = recipient};
    if (server_is_call(&m) && h->browser && server_browser_recipient(recipient)) return K_BROWSE;
    if (server_is_call(&m) && h->python && cli_python_recipient(recipient)) return K_PYTHON;
    if (server_is_call(&m)) return K_CALL;
    if (server_is_reasoning(channel)) return K_REASONING;
    return K_CONTENT;
}

static void open_call(server_job *job, choice *h, const char *recipient) {
    chat_proto *c = job->proto;
    call *nc = realloc(h->calls, (h->n_calls + 1) * sizeof *nc);
    if (!nc) return;
    h->calls = nc;
    call *k = &h->calls[h->n_calls++];
    memset(k, 0, sizeof *k);
    if (server_make_id(k->id, sizeof k->id, "call_") < 0) {
        /* the choice ends as an error (chat_on_token) rather than answer a call without an id */
        snprintf(job->error, sizeof job->error, "could not make a tool call id: %s", strerror(errno));
        h->failed = 1;
    }
    k->name = server_call_name(recipient, (const char *const *)c->declared, c->n_declared);
    if (!c->stream || !k->name) return;
    cJSON *delta;
    cJSON *o = chunk(c, h->index, &delta);
    cJSON *tc = cJSON_AddArrayToObject(delta, "tool_calls");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "index", (double)(h->n_calls - 1));
    cJSON_AddStringToObject(e, "id", k->id);
    cJSON_AddStringToObject(e, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(e, "function");
    cJSON_AddStringToObject(fn, "name", k->name);
    cJSON_AddStringToObject(fn, "arguments", "");
    cJSON_AddItemToArray(tc, e);
    server_emit_sse(job, NULL, o);
}

/* The arguments are sent whole when the call is complete, so they can be checked as JSON first. */
static void close_call(server_job *job, choice *h, const gptoss_harmony_message *m) {
    chat_proto *c = job->proto;
    if (!h->n_calls) return;
    call *k = &h->calls[h->n_calls - 1];
    size_t len;
    const char *text = gptoss_harmony_message_text(m, &len);
    k->args = server_call_arguments(text, len);
    if (c->framed && k->name && k->args) c->frame.call(job, c->frame.ctx, k->name, k->args);
    if (!c->stream || !k->args) return;
    cJSON *delta;
    cJSON *o = chunk(c, h->index, &delta);
    cJSON *tc = cJSON_AddArrayToObject(delta, "tool_calls");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "index", (double)(h->n_calls - 1));
    cJSON *fn = cJSON_AddObjectToObject(e, "function");
    cJSON_AddStringToObject(fn, "arguments", k->args);
    cJSON_AddItemToArray(tc, e);
    server_emit_sse(job, NULL, o);
}

/* A browser call's header is read: its recipient and channel, for the reply. */
static void open_browse(server_job *job, choice *h, const char *recipient, const char *channel) {
    free(h->call_to);
    free(h->call_channel);
    h->call_to = strdup(recipient);
    h->call_channel = strdup(channel ? channel : "analysis");
    h->call_args.len = 0;
    if (!h->call_to || !h->call_channel) {
        snprintf(job->error, sizeof job->error, "out of memory");
        h->failed = 1;
    }
}

/* Final text with the browser: citations to known pages become links (with annotations), held back
 * while incomplete; flush: the text ended. */
static int add_cited(server_job *job, choice *h, const char *text, size_t len, int flush) {
    gptoss_buf shown = {0};
    cJSON *found = cJSON_CreateArray();
    if (!found) return 0;
    server_cite_feed(h->browser, &h->cite, text, len, flush, &shown, found);
    /* chat's shape: {"type": "url_citation", "url_citation": {start_index, end_index, url, title}} */
    for (cJSON *a = found->child; a && h->annotations; a = a->next) {
        cJSON *w = cJSON_CreateObject();
        if (!w) break;
        cJSON_AddStringToObject(w, "type", "url_citation");
        cJSON *inner = cJSON_Duplicate(a, 1);
        if (inner) cJSON_DeleteItemFromObjectCaseSensitive(inner, "type");
        cJSON_AddItemToObject(w, "url_citation", inner);
        cJSON_AddItemToArray(h->annotations, w);
    }
    cJSON_Delete(found);
    int stop = shown.len ? add_content(job, h, shown.data, shown.len) : 0;
    gptoss_buf_free(&shown);
    return stop;
}

/* Routes text to content or reasoning. Returns 1 when a stop string ended the content. */
static int add_text(server_job *job, choice *h, kind k, const char *text, size_t len) {
    if (k == K_BROWSE || k == K_PYTHON) {
        gptoss_buf_append(&h->call_args, text, len);
        return 0;
    }
    if (k == K_CONTENT && h->browser) return add_cited(job, h, text, len, 0);
    if (k == K_REASONING) {
        gptoss_buf_append(&h->reasoning, text, len);
        emit_text(job, h, "reasoning_content", text, len);
        return 0;
    }
    if (k == K_CONTENT) return add_content(job, h, text, len);
    return 0;
}

/* Handles what the parser did with one id (or the end of the stream). Returns 1 to stop. */
static int after_parse(server_job *job, choice *h, size_t before) {
    gptoss_harmony_parser *p = h->parser;
    server_finish *finish = &job->seqs[h->index].finish;
    size_t after = gptoss_harmony_parser_n_messages(p);
    int stop = 0;
    for (size_t i = before; i < after; i++) {
        const gptoss_harmony_message *m = gptoss_harmony_parser_message(p, i);
        kind k = kind_of(h, m->role, m->channel, m->recipient);
        if (i == before && h->msg_open) {
            h->msg_open = 0;
            if (h->cur == K_BROWSE || h->cur == K_PYTHON) {
                job->seqs[h->index].tool = 1; /* run once <|call|> is fed (chat_run_tool) */
                break;
            }
            if (h->cur == K_CALL) {
                close_call(job, h, m);
                *finish = SERVER_FINISH_CALL;
                stop = 1;
            }
            continue;
        }
        /* A message the lenient parser recovered without streaming it. */
        size_t len;
        const char *text = gptoss_harmony_message_text(m, &len);
        if (k == K_BROWSE || k == K_PYTHON) {
            open_browse(job, h, m->recipient, m->channel);
            add_text(job, h, k, text, len);
            job->seqs[h->index].tool = 1;
            break;
        }
        if (k == K_CALL) {
            open_call(job, h, m->recipient);
            close_call(job, h, m);
            *finish = SERVER_FINISH_CALL;
            stop = 1;
        } else if (add_text(job, h, k, text, len)) stop = 1;
    }
    if (stop) return 1;
    if (gptoss_harmony_parser_get_state(p) != GPTOSS_HARMONY_CONTENT) return 0;
    if (!h->msg_open) {
        h->msg_open = 1;
        h->cur = kind_of(h, gptoss_harmony_parser_current_role(p), gptoss_harmony_parser_current_channel(p),
                         gptoss_harmony_parser_current_recipient(p));
        if (h->cur == K_CALL) open_call(job, h, gptoss_harmony_parser_current_recipient(p));
        if (h->cur == K_BROWSE || h->cur == K_PYTHON)
            open_browse(job, h, gptoss_harmony_parser_current_recipient(p), gptoss_harmony_parser_current_channel(p));
    }
    size_t len;
    const char *d = gptoss_harmony_parser_last_delta(p, &len);
    if (d && add_text(job, h, h->cur, d, len)) return 1;
    return 0;
}

static int chat_on_token(server_job *job, uint32_t k, uint32_t id) {
    chat_proto *c = job->proto;
    choice *h = &c->ch[k];
    if (h->msg_open && h->cur == K_REASONING) h->n_reasoning_tokens++;
    size_t before = gptoss_harmony_parser_n_messages(h->parser);
    gptoss_harmony_parser_process(h->parser, id); /* lenient: fails only without memory */
    int stop = after_parse(job, h, before);
    if (job->seqs[k].tool && !h->failed) return 0; /* a browser or python call: fed, then run (chat_run_tool) */
    if (id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_CALL) stop = 1;
    if (stop && h->content.stopped) job->seqs[k].finish = SERVER_FINISH_STOP;
    if (h->failed) {
        job->seqs[k].finish = SERVER_FINISH_ERROR;
        stop = 1;
    }
    return stop;
}

static const char *finish_reason(const server_job *job, uint32_t k) {
    const chat_proto *c = job->proto;
    return server_finish_reason(job->seqs[k].finish, c->ch[k].n_calls);
}

/* Usage of the whole request: the prompt once, the tokens of every choice. */
static cJSON *usage(const server_job *job) {
    const chat_proto *c = job->proto;
    uint32_t n_reasoning = 0;
    for (uint32_t k = 0; k < c->n_choices; k++) n_reasoning += c->ch[k].n_reasoning_tokens;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)job->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", job->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(job->n_prompt + job->n_generated));
    cJSON *d = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(d, "reasoning_tokens", n_reasoning);
    cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", job->n_cached);
    return u;
}

/* Choice k ended: the parser's end of stream, the rest of its content, its finish_reason chunk. */
static void chat_on_seq_finish(server_job *job, uint32_t k) {
    chat_proto *c = job->proto;
    choice *h = &c->ch[k];
    server_finish f = job->seqs[k].finish;
    if (f != SERVER_FINISH_CANCELLED && f != SERVER_FINISH_ERROR && !h->content.stopped && f != SERVER_FINISH_CALL) {
        size_t before = gptoss_harmony_parser_n_messages(h->parser);
        gptoss_harmony_parser_process_eos(h->parser);
        after_parse(job, h, before);
        if (h->browser && !h->content.stopped) add_cited(job, h, "", 0, 1); /* a held-back citation */
        /* a call cut by the limit is closed here, but the choice ended at the limit, not with a call */
        if (f == SERVER_FINISH_LENGTH) job->seqs[k].finish = f;
        if (h->failed) job->seqs[k].finish = f = SERVER_FINISH_ERROR;
    }
    if (!h->content.stopped) flush_content(job, h, 1);
    if (!c->stream || f == SERVER_FINISH_CANCELLED || f == SERVER_FINISH_ERROR) return;
    cJSON *delta;
    cJSON *o = chunk(c, h->index, &delta);
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
    cJSON_ReplaceItemInObject(ch, "finish_reason", cJSON_CreateString(finish_reason(job, k)));
    server_emit_sse(job, NULL, o);
}

static void chat_on_finish(server_job *job) {
    chat_proto *c = job->proto;
    if (c->framed) {
        c->frame.end(job, c->frame.ctx, finish_reason(job, 0));
        return;
    }
    if (!c->stream) return;
    if (job->finish == SERVER_FINISH_CANCELLED) return;
    if (job->finish == SERVER_FINISH_ERROR) {
        server_reply r = {0};
        server_job_error(&r, job);
        gptoss_buf b = {0};
        gptoss_buf_printf(&b, "data: %s\n\n", r.body ? r.body : "{}");
        server_job_emit(job, b.data, b.len);
        gptoss_buf_free(&b);
        free(r.body);
        return;
    }
    if (c->include_usage) {
        cJSON *o = chunk(c, 0, NULL);
        cJSON_ReplaceItemInObject(o, "usage", usage(job));
        server_emit_sse(job, NULL, o);
    }
    server_job_emit(job, "data: [DONE]\n\n", 14);
}

/* Choice k's python call in its sandbox: the code and what it printed go to reasoning_content. */
static int chat_run_python(server_job *job, choice *h, gptoss_tokens *out) {
    chat_proto *c = job->proto;
    char *reply = NULL;
    int failed = 0;
    int rc = server_python_call(c->srv, &h->pybox, NULL, 1, &h->n_py_calls, h->call_channel,
                                h->call_args.data ? h->call_args.data : "", h->call_args.len, &reply, &failed, out);
    pthread_mutex_lock(&job->mu);
    if (rc != 0) snprintf(job->error, sizeof job->error, "out of memory running python");
    else {
        gptoss_buf shown = {0};
        gptoss_buf_printf(&shown, "%s[python]\n%.*s\n[python output]\n%s\n", h->reasoning.len ? "\n" : "",
                          (int)h->call_args.len, h->call_args.data ? h->call_args.data : "", reply);
        if (gptoss_buf_cstr(&shown)) {
            gptoss_buf_append(&h->reasoning, shown.data, shown.len);
            emit_text(job, h, "reasoning_content", shown.data, shown.len);
        }
        gptoss_buf_free(&shown);
        gptoss_harmony_parser_reset(h->parser, GPTOSS_HARMONY_ROLE_ASSISTANT);
        h->msg_open = 0;
    }
    pthread_mutex_unlock(&job->mu);
    free(reply);
    return rc;
}

/* Choice k's browser or python call, on its tool thread (the sequence waits): the call and what it
 * returned go to reasoning_content, as the model reads them. */
static int chat_run_tool(server_job *job, uint32_t k, gptoss_tokens *out) {
    chat_proto *c = job->proto;
    choice *h = &c->ch[k];
    if (h->python && cli_python_recipient(h->call_to)) return chat_run_python(job, h, out);
    cJSON *action = NULL;
    char *reply = NULL;
    int rc = server_browser_call(h->browser, h->call_to, h->call_channel, h->call_args.data ? h->call_args.data : "",
                                 h->call_args.len, &action, &reply, out);
    cJSON_Delete(action);
    pthread_mutex_lock(&job->mu);
    if (rc != 0) snprintf(job->error, sizeof job->error, "out of memory running the browser");
    else {
        gptoss_buf shown = {0};
        gptoss_buf_printf(&shown, "%s[%s %.*s]\n%s\n", h->reasoning.len ? "\n" : "", h->call_to, (int)h->call_args.len,
                          h->call_args.data ? h->call_args.data : "", reply);
        if (gptoss_buf_cstr(&shown)) {
            gptoss_buf_append(&h->reasoning, shown.data, shown.len);
            emit_text(job, h, "reasoning_content", shown.data, shown.len);
        }
        gptoss_buf_free(&shown);
        gptoss_harmony_parser_reset(h->parser, GPTOSS_HARMONY_ROLE_ASSISTANT);
        h->msg_open = 0;
    }
    pthread_mutex_unlock(&job->mu);
    free(reply);
    return rc;
}

static const server_job_ops chat_ops = {chat_on_token, chat_on_seq_finish, chat_on_finish, chat_free, chat_run_tool};

/* ---- requests --------------------------------------------------------------------------------- */

/* Every message's tool calls (id -> function name), for the tool messages that answer them. A scan of
 * all messages per tool message was quadratic in the request. Which calls count is what that scan
 * found: any message's tool_calls entry with a string id and a string function.name, the first of an
 * id winning. */
static int index_calls(const cJSON *messages, server_call_index *ix) {
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        const cJSON *tc;
        cJSON_ArrayForEach(tc, tcs) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
            if (cJSON_IsString(id) && cJSON_IsString(name) && server_call_index_add(ix, id->valuestring, name->valuestring) < 0)
                return -1;
        }
    }
    server_call_index_sort(ix);
    return 0;
}

#define BAD(param, ...)                                                                       \
    do {                                                                                      \
        server_error(r, 400, "invalid_request_error", param, "invalid_value", __VA_ARGS__); \
        goto fail;                                                                            \
    } while (0)

/* Messages into harmony (history) and instructions. Returns 0 or -1 with an error reply. */
static int map_messages(const cJSON *messages, uint32_t max_items, gptoss_harmony_conversation *hist, gptoss_buf *instr,
                        server_reply *r) {
    char *text = NULL;
    server_call_index calls = {0};
    if (!cJSON_IsArray(messages) || !cJSON_GetArraySize(messages)) BAD("messages", "'messages' must be a non-empty array");
    int n_messages = cJSON_GetArraySize(messages);
    if ((uint32_t)n_messages > max_items) {
        server_error(r, 400, "invalid_request_error", "messages", "array_above_max_length",
                     "'messages' has %d items; this server takes at most %u (--max-items).", n_messages, max_items);
        goto fail;
    }
    if (index_calls(messages, &calls) < 0) goto oom;
    const cJSON *m;
    int idx = 0;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) BAD("messages", "messages[%d] needs a string 'role'", idx);
        const char *rn = role->valuestring;
        int bad = 0;
        text = server_content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &bad);
        if (bad) BAD("messages", "messages[%d].content must be a string or a list of text parts", idx);
        if (!text) goto oom;
        gptoss_status st = GPTOSS_OK;
        if (!strcmp(rn, "system") || !strcmp(rn, "developer")) {
            if (*text) {
                if (instr->len) gptoss_buf_puts(instr, "\n\n");
                gptoss_buf_puts(instr, text);
            }
        } else if (!strcmp(rn, "user")) {
            st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_USER, NULL, NULL, NULL, NULL, text);
        } else if (!strcmp(rn, "assistant")) {
            const cJSON *rc = cJSON_GetObjectItemCaseSensitive(m, "reasoning_content");
            if (!rc || cJSON_IsNull(rc)) rc = cJSON_GetObjectItemCaseSensitive(m, "reasoning");
            if (rc && !cJSON_IsNull(rc) && !cJSON_IsString(rc))
                BAD("messages", "messages[%d].reasoning_content must be a string", idx);
            if (cJSON_IsString(rc) && *rc->valuestring)
                st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL, "analysis",
                                                             NULL, rc->valuestring);
            const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
            int has_calls = cJSON_IsArray(tcs) && cJSON_GetArraySize(tcs) > 0;
            if (tcs && !cJSON_IsNull(tcs) && !cJSON_IsArray(tcs)) BAD("messages", "messages[%d].tool_calls must be an array", idx);
            if (st == GPTOSS_OK && *text)
                st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL,
                                                             has_calls ? "commentary" : "final", NULL, text);
            const cJSON *tc;
            cJSON_ArrayForEach(tc, tcs) {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
                const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
                if (!cJSON_IsString(name) || (args && !cJSON_IsString(args) && !cJSON_IsNull(args)))
                    BAD("messages", "messages[%d].tool_calls[] needs function.name and function.arguments (a string)", idx);
                if (st == GPTOSS_OK)
                    st = server_append_call(hist, name->valuestring, cJSON_IsString(args) ? args->valuestring : "{}");
            }
        } else if (!strcmp(rn, "tool") || !strcmp(rn, "function")) {
            const cJSON *cid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(m, "name");
            const char *name = cJSON_IsString(cid) ? server_call_index_find(&calls, cid->valuestring) : NULL;
            if (!name && cJSON_IsString(nm)) name = nm->valuestring;
            if (!name) BAD("messages", "messages[%d] (tool) needs a 'tool_call_id' of an earlier assistant tool call", idx);
            st = server_append_call_output(hist, name, text);
        } else {
            BAD("messages", "messages[%d].role '%s' is not one of system, developer, user, assistant, tool", idx, rn);
        }
        free(text);
        text = NULL;
        if (st != GPTOSS_OK) goto oom;
        idx++;
    }
    server_call_index_free(&calls);
    return 0;
oom:
    server_error(r, 500, "server_error", NULL, NULL, "out of memory");
fail:
    free(text);
    server_call_index_free(&calls);
    return -1;
}

server_job *server_chat_request(server *srv, const cJSON *req, server_reply *r) {
    return server_chat_request_framed(srv, req, NULL, r);
}

server_job *server_chat_request_framed(server *srv, const cJSON *req, const server_frame *frame, server_reply *r) {
    server_job *job = NULL;
    chat_proto *c = NULL;
    gptoss_harmony_conversation *hist = gptoss_harmony_conversation_create();
    gptoss_buf instr = {0};
    gptoss_harmony_tool *tools = NULL;
    char **strict = NULL;
    size_t n_tools = 0;
    server_format format = {0};
    gptoss_tokens prompt = {0};
    if (!hist || !(c = calloc(1, sizeof *c)) || !(job = server_job_new())) {
        if (frame && frame->free) frame->free(frame->ctx);
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    if (frame) {
        c->framed = 1;
        c->frame = *frame;
        job->frame = frame->ctx;
    }
    job->proto = c;
    job->ops = &chat_ops;
    c->srv = srv;
    if (server_check_model(srv, req, r) < 0) goto fail;
    if (map_messages(cJSON_GetObjectItemCaseSensitive(req, "messages"), srv->opts.max_items, hist, &instr, r) < 0) goto fail;
    if (server_parse_tools(cJSON_GetObjectItemCaseSensitive(req, "tools"), &tools, &strict, &n_tools, r) < 0) goto fail;
    if (server_parse_format(cJSON_GetObjectItemCaseSensitive(req, "response_format"), 1, &format, r) < 0 ||
        server_parse_budget(req, "max_reasoning_tokens", "max_reasoning_tokens", &job->limit_reasoning,
                            &job->max_reasoning_tokens, r) < 0)
        goto fail;
    gptoss_harmony_effort effort;
    if (server_parse_effort(cJSON_GetObjectItemCaseSensitive(req, "reasoning_effort"), "reasoning_effort", &effort, r) < 0)
        goto fail;
    uint32_t max_tokens = 0, n = 1;
    if (server_get_limit(req, "max_tokens", &max_tokens, r) < 0 ||
        server_get_limit(req, "max_completion_tokens", &max_tokens, r) < 0 || server_get_uint(req, "n", &n, r) < 0)
        goto fail;
    uint32_t max_n = srv->opts.parallel < SERVER_MAX_SEQS ? srv->opts.parallel : SERVER_MAX_SEQS;
    if (c->framed && n != 1) BAD("n", "one answer per request");
    if (n < 1 || n > max_n) BAD("n", "'n' must be between 1 and %u (the server's parallel sequences, at most %d)", max_n, SERVER_MAX_SEQS);
    job->n_seq = c->n_choices = n;
    gptoss_tool_choice tool_choice;
    int named;
    if (server_tool_choice(cJSON_GetObjectItemCaseSensitive(req, "tool_choice"), tools, n_tools, &tool_choice, &named, r) < 0)
        goto fail;
    int no_tools = tool_choice == GPTOSS_TOOL_CHOICE_NONE;
    if (server_parse_stops(cJSON_GetObjectItemCaseSensitive(req, "stop"), c->framed ? SERVER_MAX_STOPS : MAX_STOPS,
                           "stop", &c->stops, r) < 0)
        goto fail;
    if (server_get_bool(req, "stream", 0, &c->stream, r) < 0) goto fail;
    /* framed: the frame writes the stream; the job streams when the request does */
    int stream = c->stream;
    if (c->framed) c->stream = 0;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (so && !cJSON_IsNull(so) && !cJSON_IsObject(so)) BAD("stream_options", "'stream_options' must be an object");
    c->include_usage = c->stream && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (server_make_samplers(srv, req, 1.0f, job, r) < 0) goto fail;

    char err[256] = "";
    if (!gptoss_buf_cstr(&instr) && instr.failed) goto oom;
    if (server_rules_build(srv, job, 1, &format, tools, strict, n_tools, tool_choice, named, r) < 0) goto fail;
    size_t at_least = server_prompt_min_tokens(srv, instr.len ? instr.data : NULL, hist);
    if (at_least + 1 > srv->opts.ctx_size) {
        server_error(r, 400, "invalid_request_error", "messages", "context_length_exceeded",
                     "This model's maximum context length is %u tokens. However, your messages resulted in at least "
                     "%zu tokens.",
                     srv->opts.ctx_size, at_least);
        goto fail;
    }
    /* the browser, unless the client has browser functions of its own (then their calls are its) */
    char **names = server_tool_names(tools, n_tools);
    if (!names) goto oom;
    int browse = srv->browser_source && !no_tools && !server_browser_declared(names, n_tools);
    /* python likewise, unless the client has a function named python */
    int python = srv->python && !no_tools && !server_python_declared(names, n_tools);
    for (size_t i = 0; i < n_tools; i++) free(names[i]);
    free(names);
    if (server_render_prompt(srv, effort, instr.len ? instr.data : NULL,
                             (browse ? SERVER_TOOL_BROWSER : 0u) | (python ? SERVER_TOOL_PYTHON : 0u),
                             no_tools ? NULL : tools, no_tools ? 0 : n_tools,
                             &format, hist, &prompt, err, sizeof err) != GPTOSS_OK) {
        server_error(r, 400, "invalid_request_error", "messages", NULL, "%s", err);
        goto fail;
    }
    if (prompt.n + 1 > srv->opts.ctx_size) {
        server_error(r, 400, "invalid_request_error", "messages", "context_length_exceeded",
                     "This model's maximum context length is %u tokens. However, your messages resulted in %zu tokens.",
                     srv->opts.ctx_size, prompt.n);
        goto fail;
    }
    if (!(c->declared = server_tool_names(tools, n_tools))) goto oom;
    c->n_declared = n_tools;
    for (uint32_t k = 0; browse && k < n; k++) {
        if (!(c->ch[k].browser = server_browser_new(srv))) {
            server_error(r, 500, "server_error", NULL, NULL, "cannot open the browser's backend");
            goto fail;
        }
        if (!(c->ch[k].annotations = cJSON_CreateArray())) goto oom;
    }
    for (uint32_t k = 0; k < n; k++) {
        c->ch[k].index = k;
        c->ch[k].python = python;
        if (gptoss_harmony_parser_create(srv->tok, GPTOSS_HARMONY_ROLE_ASSISTANT, 0, &c->ch[k].parser, err, sizeof err) !=
            GPTOSS_OK)
            goto oom;
    }
    job->prompt = prompt.ids;
    job->n_prompt = prompt.n;
    prompt.ids = NULL;
    job->max_tokens = max_tokens;
    job->stream = stream;
    if (server_make_id(c->id, sizeof c->id, "chatcmpl-") < 0) {
        server_error(r, 500, "server_error", NULL, NULL, "could not make a completion id: %s", strerror(errno));
        goto fail;
    }
    c->created = (long)time(NULL);
    for (uint32_t k = 0; c->stream && k < n; k++) {
        cJSON *delta;
        cJSON *o = chunk(c, k, &delta);
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        server_emit_sse(job, NULL, o);
    }
    gptoss_harmony_conversation_free(hist);
    gptoss_buf_free(&instr);
    server_free_tools(tools, strict, n_tools);
    server_format_free(&format);
    return job;
oom:
    server_error(r, 500, "server_error", NULL, NULL, "out of memory");
fail:
    gptoss_harmony_conversation_free(hist);
    gptoss_buf_free(&instr);
    server_free_tools(tools, strict, n_tools);
    server_format_free(&format);
    gptoss_tokens_free(&prompt);
    if (job) server_job_release(job);
    else chat_free(c);
    return NULL;
}

void server_chat_result(server *srv, server_job *job, server_reply *r) {
    (void)srv;
    chat_proto *c = job->proto;
    if (job->finish == SERVER_FINISH_ERROR) {
        server_job_error(r, job);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)c->created);
    cJSON_AddStringToObject(o, "model", c->srv->opts.model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "gptoss");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    for (uint32_t k = 0; k < c->n_choices; k++) {
        choice *h = &c->ch[k];
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, ch);
        cJSON_AddNumberToObject(ch, "index", k);
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        if (h->content.text.len || !h->n_calls)
            cJSON_AddStringToObject(msg, "content", gptoss_buf_cstr(&h->content.text) ? h->content.text.data : "");
        else cJSON_AddNullToObject(msg, "content");
        if (h->annotations && cJSON_GetArraySize(h->annotations))
            cJSON_AddItemToObject(msg, "annotations", cJSON_Duplicate(h->annotations, 1));
        if (h->reasoning.len && gptoss_buf_cstr(&h->reasoning))
            cJSON_AddStringToObject(msg, "reasoning_content", h->reasoning.data);
        else cJSON_AddNullToObject(msg, "reasoning_content");
        cJSON_AddNullToObject(msg, "refusal");
        if (h->n_calls) {
            cJSON *tcs = cJSON_AddArrayToObject(msg, "tool_calls");
            for (size_t i = 0; i < h->n_calls; i++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "id", h->calls[i].id);
                cJSON_AddStringToObject(e, "type", "function");
                cJSON *fn = cJSON_AddObjectToObject(e, "function");
                cJSON_AddStringToObject(fn, "name", h->calls[i].name ? h->calls[i].name : "");
                cJSON_AddStringToObject(fn, "arguments", h->calls[i].args ? h->calls[i].args : "{}");
                cJSON_AddItemToArray(tcs, e);
            }
        }
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", finish_reason(job, k));
    }
    cJSON_AddItemToObject(o, "usage", usage(job));
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

#else
typedef int server_chat_unused;
#endif
