/* attention_neon.c: query heads against the cached keys and values (the contract of
 * gptoss_attention_head_f32) with AArch64 NEON, for head_dim a multiple of 4 (one head: up to 256;
 * the grouped kernel: up to 128, more goes per head): one head, or the query heads sharing one kv
 * head in a single pass over its keys and values; the attention of neon, neondot and neoni8mm.
 * Scores are q . k over head_dim in float32x4 lanes, eight keys at a time (eight independent FMA
 * chains), each key's four lanes then added pairwise (faddp), so the softmax (exp from vexp_neon.h)
 * and the weighted sum of values run four keys per instruction. The cache holds f32, f16 or bf24
 * elements (gptoss_kv_type), which the loads widen exactly; arithmetic is f32 throughout. Only the
 * summation order differs from the reference, and the grouped kernel gives each head bit for bit
 * what the one-head kernel does (the same operations on each head's numbers, in the same order).
 * Compiled only for AArch64 (ASIMD is part of its ABI: no target attribute, no run-time check). */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "cpu/vexp_neon.h"

#define INL __attribute__((always_inline)) inline
enum {
    KB = 8,            /* keys per score block */
    HEAD_NV = 64,      /* one head: head_dim <= 256 (64 vectors) */
    GROUP_NV = 32,     /* grouped: head_dim <= 128 */
    GROUP_HEADS = 16,  /* grouped: at most 16 query heads per kv head */
    VALUE_SLICE = 32,  /* keys per slice of the grouped value pass: 32 rows of head_dim 64 are 8 KiB of L1 */
    VALUE_ACC = 16     /* accumulators the grouped value pass keeps in registers (of 32) */
};

/* the cache's element type: a gptoss_kv_type (never AUTO) */
enum { F32 = GPTOSS_KV_F32, F16 = GPTOSS_KV_F16, BF24 = GPTOSS_KV_BF24 };

/* Row `slot` of a cache of `type` elements (rows of `stride` elements), and its vector d (elements
 * 4d..4d+3) widened to f32. A bf24 row is its upper 16-bit halves, then its third bytes. */
static INL const void *cache_row(const void *cache, size_t slot, size_t stride, const int type) {
    if (type == F16) return (const uint16_t *)cache + slot * stride;
    if (type == BF24) return (const uint8_t *)cache + 3 * slot * stride;
    return (const float *)cache + slot * stride;
}
static INL float32x4_t load4(const void *row, uint32_t d, const int type, size_t stride) {
    if (type == F16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)row + 4 * d)));
    if (type == BF24) {
        const uint8_t *r = row;
        /* bytes, not u16 loads: a bf24 row starts at 3 * stride * slot, which may be odd */
        const uint32x4_t hi = vshll_n_u16(vreinterpret_u16_u8(vld1_u8(r + 8 * d)), 16);
        uint32_t b;
        memcpy(&b, r + 2 * stride + 4 * d, 4);
        const uint32x4_t lo = vmovl_u16(vget_low_u16(vmovl_u8(vcreate_u8(b))));
        return vreinterpretq_f32_u32(vorrq_u32(hi, vshlq_n_u32(lo, 8)));
    }
    return vld1q_f32((const float *)row + 4 * d);
}

/* q . k (q already scaled) as four lane sums for KB keys whose rows are kr[], or one (nk = 1):
 * one FMA chain per key. */
static INL void key_dots(float32x4_t *p, const int nk, const float32x4_t *qv, const void *const *kr, const int type,
                         size_t stride, uint32_t nv) {
    for (int i = 0; i < nk; i++) p[i] = vmulq_f32(qv[0], load4(kr[i], 0, type, stride));
    for (uint32_t d = 1; d < nv; d++)
        for (int i = 0; i < nk; i++) p[i] = vfmaq_f32(p[i], qv[d], load4(kr[i], d, type, stride));
}

/* Scores of keys [j, j + KB) into sc + j, their lane-wise maximum into *vmax. */
static INL void score_block(float *sc, uint32_t j, float32x4_t *vmax, const float32x4_t *qv, const void *const *kr,
                            const int type, size_t stride, uint32_t nv) {
    float32x4_t p[KB];
    key_dots(p, KB, qv, kr, type, stride, nv);
    const float32x4_t r0 = vpaddq_f32(vpaddq_f32(p[0], p[1]), vpaddq_f32(p[2], p[3]));
    const float32x4_t r1 = vpaddq_f32(vpaddq_f32(p[4], p[5]), vpaddq_f32(p[6], p[7]));
    vst1q_f32(sc + j, r0);
    vst1q_f32(sc + j + 4, r1);
    *vmax = vmaxq_f32(*vmax, vmaxq_f32(r0, r1));
}

/* The score of one key past the last full block. */
static INL float score_one(const float32x4_t *qv, const void *k, const int type, size_t stride, uint32_t nv) {
    float32x4_t p;
    key_dots(&p, 1, qv, &k, type, stride, nv);
    return vaddvq_f32(p);
}

/* Softmax over [scores..., sink] in place, given the maximum of the full blocks' scores lane-wise
 * in vmax (the tail keys are folded in here); returns 1 / the normalizer. The sink's share is
 * dropped (it has no value vector). */
static INL float softmax_in_place(float *sc, uint32_t n_keys, float32x4_t vmax, float sink) {
    float m = vmaxvq_f32(vmax);
    for (uint32_t i = n_keys / KB * KB; i < n_keys; i++) m = sc[i] > m ? sc[i] : m;
    const float32x4_t vm = vdupq_n_f32(m);
    float32x4_t vz = vdupq_n_f32(0.0f);
    uint32_t i = 0;
    for (; i + 4 <= n_keys; i += 4) {
        const float32x4_t e = gptoss_vexpq(vsubq_f32(vld1q_f32(sc + i), vm));
        vst1q_f32(sc + i, e);
        vz = vaddq_f32(vz, e);
    }
    if (i < n_keys) {
        float t[4] = {m, m, m, m};
        const uint32_t n = n_keys - i;
        memcpy(t, sc + i, n * sizeof(float));
        vst1q_f32(t, gptoss_vexpq(vsubq_f32(vld1q_f32(t), vm)));
        for (uint32_t k = n; k < 4; k++) t[k] = 0.0f;
        vz = vaddq_f32(vz, vld1q_f32(t));
        memcpy(sc + i, t, n * sizeof(float));
    }
    return 1.0f / (expf(sink - m) + vaddvq_f32(vz));
}

/* out = inv * sum over keys i of w[i] * v[slot i] (head_dim = 4 nv), keys in ascending order. */
static INL void weighted_values(float *out, const float *w, float inv, const void *v_cache, const int type,
                                size_t stride, const uint32_t *slots, uint32_t n_keys, uint32_t nv) {
    float32x4_t acc[HEAD_NV];
    for (uint32_t d = 0; d < nv; d++) acc[d] = vdupq_n_f32(0.0f);
    for (uint32_t i = 0; i < n_keys; i++) {
        const void *v = cache_row(v_cache, slots[i], stride, type);
        const float32x4_t wi = vdupq_n_f32(w[i]);
        for (uint32_t d = 0; d < nv; d++) acc[d] = vfmaq_f32(acc[d], wi, load4(v, d, type, stride));
    }
    for (uint32_t d = 0; d < nv; d++) vst1q_f32(out + 4 * d, vmulq_n_f32(acc[d], inv));
}

/* One head, nv = head_dim / 4 (a constant where the caller dispatches on it, so that the loops over a
 * row's vectors unroll and keep them in registers). */
static INL void head_nv(float *out, const float *q, const void *k_cache, const void *v_cache, const int type,
                        size_t stride, const uint32_t *slots, uint32_t n_keys, const uint32_t nv, float scale,
                        float sink, float *scores) {
    float32x4_t qv[HEAD_NV];
    for (uint32_t d = 0; d < nv; d++) qv[d] = vmulq_n_f32(vld1q_f32(q + 4 * d), scale);
    float32x4_t vmax = vdupq_n_f32(sink);
    uint32_t j = 0;
    for (; j + KB <= n_keys; j += KB) {
        const void *kr[KB];
        for (int i = 0; i < KB; i++) kr[i] = cache_row(k_cache, slots[j + i], stride, type);
        score_block(scores, j, &vmax, qv, kr, type, stride, nv);
    }
    for (; j < n_keys; j++) scores[j] = score_one(qv, cache_row(k_cache, slots[j], stride, type), type, stride, nv);
    weighted_values(out, scores, softmax_in_place(scores, n_keys, vmax, sink), v_cache, type, stride, slots, n_keys,
                    nv);
}

static INL void attention_head(float *out, const float *q, const void *k_cache, const void *v_cache, const int type,
                               size_t stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                               float sink, float *scores) {
#define HEAD(NV) head_nv(out, q, k_cache, v_cache, type, stride, slots, n_keys, NV, scale, sink, scores)
    if (head_dim == 64) HEAD(16); /* gpt-oss */
    else if (head_dim == 32) HEAD(8);
    else if (head_dim && head_dim % 4 == 0 && head_dim <= 4 * HEAD_NV) HEAD(head_dim / 4);
    else if (type == F16)
        gptoss_attention_head_f16(out, q, k_cache, v_cache, stride, slots, n_keys, head_dim, scale, sink, scores);
    else if (type == BF24)
        gptoss_attention_head_bf24(out, q, k_cache, v_cache, stride, slots, n_keys, head_dim, scale, sink, scores);
    else
        gptoss_attention_head_f32(out, q, k_cache, v_cache, stride, slots, n_keys, head_dim, scale, sink, scores);
#undef HEAD
}

void gptoss_attention_head_neon(float *out, const float *q, const float *k_cache, const float *v_cache,
                                size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, F32, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

void gptoss_attention_head_f16_neon(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                                    size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                    float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, F16, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

void gptoss_attention_head_bf24_neon(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                     size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                     float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, BF24, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

/* The query heads of one kv head, nv as in head_nv. Each head's operations, and their order, are
 * head_nv's; only which head runs when changes. */
static INL void group_nv(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                         const void *k_cache, const void *v_cache, const int type, size_t stride, const uint32_t *slots,
                         uint32_t n_keys, const uint32_t nv, float scale, const float *sinks, float *scores) {
    const size_t ld = ((size_t)n_keys + 3) / 4 * 4; /* scores of head h at scores + h * ld */
    float32x4_t qv[GROUP_HEADS * GROUP_NV], vmax[GROUP_HEADS];
    float inv[GROUP_HEADS];
    for (uint32_t h = 0; h < n_heads; h++) {
        for (uint32_t d = 0; d < nv; d++) qv[h * nv + d] = vmulq_n_f32(vld1q_f32(q + h * q_stride + 4 * d), scale);
        vmax[h] = vdupq_n_f32(sinks[h]);
    }
    /* Every head takes its turn on a block of keys while the block is in L1. A narrower cache's block
     * (and later each value slice) is widened once into `wide`, not once per head: the widening is
     * exact, so the bits are those of reading the cache directly. */
    float wide[VALUE_SLICE * 4 * GROUP_NV] __attribute__((aligned(16)));
    uint32_t j = 0;
    for (; j + KB <= n_keys; j += KB) {
        const void *kr[KB];
        for (int i = 0; i < KB; i++) {
            const void *row = cache_row(k_cache, slots[j + i], stride, type);
            if (type == F32) {
                kr[i] = row;
                continue;
            }
            float *wr = wide + (size_t)i * nv * 4;
            for (uint32_t d = 0; d < nv; d++) vst1q_f32(wr + 4 * d, load4(row, d, type, stride));
            kr[i] = wr;
        }
        for (uint32_t h = 0; h < n_heads; h++) score_block(scores + h * ld, j, &vmax[h], qv + h * nv, kr, F32, stride, nv);
    }
    for (; j < n_keys; j++) {
        const void *k = cache_row(k_cache, slots[j], stride, type);
        for (uint32_t h = 0; h < n_heads; h++) scores[h * ld + j] = score_one(qv + h * nv, k, type, stride, nv);
    }
    for (uint32_t h = 0; h < n_heads; h++) inv[h] = softmax_in_place(scores + h * ld, n_keys, vmax[h], sinks[h]);
    /* hp heads at a time (VALUE_ACC accumulators), each value vector loaded once for them; the keys in
     * slices of VALUE_SLICE, every group of heads taking its turn on a slice while its values are in
     * L1 (the accumulators wait in `parked` between slices). Each head's sums still take the keys in
     * ascending order, from zero, as weighted_values does. */
    const uint32_t hp = nv >= VALUE_ACC ? 1 : VALUE_ACC / nv, h_full = n_heads / hp * hp;
    float32x4_t parked[GROUP_HEADS * GROUP_NV];
    for (uint32_t x = 0; x < h_full * nv; x++) parked[x] = vdupq_n_f32(0.0f);
    for (uint32_t i0 = 0; i0 < n_keys && h_full; i0 += VALUE_SLICE) {
        const uint32_t i1 = n_keys - i0 > VALUE_SLICE ? i0 + VALUE_SLICE : n_keys;
        if (type != F32)
            for (uint32_t i = i0; i < i1; i++) {
                const void *row = cache_row(v_cache, slots[i], stride, type);
                for (uint32_t d = 0; d < nv; d++) vst1q_f32(wide + ((i - i0) * nv + d) * 4, load4(row, d, type, stride));
            }
        for (uint32_t h0 = 0; h0 < h_full; h0 += hp) {
            float32x4_t a[GROUP_NV > VALUE_ACC ? GROUP_NV : VALUE_ACC];
            for (uint32_t x = 0; x < hp * nv; x++) a[x] = parked[h0 * nv + x];
            for (uint32_t i = i0; i < i1; i++) {
                const float *v = type == F32 ? cache_row(v_cache, slots[i], stride, F32) : wide + (i - i0) * nv * 4;
                float32x4_t w[VALUE_ACC];
                for (uint32_t e = 0; e < hp; e++) w[e] = vdupq_n_f32(scores[(h0 + e) * ld + i]);
                for (uint32_t d = 0; d < nv; d++) {
                    const float32x4_t vd = vld1q_f32(v + 4 * d);
                    for (uint32_t e = 0; e < hp; e++) a[e * nv + d] = vfmaq_f32(a[e * nv + d], w[e], vd);
                }
            }
            for (uint32_t x = 0; x < hp * nv; x++) parked[h0 * nv + x] = a[x];
        }
    }
    for (uint32_t x = 0; x < h_full * nv; x++)
        vst1q_f32(out + (x / nv) * out_stride + 4 * (x % nv), vmulq_n_f32(parked[x], inv[x / nv]));
    for (uint32_t h = h_full; h < n_heads; h++)
        weighted_values(out + h * out_stride, scores + h * ld, inv[h], v_cache, type, stride, slots, n_keys, nv);
}

static INL void attention_group(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                const void *k_cache, const void *v_cache, const int type, size_t stride,
                                const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                const float *sinks, float *scores) {
#define GROUP(NV)                                                                                                    \
    group_nv(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, type, stride, slots, n_keys, NV, scale, sinks, \
             scores)
    /* Rows longer than GROUP_NV vectors (gpt-oss has 16), rows the one-head kernel hands to the
     * reference, and more than GROUP_HEADS heads take the one-head kernel per head. */
    if (n_heads <= GROUP_HEADS && head_dim == 64) GROUP(16);
    else if (n_heads <= GROUP_HEADS && head_dim == 32) GROUP(8);
    else if (n_heads <= GROUP_HEADS && head_dim && head_dim % 4 == 0 && head_dim <= 4 * GROUP_NV) GROUP(head_dim / 4);
    else
        for (uint32_t h = 0; h < n_heads; h++)
            attention_head(out + h * out_stride, q + h * q_stride, k_cache, v_cache, type, stride, slots, n_keys,
                           head_dim, scale, sinks[h], scores);
#undef GROUP
}

void gptoss_attention_group_neon(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                 const float *k_cache, const float *v_cache, size_t kv_stride, const uint32_t *slots,
                                 uint32_t n_keys, uint32_t head_dim, float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, F32, kv_stride, slots, n_keys, head_dim,
                    scale, sinks, scores);
}

void gptoss_attention_group_f16_neon(float *out, size_t out_stride, const float *q, size_t q_stride,
                                     uint32_t n_heads, const uint16_t *k_cache, const uint16_t *v_cache,
                                     size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                     float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, F16, kv_stride, slots, n_keys, head_dim,
                    scale, sinks, scores);
}

void gptoss_attention_group_bf24_neon(float *out, size_t out_stride, const float *q, size_t q_stride,
                                      uint32_t n_heads, const uint8_t *k_cache, const uint8_t *v_cache,
                                      size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                      float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, BF24, kv_stride, slots, n_keys,
                    head_dim, scale, sinks, scores);
}
#endif
