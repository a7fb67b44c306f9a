/* fuzz_grammar.c: libFuzzer target for the JSON-Schema compiler and byte matcher. The input is a
 * schema, a NUL byte, then an instance: the schema must compile or fail with a message (never crash
 * or hang), and when it compiles the instance is fed byte by byte (with clones and is_complete),
 * which must agree with feeding it all at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    const uint8_t *nul = memchr(data, 0, size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    const char *inst = nul ? (const char *)nul + 1 : "";
    size_t ilen = nul ? size - slen - 1 : 0;
    char err[512];
    gptoss_grammar *g = NULL;
    gptoss_status st = gptoss_grammar_compile_json_schema(NULL, (const char *)data, slen, NULL, &g, err, sizeof err);
    if (st != GPTOSS_OK) {
        if (g || !err[0]) abort();
        return 0;
    }
    gptoss_grammar_state *a = NULL, *b = NULL;
    if (gptoss_grammar_state_create(g, &a) != GPTOSS_OK || gptoss_grammar_state_create(g, &b) != GPTOSS_OK) abort();
    int whole = gptoss_grammar_state_advance_bytes(b, inst, ilen) == GPTOSS_OK;
    int steps = 1;
    for (size_t i = 0; i < ilen && steps; i++) {
        gptoss_grammar_state *c = NULL;
        if (gptoss_grammar_state_clone(a, &c) != GPTOSS_OK) abort();
        steps = gptoss_grammar_state_advance_bytes(c, inst + i, 1) == GPTOSS_OK;
        (void)gptoss_grammar_state_is_complete(c);
        gptoss_grammar_state_free(a);
        a = c;
    }
    if (steps != whole) abort();
    if (whole && gptoss_grammar_state_is_complete(a) != gptoss_grammar_state_is_complete(b)) abort();
    gptoss_grammar_state_free(a);
    gptoss_grammar_state_free(b);
    gptoss_grammar_free(g);
    return 0;
}
