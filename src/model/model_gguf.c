/* model_gguf.c: loading a gpt-oss GGUF file (architecture "gpt-oss", the layout of ggml-org's
 * conversion, llama.cpp convert_hf_to_gguf.py GptOssModel): configuration from the "gpt-oss.*"
 * metadata, validated by the same code as config.json; tensors bound in place from the mapping:
 * dense weights F32/F16/BF16/Q8_0, experts MXFP4 in ggml's block layout with gate and up as two
 * tensors (the kernel interleaves their rows), norms/biases/sinks/router bias widened to f32 once.
 * Shapes in the messages are ggml's order (innermost first), as gguf tools print them. */
#include <stdio.h>
#include <stdlib.h>

#include "format/gguf.h"
#include "format/json.h"
#include "model/model.h"

struct gptoss_gguf_model {
    gptoss_gguf g;   /* parsed file; the mapping itself is owned by model->st.files[0] */
    float *small;    /* widened vectors + interleaved mlp1 biases */
};

void gptoss_gguf_model_free(struct gptoss_gguf_model *gm) {
    if (!gm) return;
    gm->g.map = NULL; /* owned by the model's st set */
    gptoss_gguf_free(&gm->g);
    free(gm->small);
    free(gm);
}

typedef struct binder {
    gptoss_model *m;
    const gptoss_gguf *g;
    char *err;
    size_t err_size;
    gptoss_status st;
    float *small;     /* NULL in the validating pass */
    uint64_t cursor;
} binder;

static void shape_str(char *buf, size_t n, const uint64_t *ne, uint32_t nd) {
    buf[0] = 0;
    for (uint32_t i = 0; i < nd; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%llu", i ? ", " : "", (unsigned long long)ne[i]);
}

enum { WANT_DENSE, WANT_SMALL, WANT_MXFP4 };

/* ne in ggml order */
static const gptoss_gguf_tensor *need(binder *b, const char *name, int want, uint32_t nd, const uint64_t *ne) {
    if (b->st != GPTOSS_OK) return NULL;
    const gptoss_gguf_tensor *t = gptoss_gguf_find_tensor(b->g, name);
    if (!t) {
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size, "%s: tensor '%s' is missing from the file",
                            b->g->path, name);
        return NULL;
    }
    int ok = 0;
    const char *expect = "";
    switch (want) {
    case WANT_DENSE:
        ok = t->type == GGML_TYPE_F32 || t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_BF16 ||
             t->type == GGML_TYPE_Q8_0;
        expect = "F32, F16, BF16 or Q8_0";
        break;
    case WANT_SMALL:
        ok = t->type == GGML_TYPE_F32 || t->type == GGML_TYPE_F16 || t->type == GGML_TYPE_BF16;
        expect = "F32, F16 or BF16";
        break;
    default:
        ok = t->type == GGML_TYPE_MXFP4;
        expect = "MXFP4";
        break;
    }
    if (!ok) {
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size, "%s: tensor '%s' has type %s, expected %s",
                            b->g->path, name, gptoss_ggml_type_name(t->type), expect);
        return NULL;
    }
    int same = t->n_dims == nd;
    for (uint32_t i = 0; same && i < nd; i++) same = t->ne[i] == ne[i];
    if (!same) {
        char have[160], wantb[160];
        shape_str(have, sizeof have, t->ne, t->n_dims);
        shape_str(wantb, sizeof wantb, ne, nd);
        b->st = gptoss_fail(GPTOSS_ERR_FORMAT, b->err, b->err_size,
                            "%s: tensor '%s' has shape [%s] but the metadata implies [%s] (ggml order)", b->g->path,
                            name, have, wantb);
        return NULL;
    }
    return t;
}

static gptoss_dtype dtype_of(uint32_t type) {
    switch (type) {
    case GGML_TYPE_F32: return GPTOSS_DTYPE_F32;
    case GGML_TYPE_F16: return GPTOSS_DTYPE_F16;
    case GGML_TYPE_BF16: return GPTOSS_DTYPE_BF16;
    case GGML_TYPE_Q8_0: return GPTOSS_DTYPE_Q8_0;
    case GGML_TYPE_MXFP4:
    case GGML_TYPE_I8: return GPTOSS_DTYPE_U8;
    }
    return GPTOSS_DTYPE_OTHER;
}

static gptoss_mat bind_mat(binder *b, const char *name, uint64_t rows, uint64_t cols) {
    gptoss_mat m = {0};
    uint64_t ne[2] = {cols, rows};
    const gptoss_gguf_tensor *t = need(b, name, WANT_DENSE, 2, ne);
    if (t) {
        m.data = t->data;
        m.dtype = dtype_of(t->type);
        m.rows = rows;
        m.cols = cols;
    }
    return m;
}

static float *take_vec(binder *b, const char *name, uint64_t n) {
    float *dst = b->small ? b->small + b->cursor : NULL;
    b->cursor += n;
    const gptoss_gguf_tensor *t = need(b, name, WANT_SMALL, 1, &n);
    if (t && dst) gptoss_to_f32(dst, t->data, dtype_of(t->type), 0, (size_t)n);
    return dst;
}

static gptoss_mxfp4 bind_experts(binder *b, const char *name, const char *name_odd, uint64_t E, uint64_t rows,
                                 uint64_t cols) {
    gptoss_mxfp4 x = {0};
    uint64_t per = name_odd ? rows / 2 : rows;
    uint64_t ne[3] = {cols, per, E};
    const gptoss_gguf_tensor *t = need(b, name, WANT_MXFP4, 3, ne);
    const gptoss_gguf_tensor *t2 = name_odd ? need(b, name_odd, WANT_MXFP4, 3, ne) : NULL;
    if (t && (!name_odd || t2)) {
        x.blocks = t->data;
        x.blocks_odd = t2 ? t2->data : NULL;
        x.n_experts = E;
        x.rows = rows;
        x.cols = cols;
        x.layout = GPTOSS_MXFP4_GGML;
    }
    return x;
}

static void bind_all(binder *b) {
    gptoss_model *m = b->m;
    const gptoss_model_config *c = &m->config;
    uint64_t D = c->hidden_size, I = c->intermediate_size, E = c->n_experts, V = c->vocab_size;
    uint64_t QW = (uint64_t)c->n_heads * c->head_dim, KW = (uint64_t)c->n_kv_heads * c->head_dim;
    char name[256], n2[256];
    b->cursor = 0;
#define NAME(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
    m->embedding = bind_mat(b, "token_embd.weight", V, D);
    m->unembedding = bind_mat(b, "output.weight", V, D);
    m->final_norm = take_vec(b, "output_norm.weight", D);
    for (uint32_t l = 0; l < c->n_layers && b->st == GPTOSS_OK; l++) {
        gptoss_layer *L = &m->layers[l];
        L->sliding = (l % 2 == 0); /* llama.cpp: gpt-oss slides on even layers, like the reference */
        L->attn_norm = take_vec(b, NAME("blk.%u.attn_norm.weight", l), D);
        L->mlp_norm = take_vec(b, NAME("blk.%u.post_attention_norm.weight", l), D);
        L->sinks = take_vec(b, NAME("blk.%u.attn_sinks.weight", l), c->n_heads);
        L->wq = bind_mat(b, NAME("blk.%u.attn_q.weight", l), QW, D);
        L->q_bias = take_vec(b, NAME("blk.%u.attn_q.bias", l), QW);
        L->wk = bind_mat(b, NAME("blk.%u.attn_k.weight", l), KW, D);
        L->k_bias = take_vec(b, NAME("blk.%u.attn_k.bias", l), KW);
        L->wv = bind_mat(b, NAME("blk.%u.attn_v.weight", l), KW, D);
        L->v_bias = take_vec(b, NAME("blk.%u.attn_v.bias", l), KW);
        L->wo = bind_mat(b, NAME("blk.%u.attn_output.weight", l), D, QW);
        L->o_bias = take_vec(b, NAME("blk.%u.attn_output.bias", l), D);
        L->router = bind_mat(b, NAME("blk.%u.ffn_gate_inp.weight", l), E, D);
        L->router_bias = take_vec(b, NAME("blk.%u.ffn_gate_inp.bias", l), E);
        snprintf(n2, sizeof n2, "blk.%u.ffn_up_exps.weight", l);
        L->mlp1 = bind_experts(b, NAME("blk.%u.ffn_gate_exps.weight", l), n2, E, 2 * I, D);
        L->mlp2 = bind_experts(b, NAME("blk.%u.ffn_down_exps.weight", l), NULL, E, D, I);
        /* mlp1 bias: gate and up [E][I] each, widened and interleaved into [E][2I] */
        uint64_t ne[2] = {I, E};
        const gptoss_gguf_tensor *gb = need(b, NAME("blk.%u.ffn_gate_exps.bias", l), WANT_SMALL, 2, ne);
        const gptoss_gguf_tensor *ub = need(b, NAME("blk.%u.ffn_up_exps.bias", l), WANT_SMALL, 2, ne);
        float *mb = b->small ? b->small + b->cursor : NULL;
        b->cursor += 2 * E * I;
        if (gb && ub && mb) {
            float *up = malloc((size_t)(E * I) * sizeof(float));
            if (!up) {
                b->st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, b->err, b->err_size, "out of memory");
                return;
            }
            gptoss_to_f32(up, ub->data, dtype_of(ub->type), 0, (size_t)(E * I));
            gptoss_to_f32(mb, gb->data, dtype_of(gb->type), 0, (size_t)(E * I));
            /* back to front: gate k moves to 2k (>= k, so unread gates are never overwritten) */
            for (uint64_t k = E * I; k-- > 0;) {
                mb[2 * k] = mb[k];
                mb[2 * k + 1] = up[k];
            }
            free(up);
        }
        L->mlp1_bias = (gptoss_mat){mb, GPTOSS_DTYPE_F32, E, 2 * I};
        uint64_t ne2[2] = {D, E};
        const gptoss_gguf_tensor *db = need(b, NAME("blk.%u.ffn_down_exps.bias", l), WANT_SMALL, 2, ne2);
        if (db) L->mlp2_bias = (gptoss_mat){db->data, dtype_of(db->type), E, D};
    }
#undef NAME
}

/* ---- configuration from metadata ------------------------------------------------------------ */

static gptoss_status meta_u64(const gptoss_gguf *g, const char *key, int required, uint64_t *out, char *err,
                              size_t err_size) {
    const gptoss_gguf_kv *kv = gptoss_gguf_find(g, key);
    if (!kv) {
        if (required) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key '%s' is missing", g->path, key);
        return GPTOSS_OK;
    }
    if (!gptoss_gguf_get_u64(g, key, out))
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key '%s' has type %s, expected an unsigned integer",
                           g->path, key, gptoss_gguf_value_type_name(kv->type));
    return GPTOSS_OK;
}

static gptoss_status meta_f64(const gptoss_gguf *g, const char *key, int required, double *out, char *err,
                              size_t err_size) {
    const gptoss_gguf_kv *kv = gptoss_gguf_find(g, key);
    if (!kv) {
        if (required) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key '%s' is missing", g->path, key);
        return GPTOSS_OK;
    }
    if (!gptoss_gguf_get_f64(g, key, out))
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key '%s' has type %s, expected a number", g->path,
                           key, gptoss_gguf_value_type_name(kv->type));
    return GPTOSS_OK;
}

/* Reads the gpt-oss.* keys into the equivalent config.json object and validates it with the
 * config.json parser, so both formats obey the same rules. */
static gptoss_status gguf_config(const gptoss_gguf *g, gptoss_model_config *cfg, char *err, size_t err_size) {
    const char *arch;
    uint64_t alen;
    if (!gptoss_gguf_get_str(g, "general.architecture", &arch, &alen))
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key 'general.architecture' is missing or not a string",
                           g->path);
    if (alen != 7 || memcmp(arch, "gpt-oss", 7) != 0)
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: architecture '%.*s' is not gpt-oss", g->path,
                           (int)(alen > 64 ? 64 : alen), arch);
    uint64_t n_layers = 0, D = 0, I = 0, H = 0, Hkv = 0, kl = 0, vl = 0, E = 0, K = 0, win = 0, octx = 0, ctx = 0,
             eff = 0;
    double theta = 150000.0, factor = 1.0, eps = 1e-5, bfast = 32.0, bslow = 1.0, limit = 7.0;
    GPTOSS_TRY(meta_u64(g, "gpt-oss.block_count", 1, &n_layers, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.embedding_length", 1, &D, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.feed_forward_length", 0, &I, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.expert_feed_forward_length", 0, &eff, err, err_size));
    if (eff) I = eff;
    if (!I) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key 'gpt-oss.expert_feed_forward_length' is missing", g->path);
    GPTOSS_TRY(meta_u64(g, "gpt-oss.attention.head_count", 1, &H, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.attention.head_count_kv", 1, &Hkv, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.attention.key_length", 1, &kl, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.attention.value_length", 0, &vl, err, err_size));
    if (vl && vl != kl)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: attention key_length (%llu) and value_length (%llu) differ",
                           g->path, (unsigned long long)kl, (unsigned long long)vl);
    GPTOSS_TRY(meta_u64(g, "gpt-oss.expert_count", 1, &E, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.expert_used_count", 1, &K, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.attention.sliding_window", 1, &win, err, err_size));
    GPTOSS_TRY(meta_u64(g, "gpt-oss.context_length", 0, &ctx, err, err_size));
    GPTOSS_TRY(meta_f64(g, "gpt-oss.rope.freq_base", 0, &theta, err, err_size));
    GPTOSS_TRY(meta_f64(g, "gpt-oss.attention.layer_norm_rms_epsilon", 1, &eps, err, err_size));
    const char *rt;
    uint64_t rtl;
    if (gptoss_gguf_get_str(g, "gpt-oss.rope.scaling.type", &rt, &rtl)) {
        if (!(rtl == 4 && !memcmp(rt, "yarn", 4)) && !(rtl == 4 && !memcmp(rt, "none", 4)))
            return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: rope scaling type '%.*s' is not yarn", g->path,
                               (int)(rtl > 32 ? 32 : rtl), rt);
        if (rtl == 4 && !memcmp(rt, "yarn", 4)) {
            GPTOSS_TRY(meta_f64(g, "gpt-oss.rope.scaling.factor", 1, &factor, err, err_size));
            GPTOSS_TRY(meta_u64(g, "gpt-oss.rope.scaling.original_context_length", 1, &octx, err, err_size));
        }
    } else if (gptoss_gguf_find(g, "gpt-oss.rope.scaling.type")) {
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata key 'gpt-oss.rope.scaling.type' is not a string",
                           g->path);
    }
    GPTOSS_TRY(meta_f64(g, "gpt-oss.rope.scaling.yarn_beta_fast", 0, &bfast, err, err_size));
    GPTOSS_TRY(meta_f64(g, "gpt-oss.rope.scaling.yarn_beta_slow", 0, &bslow, err, err_size));
    GPTOSS_TRY(meta_f64(g, "gpt-oss.swiglu_limit", 0, &limit, err, err_size));
    const gptoss_gguf_tensor *emb = gptoss_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: tensor 'token_embd.weight' is missing or not 2-D", g->path);
    uint64_t V = emb->ne[1];

    gptoss_buf j = {0};
    gptoss_buf_printf(&j,
                      "{\"model_type\":\"gpt_oss\",\"num_hidden_layers\":%llu,\"hidden_size\":%llu,"
                      "\"intermediate_size\":%llu,\"num_attention_heads\":%llu,\"num_key_value_heads\":%llu,"
                      "\"head_dim\":%llu,\"num_local_experts\":%llu,\"num_experts_per_tok\":%llu,\"vocab_size\":%llu,"
                      "\"sliding_window\":%llu,\"rope_theta\":%.9g,\"rms_norm_eps\":%.9g,\"swiglu_limit\":%.9g",
                      (unsigned long long)n_layers, (unsigned long long)D, (unsigned long long)I, (unsigned long long)H,
                      (unsigned long long)Hkv, (unsigned long long)kl, (unsigned long long)E, (unsigned long long)K,
                      (unsigned long long)V, (unsigned long long)win, theta, eps, limit);
    if (octx)
        gptoss_buf_printf(&j,
                          ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":%.9g,\"beta_fast\":%.9g,"
                          "\"beta_slow\":%.9g,\"original_max_position_embeddings\":%llu}",
                          factor, bfast, bslow, (unsigned long long)octx);
    if (ctx) gptoss_buf_printf(&j, ",\"max_position_embeddings\":%llu", (unsigned long long)ctx);
    gptoss_buf_puts(&j, "}");
    const char *text = gptoss_buf_cstr(&j);
    if (!text) {
        gptoss_buf_free(&j);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    char jerr[256];
    json_doc *doc = json_parse(text, j.len, jerr, sizeof jerr);
    gptoss_status st;
    if (!doc) st = gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: metadata: %s", g->path, jerr);
    else st = gptoss_config_parse(json_root(doc), g->path, cfg, NULL, 0, err, err_size);
    json_free(doc);
    gptoss_buf_free(&j);
    return st;
}

/* The st set gives info/stats a uniform view: the file and its tensors (shapes row-major). */
static gptoss_status fill_st(gptoss_model *m, const gptoss_gguf *g, char *err, size_t err_size) {
    gptoss_st_set *s = &m->st;
    s->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *s->tensors);
    s->names = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *s->names);
    if (!s->tensors || !s->names) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    s->cap_tensors = g->n_tensors;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const gptoss_gguf_tensor *t = &g->tensors[i];
        gptoss_st_tensor *o = &s->tensors[i];
        s->names[i] = strdup(t->name);
        if (!s->names[i]) return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        s->n_tensors++;
        o->name = s->names[i];
        o->dtype = dtype_of(t->type);
        o->dtype_name = gptoss_ggml_type_name(t->type);
        o->n_dims = t->n_dims;
        for (uint32_t d = 0; d < t->n_dims; d++) o->shape[d] = t->ne[t->n_dims - 1 - d];
        o->n_elements = t->n_elements;
        o->n_bytes = t->n_bytes;
        o->data = t->data;
        o->file_index = 0;
    }
    return gptoss_st_set_finish(s, err, err_size);
}

gptoss_status gptoss_model_load_gguf(const char *path, gptoss_model **out, char *err, size_t err_size) {
    *out = NULL;
    gptoss_model *m = calloc(1, sizeof *m);
    struct gptoss_gguf_model *gm = calloc(1, sizeof *gm);
    if (!m || !gm) {
        free(m);
        free(gm);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    m->gguf = gm;
    gptoss_status st = gptoss_gguf_open(&gm->g, path, err, err_size);
    if (st != GPTOSS_OK) goto fail;
    /* hand the mapping to the st set so it is unmapped once, with the model */
    m->st.files = calloc(1, sizeof *m->st.files);
    m->dir = strdup(path);
    if (!m->st.files || !m->dir) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    m->st.files[0].path = strdup(path);
    m->st.files[0].map = gm->g.map;
    m->st.files[0].size = gm->g.size;
    m->st.n_files = 1;
    gm->g.map = NULL;
    if (!m->st.files[0].path) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    st = gguf_config(&gm->g, &m->config, err, err_size);
    if (st == GPTOSS_OK) st = fill_st(m, &gm->g, err, err_size);
    if (st != GPTOSS_OK) goto fail;
    m->layers = calloc(m->config.n_layers, sizeof *m->layers);
    m->rope_inv_freq = malloc((m->config.head_dim / 2) * sizeof(float));
    if (!m->layers || !m->rope_inv_freq) {
        st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        goto fail;
    }
    /* pass 1 validates every tensor, pass 2 widens into one allocation */
    binder b = {m, &gm->g, err, err_size, GPTOSS_OK, NULL, 0};
    bind_all(&b);
    if (b.st == GPTOSS_OK) {
        gm->small = malloc((b.cursor ? b.cursor : 1) * sizeof(float));
        if (!gm->small) b.st = gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
        else {
            b.small = gm->small;
            bind_all(&b);
        }
    }
    st = b.st;
    if (st != GPTOSS_OK) goto fail;
    gptoss_model_init_rope(m);
    *out = m;
    return GPTOSS_OK;
fail:
    gptoss_model_free(m);
    return st;
}
