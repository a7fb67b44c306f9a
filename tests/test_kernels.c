/* test_kernels.c: known-answer tests of the scalar reference kernels: MXFP4 decoding, the YaRN
 * frequency table, attention with a sink against a naive "append a column" softmax, the top-k router,
 * the clamped SwiGLU, RMSNorm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "cpu/kernels.h"
#include "model/model.h"
#include "tap.h"
#define TEST_RNG_SEED 88172645463325252ull
#include "test_rand.h"

static void test_mxfp4(void) {
    /* one expert, 2 rows, 64 cols: codes 0..15 repeating, scales 127 (x1), 128 (x2), 126, 130 */
    uint8_t blocks[2 * 2 * 16], scales[4] = {127, 128, 126, 130};
    for (int i = 0; i < 64; i++) blocks[i] = (uint8_t)((2 * i) % 16 | (((2 * i + 1) % 16) << 4));
    gptoss_mxfp4 w = {.blocks = blocks, .scales = scales, .n_experts = 1, .rows = 2, .cols = 64};
    float row[64];
    int ok = 1;
    for (int r = 0; r < 2; r++) {
        gptoss_mxfp4_row_to_f32(row, &w, 0, (uint64_t)r);
        for (int c = 0; c < 64; c++) {
            int code = (r * 64 + c) % 16;
            float want = gptoss_fp4_values[code] * ldexpf(1.0f, scales[r * 2 + c / 32] - 127);
            if (row[c] != want) ok = 0;
        }
    }
    tap_check(ok, "mxfp4: low nibble = even element, scale 2^(s-127), blocks along the input dim");
    tap_check(gptoss_fp4_values[7] == 6.0f && gptoss_fp4_values[9] == -0.5f && gptoss_fp4_values[1] == 0.5f,
              "mxfp4: E2M1 value table");
    /* matmul against the decoded matrix */
    float x[3 * 64], out[3 * 2], scratch[64];
    for (int i = 0; i < 3 * 64; i++) x[i] = frand();
    float bias[2] = {0.25f, -1.0f};
    gptoss_matmul_mxfp4_f32(out, 2, &w, 0, bias, x, 64, 3, 0, 2, scratch);
    double maxd = 0;
    for (int r = 0; r < 2; r++) {
        gptoss_mxfp4_row_to_f32(row, &w, 0, (uint64_t)r);
        for (int t = 0; t < 3; t++) {
            double s = bias[r];
            for (int c = 0; c < 64; c++) s += (double)row[c] * x[t * 64 + c];
            maxd = fmax(maxd, fabs(s - out[t * 2 + r]));
        }
    }
    tap_check(maxd < 1e-4, "matmul_mxfp4_f32 matches the decoded product (max diff %.2g)", maxd);
}

static void test_yarn(void) {
    /* gpt-oss: head_dim 64, theta 150000, factor 32, alpha 1, beta 32, original context 4096 */
    const double want[][2] = {{0, 1.0}, {1, 0.6890443059}, {2, 0.4747820555}, {8, 0.05081327482},
                              {9, 0.03170569618}, {12, 0.006794959490}, {17, 1.293187012e-4},
                              {18, 3.830881237e-5}, {31, 3.023511428e-7}};
    gptoss_model m;
    memset(&m, 0, sizeof m);
    m.config.head_dim = 64;
    m.config.rope_theta = 150000;
    m.config.rope_scaling_factor = 32;
    m.config.rope_ntk_alpha = 1;
    m.config.rope_ntk_beta = 32;
    m.config.initial_context_length = 4096;
    float inv[32];
    m.rope_inv_freq = inv;
    gptoss_model_init_rope(&m);
    double worst = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        double rel = fabs(inv[(int)want[i][0]] - want[i][1]) / want[i][1];
        if (rel > worst) worst = rel;
    }
    tap_check(worst < 2e-6, "yarn inv_freq matches spec values (worst relative error %.2g)", worst);
    tap_check(fabsf(m.rope_concentration - 1.3465735902799727f) < 1e-6f, "yarn concentration 0.1 ln 32 + 1");
    /* rotation: half-split pairs (i, i+32), cos and sin scaled by the concentration */
    float v[64], r[64];
    for (int i = 0; i < 64; i++) v[i] = r[i] = frand();
    gptoss_rope_f32(r, 1, 64, 1000, inv, m.rope_concentration);
    double md = 0;
    for (int i = 0; i < 32; i++) {
        double a = (float)1000 * inv[i], c = cos(a) * m.rope_concentration, s = sin(a) * m.rope_concentration;
        md = fmax(md, fabs(r[i] - (v[i] * c - v[i + 32] * s)));
        md = fmax(md, fabs(r[i + 32] - (v[i + 32] * c + v[i] * s)));
    }
    tap_check(md < 1e-4, "rope rotates half-split pairs (max diff %.2g)", md);
}

static void test_attention(void) {
    enum { DH = 16, N = 9, STRIDE = 3 * DH };
    float q[DH], k[N * STRIDE], v[N * STRIDE], out[DH], scores[N];
    uint32_t slots[N];
    for (int i = 0; i < DH; i++) q[i] = frand() * 2;
    for (int i = 0; i < N * STRIDE; i++) { k[i] = frand() * 2; v[i] = frand(); }
    for (int j = 0; j < N; j++) slots[j] = (uint32_t)((j * 4) % N); /* a permutation, as a ring would be */
    const float sink = 0.7f, scale = 0.25f;
    gptoss_attention_head_f32(out, q, k + DH, v + DH, STRIDE, slots, N, DH, scale, sink, scores);
    /* naive: softmax over [logits..., sink], drop the sink column */
    double logit[N + 1], mx = sink, z = 0;
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int d = 0; d < DH; d++) s += (double)q[d] * k[slots[j] * STRIDE + DH + d];
        logit[j] = s * scale;
        if (logit[j] > mx) mx = logit[j];
    }
    logit[N] = sink;
    for (int j = 0; j <= N; j++) z += exp(logit[j] - mx);
    double md = 0, mass = 0;
    for (int d = 0; d < DH; d++) {
        double o = 0;
        for (int j = 0; j < N; j++) o += exp(logit[j] - mx) / z * v[slots[j] * STRIDE + DH + d];
        md = fmax(md, fabs(o - out[d]));
    }
    for (int j = 0; j < N; j++) mass += exp(logit[j] - mx) / z;
    tap_check(md < 1e-5, "attention with sink equals the append-a-column softmax (max diff %.2g)", md);
    tap_check(mass < 1.0, "the sink takes probability mass (weights over keys sum to %.4f < 1)", mass);
}

static void test_router(void) {
    float logits[8] = {0.1f, 2.0f, -1.0f, 2.0f, 0.5f, 3.0f, NAN, 1.0f};
    uint32_t idx[4];
    float w[4];
    gptoss_topk_softmax_f32(logits, 8, 4, idx, w);
    tap_check(idx[0] == 5 && idx[1] == 1 && idx[2] == 3 && idx[3] == 7,
              "router top-4 descending, lowest index on ties, NaN never chosen (%u %u %u %u)", idx[0], idx[1], idx[2],
              idx[3]);
    double z = exp(3.0) + 2 * exp(2.0) + exp(1.0);
    tap_check(fabs(w[0] - exp(3.0) / z) < 1e-6 && fabs(w[3] - exp(1.0) / z) < 1e-6 &&
                  fabs(w[0] + w[1] + w[2] + w[3] - 1) < 1e-6,
              "router softmax over the selected logits only");
}

static void test_swiglu(void) {
    float u[] = {10.0f, 10.0f, -10.0f, -10.0f, 1.0f, 0.5f, 7.5f, -8.0f};
    float a[4];
    gptoss_swiglu_f32(a, u, 4, 7.0f);
    double want[4];
    double g[4] = {7.0, -10.0, 1.0, 7.0}, lin[4] = {7.0, -7.0, 0.5, -7.0};
    double md = 0;
    for (int i = 0; i < 4; i++) {
        want[i] = g[i] / (1 + exp(-1.702 * g[i])) * (lin[i] + 1);
        md = fmax(md, fabs(want[i] - a[i]) / fmax(1.0, fabs(want[i])));
    }
    tap_check(md < 1e-6, "swiglu: gate clamped above only, linear clamped both sides, +1 on linear (%.2g)", md);
}

static void test_rmsnorm(void) {
    float x[5] = {1, -2, 3, -4, 5}, g[5] = {1, 0.5f, 2, 1, -1}, y[5];
    gptoss_rmsnorm_f32(y, x, g, 5, 1e-5f);
    double ms = (1 + 4 + 9 + 16 + 25) / 5.0, inv = 1 / sqrt(ms + 1e-5), md = 0;
    for (int i = 0; i < 5; i++) md = fmax(md, fabs(y[i] - x[i] * inv * g[i]));
    tap_check(md < 1e-6, "rmsnorm: no mean subtraction, gain used as stored");
}

static void test_dense(void) {
    enum { R = 7, C = 37, T = 3 };
    uint16_t wb[R * C];
    float wf[R * C], x[T * C], out[T * R], bias[R], scratch[C];
    for (int i = 0; i < R * C; i++) {
        wb[i] = gptoss_f32_to_bf16(frand());
        wf[i] = gptoss_bf16_to_f32(wb[i]);
    }
    for (int i = 0; i < T * C; i++) x[i] = frand();
    for (int i = 0; i < R; i++) bias[i] = frand();
    gptoss_mat mb = {wb, GPTOSS_DTYPE_BF16, R, C}, mf = {wf, GPTOSS_DTYPE_F32, R, C};
    double md = 0;
    for (int pass = 0; pass < 2; pass++) {
        gptoss_matmul_dense_f32(out, R, pass ? &mf : &mb, bias, x, C, T, 2, R, scratch);
        for (int t = 0; t < T; t++)
            for (int r = 2; r < R; r++) {
                double s = bias[r];
                for (int c = 0; c < C; c++) s += (double)wf[r * C + c] * x[t * C + c];
                md = fmax(md, fabs(s - out[t * R + r]));
            }
    }
    tap_check(md < 1e-5, "matmul bf16/f32 x f32 on an odd shape and row range (max diff %.2g)", md);
}

/* bf24: f32's upper three bytes, rounded to nearest even; finite overflow saturates. */
static void test_bf24(void) {
    int all = 1;
    for (uint32_t b = 0; b < (1u << 24); b++) {
        const float f = gptoss_bf24_to_f32((uint16_t)(b >> 8), (uint8_t)b);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        all &= bits == b << 8 && (f != f ? (gptoss_f32_to_bf24(f) >> 15 & 0xff) == 0xff && (gptoss_f32_to_bf24(f) & 0x7fff)
                                         : gptoss_f32_to_bf24(f) == b);
    }
    tap_check(all, "bf24: all 2^24 codes widen to their bits and round back to themselves (inf, NaN, subnormals, -0)");
    const float one = 1.0f, half_ulp = 0x1p-16f; /* bf24 keeps 15 mantissa bits: its ulp at 1 is 2^-15 */
    const uint32_t inf = 0x7f8000u, max = 0x7f7fffu;
    int ok = gptoss_f32_to_bf24(one + half_ulp) == 0x3f8000u && gptoss_f32_to_bf24(one + 3 * half_ulp) == 0x3f8002u &&
             gptoss_f32_to_bf24(one + half_ulp * 1.5f) == 0x3f8001u && gptoss_f32_to_bf24(-one - half_ulp * 0.5f) == 0xbf8000u;
    ok &= gptoss_f32_to_bf24(3.4028235e38f) == max && gptoss_f32_to_bf24(-3.4028235e38f) == (max | 0x800000u) &&
          gptoss_f32_to_bf24(INFINITY) == inf && gptoss_f32_to_bf24(-INFINITY) == (inf | 0x800000u) &&
          gptoss_f32_to_bf24(0x1p-149f) == 0 && gptoss_f32_to_bf24(0x1p-140f) == 0x000002u;
    tap_check(ok, "bf24: ties to even, above and below halfway, finite overflow saturates, inf kept, subnormals round");
    const float row[5] = {1.0f, -2.5f, 0x1.234568p-3f, 1e-40f, -3.4028235e38f};
    uint8_t r24[15];
    gptoss_f32_to_bf24_row(r24, row, 5);
    int laid = 1;
    for (int i = 0; i < 5; i++) {
        const uint32_t b = gptoss_f32_to_bf24(row[i]);
        laid &= r24[2 * i] == (uint8_t)(b >> 8) && r24[2 * i + 1] == (uint8_t)(b >> 16) && r24[10 + i] == (uint8_t)b;
        laid &= fabsf(gptoss_bf24_row_get(r24, 5, (size_t)i) - row[i]) <= fmaxf(fabsf(row[i]) * 0x1p-16f, 0x1p-142f);
    }
    tap_check(laid, "bf24 rows: the upper halves, then the third bytes; each read back within half an ulp");
}

static void test_q8_0(void) {
    /* f16: exact values, rounding to nearest even, subnormals, overflow */
    const float exact[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.9604644775390625e-08f, 0.333251953125f};
    int ok = 1;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) ok &= gptoss_f16_to_f32(gptoss_f32_to_f16(exact[i])) == exact[i];
    ok &= gptoss_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00 && gptoss_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02;
    ok &= gptoss_f32_to_f16(1e6f) == 0x7c00 && gptoss_f32_to_f16(-1e-9f) == 0x8000;
    tap_check(ok, "f16: round trip of exact values, ties to even, overflow and underflow");
    /* every f16 code widens to sign * 2^(e-15) * (1 + m/1024) (subnormals 2^-24 * m) and back to itself */
    int all = 1;
    for (uint32_t h = 0; h < 65536; h++) {
        const uint32_t e = (h >> 10) & 31, m = h & 1023;
        const float f = gptoss_f16_to_f32((uint16_t)h), mag = e ? ldexpf(1.0f + m / 1024.0f, (int)e - 15) : ldexpf((float)m, -24);
        if (e == 31) all &= m ? f != f : isinf(f) && (f < 0) == (h >> 15);
        else all &= f == (h >> 15 ? -mag : mag) && !!signbit(f) == (int)(h >> 15) && gptoss_f32_to_f16(f) == h;
    }
    tap_check(all, "f16: all 65536 codes widen exactly (inf, NaN, subnormals, -0) and round back to themselves");
    const float row[] = {1e30f, -70000.0f, 65519.0f, 65520.0f, -1.0f, 3.0e-8f, NAN};
    uint16_t h16[7];
    gptoss_f32_to_f16_row(h16, row, 7);
    tap_check(h16[0] == 0x7bff && h16[1] == 0xfbff && h16[2] == 0x7bff && h16[3] == 0x7bff && h16[4] == 0xbc00 &&
                  h16[5] == 0x0001 && (h16[6] & 0x7c00) == 0x7c00 && (h16[6] & 0x3ff),
              "f16 rows: beyond +-65504 saturate, no infinity; rounding, subnormals, NaN kept");
    /* Q8_0 blocks: ggml layout (f16 d, 32 int8), error at most d/2 per element */
    enum { R = 3, C = 96 };
    float w[R * C], back[R * C];
    for (int i = 0; i < R * C; i++) w[i] = frand() * (i % 32 == 5 ? 4.0f : 1.0f);
    w[40] = 0; /* a block with a zero */
    for (int i = 64; i < 96; i++) w[i] = 0; /* an all-zero block: d = 0 */
    uint8_t q[R * C / 32 * 34];
    for (int r = 0; r < R; r++) gptoss_quantize_row_q8_0(q + (size_t)r * (C / 32) * 34, w + r * C, C);
    tap_check(sizeof(gptoss_block_q8_0) == 34 && gptoss_row_bytes(GPTOSS_DTYPE_Q8_0, C) == 102, "q8_0: 34-byte blocks");
    gptoss_to_f32(back, q, GPTOSS_DTYPE_Q8_0, 0, R * C);
    double worst = 0;
    for (int i = 0; i < R * C; i++) {
        float amax = 0;
        for (int j = i / 32 * 32; j < i / 32 * 32 + 32; j++) amax = fmaxf(amax, fabsf(w[j]));
        double tol = amax / 127.0 * (0.5 + 127.0 / 2048) + 1e-7; /* d itself is rounded to f16 */
        if (fabs(back[i] - w[i]) > tol) ok = 0;
        worst = fmax(worst, fabs(back[i] - w[i]) / (amax ? amax : 1));
    }
    tap_check(ok, "q8_0: quantize/dequantize within half a step plus the f16 rounding of d (worst %.3g of the block max)", worst);
    float part[7];
    gptoss_to_f32(part, q, GPTOSS_DTYPE_Q8_0, 30, 7); /* crosses a block boundary */
    tap_check(!memcmp(part, back + 30, sizeof part), "q8_0: widening from an offset inside a block");
    /* reference matmul on Q8_0 = the f32 matmul of the dequantized matrix */
    float x[2 * C], o1[2 * R], o2[2 * R], scratch[C];
    for (int i = 0; i < 2 * C; i++) x[i] = frand();
    gptoss_mat mq = {q, GPTOSS_DTYPE_Q8_0, R, C}, mf = {back, GPTOSS_DTYPE_F32, R, C};
    memset(o1, 0, sizeof o1);
    memset(o2, 0xff, sizeof o2); /* NaN bits: an output left unwritten never equals the other */
    gptoss_matmul_dense_f32(o1, R, &mq, NULL, x, C, 2, 0, R, scratch);
    gptoss_matmul_dense_f32(o2, R, &mf, NULL, x, C, 2, 0, R, scratch);
    tap_check(!memcmp(o1, o2, sizeof o1), "q8_0: matmul_dense_f32 equals the product with the widened matrix");
}

int main(void) {
    test_bf24();
    test_q8_0();
    test_mxfp4();
    test_yarn();
    test_attention();
    test_router();
    test_swiglu();
    test_rmsnorm();
    test_dense();
    return tap_exit();
}
