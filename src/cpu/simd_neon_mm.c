/* simd_neon_mm.c: the AArch64 i8mm (SMMLA) kernels for MXFP4 (HF layout) and Q8_0 products of 2 to
 * MM_NT tokens (batched decode, short prefill chunks, the experts' small token groups), the
 * `neoni8mm` variant: neondot plus these, picked where the CPU has i8mm (Linux: HWCAP2_I8MM) besides
 * dotprod. SMMLA multiplies a 2 x 8 int8 matrix by the transpose of another into a 2 x 2 int32
 * block: two weight rows x two tokens, eight elements a step, so each weight byte loaded serves two
 * tokens and each activation byte two rows (SDOT's one-token kernels reuse neither).
 *
 * Activations: each token's row is quantized once per call as for the SDOT kernels (MXFP4: 24 bits,
 * three int8 planes, s = max|x| / (127 * 2^16); Q8_0: 16 bits, two planes, s = max|x| / 32639: see
 * simd_neon_dot.c for why), then tokens are paired: per plane, per 8 elements, token 2p's 8 bytes
 * then token 2p+1's (an odd count is padded with a zero token), which is SMMLA's second operand
 * as loaded. The weights of two rows are paired the same way with zip1/zip2 (MXFP4 codes first
 * through tbl to 2 v, an integer in [-12, 12]).
 * Per block, row pair and token pair: four SMMLA per plane give the block's whole dot per lane
 * (lanes: row 0 x token 0, row 0 x token 1, row 1 x token 0, row 1 x token 1).
 * - MXFP4: a lane's plane dot is at most 32 * 12 * 128 < 2^16, so (h << 8) + m < 2^24 converts
 *   exactly, then times 256 plus l in f32 (the full 24-bit dot, up to 2^32, would overflow int32),
 *   times 2^(e-127) of the lane's row and an FMA by s / 2 of its token.
 * - Q8_0: a plane dot is at most 32 * 128 * 128 = 2^19, (hi << 8) + lo < 2^28 in int32, one convert
 *   and one FMA by d * s.
 * Each output is one lane of one tile with its own accumulators, so it does not depend on the row
 * split, the thread count or the other tokens. One token goes to neondot's SDOT kernels; more than
 * MM_NT tokens, rows wider than MM_MAXC and activations the quantizers refuse to the f32 tiles.
 * Compiled only for AArch64, with a function-level target attribute. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "cpu/kernels.h"
#include "cpu/simd.h"

/* gcc enables i8mm per function; clang 14's arm_neon.h declares vmmlaq_s32 only when the whole
 * file targets i8mm (as for SDOT in simd_neon_dot.c), so there without it neoni8mm is not offered. */
#if defined(__ARM_FEATURE_MATMUL_INT8) && defined(__ARM_FEATURE_DOTPROD)
#define NEON_MM 1
#define MM_TGT
#elif defined(__GNUC__) && !defined(__clang__)
#define NEON_MM 1
#define MM_TGT __attribute__((target("arch=armv8.2-a+dotprod+i8mm")))
#else
#define NEON_MM 0
#endif
#define INL __attribute__((always_inline)) inline

enum { MM_NT = 8, MM_NP = MM_NT / 2, MM_MAXC = 4096, MM_MAXB = MM_MAXC / 32 };
enum { MM_MX, MM_Q8 };

int gptoss_cpu_has_neon_i8mm(void) {
#if !NEON_MM
    return 0;
#elif defined(__linux__)
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13) /* arch/arm64/include/uapi/asm/hwcap.h */
#endif
    return gptoss_cpu_has_neon_dotprod() && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#else
    return 0; /* macOS (M2 and later have i8mm): not detected here, never tested */
#endif
}

#if NEON_MM
/* The quantized activations of up to MM_NT tokens, paired (see the top). */
typedef struct mmq {
    int8_t pl[3][MM_NP][2 * MM_MAXC]; /* per plane and token pair: 16 bytes per 8 elements */
    float s[MM_NP][2 * MM_MAXB];      /* per token pair and block: the two tokens' scales (MXFP4: halved) */
} mmq;

/* 0 when a token's row is refused by the quantizer. */
static int mm_quantize(mmq *q, const int fmt, const float *x, size_t xs, size_t n_tok, size_t cols) {
    int8_t t[3][MM_MAXC];
    float sc[MM_MAXB];
    const size_t nb = cols / 32;
    const int planes = fmt == MM_MX ? 3 : 2;
    for (size_t tk = 0; tk < n_tok + (n_tok & 1); tk++) {
        const size_t p = tk / 2, side = tk & 1;
        if (tk == n_tok) { /* the zero token that pads an odd count */
            memset(t, 0, sizeof t);
            memset(sc, 0, sizeof sc);
        } else if (fmt == MM_MX ? !gptoss_neon_quantize24(t[0], t[1], t[2], sc, x + tk * xs, cols)
                                : !gptoss_neon_quantize16(t[0], t[1], sc, x + tk * xs, cols)) {
            return 0;
        }
        for (int k = 0; k < planes; k++)
            for (size_t c = 0; c < cols / 8; c++) memcpy(q->pl[k][p] + c * 16 + side * 8, t[k] + c * 8, 8);
        for (size_t b = 0; b < nb; b++) q->s[p][2 * b + side] = fmt == MM_MX ? 0.5f * sc[b] : sc[b];
    }
    return 1;
}

static inline float e8m0(uint8_t e) {
    const uint32_t bits = e ? (uint32_t)e << 23 : 0x00400000u;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* The f16 scales of Q8_0 blocks p0, p0, p1, p1, widened by one fcvtl (exact). */
static inline float32x4_t q8_scales_pair(const uint8_t *p0, const uint8_t *p1) {
    uint16_t d[4];
    memcpy(&d[0], p0, 2);
    memcpy(&d[2], p1, 2);
    d[1] = d[0], d[3] = d[2];
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(d)));
}

/* 8-byte halves of x and y interleaved: (x lo, y lo) and (x hi, y hi). */
static INL int8x16_t zip_lo(int8x16_t x, int8x16_t y) {
    return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(x), vreinterpretq_s64_s8(y)));
}
static INL int8x16_t zip_hi(int8x16_t x, int8x16_t y) {
    return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(x), vreinterpretq_s64_s8(y)));
}

/* One plane's block dot for a row pair (a[4]) and a token pair (16-byte chunks at pb). */
MM_TGT static INL int32x4_t mm_dot(const int8x16_t *a, const int8_t *pb) {
    int32x4_t d = vmmlaq_s32(vdupq_n_s32(0), a[0], vld1q_s8(pb));
    d = vmmlaq_s32(d, a[1], vld1q_s8(pb + 16));
    d = vmmlaq_s32(d, a[2], vld1q_s8(pb + 32));
    return vmmlaq_s32(d, a[3], vld1q_s8(pb + 48));
}

/* Rows w0, w1 (w1 == w0 for a last odd row: only row 0's lanes are written) x NP token pairs.
 * MXFP4: w = code bytes, sc = scale bytes of each row; Q8_0: w = blocks, sc unused. */
MM_TGT static INL void mm_tile(const int fmt, const int NP, float *out, size_t os, const uint8_t *w0,
                               const uint8_t *w1, const uint8_t *sc0, const uint8_t *sc1, size_t nb, const mmq *q,
                               uint64_t r, int two, size_t n_tok, const float *bias) {
    static const int8_t lut2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const int8x16_t lut = vld1q_s8(lut2);
    float32x4_t acc[MM_NP][2];
    for (int p = 0; p < NP; p++) acc[p][0] = acc[p][1] = vdupq_n_f32(0.0f);
    for (size_t b = 0; b < nb; b++) {
        int8x16_t a[4];
        float32x4_t rs; /* per lane, its row's block scale: 2^(e-127) or d */
        if (fmt == MM_MX) {
            const uint8x16_t c0 = vld1q_u8(w0 + b * 16), c1 = vld1q_u8(w1 + b * 16), m = vdupq_n_u8(15);
            const int8x16_t l0 = vqtbl1q_s8(lut, vandq_u8(c0, m)), h0 = vqtbl1q_s8(lut, vshrq_n_u8(c0, 4));
            const int8x16_t l1 = vqtbl1q_s8(lut, vandq_u8(c1, m)), h1 = vqtbl1q_s8(lut, vshrq_n_u8(c1, 4));
            a[0] = zip_lo(l0, l1), a[1] = zip_hi(l0, l1), a[2] = zip_lo(h0, h1), a[3] = zip_hi(h0, h1);
            const float e0 = e8m0(sc0[b]), e1 = e8m0(sc1[b]);
            rs = (float32x4_t){e0, e0, e1, e1};
        } else {
            const uint8_t *p0 = w0 + b * GPTOSS_Q8_0_BYTES, *p1 = w1 + b * GPTOSS_Q8_0_BYTES;
            const int8x16_t l0 = vld1q_s8((const int8_t *)(p0 + 2)), h0 = vld1q_s8((const int8_t *)(p0 + 18));
            const int8x16_t l1 = vld1q_s8((const int8_t *)(p1 + 2)), h1 = vld1q_s8((const int8_t *)(p1 + 18));
            a[0] = zip_lo(l0, l1), a[1] = zip_hi(l0, l1), a[2] = zip_lo(h0, h1), a[3] = zip_hi(h0, h1);
            rs = q8_scales_pair(p0, p1);
        }
        for (int p = 0; p < NP; p++) {
            const float32x2_t s2 = vld1_f32(q->s[p] + 2 * b);
            const float32x4_t ts = vcombine_f32(s2, s2); /* token 0, token 1, token 0, token 1 */
            float32x4_t *ac = &acc[p][b & 1];
            if (fmt == MM_MX) {
                const int32x4_t dh = mm_dot(a, q->pl[0][p] + b * 64), dm = mm_dot(a, q->pl[1][p] + b * 64);
                const int32x4_t dl = mm_dot(a, q->pl[2][p] + b * 64);
                const float32x4_t f =
                    vfmaq_n_f32(vcvtq_f32_s32(dl), vcvtq_f32_s32(vaddq_s32(vshlq_n_s32(dh, 8), dm)), 256.0f);
                /* f * 2^(e-127) first, as the SDOT kernel does: keeps the subnormal scale 2^-127 exact */
                *ac = vfmaq_f32(*ac, vmulq_f32(f, rs), ts);
            } else {
                const int32x4_t dh = mm_dot(a, q->pl[0][p] + b * 64), dl = mm_dot(a, q->pl[1][p] + b * 64);
                *ac = vfmaq_f32(*ac, vcvtq_f32_s32(vaddq_s32(vshlq_n_s32(dh, 8), dl)), vmulq_f32(rs, ts));
            }
        }
    }
    for (int p = 0; p < NP; p++) {
        float v[4];
        vst1q_f32(v, vaddq_f32(acc[p][0], acc[p][1]));
        for (int k = 0; k < 4; k++) {
            const size_t t = 2 * (size_t)p + (k & 1);
            const uint64_t row = r + (k >> 1);
            if (t < n_tok && (two || !(k >> 1))) out[t * os + row] = v[k] + (bias ? bias[row] : 0.0f);
        }
    }
}

/* Rows [r0, r1) in pairs. */
MM_TGT static INL void mm_run(const int fmt, const int NP, float *out, size_t os, const uint8_t *w,
                              const uint8_t *scales, size_t row_bytes, size_t nb, const mmq *q, size_t n_tok,
                              const float *bias, uint64_t r0, uint64_t r1) {
    for (uint64_t r = r0; r < r1; r += 2) {
        const int two = r + 1 < r1;
        const uint64_t rr = two ? r + 1 : r;
        mm_tile(fmt, NP, out, os, w + r * row_bytes, w + rr * row_bytes, scales ? scales + r * nb : NULL,
                scales ? scales + rr * nb : NULL, nb, q, r, two, n_tok, bias);
    }
}

MM_TGT static void mm_dispatch(const int fmt, float *out, size_t os, const uint8_t *w, const uint8_t *scales,
                               size_t row_bytes, size_t nb, const mmq *q, size_t n_tok, const float *bias,
                               uint64_t r0, uint64_t r1) {
#define RUN(F, NP) mm_run(F, NP, out, os, w, scales, row_bytes, nb, q, n_tok, bias, r0, r1)
    if (fmt == MM_MX) switch ((n_tok + 1) / 2) {
        case 1: RUN(MM_MX, 1); break;
        case 2: RUN(MM_MX, 2); break;
        case 3: RUN(MM_MX, 3); break;
        default: RUN(MM_MX, 4); break;
        }
    else switch ((n_tok + 1) / 2) {
        case 1: RUN(MM_Q8, 1); break;
        case 2: RUN(MM_Q8, 2); break;
        case 3: RUN(MM_Q8, 3); break;
        default: RUN(MM_Q8, 4); break;
        }
#undef RUN
}

void gptoss_dense_neon_mm(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                          size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols;
    if (n_tok < 2 || n_tok > MM_NT || w->dtype != GPTOSS_DTYPE_Q8_0 || cols > MM_MAXC) {
        gptoss_dense_neon_dot(out, os, w, bias, x, xs, n_tok, r0, r1); /* SDOT at 1 token, else the f32 tiles */
        return;
    }
    mmq q;
    if (!mm_quantize(&q, MM_Q8, x, xs, n_tok, cols)) {
        gptoss_cpu_neon.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
        return;
    }
    mm_dispatch(MM_Q8, out, os, w->data, NULL, cols / 32 * GPTOSS_Q8_0_BYTES, cols / 32, &q, n_tok, bias, r0, r1);
}

void gptoss_mxfp4_neon_mm(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                          const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    if (n_tok < 2 || n_tok > MM_NT || cols > MM_MAXC) {
        gptoss_mxfp4_neon_dot(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    mmq q;
    if (!mm_quantize(&q, MM_MX, x, xs, n_tok, cols)) {
        gptoss_cpu_neon.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    mm_dispatch(MM_MX, out, os, w->blocks + e * w->rows * nb * 16, w->scales + e * w->rows * nb, nb * 16, nb, &q,
                n_tok, bias, r0, r1);
}
#else
void gptoss_dense_neon_mm(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                          size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_dense_neon_dot(out, os, w, bias, x, xs, n_tok, r0, r1);
}
void gptoss_mxfp4_neon_mm(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                          const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gptoss_mxfp4_neon_dot(out, os, w, e, bias, x, xs, n_tok, r0, r1);
}
#endif
#endif
