/* server_responses.c: POST /v1/responses (and GET /v1/responses/{id}). Input items (messages,
 * reasoning, function_call, function_call_output) become a harmony conversation after the items of
 * the previous response when previous_response_id names one; the model's messages become output
 * items (reasoning, message, function_call), streamed as the Responses event sequence. Every
 * finished response is stored (up to --max-stored and --max-stored-bytes, oldest dropped first) with
 * its full item list, so a later request can continue it. */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* ---- the store ---------------------------------------------------------------------------------- */

typedef struct stored {
    char id[48];
    cJSON *items;   /* input and output items, in order */
    char *response; /* the response object (JSON) */
    size_t bytes;   /* what it holds in memory, about (json_bytes) */
} stored;

struct server_store {
    pthread_mutex_t mu;
    stored *e;
    uint32_t cap, head, n;
    size_t max_bytes, bytes; /* --max-stored-bytes; the entries' sum */
};

server_store *server_store_new(uint32_t cap, size_t max_bytes) {
    server_store *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->cap = cap ? cap : 1;
    st->max_bytes = max_bytes;
    if (!(st->e = calloc(st->cap, sizeof *st->e))) {
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->mu, NULL);
    return st;
}

void server_store_free(server_store *st) {
    if (!st) return;
    for (uint32_t i = 0; i < st->n; i++) {
        stored *s = &st->e[(st->head + i) % st->cap];
        cJSON_Delete(s->items);
        free(s->response);
    }
    pthread_mutex_destroy(&st->mu);
    free(st->e);
    free(st);
}

void server_store_stats(server_store *st, uint32_t *n, size_t *bytes) {
    pthread_mutex_lock(&st->mu);
    *n = st->n;
    *bytes = st->bytes;
    pthread_mutex_unlock(&st->mu);
}

/* Memory a parsed JSON value holds: each node and its strings (malloc's own overhead aside). Every
 * stored response carries the whole history it continues, so a long chain of responses grows the
 * store quadratically; --max-stored-bytes bounds it by this measure. Recursion is bounded by cJSON's
 * nesting limit on the parsed input. */
static size_t json_bytes(const cJSON *v) {
    size_t n = 0;
    for (; v; v = v->next) {
        n += sizeof *v;
        if (v->string) n += strlen(v->string) + 1;
        if (v->valuestring) n += strlen(v->valuestring) + 1;
        n += json_bytes(v->child);
    }
    return n;
}

static void store_drop_oldest(server_store *st) {
    stored *old = &st->e[st->head];
    cJSON_Delete(old->items);
    free(old->response);
    st->bytes -= old->bytes;
    memset(old, 0, sizeof *old);
    st->head = (st->head + 1) % st->cap;
    st->n--;
}

/* Keeps a finished response (taking items and response), dropping the oldest while the store is
 * over --max-stored or --max-stored-bytes. One larger than the whole byte bound is not kept. */
static void store_put(server_store *st, const char *id, cJSON *items, char *response) {
    size_t bytes = sizeof(stored) + json_bytes(items) + (response ? strlen(response) + 1 : 0);
    pthread_mutex_lock(&st->mu);
    if (bytes > st->max_bytes) {
        pthread_mutex_unlock(&st->mu);
        cJSON_Delete(items);
        free(response);
        return;
    }
    while (st->n && (st->n == st->cap || st->bytes + bytes > st->max_bytes)) store_drop_oldest(st);
    stored *s = &st->e[(st->head + st->n) % st->cap];
    snprintf(s->id, sizeof s->id, "%s", id);
    s->items = items;
    s->response = response;
    s->bytes = bytes;
    st->bytes += bytes;
    st->n++;
    pthread_mutex_unlock(&st->mu);
}

/* A copy of a stored entry's items (want_items) or response text; NULL if unknown. */
static void *store_get(server_store *st, const char *id, int want_items) {
    void *out = NULL;
    pthread_mutex_lock(&st->mu);
    for (uint32_t i = 0; i < st->n; i++) {
        stored *s = &st->e[(st->head + i) % st->cap];
        if (strcmp(s->id, id) != 0) continue;
        out = want_items ? (void *)cJSON_Duplicate(s->items, 1) : (void *)strdup(s->response ? s->response : "{}");
        break;
    }
    pthread_mutex_unlock(&st->mu);
    return out;
}

/* ---- generation state ------------------------------------------------------------------------- */

typedef enum kind { K_MESSAGE, K_REASONING, K_CALL } kind;

typedef struct item {
    kind k;
    char id[48], call_id[48];
    char *name;
    gptoss_buf text;
    char *args;
    int incomplete; /* cut by max_output_tokens (or the context) */
} item;

typedef struct resp_proto {
    server *srv;
    char id[48];
    long created;
    int stream, store;
    cJSON *echo;  /* settings echoed in the response object */
    cJSON *items; /* the conversation's items (history + this input) */
    gptoss_harmony_parser *parser;
    char **declared;
    size_t n_declared;
    item *out;
    size_t n_out;
    int msg_open;
    int cut; /* generation hit its limit: the items closed now are incomplete */
    int failed; /* an item id could not be made: the response fails */
    uint32_t seq, n_reasoning_tokens;
} resp_proto;

static void resp_free(void *p) {
    resp_proto *c = p;
    if (!c) return;
    gptoss_harmony_parser_free(c->parser);
    cJSON_Delete(c->echo);
    cJSON_Delete(c->items);
    for (size_t i = 0; i < c->n_declared; i++) free(c->declared[i]);
    free(c->declared);
    for (size_t i = 0; i < c->n_out; i++) {
        free(c->out[i].name);
        free(c->out[i].args);
        gptoss_buf_free(&c->out[i].text);
    }
    free(c->out);
    free(c);
}

static const char *item_text(item *it) { return gptoss_buf_cstr(&it->text) ? it->text.data : ""; }

static cJSON *item_json(item *it, int done) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", it->id);
    const char *status = !done ? "in_progress" : it->incomplete ? "incomplete" : "completed";
    if (it->k == K_REASONING) {
        cJSON_AddStringToObject(o, "type", "reasoning");
        cJSON_AddStringToObject(o, "status", status);
        cJSON_AddArrayToObject(o, "summary");
        cJSON *content = cJSON_AddArrayToObject(o, "content");
        if (done) {
            cJSON *part = cJSON_CreateObject();
            cJSON_AddStringToObject(part, "type", "reasoning_text");
            cJSON_AddStringToObject(part, "text", item_text(it));
            cJSON_AddItemToArray(content, part);
        }
    } else if (it->k == K_MESSAGE) {
        cJSON_AddStringToObject(o, "type", "message");
        cJSON_AddStringToObject(o, "status", status);
        cJSON_AddStringToObject(o, "role", "assistant");
        cJSON *content = cJSON_AddArrayToObject(o, "content");
        if (done) {
            cJSON *part = cJSON_CreateObject();
            cJSON_AddStringToObject(part, "type", "output_text");
            cJSON_AddStringToObject(part, "text", item_text(it));
            cJSON_AddArrayToObject(part, "annotations");
            cJSON_AddArrayToObject(part, "logprobs");
            cJSON_AddItemToArray(content, part);
        }
    } else {
        cJSON_AddStringToObject(o, "type", "function_call");
        cJSON_AddStringToObject(o, "status", status);
        cJSON_AddStringToObject(o, "call_id", it->call_id);
        cJSON_AddStringToObject(o, "name", it->name ? it->name : "");
        cJSON_AddStringToObject(o, "arguments", done && it->args ? it->args : "");
    }
    return o;
}

static cJSON *part_json(item *it, int done) {
    cJSON *part = cJSON_CreateObject();
    cJSON_AddStringToObject(part, "type", it->k == K_REASONING ? "reasoning_text" : "output_text");
    cJSON_AddStringToObject(part, "text", done ? item_text(it) : "");
    if (it->k == K_MESSAGE) cJSON_AddArrayToObject(part, "annotations");
    return part;
}

static cJSON *response_json(server_job *job, const char *status) {
    resp_proto *c = job->proto;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", "response");
    cJSON_AddNumberToObject(o, "created_at", (double)c->created);
    cJSON_AddStringToObject(o, "status", status);
    if (job->finish == SERVER_FINISH_ERROR) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", "server_error");
        cJSON_AddStringToObject(e, "message", job->error[0] ? job->error : "generation failed");
    } else cJSON_AddNullToObject(o, "error");
    if (!strcmp(status, "incomplete")) {
        cJSON *d = cJSON_AddObjectToObject(o, "incomplete_details");
        cJSON_AddStringToObject(d, "reason", "max_output_tokens");
    } else cJSON_AddNullToObject(o, "incomplete_details");
    cJSON_AddStringToObject(o, "model", c->srv->opts.model_id);
    cJSON *output = cJSON_AddArrayToObject(o, "output");
    int final = strcmp(status, "in_progress") != 0;
    if (final)
        for (size_t i = 0; i < c->n_out; i++) cJSON_AddItemToArray(output, item_json(&c->out[i], 1));
    for (cJSON *e = c->echo ? c->echo->child : NULL; e; e = e->next)
        cJSON_AddItemToObject(o, e->string, cJSON_Duplicate(e, 1));
    cJSON_AddBoolToObject(o, "parallel_tool_calls", 0);
    cJSON_AddBoolToObject(o, "store", c->store);
    cJSON_AddStringToObject(o, "truncation", "disabled");
    if (final) {
        cJSON *u = cJSON_AddObjectToObject(o, "usage");
        cJSON_AddNumberToObject(u, "input_tokens", (double)job->n_prompt);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "input_tokens_details"), "cached_tokens",
                                job->n_cached);
        cJSON_AddNumberToObject(u, "output_tokens", job->n_generated);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "output_tokens_details"), "reasoning_tokens",
                                c->n_reasoning_tokens);
        cJSON_AddNumberToObject(u, "total_tokens", (double)(job->n_prompt + job->n_generated));
    } else cJSON_AddNullToObject(o, "usage");
    return o;
}

static void event(server_job *job, const char *type, cJSON *o) {
    resp_proto *c = job->proto;
    if (!c->stream) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddNumberToObject(o, "sequence_number", c->seq++);
    server_emit_sse(job, type, o);
}

static cJSON *item_event(resp_proto *c, item *it) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "item_id", it->id);
    cJSON_AddNumberToObject(o, "output_index", (double)(it - c->out));
    return o;
}

static void open_item(server_job *job, kind k, const char *recipient) {
    resp_proto *c = job->proto;
    item *n = realloc(c->out, (c->n_out + 1) * sizeof *n);
    if (!n) return;
    c->out = n;
    item *it = &c->out[c->n_out++];
    memset(it, 0, sizeof *it);
    it->k = k;
    if (server_make_id(it->id, sizeof it->id, k == K_REASONING ? "rs_" : k == K_MESSAGE ? "msg_" : "fc_") < 0 ||
        (k == K_CALL && server_make_id(it->call_id, sizeof it->call_id, "call_") < 0)) {
        /* the response fails (resp_on_token, resp_on_finish) rather than carry an item without an id */
        snprintf(job->error, sizeof job->error, "could not make an output item id: %s", strerror(errno));
        c->failed = 1;
    }
    if (k == K_CALL) {
        it->name = server_call_name(recipient, (const char *const *)c->declared, c->n_declared);
    }
    if (!c->stream) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
    cJSON_AddItemToObject(o, "item", item_json(it, 0));
    event(job, "response.output_item.added", o);
    if (k != K_CALL) {
        o = item_event(c, it);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddItemToObject(o, "part", part_json(it, 0));
        event(job, "response.content_part.added", o);
    }
}

static void add_delta(server_job *job, const char *text, size_t len) {
    resp_proto *c = job->proto;
    if (!c->n_out || !len) return;
    item *it = &c->out[c->n_out - 1];
    gptoss_buf_append(&it->text, text, len);
    if (!c->stream || it->k == K_CALL) return; /* call arguments are sent whole, checked as JSON */
    char *t = strndup(text, len);
    if (!t) return;
    cJSON *o = item_event(c, it);
    cJSON_AddNumberToObject(o, "content_index", 0);
    cJSON_AddStringToObject(o, "delta", t);
    free(t);
    event(job, it->k == K_REASONING ? "response.reasoning_text.delta" : "response.output_text.delta", o);
}

static void close_item(server_job *job) {
    resp_proto *c = job->proto;
    if (!c->n_out) return;
    item *it = &c->out[c->n_out - 1];
    if (it->k == K_CALL) it->args = server_call_arguments(item_text(it), it->text.len);
    it->incomplete = c->cut;
    if (!c->stream) return;
    cJSON *o;
    if (it->k == K_CALL) {
        o = item_event(c, it);
        cJSON_AddStringToObject(o, "delta", it->args ? it->args : "");
        event(job, "response.function_call_arguments.delta", o);
        o = item_event(c, it);
        cJSON_AddStringToObject(o, "name", it->name ? it->name : "");
        cJSON_AddStringToObject(o, "arguments", it->args ? it->args : "");
        event(job, "response.function_call_arguments.done", o);
    } else {
        o = item_event(c, it);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddStringToObject(o, "text", item_text(it));
        event(job, it->k == K_REASONING ? "response.reasoning_text.done" : "response.output_text.done", o);
        o = item_event(c, it);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddItemToObject(o, "part", part_json(it, 1));
        event(job, "response.content_part.done", o);
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
    cJSON_AddItemToObject(o, "item", item_json(it, 1));
    event(job, "response.output_item.done", o);
}

static kind kind_of(gptoss_harmony_role role, const char *channel, const char *recipient) {
    gptoss_harmony_message m = {.role = role, .channel = channel, .recipient = recipient};
    if (server_is_call(&m)) return K_CALL;
    if (server_is_reasoning(channel)) return K_REASONING;
    return K_MESSAGE;
}

static int after_parse(server_job *job, size_t before) {
    resp_proto *c = job->proto;
    gptoss_harmony_parser *p = c->parser;
    size_t after = gptoss_harmony_parser_n_messages(p);
    int stop = 0;
    for (size_t i = before; i < after; i++) {
        const gptoss_harmony_message *m = gptoss_harmony_parser_message(p, i);
        kind k = kind_of(m->role, m->channel, m->recipient);
        if (!(i == before && c->msg_open)) { /* recovered whole by the lenient parser */
            size_t len;
            const char *text = gptoss_harmony_message_text(m, &len);
            if (!len && k != K_CALL) continue;
            open_item(job, k, m->recipient);
            add_delta(job, text, len);
        } else k = c->out[c->n_out - 1].k;
        c->msg_open = 0;
        close_item(job);
        if (k == K_CALL) {
            job->seqs[0].finish = SERVER_FINISH_CALL;
            stop = 1;
        }
    }
    if (stop || gptoss_harmony_parser_get_state(p) != GPTOSS_HARMONY_CONTENT) return stop;
    if (!c->msg_open) {
        c->msg_open = 1;
        open_item(job,
                  kind_of(gptoss_harmony_parser_current_role(p), gptoss_harmony_parser_current_channel(p),
                          gptoss_harmony_parser_current_recipient(p)),
                  gptoss_harmony_parser_current_recipient(p));
    }
    size_t len;
    const char *d = gptoss_harmony_parser_last_delta(p, &len);
    if (d) add_delta(job, d, len);
    return 0;
}

static int resp_on_token(server_job *job, uint32_t k, uint32_t id) {
    resp_proto *c = job->proto;
    (void)k; /* one sequence */
    if (c->msg_open && c->n_out && c->out[c->n_out - 1].k == K_REASONING) c->n_reasoning_tokens++;
    size_t before = gptoss_harmony_parser_n_messages(c->parser);
    gptoss_harmony_parser_process(c->parser, id);
    int stop = after_parse(job, before);
    if (c->failed) job->seqs[0].finish = SERVER_FINISH_ERROR;
    return stop || c->failed || id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_CALL;
}

/* Items of the output as input items of a later request. */
static void append_output_items(resp_proto *c, cJSON *items) {
    for (size_t i = 0; i < c->n_out; i++) cJSON_AddItemToArray(items, item_json(&c->out[i], 1));
}

static void resp_on_finish(server_job *job) {
    resp_proto *c = job->proto;
    if (job->finish == SERVER_FINISH_CANCELLED) return;
    if (job->finish != SERVER_FINISH_ERROR && job->finish != SERVER_FINISH_CALL) {
        /* As OpenAI's: a response cut by its limit ends with an incomplete item, the one being
         * written (or, cut between messages, the last one written). */
        c->cut = job->finish == SERVER_FINISH_LENGTH;
        size_t before = gptoss_harmony_parser_n_messages(c->parser);
        gptoss_harmony_parser_process_eos(c->parser);
        after_parse(job, before);
        if (c->cut && c->n_out) c->out[c->n_out - 1].incomplete = 1;
        if (c->failed) job->finish = SERVER_FINISH_ERROR;
    }
    const char *status = job->finish == SERVER_FINISH_ERROR    ? "failed"
                         : job->finish == SERVER_FINISH_LENGTH ? "incomplete"
                                                               : "completed";
    cJSON *resp = response_json(job, status);
    if (c->store && job->finish != SERVER_FINISH_ERROR) {
        cJSON *items = c->items;
        c->items = NULL;
        append_output_items(c, items);
        store_put(c->srv->store, c->id, items, cJSON_PrintUnformatted(resp));
    }
    if (!c->stream) {
        cJSON_Delete(resp);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "response", resp);
    event(job, job->finish == SERVER_FINISH_ERROR    ? "response.failed"
               : job->finish == SERVER_FINISH_LENGTH ? "response.incomplete"
                                                     : "response.completed",
          o);
}

static const server_job_ops resp_ops = {resp_on_token, NULL, resp_on_finish, resp_free};

/* ---- requests ---------------------------------------------------------------------------------- */

#define BAD(param, ...)                                                                       \
    do {                                                                                      \
        server_error(r, 400, "invalid_request_error", param, "invalid_value", __VA_ARGS__); \
        goto fail;                                                                            \
    } while (0)

/* The items' function calls (call_id -> name), for the outputs that answer them: what a scan of every
 * item per output found (a function_call item with string call_id and name, the first of an id
 * winning), without a scan per output (quadratic in the request). */
static int index_calls(const cJSON *items, server_call_index *ix) {
    const cJSON *it;
    cJSON_ArrayForEach(it, items) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "call_id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "function_call") && cJSON_IsString(cid) &&
            cJSON_IsString(name) && server_call_index_add(ix, cid->valuestring, name->valuestring) < 0)
            return -1;
    }
    server_call_index_sort(ix);
    return 0;
}

/* Items into harmony messages (and instructions from system/developer messages). */
static int map_items(const cJSON *items, gptoss_harmony_conversation *hist, gptoss_buf *instr, server_reply *r) {
    char *text = NULL;
    server_call_index calls = {0};
    const cJSON *it;
    int idx = 0;
    if (index_calls(items, &calls) < 0) goto oom;
    cJSON_ArrayForEach(it, items) {
        if (!cJSON_IsObject(it)) BAD("input", "input[%d] must be an object", idx);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const char *t = cJSON_IsString(type) ? type->valuestring : (!type && role ? "message" : NULL);
        if (!t) BAD("input", "input[%d] needs a string 'type'", idx);
        gptoss_status st = GPTOSS_OK;
        int bad = 0;
        if (!strcmp(t, "message")) {
            if (!cJSON_IsString(role)) BAD("input", "input[%d] (message) needs a string 'role'", idx);
            text = server_content_text(cJSON_GetObjectItemCaseSensitive(it, "content"), &bad);
            if (bad) BAD("input", "input[%d].content must be a string or a list of text parts", idx);
            if (!text) goto oom;
            const char *rn = role->valuestring;
            if (!strcmp(rn, "user"))
                st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_USER, NULL, NULL, NULL, NULL, text);
            else if (!strcmp(rn, "assistant"))
                st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL, "final",
                                                             NULL, text);
            else if (!strcmp(rn, "system") || !strcmp(rn, "developer")) {
                if (*text) {
                    if (instr->len) gptoss_buf_puts(instr, "\n\n");
                    gptoss_buf_puts(instr, text);
                }
            } else BAD("input", "input[%d].role '%s' is not one of user, assistant, system, developer", idx, rn);
        } else if (!strcmp(t, "reasoning")) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
            if (!content || cJSON_IsNull(content)) content = cJSON_GetObjectItemCaseSensitive(it, "summary");
            gptoss_buf b = {0};
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                const cJSON *pt = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (cJSON_IsString(pt)) gptoss_buf_puts(&b, pt->valuestring);
            }
            if (b.len && gptoss_buf_cstr(&b))
                st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL, "analysis",
                                                             NULL, b.data);
            gptoss_buf_free(&b);
        } else if (!strcmp(t, "function_call")) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
            const cJSON *args = cJSON_GetObjectItemCaseSensitive(it, "arguments");
            if (!cJSON_IsString(name) || !cJSON_IsString(args))
                BAD("input", "input[%d] (function_call) needs string 'name' and 'arguments'", idx);
            st = server_append_call(hist, name->valuestring, args->valuestring);
        } else if (!strcmp(t, "function_call_output")) {
            const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "call_id");
            if (!cJSON_IsString(cid)) BAD("input", "input[%d] (function_call_output) needs a string 'call_id'", idx);
            const char *name = server_call_index_find(&calls, cid->valuestring);
            if (!name) BAD("input", "No tool call found for function call output with call_id %s.", cid->valuestring);
            text = server_content_text(cJSON_GetObjectItemCaseSensitive(it, "output"), &bad);
            if (bad) BAD("input", "input[%d].output must be a string", idx);
            if (!text) goto oom;
            st = server_append_call_output(hist, name, text);
        } else {
            BAD("input", "input[%d]: item type '%s' is not supported", idx, t);
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

static void echo_member(cJSON *echo, const cJSON *req, const char *name, cJSON *dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (v) {
        cJSON_AddItemToObject(echo, name, cJSON_Duplicate(v, 1));
        cJSON_Delete(dflt);
    } else cJSON_AddItemToObject(echo, name, dflt);
}

server_job *server_responses_request(server *srv, const cJSON *req, server_reply *r) {
    server_job *job = NULL;
    resp_proto *c = NULL;
    gptoss_harmony_conversation *hist = gptoss_harmony_conversation_create();
    gptoss_buf instr = {0};
    gptoss_harmony_tool *tools = NULL;
    char **strict = NULL;
    size_t n_tools = 0;
    server_format format = {0};
    gptoss_tokens prompt = {0};
    if (!hist || !(c = calloc(1, sizeof *c)) || !(job = server_job_new())) {
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    job->proto = c;
    job->ops = &resp_ops;
    c->srv = srv;
    if (server_check_model(srv, req, r) < 0) goto fail;
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(req, "previous_response_id");
    if (prev && !cJSON_IsNull(prev) && !cJSON_IsString(prev)) BAD("previous_response_id", "'previous_response_id' must be a string");
    if (cJSON_IsString(prev)) {
        if (!(c->items = store_get(srv->store, prev->valuestring, 1))) {
            server_error(r, 400, "invalid_request_error", "previous_response_id", "previous_response_not_found",
                         "Previous response with id '%s' not found.", prev->valuestring);
            goto fail;
        }
    } else if (!(c->items = cJSON_CreateArray())) goto oom;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    /* counted before any item is copied: the stored history alone may be near the limit */
    size_t n_items = (size_t)cJSON_GetArraySize(c->items) +
                     (cJSON_IsArray(input) ? (size_t)cJSON_GetArraySize(input) : cJSON_IsString(input) ? 1 : 0);
    if (n_items > srv->opts.max_items) {
        server_error(r, 400, "invalid_request_error", "input", "array_above_max_length",
                     "'input' has %zu items with the stored history; this server takes at most %u (--max-items).",
                     n_items, srv->opts.max_items);
        goto fail;
    }
    if (cJSON_IsString(input)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "type", "message");
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", input->valuestring);
        cJSON_AddItemToArray(c->items, m);
    } else if (cJSON_IsArray(input)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, input) cJSON_AddItemToArray(c->items, cJSON_Duplicate(it, 1));
    } else BAD("input", "'input' must be a string or an array of items");
    if (map_items(c->items, hist, &instr, r) < 0) goto fail;
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(req, "instructions");
    if (ins && !cJSON_IsNull(ins) && !cJSON_IsString(ins)) BAD("instructions", "'instructions' must be a string");
    if (cJSON_IsString(ins) && *ins->valuestring) {
        gptoss_buf all = {0};
        gptoss_buf_puts(&all, ins->valuestring);
        if (instr.len) {
            gptoss_buf_puts(&all, "\n\n");
            gptoss_buf_append(&all, instr.data, instr.len);
        }
        gptoss_buf_free(&instr);
        instr = all;
    }
    if (server_parse_tools(cJSON_GetObjectItemCaseSensitive(req, "tools"), &tools, &strict, &n_tools, r) < 0) goto fail;
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(req, "text");
    if (text && !cJSON_IsNull(text) && !cJSON_IsObject(text)) BAD("text", "'text' must be an object");
    if (server_parse_format(cJSON_GetObjectItemCaseSensitive(text, "format"), 0, &format, r) < 0) goto fail;
    gptoss_tool_choice tool_choice;
    int named;
    if (server_tool_choice(cJSON_GetObjectItemCaseSensitive(req, "tool_choice"), tools, n_tools, &tool_choice, &named, r) < 0)
        goto fail;
    int no_tools = tool_choice == GPTOSS_TOOL_CHOICE_NONE;
    const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(req, "reasoning");
    if (reasoning && !cJSON_IsNull(reasoning) && !cJSON_IsObject(reasoning)) BAD("reasoning", "'reasoning' must be an object");
    gptoss_harmony_effort effort;
    if (server_parse_effort(cJSON_GetObjectItemCaseSensitive(reasoning, "effort"), "reasoning.effort", &effort, r) < 0 ||
        server_parse_budget(reasoning, "max_tokens", "reasoning.max_tokens", &job->limit_reasoning,
                            &job->max_reasoning_tokens, r) < 0)
        goto fail;
    uint32_t max_tokens = 0;
    if (server_get_limit(req, "max_output_tokens", &max_tokens, r) < 0) goto fail;
    if (server_get_bool(req, "stream", 0, &c->stream, r) < 0 || server_get_bool(req, "store", 1, &c->store, r) < 0)
        goto fail;
    if (server_make_samplers(srv, req, 1.0f, job, r) < 0) goto fail;

    char err[256] = "";
    if (!gptoss_buf_cstr(&instr) && instr.failed) goto oom;
    if (server_rules_build(srv, job, 0, &format, tools, strict, n_tools, tool_choice, named, r) < 0) goto fail;
    size_t at_least = server_prompt_min_tokens(srv, instr.len ? instr.data : NULL, hist);
    if (at_least + 1 > srv->opts.ctx_size) {
        server_error(r, 400, "invalid_request_error", "input", "context_length_exceeded",
                     "Your input exceeds the context window of this model: at least %zu tokens, at most %u.", at_least,
                     srv->opts.ctx_size - 1);
        goto fail;
    }
    if (server_render_prompt(srv, effort, instr.len ? instr.data : NULL, no_tools ? NULL : tools, no_tools ? 0 : n_tools,
                             &format, hist, &prompt, err, sizeof err) != GPTOSS_OK) {
        server_error(r, 400, "invalid_request_error", "input", NULL, "%s", err);
        goto fail;
    }
    if (prompt.n + 1 > srv->opts.ctx_size) {
        server_error(r, 400, "invalid_request_error", "input", "context_length_exceeded",
                     "Your input exceeds the context window of this model: %zu tokens, at most %u.", prompt.n,
                     srv->opts.ctx_size - 1);
        goto fail;
    }
    if (!(c->declared = server_tool_names(tools, n_tools))) goto oom;
    c->n_declared = n_tools;
    if (gptoss_harmony_parser_create(srv->tok, GPTOSS_HARMONY_ROLE_ASSISTANT, 0, &c->parser, err, sizeof err) != GPTOSS_OK)
        goto oom;
    c->echo = cJSON_CreateObject();
    echo_member(c->echo, req, "instructions", cJSON_CreateNull());
    echo_member(c->echo, req, "max_output_tokens", cJSON_CreateNull());
    echo_member(c->echo, req, "previous_response_id", cJSON_CreateNull());
    echo_member(c->echo, req, "temperature", cJSON_CreateNumber(1));
    echo_member(c->echo, req, "top_p", cJSON_CreateNumber(1));
    echo_member(c->echo, req, "tool_choice", cJSON_CreateString("auto"));
    echo_member(c->echo, req, "tools", cJSON_CreateArray());
    echo_member(c->echo, req, "metadata", cJSON_CreateObject());
    if (cJSON_IsObject(text) && cJSON_GetObjectItemCaseSensitive(text, "format"))
        cJSON_AddItemToObject(c->echo, "text", cJSON_Duplicate(text, 1));
    else cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(c->echo, "text"), "format"), "type", "text");
    cJSON *re = cJSON_AddObjectToObject(c->echo, "reasoning");
    cJSON_AddStringToObject(re, "effort", gptoss_harmony_effort_name(effort));
    cJSON_AddNullToObject(re, "summary");
    job->prompt = prompt.ids;
    job->n_prompt = prompt.n;
    prompt.ids = NULL;
    job->max_tokens = max_tokens;
    job->stream = c->stream;
    if (server_make_id(c->id, sizeof c->id, "resp_") < 0) {
        server_error(r, 500, "server_error", NULL, NULL, "could not make a response id: %s", strerror(errno));
        goto fail;
    }
    c->created = (long)time(NULL);
    if (c->stream) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "response", response_json(job, "in_progress"));
        event(job, "response.created", o);
        o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "response", response_json(job, "in_progress"));
        event(job, "response.in_progress", o);
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
    else resp_free(c);
    return NULL;
}

void server_responses_result(server *srv, server_job *job, server_reply *r) {
    (void)srv;
    if (job->finish == SERVER_FINISH_ERROR) {
        server_error(r, 500, "server_error", NULL, NULL, "%s", job->error[0] ? job->error : "generation failed");
        return;
    }
    cJSON *o = response_json(job, job->finish == SERVER_FINISH_LENGTH ? "incomplete" : "completed");
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

void server_responses_get(server *srv, const char *id, server_reply *r) {
    char *text = store_get(srv->store, id, 0);
    if (!text) {
        server_error(r, 404, "invalid_request_error", NULL, "not_found", "Response with id '%s' not found.", id);
        return;
    }
    r->status = 200;
    r->body = text;
    r->content_type = "application/json";
}

#else
typedef int server_responses_unused;
#endif
