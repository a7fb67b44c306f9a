/* simd_vnni.c: AVX512_VNNI integer kernels for small token counts (decode: 1 token; MXFP4 up to
 * VN_NT_MX, Q8_0 up to VN_NT), the avx512vnni variant. The f32 tiles of simd_avx512.c widen every
 * weight to f32 (MXFP4: vpmovzxbd and two vpermps per 32-element block, port 5 bound), which made the
 * decode matvec compute-bound. Here the weights stay bytes and go through vpdpbusd (u8 x s8 -> s32):
 *
 * - Activations: each token's row is quantized once per call, one f32 scale per 32-block,
 *   s = max|x| / Q, q = round(x / s), stored as int8 planes: 16 bits (Q = 32639, q = 256 hi + lo) or,
 *   for MXFP4 in the precise set, 24 bits (Q = 127 * 2^16, q = 65536 h + 256 m + l); every plane in
 *   [-128, 127]. 8-bit activations miss the goldens by 0.2-5. 16 bits keep the fast default within
 *   its 0.1 (its error is the Q8_0 unembedding's) and cost MXFP4 four vpdpbusd per 128 weights where
 *   24 bits cost six, which on a Zen 5 core is 37 -> 45 GB/s in cache; but on weights as stored
 *   (--keep-dense) 16 bits are 1.1e-3 to 1.8e-3 from the goldens, over that mode's 1e-3
 *   (tests/t_gguf.sh), so gptoss_cpu_avx512vnni.precise, which --keep-dense picks, carries MXFP4's
 *   at 24 bits: the f32 path's 1e-5. Q8_0's weights already round at 2^-8.
 * - MXFP4: one vpshufb turns 4-bit codes into unsigned bytes u = 2 v + 12 (2 v is an integer in
 *   [-12, 12]). 64 code bytes (4 blocks) are loaded once; one zmm gets the low nibbles (lanes 4m..4m+3:
 *   block m), one the high nibbles, and the activation planes are stored in that order (per 4 blocks:
 *   the 16 low-nibble elements of each block, then the 16 high-nibble ones), so no weight shuffle is
 *   needed. Per 4 blocks and token: dot(u, q) per lane = (dot(u, hi) << 8) + dot(u, lo) by four vpdpbusd
 *   (24 bits: (((dot(u, h) << 8) + dot(u, m)) << 8) + dot(u, l) by six; the sums wrap modulo 2^32 on the
 *   way, harmlessly, as the result fits), converted to f32 and multiplied by c = 2^(e-127) * s / 2 of
 *   each lane's block (a vpermps of the 16 blocks' products), one FMA. The +12 offset is removed once
 *   per row: sum over blocks of 2^(e-127) * 6 s * sum(q), with sum(q) precomputed per activation block.
 * - Q8_0: u = w + 128 (xor 0x80), 2 blocks per zmm, two vpdpbusd, offset 128 s sum(q), c = d * s.
 *
 * Lane bounds: an MXFP4 lane holds 8 elements, |dot| <= 8 * 24 * 127 * 2^16 < 2^31; a Q8_0 lane 4,
 * |dot| <= 4 * 255 * 32767 < 2^25. The error beyond f32 rounding is the
 * activation rounding, |x - s q| <= 1.25 s (24 bits; 0.51 s for 16), see tests/test_kernels_vnni.c.
 * Each output is computed by one tile row with its own accumulators, so results do not depend on the
 * row range or the thread count (nor, within the integer path, on the other tokens). Larger token
 * counts, other formats, rows wider than VN_MAXC and non-finite activations go to the f32 AVX-512
 * kernels. */
#if defined(__x86_64__)
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "cpu/kernels.h"
#include "cpu/simd.h"

/* simd_vnni_vbmi.c builds this file again with VN_VBMI, for the avx512vbmi set: its vpermb looks the
 * MXFP4 nibbles up without masking them first and gathers ggml's 17-byte blocks in one vpermt2b. Only
 * the 16-bit MXFP4 kernels are built there (each instance of the tiles costs compile time, a minute
 * a file under clang's sanitizers); Q8_0 and the 24-bit sibling are this file's, the same bits. */
#ifdef VN_VBMI
#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,avx2,fma,f16c")))
#else
#define TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")))
#endif
#define INL __attribute__((always_inline)) inline

/* Bytes of weight codes software prefetch keeps ahead of a tile, all its streams together (a tile's
 * rows are one contiguous region, ggml's gate/up split two). Streamed on two Zen 5 cores, MXFP4 read
 * at 93% of the plain read 8 KiB ahead and 89% 16 KiB ahead, ggml's split blocks at 99% (4 KiB per
 * stream) against 85% (16 KiB per stream), Q8_0 best at 12 KiB: further ahead, the lines wait in L1
 * (48 KiB) beside the activations and are evicted before use. */
#ifndef VN_PF
#define VN_PF 8192
#endif
#ifndef VN_PF_Q8
#define VN_PF_Q8 12288
#endif
/* Token counts up to VN_NT_MX (MXFP4) take the integer path: at 4 tokens the f32 MXFP4 tile, which
 * decodes each weight once for all tokens, is as fast. Q8_0 takes it up to VN_NT_Q8_MAX tokens, in
 * groups of VN_NT. */
enum { VN_NT = 4, VN_NT_MX = 3, VN_NT_Q8_MAX = 15, VN_MAXC = 4096, VN_MAXB = VN_MAXC / 32 };
enum { VF_MX, VF_Q8, VF_GG }; /* MXFP4 (HF layout), Q8_0, MXFP4 in ggml's 17-byte blocks */
/* Largest |q| for np int8 planes: 24 bits (three planes; a lane's dot of 8 MXFP4 elements stays
 * below 2^31) or 16 (two; the most Q8_0 takes, as its weights u reach 255). */
static inline int32_t qmax(int np) { return np == 3 ? 127 * 65536 : 32639; }

/* The quantized activations of up to VN_NT tokens. Plane layout: MXFP4, per 4 blocks (128 bytes):
 * elements 0..15 (MXFP4 order: the low nibbles) of each of the 4 blocks, then elements 16..31 (the
 * high nibbles) of each; Q8_0: natural order. Past nb: zeros up to a multiple of 4 blocks. */
typedef struct vq {
    int8_t pl[3][VN_NT][VN_MAXC] __attribute__((aligned(64))); /* 24 bits: h, m, l; 16 bits: hi, lo */
    float c[VN_NT][VN_MAXB + 16]; /* per block: s / 2 (MXFP4) or s (Q8_0); past the end: 0 */
    float k[VN_NT][VN_MAXB + 16]; /* per block: the offset's share, 6 s sum(q) or 128 s sum(q); 0 */
} vq;

/* One step of a 16-vector reduction tree: in each group of 2h lanes, the first h get a's two halves
 * combined, the last h b's. */
TGT static INL __m512i comb(__m512i a, __m512i b, const int h, const int add) {
    const __mmask16 m = h == 8 ? 0xff00 : h == 4 ? 0xf0f0 : h == 2 ? 0xcccc : 0xaaaa;
    __m512i x = _mm512_mask_blend_epi32(m, a, b), y = _mm512_mask_blend_epi32(m, b, a);
    y = h == 8 ? _mm512_shuffle_i64x2(y, y, 0x4e) : h == 4 ? _mm512_shuffle_i64x2(y, y, 0xb1)
      : h == 2 ? _mm512_shuffle_epi32(y, (_MM_PERM_ENUM)0x4e) : _mm512_shuffle_epi32(y, (_MM_PERM_ENUM)0xb1);
    return add ? _mm512_add_epi32(x, y) : _mm512_max_epu32(x, y);
}

/* Lane j = the sum (add) or unsigned max of the lanes of v[j], j < 16. */
TGT static INL __m512i reduce16(const __m512i *v, const int add) {
    static const uint8_t rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15}; /* the tree's lane order */
    __m512i c[8], d[4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) c[i] = comb(v[rev[2 * i]], v[rev[2 * i + 1]], 8, add);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) d[i] = comb(c[2 * i], c[2 * i + 1], 4, add);
    return comb(comb(d[0], d[1], 2, add), comb(d[2], d[3], 2, add), 1, add);
}

/* Quantizes n_tok rows of nb blocks into np planes (3: 24 bits, MXFP4 only; 2: 16 bits), 16 blocks
 * at a time: their maxima through reduce16, their sums of q by vpdpbusd on the finished planes (4
 * lanes per block for MXFP4, 8 for Q8_0) and a shorter tree; 0 if a value is not finite (the caller
 * falls back). */
TGT static INL int quantize(vq *q, const int fmt, const int np, const float *x, size_t xs, size_t n_tok, size_t nb) {
    const __m512i ones = _mm512_set1_epi8(1);
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * xs;
        for (size_t b0 = 0; b0 < nb; b0 += 16) {
            const size_t n = nb - b0 < 16 ? nb - b0 : 16;
            __m512i v[16];
#pragma GCC unroll 16
            for (size_t j = 0; j < 16; j++) { /* max(|x0|, |x1|) per lane, sign cleared (NaN stays above inf) */
                const float *p = xt + (b0 + j) * 32;
                v[j] = j < n ? _mm512_castps_si512(_mm512_range_ps(_mm512_loadu_ps(p), _mm512_loadu_ps(p + 16), 0x0b))
                             : _mm512_setzero_si512();
            }
            const __m512i amax = reduce16(v, 0); /* |x| bits: inf and NaN compare above every finite value */
            if (_mm512_cmpge_epu32_mask(amax, _mm512_set1_epi32(0x7f800000))) return 0;
            /* s = max|x| / qmax, at least FLT_MIN (so 1/s is finite; also for a block of zeros); max|x| / s
             * rounds to at most qmax */
            const __m512 sc = _mm512_max_ps(_mm512_mul_ps(_mm512_castsi512_ps(amax), _mm512_set1_ps(1.0f / (float)qmax(np))),
                                            _mm512_set1_ps(FLT_MIN));
            float inv[16];
            _mm512_storeu_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), sc));
            __m512i sums[8]; /* dpbusd(1, planes): MXFP4 one per 4 blocks, Q8_0 one per 2 */
#pragma GCC unroll 4
            for (size_t j = 0; j < 16; j += 4) {
                /* per block, int16 (32 lanes) per plane: h, m, l with q = 65536 h + 256 m + l, or hi, lo
                 * with q = 256 hi + lo; each in [-128, 127] */
                __m512i w[3][4];
#pragma GCC unroll 4
                for (int h = 0; h < 4; h++) {
                    if (j + (size_t)h >= n) {
                        w[0][h] = w[1][h] = w[2][h] = _mm512_setzero_si512();
                        continue;
                    }
                    const float *p = xt + (b0 + j + (size_t)h) * 32;
                    const __m512 vi = _mm512_set1_ps(inv[j + (size_t)h]);
                    __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p), vi),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p + 16), vi),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                    if (np == 3) {
                        /* a = q + 32896: h = a >> 16, t = (a & 0xffff) - 32768 = q + 128 - 65536 h = 256 m + l + 128 */
                        const __m512i a0 = _mm512_add_epi32(q0, _mm512_set1_epi32(32896));
                        const __m512i a1 = _mm512_add_epi32(q1, _mm512_set1_epi32(32896));
                        const __m512i lo16 = _mm512_set1_epi32(0xffff), half = _mm512_set1_epi32(32768);
                        w[0][h] = _mm512_packs_epi32(_mm512_srai_epi32(a0, 16), _mm512_srai_epi32(a1, 16));
                        const __m512i tt = _mm512_packs_epi32(_mm512_sub_epi32(_mm512_and_si512(a0, lo16), half),
                                                              _mm512_sub_epi32(_mm512_and_si512(a1, lo16), half));
                        w[1][h] = _mm512_srai_epi16(tt, 8);
                        w[2][h] = _mm512_sub_epi16(_mm512_and_si512(tt, _mm512_set1_epi16(255)), _mm512_set1_epi16(128));
                    } else {
                        const __m512i ww = _mm512_packs_epi32(q0, q1); /* |q| <= 32639: no saturation */
                        w[0][h] = _mm512_srai_epi16(_mm512_add_epi16(ww, _mm512_set1_epi16(128)), 8);
                        w[1][h] = _mm512_sub_epi16(ww, _mm512_slli_epi16(w[0][h], 8));
                    }
                }
                if (j >= n) {
                    if (fmt == VF_MX) sums[j / 4] = _mm512_setzero_si512();
                    else sums[j / 2] = sums[j / 2 + 1] = _mm512_setzero_si512();
                    continue;
                }
                /* packs(plane of A, plane of B), dword 4k + m: group k (elements 4k..4k+3) of A's first half
                 * (m = 0), A's second half (1), B's first (2), B's second (3) */
                __m512i pl[3][2]; /* [plane][the two 64-byte halves of these 4 blocks' planes] */
#pragma GCC unroll 3
                for (int k = 0; k < 3; k++) {
                    if (k >= np) continue;
                    const __m512i pk0 = _mm512_packs_epi16(w[k][0], w[k][1]), pk1 = _mm512_packs_epi16(w[k][2], w[k][3]);
                    if (fmt == VF_MX) {
                        const __m512i first = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 16, 20, 24, 28, 18, 22, 26, 30);
                        const __m512i second = _mm512_setr_epi32(1, 5, 9, 13, 3, 7, 11, 15, 17, 21, 25, 29, 19, 23, 27, 31);
                        pl[k][0] = _mm512_permutex2var_epi32(pk0, first, pk1);
                        pl[k][1] = _mm512_permutex2var_epi32(pk0, second, pk1);
                    } else {
                        const __m512i nat = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
                        pl[k][0] = _mm512_permutexvar_epi32(nat, pk0);
                        pl[k][1] = _mm512_permutexvar_epi32(nat, pk1);
                    }
                    int8_t *dst = q->pl[k][t] + (b0 + j) * 32;
                    _mm512_store_si512(dst, pl[k][0]);
                    _mm512_store_si512(dst + 64, pl[k][1]);
                }
                /* sum(q) = 65536 sum(h) + 256 sum(m) + sum(l) (or 256 sum(hi) + sum(lo)), 4 bytes per lane */
                if (fmt == VF_MX) {
                    __m512i d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, pl[0][0]), ones, pl[0][1]);
#pragma GCC unroll 2
                    for (int k = 1; k < np; k++)
                        d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_slli_epi32(d, 8), ones, pl[k][0]), ones, pl[k][1]);
                    sums[j / 4] = d;
                } else {
#pragma GCC unroll 2
                    for (int k = 0; k < 2; k++) {
                        __m512i d = _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, pl[0][k]), 8);
                        sums[j / 2 + (size_t)k] = _mm512_dpbusd_epi32(d, ones, pl[1][k]);
                    }
                }
            }
            /* lane j = block b0 + j (see reduce16 for the lanes the trees leave) */
            __m512i tot;
            if (fmt == VF_MX) {
                tot = comb(comb(sums[0], sums[1], 2, 1), comb(sums[2], sums[3], 2, 1), 1, 1);
                tot = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15), tot);
            } else {
                __m512i a[4];
#pragma GCC unroll 4
                for (int k = 0; k < 4; k++) a[k] = comb(sums[2 * k], sums[2 * k + 1], 4, 1);
                tot = comb(comb(a[0], a[1], 2, 1), comb(a[2], a[3], 2, 1), 1, 1);
                tot = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15), tot);
            }
            const __m512 sum = _mm512_cvtepi32_ps(tot); /* |sum| <= 32 qmax(np) < 2^31 */
            const __m512 half = _mm512_set1_ps(fmt == VF_MX ? 0.5f : 1.0f), off = _mm512_set1_ps(fmt == VF_MX ? 6.0f : 128.0f);
            const __mmask16 in = (__mmask16)((1u << n) - 1);
            _mm512_storeu_ps(&q->c[t][b0], _mm512_maskz_mul_ps(in, half, sc));
            _mm512_storeu_ps(&q->k[t][b0], _mm512_maskz_mul_ps(in, _mm512_mul_ps(off, sc), sum));
        }
    }
    return 1;
}

typedef struct vsrc {
    const uint8_t *w;     /* row 0: MXFP4 code bytes, Q8_0 blocks or ggml blocks */
    const uint8_t *w_odd; /* ggml gate/up split: row 2i + 1 is row i here (row 2i: row i of w); else NULL */
    const uint8_t *sc;    /* MXFP4: e8m0 scales of row 0 */
    size_t row_bytes, sc_row;
} vsrc;

static inline const uint8_t *vrow(const vsrc *s, uint64_t r) {
    return s->w_odd ? (r & 1 ? s->w_odd : s->w) + (r >> 1) * s->row_bytes : s->w + r * s->row_bytes;
}

/* Weight scales of blocks [b0, b0 + n) (n <= 16) of one row as f32; 0 past n for Q8_0. */
TGT static INL __m512 wscales(const int fmt, const uint8_t *rw, const uint8_t *rs, size_t b0, size_t n) {
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    if (fmt == VF_MX) { /* 2^(e-127); e = 0 is the subnormal 2^-127 */
        __m512i z = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, rs + b0));
        __m512i bits = _mm512_mask_mov_epi32(_mm512_slli_epi32(z, 23), _mm512_cmpeq_epi32_mask(z, _mm512_setzero_si512()),
                                             _mm512_set1_epi32(0x00400000));
        return _mm512_castsi512_ps(bits);
    }
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(GPTOSS_Q8_0_BYTES));
    __m512i d = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, rw + b0 * GPTOSS_Q8_0_BYTES, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d));
}

/* MXFP4: the unsigned weight bytes u = 2 v + 12 of blocks 4g .. 4g+3 (nv of them valid, the rest 0
 * codes): lo gets the low nibbles (lanes 4m..4m+3: block 4g+m), hi the high nibbles. */
TGT static INL void mx_bytes(const uint8_t *rw, size_t g, size_t nv, __m512i *lo, __m512i *hi) {
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i c = nv >= 4 ? _mm512_loadu_si512(rw + g * 64)
                              : _mm512_maskz_loadu_epi8(((__mmask64)1 << (16 * nv)) - 1, rw + g * 64);
#ifdef VN_VBMI /* vpermb reads 6 index bits: the table repeats every 16 bytes, so the nibble's neighbours do not matter */
    (void)m4;
    *lo = _mm512_permutexvar_epi8(c, lut);
    *hi = _mm512_permutexvar_epi8(_mm512_srli_epi16(c, 4), lut);
#else
    *lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(c, m4));
    *hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(c, 4), m4));
#endif
}

/* ggml blocks 4g .. 4g+3 (68 bytes; nv valid): the unsigned weight bytes as mx_bytes gives them and
 * each lane's weight scale 2^(e-127). A 17-byte block m straddles 128-bit lanes m and m + 1 of a
 * load at the group's start, so two loads 16 bytes apart and two in-lane vpshufb put its 16 code
 * bytes in lane m (vpermb would need VBMI); its scale byte, at offset 17m, is byte m of lane m. Bytes
 * past the valid blocks are not read: they come out as code 0 and e = 0. */
TGT static INL void gg_group(const uint8_t *rw, size_t g, size_t nv, __m512i *lo, __m512i *hi, __m512 *ws) {
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    const __m512i m4 = _mm512_set1_epi8(15), z = _mm512_setzero_si512();
    /* lane m, byte j: code byte j of block m from the first load (byte m + 1 + j of lane m) or the
     * second (byte m + 1 + j - 16); -1 (0x80 set) gives 0 */
    const __m512i ca = _mm512_set_epi8(-1, -1, -1, -1, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
                                       -1, -1, -1, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3,
                                       -1, -1, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2,
                                       -1, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i cb = _mm512_set_epi8(3, 2, 1, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                       2, 1, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                       1, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                       0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    /* every dword of lane m: the scale byte (byte m) in its top byte */
    const __m512i cs = _mm512_set_epi8(3, -1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1,
                                       2, -1, -1, -1, 2, -1, -1, -1, 2, -1, -1, -1, 2, -1, -1, -1,
                                       1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1,
                                       0, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1);
    const uint8_t *p = rw + g * 68;
    const size_t n = nv >= 4 ? 68 : 17 * nv;
    const __m512i a = n >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(((__mmask64)1 << n) - 1, p);
#ifdef VN_VBMI
    /* byte j of lane m: byte 17 m + 1 + j of the group, from a (< 64) or the 4 bytes after it */
    const __m512i gather = _mm512_set_epi8(67, 66, 65, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52,
                                           50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35,
                                           33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
                                           16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i b = _mm512_maskz_loadu_epi8(n > 64 ? ((__mmask64)1 << (n - 64)) - 1 : 0, p + 64);
    const __m512i c = _mm512_permutex2var_epi8(a, gather, b);
    *lo = _mm512_permutexvar_epi8(c, lut);
    *hi = _mm512_permutexvar_epi8(_mm512_srli_epi16(c, 4), lut);
    (void)ca, (void)cb, (void)m4;
#else
    const __m512i b = _mm512_maskz_loadu_epi8(n > 16 ? ((__mmask64)1 << (n - 16)) - 1 : 0, p + 16);
    const __m512i c = _mm512_or_si512(_mm512_shuffle_epi8(a, ca), _mm512_shuffle_epi8(b, cb));
    *lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(c, m4));
    *hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(c, 4), m4));
#endif
    const __m512i e = _mm512_srli_epi32(_mm512_shuffle_epi8(a, cs), 1); /* e << 23: 2^(e-127); e = 0: 2^-127 */
    *ws = _mm512_castsi512_ps(_mm512_mask_mov_epi32(e, _mm512_cmpeq_epi32_mask(e, z), _mm512_set1_epi32(0x00400000)));
    (void)z;
}

/* Q8_0: the unsigned weight bytes u = w + 128 of blocks 2p (lanes 0-7) and 2p+1 (lanes 8-15, if two). */
TGT static INL __m512i q8_bytes(const uint8_t *rw, size_t p, int two) {
    const uint8_t *pb = rw + p * 2 * GPTOSS_Q8_0_BYTES + 2;
    __m256i a = _mm256_loadu_si256((const __m256i *)pb);
    __m512i c = two ? _mm512_inserti64x4(_mm512_castsi256_si512(a), _mm256_loadu_si256((const __m256i *)(pb + GPTOSS_Q8_0_BYTES)), 1)
                    : _mm512_zextsi256_si512(a);
    return _mm512_xor_si512(c, _mm512_set1_epi8((char)0x80));
}

/* R rows from r x NT tokens, activations in np planes. Per 16 blocks: the rows' weight scales times
 * the tokens' activation scales (one vector, lane = block), then MXFP4 4 blocks (Q8_0 2 blocks) per
 * zmm of integer dots, converted and multiplied by their blocks' scales (a vpermps of that vector). */
TGT static INL void vtile(const int fmt, const int np, const int R, const int NT, float *out, size_t os, const vsrc *s,
                          uint64_t r, size_t nb, const vq *q) {
    const size_t bb = fmt == VF_MX ? 16 : fmt == VF_GG ? 17 : GPTOSS_Q8_0_BYTES; /* bytes per block */
    __m512 acc[4][VN_NT], corr[4][VN_NT];
    const uint8_t *rw[4], *rs[4];
#pragma GCC unroll 4
    for (int i = 0; i < R; i++) {
        rw[i] = vrow(s, r + (uint64_t)i);
        rs[i] = s->sc ? s->sc + (r + (uint64_t)i) * s->sc_row : NULL;
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) acc[i][t] = corr[i][t] = _mm512_setzero_ps();
    }
    /* The tile's rows are one contiguous region, or two (ggml gate/up: rows 0, 2 and 1, 3) */
    const int ns = s->w_odd && R > 1 ? 2 : 1, rs_n = R / ns;
    const size_t ahead = fmt == VF_Q8 ? VN_PF_Q8 : (size_t)VN_PF / (size_t)ns;
    const uint8_t *pf = rw[0] + ahead, *pf2 = ns == 2 ? rw[1] + ahead : NULL;
    if (rs[0]) /* the scales are a second stream, 1/16 of the codes: ahead by as many rows */
        for (size_t k = 0; k < (size_t)R * s->sc_row + 64; k += 64) _mm_prefetch((const char *)(rs[0] + ahead / 16 + k), _MM_HINT_T0);
    for (size_t b0 = 0; b0 < nb; b0 += 16) {
        const size_t n = nb - b0 < 16 ? nb - b0 : 16;
        __m512 cs[4][VN_NT]; /* lane j: the product of the scales of block b0 + j */
#pragma GCC unroll 4
        for (int i = 0; i < R && fmt != VF_GG; i++) { /* ggml: per group, below */
            __m512 ws = wscales(fmt, rw[i], rs[i], b0, n);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                cs[i][t] = _mm512_mul_ps(ws, _mm512_loadu_ps(&q->c[t][b0]));
                corr[i][t] = _mm512_fmadd_ps(ws, _mm512_loadu_ps(&q->k[t][b0]), corr[i][t]);
            }
        }
        const size_t step = fmt == VF_Q8 ? 2 : 4;
        for (size_t j = 0; j < n; j += step) {
            for (; pf < rw[0] + (b0 + j + step) * bb * rs_n + ahead; pf += 64) _mm_prefetch((const char *)pf, _MM_HINT_T0);
            if (ns == 2)
                for (; pf2 < rw[1] + (b0 + j + step) * bb * rs_n + ahead; pf2 += 64) _mm_prefetch((const char *)pf2, _MM_HINT_T0);
            const __m512i sel = fmt != VF_Q8 ? _mm512_add_epi32(_mm512_set1_epi32((int)j),
                                                                _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3))
                                             : _mm512_add_epi32(_mm512_set1_epi32((int)j),
                                                                _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
            if (fmt != VF_Q8) {
                const size_t g = (b0 + j) >> 2;
                __m512i ul[4], uh[4];
                __m512 gw[4]; /* ggml: lane 4m + k, the scale of block 4g + m */
#pragma GCC unroll 4
                for (int i = 0; i < R; i++)
                    if (fmt == VF_MX) mx_bytes(rw[i], g, n - j, &ul[i], &uh[i]);
                    else gg_group(rw[i], g, n - j, &ul[i], &uh[i], &gw[i]);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    const int8_t *ph = q->pl[0][t] + g * 128, *pm = q->pl[1][t] + g * 128, *pl = q->pl[2][t] + g * 128;
                    const __m512i hl = _mm512_load_si512(ph), hh = _mm512_load_si512(ph + 64);
                    const __m512i ml = _mm512_load_si512(pm), mh = _mm512_load_si512(pm + 64);
                    const __m512i ll = _mm512_load_si512(pl), lh = _mm512_load_si512(pl + 64);
                    __m512 xc = _mm512_setzero_ps(), xk = _mm512_setzero_ps();
                    if (fmt == VF_GG) { /* the tokens' block scales and offsets, the offset a quarter per lane */
                        xc = _mm512_permutexvar_ps(sel, _mm512_loadu_ps(&q->c[t][b0]));
                        xk = _mm512_mul_ps(_mm512_permutexvar_ps(sel, _mm512_loadu_ps(&q->k[t][b0])), _mm512_set1_ps(0.25f));
                    }
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) { /* dot(u, q) = (dot(u, hi) << 8) + dot(u, lo), one chain */
                        __m512i d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ul[i], hl), uh[i], hh);
                        d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_slli_epi32(d, 8), ul[i], ml), uh[i], mh);
                        if (np == 3) d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_slli_epi32(d, 8), ul[i], ll), uh[i], lh);
                        if (fmt == VF_GG) {
                            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(gw[i], xc), acc[i][t]);
                            corr[i][t] = _mm512_fmadd_ps(gw[i], xk, corr[i][t]);
                        } else
                            acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(sel, cs[i][t]), acc[i][t]);
                    }
                }
            } else {
                const size_t p = (b0 + j) >> 1;
                const int two = j + 1 < n;
                __m512i u[4];
#pragma GCC unroll 4
                for (int i = 0; i < R; i++) u[i] = q8_bytes(rw[i], p, two);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) {
                    const __m512i h = _mm512_load_si512(q->pl[0][t] + p * 64), l = _mm512_load_si512(q->pl[1][t] + p * 64);
#pragma GCC unroll 4
                    for (int i = 0; i < R; i++) {
                        __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[i], h);
                        d = _mm512_dpbusd_epi32(_mm512_slli_epi32(d, 8), u[i], l);
                        acc[i][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_permutexvar_ps(sel, cs[i][t]), acc[i][t]);
                    }
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; i++)
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            out[(size_t)t * os + r + (uint64_t)i] = _mm512_reduce_add_ps(acc[i][t]) - _mm512_reduce_add_ps(corr[i][t]);
}

#define VT_CASES(FMT, R, S)                                                                                           \
    switch (n_tok) {                                                                                                  \
    case 1: vtile(FMT, np, R, 1, out, os, S, r, nb, q); break;                                                        \
    case 2: vtile(FMT, np, R, 2, out, os, S, r, nb, q); break;                                                        \
    default: /* MXFP4 takes at most VN_NT_MX = 3 tokens */                                                         \
        if ((FMT) != VF_Q8 || n_tok == 3) vtile(FMT, np, R, 3, out, os, S, r, nb, q);                                 \
        else vtile(FMT, np, R, 4, out, os, S, r, nb, q);                                                              \
        break;                                                                                                        \
    }

TGT static INL void vrun(const int fmt, const int np, float *out, size_t os, const vsrc *s, size_t nb, const vq *q,
                         size_t n_tok, uint64_t r0, uint64_t r1) {
    uint64_t r = r0;
    /* Tiles of adjacent rows: a tile's codes are one contiguous region and its scales another, two
     * sequential streams that software prefetch keeps VN_PF (VN_PF_Q8) bytes ahead of. Rows a quarter of the
     * range apart (eight streams with MXFP4's scales) left the decode at a third of the read rate:
     * the scales were never prefetched, and the hardware did not keep up with that many streams. */
    const int R = fmt != VF_Q8 || n_tok <= 2 ? 4 : 2;
    if (R == 4)
        for (; r + 4 <= r1; r += 4) VT_CASES(fmt, 4, s)
    else
        for (; r + 2 <= r1; r += 2) VT_CASES(fmt, 2, s)
    for (; r < r1; r++) VT_CASES(fmt, 1, s)
}

/* Q8_0 up to VN_NT_Q8_MAX tokens, VN_NT at a time: a later group re-reads the call's rows from L2
 * (a 256-row chunk of a 2880-column matrix is 0.8 MB), so a small decode batch costs about one read
 * of the weights, where the f32 tile would be compute-bound. */
#ifndef VN_VBMI
TGT void gptoss_dense_vnni(float *out, size_t os, const gptoss_mat *w, const float *bias, const float *x, size_t xs,
                           size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t cols = (size_t)w->cols, nb = cols / 32;
    if (w->dtype != GPTOSS_DTYPE_Q8_0 || n_tok > VN_NT_Q8_MAX || cols > VN_MAXC || r0 >= r1) {
        gptoss_cpu_avx512.dense(out, os, w, bias, x, xs, n_tok, r0, r1);
        return;
    }
    vq q;
    vsrc s = {.w = w->data, .row_bytes = nb * GPTOSS_Q8_0_BYTES};
    for (size_t t0 = 0; t0 < n_tok; t0 += VN_NT) {
        const size_t nt = n_tok - t0 < VN_NT ? n_tok - t0 : VN_NT;
        float *o = out + t0 * os;
        const float *xt = x + t0 * xs;
        if (!quantize(&q, VF_Q8, 2, xt, xs, nt, nb)) {
            gptoss_cpu_avx512.dense(o, os, w, bias, xt, xs, nt, r0, r1);
            continue;
        }
        vrun(VF_Q8, 2, o, os, &s, nb, &q, nt, r0, r1);
        gptoss_add_bias(o, os, bias, nt, r0, r1);
    }
}

/* MXFP4 with the activations in np planes (the HF layout); the f32 kernels where the integer path
 * does not apply. */
#endif

TGT static INL void mx_run(const int np, float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    vq q;
    if (n_tok > VN_NT_MX || nb * 32 > VN_MAXC || r0 >= r1 || !quantize(&q, VF_MX, np, x, xs, n_tok, nb)) {
        gptoss_cpu_avx512.mxfp4(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    vsrc s = {.w = w->blocks + e * w->rows * nb * 16, .sc = w->scales + e * w->rows * nb, .row_bytes = nb * 16, .sc_row = nb};
    vrun(VF_MX, np, out, os, &s, nb, &q, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

/* The same for ggml's blocks. */
TGT static INL void gg_run(const int np, float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                           const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    const size_t nb = (size_t)w->cols / 32;
    vq q;
    if (n_tok > VN_NT_MX || nb * 32 > VN_MAXC || r0 >= r1 || (w->blocks_odd && w->rows % 2) ||
        !quantize(&q, VF_MX, np, x, xs, n_tok, nb)) {
        gptoss_cpu_avx512.mxfp4_ggml(out, os, w, e, bias, x, xs, n_tok, r0, r1);
        return;
    }
    const uint64_t per = w->blocks_odd ? w->rows / 2 : w->rows; /* rows of one expert in each tensor */
    vsrc s = {.w = w->blocks + e * per * nb * 17, .w_odd = w->blocks_odd ? w->blocks_odd + e * per * nb * 17 : NULL,
              .row_bytes = nb * 17};
    vrun(VF_GG, np, out, os, &s, nb, &q, n_tok, r0, r1);
    gptoss_add_bias(out, os, bias, n_tok, r0, r1);
}

TGT static void vnni_mxfp4(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias, const float *x,
                           size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    mx_run(2, out, os, w, e, bias, x, xs, n_tok, r0, r1);
}
TGT static void vnni_mxfp4_ggml(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                                const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gg_run(2, out, os, w, e, bias, x, xs, n_tok, r0, r1);
}

#define VNNI_OPS(NAME, MX, GG, PRECISE)                                                                                \
    {.name = NAME,                                                                                                    \
     .dense = gptoss_dense_vnni,                                                                                      \
     .mxfp4 = MX,                                                                                                     \
     .mxfp4_ggml = GG,                                                                                                \
     .attention = gptoss_attention_head_avx512,                                                                       \
     .attention_group = gptoss_attention_group_avx512,                                                                \
     .attention_f16 = gptoss_attention_head_f16_avx512,                                                               \
     .attention_group_f16 = gptoss_attention_group_f16_avx512,                                                        \
     .attention_bf24 = gptoss_attention_head_bf24_avx512,                                                             \
     .attention_group_bf24 = gptoss_attention_group_bf24_avx512,                                                      \
     .swiglu_mx = gptoss_swiglu_mx_avx512,                                                                            \
     .precise = PRECISE}

#ifdef VN_VBMI
const gptoss_cpu_ops gptoss_cpu_avx512vbmi = VNNI_OPS("avx512vbmi", vnni_mxfp4, vnni_mxfp4_ggml,
                                                      &gptoss_cpu_avx512vnni_precise);
#else
TGT static void vnni_mxfp4_24(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                              const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    mx_run(3, out, os, w, e, bias, x, xs, n_tok, r0, r1);
}
TGT static void vnni_mxfp4_ggml_24(float *out, size_t os, const gptoss_mxfp4 *w, uint64_t e, const float *bias,
                                   const float *x, size_t xs, size_t n_tok, uint64_t r0, uint64_t r1) {
    gg_run(3, out, os, w, e, bias, x, xs, n_tok, r0, r1);
}
const gptoss_cpu_ops gptoss_cpu_avx512vnni_precise = VNNI_OPS("avx512vnni", vnni_mxfp4_24, vnni_mxfp4_ggml_24, NULL);
const gptoss_cpu_ops gptoss_cpu_avx512vnni = VNNI_OPS("avx512vnni", vnni_mxfp4, vnni_mxfp4_ggml,
                                                      &gptoss_cpu_avx512vnni_precise);
#endif
#endif
