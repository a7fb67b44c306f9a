/* simd_vnni.c: AVX512_VNNI integer kernels for small token counts (decode: 1 token; up to VN_NT), the
 * avx512vnni variant. The f32 tiles of simd_avx512.c widen every weight to f32 (MXFP4: vpmovzxbd
 * and two vpermps per 32-element block, port 5 bound), which made the decode matvec compute-bound.
 * Here the weights stay bytes and go through vpdpbusd (u8 x s8 -> s32):
 *
 * - Activations: each token's row is quantized once per call to 16 bits per element with one f32
 *   scale per 32-block, s = max|x| / 32639, q = round(x / s), stored as two int8 planes hi, lo with
 *   q = 256 hi + lo (lo in [-128, 127], so |q| <= 32639 keeps hi in [-127, 127]). 8-bit activations
 *   are not enough (they miss the goldens); 16 bits put the error at 2^-16 of the block's max.
 * - MXFP4: one vpshufb turns 4-bit codes into unsigned bytes u = 2 v + 12 (2 v is an integer in
 *   [-12, 12]). A pair of blocks (32 code bytes) is broadcast to a zmm; the low 32 bytes keep the low
 *   nibbles, the high 32 bytes the high nibbles (one per-qword variable shift), and the activation
 *   planes are stored in that order, so no weight shuffle is needed. Per pair and token:
 *   (dpbusd(0, u, hi) << 8) then dpbusd(., u, lo) = dot(u, q) per 4 elements, exact in s32;
 *   converted to f32 and multiplied by c = v-scale 2^(e-127) * s / 2 (exact: a power of two times s),
 *   into accumulator A (block 2p's lanes) and B (block 2p+1's lanes). The +12 offset is removed
 *   once per row: sum over blocks of 2^(e-127) * 6 s * sum(q), precomputed per activation block.
 * - Q8_0: u = w + 128 (xor 0x80), the same two dpbusd, offset 128 s sum(q), c = d * s.
 *
 * Lane bounds: |dpbusd| per lane <= 4 * 255 * 128 (Q8_0), << 8 and + 4 * 255 * 128 more stays below
 * 2^26; every dot(u, q) lane (4 elements) is < 2^24, so its conversion to f32 is exact. The only
 * error beyond f32 rounding is the activation rounding: |x - s q| <= s / 2 per element.
 * Each output is computed by one tile row with its own accumulators, so results do not depend on the
 * row range, the token count or the thread count. Larger token counts, other formats, rows wider than
 * VN_MAXC and non-finite activations go to the f32 AVX-512 kernels. */
#if defined(__x86_64__)
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline

#ifndef VN_PF
#define VN_PF 4096 /* bytes ahead of a tile's row region (its rows are contiguous) */
#endif
enum { VN_NT = 4, VN_MAXC = 4096, VN_MAXB = VN_MAXC / 32 };
enum { VF_MX, VF_Q8 };

/* The quantized activations of up to VN_NT tokens. Plane layout per pair of blocks (64 bytes):
 * MXFP4: block 2p elements 0..15 (MXFP4 order: the low nibbles), block 2p+1 elements 0..15, then
 * elements 16..31 of each; Q8_0: natural order. */
typedef struct vq {
    int8_t hi[VN_NT][VN_MAXC] __attribute__((aligned(64)));
    int8_t lo[VN_NT][VN_MAXC] __attribute__((aligned(64)));
    float c[VN_NT][VN_MAXB + 16]; /* per block: s / 2 (MXFP4) or s (Q8_0); 0 past the end */
    float k[VN_NT][VN_MAXB + 16]; /* per block: the offset's share, 6 s sum(q) or 128 s sum(q) */
} vq;

/* Quantizes n_tok rows of nb blocks; 0 if a value is not finite (the caller falls back). */
TGT static int quantize(vq *q, int fmt, const float *x, size_t xs, size_t n_tok, size_t nb) {
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff)), big = _mm512_set1_ps(FLT_MAX);
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * xs;
        for (size_t b = 0; b < nb; b++) {
            __m512 a0 = _mm512_loadu_ps(xt + b * 32), a1 = _mm512_loadu_ps(xt + b * 32 + 16);
            __m512 m0 = _mm512_and_ps(a0, absmask), m1 = _mm512_and_ps(a1, absmask);
            if ((__mmask16)(_mm512_cmp_ps_mask(m0, big, _CMP_LE_OQ) & _mm512_cmp_ps_mask(m1, big, _CMP_LE_OQ)) != 0xffff)
                return 0;
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
            float s = amax / 32639.0f;
            if (s < FLT_MIN) s = FLT_MIN; /* also max|x| = 0; keeps 1/s finite */
            __m512 inv = _mm512_set1_ps(1.0f / s);
            __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(a0, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(a1, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            __m512i h0 = _mm512_srai_epi32(_mm512_add_epi32(q0, _mm512_set1_epi32(128)), 8);
            __m512i h1 = _mm512_srai_epi32(_mm512_add_epi32(q1, _mm512_set1_epi32(128)), 8);
            __m512i l0 = _mm512_sub_epi32(q0, _mm512_slli_epi32(h0, 8)), l1 = _mm512_sub_epi32(q1, _mm512_slli_epi32(h1, 8));
            size_t o0 = fmt == VF_MX ? (b >> 1) * 64 + (b & 1) * 16 : b * 32, o1 = o0 + (fmt == VF_MX ? 32 : 16);
            _mm_store_si128((__m128i *)(q->hi[t] + o0), _mm512_cvtepi32_epi8(h0));
            _mm_store_si128((__m128i *)(q->hi[t] + o1), _mm512_cvtepi32_epi8(h1));
            _mm_store_si128((__m128i *)(q->lo[t] + o0), _mm512_cvtepi32_epi8(l0));
            _mm_store_si128((__m128i *)(q->lo[t] + o1), _mm512_cvtepi32_epi8(l1));
            const float sum = (float)_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)); /* |sum| < 2^20: exact */
            q->c[t][b] = fmt == VF_MX ? 0.5f * s : s;
            q->k[t][b] = (fmt == VF_MX ? 6.0f * s : 128.0f * s) * sum;
        }
        if (nb & 1) { /* the missing half of the last pair: zero activations */
            const size_t o = (nb >> 1) * 64;
            if (fmt == VF_MX) {
                memset(q->hi[t] + o + 16, 0, 16); memset(q->hi[t] + o + 48, 0, 16);
                memset(q->lo[t] + o + 16, 0, 16); memset(q->lo[t] + o + 48, 0, 16);
            } else {
                memset(q->hi[t] + o + 32, 0, 32); memset(q->lo[t] + o + 32, 0, 32);
            }
        }
        for (size_t b = nb; b < ((nb + 15) & ~(size_t)15); b++) q->c[t][b] = q->k[t][b] = 0.0f;
    }
    return 1;
}

typedef struct vsrc {
    const uint8_t *w;  /* row 0: MXFP4 code bytes or Q8_0 blocks */
    const uint8_t *sc; /* MXFP4: e8m0 scales of row 0 */
    size_t row_bytes, sc_row;
} vsrc;

/* Weight scales of blocks [b0, b0 + n) (n <= 16) of one row as f32; 0 past n for Q8_0. */
TGT static INL __m512 wscales(const int fmt, const uint8_t *rw, const uint8_t *rs, size_t b0, size_t n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    if (fmt == VF_MX) { /* 2^(e-127); e = 0 is the subnormal 2^-127 */
        __m512i z = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, rs + b0));
        __m512i bits = _mm512_mask_mov_epi32(_mm512_slli_epi32(z, 23), _mm512_cmpeq_epi32_mask(z, _mm512_setzero_si512()),
                                             _mm512_set1_epi32(0x00400000));
        return _mm512_castsi512_ps(bits);
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(GPTOSS_Q8_0_BYTES));
    __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, rw + b0 * GPTOSS_Q8_0_BYTES, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d));
}

/* The unsigned weight bytes of blocks 2p, 2p+1 (the second only if two): lanes 0-3 / 4-7 hold the
 * low nibbles of the first / second block (MXFP4), lanes 8-11 / 12-15 their high nibbles; Q8_0: lanes
 * 0-7 the first block, 8-15 the second. */
TGT static INL __m512i wbytes(const int fmt, const uint8_t *rw, size_t p, int two) {
    if (fmt == VF_MX) {
        const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
        const __m512i shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
        const uint8_t *pb = rw + p * 32;
        __m512i c = two ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)pb))
                        : _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)pb));
        c = _mm512_and_si512(_mm512_srlv_epi64(c, shift), _mm512_set1_epi8(15));
        return _mm512_shuffle_epi8(lut, c);
    }
    const uint8_t *pb = rw + p * 2 * GPTOSS_Q8_0_BYTES + 2;
    __m256i a = _mm256_loadu_si256((const __m256i *)pb);
    __m512i c = two ? _mm512_inserti64x4(_mm512_castsi256_si512(a), _mm256_loadu_si256((const __m256i *)(pb + GPTOSS_Q8_0_BYTES)), 1)
                    : _mm512_zextsi256_si512(a);
    return _mm512_xor_si512(c, _mm512_set1_epi8((char)0x80));
}

/* R rows from r x NT tokens. */
TGT static INL void vtile(const int fmt, const int R, const int NT, float *out, size_t os, const vsrc *s, uint64_t r,
                          size_t nb, const vq *q) {
    const size_t bb = fmt == VF_MX ? 16 : GPTOSS_Q8_0_BYTES; /* bytes per block */
    __m512 acca[4][VN_NT], accb[4][VN_NT], corr[4][VN_NT];
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        rw[i] = s->w + (r + (uint64_t)i) * s->row_bytes;
        rs[i] = s->sc ? s->sc + (r + (uint64_t)i) * s->sc_row : NULL;
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) acca[i][t] = accb[i][t] = corr[i][t] = _mm512_setzero_ps();
    }
    float cb[4][VN_NT][16];
    const uint8_t *pf = rw[0] + VN_PF;
    for (size_t b0 = 0; b0 < nb; b0 += 16) {
        const size_t n = nb - b0 < 16 ? nb - b0 : 16;
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            __m512 ws = wscales(fmt, rw[i], rs[i], b0, n);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                _mm512_storeu_ps(cb[i][t], _mm512_mul_ps(ws, _mm512_loadu_ps(&q->c[t][b0])));
                corr[i][t] = _mm512_fmadd_ps(ws, _mm512_loadu_ps(&q->k[t][b0]), corr[i][t]);
            }
        }
        for (size_t j = 0; j < n; j += 2) {
            const size_t p = (b0 + j) >> 1;
            const int two = j + 1 < n;
            /* the tile's R rows are one contiguous region, read R x as fast as one row */
            for (; pf < rw[0] + (b0 + j + 2) * bb * R + VN_PF; pf += 64) _mm_prefetch((const char *)pf, _MM_HINT_T0);
            __m512i u[4];
#pragma GCC unroll 4
            for (int i = 0; i < R; i++) u[i] = wbytes(fmt, rw[i], p, two);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                const __m512i h = _mm512_load_si512(q->hi[t] + p * 64), l = _mm512_load_si512(q->lo[t] + p * 64);
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) {
                    __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[i], h);
                    d = _mm512_dpbusd_epi32(_mm512_slli_epi32(d, 8), u[i], l);
                    const __m512 f = _mm512_cvtepi32_ps(d);
                    acca[i][t] = _mm512_fmadd_ps(f, _mm512_set1_ps(cb[i][t][j]), acca[i][t]);
                    accb[i][t] = _mm512_fmadd_ps(f, _mm512_set1_ps(cb[i][t][j + 1]), accb[i][t]);
                }
            }
        }
    }
    const __mmask16 second = fmt == VF_MX ? 0xf0f0 : 0xff00;
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            out[(size_t)t * os + r + (uint64_t)i] =
                _mm512_reduce_add_ps(_mm512_mask_blend_ps(second, acca[i][t], accb[i][t])) - _mm512_reduce_add_ps(corr[i][t]);
}

#define VT_CASES(FMT, R)                                                                                              \
    switch (n_tok) {                                                                                                  \
    case 1: vtile(FMT, R, 1, out, os, s, r, nb, q); break;                                                            \
    case 2: vtile(FMT, R, 2, out, os, s, r, nb, q); break;                                                            \
    case 3: vtile(FMT, R, 3, out, os, s, r, nb, q); break;                                                            \
    default: vtile(FMT, R, 4, out, os, s, r, nb, q); break;                                                           \
    }

TGT static INL void vrun(const int fmt, float *out, size_t os, const vsrc *s, size_t nb, const vq *q, size_t n_tok,
                         uint64_t r0, uint64_t r1) {
    uint64_t r = r0;
    if (n_tok <= 2)
        for (; r + 4 <= r1; r += 4) VT_CASES(fmt, 4)
    else
        for (; r + 2 <= r1; r += 2) VT_CASES(fmt, 2)
    for (; r < r1; r++) VT_CASES(fmt, 1)
}

TGT static void vnni_dense(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                           size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    vq q;
    if (w->dtype != GPTOSS_DTYPE_Q8_0 || n_tok > VN_NT || cols > VN_MAXC || r0 >= r1 ||
        !quantize(&q, VF_Q8, x, xs, n_tok, nb)) {
        gptoss_cpu_avx512.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
        return;
    }
    vsrc s = {.w = w->data, .row_bytes = nb * GPTOSS_Q8_0_BYTES};
    vrun(VF_Q8, out, os, &s, nb, &q, n_tok, r0, r1);
    if (bias)
        for (uint64_t r = r0; r < r1; r++)
            for (size_t t = 0; t < n_tok; t++) out[t * os + r] += bias[r];
}

TGT static void vnni_mxfp4(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias, const float *x,
                           size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    vq q;
    if (n_tok > VN_NT || nb * 32 > VN_MAXC || r0 >= r1 || !quantize(&q, VF_MX, x, xs, n_tok, nb)) {
        gptoss_cpu_avx512.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    vsrc s = {.w = w->blocks + e * w->rows * nb * 16, .sc = w->scales + e * w->rows * nb, .row_bytes = nb * 16, .sc_row = nb};
    vrun(VF_MX, out, os, &s, nb, &q, n_tok, r0, r1);
    if (bias)
        for (uint64_t r = r0; r < r1; r++)
            for (size_t t = 0; t < n_tok; t++) out[t * os + r] += bias[r];
}

static void vnni_mxfp4_ggml(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                            const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_cpu_avx512.mxfp4_ggml(out, os, w, e, bias, x, xs, n_tok, r0, r1);
}

const gptoss_cpu_ops gptoss_cpu_avx512vnni = {"avx512vnni", vnni_dense, vnni_mxfp4, vnni_mxfp4_ggml};
#endif
