/* server.c: the HTTP side of `gptoss serve` on libmicrohttpd (a thread per connection): options,
 * the model's names, routing, the API key, body limits, JSON parsing (cJSON), streaming as
 * server-sent events, client disconnects (which cancel the job), /health, /metrics, /v1/models, the
 * connections' guard wired to libmicrohttpd's callbacks (server_conn.c), and the log on stderr (a line per request; libmicrohttpd's own messages only when debugging). */
#ifdef GPTOSS_HAVE_SERVER
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#if defined(__linux__)
#include <malloc.h> /* mallopt: glibc's */
#endif
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/posix.h"
#include "cli/cli.h"
#include "server/server.h"
#include "server/server_page.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t;
#else
typedef enum MHD_Result MHD_Result_t;
#endif

#define WAIT_MS 200
/* libmicrohttpd's inactivity timeout, which is left to apply only while an answer is written (a
 * client that reads none of it for this long is dropped): the guard's deadlines cover the request's
 * head and body, and while a request runs there is none. */
#define WRITE_STALL_S 600u

/* The front (server_conn.c) refuses heads over these limits before libmicrohttpd reads them; the
 * checks in on_request stay as a second line. libmicrohttpd's memory pool per connection (32 KiB by
 * default) must hold a whole head of that size, hence 128 KiB (only connections running a request
 * hold one: each carries one request). */
#define MHD_POOL_BYTES (128u << 10)
#define MAX_URI_BYTES (16u << 10)    /* the request target, query included */
#define MAX_HEADER_BYTES (32u << 10) /* every header's name and value, as they came */

typedef struct request {
    gptoss_buf body;
    int too_big;
    int started;
    int seen;       /* on_request has been called */
    int http11;     /* HTTP/1.1: interim 1xx answers may be sent */
    int probed;     /* probe_peer wrote its 100 Continue */
    int ollama;     /* under /api/: errors in Ollama's shape */
    uint32_t key;   /* which API key it gave */
    size_t uri_len; /* the raw request target's (on_uri) */
    /* for its log line */
    char method[16];
    char *path;
    double t0;
    int status;      /* of the reply queued; 0: none */
    server_job *job; /* a reference, for the token counts */
} request;

typedef struct stream {
    server *srv;
    server_job *job;
    struct MHD_Connection *conn;
    int probed; /* the SSE comment that tells a client gone from a half-closed one was sent */
} stream;

/* ---- the log --------------------------------------------------------------------------------- */

/* One line on stderr, written whole so the lines of connection threads do not mix. */
static void log_line(const char *fmt, ...) GPTOSS_PRINTF(1, 2);
static void log_line(const char *fmt, ...) {
    char line[768] = "gptoss serve: ";
    size_t n = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = strlen(line);
    line[n++] = '\n';
    line[n] = 0;
    fputs(line, stderr);
}

/* libmicrohttpd's own messages. While the daemon starts, the last is kept: the reason it could not
 * listen goes into serve's one error line. Afterwards they concern single connections, mostly
 * clients that went away (which the request's line already says, as 499 or "client went away"), so
 * they are printed only with $GPTOSS_SERVE_DEBUG set. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    server *srv = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' ')) msg[--n] = 0;
    pthread_mutex_lock(&srv->mu);
    int listening = srv->listening;
    if (!listening) snprintf(srv->mhd_message, sizeof srv->mhd_message, "%s", msg);
    pthread_mutex_unlock(&srv->mu);
    if (listening && srv->debug) log_line("libmicrohttpd: %s", msg);
}

/* The request's line (none with --quiet): time, method, path, status, prompt and generated tokens,
 * seconds. The path comes without its query (libmicrohttpd keeps that apart) and no header is
 * written, so an API key never reaches the log. Successful GETs of /health and /metrics are left
 * out: probes and scrapers poll them. */
static void log_request(server *srv, const request *rq, enum MHD_RequestTerminationCode toe) {
    if (srv->opts.quiet || !rq->path) return;
    if (rq->status == 200 && (!strcmp(rq->path, "/health") || !strcmp(rq->path, "/metrics"))) return;
    char path[212];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)rq->path; *p && n + 4 < sizeof path; p++) {
        if (n >= 200) {
            memcpy(path + n, "...", 3);
            n += 3;
            break;
        }
        if (*p > ' ' && *p < 0x7f) path[n++] = (char)*p;
        else n += (size_t)snprintf(path + n, sizeof path - n, "%%%02X", *p);
    }
    path[n] = 0;
    unsigned long long in = 0, out = 0;
    if (rq->job) {
        pthread_mutex_lock(&rq->job->mu);
        in = rq->job->n_prompt;
        out = rq->job->n_generated;
        pthread_mutex_unlock(&rq->job->mu);
    }
    int gone = rq->status == 499 ||
               (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN);
    int status = rq->status ? rq->status : gone ? 499 : 500;
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    log_line("%s %s %s %d in=%llu out=%llu %.3fs%s", when, rq->method, path, status, in, out, cli_now_s() - rq->t0,
             gone ? " (client went away)" : "");
}

/* ---- metrics -------------------------------------------------------------------------------- */

static const int tracked_codes[] = {200, 400, 401, 404, 405, 408, 413, 414, 429, 431, 499, 500, 501, 503, 505};
#define N_CODES (sizeof tracked_codes / sizeof tracked_codes[0])
static uint64_t g_code_count[N_CODES];
static time_t g_started;

static void count_status(server *srv, int status) {
    pthread_mutex_lock(&srv->mu);
    srv->n_requests++;
    if (status >= 400) srv->n_errors++;
    if (status == 429) srv->n_rejected++;
    for (size_t i = 0; i < N_CODES; i++)
        if (tracked_codes[i] == status) g_code_count[i]++;
    pthread_mutex_unlock(&srv->mu);
}

static void metrics(server *srv, server_reply *r) {
    server_stats st;
    server_sched_stats(srv->sched, &st);
    gptoss_buf b = {0};
    pthread_mutex_lock(&srv->mu);
    gptoss_buf_puts(&b, "# HELP gptoss_requests_total HTTP requests answered, by status code.\n"
                        "# TYPE gptoss_requests_total counter\n");
    for (size_t i = 0; i < N_CODES; i++)
        gptoss_buf_printf(&b, "gptoss_requests_total{code=\"%d\"} %llu\n", tracked_codes[i],
                          (unsigned long long)g_code_count[i]);
    gptoss_buf_printf(&b, "# HELP gptoss_requests_rejected_total Requests refused because the queue was full.\n"
                          "# TYPE gptoss_requests_rejected_total counter\ngptoss_requests_rejected_total %llu\n",
                      (unsigned long long)srv->n_rejected);
    pthread_mutex_unlock(&srv->mu);
    gptoss_buf_printf(&b,
                      "# HELP gptoss_prompt_tokens_total Prompt tokens of the requests admitted (once per request).\n"
                      "# TYPE gptoss_prompt_tokens_total counter\ngptoss_prompt_tokens_total %llu\n"
                      "# HELP gptoss_prompt_tokens_cached_total Of those, tokens found in a KV cache (not prefilled).\n"
                      "# TYPE gptoss_prompt_tokens_cached_total counter\ngptoss_prompt_tokens_cached_total %llu\n"
                      "# HELP gptoss_prompt_tokens_prefilled_total Prompt tokens run through prefill (every sequence).\n"
                      "# TYPE gptoss_prompt_tokens_prefilled_total counter\ngptoss_prompt_tokens_prefilled_total %llu\n"
                      "# HELP gptoss_generated_tokens_total Tokens sampled.\n"
                      "# TYPE gptoss_generated_tokens_total counter\ngptoss_generated_tokens_total %llu\n"
                      "# HELP gptoss_generations_total Generations finished (any reason).\n"
                      "# TYPE gptoss_generations_total counter\ngptoss_generations_total %llu\n"
                      "# HELP gptoss_generations_cancelled_total Generations whose client went away.\n"
                      "# TYPE gptoss_generations_cancelled_total counter\ngptoss_generations_cancelled_total %llu\n"
                      "# HELP gptoss_decode_steps_total Batched forward steps.\n"
                      "# TYPE gptoss_decode_steps_total counter\ngptoss_decode_steps_total %llu\n"
                      "# HELP gptoss_decode_tokens_total Tokens run through batched decode steps.\n"
                      "# TYPE gptoss_decode_tokens_total counter\ngptoss_decode_tokens_total %llu\n"
                      "# HELP gptoss_decode_seconds_total Seconds spent in batched decode steps.\n"
                      "# TYPE gptoss_decode_seconds_total counter\ngptoss_decode_seconds_total %.6f\n"
                      "# HELP gptoss_prefill_seconds_total Seconds spent prefilling prompts.\n"
                      "# TYPE gptoss_prefill_seconds_total counter\ngptoss_prefill_seconds_total %.6f\n"
                      "# HELP gptoss_queue_length Requests waiting for a slot.\n"
                      "# TYPE gptoss_queue_length gauge\ngptoss_queue_length %u\n"
                      "# HELP gptoss_queue_capacity Most requests that may wait.\n"
                      "# TYPE gptoss_queue_capacity gauge\ngptoss_queue_capacity %u\n"
                      "# HELP gptoss_active_sequences Sequences holding a slot (and its KV cache).\n"
                      "# TYPE gptoss_active_sequences gauge\ngptoss_active_sequences %u\n"
                      "# HELP gptoss_slots Sequences that decode together (--parallel).\n"
                      "# TYPE gptoss_slots gauge\ngptoss_slots %u\n"
                      "# HELP gptoss_tokens_per_second Tokens sampled per second over the last 10 seconds.\n"
                      "# TYPE gptoss_tokens_per_second gauge\ngptoss_tokens_per_second %.3f\n"
                      "# HELP gptoss_uptime_seconds Seconds since the server started.\n"
                      "# TYPE gptoss_uptime_seconds gauge\ngptoss_uptime_seconds %lld\n",
                      (unsigned long long)st.prompt_tokens, (unsigned long long)st.prompt_tokens_cached,
                      (unsigned long long)st.prompt_tokens_prefilled, (unsigned long long)st.generated_tokens,
                      (unsigned long long)st.finished, (unsigned long long)st.cancelled,
                      (unsigned long long)st.steps, (unsigned long long)st.decode_tokens, st.decode_seconds,
                      st.prefill_seconds, st.queued, st.queue_cap, st.active, st.slots,
                      st.tokens_per_second, (long long)(time(NULL) - g_started));
    uint32_t n_stored = 0;
    size_t stored_bytes = 0;
    server_store_stats(srv->store, &n_stored, &stored_bytes);
    gptoss_buf_printf(&b,
                      "# HELP gptoss_responses_stored Responses kept for previous_response_id.\n"
                      "# TYPE gptoss_responses_stored gauge\ngptoss_responses_stored %u\n"
                      "# HELP gptoss_responses_stored_bytes Memory they hold (bounded by --max-stored-bytes).\n"
                      "# TYPE gptoss_responses_stored_bytes gauge\ngptoss_responses_stored_bytes %zu\n",
                      n_stored, stored_bytes);
    server_conn_stats cs;
    server_conns_stats(&srv->conns, &cs);
    gptoss_buf_printf(&b,
                      "# HELP gptoss_connections_open Client connections open.\n"
                      "# TYPE gptoss_connections_open gauge\ngptoss_connections_open %u\n"
                      "# HELP gptoss_connections_timed_out_total Connections closed for a request head or body that "
                      "took too long (--header-timeout, --body-timeout).\n"
                      "# TYPE gptoss_connections_timed_out_total counter\ngptoss_connections_timed_out_total %llu\n"
                      "# HELP gptoss_connections_evicted_total Connections waiting for a request, closed to make room "
                      "for new clients.\n"
                      "# TYPE gptoss_connections_evicted_total counter\ngptoss_connections_evicted_total %llu\n"
                      "# HELP gptoss_connections_refused_total Connections turned away: their address had "
                      "--max-connections-per-address running requests.\n"
                      "# TYPE gptoss_connections_refused_total counter\ngptoss_connections_refused_total %llu\n",
                      cs.open, (unsigned long long)cs.timed_out, (unsigned long long)cs.evicted,
                      (unsigned long long)cs.refused);
    server_python_metrics(srv, &b);
    r->status = 200;
    r->body = gptoss_buf_cstr(&b) ? b.data : NULL;
    if (!r->body) gptoss_buf_free(&b);
    r->content_type = "text/plain; version=0.0.4";
}

static void health(server *srv, server_reply *r) {
    server_stats st;
    server_sched_stats(srv->sched, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddStringToObject(o, "model", srv->opts.model_id);
    cJSON_AddNumberToObject(o, "slots", st.slots);
    cJSON_AddNumberToObject(o, "active", st.active);
    cJSON_AddNumberToObject(o, "queued", st.queued);
    cJSON_AddNumberToObject(o, "generated_tokens", (double)st.generated_tokens);
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

static cJSON *model_object(server *srv) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->opts.model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)g_started);
    cJSON_AddStringToObject(m, "owned_by", "gptoss");
    return m;
}

static void models(server *srv, const char *id, server_reply *r) {
    cJSON *o;
    if (id) {
        if (!server_model_known(srv, id)) {
            server_error(r, 404, "invalid_request_error", "model", "model_not_found", "The model '%s' does not exist",
                         id);
            return;
        }
        o = model_object(srv);
    } else {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), model_object(srv));
    }
    r->status = 200;
    r->body = cJSON_PrintUnformatted(o);
    r->content_type = "application/json";
    cJSON_Delete(o);
}

/* ---- HTTP plumbing ------------------------------------------------------------------------- */

/* The guard's record of a connection (its socket context). */
static server_conn *conn_of(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A request is complete and runs: no deadline while it does. libmicrohttpd checks its inactivity
 * timeout only when the handler returns, so a plain answer computed for longer than that timeout
 * would be dropped unsent; it is off until the answer is queued. */
static void running_request(server *srv, struct MHD_Connection *conn) {
    server_conn_enter(&srv->conns, conn_of(conn), SERVER_CONN_BUSY);
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
}

/* The answer is queued: a client that stops reading it is dropped after WRITE_STALL_S (counted from
 * now: setting it after 0 restarts the clock), and the connection closes after it. */
static void writing_answer(struct MHD_Connection *conn, struct MHD_Response *resp) {
    MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, WRITE_STALL_S);
    /* One request a connection: every head is checked by the front before libmicrohttpd reads it
     * (server_conn.c), which a kept-alive connection's next head would not be. */
    MHD_add_response_header(resp, "Connection", "close");
}

static MHD_Result_t send_reply(server *srv, struct MHD_Connection *conn, request *rq, server_reply *r) {
    if (!r->body) server_error(r, 500, "server_error", NULL, NULL, "out of memory");
    if (rq->ollama && r->status >= 400) server_ollama_error_shape(r);
    count_status(srv, r->status);
    rq->status = r->status;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    r->body = NULL;
    MHD_add_response_header(resp, "Content-Type", r->content_type ? r->content_type : "application/json");
    writing_answer(conn, resp);
    if (r->status == 429) MHD_add_response_header(resp, "Retry-After", "1");
    if (r->status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    MHD_Result_t ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* What a peek at the client's socket says: PEER_EOF is the end of its stream, which is either a
 * client gone or one that only closed its sending side after the request (shutdown(SHUT_WR), legal
 * in HTTP/1.1), and the two cannot be told apart without writing to it. Only a reset or another
 * error is PEER_GONE. */
enum { PEER_OPEN, PEER_EOF, PEER_GONE };
static int peer_state(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return PEER_GONE;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {
        /* A reset after the end of the stream is not reported by recv (it keeps returning 0); the
         * connection's state says it: CLOSE_WAIT while the client can still read, CLOSE after. */
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (!getsockopt(ci->connect_fd, IPPROTO_TCP, TCP_INFO, &ti, &len)) {
            if (len >= sizeof ti.tcpi_state && ti.tcpi_state == TCP_CLOSE) return PEER_GONE;
            return PEER_EOF;
        }
        /* Not TCP: the socket pair of a relayed chunked request (server_conn.c), whose other end the
         * front closes when the client is gone. */
        struct pollfd pf = {.fd = ci->connect_fd, .events = POLLOUT};
        if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLERR))) return PEER_GONE;
        return PEER_EOF;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return PEER_GONE;
    return PEER_OPEN;
}

/* A client whose stream ended while its plain (not streamed) answer is computed: an interim
 * "100 Continue" (RFC 9110 15.2: a client must accept 1xx answers it did not ask for) is written
 * once, straight to the socket (this connection's thread is libmicrohttpd's, which writes nothing
 * until the handler returns). A client that only half-closed reads and skips it; one that is gone
 * answers with a reset, which the next peek sees. HTTP/1.0 has no 1xx: such a client is only found
 * gone when its answer cannot be written. Returns 1 when the client is gone. */
static int probe_peer(struct MHD_Connection *conn, request *rq) {
    int st = peer_state(conn);
    if (st != PEER_EOF) return st == PEER_GONE;
    if (rq->probed || !rq->http11) return 0;
    rq->probed = 1;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    return !ci || send(ci->connect_fd, cont, sizeof cont - 1, GPTOSS_MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)(sizeof cont - 1);
}

static void wait_a_little(server_job *job) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WAIT_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&job->cond, &job->mu, &ts);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *s = cls;
    server_job *job = s->job;
    pthread_mutex_lock(&job->mu);
    for (;;) {
        if (job->out.len) {
            size_t n = job->out.len < max ? job->out.len : max;
            memcpy(buf, job->out.data, n);
            memmove(job->out.data, job->out.data + n, job->out.len - n);
            job->out.len -= n;
            pthread_mutex_unlock(&job->mu);
            return (ssize_t)n;
        }
        if (job->done) {
            pthread_mutex_unlock(&job->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        wait_a_little(job);
        if (!job->out.len && !job->done) {
            pthread_mutex_unlock(&job->mu);
            /* The end of the client's stream alone is no sign that it is gone (it may only have
             * half-closed): an SSE comment, which clients skip, is written once, and a client gone
             * answers it with a reset (seen by the next peek, or a failed write). */
            int st = peer_state(s->conn);
            pthread_mutex_lock(&job->mu);
            if (st == PEER_GONE) {
                job->cancelled = 1;
                pthread_mutex_unlock(&job->mu);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (st == PEER_EOF && !s->probed && max >= 3 && !job->out.len && !job->done) {
                s->probed = 1;
                pthread_mutex_unlock(&job->mu);
                memcpy(buf, ":\n\n", 3);
                return 3;
            }
        }
    }
}

static void stream_free(void *cls) {
    stream *s = cls;
    server_job_cancel(s->job); /* no effect once it is done; frees the slot if the client left early */
    server_job_release(s->job);
    free(s);
}

/* NULL when the request may go on (no key is set, or it gives one of the keys: its index in *key),
 * else the 401's message. Every key is compared whole, whichever matches. */
static const char *auth_error(server *srv, struct MHD_Connection *conn, uint32_t *key) {
    *key = 0;
    if (!srv->opts.n_api_keys) return NULL;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    while (h && *h == ' ') h++;
    if (h && !strncasecmp(h, "Bearer", 6) && (h[6] == ' ' || !h[6]))
        for (h += 6; *h == ' ';) h++;
    else if (h && *h) return "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.";
    if (!h || !*h) return "No API key given: pass it as 'Authorization: Bearer KEY'.";
    size_t hl = strlen(h);
    int found = 0;
    for (uint32_t n = 0; n < srv->opts.n_api_keys; n++) {
        const char *k = srv->opts.api_keys[n];
        size_t kl = strlen(k);
        unsigned diff = (unsigned)(hl ^ kl);
        for (size_t i = 0; i < kl; i++) diff |= (unsigned char)k[i] ^ (unsigned char)(i < hl ? h[i] : 0);
        if (!diff) *key = n, found = 1;
    }
    return found ? NULL : "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.";
}

/* FNV-1a over a member's string (absent: nothing), then a separator. */
static uint64_t hash_member(uint64_t h, const cJSON *v) {
    if (cJSON_IsString(v))
        for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull; /* 0xff is never a byte of UTF-8 */
}

/* The `user` and `safety_identifier` of a request: strings or null; 0, or -1 with a 400 in r. A hash
 * of them tags whose prompt it is (server_job's owner_user). Colliding with another client's hash
 * gains nothing over sending that client's identifier itself, which is not a secret. */
static int request_owner(const cJSON *req, uint64_t *out, server_reply *r) {
    static const char *const names[] = {"user", "safety_identifier"};
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, names[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
            server_error(r, 400, "invalid_request_error", names[i], "invalid_type",
                         "Invalid type for '%s': expected a string.", names[i]);
            return -1;
        }
        h = hash_member(h, v);
    }
    *out = h;
    return 0;
}

/* An API that generates: its job from the parsed request (NULL with r set: an error, or an answer
 * that needs no generation), the plain answer of a finished job, what its stream is. */
typedef struct api {
    server_job *(*request)(server *srv, const cJSON *req, server_reply *r);
    void (*result)(server *srv, server_job *job, server_reply *r);
    const char *stream_type;
} api;

static server_job *completions_request(server *srv, const cJSON *req, server_reply *r) {
    return server_completions_request(srv, req, NULL, r);
}

static const api api_chat = {server_chat_request, server_chat_result, "text/event-stream"};
static const api api_responses = {server_responses_request, server_responses_result, "text/event-stream"};
static const api api_completions = {completions_request, server_completions_result, "text/event-stream"};
static const api api_ollama_chat = {server_ollama_chat, server_ollama_result, "application/x-ndjson"};
static const api api_ollama_generate = {server_ollama_generate, server_ollama_result, "application/x-ndjson"};

/* Parses a request body: exactly one JSON object. NULL with r set when it is not. */
static cJSON *parse_body(const request *rq, server_reply *r) {
    if (!server_utf8_valid(rq->body.data ? rq->body.data : "", rq->body.len)) {
        server_error(r, 400, "invalid_request_error", NULL, "invalid_encoding", "The request body is not valid UTF-8.");
        return NULL;
    }
    const char *body = rq->body.data ? rq->body.data : "", *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(body, rq->body.len, &end, 0);
    /* cJSON stops after the first value; "{...} junk" or two objects is not one JSON body, and
     * taking the first would let a proxy and this server disagree about what was asked. */
    while (req && end < body + rq->body.len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    if (req && end != body + rq->body.len) {
        server_error(r, 400, "invalid_request_error", NULL, "invalid_json",
                     "The request body has bytes after its JSON object (at offset %zu).", (size_t)(end - body));
        cJSON_Delete(req);
        return NULL;
    }
    if (!req || !cJSON_IsObject(req)) {
        server_error(r, 400, "invalid_request_error", NULL, "invalid_json",
                     req ? "The request body must be a JSON object."
                         : "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                           "your HTTP library correctly.)");
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

/* POST /v1/chat/completions, /v1/responses, /v1/completions, /api/chat, /api/generate. */
static MHD_Result_t generate(server *srv, struct MHD_Connection *conn, const api *a, request *rq) {
    server_reply r = {0};
    cJSON *req = parse_body(rq, &r);
    if (!req) return send_reply(srv, conn, rq, &r);
    uint64_t owner_user = 0;
    if (request_owner(req, &owner_user, &r) != 0 || server_check_metadata(req, &r) != 0) {
        cJSON_Delete(req);
        return send_reply(srv, conn, rq, &r);
    }
    server_job *job = a->request(srv, req, &r);
    cJSON_Delete(req);
    if (!job) return send_reply(srv, conn, rq, &r);
    job->owner_key = rq->key;
    job->owner_user = owner_user;
    server_job_retain(job);
    rq->job = job;
    int submitted = server_sched_submit(srv->sched, job);
    if (submitted == -2) {
        char why[256] = "";
        server_sched_lost(srv->sched, why, sizeof why);
        server_job_release(job);
        server_error(&r, 503, "server_error", NULL, "service_unavailable", "%s", why);
        return send_reply(srv, conn, rq, &r);
    }
    if (submitted != 0) {
        server_job_release(job);
        server_error(&r, 429, "rate_limit_exceeded", NULL, "rate_limit_exceeded",
                     "The server is busy: %u requests are running and the queue is full. Retry later.",
                     srv->opts.parallel);
        return send_reply(srv, conn, rq, &r);
    }
    if (job->stream) {
        stream *s = calloc(1, sizeof *s);
        struct MHD_Response *resp = s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s,
                                                                           stream_free)
                                      : NULL;
        if (!resp) {
            server_job_cancel(job);
            server_job_release(job);
            free(s);
            return MHD_NO;
        }
        s->srv = srv;
        s->job = job;
        s->conn = conn;
        MHD_add_response_header(resp, "Content-Type", a->stream_type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        writing_answer(conn, resp);
        count_status(srv, 200);
        rq->status = 200;
        MHD_Result_t ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* Not streaming: wait here (this connection's thread), watching for the client to leave. */
    pthread_mutex_lock(&job->mu);
    while (!job->done) {
        wait_a_little(job);
        if (job->done) break;
        pthread_mutex_unlock(&job->mu);
        int gone = probe_peer(conn, rq);
        pthread_mutex_lock(&job->mu);
        if (gone) job->cancelled = 1;
        if (gone && !job->started) break; /* the scheduler drops it from the queue */
    }
    int cancelled = job->cancelled;
    pthread_mutex_unlock(&job->mu);
    if (cancelled) {
        server_job_release(job);
        /* Nobody reads this reply: it ends the request as a normal event (MHD_NO would be an internal
         * error to libmicrohttpd), with nginx's 499 "client closed request". */
        server_error(&r, 499, "invalid_request_error", NULL, "client_closed_request", "The client went away.");
        return send_reply(srv, conn, rq, &r);
    }
    a->result(srv, job, &r);
    server_job_release(job);
    return send_reply(srv, conn, rq, &r);
}

/* A file of the chat page (server_page.c): no API key needed to load it (only /v1/ and /api/ ask for one),
 * revalidated by ETag, kept to its own origin by the CSP. */
static MHD_Result_t page_file(server *srv, struct MHD_Connection *conn, request *rq, const server_page_file *f) {
    int fresh = server_page_fresh(f, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match"));
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(fresh ? 0 : f->n_bytes, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    rq->status = fresh ? 304 : 200;
    count_status(srv, rq->status);
    MHD_add_response_header(resp, "Content-Type", f->content_type);
    MHD_add_response_header(resp, "ETag", f->etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Content-Security-Policy", SERVER_PAGE_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    writing_answer(conn, resp);
    MHD_Result_t ret = MHD_queue_response(conn, (unsigned)rq->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static MHD_Result_t route(server *srv, struct MHD_Connection *conn, const char *url, const char *method, request *rq) {
    server_reply r = {0};
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) {
        if (!get) goto method;
        health(srv, &r);
        return send_reply(srv, conn, rq, &r);
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) goto method;
        metrics(srv, &r);
        return send_reply(srv, conn, rq, &r);
    }
    rq->ollama = !strncmp(url, "/api/", 5);
    const char *denied = strncmp(url, "/v1/", 4) && !rq->ollama ? NULL : auth_error(srv, conn, &rq->key);
    if (denied) {
        server_error(&r, 401, "invalid_request_error", NULL, "invalid_api_key", "%s", denied);
        return send_reply(srv, conn, rq, &r);
    }
    if (!strcmp(url, "/v1/models") || !strncmp(url, "/v1/models/", 11)) {
        if (!get) goto method;
        models(srv, url[10] == '/' ? url + 11 : NULL, &r);
        return send_reply(srv, conn, rq, &r);
    }
    const api *a = !strcmp(url, "/v1/chat/completions") ? &api_chat
                   : !strcmp(url, "/v1/responses")      ? &api_responses
                   : !strcmp(url, "/v1/completions")    ? &api_completions
                   : !strcmp(url, "/api/chat")          ? &api_ollama_chat
                   : !strcmp(url, "/api/generate")      ? &api_ollama_generate
                                                        : NULL;
    if (a) {
        if (!post) goto method;
        if (rq->too_big) goto too_big;
        return generate(srv, conn, a, rq);
    }
    if (!strcmp(url, "/api/tags") || !strcmp(url, "/api/ps") || !strcmp(url, "/api/version")) {
        if (!get && strcmp(method, "HEAD") != 0) goto method;
        if (url[5] == 't') server_ollama_tags(srv, &r);
        else if (url[5] == 'p') server_ollama_ps(srv, &r);
        else server_ollama_version(&r);
        return send_reply(srv, conn, rq, &r);
    }
    if (!strcmp(url, "/api/show")) {
        if (!post) goto method;
        if (rq->too_big) goto too_big;
        cJSON *req = parse_body(rq, &r);
        if (req) server_ollama_show(srv, req, &r);
        cJSON_Delete(req);
        return send_reply(srv, conn, rq, &r);
    }
    if (!strncmp(url, "/v1/responses/", 14) && url[14]) {
        if (!get) goto method;
        server_responses_get(srv, url + 14, &r);
        return send_reply(srv, conn, rq, &r);
    }
    const server_page_file *file = server_page_find(url);
    if (file) {
        if (!get && strcmp(method, "HEAD")) goto method;
        return page_file(srv, conn, rq, file);
    }
    server_error(&r, 404, "invalid_request_error", NULL, "unknown_url", "Unknown request URL: %s %s.", method, url);
    return send_reply(srv, conn, rq, &r);
method:
    server_error(&r, 405, "invalid_request_error", NULL, "method_not_allowed", "Method %s is not allowed on %s.", method,
                 url);
    return send_reply(srv, conn, rq, &r);
too_big:
    server_error(&r, 413, "invalid_request_error", NULL, "request_too_large",
                 "The request body is larger than %zu bytes.", srv->opts.max_body);
    return send_reply(srv, conn, rq, &r);
}

/* Sums the bytes of a request's headers (name, ": ", value, CRLF). */
static MHD_Result_t add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    size_t *n = cls;
    *n += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Called by libmicrohttpd once a request line is parsed, before its headers: the raw target's length
 * (the handler only sees the path, unescaped and without its query). What it returns is the
 * request's con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn) {
    (void)cls;
    (void)conn;
    request *rq = calloc(1, sizeof *rq);
    if (rq && uri) rq->uri_len = strlen(uri);
    return rq;
}

static MHD_Result_t on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    server *srv = cls;
    request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *con_cls = rq;
        rq->uri_len = strlen(url);
    }
    if (!rq->seen) {
        rq->seen = 1;
        rq->http11 = version && !strcmp(version, "HTTP/1.1");
        rq->t0 = cli_now_s();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        rq->path = strdup(url);
        size_t header_bytes = 0;
        MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_bytes, &header_bytes);
        if (rq->uri_len > MAX_URI_BYTES || header_bytes > MAX_HEADER_BYTES) {
            server_reply r = {0};
            rq->started = 1;
            running_request(srv, conn);
            if (rq->uri_len > MAX_URI_BYTES)
                server_error(&r, 414, "invalid_request_error", NULL, "uri_too_long",
                             "The request URI is %zu bytes; at most %u are accepted.", rq->uri_len, MAX_URI_BYTES);
            else
                server_error(&r, 431, "invalid_request_error", NULL, "request_header_fields_too_large",
                             "The request headers are %zu bytes; at most %u are accepted.", header_bytes,
                             MAX_HEADER_BYTES);
            return send_reply(srv, conn, rq, &r);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->opts.max_body) {
            /* Answer before reading the body; the connection closes afterwards. */
            server_reply r = {0};
            rq->started = 1;
            running_request(srv, conn);
            server_error(&r, 413, "invalid_request_error", NULL, "request_too_large",
                         "The request body is larger than %zu bytes.", srv->opts.max_body);
            return send_reply(srv, conn, rq, &r);
        }
        return MHD_YES;
    }
    if (rq->started) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rq->body.len + *upload_size > srv->opts.max_body) {
            rq->too_big = 1;
            gptoss_buf_free(&rq->body);
        } else if (!rq->too_big) gptoss_buf_append(&rq->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    rq->started = 1;
    running_request(srv, conn);
    if (rq->body.failed) rq->too_big = 1;
    return route(srv, conn, url, method, rq);
}

/* The front (server_conn.c) passes a connection whose head it checked. */
static int handoff(void *cls, int fd, const struct sockaddr *addr, socklen_t len) {
    server *srv = cls;
    return MHD_add_connection(srv->daemon, fd, addr, len) == MHD_YES ? 0 : -1;
}

/* The front answered a head it refused (a JSON error): counted and logged like a request. */
static void front_answered(void *cls, int status, const char *message) {
    server *srv = cls;
    count_status(srv, status);
    if (srv->opts.quiet) return;
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    log_line("%s - - %d (%s)", when, status, message);
}

/* libmicrohttpd took a connection from the front (server_conns_run's handoff), or closed one. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = fd ? server_conn_attach(&srv->conns, fd->connect_fd) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        server_conn_closed(&srv->conns, *socket_context);
        *socket_context = NULL;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    server *srv = cls;
    server_conn *gc = conn_of(conn);
    server_conn_finished(&srv->conns, gc); /* one request a connection */
    request *rq = *con_cls;
    if (!rq) return;
    if (!rq->status && server_conn_ended(&srv->conns, gc) == SERVER_CONN_TIMED_OUT) {
        rq->status = 408; /* the guard answered it */
        count_status(srv, 408);
    }
    log_request(cls, rq, toe);
    server_job_release(rq->job);
    free(rq->path);
    gptoss_buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* ---- options and main ------------------------------------------------------------------------ */

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss serve MODEL [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N]\n"
               "                    [-c N] [OPTIONS]\n"
               "  An OpenAI-compatible server: POST /v1/chat/completions, POST /v1/responses,\n"
               "  POST /v1/completions, GET /v1/models, GET /health, GET /metrics, and Ollama's\n"
               "  /api/chat, /api/generate, /api/tags, /api/show, /api/ps, /api/version (docs/SERVER.md).\n"
               "options:\n"
               "  --host ADDR          address to bind (default 127.0.0.1; 0.0.0.0 for every interface)\n"
               "  --port N             TCP port (default 8080; 0 picks a free one, printed at start)\n"
               "  --api-key KEY        require 'Authorization: Bearer KEY' on /v1/* and /api/* (or\n"
               "                       $GPTOSS_API_KEY); once\n"
               "                       per key: each key's prompts reuse only its own cached prefixes\n"
               "  --parallel N         sequences decoded together by continuous batching (default 4)\n"
               "  -c, --ctx N          context of each sequence in tokens (default 4096; alias --ctx-size)\n"
               "  --queue N            requests that may wait for a sequence; then 429 (default 64)\n"
               "  -t, --threads N      worker threads (default: every CPU)\n"
               "  --device cpu         where the model runs: the CPU only (batched decoding has no CUDA\n"
               "                       path yet)\n"
               "  --max-body BYTES     largest request body (default 4194304)\n"
               "  --max-connections N  open connections (default 512); near it, connections that wait for a\n"
               "                       request are closed, the longest waiting first, to make room\n"
               "  --max-connections-per-address N  connections one client address may hold (default 64;\n"
               "                       0: no limit, e.g. behind a reverse proxy)\n"
               "  --header-timeout S   seconds a client may take to send a request's headers, and to stay\n"
               "                       idle between requests (default 15)\n"
               "  --body-timeout S     seconds a client may take to send a request's body (default 60)\n"
               "  --max-stored N       responses kept for previous_response_id (default 1024)\n"
               "  --max-stored-bytes BYTES  memory those responses may hold, the oldest dropped first\n"
               "                       (default 268435456)\n"
               "  --max-items N        messages (chat) or input items with the stored history (Responses)\n"
               "                       in one request; more is a 400 (default 10000)\n"
               "  --prefill-chunk N    prompt tokens per sequence between decode steps (default 256)\n"
               "  --model-name NAME    the model's id in the API (default: the directory's name)\n"
               "  --tokenizer PATH     tokenizer (default: the model's tokenizer.json)\n"
               "  --seed S             seed of requests that give none (default: from the clock)\n"
               "  --kv TYPE            KV cache elements: bf24 (default), f32, or f16 (half of f32's memory\n"
               "                       per sequence, less exact); --kv-f16 is --kv f16\n"
               "  --quiet              no line per request on stderr\n"
               "The browser, run server-side (Responses tools web_search / web_search_preview / browser_search;\n"
               "every chat completion that declares no browser functions of its own):\n" CLI_BROWSER_USAGE
               "Python, run server-side in sandboxes (Responses tools code_interpreter, one sandbox per\n"
               "conversation; every chat completion that declares no python function of its own, one per\n"
               "choice); with --python-data DIR each container's /mnt/data is DIR/CONTAINER_ID, kept:\n"
               CLI_PYTHON_USAGE
               "  --python-idle-timeout S  end a sandbox no request has used for S seconds (default 1200)\n"
               "  --python-max-sandboxes N  sandboxes alive at once (default 16); a new one ends the one\n"
               "                       idle longest, and when all are in use the call's reply says so\n");
}

static int parse_options(server_options *o, int argc, char **argv) {
    int api_key_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v, *name = cli_option_name(a);
        int ok = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--ctx-size")) name = "--ctx"; /* its first spelling */
        if (a[0] != '-') {
            if (o->model_path) {
                cli_error("serve: unexpected argument '%s'", a);
                return -1;
            }
            o->model_path = a;
            continue;
        }
        if (!strcmp(a, "--kv-f16")) {
            o->kv_type = GPTOSS_KV_F16;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        int br = cli_browser_option(&o->browser, argc, argv, &i);
        if (br < 0) return -1;
        if (br) continue;
        int py = cli_python_option(&o->python, argc, argv, &i);
        if (py < 0) return -1;
        if (py) continue;
        int idle = !strcmp(a, "--python-idle-timeout");
        if (idle || !strcmp(a, "--python-max-sandboxes")) {
            if (!(v = cli_next(argc, argv, &i))) return -1;
            char *end;
            double x = strtod(v, &end);
            if (end == v || *end || !(x > 0 && x <= (idle ? 7 * 86400.0 : 4096)) || (!idle && x != (double)(uint32_t)x)) {
                cli_error("serve: invalid value '%s' for %s", v, a);
                return -1;
            }
            if (idle) o->python_idle_timeout_s = x;
            else o->python_max_sandboxes = (uint32_t)x;
            o->python.enabled = 1;
            continue;
        }
        static const char *const known[] = {"--host", "--port", "--api-key", "--parallel", "--queue",
                                            "--threads", "--max-body", "--max-connections", "--max-connections-per-address", "--header-timeout", "--body-timeout", "--max-stored", "--max-stored-bytes", "--max-items",
                                            "--prefill-chunk", "--model-name", "--tokenizer", "--seed", "--ctx", "--kv",
                                            "--device"};
        int k = 0;
        for (size_t j = 0; j < sizeof known / sizeof known[0]; j++) k |= !strcmp(name, known[j]);
        if (!k) {
            cli_error("serve: unknown option %s", a);
            usage(stderr);
            return -1;
        }
        if (!(v = cli_next(argc, argv, &i))) return -1;
        uint64_t u = 0;
        if (!strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "--api-key")) {
            if (!api_key_given) o->n_api_keys = 0; /* they replace $GPTOSS_API_KEY */
            api_key_given = 1;
            if (!*v) {
                cli_error("serve: an empty --api-key");
                return -1;
            }
            if (o->n_api_keys == SERVER_MAX_API_KEYS) {
                cli_error("serve: at most %d --api-key options", SERVER_MAX_API_KEYS);
                return -1;
            }
            o->api_keys[o->n_api_keys++] = v;
        }
        else if (!strcmp(a, "--model-name")) o->model_id = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer_path = v;
        else if (!strcmp(a, "--seed")) ok = cli_parse_u64(v, &o->seed);
        else if (!strcmp(a, "--kv")) ok = cli_parse_kv_type(v, &o->kv_type);
        else if (!strcmp(a, "--device")) {
            gptoss_device d = GPTOSS_DEVICE_CPU;
            ok = cli_parse_device(v, &d);
            if (ok && d == GPTOSS_DEVICE_CUDA) {
                cli_error("serve: --device cuda is not supported: the server's batched decoding runs on the CPU");
                return -1;
            }
        } else {
            ok = cli_parse_u64(v, &u);
            if (!strcmp(a, "--port")) ok = ok && u <= 65535, o->port = (uint32_t)u;
            else if (!strcmp(a, "--parallel")) ok = ok && u >= 1 && u <= 256, o->parallel = (uint32_t)u;
            else if (!strcmp(name, "--ctx")) ok = ok && u >= 16 && u <= 1u << 20, o->ctx_size = (uint32_t)u;
            else if (!strcmp(a, "--queue")) ok = ok && u <= 1u << 20, o->queue_size = (uint32_t)u;
            else if (!strcmp(name, "--threads")) ok = ok && u >= 1 && u <= 1024, o->threads = (uint32_t)u;
            else if (!strcmp(a, "--max-body")) ok = ok && u >= 1024, o->max_body = (size_t)u;
            else if (!strcmp(a, "--max-connections")) ok = ok && u >= 1 && u <= 65536, o->max_connections = (uint32_t)u;
            else if (!strcmp(a, "--max-connections-per-address")) ok = ok && u <= 65536, o->max_per_address = (uint32_t)u;
            else if (!strcmp(a, "--header-timeout")) ok = ok && u >= 1 && u <= 86400, o->header_timeout_s = (uint32_t)u;
            else if (!strcmp(a, "--body-timeout")) ok = ok && u >= 1 && u <= 86400, o->body_timeout_s = (uint32_t)u;
            else if (!strcmp(a, "--max-stored")) ok = ok && u >= 1 && u <= 1u << 20, o->max_stored = (uint32_t)u;
            else if (!strcmp(a, "--max-stored-bytes")) ok = ok && u >= 4096 && u <= SIZE_MAX / 2, o->max_stored_bytes = (size_t)u;
            else if (!strcmp(a, "--max-items")) ok = ok && u >= 1 && u <= 1u << 24, o->max_items = (uint32_t)u;
            else if (!strcmp(a, "--prefill-chunk")) ok = ok && u >= 1 && u <= 1u << 16, o->prefill_chunk = (uint32_t)u;
        }
        if (!ok) {
            cli_error("serve: invalid value '%s' for %s", v, a);
            return -1;
        }
    }
    if (!o->model_path) {
        cli_error("serve: MODEL is required");
        usage(stderr);
        return -1;
    }
    if (!(o->model_path = cli_model_arg(o->model_path))) return -1;
    return 1;
}

static const char *model_size(const char *name) {
    if (!name) return NULL;
    if (strcasestr(name, "gpt-oss-120b") || strcasestr(name, "gpt-oss:120b")) return "120b";
    if (strcasestr(name, "gpt-oss-20b") || strcasestr(name, "gpt-oss:20b")) return "20b";
    return NULL;
}

/* Cuts p's trailing slashes; returns its length. */
static size_t trim_slashes(char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    return n;
}

/* Adds an alias unless the model already has that name. */
static void add_alias(server_model_names *out, const char *alias) {
    if (!strcasecmp(alias, out->id) || out->n_aliases == SERVER_MAX_ALIASES) return;
    for (size_t i = 0; i < out->n_aliases; i++)
        if (!strcasecmp(alias, out->aliases[i])) return;
    snprintf(out->aliases[out->n_aliases++], sizeof out->aliases[0], "%s", alias);
}

int server_model_names_derive(const char *path, const char *name, server_model_names *out) {
    memset(out, 0, sizeof *out);
    if (name && strlen(name) >= sizeof out->id) return -1;
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    size_t n = trim_slashes(p);
    const char *last = strrchr(p, '/');
    last = last ? last + 1 : p;
    if (!strcmp(last, ".") || !strcmp(last, "..")) { /* `gptoss serve .`: the directory's own name */
        char *real = realpath(path, NULL);
        if (real) snprintf(p, sizeof p, "%s", real);
        free(real);
        n = trim_slashes(p);
    }
    if (n > 9 && !strcmp(p + n - 9, "/original")) {
        p[n - 9] = 0;
        trim_slashes(p);
    }
    /* The Hugging Face cache keeps the repo ORG/NAME in models--ORG--NAME/snapshots/REVISION/. */
    char repo[256] = "";
    const char *below = NULL; /* what the path names inside the repo's folder */
    for (const char *c = p; (c = strstr(c, "models--")) != NULL; c += 8) {
        const char *end = strchr(c, '/');
        size_t len = end ? (size_t)(end - c) : strlen(c);
        const char *sep = memmem(c + 8, len - 8, "--", 2);
        if ((c != p && c[-1] != '/') || len <= 8 || (sep && (sep == c + 8 || sep + 2 == c + len))) continue;
        if (sep) snprintf(repo, sizeof repo, "%.*s/%.*s", (int)(sep - c - 8), c + 8, (int)(c + len - sep - 2), sep + 2);
        else snprintf(repo, sizeof repo, "%.*s", (int)(len - 8), c + 8);
        below = end ? end : "";
    }
    int snapshot = below && !strncmp(below, "/snapshots/", 11) && below[11] && !strchr(below + 11, '/');
    char derived[256];
    if (repo[0] && (!*below || snapshot)) snprintf(derived, sizeof derived, "%s", repo);
    else {
        const char *base = strrchr(p, '/');
        snprintf(derived, sizeof derived, "%s", base && base[1] ? base + 1 : p);
        size_t len = strlen(derived);
        if (len > 5 && !strcasecmp(derived + len - 5, ".gguf")) derived[len - 5] = 0;
    }
    snprintf(out->id, sizeof out->id, "%s", name ? name : derived);
    const char *size = model_size(derived);
    if (!size) size = model_size(name);
    if (size) {
        char a[32];
        static const char *const forms[] = {"gpt-oss-%s", "gpt-oss:%s", "openai/gpt-oss-%s"};
        for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
            snprintf(a, sizeof a, forms[i], size);
            add_alias(out, a);
        }
    }
    if (repo[0]) add_alias(out, repo); /* a file in the cache: its repo's id */
    return 0;
}

static int is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24 == 127;
    if (sa->sa_family != AF_INET6) return 0;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}


/* ---- a rank of a sharded model lost (mpirun; docs/MPI.md) ---------------------------------- */

static pthread_t g_main_thread;

/* dist's hook, on the thread that waited for the dead rank, or on dist's watch thread when that
 * thread is stuck inside MPI for good. On the scheduler's thread (inside an engine call that will
 * never finish), or for it, the jobs end here with a 503, the main thread is woken to answer them
 * and exit, and this thread stays parked. Otherwise it returns, and the process exits with dist's
 * message. */
static void on_rank_lost(void *ctx, const char *why) {
    server *srv = ctx;
    if (!server_sched_fail(srv->sched, why) && !server_sched_fail_stuck(srv->sched, why)) return;
    pthread_kill(g_main_thread, SIGTERM);
    for (;;) pause();
}

/* The main thread's end after a rank died: the jobs answer 503 (and so do requests arriving
 * meanwhile), their connections finish, and the process exits 1 without touching the engine, whose
 * collectives would wait for the dead rank. mpirun SIGKILLs the survivors odls_base_sigkill_timeout
 * seconds (default 1) after its SIGTERM: docs/MPI.md says to raise it. */
static _Noreturn void rank_lost_exit(server *srv, struct MHD_Daemon *d, const char *why) {
    fprintf(stderr, "gptoss serve: %s; answering 503 and exiting with status 1\n", why);
    fflush(stderr);
    server_sched_fail(srv->sched, why);
    server_sched_wait_ended(srv->sched, 3.0);
    /* The 503s reach the clients through the front's relay, which quiesce stops: give them up to a
     * second to read their answers and hang up (it cut an answer short about one run in fifteen). */
    const struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 100; i++) {
        server_conn_stats st;
        server_conns_stats(&srv->conns, &st);
        if (!st.open) break;
        nanosleep(&tick, NULL);
    }
    server_conns_quiesce(&srv->conns);
    if (d) MHD_stop_daemon(d); /* waits for each connection's thread: the 503s are written */
    server_conns_stop(&srv->conns);
    fflush(NULL);
    _exit(1);
}

int server_main(int argc, char **argv, server_engine_open open) {
    server srv;
    memset(&srv, 0, sizeof srv);
    server_options *o = &srv.opts;
    o->host = "127.0.0.1";
    o->port = 8080;
    o->parallel = 4;
    o->ctx_size = 4096;
    o->queue_size = 64;
    o->max_body = 4u << 20;
    o->max_connections = 512;
    o->max_per_address = 64;
    o->header_timeout_s = 15;
    o->body_timeout_s = 60;
    o->max_stored = 1024;
    o->max_stored_bytes = (size_t)256 << 20;
    o->max_items = SERVER_DEFAULT_MAX_ITEMS;
    o->prefill_chunk = 256;
    o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    const char *env_key = getenv("GPTOSS_API_KEY");
    if (env_key && *env_key) o->api_keys[o->n_api_keys++] = env_key;
    int pr = parse_options(o, argc, argv);
    if (pr <= 0) return pr == 0 ? 0 : 2;
    if (server_model_names_derive(o->model_path, o->model_id, &srv.names) != 0) {
        cli_error("serve: --model-name is longer than %zu bytes", sizeof srv.names.id - 1);
        return 2;
    }
    o->model_id = srv.names.id;
    const char *debug = getenv("GPTOSS_SERVE_DEBUG");
    srv.debug = debug && *debug;
    if (!o->threads) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = cpus > 0 ? (uint32_t)cpus : 1;
    }
#if defined(__linux__) && defined(M_ARENA_MAX)
    /* Threads of many connections: few glibc malloc arenas keep the memory from creeping up. */
    mallopt(M_ARENA_MAX, 2);
#endif
    g_started = time(NULL);
    struct tm tm;
    time_t now = time(NULL);
    if (localtime_r(&now, &tm)) strftime(srv.date, sizeof srv.date, "%Y-%m-%d", &tm);
    pthread_mutex_init(&srv.mu, NULL);

    /* A rank of a sharded model that dies: its loss ends the jobs with a 503 (rank_lost_exit). */
    g_main_thread = pthread_self();
    if (gptoss_dist_size() > 1) gptoss_dist_on_lost(on_rank_lost, &srv);
    /* Signals are taken by sigwait below; every thread started from here on blocks them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    char err[512] = "";
    server_engine engine = {0};
    int engine_open = 0;
    struct MHD_Daemon *d = NULL;
    if (!(srv.tok = cli_open_tokenizer(o->tokenizer_path, o->model_path))) goto done;
    srv.max_token_bytes = server_max_token_bytes(srv.tok);
    /* Structured outputs: the token trie once, shared by every request's grammars. */
    static const char object_schema[] = "{\"type\":\"object\"}";
    if (gptoss_grammar_vocab_create(srv.tok, &srv.gvocab, err, sizeof err) != GPTOSS_OK ||
        gptoss_grammar_compile_json_schema(srv.gvocab, object_schema, sizeof object_schema - 1, NULL, &srv.json_object,
                                           err, sizeof err) != GPTOSS_OK) {
        cli_error("serve: %s", err[0] ? err : "cannot build the grammar vocabulary");
        goto done;
    }
    if (open(o, srv.tok, &engine, err, sizeof err) != 0) {
        cli_error("serve: %s", err[0] ? err : "cannot open the model");
        goto done;
    }
    engine_open = 1;
    if (server_browser_start(&srv) != 0 || server_python_start(&srv) != 0) goto done;
    o->ctx_size = engine.n_ctx;
    if (!(srv.store = server_store_new(o->max_stored, o->max_stored_bytes)) ||
        server_sched_start(&srv.sched, &engine, o->queue_size ? o->queue_size : 1, o->prefill_chunk, err, sizeof err) != 0) {
        cli_error("serve: %s", err[0] ? err : "out of memory");
        goto done;
    }

    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%u", o->port);
    int gai = getaddrinfo(o->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        cli_error("serve: cannot resolve host '%s': %s", o->host, gai_strerror(gai));
        goto done;
    }
    /* A socket per connection, and a few for the rest: the soft limit is raised toward the hard one
     * when 1024 (the usual soft limit) would not do. */
    struct rlimit rl;
    rlim_t want = (rlim_t)o->max_connections + 256;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Where the hard limit is lower, fewer connections: running out of descriptors would leave the
     * front unable to accept even the health check that eviction keeps room for. */
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        uint32_t fit = rl.rlim_cur > 320 ? (uint32_t)(rl.rlim_cur - 256) : 64;
        if (fit < o->max_connections) {
            log_line("warning: %llu file descriptors allowed (ulimit -n): --max-connections lowered from %u to %u",
                     (unsigned long long)rl.rlim_cur, o->max_connections, fit);
            o->max_connections = fit;
        }
    }
    server_conn_limits lim = {.header_timeout_s = o->header_timeout_s,
                              .body_timeout_s = o->body_timeout_s,
                              .max_connections = o->max_connections,
                              .per_address = o->max_per_address,
                              .reserve = o->max_connections / 8 ? o->max_connections / 8 : 1};
    server_head_limits head_lim = {.max_target_bytes = MAX_URI_BYTES,
                                   .max_head_bytes = MAX_URI_BYTES + MAX_HEADER_BYTES + 1024,
                                   .max_body = o->max_body};
    unsigned bound = 0;
    int loopback = is_loopback(ai->ai_addr);
    if (server_conns_start(&srv.conns, &lim, &head_lim, ai->ai_addr, ai->ai_addrlen, &bound, err, sizeof err) != 0) {
        cli_error("serve: cannot listen on %s:%u: %s", o->host, o->port, err);
        freeaddrinfo(ai);
        goto done;
    }
    freeaddrinfo(ai);
    /* libmicrohttpd gets connections from the front only (their heads checked); its own limit sits
     * above the front's, which it must never be the one to enforce: a connection it refuses there is
     * closed without a word. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    errno = 0;
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)o->max_connections * 2 + 64, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)MHD_POOL_BYTES, MHD_OPTION_URI_LOG_CALLBACK, on_uri, &srv, MHD_OPTION_CONNECTION_TIMEOUT,
                         WRITE_STALL_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &srv, MHD_OPTION_NOTIFY_CONNECTION,
                         on_connection, &srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &srv, MHD_OPTION_END);
    int start_errno = errno;
    srv.daemon = d;
    if (!d || server_conns_run(&srv.conns, handoff, front_answered, &srv) != 0) {
        cli_error("serve: cannot start: %s",
                  start_errno ? strerror(start_errno) : srv.mhd_message[0] ? srv.mhd_message : "libmicrohttpd failed");
        goto done;
    }
    pthread_mutex_lock(&srv.mu);
    srv.listening = 1;
    pthread_mutex_unlock(&srv.mu);
    if (!o->n_api_keys && !loopback)
        log_line("warning: %s is not a loopback address and no API key is set: anyone who can reach it can use "
                 "the model (--api-key KEY or $GPTOSS_API_KEY)",
                 o->host);
    printf("gptoss serve: listening on http://%s%s%s:%u (model '%s', %u parallel, context %u, queue %u)\n",
           strchr(o->host, ':') ? "[" : "", o->host, strchr(o->host, ':') ? "]" : "", bound, o->model_id,
           engine.n_slots, engine.n_ctx, o->queue_size);
    fflush(stdout);
    int sig = 0;
    sigwait(&sigs, &sig);
    char why[512] = "";
    if (gptoss_dist_rank_gone(why, sizeof why) >= 0 || server_sched_lost(srv.sched, why, sizeof why)) {
        rank_lost_exit(&srv, d, why); /* mpirun's SIGTERM after a rank died, or the scheduler's wake-up */
    }
    fprintf(stderr, "gptoss serve: signal %d, shutting down\n", sig);
    rc = 0;
done:
    server_conns_quiesce(&srv.conns); /* no new connection */
    if (srv.sched) server_sched_stop(srv.sched); /* every job ends, so connections finish */
    if (d) MHD_stop_daemon(d);
    server_conns_stop(&srv.conns);
    server_sched_free(srv.sched);
    if (engine_open && engine.close) engine.close(engine.ctx);
    server_store_free(srv.store);
    server_browser_stop(&srv);
    server_python_stop(&srv); /* after the scheduler: no call runs */
    gptoss_grammar_free(srv.json_object);
    gptoss_grammar_vocab_free(srv.gvocab);
    gptoss_tokenizer_free(srv.tok);
    pthread_mutex_destroy(&srv.mu);
    return rc;
}

#else
typedef int server_unused;
#endif
