/* simd.c: the portable variant of the fast kernels (same layouts, plain C) and the start-up choice
 * of a variant (cpuid features and a table of measured preferences per CPU family on x86-64; NEON on
 * AArch64; the portable one elsewhere). */
#include <math.h>
#include <pthread.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

void gptoss_mxfp4_order(float *dst, const float *src, size_t n) {
    for (size_t b = 0; b + 32 <= n; b += 32)
        for (int j = 0; j < 16; j++) {
            dst[b + j] = src[b + 2 * j];
            dst[b + 16 + j] = src[b + 2 * j + 1];
        }
}

static void scalar_dense(float *out, size_t out_stride, const gptoss_mat *w, const float *bias, const float *x,
                         size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols;
    float buf[64];
    for (uint64_t r = r0; r < r1; r++)
        for (size_t t = 0; t < n_tok; t++) {
            float s = 0.0f;
            for (size_t c = 0; c < cols; c += 64) {
                size_t k = cols - c < 64 ? cols - c : 64;
                gptoss_to_f32(buf, w->data, w->dtype, r * cols + c, k);
                s += gptoss_dot_f32(buf, x + t * x_stride + c, k);
            }
            out[t * out_stride + r] = s + (bias ? bias[r] : 0.0f);
        }
}

static void scalar_mxfp4(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                         const float *x, size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *blk = w->blocks + (e * w->rows + r) * nb * 16, *sc = w->scales + (e * w->rows + r) * nb;
        for (size_t t = 0; t < n_tok; t++) {
            const float *xt = x + t * x_stride;
            float s = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                float p = 0.0f;
                for (int j = 0; j < 16; j++) {
                    uint8_t byte = blk[b * 16 + j];
                    p += gptoss_fp4_values[byte & 15] * xt[b * 32 + j] + gptoss_fp4_values[byte >> 4] * xt[b * 32 + 16 + j];
                }
                s += p * ldexpf(1.0f, (int)sc[b] - 127);
            }
            out[t * out_stride + r] = s + (bias ? bias[r] : 0.0f);
        }
    }
}

static void scalar_mxfp4_ggml(float *out, size_t out_stride, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                              const float *x, size_t x_stride, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    for (uint64_t r = r0; r < r1; r++) {
        const uint8_t *row = gptoss_mxfp4_ggml_row(w, e, r);
        for (size_t t = 0; t < n_tok; t++) {
            const float *xt = x + t * x_stride;
            float s = 0.0f;
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *blk = row + b * 17;
                float p = 0.0f;
                for (int j = 0; j < 16; j++)
                    p += gptoss_fp4_values[blk[1 + j] & 15] * xt[b * 32 + j] +
                         gptoss_fp4_values[blk[1 + j] >> 4] * xt[b * 32 + 16 + j];
                s += p * ldexpf(1.0f, (int)blk[0] - 127);
            }
            out[t * out_stride + r] = s + (bias ? bias[r] : 0.0f);
        }
    }
}

const gptoss_cpu_ops gptoss_cpu_scalar = {
    .name = "scalar", .dense = scalar_dense, .mxfp4 = scalar_mxfp4, .mxfp4_ggml = scalar_mxfp4_ggml};

int gptoss_cpu_has_avx2(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int gptoss_cpu_has_avx2vnni(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!gptoss_cpu_has_avx2() || __get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 4) & 1; /* CPUID.(EAX=7,ECX=1):EAX[4] = AVX-VNNI (libgcc 12 does not report it) */
#else
    return 0;
#endif
}

int gptoss_cpu_has_avx512(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && gptoss_cpu_has_avx2();
#else
    return 0;
#endif
}

int gptoss_cpu_has_avx512vnni(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return gptoss_cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int gptoss_cpu_has_avx512vbmi(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return gptoss_cpu_has_avx512vnni() && __builtin_cpu_supports("avx512vbmi");
#else
    return 0;
#endif
}

#if defined(__x86_64__)
/* The AMX variant: the AVX-512 (VBMI / VNNI) kernels for few tokens, the AMX gemm for many. */
static gptoss_cpu_ops amx_variant, amx_precise;
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static void amx_init(void) {
    if (!gptoss_cpu_has_amx()) return;
    const gptoss_cpu_ops *base = gptoss_cpu_has_avx512vbmi()   ? &gptoss_cpu_avx512vbmi
                                 : gptoss_cpu_has_avx512vnni() ? &gptoss_cpu_avx512vnni
                                                               : &gptoss_cpu_avx512;
    amx_variant = *base;
    amx_variant.name = "amx";
    amx_variant.gemm = &gptoss_cpu_gemm_amx;
    amx_variant.precise = NULL;
    if (base->precise) {
        amx_precise = *base->precise;
        amx_precise.name = "amx";
        amx_precise.gemm = &gptoss_cpu_gemm_amx;
        amx_variant.precise = &amx_precise;
    }
}
static const gptoss_cpu_ops *amx_ops(void) {
    pthread_once(&amx_once, amx_init);
    return amx_variant.gemm ? &amx_variant : NULL;
}
#endif

#if defined(__aarch64__)
/* neon with the SDOT decode kernels (MXFP4, Q8_0), where the CPU has dotprod (HWCAP_ASIMDDP). */
static gptoss_cpu_ops neondot_variant;
static pthread_once_t neondot_once = PTHREAD_ONCE_INIT;
static void neondot_init(void) {
    if (!gptoss_cpu_has_neon_dotprod()) return;
    neondot_variant = gptoss_cpu_neon;
    neondot_variant.name = "neondot";
    neondot_variant.dense = gptoss_dense_neon_dot;
    neondot_variant.mxfp4 = gptoss_mxfp4_neon_dot;
}
static const gptoss_cpu_ops *neondot_ops(void) {
    pthread_once(&neondot_once, neondot_init);
    return neondot_variant.name ? &neondot_variant : NULL;
}
/* neondot with the SMMLA kernels for 2 to 8 tokens, where the CPU has i8mm too (HWCAP2_I8MM). */
static gptoss_cpu_ops neoni8mm_variant;
static pthread_once_t neoni8mm_once = PTHREAD_ONCE_INIT;
static void neoni8mm_init(void) {
    if (!neondot_ops() || !gptoss_cpu_has_neon_i8mm()) return;
    neoni8mm_variant = *neondot_ops();
    neoni8mm_variant.name = "neoni8mm";
    neoni8mm_variant.dense = gptoss_dense_neon_mm;
    neoni8mm_variant.mxfp4 = gptoss_mxfp4_neon_mm;
}
static const gptoss_cpu_ops *neoni8mm_ops(void) {
    pthread_once(&neoni8mm_once, neoni8mm_init);
    return neoni8mm_variant.name ? &neoni8mm_variant : NULL;
}
#endif

const gptoss_cpu_ops *gptoss_cpu_ops_named(const char *name) {
    if (!strcmp(name, "scalar")) return &gptoss_cpu_scalar;
#if defined(__x86_64__)
    if (!strcmp(name, "avx2")) return gptoss_cpu_has_avx2() ? &gptoss_cpu_avx2 : NULL;
    if (!strcmp(name, "avx2vnni")) return gptoss_cpu_has_avx2vnni() ? &gptoss_cpu_avx2vnni : NULL;
    if (!strcmp(name, "avx512")) return gptoss_cpu_has_avx512() ? &gptoss_cpu_avx512 : NULL;
    if (!strcmp(name, "amx")) return amx_ops();
    if (!strcmp(name, "avx512vnni")) return gptoss_cpu_has_avx512vnni() ? &gptoss_cpu_avx512vnni : NULL;
    if (!strcmp(name, "avx512vbmi")) return gptoss_cpu_has_avx512vbmi() ? &gptoss_cpu_avx512vbmi : NULL;
#endif
#if defined(__aarch64__)
    if (!strcmp(name, "neon")) return &gptoss_cpu_neon; /* ASIMD: every AArch64 CPU */
    if (!strcmp(name, "neondot")) return neondot_ops();
    if (!strcmp(name, "neoni8mm")) return neoni8mm_ops();
#endif
    return NULL;
}

int gptoss_cpu_identity(char vendor[13], uint32_t *family, uint32_t *model) {
    vendor[0] = 0;
    *family = *model = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const uint32_t base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    *family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
    *model = base_family == 0x6 || base_family == 0xf ? ((a >> 16) & 0xf) << 4 | base_model : base_model;
    return 1;
#else
    return 0;
#endif
}

/* Measured preference. Where a CPU runs several sets, the pick is the first of the feature order
 * (amx, avx512vbmi, avx512vnni, avx512, avx2vnni, avx2) unless its family has a row here: the sets in
 * the order `gptoss bench --kernels --variants` and decode runs ranked them on that family
 * (bench/RESULTS.md), of which the first one this CPU runs wins. A Zen 4's AVX-512 on 256-bit units
 * or a small core's AVX2 may rank them otherwise; rows come only from measurements, and bench's
 * --variants says when the fastest set measured differs from the one picked. */
typedef struct family_pref {
    const char *vendor;                  /* cpuid leaf 0 */
    uint32_t family, model_lo, model_hi; /* displayed family, models inclusive */
    const char *what;
    const char *order[4];
} family_pref;
static const family_pref family_prefs[] = {
    /* EPYC 9005 (model 0x02), 2026-12-07 and 08: vpermb's lookups put avx512vbmi's MXFP4 ahead in
     * cache (48.5 GB/s a core against 45.0), the two equal when streaming; avx512vnni's integer Q8_0
     * ahead of avx512's f32 one (2 threads, streamed: 5 of 6 interleaved runs, 45.8-49.3 against
     * 36.9-46.0 GB/s). */
    {"AuthenticAMD", 0x1a, 0x00, 0xff, "AMD Zen 5", {"avx512vbmi", "avx512vnni", "avx512", "avx2vnni"}},
};

const char *gptoss_cpu_preferred(const char *vendor, uint32_t family, uint32_t model,
                                 const gptoss_cpu_ops *(*runs)(const char *name), const char **what) {
    for (size_t i = 0; i < sizeof family_prefs / sizeof family_prefs[0]; i++) {
        const family_pref *r = &family_prefs[i];
        if (strcmp(vendor, r->vendor) != 0 || family != r->family || model < r->model_lo || model > r->model_hi) continue;
        if (what) *what = r->what;
        for (size_t k = 0; k < sizeof r->order / sizeof r->order[0] && r->order[k]; k++)
            if (runs(r->order[k])) return r->order[k];
        return NULL;
    }
    return NULL;
}

static const gptoss_cpu_ops *best;
static pthread_once_t best_once = PTHREAD_ONCE_INIT;

static void pick(void) {
    const char *env = getenv("GPTOSS_CPU");
    if (env && *env && (best = gptoss_cpu_ops_named(env))) return;
    char vendor[13];
    uint32_t family, model;
    const char *pref = gptoss_cpu_identity(vendor, &family, &model)
                           ? gptoss_cpu_preferred(vendor, family, model, gptoss_cpu_ops_named, NULL)
                           : NULL;
    if (pref && (best = gptoss_cpu_ops_named(pref))) return;
#if defined(__x86_64__)
    if ((best = amx_ops())) return;
    if (gptoss_cpu_has_avx512vbmi()) best = &gptoss_cpu_avx512vbmi;
    else if (gptoss_cpu_has_avx512vnni()) best = &gptoss_cpu_avx512vnni;
    else if (gptoss_cpu_has_avx512()) best = &gptoss_cpu_avx512;
    else if (gptoss_cpu_has_avx2vnni()) best = &gptoss_cpu_avx2vnni; /* Alder Lake and later */
    else if (gptoss_cpu_has_avx2()) best = &gptoss_cpu_avx2;
    else best = &gptoss_cpu_scalar;
#elif defined(__aarch64__)
    if (!(best = neoni8mm_ops()) && !(best = neondot_ops())) best = &gptoss_cpu_neon;
#else
    best = &gptoss_cpu_scalar;
#endif
}

const gptoss_cpu_ops *gptoss_cpu_ops_best(void) {
    pthread_once(&best_once, pick);
    return best;
}


void gptoss_quantize_mat_row_q8_0(void *dst, const gptoss_mat *w, uint64_t r, float *scratch) {
    const size_t cols = (size_t)w->cols;
#if defined(__x86_64__)
    if (w->dtype == GPTOSS_DTYPE_BF16 && gptoss_cpu_has_avx512() && gptoss_cpu_ops_best() != &gptoss_cpu_scalar &&
        gptoss_cpu_ops_best() != &gptoss_cpu_avx2 && gptoss_cpu_ops_best() != &gptoss_cpu_avx2vnni) {
        gptoss_quantize_bf16_q8_0_avx512(dst, (const uint16_t *)w->data + r * cols, cols);
        return;
    }
#endif
    gptoss_to_f32(scratch, w->data, w->dtype, r * cols, cols);
    gptoss_quantize_row_q8_0(dst, scratch, cols);
}
