/* server_responses.c: POST /v1/responses (and GET /v1/responses/{id}) and the store of finished
 * responses behind previous_response_id. Input items (messages, reasoning, function_call,
 * function_call_output) become a harmony conversation after the items of the responses it continues;
 * the model's messages become output items (reasoning, message, function_call), streamed as the
 * Responses event sequence. A finished response is stored with only its own items (its input, then
 * its output), each cut down to what the prompt renders, and a counted reference on the response it
 * continued: a conversation's history is shared by every response in it, not copied into each, and is
 * read back by walking the chain. The store is bounded by --max-stored (responses that can be looked
 * up) and --max-stored-bytes (all the memory it holds, including earlier responses only a later one
 * still needs), the oldest dropped first. */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* ---- the store ---------------------------------------------------------------------------------- */

/* A finished response. It holds only its own items (this request's input, then its output), as
 * norm_* leaves them; the history before them stays with the response it continued (parent),
 * which it holds a reference on, so a chain of N responses keeps each turn once. Everything but refs
 * (and response, dropped when the entry leaves the ring) is fixed once the entry is stored, so a
 * request holding a reference reads the chain's items without the lock. */
typedef struct stored {
    char id[48];
    struct stored *parent; /* the response this one continued (a reference held), or NULL */
    size_t refs;           /* the ring (while it can be looked up), stored children, requests */
    size_t n_items;        /* items of the whole chain, for --max-items before any is read */
    size_t chain_bytes;    /* bytes that stay while the entry lives: its items and its ancestors' */
    cJSON *items;          /* its own items, normalized */
    char *response;        /* the response object (JSON), for GET; NULL once out of the ring */
    size_t bytes;          /* what it holds now (json_bytes, plus the response text) */
    char container[48];    /* the python sandbox its calls ran in, or "": a later turn runs in it too */
} stored;

/* st->bytes counts every entry alive, once each: those in the ring, and those out of it that a
 * stored child or a request in progress still holds (their items only, the response text going at
 * eviction), until they are freed. store_put keeps it within max_bytes, so the bound bounds memory
 * however the chains are shaped. */
struct server_store {
    pthread_mutex_t mu;
    stored **e; /* the entries that can be looked up, oldest first, from head */
    uint32_t cap, head, n;
    size_t max_bytes, bytes; /* --max-stored-bytes; the sum over the entries alive */
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

/* Drops a reference on s (under the lock); an entry left with none is unlinked and its reference on
 * its parent dropped in turn: a loop, not recursion, as chains may be long. The unlinked entries go
 * on *dead (through their parent field, no longer needed) to be freed by free_dead outside the lock. */
static void unref_locked(server_store *st, stored *s, stored **dead) {
    while (s && --s->refs == 0) {
        stored *parent = s->parent;
        st->bytes -= s->bytes;
        s->parent = *dead;
        *dead = s;
        s = parent;
    }
}

static void free_dead(stored *dead) {
    while (dead) {
        stored *next = dead->parent;
        cJSON_Delete(dead->items);
        free(dead->response);
        free(dead);
        dead = next;
    }
}

static void store_unref(server_store *st, stored *s) {
    if (!s) return;
    stored *dead = NULL;
    pthread_mutex_lock(&st->mu);
    unref_locked(st, s, &dead);
    pthread_mutex_unlock(&st->mu);
    free_dead(dead);
}

void server_store_free(server_store *st) {
    if (!st) return;
    stored *dead = NULL;
    for (uint32_t i = 0; i < st->n; i++) unref_locked(st, st->e[(st->head + i) % st->cap], &dead);
    free_dead(dead);
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

/* Memory a parsed JSON value holds: each node and its strings (malloc's own overhead aside).
 * Recursion is bounded by the depth of the normalized items (three levels). */
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

/* Takes the oldest entry out of the ring. Its response text goes (only GET read it); its items stay
 * while a child or a request holds it. */
static void store_evict_oldest(server_store *st, stored **dead) {
    stored *old = st->e[st->head];
    st->e[st->head] = NULL;
    st->head = (st->head + 1) % st->cap;
    st->n--;
    if (old->response) {
        size_t text = strlen(old->response) + 1;
        free(old->response);
        old->response = NULL;
        old->bytes -= text;
        st->bytes -= text;
    }
    unref_locked(st, old, dead);
}

/* Keeps a finished response: its own items, its response text, and the reference on parent that the
 * request held (all three taken, whatever happens). The oldest entries leave the ring while it is
 * over --max-stored or --max-stored-bytes. Not kept: a response whose chain alone (its items and
 * those of every response before it, which nothing can free while it lives) is over the byte bound,
 * and one that still does not fit once the ring is empty (the rest held by requests in progress). */
static void store_put(server_store *st, const char *id, stored *parent, cJSON *items, size_t n_items, char *response,
                      const char *container) {
    stored *dead = NULL, *s = calloc(1, sizeof *s);
    size_t own = sizeof(stored) + json_bytes(items);
    size_t bytes = own + (response ? strlen(response) + 1 : 0);
    size_t before = parent ? parent->chain_bytes : 0; /* fixed while parent is held: no lock needed */
    pthread_mutex_lock(&st->mu);
    if (!s || before + bytes > st->max_bytes) goto drop;
    while (st->n && (st->n == st->cap || st->bytes + bytes > st->max_bytes)) store_evict_oldest(st, &dead);
    if (st->bytes + bytes > st->max_bytes) goto drop;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->parent = parent;
    s->refs = 1; /* the ring's */
    s->n_items = n_items;
    s->chain_bytes = before + own;
    s->items = items;
    s->response = response;
    s->bytes = bytes;
    snprintf(s->container, sizeof s->container, "%s", container ? container : "");
    st->bytes += bytes;
    st->e[(st->head + st->n) % st->cap] = s;
    st->n++;
    pthread_mutex_unlock(&st->mu);
    free_dead(dead);
    return;
drop:
    unref_locked(st, parent, &dead);
    pthread_mutex_unlock(&st->mu);
    free_dead(dead);
    free(s);
    cJSON_Delete(items);
    free(response);
}

static stored *store_find_locked(server_store *st, const char *id) {
    for (uint32_t i = 0; i < st->n; i++) {
        stored *s = st->e[(st->head + i) % st->cap];
        if (!strcmp(s->id, id)) return s;
    }
    return NULL;
}

/* A reference on the entry id names, for a request that continues it (store_unref, or store_put as
 * the new entry's parent, gives it back); NULL if unknown. The reference keeps the whole chain. */
static stored *store_ref(server_store *st, const char *id) {
    pthread_mutex_lock(&st->mu);
    stored *s = store_find_locked(st, id);
    if (s) s->refs++;
    pthread_mutex_unlock(&st->mu);
    return s;
}

/* A copy of the response object id names, for GET; NULL if unknown (or out of memory). */
static char *store_get_response(server_store *st, const char *id) {
    pthread_mutex_lock(&st->mu);
    stored *s = store_find_locked(st, id);
    char *out = s ? strdup(s->response ? s->response : "{}") : NULL;
    pthread_mutex_unlock(&st->mu);
    return out;
}

/* ---- generation state ------------------------------------------------------------------------- */

/* K_WEB: a browser call run server-side (a web_search_call item; server_browser.c); K_CODE: a python
 * call run server-side (a code_interpreter_call item; server_python.c) */
typedef enum kind { K_MESSAGE, K_REASONING, K_CALL, K_WEB, K_CODE } kind;

typedef struct item {
    kind k;
    char id[48], call_id[48];
    char *name;
    gptoss_buf text;
    char *args;
    int incomplete; /* cut by max_output_tokens (or the context) */
    char *channel;  /* K_WEB, K_CODE: the call's channel (the reply goes on it) */
    cJSON *action;  /* K_WEB: what it did, once done */
    int searched;   /* K_WEB, K_CODE: its call returned */
    char *output;   /* K_CODE: the tool's reply, once returned */
    int failed;     /* K_CODE: no sandbox could run it (the reply says why) */
    cJSON *annotations; /* K_MESSAGE with the browser: url_citation annotations */
} item;

typedef struct resp_proto {
    server *srv;
    char id[48];
    long created;
    int stream, store;
    cJSON *echo;    /* settings echoed in the response object */
    stored *parent; /* the response continued (a reference held until stored or freed), or NULL */
    cJSON *own;     /* this request's input items, normalized; the output's are added when it ends */
    size_t n_items; /* items of the conversation: the history's and this input's */
    gptoss_harmony_parser *parser;
    char **declared;
    size_t n_declared;
    item *out;
    size_t n_out;
    int msg_open;
    int cut; /* generation hit its limit: the items closed now are incomplete */
    int failed; /* an item id could not be made: the response fails */
    uint32_t seq, n_reasoning_tokens;
    server_browser *browser; /* the request asked for the browser (and the server has one), else NULL */
    server_cite cite;        /* the message being written: citations held back until complete */
    /* code_interpreter: the conversation's sandbox, named container (from the chain, the request, or
     * fresh); pybox once held (from the request, or its first call on) */
    int python, include_outputs;
    char container[48];
    server_python_box *pybox;
    uint32_t n_py_calls;
} resp_proto;

static void resp_free(void *p) {
    resp_proto *c = p;
    if (!c) return;
    gptoss_harmony_parser_free(c->parser);
    cJSON_Delete(c->echo);
    if (c->parent) store_unref(c->srv->store, c->parent);
    cJSON_Delete(c->own);
    for (size_t i = 0; i < c->n_declared; i++) free(c->declared[i]);
    free(c->declared);
    for (size_t i = 0; i < c->n_out; i++) {
        free(c->out[i].name);
        free(c->out[i].args);
        free(c->out[i].channel);
        free(c->out[i].output);
        cJSON_Delete(c->out[i].action);
        cJSON_Delete(c->out[i].annotations);
        gptoss_buf_free(&c->out[i].text);
    }
    server_browser_free(c->browser);
    server_python_release(c->srv, c->pybox);
    server_cite_free(&c->cite);
    free(c->out);
    free(c);
}

static const char *item_text(item *it) { return gptoss_buf_cstr(&it->text) ? it->text.data : ""; }

static cJSON *item_json(resp_proto *c, item *it, int done) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", it->id);
    const char *status = !done ? "in_progress" : it->incomplete ? "incomplete" : "completed";
    if (it->k == K_WEB) {
        cJSON_AddStringToObject(o, "type", "web_search_call");
        cJSON_AddStringToObject(o, "status", !done ? "in_progress" : it->searched ? "completed" : "incomplete");
        if (done && it->action) cJSON_AddItemToObject(o, "action", cJSON_Duplicate(it->action, 1));
    } else if (it->k == K_CODE) {
        cJSON_AddStringToObject(o, "type", "code_interpreter_call");
        cJSON_AddStringToObject(o, "status", !done          ? "in_progress"
                                             : it->failed   ? "failed"
                                             : it->searched ? "completed"
                                                            : "incomplete");
        cJSON_AddStringToObject(o, "code", item_text(it));
        cJSON_AddStringToObject(o, "container_id", c->container);
        /* as OpenAI's: the outputs only when include asks for them */
        if (done && it->output && c->include_outputs) {
            cJSON *outs = cJSON_AddArrayToObject(o, "outputs");
            cJSON *log = cJSON_CreateObject();
            cJSON_AddStringToObject(log, "type", "logs");
            cJSON_AddStringToObject(log, "logs", it->output);
            cJSON_AddItemToArray(outs, log);
        } else cJSON_AddNullToObject(o, "outputs");
    } else if (it->k == K_REASONING) {
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
            if (it->annotations) cJSON_AddItemToObject(part, "annotations", cJSON_Duplicate(it->annotations, 1));
            else cJSON_AddArrayToObject(part, "annotations");
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
    if (it->k == K_MESSAGE && done && it->annotations)
        cJSON_AddItemToObject(part, "annotations", cJSON_Duplicate(it->annotations, 1));
    else if (it->k == K_MESSAGE) cJSON_AddArrayToObject(part, "annotations");
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
        for (size_t i = 0; i < c->n_out; i++) cJSON_AddItemToArray(output, item_json(c, &c->out[i], 1));
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
    if (server_make_id(it->id, sizeof it->id,
                       k == K_REASONING ? "rs_"
                       : k == K_MESSAGE ? "msg_"
                       : k == K_WEB     ? "ws_"
                       : k == K_CODE    ? "ci_"
                                        : "fc_") < 0 ||
        (k == K_CALL && server_make_id(it->call_id, sizeof it->call_id, "call_") < 0)) {
        /* the response fails (resp_on_token, resp_on_finish) rather than carry an item without an id */
        snprintf(job->error, sizeof job->error, "could not make an output item id: %s", strerror(errno));
        c->failed = 1;
    }
    if (k == K_CALL) {
        it->name = server_call_name(recipient, (const char *const *)c->declared, c->n_declared);
    }
    if (k == K_WEB || k == K_CODE) {
        it->name = strdup(recipient ? recipient : "python");
        const char *ch = gptoss_harmony_parser_current_channel(c->parser);
        it->channel = strdup(ch ? ch : "analysis");
        if (!it->name || !it->channel) {
            snprintf(job->error, sizeof job->error, "out of memory");
            c->failed = 1;
        }
        /* a browser call is announced when complete (close_item): its action needs the whole
         * arguments; code streams as it is written */
        if (k == K_WEB || !c->stream) return;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
        cJSON_AddItemToObject(o, "item", item_json(c, it, 0));
        event(job, "response.output_item.added", o);
        event(job, "response.code_interpreter_call.in_progress", item_event(c, it));
        return;
    }
    if (k == K_MESSAGE && c->browser) {
        server_cite_free(&c->cite);
        c->cite = (server_cite){0};
        if (!(it->annotations = cJSON_CreateArray())) {
            snprintf(job->error, sizeof job->error, "out of memory");
            c->failed = 1;
        }
    }
    if (!c->stream) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
    cJSON_AddItemToObject(o, "item", item_json(c, it, 0));
    event(job, "response.output_item.added", o);
    if (k != K_CALL) {
        o = item_event(c, it);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddItemToObject(o, "part", part_json(it, 0));
        event(job, "response.content_part.added", o);
    }
}

/* Final text with the browser: citations become url_citation annotations, each complete citation
 * shown (and announced while streaming) at once, an incomplete one held back (flush: the text ended). */
static void add_cited(server_job *job, const char *text, size_t len, int flush) {
    resp_proto *c = job->proto;
    item *it = &c->out[c->n_out - 1];
    gptoss_buf shown = {0};
    int before = cJSON_GetArraySize(it->annotations);
    server_cite_feed(c->browser, &c->cite, text, len, flush, &shown, it->annotations);
    gptoss_buf_append(&it->text, shown.data, shown.len);
    if (c->stream && shown.len && gptoss_buf_cstr(&shown)) {
        cJSON *o = item_event(c, it);
        cJSON_AddNumberToObject(o, "content_index", 0);
        cJSON_AddStringToObject(o, "delta", shown.data);
        event(job, "response.output_text.delta", o);
        int n = cJSON_GetArraySize(it->annotations);
        for (int i = before; i < n; i++) {
            o = item_event(c, it);
            cJSON_AddNumberToObject(o, "content_index", 0);
            cJSON_AddNumberToObject(o, "annotation_index", i);
            cJSON_AddItemToObject(o, "annotation", cJSON_Duplicate(cJSON_GetArrayItem(it->annotations, i), 1));
            event(job, "response.output_text.annotation.added", o);
        }
    }
    gptoss_buf_free(&shown);
}

static void add_delta(server_job *job, const char *text, size_t len) {
    resp_proto *c = job->proto;
    if (!c->n_out || !len) return;
    item *it = &c->out[c->n_out - 1];
    if (it->k == K_MESSAGE && it->annotations) {
        add_cited(job, text, len, 0);
        return;
    }
    gptoss_buf_append(&it->text, text, len);
    if (!c->stream || it->k == K_CALL || it->k == K_WEB) return; /* call arguments are sent whole, checked as JSON */
    char *t = strndup(text, len);
    if (!t) return;
    cJSON *o = item_event(c, it);
    if (it->k == K_CODE) {
        cJSON_AddStringToObject(o, "delta", t);
        free(t);
        event(job, "response.code_interpreter_call_code.delta", o);
        return;
    }
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
    if (it->k == K_MESSAGE && it->annotations) add_cited(job, "", 0, 1);
    it->incomplete = c->cut;
    if (it->k == K_WEB) {
        /* the call runs once its last token is fed (resp_run_tool); here it is announced */
        job->seqs[0].tool = 1;
        if (!c->stream) return;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
        cJSON_AddItemToObject(o, "item", item_json(c, it, 0));
        event(job, "response.output_item.added", o);
        event(job, "response.web_search_call.in_progress", item_event(c, it));
        event(job, "response.web_search_call.searching", item_event(c, it));
        return;
    }
    if (it->k == K_CODE) {
        job->seqs[0].tool = 1; /* run once its last token is fed (resp_run_tool) */
        if (!c->stream) return;
        cJSON *o = item_event(c, it);
        cJSON_AddStringToObject(o, "code", item_text(it));
        event(job, "response.code_interpreter_call_code.done", o);
        event(job, "response.code_interpreter_call.interpreting", item_event(c, it));
        return;
    }
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
    cJSON_AddItemToObject(o, "item", item_json(c, it, 1));
    event(job, "response.output_item.done", o);
}

static kind kind_of(const resp_proto *c, gptoss_harmony_role role, const char *channel, const char *recipient) {
    gptoss_harmony_message m = {.role = role, .channel = channel, .recipient = recipient};
    if (server_is_call(&m) && c->browser && server_browser_recipient(recipient)) return K_WEB;
    if (server_is_call(&m) && c->python && cli_python_recipient(recipient)) return K_CODE;
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
        kind k = kind_of(c, m->role, m->channel, m->recipient);
        if (!(i == before && c->msg_open)) { /* recovered whole by the lenient parser */
            size_t len;
            const char *text = gptoss_harmony_message_text(m, &len);
            if (!len && k != K_CALL) continue;
            open_item(job, k, m->recipient);
            if ((k == K_WEB || k == K_CODE) && m->channel && c->n_out && !c->failed) { /* recovered whole: its own channel */
                char *ch = strdup(m->channel);
                if (ch) {
                    free(c->out[c->n_out - 1].channel);
                    c->out[c->n_out - 1].channel = ch;
                }
            }
            add_delta(job, text, len);
        } else k = c->out[c->n_out - 1].k;
        c->msg_open = 0;
        close_item(job);
        if (k == K_CALL) {
            job->seqs[0].finish = SERVER_FINISH_CALL;
            stop = 1;
        }
        if (k == K_WEB || k == K_CODE) break; /* the sequence waits for the call: nothing follows <|call|> */
    }
    if (stop || gptoss_harmony_parser_get_state(p) != GPTOSS_HARMONY_CONTENT) return stop;
    if (!c->msg_open) {
        c->msg_open = 1;
        open_item(job,
                  kind_of(c, gptoss_harmony_parser_current_role(p), gptoss_harmony_parser_current_channel(p),
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
    if (job->seqs[0].tool && !c->failed) return 0; /* a browser or python call: fed, then run (resp_run_tool) */
    return stop || c->failed || id == GPTOSS_HARMONY_RETURN || id == GPTOSS_HARMONY_CALL;
}

/* The python call of the last item, in the conversation's sandbox (made at its first call). */
static int resp_run_python(server_job *job, item *it, gptoss_tokens *out) {
    resp_proto *c = job->proto;
    char *reply = NULL;
    int failed = 0;
    int rc = server_python_call(c->srv, &c->pybox, c->container, 0, &c->n_py_calls, it->channel,
                                it->text.data ? it->text.data : "", it->text.len, &reply, &failed, out);
    pthread_mutex_lock(&job->mu);
    if (rc != 0) snprintf(job->error, sizeof job->error, "out of memory running python");
    else {
        it->output = reply;
        it->searched = 1;
        it->failed = failed;
        gptoss_harmony_parser_reset(c->parser, GPTOSS_HARMONY_ROLE_ASSISTANT);
        c->msg_open = 0;
        if (c->stream) {
            if (!failed) event(job, "response.code_interpreter_call.completed", item_event(c, it));
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
            cJSON_AddItemToObject(o, "item", item_json(c, it, 1));
            event(job, "response.output_item.done", o);
        }
    }
    pthread_mutex_unlock(&job->mu);
    return rc;
}

/* The browser or python call of the last item, on its tool thread (the sequence waits; nothing else
 * touches the protocol's state but the connection, which reads job->out under the lock). */
static int resp_run_tool(server_job *job, uint32_t k, gptoss_tokens *out) {
    resp_proto *c = job->proto;
    (void)k;
    item *it = &c->out[c->n_out - 1];
    if (it->k == K_CODE) return resp_run_python(job, it, out);
    cJSON *action = NULL;
    char *reply = NULL;
    int rc = server_browser_call(c->browser, it->name, it->channel, it->text.data ? it->text.data : "", it->text.len,
                                 &action, &reply, out);
    free(reply);
    pthread_mutex_lock(&job->mu);
    if (rc != 0) snprintf(job->error, sizeof job->error, "out of memory running the browser");
    else {
        it->action = action;
        it->searched = 1;
        /* what the model writes next is a new assistant message */
        gptoss_harmony_parser_reset(c->parser, GPTOSS_HARMONY_ROLE_ASSISTANT);
        c->msg_open = 0;
        if (c->stream) {
            event(job, "response.web_search_call.completed", item_event(c, it));
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "output_index", (double)(c->n_out - 1));
            cJSON_AddItemToObject(o, "item", item_json(c, it, 1));
            event(job, "response.output_item.done", o);
        }
    }
    pthread_mutex_unlock(&job->mu);
    return rc;
}

static int keep_output_items(resp_proto *c);
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
        /* out of memory, the response is not kept: a later request naming it gets a 400 */
        char *text = keep_output_items(c) < 0 ? NULL : cJSON_PrintUnformatted(resp);
        if (text) {
            store_put(c->srv->store, c->id, c->parent, c->own, c->n_items + c->n_out, text,
                      c->pybox ? c->container : NULL);
            c->parent = NULL;
            c->own = NULL;
        }
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

static const server_job_ops resp_ops = {resp_on_token, NULL, resp_on_finish, resp_free, resp_run_tool};

/* ---- requests ---------------------------------------------------------------------------------- */

#define BAD(param, ...)                                                                       \
    do {                                                                                      \
        server_error(r, 400, "invalid_request_error", param, "invalid_value", __VA_ARGS__); \
        goto fail;                                                                            \
    } while (0)

/* ---- items as stored ----------------------------------------------------------------------------
 * What map_items reads of an item, its text already gathered: a stored item keeps nothing else (ids,
 * statuses, annotations, fields no prompt shows), and map_items renders it as it rendered the item it
 * came from. NULL when out of memory. */

static cJSON *norm_new(const char *type) {
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddStringToObject(o, "type", type)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Adds name: value to o, deleting o on failure; o or NULL. */
static cJSON *norm_add(cJSON *o, const char *name, const char *value) {
    if (o && !cJSON_AddStringToObject(o, name, value)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *norm_message(const char *role, const char *text) {
    return norm_add(norm_add(norm_new("message"), "role", role), "content", text);
}

static cJSON *norm_reasoning(const char *text) {
    cJSON *o = norm_new("reasoning"), *part = norm_add(cJSON_CreateObject(), "text", text);
    cJSON *content = o ? cJSON_AddArrayToObject(o, "content") : NULL;
    if (!content || !part || !cJSON_AddItemToArray(content, part)) {
        cJSON_Delete(part);
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* call_id may be NULL (an input call without one: no output can answer it). */
static cJSON *norm_call(const char *call_id, const char *name, const char *args) {
    cJSON *o = norm_new("function_call");
    if (call_id) o = norm_add(o, "call_id", call_id);
    return norm_add(norm_add(o, "name", name), "arguments", args);
}

static cJSON *norm_call_output(const char *call_id, const char *output) {
    return norm_add(norm_add(norm_new("function_call_output"), "call_id", call_id), "output", output);
}

/* Adds v (NULL: out of memory) to to; -1 when either fails. */
static int keep_item(cJSON *to, cJSON *v) {
    if (v && cJSON_AddItemToArray(to, v)) return 0;
    cJSON_Delete(v);
    return -1;
}

/* The output's items as stored, after the request's input in c->own. */
static int keep_output_items(resp_proto *c) {
    for (size_t i = 0; i < c->n_out; i++) {
        item *it = &c->out[i];
        /* the browsing and the code run are not replayed in a later prompt (as harmony drops the
         * analysis of earlier turns); the python sandbox keeps the state */
        if (it->k == K_WEB || it->k == K_CODE) continue;
        cJSON *n = it->k == K_MESSAGE     ? norm_message("assistant", item_text(it))
                   : it->k == K_REASONING ? norm_reasoning(item_text(it))
                                          : norm_call(it->call_id, it->name ? it->name : "", it->args ? it->args : "");
        if (keep_item(c->own, n) < 0) return -1;
    }
    return 0;
}

/* The items' function calls (call_id -> name), for the outputs that answer them: what a scan of every
 * item per output found (a function_call item with string call_id and name, the first of an id
 * winning), without a scan per output (quadratic in the request). */
static int index_calls(const cJSON *const *segs, size_t n_segs, server_call_index *ix) {
    for (size_t k = 0; k < n_segs; k++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, segs[k]) {
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
            const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "call_id");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
            if (cJSON_IsString(type) && !strcmp(type->valuestring, "function_call") && cJSON_IsString(cid) &&
                cJSON_IsString(name) && server_call_index_add(ix, cid->valuestring, name->valuestring) < 0)
                return -1;
        }
    }
    server_call_index_sort(ix);
    return 0;
}

/* Items into harmony messages (and instructions from system/developer messages). segs are the item
 * arrays of the conversation in order: the stored responses' (checked when they were requests), then
 * this request's input, whose items are checked (indices in messages count from its start) and added,
 * normalized, to keep. */
static int map_items(const cJSON *const *segs, size_t n_segs, gptoss_harmony_conversation *hist, gptoss_buf *instr,
                     cJSON *keep, server_reply *r) {
    char *text = NULL;
    server_call_index calls = {0};
    if (index_calls(segs, n_segs, &calls) < 0) goto oom;
    for (size_t k = 0; k < n_segs; k++) {
        cJSON *to = k + 1 == n_segs ? keep : NULL;
        const cJSON *it;
        int idx = 0;
        cJSON_ArrayForEach(it, segs[k]) {
            if (!cJSON_IsObject(it)) BAD("input", "input[%d] must be an object", idx);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
            const char *t = cJSON_IsString(type) ? type->valuestring : (!type && role ? "message" : NULL);
            if (!t) BAD("input", "input[%d] needs a string 'type'", idx);
            gptoss_status st = GPTOSS_OK;
            int bad = 0, kept = 0;
            if (!strcmp(t, "message")) {
                if (!cJSON_IsString(role)) BAD("input", "input[%d] (message) needs a string 'role'", idx);
                text = server_content_text(cJSON_GetObjectItemCaseSensitive(it, "content"), &bad);
                if (bad) BAD("input", "input[%d].content must be a string or a list of text parts", idx);
                if (!text) goto oom;
                const char *rn = role->valuestring;
                if (!strcmp(rn, "user"))
                    st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_USER, NULL, NULL, NULL, NULL,
                                                                 text);
                else if (!strcmp(rn, "assistant"))
                    st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL,
                                                                 "final", NULL, text);
                else if (!strcmp(rn, "system") || !strcmp(rn, "developer")) {
                    if (*text) {
                        if (instr->len) gptoss_buf_puts(instr, "\n\n");
                        gptoss_buf_puts(instr, text);
                    }
                } else BAD("input", "input[%d].role '%s' is not one of user, assistant, system, developer", idx, rn);
                kept = to ? keep_item(to, norm_message(rn, text)) : 0;
            } else if (!strcmp(t, "reasoning")) {
                const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
                if (!content || cJSON_IsNull(content)) content = cJSON_GetObjectItemCaseSensitive(it, "summary");
                gptoss_buf b = {0};
                const cJSON *part;
                cJSON_ArrayForEach(part, content) {
                    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(part, "text");
                    if (cJSON_IsString(pt)) gptoss_buf_puts(&b, pt->valuestring);
                }
                if (!gptoss_buf_cstr(&b) && b.failed) st = GPTOSS_ERR_NO_MEMORY;
                else if (b.len)
                    st = gptoss_harmony_conversation_append_text(hist, GPTOSS_HARMONY_ROLE_ASSISTANT, NULL, NULL,
                                                                 "analysis", NULL, b.data);
                if (st == GPTOSS_OK && to) kept = keep_item(to, norm_reasoning(b.len ? b.data : ""));
                gptoss_buf_free(&b);
            } else if (!strcmp(t, "function_call")) {
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
                const cJSON *args = cJSON_GetObjectItemCaseSensitive(it, "arguments");
                const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "call_id");
                if (!cJSON_IsString(name) || !cJSON_IsString(args))
                    BAD("input", "input[%d] (function_call) needs string 'name' and 'arguments'", idx);
                st = server_append_call(hist, name->valuestring, args->valuestring);
                if (to)
                    kept = keep_item(to, norm_call(cJSON_IsString(cid) ? cid->valuestring : NULL, name->valuestring,
                                                   args->valuestring));
            } else if (!strcmp(t, "function_call_output")) {
                const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "call_id");
                if (!cJSON_IsString(cid)) BAD("input", "input[%d] (function_call_output) needs a string 'call_id'", idx);
                const char *name = server_call_index_find(&calls, cid->valuestring);
                if (!name) BAD("input", "No tool call found for function call output with call_id %s.", cid->valuestring);
                text = server_content_text(cJSON_GetObjectItemCaseSensitive(it, "output"), &bad);
                if (bad) BAD("input", "input[%d].output must be a string", idx);
                if (!text) goto oom;
                st = server_append_call_output(hist, name, text);
                kept = to ? keep_item(to, norm_call_output(cid->valuestring, text)) : 0;
            } else if (!strcmp(t, "web_search_call") || !strcmp(t, "code_interpreter_call")) {
                /* a search or a cell the server ran: not replayed (the answer that uses it is; the
                 * sandbox keeps what the code did) */
            } else {
                BAD("input", "input[%d]: item type '%s' is not supported", idx, t);
            }
            free(text);
            text = NULL;
            if (st != GPTOSS_OK || kept < 0) goto oom;
            idx++;
        }
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

/* A copy of an object with only the named members (NULL-terminated list); anything else is copied
 * as it is. The response echoes these request fields and is stored: what a client adds beside the
 * members OpenAI defines would otherwise be kept with every stored response. */
static cJSON *known_members(const cJSON *v, const char *const *keys) {
    if (!cJSON_IsObject(v)) return cJSON_Duplicate(v, 1);
    cJSON *o = cJSON_CreateObject();
    for (const char *const *k = keys; o && *k; k++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(v, *k);
        if (m) cJSON_AddItemToObject(o, *k, cJSON_Duplicate(m, 1));
    }
    return o;
}

/* text, tools and tool_choice as echoed: their defined members only (text.format's too). */
static void echo_request_shape(cJSON *echo, const cJSON *req) {
    static const char *const text_keys[] = {"format", "verbosity", NULL};
    static const char *const format_keys[] = {"type", "name", "description", "schema", "strict", NULL};
    static const char *const tool_keys[] = {"type", "name", "description", "parameters", "strict", "container", NULL};
    static const char *const choice_keys[] = {"type", "name", "mode", "tools", NULL};
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(req, "text");
    if (cJSON_IsObject(text) && cJSON_GetObjectItemCaseSensitive(text, "format")) {
        cJSON *t = known_members(text, text_keys);
        cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "format");
        if (f) cJSON_ReplaceItemInObjectCaseSensitive(t, "format", known_members(f, format_keys));
        cJSON_AddItemToObject(echo, "text", t);
    } else cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(echo, "text"), "format"), "type", "text");
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    cJSON *ta = cJSON_AddArrayToObject(echo, "tools");
    for (const cJSON *t = cJSON_IsArray(tools) ? tools->child : NULL; ta && t; t = t->next)
        cJSON_AddItemToArray(ta, known_members(t, tool_keys));
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
    if (choice) cJSON_AddItemToObject(echo, "tool_choice", known_members(choice, choice_keys));
    else cJSON_AddStringToObject(echo, "tool_choice", "auto");
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
    cJSON *input_text = NULL; /* a string input as the one item it stands for */
    const cJSON **segs = NULL;
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
    if (cJSON_IsString(prev) && !(c->parent = store_ref(srv->store, prev->valuestring))) {
        server_error(r, 400, "invalid_request_error", "previous_response_id", "previous_response_not_found",
                     "Previous response with id '%s' not found.", prev->valuestring);
        goto fail;
    }
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
    /* counted before any item is read: the stored history alone may be near the limit */
    c->n_items = (c->parent ? c->parent->n_items : 0) +
                 (cJSON_IsArray(input) ? (size_t)cJSON_GetArraySize(input) : cJSON_IsString(input) ? 1 : 0);
    if (c->n_items > srv->opts.max_items) {
        server_error(r, 400, "invalid_request_error", "input", "array_above_max_length",
                     "'input' has %zu items with the stored history; this server takes at most %u (--max-items).",
                     c->n_items, srv->opts.max_items);
        goto fail;
    }
    if (cJSON_IsString(input)) {
        if (!(input_text = cJSON_CreateArray()) || keep_item(input_text, norm_message("user", input->valuestring)) < 0)
            goto oom;
        input = input_text;
    } else if (!cJSON_IsArray(input)) BAD("input", "'input' must be a string or an array of items");
    if (!(c->own = cJSON_CreateArray())) goto oom;
    /* the conversation: the item arrays of the responses it continues, oldest first, then the input;
     * those that hold an item, so at most --max-items of them (checked above) */
    size_t n_segs = 1;
    for (const stored *s = c->parent; s; s = s->parent) n_segs += s->items->child != NULL;
    if (!(segs = calloc(n_segs, sizeof *segs))) goto oom;
    segs[n_segs - 1] = input;
    size_t k = n_segs - 1;
    for (const stored *s = c->parent; s; s = s->parent)
        if (s->items->child) segs[--k] = s->items;
    if (map_items(segs, n_segs, hist, &instr, c->own, r) < 0) goto fail;
    free(segs);
    segs = NULL;
    cJSON_Delete(input_text);
    input_text = NULL;
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
    int wants_browser = 0, oom_tools = 0, wants_python = 0, bad_tools = 0;
    const char *container = NULL;
    const cJSON *req_tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    cJSON *fn_tools = server_browser_strip_tools(req_tools, &wants_browser, &oom_tools);
    if (oom_tools) goto oom;
    if (wants_browser && !srv->browser_source) {
        cJSON_Delete(fn_tools);
        BAD("tools", "This server has no browser: start it with --browser (and --search-url URL or --corpus DB) "
                     "for web_search tools.");
    }
    cJSON *fn_tools2 = server_python_strip_tools(wants_browser ? fn_tools : req_tools, &wants_python, &container,
                                                 &oom_tools, &bad_tools, r);
    if (oom_tools || bad_tools) cJSON_Delete(fn_tools);
    if (oom_tools) goto oom;
    if (bad_tools) goto fail;
    if (wants_python && !srv->python) {
        cJSON_Delete(fn_tools);
        cJSON_Delete(fn_tools2);
        BAD("tools", "This server has no python: start it with --python for code_interpreter tools.");
    }
    int parsed = server_parse_tools(wants_python ? fn_tools2 : wants_browser ? fn_tools : req_tools, &tools, &strict,
                                    &n_tools, r);
    cJSON_Delete(fn_tools);
    cJSON_Delete(fn_tools2);
    if (parsed < 0) goto fail;
    if (wants_python) {
        /* the conversation's sandbox: the one the request names, else the one its chain ran in while it
         * is alive (held from now, so it is not reaped mid-request), else a new one at the first call */
        char err[256] = "";
        c->python = 1;
        const char *chain = NULL;
        for (const stored *s = c->parent; s && !chain; s = s->parent)
            if (s->container[0]) chain = s->container;
        if (container) {
            if (!(c->pybox = server_python_open(srv, container, 0, 0, err, sizeof err))) {
                server_error(r, 400, "invalid_request_error", "tools", "container_not_found",
                             "Container '%s' not found: it was never made here, or it ended after being idle.",
                             container);
                goto fail;
            }
        } else if (chain)
            c->pybox = server_python_open(srv, chain, 0, 0, err, sizeof err);
        if (c->pybox) snprintf(c->container, sizeof c->container, "%s", server_python_box_id(c->pybox));
        else if (server_python_new_id(c->container) < 0) {
            server_error(r, 500, "server_error", NULL, NULL, "could not make a container id: %s", strerror(errno));
            goto fail;
        }
    }
    const cJSON *include = cJSON_GetObjectItemCaseSensitive(req, "include");
    if (include && !cJSON_IsNull(include) && !cJSON_IsArray(include)) BAD("include", "'include' must be an array");
    for (const cJSON *e = cJSON_IsArray(include) ? include->child : NULL; e; e = e->next) {
        if (!cJSON_IsString(e)) BAD("include", "'include' must be an array of strings");
        if (!strcmp(e->valuestring, "code_interpreter_call.outputs")) c->include_outputs = 1;
    }
    if (wants_browser && !(c->browser = server_browser_new(srv))) {
        server_error(r, 500, "server_error", NULL, NULL, "cannot open the browser's backend");
        goto fail;
    }
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
    if (server_render_prompt(srv, effort, instr.len ? instr.data : NULL,
                             no_tools ? 0u
                                      : (c->browser ? SERVER_TOOL_BROWSER : 0u) | (c->python ? SERVER_TOOL_PYTHON : 0u),
                             no_tools ? NULL : tools, no_tools ? 0 : n_tools,
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
    if (no_tools) { /* tool_choice none: the browser and python were not declared either */
        server_browser_free(c->browser);
        c->browser = NULL;
        c->python = 0;
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
    echo_member(c->echo, req, "metadata", cJSON_CreateObject());
    echo_request_shape(c->echo, req);
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
    free(segs);
    cJSON_Delete(input_text);
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
        server_job_error(r, job);
        return;
    }
    cJSON *o = response_json(job, job->finish == SERVER_FINISH_LENGTH ? "incomplete" : "completed");
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

void server_responses_get(server *srv, const char *id, server_reply *r) {
    char *text = store_get_response(srv->store, id);
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
