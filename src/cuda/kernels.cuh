/* kernels.cuh: host-side launchers of every CUDA kernel family (one .cu file each). All take the
 * stream to enqueue on and never synchronise, so a decode step can be captured in a CUDA graph.
 * Positions come from a device counter (*pos = tokens already in the cache) for the same reason.
 * The CPU scalar reference each one mirrors is in src/cpu/kernels.c; tests/test_cuda_kernels.cu
 * checks them against it. */
#ifndef GPTOSS_CUDA_KERNELS_CUH
#define GPTOSS_CUDA_KERNELS_CUH

#include "cuda/common.cuh"

/* matmul_dense.cu: out[t*out_stride + r] = (accumulate ? out[..] : 0) + (W[r,:] . x[t*x_stride + :] + bias[r])
 * for t < n; one warp per row with 16-byte loads when n == 1, shared-memory tiles otherwise. */
void cuda_dense(float *out, uint64_t out_stride, const dev_mat &w, const float *bias, const float *x,
                uint64_t x_stride, uint32_t n, int accumulate, cudaStream_t st);

/* matmul_mxfp4.cu, decode (the K experts of one token, ids read from device memory):
 * act[k*I + i] = swiglu(W1[e_k][2i] . x + b1[e_k][2i], W1[e_k][2i+1] . x + b1[e_k][2i+1]) */
void cuda_moe_mlp1_decode(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *topi,
                          uint32_t k, float limit, cudaStream_t st);
/* x[d] += sum_k topw[k] * (W2[e_k][d] . act[k*I:] + b2[e_k][d])  (in k order, like the CPU);
 * eo: scratch of k * D floats. act is the mlp1 decode output: with the v3 kernels (see
 * cuda_moe_decode_act_permuted) it is float4-transposed per expert slot: element i of slot k at float
 * ((k*8 + (i%32)/4) * (I/32) + i/32) * 4 + i%4. */
void cuda_moe_mlp2_decode(float *x, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *topi,
                          const float *topw, uint32_t k, float *eo, cudaStream_t st);
/* decode kernel family: 1 (warp per row pair, LUT), 2 (x in registers), 3 (default: coalesced, LUT-free
 * FP4 decode, mlp2 fused with the combine); 0 = from GPTOSS_CUDA_MOE_KERNEL (GPTOSS_CUDA_MOE_V2=1 means 2) */
void cuda_moe_set_decode_variant(int v);
/* true when the decode act buffer is in the permuted v3 layout for these shapes (D = hidden, I = intermediate) */
bool cuda_moe_decode_act_permuted(uint64_t D, uint64_t I);
/* Grouped (prefill): entries [start[e], start[e]+count[e]) belong to expert e.
 * mlp1: act[j*I + i] = swiglu(W1[e] . x[token_of[j]] ...); mlp2: eo[j*D + d] = W2[e][d] . act[j] + b2. */
void cuda_moe_mlp1_grouped(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *token_of,
                           const uint32_t *start, const uint32_t *count, uint32_t max_per_expert, float limit,
                           cudaStream_t st);
void cuda_moe_mlp2_grouped(float *eo, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *start,
                           const uint32_t *count, uint32_t max_per_expert, cudaStream_t st);

/* moe.cu: router logits + top-k + softmax per token (one block per token); counting sort of the
 * (token, k) pairs by expert; weighted combine into the residual. */
void cuda_router_topk(uint32_t *topi, float *topw, float *logits_out, const dev_mat &w, const float *bias,
                      const float *x, uint32_t n, uint32_t k, cudaStream_t st);
/* top-k + softmax of router logits [n][E] computed by cuda_dense: one warp per token */
void cuda_topk_softmax(uint32_t *topi, float *topw, const float *logits, uint32_t n, uint32_t n_experts, uint32_t k,
                       cudaStream_t st);
/* decode (one token): h = rmsnorm(x) * gain, router logits (also to logits_out when not NULL), top-k +
 * softmax, in one block; false (nothing launched) when the shapes do not fit it */
bool cuda_norm_router_topk(float *h, uint32_t *topi, float *topw, float *logits_out, const float *x, const float *gain,
                           float eps, const dev_mat &w, const float *bias, uint32_t k, cudaStream_t st);
void cuda_moe_sort(uint32_t *count, uint32_t *start, uint32_t *fill, uint32_t *token_of, uint32_t *entry_of,
                   const uint32_t *topi, uint32_t n, uint32_t k, uint32_t n_experts, cudaStream_t st);
void cuda_moe_combine(float *x, const float *eo, const float *topw, const uint32_t *entry_of, uint32_t n, uint32_t k,
                      uint32_t dim, cudaStream_t st);
/* swiglu on its own (u has 2n interleaved gate/linear values per row) */
void cuda_swiglu(float *a, const float *u, uint64_t n, float limit, cudaStream_t st);

/* norm.cu: y[t] = rmsnorm(x[t]) * gain; embedding rows widened to f32; *pos += n. */
void cuda_rmsnorm(float *y, const float *x, const float *gain, uint32_t n, uint32_t dim, float eps, cudaStream_t st);
void cuda_embed(float *x, const dev_mat &emb, const uint32_t *ids, uint32_t n, cudaStream_t st);
void cuda_advance(uint32_t *pos, uint32_t n, cudaStream_t st);

/* rope.cu: YaRN rotation of the q and k heads of n tokens (qkv rows of qkv_stride floats: q heads,
 * then k heads, then v heads) at positions *pos + t; keys and values stored in the cache slot
 * (position % cap) of rows kv_stride = n_kv_heads * head_dim. */
void cuda_rope_kv(float *qkv, uint64_t qkv_stride, uint32_t n, const uint32_t *pos, const float *inv_freq,
                  float concentration, uint32_t n_heads, uint32_t n_kv_heads, uint32_t head_dim, float *k_cache,
                  float *v_cache, uint32_t cap, cudaStream_t st);

/* attention.cu: out[t*H*dh + h*dh ..] = softmax-with-sink attention of query head h of token t
 * (position *pos + t) over the keys lo..pos (lo = pos+1-window when window > 0). */
void cuda_attention(float *out, const float *q, uint64_t q_stride, const float *k_cache, const float *v_cache,
                    uint32_t cap, const uint32_t *pos, uint32_t n, uint32_t n_heads, uint32_t n_kv_heads,
                    uint32_t head_dim, uint32_t window, const float *sinks, float scale, cudaStream_t st);

/* Split-K decode attention (flash-decoding) for n <= ATT_SPLIT_MAX_N tokens: `splits` blocks per
 * (head, token) over the keys, partials in part (n * n_heads * splits * (head_dim + 2) floats), then a
 * merge with the sink. Same result as cuda_attention (which it calls when part is NULL or splits <= 1). */
#define ATT_MAX_SPLITS 32
#define ATT_SPLIT_MAX_N 4
uint32_t cuda_attention_splits(uint32_t cap, uint32_t window);
void cuda_attention_split(float *out, float *part, uint32_t splits, const float *q, uint64_t q_stride,
                          const float *k_cache, const float *v_cache, uint32_t cap, const uint32_t *pos, uint32_t n,
                          uint32_t n_heads, uint32_t n_kv_heads, uint32_t head_dim, uint32_t window,
                          const float *sinks, float scale, cudaStream_t st);

/* synth.cu: seeded random fills (counter-based, so any element is reproducible on its own). */
void cuda_fill_normal_bf16(uint16_t *dst, uint64_t n, float std, uint64_t seed, cudaStream_t st);
void cuda_fill_normal_f32(float *dst, uint64_t n, float mean, float std, uint64_t seed, cudaStream_t st);
void cuda_fill_uniform_f32(float *dst, uint64_t n, float lo, float hi, uint64_t seed, cudaStream_t st);
void cuda_fill_bytes(uint8_t *dst, uint64_t n, uint64_t seed, cudaStream_t st);
void cuda_fill_e8m0(uint8_t *dst, uint64_t n, int scale0, uint64_t seed, cudaStream_t st);

#endif
