/* attention_bench.c: one decode token's attention over a full-attention gpt-oss-20b cache (12 layers,
 * 8 kv heads of 8 query heads, head_dim 64) on one thread, with the CPU's fast kernel, for a few
 * context lengths: ms per token and GB/s of keys and values read. The cache is laid out as the
 * session's ([kv head][slot][head_dim], one allocation per layer). Built and run by
 * bench/attention.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
        float *k[LAYERS], *v[LAYERS];
        uint32_t *slots = malloc(n * sizeof *slots);
        float *scores = malloc((size_t)GROUP * ((n + 15) / 16 * 16) * sizeof *scores);
        int ok = slots && scores;
        for (int l = 0; l < LAYERS; l++) {
            k[l] = malloc((size_t)n * row * sizeof(float));
            v[l] = malloc((size_t)n * row * sizeof(float));
            ok = ok && k[l] && v[l];
            for (size_t i = 0; ok && i < (size_t)n * row; i++) k[l][i] = noise(&seed), v[l][i] = noise(&seed);
        }
        if (!ok) {
            fprintf(stderr, "attention_bench: out of memory\n");
            return 1;
        }
        for (uint32_t i = 0; i < n; i++) slots[i] = i;
        double best = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            for (int l = 0; l < LAYERS; l++)
                for (uint32_t g = 0; g < KV_HEADS; g++) {
                    const float *kg = k[l] + (size_t)g * n * HEAD_DIM, *vg = v[l] + (size_t)g * n * HEAD_DIM;
                    float *o = out + (size_t)g * GROUP * HEAD_DIM;
                    const float *qg = q + (size_t)g * GROUP * HEAD_DIM;
                    if (ops && ops->attention_group)
                        ops->attention_group(o, HEAD_DIM, qg, HEAD_DIM, GROUP, kg, vg, HEAD_DIM, slots, n, HEAD_DIM,
                                             0.125f, sinks, scores);
                    else
                        for (uint32_t h = 0; h < GROUP; h++)
                            (ops && ops->attention ? ops->attention : gptoss_attention_head_f32)(
                                o + h * HEAD_DIM, qg + h * HEAD_DIM, kg, vg, HEAD_DIM, slots, n, HEAD_DIM, 0.125f, 0.0f,
                                scores);
                }
            double t = now() - t0;
            if (t < best) best = t;
        }
        const double bytes = 2.0 * LAYERS * (double)n * (double)row * sizeof(float);
        printf("  %5u keys: %7.2f ms per token, %5.1f GB/s of keys and values\n", n, best * 1e3, bytes / best / 1e9);
        for (int l = 0; l < LAYERS; l++) free(k[l]), free(v[l]);
        free(slots);
        free(scores);
    }
    return 0;
}
