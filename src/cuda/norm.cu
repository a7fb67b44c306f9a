/* norm.cu: RMSNorm (one block per row, same operation order as gptoss_rmsnorm_f32), the embedding
 * gather (rows widened exactly to f32) and the device position counter's advance. */
#include <stdlib.h>
#include <string.h>

#include "cuda/kernels.cuh"

#define NORM_THREADS 256

#define NORM_REG 16 /* D <= NORM_THREADS * NORM_REG: x and gain kept in registers, gain loaded before the wait */

template <bool REG>
__global__ void __launch_bounds__(NORM_THREADS) rmsnorm_kernel(float *__restrict__ y, const float *__restrict__ x,
                                                                const float *__restrict__ gain, uint32_t D, float eps) {
    float gv[REG ? NORM_REG : 1], xv[REG ? NORM_REG : 1];
    if (REG) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++) {
            const uint32_t i = threadIdx.x + j * NORM_THREADS;
            gv[j] = i < D ? __ldg(gain + i) : 0.0f; /* a weight: may be read before the previous kernel ends */
        }
    }
    GRID_DEP();
    __shared__ float part[NORM_THREADS / 32];
    const float *xr = x + (uint64_t)blockIdx.x * D;
    float *yr = y + (uint64_t)blockIdx.x * D;
    float ss = 0.0f;
    if (REG) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++) {
            const uint32_t i = threadIdx.x + j * NORM_THREADS;
            xv[j] = i < D ? xr[i] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < NORM_REG; j++)
            if (threadIdx.x + j * NORM_THREADS < D) ss += xv[j] * xv[j];
    } else {
        for (uint32_t i = threadIdx.x; i < D; i += NORM_THREADS) ss += xr[i] * xr[i];
    }
    ss = warp_sum(ss);
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        float v = threadIdx.x < NORM_THREADS / 32 ? part[threadIdx.x] : 0.0f;
        v = warp_sum(v);
        if (threadIdx.x == 0) part[0] = v;
    }
    __syncthreads();
    const float inv = 1.0f / sqrtf(part[0] / (float)D + eps);
    if (REG) {
#pragma unroll
        for (int j = 0; j < NORM_REG; j++) {
            const uint32_t i = threadIdx.x + j * NORM_THREADS;
            if (i < D) yr[i] = xv[j] * inv * gv[j];
        }
    } else {
        for (uint32_t i = threadIdx.x; i < D; i += NORM_THREADS) yr[i] = xr[i] * inv * gain[i];
    }
}

void cuda_rmsnorm(float *y, const float *x, const float *gain, uint32_t n, uint32_t dim, float eps, cudaStream_t st) {
    if (!n) return;
    if (dim <= NORM_THREADS * NORM_REG)
        launch_k(rmsnorm_kernel<true>, n, NORM_THREADS, 0, st, y, x, gain, dim, eps);
    else
        launch_k(rmsnorm_kernel<false>, n, NORM_THREADS, 0, st, y, x, gain, dim, eps);
}

__global__ void embed_kernel(float *__restrict__ x, dev_mat emb, const uint32_t *__restrict__ ids) {
    GRID_DEP();
    const uint64_t D = emb.cols, id = ids[blockIdx.x];
    float *xr = x + (uint64_t)blockIdx.x * D;
    if (emb.wtype == DEV_BF16) {
        const uint16_t *row = static_cast<const uint16_t *>(emb.data) + id * D;
        for (uint64_t i = threadIdx.x; i < D; i += blockDim.x) xr[i] = bf16_bits_to_f32(row[i]);
    } else {
        const float *row = static_cast<const float *>(emb.data) + id * D;
        for (uint64_t i = threadIdx.x; i < D; i += blockDim.x) xr[i] = row[i];
    }
}

void cuda_embed(float *x, const dev_mat &emb, const uint32_t *ids, uint32_t n, cudaStream_t st) {
    if (!n) return;
    launch_k(embed_kernel, n, 256, 0, st, x, emb, ids);
}

__global__ void advance_kernel(uint32_t *pos, uint32_t n) { GRID_DEP(); *pos += n; }

void cuda_advance(uint32_t *pos, uint32_t n, cudaStream_t st) { launch_k(advance_kernel, 1, 1, 0, st, pos, n); }

bool cuda_pdl_enabled(void) {
    static int on = -1; /* one device per process; decided on first use */
    if (on < 0) {
        const char *e = getenv("GPTOSS_CUDA_PDL");
        int dev = 0, major = 0;
        on = (!e || strcmp(e, "0") != 0) && cudaGetDevice(&dev) == cudaSuccess &&
             cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess && major == 9;
    }
    return on != 0;
}
