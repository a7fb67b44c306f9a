/* mxfp4_ggml.c: MXFP4 expert weights in ggml's block layout, as GGUF files store them (ggml
 * block_mxfp4, ggml-quants.c dequantize_row_mxfp4): 17 bytes per 32 values, first the E8M0 scale
 * byte e, then 16 bytes qs where element j is the low nibble of qs[j] and element j+16 its high
 * nibble. ggml decodes with doubled E2M1 values {0,1,2,3,4,6,8,12,...} times 2^(e-127)/2, which is
 * the same number as the plain E2M1 value {0,0.5,1,...,6} times 2^(e-127) used here and by the
 * safetensors kernel, so both layouts decode to bit-identical floats. Scalar reference versions with
 * the contract of their HF-layout counterparts in kernels.h. */
#include <math.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

const uint8_t *gptoss_mxfp4_ggml_row(const gptoss_mxfp4 *w, uint64_t expert, uint64_t row) {
    const uint64_t bpr = w->cols / 32 * 17;
    if (w->blocks_odd) {
        const uint64_t half = w->rows / 2;
        return (row & 1 ? w->blocks_odd : w->blocks) + (expert * half + row / 2) * bpr;
    }
    return w->blocks + (expert * w->rows + row) * bpr;
}

void gptoss_mxfp4_ggml_row_to_f32(float *dst, const gptoss_mxfp4 *w, uint64_t expert, uint64_t row) {
    const uint8_t *p = gptoss_mxfp4_ggml_row(w, expert, row);
    const uint64_t nb = w->cols / 32;
    for (uint64_t b = 0; b < nb; b++, p += 17, dst += 32) {
        const float s = ldexpf(1.0f, (int)p[0] - 127);
        for (int j = 0; j < 16; j++) {
            const uint8_t q = p[1 + j];
            dst[j] = gptoss_fp4_values[q & 15] * s;
            dst[j + 16] = gptoss_fp4_values[q >> 4] * s;
        }
    }
}

void gptoss_matmul_mxfp4_ggml_f32(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t expert,
                                  const float *bias, const float *x, size_t x_stride, size_t n_tok, uint64_t r0,
                                  uint64_t r1, float *row_scratch) {
    const size_t cols = (size_t)w->cols;
    for (uint64_t r = r0; r < r1; r++) {
        gptoss_mxfp4_ggml_row_to_f32(row_scratch, w, expert, r);
        float b = bias ? bias[r] : 0.0f;
        for (size_t t = 0; t < n_tok; t++)
            out[t * out_stride + r] = gptoss_dot_f32(row_scratch, x + t * x_stride, cols) + b;
    }
}

/* ---- fast path: AVX2+FMA, used by the threaded forward pass when fast kernels are on --------- */

/* In ggml's block the low nibbles are elements 0..15 and the high nibbles 16..31, so x is read in
 * its natural order. Each block is widened once (pshufb on doubled E2M1 values, halved scale) and
 * multiplied into up to 8 tokens. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "cpu/hsum_avx2.h"

#define GGML_TGT __attribute__((target("avx2,fma")))

GGML_TGT void gptoss_mxfp4_ggml_avx2(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t expert, const float *bias,
                                      const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const __m128i lut8 = _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12), m15 = _mm_set1_epi8(15);
    const size_t nb = (size_t)w->cols / 32;
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *row = gptoss_mxfp4_ggml_row(w, expert, r);
        for (size_t t0 = 0; t0 < n_tok; t0 += 8) {
            const size_t nt = n_tok - t0 < 8 ? n_tok - t0 : 8;
            __m256 acc[8];
            for (size_t t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *p = row + b * 17;
                uint32_t sb = p[0] ? (uint32_t)p[0] << 23 : 0x00400000u;
                float s;
                memcpy(&s, &sb, 4);
                const __m256 sc = _mm256_set1_ps(0.5f * s);
                __m128i c = _mm_loadu_si128((const __m128i *)(p + 1));
                __m128i lo = _mm_shuffle_epi8(lut8, _mm_and_si128(c, m15));
                __m128i hi = _mm_shuffle_epi8(lut8, _mm_and_si128(_mm_srli_epi16(c, 4), m15));
                __m256 w0 = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)));
                __m256 w1 = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))));
                __m256 w2 = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)));
                __m256 w3 = _mm256_mul_ps(sc, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))));
                if (nt == 1) { /* decode: four independent accumulator chains */
                    const float *xv = x + t0 * xs + b * 32;
                    acc[0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xv), acc[0]);
                    acc[1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xv + 8), acc[1]);
                    acc[2] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xv + 16), acc[2]);
                    acc[3] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xv + 24), acc[3]);
                    continue;
                }
                for (size_t t = 0; t < nt; t++) {
                    const float *xv = x + (t0 + t) * xs + b * 32;
                    __m256 a = acc[t];
                    a = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xv), a);
                    a = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xv + 8), a);
                    a = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xv + 16), a);
                    a = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xv + 24), a);
                    acc[t] = a;
                }
            }
            if (nt == 1) acc[0] = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            for (size_t t = 0; t < nt; t++) {
                out[(t0 + t) * os + r] = gptoss_hsum8(acc[t]) + (bias ? bias[r] : 0.0f);
            }
        }
    }
}
#endif

void gptoss_matmul_mxfp4_ggml_fast(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t expert,
                                   const float *bias, const float *x, size_t x_stride, size_t n_tok, uint64_t r0,
                                   uint64_t r1, float *row_scratch) {
    const gptoss_cpu_ops *ops = gptoss_cpu_ops_best();
    if (ops && ops->mxfp4_ggml && ops != &gptoss_cpu_scalar) {
        ops->mxfp4_ggml(out, out_stride, w, expert, bias, x, x_stride, n_tok, r0, r1);
        return;
    }
    gptoss_matmul_mxfp4_ggml_f32(out, out_stride, w, expert, bias, x, x_stride, n_tok, r0, r1, row_scratch);
}
