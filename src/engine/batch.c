/* batch.c: continuous batching: one forward step that decodes one token for each of many sessions,
 * so a server serving N clients reads the weights once per step instead of N times. */
#include <stdlib.h>

#include "engine/session.h"

struct gptoss_batch {
    const gptoss_model *model;
    gptoss_workspace ws;
    uint64_t dist_id; /* a sharded model's batch: the id the other ranks know it by */
};

gptoss_status gptoss_batch_create(const gptoss_model *model, uint32_t max_sequences, uint32_t max_ctx,
                                  gptoss_batch **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!model || !out || max_sequences == 0)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "a batch needs a model and max_sequences > 0");
    if (model->no_host_weights)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "batched decoding runs on the CPU only");
    const uint32_t limit = model->config.max_context;
    if (max_ctx == 0) max_ctx = limit;
    if (max_ctx > limit || max_sequences > 4096)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "batch of %u sequences up to %u tokens is out of range (at most 4096 and %u)", max_sequences,
                           max_ctx, limit);
    gptoss_batch *b = calloc(1, sizeof *b);
    if (!b) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    b->model = model;
    if (gptoss_workspace_init(&b->ws, model, max_sequences, max_ctx, max_sequences, 0) != GPTOSS_OK) {
        free(b);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory allocating a batch of %u", max_sequences);
    }
    if (gptoss_dist_leads(model) && !(b->dist_id = gptoss_dist_lead_batch_create(model, max_sequences, max_ctx, err, err_size))) {
        gptoss_workspace_free(&b->ws);
        free(b);
        return GPTOSS_ERR_NO_MEMORY;
    }
    *out = b;
    return GPTOSS_OK;
}

void gptoss_batch_free(gptoss_batch *b) {
    if (!b) return;
    if (b->dist_id && gptoss_dist_leads(b->model)) gptoss_dist_lead_batch_free(b->model, b->dist_id);
    gptoss_workspace_free(&b->ws);
    free(b);
}

gptoss_status gptoss_batch_decode(gptoss_batch *b, gptoss_session *const *sessions, const uint32_t *ids, size_t n,
                                  char *err, size_t err_size) {
    if (!b || (n && (!sessions || !ids)))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no batch, sessions or ids");
    if (n > b->ws.n_max)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "%zu sessions exceed the batch's %u", n,
                           b->ws.n_max);
    const uint32_t V = b->model->config.vocab_size;
    for (size_t i = 0; i < n; i++) {
        const gptoss_session *s = sessions[i];
        if (!s || s->model != b->model || s->cuda)
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                               "session %zu is missing, of another model, or not a CPU session", i);
        for (size_t j = 0; j < i; j++)
            if (sessions[j] == s)
                return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "session %zu appears twice", i);
        if (s->n_tokens >= s->n_ctx)
            return gptoss_fail(GPTOSS_ERR_CONTEXT_OVERFLOW, err, err_size,
                               "context overflow: session %zu holds its full %u tokens", i, s->n_ctx);
        if (s->n_ctx > b->ws.n_ctx)
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                               "session %zu has a %u-token context, more than the batch's %u", i, s->n_ctx, b->ws.n_ctx);
        if (ids[i] >= V)
            return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size,
                               "token id %u (for session %zu) is outside the vocabulary of %u", ids[i], i, V);
    }
    if (n == 0) return GPTOSS_OK;
    if (b->dist_id && gptoss_dist_leads(b->model)) gptoss_dist_lead_batch_decode(b->model, b->dist_id, sessions, ids, n);
    for (size_t i = 0; i < n; i++) {
        b->ws.seq[i] = sessions[i];
        b->ws.pos[i] = sessions[i]->n_tokens;
    }
    gptoss_forward(b->model, &b->ws, ids, (uint32_t)n, NULL);
    for (size_t i = 0; i < n; i++)
        if (sessions[i]->n_tokens > sessions[i]->n_written) sessions[i]->n_written = sessions[i]->n_tokens;
    return GPTOSS_OK;
}
