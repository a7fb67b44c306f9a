/* test_kernels_simd.c: every fast kernel variant this CPU runs (scalar, AVX2, AVX-512, NEON: neon,
 * neondot, neoni8mm) against the scalar reference kernels on awkward shapes: rows and columns that
 * are not multiples of the vector width (where the format allows), row ranges that start inside the
 * matrix, and 1, 7 and 33 tokens (the 8-token tiles plus their tails; the integer kernels also at 2,
 * 3 and 8); avx2f32's prefill tiles also at 2-6 tokens, their widest rows, two token groups, and bit
 * for bit against its one-token tiles across row splits. The relative error is printed. And the
 * table of measured preferences per CPU family that the start-up pick consults. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "model/model.h"
#include "tap.h"
#include "test_rand.h"

/* max |a-b| / max |b| over n values */
static double rel_err(const float *a, const float *b, size_t n) {
    double md = 0, mb = 1e-30;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)a[i] - b[i]));
        mb = fmax(mb, fabs((double)b[i]));
        if (a[i] != a[i]) md = INFINITY;
    }
    return md / mb;
}

static void fill_weights(void *data, gptoss_dtype dt, size_t rows, size_t cols) {
    float *tmp = malloc(cols * sizeof(float));
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols; c++) tmp[c] = frand() * (c % 13 == 0 ? 3.0f : 1.0f);
        uint8_t *row = (uint8_t *)data + r * gptoss_row_bytes(dt, cols);
        for (size_t c = 0; dt != GPTOSS_DTYPE_Q8_0 && c < cols; c++) {
            uint32_t bits;
            memcpy(&bits, &tmp[c], 4);
            if (dt == GPTOSS_DTYPE_F32) memcpy(row + 4 * c, &tmp[c], 4);
            else {
                uint16_t h = dt == GPTOSS_DTYPE_BF16 ? (uint16_t)(bits >> 16) : gptoss_f32_to_f16(tmp[c]);
                memcpy(row + 2 * c, &h, 2);
            }
        }
        if (dt == GPTOSS_DTYPE_Q8_0) gptoss_quantize_row_q8_0(row, tmp, cols);
    }
    free(tmp);
}

static void test_dense(const gptoss_cpu_ops *ops, gptoss_dtype dt, size_t rows, size_t cols, size_t n_tok) {
    void *w = malloc(gptoss_row_bytes(dt, cols) * rows);
    float *x = malloc(n_tok * (cols + 3) * sizeof(float)), *bias = malloc(rows * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    float *scratch = malloc(cols * sizeof(float));
    fill_weights(w, dt, rows, cols);
    for (size_t i = 0; i < n_tok * (cols + 3); i++) x[i] = frand();
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mat m = {w, dt, rows, cols};
    uint64_t r0 = rows > 2 ? 1 : 0;
    gptoss_matmul_dense_f32(want, rows, &m, bias, x, cols + 3, n_tok, r0, rows, scratch);
    ops->dense(got, rows, &m, bias, x, cols + 3, n_tok, r0, rows);
    int untouched = 1;
    for (size_t t = 0; t < n_tok && r0; t++) untouched &= got[t * rows] == 0.0f;
    double e = rel_err(got, want, n_tok * rows);
    tap_check(e < 2e-6 && untouched, "%s dense %s: %zu rows (from %llu) x %zu cols x %zu tokens: rel err %.2g",
              ops->name, gptoss_dtype_name(dt), rows, (unsigned long long)r0, cols, n_tok, e);
    free(w); free(x); free(bias); free(want); free(got); free(scratch);
}

static void test_mxfp4(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok) {
    const size_t E = 3, nb = cols / 32;
    uint8_t *blocks = malloc(E * rows * nb * 16), *scales = malloc(E * rows * nb);
    for (size_t i = 0; i < E * rows * nb * 16; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t i = 0; i < E * rows * nb; i++) scales[i] = (uint8_t)(120 + (int)((frand() + 1) * 5));
    scales[0] = 0; scales[E * rows * nb - 1] = 0; /* the subnormal 2^-127 */
    float *x = malloc(n_tok * cols * sizeof(float)), *xo = malloc(n_tok * cols * sizeof(float));
    float *bias = malloc(rows * sizeof(float)), *scratch = malloc(cols * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < n_tok * cols; i++) x[i] = frand();
    for (size_t t = 0; t < n_tok; t++) gptoss_mxfp4_order(xo + t * cols, x + t * cols, cols);
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = E, .rows = rows, .cols = cols};
    uint64_t r0 = rows > 2 ? 2 : 0;
    for (uint64_t e = 0; e < E; e += 2) {
        gptoss_matmul_mxfp4_f32(want, rows, &w, e, e ? bias : NULL, x, cols, n_tok, r0, rows, scratch);
        ops->mxfp4(got, rows, &w, e, e ? bias : NULL, xo, cols, n_tok, r0, rows);
        double err = rel_err(got, want, n_tok * rows);
        tap_check(err < 2e-6, "%s mxfp4 expert %llu: %zu rows (from %llu) x %zu cols x %zu tokens: rel err %.2g", ops->name,
                  (unsigned long long)e, rows, (unsigned long long)r0, cols, n_tok, err);
    }
    free(blocks); free(scales); free(x); free(xo); free(bias); free(scratch); free(want); free(got);
}

/* The integer kernels (neondot's SDOT at 1 token, neoni8mm's SMMLA at 2 to 8) quantize each 32-block
 * of each token's x, MXFP4 to 24 bits (s = max|x| / (127 * 2^16), |x - s q| <= s / 2) and Q8_0 to 16
 * (s = max|x| / 32639, |x - s q| <= 0.51 s: 0.5 plus f32 rounding of x / s). Per output,
 * |got - want| <= sum over blocks of sum |w| * that rounding + 2^-20 sum |w x| (f32 rounding and
 * summation order in both kernels) + 2^-23 |bias|, checked on every output with the worst error
 * relative to that bound printed. Block 0 of every token is scaled by x_scale (0: an all-zero block;
 * tiny; below the quantizers' floor: the f32 tiles). Rows from r0 = 1 (a range that starts inside
 * the matrix, odd row counts for the two-row tiles), x rows 3 floats apart beyond cols (Q8_0). */
static double int_bound_check(const float *got, const float *want, const float *x, size_t xs, size_t n_tok,
                              size_t rows, size_t cols, uint64_t r0, const float *bias, double q_step,
                              void (*row_f32)(float *, const void *, uint64_t), const void *w) {
    float *wr = malloc(cols * sizeof(float));
    double worst = 0;
    for (size_t r = r0; r < rows; r++) {
        row_f32(wr, w, r);
        for (size_t t = 0; t < n_tok; t++) {
            const float *xt = x + t * xs;
            double bound = bias ? fabs((double)bias[r]) / (1 << 23) : 0;
            for (size_t b = 0; b < cols / 32; b++) {
                double mx = 0, sw = 0, swx = 0;
                for (size_t j = 0; j < 32; j++) {
                    mx = fmax(mx, fabs((double)xt[b * 32 + j]));
                    sw += fabs((double)wr[b * 32 + j]);
                    swx += fabs((double)wr[b * 32 + j] * xt[b * 32 + j]);
                }
                bound += sw * mx * q_step + swx / (1 << 20);
            }
            const double d = fabs((double)got[t * rows + r] - want[t * rows + r]) / fmax(bound, 1e-30);
            worst = d == d ? fmax(worst, d) : INFINITY;
        }
    }
    free(wr);
    return worst;
}

static void mx_row_f32(float *dst, const void *w, uint64_t r) { gptoss_mxfp4_row_to_f32(dst, w, 0, r); }
static void q8_row_f32(float *dst, const void *w, uint64_t r) {
    const gptoss_mat *m = w;
    gptoss_to_f32(dst, m->data, GPTOSS_DTYPE_Q8_0, r * m->cols, (size_t)m->cols);
}

static void test_mxfp4_int(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok, float x_scale) {
    const size_t nb = cols / 32;
    uint8_t *blocks = malloc(rows * nb * 16), *scales = malloc(rows * nb);
    for (size_t i = 0; i < rows * nb * 16; i++) blocks[i] = (uint8_t)(frand() * 128 + 128);
    for (size_t i = 0; i < rows * nb; i++) scales[i] = (uint8_t)(120 + (int)((frand() + 1) * 5));
    scales[rows * nb - 1] = 0; /* the subnormal 2^-127 */
    float *x = malloc(n_tok * cols * sizeof(float)), *xo = malloc(n_tok * cols * sizeof(float));
    float *wr = malloc(cols * sizeof(float)), *bias = malloc(rows * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < n_tok * cols; i++) x[i] = frand() * (i % 7 == 0 ? 10.0f : 1.0f);
    for (size_t t = 0; t < n_tok; t++) {
        for (size_t i = 0; i < 32; i++) x[t * cols + i] *= x_scale; /* block 0 */
        gptoss_mxfp4_order(xo + t * cols, x + t * cols, cols);
    }
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = 1, .rows = rows, .cols = cols};
    const uint64_t r0 = rows > 1 ? 1 : 0;
    gptoss_matmul_mxfp4_f32(want, rows, &w, 0, bias, x, cols, n_tok, r0, rows, wr);
    ops->mxfp4(got, rows, &w, 0, bias, xo, cols, n_tok, r0, rows);
    const double worst = int_bound_check(got, want, x, cols, n_tok, rows, cols, r0, bias, 0.5 / (127.0 * 65536.0),
                                         mx_row_f32, &w);
    int untouched = 1;
    for (size_t t = 0; t < n_tok && r0; t++) untouched &= got[t * rows] == 0.0f;
    tap_check(worst <= 1.0 && untouched,
              "%s mxfp4 integer kernel: %zu rows (from %llu) x %zu cols x %zu tokens, block 0 x %g: error / bound %.2g",
              ops->name, rows, (unsigned long long)r0, cols, n_tok, (double)x_scale, worst);
    free(blocks); free(scales); free(x); free(xo); free(wr); free(bias); free(want); free(got);
}

/* Row 0's first weight is -128 (the int8 extreme a file may hold; the quantizer writes +-127 at most). */
static void test_q8_int(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok, float x_scale) {
    const size_t rb = gptoss_row_bytes(GPTOSS_DTYPE_Q8_0, cols), xs = cols + 3;
    uint8_t *data = malloc(rows * rb);
    fill_weights(data, GPTOSS_DTYPE_Q8_0, rows, cols);
    data[2] = 0x80;
    float *x = malloc(n_tok * xs * sizeof(float)), *wr = malloc(cols * sizeof(float));
    float *bias = malloc(rows * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < n_tok * xs; i++) x[i] = frand() * (i % 7 == 0 ? 10.0f : 1.0f);
    for (size_t t = 0; t < n_tok; t++)
        for (size_t i = 0; i < 32; i++) x[t * xs + i] *= x_scale; /* block 0 */
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mat m = {data, GPTOSS_DTYPE_Q8_0, rows, cols};
    const uint64_t r0 = rows > 1 ? 1 : 0;
    gptoss_matmul_dense_f32(want, rows, &m, bias, x, xs, n_tok, r0, rows, wr);
    ops->dense(got, rows, &m, bias, x, xs, n_tok, r0, rows);
    const double worst = int_bound_check(got, want, x, xs, n_tok, rows, cols, r0, bias, 0.51 / 32639.0, q8_row_f32, &m);
    int untouched = 1;
    for (size_t t = 0; t < n_tok && r0; t++) untouched &= got[t * rows] == 0.0f;
    tap_check(worst <= 1.0 && untouched,
              "%s q8_0 integer kernel: %zu rows (from %llu) x %zu cols x %zu tokens, block 0 x %g: error / bound %.2g",
              ops->name, rows, (unsigned long long)r0, cols, n_tok, (double)x_scale, worst);
    free(data); free(x); free(wr); free(bias); free(want); free(got);
}

/* The integer kernels' shapes at n_tok tokens: partial groups of 4 blocks (Q8_0 SDOT), odd row
 * counts, gpt-oss's 2880 columns, an all-zero block, tiny blocks still quantized and below the floor. */
static void test_int_kernels(const gptoss_cpu_ops *ops, size_t n_tok) {
    test_q8_int(ops, 11, 160, n_tok, 1.0f);
    test_q8_int(ops, 1, 32, n_tok, 1.0f);
    test_q8_int(ops, 6, 128, n_tok, 1.0f);   /* whole groups of 4 blocks only */
    test_q8_int(ops, 4, 96, n_tok, 1.0f);    /* the blocks after the last group only */
    test_q8_int(ops, 33, 2880, n_tok, 1.0f); /* gpt-oss's hidden size */
    test_q8_int(ops, 9, 160, n_tok, 0.0f);   /* an all-zero block */
    test_q8_int(ops, 9, 160, n_tok, 1e-22f); /* tiny, still quantized */
    test_q8_int(ops, 9, 160, n_tok, 1e-26f); /* below 2^-80: the f32 tiles */
    test_mxfp4_int(ops, 9, 96, n_tok, 1.0f);
    test_mxfp4_int(ops, 6, 64, n_tok, 1.0f);
    test_mxfp4_int(ops, 1, 32, n_tok, 1.0f);
    test_mxfp4_int(ops, 64, 2880, n_tok, 1.0f);
    test_mxfp4_int(ops, 9, 96, n_tok, 0.0f);   /* an all-zero block */
    test_mxfp4_int(ops, 9, 96, n_tok, 1e-25f); /* tiny, still quantized */
    test_mxfp4_int(ops, 9, 96, n_tok, 1e-33f); /* below 2^-100: the f32 tiles */
}

/* Ggml-layout blocks (17 bytes, scale inline), one tensor or gate/up split (rows even). */
static void test_mxfp4_ggml(const gptoss_cpu_ops *ops, size_t rows, size_t cols, size_t n_tok, int split) {
    const size_t E = 3, nb = cols / 32, bytes = E * rows * nb * 17;
    uint8_t *blocks = malloc(bytes);
    for (size_t i = 0; i < bytes; i++)
        blocks[i] = i % 17 ? (uint8_t)(frand() * 128 + 128) : (uint8_t)(120 + (int)((frand() + 1) * 5));
    blocks[0] = 0; blocks[bytes - 17] = 0; /* the subnormal 2^-127 */
    float *x = malloc((n_tok * (cols + 5)) * sizeof(float)), *bias = malloc(rows * sizeof(float));
    float *scratch = malloc(cols * sizeof(float));
    float *want = calloc(n_tok * rows, sizeof(float)), *got = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < n_tok * (cols + 5); i++) x[i] = frand();
    for (size_t i = 0; i < rows; i++) bias[i] = frand();
    gptoss_mxfp4 w = {.blocks = blocks, .n_experts = E, .rows = rows, .cols = cols, .layout = GPTOSS_MXFP4_GGML};
    if (split) w.blocks_odd = blocks + bytes / 2;
    for (uint64_t r0 = 0; r0 <= (rows > 2 ? 3 : 0); r0 += 3)
        for (uint64_t e = 0; e < E; e += 2) {
            gptoss_matmul_mxfp4_ggml_f32(want, rows, &w, e, e ? bias : NULL, x, cols + 5, n_tok, r0, rows, scratch);
            ops->mxfp4_ggml(got, rows, &w, e, e ? bias : NULL, x, cols + 5, n_tok, r0, rows);
            double err = rel_err(got + r0, want + r0, n_tok * rows - r0);
            tap_check(err < 2e-6, "%s mxfp4 ggml%s expert %llu: %zu rows (from %llu) x %zu cols x %zu tokens: rel err %.2g",
                      ops->name, split ? " gate/up" : "", (unsigned long long)e, rows, (unsigned long long)r0, cols,
                      n_tok, err);
        }
    free(blocks); free(x); free(bias); free(scratch); free(want); free(got);
}

#if defined(__x86_64__)
/* avx2f32's prefill tiles (4 rows x 3 tokens over rows widened once, in token groups that fit L2):
 * every output must have the bits the one-token tiles give it, whatever the row range, the token
 * count and the token group it falls in. */
static void test_avx2_prefill_bits(const gptoss_cpu_ops *ops, int mx, size_t rows, size_t cols, size_t n_tok) {
    const size_t nb = cols / 32, wbytes = mx ? rows * nb * 17 : gptoss_row_bytes(GPTOSS_DTYPE_BF16, cols) * rows;
    uint8_t *wd = malloc(wbytes);
    if (mx) {
        for (size_t i = 0; i < rows * nb * 16; i++) wd[i] = (uint8_t)(frand() * 128 + 128);
        for (size_t i = 0; i < rows * nb; i++) wd[rows * nb * 16 + i] = (uint8_t)(120 + (int)((frand() + 1) * 5));
    } else {
        fill_weights(wd, GPTOSS_DTYPE_BF16, rows, cols);
    }
    gptoss_mxfp4 w = {.blocks = wd, .scales = wd + rows * nb * 16, .n_experts = 1, .rows = rows, .cols = cols};
    gptoss_mat m = {wd, GPTOSS_DTYPE_BF16, rows, cols};
    float *x = malloc(n_tok * cols * sizeof(float)), *one = calloc(n_tok * rows, sizeof(float));
    float *all = calloc(n_tok * rows, sizeof(float)), *split = calloc(n_tok * rows, sizeof(float));
    for (size_t i = 0; i < n_tok * cols; i++) x[i] = frand();
    for (size_t t = 0; t < n_tok; t++) { /* one token at a time: the decode tiles */
        if (mx) ops->mxfp4(one + t * rows, rows, &w, 0, NULL, x + t * cols, cols, 1, 0, rows);
        else ops->dense(one + t * rows, rows, &m, NULL, x + t * cols, cols, 1, 0, rows);
    }
    const uint64_t cut[] = {0, 1, 7, rows / 2 + 1, rows};
    for (int k = 0; k < 4; k++) { /* ranges of 1, 6 and odd counts of rows */
        if (mx) ops->mxfp4(split, rows, &w, 0, NULL, x, cols, n_tok, cut[k], cut[k + 1]);
        else ops->dense(split, rows, &m, NULL, x, cols, n_tok, cut[k], cut[k + 1]);
    }
    if (mx) ops->mxfp4(all, rows, &w, 0, NULL, x, cols, n_tok, 0, rows);
    else ops->dense(all, rows, &m, NULL, x, cols, n_tok, 0, rows);
    int same = 1, nonzero = 0;
    for (size_t i = 0; i < n_tok * rows; i++) {
        same &= memcmp(&one[i], &all[i], 4) == 0 && memcmp(&one[i], &split[i], 4) == 0;
        nonzero |= all[i] != 0.0f;
    }
    tap_check(same && nonzero,
              "%s %s prefill: %zu rows x %zu cols x %zu tokens, the bits of the one-token tiles in any row split",
              ops->name, mx ? "mxfp4" : "bf16", rows, cols, n_tok);
    free(wd); free(x); free(one); free(all); free(split);
}
#endif

/* A CPU that runs every set, one without VBMI, one with none of a row's sets. */
static const gptoss_cpu_ops *runs_all(const char *name) { (void)name; return &gptoss_cpu_scalar; }
static const gptoss_cpu_ops *runs_no_vbmi(const char *name) { return strcmp(name, "avx512vbmi") ? &gptoss_cpu_scalar : NULL; }
static const gptoss_cpu_ops *runs_none(const char *name) { (void)name; return NULL; }

/* The measured-preference table: a listed family takes its row's first set that runs; other
 * families, and a row none of whose sets runs, fall back to the feature order (NULL); the pick at
 * start-up follows it. */
static void test_preference(void) {
    const char *what = NULL, *p = gptoss_cpu_preferred("AuthenticAMD", 0x1a, 0x02, runs_all, &what);
    tap_check(p && !strcmp(p, "avx512vbmi") && what && strstr(what, "Zen 5"), "Zen 5 prefers avx512vbmi (%s)", p ? p : "none");
    p = gptoss_cpu_preferred("AuthenticAMD", 0x1a, 0x44, runs_no_vbmi, NULL);
    tap_check(p && !strcmp(p, "avx512vnni"), "Zen 5 without VBMI: the row's next set (%s)", p ? p : "none");
    what = NULL;
    tap_check(!gptoss_cpu_preferred("AuthenticAMD", 0x1a, 0x02, runs_none, &what) && what,
              "a row none of whose sets runs gives no preference");
    what = NULL;
    tap_check(!gptoss_cpu_preferred("AuthenticAMD", 0x19, 0x61, runs_all, &what) && !what &&
                  !gptoss_cpu_preferred("GenuineIntel", 0x1a, 0x02, runs_all, NULL),
              "families without a row (Zen 4; another vendor's same numbers) take the feature order");
    char vendor[13];
    uint32_t family, model;
    const int known = gptoss_cpu_identity(vendor, &family, &model);
#if defined(__x86_64__)
    tap_check(known && strlen(vendor) == 12 && family > 0, "cpuid identity: %s family 0x%x model 0x%02x", vendor, family, model);
#else
    tap_check(!known && !vendor[0] && !family && !model, "no cpuid identity off x86-64");
#endif
    const char *env = getenv("GPTOSS_CPU"), *pref = known ? gptoss_cpu_preferred(vendor, family, model, gptoss_cpu_ops_named, NULL) : NULL;
    if (env && *env) tap_skip("the start-up pick follows the measured preference", "GPTOSS_CPU is set");
    else if (!pref) tap_skip("the start-up pick follows the measured preference", "no row for this CPU's family");
    else tap_check(!strcmp(gptoss_cpu_ops_best()->name, pref), "the start-up pick follows this family's measured preference (%s)", pref);
}

int main(void) {
    test_preference();
    float a[64], b[64];
    for (int i = 0; i < 64; i++) a[i] = (float)i;
    gptoss_mxfp4_order(b, a, 64);
    tap_check(b[0] == 0 && b[1] == 2 && b[15] == 30 && b[16] == 1 && b[31] == 31 && b[32] == 32 && b[48] == 33 &&
                  gptoss_mxfp4_pos(33) == 48 && gptoss_mxfp4_pos(30) == 15,
              "mxfp4 order: even elements then odd ones in each block of 32");
    /* avx2f32: the f32 tiles of the avx2 variants, whose 1-3 token MXFP4 / Q8_0 products are integer
     * ones (tests/test_kernels_avx2.c) */
    const char *names[] = {"scalar", "avx2f32", "avx512", "neon", "neondot", "neoni8mm"};
    const size_t toks[] = {1, 7, 33};
    for (int v = 0; v < 6; v++) {
        const gptoss_cpu_ops *ops = gptoss_cpu_ops_named(names[v]);
#if defined(__x86_64__)
        if (!strcmp(names[v], "avx2f32")) ops = gptoss_cpu_has_avx2() ? &gptoss_cpu_avx2_f32 : NULL;
#endif
        if (!ops) {
            tap_skip(names[v], "this CPU lacks it");
            continue;
        }
        /* token counts the integer kernels take: quantized activations, the bounds above */
        const int sdot = !strcmp(ops->name, "neondot") || !strcmp(ops->name, "neoni8mm");
        const int mmla = !strcmp(ops->name, "neoni8mm");
        for (int k = 0; k < 3; k++) {
            size_t nt = toks[k];
            const int integer = (nt == 1 && sdot) || (nt >= 2 && nt <= 8 && mmla);
            test_dense(ops, GPTOSS_DTYPE_F32, 7, 37, nt);
            test_dense(ops, GPTOSS_DTYPE_BF16, 13, 96, nt);
            test_dense(ops, GPTOSS_DTYPE_BF16, 5, 71, nt);
            test_dense(ops, GPTOSS_DTYPE_F16, 9, 45, nt);
            if (integer) {
                test_int_kernels(ops, nt);
            } else {
                test_dense(ops, GPTOSS_DTYPE_Q8_0, 11, 160, nt);
                test_dense(ops, GPTOSS_DTYPE_Q8_0, 1, 32, nt);
                test_mxfp4(ops, 9, 96, nt);
                test_mxfp4(ops, 6, 64, nt);
                test_mxfp4(ops, 1, 32, nt);
            }
            if (k == 0) { /* wider than the integer kernels take: the f32 tiles */
                test_mxfp4(ops, 5, 8224, nt);
                test_dense(ops, GPTOSS_DTYPE_Q8_0, 3, 8224, nt);
            }
            test_mxfp4_ggml(ops, 9, 96, nt, 0);
            test_mxfp4_ggml(ops, 1, 32, nt, 0);
            test_mxfp4_ggml(ops, 10, 64, nt, 1);
            test_mxfp4_ggml(ops, 14, 160, nt, 1);
        }
        if (mmla) { /* the SMMLA kernels' other token counts: pairs, a padded pair, their limit */
            test_int_kernels(ops, 2);
            test_int_kernels(ops, 3);
            test_int_kernels(ops, 8);
            test_dense(ops, GPTOSS_DTYPE_Q8_0, 5, 4128, 2); /* wider than SMMLA's 4096: the f32 tiles */
            test_mxfp4(ops, 5, 4128, 3);
            test_dense(ops, GPTOSS_DTYPE_Q8_0, 11, 160, 9); /* more than 8 tokens: the f32 tiles */
            test_mxfp4(ops, 9, 96, 9);
        }
    }
#if defined(__x86_64__)
    /* after the loop, so the random data of the tests above stay as they were */
    const gptoss_cpu_ops *ops = gptoss_cpu_has_avx2() ? &gptoss_cpu_avx2_f32 : NULL;
    if (ops) { /* avx2f32's prefill tiles at their edges: token tails, row tails, widths */
        for (size_t nt = 2; nt <= 6; nt++) {
            test_dense(ops, GPTOSS_DTYPE_BF16, 14, 96, nt);
            test_dense(ops, GPTOSS_DTYPE_F32, 6, 37, nt);
            test_dense(ops, GPTOSS_DTYPE_Q8_0, 7, 160, nt);
            test_mxfp4(ops, 11, 96, nt);
        }
        test_dense(ops, GPTOSS_DTYPE_F16, 6, 20, 5);    /* no whole block: the scalar tail only */
        test_dense(ops, GPTOSS_DTYPE_BF16, 5, 4096, 4); /* the widest rows the prefill tiles take */
        test_dense(ops, GPTOSS_DTYPE_BF16, 5, 4128, 4); /* wider: the 2 x 8 tiles */
        test_mxfp4(ops, 6, 4096, 5);
        test_avx2_prefill_bits(ops, 1, 26, 2880, 5);
        test_avx2_prefill_bits(ops, 0, 11, 4096, 7);
        test_avx2_prefill_bits(ops, 1, 9, 2880, 71); /* two token groups (over PF_XBYTES of x) */
        test_avx2_prefill_bits(ops, 0, 9, 2880, 70);
    }
#endif
    const gptoss_cpu_ops *best = gptoss_cpu_ops_best();
    tap_check(best != NULL, "start-up choice: %s", best ? best->name : "none");
    return tap_exit();
}
