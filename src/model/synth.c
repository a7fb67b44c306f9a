/* synth.c: random-weight checkpoints of the gpt-oss architecture (gptoss_synth_*): presets and
 * validation, value distributions, tensor naming in both layouts, sharding, the JSON side files and
 * the streaming generation of tensor data. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "format/json.h"
#include "format/safetensors_write.h"

/* ---------------------------------------------------------------------------------------------
 * Value distributions.
 *
 * Every tensor is a concatenation of "pieces"; a piece is one logical parameter (q_proj weight of
 * layer 3, say) with its own PRNG stream keyed by (seed, role, layer). The original layout's fused
 * qkv is the q, k and v pieces back to back, so both layouts hold identical bytes by construction,
 * and the order in which files and tensors are written never changes a value.
 *
 * Scales (D = hidden, I = intermediate, H·dh = attention width), chosen so that a forward pass
 * in f32 keeps every activation O(1) over long decodes, as in a trained model:
 *   embedding          N(0, 1)          rows have RMS ≈ 1, like a normed residual stream
 *   norm gains         U(0.9, 1.1)      near-identity, but not exactly 1 so a missing gain shows
 *   q/k/v weights      N(0, 1/D)        q, k elements ≈ N(0,1); q·k·0.125·1.81 has std ≈ 1.8
 *   o weight           N(0, 1/(H·dh))   attention output adds O(1) to the residual
 *   attention biases   N(0, 0.05²)      small, but present (an engine that drops them differs)
 *   sinks              N(0, 1)          comparable to the attention logits, so they matter
 *   router weight      N(0, 1/D), bias N(0, 0.1²): router logits ≈ N(0,1), distinct top-k
 *   mlp1 (MXFP4)       std ≈ 2/√D       gate/linear ≈ N(0,4): the ±7 SwiGLU clamps do fire
 *   mlp1 bias          N(0, 0.05²)
 *   mlp2 (MXFP4)       std ≈ 1/(3.1·√I) the clamped SwiGLU of N(0,4) inputs has RMS ≈ 3.1, so an
 *                                       expert's output has std ≈ 1
 *   mlp2 bias          N(0, 0.05²)
 *   unembedding        N(0, 4/D)        logits have std ≈ 2: peaked but not one-hot
 * Normal samples come from a 4096-entry quantile table (12 random bits each), so they are bounded
 * by ±3.5σ: no outlier can overflow anything, and bf16 generation is a table lookup.
 * MXFP4: the 4-bit codes are uniform over all 16 E2M1 codes (RMS magnitude 2.926, mean 0); each
 * 32-element block's E8M0 scale byte is s0 − 1, s0 or s0 + 1 at random (RMS factor 1.323), with s0
 * the byte whose effective std is nearest the target in log2 (so within a factor √2 of it).
 * ------------------------------------------------------------------------------------------- */

enum role {
    R_EMBED, R_UNEMBED, R_FINAL_NORM, R_ATTN_NORM, R_Q_W, R_K_W, R_V_W, R_Q_B, R_K_B, R_V_B, R_O_W,
    R_O_B, R_SINKS, R_MLP_NORM, R_ROUTER_W, R_ROUTER_B, R_MLP1_BLOCKS, R_MLP1_SCALES, R_MLP1_BIAS,
    R_MLP2_BLOCKS, R_MLP2_SCALES, R_MLP2_BIAS,
};

enum dist_kind { D_NORMAL, D_UNIFORM, D_BYTES, D_E8M0 };

typedef struct dist {
    enum dist_kind kind;
    double a, b;   /* normal: mean, std; uniform: lo, hi */
    int scale0;    /* E8M0: the centre scale byte */
} dist;

#define QTAB_BITS 12
#define QTAB_N (1u << QTAB_BITS)
#define FP4_RMS 2.9261749776799064   /* sqrt(mean of the squared E2M1 magnitudes) */
#define SCALE_JITTER_RMS 1.3228756555322954 /* sqrt(mean of 4^k, k in {-1,0,1}) */
#define SWIGLU_RMS 3.1               /* RMS of the clamped SwiGLU of N(0,4) gate/linear inputs */

static int e8m0_for_std(double target) {
    double l = log2(target / (FP4_RMS * SCALE_JITTER_RMS));
    long s = 127 + lround(l);
    /* Keep s0 ± 1 inside the range every decoder handles (Metal adds 14 to scale bytes). */
    if (s < 2) s = 2;
    if (s > 200) s = 200;
    return (int)s;
}

static dist role_dist(enum role r, const gptoss_model_config *c) {
    double D = c->hidden_size, I = c->intermediate_size, A = (double)c->n_heads * c->head_dim;
    switch (r) {
    case R_EMBED: return (dist){D_NORMAL, 0, 1, 0};
    case R_UNEMBED: return (dist){D_NORMAL, 0, 2 / sqrt(D), 0};
    case R_FINAL_NORM:
    case R_ATTN_NORM:
    case R_MLP_NORM: return (dist){D_UNIFORM, 0.9, 1.1, 0};
    case R_Q_W:
    case R_K_W:
    case R_V_W: return (dist){D_NORMAL, 0, 1 / sqrt(D), 0};
    case R_O_W: return (dist){D_NORMAL, 0, 1 / sqrt(A), 0};
    case R_Q_B:
    case R_K_B:
    case R_V_B:
    case R_O_B:
    case R_MLP1_BIAS:
    case R_MLP2_BIAS: return (dist){D_NORMAL, 0, 0.05, 0};
    case R_SINKS: return (dist){D_NORMAL, 0, 1, 0};
    case R_ROUTER_W: return (dist){D_NORMAL, 0, 1 / sqrt(D), 0};
    case R_ROUTER_B: return (dist){D_NORMAL, 0, 0.1, 0};
    case R_MLP1_BLOCKS:
    case R_MLP2_BLOCKS: return (dist){D_BYTES, 0, 0, 0};
    case R_MLP1_SCALES: return (dist){D_E8M0, 0, 0, e8m0_for_std(2 / sqrt(D))};
    case R_MLP2_SCALES: return (dist){D_E8M0, 0, 0, e8m0_for_std(1 / (SWIGLU_RMS * sqrt(I)))};
    }
    return (dist){D_BYTES, 0, 0, 0};
}

/* ---------------------------------------------------------------------------------------------
 * PRNG: splitmix64 to derive keys and seed, xoshiro256** for the streams (fast, and good enough
 * that no structure shows up in a forward pass).
 * ------------------------------------------------------------------------------------------- */
typedef struct stream {
    uint64_t s[4];
    uint64_t word; /* random bits not used yet (consumed from the low end) */
    unsigned left; /* samples still in word */
} stream;

static inline uint64_t xoshiro(stream *g) { return gptoss_xoshiro256ss(g->s); }

static void stream_init(stream *g, uint64_t seed, enum role r, uint32_t layer) {
    uint64_t k = ((uint64_t)r << 32) | layer, x = seed;
    x ^= gptoss_splitmix64(&k);
    for (int i = 0; i < 4; i++) g->s[i] = gptoss_splitmix64(&x);
    g->word = 0;
    g->left = 0;
}

/* N(0,1) quantiles at (i + 0.5) / 4096, by bisection on erfc (exact enough, and needs no
 * inverse-CDF approximation). */
static void normal_quantiles(float *q) {
    for (uint32_t i = 0; i < QTAB_N / 2; i++) {
        double p = (i + 0.5) / QTAB_N, lo = -10, hi = 0;
        for (int it = 0; it < 64; it++) {
            double mid = 0.5 * (lo + hi);
            if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
        }
        double x = 0.5 * (lo + hi);
        q[i] = (float)x;
        q[QTAB_N - 1 - i] = (float)-x;
    }
}

/* Fill kinds. Each consumes whole 64-bit words and carries leftover samples in the stream, so the
 * values never depend on how the data is chunked. */
static void fill_table16(stream *g, const uint16_t *tab, unsigned char *out, size_t n) {
    size_t i = 0;
    while (i < n && g->left) {
        uint16_t v = tab[g->word & (QTAB_N - 1)];
        g->word >>= QTAB_BITS;
        g->left--;
        out[2 * i] = (unsigned char)v;
        out[2 * i + 1] = (unsigned char)(v >> 8);
        i++;
    }
    for (; i + 5 <= n; i += 5) {
        uint64_t w = xoshiro(g);
        for (int j = 0; j < 5; j++) {
            uint16_t v = tab[(w >> (QTAB_BITS * j)) & (QTAB_N - 1)];
            out[2 * (i + j)] = (unsigned char)v;
            out[2 * (i + j) + 1] = (unsigned char)(v >> 8);
        }
    }
    if (i < n) {
        g->word = xoshiro(g);
        g->left = 5;
        fill_table16(g, tab, out + 2 * i, n - i);
    }
}

static void fill_table32(stream *g, const uint32_t *tab, unsigned char *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!g->left) {
            g->word = xoshiro(g);
            g->left = 5;
        }
        uint32_t v = tab[g->word & (QTAB_N - 1)];
        g->word >>= QTAB_BITS;
        g->left--;
        for (int b = 0; b < 4; b++) out[4 * i + b] = (unsigned char)(v >> (8 * b));
    }
}

/* Bytes; for E8M0 each byte becomes scale0 - 1 + (byte·3 >> 8), i.e. s0-1, s0 or s0+1. */
static void fill_bytes(stream *g, unsigned char *out, size_t n, int e8m0, int scale0) {
    size_t i = 0;
    while (i < n && g->left) {
        unsigned b = (unsigned)(g->word & 0xff);
        g->word >>= 8;
        g->left--;
        out[i++] = e8m0 ? (unsigned char)(scale0 - 1 + (int)((b * 3) >> 8)) : (unsigned char)b;
    }
    if (!e8m0) {
        for (; i + 8 <= n; i += 8) {
            uint64_t w = xoshiro(g);
            for (int j = 0; j < 8; j++) out[i + j] = (unsigned char)(w >> (8 * j));
        }
    } else {
        for (; i + 8 <= n; i += 8) {
            uint64_t w = xoshiro(g);
            for (int j = 0; j < 8; j++)
                out[i + j] = (unsigned char)(scale0 - 1 + (int)((((w >> (8 * j)) & 0xff) * 3) >> 8));
        }
    }
    if (i < n) {
        g->word = xoshiro(g);
        g->left = 8;
        fill_bytes(g, out + i, n - i, e8m0, scale0);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Presets and validation.
 * ------------------------------------------------------------------------------------------- */
static void preset_config(gptoss_synth_preset p, gptoss_model_config *c) {
    memset(c, 0, sizeof *c);
    c->n_experts_per_token = 4;
    c->initial_context_length = 4096;
    c->swiglu_limit = 7.0f;
    c->rope_theta = 150000.0f;
    c->rope_scaling_factor = 32.0f;
    c->rope_ntk_alpha = 1.0f;
    c->rope_ntk_beta = 32.0f;
    c->rms_norm_eps = 1e-5f;
    if (p == GPTOSS_SYNTH_TINY) {
        /* Small enough that every test using it runs in milliseconds under ASan, yet with the
         * real structure: alternating window/full layers, GQA (2 q heads per kv head), top-4 of 8
         * experts, a window shorter than a typical test sequence. */
        c->n_layers = 4;
        c->hidden_size = 64;
        c->intermediate_size = 64;
        c->head_dim = 16;
        c->n_heads = 4;
        c->n_kv_heads = 2;
        c->n_experts = 8;
        c->vocab_size = 1024;
        c->sliding_window = 16;
    } else {
        c->n_layers = p == GPTOSS_SYNTH_20B ? 24 : 36;
        c->n_experts = p == GPTOSS_SYNTH_20B ? 32 : 128;
        c->hidden_size = 2880;
        c->intermediate_size = 2880;
        c->head_dim = 64;
        c->n_heads = 64;
        c->n_kv_heads = 8;
        c->vocab_size = 201088;
        c->sliding_window = 128;
    }
}

static gptoss_status resolve_config(const gptoss_synth_options *o, gptoss_model_config *c, char *err,
                                    size_t err_size) {
    if (o->preset != GPTOSS_SYNTH_TINY && o->preset != GPTOSS_SYNTH_20B && o->preset != GPTOSS_SYNTH_120B)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: unknown preset %d", (int)o->preset);
    preset_config(o->preset, c);
#define TAKE(f) \
    if (o->f) c->f = o->f
    TAKE(n_layers);
    TAKE(hidden_size);
    TAKE(intermediate_size);
    TAKE(head_dim);
    TAKE(n_heads);
    TAKE(n_kv_heads);
    TAKE(n_experts);
    TAKE(n_experts_per_token);
    TAKE(vocab_size);
    TAKE(sliding_window);
    TAKE(initial_context_length);
#undef TAKE
    const struct {
        const char *name;
        float v;
        float *dst;
    } fl[] = {
        {"rope_theta", o->rope_theta, &c->rope_theta},
        {"rope_scaling_factor", o->rope_scaling_factor, &c->rope_scaling_factor},
        {"rope_ntk_alpha", o->rope_ntk_alpha, &c->rope_ntk_alpha},
        {"rope_ntk_beta", o->rope_ntk_beta, &c->rope_ntk_beta},
        {"swiglu_limit", o->swiglu_limit, &c->swiglu_limit},
    };
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        if (fl[i].v == 0) continue;
        if (!isfinite(fl[i].v) || fl[i].v < 0)
            return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: %s must be a positive number",
                               fl[i].name);
        *fl[i].dst = fl[i].v;
    }
    if (c->hidden_size % 32 || c->intermediate_size % 32)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "synth: hidden size (%u) and intermediate size (%u) must be multiples of 32 (MXFP4 blocks)",
                           c->hidden_size, c->intermediate_size);
    if (c->head_dim % 2)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: head dim %u must be even (RoPE pairs)",
                           c->head_dim);
    if (c->n_heads % c->n_kv_heads)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "synth: %u query heads are not a multiple of %u kv heads", c->n_heads, c->n_kv_heads);
    if (c->n_experts_per_token > c->n_experts)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: %u experts per token but only %u experts",
                           c->n_experts_per_token, c->n_experts);
    if (c->rope_scaling_factor < 1)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: rope scaling factor must be >= 1");
    if (c->rope_theta <= 1)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: rope theta must be > 1");
    double maxctx = (double)c->initial_context_length * c->rope_scaling_factor;
    if (maxctx > UINT32_MAX)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: context %.0f is too large", maxctx);
    c->max_context = (uint32_t)llround(maxctx);
    /* The reference asserts 0 < low < high < head_dim/2 - 1 for the YaRN correction range; a
     * checkpoint it would refuse is no use to anyone. */
    double dh = c->head_dim / 2.0, two_pi = 2 * 3.14159265358979323846;
    double low = dh * log(c->initial_context_length / (c->rope_ntk_beta * two_pi)) / log(c->rope_theta);
    double high = dh * log(c->initial_context_length / (c->rope_ntk_alpha * two_pi)) / log(c->rope_theta);
    if (!(0 < low && low < high && high < dh - 1))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size,
                           "synth: YaRN correction range [%.3f, %.3f] is not inside (0, %g) for head dim %u "
                           "(use a larger head dim or context)",
                           low, high, dh - 1, c->head_dim);
    return GPTOSS_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor plan: names, shapes, pieces, files.
 * ------------------------------------------------------------------------------------------- */
typedef struct piece {
    enum role role;
    uint32_t layer;
    uint64_t count; /* elements */
} piece;

typedef struct tdesc {
    char name[96];
    const char *dtype;
    const char *orig_dtype_label; /* what original/dtypes.json calls it */
    uint32_t ndim;
    uint64_t shape[4];
    uint32_t n_pieces;
    piece pieces[3];
    uint32_t file;
} tdesc;

typedef struct tlist {
    tdesc *v;
    size_t n, cap;
} tlist;

typedef struct sfile {
    char rel[64];
    gptoss_stw w;
    const tlist *tensors;
} sfile;

typedef struct plan {
    gptoss_model_config cfg;
    uint64_t seed;
    int f32_norms, write_original;
    uint32_t n_shards;
    tlist hf, orig;
    sfile *files;
    uint32_t n_files;
    gptoss_buf config_json, gen_json, index_json, orig_config_json, orig_dtypes_json;
    uint64_t n_params, n_tensor_bytes, n_data_bytes, n_file_bytes;
} plan;

static gptoss_status tl_add(tlist *l, const char *dtype, uint32_t ndim, const uint64_t *shape, uint32_t n_pieces,
                            const piece *pieces, char *err, size_t err_size, const char *fmt, ...)
    GPTOSS_PRINTF(9, 10);

static gptoss_status tl_add(tlist *l, const char *dtype, uint32_t ndim, const uint64_t *shape, uint32_t n_pieces,
                            const piece *pieces, char *err, size_t err_size, const char *fmt, ...) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        tdesc *v = realloc(l->v, cap * sizeof *v);
        if (!v) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    tdesc *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->dtype = dtype;
    t->orig_dtype_label = dtype;
    t->ndim = ndim;
    memcpy(t->shape, shape, ndim * sizeof *shape);
    t->n_pieces = n_pieces;
    memcpy(t->pieces, pieces, n_pieces * sizeof *pieces);
    return GPTOSS_OK;
}

#define P1(r, l, n) (piece[]){{(r), (l), (n)}}
#define SHAPE(...) (uint64_t[]){__VA_ARGS__}

/* Both layouts, in module order (the order of the reference's state dict, which the index and
 * dtypes.json follow). */
static gptoss_status build_tensors(plan *p, char *err, size_t err_size) {
    const gptoss_model_config *c = &p->cfg;
    const char *nd = p->f32_norms ? "F32" : "BF16";
    /* Dimensions are at most 2^32 each, so single products fit; every longer product is checked. */
    uint64_t D = c->hidden_size, I = c->intermediate_size, V = c->vocab_size, E = c->n_experts;
    uint64_t H = c->n_heads, Q = H * c->head_dim, KV = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t QKV = Q + 2 * KV, VD = V * D, DE = D * E, ED = E * D;
    uint64_t EI2, QD, KVD, EI2D, EDI;
    if (QKV < Q || !gptoss_mul_u64(E, 2 * I, &EI2) || !gptoss_mul_u64(Q, D, &QD) || !gptoss_mul_u64(KV, D, &KVD) || !gptoss_mul_u64(EI2, D, &EI2D) ||
        !gptoss_mul_u64(ED, I, &EDI) || !gptoss_mul_u64(QKV, D, &(uint64_t){0}))
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: model size overflows");
    gptoss_status st;
#define ADD(l, ...) \
    if ((st = tl_add(&p->l, __VA_ARGS__)) != GPTOSS_OK) return st

    /* Hugging Face. */
    ADD(hf, "BF16", 2, SHAPE(V, D), 1, P1(R_EMBED, 0, VD), err, err_size, "model.embed_tokens.weight");
    for (uint32_t n = 0; n < c->n_layers; n++) {
        ADD(hf, nd, 1, SHAPE(D), 1, P1(R_ATTN_NORM, n, D), err, err_size, "model.layers.%u.input_layernorm.weight", n);
        ADD(hf, "BF16", 2, SHAPE(Q, D), 1, P1(R_Q_W, n, QD), err, err_size, "model.layers.%u.self_attn.q_proj.weight", n);
        ADD(hf, "BF16", 2, SHAPE(KV, D), 1, P1(R_K_W, n, KVD), err, err_size, "model.layers.%u.self_attn.k_proj.weight", n);
        ADD(hf, "BF16", 2, SHAPE(KV, D), 1, P1(R_V_W, n, KVD), err, err_size, "model.layers.%u.self_attn.v_proj.weight", n);
        ADD(hf, "BF16", 1, SHAPE(Q), 1, P1(R_Q_B, n, Q), err, err_size, "model.layers.%u.self_attn.q_proj.bias", n);
        ADD(hf, "BF16", 1, SHAPE(KV), 1, P1(R_K_B, n, KV), err, err_size, "model.layers.%u.self_attn.k_proj.bias", n);
        ADD(hf, "BF16", 1, SHAPE(KV), 1, P1(R_V_B, n, KV), err, err_size, "model.layers.%u.self_attn.v_proj.bias", n);
        ADD(hf, "BF16", 2, SHAPE(D, Q), 1, P1(R_O_W, n, QD), err, err_size, "model.layers.%u.self_attn.o_proj.weight", n);
        ADD(hf, "BF16", 1, SHAPE(D), 1, P1(R_O_B, n, D), err, err_size, "model.layers.%u.self_attn.o_proj.bias", n);
        ADD(hf, nd, 1, SHAPE(H), 1, P1(R_SINKS, n, H), err, err_size, "model.layers.%u.self_attn.sinks", n);
        ADD(hf, nd, 1, SHAPE(D), 1, P1(R_MLP_NORM, n, D), err, err_size,
            "model.layers.%u.post_attention_layernorm.weight", n);
        ADD(hf, "BF16", 2, SHAPE(E, D), 1, P1(R_ROUTER_W, n, DE), err, err_size, "model.layers.%u.mlp.router.weight", n);
        ADD(hf, "BF16", 1, SHAPE(E), 1, P1(R_ROUTER_B, n, E), err, err_size, "model.layers.%u.mlp.router.bias", n);
        ADD(hf, "U8", 4, SHAPE(E, 2 * I, D / 32, 16), 1, P1(R_MLP1_BLOCKS, n, EI2D / 2), err, err_size,
            "model.layers.%u.mlp.experts.gate_up_proj_blocks", n);
        ADD(hf, "U8", 3, SHAPE(E, 2 * I, D / 32), 1, P1(R_MLP1_SCALES, n, EI2D / 32), err, err_size,
            "model.layers.%u.mlp.experts.gate_up_proj_scales", n);
        ADD(hf, "BF16", 2, SHAPE(E, 2 * I), 1, P1(R_MLP1_BIAS, n, EI2), err, err_size,
            "model.layers.%u.mlp.experts.gate_up_proj_bias", n);
        ADD(hf, "U8", 4, SHAPE(E, D, I / 32, 16), 1, P1(R_MLP2_BLOCKS, n, EDI / 2), err, err_size,
            "model.layers.%u.mlp.experts.down_proj_blocks", n);
        ADD(hf, "U8", 3, SHAPE(E, D, I / 32), 1, P1(R_MLP2_SCALES, n, EDI / 32), err, err_size,
            "model.layers.%u.mlp.experts.down_proj_scales", n);
        ADD(hf, "BF16", 2, SHAPE(E, D), 1, P1(R_MLP2_BIAS, n, ED), err, err_size,
            "model.layers.%u.mlp.experts.down_proj_bias", n);
    }
    ADD(hf, nd, 1, SHAPE(D), 1, P1(R_FINAL_NORM, 0, D), err, err_size, "model.norm.weight");
    ADD(hf, "BF16", 2, SHAPE(V, D), 1, P1(R_UNEMBED, 0, VD), err, err_size, "lm_head.weight");

    if (!p->write_original) return GPTOSS_OK;
    ADD(orig, "BF16", 2, SHAPE(V, D), 1, P1(R_EMBED, 0, VD), err, err_size, "embedding.weight");
    for (uint32_t n = 0; n < c->n_layers; n++) {
        ADD(orig, nd, 1, SHAPE(D), 1, P1(R_ATTN_NORM, n, D), err, err_size, "block.%u.attn.norm.scale", n);
        ADD(orig, "BF16", 2, SHAPE(QKV, D), 3,
            ((piece[]){{R_Q_W, n, QD}, {R_K_W, n, KVD}, {R_V_W, n, KVD}}), err, err_size,
            "block.%u.attn.qkv.weight", n);
        ADD(orig, "BF16", 1, SHAPE(QKV), 3, ((piece[]){{R_Q_B, n, Q}, {R_K_B, n, KV}, {R_V_B, n, KV}}), err,
            err_size, "block.%u.attn.qkv.bias", n);
        ADD(orig, nd, 1, SHAPE(H), 1, P1(R_SINKS, n, H), err, err_size, "block.%u.attn.sinks", n);
        ADD(orig, "BF16", 2, SHAPE(D, Q), 1, P1(R_O_W, n, QD), err, err_size, "block.%u.attn.out.weight", n);
        ADD(orig, "BF16", 1, SHAPE(D), 1, P1(R_O_B, n, D), err, err_size, "block.%u.attn.out.bias", n);
        ADD(orig, nd, 1, SHAPE(D), 1, P1(R_MLP_NORM, n, D), err, err_size, "block.%u.mlp.norm.scale", n);
        ADD(orig, "BF16", 2, SHAPE(E, D), 1, P1(R_ROUTER_W, n, DE), err, err_size, "block.%u.mlp.gate.weight", n);
        ADD(orig, "BF16", 1, SHAPE(E), 1, P1(R_ROUTER_B, n, E), err, err_size, "block.%u.mlp.gate.bias", n);
        ADD(orig, "U8", 4, SHAPE(E, 2 * I, D / 32, 16), 1, P1(R_MLP1_BLOCKS, n, EI2D / 2), err, err_size,
            "block.%u.mlp.mlp1_weight.blocks", n);
        p->orig.v[p->orig.n - 1].orig_dtype_label = "FP4";
        ADD(orig, "U8", 3, SHAPE(E, 2 * I, D / 32), 1, P1(R_MLP1_SCALES, n, EI2D / 32), err, err_size,
            "block.%u.mlp.mlp1_weight.scales", n);
        p->orig.v[p->orig.n - 1].orig_dtype_label = "UE8";
        ADD(orig, "BF16", 2, SHAPE(E, 2 * I), 1, P1(R_MLP1_BIAS, n, EI2), err, err_size, "block.%u.mlp.mlp1_bias", n);
        ADD(orig, "U8", 4, SHAPE(E, D, I / 32, 16), 1, P1(R_MLP2_BLOCKS, n, EDI / 2), err, err_size,
            "block.%u.mlp.mlp2_weight.blocks", n);
        p->orig.v[p->orig.n - 1].orig_dtype_label = "FP4";
        ADD(orig, "U8", 3, SHAPE(E, D, I / 32), 1, P1(R_MLP2_SCALES, n, EDI / 32), err, err_size,
            "block.%u.mlp.mlp2_weight.scales", n);
        p->orig.v[p->orig.n - 1].orig_dtype_label = "UE8";
        ADD(orig, "BF16", 2, SHAPE(E, D), 1, P1(R_MLP2_BIAS, n, ED), err, err_size, "block.%u.mlp.mlp2_bias", n);
    }
    ADD(orig, nd, 1, SHAPE(D), 1, P1(R_FINAL_NORM, 0, D), err, err_size, "norm.scale");
    ADD(orig, "BF16", 2, SHAPE(V, D), 1, P1(R_UNEMBED, 0, VD), err, err_size, "unembedding.weight");
#undef ADD
    return GPTOSS_OK;
}

/* Contiguous runs of the module order of roughly equal bytes, like the Hub's shards: tensor i goes
 * to the shard holding the midpoint of its bytes, then the assignment is made monotone, steps of at
 * most one, and with enough tensors left that no shard is empty. */
static void assign_shards(tlist *l, const uint64_t *nbytes, uint64_t total, uint32_t n_shards) {
    uint64_t before = 0;
    for (size_t i = 0; i < l->n; i++) {
        double mid = (double)before + nbytes[i] / 2.0;
        uint64_t k = total ? (uint64_t)(mid * n_shards / (double)total) : 0;
        if (k >= n_shards) k = n_shards - 1;
        uint64_t prev = i ? l->v[i - 1].file : 0;
        if (k < prev) k = prev;
        if (k > prev + 1) k = prev + 1;
        if (i == 0) k = 0;
        uint64_t need = (uint64_t)n_shards - (l->n - i); /* the lowest shard leaving one tensor per later shard */
        if (n_shards > l->n - i && k < need) k = need;
        l->v[i].file = (uint32_t)k;
        before += nbytes[i];
    }
}

/* Python's repr of a float (shortest digits that read back as the same float32, fixed notation
 * for exponents -4..15 with at least one decimal), which is how the reference's JSON spells them. */
static void put_pyfloat(gptoss_buf *b, double v) {
    char tmp[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if ((float)strtod(tmp, NULL) == (float)v) break;
    }
    char *e = strchr(tmp, 'e');
    int exp10 = e ? atoi(e + 1) : 0;
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        snprintf(tmp, sizeof tmp, "%.*f", decimals > 0 ? decimals : 0, v);
        gptoss_buf_puts(b, tmp);
        if (!strchr(tmp, '.')) gptoss_buf_puts(b, ".0");
    } else {
        *e = 0;
        gptoss_buf_printf(b, "%se%c%02d", tmp, exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
}

/* Integral values as integers (the Hub config spells rope_theta 150000), others as floats. */
static void put_number(gptoss_buf *b, double v) {
    if (v == floor(v) && fabs(v) < 1e15) gptoss_buf_printf(b, "%.0f", v);
    else put_pyfloat(b, v);
}

static void build_json(plan *p) {
    const gptoss_model_config *c = &p->cfg;
    gptoss_buf *b = &p->config_json;
    /* Keys sorted, two-space indent: how transformers writes config.json. */
    gptoss_buf_printf(b,
                      "{\n  \"architectures\": [\n    \"GptOssForCausalLM\"\n  ],\n  \"attention_bias\": true,\n"
                      "  \"attention_dropout\": 0.0,\n  \"eos_token_id\": 200002,\n  \"experts_per_token\": %u,\n"
                      "  \"head_dim\": %u,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": %u,\n"
                      "  \"initial_context_length\": %u,\n  \"initializer_range\": 0.02,\n  \"intermediate_size\": %u,\n"
                      "  \"layer_types\": [\n",
                      c->n_experts_per_token, c->head_dim, c->hidden_size, c->initial_context_length,
                      c->intermediate_size);
    for (uint32_t n = 0; n < c->n_layers; n++)
        gptoss_buf_printf(b, "    \"%s\"%s\n", n % 2 ? "full_attention" : "sliding_attention",
                          n + 1 < c->n_layers ? "," : "");
    gptoss_buf_printf(b,
                      "  ],\n  \"max_position_embeddings\": %u,\n  \"model_type\": \"gpt_oss\",\n"
                      "  \"num_attention_heads\": %u,\n  \"num_experts_per_tok\": %u,\n  \"num_hidden_layers\": %u,\n"
                      "  \"num_key_value_heads\": %u,\n  \"num_local_experts\": %u,\n  \"output_router_logits\": false,\n"
                      "  \"pad_token_id\": 199999,\n  \"quantization_config\": {\n    \"modules_to_not_convert\": [\n"
                      "      \"model.layers.*.self_attn\",\n      \"model.layers.*.mlp.router\",\n"
                      "      \"model.embed_tokens\",\n      \"lm_head\"\n    ],\n    \"quant_method\": \"mxfp4\"\n  },\n"
                      "  \"rms_norm_eps\": 1e-05,\n  \"rope_scaling\": {\n    \"beta_fast\": ",
                      c->max_context, c->n_heads, c->n_experts_per_token, c->n_layers, c->n_kv_heads, c->n_experts);
    put_pyfloat(b, c->rope_ntk_beta);
    gptoss_buf_puts(b, ",\n    \"beta_slow\": ");
    put_pyfloat(b, c->rope_ntk_alpha);
    gptoss_buf_puts(b, ",\n    \"factor\": ");
    put_pyfloat(b, c->rope_scaling_factor);
    gptoss_buf_printf(b,
                      ",\n    \"original_max_position_embeddings\": %u,\n    \"rope_type\": \"yarn\",\n"
                      "    \"truncate\": false\n  },\n  \"rope_theta\": ",
                      c->initial_context_length);
    put_number(b, c->rope_theta);
    gptoss_buf_printf(b, ",\n  \"router_aux_loss_coef\": 0.9,\n  \"sliding_window\": %u,\n  \"swiglu_limit\": ",
                      c->sliding_window);
    put_pyfloat(b, c->swiglu_limit);
    gptoss_buf_printf(b,
                      ",\n  \"tie_word_embeddings\": false,\n  \"transformers_version\": \"4.55.0.dev0\",\n"
                      "  \"use_cache\": true,\n  \"vocab_size\": %u\n}",
                      c->vocab_size);

    gptoss_buf_puts(&p->gen_json, "{\n  \"bos_token_id\": 199998,\n  \"do_sample\": true,\n  \"eos_token_id\": [\n"
                                  "    200002,\n    199999,\n    200012\n  ],\n  \"pad_token_id\": 199999,\n"
                                  "  \"transformers_version\": \"4.55.0.dev0\"\n}");

    if (p->n_shards > 1) {
        b = &p->index_json;
        gptoss_buf_printf(b, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {\n",
                          (unsigned long long)p->n_tensor_bytes);
        for (size_t i = 0; i < p->hf.n; i++)
            gptoss_buf_printf(b, "    \"%s\": \"%s\"%s\n", p->hf.v[i].name, p->files[p->hf.v[i].file].rel,
                              i + 1 < p->hf.n ? "," : "");
        gptoss_buf_puts(b, "  }\n}");
    }

    if (!p->write_original) return;
    /* Exactly the fields of the reference's ModelConfig, in its order. */
    b = &p->orig_config_json;
    gptoss_buf_printf(b,
                      "{\n  \"num_hidden_layers\": %u,\n  \"num_experts\": %u,\n  \"experts_per_token\": %u,\n"
                      "  \"vocab_size\": %u,\n  \"hidden_size\": %u,\n  \"intermediate_size\": %u,\n"
                      "  \"swiglu_limit\": ",
                      c->n_layers, c->n_experts, c->n_experts_per_token, c->vocab_size, c->hidden_size,
                      c->intermediate_size);
    put_pyfloat(b, c->swiglu_limit);
    gptoss_buf_printf(b,
                      ",\n  \"head_dim\": %u,\n  \"num_attention_heads\": %u,\n  \"num_key_value_heads\": %u,\n"
                      "  \"sliding_window\": %u,\n  \"initial_context_length\": %u,\n  \"rope_theta\": ",
                      c->head_dim, c->n_heads, c->n_kv_heads, c->sliding_window, c->initial_context_length);
    put_pyfloat(b, c->rope_theta);
    gptoss_buf_puts(b, ",\n  \"rope_scaling_factor\": ");
    put_pyfloat(b, c->rope_scaling_factor);
    gptoss_buf_puts(b, ",\n  \"rope_ntk_alpha\": ");
    put_pyfloat(b, c->rope_ntk_alpha);
    gptoss_buf_puts(b, ",\n  \"rope_ntk_beta\": ");
    put_pyfloat(b, c->rope_ntk_beta);
    gptoss_buf_puts(b, "\n}");

    b = &p->orig_dtypes_json;
    gptoss_buf_puts(b, "{\n");
    for (size_t i = 0; i < p->orig.n; i++)
        gptoss_buf_printf(b, " \"%s\": \"%s\"%s\n", p->orig.v[i].name, p->orig.v[i].orig_dtype_label,
                          i + 1 < p->orig.n ? "," : "");
    gptoss_buf_puts(b, "}");
}

static void plan_free(plan *p) {
    free(p->hf.v);
    free(p->orig.v);
    for (uint32_t i = 0; i < p->n_files; i++) gptoss_stw_free(&p->files[i].w);
    free(p->files);
    gptoss_buf_free(&p->config_json);
    gptoss_buf_free(&p->gen_json);
    gptoss_buf_free(&p->index_json);
    gptoss_buf_free(&p->orig_config_json);
    gptoss_buf_free(&p->orig_dtypes_json);
    memset(p, 0, sizeof *p);
}

static uint64_t tensor_elems(const tdesc *t) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < t->n_pieces; i++) n += t->pieces[i].count;
    return n;
}

static gptoss_status plan_build(const gptoss_synth_options *opts, plan *p, char *err, size_t err_size) {
    static const gptoss_synth_options defaults;
    if (!opts) opts = &defaults;
    memset(p, 0, sizeof *p);
    gptoss_status st = resolve_config(opts, &p->cfg, err, err_size);
    if (st != GPTOSS_OK) return st;
    p->seed = opts->seed;
    p->f32_norms = opts->f32_norms != 0;
    p->write_original = opts->write_original != 0;
    p->n_shards = opts->n_shards ? opts->n_shards : 1;
    if ((st = build_tensors(p, err, err_size)) != GPTOSS_OK) return st;
    if (p->n_shards > p->hf.n)
        return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: %u shards for only %zu tensors",
                           p->n_shards, p->hf.n);

    p->n_files = p->n_shards + (p->write_original ? 1u : 0u);
    p->files = calloc(p->n_files, sizeof *p->files);
    uint64_t *nbytes = calloc(p->hf.n, sizeof *nbytes);
    if (!p->files || !nbytes) {
        free(nbytes);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    for (uint32_t f = 0; f < p->n_files; f++) gptoss_stw_init(&p->files[f].w);

    /* Parameter count and sizes over the HF layout, overflow-checked. */
    for (size_t i = 0; i < p->hf.n; i++) {
        const tdesc *t = &p->hf.v[i];
        uint64_t e = 1;
        for (uint32_t d = 0; d < t->ndim; d++)
            if (!gptoss_mul_u64(e, t->shape[d], &e)) goto overflow;
        if (e != tensor_elems(t)) {
            free(nbytes);
            return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "synth: %s: pieces do not fill the shape", t->name);
        }
        uint32_t es = gptoss_stw_dtype_size(t->dtype);
        if (!gptoss_mul_u64(e, es, &nbytes[i])) goto overflow;
        uint64_t params = e;
        if (t->pieces[0].role == R_MLP1_BLOCKS || t->pieces[0].role == R_MLP2_BLOCKS) {
            if (!gptoss_mul_u64(e, 2, &params)) goto overflow;
        } else if (t->pieces[0].role == R_MLP1_SCALES || t->pieces[0].role == R_MLP2_SCALES) {
            params = 0; /* part of the MXFP4 encoding, not parameters */
        }
        if (params > UINT64_MAX - p->n_params || nbytes[i] > UINT64_MAX - p->n_tensor_bytes) goto overflow;
        p->n_params += params;
        p->n_tensor_bytes += nbytes[i];
    }
    if (p->n_shards > 1) {
        assign_shards(&p->hf, nbytes, p->n_tensor_bytes, p->n_shards);
        for (uint32_t f = 0; f < p->n_shards; f++)
            snprintf(p->files[f].rel, sizeof p->files[f].rel, "model-%05u-of-%05u.safetensors", f, p->n_shards - 1);
    } else {
        snprintf(p->files[0].rel, sizeof p->files[0].rel, "model.safetensors");
    }
    free(nbytes);
    for (uint32_t f = 0; f < p->n_shards; f++) p->files[f].tensors = &p->hf;
    if (p->write_original) {
        sfile *of = &p->files[p->n_shards];
        snprintf(of->rel, sizeof of->rel, "original/model.safetensors");
        of->tensors = &p->orig;
        for (size_t i = 0; i < p->orig.n; i++) p->orig.v[i].file = p->n_shards;
    }

    for (uint32_t f = 0; f < p->n_files; f++) {
        const tlist *l = p->files[f].tensors;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].file != f) continue;
            st = gptoss_stw_add(&p->files[f].w, l->v[i].name, l->v[i].dtype, l->v[i].ndim, l->v[i].shape, i, err,
                                err_size);
            if (st != GPTOSS_OK) return st;
        }
        /* The Hub's HF files carry {"format":"pt"}; the original/ files carry no metadata. */
        st = gptoss_stw_layout(&p->files[f].w, l == &p->hf ? "\"format\":\"pt\"" : NULL, err, err_size);
        if (st != GPTOSS_OK) return st;
        uint64_t size = gptoss_stw_file_size(&p->files[f].w);
        if (size > UINT64_MAX - p->n_file_bytes || p->files[f].w.data_bytes > UINT64_MAX - p->n_data_bytes)
            goto overflow;
        p->n_file_bytes += size;
        p->n_data_bytes += p->files[f].w.data_bytes;
    }

    build_json(p);
    gptoss_buf *js[] = {&p->config_json, &p->gen_json, &p->index_json, &p->orig_config_json, &p->orig_dtypes_json};
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        if (js[i]->failed) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        p->n_file_bytes += js[i]->len;
    }
    return GPTOSS_OK;
overflow:
    return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: model size overflows");
}

gptoss_status gptoss_synth_resolve(const gptoss_synth_options *opts, gptoss_synth_plan *out, char *err,
                                   size_t err_size) {
    if (!out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: NULL plan");
    memset(out, 0, sizeof *out);
    plan p;
    gptoss_status st = plan_build(opts, &p, err, err_size);
    if (st == GPTOSS_OK) {
        out->config = p.cfg;
        out->n_params = p.n_params;
        out->n_tensor_bytes = p.n_tensor_bytes;
        out->n_file_bytes = p.n_file_bytes;
        out->n_files = p.n_files + 2 + (p.n_shards > 1) + 2u * (uint32_t)p.write_original;
    }
    plan_free(&p);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Writing.
 * ------------------------------------------------------------------------------------------- */
static gptoss_status mkdirs(const char *path, char *err, size_t err_size) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 1);
    if (!tmp) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != 0) continue;
        char c = tmp[i];
        tmp[i] = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            gptoss_status st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot create directory: %s", tmp,
                                           strerror(errno));
            free(tmp);
            return st;
        }
        tmp[i] = c;
    }
    struct stat sb;
    int ok = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    free(tmp);
    if (!ok) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: not a directory", path);
    return GPTOSS_OK;
}

static gptoss_status remove_file(const char *dir, const char *rel, char *err, size_t err_size) {
    char *path = gptoss_path_join(dir, rel);
    if (!path) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    gptoss_status st = GPTOSS_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot remove stale file: %s", path, strerror(errno));
    free(path);
    return st;
}

static int is_shard_name(const char *s) {
    /* model-NNNNN-of-NNNNN.safetensors */
    static const char pat[] = "model-#####-of-#####.safetensors";
    if (strlen(s) != sizeof pat - 1) return 0;
    for (size_t i = 0; pat[i]; i++)
        if (pat[i] == '#' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return 0;
    return 1;
}

/* A loader that finds both a model.safetensors and an index (or shards of another count) cannot
 * know which is current, so whatever a previous run left of another form goes. config.json goes
 * too: it is written last, so its presence marks a complete checkpoint. */
static gptoss_status remove_stale(const plan *p, const char *dir, char *err, size_t err_size) {
    gptoss_status st;
    if ((st = remove_file(dir, "config.json", err, err_size)) != GPTOSS_OK) return st;
    if (p->write_original && (st = remove_file(dir, "original/config.json", err, err_size)) != GPTOSS_OK) return st;
    if ((st = remove_file(dir, p->n_shards > 1 ? "model.safetensors" : "model.safetensors.index.json", err,
                          err_size)) != GPTOSS_OK)
        return st;
    DIR *d = opendir(dir);
    if (!d) return gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_shard_name(de->d_name)) continue;
        int ours = 0;
        for (uint32_t f = 0; f < p->n_shards && p->n_shards > 1; f++) ours |= !strcmp(p->files[f].rel, de->d_name);
        if (!ours && (st = remove_file(dir, de->d_name, err, err_size)) != GPTOSS_OK) break;
    }
    closedir(d);
    return st;
}

static gptoss_status write_small(const char *dir, const char *rel, const gptoss_buf *b, char *err, size_t err_size) {
    char *path = gptoss_path_join(dir, rel);
    if (!path) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    gptoss_status st = GPTOSS_OK;
    if (!tmp) {
        free(path);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: cannot create: %s", tmp, strerror(errno));
    } else {
        size_t w = b->len ? fwrite(b->data, 1, b->len, f) : 0;
        int bad = w != b->len;
        if (fclose(f) != 0) bad = 1;
        if (bad || rename(tmp, path) != 0) {
            st = gptoss_fail(GPTOSS_ERR_IO, err, err_size, "%s: write failed: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    free(path);
    return st;
}

typedef struct gen_ctx {
    float q[QTAB_N]; /* N(0,1) quantiles */
    union {
        uint16_t t16[QTAB_N];
        uint32_t t32[QTAB_N];
    } tab;
    const gptoss_synth_options *opts;
    uint64_t done, total, last_report;
} gen_ctx;

static void build_table(gen_ctx *g, const dist *d, int f32) {
    for (uint32_t i = 0; i < QTAB_N; i++) {
        double x = d->kind == D_NORMAL ? d->a + d->b * g->q[i] : d->a + (d->b - d->a) * ((i + 0.5) / QTAB_N);
        float f = (float)x;
        if (f32) {
            memcpy(&g->tab.t32[i], &f, sizeof f);
        } else {
            g->tab.t16[i] = gptoss_f32_to_bf16(f);
        }
    }
}

static gptoss_status write_tensor(gen_ctx *g, const plan *p, gptoss_stw *w, const tdesc *t, const char *path,
                                  char *err, size_t err_size) {
    size_t es = gptoss_stw_dtype_size(t->dtype);
    int f32 = es == 4;
    for (uint32_t k = 0; k < t->n_pieces; k++) {
        const piece *pc = &t->pieces[k];
        dist d = role_dist(pc->role, &p->cfg);
        if ((d.kind == D_NORMAL || d.kind == D_UNIFORM) == (es == 1))
            return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: %s: dtype does not fit its values", path, t->name);
        if (d.kind == D_NORMAL || d.kind == D_UNIFORM) build_table(g, &d, f32);
        stream s;
        stream_init(&s, p->seed, pc->role, pc->layer);
        uint64_t left = pc->count;
        while (left) {
            unsigned char *buf;
            size_t n;
            uint64_t want = left > UINT64_MAX / es ? UINT64_MAX : left * es;
            gptoss_status st = gptoss_stw_space(w, want, es, &buf, &n, err, err_size);
            if (st != GPTOSS_OK) return st;
            size_t m = n / es;
            switch (d.kind) {
            case D_NORMAL:
            case D_UNIFORM:
                if (f32) fill_table32(&s, g->tab.t32, buf, m);
                else fill_table16(&s, g->tab.t16, buf, m);
                break;
            case D_BYTES: fill_bytes(&s, buf, m, 0, 0); break;
            case D_E8M0: fill_bytes(&s, buf, m, 1, d.scale0); break;
            }
            gptoss_stw_commit(w, m * es);
            left -= m;
            g->done += m * es;
            if (g->opts->progress && g->done - g->last_report >= ((uint64_t)256 << 20)) {
                g->last_report = g->done;
                g->opts->progress(g->opts->progress_ctx, g->done, g->total);
            }
        }
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_synth_write(const char *out_dir, const gptoss_synth_options *opts, char *err, size_t err_size) {
    static const gptoss_synth_options defaults;
    if (!out_dir || !*out_dir) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "synth: no output directory");
    if (!opts) opts = &defaults;
    plan p;
    gen_ctx *g = NULL;
    char *path = NULL;
    gptoss_status st = plan_build(opts, &p, err, err_size);
    if (st != GPTOSS_OK) goto done;
    if ((st = mkdirs(out_dir, err, err_size)) != GPTOSS_OK) goto done;
    if (p.write_original) {
        path = gptoss_path_join(out_dir, "original");
        if (!path) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            goto done;
        }
        if ((st = mkdirs(path, err, err_size)) != GPTOSS_OK) goto done;
        free(path);
        path = NULL;
    }
    if ((st = remove_stale(&p, out_dir, err, err_size)) != GPTOSS_OK) goto done;

    g = malloc(sizeof *g);
    if (!g) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto done;
    }
    normal_quantiles(g->q);
    g->opts = opts;
    g->done = g->last_report = 0;
    g->total = p.n_data_bytes;

    for (uint32_t f = 0; f < p.n_files; f++) {
        sfile *sf = &p.files[f];
        path = gptoss_path_join(out_dir, sf->rel);
        if (!path) {
            st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
            goto done;
        }
        if ((st = gptoss_stw_open(&sf->w, path, 0, err, err_size)) != GPTOSS_OK) goto done;
        for (size_t i = 0; i < sf->w.n; i++) {
            const tdesc *t = &sf->tensors->v[sf->w.entries[i].user];
            if ((st = write_tensor(g, &p, &sf->w, t, path, err, err_size)) != GPTOSS_OK) goto done;
        }
        if ((st = gptoss_stw_close(&sf->w, err, err_size)) != GPTOSS_OK) goto done;
        gptoss_stw_free(&sf->w); /* releases the write buffer now rather than at the end */
        free(path);
        path = NULL;
    }
    if (opts->progress) opts->progress(opts->progress_ctx, g->done, g->total);

    if (p.n_shards > 1 && (st = write_small(out_dir, "model.safetensors.index.json", &p.index_json, err, err_size)))
        goto done;
    if ((st = write_small(out_dir, "generation_config.json", &p.gen_json, err, err_size)) != GPTOSS_OK) goto done;
    if (p.write_original) {
        if ((st = write_small(out_dir, "original/dtypes.json", &p.orig_dtypes_json, err, err_size)) != GPTOSS_OK)
            goto done;
        if ((st = write_small(out_dir, "original/config.json", &p.orig_config_json, err, err_size)) != GPTOSS_OK)
            goto done;
    }
    st = write_small(out_dir, "config.json", &p.config_json, err, err_size);
done:
    free(path);
    free(g);
    plan_free(&p);
    return st;
}
