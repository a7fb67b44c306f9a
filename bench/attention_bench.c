/* attention_bench.c: one decode token's attention over a full-attention gpt-oss-20b cache (12 layers,
 * 8 kv heads of 8 query heads, head_dim 64) on one thread, with the CPU's fast kernel, for a few
 * context lengths and each KV cache type (f32, f16, bf24): ms per token and GB/s of keys and values
 * read. The cache is laid out as the session's ([kv head][slot][head_dim], one allocation per layer). Built and run by
 * bench/attention.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

enum { LAYERS = 12, KV_HEADS = 8, GROUP = 8, HEAD_DIM = 64 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float noise(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*s >> 40) / (float)(1u << 24) - 0.5f;
}

enum { F32, F16, BF24 };
static const char *const type_names[] = {"f32", "f16", "bf24"};
static const size_t type_bytes[] = {4, 2, 3};

/* One decode token's attention over every layer and kv head of a cache of `type`. */
static void attend(const gptoss_cpu_ops *ops, int type, void *const *k, void *const *v, uint32_t n, const float *q,
                   float *out, const float *sinks, const uint32_t *slots, float *scores) {
    for (int l = 0; l < LAYERS; l++)
        for (uint32_t g = 0; g < KV_HEADS; g++) {
            const size_t at = (size_t)g * n * HEAD_DIM * type_bytes[type];
            const void *kg = (const char *)k[l] + at, *vg = (const char *)v[l] + at;
            float *o = out + (size_t)g * GROUP * HEAD_DIM;
            const float *qg = q + (size_t)g * GROUP * HEAD_DIM;
            if (type == F16 && ops && ops->attention_group_f16)
                ops->attention_group_f16(o, HEAD_DIM, qg, HEAD_DIM, GROUP, kg, vg, HEAD_DIM, slots, n, HEAD_DIM, 0.125f,
                                         sinks, scores);
            else if (type == BF24 && ops && ops->attention_group_bf24)
                ops->attention_group_bf24(o, HEAD_DIM, qg, HEAD_DIM, GROUP, kg, vg, HEAD_DIM, slots, n, HEAD_DIM,
                                          0.125f, sinks, scores);
            else if (type == F32 && ops && ops->attention_group)
                ops->attention_group(o, HEAD_DIM, qg, HEAD_DIM, GROUP, kg, vg, HEAD_DIM, slots, n, HEAD_DIM, 0.125f,
                                     sinks, scores);
            else
                for (uint32_t h = 0; h < GROUP; h++) {
                    float *oh = o + h * HEAD_DIM;
                    const float *qh = qg + h * HEAD_DIM;
                    if (type == F16) gptoss_attention_head_f16(oh, qh, kg, vg, HEAD_DIM, slots, n, HEAD_DIM, 0.125f, 0, scores);
                    else if (type == BF24) gptoss_attention_head_bf24(oh, qh, kg, vg, HEAD_DIM, slots, n, HEAD_DIM, 0.125f, 0, scores);
                    else gptoss_attention_head_f32(oh, qh, kg, vg, HEAD_DIM, slots, n, HEAD_DIM, 0.125f, 0, scores);
                }
        }
}

int main(int argc, char **argv) {
    const gptoss_cpu_ops *ops = gptoss_cpu_ops_best();
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    static const uint32_t contexts[] = {640, 4096, 8192};
    const size_t row = (size_t)KV_HEADS * HEAD_DIM, H = (size_t)KV_HEADS * GROUP;
    float q[KV_HEADS * GROUP * HEAD_DIM], out[KV_HEADS * GROUP * HEAD_DIM], sinks[GROUP] = {0};
    uint64_t seed = 1;
    for (size_t i = 0; i < H * HEAD_DIM; i++) q[i] = noise(&seed);
    printf("attention (%s, 1 thread, %d layers x %d kv heads x %d query heads, head_dim %d; best of %d)\n",
           ops ? ops->name : "scalar", LAYERS, KV_HEADS, GROUP, HEAD_DIM, reps);
    for (size_t c = 0; c < sizeof contexts / sizeof *contexts; c++) {
        const uint32_t n = contexts[c];
        uint32_t *slots = malloc(n * sizeof *slots);
        float *scores = malloc((size_t)GROUP * ((n + 15) / 16 * 16) * sizeof *scores);
        float *kf = malloc((size_t)n * row * sizeof(float)), *vf = malloc((size_t)n * row * sizeof(float));
        if (!slots || !scores || !kf || !vf) {
            fprintf(stderr, "attention_bench: out of memory\n");
            return 1;
        }
        for (uint32_t i = 0; i < n; i++) slots[i] = i;
        for (int type = F32; type <= BF24; type++) {
            void *k[LAYERS], *v[LAYERS];
            int ok = 1;
            for (int l = 0; l < LAYERS; l++) {
                k[l] = malloc((size_t)n * row * type_bytes[type]);
                v[l] = malloc((size_t)n * row * type_bytes[type]);
                ok = ok && k[l] && v[l];
                for (size_t i = 0; ok && i < (size_t)n * row; i++) kf[i] = noise(&seed), vf[i] = noise(&seed);
                /* rows of HEAD_DIM elements, in the session's layout for the type */
                for (size_t r = 0; ok && r < (size_t)n * KV_HEADS; r++) {
                    const float *kr = kf + r * HEAD_DIM, *vr = vf + r * HEAD_DIM;
                    if (type == F32) {
                        memcpy((float *)k[l] + r * HEAD_DIM, kr, HEAD_DIM * sizeof(float));
                        memcpy((float *)v[l] + r * HEAD_DIM, vr, HEAD_DIM * sizeof(float));
                    } else if (type == F16) {
                        gptoss_f32_to_f16_row((uint16_t *)k[l] + r * HEAD_DIM, kr, HEAD_DIM);
                        gptoss_f32_to_f16_row((uint16_t *)v[l] + r * HEAD_DIM, vr, HEAD_DIM);
                    } else {
                        gptoss_f32_to_bf24_row((uint8_t *)k[l] + r * 3 * HEAD_DIM, kr, HEAD_DIM);
                        gptoss_f32_to_bf24_row((uint8_t *)v[l] + r * 3 * HEAD_DIM, vr, HEAD_DIM);
                    }
                }
            }
            if (!ok) {
                fprintf(stderr, "attention_bench: out of memory\n");
                return 1;
            }
            double best = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                attend(ops, type, k, v, n, q, out, sinks, slots, scores);
                double t = now() - t0;
                if (t < best) best = t;
            }
            const double bytes = 2.0 * LAYERS * (double)n * (double)row * (double)type_bytes[type];
            printf("  %5u keys, %-4s cache: %7.2f ms per token, %5.1f GB/s of keys and values\n", n, type_names[type],
                   best * 1e3, bytes / best / 1e9);
            for (int l = 0; l < LAYERS; l++) free(k[l]), free(v[l]);
        }
        free(kf); free(vf); free(slots); free(scores);
    }
    return 0;
}
