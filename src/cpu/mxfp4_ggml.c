/* mxfp4_ggml.c: MXFP4 expert weights in ggml's block layout, as GGUF files store them (ggml
 * block_mxfp4, ggml-quants.c dequantize_row_mxfp4): 17 bytes per 32 values, first the E8M0 scale
 * byte e, then 16 bytes qs where element j is the low nibble of qs[j] and element j+16 its high
 * nibble. ggml decodes with doubled E2M1 values {0,1,2,3,4,6,8,12,...} times 2^(e-127)/2, which is
 * the same number as the plain E2M1 value {0,0.5,1,...,6} times 2^(e-127) used here and by the
 * safetensors kernel, so both layouts decode to bit-identical floats. Scalar reference versions with
 * the contract of their HF-layout counterparts in kernels.h. */
#include <math.h>

#include "cpu/kernels.h"

static const uint8_t *ggml_row(const gptoss_mxfp4 *w, uint64_t expert, uint64_t row) {
    const uint64_t bpr = w->cols / 32 * 17;
    if (w->blocks_odd) {
        const uint64_t half = w->rows / 2;
        return (row & 1 ? w->blocks_odd : w->blocks) + (expert * half + row / 2) * bpr;
    }
    return w->blocks + (expert * w->rows + row) * bpr;
}

void gptoss_mxfp4_ggml_row_to_f32(float *dst, const gptoss_mxfp4 *w, uint64_t expert, uint64_t row) {
    const uint8_t *p = ggml_row(w, expert, row);
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
