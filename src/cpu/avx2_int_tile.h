/* avx2_int_tile.h: the row x token tiles and entry points of simd_avx2_int.c, included there once
 * per dot instruction: AIT_VNNI 1 (AVX-VNNI vpdpbusd), 0 (vpmaddubsw + vpmaddwd). The includer
 * defines AIT_TGT (the target attribute), AIT_VNNI, AIT_NAME(x) (a suffix for every function here),
 * and before that aq, isrc, quantize, wscales and mx_bytes. No include guard: it is a template. */

/* Integer dot of one MXFP4 block pair (u: lo, hi nibbles) with the planes at h, l: lane j, 8
 * elements of block 2p (j < 4) or 2p + 1, = (dot(u, h) << 8) + dot(u, l). */
AIT_TGT static INL __m256i AIT_NAME(mx_dot)(__m256i ulo, __m256i uhi, const int8_t *h, const int8_t *l) {
    const __m256i hl = _mm256_load_si256((const __m256i *)h), hh = _mm256_load_si256((const __m256i *)(h + 32));
    const __m256i ll = _mm256_load_si256((const __m256i *)l), lh = _mm256_load_si256((const __m256i *)(l + 32));
#if AIT_VNNI
    __m256i d = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), ulo, hl);
    d = _mm256_slli_epi32(_mm256_dpbusd_avx_epi32(d, uhi, hh), 8);
    return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(d, ulo, ll), uhi, lh);
#else
    /* int16 sums of four products, |.| <= 4 * 24 * 128 < 2^15 */
    const __m256i h16 = _mm256_add_epi16(_mm256_maddubs_epi16(ulo, hl), _mm256_maddubs_epi16(uhi, hh));
    const __m256i l16 = _mm256_add_epi16(_mm256_maddubs_epi16(ulo, ll), _mm256_maddubs_epi16(uhi, lh));
    return _mm256_add_epi32(_mm256_madd_epi16(h16, _mm256_set1_epi16(256)), _mm256_madd_epi16(l16, _mm256_set1_epi16(1)));
#endif
}

/* Integer dot of one Q8_0 block (u = |w|, the planes given w's sign) with the planes at h, l:
 * (dot(u, h') << 7) + dot(u, l'). */
AIT_TGT static INL __m256i AIT_NAME(q8_dot)(__m256i u, __m256i wsign, const int8_t *h, const int8_t *l) {
    const __m256i hs = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)h), wsign);
    const __m256i ls = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)l), wsign);
#if AIT_VNNI
    const __m256i d = _mm256_slli_epi32(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, hs), 7);
    return _mm256_dpbusd_avx_epi32(d, u, ls);
#else
    /* int16 pairs, |.| <= 2 * 128 * 127 < 2^15 */
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, hs), _mm256_set1_epi16(128)),
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, ls), _mm256_set1_epi16(1)));
#endif
}

/* One row's blocks [b0, b0 + n), n <= 8, into acc[0..NT): the integer dots of its blocks (MXFP4 per
 * block pair, Q8_0 per block), summed per block by a vphaddd tree into one vector (lane = block,
 * MXFP4 in lane() order), less MXFP4's offset, converted and multiplied by the weight scales times
 * the activation scales: one convert and one FMA per 8 blocks. Block totals are exact integers below
 * 2^25 (32 * 24 * 32639 for MXFP4). Called with n = 8 (a constant) for every full group. */
AIT_TGT static INL void AIT_NAME(group)(const int fmt, const int NT, const uint8_t *rw, const uint8_t *rs, size_t b0,
                                        const size_t n, const aq *q, __m256 *acc) {
    const size_t bb = fmt == AF_MX ? 16 : GPTOSS_Q8_0_BYTES; /* bytes per block */
    for (size_t k = 0; k < 8 * bb; k += 64) _mm_prefetch((const char *)(rw + b0 * bb + k + AI_PF), _MM_HINT_T0);
    const __m256 ws = wscales(fmt, rw, rs, b0, n);
    __m256i tot[AI_NT];
    if (fmt == AF_MX) {
        __m256i h[AI_NT][2];
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) {
            __m256i d[AI_NT][2];
#pragma GCC unroll 2
            for (int m = 0; m < 2; m++) {
                const size_t j = (size_t)(4 * k + 2 * m), p = (b0 + j) >> 1;
                if (j < n) {
                    __m256i ul, uh;
                    mx_bytes(rw, p, j + 1 < n, &ul, &uh);
#pragma GCC unroll 3
                    for (int t = 0; t < NT; t++) d[t][m] = AIT_NAME(mx_dot)(ul, uh, q->pl[0][t] + p * 64, q->pl[1][t] + p * 64);
                } else
#pragma GCC unroll 3
                    for (int t = 0; t < NT; t++) d[t][m] = _mm256_setzero_si256();
            }
#pragma GCC unroll 3
            for (int t = 0; t < NT; t++) h[t][k] = _mm256_hadd_epi32(d[t][0], d[t][1]);
        }
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++)
            tot[t] = _mm256_sub_epi32(_mm256_hadd_epi32(h[t][0], h[t][1]), _mm256_loadu_si256((const __m256i *)&q->o[t][b0]));
    } else {
        __m256i g[AI_NT][2];
#pragma GCC unroll 2
        for (int hb = 0; hb < 2; hb++) {
            __m256i h[AI_NT][2];
#pragma GCC unroll 2
            for (int k = 0; k < 2; k++) {
                __m256i d[AI_NT][2];
#pragma GCC unroll 2
                for (int m = 0; m < 2; m++) {
                    const size_t j = (size_t)(4 * hb + 2 * k + m), b = b0 + j;
                    if (j < n) {
                        const __m256i w = _mm256_loadu_si256((const __m256i *)(rw + b * GPTOSS_Q8_0_BYTES + 2));
                        const __m256i u = _mm256_abs_epi8(w); /* -128 -> 0x80: 128 as unsigned */
#pragma GCC unroll 3
                        for (int t = 0; t < NT; t++) d[t][m] = AIT_NAME(q8_dot)(u, w, q->pl[0][t] + b * 32, q->pl[1][t] + b * 32);
                    } else
#pragma GCC unroll 3
                        for (int t = 0; t < NT; t++) d[t][m] = _mm256_setzero_si256();
                }
#pragma GCC unroll 3
                for (int t = 0; t < NT; t++) h[t][k] = _mm256_hadd_epi32(d[t][0], d[t][1]);
            }
#pragma GCC unroll 3
            for (int t = 0; t < NT; t++) g[t][hb] = _mm256_hadd_epi32(h[t][0], h[t][1]);
        }
        /* g[.][0]: blocks 0-3 (128-bit halves: their first and last 16 elements), g[.][1]: 4-7 */
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++)
            tot[t] = _mm256_add_epi32(_mm256_permute2x128_si256(g[t][0], g[t][1], 0x20),
                                      _mm256_permute2x128_si256(g[t][0], g[t][1], 0x31));
    }
#pragma GCC unroll 3
    for (int t = 0; t < NT; t++)
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot[t]), _mm256_mul_ps(ws, _mm256_loadu_ps(&q->c[t][b0])), acc[t]);
}

/* R rows from r x NT tokens, 8 blocks at a time (see group). */
AIT_TGT static INL void AIT_NAME(tile)(const int fmt, const int R, const int NT, float *out, size_t os, const isrc *s,
                                       uint64_t r, size_t nb, const aq *q) {
    __m256 acc[4][AI_NT];
    const uint64_t st = s->rstep > 1 ? s->rstep : 1;
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        rw[i] = s->w + (r + (uint64_t)i * st) * s->row_bytes;
        rs[i] = s->sc ? s->sc + (r + (uint64_t)i * st) * s->sc_row : NULL;
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();
    }
    size_t b0 = 0;
    for (; b0 + 8 <= nb; b0 += 8)
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) AIT_NAME(group)(fmt, NT, rw[i], rs[i], b0, 8, q, acc[i]);
    if (b0 < nb) /* the last, partial group: one copy for all rows (compile time) */
#pragma GCC unroll 1
        for (int i = 0; i < R; i++) AIT_NAME(group)(fmt, NT, rw[i], rs[i], b0, nb - b0, q, acc[i]);
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) {
            __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[i][t]), _mm256_extractf128_ps(acc[i][t], 1));
            v = _mm_add_ps(v, _mm_movehl_ps(v, v));
            v = _mm_add_ss(v, _mm_movehdup_ps(v));
            out[(size_t)t * os + r + (uint64_t)i * st] = _mm_cvtss_f32(v);
        }
}

/* Rows [r0, r1): one token in tiles of 4 rows a quarter of the range apart (four long sequential
 * streams), 2-3 tokens in tiles of 2 rows half the range apart (registers), the rest one by one.
 * Only these six shapes are instantiated (compile time, above all under the sanitizers). */
AIT_TGT static INL void AIT_NAME(run)(const int fmt, float *out, size_t os, const isrc *s, size_t nb, const aq *q,
                                      size_t n_tok, uint64_t r0, uint64_t r1) {
    const int R = n_tok == 1 ? 4 : 2;
    const uint64_t qr = (r1 - r0) / (uint64_t)R;
    isrc far = *s;
    far.rstep = qr;
    uint64_t r = r0;
    for (; r < r0 + qr; r++) {
        if (n_tok == 1) AIT_NAME(tile)(fmt, 4, 1, out, os, &far, r, nb, q);
        else if (n_tok == 2) AIT_NAME(tile)(fmt, 2, 2, out, os, &far, r, nb, q);
        else AIT_NAME(tile)(fmt, 2, 3, out, os, &far, r, nb, q);
    }
    for (r = r0 + qr * (uint64_t)R; r < r1; r++) {
        if (n_tok == 1) AIT_NAME(tile)(fmt, 1, 1, out, os, s, r, nb, q);
        else if (n_tok == 2) AIT_NAME(tile)(fmt, 1, 2, out, os, s, r, nb, q);
        else AIT_NAME(tile)(fmt, 1, 3, out, os, s, r, nb, q);
    }
}

AIT_TGT static void AIT_NAME(dense)(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x,
                                    size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    aq q;
    if (w->dtype != GPTOSS_DTYPE_Q8_0 || n_tok > AI_NT || cols > AI_MAXC || cols % 32 || r0 >= r1 ||
        !quantize(&q, AF_Q8, x, xs, n_tok, nb)) {
        gptoss_cpu_avx2_f32.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
        return;
    }
    const isrc s = {.w = w->data, .row_bytes = nb * GPTOSS_Q8_0_BYTES};
    AIT_NAME(run)(AF_Q8, out, os, &s, nb, &q, n_tok, r0, r1);
    if (bias)
        for (uint64_t r = r0; r < r1; r++)
            for (size_t t = 0; t < n_tok; t++) out[t * os + r] += bias[r];
}

AIT_TGT static void AIT_NAME(mxfp4)(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                                    const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    aq q;
    if (n_tok > AI_NT || nb * 32 > AI_MAXC || r0 >= r1 || !quantize(&q, AF_MX, x, xs, n_tok, nb)) {
        gptoss_cpu_avx2_f32.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    const isrc s = {.w = w->blocks + e * w->rows * nb * 16, .sc = w->scales + e * w->rows * nb, .row_bytes = nb * 16,
                    .sc_row = nb};
    AIT_NAME(run)(AF_MX, out, os, &s, nb, &q, n_tok, r0, r1);
    if (bias)
        for (uint64_t r = r0; r < r1; r++)
            for (size_t t = 0; t < n_tok; t++) out[t * os + r] += bias[r];
}
