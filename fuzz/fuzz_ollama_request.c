/* fuzz_ollama_request.c: libFuzzer target for the server's translation of Ollama request bodies
 * (app/server/server_ollama.c, with server_json.c, built in here over cJSON): any bytes, parsed as the
 * server parses a body, given to /api/chat, /api/generate and /api/show, give either an answer or an
 * error reply with a status and a message, and a request that goes on to generate reaches the chat
 * (or completions) protocol as a JSON object with the served model and, for chat, a messages array.
 * The protocols themselves are replaced here by a recorder (they need a tokenizer and a scheduler):
 * what they do with such a request is tests/server/'s. Needs cJSON (fuzz/run.sh adds it when
 * pkg-config finds libcjson). */
#define GPTOSS_HAVE_SERVER 1
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../app/server/server_json.c"
#include "../app/server/server_ollama.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the rest of the server, as far as the translation reaches it ---- */

static int g_generating;  /* set by the recorder: a request was handed on */
static int g_stream;      /* whether the recorder's job streams (from the input's size) */

void server_job_emit(server_job *job, const char *text, size_t len) {
    (void)job, (void)text, (void)len;
}

/* Checks what the translation hands on, frees the frame as the protocol would, makes no job. */
static server_job *record(const cJSON *req, const server_frame *frame, int chat, server_reply *r) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (!cJSON_IsObject(req) || !cJSON_IsString(model) || strcmp(model->valuestring, "gpt-oss-20b") != 0) abort();
    if (chat && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(req, "messages"))) abort();
    if (!chat && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "prompt"))) abort();
    if (!frame || !frame->text || !frame->call || !frame->end) abort();
    /* the frame's output for a few pieces, streamed and not */
    server_job job = {0};
    job.stream = g_stream;
    frame->text(&job, frame->ctx, 0, "Hi", 2);
    frame->text(&job, frame->ctx, 1, "hm", 2);
    frame->call(&job, frame->ctx, "f", "{\"a\": 1}");
    frame->call(&job, frame->ctx, "g", "not json");
    frame->end(&job, frame->ctx, "tool_calls");
    job.frame = frame->ctx;
    server_reply res = {0};
    server_ollama_result(NULL, &job, &res);
    if (res.status != 200 || !res.body || !server_json_valid(res.body, strlen(res.body))) abort();
    free(res.body);
    frame->free(frame->ctx);
    g_generating = 1;
    server_error(r, 500, "server_error", NULL, NULL, "recorded");
    return NULL;
}

server_job *server_chat_request_framed(server *srv, const cJSON *req, const server_frame *frame, server_reply *r) {
    (void)srv;
    return record(req, frame, 1, r);
}

server_job *server_completions_request(server *srv, const cJSON *req, const server_frame *frame, server_reply *r) {
    (void)srv;
    return record(req, frame, 0, r);
}

static void check_reply(server_reply *r) {
    if (!r->body || r->status < 200 || r->status > 599 || !server_json_valid(r->body, strlen(r->body))) abort();
    if (r->status >= 400) {
        server_ollama_error_shape(r);
        cJSON *o = cJSON_Parse(r->body);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
        if (!cJSON_IsString(e) || !*e->valuestring || cJSON_GetArraySize(o) != 1) abort();
        cJSON_Delete(o);
    }
    free(r->body);
    memset(r, 0, sizeof *r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static server srv;
    if (!srv.names.id[0]) {
        snprintf(srv.names.id, sizeof srv.names.id, "gpt-oss-20b");
        snprintf(srv.names.aliases[0], sizeof srv.names.aliases[0], "gpt-oss:20b");
        srv.names.n_aliases = 1;
        srv.opts.model_id = srv.names.id;
        srv.opts.model_path = "/nonexistent/gpt-oss-20b";
        srv.opts.ctx_size = 4096;
    }
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts((const char *)data, size, &end, 0);
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        return 0;
    }
    g_stream = (int)(size & 1);
    server_reply r = {0};
    for (int which = 0; which < 3; which++) {
        g_generating = 0;
        server_job *job = which == 0   ? server_ollama_chat(&srv, req, &r)
                          : which == 1 ? server_ollama_generate(&srv, req, &r)
                                       : (server_ollama_show(&srv, req, &r), NULL);
        if (job) abort(); /* the recorder makes none */
        if (!r.body) abort(); /* an answer, an error, or the recorder's mark */
        check_reply(&r);
    }
    cJSON_Delete(req);
    return 0;
}
