/* simd_avx2.c: AVX2+FMA f32 kernels. Decode and short products use the tiles of simd_avx512.c on
 * 8-lane registers: R rows x NT tokens of f32 accumulators, each 32-element weight block widened in
 * registers once per tile (MXFP4: pshufb of the codes to int8, then convert and scale) and multiplied
 * into its NT tokens; x is in MXFP4 order (even elements then odd ones per block) for MXFP4 weights.
 * Prefill has its own walk (prefill_fmt): 4 rows at a time are widened once into f32 on the stack and
 * multiplied into every token by 4 x 3 tiles (12 accumulators, 3 x and 1 weight register: no spill),
 * so widening no longer competes with the FMAs per token group. Both walks give every output the same
 * accumulator and order (per 8 columns, in column order; the same horizontal sum), so an output's bits
 * do not depend on the walk, the row range, the thread count or the other tokens. Compiled with
 * function-level target attributes: the rest of the build needs no -march flag. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu/hsum_avx2.h"
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
            out[(size_t)t * os + r + (uint64_t)i * st] = gptoss_hsum8(acc[i][t]);
        }
}

#define PREFILL_R4 0
#define RUN_FMT run_any
TGT static void run_any(const int fmt, float *out, size_t os, const src *s, size_t nb, const float *x, size_t xs,
                        size_t n_tok, uint64_t r0, uint64_t r1);
#include "cpu/simd_driver.h"

/* 4 x 3 and 3 x 4 measured alike (57-59 GMAC/s a thread, MXFP4 x 64 tokens), 2 x 6 and 2 x 5 slower
 * (47, 44: more loads per FMA); see bench/RESULTS.md. */
enum { PF_R = 4, PF_T = 3 }; /* rows x tokens of a prefill tile */
#ifndef PF_XBYTES
#define PF_XBYTES ((size_t)768 << 10)
#endif
enum { PF_MAXB = 4096 / 32 };

/* R rows x T tokens from rows already widened to f32 (wp[i], in the order of x), prefetching n_pf
 * cache lines from pf (the next rows' raw weights), one per step. */
TGT static INL void ptile(const int R, const int T, float *out, size_t os, uint64_t r, const float *const *wp,
                          size_t n8, const float *x, size_t xs, const char *pf, size_t n_pf) {
    __m256 acc[PF_R][PF_T];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) acc[i][t] = _mm256_setzero_ps();
    for (size_t j = 0; j < n8; j++) {
        if (j < n_pf) _mm_prefetch(pf + 64 * j, _MM_HINT_T0);
        __m256 xv[PF_T];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) xv[t] = _mm256_loadu_ps(x + (size_t)t * xs + 8 * j);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m256 wv = _mm256_loadu_ps(wp[i] + 8 * j);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) acc[i][t] = _mm256_fmadd_ps(wv, xv[t], acc[i][t]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            out[(size_t)t * os + r + (uint64_t)i] = gptoss_hsum8(acc[i][t]);
        }
}

/* R rows (PF_R or 1) x all tokens, T at a time. */
TGT static void ptile_rows(const int R, float *out, size_t os, uint64_t r, const float *const *wp, size_t nb,
                           const float *x, size_t xs, size_t n_tok, const char *pf, size_t pf_bytes) {
    const size_t n8 = nb * 4;
    const size_t n_pf = (pf_bytes + 63) / 64;
    for (size_t t0 = 0, nt, done = 0; t0 < n_tok; t0 += nt) {
        const size_t npf = n_pf - done < n8 ? n_pf - done : n8; /* the first token groups prefetch */
        const char *pfg = npf ? pf + 64 * done : pf;
        done += npf;
        nt = n_tok - t0 == PF_T + 1 ? 2 : n_tok - t0 >= PF_T ? PF_T : n_tok - t0; /* 4 left: 2 + 2, not 3 + 1 */
        float *o = out + t0 * os;
        const float *xt = x + t0 * xs;
#define PT_CASE(RR, TT)                                                                                             \
    case (RR) * 16 + (TT): ptile(RR, TT, o, os, r, wp, n8, xt, xs, pfg, npf); break;
#define PT_ROW(RR) PT_CASE(RR, 1) PT_CASE(RR, 2) PT_CASE(RR, 3)
        switch (R * 16 + (int)nt) {
            PT_ROW(1) PT_ROW(4)
        default: break;
        }
#undef PT_ROW
#undef PT_CASE
    }
}

/* Prefill: each group of PF_R rows is widened once into f32 on the stack (PF_R x 16 KiB: rows up to
 * 4096 columns), then multiplied into every token, PF_T at a time. The rows are in L1/L2 across the
 * token groups; x streams past them, so the tokens go in groups of at most PF_XBYTES of x (the L2 of
 * one core), each walking every row: a 512-token dense product (5.9 MB of x) otherwise streams x from
 * L3 once per 4 rows. */
TGT static INL void prefill_fmt(const int fmt, float *out, size_t os, const src *s, size_t nb, const float *x,
                                size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    float buf[PF_R][PF_MAXB * 32] __attribute__((aligned(64)));
    size_t n_sup = (n_tok * nb * 128 + PF_XBYTES - 1) / PF_XBYTES;
    if (n_sup < 1) n_sup = 1;
    const size_t per = (n_tok + n_sup - 1) / n_sup;
    for (size_t s0 = 0; s0 < n_tok; s0 += per) {
        const size_t ns = n_tok - s0 < per ? n_tok - s0 : per;
        for (uint64_t r = r0, R; r < r1; r += R) {
            R = r1 - r >= PF_R ? PF_R : 1; /* a range's last rows one at a time: fewer tiles to compile */
            const float *wp[PF_R];
            for (uint64_t i = 0; i < R; i++) {
                const uint8_t *rw = s->w + (r + i) * s->row_bytes;
                if (fmt == FMT_F32) {
                    wp[i] = (const float *)rw;
                    continue;
                }
                const uint8_t *rs = s->sc ? s->sc + (r + i) * s->sc_row : NULL;
                for (size_t b = 0; b < nb; b++) {
                    __m256 w[4];
                    decode(fmt, rw, rs, b, w);
                    for (int k = 0; k < 4; k++) _mm256_store_ps(buf[i] + 32 * b + 8 * k, w[k]);
                }
                wp[i] = buf[i];
            }
            /* the next rows' weights come in while these are multiplied (one stream of R rows) */
            const uint64_t rn = r + R, rn1 = rn + PF_R <= r1 ? rn + PF_R : rn + 1 <= r1 ? rn + 1 : rn;
            const char *pf = (const char *)(s->w + (rn < rn1 ? rn : r) * s->row_bytes);
            if (s->sc)
                for (size_t q = 0; rn < rn1 && q < (rn1 - rn) * s->sc_row; q += 64)
                    _mm_prefetch((const char *)(s->sc + rn * s->sc_row + q), _MM_HINT_T0);
            ptile_rows((int)R, out + s0 * os, os, r, wp, nb, x + s0 * xs, xs, ns, pf,
                       rn < rn1 ? (rn1 - rn) * s->row_bytes : 0);
        }
    }
}

/* One function per format and walk: one function holding all ten took nearly twice as long to
 * compile under clang ASan (51 s against 28 s of CPU, loaded machine). */
#define WALKS(F)                                                                                                    \
    TGT static void tiles_##F(float *out, size_t os, const src *s, size_t nb, const float *x, size_t xs,           \
                              size_t n_tok, uint64_t r0, uint64_t r1) {                                             \
        run_fmt(F, out, os, s, nb, x, xs, n_tok, r0, r1);                                                          \
    }                                                                                                               \
    TGT static void prefill_##F(float *out, size_t os, const src *s, size_t nb, const float *x, size_t xs,         \
                                size_t n_tok, uint64_t r0, uint64_t r1) {                                           \
        prefill_fmt(F, out, os, s, nb, x, xs, n_tok, r0, r1);                                                      \
    }
WALKS(FMT_MX)
WALKS(FMT_BF16)
WALKS(FMT_F16)
WALKS(FMT_F32)
WALKS(FMT_Q8)
#undef WALKS

TGT static void run_any(const int fmt, float *out, size_t os, const src *s, size_t nb, const float *x, size_t xs,
                        size_t n_tok, uint64_t r0, uint64_t r1) {
    /* MXFP4 and Q8_0 cost ~7 uops per 8 weights to widen: below 9 tokens widening in registers per
     * 2 x 8 tile (no store and reload) is as fast (measured: 4 tokens 41 vs 24 GMAC/s, 8 45 vs 36) */
    const size_t min_tok = fmt == FMT_MX || fmt == FMT_Q8 ? 9 : 2;
    const int pre = n_tok >= min_tok && nb <= PF_MAXB;
    switch (fmt) {
    case FMT_MX: (pre ? prefill_FMT_MX : tiles_FMT_MX)(out, os, s, nb, x, xs, n_tok, r0, r1); break;
    case FMT_BF16: (pre ? prefill_FMT_BF16 : tiles_FMT_BF16)(out, os, s, nb, x, xs, n_tok, r0, r1); break;
    case FMT_F16: (pre ? prefill_FMT_F16 : tiles_FMT_F16)(out, os, s, nb, x, xs, n_tok, r0, r1); break;
    case FMT_F32: (pre ? prefill_FMT_F32 : tiles_FMT_F32)(out, os, s, nb, x, xs, n_tok, r0, r1); break;
    default: (pre ? prefill_FMT_Q8 : tiles_FMT_Q8)(out, os, s, nb, x, xs, n_tok, r0, r1); break;
    }
}

/* The f32 tiles alone: the avx2 and avx2vnni variants (simd_avx2_int.c) use them from 4 tokens, for
 * BF16 / F16 / F32 and for non-finite activations. */
const gptoss_cpu_ops gptoss_cpu_avx2_f32 = {
    .name = "avx2f32", .dense = simd_dense, .mxfp4 = simd_mxfp4, .mxfp4_ggml = gptoss_mxfp4_ggml_avx2};
#endif
