/* rope.cu: half-split YaRN RoPE of the q and k heads (positions read from the device counter, so a
 * captured decode graph replays at the right position), and the store of the rotated keys and the
 * values into the KV cache ring buffer (slot = position % capacity). Same arithmetic as
 * gptoss_rope_f32: angle = pos * inv_freq[i] in f32, cos/sin scaled by the YaRN concentration. */
#include "cuda/kernels.cuh"

/* grid (n, H + Hkv): block y < H rotates q head y, else k head y - H (and stores k and v). */
__global__ void rope_kv_kernel(float *__restrict__ qkv, uint64_t qkv_stride, const uint32_t *__restrict__ pos0,
                               const float *__restrict__ inv_freq, float concentration, uint32_t H, uint32_t Hkv,
                               uint32_t dh, float *__restrict__ k_cache, float *__restrict__ v_cache, uint32_t cap) {
    GRID_DEP();
    const uint32_t t = blockIdx.x, head = blockIdx.y, half = dh / 2;
    const uint32_t pos = *pos0 + t;
    float *row = qkv + (uint64_t)t * qkv_stride;
    const uint64_t QW = (uint64_t)H * dh, KW = (uint64_t)Hkv * dh;
    const bool is_k = head >= H;
    float *v = is_k ? row + QW + (uint64_t)(head - H) * dh : row + (uint64_t)head * dh;
    const uint64_t slot = pos % cap;
    for (uint32_t i = threadIdx.x; i < half; i += blockDim.x) {
        const float angle = (float)pos * inv_freq[i];
        const float c = cosf(angle) * concentration, s = sinf(angle) * concentration;
        const float a = v[i], b = v[i + half];
        const float r0 = a * c - b * s, r1 = b * c + a * s;
        v[i] = r0;
        v[i + half] = r1;
        if (is_k) {
            const uint64_t g = head - H;
            float *kc = k_cache + slot * KW + g * dh;
            kc[i] = r0;
            kc[i + half] = r1;
            const float *vs = row + QW + KW + g * dh;
            float *vc = v_cache + slot * KW + g * dh;
            vc[i] = vs[i];
            vc[i + half] = vs[i + half];
        }
    }
}

void cuda_rope_kv(float *qkv, uint64_t qkv_stride, uint32_t n, const uint32_t *pos, const float *inv_freq,
                  float concentration, uint32_t n_heads, uint32_t n_kv_heads, uint32_t head_dim, float *k_cache,
                  float *v_cache, uint32_t cap, cudaStream_t st) {
    if (!n) return;
    dim3 grid(n, n_heads + n_kv_heads);
    const unsigned threads = head_dim / 2 < 32 ? 32 : (head_dim / 2 > 256 ? 256 : head_dim / 2);
    launch_k(rope_kv_kernel, grid, threads, 0, st, qkv, qkv_stride, pos, inv_freq, concentration, n_heads, n_kv_heads,
                                             head_dim, k_cache, v_cache, cap);
}
