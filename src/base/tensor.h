/* tensor.h: what a weight is, beneath the formats that store weights, the kernels that read them and
 * the model that binds them: element types (gptoss_dtype, the Q8_0 block) and the typed views of a
 * matrix (gptoss_mat) and of MXFP4 expert weights (gptoss_mxfp4) that point into mapped memory. */
#ifndef GPTOSS_TENSOR_H
#define GPTOSS_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum gptoss_dtype {
    GPTOSS_DTYPE_F32,
    GPTOSS_DTYPE_F16,
    GPTOSS_DTYPE_BF16,
    GPTOSS_DTYPE_U8,
    GPTOSS_DTYPE_I8,
    /* ggml-compatible Q8_0: rows of blocks of 32 along the input dimension, each an f16 scale d then
     * 32 int8 q (34 bytes); value = d * q. Never in safetensors files: produced by the load-time
     * dense conversion (the default unembedding, gptoss_model_options.dense_q8) and by GGUF files. */
    GPTOSS_DTYPE_Q8_0,
    GPTOSS_DTYPE_OTHER, /* present in a file, never used by the model (F64, I32, ...) */
} gptoss_dtype;

#define GPTOSS_Q8_0_BLOCK 32
#define GPTOSS_Q8_0_BYTES 34
typedef struct gptoss_block_q8_0 {
    uint16_t d;     /* f16 scale */
    int8_t q[32];
} gptoss_block_q8_0;

/* Element size (0 for Q8_0, whose size is per block: use gptoss_row_bytes). */
size_t gptoss_dtype_size(gptoss_dtype dtype);
/* Bytes of one row of `cols` elements (Q8_0: cols must be a multiple of 32). */
static inline uint64_t gptoss_row_bytes(gptoss_dtype dtype, uint64_t cols) {
    return dtype == GPTOSS_DTYPE_Q8_0 ? cols / GPTOSS_Q8_0_BLOCK * GPTOSS_Q8_0_BYTES : cols * gptoss_dtype_size(dtype);
}
const char *gptoss_dtype_name(gptoss_dtype dtype);
/* Widens n elements starting at element `offset` of a BF16/F16/F32/Q8_0 array to f32. */
void gptoss_to_f32(float *dst, const void *src, gptoss_dtype dtype, uint64_t offset, size_t n);

/* A dense row-major [rows x cols] matrix in the mapped file (BF16, F16 or F32), or Q8_0 (converted at
 * load, or from a GGUF file): row r starts at byte r * gptoss_row_bytes(dtype, cols). */
typedef struct gptoss_mat {
    const void *data;
    gptoss_dtype dtype;
    uint64_t rows, cols;
} gptoss_mat;

/* MXFP4 expert weights [n_experts][rows][cols]: 16-byte blocks of 32 E2M1 codes along cols (low
 * nibble = even element) and one E8M0 scale byte per block. */
typedef struct gptoss_mxfp4 {
    const uint8_t *blocks; /* [n_experts][rows][cols/32][16] */
    const uint8_t *scales; /* [n_experts][rows][cols/32] */
    uint64_t n_experts, rows, cols;
    /* Layout GPTOSS_MXFP4_GGML (GGUF files): ggml's 17-byte blocks at `blocks` (E8M0 scale byte,
     * then 16 bytes: element j in the low nibble of byte j, element j+16 in the high nibble; `scales`
     * unused). With blocks_odd set, the rows are two tensors [n_experts][rows/2][cols] interleaved:
     * row 2i is row i of `blocks` (gate), row 2i+1 is row i of `blocks_odd` (up). See src/cpu/mxfp4_ggml.c. */
    int layout;
    const uint8_t *blocks_odd;
} gptoss_mxfp4;
#define GPTOSS_MXFP4_HF 0
#define GPTOSS_MXFP4_GGML 1

#endif
