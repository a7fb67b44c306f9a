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

/* Scalar tail of a dense row: elements [c0, cols). */
static float tail_dot(const gptoss_mat *w, uint64_t r, size_t c0, const float *x) {
    float buf[32];
    size_t k = (size_t)w->cols - c0;
    gptoss_to_f32(buf, w->data, w->dtype, r * w->cols + c0, k);
    float s = 0.0f;
    for (size_t i = 0; i < k; i++) s += buf[i] * x[c0 + i];
    return s;
}

/* R rows from r x NT tokens from x. nb full blocks. */
TGT static INL void tile(const int fmt, const int R, const int NT, float *out, size_t os, const src *s, uint64_t r,
                         size_t nb, const float *x, size_t xs) {
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        rw[i] = s->w + (r + (uint64_t)i) * s->row_bytes;
        rs[i] = s->sc ? s->sc + (r + (uint64_t)i) * s->sc_row : NULL;
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
            out[(size_t)t * os + r + (uint64_t)i] = _mm_cvtss_f32(v);
        }
}

/* Token tiles of 8, 4, 2 and 1 only (fewer instantiations: the compile time stays small). */
#define TILE_CASES(FMT, R)                                                                                            \
    switch (nt) {                                                                                                     \
    case 1: tile(FMT, R, 1, o, os, s, r, nb, x, xs); break;                                                           \
    case 2: tile(FMT, R, 2, o, os, s, r, nb, x, xs); break;                                                           \
    case 4: tile(FMT, R, 4, o, os, s, r, nb, x, xs); break;                                                           \
    default: tile(FMT, R, 8, o, os, s, r, nb, x, xs); break;                                                          \
    }

static inline size_t tile_tokens(size_t left) { return left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1; }

/* Rows [r0, r1) x all tokens for one format: decode uses 4-row tiles, prefill 2 rows x 8 tokens. */
TGT static INL void run_fmt(const int fmt, float *out, size_t os, const src *s, size_t nb, const float *x0, size_t xs,
                            size_t n_tok, uint64_t r0, uint64_t r1) {
    uint64_t r = r0;
    if (n_tok == 1)
        for (; r + 4 <= r1; r += 4) tile(fmt, 4, 1, out, os, s, r, nb, x0, xs);
    else
        for (; r + 2 <= r1; r += 2)
            for (size_t t0 = 0, nt; t0 < n_tok; t0 += nt) {
                nt = tile_tokens(n_tok - t0);
                float *o = out + t0 * os;
                const float *x = x0 + t0 * xs;
                TILE_CASES(fmt, 2)
            }
    for (; r < r1; r++)
        for (size_t t0 = 0, nt; t0 < n_tok; t0 += nt) {
            nt = tile_tokens(n_tok - t0);
            float *o = out + t0 * os;
            const float *x = x0 + t0 * xs;
            TILE_CASES(fmt, 1)
        }
}

TGT static void avx2_dense(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                             size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    src s = {w->data, NULL, (size_t)gptoss_row_bytes(w->dtype, cols), 0};
    switch (w->dtype) {
    case GPTOSS_DTYPE_BF16: run_fmt(FMT_BF16, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    case GPTOSS_DTYPE_F16: run_fmt(FMT_F16, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    case GPTOSS_DTYPE_F32: run_fmt(FMT_F32, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    case GPTOSS_DTYPE_Q8_0: run_fmt(FMT_Q8, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    default: gptoss_cpu_scalar.dense(out, os, w, bias, x, xs, n_tok, r0, r1); return;
    }
    const int tail = cols % 32 != 0;
    for (uint64_t r = r0; r < r1; r++)
        for (size_t t = 0; t < n_tok; t++) {
            float *o = &out[t * os + r];
            if (tail) *o += tail_dot(w, r, nb * 32, x + t * xs);
            if (bias) *o += bias[r];
        }
}

TGT static void avx2_mxfp4(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                             const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    src s = {w->blocks + e * w->rows * nb * 16, w->scales + e * w->rows * nb, nb * 16, nb};
    run_fmt(FMT_MX, out, os, &s, nb, x, xs, n_tok, r0, r1);
    if (bias)
        for (uint64_t r = r0; r < r1; r++)
            for (size_t t = 0; t < n_tok; t++) out[t * os + r] += bias[r];
}

const gptoss_cpu_ops gptoss_cpu_avx2 = {"avx2", avx2_dense, avx2_mxfp4, gptoss_mxfp4_ggml_avx2};
#endif
