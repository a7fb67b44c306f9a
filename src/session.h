/* session.h: the session's state: KV cache (ring buffers on sliding-window layers) and every scratch
 * buffer of the forward pass, all allocated once at creation. Internal to the library. */
#ifndef GPTOSS_SESSION_H
#define GPTOSS_SESSION_H

#include "model.h"

typedef struct gptoss_kv {
    float *k, *v;    /* [cap][n_kv_heads * head_dim], keys after RoPE */
    uint32_t cap;    /* slots; position p lives in slot p % cap */
} gptoss_kv;

struct gptoss_session {
    const gptoss_model *model;
    uint32_t n_ctx, n_batch, n_tokens;
    gptoss_kv *kv;            /* [n_layers] */
    /* activations for one chunk of up to n_batch tokens */
    float *x, *h, *q, *k, *v, *attn, *router, *topw;
    uint32_t *topi;
    /* MoE: (token, slot) pairs grouped by expert */
    uint32_t *expert_count, *expert_start, *entry_token, *entry_of;
    float *xin, *u, *act, *eo;
    /* per-call scratch */
    float *row_scratch, *bias_scratch, *scores;
    uint32_t *slots;
    float *logits;            /* [vocab] after the last token */
    int has_logits;
    struct gptoss_cuda_session *cuda; /* [cuda backend hook] non-NULL: the session runs on the GPU */
};

/* Runs n (<= n_batch) tokens at positions n_tokens.. and advances n_tokens. If logits_out is not
 * NULL it receives n rows of vocab logits; the last row always lands in s->logits. */
void gptoss_forward_chunk(gptoss_session *s, const uint32_t *ids, uint32_t n, float *logits_out);

#endif
