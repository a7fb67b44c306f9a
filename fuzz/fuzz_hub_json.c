/* fuzz_hub_json.c: libFuzzer target for what `gptoss pull` reads from the Hugging Face Hub's API
 * (src/hub/hub_api.c): the revision answer, a page of the recursive file list, and a Link header.
 * Whatever is accepted must be safe to create on disk: every path relative with no "." or ".." part,
 * every blob name 40 or 64 lowercase hex digits, every size below 2^53. JSON itself is format/json.c,
 * also fuzzed by fuzz_json.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hub/hub_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex_name(const char *s) {
    size_t n = strlen(s);
    if (n != 40 && n != 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    text[size] = 0;
    char err[512] = "", commit[41];
    if (gptoss_hub_parse_revision(text, size, commit, err, sizeof err) == GPTOSS_OK) {
        if (strlen(commit) != 40 || !hex_name(commit)) __builtin_trap();
    } else if (!err[0] || strchr(err, '\n')) {
        __builtin_trap();
    }
    gptoss_hub_file *files = NULL;
    size_t n = 0;
    err[0] = 0;
    gptoss_status st = gptoss_hub_parse_tree(text, size, &files, &n, err, sizeof err);
    if (st != GPTOSS_OK && (!err[0] || strchr(err, '\n'))) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const gptoss_hub_file *f = &files[i];
        if (!gptoss_hub_path_safe(f->path, strlen(f->path)) || f->path[0] == '/' || strstr(f->path, "/../") ||
            !strncmp(f->path, "../", 3))
            __builtin_trap();
        if (!hex_name(f->blob) || (f->is_lfs != (strlen(f->blob) == 64)) || f->size >= ((uint64_t)1 << 53))
            __builtin_trap();
    }
    gptoss_hub_files_free(files, n);
    char next[256];
    if (gptoss_hub_link_next(text, next, sizeof next) && (!next[0] || strlen(next) >= sizeof next)) __builtin_trap();
    free(text);
    return 0;
}
