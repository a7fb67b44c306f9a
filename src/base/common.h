/* common.h: small internal helpers shared by every module: error reporting, bf16/f16/bf24/f32 conversion,
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

/* Exact for every f16: its exponent and mantissa bits moved into f32's places read as 2^-112 times
 * the value, for subnormals too, so one multiply by 2^112 rebiases; inf and NaN keep their bits. */
static inline float gptoss_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t bits = (uint32_t)(h & 0x7fffu) << 13;
    float f;
    if ((h & 0x7c00u) == 0x7c00u) {
        bits |= 0x7f800000u | sign;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    memcpy(&f, &bits, sizeof f);
    f *= 0x1p112f;
    memcpy(&bits, &f, sizeof bits);
    bits |= sign;
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

/* bf24 (a KV cache type): f32's upper three bytes, stored as a row's n upper halves (u16) followed
 * by its n third bytes, so that vector loads widen them with two zero-extensions. */
static inline float gptoss_bf24_to_f32(uint16_t hi, uint8_t lo) {
    const uint32_t bits = (uint32_t)hi << 16 | (uint32_t)lo << 8;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Element i of a bf24 row of n. */
static inline float gptoss_bf24_row_get(const uint8_t *row, size_t n, size_t i) {
    uint16_t hi;
    memcpy(&hi, row + 2 * i, sizeof hi);
    return gptoss_bf24_to_f32(hi, row[2 * n + i]);
}

/* a*b without overflow; returns 0 on overflow. */
static inline int gptoss_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* splitmix64: seeds and derives keys (one step per call). */
static inline uint64_t gptoss_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* xoshiro256**: the library's fast PRNG (sampling draws, synthesized weights). */
static inline uint64_t gptoss_xoshiro256ss(uint64_t s[4]) {
    uint64_t r = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return r;
}

/* Opens path read-only as a regular file (O_NONBLOCK: a FIFO or device in its place fails instead
 * of blocking) and gives its size. */
gptoss_status gptoss_open_regular(const char *path, int *fd, size_t *size, char *err, size_t err_size);

/* Maps a regular file read-only (MAP_SHARED, so the page cache is shared between processes).
 * An empty file gives *map = NULL, *size = 0. Unmap with munmap(*map, *size). */
gptoss_status gptoss_map_file(const char *path, void **map, size_t *size, char *err, size_t err_size);

/* Returns a non-OK status from the enclosing function. */
#define GPTOSS_TRY(x)                                                                                                 \
    do {                                                                                                              \
        gptoss_status st_ = (x);                                                                                      \
        if (st_ != GPTOSS_OK) return st_;                                                                             \
    } while (0)

/* A tensor's byte range in a file; `index` identifies the tensor to the caller. */
typedef struct gptoss_span {
    uint64_t begin, end;
    size_t index;
} gptoss_span;

/* Sorts spans by offset and looks for two tensors that share a byte, or an empty one placed strictly
 * inside another: returns 1 with their `index` fields in *first, *second, else 0. */
int gptoss_spans_overlap(gptoss_span *spans, size_t n, size_t *first, size_t *second);

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

/* dir + "/" + name (no second slash when dir ends with one), malloc'd; NULL without memory. */
char *gptoss_path_join(const char *dir, const char *name);

/* Removes dir and everything below it, walking by directory fds: a symlink met on the way (one that
 * something still running swaps in for a folder, too) is removed as a name, never followed. 0, or -1
 * with errno. */
int gptoss_path_remove_tree(const char *dir);

/* Reads a whole file (NUL-terminated, not counted in *len). */
gptoss_status gptoss_read_file(const char *path, size_t max_bytes, char **out, size_t *len, char *err,
                               size_t err_size);

#endif
