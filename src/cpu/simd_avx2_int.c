/* simd_avx2_int.c: the integer decode kernels of the avx2 and avx2vnni variants (MXFP4 in the HF
 * layout and Q8_0, 1 to AI_NT tokens) and those two variants' tables. The f32 tiles of simd_avx2.c
 * widen every MXFP4 code to a float (pshufb, two widenings, a convert and a multiply per 8 elements),
 * which kept decode compute-bound at a third of the read bandwidth. Here the weights stay bytes:
 *
 * - Activations: each token's row is quantized once per call, one f32 scale per 32-block,
 *   s = max|x| / Q, q = round(x / s) = 2^k hi + lo, stored as two int8 planes. MXFP4: k = 8,
 *   Q = 32639 (16 bits; hi, lo in [-128, 127]): 8-bit activations miss the goldens by 0.2-5, 16 bits
 *   stay within 1.1e-3 to 2e-3 of them on weights as stored, far inside the fast path's 0.1. Q8_0: k = 7, Q = 16319 (15 bits; hi in
 *   [-127, 127], lo in [-64, 63]): the weights already round at 2^-8, and planes that never hold
 *   -128 let the products take the weight's sign (below).
 * - MXFP4: one pshufb turns 4-bit codes into unsigned bytes u = 2 v + 12 (2 v is an integer in
 *   [-12, 12]). 32 code bytes (two blocks) are loaded at once; one ymm gets their low nibbles (bytes
 *   0-15: block b, 16-31: block b + 1), one the high nibbles, and the planes are stored in that order
 *   (per two blocks: the 16 low-nibble elements of each block, then the 16 high-nibble ones), so the
 *   weights need no shuffle. Lane j of the integer dot holds 8 elements of block b (j < 4) or b + 1.
 *   Per 8 blocks a vphaddd tree sums each block's lanes into one vector of exact block totals, the
 *   +12 offset is removed there in integers (12 sum(q), precomputed per activation block), and one
 *   convert and one FMA by 2^(e-127) s / 2 per lane finish the 8 blocks.
 * - Q8_0: one block per ymm; u = |w| (unsigned, <= 128) and the planes take w's sign (vpsignb), so
 *   no offset is needed.
 * - The dot: with AVX-VNNI (avx2vnni) vpdpbusd, per plane; without it (avx2) vpmaddubsw, whose int16
 *   pairs cannot saturate (MXFP4: 2 * 24 * 128, even with the two nibble halves added, 4 * 24 * 128
 *   < 2^15; Q8_0: 2 * 128 * 127 < 2^15), then vpmaddwd by 2^k or 1. Lanes: |dot| <= 8 * 24 * 32639
 *   (MXFP4), 4 * 128 * 16319 (Q8_0), far below 2^31.
 *
 * The error beyond f32 rounding is the activation rounding, |x - s q| <= (1/2 + a little) s, see
 * tests/test_kernels_avx2.c. Each output comes from one tile row with its own accumulators, so
 * results do not depend on the row range or the thread count, nor on the other tokens. More tokens,
 * rows wider than AI_MAXC, other formats and non-finite activations take the f32 tiles. */
#if defined(__x86_64__)
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline

enum { AI_NT = 3, AI_MAXC = 4096, AI_MAXB = AI_MAXC / 32 };
#ifndef AI_PF
#define AI_PF 2048 /* bytes ahead of each row's stream */
#endif
enum { AF_MX, AF_Q8 };

/* The quantized activations of up to AI_NT tokens: per token two planes (hi, lo) in the order the
 * tiles read (MXFP4: per two blocks, low-nibble elements of each, then high-nibble ones; Q8_0:
 * natural), zero past nb up to a multiple of 8 blocks; per block c (s / 2 for MXFP4, s for Q8_0) and
 * MXFP4's offset o = 12 sum(q), both 0 past nb. Per 8 blocks, c and o of MXFP4 lie in the order the
 * tile's reduction leaves them, blocks 0, 2, 4, 6, 1, 3, 5, 7 (lane() below). */
typedef struct aq {
    int8_t pl[2][AI_NT][AI_MAXC] __attribute__((aligned(32)));
    float c[AI_NT][AI_MAXB + 8];
    int32_t o[AI_NT][AI_MAXB + 8];
} aq;

/* Index of block b in MXFP4's c and o. */
static inline size_t lane(size_t b) { return (b & ~(size_t)7) + ((b & 1) << 2) + ((b & 7) >> 1); }

/* Quantizes n_tok rows of nb blocks (see aq); 0 if a value is not finite (the caller falls back). */
TGT static int quantize(aq *q, const int fmt, const float *x, size_t xs, size_t n_tok, size_t nb) {
    const int sh = fmt == AF_MX ? 8 : 7;
    const int16_t qm = fmt == AF_MX ? 32639 : 16319;
    const size_t nb8 = (nb + 7) & ~(size_t)7, nb2 = nb & ~(size_t)1;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i hiq = _mm256_set1_epi16(qm), loq = _mm256_set1_epi16((int16_t)-qm);
    const __m256i half = _mm256_set1_epi16((int16_t)(1 << (sh - 1))), ones = _mm256_set1_epi16(1);
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * xs;
        memset(&q->pl[0][t][nb2 * 32], 0, (nb8 - nb2) * 32);
        memset(&q->pl[1][t][nb2 * 32], 0, (nb8 - nb2) * 32);
        for (size_t b = nb; b < nb8; b++) {
            q->c[t][fmt == AF_MX ? lane(b) : b] = 0.0f;
            q->o[t][fmt == AF_MX ? lane(b) : b] = 0;
        }
        for (size_t b0 = 0; b0 < nb; b0 += 8) {
            const size_t n = nb - b0 < 8 ? nb - b0 : 8;
            int32_t am[8] = {0};
            for (size_t j = 0; j < n; j++) {
                const float *p = xt + (b0 + j) * 32;
                __m256i m = _mm256_setzero_si256();
                for (int i = 0; i < 4; i++)
                    m = _mm256_max_epi32(m, _mm256_castps_si256(_mm256_andnot_ps(sign, _mm256_loadu_ps(p + 8 * i))));
                /* |x| bits compare as integers; inf and NaN lie above every finite value */
                m = _mm256_max_epi32(m, _mm256_permute2x128_si256(m, m, 1));
                m = _mm256_max_epi32(m, _mm256_shuffle_epi32(m, 0x4e));
                am[j] = _mm256_cvtsi256_si32(_mm256_max_epi32(m, _mm256_shuffle_epi32(m, 0xb1)));
                if (am[j] >= 0x7f800000) return 0;
            }
            /* s = max|x| / qm, at least FLT_MIN (1 / s stays finite, also for a block of zeros) */
            const __m256 sv = _mm256_max_ps(_mm256_mul_ps(_mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)am)),
                                                          _mm256_set1_ps(1.0f / (float)qm)),
                                            _mm256_set1_ps(FLT_MIN));
            float sc[8], inv[8];
            _mm256_storeu_ps(sc, sv);
            _mm256_storeu_ps(inv, _mm256_div_ps(_mm256_set1_ps(1.0f), sv));
            for (size_t j = 0; j < n; j++) {
                const size_t b = b0 + j;
                const float *p = xt + b * 32;
                const __m256 vi = _mm256_set1_ps(inv[j]);
                __m256i v[4];
                for (int i = 0; i < 4; i++) v[i] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(p + 8 * i), vi));
                /* int16 in order (elements 0-15, 16-31); 1 / s rounds: keep |q| <= qm */
                __m256i q16[2], h16[2], l16[2];
                for (int k = 0; k < 2; k++) {
                    q16[k] = _mm256_permute4x64_epi64(_mm256_packs_epi32(v[2 * k], v[2 * k + 1]), 0xd8);
                    q16[k] = _mm256_max_epi16(_mm256_min_epi16(q16[k], hiq), loq);
                    h16[k] = _mm256_srai_epi16(_mm256_add_epi16(q16[k], half), sh); /* qm + half < 2^15 */
                    l16[k] = _mm256_sub_epi16(q16[k], _mm256_slli_epi16(h16[k], sh));
                }
                const __m256i h8 = _mm256_permute4x64_epi64(_mm256_packs_epi16(h16[0], h16[1]), 0xd8);
                const __m256i l8 = _mm256_permute4x64_epi64(_mm256_packs_epi16(l16[0], l16[1]), 0xd8);
                if (fmt == AF_MX) {
                    const size_t o = (b >> 1) * 64 + (b & 1) * 16;
                    _mm_storeu_si128((__m128i *)&q->pl[0][t][o], _mm256_castsi256_si128(h8));
                    _mm_storeu_si128((__m128i *)&q->pl[0][t][o + 32], _mm256_extracti128_si256(h8, 1));
                    _mm_storeu_si128((__m128i *)&q->pl[1][t][o], _mm256_castsi256_si128(l8));
                    _mm_storeu_si128((__m128i *)&q->pl[1][t][o + 32], _mm256_extracti128_si256(l8, 1));
                    const __m256i s8 = _mm256_add_epi32(_mm256_madd_epi16(q16[0], ones), _mm256_madd_epi16(q16[1], ones));
                    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
                    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
                    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
                    q->c[t][lane(b)] = 0.5f * sc[j];
                    q->o[t][lane(b)] = 12 * _mm_cvtsi128_si32(s4); /* |.| <= 12 * 32 * qm */
                } else {
                    _mm256_store_si256((__m256i *)&q->pl[0][t][b * 32], h8);
                    _mm256_store_si256((__m256i *)&q->pl[1][t][b * 32], l8);
                    q->c[t][b] = sc[j];
                    q->o[t][b] = 0;
                }
            }
        }
    }
    return 1;
}

typedef struct isrc {
    const uint8_t *w;  /* row 0: MXFP4 code bytes or Q8_0 blocks */
    const uint8_t *sc; /* MXFP4: e8m0 scales of row 0 */
    size_t row_bytes, sc_row;
    uint64_t rstep; /* a tile's rows are r, r + rstep, ... (0 or 1: adjacent) */
} isrc;

/* Weight scales of blocks [b0, b0 + n) (n <= 8) of one row as f32, MXFP4's in lane() order (past n:
 * 2^-127 for MXFP4, whose c is 0 there; 0 for Q8_0). */
TGT static INL __m256 wscales(const int fmt, const uint8_t *rw, const uint8_t *rs, size_t b0, size_t n) {
    if (fmt == AF_MX) { /* 2^(e-127); e = 0 is the subnormal 2^-127 */
        uint64_t e8 = 0;
        if (n == 8) memcpy(&e8, rs + b0, 8);
        else memcpy(&e8, rs + b0, n);
        const __m128i e = _mm_shuffle_epi8(_mm_cvtsi64_si128((long long)e8), _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1, -1));
        const __m256i z = _mm256_cvtepu8_epi32(e);
        const __m256i bits = _mm256_blendv_epi8(_mm256_slli_epi32(z, 23), _mm256_set1_epi32(0x00400000),
                                                _mm256_cmpeq_epi32(z, _mm256_setzero_si256()));
        return _mm256_castsi256_ps(bits);
    }
    const uint8_t *p = rw + b0 * GPTOSS_Q8_0_BYTES;
    uint16_t d[8] = {0};
    if (n == 8)
#define D16(j) (short)(p[(j) * GPTOSS_Q8_0_BYTES] | p[(j) * GPTOSS_Q8_0_BYTES + 1] << 8)
        return _mm256_cvtph_ps(_mm_setr_epi16(D16(0), D16(1), D16(2), D16(3), D16(4), D16(5), D16(6), D16(7)));
#undef D16
    for (size_t j = 0; j < n; j++) memcpy(&d[j], p + j * GPTOSS_Q8_0_BYTES, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
}

/* MXFP4: the unsigned bytes u = 2 v + 12 of blocks 2p and 2p + 1 (if two; else 0 codes): lo gets the
 * low nibbles (bytes 0-15: block 2p), hi the high ones. */
TGT static INL void mx_bytes(const uint8_t *rw, size_t p, int two, __m256i *lo, __m256i *hi) {
    const __m256i lut = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0, 12, 13, 14, 15,
                                         16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i c = two ? _mm256_loadu_si256((const __m256i *)(rw + p * 32))
                          : _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(rw + p * 32)));
    *lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(c, m4));
    *hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(c, 4), m4));
}

/* The tiles, once per dot instruction. */
#define AIT_TGT TGT
#define AIT_VNNI 0
#define AIT_NAME(x) x##_mad
#include "cpu/avx2_int_tile.h"
#undef AIT_TGT
#undef AIT_VNNI
#undef AIT_NAME

#define AIT_TGT __attribute__((target("avx2,fma,f16c,avxvnni")))
#define AIT_VNNI 1
#define AIT_NAME(x) x##_vnni
#include "cpu/avx2_int_tile.h"

const gptoss_cpu_ops gptoss_cpu_avx2 = {
    .name = "avx2", .dense = dense_mad, .mxfp4 = mxfp4_mad, .mxfp4_ggml = gptoss_mxfp4_ggml_avx2,
    .attention = gptoss_attention_head_avx2, .attention_group = gptoss_attention_group_avx2,
    .attention_f16 = gptoss_attention_head_f16_avx2, .attention_group_f16 = gptoss_attention_group_f16_avx2,
    .attention_bf24 = gptoss_attention_head_bf24_avx2, .attention_group_bf24 = gptoss_attention_group_bf24_avx2,
    .swiglu_mx = gptoss_swiglu_mx_avx2};
const gptoss_cpu_ops gptoss_cpu_avx2vnni = {
    .name = "avx2vnni", .dense = dense_vnni, .mxfp4 = mxfp4_vnni, .mxfp4_ggml = gptoss_mxfp4_ggml_avx2,
    .attention = gptoss_attention_head_avx2, .attention_group = gptoss_attention_group_avx2,
    .attention_f16 = gptoss_attention_head_f16_avx2, .attention_group_f16 = gptoss_attention_group_f16_avx2,
    .attention_bf24 = gptoss_attention_head_bf24_avx2, .attention_group_bf24 = gptoss_attention_group_bf24_avx2,
    .swiglu_mx = gptoss_swiglu_mx_avx2};
#endif
