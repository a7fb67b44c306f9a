/* tensor.c: element sizes and names of the weight types, and widening a run of them to f32. */
#include "base/common.h"
#include "base/tensor.h"

size_t gptoss_dtype_size(gptoss_dtype dtype) {
    switch (dtype) {
    case GPTOSS_DTYPE_F32: return 4;
    case GPTOSS_DTYPE_F16:
    case GPTOSS_DTYPE_BF16: return 2;
    case GPTOSS_DTYPE_U8:
    case GPTOSS_DTYPE_I8: return 1;
    case GPTOSS_DTYPE_Q8_0: /* per block: gptoss_row_bytes */
    case GPTOSS_DTYPE_OTHER: return 0;
    }
    return 0;
}

const char *gptoss_dtype_name(gptoss_dtype dtype) {
    switch (dtype) {
    case GPTOSS_DTYPE_F32: return "F32";
    case GPTOSS_DTYPE_F16: return "F16";
    case GPTOSS_DTYPE_BF16: return "BF16";
    case GPTOSS_DTYPE_U8: return "U8";
    case GPTOSS_DTYPE_I8: return "I8";
    case GPTOSS_DTYPE_Q8_0: return "Q8_0";
    case GPTOSS_DTYPE_OTHER: return "other";
    }
    return "?";
}

void gptoss_to_f32(float *dst, const void *src, gptoss_dtype dtype, uint64_t offset, size_t n) {
    switch (dtype) {
    case GPTOSS_DTYPE_Q8_0: {
        const uint8_t *base = src;
        for (size_t i = 0; i < n;) {
            uint64_t e = offset + i;
            gptoss_block_q8_0 blk;
            memcpy(&blk, base + e / GPTOSS_Q8_0_BLOCK * GPTOSS_Q8_0_BYTES, GPTOSS_Q8_0_BYTES);
            const float d = gptoss_f16_to_f32(blk.d);
            for (uint64_t j = e % GPTOSS_Q8_0_BLOCK; j < GPTOSS_Q8_0_BLOCK && i < n; j++) dst[i++] = d * (float)blk.q[j];
        }
        break;
    }
    case GPTOSS_DTYPE_F32: memcpy(dst, (const float *)src + offset, n * sizeof(float)); break;
    case GPTOSS_DTYPE_BF16: {
        const uint16_t *s = (const uint16_t *)src + offset;
        for (size_t i = 0; i < n; i++) dst[i] = gptoss_bf16_to_f32(s[i]);
        break;
    }
    case GPTOSS_DTYPE_F16: {
        const uint16_t *s = (const uint16_t *)src + offset;
        for (size_t i = 0; i < n; i++) dst[i] = gptoss_f16_to_f32(s[i]);
        break;
    }
    default: memset(dst, 0, n * sizeof(float)); break;
    }
}
