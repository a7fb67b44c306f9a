/* kernels.c: scalar reference implementations of the CPU kernels (see kernels.h). They define what
 * "exact" means for this engine; faster variants are tested against them. */
#include <math.h>
#include <string.h>

#include "cpu/kernels.h"

const float gptoss_fp4_values[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

float gptoss_dot_f32(const float *a, const float *b, size_t n) {
    /* Eight partial sums: vectorisable without -ffast-math, and no less accurate than one. */
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

void gptoss_matmul_dense_f32(float *out, size_t out_stride, const gptoss_mat *w, const float *bias, const float *x,
                             size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1, float *row_scratch) {
    const size_t cols = (size_t)w->cols;
    for (uint64_t r = r0; r < r1; r++) {
        const float *row;
        if (w->dtype == GPTOSS_DTYPE_F32) {
            row = (const float *)w->data + r * cols;
        } else {
            gptoss_to_f32(row_scratch, w->data, w->dtype, r * cols, cols);
            row = row_scratch;
        }
        float b = bias ? bias[r] : 0.0f;
        for (size_t t = 0; t < n_tok; t++) out[t * out_stride + r] = gptoss_dot_f32(row, x + t * x_stride, cols) + b;
    }
}

static float e8m0_scale(uint8_t s) { return ldexpf(1.0f, (int)s - 127); }

void gptoss_mxfp4_row_to_f32(float *dst, const gptoss_mxfp4 *w, uint64_t expert, uint64_t row) {
    const uint64_t nb = w->cols / 32;
    const uint8_t *blk = w->blocks + (expert * w->rows + row) * nb * 16;
    const uint8_t *sc = w->scales + (expert * w->rows + row) * nb;
    for (uint64_t b = 0; b < nb; b++) {
        float s = e8m0_scale(sc[b]);
        for (int j = 0; j < 16; j++) {
            uint8_t byte = blk[b * 16 + j];
            dst[b * 32 + 2 * j] = gptoss_fp4_values[byte & 15] * s;
            dst[b * 32 + 2 * j + 1] = gptoss_fp4_values[byte >> 4] * s;
        }
    }
}

void gptoss_matmul_mxfp4_f32(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t expert,
                             const float *bias, const float *x, size_t x_stride, size_t n_tok, uint64_t r0,
                             uint64_t r1, float *row_scratch) {
    const size_t cols = (size_t)w->cols;
    for (uint64_t r = r0; r < r1; r++) {
        gptoss_mxfp4_row_to_f32(row_scratch, w, expert, r);
        float b = bias ? bias[r] : 0.0f;
        for (size_t t = 0; t < n_tok; t++)
            out[t * out_stride + r] = gptoss_dot_f32(row_scratch, x + t * x_stride, cols) + b;
    }
}

void gptoss_rmsnorm_f32(float *y, const float *x, const float *gain, size_t n, float eps) {
    float ss = 0.0f;
    for (size_t i = 0; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (size_t i = 0; i < n; i++) y[i] = x[i] * inv * gain[i];
}

void gptoss_rope_f32(float *x, uint32_t n_heads, uint32_t head_dim, uint32_t pos, const float *inv_freq,
                     float concentration) {
    const uint32_t half = head_dim / 2;
    for (uint32_t i = 0; i < half; i++) {
        float angle = (float)pos * inv_freq[i];
        float c = cosf(angle) * concentration, s = sinf(angle) * concentration;
        for (uint32_t h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * head_dim;
            float a = v[i], b = v[i + half];
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
        }
    }
}

void gptoss_swiglu_f32(float *a, const float *u, size_t n, float limit) {
    for (size_t i = 0; i < n; i++) {
        float g = fminf(u[2 * i], limit);
        float lin = fmaxf(fminf(u[2 * i + 1], limit), -limit);
        a[i] = g / (1.0f + expf(-1.702f * g)) * (lin + 1.0f);
    }
}

void gptoss_topk_softmax_f32(const float *logits, uint32_t n, uint32_t k, uint32_t *idx, float *weights) {
    for (uint32_t j = 0; j < k; j++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t e = 0; e < n; e++) {
            int taken = 0;
            for (uint32_t q = 0; q < j && !taken; q++) taken = idx[q] == e;
            if (taken) continue;
            /* NaN never wins, so a NaN router logit cannot pick an arbitrary expert. */
            if (best == UINT32_MAX || logits[e] > logits[best] || (isnan(logits[best]) && !isnan(logits[e])))
                best = e;
        }
        idx[j] = best;
        weights[j] = logits[best];
    }
    float m = weights[0], sum = 0.0f;
    for (uint32_t j = 0; j < k; j++) {
        weights[j] = expf(weights[j] - m);
        sum += weights[j];
    }
    for (uint32_t j = 0; j < k; j++) weights[j] /= sum;
}

/* The attention reference for a cache of f32, f16 or bf24 elements: one body, so the types differ
 * only in how a cached element is read, and on values they represent give the same bits. */
static inline float cached(const void *cache, int type, size_t stride, uint32_t slot, size_t d) {
    if (type == GPTOSS_KV_F16) return gptoss_f16_to_f32(((const uint16_t *)cache)[(size_t)slot * stride + d]);
    if (type == GPTOSS_KV_BF24) return gptoss_bf24_row_get((const uint8_t *)cache + 3 * stride * slot, stride, d);
    return ((const float *)cache)[(size_t)slot * stride + d];
}

/* gptoss_dot_f32's summation order, the second operand read from a cache row. */
static inline float dot_cached(const float *a, const void *cache, int type, size_t stride, uint32_t slot, size_t n) {
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * cached(cache, type, stride, slot, i + j);
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * cached(cache, type, stride, slot, i);
    return r;
}

static inline void attention_head(float *out, const float *q, const void *k_cache, const void *v_cache, int type,
                                  size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                  float scale, float sink, float *scores) {
    /* Softmax over [scores..., sink]; the sink's share is dropped (it has no value vector). */
    float m = sink;
    for (uint32_t j = 0; j < n_keys; j++) {
        scores[j] = dot_cached(q, k_cache, type, kv_stride, slots[j], head_dim) * scale;
        if (scores[j] > m) m = scores[j];
    }
    float z = expf(sink - m);
    for (uint32_t j = 0; j < n_keys; j++) {
        scores[j] = expf(scores[j] - m);
        z += scores[j];
    }
    for (uint32_t d = 0; d < head_dim; d++) out[d] = 0.0f;
    for (uint32_t j = 0; j < n_keys; j++) {
        const float w = scores[j] / z;
        for (uint32_t d = 0; d < head_dim; d++) out[d] += w * cached(v_cache, type, kv_stride, slots[j], d);
    }
}

void gptoss_attention_head_f32(float *out, const float *q, const float *k_cache, const float *v_cache,
                               size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                               float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, GPTOSS_KV_F32, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

void gptoss_attention_head_f16(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                               size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                               float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, GPTOSS_KV_F16, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

void gptoss_attention_head_bf24(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, GPTOSS_KV_BF24, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

void gptoss_f32_to_f16_row(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        /* beyond f16's largest finite value an infinity would make every score of the row NaN */
        const float x = src[i] > 65504.0f ? 65504.0f : src[i] < -65504.0f ? -65504.0f : src[i];
        dst[i] = gptoss_f32_to_f16(x);
    }
}

/* Rounds at bit 8 to nearest even; a finite value beyond the largest bf24 saturates to it (rather
 * than becoming an infinity f32 would not have had); inf stays inf, NaN stays NaN. */
uint32_t gptoss_f32_to_bf24(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7f800000u) == 0x7f800000u) return (x >> 8) | ((x & 0x7fffffu) ? 0x4000u : 0u);
    uint32_t r = x + 0x7fu + ((x >> 8) & 1u);
    if ((r & 0x7f800000u) == 0x7f800000u) r = (x & 0x80000000u) | 0x7f7fffffu;
    return r >> 8;
}

void gptoss_f32_to_bf24_row(uint8_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const uint32_t b = gptoss_f32_to_bf24(src[i]);
        const uint16_t hi = (uint16_t)(b >> 8);
        memcpy(dst + 2 * i, &hi, sizeof hi);
        dst[2 * n + i] = (uint8_t)b;
    }
}

uint16_t gptoss_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0)); /* inf / NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                                 /* overflow */
    if (ax < 0x38800000u) {                                                                    /* subnormal */
        float a;
        memcpy(&a, &ax, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f)); /* units of 2^-24, ties to even */
    }
    uint32_t m = ax + 0xfffu + ((ax >> 13) & 1u); /* round to nearest even at bit 13 */
    return (uint16_t)(sign | ((m - 0x38000000u) >> 13));
}

void gptoss_quantize_row_q8_0(void *dst, const float *x, size_t n) {
    uint8_t *out = dst;
    for (size_t b = 0; b < n / GPTOSS_Q8_0_BLOCK; b++) {
        const float *v = x + b * GPTOSS_Q8_0_BLOCK;
        float amax = 0.0f;
        for (int j = 0; j < GPTOSS_Q8_0_BLOCK; j++) amax = fmaxf(amax, fabsf(v[j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        gptoss_block_q8_0 blk;
        blk.d = gptoss_f32_to_f16(d);
        for (int j = 0; j < GPTOSS_Q8_0_BLOCK; j++) blk.q[j] = (int8_t)lrintf(v[j] * id);
        memcpy(out + b * GPTOSS_Q8_0_BYTES, &blk, GPTOSS_Q8_0_BYTES);
    }
}
