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

__global__ void __launch_bounds__(ATT_WARPS * 32) attention_kernel(float *__restrict__ out, const float *__restrict__ q,
                                                                    uint64_t q_stride, const float *__restrict__ k_cache,
                                                                    const float *__restrict__ v_cache, uint32_t cap,
                                                                    const uint32_t *__restrict__ pos0, uint32_t H,
                                                                    uint32_t Hkv, uint32_t dh, uint32_t window,
                                                                    const float *__restrict__ sinks, float scale) {
    __shared__ __align__(16) float qs[ATT_MAX_DH];
    __shared__ float wm[ATT_WARPS], wl[ATT_WARPS];
    __shared__ float wacc[ATT_WARPS][ATT_MAX_DH];
    const uint32_t h = blockIdx.x, t = blockIdx.y;
    const uint32_t pos = *pos0 + t;
    const uint32_t lo = (window && pos + 1 > window) ? pos + 1 - window : 0;
    const uint32_t n_keys = pos + 1 - lo;
    const uint32_t g = h / (H / Hkv);
    const uint64_t KW = (uint64_t)Hkv * dh;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const float *qr = q + (uint64_t)t * q_stride + (uint64_t)h * dh;
    for (uint32_t d = threadIdx.x; d < dh; d += blockDim.x) qs[d] = qr[d];
    __syncthreads();
    const float *kb = k_cache + (uint64_t)g * dh, *vb = v_cache + (uint64_t)g * dh;
    float m = -INFINITY, l = 0.0f, acc[ATT_DPL];
#pragma unroll
    for (int j = 0; j < ATT_DPL; j++) acc[j] = 0.0f;
    for (uint32_t base = (uint32_t)warp * 32; base < n_keys; base += ATT_WARPS * 32) {
        const uint32_t j = base + lane;
        const bool valid = j < n_keys;
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
    attention_kernel<<<grid, ATT_WARPS * 32, 0, st>>>(out, q, q_stride, k_cache, v_cache, cap, pos, n_heads, n_kv_heads,
                                                      head_dim, window, sinks, scale);
}
