/* model.h: the in-memory model: its configuration, the mapped checkpoint and typed views of every
 * weight, bound to the Hugging Face or the original tensor names. Internal to the library. */
#ifndef GPTOSS_MODEL_H
#define GPTOSS_MODEL_H

#include "common.h"
#include "safetensors.h"

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
    /* [gguf] layout GPTOSS_MXFP4_GGML (GGUF files): ggml's 17-byte blocks at `blocks` (E8M0 scale byte,
     * then 16 bytes: element j in the low nibble of byte j, element j+16 in the high nibble; `scales`
     * unused). With blocks_odd set, the rows are two tensors [n_experts][rows/2][cols] interleaved:
     * row 2i is row i of `blocks` (gate), row 2i+1 is row i of `blocks_odd` (up). See src/cpu/mxfp4_ggml.c. */
    int layout;
    const uint8_t *blocks_odd;
} gptoss_mxfp4;
#define GPTOSS_MXFP4_HF 0
#define GPTOSS_MXFP4_GGML 1

typedef struct gptoss_layer {
    int sliding;            /* 1: attends to the last sliding_window positions only */
    float *attn_norm;       /* [hidden] (small vectors are widened to f32 once at load) */
    float *mlp_norm;        /* [hidden] */
    float *sinks;           /* [n_heads] */
    float *q_bias, *k_bias, *v_bias, *o_bias, *router_bias;
    gptoss_mat wq, wk, wv;  /* [n_heads*head_dim | n_kv_heads*head_dim, hidden] */
    gptoss_mat wo;          /* [hidden, n_heads*head_dim] */
    gptoss_mat router;      /* [n_experts, hidden] */
    gptoss_mxfp4 mlp1;      /* [E][2*intermediate][hidden], gate/linear interleaved */
    gptoss_mxfp4 mlp2;      /* [E][hidden][intermediate] */
    gptoss_mat mlp1_bias;   /* [E, 2*intermediate] */
    gptoss_mat mlp2_bias;   /* [E, hidden] */
} gptoss_layer;

struct gptoss_model {
    gptoss_model_config config;
    gptoss_st_set st;
    char *dir;
    int layout_original;
    gptoss_layer *layers;
    gptoss_mat embedding;   /* [vocab, hidden] */
    gptoss_mat unembedding; /* [vocab, hidden] */
    float *final_norm;      /* [hidden] */
    float *rope_inv_freq;   /* [head_dim/2] */
    float rope_concentration;
    float *small;           /* one allocation backing every widened small vector */
    /* [cuda backend hook] device copy of the weights (uploaded by the first CUDA session), freed by
     * cuda_free from gptoss_model_free. no_host_weights: built on the device only (bench --synth). */
    void *cuda;
    void (*cuda_free)(void *cuda);
    int no_host_weights;
    int exact;              /* gptoss_model_options.exact: scalar reference kernels */
    void *q8;               /* one allocation holding every matrix converted to Q8_0 at load */
    uint64_t q8_bytes;      /* its size */
    /* [gguf] a model loaded from a .gguf file (src/model_gguf.c): parsed metadata and the buffers
     * it owns; freed by gptoss_model_free. */
    struct gptoss_gguf_model *gguf;
    /* The embedding's rows are read with pread from this descriptor (valid when embed_pread): the
     * table is the one tensor read sparsely, and through the mapping a looked-up row maps its whole
     * page-cache folio (up to 2 MiB, the size a cold read makes) and counts it in RSS. */
    int embed_pread, embed_fd;
    uint64_t embed_offset; /* file offset of row 0 */
};

/* [gguf] src/model_gguf.c */
gptoss_status gptoss_model_load_gguf(const char *path, gptoss_model **out, char *err, size_t err_size);
void gptoss_gguf_model_free(struct gptoss_gguf_model *g);

/* Fills cfg from a parsed config.json (either layout). Checks that the values are consistent. */
struct json_value;
gptoss_status gptoss_config_parse(const struct json_value *root, const char *path, gptoss_model_config *cfg,
                                  int *sliding_of_layer, uint32_t max_layers, char *err, size_t err_size);
gptoss_status gptoss_config_read(const char *path, gptoss_model_config *cfg, int **sliding_of_layer,
                                 int *is_original, char *err, size_t err_size);

/* Fills rope_inv_freq (head_dim/2 floats, allocated by the caller) and rope_concentration. */
void gptoss_model_init_rope(gptoss_model *m);

/* Widens n elements starting at element `offset` of a BF16/F16/F32/Q8_0 array to f32. */
void gptoss_to_f32(float *dst, const void *src, gptoss_dtype dtype, uint64_t offset, size_t n);
/* The memory regions a decoded token reads from (every layer's attention and router matrices, each
 * expert tensor whole, the unembedding): up to max of them into ptr/bytes; returns how many there
 * are. For measuring how fast those bytes can be read where they lie (gptoss bench). */
size_t gptoss_model_decode_regions(const gptoss_model *m, const uint8_t **ptr, uint64_t *bytes, size_t max);
/* Row `id` of the embedding as hidden_size floats; scratch holds gptoss_row_bytes(dtype, hidden_size)
 * bytes. */
void gptoss_model_embed_row(const gptoss_model *m, uint64_t id, float *dst, void *scratch);

#endif
