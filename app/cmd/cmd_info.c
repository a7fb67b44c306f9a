/* cmd_info.c: `gptoss info MODEL`: architecture, parameter counts, bytes by dtype, files. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cmd/commands.h"
#include "format/gguf.h"

static void print_count(const char *label, uint64_t n) {
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = 0;
    printf("%-22s %s (%.2f B)\n", label, out, (double)n / 1e9);
}

/* Container details: version, metadata, tensor types, tokenizer. */
static void print_gguf(const char *path) {
    gptoss_gguf g;
    char err[512];
    if (gptoss_gguf_open(&g, path, err, sizeof err) != GPTOSS_OK) return;
    printf("gguf                   version %u, %zu metadata keys, alignment %llu, data at byte %llu\n", g.version,
           g.n_kv, (unsigned long long)g.alignment, (unsigned long long)g.data_offset);
    static const uint32_t types[] = {GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_MXFP4};
    printf("tensor types          ");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        size_t n = 0;
        uint64_t bytes = 0;
        for (size_t i = 0; i < g.n_tensors; i++)
            if (g.tensors[i].type == types[k]) {
                n++;
                bytes += g.tensors[i].n_bytes;
            }
        if (n) printf(" %s %zu (%llu bytes)", gptoss_ggml_type_name(types[k]), n, (unsigned long long)bytes);
    }
    printf("\n");
    const gptoss_gguf_kv *tk = gptoss_gguf_find(&g, "tokenizer.ggml.tokens");
    const char *tm;
    uint64_t tl;
    if (tk && gptoss_gguf_get_str(&g, "tokenizer.ggml.model", &tm, &tl))
        printf("tokenizer              %.*s, %llu tokens\n", (int)(tl > 32 ? 32 : tl), tm, (unsigned long long)tk->arr_n);
    else
        printf("tokenizer              none in the metadata\n");
    gptoss_gguf_free(&g);
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: gptoss info MODEL\n");
            return 0;
        }
        if (argv[i][0] == '-') {
            cli_error("info: unknown option %s", argv[i]);
            return 2;
        }
        if (path) {
            cli_error("info: more than one model given");
            return 2;
        }
        path = argv[i];
    }
    if (!path) {
        cli_error("usage: gptoss info MODEL");
        return 2;
    }
    if (!(path = cli_model_arg(path))) return 1;
    gptoss_model *m = cli_load_model(path, NULL); /* default options: shows what a CPU run reads */
    if (!m) return 1;
    const gptoss_model_config *c = gptoss_model_get_config(m);
    gptoss_model_stats s;
    gptoss_model_get_stats(m, &s);
    const int is_gguf = gptoss_gguf_is_file(path);
    printf("model                  %s (%s layout)\n", gptoss_model_dir(m),
           is_gguf ? "GGUF" : s.layout_original ? "original" : "Hugging Face");
    printf("architecture           gpt-oss: %u layers, hidden %u, intermediate %u\n", c->n_layers, c->hidden_size,
           c->intermediate_size);
    printf("attention              %u query heads, %u kv heads, head dim %u, sliding window %u\n", c->n_heads,
           c->n_kv_heads, c->head_dim, c->sliding_window);
    printf("experts                %u, %u per token (MXFP4)\n", c->n_experts, c->n_experts_per_token);
    printf("vocabulary             %u\n", c->vocab_size);
    printf("context                %u (YaRN x%g over %u, rope theta %g)\n", c->max_context, c->rope_scaling_factor,
           c->initial_context_length, c->rope_theta);
    print_count("parameters total", s.n_params_total);
    print_count("parameters active", s.n_params_active);
    printf("bytes                  BF16 %llu, U8 (MXFP4) %llu, F32 %llu, other %llu\n", (unsigned long long)s.bytes_bf16,
           (unsigned long long)s.bytes_u8, (unsigned long long)s.bytes_f32, (unsigned long long)s.bytes_other);
    printf("weights held           attention %s, unembedding %s (%llu bytes converted to Q8_0 at load)\n",
           s.attention_dtype, s.unembedding_dtype, (unsigned long long)s.bytes_converted);
    printf("read per token         %llu bytes of weights per decoded token (%.2f GB)\n",
           (unsigned long long)s.bytes_per_token, (double)s.bytes_per_token / 1e9);
    printf("tensors                %u\n", s.n_tensors);
    printf("files                  %u\n", s.n_files);
    for (uint32_t i = 0; i < s.n_files; i++) {
        const char *f = gptoss_model_file(m, i);
        struct stat st;
        long long size = stat(f, &st) == 0 ? (long long)st.st_size : -1;
        printf("  %s (%lld bytes)\n", f, size);
    }
    if (is_gguf) print_gguf(path);
    gptoss_model_free(m);
    return 0;
}
