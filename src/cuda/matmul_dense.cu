/* matmul_dense.cu: dense BF16/F32 weight x f32 activation products (attention projections, router,
 * unembedding). One token: one warp per weight row, 16-byte loads, warp-shuffle reduction (decode
 * is bound by reading the weights once). Several tokens: the shared-memory tiles of tile.cuh. */
#include "cuda/kernels.cuh"
#include "cuda/tile.cuh"

#define MV_WARPS 8

template <int WK>
__global__ void __launch_bounds__(MV_WARPS * 32) matvec_kernel(float *__restrict__ out, const void *__restrict__ w,
                                                                uint64_t rows, uint64_t cols,
                                                                const float *__restrict__ bias,
                                                                const float *__restrict__ x, int accumulate) {
    GRID_DEP();
    const uint64_t r = (uint64_t)blockIdx.x * MV_WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (r >= rows) return;
    float acc = 0.0f;
    if (WK == TW_BF16) {
        const uint16_t *row = static_cast<const uint16_t *>(w) + r * cols;
        if (cols % 8 == 0) {
            const uint4 *row4 = reinterpret_cast<const uint4 *>(row);
#pragma unroll 4
            for (uint64_t c = lane; c < cols / 8; c += 32) {
                const uint4 p = __ldg(row4 + c);
                const float4 xa = *reinterpret_cast<const float4 *>(x + 8 * c);
                const float4 xb = *reinterpret_cast<const float4 *>(x + 8 * c + 4);
                acc += __uint_as_float(p.x << 16) * xa.x;
                acc += __uint_as_float(p.x & 0xffff0000u) * xa.y;
                acc += __uint_as_float(p.y << 16) * xa.z;
                acc += __uint_as_float(p.y & 0xffff0000u) * xa.w;
                acc += __uint_as_float(p.z << 16) * xb.x;
                acc += __uint_as_float(p.z & 0xffff0000u) * xb.y;
                acc += __uint_as_float(p.w << 16) * xb.z;
                acc += __uint_as_float(p.w & 0xffff0000u) * xb.w;
            }
        } else {
            for (uint64_t c = lane; c < cols; c += 32) acc += bf16_bits_to_f32(row[c]) * x[c];
        }
    } else {
        const float *row = static_cast<const float *>(w) + r * cols;
        if (cols % 4 == 0) {
            const float4 *row4 = reinterpret_cast<const float4 *>(row);
            for (uint64_t c = lane; c < cols / 4; c += 32) {
                const float4 p = __ldg(row4 + c);
                const float4 xa = *reinterpret_cast<const float4 *>(x + 4 * c);
                acc += p.x * xa.x + p.y * xa.y + p.z * xa.z + p.w * xa.w;
            }
        } else {
            for (uint64_t c = lane; c < cols; c += 32) acc += row[c] * x[c];
        }
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        const float v = acc + (bias ? bias[r] : 0.0f);
        out[r] = accumulate ? out[r] + v : v;
    }
}

/* BF16, cols % 8 == 0 and cols / 8 <= 32 * NPL: every 16-byte load of the row is issued before any
 * arithmetic (NPL per lane in flight), so a warp waits for memory once per row, not once per 4 loads. */
template <int NPL>
__global__ void __launch_bounds__(MV_WARPS * 32) matvec_bf16_pf(float *__restrict__ out, const uint16_t *__restrict__ w,
                                                                 uint64_t rows, uint32_t cols,
                                                                 const float *__restrict__ bias,
                                                                 const float *__restrict__ x, int accumulate) {
    const uint64_t r = (uint64_t)blockIdx.x * MV_WARPS + threadIdx.x / 32;
    const uint32_t lane = threadIdx.x % 32;
    if (r >= rows) return;
    const uint32_t nc = cols / 8;
    const uint4 *row4 = reinterpret_cast<const uint4 *>(w + r * cols);
    uint4 p[NPL];
#pragma unroll
    for (int i = 0; i < NPL; i++) {
        const uint32_t c = lane + 32 * i;
        p[i] = c < nc ? __ldg(row4 + c) : make_uint4(0, 0, 0, 0);
    }
    GRID_DEP(); /* the weights do not depend on the previous kernel: their loads overlap its tail */
    float acc0 = 0.0f, acc1 = 0.0f;
#pragma unroll
    for (int i = 0; i < NPL; i++) {
        const uint32_t c = lane + 32 * i;
        if (c < nc) {
            const float4 xa = *reinterpret_cast<const float4 *>(x + 8 * c);
            const float4 xb = *reinterpret_cast<const float4 *>(x + 8 * c + 4);
            acc0 += __uint_as_float(p[i].x << 16) * xa.x;
            acc1 += __uint_as_float(p[i].x & 0xffff0000u) * xa.y;
            acc0 += __uint_as_float(p[i].y << 16) * xa.z;
            acc1 += __uint_as_float(p[i].y & 0xffff0000u) * xa.w;
            acc0 += __uint_as_float(p[i].z << 16) * xb.x;
            acc1 += __uint_as_float(p[i].z & 0xffff0000u) * xb.y;
            acc0 += __uint_as_float(p[i].w << 16) * xb.z;
            acc1 += __uint_as_float(p[i].w & 0xffff0000u) * xb.w;
        }
    }
    const float acc = warp_sum(acc0 + acc1);
    if (lane == 0) {
        const float v = acc + (bias ? bias[r] : 0.0f);
        out[r] = accumulate ? out[r] + v : v;
    }
}

void cuda_dense(float *out, uint64_t out_stride, const dev_mat &w, const float *bias, const float *x,
                uint64_t x_stride, uint32_t n, int accumulate, cudaStream_t st) {
    if (n == 0 || w.rows == 0) return;
    if (n == 1 && ((uintptr_t)x % 16) == 0) {
        const unsigned blocks = (unsigned)((w.rows + MV_WARPS - 1) / MV_WARPS);
        const uint16_t *wb = static_cast<const uint16_t *>(w.data);
        if (w.wtype == DEV_BF16 && w.cols % 8 == 0 && w.cols <= 8 * 32 * 4) {
            launch_k(matvec_bf16_pf<4>, blocks, MV_WARPS * 32, 0, st, out, wb, w.rows, (uint32_t)w.cols, bias, x, accumulate);
            return;
        }
        if (w.wtype == DEV_BF16 && w.cols % 8 == 0 && w.cols <= 8 * 32 * 8) {
            launch_k(matvec_bf16_pf<8>, blocks, MV_WARPS * 32, 0, st, out, wb, w.rows, (uint32_t)w.cols, bias, x, accumulate);
            return;
        }
        if (w.wtype == DEV_BF16 && w.cols % 8 == 0 && w.cols <= 8 * 32 * 16) {
            launch_k(matvec_bf16_pf<16>, blocks, MV_WARPS * 32, 0, st, out, wb, w.rows, (uint32_t)w.cols, bias, x, accumulate);
            return;
        }
        if (w.wtype == DEV_BF16)
            launch_k(matvec_kernel<TW_BF16>, blocks, MV_WARPS * 32, 0, st, out, w.data, w.rows, w.cols, bias, x, accumulate);
        else
            launch_k(matvec_kernel<TW_F32>, blocks, MV_WARPS * 32, 0, st, out, w.data, w.rows, w.cols, bias, x, accumulate);
        return;
    }
    tile_args a = {};
    a.w = w.data;
    a.rows = w.rows;
    a.cols = w.cols;
    a.bias = bias;
    a.x = x;
    a.x_stride = x_stride;
    a.out = out;
    a.out_stride = out_stride;
    a.n = n;
    a.epi = accumulate ? EPI_ACCUMULATE : EPI_STORE;
    dim3 grid((unsigned)((w.rows + TILE_N - 1) / TILE_N), (n + TILE_M - 1) / TILE_M, 1);
    if (w.wtype == DEV_BF16)
        launch_k(tile_kernel<TW_BF16>, grid, 256, 0, st, a);
    else
        launch_k(tile_kernel<TW_F32>, grid, 256, 0, st, a);
}
