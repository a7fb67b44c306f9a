/* fuzz_safetensors.c: libFuzzer target for the safetensors header parser (gptoss_st_parse): arbitrary
 * bytes as a whole file; every tensor it accepts must lie inside the buffer, be aligned and sized as
 * dtype x shape, and not overlap another. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* An exact-size heap copy, so reading one byte past the file is an ASan report. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    gptoss_st_set set;
    memset(&set, 0, sizeof set);
    /* One (unmapped) file, as the loader would have, so duplicate-name messages can name it. */
    set.files = calloc(1, sizeof *set.files);
    if (set.files) {
        set.files[0].path = strdup("fuzz.safetensors");
        set.n_files = 1;
    }
    char err[512];
    err[0] = 0;
    gptoss_status st = gptoss_st_parse(&set, "fuzz.safetensors", buf, size, 0, err, sizeof err);
    if (st == GPTOSS_OK) st = gptoss_st_set_finish(&set, err, sizeof err);
    if (st == GPTOSS_OK) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < set.n_tensors; i++) {
            const gptoss_st_tensor *t = &set.tensors[i];
            const uint8_t *p = t->data;
            if (t->n_bytes) {
                if (p < buf + 8 || p + t->n_bytes > buf + size) __builtin_trap();
                size_t es = 1;
                if (t->dtype == GPTOSS_DTYPE_F32) es = 4;
                else if (t->dtype == GPTOSS_DTYPE_F16 || t->dtype == GPTOSS_DTYPE_BF16) es = 2;
                if ((size_t)(p - buf) % es) __builtin_trap();
                sink ^= p[0];
                sink ^= p[t->n_bytes - 1];
            }
            uint64_t n = 1;
            for (uint32_t d = 0; d < t->n_dims; d++) n *= t->shape[d];
            if (n != t->n_elements) __builtin_trap();
            if (gptoss_st_find(&set, t->name) == NULL) __builtin_trap();
            if (i && strcmp(set.tensors[i - 1].name, t->name) >= 0) __builtin_trap();
        }
        /* No two non-empty tensors may share a byte (quadratic, but fuzz headers are small). */
        for (size_t i = 0; i < set.n_tensors && set.n_tensors <= 512; i++)
            for (size_t j = i + 1; j < set.n_tensors; j++) {
                const gptoss_st_tensor *a = &set.tensors[i], *b = &set.tensors[j];
                if (!a->n_bytes || !b->n_bytes) continue;
                const uint8_t *pa = a->data, *pb = b->data;
                if (pa < pb + b->n_bytes && pb < pa + a->n_bytes) __builtin_trap();
            }
        (void)sink;
    } else {
        /* Every failure comes with a one-line message naming the file. */
        if (!err[0] || strchr(err, '\n') || !strstr(err, "fuzz.safetensors")) __builtin_trap();
    }
    gptoss_st_set_free(&set);
    free(buf);
    return 0;
}
