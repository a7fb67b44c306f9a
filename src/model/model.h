/* model.h: the in-memory model: its configuration, the mapped checkpoint and typed views of every
 * weight, bound to the Hugging Face or the original tensor names. Internal to the library. */
#ifndef GPTOSS_MODEL_H
#define GPTOSS_MODEL_H

#include "base/common.h"
#include "base/tensor.h"
#include "format/safetensors.h"

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

/* One rank's share of a model sharded over n_ranks processes (src/dist, engine/dist.c): NULL in the
 * model of a single process. Attention is split by kv heads (a rank computes q, k, v, the cache and
 * the attention of its kv heads and their query heads), the output projection by its rows (hidden),
 * the experts by index and the unembedding by vocabulary rows; every split follows gptoss_split_lo.
 * The views are row slices of the model's own (in the mapping, or in m->q8 once converted); the
 * rest of the model stays whole and replicated (norms, biases, sinks, router, embedding rows). */
typedef struct gptoss_shard_layer {
    gptoss_mat wq, wk, wv; /* rows of heads [kv0 * G, kv1 * G) / kv heads [kv0, kv1) */
    gptoss_mat wo;         /* rows [d0, d1) */
} gptoss_shard_layer;

typedef struct gptoss_shard {
    uint32_t rank, n_ranks;
    uint32_t kv0, kv1; /* kv heads */
    uint32_t d0, d1;   /* hidden rows of the output projection */
    uint32_t e0, e1;   /* experts */
    uint32_t v0, v1;   /* vocabulary rows of the unembedding */
    gptoss_shard_layer *layers;
    gptoss_mat unembedding;
    /* [n_ranks + 1] column bounds of each rank's part of an attention output row (q columns), of a
     * hidden row and of a logits row: what the forward pass's exchanges take. */
    uint64_t *lo_q, *lo_d, *lo_v;
    struct gptoss_comm *comm; /* set by engine/dist.c */
} gptoss_shard;

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
    /* Device copy of the weights (uploaded by the first CUDA session), freed by
     * cuda_free from gptoss_model_free. no_host_weights: built on the device only (bench --synth). */
    void *cuda;
    void (*cuda_free)(void *cuda);
    int no_host_weights;
    int exact;              /* gptoss_model_options.exact: scalar reference kernels */
    int precise;            /* gptoss_model_options.keep_dense: the CPU kernel set's precise sibling */
    void *q8;               /* one allocation holding every matrix converted to Q8_0 at load */
    uint64_t q8_bytes;      /* its size */
    /* A model loaded from a .gguf file (src/model/model_gguf.c): parsed metadata and the buffers
     * it owns; freed by gptoss_model_free. */
    struct gptoss_gguf_model *gguf;
    /* The embedding's rows are read with pread from this descriptor (valid when embed_pread): the
     * table is the one tensor read sparsely, and through the mapping a looked-up row maps its whole
     * page-cache folio (up to 2 MiB, the size a cold read makes) and counts it in RSS. */
    int embed_pread, embed_fd;
    uint64_t embed_offset; /* file offset of row 0 */
    gptoss_shard *shard;   /* NULL: a single process holds the whole model */
    /* Called first by gptoss_model_free when set: rank 0 of a sharded run tells the other ranks that
     * the model is going away (engine/dist.c). */
    void (*dist_free)(struct gptoss_model *m);
};

/* gptoss_model_load for a device already chosen: options->device AUTO is taken as the CPU (the public
 * gptoss_model_load resolves it first, since finding a GPU is the CUDA backend's, a layer above). */
gptoss_status gptoss_model_open(const char *path, const gptoss_model_options *options, gptoss_model **out,
                                char *err, size_t err_size);

/* The same, as rank `rank` of n_ranks (> 1: m->shard set, and only the rank's row slices converted
 * to Q8_0; the pages of other ranks' experts are advised MADV_RANDOM so that reading one's own does
 * not read theirs ahead). */
gptoss_status gptoss_model_open_shard(const char *path, const gptoss_model_options *options, uint32_t rank,
                                      uint32_t n_ranks, gptoss_model **out, char *err, size_t err_size);

/* Rows [r0, r0 + n) of a matrix, as a view of its own. */
gptoss_mat gptoss_mat_rows(gptoss_mat m, uint64_t r0, uint64_t n);
/* madvise(advice) on the pages wholly inside [p, p + n) (MADV_DONTNEED drops mapped pages from this
 * process; MADV_RANDOM stops read-ahead into them). */
void gptoss_model_advise_pages(const void *p, uint64_t n, int advice);

/* shard.c: m->shard for rank `rank` of n_ranks (> 1), the views sliced from the model's as bound. */
gptoss_status gptoss_model_shard_build(gptoss_model *m, uint32_t rank, uint32_t n_ranks, char *err, size_t err_size);
void gptoss_model_shard_free(gptoss_shard *s);

/* model_gguf.c: a .gguf file. */
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

/* The memory regions a decoded token reads from (every layer's attention and router matrices, each
 * expert tensor whole, the unembedding): up to max of them into ptr/bytes; returns how many there
 * are. For measuring how fast those bytes can be read where they lie (gptoss bench). */
size_t gptoss_model_decode_regions(const gptoss_model *m, const uint8_t **ptr, uint64_t *bytes, size_t max);
/* Row `id` of the embedding as hidden_size floats; scratch holds gptoss_row_bytes(dtype, hidden_size)
 * bytes. */
void gptoss_model_embed_row(const gptoss_model *m, uint64_t id, float *dst, void *scratch);

#endif
