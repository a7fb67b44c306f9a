/* matmul_mxfp4.cu: MoE expert products reading the MXFP4 blocks directly (weights stay MXFP4 on the
 * device). Decode: one warp per output (a gate/linear row pair for mlp1, with SwiGLU fused; one
 * hidden row over all K experts for mlp2, with the weighted combine and residual add fused), expert
 * ids read from device memory so no host round trip is needed. Prefill: the grouped tiles of
 * tile.cuh, one grid z-slice per expert. */
#include <cuda_fp16.h>
#include <stdlib.h>

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
template <int MINB>
__global__ void __launch_bounds__(MX_WARPS * 32, MINB) mlp1_decode_kernel(float *__restrict__ act, dev_mxfp4 w,
                                                                     const float *__restrict__ b1,
                                                                     const float *__restrict__ x,
                                                                     const uint32_t *__restrict__ topi, float limit) {
    GRID_DEP();
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
template <int MINB>
__global__ void __launch_bounds__(MX_WARPS * 32, MINB) mlp2_decode_kernel(float *__restrict__ eo, dev_mxfp4 w,
                                                                     const float *__restrict__ b2,
                                                                     const float *__restrict__ act,
                                                                     const uint32_t *__restrict__ topi) {
    GRID_DEP();
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
    GRID_DEP();
    const uint64_t d = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    float y = 0.0f;
    for (uint32_t k = 0; k < K; k++) y += topw[k] * eo[(uint64_t)k * D + d];
    x[d] += y;
}

/* ---- decode v2: x in registers (mlp1) or in a conflict-free shared layout (mlp2), BPL blocks of 32
 * columns per lane (lane l owns blocks l, l+32, ..), all R x BPL 16-byte weight loads of a round issued
 * before any arithmetic, and mlp2 fused with the weighted k-ordered combine and the residual add. */
#define M1_WARPS 4
#define M1_PPW 8 /* gate/linear pairs per warp */
#define M2_WARPS 4
#define M2_ROWS 4 /* hidden rows per warp */

__device__ __forceinline__ void fill_lut(float *lut) {
    if (threadIdx.x < 16) {
        const float t[16] = GPTOSS_FP4_TABLE;
        lut[threadIdx.x] = t[threadIdx.x];
    }
}

/* grid (ceil(I / (M1_WARPS * M1_PPW)), K) */
template <int BPL>
__global__ void __launch_bounds__(M1_WARPS * 32, 3) mlp1_decode_v2(float *__restrict__ act, dev_mxfp4 w,
                                                                   const float *__restrict__ b1,
                                                                   const float *__restrict__ x,
                                                                   const uint32_t *__restrict__ topi, float limit) {
    GRID_DEP();
    __shared__ float lut[16];
    fill_lut(lut);
    __syncthreads();
    const uint32_t I = (uint32_t)(w.rows / 2), nb = (uint32_t)(w.cols / 32);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const uint32_t p0 = (blockIdx.x * M1_WARPS + warp) * M1_PPW;
    if (p0 >= I) return;
    const uint32_t p1 = p0 + M1_PPW < I ? p0 + M1_PPW : I;
    const uint32_t k = blockIdx.y;
    const uint64_t e = topi[k];
    float xv[BPL][32];
#pragma unroll
    for (int j = 0; j < BPL; j++) {
        const uint32_t b = lane + 32 * j;
#pragma unroll
        for (int q = 0; q < 8; q++) {
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (b < nb) v = *reinterpret_cast<const float4 *>(x + 32 * b + 4 * q);
            xv[j][4 * q] = v.x; xv[j][4 * q + 1] = v.y; xv[j][4 * q + 2] = v.z; xv[j][4 * q + 3] = v.w;
        }
    }
    const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks) + e * w.rows * nb;
    const uint8_t *sc = w.scales + e * w.rows * nb;
    const float *bias = b1 + e * w.rows;
    for (uint32_t p = p0; p < p1; p += 2) {
        const uint32_t nrow = p + 2 <= p1 ? 4 : 2;
        uint4 wv[4][BPL];
        uint32_t sv[4][BPL];
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int j = 0; j < BPL; j++) {
                const uint32_t b = lane + 32 * j;
                const uint64_t row = 2 * (uint64_t)p + r;
                const bool ok = b < nb && (uint32_t)r < nrow;
                wv[r][j] = ok ? __ldg(blk + row * nb + b) : make_uint4(0, 0, 0, 0);
                sv[r][j] = ok ? __ldg(sc + row * nb + b) : 0u;
            }
        float a[4];
#pragma unroll
        for (int r = 0; r < 4; r++) {
            a[r] = 0.0f;
#pragma unroll
            for (int j = 0; j < BPL; j++) a[r] += e8m0_to_f32(sv[r][j]) * fp4_block_dot(wv[r][j], xv[j], lut);
            a[r] = warp_sum(a[r]);
        }
        if (lane == 0) {
            act[(uint64_t)k * I + p] = swiglu1(a[0] + bias[2 * p], a[1] + bias[2 * p + 1], limit);
            if (nrow == 4) act[(uint64_t)k * I + p + 1] = swiglu1(a[2] + bias[2 * p + 2], a[3] + bias[2 * p + 3], limit);
        }
    }
}

/* grid ceil(D / (M2_WARPS * M2_ROWS)); dynamic shared: K * 8 * (32 * BPL) float4 of act, then the LUT.
 * x[d] += sum_k topw[k] * (W2[e_k][d] . act[k] + b2[e_k][d]), k in order (as the CPU and the combine). */
template <int BPL>
__global__ void __launch_bounds__(M2_WARPS * 32) mlp2_decode_v2(float *__restrict__ x, dev_mxfp4 w,
                                                                const float *__restrict__ b2,
                                                                const float *__restrict__ act,
                                                                const uint32_t *__restrict__ topi,
                                                                const float *__restrict__ topw, uint32_t K) {
    GRID_DEP();
    extern __shared__ float4 xs[]; /* xs[(k * 8 + q) * NBP + b] = act[k][32 b + 4 q .. + 3] */
    constexpr uint32_t NBP = 32 * BPL;
    float *lut = reinterpret_cast<float *>(xs + (size_t)K * 8 * NBP);
    fill_lut(lut);
    const uint32_t D = (uint32_t)w.rows, I = (uint32_t)w.cols, nb = I / 32;
    for (uint32_t i = threadIdx.x; i < K * nb * 8; i += blockDim.x) {
        const uint32_t kk = i / (nb * 8), rem = i % (nb * 8);
        xs[(kk * 8 + rem % 8) * NBP + rem / 8] = reinterpret_cast<const float4 *>(act)[(uint64_t)kk * (I / 4) + rem];
    }
    __syncthreads();
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const uint32_t d0 = (blockIdx.x * M2_WARPS + warp) * M2_ROWS;
    if (d0 >= D) return;
    const uint32_t nr = D - d0 < M2_ROWS ? D - d0 : M2_ROWS;
    float y[M2_ROWS] = {};
    for (uint32_t k = 0; k < K; k++) {
        const uint64_t e = topi[k];
        const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks) + (e * D + d0) * nb;
        const uint8_t *sc = w.scales + (e * D + d0) * nb;
        uint4 wv[M2_ROWS][BPL];
        uint32_t sv[M2_ROWS][BPL];
#pragma unroll
        for (int r = 0; r < M2_ROWS; r++)
#pragma unroll
            for (int j = 0; j < BPL; j++) {
                const uint32_t b = lane + 32 * j;
                const bool ok = b < nb && (uint32_t)r < nr;
                wv[r][j] = ok ? __ldg(blk + (uint64_t)r * nb + b) : make_uint4(0, 0, 0, 0);
                sv[r][j] = ok ? __ldg(sc + (uint64_t)r * nb + b) : 0u;
            }
        float a[M2_ROWS] = {};
#pragma unroll
        for (int j = 0; j < BPL; j++) {
            float xv[32];
            const uint32_t b = lane + 32 * j;
#pragma unroll
            for (int q = 0; q < 8; q++) {
                const float4 v = b < nb ? xs[(k * 8 + q) * NBP + b] : make_float4(0.f, 0.f, 0.f, 0.f);
                xv[4 * q] = v.x; xv[4 * q + 1] = v.y; xv[4 * q + 2] = v.z; xv[4 * q + 3] = v.w;
            }
#pragma unroll
            for (int r = 0; r < M2_ROWS; r++) a[r] += e8m0_to_f32(sv[r][j]) * fp4_block_dot(wv[r][j], xv, lut);
        }
        const float tw = topw[k];
#pragma unroll
        for (int r = 0; r < M2_ROWS; r++) {
            const float s = warp_sum(a[r]);
            if ((uint32_t)r < nr) y[r] += tw * (s + b2[e * D + d0 + r]);
        }
    }
    if (lane == 0)
        for (uint32_t r = 0; r < nr; r++) x[d0 + r] += y[r];
}

template <int BPL> static size_t mlp2_smem(uint32_t K) { return (size_t)K * 8 * 32 * BPL * 16 + 64; }

template <int BPL>
static bool launch_v2(float *act, float *x, const dev_mxfp4 &w1, const float *b1, const float *h, const dev_mxfp4 &w2,
                      const float *b2, const uint32_t *topi, const float *topw, uint32_t K, float limit, int which,
                      cudaStream_t st) {
    if (which == 1) {
        const uint32_t I = (uint32_t)(w1.rows / 2), per = M1_WARPS * M1_PPW;
        launch_k(mlp1_decode_v2<BPL>, dim3((I + per - 1) / per, K), M1_WARPS * 32, 0, st, act, w1, b1, h, topi, limit);
        return true;
    }
    const size_t smem = mlp2_smem<BPL>(K);
    static size_t opted = 0; /* per instantiation: the largest dynamic shared size allowed so far */
    if (smem > 48 * 1024 && smem > opted) {
        if (cudaFuncSetAttribute(mlp2_decode_v2<BPL>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) !=
            cudaSuccess) {
            (void)cudaGetLastError();
            return false;
        }
        opted = smem;
    }
    const uint32_t D = (uint32_t)w2.rows, per = M2_WARPS * M2_ROWS;
    launch_k(mlp2_decode_v2<BPL>, (D + per - 1) / per, M2_WARPS * 32, smem, st, x, w2, b2, act, topi, topw, K);
    return true;
}

static int moe_variant(void);

/* 1..4 blocks of 32 per lane: cols <= 4096; the act staging of mlp2 must fit 200 KB */
static int v2_bpl(uint64_t cols) { return cols % 32 || cols > 4096 ? 0 : (int)((cols / 32 + 31) / 32); }

static bool dispatch_v2(int which, float *act, float *x, const dev_mxfp4 &w1, const float *b1, const float *h,
                        const dev_mxfp4 &w2, const float *b2, const uint32_t *topi, const float *topw, uint32_t K,
                        float limit, cudaStream_t st) {
    /* opt-in (GPTOSS_CUDA_MOE_V2=1): measured on an H200 no faster than the v1 kernels (see bench/RESULTS.md) */
    if (moe_variant() != 2) return false;
    const int bpl = v2_bpl(which == 1 ? w1.cols : w2.cols);
    if (which == 2 && (bpl == 0 || (size_t)K * 8 * 32 * bpl * 16 + 64 > 200 * 1024)) return false;
    if (which == 1 && bpl > 3) return false; /* x of 4 blocks per lane would spill */
    switch (bpl) {
    case 1: return launch_v2<1>(act, x, w1, b1, h, w2, b2, topi, topw, K, limit, which, st);
    case 2: return launch_v2<2>(act, x, w1, b1, h, w2, b2, topi, topw, K, limit, which, st);
    case 3: return launch_v2<3>(act, x, w1, b1, h, w2, b2, topi, topw, K, limit, which, st);
    case 4: return launch_v2<4>(act, x, w1, b1, h, w2, b2, topi, topw, K, limit, which, st);
    default: return false;
    }
}

/* ---- decode v3 (default): coalesced 16-byte code loads (lane l takes block l, l+32, .. of a row, so a
 * warp reads 512 contiguous bytes per row and load), FP4 decoded without a lookup table, high occupancy.
 *
 * Decode: an E2M1 code c = s|e1|e0|m (sign bit 3) as the fp16 bit pattern (c & 7) << 9 | (c & 8) << 12 is
 * exactly value(c) * 2^-14 (e = 0 lands in the fp16 subnormals: 0 and 0.5 * 2^-14; e > 0 gives
 * 2^(e-15) (1 + m/2) = 2^(e-1) (1 + m/2) * 2^-14). For one 32-bit word (8 codes) the high bytes of those
 * halves are built for the even and the odd codes at once (two shifts, one mask, two LOP3), then moved into
 * half2 words by byte permutes, widened exactly to f32 and multiplied with f32 x in f32 FMAs; the 2^14 and
 * the block scale 2^(s-127) are powers of two applied once per block and row, so every product and sum is
 * what the scalar code computes (up to the order of the f32 additions). About 26 instructions per 8 codes.
 *
 * mlp1: persistent blocks of 512 threads stage x once in shared memory as xs[q][b] (float4 q of block b:
 * a warp's reads are consecutive 16-byte words, conflict-free); a warp task is one gate/linear row pair of
 * one expert (all its blocks loaded before any arithmetic); SwiGLU fused. act is written in the same
 * float4-transposed layout, act_p[k][q][b], so mlp2 reads it straight from L1 with the same conflict-free
 * pattern (no staging): cuda_moe_decode_act_permuted() tells callers that look at act (the tests).
 * mlp2: a warp per hidden row d, the K experts in order (the next expert's blocks loaded while the current
 * one is summed), weighted combine and residual add fused (no eo, no combine launch). */
#define V3_THREADS 512
#define V3_M2_THREADS 128

__device__ __forceinline__ uint4 ldg_stream16(const uint4 *p) {
    uint4 v;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
        : "l"(p));
    return v;
}

/* acc + sum_j value(code j of w) * 2^-14 * x_j, x_0..3 = xa, x_4..7 = xb (code j = bits 4j..4j+3) */
__device__ __forceinline__ float fp4x8_fma(uint32_t w, float4 xa, float4 xb, float acc) {
    const uint32_t S = w & 0x88888888u;
    /* byte i of he: fp16 high byte of code 2i (magnitude to bits 1..3, sign to bit 7); ho: code 2i+1.
     * (a & M) | (b & ~M) is one LOP3; the other sign bits of S fall inside M and are masked out. */
    const uint32_t M = 0x0E0E0E0Eu;
    const uint32_t he = ((w << 1) & M) | ((S << 4) & ~M);
    const uint32_t ho = ((w >> 3) & M) | (S & ~M);
    const uint32_t h02 = __byte_perm(he, 0u, 0x1404), h46 = __byte_perm(he, 0u, 0x3424);
    const uint32_t h13 = __byte_perm(ho, 0u, 0x1404), h57 = __byte_perm(ho, 0u, 0x3424);
    const __half2 v02 = *reinterpret_cast<const __half2 *>(&h02), v46 = *reinterpret_cast<const __half2 *>(&h46);
    const __half2 v13 = *reinterpret_cast<const __half2 *>(&h13), v57 = *reinterpret_cast<const __half2 *>(&h57);
    acc = fmaf(__low2float(v02), xa.x, acc);
    acc = fmaf(__low2float(v13), xa.y, acc);
    acc = fmaf(__high2float(v02), xa.z, acc);
    acc = fmaf(__high2float(v13), xa.w, acc);
    acc = fmaf(__low2float(v46), xb.x, acc);
    acc = fmaf(__low2float(v57), xb.y, acc);
    acc = fmaf(__high2float(v46), xb.z, acc);
    acc = fmaf(__high2float(v57), xb.w, acc);
    return acc;
}

/* sum over the 32 codes of one block: xq(q) gives float4 q (x[4q .. 4q+3]) of the block */
template <typename XQ> __device__ __forceinline__ float fp4_block_v3(uint4 p, XQ xq) {
    float s = 0.0f;
    s = fp4x8_fma(p.x, xq(0), xq(1), s);
    s = fp4x8_fma(p.y, xq(2), xq(3), s);
    s = fp4x8_fma(p.z, xq(4), xq(5), s);
    s = fp4x8_fma(p.w, xq(6), xq(7), s);
    return s;
}

/* persistent: grid = resident blocks; warp task t = (pair p = t / K, expert slot k = t % K) */
template <int BPL>
__global__ void __launch_bounds__(V3_THREADS, 2) mlp1_decode_v3(float *__restrict__ act_p, dev_mxfp4 w,
                                                                const float *__restrict__ b1,
                                                                const float *__restrict__ x,
                                                                const uint32_t *__restrict__ topi, uint32_t K,
                                                                float limit) {
    GRID_DEP();
    extern __shared__ float4 xs[]; /* xs[q * nb + b] = x[32 b + 4 q .. + 3] */
    const uint32_t I = (uint32_t)(w.rows / 2), nb = (uint32_t)(w.cols / 32), nbo = I / 32;
    const int lane = threadIdx.x % 32;
    const uint32_t nw = gridDim.x * (V3_THREADS / 32), ntask = K * I;
    uint32_t t = (threadIdx.x / 32) * gridDim.x + blockIdx.x;
    const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks);
    uint4 wv[2][BPL];
    uint32_t sv[2][BPL];
    auto load = [&](uint32_t task) {
        const uint64_t row = (uint64_t)__ldg(topi + task % K) * w.rows + 2 * (task / K);
#pragma unroll
        for (int r = 0; r < 2; r++)
#pragma unroll
            for (int j = 0; j < BPL; j++) {
                const uint32_t b = lane + 32 * j;
                const bool ok = b < nb;
                wv[r][j] = ok ? ldg_stream16(blk + (row + r) * nb + b) : make_uint4(0, 0, 0, 0);
                sv[r][j] = ok ? __ldg(w.scales + (row + r) * nb + b) : 0u;
            }
    };
    if (t < ntask) load(t); /* the first weights are in flight while x is staged */
    for (uint32_t i = threadIdx.x; i < nb * 8; i += V3_THREADS)
        xs[(i % 8) * nb + i / 8] = reinterpret_cast<const float4 *>(x)[i];
    __syncthreads();
    for (; t < ntask; t += nw) {
        float a0 = 0.0f, a1 = 0.0f;
#pragma unroll
        for (int j = 0; j < BPL; j++) {
            const uint32_t b = lane + 32 * j;
            if (b < nb) {
                auto xq = [&](int q) { return xs[q * nb + b]; };
                a0 = fmaf(e8m0_to_f32(sv[0][j]), fp4_block_v3(wv[0][j], xq), a0);
                a1 = fmaf(e8m0_to_f32(sv[1][j]), fp4_block_v3(wv[1][j], xq), a1);
            }
        }
        const uint32_t k = t % K, p = t / K, e = __ldg(topi + k);
        if (t + nw < ntask) load(t + nw);
        a0 = warp_sum(a0);
        a1 = warp_sum(a1);
        if (lane == 0) {
            const float *bias = b1 + (uint64_t)e * w.rows + 2 * p;
            const uint32_t bo = p / 32, e32 = p % 32;
            act_p[((k * 8 + e32 / 4) * nbo + bo) * 4 + e32 % 4] =
                swiglu1(a0 * 16384.0f + bias[0], a1 * 16384.0f + bias[1], limit);
        }
    }
}

/* grid ceil(D / 4) blocks of 4 warps, a warp per hidden row d:
 * x[d] += sum_k topw[k] * (W2[e_k][d] . act[k] + b2[e_k][d]), k in order (as the CPU and the combine) */
template <int BPL>
__global__ void __launch_bounds__(V3_M2_THREADS, 8) mlp2_decode_v3(float *__restrict__ x, dev_mxfp4 w,
                                                                   const float *__restrict__ b2,
                                                                   const float *__restrict__ act_p,
                                                                   const uint32_t *__restrict__ topi,
                                                                   const float *__restrict__ topw, uint32_t K) {
    GRID_DEP();
    const uint32_t D = (uint32_t)w.rows, nb = (uint32_t)(w.cols / 32);
    const uint32_t d = blockIdx.x * (V3_M2_THREADS / 32) + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (d >= D) return;
    const uint4 *blk = reinterpret_cast<const uint4 *>(w.blocks);
    const float4 *xp = reinterpret_cast<const float4 *>(act_p);
    uint4 wv[2][BPL];
    uint32_t sv[2][BPL];
    auto load = [&](int buf, uint32_t k) {
        const uint64_t row = (uint64_t)__ldg(topi + k) * D + d;
#pragma unroll
        for (int j = 0; j < BPL; j++) {
            const uint32_t b = lane + 32 * j;
            const bool ok = b < nb;
            wv[buf][j] = ok ? ldg_stream16(blk + row * nb + b) : make_uint4(0, 0, 0, 0);
            sv[buf][j] = ok ? __ldg(w.scales + row * nb + b) : 0u;
        }
    };
    load(0, 0);
    float y = 0.0f;
    for (uint32_t k = 0; k < K; k += 2) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const uint32_t kk = k + h;
            if (kk >= K) break;
            if (kk + 1 < K) load(h ^ 1, kk + 1);
            float a = 0.0f;
#pragma unroll
            for (int j = 0; j < BPL; j++) {
                const uint32_t b = lane + 32 * j;
                if (b < nb) {
                    auto xq = [&](int q) { return __ldg(xp + (kk * 8 + q) * nb + b); };
                    a = fmaf(e8m0_to_f32(sv[h][j]), fp4_block_v3(wv[h][j], xq), a);
                }
            }
            a = warp_sum(a);
            const uint32_t e = __ldg(topi + kk);
            y += __ldg(topw + kk) * (a * 16384.0f + __ldg(b2 + (uint64_t)e * D + d));
        }
    }
    if (lane == 0) x[d] += y;
}

static bool v3_shapes_ok(uint64_t D, uint64_t I) { return D % 32 == 0 && I % 32 == 0 && D <= 4096 && I <= 4096 && D && I; }

static int g_moe_variant = 0; /* 0: not chosen yet */
static int moe_variant(void) {
    if (!g_moe_variant) {
        const char *v = getenv("GPTOSS_CUDA_MOE_KERNEL");
        g_moe_variant = v ? atoi(v) : getenv("GPTOSS_CUDA_MOE_V2") ? 2 : 3;
        if (g_moe_variant < 1 || g_moe_variant > 3) g_moe_variant = 3;
    }
    return g_moe_variant;
}

void cuda_moe_set_decode_variant(int v) { g_moe_variant = v >= 1 && v <= 3 ? v : 0; }

bool cuda_moe_decode_act_permuted(uint64_t D, uint64_t I) { return moe_variant() == 3 && v3_shapes_ok(D, I); }

static int sm_count(void) {
    static int n = 0;
    if (!n) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n < 1)
            n = 1;
    }
    return n;
}

template <int BPL>
static void launch_mlp1_v3(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *topi,
                           uint32_t K, float limit, cudaStream_t st) {
    static int occ = 0;
    const size_t smem = w1.cols * 4;
    if (!occ && (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, mlp1_decode_v3<BPL>, V3_THREADS, smem) != cudaSuccess || occ < 1)) {
        (void)cudaGetLastError();
        occ = 1;
    }
    const uint32_t ntask = K * (uint32_t)(w1.rows / 2), need = (ntask + V3_THREADS / 32 - 1) / (V3_THREADS / 32);
    const uint32_t res = (uint32_t)(sm_count() * occ), grid = need < res ? need : res;
    launch_k(mlp1_decode_v3<BPL>, grid, V3_THREADS, smem, st, act, w1, b1, x, topi, K, limit);
}

template <int BPL>
static void launch_mlp2_v3(float *x, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *topi,
                           const float *topw, uint32_t K, cudaStream_t st) {
    const uint32_t per = V3_M2_THREADS / 32, D = (uint32_t)w2.rows;
    launch_k(mlp2_decode_v3<BPL>, (D + per - 1) / per, V3_M2_THREADS, 0, st, x, w2, b2, act, topi, topw, K);
}

static bool dispatch_v3(int which, float *act, float *x, const dev_mxfp4 &w1, const float *b1, const float *h,
                        const dev_mxfp4 &w2, const float *b2, const uint32_t *topi, const float *topw, uint32_t K,
                        float limit, cudaStream_t st) {
    const uint64_t D = which == 1 ? w1.cols : w2.rows, I = which == 1 ? w1.rows / 2 : w2.cols;
    if (!K || !cuda_moe_decode_act_permuted(D, I)) return false;
    const int bpl = (int)((D / 32 + 31) / 32), bpl2 = (int)((I / 32 + 31) / 32);
    if (which == 1) {
        switch (bpl) {
        case 1: launch_mlp1_v3<1>(act, w1, b1, h, topi, K, limit, st); return true;
        case 2: launch_mlp1_v3<2>(act, w1, b1, h, topi, K, limit, st); return true;
        case 3: launch_mlp1_v3<3>(act, w1, b1, h, topi, K, limit, st); return true;
        default: launch_mlp1_v3<4>(act, w1, b1, h, topi, K, limit, st); return true;
        }
    }
    switch (bpl2) {
    case 1: launch_mlp2_v3<1>(x, w2, b2, act, topi, topw, K, st); return true;
    case 2: launch_mlp2_v3<2>(x, w2, b2, act, topi, topw, K, st); return true;
    case 3: launch_mlp2_v3<3>(x, w2, b2, act, topi, topw, K, st); return true;
    default: launch_mlp2_v3<4>(x, w2, b2, act, topi, topw, K, st); return true;
    }
}

/* A/B switch GPTOSS_CUDA_MOE_OCC=4: the v1 decode kernels compiled for 4 blocks of 256 threads per SM
 * (64 registers) instead of 3 (80 registers); profiled at 37.5% occupancy, latency-bound */
static bool moe_occ4(void) {
    static const int v = getenv("GPTOSS_CUDA_MOE_OCC") ? atoi(getenv("GPTOSS_CUDA_MOE_OCC")) : 0;
    return v == 4;
}

void cuda_moe_mlp1_decode(float *act, const dev_mxfp4 &w1, const float *b1, const float *x, const uint32_t *topi,
                          uint32_t k, float limit, cudaStream_t st) {
    if (dispatch_v3(1, act, nullptr, w1, b1, x, dev_mxfp4{}, nullptr, topi, nullptr, k, limit, st)) return;
    if (dispatch_v2(1, act, nullptr, w1, b1, x, dev_mxfp4{}, nullptr, topi, nullptr, k, limit, st)) return;
    const uint64_t I = w1.rows / 2, per_block = MX_WARPS * MX1_PAIRS;
    dim3 grid((unsigned)((I + per_block - 1) / per_block), k);
    if (moe_occ4())
        launch_k(mlp1_decode_kernel<4>, grid, MX_WARPS * 32, 0, st, act, w1, b1, x, topi, limit);
    else
        launch_k(mlp1_decode_kernel<1>, grid, MX_WARPS * 32, 0, st, act, w1, b1, x, topi, limit);
}

void cuda_moe_mlp2_decode(float *x, const dev_mxfp4 &w2, const float *b2, const float *act, const uint32_t *topi,
                          const float *topw, uint32_t k, float *eo, cudaStream_t st) {
    if (dispatch_v3(2, const_cast<float *>(act), x, dev_mxfp4{}, nullptr, nullptr, w2, b2, topi, topw, k, 0.0f, st)) return;
    if (dispatch_v2(2, const_cast<float *>(act), x, dev_mxfp4{}, nullptr, nullptr, w2, b2, topi, topw, k, 0.0f, st))
        return;
    const uint64_t D = w2.rows, per_block = MX_WARPS * MX2_ROWS;
    dim3 grid((unsigned)((D + per_block - 1) / per_block), k);
    if (moe_occ4())
        launch_k(mlp2_decode_kernel<4>, grid, MX_WARPS * 32, 0, st, eo, w2, b2, act, topi);
    else
        launch_k(mlp2_decode_kernel<1>, grid, MX_WARPS * 32, 0, st, eo, w2, b2, act, topi);
    launch_k(combine_decode_kernel, (unsigned)((D + 255) / 256), 256, 0, st, x, eo, topw, k, D);
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
    launch_k(tile_kernel<TW_MXFP4>, grid, 256, 0, st, a);
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
