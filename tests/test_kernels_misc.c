/* test_kernels_misc.c: the fast kernels besides the matrix products, against their references.
 * Attention: every fast attention kernel this CPU runs against the reference
 * (gptoss_attention_head_f32): 1 to 300 keys (partial groups of sixteen), head_dim 16..128 and one
 * the fast kernel hands back to the reference (40), slots out of order as a ring buffer leaves them,
 * a sink that dominates and one that does not, scores far apart (underflowing exponentials). f32
 * throughout: the bound is on max |got - want| / max |v| < 1e-5.
 * SwiGLU into MXFP4 order: against gptoss_swiglu_f32 then gptoss_mxfp4_order, on gates and linear
 * parts inside, at and beyond the clamp limit (both signs) and gates whose exponential overflows:
 * relative difference < 1e-6. */
#include <math.h>
#include <stdlib.h>

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
    int any = 0;
    for (int i = 0; i < 4; i++) {
        const gptoss_cpu_ops *ops = gptoss_cpu_ops_named(names[i]);
        if (ops && ops->swiglu_mx) {
            test_swiglu(ops, 1, 7.0f);
            test_swiglu(ops, 5, 3.5f);
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
    return tap_exit();
}
