/* server.h: `gptoss serve`, an OpenAI-compatible HTTP server (docs/SERVER.md).
 *
 *   app/server/server.c            HTTP (libmicrohttpd): routing, auth, limits, SSE, /health, /metrics
 *   app/server/server_sched.c      the scheduler thread: continuous batching, bounded queue, cancellation
 *   app/server/server_chat.c       POST /v1/chat/completions
 *   app/server/server_responses.c  POST /v1/responses and the stored responses behind previous_response_id
 *   app/server/server_completions.c POST /v1/completions: a raw prompt, no harmony rendering
 *   app/server/server_ollama.c     Ollama's API: /api/chat, /api/generate (framed output of the chat and
 *                                  completions protocols), /api/tags, /api/show, /api/ps, /api/version
 *   app/server/server_json.c       JSON (cJSON) helpers, OpenAI error objects, harmony helpers
 *   app/server/server_format.c     structured outputs: response formats, strict tools, tool_choice and the
 *                                  reasoning budget as one gptoss_constraint per request
 *   app/server/server_browser.c    the browser tool run server-side (--browser): its calls, the replies
 *                                  rendered for the running sequence, citations as url_citation
 *   app/server/server_python.c     the python tool run server-side (--python): a sandbox per conversation
 *                                  (container), kept while in use, reaped when idle, bounded in number
 *   app/cmd/cmd_serve.c            the production engine (model, sessions, gptoss_batch, samplers)
 *
 * Token generation goes through a server_engine, so tests can replay scripted model output through
 * exactly this code (tests/server_double.c). */
#ifndef GPTOSS_SERVER_H
#define GPTOSS_SERVER_H

#include <pthread.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "base/common.h"
#include "cli/cli_browser.h"
#include "cli/cli_python.h"
#include "gptoss.h"
#include "server/server_head.h"

/* ---- engine: the model behind the scheduler ------------------------------------------------ */

/* A fixed set of slots (one sequence each, KV cache included). Called from the scheduler thread
 * only. Each function returns 0, or -1 with a message in err. */
typedef struct server_engine {
    void *ctx;
    uint32_t n_slots; /* sequences that decode together */
    uint32_t n_ctx;   /* context of each slot */
    /* Forgets the slot's tokens (its KV cache is free for the next sequence). */
    void (*reset)(void *ctx, uint32_t slot);
    /* Prefix reuse (both may be NULL: every prompt is then prefilled whole). truncate keeps the
     * slot's first n tokens; copy makes slot dst hold slot src's first n tokens (all of them: with
     * the logits). Either returns -1, changing nothing, when the cache cannot do it (a sliding-window
     * layer no longer holds that far back). */
    int (*truncate)(void *ctx, uint32_t slot, uint32_t n, char *err, size_t err_size);
    int (*copy)(void *ctx, uint32_t dst, uint32_t src, uint32_t n, char *err, size_t err_size);
    /* Appends a chunk of prompt tokens to a slot (prefill). */
    int (*append)(void *ctx, uint32_t slot, const uint32_t *ids, size_t n, char *err, size_t err_size);
    /* One forward step: appends ids[i] to slots[i] for every i < n, all in one batch. */
    int (*step)(void *ctx, const uint32_t *slots, const uint32_t *ids, size_t n, char *err, size_t err_size);
    /* Picks the token that follows the slot's tokens with this sampler, among the ids whose bit is set
     * in bits (bit id%32 of word id/32; NULL: any). */
    int (*sample)(void *ctx, uint32_t slot, gptoss_sampler *sampler, const uint32_t *bits, uint32_t *out, char *err,
                  size_t err_size);
    void (*close)(void *ctx);
} server_engine;

/* --max-items: far beyond any real conversation that fits a context, and small enough that a request
 * at the limit is mapped and rendered in milliseconds. */
#define SERVER_DEFAULT_MAX_ITEMS 10000

/* Most --api-key options. */
#define SERVER_MAX_API_KEYS 64

/* Options of `gptoss serve`. */
typedef struct server_options {
    const char *model_path;
    const char *model_id; /* the name in /v1/models and the "model" field */
    const char *host;
    uint32_t port;
    /* --api-key, once per key (or $GPTOSS_API_KEY): each key is a separate client for prompt prefix
     * reuse (a KV cache filled under one key is never reused under another) */
    const char *api_keys[SERVER_MAX_API_KEYS];
    uint32_t n_api_keys;
    uint32_t parallel;   /* slots */
    uint32_t ctx_size;   /* per slot */
    uint32_t queue_size; /* waiting requests beyond the slots; then 429 */
    uint32_t threads;
    size_t max_body;     /* bytes */
    uint32_t max_connections;
    uint32_t max_per_address; /* connections from one address; 0: no limit */
    uint32_t header_timeout_s; /* to send a request's head (and the idle time between requests) */
    uint32_t body_timeout_s;   /* to send a request's body, once its head is in */
    uint32_t max_stored; /* responses kept for previous_response_id */
    size_t max_stored_bytes; /* and the most memory they may hold */
    uint32_t max_items;  /* messages / input items (with the stored history) per request; then 400 */
    uint32_t prefill_chunk;
    const char *tokenizer_path;
    uint64_t seed;       /* default seed when a request gives none */
    gptoss_kv_type kv_type; /* the sequences' KV cache (gptoss_session_options.kv_type) */
    int quiet;              /* no line per request on stderr */
    cli_browser_options browser; /* --browser and its backend's options (app/cli/cli_browser.h) */
    cli_python_options python;   /* --python and the tool's options (app/cli/cli_python.h) */
    double python_idle_timeout_s; /* --python-idle-timeout: an unused sandbox is ended after this */
    uint32_t python_max_sandboxes; /* --python-max-sandboxes: sandboxes alive at once */
} server_options;

/* The served model's id (/v1/models, every reply's "model") and the other names a request may give
 * it. The id is --model-name, else from the model's path: a Hugging Face cache folder
 * (models--ORG--NAME, or one of its snapshots) is ORG/NAME, a GGUF file its name without ".gguf",
 * a directory its name (a trailing /original skipped). When that name (or --model-name) says
 * gpt-oss-20b or gpt-oss-120b, "gpt-oss-20b", "gpt-oss:20b" (ollama's) and "openai/gpt-oss-20b"
 * name it too, and a file inside the cache answers to its repo's ORG/NAME. */
#define SERVER_MAX_ALIASES 4
typedef struct server_model_names {
    char id[256];
    char aliases[SERVER_MAX_ALIASES][256];
    size_t n_aliases;
} server_model_names;

/* Returns 0, or -1 when --model-name is too long for the id. */
int server_model_names_derive(const char *path, const char *name, server_model_names *out);

typedef int (*server_engine_open)(const server_options *opts, const gptoss_tokenizer *tok, server_engine *out,
                                  char *err, size_t err_size);

/* `gptoss serve` with the given engine; argv[0] is the command name. */
int server_main(int argc, char **argv, server_engine_open open);

/* ---- jobs: one generation request ---------------------------------------------------------- */

typedef enum server_finish {
    SERVER_FINISH_NONE = 0,
    SERVER_FINISH_STOP,      /* a stop token or a stop string */
    SERVER_FINISH_CALL,      /* a tool call */
    SERVER_FINISH_LENGTH,    /* max tokens or the context */
    SERVER_FINISH_CANCELLED, /* the client went away */
    SERVER_FINISH_ERROR,     /* the engine failed */
} server_finish;

typedef struct server_job server_job;

/* What a request's answers must follow (server_format.c): its grammars, compiled once for the
 * request, and the gptoss_constraint shared by its sequences' states. */
typedef struct server_rules server_rules;
void server_rules_free(server_rules *rules);

/* What a protocol (chat, responses) does with the tokens of a job. Called on the scheduler thread
 * with the job's lock held. */
typedef struct server_job_ops {
    /* A token of sequence k (sampled or forced); returns 1 to stop that sequence (the callee may set
     * job->seqs[k].finish to say why; otherwise it is SERVER_FINISH_STOP). */
    int (*on_token)(server_job *job, uint32_t k, uint32_t id);
    /* Sequence k ended (job->seqs[k].finish says why); optional. */
    void (*on_seq_finish)(server_job *job, uint32_t k);
    /* Every sequence ended (job->finish says how the job ended); writes the last output. */
    void (*on_finish)(server_job *job);
    void (*free_proto)(void *proto);
    /* Runs the tool call sequence k asked for (on_token set seqs[k].tool): called on a worker thread
     * of its own, with no lock held, while the sequence waits (the scheduler touches nothing of the
     * job's protocol meanwhile; the callee takes job->mu to emit). Fills out with the tokens to
     * append to the sequence (the tool's reply as a harmony message, then <|start|>assistant) and
     * returns 0; -1 ends the sequence with an error (job->error set under the lock). Optional. */
    int (*run_tool)(server_job *job, uint32_t k, gptoss_tokens *out);
} server_job_ops;

/* Most sequences (choices, OpenAI's `n`) one request may ask for. */
#define SERVER_MAX_SEQS 8

/* One sequence of a job: its own slot, sampler (seeded per sequence) and constraint state. */
typedef struct server_seq {
    gptoss_sampler *sampler;
    gptoss_constraint_state *constraint; /* NULL: unconstrained */
    uint32_t n_generated;
    uint32_t n_appended; /* tool replies appended to the sequence (they take context too) */
    server_finish finish;
    /* A tool call (server_browser.c): on_token sets tool when the call's last token is sampled;
     * that token is fed, then the sequence waits in its slot, its KV cache kept, until run_tool's
     * tokens (resume, under mu) are appended and it decodes on. */
    int tool;
    gptoss_tokens resume;
    int resume_failed;
} server_seq;

struct server_job {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int refs;
    /* request */
    uint32_t *prompt;
    size_t n_prompt;
    uint32_t max_tokens; /* per sequence; 0: up to the context */
    uint32_t n_seq;      /* 1..SERVER_MAX_SEQS sequences, all from the same prompt */
    server_seq seqs[SERVER_MAX_SEQS];
    server_rules *rules; /* tool_choice, response format, strict tools, budget (NULL: none) */
    int limit_reasoning;   /* max_reasoning_tokens / reasoning.max_tokens given */
    uint32_t max_reasoning_tokens;
    /* Whose prompt it is: the API key it came with (its index) and a hash of its `user` and
     * `safety_identifier`. A slot's cache is reused only by jobs of the same owner, so cached_tokens
     * cannot tell one client what another sent. */
    uint32_t owner_key;
    uint64_t owner_user;
    const server_job_ops *ops;
    void *proto; /* protocol state */
    void *frame; /* a server_frame's ctx, when the output is framed for another API (server_ollama.c) */
    int stream;
    /* scheduler's (its thread only) */
    uint32_t n_admitted, n_ended;
    int prefix_known; /* n_cached is set (the first sequence chose where its prefill starts) */
    /* progress (under mu) */
    int started, done, cancelled;
    server_finish finish; /* the job's: ERROR if a sequence failed, CANCELLED, else sequence 0's */
    uint32_t n_generated; /* all sequences */
    uint32_t n_cached;    /* prompt tokens found in a slot's KV cache (not prefilled for this job) */
    char error[256];
    int error_status; /* the HTTP status of a failed job: 0 is 500, 503 when a rank was lost */
    gptoss_buf out; /* bytes for the client not yet sent */
    double t_submit, t_first, t_done;
};

server_job *server_job_new(void);
void server_job_retain(server_job *job);  /* takes one more reference */
void server_job_release(server_job *job); /* drops one reference; frees at zero */
/* Appends to job->out and wakes the connection (lock held). */
void server_job_emit(server_job *job, const char *data, size_t len);
/* Marks the job cancelled (takes the lock); the scheduler drops it at its next step. */
void server_job_cancel(server_job *job);

/* ---- scheduler ----------------------------------------------------------------------------- */

typedef struct server_sched server_sched;

typedef struct server_stats {
    uint64_t prompt_tokens, generated_tokens, steps, finished, cancelled;
    uint64_t prompt_tokens_cached;    /* of prompt_tokens: taken from a KV cache (usage cached_tokens) */
    uint64_t prompt_tokens_prefilled; /* tokens run through prefill, every sequence's */
    uint64_t decode_tokens;                 /* tokens run through batched decode steps */
    double decode_seconds, prefill_seconds; /* time inside the engine's step / prompt appends */
    uint32_t active, queued, slots, queue_cap;
    double tokens_per_second; /* decode tokens per second over the last few seconds */
} server_stats;

int server_sched_start(server_sched **out, server_engine *engine, uint32_t queue_cap, uint32_t prefill_chunk,
                       char *err, size_t err_size);
/* Ends every job (running or queued) and refuses new ones. */
void server_sched_stop(server_sched *s);
void server_sched_free(server_sched *s);
/* A rank of the sharded model died (why says which): every job ends with a 503 carrying why, and
 * new ones are refused (submit returns -2). From the scheduler thread (inside an engine call that
 * cannot finish: the rank-loss hook) it ends the jobs itself and returns 1; the caller must then
 * never return into the engine. From another thread it returns 0 and the scheduler ends them. */
int server_sched_fail(server_sched *s, const char *why);
/* The same when the rank-loss hook runs on another thread while the scheduler thread stays blocked
 * for good in the collective it waited in (dist's watch thread takes the failure path for a thread
 * stuck inside MPI): when the scheduler is inside its engine work, the jobs end from this thread and
 * it returns 1 (the caller must then never return into the engine); else 0, as above. */
int server_sched_fail_stuck(server_sched *s, const char *why);
/* 1 (why filled) once server_sched_fail was called. */
int server_sched_lost(server_sched *s, char *why, size_t why_size);
/* Waits up to `seconds` for the scheduler to have ended every job; 1 when it has. */
int server_sched_wait_ended(server_sched *s, double seconds);
/* Queues a job (taking a reference). Returns 0, -1 when the queue is full, -2 when a rank of the
 * model was lost (server_sched_fail). */
int server_sched_submit(server_sched *s, server_job *job);
void server_sched_stats(server_sched *s, server_stats *out);

/* ---- the connections (server_conn.c) -------------------------------------------------------- */

/* Where a connection is. HEAD, CHUNKED and LINGER: the front's (it reads the head; reads a chunked
 * body; drains what follows an answer it ended); BODY and BUSY: libmicrohttpd's (reading the body;
 * running the request and writing its answer, with no deadline: a generation takes what it takes).
 * GONE: the front is done with it and waits for libmicrohttpd's close. */
typedef enum server_conn_phase {
    SERVER_CONN_HEAD,
    SERVER_CONN_CHUNKED,
    SERVER_CONN_LINGER,
    SERVER_CONN_BODY,
    SERVER_CONN_BUSY,
    SERVER_CONN_GONE
} server_conn_phase;
/* Why the front ended a connection. */
typedef enum server_conn_end {
    SERVER_CONN_OPEN,      /* it did not */
    SERVER_CONN_TIMED_OUT, /* its head or body took longer than allowed (a 408 when one was begun) */
    SERVER_CONN_EVICTED,   /* it waited for a request while another client needed its place */
    SERVER_CONN_REFUSED,   /* turned away (503) or answered an error for its head */
    SERVER_CONN_DONE       /* not the front's doing: its request was answered, it is closing */
} server_conn_end;

typedef struct server_conn_limits {
    double header_timeout_s, body_timeout_s;
    uint32_t max_connections;
    uint32_t per_address; /* 0: none */
    uint32_t reserve;     /* places kept free for newcomers by closing connections waiting for a head */
} server_conn_limits;

typedef struct server_conn_stats {
    uint32_t open;
    uint64_t timed_out, evicted, refused, bad_heads;
} server_conn_stats;

typedef struct server_conn server_conn;
typedef struct server_conns {
    pthread_mutex_t mu;
    pthread_t thread; /* accepts, reads heads, keeps the deadlines */
    int started, running, stop;
    int listen_fd, wake[2];
    server_conn_limits lim;
    server_head_limits head_lim;
    int (*handoff)(void *ctx, int fd, const struct sockaddr *addr, socklen_t len); /* 0: libmicrohttpd has it */
    void (*on_answered)(void *ctx, int status, const char *message); /* the front answered an error */
    void *ctx;
    server_conn *first, *last; /* every connection, oldest first */
    uint32_t n_live;           /* of those, the ones not ended */
    uint64_t n_timed_out, n_evicted, n_refused, n_bad_heads;
} server_conns;

/* Binds and listens on addr (the bound port in *port: for port 0, the one picked); 0, or -1 with the
 * reason in err. Nothing is accepted before server_conns_run. */
int server_conns_start(server_conns *g, const server_conn_limits *lim, const server_head_limits *head_lim,
                       const struct sockaddr *addr, socklen_t addr_len, unsigned *port, char *err, size_t err_size);
/* Starts the front's thread: a connection whose head is whole and well-formed goes to handoff (which
 * closes the socket when it fails); a bad head is answered with a JSON error (on_answered is told). */
int server_conns_run(server_conns *g, int (*handoff)(void *ctx, int fd, const struct sockaddr *addr, socklen_t len),
                     void (*on_answered)(void *ctx, int status, const char *message), void *ctx);
/* Stops accepting and reading heads (the listening socket is closed). */
void server_conns_quiesce(server_conns *g);
/* After libmicrohttpd has stopped: closes what the front still holds and frees everything. Safe on
 * one never started. */
void server_conns_stop(server_conns *g);
/* libmicrohttpd announced a connection (NOTIFY_STARTED): the front's record of it, or NULL. */
server_conn *server_conn_attach(server_conns *g, int fd);
/* libmicrohttpd closed it (NOTIFY_CLOSED, before the socket is closed); c may be NULL. */
void server_conn_closed(server_conns *g, server_conn *c);
/* It moved to another phase (BUSY: its request runs); c may be NULL. */
void server_conn_enter(server_conns *g, server_conn *c, server_conn_phase phase);
/* Its request is answered and it closes: it no longer counts against any limit. c may be NULL. */
void server_conn_finished(server_conns *g, server_conn *c);
/* Whether and why the front ended it. */
server_conn_end server_conn_ended(server_conns *g, server_conn *c);
void server_conns_stats(server_conns *g, server_conn_stats *out);

/* ---- shared server state ------------------------------------------------------------------- */

typedef struct server_store server_store;
typedef struct server_python_pool server_python_pool;

typedef struct server {
    server_options opts;
    gptoss_tokenizer *tok;
    server_sched *sched;
    server_store *store;
    server_conns conns;
    struct MHD_Daemon *daemon;
    server_model_names names;
    gptoss_grammar_vocab *gvocab;     /* the tokenizer's token trie for grammar masks, built at start */
    gptoss_grammar *json_object;      /* {"type": "object"}: response_format json_object */
    cli_browser_source *browser_source; /* --browser: the backend opened at start (server_browser.c) */
    server_python_pool *python;       /* --python: the sandboxes (server_python.c) */
    size_t max_token_bytes;           /* the tokenizer's longest token (128 for o200k): prompt bounds */
    char date[16];
    int debug; /* $GPTOSS_SERVE_DEBUG: libmicrohttpd's messages on stderr */
    /* metrics */
    pthread_mutex_t mu;
    uint64_t n_requests, n_errors, n_rejected;
    /* under mu: until the daemon listens, libmicrohttpd's last message (the reason it did not start) */
    int listening;
    char mhd_message[256];
} server;

/* ---- JSON and protocol helpers (server_json.c) --------------------------------------------- */

/* The longest token of the tokenizer in bytes (special literals included), 0 for an empty one. */
size_t server_max_token_bytes(const gptoss_tokenizer *tok);
/* Fewest tokens the prompt of these messages and instructions can render to, from bytes alone:
 * every text the renderer always keeps (not the chain of thought on "analysis", which it may drop)
 * is encoded separately and each token covers at most srv->max_token_bytes of it. Lets a prompt far
 * beyond the context be refused before it is tokenized. */
size_t server_prompt_min_tokens(const server *srv, const char *instructions, const gptoss_harmony_conversation *msgs);

struct cJSON;

/* An HTTP reply: status and a malloc'd body. */
typedef struct server_reply {
    int status;
    char *body;
    const char *content_type;
} server_reply;

/* OpenAI error object {"error": {message, type, param, code}}. */
/* A failed job's error (job->error, status job->error_status or 500) in OpenAI's shape. */
void server_job_error(server_reply *r, const server_job *job);
void server_error(server_reply *r, int status, const char *type, const char *param, const char *code,
                  const char *fmt, ...) GPTOSS_PRINTF(6, 7);
/* Valid UTF-8 (no overlongs, no surrogates). */
int server_utf8_valid(const char *s, size_t n);
/* Random bytes in an id: 128 bits, written as 32 lowercase hex digits after the prefix. */
#define SERVER_ID_BYTES 16
/* An id with a prefix ("chatcmpl-", "resp_", "msg_", "rs_", "fc_", "call_") and SERVER_ID_BYTES from
 * the OS random source (gptoss_random_bytes). Returns 0, or -1 with errno set (the OS random source failed, or size is too small
 * for prefix + 32 digits) and out empty. */
int server_make_id(char *out, size_t size, const char *prefix);
/* Text of an OpenAI content: a string, or a list of parts with "text" (types text, input_text,
 * output_text). Malloc'd; NULL with *bad = 1 when the shape is wrong. */
char *server_content_text(const struct cJSON *content, int *bad);
/* Valid JSON text? */
int server_json_valid(const char *s, size_t n);
/* A deep copy of the array arr without the items drop() accepts; NULL with *oom set when out of memory. */
struct cJSON *server_json_array_without(const struct cJSON *arr, int (*drop)(const struct cJSON *item), int *oom);
/* Arguments of a tool call as a JSON text: the model's own text when it is valid JSON, otherwise
 * that text as a JSON string. Malloc'd. */
char *server_call_arguments(const char *text, size_t len);
/* The function a recipient names ("functions.NAME", "NAME", "functions.NAMEjson"), malloc'd. */
char *server_call_name(const char *recipient, const char *const *declared, size_t n_declared);
/* Appends a client-supplied function call (assistant to functions.NAME, commentary, JSON
 * arguments) or its result (tool functions.NAME) to a conversation, as harmony renders them. */
gptoss_status server_append_call(gptoss_harmony_conversation *hist, const char *name, const char *arguments);

/* The names of a request's earlier tool calls by call id, so that each tool result finds its call's
 * name in O(log n) instead of a scan of every message. The first call given an id wins (as a scan in
 * message order would find it). Ids and names are borrowed from the request's JSON. */
typedef struct server_call_entry {
    const char *id, *name;
    size_t order; /* when it was added: ties between equal ids go to the first */
} server_call_entry;
typedef struct server_call_index {
    server_call_entry *e;
    size_t n, cap;
} server_call_index;
/* Returns 0, or -1 out of memory. */
int server_call_index_add(server_call_index *ix, const char *id, const char *name);
/* After the last add, before any find. */
void server_call_index_sort(server_call_index *ix);
const char *server_call_index_find(const server_call_index *ix, const char *id);
void server_call_index_free(server_call_index *ix);
gptoss_status server_append_call_output(gptoss_harmony_conversation *hist, const char *name, const char *text);
/* Is this parsed message a tool call / reasoning? */
int server_is_call(const gptoss_harmony_message *m);
int server_is_reasoning(const char *channel);
/* ---- structured outputs (server_format.c) ---- */

typedef enum server_format_kind {
    SERVER_FORMAT_TEXT = 0,    /* free text */
    SERVER_FORMAT_JSON_OBJECT, /* any JSON object (constrained) */
    SERVER_FORMAT_JSON_SCHEMA  /* in # Response Formats; constrained when strict */
} server_format_kind;
typedef struct server_format {
    server_format_kind kind;
    char *name, *description, *schema; /* JSON_SCHEMA (malloc'd; schema is JSON text) */
    int strict;
} server_format;
/* A request's response format: chat's response_format ({"type", "json_schema": {"name", "description",
 * "schema", "strict"}}) when chat, else Responses' text.format ({"type", "name", "description",
 * "schema", "strict"}). v absent or null: text. Returns 0 or -1 with a reply. */
int server_parse_format(const struct cJSON *v, int chat, server_format *out, server_reply *r);
void server_format_free(server_format *f);
/* The reasoning budget: a non-negative integer member (absent or null: *limit = 0). param names it
 * in errors. Returns 0 or -1 with a reply. */
int server_parse_budget(const struct cJSON *obj, const char *name, const char *param, int *limit, uint32_t *budget,
                        server_reply *r);
/* What a request asks of the answer's shape, as one gptoss_constraint in job->rules and a state per
 * sequence (job->n_seq set): tool_choice (none, required, named: the functions a call may go to),
 * the response format's grammar (json_object, or json_schema with strict) for the final answer,
 * each strict tool's grammar (strict[i] from server_parse_tools) for its arguments, and the
 * reasoning budget (job->limit_reasoning). Grammars are compiled once, for the request. With
 * tool_choice auto and none of the rest, nothing is constrained (no rules). A schema the compiler
 * refuses is a 400 naming the field (chat: "response_format.json_schema.schema",
 * "tools[i].function.parameters"; Responses: "text.format.schema", "tools[i].parameters") with the
 * compiler's message (keyword and JSON pointer). Returns 0 or -1 with a reply. */
int server_rules_build(const server *srv, server_job *job, int chat, const server_format *format,
                       const gptoss_harmony_tool *tools, char *const *strict, size_t n_tools,
                       gptoss_tool_choice choice, int named, server_reply *r);

/* The built-in tools whose namespaces a prompt declares (server_render_prompt's builtin). */
#define SERVER_TOOL_BROWSER 1u
#define SERVER_TOOL_PYTHON 2u
/* Renders the system message (date, effort, the namespaces of the built-in tools in builtin: SERVER_TOOL_*), a developer message with instructions, function tools
 * (when any) and the response format's # Response Formats (json_schema) and msgs into a prompt for
 * the assistant. */
gptoss_status server_render_prompt(const server *srv, gptoss_harmony_effort effort, const char *instructions,
                                   unsigned builtin, const gptoss_harmony_tool *tools, size_t n_tools,
                                   const server_format *format,
                                   const gptoss_harmony_conversation *msgs, gptoss_tokens *out, char *err,
                                   size_t err_size);
/* Tools of a request: [{type:function, function:{name, description, parameters, strict}}] (chat) or
 * [{type:function, name, description, parameters, strict}] (responses). *strict_out gets, per tool, the
 * JSON text its arguments are constrained to (strict: true; parameters, or an object without
 * properties when none are given), else NULL. Returns 0 or -1 with an error reply. */
int server_parse_tools(const struct cJSON *tools, gptoss_harmony_tool **out, char ***strict_out, size_t *n_out,
                       server_reply *r);
void server_free_tools(gptoss_harmony_tool *tools, char **strict, size_t n);
/* One sampler per sequence of the job from temperature / top_p / seed (NULL members: defaults);
 * sequence k gets seed + k. Returns 0 or -1 with a reply. */
int server_make_samplers(const server *srv, const struct cJSON *req, float default_temperature, server_job *job,
                         server_reply *r);
/* tool_choice of a request against its tools: "auto" (or absent), "none", "required", or a named
 * function (*named: its index in tools, else -1). An unknown name, or "required" / a name without
 * tools, is a 400. chat: {"type":"function","function":{"name"}}; responses: {"type":"function","name"}.
 * Returns 0 or -1 with a reply. */
int server_tool_choice(const struct cJSON *tool_choice, const gptoss_harmony_tool *tools, size_t n_tools,
                       gptoss_tool_choice *choice, int *named, server_reply *r);
/* Does a request's model name the served model (its id or an alias, any case)? */
int server_model_known(const server *srv, const char *name);
/* A request's "model" names the served model (absent is fine). Returns 0 or -1 with a reply. */
int server_check_model(const server *srv, const struct cJSON *req, server_reply *r);
/* A non-negative integer member (absent: *out untouched). Returns 0 or -1 with a reply. */
int server_get_uint(const struct cJSON *req, const char *name, uint32_t *out, server_reply *r);
/* A token limit (max_tokens, max_output_tokens): absent or null leaves *out untouched; otherwise an
 * integer of at least 1 (beyond 2^32-1 taken as 2^32-1: the context ends first). 0, or -1 with r set. */
int server_get_limit(const struct cJSON *req, const char *name, uint32_t *out, server_reply *r);
/* Optional boolean member: absent or null gives dflt; another type is a 400. 0, or -1 with r set. */
int server_get_bool(const struct cJSON *req, const char *name, int dflt, int *out, server_reply *r);
/* The declared tools' names (strdup'ed, n_tools entries), or NULL when out of memory. */
char **server_tool_names(const gptoss_harmony_tool *tools, size_t n_tools);
/* Effort from "low|medium|high" (absent: low). Returns 0 or -1 with a reply. */
int server_parse_effort(const struct cJSON *v, const char *param, gptoss_harmony_effort *out, server_reply *r);
/* A request's stop strings (chat `stop`, completions `stop`, Ollama's options.stop) and the text
 * they may cut: what is shown holds back the bytes a stop string could still begin in. */
#define SERVER_MAX_STOPS 16
typedef struct server_stops {
    char *s[SERVER_MAX_STOPS];
    size_t n, max_len;
} server_stops;
/* v: absent, null, a string or an array of at most max strings (empty ones skipped); param names it
 * in errors. 0, or -1 with a reply. */
int server_parse_stops(const struct cJSON *v, size_t max, const char *param, server_stops *out, server_reply *r);
void server_stops_free(server_stops *st);
typedef struct server_stop_text {
    gptoss_buf text; /* NUL-terminated after each add */
    size_t sent;     /* bytes taken to be shown */
    int stopped;     /* a stop string cut the text: nothing more is added */
} server_stop_text;
/* Appends text; returns 1 once a stop string was found (the text then ends before it). */
int server_stop_text_add(server_stop_text *t, const server_stops *st, const char *text, size_t len);
/* The bytes no stop string can still claim (all: every byte left), not yet taken: their length, their
 * start in *out. They count as taken. */
size_t server_stop_text_take(server_stop_text *t, const server_stops *st, int all, const char **out);
void server_stop_text_free(server_stop_text *t);

/* SSE framing: "data: JSON\n\n" (event NULL) or "event: E\ndata: JSON\n\n"; frees json. */
void server_emit_sse(server_job *job, const char *event, struct cJSON *json);

/* ---- the browser run server-side (server_browser.c) ---- */

/* Browser calls one request may make; past that each call's reply says so (a tool reply: the model can
 * still answer), so a model that keeps calling ends at its token limit, not in a loop of fetches. */
#define SERVER_BROWSER_MAX_CALLS 24

/* Opens the backend the --browser options name (nothing without --browser). 0, or -1 (printed). */
int server_browser_start(server *srv);
void server_browser_stop(server *srv);
/* A request's browser (its own page stack; with --corpus its own connection to the corpus). NULL when
 * the server has no browser, or out of memory / the corpus cannot be opened. */
typedef struct server_browser server_browser;
server_browser *server_browser_new(server *srv);
void server_browser_free(server_browser *b);
/* "browser.search", "browser.open", "browser.find". */
int server_browser_recipient(const char *recipient);
/* Does a request declare functions of its own named browser...? (then its calls are the client's) */
int server_browser_declared(char *const *names, size_t n);
/* The Responses tools without the browser's entries ({"type": "web_search" | "web_search_preview" |
 * "browser_search"}): NULL with *wants 0 when there are none (use tools as they are); else a copy
 * without them (NULL with *oom set when out of memory). */
struct cJSON *server_browser_strip_tools(const struct cJSON *tools, int *wants, int *oom);
/* Runs a call the model addressed to recipient (browser.X) on channel with the JSON args. *reply: the
 * tool's text (a tool error included: "Invalid link id `3`."); *action: the web_search_call action
 * ({type: search, query} / {type: open_page, url} / {type: find, url, pattern}); out gets the reply
 * rendered as the harmony message from browser.X to=assistant, then <|start|>assistant. Runs on a
 * tool thread (one call of a request at a time). 0, or -1 out of memory. */
int server_browser_call(server_browser *b, const char *recipient, const char *channel, const char *args, size_t len,
                        struct cJSON **action, char **reply, gptoss_tokens *out);
/* Citations in final text, as the reference's normalize_citations: each 【cursor†...】 whose cursor names
 * a page becomes " ([domain](url)) " with a url_citation annotation {type, start_index, end_index (in
 * characters of the text shown), url, title (the domain)}; others stay as written. Text is fed as it
 * comes: what may be shown is appended to out, an incomplete citation held back (at most 64 bytes);
 * flush: the text ended. b NULL: no page is known. */
typedef struct server_cite {
    gptoss_buf held;
    size_t n_chars; /* characters shown so far */
} server_cite;
void server_cite_feed(server_browser *b, server_cite *c, const char *text, size_t len, int flush, gptoss_buf *out,
                      struct cJSON *annotations);
void server_cite_free(server_cite *c);

/* ---- the python tool run server-side (server_python.c) ---- */

/* Python calls one request may make; past that each call's reply says so, as for the browser. */
#define SERVER_PYTHON_MAX_CALLS 24

/* With --python: checks that the sandbox can be set up (gptoss_python_check: its message printed and
 * -1 when not) and starts the reaper of idle sandboxes. Nothing without --python. */
int server_python_start(server *srv);
/* After the scheduler has stopped (no call runs): ends every sandbox. */
void server_python_stop(server *srv);
/* A sandbox (an OpenAI "container"): one interpreter and its /mnt/data, held by the requests using it. */
typedef struct server_python_box server_python_box;
/* A reference on the sandbox named id (create 0: NULL when there is none: never made, or reaped), or
 * a new one (create 1, named id, or a fresh "cntr_..." when id is NULL). A new sandbox over
 * --python-max-sandboxes ends the oldest idle one; when every one is in use it is not made (NULL with
 * the reason in err). transient: ended as soon as its last holder lets go (chat completions). Its
 * interpreter starts at its first call. */
server_python_box *server_python_open(server *srv, const char *id, int create, int transient, char *err,
                                      size_t err_size);
/* Drops the reference; a sandbox nobody holds is idle from now on (transient: ended). b may be NULL. */
void server_python_release(server *srv, server_python_box *b);
const char *server_python_box_id(const server_python_box *b);
/* A fresh container id ("cntr_" and 32 hex digits) into out[48]; 0 or -1. */
int server_python_new_id(char out[48]);
/* Does a request declare a function named python of its own? (then its calls are the client's) */
int server_python_declared(char *const *names, size_t n);
/* The Responses tools without the code_interpreter entries: NULL with *wants 0 when there are none;
 * else a copy without them (NULL with *oom set when out of memory). *container: the first entry's
 * container when it is a string (an id), else NULL. A malformed entry (container neither a string nor
 * {"type": "auto", ...}) is a 400 in r (-1 in *bad). */
struct cJSON *server_python_strip_tools(const struct cJSON *tools, int *wants, const char **container, int *oom,
                                        int *bad, server_reply *r);
/* Runs code in the sandbox *box (NULL: opens one first, named id or fresh, transient as
 * server_python_open; the caller holds the reference it leaves in *box) on a tool thread; its
 * interpreter starts at its first call, and calls to one sandbox run one at a time. *reply is the text
 * the model reads (an error text when no sandbox can be had or started: *failed then set); out gets it
 * rendered as the message from python to=assistant on channel, then <|start|>assistant. *n_calls
 * counts the request's calls (SERVER_PYTHON_MAX_CALLS). 0, or -1 out of memory. */
int server_python_call(server *srv, server_python_box **box, const char *id, int transient, uint32_t *n_calls,
                       const char *channel, const char *code, size_t len, char **reply, int *failed,
                       gptoss_tokens *out);
/* The /metrics lines: sandboxes alive (gauge), calls, time-outs, sandboxes reaped and refused. */
void server_python_metrics(server *srv, gptoss_buf *b);

/* ---- protocols ----------------------------------------------------------------------------- */

/* A job's output framed for another API (Ollama's /api/chat and /api/generate): the chat and
 * completions protocols hand it every piece, streamed or not, instead of writing their own chunks;
 * the frame writes the stream and keeps what a plain answer needs. Called on the scheduler thread (or
 * a tool thread) with the job's lock held. ctx is freed with the job (free). */
typedef struct server_frame {
    void *ctx;
    /* text of the answer, or of the reasoning */
    void (*text)(server_job *job, void *ctx, int reasoning, const char *text, size_t len);
    /* a complete tool call: arguments are JSON text */
    void (*call)(server_job *job, void *ctx, const char *name, const char *arguments);
    /* every sequence ended (job->finish); reason: "stop", "length" or "tool_calls" */
    void (*end)(server_job *job, void *ctx, const char *reason);
    void (*free)(void *ctx);
} server_frame;

/* finish_reason of a sequence that made n_calls tool calls, the way chat completions says it. */
const char *server_finish_reason(server_finish f, size_t n_calls);


/* Builds a job from a parsed request. Returns the job (not yet queued), or NULL with an error
 * reply in r. */
server_job *server_chat_request(server *srv, const struct cJSON *req, server_reply *r);
/* Non-streaming body of a finished job (200) or its error. */
void server_chat_result(server *srv, server_job *job, server_reply *r);
/* The same job with its output handed to frame (one sequence: `n` must be 1 or absent). frame's ctx
 * belongs to the job from the call on, also when it fails (freed then). */
server_job *server_chat_request_framed(server *srv, const struct cJSON *req, const server_frame *frame,
                                       server_reply *r);

/* POST /v1/completions: a raw prompt (a string, or token ids) tokenized as it is. frame: NULL for
 * OpenAI's text_completion objects, else as server_chat_request_framed (Ollama's raw /api/generate). */
server_job *server_completions_request(server *srv, const struct cJSON *req, const server_frame *frame,
                                       server_reply *r);
void server_completions_result(server *srv, server_job *job, server_reply *r);

/* Ollama's API (server_ollama.c). The generating ones build a job (or answer at once, job NULL with r
 * set: errors, a request that only loads the model); their result is the framed plain answer. */
server_job *server_ollama_chat(server *srv, const struct cJSON *req, server_reply *r);
server_job *server_ollama_generate(server *srv, const struct cJSON *req, server_reply *r);
void server_ollama_result(server *srv, server_job *job, server_reply *r);
void server_ollama_tags(server *srv, server_reply *r);
void server_ollama_ps(server *srv, server_reply *r);
void server_ollama_version(server_reply *r);
void server_ollama_show(server *srv, const struct cJSON *req, server_reply *r);
/* An error reply in Ollama's shape: {"error": "message"} (from OpenAI's error object). */
void server_ollama_error_shape(server_reply *r);

server_job *server_responses_request(server *srv, const struct cJSON *req, server_reply *r);
void server_responses_result(server *srv, server_job *job, server_reply *r);
/* GET /v1/responses/{id}. */
void server_responses_get(server *srv, const char *id, server_reply *r);

server_store *server_store_new(uint32_t cap, size_t max_bytes);
/* Responses kept and the bytes they hold (as --max-stored-bytes counts them). */
void server_store_stats(server_store *st, uint32_t *n, size_t *bytes);
/* `metadata` as OpenAI takes it: absent, null, or an object of at most 16 string values, keys of at
 * most 64 characters and values of at most 512. 0, or -1 with a 400 in r. */
int server_check_metadata(const struct cJSON *req, server_reply *r);
void server_store_free(server_store *st);

#endif
