/* gptoss.h: the public C API of libgptoss (models, sessions, samplers, tokenizer, harmony). */
#ifndef GPTOSS_H
#define GPTOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* This release of libgptoss and the gptoss command (`gptoss --version`); the same as the VERSION file
 * (tests/t_cli_errors.sh checks that they agree). */
#define GPTOSS_VERSION "0.1.0"

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
/* Where a session runs. AUTO: CUDA when the library was built with CUDA=1 and a GPU is present, else
 * the CPU. CUDA in a build without it is GPTOSS_ERR_UNSUPPORTED. */
typedef enum gptoss_device {
    GPTOSS_DEVICE_AUTO = 0,
    GPTOSS_DEVICE_CPU,
    GPTOSS_DEVICE_CUDA,
} gptoss_device;

/* All-zero options are the defaults: the fast kernels, and on the CPU the unembedding held as Q8_0. */
typedef struct gptoss_model_options {
    /* 1: also convert the BF16/F16/F32 attention matrices (columns a multiple of 32) to 8-bit Q8_0
     * blocks at load (ggml's format: 32 int8 + one f16 scale) and release their mapped pages, so a
     * decoded token reads fewer bytes. Opt-in: the result is not held to the default's accuracy bound
     * below. */
    int dense_q8;
    /* 1: the exact path: scalar reference kernels and no weight conversion (dense_q8, keep_dense and
     * device ignored); matches the reference logits within 1e-3 on every golden case. */
    int exact;
    /* 1: keep the checkpoint's dense weights as stored: no load-time conversion. The default (0), for
     * a model loaded for the CPU, converts the unembedding (the vocab x hidden output matrix, when
     * BF16/F16/F32 with columns a multiple of 32) to Q8_0 and releases its mapped pages, so a decoded
     * token reads fewer bytes; its logits stay within 0.1 of the exact path's and its greedy output is
     * unchanged on every golden case. dense_q8 still converts when this is set. Set, the CPU kernels
     * also carry activations at the precision that keeps weights as stored within 1e-3 of the exact
     * path on the golden cases, where the default rounds some further for speed. */
    int keep_dense;
    /* The device this model's sessions will run on, for load-time choices only: the default Q8_0
     * unembedding is made for CPU, never for CUDA (its upload keeps BF16). AUTO (0): CUDA when
     * gptoss_cuda_available(), else CPU. Sessions may still run on either device; a CUDA session of a
     * model converted for the CPU uploads the converted matrices (widened to F32 there). */
    gptoss_device device;
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

/* Counts and sizes of a loaded model (what `gptoss info` prints). */
typedef struct gptoss_model_stats {
    uint64_t n_params_total;
    uint64_t n_params_active; /* per token: top-k experts + attention + router + norms + unembedding */
    uint64_t bytes_bf16, bytes_f32, bytes_u8, bytes_other;
    uint32_t n_files;
    uint32_t n_tensors;
    int layout_original;      /* 1: original/ layout, 0: Hugging Face layout */
    /* The weights as this model holds them after load (load-time conversion included): */
    const char *attention_dtype;   /* "BF16", "F16", "F32" or "Q8_0" (of the first layer's q matrix) */
    const char *unembedding_dtype; /* the same for the unembedding */
    uint64_t bytes_converted;      /* bytes of Q8_0 weights made at load (0: all read as stored) */
    /* Weight bytes one decoded token reads: attention, router, the top-k experts (MXFP4 blocks,
     * scales, biases) of every layer and the unembedding, each in the dtype held. */
    uint64_t bytes_per_token;
} gptoss_model_stats;

/* path: a model directory (Hugging Face layout, an `original/` folder, or a Hugging Face cache
 * folder `models--org--name` / one of its snapshots) or a GGUF file (a name ending in .gguf, or the
 * GGUF magic). Files are mapped read-only. Anything else fails with a message saying what it is.
 * options may be NULL (the defaults). */
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
/* The element type of a session's KV cache. F32: as computed. BF24: f32's upper three bytes (8-bit
 * exponent, 15-bit mantissa, rounded to nearest even): three quarters of F32's memory and of the
 * bytes attention reads; with the exact kernels it still matches the reference logits within 1e-3 on
 * every golden case. F16 (rounded to nearest, saturating at +-65504): half of F32's memory, less
 * exact; opt-in. */
typedef enum gptoss_kv_type {
    GPTOSS_KV_AUTO = 0,
    GPTOSS_KV_F32,
    GPTOSS_KV_BF24,
    GPTOSS_KV_F16,
} gptoss_kv_type;

typedef struct gptoss_session_options {
    uint32_t n_ctx;      /* context size in tokens; 0 = 8192; at most the model's max_context */
    uint32_t n_batch;    /* tokens per forward chunk during prefill; 0 = 128 */
    uint32_t n_threads;  /* threads for this session's forward pass (a pool created with it); 0 = every CPU the process may run on.
                          * The calling thread computes too: give it at least 256 KiB of stack (the workers get 2 MiB) */
    gptoss_device device; /* where the session runs (see gptoss_device); 0 = AUTO */
    /* How keys and values are cached (CPU sessions; a CUDA session ignores it). AUTO: BF24, or F32
     * when the model is exact. */
    gptoss_kv_type kv_type;
} gptoss_session_options;

/* 1 if this build has the CUDA backend and a CUDA device is usable. */
int gptoss_cuda_available(void);
/* The device a session runs on (CPU or CUDA). */
gptoss_device gptoss_session_device(const gptoss_session *session);
/* "auto", "f32", "bf24", "f16"; "" for a value outside the enum. */
const char *gptoss_kv_type_name(gptoss_kv_type type);
/* The type of a CPU session's KV cache (F32, BF24 or F16); AUTO for a CUDA session or NULL. */
gptoss_kv_type gptoss_session_kv_type(const gptoss_session *session);
/* Bytes of cached keys and values the session's next one-token step reads in attention: every key
 * in reach of the new token (the window on sliding-window layers, the whole context on full ones),
 * its value too. A CUDA session's cache is f32. 0 for NULL. */
uint64_t gptoss_session_kv_read_bytes(const gptoss_session *session);

gptoss_status gptoss_session_create(const gptoss_model *model, const gptoss_session_options *options,
                                    gptoss_session **out, char *err, size_t err_size);
void gptoss_session_free(gptoss_session *session);
/* Forget every token; keeps the buffers. */
void gptoss_session_reset(gptoss_session *session);
/* Keeps the first n_tokens tokens and forgets the rest, so a caller whose new prompt shares a
 * prefix with the session need not recompute it. Full-attention layers can always rewind; a
 * sliding-window layer keeps only its window plus one prefill chunk (n_batch) of history behind the
 * furthest point the session has reached since its last reset (rewinds add up: 200 -> 190 -> 180
 * is 20 tokens back from 200). A rewind to n_tokens > 0 that needs more is GPTOSS_ERR_UNSUPPORTED
 * and leaves the session as it was (reset and prefill instead). A CUDA session cannot rewind
 * (UNSUPPORTED; reset it). Logits are unavailable until the next append (unless n_tokens is the
 * current count: nothing changes). What follows a rewind is computed exactly as it would be in a
 * fresh session fed the same tokens, except for summation order: the fast kernels' results depend
 * on how tokens are grouped into steps (they differ in the last bits), the exact kernels' (model
 * option exact) do not, so there a rewound session matches a fresh one bit for bit. */
gptoss_status gptoss_session_truncate(gptoss_session *session, uint32_t n_tokens, char *err, size_t err_size);
/* Makes dst a copy of src's first n_tokens tokens (n_tokens <= gptoss_session_n_tokens(src)): what
 * src would hold after gptoss_session_truncate(src, n_tokens), with the same history for later
 * rewinds; src is unchanged. With n_tokens equal to src's count the logits are copied too, so dst
 * can sample at once. Both must be CPU sessions of the same model with the same n_ctx, n_batch and KV type
 * (GPTOSS_ERR_INVALID_ARGUMENT otherwise; CUDA: GPTOSS_ERR_UNSUPPORTED). A prefix that src's
 * sliding-window cache no longer holds (see truncate) is GPTOSS_ERR_UNSUPPORTED; n_tokens greater
 * than src's count is GPTOSS_ERR_OUT_OF_RANGE. On any error dst is left as it was. dst == src is a
 * truncate. Copies memory only (no forward pass, no allocation): the KV rows of the prefix. */
gptoss_status gptoss_session_copy_prefix(gptoss_session *dst, const gptoss_session *src, uint32_t n_tokens,
                                         char *err, size_t err_size);
/* gptoss_session_copy_prefix of all of src's tokens, logits included: decoding from dst then gives
 * exactly what decoding from src gives (e.g. the n choices of one prompt, prefilled once). */
gptoss_status gptoss_session_copy(gptoss_session *dst, const gptoss_session *src, char *err, size_t err_size);
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
 * Batch: one forward step serving many sessions at once (continuous batching). Each session gets
 * one token; the weights are read once for all of them.
 * ------------------------------------------------------------------------------------------- */
typedef struct gptoss_batch gptoss_batch;

/* max_sequences: most sessions per step; max_ctx: largest session context it will serve (0 = the
 * model's maximum). Scratch is allocated here, never in gptoss_batch_decode. */
gptoss_status gptoss_batch_create(const gptoss_model *model, uint32_t max_sequences, uint32_t max_ctx,
                                  gptoss_batch **out, char *err, size_t err_size);
void gptoss_batch_free(gptoss_batch *batch);
/* Appends ids[i] to sessions[i] for i < n, in one forward step. The sessions must be distinct CPU
 * sessions of the batch's model. Afterwards gptoss_session_logits(sessions[i]) holds each one's
 * next-token logits. Nothing is changed if any session or id is refused. */
gptoss_status gptoss_batch_decode(gptoss_batch *batch, gptoss_session *const *sessions, const uint32_t *ids,
                                  size_t n, char *err, size_t err_size);

/* ---------------------------------------------------------------------------------------------
 * Several processes (ranks) sharing one model: a build with MPI (make MPI=1) started by mpirun.
 * Each rank holds and reads about 1/N of the weights (its kv heads, its rows of the output
 * projection and of the unembedding, its experts). Rank 0 is the one a program drives; the logits
 * are the same whatever the number of ranks. In any other process these say rank 0 of 1, and
 * gptoss_dist_follow is never needed.
 * ------------------------------------------------------------------------------------------- */
/* Joins the MPI world when mpirun started this process (call first, with main's argc/argv); does
 * nothing otherwise or in a build without MPI. Afterwards gptoss_model_load loads this rank's share
 * and fails on every rank, with a message naming the rank and why, when any rank cannot. */
gptoss_status gptoss_dist_init(int *argc, char ***argv, char *err, size_t err_size);
int gptoss_dist_rank(void);
int gptoss_dist_size(void);
/* On a rank other than 0, after gptoss_model_load: runs the same session and batch calls as rank 0
 * makes on its copy of the model, until rank 0 frees it; then returns (free the model after). */
gptoss_status gptoss_dist_follow(gptoss_model *model, char *err, size_t err_size);
/* Seconds this process spent exchanging with the other ranks (waiting for them included) and the
 * bytes it received, since the start or the last reset (reset nonzero: from 0 again); 0 in a single
 * process. For measuring what the exchanges cost a decoded token. */
void gptoss_dist_comm_stats(double *seconds, uint64_t *bytes_received, int reset);
/* Leaves the MPI world (before exit; a no-op in a single process). */
void gptoss_dist_finalize(void);
/* When another rank dies, this rank's calls that wait for it do not wait forever: on the thread
 * that waited, fn(ctx, why) is called (why: "rank R (pid P on HOST) died ..."), then the process
 * prints why and exits with status 1. When that thread is stuck inside MPI, rank 0 calls fn on a
 * thread of its own instead, and the waiting call never returns. fn may answer what depended on
 * the lost rank (calls it makes into the model exchange nothing) and need not return (another
 * thread may end the process). NULL: just print and exit. */
void gptoss_dist_on_lost(void (*fn)(void *ctx, const char *why), void *ctx);
/* The lowest rank on this machine whose process has ended, or, on rank 0, on another machine
 * whose liveness connection closed (why in why[]), or -1: for telling a SIGTERM that mpirun sends
 * because a rank died from an ordinary stop. */
int gptoss_dist_rank_gone(char *why, size_t why_size);
/* The weight bytes rank `rank` of n_ranks would hold resident and read per decoded token (experts:
 * its share of the top-k on average) for this model as loaded; computable in one process. */
void gptoss_model_rank_bytes(const gptoss_model *model, uint32_t n_ranks, uint32_t rank, uint64_t *resident_bytes,
                             uint64_t *bytes_per_token);

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
/* As gptoss_sampler_sample, among the ids whose bit is set in bits (bit id%32 of word id/32):
 * the others have probability 0. GPTOSS_ERR_INVALID_ARGUMENT when no id below n is allowed. Uses the
 * sampler's own scratch; allocates nothing. */
gptoss_status gptoss_sampler_sample_masked(gptoss_sampler *sampler, const float *logits, uint32_t n,
                                           const uint32_t *bits, uint32_t *out_id);
int gptoss_sampler_is_stop(const gptoss_sampler *sampler, uint32_t id);
void gptoss_sampler_seed(gptoss_sampler *sampler, uint64_t seed);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer (o200k_harmony)
 * ------------------------------------------------------------------------------------------- */
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
/* Values of encode's allow_special. */
#define GPTOSS_TOKENIZER_SPECIAL_AS_TEXT 0 /* special-token literals are plain text (user text) */
#define GPTOSS_TOKENIZER_SPECIAL_ALLOW 1   /* literals of every special token become their ids */
#define GPTOSS_TOKENIZER_SPECIAL_REJECT 2  /* GPTOSS_ERR_INVALID_ARGUMENT if text holds a literal
                                            * (tiktoken's disallowed_special="all") */
/* Appends the ids of text[0..len) to out. allow_special = 0: special-token literals are plain text
 * (what user text always gets); 1: they become their special ids; 2: see above.
 * Invalid UTF-8 is encoded as tiktoken encodes it after a lossy decode: each maximal invalid
 * subpart becomes U+FFFD (docs/TOKENIZER.md). On error out is left as it was. */
gptoss_status gptoss_tokenizer_encode(const gptoss_tokenizer *tokenizer, const char *text, size_t len,
                                      int allow_special, gptoss_tokens *out);
/* Bytes of one token (not NUL-terminated), or NULL for an id outside the vocabulary. Special ids
 * give their literal; 200018 gives "<|endofprompt|>". */
const char *gptoss_tokenizer_token_bytes(const gptoss_tokenizer *tokenizer, uint32_t id, size_t *len);
/* Id of a special token by its literal (e.g. "<|start|>"); 0 on success, -1 if unknown. */
int gptoss_tokenizer_special_id(const gptoss_tokenizer *tokenizer, const char *literal, uint32_t *id);
int gptoss_tokenizer_is_special(const gptoss_tokenizer *tokenizer, uint32_t id);
/* Concatenated bytes of ids[0..n_ids) into a malloc'd, NUL-terminated buffer (*out, free with free();
 * *out_len excludes the NUL). Bytes are raw: they may split UTF-8 characters. An id outside the
 * vocabulary is GPTOSS_ERR_OUT_OF_RANGE. */
gptoss_status gptoss_tokenizer_decode(const gptoss_tokenizer *tokenizer, const uint32_t *ids, size_t n_ids,
                                      char **out, size_t *out_len, char *err, size_t err_size);

/* Streaming decoder: feed ids one at a time, get back only complete UTF-8 characters; a character
 * split across tokens is held until its last byte arrives. Bytes that can never form a character
 * come out as U+FFFD (one per maximal invalid subpart, as from_utf8_lossy), so output is valid UTF-8. */
typedef struct gptoss_tokenizer_stream gptoss_tokenizer_stream;
gptoss_status gptoss_tokenizer_stream_create(const gptoss_tokenizer *tokenizer, gptoss_tokenizer_stream **out);
void gptoss_tokenizer_stream_free(gptoss_tokenizer_stream *stream);
/* *text / *len: what this id completes (possibly nothing); valid until the next call on stream. */
gptoss_status gptoss_tokenizer_stream_push(gptoss_tokenizer_stream *stream, uint32_t id, const char **text,
                                           size_t *len);
/* End of input: what is still held (an unfinished character becomes U+FFFD); the stream restarts. */
void gptoss_tokenizer_stream_flush(gptoss_tokenizer_stream *stream, const char **text, size_t *len);

/* Writes tokenizer.json and tokenizer_config.json into model_dir (which must exist) from src_path:
 * a tokenizer.json (copied as is, with the tokenizer_config.json beside it when there is one) or a
 * .tiktoken rank file (both files generated, as Hugging Face's converter writes them). */
gptoss_status gptoss_tokenizer_export(const char *src_path, const char *model_dir, char *err, size_t err_size);


/* ---------------------------------------------------------------------------------------------
 * Harmony (rendering and parsing conversations)
 * ------------------------------------------------------------------------------------------- */
/* The harmony chat format of gpt-oss: conversations (messages with role, channel, recipient and content
 * type), rendering them into token ids exactly as openai/harmony does, and an incremental parser of
 * token ids back into messages. Rendering encodes all text with allow_special = 0: special ids come
 * only from the format itself. */

/* Special ids of the format (o200k_harmony). */
enum {
    GPTOSS_HARMONY_RETURN = 200002,    /* <|return|>: end of the final answer; a stop token */
    GPTOSS_HARMONY_CONSTRAIN = 200003, /* <|constrain|> */
    GPTOSS_HARMONY_CHANNEL = 200005,   /* <|channel|> */
    GPTOSS_HARMONY_START = 200006,     /* <|start|> */
    GPTOSS_HARMONY_END = 200007,       /* <|end|>: ends a message, not the turn */
    GPTOSS_HARMONY_MESSAGE = 200008,   /* <|message|> */
    GPTOSS_HARMONY_CALL = 200012,      /* <|call|>: ends a tool call; a stop token */
};

typedef enum gptoss_harmony_role {
    GPTOSS_HARMONY_ROLE_NONE = 0, /* unknown / not yet parsed */
    GPTOSS_HARMONY_ROLE_SYSTEM,
    GPTOSS_HARMONY_ROLE_DEVELOPER,
    GPTOSS_HARMONY_ROLE_USER,
    GPTOSS_HARMONY_ROLE_ASSISTANT,
    GPTOSS_HARMONY_ROLE_TOOL,
} gptoss_harmony_role;

/* "system", "developer", "user", "assistant", "tool"; "" for NONE. */
const char *gptoss_harmony_role_name(gptoss_harmony_role role);
/* GPTOSS_HARMONY_ROLE_NONE if s is not a role name. */
gptoss_harmony_role gptoss_harmony_role_from_name(const char *s);

typedef enum gptoss_harmony_effort {
    GPTOSS_HARMONY_EFFORT_NONE = 0, /* no "Reasoning:" line */
    GPTOSS_HARMONY_EFFORT_LOW,
    GPTOSS_HARMONY_EFFORT_MEDIUM,
    GPTOSS_HARMONY_EFFORT_HIGH,
} gptoss_harmony_effort;
/* "low", "medium", "high"; "" for NONE. */
const char *gptoss_harmony_effort_name(gptoss_harmony_effort effort);
/* GPTOSS_HARMONY_EFFORT_NONE if s is not an effort name. */
gptoss_harmony_effort gptoss_harmony_effort_from_name(const char *s);

/* One function of a tool namespace. */
typedef struct gptoss_harmony_tool {
    const char *name;
    const char *description;     /* NULL: none */
    const char *parameters_json; /* JSON Schema of the argument object, or NULL: takes no arguments */
} gptoss_harmony_tool;

/* A tool namespace ("functions" in developer messages, "browser" / "python" in system messages). */
typedef struct gptoss_harmony_namespace {
    const char *name;
    const char *description; /* NULL: none */
    const gptoss_harmony_tool *tools;
    size_t n_tools;
    /* 1: render the built-in block the model was trained on for `name` ("browser" or "python"),
     * ignoring description and tools. */
    int builtin;
} gptoss_harmony_namespace;

/* The exact trained text of a built-in namespace block ("## browser ... } // namespace browser",
 * "## python ..."), or NULL for other names. */
const char *gptoss_harmony_builtin_namespace(const char *name);

/* Structured content of a system message. Every NULL / zero field is left out of the rendering. */
typedef struct gptoss_harmony_system_content {
    const char *model_identity;
    gptoss_harmony_effort reasoning_effort;
    const char *knowledge_cutoff;
    const char *conversation_start_date;
    const char *const *valid_channels;
    size_t n_valid_channels;
    int channel_required;
    const gptoss_harmony_namespace *tools; /* rendered in byte order of name */
    size_t n_tools;
} gptoss_harmony_system_content;

/* The defaults of openai/harmony's SystemContent: the ChatGPT identity line, knowledge cutoff 2024-06,
 * reasoning medium, channels analysis/commentary/final required, no date, no tools. */
void gptoss_harmony_system_content_default(gptoss_harmony_system_content *out);

/* Structured content of a developer message. Sections, each only when given, joined by a blank line:
 * "# Instructions", the tools, "# Response Formats" (harmony's format.md: "## NAME\n\n// DESCRIPTION\n
 * SCHEMA", the comment line only with a description). */
typedef struct gptoss_harmony_developer_content {
    const char *instructions; /* NULL: no "# Instructions" section */
    const gptoss_harmony_namespace *tools;
    size_t n_tools;
    const char *response_format_name;        /* NULL: no "# Response Formats" section */
    const char *response_format_description; /* NULL: no comment line */
    const char *response_format_schema;      /* the JSON Schema's text, rendered as given (NULL: "{}") */
} gptoss_harmony_developer_content;

typedef enum gptoss_harmony_content_kind {
    GPTOSS_HARMONY_CONTENT_TEXT = 0,
    GPTOSS_HARMONY_CONTENT_SYSTEM,    /* only in system messages */
    GPTOSS_HARMONY_CONTENT_DEVELOPER, /* only in developer messages */
} gptoss_harmony_content_kind;

typedef struct gptoss_harmony_content {
    gptoss_harmony_content_kind kind;
    const char *text; /* TEXT: UTF-8, text_len bytes */
    size_t text_len;
    const gptoss_harmony_system_content *system;
    const gptoss_harmony_developer_content *developer;
} gptoss_harmony_content;

typedef struct gptoss_harmony_message {
    gptoss_harmony_role role;
    const char *name;         /* author name; for TOOL the tool ("functions.get_weather"), required */
    const char *recipient;    /* NULL: none ("all" is rendered as none) */
    const char *channel;      /* NULL: none */
    const char *content_type; /* NULL: none; "<|constrain|>json" renders the special id */
    const gptoss_harmony_content *content;
    size_t n_content;
} gptoss_harmony_message;

/* Text of a message: its first text part (NULL-safe; "" when it has none), not NUL-terminated when
 * it came from a caller's part. Valid while the message is. Parsed messages have one text part. */
const char *gptoss_harmony_message_text(const gptoss_harmony_message *msg, size_t *len);

/* An ordered list of messages that owns deep copies of everything added to it. */
typedef struct gptoss_harmony_conversation gptoss_harmony_conversation;

gptoss_harmony_conversation *gptoss_harmony_conversation_create(void); /* NULL: out of memory */
void gptoss_harmony_conversation_free(gptoss_harmony_conversation *conv);
size_t gptoss_harmony_conversation_size(const gptoss_harmony_conversation *conv);
/* The i-th message (NULL if out of range); valid until the conversation is changed. */
const gptoss_harmony_message *gptoss_harmony_conversation_get(const gptoss_harmony_conversation *conv,
                                                              size_t i);
/* Appends a deep copy of msg (every content part kept as given: each renders separately). */
gptoss_status gptoss_harmony_conversation_append(gptoss_harmony_conversation *conv,
                                                 const gptoss_harmony_message *msg);
/* Appends a plain text message; name, recipient, channel and content_type may be NULL. */
gptoss_status gptoss_harmony_conversation_append_text(gptoss_harmony_conversation *conv,
                                                      gptoss_harmony_role role, const char *name,
                                                      const char *recipient, const char *channel,
                                                      const char *content_type, const char *text);
/* Keeps the first n messages. */
void gptoss_harmony_conversation_truncate(gptoss_harmony_conversation *conv, size_t n);

/* Conversation JSON, in openai/harmony's message shape: either a list of messages or an object with
 * "messages" (other members are ignored). A message is {"role", "name"?, "content": string or
 * [{"type":"text","text"} | {"type":"system_content",...} | {"type":"developer_content",...}],
 * "channel"?, "recipient"?, "content_type"?}. System/developer "tools" map a namespace name to
 * {"name","description","tools":[{"name","description","parameters"}]}, or to a string / true for a
 * built-in namespace ("browser", "python"). */
gptoss_status gptoss_harmony_conversation_from_json(const char *json, size_t len,
                                                   gptoss_harmony_conversation **out, char *err,
                                                   size_t err_size);
/* Writes the messages as a JSON list (one message per line) into *out (malloc'd, NUL-terminated). */
gptoss_status gptoss_harmony_conversation_to_json(const gptoss_harmony_conversation *conv, char **out,
                                                 size_t *len);

/* Which old chain of thought (assistant messages on "analysis") rendering leaves out. */
typedef enum gptoss_harmony_drop {
    GPTOSS_HARMONY_DROP_NONE = 0,
    /* openai/harmony's auto_drop_analysis: when the last assistant message is on "final", drop the
     * analysis messages that come before the first "final" message. The conformance data uses it. */
    GPTOSS_HARMONY_DROP_HARMONY,
    /* The rule of harmony's format.md: a turn is what follows a user message; drop the analysis of
     * every turn that has a "final" message or is followed by another user message, and keep the
     * analysis of the open turn (a tool-calling turn whose results are being fed back). */
    GPTOSS_HARMONY_DROP_TURNS,
} gptoss_harmony_drop;

/* Renders every message (none dropped) and appends the ids to out. */
gptoss_status gptoss_harmony_render_message(const gptoss_tokenizer *tokenizer,
                                            const gptoss_harmony_message *msg, int has_function_tools,
                                            gptoss_tokens *out, char *err, size_t err_size);
/* The conversation's messages, after dropping per `drop`. A system message gets the line about
 * 'functions' iff some developer message declares a non-empty "functions" namespace. */
gptoss_status gptoss_harmony_render_conversation(const gptoss_tokenizer *tokenizer,
                                                 const gptoss_harmony_conversation *conv,
                                                 gptoss_harmony_drop drop, gptoss_tokens *out, char *err,
                                                 size_t err_size);
/* render_conversation, then <|start|> and the next role: the prompt to sample the next message. */
gptoss_status gptoss_harmony_render_for_completion(const gptoss_tokenizer *tokenizer,
                                                   const gptoss_harmony_conversation *conv,
                                                   gptoss_harmony_role next_role, gptoss_harmony_drop drop,
                                                   gptoss_tokens *out, char *err, size_t err_size);
/* render_conversation, with the last <|end|> replaced by <|return|> when the last message is an
 * assistant message on "final". */
gptoss_status gptoss_harmony_render_for_training(const gptoss_tokenizer *tokenizer,
                                                 const gptoss_harmony_conversation *conv,
                                                 gptoss_harmony_drop drop, gptoss_tokens *out, char *err,
                                                 size_t err_size);

/* Incremental parser of token ids into messages (openai/harmony's StreamableParser).
 * Strict mode reports malformed streams as errors, with openai/harmony's messages. Lenient mode
 * never fails on input: it recovers what it can (a header cut short by a stop token or the end of
 * the stream becomes the content, text outside any message starts an implicit assistant message,
 * a channel written without <|channel|> is recognised, leftover header words are ignored). */
typedef struct gptoss_harmony_parser gptoss_harmony_parser;

typedef enum gptoss_harmony_parser_state {
    GPTOSS_HARMONY_EXPECT_START = 0, /* between messages */
    GPTOSS_HARMONY_HEADER,           /* reading a header */
    GPTOSS_HARMONY_CONTENT,          /* reading content: current_* describe the message */
} gptoss_harmony_parser_state;

/* role: the role of a message whose <|start|>role the caller already rendered (ASSISTANT when parsing
 * a completion), or NONE to expect <|start|>. The tokenizer must outlive the parser. */
gptoss_status gptoss_harmony_parser_create(const gptoss_tokenizer *tokenizer, gptoss_harmony_role role,
                                           int strict, gptoss_harmony_parser **out, char *err,
                                           size_t err_size);
void gptoss_harmony_parser_free(gptoss_harmony_parser *parser);
/* Forgets every message and starts again as if just created with `role`. */
void gptoss_harmony_parser_reset(gptoss_harmony_parser *parser, gptoss_harmony_role role);
/* Feeds one id. GPTOSS_ERR_FORMAT (strict mode only): the stream is malformed; the error is sticky
 * (see parser_error) and later calls return it again. GPTOSS_ERR_NO_MEMORY in either mode. */
gptoss_status gptoss_harmony_parser_process(gptoss_harmony_parser *parser, uint32_t id);
/* End of stream: closes an open message. */
gptoss_status gptoss_harmony_parser_process_eos(gptoss_harmony_parser *parser);
const char *gptoss_harmony_parser_error(const gptoss_harmony_parser *parser); /* "" if none */
size_t gptoss_harmony_parser_n_messages(const gptoss_harmony_parser *parser);
const gptoss_harmony_message *gptoss_harmony_parser_message(const gptoss_harmony_parser *parser, size_t i);
gptoss_harmony_parser_state gptoss_harmony_parser_get_state(const gptoss_harmony_parser *parser);
/* The message being read: role (known once its header is parsed, or given at creation), channel,
 * recipient, content type (NULL when absent or not yet known) and the text so far. */
gptoss_harmony_role gptoss_harmony_parser_current_role(const gptoss_harmony_parser *parser);
const char *gptoss_harmony_parser_current_channel(const gptoss_harmony_parser *parser);
const char *gptoss_harmony_parser_current_recipient(const gptoss_harmony_parser *parser);
const char *gptoss_harmony_parser_current_content_type(const gptoss_harmony_parser *parser);
const char *gptoss_harmony_parser_current_content(const gptoss_harmony_parser *parser, size_t *len);
/* The text the last process call added to the current content (complete UTF-8), or NULL if it added
 * none (a header token, a stop token, bytes held back until a UTF-8 sequence completes). */
const char *gptoss_harmony_parser_last_delta(const gptoss_harmony_parser *parser, size_t *len);

/* ---------------------------------------------------------------------------------------------
 * Synthesis of random-weight checkpoints (tests and benchmarks)
 * ------------------------------------------------------------------------------------------- */
/* Random weights in the gpt-oss architecture, written as a real checkpoint would be (Hugging Face
 * layout, optionally sharded, optionally with original/), at scales that keep activations in a
 * realistic range. The same options and seed always give the same bytes. */
typedef enum gptoss_synth_preset {
    GPTOSS_SYNTH_TINY = 0, /* 4 layers, hidden 64, 4/2 heads x 16, 8 experts (top 4), window 16, vocab 1024 */
    GPTOSS_SYNTH_20B,      /* gpt-oss-20b's exact shapes (24 layers, 32 experts, vocab 201088) */
    GPTOSS_SYNTH_120B,     /* gpt-oss-120b's exact shapes (36 layers, 128 experts) */
} gptoss_synth_preset;

/* All-zero means: the tiny preset, seed 0, one bf16 model.safetensors, no original/. */
typedef struct gptoss_synth_options {
    gptoss_synth_preset preset;
    /* Shape; 0 keeps the preset's value. hidden_size and intermediate_size must be multiples of 32
     * (MXFP4 blocks), n_heads a multiple of n_kv_heads, head_dim even. */
    uint32_t n_layers;
    uint32_t hidden_size;
    uint32_t intermediate_size;
    uint32_t head_dim;
    uint32_t n_heads;
    uint32_t n_kv_heads;
    uint32_t n_experts;
    uint32_t n_experts_per_token;
    uint32_t vocab_size;
    uint32_t sliding_window;
    uint32_t initial_context_length; /* YaRN original context (4096) */
    /* RoPE/YaRN and SwiGLU; 0 keeps the gpt-oss value (150000, 32, 1, 32, 7). */
    float rope_theta;
    float rope_scaling_factor;
    float rope_ntk_alpha;
    float rope_ntk_beta;
    float swiglu_limit;
    uint64_t seed;
    int write_original; /* also write original/ (config.json, dtypes.json, model.safetensors) */
    int f32_norms;      /* store the norm gains and attention sinks as F32 instead of BF16 */
    uint32_t n_shards;  /* Hugging Face layout files: 0/1 = model.safetensors; N > 1 = N shards + index */
    /* Called now and then while tensor data is written (may be NULL). */
    void (*progress)(void *ctx, uint64_t bytes_done, uint64_t bytes_total);
    void *progress_ctx;
} gptoss_synth_options;

/* What gptoss_synth_write would produce for some options. */
typedef struct gptoss_synth_plan {
    gptoss_model_config config; /* resolved shape and hyperparameters */
    uint64_t n_params;          /* parameters of the model (MXFP4 weights count one each) */
    uint64_t n_tensor_bytes;    /* tensor data of one layout */
    uint64_t n_file_bytes;      /* every file written, both layouts and the JSON files included */
    uint32_t n_files;
} gptoss_synth_plan;

/* Resolves and validates options (NULL = defaults) without writing anything. */
gptoss_status gptoss_synth_resolve(const gptoss_synth_options *opts, gptoss_synth_plan *out, char *err,
                                   size_t err_size);
/* Creates out_dir (and parents) and writes the checkpoint into it. Files are written under a
 * temporary name and renamed when complete; stale weight files of the other single/sharded form
 * are removed so the directory describes one model. */
gptoss_status gptoss_synth_write(const char *out_dir, const gptoss_synth_options *opts, char *err,
                                 size_t err_size);

/* ---- Structured output: JSON-Schema grammars and token masks (src/grammar/) ---- */

/* The token trie of one tokenizer (its non-special tokens), built once and shared read-only by
 * every grammar compiled against it; it must outlive them. The tokenizer may be freed after. */
typedef struct gptoss_grammar_vocab gptoss_grammar_vocab;
gptoss_status gptoss_grammar_vocab_create(const gptoss_tokenizer *tokenizer, gptoss_grammar_vocab **out,
                                          char *err, size_t err_size);
void gptoss_grammar_vocab_free(gptoss_grammar_vocab *vocab);
/* Number of 32-bit words of a mask (ceil(n_vocab / 32)). */
uint32_t gptoss_grammar_vocab_mask_words(const gptoss_grammar_vocab *vocab);

/* A compiled JSON Schema: read-only after compile, shareable across threads. */
typedef struct gptoss_grammar gptoss_grammar;
typedef struct gptoss_grammar_options {
    uint32_t reserved; /* zero */
} gptoss_grammar_options;
/* Compiles schema[0..len) (JSON Schema 2020-12 subset: src/grammar/README.md). A keyword that is not
 * supported, or a schema that cannot be satisfied, is GPTOSS_ERR_UNSUPPORTED with a message naming
 * the keyword and its JSON pointer; malformed JSON is GPTOSS_ERR_FORMAT. vocab may be NULL (byte
 * matching only, no masks). *out is NULL on failure. */
gptoss_status gptoss_grammar_compile_json_schema(const gptoss_grammar_vocab *vocab, const char *schema,
                                                 size_t len, const gptoss_grammar_options *options,
                                                 gptoss_grammar **out, char *err, size_t err_size);
void gptoss_grammar_free(gptoss_grammar *grammar);

/* Where a JSON text stands against a grammar: the grammar must outlive it. One state per thread.
 * A state that computes masks holds ~6 MB of scratch (made on its first mask; one that only
 * advances, ~50 KB, made on its first advance); the grammar keeps up to 256 whole masks (~6.5 MB)
 * shared by its states, under a lock. */
typedef struct gptoss_grammar_state gptoss_grammar_state;
gptoss_status gptoss_grammar_state_create(const gptoss_grammar *grammar, gptoss_grammar_state **out);
gptoss_status gptoss_grammar_state_clone(const gptoss_grammar_state *state, gptoss_grammar_state **out);
void gptoss_grammar_state_free(gptoss_grammar_state *state);
/* Writes the allowed token ids as a bitset (bit id%32 of word id/32; mask_words words). Special
 * tokens are never set: the caller allows end-of-text when is_complete says so. Needs a vocab. */
gptoss_status gptoss_grammar_state_mask(gptoss_grammar_state *state, uint32_t *bits);
/* Advances by one token; a token the grammar does not allow is GPTOSS_ERR_INVALID_ARGUMENT and
 * leaves the state as it was. */
gptoss_status gptoss_grammar_state_advance(gptoss_grammar_state *state, uint32_t token_id);
/* Advances by raw bytes (all or nothing, as advance). */
gptoss_status gptoss_grammar_state_advance_bytes(gptoss_grammar_state *state, const char *bytes, size_t len);
/* 1 when the text so far is a complete instance of the schema. */
int gptoss_grammar_state_is_complete(const gptoss_grammar_state *state);

/* ---- Constrained generation: harmony structure, grammars, reasoning budget (src/grammar/) ---- */

/* The rules one request's assistant turn follows, enforced token by token: which message headers the
 * model may write (each the tokenizer's own encoding of its text, so a header is forced token by
 * token where the alternatives agree), which grammar a message body follows, and how many tokens
 * the reasoning may take. Generation starts right after the prompt's `<|start|>assistant`.
 *
 * Headers allowed (first message; later ones are preceded by `<|start|>assistant`):
 *   <|channel|>analysis<|message|>             unless the reasoning budget is spent (or 0)
 *   <|channel|>final<|message|>                unless tool_choice is REQUIRED
 *   <|channel|>commentary<|message|>           a preamble: with functions, tool_choice AUTO only
 *   <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>
 *                                              each function, unless tool_choice is NONE
 * With no grammar, no function, tool_choice AUTO and no budget the constraint allows anything.
 * Bodies: analysis and preambles end with <|end|> (<|return|> and <|call|> are masked); a final
 * answer with final_grammar follows it and, once the value is complete, only <|return|> may come;
 * a call's arguments follow the function's grammar (when it has one) and then only <|call|>.
 * A final answer or a call ends the turn. When the analysis reaches the budget, <|end|> is forced.
 * A constraint is read-only after create and shared by the states of every sequence of a request;
 * its grammars and tokenizer must outlive it. */
typedef struct gptoss_constraint gptoss_constraint;
typedef struct gptoss_constraint_state gptoss_constraint_state;

typedef enum gptoss_tool_choice {
    GPTOSS_TOOL_CHOICE_AUTO = 0, /* the model answers or calls any function */
    GPTOSS_TOOL_CHOICE_NONE,     /* no call */
    GPTOSS_TOOL_CHOICE_REQUIRED  /* the turn ends with a call to one of the functions */
} gptoss_tool_choice;

typedef struct gptoss_constraint_function {
    const char *name;                /* as in functions.NAME */
    const gptoss_grammar *arguments; /* NULL: the arguments are free text (not strict) */
} gptoss_constraint_function;

typedef struct gptoss_constraint_options {
    const gptoss_grammar *final_grammar; /* NULL: the final answer is free text */
    const gptoss_constraint_function *functions;
    size_t n_functions;
    gptoss_tool_choice tool_choice;
    int limit_reasoning;            /* nonzero: max_reasoning_tokens applies */
    uint32_t max_reasoning_tokens;  /* analysis tokens over the turn, headers excluded; 0: no analysis */
} gptoss_constraint_options;

/* *out is NULL on failure (a function without a name, REQUIRED without functions, a grammar
 * compiled against another vocabulary than the one masks need: GPTOSS_ERR_INVALID_ARGUMENT). */
gptoss_status gptoss_constraint_create(const gptoss_tokenizer *tokenizer, const gptoss_constraint_options *options,
                                       gptoss_constraint **out, char *err, size_t err_size);
void gptoss_constraint_free(gptoss_constraint *constraint);
/* 1 when the constraint allows every token at every step (then states cost nothing). */
int gptoss_constraint_is_free(const gptoss_constraint *constraint);

/* One sequence's place in the rules; holds a mask buffer (and grammar states) made here, so that
 * next and accept allocate nothing. */
gptoss_status gptoss_constraint_state_create(const gptoss_constraint *constraint, gptoss_constraint_state **out);
void gptoss_constraint_state_free(gptoss_constraint_state *state);

typedef enum gptoss_constraint_next_kind {
    GPTOSS_NEXT_ANY = 0, /* sample freely */
    GPTOSS_NEXT_FORCED,  /* exactly one token may come: id (do not sample) */
    GPTOSS_NEXT_MASKED   /* sample among the tokens set in bits */
} gptoss_constraint_next_kind;
typedef struct gptoss_constraint_next {
    gptoss_constraint_next_kind kind;
    uint32_t id;          /* FORCED */
    const uint32_t *bits; /* MASKED: bit id%32 of word id/32, ceil(n_vocab/32) words, owned by the state
                             and valid until its next call */
} gptoss_constraint_next;
/* What may follow the tokens accepted so far. */
gptoss_status gptoss_constraint_state_next(gptoss_constraint_state *state, gptoss_constraint_next *out);
/* Takes the token the sequence got. A token the rules do not allow is GPTOSS_ERR_INVALID_ARGUMENT and
 * changes nothing. */
gptoss_status gptoss_constraint_state_accept(gptoss_constraint_state *state, uint32_t id);
/* 1 once the turn has ended by the rules (final answer returned, call made). */
int gptoss_constraint_state_is_done(const gptoss_constraint_state *state);

/* Masks while the forward pass runs. What a sequence may write at step t+1 depends only on the
 * tokens it took up to step t, which are also what the forward pass of step t+1 reads; a worker
 * computes gptoss_constraint_state_next for every sequence of a batch on its own threads while
 * the caller runs that forward pass, and the caller waits for it before sampling. Threads are made
 * by create and nothing is allocated per batch. One caller thread drives a worker. */
typedef struct gptoss_constraint_worker gptoss_constraint_worker;
typedef struct gptoss_constraint_worker_options {
    uint32_t n_threads; /* 0: 1; the sequences of a batch are shared among them (at most 64) */
} gptoss_constraint_worker_options;
gptoss_status gptoss_constraint_worker_create(const gptoss_constraint_worker_options *options,
                                              gptoss_constraint_worker **out, char *err, size_t err_size);
/* Waits for a batch still running, then stops the threads. NULL is fine. */
void gptoss_constraint_worker_free(gptoss_constraint_worker *worker);
/* Starts next() for states[0..n): into next[i], with its status in status[i] (status may be NULL).
 * Until gptoss_constraint_worker_wait returns, the caller leaves the states and both arrays alone.
 * GPTOSS_ERR_INVALID_ARGUMENT while a batch is running (nothing started) or for NULL arrays with n > 0. */
gptoss_status gptoss_constraint_worker_start(gptoss_constraint_worker *worker, gptoss_constraint_state *const *states,
                                             size_t n, gptoss_constraint_next *next, gptoss_status *status);
/* Waits for the batch started last: GPTOSS_OK when every next() succeeded, else the first failure (in
 * state order). With no batch running, GPTOSS_OK at once. */
gptoss_status gptoss_constraint_worker_wait(gptoss_constraint_worker *worker);
/* Seconds the worker's threads have spent in next() since create (summed over threads). */
double gptoss_constraint_worker_busy_seconds(const gptoss_constraint_worker *worker);

#ifdef __cplusplus
}
#endif
#endif
