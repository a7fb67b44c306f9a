/* fuzz_config.c: libFuzzer target for the config.json reader: bytes -> json_parse ->
 * gptoss_config_parse. An accepted config must satisfy every invariant the loader and the forward
 * pass rely on (no zero divisors, consistent head/expert counts, a usable context). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/json.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_LAYERS 1024u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    char err[512];
    json_doc *doc = json_parse(text, size, err, sizeof err);
    if (doc) {
        static int sliding[FUZZ_MAX_LAYERS];
        gptoss_model_config cfg;
        err[0] = 0;
        gptoss_status st = gptoss_config_parse(json_root(doc), "config.json", &cfg, sliding, FUZZ_MAX_LAYERS, err,
                                               sizeof err);
        if (st == GPTOSS_OK) {
            const gptoss_model_config *c = &cfg;
            if (c->n_heads == 0 || c->n_kv_heads == 0 || c->n_heads % c->n_kv_heads != 0) __builtin_trap();
            if (c->head_dim == 0 || c->head_dim % 2 != 0) __builtin_trap();
            if (c->n_experts == 0 || c->n_experts_per_token == 0 || c->n_experts_per_token > c->n_experts)
                __builtin_trap();
            if (c->hidden_size == 0 || c->hidden_size % 32 != 0 || c->intermediate_size == 0 ||
                c->intermediate_size % 32 != 0)
                __builtin_trap();
            if (c->vocab_size == 0 || c->n_layers == 0 || c->n_layers > FUZZ_MAX_LAYERS) __builtin_trap();
            if (c->max_context == 0 || c->initial_context_length == 0) __builtin_trap();
            if (!(c->rope_theta > 1.0f) || !(c->rms_norm_eps > 0.0f) || !(c->rope_scaling_factor >= 1.0f))
                __builtin_trap();
            for (uint32_t l = 0; l < c->n_layers; l++)
                if (sliding[l] && c->sliding_window == 0) __builtin_trap();
        } else if (!err[0] || strchr(err, '\n') || !strstr(err, "config.json")) {
            __builtin_trap();
        }
        /* Without the per-layer table (the original/ probe path). */
        st = gptoss_config_parse(json_root(doc), "config.json", &cfg, NULL, 0, err, sizeof err);
        (void)st;
        json_free(doc);
    } else if (!err[0] || strchr(err, '\n')) {
        __builtin_trap();
    }
    free(text);
    return 0;
}
