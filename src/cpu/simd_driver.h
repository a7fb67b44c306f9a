/* simd_driver.h: what the AVX2 and AVX-512 kernel files share above their register tiles: the
 * scalar tail of a dense row, the walk of rows x token tiles, and the dense / MXFP4 entry points.
 * Included by each ISA file after it defines TGT (its target attribute), INL, the `src` struct
 * (fields w, sc, row_bytes, sc_row, rstep), the FMT_* formats and `tile`, so every function here is
 * compiled for that ISA and inlines its tiles. */
#ifndef GPTOSS_CPU_SIMD_DRIVER_H
#define GPTOSS_CPU_SIMD_DRIVER_H

/* Scalar tail of a dense row: elements [c0, cols). */
static float tail_dot(const gptoss_mat *w, uint64_t r, size_t c0, const float *x) {
    float buf[32];
    size_t k = (size_t)w->cols - c0;
    gptoss_to_f32(buf, w->data, w->dtype, r * w->cols + c0, k);
    float s = 0.0f;
    for (size_t i = 0; i < k; i++) s += buf[i] * x[c0 + i];
    return s;
}

/* Token tiles of 8, 4, 2 and 1 only (fewer instantiations: the compile time stays small). */
#define TILE_CASES(FMT, R)                                                                                            \
    switch (nt) {                                                                                                     \
    case 1: tile(FMT, R, 1, o, os, s, r, nb, x, xs); break;                                                           \
    case 2: tile(FMT, R, 2, o, os, s, r, nb, x, xs); break;                                                           \
    case 4: tile(FMT, R, 4, o, os, s, r, nb, x, xs); break;                                                           \
    default: tile(FMT, R, 8, o, os, s, r, nb, x, xs); break;                                                          \
    }

/* The walk simd_dense and simd_mxfp4 call: run_fmt, unless the ISA file names its own (AVX2's
 * prefill walk, which falls back to run_fmt). */
#ifndef RUN_FMT
#define RUN_FMT run_fmt
#endif

#ifndef PREFILL_BLOCK_BYTES
#define PREFILL_BLOCK_BYTES ((uint64_t)256 << 10)
#endif

static inline size_t tile_tokens(size_t left) { return left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1; }

/* Rows [r0, r1) x all tokens for one format: decode uses 4-row tiles, prefill 4 rows x 6 tokens where
 * the ISA file sets PREFILL_R4 (then, and for the last rows, 2 x 8, then 1 x 8). */
TGT static INL void run_fmt(const int fmt, float *out, size_t os, const src *s, size_t nb, const float *x0, size_t xs,
                            size_t n_tok, uint64_t r0, uint64_t r1) {
    uint64_t r = r0;
    if (n_tok == 1) {
        /* Decode: a 4-row tile takes rows a quarter of the range apart, four long sequential streams
         * (BF16 +10%, +17% on huge pages, over four adjacent rows that restart every row). */
        const uint64_t q = (r1 - r0) / 4;
        src far = *s;
        far.rstep = q;
        for (; r < r0 + q; r++) tile(fmt, 4, 1, out, os, &far, r, nb, x0, xs);
        r = r0 + 4 * q;
    } else {
#if PREFILL_R4
        /* AVX-512: 4 rows x 6 tokens. Each decoded weight block serves 6 tokens: MXFP4's decode (5
         * port-0/5 uops per block and row) is paid once per 12 FMAs instead of 8, and each x block
         * loaded serves four rows (2 x 8 tiles streamed x from L2 at twice the rate: 35 GMAC/s per
         * thread). 24 accumulators leave too few registers for 8 tokens; at 6 the compiler spills 3.
         * One thread, 5760 x 2880 expert x 64 tokens: MXFP4 4 x 4 52-65 -> 4 x 6 62-76 GMAC/s; BF16
         * 5120 x 2880 x 512 tokens 49-57 -> 56-63. AVX2's 16 registers hold 2 x 8 only. */
        /* Blocks of rows whose weights stay in L2 (PREFILL_BLOCK_BYTES), each run against every
         * token group: x then streams from L3 once per block instead of once per 4 rows (a 512-token
         * prefill's x is 5.9 MB). Each output still comes from one tile: same bits in any order. */
        const uint64_t r4 = r0 + (r1 - r0) / 4 * 4;
        uint64_t rb = PREFILL_BLOCK_BYTES / (s->row_bytes ? s->row_bytes : 1) / 4 * 4;
        if (rb < 4) rb = 4;
        for (uint64_t b0 = r0; b0 < r4; b0 += rb) {
            const uint64_t b1 = b0 + rb < r4 ? b0 + rb : r4;
            for (size_t t0 = 0, nt; t0 < n_tok; t0 += nt) {
                nt = n_tok - t0 >= 6 ? 6 : n_tok - t0 >= 4 ? 4 : n_tok - t0 >= 2 ? 2 : 1;
                float *o = out + t0 * os;
                const float *x = x0 + t0 * xs;
                for (r = b0; r < b1; r += 4) switch (nt) {
                    case 1: tile(fmt, 4, 1, o, os, s, r, nb, x, xs); break;
                    case 2: tile(fmt, 4, 2, o, os, s, r, nb, x, xs); break;
                    case 4: tile(fmt, 4, 4, o, os, s, r, nb, x, xs); break;
                    default: tile(fmt, 4, 6, o, os, s, r, nb, x, xs); break;
                    }
            }
        }
        r = r4;
#endif
        for (; r + 2 <= r1; r += 2)
            for (size_t t0 = 0, nt; t0 < n_tok; t0 += nt) {
                nt = tile_tokens(n_tok - t0);
                float *o = out + t0 * os;
                const float *x = x0 + t0 * xs;
                TILE_CASES(fmt, 2)
            }
    }
    for (; r < r1; r++)
        for (size_t t0 = 0, nt; t0 < n_tok; t0 += nt) {
            nt = tile_tokens(n_tok - t0);
            float *o = out + t0 * os;
            const float *x = x0 + t0 * xs;
            TILE_CASES(fmt, 1)
        }
}

TGT static void simd_dense(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                             size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    src s = {.w = w->data, .row_bytes = (size_t)gptoss_row_bytes(w->dtype, cols)};
    switch (w->dtype) {
    case GPTOSS_DTYPE_BF16: RUN_FMT(FMT_BF16, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    case GPTOSS_DTYPE_F16: RUN_FMT(FMT_F16, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    case GPTOSS_DTYPE_F32: RUN_FMT(FMT_F32, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    case GPTOSS_DTYPE_Q8_0: RUN_FMT(FMT_Q8, out, os, &s, nb, x, xs, n_tok, r0, r1); break;
    default: gptoss_cpu_scalar.dense(out, os, w, bias, x, xs, n_tok, r0, r1); return;
    }
    const int tail = cols % 32 != 0;
    for (uint64_t r = r0; r < r1; r++)
        for (size_t t = 0; t < n_tok; t++) {
            float *o = &out[t * os + r];
            if (tail) *o += tail_dot(w, r, nb * 32, x + t * xs);
            if (bias) *o += bias[r];
        }
}

TGT static void simd_mxfp4(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                             const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    src s = {.w = w->blocks + e * w->rows * nb * 16, .sc = w->scales + e * w->rows * nb, .row_bytes = nb * 16, .sc_row = nb};
    RUN_FMT(FMT_MX, out, os, &s, nb, x, xs, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

#endif
