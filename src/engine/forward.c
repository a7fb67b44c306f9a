/* forward.c: the gpt-oss forward pass over a chunk of tokens (spec §2): embedding, per layer
 * RMSNorm -> QKV -> YaRN RoPE -> attention with sinks (sliding window on some layers) -> output
 * projection, RMSNorm -> router top-k -> MXFP4 experts with clamped SwiGLU, then the final norm and
 * unembedding. The tokens of one step share each weight read (dense layers run as matrix x matrix,
 * the MoE groups tokens by expert) whether they are a prefill chunk of one session or one decode
 * token from each of many sessions (continuous batching): only attention looks at a token's own
 * session.
 *
 * Threads: every matrix product is split into chunks of rows (and the MoE into (expert, rows) items)
 * handed out by the workspace's thread pool; each output element is computed by one item in a fixed
 * order, so the result does not depend on the number of threads. Kernels: the model's exact flag
 * picks the scalar reference kernels (cpu/kernels.c); otherwise the fast ones (cpu/simd.h), which
 * also keep f32 activations and accumulation and differ only in summation order.
 *
 * Ranks (m->shard, a model sharded over processes): each rank computes its kv heads' q, k, v and
 * attention, its rows of the output projection, its experts and its vocabulary rows, each output
 * element whole and in the single process's order; the exchanges only move values (allgather of
 * attention rows, hidden rows and expert outputs; the logits gathered to rank 0), and the combine
 * over a token's top-k experts runs in router order on every rank, so the logits do not depend on
 * the number of ranks. */
#include <math.h>

#include "base/threadpool.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "dist/dist.h"
#include "engine/session.h"

static uint32_t kv_slot(const gptoss_kv *kv, uint32_t pos) { return pos % kv->cap; }

typedef struct fwd {
    const gptoss_model *m;
    gptoss_workspace *w;
    const gptoss_cpu_ops *ops; /* NULL: the scalar reference kernels */
    uint32_t n, l;
    const gptoss_layer *L;
    uint32_t kv0, kv1; /* this rank's kv heads (all of them in a single process) */
    uint32_t e0, e1;   /* this rank's experts */
    uint32_t entry0;   /* the MoE's first (token, expert) entry of those experts */
    /* dense job: up to 3 matrices sharing x */
    uint32_t n_mats;
    const gptoss_mat *mat[3];
    const float *bias[3];
    float *out[3];
    size_t out_stride[3];
    uint32_t chunks[3], item_rows[3];
    const float *x;
    size_t x_stride, n_tok;
    /* MoE jobs */
    uint32_t n_active, chunks_per_expert, mx_order;
    /* matrix x matrix path: x packed at xp (dense), or per expert at w->xpack + w->xp_off[e] (MoE) */
    const uint8_t *xp;
    int moe_packed;
    const float *pk_x; /* pack job: source rows, their stride and count, columns */
    size_t pk_xs, pk_n, pk_cols;
} fwd;

static float *thread_scratch(const gptoss_workspace *w, uint32_t thread) { return w->row_scratch + (size_t)thread * w->scratch_floats; }

static void dense_item(void *ctx, uint32_t item, uint32_t thread) {
    fwd *f = ctx;
    uint32_t k = 0;
    while (item >= f->chunks[k]) item -= f->chunks[k++];
    const gptoss_mat *M = f->mat[k];
    const uint64_t r0 = (uint64_t)item * f->item_rows[k];
    const uint64_t r1 = r0 + f->item_rows[k] < M->rows ? r0 + f->item_rows[k] : M->rows;
    if (f->xp) f->w->gemm->dense(f->out[k], f->out_stride[k], M, f->bias[k], f->xp, f->n_tok, r0, r1);
    else if (f->ops) f->ops->dense(f->out[k], f->out_stride[k], M, f->bias[k], f->x, f->x_stride, f->n_tok, r0, r1);
    else gptoss_matmul_dense_f32(f->out[k], f->out_stride[k], M, f->bias[k], f->x, f->x_stride, f->n_tok, r0, r1,
                                 thread_scratch(f->w, thread));
}

static void pack_item(void *ctx, uint32_t tile, uint32_t thread) {
    (void)thread;
    fwd *f = ctx;
    f->w->gemm->pack(f->w->xpack, f->pk_x, f->pk_xs, f->pk_n, f->pk_cols, tile, (size_t)tile + 1, 0);
}

/* Packs x for the matrix x matrix path when the step is large enough and every matrix takes it. */
static const uint8_t *pack_dense(fwd *f, uint32_t n_mats, const gptoss_mat *const *mats, const float *x, size_t x_stride,
                                 size_t n_tok) {
    const struct gptoss_cpu_gemm *g = f->ops ? f->w->gemm : NULL;
    if (!g || n_tok < g->min_tokens) return NULL;
    for (uint32_t k = 0; k < n_mats; k++)
        if (!g->dense_ok(mats[k], n_tok) || mats[k]->cols != mats[0]->cols) return NULL;
    const size_t cols = (size_t)mats[0]->cols;
    if (g->pack_bytes(n_tok, cols) > f->w->xpack_bytes) return NULL;
    f->pk_x = x;
    f->pk_xs = x_stride;
    f->pk_n = n_tok;
    f->pk_cols = cols;
    gptoss_pool_run(f->w->pool, pack_item, f, (uint32_t)((n_tok + 15) / 16));
    return f->w->xpack;
}

/* Rows per item of a matrix x vector(s) job: GPTOSS_ROW_CHUNK, halved (to 16 at least) while an item
 * is over 512 KiB and the job has fewer than 256 items. A job ends when its last item does, so the
 * other threads wait for up to one item: a 256-row item of a 4096-column BF16 matrix is 2 MiB, about
 * 60 us of one core's read. Jobs of many items (the unembedding) keep whole chunks, which the Q8_0 kernels
 * prefer: they quantize x once per call. */
static uint32_t vector_item_rows(const gptoss_mat *const *mats, uint32_t n_mats) {
    uint64_t rows = 0, most = 0;
    for (uint32_t k = 0; k < n_mats; k++) {
        rows += mats[k]->rows;
        const uint64_t b = gptoss_row_bytes(mats[k]->dtype, mats[k]->cols);
        if (b > most) most = b;
    }
    uint32_t r = GPTOSS_ROW_CHUNK;
    while (r > 16 && most * r > (512u << 10) && rows / r < 256) r /= 2;
    return r;
}

static void dense(fwd *f, uint32_t n_mats, const gptoss_mat *const *mats, const float *const *bias, float *const *out,
                  const size_t *out_stride, const float *x, size_t x_stride, size_t n_tok) {
    f->x = x;
    f->x_stride = x_stride;
    f->n_tok = n_tok;
    f->xp = pack_dense(f, n_mats, mats, x, x_stride, n_tok);
    const uint32_t rows = f->xp || !f->ops ? GPTOSS_ROW_CHUNK : vector_item_rows(mats, n_mats);
    uint32_t items = 0;
    f->n_mats = n_mats;
    for (uint32_t k = 0; k < n_mats; k++) {
        f->mat[k] = mats[k];
        f->bias[k] = bias[k];
        f->out[k] = out[k];
        f->out_stride[k] = out_stride[k];
        f->item_rows[k] = rows;
        f->chunks[k] = (uint32_t)((mats[k]->rows + rows - 1) / rows);
        items += f->chunks[k];
    }
    gptoss_pool_run(f->w->pool, dense_item, f, items);
    f->xp = NULL;
}

static void dense1(fwd *f, const gptoss_mat *M, const float *bias, float *out, size_t out_stride, const float *x,
                   size_t x_stride, size_t n_tok) {
    const gptoss_mat *mats[1] = {M};
    const float *b[1] = {bias};
    float *o[1] = {out};
    size_t os[1] = {out_stride};
    dense(f, 1, mats, b, o, os, x, x_stride, n_tok);
}

/* One item: token t, kv head g (its G query heads). */
static void attention_item(void *ctx, uint32_t item, uint32_t thread) {
    fwd *f = ctx;
    gptoss_workspace *w = f->w;
    const gptoss_model_config *c = &f->m->config;
    const uint32_t dh = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads, G = H / Hkv;
    const size_t QW = (size_t)H * dh;
    const uint32_t n_kv = f->kv1 - f->kv0, t = item / n_kv, g = f->kv0 + item % n_kv, pos = w->pos[t];
    const gptoss_kv *kv = &w->seq[t]->kv[f->l];
    uint32_t lo = 0;
    if (f->L->sliding && pos + 1 > c->sliding_window) lo = pos + 1 - c->sliding_window;
    const uint32_t n_keys = pos + 1 - lo;
    uint32_t *slots = w->slots + (size_t)thread * w->n_ctx;
    float *scores = w->scores + (size_t)thread * w->scores_floats;
    for (uint32_t j = 0; j < n_keys; j++) slots[j] = kv_slot(kv, lo + j);
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t h0 = (size_t)g * G, at = (size_t)g * kv->cap * dh * gptoss_kv_elem_bytes(kv);
    float *out = w->attn + t * QW + h0 * dh;
    const float *q = w->q + t * QW + h0 * dh;
    /* A grouped kernel makes one pass over the kv head's keys and values for all G query heads, not G.
     * ELEM: the type the kernels take the cache as (bytes, for bf24). */
#define ATTEND(ELEM, GROUP, ONE, REFERENCE)                                                                        \
    do {                                                                                                           \
        const ELEM *k = (const void *)((const char *)kv->k + at), *v = (const void *)((const char *)kv->v + at);   \
        if (f->ops && f->ops->GROUP) {                                                                             \
            f->ops->GROUP(out, dh, q, dh, G, k, v, dh, slots, n_keys, dh, scale, f->L->sinks + h0, scores);        \
            return;                                                                                                \
        }                                                                                                          \
        for (uint32_t h = 0; h < G; h++)                                                                           \
            (f->ops && f->ops->ONE ? f->ops->ONE : REFERENCE)(out + h * dh, q + h * dh, k, v, dh, slots, n_keys,   \
                                                              dh, scale, f->L->sinks[h0 + h], scores);             \
        return;                                                                                                    \
    } while (0)
    switch (kv->type) {
    case GPTOSS_KV_BF24: ATTEND(uint8_t, attention_group_bf24, attention_bf24, gptoss_attention_head_bf24);
    case GPTOSS_KV_F16: ATTEND(uint16_t, attention_group_f16, attention_f16, gptoss_attention_head_f16);
    default: ATTEND(float, attention_group, attention, gptoss_attention_head_f32);
    }
#undef ATTEND
}

static void attention_layer(fwd *f) {
    const gptoss_model *m = f->m;
    gptoss_workspace *w = f->w;
    const gptoss_model_config *c = &m->config;
    const uint32_t dh = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads, n = f->n, l = f->l;
    const size_t QW = (size_t)H * dh, KW = (size_t)Hkv * dh;
    const uint32_t G = H / Hkv, kv0 = f->kv0, n_kv = f->kv1 - f->kv0;

    /* Every key and value of the step is stored before any query attends, so a prefill chunk
     * sees its own earlier tokens. */
    for (uint32_t t = 0; t < n; t++) {
        uint32_t pos = w->pos[t];
        gptoss_kv *kv = &w->seq[t]->kv[l];
        gptoss_rope_f32(w->q + t * QW + (size_t)kv0 * G * dh, n_kv * G, dh, pos, m->rope_inv_freq,
                        m->rope_concentration);
        gptoss_rope_f32(w->k + t * KW + (size_t)kv0 * dh, n_kv, dh, pos, m->rope_inv_freq, m->rope_concentration);
        uint32_t slot = kv_slot(kv, pos);
        for (uint32_t g = kv0; g < kv0 + n_kv; g++) {
            const size_t at = ((size_t)g * kv->cap + slot) * dh * gptoss_kv_elem_bytes(kv);
            const float *k = w->k + t * KW + (size_t)g * dh, *v = w->v + t * KW + (size_t)g * dh;
            void *kd = (char *)kv->k + at, *vd = (char *)kv->v + at;
            if (kv->type == GPTOSS_KV_BF24) {
                gptoss_f32_to_bf24_row(kd, k, dh);
                gptoss_f32_to_bf24_row(vd, v, dh);
            } else if (kv->type == GPTOSS_KV_F16) {
                gptoss_f32_to_f16_row(kd, k, dh);
                gptoss_f32_to_f16_row(vd, v, dh);
            } else {
                memcpy(kd, k, dh * sizeof(float));
                memcpy(vd, v, dh * sizeof(float));
            }
        }
    }
    gptoss_pool_run(w->pool, attention_item, f, n * n_kv);
}

/* Experts from a GGUF file are in ggml's MXFP4 block layout, mlp1 as two tensors (gate, up)
 * whose rows the kernel interleaves, so the rest of the MoE is the same for both layouts. */
static void matmul_experts(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1, float *scratch) {
#ifdef GPTOSS_MXFP4_GGML
    if (w->layout == GPTOSS_MXFP4_GGML)
        gptoss_matmul_mxfp4_ggml_f32(out, out_stride, w, e, bias, x, x_stride, n_tok, r0, r1, scratch);
    else
#endif
        gptoss_matmul_mxfp4_f32(out, out_stride, w, e, bias, x, x_stride, n_tok, r0, r1, scratch);
}

/* The fast MXFP4 kernel reads the safetensors (HF) block layout. */
static int hf_layout(const gptoss_mxfp4 *w) {
#ifdef GPTOSS_MXFP4_GGML
    return w->layout == GPTOSS_MXFP4_HF;
#else
    (void)w;
    return 1;
#endif
}

/* Expert matmul for rows [r0, r1): the fast kernel on HF-layout blocks (x in MXFP4 order) or on ggml
 * blocks (x in natural order), else the reference. bias_full is the expert's whole bias row (only [r0, r1) is read). */
static void expert_rows(fwd *f, uint32_t thread, float *out, size_t os, const gptoss_mxfp4 *W, uint32_t e,
                        const float *bias_full, const float *x, size_t xs, size_t cnt, uint64_t r0, uint64_t r1) {
    if (f->moe_packed && f->w->xp_off[e] != GPTOSS_XP_NONE)
        f->w->gemm->mxfp4(out, os, W, e, bias_full, f->w->xpack + f->w->xp_off[e], cnt, r0, r1);
    else if (f->mx_order) f->ops->mxfp4(out, os, W, e, bias_full, x, xs, cnt, r0, r1);
    else if (f->ops && W->layout == GPTOSS_MXFP4_GGML) /* X in natural order */
        f->ops->mxfp4_ggml(out, os, W, e, bias_full, x, xs, cnt, r0, r1);
    else matmul_experts(out, os, W, e, bias_full, x, xs, cnt, r0, r1, thread_scratch(f->w, thread));
}

static void gather_item(void *ctx, uint32_t entry, uint32_t thread) {
    (void)thread;
    fwd *f = ctx;
    gptoss_workspace *w = f->w;
    const size_t D = f->m->config.hidden_size;
    entry += f->entry0;
    const float *src = w->h + (size_t)w->entry_token[entry] * D;
    if (f->mx_order) gptoss_mxfp4_order(w->xin + entry * D, src, D);
    else memcpy(w->xin + entry * D, src, D * sizeof(float));
}

/* One MoE work item: rows [r0, r1) (of `rows`) of expert e, whose cnt entries start at `first`;
 * bias: the thread's scratch holding that expert's bias for those rows (at bias[r0..r1)). */
typedef struct expert_item {
    uint32_t e, cnt, first;
    uint64_t r0, r1;
    float *bias;
} expert_item;

static expert_item expert_item_of(const fwd *f, uint32_t item, uint32_t thread, uint64_t rows, const gptoss_mat *bias) {
    const gptoss_workspace *w = f->w;
    expert_item it;
    it.e = w->active[item / f->chunks_per_expert];
    it.r0 = (uint64_t)(item % f->chunks_per_expert) * GPTOSS_ROW_CHUNK;
    it.r1 = it.r0 + GPTOSS_ROW_CHUNK < rows ? it.r0 + GPTOSS_ROW_CHUNK : rows;
    it.cnt = w->expert_count[it.e];
    it.first = w->expert_start[it.e];
    it.bias = w->bias_scratch + (size_t)thread * w->bias_floats;
    gptoss_to_f32(it.bias + it.r0, bias->data, bias->dtype, (uint64_t)it.e * rows + it.r0, (size_t)(it.r1 - it.r0));
    return it;
}

/* mlp1 rows [r0, r1) of one expert for its tokens, + bias, then SwiGLU of those row pairs. */
static void mlp1_item(void *ctx, uint32_t item, uint32_t thread) {
    fwd *f = ctx;
    gptoss_workspace *w = f->w;
    const gptoss_model_config *c = &f->m->config;
    const size_t D = c->hidden_size, I = c->intermediate_size;
    const expert_item it = expert_item_of(f, item, thread, 2 * I, &f->L->mlp1_bias);
    const uint64_t r0 = it.r0, r1 = it.r1;
    const uint32_t cnt = it.cnt, first = it.first;
    float *u = w->u + (size_t)thread * w->u_floats;
    expert_rows(f, thread, u, GPTOSS_ROW_CHUNK, &f->L->mlp1, it.e, it.bias, w->xin + (size_t)first * D, D, cnt, r0, r1);
    const float limit = c->swiglu_limit;
    /* whole MXFP4 blocks of outputs (every item but a last one of 2I % 64 rows) go to the kernel */
    const int vec = f->mx_order && f->ops->swiglu_mx && r0 % 64 == 0 && (r1 - r0) % 64 == 0;
    for (uint32_t j = 0; j < cnt; j++) {
        const float *uj = u + (size_t)j * GPTOSS_ROW_CHUNK;
        float *a = w->act + (size_t)(first + j) * I;
        if (vec) {
            f->ops->swiglu_mx(a + r0 / 2, uj + r0, (size_t)(r1 - r0) / 64, limit);
            continue;
        }
        for (size_t i = r0 / 2; i < r1 / 2; i++) {
            float gt = fminf(uj[2 * i], limit), lin = fmaxf(fminf(uj[2 * i + 1], limit), -limit);
            a[f->mx_order ? gptoss_mxfp4_pos(i) : i] = gt / (1.0f + expf(-1.702f * gt)) * (lin + 1.0f);
        }
    }
}

static void mlp2_item(void *ctx, uint32_t item, uint32_t thread) {
    fwd *f = ctx;
    gptoss_workspace *w = f->w;
    const gptoss_model_config *c = &f->m->config;
    const size_t D = c->hidden_size, I = c->intermediate_size;
    const expert_item it = expert_item_of(f, item, thread, D, &f->L->mlp2_bias);
    expert_rows(f, thread, w->eo + (size_t)it.first * D, D, &f->L->mlp2, it.e, it.bias, w->act + (size_t)it.first * I, I,
                it.cnt, it.r0, it.r1);
}

/* Packs one active expert's rows of pk_x (entries in expert order) into its region. */
static void pack_expert_item(void *ctx, uint32_t a, uint32_t thread) {
    (void)thread;
    fwd *f = ctx;
    gptoss_workspace *w = f->w;
    const uint32_t e = w->active[a];
    if (w->xp_off[e] == GPTOSS_XP_NONE) return;
    const size_t cnt = w->expert_count[e];
    w->gemm->pack(w->xpack + w->xp_off[e], f->pk_x + (size_t)w->expert_start[e] * f->pk_xs, f->pk_xs, cnt, f->pk_cols,
                  0, (cnt + 15) / 16, 1);
}

/* The MoE's matrix x matrix path: every expert with enough tokens gets a packed region of its rows
 * of x (cols columns); the others keep the per-token kernels. */
static void pack_experts(fwd *f, const float *x, size_t cols) {
    gptoss_workspace *w = f->w;
    const struct gptoss_cpu_gemm *g = w->gemm;
    f->moe_packed = 0;
    if (!g || !f->mx_order) return;
    size_t off = 0;
    for (uint32_t e = 0; e < f->m->config.n_experts; e++) {
        const size_t cnt = e >= f->e0 && e < f->e1 ? w->expert_count[e] : 0;
        const size_t bytes = cnt >= g->min_tokens ? g->pack_bytes(cnt, cols) : 0;
        if (!bytes || off + bytes > w->xpack_bytes) {
            w->xp_off[e] = GPTOSS_XP_NONE;
            continue;
        }
        w->xp_off[e] = off;
        off += bytes;
        f->moe_packed = 1;
    }
    if (!f->moe_packed) return;
    f->pk_x = x;
    f->pk_xs = cols;
    f->pk_cols = cols;
    gptoss_pool_run(w->pool, pack_expert_item, f, f->n_active);
}

/* Weighted sum in the router's order, then one residual add, as the reference does. */
static void combine_item(void *ctx, uint32_t t, uint32_t thread) {
    (void)thread;
    fwd *f = ctx;
    gptoss_workspace *w = f->w;
    const uint32_t D = f->m->config.hidden_size, K = f->m->config.n_experts_per_token;
    float *x = w->x + (size_t)t * D;
    const float *wt = w->topw + (size_t)t * K;
    const uint32_t *ent = w->entry_of + (size_t)t * K;
    for (uint32_t d = 0; d < D; d++) {
        float y = 0.0f;
        for (uint32_t k = 0; k < K; k++) y += wt[k] * w->eo[(size_t)ent[k] * D + d];
        x[d] += y;
    }
}

static void moe_layer(fwd *f) {
    const gptoss_model *m = f->m;
    gptoss_workspace *w = f->w;
    const gptoss_layer *L = f->L;
    const gptoss_model_config *c = &m->config;
    const uint32_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, K = c->n_experts_per_token,
                   n = f->n;

    dense1(f, &L->router, L->router_bias, w->router, E, w->h, D, n);
    for (uint32_t t = 0; t < n; t++)
        gptoss_topk_softmax_f32(w->router + (size_t)t * E, E, K, w->topi + (size_t)t * K, w->topw + (size_t)t * K);

    /* Counting sort of the chunk's (token, k) pairs by expert. */
    memset(w->expert_count, 0, E * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * K; i++) w->expert_count[w->topi[i]]++;
    uint32_t acc = 0;
    f->n_active = 0;
    for (uint32_t e = 0; e < E; e++) {
        w->expert_start[e] = acc;
        acc += w->expert_count[e];
        if (w->expert_count[e] && e >= f->e0 && e < f->e1) w->active[f->n_active++] = e;
    }
    memset(w->expert_count, 0, E * sizeof(uint32_t));
    for (uint32_t i = 0; i < n * K; i++) {
        uint32_t e = w->topi[i], entry = w->expert_start[e] + w->expert_count[e]++;
        w->entry_token[entry] = i / K;
        w->entry_of[i] = entry;
    }
    f->mx_order = f->ops && hf_layout(&L->mlp1) && hf_layout(&L->mlp2) && D % 32 == 0 &&
                  I % 32 == 0;
    /* this rank's experts' entries: [entry0, entry1) (all of them in a single process) */
    f->entry0 = f->e0 < E ? w->expert_start[f->e0] : n * K;
    const uint32_t entry1 = f->e1 < E ? w->expert_start[f->e1] : n * K;
    gptoss_pool_run(w->pool, gather_item, f, entry1 - f->entry0);
    pack_experts(f, w->xin, D);
    f->chunks_per_expert = (2 * I + GPTOSS_ROW_CHUNK - 1) / GPTOSS_ROW_CHUNK;
    gptoss_pool_run(w->pool, mlp1_item, f, f->n_active * f->chunks_per_expert);
    pack_experts(f, w->act, I);
    f->chunks_per_expert = (D + GPTOSS_ROW_CHUNK - 1) / GPTOSS_ROW_CHUNK;
    gptoss_pool_run(w->pool, mlp2_item, f, f->n_active * f->chunks_per_expert);
    f->moe_packed = 0;
    const gptoss_shard *sh = m->shard;
    if (sh) { /* every rank's expert outputs, rows in expert order, to every rank */
        uint64_t *lo = w->dist_lo;
        for (uint32_t k = 0; k <= sh->n_ranks; k++) {
            const uint32_t e = (uint32_t)gptoss_split_lo(E, sh->n_ranks, k);
            lo[k] = (uint64_t)(e < E ? w->expert_start[e] : n * K) * D;
        }
        gptoss_comm_allgather_f32(sh->comm, w->eo, 1, (size_t)n * K * D, lo);
    }
    gptoss_pool_run(w->pool, combine_item, f, n);
}

/* Attention of a sharded model: q, k, v, the cache and attention of this rank's kv heads, every
 * rank's attention outputs to every rank, then this rank's rows of the output projection, and
 * every rank's rows to every rank; w->h ends as in a single process. */
static void attention_shard(fwd *f, const gptoss_shard_layer *S) {
    const gptoss_model_config *c = &f->m->config;
    const gptoss_shard *sh = f->m->shard;
    const gptoss_layer *L = f->L;
    gptoss_workspace *w = f->w;
    const uint32_t D = c->hidden_size, dh = c->head_dim, G = c->n_heads / c->n_kv_heads, n = f->n;
    const size_t QW = (size_t)c->n_heads * dh, KW = (size_t)c->n_kv_heads * dh;
    const size_t q0 = (size_t)sh->kv0 * G * dh, k0 = (size_t)sh->kv0 * dh;
    if (sh->kv1 > sh->kv0) {
        const gptoss_mat *qkv[3] = {&S->wq, &S->wk, &S->wv};
        const float *qkv_bias[3] = {L->q_bias ? L->q_bias + q0 : NULL, L->k_bias ? L->k_bias + k0 : NULL,
                                    L->v_bias ? L->v_bias + k0 : NULL};
        float *qkv_out[3] = {w->q + q0, w->k + k0, w->v + k0};
        const size_t qkv_stride[3] = {QW, KW, KW};
        dense(f, 3, qkv, qkv_bias, qkv_out, qkv_stride, w->h, D, n);
        attention_layer(f);
    }
    gptoss_comm_allgather_f32(sh->comm, w->attn, n, QW, sh->lo_q);
    if (sh->d1 > sh->d0) dense1(f, &S->wo, L->o_bias ? L->o_bias + sh->d0 : NULL, w->h + sh->d0, D, w->attn, QW, n);
    gptoss_comm_allgather_f32(sh->comm, w->h, n, D, sh->lo_d);
}

/* The last token of each session in the step: its logits are the session's next-token logits. */
static int ends_session(const gptoss_workspace *w, uint32_t t, uint32_t n) {
    return t + 1 == n || w->seq[t + 1] != w->seq[t];
}

void gptoss_forward(const gptoss_model *m, gptoss_workspace *w, const uint32_t *ids, uint32_t n, float *all_logits) {
    const gptoss_model_config *c = &m->config;
    const uint32_t D = c->hidden_size, V = c->vocab_size;
    const size_t QW = (size_t)c->n_heads * c->head_dim, KW = (size_t)c->n_kv_heads * c->head_dim;
    fwd f = {.m = m, .w = w, .ops = gptoss_model_cpu_ops(m), .n = n, .kv1 = c->n_kv_heads, .e1 = c->n_experts};
    const gptoss_shard *sh = m->shard;
    if (sh) {
        f.kv0 = sh->kv0;
        f.kv1 = sh->kv1;
        f.e0 = sh->e0;
        f.e1 = sh->e1;
    }

    for (uint32_t t = 0; t < n; t++) gptoss_model_embed_row(m, ids[t], w->x + (size_t)t * D, thread_scratch(w, 0));

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        f.l = l;
        f.L = L;
        for (uint32_t t = 0; t < n; t++)
            gptoss_rmsnorm_f32(w->h + (size_t)t * D, w->x + (size_t)t * D, L->attn_norm, D, c->rms_norm_eps);
        if (!sh) {
            const gptoss_mat *qkv[3] = {&L->wq, &L->wk, &L->wv};
            const float *qkv_bias[3] = {L->q_bias, L->k_bias, L->v_bias};
            float *qkv_out[3] = {w->q, w->k, w->v};
            const size_t qkv_stride[3] = {QW, KW, KW};
            dense(&f, 3, qkv, qkv_bias, qkv_out, qkv_stride, w->h, D, n);
            attention_layer(&f);
            dense1(&f, &L->wo, L->o_bias, w->h, D, w->attn, QW, n);
        } else {
            attention_shard(&f, &sh->layers[l]);
        }
        for (size_t i = 0; i < (size_t)n * D; i++) w->x[i] += w->h[i];
        for (uint32_t t = 0; t < n; t++)
            gptoss_rmsnorm_f32(w->h + (size_t)t * D, w->x + (size_t)t * D, L->mlp_norm, D, c->rms_norm_eps);
        moe_layer(&f);
    }

    /* Unembedding for every row when asked, else only for the rows that end a session. */
    uint32_t rows = 0;
    for (uint32_t t = 0; t < n; t++)
        if (all_logits || ends_session(w, t, n))
            gptoss_rmsnorm_f32(w->h + (size_t)rows++ * D, w->x + (size_t)t * D, m->final_norm, D, c->rms_norm_eps);
    float *dst = all_logits ? all_logits : w->logits;
    if (!sh) dense1(&f, &m->unembedding, NULL, dst, V, w->h, D, rows);
    else { /* this rank's vocabulary rows; rank 0 receives the others' (only it samples) */
        if (sh->v1 > sh->v0) dense1(&f, &sh->unembedding, NULL, dst + sh->v0, V, w->h, D, rows);
        gptoss_comm_gather_f32(sh->comm, dst, rows, V, sh->lo_v, 0);
    }
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
