/* forward.c: the gpt-oss forward pass over a chunk of tokens (spec §2): embedding, per layer
 * RMSNorm -> QKV -> YaRN RoPE -> attention with sinks (sliding window on some layers) -> output
 * projection, RMSNorm -> router top-k -> MXFP4 experts with clamped SwiGLU, then the final norm and
 * unembedding. The tokens of one step share each weight read (dense layers run as matrix x matrix,
 * the MoE groups tokens by expert) whether they are a prefill chunk of one session or one decode
 * token from each of many sessions (continuous batching): only attention looks at a token's own
 * session. */
#include <math.h>

#include "cpu/kernels.h"
#include "session.h"

static uint32_t kv_slot(const gptoss_kv *kv, uint32_t pos) { return pos % kv->cap; }

static void attention_layer(const gptoss_model *m, gptoss_workspace *w, uint32_t l, uint32_t n) {
    const gptoss_model_config *c = &m->config;
    const gptoss_layer *L = &m->layers[l];
    const uint32_t dh = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads, G = H / Hkv;
    const size_t QW = (size_t)H * dh, KW = (size_t)Hkv * dh;
    const float scale = 1.0f / sqrtf((float)dh);

    /* Every key and value of the step is stored before any query attends, so a prefill chunk
     * sees its own earlier tokens. */
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = w->pos[t];
        gptoss_kv *kv = &w->seq[t]->kv[l];
        gptoss_rope_f32(w->q + t * QW, H, dh, pos, m->rope_inv_freq, m->rope_concentration);
        gptoss_rope_f32(w->k + t * KW, Hkv, dh, pos, m->rope_inv_freq, m->rope_concentration);
        uint32_t slot = kv_slot(kv, pos);
        memcpy(kv->k + slot * KW, w->k + t * KW, KW * sizeof(float));
        memcpy(kv->v + slot * KW, w->v + t * KW, KW * sizeof(float));
    }
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = w->pos[t];
        const gptoss_kv *kv = &w->seq[t]->kv[l];
        uint32_t lo = 0;
        if (L->sliding && pos + 1 > c->sliding_window) lo = pos + 1 - c->sliding_window;
        uint32_t n_keys = pos + 1 - lo;
        for (uint32_t j = 0; j < n_keys; j++) w->slots[j] = kv_slot(kv, lo + j);
        for (uint32_t h = 0; h < H; h++) {
            uint32_t g = h / G;
            gptoss_attention_head_f32(w->attn + t * QW + (size_t)h * dh, w->q + t * QW + (size_t)h * dh,
                                      kv->k + (size_t)g * dh, kv->v + (size_t)g * dh, KW, w->slots, n_keys, dh, scale,
                                      L->sinks[h], w->scores);
        }
    }
}

static void moe_layer(const gptoss_model *m, gptoss_workspace *w, const gptoss_layer *L, uint32_t n) {
    const gptoss_model_config *c = &m->config;
    const uint32_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, K = c->n_experts_per_token;

    gptoss_matmul_dense_f32(w->router, E, &L->router, L->router_bias, w->h, D, n, 0, E, w->row_scratch);
    for (uint32_t t = 0; t < n; t++)
        gptoss_topk_softmax_f32(w->router + (size_t)t * E, E, K, w->topi + (size_t)t * K, w->topw + (size_t)t * K);

    /* Counting sort of the chunk's (token, k) pairs by expert. */
    memset(w->expert_count, 0, E * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * K; i++) w->expert_count[w->topi[i]]++;
    uint32_t acc = 0;
    for (uint32_t e = 0; e < E; e++) {
        w->expert_start[e] = acc;
        acc += w->expert_count[e];
    }
    memset(w->expert_count, 0, E * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * K; i++) {
        uint32_t e = w->topi[i], entry = w->expert_start[e] + w->expert_count[e]++;
        w->entry_token[entry] = i / K;
        w->entry_of[i] = entry;
    }
    for (uint32_t e = 0; e < E; e++) {
        uint32_t cnt = w->expert_count[e], first = w->expert_start[e];
        if (!cnt) continue;
        for (uint32_t j = 0; j < cnt; j++)
            memcpy(w->xin + (size_t)j * D, w->h + (size_t)w->entry_token[first + j] * D, D * sizeof(float));
        gptoss_to_f32(w->bias_scratch, L->mlp1_bias.data, L->mlp1_bias.dtype, (uint64_t)e * 2 * I, 2 * (size_t)I);
        gptoss_matmul_mxfp4_f32(w->u, 2 * (size_t)I, &L->mlp1, e, w->bias_scratch, w->xin, D, cnt, 0, 2 * (uint64_t)I,
                                w->row_scratch);
        for (uint32_t j = 0; j < cnt; j++)
            gptoss_swiglu_f32(w->act + (size_t)j * I, w->u + (size_t)j * 2 * I, I, c->swiglu_limit);
        gptoss_to_f32(w->bias_scratch, L->mlp2_bias.data, L->mlp2_bias.dtype, (uint64_t)e * D, D);
        gptoss_matmul_mxfp4_f32(w->eo + (size_t)first * D, D, &L->mlp2, e, w->bias_scratch, w->act, I, cnt, 0, D,
                                w->row_scratch);
    }
    /* Weighted sum in the router's order, then one residual add, as the reference does. */
    for (uint32_t t = 0; t < n; t++) {
        float *y = w->xin; /* reuse: D floats */
        for (uint32_t d = 0; d < D; d++) y[d] = 0.0f;
        for (uint32_t k = 0; k < K; k++) {
            const float wt = w->topw[(size_t)t * K + k];
            const float *o = w->eo + (size_t)w->entry_of[(size_t)t * K + k] * D;
            for (uint32_t d = 0; d < D; d++) y[d] += wt * o[d];
        }
        float *x = w->x + (size_t)t * D;
        for (uint32_t d = 0; d < D; d++) x[d] += y[d];
    }
}

/* The last token of each session in the step: its logits are the session's next-token logits. */
static int ends_session(const gptoss_workspace *w, uint32_t t, uint32_t n) {
    return t + 1 == n || w->seq[t + 1] != w->seq[t];
}

void gptoss_forward(const gptoss_model *m, gptoss_workspace *w, const uint32_t *ids, uint32_t n, float *all_logits) {
    const gptoss_model_config *c = &m->config;
    const uint32_t D = c->hidden_size, V = c->vocab_size;
    const size_t QW = (size_t)c->n_heads * c->head_dim, KW = (size_t)c->n_kv_heads * c->head_dim;

    for (uint32_t t = 0; t < n; t++)
        gptoss_to_f32(w->x + (size_t)t * D, m->embedding.data, m->embedding.dtype, (uint64_t)ids[t] * D, D);

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        for (uint32_t t = 0; t < n; t++)
            gptoss_rmsnorm_f32(w->h + (size_t)t * D, w->x + (size_t)t * D, L->attn_norm, D, c->rms_norm_eps);
        gptoss_matmul_dense_f32(w->q, QW, &L->wq, L->q_bias, w->h, D, n, 0, QW, w->row_scratch);
        gptoss_matmul_dense_f32(w->k, KW, &L->wk, L->k_bias, w->h, D, n, 0, KW, w->row_scratch);
        gptoss_matmul_dense_f32(w->v, KW, &L->wv, L->v_bias, w->h, D, n, 0, KW, w->row_scratch);
        attention_layer(m, w, l, n);
        gptoss_matmul_dense_f32(w->h, D, &L->wo, L->o_bias, w->attn, QW, n, 0, D, w->row_scratch);
        for (size_t i = 0; i < (size_t)n * D; i++) w->x[i] += w->h[i];
        for (uint32_t t = 0; t < n; t++)
            gptoss_rmsnorm_f32(w->h + (size_t)t * D, w->x + (size_t)t * D, L->mlp_norm, D, c->rms_norm_eps);
        moe_layer(m, w, L, n);
    }

    /* Unembedding for every row when asked, else only for the rows that end a session. */
    uint32_t rows = 0;
    for (uint32_t t = 0; t < n; t++)
        if (all_logits || ends_session(w, t, n))
            gptoss_rmsnorm_f32(w->h + (size_t)rows++ * D, w->x + (size_t)t * D, m->final_norm, D, c->rms_norm_eps);
    float *dst = all_logits ? all_logits : w->logits;
    gptoss_matmul_dense_f32(dst, V, &m->unembedding, NULL, w->h, D, rows, 0, V, w->row_scratch);
    for (uint32_t t = 0, row = 0; t < n; t++) {
        int last = ends_session(w, t, n);
        if (last) {
            gptoss_session *s = w->seq[t];
            memcpy(s->logits, dst + (size_t)row * V, (size_t)V * sizeof(float));
            s->has_logits = 1;
            s->n_tokens = w->pos[t] + 1;
        }
        if (all_logits || last) row++;
    }
}
