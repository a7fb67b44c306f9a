/* simd_neon.c: AArch64 NEON fast kernels (the `neon` variant), the tiles of simd_avx2.c with 4-lane
 * registers: R rows x NT tokens of f32 accumulators; each 32-element weight block is widened exactly
 * to eight float32x4 once and multiplied into all NT tokens. MXFP4 codes (HF layout, x in MXFP4
 * order; ggml layout, x in natural order) become values through a 16-entry int8 table (tbl) scaled by
 * the block's power of two. Activations stay f32, so results differ from the scalar reference by
 * summation order only. ASIMD is part of every AArch64 ABI gptoss targets (Linux, macOS), so nothing
 * here needs a run-time check or a target attribute. Compiled only for AArch64. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT
#define INL __attribute__((always_inline)) inline

enum { FMT_MX, FMT_BF16, FMT_F16, FMT_F32, FMT_Q8, FMT_GG };

/* 2^(e-127) as f32 bits (e = 0: the subnormal 2^-127). */
static inline float e8m0(uint8_t e) {
    uint32_t bits = e ? (uint32_t)e << 23 : 0x00400000u;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef struct src {
    const uint8_t *w;         /* row 0 of the range (dense: data; mx, gg: blocks) */
    const uint8_t *w2;        /* gg split into gate / up tensors: the odd rows (else NULL) */
    const uint8_t *sc;        /* mx: scales of row 0 */
    size_t row_bytes, sc_row; /* bytes per row of w / of sc */
    uint64_t rstep;           /* a tile's rows are r, r + rstep, ... (0 or 1: adjacent) */
} src;

/* 16 int8 lanes times sc -> four float32x4 (exact: |q| <= 127 needs 7 of f32's 24 bits). */
static INL void widen_s8(int8x16_t q, float sc, float32x4_t *w) {
    const int16x8_t l = vmovl_s8(vget_low_s8(q)), h = vmovl_high_s8(q);
    w[0] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(l))), sc);
    w[1] = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(l)), sc);
    w[2] = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))), sc);
    w[3] = vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(h)), sc);
}

/* 16 MXFP4 code bytes: low nibbles -> w[0..3], high nibbles -> w[4..7], times 2^(e-127). The table
 * holds E2M1 values times 2 (all integers), so the scale is halved to match; every product is exact. */
static INL void widen_fp4(const uint8_t *codes, uint8_t e, float32x4_t *w) {
    static const int8_t lut2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    const int8x16_t lut = vld1q_s8(lut2);
    const uint8x16_t c = vld1q_u8(codes);
    const float sc = 0.5f * e8m0(e);
    widen_s8(vqtbl1q_s8(lut, vandq_u8(c, vdupq_n_u8(15))), sc, w);
    widen_s8(vqtbl1q_s8(lut, vshrq_n_u8(c, 4)), sc, w + 4);
}

/* Widens block b of the row at `rw` (scales `rs`) into w[0..7] (4 elements each, in the order of x). */
static INL void decode(const int fmt, const uint8_t *rw, const uint8_t *rs, size_t b, float32x4_t *w) {
    switch (fmt) {
    case FMT_MX: widen_fp4(rw + b * 16, rs[b], w); break;
    case FMT_GG: widen_fp4(rw + b * 17 + 1, rw[b * 17], w); break; /* scale byte, then 16 code bytes */
    case FMT_BF16: {
        const uint16_t *p = (const uint16_t *)(const void *)(rw + b * 64);
        for (int k = 0; k < 4; k++) {
            uint16x8_t v = vld1q_u16(p + 8 * k);
            w[2 * k] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16));
            w[2 * k + 1] = vreinterpretq_f32_u32(vshll_high_n_u16(v, 16));
        }
        break;
    }
    case FMT_F16: {
        const uint16_t *p = (const uint16_t *)(const void *)(rw + b * 64);
        for (int k = 0; k < 4; k++) {
            float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p + 8 * k));
            w[2 * k] = vcvt_f32_f16(vget_low_f16(h));
            w[2 * k + 1] = vcvt_high_f32_f16(h);
        }
        break;
    }
    case FMT_F32: {
        const float *p = (const float *)(const void *)(rw + b * 128);
        for (int k = 0; k < 8; k++) w[k] = vld1q_f32(p + 4 * k);
        break;
    }
    default: { /* Q8_0: f16 scale, then 32 int8 */
        const uint8_t *p = rw + b * GPTOSS_Q8_0_BYTES;
        uint16_t dh;
        memcpy(&dh, p, 2);
        const float d = gptoss_f16_to_f32(dh);
        widen_s8(vld1q_s8((const int8_t *)(p + 2)), d, w);
        widen_s8(vld1q_s8((const int8_t *)(p + 18)), d, w + 4);
        break;
    }
    }
}

/* R rows from r x NT tokens from x. nb full blocks. A row is decoded once per block and used by all
 * NT tokens at once: 2 x 8 tiles keep 16 accumulators + 8 weights in the 32 vector registers. */
static INL void tile(const int fmt, const int R, const int NT, float *out, size_t os, const src *s, uint64_t r,
                     size_t nb, const float *x, size_t xs) {
    float32x4_t acc[4][8];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) acc[i][t] = vdupq_n_f32(0.0f);
    const uint64_t st = s->rstep > 1 ? s->rstep : 1;
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        const uint64_t ri = r + (uint64_t)i * st;
        rw[i] = s->w2 ? (ri & 1 ? s->w2 : s->w) + (ri >> 1) * s->row_bytes : s->w + ri * s->row_bytes;
        rs[i] = s->sc ? s->sc + ri * s->sc_row : NULL;
    }
    for (size_t b = 0; b < nb; b++) {
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            float32x4_t w[8];
            decode(fmt, rw[i], rs[i], b, w);
#pragma GCC unroll 8
            for (int t = 0; t < NT; t++) {
                const float *xp = x + (size_t)t * xs + b * 32;
                float32x4_t a = acc[i][t];
#pragma GCC unroll 8
                for (int k = 0; k < 8; k++) a = vfmaq_f32(a, w[k], vld1q_f32(xp + 4 * k));
                acc[i][t] = a;
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int t = 0; t < NT; t++) out[(size_t)t * os + r + (uint64_t)i * st] = vaddvq_f32(acc[i][t]);
}

#define PREFILL_R4 0
#include "cpu/simd_driver.h"

/* Ggml-layout MXFP4 (x in natural order): the same tiles, 17-byte blocks with the scale inline; gate
 * and up stored as two tensors are read as interleaved rows. */
static void neon_mxfp4_ggml(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                            const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32, bpr = nb * 17;
    src s = {.w = w->blocks + e * w->rows * bpr, .row_bytes = bpr};
    if (w->blocks_odd) {
        s.w = w->blocks + e * (w->rows / 2) * bpr;
        s.w2 = w->blocks_odd + e * (w->rows / 2) * bpr;
    }
    run_fmt(FMT_GG, out, os, &s, nb, x, xs, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

const gptoss_cpu_ops gptoss_cpu_neon = {.name = "neon",
                                       .dense = simd_dense,
                                       .mxfp4 = simd_mxfp4,
                                       .mxfp4_ggml = neon_mxfp4_ggml,
                                       .attention = gptoss_attention_head_neon,
                                       .attention_group = gptoss_attention_group_neon,
                                       .attention_f16 = gptoss_attention_head_f16_neon,
                                       .attention_group_f16 = gptoss_attention_group_f16_neon,
                                       .attention_bf24 = gptoss_attention_head_bf24_neon,
                                       .attention_group_bf24 = gptoss_attention_group_bf24_neon,
                                       .swiglu_mx = gptoss_swiglu_mx_neon};
#endif
