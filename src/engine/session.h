/* session.h: the session's state: KV cache (ring buffers on sliding-window layers) and every scratch
 * buffer of the forward pass, all allocated once at creation. Internal to the library. */
#ifndef GPTOSS_SESSION_H
#define GPTOSS_SESSION_H

#include "cpu/simd.h"
#include "model/model.h"

typedef struct gptoss_kv {
    /* [n_kv_heads][cap][head_dim], keys after RoPE: a kv head's keys (and values) are one run of
     * memory, which attention streams, rather than head_dim floats in every n_kv_heads * head_dim.
     * Elements are of `type` (never AUTO), bf24 rows as gptoss_f32_to_bf24_row lays them out. */
    void *k, *v;
    uint32_t cap;    /* slots; position p lives in slot p % cap */
    gptoss_kv_type type;
} gptoss_kv;

/* The CPU kernels a model's forward pass runs: NULL (the scalar references) on the exact path, else
 * the best set, or its precise sibling for weights kept as stored. */
static inline const gptoss_cpu_ops *gptoss_model_cpu_ops(const gptoss_model *m) {
    return m->exact ? NULL : gptoss_cpu_ops_precise(gptoss_cpu_ops_best(), m->precise);
}

/* Bytes of one cached element (a bf24 one is 3). */
static inline size_t gptoss_kv_elem_bytes(const gptoss_kv *kv) {
    return kv->type == GPTOSS_KV_F16 ? 2 : kv->type == GPTOSS_KV_BF24 ? 3 : sizeof(float);
}

/* Scratch for one forward step of up to n_max tokens; a session owns one (its prefill chunks), a
 * batch owns one (one decode token from each of many sessions). Token t of a step belongs to
 * session seq[t] at position pos[t]; tokens of one session are consecutive and in order. */
typedef struct gptoss_workspace {
    uint32_t n_max, n_ctx, max_seqs;
    struct gptoss_session **seq;
    uint32_t *pos;
    float *x, *h, *q, *k, *v, *attn, *router, *topw;
    uint32_t *topi;
    /* MoE: (token, slot) pairs grouped by expert */
    uint32_t *expert_count, *expert_start, *entry_token, *entry_of;
    float *xin, *act, *eo;
    float *row_scratch, *bias_scratch, *scores, *u;
    uint32_t *slots;
    float *logits;            /* [max_seqs][vocab] rows for the last token of each session */
    /* threads: the pool, and per-thread scratch (row_scratch: scratch_floats each, bias_scratch:
     * bias_floats each, scores: scores_floats each (n_ctx, rounded up to 16, per query head of a kv
     * head), slots: n_ctx each, u: u_floats each, one work item's mlp1 rows for each of its tokens,
     * GPTOSS_ROW_CHUNK apart). xin/act/eo hold one row per (token, expert) entry, in expert order; eo
     * shares xin's memory (mlp1 reads xin, mlp2 then writes eo). */
    struct gptoss_pool *pool;
    size_t scratch_floats, bias_floats, scores_floats, u_floats;
    uint32_t *active;         /* [n_experts] experts with tokens in this step */
    /* The fast kernels' matrix x matrix path (NULL when the CPU or the model's exact flag rules it
     * out): activations packed once per product into xpack; xp_off[e] is expert e's packed region in
     * the MoE (GPTOSS_XP_NONE: its tokens take the per-token kernels). */
    const struct gptoss_cpu_gemm *gemm;
    uint8_t *xpack;
    size_t xpack_bytes;
    size_t *xp_off;
    uint64_t *dist_lo;        /* a sharded model's MoE exchange: [n_ranks + 1] column bounds */
} gptoss_workspace;

#define GPTOSS_XP_NONE ((size_t)-1)

/* Rows per work item of a matrix product (a multiple of 64: SwiGLU pairs and MXFP4 output blocks stay
 * in one item; 256 rather than 64: decode streams longer runs of rows). */
#define GPTOSS_ROW_CHUNK 256u

/* n_threads: 0 = every CPU the process may run on. */
gptoss_status gptoss_workspace_init(gptoss_workspace *w, const gptoss_model *m, uint32_t n_max, uint32_t n_ctx,
                                    uint32_t max_seqs, uint32_t n_threads);
void gptoss_workspace_free(gptoss_workspace *w);

struct gptoss_session {
    const gptoss_model *model;
    uint32_t n_ctx, n_batch, n_tokens;
    /* The furthest position count written since the last reset (n_tokens can be rewound below it):
     * a sliding layer's ring holds positions [n_written - cap, n_tokens) and nothing older. */
    uint32_t n_written;
    gptoss_kv *kv;            /* [n_layers] */
    gptoss_workspace ws;      /* prefill chunks of up to n_batch tokens */
    float *logits;            /* [vocab] after the last token */
    int has_logits;
    struct gptoss_cuda_session *cuda; /* Non-NULL: the session runs on the GPU */
    uint64_t dist_id; /* a sharded model's session: the id the other ranks know it by (engine/dist.c) */
};

/* engine/dist.c: rank 0 of a sharded run tells the other ranks what it does to its sessions and
 * batches before doing it, so that they run the same forward passes (gptoss_dist_follow). A create
 * fails when any rank's does; err then says which and why. */
struct gptoss_batch;
gptoss_status gptoss_dist_lead_session_create(gptoss_session *s, const gptoss_session_options *o, char *err,
                                              size_t err_size);
void gptoss_dist_lead_session_free(const gptoss_session *s);
void gptoss_dist_lead_session_reset(const gptoss_session *s);
void gptoss_dist_lead_session_truncate(const gptoss_session *s, uint32_t n_tokens);
void gptoss_dist_lead_session_append(const gptoss_session *s, const uint32_t *ids, size_t n_ids, int all_logits);
void gptoss_dist_lead_session_copy_prefix(const gptoss_session *dst, const gptoss_session *src, uint32_t n_tokens);
uint64_t gptoss_dist_lead_batch_create(const gptoss_model *m, uint32_t max_sequences, uint32_t max_ctx, char *err,
                                       size_t err_size); /* the batch's id, 0 when a rank failed */
void gptoss_dist_lead_batch_decode(const gptoss_model *m, uint64_t batch_id, gptoss_session *const *sessions,
                                   const uint32_t *ids, size_t n);
void gptoss_dist_lead_batch_free(const gptoss_model *m, uint64_t batch_id);
/* gptoss_model_load when the process is one of several ranks: every rank opens its share, and all
 * agree, or all fail with rank 0's message saying which rank could not and why. */
gptoss_status gptoss_dist_model_open(const char *path, const gptoss_model_options *o, gptoss_model **out, char *err,
                                     size_t err_size);
/* 1 when this process leads (rank 0 of a sharded model): the session calls then tell the others. */
static inline int gptoss_dist_leads(const gptoss_model *m) { return m->shard && m->shard->rank == 0; }

/* Runs the n tokens described by w->seq / w->pos (n <= w->n_max) through the model, writes their
 * keys and values into each session's cache, and leaves each session's next-token logits in its
 * `logits` (n_tokens advanced). If all_logits is not NULL (one session only) it receives n rows. */
void gptoss_forward(const gptoss_model *m, gptoss_workspace *w, const uint32_t *ids, uint32_t n, float *all_logits);

#endif
