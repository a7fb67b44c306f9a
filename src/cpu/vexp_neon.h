/* vexp_neon.h: e^x on four floats for the AArch64 NEON files (SwiGLU, softmax): x = n ln2 + r with
 * |r| <= ln2/2, e^r by its Taylor polynomial to r^7 (relative error ~1e-7, as expf), times 2^n built
 * in the exponent bits. x is clamped to [-87, 88] so that 2^n stays a normal float. Below, the result
 * is e^-87 (~1.6e-38) where expf's is smaller or 0: the callers only ever add it to 1 or more (SwiGLU's
 * 1 + e; a softmax's largest term, e^0), where it vanishes as expf's does. Above, it stays finite
 * (~1.7e38) where expf overflows, and SwiGLU's g / (1 + e) is ~0 either way (a softmax subtracts its
 * maximum first, so never gets there). */
#ifndef GPTOSS_CPU_VEXP_NEON_H
#define GPTOSS_CPU_VEXP_NEON_H

#include <arm_neon.h>

static inline __attribute__((always_inline)) float32x4_t gptoss_vexpq(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, n, vdupq_n_f32(1.428606765330187045e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
    p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

#endif
