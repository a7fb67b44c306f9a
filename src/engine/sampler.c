/* sampler.c: choosing the next token from logits: greedy, or temperature with top-k, top-p and
 * min-p filters, drawn from a seeded xoshiro256** generator; plus the stop-token set. Scratch is
 * allocated once per sampler so sampling never allocates. */
#include <math.h>
#include <stdlib.h>

#include "base/common.h"

struct gptoss_sampler {
    gptoss_sampler_options o;
    uint32_t vocab_size;
    uint32_t *stop_ids;
    uint64_t rng[4];
    uint32_t *idx;  /* candidate ids */
    float *prob;    /* their probabilities */
};

void gptoss_sampler_seed(gptoss_sampler *s, uint64_t seed) {
    if (!s) return;
    for (int i = 0; i < 4; i++) s->rng[i] = gptoss_splitmix64(&seed);
}

gptoss_status gptoss_sampler_create(uint32_t vocab_size, const gptoss_sampler_options *options,
                                    gptoss_sampler **out, char *err, size_t err_size) {
    if (out) *out = NULL;
    if (!out || vocab_size == 0) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "vocab size is 0");
    gptoss_sampler_options o = options ? *options : (gptoss_sampler_options){0};
    if (!isfinite(o.temperature) || !isfinite(o.top_p) || !isfinite(o.min_p) || o.top_p < 0 || o.min_p < 0 ||
        o.min_p > 1)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "sampler options out of range (temperature finite, 0 <= top_p, 0 <= min_p <= 1)");
    if (o.n_stop_ids && !o.stop_ids)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "n_stop_ids without stop_ids");
    gptoss_sampler *s = calloc(1, sizeof *s);
    if (!s) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    s->o = o;
    s->vocab_size = vocab_size;
    s->idx = malloc(vocab_size * sizeof *s->idx);
    s->prob = malloc(vocab_size * sizeof *s->prob);
    s->stop_ids = o.n_stop_ids ? malloc(o.n_stop_ids * sizeof *s->stop_ids) : NULL;
    if (!s->idx || !s->prob || (o.n_stop_ids && !s->stop_ids)) {
        gptoss_sampler_free(s);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    if (o.n_stop_ids) memcpy(s->stop_ids, o.stop_ids, o.n_stop_ids * sizeof *s->stop_ids);
    s->o.stop_ids = s->stop_ids;
    gptoss_sampler_seed(s, o.seed);
    *out = s;
    return GPTOSS_OK;
}

void gptoss_sampler_free(gptoss_sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s->prob);
    free(s->stop_ids);
    free(s);
}

int gptoss_sampler_is_stop(const gptoss_sampler *s, uint32_t id) {
    if (!s) return 0;
    for (size_t i = 0; i < s->o.n_stop_ids; i++)
        if (s->stop_ids[i] == id) return 1;
    return 0;
}


static void sort_desc(uint32_t *idx, float *prob, uint32_t n) {
    /* Shell sort: in place (no allocation while decoding) and deterministic on ties. */
    for (uint32_t gap = n / 2; gap > 0; gap = gap == 2 ? 1 : (uint32_t)(gap / 2.2)) {
        for (uint32_t i = gap; i < n; i++) {
            float p = prob[i];
            uint32_t id = idx[i], j = i;
            while (j >= gap && (prob[j - gap] < p || (prob[j - gap] == p && idx[j - gap] > id))) {
                prob[j] = prob[j - gap];
                idx[j] = idx[j - gap];
                j -= gap;
            }
            prob[j] = p;
            idx[j] = id;
        }
    }
}

/* Moves the k most probable candidates to the front (sorted). O(n log k) with a min-heap. */
static void select_top_k(uint32_t *idx, float *prob, uint32_t n, uint32_t k) {
#define LESS(a, b) (prob[a] < prob[b] || (prob[a] == prob[b] && idx[a] > idx[b]))
#define SWAP(a, b)                                                                                                    \
    do {                                                                                                              \
        float tp = prob[a]; prob[a] = prob[b]; prob[b] = tp;                                                          \
        uint32_t ti = idx[a]; idx[a] = idx[b]; idx[b] = ti;                                                           \
    } while (0)
    /* heap of the first k: the smallest at the root */
    for (uint32_t i = 1; i < k; i++)
        for (uint32_t c = i; c > 0 && LESS(c, (c - 1) / 2); c = (c - 1) / 2) SWAP(c, (c - 1) / 2);
    for (uint32_t i = k; i < n; i++) {
        if (!LESS(0, i)) continue;
        SWAP(0, i);
        for (uint32_t p = 0;;) {
            uint32_t l = 2 * p + 1, r = l + 1, m = p;
            if (l < k && LESS(l, m)) m = l;
            if (r < k && LESS(r, m)) m = r;
            if (m == p) break;
            SWAP(p, m);
            p = m;
        }
    }
#undef LESS
#undef SWAP
    sort_desc(idx, prob, k);
}

/* Draws from the m candidates already in s->idx (ascending ids): softmax(logits / T) over them, then
 * top-k, top-p and min-p. The masked and unmasked paths share it so that a mask is exactly the same
 * as setting the masked-out logits to -inf: same candidates order, same sums, same RNG draw. */
static gptoss_status sample_candidates(gptoss_sampler *s, const float *logits, uint32_t m, uint32_t *out_id) {
    const gptoss_sampler_options *o = &s->o;
    float mx = -INFINITY;
    for (uint32_t i = 0; i < m; i++)
        if (logits[s->idx[i]] > mx) mx = logits[s->idx[i]];
    if (!isfinite(mx)) return GPTOSS_ERR_OUT_OF_RANGE;
    double sum = 0.0;
    const float inv_t = 1.0f / o->temperature;
    for (uint32_t i = 0; i < m; i++) {
        float l = logits[s->idx[i]];
        float p = isnan(l) ? 0.0f : expf((l - mx) * inv_t);
        s->prob[i] = p;
        sum += p;
    }
    int sorted = 0;
    if (o->top_k > 0 && o->top_k < m) {
        select_top_k(s->idx, s->prob, m, o->top_k);
        m = o->top_k;
        sorted = 1;
        sum = 0.0;
        for (uint32_t i = 0; i < m; i++) sum += s->prob[i];
    }
    if (o->top_p > 0.0f && o->top_p < 1.0f) {
        if (!sorted) sort_desc(s->idx, s->prob, m);
        sorted = 1;
        double cum = 0.0, target = o->top_p * sum;
        uint32_t keep = 0;
        while (keep < m) {
            cum += s->prob[keep++];
            if (cum >= target) break;
        }
        m = keep;
        sum = cum;
    }
    if (o->min_p > 0.0f) {
        float pmax = 0.0f;
        for (uint32_t i = 0; i < m; i++)
            if (s->prob[i] > pmax) pmax = s->prob[i];
        float thr = o->min_p * pmax;
        uint32_t w = 0;
        sum = 0.0;
        for (uint32_t i = 0; i < m; i++)
            if (s->prob[i] >= thr) {
                s->idx[w] = s->idx[i];
                s->prob[w] = s->prob[i];
                sum += s->prob[w];
                w++;
            }
        m = w;
    }
    /* 53 random bits -> [0, 1) */
    double r = (double)(gptoss_xoshiro256ss(s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
    double cum = 0.0;
    for (uint32_t i = 0; i < m; i++) {
        cum += s->prob[i];
        if (r < cum) {
            *out_id = s->idx[i];
            return GPTOSS_OK;
        }
    }
    *out_id = s->idx[m - 1];
    return GPTOSS_OK;
}

/* Greedy choice among the candidates: the highest logit, the lowest id on ties, NaN never over a
 * number. */
static int better(const float *logits, uint32_t cand, uint32_t best) {
    return logits[cand] > logits[best] || (isnan(logits[best]) && !isnan(logits[cand]));
}

gptoss_status gptoss_sampler_sample(gptoss_sampler *s, const float *logits, uint32_t n, uint32_t *out_id) {
    if (!s || !logits || !out_id || n == 0 || n > s->vocab_size) return GPTOSS_ERR_INVALID_ARGUMENT;
    if (!(s->o.temperature > 0.0f)) {
        uint32_t best = 0;
        for (uint32_t i = 1; i < n; i++)
            if (better(logits, i, best)) best = i;
        *out_id = best;
        return GPTOSS_OK;
    }
    for (uint32_t i = 0; i < n; i++) s->idx[i] = i;
    return sample_candidates(s, logits, n, out_id);
}

gptoss_status gptoss_sampler_sample_masked(gptoss_sampler *s, const float *logits, uint32_t n, const uint32_t *bits,
                                           uint32_t *out_id) {
    if (!s || !logits || !bits || !out_id || n == 0 || n > s->vocab_size) return GPTOSS_ERR_INVALID_ARGUMENT;
    const uint32_t words = (n + 31) / 32;
    const int greedy = !(s->o.temperature > 0.0f);
    uint32_t m = 0, best = UINT32_MAX;
    for (uint32_t w = 0; w < words; w++) {
        uint32_t word = bits[w];
        if (w == words - 1 && (n & 31)) word &= (1u << (n & 31)) - 1u; /* ids >= n are not candidates */
        while (word) {
            uint32_t id = w * 32 + (uint32_t)__builtin_ctz(word);
            word &= word - 1u;
            if (greedy) {
                if (best == UINT32_MAX || better(logits, id, best)) best = id;
            } else {
                s->idx[m++] = id;
            }
        }
    }
    if (greedy) {
        if (best == UINT32_MAX) return GPTOSS_ERR_INVALID_ARGUMENT;
        *out_id = best;
        return GPTOSS_OK;
    }
    if (m == 0) return GPTOSS_ERR_INVALID_ARGUMENT;
    return sample_candidates(s, logits, m, out_id);
}
