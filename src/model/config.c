/* config.c: config.json in both release layouts (Hugging Face and original/), normalised to
 * gptoss_model_config and checked for consistency before any tensor is bound to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "format/json.h"
#include "model/model.h"

/* Bounds far beyond the real models (2880 hidden, 128 experts, 201088 vocab) that keep every
 * derived size small enough to compute without overflow. */
#define MAX_LAYERS 1024u
#define MAX_DIM 65536u
#define MAX_VOCAB (1u << 22)
#define MAX_EXPERTS 4096u
#define MAX_HEADS 1024u
#define MAX_CONTEXT (1u << 24)


static gptoss_status get_u32(const json_value *root, const char *path, const char *key, uint32_t *dst, int required,
                             uint32_t max, char *err, size_t err_size) {
    const json_value *v = json_get(root, key);
    if (!v || v->type == JSON_NULL) {
        if (required) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: missing \"%s\"", path, key);
        return GPTOSS_OK;
    }
    uint64_t u;
    /* A required size of 0 would divide by zero or build empty tensors; it is never valid. */
    uint64_t min = required ? 1 : 0;
    if (!json_get_uint(root, key, &u) || u < min || u > max)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: \"%s\" must be an integer between %llu and %u",
                           path, key, (unsigned long long)min, max);
    *dst = (uint32_t)u;
    return GPTOSS_OK;
}

static gptoss_status get_f32(const json_value *obj, const char *path, const char *key, float *dst, char *err,
                             size_t err_size) {
    const json_value *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) return GPTOSS_OK;
    double d;
    if (!json_get_number(obj, key, &d) || !isfinite(d) || fabs(d) > 1e30)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: \"%s\" must be a finite number", path, key);
    *dst = (float)d;
    return GPTOSS_OK;
}

gptoss_status gptoss_config_parse(const json_value *root, const char *path, gptoss_model_config *cfg,
                                  int *sliding_of_layer, uint32_t max_layers, char *err, size_t err_size) {
    memset(cfg, 0, sizeof *cfg);
    if (!root || root->type != JSON_OBJECT)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: not a JSON object", path);
    const char *model_type = json_get_string(root, "model_type");
    if (json_get(root, "model_type") && (!model_type || strcmp(model_type, "gpt_oss") != 0))
        return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: model_type is not \"gpt_oss\"", path);

    /* Defaults are those of the released models, for keys a minimal config may omit. */
    cfg->swiglu_limit = 7.0f;
    cfg->rope_theta = 150000.0f;
    cfg->rope_scaling_factor = 1.0f;
    cfg->rope_ntk_alpha = 1.0f;
    cfg->rope_ntk_beta = 32.0f;
    cfg->rms_norm_eps = 1e-5f;
    cfg->initial_context_length = 4096;

    GPTOSS_TRY(get_u32(root, path, "num_hidden_layers", &cfg->n_layers, 1, MAX_LAYERS, err, err_size));
    if (json_get(root, "num_local_experts"))
        GPTOSS_TRY(get_u32(root, path, "num_local_experts", &cfg->n_experts, 1, MAX_EXPERTS, err, err_size));
    else
        GPTOSS_TRY(get_u32(root, path, "num_experts", &cfg->n_experts, 1, MAX_EXPERTS, err, err_size));
    if (json_get(root, "num_experts_per_tok"))
        GPTOSS_TRY(get_u32(root, path, "num_experts_per_tok", &cfg->n_experts_per_token, 1, MAX_EXPERTS, err, err_size));
    else
        GPTOSS_TRY(get_u32(root, path, "experts_per_token", &cfg->n_experts_per_token, 1, MAX_EXPERTS, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "vocab_size", &cfg->vocab_size, 1, MAX_VOCAB, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "hidden_size", &cfg->hidden_size, 1, MAX_DIM, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "intermediate_size", &cfg->intermediate_size, 1, MAX_DIM, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "num_attention_heads", &cfg->n_heads, 1, MAX_HEADS, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "num_key_value_heads", &cfg->n_kv_heads, 1, MAX_HEADS, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "head_dim", &cfg->head_dim, 0, MAX_DIM, err, err_size));
    if (cfg->head_dim == 0 && cfg->n_heads) cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    GPTOSS_TRY(get_u32(root, path, "sliding_window", &cfg->sliding_window, 0, MAX_CONTEXT, err, err_size));
    GPTOSS_TRY(get_u32(root, path, "initial_context_length", &cfg->initial_context_length, 0, MAX_CONTEXT, err, err_size));
    GPTOSS_TRY(get_f32(root, path, "swiglu_limit", &cfg->swiglu_limit, err, err_size));
    GPTOSS_TRY(get_f32(root, path, "rope_theta", &cfg->rope_theta, err, err_size));
    GPTOSS_TRY(get_f32(root, path, "rms_norm_eps", &cfg->rms_norm_eps, err, err_size));
    /* original/ layout */
    GPTOSS_TRY(get_f32(root, path, "rope_scaling_factor", &cfg->rope_scaling_factor, err, err_size));
    GPTOSS_TRY(get_f32(root, path, "rope_ntk_alpha", &cfg->rope_ntk_alpha, err, err_size));
    GPTOSS_TRY(get_f32(root, path, "rope_ntk_beta", &cfg->rope_ntk_beta, err, err_size));
    /* Hugging Face layout */
    const json_value *rs = json_get(root, "rope_scaling");
    if (rs && rs->type == JSON_OBJECT) {
        const char *type = json_get_string(rs, "rope_type");
        if (!type) type = json_get_string(rs, "type");
        if (type && strcmp(type, "yarn") != 0)
            return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size, "%s: rope_scaling type \"%s\" is not yarn",
                               path, type);
        if (json_is_true(json_get(rs, "truncate")))
            return gptoss_fail(GPTOSS_ERR_UNSUPPORTED, err, err_size,
                               "%s: rope_scaling.truncate = true is not the gpt-oss YaRN variant", path);
        GPTOSS_TRY(get_f32(rs, path, "factor", &cfg->rope_scaling_factor, err, err_size));
        GPTOSS_TRY(get_f32(rs, path, "beta_fast", &cfg->rope_ntk_beta, err, err_size));
        GPTOSS_TRY(get_f32(rs, path, "beta_slow", &cfg->rope_ntk_alpha, err, err_size));
        GPTOSS_TRY(get_u32(rs, path, "original_max_position_embeddings", &cfg->initial_context_length, 0, MAX_CONTEXT, err,
                    err_size));
    } else if (rs && rs->type != JSON_NULL) {
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: rope_scaling must be an object", path);
    }

    const gptoss_model_config *c = cfg;
    if (c->n_experts_per_token > c->n_experts)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: experts per token (%u) exceeds the number of experts (%u)",
                           path, c->n_experts_per_token, c->n_experts);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: num_attention_heads (%u) must be a multiple of num_key_value_heads (%u)", path,
                           c->n_heads, c->n_kv_heads);
    if (c->head_dim == 0 || c->head_dim % 2 != 0)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: head_dim (%u) must be even and positive", path,
                           c->head_dim);
    if ((uint64_t)c->head_dim * c->n_heads > MAX_DIM)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: num_attention_heads x head_dim is too large", path);
    if (c->hidden_size % 32 != 0 || c->intermediate_size % 32 != 0)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: hidden_size (%u) and intermediate_size (%u) must be multiples of 32 (MXFP4 blocks)",
                           path, c->hidden_size, c->intermediate_size);
    if (!(c->rope_theta > 1.0f) || !(c->rope_scaling_factor >= 1.0f) || !(c->rms_norm_eps > 0.0f) ||
        !(c->swiglu_limit > 0.0f) || !(c->rope_ntk_alpha > 0.0f) || !(c->rope_ntk_beta > 0.0f))
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                           "%s: rope_theta > 1, rope scaling factor >= 1, positive betas, rms_norm_eps > 0 and "
                           "swiglu_limit > 0 are required",
                           path);
    if (c->initial_context_length == 0)
        return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: initial_context_length must be positive", path);
    double max_ctx = (double)c->initial_context_length * c->rope_scaling_factor;
    cfg->max_context = max_ctx > MAX_CONTEXT ? MAX_CONTEXT : (uint32_t)max_ctx;
    uint32_t mpe = 0;
    GPTOSS_TRY(get_u32(root, path, "max_position_embeddings", &mpe, 0, UINT32_MAX, err, err_size));
    if (mpe && mpe < cfg->max_context) cfg->max_context = mpe;

    if (sliding_of_layer) {
        if (c->n_layers > max_layers)
            return gptoss_fail(GPTOSS_ERR_INTERNAL, err, err_size, "%s: too many layers", path);
        const json_value *lt = json_get(root, "layer_types");
        if (lt && lt->type != JSON_NULL) {
            if (lt->type != JSON_ARRAY || lt->n != c->n_layers)
                return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                   "%s: layer_types must list one entry per layer (%u), found %zu", path, c->n_layers,
                                   lt->type == JSON_ARRAY ? lt->n : (size_t)0);
            for (uint32_t l = 0; l < c->n_layers; l++) {
                const json_value *t = &lt->items[l];
                if (t->type == JSON_STRING && !strcmp(t->str, "sliding_attention")) sliding_of_layer[l] = 1;
                else if (t->type == JSON_STRING && !strcmp(t->str, "full_attention")) sliding_of_layer[l] = 0;
                else
                    return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                       "%s: layer_types[%u] must be \"sliding_attention\" or \"full_attention\"", path, l);
            }
        } else {
            /* The reference slides on even layers (layer_idx % 2 == 0). */
            for (uint32_t l = 0; l < c->n_layers; l++) sliding_of_layer[l] = (l % 2 == 0);
        }
        if (c->sliding_window == 0)
            for (uint32_t l = 0; l < c->n_layers; l++)
                if (sliding_of_layer[l])
                    return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size,
                                       "%s: layer %u slides but sliding_window is 0 or missing", path, l);
    }
    return GPTOSS_OK;
}

gptoss_status gptoss_config_read(const char *path, gptoss_model_config *cfg, int **sliding_of_layer,
                                 int *is_original, char *err, size_t err_size) {
    char *text;
    size_t len;
    *sliding_of_layer = NULL;
    gptoss_status st = gptoss_read_file(path, 1u << 20, &text, &len, err, err_size);
    if (st != GPTOSS_OK) return st;
    char jerr[256];
    json_doc *doc = json_parse(text, len, jerr, sizeof jerr);
    free(text);
    if (!doc) return gptoss_fail(GPTOSS_ERR_FORMAT, err, err_size, "%s: %s", path, jerr);
    const json_value *root = json_root(doc);
    *is_original = json_get(root, "num_experts") != NULL && json_get(root, "num_local_experts") == NULL &&
                   json_get(root, "model_type") == NULL;
    int *sl = calloc(MAX_LAYERS, sizeof *sl);
    if (!sl) {
        json_free(doc);
        return gptoss_fail(GPTOSS_ERR_NO_MEMORY, err, err_size, "out of memory");
    }
    st = gptoss_config_parse(root, path, cfg, sl, MAX_LAYERS, err, err_size);
    json_free(doc);
    if (st != GPTOSS_OK) {
        free(sl);
        return st;
    }
    *sliding_of_layer = sl;
    return GPTOSS_OK;
}
