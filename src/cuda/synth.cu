/* synth.cu: seeded random tensor fills for `gptoss bench --synth`, run on the device so that a
 * full-size model never exists on the host. Each element is a pure function of (seed, index)
 * (splitmix64), normals by Box-Muller; the scales are chosen by the caller (backend.cu) like
 * src/model/synth.c's. */
#include "cuda/kernels.cuh"

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__device__ __forceinline__ float normal_at(uint64_t seed, uint64_t i) {
    const uint64_t r = mix64(seed ^ mix64(i));
    const float u1 = ((uint32_t)(r >> 40) + 1.0f) * (1.0f / 16777217.0f); /* (0, 1] */
    const float u2 = (uint32_t)(r & 0xffffffu) * (1.0f / 16777216.0f);
    const float n = sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
    return fminf(fmaxf(n, -4.0f), 4.0f);
}

__device__ __forceinline__ uint16_t f32_to_bf16_rne(float f) {
    uint32_t b = __float_as_uint(f);
    b += 0x7fffu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}

#define FILL_GRID(n) (unsigned)(((n) + 255) / 256 < 65536 * 8 ? ((n) + 255) / 256 : 65536 * 8), 256

__global__ void fill_normal_bf16_kernel(uint16_t *dst, uint64_t n, float std, uint64_t seed) {
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
        dst[i] = f32_to_bf16_rne(normal_at(seed, i) * std);
}
__global__ void fill_normal_f32_kernel(float *dst, uint64_t n, float mean, float std, uint64_t seed) {
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
        dst[i] = mean + normal_at(seed, i) * std;
}
__global__ void fill_uniform_f32_kernel(float *dst, uint64_t n, float lo, float hi, uint64_t seed) {
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
        dst[i] = lo + (hi - lo) * (float)(mix64(seed ^ mix64(i)) >> 40) * (1.0f / 16777216.0f);
}
__global__ void fill_bytes_kernel(uint64_t *dst, uint64_t n_words, uint64_t seed) {
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n_words; i += (uint64_t)gridDim.x * blockDim.x)
        dst[i] = mix64(seed ^ mix64(i));
}
__global__ void fill_e8m0_kernel(uint8_t *dst, uint64_t n, int scale0, uint64_t seed) {
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x)
        dst[i] = (uint8_t)(scale0 - 1 + (int)(((mix64(seed ^ mix64(i)) & 0xff) * 3) >> 8));
}

void cuda_fill_normal_bf16(uint16_t *dst, uint64_t n, float std, uint64_t seed, cudaStream_t st) {
    if (n) fill_normal_bf16_kernel<<<FILL_GRID(n), 0, st>>>(dst, n, std, seed);
}
void cuda_fill_normal_f32(float *dst, uint64_t n, float mean, float std, uint64_t seed, cudaStream_t st) {
    if (n) fill_normal_f32_kernel<<<FILL_GRID(n), 0, st>>>(dst, n, mean, std, seed);
}
void cuda_fill_uniform_f32(float *dst, uint64_t n, float lo, float hi, uint64_t seed, cudaStream_t st) {
    if (n) fill_uniform_f32_kernel<<<FILL_GRID(n), 0, st>>>(dst, n, lo, hi, seed);
}
/* n must be a multiple of 8 (MXFP4 blocks are 16 bytes) */
void cuda_fill_bytes(uint8_t *dst, uint64_t n, uint64_t seed, cudaStream_t st) {
    if (n) fill_bytes_kernel<<<FILL_GRID(n / 8), 0, st>>>(reinterpret_cast<uint64_t *>(dst), n / 8, seed);
}
void cuda_fill_e8m0(uint8_t *dst, uint64_t n, int scale0, uint64_t seed, cudaStream_t st) {
    if (n) fill_e8m0_kernel<<<FILL_GRID(n), 0, st>>>(dst, n, scale0, seed);
}
