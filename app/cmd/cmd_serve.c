/* cmd_serve.c: `gptoss serve` (app/server/) and its production engine: the model, one CPU session
 * per slot (its KV cache, rewound or copied for prefix reuse), gptoss_batch for the decode step
 * shared by every slot, and the request's sampler over each session's logits (restricted to the
 * output constraint's mask with gptoss_sampler_sample_masked). Without libmicrohttpd and cJSON at build time, `serve` says
 * what to install. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cmd/commands.h"

#ifdef GPTOSS_HAVE_SERVER
#include "server/server.h"

typedef struct model_engine {
    gptoss_model *model;
    gptoss_session **sessions;
    gptoss_session **step_sessions;
    uint32_t n;
    gptoss_batch *batch;
    uint32_t n_logits; /* sampled over: the model's and the tokenizer's vocabulary, the smaller */
} model_engine;

static void engine_close(void *ctx) {
    model_engine *m = ctx;
    if (!m) return;
    for (uint32_t i = 0; m->sessions && i < m->n; i++) gptoss_session_free(m->sessions[i]);
    free(m->sessions);
    free(m->step_sessions);
    gptoss_batch_free(m->batch);
    gptoss_model_free(m->model);
    free(m);
}

static void engine_reset(void *ctx, uint32_t slot) {
    model_engine *m = ctx;
    gptoss_session_reset(m->sessions[slot]);
}

static int engine_truncate(void *ctx, uint32_t slot, uint32_t n, char *err, size_t err_size) {
    model_engine *m = ctx;
    return gptoss_session_truncate(m->sessions[slot], n, err, err_size) == GPTOSS_OK ? 0 : -1;
}

static int engine_copy(void *ctx, uint32_t dst, uint32_t src, uint32_t n, char *err, size_t err_size) {
    model_engine *m = ctx;
    return gptoss_session_copy_prefix(m->sessions[dst], m->sessions[src], n, err, err_size) == GPTOSS_OK ? 0 : -1;
}

static int engine_append(void *ctx, uint32_t slot, const uint32_t *ids, size_t n, char *err, size_t err_size) {
    model_engine *m = ctx;
    return gptoss_session_append(m->sessions[slot], ids, n, NULL, err, err_size) == GPTOSS_OK ? 0 : -1;
}

static int engine_step(void *ctx, const uint32_t *slots, const uint32_t *ids, size_t n, char *err, size_t err_size) {
    model_engine *m = ctx;
    for (size_t i = 0; i < n; i++) m->step_sessions[i] = m->sessions[slots[i]];
    return gptoss_batch_decode(m->batch, m->step_sessions, ids, n, err, err_size) == GPTOSS_OK ? 0 : -1;
}

static int engine_sample(void *ctx, uint32_t slot, gptoss_sampler *sampler, const uint32_t *bits, uint32_t *out,
                         char *err, size_t err_size) {
    model_engine *m = ctx;
    const float *logits = gptoss_session_logits(m->sessions[slot]);
    gptoss_status st = !logits ? GPTOSS_ERR_INTERNAL
                       : bits  ? gptoss_sampler_sample_masked(sampler, logits, m->n_logits, bits, out)
                               : gptoss_sampler_sample(sampler, logits, m->n_logits, out);
    if (st != GPTOSS_OK) {
        gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "sampling failed");
        return -1;
    }
    return 0;
}

static int engine_open(const server_options *o, const gptoss_tokenizer *tok, server_engine *out, char *err,
                       size_t err_size) {
    model_engine *m = calloc(1, sizeof *m);
    if (!m) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory"), -1;
    const gptoss_model_options mo = {.device = GPTOSS_DEVICE_CPU}; /* the server's sessions run on the CPU */
    gptoss_status lst = gptoss_model_load(o->model_path, &mo, &m->model, err, err_size);
    cli_follow_rank0(lst, m->model);
    if (lst != GPTOSS_OK || cli_check_vocab(m->model, tok, err, err_size) != 0)
        goto fail;
    const gptoss_model_config *cfg = gptoss_model_get_config(m->model);
    uint32_t n_ctx = o->ctx_size < cfg->max_context ? o->ctx_size : cfg->max_context;
    uint32_t tv = gptoss_tokenizer_n_vocab(tok);
    m->n_logits = cfg->vocab_size < tv ? cfg->vocab_size : tv;
    m->n = o->parallel;
    m->sessions = calloc(m->n, sizeof *m->sessions);
    m->step_sessions = calloc(m->n, sizeof *m->step_sessions);
    if (!m->sessions || !m->step_sessions) {
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    gptoss_session_options so = {.n_ctx = n_ctx, .n_threads = o->threads, .device = GPTOSS_DEVICE_CPU, .kv_type = o->kv_type};
    for (uint32_t i = 0; i < m->n; i++)
        if (gptoss_session_create(m->model, &so, &m->sessions[i], err, err_size) != GPTOSS_OK) goto fail;
    if (gptoss_batch_create(m->model, m->n, n_ctx, &m->batch, err, err_size) != GPTOSS_OK) goto fail;
    out->ctx = m;
    out->n_slots = m->n;
    out->n_ctx = gptoss_session_n_ctx(m->sessions[0]);
    out->reset = engine_reset;
    out->truncate = engine_truncate;
    out->copy = engine_copy;
    out->append = engine_append;
    out->step = engine_step;
    out->sample = engine_sample;
    out->close = engine_close;
    return 0;
fail:
    engine_close(m);
    return -1;
}

int cmd_serve(int argc, char **argv) { return server_main(argc, argv, engine_open); }

#else
int cmd_serve(int argc, char **argv) {
    (void)argc, (void)argv;
    cli_error("serve: this gptoss was built without the HTTP server: install libmicrohttpd-dev and libcjson-dev "
              "(bash tests/deps.sh does) and rebuild");
    return 1;
}
#endif
