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
#include <math.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cpu/kernels.h"
#include "cpu/simd.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,amx-tile,amx-bf16,avx2,fma,f16c")))
#define INL __attribute__((always_inline)) inline

#define TILE_BYTES 1024 /* 16 rows x 64 bytes */
#define TT_MAX 4        /* token tiles accumulated per pass: tmm3..tmm6 */
#define MAX_BLOCKS 256  /* MXFP4 rows of up to 8192 columns take the fast decode */

/* The packed activations of one (16-token tile, 32-column block): the high parts, then the low
 * parts, each a B tile: row p holds columns (2p, 2p+1) of each of the 16 tokens as a bf16 pair. */
static size_t amx_pack_bytes(size_t n_tok, size_t cols) { return (n_tok + 15) / 16 * (cols / 32) * 2 * TILE_BYTES; }

/* The MXFP4 product reads a block's 32 values in the order its decode produces them (see decode_mx):
 * position 8L + k holds element 4k + L. For x given in MXFP4 order (element i at
 * (i & 1) * 16 + i / 2), position j takes x's index mx_perm[j]. */
static const int32_t mx_perm[32] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30,
                                    1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};

/* 32 floats (v0: the first 16, v1: the rest) -> 32 bf16 high parts and 32 bf16 low parts (v - high),
 * rounded to nearest even: high + low carries ~16 significant bits of each value. */
TGT static INL void split_bf16(__m512 v0, __m512 v1, __m512i *hi, __m512i *lo) {
    const __m512i h = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    /* back to f32: the bf16 bits in the top half of each lane */
    const __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    const __m512 h1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
    *hi = h;
    *lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, h1), _mm512_sub_ps(v0, h0));
}

TGT static void amx_pack(void *dst, const float *x, size_t xs, size_t n_tok, size_t cols, size_t tile0, size_t tile1,
                         int for_mxfp4) {
    const size_t nb = cols / 32;
    const __m512i p0 = _mm512_loadu_si512(mx_perm), p1 = _mm512_loadu_si512(mx_perm + 16);
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
                    if (for_mxfp4) {
                        __m512 y0 = _mm512_permutex2var_ps(x0, p0, x1), y1 = _mm512_permutex2var_ps(x0, p1, x1);
                        x0 = y0;
                        x1 = y1;
                    }
                    __m512i hb, lb;
                    split_bf16(x0, x1, &hb, &lb);
                    _mm512_storeu_si512(h, hb);
                    _mm512_storeu_si512(l, lb);
                } else {
                    memset(h, 0, sizeof h);
                    memset(l, 0, sizeof l);
                }
                for (int q = 0; q < 16; q++) {
                    hi[q * 16 + m] = h[q];
                    lo[q * 16 + m] = l[q];
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

/* tmm0: A (m weight rows x 32 bf16), tmm1/tmm2/tmm7: B (16 pairs x 16 tokens), tmm3..6: C (m rows x
 * 16 tokens of f32). With q8, tmm7 is a second A (the weights' low parts). */
TGT static void configure(uint32_t m, int q8) {
    tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int i = 0; i < 8; i++) {
        c.colsb[i] = 64;
        c.rows[i] = (uint8_t)(i == 1 || i == 2 || (i == 7 && !q8) ? 16 : m);
    }
    _tile_loadconfig(&c);
}

enum { FMT_BF16, FMT_MX, FMT_Q8 };

typedef struct wsrc {
    const uint8_t *w;   /* row 0 */
    const uint8_t *sc;  /* mx: the scales of row 0 */
    size_t row_bytes, sc_row;
} wsrc;

/* E2M1 code -> bf16 bits; codes 16..31 repeat 0..15 because vpermw reads five index bits. */
static const uint16_t fp4_bf16[32] = {0x0000, 0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040, 0x4080, 0x40c0,
                                      0x8000, 0xbf00, 0xbf80, 0xbfc0, 0xc000, 0xc040, 0xc080, 0xc0c0,
                                      0x0000, 0x3f00, 0x3f80, 0x3fc0, 0x4000, 0x4040, 0x4080, 0x40c0,
                                      0x8000, 0xbf00, 0xbf80, 0xbfc0, 0xc000, 0xc040, 0xc080, 0xc0c0};

/* The scales of m rows from r as bf16 exponent offsets ((e - 127) << 7 in both halves of a dword),
 * dst[i * nb + b]. Returns 0 when a scale leaves bf16's normal range for some code (e < 2 or
 * e > 252; no real checkpoint has one), and the caller decodes through f32 instead. */
TGT static int scale_offsets(uint32_t *dst, const wsrc *s, uint64_t r, uint32_t m, size_t nb) {
    __mmask16 bad = 0;
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *sc = s->sc + (r + i) * s->sc_row;
        for (size_t b = 0; b < nb; b += 16) {
            const __mmask16 k = nb - b >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (nb - b)) - 1);
            __m512i e = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, sc + b));
            bad |= _mm512_mask_cmplt_epu32_mask(k, e, _mm512_set1_epi32(2)) |
                   _mm512_mask_cmpgt_epu32_mask(k, e, _mm512_set1_epi32(252));
            __m512i d = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(127)), 7);
            d = _mm512_or_si512(_mm512_and_si512(d, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(d, 16));
            _mm512_mask_storeu_epi32(dst + (size_t)i * nb + b, k, d);
        }
    }
    return bad == 0;
}

/* Block b of m MXFP4 rows from r -> bf16 rows of 64 bytes at dst. The block's 16 code bytes are
 * broadcast to the four 128-bit lanes and each lane shifts its words by 0, 4, 8 or 12 bits, so word k
 * of lane L holds the code of element 4k + L in its low bits; vpermw looks the codes up, and adding
 * the scale's offset to the exponent field of the nonzero values applies the power of two exactly. */
TGT static INL void decode_mx(uint8_t *dst, const wsrc *s, const uint32_t *offs, size_t nb, uint64_t r, uint32_t m,
                              size_t b) {
    const __m512i lut = _mm512_loadu_si512(fp4_bf16);
    const __m512i shifts = _mm512_setr_epi64(0, 0, 0x0004000400040004ll, 0x0004000400040004ll, 0x0008000800080008ll,
                                             0x0008000800080008ll, 0x000c000c000c000cll, 0x000c000c000c000cll);
    const __mmask32 nonzero = 0xfefefefe; /* lut entries 0 and 8 (+0, -0) keep their exponent */
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *row = s->w + (r + i) * s->row_bytes;
        __m512i c = _mm512_srlv_epi16(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(row + b * 16))), shifts);
        __m512i l = _mm512_mask_add_epi16(lut, nonzero, lut, _mm512_set1_epi32((int)offs[(size_t)i * nb + b]));
        _mm512_store_si512((__m512i *)(dst + (size_t)i * 64), _mm512_permutexvar_epi16(c, l));
    }
}

/* The same through f32 for scales outside bf16's normal range (rounding to bf16 as the conversion
 * does: subnormals flush to zero, overflow to infinity). */
TGT static void decode_mx_f32(uint8_t *dst, const wsrc *s, uint64_t r, uint32_t m, size_t b) {
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *row = s->w + (r + i) * s->row_bytes + b * 16;
        const float scale = ldexpf(1.0f, (int)s->sc[(r + i) * s->sc_row + b] - 127);
        float v[32];
        for (int j = 0; j < 32; j++) {
            const int k = j % 8, L = j / 8, byte = row[2 * k + L / 2];
            v[j] = gptoss_fp4_values[L & 1 ? byte >> 4 : byte & 15] * scale;
        }
        _mm512_store_si512((__m512i *)(dst + (size_t)i * 64),
                           (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(v + 16), _mm512_loadu_ps(v)));
    }
}

/* Block b of m Q8_0 rows from r -> bf16 high and low parts (w = d * q is exact in f32: 8 x 11
 * significant bits; high + low keep 16 of them). */
TGT static INL void decode_q8(uint8_t *hi, uint8_t *lo, const wsrc *s, uint64_t r, uint32_t m, size_t b) {
    for (uint32_t i = 0; i < m; i++) {
        const uint8_t *p = s->w + (r + i) * s->row_bytes + b * GPTOSS_Q8_0_BYTES;
        uint16_t dh;
        memcpy(&dh, p, 2);
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(dh));
        __m512 w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 2)))));
        __m512 w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 18)))));
        __m512i h, l;
        split_bf16(w0, w1, &h, &l);
        _mm512_store_si512((__m512i *)(hi + (size_t)i * 64), h);
        _mm512_store_si512((__m512i *)(lo + (size_t)i * 64), l);
    }
}

/* B tiles of token tile j (high or low parts) at `q_ + j * tile_stride`, multiplied into C tile 3 + j.
 * The four accumulators are updated in turn, high parts first, so no tdpbf16ps waits on the one
 * before it; three B registers rotate so a load does not wait on a product still reading it. */
#define TDP(C, T, bp)                                                                                                 \
    do {                                                                                                              \
        _tile_loadd(T, (bp), 64);                                                                                     \
        _tile_dpbf16ps(C, 0, T);                                                                                      \
    } while (0)
#define TDP_ALL(bp, part)                                                                                             \
    do {                                                                                                              \
        const uint8_t *q_ = (bp) + (part) * TILE_BYTES;                                                               \
        TDP(3, 1, q_);                                                                                                \
        if (ntt > 1) TDP(4, 2, q_ + tile_stride);                                                                     \
        if (ntt > 2) TDP(5, 7, q_ + 2 * tile_stride);                                                                 \
        if (ntt > 3) TDP(6, 1, q_ + 3 * tile_stride);                                                                 \
    } while (0)
/* Q8_0 weights as A high (tmm0) + A low (tmm7) parts: the high parts of x meet both, the low parts
 * only the high weights (the low x low term is below f32 rounding of the sum). */
#define TDP3(C, T, bp)                                                                                                \
    do {                                                                                                              \
        _tile_loadd(T, (bp), 64);                                                                                     \
        _tile_dpbf16ps(C, 0, T);                                                                                      \
        _tile_dpbf16ps(C, 7, T);                                                                                      \
    } while (0)
#define TDP_Q8(bp)                                                                                                    \
    do {                                                                                                              \
        TDP3(3, 1, (bp));                                                                                             \
        if (ntt > 1) TDP3(4, 2, (bp) + tile_stride);                                                                  \
        if (ntt > 2) TDP3(5, 1, (bp) + 2 * tile_stride);                                                              \
        if (ntt > 3) TDP3(6, 2, (bp) + 3 * tile_stride);                                                              \
        TDP(3, 1, (bp) + TILE_BYTES);                                                                                 \
        if (ntt > 1) TDP(4, 2, (bp) + TILE_BYTES + tile_stride);                                                      \
        if (ntt > 2) TDP(5, 1, (bp) + TILE_BYTES + 2 * tile_stride);                                                  \
        if (ntt > 3) TDP(6, 2, (bp) + TILE_BYTES + 3 * tile_stride);                                                  \
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
    _Alignas(64) uint8_t abuf[2][TILE_BYTES], albuf[2][TILE_BYTES];
    uint32_t offs[16 * MAX_BLOCKS];
    _Alignas(64) float cbuf[16][16];
    const size_t n_tt = (n_tok + 15) / 16, tile_stride = nb * 2 * TILE_BYTES;
    uint32_t configured = 0;
    for (uint64_t r = r0; r < r1; r += 16) {
        const uint32_t m = r1 - r < 16 ? (uint32_t)(r1 - r) : 16;
        if (m != configured) configure(configured = m, fmt == FMT_Q8);
        const int fast = fmt == FMT_MX && nb <= MAX_BLOCKS && scale_offsets(offs, s, r, m, nb);
#define DECODE(dst, blk) (fast ? decode_mx(dst, s, offs, nb, r, m, blk) : decode_mx_f32(dst, s, r, m, blk))
        for (size_t tt0 = 0; tt0 < n_tt; tt0 += TT_MAX) {
            const size_t ntt = n_tt - tt0 < TT_MAX ? n_tt - tt0 : TT_MAX;
            const uint8_t *xb = xp + tt0 * tile_stride;
            _tile_zero(3);
            _tile_zero(4);
            _tile_zero(5);
            _tile_zero(6);
            /* MXFP4: block b + 1 is decoded (into the other half of abuf) while block b's
             * products run, so the tile load never waits on stores just made. */
            if (fmt == FMT_MX) DECODE(abuf[0], 0);
            if (fmt == FMT_Q8) decode_q8(abuf[0], albuf[0], s, r, m, 0);
            for (size_t b = 0; b < nb; b++) {
                const uint8_t *bp = xb + b * 2 * TILE_BYTES;
                if (fmt == FMT_Q8) {
                    _tile_loadd(0, abuf[b & 1], 64);
                    _tile_loadd(7, albuf[b & 1], 64);
                    if (b + 1 < nb) decode_q8(abuf[(b + 1) & 1], albuf[(b + 1) & 1], s, r, m, b + 1);
                    TDP_Q8(bp);
                    continue;
                }
                if (fmt == FMT_BF16) _tile_loadd(0, s->w + r * s->row_bytes + b * 64, (long)s->row_bytes);
                else _tile_loadd(0, abuf[b & 1], 64);
                TDP_ALL(bp, 0);
                if (fmt == FMT_MX && b + 1 < nb) DECODE(abuf[(b + 1) & 1], b + 1);
                TDP_ALL(bp, 1);
            }
            STORE_C(3, 0);
            if (ntt > 1) STORE_C(4, 1);
            if (ntt > 2) STORE_C(5, 2);
            if (ntt > 3) STORE_C(6, 3);
        }
    }
    _tile_release();
#undef DECODE
}

/* BF16 from min_tokens; Q8_0 from 16 tokens: its weights are decoded into bf16 high + low parts per
 * tile (~30 cycles per 32-value row block, whatever the token count), which below 16 tokens is slower
 * than the per-token kernels (VNNI up to 4 tokens, then the f32 tiles). */
static int amx_dense_ok(const gptoss_mat *w, size_t n_tok) {
    if (w->cols % 32) return 0;
    return w->dtype == GPTOSS_DTYPE_BF16 || (w->dtype == GPTOSS_DTYPE_Q8_0 && n_tok >= 16);
}

TGT static void amx_dense(float *out, size_t os, const gptoss_mat *w, const float *bias, const void *xp, size_t n_tok,
                          uint64_t r0, uint64_t r1) {
    wsrc s = {.w = w->data, .row_bytes = (size_t)gptoss_row_bytes(w->dtype, w->cols)};
    gemm(w->dtype == GPTOSS_DTYPE_Q8_0 ? FMT_Q8 : FMT_BF16, out, os, &s, (size_t)w->cols / 32, bias, xp, n_tok, r0, r1);
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
#if defined(__GNUC__) && defined(__linux__) && defined(SYS_arch_prctl)
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

const gptoss_cpu_gemm gptoss_cpu_gemm_amx = {"amx", 4, amx_pack_bytes, amx_pack, amx_dense_ok, amx_dense, amx_mxfp4};
#endif
