/* shard.c: one rank's share of a model sharded over several processes: the bounds of its heads,
 * hidden rows, experts and vocabulary rows, the row slices of the dense matrices it computes, and
 * madvise advice that keeps other ranks' experts from being read ahead; and the per-rank byte counts
 * `gptoss info --ranks N` prints, computed from the same split without any communication. */
#include <stdlib.h>
#include <sys/mman.h>

#include "dist/dist.h"
#include "model/model.h"

/* No read-ahead into the bytes of experts [0, e0) and [e1, E) of w: another rank's, never read here.
 * Each array (blocks and scales; ggml: the gate and up halves) holds the experts one after another. */
static void advise_other_experts(const gptoss_mxfp4 *w, uint64_t e0, uint64_t e1) {
    const uint64_t per = w->rows * (w->cols / 32), E = w->n_experts;
    if (w->layout == GPTOSS_MXFP4_GGML) {
        const uint64_t rows = w->blocks_odd ? w->rows / 2 : w->rows, b = rows * (w->cols / 32) * 17;
        const uint8_t *arr[2] = {w->blocks, w->blocks_odd};
        for (int k = 0; k < 2; k++) {
            if (!arr[k]) continue;
            gptoss_model_advise_pages(arr[k], e0 * b, MADV_RANDOM);
            gptoss_model_advise_pages(arr[k] + e1 * b, (E - e1) * b, MADV_RANDOM);
        }
        return;
    }
    gptoss_model_advise_pages(w->blocks, e0 * per * 16, MADV_RANDOM);
    gptoss_model_advise_pages(w->blocks + e1 * per * 16, (E - e1) * per * 16, MADV_RANDOM);
    gptoss_model_advise_pages(w->scales, e0 * per, MADV_RANDOM);
    gptoss_model_advise_pages(w->scales + e1 * per, (E - e1) * per, MADV_RANDOM);
}

static uint64_t *bounds(uint64_t total, uint32_t n, uint64_t unit) {
    uint64_t *lo = malloc(((size_t)n + 1) * sizeof *lo);
    if (lo)
        for (uint32_t k = 0; k <= n; k++) lo[k] = gptoss_split_lo(total, n, k) * unit;
    return lo;
}

gptoss_status gptoss_model_shard_build(gptoss_model *m, uint32_t rank, uint32_t n_ranks, char *err, size_t err_size) {
    const gptoss_model_config *c = &m->config;
    if (n_ranks < 2 || rank >= n_ranks)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "rank %u of %u ranks", rank, n_ranks);
    gptoss_shard *s = calloc(1, sizeof *s);
    if (!s) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    const uint32_t G = c->n_kv_heads ? c->n_heads / c->n_kv_heads : 1, dh = c->head_dim;
    s->rank = rank;
    s->n_ranks = n_ranks;
    s->kv0 = (uint32_t)gptoss_split_lo(c->n_kv_heads, n_ranks, rank);
    s->kv1 = (uint32_t)gptoss_split_lo(c->n_kv_heads, n_ranks, rank + 1);
    s->d0 = (uint32_t)gptoss_split_lo(c->hidden_size, n_ranks, rank);
    s->d1 = (uint32_t)gptoss_split_lo(c->hidden_size, n_ranks, rank + 1);
    s->e0 = (uint32_t)gptoss_split_lo(c->n_experts, n_ranks, rank);
    s->e1 = (uint32_t)gptoss_split_lo(c->n_experts, n_ranks, rank + 1);
    s->v0 = (uint32_t)gptoss_split_lo(c->vocab_size, n_ranks, rank);
    s->v1 = (uint32_t)gptoss_split_lo(c->vocab_size, n_ranks, rank + 1);
    s->layers = calloc(c->n_layers ? c->n_layers : 1, sizeof *s->layers);
    s->lo_q = bounds(c->n_kv_heads, n_ranks, (uint64_t)G * dh);
    s->lo_d = bounds(c->hidden_size, n_ranks, 1);
    s->lo_v = bounds(c->vocab_size, n_ranks, 1);
    if (!s->layers || !s->lo_q || !s->lo_d || !s->lo_v) {
        gptoss_model_shard_free(s);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    const uint64_t q0 = (uint64_t)s->kv0 * G * dh, q1 = (uint64_t)s->kv1 * G * dh;
    const uint64_t k0 = (uint64_t)s->kv0 * dh, k1 = (uint64_t)s->kv1 * dh;
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const gptoss_layer *L = &m->layers[l];
        gptoss_shard_layer *S = &s->layers[l];
        S->wq = gptoss_mat_rows(L->wq, q0, q1 - q0);
        S->wk = gptoss_mat_rows(L->wk, k0, k1 - k0);
        S->wv = gptoss_mat_rows(L->wv, k0, k1 - k0);
        S->wo = gptoss_mat_rows(L->wo, s->d0, s->d1 - s->d0);
        advise_other_experts(&L->mlp1, s->e0, s->e1);
        advise_other_experts(&L->mlp2, s->e0, s->e1);
    }
    s->unembedding = gptoss_mat_rows(m->unembedding, s->v0, s->v1 - s->v0);
    m->shard = s;
    return GPTOSS_OK;
}

void gptoss_model_shard_free(gptoss_shard *s) {
    if (!s) return;
    free(s->layers);
    free(s->lo_q);
    free(s->lo_d);
    free(s->lo_v);
    free(s);
}

static uint64_t rows_bytes(const gptoss_mat *w, uint64_t rows) { return rows * gptoss_row_bytes(w->dtype, w->cols); }

void gptoss_model_rank_bytes(const gptoss_model *m, uint32_t n_ranks, uint32_t rank, uint64_t *resident_bytes,
                             uint64_t *bytes_per_token) {
    uint64_t res = 0, tok = 0;
    if (m && n_ranks && rank < n_ranks && !m->no_host_weights) {
        const gptoss_model_config *c = &m->config;
        const uint64_t G = c->n_kv_heads ? c->n_heads / c->n_kv_heads : 1, dh = c->head_dim;
        const uint64_t kv = gptoss_split_lo(c->n_kv_heads, n_ranks, rank + 1) - gptoss_split_lo(c->n_kv_heads, n_ranks, rank);
        const uint64_t d = gptoss_split_lo(c->hidden_size, n_ranks, rank + 1) - gptoss_split_lo(c->hidden_size, n_ranks, rank);
        const uint64_t e = gptoss_split_lo(c->n_experts, n_ranks, rank + 1) - gptoss_split_lo(c->n_experts, n_ranks, rank);
        const uint64_t v = gptoss_split_lo(c->vocab_size, n_ranks, rank + 1) - gptoss_split_lo(c->vocab_size, n_ranks, rank);
        /* the dtypes as held: a sharded model's own slices (converted to Q8_0 alone) where it has them */
        const gptoss_shard *sh = m->shard;
        for (uint32_t l = 0; l < c->n_layers; l++) {
            const gptoss_layer *L = &m->layers[l];
            const gptoss_mat *wq = sh ? &sh->layers[l].wq : &L->wq, *wk = sh ? &sh->layers[l].wk : &L->wk;
            const gptoss_mat *wv = sh ? &sh->layers[l].wv : &L->wv, *wo = sh ? &sh->layers[l].wo : &L->wo;
            const uint64_t dense = rows_bytes(wq, kv * G * dh) + rows_bytes(wk, kv * dh) +
                                   rows_bytes(wv, kv * dh) + rows_bytes(wo, d) +
                                   rows_bytes(&L->router, L->router.rows);
            /* one expert: 17 bytes per 32 weights (16 of codes, one scale) and its bias rows */
            const uint64_t ex = (L->mlp1.rows * L->mlp1.cols + L->mlp2.rows * L->mlp2.cols) / 32 * 17 +
                                gptoss_row_bytes(L->mlp1_bias.dtype, L->mlp1_bias.cols) +
                                gptoss_row_bytes(L->mlp2_bias.dtype, L->mlp2_bias.cols);
            res += dense + e * ex;
            /* a token's top-k experts fall on this rank's e of E on average */
            tok += dense + (c->n_experts ? (uint64_t)c->n_experts_per_token * e * ex / c->n_experts : 0);
        }
        const gptoss_mat *unemb = sh ? &sh->unembedding : &m->unembedding;
        res += rows_bytes(unemb, v);
        tok += rows_bytes(unemb, v);
    }
    if (resident_bytes) *resident_bytes = res;
    if (bytes_per_token) *bytes_per_token = tok;
}
