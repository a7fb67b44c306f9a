/* swiglu_neon.c: the clamped SwiGLU of mlp1's output (gptoss_swiglu_f32's formula) on AArch64 NEON,
 * for whole 32-value blocks written in MXFP4 order (the even outputs, then the odd ones), the neon
 * variant's swiglu_mx. vld4q splits 16 floats (8 gate, linear pairs) into the gates and linears of
 * the 4 even and the 4 odd outputs, so no permute is needed; exp from vexp_neon.h. Compiled only for
 * AArch64. */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "cpu/simd.h"
#include "cpu/vexp_neon.h"

static inline float32x4_t act(float32x4_t g, float32x4_t lin, float limit) {
    g = vminq_f32(g, vdupq_n_f32(limit));
    lin = vmaxq_f32(vminq_f32(lin, vdupq_n_f32(limit)), vdupq_n_f32(-limit));
    const float32x4_t one = vdupq_n_f32(1.0f);
    const float32x4_t e = gptoss_vexpq(vmulq_n_f32(g, -1.702f));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(one, e)), vaddq_f32(lin, one));
}

void gptoss_swiglu_mx_neon(float *a, const float *u, size_t n_blocks, float limit) {
    for (size_t b = 0; b < n_blocks; b++, a += 32, u += 64)
        for (int k = 0; k < 4; k++) {
            /* outputs 8k..8k+7: val[0], val[1] gate and linear of 8k, 8k+2, ..; val[2], val[3] of 8k+1, .. */
            const float32x4x4_t v = vld4q_f32(u + 16 * k);
            vst1q_f32(a + 4 * k, act(v.val[0], v.val[1], limit));
            vst1q_f32(a + 16 + 4 * k, act(v.val[2], v.val[3], limit));
        }
}
#endif
