/* session.c: creating a session (every buffer of the forward pass and the KV cache, sized once),
 * feeding it tokens in chunks, and resetting it for reuse. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "cpu/simd.h"
#include "engine/session.h"
#ifdef GPTOSS_CUDA
#include "cuda/backend.h"
#endif

#define DEFAULT_N_CTX 8192u
#define DEFAULT_N_BATCH 128u

static void *alloc_zeroed(size_t n, size_t elem_bytes, int *failed) {
    void *p = calloc(n ? n : 1, elem_bytes);
    if (!p) *failed = 1;
    return p;
}

static void *alloc_floats(size_t n, int *failed) { return alloc_zeroed(n, sizeof(float), failed); }

const char *gptoss_kv_type_name(gptoss_kv_type type) {
    static const char *const names[] = {"auto", "f32", "bf24", "f16"};
    return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "";
}

gptoss_status gptoss_workspace_init(gptoss_workspace *w, const gptoss_model *model, uint32_t n_max, uint32_t n_ctx,
                                    uint32_t max_seqs, uint32_t n_threads) {
    memset(w, 0, sizeof *w);
    const gptoss_model_config *c = &model->config;
    w->n_max = n_max;
    w->n_ctx = n_ctx;
    w->max_seqs = max_seqs;
    const size_t B = n_max, D = c->hidden_size, I = c->intermediate_size, E = c->n_experts,
                 K = c->n_experts_per_token, V = c->vocab_size;
    const size_t QW = (size_t)c->n_heads * c->head_dim, KW = (size_t)c->n_kv_heads * c->head_dim;
    size_t max_cols = D > I ? D : I;
    if (QW > max_cols) max_cols = QW;
    int failed = 0;
    w->pool = gptoss_pool_create(n_threads);
    if (!w->pool) return GPTOSS_ERR_NO_MEMORY;
    const size_t T = gptoss_pool_threads(w->pool);
    w->scratch_floats = max_cols;
    w->bias_floats = 2 * I > D ? 2 * I : D;
    w->seq = calloc(B, sizeof *w->seq);
    w->pos = calloc(B, sizeof *w->pos);
    w->x = alloc_floats(B * D, &failed);
    w->h = alloc_floats(B * D, &failed);
    w->q = alloc_floats(B * QW, &failed);
    w->k = alloc_floats(B * KW, &failed);
    w->v = alloc_floats(B * KW, &failed);
    w->attn = alloc_floats(B * QW, &failed);
    w->router = alloc_floats(B * E, &failed);
    w->topw = alloc_floats(B * K, &failed);
    w->topi = calloc(B * K, sizeof(uint32_t));
    w->expert_count = calloc(E, sizeof(uint32_t));
    w->expert_start = calloc(E, sizeof(uint32_t));
    w->entry_token = calloc(B * K, sizeof(uint32_t));
    w->entry_of = calloc(B * K, sizeof(uint32_t));
    w->xin = alloc_floats(B * K * D, &failed);
    w->act = alloc_floats(B * K * I, &failed);
    /* mlp2's outputs go where its inputs' inputs were: mlp1 is the last reader of xin, and every
     * mlp1 item finishes before the first mlp2 item starts (B * K * D floats less: 5.9 MB at the
     * default 128-token chunk, 24 MB at 512). */
    w->eo = w->xin;
    w->row_scratch = alloc_floats(T * max_cols, &failed);
    w->bias_scratch = alloc_floats(T * w->bias_floats, &failed);
    /* An mlp1 item writes rows [r0, r0 + GPTOSS_ROW_CHUNK) of each of its expert's tokens (at most B)
     * at j * GPTOSS_ROW_CHUNK + r: the rows of consecutive tokens never overlap, and the last ends
     * before (B - 1) * GPTOSS_ROW_CHUNK + 2I. Per thread, so that the whole step never holds every
     * (token, expert) entry's 2I outputs at once. */
    w->u_floats = (B - 1) * GPTOSS_ROW_CHUNK + 2 * I;
    w->u = alloc_floats(T * w->u_floats, &failed);
    /* a grouped attention kernel keeps the scores of every query head of a kv head at once */
    const size_t G = c->n_kv_heads ? c->n_heads / c->n_kv_heads : 1;
    w->scores_floats = G * (((size_t)n_ctx + 15) / 16 * 16);
    w->scores = alloc_floats(T * w->scores_floats, &failed);
    w->slots = calloc(T * n_ctx, sizeof(uint32_t));
    w->active = calloc(E, sizeof(uint32_t));
    w->logits = alloc_floats((size_t)max_seqs * V, &failed);
    const gptoss_cpu_ops *ops = gptoss_model_cpu_ops(model);
    if (ops && ops->gemm && B >= ops->gemm->min_tokens) {
        /* The largest product: a dense one over every token, or the MoE's experts, each padded to
         * whole tiles (at most 16 tokens each: at most 15 padding rows per expert). */
        size_t mx_cols = (D > I ? D : I) / 32 * 32, dense_cols = (max_cols) / 32 * 32;
        size_t a = ops->gemm->pack_bytes(B, dense_cols), b = ops->gemm->pack_bytes(B * K + 15 * E, mx_cols);
        w->gemm = ops->gemm;
        w->xpack_bytes = a > b ? a : b;
        w->xpack = aligned_alloc(64, (w->xpack_bytes + 63) / 64 * 64);
        w->xp_off = calloc(E, sizeof *w->xp_off);
        if (!w->xpack || !w->xp_off) failed = 1;
    }
    if (model->shard) {
        w->dist_lo = calloc((size_t)model->shard->n_ranks + 1, sizeof *w->dist_lo);
        if (!w->dist_lo) failed = 1;
    }
    if (failed || !w->seq || !w->pos || !w->topi || !w->expert_count || !w->expert_start || !w->entry_token ||
        !w->entry_of || !w->slots || !w->active) {
        gptoss_workspace_free(w);
        return GPTOSS_ERR_NO_MEMORY;
    }
    return GPTOSS_OK;
}

void gptoss_workspace_free(gptoss_workspace *w) {
    free(w->seq); free(w->pos);
    free(w->x); free(w->h); free(w->q); free(w->k); free(w->v); free(w->attn);
    free(w->router); free(w->topw); free(w->topi);
    free(w->expert_count); free(w->expert_start); free(w->entry_token); free(w->entry_of);
    free(w->xin); free(w->act); /* eo is xin */
    free(w->row_scratch); free(w->bias_scratch); free(w->u); free(w->scores); free(w->slots); free(w->logits);
    free(w->active);
    free(w->xpack); free(w->xp_off); free(w->dist_lo);
    gptoss_pool_free(w->pool);
    memset(w, 0, sizeof *w);
}

gptoss_status gptoss_session_create(const gptoss_model *model, const gptoss_session_options *options,
                                    gptoss_session **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!model || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no model or output pointer");
    const gptoss_model_config *c = &model->config;
    gptoss_session_options o = options ? *options : (gptoss_session_options){0};
    uint32_t n_ctx = o.n_ctx ? o.n_ctx : (DEFAULT_N_CTX < c->max_context ? DEFAULT_N_CTX : c->max_context);
    if (n_ctx > c->max_context)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "context size %u exceeds the model's maximum of %u tokens", n_ctx, c->max_context);
    uint32_t n_batch = o.n_batch ? o.n_batch : DEFAULT_N_BATCH;
    if (n_batch > 4096) n_batch = 4096;
    if (n_batch > n_ctx) n_batch = n_ctx;
    if (o.kv_type < GPTOSS_KV_AUTO || o.kv_type > GPTOSS_KV_F16)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "unknown KV cache type %d", (int)o.kv_type);
    /* bf24 moves the golden cases' logits by at most 7e-4; an exact model keeps every bit. */
    const gptoss_kv_type kv_type = o.kv_type != GPTOSS_KV_AUTO ? o.kv_type
                                   : model->exact                ? GPTOSS_KV_F32
                                                                 : GPTOSS_KV_BF24;

    /* A CUDA session keeps only the bookkeeping fields here. */
    gptoss_device dev = o.device == GPTOSS_DEVICE_AUTO
                            ? (!model->shard && (gptoss_cuda_available() || model->no_host_weights) ? GPTOSS_DEVICE_CUDA
                                                                                                   : GPTOSS_DEVICE_CPU)
                            : o.device;
    if (dev != GPTOSS_DEVICE_CPU && dev != GPTOSS_DEVICE_CUDA)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "unknown device %d", (int)o.device);
    if (dev == GPTOSS_DEVICE_CUDA && model->shard)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "a model shared by several ranks runs on the CPU");
    if (dev == GPTOSS_DEVICE_CPU && model->no_host_weights)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "this model's weights exist on the GPU only");
    if (dev == GPTOSS_DEVICE_CUDA) {
#ifdef GPTOSS_CUDA
        gptoss_session *cs = calloc(1, sizeof *cs);
        if (!cs) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        cs->model = model;
        cs->n_ctx = n_ctx;
        cs->n_batch = n_batch;
        gptoss_status cst = gptoss_cuda_session_create(model, n_ctx, n_batch, &cs->cuda, err, err_size);
        if (cst != GPTOSS_OK) {
            free(cs);
            return cst;
        }
        *out = cs;
        return GPTOSS_OK;
#else
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                           "this build has no CUDA backend (rebuild with make CUDA=1)");
#endif
    }

    gptoss_session *s = calloc(1, sizeof *s);
    if (!s) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    s->model = model;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    const size_t KW = (size_t)c->n_kv_heads * c->head_dim;
    int failed = 0;
    s->kv = calloc(c->n_layers, sizeof *s->kv);
    if (!s->kv) failed = 1;
    for (uint32_t l = 0; l < c->n_layers && !failed; l++) {
        gptoss_kv *kv = &s->kv[l];
        /* A sliding layer needs the window plus the chunk being written; pages of a full layer are
         * only touched as the context fills. */
        uint64_t cap = model->layers[l].sliding ? (uint64_t)c->sliding_window + n_batch : n_ctx;
        kv->cap = cap < n_ctx ? (uint32_t)cap : n_ctx;
        kv->type = kv_type;
        kv->k = alloc_zeroed((size_t)kv->cap * KW, gptoss_kv_elem_bytes(kv), &failed);
        kv->v = alloc_zeroed((size_t)kv->cap * KW, gptoss_kv_elem_bytes(kv), &failed);
    }
    s->logits = alloc_floats(c->vocab_size, &failed);
    if (failed || gptoss_workspace_init(&s->ws, model, n_batch, n_ctx, 1, o.n_threads) != GPTOSS_OK) {
        gptoss_session_free(s);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory allocating a %u-token session", n_ctx);
    }
    if (gptoss_dist_leads(model)) {
        gptoss_session_options told = o;
        told.n_ctx = n_ctx;
        told.n_batch = n_batch;
        told.kv_type = kv_type;
        gptoss_status dst = gptoss_dist_lead_session_create(s, &told, err, err_size);
        if (dst != GPTOSS_OK) {
            gptoss_session_free(s);
            return dst;
        }
    }
    *out = s;
    return GPTOSS_OK;
}

void gptoss_session_free(gptoss_session *s) {
    if (!s) return;
    if (gptoss_dist_leads(s->model)) gptoss_dist_lead_session_free(s);
#ifdef GPTOSS_CUDA
    gptoss_cuda_session_free(s->cuda);
#endif
    if (s->kv)
        for (uint32_t l = 0; l < s->model->config.n_layers; l++) {
            free(s->kv[l].k);
            free(s->kv[l].v);
        }
    free(s->kv);
    gptoss_workspace_free(&s->ws);
    free(s->logits);
    free(s);
}

void gptoss_session_reset(gptoss_session *s) {
    if (!s) return;
    if (gptoss_dist_leads(s->model)) gptoss_dist_lead_session_reset(s);
    s->n_tokens = 0;
    s->n_written = 0;
    s->has_logits = 0;
#ifdef GPTOSS_CUDA
    if (s->cuda) gptoss_cuda_session_reset(s->cuda);
#endif
}

/* Whether the first n_tokens (0 < n_tokens <= s->n_tokens) of a CPU session are all still in its
 * cache, so that it can go on from there. A full-attention layer keeps everything; a sliding layer's
 * ring of `cap` slots holds position p until p + cap is written, and going on from n_tokens needs the
 * window before it. */
static int prefix_kept(const gptoss_session *s, uint32_t n_tokens) {
    const gptoss_model_config *c = &s->model->config;
    uint32_t need_from = n_tokens > c->sliding_window ? n_tokens - c->sliding_window : 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_kv *kv = &s->kv[l];
        if (kv->cap >= s->n_ctx) continue;
        if ((uint64_t)need_from + kv->cap < s->n_written) return 0;
    }
    return 1;
}

gptoss_status gptoss_session_truncate(gptoss_session *s, uint32_t n_tokens, char *err, size_t err_size) {
    if (!s) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no session");
    if (gptoss_dist_leads(s->model)) gptoss_dist_lead_session_truncate(s, n_tokens);
    if (n_tokens >= s->n_tokens) {
        if (n_tokens > s->n_tokens)
            return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "cannot truncate %u tokens to %u", s->n_tokens,
                               n_tokens);
        return GPTOSS_OK;
    }
    if (s->cuda)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "a CUDA session cannot rewind; reset it instead");
    if (n_tokens == 0) {
        s->n_tokens = 0; /* gptoss_session_reset, told to the other ranks as this truncate */
        s->n_written = 0;
        s->has_logits = 0;
        return GPTOSS_OK;
    }
    if (!prefix_kept(s, n_tokens))
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                           "cannot rewind to %u tokens: the sliding-window cache keeps only %u tokens behind %u",
                           n_tokens, s->n_batch, s->n_written);
    s->n_tokens = n_tokens;
    s->has_logits = 0;
    return GPTOSS_OK;
}

gptoss_status gptoss_session_append(gptoss_session *s, const uint32_t *ids, size_t n_ids, float *all_logits,
                                    char *err, size_t err_size) {
    if (!s || (!ids && n_ids)) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no session or ids");
    const gptoss_model_config *c = &s->model->config;
    if (n_ids > (size_t)(s->n_ctx - s->n_tokens))
        return gptoss_fail(GPTOSS_ERR_CONTEXT_OVERFLOW, err, err_size,
                           "context overflow: %u tokens in the session + %zu new exceed the context size of %u",
                           s->n_tokens, n_ids, s->n_ctx);
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= c->vocab_size)
            return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size,
                               "token id %u (at index %zu) is outside the vocabulary of %u", ids[i], i, c->vocab_size);
#ifdef GPTOSS_CUDA
    if (s->cuda) {
        gptoss_status cst = gptoss_cuda_session_append(s->cuda, ids, n_ids, all_logits, err, err_size);
        if (cst != GPTOSS_OK) return cst;
        s->n_tokens += (uint32_t)n_ids;
        if (n_ids) s->has_logits = 1;
        return GPTOSS_OK;
    }
#endif
    if (gptoss_dist_leads(s->model)) gptoss_dist_lead_session_append(s, ids, n_ids, all_logits != NULL);
    for (size_t done = 0; done < n_ids;) {
        uint32_t n = (uint32_t)(n_ids - done < s->n_batch ? n_ids - done : s->n_batch);
        for (uint32_t t = 0; t < n; t++) {
            s->ws.seq[t] = s;
            s->ws.pos[t] = s->n_tokens + t;
        }
        gptoss_forward(s->model, &s->ws, ids + done, n, all_logits ? all_logits + done * c->vocab_size : NULL);
        done += n;
    }
    if (s->n_tokens > s->n_written) s->n_written = s->n_tokens;
    return GPTOSS_OK;
}

gptoss_status gptoss_session_copy_prefix(gptoss_session *dst, const gptoss_session *src, uint32_t n_tokens, char *err,
                                         size_t err_size) {
    if (!dst || !src) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no session to copy to or from");
    if (n_tokens > src->n_tokens)
        return gptoss_fail(GPTOSS_ERR_OUT_OF_RANGE, err, err_size, "cannot copy %u tokens of a session holding %u",
                           n_tokens, src->n_tokens);
    if (dst == src) return gptoss_session_truncate(dst, n_tokens, err, err_size);
    if (dst->model != src->model || dst->n_ctx != src->n_ctx || dst->n_batch != src->n_batch)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "sessions differ (model, context %u vs %u or batch %u vs %u): cannot copy", src->n_ctx,
                           dst->n_ctx, src->n_batch, dst->n_batch);
    if (dst->cuda || src->cuda)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "CUDA sessions cannot be copied");
    if (dst->kv[0].type != src->kv[0].type)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "sessions differ (KV cache %s vs %s): cannot copy", gptoss_kv_type_name(src->kv[0].type),
                           gptoss_kv_type_name(dst->kv[0].type));
    if (gptoss_dist_leads(dst->model)) gptoss_dist_lead_session_copy_prefix(dst, src, n_tokens);
    if (n_tokens == 0) {
        dst->n_tokens = 0; /* gptoss_session_reset, told to the other ranks as this copy */
        dst->n_written = 0;
        dst->has_logits = 0;
        return GPTOSS_OK;
    }
    if (n_tokens < src->n_tokens && !prefix_kept(src, n_tokens))
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                           "cannot copy the first %u tokens: the sliding-window cache keeps only %u tokens behind %u",
                           n_tokens, src->n_batch, src->n_written);
    /* dst becomes src rewound to n_tokens: full layers need rows [0, n_tokens); a sliding layer's ring
     * is copied whole (every slot written so far), with src's high-water mark, so that dst can rewind
     * exactly as far as src could. */
    const gptoss_model_config *c = &src->model->config;
    const size_t dh = c->head_dim;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_kv *from = &src->kv[l];
        gptoss_kv *to = &dst->kv[l];
        uint32_t rows = from->cap >= src->n_ctx ? n_tokens : (src->n_written < from->cap ? src->n_written : from->cap);
        const size_t eb = gptoss_kv_elem_bytes(from); /* dst has the same cap (same n_ctx, n_batch) and type */
        for (uint32_t g = 0; g < c->n_kv_heads; g++) {
            const size_t at = (size_t)g * from->cap * dh * eb;
            memcpy((char *)to->k + at, (const char *)from->k + at, (size_t)rows * dh * eb);
            memcpy((char *)to->v + at, (const char *)from->v + at, (size_t)rows * dh * eb);
        }
    }
    dst->n_tokens = n_tokens;
    dst->n_written = src->n_written;
    dst->has_logits = n_tokens == src->n_tokens && src->has_logits;
    if (dst->has_logits) memcpy(dst->logits, src->logits, (size_t)c->vocab_size * sizeof(float));
    return GPTOSS_OK;
}

gptoss_status gptoss_session_copy(gptoss_session *dst, const gptoss_session *src, char *err, size_t err_size) {
    if (!src) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no session to copy from");
    return gptoss_session_copy_prefix(dst, src, src->n_tokens, err, err_size);
}

const float *gptoss_session_logits(const gptoss_session *s) {
#ifdef GPTOSS_CUDA
    if (s && s->cuda) return s->has_logits ? gptoss_cuda_session_logits(s->cuda) : NULL;
#endif
    return s && s->has_logits ? s->logits : NULL;
}


gptoss_device gptoss_session_device(const gptoss_session *s) {
    return s && s->cuda ? GPTOSS_DEVICE_CUDA : GPTOSS_DEVICE_CPU;
}
uint32_t gptoss_session_n_tokens(const gptoss_session *s) { return s ? s->n_tokens : 0; }
uint32_t gptoss_session_n_ctx(const gptoss_session *s) { return s ? s->n_ctx : 0; }

gptoss_kv_type gptoss_session_kv_type(const gptoss_session *s) {
    return s && !s->cuda && s->kv ? s->kv[0].type : GPTOSS_KV_AUTO;
}

uint64_t gptoss_session_kv_read_bytes(const gptoss_session *s) {
    if (!s) return 0;
    const gptoss_model_config *c = &s->model->config;
    const uint64_t keys = (uint64_t)s->n_tokens + 1, row = (uint64_t)c->n_kv_heads * c->head_dim;
    const uint64_t elem = s->cuda || !s->kv ? sizeof(float) : gptoss_kv_elem_bytes(&s->kv[0]);
    uint64_t bytes = 0;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const uint64_t in_reach = s->model->layers[l].sliding && keys > c->sliding_window ? c->sliding_window : keys;
        bytes += in_reach * row * 2 * elem;
    }
    return bytes;
}
