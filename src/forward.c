/* forward.c: the gpt-oss forward pass over a chunk of tokens (spec §2): embedding, per layer
 * RMSNorm -> QKV -> YaRN RoPE -> attention with sinks (sliding window on some layers) -> output
 * projection, RMSNorm -> router top-k -> MXFP4 experts with clamped SwiGLU, then the final norm and
 * unembedding. Tokens of a chunk share each weight read: dense layers run as matrix x matrix and
 * the MoE groups the chunk's tokens by expert. */
#include <math.h>

#include "cpu/kernels.h"
#include "session.h"

static uint32_t kv_slot(const gptoss_kv *kv, uint32_t pos) { return pos % kv->cap; }

static void attention_layer(gptoss_session *s, const gptoss_layer *L, gptoss_kv *kv, uint32_t n) {
    const gptoss_model *m = s->model;
    const gptoss_model_config *c = &m->config;
    const uint32_t dh = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads, G = H / Hkv;
    const size_t QW = (size_t)H * dh, KW = (size_t)Hkv * dh;
    const float scale = 1.0f / sqrtf((float)dh);

    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = s->n_tokens + t;
        gptoss_rope_f32(s->q + t * QW, H, dh, pos, m->rope_inv_freq, m->rope_concentration);
        gptoss_rope_f32(s->k + t * KW, Hkv, dh, pos, m->rope_inv_freq, m->rope_concentration);
        uint32_t slot = kv_slot(kv, pos);
        memcpy(kv->k + slot * KW, s->k + t * KW, KW * sizeof(float));
        memcpy(kv->v + slot * KW, s->v + t * KW, KW * sizeof(float));
    }
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = s->n_tokens + t;
        uint32_t lo = 0;
        if (L->sliding && pos + 1 > c->sliding_window) lo = pos + 1 - c->sliding_window;
        uint32_t n_keys = pos + 1 - lo;
        for (uint32_t j = 0; j < n_keys; j++) s->slots[j] = kv_slot(kv, lo + j);
        for (uint32_t h = 0; h < H; h++) {
            uint32_t g = h / G;
            gptoss_attention_head_f32(s->attn + t * QW + (size_t)h * dh, s->q + t * QW + (size_t)h * dh,
                                      kv->k + (size_t)g * dh, kv->v + (size_t)g * dh, KW, s->slots, n_keys, dh, scale,
                                      L->sinks[h], s->scores);
        }
    }
}

static void moe_layer(gptoss_session *s, const gptoss_layer *L, uint32_t n) {
    const gptoss_model_config *c = &s->model->config;
    const uint32_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, K = c->n_experts_per_token;

    gptoss_matmul_dense_f32(s->router, E, &L->router, L->router_bias, s->h, D, n, 0, E, s->row_scratch);
    for (uint32_t t = 0; t < n; t++)
        gptoss_topk_softmax_f32(s->router + (size_t)t * E, E, K, s->topi + (size_t)t * K, s->topw + (size_t)t * K);

    /* Counting sort of the chunk's (token, k) pairs by expert. */
    memset(s->expert_count, 0, E * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * K; i++) s->expert_count[s->topi[i]]++;
    uint32_t acc = 0;
    for (uint32_t e = 0; e < E; e++) {
        s->expert_start[e] = acc;
        acc += s->expert_count[e];
    }
    memset(s->expert_count, 0, E * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * K; i++) {
        uint32_t e = s->topi[i], entry = s->expert_start[e] + s->expert_count[e]++;
        s->entry_token[entry] = i / K;
        s->entry_of[i] = entry;
    }
    for (uint32_t e = 0; e < E; e++) {
        uint32_t cnt = s->expert_count[e], first = s->expert_start[e];
        if (!cnt) continue;
        for (uint32_t j = 0; j < cnt; j++)
            memcpy(s->xin + (size_t)j * D, s->h + (size_t)s->entry_token[first + j] * D, D * sizeof(float));
        gptoss_to_f32(s->bias_scratch, L->mlp1_bias.data, L->mlp1_bias.dtype, (uint64_t)e * 2 * I, 2 * (size_t)I);
        gptoss_matmul_mxfp4_f32(s->u, 2 * (size_t)I, &L->mlp1, e, s->bias_scratch, s->xin, D, cnt, 0, 2 * (uint64_t)I,
                                s->row_scratch);
        for (uint32_t j = 0; j < cnt; j++)
            gptoss_swiglu_f32(s->act + (size_t)j * I, s->u + (size_t)j * 2 * I, I, c->swiglu_limit);
        gptoss_to_f32(s->bias_scratch, L->mlp2_bias.data, L->mlp2_bias.dtype, (uint64_t)e * D, D);
        gptoss_matmul_mxfp4_f32(s->eo + (size_t)first * D, D, &L->mlp2, e, s->bias_scratch, s->act, I, cnt, 0, D,
                                s->row_scratch);
    }
    /* Weighted sum in the router's order, then one residual add, as the reference does. */
    for (uint32_t t = 0; t < n; t++) {
        float *y = s->xin; /* reuse: D floats */
        for (uint32_t d = 0; d < D; d++) y[d] = 0.0f;
        for (uint32_t k = 0; k < K; k++) {
            const float w = s->topw[(size_t)t * K + k];
            const float *o = s->eo + (size_t)s->entry_of[(size_t)t * K + k] * D;
            for (uint32_t d = 0; d < D; d++) y[d] += w * o[d];
        }
        float *x = s->x + (size_t)t * D;
        for (uint32_t d = 0; d < D; d++) x[d] += y[d];
    }
}

void gptoss_forward_chunk(gptoss_session *s, const uint32_t *ids, uint32_t n, float *logits_out) {
    const gptoss_model *m = s->model;
    const gptoss_model_config *c = &m->config;
    const uint32_t D = c->hidden_size, V = c->vocab_size;
    const size_t QW = (size_t)c->n_heads * c->head_dim, KW = (size_t)c->n_kv_heads * c->head_dim;

    for (uint32_t t = 0; t < n; t++)
        gptoss_to_f32(s->x + (size_t)t * D, m->embedding.data, m->embedding.dtype, (uint64_t)ids[t] * D, D);

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        for (uint32_t t = 0; t < n; t++)
            gptoss_rmsnorm_f32(s->h + (size_t)t * D, s->x + (size_t)t * D, L->attn_norm, D, c->rms_norm_eps);
        gptoss_matmul_dense_f32(s->q, QW, &L->wq, L->q_bias, s->h, D, n, 0, QW, s->row_scratch);
        gptoss_matmul_dense_f32(s->k, KW, &L->wk, L->k_bias, s->h, D, n, 0, KW, s->row_scratch);
        gptoss_matmul_dense_f32(s->v, KW, &L->wv, L->v_bias, s->h, D, n, 0, KW, s->row_scratch);
        attention_layer(s, L, &s->kv[l], n);
        gptoss_matmul_dense_f32(s->h, D, &L->wo, L->o_bias, s->attn, QW, n, 0, D, s->row_scratch);
        for (size_t i = 0; i < (size_t)n * D; i++) s->x[i] += s->h[i];
        for (uint32_t t = 0; t < n; t++)
            gptoss_rmsnorm_f32(s->h + (size_t)t * D, s->x + (size_t)t * D, L->mlp_norm, D, c->rms_norm_eps);
        moe_layer(s, L, n);
    }

    /* Logits for every row when asked, else only for the last one. */
    uint32_t first = logits_out ? 0 : n - 1;
    for (uint32_t t = first; t < n; t++)
        gptoss_rmsnorm_f32(s->h + (size_t)(t - first) * D, s->x + (size_t)t * D, m->final_norm, D, c->rms_norm_eps);
    float *dst = logits_out ? logits_out : s->logits;
    gptoss_matmul_dense_f32(dst, V, &m->unembedding, NULL, s->h, D, n - first, 0, V, s->row_scratch);
    if (logits_out) memcpy(s->logits, logits_out + (size_t)(n - 1) * V, (size_t)V * sizeof(float));
    s->has_logits = 1;
    s->n_tokens += n;
}
