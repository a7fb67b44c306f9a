/* attention_avx512.c: query heads against the cached keys and values (the contract of
 * gptoss_attention_head_f32) with AVX-512, for head_dim a multiple of 16: one head, or the query
 * heads sharing one kv head in a single pass over its keys and values. Scores are q . k over
 * head_dim in zmm lanes, sixteen keys at a time, then reduced to one vector of sixteen scores with a
 * transpose-and-add tree, so the softmax and the weighted sum of values run sixteen keys per
 * instruction too. The cache holds f32, f16 or bf24 elements (gptoss_kv_type), which the loads
 * widen exactly; arithmetic is f32 throughout. Only the summation order differs from the
 * reference, and the grouped kernel gives each head bit for bit what the one-head kernel does. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define INL __attribute__((always_inline)) inline
/* loops over the sixteen keys of a block and the vectors of a row, fully unrolled where their
 * counts are constants, so that their vectors stay in registers */
#define UNROLL _Pragma("GCC unroll 16")
#include "cpu/vexp_avx512.h"
/* keys per slice of the grouped kernel's value pass: 32 value rows of head_dim 64 are 8 KiB of L1 */
#define VALUE_SLICE 32u

/* the cache's element type: a gptoss_kv_type (never AUTO) */
enum { F32 = GPTOSS_KV_F32, F16 = GPTOSS_KV_F16, BF24 = GPTOSS_KV_BF24 };

/* Row `slot` of a cache of `type` elements (rows of `stride` elements), and its vector d widened to
 * f32. */
TGT static INL const void *cache_row(const void *cache, size_t slot, size_t stride, const int type) {
    if (type == F16) return (const uint16_t *)cache + slot * stride;
    if (type == BF24) return (const uint8_t *)cache + 3 * slot * stride;
    return (const float *)cache + slot * stride;
}
TGT static INL __m512 load16(const void *row, uint32_t d, const int type, size_t stride) {
    if (type == F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + 16 * d)));
    if (type == BF24) {
        const uint8_t *r = row;
        const __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(r + 32 * d)));
        const __m512i lo = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(r + 2 * stride + 16 * d)));
        return _mm512_castsi512_ps(_mm512_or_si512(_mm512_slli_epi32(hi, 16), _mm512_slli_epi32(lo, 8)));
    }
    return _mm512_loadu_ps((const float *)row + 16 * d);
}

/* a + b where lanes pair up in 128-bit halves: the sums of adjacent groups, halving the count. */
TGT static INL __m512 fold(__m512 a, __m512 b, const int step) {
    /* lanes of a and b interleaved so that adding the two shuffles sums partners `step` apart */
    __m512 lo, hi;
    if (step == 8) {
        lo = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0));
        hi = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    } else if (step == 4) {
        lo = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        hi = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    } else if (step == 2) {
        lo = _mm512_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0));
        hi = _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    } else {
        lo = _mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        hi = _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    }
    return _mm512_add_ps(lo, hi);
}

/* Sixteen vectors -> one vector whose lane i is the horizontal sum of v[i]. The tree leaves the sum
 * of v[4e + c] in lane 4c + e (a 4 x 4 transpose), which the last permute undoes. */
TGT static INL __m512 reduce16(const __m512 *v) {
    __m512 a[8], b[4], c[2];
    for (int i = 0; i < 8; i++) a[i] = fold(v[2 * i], v[2 * i + 1], 8);
    for (int i = 0; i < 4; i++) b[i] = fold(a[2 * i], a[2 * i + 1], 4);
    for (int i = 0; i < 2; i++) c[i] = fold(b[2 * i], b[2 * i + 1], 2);
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(idx, fold(c[0], c[1], 1));
}

/* Softmax over [scores..., sink] in place, given the maximum of the scores' full 16-key blocks
 * lane-wise in vmax (the tail keys are folded in here); returns 1 / the normalizer. The sink's share
 * is dropped (it has no value vector). */
TGT static INL float softmax_in_place(float *sc, uint32_t n_keys, __m512 vmax, float sink) {
    float m = _mm512_reduce_max_ps(vmax);
    for (uint32_t i = (n_keys / 16) * 16; i < n_keys; i++) m = sc[i] > m ? sc[i] : m;
    const __m512 vm = _mm512_set1_ps(m);
    __m512 vz = _mm512_setzero_ps();
    for (uint32_t i = 0; i < n_keys; i += 16) {
        const __mmask16 k = n_keys - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n_keys - i)) - 1);
        __m512 e = gptoss_exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, sc + i), vm));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(sc + i, k, e);
        vz = _mm512_add_ps(vz, e);
    }
    return 1.0f / (expf(sink - m) + _mm512_reduce_add_ps(vz));
}

/* out = inv * sum over keys i of w[i] * v[slot i] (head_dim = 16 nv), keys in ascending order. */
TGT static INL void weighted_values(float *out, const float *w, float inv, const void *v_cache, const int type,
                                    size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t nv) {
    __m512 acc[16];
    UNROLL
    for (uint32_t d = 0; d < nv; d++) acc[d] = _mm512_setzero_ps();
    for (uint32_t i = 0; i < n_keys; i++) {
        const void *v = cache_row(v_cache, slots[i], kv_stride, type);
        const __m512 wi = _mm512_set1_ps(w[i]);
        UNROLL
        for (uint32_t d = 0; d < nv; d++) acc[d] = _mm512_fmadd_ps(wi, load16(v, d, type, kv_stride), acc[d]);
    }
    UNROLL
    for (uint32_t d = 0; d < nv; d++) _mm512_storeu_ps(out + 16 * d, _mm512_mul_ps(acc[d], _mm512_set1_ps(inv)));
}

TGT static INL void attention_head(float *out, const float *q, const void *k_cache, const void *v_cache, const int type,
                                   size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                   float scale, float sink, float *scores) {
    if (head_dim % 16 || head_dim > 256) {
        if (type == F16)
            gptoss_attention_head_f16(out, q, k_cache, v_cache, kv_stride, slots, n_keys, head_dim, scale, sink,
                                      scores);
        else if (type == BF24)
            gptoss_attention_head_bf24(out, q, k_cache, v_cache, kv_stride, slots, n_keys, head_dim, scale, sink,
                                       scores);
        else
            gptoss_attention_head_f32(out, q, k_cache, v_cache, kv_stride, slots, n_keys, head_dim, scale, sink,
                                      scores);
        return;
    }
    const uint32_t nv = head_dim / 16;
    __m512 qv[16];
    for (uint32_t d = 0; d < nv; d++) qv[d] = _mm512_mul_ps(_mm512_loadu_ps(q + 16 * d), _mm512_set1_ps(scale));
    uint32_t j = 0;
    __m512 vmax = _mm512_set1_ps(sink);
    for (; j + 16 <= n_keys; j += 16) {
        __m512 p[16];
        for (int i = 0; i < 16; i++) {
            const void *k = cache_row(k_cache, slots[j + i], kv_stride, type);
            __m512 s = _mm512_mul_ps(qv[0], load16(k, 0, type, kv_stride));
            for (uint32_t d = 1; d < nv; d++) s = _mm512_fmadd_ps(qv[d], load16(k, d, type, kv_stride), s);
            p[i] = s;
        }
        __m512 r = reduce16(p);
        _mm512_storeu_ps(scores + j, r);
        vmax = _mm512_max_ps(vmax, r);
    }
    for (; j < n_keys; j++) {
        const void *k = cache_row(k_cache, slots[j], kv_stride, type);
        __m512 s = _mm512_mul_ps(qv[0], load16(k, 0, type, kv_stride));
        for (uint32_t d = 1; d < nv; d++) s = _mm512_fmadd_ps(qv[d], load16(k, d, type, kv_stride), s);
        scores[j] = _mm512_reduce_add_ps(s);
    }
    weighted_values(out, scores, softmax_in_place(scores, n_keys, vmax, sink), v_cache, type, kv_stride, slots, n_keys,
                    nv);
}

TGT void gptoss_attention_head_avx512(float *out, const float *q, const float *k_cache, const float *v_cache,
                                      size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                      float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, F32, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

TGT void gptoss_attention_head_f16_avx512(float *out, const float *q, const uint16_t *k_cache,
                                          const uint16_t *v_cache, size_t kv_stride, const uint32_t *slots,
                                          uint32_t n_keys, uint32_t head_dim, float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, F16, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

TGT void gptoss_attention_head_bf24_avx512(float *out, const float *q, const uint8_t *k_cache,
                                           const uint8_t *v_cache, size_t kv_stride, const uint32_t *slots,
                                           uint32_t n_keys, uint32_t head_dim, float scale, float sink, float *scores) {
    attention_head(out, q, k_cache, v_cache, BF24, kv_stride, slots, n_keys, head_dim, scale, sink, scores);
}

/* The grouped kernel with nv = head_dim / 16 a constant where the caller dispatches on it, so the
 * loops over a row's vectors unroll and their vectors stay in registers. Each head's operations, and
 * their order, are gptoss_attention_head_avx512's; only which head runs when changes. */
TGT static INL void attention_group_nv(float *out, size_t out_stride, const float *q, size_t q_stride,
                                       uint32_t n_heads, const void *k_cache, const void *v_cache, const int type,
                                       size_t kv_stride, const uint32_t *slots, uint32_t n_keys, const uint32_t nv,
                                       float scale, const float *sinks, float *scores) {
    const size_t ld = ((size_t)n_keys + 15) / 16 * 16; /* scores of head h at scores + h * ld */
    __m512 qv[16 * 8], vmax[16];
    float inv[16];
    for (uint32_t h = 0; h < n_heads; h++) {
        for (uint32_t d = 0; d < nv; d++)
            qv[h * nv + d] = _mm512_mul_ps(_mm512_loadu_ps(q + h * q_stride + 16 * d), _mm512_set1_ps(scale));
        vmax[h] = _mm512_set1_ps(sinks[h]);
    }
    /* Every head takes its turn on a block of sixteen keys while the block is in L1, rather than
     * each head bringing every key in from L2 (or beyond) again. A narrower cache's block (and
     * later each value slice) is widened once into `wide`, not once per head: the widening is
     * exact, so the bits are those of reading the cache directly. */
    __attribute__((aligned(64))) float wide[VALUE_SLICE * 16 * 8];
    uint32_t j = 0;
    for (; j + 16 <= n_keys; j += 16) {
        const float *kr[16];
        for (int i = 0; i < 16; i++) {
            const void *row = cache_row(k_cache, slots[j + i], kv_stride, type);
            if (type == F32) {
                kr[i] = row;
                continue;
            }
            kr[i] = wide + (size_t)i * nv * 16;
            UNROLL
            for (uint32_t d = 0; d < nv; d++)
                _mm512_store_ps(wide + (i * nv + d) * 16, load16(row, d, type, kv_stride));
        }
        for (uint32_t h = 0; h < n_heads; h++) {
            const __m512 *qh = qv + h * nv;
            __m512 p[16];
            UNROLL
            for (int i = 0; i < 16; i++) {
                __m512 s = _mm512_mul_ps(qh[0], load16(kr[i], 0, F32, kv_stride));
                UNROLL
                for (uint32_t d = 1; d < nv; d++) s = _mm512_fmadd_ps(qh[d], load16(kr[i], d, F32, kv_stride), s);
                p[i] = s;
            }
            __m512 r = reduce16(p);
            _mm512_storeu_ps(scores + h * ld + j, r);
            vmax[h] = _mm512_max_ps(vmax[h], r);
        }
    }
    for (; j < n_keys; j++) {
        const void *k = cache_row(k_cache, slots[j], kv_stride, type);
        for (uint32_t h = 0; h < n_heads; h++) {
            const __m512 *qh = qv + h * nv;
            __m512 s = _mm512_mul_ps(qh[0], load16(k, 0, type, kv_stride));
            UNROLL
            for (uint32_t d = 1; d < nv; d++) s = _mm512_fmadd_ps(qh[d], load16(k, d, type, kv_stride), s);
            scores[h * ld + j] = _mm512_reduce_add_ps(s);
        }
    }
    for (uint32_t h = 0; h < n_heads; h++) {
        inv[h] = softmax_in_place(scores + h * ld, n_keys, vmax[h], sinks[h]);
    }
    /* Accumulators for every head would take n_heads * nv zmm (32 for gpt-oss), more than there are:
     * hp heads at a time (16 accumulators), each value vector loaded once for them. The keys go in
     * slices of VALUE_SLICE: every group of hp heads takes its turn on a slice while its values are in
     * L1 (the accumulators wait in memory between slices), so the values come in from memory once, not
     * once per group. Each head's sums still take the keys in ascending order. */
    const uint32_t hp = 16 / nv, h_full = n_heads / hp * hp;
    __m512 parked[16 * 8];
    for (uint32_t x = 0; x < h_full * nv; x++) parked[x] = _mm512_setzero_ps();
    for (uint32_t i0 = 0; i0 < n_keys && h_full; i0 += VALUE_SLICE) {
        const uint32_t i1 = n_keys - i0 > VALUE_SLICE ? i0 + VALUE_SLICE : n_keys;
        if (type != F32)
            for (uint32_t i = i0; i < i1; i++) {
                const void *row = cache_row(v_cache, slots[i], kv_stride, type);
                UNROLL
                for (uint32_t d = 0; d < nv; d++)
                    _mm512_store_ps(wide + ((i - i0) * nv + d) * 16, load16(row, d, type, kv_stride));
            }
        for (uint32_t h0 = 0; h0 < h_full; h0 += hp) {
            __m512 a[16];
            UNROLL
            for (uint32_t x = 0; x < hp * nv; x++) a[x] = parked[h0 * nv + x];
            for (uint32_t i = i0; i < i1; i++) {
                const float *v = type == F32 ? cache_row(v_cache, slots[i], kv_stride, F32) : wide + (i - i0) * nv * 16;
                __m512 w[16];
                UNROLL
                for (uint32_t e = 0; e < hp; e++) w[e] = _mm512_set1_ps(scores[(h0 + e) * ld + i]);
                UNROLL
                for (uint32_t d = 0; d < nv; d++) {
                    const __m512 vd = load16(v, d, F32, kv_stride);
                    UNROLL
                    for (uint32_t e = 0; e < hp; e++) a[e * nv + d] = _mm512_fmadd_ps(w[e], vd, a[e * nv + d]);
                }
            }
            UNROLL
            for (uint32_t x = 0; x < hp * nv; x++) parked[h0 * nv + x] = a[x];
        }
    }
    for (uint32_t x = 0; x < h_full * nv; x++)
        _mm512_storeu_ps(out + (x / nv) * out_stride + 16 * (x % nv),
                         _mm512_mul_ps(parked[x], _mm512_set1_ps(inv[x / nv])));
    for (uint32_t h = h_full; h < n_heads; h++)
        weighted_values(out + h * out_stride, scores + h * ld, inv[h], v_cache, type, kv_stride, slots, n_keys, nv);
}

TGT static INL void attention_group(float *out, size_t out_stride, const float *q, size_t q_stride,
                                    uint32_t n_heads, const void *k_cache, const void *v_cache, const int type,
                                    size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                    float scale, const float *sinks, float *scores) {
#define GROUP(NV)                                                                                                \
    attention_group_nv(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, type, kv_stride, slots, n_keys, NV, \
                       scale, sinks, scores)
    /* One copy per row length up to head_dim 128, each with its loops unrolled. Longer rows (which
     * gpt-oss does not have), rows the one-head kernel hands to the reference, and more than 16
     * heads take the one-head kernel per head. */
    switch (head_dim % 16 || n_heads > 16 ? 0 : head_dim / 16) {
    case 1: GROUP(1); break;
    case 2: GROUP(2); break;
    case 3: GROUP(3); break;
    case 4: GROUP(4); break;
    case 5: GROUP(5); break;
    case 6: GROUP(6); break;
    case 7: GROUP(7); break;
    case 8: GROUP(8); break;
    default:
        for (uint32_t h = 0; h < n_heads; h++)
            if (type == F16)
                gptoss_attention_head_f16_avx512(out + h * out_stride, q + h * q_stride, k_cache, v_cache, kv_stride,
                                                 slots, n_keys, head_dim, scale, sinks[h], scores);
            else if (type == BF24)
                gptoss_attention_head_bf24_avx512(out + h * out_stride, q + h * q_stride, k_cache, v_cache,
                                                  kv_stride, slots, n_keys, head_dim, scale, sinks[h], scores);
            else
                gptoss_attention_head_avx512(out + h * out_stride, q + h * q_stride, k_cache, v_cache, kv_stride,
                                             slots, n_keys, head_dim, scale, sinks[h], scores);
    }
#undef GROUP
}

TGT void gptoss_attention_group_avx512(float *out, size_t out_stride, const float *q, size_t q_stride,
                                       uint32_t n_heads, const float *k_cache, const float *v_cache, size_t kv_stride,
                                       const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                       const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, F32, kv_stride, slots, n_keys, head_dim,
                    scale, sinks, scores);
}

TGT void gptoss_attention_group_f16_avx512(float *out, size_t out_stride, const float *q, size_t q_stride,
                                           uint32_t n_heads, const uint16_t *k_cache, const uint16_t *v_cache,
                                           size_t kv_stride, const uint32_t *slots, uint32_t n_keys,
                                           uint32_t head_dim, float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, F16, kv_stride, slots, n_keys, head_dim,
                    scale, sinks, scores);
}

TGT void gptoss_attention_group_bf24_avx512(float *out, size_t out_stride, const float *q, size_t q_stride,
                                            uint32_t n_heads, const uint8_t *k_cache, const uint8_t *v_cache,
                                            size_t kv_stride, const uint32_t *slots, uint32_t n_keys,
                                            uint32_t head_dim, float scale, const float *sinks, float *scores) {
    attention_group(out, out_stride, q, q_stride, n_heads, k_cache, v_cache, BF24, kv_stride, slots, n_keys,
                    head_dim, scale, sinks, scores);
}
#endif
