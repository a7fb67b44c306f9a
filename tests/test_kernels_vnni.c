/* test_kernels_vnni.c: the avx512vnni variant (integer MXFP4 / Q8_0 kernels, activations quantized
 * per call to 16 bits per element) and its precise sibling (MXFP4's at 24 bits; --keep-dense) against
 * the scalar reference, on awkward shapes: row counts that
 * are not a multiple of the 4-row tile, row ranges starting inside the matrix, 1..5 tokens (MXFP4 from
 * 4 tokens takes the f32 kernels; Q8_0 at 5 runs as a group of 4 and one of 1), 32/64/96/2880 columns; extreme weight scales (e8m0 0 and 254,
 * Q8_0 d = 0 and 65504), all-zero weight and activation blocks, denormal, large and non-finite
 * activations, one huge outlier.
 *
 * Tolerance, per output element (row r, token t), from the quantization bound: the kernel uses, per
 * 32-block b of the activation row, s_b = max(max_i |x_i| / Q, FLT_MIN) and q_i = round(x_i * (1 / s_b))
 * in f32, Q = 127 * 2^16 (24-bit activations) or 32639 (16-bit), so |x_i - s_b q_i| <= e s_b with
 * e = 1.25 (24 bits: 1/2 for the rounding to an integer, 1/2 for the f32 product of a value near
 * 2^23, Q 2^-24 for 1 / s_b) or 0.51 (16 bits), and
 *     |got - want| <= sum_b |w-scale_b| * e s_b * sum_i |w_i|          (w_i: E2M1 value or Q8_0 int)
 *                   + (nb + 64) * 2^-23 * sum_b |w-scale_b| * sum_i (|w_i| + off) |x_i|   (f32 rounding
 *                     of the kernel, with its +off = 6 / 128 weight offset, and of the reference)
 *                   + 1e-35 (results that underflow).
 * The measured error is also printed relative to that bound. Bit-identity checks: each row alone,
 * and each token alone, give the same bits as the whole tile. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "model/model.h"
#include "tap.h"
#define TEST_RNG_SEED 0x2545f4914f6cdd1dull
#include "test_rand.h"

enum { NT_MAX = 5 };

/* Activations of token t (natural order), each token a different stress case. */
static void fill_x(float *x, size_t cols, size_t t) {
    for (size_t i = 0; i < cols; i++) x[i] = frand();
    switch (t) {
    case 1: x[cols > 7 ? 7 : 0] = 3.0e4f; break;                  /* one huge outlier */
    case 2:                                                        /* zero, denormal and large blocks */
        for (size_t i = 0; i < 32; i++) x[i] = 0.0f;
        for (size_t i = 32; i < 64 && i < cols; i++) x[i] = frand() * 1e-40f;
        for (size_t i = 64; i < 96 && i < cols; i++) x[i] = frand() * 1e3f;
        break;
    case 3: memset(x, 0, cols * sizeof(float)); break;             /* all zero */
    case 4:                                                        /* small, and mixed magnitudes */
        for (size_t i = 0; i < cols; i++) x[i] *= (i / 32) % 3 == 0 ? 1e-6f : (i / 32) % 3 == 1 ? 1.0f : 50.0f;
        break;
    default: break;
    }
}

/* One kernel call: out[t*os + r] for rows [r0, r1) and n_tok tokens of x (row stride xs). */
typedef struct kcall {
    const gptoss_cpu_ops *ops;
    const gptoss_mxfp4 *mx; /* or */
    const gptoss_mat *mat;
    const float *bias;
    int ggml; /* mx is in ggml's layout: ops->mxfp4_ggml, x in natural order */
} kcall;
static void call(const kcall *k, float *out, size_t os, const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    if (k->mx && k->ggml) k->ops->mxfp4_ggml(out, os, k->mx, 1, k->bias, x, xs, n_tok, r0, r1);
    else if (k->mx) k->ops->mxfp4(out, os, k->mx, 1, k->bias, x, xs, n_tok, r0, r1);
    else k->ops->dense(out, os, k->mat, k->bias, x, xs, n_tok, r0, r1);
}

/* Runs rows [r0, rows) x n_tok tokens and checks: within the bound, rows below r0 untouched, and the
 * same bits for each row alone and each token alone. */
static void check(const kcall *k, const char *what, const float *xk, size_t cols, size_t rows, size_t n_tok,
                  const float *want, const double *bound, uint64_t r0) {
    float *got = calloc(n_tok * rows, sizeof(float)), *one = calloc(n_tok * rows, sizeof(float));
    call(k, got, rows, xk, cols, n_tok, r0, rows);
    int untouched = 1, bits = 1;
    for (size_t t = 0; t < n_tok && r0; t++) untouched &= got[t * rows] == 0.0f;
    double worst = 0;
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = r0; r < rows; r++) {
            size_t i = t * rows + r;
            double d = fabs((double)got[i] - want[i]);
            if (got[i] != got[i] || d != d) d = INFINITY;
            if (d / bound[i] > worst) worst = d / bound[i];
            if (getenv("VN_DEBUG") && d > bound[i]) tap_diag("t %zu r %zu got %g want %g bound %g", t, r, got[i], want[i], bound[i]);
        }
    for (uint64_t r = r0; r < rows; r++) call(k, one, rows, xk, cols, n_tok, r, r + 1);
    bits &= memcmp(one + r0, got + r0, (n_tok * rows - r0) * sizeof(float)) == 0;
    if (n_tok <= (k->mx ? 3u : 4u)) { /* within the integer path, a token's result does not depend on the others */
        memset(one, 0, n_tok * rows * sizeof(float));
        for (size_t t = 0; t < n_tok; t++) call(k, one + t * rows, rows, xk + t * cols, cols, 1, r0, rows);
        bits &= memcmp(one + r0, got + r0, (n_tok * rows - r0) * sizeof(float)) == 0;
    }
    tap_check(worst <= 1.0 && bits && untouched,
              "%s %s: %zu rows (from %llu) x %zu cols x %zu tokens: err/bound %.3g, bits per row/token %s", k->ops->name,
              what, rows, (unsigned long long)r0, cols, n_tok, worst, bits ? "same" : "DIFFER");
    free(got); free(one);
}

/* ---- MXFP4 (HF layout: codes, then e8m0 scales; x in MXFP4 order), expert 1 of 2 ---- */
static void test_mxfp4(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok) {
    const int bits24 = ops->precise == NULL; /* the precise set */
    const double Q = bits24 ? 8323072.0 : 32639.0, eq = bits24 ? 1.25 : 0.51;
    const size_t E = 2, nb = cols / 32, e = 1, base = e * rows * nb;
    uint8_t *blocks = malloc(E * rows * nb * 16), *scales = malloc(E * rows * nb);
    for (size_t i = 0; i < E * rows * nb * 16; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t i = 0; i < E * rows * nb; i++) scales[i] = (uint8_t)(118 + (int)((frand() + 1) * 6));
    scales[base] = 0;                                     /* the subnormal 2^-127 */
    memset(blocks + (base + nb - 1) * 16, 0, 16);         /* an all-zero weight block (last of row 0) */
    if (nb > 1) { /* 2^127 on block 1 of the last row: |v| <= 1.5 (the reference widens v * 2^127), small x */
        scales[base + (rows - 1) * nb + 1] = 254;
        for (int j = 0; j < 16; j++) blocks[(base + (rows - 1) * nb + 1) * 16 + j] &= 0xbb;
    }
    float *x = malloc(n_tok * cols * sizeof(float)), *xo = malloc(n_tok * cols * sizeof(float));
    for (size_t t = 0; t < n_tok; t++) {
        fill_x(x + t * cols, cols, t);
        if (nb > 1) for (size_t i = 32; i < 64; i++) x[t * cols + i] *= 1e-3f;
        gptoss_mxfp4_order(xo + t * cols, x + t * cols, cols);
    }
    float *bias = malloc(rows * sizeof(float)), *scratch = malloc(cols * sizeof(float));
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    float *want = calloc(n_tok * rows, sizeof(float));
    double *bound = malloc(n_tok * rows * sizeof(double));
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = 0; r < rows; r++) {
            double q = 0, m = 0;
            for (size_t b = 0; b < nb; b++) {
                const float *xb = x + t * cols + b * 32;
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
                double s = fmax(amax / Q, FLT_MIN), ws = ldexp(1.0, (int)scales[base + r * nb + b] - 127), sv = 0, sm = 0;
                for (int j = 0; j < 16; j++) {
                    uint8_t byte = blocks[(base + r * nb + b) * 16 + j];
                    double v0 = fabs(gptoss_fp4_values[byte & 15]), v1 = fabs(gptoss_fp4_values[byte >> 4]);
                    sv += v0 + v1;
                    sm += (v0 + 6) * fabs(xb[2 * j]) + (v1 + 6) * fabs(xb[2 * j + 1]);
                }
                q += ws * s * eq * sv;
                m += ws * sm;
            }
            bound[t * rows + r] = q + (double)(nb + 64) * 0x1p-23 * m + 1e-35;
        }
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = E, .rows = rows, .cols = cols};
    const uint64_t r0 = rows > 4 ? 1 : 0;
    gptoss_matmul_mxfp4_f32(want, rows, &w, e, bias, x, cols, n_tok, r0, rows, scratch);
    kcall k = {ops, &w, NULL, bias, 0};
    check(&k, bits24 ? "mxfp4 (24-bit x)" : "mxfp4", xo, cols, rows, n_tok, want, bound, r0);
    /* The same matrix in ggml's 17-byte blocks (GGUF), one tensor and, for an even row count, gate/up
     * split into two tensors of rows/2 (row 2i in the first): x then comes in natural order. */
    uint8_t *gg = malloc(E * rows * nb * 17);
    for (int split = 0; split <= (rows % 2 == 0); split++) {
        for (size_t ex = 0; ex < E; ex++)
            for (size_t r = 0; r < rows; r++)
                for (size_t b = 0; b < nb; b++) {
                    const size_t hf = (ex * rows + r) * nb + b;
                    uint8_t *d = gg + (split ? (r & 1) * (E * rows / 2 * nb * 17) + ((ex * rows / 2 + r / 2) * nb + b) * 17 : hf * 17);
                    d[0] = scales[hf];
                    for (int j = 0; j < 16; j++) { /* element k's code: nibble k & 1 of HF byte k / 2 */
                        const uint8_t lo = blocks[hf * 16 + j / 2] >> (4 * (j & 1)) & 15;
                        const uint8_t hi = blocks[hf * 16 + (j + 16) / 2] >> (4 * (j & 1)) & 15;
                        d[1 + j] = (uint8_t)(lo | hi << 4);
                    }
                }
        gptoss_mxfp4 wg = {.blocks = gg, .n_experts = E, .rows = rows, .cols = cols, .layout = GPTOSS_MXFP4_GGML,
                           .blocks_odd = split ? gg + E * rows / 2 * nb * 17 : NULL};
        kcall kg = {ops, &wg, NULL, bias, 1};
        check(&kg, split ? (bits24 ? "mxfp4 ggml gate/up (24-bit x)" : "mxfp4 ggml gate/up")
                         : (bits24 ? "mxfp4 ggml (24-bit x)" : "mxfp4 ggml"),
              x, cols, rows, n_tok, want, bound, r0);
    }
    free(gg);
    free(blocks); free(scales); free(x); free(xo); free(bias); free(scratch); free(want); free(bound);
}

/* ---- Q8_0 dense (x in natural order) ---- */
static void test_q8(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok) {
    const size_t nb = cols / 32, rb = nb * GPTOSS_Q8_0_BYTES;
    uint8_t *w = malloc(rows * rb);
    float *tmp = malloc(cols * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) tmp[c] = frand() * (c % 13 == 0 ? 3.0f : 1.0f) * (float)(1 + r % 3);
        gptoss_quantize_row_q8_0(w + r * rb, tmp, cols);
    }
    memset(w + (nb - 1) * GPTOSS_Q8_0_BYTES, 0, GPTOSS_Q8_0_BYTES); /* d = 0, all-zero block */
    if (rows > 1) { uint16_t big = 0x7bff; memcpy(w + rb, &big, 2); } /* d = 65504 */
    if (rows > 2) w[2 * rb + 2] = 0x80;                              /* q = -128 (not made by the quantizer) */
    float *x = malloc(n_tok * cols * sizeof(float)), *bias = malloc(rows * sizeof(float));
    float *scratch = malloc(cols * sizeof(float)), *want = calloc(n_tok * rows, sizeof(float));
    double *bound = malloc(n_tok * rows * sizeof(double));
    for (size_t t = 0; t < n_tok; t++) fill_x(x + t * cols, cols, t);
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mat m = {w, GPTOSS_DTYPE_Q8_0, rows, cols};
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = 0; r < rows; r++) {
            double q = 0, mm = 0;
            for (size_t b = 0; b < nb; b++) {
                const float *xb = x + t * cols + b * 32;
                const uint8_t *blk = w + r * rb + b * GPTOSS_Q8_0_BYTES;
                uint16_t dh;
                memcpy(&dh, blk, 2);
                float d;
                gptoss_to_f32(&d, &dh, GPTOSS_DTYPE_F16, 0, 1);
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
                double s = fmax(amax / 32639.0, FLT_MIN), sv = 0, sm = 0;
                for (int i = 0; i < 32; i++) {
                    double v = fabs((double)(int8_t)blk[2 + i]);
                    sv += v;
                    sm += (v + 128) * fabs(xb[i]);
                }
                q += fabs(d) * s * 0.51 * sv;
                mm += fabs(d) * sm;
            }
            bound[t * rows + r] = q + (double)(nb + 64) * 0x1p-23 * mm + 1e-35;
        }
    const uint64_t r0 = rows > 4 ? 3 : 0;
    gptoss_matmul_dense_f32(want, rows, &m, bias, x, cols, n_tok, r0, rows, scratch);
    kcall k = {ops, NULL, &m, bias, 0};
    check(&k, "q8_0", x, cols, rows, n_tok, want, bound, r0);
    free(w); free(tmp); free(x); free(bias); free(scratch); free(want); free(bound);
}

/* Non-finite activations take the f32 path: the same NaN / inf as the reference. */
static void test_nonfinite(const gptoss_cpu_ops *ops) {
    const size_t rows = 6, cols = 64, nb = 2;
    uint8_t blocks[6 * 2 * 16], scales[6 * 2];
    for (size_t i = 0; i < sizeof blocks; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    memset(scales, 127, sizeof scales);
    float x[2 * 64], xo[2 * 64], want[2 * 6], got[2 * 6], scratch[64];
    for (size_t i = 0; i < 128; i++) x[i] = frand();
    x[5] = NAN;
    x[64 + 40] = INFINITY;
    gptoss_mxfp4_order(xo, x, 64);
    gptoss_mxfp4_order(xo + 64, x + 64, 64);
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = 1, .rows = rows, .cols = cols};
    gptoss_matmul_mxfp4_f32(want, rows, &w, 0, NULL, x, cols, 2, 0, rows, scratch);
    ops->mxfp4(got, rows, &w, 0, NULL, xo, cols, 2, 0, rows);
    int ok = 1;
    for (size_t i = 0; i < 2 * rows; i++) ok &= isnan(want[i]) ? isnan(got[i]) : got[i] == want[i] || fabsf(got[i] - want[i]) < 1e-5f;
    tap_check(ok, "%s mxfp4%s: NaN / inf activations give the reference's NaN / inf", ops->name,
              ops->precise ? "" : " (24-bit x)");
    (void)nb;
}

int main(void) {
    /* avx512vbmi is the same source built with VBMI's byte permutes (MXFP4's nibble lookups, ggml's
     * block gathers): each set, and each one's precise sibling, against the reference */
    const char *const names[] = {"avx512vnni", "avx512vbmi"};
    const size_t shapes[][2] = {{1, 32}, {5, 64}, {7, 96}, {9, 2880}, {67, 96}, {3, 4096}, {2, 4128}, {10, 160}};
    for (int v = 0; v < 2; v++) {
        const gptoss_cpu_ops *ops = gptoss_cpu_ops_named(names[v]);
        if (!ops) {
            tap_skip(names[v], v ? "this CPU (or build) lacks AVX512_VBMI" : "this CPU (or build) lacks AVX512_VNNI");
            continue;
        }
        for (size_t nt = 1; nt <= NT_MAX; nt++)
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                test_mxfp4(ops, shapes[i][0], shapes[i][1], nt);
                test_mxfp4(ops->precise, shapes[i][0], shapes[i][1], nt);
                test_q8(ops, shapes[i][0], shapes[i][1], nt);
            }
        test_nonfinite(ops);
        test_nonfinite(ops->precise);
        tap_check(ops->precise && ops->precise->dense == ops->dense && ops->precise->mxfp4 != ops->mxfp4 &&
                      gptoss_cpu_ops_precise(ops, 1) == ops->precise && gptoss_cpu_ops_precise(ops, 0) == ops,
                  "%s's precise sibling differs in the MXFP4 kernels only, and --keep-dense picks it", names[v]);
    }
    tap_check((gptoss_cpu_ops_named("avx512vbmi") != NULL) == gptoss_cpu_has_avx512vbmi(),
              "avx512vbmi offered exactly where cpuid reports AVX512_VNNI and AVX512_VBMI (%s)",
              gptoss_cpu_has_avx512vbmi() ? "yes" : "no");
    const gptoss_cpu_ops *best = gptoss_cpu_ops_best(), *top = gptoss_cpu_ops_named("avx512vbmi");
    if (!top) top = gptoss_cpu_ops_named("avx512vnni");
    /* an AMX CPU picks "amx", which is avx512vbmi's (or avx512vnni's) kernels plus the AMX gemm */
    if (top)
        tap_check(best == top || (best->gemm && best->mxfp4 == top->mxfp4 && best->dense == top->dense) ||
                      getenv("GPTOSS_CPU"),
                  "start-up choice on a VNNI CPU: %s", best->name);
    return tap_exit();
}
