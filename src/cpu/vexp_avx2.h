/* vexp_avx2.h: e^x on eight floats for the AVX2 files (softmax, SwiGLU): x = n ln2 + r with |r| <=
 * ln2/2, e^r by its Taylor polynomial to r^7 (relative error ~1e-7, as expf), times 2^n built in the
 * exponent bits (AVX2 has no vscalefps). x is clamped to [-87, 88] so that 2^n stays a normal float.
 * Below, the result is e^-87 (~1.6e-38) where expf's is smaller or 0: the callers only ever add it to
 * 1 or more (SwiGLU's 1 + e; a softmax's largest term, e^0), where it vanishes as expf's does. Above,
 * it stays finite (~1.7e38) where expf overflows, and SwiGLU's g / (1 + e) is ~0 either way (a
 * softmax subtracts its maximum first, so never gets there). Include after defining TGT. */
#ifndef GPTOSS_CPU_VEXP_AVX2_H
#define GPTOSS_CPU_VEXP_AVX2_H

#include <immintrin.h>

TGT static inline __attribute__((always_inline)) __m256 gptoss_exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

#endif
