/* swiglu_avx512.c: the clamped SwiGLU of mlp1's output (gptoss_swiglu_f32's formula) for whole
 * 32-value blocks, written in MXFP4 order (the even outputs, then the odd ones) as mlp2's fast
 * kernels read them. The (gate, linear) pairs are de-interleaved with two-source permutes. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "cpu/simd.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#include "cpu/vexp_avx512.h"

TGT static inline __attribute__((always_inline)) __m512 act(__m512 g, __m512 lin, __m512 limit) {
    g = _mm512_min_ps(g, limit);
    lin = _mm512_max_ps(_mm512_min_ps(lin, limit), _mm512_sub_ps(_mm512_setzero_ps(), limit));
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 e = gptoss_exp512(_mm512_mul_ps(g, _mm512_set1_ps(-1.702f)));
    return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_add_ps(lin, one));
}

TGT void gptoss_swiglu_mx_avx512(float *a, const float *u, size_t n_blocks, float limit) {
    /* from 32 (gate, linear) floats: gates of the even outputs (lanes 0..7), of the odd ones (8..15) */
    const __m512i ig = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 2, 6, 10, 14, 18, 22, 26, 30);
    const __m512i il = _mm512_add_epi32(ig, _mm512_set1_epi32(1));
    const __m512 lim = _mm512_set1_ps(limit);
    for (size_t b = 0; b < n_blocks; b++, a += 32, u += 64) {
        const __m512 z0 = _mm512_loadu_ps(u), z1 = _mm512_loadu_ps(u + 16), z2 = _mm512_loadu_ps(u + 32),
                     z3 = _mm512_loadu_ps(u + 48);
        const __m512 ga = _mm512_permutex2var_ps(z0, ig, z1), gb = _mm512_permutex2var_ps(z2, ig, z3);
        const __m512 la = _mm512_permutex2var_ps(z0, il, z1), lb = _mm512_permutex2var_ps(z2, il, z3);
        const __m512 g_even = _mm512_shuffle_f32x4(ga, gb, _MM_SHUFFLE(1, 0, 1, 0)),
                     g_odd = _mm512_shuffle_f32x4(ga, gb, _MM_SHUFFLE(3, 2, 3, 2));
        const __m512 l_even = _mm512_shuffle_f32x4(la, lb, _MM_SHUFFLE(1, 0, 1, 0)),
                     l_odd = _mm512_shuffle_f32x4(la, lb, _MM_SHUFFLE(3, 2, 3, 2));
        _mm512_storeu_ps(a, act(g_even, l_even, lim));
        _mm512_storeu_ps(a + 16, act(g_odd, l_odd, lim));
    }
}
#endif
