/* test_kernels_misc.c: the fast kernels besides the matrix products, against their references.
 * Attention: every fast attention kernel this CPU runs against the reference
 * (gptoss_attention_head_f32): 1 to 300 keys (partial groups of sixteen), head_dim 16..128 and one
 * the fast kernel hands back to the reference (40), slots out of order as a ring buffer leaves them,
 * a sink that dominates and one that does not, scores far apart (underflowing exponentials). f32
 * throughout: the bound is on max |got - want| / max |v| < 1e-5.
 * Grouped attention (the query heads of one kv head in one pass): each head's output bit for bit
 * what the variant's one-head kernel gives, on 1 to 577 keys, 1, 3 and 8 heads (the values in
 * groups of heads and the heads left over), head_dim 16, 48, 64 and 80, shuffled slots, a row stride
 * beyond the kv heads, strided query and output rows, |q| ~1, ~4 and ~30, a different sink per head;
 * and the shapes it hands to the one-head kernel (head_dim 160 and 40, 17 heads).
 * SwiGLU into MXFP4 order: against gptoss_swiglu_f32 then gptoss_mxfp4_order, on gates and linear
 * parts inside, at and beyond the clamp limit (both signs) and gates whose exponential overflows:
 * relative difference < 1e-6. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "tap.h"
#include "test_rand.h"

static void test_case(const gptoss_cpu_ops *ops, uint32_t n_keys, uint32_t dh, float qscale, float sink) {
    const size_t stride = (size_t)dh * 3 + 5, cap = (size_t)n_keys + 7;
    float *k = malloc(cap * stride * sizeof(float)), *v = malloc(cap * stride * sizeof(float));
    float *q = malloc(dh * sizeof(float)), *want = malloc(dh * sizeof(float)), *got = malloc(dh * sizeof(float));
    float *scores = malloc(cap * sizeof(float));
    uint32_t *slots = malloc(n_keys * sizeof(uint32_t));
    for (size_t i = 0; i < cap * stride; i++) k[i] = frand(), v[i] = frand();
    for (uint32_t d = 0; d < dh; d++) q[d] = frand() * qscale;
    for (uint32_t j = 0; j < n_keys; j++) slots[j] = (uint32_t)((j + 5) % cap); /* wrapped ring */
    const float scale = 1.0f / sqrtf((float)dh);
    gptoss_attention_head_f32(want, q, k + dh, v + dh, stride, slots, n_keys, dh, scale, sink, scores);
    ops->attention(got, q, k + dh, v + dh, stride, slots, n_keys, dh, scale, sink, scores);
    double md = 0;
    for (uint32_t d = 0; d < dh; d++) md = fmax(md, fabs((double)got[d] - want[d]) + (got[d] != got[d]));
    tap_check(md < 1e-5, "%s attention: %u keys, head_dim %u, |q| ~%g, sink %g: max diff %.2g", ops->name, n_keys, dh,
              (double)qscale, (double)sink, md);
    free(k); free(v); free(q); free(want); free(got); free(scores); free(slots);
}

static void test_group(const gptoss_cpu_ops *ops, uint32_t n_keys, uint32_t G, uint32_t dh, float qscale) {
    /* a second kv head's columns of rows 512 + 16 floats apart, slots a shuffled subset of the rows */
    const size_t stride = 512 + 16, cap = (size_t)n_keys + 9, qs = dh + 3, os = dh + 5, ld = (n_keys + 15) / 16 * 16;
    float *k = malloc(cap * stride * sizeof(float)), *v = malloc(cap * stride * sizeof(float));
    float *q = malloc(G * qs * sizeof(float)), *sinks = malloc(G * sizeof(float));
    float *want = malloc(G * os * sizeof(float)), *got = malloc(G * os * sizeof(float));
    float *scores = malloc(G * ld * sizeof(float));
    uint32_t *perm = malloc(cap * sizeof(uint32_t));
    for (size_t i = 0; i < cap * stride; i++) k[i] = frand(), v[i] = frand();
    for (size_t i = 0; i < G * qs; i++) q[i] = frand() * qscale;
    for (uint32_t h = 0; h < G; h++) sinks[h] = frand() * 3.0f;
    for (size_t i = 0; i < cap; i++) perm[i] = (uint32_t)i;
    for (size_t i = cap - 1; i > 0; i--) {
        size_t r = (size_t)((frand() + 1.0f) * 0.5f * (float)(i + 1));
        if (r > i) r = i;
        uint32_t x = perm[i];
        perm[i] = perm[r], perm[r] = x;
    }
    memset(want, 0, G * os * sizeof(float));
    memset(got, 0xff, G * os * sizeof(float)); /* NaN wherever the kernel fails to write */
    const float scale = 1.0f / sqrtf((float)dh);
    for (uint32_t h = 0; h < G; h++)
        ops->attention(want + h * os, q + h * qs, k + dh, v + dh, stride, perm, n_keys, dh, scale, sinks[h], scores);
    ops->attention_group(got, os, q, qs, G, k + dh, v + dh, stride, perm, n_keys, dh, scale, sinks, scores);
    int same = 1;
    for (uint32_t h = 0; h < G; h++) same &= !memcmp(want + h * os, got + h * os, dh * sizeof(float));
    tap_check(same, "%s grouped attention: %u keys, %u heads, head_dim %u, |q| ~%g: bit-identical to per head",
              ops->name, n_keys, G, dh, (double)qscale);
    free(k); free(v); free(q); free(sinks); free(want); free(got); free(scores); free(perm);
}

static void test_swiglu(const gptoss_cpu_ops *ops, size_t n_blocks, float limit) {
    const size_t n = n_blocks * 32;
    float *u = malloc(2 * n * sizeof(float)), *ref = malloc(n * sizeof(float)), *want = malloc(n * sizeof(float));
    float *got = malloc(n * sizeof(float));
    for (size_t i = 0; i < 2 * n; i++) u[i] = frand() * (i % 5 == 0 ? 100.0f : 10.0f);
    u[0] = -200.0f; /* e^(1.702 * 200) overflows */
    gptoss_swiglu_f32(ref, u, n, limit);
    gptoss_mxfp4_order(want, ref, n);
    ops->swiglu_mx(got, u, n_blocks, limit);
    double md = 0;
    for (size_t i = 0; i < n; i++)
        md = fmax(md, fabs((double)got[i] - want[i]) / fmax(1.0, fabs((double)want[i])) + (got[i] != got[i]));
    tap_check(md < 1e-6, "%s swiglu into mxfp4 order: %zu blocks, limit %g: max rel diff %.2g", ops->name, n_blocks,
              (double)limit, md);
    free(u); free(ref); free(want); free(got);
}

int main(void) {
    const char *names[] = {"scalar", "avx2", "avx512", "amx"};
    int any = 0, any_group = 0;
    for (int i = 0; i < 4; i++) {
        const gptoss_cpu_ops *ops = gptoss_cpu_ops_named(names[i]);
        if (ops && ops->swiglu_mx) {
            test_swiglu(ops, 1, 7.0f);
            test_swiglu(ops, 5, 3.5f);
        }
        if (ops && ops->attention && ops->attention_group) {
            any_group = 1;
            const uint32_t keys[] = {1, 15, 16, 17, 100, 577}, heads[] = {1, 3, 8}, dims[] = {16, 64, 48, 80};
            for (int a = 0; a < 6; a++)
                for (int b = 0; b < 3; b++)
                    for (int d = 0; d < 4; d++)
                        test_group(ops, keys[a], heads[b], dims[d], (a + b + d) % 2 ? 4.0f : 1.0f);
            test_group(ops, 100, 8, 64, 30.0f); /* scores far apart: most weights underflow */
            test_group(ops, 100, 3, 160, 1.0f); /* rows longer than the grouped copies: per head */
            test_group(ops, 17, 8, 40, 1.0f);   /* head_dim not a multiple of 16: per head, the reference */
            test_group(ops, 33, 17, 64, 1.0f);  /* more heads than the grouped copies take: per head */
        }
        if (!ops || !ops->attention) continue;
        any = 1;
        const uint32_t keys[] = {1, 15, 16, 17, 33, 300};
        for (int a = 0; a < 6; a++) {
            test_case(ops, keys[a], 64, 1.0f, 0.5f);
            test_case(ops, keys[a], 16, 3.0f, -2.0f);
        }
        test_case(ops, 40, 128, 1.0f, 20.0f);  /* the sink takes nearly everything */
        test_case(ops, 40, 64, 60.0f, -30.0f); /* scores far apart: most weights underflow */
        test_case(ops, 21, 40, 1.0f, 0.0f);    /* head_dim not a multiple of 16: the reference */
        test_case(ops, 64, 48, 2.0f, 1.0f);
    }
    if (!any) tap_skip("fast attention", "no variant with a fast attention kernel on this CPU");
    if (!any_group) tap_skip("grouped attention", "no variant with a grouped attention kernel on this CPU");
    return tap_exit();
}
