/* cmd_chat.c: `gptoss chat` and the token source behind chat and run: the model, one session whose
 * KV cache follows the conversation (rewound to the first token that differs), and a sampler. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/common.h"
#include "chat/chat.h"
#include "cli/cli.h"
#include "cmd/commands.h"

typedef struct model_source {
    gptoss_model *model;
    gptoss_session *session;
    gptoss_sampler *sampler;
    uint32_t vocab;
    uint32_t *cached; /* the ids the session holds */
    size_t n_cached, cap;
} model_source;

static void model_source_close(void *ctx) {
    model_source *m = ctx;
    if (!m) return;
    gptoss_sampler_free(m->sampler);
    gptoss_session_free(m->session);
    gptoss_model_free(m->model);
    free(m->cached);
    free(m);
}

static int model_source_next(void *ctx, const uint32_t *ids, size_t n, const gptoss_constraint_next *allowed,
                             uint32_t *out, char *err, size_t err_size) {
    model_source *m = ctx;
    if (allowed && allowed->kind == GPTOSS_NEXT_FORCED) {
        /* no logits needed: the next call processes this token with the ones after it */
        *out = allowed->id;
        return 0;
    }
    if (!n) {
        gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "empty prompt");
        return -1;
    }
    size_t keep = 0;
    while (keep < m->n_cached && keep < n && m->cached[keep] == ids[keep]) keep++;
    /* When the prompt changed before its end (old reasoning dropped, a tool call re-rendered), the
     * session rewinds to the shared prefix, keeping at least the last token to recompute so its
     * logits exist; if the sliding-window cache cannot rewind that far, it starts over. */
    if (keep < m->n_cached) {
        if (keep == n) keep--;
        if (gptoss_session_truncate(m->session, (uint32_t)keep, NULL, 0) != GPTOSS_OK) {
            gptoss_session_reset(m->session);
            keep = 0;
        }
        m->n_cached = keep;
    }
    if (keep == n && m->n_cached == n && keep) {
        /* Same context as the last call: its logits are still there. */
    } else {
        if (n > m->cap) {
            size_t cap = n * 2;
            uint32_t *c = realloc(m->cached, cap * sizeof *c);
            if (!c) {
                gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
                return -1;
            }
            m->cached = c;
            m->cap = cap;
        }
        if (gptoss_session_append(m->session, ids + keep, n - keep, NULL, err, err_size) != GPTOSS_OK) {
            gptoss_session_reset(m->session);
            m->n_cached = 0;
            return -1;
        }
        memcpy(m->cached + keep, ids + keep, (n - keep) * sizeof *ids);
        m->n_cached = n;
    }
    const float *logits = gptoss_session_logits(m->session);
    const int masked = allowed && allowed->kind == GPTOSS_NEXT_MASKED;
    gptoss_status st = !logits ? GPTOSS_ERR_INTERNAL
                       : masked ? gptoss_sampler_sample_masked(m->sampler, logits, m->vocab, allowed->bits, out)
                                : gptoss_sampler_sample(m->sampler, logits, m->vocab, out);
    if (st != GPTOSS_OK) {
        gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "sampling failed%s",
                    st == GPTOSS_ERR_INVALID_ARGUMENT ? " (no token the constraint allows is in the model's vocabulary)"
                                                      : "");
        return -1;
    }
    return 0;
}

int chat_model_source_open(const char *path, const chat_settings *s, const gptoss_tokenizer *tok, chat_source *out,
                           char *err, size_t err_size) {
    model_source *m = calloc(1, sizeof *m);
    if (!m) {
        gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        return -1;
    }
    gptoss_model_options mo = {.device = s->device};
    gptoss_status lst = gptoss_model_load(path, &mo, &m->model, err, err_size);
    cli_follow_rank0(lst, m->model);
    if (lst != GPTOSS_OK || cli_check_vocab(m->model, tok, err, err_size) != 0)
        goto fail;
    m->vocab = gptoss_model_get_config(m->model)->vocab_size;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    gptoss_session_options so = {.n_ctx = s->n_ctx, .n_threads = s->n_threads ? s->n_threads : (uint32_t)(cpus > 0 ? cpus : 1),
                                 .kv_type = s->kv_type, .device = s->device};
    if (gptoss_session_create(m->model, &so, &m->session, err, err_size) != GPTOSS_OK) goto fail;
    /* Sampling stops are the chat loop's business (it also stops on a closed tool call). */
    gptoss_sampler_options sa = {.temperature = s->temperature, .top_k = s->top_k, .top_p = s->top_p,
                                 .min_p = s->min_p, .seed = s->seed};
    if (gptoss_sampler_create(m->vocab, &sa, &m->sampler, err, err_size) != GPTOSS_OK) goto fail;
    out->ctx = m;
    out->next = model_source_next;
    out->close = model_source_close;
    out->n_ctx = gptoss_session_n_ctx(m->session);
    return 0;
fail:
    model_source_close(m);
    return -1;
}

int cmd_chat(int argc, char **argv) { return chat_main(argc, argv, 0, chat_model_source_open); }
