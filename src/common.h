/* common.h: small internal helpers shared by every module: error reporting, bf16/f32 conversion,
 * checked arithmetic, a growable byte buffer. */
#ifndef GPTOSS_COMMON_H
#define GPTOSS_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gptoss.h"

#if defined(__GNUC__)
#define GPTOSS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GPTOSS_PRINTF(a, b)
#endif

/* Writes a formatted one-line message into err (if any) and returns status. */
gptoss_status gptoss_fail(gptoss_status status, char *err, size_t err_size, const char *fmt, ...)
    GPTOSS_PRINTF(4, 5);

static inline float gptoss_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even; NaN stays NaN. */
static inline uint16_t gptoss_f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

/* a*b without overflow; returns 0 on overflow. */
static inline int gptoss_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Growable byte buffer. On allocation failure `failed` is set and further appends are ignored. */
typedef struct gptoss_buf {
    char *data;
    size_t len, cap;
    int failed;
} gptoss_buf;

void gptoss_buf_append(gptoss_buf *b, const void *p, size_t n);
void gptoss_buf_puts(gptoss_buf *b, const char *s);
void gptoss_buf_printf(gptoss_buf *b, const char *fmt, ...) GPTOSS_PRINTF(2, 3);
/* NUL-terminates (not counted in len) and returns data, or NULL if an allocation failed. */
const char *gptoss_buf_cstr(gptoss_buf *b);
void gptoss_buf_free(gptoss_buf *b);

/* Reads a whole file (NUL-terminated, not counted in *len). */
gptoss_status gptoss_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err,
                               size_t err_size);

#endif
