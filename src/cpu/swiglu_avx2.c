/* swiglu_avx2.c: the clamped SwiGLU of mlp1's output (gptoss_swiglu_f32's formula) with AVX2 + FMA,
 * for whole 32-value blocks written in MXFP4 order (the even outputs, then the odd ones) as mlp2's
 * kernels read them; the swiglu_mx of the avx2 and avx2vnni variants. exp from vexp_avx2.h. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "cpu/simd.h"

#define TGT __attribute__((target("avx2,fma,f16c")))
#include "cpu/vexp_avx2.h"

TGT static inline __attribute__((always_inline)) __m256 act(__m256 g, __m256 lin, __m256 limit) {
    g = _mm256_min_ps(g, limit);
    lin = _mm256_max_ps(_mm256_min_ps(lin, limit), _mm256_sub_ps(_mm256_setzero_ps(), limit));
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = gptoss_exp256(_mm256_mul_ps(g, _mm256_set1_ps(-1.702f)));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_add_ps(lin, one));
}

/* u[4j..4j+3] and u[16+4j..16+4j+3] as the two 128-bit halves of one vector */
TGT static inline __attribute__((always_inline)) __m256 halves(const float *u, int j) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(u + 4 * j)), _mm_loadu_ps(u + 16 + 4 * j), 1);
}

TGT void gptoss_swiglu_mx_avx2(float *a, const float *u, size_t n_blocks, float limit) {
    const __m256 lim = _mm256_set1_ps(limit);
    for (size_t b = 0; b < 2 * n_blocks; b++, u += 32) {
        /* 32 floats: the (gate, linear) pairs of 16 outputs o0..o15. Four floats (two outputs) per
         * 128-bit half, loaded so that half 0 of x_j holds o(2j), o(2j+1) and half 1 o(8+2j),
         * o(9+2j); a 4 x 4 transpose within the halves then leaves the even outputs' gates in order
         * (o0, o2, .., o14), and likewise their linears and the odd outputs' gates and linears. */
        const __m256 x0 = halves(u, 0), x1 = halves(u, 1), x2 = halves(u, 2), x3 = halves(u, 3);
        const __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
        const __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
        const __m256 g_even = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 l_even = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 g_odd = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 l_odd = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
        /* half h (0, 1) of a block: its even outputs at 8h, its odd ones at 16 + 8h */
        float *ab = a + (b / 2) * 32 + (b % 2) * 8;
        _mm256_storeu_ps(ab, act(g_even, l_even, lim));
        _mm256_storeu_ps(ab + 16, act(g_odd, l_odd, lim));
    }
}
#endif
