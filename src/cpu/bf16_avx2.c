/* bf16_avx2.c: the one-token BF16 matrix x vector product of the avx2 and avx2vnni variants (decode's
 * attention projections, 40% of a gpt-oss-20b token's bytes). The f32 tiles widen each 8 weights with
 * a shuffle (vpmovzxwd) and hold 4 rows x 4 widened vectors, more than AVX2's 16 registers, so they
 * ran at about a read's rate in cache and fell behind it once two threads streamed. Here 16 weights
 * come from one load as two f32 vectors without a shuffle: the even elements are the 32-bit words
 * shifted left by 16, the odd ones the words with their low half cleared. x is split once per call
 * into the matching even / odd order, so a row costs per 16 weights one load, a shift, an and and two
 * FMAs into two accumulators; four adjacent rows (one sequential stream, the next four prefetched
 * linearly while these are read) give eight independent FMA chains. Every row goes through the same
 * sequence, in a group of four or alone, so its bits do not depend on the row range or the threads. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "cpu/hsum_avx2.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx2,fma")))
#define INL __attribute__((always_inline)) inline

enum { BF_MAXC = 8192 };

/* Per 16 elements of x: the 8 even ones, then the 8 odd ones. */
TGT static void split_even_odd(float *dst, const float *x, size_t cols) {
    for (size_t c = 0; c < cols; c += 16) {
        const __m256 a = _mm256_loadu_ps(x + c), b = _mm256_loadu_ps(x + c + 8);
        /* per 128-bit lane a0 a2 b0 b2 | a4 a6 b4 b6; the 64-bit swap of the middle pair orders them */
        const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        _mm256_store_ps(dst + c, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8)));
        _mm256_store_ps(dst + c + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8)));
    }
}

/* R adjacent rows from row pointer p (row_bytes apart) into out[0..R); pf: the next rows' bytes to
 * prefetch, two lines per step (NULL: none). */
TGT static INL void rows_bf16(const int R, float *out, const uint8_t *p, size_t row_bytes, const float *xp,
                              size_t cols, const uint8_t *pf, size_t pf_bytes) {
    const __m256i hi = _mm256_set1_epi32((int)0xffff0000u);
    __m256 ae[4], ao[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) ae[i] = ao[i] = _mm256_setzero_ps();
    for (size_t c = 0, k = 0; c < cols; c += 16, k += 128) {
        if (pf && k < pf_bytes) {
            _mm_prefetch((const char *)pf + k, _MM_HINT_T0);
            _mm_prefetch((const char *)pf + k + 64, _MM_HINT_T0);
        }
        const __m256 xe = _mm256_load_ps(xp + c), xo = _mm256_load_ps(xp + c + 8);
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + (size_t)i * row_bytes + 2 * c));
            ae[i] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 16)), xe, ae[i]);
            ao[i] = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_and_si256(v, hi)), xo, ao[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) out[i] = gptoss_hsum8(_mm256_add_ps(ae[i], ao[i]));
}

TGT int gptoss_bf16_matvec_avx2(float *out, const gptoss_mat *w, const float *bias, const float *x, uint64_t r0,
                            uint64_t r1) {
    const size_t cols = (size_t)w->cols;
    if (w->dtype != GPTOSS_DTYPE_BF16 || cols == 0 || cols % 16 || cols > BF_MAXC || r0 >= r1) return 0;
    float xp[BF_MAXC] __attribute__((aligned(32)));
    split_even_odd(xp, x, cols);
    const size_t rb = cols * 2;
    const uint8_t *base = w->data;
    uint64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const uint64_t rn = r + 4 < r1 ? r + 4 : r1; /* the next group's first row, if any */
        const size_t n_next = (size_t)((r1 - rn) < 4 ? r1 - rn : 4);
        rows_bf16(4, out + r, base + r * rb, rb, xp, cols, n_next ? base + rn * rb : NULL, n_next * rb);
    }
    for (; r < r1; r++) rows_bf16(1, out + r, base + r * rb, rb, xp, cols, NULL, 0);
    gptoss_add_bias(out, 0, bias, 1, r0, r1);
    return 1;
}
#endif
