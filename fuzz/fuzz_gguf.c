/* fuzz_gguf.c: libFuzzer target for the GGUF reader (gptoss_gguf_parse): arbitrary bytes as a whole
 * file. Every tensor it accepts must lie inside the data section without overlapping another, every
 * string it indexes must lie inside the buffer, and every error must be one line naming the file.
 * Accepted files are also offered to the tokenizer-from-metadata builder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "tokenizer/tokenizer_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size heap copy, so reading one byte past the file is an ASan report. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    gptoss_gguf g;
    memset(&g, 0, sizeof g);
    char err[512];
    err[0] = 0;
    gptoss_status st = gptoss_gguf_parse(&g, "fuzz.gguf", buf, size, err, sizeof err);
    if (st != GPTOSS_OK) {
        if (!strstr(err, "fuzz.gguf") || strchr(err, '\n')) __builtin_trap();
        free(buf);
        return 0;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < g.n_tensors; i++) {
        const gptoss_gguf_tensor *t = &g.tensors[i];
        if (t->data < buf + g.data_offset || t->data + t->n_bytes > buf + size) __builtin_trap();
        if (t->offset % g.alignment) __builtin_trap();
        sink ^= t->data[0] ^ t->data[t->n_bytes - 1];
        for (size_t j = 0; j < g.n_tensors; j++)
            if (j != i && t->offset < g.tensors[j].offset + g.tensors[j].n_bytes &&
                g.tensors[j].offset < t->offset + t->n_bytes)
                __builtin_trap();
    }
    for (size_t i = 0; i < g.n_kv; i++) {
        const gptoss_gguf_kv *kv = &g.kv[i];
        if (kv->type == GGUF_TYPE_ARRAY && kv->arr_type == GGUF_TYPE_STRING)
            for (uint64_t k = 0; k < kv->arr_n; k++) {
                const char *s;
                uint64_t n;
                gptoss_gguf_arr_str(kv, k, &s, &n);
                if ((const uint8_t *)s < buf || (const uint8_t *)s + n > buf + size) __builtin_trap();
                if (n) sink ^= (uint8_t)s[n - 1];
            }
        if (kv->type == GGUF_TYPE_STRING && kv->str_len) sink ^= (uint8_t)kv->str[kv->str_len - 1];
    }
    gptoss_tokenizer *tok = NULL;
    if (gptoss_tokenizer_from_gguf(&g, &tok, err, sizeof err) == GPTOSS_OK) gptoss_tokenizer_free(tok);
    (void)sink;
    gptoss_gguf_free(&g);
    free(buf);
    return 0;
}
