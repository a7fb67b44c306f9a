/* simd_neon_dot.c: the AArch64 dotprod (SDOT) kernels for one-token products, the `neondot` variant
 * (neon plus these, picked where the CPU has ASIMDDP: HWCAP on Linux, every Apple Silicon CPU): MXFP4
 * experts (HF layout) and Q8_0 dense matrices (the default unembedding). The f32 tiles widen each
 * weight to a float (MXFP4: tbl, three widenings, a convert, a multiply); here the weights stay
 * bytes and SDOT multiplies them with the activations quantized to integers.
 *
 * Activations: each call quantizes the token's row once, one f32 scale per 32-block, s = max|x| / Q,
 * q = round(x / s), stored as int8 planes: MXFP4 24 bits (Q = 127 * 2^16, q = 65536 h + 256 m + l,
 * in MXFP4 order), Q8_0 16 bits (Q = 32639, q = 256 hi + lo, natural order). 8 bits miss the goldens
 * and 16 miss the exact path's 1e-3 on MXFP4 weights as stored (measured for the same scheme on
 * AVX512_VNNI, see simd_vnni.c); at 24 bits the error, |x - s q| <= 0.5 s, is below f32 rounding of
 * the block's largest element. Q8_0 weights already round at 2^-8 of their block's largest, so 16
 * bits (|x - s q| <= 0.51 s, 1.6e-5 of the block's largest) add nothing a token could tell apart.
 * - MXFP4, per block and row: tbl turns the codes into 2 v (an integer in [-12, 12]); six SDOT (two
 *   nibble halves x three planes), ((h << 8) + m) << 8 + l in int32, one convert, a multiply by
 *   2^(e-127) and an FMA by s / 2. Lane bound: 8 elements, |2 v| <= 12, |q| <= 127 * 2^16: |dot| <
 *   2^30 (every partial too).
 * - Q8_0, per 4 blocks and row: sixteen SDOT (two halves x two planes x four blocks), the lanes of
 *   the four blocks' dots added pairwise (addp) into one vector, (hi << 8) + lo, one convert and one
 *   FMA by d * s (the blocks' f16 scales widened four at a time by fcvtl). Bound: a block's |dot| <= 32 * 128
 *   * 32767 < 2^28. Two rows at a time share the activation loads.
 * Each output comes from one row's accumulators, so results do not depend on the row split or the
 * thread count. More than one token, rows wider than DOT_MAXC and non-finite (or tiny but nonzero)
 * activations take the f32 tiles. Compiled only for AArch64, with a function-level target
 * attribute. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "cpu/kernels.h"
#include "cpu/simd.h"

/* gcc enables SDOT per function; clang 14's arm_neon.h declares vdotq_s32 only when the whole file
 * targets dotprod (-march=armv8.2-a+dotprod, Apple's default CPUs), so under clang without it the
 * kernel is left out and neondot is never offered. */
#if defined(__ARM_FEATURE_DOTPROD)
#define NEON_DOT 1
#define DOT_TGT
#elif defined(__GNUC__) && !defined(__clang__)
#define NEON_DOT 1
#define DOT_TGT __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define NEON_DOT 0
#endif

enum { DOT_NT = 1, DOT_MAXC = 8192 };

int gptoss_cpu_has_neon_dotprod(void) {
#if !NEON_DOT
    return 0;
#elif defined(__linux__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    return 1; /* every Apple Silicon CPU (ARMv8.5-A and later) has it */
#else
    return 0;
#endif
}

/* The activation quantizers (also simd_neon_mm.c's): plain C, no dotprod needed. */
/* *mx = the largest |x| of a 32-block; 0 if a value is not finite. */
static int block_absmax(const float *xb, float *mx) {
    *mx = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (!isfinite(xb[j])) return 0;
        *mx = fmaxf(*mx, fabsf(xb[j]));
    }
    return 1;
}

/* One token's row (n a multiple of 32, MXFP4 order) -> planes h, m, l and per-block scales.
 * 0 when a value is not finite, or a block's largest is below 2^-100 but not 0: its scale would be
 * subnormal (precision lost) or 1/s overflow; the caller then takes the f32 tiles. */
int gptoss_neon_quantize24(int8_t *h, int8_t *m, int8_t *l, float *sc, const float *x, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float mx;
        if (!block_absmax(xb, &mx)) return 0;
        if (mx > 0.0f && mx < 0x1p-100f) return 0;
        const float s = mx / (127.0f * 65536.0f), inv = mx > 0.0f ? (127.0f * 65536.0f) / mx : 0.0f;
        sc[b] = s;
        for (int j = 0; j < 32; j++) {
            int32_t q = (int32_t)lrintf(xb[j] * inv);
            if (q > 127 * 65536) q = 127 * 65536; /* inv rounds: keep |q| in range */
            if (q < -127 * 65536) q = -127 * 65536;
            const int32_t lo = (int32_t)(int8_t)(uint8_t)(q & 255), q1 = (q - lo) / 256;
            const int32_t mid = (int32_t)(int8_t)(uint8_t)(q1 & 255);
            l[b * 32 + j] = (int8_t)lo;
            m[b * 32 + j] = (int8_t)mid;
            h[b * 32 + j] = (int8_t)((q1 - mid) / 256);
        }
    }
    return 1;
}

/* One token's row (n a multiple of 32, natural order) -> 16-bit planes hi, lo and per-block scales.
 * 0 when a value is not finite, or a block's largest is below 2^-80 but not 0: d * s (d an f16
 * weight scale, down to 2^-24) would be subnormal; the caller then takes the f32 tiles. */
int gptoss_neon_quantize16(int8_t *hi, int8_t *lo, float *sc, const float *x, size_t n) {
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float mx;
        if (!block_absmax(xb, &mx)) return 0;
        if (mx > 0.0f && mx < 0x1p-80f) return 0;
        const float s = mx / 32639.0f, inv = mx > 0.0f ? 32639.0f / mx : 0.0f;
        sc[b] = s;
        for (int j = 0; j < 32; j++) {
            int32_t q = (int32_t)lrintf(xb[j] * inv);
            if (q > 32639) q = 32639; /* inv rounds: keep |q| in range, so that |hi| <= 127 */
            if (q < -32639) q = -32639;
            const int32_t l = (int32_t)(int8_t)(uint8_t)(q & 255);
            lo[b * 32 + j] = (int8_t)l;
            hi[b * 32 + j] = (int8_t)((q - l) / 256);
        }
    }
    return 1;
}

#if NEON_DOT
/* Row r of expert block pointers: sum over blocks of 2^(e-127) * s / 2 * (2 v . q). */
DOT_TGT static float row_dot(const uint8_t *codes, const uint8_t *scales, size_t nb, const int8_t *h,
                             const int8_t *m, const int8_t *l, const float *xs) {
    static const int8_t lut2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const int8x16_t lut = vld1q_s8(lut2);
    const uint8x16_t mask = vdupq_n_u8(15);
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; b++) {
        const uint8x16_t c = vld1q_u8(codes + b * 16);
        const int8x16_t wl = vqtbl1q_s8(lut, vandq_u8(c, mask)), wh = vqtbl1q_s8(lut, vshrq_n_u8(c, 4));
        const size_t o = b * 32;
        int32x4_t dh = vdotq_s32(vdotq_s32(vdupq_n_s32(0), wl, vld1q_s8(h + o)), wh, vld1q_s8(h + o + 16));
        int32x4_t dm = vdotq_s32(vdotq_s32(vdupq_n_s32(0), wl, vld1q_s8(m + o)), wh, vld1q_s8(m + o + 16));
        int32x4_t dl = vdotq_s32(vdotq_s32(vdupq_n_s32(0), wl, vld1q_s8(l + o)), wh, vld1q_s8(l + o + 16));
        const int32x4_t d = vaddq_s32(vshlq_n_s32(vaddq_s32(vshlq_n_s32(dh, 8), dm), 8), dl);
        const uint32_t eb = scales[b] ? (uint32_t)scales[b] << 23 : 0x00400000u;
        float e;
        memcpy(&e, &eb, 4);
        /* d * 2^(e-127) first: |d| >= 1 keeps the product normal for the subnormal scale 2^-127,
         * where 2^(e-127) * s would underflow */
        const float32x4_t de = vmulq_n_f32(vcvtq_f32_s32(d), e);
        if (b & 1) acc1 = vfmaq_n_f32(acc1, de, 0.5f * xs[b]);
        else acc0 = vfmaq_n_f32(acc0, de, 0.5f * xs[b]);
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

void gptoss_mxfp4_neon_dot(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    int8_t h[DOT_MAXC], m[DOT_MAXC], l[DOT_MAXC];
    float sc[DOT_MAXC / 32];
    if (n_tok > DOT_NT || cols > DOT_MAXC || !gptoss_neon_quantize24(h, m, l, sc, x, cols)) {
        gptoss_cpu_neon.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    const uint8_t *blocks = w->blocks + e * w->rows * nb * 16, *scales = w->scales + e * w->rows * nb;
    for (uint64_t r = r0; r < r1; r++)
        out[r] = row_dot(blocks + r * nb * 16, scales + r * nb, nb, h, m, l, sc) + (bias ? bias[r] : 0.0f);
}
/* The int32 dots of one Q8_0 block's 32 weights at p with planes (ah0, ah1) and (al0, al1): four
 * lanes each, for hi and lo. */
DOT_TGT static inline __attribute__((always_inline)) void q8_block(int32x4_t *dh, int32x4_t *dl, const uint8_t *p,
                                                                   int8x16_t ah0, int8x16_t ah1, int8x16_t al0,
                                                                   int8x16_t al1) {
    const int8x16_t w0 = vld1q_s8((const int8_t *)(p + 2)), w1 = vld1q_s8((const int8_t *)(p + 18));
    *dh = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, ah0), w1, ah1);
    *dl = vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, al0), w1, al1);
}

/* f16 scale of the Q8_0 block at p, widened */
static inline float q8_scale(const uint8_t *p) {
    uint16_t d;
    memcpy(&d, p, 2);
    return gptoss_f16_to_f32(d);
}

/* The f16 scales of the 4 Q8_0 blocks from p, widened by one fcvtl (exact, as gptoss_f16_to_f32). */
static inline float32x4_t q8_scales4(const uint8_t *p) {
    uint16_t d[4];
    for (int k = 0; k < 4; k++) memcpy(&d[k], p + k * GPTOSS_Q8_0_BYTES, 2);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(d)));
}

/* Rows rw[0..R) (R = 1 or 2) of nb Q8_0 blocks against the planes: sum over blocks of d * s * (w . q). */
DOT_TGT static inline __attribute__((always_inline)) void q8_rows(float *res, const int R, const uint8_t *const *rw,
                                                                  size_t nb, const int8_t *hi, const int8_t *lo,
                                                                  const float *sc) {
    const size_t B = GPTOSS_Q8_0_BYTES;
    float32x4_t acc[2] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    size_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        int32x4_t dh[2][4], dl[2][4];
        for (int k = 0; k < 4; k++) {
            const size_t o = (b + k) * 32;
            const int8x16_t ah0 = vld1q_s8(hi + o), ah1 = vld1q_s8(hi + o + 16);
            const int8x16_t al0 = vld1q_s8(lo + o), al1 = vld1q_s8(lo + o + 16);
            for (int i = 0; i < R; i++) q8_block(&dh[i][k], &dl[i][k], rw[i] + (b + k) * B, ah0, ah1, al0, al1);
        }
        const float32x4_t s4 = vld1q_f32(sc + b);
        for (int i = 0; i < R; i++) {
            const int32x4_t h = vpaddq_s32(vpaddq_s32(dh[i][0], dh[i][1]), vpaddq_s32(dh[i][2], dh[i][3]));
            const int32x4_t l = vpaddq_s32(vpaddq_s32(dl[i][0], dl[i][1]), vpaddq_s32(dl[i][2], dl[i][3]));
            acc[i] = vfmaq_f32(acc[i], vcvtq_f32_s32(vaddq_s32(vshlq_n_s32(h, 8), l)),
                               vmulq_f32(q8_scales4(rw[i] + b * B), s4));
        }
    }
    float tail[2] = {0.0f, 0.0f};
    for (; b < nb; b++) {
        const size_t o = b * 32;
        const int8x16_t ah0 = vld1q_s8(hi + o), ah1 = vld1q_s8(hi + o + 16);
        const int8x16_t al0 = vld1q_s8(lo + o), al1 = vld1q_s8(lo + o + 16);
        for (int i = 0; i < R; i++) {
            int32x4_t dh, dl;
            q8_block(&dh, &dl, rw[i] + b * B, ah0, ah1, al0, al1);
            const int32_t t = vaddvq_s32(vaddq_s32(vshlq_n_s32(dh, 8), dl));
            tail[i] += (float)t * (q8_scale(rw[i] + b * B) * sc[b]);
        }
    }
    for (int i = 0; i < R; i++) res[i] = vaddvq_f32(acc[i]) + tail[i];
}

/* dotprod code throughout (q8_rows inlined): only ever called where neondot was picked */
DOT_TGT void gptoss_dense_neon_dot(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x,
                                   size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    int8_t hi[DOT_MAXC], lo[DOT_MAXC];
    float sc[DOT_MAXC / 32];
    if (w->dtype != GPTOSS_DTYPE_Q8_0 || n_tok > DOT_NT || cols > DOT_MAXC ||
        !gptoss_neon_quantize16(hi, lo, sc, x, cols)) {
        gptoss_cpu_neon.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
        return;
    }
    const size_t rb = nb * GPTOSS_Q8_0_BYTES;
    const uint8_t *data = w->data;
    uint64_t r = r0;
    for (; r + 2 <= r1; r += 2) {
        const uint8_t *rw[2] = {data + r * rb, data + (r + 1) * rb};
        q8_rows(out + r, 2, rw, nb, hi, lo, sc);
    }
    if (r < r1) {
        const uint8_t *rw[1] = {data + r * rb};
        q8_rows(out + r, 1, rw, nb, hi, lo, sc);
    }
    gptoss_add_bias(out, 0, bias, 1, r0, r1);
}
#else
void gptoss_dense_neon_dot(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                           size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_cpu_neon.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
}
void gptoss_mxfp4_neon_dot(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_cpu_neon.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
}
#endif
#endif
