/* moe.cu: the mixture-of-experts plumbing on the device: router logits with top-k selection and
 * softmax (one block per token, same tie and NaN rules as gptoss_topk_softmax_f32), the counting
 * sort that groups a chunk's (token, k) pairs by expert, the weighted combine into the residual,
 * and a standalone SwiGLU. */
#include "cuda/kernels.cuh"

#define ROUTER_THREADS 256
#define ROUTER_MAX_EXPERTS 1024
#define ROUTER_MAX_K 32

__global__ void __launch_bounds__(ROUTER_THREADS) router_topk_kernel(uint32_t *__restrict__ topi, float *__restrict__ topw,
                                                                      float *__restrict__ logits_out, dev_mat w,
                                                                      const float *__restrict__ bias,
                                                                      const float *__restrict__ x, uint32_t K) {
    GRID_DEP();
    __shared__ float lg[ROUTER_MAX_EXPERTS];
    const uint32_t t = blockIdx.x, E = (uint32_t)w.rows;
    const uint64_t D = w.cols;
    const float *xr = x + (uint64_t)t * D;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (uint32_t e = warp; e < E; e += ROUTER_THREADS / 32) {
        float acc = 0.0f;
        if (w.wtype == DEV_BF16) {
            const uint16_t *row = static_cast<const uint16_t *>(w.data) + e * D;
            for (uint64_t c = lane; c < D; c += 32) acc += bf16_bits_to_f32(row[c]) * xr[c];
        } else {
            const float *row = static_cast<const float *>(w.data) + e * D;
            for (uint64_t c = lane; c < D; c += 32) acc += row[c] * xr[c];
        }
        acc = warp_sum(acc);
        if (lane == 0) lg[e] = acc + (bias ? bias[e] : 0.0f);
    }
    __syncthreads();
    if (threadIdx.x != 0) return;
    if (logits_out)
        for (uint32_t e = 0; e < E; e++) logits_out[(uint64_t)t * E + e] = lg[e];
    uint32_t idx[ROUTER_MAX_K];
    float wv[ROUTER_MAX_K];
    for (uint32_t j = 0; j < K; j++) {
        uint32_t best = 0xffffffffu;
        for (uint32_t e = 0; e < E; e++) {
            bool taken = false;
            for (uint32_t q = 0; q < j && !taken; q++) taken = idx[q] == e;
            if (taken) continue;
            if (best == 0xffffffffu || lg[e] > lg[best] || (isnan(lg[best]) && !isnan(lg[e]))) best = e;
        }
        idx[j] = best;
        wv[j] = lg[best];
    }
    float m = wv[0], sum = 0.0f;
    for (uint32_t j = 0; j < K; j++) {
        wv[j] = expf(wv[j] - m);
        sum += wv[j];
    }
    for (uint32_t j = 0; j < K; j++) {
        topi[(uint64_t)t * K + j] = idx[j];
        topw[(uint64_t)t * K + j] = wv[j] / sum;
    }
}

void cuda_router_topk(uint32_t *topi, float *topw, float *logits_out, const dev_mat &w, const float *bias,
                      const float *x, uint32_t n, uint32_t k, cudaStream_t st) {
    if (!n) return;
    launch_k(router_topk_kernel, n, ROUTER_THREADS, 0, st, topi, topw, logits_out, w, bias, x, k);
}

/* a ranks before b: non-NaN first, then the larger value, then the lower index; this is exactly the
 * winner of gptoss_topk_softmax_f32's ascending scan (strict >, NaN never replaces a number). */
__device__ __forceinline__ bool topk_better(const float *lg, uint32_t a, uint32_t b) {
    if (a == 0xffffffffu) return false;
    if (b == 0xffffffffu) return true;
    const float va = lg[a], vb = lg[b];
    const bool an = isnan(va), bn = isnan(vb);
    if (an != bn) return !an;
    if (!an && va != vb) return va > vb;
    return a < b;
}

/* top-k + softmax of E logits lg (any memory) by one warp; lane 0 writes topi[0..K), topw[0..K) */
__device__ __forceinline__ void warp_topk_softmax(const float *lg, uint32_t E, uint32_t K, uint32_t *topi, float *topw,
                                                  int lane) {
    uint32_t idx[ROUTER_MAX_K];
    float wv[ROUTER_MAX_K];
    for (uint32_t j = 0; j < K; j++) {
        uint32_t best = 0xffffffffu;
        for (uint32_t e = lane; e < E; e += 32) {
            bool taken = false;
            for (uint32_t q = 0; q < j; q++) taken |= idx[q] == e;
            if (!taken && topk_better(lg, e, best)) best = e;
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const uint32_t other = __shfl_xor_sync(0xffffffffu, best, o);
            if (topk_better(lg, other, best)) best = other;
        }
        idx[j] = best;
        wv[j] = lg[best];
    }
    if (lane != 0) return;
    float m = wv[0], sum = 0.0f;
    for (uint32_t j = 0; j < K; j++) {
        wv[j] = expf(wv[j] - m);
        sum += wv[j];
    }
    for (uint32_t j = 0; j < K; j++) {
        topi[j] = idx[j];
        topw[j] = wv[j] / sum;
    }
}

/* one warp per token */
__global__ void topk_softmax_kernel(uint32_t *__restrict__ topi, float *__restrict__ topw,
                                    const float *__restrict__ logits, uint32_t n, uint32_t E, uint32_t K) {
    GRID_DEP();
    const uint32_t t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (t >= n) return;
    warp_topk_softmax(logits + (uint64_t)t * E, E, K, topi + (uint64_t)t * K, topw + (uint64_t)t * K, lane);
}

/* Decode: RMSNorm of the residual (h written out for the experts), router logits and top-k in one
 * 1024-thread block. Dynamic shared: D + E floats. */
#define NRT_THREADS 1024
__global__ void __launch_bounds__(NRT_THREADS) norm_router_topk_kernel(
    float *__restrict__ h, uint32_t *__restrict__ topi, float *__restrict__ topw, float *__restrict__ logits_out,
    const float *__restrict__ x, const float *__restrict__ gain, float eps, dev_mat w, const float *__restrict__ bias,
    uint32_t K) {
    const uint32_t D = (uint32_t)w.cols, E = (uint32_t)w.rows;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    {   /* the router rows do not depend on the previous kernel: pull them into L2 before waiting for it */
        const uint64_t row_bytes = (uint64_t)D * (w.wtype == DEV_BF16 ? 2 : 4);
        const char *base = static_cast<const char *>(w.data);
        for (uint32_t e = warp; e < E; e += NRT_THREADS / 32)
            for (uint64_t off = (uint64_t)lane * 128; off < row_bytes; off += 32 * 128)
                asm volatile("prefetch.global.L2 [%0];" ::"l"(base + e * row_bytes + off));
    }
    GRID_DEP();
    extern __shared__ __align__(16) float sh[];
    __shared__ float part[NRT_THREADS / 32];
    float *hs = sh, *lg = sh + D;
    float ss = 0.0f;
    for (uint32_t i = threadIdx.x; i < D; i += NRT_THREADS) ss += x[i] * x[i];
    ss = warp_sum(ss);
    if (lane == 0) part[warp] = ss;
    __syncthreads();
    if (warp == 0) {
        float v = part[lane];
        v = warp_sum(v);
        if (lane == 0) part[0] = v;
    }
    __syncthreads();
    const float inv = 1.0f / sqrtf(part[0] / (float)D + eps);
    for (uint32_t i = threadIdx.x; i < D; i += NRT_THREADS) {
        const float v = x[i] * inv * gain[i];
        hs[i] = v;
        h[i] = v;
    }
    __syncthreads();
    for (uint32_t e = warp; e < E; e += NRT_THREADS / 32) {
        float acc = 0.0f;
        if (w.wtype == DEV_BF16 && D % 8 == 0) {
            const uint4 *row = reinterpret_cast<const uint4 *>(static_cast<const uint16_t *>(w.data) + (uint64_t)e * D);
#pragma unroll 3
            for (uint32_t c = lane; c < D / 8; c += 32) {
                const uint4 p = __ldg(row + c);
                const float *xv = hs + 8 * c;
                acc += __uint_as_float(p.x << 16) * xv[0];
                acc += __uint_as_float(p.x & 0xffff0000u) * xv[1];
                acc += __uint_as_float(p.y << 16) * xv[2];
                acc += __uint_as_float(p.y & 0xffff0000u) * xv[3];
                acc += __uint_as_float(p.z << 16) * xv[4];
                acc += __uint_as_float(p.z & 0xffff0000u) * xv[5];
                acc += __uint_as_float(p.w << 16) * xv[6];
                acc += __uint_as_float(p.w & 0xffff0000u) * xv[7];
            }
        } else if (w.wtype == DEV_BF16) {
            const uint16_t *row = static_cast<const uint16_t *>(w.data) + (uint64_t)e * D;
            for (uint32_t c = lane; c < D; c += 32) acc += bf16_bits_to_f32(row[c]) * hs[c];
        } else {
            const float *row = static_cast<const float *>(w.data) + (uint64_t)e * D;
            for (uint32_t c = lane; c < D; c += 32) acc += row[c] * hs[c];
        }
        acc = warp_sum(acc);
        if (lane == 0) {
            const float v = acc + (bias ? bias[e] : 0.0f);
            lg[e] = v;
            if (logits_out) logits_out[e] = v;
        }
    }
    __syncthreads();
    if (warp == 0) warp_topk_softmax(lg, E, K, topi, topw, lane);
}

bool cuda_norm_router_topk(float *h, uint32_t *topi, float *topw, float *logits_out, const float *x, const float *gain,
                           float eps, const dev_mat &w, const float *bias, uint32_t k, cudaStream_t st) {
    const size_t smem = (w.cols + w.rows) * 4;
    if (smem > 48 * 1024 || w.rows > ROUTER_MAX_EXPERTS || k > ROUTER_MAX_K || k > w.rows) return false;
    launch_k(norm_router_topk_kernel, 1, NRT_THREADS, smem, st, h, topi, topw, logits_out, x, gain, eps, w, bias, k);
    return true;
}

void cuda_topk_softmax(uint32_t *topi, float *topw, const float *logits, uint32_t n, uint32_t n_experts, uint32_t k,
                       cudaStream_t st) {
    if (!n) return;
    launch_k(topk_softmax_kernel, (n + 3) / 4, 128, 0, st, topi, topw, logits, n, n_experts, k);
}

/* One block: counts per expert, exclusive prefix, then each pair takes the next slot of its expert.
 * The order inside an expert's group does not change any value. */
__global__ void moe_sort_kernel(uint32_t *count, uint32_t *start, uint32_t *fill, uint32_t *token_of,
                                uint32_t *entry_of, const uint32_t *topi, uint32_t n, uint32_t K, uint32_t E) {
    GRID_DEP();
    for (uint32_t e = threadIdx.x; e < E; e += blockDim.x) count[e] = 0, fill[e] = 0;
    __syncthreads();
    const uint32_t pairs = n * K;
    for (uint32_t i = threadIdx.x; i < pairs; i += blockDim.x) atomicAdd(&count[topi[i]], 1u);
    __syncthreads();
    if (threadIdx.x == 0) {
        uint32_t acc = 0;
        for (uint32_t e = 0; e < E; e++) {
            start[e] = acc;
            acc += count[e];
        }
    }
    __syncthreads();
    for (uint32_t i = threadIdx.x; i < pairs; i += blockDim.x) {
        const uint32_t e = topi[i], entry = start[e] + atomicAdd(&fill[e], 1u);
        token_of[entry] = i / K;
        entry_of[i] = entry;
    }
}

void cuda_moe_sort(uint32_t *count, uint32_t *start, uint32_t *fill, uint32_t *token_of, uint32_t *entry_of,
                   const uint32_t *topi, uint32_t n, uint32_t k, uint32_t n_experts, cudaStream_t st) {
    launch_k(moe_sort_kernel, 1, 1024, 0, st, count, start, fill, token_of, entry_of, topi, n, k, n_experts);
}

__global__ void moe_combine_kernel(float *__restrict__ x, const float *__restrict__ eo, const float *__restrict__ topw,
                                   const uint32_t *__restrict__ entry_of, uint32_t n, uint32_t K, uint32_t D) {
    GRID_DEP();
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (uint64_t)n * D) return;
    const uint64_t t = i / D, d = i % D;
    float y = 0.0f;
    for (uint32_t k = 0; k < K; k++) y += topw[t * K + k] * eo[(uint64_t)entry_of[t * K + k] * D + d];
    x[i] += y;
}

void cuda_moe_combine(float *x, const float *eo, const float *topw, const uint32_t *entry_of, uint32_t n, uint32_t k,
                      uint32_t dim, cudaStream_t st) {
    const uint64_t total = (uint64_t)n * dim;
    if (!total) return;
    launch_k(moe_combine_kernel, (unsigned)((total + 255) / 256), 256, 0, st, x, eo, topw, entry_of, n, k, dim);
}

__global__ void swiglu_kernel(float *a, const float *u, uint64_t n, float limit) {
    GRID_DEP();
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = fminf(u[2 * i], limit);
    const float lin = fmaxf(fminf(u[2 * i + 1], limit), -limit);
    a[i] = g / (1.0f + expf(-1.702f * g)) * (lin + 1.0f);
}

void cuda_swiglu(float *a, const float *u, uint64_t n, float limit, cudaStream_t st) {
    if (!n) return;
    launch_k(swiglu_kernel, (unsigned)((n + 255) / 256), 256, 0, st, a, u, n, limit);
}
