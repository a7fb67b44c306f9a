/* simd.h: the fast CPU kernels (AVX-512 with VNNI, AVX-512, AVX2 with or without AVX-VNNI, NEON with or
 * without dotprod and i8mm on AArch64, or portable scalar, picked once at start-up from cpuid / HWCAP;
 * GPTOSS_CPU=scalar|avx2|avx2vnni|avx512|avx512vnni|amx|neon|neondot|neoni8mm forces one). The f32 variants keep
 * activations f32 and accumulate in f32: the weights are widened exactly (BF16/F16/Q8_0/MXFP4 -> f32)
 * in registers, a tile of rows x tokens at a time, so a prefill reuses each decoded weight across up
 * to 8 tokens (AVX2 prefill: every token, from rows widened once into a stack buffer); results
 * differ from the scalar reference (kernels.c) by summation order only. The
 * avx512vnni variant's MXFP4 / Q8_0 kernels at 1-4 tokens quantize the activations (24 / 16 bits per
 * element) and use integer dot products (simd_vnni.c); so do neondot's (1 token, SDOT) and
 * neoni8mm's (2-8 tokens, SMMLA) on AArch64. */
#ifndef GPTOSS_CPU_SIMD_H
#define GPTOSS_CPU_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "base/tensor.h"

/* Matrix x matrix products from activations packed once per product: x is converted into tiles of
 * 16 tokens x 32 columns holding each value as a bf16 high part and a bf16 low part (x - high), so
 * the products keep ~16 significant bits of every activation and accumulate in f32; any row range is
 * then computed from the packed form. The forward pass uses this path when a step has at least
 * min_tokens tokens (a prefill chunk, or a large decode batch). */
typedef struct gptoss_cpu_gemm {
    const char *name;
    uint32_t min_tokens;
    size_t (*pack_bytes)(size_t n_tok, size_t cols); /* cols a multiple of 32 */
    /* Token tiles [tile0, tile1) of x (n_tok rows of cols floats, row stride xs) into dst, for dense()
     * or, with for_mxfp4 (x in MXFP4 order, gptoss_mxfp4_order), for mxfp4(). */
    void (*pack)(void *dst, const float *x, size_t xs, size_t n_tok, size_t cols, size_t tile0, size_t tile1,
                 int for_mxfp4);
    int (*dense_ok)(const gptoss_mat *w, size_t n_tok); /* dense() takes w and is faster at n_tok tokens */
    /* out[t*out_stride + r] = W[r,:] . x[t,:] (+ bias[r]), r in [r0, r1), t < n_tok; xp from pack. */
    void (*dense)(float *out, size_t out_stride, const gptoss_mat *w, const float *bias, const void *xp, size_t n_tok,
                  uint64_t r0, uint64_t r1);
    /* The same for expert e of an MXFP4 tensor in the HF layout, x packed in MXFP4 order. */
    void (*mxfp4)(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias, const void *xp,
                  size_t n_tok, uint64_t r0, uint64_t r1);
} gptoss_cpu_gemm;

typedef struct gptoss_cpu_ops {
    const char *name;
    /* out[t*out_stride + r] = W[r,:] . x[t*x_stride + :] (+ bias[r]), r in [r0, r1), t < n_tok.
     * W: F32, F16, BF16 (any cols) or Q8_0 (cols a multiple of 32). */
    void (*dense)(float *out, size_t out_stride, const gptoss_mat *w, const float *bias, const float *x,
                  size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1);
    /* Same for expert e of an MXFP4 tensor, x rows in MXFP4 order (gptoss_mxfp4_order). */
    void (*mxfp4)(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                  const float *x, size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1);
    /* Same for w->layout == GPTOSS_MXFP4_GGML (ggml blocks, gate/up split allowed), x in natural
     * order (ggml's low nibbles are elements 0..15 of a block, the high ones 16..31). */
    void (*mxfp4_ggml)(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                       const float *x, size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1);
    const gptoss_cpu_gemm *gemm; /* NULL: no matrix x matrix path */
    /* gptoss_attention_head_f32's contract (NULL: that reference is used). */
    void (*attention)(float *out, const float *q, const float *k_cache, const float *v_cache, size_t kv_stride,
                      const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale, float sink,
                      float *scores);
    /* attention's contract for the n_heads query heads that share one kv head, in one pass over its
     * keys and values (NULL: the forward pass calls attention per head). Head h < n_heads: query
     * q + h*q_stride, sink sinks[h], output out + h*out_stride. scores: scratch of at least
     * n_heads * round_up(n_keys, 16) floats. Each head's output is bit for bit attention's. */
    void (*attention_group)(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                            const float *k_cache, const float *v_cache, size_t kv_stride, const uint32_t *slots,
                            uint32_t n_keys, uint32_t head_dim, float scale, const float *sinks, float *scores);
    /* attention and attention_group for a cache of f16 keys and values (gptoss_attention_head_f16's
     * contract; NULL: that reference, per head). */
    void (*attention_f16)(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                          size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                          float sink, float *scores);
    void (*attention_group_f16)(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                const uint16_t *k_cache, const uint16_t *v_cache, size_t kv_stride,
                                const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                const float *sinks, float *scores);
    /* the same for bf24 keys and values (gptoss_attention_head_bf24's contract) */
    void (*attention_bf24)(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                           size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                           float sink, float *scores);
    void (*attention_group_bf24)(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                 const uint8_t *k_cache, const uint8_t *v_cache, size_t kv_stride,
                                 const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                 const float *sinks, float *scores);
    /* SwiGLU of n_blocks x 64 mlp1 outputs (gate, linear pairs) into n_blocks x 32 activations in MXFP4
     * order (NULL: the forward pass's scalar loop). */
    void (*swiglu_mx)(float *a, const float *u, size_t n_blocks, float limit);
    /* The same set with its activations carried at the precision that weights as stored promise
     * (within 1e-3 of the goldens; --keep-dense), where this one rounds them further for speed; NULL:
     * this set is that precise already. */
    const struct gptoss_cpu_ops *precise;
} gptoss_cpu_ops;

/* The best variant this CPU runs (or the one GPTOSS_CPU names). */
const gptoss_cpu_ops *gptoss_cpu_ops_best(void);
/* ops, or its precise sibling when precise is set and it has one. */
static inline const gptoss_cpu_ops *gptoss_cpu_ops_precise(const gptoss_cpu_ops *ops, int precise) {
    return ops && precise && ops->precise ? ops->precise : ops;
}
/* A named variant ("scalar", "avx2", "avx2vnni", "avx512", "avx512vnni", "avx512vbmi", "amx":
 * avx512vbmi (or avx512vnni) + the AMX gemm, "neon", "neondot", "neoni8mm"), or NULL if this CPU or
 * build lacks it. */
const gptoss_cpu_ops *gptoss_cpu_ops_named(const char *name);

/* This CPU's cpuid vendor string (12 characters) and displayed family and model; 0 (and "", 0, 0) off
 * x86-64. */
int gptoss_cpu_identity(char vendor[13], uint32_t *family, uint32_t *model);
/* The measured preference for a CPU family (simd.c's table): the first set in that family's row for
 * which runs(name) is non-NULL, with the row's description in *what; NULL when no row names the
 * family (the start-up pick then follows the feature order) or none of its sets runs. */
const char *gptoss_cpu_preferred(const char *vendor, uint32_t family, uint32_t model,
                                 const gptoss_cpu_ops *(*runs)(const char *name), const char **what);

/* MXFP4 order of an activation row (n a multiple of 32): in each block of 32, the 16 even elements
 * then the 16 odd ones (the low and high nibbles of the block's 16 code bytes). */
void gptoss_mxfp4_order(float *dst, const float *src, size_t n);
/* Position of element i of a row in MXFP4 order. */
static inline size_t gptoss_mxfp4_pos(size_t i) { return (i & ~(size_t)31) + ((i & 1) << 4) + ((i & 31) >> 1); }

/* Row r of a BF16/F16/F32 matrix (cols a multiple of 32) -> Q8_0 blocks at dst; scratch: cols floats. */
void gptoss_quantize_mat_row_q8_0(void *dst, const gptoss_mat *w, uint64_t r, float *scratch);

void gptoss_quantize_bf16_q8_0_avx512(void *dst, const uint16_t *bf, size_t n);

/* The AVX2+FMA ggml-layout kernel (src/cpu/mxfp4_ggml.c), the avx2 variant's mxfp4_ggml. */
void gptoss_mxfp4_ggml_avx2(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                            const float *x, size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1);

void gptoss_attention_head_avx512(float *out, const float *q, const float *k_cache, const float *v_cache,
                                  size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                  float scale, float sink, float *scores);
void gptoss_attention_group_avx512(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                   const float *k_cache, const float *v_cache, size_t kv_stride,
                                   const uint32_t *slots, uint32_t n_keys, uint32_t head_dim, float scale,
                                   const float *sinks, float *scores);

void gptoss_attention_head_f16_avx512(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                                      size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                      float scale, float sink, float *scores);
void gptoss_attention_group_f16_avx512(float *out, size_t out_stride, const float *q, size_t q_stride,
                                       uint32_t n_heads, const uint16_t *k_cache, const uint16_t *v_cache,
                                       size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                       float scale, const float *sinks, float *scores);
void gptoss_attention_head_bf24_avx512(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                       size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                       float scale, float sink, float *scores);
void gptoss_attention_group_bf24_avx512(float *out, size_t out_stride, const float *q, size_t q_stride,
                                        uint32_t n_heads, const uint8_t *k_cache, const uint8_t *v_cache,
                                        size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                        float scale, const float *sinks, float *scores);

void gptoss_swiglu_mx_avx512(float *a, const float *u, size_t n_blocks, float limit);

/* avx512vnni (simd_vnni.c): AVX512_VNNI integer kernels for MXFP4 (up to 3 tokens) and Q8_0 (up to
 * 15), activations quantized per call with one scale per 32-block to 16 bits per element (MXFP4 24
 * in gptoss_cpu_avx512vnni_precise, its .precise); the avx512 kernels for everything else. */
extern const gptoss_cpu_ops gptoss_cpu_scalar, gptoss_cpu_avx2, gptoss_cpu_avx512, gptoss_cpu_avx512vnni,
    gptoss_cpu_avx512vnni_precise;
/* avx512vbmi (simd_vnni_vbmi.c): avx512vnni's MXFP4 kernels built with AVX512_VBMI (vpermb
 * lookups); its precise sibling is avx512vnni's. */
extern const gptoss_cpu_ops gptoss_cpu_avx512vbmi;
/* avx512vnni's Q8_0 one- to fifteen-token product (dense's contract; other formats and more tokens:
 * the avx512 kernels). */
void gptoss_dense_vnni(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                       size_t n_tok, uint64_t r0, uint64_t r1);
/* avx2 / avx2vnni (simd_avx2_int.c): integer MXFP4 (HF layout) and Q8_0 kernels for 1-3 tokens,
 * activations quantized per call to 16 / 15 bits, dots by vpmaddubsw (avx2) or AVX-VNNI vpdpbusd
 * (avx2vnni); the f32 tiles of simd_avx2.c (gptoss_cpu_avx2_f32) for everything else. */
extern const gptoss_cpu_ops gptoss_cpu_avx2vnni, gptoss_cpu_avx2_f32;
/* avx2 / avx2vnni one-token BF16 product (bf16_avx2.c): out[r] = W[r,:] . x (+ bias[r]), r in [r0, r1),
 * f32 accumulation; 0 (nothing written) unless W is BF16 with cols a positive multiple of 16, at most
 * 8192, and r0 < r1. */
int gptoss_bf16_matvec_avx2(float *out, const gptoss_mat *w, const float *bias, const float *x, uint64_t r0,
                            uint64_t r1);
/* AVX2 + FMA and AVX-VNNI (VEX-coded vpdpbusd: Alder Lake and later, Zen 5). */
int gptoss_cpu_has_avx2vnni(void);
/* The attention and SwiGLU of avx2 and avx2vnni (attention_avx2.c: head_dim a multiple of 8, the
 * grouped kernel up to 128; swiglu_avx2.c), AVX2 + FMA + F16C. */
void gptoss_swiglu_mx_avx2(float *a, const float *u, size_t n_blocks, float limit);
void gptoss_attention_head_avx2(float *out, const float *q, const float *k_cache, const float *v_cache,
                                size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                float scale, float sink, float *scores);
void gptoss_attention_group_avx2(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                 const float *k_cache, const float *v_cache, size_t kv_stride, const uint32_t *slots,
                                 uint32_t n_keys, uint32_t head_dim, float scale, const float *sinks, float *scores);
void gptoss_attention_head_f16_avx2(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                                    size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                    float scale, float sink, float *scores);
void gptoss_attention_group_f16_avx2(float *out, size_t out_stride, const float *q, size_t q_stride,
                                     uint32_t n_heads, const uint16_t *k_cache, const uint16_t *v_cache,
                                     size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                     float scale, const float *sinks, float *scores);
void gptoss_attention_head_bf24_avx2(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                     size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                     float scale, float sink, float *scores);
void gptoss_attention_group_bf24_avx2(float *out, size_t out_stride, const float *q, size_t q_stride,
                                      uint32_t n_heads, const uint8_t *k_cache, const uint8_t *v_cache,
                                      size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                      float scale, const float *sinks, float *scores);
/* neon (simd_neon.c, AArch64 only): the f32 tiles of avx2 on NEON for every dense format and both
 * MXFP4 layouts, SwiGLU in swiglu_neon.c, attention in attention_neon.c (head_dim a multiple of 4). */
extern const gptoss_cpu_ops gptoss_cpu_neon;
void gptoss_swiglu_mx_neon(float *a, const float *u, size_t n_blocks, float limit);
void gptoss_attention_head_neon(float *out, const float *q, const float *k_cache, const float *v_cache,
                                size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                float scale, float sink, float *scores);
void gptoss_attention_group_neon(float *out, size_t out_stride, const float *q, size_t q_stride, uint32_t n_heads,
                                 const float *k_cache, const float *v_cache, size_t kv_stride, const uint32_t *slots,
                                 uint32_t n_keys, uint32_t head_dim, float scale, const float *sinks, float *scores);
void gptoss_attention_head_f16_neon(float *out, const float *q, const uint16_t *k_cache, const uint16_t *v_cache,
                                    size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                    float scale, float sink, float *scores);
void gptoss_attention_group_f16_neon(float *out, size_t out_stride, const float *q, size_t q_stride,
                                     uint32_t n_heads, const uint16_t *k_cache, const uint16_t *v_cache,
                                     size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                     float scale, const float *sinks, float *scores);
void gptoss_attention_head_bf24_neon(float *out, const float *q, const uint8_t *k_cache, const uint8_t *v_cache,
                                     size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                     float scale, float sink, float *scores);
void gptoss_attention_group_bf24_neon(float *out, size_t out_stride, const float *q, size_t q_stride,
                                      uint32_t n_heads, const uint8_t *k_cache, const uint8_t *v_cache,
                                      size_t kv_stride, const uint32_t *slots, uint32_t n_keys, uint32_t head_dim,
                                      float scale, const float *sinks, float *scores);
/* neondot (simd_neon_dot.c): neon with the SDOT decode kernels (MXFP4 and Q8_0), where the CPU has
 * dotprod. */
int gptoss_cpu_has_neon_dotprod(void);
void gptoss_dense_neon_dot(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                           size_t n_tok, uint64_t r0, uint64_t r1);
void gptoss_mxfp4_neon_dot(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1);
/* One token's row (n a multiple of 32) -> int8 planes and one scale per 32-block: 24 bits (h, m, l;
 * s = max|x| / (127 * 2^16)) or 16 bits (hi, lo; s = max|x| / 32639). 0 where a value is not finite
 * or a nonzero block is too small for the integer kernels (then the f32 tiles run). */
int gptoss_neon_quantize24(int8_t *h, int8_t *m, int8_t *l, float *sc, const float *x, size_t n);
int gptoss_neon_quantize16(int8_t *hi, int8_t *lo, float *sc, const float *x, size_t n);
/* neoni8mm (simd_neon_mm.c): neondot with SMMLA kernels for MXFP4 and Q8_0 products of 2 to 8
 * tokens, where the CPU has i8mm (HWCAP2_I8MM) besides dotprod. */
int gptoss_cpu_has_neon_i8mm(void);
void gptoss_dense_neon_mm(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                          size_t n_tok, uint64_t r0, uint64_t r1);
void gptoss_mxfp4_neon_mm(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                          const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1);
int gptoss_cpu_has_avx2(void);
int gptoss_cpu_has_avx512(void);
int gptoss_cpu_has_avx512vnni(void);
int gptoss_cpu_has_avx512vbmi(void); /* avx512vnni plus AVX512_VBMI */
/* [amx] AMX-BF16 tiles usable (cpuid, and the kernel granted this process the tile data state). */
int gptoss_cpu_has_amx(void);
extern const gptoss_cpu_gemm gptoss_cpu_gemm_amx;

#endif
