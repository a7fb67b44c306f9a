/* simd_avx512.c: AVX-512 (F/BW/DQ/VL) fast kernels. One template (tile) for every weight format:
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

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline

#ifndef PF_MX
#define PF_MX 4096 /* bytes ahead in each row: the 4 rows of a decode tile are 4 streams */
#endif
enum { FMT_MX, FMT_BF16, FMT_F16, FMT_F32, FMT_Q8, FMT_GG };

typedef struct src {
    const uint8_t *w;      /* row 0 of the range (dense: data; mx: blocks) */
    const uint8_t *sc;     /* mx: scales of row 0 */
    size_t row_bytes, sc_row; /* bytes per row of w / of sc */
    const uint8_t *w2;     /* gg with gate/up split: the odd rows (row 2i+1 is row i of w2, row 2i row i of w) */
    uint64_t rstep;        /* a tile's rows are r, r + rstep, ... (0 or 1: adjacent) */
} src;

/* Widens block b of the row at `rw` (scales `rs`) into w0 (elements 0..15 of the block, or the even
 * ones for MXFP4) and w1. */
TGT static INL void decode(const int fmt, const uint8_t *rw, float scale, size_t b, __m512 lut, __m512 *w0,
                           __m512 *w1) {
    switch (fmt) {
    case FMT_MX: {
        __m512 l = _mm512_mul_ps(lut, _mm512_set1_ps(scale));
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(rw + b * 16)));
        *w0 = _mm512_permutexvar_ps(c, l); /* vpermps reads the low 4 bits: the low nibble */
        *w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), l);
        break;
    }
    case FMT_BF16: {
        const uint8_t *p = rw + b * 64;
        *w0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
        *w1 = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 32))), 16));
        break;
    }
    case FMT_F16: {
        const uint8_t *p = rw + b * 64;
        *w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
        *w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 32)));
        break;
    }
    case FMT_F32: {
        const float *p = (const float *)(rw + b * 128);
        *w0 = _mm512_loadu_ps(p);
        *w1 = _mm512_loadu_ps(p + 16);
        break;
    }
    case FMT_GG: { /* ggml block: scale byte, then element j in the low nibble of byte j, j+16 in the high */
        const uint8_t *p = rw + b * 17;
        const uint32_t bits = p[0] ? (uint32_t)p[0] << 23 : 0x00400000u;
        __m512 l = _mm512_mul_ps(lut, _mm512_castsi512_ps(_mm512_set1_epi32((int)bits)));
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(p + 1)));
        *w0 = _mm512_permutexvar_ps(c, l);
        *w1 = _mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), l);
        (void)scale;
        break;
    }
    default: { /* Q8_0 */
        const uint8_t *p = rw + b * GPTOSS_Q8_0_BYTES;
        uint16_t dh;
        memcpy(&dh, p, 2);
        __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
        *w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))));
        *w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))));
        break;
    }
    }
}

/* The e8m0 scales of n <= 16 blocks as f32 (2^(e-127); e = 0: 2^-127), so the block loop broadcasts
 * them from memory instead of converting one byte at a time. */
TGT static INL void scales16(float *dst, const uint8_t *p, size_t n) {
    __m512i z = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8((__mmask16)((1u << n) - 1), p));
    __m512i bits = _mm512_mask_mov_epi32(_mm512_slli_epi32(z, 23), _mm512_cmpeq_epi32_mask(z, _mm512_setzero_si512()),
                                         _mm512_set1_epi32(0x00400000));
    _mm512_storeu_ps(dst, _mm512_castsi512_ps(bits));
}

/* R rows from r x NT tokens from x. nb full blocks. */
TGT static INL void tile(const int fmt, const int R, const int NT, float *out, size_t os, const src *s, uint64_t r,
                         size_t nb, const float *x, size_t xs) {
    const __m512 lut = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                      -2.0f, -3.0f, -4.0f, -6.0f);
    /* One accumulator per (row, token), whatever the tile's shape: an output gets the same bits from
     * any tile (a second accumulator for small tiles measured no faster). */
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) acc[i][t] = _mm512_setzero_ps();
    const uint64_t st = s->rstep > 1 ? s->rstep : 1;
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const uint64_t ri = r + (uint64_t)i * st;
        rw[i] = s->w2 ? (ri & 1 ? s->w2 : s->w) + (ri >> 1) * s->row_bytes : s->w + ri * s->row_bytes;
        rs[i] = s->sc ? s->sc + ri * s->sc_row : NULL;
    }
    float sbuf[4][16];
    const uint8_t *pf = rw[0] + PF_MX, *pf2 = R > 1 ? rw[1] + PF_MX : NULL;
    /* gg: the rows of a tile are one contiguous stream, or two (gate rows, up rows) when split */
    const size_t gg_rows0 = s->w2 ? (size_t)(R + 1) / 2 : (size_t)R, gg_rows1 = s->w2 ? (size_t)R / 2 : 0;
    for (size_t b = 0; b < nb; b++) {
        __m512 w0[4], w1[4];
        if (fmt == FMT_MX && (b & 15) == 0)
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) scales16(sbuf[i], rs[i] + b, nb - b < 16 ? nb - b : 16);
        /* Decode with rows far apart (st > 1): R streams, each prefetched PF_MX bytes ahead as it
         * enters a new cache line. */
        if (NT == 1 && st > 1 && (fmt == FMT_MX || fmt == FMT_GG || fmt == FMT_Q8 || fmt == FMT_BF16)) {
            const size_t bb = fmt == FMT_MX ? 16 : fmt == FMT_GG ? 17 : fmt == FMT_Q8 ? GPTOSS_Q8_0_BYTES : 64;
            if (((b * bb) & 63) < bb)
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) _mm_prefetch((const char *)(rw[i] + b * bb + PF_MX), _MM_HINT_T0);
        }
        /* Decode reads the tile's R adjacent rows (one contiguous region) at R x the speed of one
         * row: prefetch that region linearly, PF_MX bytes ahead, on into the next tile's rows. */
        else if (fmt == FMT_MX && NT == 1 && (b & 3) == 0)
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) _mm_prefetch((const char *)(rw[0] + b * 16 * R + 64 * i + PF_MX), _MM_HINT_T0);
        else if (fmt == FMT_GG && NT == 1) { /* ggml MXFP4 rows (17-byte blocks) */
            for (; pf < rw[0] + (b + 1) * 17 * gg_rows0 + PF_MX; pf += 64) _mm_prefetch((const char *)pf, _MM_HINT_T0);
            if (gg_rows1)
                for (; pf2 < rw[1] + (b + 1) * 17 * gg_rows1 + PF_MX; pf2 += 64) _mm_prefetch((const char *)pf2, _MM_HINT_T0);
        }
        else if (fmt == FMT_Q8 && NT == 1) /* the same for Q8_0 rows (34-byte blocks) */
            for (; pf < rw[0] + (b + 1) * GPTOSS_Q8_0_BYTES * R + PF_MX; pf += 64) _mm_prefetch((const char *)pf, _MM_HINT_T0);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) decode(fmt, rw[i], fmt == FMT_MX ? sbuf[i][b & 15] : 0.0f, b, lut, &w0[i], &w1[i]);
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) {
            const float *xp = x + (size_t)t * xs + b * 32;
            __m512 x0 = _mm512_loadu_ps(xp), x1 = _mm512_loadu_ps(xp + 16);
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                acc[i][t] = _mm512_fmadd_ps(w1[i], x1, _mm512_fmadd_ps(w0[i], x0, acc[i][t]));
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) out[(size_t)t * os + r + (uint64_t)i * st] = _mm512_reduce_add_ps(acc[i][t]);
}

#define PREFILL_R4 1
#include "cpu/simd_driver.h"

/* Ggml-layout MXFP4 (x in natural order): the same tiles, 17-byte blocks with the scale inline. */
TGT static void avx512_mxfp4_ggml(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                                  const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32, bpr = nb * 17;
    src s = {w->blocks + e * w->rows * bpr, NULL, bpr, 0, NULL, 0};
    if (w->blocks_odd) {
        s.w = w->blocks + e * (w->rows / 2) * bpr;
        s.w2 = w->blocks_odd + e * (w->rows / 2) * bpr;
    }
    run_fmt(FMT_GG, out, os, &s, nb, x, xs, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

/* BF16 row -> Q8_0 blocks, the same numbers as gptoss_quantize_row_q8_0 on the widened row. */
TGT void gptoss_quantize_bf16_q8_0_avx512(void *dst, const uint16_t *bf, size_t n) {
    uint8_t *out = dst;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (size_t b = 0; b < n / 32; b++) {
        const __m256i *p = (const __m256i *)(bf + b * 32);
        __m512 v0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p)), 16));
        __m512 v1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p + 1)), 16));
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(v0, absmask), _mm512_and_ps(v1, absmask)));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        uint16_t dh = gptoss_f32_to_f16(d);
        uint8_t *o = out + b * GPTOSS_Q8_0_BYTES;
        memcpy(o, &dh, 2);
        __m512 vid = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)(o + 2), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid))));
        _mm_storeu_si128((__m128i *)(o + 18), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid))));
    }
}

const gptoss_cpu_ops gptoss_cpu_avx512 = {.name = "avx512",
                                          .dense = simd_dense,
                                          .mxfp4 = simd_mxfp4,
                                          .mxfp4_ggml = avx512_mxfp4_ggml,
                                          .attention = gptoss_attention_head_avx512,
                                          .attention_group = gptoss_attention_group_avx512,
                                          .attention_f16 = gptoss_attention_head_f16_avx512,
                                          .attention_group_f16 = gptoss_attention_group_f16_avx512,
                                          .attention_bf24 = gptoss_attention_head_bf24_avx512,
                                          .attention_group_bf24 = gptoss_attention_group_bf24_avx512,
                                          .swiglu_mx = gptoss_swiglu_mx_avx512};
#endif
