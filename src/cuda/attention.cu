/* attention.cu: attention with sinks over the KV cache ring buffer (full or sliding window), f32.
 * One block per (query head, token); each warp takes 32 keys at a time, one key per lane (a full
 * q.k dot per lane, no shuffles), keeps an online softmax (running max m, sum l) and accumulates
 * the values with the lanes owning head dimensions; the warps are merged at the end together with
 * the sink, which enters the softmax denominator like a key with no value (exp(sink - M)).
 * Mathematically the same as gptoss_attention_head_f32. */
#include "cuda/kernels.cuh"

#define ATT_WARPS 16
#define ATT_MAX_DH 256
#define ATT_DPL (ATT_MAX_DH / 32) /* head dims per lane */

/* One warp's share of the keys [k_begin, k_end) of a window starting at position lo, WARPS warps
 * taking 32 keys each per step: online softmax of q.k * scale (q in shared memory, qs) with the values
 * accumulated by the lanes owning head dimensions; the warp's (m, l, acc) go to wm, wl and wacc. */
template <int WARPS>
__device__ __forceinline__ void warp_attend(const float *qs, const float *kb, const float *vb, uint64_t KW, uint32_t lo,
                                            uint32_t cap, uint32_t dh, float scale, uint32_t k_begin, uint32_t k_end,
                                            float *wm, float *wl, float (*wacc)[ATT_MAX_DH]) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float m = -INFINITY, l = 0.0f, acc[ATT_DPL];
#pragma unroll
    for (int j = 0; j < ATT_DPL; j++) acc[j] = 0.0f;
    for (uint32_t base = k_begin + (uint32_t)warp * 32; base < k_end; base += WARPS * 32) {
        const uint32_t j = base + lane;
        const bool valid = j < k_end;
        const uint32_t slot = valid ? (lo + j) % cap : 0;
        float s = -INFINITY;
        if (valid) {
            const float *kr = kb + (uint64_t)slot * KW;
            float dot = 0.0f;
            if (dh % 4 == 0) {
                for (uint32_t d = 0; d < dh; d += 4) {
                    const float4 kv = *reinterpret_cast<const float4 *>(kr + d);
                    const float4 qv = *reinterpret_cast<const float4 *>(qs + d);
                    dot += kv.x * qv.x + kv.y * qv.y + kv.z * qv.z + kv.w * qv.w;
                }
            } else {
                for (uint32_t d = 0; d < dh; d++) dot += kr[d] * qs[d];
            }
            s = dot * scale;
        }
        const float nm = fmaxf(m, warp_max(s));
        const float corr = expf(m - nm);
        const float p = valid ? expf(s - nm) : 0.0f;
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int jj = 0; jj < ATT_DPL; jj++) acc[jj] *= corr;
        /* lanes past the end reuse lane 0's (valid) slot with weight 0, so the loop has a fixed
         * trip count and its loads can be issued ahead */
        const uint32_t slot0 = __shfl_sync(0xffffffffu, slot, 0);
        const uint32_t vslot = valid ? slot : slot0;
#pragma unroll 8
        for (uint32_t kk = 0; kk < 32; kk++) {
            const float pk = __shfl_sync(0xffffffffu, p, kk);
            const uint32_t sk = __shfl_sync(0xffffffffu, vslot, kk);
            const float *vr = vb + (uint64_t)sk * KW;
#pragma unroll
            for (int jj = 0; jj < ATT_DPL; jj++) {
                const uint32_t d = lane + 32 * jj;
                if (d < dh) acc[jj] += pk * vr[d];
            }
        }
        m = nm;
    }
    if (lane == 0) {
        wm[warp] = m;
        wl[warp] = l;
    }
#pragma unroll
    for (int jj = 0; jj < ATT_DPL; jj++) {
        const uint32_t d = lane + 32 * jj;
        if (d < dh) wacc[warp][d] = acc[jj];
    }
}

__global__ void __launch_bounds__(ATT_WARPS * 32) attention_kernel(float *__restrict__ out, const float *__restrict__ q,
                                                                    uint64_t q_stride, const float *__restrict__ k_cache,
                                                                    const float *__restrict__ v_cache, uint32_t cap,
                                                                    const uint32_t *__restrict__ pos0, uint32_t H,
                                                                    uint32_t Hkv, uint32_t dh, uint32_t window,
                                                                    const float *__restrict__ sinks, float scale) {
    GRID_DEP();
    __shared__ __align__(16) float qs[ATT_MAX_DH];
    __shared__ float wm[ATT_WARPS], wl[ATT_WARPS];
    __shared__ float wacc[ATT_WARPS][ATT_MAX_DH];
    const uint32_t h = blockIdx.x, t = blockIdx.y;
    const uint32_t pos = *pos0 + t;
    const uint32_t lo = (window && pos + 1 > window) ? pos + 1 - window : 0;
    const uint32_t n_keys = pos + 1 - lo;
    const uint32_t g = h / (H / Hkv);
    const uint64_t KW = (uint64_t)Hkv * dh;
    const float *qr = q + (uint64_t)t * q_stride + (uint64_t)h * dh;
    for (uint32_t d = threadIdx.x; d < dh; d += blockDim.x) qs[d] = qr[d];
    __syncthreads();
    const float *kb = k_cache + (uint64_t)g * dh, *vb = v_cache + (uint64_t)g * dh;
    warp_attend<ATT_WARPS>(qs, kb, vb, KW, lo, cap, dh, scale, 0, n_keys, wm, wl, wacc);
    __syncthreads();
    const float sink = sinks[h];
    float M = sink;
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, wm[w]);
    float L = expf(sink - M);
    for (int w = 0; w < ATT_WARPS; w++) L += wl[w] * expf(wm[w] - M);
    float *orow = out + (uint64_t)t * H * dh + (uint64_t)h * dh;
    for (uint32_t d = threadIdx.x; d < dh; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++) o += wacc[w][d] * expf(wm[w] - M);
        orow[d] = o / L;
    }
}

void cuda_attention(float *out, const float *q, uint64_t q_stride, const float *k_cache, const float *v_cache,
                    uint32_t cap, const uint32_t *pos, uint32_t n, uint32_t n_heads, uint32_t n_kv_heads,
                    uint32_t head_dim, uint32_t window, const float *sinks, float scale, cudaStream_t st) {
    if (!n) return;
    dim3 grid(n_heads, n);
    launch_k(attention_kernel, grid, ATT_WARPS * 32, 0, st, out, q, q_stride, k_cache, v_cache, cap, pos, n_heads, n_kv_heads,
                                                      head_dim, window, sinks, scale);
}

/* ---- split-K (flash-decoding) for a few tokens: grid (H, splits, n); split s of token t takes the
 * keys [s * chunk, min((s + 1) * chunk, n_keys)) of its window (chunk from the device position, so a
 * captured graph stays right as the context grows) and writes its partial (m, l, acc[dh]) unnormalised;
 * attention_merge_kernel folds the splits together with the sink, which is one more logit in the
 * denominator with no value: L = exp(sink - M) + sum_s l_s exp(m_s - M), o = sum_s acc_s exp(m_s - M) / L. */
#define ATS_WARPS 4

__global__ void __launch_bounds__(ATS_WARPS * 32) attention_split_kernel(
    float *__restrict__ part, const float *__restrict__ q, uint64_t q_stride, const float *__restrict__ k_cache,
    const float *__restrict__ v_cache, uint32_t cap, const uint32_t *__restrict__ pos0, uint32_t H, uint32_t Hkv,
    uint32_t dh, uint32_t window, float scale) {
    GRID_DEP();
    __shared__ __align__(16) float qs[ATT_MAX_DH];
    __shared__ float wm[ATS_WARPS], wl[ATS_WARPS];
    __shared__ float wacc[ATS_WARPS][ATT_MAX_DH];
    const uint32_t h = blockIdx.x, s = blockIdx.y, S = gridDim.y, t = blockIdx.z;
    const uint32_t pos = *pos0 + t;
    const uint32_t lo = (window && pos + 1 > window) ? pos + 1 - window : 0;
    const uint32_t n_keys = pos + 1 - lo;
    const uint32_t chunk = (n_keys + S - 1) / S;
    const uint32_t k_begin = s * chunk < n_keys ? s * chunk : n_keys;
    const uint32_t k_end = k_begin + chunk < n_keys ? k_begin + chunk : n_keys;
    const uint32_t g = h / (H / Hkv);
    const uint64_t KW = (uint64_t)Hkv * dh;
    const float *qr = q + (uint64_t)t * q_stride + (uint64_t)h * dh;
    for (uint32_t d = threadIdx.x; d < dh; d += blockDim.x) qs[d] = qr[d];
    __syncthreads();
    const float *kb = k_cache + (uint64_t)g * dh, *vb = v_cache + (uint64_t)g * dh;
    warp_attend<ATS_WARPS>(qs, kb, vb, KW, lo, cap, dh, scale, k_begin, k_end, wm, wl, wacc);
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATS_WARPS; w++) M = fmaxf(M, wm[w]);
    float *pr = part + (((uint64_t)t * H + h) * S + s) * (dh + 2);
    if (M == -INFINITY) { /* an empty split */
        for (uint32_t d = threadIdx.x; d < dh + 2; d += blockDim.x) pr[d] = d == 0 ? -INFINITY : 0.0f;
        return;
    }
    if (threadIdx.x == 0) {
        float L = 0.0f;
        for (int w = 0; w < ATS_WARPS; w++) L += wl[w] * expf(wm[w] - M);
        pr[0] = M;
        pr[1] = L;
    }
    for (uint32_t d = threadIdx.x; d < dh; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < ATS_WARPS; w++) o += wacc[w][d] * expf(wm[w] - M);
        pr[2 + d] = o;
    }
}

/* grid (H, n): merge the S partials of (head h, token t) with the sink */
__global__ void attention_merge_kernel(float *__restrict__ out, const float *__restrict__ part, uint32_t H, uint32_t S,
                                       uint32_t dh, const float *__restrict__ sinks) {
    GRID_DEP();
    const uint32_t h = blockIdx.x, t = blockIdx.y;
    const float *pr = part + ((uint64_t)t * H + h) * S * (dh + 2);
    const float sink = sinks[h];
    float M = sink;
    for (uint32_t s = 0; s < S; s++) M = fmaxf(M, pr[s * (dh + 2)]);
    float L = expf(sink - M);
    for (uint32_t s = 0; s < S; s++) L += pr[s * (dh + 2) + 1] * expf(pr[s * (dh + 2)] - M);
    float *orow = out + (uint64_t)t * H * dh + (uint64_t)h * dh;
    for (uint32_t d = threadIdx.x; d < dh; d += blockDim.x) {
        float o = 0.0f;
        for (uint32_t s = 0; s < S; s++) o += pr[s * (dh + 2) + 2 + d] * expf(pr[s * (dh + 2)] - M);
        orow[d] = o / L;
    }
}

uint32_t cuda_attention_splits(uint32_t cap, uint32_t window) {
    const uint32_t keys = window && window < cap ? window : cap;
    const uint32_t s = (keys + 63) / 64;
    return s < 1 ? 1 : s > ATT_MAX_SPLITS ? ATT_MAX_SPLITS : s;
}

void cuda_attention_split(float *out, float *part, uint32_t splits, const float *q, uint64_t q_stride,
                          const float *k_cache, const float *v_cache, uint32_t cap, const uint32_t *pos, uint32_t n,
                          uint32_t n_heads, uint32_t n_kv_heads, uint32_t head_dim, uint32_t window,
                          const float *sinks, float scale, cudaStream_t st) {
    if (!n) return;
    if (!part || splits <= 1) {
        cuda_attention(out, q, q_stride, k_cache, v_cache, cap, pos, n, n_heads, n_kv_heads, head_dim, window, sinks,
                       scale, st);
        return;
    }
    launch_k(attention_split_kernel, dim3(n_heads, splits, n), ATS_WARPS * 32, 0, st, 
        part, q, q_stride, k_cache, v_cache, cap, pos, n_heads, n_kv_heads, head_dim, window, scale);
    const unsigned threads = head_dim < 32 ? 32 : head_dim > 256 ? 256 : (head_dim + 31) / 32 * 32;
    launch_k(attention_merge_kernel, dim3(n_heads, n), threads, 0, st, out, part, n_heads, splits, head_dim, sinks);
}
