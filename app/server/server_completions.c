/* server_completions.c: POST /v1/completions, OpenAI's legacy text completions. The prompt is raw text
 * (or token ids) tokenized as it is, harmony's special-token literals becoming their ids, with no
 * conversation rendered around it; the model's tokens come back as text (special tokens as their
 * literals) until max_tokens (16 by default, as OpenAI's), a stop string, or a token that ends a
 * harmony turn for good (<|return|>, <|call|>, <|endoftext|>). The same job, framed, is Ollama's
 * /api/generate with "raw": true (server_ollama.c). */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

/* OpenAI's limit on stop sequences; a framed request (Ollama's options.stop) may give SERVER_MAX_STOPS */
#define MAX_STOPS 4
#define DEFAULT_MAX_TOKENS 16

typedef struct cchoice {
    gptoss_tokenizer_stream *dec; /* whole UTF-8 characters only, so a stop string is matched on text */
    server_stop_text text;
} cchoice;

typedef struct comp_proto {
    server *srv;
    char id[48];
    long created;
    int stream, include_usage;
    char *echo; /* the prompt as text, put before each choice's text (echo: true) */
    server_stops stops;
    int framed;
    server_frame frame;
    uint32_t end_ids[3]; /* tokens that end the completion */
    size_t n_end_ids;
    uint32_t n_choices;
    cchoice ch[SERVER_MAX_SEQS];
} comp_proto;

static void comp_free(void *p) {
    comp_proto *c = p;
    if (!c) return;
    server_stops_free(&c->stops);
    if (c->framed && c->frame.free) c->frame.free(c->frame.ctx);
    free(c->echo);
    for (uint32_t k = 0; k < SERVER_MAX_SEQS; k++) {
        gptoss_tokenizer_stream_free(c->ch[k].dec);
        server_stop_text_free(&c->ch[k].text);
    }
    free(c);
}

/* A text_completion object; with a choice (index >= 0) whose text is text[0..len). */
static cJSON *completion(const comp_proto *c, int index, const char *text, size_t len, const char *finish) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)c->created);
    cJSON_AddStringToObject(o, "model", c->srv->opts.model_id);
    cJSON_AddStringToObject(o, "system_fingerprint", "gptoss");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (index >= 0) {
        cJSON *ch = cJSON_CreateObject();
        char *t = strndup(text ? text : "", len);
        cJSON_AddStringToObject(ch, "text", t ? t : "");
        free(t);
        cJSON_AddNumberToObject(ch, "index", index);
        cJSON_AddNullToObject(ch, "logprobs");
        if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
        else cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(choices, ch);
    }
    return o;
}

/* Shows what no stop string can still claim (all: the rest). */
static void flush_text(server_job *job, uint32_t k, int all) {
    comp_proto *c = job->proto;
    const char *from;
    size_t n = server_stop_text_take(&c->ch[k].text, &c->stops, all, &from);
    if (!n) return;
    if (c->framed) c->frame.text(job, c->frame.ctx, 0, from, n);
    else if (c->stream) server_emit_sse(job, NULL, completion(c, (int)k, from, n, NULL));
}

/* Returns 1 when a stop string ended the text. */
static int add_text(server_job *job, uint32_t k, const char *text, size_t len) {
    comp_proto *c = job->proto;
    int stop = server_stop_text_add(&c->ch[k].text, &c->stops, text, len);
    flush_text(job, k, stop);
    return stop;
}

static int comp_on_token(server_job *job, uint32_t k, uint32_t id) {
    comp_proto *c = job->proto;
    for (size_t i = 0; i < c->n_end_ids; i++)
        if (id == c->end_ids[i]) return 1;
    const char *text = NULL;
    size_t len = 0;
    if (gptoss_tokenizer_stream_push(c->ch[k].dec, id, &text, &len) != GPTOSS_OK) {
        snprintf(job->error, sizeof job->error, "cannot decode token %u", id);
        job->seqs[k].finish = SERVER_FINISH_ERROR;
        return 1;
    }
    return len ? add_text(job, k, text, len) : 0;
}

static void comp_on_seq_finish(server_job *job, uint32_t k) {
    comp_proto *c = job->proto;
    server_finish f = job->seqs[k].finish;
    if (f == SERVER_FINISH_CANCELLED || f == SERVER_FINISH_ERROR) return;
    const char *text = NULL;
    size_t len = 0;
    gptoss_tokenizer_stream_flush(c->ch[k].dec, &text, &len); /* an unfinished character */
    if (len && !c->ch[k].text.stopped) add_text(job, k, text, len);
    flush_text(job, k, 1);
    if (c->stream && !c->framed)
        server_emit_sse(job, NULL, completion(c, (int)k, "", 0, server_finish_reason(f, 0)));
}

static cJSON *usage(const server_job *job) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)job->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", job->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(job->n_prompt + job->n_generated));
    cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", job->n_cached);
    return u;
}

static void comp_on_finish(server_job *job) {
    comp_proto *c = job->proto;
    if (c->framed) {
        c->frame.end(job, c->frame.ctx, server_finish_reason(job->seqs[0].finish, 0));
        return;
    }
    if (!c->stream || job->finish == SERVER_FINISH_CANCELLED) return;
    if (job->finish == SERVER_FINISH_ERROR) {
        server_reply r = {0};
        server_error(&r, 500, "server_error", NULL, NULL, "%s", job->error[0] ? job->error : "generation failed");
        gptoss_buf b = {0};
        gptoss_buf_printf(&b, "data: %s\n\n", r.body ? r.body : "{}");
        server_job_emit(job, b.data, b.len);
        gptoss_buf_free(&b);
        free(r.body);
        return;
    }
    if (c->include_usage) {
        cJSON *o = completion(c, -1, NULL, 0, NULL);
        cJSON_AddItemToObject(o, "usage", usage(job));
        server_emit_sse(job, NULL, o);
    }
    server_job_emit(job, "data: [DONE]\n\n", 14);
}

static const server_job_ops comp_ops = {comp_on_token, comp_on_seq_finish, comp_on_finish, comp_free, NULL};

/* ---- requests --------------------------------------------------------------------------------- */

#define BAD(param, ...)                                                                       \
    do {                                                                                      \
        server_error(r, 400, "invalid_request_error", param, "invalid_value", __VA_ARGS__); \
        goto fail;                                                                            \
    } while (0)

/* Token ids given as the prompt: integers of the vocabulary. 0, or -1 with a reply. */
static int prompt_ids(const server *srv, const cJSON *arr, gptoss_tokens *out, server_reply *r) {
    uint32_t n_vocab = gptoss_tokenizer_n_vocab(srv->tok);
    int n = cJSON_GetArraySize(arr);
    if ((size_t)n > srv->opts.ctx_size) {
        server_error(r, 400, "invalid_request_error", "prompt", "context_length_exceeded",
                     "This model's maximum context length is %u tokens. However, your prompt has %d tokens.",
                     srv->opts.ctx_size, n);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        double d = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(d >= 0 && d < n_vocab && d == (double)(uint32_t)d)) {
            server_error(r, 400, "invalid_request_error", "prompt", "invalid_value",
                         "a token of 'prompt' must be an integer from 0 to %u", n_vocab - 1);
            return -1;
        }
        if (gptoss_tokens_push(out, (uint32_t)d) != GPTOSS_OK) {
            server_error(r, 500, "server_error", NULL, NULL, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* The prompt: a string, token ids, or a list of one of those (OpenAI's batches of several prompts are
 * not taken: a request is one job, its choices all from one prompt). *text gets it as text (for
 * echo). 0, or -1 with a reply. */
static int read_prompt(const server *srv, const cJSON *p, gptoss_tokens *out, char **text, server_reply *r) {
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && (cJSON_IsString(p->child) || cJSON_IsArray(p->child)))
        p = p->child;
    else if (cJSON_IsArray(p) && p->child && (cJSON_IsString(p->child) || cJSON_IsArray(p->child))) {
        server_error(r, 400, "invalid_request_error", "prompt", "invalid_value",
                     "this server takes one prompt per request: send each of the %d prompts in a request of its own",
                     cJSON_GetArraySize(p));
        return -1;
    }
    if (cJSON_IsString(p)) {
        size_t len = strlen(p->valuestring);
        /* a token is at least one byte: a prompt beyond the context is refused before it is tokenized */
        if (len / (srv->max_token_bytes ? srv->max_token_bytes : 1) + 1 > srv->opts.ctx_size) {
            server_error(r, 400, "invalid_request_error", "prompt", "context_length_exceeded",
                         "This model's maximum context length is %u tokens; the prompt is %zu bytes.",
                         srv->opts.ctx_size, len);
            return -1;
        }
        if (gptoss_tokenizer_encode(srv->tok, p->valuestring, len, GPTOSS_TOKENIZER_SPECIAL_ALLOW, out) != GPTOSS_OK ||
            !(*text = strdup(p->valuestring))) {
            server_error(r, 500, "server_error", NULL, NULL, "out of memory");
            return -1;
        }
    } else if (cJSON_IsArray(p)) {
        if (prompt_ids(srv, p, out, r) < 0) return -1;
        size_t len = 0;
        if (out->n && gptoss_tokenizer_decode(srv->tok, out->ids, out->n, text, &len, NULL, 0) != GPTOSS_OK) {
            server_error(r, 500, "server_error", NULL, NULL, "out of memory");
            return -1;
        }
    } else {
        server_error(r, 400, "invalid_request_error", "prompt", p ? "invalid_type" : "missing_required_parameter",
                     p ? "'prompt' must be a string, an array of token ids, or a list of one of those"
                       : "you must provide a 'prompt'");
        return -1;
    }
    if (!out->n) {
        server_error(r, 400, "invalid_request_error", "prompt", "invalid_value", "'prompt' is empty");
        return -1;
    }
    if (out->n + 1 > srv->opts.ctx_size) {
        server_error(r, 400, "invalid_request_error", "prompt", "context_length_exceeded",
                     "This model's maximum context length is %u tokens. However, your prompt resulted in %zu tokens.",
                     srv->opts.ctx_size, out->n);
        return -1;
    }
    return 0;
}

/* A member that must be absent or null (or equal to what is meant by default). */
static int present(const cJSON *req, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    return v && !cJSON_IsNull(v);
}

server_job *server_completions_request(server *srv, const cJSON *req, const server_frame *frame, server_reply *r) {
    server_job *job = NULL;
    comp_proto *c = NULL;
    gptoss_tokens prompt = {0};
    char *text = NULL;
    if (!(c = calloc(1, sizeof *c)) || !(job = server_job_new())) {
        if (frame && frame->free) frame->free(frame->ctx);
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    job->proto = c;
    job->ops = &comp_ops;
    c->srv = srv;
    if (frame) {
        c->framed = 1;
        c->frame = *frame;
        job->frame = frame->ctx;
    }
    if (server_check_model(srv, req, r) < 0) goto fail;
    const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(req, "suffix");
    if (suffix && !cJSON_IsNull(suffix) && !(cJSON_IsString(suffix) && !*suffix->valuestring))
        BAD("suffix", "'suffix' (insertion) is not supported: gpt-oss completes text left to right");
    if (present(req, "logprobs"))
        BAD("logprobs", "'logprobs' is not supported: this server does not expose token log probabilities");
    const cJSON *best_of = cJSON_GetObjectItemCaseSensitive(req, "best_of");
    if (best_of && !cJSON_IsNull(best_of) && !(cJSON_IsNumber(best_of) && best_of->valuedouble == 1))
        BAD("best_of", "'best_of' other than 1 is not supported (use 'n' for several completions)");
    int echo = 0;
    if (server_get_bool(req, "echo", 0, &echo, r) < 0) goto fail;
    if (read_prompt(srv, cJSON_GetObjectItemCaseSensitive(req, "prompt"), &prompt, &text, r) < 0) goto fail;
    if (echo) c->echo = text, text = NULL;
    uint32_t max_tokens = DEFAULT_MAX_TOKENS, n = 1;
    if (frame) max_tokens = 0; /* the frame's request says (num_predict) */
    if (server_get_limit(req, "max_tokens", &max_tokens, r) < 0 || server_get_uint(req, "n", &n, r) < 0) goto fail;
    uint32_t max_n = srv->opts.parallel < SERVER_MAX_SEQS ? srv->opts.parallel : SERVER_MAX_SEQS;
    if (c->framed && n != 1) BAD("n", "one answer per request");
    if (n < 1 || n > max_n)
        BAD("n", "'n' must be between 1 and %u (the server's parallel sequences, at most %d)", max_n, SERVER_MAX_SEQS);
    job->n_seq = c->n_choices = n;
    if (server_parse_stops(cJSON_GetObjectItemCaseSensitive(req, "stop"), c->framed ? SERVER_MAX_STOPS : MAX_STOPS,
                           "stop", &c->stops, r) < 0)
        goto fail;
    int stream = 0;
    if (server_get_bool(req, "stream", 0, &stream, r) < 0) goto fail;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (so && !cJSON_IsNull(so) && !cJSON_IsObject(so)) BAD("stream_options", "'stream_options' must be an object");
    c->stream = stream && !c->framed;
    c->include_usage = c->stream && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    if (server_make_samplers(srv, req, 1.0f, job, r) < 0) goto fail;
    c->end_ids[c->n_end_ids++] = GPTOSS_HARMONY_RETURN;
    c->end_ids[c->n_end_ids++] = GPTOSS_HARMONY_CALL;
    if (gptoss_tokenizer_special_id(srv->tok, "<|endoftext|>", &c->end_ids[c->n_end_ids]) == 0) c->n_end_ids++;
    for (uint32_t k = 0; k < n; k++)
        if (gptoss_tokenizer_stream_create(srv->tok, &c->ch[k].dec) != GPTOSS_OK) {
            server_error(r, 500, "server_error", NULL, NULL, "out of memory");
            goto fail;
        }
    if (server_make_id(c->id, sizeof c->id, "cmpl-") < 0) {
        server_error(r, 500, "server_error", NULL, NULL, "could not make a completion id: %s", strerror(errno));
        goto fail;
    }
    c->created = (long)time(NULL);
    job->prompt = prompt.ids;
    job->n_prompt = prompt.n;
    prompt.ids = NULL;
    job->max_tokens = max_tokens;
    job->stream = stream;
    /* the echoed prompt goes before the text: first in the stream, and (in the plain answer) in front
     * of what the stop strings see, as OpenAI does not look for them in the prompt */
    for (uint32_t k = 0; c->echo && k < n; k++) {
        if (c->stream) server_emit_sse(job, NULL, completion(c, (int)k, c->echo, strlen(c->echo), NULL));
        else if (c->framed && k == 0) c->frame.text(job, c->frame.ctx, 0, c->echo, strlen(c->echo));
    }
    free(text);
    return job;
fail:
    free(text);
    gptoss_tokens_free(&prompt);
    if (job) server_job_release(job);
    else comp_free(c);
    return NULL;
}

void server_completions_result(server *srv, server_job *job, server_reply *r) {
    (void)srv;
    comp_proto *c = job->proto;
    if (job->finish == SERVER_FINISH_ERROR) {
        server_error(r, 500, "server_error", NULL, NULL, "%s", job->error[0] ? job->error : "generation failed");
        return;
    }
    cJSON *o = completion(c, -1, NULL, 0, NULL);
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    for (uint32_t k = 0; k < c->n_choices; k++) {
        gptoss_buf all = {0};
        if (c->echo) gptoss_buf_puts(&all, c->echo);
        gptoss_buf_append(&all, c->ch[k].text.text.data ? c->ch[k].text.text.data : "", c->ch[k].text.text.len);
        cJSON *one = completion(c, (int)k, gptoss_buf_cstr(&all) ? all.data : "", all.len,
                                server_finish_reason(job->seqs[k].finish, 0));
        gptoss_buf_free(&all);
        cJSON_AddItemToArray(choices, cJSON_DetachItemFromArray(cJSON_GetObjectItemCaseSensitive(one, "choices"), 0));
        cJSON_Delete(one);
    }
    cJSON_AddItemToObject(o, "usage", usage(job));
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

#else
typedef int server_completions_unused;
#endif
