/* vexp_avx512.h: e^x on sixteen floats for the AVX-512 files (softmax, SwiGLU): x = n ln2 + r with
 * |r| <= ln2/2, e^r by its Taylor polynomial to r^7 (relative error ~1e-7, as expf), times 2^n by
 * vscalefps. x is clamped to [-104, 88.7]: below, the result underflows to 0 as expf's does; above,
 * it stays finite (~3e38) where expf overflows to inf, which no caller can tell apart. Include after
 * defining TGT. */
#ifndef GPTOSS_CPU_VEXP_AVX512_H
#define GPTOSS_CPU_VEXP_AVX512_H

#include <immintrin.h>

TGT static inline __attribute__((always_inline)) __m512 gptoss_exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.7f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

#endif
