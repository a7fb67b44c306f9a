/* test_kernels_avx2.c: the integer decode kernels of the avx2 (vpmaddubsw) and avx2vnni (AVX-VNNI
 * vpdpbusd) variants, MXFP4 and Q8_0 with activations quantized per call to 16 / 15 bits, against the
 * scalar reference on awkward shapes: row counts that are not a multiple of the 4-row tile, row
 * ranges starting inside the matrix, 1..4 tokens (4 takes the f32 tiles), 32 to 4096 columns with
 * block counts that are odd and not multiples of 8, 4128 columns (too wide: f32 tiles); extreme
 * weight scales (e8m0 0 and 254, Q8_0 d = 0 and 65504, q = -128), zero weight and activation blocks,
 * denormal, huge (1e30) and non-finite activations, one large outlier. Each variant skips with a
 * line of its own when the CPU lacks it.
 *
 * Tolerance per output (row r, token t), from the quantization: per 32-block b of the activation row
 * the kernel uses s_b = max(max_i |x_i| / Q, FLT_MIN) (Q = 32639 for MXFP4, 16319 for Q8_0) and
 * q_i = round(x_i / s_b), so |x_i - s_b q_i| <= 0.51 s_b (1/2 for the rounding, the rest for 1 / s_b
 * and x_i / s_b rounded in f32). Block dots are exact integers; the rest is f32 rounding:
 *     |got - want| <= sum_b |w-scale_b| * 0.51 s_b * sum_i |w_i|
 *                   + (nb + 64) * 2^-23 * sum_b |w-scale_b| * sum_i (|w_i| + off) |x_i|  (off: MXFP4's
 *                     +6 weight offset, 0 for Q8_0)
 *                   + 1e-35 (results that underflow).
 * Bit identity: each row alone, and each token alone, give the same bits as the whole call.
 * The one-token BF16 kernel (bf16_avx2.c, f32 throughout) is held to the f32 rounding term alone,
 * (cols + 64) * 2^-23 * sum_i |w_i x_i| + 1e-35, on 16 to 8192 columns and the fallbacks (columns
 * not a multiple of 16, more than 8192). Each variant's precise sibling (--keep-dense) gives the f32
 * tiles' MXFP4 bits. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "tap.h"
#define TEST_RNG_SEED 0x6a09e667f3bcc908ull
#include "test_rand.h"

enum { NT_MAX = 4, NT_INT = 3 };

/* Activations of token t (natural order): each token a different stress case. */
static void fill_x(float *x, size_t cols, size_t t) {
    for (size_t i = 0; i < cols; i++) x[i] = frand();
    switch (t) {
    case 1: x[cols > 7 ? 7 : 0] = 3.0e4f; break; /* one outlier */
    case 2:                                       /* zero, denormal and huge blocks */
        for (size_t i = 0; i < 32; i++) x[i] = 0.0f;
        for (size_t i = 32; i < 64 && i < cols; i++) x[i] = frand() * 1e-40f;
        for (size_t i = 64; i < 96 && i < cols; i++) x[i] = frand() * 1e30f;
        break;
    case 3: memset(x, 0, cols * sizeof(float)); break; /* all zero (and the f32 tiles at 4 tokens) */
    default: break;
    }
}

typedef struct kcall {
    const gptoss_cpu_ops *ops;
    const gptoss_mxfp4 *mx; /* or */
    const gptoss_mat *mat;
    const float *bias;
    int ggml; /* mx in ggml's layout: ops->mxfp4_ggml */
} kcall;
static void call(const kcall *k, float *out, size_t os, const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    if (k->mx && k->ggml) k->ops->mxfp4_ggml(out, os, k->mx, 1, k->bias, x, xs, n_tok, r0, r1);
    else if (k->mx) k->ops->mxfp4(out, os, k->mx, 1, k->bias, x, xs, n_tok, r0, r1);
    else k->ops->dense(out, os, k->mat, k->bias, x, xs, n_tok, r0, r1);
}

/* Rows [r0, rows) x n_tok tokens: within the bound, rows below r0 untouched, the same bits for each
 * row alone and (on the integer path) each token alone. */
static void check(const kcall *k, const char *what, const float *xk, size_t cols, size_t rows, size_t n_tok,
                  const float *want, const double *bound, uint64_t r0) {
    float *got = calloc(n_tok * rows, sizeof(float)), *one = calloc(n_tok * rows, sizeof(float));
    call(k, got, rows, xk, cols, n_tok, r0, rows);
    int untouched = 1, bits = 1;
    for (size_t t = 0; t < n_tok && r0; t++) untouched &= got[t * rows] == 0.0f;
    double worst = 0;
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = r0; r < rows; r++) {
            const size_t i = t * rows + r;
            double d = fabs((double)got[i] - want[i]);
            if (got[i] != got[i] || d != d) d = INFINITY;
            if (d / bound[i] > worst) worst = d / bound[i];
        }
    for (uint64_t r = r0; r < rows; r++) call(k, one, rows, xk, cols, n_tok, r, r + 1);
    bits &= memcmp(one + r0, got + r0, (n_tok * rows - r0) * sizeof(float)) == 0;
    /* ggml's f32 kernel (rows wider than 4096) sums one token in four chains, several in one */
    if (n_tok <= NT_INT && !(k->ggml && cols > 4096)) {
        memset(one, 0, n_tok * rows * sizeof(float));
        for (size_t t = 0; t < n_tok; t++) call(k, one + t * rows, rows, xk + t * cols, cols, 1, r0, rows);
        bits &= memcmp(one + r0, got + r0, (n_tok * rows - r0) * sizeof(float)) == 0;
    }
    tap_check(worst <= 1.0 && bits && untouched,
              "%s %s: %zu rows (from %llu) x %zu cols x %zu tokens: err/bound %.3g, bits per row/token %s", k->ops->name,
              what, rows, (unsigned long long)r0, cols, n_tok, worst, bits ? "same" : "DIFFER");
    free(got);
    free(one);
}

/* MXFP4 (HF layout, expert 1 of 2; x in MXFP4 order). */
static void test_mxfp4(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok) {
    const size_t E = 2, nb = cols / 32, e = 1, base = e * rows * nb;
    uint8_t *blocks = malloc(E * rows * nb * 16), *scales = malloc(E * rows * nb);
    for (size_t i = 0; i < E * rows * nb * 16; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t i = 0; i < E * rows * nb; i++) scales[i] = (uint8_t)(118 + (int)((frand() + 1) * 6));
    scales[base] = 0;                             /* the subnormal 2^-127 */
    memset(blocks + (base + nb - 1) * 16, 0, 16); /* a zero weight block (last of row 0) */
    if (nb > 1) { /* 2^127 on block 1 of the last row: |v| <= 1.5, small x there */
        scales[base + (rows - 1) * nb + 1] = 254;
        for (int j = 0; j < 16; j++) blocks[(base + (rows - 1) * nb + 1) * 16 + j] &= 0xbb;
    }
    float *x = malloc(n_tok * cols * sizeof(float)), *xo = malloc(n_tok * cols * sizeof(float));
    for (size_t t = 0; t < n_tok; t++) {
        fill_x(x + t * cols, cols, t);
        if (nb > 1)
            for (size_t i = 32; i < 64; i++) x[t * cols + i] *= 1e-3f;
        gptoss_mxfp4_order(xo + t * cols, x + t * cols, cols);
    }
    float *bias = malloc(rows * sizeof(float)), *scratch = malloc(cols * sizeof(float));
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    float *want = calloc(n_tok * rows, sizeof(float));
    double *bound = malloc(n_tok * rows * sizeof(double));
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = 0; r < rows; r++) {
            double qe = 0, fe = 0;
            for (size_t b = 0; b < nb; b++) {
                const float *xb = x + t * cols + b * 32;
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
                double s = fmax(amax / 32639.0, FLT_MIN), ws = ldexp(1.0, (int)scales[base + r * nb + b] - 127), sv = 0, sm = 0;
                for (int j = 0; j < 16; j++) {
                    const uint8_t byte = blocks[(base + r * nb + b) * 16 + j];
                    const double v0 = fabs(gptoss_fp4_values[byte & 15]), v1 = fabs(gptoss_fp4_values[byte >> 4]);
                    sv += v0 + v1;
                    sm += (v0 + 6) * fabs(xb[2 * j]) + (v1 + 6) * fabs(xb[2 * j + 1]);
                }
                qe += ws * s * 0.51 * sv;
                fe += ws * sm;
            }
            bound[t * rows + r] = qe + (double)(nb + 64) * 0x1p-23 * fe + 1e-35;
        }
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = E, .rows = rows, .cols = cols};
    const uint64_t r0 = rows > 4 ? 1 : 0;
    gptoss_matmul_mxfp4_f32(want, rows, &w, e, bias, x, cols, n_tok, r0, rows, scratch);
    const kcall k = {ops, &w, NULL, bias, 0};
    check(&k, "mxfp4", xo, cols, rows, n_tok, want, bound, r0);
    /* the same weights in ggml's layout (GGUF: 17-byte blocks, scale first, element j in the low
     * nibble of byte j and j + 16 in its high one; x in natural order), one tensor and, for even row
     * counts, gate/up split into two: the same reference and bound */
    for (int split = 0; split < 1 + (rows % 2 == 0); split++) {
        uint8_t *gb = malloc(E * rows * nb * 17);
        gptoss_mxfp4 g = {.blocks = gb, .n_experts = E, .rows = rows, .cols = cols, .layout = GPTOSS_MXFP4_GGML};
        if (split) g.blocks_odd = gb + E * rows * nb * 17 / 2;
        for (size_t ee = 0; ee < E; ee++)
            for (size_t r = 0; r < rows; r++) {
                uint8_t *dst = (uint8_t *)gptoss_mxfp4_ggml_row(&g, ee, r);
                for (size_t b = 0; b < nb; b++) {
                    const uint8_t *src = blocks + ((ee * rows + r) * nb + b) * 16;
#define NIB(i) ((i) % 2 ? src[(i) / 2] >> 4 : src[(i) / 2] & 15)
                    dst[b * 17] = scales[(ee * rows + r) * nb + b];
                    for (int j = 0; j < 16; j++) dst[b * 17 + 1 + j] = (uint8_t)(NIB(j) | NIB(j + 16) << 4);
#undef NIB
                }
            }
        const kcall kg = {ops, &g, NULL, bias, 1};
        check(&kg, split ? "mxfp4 ggml gate/up" : "mxfp4 ggml", x, cols, rows, n_tok, want, bound, r0);
        free(gb);
    }
    free(blocks); free(scales); free(x); free(xo); free(bias); free(scratch); free(want); free(bound);
}

/* Q8_0 dense (x in natural order). */
static void test_q8(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok) {
    const size_t nb = cols / 32, rb = nb * GPTOSS_Q8_0_BYTES;
    uint8_t *w = malloc(rows * rb);
    float *tmp = malloc(cols * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) tmp[c] = frand() * (c % 13 == 0 ? 3.0f : 1.0f) * (float)(1 + r % 3);
        gptoss_quantize_row_q8_0(w + r * rb, tmp, cols);
    }
    memset(w + (nb - 1) * GPTOSS_Q8_0_BYTES, 0, GPTOSS_Q8_0_BYTES); /* d = 0, zero block */
    if (rows > 1) { const uint16_t big = 0x7bff; memcpy(w + rb, &big, 2); } /* d = 65504 */
    if (rows > 2) w[2 * rb + 2] = 0x80;                                    /* q = -128 */
    float *x = malloc(n_tok * cols * sizeof(float)), *bias = malloc(rows * sizeof(float));
    float *scratch = malloc(cols * sizeof(float)), *want = calloc(n_tok * rows, sizeof(float));
    double *bound = malloc(n_tok * rows * sizeof(double));
    for (size_t t = 0; t < n_tok; t++) fill_x(x + t * cols, cols, t);
    if (rows > 1)
        for (size_t t = 0; t < n_tok; t++) /* row 1 has d = 65504 on block 0: keep its products finite */
            for (size_t i = 0; i < 32; i++) x[t * cols + i] *= 1e-3f;
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mat m = {w, GPTOSS_DTYPE_Q8_0, rows, cols};
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = 0; r < rows; r++) {
            double qe = 0, fe = 0;
            for (size_t b = 0; b < nb; b++) {
                const float *xb = x + t * cols + b * 32;
                const uint8_t *blk = w + r * rb + b * GPTOSS_Q8_0_BYTES;
                uint16_t dh;
                memcpy(&dh, blk, 2);
                float d;
                gptoss_to_f32(&d, &dh, GPTOSS_DTYPE_F16, 0, 1);
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
                double s = fmax(amax / 16319.0, FLT_MIN), sv = 0, sm = 0;
                for (int i = 0; i < 32; i++) {
                    const double v = fabs((double)(int8_t)blk[2 + i]);
                    sv += v;
                    sm += v * fabs(xb[i]);
                }
                qe += fabs(d) * s * 0.51 * sv;
                fe += fabs(d) * sm;
            }
            bound[t * rows + r] = qe + (double)(nb + 64) * 0x1p-23 * fe + 1e-35;
        }
    const uint64_t r0 = rows > 4 ? 3 : 0;
    gptoss_matmul_dense_f32(want, rows, &m, bias, x, cols, n_tok, r0, rows, scratch);
    const kcall k = {ops, NULL, &m, bias, 0};
    check(&k, "q8_0", x, cols, rows, n_tok, want, bound, r0);
    free(w); free(tmp); free(x); free(bias); free(scratch); free(want); free(bound);
}

/* BF16 dense, one token (x in natural order): normal, zero, subnormal and large weights, a NaN
 * activation in the last row's shape check. */
static void test_bf16(const gptoss_cpu_ops *ops, size_t rows, size_t cols) {
    uint16_t *w = malloc(rows * cols * sizeof(uint16_t));
    for (size_t i = 0; i < rows * cols; i++) {
        const float v = frand() * (i % 11 == 0 ? 64.0f : 1.0f);
        uint32_t b;
        memcpy(&b, &v, 4);
        w[i] = (uint16_t)(b >> 16);
    }
    w[0] = 0;                          /* +0 */
    if (rows * cols > 3) w[3] = 0x0001; /* the smallest subnormal */
    if (rows * cols > 5) w[5] = 0xc780; /* -65536 */
    float *x = malloc(cols * sizeof(float)), *bias = malloc(rows * sizeof(float)), *want = calloc(rows, sizeof(float));
    float *scratch = malloc(cols * sizeof(float));
    double *bound = malloc(rows * sizeof(double));
    fill_x(x, cols, 0);
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mat m = {w, GPTOSS_DTYPE_BF16, rows, cols};
    for (size_t r = 0; r < rows; r++) {
        double sm = 0;
        for (size_t c = 0; c < cols; c++) {
            float wf;
            gptoss_to_f32(&wf, w, GPTOSS_DTYPE_BF16, r * cols + c, 1);
            sm += fabs((double)wf * x[c]);
        }
        bound[r] = (double)(cols + 64) * 0x1p-23 * (sm + fabs(bias[r])) + 1e-35;
    }
    const uint64_t r0 = rows > 4 ? 3 : 0;
    gptoss_matmul_dense_f32(want, rows, &m, bias, x, cols, 1, r0, rows, scratch);
    const kcall k = {ops, NULL, &m, bias, 0};
    check(&k, "bf16", x, cols, rows, 1, want, bound, r0);
    x[cols / 2] = NAN;
    float got[2] = {0, 0};
    ops->dense(got, rows, &m, NULL, x, cols, 1, 0, rows < 2 ? rows : 2);
    tap_check(isnan(got[0]) && (rows < 2 || isnan(got[1])), "%s bf16 %zu x %zu: a NaN activation gives NaN", ops->name,
              rows, cols);
    free(w); free(x); free(bias); free(want); free(scratch); free(bound);
}

/* Non-finite activations take the f32 tiles: NaN / inf where the reference has them. */
static void test_nonfinite(const gptoss_cpu_ops *ops) {
    enum { rows = 6, cols = 96 };
    uint8_t blocks[rows * 3 * 16], scales[rows * 3], q8[rows * 3 * GPTOSS_Q8_0_BYTES];
    for (size_t i = 0; i < sizeof blocks; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    memset(scales, 127, sizeof scales);
    float x[2 * cols], xo[2 * cols], want[2 * rows], got[2 * rows], scratch[cols];
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < cols; i++) x[i] = frand();
        gptoss_quantize_row_q8_0(q8 + r * 3 * GPTOSS_Q8_0_BYTES, x, cols);
    }
    for (size_t i = 0; i < 2 * cols; i++) x[i] = frand();
    x[5] = NAN;
    x[cols + 40] = INFINITY;
    gptoss_mxfp4_order(xo, x, cols);
    gptoss_mxfp4_order(xo + cols, x + cols, cols);
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = 1, .rows = rows, .cols = cols};
    gptoss_matmul_mxfp4_f32(want, rows, &w, 0, NULL, x, cols, 2, 0, rows, scratch);
    ops->mxfp4(got, rows, &w, 0, NULL, xo, cols, 2, 0, rows);
    int ok = 1;
    for (size_t i = 0; i < 2 * rows; i++) ok &= isnan(want[i]) ? isnan(got[i]) : got[i] == want[i] || fabsf(got[i] - want[i]) < 1e-5f;
    const gptoss_mat m = {q8, GPTOSS_DTYPE_Q8_0, rows, cols};
    gptoss_matmul_dense_f32(want, rows, &m, NULL, x, cols, 2, 0, rows, scratch);
    ops->dense(got, rows, &m, NULL, x, cols, 2, 0, rows);
    for (size_t i = 0; i < 2 * rows; i++) ok &= isnan(want[i]) ? isnan(got[i]) : got[i] == want[i] || fabsf(got[i] - want[i]) < 1e-5f;
    tap_check(ok, "%s mxfp4 and q8_0: NaN / inf activations give the reference's NaN / inf", ops->name);
}

/* --keep-dense's precise sibling: the same set but MXFP4 (both layouts) through the f32 tiles, whose
 * bits it gives; picked by gptoss_cpu_ops_precise. (The f32 set exists in x86-64 builds only.) */
#if defined(__x86_64__)
static void test_precise(const gptoss_cpu_ops *ops, const char *name) {
    const gptoss_cpu_ops *p = ops->precise;
    if (!tap_check(p && gptoss_cpu_ops_precise(ops, 1) == p && gptoss_cpu_ops_precise(ops, 0) == ops &&
                       p->dense == ops->dense && p->attention_group_bf24 == ops->attention_group_bf24 &&
                       p->swiglu_mx == ops->swiglu_mx && p->mxfp4 != ops->mxfp4 && p->mxfp4_ggml != ops->mxfp4_ggml &&
                       !p->precise,
                   "%s's precise sibling differs in the MXFP4 kernels only, and --keep-dense picks it", name))
        return;
    const size_t rows = 13, cols = 2880, nb = cols / 32, n_tok = 3;
    uint8_t *blocks = malloc(2 * rows * nb * 17), *scales = malloc(2 * rows * nb);
    for (size_t i = 0; i < 2 * rows * nb * 17; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t i = 0; i < 2 * rows * nb; i++) scales[i] = (uint8_t)(118 + (int)((frand() + 1) * 6));
    float *x = malloc(n_tok * cols * sizeof(float)), *got = malloc(n_tok * rows * sizeof(float)),
          *want = malloc(n_tok * rows * sizeof(float));
    for (size_t i = 0; i < n_tok * cols; i++) x[i] = frand();
    const gptoss_mxfp4 hf = {.blocks = blocks, .scales = scales, .n_experts = 2, .rows = rows, .cols = cols},
                       gg = {.blocks = blocks, .n_experts = 2, .rows = rows, .cols = cols, .layout = GPTOSS_MXFP4_GGML};
    p->mxfp4(got, rows, &hf, 1, NULL, x, cols, n_tok, 0, rows);
    gptoss_cpu_avx2_f32.mxfp4(want, rows, &hf, 1, NULL, x, cols, n_tok, 0, rows);
    int same = !memcmp(got, want, n_tok * rows * sizeof(float));
    p->mxfp4_ggml(got, rows, &gg, 1, NULL, x, cols, n_tok, 0, rows);
    gptoss_cpu_avx2_f32.mxfp4_ggml(want, rows, &gg, 1, NULL, x, cols, n_tok, 0, rows);
    same &= !memcmp(got, want, n_tok * rows * sizeof(float));
    tap_check(same, "%s precise: MXFP4 (HF and ggml layouts, 13 x 2880, 3 tokens) bit for bit the f32 tiles'", name);
    free(blocks), free(scales), free(x), free(got), free(want);
}
#else
static void test_precise(const gptoss_cpu_ops *ops, const char *name) { (void)ops, (void)name; }
#endif

int main(void) {
    const char *names[] = {"avx2", "avx2vnni"};
    for (int v = 0; v < 2; v++) {
        const gptoss_cpu_ops *ops = gptoss_cpu_ops_named(names[v]);
        if (!ops) {
            tap_skip(names[v], v ? "this CPU (or build) lacks AVX2 + FMA + AVX-VNNI" : "this CPU (or build) lacks AVX2 + FMA");
            continue;
        }
        /* 1, 2, 3 (odd), 5, 9, 90 (the 20b's 2880), 127 and 128 blocks; 129: too wide */
        const size_t shapes[][2] = {{1, 32}, {5, 64}, {7, 96}, {4, 160}, {13, 288}, {9, 2880}, {67, 96}, {3, 4064}, {3, 4096}, {2, 4128}};
        for (size_t nt = 1; nt <= NT_MAX; nt++)
            for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
                test_mxfp4(ops, shapes[i][0], shapes[i][1], nt);
                test_q8(ops, shapes[i][0], shapes[i][1], nt);
            }
        /* one-token BF16: 16 to 8192 columns, rows around the 4-row groups; 40 and 8208: fallbacks */
        const size_t bshapes[][2] = {{1, 16}, {3, 48}, {4, 64}, {5, 2880}, {7, 4096}, {9, 8192}, {67, 96}, {6, 40}, {5, 8208}};
        for (size_t i = 0; i < sizeof bshapes / sizeof bshapes[0]; i++) test_bf16(ops, bshapes[i][0], bshapes[i][1]);
        test_nonfinite(ops);
        test_precise(ops, names[v]);
    }
    tap_check((gptoss_cpu_ops_named("avx2vnni") != NULL) == gptoss_cpu_has_avx2vnni(),
              "avx2vnni offered exactly where cpuid reports AVX-VNNI (%s)", gptoss_cpu_has_avx2vnni() ? "yes" : "no");
    return tap_exit();
}
