/* test_kernels_misc.c: the fast kernels besides the matrix products, against their references.
 * Attention: every fast attention kernel this CPU runs against the reference
 * (gptoss_attention_head_f32): 1 to 300 keys (partial groups of sixteen), head_dim 16..128 and one
 * the fast kernel hands back to the reference (40), slots out of order as a ring buffer leaves them,
 * a sink that dominates and one that does not, scores far apart (underflowing exponentials); NEON's
 * (neon, neondot: the same functions) on 18, 32, 36 and 40 too, multiples of 4 but not of 16. f32
 * throughout: the bound is on max |got - want| / max |v| < 1e-5.
 * Grouped attention (the query heads of one kv head in one pass): each head's output bit for bit
 * what the variant's one-head kernel gives, on 1 to 577 keys, 1, 3 and 8 heads (the values in
 * groups of heads and the heads left over), head_dim 16, 48, 64 and 80, shuffled slots, a row stride
 * beyond the kv heads, strided query and output rows, |q| ~1, ~4 and ~30, a different sink per head;
 * and the shapes it hands to the one-head kernel (head_dim 160 and 40, 17 heads); for NEON head_dim 32
 * (two heads per value pass, one left over), 36, and 18 (per head, the reference).
 * AVX2's (avx2, avx2vnni: the same functions; eight keys per block, head_dim a multiple of 8) on 7,
 * 8 and 9 keys besides, head_dim 8 and 24 to 136 (one- to sixteen-vector rows: the value pass in
 * chunks of 8, 4, 2 and 1 vectors), the grouped kernel's per-head fallback past 128 and the one-head
 * kernel's reference past 256; each skipped where the CPU lacks it. The one-head kernels get a
 * scores buffer of exactly n_keys floats, so a write past it shows under the sanitizers.
 * Both again with the keys and values cached as f16 and as bf24 (session option kv_type), against
 * gptoss_attention_head_f16 / _bf24, which themselves must give gptoss_attention_head_f32's bits on
 * the same cache widened to f32.
 * SwiGLU into MXFP4 order: against gptoss_swiglu_f32 then gptoss_mxfp4_order, on gates and linear
 * parts inside, at and beyond the clamp limit (both signs) and gates whose exponential overflows:
 * relative difference < 1e-6. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "tap.h"
#include "test_rand.h"

enum { F32, F16, BF24 };
static const char *const type_names[] = {"f32", "f16", "bf24"};

/* One cache of rows x stride keys and values in every type. The f32 copies hold the values the
 * cache of `type` holds, widened, so that every reference sees the same numbers. A kv head's
 * columns start `off` elements into each row: dh (a second kv head) for f32 and f16; a bf24 row
 * keeps its upper halves and third bytes apart, so there the head is the row's first dh columns. */
typedef struct cache {
    float *k, *v;
    uint16_t *k16, *v16;
    uint8_t *k24, *v24;
    size_t off;
} cache;

static cache cache_new(size_t rows, size_t stride, size_t dh, int type) {
    const size_t n = rows * stride;
    cache c = {malloc(n * sizeof(float)), malloc(n * sizeof(float)), malloc(n * 2), malloc(n * 2), malloc(n * 3),
               malloc(n * 3), type == BF24 ? 0 : dh};
    for (size_t i = 0; i < n; i++) {
        c.k[i] = frand(), c.v[i] = frand();
        c.k16[i] = gptoss_f32_to_f16(c.k[i]), c.v16[i] = gptoss_f32_to_f16(c.v[i]);
        if (type == F16) c.k[i] = gptoss_f16_to_f32(c.k16[i]), c.v[i] = gptoss_f16_to_f32(c.v16[i]);
    }
    for (size_t r = 0; r < rows; r++) {
        gptoss_f32_to_bf24_row(c.k24 + 3 * stride * r, c.k + stride * r, stride);
        gptoss_f32_to_bf24_row(c.v24 + 3 * stride * r, c.v + stride * r, stride);
        for (size_t i = 0; type == BF24 && i < stride; i++) {
            c.k[stride * r + i] = gptoss_bf24_row_get(c.k24 + 3 * stride * r, stride, i);
            c.v[stride * r + i] = gptoss_bf24_row_get(c.v24 + 3 * stride * r, stride, i);
        }
    }
    return c;
}

static void cache_free(cache *c) {
    free(c->k); free(c->v); free(c->k16); free(c->v16); free(c->k24); free(c->v24);
}

/* The one-head reference or (ops set) ops's one-head kernel for the cache's `type` copy. */
static void head(const gptoss_cpu_ops *ops, int type, float *out, const float *q, const cache *c, size_t stride,
                 const uint32_t *slots, uint32_t n_keys, uint32_t dh, float scale, float sink, float *scores) {
    const size_t o = c->off;
    if (type == F16)
        (ops ? ops->attention_f16 : gptoss_attention_head_f16)(out, q, c->k16 + o, c->v16 + o, stride, slots, n_keys,
                                                               dh, scale, sink, scores);
    else if (type == BF24)
        (ops ? ops->attention_bf24 : gptoss_attention_head_bf24)(out, q, c->k24, c->v24, stride, slots, n_keys, dh,
                                                                 scale, sink, scores);
    else
        (ops ? ops->attention : gptoss_attention_head_f32)(out, q, c->k + o, c->v + o, stride, slots, n_keys, dh,
                                                           scale, sink, scores);
}

static void test_case(const gptoss_cpu_ops *ops, uint32_t n_keys, uint32_t dh, float qscale, float sink, int type) {
    const size_t stride = (size_t)dh * 3 + 5, cap = (size_t)n_keys + 7;
    cache c = cache_new(cap, stride, dh, type);
    float *q = malloc(dh * sizeof(float)), *want = malloc(dh * sizeof(float)), *got = malloc(dh * sizeof(float));
    float *scores = malloc(n_keys * sizeof(float)); /* the contract's size, no slack */
    uint32_t *slots = malloc(n_keys * sizeof(uint32_t));
    for (uint32_t d = 0; d < dh; d++) q[d] = frand() * qscale;
    for (uint32_t j = 0; j < n_keys; j++) slots[j] = (uint32_t)((j + 5) % cap); /* wrapped ring */
    const float scale = 1.0f / sqrtf((float)dh);
    if (type != F32) {
        memset(want, 0, dh * sizeof(float));
        memset(got, 0xff, dh * sizeof(float)); /* NaN bits: an output left unwritten never equals the other */
        head(NULL, F32, want, q, &c, stride, slots, n_keys, dh, scale, sink, scores);
        head(NULL, type, got, q, &c, stride, slots, n_keys, dh, scale, sink, scores);
        tap_check(!memcmp(want, got, dh * sizeof(float)),
                  "%s attention reference: %u keys, head_dim %u: bit-identical to f32 on the widened cache",
                  type_names[type], n_keys, dh);
    }
    head(NULL, type, want, q, &c, stride, slots, n_keys, dh, scale, sink, scores);
    head(ops, type, got, q, &c, stride, slots, n_keys, dh, scale, sink, scores);
    double md = 0;
    for (uint32_t d = 0; d < dh; d++) md = fmax(md, fabs((double)got[d] - want[d]) + (got[d] != got[d]));
    tap_check(md < 1e-5, "%s attention (%s cache): %u keys, head_dim %u, |q| ~%g, sink %g: max diff %.2g", ops->name,
              type_names[type], n_keys, dh, (double)qscale, (double)sink, md);
    cache_free(&c);
    free(q); free(want); free(got); free(scores); free(slots);
}

static void test_group(const gptoss_cpu_ops *ops, uint32_t n_keys, uint32_t G, uint32_t dh, float qscale, int type) {
    /* a second kv head's columns of rows 512 + 16 floats apart, slots a shuffled subset of the rows */
    const size_t stride = 512 + 16, cap = (size_t)n_keys + 9, qs = dh + 3, os = dh + 5, ld = (n_keys + 15) / 16 * 16;
    cache c = cache_new(cap, stride, dh, type);
    float *q = malloc(G * qs * sizeof(float)), *sinks = malloc(G * sizeof(float));
    float *want = malloc(G * os * sizeof(float)), *got = malloc(G * os * sizeof(float));
    float *scores = malloc(G * ld * sizeof(float));
    uint32_t *perm = malloc(cap * sizeof(uint32_t));
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
        head(ops, type, want + h * os, q + h * qs, &c, stride, perm, n_keys, dh, scale, sinks[h], scores);
    const size_t o = c.off;
    if (type == F16)
        ops->attention_group_f16(got, os, q, qs, G, c.k16 + o, c.v16 + o, stride, perm, n_keys, dh, scale, sinks,
                                 scores);
    else if (type == BF24)
        ops->attention_group_bf24(got, os, q, qs, G, c.k24, c.v24, stride, perm, n_keys, dh, scale, sinks, scores);
    else
        ops->attention_group(got, os, q, qs, G, c.k + o, c.v + o, stride, perm, n_keys, dh, scale, sinks, scores);
    int same = 1;
    for (uint32_t h = 0; h < G; h++) same &= !memcmp(want + h * os, got + h * os, dh * sizeof(float));
    tap_check(same, "%s grouped attention (%s cache): %u keys, %u heads, head_dim %u, |q| ~%g: bit-identical to per head",
              ops->name, type_names[type], n_keys, G, dh, (double)qscale);
    cache_free(&c);
    free(q); free(sinks); free(want); free(got); free(scores); free(perm);
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
    /* a plain compare, not fmax: Debian's aarch64 gcc 12 dies (ICE in vect_transform_reduction)
     * vectorizing this fmax reduction; a NaN output counts as an infinite difference */
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]) / fmax(1.0, fabs((double)want[i]));
        if (d != d) d = INFINITY;
        if (d > md) md = d;
    }
    tap_check(md < 1e-6, "%s swiglu into mxfp4 order: %zu blocks, limit %g: max rel diff %.2g", ops->name, n_blocks,
              (double)limit, md);
    free(u); free(ref); free(want); free(got);
}

/* The shapes particular to AVX2's eight-key blocks and eight-lane rows (each type of cache). */
static void test_avx2_shapes(const gptoss_cpu_ops *ops, int type) {
    const uint32_t keys[] = {7, 8, 9};
    for (int a = 0; a < 3; a++) {
        test_case(ops, keys[a], 64, 1.0f, 0.5f, type);
        test_case(ops, keys[a], 8, 2.0f, -1.0f, type);
        test_group(ops, keys[a], 8, 64, 1.0f, type);
        test_group(ops, keys[a], 3, 24, 4.0f, type);
    }
    /* head_dim: vectors per row 1, 3, 7, 9, 12, 16 (chunks of 1, 1, 1, 1, 4, 8), 17 (grouped: per head) */
    const uint32_t dims[] = {8, 24, 56, 72, 96, 128, 136};
    for (int d = 0; d < 7; d++) {
        test_case(ops, 41, dims[d], 1.0f, 0.0f, type);
        test_group(ops, 75, 8, dims[d], d % 2 ? 4.0f : 1.0f, type);
        test_group(ops, 31, 5, dims[d], 1.0f, type);
    }
    test_case(ops, 70, 256, 1.0f, 0.0f, type); /* the longest row the one-head kernel takes */
    test_case(ops, 19, 264, 1.0f, 0.0f, type); /* longer: the reference */
    test_group(ops, 40, 2, 264, 1.0f, type);
    test_group(ops, 40, 16, 64, 1.0f, type);   /* the most heads the grouped kernel takes */
}

int main(void) {
    const char *names[] = {"scalar", "avx2", "avx2vnni", "avx512", "amx", "neon", "neondot"};
    int any = 0, any_group = 0;
#if defined(__x86_64__)
    if (!gptoss_cpu_ops_named("avx2")) tap_skip("avx2 attention and swiglu", "this CPU (or build) lacks AVX2 + FMA");
    if (!gptoss_cpu_ops_named("avx2vnni"))
        tap_skip("avx2vnni attention and swiglu", "this CPU (or build) lacks AVX2 + FMA + AVX-VNNI");
#endif
    for (int i = 0; i < 7; i++) {
        const gptoss_cpu_ops *ops = gptoss_cpu_ops_named(names[i]);
        if (ops && ops->swiglu_mx) {
            test_swiglu(ops, 1, 7.0f);
            test_swiglu(ops, 5, 3.5f);
        }
        for (int type = F32; type <= BF24; type++) {
            const int has_group = ops && (type == F16    ? ops->attention_f16 && ops->attention_group_f16
                                          : type == BF24 ? ops->attention_bf24 && ops->attention_group_bf24
                                                         : ops->attention && ops->attention_group);
            if (has_group) {
                any_group = 1;
                const uint32_t keys[] = {1, 15, 16, 17, 100, 577}, heads[] = {1, 3, 8}, dims[] = {16, 64, 48, 80};
                for (int a = 0; a < 6; a++)
                    for (int b = 0; b < 3; b++)
                        for (int d = 0; d < 4; d++)
                            test_group(ops, keys[a], heads[b], dims[d], (a + b + d) % 2 ? 4.0f : 1.0f, type);
                test_group(ops, 100, 8, 64, 30.0f, type); /* scores far apart: most weights underflow */
                test_group(ops, 100, 3, 160, 1.0f, type); /* rows longer than the grouped copies: per head */
                test_group(ops, 17, 8, 40, 1.0f, type);   /* not a multiple of 16: AVX-512 per head, NEON grouped */
                test_group(ops, 45, 5, 32, 1.0f, type);   /* NEON: 2 heads per value pass and one left over */
                test_group(ops, 20, 3, 36, 4.0f, type);
                test_group(ops, 9, 2, 18, 1.0f, type);    /* not a multiple of 4: per head, the reference */
                test_group(ops, 33, 17, 64, 1.0f, type);  /* more heads than the grouped copies take: per head */
            }
            const int has_head = ops && (type == F16    ? ops->attention_f16 != NULL
                                         : type == BF24 ? ops->attention_bf24 != NULL
                                                        : ops->attention != NULL);
            if (!has_head) continue;
            any = 1;
            const uint32_t keys[] = {1, 15, 16, 17, 33, 300};
            for (int a = 0; a < 6; a++) {
                test_case(ops, keys[a], 64, 1.0f, 0.5f, type);
                test_case(ops, keys[a], 16, 3.0f, -2.0f, type);
            }
            test_case(ops, 40, 128, 1.0f, 20.0f, type);  /* the sink takes nearly everything */
            test_case(ops, 40, 64, 60.0f, -30.0f, type); /* scores far apart: most weights underflow */
            test_case(ops, 21, 40, 1.0f, 0.0f, type);    /* not a multiple of 16: AVX-512's reference, NEON's own */
            test_case(ops, 23, 36, 1.0f, 0.0f, type);
            test_case(ops, 19, 32, 2.0f, 1.0f, type);
            test_case(ops, 13, 18, 1.0f, 0.0f, type);    /* not a multiple of 4: the reference everywhere */
            test_case(ops, 64, 48, 2.0f, 1.0f, type);
            if (!strncmp(ops->name, "avx2", 4)) test_avx2_shapes(ops, type);
        }
    }
    if (!any) tap_skip("fast attention", "no variant with a fast attention kernel on this CPU");
    if (!any_group) tap_skip("grouped attention", "no variant with a grouped attention kernel on this CPU");
    return tap_exit();
}
