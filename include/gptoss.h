/* gptoss.h: the public C API of libgptoss (models, sessions, samplers, tokenizer, harmony). */
#ifndef GPTOSS_H
#define GPTOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes. Every fallible function returns one; many also take (char *err, size_t err_size)
 * and write a one-line, human-readable message there (may be NULL / 0).
 * ------------------------------------------------------------------------------------------- */
typedef enum gptoss_status {
    GPTOSS_OK = 0,
    GPTOSS_ERR_INVALID_ARGUMENT, /* a caller passed something unusable (NULL, bad option) */
    GPTOSS_ERR_IO,               /* a file is missing, unreadable or cannot be mapped */
    GPTOSS_ERR_FORMAT,           /* a file is malformed: header, JSON, offsets, dtypes, shapes */
    GPTOSS_ERR_NO_MEMORY,
    GPTOSS_ERR_OUT_OF_RANGE,     /* a token id outside the vocabulary, a position past the end */
    GPTOSS_ERR_CONTEXT_OVERFLOW, /* the session's context is full */
    GPTOSS_ERR_UNSUPPORTED,      /* valid input this build cannot handle */
    GPTOSS_ERR_INTERNAL,
} gptoss_status;

const char *gptoss_status_string(gptoss_status status);

typedef struct gptoss_model gptoss_model;         /* read-only after load; share across threads */
typedef struct gptoss_session gptoss_session;     /* KV cache + scratch; one thread at a time */
typedef struct gptoss_sampler gptoss_sampler;     /* sampling settings + RNG state */
typedef struct gptoss_tokenizer gptoss_tokenizer; /* read-only after load; share across threads */

/* ---------------------------------------------------------------------------------------------
 * Model
 * ------------------------------------------------------------------------------------------- */
typedef struct gptoss_model_options {
    int reserved; /* no options yet; all-zero means defaults */
} gptoss_model_options;

/* Architecture as read from config.json (both layouts are normalised to this). */
typedef struct gptoss_model_config {
    uint32_t n_layers;
    uint32_t n_experts;
    uint32_t n_experts_per_token;
    uint32_t vocab_size;
    uint32_t hidden_size;
    uint32_t intermediate_size;
    uint32_t head_dim;
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t sliding_window;
    uint32_t initial_context_length; /* YaRN original context */
    uint32_t max_context;            /* initial_context_length * rope scaling factor */
    float swiglu_limit;
    float rope_theta;
    float rope_scaling_factor;
    float rope_ntk_alpha; /* beta_slow */
    float rope_ntk_beta;  /* beta_fast */
    float rms_norm_eps;
} gptoss_model_config;

/* What `gptoss info` prints. */
typedef struct gptoss_model_stats {
    uint64_t n_params_total;
    uint64_t n_params_active; /* per token: top-k experts + attention + router + norms + unembedding */
    uint64_t bytes_bf16, bytes_f32, bytes_u8, bytes_other;
    uint32_t n_files;
    uint32_t n_tensors;
    int layout_original;      /* 1: original/ layout, 0: Hugging Face layout */
} gptoss_model_stats;

/* path: a model directory (Hugging Face layout, an `original/` folder, or a Hugging Face cache
 * folder `models--org--name` / one of its snapshots). Files are mapped read-only. */
gptoss_status gptoss_model_load(const char *path, const gptoss_model_options *options,
                                gptoss_model **out, char *err, size_t err_size);
void gptoss_model_free(gptoss_model *model);
const gptoss_model_config *gptoss_model_get_config(const gptoss_model *model);
void gptoss_model_get_stats(const gptoss_model *model, gptoss_model_stats *out);
/* The i-th file mapped by the model (i < stats.n_files), or NULL. */
const char *gptoss_model_file(const gptoss_model *model, uint32_t i);
/* The directory the model was loaded from (where tokenizer.json may be found). */
const char *gptoss_model_dir(const gptoss_model *model);

/* ---------------------------------------------------------------------------------------------
 * Session: one sequence, its KV cache and all scratch buffers (allocated here, never in decode).
 * ------------------------------------------------------------------------------------------- */
typedef struct gptoss_session_options {
    uint32_t n_ctx;      /* context size in tokens; 0 = 8192; at most the model's max_context */
    uint32_t n_batch;    /* tokens per forward chunk during prefill; 0 = 128 */
    uint32_t n_threads;  /* worker threads for this session; 0 = 1 */
} gptoss_session_options;

gptoss_status gptoss_session_create(const gptoss_model *model, const gptoss_session_options *options,
                                    gptoss_session **out, char *err, size_t err_size);
void gptoss_session_free(gptoss_session *session);
/* Forget every token; keeps the buffers. */
void gptoss_session_reset(gptoss_session *session);
/* Feed tokens: they are processed as a batch (in chunks of n_batch). If all_logits is not NULL it
 * receives n_ids rows of vocab_size floats (row i = logits after ids[0..i]); the last row is always
 * available afterwards from gptoss_session_logits. */
gptoss_status gptoss_session_append(gptoss_session *session, const uint32_t *ids, size_t n_ids,
                                    float *all_logits, char *err, size_t err_size);
/* Logits after the last appended token (vocab_size floats), or NULL before any token. */
const float *gptoss_session_logits(const gptoss_session *session);
uint32_t gptoss_session_n_tokens(const gptoss_session *session);
uint32_t gptoss_session_n_ctx(const gptoss_session *session);

/* ---------------------------------------------------------------------------------------------
 * Sampler
 * ------------------------------------------------------------------------------------------- */
typedef struct gptoss_sampler_options {
    float temperature;      /* <= 0: greedy (argmax, lowest id on ties) */
    uint32_t top_k;         /* 0: off */
    float top_p;            /* 0 or >= 1: off */
    float min_p;            /* 0: off; keep tokens with p >= min_p * p_max */
    uint64_t seed;
    const uint32_t *stop_ids; /* copied */
    size_t n_stop_ids;
} gptoss_sampler_options;

gptoss_status gptoss_sampler_create(uint32_t vocab_size, const gptoss_sampler_options *options,
                                    gptoss_sampler **out, char *err, size_t err_size);
void gptoss_sampler_free(gptoss_sampler *sampler);
/* Picks a token from n logits (n <= vocab_size). Does not modify logits. */
gptoss_status gptoss_sampler_sample(gptoss_sampler *sampler, const float *logits, uint32_t n,
                                    uint32_t *out_id);
int gptoss_sampler_is_stop(const gptoss_sampler *sampler, uint32_t id);
void gptoss_sampler_seed(gptoss_sampler *sampler, uint64_t seed);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer (o200k_harmony)
 * ------------------------------------------------------------------------------------------- */
/* [tokenizer API: owned by src/tokenizer*.c] */
/* A growable list of token ids; zero-initialise, append with the functions below, free with
 * gptoss_tokens_free. */
typedef struct gptoss_tokens {
    uint32_t *ids;
    size_t n, cap;
} gptoss_tokens;
gptoss_status gptoss_tokens_push(gptoss_tokens *tokens, uint32_t id);
void gptoss_tokens_free(gptoss_tokens *tokens);

/* path: a model directory (its tokenizer.json), a tokenizer.json file, or a tiktoken rank file
 * (o200k_base.tiktoken; the harmony special tokens are added). */
gptoss_status gptoss_tokenizer_load(const char *path, gptoss_tokenizer **out, char *err, size_t err_size);
void gptoss_tokenizer_free(gptoss_tokenizer *tokenizer);
/* Number of ids (text + special + reserved), 201088 for o200k_harmony. */
uint32_t gptoss_tokenizer_n_vocab(const gptoss_tokenizer *tokenizer);
/* Appends the ids of text[0..len) to out. allow_special = 0: special-token literals are plain text
 * (what user text always gets); 1: they become their special ids. */
gptoss_status gptoss_tokenizer_encode(const gptoss_tokenizer *tokenizer, const char *text, size_t len,
                                      int allow_special, gptoss_tokens *out);
/* Bytes of one token (not NUL-terminated), or NULL for an id outside the vocabulary. */
const char *gptoss_tokenizer_token_bytes(const gptoss_tokenizer *tokenizer, uint32_t id, size_t *len);
/* Id of a special token by its literal (e.g. "<|start|>"); 0 on success, -1 if unknown. */
int gptoss_tokenizer_special_id(const gptoss_tokenizer *tokenizer, const char *literal, uint32_t *id);
int gptoss_tokenizer_is_special(const gptoss_tokenizer *tokenizer, uint32_t id);


/* ---------------------------------------------------------------------------------------------
 * Harmony (rendering and parsing conversations)
 * ------------------------------------------------------------------------------------------- */
/* [harmony API: owned by src/harmony*.c] */

/* ---------------------------------------------------------------------------------------------
 * Synthesis of random-weight checkpoints (tests and benchmarks)
 * ------------------------------------------------------------------------------------------- */
/* [synth API: owned by src/synth.c] */

#ifdef __cplusplus
}
#endif
#endif
