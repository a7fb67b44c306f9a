/* attention_avx2.c: query heads against the cached keys and values (the contract of
 * gptoss_attention_head_f32) with AVX2 + FMA, for head_dim a multiple of 8 (one head: up to 256;
 * the grouped kernel: up to 128, more goes per head): one head, or the query heads sharing one kv
 * head in a single pass over its keys and values; the attention of avx2 and avx2vnni. Scores are
 * q . k over head_dim in ymm lanes, eight keys at a time (eight independent FMA chains), reduced to
 * one vector of eight scores by a vhaddps tree, so the softmax (exp from vexp_avx2.h) and the
 * weighted sum of values run eight keys per instruction too. The cache holds f32, f16 or bf24
 * elements (gptoss_kv_type), which the loads widen exactly; arithmetic is f32 throughout. Only the
 * summation order differs from the reference, and the grouped kernel gives each head bit for bit
 * what the one-head kernel does (the same operations on each head's numbers, in the same order). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline
/* loops over the keys of a block and the accumulators of a chunk, fully unrolled (their counts are
 * constants where called) so that their vectors stay in registers */
#define UNROLL _Pragma("GCC unroll 8")
#include "cpu/vexp_avx2.h"

enum {
    KB = 8,           /* keys per score block */
    HEAD_NV = 32,     /* one head: head_dim <= 256 (32 vectors) */
    GROUP_NV = 16,    /* grouped: head_dim <= 128 */
    GROUP_HEADS = 16, /* grouped: at most 16 query heads per kv head */
    VALUE_SLICE = 32  /* keys per slice of the grouped value pass: 32 rows of head_dim 64 are 8 KiB of L1 */
};

/* the cache's element type: a gptoss_kv_type (never AUTO) */
enum { F32 = GPTOSS_KV_F32, F16 = GPTOSS_KV_F16, BF24 = GPTOSS_KV_BF24 };

/* Row `slot` of a cache of `type` elements (rows of `stride` elements), and its vector d (elements
 * 8d..8d+7) widened to f32. A bf24 row is its upper 16-bit halves, then its third bytes. */
TGT static INL const void *cache_row(const void *cache, size_t slot, size_t stride, const int type) {
    if (type == F16) return (const uint16_t *)cache + slot * stride;
    if (type == BF24) return (const uint8_t *)cache + 3 * slot * stride;
    return (const float *)cache + slot * stride;
}
TGT static INL __m256 load8(const void *row, uint32_t d, const int type, size_t stride) {
    if (type == F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + 8 * d)));
    if (type == BF24) {
        const uint8_t *r = row;
        const __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(r + 16 * d)));
        const __m256i lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(r + 2 * stride + 8 * d)));
        return _mm256_castsi256_ps(_mm256_or_si256(_mm256_slli_epi32(hi, 16), _mm256_slli_epi32(lo, 8)));
    }
    return _mm256_loadu_ps((const float *)row + 8 * d);
}

/* q . k (q already scaled) as eight lane sums for nk keys whose rows are kr[]: one FMA chain per key,
 * over the row's vectors in ascending order. */
TGT static INL void key_dots(__m256 *p, const int nk, const __m256 *qv, const void *const *kr, const int type,
                             size_t stride, uint32_t nv) {
    UNROLL
    for (int i = 0; i < nk; i++) p[i] = _mm256_mul_ps(qv[0], load8(kr[i], 0, type, stride));
    for (uint32_t d = 1; d < nv; d++) {
        const __m256 qd = qv[d];
        UNROLL
        for (int i = 0; i < nk; i++) p[i] = _mm256_fmadd_ps(qd, load8(kr[i], d, type, stride), p[i]);
    }
}

/* Eight vectors -> one whose lane i is the sum of p[i]'s lanes, each as ((0+1) + (2+3)) + ((4+5) + (6+7)). */
TGT static INL __m256 reduce8(const __m256 *p) {
    const __m256 a0 = _mm256_hadd_ps(p[0], p[1]), a1 = _mm256_hadd_ps(p[2], p[3]);
    const __m256 a2 = _mm256_hadd_ps(p[4], p[5]), a3 = _mm256_hadd_ps(p[6], p[7]);
    /* b0: lanes 0-3 the 0-3 sums of p[0..3], lanes 4-7 their 4-7 sums; b1 the same for p[4..7] */
    const __m256 b0 = _mm256_hadd_ps(a0, a1), b1 = _mm256_hadd_ps(a2, a3);
    return _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

/* One vector's lane sum in reduce8's order. */
TGT static INL float hsum(__m256 p) {
    const __m256 a = _mm256_hadd_ps(p, p), b = _mm256_hadd_ps(a, a);
    return _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1)));
}

TGT static INL float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/* Scores of keys [j, j + KB) into sc + j, their lane-wise maximum into *vmax. */
TGT static INL void score_block(float *sc, uint32_t j, __m256 *vmax, const __m256 *qv, const void *const *kr,
                                const int type, size_t stride, uint32_t nv) {
    __m256 p[KB];
    key_dots(p, KB, qv, kr, type, stride, nv);
    const __m256 r = reduce8(p);
    _mm256_storeu_ps(sc + j, r);
    *vmax = _mm256_max_ps(*vmax, r);
}

/* The score of one key past the last full block. */
TGT static INL float score_one(const __m256 *qv, const void *k, const int type, size_t stride, uint32_t nv) {
    __m256 p;
    key_dots(&p, 1, qv, &k, type, stride, nv);
    return hsum(p);
}

/* Softmax over [scores..., sink] in place, given the maximum of the full blocks' scores lane-wise in
 * vmax (the tail keys are folded in here); returns 1 / the normalizer. The sink's share is dropped
 * (it has no value vector). The last partial block goes through masked loads and stores, so nothing
 * past scores[n_keys - 1] is touched. */
TGT static INL float softmax_in_place(float *sc, uint32_t n_keys, __m256 vmax, float sink) {
    float m = hmax(vmax);
    for (uint32_t i = n_keys / KB * KB; i < n_keys; i++) m = sc[i] > m ? sc[i] : m;
    const __m256 vm = _mm256_set1_ps(m);
    __m256 vz = _mm256_setzero_ps();
    uint32_t i = 0;
    for (; i + KB <= n_keys; i += KB) {
        const __m256 e = gptoss_exp256(_mm256_sub_ps(_mm256_loadu_ps(sc + i), vm));
        _mm256_storeu_ps(sc + i, e);
        vz = _mm256_add_ps(vz, e);
    }
    if (i < n_keys) {
        const __m256i mask =
            _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n_keys - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        /* the masked-off lanes read 0; their (finite: exp256 clamps) exponentials are dropped */
        const __m256 e = _mm256_and_ps(gptoss_exp256(_mm256_sub_ps(_mm256_maskload_ps(sc + i, mask), vm)),
                                       _mm256_castsi256_ps(mask));
        _mm256_maskstore_ps(sc + i, mask, e);
        vz = _mm256_add_ps(vz, e);
    }
    return 1.0f / (expf(sink - m) + hsum(vz));
}

/* The value pass of DC vectors (elements 8 d0 .. 8 (d0 + DC) - 1) of one head over keys [i0, i1):
 * acc += w[i] * v[i] in ascending key order, v[i] row i - i0 of `rows` (widened f32 rows of nv
 * vectors) or, where rows is NULL, the cache's row slots[i]. DC is a constant where called, so the
 * accumulators stay in registers. */
TGT static INL void values_dc(__m256 *acc, const int DC, uint32_t d0, const float *w, const float *rows,
                              uint32_t nv, const void *v_cache, const int type, size_t stride, const uint32_t *slots,
                              uint32_t i0, uint32_t i1) {
    __m256 a[8];
    UNROLL
    for (int x = 0; x < DC; x++) a[x] = acc[x];
    for (uint32_t i = i0; i < i1; i++) {
        const __m256 wi = _mm256_set1_ps(w[i]);
        if (rows) {
            const float *v = rows + (size_t)(i - i0) * nv * 8;
            UNROLL
            for (int x = 0; x < DC; x++) a[x] = _mm256_fmadd_ps(wi, load8(v, d0 + x, F32, stride), a[x]);
        } else {
            const void *v = cache_row(v_cache, slots[i], stride, type);
            UNROLL
            for (int x = 0; x < DC; x++) a[x] = _mm256_fmadd_ps(wi, load8(v, d0 + x, type, stride), a[x]);
        }
    }
    UNROLL
    for (int x = 0; x < DC; x++) acc[x] = a[x];
}

/* acc[0..nv) += the value pass over keys [i0, i1) in chunks of the widest DC of 8, 4, 2, 1 that
 * divides nv: each element's sum is one FMA chain over the keys either way. */
TGT static INL void values(__m256 *acc, const float *w, const float *rows, uint32_t nv, const void *v_cache,
                           const int type, size_t stride, const uint32_t *slots, uint32_t i0, uint32_t i1) {
    const int dc = nv % 8 == 0 ? 8 : nv % 4 == 0 ? 4 : nv % 2 == 0 ? 2 : 1;
    for (uint32_t d0 = 0; d0 < nv; d0 += (uint32_t)dc)
        switch (dc) {
        case 8: values_dc(acc + d0, 8, d0, w, rows, nv, v_cache, type, stride, slots, i0, i1); break;
        case 4: values_dc(acc + d0, 4, d0, w, rows, nv, v_cache, type, stride, slots, i0, i1); break;
        case 2: values_dc(acc + d0, 2, d0, w, rows, nv, v_cache, type, stride, slots, i0, i1); break;
        default: values_dc(acc + d0, 1, d0, w, rows, nv, v_cache, type, stride, slots, i0, i1);
        }
}

TGT static INL void attention_head(float *out, const float *q, const void *k_cache, const void *v_cache, const int type,
                                   size_t stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                   float scale, float sink, float *scores) {
    if (!head_dim || head_dim % 8 || head_dim > 8 * HEAD_NV) {
        if (type == F16)
            gptoss_attention_head_f16(out, q, k_cache, v_cache, stride, slots, n_keys, head_dim, scale, sink, scores);
        else if (type == BF24)
            gptoss_attention_head_bf24(out, q, k_cache, v_cache, stride, slots, n_keys, head_dim, scale, sink, scores);
        else
            gptoss_attention_head_f32(out, q, k_cache, v_cache, stride, slots, n_keys, head_dim, scale, sink, scores);
        return;
    }
    const uint32_t nv = head_dim / 8;
    __m256 qv[HEAD_NV];
    for (uint32_t d = 0; d < nv; d++) qv[d] = _mm256_mul_ps(_mm256_loadu_ps(q + 8 * d), _mm256_set1_ps(scale));
    __m256 vmax = _mm256_set1_ps(sink);
    uint32_t j = 0;
    for (; j + KB <= n_keys; j += KB) {
        const void *kr[KB];
        for (int i = 0; i < KB; i++) kr[i] = cache_row(k_cache, slots[j + i], stride, type);
        score_block(scores, j, &vmax, qv, kr, type, stride, nv);
    }
    for (; j < n_keys; j++) scores[j] = score_one(qv, cache_row(k_cache, slots[j], stride, type), type, stride, nv);
    const float inv = softmax_in_place(scores, n_keys, vmax, sink);
    __m256 acc[HEAD_NV];
    for (uint32_t d = 0; d < nv; d++) acc[d] = _mm256_setzero_ps();
    values(acc, scores, NULL, nv, v_cache, type, stride, slots, 0, n_keys);
    for (uint32_t d = 0; d < nv; d++) _mm256_storeu_ps(out + 8 * d, _mm256_mul_ps(acc[d], _mm256_set1_ps(inv)));
}

TGT void gptoss_attention_head_avx2(float *out, const float *q, const float *k_cache, const float *v_cache,
                                    size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                    float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, F32, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

TGT void gptoss_attention_head_f16_avx2(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                                        size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                        float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, F16, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

TGT void gptoss_attention_head_bf24_avx2(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                         size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                         float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, BF24, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

/* The query heads of one kv head (n_heads <= GROUP_HEADS, nv <= GROUP_NV). Each head's operations,
 * and their order, are attention_head's; only which head runs when changes. */
TGT static INL void attention_group_heads(float *out, size_t out_stride, const float *q, size_t q_stride,
                                          uint32_t n_heads, const void *k_cache, const void *v_cache, const int type,
                                          size_t stride, const uint32_t *slots, uint32_t n_keys, uint32_t nv,
                                          float scale, const float *sinks, float *scores) {
    const size_t ld = ((size_t)n_keys + 7) / 8 * 8; /* scores of head h at scores + h * ld */
    __m256 qv[GROUP_HEADS * GROUP_NV], vmax[GROUP_HEADS];
    float inv[GROUP_HEADS];
    for (uint32_t h = 0; h < n_heads; h++) {
        for (uint32_t d = 0; d < nv; d++)
            qv[h * nv + d] = _mm256_mul_ps(_mm256_loadu_ps(q + h * q_stride + 8 * d), _mm256_set1_ps(scale));
        vmax[h] = _mm256_set1_ps(sinks[h]);
    }
    /* Every head takes its turn on a block of keys while the block is in L1, rather than each head
     * bringing every key in from L2 (or beyond) again. A narrower cache's block (and later each value
     * slice) is widened once into `wide`, not once per head: the widening is exact, so the bits are
     * those of reading the cache directly. */
    __attribute__((aligned(32))) float wide[VALUE_SLICE * 8 * GROUP_NV];
    uint32_t j = 0;
    for (; j + KB <= n_keys; j += KB) {
        const void *kr[KB];
        for (int i = 0; i < KB; i++) {
            const void *row = cache_row(k_cache, slots[j + i], stride, type);
            if (type == F32) {
                kr[i] = row;
                continue;
            }
            float *wr = wide + (size_t)i * nv * 8;
            for (uint32_t d = 0; d < nv; d++) _mm256_store_ps(wr + 8 * d, load8(row, d, type, stride));
            kr[i] = wr;
        }
        for (uint32_t h = 0; h < n_heads; h++)
            score_block(scores + h * ld, j, &vmax[h], qv + h * nv, kr, F32, stride, nv);
    }
    for (; j < n_keys; j++) {
        const void *k = cache_row(k_cache, slots[j], stride, type);
        for (uint32_t h = 0; h < n_heads; h++) scores[h * ld + j] = score_one(qv + h * nv, k, type, stride, nv);
    }
    for (uint32_t h = 0; h < n_heads; h++) inv[h] = softmax_in_place(scores + h * ld, n_keys, vmax[h], sinks[h]);
    /* The keys in slices of VALUE_SLICE: every head takes its turn on a slice while its values are in
     * L1 (the accumulators wait in `parked` between slices), so the values come in from memory once,
     * not once per head. Each head's sums still take the keys in ascending order, from zero, as
     * attention_head's do. */
    __m256 parked[GROUP_HEADS * GROUP_NV];
    for (uint32_t x = 0; x < n_heads * nv; x++) parked[x] = _mm256_setzero_ps();
    for (uint32_t i0 = 0; i0 < n_keys; i0 += VALUE_SLICE) {
        const uint32_t i1 = n_keys - i0 > VALUE_SLICE ? i0 + VALUE_SLICE : n_keys;
        if (type != F32)
            for (uint32_t i = i0; i < i1; i++) {
                const void *row = cache_row(v_cache, slots[i], stride, type);
                for (uint32_t d = 0; d < nv; d++)
                    _mm256_store_ps(wide + ((i - i0) * nv + d) * 8, load8(row, d, type, stride));
            }
        for (uint32_t h = 0; h < n_heads; h++)
            values(parked + h * nv, scores + h * ld, type == F32 ? NULL : wide, nv, v_cache, F32, stride, slots, i0,
                   i1);
    }
    for (uint32_t x = 0; x < n_heads * nv; x++)
        _mm256_storeu_ps(out + (x / nv) * out_stride + 8 * (x % nv),
                         _mm256_mul_ps(parked[x], _mm256_set1_ps(inv[x / nv])));
}

TGT static INL void attention_group(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                    const void *k_cache, const void *v_cache, const int type, size_t stride,
                                    const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                    const float *sinks, float *scores) {
    /* Rows longer than GROUP_NV vectors (gpt-oss has 8), rows the one-head kernel hands to the
     * reference, and more than GROUP_HEADS heads take the one-head kernel per head. */
    if (n_heads <= GROUP_HEADS && head_dim && head_dim % 8 == 0 && head_dim <= 8 * GROUP_NV)
        attention_group_heads(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, type, stride, slots, n_keys,
                              head_dim / 8, scale, sinks, scores);
    else
        for (uint32_t h = 0; h < n_heads; h++)
            attention_head(out + h * out_stride, q + h * q_stride, k_cache, v_cache, type, stride, slots, n_keys,
                           head_dim, scale, sinks[h], scores);
}

TGT void gptoss_attention_group_avx2(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                     const float *k_cache, const float *v_cache, size_t kv_stride,
                                     const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                     const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, F32, kv_stride, slots, n_keys, head_dim,
                    scale, sinks, scores);
}

TGT void gptoss_attention_group_f16_avx2(float *out, size_t out_stride, const float *q, size_t q_stride,
                                         uint32_t n_heads, const uint16_t *k_cache, const uint16_t *v_cache,
                                         size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                         float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, F16, kv_stride, slots, n_keys, head_dim,
                    scale, sinks, scores);
}

TGT void gptoss_attention_group_bf24_avx2(float *out, size_t out_stride, const float *q, size_t q_stride,
                                          uint32_t n_heads, const uint8_t *k_cache, const uint8_t *v_cache,
                                          size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                          float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, BF24, kv_stride, slots, n_keys,
                    head_dim, scale, sinks, scores);
}
#endif
