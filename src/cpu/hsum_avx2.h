/* hsum_avx2.h: the sum of a ymm's eight floats, shared by the AVX2 kernel files. The lanes are added
 * in one fixed order (the two halves, then pairs, then the last two), so every kernel that reduces
 * its accumulators here gives the same bits for the same accumulator. */
#ifndef GPTOSS_CPU_HSUM_AVX2_H
#define GPTOSS_CPU_HSUM_AVX2_H
#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"), always_inline)) static inline float gptoss_hsum8(__m256 a) {
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(v, _mm_movehdup_ps(v)));
}

#endif
#endif
