/* gguf.h: the GGUF container (versions 2 and 3, little-endian) as ggml writes it: a header, typed
 * key/value metadata, tensor descriptions, then the aligned tensor data. The reader checks every
 * count, length and offset against the file before using it and never allocates from an unchecked
 * count; tensors stay in the caller's buffer (normally a read-only mapping). The writer streams a
 * file whose tensor shapes are declared up front. See src/format/README.md. */
#ifndef GPTOSS_GGUF_H
#define GPTOSS_GGUF_H

#include <stdint.h>
#include <stdio.h>

#include "base/common.h"

/* Metadata value types (gguf.h in ggml). */
enum {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
};

/* ggml tensor types this project knows the block geometry of (ggml.h enum ggml_type). */
enum {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3, GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_I8 = 24, GGML_TYPE_I16 = 25, GGML_TYPE_I32 = 26,
    GGML_TYPE_I64 = 27, GGML_TYPE_F64 = 28, GGML_TYPE_BF16 = 30, GGML_TYPE_MXFP4 = 39,
};

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 256                          /* tensor names (ggml itself allows 63 bytes) */
#define GGUF_MAX_KEY 65535
#define GGUF_MAX_STRING ((uint64_t)1 << 30)        /* any single string */
#define GGUF_MXFP4_BLOCK_BYTES 17                  /* E8M0 scale byte + 16 bytes of nibbles */
#define GGUF_Q8_0_BLOCK_BYTES 34                   /* f16 scale + 32 int8 */

typedef struct gptoss_gguf_kv {
    char *key;                /* owned, NUL-terminated */
    uint32_t type;
    /* scalars */
    uint64_t u;               /* unsigned/bool value, or the bit pattern of a signed one */
    int64_t i;
    double f;
    /* strings: into the buffer, not NUL-terminated */
    const char *str;
    uint64_t str_len;
    /* arrays */
    uint32_t arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;  /* first element */
    uint64_t *arr_str_off;    /* owned, string arrays only: offset of each element's length field */
} gptoss_gguf_kv;

typedef struct gptoss_gguf_tensor {
    char *name;               /* owned, NUL-terminated */
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS]; /* ggml order: ne[0] is the innermost (contiguous) dimension */
    uint64_t n_elements, n_bytes;
    uint64_t offset;          /* relative to the data section */
    const uint8_t *data;
} gptoss_gguf_tensor;

typedef struct gptoss_gguf {
    char *path;               /* owned */
    const uint8_t *base;
    size_t size;
    void *map;                /* owned mapping when opened with gptoss_gguf_open */
    uint32_t version;
    uint64_t alignment, data_offset;
    gptoss_gguf_kv *kv;
    size_t n_kv;
    gptoss_gguf_tensor *tensors; /* file order */
    size_t n_tensors;
} gptoss_gguf;

/* Parses a whole GGUF file held in memory (base, size). On failure a one-line message naming
 * `path` is written to err and g is left freed. */
gptoss_status gptoss_gguf_parse(gptoss_gguf *g, const char *path, const uint8_t *base, size_t size, char *err,
                                size_t err_size);
/* Maps path read-only and parses it. */
gptoss_status gptoss_gguf_open(gptoss_gguf *g, const char *path, char *err, size_t err_size);
void gptoss_gguf_free(gptoss_gguf *g);
/* 1 when the name ends in .gguf (any case) or the file starts with the GGUF magic: what the loaders
 * read as GGUF, so that a damaged .gguf file gets the GGUF reader's message. */
int gptoss_gguf_is_file(const char *path);
/* For one-line messages about a file that is not what it should be: its size and first bytes (up to
 * 16, printable ASCII as is, others escaped), e.g. `1234 bytes, starting "<!DOCTYPE html>\n"...` or
 * `0 bytes (empty)`. p holds the first n bytes of a file of size bytes. */
void gptoss_bytes_describe(char *out, size_t out_size, const uint8_t *p, size_t n, uint64_t size);

const gptoss_gguf_kv *gptoss_gguf_find(const gptoss_gguf *g, const char *key);
const gptoss_gguf_tensor *gptoss_gguf_find_tensor(const gptoss_gguf *g, const char *name);
/* Typed access; each returns 0 when the key is missing or has an incompatible type. */
int gptoss_gguf_get_u64(const gptoss_gguf *g, const char *key, uint64_t *out); /* any non-negative integer */
int gptoss_gguf_get_f64(const gptoss_gguf *g, const char *key, double *out);   /* any number */
int gptoss_gguf_get_str(const gptoss_gguf *g, const char *key, const char **s, uint64_t *len);
/* Element i of a string array. */
void gptoss_gguf_arr_str(const gptoss_gguf_kv *kv, uint64_t i, const char **s, uint64_t *len);
/* Element i of an integer array as int64. */
int64_t gptoss_gguf_arr_int(const gptoss_gguf_kv *kv, uint64_t i);

const char *gptoss_ggml_type_name(uint32_t type);
/* Elements per block and bytes per block; 0 for types this project does not know. */
uint32_t gptoss_ggml_block_size(uint32_t type);
uint32_t gptoss_ggml_type_size(uint32_t type);
const char *gptoss_gguf_value_type_name(uint32_t type);

/* ---- writer (gguf_write.c) ----------------------------------------------------------------- */

typedef struct gptoss_gguf_wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t n_bytes, offset;
} gptoss_gguf_wtensor;

typedef struct gptoss_gguf_writer {
    gptoss_buf kv;            /* serialized key/value pairs */
    uint64_t n_kv;
    gptoss_gguf_wtensor *tensors;
    size_t n_tensors, cap_tensors;
    uint64_t alignment, data_size;
    FILE *f;
    char *path;
    size_t next_tensor;       /* data streaming: the tensor being written */
    uint64_t written;         /* bytes of the current tensor written so far */
    int failed;
} gptoss_gguf_writer;

void gptoss_gguf_writer_init(gptoss_gguf_writer *w);
void gptoss_gguf_w_u32(gptoss_gguf_writer *w, const char *key, uint32_t v);
void gptoss_gguf_w_i32(gptoss_gguf_writer *w, const char *key, int32_t v);
void gptoss_gguf_w_u64(gptoss_gguf_writer *w, const char *key, uint64_t v);
void gptoss_gguf_w_f32(gptoss_gguf_writer *w, const char *key, float v);
void gptoss_gguf_w_bool(gptoss_gguf_writer *w, const char *key, int v);
void gptoss_gguf_w_str(gptoss_gguf_writer *w, const char *key, const char *v);
void gptoss_gguf_w_arr_str(gptoss_gguf_writer *w, const char *key, const char *const *v, const size_t *lens,
                           uint64_t n);
void gptoss_gguf_w_arr_i32(gptoss_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Declares a tensor; shape in row-major order (outermost first), as safetensors writes it. */
void gptoss_gguf_w_tensor(gptoss_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                          const uint64_t *shape);
/* Writes the header, metadata and tensor table to path; then tensor data follows in declaration
 * order through gptoss_gguf_w_data (any chunking), and gptoss_gguf_w_close finishes the file. */
gptoss_status gptoss_gguf_w_begin(gptoss_gguf_writer *w, const char *path, char *err, size_t err_size);
gptoss_status gptoss_gguf_w_data(gptoss_gguf_writer *w, const void *p, size_t n, char *err, size_t err_size);
gptoss_status gptoss_gguf_w_close(gptoss_gguf_writer *w, char *err, size_t err_size);
void gptoss_gguf_writer_free(gptoss_gguf_writer *w);

/* ---- block codecs ------------------------------------------------------------------------- */

/* Repacks one MXFP4 block between the safetensors order (byte j: element 2j low, 2j+1 high) and
 * ggml's (byte j: element j low, j+16 high). Exact permutations of the nibbles. */
void gptoss_mxfp4_hf_to_ggml(uint8_t out[16], const uint8_t in[16]);
void gptoss_mxfp4_ggml_to_hf(uint8_t out[16], const uint8_t in[16]);
/* Q8_0 quantization and f16 conversions: gptoss_quantize_row_q8_0 (cpu/kernels.h),
 * gptoss_f16_to_f32 (common.h). */

#endif
