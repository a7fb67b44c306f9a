/* cmd_convert.c: `gptoss convert MODEL_DIR --to gguf OUT.gguf [--dense q8_0|bf16|f32] [--tokenizer FILE]
 * [--no-tokenizer] [--force]`.
 * Writes the layout of ggml-org's published gpt-oss GGUF files (llama.cpp convert_hf_to_gguf.py,
 * GptOssModel): experts repacked losslessly into ggml's MXFP4 blocks with gate and up split into two
 * tensors, norms/biases/sinks/router bias as F32, dense weights as chosen, and the tokenizer in the
 * tokenizer.ggml.* metadata (from --tokenizer or the model's own folder; none only on request, since a
 * GGUF without one cannot chat). The checkpoint is read through the normal loader (either layout),
 * and the output is streamed one row at a time into a staging folder beside OUT.gguf, moved into
 * place when complete (cli_output.h), so an existing file is never truncated or removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_output.h"
#include "cmd/commands.h"
#include "cpu/kernels.h"
#include "format/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer_export.h"
#include "tokenizer/tokenizer_load.h"

typedef struct out {
    gptoss_gguf_writer w;
    char err[512];
    gptoss_status st;
    float *row;
    uint8_t *qrow;
    int progress;                   /* cli_progress_wanted */
    uint64_t done, total, reported; /* tensor bytes */
} out;

static void put(out *o, const void *p, size_t n) {
    if (o->st == GPTOSS_OK) o->st = gptoss_gguf_w_data(&o->w, p, n, o->err, sizeof o->err);
    o->done += n;
    if (o->progress && o->st == GPTOSS_OK && (o->done - o->reported >= ((uint64_t)256 << 20) || o->done == o->total)) {
        cli_progress((void *)"convert", o->done, o->total);
        o->reported = o->done;
    }
}

/* A dense matrix in the chosen type, one row at a time. */
static void put_mat(out *o, const gptoss_mat *m, uint32_t type) {
    for (uint64_t r = 0; r < m->rows && o->st == GPTOSS_OK; r++) {
        gptoss_to_f32(o->row, m->data, m->dtype, r * m->cols, (size_t)m->cols);
        if (type == GGML_TYPE_F32) put(o, o->row, m->cols * 4);
        else if (type == GGML_TYPE_F16) {
            uint16_t *h = (uint16_t *)o->qrow;
            for (uint64_t c = 0; c < m->cols; c++) h[c] = gptoss_f32_to_f16(o->row[c]);
            put(o, h, m->cols * 2);
        } else if (type == GGML_TYPE_BF16) {
            uint16_t *h = (uint16_t *)o->qrow;
            for (uint64_t c = 0; c < m->cols; c++) h[c] = gptoss_f32_to_bf16(o->row[c]);
            put(o, h, m->cols * 2);
        } else {
            gptoss_quantize_row_q8_0(o->qrow, o->row, (size_t)m->cols);
            put(o, o->qrow, m->cols / 32 * GGUF_Q8_0_BLOCK_BYTES);
        }
    }
}

/* Experts [E][rows][cols] from the HF layout; step 2 with first 0/1 takes the gate/up rows. */
static void put_experts(out *o, const gptoss_mxfp4 *x, uint64_t first, uint64_t step) {
    const uint64_t nb = x->cols / 32;
    for (uint64_t e = 0; e < x->n_experts; e++)
        for (uint64_t r = first; r < x->rows && o->st == GPTOSS_OK; r += step) {
            const uint8_t *blk = x->blocks + (e * x->rows + r) * nb * 16, *sc = x->scales + (e * x->rows + r) * nb;
            for (uint64_t b = 0; b < nb; b++) {
                o->qrow[b * 17] = sc[b];
                gptoss_mxfp4_hf_to_ggml(o->qrow + b * 17 + 1, blk + b * 16);
            }
            put(o, o->qrow, nb * 17);
        }
}

/* Column `first` (every `step`-th) of an [rows, cols] matrix, as F32. */
static void put_bias(out *o, const gptoss_mat *m, uint64_t first, uint64_t step) {
    for (uint64_t r = 0; r < m->rows && o->st == GPTOSS_OK; r++) {
        gptoss_to_f32(o->row, m->data, m->dtype, r * m->cols, (size_t)m->cols);
        uint64_t n = 0;
        for (uint64_t c = first; c < m->cols; c += step) o->row[n++] = o->row[c];
        put(o, o->row, n * 4);
    }
}

static void put_vec(out *o, const float *v, uint64_t n) { put(o, v, n * 4); }

static int convert(const char *src, const char *dst, const char *shown, const char *dense, const char *tok_path,
                   int find_tokenizer);

/* --dense NAME as a GGML type; 0 (with the error printed) for any other name. */
static int dense_type(const char *dense, uint32_t *type) {
    if (!strcmp(dense, "q8_0")) *type = GGML_TYPE_Q8_0;
    else if (!strcmp(dense, "bf16")) *type = GGML_TYPE_BF16;
    else if (!strcmp(dense, "f32")) *type = GGML_TYPE_F32;
    else {
        cli_error("convert: --dense %s: expected q8_0, bf16 or f32", dense);
        return 0;
    }
    return 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: gptoss convert MODEL_DIR --to gguf OUT.gguf [--dense q8_0|bf16|f32] [--tokenizer FILE | --no-tokenizer]\n"
               "               [--force]\n"
               "  Writes the model as one GGUF file (ggml-org's gpt-oss layout), its tokenizer in the metadata:\n"
               "  --tokenizer FILE (tokenizer.json or o200k_base.tiktoken), else the one beside the model\n"
               "  (MODEL_DIR/tokenizer.json, ../tokenizer.json or o200k_base.tiktoken); --no-tokenizer writes\n"
               "  the file without one. --dense: the attention, router and output matrices' type (default bf16).\n"
               "  OUT.gguf must not exist (--force replaces it); the file is built in a staging folder beside it\n"
               "  (.NAME.tmp-XXXXXX) and moved into place when complete.\n");
}

int convert_to_gguf(const char *src, const char *dst, const char *shown, const char *dense, const char *tok_path,
                    int find_tokenizer) {
    return convert(src, dst, shown, dense, tok_path, find_tokenizer);
}

int cmd_convert(int argc, char **argv) {
    const char *src = NULL, *extra = NULL, *dst = NULL, *to = NULL, *dense = "bf16", *tok_path = NULL;
    int no_tokenizer = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--no-tokenizer")) {
            no_tokenizer = 1;
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--to")) {
            if (!(to = cli_next(argc, argv, &i))) return 2;
            if (strcmp(to, "gguf") != 0) {
                cli_error("convert: --to %s: only gguf is supported", to);
                return 2;
            }
            if (i + 1 >= argc) {
                cli_error("convert: --to gguf needs an output file");
                return 2;
            }
            dst = argv[++i];
        } else if (!strcmp(argv[i], "--dense")) {
            if (!(dense = cli_next(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--tokenizer")) {
            if (!(tok_path = cli_next(argc, argv, &i))) return 2;
        } else if (argv[i][0] == '-') {
            cli_error("convert: unknown option %s", argv[i]);
            return 2;
        } else if (src && extra) {
            cli_error("convert: unexpected argument '%s' (see gptoss convert --help)", argv[i]);
            return 2;
        } else {
            *(src ? &extra : &src) = argv[i];
        }
    }
    if (!src) {
        cli_error("convert: no MODEL_DIR given (usage: gptoss convert MODEL_DIR --to gguf OUT.gguf)");
        return 2;
    }
    if (extra && !dst) {
        cli_error("convert: --to gguf is missing before the output file: gptoss convert %s --to gguf %s", src, extra);
        return 2;
    }
    if (extra) {
        cli_error("convert: unexpected argument '%s': the output file is the one after --to gguf", extra);
        return 2;
    }
    if (!dst) {
        cli_error("convert: no output: --to gguf OUT.gguf is required (gptoss convert %s --to gguf OUT.gguf)", src);
        return 2;
    }
    if (no_tokenizer && tok_path) {
        cli_error("convert: --tokenizer and --no-tokenizer contradict each other");
        return 2;
    }
    uint32_t type;
    if (!dense_type(dense, &type)) return 2; /* a usage error first, before the destination is looked at */
    if (!(src = cli_model_arg(src))) return 1;
    cli_stage stage;
    if (cli_stage_open(&stage, "convert", dst, 0, force)) return 1;
    size_t n = strlen(stage.dir) + sizeof "/model.gguf";
    char *staged = malloc(n);
    int rc = 1;
    if (!staged) cli_error("convert: out of memory");
    else {
        snprintf(staged, n, "%s/model.gguf", stage.dir);
        rc = convert(src, staged, stage.dest, dense, tok_path, !no_tokenizer);
        if (rc == 0 && cli_stage_commit(&stage, "model.gguf")) rc = 1;
    }
    free(staged);
    cli_stage_close(&stage);
    if (rc == 0 && no_tokenizer)
        fprintf(stderr, "gptoss: warning: %s has no tokenizer (--no-tokenizer): chat, run, serve and tokenize need "
                        "--tokenizer FILE with it\n",
                dst);
    return rc;
}

static int convert(const char *src, const char *dst, const char *shown, const char *dense, const char *tok_path,
                   int find_tokenizer) {
    uint32_t dtype;
    if (!dense_type(dense, &dtype)) return 2;
    /* the checkpoint's weights as stored: no load-time conversion */
    const gptoss_model_options keep = {.keep_dense = 1};
    gptoss_model *m = cli_load_model(src, &keep);
    if (!m) return 1;
    if (m->gguf) {
        cli_error("convert: %s is already a GGUF file", src);
        gptoss_model_free(m);
        return 2;
    }
    const gptoss_model_config *c = &m->config;
    for (uint32_t l = 0; l < c->n_layers; l++)
        if (m->layers[l].sliding != (int)(l % 2 == 0)) {
            cli_error("convert: %s: layer %u %s, but GGUF's gpt-oss slides on even layers only", src, l,
                      m->layers[l].sliding ? "slides" : "does not slide");
            gptoss_model_free(m);
            return 1;
        }
    out o = {.st = GPTOSS_OK};
    gptoss_gguf_writer *w = &o.w;
    gptoss_gguf_writer_init(w);
    gptoss_gguf_w_str(w, "general.architecture", "gpt-oss");
    gptoss_gguf_w_str(w, "general.name", "gpt-oss");
    gptoss_gguf_w_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    gptoss_gguf_w_u32(w, "general.quantization_version", 2);
    gptoss_gguf_w_u32(w, "gpt-oss.block_count", c->n_layers);
    gptoss_gguf_w_u32(w, "gpt-oss.context_length", c->max_context);
    gptoss_gguf_w_u32(w, "gpt-oss.embedding_length", c->hidden_size);
    gptoss_gguf_w_u32(w, "gpt-oss.feed_forward_length", c->intermediate_size);
    gptoss_gguf_w_u32(w, "gpt-oss.expert_feed_forward_length", c->intermediate_size);
    gptoss_gguf_w_u32(w, "gpt-oss.attention.head_count", c->n_heads);
    gptoss_gguf_w_u32(w, "gpt-oss.attention.head_count_kv", c->n_kv_heads);
    gptoss_gguf_w_u32(w, "gpt-oss.attention.key_length", c->head_dim);
    gptoss_gguf_w_u32(w, "gpt-oss.attention.value_length", c->head_dim);
    gptoss_gguf_w_f32(w, "gpt-oss.attention.layer_norm_rms_epsilon", c->rms_norm_eps);
    gptoss_gguf_w_u32(w, "gpt-oss.attention.sliding_window", c->sliding_window);
    gptoss_gguf_w_u32(w, "gpt-oss.expert_count", c->n_experts);
    gptoss_gguf_w_u32(w, "gpt-oss.expert_used_count", c->n_experts_per_token);
    gptoss_gguf_w_f32(w, "gpt-oss.rope.freq_base", c->rope_theta);
    if (c->rope_scaling_factor > 1.0f) {
        gptoss_gguf_w_str(w, "gpt-oss.rope.scaling.type", "yarn");
        gptoss_gguf_w_f32(w, "gpt-oss.rope.scaling.factor", c->rope_scaling_factor);
        gptoss_gguf_w_u32(w, "gpt-oss.rope.scaling.original_context_length", c->initial_context_length);
        gptoss_gguf_w_f32(w, "gpt-oss.rope.scaling.yarn_beta_fast", c->rope_ntk_beta);
        gptoss_gguf_w_f32(w, "gpt-oss.rope.scaling.yarn_beta_slow", c->rope_ntk_alpha);
    }
    if (c->swiglu_limit != 7.0f) gptoss_gguf_w_f32(w, "gpt-oss.swiglu_limit", c->swiglu_limit);
    int rc = 1;
    gptoss_buf found = {0};
    if (!tok_path && find_tokenizer) {
        /* beside the weights: the folder the loader settled on (a Hugging Face cache folder's snapshot,
         * original/ whose parent holds tokenizer.json) */
        const char *dir = gptoss_model_dir(m);
        if (gptoss_tokenizer_resolve_path(dir, &found, NULL, 0) != GPTOSS_OK) {
            cli_error("convert: no tokenizer beside the model (looked for tokenizer.json, ../tokenizer.json and "
                      "o200k_base.tiktoken in %s): pass --tokenizer FILE, or --no-tokenizer to write the GGUF "
                      "without one",
                      dir);
            goto done;
        }
        tok_path = found.data;
    }
    if (tok_path && gptoss_gguf_write_tokenizer(w, tok_path, src, c->vocab_size, o.err, sizeof o.err) != GPTOSS_OK) {
        cli_error("convert: %s", o.err);
        goto done;
    }

    uint64_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, V = c->vocab_size;
    uint64_t QW = (uint64_t)c->n_heads * c->head_dim, KW = (uint64_t)c->n_kv_heads * c->head_dim;
    char name[128];
    /* llama.cpp never quantizes the router (llama-quant.cpp: "do not quantize expert gating
     * tensors", ffn_gate_inp.weight): with q8_0 it stays F32, as in the published files. */
    const uint32_t router_type = dtype == GGML_TYPE_Q8_0 ? GGML_TYPE_F32 : dtype;
    /* The token embedding is a row lookup, not a matmul: Q8_0 would save file size only, and its
     * error enters the residual stream of every token unfiltered (on the goldens it alone flips a
     * greedy token). With q8_0 it keeps the checkpoint's own float type. */
    const uint32_t embd_type = dtype != GGML_TYPE_Q8_0                      ? dtype
                               : m->embedding.dtype == GPTOSS_DTYPE_BF16 ? GGML_TYPE_BF16
                               : m->embedding.dtype == GPTOSS_DTYPE_F16  ? GGML_TYPE_F16
                                                                         : GGML_TYPE_F32;
#define T(type, nd, ...) gptoss_gguf_w_tensor(w, name, type, nd, (const uint64_t[]){__VA_ARGS__})
#define N(...) snprintf(name, sizeof name, __VA_ARGS__)
    /* declaration order = data order: ggml-org's files put token_embd first and output last */
    N("token_embd.weight"), T(embd_type, 2, V, D);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        N("blk.%u.attn_norm.weight", l), T(GGML_TYPE_F32, 1, D);
        N("blk.%u.attn_q.weight", l), T(dtype, 2, QW, D);
        N("blk.%u.attn_q.bias", l), T(GGML_TYPE_F32, 1, QW);
        N("blk.%u.attn_k.weight", l), T(dtype, 2, KW, D);
        N("blk.%u.attn_k.bias", l), T(GGML_TYPE_F32, 1, KW);
        N("blk.%u.attn_v.weight", l), T(dtype, 2, KW, D);
        N("blk.%u.attn_v.bias", l), T(GGML_TYPE_F32, 1, KW);
        N("blk.%u.attn_output.weight", l), T(dtype, 2, D, QW);
        N("blk.%u.attn_output.bias", l), T(GGML_TYPE_F32, 1, D);
        N("blk.%u.attn_sinks.weight", l), T(GGML_TYPE_F32, 1, (uint64_t)c->n_heads);
        N("blk.%u.post_attention_norm.weight", l), T(GGML_TYPE_F32, 1, D);
        N("blk.%u.ffn_gate_inp.weight", l), T(router_type, 2, E, D);
        N("blk.%u.ffn_gate_inp.bias", l), T(GGML_TYPE_F32, 1, E);
        N("blk.%u.ffn_gate_exps.weight", l), T(GGML_TYPE_MXFP4, 3, E, I, D);
        N("blk.%u.ffn_gate_exps.bias", l), T(GGML_TYPE_F32, 2, E, I);
        N("blk.%u.ffn_up_exps.weight", l), T(GGML_TYPE_MXFP4, 3, E, I, D);
        N("blk.%u.ffn_up_exps.bias", l), T(GGML_TYPE_F32, 2, E, I);
        N("blk.%u.ffn_down_exps.weight", l), T(GGML_TYPE_MXFP4, 3, E, D, I);
        N("blk.%u.ffn_down_exps.bias", l), T(GGML_TYPE_F32, 2, E, D);
    }
    N("output_norm.weight"), T(GGML_TYPE_F32, 1, D);
    N("output.weight"), T(dtype, 2, V, D);
#undef T
#undef N
    uint64_t widest = D > QW ? D : QW;
    if (I > widest) widest = I;
    if (2 * I > widest) widest = 2 * I;
    o.row = malloc(widest * sizeof(float));
    o.qrow = malloc(widest * 4 + 64);
    if (!o.row || !o.qrow) {
        cli_error("convert: out of memory");
        goto done;
    }
    for (size_t i = 0; i < w->n_tensors; i++) o.total += w->tensors[i].n_bytes;
    o.progress = cli_progress_wanted(o.total);
    o.st = gptoss_gguf_w_begin(w, dst, o.err, sizeof o.err);
    put_mat(&o, &m->embedding, embd_type);
    for (uint32_t l = 0; l < c->n_layers && o.st == GPTOSS_OK; l++) {
        const gptoss_layer *L = &m->layers[l];
        put_vec(&o, L->attn_norm, D);
        put_mat(&o, &L->wq, dtype);
        put_vec(&o, L->q_bias, QW);
        put_mat(&o, &L->wk, dtype);
        put_vec(&o, L->k_bias, KW);
        put_mat(&o, &L->wv, dtype);
        put_vec(&o, L->v_bias, KW);
        put_mat(&o, &L->wo, dtype);
        put_vec(&o, L->o_bias, D);
        put_vec(&o, L->sinks, c->n_heads);
        put_vec(&o, L->mlp_norm, D);
        put_mat(&o, &L->router, router_type);
        put_vec(&o, L->router_bias, E);
        put_experts(&o, &L->mlp1, 0, 2);
        put_bias(&o, &L->mlp1_bias, 0, 2);
        put_experts(&o, &L->mlp1, 1, 2);
        put_bias(&o, &L->mlp1_bias, 1, 2);
        put_experts(&o, &L->mlp2, 0, 1);
        put_bias(&o, &L->mlp2_bias, 0, 1);
    }
    put_vec(&o, m->final_norm, D);
    put_mat(&o, &m->unembedding, dtype);
    if (o.st == GPTOSS_OK) o.st = gptoss_gguf_w_close(w, o.err, sizeof o.err);
    if (o.st != GPTOSS_OK) {
        cli_error("convert: %s", o.err);
        goto done; /* the partial file is in the caller's staging folder, which goes */
    }
    fprintf(stderr, "gptoss: wrote %s (%zu tensors, dense %s)\n", shown, w->n_tensors, dense);
    rc = 0;
done:
    gptoss_buf_free(&found);
    gptoss_gguf_writer_free(w);
    free(o.row);
    free(o.qrow);
    gptoss_model_free(m);
    return rc;
}
