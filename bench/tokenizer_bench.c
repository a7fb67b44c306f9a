/* tokenizer_bench.c: times gptoss_tokenizer_encode on one thread over a corpus file (best of 3) and
 * checks the ids against a reference file (tiktoken's, little-endian u32); times loading the
 * tokenizer too (best of 3). Built and run by bench/tokenizer.sh. Prints "gptoss BYTES TOKENS SECONDS
 * SAME LOAD_MS". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gptoss.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: tokenizer_bench TOKENIZER CORPUS REFERENCE_IDS\n");
        return 2;
    }
    char err[512] = "";
    gptoss_tokenizer *t = NULL;
    double load = 1e30;
    for (int i = 0; i < 3; i++) { /* the last one loaded is kept */
        gptoss_tokenizer_free(t);
        t = NULL;
        double t0 = now();
        if (gptoss_tokenizer_load(argv[1], &t, err, sizeof err) != GPTOSS_OK) {
            fprintf(stderr, "tokenizer_bench: %s\n", err);
            return 1;
        }
        double dt = now() - t0;
        if (dt < load) load = dt;
    }
    size_t len = 0, ref_len = 0;
    char *text = slurp(argv[2], &len), *ref = slurp(argv[3], &ref_len);
    if (!text || !ref) {
        fprintf(stderr, "tokenizer_bench: cannot read inputs\n");
        return 1;
    }
    double best = 1e30;
    gptoss_tokens ids = {0};
    for (int i = 0; i < 3; i++) {
        ids.n = 0;
        double s = now();
        if (gptoss_tokenizer_encode(t, text, len, 0, &ids) != GPTOSS_OK) return 1;
        double dt = now() - s;
        if (dt < best) best = dt;
    }
    int same = ref_len == ids.n * 4 && !memcmp(ref, ids.ids, ref_len); /* x86/ARM: little-endian */
    printf("gptoss %zu %zu %.6f %d %.1f\n", len, ids.n, best, same, load * 1e3);
    gptoss_tokens_free(&ids);
    gptoss_tokenizer_free(t);
    free(text);
    free(ref);
    return same ? 0 : 1;
}
