/* server_python.c: the python tool run server-side by `gptoss serve --python`: the pool of sandboxes
 * (OpenAI's "containers": one interpreter and its /mnt/data each), a sandbox held by the requests of
 * its conversation and ended by a reaper thread once idle past --python-idle-timeout, their number
 * bounded by --python-max-sandboxes; a call run on a tool thread and its reply rendered as the harmony
 * message the model reads next; the Responses API's code_interpreter tool entries; the /metrics
 * lines. The protocols (server_responses.c, server_chat.c) decide which sandbox a conversation uses;
 * the scheduler runs each call on a thread of its own (server_sched.c), so a long cell never holds
 * other requests back. */
#ifdef GPTOSS_HAVE_SERVER
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "server/server.h"
#include "tools/python.h"

/* --python-idle-timeout when not given: long enough for a person to read an answer and ask the next
 * question, short enough that abandoned conversations do not hold interpreters for long. */
#define DEFAULT_IDLE_TIMEOUT_S (20 * 60.0)
/* --python-max-sandboxes when not given: each is a process with up to 4 GiB of address space. */
#define DEFAULT_MAX_SANDBOXES 16

struct server_python_box {
    char id[48];
    pthread_mutex_t call_mu; /* one call at a time (gptoss_python_call is not reentrant per tool) */
    gptoss_python *py;       /* started at the first call (under call_mu) */
    char data_dir[4096];     /* with --python-data: DIR/ID, kept; else "" (the tool's private folder) */
    /* under the pool's lock */
    unsigned refs;
    int transient;
    double idle_since;
    struct server_python_box *next;
};

struct server_python_pool {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* the reaper waits on it: a sandbox went idle, or stop */
    pthread_t reaper;
    int reaper_started, stop;
    server_python_box *boxes; /* every sandbox alive */
    uint32_t n_boxes;
    double idle_timeout_s;
    uint32_t max_boxes;
    gptoss_python_options tool; /* the tool's options (data_dir set per sandbox) */
    double call_timeout_s;      /* the tool's per-call limit, for counting time-outs */
    uint64_t n_calls, n_timeouts, n_reaped, n_refused, n_created;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void box_free(server_python_box *b) {
    if (!b) return;
    gptoss_python_free(b->py);
    pthread_mutex_destroy(&b->call_mu);
    free(b);
}

/* Unlinks b (lock held). */
static void unlink_locked(server_python_pool *p, server_python_box *b) {
    for (server_python_box **q = &p->boxes; *q; q = &(*q)->next)
        if (*q == b) {
            *q = b->next;
            p->n_boxes--;
            return;
        }
}

/* The reaper: ends the sandboxes idle past the time-out, then sleeps until the next one would be (or
 * until a sandbox goes idle, or stop). */
static void *reaper_main(void *arg) {
    server_python_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        double now = now_s(), next = 0;
        server_python_box *dead = NULL;
        for (server_python_box **q = &p->boxes; *q;) {
            server_python_box *b = *q;
            if (!b->refs && now - b->idle_since >= p->idle_timeout_s) {
                *q = b->next;
                p->n_boxes--;
                p->n_reaped++;
                b->next = dead;
                dead = b;
                continue;
            }
            if (!b->refs && (!next || b->idle_since + p->idle_timeout_s < next)) next = b->idle_since + p->idle_timeout_s;
            q = &b->next;
        }
        if (dead) {
            /* killing an interpreter takes a moment: not under the lock every request needs */
            pthread_mutex_unlock(&p->mu);
            while (dead) {
                server_python_box *n = dead->next;
                box_free(dead);
                dead = n;
            }
            pthread_mutex_lock(&p->mu);
            continue;
        }
        if (!next) {
            pthread_cond_wait(&p->cond, &p->mu);
        } else {
            /* the monotonic deadline as the realtime clock the condition variable waits on */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double wait = next - now + 0.01;
            ts.tv_sec += (time_t)wait;
            ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cond, &p->mu, &ts);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int server_python_start(server *srv) {
    const server_options *o = &srv->opts;
    if (!o->python.enabled) return 0;
    if (!cli_python_check(&o->python)) return -1;
    server_python_pool *p = calloc(1, sizeof *p);
    if (!p) {
        cli_error("serve: out of memory");
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->idle_timeout_s = o->python_idle_timeout_s > 0 ? o->python_idle_timeout_s : DEFAULT_IDLE_TIMEOUT_S;
    p->max_boxes = o->python_max_sandboxes ? o->python_max_sandboxes : DEFAULT_MAX_SANDBOXES;
    p->tool = cli_python_tool_options(&o->python);
    p->call_timeout_s = p->tool.timeout_s > 0 ? p->tool.timeout_s : 120;
    srv->python = p;
    if (pthread_create(&p->reaper, NULL, reaper_main, p) != 0) {
        cli_error("serve: cannot start the python sandbox reaper: %s", strerror(errno));
        server_python_stop(srv);
        return -1;
    }
    p->reaper_started = 1;
    return 0;
}

void server_python_stop(server *srv) {
    server_python_pool *p = srv->python;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    if (p->reaper_started) pthread_join(p->reaper, NULL);
    /* the scheduler has stopped and every request is answered: nothing holds a sandbox that runs */
    while (p->boxes) {
        server_python_box *b = p->boxes;
        p->boxes = b->next;
        box_free(b);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
    srv->python = NULL;
}

int server_python_new_id(char out[48]) { return server_make_id(out, 48, "cntr_"); }

server_python_box *server_python_open(server *srv, const char *id, int create, int transient, char *err,
                                      size_t err_size) {
    server_python_pool *p = srv->python;
    if (!p) {
        snprintf(err, err_size, "this server runs no python (start it with --python)");
        return NULL;
    }
    server_python_box *b = NULL, *evicted = NULL;
    pthread_mutex_lock(&p->mu);
    if (id)
        for (b = p->boxes; b && strcmp(b->id, id); b = b->next) {
        }
    if (b) {
        b->refs++;
        pthread_mutex_unlock(&p->mu);
        return b;
    }
    if (!create) {
        pthread_mutex_unlock(&p->mu);
        snprintf(err, err_size, "no container '%s' (it was never made here, or it ended after being idle)", id ? id : "");
        return NULL;
    }
    if (p->n_boxes >= p->max_boxes) {
        /* room for the new conversation: the sandbox idle longest goes first */
        server_python_box *oldest = NULL;
        for (server_python_box *q = p->boxes; q; q = q->next)
            if (!q->refs && (!oldest || q->idle_since < oldest->idle_since)) oldest = q;
        if (!oldest) {
            p->n_refused++;
            pthread_mutex_unlock(&p->mu);
            snprintf(err, err_size,
                     "every python sandbox of this server is in use (%u, --python-max-sandboxes); try again later",
                     p->max_boxes);
            return NULL;
        }
        unlink_locked(p, oldest);
        p->n_reaped++;
        evicted = oldest;
    }
    if (!(b = calloc(1, sizeof *b))) {
        pthread_mutex_unlock(&p->mu);
        box_free(evicted);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (id) snprintf(b->id, sizeof b->id, "%s", id);
    else if (server_python_new_id(b->id) < 0) {
        pthread_mutex_unlock(&p->mu);
        box_free(evicted);
        free(b);
        snprintf(err, err_size, "could not make a container id: %s", strerror(errno));
        return NULL;
    }
    pthread_mutex_init(&b->call_mu, NULL);
    b->refs = 1;
    b->transient = transient;
    b->next = p->boxes;
    p->boxes = b;
    p->n_boxes++;
    p->n_created++;
    pthread_mutex_unlock(&p->mu);
    box_free(evicted);
    return b;
}

void server_python_release(server *srv, server_python_box *b) {
    if (!b || !srv || !srv->python) return;
    server_python_pool *p = srv->python;
    pthread_mutex_lock(&p->mu);
    int end = --b->refs == 0 && b->transient;
    if (end) unlink_locked(p, b);
    else if (!b->refs) {
        b->idle_since = now_s();
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->mu);
    if (end) box_free(b);
}

const char *server_python_box_id(const server_python_box *b) { return b ? b->id : ""; }

int server_python_declared(char *const *names, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (names[i] && !strcmp(names[i], "python")) return 1;
    return 0;
}

static int is_code_interpreter(const cJSON *t) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
    return cJSON_IsString(type) && !strcmp(type->valuestring, "code_interpreter");
}

cJSON *server_python_strip_tools(const cJSON *tools, int *wants, const char **container, int *oom, int *bad,
                                 server_reply *r) {
    *wants = *oom = *bad = 0;
    *container = NULL;
    if (!cJSON_IsArray(tools)) return NULL;
    int i = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++) {
        if (!is_code_interpreter(t)) continue;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(t, "container");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (cJSON_IsString(c) && c->valuestring[0]) {
            if (!*container) *container = c->valuestring;
        } else if (!(cJSON_IsObject(c) && cJSON_IsString(ct) && !strcmp(ct->valuestring, "auto")) && c &&
                   !cJSON_IsNull(c)) {
            char param[48];
            snprintf(param, sizeof param, "tools[%d].container", i);
            server_error(r, 400, "invalid_request_error", param, "invalid_value",
                         "A code_interpreter tool's container must be a container id or {\"type\": \"auto\"}.");
            *bad = 1;
            return NULL;
        }
        *wants = 1;
    }
    if (!*wants) return NULL;
    return server_json_array_without(tools, is_code_interpreter, oom);
}

/* Starts b's interpreter (call_mu held). 0, or -1 with the reason in err. */
static int box_start(server_python_pool *p, server_python_box *b, const server_options *o, char *err,
                     size_t err_size) {
    gptoss_python_options po = p->tool;
    if (o->python.data_dir) {
        /* each container its own folder under --python-data, kept for whoever runs the server */
        int n = snprintf(b->data_dir, sizeof b->data_dir, "%s/%s", o->python.data_dir, b->id);
        if (n < 0 || (size_t)n >= sizeof b->data_dir) {
            snprintf(err, err_size, "--python-data: the path is too long");
            return -1;
        }
        if (mkdir(b->data_dir, 0700) != 0 && errno != EEXIST) {
            snprintf(err, err_size, "cannot make the container's folder under --python-data: %s", strerror(errno));
            return -1;
        }
        po.data_dir = b->data_dir;
    } else po.data_dir = NULL; /* the tool's own private folder, removed with the sandbox */
    return gptoss_python_create(&po, &b->py, err, err_size) == GPTOSS_OK ? 0 : -1;
}

int server_python_call(server *srv, server_python_box **box, const char *id, int transient, uint32_t *n_calls,
                       const char *channel, const char *code, size_t len, char **reply_out, int *failed,
                       gptoss_tokens *out) {
    server_python_pool *p = srv->python;
    *reply_out = NULL;
    *failed = 0;
    char *reply = NULL;
    char err[512] = "";
    if (!*box && *n_calls < SERVER_PYTHON_MAX_CALLS) *box = server_python_open(srv, id, 1, transient, err, sizeof err);
    server_python_box *b = *box;
    if (++*n_calls > SERVER_PYTHON_MAX_CALLS) {
        /* a tool reply, not an error of the request: the model can still answer with what it has */
        char msg[160];
        snprintf(msg, sizeof msg, "Too many python calls: at most %d in one request. Answer with what you have.",
                 SERVER_PYTHON_MAX_CALLS);
        if (!(reply = strdup(msg))) return -1;
        *failed = 1;
    } else if (!b) {
        *failed = 1;
    } else {
        pthread_mutex_lock(&b->call_mu);
        int ok = b->py || box_start(p, b, &srv->opts, err, sizeof err) == 0;
        if (ok) {
            double t0 = now_s();
            gptoss_status st = gptoss_python_call(b->py, code, len, &reply);
            double took = now_s() - t0;
            pthread_mutex_lock(&p->mu);
            p->n_calls++;
            /* the tool says so in its reply; a call that lasted its whole limit is one that timed out */
            if (took >= p->call_timeout_s) p->n_timeouts++;
            pthread_mutex_unlock(&p->mu);
            if (st != GPTOSS_OK) {
                pthread_mutex_unlock(&b->call_mu);
                return -1;
            }
        } else *failed = 1;
        pthread_mutex_unlock(&b->call_mu);
    }
    if (!reply) {
        /* the model reads why its code did not run, and can answer without it */
        gptoss_buf m = {0};
        gptoss_buf_printf(&m, "Error: the python sandbox is not available: %s", err[0] ? err : "none was given");
        if (!gptoss_buf_cstr(&m)) {
            gptoss_buf_free(&m);
            return -1;
        }
        reply = m.data;
    }
    gptoss_harmony_content part = {.kind = GPTOSS_HARMONY_CONTENT_TEXT, .text = reply, .text_len = strlen(reply)};
    gptoss_harmony_message m = {.role = GPTOSS_HARMONY_ROLE_TOOL,
                                .name = "python",
                                .recipient = "assistant",
                                .channel = channel && *channel ? channel : "analysis",
                                .content = &part,
                                .n_content = 1};
    char rerr[256];
    static const char next[] = "<|start|>assistant";
    if (gptoss_harmony_render_message(srv->tok, &m, 0, out, rerr, sizeof rerr) != GPTOSS_OK ||
        gptoss_tokenizer_encode(srv->tok, next, sizeof next - 1, GPTOSS_TOKENIZER_SPECIAL_ALLOW, out) != GPTOSS_OK) {
        free(reply);
        return -1;
    }
    *reply_out = reply;
    return 0;
}

void server_python_metrics(server *srv, gptoss_buf *b) {
    server_python_pool *p = srv->python;
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    gptoss_buf_printf(b,
                      "# HELP gptoss_python_sandboxes Python sandboxes (containers) alive.\n"
                      "# TYPE gptoss_python_sandboxes gauge\ngptoss_python_sandboxes %u\n"
                      "# HELP gptoss_python_sandboxes_max Most sandboxes alive at once (--python-max-sandboxes).\n"
                      "# TYPE gptoss_python_sandboxes_max gauge\ngptoss_python_sandboxes_max %u\n"
                      "# HELP gptoss_python_sandboxes_created_total Sandboxes made.\n"
                      "# TYPE gptoss_python_sandboxes_created_total counter\ngptoss_python_sandboxes_created_total %llu\n"
                      "# HELP gptoss_python_sandboxes_reaped_total Sandboxes ended while idle (time-out or room).\n"
                      "# TYPE gptoss_python_sandboxes_reaped_total counter\ngptoss_python_sandboxes_reaped_total %llu\n"
                      "# HELP gptoss_python_sandboxes_refused_total Sandboxes not made: every one was in use.\n"
                      "# TYPE gptoss_python_sandboxes_refused_total counter\ngptoss_python_sandboxes_refused_total %llu\n"
                      "# HELP gptoss_python_calls_total Python cells run.\n"
                      "# TYPE gptoss_python_calls_total counter\ngptoss_python_calls_total %llu\n"
                      "# HELP gptoss_python_timeouts_total Cells stopped at the time-out (--python-timeout).\n"
                      "# TYPE gptoss_python_timeouts_total counter\ngptoss_python_timeouts_total %llu\n",
                      p->n_boxes, p->max_boxes, (unsigned long long)p->n_created, (unsigned long long)p->n_reaped,
                      (unsigned long long)p->n_refused, (unsigned long long)p->n_calls,
                      (unsigned long long)p->n_timeouts);
    pthread_mutex_unlock(&p->mu);
}

#else
typedef int server_python_unused;
#endif
