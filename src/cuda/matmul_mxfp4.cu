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

#define MX1_PAIRS 2 /* gate/linear row pairs per warp (4 rows share each load of x) */
#define MX2_ROWS 4  /* hidden rows per warp */

/* grid (ceil(I / (MX_WARPS * MX1_PAIRS)), K) */
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
    const uint64_t i0 = ((uint64_t)blockIdx.x * MX_WARPS + threadIdx.x / 32) * MX1_PAIRS;
    const int lane = threadIdx.x % 32;
    if (i0 >= I) return;
    const uint32_t k = blockIdx.y;
    const uint64_t e = topi[k];
    const int np = I - i0 < MX1_PAIRS ? (int)(I - i0) : MX1_PAIRS;
    const uint64_t row0 = e * w.rows + 2 * i0;
    const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks) + row0 * nb;
    const uint8_t *sc = w.scales + row0 * nb;
    float a[2 * MX1_PAIRS] = {};
    for (uint64_t b = lane; b < nb; b += 32) {
        float xv[32];
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const float4 v = *reinterpret_cast<const float4 *>(x + 32 * b + 4 * q);
            xv[4 * q] = v.x; xv[4 * q + 1] = v.y; xv[4 * q + 2] = v.z; xv[4 * q + 3] = v.w;
        }
#pragma unroll
        for (int r = 0; r < 2 * MX1_PAIRS; r++) {
            if (r < 2 * np) {
                const uint4 p = __ldg(blk + r * nb + b);
                a[r] += e8m0_to_f32(__ldg(sc + r * nb + b)) * fp4_block_dot(p, xv, lut);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2 * MX1_PAIRS; r++) a[r] = warp_sum(a[r]);
    if (lane == 0) {
        const float *bias = b1 + e * w.rows;
        for (int pi = 0; pi < np; pi++) {
            const uint64_t i = i0 + pi;
            act[(uint64_t)k * I + i] = swiglu1(a[2 * pi] + bias[2 * i], a[2 * pi + 1] + bias[2 * i + 1], limit);
        }
    }
}

/* grid (ceil(D / (MX_WARPS * MX2_ROWS)), K): eo[k*D + d] = W2[e_k][d] . act[k] + b2[e_k][d] */
__global__ void __launch_bounds__(MX_WARPS * 32) mlp2_decode_kernel(float *__restrict__ eo, dev_mxfp4 w,
                                                                     const float *__restrict__ b2,
                                                                     const float *__restrict__ act,
                                                                     const uint32_t *__restrict__ topi) {
    __shared__ float lut[16];
    if (threadIdx.x < 16) {
        const float t[16] = GPTOSS_FP4_TABLE;
        lut[threadIdx.x] = t[threadIdx.x];
    }
    __syncthreads();
    const uint64_t D = w.rows, I = w.cols, nb = w.cols / 32;
    const uint64_t d0 = ((uint64_t)blockIdx.x * MX_WARPS + threadIdx.x / 32) * MX2_ROWS;
    const int lane = threadIdx.x % 32;
    if (d0 >= D) return;
    const uint32_t k = blockIdx.y;
    const uint64_t e = topi[k];
    const int nr = D - d0 < MX2_ROWS ? (int)(D - d0) : MX2_ROWS;
    const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks) + (e * D + d0) * nb;
    const uint8_t *sc = w.scales + (e * D + d0) * nb;
    const float *x = act + (uint64_t)k * I;
    float a[MX2_ROWS] = {};
    for (uint64_t b = lane; b < nb; b += 32) {
        float xv[32];
#pragma unroll
        for (int q = 0; q < 8; q++) {
            const float4 v = *reinterpret_cast<const float4 *>(x + 32 * b + 4 * q);
            xv[4 * q] = v.x; xv[4 * q + 1] = v.y; xv[4 * q + 2] = v.z; xv[4 * q + 3] = v.w;
        }
#pragma unroll
        for (int r = 0; r < MX2_ROWS; r++) {
            if (r < nr) {
                const uint4 p = __ldg(blk + r * nb + b);
                a[r] += e8m0_to_f32(__ldg(sc + r * nb + b)) * fp4_block_dot(p, xv, lut);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < MX2_ROWS; r++) a[r] = warp_sum(a[r]);
    if (lane == 0)
        for (int r = 0; r < nr; r++) eo[(uint64_t)k * D + d0 + r] = a[r] + b2[e * D + d0 + r];
}

/* x[d] += sum_k topw[k] * eo[k*D + d], in k order like the CPU */
__global__ void combine_decode_kernel(float *__restrict__ x, const float *__restrict__ eo, const float *__restrict__ topw,
                                      uint32_t K, uint64_t D) {
    const uint64_t d = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    float y = 0.0f;
    for (uint32_t k = 0; k < K; k++) y += topw[k] * eo[(uint64_t)k * D + d];
    x[d] += y;
}

void cuda_moe_mlp1_decode(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *topi,
                          uint32_t k, float limit, cudaStream_t st) {
    const uint64_t I = w1.rows / 2, per_block = MX_WARPS * MX1_PAIRS;
    dim3 grid((unsigned)((I + per_block - 1) / per_block), k);
    mlp1_decode_kernel<<<grid, MX_WARPS * 32, 0, st>>>(act, w1, b1, x, topi, limit);
}

void cuda_moe_mlp2_decode(float *x, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *topi,
                          const float *topw, uint32_t k, float *eo, cudaStream_t st) {
    const uint64_t D = w2.rows, per_block = MX_WARPS * MX2_ROWS;
    dim3 grid((unsigned)((D + per_block - 1) / per_block), k);
    mlp2_decode_kernel<<<grid, MX_WARPS * 32, 0, st>>>(eo, w2, b2, act, topi);
    combine_decode_kernel<<<(unsigned)((D + 255) / 256), 256, 0, st>>>(x, eo, topw, k, D);
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
