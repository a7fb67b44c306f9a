/* server_ollama.c: the part of Ollama's API its front ends use (Open WebUI, the ollama CLI and
 * libraries): POST /api/chat and /api/generate, GET /api/tags, /api/ps, /api/version, POST
 * /api/show. A generating request is translated into the chat completions request it means (or, for
 * /api/generate with "raw": true, a text completion) and run by that protocol with its output framed
 * here (server_frame): newline-delimited JSON objects carrying message.content / message.thinking
 * (chat) or response / thinking (generate) deltas, then a last object with done: true, done_reason
 * and the counts and durations (nanoseconds) Ollama reports. Errors are {"error": "..."}. */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "server/server.h"

/* The Ollama release whose API this follows (/api/version): clients read it to tell what the server
 * takes, and this is what it takes. */
#define OLLAMA_API_VERSION "0.12.0"

/* ---- the framed output ------------------------------------------------------------------------ */

typedef struct ollama_out {
    char model[256]; /* as the request named it: clients match answers to their own name */
    int generate;    /* /api/generate: "response", else chat's "message" */
    int stream;
    int hide_thinking; /* "think": false */
    gptoss_buf content, thinking;
    cJSON *calls; /* [{"function": {"name", "arguments"}}] */
    const char *done_reason;
} ollama_out;

static void out_free(void *ctx) {
    ollama_out *o = ctx;
    if (!o) return;
    gptoss_buf_free(&o->content);
    gptoss_buf_free(&o->thinking);
    cJSON_Delete(o->calls);
    free(o);
}

/* RFC 3339 in UTC with nanoseconds, as Ollama writes created_at. */
static void add_created_at(cJSON *o) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    char when[64] = "1970-01-01T00:00:00";
    if (gmtime_r(&ts.tv_sec, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char full[96];
    snprintf(full, sizeof full, "%s.%09ldZ", when, ts.tv_nsec);
    cJSON_AddStringToObject(o, "created_at", full);
}

/* An answer object with its text (content and thinking: NULL for none), done or not. */
static cJSON *answer(const ollama_out *o, const char *content, size_t n_content, const char *thinking,
                     size_t n_thinking, const cJSON *calls, int done) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "model", o->model);
    add_created_at(a);
    char *c = strndup(content ? content : "", n_content);
    char *t = thinking ? strndup(thinking, n_thinking) : NULL;
    cJSON *where = a;
    if (!o->generate) {
        where = cJSON_AddObjectToObject(a, "message");
        cJSON_AddStringToObject(where, "role", "assistant");
        cJSON_AddStringToObject(where, "content", c ? c : "");
    } else cJSON_AddStringToObject(a, "response", c ? c : "");
    if (t) cJSON_AddStringToObject(where, "thinking", t);
    if (calls && cJSON_GetArraySize(calls)) cJSON_AddItemToObject(where, "tool_calls", cJSON_Duplicate(calls, 1));
    free(c);
    free(t);
    cJSON_AddBoolToObject(a, "done", done);
    return a;
}

static void emit_line(server_job *job, cJSON *o) {
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return;
    size_t n = strlen(text);
    text[n] = '\n'; /* over the NUL: the line is sent by length */
    server_job_emit(job, text, n + 1);
    free(text);
}

static void out_text(server_job *job, void *ctx, int reasoning, const char *text, size_t len) {
    ollama_out *o = ctx;
    if (reasoning && o->hide_thinking) return;
    gptoss_buf_append(reasoning ? &o->thinking : &o->content, text, len);
    if (!job->stream) return;
    if (reasoning) emit_line(job, answer(o, "", 0, text, len, NULL, 0));
    else emit_line(job, answer(o, text, len, NULL, 0, NULL, 0));
}

/* Ollama's arguments are an object; the model's text is one when it is valid JSON of that shape (else
 * it goes as the JSON value, or the string, it is). */
static void out_call(server_job *job, void *ctx, const char *name, const char *arguments) {
    ollama_out *o = ctx;
    if (!o->calls && !(o->calls = cJSON_CreateArray())) return;
    cJSON *call = cJSON_CreateObject();
    cJSON *fn = cJSON_AddObjectToObject(call, "function");
    cJSON_AddNumberToObject(fn, "index", cJSON_GetArraySize(o->calls));
    cJSON_AddStringToObject(fn, "name", name);
    cJSON *args = cJSON_Parse(arguments);
    cJSON_AddItemToObject(fn, "arguments", args ? args : cJSON_CreateString(arguments));
    cJSON_AddItemToArray(o->calls, call);
    if (!job->stream) return;
    cJSON *one = cJSON_CreateArray();
    cJSON_AddItemToArray(one, cJSON_Duplicate(call, 1));
    emit_line(job, answer(o, "", 0, NULL, 0, one, 0));
    cJSON_Delete(one);
}

/* Nanoseconds between two times of cli_now_s (0 when either is unknown or they are out of order). */
static double ns(double from, double to) { return from > 0 && to > from ? (double)(long long)((to - from) * 1e9) : 0; }

/* The counts and durations of the last object. The model is loaded before any request, so
 * load_duration is 0; the prompt's evaluation runs from the request's arrival (a wait in the queue
 * included) to its first token. */
static void add_stats(cJSON *a, const server_job *job, const ollama_out *o) {
    cJSON_AddStringToObject(a, "done_reason", o->done_reason ? o->done_reason : "stop");
    double first = job->t_first > 0 ? job->t_first : job->t_done;
    cJSON_AddNumberToObject(a, "total_duration", ns(job->t_submit, job->t_done));
    cJSON_AddNumberToObject(a, "load_duration", 0);
    cJSON_AddNumberToObject(a, "prompt_eval_count", (double)job->n_prompt);
    cJSON_AddNumberToObject(a, "prompt_eval_duration", ns(job->t_submit, first));
    cJSON_AddNumberToObject(a, "eval_count", job->n_generated);
    cJSON_AddNumberToObject(a, "eval_duration", ns(first, job->t_done));
}

static void out_end(server_job *job, void *ctx, const char *reason) {
    ollama_out *o = ctx;
    /* a tool call ends a turn as any answer does: Ollama says stop */
    o->done_reason = !strcmp(reason, "length") ? "length" : "stop";
    if (!job->stream || job->finish == SERVER_FINISH_CANCELLED) return;
    if (job->finish == SERVER_FINISH_ERROR) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", job->error[0] ? job->error : "generation failed");
        emit_line(job, e);
        return;
    }
    cJSON *a = answer(o, "", 0, NULL, 0, NULL, 1);
    add_stats(a, job, o);
    emit_line(job, a);
}

void server_ollama_result(server *srv, server_job *job, server_reply *r) {
    (void)srv;
    ollama_out *o = job->frame;
    if (job->finish == SERVER_FINISH_ERROR || !o) {
        server_error(r, 500, "server_error", NULL, NULL, "%s", job->error[0] ? job->error : "generation failed");
        return;
    }
    cJSON *a = answer(o, o->content.data, o->content.len, o->thinking.len ? o->thinking.data : NULL, o->thinking.len,
                      o->calls, 1);
    add_stats(a, job, o);
    r->status = 200;
    r->body = cJSON_PrintUnformatted(a);
    r->content_type = "application/json";
    cJSON_Delete(a);
}

/* ---- requests --------------------------------------------------------------------------------- */

#define BAD(...)                                                                         \
    do {                                                                                 \
        server_error(r, 400, "invalid_request_error", NULL, "invalid_value", __VA_ARGS__); \
        goto fail;                                                                       \
    } while (0)
#define OOM()                                                                \
    do {                                                                     \
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");   \
        goto fail;                                                           \
    } while (0)

/* Does the name (Ollama's "model", or the older "name") mean the served model? Ollama's clients add
 * ":latest" to a name without a tag. */
static int known(const server *srv, const char *name) {
    if (server_model_known(srv, name)) return 1;
    size_t n = strlen(name);
    if (n <= 7 || strcmp(name + n - 7, ":latest") != 0 || n - 7 >= 256) return 0;
    char base[256];
    snprintf(base, sizeof base, "%.*s", (int)(n - 7), name);
    return server_model_known(srv, base);
}

/* The request's model: 0 with its name, or -1 with Ollama's 400 (none) / 404 (another model). */
static int request_model(const server *srv, const cJSON *req, const char **name, server_reply *r) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (!m || cJSON_IsNull(m) || (cJSON_IsString(m) && !*m->valuestring))
        m = cJSON_GetObjectItemCaseSensitive(req, "name");
    if (!m || cJSON_IsNull(m) || (cJSON_IsString(m) && !*m->valuestring)) {
        server_error(r, 400, "invalid_request_error", "model", "missing_required_parameter", "model is required");
        return -1;
    }
    if (!cJSON_IsString(m)) {
        server_error(r, 400, "invalid_request_error", "model", "invalid_type", "'model' must be a string");
        return -1;
    }
    if (!known(srv, m->valuestring)) {
        server_error(r, 404, "invalid_request_error", "model", "model_not_found", "model '%s' not found",
                     m->valuestring);
        return -1;
    }
    *name = m->valuestring;
    return 0;
}

/* Ollama's options into the chat / completions request o. Options this server has no use for
 * (num_ctx: each slot's context is --ctx; num_thread, repeat_penalty, mirostat...) are accepted and
 * left alone, as Ollama leaves those a model does not use. */
static int map_options(const cJSON *opts, cJSON *o, server_reply *r) {
    if (!opts || cJSON_IsNull(opts)) return 0;
    if (!cJSON_IsObject(opts)) BAD("'options' must be an object");
    static const char *const same[] = {"temperature", "top_p", "top_k", "min_p", "seed", "stop"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, same[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_AddItemToObject(o, same[i], cJSON_Duplicate(v, 1))) OOM();
    }
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(opts, "num_predict");
    if (np && !cJSON_IsNull(np)) {
        /* the range test comes first: converting a double beyond long long's range is undefined */
        if (!cJSON_IsNumber(np) || !(np->valuedouble >= -9007199254740992.0 && np->valuedouble <= 9007199254740992.0) ||
            np->valuedouble != (double)(long long)np->valuedouble)
            BAD("option \"num_predict\" must be an integer");
        /* -1 (no limit), -2 (until the context is full) and 0 all leave the context as the limit */
        if (np->valuedouble > 0) cJSON_AddNumberToObject(o, "max_tokens", np->valuedouble);
    }
    const cJSON *nc = cJSON_GetObjectItemCaseSensitive(opts, "num_ctx");
    if (nc && !cJSON_IsNull(nc) && !cJSON_IsNumber(nc)) BAD("option \"num_ctx\" must be an integer");
    return 0;
fail:
    return -1;
}

/* think: true / false or "low" / "medium" / "high" (gpt-oss's reasoning efforts). false is the lowest
 * effort with the reasoning left out of the answer (gpt-oss always reasons). Absent: the server's
 * default effort, the reasoning shown. */
static int map_think(const cJSON *think, cJSON *o, int *hide, server_reply *r) {
    *hide = 0;
    if (!think || cJSON_IsNull(think)) return 0;
    const char *effort = NULL;
    if (cJSON_IsTrue(think)) effort = "medium";
    else if (cJSON_IsFalse(think)) effort = "low", *hide = 1;
    else if (cJSON_IsString(think) && (!strcmp(think->valuestring, "low") || !strcmp(think->valuestring, "medium") ||
                                       !strcmp(think->valuestring, "high")))
        effort = think->valuestring;
    else BAD("invalid think value: it must be true, false, \"low\", \"medium\" or \"high\"");
    if (!cJSON_AddStringToObject(o, "reasoning_effort", effort)) OOM();
    return 0;
fail:
    return -1;
}

/* format: "json" (any JSON object) or a JSON schema (the answer follows it). */
static int map_format(const cJSON *format, cJSON *o, server_reply *r) {
    if (!format || cJSON_IsNull(format) || (cJSON_IsString(format) && !*format->valuestring)) return 0;
    cJSON *rf = cJSON_CreateObject();
    if (!rf || !cJSON_AddItemToObject(o, "response_format", rf)) {
        cJSON_Delete(rf);
        OOM();
    }
    if (cJSON_IsString(format) && !strcmp(format->valuestring, "json")) {
        cJSON_AddStringToObject(rf, "type", "json_object");
    } else if (cJSON_IsObject(format)) {
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", "format");
        cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(format, 1));
        cJSON_AddTrueToObject(js, "strict");
    } else BAD("invalid format: it must be \"json\" or a JSON schema object");
    return 0;
fail:
    return -1;
}

/* What Ollama's requests may carry that this model cannot take: images (gpt-oss reads text only),
 * logprobs (the engine does not expose them), and /api/generate's context (token ids of an earlier answer), template and suffix. */
static int refuse_unsupported(const cJSON *obj, int generate, server_reply *r) {
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(obj, "images");
    if (images && !cJSON_IsNull(images) && !(cJSON_IsArray(images) && !cJSON_GetArraySize(images)))
        BAD("this model does not take images");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "logprobs")))
        BAD("'logprobs' is not supported: this server does not expose token log probabilities");
    if (!generate) return 0;
    static const char *const names[] = {"context", "template", "suffix"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !*v->valuestring) &&
            !(cJSON_IsArray(v) && !cJSON_GetArraySize(v)))
            BAD("'%s' is not supported: %s", names[i],
                i == 0   ? "send the conversation to /api/chat instead"
                : i == 1 ? "gpt-oss's harmony format is built in (\"raw\": true sends the prompt as it is)"
                         : "gpt-oss completes text left to right");
    }
    return 0;
fail:
    return -1;
}

/* Ollama's messages into chat completions' (thinking -> reasoning_content, tool_calls' argument
 * objects -> JSON text with call ids, tool results to their call by tool_call_id, tool_name, or else
 * the order of the last assistant message's calls). */
static int map_messages(const cJSON *messages, cJSON *o, server_reply *r) {
    cJSON *out = cJSON_AddArrayToObject(o, "messages");
    if (!out) OOM();
    const cJSON *m;
    int idx = 0, next_result = 0;
    const cJSON *last_calls = NULL; /* the last assistant message's, with their ids */
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) BAD("messages[%d] needs a string 'role'", idx);
        if (content && !cJSON_IsNull(content) && !cJSON_IsString(content))
            BAD("messages[%d].content must be a string", idx);
        if (refuse_unsupported(m, 0, r) < 0) goto fail;
        const char *rn = role->valuestring;
        if (strcmp(rn, "system") && strcmp(rn, "user") && strcmp(rn, "assistant") && strcmp(rn, "tool"))
            BAD("messages[%d]: invalid role '%s' (system, user, assistant or tool)", idx, rn);
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(out, e)) {
            cJSON_Delete(e);
            OOM();
        }
        cJSON_AddStringToObject(e, "role", rn);
        cJSON_AddStringToObject(e, "content", cJSON_IsString(content) ? content->valuestring : "");
        if (!strcmp(rn, "assistant")) {
            const cJSON *thinking = cJSON_GetObjectItemCaseSensitive(m, "thinking");
            if (thinking && !cJSON_IsNull(thinking) && !cJSON_IsString(thinking))
                BAD("messages[%d].thinking must be a string", idx);
            if (cJSON_IsString(thinking)) cJSON_AddStringToObject(e, "reasoning_content", thinking->valuestring);
            const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
            if (tcs && !cJSON_IsNull(tcs) && !cJSON_IsArray(tcs)) BAD("messages[%d].tool_calls must be an array", idx);
            cJSON *otcs = cJSON_GetArraySize(tcs) ? cJSON_AddArrayToObject(e, "tool_calls") : NULL;
            const cJSON *tc;
            int k = 0;
            last_calls = otcs, next_result = 0;
            cJSON_ArrayForEach(tc, tcs) {
                const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
                const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
                const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(tc, "id");
                if (!cJSON_IsString(name)) BAD("messages[%d].tool_calls[%d] needs function.name", idx, k);
                char *text = !args || cJSON_IsNull(args) ? strdup("{}")
                             : cJSON_IsString(args)      ? strdup(args->valuestring)
                                                         : cJSON_PrintUnformatted(args);
                if (!text) OOM();
                char made[48];
                snprintf(made, sizeof made, "call_%d_%d", idx, k);
                cJSON *c = cJSON_CreateObject();
                cJSON_AddItemToArray(otcs, c);
                cJSON_AddStringToObject(c, "id", cJSON_IsString(id) ? id->valuestring : made);
                cJSON_AddStringToObject(c, "type", "function");
                cJSON *ofn = cJSON_AddObjectToObject(c, "function");
                cJSON_AddStringToObject(ofn, "name", name->valuestring);
                cJSON_AddStringToObject(ofn, "arguments", text);
                free(text);
                k++;
            }
        } else if (!strcmp(rn, "tool")) {
            const cJSON *cid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
            const cJSON *tname = cJSON_GetObjectItemCaseSensitive(m, "tool_name");
            if (!cJSON_IsString(tname)) tname = cJSON_GetObjectItemCaseSensitive(m, "name");
            if (cJSON_IsString(cid)) cJSON_AddStringToObject(e, "tool_call_id", cid->valuestring);
            else if (cJSON_IsString(tname)) cJSON_AddStringToObject(e, "name", tname->valuestring);
            else if (next_result < cJSON_GetArraySize(last_calls)) {
                /* the results follow the calls in their order */
                const cJSON *call = cJSON_GetArrayItem(last_calls, next_result);
                cJSON_AddStringToObject(e, "tool_call_id", cJSON_GetObjectItemCaseSensitive(call, "id")->valuestring);
            } else
                BAD("messages[%d] (tool) needs 'tool_name' (or follows an assistant message with that many tool_calls)",
                    idx);
            next_result++;
        }
        idx++;
    }
    return 0;
fail:
    return -1;
}

static ollama_out *new_out(const char *model, int generate, int stream, int hide) {
    ollama_out *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    snprintf(o->model, sizeof o->model, "%s", model);
    o->generate = generate;
    o->stream = stream;
    o->hide_thinking = hide;
    return o;
}

/* keep_alive 0 ("0", "0s", 0): Ollama's way to unload the model. */
static int unloads(const cJSON *req) {
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(req, "keep_alive");
    return (cJSON_IsNumber(k) && k->valuedouble == 0) ||
           (cJSON_IsString(k) && (!strcmp(k->valuestring, "0") || !strcmp(k->valuestring, "0s")));
}

/* The answer to a request with nothing to generate (no messages, an empty prompt): Ollama loads (or,
 * with keep_alive 0, unloads) the model and says so; this one stays loaded whatever is asked. */
static void loaded(const cJSON *req, const char *model, int generate, server_reply *r) {
    ollama_out o = {.generate = generate};
    snprintf(o.model, sizeof o.model, "%s", model);
    cJSON *a = answer(&o, "", 0, NULL, 0, NULL, 1);
    cJSON_AddStringToObject(a, "done_reason", unloads(req) ? "unload" : "load");
    r->status = 200;
    r->body = cJSON_PrintUnformatted(a);
    r->content_type = "application/json";
    cJSON_Delete(a);
}

/* Runs the translated request o with a frame; takes o. */
static server_job *run(server *srv, cJSON *o, const char *model, int generate, int raw, int stream, int hide,
                       server_reply *r) {
    ollama_out *out = new_out(model, generate, stream, hide);
    if (!out) {
        cJSON_Delete(o);
        server_error(r, 500, "server_error", NULL, NULL, "out of memory");
        return NULL;
    }
    server_frame frame = {out, out_text, out_call, out_end, out_free};
    cJSON_AddStringToObject(o, "model", srv->opts.model_id);
    cJSON_AddBoolToObject(o, "stream", stream);
    server_job *job =
        raw ? server_completions_request(srv, o, &frame, r) : server_chat_request_framed(srv, o, &frame, r);
    cJSON_Delete(o);
    return job;
}

server_job *server_ollama_chat(server *srv, const cJSON *req, server_reply *r) {
    cJSON *o = NULL;
    const char *model;
    int stream = 1, hide = 0;
    if (request_model(srv, req, &model, r) < 0) return NULL;
    if (server_get_bool(req, "stream", 1, &stream, r) < 0 || refuse_unsupported(req, 0, r) < 0) return NULL;
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (messages && !cJSON_IsNull(messages) && !cJSON_IsArray(messages)) {
        server_error(r, 400, "invalid_request_error", "messages", "invalid_type", "'messages' must be an array");
        return NULL;
    }
    if (!cJSON_GetArraySize(messages)) {
        loaded(req, model, 0, r);
        return NULL;
    }
    if (!(o = cJSON_CreateObject())) OOM();
    if (map_messages(messages, o, r) < 0 || map_think(cJSON_GetObjectItemCaseSensitive(req, "think"), o, &hide, r) < 0 ||
        map_format(cJSON_GetObjectItemCaseSensitive(req, "format"), o, r) < 0 ||
        map_options(cJSON_GetObjectItemCaseSensitive(req, "options"), o, r) < 0)
        goto fail;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    if (tools && !cJSON_IsNull(tools) && !cJSON_AddItemToObject(o, "tools", cJSON_Duplicate(tools, 1))) OOM();
    return run(srv, o, model, 0, 0, stream, hide, r);
fail:
    cJSON_Delete(o);
    return NULL;
}

server_job *server_ollama_generate(server *srv, const cJSON *req, server_reply *r) {
    cJSON *o = NULL;
    const char *model;
    int stream = 1, raw = 0, hide = 0;
    if (request_model(srv, req, &model, r) < 0) return NULL;
    if (server_get_bool(req, "stream", 1, &stream, r) < 0 || server_get_bool(req, "raw", 0, &raw, r) < 0) return NULL;
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    const cJSON *system = cJSON_GetObjectItemCaseSensitive(req, "system");
    if ((prompt && !cJSON_IsNull(prompt) && !cJSON_IsString(prompt)) ||
        (system && !cJSON_IsNull(system) && !cJSON_IsString(system))) {
        server_error(r, 400, "invalid_request_error", NULL, "invalid_type", "'prompt' and 'system' must be strings");
        return NULL;
    }
    if (refuse_unsupported(req, 1, r) < 0) return NULL;
    if (!cJSON_IsString(prompt) || !*prompt->valuestring) {
        loaded(req, model, 1, r);
        return NULL;
    }
    if (!(o = cJSON_CreateObject())) OOM();
    if (map_options(cJSON_GetObjectItemCaseSensitive(req, "options"), o, r) < 0) goto fail;
    if (raw) {
        /* the prompt as it is, harmony tokens and all: a text completion, nothing rendered around it */
        const cJSON *format = cJSON_GetObjectItemCaseSensitive(req, "format");
        if (format && !cJSON_IsNull(format) && !(cJSON_IsString(format) && !*format->valuestring))
            BAD("'format' is not supported with \"raw\": true");
        if (!cJSON_AddStringToObject(o, "prompt", prompt->valuestring)) OOM();
        return run(srv, o, model, 1, 1, stream, 0, r);
    }
    if (map_think(cJSON_GetObjectItemCaseSensitive(req, "think"), o, &hide, r) < 0 ||
        map_format(cJSON_GetObjectItemCaseSensitive(req, "format"), o, r) < 0)
        goto fail;
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    if (!msgs) OOM();
    if (cJSON_IsString(system) && *system->valuestring) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddItemToArray(msgs, s);
        cJSON_AddStringToObject(s, "role", "system");
        cJSON_AddStringToObject(s, "content", system->valuestring);
    }
    cJSON *u = cJSON_CreateObject();
    cJSON_AddItemToArray(msgs, u);
    cJSON_AddStringToObject(u, "role", "user");
    if (!cJSON_AddStringToObject(u, "content", prompt->valuestring)) OOM();
    return run(srv, o, model, 1, 0, stream, hide, r);
fail:
    cJSON_Delete(o);
    return NULL;
}

/* ---- the model's description ------------------------------------------------------------------ */

/* The model's bytes (a file, or the regular files of its directory) and the latest modification. */
static void model_files(const char *path, unsigned long long *bytes, time_t *mtime) {
    struct stat st;
    *bytes = 0;
    *mtime = 0;
    if (stat(path, &st) != 0) return;
    *mtime = st.st_mtime;
    if (!S_ISDIR(st.st_mode)) {
        *bytes = (unsigned long long)st.st_size;
        return;
    }
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            *bytes += (unsigned long long)st.st_size;
            if (st.st_mtime > *mtime) *mtime = st.st_mtime;
        }
    }
    closedir(d);
}

static void rfc3339(time_t t, char *out, size_t size) {
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(out, size, "1970-01-01T00:00:00Z");
}

/* Ollama's model size label, from the names gpt-oss is known by. */
static const char *parameter_size(const server *srv) {
    const server_model_names *n = &srv->names;
    for (size_t i = 0; i <= n->n_aliases; i++) {
        const char *s = i ? n->aliases[i - 1] : n->id;
        if (strcasestr(s, "120b")) return "116.8B";
        if (strcasestr(s, "20b")) return "20.9B";
    }
    return "";
}

/* The names listed: the served id, and Ollama's gpt-oss:SIZE when the model is known as that. */
static size_t listed_names(const server *srv, const char *names[2]) {
    size_t n = 0;
    names[n++] = srv->names.id;
    for (size_t i = 0; i < srv->names.n_aliases && n < 2; i++)
        if (strchr(srv->names.aliases[i], ':')) names[n++] = srv->names.aliases[i];
    return n;
}

static cJSON *details(const server *srv) {
    cJSON *d = cJSON_CreateObject();
    size_t len = strlen(srv->opts.model_path);
    int gguf = len > 5 && !strcasecmp(srv->opts.model_path + len - 5, ".gguf");
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", gguf ? "gguf" : "safetensors");
    cJSON_AddStringToObject(d, "family", "gpt-oss");
    cJSON_AddItemToObject(d, "families", cJSON_CreateStringArray((const char *const[]){"gpt-oss"}, 1));
    cJSON_AddStringToObject(d, "parameter_size", parameter_size(srv));
    cJSON_AddStringToObject(d, "quantization_level", "MXFP4");
    return d;
}

/* One entry of /api/tags or /api/ps. The digest names this model file (its path, size and time), not
 * its content: hashing gigabytes for a listing would take minutes. */
static cJSON *model_entry(const server *srv, const char *name) {
    unsigned long long bytes;
    time_t mtime;
    model_files(srv->opts.model_path, &bytes, &mtime);
    char when[40], digest[65];
    rfc3339(mtime, when, sizeof when);
    uint64_t h = 0xcbf29ce484222325ull;
    char key[4200];
    snprintf(key, sizeof key, "%s|%llu|%lld", srv->opts.model_path, bytes, (long long)mtime);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    for (int i = 0; i < 4; i++) snprintf(digest + 16 * i, 17, "%016llx", (unsigned long long)gptoss_splitmix64(&h));
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "model", name);
    cJSON_AddStringToObject(m, "modified_at", when);
    cJSON_AddNumberToObject(m, "size", (double)bytes);
    cJSON_AddStringToObject(m, "digest", digest);
    cJSON_AddItemToObject(m, "details", details(srv));
    return m;
}

static void reply_json(cJSON *o, server_reply *r) {
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

void server_ollama_tags(server *srv, server_reply *r) {
    const char *names[2];
    size_t n = listed_names(srv, names);
    cJSON *o = cJSON_CreateObject();
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(models, model_entry(srv, names[i]));
    reply_json(o, r);
}

/* Loaded models: this one, always (it stays until the server stops, whatever keep_alive says). */
void server_ollama_ps(server *srv, server_reply *r) {
    const char *names[2];
    listed_names(srv, names);
    cJSON *o = cJSON_CreateObject();
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    cJSON *m = model_entry(srv, names[0]);
    cJSON_AddItemToArray(models, m);
    cJSON_AddStringToObject(m, "expires_at", "9999-12-31T23:59:59Z");
    cJSON_AddNumberToObject(m, "size_vram", 0);
    cJSON_AddNumberToObject(m, "context_length", srv->opts.ctx_size);
    reply_json(o, r);
}

void server_ollama_version(server_reply *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", OLLAMA_API_VERSION);
    reply_json(o, r);
}

void server_ollama_show(server *srv, const cJSON *req, server_reply *r) {
    const char *model;
    if (request_model(srv, req, &model, r) < 0) return;
    unsigned long long bytes;
    time_t mtime;
    model_files(srv->opts.model_path, &bytes, &mtime);
    char when[40];
    rfc3339(mtime, when, sizeof when);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "license", "Apache-2.0");
    gptoss_buf mf = {0};
    gptoss_buf_printf(&mf, "# served by gptoss serve (the harmony format is built in)\nFROM %s\n", srv->opts.model_path);
    cJSON_AddStringToObject(o, "modelfile", gptoss_buf_cstr(&mf) ? mf.data : "");
    gptoss_buf_free(&mf);
    cJSON_AddStringToObject(o, "parameters", "");
    cJSON_AddStringToObject(o, "template", "");
    cJSON_AddItemToObject(o, "details", details(srv));
    cJSON *info = cJSON_AddObjectToObject(o, "model_info");
    cJSON_AddStringToObject(info, "general.architecture", "gptoss");
    cJSON_AddStringToObject(info, "general.basename", srv->opts.model_id);
    cJSON_AddNumberToObject(info, "gptoss.context_length", srv->opts.ctx_size);
    cJSON_AddItemToObject(o, "capabilities",
                          cJSON_CreateStringArray((const char *const[]){"completion", "tools", "thinking"}, 3));
    cJSON_AddStringToObject(o, "modified_at", when);
    reply_json(o, r);
}

void server_ollama_error_shape(server_reply *r) {
    cJSON *o = r->body ? cJSON_Parse(r->body) : NULL;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "error"), "message");
    if (cJSON_IsString(msg)) {
        cJSON *e = cJSON_CreateObject();
        char *body = NULL;
        if (e && cJSON_AddStringToObject(e, "error", msg->valuestring)) body = cJSON_PrintUnformatted(e);
        cJSON_Delete(e);
        if (body) {
            free(r->body);
            r->body = body;
            r->content_type = "application/json";
        }
    }
    cJSON_Delete(o);
}

#else
typedef int server_ollama_unused;
#endif
