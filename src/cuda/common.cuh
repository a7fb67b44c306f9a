/* common.cuh: device-side helpers shared by the CUDA kernel files: weight element types, exact
 * BF16 and MXFP4 (E2M1 codes, E8M0 scales) decoding, warp reductions, error checks. */
#ifndef GPTOSS_CUDA_COMMON_CUH
#define GPTOSS_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

/* Element type of a device dense matrix. F16 checkpoints are widened to F32 at upload. */
enum dev_wtype { DEV_BF16 = 0, DEV_F32 = 1 };

/* A dense row-major [rows x cols] matrix on the device. */
struct dev_mat {
    const void *data;
    int wtype;
    uint64_t rows, cols;
};

/* MXFP4 experts on the device, same layout as in the file. */
struct dev_mxfp4 {
    const uint8_t *blocks; /* [E][rows][cols/32][16] */
    const uint8_t *scales; /* [E][rows][cols/32] */
    uint64_t n_experts, rows, cols;
};

#define GPTOSS_WARP 32

/* Programmatic dependent launch (sm_90): every kernel starts with GRID_DEP(), which lets the next kernel
 * in the stream launch now (launch_dependents) and then waits until the previous kernel has finished
 * and its writes are visible (wait). Work that reads only weights may come before it. Without the
 * launch attribute (or before sm_90) both are no-ops. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define GRID_DEP() asm volatile("griddepcontrol.launch_dependents;\n\tgriddepcontrol.wait;" ::: "memory")
#else
#define GRID_DEP() ((void)0)
#endif

/* true when decode/prefill kernels are launched with the programmatic-serialization attribute:
 * compute capability 9.x (our sm_90a SASS carries GRID_DEP) and GPTOSS_CUDA_PDL not "0" */
bool cuda_pdl_enabled(void);

/* kernel<<<g, b, smem, st>>>(args...), with programmatic dependent launch when cuda_pdl_enabled() */
template <typename... P, typename... A>
static inline void launch_k(void (*kernel)(P...), dim3 g, dim3 b, size_t smem, cudaStream_t st, A... args) {
    if (!cuda_pdl_enabled()) {
        kernel<<<g, b, smem, st>>>(args...);
        return;
    }
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = g;
    cfg.blockDim = b;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = at;
    cfg.numAttrs = 1;
    cudaLaunchKernelEx(&cfg, kernel, ((P)args)...);
}

__device__ __forceinline__ float bf16_bits_to_f32(uint32_t h16) { return __uint_as_float(h16 << 16); }

/* 2^(s-127) exactly, as ldexpf(1, s - 127): s = 0 is the subnormal 2^-127, s = 255 is +inf. */
__device__ __forceinline__ float e8m0_to_f32(uint32_t s) { return __uint_as_float(s ? s << 23 : 0x00400000u); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Values of the 16 E2M1 codes; kernels copy it into shared memory (lanes index it divergently). */
#define GPTOSS_FP4_TABLE {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f}

/* Dot of 32 MXFP4 codes (16 bytes, low nibble = even element) with x[0..31], unscaled. */
/* x: 32 values in registers (a local array the caller fills). Two partial sums shorten the chain. */
__device__ __forceinline__ float fp4_block_dot(uint4 blk, const float (&x)[32], const float *lut) {
    const uint32_t w[4] = {blk.x, blk.y, blk.z, blk.w};
    float acc0 = 0.0f, acc1 = 0.0f;
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const uint32_t b = w[q];
        acc0 += lut[b & 15] * x[8 * q];
        acc1 += lut[(b >> 4) & 15] * x[8 * q + 1];
        acc0 += lut[(b >> 8) & 15] * x[8 * q + 2];
        acc1 += lut[(b >> 12) & 15] * x[8 * q + 3];
        acc0 += lut[(b >> 16) & 15] * x[8 * q + 4];
        acc1 += lut[(b >> 20) & 15] * x[8 * q + 5];
        acc0 += lut[(b >> 24) & 15] * x[8 * q + 6];
        acc1 += lut[(b >> 28) & 15] * x[8 * q + 7];
    }
    return acc0 + acc1;
}

#endif
