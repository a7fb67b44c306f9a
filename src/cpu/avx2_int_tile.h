/* avx2_int_tile.h: the row x token tiles and entry points of simd_avx2_int.c, included there once
 * per dot instruction: AIT_VNNI 1 (AVX-VNNI vpdpbusd), 0 (vpmaddubsw + vpmaddwd). The includer
 * defines AIT_TGT (the target attribute), AIT_VNNI, AIT_NAME(x) (a suffix for every function here),
 * and before that aq, isrc, quantize, wscales and mx_bytes. No include guard: it is a template. */

/* MXFP4: one row's group of 8 blocks (codes at w, 128 bytes; e8m0 scales at e, 8) against NT tokens'
 * planes of group g, into acc[0..NT). The codes are interleaved by dwords (see the planes in simd_avx2_int.c), so
 * every dword lane of a product holds partial sums of one block: the four vectors of a family (A or
 * B: blocks 0-3 or 4-7, lanes [0 2 0 2 | 1 3 1 3] + 4 for B) add up lane by lane, and one shuffle
 * pair merges the two families into block totals in lane() order, with no horizontal adds. u = 2 v
 * + 12 in [0, 24]; vpmaddubsw's int16 sums of a family's four products stay within 4 * 2 * 24 * 128
 * < 2^15. Block totals: |.| <= 32 * 24 * 32639 < 2^25, exact in int32 and in the convert. */
AIT_TGT static INL void AIT_NAME(mx_group)(const int NT, __m256i y0, __m256i y1, __m256i y2, __m256i y3, long long e8,
                                           size_t g, const aq *q, __m256 *acc) {
    const __m256i lut = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0, 12, 13, 14, 15,
                                         16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    const __m256i m4 = _mm256_set1_epi8(15);
    /* 2^(e-127) in lane() order: e << 23; e = 0 is the subnormal 2^-127, 0x00400000, the larger */
    const __m256i eb = _mm256_shuffle_epi8(_mm256_set1_epi64x(e8),
                                           _mm256_setr_epi8(0, -1, -1, -1, 2, -1, -1, -1, 4, -1, -1, -1, 6, -1, -1, -1, 1, -1,
                                                            -1, -1, 3, -1, -1, -1, 5, -1, -1, -1, 7, -1, -1, -1));
    const __m256 ws = _mm256_castsi256_ps(_mm256_max_epi32(_mm256_slli_epi32(eb, 23), _mm256_set1_epi32(0x00400000)));
    __m256i fam[AI_NT][2];
#pragma GCC unroll 2
    for (int f = 0; f < 2; f++) { /* one family at a time: 4 decoded vectors live, not 8 */
        const __m256i a = f ? y2 : y0, b = f ? y3 : y1;
        const __m256i v0 = _mm256_unpacklo_epi32(a, b), v1 = _mm256_unpackhi_epi32(a, b);
        const __m256i u[4] = {_mm256_shuffle_epi8(lut, _mm256_and_si256(v0, m4)),
                              _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4)),
                              _mm256_shuffle_epi8(lut, _mm256_and_si256(v1, m4)),
                              _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4))};
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) {
            const int8_t *h = q->pl[0][t] + g * 256 + f * 128, *l = q->pl[1][t] + g * 256 + f * 128;
#define AIT_LD(p, k) _mm256_load_si256((const __m256i *)((p) + (k) * 32))
#if AIT_VNNI
            __m256i hs = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u[0], AIT_LD(h, 0));
            hs = _mm256_dpbusd_avx_epi32(hs, u[1], AIT_LD(h, 1));
            hs = _mm256_dpbusd_avx_epi32(hs, u[2], AIT_LD(h, 2));
            hs = _mm256_slli_epi32(_mm256_dpbusd_avx_epi32(hs, u[3], AIT_LD(h, 3)), 8);
            hs = _mm256_dpbusd_avx_epi32(hs, u[0], AIT_LD(l, 0));
            hs = _mm256_dpbusd_avx_epi32(hs, u[1], AIT_LD(l, 1));
            hs = _mm256_dpbusd_avx_epi32(hs, u[2], AIT_LD(l, 2));
            fam[t][f] = _mm256_dpbusd_avx_epi32(hs, u[3], AIT_LD(l, 3));
#else
            const __m256i h16 = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(u[0], AIT_LD(h, 0)), _mm256_maddubs_epi16(u[1], AIT_LD(h, 1))),
                                                 _mm256_add_epi16(_mm256_maddubs_epi16(u[2], AIT_LD(h, 2)), _mm256_maddubs_epi16(u[3], AIT_LD(h, 3))));
            const __m256i l16 = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(u[0], AIT_LD(l, 0)), _mm256_maddubs_epi16(u[1], AIT_LD(l, 1))),
                                                 _mm256_add_epi16(_mm256_maddubs_epi16(u[2], AIT_LD(l, 2)), _mm256_maddubs_epi16(u[3], AIT_LD(l, 3))));
            fam[t][f] = _mm256_add_epi32(_mm256_madd_epi16(h16, _mm256_set1_epi16(256)), _mm256_madd_epi16(l16, _mm256_set1_epi16(1)));
#endif
#undef AIT_LD
        }
    }
#pragma GCC unroll 3
    for (int t = 0; t < NT; t++) {
        const __m256 fa = _mm256_castsi256_ps(fam[t][0]), fb = _mm256_castsi256_ps(fam[t][1]);
        const __m256i tot = _mm256_sub_epi32(_mm256_add_epi32(_mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0x44)),
                                                              _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0xee))),
                                             _mm256_loadu_si256((const __m256i *)&q->o[t][g * 8]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), _mm256_mul_ps(ws, _mm256_loadu_ps(&q->c[t][g * 8])), acc[t]);
    }
}

/* The code vectors and scales of n <= 8 blocks of one MXFP4 row starting at p (HF: codes at p, scales
 * at e; ggml: 17-byte blocks at p, e unused). Past n: zero codes (u = 12 against zero activations,
 * offsets and activation scales) and scales of 1.0 (never inf or NaN, and no subnormal operand in
 * the multiply, which costs an assist). HF rows with tail_safe read their last group whole: the
 * bytes past n lie in the same tensor and meet zero activations. */
AIT_TGT static INL void AIT_NAME(mx_load)(const int gg, const uint8_t *p, const uint8_t *e, size_t n, int tail_safe,
                                          __m256i y[4], long long *e8) {
    unsigned long long s8 = 0x7f7f7f7f7f7f7f7full;
    if (gg) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const size_t j = 2 * (size_t)k;
            const __m128i lo = j < n ? _mm_loadu_si128((const __m128i *)(p + 17 * j + 1)) : _mm_setzero_si128();
            const __m128i hi = j + 1 < n ? _mm_loadu_si128((const __m128i *)(p + 17 * j + 18)) : _mm_setzero_si128();
            y[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        }
#pragma GCC unroll 8
        for (size_t b = 0; b < 8; b++)
            if (b < n) s8 = (s8 & ~(0xffull << (8 * b))) | (unsigned long long)p[17 * b] << (8 * b);
    } else if (n == 8 || tail_safe) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) y[k] = _mm256_loadu_si256((const __m256i *)(p + 32 * k));
        memcpy(&s8, e, 8);
        if (n < 8) {
            const unsigned long long keep = (1ull << (8 * n)) - 1;
            s8 = (s8 & keep) | (0x7f7f7f7f7f7f7f7full & ~keep);
        }
    } else { /* the last rows' last group: masked loads */
        const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), nd = _mm256_set1_epi32((int)(4 * n));
        for (int k = 0; k < 4; k++)
            y[k] = _mm256_maskload_epi32((const int *)(p + 32 * k),
                                         _mm256_cmpgt_epi32(nd, _mm256_add_epi32(idx, _mm256_set1_epi32(8 * k))));
        for (size_t b = 0; b < n; b++) s8 = (s8 & ~(0xffull << (8 * b))) | (unsigned long long)e[b] << (8 * b);
    }
    *e8 = (long long)s8;
}

/* A row's last, partial group (n < 8 blocks) into acc[0..NT): out of line, so that the constants
 * of its loads do not crowd the full groups' registers (inline, the loop spilled). */
AIT_TGT static __attribute__((noinline)) void AIT_NAME(mx_tail)(const int gg, const int NT, const uint8_t *p,
                                                                const uint8_t *e, size_t n, int tail_safe, size_t g,
                                                                const aq *q, __m256 *acc) {
    __m256i y[4];
    long long e8;
    AIT_NAME(mx_load)(gg, p, e, n, tail_safe, y, &e8);
    if (NT == 1) AIT_NAME(mx_group)(1, y[0], y[1], y[2], y[3], e8, g, q, acc);
    else if (NT == 2) AIT_NAME(mx_group)(2, y[0], y[1], y[2], y[3], e8, g, q, acc);
    else AIT_NAME(mx_group)(3, y[0], y[1], y[2], y[3], e8, g, q, acc);
}

/* Row r of an MXFP4 matrix (HF: codes at rw, scales at rs; ggml: blocks at rw) x NT tokens, group by
 * group; tail_safe as in mx_load. */
AIT_TGT static INL void AIT_NAME(mx_row)(const int gg, const int NT, float *out, size_t os, uint64_t r, const uint8_t *rw,
                                         const uint8_t *rs, size_t nb, int tail_safe, const aq *q) {
    const size_t bb = gg ? 17 : 16; /* code bytes per block */
    __m256 acc[AI_NT];
#pragma GCC unroll 3
    for (int t = 0; t < NT; t++) acc[t] = _mm256_setzero_ps();
    __m256i y[4];
    long long e8;
    size_t b0 = 0;
    for (; b0 + 8 <= nb; b0 += 8) {
        _mm_prefetch((const char *)(rw + b0 * bb + AI_PF), _MM_HINT_T0);
        _mm_prefetch((const char *)(rw + b0 * bb + AI_PF + 64), _MM_HINT_T0);
        if (gg) _mm_prefetch((const char *)(rw + b0 * bb + AI_PF + 128), _MM_HINT_T0);
        AIT_NAME(mx_load)(gg, rw + b0 * bb, gg ? NULL : rs + b0, 8, 1, y, &e8);
        AIT_NAME(mx_group)(NT, y[0], y[1], y[2], y[3], e8, b0 / 8, q, acc);
    }
    if (b0 < nb) {
        __m256 a[AI_NT]; /* acc itself stays unaddressed, in registers */
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) a[t] = acc[t];
        AIT_NAME(mx_tail)(gg, NT, rw + b0 * bb, gg ? NULL : rs + b0, nb - b0, tail_safe, b0 / 8, q, a);
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) acc[t] = a[t];
    }
#pragma GCC unroll 3
    for (int t = 0; t < NT; t++) {
        out[(size_t)t * os + r] = gptoss_hsum8(acc[t]);
    }
}

/* Rows [r0, r1) of MXFP4 expert e (either layout) x n_tok tokens, row by row: one sequential stream
 * (in a 512 MiB matvec, 4-row tiles a quarter of the range apart, four streams, ran at 0.46 of the
 * read rate on one thread, one stream at 0.64-0.73). */
AIT_TGT static INL void AIT_NAME(mx_rows)(const int gg, float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, size_t nb,
                                          const aq *q, size_t n_tok, uint64_t r0, uint64_t r1) {
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *rw = gg ? gptoss_mxfp4_ggml_row(w, e, r) : w->blocks + (e * w->rows + r) * nb * 16;
        const uint8_t *rs = gg ? NULL : w->scales + (e * w->rows + r) * nb;
        const int safe = (w->rows - 1 - r) * nb >= 8 - nb % 8;
        if (n_tok == 1) AIT_NAME(mx_row)(gg, 1, out, os, r, rw, rs, nb, safe, q);
        else if (n_tok == 2) AIT_NAME(mx_row)(gg, 2, out, os, r, rw, rs, nb, safe, q);
        else AIT_NAME(mx_row)(gg, 3, out, os, r, rw, rs, nb, safe, q);
    }
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

/* Q8_0: one row's blocks [b0, b0 + n), n <= 8, into acc[0..NT): the integer dots of its blocks,
 * summed per block by a vphaddd tree into one vector (lane = block), converted and multiplied by the
 * weight scales times the activation scales: one convert and one FMA per 8 blocks. Block totals are
 * exact integers below 2^25. Called with n = 8 (a constant) for every full group. */
AIT_TGT static INL void AIT_NAME(group)(const int NT, const uint8_t *rw, size_t b0, const size_t n, const aq *q,
                                        __m256 *acc) {
    for (size_t k = 0; k < 8 * GPTOSS_Q8_0_BYTES; k += 64)
        _mm_prefetch((const char *)(rw + b0 * GPTOSS_Q8_0_BYTES + k + AI_PF), _MM_HINT_T0);
    const __m256 ws = wscales(rw, b0, n);
    __m256i tot[AI_NT];
    {
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

/* Q8_0: R rows from r x NT tokens, 8 blocks at a time (see group). */
AIT_TGT static INL void AIT_NAME(tile)(const int R, const int NT, float *out, size_t os, const isrc *s, uint64_t r,
                                       size_t nb, const aq *q) {
    __m256 acc[4][AI_NT];
    const uint64_t st = s->rstep > 1 ? s->rstep : 1;
    const uint8_t *rw[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        rw[i] = s->w + (r + (uint64_t)i * st) * s->row_bytes;
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) acc[i][t] = _mm256_setzero_ps();
    }
    size_t b0 = 0;
    for (; b0 + 8 <= nb; b0 += 8)
#pragma GCC unroll 4
        for (int i = 0; i < R; i++) AIT_NAME(group)(NT, rw[i], b0, 8, q, acc[i]);
    if (b0 < nb) /* the last, partial group: one copy for all rows (compile time) */
#pragma GCC unroll 1
        for (int i = 0; i < R; i++) AIT_NAME(group)(NT, rw[i], b0, nb - b0, q, acc[i]);
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 3
        for (int t = 0; t < NT; t++) {
            out[(size_t)t * os + r + (uint64_t)i * st] = gptoss_hsum8(acc[i][t]);
        }
}

/* Q8_0 rows [r0, r1): one token in tiles of 4 rows a quarter of the range apart (four long
 * sequential streams), 2-3 tokens in tiles of 2 rows half the range apart (registers), the rest
 * one by one. Only these six shapes are instantiated (compile time, above all under the
 * sanitizers). */
AIT_TGT static INL void AIT_NAME(run)(float *out, size_t os, const isrc *s, size_t nb, const aq *q, size_t n_tok,
                                      uint64_t r0, uint64_t r1) {
    const int R = n_tok == 1 ? 4 : 2;
    const uint64_t qr = (r1 - r0) / (uint64_t)R;
    isrc far = *s;
    far.rstep = qr;
    uint64_t r = r0;
    for (; r < r0 + qr; r++) {
        if (n_tok == 1) AIT_NAME(tile)(4, 1, out, os, &far, r, nb, q);
        else if (n_tok == 2) AIT_NAME(tile)(2, 2, out, os, &far, r, nb, q);
        else AIT_NAME(tile)(2, 3, out, os, &far, r, nb, q);
    }
    for (r = r0 + qr * (uint64_t)R; r < r1; r++) {
        if (n_tok == 1) AIT_NAME(tile)(1, 1, out, os, s, r, nb, q);
        else if (n_tok == 2) AIT_NAME(tile)(1, 2, out, os, s, r, nb, q);
        else AIT_NAME(tile)(1, 3, out, os, s, r, nb, q);
    }
}

AIT_TGT static void AIT_NAME(dense)(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x,
                                    size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    if (n_tok == 1 && gptoss_bf16_matvec_avx2(out, w, bias, x, r0, r1)) return;
    aq q;
    if (w->dtype != GPTOSS_DTYPE_Q8_0 || n_tok > AI_NT || cols > AI_MAXC || cols % 32 || r0 >= r1 ||
        !quantize(&q, AF_Q8, x, xs, n_tok, nb)) {
        gptoss_cpu_avx2_f32.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
        return;
    }
    const isrc s = {.w = w->data, .row_bytes = nb * GPTOSS_Q8_0_BYTES};
    AIT_NAME(run)(out, os, &s, nb, &q, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

AIT_TGT static void AIT_NAME(mxfp4)(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                                    const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    aq q;
    if (n_tok > AI_NT || nb * 32 > AI_MAXC || r0 >= r1 || !quantize(&q, AF_MX, x, xs, n_tok, nb)) {
        gptoss_cpu_avx2_f32.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    AIT_NAME(mx_rows)(0, out, os, w, e, nb, &q, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

/* The same in ggml's layout (GGUF: 17-byte blocks, x in natural order, whose positions map to the
 * nibbles as MXFP4 order does in the HF layout; gate/up split into two tensors). */
AIT_TGT static void AIT_NAME(mxfp4_ggml)(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                                         const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    aq q;
    if (n_tok > AI_NT || nb * 32 > AI_MAXC || r0 >= r1 || (w->blocks_odd && w->rows % 2) ||
        !quantize(&q, AF_MX, x, xs, n_tok, nb)) {
        gptoss_mxfp4_ggml_avx2(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    AIT_NAME(mx_rows)(1, out, os, w, e, nb, &q, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}
