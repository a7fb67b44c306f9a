/* tile.cuh: the shared-memory tiled matrix x matrix kernel behind batched (prefill) dense layers
 * and the grouped MoE experts: a 64-token x 64-row output tile per 256-thread block, K in steps of
 * 32 (one MXFP4 block), weights widened exactly to f32 in shared memory, f32 accumulation. */
#ifndef GPTOSS_CUDA_TILE_CUH
#define GPTOSS_CUDA_TILE_CUH

#include "cuda/common.cuh"

#define TILE_M 64 /* tokens */
#define TILE_N 64 /* weight rows */
#define TILE_K 32
#define TILE_PAD 4

enum tile_w { TW_BF16 = 0, TW_F32 = 1, TW_MXFP4 = 2 };
enum tile_epi { EPI_STORE = 0, EPI_ACCUMULATE = 1, EPI_SWIGLU = 2 };

struct tile_args {
    const void *w;           /* BF16/F32 [rows][cols] or MXFP4 blocks */
    const uint8_t *scales;   /* MXFP4 only */
    uint64_t rows, cols;
    uint64_t w_expert_stride; /* MXFP4: rows*cols/32 blocks per expert (grouped only) */
    const float *bias;       /* [rows] (per expert when grouped), or NULL */
    const float *x;          /* activations, row m at x + index(m) * x_stride */
    uint64_t x_stride;
    const uint32_t *x_index; /* grouped: x row of entry j is x_index[j]; NULL: the entry itself */
    float *out;
    uint64_t out_stride;
    uint32_t n;              /* tokens (dense) */
    const uint32_t *g_start, *g_count; /* grouped: expert = blockIdx.z */
    int epi;
    float limit;             /* SwiGLU clamp */
};

template <int WK>
__global__ void __launch_bounds__(256) tile_kernel(tile_args a) {
    GRID_DEP();
    __shared__ __align__(16) float xs[TILE_K][TILE_M + TILE_PAD];
    __shared__ __align__(16) float ws[TILE_K][TILE_N + TILE_PAD];
    __shared__ float lut[16];
    const int tid = threadIdx.x;
    if (WK == TW_MXFP4 && tid < 16) {
        const float t[16] = GPTOSS_FP4_TABLE;
        lut[tid] = t[tid];
    }
    uint64_t e = 0, first = 0, m_count = a.n;
    if (a.g_start) {
        e = blockIdx.z;
        first = a.g_start[e];
        m_count = a.g_count[e];
    }
    const uint64_t m0 = (uint64_t)blockIdx.y * TILE_M, r0 = (uint64_t)blockIdx.x * TILE_N;
    if (m0 >= m_count) return;
    const int tx = tid % 16, ty = tid / 16;
    const int ld_row = tid / 4, ld_q = tid % 4; /* loader: 64 rows x 4 quarters of 8 columns */
    const uint64_t ld_m = m0 + ld_row;
    const float *xrow = nullptr;
    if (ld_m < m_count) {
        const uint64_t entry = first + ld_m;
        xrow = a.x + (a.x_index ? a.x_index[entry] : entry) * a.x_stride;
    }
    const uint64_t wr = r0 + ld_row;
    const bool w_ok = wr < a.rows;
    const bool vec = (a.cols % 8) == 0 && (a.x_stride % 4) == 0;
    float acc[4][4] = {};
    const float *bias = a.bias ? a.bias + (a.g_start ? e * a.rows : 0) : nullptr;

    for (uint64_t k0 = 0; k0 < a.cols; k0 += TILE_K) {
        __syncthreads();
        const uint64_t c = k0 + ld_q * 8;
        /* activations */
        float xv[8];
        if (xrow && vec && c + 8 <= a.cols) {
            const float4 p = *reinterpret_cast<const float4 *>(xrow + c);
            const float4 q = *reinterpret_cast<const float4 *>(xrow + c + 4);
            xv[0] = p.x; xv[1] = p.y; xv[2] = p.z; xv[3] = p.w; xv[4] = q.x; xv[5] = q.y; xv[6] = q.z; xv[7] = q.w;
        } else {
#pragma unroll
            for (int j = 0; j < 8; j++) xv[j] = xrow && c + j < a.cols ? xrow[c + j] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < 8; j++) xs[ld_q * 8 + j][ld_row] = xv[j];
        /* weights */
        float wv[8];
        if (!w_ok) {
#pragma unroll
            for (int j = 0; j < 8; j++) wv[j] = 0.0f;
        } else if (WK == TW_MXFP4) {
            const uint64_t nb = a.cols / 32, blk = (e * a.rows + wr) * nb + k0 / 32;
            const uint32_t bits = reinterpret_cast<const uint32_t *>(static_cast<const uint8_t *>(a.w) + blk * 16)[ld_q];
            const float s = e8m0_to_f32(a.scales[blk]);
#pragma unroll
            for (int j = 0; j < 8; j++) wv[j] = lut[(bits >> (4 * j)) & 15] * s;
        } else if (WK == TW_BF16) {
            const uint16_t *row = static_cast<const uint16_t *>(a.w) + wr * a.cols;
            if (vec && c + 8 <= a.cols) {
                const uint4 p = *reinterpret_cast<const uint4 *>(row + c);
                const uint32_t u[4] = {p.x, p.y, p.z, p.w};
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    wv[2 * j] = __uint_as_float(u[j] << 16);
                    wv[2 * j + 1] = __uint_as_float(u[j] & 0xffff0000u);
                }
            } else {
#pragma unroll
                for (int j = 0; j < 8; j++) wv[j] = c + j < a.cols ? bf16_bits_to_f32(row[c + j]) : 0.0f;
            }
        } else {
            const float *row = static_cast<const float *>(a.w) + wr * a.cols;
            if (vec && c + 8 <= a.cols) {
                const float4 p = *reinterpret_cast<const float4 *>(row + c);
                const float4 q = *reinterpret_cast<const float4 *>(row + c + 4);
                wv[0] = p.x; wv[1] = p.y; wv[2] = p.z; wv[3] = p.w; wv[4] = q.x; wv[5] = q.y; wv[6] = q.z; wv[7] = q.w;
            } else {
#pragma unroll
                for (int j = 0; j < 8; j++) wv[j] = c + j < a.cols ? row[c + j] : 0.0f;
            }
        }
#pragma unroll
        for (int j = 0; j < 8; j++) ws[ld_q * 8 + j][ld_row] = wv[j];
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < TILE_K; k++) {
            const float4 xa = *reinterpret_cast<const float4 *>(&xs[k][tx * 4]);
            const float4 wb = *reinterpret_cast<const float4 *>(&ws[k][ty * 4]);
            const float xa_[4] = {xa.x, xa.y, xa.z, xa.w}, wb_[4] = {wb.x, wb.y, wb.z, wb.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += xa_[i] * wb_[j];
        }
    }
    /* epilogue */
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const uint64_t m = m0 + tx * 4 + i;
        if (m >= m_count) continue;
        float *orow = a.out + (first + m) * a.out_stride;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const uint64_t r = r0 + ty * 4 + j;
            if (r >= a.rows) continue;
            const float v = acc[i][j] + (bias ? bias[r] : 0.0f);
            if (a.epi == EPI_SWIGLU) {
                if (j % 2 == 0 && r + 1 < a.rows) {
                    const float g = fminf(v, a.limit);
                    const float lin_raw = acc[i][j + 1] + (bias ? bias[r + 1] : 0.0f);
                    const float lin = fmaxf(fminf(lin_raw, a.limit), -a.limit);
                    orow[r / 2] = g / (1.0f + expf(-1.702f * g)) * (lin + 1.0f);
                }
            } else if (a.epi == EPI_ACCUMULATE) {
                orow[r] += v;
            } else {
                orow[r] = v;
            }
        }
    }
}

#endif
