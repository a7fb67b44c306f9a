/* simd_amx.c: matrix x matrix products on Intel AMX tiles (AMX-BF16), the prefill path of CPUs that
 * have them. A product C[rows x tokens] = W . X^T runs as tdpbf16ps on 16 x 16 f32 accumulator tiles:
 * the weights are the A operand (BF16 rows straight from the mapped file; MXFP4 blocks decoded to
 * bf16, which is exact: an E2M1 value times a power of two has at most two significant bits), the
 * activations the B operand, packed once per product by gemm_pack. Rounding x to bf16 alone would
 * cost ~3 significant digits, so each x is split into a bf16 high part and a bf16 low part
 * (x - high) and both are multiplied in: the product sees ~16 significant bits of x and accumulates
 * in f32, far inside the goldens' tolerance. Tiles are configured per call and released on return,
 * so a thread that stops using AMX does not keep the tile state in its context. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16,avx2,fma")))
#define INL __attribute__((always_inline)) inline

#define TILE_BYTES 1024 /* 16 rows x 64 bytes */
#define TT_MAX 4        /* token tiles accumulated per pass: tmm3..tmm6 */

/* The packed activations of one (16-token tile, 32-column block): the high parts, then the low
 * parts, each a B tile: row p holds columns (2p, 2p+1) of each of the 16 tokens as a bf16 pair. */
static size_t amx_pack_bytes(size_t n_tok, size_t cols) { return (n_tok + 15) / 16 * (cols / 32) * 2 * TILE_BYTES; }

TGT static void amx_pack(void *dst, const float *x, size_t xs, size_t n_tok, size_t cols, size_t tile0, size_t tile1) {
    const size_t nb = cols / 32;
    for (size_t tt = tile0; tt < tile1; tt++) {
        uint32_t *tile = (uint32_t *)((uint8_t *)dst + tt * nb * 2 * TILE_BYTES);
        for (size_t m = 0; m < 16; m++) {
            const size_t t = tt * 16 + m;
            for (size_t b = 0; b < nb; b++) {
                uint32_t *hi = tile + b * 2 * (TILE_BYTES / 4), *lo = hi + TILE_BYTES / 4;
                uint32_t h[16], l[16];
                if (t < n_tok) {
                    const float *p = x + t * xs + b * 32;
                    __m512 x0 = _mm512_loadu_ps(p), x1 = _mm512_loadu_ps(p + 16);
                    __m512bh bh = _mm512_cvtne2ps_pbh(x1, x0);
                    __m512i hb = (__m512i)bh;
                    /* back to f32: the bf16 bits in the top half of each lane */
                    __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hb)), 16));
                    __m512 h1 = _mm512_castsi512_ps(
                        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hb, 1)), 16));
                    __m512bh lb = _mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
                    _mm512_storeu_si512(h, hb);
                    _mm512_storeu_si512(l, (__m512i)lb);
                } else {
                    memset(h, 0, sizeof h);
                    memset(l, 0, sizeof l);
                }
                for (int p = 0; p < 16; p++) {
                    hi[p * 16 + m] = h[p];
                    lo[p * 16 + m] = l[p];
                }
            }
        }
    }
}

typedef struct tilecfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tilecfg;

/* tmm0: A (m weight rows x 32 bf16), tmm1/tmm2: B high/low (16 pairs x 16 tokens), tmm3..6: C (m rows
 * x 16 tokens of f32). */
TGT static void configure(uint32_t m) {
    tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 3 + TT_MAX; i++) {
        c.colsb[i] = 64;
        c.rows[i] = (uint8_t)(i == 1 || i == 2 ? 16 : m);
    }
    _tile_loadconfig(&c);
}

enum { FMT_BF16, FMT_MX };

typedef struct wsrc {
    const uint8_t *w;   /* row 0 */
    const uint8_t *sc;  /* mx: the scales of row 0 */
    size_t row_bytes, sc_row;
} wsrc;

/* Block b of m MXFP4 rows from r -> bf16 rows of 64 bytes at dst (MXFP4 order: the low nibbles'
 * values, then the high ones', as x is packed). */
TGT static INL void decode_mx(uint8_t *dst, const wsrc *s, uint64_t r, uint32_t m, size_t b) {
    const __m512 lut = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                      -2.0f, -3.0f, -4.0f, -6.0f);
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *row = s->w + (r + i) * s->row_bytes;
        const uint32_t e = s->sc[(r + i) * s->sc_row + b];
        const uint32_t bits = e ? e << 23 : 0x00400000u; /* 2^(e-127); e = 0 is the subnormal 2^-127 */
        __m512 l = _mm512_mul_ps(lut, _mm512_castsi512_ps(_mm512_set1_epi32((int)bits)));
        __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + b * 16)));
        __m512 lo = _mm512_permutexvar_ps(c, l), hi = _mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), l);
        _mm512_store_si512((__m512i *)(dst + (size_t)i * 64), (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    }
}

#define TDP2(C, bp)                                                                                                   \
    do {                                                                                                              \
        _tile_loadd(1, (bp), 64);                                                                                     \
        _tile_loadd(2, (bp) + TILE_BYTES, 64);                                                                        \
        _tile_dpbf16ps(C, 0, 1);                                                                                      \
        _tile_dpbf16ps(C, 0, 2);                                                                                      \
    } while (0)

#define STORE_C(C, j)                                                                                                 \
    do {                                                                                                              \
        _tile_stored(C, cbuf, 64);                                                                                    \
        write_out(out, os, bias, r, m, (tt0 + (j)) * 16, n_tok, cbuf);                                                \
    } while (0)

static INL void write_out(float *out, size_t os, const float *bias, uint64_t r, uint32_t m, size_t t0, size_t n_tok,
                          const float (*cbuf)[16]) {
    const size_t nt = n_tok - t0 < 16 ? n_tok - t0 : 16;
    for (uint32_t i = 0; i < m; i++) {
        const float b = bias ? bias[r + i] : 0.0f;
        for (size_t t = 0; t < nt; t++) out[(t0 + t) * os + r + i] = cbuf[i][t] + b;
    }
}

/* Rows [r0, r1) x every token. */
TGT static void gemm(const int fmt, float *out, size_t os, const wsrc *s, size_t nb, const float *bias,
                     const uint8_t *xp, size_t n_tok, uint64_t r0, uint64_t r1) {
    _Alignas(64) uint8_t abuf[TILE_BYTES];
    _Alignas(64) float cbuf[16][16];
    const size_t n_tt = (n_tok + 15) / 16, tile_stride = nb * 2 * TILE_BYTES;
    uint32_t configured = 0;
    for (uint64_t r = r0; r < r1; r += 16) {
        const uint32_t m = r1 - r < 16 ? (uint32_t)(r1 - r) : 16;
        if (m != configured) configure(configured = m);
        for (size_t tt0 = 0; tt0 < n_tt; tt0 += TT_MAX) {
            const size_t ntt = n_tt - tt0 < TT_MAX ? n_tt - tt0 : TT_MAX;
            const uint8_t *xb = xp + tt0 * tile_stride;
            _tile_zero(3);
            _tile_zero(4);
            _tile_zero(5);
            _tile_zero(6);
            for (size_t b = 0; b < nb; b++) {
                if (fmt == FMT_BF16) {
                    _tile_loadd(0, s->w + r * s->row_bytes + b * 64, (long)s->row_bytes);
                } else {
                    decode_mx(abuf, s, r, m, b);
                    _tile_loadd(0, abuf, 64);
                }
                const uint8_t *bp = xb + b * 2 * TILE_BYTES;
                TDP2(3, bp);
                if (ntt > 1) TDP2(4, bp + tile_stride);
                if (ntt > 2) TDP2(5, bp + 2 * tile_stride);
                if (ntt > 3) TDP2(6, bp + 3 * tile_stride);
            }
            STORE_C(3, 0);
            if (ntt > 1) STORE_C(4, 1);
            if (ntt > 2) STORE_C(5, 2);
            if (ntt > 3) STORE_C(6, 3);
        }
    }
    _tile_release();
}

static int amx_dense_ok(const gptoss_mat *w) { return w->dtype == GPTOSS_DTYPE_BF16 && w->cols % 32 == 0; }

TGT static void amx_dense(float *out, size_t os, const gptoss_mat *w, const float *bias, const void *xp, size_t n_tok,
                          uint64_t r0, uint64_t r1) {
    const size_t row_bytes = (size_t)w->cols * 2;
    wsrc s = {.w = w->data, .row_bytes = row_bytes};
    gemm(FMT_BF16, out, os, &s, (size_t)w->cols / 32, bias, xp, n_tok, r0, r1);
}

TGT static void amx_mxfp4(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias, const void *xp,
                          size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    wsrc s = {.w = w->blocks + e * w->rows * nb * 16, .sc = w->scales + e * w->rows * nb, .row_bytes = nb * 16,
              .sc_row = nb};
    gemm(FMT_MX, out, os, &s, nb, bias, xp, n_tok, r0, r1);
}

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int gptoss_cpu_has_amx(void) {
#if defined(__GNUC__) && defined(SYS_arch_prctl)
    static int cached = -1;
    if (cached >= 0) return cached;
    __builtin_cpu_init();
    int ok = gptoss_cpu_has_avx512();
    if (ok) { /* cpuid.(7,0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE; cpuid.(7,1):EAX bit 5 AVX512_BF16 */
        unsigned a, b, c, d, a1, b1, c1, d1;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
        __asm__ volatile("cpuid" : "=a"(a1), "=b"(b1), "=c"(c1), "=d"(d1) : "a"(7), "c"(1));
        ok = a >= 1 && (d >> 22 & 1) && (d >> 24 & 1) && (a1 >> 5 & 1);
    }
    /* Linux hands out the 8 KiB tile data state only on request; without it tile loads fault. */
    if (ok) ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    cached = ok;
    return ok;
#else
    return 0;
#endif
}

const gptoss_cpu_gemm gptoss_cpu_gemm_amx = {"amx", 8, amx_pack_bytes, amx_pack, amx_dense_ok, amx_dense, amx_mxfp4};
#endif
