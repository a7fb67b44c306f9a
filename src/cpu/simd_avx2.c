/* simd_avx2.c: AVX2+FMA fast kernels, the same tiles as simd_avx512.c with 8-lane registers. One template (tile) for every weight format:
 * R rows x NT tokens of f32 accumulators; each 32-element weight block is widened to two zmm of f32
 * once and multiplied into all NT tokens. MXFP4 codes become floats through a 16-entry table held in
 * a register (vpermps), pre-multiplied by the block's power-of-two scale; x is in MXFP4 order (even
 * elements then odd ones per block) so no interleave is needed. Compiled with function-level target
 * attributes: the rest of the build needs no -march flag. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline

enum { FMT_MX, FMT_BF16, FMT_F16, FMT_F32, FMT_Q8 };

/* 2^(e-127) as f32 bits (e = 0: the subnormal 2^-127). */
static inline float e8m0(uint8_t e) {
    uint32_t bits = e ? (uint32_t)e << 23 : 0x00400000u;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef struct src {
    const uint8_t *w;      /* row 0 of the range (dense: data; mx: blocks) */
    const uint8_t *sc;     /* mx: scales of row 0 */
    size_t row_bytes, sc_row; /* bytes per row of w / of sc */
    uint64_t rstep;           /* a tile's rows are r, r + rstep, ... (0 or 1: adjacent) */
} src;

/* Widens block b of the row at `rw` (scales `rs`) into w[0..3] (8 elements each, in the order of x). */
TGT static INL void decode(const int fmt, const uint8_t *rw, const uint8_t *rs, size_t b, __m256 *w) {
    switch (fmt) {
    case FMT_MX: {
        /* E2M1 values times 2 as int8, looked up with pshufb; the block scale is halved to match */
        const __m128i lut8 = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
        const __m256 sc = _mm256_set1_ps(0.5f * e8m0(rs[b]));
        __m128i c = _mm_loadu_si128((const __m128i *)(rw + b * 16)), m = _mm_set1_epi8(15);
        __m128i lo = _mm_shuffle_epi8(lut8, _mm_and_si128(c, m));
        __m128i hi = _mm_shuffle_epi8(lut8, _mm_and_si128(_mm_srli_epi16(c, 4), m));
        w[0] = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)));
        w[1] = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))));
        w[2] = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)));
        w[3] = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))));
        break;
    }
    case FMT_BF16: {
        const uint8_t *p = rw + b * 64;
        for (int k = 0; k < 4; k++)
            w[k] = _mm256_castsi256_ps(
                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 16 * k))), 16));
        break;
    }
    case FMT_F16: {
        const uint8_t *p = rw + b * 64;
        for (int k = 0; k < 4; k++) w[k] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * k)));
        break;
    }
    case FMT_F32: {
        const float *p = (const float *)(rw + b * 128);
        for (int k = 0; k < 4; k++) w[k] = _mm256_loadu_ps(p + 8 * k);
        break;
    }
    default: { /* Q8_0 */
        const uint8_t *p = rw + b * GPTOSS_Q8_0_BYTES;
        uint16_t dh;
        memcpy(&dh, p, 2);
        __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
        for (int k = 0; k < 4; k++) {
            int64_t q8;
            memcpy(&q8, p + 2 + 8 * k, 8);
            w[k] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q8))));
        }
        break;
    }
    }
}

/* R rows from r x NT tokens from x. nb full blocks. */
TGT static INL void tile(const int fmt, const int R, const int NT, float *out, size_t os, const src *s, uint64_t r,
                         size_t nb, const float *x, size_t xs) {
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();
    const uint64_t st = s->rstep > 1 ? s->rstep : 1;
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        rw[i] = s->w + (r + (uint64_t)i * st) * s->row_bytes;
        rs[i] = s->sc ? s->sc + (r + (uint64_t)i * st) * s->sc_row : NULL;
    }
    for (size_t b = 0; b < nb; b++) {
        __m256 w[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) decode(fmt, rw[i], rs[i], b, w[i]);
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const float *xp = x + (size_t)t * xs + b * 32;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                __m256 xv = _mm256_loadu_ps(xp + 8 * k);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) acc[i][t] = _mm256_fmadd_ps(w[i][k], xv, acc[i][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[i][t]), _mm256_extractf128_ps(acc[i][t], 1));
            v = _mm_add_ps(v, _mm_movehl_ps(v, v));
            v = _mm_add_ss(v, _mm_movehdup_ps(v));
            out[(size_t)t * os + r + (uint64_t)i * st] = _mm_cvtss_f32(v);
        }
}

#define PREFILL_R4 0
#include "cpu/simd_driver.h"

/* The f32 tiles alone: the avx2 and avx2vnni variants (simd_avx2_int.c) use them from 4 tokens, for
 * BF16 / F16 / F32 and for non-finite activations. */
const gptoss_cpu_ops gptoss_cpu_avx2_f32 = {
    .name = "avx2f32", .dense = simd_dense, .mxfp4 = simd_mxfp4, .mxfp4_ggml = gptoss_mxfp4_ggml_avx2};
#endif
