/* matmul_mxfp4.cu: MoE expert products reading the MXFP4 blocks directly (weights stay MXFP4 on the
 * device). Decode: one warp per output (a gate/linear row pair for mlp1, with SwiGLU fused; one
 * hidden row over all K experts for mlp2, with the weighted combine and residual add fused), expert
 * ids read from device memory so no host round trip is needed. Prefill: the grouped tiles of
 * tile.cuh, one grid z-slice per expert. */
#include "cuda/kernels.cuh"
#include "cuda/tile.cuh"

#define MX_WARPS 8

__device__ __forceinline__ float swiglu1(float gate, float lin_raw, float limit) {
    const float g = fminf(gate, limit);
    const float lin = fmaxf(fminf(lin_raw, limit), -limit);
    return g / (1.0f + expf(-1.702f * g)) * (lin + 1.0f);
}

/* grid (ceil(I / MX_WARPS), K) */
__global__ void __launch_bounds__(MX_WARPS * 32) mlp1_decode_kernel(float *__restrict__ act, dev_mxfp4 w,
                                                                     const float *__restrict__ b1,
                                                                     const float *__restrict__ x,
                                                                     const uint32_t *__restrict__ topi, float limit) {
    __shared__ float lut[16];
    if (threadIdx.x < 16) {
        const float t[16] = GPTOSS_FP4_TABLE;
        lut[threadIdx.x] = t[threadIdx.x];
    }
    __syncthreads();
    const uint64_t I = w.rows / 2, nb = w.cols / 32;
    const uint64_t i = (uint64_t)blockIdx.x * MX_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (i >= I) return;
    const uint32_t k = blockIdx.y;
    const uint64_t e = topi[k];
    const uint64_t row0 = e * w.rows + 2 * i;
    const uint4 *blk0 = reinterpret_cast<const uint4 *>(w.blocks) + row0 * nb;
    const uint4 *blk1 = blk0 + nb;
    const uint8_t *sc0 = w.scales + row0 * nb, *sc1 = sc0 + nb;
    float a0 = 0.0f, a1 = 0.0f;
    for (uint64_t b = lane; b < nb; b += 32) {
        const uint4 p0 = __ldg(blk0 + b), p1 = __ldg(blk1 + b);
        const float s0 = e8m0_to_f32(__ldg(sc0 + b)), s1 = e8m0_to_f32(__ldg(sc1 + b));
        a0 += s0 * fp4_block_dot(p0, x + 32 * b, lut);
        a1 += s1 * fp4_block_dot(p1, x + 32 * b, lut);
    }
    a0 = warp_sum(a0);
    a1 = warp_sum(a1);
    if (lane == 0) {
        const float *bias = b1 + e * w.rows;
        act[(uint64_t)k * I + i] = swiglu1(a0 + bias[2 * i], a1 + bias[2 * i + 1], limit);
    }
}

/* grid ceil(D / MX_WARPS) */
__global__ void __launch_bounds__(MX_WARPS * 32) mlp2_decode_kernel(float *__restrict__ x, dev_mxfp4 w,
                                                                     const float *__restrict__ b2,
                                                                     const float *__restrict__ act,
                                                                     const uint32_t *__restrict__ topi,
                                                                     const float *__restrict__ topw, uint32_t K) {
    __shared__ float lut[16];
    if (threadIdx.x < 16) {
        const float t[16] = GPTOSS_FP4_TABLE;
        lut[threadIdx.x] = t[threadIdx.x];
    }
    __syncthreads();
    const uint64_t D = w.rows, I = w.cols, nb = w.cols / 32;
    const uint64_t d = (uint64_t)blockIdx.x * MX_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (d >= D) return;
    float y = 0.0f;
    for (uint32_t k = 0; k < K; k++) {
        const uint64_t e = topi[k];
        const uint64_t row = e * D + d;
        const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks) + row * nb;
        const uint8_t *sc = w.scales + row * nb;
        const float *a = act + (uint64_t)k * I;
        float acc = 0.0f;
        for (uint64_t b = lane; b < nb; b += 32)
            acc += e8m0_to_f32(__ldg(sc + b)) * fp4_block_dot(__ldg(blk + b), a + 32 * b, lut);
        acc = warp_sum(acc);
        y += topw[k] * (acc + b2[e * D + d]);
    }
    if (lane == 0) x[d] += y;
}

void cuda_moe_mlp1_decode(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *topi,
                          uint32_t k, float limit, cudaStream_t st) {
    const uint64_t I = w1.rows / 2;
    dim3 grid((unsigned)((I + MX_WARPS - 1) / MX_WARPS), k);
    mlp1_decode_kernel<<<grid, MX_WARPS * 32, 0, st>>>(act, w1, b1, x, topi, limit);
}

void cuda_moe_mlp2_decode(float *x, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *topi,
                          const float *topw, uint32_t k, cudaStream_t st) {
    mlp2_decode_kernel<<<(unsigned)((w2.rows + MX_WARPS - 1) / MX_WARPS), MX_WARPS * 32, 0, st>>>(x, w2, b2, act, topi,
                                                                                                 topw, k);
}

static void grouped(float *out, uint64_t out_stride, const dev_mxfp4 &w, const float *bias, const float *x,
                    uint64_t x_stride, const uint32_t *x_index, const uint32_t *start, const uint32_t *count,
                    uint32_t max_per_expert, int epi, float limit, cudaStream_t st) {
    if (!max_per_expert) return;
    tile_args a = {};
    a.w = w.blocks;
    a.scales = w.scales;
    a.rows = w.rows;
    a.cols = w.cols;
    a.bias = bias;
    a.x = x;
    a.x_stride = x_stride;
    a.x_index = x_index;
    a.out = out;
    a.out_stride = out_stride;
    a.g_start = start;
    a.g_count = count;
    a.epi = epi;
    a.limit = limit;
    dim3 grid((unsigned)((w.rows + TILE_N - 1) / TILE_N), (max_per_expert + TILE_M - 1) / TILE_M, (unsigned)w.n_experts);
    tile_kernel<TW_MXFP4><<<grid, 256, 0, st>>>(a);
}

void cuda_moe_mlp1_grouped(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *token_of,
                           const uint32_t *start, const uint32_t *count, uint32_t max_per_expert, float limit,
                           cudaStream_t st) {
    grouped(act, w1.rows / 2, w1, b1, x, w1.cols, token_of, start, count, max_per_expert, EPI_SWIGLU, limit, st);
}

void cuda_moe_mlp2_grouped(float *eo, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *start,
                           const uint32_t *count, uint32_t max_per_expert, cudaStream_t st) {
    grouped(eo, w2.rows, w2, b2, act, w2.cols, nullptr, start, count, max_per_expert, EPI_STORE, 0.0f, st);
}
