/* kernels.h: the CPU compute kernels of the forward pass, named by their types. These are the plain
 * scalar reference versions: f32 activations and accumulation, weights widened exactly on the fly.
 * Every matrix kernel works on a row range [r0, r1) so callers can split rows across threads. */
#ifndef GPTOSS_CPU_KERNELS_H
#define GPTOSS_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "base/tensor.h"

/* E2M1 code -> value */
extern const float gptoss_fp4_values[16];

float gptoss_dot_f32(const float *a, const float *b, size_t n);

/* f32 -> f16, round to nearest even (overflow to inf). */
uint16_t gptoss_f32_to_f16(float f);
/* n floats -> f16, round to nearest even, finite values beyond f16's range saturated to +-65504. */
void gptoss_f32_to_f16_row(uint16_t *dst, const float *src, size_t n);
/* f32 -> bf24 (see common.h), as its 24 bits: round to nearest even, finite values beyond bf24's
 * range saturated to its largest, inf and NaN kept. */
uint32_t gptoss_f32_to_bf24(float f);
/* n floats -> a bf24 row of n (3n bytes: the n upper halves, then the n third bytes). */
void gptoss_f32_to_bf24_row(uint8_t *dst, const float *src, size_t n);
/* n (a multiple of 32) floats -> n/32 ggml Q8_0 blocks: d = max|x|/127 (as f16), q = round(x/d). */
void gptoss_quantize_row_q8_0(void *dst, const float *x, size_t n);

/* out[t*os + r] += bias[r] for r in [r0, r1), t < n_tok (nothing when bias is NULL): the bias step
 * every fast kernel ends with. */
static inline void gptoss_add_bias(float *out, size_t os, const float *bias, size_t n_tok, uint64_t r0, uint64_t r1) {
    if (!bias) return;
    for (uint64_t r = r0; r < r1; r++)
        for (size_t t = 0; t < n_tok; t++) out[t * os + r] += bias[r];
}

/* out[t*out_stride + r] = W[r,:] . x[t*x_stride + :] (+ bias[r]) for r in [r0, r1), t < n_tok.
 * W is BF16, F16, F32 or Q8_0 (dispatches on w->dtype). row_scratch holds w->cols floats. */
void gptoss_matmul_dense_f32(float *out, size_t out_stride, const gptoss_mat *w, const float *bias, const float *x,
                             size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1, float *row_scratch);

/* Same for one expert of an MXFP4 tensor: W = experts[e], rows [r0, r1). bias is f32 or NULL. */
void gptoss_matmul_mxfp4_f32(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t expert,
                             const float *bias, const float *x, size_t x_stride, size_t n_tok, uint64_t r0,
                             uint64_t r1, float *row_scratch);

/* Decodes one MXFP4 row (cols values) of expert e into f32. */
void gptoss_mxfp4_row_to_f32(float *dst, const gptoss_mxfp4 *w, uint64_t expert, uint64_t row);

/* The same two for w->layout == GPTOSS_MXFP4_GGML (GGUF files; src/cpu/mxfp4_ggml.c). */
void gptoss_matmul_mxfp4_ggml_f32(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t expert,
                                  const float *bias, const float *x, size_t x_stride, size_t n_tok, uint64_t r0,
                                  uint64_t r1, float *row_scratch);
void gptoss_mxfp4_ggml_row_to_f32(float *dst, const gptoss_mxfp4 *w, uint64_t expert, uint64_t row);
/* The 17-byte blocks of row `row` of expert `expert` (gate/up split resolved). */
const uint8_t *gptoss_mxfp4_ggml_row(const gptoss_mxfp4 *w, uint64_t expert, uint64_t row);
/* Fast version (the best fast variant's mxfp4_ggml: AVX-512, AVX2 or NEON, else the reference); same contract. */
void gptoss_matmul_mxfp4_ggml_fast(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t expert,
                                   const float *bias, const float *x, size_t x_stride, size_t n_tok, uint64_t r0,
                                   uint64_t r1, float *row_scratch);

/* y = x / sqrt(mean(x^2) + eps) * gain */
void gptoss_rmsnorm_f32(float *y, const float *x, const float *gain, size_t n, float eps);

/* Half-split YaRN rotation of n_heads vectors of head_dim at absolute position pos. */
void gptoss_rope_f32(float *x, uint32_t n_heads, uint32_t head_dim, uint32_t pos, const float *inv_freq,
                     float concentration);

/* a[i] = min(g,L)*sigmoid(1.702*min(g,L)) * (clamp(lin,-L,L)+1), g = u[2i], lin = u[2i+1] */
void gptoss_swiglu_f32(float *a, const float *u, size_t n, float limit);

/* Top-k of logits[n] (descending, lowest index first on ties), then softmax over the k values. */
void gptoss_topk_softmax_f32(const float *logits, uint32_t n, uint32_t k, uint32_t *idx, float *weights);

/* One query head against keys/values at cache slots; see forward.c for the layout. */
void gptoss_attention_head_f32(float *out, const float *q, const float *k_cache, const float *v_cache,
                               size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                               float scale, float sink, float *scores);
/* The same with the keys and values stored as f16, or as bf24 (slot s's row of kv_stride elements
 * at byte 3 * kv_stride * s); f32 arithmetic, in the same order, so on values the type represents
 * they give gptoss_attention_head_f32's bits. */
void gptoss_attention_head_f16(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                               size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                               float scale, float sink, float *scores);
void gptoss_attention_head_bf24(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                float scale, float sink, float *scores);

#endif
