/* test_kernels_amx.c: the AMX matrix x matrix path (packed activations, bf16 high + low parts)
 * against the scalar reference kernels: BF16 dense and MXFP4 experts, row counts that leave partial
 * 16-row tiles, row ranges starting inside the matrix, token counts that leave partial 16-token
 * tiles and need more than one pass of four tiles, a subnormal scale, activations spanning 1e-6..1e4,
 * Q8_0 weights (split into bf16 high + low parts).
 * Bound: each x is carried as hi + lo with |x - hi - lo| <= 2^-17 |x|, products are exact and summed
 * in f32, so the error relative to sum |w||x| stays below ~1e-5; the check is on max |got - want|
 * over max over rows of sum |w||x| < 2e-5. Skipped where the CPU or OS has no AMX. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "model/model.h"
#include "tap.h"
#define TEST_RNG_SEED 0x2545f4914f6cdd1dull
#include "test_rand.h"

/* Activations with a wide range of magnitudes: most O(1), some tiny, a few outliers. */
static float xrand(size_t i) {
    float v = frand();
    if (i % 29 == 3) return v * 1e4f;
    if (i % 7 == 5) return v * 1e-6f;
    return v;
}

static const gptoss_cpu_gemm *g;

/* max |got - want| / max_row sum |w||x| (the scale the rounding of x is relative to) */
static double err_of(const float *got, const float *want, const float *absdot, size_t n) {
    double md = 0, ms = 1e-30;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)got[i] - want[i]));
        ms = fmax(ms, absdot[i]);
        if (got[i] != got[i]) md = INFINITY;
    }
    return md / ms;
}

static void run_pack(void *xp, const float *x, size_t xs, size_t n_tok, size_t cols, int for_mxfp4) {
    size_t tiles = (n_tok + 15) / 16;
    /* in two calls, as the thread pool splits it */
    g->pack(xp, x, xs, n_tok, cols, 0, tiles / 2, for_mxfp4);
    g->pack(xp, x, xs, n_tok, cols, tiles / 2, tiles, for_mxfp4);
}

/* Q8_0 weights (bias-free): the products use them split into bf16 high + low parts. */
static void test_q8(size_t rows, size_t cols, size_t n_tok, uint64_t r0) {
    const size_t rb = (size_t)gptoss_row_bytes(GPTOSS_DTYPE_Q8_0, cols);
    uint8_t *w = malloc(rows * rb);
    float *wf = malloc(cols * sizeof(float)), *x = malloc(n_tok * cols * sizeof(float)), *scratch = malloc(cols * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    float *absdot = calloc(n_tok * rows, sizeof(float));
    gptoss_mat m = {w, GPTOSS_DTYPE_Q8_0, rows, cols};
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) wf[c] = frand() * (c % 11 == 0 ? 40.0f : 1.0f);
        gptoss_quantize_row_q8_0(w + r * rb, wf, cols);
    }
    for (size_t i = 0; i < n_tok * cols; i++) x[i] = xrand(i);
    for (size_t r = 0; r < rows; r++) {
        gptoss_to_f32(wf, w, GPTOSS_DTYPE_Q8_0, r * cols, cols);
        for (size_t t = 0; t < n_tok; t++)
            for (size_t c = 0; c < cols; c++) absdot[t * rows + r] += fabsf(wf[c] * x[t * cols + c]);
    }
    void *xp = aligned_alloc(64, g->pack_bytes(n_tok, cols));
    gptoss_matmul_dense_f32(want, rows, &m, NULL, x, cols, n_tok, r0, rows, scratch);
    run_pack(xp, x, cols, n_tok, cols, 0);
    g->dense(got, rows, &m, NULL, xp, n_tok, r0, rows);
    double e = err_of(got, want, absdot, n_tok * rows);
    tap_check(e < 2e-5 && g->dense_ok(&m, 16) && !g->dense_ok(&m, 15), "amx dense q8_0: %zu rows (from %llu) x %zu cols x %zu tokens: err %.2g", rows,
              (unsigned long long)r0, cols, n_tok, e);
    free(w); free(wf); free(x); free(scratch); free(want); free(got); free(absdot); free(xp);
}

static void test_dense(size_t rows, size_t cols, size_t n_tok, uint64_t r0) {
    uint16_t *w = malloc(rows * cols * 2);
    float *wf = malloc(rows * cols * sizeof(float)), *x = malloc(n_tok * (cols + 3) * sizeof(float));
    float *bias = malloc(rows * sizeof(float)), *scratch = malloc(cols * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    float *absdot = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < rows * cols; i++) {
        float f = frand();
        uint32_t bits;
        memcpy(&bits, &f, 4);
        w[i] = (uint16_t)(bits >> 16);
        bits = (uint32_t)w[i] << 16;
        memcpy(&wf[i], &bits, 4);
    }
    for (size_t i = 0; i < n_tok * (cols + 3); i++) x[i] = xrand(i);
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) absdot[t * rows + r] += fabsf(wf[r * cols + c] * x[t * (cols + 3) + c]);
    gptoss_mat m = {w, GPTOSS_DTYPE_BF16, rows, cols};
    void *xp = aligned_alloc(64, g->pack_bytes(n_tok, cols));
    gptoss_matmul_dense_f32(want, rows, &m, bias, x, cols + 3, n_tok, r0, rows, scratch);
    run_pack(xp, x, cols + 3, n_tok, cols, 0);
    g->dense(got, rows, &m, bias, xp, n_tok, r0, rows);
    int untouched = 1;
    for (size_t t = 0; t < n_tok; t++)
        for (uint64_t r = 0; r < r0; r++) untouched &= got[t * rows + r] == 0.0f;
    double e = err_of(got, want, absdot, n_tok * rows);
    tap_check(e < 2e-5 && untouched && g->dense_ok(&m, 4), "amx dense bf16: %zu rows (from %llu) x %zu cols x %zu tokens: err %.2g",
              rows, (unsigned long long)r0, cols, n_tok, e);
    free(w); free(wf); free(x); free(bias); free(scratch); free(want); free(got); free(absdot); free(xp);
}

static void test_mxfp4(size_t rows, size_t cols, size_t n_tok, uint64_t r0) {
    const size_t E = 3, nb = cols / 32;
    uint8_t *blocks = malloc(E * rows * nb * 16), *scales = malloc(E * rows * nb);
    for (size_t i = 0; i < E * rows * nb * 16; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t i = 0; i < E * rows * nb; i++) scales[i] = (uint8_t)(118 + (int)((frand() + 1) * 6));
    scales[0] = 0; scales[E * rows * nb - 1] = 0; /* the subnormal 2^-127 */
    float *x = malloc(n_tok * cols * sizeof(float)), *xo = malloc(n_tok * cols * sizeof(float));
    float *bias = malloc(rows * sizeof(float)), *scratch = malloc(cols * sizeof(float)), *wrow = malloc(cols * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    float *absdot = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < n_tok * cols; i++) x[i] = xrand(i);
    for (size_t t = 0; t < n_tok; t++) gptoss_mxfp4_order(xo + t * cols, x + t * cols, cols);
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = E, .rows = rows, .cols = cols};
    void *xp = aligned_alloc(64, g->pack_bytes(n_tok, cols));
    run_pack(xp, xo, cols, n_tok, cols, 1);
    for (uint64_t e = 0; e < E; e += 2) {
        memset(absdot, 0, n_tok * rows * sizeof(float));
        for (size_t r = 0; r < rows; r++) {
            gptoss_mxfp4_row_to_f32(wrow, &w, e, r);
            for (size_t t = 0; t < n_tok; t++)
                for (size_t c = 0; c < cols; c++) absdot[t * rows + r] += fabsf(wrow[c] * x[t * cols + c]);
        }
        memset(got, 0, n_tok * rows * sizeof(float));
        gptoss_matmul_mxfp4_f32(want, rows, &w, e, e ? bias : NULL, x, cols, n_tok, r0, rows, scratch);
        g->mxfp4(got, rows, &w, e, e ? bias : NULL, xp, n_tok, r0, rows);
        for (size_t t = 0; t < n_tok; t++)
            for (uint64_t r = 0; r < r0; r++) want[t * rows + r] = 0.0f; /* rows outside the range stay 0 */
        double err = err_of(got, want, absdot, n_tok * rows);
        tap_check(err < 2e-5, "amx mxfp4 expert %llu: %zu rows (from %llu) x %zu cols x %zu tokens: err %.2g",
                  (unsigned long long)e, rows, (unsigned long long)r0, cols, n_tok, err);
    }
    free(blocks); free(scales); free(x); free(xo); free(bias); free(scratch); free(wrow); free(want); free(got);
    free(absdot); free(xp);
}

int main(void) {
    const gptoss_cpu_ops *ops = gptoss_cpu_ops_named("amx");
    if (!ops || !ops->gemm) {
        tap_skip("amx gemm", "this CPU or kernel has no AMX-BF16");
        return tap_exit();
    }
    g = ops->gemm;
    const size_t toks[] = {8, 16, 17, 33, 70};
    for (int k = 0; k < 5; k++) {
        size_t nt = toks[k];
        test_dense(16, 32, nt, 0);
        test_dense(37, 96, nt, 3);
        test_dense(5, 64, nt, 0);
        test_mxfp4(16, 64, nt, 0);
        test_mxfp4(41, 96, nt, 2);
        test_mxfp4(3, 32, nt, 0);
        test_q8(16, 64, nt, 0);
        test_q8(21, 96, nt, 1);
    }
    test_dense(64, 2880, 70, 0);
    test_mxfp4(70, 2880, 40, 16);
    test_q8(64, 2880, 9, 0);
    gptoss_mat odd = {NULL, GPTOSS_DTYPE_BF16, 4, 33}, f16 = {NULL, GPTOSS_DTYPE_F16, 4, 32};
    tap_check(!g->dense_ok(&odd, 64) && !g->dense_ok(&f16, 64), "amx dense declines columns not a multiple of 32 and F16");
    return tap_exit();
}
