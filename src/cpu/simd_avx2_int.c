/* simd_avx2_int.c: the integer decode kernels of the avx2 and avx2vnni variants (MXFP4 in the HF
 * and ggml (GGUF) layouts and Q8_0, 1 to AI_NT tokens) and those two variants' tables. The f32 tiles
 * of simd_avx2.c widen every MXFP4 code to a float (pshufb, two widenings, a convert and a multiply
 * per 8 elements), which kept decode compute-bound at a third of the read bandwidth. Here the
 * weights stay bytes:
 *
 * - Activations: each token's row is quantized once per call, one f32 scale per 32-block,
 *   s = max|x| / Q, q = round(x / s) = 2^k hi + lo, stored as two int8 planes. MXFP4: k = 8,
 *   Q = 32639 (16 bits; hi, lo in [-128, 127]): 8-bit activations miss the goldens by 0.2-5, 16 bits
 *   stay within 1.1e-3 to 2e-3 of them on weights as stored, far inside the fast path's 0.1. Q8_0:
 *   k = 7, Q = 16319 (15 bits; hi in [-127, 127], lo in [-64, 63]): the weights already round at
 *   2^-8, and planes that never hold -128 let the products take the weight's sign (below).
 * - MXFP4 (avx2_int_tile.h, mx_group): one pshufb turns 4-bit codes into unsigned bytes u = 2 v + 12
 *   (2 v is an integer in [-12, 12]). Per 8 blocks the four 32-byte code vectors are interleaved by
 *   dwords (the planes below), so every dword lane of a product holds four codes of one block: the
 *   products of blocks 0-3 and of blocks 4-7 add up lane by lane (vpmaddubsw's int16 sums of four,
 *   |.| <= 4 * 2 * 24 * 128 < 2^15, then one vpmaddwd by 256 and one by 1; with AVX-VNNI eight
 *   vpdpbusd into one int32 vector), and two shuffles and an add merge them into exact block totals,
 *   one per lane; the +12 offset goes there in integers (12 sum(q), per activation block), then one
 *   convert and one FMA by 2^(e-127) s / 2. vphaddd, 2 cycles a throughput on Zen 5, is gone; 8
 *   blocks cost ~69 vector ops on avx2. The ggml layout (17-byte blocks, scale first) loads each
 *   block's 16 code bytes as a 128-bit half and its scale bytes one by one; its x comes in natural
 *   order, whose positions meet the nibbles as MXFP4 order does in the HF layout, so both share the
 *   quantizer and the groups and give the same bits for the same weights.
 * - Q8_0: one block per ymm; u = |w| (unsigned, <= 128) and the planes take w's sign (vpsignb), so
 *   no offset is needed; per 8 blocks a vphaddd tree gives the block totals. vpmaddubsw pairs
 *   cannot saturate (2 * 128 * 127 < 2^15); lanes |dot| <= 4 * 128 * 16319.
 *
 * The error beyond f32 rounding is the activation rounding, |x - s q| <= (1/2 + a little) s, see
 * tests/test_kernels_avx2.c. Each output comes from one row with its own accumulators, so results do
 * not depend on the row range or the thread count, nor on the other tokens. More tokens, rows wider
 * than AI_MAXC, other formats and non-finite activations take the f32 kernels. */
#if defined(__x86_64__)
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "cpu/hsum_avx2.h"
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

/* MXFP4 planes, per 8 blocks (256 bytes): the tile loads the group's four 32-byte code vectors Y0-Y3
 * (Yk: blocks 2k, 2k + 1, one per 128-bit half) and interleaves their dwords, A0 = unpacklo32(Y0, Y1),
 * A1 = unpackhi32(Y0, Y1), B0, B1 the same from Y2, Y3, so that each dword of a vector holds four
 * codes of one block. The planes hold the matching activations, vector by vector (A0, A1, B0, B1),
 * per vector its low-nibble elements, then its high-nibble ones: quantize builds them with the same
 * interleave. */

/* Quantizes n_tok rows of nb blocks (see aq); 0 if a value is not finite (the caller falls back). */
TGT static int quantize(aq *q, const int fmt, const float *x, size_t xs, size_t n_tok, size_t nb) {
    const int sh = fmt == AF_MX ? 8 : 7;
    const int16_t qm = fmt == AF_MX ? 32639 : 16319;
    const size_t nb8 = (nb + 7) & ~(size_t)7, nb0 = nb & ~(size_t)7;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i hiq = _mm256_set1_epi16(qm), loq = _mm256_set1_epi16((int16_t)-qm);
    const __m256i half = _mm256_set1_epi16((int16_t)(1 << (sh - 1))), ones = _mm256_set1_epi16(1);
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * xs;
        memset(&q->pl[0][t][nb0 * 32], 0, (nb8 - nb0) * 32);
        memset(&q->pl[1][t][nb0 * 32], 0, (nb8 - nb0) * 32);
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
            uint8_t gb[2][8][32] __attribute__((aligned(32))); /* MXFP4: the group's blocks, planes as is */
            if (fmt == AF_MX && n < 8) memset(gb, 0, sizeof gb);
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
                    _mm256_store_si256((__m256i *)gb[0][j], h8);
                    _mm256_store_si256((__m256i *)gb[1][j], l8);
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
            if (fmt == AF_MX) /* the weights' dword interleave (mx_group), applied to the planes */
                for (int pl = 0; pl < 2; pl++)
                    for (int f = 0; f < 2; f++) {
#define AQ_Z(k, n) _mm256_loadu2_m128i((const __m128i *)&gb[pl][2 * (k) + 1][16 * (n)], (const __m128i *)&gb[pl][2 * (k)][16 * (n)])
                        const __m256i a0 = AQ_Z(2 * f, 0), a1 = AQ_Z(2 * f, 1), b0v = AQ_Z(2 * f + 1, 0), b1v = AQ_Z(2 * f + 1, 1);
#undef AQ_Z
                        int8_t *d = &q->pl[pl][t][b0 * 32 + (size_t)f * 128];
                        _mm256_store_si256((__m256i *)d, _mm256_unpacklo_epi32(a0, b0v));
                        _mm256_store_si256((__m256i *)(d + 32), _mm256_unpacklo_epi32(a1, b1v));
                        _mm256_store_si256((__m256i *)(d + 64), _mm256_unpackhi_epi32(a0, b0v));
                        _mm256_store_si256((__m256i *)(d + 96), _mm256_unpackhi_epi32(a1, b1v));
                    }
        }
    }
    return 1;
}

/* Q8_0 rows of a tile. */
typedef struct isrc {
    const uint8_t *w; /* row 0's blocks */
    size_t row_bytes;
    uint64_t rstep; /* a tile's rows are r, r + rstep, ... (0 or 1: adjacent) */
} isrc;

/* Q8_0: the scales of blocks [b0, b0 + n) (n <= 8) of one row as f32 (0 past n). */
TGT static INL __m256 wscales(const uint8_t *rw, size_t b0, size_t n) {
    const uint8_t *p = rw + b0 * GPTOSS_Q8_0_BYTES;
    uint16_t d[8] = {0};
    if (n == 8)
#define D16(j) (short)(p[(j) * GPTOSS_Q8_0_BYTES] | p[(j) * GPTOSS_Q8_0_BYTES + 1] << 8)
        return _mm256_cvtph_ps(_mm_setr_epi16(D16(0), D16(1), D16(2), D16(3), D16(4), D16(5), D16(6), D16(7)));
#undef D16
    for (size_t j = 0; j < n; j++) memcpy(&d[j], p + j * GPTOSS_Q8_0_BYTES, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
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

/* The precise siblings (--keep-dense): 16-bit activations put weights as stored 1.1e-3 to 2e-3 from
 * the goldens, over that mode's 1e-3, so their MXFP4 products take the f32 tiles (about a third of the
 * read rate; Q8_0 only comes from a conversion or a GGUF file, and keeps its integer kernel). */
static void mxfp4_f32(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias, const float *x,
                      size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_cpu_avx2_f32.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
}
static void mxfp4_ggml_f32(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_cpu_avx2_f32.mxfp4_ggml(out, os, w, e, bias, x, xs, n_tok, r0, r1);
}

#define AVX2_OPS(NAME, DENSE, MXFP4, MXFP4_GGML, PRECISE)                                                          \
    {.name = NAME, .dense = DENSE, .mxfp4 = MXFP4, .mxfp4_ggml = MXFP4_GGML,                                       \
     .attention = gptoss_attention_head_avx2, .attention_group = gptoss_attention_group_avx2,                     \
     .attention_f16 = gptoss_attention_head_f16_avx2, .attention_group_f16 = gptoss_attention_group_f16_avx2,     \
     .attention_bf24 = gptoss_attention_head_bf24_avx2, .attention_group_bf24 = gptoss_attention_group_bf24_avx2, \
     .swiglu_mx = gptoss_swiglu_mx_avx2, .precise = PRECISE}
static const gptoss_cpu_ops avx2_precise = AVX2_OPS("avx2", dense_mad, mxfp4_f32, mxfp4_ggml_f32, NULL);
static const gptoss_cpu_ops avx2vnni_precise = AVX2_OPS("avx2vnni", dense_vnni, mxfp4_f32, mxfp4_ggml_f32, NULL);
const gptoss_cpu_ops gptoss_cpu_avx2 = AVX2_OPS("avx2", dense_mad, mxfp4_mad, mxfp4_ggml_mad, &avx2_precise);
const gptoss_cpu_ops gptoss_cpu_avx2vnni =
    AVX2_OPS("avx2vnni", dense_vnni, mxfp4_vnni, mxfp4_ggml_vnni, &avx2vnni_precise);
#endif
